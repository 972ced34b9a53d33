//! Counters in SQL (`telemetry_core::analysis::counters`): the aggregates
//! `telemetry.counter_increase` and `telemetry.counter_rate` (sql/analysis.sql) over these
//! state functions, and `telemetry.counter_deltas` per bucket.

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::analysis::counters::{check_rollover, deltas, rate, Counter};

use super::{accumulate, bucketed, check, combine, run_of, State};
use crate::time::timestamp;

const WHAT: &str = "counter_increase";

/// State function of `telemetry.counter_increase(time, value, rollover)`.
#[pg_extern(immutable, parallel_safe, name = "counter_accum")]
fn counter_accum_rollover(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    rollover: Option<f64>,
) -> State {
    let rollover = check(check_rollover(rollover));
    accumulate(state, time, value, || Counter::new(rollover), WHAT)
}

/// State function of `telemetry.counter_increase(time, value)`.
#[pg_extern(immutable, parallel_safe)]
fn counter_accum(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
) -> State {
    accumulate(state, time, value, || Counter::new(None), WHAT)
}

#[pg_extern(immutable, parallel_safe)]
fn counter_combine(a: Option<Array<'_, f64>>, b: Option<Array<'_, f64>>) -> State {
    combine::<Counter>(a, b, WHAT)
}

#[pg_extern(immutable, parallel_safe)]
fn counter_increase_final(state: Option<Array<'_, f64>>) -> Option<f64> {
    run_of::<Counter>(state, WHAT).map(|r| r.acc.increase)
}

#[pg_extern(immutable, parallel_safe)]
fn counter_rate_final(state: Option<Array<'_, f64>>) -> Option<f64> {
    run_of::<Counter>(state, WHAT).and_then(|r| rate(&r))
}

/// The rise of a counter per bucket from arrays of times and values (any rows: readings, a
/// rollup's last values). A rise between two readings is split over the buckets they straddle
/// in proportion to time; a reset counts from zero; a drop near `rollover` is a wrap.
#[pg_extern(immutable, parallel_safe)]
fn counter_deltas(
    times: Option<Array<'_, TimestampWithTimeZone>>,
    values: Option<Array<'_, f64>>,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    bucket: Option<Interval>,
    rollover: default!(Option<f64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(bucket, TimestampWithTimeZone),
        name!(delta, Option<f64>),
        name!(rate_per_second, Option<f64>),
        name!(resets, i64),
    ),
> {
    let rollover = check(check_rollover(rollover));
    let (points, buckets) = bucketed(times, values, from, to, bucket);
    TableIterator::new(deltas(&points, &buckets, rollover).into_iter().map(|d| {
        (
            timestamp(d.bucket),
            d.delta,
            d.rate_per_second,
            d.resets as i64,
        )
    }))
}
