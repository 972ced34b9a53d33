//! A message as it travels from the poller (or the spool's replay) to a writer: its data, the
//! committed prefix it waits in, and the memory it holds.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use prometheus_client::metrics::gauge::Gauge;

use crate::prefix::Token;

pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub received_at: SystemTime,
    pub received: Instant,
    pub packet_id: u16,
    pub retained: bool,
    pub redelivered: bool,
    /// Who is told once the message has committed; None for QoS 0 messages, which need no ack.
    pub claim: Option<Claim>,
    _held: Held,
}

impl Message {
    /// Copies the payload: it is a slice of a larger buffer (rumqttc's read buffer, a spool
    /// segment), which a slice would keep allocated for as long as the message is in hand.
    pub fn new(
        topic: String,
        payload: &[u8],
        received_at: SystemTime,
        packet_id: u16,
        retained: bool,
        redelivered: bool,
        in_hand: &Gauge,
    ) -> Message {
        Message {
            _held: Held::new(in_hand, &topic, payload),
            topic,
            payload: Bytes::copy_from_slice(payload),
            received_at,
            received: Instant::now(),
            packet_id,
            retained,
            redelivered,
            claim: None,
        }
    }
}

/// The committed prefix a message waits in, with its place there.
#[derive(Clone, Copy)]
pub enum Claim {
    /// The acknowledger's, in arrival order.
    Ack(Token<Unacked>),
    /// With a spool, once spooled (and so acknowledged): the spool's, by sequence number.
    Spool(Token<Spooled>),
}

impl Claim {
    pub fn ack(self) -> Option<Token<Unacked>> {
        match self {
            Claim::Ack(token) => Some(token),
            Claim::Spool(_) => None,
        }
    }

    pub fn spool(self) -> Option<Token<Spooled>> {
        match self {
            Claim::Spool(token) => Some(token),
            Claim::Ack(_) => None,
        }
    }
}

/// What a message costs besides its topic and payload (queues, batch, acknowledger, request
/// channel, allocation headers). Without it, small messages pile up within a byte budget
/// (72,000 single readings/s: 101 MiB RSS).
const MESSAGE_OVERHEAD: usize = 512;

/// Counts a message's memory in the bytes_in_hand gauge while it is alive.
struct Held {
    bytes: i64,
    gauge: Gauge,
}

impl Held {
    fn new(gauge: &Gauge, topic: &str, payload: &[u8]) -> Held {
        let bytes = MESSAGE_OVERHEAD + topic.len() + payload.len();
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        gauge.inc_by(bytes);
        let gauge = gauge.clone();
        Held { bytes, gauge }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.dec_by(self.bytes);
    }
}

/// A message awaiting its PUBACK, as the acknowledger keeps it.
#[derive(Clone, Copy)]
pub struct Unacked {
    /// Packet ids are only meaningful within the broker connection they came on.
    pub connection: u64,
    pub packet_id: u16,
}

/// A spooled message; its token's index is its sequence number.
#[derive(Clone, Copy)]
pub struct Spooled;
