//! Units in SQL: `telemetry.convert` and `telemetry.canonical_unit` over the cached catalogue,
//! and the PostgreSQL errors of a unit problem. The catalogue is `telemetry_core::units`.

use pgrx::prelude::*;

use crate::errors::{invalid_parameter, out_of_range};
use crate::registry;
pub use telemetry_core::units::*;

/// Raise the PostgreSQL error for a unit problem.
pub fn report(e: UnitError) -> ! {
    if let UnitError::OutOfRange { .. } = e {
        out_of_range(e.to_string());
    }
    let hint = match &e {
        UnitError::Unknown(_) => Some(
            "SELECT unit, dimension FROM telemetry.units lists the known units; add a spelling to telemetry.unit_aliases."
                .to_string(),
        ),
        UnitError::Ambiguous(..) => Some("Write the unit with its exact case.".to_string()),
        UnitError::Incompatible { from_dimension, .. } => Some(format!(
            "SELECT unit FROM telemetry.units WHERE dimension = '{from_dimension}' lists the units it converts to."
        )),
        UnitError::OutOfRange { .. } => None,
    };
    invalid_parameter(e.to_string(), hint)
}

/// Convert `value` from one unit to another. Units are codes or aliases from
/// `telemetry.units` / `telemetry.unit_aliases`. Non-finite values pass through unchanged.
#[pg_extern(stable, strict, parallel_safe)]
fn convert(value: f64, from_unit: &str, to_unit: &str) -> f64 {
    let reg = registry::get();
    reg.units
        .convert(value, from_unit, to_unit)
        .unwrap_or_else(|e| report(e))
}

/// The canonical code of a unit spelling (`'celsius'` gives `'Cel'`).
#[pg_extern(stable, strict, parallel_safe)]
fn canonical_unit(unit: &str) -> String {
    let reg = registry::get();
    match reg.units.resolve(unit) {
        Ok(u) => u.code.clone(),
        Err(e) => report(e),
    }
}
