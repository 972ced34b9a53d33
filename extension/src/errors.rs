//! Mapping of core errors to PostgreSQL errors with the right SQLSTATE.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Longest user-supplied text echoed back in a message: enough to recognise, never a flood.
const ECHO_LIMIT: usize = 64;

/// Quote user input for an error message, cut at a character boundary.
pub fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("\"{}...\" ({} bytes)", &s[..cut], s.len()),
        None => format!("\"{s}\""),
    }
}

/// Raise `invalid_parameter_value` (22023) with an optional hint.
pub fn invalid_parameter(message: String, hint: Option<String>) -> ! {
    let mut report = ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        "telemetry",
    );
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// Raise `numeric_value_out_of_range` (22003), as PostgreSQL does for float overflow.
pub fn out_of_range(message: String) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        message
    );
}

/// Raise an internal error (XX000) for a broken invariant in the extension's own tables.
pub fn internal(message: String) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, message);
}
