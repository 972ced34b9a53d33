//! `telemetry.clean_row()`: a row trigger that validates, converts and scores readings in a
//! table of the DBA's own, wide (one column per metric) or narrow (metric and value columns).
//!
//! Configured by trigger arguments, `key=value` each:
//! - wide: `column=metric` or `column=metric@unit` (the unit values arrive in; they are
//!   converted in place to the metric's canonical unit);
//! - narrow: `metric_column=col`, `value_column=col`, optionally `unit_column=col`;
//! - both: `time_column=col` (source time, for timeliness), `quality_column=col` (gets the
//!   score, the mean over the row's values), `flags_column=col` (gets the quality flags), and
//!   `on_invalid=keep|null|reject` for values out of range or not finite (default keep).

use pgrx::prelude::*;
use pgrx::{AllocatedByRust, PgTriggerError};

use crate::errors::{echo, invalid_parameter};
use crate::quality::{assess, Reading, SourceQuality};
use crate::registry::{self, Registry};
use crate::validate::Status;
use crate::{gucs, time};
use telemetry_core::clean_row::{parse_args, OnInvalid};

/// One value cleaned: converted, judged and scored.
struct Cleaned {
    value: f64,
    status: Status,
    score: f64,
    flags: i32,
}

fn clean_value(
    reg: &Registry,
    metric: &str,
    value: f64,
    unit: Option<&str>,
    delay_s: Option<f64>,
) -> Cleaned {
    let (rule, unit) = reg.rule_and_unit(Some(metric), unit);
    let value = match (rule, unit) {
        (Some(r), Some(u)) if value.is_finite() => reg
            .units
            .convert(value, &u, &r.unit)
            .unwrap_or_else(|e| crate::units::report(e)),
        _ => value,
    };
    let a = assess(
        &Reading {
            rule,
            value: Some(value),
            has_source_time: delay_s.is_some(),
            delay_s,
            previous: None,
            recent: None,
            source: SourceQuality::Good,
        },
        &gucs::quality_params(),
    );
    Cleaned {
        value,
        status: a.status,
        score: a.score,
        flags: a.flags,
    }
}

type Tuple<'a> = PgHeapTuple<'a, AllocatedByRust>;

fn column_error(column: &str, e: impl std::fmt::Display) -> ! {
    invalid_parameter(
        format!("telemetry.clean_row: column {}: {e}", echo(column)),
        None,
    )
}

/// A numeric column of any row as double, whether it is real or double precision.
pub(crate) fn number<A: pgrx::WhoAllocated>(
    t: &PgHeapTuple<'_, A>,
    column: &str,
) -> Result<Option<f64>, pgrx::datum::TryFromDatumError> {
    match t.get_by_name::<f64>(column) {
        Ok(v) => Ok(v),
        Err(_) => t.get_by_name::<f32>(column).map(|v| v.map(f64::from)),
    }
}

fn get_number(t: &Tuple, column: &str) -> Option<f64> {
    number(t, column).unwrap_or_else(|e| column_error(column, e))
}

fn set_number(t: &mut Tuple, column: &str, v: Option<f64>) {
    if t.set_by_name(column, v).is_err() {
        t.set_by_name(column, v.map(|x| x as f32))
            .unwrap_or_else(|e| column_error(column, e));
    }
}

fn get_text(t: &Tuple, column: &str) -> Option<String> {
    t.get_by_name::<String>(column)
        .unwrap_or_else(|e| column_error(column, e))
}

#[pg_trigger]
fn clean_row<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    crate::errors::require_trigger(
        trigger,
        pgrx::PgTriggerWhen::Before,
        pgrx::PgTriggerLevel::Row,
        "clean_row",
    );
    let config = parse_args(&trigger.extra_args()?).unwrap_or_else(|e| {
        invalid_parameter(
            format!(
                "telemetry.clean_row on {}: {e}",
                trigger.table_name().unwrap_or_default()
            ),
            Some("See COMMENT ON FUNCTION telemetry.clean_row for the arguments.".into()),
        )
    });
    let Some(new) = trigger.new() else {
        return Ok(None);
    };
    let mut row = new.into_owned();
    // On UPDATE a value that did not change was converted when it was written: leave it be.
    let old = trigger.old().map(PgHeapTuple::into_owned);
    let reg = registry::get();
    let delay_s = config.time.as_deref().and_then(|c| {
        let t = row
            .get_by_name::<TimestampWithTimeZone>(c)
            .unwrap_or_else(|e| column_error(c, e))?;
        let now = time::transaction_start();
        Some((now - time::unix_micros(t, c)) as f64 / 1e6)
    });

    let mut values: Vec<(String, String, Option<String>)> = config.wide.clone();
    if let Some((metric_col, value_col, unit_col)) = &config.narrow {
        if let Some(metric) = get_text(&row, metric_col) {
            let unit = unit_col.as_deref().and_then(|c| get_text(&row, c));
            values.push((value_col.clone(), metric, unit));
        }
    }
    let (mut score_sum, mut scored, mut flags) = (0.0, 0, 0);
    for (column, metric, unit) in &values {
        let Some(v) = get_number(&row, column) else {
            continue;
        };
        let unchanged = old
            .as_ref()
            .is_some_and(|o| get_number(o, column).map(f64::to_bits) == Some(v.to_bits()));
        let unit = if unchanged { None } else { unit.as_deref() };
        let c = clean_value(&reg, metric, v, unit, delay_s);
        let invalid = matches!(
            c.status,
            Status::BelowMin | Status::AboveMax | Status::NotFinite
        );
        match config.on_invalid.unwrap_or(OnInvalid::Keep) {
            OnInvalid::Reject if invalid => invalid_parameter(
                format!("{column} = {v}: {} for metric {metric}", c.status.label()),
                Some("telemetry.clean_row was created with on_invalid=reject.".into()),
            ),
            OnInvalid::Null if invalid => set_number(&mut row, column, None),
            _ => set_number(&mut row, column, Some(c.value)),
        }
        score_sum += c.score;
        scored += 1;
        flags |= c.flags;
    }
    if let Some(q) = &config.quality {
        set_number(
            &mut row,
            q,
            (scored > 0).then(|| score_sum / f64::from(scored)),
        );
    }
    if let Some(f) = &config.flags {
        row.set_by_name(f, flags)
            .unwrap_or_else(|e| column_error(f, e));
    }
    Ok(Some(row))
}
