//! The PostgreSQL side: each writer owns one connection, collects a batch from its share of the
//! topics, and sends it in one transaction: binary COPY into pg_temp.telemetry_staging, then
//! telemetry.ingest_staged(), then COMMIT. Only then are the messages handed to the acknowledger.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::batch;
use crate::config::{self, Config};
use crate::deadletter::{self, DeadLetterFile};
use crate::error::describe;
pub use crate::error::CopyError;
use crate::isolate::{DataError, Failure, Parts};
use crate::message::{Claim, Message};
use crate::metrics::{Metrics, Reason, SqlState};
use crate::mqtt::Acker;
use crate::spool::Cursor;

/// Who is told when a batch has committed.
pub enum Completion {
    /// No spool: the broker, through acknowledgements in arrival order.
    Ack(Arc<Acker>),
    /// The spool, which then deletes the segments that are fully committed.
    Spool(Arc<Cursor>),
}

impl Completion {
    /// Each mode takes its own kind of token; with a spool, the acknowledger's were completed
    /// when the messages were spooled.
    fn complete(&self, batch: &[Message]) {
        let claims = batch.iter().filter_map(|m| m.claim);
        match self {
            Completion::Ack(acker) => acker.complete(claims.filter_map(|c| match c {
                Claim::Ack(token) => Some(token),
                Claim::Spool(_) => None,
            })),
            Completion::Spool(cursor) => cursor.complete(claims.filter_map(|c| match c {
                Claim::Spool(token) => Some(token),
                Claim::Ack(_) => None,
            })),
        }
    }
}

/// Bytes of an oversized payload that are still sent, so the dead letter shows how it began.
const CUT_PREFIX: usize = 1024;

/// Optional staging columns, used when the installed extension has them. Adding one is a
/// variant here, its row in `EXTRAS` and its value in `write_batch`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Extra {
    PayloadBytes,
    PacketId,
    Retained,
    Redelivered,
}

/// Each optional column with its name and type, in the order they are copied.
const EXTRAS: [(Extra, &str, Type); 4] = [
    (Extra::PayloadBytes, "payload_bytes", Type::INT4),
    (Extra::PacketId, "packet_id", Type::INT4),
    (Extra::Retained, "retained", Type::BOOL),
    (Extra::Redelivered, "redelivered", Type::BOOL),
];

pub struct Counts {
    pub messages: i32,
    pub readings: i32,
    pub duplicates: i32,
    pub conflicting_duplicates: i32,
    /// An object reason -> count, `{}` when there were none.
    pub dead_letter_reasons: serde_json::Value,
    /// Source time of the oldest reading the batch stored; None when it stored none.
    pub oldest_reading: Option<SystemTime>,
    /// Payloads sent cut: counted once committed, not at every attempt.
    pub cut: u64,
}

struct Connection {
    client: Client,
    task: JoinHandle<()>,
    extras: Vec<Extra>,
    copy_sql: String,
    types: Vec<Type>,
    /// The pipeline's payload limit, when the staging table can carry the original size.
    payload_limit: Option<usize>,
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

async fn connect(
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
        extras: Vec::new(),
        copy_sql: String::new(),
        types: Vec::new(),
        payload_limit: None,
        metrics: metrics.clone(),
    };
    let c = &connection.client;
    c.execute("SELECT telemetry.prepare_staging()", &[]).await?;
    let present: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = 'pg_temp.telemetry_staging'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let extras: Vec<&(Extra, &str, Type)> = EXTRAS
        .iter()
        .filter(|e| present.iter().any(|p| p == e.1))
        .collect();
    if extras.iter().any(|e| e.0 == Extra::PayloadBytes) {
        let row = c
            .query_one(
                "SELECT pg_size_bytes(current_setting('telemetry.max_payload_bytes'))",
                &[],
            )
            .await?;
        connection.payload_limit = usize::try_from(row.get::<_, i64>(0)).ok();
    }
    let mut columns = vec!["received_at", "topic", "payload"];
    columns.extend(extras.iter().map(|e| e.1));
    connection.copy_sql = format!(
        "COPY pg_temp.telemetry_staging ({}) FROM STDIN (FORMAT binary)",
        columns.join(", ")
    );
    connection.types = [Type::TIMESTAMPTZ, Type::TEXT, Type::BYTEA]
        .into_iter()
        .chain(extras.iter().map(|e| e.2.clone()))
        .collect();
    connection.extras = extras.iter().map(|e| e.0).collect();
    Ok(connection)
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

async fn write_batch(connection: &mut Connection, batch: &[Message]) -> Result<Counts, CopyError> {
    let tx = connection.client.transaction().await?;
    let sink = tx.copy_in(&connection.copy_sql).await?;
    let writer = BinaryCopyInWriter::new(sink, &connection.types);
    tokio::pin!(writer);
    let mut cut = 0;
    for message in batch {
        let oversized = connection
            .payload_limit
            .is_some_and(|limit| message.payload.len() > limit);
        let (payload, size) = if oversized {
            let size = i32::try_from(message.payload.len()).unwrap_or(i32::MAX);
            (
                &message.payload[..CUT_PREFIX.min(message.payload.len())],
                Some(size),
            )
        } else {
            (&message.payload[..], None)
        };
        cut += u64::from(oversized);
        let packet_id = i32::from(message.packet_id);
        let mut row: Vec<&(dyn ToSql + Sync)> =
            vec![&message.received_at, &message.topic, &payload];
        for extra in &connection.extras {
            row.push(match extra {
                Extra::PayloadBytes => &size,
                Extra::PacketId => &packet_id,
                Extra::Retained => &message.retained,
                Extra::Redelivered => &message.redelivered,
            });
        }
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
    let counts = Counts {
        messages: row.try_get(0)?,
        readings: row.try_get(1)?,
        duplicates: row.try_get(2)?,
        conflicting_duplicates: row.try_get(3)?,
        dead_letter_reasons: row.try_get(4)?,
        oldest_reading: row.try_get(5)?,
        cut,
    };
    tx.commit().await?;
    Ok(counts)
}

/// The pipeline on an empty batch, rolled back: whether it runs at all without the messages.
async fn probe(connection: &mut Connection) -> Result<(), CopyError> {
    let tx = connection.client.transaction().await?;
    tx.execute("SELECT 1 FROM telemetry.ingest_staged()", &[])
        .await?;
    Ok(tx.rollback().await?)
}

pub struct Writer {
    pub id: usize,
    pub rx: mpsc::Receiver<Message>,
    pub config: Arc<Config>,
    pub completion: Arc<Completion>,
    pub metrics: Arc<Metrics>,
    pub stop: watch::Receiver<bool>,
    pub dead_letters: Arc<DeadLetterFile>,
}

impl Writer {
    /// Runs until the router drops its sender and everything received has been committed, or,
    /// once stopping, until the shutdown timeout gives up on a batch PostgreSQL does not take.
    pub async fn run(mut self) -> Result<(), CopyError> {
        // Connected before the first message, so /readyz reports the database from the start.
        let mut connection = match connect(&self.config.postgres, &self.metrics).await {
            Ok(connection) => Some(connection),
            Err(error) => {
                tracing::warn!(writer = self.id, %error, "cannot connect to PostgreSQL yet");
                None
            }
        };
        let mut batch = Vec::new();
        let limits = &self.config.batch;
        while batch::collect(&mut self.rx, &mut batch, limits, limits.max_bytes).await {
            self.commit(&mut connection, &batch).await?;
            batch.clear();
        }
        Ok(())
    }

    /// Commits the batch part by part until each message is committed or dead-lettered
    /// (isolate.rs). A transient failure drops the connection and retries the part on a new one
    /// after a growing pause. A data error is believed only if the pipeline runs without the
    /// part's messages (an empty batch, rolled back: a missing grant or function fails that too);
    /// it then splits the part, or dead-letters its single message. Else it is retried as well.
    async fn commit(
        &self,
        connection: &mut Option<Connection>,
        batch: &[Message],
    ) -> Result<(), CopyError> {
        let mut parts = Parts::new(batch.len());
        let mut retry = Retry::new(&self.config);
        while let Some(range) = parts.next() {
            let part = &batch[range];
            let started = Instant::now();
            let attempt = async |c: &mut Connection| write_batch(c, part).await;
            let error = match self.on_connection(connection, attempt).await {
                Ok(counts) => {
                    self.record(&counts, part, started);
                    self.completion.complete(part);
                    parts.done();
                    continue;
                }
                Err(Failure::Data(data)) => match self.on_connection(connection, probe).await {
                    Ok(()) => {
                        self.metrics.batch_failures.inc();
                        self.isolate(&mut parts, part, &data, &mut retry).await?;
                        continue;
                    }
                    Err(failure) => {
                        tracing::warn!(writer = self.id, sqlstate = data.sqlstate, refused = %data.error,
                            "the pipeline fails without these messages too, so they are not to blame");
                        failure.into_error()
                    }
                },
                Err(Failure::Transient(error)) => error,
            };
            self.metrics.batch_failures.inc();
            tracing::warn!(writer = self.id, %error, messages = part.len(), retry_in = ?retry.backoff, "batch not committed");
            retry.pause(&self.stop, parts.remaining()).await?;
        }
        Ok(())
    }

    /// Runs `work` on the writer's connection, opened if needed, within the batch timeout. A
    /// transient failure drops the connection; after a data error it is kept, rolled back.
    async fn on_connection<T>(
        &self,
        connection: &mut Option<Connection>,
        work: impl AsyncFnOnce(&mut Connection) -> Result<T, CopyError>,
    ) -> Result<T, Failure> {
        let pg = &self.config.postgres;
        let timeout = Duration::from_secs(pg.batch_timeout_secs);
        let run = async {
            let open = match connection.take() {
                Some(open) => open,
                None => connect(pg, &self.metrics)
                    .await
                    .map_err(Failure::Transient)?,
            };
            work(connection.insert(open)).await.map_err(Failure::of)
        };
        let result = tokio::time::timeout(timeout, run)
            .await
            .unwrap_or_else(|_| Err(Failure::Transient(CopyError::Timeout(timeout))));
        if let Err(Failure::Transient(_)) = result {
            *connection = None;
        }
        result
    }

    /// A believed data error: split the part, or dead-letter its single message locally and
    /// complete it, so that the messages after it are acknowledged too.
    async fn isolate(
        &self,
        parts: &mut Parts,
        part: &[Message],
        data: &DataError,
        retry: &mut Retry,
    ) -> Result<(), CopyError> {
        let (m, id) = (&self.metrics, self.id);
        let sqlstate = SqlState {
            sqlstate: data.sqlstate.clone(),
        };
        m.data_errors.get_or_create(&sqlstate).inc();
        if parts.split() {
            tracing::info!(
                writer = id,
                sqlstate = data.sqlstate,
                error = data.message,
                messages = part.len(),
                "data error: committing the batch in halves to find the message"
            );
            return Ok(());
        }
        let Some(message) = part.first() else {
            parts.done();
            return Ok(());
        };
        let line = deadletter::line(message, id, &data.sqlstate, &data.message);
        let written = loop {
            match tokio::task::block_in_place(|| self.dead_letters.write(&line)) {
                Ok(written) => break written,
                Err(error) => {
                    // Not acknowledged until written: /healthz fails meanwhile.
                    m.dead_letter_failing.store(true, Ordering::Relaxed);
                    tracing::error!(writer = id, %error, "cannot write a local dead letter; the stream waits");
                    retry.pause(&self.stop, parts.remaining()).await?;
                }
            }
        };
        m.dead_letter_failing.store(false, Ordering::Relaxed);
        m.local_dead_letters.get_or_create(&sqlstate).inc();
        m.local_dead_letters_unwritten.inc_by(u64::from(!written));
        // A topic can be 64 KiB long: the log shows its start.
        let topic: String = message.topic.chars().take(200).collect();
        tracing::error!(writer = id, topic, packet_id = message.packet_id, payload_bytes = message.payload.len(),
            sqlstate = data.sqlstate, error = data.message, written, file = %self.dead_letters.path().display(),
            "refused by PostgreSQL even alone: dead-lettered locally and acknowledged");
        self.completion.complete(part);
        parts.done();
        Ok(())
    }

    fn record(&self, counts: &Counts, batch: &[Message], started: Instant) {
        let m = &self.metrics;
        let positive = |n: i32| u64::try_from(n).unwrap_or(0);
        m.messages_committed.inc_by(positive(counts.messages));
        m.payloads_cut.inc_by(counts.cut);
        m.readings_committed.inc_by(positive(counts.readings));
        m.duplicates.inc_by(positive(counts.duplicates));
        m.conflicting_duplicates
            .inc_by(positive(counts.conflicting_duplicates));
        match counts.dead_letter_reasons.as_object() {
            Some(reasons) => {
                for (reason, n) in reasons {
                    let reason = Reason {
                        reason: reason.clone(),
                    };
                    m.dead_letters
                        .get_or_create(&reason)
                        .inc_by(n.as_u64().unwrap_or(0));
                }
            }
            None => {
                tracing::warn!(reasons = %counts.dead_letter_reasons, "dead_letter_reasons is not an object")
            }
        }
        m.batch_messages.observe(batch.len() as f64);
        m.commit_seconds.observe(started.elapsed().as_secs_f64());
        if let Some(first) = batch.first() {
            m.receive_to_commit_seconds
                .observe(first.received.elapsed().as_secs_f64());
        }
        if let Some(oldest) = counts.oldest_reading {
            // A source clock ahead of ours counts as no delay rather than a negative one.
            let delay = SystemTime::now()
                .duration_since(oldest)
                .unwrap_or(Duration::ZERO);
            m.source_to_commit_seconds.observe(delay.as_secs_f64());
        }
        tracing::debug!(
            writer = self.id,
            messages = counts.messages,
            readings = counts.readings,
            "batch committed"
        );
    }
}

/// The pause between attempts: 100 ms doubling up to `retry_max_secs`, and once stopping, no
/// longer than what is left of the shutdown timeout.
struct Retry {
    backoff: Duration,
    max: Duration,
    shutdown: Duration,
    stopping_since: Option<Instant>,
}

impl Retry {
    fn new(config: &Config) -> Retry {
        Retry {
            backoff: Duration::from_millis(100),
            max: Duration::from_secs(config.postgres.retry_max_secs),
            shutdown: config.shutdown.timeout(),
            stopping_since: None,
        }
    }

    /// Waits before the next attempt; gives up on the `remaining` messages once the shutdown
    /// timeout has passed.
    async fn pause(
        &mut self,
        stop: &watch::Receiver<bool>,
        remaining: usize,
    ) -> Result<(), CopyError> {
        let mut pause = self.backoff;
        if *stop.borrow() {
            let since = *self.stopping_since.get_or_insert_with(Instant::now);
            let left = self.shutdown.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Err(CopyError::GaveUp(remaining));
            }
            pause = pause.min(left);
        }
        tokio::time::sleep(pause).await;
        self.backoff = (self.backoff * 2).min(self.max);
        Ok(())
    }
}
