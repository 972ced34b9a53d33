//! Mutation fuzzing of everything a publisher controls: JSON and Sparkplug B payloads, topics
//! against route patterns, and the name, unit, quality and time parsers.
//!
//! Each target starts from real shapes (the seed documents' payloads, a Sparkplug birth and
//! data) and mutates them: bit flips, byte insertions and deletions, splices between seeds, and
//! tokens known to break parsers (NUL escapes, huge numbers, deep nesting). A target fails on a
//! panic or a broken invariant. `cargo test` runs a few thousand inputs per target; the full
//! run, a million each, is `scripts/fuzz.sh` (release build, `FUZZ_ITERATIONS`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use prost::Message as _;

use crate::metrics::{normalize_name, MetricCatalog, MetricRule};
use crate::names::{check_name, Names, MAX_NAME_CHARS};
use crate::payload::{decode_json, parse_time};
use crate::quality::SourceQuality;
use crate::routes::{Captures, Pattern};
use crate::sparkplug::{self, Kind, Source};
use crate::units::{Catalog, Unit};

/// xorshift64*: reproducible from its seed, which a failure prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"\\u0000",
    b"\\u001b",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"1e309",
    b"-1e309",
    b"NaN",
    b"9223372036854775808",
    b"18446744073709551616",
    b"-0",
    b"\"value\"",
    b"\"metrics\"",
    b"\"ts\"",
    b"\"unit\"",
    b"\"sensor_id\"",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xf0\x9f\x92\xa9",
    b"/",
    b"+",
    b"#",
    b"{site_id}",
    b"%",
    b"\x00",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if at < data.len() => {
                let end = (at + rng.below(16) + 1).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(64) + 1).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            5 if at < data.len() => {
                let end = (at + rng.below(32) + 1).min(data.len());
                let copy: Vec<u8> = data[at..end].to_vec();
                let times = rng.below(64);
                for _ in 0..times {
                    data.splice(at..at, copy.iter().copied());
                }
            }
            _ => {
                let depth = rng.below(300);
                data.splice(at..at, std::iter::repeat_n(b'[', depth));
            }
        }
    }
    data
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// Run `target` on `iterations()` mutated inputs; fail with the seed and input of a panic.
fn fuzz(name: &str, seeds: &[Vec<u8>], mut target: impl FnMut(&[u8])) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_u64 ^ name.len() as u64);
    let mut rng = Rng(seed | 1);
    let n = iterations();
    for i in 0..n {
        let input = mutate(&mut rng, seeds);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            panic!(
                "{name}: input {i} (FUZZ_SEED={seed}) panicked: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    eprintln!("{name}: {n} inputs, no panic");
}

fn json_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"event_id": "evt-001", "timestamp": 1638360000000, "site_id": "site-001", "asset_id": "asset-001", "sensor_type": "TEMPERATURE", "sensor_id": "temp-001", "value": 72.5, "unit": "celsius", "quality_flag": "GOOD"}"#,
        r#"{"siteId": "SITE-LOAD-001", "assetId": "ASSET-1", "timestamp": 1700000000000, "metrics": {"active_power_kw": 512.5, "temperature_c": 31.2}}"#,
        r#"[{"asset_id": "barn-3", "metric": "nh3", "value": 14.2, "unit": "ppm", "ts": "2025-06-01T14:00:00+02:00"}, {"metric": "RH", "value": "61.5", "ts": 1748779260, "quality": "UNCERTAIN"}]"#,
        r#"{"site": "s", "asset": "a", "ts": "2025-06-01T12:00:00Z", "metrics": {"soc": {"value": 55, "unit": "%", "quality": "0x80000000", "ts": "2025-06-01 12:00:01"}}}"#,
        r#"{"value": 1, "ts": 1748779200.5, "id": 7}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[test]
fn json_decoder() {
    let topic = Captures {
        site: Some("s1"),
        asset: Some("a1"),
        sensor: None,
        metric: Some("humidity"),
    };
    fuzz("json", &json_seeds(), |input| {
        let mut names = Names::default();
        if let Ok(readings) = decode_json(input, &topic, &Captures::default(), &mut names) {
            // Every reading takes bytes of its own in the payload: memory stays bounded by it.
            assert!(
                readings.len() <= input.len(),
                "{} readings from {} bytes",
                readings.len(),
                input.len()
            );
        }
    });
}

fn sparkplug_seeds() -> Vec<Vec<u8>> {
    let metric = |name: Option<&str>, alias: u64, value: sparkplug::Value| sparkplug::Metric {
        name: name.map(str::to_string),
        alias: Some(alias),
        timestamp: Some(1_748_779_200_000),
        datatype: Some(10),
        is_null: None,
        properties: None,
        value: Some(value),
    };
    let payload = |metrics| {
        sparkplug::Payload {
            timestamp: Some(1_748_779_200_000),
            metrics,
            seq: Some(1),
        }
        .encode_to_vec()
    };
    vec![
        payload(vec![
            metric(Some("bdSeq"), 0, sparkplug::Value::Long(1)),
            metric(
                Some("Discharge Pressure"),
                1,
                sparkplug::Value::Double(812.5),
            ),
            metric(Some("Motor/Temp"), u64::MAX, sparkplug::Value::Float(61.5)),
        ]),
        payload(vec![
            metric(None, 1, sparkplug::Value::Double(815.0)),
            metric(None, 7, sparkplug::Value::String("on".into())),
        ]),
        payload(vec![metric(None, 2, sparkplug::Value::Int(u32::MAX))]),
        payload(vec![sparkplug::Metric {
            properties: Some(sparkplug::PropertySet {
                keys: vec!["engUnit".into(), "engLow".into(), "engHigh".into()],
                values: [
                    sparkplug::PropertyScalar::String("degF".into()),
                    sparkplug::PropertyScalar::Float(-40.0),
                    sparkplug::PropertyScalar::Long(u64::MAX),
                ]
                .into_iter()
                .map(|v| sparkplug::PropertyValue {
                    datatype: None,
                    is_null: None,
                    value: Some(v),
                })
                .collect(),
            }),
            ..metric(Some("Motor/Temp"), 3, sparkplug::Value::Double(140.0))
        }]),
    ]
}

#[test]
fn sparkplug_decoder() {
    let source = Source {
        group: "g".into(),
        edge_node: "e".into(),
        device: "d".into(),
    };
    let mut aliases = sparkplug::Births::default();
    let mut turn = 0_usize;
    fuzz("sparkplug", &sparkplug_seeds(), |input| {
        turn += 1;
        let kind = if turn.is_multiple_of(3) {
            Kind::Birth
        } else {
            Kind::Data
        };
        if let Ok(readings) = sparkplug::decode(input, kind, &source, &mut aliases, 10_000) {
            assert!(readings.len() <= input.len());
            for (name, _) in aliases.iter() {
                assert!(!name.contains('\0'), "an alias kept a NUL");
            }
        }
    });
}

#[test]
fn topics_and_routes() {
    let patterns: Vec<Pattern> = [
        "telemetry/{site_id}/{asset_id}/{metric}",
        "site/{site_id}/{asset_type}/{asset_id}/{metric}",
        "smart-dairy/{site_id}/sensors/#",
        "spBv1.0/#",
        "+/+/{sensor_id}",
    ]
    .iter()
    .map(|p| Pattern::parse(p).expect("a valid pattern"))
    .collect();
    let seeds: Vec<Vec<u8>> = [
        "telemetry/site-001/asset-001/TEMPERATURE",
        "site/ALPHA-001/inverter/INV-01/power",
        "smart-dairy/farm-1/sensors/barn/3",
        "spBv1.0/plant-1/DDATA/edge-7/pump-3",
        "spBv1.0/plant-1/NBIRTH/edge-7",
        "telemetry/{site_id}/+/#",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("routes", &seeds, |input| {
        let topic = String::from_utf8_lossy(input);
        // A topic may be any pattern a DBA types, too.
        let _ = Pattern::parse(&topic);
        for p in &patterns {
            if let Some(c) = p.captures(&topic) {
                for part in [c.site, c.asset, c.sensor, c.metric].into_iter().flatten() {
                    assert!(
                        !part.is_empty() && !part.contains('/'),
                        "capture {part:?} of {topic:?}"
                    );
                }
            }
        }
        let _ = sparkplug::parse_topic(&topic);
    });
}

#[test]
fn names_units_qualities_times() {
    let units = Catalog::new(
        vec![
            Unit {
                code: "Cel".into(),
                dimension: "temperature".into(),
                factor: 1.0,
                offset: 273.15,
            },
            Unit {
                code: "kW".into(),
                dimension: "power".into(),
                factor: 1e3,
                offset: 0.0,
            },
            Unit {
                code: "%".into(),
                dimension: "ratio".into(),
                factor: 0.01,
                offset: 0.0,
            },
        ],
        vec![("celsius".into(), "Cel".into()), ("KW".into(), "kW".into())],
    );
    let metrics = MetricCatalog::new(
        vec![MetricRule {
            metric: "active_power".into(),
            unit: "kW".into(),
            valid_min: None,
            valid_max: None,
            max_rate_of_change: None,
            reviewed: true,
        }],
        vec![crate::metrics::Alias {
            alias: "p_ac".into(),
            metric: "active_power".into(),
            sensor: None,
        }],
    );
    let seeds: Vec<Vec<u8>> = [
        "ActivePowerKW",
        "temperature_c",
        "Folder/Sub Folder/Motor Temp",
        "SoC",
        "celsius",
        "°C",
        "GOOD",
        "Bad_SensorFailure",
        "0x80000000",
        "2025-06-01T12:00:00Z",
        "1748779200000",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("names", &seeds, |input| {
        let text = String::from_utf8_lossy(input);
        if let Ok(name) = normalize_name(&text) {
            assert!(!name.is_empty());
        }
        let _ = metrics.metric_name(&text, &units);
        let _ = metrics.rule_with_unit(&text, &units);
        let _ = units.resolve(&text);
        let _ = SourceQuality::parse(&text);
        let _ = parse_time(&serde_json::Value::String(text.to_string()));
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) {
            let _ = parse_time(&v);
        }
        if check_name("name", &text, MAX_NAME_CHARS).is_ok() {
            assert!(!text.chars().any(char::is_control) && text.chars().count() <= MAX_NAME_CHARS);
        }
    });
}
