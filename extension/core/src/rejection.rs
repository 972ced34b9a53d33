//! Why a message or a reading was not stored: the reasons of `telemetry.dead_letters`.

/// Why a message or a reading was not stored: the `reason` of `telemetry.dead_letters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadJson,
    BadPayload,
    MissingField,
    MissingValue,
    BadValue,
    BadTimestamp,
    BadName,
    /// A reason found after decoding (unit, metric, series, duplicate).
    Other(&'static str),
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::BadJson => "bad_json",
            Reason::BadPayload => "bad_payload",
            Reason::MissingField => "missing_field",
            Reason::MissingValue => "missing_value",
            Reason::BadValue => "bad_value",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::BadName => "bad_name",
            Reason::Other(code) => code,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

pub fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// A rejection for a reason found after decoding.
pub fn fail(reason: &'static str, detail: String) -> Rejection {
    reject(Reason::Other(reason), detail)
}
