//! Time-weighted averages of gauges sampled irregularly: the integral of the signal over time
//! divided by the time, the signal read between readings on the straight line between them
//! (linear) or as the earlier reading carried forward (LOCF).
//!
//! The signal is known from the first reading to the last. Per bucket, a reading before the
//! bucket gives the value at its start (interpolated, or carried), a reading after it the
//! value at its end, and the average is over the part of the bucket the signal is known in.

use super::{seconds, Accrual, Buckets, Interpolation, Point, Run};

/// The aggregate's accrual: the method and the integral so far (value times seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighted {
    pub method: Interpolation,
    pub area: f64,
}

impl Weighted {
    pub fn new(method: Interpolation) -> Weighted {
        Weighted { method, area: 0.0 }
    }
}

impl Accrual for Weighted {
    fn step(&mut self, p0: Point, p1: Point) {
        self.area += self.method.area(p0, p1, p0.t, p1.t);
    }

    fn absorb(&mut self, other: &Weighted) {
        self.area += other.area;
    }

    fn encode(&self) -> Vec<f64> {
        let method = match self.method {
            Interpolation::Linear => 0.0,
            Interpolation::Locf => 1.0,
        };
        vec![method, self.area]
    }

    fn decode(numbers: &[f64]) -> Option<Weighted> {
        let method = match numbers.first()? {
            m if *m == 0.0 => Interpolation::Linear,
            m if *m == 1.0 => Interpolation::Locf,
            _ => return None,
        };
        Some(Weighted {
            method,
            area: *numbers.get(1)?,
        })
    }
}

/// The average of a run: the integral over its duration, or the last value when it has none
/// (a single reading).
pub fn average(run: &Run<Weighted>) -> f64 {
    let s = seconds(run.first.t, run.last.t);
    if s > 0.0 {
        run.acc.area / s
    } else {
        run.last.v
    }
}

/// The time-weighted average of each bucket, from points in time order; `None` for a bucket
/// the signal is not known in for any time.
pub fn averages(points: &[Point], buckets: &Buckets, method: Interpolation) -> Vec<Option<f64>> {
    let mut area = vec![0.0; buckets.count];
    let mut covered = vec![0i64; buckets.count];
    for pair in points.windows(2) {
        let (p0, p1) = (pair[0], pair[1]);
        buckets.spread(p0.t, p1.t, |i, a, b| {
            area[i] += method.area(p0, p1, a, b);
            covered[i] += b - a;
        });
    }
    area.iter()
        .zip(&covered)
        .map(|(a, c)| (*c > 0).then(|| a / (*c as f64 / 1e6)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{buckets, p};
    use super::*;

    fn run(points: &[Point], method: Interpolation) -> Run<Weighted> {
        super::super::testing::run(points, Weighted::new(method))
    }

    // 10 for 10 minutes, then 20 for 50 minutes, read at 00:00, 00:10 and 01:00.
    const READINGS: [(i64, f64); 3] = [(0, 10.0), (10, 20.0), (60, 20.0)];

    fn readings() -> Vec<Point> {
        READINGS.iter().map(|(m, v)| p(*m, *v)).collect()
    }

    #[test]
    fn linear_and_locf_weigh_by_time() {
        // Linear: 15 for 10 minutes and 20 for 50: (150 + 1000) / 60.
        let linear = average(&run(&readings(), Interpolation::Linear));
        assert!((linear - 1150.0 / 60.0).abs() < 1e-12, "{linear}");
        // LOCF: 10 for 10 minutes and 20 for 50: (100 + 1000) / 60.
        let locf = average(&run(&readings(), Interpolation::Locf));
        assert!((locf - 1100.0 / 60.0).abs() < 1e-12, "{locf}");
        // The plain mean of the readings would be 16.67.
    }

    #[test]
    fn a_single_reading_is_its_own_average() {
        assert_eq!(average(&run(&[p(0, 7.0)], Interpolation::Linear)), 7.0);
    }

    #[test]
    fn runs_merge_and_keep_their_method() {
        let r = readings();
        let whole = run(&r, Interpolation::Locf);
        let merged = Run::merge(
            run(&r[..1], Interpolation::Locf),
            run(&r[1..], Interpolation::Locf),
            "t",
        )
        .unwrap();
        assert_eq!(merged, whole);
        assert_eq!(Run::<Weighted>::decode(&whole.encode()), Some(whole));
        assert_eq!(
            Run::<Weighted>::decode(&[1.0, 0.0, 0.0, 0.0, 0.0, 7.0, 0.0]),
            None
        );
    }

    #[test]
    fn buckets_take_their_boundary_values_from_neighbouring_readings() {
        // Readings at 00:00 (0) and 01:30 (90); 30-minute buckets 00:00 .. 02:00.
        let b = buckets(30, 4);
        let points = [p(0, 0.0), p(90, 90.0)];
        // Linear: the buckets average 15, 45 and 75; after 01:30 nothing is known.
        assert_eq!(
            averages(&points, &b, Interpolation::Linear),
            [Some(15.0), Some(45.0), Some(75.0), None]
        );
        // LOCF: the 00:00 reading carries into all three.
        assert_eq!(
            averages(&points, &b, Interpolation::Locf),
            [Some(0.0), Some(0.0), Some(0.0), None]
        );
    }
}
