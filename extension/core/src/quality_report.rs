//! The data quality report of a period (seed 002 section 8.1), per site, asset or metric:
//!
//! - completeness: readings received against those expected from each series' expected
//!   interval over the period, a series counting at most what it was expected to send (one
//!   sending twice as often does not hide one that sent nothing);
//! - validity: the mean quality score of the readings, times 100 (seed 002's
//!   `AVG(data_quality_score) * 100`);
//! - consistency: the share of readings not flagged as anomalies (flags `spike` or `anomaly`,
//!   which is what the consistency component of the score judges);
//! - timeliness: the share ingested within the timeliness threshold of their source time
//!   (seed 002: under 5 minutes);
//! - overall: their weighted average with the quality score's weights (seed 002: 0.30, 0.30,
//!   0.25, 0.15), over the components that apply (completeness does not for series without an
//!   expected interval, the others do not without readings), as the score does.
//!
//! Each is a percentage rounded to two decimals, as in the seed.

use crate::quality::Weights;

/// What one series did in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesCounts {
    /// The group it reports under (site, site and asset, or metric).
    pub key: Vec<Option<String>>,
    /// Seconds between expected readings; `None` when its metric expects none.
    pub interval_s: Option<f64>,
    pub received: i64,
    pub quality_sum: f64,
    pub anomalies: i64,
    pub timely: i64,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub key: Vec<Option<String>>,
    pub series: i64,
    pub expected: f64,
    pub received: i64,
    pub completeness: Option<f64>,
    pub validity: Option<f64>,
    pub consistency: Option<f64>,
    pub timeliness: Option<f64>,
    pub overall: Option<f64>,
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| round2(100.0 * part / whole))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The report over a period of `period_s` seconds, one line per key in the order first seen
/// (the caller sorts the series by key).
pub fn report(series: &[SeriesCounts], period_s: f64, weights: &Weights) -> Vec<Line> {
    series
        .chunk_by(|a, b| a.key == b.key)
        .map(|group| line(group, period_s, weights))
        .collect()
}

fn line(group: &[SeriesCounts], period_s: f64, w: &Weights) -> Line {
    let (mut expected, mut counted) = (0.0, 0.0);
    for s in group {
        if let Some(interval) = s.interval_s {
            let e = period_s / interval;
            expected += e;
            counted += (s.received as f64).min(e);
        }
    }
    let received: i64 = group.iter().map(|s| s.received).sum();
    let r = received as f64;
    let sum = |f: fn(&SeriesCounts) -> f64| group.iter().map(f).sum::<f64>();
    let completeness = percent(counted, expected);
    let validity = percent(sum(|s| s.quality_sum), r);
    let consistency = percent(r - sum(|s| s.anomalies as f64), r);
    let timeliness = percent(sum(|s| s.timely as f64), r);
    let (total, weight) = [
        (completeness, w.completeness),
        (validity, w.validity),
        (consistency, w.consistency),
        (timeliness, w.timeliness),
    ]
    .iter()
    .filter_map(|(c, w)| c.map(|c| (c * w, *w)))
    .fold((0.0, 0.0), |(s, sw), (c, w)| (s + c, sw + w));
    Line {
        key: group[0].key.clone(),
        series: group.len() as i64,
        expected,
        received,
        completeness,
        validity,
        consistency,
        timeliness,
        overall: (weight > 0.0).then(|| round2(total / weight)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_002() -> Weights {
        Weights {
            completeness: 0.30,
            validity: 0.30,
            consistency: 0.25,
            timeliness: 0.15,
        }
    }

    fn series(site: &str, interval_s: Option<f64>, received: i64) -> SeriesCounts {
        SeriesCounts {
            key: vec![Some(site.into())],
            interval_s,
            received,
            quality_sum: received as f64,
            anomalies: 0,
            timely: received,
        }
    }

    #[test]
    fn a_site_by_hand() {
        // One hour; a 1-minute series sent 30 readings (quality 0.8 on average, 3 spikes,
        // 27 timely) and a 10-minute series sent 6, all perfect.
        let a = SeriesCounts {
            quality_sum: 24.0,
            anomalies: 3,
            timely: 27,
            ..series("s1", Some(60.0), 30)
        };
        let b = series("s1", Some(600.0), 6);
        let lines = report(&[a, b], 3600.0, &seed_002());
        let l = &lines[0];
        assert_eq!((l.series, l.expected, l.received), (2, 66.0, 36));
        // 36 of 66; (24 + 6) / 36; 33 of 36; 33 of 36.
        assert_eq!(l.completeness, Some(54.55));
        assert_eq!(l.validity, Some(83.33));
        assert_eq!(l.consistency, Some(91.67));
        assert_eq!(l.timeliness, Some(91.67));
        let overall = (36.0 / 66.0 * 0.30 + 30.0 / 36.0 * 0.30 + 33.0 / 36.0 * 0.40) * 100.0;
        assert_eq!(l.overall, Some(round2(overall)));
    }

    #[test]
    fn a_series_sending_too_often_does_not_hide_a_silent_one() {
        let lines = report(
            &[series("s", Some(60.0), 120), series("s", Some(60.0), 0)],
            3600.0,
            &seed_002(),
        );
        assert_eq!(lines[0].completeness, Some(50.0));
    }

    #[test]
    fn components_that_do_not_apply_are_left_out() {
        // No expected interval and no readings: nothing to judge.
        let silent = report(&[series("a", None, 0)], 3600.0, &seed_002());
        assert_eq!((silent[0].completeness, silent[0].overall), (None, None));
        // Expected but silent: completeness 0 is the whole score.
        let dead = report(&[series("b", Some(60.0), 0)], 3600.0, &seed_002());
        assert_eq!((dead[0].validity, dead[0].overall), (None, Some(0.0)));
        // Readings without an expected interval: the other three, renormalised.
        let mut q = series("c", None, 10);
        q.quality_sum = 5.0;
        let lines = report(&[q], 3600.0, &seed_002());
        assert_eq!(
            lines[0].overall,
            Some(round2((50.0 * 0.30 + 100.0 * 0.40) / 0.70))
        );
    }

    #[test]
    fn one_line_per_key() {
        let lines = report(
            &[series("a", Some(60.0), 60), series("b", Some(60.0), 30)],
            3600.0,
            &seed_002(),
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].key, [Some("b".to_string())]);
        assert_eq!(lines[1].completeness, Some(50.0));
    }
}
