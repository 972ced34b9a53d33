//! Topic routes in SQL: the CHECK on `telemetry.routes.pattern` and `telemetry.match_topic`.
//! The patterns and the matcher are `telemetry_core::routes`.

use pgrx::prelude::*;

use crate::errors::{echo, invalid_parameter};
pub use telemetry_core::routes::*;

/// CHECK on `telemetry.routes.pattern`: true, or an error saying what is wrong with it.
#[pg_extern(immutable, strict, parallel_safe)]
pub fn check_route_pattern(pattern: &str) -> bool {
    Pattern::parse(pattern).map(|_| true).unwrap_or_else(|e| {
        invalid_parameter(
            format!("invalid route pattern {}: {e}", echo(pattern)),
            None,
        )
    })
}

/// The fields a topic fills under a pattern: one row when the pattern matches, none otherwise.
#[pg_extern(immutable, strict, parallel_safe)]
fn match_topic(
    pattern: &str,
    topic: &str,
) -> TableIterator<
    'static,
    (
        name!(site_id, Option<String>),
        name!(asset_id, Option<String>),
        name!(sensor_id, Option<String>),
        name!(metric, Option<String>),
    ),
> {
    let p = Pattern::parse(pattern).unwrap_or_else(|e| {
        invalid_parameter(
            format!("invalid route pattern {}: {e}", echo(pattern)),
            None,
        )
    });
    let owned = |s: Option<&str>| s.map(str::to_string);
    let row = p.captures(topic).map(|c| {
        (
            owned(c.site),
            owned(c.asset),
            owned(c.sensor),
            owned(c.metric),
        )
    });
    TableIterator::new(row)
}
