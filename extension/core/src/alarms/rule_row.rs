//! A rule as a SQL row holds it: text for the kind and severity, one nullable column per
//! parameter. [`Rule::from_row`] turns it into a typed [`Rule`] and refuses a row that names a
//! parameter its kind does not use, so a DBA's typo is an error rather than a silent default.

use super::labels::{KindName, Severity};
use super::rule::{
    Deadband, Delay, Kind, Rule, RuleError, DEFAULT_SUPPRESSION_WINDOW, DEFAULT_WARMUP,
    DEFAULT_WINDOW, DEFAULT_Z,
};
use super::Micros;

/// One row of a rules table; times are microseconds (an `interval`'s total), `None` is NULL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleRow<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub severity: &'a str,
    /// The limit of a limit rule, or the maximum rate per second of a rate rule.
    pub limit: Option<f64>,
    pub epsilon: Option<f64>,
    /// How long a stale or flat-line condition takes.
    pub after: Option<Micros>,
    pub window: Option<i32>,
    pub warmup: Option<i32>,
    pub z: Option<f64>,
    pub source_quality: Option<i16>,
    pub deadband: Option<f64>,
    pub deadband_percent: Option<f64>,
    pub on_delay: Option<Micros>,
    pub on_delay_samples: Option<i32>,
    pub off_delay: Option<Micros>,
    pub off_delay_samples: Option<i32>,
    pub realarm_after: Option<Micros>,
    /// NULL is seed 004's 60 s.
    pub suppression_window: Option<Micros>,
    pub enabled: bool,
}

impl Rule {
    /// Parse and validate a row; the error says which column is wrong and why.
    pub fn from_row(row: &RuleRow) -> Result<Rule, RuleError> {
        let name =
            KindName::parse(row.kind).ok_or_else(|| RuleError::UnknownKind(row.kind.into()))?;
        let severity = Severity::parse(row.severity)
            .ok_or_else(|| RuleError::UnknownSeverity(row.severity.into()))?;
        unused(row, name)?;
        let deadband = match (row.deadband, row.deadband_percent) {
            (Some(_), Some(_)) => return Err(RuleError::BothDeadbands),
            (Some(d), None) => Deadband::Absolute(d),
            (None, Some(p)) => Deadband::Percent(p),
            (None, None) => Deadband::None,
        };
        let rule = Rule {
            id: row.id,
            kind: kind(row, name)?,
            severity,
            deadband,
            on_delay: delay("on_delay_samples", row.on_delay, row.on_delay_samples)?,
            off_delay: delay("off_delay_samples", row.off_delay, row.off_delay_samples)?,
            realarm_after: row.realarm_after,
            suppression_window: row.suppression_window.unwrap_or(DEFAULT_SUPPRESSION_WINDOW),
            enabled: row.enabled,
        };
        rule.validate()?;
        Ok(rule)
    }
}

fn kind(row: &RuleRow, name: KindName) -> Result<Kind, RuleError> {
    let need =
        |field: &'static str, v: Option<f64>| v.ok_or(RuleError::Missing { kind: name, field });
    let after = || {
        row.after.ok_or(RuleError::Missing {
            kind: name,
            field: "after",
        })
    };
    let limit = || need("limit", row.limit);
    Ok(match name {
        KindName::HighHigh => Kind::HighHigh { limit: limit()? },
        KindName::High => Kind::High { limit: limit()? },
        KindName::Low => Kind::Low { limit: limit()? },
        KindName::LowLow => Kind::LowLow { limit: limit()? },
        KindName::RateOfChange => Kind::RateOfChange {
            max_per_second: limit()?,
        },
        KindName::Stale => Kind::Stale { after: after()? },
        KindName::FlatLine => Kind::FlatLine {
            epsilon: row.epsilon.unwrap_or(0.0),
            after: after()?,
        },
        KindName::BadQuality => Kind::BadQuality {
            at_least: row.source_quality.unwrap_or(2),
        },
        KindName::Anomaly => Kind::Anomaly {
            window: count("window", row.window, DEFAULT_WINDOW)?,
            warmup: count("warmup", row.warmup, DEFAULT_WARMUP)?,
            z: row.z.unwrap_or(DEFAULT_Z),
        },
    })
}

/// The parameters a kind does not use must be NULL.
fn unused(row: &RuleRow, name: KindName) -> Result<(), RuleError> {
    let uses: &[&str] = match name {
        KindName::HighHigh | KindName::High | KindName::Low | KindName::LowLow => &["limit"],
        KindName::RateOfChange => &["limit"],
        KindName::Stale => &["after"],
        KindName::FlatLine => &["epsilon", "after"],
        KindName::BadQuality => &["source_quality"],
        KindName::Anomaly => &["window", "warmup", "z"],
    };
    let given = [
        ("limit", row.limit.is_some()),
        ("epsilon", row.epsilon.is_some()),
        ("after", row.after.is_some()),
        ("window", row.window.is_some()),
        ("warmup", row.warmup.is_some()),
        ("z", row.z.is_some()),
        ("source_quality", row.source_quality.is_some()),
    ];
    match given.iter().find(|(f, set)| *set && !uses.contains(f)) {
        Some((field, _)) => Err(RuleError::NotUsed { kind: name, field }),
        None => Ok(()),
    }
}

fn count(field: &'static str, v: Option<i32>, default: u32) -> Result<u32, RuleError> {
    v.map_or(Ok(default), |n| {
        u32::try_from(n).map_err(|_| RuleError::Negative { field })
    })
}

fn delay(
    field: &'static str,
    duration: Option<Micros>,
    samples: Option<i32>,
) -> Result<Delay, RuleError> {
    Ok(Delay {
        duration: duration.unwrap_or(0),
        samples: count(field, samples, 0)?,
    })
}
