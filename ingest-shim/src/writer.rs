//! A writer: collects batches from its share of the topics and commits each on its own
//! connection. Only then are the messages handed on to be acknowledged.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::ack::Acker;
use crate::backoff::Backoff;
use crate::batch;
use crate::config::Config;
use crate::copy::{Connection, Counts};
use crate::deadletter::{self, DeadLetterFile};
use crate::error::CopyError;
use crate::isolate::{DataError, Failure, Parts};
use crate::message::{Claim, Message};
use crate::metrics::Metrics;
use crate::partition::Partitioner;
use crate::rebirth::Rebirths;
use crate::spool::Cursor;

/// Who is told when a batch has committed.
pub enum Completion {
    /// No spool: the broker, through acknowledgements in arrival order.
    Ack(Arc<Acker>),
    /// The spool, which then deletes the segments that are fully committed. (It completed the
    /// acknowledger's tokens when it spooled the messages.)
    Spool(Arc<Cursor>),
}

impl Completion {
    fn complete(&self, batch: &[Message]) {
        let claims = batch.iter().filter_map(|m| m.claim);
        match self {
            Completion::Ack(acker) => acker.complete(claims.filter_map(Claim::ack)),
            Completion::Spool(cursor) => cursor.complete(claims.filter_map(Claim::spool)),
        }
    }
}

/// Sends each message to the writer its topic's partition key belongs to (partition.rs), so
/// that the messages of one key go through one connection, in arrival order.
pub struct Router {
    writers: Vec<mpsc::Sender<Message>>,
    partitioner: Arc<Partitioner>,
}

impl Router {
    pub fn new(writers: Vec<mpsc::Sender<Message>>, partitioner: Arc<Partitioner>) -> Router {
        Router {
            writers,
            partitioner,
        }
    }

    /// False when the writer has gone away (shutting down).
    pub async fn send(&self, message: Message) -> bool {
        let index = self.partitioner.writer(&message.topic, self.writers.len());
        self.writers[index].send(message).await.is_ok()
    }
}

pub struct Writer {
    pub id: usize,
    pub rx: mpsc::Receiver<Message>,
    pub config: Arc<Config>,
    pub completion: Arc<Completion>,
    pub metrics: Arc<Metrics>,
    pub stop: watch::Receiver<bool>,
    pub dead_letters: Arc<DeadLetterFile>,
    pub rebirths: Arc<Rebirths>,
}

impl Writer {
    /// Runs until the router drops its sender and everything received has been committed, or,
    /// once stopping, until the shutdown timeout gives up on a batch PostgreSQL does not take.
    pub async fn run(mut self) -> Result<(), CopyError> {
        // Connected before the first message, so /readyz reports the database from the start.
        let mut connection = match Connection::open(&self.config.postgres, &self.metrics).await {
            Ok(connection) => Some(connection),
            Err(error @ CopyError::Extension(_)) => return Err(error),
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
    /// (isolate.rs). A transient failure is retried on a new connection after a growing pause.
    /// A data error is believed only if the pipeline runs without the part's messages (a
    /// missing grant or function fails that too); it then splits the part.
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
            let attempt = async |c: &mut Connection| c.write(part).await;
            let error = match self.on_connection(connection, attempt).await {
                Ok(counts) => {
                    self.record(&counts, part, started);
                    self.completion.complete(part);
                    self.rebirths.request(&counts.rebirth_nodes);
                    parts.done();
                    continue;
                }
                Err(Failure::Data(data)) => {
                    match self.on_connection(connection, Connection::probe).await {
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
                    }
                }
                Err(Failure::Transient(error)) => error,
            };
            if let CopyError::Extension(_) = error {
                return Err(error);
            }
            self.metrics.batch_failures.inc();
            tracing::warn!(writer = self.id, %error, messages = part.len(), retry_in = ?retry.backoff.upcoming(), "batch not committed");
            retry.pause(&self.stop, parts.remaining()).await?;
        }
        Ok(())
    }

    /// Runs `work` on the writer's connection, opened if needed, within the batch timeout. A
    /// transient failure drops the connection (the server rolls back); a data error keeps it.
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
                None => Connection::open(pg, &self.metrics)
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
        let sqlstate = [("sqlstate", data.sqlstate.clone())];
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
        m.messages_committed.inc_by(counts.messages);
        m.payloads_cut.inc_by(counts.cut);
        m.readings_committed.inc_by(counts.readings);
        m.duplicates.inc_by(counts.duplicates);
        m.conflicting_duplicates
            .inc_by(counts.conflicting_duplicates);
        let reasons = counts.dead_letter_reasons.as_object();
        if reasons.is_none() {
            tracing::warn!(reasons = %counts.dead_letter_reasons, "dead_letter_reasons is not an object");
        }
        for (reason, n) in reasons.into_iter().flatten() {
            let reason = [("reason", reason.clone())];
            m.dead_letters
                .get_or_create(&reason)
                .inc_by(n.as_u64().unwrap_or(0));
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

/// The pause between attempts, up to `retry_max_secs`, and once stopping, no longer than what
/// is left of the shutdown timeout.
struct Retry {
    backoff: Backoff,
    shutdown: Duration,
    stopping_since: Option<Instant>,
}

impl Retry {
    fn new(config: &Config) -> Retry {
        Retry {
            backoff: Backoff::new(Duration::from_secs(config.postgres.retry_max_secs)),
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
        let mut pause = self.backoff.next();
        if *stop.borrow() {
            let since = *self.stopping_since.get_or_insert_with(Instant::now);
            let left = self.shutdown.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Err(CopyError::GaveUp(remaining));
            }
            pause = pause.min(left);
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}
