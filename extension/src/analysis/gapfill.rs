//! Gap filling in SQL (`telemetry_core::analysis::gapfill`): `telemetry.gapfill` over arrays of
//! times and values; the form by series id is in sql/analysis.sql.

use pgrx::datum::Interval;
use pgrx::prelude::*;
use telemetry_core::analysis::gapfill::{gapfill as fill, Agg, Fill};

use super::{bucketed, check};
use crate::errors::required;
use crate::time::timestamp;

/// Every bucket of [from, to) with its points aggregated by `agg`, empty buckets filled by
/// `method`; the last point before and the first after the range fill leading and trailing gaps.
#[pg_extern(immutable, parallel_safe)]
fn gapfill(
    times: Option<Array<'_, TimestampWithTimeZone>>,
    values: Option<Array<'_, f64>>,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    bucket: Option<Interval>,
    method: default!(Option<&str>, "'linear'"),
    agg: default!(Option<&str>, "'avg'"),
) -> TableIterator<
    'static,
    (
        name!(bucket, TimestampWithTimeZone),
        name!(value, Option<f64>),
        name!(filled, bool),
    ),
> {
    let method = check(Fill::parse(required(method, "method")));
    let agg = check(Agg::parse(required(agg, "agg")));
    let (points, buckets) = bucketed(times, values, from, to, bucket);
    TableIterator::new(
        fill(&points, &buckets, method, agg)
            .into_iter()
            .map(|f| (timestamp(f.bucket), f.value, f.filled)),
    )
}
