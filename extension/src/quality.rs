//! Quality scoring in SQL: `quality_score`, `quality_explain`, `flag_names` and
//! `source_quality_code`, with the DBA's weights. The scoring is `telemetry_core::quality`.

use pgrx::prelude::*;

use crate::errors::invalid_parameter;
use crate::{gucs, registry};
pub use telemetry_core::quality::*;

/// Seconds between two timestamps, as float so infinite timestamps cannot overflow.
fn seconds_between(later: TimestampWithTimeZone, earlier: TimestampWithTimeZone) -> f64 {
    (i64::from(later) as f64 - i64::from(earlier) as f64) / 1e6
}

#[allow(clippy::too_many_arguments)]
fn assess_sql(
    metric: Option<&str>,
    value: Option<f64>,
    source_time: Option<TimestampWithTimeZone>,
    ingested_at: Option<TimestampWithTimeZone>,
    source_quality: Option<&str>,
    previous_value: Option<f64>,
    previous_time: Option<TimestampWithTimeZone>,
    recent_mean: Option<f64>,
    recent_stddev: Option<f64>,
    unit: Option<&str>,
) -> Assessment {
    let reg = registry::get();
    let (rule, unit) = reg.rule_and_unit(metric, unit);
    let canonical = |v: f64| match (&unit, rule) {
        (Some(u), Some(r)) if v.is_finite() => reg
            .units
            .convert(v, u, &r.unit)
            .unwrap_or_else(|e| crate::units::report(e)),
        _ => v,
    };
    let source = SourceQuality::parse(source_quality.unwrap_or("")).unwrap_or_else(|msg| {
        invalid_parameter(
            msg,
            Some("Use GOOD, UNCERTAIN, BAD or a numeric OPC UA status code.".into()),
        )
    });
    let reading = Reading {
        rule,
        value: value.map(canonical),
        has_source_time: source_time.is_some(),
        delay_s: source_time
            .zip(ingested_at)
            .map(|(s, i)| seconds_between(i, s)),
        previous: previous_value
            .zip(source_time.zip(previous_time))
            .map(|(pv, (now, then))| (canonical(pv), seconds_between(now, then))),
        recent: recent_mean
            .zip(recent_stddev)
            .map(|(m, s)| (canonical(m), canonical(s) - canonical(0.0))),
        source,
    };
    assess(&reading, &gucs::quality_params())
}

/// Quality score 0..1 of one reading. Weights come from the `telemetry.quality_weight_*`
/// settings; `telemetry.quality_explain` with the same arguments shows how it was reached.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn quality_score(
    metric: Option<&str>,
    value: Option<f64>,
    source_time: Option<TimestampWithTimeZone>,
    ingested_at: default!(Option<TimestampWithTimeZone>, "now()"),
    source_quality: default!(Option<&str>, "NULL"),
    previous_value: default!(Option<f64>, "NULL"),
    previous_time: default!(Option<TimestampWithTimeZone>, "NULL"),
    recent_mean: default!(Option<f64>, "NULL"),
    recent_stddev: default!(Option<f64>, "NULL"),
    unit: default!(Option<&str>, "NULL"),
) -> f64 {
    assess_sql(
        metric,
        value,
        source_time,
        ingested_at,
        source_quality,
        previous_value,
        previous_time,
        recent_mean,
        recent_stddev,
        unit,
    )
    .score
}

/// The components behind `telemetry.quality_score` for the same arguments: one row per
/// component, then the source quality factor, then the total with its flags.
#[pg_extern(stable, parallel_safe)]
#[allow(clippy::too_many_arguments)]
fn quality_explain(
    metric: Option<&str>,
    value: Option<f64>,
    source_time: Option<TimestampWithTimeZone>,
    ingested_at: default!(Option<TimestampWithTimeZone>, "now()"),
    source_quality: default!(Option<&str>, "NULL"),
    previous_value: default!(Option<f64>, "NULL"),
    previous_time: default!(Option<TimestampWithTimeZone>, "NULL"),
    recent_mean: default!(Option<f64>, "NULL"),
    recent_stddev: default!(Option<f64>, "NULL"),
    unit: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(component, String),
        name!(score, Option<f64>),
        name!(weight, Option<f64>),
        name!(contribution, Option<f64>),
        name!(detail, String),
    ),
> {
    let a = assess_sql(
        metric,
        value,
        source_time,
        ingested_at,
        source_quality,
        previous_value,
        previous_time,
        recent_mean,
        recent_stddev,
        unit,
    );
    let total_weight: f64 = a
        .components()
        .iter()
        .filter(|(_, c)| c.score.is_some())
        .map(|(_, c)| c.weight)
        .sum();
    let mut rows: Vec<_> = a
        .components()
        .into_iter()
        .map(|(name, c)| {
            let share = if total_weight > 0.0 {
                c.weight / total_weight
            } else {
                0.0
            };
            (
                name.to_string(),
                c.score.map(round6),
                Some(c.weight),
                c.score.map(|s| round6(s * share)),
                describe(name, &a),
            )
        })
        .collect();
    rows.push((
        "source_quality".into(),
        Some(a.source_factor),
        None,
        None,
        "multiplies the weighted score".into(),
    ));
    rows.push((
        "total".into(),
        Some(a.score),
        None,
        None,
        flag_list(a.flags).join(", "),
    ));
    TableIterator::new(rows)
}

/// The names of the bits set in a `telemetry.readings.flags` value.
#[pg_extern(immutable, strict, parallel_safe)]
fn flag_names(flags: i32) -> Vec<String> {
    flag_list(flags)
}

/// Source quality as the code stored in `telemetry.readings.source_quality`
/// (0 good, 1 uncertain, 2 bad): GOOD / UNCERTAIN / BAD or an OPC UA status code.
#[pg_extern(immutable, strict, parallel_safe)]
fn source_quality_code(source_quality: &str) -> i16 {
    SourceQuality::parse(source_quality)
        .unwrap_or_else(|msg| {
            invalid_parameter(
                msg,
                Some("Use GOOD, UNCERTAIN, BAD or a numeric OPC UA status code.".into()),
            )
        })
        .code()
}
