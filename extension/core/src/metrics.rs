//! Metric names: normalisation to snake_case, vendor aliases, and the rules of each metric.

use std::collections::HashMap;

use crate::units::Catalog;

/// Longest metric name accepted (the CHECK on `telemetry.metric_rules.metric` agrees).
pub const MAX_NAME_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub struct MetricRule {
    pub metric: String,
    pub unit: String,
    pub valid_min: Option<f64>,
    pub valid_max: Option<f64>,
    pub max_rate_of_change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NameError {
    Empty,
    TooLong(usize),
}

/// Normalise a vendor metric name to snake_case: `ActivePower`, `active-power` and
/// `ACTIVE POWER` all become `active_power`; `HTTPServer` becomes `http_server`. A word of four
/// characters or fewer is not split at case changes: it is an abbreviation or a unit
/// (`SoC`, `pH`, `Energy_kWh`), not camelCase.
pub fn normalize_name(name: &str) -> Result<String, NameError> {
    if name.len() > MAX_NAME_BYTES * 4 {
        return Err(NameError::TooLong(name.len()));
    }
    let mut out = String::with_capacity(name.len() + 4);
    for word in name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('_');
        }
        let chars: Vec<char> = word.chars().collect();
        let camel = chars.len() > 4;
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = camel
                && c.is_uppercase()
                && prev.is_some_and(|p| {
                    p.is_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
                });
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        }
    }
    match out.len() {
        0 => Err(NameError::Empty),
        n if n > MAX_NAME_BYTES => Err(NameError::TooLong(n)),
        _ => Ok(out),
    }
}

#[derive(Debug, Default)]
pub struct MetricCatalog {
    rules: HashMap<String, MetricRule>,
    aliases: HashMap<String, String>,
}

impl MetricCatalog {
    pub fn new(rules: Vec<MetricRule>, aliases: Vec<(String, String)>) -> MetricCatalog {
        MetricCatalog {
            rules: rules.into_iter().map(|r| (r.metric.clone(), r)).collect(),
            aliases: aliases.into_iter().collect(),
        }
    }

    /// The canonical name for a vendor name: normalised, then mapped through the aliases.
    /// A name with no alias is its own canonical form, known to the rules or not.
    pub fn canonical_name(&self, name: &str) -> Result<String, NameError> {
        if self.rules.contains_key(name) {
            return Ok(name.to_string());
        }
        let normal = normalize_name(name)?;
        Ok(self.aliases.get(&normal).cloned().unwrap_or(normal))
    }

    /// The rule for a name that may end in a unit, as vendor keys often do (`temperature_c`,
    /// `active_power_kw`), with that unit; a name the rules know as it is comes first.
    pub fn rule_with_unit(
        &self,
        name: &str,
        units: &Catalog,
    ) -> Option<(&MetricRule, Option<String>)> {
        if let Some(rule) = self.rule(name) {
            return Some((rule, None));
        }
        let normal = normalize_name(name).ok()?;
        let (stem, suffix) = normal.rsplit_once('_')?;
        let rule = self.rule(stem)?;
        let unit = units.resolve(suffix).ok()?;
        let canonical = units.resolve(&rule.unit).ok()?;
        (unit.dimension == canonical.dimension).then(|| (rule, Some(unit.code.clone())))
    }

    /// The rule for a metric under any of its names; `None` when the metric is unknown.
    pub fn rule(&self, name: &str) -> Option<&MetricRule> {
        if let Some(rule) = self.rules.get(name) {
            return Some(rule);
        }
        let canonical = self.canonical_name(name).ok()?;
        self.rules.get(&canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Unit;

    #[test]
    fn normalises_common_vendor_spellings() {
        for (input, want) in [
            ("ActivePower", "active_power"),
            ("activePower", "active_power"),
            ("active-power", "active_power"),
            ("ACTIVE POWER", "active_power"),
            ("  Active.Power  ", "active_power"),
            ("active__power", "active_power"),
            ("HTTPServer", "http_server"),
            ("pv1Voltage", "pv1_voltage"),
            ("SOC", "soc"),
            ("temperature", "temperature"),
            ("Température", "température"),
            ("SoC", "soc"),
            ("pH", "ph"),
            ("ActivePower_kW", "active_power_kw"),
            ("Energy_kWh", "energy_kwh"),
            ("acPower", "ac_power"),
        ] {
            assert_eq!(normalize_name(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_empty_and_absurd_names() {
        assert_eq!(normalize_name(""), Err(NameError::Empty));
        assert_eq!(normalize_name(" -_- "), Err(NameError::Empty));
        assert!(matches!(
            normalize_name(&"a".repeat(129)),
            Err(NameError::TooLong(129))
        ));
        assert!(matches!(
            normalize_name(&"a".repeat(1_000_000)),
            Err(NameError::TooLong(_))
        ));
    }

    fn catalog() -> MetricCatalog {
        MetricCatalog::new(
            vec![MetricRule {
                metric: "active_power".into(),
                unit: "kW".into(),
                valid_min: None,
                valid_max: None,
                max_rate_of_change: None,
            }],
            vec![
                ("p_ac".into(), "active_power".into()),
                ("active_power_kw".into(), "active_power".into()),
            ],
        )
    }

    #[test]
    fn a_trailing_unit_is_split_off() {
        let c = catalog();
        let unit = |code: &str, factor: f64| Unit {
            code: code.into(),
            dimension: "power".into(),
            factor,
            offset: 0.0,
        };
        let units = Catalog::new(
            vec![unit("kW", 1e3), unit("W", 1.0)],
            vec![("kw".into(), "kW".into())],
        );
        let found = |n: &str| {
            c.rule_with_unit(n, &units)
                .map(|(r, u)| (r.metric.clone(), u))
        };
        assert_eq!(
            found("active_power_w"),
            Some(("active_power".into(), Some("W".into())))
        );
        assert_eq!(
            found("ActivePowerW"),
            Some(("active_power".into(), Some("W".into())))
        );
        assert_eq!(
            found("active_power_kw"),
            Some(("active_power".into(), None))
        );
        assert_eq!(found("active_power_furlongs"), None);
        assert_eq!(found("reactive_power_w"), None);
    }

    #[test]
    fn aliases_map_after_normalisation() {
        let c = catalog();
        assert_eq!(c.canonical_name("P_AC").unwrap(), "active_power");
        assert_eq!(c.canonical_name("activePowerKw").unwrap(), "active_power");
        assert_eq!(c.canonical_name("Wind Speed").unwrap(), "wind_speed");
        assert_eq!(c.rule("p-ac").map(|r| r.unit.as_str()), Some("kW"));
        assert!(c.rule("wind_speed").is_none());
        assert!(c.rule("").is_none());
    }
}
