//! A writer's PostgreSQL connection, and one batch's transaction on it: binary COPY into
//! pg_temp.telemetry_staging, then telemetry.ingest_staged(), then COMMIT.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::task::JoinHandle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use crate::config;
use crate::error::CopyError;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::pg;

/// Bytes of an oversized payload that are still sent, so the dead letter shows how it began.
const CUT_PREFIX: usize = 1024;

/// The extension release whose ingest_staged() returns rebirth_nodes; the shim and the
/// extension ship together, so older ones are refused at connect rather than half served.
pub const REQUIRED: &str = "0.4.0";

const COPY: &str = "COPY pg_temp.telemetry_staging
    (received_at, topic, payload, payload_bytes, packet_id, retained, redelivered) FROM STDIN (FORMAT binary)";
const INGEST: &str =
    "SELECT messages, readings, duplicates, conflicting_duplicates, dead_letter_reasons,
    oldest_reading, rebirth_nodes FROM telemetry.ingest_staged()";
const TYPES: [Type; 7] = [
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::BYTEA,
    Type::INT4,
    Type::INT4,
    Type::BOOL,
    Type::BOOL,
];

/// The pipeline's payload limit, the installed release, and whether it is recent enough.
const CHECK: &str = "SELECT pg_size_bytes(current_setting('telemetry.max_payload_bytes')),
       (SELECT extversion FROM pg_extension WHERE extname = 'telemetry'),
       coalesce('rebirth_nodes' = ANY (proargnames), false) FROM pg_proc WHERE oid = 'telemetry.ingest_staged()'::regprocedure";

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
    /// Sparkplug edge nodes, "group/edge_node", whose data named an alias no birth declared.
    pub rebirth_nodes: Vec<String>,
    /// Payloads sent cut: counted once committed, not at every attempt.
    pub cut: u64,
}

/// The batch's two statements, prepared once per connection: each batch then costs the server
/// no parsing or planning and the shim two round trips fewer.
struct Statements {
    copy: Statement,
    ingest: Statement,
}

pub struct Connection {
    client: Client,
    task: JoinHandle<()>,
    statements: Statements,
    /// Payloads above it are sent cut, with their size.
    payload_limit: usize,
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
        let (client, task) = pg::connect(config, "ingest-shim", None).await?;
        metrics.pg_connects.inc();
        let (payload_limit, statements) = match ready(&client).await {
            Ok(ready) => ready,
            Err(e) => {
                task.abort();
                return Err(e);
            }
        };
        metrics.writers_connected.fetch_add(1, Ordering::Relaxed);
        Ok(Connection {
            client,
            task,
            statements,
            payload_limit,
            metrics: metrics.clone(),
        })
    }

    /// Sends the batch in one transaction; the pipeline's counts once it has committed.
    pub async fn write(&mut self, batch: &[Message]) -> Result<Counts, CopyError> {
        let tx = self.client.transaction().await?;
        let writer = BinaryCopyInWriter::new(tx.copy_in(&self.statements.copy).await?, &TYPES);
        tokio::pin!(writer);
        let mut cut = 0;
        for message in batch {
            let len = message.payload.len();
            let oversized = len > self.payload_limit;
            cut += u64::from(oversized);
            let payload = &message.payload[..if oversized { CUT_PREFIX.min(len) } else { len }];
            let size = oversized.then(|| i32::try_from(len).unwrap_or(i32::MAX));
            let packet_id = i32::from(message.packet_id);
            let row: [&(dyn ToSql + Sync); TYPES.len()] = [
                &message.received_at,
                &message.topic,
                &payload,
                &size,
                &packet_id,
                &message.retained,
                &message.redelivered,
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
        let row = tx.query_one(&self.statements.ingest, &[]).await?;
        let count = |i| row.try_get(i).map(|n: i32| u64::try_from(n).unwrap_or(0));
        let counts = Counts {
            messages: count(0)?,
            readings: count(1)?,
            duplicates: count(2)?,
            conflicting_duplicates: count(3)?,
            dead_letter_reasons: row.try_get(4)?,
            oldest_reading: row.try_get(5)?,
            rebirth_nodes: row.try_get(6)?,
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

/// Creates the session's staging table and checks the installed release; returns the
/// pipeline's payload limit and the batch's statements, prepared.
async fn ready(client: &Client) -> Result<(usize, Statements), CopyError> {
    client
        .execute("SELECT telemetry.prepare_staging()", &[])
        .await?;
    let row = client.query_one(CHECK, &[]).await?;
    if !row.try_get::<_, bool>(2)? {
        return Err(CopyError::Extension(row.try_get(1)?));
    }
    let statements = Statements {
        copy: client.prepare(COPY).await?,
        ingest: client.prepare(INGEST).await?,
    };
    let limit = usize::try_from(row.try_get::<_, i64>(0)?).unwrap_or(usize::MAX);
    Ok((limit, statements))
}
