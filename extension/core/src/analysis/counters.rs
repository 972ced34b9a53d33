//! Cumulative counters (energy meters in kWh, pulse counts): how much they rose, through resets
//! and rollovers.
//!
//! Between two readings a counter rises by the difference. When it drops, either it wrapped
//! (a register of fixed size passed its rollover value and started again from 0) or it was
//! reset (replaced, cleared): with a rollover `r` given, a drop is a wrap when the rise it
//! implies, `r - previous + value`, is under half of `r`, and a reset otherwise; without one
//! every drop is a reset. After a reset the new value counts from zero, so the rise is the new
//! value itself.
//!
//! Per bucket, the rise between two readings is split over the buckets they straddle in
//! proportion to the time in each, so the buckets' deltas add up to the whole rise. A reset
//! counts in the bucket of the reading that shows it.

use super::{seconds, Accrual, Buckets, Point, Run};

/// What happened between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Rise(f64),
    Wrap(f64),
    Reset(f64),
}

impl Step {
    pub fn between(previous: f64, value: f64, rollover: Option<f64>) -> Step {
        if value >= previous {
            return Step::Rise(value - previous);
        }
        match rollover {
            // A value above the rollover cannot have come from the register: not a wrap.
            Some(r) if (0.0..r / 2.0).contains(&(r - previous + value)) => {
                Step::Wrap(r - previous + value)
            }
            _ => Step::Reset(value),
        }
    }

    pub fn increase(self) -> f64 {
        match self {
            Step::Rise(d) | Step::Wrap(d) | Step::Reset(d) => d,
        }
    }
}

/// A rollover value must be a positive finite number.
pub fn check_rollover(rollover: Option<f64>) -> Result<Option<f64>, String> {
    match rollover {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(format!(
            "rollover must be a positive number (the value the counter wraps to 0 at), not {r}"
        )),
        r => Ok(r),
    }
}

/// The counter aggregates' accrual: the rise so far and the resets seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counter {
    pub rollover: Option<f64>,
    pub increase: f64,
    pub resets: u64,
}

impl Counter {
    pub fn new(rollover: Option<f64>) -> Counter {
        Counter {
            rollover,
            increase: 0.0,
            resets: 0,
        }
    }
}

impl Accrual for Counter {
    fn step(&mut self, p0: Point, p1: Point) {
        let step = Step::between(p0.v, p1.v, self.rollover);
        self.increase += step.increase();
        self.resets += u64::from(matches!(step, Step::Reset(_)));
    }

    fn absorb(&mut self, other: &Counter) {
        self.increase += other.increase;
        self.resets += other.resets;
    }

    fn encode(&self) -> Vec<f64> {
        vec![
            self.increase,
            self.resets as f64,
            self.rollover.unwrap_or(f64::NAN),
        ]
    }

    fn decode(numbers: &[f64]) -> Option<Counter> {
        match *numbers {
            [increase, resets, rollover] => Some(Counter {
                rollover: (!rollover.is_nan()).then_some(rollover),
                increase,
                resets: resets as u64,
            }),
            _ => None,
        }
    }
}

/// The counter's rise per second over the run; `None` for a run without duration.
pub fn rate(run: &Run<Counter>) -> Option<f64> {
    let s = seconds(run.first.t, run.last.t);
    (s > 0.0).then(|| run.acc.increase / s)
}

/// One bucket of `deltas`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    pub bucket: i64,
    /// The rise within the bucket; `None` where no two readings span any of it.
    pub delta: Option<f64>,
    /// The rise per second over the part of the bucket between readings.
    pub rate_per_second: Option<f64>,
    pub resets: u64,
}

/// The rise of the counter in each bucket, from points in time order. Points before and after
/// the buckets count for the spans that reach into them.
pub fn deltas(points: &[Point], buckets: &Buckets, rollover: Option<f64>) -> Vec<Delta> {
    let mut sum = vec![0.0; buckets.count];
    let mut covered = vec![0i64; buckets.count];
    let mut touched = vec![false; buckets.count];
    let mut resets = vec![0u64; buckets.count];
    for pair in points.windows(2) {
        let (p0, p1) = (pair[0], pair[1]);
        let step = Step::between(p0.v, p1.v, rollover);
        if let (Step::Reset(_), Some(i)) = (step, buckets.index(p1.t)) {
            resets[i] += 1;
        }
        if p1.t == p0.t {
            if let Some(i) = buckets.index(p1.t) {
                sum[i] += step.increase();
                touched[i] = true;
            }
            continue;
        }
        let span = (p1.t - p0.t) as f64;
        buckets.spread(p0.t, p1.t, |i, a, b| {
            sum[i] += step.increase() * (b - a) as f64 / span;
            covered[i] += b - a;
            touched[i] = true;
        });
    }
    (0..buckets.count)
        .map(|i| Delta {
            bucket: buckets.at(i),
            delta: touched[i].then_some(sum[i]),
            rate_per_second: (covered[i] > 0).then(|| sum[i] / (covered[i] as f64 / 1e6)),
            resets: resets[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{buckets, p};
    use super::*;

    fn run(points: &[Point], rollover: Option<f64>) -> Run<Counter> {
        super::super::testing::run(points, Counter::new(rollover))
    }

    #[test]
    fn steps_tell_rises_wraps_and_resets_apart() {
        assert_eq!(Step::between(10.0, 15.0, None), Step::Rise(5.0));
        assert_eq!(Step::between(100.0, 3.0, None), Step::Reset(3.0));
        // 16-bit register: 65530 -> 4 is 6 to the wrap and 4 after it.
        assert_eq!(Step::between(65530.0, 4.0, Some(65536.0)), Step::Wrap(10.0));
        // A drop from the middle of the range is a reset even with a rollover.
        assert_eq!(Step::between(1000.0, 5.0, Some(65536.0)), Step::Reset(5.0));
        // Nor is a drop from above the rollover, which would be a negative rise.
        assert_eq!(Step::between(70000.0, 5.0, Some(65536.0)), Step::Reset(5.0));
    }

    #[test]
    fn increase_survives_a_reset_and_a_wrap() {
        // 100 -> 150 (+50), reset to 20 (+20), -> 65530 (+65510), wrap to 6 (+12).
        let r = run(
            &[
                p(0, 100.0),
                p(10, 150.0),
                p(20, 20.0),
                p(30, 65530.0),
                p(40, 6.0),
            ],
            Some(65536.0),
        );
        assert_eq!(r.acc.increase, 50.0 + 20.0 + 65510.0 + 12.0);
        assert_eq!(r.acc.resets, 1);
        assert_eq!(rate(&r), Some(65592.0 / 2400.0));
    }

    #[test]
    fn out_of_order_rows_are_refused() {
        let mut r = Run::start(p(10, 1.0), Counter::new(None));
        let e = r.push(p(5, 2.0), "counter_increase").unwrap_err();
        assert!(e.contains("ORDER BY time"), "{e}");
    }

    #[test]
    fn runs_merge_to_the_whole() {
        let all = [p(0, 1.0), p(1, 5.0), p(2, 2.0), p(3, 4.0)];
        let whole = run(&all, None);
        let merged = Run::merge(run(&all[2..], None), run(&all[..2], None), "c").unwrap();
        assert_eq!(merged, whole);
        let decoded = Run::<Counter>::decode(&merged.encode()).unwrap();
        assert_eq!(decoded, whole);
        assert!(Run::merge(run(&all[1..3], None), run(&all[..3], None), "c").is_err());
        assert_eq!(Run::<Counter>::decode(&[]), None);
    }

    #[test]
    fn deltas_split_a_rise_across_the_boundary_in_proportion() {
        // 00:30 at 0 kWh, 01:30 at 60 kWh, 02:00 reset to 5, 02:30 at 15.
        let d = deltas(
            &[p(30, 0.0), p(90, 60.0), p(120, 5.0), p(150, 15.0)],
            &buckets(60, 3),
            None,
        );
        assert_eq!(d[0].delta, Some(30.0));
        assert_eq!(d[0].rate_per_second, Some(30.0 / 1800.0));
        // 30 from the first span, 5 after the reset at 02:00, which falls at 02:00 (bucket 2).
        assert_eq!(d[1].delta, Some(30.0 + 5.0));
        assert_eq!((d[1].resets, d[2].resets), (0, 1));
        assert_eq!(d[2].delta, Some(10.0));
        let total: f64 = d.iter().filter_map(|x| x.delta).sum();
        assert_eq!(total, 60.0 + 5.0 + 10.0);
    }

    #[test]
    fn deltas_use_points_outside_the_buckets_and_leave_uncovered_buckets_empty() {
        // A point an hour before the buckets and one at 01:30; the third bucket has none.
        let d = deltas(&[p(-60, 0.0), p(90, 150.0)], &buckets(60, 3), None);
        assert_eq!(d[0].delta, Some(60.0));
        assert_eq!(d[1].delta, Some(30.0));
        assert_eq!(d[1].rate_per_second, Some(30.0 / 1800.0));
        assert_eq!((d[2].delta, d[2].rate_per_second), (None, None));
    }

    #[test]
    fn a_rollover_must_be_positive() {
        assert!(check_rollover(Some(0.0)).is_err());
        assert!(check_rollover(Some(f64::INFINITY)).is_err());
        assert_eq!(check_rollover(None), Ok(None));
    }
}
