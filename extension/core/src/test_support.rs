//! The catalogues, limits and messages the cleaning tests share.

use prost::Message as _;

use crate::batch::{Broker, Clean, Message};
use crate::clean::{clean, Catalogs, Cleaned, Limits, SparkplugState};
use crate::metrics::{MetricCatalog, MetricRule};
use crate::quality::{Params, Weights};
use crate::routes::{Format, Pattern, Route};
use crate::units::{Catalog, Unit};

pub(crate) const NOW: i64 = 1_748_779_205_000_000; // 2025-06-01 12:00:05 UTC

pub(crate) struct Fixture {
    pub(crate) units: Catalog,
    pub(crate) metrics: MetricCatalog,
    pub(crate) routes: Vec<Route>,
}

pub(crate) fn fixture() -> Fixture {
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

pub(crate) fn limits() -> Limits {
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

pub(crate) fn message(topic: &str, payload: &[u8]) -> Message {
    Message {
        received_at: Some(NOW),
        topic: topic.into(),
        payload: payload.to_vec(),
        payload_bytes: None,
        broker: Broker::default(),
    }
}

/// Clean a batch; the stored readings and the dead letters' reasons.
pub(crate) fn run(
    batch: &[Message],
    state: &mut SparkplugState,
) -> (Vec<Clean>, Vec<&'static str>) {
    let (cleaned, dead) = run_with(batch, state, &limits());
    (cleaned.readings, dead)
}

pub(crate) fn run_with(
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

pub(crate) fn sparkplug(metrics: Vec<crate::sparkplug::Metric>) -> Vec<u8> {
    crate::sparkplug::Payload {
        timestamp: Some(1_748_779_200_000),
        metrics,
        seq: Some(0),
    }
    .encode_to_vec()
}

pub(crate) fn metric(name: Option<&str>, alias: u64, value: f64) -> crate::sparkplug::Metric {
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
