//! Alarm rules as plain data, and the checks that refuse a rule which could never behave as its
//! author meant (a negative deadband, a warm-up longer than its window, a high-high limit below
//! the high one), so the SQL side can reject it with a precise message instead of alarming
//! wrongly for months.

use super::labels::{KindName, Severity};
use super::Micros;

/// Seed 004 section 6.2: one alarm per minute at most for a flapping signal.
pub const DEFAULT_SUPPRESSION_WINDOW: Micros = 60_000_000;
/// Seed 003 section 8.2: a window of 100 readings, judged from the 10th.
pub const DEFAULT_WINDOW: u32 = 100;
pub const DEFAULT_WARMUP: u32 = 10;
/// Seed 002 and 003: three standard deviations.
pub const DEFAULT_Z: f64 = 3.0;

/// What a rule watches, with its parameters. Each limit level is a rule of its own, as in
/// ISA-18.2, where high and high-high are two alarms with their own state and acknowledgement;
/// [`validate_limits`] checks their order across the rules of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    HighHigh {
        limit: f64,
    },
    High {
        limit: f64,
    },
    Low {
        limit: f64,
    },
    LowLow {
        limit: f64,
    },
    /// Absolute change between consecutive finite readings, per second.
    RateOfChange {
        max_per_second: f64,
    },
    /// No reading with a finite value for `after`.
    Stale {
        after: Micros,
    },
    /// Every finite value for `after` within `epsilon` of the first of them (not of the one
    /// before, so a slow drift is no flat line).
    FlatLine {
        epsilon: f64,
        after: Micros,
    },
    /// Source quality at least this bad: 1 uncertain, 2 bad.
    BadQuality {
        at_least: i16,
    },
    /// More than `z` standard deviations from the recent mean, once `warmup` readings are in.
    Anomaly {
        window: u32,
        warmup: u32,
        z: f64,
    },
}

impl Kind {
    pub fn name(&self) -> KindName {
        match self {
            Kind::HighHigh { .. } => KindName::HighHigh,
            Kind::High { .. } => KindName::High,
            Kind::Low { .. } => KindName::Low,
            Kind::LowLow { .. } => KindName::LowLow,
            Kind::RateOfChange { .. } => KindName::RateOfChange,
            Kind::Stale { .. } => KindName::Stale,
            Kind::FlatLine { .. } => KindName::FlatLine,
            Kind::BadQuality { .. } => KindName::BadQuality,
            Kind::Anomaly { .. } => KindName::Anomaly,
        }
    }

    /// The limit and whether it is an upper one, for the four limit kinds.
    pub fn limit(&self) -> Option<(f64, bool)> {
        match *self {
            Kind::HighHigh { limit } | Kind::High { limit } => Some((limit, true)),
            Kind::Low { limit } | Kind::LowLow { limit } => Some((limit, false)),
            _ => None,
        }
    }

    /// Whether a reading without a finite value tells this kind nothing.
    pub fn needs_value(&self) -> bool {
        !matches!(self, Kind::BadQuality { .. })
    }

    /// Whether the condition is taken to hold between readings (a device that reports by
    /// exception sends nothing while its value stands), so `tick` may complete an on-delay by
    /// duration. A rate or a z-score belongs to a reading and does not carry over.
    pub fn holds_between_readings(&self) -> bool {
        self.limit().is_some() || matches!(self, Kind::BadQuality { .. })
    }
}

/// Hysteresis: a raised alarm clears only once the value is back past the limit by this much.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Deadband {
    #[default]
    None,
    /// In the metric's unit (units per second for a rate, standard deviations for an anomaly).
    Absolute(f64),
    /// Percent of the metric's valid range, which the caller passes in `Context`; limit rules
    /// only. Without a range the deadband is zero.
    Percent(f64),
}

/// How long a condition must hold (on-delay) or be gone (off-delay): for `duration` OR for
/// `samples` consecutive readings, whichever comes first. Both zero: at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delay {
    pub duration: Micros,
    pub samples: u32,
}

impl Delay {
    /// Whether a transition pending since `since` for `samples` readings is due `at`.
    pub fn met(&self, since: Micros, samples: i32, at: Micros) -> bool {
        let by_samples = self.samples > 0 && i64::from(samples) >= i64::from(self.samples);
        let by_time = self.duration > 0 && at.saturating_sub(since) >= self.duration;
        (self.samples == 0 && self.duration == 0) || by_samples || by_time
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub kind: Kind,
    /// The severity of every raise, except an anomaly's, which seed 003's bands set.
    pub severity: Severity,
    pub deadband: Deadband,
    pub on_delay: Delay,
    pub off_delay: Delay,
    /// An alarm acknowledged and still active this long is unacknowledged again.
    pub realarm_after: Option<Micros>,
    /// Once raised, an alarm stays active at least this long, so a flapping signal raises once.
    pub suppression_window: Micros,
    /// A disabled rule is not evaluated at all; use out of service to keep a record.
    pub enabled: bool,
}

impl Rule {
    /// A rule with no deadband, no delays, no re-alarm and seed 004's 60 s window.
    pub fn new(id: i64, kind: Kind, severity: Severity) -> Rule {
        Rule {
            id,
            kind,
            severity,
            deadband: Deadband::None,
            on_delay: Delay::default(),
            off_delay: Delay::default(),
            realarm_after: None,
            suppression_window: DEFAULT_SUPPRESSION_WINDOW,
            enabled: true,
        }
    }

    /// The deadband in the compared quantity's unit, given the metric's range.
    pub fn deadband_in(&self, valid_min: Option<f64>, valid_max: Option<f64>) -> f64 {
        match self.deadband {
            Deadband::None => 0.0,
            Deadband::Absolute(d) => d,
            Deadband::Percent(p) => match (valid_min, valid_max) {
                (Some(lo), Some(hi)) if hi > lo => (hi - lo) * p / 100.0,
                _ => 0.0,
            },
        }
    }

    /// Everything a rule must satisfy on its own; see [`validate_limits`] for a set of rules.
    pub fn validate(&self) -> Result<(), RuleError> {
        self.validate_kind()?;
        self.validate_deadband()?;
        for (field, d) in [("on_delay", self.on_delay), ("off_delay", self.off_delay)] {
            not_negative(field, d.duration)?;
        }
        if matches!(self.kind, Kind::Stale { .. }) && self.on_delay.samples > 0 {
            return Err(RuleError::StaleBySamples);
        }
        if let Some(r) = self.realarm_after {
            positive_time("realarm_after", r)?;
        }
        not_negative("suppression_window", self.suppression_window)
    }

    fn validate_kind(&self) -> Result<(), RuleError> {
        match self.kind {
            Kind::HighHigh { limit }
            | Kind::High { limit }
            | Kind::Low { limit }
            | Kind::LowLow { limit } => finite("limit", limit),
            Kind::RateOfChange { max_per_second } => positive("max_per_second", max_per_second),
            Kind::Stale { after } => positive_time("after", after),
            Kind::FlatLine { epsilon, after } => {
                finite("epsilon", epsilon)?;
                if epsilon < 0.0 {
                    return Err(RuleError::Negative { field: "epsilon" });
                }
                positive_time("after", after)
            }
            Kind::BadQuality { at_least } if !(1..=2).contains(&at_least) => {
                Err(RuleError::BadQualityLevel(at_least))
            }
            Kind::BadQuality { .. } => Ok(()),
            Kind::Anomaly { window, warmup, z } => {
                positive("z", z)?;
                if warmup < 2 || warmup > window {
                    return Err(RuleError::Warmup { warmup, window });
                }
                Ok(())
            }
        }
    }

    fn validate_deadband(&self) -> Result<(), RuleError> {
        let kind = self.kind.name();
        let (value, percent) = match self.deadband {
            Deadband::None => return Ok(()),
            Deadband::Absolute(d) => (d, false),
            Deadband::Percent(p) => (p, true),
        };
        finite("deadband", value)?;
        if value < 0.0 {
            return Err(RuleError::Negative { field: "deadband" });
        }
        let applies = match self.kind {
            _ if self.kind.limit().is_some() => true,
            Kind::RateOfChange { .. } | Kind::Anomaly { .. } => !percent,
            _ => false,
        };
        if !applies {
            return Err(RuleError::DeadbandNotApplicable { kind, percent });
        }
        if percent && value >= 100.0 {
            return Err(RuleError::PercentDeadband(value));
        }
        match self.kind {
            Kind::Anomaly { z, .. } if value >= z => Err(RuleError::DeadbandNotBelowZ { value, z }),
            _ => Ok(()),
        }
    }
}

/// The limit rules of one metric must nest: high-high above high above low above low-low, so
/// that a value crossing high-high has crossed high on its way. Disabled rules are left out.
pub fn validate_limits(rules: &[Rule]) -> Result<(), RuleError> {
    let order = |k: KindName| match k {
        KindName::HighHigh => 3,
        KindName::High => 2,
        KindName::Low => 1,
        _ => 0,
    };
    let limits: Vec<(i64, KindName, f64)> = rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| r.kind.limit().map(|(l, _)| (r.id, r.kind.name(), l)))
        .collect();
    for &upper in &limits {
        for &lower in &limits {
            if order(upper.1) > order(lower.1) && upper.2 <= lower.2 {
                return Err(RuleError::LimitOrder { upper, lower });
            }
        }
    }
    Ok(())
}

fn finite(field: &'static str, x: f64) -> Result<(), RuleError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(RuleError::NotFinite { field })
    }
}

fn positive(field: &'static str, x: f64) -> Result<(), RuleError> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(())
    } else {
        Err(RuleError::NotPositive { field })
    }
}

fn positive_time(field: &'static str, t: Micros) -> Result<(), RuleError> {
    if t > 0 {
        Ok(())
    } else {
        Err(RuleError::NotPositive { field })
    }
}

fn not_negative(field: &'static str, t: Micros) -> Result<(), RuleError> {
    if t >= 0 {
        Ok(())
    } else {
        Err(RuleError::Negative { field })
    }
}

/// Why a rule was refused; the message names the field and what it must be.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleError {
    UnknownKind(String),
    UnknownSeverity(String),
    /// A parameter the kind needs is missing.
    Missing {
        kind: KindName,
        field: &'static str,
    },
    /// A parameter was given that the kind does not use.
    NotUsed {
        kind: KindName,
        field: &'static str,
    },
    NotFinite {
        field: &'static str,
    },
    Negative {
        field: &'static str,
    },
    NotPositive {
        field: &'static str,
    },
    BothDeadbands,
    DeadbandNotApplicable {
        kind: KindName,
        percent: bool,
    },
    PercentDeadband(f64),
    DeadbandNotBelowZ {
        value: f64,
        z: f64,
    },
    Warmup {
        warmup: u32,
        window: u32,
    },
    BadQualityLevel(i16),
    StaleBySamples,
    /// (rule id, kind, limit) of two rules whose limits are in the wrong order.
    LimitOrder {
        upper: (i64, KindName, f64),
        lower: (i64, KindName, f64),
    },
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use RuleError::*;
        match self {
            UnknownKind(k) => write!(f, "unknown alarm kind {k:?}; kinds are {}", list(KindName::ALL)),
            UnknownSeverity(s) => write!(f, "unknown severity {s:?}; severities are {}", list(Severity::ALL)),
            Missing { kind, field } => write!(f, "a {kind} rule needs {field}"),
            NotUsed { kind, field } => write!(f, "{field} does not apply to a {kind} rule"),
            NotFinite { field } => write!(f, "{field} must be a finite number"),
            Negative { field } => write!(f, "{field} must not be negative"),
            NotPositive { field } => write!(f, "{field} must be greater than zero"),
            BothDeadbands => f.write_str("give deadband or deadband_percent, not both"),
            DeadbandNotApplicable { kind, percent: true } => write!(f, "a percent deadband is of the metric's range and applies to limit rules only, not to a {kind} rule"),
            DeadbandNotApplicable { kind, .. } => write!(f, "a deadband does not apply to a {kind} rule"),
            PercentDeadband(p) => write!(f, "deadband_percent {p} must be below 100"),
            DeadbandNotBelowZ { value, z } => write!(f, "an anomaly deadband ({value} standard deviations) must be below z ({z})"),
            Warmup { warmup, window } => write!(f, "warmup {warmup} must be at least 2 and at most the window ({window} readings)"),
            BadQualityLevel(q) => write!(f, "source_quality {q} must be 1 (uncertain or worse) or 2 (bad)"),
            StaleBySamples => f.write_str("a stale rule is judged by time between readings; its on-delay can only be a duration"),
            LimitOrder { upper, lower } => write!(
                f,
                "{} limit {} (rule {}) must be above {} limit {} (rule {})",
                upper.1, upper.2, upper.0, lower.1, lower.2, lower.0
            ),
        }
    }
}

impl std::error::Error for RuleError {}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
