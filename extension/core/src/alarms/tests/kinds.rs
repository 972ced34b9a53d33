//! The kinds other than limits: rate of change, stale, flat-line, bad quality, anomaly.

use super::*;
use crate::alarms::Delay;
use EventKind::{Clear, Raise};

fn rule(kind: Kind) -> Rule {
    Rule {
        suppression_window: 0,
        ..Rule::new(7, kind, Severity::Medium)
    }
}

#[test]
fn rate_of_change_per_second() {
    let r = rule(Kind::RateOfChange {
        max_per_second: 2.0,
    });
    let mut s = AlarmState::default();
    // The first reading has nothing to compare with; 10 in 5 s is 2/s, not over.
    assert!(feed(&r, &mut s, &[(0, 0.0), (5, 10.0)]).is_empty());
    let e = feed(&r, &mut s, &[(6, 13.0), (7, 13.5)]);
    assert_eq!(kinds(&e), [Raise, Clear]);
    assert_eq!((e[0].time, e[1].time), (at(6), at(7)));
    // A fall counts as much as a rise, and NaN does not break the pair.
    feed(&r, &mut s, &[(8, f64::NAN)]);
    assert_eq!(kinds(&feed(&r, &mut s, &[(9, 0.0)])), [Raise]);
}

#[test]
fn rate_on_delay_by_duration_does_not_complete_on_tick() {
    let r = Rule {
        on_delay: Delay {
            duration: 10 * SECOND,
            samples: 0,
        },
        ..rule(Kind::RateOfChange {
            max_per_second: 1.0,
        })
    };
    let mut s = AlarmState::default();
    feed(&r, &mut s, &[(0, 0.0), (1, 10.0)]);
    // No reading since: the value stands, so there is no rate to keep the condition.
    assert!(tick_at(&r, &mut s, 60).is_empty());
}

#[test]
fn stale_is_raised_by_tick_and_cleared_by_the_next_reading() {
    let r = rule(Kind::Stale { after: 30 * SECOND });
    let mut s = AlarmState::default();
    // Nothing seen yet: nothing to call stale.
    assert!(tick_at(&r, &mut s, 1000).is_empty());
    assert!(feed(&r, &mut s, &[(1000, 5.0)]).is_empty());
    assert!(tick_at(&r, &mut s, 1029).is_empty());
    let e = tick_at(&r, &mut s, 1030);
    assert_eq!(
        (kinds(&e), e[0].time, e[0].value),
        (vec![Raise], at(1030), Some(5.0))
    );
    assert!(tick_at(&r, &mut s, 1031).is_empty());
    // NaN is no fresh value; a reading older than the raise is late.
    assert!(feed(&r, &mut s, &[(1032, f64::NAN), (1025, 6.0)]).is_empty());
    let e = feed(&r, &mut s, &[(1040, 6.0)]);
    assert_eq!((kinds(&e), e[0].time), (vec![Clear], at(1040)));
}

#[test]
fn stale_clear_waits_for_the_suppression_window() {
    let r = Rule {
        suppression_window: 60 * SECOND,
        ..rule(Kind::Stale { after: 30 * SECOND })
    };
    let mut s = AlarmState::default();
    feed(&r, &mut s, &[(0, 1.0)]);
    assert_eq!(kinds(&tick_at(&r, &mut s, 30)), [Raise]);
    assert!(feed(&r, &mut s, &[(40, 1.0), (50, 1.0)]).is_empty());
    assert_eq!(kinds(&feed(&r, &mut s, &[(90, 1.0)])), [Clear]);
}

#[test]
fn flat_line_within_epsilon_for_a_duration() {
    let r = rule(Kind::FlatLine {
        epsilon: 0.1,
        after: 60 * SECOND,
    });
    let mut s = AlarmState::default();
    let wobble: Vec<(i64, f64)> = (0..6)
        .map(|i| (i * 10, 20.0 + 0.05 * (i % 2) as f64))
        .collect();
    assert!(feed(&r, &mut s, &wobble).is_empty());
    let e = feed(&r, &mut s, &[(60, 20.08)]);
    assert_eq!((kinds(&e), e[0].time), (vec![Raise], at(60)));
    let e = feed(&r, &mut s, &[(70, 20.5)]);
    assert_eq!(kinds(&e), [Clear]);
    // A slow drift is measured from where the flat stretch began, so it is no flat line.
    let drift: Vec<(i64, f64)> = (8..20)
        .map(|i| (i * 10, 20.5 + 0.04 * (i - 7) as f64))
        .collect();
    assert!(feed(&r, &mut s, &drift).is_empty());
}

#[test]
fn flat_line_by_tick_when_readings_stop_changing() {
    let r = rule(Kind::FlatLine {
        epsilon: 0.0,
        after: 60 * SECOND,
    });
    let mut s = AlarmState::default();
    feed(&r, &mut s, &[(0, 3.0), (30, 3.0)]);
    assert!(tick_at(&r, &mut s, 59).is_empty());
    assert_eq!(kinds(&tick_at(&r, &mut s, 60)), [Raise]);
    assert!(tick_at(&r, &mut s, 60).is_empty());
}

#[test]
fn bad_quality_judges_source_quality_whatever_the_value() {
    let r = rule(Kind::BadQuality { at_least: 2 });
    let mut s = AlarmState::default();
    let q = |t: i64, value: f64, source_quality: i16| Sample {
        time: at(t),
        value,
        source_quality,
    };
    let ctx = range();
    assert!(on_reading(&r, &mut s, q(0, 1.0, 1), &ctx).is_empty());
    let e = on_reading(&r, &mut s, q(1, f64::NAN, 2), &ctx);
    assert_eq!((kinds(&e), e[0].value), (vec![Raise], None));
    assert!(on_reading(&r, &mut s, q(2, 1.0, 2), &ctx).is_empty());
    assert_eq!(
        kinds(&on_reading(&r, &mut s, q(3, f64::NAN, 0), &ctx)),
        [Clear]
    );
    // Uncertain counts when the rule says so.
    let uncertain = rule(Kind::BadQuality { at_least: 1 });
    let mut s = AlarmState::default();
    assert_eq!(
        kinds(&on_reading(&uncertain, &mut s, q(0, 1.0, 1), &ctx)),
        [Raise]
    );
}

fn anomaly() -> Rule {
    rule(Kind::Anomaly {
        window: 100,
        warmup: 10,
        z: 3.0,
    })
}

/// Readings alternating 10 +- 1: mean 10, standard deviation 1.
fn noise(seconds: std::ops::Range<i64>) -> Vec<(i64, f64)> {
    seconds
        .map(|t| (t, if t % 2 == 0 { 11.0 } else { 9.0 }))
        .collect()
}

#[test]
fn no_anomaly_before_the_warmup() {
    let r = anomaly();
    let mut s = AlarmState::default();
    let mut readings = noise(0..9);
    readings.push((9, 1000.0));
    assert!(feed(&r, &mut s, &readings).is_empty());
    assert_eq!(s.stats.n, 10);
}

#[test]
fn a_five_sigma_jump_after_the_warmup_is_critical() {
    let r = anomaly();
    let mut s = AlarmState::default();
    assert!(feed(&r, &mut s, &noise(0..20)).is_empty());
    let e = feed(&r, &mut s, &[(20, 15.0)]);
    assert_eq!(kinds(&e), [Raise]);
    assert_eq!(
        (e[0].value, e[0].severity),
        (Some(15.0), Some(Severity::Critical))
    );
    // Back within the noise: cleared.
    assert_eq!(kinds(&feed(&r, &mut s, &[(21, 10.0)])), [Clear]);
}

#[test]
fn anomaly_severity_follows_seed_003_bands() {
    let r = anomaly();
    let mut s = AlarmState::default();
    feed(&r, &mut s, &noise(0..20));
    let e = feed(&r, &mut s, &[(20, 13.5)]);
    assert_eq!(e[0].severity, Some(Severity::High));
    let two_sigma = rule(Kind::Anomaly {
        window: 100,
        warmup: 10,
        z: 2.0,
    });
    let mut s = AlarmState::default();
    feed(&two_sigma, &mut s, &noise(0..20));
    let e = feed(&two_sigma, &mut s, &[(20, 12.5)]);
    assert_eq!(e[0].severity, Some(Severity::Medium));
}
