//! `telemetry`: industrial telemetry inside PostgreSQL, next to TimescaleDB hypertables.
//!
//! This crate is the thin PostgreSQL layer. The logic (payload decoding, routes, units,
//! metrics, validation, quality, reading keys, and the pipeline's decisions) is the crate
//! `telemetry-core` in `extension/core/`, which needs no PostgreSQL to build or test. Here are
//! only what needs PostgreSQL: a module per capability with its `#[pg_extern]` functions
//! (units, metrics, validate, quality, dedup, routes, row_trigger), the ingest pipeline's I/O
//! stages (`ingest/`: Sparkplug aliases, series, store; `dead_letters`; the entry points
//! `staging` and `inbox`), the registry cache ([`registry`], invalidated by PostgreSQL's own
//! relcache machinery), every setting ([`gucs`]) and every SQLSTATE ([`errors`]).

// pgrx reads SQL signatures from the literal types of #[pg_extern] functions, so table-returning
// functions cannot name their row type through an alias.
#![allow(clippy::type_complexity)]

use pgrx::prelude::*;

mod dead_letters;
mod dedup;
mod errors;
mod gucs;
mod inbox;
mod ingest;
mod metrics;
mod quality;
mod registry;
mod routes;
mod row_trigger;
mod staging;
mod time;
mod units;
mod validate;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../../sql/seed.sql", name = "seed", requires = ["schema"]);
extension_sql_file!(
    "../../sql/setup.sql",
    name = "setup",
    requires = ["seed", registry::registry_changed]
);
extension_sql_file!(
    "../../sql/ingest.sql",
    name = "ingest",
    requires = [
        "setup",
        routes::check_route_pattern,
        inbox::inbox_begin,
        inbox::inbox_collect,
        inbox::inbox_flush
    ]
);
extension_sql_file!(
    "../../sql/maintenance.sql",
    name = "maintenance",
    requires = ["schema"]
);
extension_sql_file!(
    "../../sql/series_identity.sql",
    name = "series_identity",
    // After ingest (not only setup): pgrx orders independent files differently from build to
    // build, and the OIDs of the tables, which pg_regress output orders by, would follow.
    requires = ["ingest"]
);
extension_sql_file!(
    "../../sql/grants.sql",
    name = "grants",
    requires = ["ingest", "maintenance", "series_identity"]
);
extension_sql_file!("../../sql/comments.sql", name = "comments", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    registry::init();
    inbox::init();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'timescaledb'"]
    }
}
