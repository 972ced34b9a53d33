//! The rollup tiers and a batch's deltas: the summaries of the readings a batch stored, per
//! series and 1-minute bucket, and the same merged up to each tier's buckets. Every tier is a
//! merge of 1-minute summaries, so folding a batch's deltas into each tier is exact.

use std::collections::BTreeMap;

use super::{Reading, Summary};

const MINUTE: i64 = 60_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// The tier's name, as in `telemetry.retention.tier` and `telemetry.rollup_<name>`.
    pub name: &'static str,
    /// Bucket width in microseconds; buckets start at multiples of it since the Unix epoch,
    /// as `time_bucket` places them for widths that divide a day.
    pub width: i64,
    /// Whether its summaries keep a quantile sketch.
    pub sketch: bool,
}

pub const TIERS: [Tier; 5] = [
    Tier {
        name: "1m",
        width: MINUTE,
        sketch: false,
    },
    Tier {
        name: "5m",
        width: 5 * MINUTE,
        sketch: true,
    },
    Tier {
        name: "15m",
        width: 15 * MINUTE,
        sketch: true,
    },
    Tier {
        name: "1h",
        width: 60 * MINUTE,
        sketch: true,
    },
    Tier {
        name: "1d",
        width: 1440 * MINUTE,
        sketch: true,
    },
];

impl Tier {
    pub fn bucket(&self, time: i64) -> i64 {
        time.div_euclid(self.width) * self.width
    }

    /// 1-minute deltas merged into this tier's buckets, one per (series, bucket), in
    /// (series, bucket) order: one upsert per row, and concurrent batches lock rows in one
    /// global order.
    pub fn fold(&self, deltas: &[(i32, i64, Summary)]) -> Vec<(i32, i64, Summary)> {
        let mut out: Vec<(i32, i64, Summary)> = Vec::with_capacity(deltas.len());
        for (series, bucket, summary) in deltas {
            let b = self.bucket(*bucket);
            match out.last_mut() {
                Some((s, last, acc)) if *s == *series && *last == b => *acc = acc.merge(summary),
                _ => out.push((*series, b, summary.clone())),
            }
        }
        if !self.sketch {
            out.iter_mut().for_each(|row| row.2.sketch = None);
        }
        out
    }
}

/// The summaries (with sketches) of readings per (series, 1-minute bucket), in that order.
pub fn deltas(readings: impl IntoIterator<Item = (i32, Reading)>) -> Vec<(i32, i64, Summary)> {
    let mut by_bucket: BTreeMap<(i32, i64), Summary> = BTreeMap::new();
    for (series, r) in readings {
        by_bucket
            .entry((series, TIERS[0].bucket(r.time)))
            .and_modify(|s| s.add(&r))
            .or_insert_with(|| Summary::of(&r, true));
    }
    by_bucket.into_iter().map(|((s, b), v)| (s, b, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::reading;
    use super::*;

    #[test]
    fn deltas_fold_into_each_tier_as_the_whole_would() {
        // Three series over two days, in scrambled order, some before the epoch.
        let readings: Vec<(i32, Reading)> = (0..5000i64)
            .map(|i| {
                (
                    (i % 3) as i32,
                    reading(
                        (i * 7_777_777_777) % (2 * 1440 * MINUTE) - MINUTE * 7,
                        i as f64,
                    ),
                )
            })
            .collect();
        let minute = deltas(readings.iter().copied());
        assert!(minute
            .windows(2)
            .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        for tier in TIERS {
            let folded = tier.fold(&minute);
            let mut whole: BTreeMap<(i32, i64), Summary> = BTreeMap::new();
            for (s, r) in &readings {
                whole
                    .entry((*s, tier.bucket(r.time)))
                    .and_modify(|x| x.add(r))
                    .or_insert_with(|| Summary::of(r, tier.sketch));
            }
            assert_eq!(folded.len(), whole.len(), "{}", tier.name);
            for ((s, b, got), ((ws, wb), want)) in folded.iter().zip(&whole) {
                assert_eq!((s, b), (ws, wb));
                assert_eq!(got.count, want.count);
                assert_eq!(
                    (got.min, got.max, got.first_time, got.last_value),
                    (want.min, want.max, want.first_time, want.last_value)
                );
                assert!(
                    (got.mean - want.mean).abs() < 1e-9
                        && (got.m2 - want.m2).abs() < 1e-6 * want.m2.max(1.0)
                );
                assert_eq!(got.sketch, want.sketch, "{}", tier.name);
            }
        }
    }

    #[test]
    fn buckets_floor_before_the_epoch() {
        assert_eq!(TIERS[0].bucket(-1), -MINUTE);
        assert_eq!(TIERS[4].bucket(1440 * MINUTE + 5), 1440 * MINUTE);
    }
}
