//! De-duplication: `telemetry.reading_key` in SQL, over `telemetry_core::dedup::reading_key`,
//! and the record of recent payload event ids ([`events`]).

pub mod events;

use pgrx::prelude::*;

use crate::registry;
use telemetry_core::dedup::reading_key;

/// A stable key for a reading: the same site, asset, sensor, metric (under any alias) and
/// source time always give the same UUID, so a redelivered or repeated reading is recognised.
#[pg_extern(name = "reading_key", stable, strict, parallel_safe)]
fn reading_key_sql(
    site_id: &str,
    asset_id: &str,
    metric: &str,
    source_time: TimestampWithTimeZone,
    sensor_id: default!(&str, "''"),
) -> pgrx::Uuid {
    let reg = registry::get();
    let canonical = reg
        .canonical_metric(metric)
        .unwrap_or_else(|e| crate::metrics::report(metric, e));
    let micros = crate::time::unix_micros(source_time, "source_time");
    pgrx::Uuid::from_bytes(
        *reading_key(site_id, asset_id, &canonical, micros, sensor_id).as_bytes(),
    )
}
