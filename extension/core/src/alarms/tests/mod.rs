//! Behaviour tests of alarm evaluation, one edge each, on a timeline in seconds from `T0`.

mod kinds;
mod limits;
mod operator;
mod rules;

use super::labels::EventKind;
use super::{on_reading, tick, AlarmState, Context, Event, Kind, Rule, Sample, Severity};

/// 2025-06-01 12:00:00 UTC.
pub(super) const T0: i64 = 1_748_779_200_000_000;
pub(super) const SECOND: i64 = 1_000_000;

pub(super) fn at(seconds: i64) -> i64 {
    T0 + seconds * SECOND
}

pub(super) fn good(seconds: i64, value: f64) -> Sample {
    Sample {
        time: at(seconds),
        value,
        source_quality: 0,
    }
}

/// A high alarm at 100 with no suppression window, so each test adds only what it examines.
pub(super) fn high(limit: f64) -> Rule {
    Rule {
        suppression_window: 0,
        ..Rule::new(1, Kind::High { limit }, Severity::High)
    }
}

pub(super) fn range() -> Context {
    Context {
        valid_min: Some(0.0),
        valid_max: Some(200.0),
    }
}

/// Good readings at (second, value), in the order given.
pub(super) fn feed(rule: &Rule, state: &mut AlarmState, readings: &[(i64, f64)]) -> Vec<Event> {
    readings
        .iter()
        .flat_map(|&(t, v)| on_reading(rule, state, good(t, v), &range()))
        .collect()
}

pub(super) fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

pub(super) fn tick_at(rule: &Rule, state: &mut AlarmState, seconds: i64) -> Vec<Event> {
    tick(rule, state, at(seconds))
}

/// An active, unacknowledged high alarm raised at second 0 with value 150.
pub(super) fn raised(rule: &Rule) -> AlarmState {
    let mut s = AlarmState::default();
    let events = feed(rule, &mut s, &[(0, 150.0)]);
    assert_eq!(kinds(&events), [EventKind::Raise]);
    s
}
