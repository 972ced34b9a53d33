//! rumqttc's client and event loop, MQTT 3.1.1 or 5, behind one interface. rumqttc has a pair
//! for each version, with methods of the same names on types of their own; the modules `v3`
//! and `v5` give those types one set of names, and `each!` writes the shim's use of them once.
//! Two connections use it: the ingest session and the alarm publisher's (alarm_link.rs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::gauge::Gauge;
use rumqttc::{Outgoing, TlsConfiguration, Transport};

use crate::config::{self, Protocol};
use crate::message::Message;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT TLS set-up: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Connection(#[from] Box<rumqttc::ConnectionError>),
    #[error(transparent)]
    Connection5(#[from] Box<rumqttc::v5::ConnectionError>),
    #[error("MQTT: {0}")]
    Protocol(&'static str),
}

/// MQTT 3.1.1, and its session settings.
mod v3 {
    pub use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
    pub use rumqttc::{SubscribeFilter as Filter, SubscribeReasonCode};

    /// What an ack is made from: only the packet id counts.
    pub fn publish(pkid: u16) -> Publish {
        let publish = Publish::new("", QoS::AtLeastOnce, Vec::new());
        Publish { pkid, ..publish }
    }

    pub use std::convert::identity as topic;

    /// No maximum packet size to announce: the broker's own limit must keep larger ones out.
    pub fn session(o: &mut MqttOptions, config: &crate::config::Mqtt) {
        o.set_clean_session(false)
            .set_max_packet_size(config.max_packet_bytes as usize, 64 << 10);
    }
}

/// MQTT 5, and its session settings.
mod v5 {
    pub use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode;
    pub use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish};
    pub use rumqttc::v5::mqttbytes::QoS;
    pub use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    pub fn publish(pkid: u16) -> Publish {
        let publish = Publish::new("", QoS::AtLeastOnce, bytes::Bytes::new(), None);
        Publish { pkid, ..publish }
    }

    /// UTF-8 by the protocol, and never aliased: the shim announces no alias maximum.
    pub fn topic(topic: bytes::Bytes) -> String {
        String::from_utf8_lossy(&topic).into_owned()
    }

    pub fn session(o: &mut MqttOptions, config: &crate::config::Mqtt) {
        o.set_clean_start(false)
            .set_session_expiry_interval(Some(config.session_expiry_secs))
            .set_receive_maximum(Some(config.max_inflight))
            // The broker drops larger messages for this client instead of sending them.
            .set_max_packet_size(Some(config.max_packet_bytes));
    }
}

/// A value of one version or the other.
#[derive(Clone)]
pub enum Version<A, B> {
    V3(A),
    V5(B),
}

pub type Client = Version<v3::AsyncClient, v5::AsyncClient>;
pub type EventLoop = Version<rumqttc::EventLoop, rumqttc::v5::EventLoop>;

/// `$body` for the version `$value` holds, with `$x` its value and `$m` its module.
macro_rules! each {
    ($value:expr, $x:ident, $m:ident => $body:expr) => {
        match $value {
            Version::V3($x) => {
                #[allow(unused_imports)]
                use v3 as $m;
                $body
            }
            Version::V5($x) => {
                #[allow(unused_imports)]
                use v5 as $m;
                $body
            }
        }
    };
}

/// What a connection is for.
#[derive(Clone, Copy)]
pub enum Purpose {
    /// The ingest session, under `mqtt.client_id`, with manual acks.
    Ingest,
    /// Publishing alarms, under `<mqtt.client_id>-alarms`, always MQTT 3.1.1 (see
    /// alarm_link.rs).
    Alarms,
}

/// The client and event loop of the configured version for `purpose`, on a persistent
/// session; `capacity` is the size of the client's request channel.
pub fn new(
    config: &config::Mqtt,
    purpose: Purpose,
    capacity: usize,
) -> Result<(Client, EventLoop), MqttError> {
    let mut transport = Transport::tcp();
    if let Some(tls) = &config.tls {
        let tls = TlsConfiguration::Rustls(Arc::new(tls.client_config()?));
        transport = Transport::tls_with_config(tls);
    }
    let password = config.password.as_ref().map_or("", |s| s.expose());
    macro_rules! with {
        ($m:ident, $variant:ident) => {{
            let mut o = $m::MqttOptions::new(client_id(config, purpose), &config.host, config.port);
            o.set_keep_alive(Duration::from_secs(config.keep_alive_secs))
                .set_manual_acks(true)
                .set_transport(transport);
            if let Some(user) = &config.username {
                o.set_credentials(user, password);
            }
            // Both persistent: the broker keeps what the ingest session has not acknowledged,
            // and the alarm messages it has acknowledged receipt of and not yet released.
            $m::session(&mut o, config);
            let (client, eventloop) = $m::AsyncClient::new(o, capacity);
            (Version::$variant(client), Version::$variant(eventloop))
        }};
    }
    let protocol = match purpose {
        Purpose::Ingest => config.protocol,
        Purpose::Alarms => Protocol::V3,
    };
    Ok(match protocol {
        Protocol::V3 => with!(v3, V3),
        Protocol::V5 => with!(v5, V5),
    })
}

pub fn client_id(config: &config::Mqtt, purpose: Purpose) -> String {
    match purpose {
        Purpose::Ingest => config.client_id.clone(),
        Purpose::Alarms => format!("{}-alarms", config.client_id),
    }
}

/// Each request returns whether the client's request channel took it (it is full, or closed).
impl Client {
    /// Never waits: the request channel has room for MAX_UNACKED acks and more.
    fn ack(&self, pkid: u16) -> bool {
        each!(self, c, m => c.try_ack(&m::publish(pkid)).is_ok())
    }

    pub fn subscribe(&self, filters: &[String]) -> bool {
        let filters = filters.iter().cloned();
        each!(self, c, m => c
            .try_subscribe_many(filters.map(|f| m::Filter::new(f, m::QoS::AtLeastOnce)))
            .is_ok())
    }

    /// QoS 0, not retained.
    pub fn publish(&self, topic: String, payload: Vec<u8>) -> bool {
        each!(self, c, m => c.try_publish(topic, m::QoS::AtMostOnce, false, payload).is_ok())
    }

    pub fn disconnect(&self) -> bool {
        each!(self, c, _m => c.try_disconnect().is_ok())
    }
}

/// What the session cares about, from either version.
pub enum Event {
    /// CONNACK, with whether the broker kept the session.
    Connected(bool),
    /// SUBACK, with the number of filters the broker refused.
    Subscribed(usize),
    Publish(Message),
    Disconnected,
    Other,
}

impl EventLoop {
    /// Sends the PUBACKs in `acks`, in order, on the current connection, and removes them
    /// (dropped if it is down). MQTT 3.1.1 writes them all and flushes once: rumqttc's request
    /// channel writes and flushes each request alone, a system call per message. rumqttc's
    /// MQTT 5 event loop keeps its connection private, so there they go through the request
    /// channel, and what it has no room for stays in `acks` for later.
    pub async fn send_acks(
        &mut self,
        client: &Client,
        acks: &mut VecDeque<u16>,
    ) -> Result<(), MqttError> {
        match (self, client) {
            (Version::V3(l), _) => {
                let timeout = Duration::from_secs(l.network_options().connection_timeout());
                let Some(network) = l.network.as_mut() else {
                    acks.clear();
                    return Ok(());
                };
                let write = async {
                    for pkid in acks.drain(..) {
                        network
                            .write(rumqttc::Packet::PubAck(rumqttc::PubAck::new(pkid)))
                            .await?;
                    }
                    network.flush().await
                };
                let result = match tokio::time::timeout(timeout, write).await {
                    Ok(result) => result.map_err(rumqttc::ConnectionError::MqttState),
                    Err(_) => Err(rumqttc::ConnectionError::FlushTimeout),
                };
                if result.is_err() {
                    // As rumqttc does on a failed write: the next poll connects again.
                    l.clean();
                }
                result.map_err(|e| MqttError::Connection(Box::new(e)))
            }
            (Version::V5(_), c) => {
                while acks.front().is_some_and(|&pkid| c.ack(pkid)) {
                    acks.pop_front();
                }
                Ok(())
            }
        }
    }

    pub async fn poll(&mut self, in_hand: &Gauge) -> Result<Event, MqttError> {
        Ok(
            each!(self, l, m => match l.poll().await.map_err(Box::new)? {
                m::Event::Incoming(m::Packet::ConnAck(ack)) => Event::Connected(ack.session_present),
                m::Event::Incoming(m::Packet::SubAck(ack)) => Event::Subscribed(
                    (ack.return_codes.iter())
                        .filter(|c| !matches!(c, m::SubscribeReasonCode::Success(_)))
                        .count(),
                ),
                m::Event::Incoming(m::Packet::Publish(p)) => {
                    let (topic, now) = (m::topic(p.topic), SystemTime::now());
                    let message = Message::new(topic, &p.payload, now, p.pkid, p.retain, p.dup, in_hand);
                    Event::Publish(message)
                }
                m::Event::Outgoing(Outgoing::Disconnect) => Event::Disconnected,
                _ => Event::Other,
            }),
        )
    }
}
