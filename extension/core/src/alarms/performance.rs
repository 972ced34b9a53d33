//! ISA-18.2 alarm system performance figures (its section 16, after EEMUA 191) over a history
//! of raises, so a report reads the same whoever computes it. One site is one operator's span
//! of control. Ten-minute periods are aligned to the Unix epoch, as `time_bucket('10 minutes')`
//! aligns them, and the history is taken over [start, end).

use std::collections::BTreeMap;

use super::labels::Severity;
use super::Micros;

const PERIOD: Micros = 600_000_000;
const CHATTER_SPAN: Micros = 60_000_000;
const STALE_AFTER: Micros = 86_400_000_000;
/// ISA-18.2: more than 10 alarms in 10 minutes is a flood.
const FLOOD: usize = 10;
const TOP: usize = 10;

/// One raise event, with the clear that followed it if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Raise<'a> {
    pub time: Micros,
    pub site: &'a str,
    pub rule_id: i64,
    pub series_id: i64,
    pub severity: Severity,
    /// `None` while the alarm is still active.
    pub cleared_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub site: String,
    pub alarms: usize,
    pub per_period: f64,
    /// Percent of the ten-minute periods with more than 10 alarms.
    pub flood_percent: f64,
    /// The most alarms in one ten-minute period.
    pub peak: usize,
}

/// (rule id, series id): one alarm.
pub type Alarm = (i64, i64);

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The number of ten-minute periods in [start, end).
    pub periods: usize,
    pub sites: Vec<Site>,
    /// Alarms raised 3 or more times within 60 s, with the most raises in any 60 s.
    pub chattering: Vec<(Alarm, usize)>,
    /// Alarms active for more than 24 hours at `end`, with the time they were raised.
    pub stale: Vec<(Alarm, Micros)>,
    /// The 10 alarms raised most often, with their count, most first.
    pub top: Vec<(Alarm, usize)>,
    /// Raises per severity and their percent of all, highest severity first.
    pub priorities: Vec<(Severity, usize, f64)>,
}

/// The figures of the raises within [start, end).
pub fn performance(raises: &[Raise], start: Micros, end: Micros) -> Figures {
    let within: Vec<&Raise> = raises
        .iter()
        .filter(|r| r.time >= start && r.time < end)
        .collect();
    let periods = if end > start {
        usize::try_from((end - 1).div_euclid(PERIOD) - start.div_euclid(PERIOD) + 1).unwrap_or(0)
    } else {
        0
    };
    let mut by_alarm: BTreeMap<Alarm, Vec<Micros>> = BTreeMap::new();
    for r in &within {
        by_alarm
            .entry((r.rule_id, r.series_id))
            .or_default()
            .push(r.time);
    }
    let mut top: Vec<(Alarm, usize)> = by_alarm.iter().map(|(a, t)| (*a, t.len())).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(TOP);
    Figures {
        periods,
        sites: sites(&within, periods),
        chattering: by_alarm
            .iter_mut()
            .filter_map(|(a, times)| chatter(times).map(|n| (*a, n)))
            .collect(),
        stale: stale(&within, end),
        top,
        priorities: priorities(&within),
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn sites(within: &[&Raise], periods: usize) -> Vec<Site> {
    let mut buckets: BTreeMap<&str, BTreeMap<Micros, usize>> = BTreeMap::new();
    for r in within {
        *buckets
            .entry(r.site)
            .or_default()
            .entry(r.time.div_euclid(PERIOD))
            .or_default() += 1;
    }
    buckets
        .into_iter()
        .map(|(site, counts)| {
            let alarms: usize = counts.values().sum();
            let floods = counts.values().filter(|&&n| n > FLOOD).count();
            Site {
                site: site.to_string(),
                alarms,
                per_period: if periods == 0 {
                    0.0
                } else {
                    alarms as f64 / periods as f64
                },
                flood_percent: percent(floods, periods),
                peak: counts.values().copied().max().unwrap_or(0),
            }
        })
        .collect()
}

/// The most raises within any 60 s, when that is 3 or more.
fn chatter(times: &mut [Micros]) -> Option<usize> {
    times.sort_unstable();
    let mut most = 0;
    let mut first = 0;
    for last in 0..times.len() {
        while times[last] - times[first] > CHATTER_SPAN {
            first += 1;
        }
        most = most.max(last - first + 1);
    }
    (most >= 3).then_some(most)
}

fn stale(within: &[&Raise], end: Micros) -> Vec<(Alarm, Micros)> {
    let mut latest: BTreeMap<Alarm, &Raise> = BTreeMap::new();
    for r in within {
        let e = latest.entry((r.rule_id, r.series_id)).or_insert(r);
        if r.time > e.time {
            *e = r;
        }
    }
    latest
        .into_iter()
        .filter(|(_, r)| r.cleared_at.is_none_or(|c| c >= end) && end - r.time > STALE_AFTER)
        .map(|(a, r)| (a, r.time))
        .collect()
}

fn priorities(within: &[&Raise]) -> Vec<(Severity, usize, f64)> {
    Severity::ALL
        .iter()
        .map(|&s| {
            let n = within.iter().filter(|r| r.severity == s).count();
            (s, n, percent(n, within.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Micros = 60_000_000;

    fn raise(minutes: f64, site: &str, rule_id: i64, severity: Severity) -> Raise<'_> {
        Raise {
            time: (minutes * MINUTE as f64) as Micros,
            site,
            rule_id,
            series_id: 1,
            severity,
            cleared_at: Some(((minutes + 1.0) * MINUTE as f64) as Micros),
        }
    }

    #[test]
    fn rates_floods_and_peaks_per_site() {
        // Site a: a flood of 12 in the first period, 1 in the second; site b: 2.
        let mut raises: Vec<Raise> = (0..12)
            .map(|i| raise(i as f64 * 0.5, "a", i, Severity::Low))
            .collect();
        raises.push(raise(15.0, "a", 99, Severity::High));
        raises.extend([
            raise(1.0, "b", 50, Severity::Medium),
            raise(25.0, "b", 51, Severity::Low),
        ]);
        raises.push(raise(30.0, "b", 52, Severity::Low)); // at `end`: left out
        let f = performance(&raises, 0, 30 * MINUTE);
        assert_eq!(f.periods, 3);
        let a = &f.sites[0];
        assert_eq!((a.site.as_str(), a.alarms, a.peak), ("a", 13, 12));
        assert!((a.per_period - 13.0 / 3.0).abs() < 1e-12);
        assert!((a.flood_percent - 100.0 / 3.0).abs() < 1e-12);
        assert_eq!((f.sites[1].alarms, f.sites[1].flood_percent), (2, 0.0));
        let low = f
            .priorities
            .iter()
            .find(|p| p.0 == Severity::Low)
            .map(|p| p.1);
        assert_eq!(low, Some(13));
        assert_eq!(f.priorities[0].0, Severity::Critical);
    }

    #[test]
    fn chattering_stale_and_top_contributors() {
        let mut raises = vec![
            raise(0.0, "a", 1, Severity::High),
            raise(0.4, "a", 1, Severity::High),
            raise(0.9, "a", 1, Severity::High),
            raise(5.0, "a", 2, Severity::High),
            raise(5.9, "a", 2, Severity::High),
            raise(7.0, "a", 2, Severity::High),
        ];
        raises.push(Raise {
            cleared_at: None,
            ..raise(10.0, "a", 3, Severity::Critical)
        });
        let end = 26 * 60 * MINUTE;
        let f = performance(&raises, 0, end);
        assert_eq!(f.chattering, [((1, 1), 3)]);
        assert_eq!(f.stale, [((3, 1), 10 * MINUTE)]);
        assert_eq!(f.top[..2], [((1, 1), 3), ((2, 1), 3)]);
        assert_eq!(f.top.len(), 3);
        // Not yet 24 hours active at an earlier end.
        assert!(performance(&raises, 0, 20 * 60 * MINUTE).stale.is_empty());
    }

    #[test]
    fn an_empty_history() {
        let f = performance(&[], 0, 0);
        assert_eq!((f.periods, f.sites.len()), (0, 0));
        assert!(f.priorities.iter().all(|p| p.1 == 0 && p.2 == 0.0));
    }
}
