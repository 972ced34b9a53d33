//! `telemetry.run_maintenance()`: all the periodic work, in one entry point that the
//! background worker ([`worker`]) runs every `telemetry.maintenance_interval`: the alarms'
//! time-driven transitions (`crate::alarms::maintenance`), then the rollups
//! (`telemetry.materialize_rollups()` in sql/rollups.sql), then retention
//! (`telemetry.apply_retention()` in sql/retention.sql), in that order: what retention drops
//! from the raw readings is materialized first. Each part is safe to run concurrently and
//! repeatedly: alarm states another run holds are skipped, and the rollups and retention run
//! under transaction-level advisory locks.

pub mod worker;

use pgrx::prelude::*;

use crate::alarms;
use crate::errors::internal;

/// Run what time alone decides; returns how many alarm states it looked at and how many
/// events it recorded. pg_cron or a TimescaleDB job can call it instead of the worker.
#[pg_extern(volatile, parallel_unsafe)]
fn run_maintenance() -> TableIterator<'static, (name!(alarm_states, i64), name!(alarm_events, i64))>
{
    let counts = Spi::connect_mut(|client| {
        let counts = alarms::maintenance::run(client)?;
        client.update(
            "SELECT FROM telemetry.materialize_rollups(quiet => true)",
            None,
            &[],
        )?;
        client.update(
            "SELECT FROM telemetry.apply_retention(quiet => true)",
            None,
            &[],
        )?;
        Ok::<_, pgrx::spi::Error>(counts)
    })
    .unwrap_or_else(|e| internal(format!("maintenance failed: {e}")));
    TableIterator::once(counts)
}
