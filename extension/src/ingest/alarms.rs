//! Evaluate the alarm rules on the readings a batch stored, after the store stage and in its
//! transaction, per (rule, series) in source-time order.
//!
//! Most readings of a healthy plant change no alarm, so what is stored is only what must be:
//! a (rule, series) gets a state row at its first transition, and a rule that judges each
//! value on its own (limits, bad quality) keeps nothing between transitions. States with a row
//! are locked before they are judged, so two sessions never raise or clear the same alarm
//! twice; a state first created by this batch that another session created meanwhile is read,
//! locked, and judged again. Readings at or before the last time stored for a state (late
//! ones, and the repeats of stored ones) neither raise nor clear. A batch without rules costs
//! nothing here.

use pgrx::spi::SpiClient;
use rustc_hash::{FxHashMap, FxHashSet};

use telemetry_core::alarms::{
    on_readings, set_suppressed, AlarmState, Context, Event, Kind, Sample,
};
use telemetry_core::batch::{Clean, SeriesKey};

use crate::alarms::rules::Watched;
use crate::alarms::states::{self, Key};
use crate::alarms::suppression;
use crate::registry::Registry;
use crate::time::transaction_start;

/// Whether a change must be stored. Rules that judge a value against its predecessors (rate,
/// stale, flat-line, anomaly) need the last value and time; the others only their transitions.
fn material(kind: &Kind, before: &AlarmState, after: &AlarmState) -> bool {
    if after == before {
        return false;
    }
    if matches!(
        kind,
        Kind::RateOfChange { .. }
            | Kind::Stale { .. }
            | Kind::FlatLine { .. }
            | Kind::Anomaly { .. }
    ) {
        return true;
    }
    let mut same = after.clone();
    (same.last_time, same.last_value, same.last_value_at) =
        (before.last_time, before.last_value, before.last_value_at);
    same != *before
}

/// What a batch asks of the alarms: samples per (rule, series), and each series' key.
struct Work<'c> {
    samples: FxHashMap<Key, Vec<Sample>>,
    key_of: FxHashMap<i32, &'c SeriesKey>,
}

fn work<'c>(
    reg: &Registry,
    cleaned: &'c [Clean],
    series: &[Option<i32>],
    rows: &[usize],
) -> Work<'c> {
    let mut w = Work {
        samples: FxHashMap::default(),
        key_of: FxHashMap::default(),
    };
    for &i in rows {
        let Some(id) = series[i] else { continue };
        let c = &cleaned[i];
        for &r in reg.alarms.watching(id, &c.key).iter() {
            w.samples
                .entry((reg.alarms.rules[r].rule.id, id))
                .or_default()
                .push(Sample {
                    time: c.time,
                    value: c.value,
                    source_quality: c.source_quality,
                });
        }
        w.key_of.insert(id, &c.key);
    }
    w
}

/// Judge one state; returns its events.
fn judge(
    reg: &Registry,
    watched: &Watched,
    series_key: Option<&&SeriesKey>,
    state: &mut AlarmState,
    samples: &[Sample],
    suppressed_here: bool,
) -> Vec<Event> {
    let metric = series_key.and_then(|k| reg.metrics.rule(&k.3));
    let ctx = Context {
        valid_min: metric.and_then(|m| m.valid_min),
        valid_max: metric.and_then(|m| m.valid_max),
    };
    let mut events = Vec::new();
    // A rule suppressed by design on a site is suppressed on a series it first sees there too.
    if suppressed_here && !state.suppressed {
        events.extend(set_suppressed(state, true, transaction_start()));
    }
    events.extend(on_readings(&watched.rule, state, samples, &ctx));
    events
}

/// Returns how many events were recorded.
pub fn evaluate(
    client: &mut SpiClient<'_>,
    reg: &Registry,
    cleaned: &[Clean],
    series: &[Option<i32>],
    rows: &[usize],
) -> Result<usize, pgrx::spi::Error> {
    if reg.alarms.is_empty() {
        return Ok(0);
    }
    let w = work(reg, cleaned, series, rows);
    if w.samples.is_empty() {
        return Ok(0);
    }
    let mut keys: Vec<Key> = w.samples.keys().copied().collect();
    keys.sort_unstable();
    let mut stored = states::lock(client, &states::existing(client, &keys)?)?;
    // What holds a row is what the lock read, not what this session believed: a row deleted
    // meanwhile (its rule dropped) is created again, like a first transition.
    let had_row: FxHashSet<Key> = stored.keys().copied().collect();
    let suppressed = suppression::active(client, reg)?;
    let judged = |key: &Key, state: &mut AlarmState| -> Option<Vec<Event>> {
        let watched = reg.alarms.by_id(key.0)?;
        let series_key = w.key_of.get(&key.1);
        let here = series_key
            .and_then(|k| suppressed.get(&*k.0))
            .is_some_and(|kinds| kinds.contains(&watched.rule.kind.name()));
        let before = state.clone();
        let events = judge(reg, watched, series_key, state, &w.samples[key], here);
        material(&watched.rule.kind, &before, state).then_some(events)
    };
    let mut changed: Vec<(Key, AlarmState, Vec<Event>)> = Vec::new();
    for key in &keys {
        let mut state = stored.remove(key).unwrap_or_default();
        if let Some(events) = judged(key, &mut state) {
            changed.push((*key, state, events));
        }
    }
    // First transitions need a row; one another session made meanwhile is judged again.
    let new: Vec<Key> = changed
        .iter()
        .map(|c| c.0)
        .filter(|k| !had_row.contains(k))
        .collect();
    let created = states::create(client, &new)?;
    let raced: Vec<Key> = new.into_iter().filter(|k| !created.contains(k)).collect();
    if !raced.is_empty() {
        let mut again = states::lock(client, &raced)?;
        changed.retain(|c| !raced.contains(&c.0));
        for key in &raced {
            let mut state = again.remove(key).unwrap_or_default();
            if let Some(events) = judged(key, &mut state) {
                changed.push((*key, state, events));
            }
        }
    }
    let saved: Vec<(Key, &AlarmState)> = changed.iter().map(|(k, s, _)| (*k, s)).collect();
    states::save(client, &saved)?;
    let events: Vec<(Key, Event)> = changed
        .into_iter()
        .flat_map(|(k, _, events)| events.into_iter().map(move |e| (k, e)))
        .collect();
    let recorded = states::record(client, &events, None)?;
    if recorded > 0 {
        suppression::apply(client, reg, &events)?;
    }
    Ok(recorded)
}
