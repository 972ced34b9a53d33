//! Rollup summaries: what a bucket of readings of one series is summarised to, so that buckets
//! and tiers combine exactly. A [`Summary`] holds count, sum, min, max, first and last by time,
//! mean and M2 (the sum of squared deviations, combined with the parallel form of Chan, Golub
//! and LeVeque rather than a sum of squares, so values like 1e9 + small keep their variance),
//! counts of good / uncertain / bad readings, the sum of quality scores, the flags seen, and
//! from the 5-minute tier up a quantile [`Sketch`]. [`Summary::merge`] of the summaries of two
//! sets of readings is the summary of their union, in any order and grouping.

mod codec;
pub mod sketch;
mod tiers;

pub use codec::Stored;
pub use sketch::Sketch;
pub use tiers::{late_buckets, Tier, TIERS};

/// One stored reading, as the summaries see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub time: i64,
    pub value: f64,
    pub quality: f32,
    pub flags: i32,
    /// 0 good, 1 uncertain, 2 bad, as in `telemetry.readings.source_quality`.
    pub source_quality: i16,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub first_time: i64,
    pub first_value: f64,
    pub last_time: i64,
    pub last_value: f64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub good: i64,
    pub uncertain: i64,
    pub bad: i64,
    /// Sum of the quality scores (their mean is `quality_sum / count`).
    pub quality_sum: f64,
    /// Bit-or of the flags of every reading.
    pub flags: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<Sketch>,
}

impl Summary {
    /// The summary of one reading, with a sketch or without.
    pub fn of(r: &Reading, with_sketch: bool) -> Summary {
        let sketch = with_sketch.then(|| {
            let mut s = Sketch::default();
            s.add(r.value);
            s
        });
        Summary {
            count: 1,
            sum: r.value,
            min: r.value,
            max: r.value,
            first_time: r.time,
            first_value: r.value,
            last_time: r.time,
            last_value: r.value,
            mean: r.value,
            m2: 0.0,
            good: i64::from(r.source_quality == 0),
            uncertain: i64::from(r.source_quality == 1),
            bad: i64::from(r.source_quality >= 2),
            quality_sum: f64::from(r.quality),
            flags: r.flags,
            sketch,
        }
    }

    /// Fold one more reading in (the same as merging its summary, without building one).
    pub fn add(&mut self, r: &Reading) {
        if self.count == 0 {
            *self = Summary::of(r, self.sketch.is_some());
            return;
        }
        self.count += 1;
        self.sum += r.value;
        self.min = self.min.min(r.value);
        self.max = self.max.max(r.value);
        if r.time < self.first_time {
            (self.first_time, self.first_value) = (r.time, r.value);
        }
        if r.time > self.last_time {
            (self.last_time, self.last_value) = (r.time, r.value);
        }
        // Welford's update, the parallel form with a set of one.
        let delta = r.value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (r.value - self.mean);
        self.good += i64::from(r.source_quality == 0);
        self.uncertain += i64::from(r.source_quality == 1);
        self.bad += i64::from(r.source_quality >= 2);
        self.quality_sum += f64::from(r.quality);
        self.flags |= r.flags;
        if let Some(s) = &mut self.sketch {
            s.add(r.value);
        }
    }

    /// The summary of the readings of both. A sketch survives only if both have one (or one
    /// side is empty): a quantile of part of the readings would be wrong, not approximate.
    pub fn merge(&self, other: &Summary) -> Summary {
        if other.count == 0 {
            return self.clone();
        }
        if self.count == 0 {
            return other.clone();
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        let (first_time, first_value) = if other.first_time < self.first_time {
            (other.first_time, other.first_value)
        } else {
            (self.first_time, self.first_value)
        };
        let (last_time, last_value) = if other.last_time > self.last_time {
            (other.last_time, other.last_value)
        } else {
            (self.last_time, self.last_value)
        };
        Summary {
            count: self.count + other.count,
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            first_time,
            first_value,
            last_time,
            last_value,
            mean: self.mean + delta * (nb / n),
            m2: self.m2 + other.m2 + delta * delta * (na * nb / n),
            good: self.good + other.good,
            uncertain: self.uncertain + other.uncertain,
            bad: self.bad + other.bad,
            quality_sum: self.quality_sum + other.quality_sum,
            flags: self.flags | other.flags,
            sketch: match (&self.sketch, &other.sketch) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                _ => None,
            },
        }
    }

    /// Whether the fields are consistent (what text input must be): a count that matches the
    /// quality counts and the sketch, min <= max, first <= last.
    pub fn check(&self) -> Result<(), String> {
        if self.count < 0 || self.good < 0 || self.uncertain < 0 || self.bad < 0 {
            return Err("counts must not be negative".into());
        }
        if self.good + self.uncertain + self.bad != self.count {
            return Err("good, uncertain and bad must add up to count".into());
        }
        if self.count > 0 && (self.min > self.max || self.first_time > self.last_time) {
            return Err("min must not exceed max, nor first_time last_time".into());
        }
        if let Some(sketch) = &self.sketch {
            sketch.check()?;
            if sketch.count() > self.count as u64 {
                return Err("the sketch counts more values than count".into());
            }
        }
        Ok(())
    }

    /// The same summary without its sketch (the 1-minute tier keeps none).
    pub fn without_sketch(&self) -> Summary {
        Summary {
            sketch: None,
            ..self.clone()
        }
    }

    /// Population (`pop = true`) or sample variance; None when there are too few readings.
    pub fn variance(&self, pop: bool) -> Option<f64> {
        let n = self.count - i64::from(!pop);
        (n > 0).then(|| self.m2 / n as f64)
    }

    pub fn mean_quality(&self) -> Option<f64> {
        (self.count > 0).then(|| self.quality_sum / self.count as f64)
    }

    /// The `q` quantile from the sketch, kept within [min, max] (which only brings it closer).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.sketch
            .as_ref()?
            .quantile(q)
            .map(|v| v.clamp(self.min, self.max))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reading whose quality, flags and source quality vary with its time.
    pub(crate) fn reading(time: i64, value: f64) -> Reading {
        Reading {
            time,
            value,
            quality: time.rem_euclid(10) as f32 / 10.0,
            flags: 1 << time.rem_euclid(5),
            source_quality: time.rem_euclid(3) as i16,
        }
    }

    fn summary(readings: &[Reading]) -> Summary {
        let mut s = Summary {
            sketch: Some(Sketch::default()),
            ..Summary::default()
        };
        readings.iter().for_each(|r| s.add(r));
        s
    }

    fn close(a: &Summary, b: &Summary) {
        let tolerant = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
        assert!(
            tolerant(a.mean, b.mean) && tolerant(a.m2, b.m2) && tolerant(a.sum, b.sum),
            "{a:?} {b:?}"
        );
        assert!(tolerant(a.quality_sum, b.quality_sum));
        let exact = |s: &Summary| Summary {
            mean: 0.0,
            m2: 0.0,
            sum: 0.0,
            quality_sum: 0.0,
            ..s.clone()
        };
        assert_eq!(exact(a), exact(b));
    }

    fn data() -> Vec<Reading> {
        (0..300)
            .map(|i| reading((i * 7919) % 1000, ((i * 31) % 97) as f64 - 40.5))
            .collect()
    }

    #[test]
    fn merge_equals_the_whole_in_any_order() {
        let d = data();
        let (a, rest) = d.split_at(50);
        let (b, c) = rest.split_at(170);
        let (sa, sb, sc) = (summary(a), summary(b), summary(c));
        let whole = summary(&d);
        close(&sa.merge(&sb).merge(&sc), &whole);
        close(&sa.merge(&sb.merge(&sc)), &whole);
        close(&sc.merge(&sa).merge(&sb), &whole);
        close(&Summary::default().merge(&whole), &whole);
        close(&whole.merge(&Summary::default()), &whole);
        let n = d.len() as f64;
        let mean = d.iter().map(|r| r.value).sum::<f64>() / n;
        let m2: f64 = d.iter().map(|r| (r.value - mean).powi(2)).sum();
        assert!((whole.mean - mean).abs() < 1e-12 && (whole.m2 - m2).abs() < 1e-9);
        assert_eq!(whole.good + whole.uncertain + whole.bad, 300);
        let times = d.iter().map(|r| r.time);
        assert_eq!(
            (whole.first_time, whole.last_time),
            (times.clone().min().unwrap(), times.max().unwrap())
        );
        assert_eq!(whole.flags, 0b11111);
    }

    #[test]
    fn variance_is_stable_on_large_values() {
        let d: Vec<Reading> = (0..1000)
            .map(|i| reading(i, 1e9 + (i % 4) as f64 * 0.25))
            .collect();
        let parts: Vec<Summary> = d.chunks(7).map(summary).collect();
        let merged = parts.iter().fold(Summary::default(), |a, b| a.merge(b));
        // Values 0, 0.25, 0.5, 0.75 equally often: population variance 0.078125.
        for s in [merged, summary(&d)] {
            assert!((s.variance(true).unwrap() - 0.078125).abs() < 1e-7, "{s:?}");
        }
    }

    #[test]
    fn check_accepts_what_summaries_are_and_refuses_the_rest() {
        let s = summary(&data());
        assert_eq!(s.check(), Ok(()));
        assert_eq!(Summary::default().check(), Ok(()));
        let bad = [
            Summary {
                good: s.good + 1,
                ..s.clone()
            },
            Summary {
                min: s.max + 1.0,
                ..s.clone()
            },
            Summary {
                count: -1,
                good: -1,
                uncertain: 0,
                bad: 0,
                ..s.clone()
            },
            Summary {
                count: 1,
                good: 1,
                uncertain: 0,
                bad: 0,
                ..s.clone()
            },
        ];
        for b in bad {
            assert!(b.check().is_err(), "{b:?}");
        }
        let mut sketch = s.sketch.clone().unwrap();
        sketch.positive.reverse();
        assert!(Summary {
            sketch: Some(sketch),
            ..s.clone()
        }
        .check()
        .is_err());
        let mut sketch = s.sketch.clone().unwrap();
        sketch.level = sketch::MAX_LEVEL + 1;
        assert!(Summary {
            sketch: Some(sketch),
            ..s
        }
        .check()
        .is_err());
    }

    #[test]
    fn sketches_survive_only_when_both_have_one() {
        let d = data();
        let with = summary(&d[..10]);
        assert!(with.merge(&with.without_sketch()).sketch.is_none());
        assert!(with.merge(&Summary::default()).sketch.is_some());
        assert!(with.without_sketch().quantile(0.5).is_none());
        let q = with.quantile(1.0).unwrap();
        assert!(q <= with.max && q >= with.max * (1.0 - sketch::ALPHA));
        assert_eq!(Summary::default().variance(true), None);
        assert_eq!(summary(&d[..1]).variance(false), None);
    }
}
