//! No JIT compilation for plans that read the rollup tiers, unless `telemetry.rollup_jit` is
//! on. The views read series by series, so a plan's estimated cost grows with the series asked
//! for times the chunks of raw readings (each chunk is a scan in the per-series part), and
//! PostgreSQL compiles once that cost passes `jit_above_cost`, and optimizes and inlines past
//! `jit_optimize_above_cost`. With 90 daily chunks, compiling took 2.4 s of a query for one
//! site's day that runs in 0.2 s; with one chunk, 30 ms of 170. The plan runs many small
//! rescans, which compiled code does not speed up.
//!
//! The rule is applied as a plan starts to run (an `ExecutorStart` hook, so cached and
//! prepared plans follow it too), once the library is loaded. The views make sure it is loaded
//! in time: their buckets' origin is `telemetry.rollup_origin()`, an immutable function that
//! PostgreSQL evaluates while planning, so even a session's first rollup query is covered.

use std::ffi::{c_char, c_int, CStr};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;

use crate::gucs;

static mut PREVIOUS: pg_sys::ExecutorStart_hook_type = None;

pub fn init() {
    unsafe {
        PREVIOUS = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: c_int) {
    unsafe {
        let stmt = if query.is_null() {
            std::ptr::null_mut()
        } else {
            (*query).plannedstmt
        };
        // Only plans PostgreSQL would compile pay for the look at their relations.
        if !stmt.is_null() && (*stmt).jitFlags != 0 && !gucs::rollup_jit() && reads_rollups(stmt) {
            (*stmt).jitFlags = 0;
        }
        match PREVIOUS {
            Some(previous) => previous(query, eflags),
            None => pg_sys::standard_ExecutorStart(query, eflags),
        }
    }
}

/// 1970-01-01 00:00 UTC, where every tier's buckets start (as `date_bin` counts them).
#[pg_extern(immutable, parallel_safe)]
fn rollup_origin() -> TimestampWithTimeZone {
    crate::time::timestamp(0)
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
