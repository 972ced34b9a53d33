//! The alarm publisher's MQTT connections, one after another: QoS 2 on a persistent session
//! under `<mqtt.client_id>-alarms`, with the packet ids the outbox gives (the same for an event
//! after any restart), and each PUBREL sent only when the publisher says so, once PostgreSQL
//! has recorded the broker's PUBREC. rumqttc's event loop would answer a PUBREC with a PUBREL
//! at once, so after the CONNACK this task reads and writes the connection's packets itself.
//! rumqttc's MQTT 5 event loop keeps its connection to itself, so this one is MQTT 3.1.1,
//! whatever `mqtt.protocol` says (3.1.1 has no reason codes: a broker that drops a message
//! still acknowledges it).
//!
//! That gives exactly once while the broker keeps the session. Until the PUBREC is recorded,
//! no PUBREL has gone out, so the broker has either not seen the PUBLISH or holds it under its
//! packet id, and takes the same PUBLISH sent again after a crash as the same message. Once it
//! is recorded, only the PUBREL is sent again, and a PUBREL releases a message at most once.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use tokio::time::Instant;

use rumqttc::{ConnectionError, Packet, PubRel, Publish, QoS, StateError};

use crate::backoff::Backoff;
use crate::client::{self, EventLoop, MqttError, Purpose, Version};
use crate::config::Config;

/// What the publisher asks of the connection.
pub enum Command {
    Publish {
        packet_id: u16,
        topic: String,
        payload: Vec<u8>,
    },
    Release(u16),
}

/// What the connection reports, in order.
pub enum Report {
    /// Connected, with whether the broker kept the session: commands go to this sender until
    /// the next `Down`.
    Up(mpsc::UnboundedSender<Command>, bool),
    /// A PUBREC.
    Received(u16),
    /// A PUBCOMP: delivered.
    Completed(u16),
    Down,
}

/// Connects again after each loss, until the publisher stops listening.
pub async fn run(config: Arc<Config>, reports: mpsc::UnboundedSender<Report>) {
    let mqtt = &config.mqtt;
    let mut backoff = Backoff::new(Duration::from_secs(mqtt.reconnect_max_secs));
    loop {
        let error = match client::new(mqtt, Purpose::Alarms, 16) {
            Ok((_client, mut eventloop)) => {
                let keep_alive = Duration::from_secs(mqtt.keep_alive_secs);
                match serve(&mut eventloop, keep_alive, &reports, &mut backoff).await {
                    Ok(()) => return,
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        if reports.send(Report::Down).is_err() {
            return;
        }
        let pause = backoff.next();
        tracing::warn!(%error, retry_in = ?pause, "alarm publisher: no MQTT connection");
        tokio::time::sleep(pause).await;
    }
}

/// One connection: the CONNACK through rumqttc, then the packets by hand. Ok once the
/// publisher has gone away.
async fn serve(
    eventloop: &mut EventLoop,
    keep_alive: Duration,
    reports: &mpsc::UnboundedSender<Report>,
    backoff: &mut Backoff,
) -> Result<(), MqttError> {
    let session_present = match eventloop.poll(&Gauge::default()).await? {
        client::Event::Connected(present) => present,
        _ => return Err(MqttError::Protocol("a first packet other than CONNACK")),
    };
    backoff.reset();
    let (commands, mut requests) = mpsc::unbounded_channel();
    if reports.send(Report::Up(commands, session_present)).is_err() {
        return Ok(());
    }
    let Version::V3(eventloop) = eventloop else {
        return Err(MqttError::Protocol("the alarm connection is MQTT 3.1.1"));
    };
    let network =
        (eventloop.network.as_mut()).ok_or(MqttError::Protocol("no connection after CONNACK"))?;
    let mut ping = tokio::time::interval_at(Instant::now() + keep_alive, keep_alive);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            packet = network.read() => {
                heard = Instant::now();
                let report = match packet.map_err(lost)? {
                    Packet::PubRec(rec) => Report::Received(rec.pkid),
                    Packet::PubComp(comp) => Report::Completed(comp.pkid),
                    _ => continue,
                };
                if reports.send(report).is_err() {
                    return Ok(());
                }
            }
            request = requests.recv() => {
                let Some(mut request) = request else { return Ok(()) };
                // What is queued goes out with it, in one flush.
                loop {
                    network.write(packet(request)).await.map_err(lost)?;
                    match requests.try_recv() {
                        Ok(next) => request = next,
                        Err(_) => break,
                    }
                }
                network.flush().await.map_err(lost)?;
            }
            _ = ping.tick() => {
                if heard.elapsed() > keep_alive * 3 / 2 {
                    return Err(MqttError::Protocol("no answer from the broker within 1.5 keepalives"));
                }
                network.write(Packet::PingReq).await.map_err(lost)?;
                network.flush().await.map_err(lost)?;
            }
        }
    }
}

fn packet(command: Command) -> Packet {
    match command {
        Command::Publish {
            packet_id,
            topic,
            payload,
        } => {
            let publish = Publish::new(topic, QoS::ExactlyOnce, payload);
            Packet::Publish(Publish {
                pkid: packet_id,
                ..publish
            })
        }
        Command::Release(packet_id) => Packet::PubRel(PubRel::new(packet_id)),
    }
}

fn lost(error: StateError) -> MqttError {
    Box::new(ConnectionError::MqttState(error)).into()
}
