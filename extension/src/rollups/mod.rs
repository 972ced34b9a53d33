//! Rollups: the SQL type `telemetry.summary` over `telemetry_core::rollups::Summary`, its
//! merge, the transition functions of the aggregates `telemetry.summarize()` (raw readings to
//! a summary) and `telemetry.rollup()` (summaries to one), and the accessors (mean, stddev,
//! percentile, ...). The tiers' views and tables, the aggregates, `materialize_rollups()` and
//! `rebuild_rollups()` are in sql/rollups.sql; the pipeline's stage that records late
//! readings' buckets is `crate::ingest::rollups`.

pub mod accessors;
mod datum;
pub mod jit;
pub mod watermark;

use pgrx::prelude::*;
use pgrx::{Internal, PgMemoryContexts};
use serde::{Deserialize, Serialize};

use telemetry_core::rollups::{self as summaries, Reading, TIERS};

use crate::errors::{raise, Class};
use crate::time::unix_micros;

/// A mergeable summary of readings of one series over a span of time (see the core module).
/// Stored as pgrx encodes its types; its text form is JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, PostgresType)]
#[bikeshed_postgres_type_manually_impl_from_into_datum]
#[inoutfuncs]
#[serde(transparent)]
pub struct Summary(pub summaries::Summary);

/// The summary of both.
#[pg_extern(immutable, strict, parallel_safe)]
fn rollup_merge(a: Summary, b: Summary) -> Summary {
    Summary(a.0.merge(&b.0))
}

/// The same summary without its percentile sketch, as the 1-minute tier keeps it.
#[pg_extern(immutable, strict, parallel_safe)]
fn without_percentiles(summary: Summary) -> Summary {
    Summary(summary.0.without_sketch())
}

/// Run `f` on an aggregate's state, allocated in the aggregate's memory context.
fn with_state(
    mut state: Internal,
    fcinfo: pg_sys::FunctionCallInfo,
    f: impl FnOnce(&mut summaries::Summary),
) -> Internal {
    let mut context = std::ptr::null_mut();
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } == 0 {
        raise(
            Class::InvalidParameter,
            "this function is the transition function of an aggregate and cannot be called on its own".into(),
            None,
        );
    }
    unsafe {
        PgMemoryContexts::For(context).switch_to(|_| {
            f(state.get_or_insert_with(|| summaries::Summary {
                sketch: Some(summaries::Sketch::default()),
                ..summaries::Summary::default()
            }))
        })
    };
    state
}

/// Transition function of `telemetry.summarize(time, value, quality, flags, source_quality)`.
/// Rows with a NULL time or value are skipped.
#[pg_extern(immutable, parallel_safe)]
fn summarize_trans(
    state: Internal,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    quality: Option<f32>,
    flags: Option<i32>,
    source_quality: Option<i16>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    with_state(state, fcinfo, |s| {
        if let (Some(time), Some(value)) = (time, value) {
            s.add(&Reading {
                time: unix_micros(time, "time"),
                value,
                quality: quality.unwrap_or(1.0),
                flags: flags.unwrap_or(0),
                source_quality: source_quality.unwrap_or(0),
            });
        }
    })
}

/// Transition function of `telemetry.rollup(summary)`. NULL summaries are skipped.
#[pg_extern(immutable, parallel_safe)]
fn rollup_trans(
    state: Internal,
    summary: Option<Summary>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    with_state(state, fcinfo, |s| {
        if let Some(other) = summary {
            // The first summary is taken as it is: with or without its sketch.
            *s = if s.count == 0 {
                other.0
            } else {
                s.merge(&other.0)
            };
        }
    })
}

/// Final function of both aggregates: the summary, or NULL when no row counted.
#[pg_extern(immutable, parallel_safe)]
fn summary_final(state: Internal) -> Option<Summary> {
    unsafe { state.get::<summaries::Summary>() }
        .filter(|s| s.count > 0)
        .map(|s| Summary(s.clone()))
}

/// The rollup tiers, as maintenance materializes them.
#[pg_extern(immutable, parallel_safe)]
fn rollup_tiers() -> TableIterator<
    'static,
    (
        name!(tier, String),
        name!(bucket_width, pgrx::datum::Interval),
        name!(percentiles, bool),
    ),
> {
    const DAY: i64 = 86_400_000_000;
    TableIterator::new(TIERS.iter().map(|t| {
        let width = if t.width % DAY == 0 {
            pgrx::datum::Interval::from_days((t.width / DAY) as i32)
        } else {
            pgrx::datum::Interval::from_micros(t.width)
        };
        (t.name.to_string(), width, t.sketch)
    }))
}
