//! Mapping of core errors to PostgreSQL errors with the right SQLSTATE.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Longest user-supplied text echoed back in a message: enough to recognise, never a flood.
const ECHO_LIMIT: usize = 64;

/// Quote user input for an error message, cut at a character boundary, with control
/// characters escaped: a NUL must never reach a text column or a log line.
pub fn echo(s: &str) -> String {
    let (shown, cut) = match s.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => (&s[..cut], true),
        None => (s, false),
    };
    let mut out = String::with_capacity(shown.len() + 2);
    out.push('"');
    for c in shown.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    if cut {
        out.insert_str(out.len() - 1, "...");
        out.push_str(&format!(" ({} bytes)", s.len()));
    }
    out
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

/// Raise `trigger_protocol_violated` (39P01), as PostgreSQL's own trigger functions do when
/// they are attached the wrong way.
pub fn trigger_misuse(message: String) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
        message
    );
}

/// Refuse to run a trigger function fired other than as it was written to be: attached AFTER
/// or FOR EACH STATEMENT, a row trigger would otherwise do nothing without a word.
pub fn require_trigger(
    trigger: &pgrx::PgTrigger<'_>,
    when: pgrx::PgTriggerWhen,
    level: pgrx::PgTriggerLevel,
    function: &str,
) {
    let wanted = format!("{when} ... FOR EACH {level}");
    let fired = match trigger.when() {
        Ok(w) => format!("{w} ... FOR EACH {}", trigger.level()),
        Err(_) => "outside a trigger".into(),
    };
    if fired != wanted {
        trigger_misuse(format!(
            "telemetry.{function}() must be fired {wanted}, not {fired} (on {})",
            trigger.table_name().unwrap_or_default()
        ));
    }
}

/// Raise an internal error (XX000) for a broken invariant in the extension's own tables.
pub fn internal(message: String) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, message);
}

#[cfg(test)]
mod tests {
    use super::echo;

    #[test]
    fn echo_escapes_and_cuts() {
        assert_eq!(echo("a\0b\u{1b}"), "\"a\\u{0}b\\u{1b}\"");
        let long = "x".repeat(100);
        assert_eq!(
            echo(&long),
            format!("\"{}...\" (100 bytes)", "x".repeat(64))
        );
    }
}
