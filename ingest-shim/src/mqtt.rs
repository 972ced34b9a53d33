//! The MQTT side: one persistent QoS 1 session (3.1.1 or 5), polled in its own task, the
//! acknowledger that sends PUBACKs in arrival order once the writers report their commits, and
//! the router that hands each message to the writer of its topic.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::metrics::gauge::Gauge;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::{v5 as p5, QoS as QoS5};
use rumqttc::{Outgoing, QoS, TlsConfiguration, Transport};
use tokio::sync::{mpsc, watch};

use crate::config::{self, Protocol};
use crate::message::{Claim, Message, Unacked};
use crate::metrics::Metrics;
use crate::prefix::{Prefix, Token};

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT TLS set-up: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Packet ids are 16 bits, so no more messages than this can await their PUBACK on one
/// connection, even from a broker that overruns its in-flight window (Mosquitto 2.0.11 does).
/// The queues are sized by it; they allocate only what they hold.
pub const MAX_UNACKED: usize = 1 << 16;

#[derive(Clone)]
enum Client {
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
    Connected {
        session_present: bool,
    },
    /// SUBACK: the filters the broker refused, if any.
    Subscribed {
        refused: usize,
    },
    Publish(Message),
    Disconnected,
    Other,
}

impl Client {
    /// try_ack never waits: the request channel holds MAX_UNACKED requests and more, so it
    /// cannot be full of acks. A dropped ack would leave its message un-acknowledged, taking a
    /// slot of the broker's in-flight window until the next connection.
    fn ack(&self, packet_id: u16) -> Result<(), String> {
        match self {
            Client::V3(c) => {
                let mut publish = rumqttc::Publish::new("", QoS::AtLeastOnce, Vec::new());
                publish.pkid = packet_id;
                c.try_ack(&publish).map_err(|e| e.to_string())
            }
            Client::V5(c) => {
                let mut publish = p5::Publish::new("", QoS5::AtLeastOnce, Bytes::new(), None);
                publish.pkid = packet_id;
                c.try_ack(&publish).map_err(|e| e.to_string())
            }
        }
    }

    fn subscribe(&self, filters: &[String]) -> Result<(), String> {
        match self {
            Client::V3(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)),
                )
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| p5::Filter::new(f.clone(), QoS5::AtLeastOnce)),
                )
                .map_err(|e| e.to_string()),
        }
    }

    fn disconnect(&self) -> Result<(), String> {
        match self {
            Client::V3(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Client::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        }
    }
}

impl EventLoop {
    async fn poll(&mut self, in_hand: &Gauge) -> Result<Event, String> {
        match self {
            EventLoop::V3(l) => match l.poll().await.map_err(|e| e.to_string())? {
                rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)) => Ok(Event::Connected {
                    session_present: ack.session_present,
                }),
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(ack)) => Ok(Event::Subscribed {
                    refused: ack
                        .return_codes
                        .iter()
                        .filter(|c| !matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                        .count(),
                }),
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => {
                    let now = SystemTime::now();
                    Ok(Event::Publish(Message::new(
                        p.topic, &p.payload, now, p.pkid, p.retain, p.dup, in_hand,
                    )))
                }
                rumqttc::Event::Outgoing(Outgoing::Disconnect) => Ok(Event::Disconnected),
                _ => Ok(Event::Other),
            },
            EventLoop::V5(l) => match l.poll().await.map_err(|e| e.to_string())? {
                rumqttc::v5::Event::Incoming(p5::Packet::ConnAck(ack)) => Ok(Event::Connected {
                    session_present: ack.session_present,
                }),
                rumqttc::v5::Event::Incoming(p5::Packet::SubAck(ack)) => Ok(Event::Subscribed {
                    refused: ack
                        .return_codes
                        .iter()
                        .filter(|c| !matches!(c, p5::SubscribeReasonCode::Success(_)))
                        .count(),
                }),
                rumqttc::v5::Event::Incoming(p5::Packet::Publish(p)) => {
                    // Topics are UTF-8 by the protocol; the broker never aliases them because
                    // the shim does not announce a topic alias maximum.
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    let now = SystemTime::now();
                    Ok(Event::Publish(Message::new(
                        topic, &p.payload, now, p.pkid, p.retain, p.dup, in_hand,
                    )))
                }
                rumqttc::v5::Event::Outgoing(Outgoing::Disconnect) => Ok(Event::Disconnected),
                _ => Ok(Event::Other),
            },
        }
    }
}

/// Sends PUBACKs in arrival order: a message is acknowledged only when it and every message
/// received before it have been committed, whichever writer committed them.
pub struct Acker {
    state: Mutex<AckState>,
    client: Client,
    metrics: Arc<Metrics>,
}

struct AckState {
    /// Counts broker connections; packet ids are only meaningful within one.
    connection: u64,
    prefix: Prefix<Unacked>,
    /// Committed, in arrival order, but not yet taken by the client's request channel: sent
    /// before any later ack, at the next commit or the next event of the poller.
    unsent: VecDeque<Unacked>,
}

impl Acker {
    fn new(client: Client, metrics: Arc<Metrics>) -> Acker {
        Acker {
            state: Mutex::new(AckState {
                connection: 0,
                prefix: Prefix::starting_at(0),
                unsent: VecDeque::new(),
            }),
            client,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AckState> {
        // A panic elsewhere while holding the lock leaves consistent state: every update is
        // a single push, flag or pop.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn connected(&self) {
        self.lock().connection += 1;
    }

    fn register(&self, packet_id: u16) -> Token<Unacked> {
        let mut state = self.lock();
        let connection = state.connection;
        let token = state.prefix.push(Unacked {
            connection,
            packet_id,
        });
        self.metrics.messages_in_hand.set(state.prefix.len() as i64);
        token
    }

    /// Marks the messages committed and acknowledges the committed prefix. Messages received on
    /// an earlier connection are not acknowledged: the broker has already redelivered them on
    /// the current one, where they are acknowledged once that copy commits.
    pub fn complete(&self, tokens: impl IntoIterator<Item = Token<Unacked>>) {
        let mut state = self.lock();
        let AckState { prefix, unsent, .. } = &mut *state;
        prefix.complete(tokens, |unacked| unsent.push_back(unacked));
        self.metrics.messages_in_hand.set(prefix.len() as i64);
        self.send(&mut state);
    }

    /// Sends what the request channel takes now, keeping the rest, in order, for later. A
    /// dropped ack would hold a slot of the broker's in-flight window until the next connection,
    /// and a broker that honours the window would stop sending.
    pub fn flush(&self) {
        let mut state = self.lock();
        self.send(&mut state);
    }

    fn send(&self, state: &mut AckState) {
        while let Some(&Unacked {
            connection,
            packet_id,
        }) = state.unsent.front()
        {
            // Received on an earlier connection: the broker has redelivered it on this one.
            if connection == state.connection {
                if let Err(error) = self.client.ack(packet_id) {
                    self.metrics.acks_deferred.inc();
                    tracing::debug!(%error, packet_id, "ack deferred: the request channel is full");
                    break;
                }
            }
            state.unsent.pop_front();
        }
    }
}

/// Sends each message to the writer that owns its topic, so one series always goes through
/// the same connection, in order.
pub struct Router {
    writers: Vec<mpsc::Sender<Message>>,
}

impl Router {
    pub fn new(writers: Vec<mpsc::Sender<Message>>) -> Router {
        Router { writers }
    }

    /// False when the writer has gone away (shutting down).
    pub async fn send(&self, message: Message) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        message.topic.hash(&mut hasher);
        let index = (hasher.finish() % self.writers.len() as u64) as usize;
        self.writers[index].send(message).await.is_ok()
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
        let password = config
            .password
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
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
            // Over the byte budget, read nothing until commits free space; the broker and TCP
            // hold the rest. Not reading also means sending no pings, so after half a keepalive
            // without enough commits (PostgreSQL down or stuck) reading resumes, and until the
            // bytes are back under the budget only the broker's in-flight window bounds them.
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
                    if let Err(error) = self.client.disconnect() {
                        tracing::warn!(%error, "disconnect request failed");
                        return;
                    }
                    continue;
                }
            };
            // Each event, outgoing packets included, may have made room for deferred acks.
            self.acker.flush();
            match event {
                Ok(Event::Connected { session_present }) => {
                    connections += 1;
                    backoff = Duration::from_millis(100);
                    self.connected(session_present, connections > 1, &metrics);
                }
                Ok(Event::Subscribed { refused: 0 }) => {
                    metrics.mqtt_ready.store(true, Ordering::Relaxed);
                    tracing::info!(filters = ?self.subscriptions, "subscribed");
                }
                Ok(Event::Subscribed { refused }) => {
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

    /// A CONNACK: a new connection, whose packet ids are new too; subscribes unless the broker
    /// kept the session.
    fn connected(&self, session_present: bool, reconnect: bool, metrics: &Metrics) {
        if reconnect {
            metrics.mqtt_reconnects.inc();
        }
        // Ready once subscribed: a resumed session keeps its subscriptions.
        metrics.mqtt_ready.store(session_present, Ordering::Relaxed);
        self.acker.connected();
        tracing::info!(session_present, "connected to the MQTT broker");
        if !session_present {
            if let Err(error) = self.client.subscribe(&self.subscriptions) {
                tracing::error!(%error, "subscribe request failed");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(rx: &flume::Receiver<rumqttc::Request>) -> Vec<u16> {
        rx.drain()
            .map(|r| match r {
                rumqttc::Request::PubAck(ack) => ack.pkid,
                other => panic!("unexpected request {other:?}"),
            })
            .collect()
    }

    #[test]
    fn acks_in_arrival_order_and_only_for_the_current_connection() {
        let (tx, rx) = flume::bounded(16);
        let acker = Acker::new(
            Client::V3(rumqttc::AsyncClient::from_senders(tx)),
            Arc::new(Metrics::new(1)),
        );
        acker.connected();
        let tokens: Vec<_> = [11, 12, 13]
            .into_iter()
            .map(|p| acker.register(p))
            .collect();
        acker.complete([tokens[2]]);
        assert_eq!(acked(&rx), [] as [u16; 0], "13 waits for 11 and 12");
        acker.complete([tokens[0]]);
        assert_eq!(acked(&rx), [11]);
        acker.complete([tokens[1]]);
        assert_eq!(acked(&rx), [12, 13]);

        // A message from a lost connection is never acked: its packet id may now be another's.
        let old = acker.register(14);
        acker.connected();
        let new = acker.register(14);
        acker.complete([new, old]);
        assert_eq!(acked(&rx), [14]);
    }

    #[test]
    fn acks_the_client_cannot_take_yet_are_kept_and_sent_in_order() {
        let (tx, rx) = flume::bounded(2);
        let metrics = Arc::new(Metrics::new(1));
        let acker = Acker::new(
            Client::V3(rumqttc::AsyncClient::from_senders(tx)),
            metrics.clone(),
        );
        acker.connected();
        let tokens: Vec<_> = (1..=5).map(|p| acker.register(p)).collect();
        acker.complete(tokens[..4].iter().copied());
        assert_eq!(acked(&rx), [1, 2], "the queue takes two");
        assert_eq!(metrics.acks_deferred.get(), 1);
        acker.complete([tokens[4]]);
        assert_eq!(acked(&rx), [3, 4], "deferred acks go first, in order");
        acker.flush();
        assert_eq!(acked(&rx), [5]);
        acker.flush();
        assert_eq!(acked(&rx), [] as [u16; 0], "each ack is sent once");
    }
}
