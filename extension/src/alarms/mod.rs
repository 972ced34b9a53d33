//! Alarms in SQL: the rules' cache and check ([`rules`]), the states and events ([`states`]),
//! suppression by design ([`suppression`]), the operator's actions (here), the maintenance run
//! ([`maintenance`]) and the ISA-18.2 performance figures ([`performance`]). The state machine
//! is `telemetry_core::alarms`; the pipeline evaluates rules in `crate::ingest::alarms`.

pub mod maintenance;
pub mod performance;
pub mod rules;
pub mod states;
pub mod suppression;
pub mod trigger;

use pgrx::prelude::*;

use telemetry_core::alarms::{act, Action, ActionError};

use crate::errors::{raise, Class};
use crate::time::{transaction_start, unix_micros};

/// Apply an operator's action to one alarm and record it; returns the alarm's status after.
fn operate(rule_id: i64, series_id: i32, action: Action, note: Option<&str>) -> String {
    let actor = Spi::get_one::<String>("SELECT session_user::pg_catalog.text")
        .ok()
        .flatten()
        .unwrap_or_default();
    let result = Spi::connect_mut(
        |client| -> Result<Result<String, ActionError>, pgrx::spi::Error> {
            let exists = client
                .select(
                    "SELECT 1 FROM telemetry.alarm_states WHERE rule_id = $1 AND series_id = $2",
                    None,
                    &[rule_id.into(), series_id.into()],
                )?
                .len();
            if exists == 0 {
                raise(
                Class::InvalidParameter,
                format!("rule {rule_id} has no alarm on series {series_id}"),
                Some("telemetry.active_alarms lists the alarms with their rule_id and series_id."),
            );
            }
            let mut locked = states::lock(client, &[(rule_id, series_id)])?;
            let Some(state) = locked.get_mut(&(rule_id, series_id)) else {
                return Ok(Ok(String::new()));
            };
            match act(state, action, &actor, transaction_start()) {
                Err(e) => Ok(Err(e)),
                Ok(events) => {
                    let status = state.status().name().to_string();
                    states::save(client, &[((rule_id, series_id), &*state)])?;
                    let events: Vec<_> = events
                        .into_iter()
                        .map(|e| ((rule_id, series_id), e))
                        .collect();
                    states::record(client, &events, note)?;
                    Ok(Ok(status))
                }
            }
        },
    );
    match result {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => raise(
            Class::NotInPrerequisiteState,
            format!("rule {rule_id} on series {series_id}: {e}"),
            None,
        ),
        Err(e) => crate::errors::internal(format!("cannot change the alarm: {e}")),
    }
}

/// Acknowledge an alarm; returns its status after (acknowledged, or normal if it had cleared).
#[pg_extern(volatile, parallel_unsafe)]
fn acknowledge(rule_id: i64, series_id: i32, note: default!(Option<&str>, "NULL")) -> String {
    operate(rule_id, series_id, Action::Acknowledge, note)
}

/// Shelve an alarm until a time: it is not annunciated, and returns by itself then.
#[pg_extern(volatile, parallel_unsafe)]
fn shelve(
    rule_id: i64,
    series_id: i32,
    until: TimestampWithTimeZone,
    note: default!(Option<&str>, "NULL"),
) -> String {
    let until = unix_micros(until, "until");
    operate(rule_id, series_id, Action::Shelve { until }, note)
}

/// End a shelving before its expiry.
#[pg_extern(volatile, parallel_unsafe)]
fn unshelve(rule_id: i64, series_id: i32, note: default!(Option<&str>, "NULL")) -> String {
    operate(rule_id, series_id, Action::Unshelve, note)
}

/// Take an alarm out of service (`out_of_service => true`) or return it.
#[pg_extern(volatile, parallel_unsafe)]
fn set_out_of_service(
    rule_id: i64,
    series_id: i32,
    out_of_service: default!(bool, true),
    note: default!(Option<&str>, "NULL"),
) -> String {
    operate(
        rule_id,
        series_id,
        Action::OutOfService(out_of_service),
        note,
    )
}
