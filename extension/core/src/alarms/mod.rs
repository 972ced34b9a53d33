//! Alarm evaluation, ISA-18.2 / IEC 62682 style, as pure functions over plain data: a rule, the
//! state of one (rule, series), a reading or the time, and back come the events. The SQL layer
//! stores rules, states and events as rows and calls these from the ingest pipeline
//! (`on_reading`, per series in source-time order) and the maintenance job (`tick`, `escalate`).
//!
//! Policies, for every kind of rule:
//! - Late data: a reading at or before the last time evaluated for its (rule, series) is
//!   ignored for alarms, duplicates included; it neither raises nor clears. Within one call of
//!   `on_readings` the readings are put in order first.
//! - NaN: a reading without a finite value changes nothing for rules that judge values (limits,
//!   rate, stale, flat-line, anomaly); a bad-quality rule judges it by its source quality.
//! - Suppression window: once raised, the condition stays active at least `suppression_window`
//!   (seed 004: 60 s), so a signal oscillating inside it gives one raise and, after it, one
//!   clear: the first reading or tick after the window at which the clear condition (with
//!   deadband and off-delay) holds.
//! - Shelved, suppressed by design, out of service: the condition is tracked as ever, nothing is
//!   annunciated and the alarm rests at normal. On the return to service an active condition
//!   raises at once, as a new alarm. Shelving ends at its expiry on the first `tick` after it.
//! - Time: readings carry source time; `tick` and actions take the caller's `now`. Events are
//!   stamped with the one or the other.

pub mod actions;
pub mod anomaly;
pub mod escalation;
pub mod evaluate;
pub mod labels;
pub mod performance;
pub mod rule;
pub mod rule_row;
pub mod scope;
pub mod state;
#[cfg(test)]
mod tests;
pub mod trigger_args;

pub use actions::{act, set_suppressed, Action, ActionError};
pub use escalation::{escalate, validate_levels, EscalationLevel, LevelError};
pub use evaluate::{in_series_order, on_reading, on_readings, tick};
pub use labels::{EventKind, KindName, Method, Severity, Status};
pub use rule::{validate_limits, Deadband, Delay, Kind, Rule, RuleError};
pub use rule_row::RuleRow;
pub use scope::Scope;
pub use state::{AlarmState, Context, Event, Notify, Sample};

/// Unix microseconds, as readings carry time; also durations.
pub type Micros = i64;
