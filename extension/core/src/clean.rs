//! Decode and clean, the first stage of the pipeline: each message is admitted (size, time of
//! arrival), routed by its topic, decoded (JSON or Sparkplug B), and each reading checked
//! (names, time window), resolved to its metric's rule and units, converted and scored. What
//! fails becomes a dead letter with a reason; nothing here touches the database.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use crate::batch::{Clean, DeadLetter, Message};
use crate::names::{check_name, Name, Names, MAX_NAME_CHARS, MAX_UNIT_CHARS};
use crate::payload::{decode_json, Candidate};
use crate::quality::{assess, flag, Params, Reading, SourceQuality};
use crate::rejection::{fail, Rejection};
use crate::resolve::{join, resolved, unit_reason, Memo, Resolutions};
pub use crate::resolve::{Catalogs, Cleaned, NewMetric};
use crate::routes::{route, Format};
use crate::sparkplug::{self, Births, Source};
use crate::time;
use crate::units::convert_between;

/// What the nodes and devices of a batch declared in their births: as stored, then as births
/// in the batch change it.
#[derive(Default)]
pub struct SparkplugState {
    pub known: HashMap<Source, Births>,
    /// When each node's or device's declarations were born (Unix µs): an older birth, one
    /// redelivered or replayed late, names its own readings but replaces nothing.
    pub born_at: HashMap<Source, i64>,
    /// The nodes and devices born in this batch, whose stored declarations are to be replaced.
    pub born: BTreeSet<Source>,
    /// Edge nodes (group, edge node) whose data named an alias no birth declared: they are
    /// asked for a rebirth.
    pub lost: BTreeSet<(String, String)>,
}

/// What a batch is judged by: the DBA's settings, read once per batch by the caller.
pub struct Limits {
    pub params: Params,
    pub max_payload: usize,
    pub max_readings: usize,
    /// Reading times (Unix µs) the pipeline accepts.
    pub plausible: RangeInclusive<i64>,
    /// The time of the batch (Unix µs), from which the window is reckoned.
    pub now: i64,
    /// How many metrics no rule knows the batch may register (`telemetry.unknown_metrics` is
    /// `register`, within `telemetry.max_pending_metrics`); `None`: they are dead letters.
    pub new_metrics: Option<usize>,
}

impl Limits {
    /// `Err` says why a time lies outside the plausible window.
    fn check_time(&self, what: &str, t: i64) -> Result<(), Rejection> {
        let (side, setting, bound) = if t < *self.plausible.start() {
            ("past", "max_reading_age", self.plausible.start())
        } else if t > *self.plausible.end() {
            ("future", "max_reading_lead", self.plausible.end())
        } else {
            return Ok(());
        };
        let seconds = (bound - self.now).abs() / 1_000_000;
        Err(fail(
            "implausible_time",
            format!(
                "{what} {} is further in the {side} than telemetry.{setting} ({seconds} s)",
                time::show(t)
            ),
        ))
    }
}

/// The message-level checks before decoding; `Ok` is the time it was received.
fn admit(m: &Message, limits: &Limits) -> Result<i64, Rejection> {
    if m.size() > m.payload.len() {
        return Err(fail(
            "payload_too_large",
            format!(
                "{} bytes, of which the client passed on {}",
                m.size(),
                m.payload.len()
            ),
        ));
    }
    if m.size() > limits.max_payload {
        return Err(fail(
            "payload_too_large",
            format!(
                "{} bytes; telemetry.max_payload_bytes is {}",
                m.size(),
                limits.max_payload
            ),
        ));
    }
    let received_at = m
        .received_at
        .ok_or_else(|| fail("bad_received_at", "received_at is infinite".into()))?;
    limits.check_time("received_at", received_at)?;
    Ok(received_at)
}

/// A Sparkplug message's readings. Its topic names the node and device its aliases belong to.
fn decode_sparkplug(
    m: &Message,
    received_at: i64,
    state: &mut SparkplugState,
    max_metrics: usize,
) -> Result<Vec<Result<Candidate, Rejection>>, Rejection> {
    let Some((kind, source)) = sparkplug::parse_topic(&m.topic) else {
        return Err(fail(
            "bad_topic",
            "not a Sparkplug B topic: spBv1.0/group/type/edge_node[/device]".into(),
        ));
    };
    for (what, name) in [
        ("group_id", &source.group),
        ("edge_node_id", &source.edge_node),
        ("device_id", &source.device),
    ] {
        check_name(what, name, MAX_NAME_CHARS).map_err(|r| fail("bad_topic", r.detail))?;
    }
    let stale = kind == sparkplug::Kind::Birth
        && state.born_at.get(&source).is_some_and(|&t| received_at < t);
    let mut scratch = Births::default();
    let births = if stale {
        &mut scratch
    } else {
        state.known.entry(source.clone()).or_default()
    };
    let decoded = sparkplug::decode(&m.payload, kind, &source, births, max_metrics)?;
    if kind == sparkplug::Kind::Birth && !stale {
        state.born_at.insert(source.clone(), received_at);
        state.born.insert(source.clone());
    }
    if decoded.iter().any(|r| {
        r.as_ref()
            .is_err_and(|e| e.reason.code() == "unknown_alias")
    }) {
        state.lost.insert((source.group, source.edge_node));
    }
    Ok(decoded)
}

/// Decode, route and clean every message: the pure half of the pipeline. Readings ready to
/// store come back; everything refused is pushed to `dead`.
pub fn clean(
    reg: &Catalogs,
    messages: &[Message],
    aliases: &mut SparkplugState,
    dead: &mut Vec<DeadLetter>,
    limits: &Limits,
) -> Cleaned {
    let mut out = Vec::with_capacity(messages.len());
    let mut memo = Memo {
        resolved: Resolutions::default(),
        new: BTreeMap::new(),
        budget: limits.new_metrics,
    };
    let mut names = Names::default();
    for (i, m) in messages.iter().enumerate() {
        let mut reject = |r: Rejection| {
            dead.push(DeadLetter {
                message: i,
                reason: r.reason.code(),
                detail: r.detail,
            })
        };
        let received_at = match admit(m, limits) {
            Ok(t) => t,
            Err(r) => {
                reject(r);
                continue;
            }
        };
        let Some((route, captures)) = route(reg.routes, &m.topic) else {
            reject(fail(
                "no_route",
                "no enabled route in telemetry.routes matches the topic".into(),
            ));
            continue;
        };
        let decoded = match route.format {
            Format::Json => decode_json(&m.payload, &captures, &route.defaults(), &mut names)
                .and_then(|c| at_most(c, limits.max_readings)),
            Format::SparkplugB => decode_sparkplug(m, received_at, aliases, limits.max_readings),
        };
        let candidates = match decoded {
            Ok(c) => c,
            Err(r) => {
                reject(r);
                continue;
            }
        };
        let arrived = Arrival {
            message: i,
            received_at,
        };
        for candidate in candidates {
            let cleaned = candidate
                .and_then(|c| clean_one(reg, &mut memo, route.unit.as_ref(), &arrived, c, limits));
            match cleaned {
                Ok(c) => out.push(c),
                Err(r) => reject(r),
            }
        }
    }
    Cleaned {
        readings: out,
        new_metrics: memo.new.into_values().collect(),
    }
}

/// A message of more readings than `max` is one dead letter, not one per reading: 100,000
/// unknown metrics in one message once took a second of the batch to refuse one by one.
fn at_most<T>(readings: Vec<T>, max: usize) -> Result<Vec<T>, Rejection> {
    if readings.len() > max {
        return Err(fail(
            "too_many_readings",
            format!(
                "{} readings; telemetry.max_readings_per_message is {max}",
                readings.len()
            ),
        ));
    }
    Ok(readings)
}

/// Which message a reading came in, and when that message was received.
struct Arrival {
    message: usize,
    received_at: i64,
}

/// The names of a reading that are not resolved through the registry, checked as they are
/// stored: site, asset and sensor become the series key, the event id a key of its own.
fn check_reading_names(c: &Candidate) -> Result<(), Rejection> {
    check_name("site_id", &c.site, MAX_NAME_CHARS)?;
    check_name("asset_id", &c.asset, MAX_NAME_CHARS)?;
    check_name("sensor_id", &c.sensor, MAX_NAME_CHARS)?;
    if let Some(event) = &c.event_id {
        check_name("event_id", event, MAX_NAME_CHARS)?;
    }
    if let Some(quality) = &c.quality {
        check_name("quality", quality, MAX_UNIT_CHARS)?;
    }
    Ok(())
}

fn clean_one<'r>(
    reg: &Catalogs<'r>,
    memo: &mut Memo<'r>,
    route_unit: Option<&Name>,
    arrived: &Arrival,
    c: Candidate,
    limits: &Limits,
) -> Result<Clean, Rejection> {
    check_reading_names(&c)?;
    let r = resolved(reg, memo, &c, route_unit)?;
    let convert = |v: f64| {
        convert_between(v, r.from, r.to)
            .map_err(|e| fail(unit_reason(&e), format!("{}: {e}", r.metric)))
    };
    let value = convert(c.value)?;
    if !value.is_finite() {
        return Err(fail(
            "not_finite",
            format!("{} value is {}", r.metric, c.value),
        ));
    }
    let source = SourceQuality::parse(c.quality.as_deref().unwrap_or(""))
        .map_err(|msg| fail("bad_quality", msg))?;
    let time = c.time.unwrap_or(arrived.received_at);
    limits.check_time(&format!("{} reading time", r.metric), time)?;
    let sensor = match &r.sensor {
        None => c.sensor,
        Some(more) => {
            let sensor = join(&[Some(&*c.sensor), Some(&**more)]).unwrap_or_default();
            check_name("sensor_id", &sensor, MAX_NAME_CHARS)?;
            sensor
        }
    };
    if let Some(new) = memo.new.get_mut(&r.metric) {
        if new.example.is_none() {
            new.example = Some(value);
            new.message = arrived.message;
        }
        let range = |v: Option<f64>| v.and_then(|v| convert(v).ok()).filter(|v| v.is_finite());
        new.range.low = new.range.low.or(range(c.declared.low));
        new.range.high = new.range.high.or(range(c.declared.high));
    }
    let assessment = assess(
        &Reading {
            rule: r.rule,
            value: Some(value),
            has_source_time: c.time.is_some(),
            delay_s: c.time.map(|t| (arrived.received_at - t) as f64 / 1e6),
            previous: None,
            recent: None,
            source,
        },
        &limits.params,
    );
    let mut flags = assessment.flags;
    if r.from.code != r.to.code {
        flags |= flag("converted");
    }
    // Registered, not reviewed: no_rule says so, where unknown_metric would deny the rule.
    if !r.reviewed {
        flags = (flags & !flag("unknown_metric")) | flag("no_rule");
    }
    Ok(Clean {
        message: arrived.message,
        key: (c.site, c.asset, sensor, r.metric),
        time,
        value,
        quality: assessment.score as f32,
        flags,
        source_quality: source.code(),
        event_id: c.event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparkplug::Declaration;
    use crate::test_support::*;

    #[test]
    fn a_reading_is_converted_scored_and_keyed() {
        let batch = [message(
            "telemetry/s1/a1/temperature",
            br#"{"value": 212, "unit": "degF", "ts": 1748779200}"#,
        )];
        let (cleaned, dead) = run(&batch, &mut SparkplugState::default());
        assert!(dead.is_empty(), "{dead:?}");
        let c = &cleaned[0];
        assert_eq!((c.value, c.time), (100.0, 1_748_779_200_000_000));
        assert_eq!(
            (&*c.key.0, &*c.key.1, &*c.key.2, &*c.key.3),
            ("s1", "a1", "", "temperature")
        );
        assert_ne!(c.flags & flag("converted"), 0);
    }

    #[test]
    fn each_bad_message_is_a_dead_letter_and_the_rest_are_kept() {
        let mut cut = message("telemetry/s1/a1/temperature", b"{}");
        cut.payload_bytes = Some(5_000_000);
        let mut infinite = message("telemetry/s1/a1/temperature", br#"{"value": 1}"#);
        infinite.received_at = None;
        let mut ancient = message("telemetry/s1/a1/temperature", br#"{"value": 1}"#);
        ancient.received_at = Some(0);
        let batch = [
            message(
                "telemetry/s1/a1/temperature",
                br#"{"value": 1, "sensor_id": "\u0000"}"#,
            ),
            message(
                &format!("telemetry/{}/a1/temperature", "s".repeat(129)),
                br#"{"value": 1}"#,
            ),
            cut,
            infinite,
            ancient,
            message(
                "telemetry/s1/a1/temperature",
                br#"{"value": 1, "ts": "9999-01-01T00:00:00Z"}"#,
            ),
            message("no/route", b"{}"),
            message(
                "telemetry/s1/a1/temperature",
                br#"[{"value":1},{"value":2},{"value":3},{"value":4}]"#,
            ),
            message(
                "telemetry/s1/a1/flux",
                br#"{"value": 1, "unit": "furlong"}"#,
            ),
            message("telemetry/s1/a1/temperature", br#"{"value": 20}"#),
        ];
        let (cleaned, dead) = run(&batch, &mut SparkplugState::default());
        assert_eq!(
            dead,
            [
                "bad_name",
                "bad_name",
                "payload_too_large",
                "bad_received_at",
                "implausible_time",
                "implausible_time",
                "no_route",
                "too_many_readings",
                "unknown_unit"
            ]
        );
        assert_eq!(cleaned.len(), 1);
        assert_eq!((cleaned[0].message, cleaned[0].value), (9, 20.0));
    }

    #[test]
    fn a_birth_names_the_aliases_data_later_in_the_batch_uses() {
        let batch = [
            message(
                "spBv1.0/g/DBIRTH/e/d",
                &sparkplug(vec![metric(Some("pressure"), u64::MAX, 1.0)]),
            ),
            message(
                "spBv1.0/g/DDATA/e/d",
                &sparkplug(vec![metric(None, u64::MAX, 2.0)]),
            ),
        ];
        let mut state = SparkplugState::default();
        let (cleaned, dead) = run(&batch, &mut state);
        assert!(dead.is_empty(), "{dead:?}");
        assert_eq!(
            cleaned.iter().map(|c| c.value).collect::<Vec<_>>(),
            [1.0, 2.0]
        );
        assert_eq!(state.born.len(), 1);
    }

    #[test]
    fn an_older_birth_replaces_nothing_and_an_unknown_alias_asks_for_a_rebirth() {
        let source = Source {
            group: "g".into(),
            edge_node: "e".into(),
            device: "d".into(),
        };
        let mut state = SparkplugState::default();
        state.born_at.insert(source.clone(), NOW);
        let mut birth = message(
            "spBv1.0/g/DBIRTH/e/d",
            &sparkplug(vec![metric(Some("pressure"), 1, 1.0)]),
        );
        birth.received_at = Some(NOW - 1_000_000);
        let data = message(
            "spBv1.0/g/DDATA/e/d",
            &sparkplug(vec![metric(None, 1, 2.0)]),
        );
        let (cleaned, dead) = run(&[birth, data], &mut state);
        assert_eq!(cleaned.len(), 1, "the old birth's own reading is kept");
        assert_eq!(dead, ["unknown_alias"], "but its alias is not");
        assert!(state.born.is_empty());
        assert_eq!(
            state.lost.iter().collect::<Vec<_>>(),
            [&("g".to_string(), "e".to_string())]
        );
    }

    #[test]
    fn a_refused_birth_changes_no_alias() {
        let source = Source {
            group: "g".into(),
            edge_node: "e".into(),
            device: "d".into(),
        };
        let mut state = SparkplugState::default();
        let mut births = Births::default();
        births.declare(
            "pressure".into(),
            Declaration {
                alias: Some(1),
                ..Declaration::default()
            },
        );
        state.known.insert(source.clone(), births);
        let too_many = (0..4).map(|a| metric(Some("x"), a, 1.0)).collect();
        let batch = [
            message("spBv1.0/g/DBIRTH/e/d", &sparkplug(too_many)),
            message(
                "spBv1.0/g/DDATA/e/d",
                &sparkplug(vec![metric(None, 1, 5.0)]),
            ),
        ];
        let (cleaned, dead) = run(&batch, &mut state);
        assert_eq!(dead, ["too_many_readings"]);
        assert!(state.born.is_empty());
        assert_eq!(cleaned[0].value, 5.0);
        assert_eq!(state.known[&source].len(), 1);
    }
}
