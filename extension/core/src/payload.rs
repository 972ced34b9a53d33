//! Payload decoding: JSON as devices send it, into candidate readings.
//!
//! One decoder reads every JSON shape the seeds show: a single reading (`value`, `unit`,
//! `timestamp`, ...), a multi-metric object (`metrics: {name: value}`), and arrays of either.
//! Field names vary by vendor (`site_id` / `siteId`, `timestamp` / `ts` / `time`), so each field
//! has a list of accepted names.

use serde_json::{Map, Value};

use crate::names::{echo, Name, Names};
use crate::rejection::{reject, Reason, Rejection};
use crate::routes::Captures;

/// One reading as the payload gave it: names and unit as sent, value not yet converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub site: Name,
    pub asset: Name,
    pub sensor: Name,
    pub metric: Name,
    pub value: f64,
    pub unit: Option<Name>,
    /// Unix microseconds; `None` when the payload carried no time.
    pub time: Option<i64>,
    pub quality: Option<Name>,
    pub event_id: Option<Name>,
    /// The range the source declares for the metric (Sparkplug `engLow`, `engHigh`), in `unit`.
    pub declared: Declared,
}

/// What a source declares of a metric besides its name: its range, in the reading's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Declared {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The fields the decoder reads, and the names vendors give them: each key of an object is
/// matched once, and a lower rank wins when an object spells a field more than one way.
#[derive(Clone, Copy)]
enum Field {
    Site,
    Asset,
    Sensor,
    Metric,
    Value,
    Unit,
    Time,
    Quality,
    EventId,
}

const FIELD_COUNT: usize = 9;

fn classify(key: &str) -> Option<(Field, u8)> {
    use Field::*;
    Some(match key {
        "site_id" => (Site, 0),
        "siteId" => (Site, 1),
        "site" => (Site, 2),
        "asset_id" => (Asset, 0),
        "assetId" => (Asset, 1),
        "asset" => (Asset, 2),
        "device_id" => (Asset, 3),
        "deviceId" => (Asset, 4),
        "device" => (Asset, 5),
        "sensor_id" => (Sensor, 0),
        "sensorId" => (Sensor, 1),
        "sensor" => (Sensor, 2),
        "metric" => (Metric, 0),
        "metric_name" => (Metric, 1),
        "metricName" => (Metric, 2),
        "sensor_type" => (Metric, 3),
        "sensorType" => (Metric, 4),
        "name" => (Metric, 5),
        "value" => (Value, 0),
        "val" => (Value, 1),
        "v" => (Value, 2),
        "unit" => (Unit, 0),
        "units" => (Unit, 1),
        "uom" => (Unit, 2),
        "timestamp" => (Time, 0),
        "ts" => (Time, 1),
        "time" => (Time, 2),
        "t" => (Time, 3),
        "quality_flag" => (Quality, 0),
        "qualityFlag" => (Quality, 1),
        "quality" => (Quality, 2),
        "q" => (Quality, 3),
        "status" => (Quality, 4),
        "event_id" => (EventId, 0),
        "eventId" => (EventId, 1),
        "message_id" => (EventId, 2),
        "messageId" => (EventId, 3),
        "id" => (EventId, 4),
        _ => return None,
    })
}

/// The fields of one object, found in one pass over its keys; nulls are skipped.
#[derive(Default)]
struct Fields<'a> {
    found: [Option<(u8, &'a Value)>; FIELD_COUNT],
    /// A value key was present, even if null: a reading without a value, not a non-reading.
    value_key: bool,
    metrics: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn of(obj: &'a Map<String, Value>) -> Fields<'a> {
        let mut f = Fields::default();
        for (key, v) in obj {
            if key == "metrics" {
                f.metrics = Some(v);
                continue;
            }
            let Some((field, rank)) = classify(key) else {
                continue;
            };
            if matches!(field, Field::Value) {
                f.value_key = true;
            }
            let slot = &mut f.found[field as usize];
            if !v.is_null() && slot.is_none_or(|(r, _)| rank < r) {
                *slot = Some((rank, v));
            }
        }
        f
    }

    fn get(&self, field: Field) -> Option<&'a Value> {
        self.found[field as usize].map(|(_, v)| v)
    }

    fn text(&self, field: Field, names: &mut Names) -> Option<Name> {
        match self.get(field)? {
            Value::String(s) if !s.trim().is_empty() => Some(names.get(s.trim())),
            Value::Number(n) => Some(names.get(&n.to_string())),
            _ => None,
        }
    }
}

/// Identity and context inherited from the topic and from enclosing JSON objects.
#[derive(Debug, Default, Clone)]
struct Inherited {
    site: Option<Name>,
    asset: Option<Name>,
    sensor: Option<Name>,
    metric: Option<Name>,
    unit: Option<Name>,
    time: Option<i64>,
    quality: Option<Name>,
    event_id: Option<Name>,
}

impl Inherited {
    /// Fields of an object fill what the topic left open; the topic wins, since the broker's
    /// access control vouches for it and the payload may be any device's claim.
    fn with(&self, f: &Fields, names: &mut Names) -> Result<Inherited, Rejection> {
        let time = match f.get(Field::Time) {
            Some(t) => Some(parse_time(t)?),
            None => self.time,
        };
        Ok(Inherited {
            site: self.site.clone().or_else(|| f.text(Field::Site, names)),
            asset: self.asset.clone().or_else(|| f.text(Field::Asset, names)),
            sensor: self.sensor.clone().or_else(|| f.text(Field::Sensor, names)),
            metric: self.metric.clone().or_else(|| f.text(Field::Metric, names)),
            unit: f.text(Field::Unit, names).or_else(|| self.unit.clone()),
            time,
            quality: f
                .text(Field::Quality, names)
                .or_else(|| self.quality.clone()),
            event_id: f
                .text(Field::EventId, names)
                .or_else(|| self.event_id.clone()),
        })
    }

    /// Fill what is still open from the route's fixed values.
    fn or(self, fallback: &Inherited) -> Inherited {
        Inherited {
            site: self.site.or_else(|| fallback.site.clone()),
            asset: self.asset.or_else(|| fallback.asset.clone()),
            sensor: self.sensor.or_else(|| fallback.sensor.clone()),
            metric: self.metric.or_else(|| fallback.metric.clone()),
            ..self
        }
    }

    fn candidate(self, value: &Value) -> Result<Candidate, Rejection> {
        let missing = |what: &str| {
            reject(
                Reason::MissingField,
                format!("no {what} in the topic or the payload"),
            )
        };
        let metric = self.metric.ok_or_else(|| missing("metric"))?;
        let value = parse_value(value).map_err(|r| Rejection {
            detail: format!("{metric}: {}", r.detail),
            ..r
        })?;
        Ok(Candidate {
            site: self.site.ok_or_else(|| missing("site_id"))?,
            asset: self.asset.ok_or_else(|| missing("asset_id"))?,
            sensor: self.sensor.unwrap_or_default(),
            metric,
            value,
            unit: self.unit,
            time: self.time,
            quality: self.quality,
            event_id: self.event_id,
            declared: Declared::default(),
        })
    }
}

fn parse_value(v: &Value) -> Result<f64, Rejection> {
    match v {
        Value::Null => Err(reject(Reason::MissingValue, "value is null")),
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| reject(Reason::BadValue, format!("value {n} is not a double"))),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            reject(
                Reason::BadValue,
                format!("value {} is not a number", echo(s)),
            )
        }),
        _ => Err(reject(
            Reason::BadValue,
            "value is an object or an array, not a number",
        )),
    }
}

/// Plausible epoch values span 1970 to 9999; the magnitude tells seconds from ms, us and ns.
fn epoch_to_micros(x: f64) -> Result<i64, Rejection> {
    const MAX_SECONDS: f64 = 253_402_300_800.0; // 10000-01-01
    let micros = match x.abs() {
        a if a < MAX_SECONDS => x * 1e6,
        a if a < MAX_SECONDS * 1e3 => x * 1e3,
        a if a < MAX_SECONDS * 1e6 => x,
        a if a < MAX_SECONDS * 1e9 => x / 1e3,
        _ => {
            return Err(reject(
                Reason::BadTimestamp,
                format!("epoch value {x} is beyond year 9999"),
            ))
        }
    };
    if !(0.0..MAX_SECONDS * 1e6).contains(&micros) {
        return Err(reject(
            Reason::BadTimestamp,
            format!("epoch value {x} is before 1970"),
        ));
    }
    Ok(micros.round() as i64)
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds (number or digit string), or
/// ISO 8601 / RFC 3339 text; text without an offset is taken as UTC.
pub fn parse_time(v: &Value) -> Result<i64, Rejection> {
    match v {
        Value::Number(n) => epoch_to_micros(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(x) = s.parse::<f64>() {
                return epoch_to_micros(x);
            }
            parse_iso8601(s).ok_or_else(|| {
                reject(
                    Reason::BadTimestamp,
                    format!("timestamp {} is not ISO 8601 or epoch", echo(s)),
                )
            })
        }
        _ => Err(reject(
            Reason::BadTimestamp,
            "timestamp is neither a number nor a string",
        )),
    }
}

fn parse_iso8601(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDateTime};
    let t = if s.len() > 10 && s.as_bytes()[10] == b' ' {
        format!("{}T{}", &s[..10], &s[11..])
    } else {
        s.to_string()
    };
    let micros = DateTime::parse_from_rfc3339(&t)
        .map(|d| d.timestamp_micros())
        .or_else(|_| {
            DateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f%#z").map(|d| d.timestamp_micros())
        })
        .or_else(|_| {
            NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|d| d.and_utc().timestamp_micros())
        })
        .ok()?;
    (0..253_402_300_800_000_000)
        .contains(&micros)
        .then_some(micros)
}

/// Decode a JSON payload into readings. The topic's captures come first, then the payload's
/// fields, then the route's `fallback` values. `Err` rejects the whole message; each `Ok`
/// element is one reading or one rejected reading.
pub fn decode_json(
    payload: &[u8],
    topic: &Captures,
    fallback: &Captures,
    names: &mut Names,
) -> Result<Vec<Result<Candidate, Rejection>>, Rejection> {
    let doc: Value =
        serde_json::from_slice(payload).map_err(|e| reject(Reason::BadJson, e.to_string()))?;
    let base = Inherited::of(topic, names);
    let fallback = Inherited::of(fallback, names);
    let mut out = Vec::new();
    match &doc {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(obj) => decode_object(obj, &base, &fallback, names, &mut out),
                    _ => out.push(Err(reject(
                        Reason::BadPayload,
                        "array element is not an object",
                    ))),
                }
            }
        }
        Value::Object(obj) => decode_object(obj, &base, &fallback, names, &mut out),
        _ => {
            return Err(reject(
                Reason::BadPayload,
                "payload is neither a JSON object nor an array",
            ))
        }
    }
    if out.is_empty() {
        return Err(reject(Reason::BadPayload, "payload holds no readings"));
    }
    Ok(out)
}

impl Inherited {
    fn of(c: &Captures<'_>, names: &mut Names) -> Inherited {
        Inherited {
            site: c.site.map(|s| names.get(s)),
            asset: c.asset.map(|s| names.get(s)),
            sensor: c.sensor.map(|s| names.get(s)),
            metric: c.metric.map(|s| names.get(s)),
            ..Inherited::default()
        }
    }
}

fn decode_object(
    obj: &Map<String, Value>,
    base: &Inherited,
    fallback: &Inherited,
    names: &mut Names,
    out: &mut Vec<Result<Candidate, Rejection>>,
) {
    let fields = Fields::of(obj);
    let ctx = match base.with(&fields, names) {
        Ok(c) => c,
        Err(r) => return out.push(Err(r)),
    };
    if let Some(metrics) = fields.metrics {
        let Value::Object(metrics) = metrics else {
            return out.push(Err(reject(
                Reason::BadPayload,
                "\"metrics\" is not an object",
            )));
        };
        for (name, v) in metrics {
            let named = Inherited {
                metric: Some(names.get(name)),
                ..ctx.clone()
            };
            out.push(match v {
                Value::Object(inner) => {
                    let inner = Fields::of(inner);
                    named.with(&inner, names).and_then(|c| {
                        let value = inner.get(Field::Value).unwrap_or(&Value::Null);
                        c.or(fallback).candidate(value)
                    })
                }
                scalar => named.or(fallback).candidate(scalar),
            });
        }
        return;
    }
    let ctx = ctx.or(fallback);
    match fields.get(Field::Value) {
        Some(v) => out.push(ctx.candidate(v)),
        None if fields.value_key => out.push(ctx.candidate(&Value::Null)),
        None => out.push(Err(reject(
            Reason::MissingValue,
            "no \"value\" and no \"metrics\" in the object",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(payload: &str) -> Result<Vec<Result<Candidate, Rejection>>, Rejection> {
        decode_json(
            payload.as_bytes(),
            &Captures::default(),
            &Captures::default(),
            &mut Names::default(),
        )
    }

    fn one(payload: &str) -> Candidate {
        let mut v = decode(payload).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0).unwrap()
    }

    #[test]
    fn seed_001_single_reading() {
        let c = one(
            r#"{"event_id": "evt-001", "timestamp": 1638360000000, "site_id": "site-001",
            "asset_id": "asset-001", "sensor_type": "TEMPERATURE", "sensor_id": "temp-001",
            "value": 72.5, "unit": "celsius", "quality_flag": "GOOD"}"#,
        );
        assert_eq!(c.site, "site-001");
        assert_eq!(c.asset, "asset-001");
        assert_eq!(c.sensor, "temp-001");
        assert_eq!(c.metric, "TEMPERATURE");
        assert_eq!(c.value, 72.5);
        assert_eq!(c.unit.as_deref(), Some("celsius"));
        assert_eq!(c.time, Some(1_638_360_000_000_000));
        assert_eq!(c.quality.as_deref(), Some("GOOD"));
        assert_eq!(c.event_id.as_deref(), Some("evt-001"));
    }

    #[test]
    fn seed_000_multi_metric() {
        let v = decode(
            r#"{"siteId": "SITE-LOAD-001", "assetId": "ASSET-1", "timestamp": 1700000000000,
            "metrics": {"active_power_kw": 512.5, "temperature_c": 31.2}}"#,
        )
        .unwrap();
        let c: Vec<Candidate> = v.into_iter().map(Result::unwrap).collect();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].metric, "active_power_kw");
        assert_eq!(c[1].value, 31.2);
        assert!(c
            .iter()
            .all(|c| c.site == "SITE-LOAD-001" && c.time == Some(1_700_000_000_000_000)));
    }

    #[test]
    fn multi_metric_entries_may_carry_their_own_fields() {
        let v = decode(r#"{"site": "s", "asset": "a", "ts": "2025-06-01T12:00:00Z",
            "metrics": {"soc": {"value": 55, "unit": "%", "quality": "UNCERTAIN", "ts": "2025-06-01T12:00:01Z"}}}"#)
        .unwrap();
        let c = v[0].clone().unwrap();
        assert_eq!(
            (c.unit.as_deref(), c.quality.as_deref()),
            (Some("%"), Some("UNCERTAIN"))
        );
        assert_eq!(c.time, Some(1_748_779_201_000_000));
    }

    #[test]
    fn arrays_and_topic_captures() {
        let topic = Captures {
            site: Some("s1"),
            asset: Some("a1"),
            sensor: None,
            metric: Some("humidity"),
        };
        let v = decode_json(
            br#"[{"value": 40, "ts": 1700000000}, {"value": "41.5", "ts": 1700000001}, 7]"#,
            &topic,
            &Captures::default(),
            &mut Names::default(),
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        let first = v[0].clone().unwrap();
        assert_eq!(
            (&*first.site, &*first.metric, first.value),
            ("s1", "humidity", 40.0)
        );
        assert_eq!(v[1].clone().unwrap().value, 41.5);
        assert_eq!(v[2].clone().unwrap_err().reason, Reason::BadPayload);
    }

    #[test]
    fn topic_wins_over_payload() {
        let topic = Captures {
            site: Some("from-topic"),
            ..Captures::default()
        };
        let route = Captures {
            site: Some("from-route"),
            asset: Some("from-route"),
            ..Captures::default()
        };
        let v = decode_json(
            br#"{"site_id": "from-payload", "asset_id": "a", "metric": "m", "value": 1}"#,
            &topic,
            &route,
            &mut Names::default(),
        )
        .unwrap();
        let c = v[0].clone().unwrap();
        assert_eq!((&*c.site, &*c.asset), ("from-topic", "a"));
        let v = decode_json(
            br#"{"metrics": {"m": 1}}"#,
            &Captures::default(),
            &route,
            &mut Names::default(),
        )
        .unwrap();
        assert_eq!(v[0].clone().unwrap().asset, "from-route");
    }

    #[test]
    fn timestamps() {
        let t = |s: &str| parse_time(&serde_json::from_str(s).unwrap());
        let want = Ok(1_748_779_200_000_000);
        assert_eq!(t("1748779200"), want);
        assert_eq!(t("1748779200000"), want);
        assert_eq!(t("1748779200000000"), want);
        assert_eq!(t("1748779200000000000"), want);
        assert_eq!(t("\"1748779200\""), want);
        assert_eq!(t("1748779200.5"), Ok(1_748_779_200_500_000));
        assert_eq!(t("\"2025-06-01T12:00:00Z\""), want);
        assert_eq!(t("\"2025-06-01T14:00:00+02:00\""), want);
        assert_eq!(t("\"2025-06-01 12:00:00+00\""), want);
        assert_eq!(t("\"2025-06-01T12:00:00\""), want);
        assert_eq!(
            t("\"2025-06-01T12:00:00.123456Z\""),
            Ok(1_748_779_200_123_456)
        );
        for bad in [
            "\"yesterday\"",
            "-5",
            "1e30",
            "true",
            "\"\"",
            "\"2025-13-01T00:00:00Z\"",
        ] {
            assert_eq!(t(bad).unwrap_err().reason, Reason::BadTimestamp, "{bad}");
        }
    }

    #[test]
    fn bad_messages() {
        assert_eq!(decode("{not json").unwrap_err().reason, Reason::BadJson);
        assert_eq!(decode("").unwrap_err().reason, Reason::BadJson);
        assert_eq!(decode("42").unwrap_err().reason, Reason::BadPayload);
        assert_eq!(decode("[]").unwrap_err().reason, Reason::BadPayload);
        assert_eq!(
            decode(r#"{"metrics": 5}"#).unwrap()[0]
                .clone()
                .unwrap_err()
                .reason,
            Reason::BadPayload
        );
        let none = Captures::default();
        assert_eq!(
            decode_json(&[0xff, 0xfe], &none, &none, &mut Names::default())
                .unwrap_err()
                .reason,
            Reason::BadJson
        );
    }

    #[test]
    fn bad_readings() {
        let r = |p: &str| decode(p).unwrap().remove(0).unwrap_err().reason;
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "metric": "m", "value": null}"#),
            Reason::MissingValue
        );
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "metric": "m"}"#),
            Reason::MissingValue
        );
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "metric": "m", "value": "hot"}"#),
            Reason::BadValue
        );
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "metric": "m", "value": [1]}"#),
            Reason::BadValue
        );
        assert_eq!(
            r(r#"{"asset_id": "a", "metric": "m", "value": 1}"#),
            Reason::MissingField
        );
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "value": 1}"#),
            Reason::MissingField
        );
        assert_eq!(
            r(r#"{"site_id": "s", "asset_id": "a", "metric": "m", "value": 1, "ts": "soon"}"#),
            Reason::BadTimestamp
        );
    }

    #[test]
    fn no_time_means_none() {
        assert_eq!(
            one(r#"{"site_id": "s", "asset_id": "a", "metric": "m", "value": 1}"#).time,
            None
        );
    }
}
