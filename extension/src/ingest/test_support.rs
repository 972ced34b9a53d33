//! A clean reading for the stages' tests.

use telemetry_core::batch::Clean;
use telemetry_core::names::Name;

/// A reading of `metric` at asset a1 of `site`, at time 0.
pub fn reading(site: &str, metric: &str) -> Clean {
    Clean {
        message: 0,
        key: (
            Name::from(site),
            Name::from("a1"),
            Name::from(""),
            Name::from(metric),
        ),
        time: 0,
        value: 1.0,
        quality: 1.0,
        flags: 0,
        source_quality: 0,
        event_id: None,
    }
}
