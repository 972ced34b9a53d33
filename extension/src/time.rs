//! Timestamps between PostgreSQL (microseconds since 2000-01-01) and Unix microseconds, the
//! form payloads and reading keys use.

use pgrx::prelude::*;

use crate::errors::{raise, Class};

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Unix microseconds of a finite timestamp; `None` for infinity.
pub fn unix_micros_checked(ts: TimestampWithTimeZone) -> Option<i64> {
    ts.into_inner()
        .checked_add(PG_EPOCH_UNIX_MICROS)
        .filter(|_| ts.is_finite())
}

/// A message's `received_at` as a client gave it: NULL is the transaction's start (`now()`),
/// and an infinite time is `None`, which the pipeline dead-letters.
pub fn received_at(ts: Option<TimestampWithTimeZone>) -> Option<i64> {
    ts.map_or(Some(transaction_start()), unix_micros_checked)
}

/// Unix microseconds of a finite timestamp; `what` names it in the error for an infinite one.
pub fn unix_micros(ts: TimestampWithTimeZone, what: &str) -> i64 {
    match unix_micros_checked(ts) {
        Some(micros) => micros,
        None => raise(
            Class::DatetimeOverflow,
            format!("{what} must be a finite timestamp"),
            None,
        ),
    }
}

/// Unix microseconds of the current transaction's start, which is `now()` in SQL.
pub fn transaction_start() -> i64 {
    (unsafe { pgrx::pg_sys::GetCurrentTransactionStartTimestamp() }) + PG_EPOCH_UNIX_MICROS
}

/// The timestamp of Unix microseconds that the pipeline has already bounded to the plausible
/// window (or decoding to 1970..9999).
pub fn timestamp(unix_micros: i64) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(unix_micros - PG_EPOCH_UNIX_MICROS).unwrap_or_else(|_| {
        crate::errors::internal(format!("timestamp {unix_micros} out of range"))
    })
}

/// An interval as microseconds, months as 30 days (as `extract(epoch ...)` counts them).
pub fn interval_micros(i: pgrx::datum::Interval) -> i64 {
    (i64::from(i.months()) * 30 + i64::from(i.days())) * 86_400_000_000 + i.micros()
}

/// Unix microseconds now, `clock_timestamp()` in SQL.
pub fn clock() -> i64 {
    (unsafe { pgrx::pg_sys::GetCurrentTimestamp() }) + PG_EPOCH_UNIX_MICROS
}
