//! `telemetry-core`: the logic of the `telemetry` extension, with no PostgreSQL in it.
//!
//! Names and their checks, payload decoding (JSON and Sparkplug B), topic routes, the unit and
//! metric catalogues as plain data, validation, quality scoring and the quality report, reading
//! keys and the generations of recent event ids, the `clean_row` arguments, the analysis of (time, value) rows (counters,
//! time-weighted averages, gap filling, smoothing) and the mergeable rollup summaries.
//! Everything takes its parameters as arguments and never reads a setting; the pgrx crate
//! `telemetry` is the thin PostgreSQL layer over it, and plain
//! `cargo test -p telemetry-core` tests it without a cluster.

pub mod alarms;
pub mod analysis;
pub mod batch;
pub mod clean;
pub mod clean_row;
pub mod dedup;
#[cfg(test)]
mod fuzz;
pub mod metrics;
pub mod names;
pub mod payload;
pub mod quality;
pub mod quality_report;
pub mod rejection;
pub mod resolve;
pub mod rollups;
pub mod routes;
pub mod sparkplug;
#[cfg(test)]
mod test_support;
pub mod time;
pub mod units;
pub mod validate;
