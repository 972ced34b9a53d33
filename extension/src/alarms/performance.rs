//! The ISA-18.2 performance figures over a period, from the raise events
//! (`telemetry_core::alarms::performance`): per site, and the alarms that stand out.

use pgrx::prelude::*;

use telemetry_core::alarms::performance::{performance, Figures, Raise};
use telemetry_core::alarms::Severity;

use crate::errors::{internal, invalid_parameter};
use crate::time::{timestamp, unix_micros, unix_micros_checked};

/// Raises (and re-alarms) in [start, end), each with the clear that followed it.
fn figures(start: TimestampWithTimeZone, end: TimestampWithTimeZone) -> Figures {
    let (from, to) = (
        unix_micros(start, "period_start"),
        unix_micros(end, "period_end"),
    );
    if from >= to {
        invalid_parameter("period_start must be before period_end".into(), None);
    }
    let rows: Vec<(i64, String, i64, i64, Severity, Option<i64>)> = Spi::connect(|client| {
        client
            .select(
                "SELECT e.time, s.site_id, e.rule_id, e.series_id, coalesce(e.severity, 'info'),
                        (SELECT pg_catalog.min(c.time) FROM telemetry.alarm_events c
                          WHERE c.rule_id = e.rule_id AND c.series_id = e.series_id AND c.kind = 'clear'
                            AND c.time >= e.time)
                   FROM telemetry.alarm_events e JOIN telemetry.series s ON s.series_id = e.series_id
                  WHERE e.kind = 'raise' AND e.time >= $1 AND e.time < $2",
                None,
                &[start.into(), end.into()],
            )?
            .map(|row| {
                let t = |i| row.get::<TimestampWithTimeZone>(i).map(|t| t.and_then(unix_micros_checked));
                Ok((
                    t(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<i64>(3)?.unwrap_or_default(),
                    i64::from(row.get::<i32>(4)?.unwrap_or_default()),
                    row.get::<String>(5)?.as_deref().and_then(Severity::parse).unwrap_or(Severity::Info),
                    t(6)?,
                ))
            })
            .collect::<Result<_, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| internal(format!("cannot read the alarm events: {e}")));
    let raises: Vec<Raise> = rows
        .iter()
        .map(
            |(time, site, rule_id, series_id, severity, cleared_at)| Raise {
                time: *time,
                site,
                rule_id: *rule_id,
                series_id: *series_id,
                severity: *severity,
                cleared_at: *cleared_at,
            },
        )
        .collect();
    performance(&raises, from, to)
}

/// Per site (one operator's span of control) over [period_start, period_end): alarms, average
/// per 10 minutes, percent of 10-minute periods in flood (more than 10), the peak 10 minutes.
#[pg_extern(stable, parallel_safe)]
fn alarm_performance(
    period_start: TimestampWithTimeZone,
    period_end: TimestampWithTimeZone,
) -> TableIterator<
    'static,
    (
        name!(site_id, String),
        name!(alarms, i64),
        name!(alarms_per_10_minutes, f64),
        name!(flood_percent, f64),
        name!(peak_10_minutes, i64),
    ),
> {
    let f = figures(period_start, period_end);
    TableIterator::new(f.sites.into_iter().map(|s| {
        (
            s.site,
            s.alarms as i64,
            s.per_period,
            s.flood_percent,
            s.peak as i64,
        )
    }))
}

/// The alarms that stand out over [period_start, period_end): `chattering` (3 or more raises
/// within 60 s; n is the most in any 60 s), `stale` (active over 24 h at the end; since),
/// `top` (the 10 raised most; n) and `priority` (raises per severity; n and percent).
#[pg_extern(stable, parallel_safe)]
fn alarm_report(
    period_start: TimestampWithTimeZone,
    period_end: TimestampWithTimeZone,
) -> TableIterator<
    'static,
    (
        name!(figure, String),
        name!(rule_id, Option<i64>),
        name!(series_id, Option<i64>),
        name!(severity, Option<String>),
        name!(n, Option<i64>),
        name!(percent, Option<f64>),
        name!(since, Option<TimestampWithTimeZone>),
    ),
> {
    let f = figures(period_start, period_end);
    let mut rows = Vec::new();
    for ((rule, series), n) in f.chattering {
        rows.push((
            "chattering".to_string(),
            Some(rule),
            Some(series),
            None,
            Some(n as i64),
            None,
            None,
        ));
    }
    for ((rule, series), since) in f.stale {
        rows.push((
            "stale".to_string(),
            Some(rule),
            Some(series),
            None,
            None,
            None,
            Some(timestamp(since)),
        ));
    }
    for ((rule, series), n) in f.top {
        rows.push((
            "top".to_string(),
            Some(rule),
            Some(series),
            None,
            Some(n as i64),
            None,
            None,
        ));
    }
    for (severity, n, percent) in f.priorities {
        rows.push((
            "priority".to_string(),
            None,
            None,
            Some(severity.name().to_string()),
            Some(n as i64),
            Some(percent),
            None,
        ));
    }
    TableIterator::new(rows)
}
