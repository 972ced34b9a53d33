//! The arguments of `telemetry.alarm_trigger()`, the row trigger that evaluates alarm rules on
//! a table of the DBA's own, `key=value` each:
//! - identity: `site=S` or `site_column=col`, `asset=A` or `asset_column=col`, and optionally
//!   `sensor=X` or `sensor_column=col` (default empty);
//! - values, wide: `column=metric` for each value column; or narrow: `metric_column=col` and
//!   `value_column=col`;
//! - `time_column=col` (required: source time orders the readings) and optionally
//!   `source_quality_column=col` (0 good, 1 uncertain, 2 bad).

use crate::names::echo;

/// A field of the identity: fixed by the trigger, or read from a column of the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Fixed(String),
    Column(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TriggerArgs {
    pub site: Field,
    pub asset: Field,
    pub sensor: Field,
    /// Wide: (column, metric).
    pub wide: Vec<(String, String)>,
    /// Narrow: (metric column, value column).
    pub narrow: Option<(String, String)>,
    pub time: String,
    pub source_quality: Option<String>,
}

fn field(
    fixed: Option<String>,
    column: Option<String>,
    what: &str,
) -> Result<Option<Field>, String> {
    match (fixed, column) {
        (Some(_), Some(_)) => Err(format!("give {what} or {what}_column, not both")),
        (Some(v), None) => Ok(Some(Field::Fixed(v))),
        (None, Some(c)) => Ok(Some(Field::Column(c))),
        (None, None) => Ok(None),
    }
}

pub fn parse(args: &[String]) -> Result<TriggerArgs, String> {
    let mut slots: [Option<String>; 10] = Default::default();
    const KEYS: [&str; 10] = [
        "site",
        "site_column",
        "asset",
        "asset_column",
        "sensor",
        "sensor_column",
        "metric_column",
        "value_column",
        "time_column",
        "source_quality_column",
    ];
    let mut wide = Vec::new();
    for arg in args {
        let Some((key, val)) = arg.split_once('=').map(|(k, v)| (k.trim(), v.trim())) else {
            return Err(format!("argument {} is not key=value", echo(arg)));
        };
        if key.is_empty() || val.is_empty() {
            return Err(format!("argument {} has an empty side", echo(arg)));
        }
        match KEYS.iter().position(|k| *k == key) {
            Some(i) if slots[i].is_some() => return Err(format!("{key} is given twice")),
            Some(i) => slots[i] = Some(val.to_string()),
            None => wide.push((key.to_string(), val.to_string())),
        }
    }
    let [site, site_col, asset, asset_col, sensor, sensor_col, metric, value, time, quality] =
        slots;
    let narrow = match (metric, value) {
        (Some(m), Some(v)) => Some((m, v)),
        (None, None) => None,
        _ => return Err("metric_column and value_column go together".into()),
    };
    if narrow.is_some() != wide.is_empty() {
        return Err("give value columns as column=metric, or metric_column and value_column, not both or neither".into());
    }
    Ok(TriggerArgs {
        site: field(site, site_col, "site")?.ok_or("site or site_column is required")?,
        asset: field(asset, asset_col, "asset")?.ok_or("asset or asset_column is required")?,
        sensor: field(sensor, sensor_col, "sensor")?.unwrap_or(Field::Fixed(String::new())),
        wide,
        narrow,
        time: time.ok_or("time_column is required: alarms are judged in source-time order")?,
        source_quality: quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<TriggerArgs, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn wide_and_narrow() {
        let w = args(&[
            "site=well-7",
            "asset_column=pump",
            "time_column=ts",
            "intake_psi=intake_pressure",
        ])
        .unwrap();
        assert_eq!(w.site, Field::Fixed("well-7".into()));
        assert_eq!(w.asset, Field::Column("pump".into()));
        assert_eq!(
            w.wide,
            [("intake_psi".to_string(), "intake_pressure".to_string())]
        );
        let n = args(&[
            "site=s",
            "asset=a",
            "time_column=t",
            "metric_column=m",
            "value_column=v",
        ])
        .unwrap();
        assert_eq!(n.narrow, Some(("m".into(), "v".into())));
        assert_eq!(n.sensor, Field::Fixed(String::new()));
    }

    #[test]
    fn errors_say_what_is_missing() {
        for (a, want) in [
            (
                vec!["asset=a", "time_column=t", "x=y"],
                "site or site_column is required",
            ),
            (vec!["site=s", "asset=a", "x=y"], "time_column is required"),
            (
                vec!["site=s", "site_column=c", "asset=a", "time_column=t", "x=y"],
                "not both",
            ),
            (vec!["site=s", "asset=a", "time_column=t"], "neither"),
            (
                vec!["site=s", "asset=a", "time_column=t", "metric_column=m"],
                "go together",
            ),
            (vec!["site", "asset=a"], "not key=value"),
            (vec!["site=s", "site=t"], "twice"),
        ] {
            let e = args(&a).unwrap_err();
            assert!(e.contains(want), "{a:?}: {e}");
        }
    }
}
