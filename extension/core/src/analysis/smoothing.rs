//! Smoothing and trend (seed 003 section 8): the exponential moving average, per row with a
//! fixed alpha or per time with a time constant for irregular sampling, and the least-squares
//! slope of value against time.
//!
//! The simple moving average needs no function: `avg(value) OVER (ORDER BY time ROWS BETWEEN
//! n - 1 PRECEDING AND CURRENT ROW)` is seed 003's `simple_ma` (a short window at the start
//! averages what there is), and `RANGE BETWEEN interval '10 minutes' PRECEDING AND CURRENT ROW`
//! is its time-window form.

use super::seconds;

/// Alpha must lie in (0, 1]: 1 follows the values, near 0 barely moves.
pub fn check_alpha(alpha: f64) -> Result<f64, String> {
    if alpha > 0.0 && alpha <= 1.0 {
        Ok(alpha)
    } else {
        Err(format!("alpha must be in (0, 1], not {alpha}"))
    }
}

/// The next EMA: the first value is its own average, then `alpha * value + (1 - alpha) * ema`.
pub fn ema_step(ema: Option<f64>, value: f64, alpha: f64) -> f64 {
    match ema {
        None => value,
        Some(e) => alpha * value + (1.0 - alpha) * e,
    }
}

/// The next time-aware EMA, with alpha `1 - exp(-dt / tau)` from the time since the previous
/// row: a reading after a long gap weighs more than one right after another. `previous` is the
/// previous row's time (microseconds) and EMA.
pub fn ema_time_step(
    previous: Option<(i64, f64)>,
    t: i64,
    value: f64,
    tau_seconds: f64,
) -> Result<(i64, f64), String> {
    match previous {
        None => Ok((t, value)),
        Some((t0, _)) if t < t0 => Err(format!(
            "ema needs its rows in time order, and {} came after {}: write ema(time, value, time_constant) OVER (ORDER BY time)",
            crate::time::show(t),
            crate::time::show(t0)
        )),
        Some((t0, e)) => {
            let alpha = 1.0 - (-seconds(t0, t) / tau_seconds).exp();
            Ok((t, ema_step(Some(e), value, alpha)))
        }
    }
}

/// A least-squares fit of value against time in seconds, kept as means and co-moments
/// (Welford's updates, merged by Chan's formula) so that times of 1.8e9 seconds lose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Fit {
    pub n: f64,
    pub mean_x: f64,
    pub mean_y: f64,
    /// Sum of squared deviations of x.
    pub m2x: f64,
    /// Sum of products of the deviations of x and y.
    pub cxy: f64,
}

impl Fit {
    pub fn push(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        let dx = x - self.mean_x;
        self.mean_x += dx / self.n;
        self.mean_y += (y - self.mean_y) / self.n;
        self.m2x += dx * (x - self.mean_x);
        self.cxy += dx * (y - self.mean_y);
    }

    pub fn merge(a: Fit, b: Fit) -> Fit {
        if a.n == 0.0 {
            return b;
        }
        if b.n == 0.0 {
            return a;
        }
        let n = a.n + b.n;
        let (dx, dy) = (b.mean_x - a.mean_x, b.mean_y - a.mean_y);
        Fit {
            n,
            mean_x: a.mean_x + dx * b.n / n,
            mean_y: a.mean_y + dy * b.n / n,
            m2x: a.m2x + b.m2x + dx * dx * a.n * b.n / n,
            cxy: a.cxy + b.cxy + dx * dy * a.n * b.n / n,
        }
    }

    /// The slope per second; `None` with fewer than two distinct times.
    pub fn slope(&self) -> Option<f64> {
        (self.n >= 2.0 && self.m2x > 0.0).then(|| self.cxy / self.m2x)
    }

    pub fn encode(&self) -> Vec<f64> {
        vec![self.n, self.mean_x, self.mean_y, self.m2x, self.cxy]
    }

    /// The fit a state stands for: empty is no rows yet.
    pub fn decode(numbers: &[f64]) -> Option<Fit> {
        match *numbers {
            [] => Some(Fit::default()),
            [n, mean_x, mean_y, m2x, cxy] => Some(Fit {
                n,
                mean_x,
                mean_y,
                m2x,
                cxy,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_follows_seed_003() {
        // exponential_ma([10, 20, 30], 0.3): 10, 13, 18.1.
        let mut e = None;
        let out: Vec<f64> = [10.0, 20.0, 30.0]
            .iter()
            .map(|v| {
                let next = ema_step(e, *v, 0.3);
                e = Some(next);
                next
            })
            .collect();
        assert_eq!(out[..2], [10.0, 13.0]);
        assert!((out[2] - 18.1).abs() < 1e-12);
        assert!(check_alpha(0.0).is_err() && check_alpha(1.5).is_err());
        assert_eq!(check_alpha(1.0), Ok(1.0));
    }

    #[test]
    fn time_ema_weighs_by_the_gap() {
        let s = 1_000_000;
        let (t, e) = ema_time_step(None, 0, 10.0, 60.0).unwrap();
        // One time constant later the new value weighs 1 - 1/e.
        let (_, e1) = ema_time_step(Some((t, e)), 60 * s, 20.0, 60.0).unwrap();
        assert!((e1 - (10.0 + 10.0 * (1.0 - (-1.0f64).exp()))).abs() < 1e-12);
        assert!(ema_time_step(Some((60 * s, e1)), 0, 1.0, 60.0).is_err());
    }

    #[test]
    fn slope_is_least_squares_and_merges() {
        // Seed 003's timestamps in hours: y = 2x + 1 with noise that cancels.
        let t0 = 1.8e9;
        let rows = [(0.0, 1.0), (1.0, 3.5), (2.0, 4.5), (3.0, 7.0)];
        let mut all = Fit::default();
        let (mut a, mut b) = (Fit::default(), Fit::default());
        for (i, (h, y)) in rows.iter().enumerate() {
            all.push(t0 + h * 3600.0, *y);
            if i < 2 { &mut a } else { &mut b }.push(t0 + h * 3600.0, *y);
        }
        // Least squares by hand: x mean 1.5, y mean 4; sxy = 9.5, sxx = 5: 1.9 per hour.
        let per_hour = all.slope().unwrap() * 3600.0;
        assert!((per_hour - 1.9).abs() < 1e-9, "{per_hour}");
        let merged = Fit::merge(b, a).slope().unwrap() * 3600.0;
        assert!((merged - 1.9).abs() < 1e-9, "{merged}");
        assert_eq!(Fit::decode(&all.encode()), Some(all));
        let mut one = Fit::default();
        one.push(t0, 1.0);
        assert_eq!(one.slope(), None);
    }
}
