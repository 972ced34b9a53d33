//! Time-weighted averages in SQL (`telemetry_core::analysis::time_weight`): the aggregate
//! `telemetry.time_weighted_average` (sql/analysis.sql) over these state functions, and
//! `telemetry.time_weighted_averages` per bucket.

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::analysis::time_weight::{average, averages, Weighted};
use telemetry_core::analysis::Interpolation;

use super::{accumulate, bucketed, check, combine, run_of, State};
use crate::errors::required;
use crate::time::timestamp;

const WHAT: &str = "time_weighted_average";

fn interpolation(method: Option<&str>) -> Interpolation {
    check(Interpolation::parse(required(method, "method")))
}

/// State function of `telemetry.time_weighted_average(time, value, method)`.
#[pg_extern(immutable, parallel_safe, name = "time_weight_accum")]
fn time_weight_accum_method(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    method: Option<&str>,
) -> State {
    let m = interpolation(method);
    accumulate(state, time, value, || Weighted::new(m), WHAT)
}

/// State function of `telemetry.time_weighted_average(time, value)`, linear.
#[pg_extern(immutable, parallel_safe)]
fn time_weight_accum(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
) -> State {
    let linear = || Weighted::new(Interpolation::Linear);
    accumulate(state, time, value, linear, WHAT)
}

#[pg_extern(immutable, parallel_safe)]
fn time_weight_combine(a: Option<Array<'_, f64>>, b: Option<Array<'_, f64>>) -> State {
    combine::<Weighted>(a, b, WHAT)
}

#[pg_extern(immutable, parallel_safe)]
fn time_weight_final(state: Option<Array<'_, f64>>) -> Option<f64> {
    run_of::<Weighted>(state, WHAT).map(|r| average(&r))
}

/// The time-weighted average per bucket from arrays of times and values; a bucket's start and
/// end take their values from the readings around them.
#[pg_extern(immutable, parallel_safe)]
fn time_weighted_averages(
    times: Option<Array<'_, TimestampWithTimeZone>>,
    values: Option<Array<'_, f64>>,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    bucket: Option<Interval>,
    method: default!(Option<&str>, "'linear'"),
) -> TableIterator<
    'static,
    (
        name!(bucket, TimestampWithTimeZone),
        name!(average, Option<f64>),
    ),
> {
    let m = interpolation(method);
    let (points, buckets) = bucketed(times, values, from, to, bucket);
    let avgs = averages(&points, &buckets, m);
    TableIterator::new(
        avgs.into_iter()
            .enumerate()
            .map(move |(i, a)| (timestamp(buckets.at(i)), a)),
    )
}
