//! Alarm delivery. The extension records every alarm transition in telemetry.alarm_events with
//! a row in telemetry.alarm_outbox, and NOTIFYs telemetry_alarms when it commits. This task
//! LISTENs on a PostgreSQL connection of its own and, at each notification, at each connect and
//! every `alarms.poll_interval_secs`, fetches the pending events (critical ones first) and
//! publishes each with QoS 2 on an MQTT connection of its own (alarm_link.rs), under the packet
//! id the outbox gives it. The broker's PUBREC of an event is recorded in the outbox before its
//! PUBREL is sent, and the event is confirmed (taken out of the outbox) at its PUBCOMP. After a
//! crash or a lost connection, an event not yet received is published again under the same
//! packet id, which the broker takes as the same message, and a received one is only released
//! again: exactly once, as long as the broker keeps the session. A broker that lost it gets
//! every unconfirmed event again, at least once; receivers drop repeats by the event id.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::alarm_link::{self, Command, Report};
use crate::backoff::Backoff;
use crate::client::{self, Purpose};
use crate::config::Config;
use crate::error::{describe, CopyError};
use crate::flight::Flight;
use crate::metrics::Metrics;
use crate::pg;

#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error(transparent)]
    Connect(#[from] CopyError),
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the PostgreSQL login {0} may not execute the telemetry.alarm_outbox_*() functions; GRANT telemetry_publisher TO {0} and restart the shim")]
    Role(String),
    #[error("the telemetry extension installed is older than 0.5.0, which delivers alarms with QoS 2 (ALTER EXTENSION telemetry UPDATE)")]
    Extension,
    #[error("another ingest-shim publishes this database's alarms")]
    Standby,
}

/// Whether the login may deliver, and the session lock that makes one shim the publisher.
const CHECK: &str = "SELECT current_user::text, bool_and(f IS NOT NULL),
       coalesce(bool_and(has_function_privilege(f, 'EXECUTE')), false),
       pg_try_advisory_lock(hashtext('telemetry.alarm_outbox'))
  FROM unnest(ARRAY['telemetry.alarm_outbox_pending(integer, bigint)', 'telemetry.alarm_outbox_received(bigint[])',
                    'telemetry.alarm_outbox_session_lost()', 'telemetry.alarm_outbox_confirm(bigint[])']) n,
       to_regprocedure(n) f";
const FETCH: &str = "SELECT event_id, packet_id, received, site_id, severity, payload
  FROM telemetry.alarm_outbox_pending($1, $2)";
const RECEIVED: &str = "SELECT telemetry.alarm_outbox_received($1)";
const SESSION_LOST: &str = "SELECT telemetry.alarm_outbox_session_lost()";
const CONFIRM: &str = "SELECT telemetry.alarm_outbox_confirm($1)";

/// How long a stop waits for the PUBACKs of what is in flight; the rest goes out next time.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Runs until `stop` changes (the writers have committed their last batches), or until it
/// finds that the login may not deliver alarms, which it logs; ingest goes on either way.
pub async fn run(config: Arc<Config>, metrics: Arc<Metrics>, stop: watch::Receiver<bool>) {
    let (tx, reports) = mpsc::unbounded_channel();
    let link = tokio::spawn(alarm_link::run(config.clone(), tx));
    let client_id = client::client_id(&config.mqtt, Purpose::Alarms);
    tracing::info!(client_id, topic = ?config.alarms.topic, "alarm publisher started");
    let backoff = Backoff::new(Duration::from_secs(config.postgres.retry_max_secs));
    let mut publisher = Publisher {
        config,
        metrics,
        reports,
        link: None,
        session_lost: false,
        db: None,
        flight: Flight::default(),
        due: false,
        retry_at: Instant::now(),
        backoff,
    };
    match publisher.serve(stop).await {
        Ok(()) => tracing::info!(
            unconfirmed = publisher.flight.len(),
            "alarm publisher stopped"
        ),
        Err(error) => tracing::error!("{error}; alarms are not published, ingest goes on"),
    }
    link.abort();
}

struct Db {
    client: tokio_postgres::Client,
    task: JoinHandle<()>,
    /// Woken at each notification, and when the connection ends.
    woken: Arc<Notify>,
}

impl Drop for Db {
    fn drop(&mut self) {
        // Closes the socket, and so releases the lock at once.
        self.task.abort();
    }
}

struct Publisher {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    reports: mpsc::UnboundedReceiver<Report>,
    /// While connected to the broker.
    link: Option<mpsc::UnboundedSender<Command>>,
    /// The broker kept no session: what it had received is to be published again.
    session_lost: bool,
    db: Option<Db>,
    flight: Flight,
    /// A fetch is due.
    due: bool,
    /// The next attempt to connect to PostgreSQL, and the pause after it if it fails.
    retry_at: Instant,
    backoff: Backoff,
}

impl Publisher {
    async fn serve(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), AlarmError> {
        let interval = Duration::from_secs(self.config.alarms.poll_interval_secs);
        let mut poll = tokio::time::interval(interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut standby, mut stopping) = (false, None);
        loop {
            if self.db.is_none() && Instant::now() >= self.retry_at && stopping.is_none() {
                match self.connect().await {
                    Ok(db) => {
                        tracing::info!("alarm publisher listening on telemetry_alarms");
                        (self.db, standby, self.due) = (Some(db), false, true);
                        self.backoff.reset();
                        self.flight.rewind();
                    }
                    Err(error @ (AlarmError::Role(_) | AlarmError::Extension)) => {
                        return Err(error)
                    }
                    Err(AlarmError::Standby) => {
                        if !standby {
                            tracing::info!("another ingest-shim publishes this database's alarms; this one stands by");
                        }
                        standby = true;
                        self.retry_at = Instant::now() + interval;
                    }
                    Err(error) => self.retry_later(&error, "cannot connect to PostgreSQL"),
                }
            }
            if let Err(error) = self.work().await {
                self.db = None;
                self.retry_later(&error, "PostgreSQL failed");
            }
            if let Some(deadline) = stopping {
                let done = self.flight.is_empty() && !self.due;
                if done || self.db.is_none() || self.link.is_none() || Instant::now() >= deadline {
                    return Ok(());
                }
            }
            let woken = self.db.as_ref().map(|db| db.woken.clone());
            tokio::select! {
                report = self.reports.recv() => {
                    let Some(report) = report else { return Ok(()) };
                    self.handle(report);
                    // PUBACKs that came together are confirmed together.
                    while let Ok(report) = self.reports.try_recv() {
                        self.handle(report);
                    }
                }
                () = notified(woken) => self.due = true,
                _ = poll.tick() => {
                    self.flight.rewind();
                    self.due = true;
                }
                () = sleep_until(self.retry_at), if self.db.is_none() && stopping.is_none() => {}
                _ = stop.changed(), if stopping.is_none() => {
                    // One more fetch, for the alarms of the last batches.
                    stopping = Some(Instant::now() + STOP_GRACE);
                    self.due = true;
                }
                () = sleep_until(stopping.unwrap_or_else(Instant::now)), if stopping.is_some() => {}
            }
        }
    }

    /// Connected, allowed to deliver, the only publisher, and listening.
    async fn connect(&self) -> Result<Db, AlarmError> {
        let woken = Arc::new(Notify::new());
        let pg = &self.config.postgres;
        let (client, task) = pg::connect(pg, "ingest-shim alarms", Some(woken.clone())).await?;
        let db = Db {
            client,
            task,
            woken,
        };
        self.metrics.pg_connects.inc();
        let timeout = Duration::from_secs(pg.batch_timeout_secs);
        let row = within(timeout, db.client.query_one(CHECK, &[])).await?;
        if !row.try_get::<_, bool>(1)? {
            return Err(AlarmError::Extension);
        }
        if !row.try_get::<_, bool>(2)? {
            return Err(AlarmError::Role(row.try_get(0)?));
        }
        if !row.try_get::<_, bool>(3)? {
            return Err(AlarmError::Standby);
        }
        within(timeout, db.client.batch_execute("LISTEN telemetry_alarms")).await?;
        Ok(db)
    }

    fn handle(&mut self, report: Report) {
        match report {
            Report::Up(link, session_present) => {
                tracing::info!(
                    session_present,
                    "alarm publisher connected to the MQTT broker"
                );
                (self.link, self.due) = (Some(link), true);
                self.session_lost |= !session_present;
            }
            Report::Received(pkid) => self.flight.received(pkid),
            Report::Completed(pkid) => self.flight.completed(pkid),
            Report::Down => {
                self.link = None;
                self.flight.lost();
            }
        }
        self.metrics.alarms_in_flight.set(self.flight.len() as i64);
    }

    /// Backs off up to `postgres.retry_max_secs`.
    fn retry_later(&mut self, error: &AlarmError, what: &str) {
        let pause = self.backoff.next();
        tracing::warn!(%error, retry_in = ?pause, "alarm publisher: {what}");
        self.retry_at = Instant::now() + pause;
    }

    /// Records what the broker has received and releases it, confirms what it has delivered,
    /// then fetches and publishes while a fetch is due and fewer than a batch are in flight.
    async fn work(&mut self) -> Result<(), AlarmError> {
        let Some(db) = &self.db else { return Ok(()) };
        let timeout = Duration::from_secs(self.config.postgres.batch_timeout_secs);
        if self.session_lost && self.link.is_some() {
            let row = within(timeout, db.client.query_one(SESSION_LOST, &[])).await?;
            let again: i32 = row.try_get(0)?;
            tracing::warn!(again, "the broker kept no session for the alarm publisher: the events it had received are published again (at least once)");
            self.session_lost = false;
        }
        let received = self.flight.take_received();
        if !received.is_empty() {
            let events: Vec<i64> = received.iter().map(|r| r.1).collect();
            within(timeout, db.client.query_one(RECEIVED, &[&events])).await?;
            for (pkid, event) in received {
                self.flight.releasing(pkid, event);
                self.send(Command::Release(pkid));
            }
        }
        if !self.flight.to_confirm().is_empty() {
            let events = self.flight.to_confirm().to_vec();
            let row = within(timeout, db.client.query_one(CONFIRM, &[&events])).await?;
            let removed = u64::try_from(row.try_get::<_, i32>(0)?).unwrap_or(0);
            self.metrics.alarms_confirmed.inc_by(removed);
            for latency in self.flight.confirmed(std::time::Instant::now()) {
                (self.metrics.alarm_publish_to_confirm_seconds).observe(latency.as_secs_f64());
            }
            tracing::debug!(?events, "alarms confirmed");
            if self.flight.is_empty() {
                // Events committed after others with higher ids may have been skipped.
                self.flight.rewind();
                self.due = true;
            }
        }
        while self.due && self.link.is_some() && self.flight.len() < self.config.alarms.batch_size {
            self.due = false;
            self.fetch_and_publish(timeout).await?;
        }
        self.metrics.alarms_in_flight.set(self.flight.len() as i64);
        Ok(())
    }

    async fn fetch_and_publish(&mut self, timeout: Duration) -> Result<(), AlarmError> {
        let Some(db) = &self.db else { return Ok(()) };
        let (alarms, batch) = (&self.config.alarms, self.config.alarms.batch_size);
        let (limit, after) = (batch as i32, self.flight.after());
        let rows = within(timeout, db.client.query(FETCH, &[&limit, &after])).await?;
        let mut seen = Vec::with_capacity(rows.len());
        for row in &rows {
            let (event_id, pkid, received): (i64, i32, bool) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let severity: String = row.try_get(4)?;
            seen.push((event_id, severity == "critical"));
            let Ok(pkid) = u16::try_from(pkid) else {
                continue;
            };
            if self.flight.contains(event_id) {
                continue;
            }
            if received {
                // The broker holds it already: only its release went missing.
                self.flight.releasing(pkid, event_id);
                self.send(Command::Release(pkid));
                continue;
            }
            let (site_id, payload): (Option<String>, serde_json::Value) =
                (row.try_get(3)?, row.try_get(5)?);
            let topic = alarms.topic.render(|name| match name {
                "site_id" => site_id.clone(),
                "severity" => Some(severity.clone()),
                // Strings as they are, numbers written out.
                _ => (payload.get(name)).map(|v| v.as_str().map_or(v.to_string(), str::to_owned)),
            });
            tracing::debug!(event_id, topic, "alarm published");
            self.flight
                .published(pkid, event_id, std::time::Instant::now());
            let payload = payload.to_string().into_bytes();
            self.send(Command::Publish {
                packet_id: pkid,
                topic,
                payload,
            });
            self.metrics.alarms_published.inc();
            // A full batch with new events: there may be more.
            self.due |= rows.len() == batch;
        }
        self.flight.fetched(&seen, batch);
        Ok(())
    }

    /// A connection that is going away takes nothing more; its `Down` follows, and what was
    /// in flight on it is fetched again.
    fn send(&self, command: Command) {
        if let Some(link) = &self.link {
            let _ = link.send(command);
        }
    }
}

async fn notified(woken: Option<Arc<Notify>>) {
    match woken {
        Some(woken) => woken.notified().await,
        None => std::future::pending().await,
    }
}

async fn within<T>(
    timeout: Duration,
    query: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, AlarmError> {
    match tokio::time::timeout(timeout, query).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(AlarmError::Timeout(timeout)),
    }
}
