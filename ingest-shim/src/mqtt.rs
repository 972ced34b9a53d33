//! The MQTT session: one persistent QoS 1 session (3.1.1 or 5), polled in its own task, which
//! registers each message with the acknowledger and routes it to a writer.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::ack::Acker;
use crate::backoff::Backoff;
use crate::client::{self, Client, Event, EventLoop, MqttError, Purpose};
use crate::config;
use crate::message::{Claim, Message};
use crate::metrics::Metrics;
use crate::writer::Router;

/// Packet ids are 16 bits, so no more messages than this can await their PUBACK on one
/// connection, even from a broker that overruns its in-flight window (Mosquitto 2.0.11 does).
/// The queues are sized by it; they allocate only what they hold.
pub const MAX_UNACKED: usize = 1 << 16;

pub struct Session {
    client: Client,
    eventloop: EventLoop,
    pub acker: Arc<Acker>,
    /// Acks released but not yet taken by MQTT 5's request channel, in order.
    unsent: VecDeque<u16>,
    subscriptions: Vec<String>,
    reconnect_max: Duration,
    keep_alive: Duration,
    max_bytes_in_hand: i64,
}

impl Session {
    pub fn new(config: &config::Mqtt, metrics: Arc<Metrics>) -> Result<Session, MqttError> {
        // MQTT 5's acks plus the subscribe, disconnect and rebirth requests.
        let (client, eventloop) = client::new(config, Purpose::Ingest, MAX_UNACKED + 16)?;
        Ok(Session {
            acker: Arc::new(Acker::new(metrics)),
            unsent: VecDeque::new(),
            client,
            eventloop,
            subscriptions: config.subscriptions.clone(),
            reconnect_max: Duration::from_secs(config.reconnect_max_secs),
            keep_alive: Duration::from_secs(config.keep_alive_secs),
            max_bytes_in_hand: i64::try_from(config.max_bytes_in_hand).unwrap_or(i64::MAX),
        })
    }

    /// For requests of its own, such as rebirth requests.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Polls until `stop` turns true and then until `disconnect` turns true and the DISCONNECT
    /// has been sent. After `stop`, new messages are left unacknowledged for the next session.
    pub async fn run(
        mut self,
        router: Router,
        mut stop: watch::Receiver<bool>,
        mut disconnect: watch::Receiver<bool>,
        metrics: Arc<Metrics>,
    ) {
        let mut router = Some(router);
        let mut backoff = Backoff::new(self.reconnect_max);
        let mut connections = 0u64;
        let mut disconnecting = false;
        let mut held_since: Option<Instant> = None;
        loop {
            // Over the byte budget, read nothing until commits free space. Not reading also
            // means sending no pings, so after half a keepalive reading resumes anyway.
            let over = router.is_some() && metrics.bytes_in_hand.get() >= self.max_bytes_in_hand;
            if !over {
                held_since = None;
            }
            let hold =
                over && held_since.get_or_insert_with(Instant::now).elapsed() < self.keep_alive / 2;
            let event = tokio::select! {
                // Acks first: each one frees a slot of the broker's in-flight window.
                biased;
                _ = self.acker.wait() => self.send_acks().await.map(|()| Event::Other),
                event = self.eventloop.poll(&metrics.bytes_in_hand), if !hold => event,
                _ = tokio::time::sleep(Duration::from_millis(5)), if hold => continue,
                _ = stop.changed(), if router.is_some() => {
                    // Dropping the senders lets the writers commit what they hold and finish.
                    router = None;
                    continue;
                }
                _ = disconnect.changed(), if !disconnecting => {
                    disconnecting = true;
                    // The writers have finished: their last acks go before the DISCONNECT.
                    let acks = self.send_acks().await;
                    if acks.is_err() || !self.client.disconnect() {
                        tracing::warn!("disconnect request failed");
                        return;
                    }
                    continue;
                }
            };
            // MQTT 5 acks its request channel had no room for: each event may have made room.
            // Not after a loss, when the channel would carry them to the next connection.
            let event = match event {
                Ok(event) if !self.unsent.is_empty() => self.send_acks().await.map(|()| event),
                event => event,
            };
            match event {
                Ok(Event::Connected(session_present)) => {
                    connections += 1;
                    backoff.reset();
                    self.connected(session_present, connections > 1, &metrics);
                }
                Ok(Event::Subscribed(0)) => {
                    metrics.mqtt_ready.store(true, Ordering::Relaxed);
                    tracing::info!(filters = ?self.subscriptions, "subscribed");
                }
                Ok(Event::Subscribed(refused)) => {
                    tracing::error!(refused, filters = ?self.subscriptions, "the broker refused subscriptions");
                }
                Ok(Event::Publish(message)) => {
                    metrics.messages_received.inc();
                    let Some(r) = &router else { continue };
                    if !pass_on(&self.acker, message, r).await {
                        // Only a failed spool drops its receiver before the stop.
                        if !*stop.borrow() {
                            tracing::error!("messages can no longer be passed on; taking no more");
                            metrics.failed.store(true, Ordering::Relaxed);
                        }
                        router = None;
                    }
                }
                Ok(Event::Disconnected) => {
                    metrics.mqtt_ready.store(false, Ordering::Relaxed);
                    tracing::info!("disconnected from the MQTT broker");
                    return;
                }
                // Its own PUBLISHes are QoS 0 (rebirth requests).
                Ok(Event::Other) => {}
                Err(error) => {
                    self.lost(&metrics);
                    let pause = backoff.next();
                    tracing::warn!(%error, retry_in = ?pause, "MQTT connection lost");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Sends the acks released since the last call, after any kept from before. A message
    /// received on an earlier connection is never acknowledged (ack.rs), and no ack of one is
    /// kept when a connection is lost: only this task sends them, and it clears them first.
    async fn send_acks(&mut self) -> Result<(), MqttError> {
        self.unsent.extend(self.acker.take());
        if self.unsent.is_empty() {
            return Ok(());
        }
        let metrics = &self.acker.metrics;
        metrics.ack_writes.inc();
        let result = self
            .eventloop
            .send_acks(&self.client, &mut self.unsent)
            .await;
        if !self.unsent.is_empty() {
            metrics.acks_deferred.inc();
            tracing::debug!(
                kept = self.unsent.len(),
                "acks deferred: the request channel is full"
            );
        }
        result
    }

    /// The connection is lost: commits from now on ack nothing of it.
    fn lost(&mut self, metrics: &Metrics) {
        metrics.mqtt_ready.store(false, Ordering::Relaxed);
        self.acker.connected();
        self.unsent.clear();
    }

    /// A CONNACK: subscribes at once unless the broker kept the session (and so the
    /// subscriptions).
    fn connected(&self, session_present: bool, reconnect: bool, metrics: &Metrics) {
        if reconnect {
            metrics.mqtt_reconnects.inc();
        }
        metrics.mqtt_ready.store(session_present, Ordering::Relaxed);
        self.acker.connected();
        if session_present {
            tracing::info!("connected to the MQTT broker, which kept the session");
            return;
        }
        metrics.mqtt_sessions_lost.inc();
        if reconnect {
            tracing::warn!("connected to the MQTT broker, which kept no session: messages published since it lost the session and before this subscription may have been dropped by the broker; subscribing again");
        } else {
            tracing::info!("connected to the MQTT broker, which has no session for this client id (a first start, or it lost the session: messages published meanwhile may have been dropped); subscribing");
        }
        if !self.client.subscribe(&self.subscriptions) {
            tracing::error!("subscribe request failed");
        }
    }
}

/// Registers the message with the acknowledger and routes it; false when its writer (or the
/// spool) has gone away. Not a method: the session's event loop is not Sync, so a borrow of
/// the session must not be held across the await.
async fn pass_on(acker: &Acker, mut message: Message, router: &Router) -> bool {
    // QoS 0 deliveries carry packet id 0 and are never acknowledged.
    if message.packet_id != 0 {
        message.claim = Some(Claim::Ack(acker.register(message.packet_id)));
    }
    router.send(message).await
}
