//! The analysis functions in SQL (`telemetry_core::analysis`): counters, time-weighted
//! averages, gap filling and smoothing, as aggregates over (time, value) rows and as
//! set-returning functions over arrays of them. The aggregates' states are `double precision[]`
//! (the numbers `telemetry_core::analysis::Run` and `Fit` encode); the forms by series id that
//! read `telemetry.readings` are SQL functions in sql/analysis.sql.

pub mod counters;
pub mod gapfill;
pub mod smoothing;
pub mod time_weight;

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::analysis::{points, Accrual, Buckets, Point, Run, Width};

use crate::errors::{invalid_parameter, required};
use crate::time::unix_micros;

/// The value of a core result, or `invalid_parameter_value` (22023) with its message.
pub fn check<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|message| invalid_parameter(message, None))
}

pub fn width(i: Interval) -> Width {
    Width {
        months: i.months(),
        days: i.days(),
        micros: i.micros(),
    }
}

/// The points of the arrays (NULL arrays are no points, as `array_agg` over no rows gives)
/// and the buckets of [from, to).
pub fn bucketed(
    times: Option<Array<'_, TimestampWithTimeZone>>,
    values: Option<Array<'_, f64>>,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    bucket: Option<Interval>,
) -> (Vec<Point>, Buckets) {
    let from = unix_micros(required(from, "\"from\""), "\"from\"");
    let to = unix_micros(required(to, "\"to\""), "\"to\"");
    let buckets = check(Buckets::new(from, to, width(required(bucket, "bucket"))));
    let times: Vec<Option<i64>> = times.map_or_else(Vec::new, |a| {
        a.iter()
            .map(|t| t.map(|t| unix_micros(t, "a time")))
            .collect()
    });
    let values: Vec<Option<f64>> = values.map_or_else(Vec::new, |a| a.iter().collect());
    (check(points(&times, &values)), buckets)
}

/// The numbers of an aggregate's state.
pub fn numbers(state: Option<Array<'_, f64>>) -> Vec<f64> {
    state.map_or_else(Vec::new, |a| {
        a.iter().map(|x| x.unwrap_or(f64::NAN)).collect()
    })
}

/// The run a state holds; `None` for the empty state.
pub fn run_of<A: Accrual>(state: Option<Array<'_, f64>>, what: &str) -> Option<Run<A>> {
    let numbers = numbers(state);
    if numbers.is_empty() {
        return None;
    }
    Some(Run::decode(&numbers).unwrap_or_else(|| {
        invalid_parameter(
            format!("{numbers:?} is not a state of telemetry.{what}"),
            None,
        )
    }))
}

/// The state after one more row; a row whose time or value is NULL changes nothing. A new
/// run takes its parameters (rollover, method) from `fresh`, that is from its first row.
pub fn accumulate<A: Accrual>(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    fresh: impl FnOnce() -> A,
    what: &str,
) -> Vec<f64> {
    let run = run_of::<A>(state, what);
    let (Some(time), Some(v)) = (time, value) else {
        return run.map_or_else(Vec::new, |r| r.encode());
    };
    let p = Point {
        t: unix_micros(time, "time"),
        v,
    };
    match run {
        None => Run::start(p, fresh()).encode(),
        Some(mut r) => {
            check(r.push(p, &format!("telemetry.{what}")));
            r.encode()
        }
    }
}

/// Two states as one, for parallel aggregation.
pub fn combine<A: Accrual>(
    a: Option<Array<'_, f64>>,
    b: Option<Array<'_, f64>>,
    what: &str,
) -> Vec<f64> {
    match (run_of::<A>(a, what), run_of::<A>(b, what)) {
        (Some(a), Some(b)) => check(Run::merge(a, b, &format!("telemetry.{what}"))).encode(),
        (Some(r), None) | (None, Some(r)) => r.encode(),
        (None, None) => Vec::new(),
    }
}
