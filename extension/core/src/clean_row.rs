//! `telemetry.clean_row()`: a row trigger that validates, converts and scores readings in a
//! table of the DBA's own, wide (one column per metric) or narrow (metric and value columns).
//!
//! Configured by trigger arguments, `key=value` each:
//! - wide: `column=metric` or `column=metric@unit` (the unit values arrive in; they are
//!   converted in place to the metric's canonical unit);
//! - narrow: `metric_column=col`, `value_column=col`, optionally `unit_column=col`;
//! - both: `time_column=col` (source time, for timeliness), `quality_column=col` (gets the
//!   score, the mean over the row's values), `flags_column=col` (gets the quality flags), and
//!   `on_invalid=keep|null|reject` for values out of range or not finite (default keep).
//!
//! This is the argument parsing; the trigger itself is the extension's `row_trigger`.

use crate::names::echo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    Keep,
    Null,
    Reject,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    /// Wide mappings: (column, metric, unit the values arrive in).
    pub wide: Vec<(String, String, Option<String>)>,
    /// Narrow columns: (metric, value, unit).
    pub narrow: Option<(String, String, Option<String>)>,
    pub time: Option<String>,
    pub quality: Option<String>,
    pub flags: Option<String>,
    pub on_invalid: Option<OnInvalid>,
}

pub fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut c = Config::default();
    let (mut metric, mut value, mut unit) = (None, None, None);
    for arg in args {
        let Some((key, val)) = arg.split_once('=') else {
            return Err(format!("argument {} is not key=value", echo(arg)));
        };
        let (key, val) = (key.trim(), val.trim());
        if key.is_empty() || val.is_empty() {
            return Err(format!("argument {} has an empty side", echo(arg)));
        }
        let slot = match key {
            "metric_column" => &mut metric,
            "value_column" => &mut value,
            "unit_column" => &mut unit,
            "time_column" => &mut c.time,
            "quality_column" => &mut c.quality,
            "flags_column" => &mut c.flags,
            "on_invalid" => {
                c.on_invalid = Some(match val {
                    "keep" => OnInvalid::Keep,
                    "null" => OnInvalid::Null,
                    "reject" => OnInvalid::Reject,
                    other => {
                        return Err(format!(
                            "on_invalid must be keep, null or reject, not {}",
                            echo(other)
                        ))
                    }
                });
                continue;
            }
            column => {
                let (metric, unit) = match val.split_once('@') {
                    Some((m, u)) => (m.to_string(), Some(u.to_string())),
                    None => (val.to_string(), None),
                };
                c.wide.push((column.to_string(), metric, unit));
                continue;
            }
        };
        *slot = Some(val.to_string());
    }
    match (metric, value, unit) {
        (Some(m), Some(v), u) => c.narrow = Some((m, v, u)),
        (None, None, None) => {}
        _ => return Err("narrow mode needs both metric_column and value_column".into()),
    }
    if c.narrow.is_none() && c.wide.is_empty() {
        return Err(
            "no value to clean: give column=metric pairs, or metric_column and value_column".into(),
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wide_and_narrow() {
        let c = parse_args(&args(&[
            "temperature=temperature@degF",
            "pressure=pressure",
            "quality_column=q",
            "on_invalid=null",
        ]))
        .unwrap();
        assert_eq!(
            c.wide[0],
            (
                "temperature".into(),
                "temperature".into(),
                Some("degF".into())
            )
        );
        assert_eq!(c.wide[1], ("pressure".into(), "pressure".into(), None));
        assert_eq!(
            (c.quality.as_deref(), c.on_invalid),
            (Some("q"), Some(OnInvalid::Null))
        );
        let c = parse_args(&args(&[
            "metric_column=m",
            "value_column=v",
            "unit_column=u",
            "time_column=ts",
        ]))
        .unwrap();
        assert_eq!(c.narrow, Some(("m".into(), "v".into(), Some("u".into()))));
        assert_eq!(c.time.as_deref(), Some("ts"));
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            &["x"][..],
            &["=m"],
            &["c="],
            &["on_invalid=maybe"],
            &["metric_column=m"],
            &["quality_column=q"],
            &[],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
