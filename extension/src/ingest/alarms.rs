//! Evaluate the alarm rules on the readings a batch stored, after the store stage and in its
//! transaction: per (rule, series) in source-time order, against the state locked for it, so
//! that concurrent sessions never raise or clear twice. Readings at or before the last time a
//! state saw (late ones, and the duplicates of stored ones) neither raise nor clear; a batch
//! without rules costs nothing here.

use pgrx::spi::SpiClient;
use rustc_hash::FxHashMap;

use telemetry_core::alarms::{on_readings, set_suppressed, Context, Event, Sample};
use telemetry_core::batch::Clean;

use crate::alarms::states::{self, Key};
use crate::alarms::suppression;
use crate::registry::Registry;
use crate::time::transaction_start;

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
    let mut samples: FxHashMap<Key, Vec<Sample>> = FxHashMap::default();
    let mut metric_of: FxHashMap<i32, &str> = FxHashMap::default();
    let mut site_of: FxHashMap<i32, &str> = FxHashMap::default();
    for &i in rows {
        let Some(id) = series[i] else { continue };
        let c = &cleaned[i];
        for r in reg.alarms.watching(id, &c.key) {
            samples
                .entry((reg.alarms.rules[r].rule.id, id))
                .or_default()
                .push(Sample {
                    time: c.time,
                    value: c.value,
                    source_quality: c.source_quality,
                });
        }
        metric_of.insert(id, &c.key.3);
        site_of.insert(id, &c.key.0);
    }
    if samples.is_empty() {
        return Ok(0);
    }
    let mut keys: Vec<Key> = samples.keys().copied().collect();
    keys.sort_unstable();
    let mut locked = states::lock(client, &keys)?;
    // A rule suppressed by design on a site is suppressed on a series it first sees there too.
    let suppressed = suppression::active(client, reg)?;
    let now = transaction_start();
    let mut events: Vec<(Key, Event)> = Vec::new();
    let mut changed = Vec::new();
    for key in &keys {
        let (Some(watched), Some(state)) = (reg.alarms.by_id(key.0), locked.get_mut(key)) else {
            continue;
        };
        let metric = reg
            .metrics
            .rule(metric_of.get(&key.1).copied().unwrap_or_default());
        let ctx = Context {
            valid_min: metric.and_then(|m| m.valid_min),
            valid_max: metric.and_then(|m| m.valid_max),
        };
        let before = state.clone();
        let readings = samples.remove(key).unwrap_or_default();
        let site = site_of.get(&key.1).copied().unwrap_or_default();
        if !state.suppressed
            && suppressed
                .get(site)
                .is_some_and(|k| k.contains(&watched.rule.kind.name()))
        {
            events.extend(
                set_suppressed(state, true, now)
                    .into_iter()
                    .map(|e| (*key, e)),
            );
        }
        events.extend(
            on_readings(&watched.rule, state, &readings, &ctx)
                .into_iter()
                .map(|e| (*key, e)),
        );
        if *state != before {
            changed.push(*key);
        }
    }
    let saved: Vec<(Key, &_)> = changed
        .iter()
        .filter_map(|k| locked.get(k).map(|s| (*k, s)))
        .collect();
    states::save(client, &saved)?;
    let recorded = states::record(client, &events, None)?;
    if recorded > 0 {
        suppression::apply(client, reg, &events)?;
    }
    Ok(recorded)
}
