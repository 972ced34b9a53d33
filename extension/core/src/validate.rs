//! Range validation of a value against its metric's rule.

use crate::metrics::MetricRule;

/// Outcome of validating one value; the SQL enum `telemetry.validation_status` has these labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BelowMin,
    AboveMax,
    NotFinite,
    Missing,
    UnknownMetric,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::BelowMin,
        Status::AboveMax,
        Status::NotFinite,
        Status::Missing,
        Status::UnknownMetric,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::BelowMin => "below_min",
            Status::AboveMax => "above_max",
            Status::NotFinite => "not_finite",
            Status::Missing => "missing",
            Status::UnknownMetric => "unknown_metric",
        }
    }
}

/// Validate a value, in its metric's canonical unit. A missing or non-finite value is judged
/// before the metric is looked at: it is bad whatever the metric.
pub fn check(rule: Option<&MetricRule>, value: Option<f64>) -> Status {
    let Some(v) = value else {
        return Status::Missing;
    };
    if !v.is_finite() {
        return Status::NotFinite;
    }
    let Some(rule) = rule else {
        return Status::UnknownMetric;
    };
    match (rule.valid_min, rule.valid_max) {
        (Some(min), _) if v < min => Status::BelowMin,
        (_, Some(max)) if v > max => Status::AboveMax,
        _ => Status::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    fn rule(min: Option<f64>, max: Option<f64>) -> MetricRule {
        MetricRule {
            metric: "m".into(),
            unit: "Cel".into(),
            valid_min: min,
            valid_max: max,
            max_rate_of_change: None,
            reviewed: true,
        }
    }

    #[test]
    fn statuses() {
        let r = rule(Some(-40.0), Some(60.0));
        assert_eq!(check(Some(&r), Some(20.0)), Ok);
        assert_eq!(check(Some(&r), Some(-40.0)), Ok);
        assert_eq!(check(Some(&r), Some(60.0)), Ok);
        assert_eq!(check(Some(&r), Some(-40.1)), BelowMin);
        assert_eq!(check(Some(&r), Some(60.1)), AboveMax);
        assert_eq!(check(Some(&r), Some(f64::NAN)), NotFinite);
        assert_eq!(check(Some(&r), Some(f64::NEG_INFINITY)), NotFinite);
        assert_eq!(check(Some(&r), None), Missing);
        assert_eq!(check(None, Some(1.0)), UnknownMetric);
        assert_eq!(check(None, None), Missing);
    }

    #[test]
    fn open_bounds() {
        assert_eq!(check(Some(&rule(None, Some(1.0))), Some(-1e300)), Ok);
        assert_eq!(check(Some(&rule(Some(0.0), None)), Some(1e300)), Ok);
        assert_eq!(check(Some(&rule(None, None)), Some(f64::MAX)), Ok);
    }
}
