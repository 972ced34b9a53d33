//! Rolling statistics for the z-score rule, in three numbers so they fit three SQL columns.
//!
//! Seed 003 keeps the last 100 values and recomputes mean and deviation on each. Storing 100
//! values per (rule, series) would make every alarm state row a kilobyte; instead the mean and
//! variance are updated incrementally: exactly (Welford) while fewer than `window` readings
//! are in, then exponentially with weight 1/`window`, which forgets at the rate a window of that
//! length does. Unlike the seed, a reading is judged against the statistics *before* it is
//! added: with itself in the window a jump can never score above (n-1)/sqrt(n), under 3 sigma
//! for the first ten readings. Like the seed, a window with no spread scores 0.

use super::labels::Severity;

/// Count (at most the window), mean and population variance of the recent finite values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub n: i32,
    pub mean: f64,
    pub var: f64,
}

impl Stats {
    /// The z-score of `v`, once `warmup` readings are in.
    pub fn z(&self, v: f64, warmup: u32) -> Option<f64> {
        if i64::from(self.n) < i64::from(warmup) {
            return None;
        }
        let sd = self.var.sqrt();
        if sd > 0.0 && sd.is_finite() {
            Some((v - self.mean).abs() / sd)
        } else {
            Some(0.0)
        }
    }

    /// Fold in a finite value.
    pub fn add(&mut self, v: f64, window: u32) {
        let cap = i32::try_from(window.max(1)).unwrap_or(i32::MAX);
        self.n = self.n.saturating_add(1).min(cap);
        let alpha = 1.0 / f64::from(self.n);
        let delta = v - self.mean;
        self.mean += alpha * delta;
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta);
    }
}

/// Seed 003's bands: over 4 sigma critical, over 3 high, over 2 medium.
pub fn band(z: f64) -> Option<Severity> {
    if z > 4.0 {
        Some(Severity::Critical)
    } else if z > 3.0 {
        Some(Severity::High)
    } else if z > 2.0 {
        Some(Severity::Medium)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_while_the_window_fills() {
        let mut s = Stats::default();
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            s.add(v, 100);
        }
        assert_eq!(s.n, 8);
        assert!((s.mean - 5.0).abs() < 1e-12);
        assert!((s.var - 4.0).abs() < 1e-12, "{}", s.var);
    }

    #[test]
    fn forgets_once_full() {
        let mut s = Stats::default();
        for _ in 0..50 {
            s.add(0.0, 10);
        }
        for _ in 0..50 {
            s.add(10.0, 10);
        }
        assert_eq!(s.n, 10);
        assert!((s.mean - 10.0).abs() < 0.1, "{}", s.mean);
    }

    #[test]
    fn warmup_and_flat_windows() {
        let mut s = Stats::default();
        s.add(1.0, 100);
        assert_eq!(s.z(5.0, 2), None);
        s.add(1.0, 100);
        assert_eq!(s.z(5.0, 2), Some(0.0));
    }

    #[test]
    fn bands_follow_seed_003() {
        assert_eq!(band(4.5), Some(Severity::Critical));
        assert_eq!(band(3.5), Some(Severity::High));
        assert_eq!(band(2.5), Some(Severity::Medium));
        assert_eq!(band(2.0), None);
    }
}
