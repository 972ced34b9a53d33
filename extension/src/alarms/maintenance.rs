//! Alarm maintenance, part of `telemetry.run_maintenance()`: what the passing of time
//! decides, for every alarm state that time can change: stale and flat-line conditions, delays
//! by duration, clears the suppression window deferred, shelving expiry, re-alarm, escalation levels falling due, and suppression
//! by design brought in line. States another session holds are skipped (SKIP LOCKED) and done
//! by the next run; a run at the same time twice finds nothing left to do.

use pgrx::spi::SpiClient;

use telemetry_core::alarms::{escalate, tick, EscalationLevel, Method, Severity};

use crate::alarms::states::{self, Key};
use crate::alarms::suppression;
use crate::registry;
use crate::time::transaction_start;

fn levels(client: &SpiClient<'_>) -> Result<Vec<EscalationLevel>, pgrx::spi::Error> {
    client
        .select(
            "SELECT severity, level, (extract(epoch FROM delay) * 1000000)::pg_catalog.int8, target, method
               FROM telemetry.escalation_levels",
            None,
            &[],
        )?
        .filter_map(|row| {
            let level = || -> Result<Option<EscalationLevel>, pgrx::spi::Error> {
                let severity = row.get::<String>(1)?.as_deref().and_then(Severity::parse);
                let method = row.get::<String>(5)?.as_deref().and_then(Method::parse);
                Ok(severity.zip(method).map(|(severity, method)| EscalationLevel {
                    severity,
                    level: row.get::<i16>(2).ok().flatten().unwrap_or(1),
                    delay: row.get::<i64>(3).ok().flatten().unwrap_or(0),
                    target: row.get::<String>(4).ok().flatten().unwrap_or_default(),
                    method,
                }))
            };
            level().transpose()
        })
        .collect()
}

/// Tick every state time can change; returns (states looked at, events recorded).
pub fn run(client: &mut SpiClient<'_>) -> Result<(i64, i64), pgrx::spi::Error> {
    let reg = registry::get();
    let now = transaction_start();
    let keys: Vec<Key> = client
        .update(
            "SELECT st.rule_id, st.series_id FROM telemetry.alarm_states st
               JOIN telemetry.alarm_rules r USING (rule_id)
              WHERE r.kind IN ('stale', 'flat_line') OR st.status <> 'normal' OR st.condition_active
                 OR st.pending_since IS NOT NULL OR st.shelved_until IS NOT NULL
              ORDER BY 1, 2 FOR UPDATE OF st SKIP LOCKED",
            None,
            &[],
        )?
        .map(|row| {
            Ok((
                row.get::<i64>(1)?.unwrap_or_default(),
                row.get::<i32>(2)?.unwrap_or_default(),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()?;
    let levels = levels(client)?;
    let mut locked = states::lock(client, &keys)?;
    let mut events = Vec::new();
    let mut changed = Vec::new();
    for key in &keys {
        let (Some(w), Some(state)) = (reg.alarms.by_id(key.0), locked.get_mut(key)) else {
            continue;
        };
        let before = state.clone();
        let mut e = tick(&w.rule, state, now);
        e.extend(escalate(state, &levels, now));
        events.extend(e.into_iter().map(|e| (*key, e)));
        if *state != before {
            changed.push(*key);
        }
    }
    let mut recorded = states::write_back(client, &locked, &changed, &events)?;
    recorded += suppression::refresh(client, &reg, None)?;
    Ok((keys.len() as i64, recorded as i64))
}
