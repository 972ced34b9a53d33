//! Quality scoring: a score 0..1 from completeness, validity, consistency and timeliness
//! (seed 002 sections 6.2 and 8.1), multiplied by what the source itself reported.
//!
//! A component that cannot be judged (no rule for the metric, no history, no source time)
//! is left out and the remaining weights are renormalised, so missing context neither
//! rewards nor punishes a reading.

use crate::metrics::MetricRule;
use crate::names::echo;
use crate::validate::{check, Status};

/// Quality the source reported, after OPC UA's severity (status code bits 31..30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceQuality {
    Good,
    Uncertain,
    Bad,
}

impl SourceQuality {
    /// Parse GOOD / UNCERTAIN / BAD (any case, OPC UA names such as `Bad_SensorFailure`
    /// included) or a numeric OPC UA status code, decimal or `0x` hex. Empty means not reported.
    pub fn parse(text: &str) -> Result<SourceQuality, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(SourceQuality::Good);
        }
        let code = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => t.parse::<u32>().ok(),
        };
        if let Some(code) = code {
            return Ok(match code >> 30 {
                0 => SourceQuality::Good,
                1 => SourceQuality::Uncertain,
                _ => SourceQuality::Bad,
            });
        }
        let lower = t.to_ascii_lowercase();
        [
            ("good", SourceQuality::Good),
            ("uncertain", SourceQuality::Uncertain),
            ("bad", SourceQuality::Bad),
        ]
        .into_iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, q)| q)
        .ok_or_else(|| format!("unknown source quality {}", echo(text)))
    }

    /// The code stored in `telemetry.readings.source_quality`.
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// Quality flags, as stored in `telemetry.readings.flags`.
pub const FLAGS: [(i32, &str); 12] = [
    (1, "out_of_range"),
    (1 << 1, "not_finite"),
    (1 << 2, "unknown_metric"),
    (1 << 3, "spike"),
    (1 << 4, "anomaly"),
    (1 << 5, "late"),
    (1 << 6, "future"),
    (1 << 7, "no_source_time"),
    (1 << 8, "source_uncertain"),
    (1 << 9, "source_bad"),
    (1 << 10, "converted"),
    (1 << 11, "no_rule"),
];

/// The bit of a named flag.
pub fn flag(name: &str) -> i32 {
    FLAGS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(0, |(bit, _)| *bit)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub completeness: f64,
    pub validity: f64,
    pub consistency: f64,
    pub timeliness: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub weights: Weights,
    pub timeliness_threshold_s: f64,
    pub max_clock_skew_s: f64,
    pub uncertain_factor: f64,
    pub anomaly_z: f64,
}

/// One reading as the scorer sees it; the value is in the metric's canonical unit.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    pub rule: Option<&'a MetricRule>,
    pub value: Option<f64>,
    pub has_source_time: bool,
    /// Ingestion time minus source time, in seconds; `None` when either is unknown.
    pub delay_s: Option<f64>,
    /// The previous value and the seconds since it.
    pub previous: Option<(f64, f64)>,
    /// Recent mean and standard deviation of the series.
    pub recent: Option<(f64, f64)>,
    pub source: SourceQuality,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// `None` when the component does not apply to this reading.
    pub score: Option<f64>,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub completeness: Component,
    pub validity: Component,
    pub consistency: Component,
    pub timeliness: Component,
    pub status: Status,
    pub rate: Option<f64>,
    pub z: Option<f64>,
    pub delay_s: Option<f64>,
    pub source_factor: f64,
    pub score: f64,
    pub flags: i32,
}

impl Assessment {
    pub fn components(&self) -> [(&'static str, Component); 4] {
        [
            ("completeness", self.completeness),
            ("validity", self.validity),
            ("consistency", self.consistency),
            ("timeliness", self.timeliness),
        ]
    }
}

pub fn assess(r: &Reading, p: &Params) -> Assessment {
    let mut flags = 0;
    let status = check(r.rule, r.value);
    let finite_value = r.value.filter(|v| v.is_finite());

    let completeness = f64::from(u8::from(r.value.is_some()) + u8::from(r.has_source_time)) / 2.0;
    if !r.has_source_time {
        flags |= flag("no_source_time");
    }

    let validity = match status {
        Status::Ok => Some(1.0),
        Status::UnknownMetric => {
            flags |= flag("unknown_metric");
            None
        }
        Status::BelowMin | Status::AboveMax => {
            flags |= flag("out_of_range");
            Some(0.0)
        }
        Status::NotFinite => {
            flags |= flag("not_finite");
            Some(0.0)
        }
        Status::Missing => Some(0.0),
    };

    let rate = match (
        finite_value,
        r.previous,
        r.rule.and_then(|x| x.max_rate_of_change),
    ) {
        (Some(v), Some((pv, dt)), Some(_)) if dt > 0.0 && pv.is_finite() => {
            Some((v - pv).abs() / dt)
        }
        _ => None,
    };
    let rate_score = rate
        .zip(r.rule.and_then(|x| x.max_rate_of_change))
        .map(|(rate, max)| {
            if rate <= max {
                1.0
            } else {
                flags |= flag("spike");
                max / rate
            }
        });
    let z = match (finite_value, r.recent) {
        (Some(v), Some((mean, sd))) if mean.is_finite() && sd.is_finite() && sd >= 0.0 => {
            let dev = (v - mean).abs();
            Some(if dev == 0.0 { 0.0 } else { dev / sd })
        }
        _ => None,
    };
    let z_score = z.map(|z| {
        if z <= p.anomaly_z {
            1.0
        } else {
            flags |= flag("anomaly");
            (2.0 - z / p.anomaly_z).max(0.0)
        }
    });
    let consistency = match (rate_score, z_score) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    let timeliness = r.delay_s.map(|d| {
        if d < -p.max_clock_skew_s {
            flags |= flag("future");
            0.0
        } else if d <= p.timeliness_threshold_s {
            1.0
        } else {
            flags |= flag("late");
            p.timeliness_threshold_s / d
        }
    });

    let source_factor = match r.source {
        SourceQuality::Good => 1.0,
        SourceQuality::Uncertain => {
            flags |= flag("source_uncertain");
            p.uncertain_factor
        }
        SourceQuality::Bad => {
            flags |= flag("source_bad");
            0.0
        }
    };

    let w = p.weights;
    let a = Assessment {
        completeness: Component {
            score: Some(completeness),
            weight: w.completeness,
        },
        validity: Component {
            score: validity,
            weight: w.validity,
        },
        consistency: Component {
            score: consistency,
            weight: w.consistency,
        },
        timeliness: Component {
            score: timeliness,
            weight: w.timeliness,
        },
        status,
        rate,
        z,
        delay_s: r.delay_s,
        source_factor,
        score: 0.0,
        flags,
    };
    let (sum, weight) = a
        .components()
        .iter()
        .filter_map(|(_, c)| c.score.map(|s| (s * c.weight, c.weight)))
        .fold((0.0, 0.0), |(s, w), (cs, cw)| (s + cs, w + cw));
    let base = if weight > 0.0 { sum / weight } else { 1.0 };
    Assessment {
        score: round6((base * source_factor).clamp(0.0, 1.0)),
        ..a
    }
}

/// Six decimals is finer than any use of a score and hides float noise (0.8999999999999999).
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// What one component of a score rests on, in words, for `quality_explain`.
pub fn describe(component: &str, a: &Assessment) -> String {
    let applies = |c: Component, text: String| match c.score {
        Some(_) => text,
        None => format!("not applicable: {text}"),
    };
    match component {
        "completeness" => "half for a value, half for a source timestamp".into(),
        "validity" => applies(a.validity, format!("range check: {}", a.status.label())),
        "consistency" => applies(
            a.consistency,
            match (a.rate, a.z) {
                (None, None) => "no previous value with a rate rule, no recent statistics".into(),
                (r, z) => [
                    r.map(|r| format!("rate of change {r:.6}/s")),
                    z.map(|z| format!("{z:.3} standard deviations from the recent mean")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            },
        ),
        _ => applies(
            a.timeliness,
            match a.delay_s {
                Some(d) => {
                    format!("ingestion delay {d:.3} s against telemetry.timeliness_threshold")
                }
                None => "no source timestamp".into(),
            },
        ),
    }
}

/// The names of the flags set in a bitmask.
pub fn flag_list(flags: i32) -> Vec<String> {
    FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            weights: Weights {
                completeness: 0.30,
                validity: 0.30,
                consistency: 0.25,
                timeliness: 0.15,
            },
            timeliness_threshold_s: 300.0,
            max_clock_skew_s: 60.0,
            uncertain_factor: 0.5,
            anomaly_z: 3.0,
        }
    }

    fn rule() -> MetricRule {
        MetricRule {
            metric: "temperature".into(),
            unit: "Cel".into(),
            valid_min: Some(-50.0),
            valid_max: Some(200.0),
            max_rate_of_change: Some(1.0),
            reviewed: true,
        }
    }

    fn reading(rule: &MetricRule) -> Reading<'_> {
        Reading {
            rule: Some(rule),
            value: Some(20.0),
            has_source_time: true,
            delay_s: Some(1.0),
            previous: Some((19.5, 10.0)),
            recent: Some((20.0, 1.0)),
            source: SourceQuality::Good,
        }
    }

    #[test]
    fn perfect_reading_scores_one() {
        let r = rule();
        let a = assess(&reading(&r), &params());
        assert_eq!(a.score, 1.0);
        assert_eq!(a.flags, 0);
    }

    #[test]
    fn out_of_range_loses_the_validity_weight() {
        let r = rule();
        let a = assess(
            &Reading {
                value: Some(250.0),
                previous: None,
                recent: None,
                ..reading(&r)
            },
            &params(),
        );
        // completeness 1 * .30 + validity 0 * .30 + timeliness 1 * .15, over .75 (consistency n/a)
        assert!((a.score - 0.45 / 0.75).abs() < 1e-12, "{}", a.score);
        assert_eq!(flag_list(a.flags), ["out_of_range"]);
    }

    #[test]
    fn unknown_metric_renormalises_instead_of_punishing() {
        let a = assess(
            &Reading {
                rule: None,
                previous: None,
                recent: None,
                ..reading(&rule())
            },
            &params(),
        );
        assert_eq!(a.score, 1.0);
        assert_eq!(a.validity.score, None);
        assert_eq!(flag_list(a.flags), ["unknown_metric"]);
    }

    #[test]
    fn spikes_and_anomalies_lower_consistency() {
        let r = rule();
        let spike = assess(
            &Reading {
                previous: Some((10.0, 5.0)),
                recent: None,
                ..reading(&r)
            },
            &params(),
        );
        assert!((spike.consistency.score.unwrap() - 0.5).abs() < 1e-12);
        assert!(spike.flags & flag("spike") != 0);
        let z45 = assess(
            &Reading {
                value: Some(24.5),
                previous: None,
                ..reading(&r)
            },
            &params(),
        );
        assert!((z45.consistency.score.unwrap() - 0.5).abs() < 1e-12);
        assert!(z45.flags & flag("anomaly") != 0);
        let flat = assess(
            &Reading {
                previous: None,
                recent: Some((21.0, 0.0)),
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(flat.consistency.score, Some(0.0));
    }

    #[test]
    fn late_future_and_missing_time() {
        let r = rule();
        let late = assess(
            &Reading {
                delay_s: Some(600.0),
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(late.timeliness.score, Some(0.5));
        assert_eq!(flag_list(late.flags), ["late"]);
        let future = assess(
            &Reading {
                delay_s: Some(-61.0),
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(future.timeliness.score, Some(0.0));
        let skewed = assess(
            &Reading {
                delay_s: Some(-59.0),
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(skewed.timeliness.score, Some(1.0));
        let untimed = assess(
            &Reading {
                has_source_time: false,
                delay_s: None,
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(untimed.completeness.score, Some(0.5));
        assert_eq!(untimed.timeliness.score, None);
        // A source time without an ingestion time is complete, just not judged for timeliness.
        let unjudged = assess(
            &Reading {
                delay_s: None,
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(unjudged.completeness.score, Some(1.0));
        assert_eq!(unjudged.flags, 0);
        let infinite = assess(
            &Reading {
                delay_s: Some(f64::INFINITY),
                ..reading(&r)
            },
            &params(),
        );
        assert_eq!(infinite.timeliness.score, Some(0.0));
    }

    #[test]
    fn missing_and_non_finite_values() {
        let r = rule();
        for v in [None, Some(f64::NAN), Some(f64::INFINITY)] {
            let a = assess(
                &Reading {
                    value: v,
                    ..reading(&r)
                },
                &params(),
            );
            assert_eq!(a.validity.score, Some(0.0));
            assert_eq!(a.consistency.score, None);
            assert!(a.score.is_finite() && a.score < 1.0);
        }
    }

    #[test]
    fn source_quality_multiplies() {
        let r = rule();
        let p = params();
        assert_eq!(
            assess(
                &Reading {
                    source: SourceQuality::Uncertain,
                    ..reading(&r)
                },
                &p
            )
            .score,
            0.5
        );
        assert_eq!(
            assess(
                &Reading {
                    source: SourceQuality::Bad,
                    ..reading(&r)
                },
                &p
            )
            .score,
            0.0
        );
    }

    #[test]
    fn zero_weights_do_not_divide_by_zero() {
        let r = rule();
        let p = Params {
            weights: Weights {
                completeness: 0.0,
                validity: 0.0,
                consistency: 0.0,
                timeliness: 0.0,
            },
            ..params()
        };
        assert_eq!(assess(&reading(&r), &p).score, 1.0);
    }

    #[test]
    fn parses_source_quality() {
        use SourceQuality::*;
        for (text, want) in [
            ("GOOD", Good),
            ("good", Good),
            ("Uncertain", Uncertain),
            ("BAD", Bad),
            ("Bad_SensorFailure", Bad),
            ("UncertainLastUsableValue", Uncertain),
            ("0", Good),
            ("0x40000000", Uncertain),
            ("0x808D0000", Bad),
            ("2156724224", Bad),
            ("", Good),
            ("  ", Good),
        ] {
            assert_eq!(SourceQuality::parse(text), Ok(want), "{text}");
        }
        for bad in ["excellent", "-1", "0xZZ", "99999999999"] {
            assert!(SourceQuality::parse(bad).is_err(), "{bad}");
        }
    }
}
