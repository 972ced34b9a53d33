//! Gap filling over time buckets, where TimescaleDB's Apache edition has no
//! `time_bucket_gapfill`: every bucket of the range, its points aggregated, and the empty ones
//! filled by linear interpolation or the last value carried forward (LOCF), or left empty.
//!
//! A bucket's value stands at the bucket's start. The last point before the first bucket and
//! the first point after the last one count as neighbours, so leading and trailing gaps are
//! filled from them (LOCF needs only the one before, linear both).

use super::{seconds, Buckets, Interpolation, Point};
use crate::names::echo;

/// How an empty bucket is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    None,
    Interpolate(Interpolation),
}

impl Fill {
    pub fn parse(method: &str) -> Result<Fill, String> {
        match method {
            "none" => Ok(Fill::None),
            "linear" | "locf" => Interpolation::parse(method).map(Fill::Interpolate),
            other => Err(format!(
                "unknown method {}: use 'linear', 'locf' or 'none'",
                echo(other)
            )),
        }
    }
}

/// How the points of one bucket make its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Avg,
    Min,
    Max,
    Sum,
    First,
    Last,
}

impl Agg {
    pub fn parse(agg: &str) -> Result<Agg, String> {
        Ok(match agg {
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "sum" => Agg::Sum,
            "first" => Agg::First,
            "last" => Agg::Last,
            other => {
                return Err(format!(
                    "unknown agg {}: use 'avg', 'min', 'max', 'sum', 'first' or 'last'",
                    echo(other)
                ))
            }
        })
    }

    /// The value of a non-empty run of points in time order.
    fn of(self, points: &[Point]) -> f64 {
        let values = points.iter().map(|p| p.v);
        match self {
            Agg::Avg => values.sum::<f64>() / points.len() as f64,
            Agg::Min => values.fold(f64::INFINITY, f64::min),
            Agg::Max => values.fold(f64::NEG_INFINITY, f64::max),
            Agg::Sum => values.sum(),
            Agg::First => points[0].v,
            Agg::Last => points[points.len() - 1].v,
        }
    }
}

/// One bucket of `gapfill`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filled {
    pub bucket: i64,
    pub value: Option<f64>,
    /// True when the bucket had no points and the value was filled in.
    pub filled: bool,
}

/// Every bucket with its value, from points in time order.
pub fn gapfill(points: &[Point], buckets: &Buckets, fill: Fill, agg: Agg) -> Vec<Filled> {
    let before = points.iter().rev().find(|p| p.t < buckets.start).copied();
    let after = points.iter().find(|p| p.t >= buckets.end()).copied();
    let mut known: Vec<Option<Point>> = vec![None; buckets.count];
    let inside: Vec<Point> = points
        .iter()
        .filter(|p| buckets.index(p.t).is_some())
        .copied()
        .collect();
    for group in inside.chunk_by(|a, b| buckets.index(a.t) == buckets.index(b.t)) {
        if let Some(i) = buckets.index(group[0].t) {
            known[i] = Some(Point {
                t: buckets.at(i),
                v: agg.of(group),
            });
        }
    }
    let mut out = Vec::with_capacity(buckets.count);
    let mut previous = before;
    let mut next_known = 0;
    for (i, k) in known.iter().enumerate() {
        if let Some(p) = k {
            out.push(Filled {
                bucket: p.t,
                value: Some(p.v),
                filled: false,
            });
            previous = Some(*p);
            continue;
        }
        let t = buckets.at(i);
        next_known = next_known.max(i);
        while next_known < known.len() && known[next_known].is_none() {
            next_known += 1;
        }
        let next = known.get(next_known).copied().flatten().or(after);
        let value = match (fill, previous, next) {
            (Fill::Interpolate(Interpolation::Locf), Some(p0), _) => Some(p0.v),
            (Fill::Interpolate(Interpolation::Linear), Some(p0), Some(p1)) => {
                Some(p0.v + (p1.v - p0.v) * seconds(p0.t, t) / seconds(p0.t, p1.t))
            }
            _ => None,
        };
        out.push(Filled {
            bucket: t,
            value,
            filled: value.is_some(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{buckets, p};
    use super::*;

    fn values(points: &[Point], fill: Fill, agg: Agg) -> Vec<(Option<f64>, bool)> {
        gapfill(points, &buckets(60, 5), fill, agg)
            .iter()
            .map(|f| (f.value, f.filled))
            .collect()
    }

    // Hour 0: 10 and 20; hours 1 and 2 empty; hour 3: 40; hour 4 empty.
    fn points() -> Vec<Point> {
        vec![p(10, 10.0), p(50, 20.0), p(190, 40.0)]
    }

    #[test]
    fn linear_fills_between_bucket_values() {
        let linear = Fill::Interpolate(Interpolation::Linear);
        let v = values(&points(), linear, Agg::Avg);
        let expected = [
            Some(15.0),
            Some(15.0 + 25.0 / 3.0),
            Some(15.0 + 50.0 / 3.0),
            Some(40.0),
            None,
        ];
        for (got, want) in v.iter().zip(expected) {
            assert!(
                got.0.zip(want).is_none_or(|(g, w)| (g - w).abs() < 1e-9),
                "{v:?}"
            );
            assert_eq!(got.0.is_some(), want.is_some());
        }
        let filled: Vec<bool> = v.iter().map(|x| x.1).collect();
        assert_eq!(filled, [false, true, true, false, false]);
    }

    #[test]
    fn locf_carries_and_none_leaves_gaps() {
        let locf = Fill::Interpolate(Interpolation::Locf);
        let v = values(&points(), locf, Agg::Max);
        assert_eq!(v[1], (Some(20.0), true));
        assert_eq!(v[4], (Some(40.0), true));
        let none = values(&points(), Fill::None, Agg::Min);
        assert_eq!(none[0], (Some(10.0), false));
        assert_eq!(none[1], (None, false));
    }

    #[test]
    fn neighbours_outside_the_range_fill_leading_and_trailing_gaps() {
        // 60 at -01:00, 100 at 02:00, 0 at 07:00.
        let pts = [p(-60, 60.0), p(120, 100.0), p(420, 0.0)];
        let linear = values(&pts, Fill::Interpolate(Interpolation::Linear), Agg::Avg);
        // 00:00 is a third of the way from -01:00 to 02:00; 04:00 two fifths to 07:00.
        assert_eq!(linear[0], (Some(60.0 + 40.0 / 3.0), true));
        assert_eq!(linear[2], (Some(100.0), false));
        assert_eq!(linear[4], (Some(100.0 - 40.0), true));
        let locf = values(&pts, Fill::Interpolate(Interpolation::Locf), Agg::Last);
        assert_eq!(locf[0], (Some(60.0), true));
        // Nothing before: nothing to carry.
        let lone = values(
            &pts[1..],
            Fill::Interpolate(Interpolation::Locf),
            Agg::First,
        );
        assert_eq!(lone[0], (None, false));
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(Fill::parse("nearest").unwrap_err().contains("\"nearest\""));
        assert!(Agg::parse("median").unwrap_err().contains("\"median\""));
        assert_eq!(Agg::parse("sum"), Ok(Agg::Sum));
    }
}
