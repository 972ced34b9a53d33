//! Times as messages carry them: Unix microseconds.

/// A time for a message, as RFC 3339 where it is one.
pub fn show(unix_micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(unix_micros).map_or_else(
        || format!("{unix_micros} µs after 1970"),
        |t| t.to_rfc3339(),
    )
}
