//! Acknowledgement, shelving, suppression by design, out of service, re-alarm, escalation,
//! and the idempotence of `tick`.

use super::*;
use crate::alarms::labels::{Method, Status};
use crate::alarms::{act, escalate, set_suppressed, Action, ActionError, EscalationLevel};
use EventKind::*;

const OPERATOR: &str = "operator@site";

fn ack(s: &mut AlarmState, seconds: i64) -> Result<Vec<Event>, ActionError> {
    act(s, Action::Acknowledge, OPERATOR, at(seconds))
}

fn transitions(events: &[Event]) -> Vec<(EventKind, Status, Status)> {
    events.iter().map(|e| (e.kind, e.from, e.to)).collect()
}

#[test]
fn acknowledge_then_clear() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    let e = ack(&mut s, 5).expect("an unacknowledged alarm can be acknowledged");
    assert_eq!(
        transitions(&e),
        [(Acknowledge, Status::Unacknowledged, Status::Acknowledged)]
    );
    assert_eq!((e[0].actor.as_deref(), e[0].time), (Some(OPERATOR), at(5)));
    let e = feed(&rule, &mut s, &[(10, 50.0)]);
    assert_eq!(
        transitions(&e),
        [(Clear, Status::Acknowledged, Status::Normal)]
    );
    assert_eq!(
        ack(&mut s, 11),
        Err(ActionError::NothingToAcknowledge(Status::Normal))
    );
}

#[test]
fn clear_then_acknowledge() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    let e = feed(&rule, &mut s, &[(10, 50.0)]);
    assert_eq!(
        transitions(&e),
        [(
            Clear,
            Status::Unacknowledged,
            Status::ReturnedUnacknowledged
        )]
    );
    let e = ack(&mut s, 20).expect("a returned alarm can be acknowledged");
    assert_eq!(
        transitions(&e),
        [(Acknowledge, Status::ReturnedUnacknowledged, Status::Normal)]
    );
    assert_eq!(
        s,
        AlarmState {
            severity: s.severity,
            raised_at: s.raised_at,
            ..fresh_after(&s)
        }
    );
}

/// The tracking fields kept after an alarm has come back to normal.
fn fresh_after(s: &AlarmState) -> AlarmState {
    AlarmState {
        last_time: s.last_time,
        last_value: s.last_value,
        last_value_at: s.last_value_at,
        ..AlarmState::default()
    }
}

#[test]
fn acknowledging_twice_is_refused() {
    let mut s = raised(&high(100.0));
    ack(&mut s, 1).expect("first acknowledgement");
    assert_eq!(
        ack(&mut s, 2),
        Err(ActionError::NothingToAcknowledge(Status::Acknowledged))
    );
    let message = ActionError::NothingToAcknowledge(Status::Normal).to_string();
    assert_eq!(message, "the alarm is normal: nothing to acknowledge");
}

#[test]
fn shelving_hides_the_alarm_until_its_expiry_on_tick() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    let e = act(&mut s, Action::Shelve { until: at(600) }, OPERATOR, at(10)).expect("shelve");
    assert_eq!(
        transitions(&e),
        [(Shelve, Status::Unacknowledged, Status::Shelved)]
    );
    // Cleared and raised again while shelved: tracked, not annunciated.
    assert!(feed(&rule, &mut s, &[(20, 50.0), (30, 150.0)]).is_empty());
    assert!(s.condition);
    assert_eq!(
        ack(&mut s, 40),
        Err(ActionError::NotInService(Status::Shelved))
    );
    assert!(tick_at(&rule, &mut s, 599).is_empty());
    let e = tick_at(&rule, &mut s, 600);
    assert_eq!(
        transitions(&e),
        [
            (Unshelve, Status::Shelved, Status::Normal),
            (Raise, Status::Normal, Status::Unacknowledged)
        ]
    );
    assert_eq!((e[0].actor.as_deref(), e[1].value), (None, Some(150.0)));
    assert!(tick_at(&rule, &mut s, 600).is_empty());
}

#[test]
fn unshelving_with_the_condition_gone_returns_to_normal() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    act(&mut s, Action::Shelve { until: at(600) }, OPERATOR, at(10)).expect("shelve");
    feed(&rule, &mut s, &[(20, 50.0)]);
    let e = act(&mut s, Action::Unshelve, OPERATOR, at(30)).expect("unshelve");
    assert_eq!(
        transitions(&e),
        [(Unshelve, Status::Shelved, Status::Normal)]
    );
    assert_eq!(e[0].actor.as_deref(), Some(OPERATOR));
}

#[test]
fn shelving_errors() {
    let mut s = AlarmState::default();
    assert_eq!(
        act(&mut s, Action::Shelve { until: at(5) }, OPERATOR, at(5)),
        Err(ActionError::ExpiryNotInFuture {
            until: at(5),
            now: at(5)
        })
    );
    assert_eq!(
        act(&mut s, Action::Unshelve, OPERATOR, at(5)),
        Err(ActionError::NotShelved(Status::Normal))
    );
    act(&mut s, Action::OutOfService(true), OPERATOR, at(5)).expect("out of service");
    assert_eq!(
        act(&mut s, Action::Shelve { until: at(50) }, OPERATOR, at(6)),
        Err(ActionError::NotInService(Status::OutOfService))
    );
    assert_eq!(s.shelved_until, None);
    // Shelving again moves the expiry.
    let mut s = AlarmState::default();
    act(&mut s, Action::Shelve { until: at(50) }, OPERATOR, at(0)).expect("shelve");
    let e = act(&mut s, Action::Shelve { until: at(90) }, OPERATOR, at(1)).expect("reshelve");
    assert_eq!(
        transitions(&e),
        [(Shelve, Status::Shelved, Status::Shelved)]
    );
    assert_eq!(s.shelved_until, Some(at(90)));
}

#[test]
fn suppression_by_design_while_active() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    let e = set_suppressed(&mut s, true, at(5));
    assert_eq!(
        transitions(&e),
        [(Suppress, Status::Unacknowledged, Status::Suppressed)]
    );
    assert!(set_suppressed(&mut s, true, at(6)).is_empty());
    let e = set_suppressed(&mut s, false, at(7));
    assert_eq!(
        transitions(&e),
        [
            (Unsuppress, Status::Suppressed, Status::Normal),
            (Raise, Status::Normal, Status::Unacknowledged)
        ]
    );
    // Suppressed again and the condition gone meanwhile: back to normal, nothing raised.
    set_suppressed(&mut s, true, at(8));
    feed(&rule, &mut s, &[(9, 50.0)]);
    let e = set_suppressed(&mut s, false, at(10));
    assert_eq!(
        transitions(&e),
        [(Unsuppress, Status::Suppressed, Status::Normal)]
    );
}

#[test]
fn out_of_service_and_back() {
    let rule = high(100.0);
    let mut s = raised(&rule);
    act(&mut s, Action::Shelve { until: at(600) }, OPERATOR, at(1)).expect("shelve");
    let e = act(&mut s, Action::OutOfService(true), OPERATOR, at(2)).expect("out of service");
    assert_eq!(
        transitions(&e),
        [(OutOfService, Status::Shelved, Status::OutOfService)]
    );
    assert_eq!(
        act(&mut s, Action::OutOfService(true), OPERATOR, at(3)),
        Err(ActionError::AlreadyOutOfService)
    );
    assert!(feed(&rule, &mut s, &[(4, 50.0), (5, 160.0)]).is_empty());
    let e = act(&mut s, Action::OutOfService(false), OPERATOR, at(6)).expect("return");
    assert_eq!(
        transitions(&e),
        [
            (ReturnToService, Status::OutOfService, Status::Normal),
            (Raise, Status::Normal, Status::Unacknowledged)
        ]
    );
    assert_eq!(e[1].value, Some(160.0));
    assert_eq!(
        act(&mut s, Action::OutOfService(false), OPERATOR, at(7)),
        Err(ActionError::NotOutOfService(Status::Unacknowledged))
    );
}

#[test]
fn the_suppression_window_restarts_on_a_return_to_service() {
    let rule = Rule {
        suppression_window: 60 * SECOND,
        ..high(100.0)
    };
    let mut s = raised(&rule);
    set_suppressed(&mut s, true, at(1));
    set_suppressed(&mut s, false, at(50));
    assert!(feed(&rule, &mut s, &[(70, 50.0)]).is_empty());
    assert_eq!(kinds(&feed(&rule, &mut s, &[(110, 50.0)])), [Clear]);
}

#[test]
fn realarm_after_time_acknowledged() {
    let rule = Rule {
        realarm_after: Some(600 * SECOND),
        ..high(100.0)
    };
    let mut s = raised(&rule);
    ack(&mut s, 100).expect("acknowledge");
    assert!(tick_at(&rule, &mut s, 699).is_empty());
    let e = tick_at(&rule, &mut s, 700);
    assert_eq!(
        transitions(&e),
        [(Realarm, Status::Acknowledged, Status::Unacknowledged)]
    );
    assert!(tick_at(&rule, &mut s, 700).is_empty());
    // Acknowledged again, it re-alarms again, from the new acknowledgement.
    ack(&mut s, 800).expect("acknowledge");
    assert!(tick_at(&rule, &mut s, 1399).is_empty());
    assert_eq!(kinds(&tick_at(&rule, &mut s, 1400)), [Realarm]);
    // No re-alarm of a cleared alarm.
    ack(&mut s, 1401).expect("acknowledge");
    feed(&rule, &mut s, &[(1402, 50.0)]);
    assert!(tick_at(&rule, &mut s, 9999).is_empty());
}

fn levels() -> Vec<EscalationLevel> {
    let level = |level: i16, minutes: i64, target: &str, method| EscalationLevel {
        severity: Severity::High,
        level,
        delay: minutes * 60 * SECOND,
        target: target.into(),
        method,
    };
    vec![
        level(1, 0, "operator@example.com", Method::Email),
        level(2, 5, "supervisor@example.com", Method::Email),
        level(3, 15, "+1234567890", Method::Sms),
        EscalationLevel {
            severity: Severity::Critical,
            ..level(1, 0, "+1234567890", Method::Phone)
        },
    ]
}

#[test]
fn escalation_levels_fall_due_once_each_and_stop_after_acknowledge() {
    let mut s = raised(&high(100.0));
    let l = levels();
    let e = escalate(&mut s, &l, at(0));
    let notified: Vec<_> = e
        .iter()
        .filter_map(|e| e.notify.as_ref())
        .map(|n| (n.level, n.method))
        .collect();
    assert_eq!(notified, [(1, Method::Email)]);
    assert_eq!(
        transitions(&e),
        [(Escalate, Status::Unacknowledged, Status::Unacknowledged)]
    );
    assert!(escalate(&mut s, &l, at(299)).is_empty());
    // A late call sends every level due since, in order, once.
    let e = escalate(&mut s, &l, at(20 * 60));
    let due: Vec<i16> = e
        .iter()
        .filter_map(|e| e.notify.as_ref())
        .map(|n| n.level)
        .collect();
    assert_eq!(due, [2, 3]);
    assert!(escalate(&mut s, &l, at(20 * 60)).is_empty());

    let mut s = raised(&high(100.0));
    escalate(&mut s, &l, at(0));
    ack(&mut s, 60).expect("acknowledge");
    assert!(escalate(&mut s, &l, at(3600)).is_empty());
}

#[test]
fn a_new_raise_escalates_from_the_start() {
    let rule = high(100.0);
    let l = levels();
    let mut s = raised(&rule);
    escalate(&mut s, &l, at(600));
    assert_eq!(s.escalation_level, 2);
    feed(&rule, &mut s, &[(700, 50.0)]);
    assert!(
        escalate(&mut s, &l, at(2000)).is_empty(),
        "a returned alarm does not escalate"
    );
    feed(&rule, &mut s, &[(2000, 150.0)]);
    let due: Vec<i16> = escalate(&mut s, &l, at(2000))
        .iter()
        .filter_map(|e| e.notify.as_ref())
        .map(|n| n.level)
        .collect();
    assert_eq!(due, [1]);
}

#[test]
fn tick_is_idempotent_at_a_given_now() {
    let rule = Rule {
        realarm_after: Some(60 * SECOND),
        ..high(100.0)
    };
    let mut s = raised(&rule);
    act(&mut s, Action::Shelve { until: at(50) }, OPERATOR, at(2)).expect("shelve");
    feed(&rule, &mut s, &[(10, 50.0), (20, 150.0)]);
    let mut seen = Vec::new();
    let mut twice = |s: &mut AlarmState, now: i64| {
        seen.extend(kinds(&tick_at(&rule, s, now)));
        let snapshot = s.clone();
        assert!(tick_at(&rule, s, now).is_empty(), "second tick at {now}");
        assert_eq!(*s, snapshot);
    };
    twice(&mut s, 30);
    twice(&mut s, 50);
    ack(&mut s, 60).expect("acknowledge");
    twice(&mut s, 120);
    twice(&mut s, 121);
    assert_eq!(seen, [Unshelve, Raise, Realarm]);

    let stale = Rule {
        suppression_window: 0,
        ..Rule::new(2, Kind::Stale { after: 10 * SECOND }, Severity::Low)
    };
    let mut s = AlarmState::default();
    feed(&stale, &mut s, &[(0, 1.0)]);
    let first = tick_at(&stale, &mut s, 10);
    assert_eq!(kinds(&first), [Raise]);
    assert!(tick_at(&stale, &mut s, 10).is_empty());
}
