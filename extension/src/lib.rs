//! `telemetry`: industrial telemetry inside PostgreSQL, next to TimescaleDB hypertables.
//!
//! This crate is the thin PostgreSQL layer. The logic (payload decoding, routes, units,
//! metrics, validation, quality, reading keys, and the pipeline's decisions) is the crate
//! `telemetry-core` in `extension/core/`, which needs no PostgreSQL to build or test. Here are
//! only what needs PostgreSQL: a module per capability with its `#[pg_extern]` functions
//! (units, metrics, validate, quality, quality_report, dedup, routes, row_trigger, replay,
//! alarms, analysis), the ingest
//! pipeline's I/O stages (`ingest/`: Sparkplug births, metrics registered on first sight,
//! series, store, rollups, alarms; `dead_letters`; the entry points `staging` and `inbox`), the alarms'
//! states, actions and maintenance (`alarms/`), the rollup summary type, its aggregates and
//! accessors (`rollups/`), `telemetry.run_maintenance()` and its background worker
//! (`maintenance/`), the registry cache ([`registry`], invalidated by PostgreSQL's own
//! relcache machinery), every setting ([`gucs`]), every SQLSTATE ([`errors`]), and the
//! statements the pipeline keeps prepared for the life of a backend ([`plans`]).

// pgrx reads SQL signatures from the literal types of #[pg_extern] functions, so table-returning
// functions cannot name their row type through an alias.
#![allow(clippy::type_complexity)]

use pgrx::prelude::*;

mod alarms;
mod analysis;
mod dead_letters;
mod dedup;
mod errors;
mod gucs;
mod inbox;
mod ingest;
mod maintenance;
mod metrics;
mod plans;
mod quality;
mod quality_report;
mod registry;
mod replay;
mod rollups;
mod routes;
mod row_trigger;
mod staging;
mod time;
mod units;
mod validate;

::pgrx::pg_module_magic!(name, version);

// The hand-written SQL, one file per capability, loaded in this order (a chain, so that the
// order, and with it the OIDs that pg_regress output orders by, is the same in every build).
// The bootstrap is named "schema" because telemetry.validate() requires its result type by it.
extension_sql_file!("../../sql/bootstrap.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../../sql/units.sql",
    name = "units",
    requires = ["schema", registry::registry_changed]
);
extension_sql_file!(
    "../../sql/metrics.sql",
    name = "metrics",
    requires = ["units", metrics::load_vocabulary]
);
extension_sql_file!(
    "../../sql/sites.sql",
    name = "sites",
    requires = ["metrics"]
);
extension_sql_file!(
    "../../sql/series.sql",
    name = "series",
    requires = ["sites"]
);
extension_sql_file!(
    "../../sql/readings.sql",
    name = "readings",
    requires = ["series"]
);
extension_sql_file!(
    "../../sql/dead_letters.sql",
    name = "dead_letters",
    requires = ["readings"]
);
extension_sql_file!(
    "../../sql/maintenance.sql",
    name = "maintenance",
    requires = ["dead_letters"]
);
extension_sql_file!(
    "../../sql/routes.sql",
    name = "routes",
    requires = ["maintenance", routes::check_route_pattern]
);
extension_sql_file!(
    "../../sql/sparkplug.sql",
    name = "sparkplug",
    requires = ["routes"]
);
extension_sql_file!(
    "../../sql/dedup.sql",
    name = "dedup",
    requires = ["sparkplug"]
);
extension_sql_file!(
    "../../sql/inbox.sql",
    name = "inbox",
    requires = [
        "dedup",
        inbox::inbox_begin,
        inbox::inbox_collect,
        inbox::inbox_flush
    ]
);
extension_sql_file!(
    "../../sql/ingest.sql",
    name = "ingest",
    requires = ["inbox"]
);
extension_sql_file!(
    "../../sql/series_identity.sql",
    name = "series_identity",
    requires = ["ingest"]
);
extension_sql_file!(
    "../../sql/metric_registration.sql",
    name = "metric_registration",
    requires = ["series_identity"]
);
extension_sql_file!(
    "../../sql/alarms.sql",
    name = "alarms",
    requires = ["metric_registration", alarms::rules::alarm_rule_check]
);
extension_sql_file!(
    "../../sql/analysis.sql",
    name = "analysis",
    requires = [
        "alarms",
        analysis::counters::counter_accum,
        analysis::counters::counter_accum_rollover,
        analysis::counters::counter_combine,
        analysis::counters::counter_increase_final,
        analysis::counters::counter_rate_final,
        analysis::counters::counter_deltas,
        analysis::time_weight::time_weight_accum,
        analysis::time_weight::time_weight_accum_method,
        analysis::time_weight::time_weight_combine,
        analysis::time_weight::time_weight_final,
        analysis::time_weight::time_weighted_averages,
        analysis::gapfill::gapfill,
        analysis::smoothing::ema_accum,
        analysis::smoothing::ema_time_accum,
        analysis::smoothing::ema_time_final,
        analysis::smoothing::trend_accum,
        analysis::smoothing::trend_accum_per,
        analysis::smoothing::trend_combine,
        analysis::smoothing::trend_slope_final
    ]
);
extension_sql_file!(
    "../../sql/rollups.sql",
    name = "rollups",
    requires = [
        "alarms",
        rollups::Summary,
        rollups::rollup_merge,
        rollups::without_percentiles,
        rollups::summarize_trans,
        rollups::rollup_trans,
        rollups::summary_final,
        rollups::rollup_tiers,
        rollups::watermark::rollup_watermark,
        rollups::jit::rollup_origin,
        rollups::accessors::num_vals,
        rollups::accessors::mean,
        rollups::accessors::min_val,
        rollups::accessors::max_val,
        rollups::accessors::stddev,
        rollups::accessors::good_count,
        rollups::accessors::bad_count
    ]
);
extension_sql_file!(
    "../../sql/retention.sql",
    name = "retention",
    requires = ["rollups"]
);
extension_sql_file!(
    "../../sql/grants.sql",
    name = "grants",
    requires = [
        "analysis",
        "retention",
        quality_report::quality_report,
        replay::replay_dead_letters,
        alarms::acknowledge,
        maintenance::run_maintenance,
        alarms::trigger::alarm_trigger
    ]
);
extension_sql_file!(
    "../../sql/function_comments.sql",
    name = "function_comments",
    finalize
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    registry::init();
    inbox::init();
    rollups::jit::init();
    maintenance::worker::register();
}

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'timescaledb'"]
    }
}
