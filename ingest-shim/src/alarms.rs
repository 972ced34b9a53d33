//! Alarm delivery. The extension records every alarm transition in telemetry.alarm_events with
//! a row in telemetry.alarm_outbox, and NOTIFYs telemetry_alarms when it commits. This task
//! LISTENs on a PostgreSQL connection of its own and, at each notification, at each connect and
//! every `alarms.poll_interval_secs`, fetches the pending events (critical ones first) and
//! publishes each with QoS 1 on an MQTT connection of its own. An event is confirmed (taken out
//! of the outbox) only after the broker's PUBACK for it; what is not confirmed when a connection
//! is lost or the shim stops is published again: at least once, and receivers drop repeats by
//! the event id.
//!
//! The MQTT connection is a clean session under `<mqtt.client_id>-alarms`, not the ingest
//! session: there, up to 65,536 PUBACKs can wait in the request queue, which an alarm would
//! have to queue behind, and that session is persistent, so after a reconnect rumqttc would
//! send unacknowledged PUBLISHes again by itself, besides the ones fetched again here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::client::{self, Client, Event, Purpose};
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
    #[error("the PostgreSQL login {0} may not execute telemetry.alarm_outbox_pending() and telemetry.alarm_outbox_confirm(); GRANT telemetry_publisher TO {0} and restart the shim")]
    Role(String),
    #[error("the telemetry extension installed has no telemetry.alarm_outbox_pending() and alarm_outbox_confirm() (ALTER EXTENSION telemetry UPDATE)")]
    Extension,
    #[error("another ingest-shim publishes this database's alarms")]
    Standby,
}

/// Whether the login may deliver, and the session lock that makes one shim the publisher.
const CHECK: &str = "SELECT current_user::text, p IS NOT NULL AND c IS NOT NULL,
       coalesce(has_function_privilege(p, 'EXECUTE') AND has_function_privilege(c, 'EXECUTE'), false),
       pg_try_advisory_lock(hashtext('telemetry.alarm_outbox'))
  FROM (SELECT to_regprocedure('telemetry.alarm_outbox_pending(integer, bigint)') AS p,
               to_regprocedure('telemetry.alarm_outbox_confirm(bigint[])') AS c) f";
const FETCH: &str =
    "SELECT event_id, site_id, severity, payload FROM telemetry.alarm_outbox_pending($1, $2)";
const CONFIRM: &str = "SELECT telemetry.alarm_outbox_confirm($1)";

/// How long a stop waits for the PUBACKs of what is in flight; the rest goes out next time.
const STOP_GRACE: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Runs until `stop` changes (the writers have committed their last batches), or until it
/// finds that the login may not deliver alarms, which it logs; ingest goes on either way.
pub async fn run(config: Arc<Config>, metrics: Arc<Metrics>, stop: watch::Receiver<bool>) {
    let (tx, reports) = mpsc::unbounded_channel();
    // Fewer than two batches are ever in flight, so the request channel always has room.
    let link = tokio::spawn(link(config.clone(), 2 * config.alarms.batch_size + 16, tx));
    let client_id = client::client_id(&config.mqtt, Purpose::Alarms);
    tracing::info!(client_id, topic = ?config.alarms.topic, "alarm publisher started");
    let mut publisher = Publisher {
        config,
        metrics,
        reports,
        client: None,
        db: None,
        flight: Flight::default(),
        due: false,
        retry_at: Instant::now(),
        backoff: FIRST_RETRY,
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

/// What the alarm client's connection reports, in order.
enum Link {
    /// Connected: PUBLISHes go to this client until the next `Down`.
    Up(Client),
    Written(u16),
    Acked(u16, bool),
    Down,
}

/// The alarm client's connections, one after another, each with a client of its own: rumqttc
/// would send what was requested on a lost connection on the next one, after it had been
/// forgotten here and fetched again.
async fn link(config: Arc<Config>, capacity: usize, tx: mpsc::UnboundedSender<Link>) {
    let (mqtt, no_messages) = (&config.mqtt, Gauge::default());
    let mut backoff = FIRST_RETRY;
    loop {
        let error = match client::new(mqtt, Purpose::Alarms, capacity) {
            Ok((client, mut eventloop)) => loop {
                let report = match eventloop.poll(&no_messages).await {
                    Ok(Event::Connected(_)) => {
                        backoff = FIRST_RETRY;
                        Link::Up(client.clone())
                    }
                    Ok(Event::Written(pkid)) => Link::Written(pkid),
                    Ok(Event::PubAck(pkid, accepted)) => Link::Acked(pkid, accepted),
                    Ok(_) => continue,
                    Err(error) => break error,
                };
                if tx.send(report).is_err() {
                    return;
                }
            },
            Err(error) => error,
        };
        if tx.send(Link::Down).is_err() {
            return;
        }
        tracing::warn!(%error, retry_in = ?backoff, "alarm publisher: no MQTT connection");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(mqtt.reconnect_max_secs));
    }
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
    reports: mpsc::UnboundedReceiver<Link>,
    /// While connected to the broker.
    client: Option<Client>,
    db: Option<Db>,
    flight: Flight,
    /// A fetch is due.
    due: bool,
    /// The next attempt to connect to PostgreSQL, and the pause after it if it fails.
    retry_at: Instant,
    backoff: Duration,
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
                        self.backoff = FIRST_RETRY;
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
                if done || self.db.is_none() || self.client.is_none() || Instant::now() >= deadline
                {
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

    fn handle(&mut self, report: Link) {
        match report {
            Link::Up(client) => {
                tracing::info!("alarm publisher connected to the MQTT broker");
                (self.client, self.due) = (Some(client), true);
            }
            Link::Written(pkid) => self.flight.written(pkid),
            Link::Acked(pkid, true) => self.flight.acked(pkid),
            Link::Acked(pkid, false) => {
                if let Some(event_id) = self.flight.refused(pkid) {
                    self.metrics.alarms_refused.inc();
                    tracing::error!(event_id, "the broker refused an alarm (its PUBACK's reason code); it is published again at the next poll");
                }
            }
            Link::Down => {
                self.client = None;
                self.flight.lost();
            }
        }
        self.metrics.alarms_in_flight.set(self.flight.len() as i64);
    }

    /// Backs off: 100 ms doubling up to `postgres.retry_max_secs`.
    fn retry_later(&mut self, error: &AlarmError, what: &str) {
        tracing::warn!(%error, retry_in = ?self.backoff, "alarm publisher: {what}");
        self.retry_at = Instant::now() + self.backoff;
        let max = Duration::from_secs(self.config.postgres.retry_max_secs);
        self.backoff = (self.backoff * 2).min(max);
    }

    /// Confirms what the broker has acknowledged, then fetches and publishes while a fetch is
    /// due and fewer than a batch are in flight.
    async fn work(&mut self) -> Result<(), AlarmError> {
        let Some(db) = &self.db else { return Ok(()) };
        let (m, alarms) = (&self.metrics, &self.config.alarms);
        let timeout = Duration::from_secs(self.config.postgres.batch_timeout_secs);
        if !self.flight.to_confirm().is_empty() {
            let events = self.flight.to_confirm().to_vec();
            let row = within(timeout, db.client.query_one(CONFIRM, &[&events])).await?;
            let removed = u64::try_from(row.try_get::<_, i32>(0)?).unwrap_or(0);
            m.alarms_confirmed.inc_by(removed);
            for latency in self.flight.confirmed(std::time::Instant::now()) {
                m.alarm_publish_to_confirm_seconds
                    .observe(latency.as_secs_f64());
            }
            tracing::debug!(?events, "alarms confirmed");
            if self.flight.is_empty() {
                // Events committed after others with higher ids may have been skipped.
                self.flight.rewind();
                self.due = true;
            }
        }
        let batch = alarms.batch_size;
        while self.due && self.flight.len() < batch {
            let Some(client) = &self.client else { break };
            self.due = false;
            let (limit, after) = (batch as i32, self.flight.after());
            let rows = within(timeout, db.client.query(FETCH, &[&limit, &after])).await?;
            let mut seen = Vec::with_capacity(rows.len());
            for row in &rows {
                let (event_id, severity): (i64, String) = (row.try_get(0)?, row.try_get(2)?);
                seen.push((event_id, severity == "critical"));
                if self.flight.contains(event_id) {
                    continue;
                }
                let (site_id, payload): (Option<String>, serde_json::Value) =
                    (row.try_get(1)?, row.try_get(3)?);
                let topic = alarms.topic.render(|name| match name {
                    "site_id" => site_id.clone(),
                    "severity" => Some(severity.clone()),
                    // Strings as they are, numbers written out.
                    _ => {
                        (payload.get(name)).map(|v| v.as_str().map_or(v.to_string(), str::to_owned))
                    }
                });
                if !client.publish_at_least_once(topic.clone(), payload.to_string().into_bytes()) {
                    // The connection is going down (its `Down` follows): fetched again then.
                    return Ok(());
                }
                self.flight.published(event_id, std::time::Instant::now());
                m.alarms_published.inc();
                // A full batch with new events: there may be more.
                self.due |= rows.len() == batch;
                tracing::debug!(event_id, topic, "alarm published");
            }
            self.flight.fetched(&seen, batch);
        }
        m.alarms_in_flight.set(self.flight.len() as i64);
        Ok(())
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
