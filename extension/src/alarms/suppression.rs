//! Suppression by design: while a rule that names kinds in `suppresses` is active on a series,
//! the rules of those kinds are suppressed on every series of its site (a site's communication
//! loss suppresses its stale alarms), and unsuppressed once no such rule is active there.
//! Applied right after the events that change it, to the states no other session holds; the
//! maintenance run brings the rest in line.

use pgrx::spi::SpiClient;
use std::collections::{HashMap, HashSet};

use telemetry_core::alarms::{set_suppressed, Event, EventKind, KindName};

use crate::alarms::states::{self, Key};
use crate::registry::Registry;
use crate::time::transaction_start;

/// Per site, the kinds suppressed there now.
pub fn active(
    client: &SpiClient<'_>,
    reg: &Registry,
) -> Result<HashMap<String, HashSet<KindName>>, pgrx::spi::Error> {
    let mut out: HashMap<String, HashSet<KindName>> = HashMap::new();
    if !reg.alarms.rules.iter().any(|w| !w.suppresses.is_empty()) {
        return Ok(out);
    }
    for row in client.select(
        "SELECT s.site_id, st.rule_id FROM telemetry.alarm_states st
           JOIN telemetry.alarm_rules r ON r.rule_id = st.rule_id JOIN telemetry.series s ON s.series_id = st.series_id
          WHERE st.condition_active AND r.suppresses IS NOT NULL",
        None,
        &[],
    )? {
        let (Some(site), Some(rule)) = (row.get::<String>(1)?, row.get::<i64>(2)?) else {
            continue;
        };
        if let Some(w) = reg.alarms.by_id(rule) {
            out.entry(site)
                .or_default()
                .extend(w.suppresses.iter().copied());
        }
    }
    Ok(out)
}

/// Bring the suppression of the sites in `sites` (every site when None) in line with what is
/// active there, unsuppressing what no rule suppresses any more; returns the events recorded.
pub fn refresh(
    client: &mut SpiClient<'_>,
    reg: &Registry,
    sites: Option<Vec<String>>,
) -> Result<usize, pgrx::spi::Error> {
    let kinds: HashSet<KindName> = reg
        .alarms
        .rules
        .iter()
        .flat_map(|w| w.suppresses.iter().copied())
        .collect();
    let active = active(client, reg)?;
    let names: Vec<String> = kinds.iter().map(|k| k.name().to_string()).collect();
    // SKIP LOCKED: a state another session holds is left to the next maintenance run, rather
    // than waited for in an order that could deadlock with it.
    let candidates: Vec<(Key, String)> = client
        .update(
            "SELECT st.rule_id, st.series_id, s.site_id FROM telemetry.alarm_states st
               JOIN telemetry.alarm_rules r ON r.rule_id = st.rule_id JOIN telemetry.series s ON s.series_id = st.series_id
              WHERE (r.kind = ANY($1) OR st.suppressed) AND ($2::pg_catalog.text[] IS NULL OR s.site_id = ANY($2))
              ORDER BY 1, 2 FOR UPDATE OF st SKIP LOCKED",
            None,
            &[names.into(), sites.into()],
        )?
        .map(|row| {
            Ok((
                (row.get::<i64>(1)?.unwrap_or_default(), row.get::<i32>(2)?.unwrap_or_default()),
                row.get::<String>(3)?.unwrap_or_default(),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()?;
    let keys: Vec<Key> = candidates.iter().map(|(k, _)| *k).collect();
    let mut locked = states::lock(client, &keys)?;
    let now = transaction_start();
    let mut events = Vec::new();
    let mut changed = Vec::new();
    for (key, site) in &candidates {
        let (Some(w), Some(state)) = (reg.alarms.by_id(key.0), locked.get_mut(key)) else {
            continue;
        };
        let want = active
            .get(site)
            .is_some_and(|k| k.contains(&w.rule.kind.name()));
        let e = set_suppressed(state, want, now);
        if !e.is_empty() {
            changed.push(*key);
            events.extend(e.into_iter().map(|e| (*key, e)));
        }
    }
    states::write_back(client, &locked, &changed, &events)
}

/// After a batch's events: refresh the sites where a suppressing rule raised or cleared.
pub fn apply(
    client: &mut SpiClient<'_>,
    reg: &Registry,
    events: &[(Key, Event)],
) -> Result<usize, pgrx::spi::Error> {
    let rules: HashSet<i64> = events
        .iter()
        .filter(|(_, e)| matches!(e.kind, EventKind::Raise | EventKind::Clear))
        .filter(|(k, _)| {
            reg.alarms
                .by_id(k.0)
                .is_some_and(|w| !w.suppresses.is_empty())
        })
        .map(|(k, _)| k.0)
        .collect();
    if rules.is_empty() {
        return Ok(0);
    }
    let series: Vec<i32> = events
        .iter()
        .filter(|(k, _)| rules.contains(&k.0))
        .map(|(k, _)| k.1)
        .collect();
    let sites: Vec<String> = client
        .select(
            "SELECT DISTINCT site_id FROM telemetry.series WHERE series_id = ANY($1)",
            None,
            &[series.into()],
        )?
        .filter_map(|row| row.get::<String>(1).ok().flatten())
        .collect();
    refresh(client, reg, Some(sites))
}
