//! Validation in SQL: `telemetry.validate` returning the enum `telemetry.validation_status`.
//! The check itself is `telemetry_core::validate`.

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

use crate::registry;
pub use telemetry_core::validate::*;

/// A `telemetry.validation_status` datum: the enum's value OID, looked up once per backend by
/// the registry. (pgrx's own enum support resolves the type by unqualified name on every call.)
pub struct StatusDatum(pg_sys::Oid);

unsafe impl SqlTranslatable for StatusDatum {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(StatusDatum);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Err(ArgumentError::NotValidAsArgument("StatusDatum"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(
        SqlMappingRef::literal("telemetry.validation_status"),
    ));
}

unsafe impl BoxRet for StatusDatum {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(pg_sys::Datum::from(self.0)) }
    }
}

/// Check a value against the valid range of its metric; with `unit`, convert it first.
#[pg_extern(stable, parallel_safe, requires = ["schema"])]
fn validate(
    metric: Option<&str>,
    value: Option<f64>,
    unit: default!(Option<&str>, "NULL"),
) -> StatusDatum {
    let reg = registry::get();
    let (rule, unit) = reg.rule_and_unit(metric, unit);
    let value = match (value, unit, rule) {
        (Some(v), Some(u), Some(r)) if v.is_finite() => Some(
            reg.units
                .convert(v, &u, &r.unit)
                .unwrap_or_else(|e| crate::units::report(e)),
        ),
        _ => value,
    };
    StatusDatum(reg.status_oid(check(rule, value)))
}
