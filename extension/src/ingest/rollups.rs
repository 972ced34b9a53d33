//! Rollups: fold the readings a batch stored (not its duplicates, nor its conflicts) into
//! every rollup tier, in the batch's transaction, so a committed reading is in every tier at
//! once. The batch's readings are summarised per series and 1-minute bucket in core, merged up
//! to each tier's buckets, and upserted with one statement per tier, merging into the row
//! already there (`ON CONFLICT ... DO UPDATE` locks it, so concurrent batches serialise on the
//! row and no merge is lost). `telemetry.rollups = off` skips the stage.

use pgrx::spi::SpiClient;

use telemetry_core::batch::Clean;
use telemetry_core::rollups::{deltas, Reading, TIERS};

use crate::gucs;
use crate::rollups::Summary;
use crate::time::timestamp;

pub fn fold(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    series: &[Option<i32>],
    stored: &[usize],
) -> Result<(), pgrx::spi::Error> {
    if stored.is_empty() || !gucs::rollups_enabled() {
        return Ok(());
    }
    let minute = deltas(stored.iter().map(|&i| {
        let c = &cleaned[i];
        let reading = Reading {
            time: c.time,
            value: c.value,
            quality: c.quality,
            flags: c.flags,
            source_quality: c.source_quality,
        };
        (series[i].unwrap_or_default(), reading)
    }));
    for tier in TIERS {
        let rows = tier.fold(&minute);
        let (ids, (buckets, summaries)): (Vec<i32>, (Vec<_>, Vec<_>)) = rows
            .into_iter()
            .map(|(id, bucket, s)| (id, (timestamp(bucket), Summary(s))))
            .unzip();
        // Rows come in (series, bucket) order, so concurrent batches lock them in one order.
        client.update(
            &format!(
                "INSERT INTO telemetry.rollup_{0} AS t (series_id, bucket, summary)
                 SELECT pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.timestamptz[]),
                        pg_catalog.unnest($3::telemetry.summary[])
                 ON CONFLICT (series_id, bucket) DO UPDATE SET summary = telemetry.rollup_merge(t.summary, EXCLUDED.summary)",
                tier.name
            ),
            None,
            &[ids.into(), buckets.into(), summaries.into()],
        )?;
    }
    Ok(())
}
