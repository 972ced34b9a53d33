//! Escalation, seed 004 section 6.3: while an alarm stays unacknowledged, levels of its
//! severity fall due one after another (delay since it became unacknowledged, whom to notify,
//! how). Acknowledging, clearing or leaving service stops it; a new raise or a re-alarm starts
//! it again from level 1. The level reached is kept in the state, so no level is sent twice.

use super::labels::{EventKind, Method, Severity, Status};
use super::state::{AlarmState, Event, Notify};
use super::Micros;

/// One row of an escalation table.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationLevel {
    pub severity: Severity,
    /// 1, 2, ...: the order of the levels of one severity.
    pub level: i16,
    /// Since the alarm became unacknowledged; 0 is at once (on the next call).
    pub delay: Micros,
    pub target: String,
    pub method: Method,
}

/// The levels due at `now`, lowest first, each an event; the state remembers the last.
pub fn escalate(state: &mut AlarmState, levels: &[EscalationLevel], now: Micros) -> Vec<Event> {
    let (Some(since), Some(severity)) = (state.unacked_at, state.severity) else {
        return Vec::new();
    };
    if state.status() != Status::Unacknowledged {
        return Vec::new();
    }
    let mut due: Vec<&EscalationLevel> = levels
        .iter()
        .filter(|l| l.severity == severity && l.level > state.escalation_level)
        .filter(|l| now.saturating_sub(since) >= l.delay)
        .collect();
    due.sort_by_key(|l| l.level);
    due.into_iter()
        .map(|l| {
            state.escalation_level = l.level;
            let mut e = state.event(
                now,
                EventKind::Escalate,
                Status::Unacknowledged,
                state.last_value,
                None,
            );
            e.notify = Some(Notify {
                level: l.level,
                target: l.target.clone(),
                method: l.method,
            });
            e
        })
        .collect()
}

/// Levels must be numbered from 1, once each per severity, with delays that do not shrink as
/// the level rises (a later level due first would hide the earlier one forever).
pub fn validate_levels(levels: &[EscalationLevel]) -> Result<(), LevelError> {
    for l in levels {
        if l.level < 1 {
            return Err(LevelError::Number(l.level));
        }
        if l.delay < 0 {
            return Err(LevelError::NegativeDelay(l.level));
        }
        if l.target.trim().is_empty() {
            return Err(LevelError::NoTarget(l.level));
        }
        for m in levels.iter().filter(|m| m.severity == l.severity) {
            if std::ptr::eq(l, m) {
                continue;
            }
            if m.level == l.level {
                return Err(LevelError::Twice(l.severity, l.level));
            }
            if m.level > l.level && m.delay < l.delay {
                return Err(LevelError::Order(l.severity, m.level, l.level));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelError {
    Number(i16),
    NegativeDelay(i16),
    NoTarget(i16),
    Twice(Severity, i16),
    /// (severity, higher level, lower level).
    Order(Severity, i16, i16),
}

impl std::fmt::Display for LevelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LevelError::Number(n) => write!(f, "escalation level {n}: levels are numbered from 1"),
            LevelError::NegativeDelay(n) => write!(f, "escalation level {n}: the delay must not be negative"),
            LevelError::NoTarget(n) => write!(f, "escalation level {n}: no one to notify"),
            LevelError::Twice(s, n) => write!(f, "escalation level {n} is given twice for {s}"),
            LevelError::Order(s, hi, lo) => write!(f, "{s} escalation level {hi} comes before level {lo}: delays must not shrink as levels rise"),
        }
    }
}

impl std::error::Error for LevelError {}
