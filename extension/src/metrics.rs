//! Metric names in SQL: `normalize_metric`, `metric_unit`, `to_canonical`. The catalogue and
//! the name rules are `telemetry_core::metrics`.

use pgrx::prelude::*;

use crate::errors::{echo, internal, invalid_parameter};
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

/// Add the shipped metric rules and vendor names (`sql/vocabulary/`) that are missing, as
/// builtin rows; what a DBA changed, added or deleted and re-added stays as it is. A shipped
/// alias that is already a metric of its own is skipped and named in a NOTICE: adding it
/// would split that metric's series (`telemetry.merge_metric()` joins them).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn load_vocabulary(
) -> TableIterator<'static, (name!(metrics_added, i64), name!(aliases_added, i64))> {
    let metrics = Spi::get_one::<i64>(&format!(
        "WITH v (metric, unit, lo, hi, rate, every, description) AS ({}),
         added AS (
           INSERT INTO telemetry.metric_rules
                  (metric, unit, valid_min, valid_max, max_rate_of_change, expected_interval, description, builtin)
           SELECT metric, unit, lo, hi, rate, every::pg_catalog.interval, description, true FROM v
            WHERE EXISTS (SELECT FROM telemetry.units u WHERE u.unit = v.unit)
           ON CONFLICT (metric) DO NOTHING
           RETURNING 1)
         SELECT pg_catalog.count(*) FROM added",
        include_str!("../../sql/vocabulary/metrics.sql")
    ));
    let aliases = format!(
        "WITH v (alias, metric, sensor) AS ({}),
         usable AS (
           SELECT v.* FROM v
            WHERE EXISTS (SELECT FROM telemetry.metric_rules m WHERE m.metric = v.metric)
              AND NOT EXISTS (SELECT FROM telemetry.metric_aliases a WHERE a.alias = v.alias)),
         added AS (
           INSERT INTO telemetry.metric_aliases (alias, metric, sensor, builtin)
           SELECT alias, metric, sensor, true FROM usable
            WHERE NOT EXISTS (SELECT FROM telemetry.metric_rules m WHERE m.metric = usable.alias)
           RETURNING 1)
         SELECT (SELECT pg_catalog.count(*) FROM added),
                (SELECT pg_catalog.string_agg(alias, ', ' ORDER BY alias) FROM usable
                  WHERE EXISTS (SELECT FROM telemetry.metric_rules m WHERE m.metric = usable.alias))",
        include_str!("../../sql/vocabulary/aliases.sql")
    );
    let (added, skipped) = Spi::get_two::<i64, String>(&aliases)
        .unwrap_or_else(|e| internal(format!("cannot add the shipped metric aliases: {e}")));
    if let Some(skipped) = skipped {
        notice!(
            "shipped aliases not added because metrics of these names exist: {skipped}; telemetry.merge_metric(name, into_metric) joins one into the metric its alias names"
        );
    }
    let metrics = metrics
        .unwrap_or_else(|e| internal(format!("cannot add the shipped metric rules: {e}")))
        .unwrap_or(0);
    TableIterator::once((metrics, added.unwrap_or(0)))
}
