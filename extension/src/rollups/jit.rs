//! No JIT compilation for plans that read the rollup tiers, unless `telemetry.rollup_jit` is
//! on. The views read series by series, so a plan's estimated cost grows with the series asked
//! for times the chunks of raw readings (each chunk is a scan in the per-series part), and
//! PostgreSQL compiles once that cost passes `jit_above_cost`, and optimizes and inlines past
//! `jit_optimize_above_cost`. With 90 daily chunks, compiling took 2.4 s of a query for one
//! site's day that runs in 0.2 s; with one chunk, 30 ms of 170. The plan runs many small
//! rescans, which compiled code does not speed up.
//!
//! A planner hook, set when the library is loaded (first use in a session, or at start with
//! `shared_preload_libraries` / `session_preload_libraries`).

use std::ffi::{c_char, c_int, CStr};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;

use crate::gucs;

static mut PREVIOUS: pg_sys::planner_hook_type = None;

pub fn init() {
    unsafe {
        PREVIOUS = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(plan);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    let stmt = unsafe {
        match PREVIOUS {
            Some(previous) => previous(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    };
    // Only plans PostgreSQL would compile pay for the look at their relations.
    if !stmt.is_null()
        && unsafe { (*stmt).jitFlags } != 0
        && !gucs::rollup_jit()
        && unsafe { reads_rollups(stmt) }
    {
        unsafe { (*stmt).jitFlags = 0 };
    }
    stmt
}

/// Whether the plan reads a `telemetry.rollup_<tier>_materialized` table: what every rollup
/// view reads. The plan's range table holds the relations of all its subqueries.
unsafe fn reads_rollups(stmt: *mut pg_sys::PlannedStmt) -> bool {
    let schema = unsafe { pg_sys::get_namespace_oid(c"telemetry".as_ptr(), true) };
    if schema == pg_sys::InvalidOid {
        return false;
    }
    let rtable = unsafe { PgList::<pg_sys::RangeTblEntry>::from_pg((*stmt).rtable) };
    let found = rtable.iter_ptr().any(|rte| unsafe {
        (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION
            && pg_sys::get_rel_namespace((*rte).relid) == schema
            && is_materialized_tier(pg_sys::get_rel_name((*rte).relid))
    });
    found
}

unsafe fn is_materialized_tier(name: *const c_char) -> bool {
    if name.is_null() {
        return false;
    }
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    name.starts_with(b"rollup_") && name.ends_with(b"_materialized")
}
