//! Decode and clean, the first stage of the pipeline: each message is admitted (size, time of
//! arrival), routed by its topic, decoded (JSON or Sparkplug B), and each reading checked
//! (names, time window), resolved to its metric's rule and units, converted and scored. What
//! fails becomes a dead letter with a reason; nothing here touches the database.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use crate::batch::{Clean, DeadLetter, Message};
use crate::metrics::{MetricCatalog, MetricRule, NameError, Resolution, MAX_NAME_BYTES};
use crate::names::{
    check_name, echo, Name, Names, MAX_METRIC_CHARS, MAX_NAME_CHARS, MAX_UNIT_CHARS,
};
use crate::payload::{decode_json, Candidate, Declared};
use crate::quality::{assess, flag, Params, Reading, SourceQuality};
use crate::rejection::{Reason, Rejection};
use crate::routes::{route, Format, Route};
use crate::sparkplug::{self, Births, Source};
use crate::time;
use crate::units::{convert_between, Catalog, Unit, UnitError};

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
    /// How many metrics no rule knows the batch may register (`telemetry.unknown_metrics` is
    /// `register`, within `telemetry.max_pending_metrics`); `None`: they are dead letters.
    pub new_metrics: Option<usize>,
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

/// What a metric name and units resolve to. A batch repeats a few combinations many times,
/// so each is worked out once: (metric as sent, payload unit, route unit) -> rule and units.
type Resolutions<'r> =
    FxHashMap<(Name, Option<Name>, Option<Name>), Result<Resolved<'r>, Rejection>>;

/// The metrics of a batch: resolved once per combination, and those registered on first sight.
struct Memo<'r> {
    resolved: Resolutions<'r>,
    new: BTreeMap<Name, NewMetric>,
    /// How many more metrics the batch may register; `None` when unknown ones are refused.
    budget: Option<usize>,
}

/// A metric first seen in this batch, registered before its series are.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMetric {
    pub metric: Name,
    /// The base unit of the dimension it first came in (`1` when it came without a unit).
    pub unit: String,
    /// The units its readings came in, as resolved codes.
    pub units_seen: BTreeSet<String>,
    /// Its first value, in `unit`, and the message that brought it.
    pub example: Option<f64>,
    pub message: usize,
    /// The range its source declared (Sparkplug `engLow`, `engHigh`), in `unit`.
    pub range: Declared,
}

/// What cleaning a batch produced.
pub struct Cleaned {
    pub readings: Vec<Clean>,
    pub new_metrics: Vec<NewMetric>,
}

#[derive(Clone)]
struct Resolved<'r> {
    /// The rule readings are validated against: a reviewed one, or a range the source declared.
    rule: Option<&'r MetricRule>,
    /// A DBA has reviewed the rule; else its readings are flagged `no_rule`.
    reviewed: bool,
    metric: Name,
    from: &'r Unit,
    to: &'r Unit,
    /// What the name adds to the reading's sensor: its folders, the phase its alias implies.
    sensor: Option<Name>,
}

fn fail(reason: &'static str, detail: String) -> Rejection {
    Rejection {
        reason: Reason::Other(reason),
        detail,
    }
}

/// A vendor name as the catalogue knows it, and its folders.
fn name_of<'r>(
    reg: &Catalogs<'r>,
    metric: &str,
) -> Result<(Option<Name>, Resolution<'r>), Rejection> {
    let (folders, resolution) = reg.metrics.resolve_path(metric, reg.units).map_err(|e| {
        let why = match e {
            NameError::Empty => "has no letter or digit".to_string(),
            NameError::TooLong(n) => {
                format!("is {n} bytes once normalised; at most {MAX_NAME_BYTES}")
            }
        };
        fail("bad_name", format!("metric {} {why}", echo(metric)))
    })?;
    Ok((folders.map(Name::from), resolution))
}

/// Sensor path parts joined with `/`, empty parts left out.
fn join(parts: &[Option<&str>]) -> Option<Name> {
    let path: Vec<&str> = parts
        .iter()
        .flatten()
        .copied()
        .filter(|p| !p.is_empty())
        .collect();
    (!path.is_empty()).then(|| Name::from(path.join("/").as_str()))
}

/// The rule of a metric and the unit its value is in: the payload's, else one the name ends
/// in (`temperature_f`), else the route's, else the canonical one. A metric no rule knows is
/// registered in the base unit of the dimension it came in, while the batch may register more.
fn resolve<'r>(
    reg: &Catalogs<'r>,
    memo: &mut Memo<'r>,
    metric: &str,
    unit: Option<&str>,
    route_unit: Option<&str>,
) -> Result<Resolved<'r>, Rejection> {
    check_name("metric", metric, MAX_METRIC_CHARS)?;
    if let Some(u) = unit {
        check_name("unit", u, MAX_UNIT_CHARS)?;
    }
    let units = |e: UnitError| fail(unit_reason(&e), format!("{metric}: {e}"));
    match name_of(reg, metric)? {
        (folders, Resolution::Known(k)) => {
            let unit = unit
                .or(k.unit.as_deref())
                .or(route_unit)
                .unwrap_or(&k.rule.unit);
            let ranged = k.rule.valid_min.is_some() || k.rule.valid_max.is_some();
            Ok(Resolved {
                rule: (k.rule.reviewed || ranged).then_some(k.rule),
                reviewed: k.rule.reviewed,
                metric: Name::from(k.rule.metric.as_str()),
                from: reg.units.resolve(unit).map_err(units)?,
                to: reg.units.resolve(&k.rule.unit).map_err(units)?,
                sensor: join(&[folders.as_deref(), k.sensor]),
            })
        }
        (
            folders,
            Resolution::Unknown {
                metric: name,
                unit: suffix,
            },
        ) => {
            let given = unit.or(suffix.as_deref()).or(route_unit).unwrap_or("1");
            let from = reg.units.resolve(given).map_err(units)?;
            let to = register(reg, memo, metric, &name, from)?;
            Ok(Resolved {
                rule: None,
                reviewed: false,
                metric: Name::from(name.as_str()),
                from,
                to: reg.units.resolve(to).map_err(units)?,
                sensor: folders,
            })
        }
    }
}

/// The unit a metric no rule knows is registered in: the one this batch chose already, else
/// the base unit of the dimension it came in, while the policy and the budget allow.
fn register<'m, 'r>(
    reg: &Catalogs<'r>,
    memo: &'m mut Memo<'r>,
    sent: &str,
    name: &str,
    from: &Unit,
) -> Result<&'m str, Rejection> {
    let refuse = |why: String| {
        fail(
            "unknown_metric",
            format!(
                "metric {} is not in telemetry.metric_rules{why}",
                echo(sent)
            ),
        )
    };
    let key = Name::from(name);
    if !memo.new.contains_key(&key) {
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(refuse(format!(
                ", and {} cannot be registered: only ASCII letters, digits and _ make a metric name",
                echo(name)
            )));
        }
        match memo.budget {
            None => return Err(refuse(" and telemetry.unknown_metrics is dead_letter".into())),
            Some(0) => {
                return Err(refuse(
                    ", and telemetry.max_pending_metrics metrics already await review in telemetry.metrics_to_review".into(),
                ))
            }
            Some(ref mut n) => *n -= 1,
        }
        let Some(base) = reg.units.base(&from.dimension) else {
            return Err(refuse(format!(
                ", and the dimension {} of {} has no base unit",
                from.dimension, from.code
            )));
        };
        memo.new.insert(
            key.clone(),
            NewMetric {
                metric: key.clone(),
                unit: base.code.clone(),
                units_seen: BTreeSet::new(),
                example: None,
                message: usize::MAX,
                range: Declared::default(),
            },
        );
    }
    let new = memo.new.get_mut(&key).expect("inserted above");
    new.units_seen.insert(from.code.clone());
    Ok(&new.unit)
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

/// A memoised resolution of (metric, unit, route unit).
fn resolved<'r>(
    reg: &Catalogs<'r>,
    memo: &mut Memo<'r>,
    c: &Candidate,
    route_unit: Option<&Name>,
) -> Result<Resolved<'r>, Rejection> {
    let key = (c.metric.clone(), c.unit.clone(), route_unit.cloned());
    if let Some(r) = memo.resolved.get(&key) {
        return r.clone();
    }
    let r = resolve(
        reg,
        memo,
        &c.metric,
        c.unit.as_deref(),
        route_unit.map(|u| &**u),
    );
    memo.resolved.insert(key, r.clone());
    r
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
    use crate::batch::Broker;
    use crate::quality::Weights;
    use crate::routes::Pattern;
    use crate::sparkplug::Declaration;
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
            reviewed: true,
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
                    unit("K", "temperature", 1.0, 0.0),
                    unit("Cel", "temperature", 1.0, 273.15),
                    unit("1", "ratio", 1.0, 0.0),
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
            new_metrics: Some(2),
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
        let (cleaned, dead) = run_with(batch, state, &limits());
        (cleaned.readings, dead)
    }

    fn run_with(
        batch: &[Message],
        state: &mut SparkplugState,
        limits: &Limits,
    ) -> (Cleaned, Vec<&'static str>) {
        let f = fixture();
        let catalogs = Catalogs {
            units: &f.units,
            metrics: &f.metrics,
            routes: &f.routes,
        };
        let mut dead = Vec::new();
        let cleaned = clean(&catalogs, batch, state, &mut dead, limits);
        (cleaned, dead.iter().map(|d| d.reason).collect())
    }

    #[test]
    fn an_unknown_metric_is_registered_in_the_base_unit_of_its_dimension() {
        let batch = [
            message(
                "telemetry/s1/a1/OilTemp",
                br#"{"value": 212, "unit": "degF"}"#,
            ),
            message(
                "telemetry/s1/a1/oil_temp",
                br#"{"value": 100, "unit": "Cel"}"#,
            ),
            message("telemetry/s1/a1/oil_temp", br#"{"value": 1, "unit": "%"}"#),
            message("telemetry/s1/a1/door_open", br#"{"value": 1}"#),
        ];
        let (cleaned, dead) = run_with(&batch, &mut SparkplugState::default(), &limits());
        assert_eq!(
            dead,
            ["incompatible_unit"],
            "a metric keeps the dimension it came in"
        );
        let values: Vec<(&str, f64)> = cleaned
            .readings
            .iter()
            .map(|c| (&*c.key.3, (c.value * 100.0).round() / 100.0))
            .collect();
        assert_eq!(
            values,
            [
                ("oil_temp", 373.15),
                ("oil_temp", 373.15),
                ("door_open", 1.0)
            ]
        );
        for c in &cleaned.readings {
            assert_ne!(c.flags & flag("no_rule"), 0);
            assert_eq!(c.flags & flag("unknown_metric"), 0);
        }
        let new: Vec<(&str, &str, Vec<&str>, usize)> = cleaned
            .new_metrics
            .iter()
            .map(|n| {
                let seen = n.units_seen.iter().map(String::as_str).collect();
                (&*n.metric, n.unit.as_str(), seen, n.message)
            })
            .collect();
        assert_eq!(
            new,
            [
                ("door_open", "1", vec!["1"], 3),
                ("oil_temp", "K", vec!["%", "Cel", "[degF]"], 0)
            ]
        );
    }

    #[test]
    fn the_policy_and_the_budget_bound_what_a_batch_registers() {
        let batch = [
            message("telemetry/s1/a1/alpha", br#"{"value": 1}"#),
            message("telemetry/s1/a1/beta", br#"{"value": 2}"#),
            message(
                "telemetry/s1/a1/alpha",
                br#"{"value": 3, "ts": 1748779201}"#,
            ),
            message("telemetry/s1/a1/température", br#"{"value": 4}"#),
        ];
        let one = Limits {
            new_metrics: Some(1),
            ..limits()
        };
        let (cleaned, dead) = run_with(&batch, &mut SparkplugState::default(), &one);
        assert_eq!(dead, ["unknown_metric", "unknown_metric"]);
        assert_eq!(cleaned.readings.len(), 2);
        assert_eq!(cleaned.new_metrics.len(), 1);
        let refuse = Limits {
            new_metrics: None,
            ..limits()
        };
        let (cleaned, dead) = run_with(&batch, &mut SparkplugState::default(), &refuse);
        assert_eq!(dead.len(), 4);
        assert!(cleaned.new_metrics.is_empty());
    }

    #[test]
    fn folders_go_to_the_sensor_and_declared_ranges_to_a_new_metric() {
        let mut temp = metric(Some("Motor 1/Temperature"), 1, 50.0);
        let mut level = metric(Some("Tank/Level"), 2, 10.0);
        let props = |unit: &str, low: f64, high: f64| {
            Some(crate::sparkplug::PropertySet {
                keys: vec!["engUnit".into(), "engLow".into(), "engHigh".into()],
                values: [
                    crate::sparkplug::PropertyScalar::String(unit.into()),
                    crate::sparkplug::PropertyScalar::Double(low),
                    crate::sparkplug::PropertyScalar::Double(high),
                ]
                .into_iter()
                .map(|v| crate::sparkplug::PropertyValue {
                    datatype: None,
                    is_null: None,
                    value: Some(v),
                })
                .collect(),
            })
        };
        temp.properties = props("degF", 32.0, 212.0);
        level.properties = props("%", 0.0, 100.0);
        let batch = [
            message("spBv1.0/g/DBIRTH/e/d", &sparkplug(vec![temp, level])),
            message(
                "spBv1.0/g/DDATA/e/d",
                &sparkplug(vec![metric(None, 1, 212.0)]),
            ),
        ];
        let (cleaned, dead) = run_with(&batch, &mut SparkplugState::default(), &limits());
        assert!(dead.is_empty(), "{dead:?}");
        let keys: Vec<(&str, &str, f64)> = cleaned
            .readings
            .iter()
            .map(|c| (&*c.key.2, &*c.key.3, (c.value * 100.0).round() / 100.0))
            .collect();
        assert_eq!(
            keys,
            [
                ("d/Motor 1", "temperature", 10.0),
                ("d/Tank", "level", 0.1),
                ("d/Motor 1", "temperature", 100.0)
            ]
        );
        let level = &cleaned.new_metrics[0];
        assert_eq!(
            (&*level.metric, level.range.low, level.range.high),
            ("level", Some(0.0), Some(1.0))
        );
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
            properties: None,
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
