//! `telemetry.quality_report`: what each series did in a period, read from the readings and
//! the metrics' expected intervals, scored by `telemetry_core::quality_report` with the
//! quality score's weights and timeliness threshold (the `telemetry.quality_*` settings).

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::quality::flag;
use telemetry_core::quality_report::{report, SeriesCounts};

use crate::errors::{echo, internal, invalid_parameter, required};
use crate::gucs;
use crate::time::{interval_micros, unix_micros};

/// Per series: its site, asset and metric, the seconds of its expected interval, and its
/// readings in [$1, $2): how many, their summed quality, how many were flagged as anomalies
/// ($4), how many came within the threshold ($5 seconds). A series created after the period
/// and silent in it is left out.
const PER_SERIES: &str = "
SELECT s.site_id, s.asset_id, s.metric,
       pg_catalog.date_part('epoch', coalesce(m.expected_interval, $3))::float8,
       r.received, r.quality_sum, r.anomalies, r.timely
  FROM telemetry.series s
  JOIN telemetry.metric_rules m ON m.metric = s.metric
  CROSS JOIN LATERAL (
    SELECT pg_catalog.count(*) AS received,
           coalesce(pg_catalog.sum(x.quality), 0)::float8 AS quality_sum,
           pg_catalog.count(*) FILTER (WHERE x.flags & $4 <> 0) AS anomalies,
           pg_catalog.count(*) FILTER (WHERE pg_catalog.date_part('epoch', x.ingested_at - x.time) < $5) AS timely
      FROM telemetry.readings x
     WHERE x.series_id = s.series_id AND x.time >= $1 AND x.time < $2) r
 WHERE s.created_at < $2 OR r.received > 0
 ORDER BY ";

/// The columns a group is keyed by, of (site_id, asset_id, metric).
fn key_columns(group_by: &str) -> (&'static str, [bool; 3]) {
    match group_by {
        "site" => ("s.site_id", [true, false, false]),
        "asset" => ("s.site_id, s.asset_id", [true, true, false]),
        "metric" => ("s.metric", [false, false, true]),
        other => invalid_parameter(
            format!(
                "unknown group_by {}: use 'site', 'asset' or 'metric'",
                echo(other)
            ),
            None,
        ),
    }
}

fn series_counts(
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    order: &str,
    keyed: [bool; 3],
    default_interval: Option<Interval>,
) -> Vec<SeriesCounts> {
    let anomalies = flag("spike") | flag("anomaly");
    let threshold = gucs::quality_params().timeliness_threshold_s;
    Spi::connect(|client| {
        client
            .select(
                &format!("{PER_SERIES}{order}, s.series_id"),
                None,
                &[
                    from.into(),
                    to.into(),
                    default_interval.into(),
                    anomalies.into(),
                    threshold.into(),
                ],
            )?
            .map(|row| {
                let mut key = Vec::with_capacity(3);
                for (i, on) in keyed.iter().enumerate() {
                    key.push(if *on { row.get::<String>(i + 1)? } else { None });
                }
                Ok(SeriesCounts {
                    key,
                    interval_s: row.get::<f64>(4)?,
                    received: row.get::<i64>(5)?.unwrap_or_default(),
                    quality_sum: row.get::<f64>(6)?.unwrap_or_default(),
                    anomalies: row.get::<i64>(7)?.unwrap_or_default(),
                    timely: row.get::<i64>(8)?.unwrap_or_default(),
                })
            })
            .collect::<Result<_, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| internal(format!("cannot read the readings: {e}")))
}

/// Completeness, validity, consistency, timeliness and the overall score (seed 002 section
/// 8.1), in percent, of the readings in [from, to) per site, asset or metric.
#[pg_extern(stable, parallel_safe)]
fn quality_report(
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    group_by: default!(Option<&str>, "'site'"),
    default_interval: default!(Option<Interval>, "'1 minute'"),
) -> TableIterator<
    'static,
    (
        name!(site_id, Option<String>),
        name!(asset_id, Option<String>),
        name!(metric, Option<String>),
        name!(series, i64),
        name!(expected_samples, f64),
        name!(received_samples, i64),
        name!(completeness, Option<f64>),
        name!(validity, Option<f64>),
        name!(consistency, Option<f64>),
        name!(timeliness, Option<f64>),
        name!(overall, Option<f64>),
    ),
> {
    let (from, to) = (required(from, "\"from\""), required(to, "\"to\""));
    let (start, end) = (unix_micros(from, "\"from\""), unix_micros(to, "\"to\""));
    if start >= end {
        invalid_parameter(
            "\"from\" must be before \"to\"".into(),
            Some("The report covers [from, to).".into()),
        );
    }
    if default_interval.is_some_and(|i| interval_micros(i) <= 0) {
        invalid_parameter("default_interval must be positive".into(), None);
    }
    let (order, keyed) = key_columns(required(group_by, "group_by"));
    let counts = series_counts(from, to, order, keyed, default_interval);
    let lines = report(
        &counts,
        (end - start) as f64 / 1e6,
        &gucs::quality_params().weights,
    );
    TableIterator::new(lines.into_iter().map(|l| {
        let mut key = l.key.into_iter();
        let mut next = || key.next().flatten();
        (
            next(),
            next(),
            next(),
            l.series,
            l.expected,
            l.received,
            l.completeness,
            l.validity,
            l.consistency,
            l.timeliness,
            l.overall,
        )
    }))
}
