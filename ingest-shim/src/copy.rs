//! A writer's PostgreSQL connection, and one batch's transaction on it: binary COPY into
//! pg_temp.telemetry_staging, then telemetry.ingest_staged(), then COMMIT.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::config;
use crate::error::{describe, CopyError};
use crate::message::Message;
use crate::metrics::Metrics;

/// Bytes of an oversized payload that are still sent, so the dead letter shows how it began.
const CUT_PREFIX: usize = 1024;

/// The staging columns in COPY order. The first three are always copied, the others only when
/// the installed extension's staging table has them (older versions lack them).
const COLUMNS: [(&str, Type); 7] = [
    ("received_at", Type::TIMESTAMPTZ),
    ("topic", Type::TEXT),
    ("payload", Type::BYTEA),
    ("payload_bytes", Type::INT4),
    ("packet_id", Type::INT4),
    ("retained", Type::BOOL),
    ("redelivered", Type::BOOL),
];
const REQUIRED_COLUMNS: usize = 3;
/// Where the original size of a cut payload goes; without it, nothing is cut.
const PAYLOAD_BYTES: usize = 3;

/// What ingest_staged() returns; a negative count would be a bug there, and counts as 0.
pub struct Counts {
    pub messages: u64,
    pub readings: u64,
    pub duplicates: u64,
    pub conflicting_duplicates: u64,
    /// An object reason -> count, `{}` when there were none.
    pub dead_letter_reasons: serde_json::Value,
    /// Source time of the oldest reading the batch stored; None when it stored none.
    pub oldest_reading: Option<SystemTime>,
    /// Payloads sent cut: counted once committed, not at every attempt.
    pub cut: u64,
}

/// What this session's staging table takes.
#[derive(Default)]
struct Staging {
    /// Indexes in COLUMNS of the columns copied.
    columns: Vec<usize>,
    copy_sql: String,
    types: Vec<Type>,
    /// The pipeline's payload limit, when the staging table can carry the original size.
    payload_limit: Option<usize>,
}

pub struct Connection {
    client: Client,
    task: JoinHandle<()>,
    staging: Staging,
    metrics: Arc<Metrics>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the socket makes the server roll back whatever was in progress.
        self.task.abort();
        self.metrics
            .writers_connected
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    pub async fn open(
        config: &config::Postgres,
        metrics: &Arc<Metrics>,
    ) -> Result<Connection, CopyError> {
        let mut pg: tokio_postgres::Config = config.url.parse()?;
        if let Some(password) = &config.password {
            pg.password(password.expose());
        }
        pg.connect_timeout(Duration::from_secs(config.connect_timeout_secs));
        pg.application_name("ingest-shim");
        let (client, task) = match &config.tls {
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls.client_config()?);
                let (client, connection) = pg.connect(tls).await?;
                (client, tokio::spawn(drive(connection)))
            }
            None => {
                let (client, connection) = pg.connect(NoTls).await?;
                (client, tokio::spawn(drive(connection)))
            }
        };
        metrics.pg_connects.inc();
        metrics.writers_connected.fetch_add(1, Ordering::Relaxed);
        let mut connection = Connection {
            client,
            task,
            staging: Staging::default(),
            metrics: metrics.clone(),
        };
        connection.staging = Staging::prepare(&connection.client).await?;
        Ok(connection)
    }

    /// Sends the batch in one transaction; the pipeline's counts once it has committed.
    pub async fn write(&mut self, batch: &[Message]) -> Result<Counts, CopyError> {
        let staging = &self.staging;
        let tx = self.client.transaction().await?;
        let sink = tx.copy_in(&staging.copy_sql).await?;
        let writer = BinaryCopyInWriter::new(sink, &staging.types);
        tokio::pin!(writer);
        let mut cut = 0;
        for message in batch {
            let len = message.payload.len();
            let oversized = staging.payload_limit.is_some_and(|limit| len > limit);
            cut += u64::from(oversized);
            let payload = &message.payload[..if oversized { CUT_PREFIX.min(len) } else { len }];
            let size = oversized.then(|| i32::try_from(len).unwrap_or(i32::MAX));
            let packet_id = i32::from(message.packet_id);
            let values: [&(dyn ToSql + Sync); COLUMNS.len()] = [
                &message.received_at,
                &message.topic,
                &payload,
                &size,
                &packet_id,
                &message.retained,
                &message.redelivered,
            ];
            let row: Vec<_> = staging.columns.iter().map(|&i| values[i]).collect();
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
        let row = tx
            .query_one(
                "SELECT messages, readings, duplicates, conflicting_duplicates, dead_letter_reasons, oldest_reading
                   FROM telemetry.ingest_staged()",
                &[],
            )
            .await?;
        let count = |i| row.try_get(i).map(|n: i32| u64::try_from(n).unwrap_or(0));
        let counts = Counts {
            messages: count(0)?,
            readings: count(1)?,
            duplicates: count(2)?,
            conflicting_duplicates: count(3)?,
            dead_letter_reasons: row.try_get(4)?,
            oldest_reading: row.try_get(5)?,
            cut,
        };
        tx.commit().await?;
        Ok(counts)
    }

    /// The pipeline on an empty batch, rolled back: whether it runs at all without the messages.
    pub async fn probe(&mut self) -> Result<(), CopyError> {
        let tx = self.client.transaction().await?;
        tx.execute("SELECT 1 FROM telemetry.ingest_staged()", &[])
            .await?;
        Ok(tx.rollback().await?)
    }
}

impl Staging {
    /// Creates the session's staging table and looks up which columns it has.
    async fn prepare(client: &Client) -> Result<Staging, CopyError> {
        client
            .execute("SELECT telemetry.prepare_staging()", &[])
            .await?;
        let present: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute
                  WHERE attrelid = 'pg_temp.telemetry_staging'::regclass AND attnum > 0 AND NOT attisdropped",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let columns: Vec<usize> = (0..COLUMNS.len())
            .filter(|&i| i < REQUIRED_COLUMNS || present.iter().any(|p| p == COLUMNS[i].0))
            .collect();
        let mut payload_limit = None;
        if columns.contains(&PAYLOAD_BYTES) {
            let row = client
                .query_one(
                    "SELECT pg_size_bytes(current_setting('telemetry.max_payload_bytes'))",
                    &[],
                )
                .await?;
            payload_limit = usize::try_from(row.get::<_, i64>(0)).ok();
        }
        let names: Vec<&str> = columns.iter().map(|&i| COLUMNS[i].0).collect();
        Ok(Staging {
            copy_sql: format!(
                "COPY pg_temp.telemetry_staging ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ),
            types: columns.iter().map(|&i| COLUMNS[i].1.clone()).collect(),
            columns,
            payload_limit,
        })
    }
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(error) = connection.await {
        tracing::warn!(error = describe(&error), "PostgreSQL connection ended");
    }
}
