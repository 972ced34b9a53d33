//! Points and buckets for the analysis tests, in minutes from the bucket origin.

use super::{Accrual, Buckets, Point, Run, Width, ORIGIN};

pub const MIN: i64 = 60_000_000;

/// The point `minutes` after 2000-01-03 00:00 UTC.
pub fn p(minutes: i64, v: f64) -> Point {
    Point {
        t: ORIGIN + minutes * MIN,
        v,
    }
}

/// Buckets of `minutes` from the origin for `count` of them.
pub fn buckets(minutes: i64, count: i64) -> Buckets {
    let w = Width {
        months: 0,
        days: 0,
        micros: minutes * MIN,
    };
    Buckets::new(ORIGIN, ORIGIN + count * minutes * MIN, w).unwrap()
}

/// The run of points in time order.
pub fn run<A: Accrual>(points: &[Point], acc: A) -> Run<A> {
    let mut r = Run::start(points[0], acc);
    for q in &points[1..] {
        r.push(*q, "test").unwrap();
    }
    r
}
