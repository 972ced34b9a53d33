//! A mergeable relative-error quantile sketch of the DDSketch / UDDSketch family, written for
//! the rollups (ideas from Masson et al., "DDSketch", VLDB 2019, and Epicoco et al.,
//! "UDDSketch", 2020; no code taken from either).
//!
//! A value `x > 0` is counted in bucket `i = ceil(log_gamma(x))`, which holds the values in
//! `(gamma^(i-1), gamma^i]`; negative values are counted by `|x|` in a store of their own and
//! values within [`ZERO`] of zero in one zero bucket. With `gamma = (1 + a) / (1 - a)` the
//! estimate `2 gamma^i / (gamma + 1)` of any value of bucket `i` is within relative error `a`.
//!
//! Size is bounded: when the buckets exceed `MAX_BUCKETS`, neighbouring buckets are joined
//! (`i -> ceil(i / 2)`), which squares gamma, so the bound becomes `2a / (1 + a^2)`. Merging
//! brings both sketches to the coarser of their levels, adds the counts, and collapses until
//! the result fits. Joining commutes with adding, and a union of buckets needs at least the
//! level any part of it needs, so the result (and its bound) is the same whatever the order
//! and grouping of merges: merging is exactly associative and commutative.

/// The relative error of a sketch that never had to collapse: 1 %.
pub const ALPHA: f64 = 0.01;
/// Buckets (positive and negative together) a sketch keeps before it collapses.
pub const MAX_BUCKETS: usize = 1024;
/// Values closer to zero than this are counted as zero (their relative error is unbounded).
pub const ZERO: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Sketch {
    /// How many times the buckets were joined: gamma is `gamma0^(2^level)`.
    #[serde(rename = "l")]
    pub(super) level: u8,
    #[serde(rename = "z")]
    pub(super) zero: u64,
    /// (bucket index, count), ascending by index, counts > 0.
    #[serde(rename = "p")]
    pub(super) positive: Vec<(i32, u64)>,
    #[serde(rename = "n")]
    pub(super) negative: Vec<(i32, u64)>,
}

fn gamma(level: u8) -> f64 {
    ((1.0 + ALPHA) / (1.0 - ALPHA)).powi(1 << level)
}

/// The relative error bound at a collapse level.
pub fn alpha(level: u8) -> f64 {
    let g = gamma(level);
    (g - 1.0) / (g + 1.0)
}

/// Add `count` at `index` in an ascending (index, count) list.
fn add_at(store: &mut Vec<(i32, u64)>, index: i32, count: u64) {
    match store.binary_search_by_key(&index, |&(i, _)| i) {
        Ok(k) => store[k].1 += count,
        Err(k) => store.insert(k, (index, count)),
    }
}

/// Join the buckets of one store pairwise (i -> ceil(i / 2)), keeping it ascending.
fn collapse_store(store: &mut Vec<(i32, u64)>) {
    let mut joined: Vec<(i32, u64)> = Vec::with_capacity(store.len() / 2 + 1);
    for &(i, c) in store.iter() {
        let j = i.div_euclid(2) + i.rem_euclid(2);
        match joined.last_mut() {
            Some((last, n)) if *last == j => *n += c,
            _ => joined.push((j, c)),
        }
    }
    *store = joined;
}

/// The sum of two ascending stores.
fn add_stores(a: &[(i32, u64)], b: &[(i32, u64)]) -> Vec<(i32, u64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let next = match (x.peek(), y.peek()) {
            (Some(&&(i, c)), Some(&&(j, d))) if i == j => {
                x.next();
                y.next();
                (i, c + d)
            }
            (Some(&&p), Some(&&q)) => {
                if p.0 < q.0 {
                    x.next();
                    p
                } else {
                    y.next();
                    q
                }
            }
            (Some(&&p), None) => {
                x.next();
                p
            }
            (None, Some(&&q)) => {
                y.next();
                q
            }
            (None, None) => return out,
        };
        out.push(next);
    }
}

/// More collapses than any finite double needs (1,024 buckets at level 20 span e^(2^20 * 0.02)).
pub const MAX_LEVEL: u8 = 20;

impl Sketch {
    /// Whether the sketch is one this module could have built: a sane level, and stores in
    /// strictly ascending order with no empty bucket. Text a user typed may be anything.
    pub fn check(&self) -> Result<(), String> {
        let ascending = |store: &[(i32, u64)]| {
            store.windows(2).all(|w| w[0].0 < w[1].0) && store.iter().all(|b| b.1 > 0)
        };
        if self.level > MAX_LEVEL {
            return Err(format!("sketch level {} is above {MAX_LEVEL}", self.level));
        }
        if !ascending(&self.positive) || !ascending(&self.negative) {
            return Err("sketch buckets must be in ascending order with counts above 0".into());
        }
        if self.positive.len() + self.negative.len() > MAX_BUCKETS {
            return Err(format!("a sketch holds at most {MAX_BUCKETS} buckets"));
        }
        Ok(())
    }

    /// The relative error this sketch guarantees for values at least [`ZERO`] from zero.
    pub fn relative_error(&self) -> f64 {
        alpha(self.level)
    }

    pub fn count(&self) -> u64 {
        self.zero
            + self.positive.iter().map(|p| p.1).sum::<u64>()
            + self.negative.iter().map(|p| p.1).sum::<u64>()
    }

    /// The bucket of a magnitude: its bucket at level 0 joined `level` times, exactly as
    /// collapsing would (not computed at the coarse gamma, whose rounding could differ).
    fn index(&self, magnitude: f64) -> i32 {
        let mut i = (magnitude.ln() / gamma(0).ln()).ceil() as i32;
        for _ in 0..self.level {
            i = i.div_euclid(2) + i.rem_euclid(2);
        }
        i
    }

    /// Count a value. Non-finite values are not counted.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if x.abs() < ZERO {
            self.zero += 1;
            return;
        }
        let i = self.index(x.abs());
        add_at(
            if x > 0.0 {
                &mut self.positive
            } else {
                &mut self.negative
            },
            i,
            1,
        );
        self.fit();
    }

    fn collapse(&mut self) {
        collapse_store(&mut self.positive);
        collapse_store(&mut self.negative);
        self.level += 1;
    }

    fn fit(&mut self) {
        while self.positive.len() + self.negative.len() > MAX_BUCKETS {
            self.collapse();
        }
    }

    /// The sketch of the values of both.
    pub fn merge(&self, other: &Sketch) -> Sketch {
        let (mut a, mut b) = (self.clone(), other.clone());
        while a.level < b.level {
            a.collapse();
        }
        while b.level < a.level {
            b.collapse();
        }
        let mut out = Sketch {
            level: a.level,
            zero: a.zero + b.zero,
            positive: add_stores(&a.positive, &b.positive),
            negative: add_stores(&a.negative, &b.negative),
        };
        out.fit();
        out
    }

    /// The buckets as ((sign, index), count), ascending by value, the zero bucket included
    /// (sign 0).
    fn ascending(&self) -> impl Iterator<Item = ((i8, i32), u64)> + '_ {
        self.negative
            .iter()
            .rev()
            .map(|&(i, c)| ((-1, i), c))
            .chain(std::iter::once(((0, 0), self.zero)))
            .chain(self.positive.iter().map(|&(i, c)| ((1, i), c)))
    }

    /// The `q` quantile, interpolated between the two nearest ranks as `percentile_cont` does:
    /// within [`Sketch::relative_error`] of the exact value when those two readings have the
    /// same sign and are at least [`ZERO`] from zero. None when empty or `q` is outside 0..1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let level = self.level;
        quantile_of(self.ascending(), self.count(), q, false, |(sign, i)| {
            f64::from(sign) * estimate(level, i)
        })
    }
}

/// The estimate of any value of bucket `index` at a collapse level.
pub(super) fn estimate(level: u8, index: i32) -> f64 {
    let g = gamma(level);
    2.0 * g.powi(index) / (g + 1.0)
}

/// The `q` quantile of `n` values counted in buckets given in order of value, ascending or
/// (`descending`) not, as [`Sketch::quantile`] defines it; `value` gives a bucket's estimate,
/// computed for the buckets needed only. Shared with the stored form, which walks its bytes
/// from the largest value down, so that high percentiles read few buckets.
pub(super) fn quantile_of<K: Copy>(
    walk: impl Iterator<Item = (K, u64)>,
    n: u64,
    q: f64,
    descending: bool,
    value: impl Fn(K) -> f64,
) -> Option<f64> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * (n - 1) as f64;
    let low = rank.floor() as u64;
    let fraction = rank - low as f64;
    // The ascending ranks interpolated between, and where the walk meets them.
    let high = if fraction > 0.0 { low + 1 } else { low };
    let (near, far) = if descending {
        (n - 1 - high, n - 1 - low)
    } else {
        (low, high)
    };
    let (mut seen, mut at_near) = (0u64, None);
    for (key, count) in walk {
        seen = seen.saturating_add(count);
        if at_near.is_none() && near < seen {
            at_near = Some(value(key));
        }
        if let Some(a) = at_near.filter(|_| far < seen) {
            let b = if near < seen - count { value(key) } else { a };
            let (below, above) = if descending { (b, a) } else { (a, b) };
            return Some(if fraction == 0.0 {
                below
            } else {
                below + fraction * (above - below)
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: impl IntoIterator<Item = f64>) -> Sketch {
        let mut s = Sketch::default();
        values.into_iter().for_each(|v| s.add(v));
        s
    }

    /// percentile_cont over sorted values.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = q * (sorted.len() - 1) as f64;
        let low = rank.floor() as usize;
        let high = (low + 1).min(sorted.len() - 1);
        sorted[low] + (rank - low as f64) * (sorted[high] - sorted[low])
    }

    fn assert_within(values: &[f64], s: &Sketch) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let (want, got) = (exact(&sorted, q), s.quantile(q).unwrap());
            let error = ((got - want) / want).abs();
            assert!(
                error <= s.relative_error() + 1e-12,
                "q {q}: {got} vs {want} ({error})"
            );
        }
    }

    #[test]
    fn quantiles_are_within_the_bound() {
        let values: Vec<f64> = (1..=5000)
            .map(|i| (i as f64 * 0.37).sin().abs() * 1e3 + 0.5)
            .collect();
        let s = sketch(values.iter().copied());
        assert!((s.relative_error() - ALPHA).abs() < 1e-12);
        assert_within(&values, &s);
        let negative: Vec<f64> = values.iter().map(|v| -v).collect();
        assert_within(&negative, &sketch(negative.iter().copied()));
    }

    #[test]
    fn a_wide_range_collapses_and_keeps_its_looser_bound() {
        let values: Vec<f64> = (0..4000).map(|i| 1e-6 * 1.01f64.powi(i)).collect();
        let s = sketch(values.iter().copied());
        assert!(s.level > 0 && s.positive.len() <= MAX_BUCKETS);
        assert!((s.relative_error() - 2.0 * ALPHA / (1.0 + ALPHA * ALPHA)).abs() < 1e-12);
        assert_within(&values, &s);
    }

    #[test]
    fn merging_is_associative_and_commutative_and_equals_the_whole() {
        let part = |k: i32| -> Vec<f64> {
            (0..1500)
                .map(|i| (-1.0f64).powi(i) * 1e-5 * 1.013f64.powi(i * k % 2000))
                .collect()
        };
        let (a, b, c) = (part(1), part(3), part(7));
        let (sa, sb, sc) = (sketch(a.clone()), sketch(b.clone()), sketch(c.clone()));
        let left = sa.merge(&sb).merge(&sc);
        let right = sa.merge(&sb.merge(&sc));
        assert_eq!(left, right);
        assert_eq!(left, sc.merge(&sa).merge(&sb));
        let whole = sketch(a.iter().chain(&b).chain(&c).copied());
        assert_eq!(left, whole);
        assert_eq!(left.count(), 4500);
    }

    #[test]
    fn zeros_signs_and_edges() {
        let s = sketch([-2.0, 0.0, 3.0, f64::NAN, f64::INFINITY]);
        assert_eq!(s.count(), 3);
        assert_eq!(s.quantile(0.5), Some(0.0));
        assert!(s.quantile(1.5).is_none() && s.quantile(-0.1).is_none());
        assert!(Sketch::default().quantile(0.5).is_none());
        assert!((s.quantile(0.0).unwrap() + 2.0).abs() <= 2.0 * ALPHA);
    }
}
