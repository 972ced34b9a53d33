//! Smoothing and trend in SQL (`telemetry_core::analysis::smoothing`): the state functions of
//! the aggregates `telemetry.ema` and `telemetry.trend_slope` (sql/analysis.sql).

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::analysis::smoothing::{check_alpha, ema_step, ema_time_step, Fit};

use super::{check, numbers, State};
use crate::errors::{invalid_parameter, required};
use crate::time::{interval_micros, unix_micros};

/// State function of `telemetry.ema(value, alpha)`: the EMA so far is the state.
#[pg_extern(immutable, parallel_safe)]
fn ema_accum(state: Option<f64>, value: Option<f64>, alpha: Option<f64>) -> Option<f64> {
    let alpha = check(check_alpha(required(alpha, "alpha")));
    match value {
        None => state,
        Some(v) => Some(ema_step(state, v, alpha)),
    }
}

/// A positive length of time in seconds; `what` names it in the error.
fn positive_seconds(i: Option<Interval>, what: &str) -> f64 {
    let micros = interval_micros(required(i, what));
    if micros <= 0 {
        invalid_parameter(
            format!("{what} must be positive, not {micros} microseconds"),
            None,
        );
    }
    micros as f64 / 1e6
}

/// State function of `telemetry.ema(time, value, time_constant)`: the last time and the EMA.
#[pg_extern(immutable, parallel_safe)]
fn ema_time_accum(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    time_constant: Option<Interval>,
) -> State {
    let tau = positive_seconds(time_constant, "time_constant");
    let previous = match numbers(state)[..] {
        [t, e] => Some((t as i64, e)),
        _ => None,
    };
    let (Some(time), Some(v)) = (time, value) else {
        return State(previous.map_or_else(Vec::new, |(t, e)| vec![t as f64, e]));
    };
    let (t, e) = check(ema_time_step(previous, unix_micros(time, "time"), v, tau));
    State(vec![t as f64, e])
}

#[pg_extern(immutable, parallel_safe)]
fn ema_time_final(state: Option<Array<'_, f64>>) -> Option<f64> {
    numbers(state).get(1).copied()
}

/// The fit a state holds and the seconds of its `per`; `None` for the empty state.
fn fit_of(state: Option<Array<'_, f64>>) -> Option<(Fit, f64)> {
    let numbers = numbers(state);
    let (fit, per) = numbers.split_at(numbers.len().saturating_sub(1));
    match (Fit::decode(fit), per) {
        (_, []) => None,
        (Some(f), [per]) => Some((f, *per)),
        _ => invalid_parameter(
            format!("{numbers:?} is not a state of telemetry.trend_slope"),
            None,
        ),
    }
}

fn trend_state(fit: Fit, per_s: f64) -> State {
    let mut numbers = fit.encode();
    numbers.push(per_s);
    State(numbers)
}

fn trend_step(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    per_s: f64,
) -> State {
    let mut fit = fit_of(state).map_or_else(Fit::default, |(f, _)| f);
    if let (Some(t), Some(v)) = (time, value) {
        fit.push(unix_micros(t, "time") as f64 / 1e6, v);
    }
    trend_state(fit, per_s)
}

/// State function of `telemetry.trend_slope(time, value, per)`: the fit so far and the
/// seconds of `per` last.
#[pg_extern(immutable, parallel_safe, name = "trend_accum")]
fn trend_accum_per(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
    per: Option<Interval>,
) -> State {
    trend_step(state, time, value, positive_seconds(per, "per"))
}

/// State function of `telemetry.trend_slope(time, value)`: per hour, as seed 003 fits it.
#[pg_extern(immutable, parallel_safe)]
fn trend_accum(
    state: Option<Array<'_, f64>>,
    time: Option<TimestampWithTimeZone>,
    value: Option<f64>,
) -> State {
    trend_step(state, time, value, 3600.0)
}

#[pg_extern(immutable, parallel_safe)]
fn trend_combine(a: Option<Array<'_, f64>>, b: Option<Array<'_, f64>>) -> State {
    match (fit_of(a), fit_of(b)) {
        (Some((fa, per)), Some((fb, _))) => trend_state(Fit::merge(fa, fb), per),
        (Some((f, per)), None) | (None, Some((f, per))) => trend_state(f, per),
        (None, None) => State(Vec::new()),
    }
}

#[pg_extern(immutable, parallel_safe)]
fn trend_slope_final(state: Option<Array<'_, f64>>) -> Option<f64> {
    fit_of(state).and_then(|(fit, per)| fit.slope().map(|s| s * per))
}
