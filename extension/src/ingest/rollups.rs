//! Rollups: the pipeline writes nothing to the tiers. The views `telemetry.rollup_<tier>`
//! summarise from the raw readings whatever maintenance has not materialized, so a reading
//! the pipeline stores in order is in every tier the moment it commits. Only a reading stored
//! for a bucket already materialized (late, before the 1-minute watermark) needs a word: its
//! (series, 1-minute bucket) goes into `telemetry.rollup_invalidations`, one statement per
//! batch and only when there is one, and the views then summarise that bucket from the raw
//! readings until maintenance materializes it again. Only readings actually stored count
//! (duplicates and conflicts change nothing).
//!
//! The watermark is read under the advisory lock 'telemetry.rollup_watermark', taken shared
//! and held to the commit: `telemetry.materialize_rollups()` takes it exclusively, so a batch
//! either committed before a run's snapshot (the run sees its readings) or reads the watermark
//! the run set (and records what it stored below it). Held for the transaction, the lock keeps
//! the watermark as read, so the transaction's later batches reuse it (in the same
//! subtransaction: the rollback of one releases the locks taken in it).

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use telemetry_core::batch::Clean;
use telemetry_core::rollups::late_buckets;

use crate::plans;
use crate::time::{timestamp, unix_micros};

/// The 1-minute watermark and the raw retention horizon, as this transaction read them.
#[derive(Clone, Copy)]
struct Horizons {
    transaction: (pg_sys::LocalTransactionId, pg_sys::SubTransactionId),
    materialized_until: Option<i64>,
    kept_from: Option<i64>,
}

thread_local! {
    static HORIZONS: Cell<Option<Horizons>> = const { Cell::new(None) };
}

/// Record the 1-minute buckets of the stored readings that came late.
pub fn invalidate(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    series: &[Option<i32>],
    stored: &[usize],
) -> Result<(), pgrx::spi::Error> {
    if stored.is_empty() {
        return Ok(());
    }
    let horizons = horizons(client)?;
    let late = late_buckets(
        stored
            .iter()
            .map(|&i| (series[i].unwrap_or_default(), cleaned[i].time)),
        horizons.materialized_until,
        horizons.kept_from,
    );
    if late.is_empty() {
        return Ok(());
    }
    let (ids, buckets): (Vec<i32>, Vec<_>) = late
        .into_iter()
        .map(|(id, bucket)| (id, timestamp(bucket)))
        .unzip();
    // In (series, bucket) order, so concurrent batches wait for each other, never deadlock.
    plans::update(client,
        "INSERT INTO telemetry.rollup_invalidations (series_id, bucket)
         SELECT pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.timestamptz[])
         ON CONFLICT (series_id, bucket) DO NOTHING",
        &[ids.into(), buckets.into()],
    )?;
    Ok(())
}

/// The horizons, read once per transaction: the lock first, then, in a statement with a
/// snapshot taken after it, the watermark and the raw retention horizon.
fn horizons(client: &mut SpiClient<'_>) -> Result<Horizons, pgrx::spi::Error> {
    let transaction = unsafe { ((*pg_sys::MyProc).lxid, pg_sys::GetCurrentSubTransactionId()) };
    if let Some(h) = HORIZONS.get().filter(|h| h.transaction == transaction) {
        return Ok(h);
    }
    plans::select(client,
        "SELECT pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('telemetry.rollup_watermark'))",
        &[],
    )?;
    let row = plans::select(client,
            "SELECT (SELECT w.materialized_until FROM telemetry.rollup_watermarks w WHERE w.tier = '1m'),
                    (SELECT pg_catalog.now() - r.keep FROM telemetry.retention r WHERE r.tier = 'raw')",
            &[],
        )?
        .first();
    let micros = |t: Option<TimestampWithTimeZone>| t.map(|t| unix_micros(t, "watermark"));
    let h = Horizons {
        transaction,
        materialized_until: micros(row.get::<TimestampWithTimeZone>(1)?),
        kept_from: micros(row.get::<TimestampWithTimeZone>(2)?),
    };
    HORIZONS.set(Some(h));
    Ok(h)
}
