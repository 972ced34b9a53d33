//! Why a batch did not reach the database: the error of the PostgreSQL side, shared by the
//! connection (copy.rs), the writers (writer.rs) and the classification of failures (isolate.rs).

use std::time::Duration;

use crate::copy::REQUIRED;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no answer within {0:?}; connection dropped")]
    Timeout(Duration),
    #[error("PostgreSQL TLS set-up: {0}")]
    Tls(#[from] TlsError),
    /// Not transient: the writer stops, and with it the shim.
    #[error("the telemetry extension installed is {0}; this ingest-shim needs {REQUIRED} or later (ALTER EXTENSION telemetry UPDATE)")]
    Extension(String),
    #[error("shutting down with {0} messages not committed; they come back at the next start (broker or spool)")]
    GaveUp(usize),
}

/// tokio-postgres shows "db error" and keeps the server's message in the source.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}
