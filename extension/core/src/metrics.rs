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
    /// False for a metric the pipeline registered on first sight and no one has reviewed: its
    /// readings are not validated against it.
    pub reviewed: bool,
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

/// A vendor name for a metric: the canonical metric, and a sensor the name implies (the phase
/// of `voltage_l1`), which is appended to the reading's sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub alias: String,
    pub metric: String,
    pub sensor: Option<String>,
}

#[derive(Debug, Default)]
pub struct MetricCatalog {
    rules: HashMap<String, MetricRule>,
    aliases: HashMap<String, (String, Option<String>)>,
    unreviewed: usize,
}

/// A metric the catalogue knows: its rule, the unit its name ends in, the sensor its alias implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Known<'c> {
    pub rule: &'c MetricRule,
    pub unit: Option<String>,
    pub sensor: Option<&'c str>,
}

/// What a vendor name resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<'c> {
    Known(Known<'c>),
    /// No rule: the name the metric would be registered under, and a unit its name ends in.
    Unknown {
        metric: String,
        unit: Option<String>,
    },
}

/// How a unit may be spelled in the last tokens of a snake_case name: `w_m2` is W/m2, `kw_h`
/// kWh, `m_per_s` m/s. The division comes first: `m_s` is a speed far more often than a
/// millisecond, and a wrong dimension is refused by the caller anyway.
fn unit_spellings(tokens: &[&str]) -> Vec<String> {
    match *tokens {
        [a] => vec![a.to_string()],
        [a, b] => vec![format!("{a}/{b}"), format!("{a}{b}"), format!("{a}.{b}")],
        [a, "per", b] => vec![format!("{a}/{b}")],
        [a, b, c] => vec![format!("{a}{b}{c}")],
        _ => Vec::new(),
    }
}

/// Last tokens that name a phase, the neutral or an axis more often than a unit.
const NOT_UNITS: [&str; 7] = ["a", "b", "c", "n", "x", "y", "z"];

/// Longest unit suffix considered, in tokens.
const MAX_SUFFIX_TOKENS: usize = 3;

impl MetricCatalog {
    pub fn new(rules: Vec<MetricRule>, aliases: Vec<Alias>) -> MetricCatalog {
        MetricCatalog {
            unreviewed: rules.iter().filter(|r| !r.reviewed).count(),
            rules: rules.into_iter().map(|r| (r.metric.clone(), r)).collect(),
            aliases: aliases
                .into_iter()
                .map(|a| (a.alias, (a.metric, a.sensor)))
                .collect(),
        }
    }

    /// How many rules the pipeline registered that no one has reviewed yet.
    pub fn unreviewed(&self) -> usize {
        self.unreviewed
    }

    /// A normalised name as a canonical metric or an alias of one.
    fn lookup(&self, normal: &str) -> Option<(&MetricRule, Option<&str>)> {
        if let Some(rule) = self.rules.get(normal) {
            return Some((rule, None));
        }
        let (metric, sensor) = self.aliases.get(normal)?;
        Some((self.rules.get(metric)?, sensor.as_deref()))
    }

    /// Resolve a vendor name: as it is, normalised, through the aliases, or with a unit
    /// suffix of up to three tokens split off (`ghi_w_m2`, `temp_air_c`, `wind_speed_m_s`)
    /// whose dimension agrees with the rule of what is left. A name no rule knows is the
    /// metric it would be registered as; it keeps a suffix only when that is unmistakably a
    /// unit: `a`, `b`, `c`, `n` and `x`, `y`, `z` are as often a phase, the neutral or an axis
    /// (`voltage_a`, `current_c`, `accel_x`) as a unit.
    pub fn resolve<'c>(&'c self, name: &str, units: &Catalog) -> Result<Resolution<'c>, NameError> {
        if let Some(rule) = self.rules.get(name) {
            return Ok(known(rule, None, None));
        }
        let normal = normalize_name(name)?;
        if let Some((rule, sensor)) = self.lookup(&normal) {
            return Ok(known(rule, None, sensor));
        }
        let tokens: Vec<&str> = normal.split('_').collect();
        let mut unknown_unit = None;
        for k in (1..=MAX_SUFFIX_TOKENS.min(tokens.len() - 1)).rev() {
            let (stem, suffix) = tokens.split_at(tokens.len() - k);
            let stem = stem.join("_");
            for spelling in unit_spellings(suffix) {
                let Ok(unit) = units.resolve(&spelling) else {
                    continue;
                };
                if let Some((rule, sensor)) = self.lookup(&stem) {
                    let same = units
                        .resolve(&rule.unit)
                        .is_ok_and(|canonical| canonical.dimension == unit.dimension);
                    if same {
                        return Ok(known(rule, Some(unit.code.clone()), sensor));
                    }
                } else if unknown_unit.is_none() && !(k == 1 && NOT_UNITS.contains(&suffix[0])) {
                    unknown_unit = Some((stem.clone(), unit.code.clone()));
                }
            }
        }
        Ok(match unknown_unit {
            Some((metric, unit)) => Resolution::Unknown {
                metric,
                unit: Some(unit),
            },
            None => Resolution::Unknown {
                metric: normal,
                unit: None,
            },
        })
    }

    /// The rule for a name that may end in a unit, as vendor keys often do (`temperature_c`,
    /// `active_power_kw`), with that unit; a name the rules know as it is comes first.
    pub fn rule_with_unit(
        &self,
        name: &str,
        units: &Catalog,
    ) -> Option<(&MetricRule, Option<String>)> {
        match self.resolve(name, units).ok()? {
            Resolution::Known(k) => Some((k.rule, k.unit)),
            Resolution::Unknown { .. } => None,
        }
    }

    /// The rule for a metric under any of its names; `None` when the metric is unknown.
    pub fn rule(&self, name: &str) -> Option<&MetricRule> {
        if let Some(rule) = self.rules.get(name) {
            return Some(rule);
        }
        self.lookup(&normalize_name(name).ok()?)
            .map(|(rule, _)| rule)
    }
}

fn known<'c>(
    rule: &'c MetricRule,
    unit: Option<String>,
    sensor: Option<&'c str>,
) -> Resolution<'c> {
    Resolution::Known(Known { rule, unit, sensor })
}

impl MetricCatalog {
    /// Resolve a name that may carry folders. A name known as it is keeps its slashes;
    /// otherwise `Inverter/DC/Voltage` is the metric `Voltage` in the folders `Inverter/DC`.
    pub fn resolve_path<'c, 'n>(
        &'c self,
        name: &'n str,
        units: &Catalog,
    ) -> Result<(Option<&'n str>, Resolution<'c>), NameError> {
        let whole = self.resolve(name, units);
        match (&whole, split_folders(name)) {
            (Ok(Resolution::Known(_)), _) | (_, (None, _)) => whole.map(|r| (None, r)),
            (_, (Some(folders), leaf)) => self.resolve(leaf, units).map(|r| (Some(folders), r)),
        }
    }

    /// The canonical metric a vendor name stands for, or the one it would be registered as.
    pub fn metric_name(&self, name: &str, units: &Catalog) -> Result<String, NameError> {
        Ok(match self.resolve_path(name, units)?.1 {
            Resolution::Known(k) => k.rule.metric.clone(),
            Resolution::Unknown { metric, .. } => metric,
        })
    }
}

/// A Sparkplug-style name with folders, `Inverter 1/DC/Voltage`: the folders, and the name.
pub fn split_folders(name: &str) -> (Option<&str>, &str) {
    match name.rsplit_once('/') {
        Some((folders, leaf)) if !leaf.trim().is_empty() => {
            let folders = folders.trim_matches('/');
            ((!folders.is_empty()).then_some(folders), leaf)
        }
        _ => (None, name),
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
                reviewed: true,
            }],
            vec![
                alias("p_ac", "active_power", None),
                alias("active_power_kw", "active_power", None),
                alias("power_l1", "active_power", Some("l1")),
            ],
        )
    }

    fn alias(alias: &str, metric: &str, sensor: Option<&str>) -> Alias {
        Alias {
            alias: alias.into(),
            metric: metric.into(),
            sensor: sensor.map(Into::into),
        }
    }

    fn units() -> Catalog {
        let unit = |code: &str, dimension: &str, factor: f64| Unit {
            code: code.into(),
            dimension: dimension.into(),
            factor,
            offset: 0.0,
        };
        Catalog::new(
            vec![
                unit("kW", "power", 1e3),
                unit("W", "power", 1.0),
                unit("W/m2", "irradiance", 1.0),
                unit("m/s", "speed", 1.0),
                unit("ms", "time", 1e-3),
                unit("kWh", "energy", 3.6e6),
                unit("A", "current", 1.0),
                unit("m", "length", 1.0),
            ],
            vec![("kw".into(), "kW".into())],
        )
    }

    #[test]
    fn unit_suffixes_of_several_tokens() {
        let c = catalog();
        let units = units();
        let resolve = |n: &str| c.resolve(n, &units).unwrap();
        assert_eq!(
            resolve("ghi_w_m2"),
            Resolution::Unknown {
                metric: "ghi".into(),
                unit: Some("W/m2".into())
            }
        );
        // m_s is first a speed; a millisecond would be refused by the rule's dimension.
        assert_eq!(
            resolve("gust_speed_m_s"),
            Resolution::Unknown {
                metric: "gust_speed".into(),
                unit: Some("m/s".into())
            }
        );
        assert_eq!(
            resolve("yield_kw_h"),
            Resolution::Unknown {
                metric: "yield".into(),
                unit: Some("kWh".into())
            }
        );
        assert_eq!(
            resolve("voltage_phase_b"),
            Resolution::Unknown {
                metric: "voltage_phase_b".into(),
                unit: None
            }
        );
        // A phase letter is not split off an unknown name; a metre is.
        assert_eq!(
            resolve("voltage_a"),
            Resolution::Unknown {
                metric: "voltage_a".into(),
                unit: None
            }
        );
        assert_eq!(
            resolve("tank_level_m"),
            Resolution::Unknown {
                metric: "tank_level".into(),
                unit: Some("m".into())
            }
        );
        let Resolution::Known(k) = resolve("P_AC_W") else {
            panic!("P_AC_W is an alias with a unit")
        };
        assert_eq!(
            (k.rule.metric.as_str(), k.unit.as_deref()),
            ("active_power", Some("W"))
        );
        let Resolution::Known(k) = resolve("PowerL1") else {
            panic!("PowerL1 is an alias with a sensor")
        };
        assert_eq!(
            (k.rule.metric.as_str(), k.sensor),
            ("active_power", Some("l1"))
        );
    }

    #[test]
    fn folders_are_split_from_the_name() {
        assert_eq!(
            split_folders("Inverter/ActivePower"),
            (Some("Inverter"), "ActivePower")
        );
        assert_eq!(split_folders("/A/B/C"), (Some("A/B"), "C"));
        assert_eq!(split_folders("power"), (None, "power"));
        assert_eq!(split_folders("power/"), (None, "power/"));
        assert_eq!(split_folders("/power"), (None, "power"));
    }

    #[test]
    fn a_trailing_unit_is_split_off() {
        let c = catalog();
        let units = units();
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
        let units = units();
        assert_eq!(c.metric_name("P_AC", &units).unwrap(), "active_power");
        assert_eq!(
            c.metric_name("activePowerKw", &units).unwrap(),
            "active_power"
        );
        assert_eq!(c.metric_name("Wind Speed", &units).unwrap(), "wind_speed");
        assert_eq!(
            c.metric_name("Inverter 2/P_AC", &units).unwrap(),
            "active_power"
        );
        assert_eq!(c.rule("p-ac").map(|r| r.unit.as_str()), Some("kW"));
        assert!(c.rule("wind_speed").is_none());
        assert!(c.rule("").is_none());
    }
}
