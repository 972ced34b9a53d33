//! Operator actions and suppression by design. Each returns the events it caused; an action
//! that makes no sense in the present state is refused with a typed error and changes nothing,
//! so the SQL side can tell the operator why.
//!
//! - Acknowledge: unacknowledged becomes acknowledged, returned-unacknowledged becomes normal.
//! - Shelve until a future time: the alarm leaves the operator's list; shelving a shelved alarm
//!   moves its expiry. `tick` unshelves it at the expiry.
//! - Unshelve, return to service, unsuppress: back in service at normal, and at once raised
//!   (unacknowledged, escalation from the start) if the condition is active then.
//! - Out of service ends a shelving (maintenance overrides it); a suppression by design stays
//!   whatever the operator does, since the caller's logic owns it.

use super::labels::{EventKind, Status};
use super::state::{AlarmState, Event};
use super::Micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Shelve {
        until: Micros,
    },
    Unshelve,
    /// `true` takes the alarm out of service, `false` returns it.
    OutOfService(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// Acknowledge when there is nothing unacknowledged (normal or acknowledged).
    NothingToAcknowledge(Status),
    /// Acknowledge, shelve while the alarm is not annunciated for this mode.
    NotInService(Status),
    ExpiryNotInFuture {
        until: Micros,
        now: Micros,
    },
    NotShelved(Status),
    AlreadyOutOfService,
    NotOutOfService(Status),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ActionError::*;
        match self {
            NothingToAcknowledge(s) => write!(f, "the alarm is {s}: nothing to acknowledge"),
            NotInService(s) => write!(f, "the alarm is {s}, not annunciated"),
            ExpiryNotInFuture { until, now } => write!(
                f,
                "a shelving must end in the future: {} is not after {}",
                crate::time::show(*until),
                crate::time::show(*now)
            ),
            NotShelved(s) => write!(f, "the alarm is {s}, not shelved"),
            AlreadyOutOfService => f.write_str("the alarm is already out of service"),
            NotOutOfService(s) => write!(f, "the alarm is {s}, not out of service"),
        }
    }
}

impl std::error::Error for ActionError {}

/// Apply an operator's action at `now`.
pub fn act(
    state: &mut AlarmState,
    action: Action,
    actor: &str,
    now: Micros,
) -> Result<Vec<Event>, ActionError> {
    let status = state.status();
    let actor = Some(actor);
    match action {
        Action::Acknowledge => acknowledge(state, actor, now),
        Action::Shelve { .. } if state.out_of_service => Err(ActionError::NotInService(status)),
        Action::Shelve { until } if until <= now => {
            Err(ActionError::ExpiryNotInFuture { until, now })
        }
        Action::Shelve { until } => Ok(state.change_mode(EventKind::Shelve, now, actor, |s| {
            s.shelved_until = Some(until)
        })),
        Action::Unshelve if state.shelved_until.is_none() => Err(ActionError::NotShelved(status)),
        Action::Unshelve => {
            Ok(state.change_mode(EventKind::Unshelve, now, actor, |s| s.shelved_until = None))
        }
        Action::OutOfService(true) if state.out_of_service => Err(ActionError::AlreadyOutOfService),
        Action::OutOfService(true) => {
            Ok(state.change_mode(EventKind::OutOfService, now, actor, |s| {
                s.out_of_service = true;
                s.shelved_until = None;
            }))
        }
        Action::OutOfService(false) if !state.out_of_service => {
            Err(ActionError::NotOutOfService(status))
        }
        Action::OutOfService(false) => Ok(state.change_mode(
            EventKind::ReturnToService,
            now,
            actor,
            |s| s.out_of_service = false,
        )),
    }
}

fn acknowledge(
    state: &mut AlarmState,
    actor: Option<&str>,
    now: Micros,
) -> Result<Vec<Event>, ActionError> {
    let from = state.status();
    if !state.in_service() {
        return Err(ActionError::NotInService(from));
    }
    if !state.unacknowledged {
        return Err(ActionError::NothingToAcknowledge(from));
    }
    state.unacknowledged = false;
    state.unacked_at = None;
    state.acked_at = state.condition.then_some(now);
    Ok(vec![state.event(
        now,
        EventKind::Acknowledge,
        from,
        None,
        actor,
    )])
}

/// The caller's suppression logic says a suppressing alarm is (in)active. Saying again what is
/// already so records nothing.
pub fn set_suppressed(state: &mut AlarmState, suppressed: bool, now: Micros) -> Vec<Event> {
    if state.suppressed == suppressed {
        return Vec::new();
    }
    let kind = if suppressed {
        EventKind::Suppress
    } else {
        EventKind::Unsuppress
    };
    state.change_mode(kind, now, None, |s| s.suppressed = suppressed)
}
