//! Sparkplug B: the Eclipse Tahu protobuf payload and its topic namespace.
//!
//! `spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]`. Readings take the group as
//! site, the edge node as asset and the device (empty for node metrics) as sensor. Births
//! (NBIRTH, DBIRTH) declare metric names with numeric aliases that later DATA messages use
//! instead of names; the pipeline keeps them per node or device in `telemetry.sparkplug_aliases`.

use std::collections::HashMap;

use crate::names::{check_name, echo, Name, MAX_METRIC_CHARS, MAX_UNIT_CHARS};
use crate::payload::{Candidate, Declared};
use crate::rejection::{Reason, Rejection};

/// The message types that carry readings, and those that only manage the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Birth,
    Data,
    Death,
    /// NCMD, DCMD and host STATE: a host's own traffic (the pipeline's rebirth requests among
    /// it, when the shim subscribes to `spBv1.0/#`), consumed like deaths.
    Command,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub group: String,
    pub edge_node: String,
    pub device: String,
}

pub fn parse_topic(topic: &str) -> Option<(Kind, Source)> {
    let mut parts = topic.split('/');
    if parts.next()? != "spBv1.0" {
        return None;
    }
    let group = parts.next()?;
    if group == "STATE" {
        let host = parts.next()?;
        let source = Source {
            group: group.into(),
            edge_node: host.into(),
            device: String::new(),
        };
        return Some((Kind::Command, source));
    }
    let kind = match parts.next()? {
        "NBIRTH" | "DBIRTH" => Kind::Birth,
        "NDATA" | "DDATA" => Kind::Data,
        "NDEATH" | "DDEATH" => Kind::Death,
        "NCMD" | "DCMD" => Kind::Command,
        _ => Kind::Other,
    };
    let edge_node = parts.next()?;
    let device = parts.next().unwrap_or("");
    if parts.next().is_some() || group.is_empty() || edge_node.is_empty() {
        return None;
    }
    Some((
        kind,
        Source {
            group: group.into(),
            edge_node: edge_node.into(),
            device: device.into(),
        },
    ))
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    #[prost(oneof = "Value", tags = "10, 11, 12, 13, 14, 15")]
    pub value: Option<Value>,
}

/// Metric properties; nested property sets are skipped, none of them says anything we use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    #[prost(uint32, optional, tag = "1")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    #[prost(oneof = "PropertyScalar", tags = "3, 4, 5, 6, 7, 8")]
    pub value: Option<PropertyScalar>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PropertyScalar {
    #[prost(uint32, tag = "3")]
    Int(u32),
    #[prost(uint64, tag = "4")]
    Long(u64),
    #[prost(float, tag = "5")]
    Float(f32),
    #[prost(double, tag = "6")]
    Double(f64),
    #[prost(bool, tag = "7")]
    Boolean(bool),
    #[prost(string, tag = "8")]
    String(String),
}

/// What a birth declared of one metric: its alias, and the properties the pipeline uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declaration {
    pub alias: Option<u64>,
    /// `engUnit`: the unit its values are in.
    pub unit: Option<String>,
    /// `engLow`, `engHigh`: its range, in that unit.
    pub range: Declared,
}

/// The metrics the last birth of a node or device declared, by name and by alias.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Births {
    metrics: HashMap<String, Declaration>,
    aliases: HashMap<u64, String>,
}

impl Births {
    /// Declare a metric; a name or alias declared again takes the place of the first.
    pub fn declare(&mut self, name: String, d: Declaration) {
        if let Some(old) = self.metrics.get(&name).and_then(|o| o.alias) {
            self.aliases.remove(&old);
        }
        if let Some(alias) = d.alias {
            if let Some(other) = self.aliases.insert(alias, name.clone()) {
                if let Some(o) = self.metrics.get_mut(&other) {
                    o.alias = None;
                }
            }
        }
        self.metrics.insert(name, d);
    }

    pub fn by_alias(&self, alias: u64) -> Option<&str> {
        self.aliases.get(&alias).map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&Declaration> {
        self.metrics.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Declaration)> {
        self.metrics.iter()
    }

    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }
}

fn property_number(v: &PropertyValue) -> Option<f64> {
    if v.is_null == Some(true) {
        return None;
    }
    let x = match v.value.as_ref()? {
        PropertyScalar::Int(i) => f64::from(*i),
        PropertyScalar::Long(l) => *l as f64,
        PropertyScalar::Float(f) => f64::from(*f),
        PropertyScalar::Double(d) => *d,
        PropertyScalar::Boolean(_) | PropertyScalar::String(_) => return None,
    };
    x.is_finite().then_some(x)
}

/// `engUnit`, `engLow` and `engHigh` of a metric (keys matched without regard to case). `Err`
/// when the unit is a name the pipeline refuses: such a metric is not declared at all.
fn declaration(m: &Metric) -> Result<Declaration, Rejection> {
    let mut d = Declaration {
        alias: m.alias,
        ..Declaration::default()
    };
    let Some(props) = &m.properties else {
        return Ok(d);
    };
    for (key, value) in props.keys.iter().zip(&props.values) {
        match key.to_ascii_lowercase().as_str() {
            "engunit" => {
                if let Some(PropertyScalar::String(u)) = &value.value {
                    check_name("engUnit", u, MAX_UNIT_CHARS)?;
                    d.unit = (!u.trim().is_empty()).then(|| u.clone());
                }
            }
            "englow" => d.range.low = property_number(value),
            "enghigh" => d.range.high = property_number(value),
            _ => {}
        }
    }
    Ok(d)
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(uint32, tag = "10")]
    Int(u32),
    #[prost(uint64, tag = "11")]
    Long(u64),
    #[prost(float, tag = "12")]
    Float(f32),
    #[prost(double, tag = "13")]
    Double(f64),
    #[prost(bool, tag = "14")]
    Boolean(bool),
    #[prost(string, tag = "15")]
    String(String),
}

/// Sparkplug datatype codes (Tahu `DataType`).
const INT8: u32 = 1;
const INT16: u32 = 2;
const INT32: u32 = 3;
const INT64: u32 = 4;

fn reject(reason: Reason, detail: String) -> Rejection {
    Rejection { reason, detail }
}

/// The value as a double: signed integer types are carried in unsigned fields, two's complement.
fn numeric(m: &Metric, name: &str) -> Result<f64, Rejection> {
    if m.is_null == Some(true) {
        return Err(reject(Reason::MissingValue, format!("{name}: is_null")));
    }
    let datatype = m.datatype.unwrap_or(0);
    match &m.value {
        Some(Value::Int(v)) => Ok(match datatype {
            INT8 => f64::from(*v as u8 as i8),
            INT16 => f64::from(*v as u16 as i16),
            INT32 => f64::from(*v as i32),
            _ => f64::from(*v),
        }),
        Some(Value::Long(v)) if datatype == INT64 => Ok(*v as i64 as f64),
        Some(Value::Long(v)) => Ok(*v as f64),
        Some(Value::Float(v)) => Ok(f64::from(*v)),
        Some(Value::Double(v)) => Ok(*v),
        Some(Value::Boolean(b)) => Ok(f64::from(u8::from(*b))),
        Some(Value::String(s)) => Err(reject(
            Reason::BadValue,
            format!("{name}: a string ({}), not a number", echo(s)),
        )),
        None => Err(reject(
            Reason::MissingValue,
            format!("{name}: no value of a numeric type"),
        )),
    }
}

/// Metrics that run the Sparkplug session rather than measure anything.
fn is_protocol_metric(name: &str) -> bool {
    name == "bdSeq"
        || ["Node Control/", "Device Control/", "Properties/"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// Decode one Sparkplug message. A birth first replaces the aliases of its node or device.
/// Deaths yield nothing; commands and host state are not telemetry.
/// More than `max_metrics` metrics refuse the whole message, before a birth touches `aliases`.
pub fn decode(
    payload: &[u8],
    kind: Kind,
    source: &Source,
    births: &mut Births,
    max_metrics: usize,
) -> Result<Vec<Result<Candidate, Rejection>>, Rejection> {
    use prost::Message;
    match kind {
        Kind::Death | Kind::Command => return Ok(Vec::new()),
        Kind::Other => {
            return Err(reject(
                Reason::Other("not_telemetry"),
                "not a Sparkplug B message type (NBIRTH, DBIRTH, NDATA, DDATA, NDEATH, DDEATH, NCMD, DCMD)".into(),
            ))
        }
        Kind::Birth | Kind::Data => {}
    }
    let p = Payload::decode(payload)
        .map_err(|e| reject(Reason::Other("bad_protobuf"), e.to_string()))?;
    if p.metrics.len() > max_metrics {
        return Err(reject(
            Reason::Other("too_many_readings"),
            format!(
                "{} metrics; telemetry.max_readings_per_message is {max_metrics}",
                p.metrics.len()
            ),
        ));
    }
    if kind == Kind::Birth {
        *births = Births::default();
        for m in &p.metrics {
            // A name the pipeline would refuse is not kept: its readings are refused anyway.
            if let Some(name) = &m.name {
                if let (Ok(()), Ok(d)) =
                    (check_name("metric", name, MAX_METRIC_CHARS), declaration(m))
                {
                    births.declare(name.clone(), d);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(p.metrics.len());
    let (site, asset, sensor) = (
        Name::from(source.group.as_str()),
        Name::from(source.edge_node.as_str()),
        Name::from(source.device.as_str()),
    );
    for m in &p.metrics {
        let name = match (&m.name, m.alias) {
            (Some(n), _) => n.clone(),
            (None, Some(a)) => match births.by_alias(a) {
                Some(n) => n.to_string(),
                None => {
                    out.push(Err(reject(
                        Reason::Other("unknown_alias"),
                        format!("alias {a} was not declared by a birth certificate"),
                    )));
                    continue;
                }
            },
            (None, None) => {
                out.push(Err(reject(
                    Reason::MissingField,
                    "a metric with neither name nor alias".into(),
                )));
                continue;
            }
        };
        if is_protocol_metric(&name) {
            continue;
        }
        // A time beyond any date is refused, never replaced by the time of arrival.
        let time = match m.timestamp.or(p.timestamp) {
            None => None,
            Some(ms) => match i64::try_from(ms).ok().and_then(|ms| ms.checked_mul(1000)) {
                Some(micros) => Some(micros),
                None => {
                    out.push(Err(reject(
                        Reason::BadTimestamp,
                        format!("{}: timestamp {ms} ms is beyond any date", echo(&name)),
                    )));
                    continue;
                }
            },
        };
        // The message's own properties first, else what the birth declared.
        let declared = match m.properties {
            Some(_) => declaration(m),
            None => Ok(births.get(&name).cloned().unwrap_or_default()),
        };
        out.push(
            declared
                .and_then(|d| numeric(m, &name).map(|value| (d, value)))
                .map(|(d, value)| Candidate {
                    site: site.clone(),
                    asset: asset.clone(),
                    sensor: sensor.clone(),
                    metric: Name::from(name.as_str()),
                    value,
                    unit: d.unit.as_deref().map(Name::from),
                    time,
                    quality: None,
                    event_id: None,
                    declared: d.range,
                }),
        );
    }
    // A birth may declare only session metrics (bdSeq, Node Control/*); data that carries no
    // reading at all would otherwise vanish without a trace.
    if out.is_empty() && kind == Kind::Data {
        return Err(reject(
            Reason::BadPayload,
            "a DATA message without a metric that is a reading".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn metric(name: Option<&str>, alias: Option<u64>, datatype: u32, value: Value) -> Metric {
        Metric {
            name: name.map(str::to_string),
            alias,
            timestamp: None,
            datatype: Some(datatype),
            is_null: None,
            properties: None,
            value: Some(value),
        }
    }

    fn encode(metrics: Vec<Metric>) -> Vec<u8> {
        Payload {
            timestamp: Some(1_748_779_200_000),
            metrics,
            seq: Some(0),
        }
        .encode_to_vec()
    }

    fn source() -> Source {
        Source {
            group: "plant-1".into(),
            edge_node: "edge-7".into(),
            device: "pump-3".into(),
        }
    }

    #[test]
    fn topics() {
        let (kind, s) = parse_topic("spBv1.0/plant-1/DDATA/edge-7/pump-3").unwrap();
        assert_eq!((kind, s), (Kind::Data, source()));
        let (kind, s) = parse_topic("spBv1.0/plant-1/NBIRTH/edge-7").unwrap();
        assert_eq!((kind, s.device.as_str()), (Kind::Birth, ""));
        assert_eq!(
            parse_topic("spBv1.0/plant-1/NCMD/edge-7").unwrap().0,
            Kind::Command
        );
        assert_eq!(
            parse_topic("spBv1.0/STATE/scada-1").unwrap().0,
            Kind::Command
        );
        assert_eq!(
            parse_topic("spBv1.0/plant-1/XDATA/edge-7").unwrap().0,
            Kind::Other
        );
        assert!(parse_topic("spBv1.0/plant-1/DDATA").is_none());
        assert!(parse_topic("spBv1.0/plant-1/DDATA/e/d/extra").is_none());
        assert!(parse_topic("other/plant-1/DDATA/e/d").is_none());
    }

    #[test]
    fn birth_aliases_apply_to_data() {
        let mut aliases = Births::default();
        let birth = encode(vec![
            metric(Some("bdSeq"), Some(0), 8, Value::Long(1)),
            metric(
                Some("Discharge Pressure"),
                Some(1),
                10,
                Value::Double(812.5),
            ),
            metric(Some("Motor Temp"), Some(2), 9, Value::Float(61.5)),
        ]);
        let born = decode(&birth, Kind::Birth, &source(), &mut aliases, usize::MAX).unwrap();
        assert_eq!(born.len(), 2, "bdSeq is protocol, not a reading");
        assert_eq!(aliases.len(), 3);

        let mut late = metric(None, Some(2), 9, Value::Float(62.0));
        late.timestamp = Some(1_748_779_201_000);
        let data = encode(vec![metric(None, Some(1), 10, Value::Double(815.0)), late]);
        let r: Vec<Candidate> = decode(&data, Kind::Data, &source(), &mut aliases, usize::MAX)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(r[0].metric, "Discharge Pressure");
        assert_eq!(r[0].value, 815.0);
        assert_eq!(r[0].time, Some(1_748_779_200_000_000));
        assert_eq!(r[1].time, Some(1_748_779_201_000_000));
        assert_eq!(
            (&*r[1].site, &*r[1].asset, &*r[1].sensor),
            ("plant-1", "edge-7", "pump-3")
        );
    }

    fn properties(pairs: Vec<(&str, PropertyScalar)>) -> Option<PropertySet> {
        Some(PropertySet {
            keys: pairs.iter().map(|(k, _)| k.to_string()).collect(),
            values: pairs
                .into_iter()
                .map(|(_, v)| PropertyValue {
                    datatype: None,
                    is_null: None,
                    value: Some(v),
                })
                .collect(),
        })
    }

    #[test]
    fn a_birth_declares_units_and_ranges_that_data_by_alias_keeps() {
        let mut births = Births::default();
        let mut power = metric(
            Some("Inverter/ActivePower"),
            Some(1),
            10,
            Value::Double(5.0),
        );
        power.properties = properties(vec![
            ("engUnit", PropertyScalar::String("kW".into())),
            ("engLow", PropertyScalar::Int(0)),
            ("EngHigh", PropertyScalar::Double(250.0)),
            ("Quality", PropertyScalar::Int(192)),
        ]);
        let mut bad = metric(Some("Weird"), Some(2), 10, Value::Double(1.0));
        bad.properties = properties(vec![("engUnit", PropertyScalar::String("k\0W".into()))]);
        let born = decode(
            &encode(vec![power, bad]),
            Kind::Birth,
            &source(),
            &mut births,
            10,
        )
        .unwrap();
        assert_eq!(born[0].as_ref().unwrap().unit.as_deref(), Some("kW"));
        assert_eq!(born[1].clone().unwrap_err().reason, Reason::BadName);
        assert_eq!(
            births.len(),
            1,
            "a metric whose unit is refused is not declared"
        );
        let data = encode(vec![metric(None, Some(1), 10, Value::Double(7.5))]);
        let r = decode(&data, Kind::Data, &source(), &mut births, 10).unwrap();
        let c = r[0].as_ref().unwrap();
        assert_eq!(
            (&*c.metric, c.unit.as_deref(), c.value),
            ("Inverter/ActivePower", Some("kW"), 7.5)
        );
        assert_eq!((c.declared.low, c.declared.high), (Some(0.0), Some(250.0)));
    }

    #[test]
    fn an_alias_declared_twice_belongs_to_the_last_name() {
        let mut births = Births::default();
        let d = |alias| Declaration {
            alias: Some(alias),
            ..Declaration::default()
        };
        births.declare("a".into(), d(1));
        births.declare("b".into(), d(1));
        births.declare("b".into(), d(2));
        assert_eq!((births.by_alias(1), births.by_alias(2)), (None, Some("b")));
        assert_eq!(births.get("a").unwrap().alias, None);
    }

    #[test]
    fn datatypes() {
        let mut aliases = Births::default();
        let data = encode(vec![
            metric(Some("i8"), None, INT8, Value::Int(0xFF)),
            metric(Some("i16"), None, INT16, Value::Int(0xFFFE)),
            metric(Some("i32"), None, INT32, Value::Int(u32::MAX)),
            metric(Some("u32"), None, 7, Value::Int(u32::MAX)),
            metric(Some("i64"), None, INT64, Value::Long(u64::MAX)),
            metric(Some("b"), None, 11, Value::Boolean(true)),
            metric(Some("s"), None, 12, Value::String("on".into())),
        ]);
        let r = decode(&data, Kind::Data, &source(), &mut aliases, usize::MAX).unwrap();
        let values: Vec<Result<f64, Reason>> = r
            .into_iter()
            .map(|c| c.map(|c| c.value).map_err(|e| e.reason))
            .collect();
        assert_eq!(
            values,
            vec![
                Ok(-1.0),
                Ok(-2.0),
                Ok(-1.0),
                Ok(4_294_967_295.0),
                Ok(-1.0),
                Ok(1.0),
                Err(Reason::BadValue)
            ]
        );
    }

    #[test]
    fn too_many_metrics_refuse_the_message_before_the_aliases_change() {
        let mut aliases = Births::default();
        aliases.declare(
            "kept".into(),
            Declaration {
                alias: Some(1),
                ..Declaration::default()
            },
        );
        let birth = encode(vec![
            metric(Some("a"), Some(2), 10, Value::Double(1.0)),
            metric(Some("b"), Some(3), 10, Value::Double(1.0)),
        ]);
        let e = decode(&birth, Kind::Birth, &source(), &mut aliases, 1).unwrap_err();
        assert_eq!(e.reason.code(), "too_many_readings");
        assert_eq!(aliases.len(), 1);
    }

    #[test]
    fn every_u64_alias_and_absurd_times() {
        let mut aliases = Births::default();
        let birth = encode(vec![
            metric(Some("big"), Some(u64::MAX), 10, Value::Double(1.0)),
            metric(Some("bad\0name"), Some(3), 10, Value::Double(1.0)),
        ]);
        decode(&birth, Kind::Birth, &source(), &mut aliases, usize::MAX).unwrap();
        assert_eq!(aliases.by_alias(u64::MAX), Some("big"));
        assert!(
            aliases.by_alias(3).is_none(),
            "a name with a NUL is not kept as an alias"
        );
        let mut far = metric(None, Some(u64::MAX), 10, Value::Double(2.0));
        far.timestamp = Some(u64::MAX);
        let r = decode(
            &encode(vec![far]),
            Kind::Data,
            &source(),
            &mut aliases,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(r[0].clone().unwrap_err().reason, Reason::BadTimestamp);
    }

    #[test]
    fn bad_messages() {
        let mut aliases = Births::default();
        let e = decode(
            &[0xff, 0xff, 0xff],
            Kind::Data,
            &source(),
            &mut aliases,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(e.reason.code(), "bad_protobuf");
        let unknown = encode(vec![metric(None, Some(9), 10, Value::Double(1.0))]);
        let r = decode(&unknown, Kind::Data, &source(), &mut aliases, usize::MAX).unwrap();
        assert_eq!(r[0].clone().unwrap_err().reason.code(), "unknown_alias");
        let mut null = metric(Some("x"), None, 10, Value::Double(1.0));
        null.is_null = Some(true);
        let r = decode(
            &encode(vec![null]),
            Kind::Data,
            &source(),
            &mut aliases,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(r[0].clone().unwrap_err().reason, Reason::MissingValue);
        let session_only = encode(vec![metric(Some("bdSeq"), None, 8, Value::Long(3))]);
        let e = decode(
            &session_only,
            Kind::Data,
            &source(),
            &mut aliases,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::BadPayload);
        assert!(decode(
            &session_only,
            Kind::Birth,
            &source(),
            &mut aliases,
            usize::MAX
        )
        .unwrap()
        .is_empty());
        for consumed in [Kind::Death, Kind::Command] {
            assert!(decode(b"", consumed, &source(), &mut aliases, usize::MAX)
                .unwrap()
                .is_empty());
        }
        assert_eq!(
            decode(b"", Kind::Other, &source(), &mut aliases, usize::MAX)
                .unwrap_err()
                .reason
                .code(),
            "not_telemetry"
        );
    }
}
