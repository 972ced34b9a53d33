//! The analysis functions in SQL (`telemetry_core::analysis`): counters, time-weighted
//! averages, gap filling and smoothing, as aggregates over (time, value) rows and as
//! set-returning functions over arrays of them. The aggregates' states are `double precision[]`
//! (the numbers `telemetry_core::analysis::Run` and `Fit` encode); the forms by series id that
//! read `telemetry.readings` are SQL functions in sql/analysis.sql.

pub mod counters;
pub mod gapfill;
pub mod smoothing;
pub mod time_weight;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Interval;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use pgrx::IntoDatum;
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

/// An aggregate's state, `double precision[]` in SQL, built by one call of PostgreSQL's
/// `construct_array`: a `Vec<f64>` goes through an array build state and catalog lookups of the
/// element type, which cost more than the row's own work.
pub struct State(pub Vec<f64>);

unsafe impl SqlTranslatable for State {
    const TYPE_IDENT: &'static str = <Vec<f64> as SqlTranslatable>::TYPE_IDENT;
    const TYPE_ORIGIN: TypeOrigin = <Vec<f64> as SqlTranslatable>::TYPE_ORIGIN;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        <Vec<f64> as SqlTranslatable>::ARGUMENT_SQL;
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = <Vec<f64> as SqlTranslatable>::RETURN_SQL;
}

impl IntoDatum for State {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let mut datums: Vec<pg_sys::Datum> = self
            .0
            .into_iter()
            .map(|x| x.into_datum().unwrap_or(pg_sys::Datum::from(0usize)))
            .collect();
        let n = i32::try_from(datums.len()).unwrap_or(i32::MAX);
        // SAFETY: `datums` holds `n` float8 datums (passed by value, 8 bytes, double-aligned), which
        // construct_array copies into a new array in the current memory context.
        let array = unsafe {
            pg_sys::construct_array(
                datums.as_mut_ptr(),
                n,
                pg_sys::FLOAT8OID,
                8,
                true,
                pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
            )
        };
        Some(pg_sys::Datum::from(array))
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::FLOAT8ARRAYOID
    }
}

// SAFETY: as pgrx's own for Vec<T>: the datum returned is the function's result.
unsafe impl BoxRet for State {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

/// The numbers of an aggregate's state.
pub fn numbers(state: Option<Array<'_, f64>>) -> Vec<f64> {
    state.map_or_else(Vec::new, |a| match a.as_slice() {
        Ok(numbers) => numbers.to_vec(),
        Err(_) => a.iter().map(|x| x.unwrap_or(f64::NAN)).collect(),
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
) -> State {
    let run = run_of::<A>(state, what);
    let (Some(time), Some(v)) = (time, value) else {
        return State(run.map_or_else(Vec::new, |r| r.encode()));
    };
    let p = Point {
        t: unix_micros(time, "time"),
        v,
    };
    match run {
        None => State(Run::start(p, fresh()).encode()),
        Some(mut r) => {
            check(r.push(p, &format!("telemetry.{what}")));
            State(r.encode())
        }
    }
}

/// Two states as one, for parallel aggregation.
pub fn combine<A: Accrual>(
    a: Option<Array<'_, f64>>,
    b: Option<Array<'_, f64>>,
    what: &str,
) -> State {
    State(match (run_of::<A>(a, what), run_of::<A>(b, what)) {
        (Some(a), Some(b)) => check(Run::merge(a, b, &format!("telemetry.{what}"))).encode(),
        (Some(r), None) | (None, Some(r)) => r.encode(),
        (None, None) => Vec::new(),
    })
}
