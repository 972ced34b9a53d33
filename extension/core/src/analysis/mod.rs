//! Analysis over (time, value) rows: counters, time-weighted averages, gap filling and
//! smoothing. Every function takes plain points, so it serves raw readings, rollup rows (bucket
//! and mean) or any rows an analyst has. Times are Unix microseconds.
//!
//! Buckets are aligned as TimescaleDB's `time_bucket` aligns them on `timestamptz`: from
//! Monday 2000-01-03 00:00 UTC, so that bucketed results join its buckets. Aggregates keep their
//! state as a few numbers (a `double precision[]` in SQL, as PostgreSQL's own `avg(float8)`
//! does), with a merge where the order of the rows allows one.

pub mod counters;
pub mod gapfill;
pub mod smoothing;
#[cfg(test)]
mod testing;
pub mod time_weight;

/// Unix microseconds of 2000-01-03 00:00 UTC, `time_bucket`'s origin.
pub const ORIGIN: i64 = 946_857_600_000_000;
/// More buckets than this in one call is a mistake (a bucket of one second over a year is 31
/// million rows); it is refused rather than exhausting memory.
pub const MAX_BUCKETS: i64 = 10_000_000;

/// One row: Unix microseconds and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// A bucket width as an interval gives it; months have no fixed length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Width {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// Seconds between two Unix-microsecond times.
pub fn seconds(from: i64, to: i64) -> f64 {
    (to - from) as f64 / 1e6
}

/// The fixed length in microseconds of a width: positive, without months.
pub fn fixed_micros(width: Width, what: &str) -> Result<i64, String> {
    if width.months != 0 {
        return Err(format!(
            "{what} must have a fixed length, not {} month(s): use days instead",
            width.months
        ));
    }
    let micros = i64::from(width.days)
        .checked_mul(86_400_000_000)
        .and_then(|d| d.checked_add(width.micros))
        .ok_or_else(|| format!("{what} is too long"))?;
    if micros <= 0 {
        return Err(format!(
            "{what} must be positive, not {micros} microseconds"
        ));
    }
    Ok(micros)
}

/// The buckets covering [from, to): the first holds `from`, the last starts before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: i64,
    pub width: i64,
    pub count: usize,
}

impl Buckets {
    pub fn new(from: i64, to: i64, width: Width) -> Result<Buckets, String> {
        let width = fixed_micros(width, "bucket")?;
        if from > to {
            return Err(format!(
                "\"from\" ({}) is after \"to\" ({})",
                crate::time::show(from),
                crate::time::show(to)
            ));
        }
        let start = ORIGIN + (from - ORIGIN).div_euclid(width) * width;
        let count = if from == to {
            0
        } else {
            (to - start + width - 1).div_euclid(width)
        };
        if count > MAX_BUCKETS {
            return Err(format!(
                "{count} buckets between \"from\" and \"to\" are more than {MAX_BUCKETS}: use a wider bucket or a shorter range"
            ));
        }
        Ok(Buckets {
            start,
            width,
            count: count as usize,
        })
    }

    pub fn end(&self) -> i64 {
        self.start + self.width * self.count as i64
    }

    /// Start of bucket `i`.
    pub fn at(&self, i: usize) -> i64 {
        self.start + self.width * i as i64
    }

    /// The bucket holding `t`, if it is one of these.
    pub fn index(&self, t: i64) -> Option<usize> {
        (t >= self.start && t < self.end()).then(|| ((t - self.start) / self.width) as usize)
    }

    /// Calls `f(bucket, a, b)` for each part [a, b] of the span (t0, t1) that lies in a bucket.
    pub fn spread(&self, t0: i64, t1: i64, mut f: impl FnMut(usize, i64, i64)) {
        let (lo, hi) = (t0.max(self.start), t1.min(self.end()));
        if lo >= hi {
            return;
        }
        let mut i = ((lo - self.start) / self.width) as usize;
        while i < self.count && self.at(i) < hi {
            let a = lo.max(self.at(i));
            let b = hi.min(self.at(i) + self.width);
            f(i, a, b);
            i += 1;
        }
    }
}

/// Points from parallel arrays of times and values, in time order; a row where either is NULL
/// is left out. Arrays of different lengths are an error.
pub fn points(times: &[Option<i64>], values: &[Option<f64>]) -> Result<Vec<Point>, String> {
    if times.len() != values.len() {
        return Err(format!(
            "times has {} elements and values {}: they must pair up",
            times.len(),
            values.len()
        ));
    }
    let mut points: Vec<Point> = times
        .iter()
        .zip(values)
        .filter_map(|(t, v)| Some(Point { t: (*t)?, v: (*v)? }))
        .collect();
    points.sort_by_key(|p| p.t);
    Ok(points)
}

/// How a value between two points is read: on the straight line between them, or the earlier
/// point carried forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Linear,
    Locf,
}

impl Interpolation {
    pub fn parse(method: &str) -> Result<Interpolation, String> {
        match method {
            "linear" => Ok(Interpolation::Linear),
            "locf" => Ok(Interpolation::Locf),
            other => Err(format!(
                "unknown method {}: use 'linear' or 'locf'",
                crate::names::echo(other)
            )),
        }
    }

    /// The value at `t` between `p0` and `p1` (p0.t <= t <= p1.t).
    pub fn at(self, p0: Point, p1: Point, t: i64) -> f64 {
        match self {
            Interpolation::Locf => p0.v,
            Interpolation::Linear if p1.t == p0.t => p1.v,
            Interpolation::Linear => p0.v + (p1.v - p0.v) * seconds(p0.t, t) / seconds(p0.t, p1.t),
        }
    }

    /// The integral (value times seconds) over [a, b] of the signal between `p0` and `p1`.
    pub fn area(self, p0: Point, p1: Point, a: i64, b: i64) -> f64 {
        (self.at(p0, p1, a) + self.at(p0, p1, b)) / 2.0 * seconds(a, b)
    }
}

/// What an aggregate over ordered rows adds up between consecutive points.
pub trait Accrual: Copy {
    /// Adds what the span from `p0` to `p1` contributes.
    fn step(&mut self, p0: Point, p1: Point);
    /// Adds what another run accumulated (its own spans, not the one joining the two runs).
    fn absorb(&mut self, other: &Self);
    /// The numbers that stand for it in an aggregate's state.
    fn encode(&self) -> Vec<f64>;
    fn decode(numbers: &[f64]) -> Option<Self>;
}

/// An aggregate's state over rows in time order: the first and last points and what lies
/// between them. Two runs merge when one ends before the other begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run<A> {
    pub n: u64,
    pub first: Point,
    pub last: Point,
    pub acc: A,
}

impl<A: Accrual> Run<A> {
    pub fn start(p: Point, acc: A) -> Run<A> {
        Run {
            n: 1,
            first: p,
            last: p,
            acc,
        }
    }

    /// Adds the next row; rows must come in time order (`what` names the aggregate).
    pub fn push(&mut self, p: Point, what: &str) -> Result<(), String> {
        if p.t < self.last.t {
            return Err(format!(
                "{what} needs its rows in time order, and {} came after {}: write {what}(time, value ... ORDER BY time)",
                crate::time::show(p.t),
                crate::time::show(self.last.t)
            ));
        }
        self.acc.step(self.last, p);
        self.last = p;
        self.n += 1;
        Ok(())
    }

    /// The run of both: they must not overlap in time.
    pub fn merge(a: Run<A>, b: Run<A>, what: &str) -> Result<Run<A>, String> {
        let (mut a, b) = if a.first.t <= b.first.t {
            (a, b)
        } else {
            (b, a)
        };
        if a.last.t > b.first.t {
            return Err(format!(
                "{what} needs its rows in time order, and parts of them overlap: write {what}(time, value ... ORDER BY time)"
            ));
        }
        a.acc.step(a.last, b.first);
        a.acc.absorb(&b.acc);
        a.last = b.last;
        a.n += b.n;
        Ok(a)
    }

    /// The state as numbers: n, first time and value, last time and value, then the accrual's.
    /// Times are microseconds, exact in a double up to the year 2255.
    pub fn encode(&self) -> Vec<f64> {
        let mut out = vec![
            self.n as f64,
            self.first.t as f64,
            self.first.v,
            self.last.t as f64,
            self.last.v,
        ];
        out.extend(self.acc.encode());
        out
    }

    /// The run a state stands for; `None` for the empty state (no numbers) or a malformed one.
    pub fn decode(numbers: &[f64]) -> Option<Run<A>> {
        let (head, rest) = (numbers.get(..5)?, numbers.get(5..)?);
        let point = |t: f64, v: f64| Point { t: t as i64, v };
        Some(Run {
            n: head[0] as u64,
            first: point(head[1], head[2]),
            last: point(head[3], head[4]),
            acc: A::decode(rest)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn hours(n: i64) -> Width {
        Width {
            months: 0,
            days: 0,
            micros: n * H,
        }
    }

    #[test]
    fn buckets_align_as_time_bucket_does() {
        // 2000-01-03 05:30 with 2-hour buckets: the first starts at 04:00, the last at 08:00.
        let b = Buckets::new(ORIGIN + 5 * H + H / 2, ORIGIN + 9 * H, hours(2)).unwrap();
        assert_eq!((b.start, b.count), (ORIGIN + 4 * H, 3));
        assert_eq!(b.index(ORIGIN + 9 * H), Some(2));
        assert_eq!(b.index(ORIGIN + 10 * H), None);
        // Before the origin too.
        let b = Buckets::new(ORIGIN - H / 2, ORIGIN, hours(1)).unwrap();
        assert_eq!((b.start, b.count), (ORIGIN - H, 1));
    }

    #[test]
    fn bad_buckets_are_refused() {
        assert!(Buckets::new(0, H, hours(0))
            .unwrap_err()
            .contains("positive"));
        let month = Width {
            months: 1,
            days: 0,
            micros: 0,
        };
        assert!(Buckets::new(0, H, month).unwrap_err().contains("month"));
        assert!(Buckets::new(H, 0, hours(1)).unwrap_err().contains("after"));
        assert_eq!(Buckets::new(H, H, hours(1)).unwrap().count, 0);
        let second = Width {
            months: 0,
            days: 0,
            micros: 1,
        };
        assert!(Buckets::new(0, H, second)
            .unwrap_err()
            .contains("more than"));
    }

    #[test]
    fn spread_cuts_a_span_at_bucket_boundaries() {
        let o = ORIGIN;
        let b = Buckets::new(o, o + 3 * H, hours(1)).unwrap();
        let mut parts = vec![];
        b.spread(o + H / 2, o + 10 * H, |i, a, c| parts.push((i, a, c)));
        assert_eq!(
            parts,
            [
                (0, o + H / 2, o + H),
                (1, o + H, o + 2 * H),
                (2, o + 2 * H, o + 3 * H)
            ]
        );
    }

    #[test]
    fn points_pair_up_and_sort() {
        let p = points(
            &[Some(2), None, Some(1)],
            &[Some(20.0), Some(0.0), Some(10.0)],
        )
        .unwrap();
        assert_eq!(p, [Point { t: 1, v: 10.0 }, Point { t: 2, v: 20.0 }]);
        assert!(points(&[Some(1)], &[]).unwrap_err().contains("pair up"));
    }

    #[test]
    fn interpolation_reads_between_points() {
        let (p0, p1) = (Point { t: 0, v: 10.0 }, Point { t: H, v: 20.0 });
        assert_eq!(Interpolation::Linear.at(p0, p1, H / 4), 12.5);
        assert_eq!(Interpolation::Locf.at(p0, p1, H / 4), 10.0);
        assert_eq!(Interpolation::Linear.area(p0, p1, 0, H), 15.0 * 3600.0);
        assert_eq!(Interpolation::Locf.area(p0, p1, 0, H), 10.0 * 3600.0);
        assert!(Interpolation::parse("spline")
            .unwrap_err()
            .contains("\"spline\""));
    }
}
