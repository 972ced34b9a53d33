//! What an analyst reads from a `telemetry.summary`: the second step of the two-step use
//! (`telemetry.mean(telemetry.rollup(summary))`).

use pgrx::prelude::*;

use super::Summary;
use crate::errors::{raise, Class};
use crate::time::timestamp;

#[pg_extern(immutable, strict, parallel_safe)]
fn num_vals(summary: Summary) -> i64 {
    summary.0.count
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mean(summary: Summary) -> f64 {
    summary.0.mean
}

#[pg_extern(immutable, strict, parallel_safe)]
fn variance(summary: Summary, population: default!(bool, false)) -> Option<f64> {
    summary.0.variance(population)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn stddev(summary: Summary, population: default!(bool, false)) -> Option<f64> {
    summary.0.variance(population).map(f64::sqrt)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn min_val(summary: Summary) -> f64 {
    summary.0.min
}

#[pg_extern(immutable, strict, parallel_safe)]
fn max_val(summary: Summary) -> f64 {
    summary.0.max
}

#[pg_extern(immutable, strict, parallel_safe)]
fn first_val(summary: Summary) -> f64 {
    summary.0.first_value
}

#[pg_extern(immutable, strict, parallel_safe)]
fn last_val(summary: Summary) -> f64 {
    summary.0.last_value
}

#[pg_extern(immutable, strict, parallel_safe)]
fn first_time(summary: Summary) -> TimestampWithTimeZone {
    timestamp(summary.0.first_time)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn last_time(summary: Summary) -> TimestampWithTimeZone {
    timestamp(summary.0.last_time)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn good_count(summary: Summary) -> i64 {
    summary.0.good
}

#[pg_extern(immutable, strict, parallel_safe)]
fn uncertain_count(summary: Summary) -> i64 {
    summary.0.uncertain
}

#[pg_extern(immutable, strict, parallel_safe)]
fn bad_count(summary: Summary) -> i64 {
    summary.0.bad
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mean_quality(summary: Summary) -> Option<f64> {
    summary.0.mean_quality()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn flags_seen(summary: Summary) -> i32 {
    summary.0.flags
}

#[pg_extern(immutable, strict, parallel_safe)]
fn percentile(summary: Summary, fraction: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&fraction) {
        raise(
            Class::InvalidParameter,
            format!("percentile fraction must be between 0 and 1, not {fraction}"),
            Some("0.95 is the 95th percentile."),
        );
    }
    summary.0.quantile(fraction)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn percentile_error(summary: Summary) -> Option<f64> {
    summary.0.sketch.as_ref().map(|s| s.relative_error())
}
