//! Metric names in SQL: `normalize_metric`, `metric_unit`, `to_canonical`. The catalogue and
//! the name rules are `telemetry_core::metrics`.

use pgrx::prelude::*;

use crate::errors::{echo, invalid_parameter};
use crate::registry;
pub use telemetry_core::metrics::*;

/// Raise the PostgreSQL error for a bad metric name.
pub fn report(name: &str, e: NameError) -> ! {
    let message = match e {
        NameError::Empty => format!("metric name {} has no letters or digits", echo(name)),
        NameError::TooLong(n) => {
            format!("metric name is too long: {n} bytes, the limit is {MAX_NAME_BYTES}")
        }
    };
    invalid_parameter(message, None)
}

/// The canonical metric name for a vendor name: snake_case, then mapped through
/// `telemetry.metric_aliases` (`'ActivePower'` gives `'active_power'`).
#[pg_extern(stable, strict, parallel_safe)]
fn normalize_metric(name: &str) -> String {
    let reg = registry::get();
    reg.canonical_metric(name)
        .unwrap_or_else(|e| report(name, e))
}

/// The canonical unit of a metric, from `telemetry.metric_rules`; NULL for an unknown metric.
#[pg_extern(stable, strict, parallel_safe)]
fn metric_unit(metric: &str) -> Option<String> {
    let reg = registry::get();
    reg.rule(metric).map(|r| r.unit.clone())
}

/// A value in the canonical unit of its metric: `to_canonical(77, 'degF', 'temperature')`
/// gives 25 (degrees Celsius).
#[pg_extern(stable, strict, parallel_safe)]
fn to_canonical(value: f64, from_unit: &str, metric: &str) -> f64 {
    let reg = registry::get();
    let Some(rule) = reg.rule(metric) else {
        invalid_parameter(
            format!("unknown metric {}", echo(metric)),
            Some("SELECT metric, unit FROM telemetry.metric_rules lists the known metrics.".into()),
        )
    };
    reg.units
        .convert(value, from_unit, &rule.unit)
        .unwrap_or_else(|e| crate::units::report(e))
}
