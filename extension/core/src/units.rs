//! Unit conversion.
//!
//! Why a registry table and not a UCUM library: the UCUM crates parse and reduce a unit
//! expression on every call, which costs far more than a hash lookup, and they know nothing
//! of the spellings devices really send ("KW", "celsius", "°F", "gpm"). Industrial telemetry
//! uses a few dozen units, so the catalogue is the table `telemetry.units` (UCUM codes where
//! UCUM has one) plus `telemetry.unit_aliases`, which a DBA can extend with plain SQL.
//! It is read once per backend into this [`Catalog`] and re-read only when those tables change.

use std::collections::HashMap;
use std::fmt;

use crate::names::echo;

/// Longest unit name accepted; anything longer cannot be a unit.
pub const MAX_NAME_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub code: String,
    pub dimension: String,
    pub factor: f64,
    pub offset: f64,
}

impl Unit {
    pub fn to_base(&self, v: f64) -> f64 {
        (v + self.offset) * self.factor
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UnitError {
    Unknown(String),
    Ambiguous(String, Vec<String>),
    Incompatible {
        from: String,
        from_dimension: String,
        to: String,
        to_dimension: String,
    },
    OutOfRange {
        value: f64,
        from: String,
        to: String,
    },
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::Unknown(u) => write!(f, "unknown unit {}", echo(u)),
            UnitError::Ambiguous(u, c) => {
                write!(f, "unit {} is ambiguous: it could be {}", echo(u), c.join(" or "))
            }
            UnitError::Incompatible { from, from_dimension, to, to_dimension } => write!(
                f,
                "cannot convert {from} ({from_dimension}) to {to} ({to_dimension}): different dimensions"
            ),
            UnitError::OutOfRange { value, from, to } => {
                write!(f, "{value:e} {from} is out of range for double precision in {to}")
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    units: Vec<Unit>,
    exact: HashMap<String, usize>,
    /// Lower-cased spelling to the units it could mean, with the spelling that leads to each.
    folded: HashMap<String, Vec<(usize, String)>>,
}

/// Fold the Unicode look-alikes devices send (℃, µ vs μ, ³) into one spelling.
fn fold_unicode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '℃' => out.push_str("°C"),
            '℉' => out.push_str("°F"),
            'µ' => out.push('μ'),
            '²' => out.push('2'),
            '³' => out.push('3'),
            '·' | '⋅' => out.push('.'),
            _ => out.push(c),
        }
    }
    out
}

impl Catalog {
    /// Build from unit rows and (alias, unit code) pairs. Aliases naming no unit are skipped:
    /// the foreign key on `telemetry.unit_aliases` makes that impossible for table data.
    pub fn new(units: Vec<Unit>, aliases: Vec<(String, String)>) -> Catalog {
        let mut catalog = Catalog {
            units,
            ..Catalog::default()
        };
        let codes: Vec<(String, usize)> = catalog
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        let index: HashMap<String, usize> = codes.iter().cloned().collect();
        // Codes go last so that an alias spelled like a code cannot take it over.
        let names = aliases
            .into_iter()
            .filter_map(|(a, u)| index.get(&u).map(|&i| (a, i)))
            .chain(codes);
        for (name, i) in names {
            let name = fold_unicode(name.trim());
            catalog.exact.insert(name.clone(), i);
            let meanings = catalog.folded.entry(name.to_lowercase()).or_default();
            if !meanings.iter().any(|(j, _)| *j == i) {
                meanings.push((i, name));
            }
        }
        catalog
    }

    /// Find a unit by code or alias: exactly first (so mW and MW stay apart), then
    /// case-insensitively when only one unit answers to that spelling. In short spellings
    /// (symbols) the case of m and M is never guessed: milli and mega are 10^9 apart, and the
    /// registry may hold only one of them (mOhm must not become MOhm).
    pub fn resolve(&self, name: &str) -> Result<&Unit, UnitError> {
        let trimmed = name.trim();
        if let Some(&i) = self.exact.get(trimmed) {
            return Ok(&self.units[i]);
        }
        if trimmed.is_empty() || trimmed.len() > MAX_NAME_BYTES {
            return Err(UnitError::Unknown(name.to_string()));
        }
        let folded = fold_unicode(trimmed);
        if let Some(&i) = self.exact.get(&folded) {
            return Ok(&self.units[i]);
        }
        let candidates = self
            .folded
            .get(&folded.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let milli_or_mega = candidates
            .iter()
            .any(|(_, spelling)| recases_milli_or_mega(&folded, spelling));
        match candidates {
            [] => Err(UnitError::Unknown(name.to_string())),
            [(i, _)] if !milli_or_mega => Ok(&self.units[*i]),
            [(i, _)] => Err(UnitError::Ambiguous(
                name.to_string(),
                vec![format!("{} (with that case)", self.units[*i].code)],
            )),
            many => Err(UnitError::Ambiguous(
                name.to_string(),
                many.iter()
                    .map(|(i, _)| self.units[*i].code.clone())
                    .collect(),
            )),
        }
    }

    /// The base unit of a dimension (factor 1, no offset): the SI unit for the SI dimensions.
    pub fn base(&self, dimension: &str) -> Option<&Unit> {
        self.units
            .iter()
            .find(|u| u.dimension == dimension && u.factor == 1.0 && u.offset == 0.0)
    }

    pub fn convert(&self, value: f64, from: &str, to: &str) -> Result<f64, UnitError> {
        let (f, t) = (self.resolve(from)?, self.resolve(to)?);
        convert_between(value, f, t)
    }
}

/// Whether reading `input` as `spelling` would change the case of a leading m or M in a
/// symbol, where it is the prefix: milli or mega.
fn recases_milli_or_mega(input: &str, spelling: &str) -> bool {
    input.chars().count() <= 4
        && matches!(
            (input.chars().next(), spelling.chars().next()),
            (Some('m'), Some('M')) | (Some('M'), Some('m'))
        )
}

pub fn convert_between(value: f64, from: &Unit, to: &Unit) -> Result<f64, UnitError> {
    if from.dimension != to.dimension {
        return Err(UnitError::Incompatible {
            from: from.code.clone(),
            from_dimension: from.dimension.clone(),
            to: to.code.clone(),
            to_dimension: to.dimension.clone(),
        });
    }
    if from.code == to.code {
        return Ok(value);
    }
    let result = if from.offset == 0.0 && to.offset == 0.0 {
        // Multiply then divide: 1500 W -> kW is exactly 1.5, where * 0.001 would not be.
        // Only if the product overflows, take the ratio first (1e300 GW is 1e303 MW).
        match value * from.factor {
            product if product.is_finite() => product / to.factor,
            _ => value * (from.factor / to.factor),
        }
    } else {
        let ratio = from.factor / to.factor;
        let scaled = from.to_base(value) / to.factor;
        let magnitude = (value * ratio)
            .abs()
            .max((from.offset * ratio).abs())
            .max(to.offset.abs());
        round_to_precision(scaled - to.offset, magnitude)
    };
    if value.is_finite() && !result.is_finite() {
        return Err(UnitError::OutOfRange {
            value,
            from: from.code.clone(),
            to: to.code.clone(),
        });
    }
    Ok(result)
}

/// Round `x` to the 15 significant digits a double holds for the largest intermediate of its
/// computation: affine offsets leave ulps of noise (212 degF would be 100.00000000000006 degC,
/// 32 degF would be 5.7e-14 degC), far below any sensor's precision.
fn round_to_precision(x: f64, magnitude: f64) -> f64 {
    let magnitude = magnitude.max(x.abs());
    if x == 0.0 || !x.is_finite() || !magnitude.is_finite() {
        return x;
    }
    let digits = 14 - magnitude.log10().floor() as i32;
    if !(-290..=290).contains(&digits) {
        return x;
    }
    let scale = 10f64.powi(digits.abs());
    if digits >= 0 {
        (x * scale).round() / scale
    } else {
        (x / scale).round() * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, dimension: &str, factor: f64, offset: f64) -> Unit {
        Unit {
            code: code.into(),
            dimension: dimension.into(),
            factor,
            offset,
        }
    }

    fn catalog() -> Catalog {
        Catalog::new(
            catalog_units(),
            vec![
                ("celsius".into(), "Cel".into()),
                ("°C".into(), "Cel".into()),
                ("degF".into(), "[degF]".into()),
                ("m³/h".into(), "m3/h".into()),
                ("ghost".into(), "nope".into()),
            ],
        )
    }

    fn catalog_units() -> Vec<Unit> {
        vec![
            unit("K", "temperature", 1.0, 0.0),
            unit("Cel", "temperature", 1.0, 273.15),
            unit("[degF]", "temperature", 5.0 / 9.0, 459.67),
            unit("W", "power", 1.0, 0.0),
            unit("kW", "power", 1e3, 0.0),
            unit("MW", "power", 1e6, 0.0),
            unit("mW", "power", 1e-3, 0.0),
            unit("m3/h", "volume_flow", 1.0 / 3600.0, 0.0),
        ]
    }

    #[test]
    fn converts_affine_temperatures() {
        let c = catalog();
        assert_eq!(c.convert(212.0, "degF", "Cel").unwrap(), 100.0);
        assert_eq!(c.convert(32.0, "degF", "Cel").unwrap(), 0.0);
        assert_eq!(c.convert(-40.0, "celsius", "degF").unwrap(), -40.0);
        assert_eq!(c.convert(0.0, "°C", "K").unwrap(), 273.15);
        assert_eq!(c.convert(32.0, "degF", "K").unwrap(), 273.15);
        assert_eq!(c.convert(98.6, "degF", "Cel").unwrap(), 37.0);
        assert_eq!(c.convert(1e-300, "Cel", "Cel").unwrap(), 1e-300);
    }

    #[test]
    fn linear_conversion_is_exact_for_decimal_prefixes() {
        let c = catalog();
        assert_eq!(c.convert(1500.0, "W", "kW").unwrap(), 1.5);
        assert_eq!(c.convert(2.5, "MW", "kW").unwrap(), 2500.0);
    }

    #[test]
    fn case_matters_only_when_it_disambiguates() {
        let c = catalog();
        assert_eq!(c.resolve("KW").unwrap().code, "kW");
        assert_eq!(c.resolve("CELSIUS").unwrap().code, "Cel");
        assert_eq!(c.resolve("mW").unwrap().code, "mW");
        assert_eq!(c.resolve("MW").unwrap().code, "MW");
        assert!(matches!(
            c.resolve("mw"),
            Err(UnitError::Ambiguous(..)) | Err(UnitError::Unknown(_))
        ));
    }

    #[test]
    fn milli_and_mega_are_never_guessed() {
        let c = Catalog::new(
            vec![
                unit("MOhm", "resistance", 1e6, 0.0),
                unit("MWh", "energy", 3.6e9, 0.0),
            ],
            vec![],
        );
        for s in ["mOhm", "mohm", "mWh", "mwh", "mWH"] {
            assert!(matches!(c.resolve(s), Err(UnitError::Ambiguous(..))), "{s}");
        }
        assert_eq!(c.resolve("MWH").unwrap().code, "MWh");
        assert_eq!(c.resolve("MOHM").unwrap().code, "MOhm");
        let c = Catalog::new(
            vec![unit("min", "time", 60.0, 0.0)],
            vec![("minutes".into(), "min".into())],
        );
        assert_eq!(c.resolve("MINUTES").unwrap().code, "min");
    }

    #[test]
    fn an_alias_cannot_take_over_a_code() {
        let c = Catalog::new(catalog_units(), vec![("W".into(), "kW".into())]);
        assert_eq!(c.resolve("W").unwrap().code, "W");
    }

    #[test]
    fn affine_rounding_accounts_for_the_source_offset() {
        let c = catalog();
        assert_eq!(c.convert(-273.0, "Cel", "K").unwrap(), 0.15);
        assert_eq!(c.convert(-273.14, "Cel", "K").unwrap(), 0.01);
    }

    #[test]
    fn huge_values_that_fit_do_not_overflow() {
        let c = Catalog::new(
            vec![unit("GW", "power", 1e9, 0.0), unit("MW", "power", 1e6, 0.0)],
            vec![],
        );
        assert_eq!(c.convert(1e300, "GW", "MW").unwrap(), 1e303);
    }

    #[test]
    fn unicode_look_alikes_and_whitespace_resolve() {
        let c = catalog();
        assert_eq!(c.resolve("℃").unwrap().code, "Cel");
        assert_eq!(c.resolve(" m³/h ").unwrap().code, "m3/h");
        assert_eq!(c.resolve("m3/h").unwrap().code, "m3/h");
    }

    #[test]
    fn errors_name_the_unit() {
        let c = catalog();
        let e = c.convert(1.0, "furlong", "W").unwrap_err();
        assert_eq!(e, UnitError::Unknown("furlong".into()));
        assert!(e.to_string().contains("\"furlong\""));
        let e = c.convert(1.0, "kW", "Cel").unwrap_err();
        assert!(
            e.to_string().contains("kW (power)") && e.to_string().contains("Cel (temperature)")
        );
        assert!(matches!(c.resolve(""), Err(UnitError::Unknown(_))));
        assert!(matches!(
            c.resolve(&"k".repeat(10_000)),
            Err(UnitError::Unknown(_))
        ));
        assert!(matches!(c.resolve("ghost"), Err(UnitError::Unknown(_))));
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        let msg = UnitError::Unknown("x".repeat(5000)).to_string();
        assert!(msg.len() < 120, "{msg}");
        assert!(msg.contains("5000 bytes"));
    }

    #[test]
    fn overflow_is_an_error() {
        let c = catalog();
        assert!(matches!(
            c.convert(1e308, "MW", "W"),
            Err(UnitError::OutOfRange { .. })
        ));
        assert_eq!(c.convert(1e308, "W", "MW").unwrap(), 1e302);
    }

    #[test]
    fn non_finite_values_pass_through() {
        let c = catalog();
        assert!(c.convert(f64::NAN, "W", "kW").unwrap().is_nan());
        assert_eq!(
            c.convert(f64::INFINITY, "degF", "Cel").unwrap(),
            f64::INFINITY
        );
    }
}
