//! The rollup tiers, and which readings a batch stored late: for a bucket already
//! materialized. The database materializes the tiers in bulk (sql/rollups.sql); the pipeline
//! only records the 1-minute buckets of late readings, so that those are summarised again.

use std::collections::BTreeSet;

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
}

/// The (series, 1-minute bucket) pairs, in that order and each once, of the readings stored
/// for buckets already materialized: before `materialized_until` (`None`: nothing is). Those
/// older than `kept_from`, the raw retention horizon, are left out: the rest of their bucket
/// may be gone, so summarising it again from the raw readings would lose what it held.
pub fn late_buckets(
    readings: impl IntoIterator<Item = (i32, i64)>,
    materialized_until: Option<i64>,
    kept_from: Option<i64>,
) -> Vec<(i32, i64)> {
    let Some(until) = materialized_until else {
        return Vec::new();
    };
    let from = kept_from.unwrap_or(i64::MIN);
    readings
        .into_iter()
        .filter(|&(_, t)| t < until && t >= from)
        .map(|(s, t)| (s, TIERS[0].bucket(t)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_buckets_are_those_before_the_watermark_within_retention() {
        let m = MINUTE;
        let readings = [
            (2, 10 * m + 5),
            (1, 3 * m + 1),
            (1, 3 * m + 59_000_000),
            (1, 9 * m),
            (1, 10 * m),
            (1, 11 * m),
            (1, m - 1),
            (3, -1),
        ];
        assert_eq!(
            late_buckets(readings, Some(10 * m), Some(m)),
            vec![(1, 3 * m), (1, 9 * m)]
        );
        assert_eq!(
            late_buckets(readings, Some(11 * m), None),
            vec![
                (1, 0),
                (1, 3 * m),
                (1, 9 * m),
                (1, 10 * m),
                (2, 10 * m),
                (3, -m)
            ]
        );
        assert!(late_buckets(readings, None, None).is_empty());
        assert!(late_buckets(readings, Some(0), None) == vec![(3, -m)]);
    }

    #[test]
    fn buckets_floor_before_the_epoch() {
        assert_eq!(TIERS[0].bucket(-1), -MINUTE);
        assert_eq!(TIERS[4].bucket(1440 * MINUTE + 5), 1440 * MINUTE);
    }
}
