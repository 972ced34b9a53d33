//! Evaluation: readings in source-time order (`on_reading`), and the passing of time (`tick`).
//!
//! Each kind judges a reading into the condition it *wants* (with the deadband applied on the
//! way back), and one debounce, `step`, turns wants into transitions: a change must persist
//! for the on- or off-delay, and a clear waits until the suppression window since the raise has
//! passed. A want equal to the present condition cancels whatever was pending.

use super::labels::{EventKind, Severity};
use super::rule::{Kind, Rule};
use super::state::{AlarmState, Context, Event, Sample};
use super::{anomaly, Micros};

/// Evaluate one reading. Late and duplicate readings (time at or before `state.last_time`) are
/// ignored for alarms: they were stored, but judging them now would raise or clear against an
/// order of events that has passed. A reading without a finite value changes nothing for a
/// kind that judges values; a bad-quality rule judges it by its source quality like any other.
pub fn on_reading(
    rule: &Rule,
    state: &mut AlarmState,
    sample: Sample,
    ctx: &Context,
) -> Vec<Event> {
    let finite = sample.value.is_finite();
    let late = state.last_time.is_some_and(|t| sample.time <= t);
    if !rule.enabled || late || (!finite && rule.kind.needs_value()) {
        return Vec::new();
    }
    state.last_time = Some(sample.time);
    let want = judge(rule, state, &sample, ctx);
    if finite {
        state.last_value = Some(sample.value);
        state.last_value_at = Some(sample.time);
    }
    let value = finite.then_some(sample.value);
    want.and_then(|(want, severity)| step(rule, state, want, sample.time, value, severity, true))
        .into_iter()
        .collect()
}

/// The readings of one series in one call: put in source-time order first, so that order within
/// a batch does not matter; only readings older than the state's last time are late.
pub fn on_readings(
    rule: &Rule,
    state: &mut AlarmState,
    samples: &[Sample],
    ctx: &Context,
) -> Vec<Event> {
    let mut ordered = samples.to_vec();
    ordered.sort_by_key(|s| s.time);
    ordered
        .into_iter()
        .flat_map(|s| on_reading(rule, state, s, ctx))
        .collect()
}

/// Put a batch of readings of many series in the order they are evaluated: by series, then by
/// source time, readings of one time in the order they came.
pub fn in_series_order<K: Ord + Copy>(readings: &mut [(K, Sample)]) {
    readings.sort_by_key(|(series, s)| (*series, s.time));
}

/// The condition a reading asks for and the severity of a raise; `None` when the reading says
/// nothing (no previous value for a rate, an anomaly window still warming up).
fn judge(
    rule: &Rule,
    state: &mut AlarmState,
    s: &Sample,
    ctx: &Context,
) -> Option<(bool, Severity)> {
    let active = state.condition;
    let deadband = rule.deadband_in(ctx.valid_min, ctx.valid_max);
    let v = s.value;
    let want = match rule.kind {
        Kind::HighHigh { limit } | Kind::High { limit } => beyond(active, v, limit, deadband),
        Kind::Low { limit } | Kind::LowLow { limit } => beyond(active, -v, -limit, deadband),
        Kind::RateOfChange { max_per_second } => {
            let (prev, at) = state.last_value.zip(state.last_value_at)?;
            let seconds = s.time.saturating_sub(at) as f64 / 1e6;
            beyond(active, (v - prev).abs() / seconds, max_per_second, deadband)
        }
        Kind::Stale { .. } => false,
        Kind::FlatLine { epsilon, after } => {
            let moved = state.flat_value.is_none_or(|f| (v - f).abs() > epsilon);
            if moved {
                state.flat_value = Some(v);
                state.flat_since = Some(s.time);
            }
            state
                .flat_since
                .is_some_and(|since| s.time.saturating_sub(since) >= after)
        }
        Kind::BadQuality { at_least } => s.source_quality >= at_least,
        Kind::Anomaly { window, warmup, z } => {
            let score = state.stats.z(v, warmup);
            state.stats.add(v, window);
            let score = score?;
            let severity = anomaly::band(score).unwrap_or(rule.severity);
            return Some((beyond(active, score, z, deadband), severity));
        }
    };
    Some((want, rule.severity))
}

/// An upper limit with hysteresis: raise above `limit`, clear at or below `limit - deadband`.
fn beyond(active: bool, x: f64, limit: f64, deadband: f64) -> bool {
    if active {
        x > limit - deadband
    } else {
        x > limit
    }
}

/// Debounce a wanted condition into a transition; `sample` says a reading (which counts towards
/// a delay in samples) rather than a tick asked.
fn step(
    rule: &Rule,
    state: &mut AlarmState,
    want: bool,
    at: Micros,
    value: Option<f64>,
    severity: Severity,
    sample: bool,
) -> Option<Event> {
    if want == state.condition {
        state.reset_pending();
        return None;
    }
    state.pending_since.get_or_insert(at);
    if sample {
        state.pending_samples = state.pending_samples.saturating_add(1);
    }
    complete(rule, state, at, value, severity)
}

/// Make the pending transition if its delay is met and, for a clear, the window has passed.
fn complete(
    rule: &Rule,
    state: &mut AlarmState,
    at: Micros,
    value: Option<f64>,
    severity: Severity,
) -> Option<Event> {
    let since = state.pending_since?;
    let delay = if state.condition {
        rule.off_delay
    } else {
        rule.on_delay
    };
    if !delay.met(since, state.pending_samples, at) {
        return None;
    }
    if !state.condition {
        return state.raise(at, value, severity);
    }
    let window_over = state
        .raised_at
        .is_none_or(|r| at.saturating_sub(r) >= rule.suppression_window);
    if window_over {
        state.clear(at, value)
    } else {
        None
    }
}

/// What the passing of time does, for the maintenance job: shelving expiry, stale and flat-line
/// conditions, on-delays by duration (for conditions that hold between readings) and off-delays
/// by duration, clears deferred by the suppression window, re-alarm. Safe to call repeatedly:
/// a second call at the same `now` finds nothing left to do. A tick that changes the condition
/// advances `last_time` to `now`, so readings older than that transition are late.
pub fn tick(rule: &Rule, state: &mut AlarmState, now: Micros) -> Vec<Event> {
    let mut events = Vec::new();
    if state.shelved_until.is_some_and(|until| now >= until) {
        events
            .extend(state.change_mode(EventKind::Unshelve, now, None, |s| s.shelved_until = None));
    }
    if !rule.enabled {
        return events;
    }
    let before = state.condition;
    let value = state.last_value;
    let timed = match rule.kind {
        Kind::Stale { after } => state.last_value_at.map(|t| now.saturating_sub(t) >= after),
        Kind::FlatLine { after, .. } => state.flat_since.map(|t| now.saturating_sub(t) >= after),
        _ => None,
    };
    let transition = match timed {
        Some(want) => step(rule, state, want, now, value, rule.severity, false),
        None if state.condition || rule.kind.holds_between_readings() => {
            complete(rule, state, now, value, rule.severity)
        }
        None => None,
    };
    events.extend(transition);
    if state.condition != before {
        state.last_time = Some(state.last_time.map_or(now, |t| t.max(now)));
    }
    events.extend(realarm(rule, state, now));
    events
}

fn realarm(rule: &Rule, state: &mut AlarmState, now: Micros) -> Option<Event> {
    let after = rule.realarm_after?;
    let acked_at = state.acked_at?;
    if !state.in_service() || !state.condition || state.unacknowledged {
        return None;
    }
    if now.saturating_sub(acked_at) < after {
        return None;
    }
    let from = state.status();
    state.unacknowledged = true;
    state.unacked_at = Some(now);
    state.acked_at = None;
    state.escalation_level = 0;
    Some(state.event(now, EventKind::Realarm, from, state.last_value, None))
}
