//! Range validation of a value against its metric's rule.

use pgrx::prelude::*;

use crate::metrics::MetricRule;
use crate::registry;

/// Outcome of validating one value. The SQL enum `telemetry.validation_status` spells these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PostgresEnum)]
#[allow(non_camel_case_types)]
pub enum validation_status {
    ok,
    below_min,
    above_max,
    not_finite,
    missing,
    unknown_metric,
}

/// Validate a value, in its metric's canonical unit. A missing or non-finite value is judged
/// before the metric is looked at: it is bad whatever the metric.
pub fn check(rule: Option<&MetricRule>, value: Option<f64>) -> validation_status {
    use validation_status::*;
    let Some(v) = value else { return missing };
    if !v.is_finite() {
        return not_finite;
    }
    let Some(rule) = rule else { return unknown_metric };
    match (rule.valid_min, rule.valid_max) {
        (Some(min), _) if v < min => below_min,
        (_, Some(max)) if v > max => above_max,
        _ => ok,
    }
}

/// Check a value against the valid range of its metric (`telemetry.metric_rules`). With
/// `unit`, the value is first converted to the metric's canonical unit.
#[pg_extern(stable, parallel_safe)]
fn validate(
    metric: Option<&str>,
    value: Option<f64>,
    unit: default!(Option<&str>, "NULL"),
) -> validation_status {
    let reg = registry::get();
    let rule = metric.and_then(|m| reg.metrics.rule(m));
    let value = match (value, unit, rule) {
        (Some(v), Some(u), Some(r)) if v.is_finite() => {
            Some(reg.units.convert(v, u, &r.unit).unwrap_or_else(|e| crate::units::report(e)))
        }
        _ => value,
    };
    check(rule, value)
}

#[cfg(test)]
mod tests {
    use super::validation_status::*;
    use super::*;

    fn rule(min: Option<f64>, max: Option<f64>) -> MetricRule {
        MetricRule {
            metric: "m".into(),
            unit: "Cel".into(),
            valid_min: min,
            valid_max: max,
            max_rate_of_change: None,
        }
    }

    #[test]
    fn statuses() {
        let r = rule(Some(-40.0), Some(60.0));
        assert_eq!(check(Some(&r), Some(20.0)), ok);
        assert_eq!(check(Some(&r), Some(-40.0)), ok);
        assert_eq!(check(Some(&r), Some(60.0)), ok);
        assert_eq!(check(Some(&r), Some(-40.1)), below_min);
        assert_eq!(check(Some(&r), Some(60.1)), above_max);
        assert_eq!(check(Some(&r), Some(f64::NAN)), not_finite);
        assert_eq!(check(Some(&r), Some(f64::NEG_INFINITY)), not_finite);
        assert_eq!(check(Some(&r), None), missing);
        assert_eq!(check(None, Some(1.0)), unknown_metric);
        assert_eq!(check(None, None), missing);
    }

    #[test]
    fn open_bounds() {
        assert_eq!(check(Some(&rule(None, Some(1.0))), Some(-1e300)), ok);
        assert_eq!(check(Some(&rule(Some(0.0), None)), Some(1e300)), ok);
        assert_eq!(check(Some(&rule(None, None)), Some(f64::MAX)), ok);
    }
}
