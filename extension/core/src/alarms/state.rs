//! The state of one alarm, (rule, series), in two layers.
//!
//! The *condition* layer follows the process: the condition after deadband, on- and off-delay
//! and the suppression window. It is tracked in every mode. The *annunciation* layer is what an
//! operator sees: while the alarm is in service it follows the condition (raise, clear) and
//! the operator's acknowledgement; while it is shelved, suppressed by design or out of service
//! nothing is annunciated and it rests at normal, as in ISA-18.2's state diagram, where those
//! modes return to normal. On the return to service the condition is annunciated afresh: if it
//! is active then, the alarm raises at that moment.
//!
//! Every field is a plain SQL column (times `timestamptz` from Unix µs, `None` is NULL):
//!
//! | field | column |
//! | --- | --- |
//! | `condition` | `condition_active boolean` |
//! | `unacknowledged` | `unacknowledged boolean` |
//! | `severity` | `severity text` (labels::Severity) |
//! | `raised_at`, `unacked_at`, `acked_at` | `timestamptz` each |
//! | `escalation_level` | `escalation_level smallint` |
//! | `shelved_until` | `shelved_until timestamptz` |
//! | `suppressed`, `out_of_service` | `boolean` each |
//! | `pending_since`, `pending_samples` | `timestamptz`, `integer` |
//! | `last_time`, `last_value`, `last_value_at` | `timestamptz`, `float8`, `timestamptz` |
//! | `flat_since`, `flat_value` | `timestamptz`, `float8` |
//! | `stats.n`, `stats.mean`, `stats.var` | `stats_n integer`, `stats_mean float8`, `stats_var float8` |
//!
//! `status()` gives the one word to show (`status text`, labels::Status); it is derived, so a
//! generated column or a view can hold it rather than a stored one.

use super::anomaly::Stats;
use super::labels::{EventKind, Method, Severity, Status};
use super::Micros;

/// One reading of a series, in its canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Source time, Unix µs.
    pub time: Micros,
    /// NaN when the reading carried no usable value.
    pub value: f64,
    /// 0 good, 1 uncertain, 2 bad (`telemetry.readings.source_quality`).
    pub source_quality: i16,
}

/// What the caller knows of the series' metric.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Context {
    pub valid_min: Option<f64>,
    pub valid_max: Option<f64>,
}

/// An escalation level that fell due: whom to notify, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub level: i16,
    pub target: String,
    pub method: Method,
}

/// One transition, a row of the alarm event table.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The reading's source time, or `now` of the tick or action.
    pub time: Micros,
    pub kind: EventKind,
    pub from: Status,
    pub to: Status,
    pub value: Option<f64>,
    pub severity: Option<Severity>,
    /// Who did it, for operator actions.
    pub actor: Option<String>,
    pub notify: Option<Notify>,
}

/// `Default` is normal, in service, nothing seen yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmState {
    /// The condition is active (after deadband, delays and the suppression window).
    pub condition: bool,
    /// Annunciated and not acknowledged since; always false outside service.
    pub unacknowledged: bool,
    /// The severity of the current or last condition.
    pub severity: Option<Severity>,
    /// When the condition last became active, or was annunciated on a return to service: the
    /// suppression window runs from here.
    pub raised_at: Option<Micros>,
    /// When the alarm became unacknowledged (raise or re-alarm): escalation delays run from here.
    pub unacked_at: Option<Micros>,
    /// When it was last acknowledged while active: the re-alarm delay runs from here.
    pub acked_at: Option<Micros>,
    /// The highest escalation level notified since `unacked_at`; 0 none.
    pub escalation_level: i16,
    pub shelved_until: Option<Micros>,
    pub suppressed: bool,
    pub out_of_service: bool,
    /// A transition (raise if the condition is inactive, clear if active) waiting for its delay.
    pub pending_since: Option<Micros>,
    pub pending_samples: i32,
    /// Readings at or before this time are late and ignored: the last reading evaluated, or a
    /// tick that changed the condition.
    pub last_time: Option<Micros>,
    /// The last finite value and its time (rate of change, stale).
    pub last_value: Option<f64>,
    pub last_value_at: Option<Micros>,
    /// Since when the value has stayed within epsilon of `flat_value` (flat-line rules).
    pub flat_since: Option<Micros>,
    pub flat_value: Option<f64>,
    /// Anomaly rules.
    pub stats: Stats,
}

impl AlarmState {
    /// The mode that keeps the alarm from being annunciated, if any; out of service wins over
    /// shelved, shelved over suppressed.
    pub fn mode(&self) -> Option<Status> {
        if self.out_of_service {
            Some(Status::OutOfService)
        } else if self.shelved_until.is_some() {
            Some(Status::Shelved)
        } else if self.suppressed {
            Some(Status::Suppressed)
        } else {
            None
        }
    }

    pub fn in_service(&self) -> bool {
        self.mode().is_none()
    }

    pub fn status(&self) -> Status {
        self.mode()
            .unwrap_or(match (self.condition, self.unacknowledged) {
                (false, false) => Status::Normal,
                (true, true) => Status::Unacknowledged,
                (true, false) => Status::Acknowledged,
                (false, true) => Status::ReturnedUnacknowledged,
            })
    }

    pub(crate) fn reset_pending(&mut self) {
        self.pending_since = None;
        self.pending_samples = 0;
    }

    /// The condition became active; annunciated only in service.
    pub(crate) fn raise(
        &mut self,
        at: Micros,
        value: Option<f64>,
        severity: Severity,
    ) -> Option<Event> {
        let from = self.status();
        self.condition = true;
        self.severity = Some(severity);
        self.raised_at = Some(at);
        self.reset_pending();
        self.in_service().then(|| self.annunciate(from, at, value))
    }

    /// Show the active condition as a new alarm: unacknowledged, escalation from the start.
    pub(crate) fn annunciate(&mut self, from: Status, at: Micros, value: Option<f64>) -> Event {
        self.unacknowledged = true;
        self.unacked_at = Some(at);
        self.acked_at = None;
        self.escalation_level = 0;
        self.raised_at = Some(at);
        self.event(at, EventKind::Raise, from, value, None)
    }

    /// The condition is gone; the clear is annunciated only in service.
    pub(crate) fn clear(&mut self, at: Micros, value: Option<f64>) -> Option<Event> {
        let from = self.status();
        self.condition = false;
        self.acked_at = None;
        self.reset_pending();
        self.in_service()
            .then(|| self.event(at, EventKind::Clear, from, value, None))
    }

    /// An event from `from` to the present status.
    pub(crate) fn event(
        &self,
        time: Micros,
        kind: EventKind,
        from: Status,
        value: Option<f64>,
        actor: Option<&str>,
    ) -> Event {
        Event {
            time,
            kind,
            from,
            to: self.status(),
            value,
            severity: self.severity,
            actor: actor.map(str::to_string),
            notify: None,
        }
    }

    /// Apply a change of mode and record it; leaving service puts the annunciation at rest,
    /// coming back annunciates an active condition.
    pub(crate) fn change_mode(
        &mut self,
        kind: EventKind,
        at: Micros,
        actor: Option<&str>,
        change: impl FnOnce(&mut AlarmState),
    ) -> Vec<Event> {
        let (from, was_in_service) = (self.status(), self.in_service());
        change(self);
        if !self.in_service() {
            self.unacknowledged = false;
            self.unacked_at = None;
            self.acked_at = None;
        }
        let mut event = self.event(at, kind, from, None, actor);
        if self.in_service() && !was_in_service && self.condition {
            // Back at normal first, then the active condition raises.
            event.to = Status::Normal;
            let raise = self.annunciate(Status::Normal, at, self.last_value);
            return vec![event, raise];
        }
        vec![event]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_normal_in_service() {
        let s = AlarmState::default();
        assert_eq!(s.status(), Status::Normal);
        assert!(s.in_service());
    }

    #[test]
    fn modes_take_precedence_in_order() {
        let s = AlarmState {
            condition: true,
            suppressed: true,
            shelved_until: Some(1),
            out_of_service: true,
            ..AlarmState::default()
        };
        assert_eq!(s.status(), Status::OutOfService);
        assert_eq!(
            AlarmState {
                out_of_service: false,
                ..s.clone()
            }
            .status(),
            Status::Shelved
        );
        assert_eq!(
            AlarmState {
                out_of_service: false,
                shelved_until: None,
                ..s
            }
            .status(),
            Status::Suppressed
        );
    }
}
