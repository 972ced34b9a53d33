//! `telemetry.rollup_watermark(tier)`: how far a tier is materialized, which the views
//! `telemetry.rollup_<tier>` read once per series. A SQL function would start an executor on
//! every call; this one reads `telemetry.rollup_watermarks` once per snapshot and answers the
//! other calls under the same snapshot from memory.

use std::cell::RefCell;

use pgrx::prelude::*;

use crate::errors::internal;

/// What decides which rows a snapshot sees: its transaction and command, and which
/// transactions it takes as running. Two snapshots alike in all of it see the same rows.
/// (PostgreSQL's own completion counter is zeroed in the copies that queries run under.)
#[derive(PartialEq)]
struct SnapshotKey {
    lxid: u32,
    curcid: u32,
    xmin: u32,
    xmax: u32,
    suboverflowed: bool,
    xip: Vec<u32>,
    subxip: Vec<u32>,
}

type Watermarks = Vec<(String, Option<TimestampWithTimeZone>)>;

thread_local! {
    static CACHE: RefCell<Option<(SnapshotKey, Watermarks)>> = const { RefCell::new(None) };
}

/// The active snapshot's key, or None when there is no active snapshot.
fn snapshot_key() -> Option<SnapshotKey> {
    unsafe {
        if !pg_sys::ActiveSnapshotSet() || pg_sys::MyProc.is_null() {
            return None;
        }
        let snapshot = &*pg_sys::GetActiveSnapshot();
        let xids = |xip: *mut pg_sys::TransactionId, n: usize| -> Vec<u32> {
            if xip.is_null() || n == 0 {
                return Vec::new();
            }
            std::slice::from_raw_parts(xip, n)
                .iter()
                .map(|x| x.into_inner())
                .collect()
        };
        Some(SnapshotKey {
            lxid: (*pg_sys::MyProc).lxid,
            curcid: snapshot.curcid,
            xmin: snapshot.xmin.into_inner(),
            xmax: snapshot.xmax.into_inner(),
            suboverflowed: snapshot.suboverflowed,
            xip: xids(snapshot.xip, snapshot.xcnt as usize),
            subxip: xids(snapshot.subxip, snapshot.subxcnt.max(0) as usize),
        })
    }
}

fn load() -> Watermarks {
    Spi::connect(|client| {
        client
            .select(
                "SELECT w.tier, w.materialized_until FROM telemetry.rollup_watermarks w",
                None,
                &[],
            )?
            .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get(2)?)))
            .collect::<Result<Watermarks, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| internal(format!("cannot read telemetry.rollup_watermarks: {e}")))
}

/// Parallel restricted: its read of the table is an SPI query, which a parallel worker of a
/// transaction that has written cannot run.
#[pg_extern(stable, strict, parallel_restricted)]
fn rollup_watermark(tier: &str) -> Option<TimestampWithTimeZone> {
    let find = |w: &Watermarks| w.iter().find(|(t, _)| t == tier).and_then(|(_, at)| *at);
    let key = snapshot_key();
    if let Some(at) = CACHE.with(|c| match &*c.borrow() {
        Some((k, w)) if key.as_ref() == Some(k) => Some(find(w)),
        _ => None,
    }) {
        return at;
    }
    let watermarks = load();
    let at = find(&watermarks);
    if let Some(key) = key {
        CACHE.with(|c| *c.borrow_mut() = Some((key, watermarks)));
    }
    at
}
