//! The MQTT session: one persistent QoS 1 session (3.1.1 or 5), polled in its own task, which
//! registers each message with the acknowledger and routes it to a writer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use prometheus_client::metrics::gauge::Gauge;
use rumqttc::v5::mqttbytes::{v5 as p5, QoS as QoS5};
use rumqttc::{Outgoing, QoS, TlsConfiguration, Transport};
use tokio::sync::watch;

use crate::ack::Acker;
use crate::config::{self, Protocol};
use crate::message::{Claim, Message};
use crate::metrics::Metrics;
use crate::tls::TlsError;
use crate::writer::Router;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT TLS set-up: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Connection(#[from] Box<rumqttc::ConnectionError>),
    #[error(transparent)]
    Connection5(#[from] Box<rumqttc::v5::ConnectionError>),
}

/// Packet ids are 16 bits, so no more messages than this can await their PUBACK on one
/// connection, even from a broker that overruns its in-flight window (Mosquitto 2.0.11 does).
/// The queues are sized by it; they allocate only what they hold.
pub const MAX_UNACKED: usize = 1 << 16;

#[derive(Clone)]
pub enum Client {
    V3(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

// One per process, so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum EventLoop {
    V3(rumqttc::EventLoop),
    V5(rumqttc::v5::EventLoop),
}

/// What the poller cares about, from either protocol version.
enum Event {
    /// CONNACK, with whether the broker kept the session.
    Connected(bool),
    /// SUBACK, with the number of filters the broker refused.
    Subscribed(usize),
    Publish(Message),
    Disconnected,
    Other,
}

/// Each request returns whether the client's request channel took it (it is full, or closed).
impl Client {
    /// Never waits: the request channel has room for MAX_UNACKED acks and more.
    pub fn ack(&self, pkid: u16) -> bool {
        match self {
            Client::V3(c) => {
                let publish = rumqttc::Publish::new("", QoS::AtLeastOnce, Vec::new());
                c.try_ack(&rumqttc::Publish { pkid, ..publish }).is_ok()
            }
            Client::V5(c) => {
                let publish = p5::Publish::new("", QoS5::AtLeastOnce, Bytes::new(), None);
                c.try_ack(&p5::Publish { pkid, ..publish }).is_ok()
            }
        }
    }

    fn subscribe(&self, filters: &[String]) -> bool {
        let filters = filters.iter().cloned();
        match self {
            Client::V3(c) => c
                .try_subscribe_many(
                    filters.map(|f| rumqttc::SubscribeFilter::new(f, QoS::AtLeastOnce)),
                )
                .is_ok(),
            Client::V5(c) => c
                .try_subscribe_many(filters.map(|f| p5::Filter::new(f, QoS5::AtLeastOnce)))
                .is_ok(),
        }
    }

    fn disconnect(&self) -> bool {
        match self {
            Client::V3(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        }
    }
}

impl EventLoop {
    async fn poll(&mut self, in_hand: &Gauge) -> Result<Event, MqttError> {
        use rumqttc::v5::Event as E5;
        use rumqttc::{Event as E3, Packet as P3};
        let publish = |topic, payload: &[u8], pkid, retain, dup| {
            let now = SystemTime::now();
            Event::Publish(Message::new(
                topic, payload, now, pkid, retain, dup, in_hand,
            ))
        };
        Ok(match self {
            EventLoop::V3(l) => match l.poll().await.map_err(Box::new)? {
                E3::Incoming(P3::ConnAck(ack)) => Event::Connected(ack.session_present),
                E3::Incoming(P3::SubAck(ack)) => Event::Subscribed(
                    (ack.return_codes.iter())
                        .filter(|c| !matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                        .count(),
                ),
                E3::Incoming(P3::Publish(p)) => {
                    publish(p.topic, &p.payload, p.pkid, p.retain, p.dup)
                }
                E3::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
                _ => Event::Other,
            },
            EventLoop::V5(l) => match l.poll().await.map_err(Box::new)? {
                E5::Incoming(p5::Packet::ConnAck(ack)) => Event::Connected(ack.session_present),
                E5::Incoming(p5::Packet::SubAck(ack)) => Event::Subscribed(
                    (ack.return_codes.iter())
                        .filter(|c| !matches!(c, p5::SubscribeReasonCode::Success(_)))
                        .count(),
                ),
                // UTF-8 by the protocol, and never aliased: the shim announces no alias maximum.
                E5::Incoming(p5::Packet::Publish(p)) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    publish(topic, &p.payload, p.pkid, p.retain, p.dup)
                }
                E5::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
                _ => Event::Other,
            },
        })
    }
}

pub struct Session {
    client: Client,
    eventloop: EventLoop,
    pub acker: Arc<Acker>,
    subscriptions: Vec<String>,
    reconnect_max: Duration,
    keep_alive: Duration,
    max_bytes_in_hand: i64,
}

impl Session {
    pub fn new(config: &config::Mqtt, metrics: Arc<Metrics>) -> Result<Session, MqttError> {
        let transport = match &config.tls {
            Some(tls) => {
                Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls.client_config()?)))
            }
            None => Transport::tcp(),
        };
        // Acks plus the subscribe and disconnect requests.
        let capacity = MAX_UNACKED + 16;
        let keep_alive = Duration::from_secs(config.keep_alive_secs);
        let password = config.password.as_ref().map_or("", |s| s.expose());
        let (client, eventloop) = match config.protocol {
            Protocol::V3 => {
                let mut o = rumqttc::MqttOptions::new(&config.client_id, &config.host, config.port);
                o.set_keep_alive(keep_alive)
                    .set_clean_session(false)
                    .set_manual_acks(true)
                    .set_transport(transport)
                    .set_max_packet_size(config.max_packet_bytes as usize, 64 << 10);
                if let Some(user) = &config.username {
                    o.set_credentials(user, password);
                }
                let (c, l) = rumqttc::AsyncClient::new(o, capacity);
                (Client::V3(c), EventLoop::V3(l))
            }
            Protocol::V5 => {
                let mut o =
                    rumqttc::v5::MqttOptions::new(&config.client_id, &config.host, config.port);
                o.set_keep_alive(keep_alive)
                    .set_clean_start(false)
                    .set_session_expiry_interval(Some(config.session_expiry_secs))
                    .set_receive_maximum(Some(config.max_inflight))
                    // The broker drops larger messages for this client instead of sending them.
                    .set_max_packet_size(Some(config.max_packet_bytes))
                    .set_manual_acks(true)
                    .set_transport(transport);
                if let Some(user) = &config.username {
                    o.set_credentials(user, password);
                }
                let (c, l) = rumqttc::v5::AsyncClient::new(o, capacity);
                (Client::V5(c), EventLoop::V5(l))
            }
        };
        Ok(Session {
            acker: Arc::new(Acker::new(client.clone(), metrics)),
            client,
            eventloop,
            subscriptions: config.subscriptions.clone(),
            reconnect_max: Duration::from_secs(config.reconnect_max_secs),
            keep_alive,
            max_bytes_in_hand: i64::try_from(config.max_bytes_in_hand).unwrap_or(i64::MAX),
        })
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
        let mut backoff = Duration::from_millis(100);
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
                event = self.eventloop.poll(&metrics.bytes_in_hand), if !hold => event,
                _ = tokio::time::sleep(Duration::from_millis(5)), if hold => continue,
                _ = stop.changed(), if router.is_some() => {
                    // Dropping the senders lets the writers commit what they hold and finish.
                    router = None;
                    continue;
                }
                _ = disconnect.changed(), if !disconnecting => {
                    disconnecting = true;
                    if !self.client.disconnect() {
                        tracing::warn!("disconnect request failed");
                        return;
                    }
                    continue;
                }
            };
            // Each event, outgoing packets included, may have made room for deferred acks.
            self.acker.flush();
            match event {
                Ok(Event::Connected(session_present)) => {
                    connections += 1;
                    backoff = Duration::from_millis(100);
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
                Ok(Event::Other) => {}
                Err(error) => {
                    metrics.mqtt_ready.store(false, Ordering::Relaxed);
                    tracing::warn!(%error, retry_in = ?backoff, "MQTT connection lost");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.reconnect_max);
                }
            }
        }
    }

    /// A CONNACK: subscribes unless the broker kept the session (and so the subscriptions).
    fn connected(&self, session_present: bool, reconnect: bool, metrics: &Metrics) {
        if reconnect {
            metrics.mqtt_reconnects.inc();
        }
        metrics.mqtt_ready.store(session_present, Ordering::Relaxed);
        self.acker.connected();
        tracing::info!(session_present, "connected to the MQTT broker");
        if !session_present && !self.client.subscribe(&self.subscriptions) {
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
