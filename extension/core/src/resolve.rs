//! Metric names to rules and units, for the cleaning stage: each (metric as sent, payload
//! unit, route unit) of a batch is worked out once, through the catalogue's vendor names
//! (aliases, unit suffixes, folders), and a metric no rule knows is registered on first sight
//! in the base unit of its reading's dimension, while the policy and the batch's budget allow.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

use crate::batch::Clean;
use crate::metrics::{MetricCatalog, MetricRule, NameError, Resolution, MAX_NAME_BYTES};
use crate::names::{check_name, echo, Name, MAX_METRIC_CHARS, MAX_UNIT_CHARS};
use crate::payload::{Candidate, Declared};
use crate::rejection::{fail, Rejection};
use crate::routes::Route;
use crate::units::{Catalog, Unit, UnitError};

/// The registries a batch is cleaned against.
pub struct Catalogs<'r> {
    pub units: &'r Catalog,
    pub metrics: &'r MetricCatalog,
    /// Enabled routes in priority order.
    pub routes: &'r [Route],
}

pub(crate) fn unit_reason(e: &UnitError) -> &'static str {
    match e {
        UnitError::Unknown(_) | UnitError::Ambiguous(..) => "unknown_unit",
        UnitError::Incompatible { .. } => "incompatible_unit",
        UnitError::OutOfRange { .. } => "not_finite",
    }
}

/// What a metric name and units resolve to. A batch repeats a few combinations many times,
/// so each is worked out once: (metric as sent, payload unit, route unit) -> rule and units.
pub(crate) type Resolutions<'r> =
    FxHashMap<(Name, Option<Name>, Option<Name>), Result<Resolved<'r>, Rejection>>;

/// The metrics of a batch: resolved once per combination, and those registered on first sight.
pub(crate) struct Memo<'r> {
    pub(crate) resolved: Resolutions<'r>,
    pub(crate) new: BTreeMap<Name, NewMetric>,
    /// How many more metrics the batch may register; `None` when unknown ones are refused.
    pub(crate) budget: Option<usize>,
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
pub(crate) struct Resolved<'r> {
    /// The rule readings are validated against: a reviewed one, or a range the source declared.
    pub(crate) rule: Option<&'r MetricRule>,
    /// A DBA has reviewed the rule; else its readings are flagged `no_rule`.
    pub(crate) reviewed: bool,
    pub(crate) metric: Name,
    pub(crate) from: &'r Unit,
    pub(crate) to: &'r Unit,
    /// What the name adds to the reading's sensor: its folders, the phase its alias implies.
    pub(crate) sensor: Option<Name>,
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
pub(crate) fn join(parts: &[Option<&str>]) -> Option<Name> {
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

/// A memoised resolution of (metric, unit, route unit).
pub(crate) fn resolved<'r>(
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

#[cfg(test)]
mod tests {
    use crate::clean::{Limits, SparkplugState};
    use crate::quality::flag;
    use crate::test_support::*;

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
}
