//! Limit alarms: deadband, delays, the suppression window, late data and NaN.

use super::*;
use crate::alarms::labels::Status;
use crate::alarms::{in_series_order, on_readings, Deadband, Delay};
use EventKind::{Clear, Raise};

#[test]
fn raise_and_clear_carry_states_value_and_severity() {
    let rule = high(100.0);
    let mut s = AlarmState::default();
    let e = feed(&rule, &mut s, &[(0, 99.0), (1, 101.0), (2, 99.0)]);
    assert_eq!(kinds(&e), [Raise, Clear]);
    assert_eq!(
        (e[0].from, e[0].to),
        (Status::Normal, Status::Unacknowledged)
    );
    assert_eq!(
        (e[0].time, e[0].value, e[0].severity),
        (at(1), Some(101.0), Some(Severity::High))
    );
    assert_eq!(
        (e[1].from, e[1].to),
        (Status::Unacknowledged, Status::ReturnedUnacknowledged)
    );
    assert_eq!(e[1].value, Some(99.0));
}

#[test]
fn a_value_hovering_in_the_deadband_does_not_chatter() {
    let rule = Rule {
        deadband: Deadband::Absolute(5.0),
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    let hover = [
        (0, 101.0),
        (1, 99.0),
        (2, 100.5),
        (3, 96.0),
        (4, 100.0),
        (5, 95.5),
    ];
    assert_eq!(kinds(&feed(&rule, &mut s, &hover)), [Raise]);
    assert_eq!(kinds(&feed(&rule, &mut s, &[(6, 95.0)])), [Clear]);
    // Back in the deadband from below: at or under the limit raises nothing.
    assert!(feed(&rule, &mut s, &[(7, 99.0), (8, 100.0)]).is_empty());
}

#[test]
fn a_percent_deadband_is_of_the_range_the_caller_passes() {
    let rule = Rule {
        deadband: Deadband::Percent(5.0), // 10 units of 0..200
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    assert_eq!(
        kinds(&feed(&rule, &mut s, &[(0, 101.0), (1, 91.0)])),
        [Raise]
    );
    assert_eq!(kinds(&feed(&rule, &mut s, &[(2, 90.0)])), [Clear]);
    // Without a range there is no deadband.
    let mut s = AlarmState::default();
    let no_range = Context::default();
    on_reading(&rule, &mut s, good(0, 101.0), &no_range);
    assert_eq!(
        kinds(&on_reading(&rule, &mut s, good(1, 99.0), &no_range)),
        [Clear]
    );
}

#[test]
fn low_limits_mirror_high_ones() {
    let rule = Rule {
        deadband: Deadband::Absolute(2.0),
        suppression_window: 0,
        ..Rule::new(2, Kind::LowLow { limit: 10.0 }, Severity::Critical)
    };
    let mut s = AlarmState::default();
    let e = feed(&rule, &mut s, &[(0, 10.0), (1, 9.0), (2, 11.5), (3, 12.0)]);
    assert_eq!(kinds(&e), [Raise, Clear]);
    assert_eq!((e[0].time, e[1].time), (at(1), at(3)));
}

#[test]
fn on_delay_by_duration() {
    let rule = Rule {
        on_delay: Delay {
            duration: 10 * SECOND,
            samples: 0,
        },
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    // An excursion shorter than the delay raises nothing and is forgotten.
    assert!(feed(
        &rule,
        &mut s,
        &[(0, 101.0), (5, 101.0), (9, 99.0), (15, 101.0)]
    )
    .is_empty());
    let e = feed(&rule, &mut s, &[(20, 102.0), (25, 103.0)]);
    assert_eq!(
        (kinds(&e), e[0].time, e[0].value),
        (vec![Raise], at(25), Some(103.0))
    );
}

#[test]
fn on_delay_by_duration_completes_on_tick_for_a_value_that_stands() {
    let rule = Rule {
        on_delay: Delay {
            duration: 10 * SECOND,
            samples: 0,
        },
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    assert!(feed(&rule, &mut s, &[(0, 101.0)]).is_empty());
    assert!(tick_at(&rule, &mut s, 9).is_empty());
    let e = tick_at(&rule, &mut s, 10);
    assert_eq!(
        (kinds(&e), e[0].time, e[0].value),
        (vec![Raise], at(10), Some(101.0))
    );
    // The tick's transition makes older readings late.
    assert!(feed(&rule, &mut s, &[(8, 50.0)]).is_empty());
    assert!(s.condition);
}

#[test]
fn on_delay_by_samples() {
    let rule = Rule {
        on_delay: Delay {
            duration: 0,
            samples: 3,
        },
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    assert!(feed(
        &rule,
        &mut s,
        &[(0, 101.0), (1, 101.0), (2, 99.0), (3, 101.0), (4, 101.0)]
    )
    .is_empty());
    // A tick does not count as a sample.
    assert!(tick_at(&rule, &mut s, 3600).is_empty());
    assert_eq!(kinds(&feed(&rule, &mut s, &[(5, 101.0)])), [Raise]);
}

#[test]
fn duration_or_samples_whichever_first() {
    let rule = Rule {
        on_delay: Delay {
            duration: 10 * SECOND,
            samples: 3,
        },
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    assert_eq!(
        kinds(&feed(&rule, &mut s, &[(0, 101.0), (1, 101.0), (2, 101.0)])),
        [Raise]
    );
    let mut s = AlarmState::default();
    assert_eq!(
        kinds(&feed(&rule, &mut s, &[(0, 101.0), (10, 101.0)])),
        [Raise]
    );
}

#[test]
fn off_delay_by_samples_and_by_duration() {
    let by_samples = Rule {
        off_delay: Delay {
            duration: 0,
            samples: 2,
        },
        ..high(100.0)
    };
    let mut s = raised(&by_samples);
    assert!(feed(&by_samples, &mut s, &[(1, 90.0), (2, 101.0), (3, 90.0)]).is_empty());
    assert_eq!(kinds(&feed(&by_samples, &mut s, &[(4, 90.0)])), [Clear]);

    let by_time = Rule {
        off_delay: Delay {
            duration: 30 * SECOND,
            samples: 0,
        },
        ..high(100.0)
    };
    let mut s = raised(&by_time);
    assert!(feed(&by_time, &mut s, &[(10, 90.0), (20, 90.0)]).is_empty());
    assert!(tick_at(&by_time, &mut s, 39).is_empty());
    let e = tick_at(&by_time, &mut s, 40);
    assert_eq!((kinds(&e), e[0].time), (vec![Clear], at(40)));
}

#[test]
fn oscillation_inside_the_suppression_window_raises_once_and_clears_once() {
    let rule = Rule {
        suppression_window: 60 * SECOND,
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    let flapping: Vec<(i64, f64)> = (0..60)
        .map(|t| (t, if t % 2 == 0 { 101.0 } else { 99.0 }))
        .collect();
    let e = feed(&rule, &mut s, &flapping);
    assert_eq!(kinds(&e), [Raise]);
    // Past the window a reading in alarm keeps it, the next clear one clears it.
    assert!(feed(&rule, &mut s, &[(60, 101.0)]).is_empty());
    let e = feed(&rule, &mut s, &[(61, 99.0)]);
    assert_eq!((kinds(&e), e[0].time), (vec![Clear], at(61)));
}

#[test]
fn a_clear_deferred_by_the_window_happens_on_the_tick_after_it() {
    let rule = Rule {
        suppression_window: 60 * SECOND,
        ..high(100.0)
    };
    let mut s = raised(&rule);
    assert!(feed(&rule, &mut s, &[(5, 90.0)]).is_empty());
    assert!(tick_at(&rule, &mut s, 59).is_empty());
    let e = tick_at(&rule, &mut s, 60);
    assert_eq!((kinds(&e), e[0].value), (vec![Clear], Some(90.0)));
}

#[test]
fn re_raise_after_clear_once_the_window_has_passed() {
    let rule = Rule {
        suppression_window: 60 * SECOND,
        ..high(100.0)
    };
    let mut s = raised(&rule);
    let e = feed(
        &rule,
        &mut s,
        &[(70, 90.0), (80, 120.0), (85, 90.0), (150, 90.0)],
    );
    assert_eq!(kinds(&e), [Clear, Raise, Clear]);
    assert_eq!(
        e.iter().map(|e| e.time).collect::<Vec<_>>(),
        [at(70), at(80), at(150)]
    );
    assert_eq!(e[1].from, Status::ReturnedUnacknowledged);
}

#[test]
fn late_and_duplicate_readings_neither_raise_nor_clear() {
    let rule = high(100.0);
    let mut s = AlarmState::default();
    assert_eq!(kinds(&feed(&rule, &mut s, &[(10, 101.0)])), [Raise]);
    let before = s.clone();
    // The same reading again, and an older one that would clear.
    assert!(feed(&rule, &mut s, &[(10, 101.0), (10, 50.0), (5, 50.0)]).is_empty());
    assert_eq!(s, before);
    assert_eq!(kinds(&feed(&rule, &mut s, &[(11, 50.0)])), [Clear]);
    assert!(feed(&rule, &mut s, &[(11, 50.0), (3, 200.0)]).is_empty());
}

#[test]
fn readings_of_one_call_are_put_in_order() {
    let rule = high(100.0);
    let mut s = AlarmState::default();
    let batch = [good(3, 50.0), good(1, 50.0), good(2, 150.0), good(2, 150.0)];
    let e = on_readings(&rule, &mut s, &batch, &range());
    assert_eq!(kinds(&e), [Raise, Clear]);
    assert_eq!((e[0].time, e[1].time), (at(2), at(3)));
}

#[test]
fn nan_changes_nothing_for_a_limit() {
    let rule = Rule {
        on_delay: Delay {
            duration: 0,
            samples: 2,
        },
        ..high(100.0)
    };
    let mut s = AlarmState::default();
    feed(&rule, &mut s, &[(0, 101.0)]);
    let before = s.clone();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(feed(&rule, &mut s, &[(1, v)]).is_empty());
    }
    assert_eq!(s, before);
    // The pending raise counts on from where it was.
    assert_eq!(kinds(&feed(&rule, &mut s, &[(2, 101.0)])), [Raise]);
}

#[test]
fn a_batch_of_many_series_is_evaluated_per_series_in_time_order() {
    let rule = high(100.0);
    let mut batch = [
        (2, good(1, 150.0)),
        (1, good(2, 50.0)),
        (2, good(0, 50.0)),
        (1, good(1, 150.0)),
    ];
    in_series_order(&mut batch);
    let order: Vec<(i32, i64)> = batch.iter().map(|(k, s)| (*k, s.time)).collect();
    assert_eq!(order, [(1, at(1)), (1, at(2)), (2, at(0)), (2, at(1))]);
    let mut states = [AlarmState::default(), AlarmState::default()];
    let mut events = Vec::new();
    for &(k, s) in &batch {
        let state = &mut states[usize::from(k == 2)];
        events.extend(
            on_reading(&rule, state, s, &range())
                .into_iter()
                .map(|e| (k, e.kind)),
        );
    }
    assert_eq!(events, [(1, Raise), (1, Clear), (2, Raise)]);
}
