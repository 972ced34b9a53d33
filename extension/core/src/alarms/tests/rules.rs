//! Rule validation and rows: every refusal names what is wrong.

use crate::alarms::rule::{DEFAULT_SUPPRESSION_WINDOW, DEFAULT_WARMUP, DEFAULT_WINDOW};
use crate::alarms::{
    validate_levels, validate_limits, Deadband, Delay, EscalationLevel, KindName, LevelError,
};
use crate::alarms::{Kind, Method, Rule, RuleError, RuleRow, Severity};

fn rule(kind: Kind) -> Rule {
    Rule::new(1, kind, Severity::High)
}

#[test]
fn a_plain_rule_of_each_kind_is_valid() {
    for kind in [
        Kind::HighHigh { limit: 95.0 },
        Kind::Low { limit: -3.0 },
        Kind::RateOfChange {
            max_per_second: 0.5,
        },
        Kind::Stale { after: 1 },
        Kind::FlatLine {
            epsilon: 0.0,
            after: 1,
        },
        Kind::BadQuality { at_least: 1 },
        Kind::Anomaly {
            window: 10,
            warmup: 10,
            z: 3.0,
        },
    ] {
        assert_eq!(rule(kind).validate(), Ok(()), "{kind:?}");
    }
}

#[test]
fn parameters_out_of_their_domain() {
    let cases = [
        (
            rule(Kind::High { limit: f64::NAN }),
            RuleError::NotFinite { field: "limit" },
        ),
        (
            rule(Kind::RateOfChange {
                max_per_second: 0.0,
            }),
            RuleError::NotPositive {
                field: "max_per_second",
            },
        ),
        (
            rule(Kind::Stale { after: 0 }),
            RuleError::NotPositive { field: "after" },
        ),
        (
            rule(Kind::FlatLine {
                epsilon: -0.1,
                after: 5,
            }),
            RuleError::Negative { field: "epsilon" },
        ),
        (
            rule(Kind::BadQuality { at_least: 0 }),
            RuleError::BadQualityLevel(0),
        ),
        (
            rule(Kind::Anomaly {
                window: 5,
                warmup: 10,
                z: 3.0,
            }),
            RuleError::Warmup {
                warmup: 10,
                window: 5,
            },
        ),
        (
            rule(Kind::Anomaly {
                window: 5,
                warmup: 1,
                z: 3.0,
            }),
            RuleError::Warmup {
                warmup: 1,
                window: 5,
            },
        ),
        (
            rule(Kind::Anomaly {
                window: 50,
                warmup: 10,
                z: -3.0,
            }),
            RuleError::NotPositive { field: "z" },
        ),
    ];
    for (r, want) in cases {
        assert_eq!(r.validate(), Err(want), "{:?}", r.kind);
    }
}

#[test]
fn deadbands() {
    let high = rule(Kind::High { limit: 1.0 });
    let with = |deadband| Rule {
        deadband,
        ..high.clone()
    };
    assert_eq!(
        with(Deadband::Absolute(-1.0)).validate(),
        Err(RuleError::Negative { field: "deadband" })
    );
    assert_eq!(
        with(Deadband::Percent(100.0)).validate(),
        Err(RuleError::PercentDeadband(100.0))
    );
    assert_eq!(
        with(Deadband::Percent(f64::INFINITY)).validate(),
        Err(RuleError::NotFinite { field: "deadband" })
    );
    let stale = Rule {
        deadband: Deadband::Absolute(1.0),
        ..rule(Kind::Stale { after: 1 })
    };
    assert_eq!(
        stale.validate(),
        Err(RuleError::DeadbandNotApplicable {
            kind: KindName::Stale,
            percent: false
        })
    );
    let rate = Rule {
        deadband: Deadband::Percent(5.0),
        ..rule(Kind::RateOfChange {
            max_per_second: 1.0,
        })
    };
    assert!(rate.validate().is_err());
    let anomaly = Rule {
        deadband: Deadband::Absolute(3.0),
        ..rule(Kind::Anomaly {
            window: 50,
            warmup: 10,
            z: 3.0,
        })
    };
    assert_eq!(
        anomaly.validate(),
        Err(RuleError::DeadbandNotBelowZ { value: 3.0, z: 3.0 })
    );
}

#[test]
fn delays_realarm_and_windows() {
    let high = rule(Kind::High { limit: 1.0 });
    let delayed = Rule {
        off_delay: Delay {
            duration: -1,
            samples: 0,
        },
        ..high.clone()
    };
    assert_eq!(
        delayed.validate(),
        Err(RuleError::Negative { field: "off_delay" })
    );
    let by_samples = Rule {
        on_delay: Delay {
            duration: 0,
            samples: 2,
        },
        ..rule(Kind::Stale { after: 1 })
    };
    assert_eq!(by_samples.validate(), Err(RuleError::StaleBySamples));
    let realarm = Rule {
        realarm_after: Some(0),
        ..high.clone()
    };
    assert_eq!(
        realarm.validate(),
        Err(RuleError::NotPositive {
            field: "realarm_after"
        })
    );
    let window = Rule {
        suppression_window: -1,
        ..high
    };
    assert_eq!(
        window.validate(),
        Err(RuleError::Negative {
            field: "suppression_window"
        })
    );
}

#[test]
fn limits_of_one_metric_must_nest() {
    let r = |id, kind| Rule::new(id, kind, Severity::High);
    let good = [
        r(1, Kind::HighHigh { limit: 95.0 }),
        r(2, Kind::High { limit: 80.0 }),
        r(3, Kind::Low { limit: 10.0 }),
        r(4, Kind::LowLow { limit: 5.0 }),
        r(5, Kind::Stale { after: 1 }),
    ];
    assert_eq!(validate_limits(&good), Ok(()));
    let bad = [
        r(1, Kind::HighHigh { limit: 70.0 }),
        r(2, Kind::High { limit: 80.0 }),
    ];
    let err = validate_limits(&bad).expect_err("high-high below high");
    assert_eq!(
        err.to_string(),
        "high_high limit 70 (rule 1) must be above high limit 80 (rule 2)"
    );
    let crossed = [
        r(2, Kind::High { limit: 10.0 }),
        r(3, Kind::Low { limit: 10.0 }),
    ];
    assert!(validate_limits(&crossed).is_err());
    let disabled = [
        Rule {
            enabled: false,
            ..r(1, Kind::HighHigh { limit: 70.0 })
        },
        r(2, Kind::High { limit: 80.0 }),
    ];
    assert_eq!(validate_limits(&disabled), Ok(()));
}

fn row(kind: &str) -> RuleRow<'_> {
    RuleRow {
        id: 9,
        kind,
        severity: "CRITICAL",
        enabled: true,
        ..RuleRow::default()
    }
}

#[test]
fn rows_become_rules_with_defaults() {
    let high = Rule::from_row(&RuleRow {
        limit: Some(80.0),
        deadband_percent: Some(2.0),
        on_delay_samples: Some(3),
        ..row("high")
    })
    .expect("valid high rule");
    assert_eq!(high.kind, Kind::High { limit: 80.0 });
    assert_eq!(
        (high.severity, high.deadband),
        (Severity::Critical, Deadband::Percent(2.0))
    );
    assert_eq!(
        high.on_delay,
        Delay {
            duration: 0,
            samples: 3
        }
    );
    assert_eq!(high.suppression_window, DEFAULT_SUPPRESSION_WINDOW);
    let anomaly = Rule::from_row(&row("anomaly")).expect("anomaly with seed 003's defaults");
    assert_eq!(
        anomaly.kind,
        Kind::Anomaly {
            window: DEFAULT_WINDOW,
            warmup: DEFAULT_WARMUP,
            z: 3.0
        }
    );
    let quality = Rule::from_row(&row("bad_quality")).expect("bad quality");
    assert_eq!(quality.kind, Kind::BadQuality { at_least: 2 });
}

#[test]
fn rows_are_refused_with_the_column_at_fault() {
    let cases = [
        (row("highest"), "unknown alarm kind \"highest\""),
        (
            RuleRow {
                severity: "urgent",
                ..row("stale")
            },
            "unknown severity \"urgent\"",
        ),
        (row("low_low"), "a low_low rule needs limit"),
        (row("stale"), "a stale rule needs after"),
        (
            RuleRow {
                limit: Some(1.0),
                epsilon: Some(0.1),
                ..row("high")
            },
            "epsilon does not apply to a high rule",
        ),
        (
            RuleRow {
                limit: Some(1.0),
                deadband: Some(1.0),
                deadband_percent: Some(1.0),
                ..row("high")
            },
            "give deadband or deadband_percent, not both",
        ),
        (
            RuleRow {
                window: Some(-5),
                ..row("anomaly")
            },
            "window must not be negative",
        ),
        (
            RuleRow {
                warmup: Some(50),
                window: Some(20),
                ..row("anomaly")
            },
            "warmup 50 must be at least 2",
        ),
        (
            RuleRow {
                limit: Some(1.0),
                deadband: Some(-2.0),
                ..row("high")
            },
            "deadband must not be negative",
        ),
    ];
    for (r, want) in cases {
        let err = Rule::from_row(&r).expect_err(want);
        assert!(err.to_string().starts_with(want), "{err} / {want}");
    }
}

#[test]
fn escalation_levels_are_checked() {
    let level = |severity, level, delay| EscalationLevel {
        severity,
        level,
        delay,
        target: "ops".into(),
        method: Method::Email,
    };
    let ok = [
        level(Severity::High, 1, 0),
        level(Severity::High, 2, 5),
        level(Severity::Low, 1, 9),
    ];
    assert_eq!(validate_levels(&ok), Ok(()));
    let twice = [level(Severity::High, 1, 0), level(Severity::High, 1, 5)];
    assert_eq!(
        validate_levels(&twice),
        Err(LevelError::Twice(Severity::High, 1))
    );
    let order = [level(Severity::High, 1, 10), level(Severity::High, 2, 5)];
    assert_eq!(
        validate_levels(&order),
        Err(LevelError::Order(Severity::High, 2, 1))
    );
    assert_eq!(
        validate_levels(&[level(Severity::High, 0, 0)]),
        Err(LevelError::Number(0))
    );
    let nobody = EscalationLevel {
        target: " ".into(),
        ..level(Severity::High, 1, 0)
    };
    assert_eq!(validate_levels(&[nobody]), Err(LevelError::NoTarget(1)));
}
