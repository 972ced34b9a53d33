//! How `telemetry.summary` goes in and out of datums and text. A datum is a varlena holding
//! core's fixed layout (`Summary::encode`), which decodes by copying (pgrx's default CBOR took
//! microseconds per summary, on every merge and accessor); its type is looked up by its
//! qualified name (the derive looks up `summary` through the `search_path`, which the pipeline
//! pins to `pg_catalog, pg_temp`, so it could not pass an array of summaries to SPI). Text is the JSON of the fields; malformed
//! text raises 22P02, as PostgreSQL's own input functions do.

use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::{Datum, FromDatum, IntoDatum, UnboxDatum};
use pgrx::pg_sys;
use pgrx::varlena;

use super::Summary;
use telemetry_core::rollups::{self as summaries, Stored};

use crate::errors::{internal, raise, Class};

impl pgrx::inoutfuncs::InOutFuncs for Summary {
    fn input(input: &core::ffi::CStr) -> Self {
        let summary: Summary = serde_json::from_slice(input.to_bytes())
            .map_err(|e| e.to_string())
            .and_then(|s: Summary| s.0.check().map(|()| s))
            .unwrap_or_else(|e| {
                raise(
                    Class::InvalidTextRepresentation,
                    format!("invalid input syntax for type telemetry.summary: {e}"),
                    Some("Its text form is the JSON that casting a summary to text gives."),
                )
            });
        summary
    }

    fn output(&self, buffer: &mut pgrx::StringInfo) {
        match serde_json::to_string(self) {
            Ok(json) => buffer.push_str(&json),
            Err(e) => internal(format!("cannot write a telemetry.summary: {e}")),
        }
    }
}

impl IntoDatum for Summary {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.0.encode().as_slice().into_datum()
    }

    /// Not cached: the extension may be dropped and created again within a session.
    fn type_oid() -> pg_sys::Oid {
        pgrx::regtypein("telemetry.summary")
    }
}

unsafe impl BoxRet for Summary {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            None => fcinfo.return_null(),
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
        }
    }
}

impl FromDatum for Summary {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        let bytes = unsafe { stored_bytes(datum, is_null, typoid) }?;
        Some(Summary(
            summaries::Summary::decode(bytes).unwrap_or_else(|e| damaged(e)),
        ))
    }
}

unsafe impl UnboxDatum for Summary {
    type As<'dat>
        = Self
    where
        Self: 'dat;
    unsafe fn unbox<'dat>(datum: Datum<'dat>) -> Self::As<'dat>
    where
        Self: 'dat,
    {
        unsafe {
            <Self as FromDatum>::from_datum(
                std::mem::transmute::<Datum<'dat>, pg_sys::Datum>(datum),
                false,
            )
        }
        .unwrap_or_else(|| pgrx::error!("a telemetry.summary datum is NULL"))
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for Summary {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        unsafe { required(arg) }
    }
}

/// A summary datum's bytes. Rows hold summaries inline and uncompressed (they are far below
/// the TOAST threshold), so they are read where they lie; only a compressed or out-of-line
/// datum goes through PostgreSQL's detoasting, whose guarded call cost the accessors about a
/// fifth of their time.
unsafe fn stored_bytes<'a>(
    datum: pg_sys::Datum,
    is_null: bool,
    typoid: pg_sys::Oid,
) -> Option<&'a [u8]> {
    if is_null || datum.is_null() {
        return None;
    }
    let ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
    unsafe {
        if varlena::varatt_is_1b_e(ptr) || varlena::varatt_is_4b_c(ptr) {
            <&'a [u8]>::from_polymorphic_datum(datum, is_null, typoid)
        } else {
            Some(varlena::varlena_to_byte_slice(ptr))
        }
    }
}

/// The error for stored bytes that are not a summary (what no function of ours wrote).
pub fn damaged(e: String) -> ! {
    internal(format!("a stored telemetry.summary is damaged: {e}"))
}

/// A summary argument, which the functions declared strict never see NULL.
unsafe fn required<'fcx, T: FromDatum>(arg: Arg<'_, 'fcx>) -> T {
    let index = arg.index();
    unsafe { arg.unbox_arg_using_from_datum() }
        .unwrap_or_else(|| pgrx::error!("argument {index} must not be null"))
}

/// A `telemetry.summary` argument read in place (`telemetry_core::rollups::Stored`): what the
/// accessors take, so that reading a mean or a percentile copies and allocates nothing.
pub struct StoredSummary<'a>(pub Stored<'a>);

impl<'a> FromDatum for StoredSummary<'a> {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        let bytes = unsafe { stored_bytes(datum, is_null, typoid) }?;
        Some(StoredSummary(
            Stored::new(bytes).unwrap_or_else(|e| damaged(e)),
        ))
    }
}

unsafe impl<'fcx> ArgAbi<'fcx> for StoredSummary<'fcx> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        unsafe { required(arg) }
    }
}

// The same SQL type as `Summary`, so that the schema generator orders the accessors after it.
unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for StoredSummary<'_> {
    const TYPE_IDENT: &'static str =
        <Summary as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::TYPE_IDENT;
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::ThisExtension;
    const ARGUMENT_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
        pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
    > = <Summary as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::ARGUMENT_SQL;
    const RETURN_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
    > = Err(pgrx::pgrx_sql_entity_graph::metadata::ReturnsError::Datum);
}
