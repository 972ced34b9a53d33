//! Mapping of core errors to PostgreSQL errors with the right SQLSTATE, and running a step in
//! a subtransaction that catches the errors it expects (`in_subtransaction`).

use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::pg_sys::PgTryBuilder;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub use telemetry_core::names::echo;

/// Every kind of error the extension raises, and its SQLSTATE: the one place that maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 22023: an argument, unit, metric name or setting a caller gave is wrong.
    InvalidParameter,
    /// 22P02: text that is not the text form of its type (a `telemetry.summary`).
    InvalidTextRepresentation,
    /// 22003: a conversion overflows double precision, as PostgreSQL's own float errors.
    OutOfRange,
    /// 22008: a timestamp a function needs finite is infinite.
    DatetimeOverflow,
    /// 22004: NULL where an argument must have a value.
    NullValueNotAllowed,
    /// 39P01: a trigger function attached the wrong way, as PostgreSQL's own triggers say.
    TriggerMisuse,
    /// 42501: a staging table the pipeline did not create.
    InsufficientPrivilege,
    /// 42809: a staging table of the wrong kind or shape.
    WrongObjectType,
    /// 42P01: no staging table in this session.
    UndefinedTable,
    /// 55000: the library is newer than the database's extension; an operator's action the
    /// alarm's state does not allow (acknowledging a normal alarm).
    NotInPrerequisiteState,
    /// XX000: a broken invariant of the extension's own tables; a bug.
    Internal,
}

impl Class {
    pub fn sqlstate(self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Class::InvalidParameter => ERRCODE_INVALID_PARAMETER_VALUE,
            Class::InvalidTextRepresentation => ERRCODE_INVALID_TEXT_REPRESENTATION,
            Class::OutOfRange => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            // PostgreSQL also calls 22008 datetime_value_out_of_range.
            Class::DatetimeOverflow => ERRCODE_DATETIME_FIELD_OVERFLOW,
            Class::NullValueNotAllowed => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Class::TriggerMisuse => ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            Class::InsufficientPrivilege => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Class::WrongObjectType => ERRCODE_WRONG_OBJECT_TYPE,
            Class::UndefinedTable => ERRCODE_UNDEFINED_TABLE,
            Class::NotInPrerequisiteState => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Class::Internal => ERRCODE_INTERNAL_ERROR,
        }
    }
}

/// Raise an ERROR of `class`, with a hint when there is something to do about it.
pub fn raise(class: Class, message: String, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(class.sqlstate(), message, "telemetry");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// Raise `invalid_parameter_value` (22023) with an optional hint.
pub fn invalid_parameter(message: String, hint: Option<String>) -> ! {
    raise(Class::InvalidParameter, message, hint.as_deref())
}

/// The value of an argument that must not be NULL, or `null_value_not_allowed` (22004)
/// naming it.
pub fn required<T>(value: Option<T>, argument: &str) -> T {
    value.unwrap_or_else(|| {
        raise(
            Class::NullValueNotAllowed,
            format!("{argument} must not be NULL"),
            None,
        )
    })
}

/// Raise `numeric_value_out_of_range` (22003), as PostgreSQL does for float overflow.
pub fn out_of_range(message: String) -> ! {
    raise(Class::OutOfRange, message, None)
}

/// Raise `trigger_protocol_violated` (39P01), as PostgreSQL's own trigger functions do when
/// they are attached the wrong way.
pub fn trigger_misuse(message: String) -> ! {
    raise(Class::TriggerMisuse, message, None)
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
    raise(Class::Internal, message, None)
}

/// Run `f` in a subtransaction, as PL/pgSQL runs a block with an EXCEPTION clause: `Err`
/// with the error when it failed with a code `caught` accepts and was rolled back; any other
/// error propagates.
pub fn in_subtransaction<R>(
    caught: fn(PgSqlErrorCode) -> bool,
    f: impl FnOnce() -> R,
) -> Result<R, (PgSqlErrorCode, String)> {
    use pgrx::pg_sys;
    let (context, owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    let restore = move || unsafe {
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
    };
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
    }
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        let out = f();
        unsafe { pg_sys::ReleaseCurrentSubTransaction() };
        restore();
        Ok(out)
    }))
    .catch_others(|e| {
        unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
        restore();
        let report = match &e {
            CaughtError::PostgresError(r)
            | CaughtError::ErrorReport(r)
            | CaughtError::RustPanic { ereport: r, .. } => r,
        };
        if caught(report.sql_error_code()) {
            Err((report.sql_error_code(), report.message().to_string()))
        } else {
            e.rethrow()
        }
    })
    .execute()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn a_caught_error_rolls_back_only_its_subtransaction() {
        Spi::run("CREATE TEMP TABLE t (n int PRIMARY KEY); INSERT INTO t VALUES (1)").unwrap();
        let unique: fn(PgSqlErrorCode) -> bool =
            |code| code == PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION;
        let caught = in_subtransaction(unique, || {
            Spi::run("INSERT INTO t VALUES (2)").unwrap();
            Spi::run("INSERT INTO t VALUES (1)").unwrap();
        });
        let (code, message) = caught.unwrap_err();
        assert_eq!(code, PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION);
        assert!(message.contains("duplicate key"), "{message}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t"), Ok(Some(1)));
        let kept = in_subtransaction(unique, || Spi::run("INSERT INTO t VALUES (3)").unwrap());
        assert!(kept.is_ok());
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM t"), Ok(Some(2)));
    }
}
