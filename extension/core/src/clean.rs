//! Decode and clean, the first stage of the pipeline: each message is admitted (size, time of
//! arrival), routed by its topic, decoded (JSON or Sparkplug B), and each reading checked
//! (names, time window), resolved to its metric's rule and units, converted and scored. What
//! fails becomes a dead letter with a reason; nothing here touches the database.

use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, HashMap};
use std::ops::RangeInclusive;

use crate::batch::{Clean, DeadLetter, Message};
use crate::metrics::{MetricCatalog, MetricRule};
use crate::names::{
    check_name, echo, Name, Names, MAX_METRIC_CHARS, MAX_NAME_CHARS, MAX_UNIT_CHARS,
};
use crate::payload::{decode_json, Candidate};
use crate::quality::{assess, flag, Params, Reading, SourceQuality};
use crate::rejection::{Reason, Rejection};
use crate::routes::{route, Format, Route};
use crate::sparkplug::{self, Source};
use crate::time;
use crate::units::{convert_between, Catalog, Unit, UnitError};

/// Sparkplug aliases of the nodes and devices in a batch: as stored, then as births change them.
#[derive(Default)]
pub struct SparkplugState {
    pub known: HashMap<Source, HashMap<u64, String>>,
    /// The nodes and devices born in this batch, whose stored aliases are to be replaced.
    pub born: BTreeSet<Source>,
}

fn unit_reason(e: &UnitError) -> &'static str {
    match e {
        UnitError::Unknown(_) | UnitError::Ambiguous(..) => "unknown_unit",
        UnitError::Incompatible { .. } => "incompatible_unit",
        UnitError::OutOfRange { .. } => "not_finite",
    }
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
}

/// The registries a batch is cleaned against.
pub struct Catalogs<'r> {
    pub units: &'r Catalog,
    pub metrics: &'r MetricCatalog,
    /// Enabled routes in priority order.
    pub routes: &'r [Route],
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
    aliases: &mut SparkplugState,
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
    let known = aliases.known.entry(source.clone()).or_default();
    let decoded = sparkplug::decode(&m.payload, kind, &source, known, max_metrics)?;
    if kind == sparkplug::Kind::Birth {
        aliases.born.insert(source);
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
) -> Vec<Clean> {
    let mut out = Vec::with_capacity(messages.len());
    let mut memo = Memo::default();
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
            Format::SparkplugB => decode_sparkplug(m, aliases, limits.max_readings),
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
    out
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

/// What a metric name and units resolve to. A batch repeats a few combinations many times,
/// so each is worked out once: (metric as sent, payload unit, route unit) -> rule and units.
type Memo<'r> = FxHashMap<(Name, Option<Name>, Option<Name>), Result<Resolved<'r>, Rejection>>;

#[derive(Clone)]
struct Resolved<'r> {
    rule: &'r MetricRule,
    metric: Name,
    from: &'r Unit,
    to: &'r Unit,
}

fn fail(reason: &'static str, detail: String) -> Rejection {
    Rejection {
        reason: Reason::Other(reason),
        detail,
    }
}

/// The rule of a metric and the unit its value is in: the payload's, else one the name ends
/// in (`temperature_f`), else the route's, else the canonical one.
fn resolve<'r>(
    reg: &Catalogs<'r>,
    metric: &str,
    unit: Option<&str>,
    route_unit: Option<&str>,
) -> Result<Resolved<'r>, Rejection> {
    check_name("metric", metric, MAX_METRIC_CHARS)?;
    if let Some(u) = unit {
        check_name("unit", u, MAX_UNIT_CHARS)?;
    }
    let Some((rule, suffix_unit)) = reg.metrics.rule_with_unit(metric, reg.units) else {
        return Err(fail(
            "unknown_metric",
            format!("metric {} is not in telemetry.metric_rules", echo(metric)),
        ));
    };
    let unit = unit
        .or(suffix_unit.as_deref())
        .or(route_unit)
        .unwrap_or(&rule.unit);
    let units = |e: UnitError| fail(unit_reason(&e), format!("{}: {e}", rule.metric));
    Ok(Resolved {
        rule,
        metric: Name::from(rule.metric.as_str()),
        from: reg.units.resolve(unit).map_err(units)?,
        to: reg.units.resolve(&rule.unit).map_err(units)?,
    })
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
    let r = memo
        .entry((c.metric.clone(), c.unit.clone(), route_unit.cloned()))
        .or_insert_with(|| resolve(reg, &c.metric, c.unit.as_deref(), route_unit.map(|u| &**u)))
        .clone()?;
    let value = convert_between(c.value, r.from, r.to)
        .map_err(|e| fail(unit_reason(&e), format!("{}: {e}", r.rule.metric)))?;
    if !value.is_finite() {
        return Err(fail(
            "not_finite",
            format!("{} value is {}", r.rule.metric, c.value),
        ));
    }
    let source = SourceQuality::parse(c.quality.as_deref().unwrap_or(""))
        .map_err(|msg| fail("bad_quality", msg))?;
    let time = c.time.unwrap_or(arrived.received_at);
    limits.check_time(&format!("{} reading time", r.rule.metric), time)?;
    let assessment = assess(
        &Reading {
            rule: Some(r.rule),
            value: Some(value),
            has_source_time: c.time.is_some(),
            delay_s: c.time.map(|t| (arrived.received_at - t) as f64 / 1e6),
            previous: None,
            recent: None,
            source,
        },
        &limits.params,
    );
    let converted = if r.from.code != r.rule.unit {
        flag("converted")
    } else {
        0
    };
    Ok(Clean {
        message: arrived.message,
        key: (c.site, c.asset, c.sensor, r.metric),
        time,
        value,
        quality: assessment.score as f32,
        flags: assessment.flags | converted,
        source_quality: source.code(),
        event_id: c.event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Broker;
    use crate::quality::Weights;
    use crate::routes::Pattern;
    use prost::Message as _;

    const NOW: i64 = 1_748_779_205_000_000; // 2025-06-01 12:00:05 UTC

    struct Fixture {
        units: Catalog,
        metrics: MetricCatalog,
        routes: Vec<Route>,
    }

    fn fixture() -> Fixture {
        let unit = |code: &str, dimension: &str, factor: f64, offset: f64| Unit {
            code: code.into(),
            dimension: dimension.into(),
            factor,
            offset,
        };
        let rule = |metric: &str, unit: &str, min: f64, max: f64| MetricRule {
            metric: metric.into(),
            unit: unit.into(),
            valid_min: Some(min),
            valid_max: Some(max),
            max_rate_of_change: None,
        };
        let route = |pattern: &str, format: Format| Route {
            pattern: Pattern::parse(pattern).expect("a valid pattern"),
            format,
            site: None,
            asset: None,
            sensor: None,
            metric: None,
            unit: None,
        };
        Fixture {
            units: Catalog::new(
                vec![
                    unit("Cel", "temperature", 1.0, 273.15),
                    unit("[degF]", "temperature", 5.0 / 9.0, 459.67),
                    unit("%", "ratio", 0.01, 0.0),
                ],
                vec![("degF".into(), "[degF]".into())],
            ),
            metrics: MetricCatalog::new(
                vec![
                    rule("temperature", "Cel", -50.0, 150.0),
                    rule("pressure", "%", 0.0, 100.0),
                ],
                vec![],
            ),
            routes: vec![
                route("telemetry/{site_id}/{asset_id}/{metric}", Format::Json),
                route("spBv1.0/#", Format::SparkplugB),
            ],
        }
    }

    fn limits() -> Limits {
        Limits {
            params: Params {
                weights: Weights {
                    completeness: 0.3,
                    validity: 0.3,
                    consistency: 0.25,
                    timeliness: 0.15,
                },
                timeliness_threshold_s: 300.0,
                max_clock_skew_s: 60.0,
                uncertain_factor: 0.5,
                anomaly_z: 3.0,
            },
            max_payload: 1 << 20,
            max_readings: 3,
            plausible: NOW - 86_400_000_000..=NOW + 3_600_000_000,
            now: NOW,
        }
    }

    fn message(topic: &str, payload: &[u8]) -> Message {
        Message {
            received_at: Some(NOW),
            topic: topic.into(),
            payload: payload.to_vec(),
            payload_bytes: None,
            broker: Broker::default(),
        }
    }

    /// Clean a batch; the stored readings and the dead letters' reasons.
    fn run(batch: &[Message], state: &mut SparkplugState) -> (Vec<Clean>, Vec<&'static str>) {
        let f = fixture();
        let catalogs = Catalogs {
            units: &f.units,
            metrics: &f.metrics,
            routes: &f.routes,
        };
        let mut dead = Vec::new();
        let cleaned = clean(&catalogs, batch, state, &mut dead, &limits());
        (cleaned, dead.iter().map(|d| d.reason).collect())
    }

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
            message("telemetry/s1/a1/flux", br#"{"value": 1}"#),
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
                "unknown_metric"
            ]
        );
        assert_eq!(cleaned.len(), 1);
        assert_eq!((cleaned[0].message, cleaned[0].value), (9, 20.0));
    }

    fn sparkplug(metrics: Vec<crate::sparkplug::Metric>) -> Vec<u8> {
        crate::sparkplug::Payload {
            timestamp: Some(1_748_779_200_000),
            metrics,
            seq: Some(0),
        }
        .encode_to_vec()
    }

    fn metric(name: Option<&str>, alias: u64, value: f64) -> crate::sparkplug::Metric {
        crate::sparkplug::Metric {
            name: name.map(str::to_string),
            alias: Some(alias),
            timestamp: None,
            datatype: Some(10),
            is_null: None,
            value: Some(crate::sparkplug::Value::Double(value)),
        }
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
    fn a_refused_birth_changes_no_alias() {
        let source = Source {
            group: "g".into(),
            edge_node: "e".into(),
            device: "d".into(),
        };
        let mut state = SparkplugState::default();
        state
            .known
            .insert(source.clone(), HashMap::from([(1, "pressure".to_string())]));
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
