//! What an analyst reads from a `telemetry.summary`: the second step of the two-step use
//! (`telemetry.mean(telemetry.rollup(summary))`).

use pgrx::prelude::*;

use super::datum::{damaged, StoredSummary};
use crate::errors::{raise, Class};
use crate::time::timestamp;

#[pg_extern(immutable, strict, parallel_safe)]
fn num_vals(summary: StoredSummary) -> i64 {
    summary.0.scalars().count
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mean(summary: StoredSummary) -> f64 {
    summary.0.scalars().mean
}

#[pg_extern(immutable, strict, parallel_safe)]
fn variance(summary: StoredSummary, population: default!(bool, false)) -> Option<f64> {
    summary.0.scalars().variance(population)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn stddev(summary: StoredSummary, population: default!(bool, false)) -> Option<f64> {
    summary.0.scalars().variance(population).map(f64::sqrt)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn min_val(summary: StoredSummary) -> f64 {
    summary.0.scalars().min
}

#[pg_extern(immutable, strict, parallel_safe)]
fn max_val(summary: StoredSummary) -> f64 {
    summary.0.scalars().max
}

#[pg_extern(immutable, strict, parallel_safe)]
fn first_val(summary: StoredSummary) -> f64 {
    summary.0.scalars().first_value
}

#[pg_extern(immutable, strict, parallel_safe)]
fn last_val(summary: StoredSummary) -> f64 {
    summary.0.scalars().last_value
}

#[pg_extern(immutable, strict, parallel_safe)]
fn first_time(summary: StoredSummary) -> TimestampWithTimeZone {
    timestamp(summary.0.scalars().first_time)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn last_time(summary: StoredSummary) -> TimestampWithTimeZone {
    timestamp(summary.0.scalars().last_time)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn good_count(summary: StoredSummary) -> i64 {
    summary.0.scalars().good
}

#[pg_extern(immutable, strict, parallel_safe)]
fn uncertain_count(summary: StoredSummary) -> i64 {
    summary.0.scalars().uncertain
}

#[pg_extern(immutable, strict, parallel_safe)]
fn bad_count(summary: StoredSummary) -> i64 {
    summary.0.scalars().bad
}

#[pg_extern(immutable, strict, parallel_safe)]
fn mean_quality(summary: StoredSummary) -> Option<f64> {
    summary.0.scalars().mean_quality()
}

#[pg_extern(immutable, strict, parallel_safe)]
fn flags_seen(summary: StoredSummary) -> i32 {
    summary.0.scalars().flags
}

#[pg_extern(immutable, strict, parallel_safe)]
fn percentile(summary: StoredSummary, fraction: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&fraction) {
        raise(
            Class::InvalidParameter,
            format!("percentile fraction must be between 0 and 1, not {fraction}"),
            Some("0.95 is the 95th percentile."),
        );
    }
    summary.0.quantile(fraction).unwrap_or_else(|e| damaged(e))
}

#[pg_extern(immutable, strict, parallel_safe)]
fn percentile_error(summary: StoredSummary) -> Option<f64> {
    summary.0.relative_error()
}
