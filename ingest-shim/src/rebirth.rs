//! Rebirth requests. A Sparkplug B edge node whose data named an alias no birth declared
//! (`ingest_staged()`'s `rebirth_nodes`) is asked to publish its births again, the way host
//! applications ask: an NCMD with the metric "Node Control/Rebirth" = true. At most one request
//! per node per `rebirth.min_interval_secs`: until its births arrive, every batch with its data
//! names the node again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client::Client;
use crate::metrics::Metrics;

pub struct Rebirths {
    client: Client,
    min_interval: Duration,
    /// When each node was last asked.
    asked: Mutex<HashMap<String, Instant>>,
    metrics: Arc<Metrics>,
}

impl Rebirths {
    pub fn new(client: Client, min_interval: Duration, metrics: Arc<Metrics>) -> Rebirths {
        let asked = Mutex::default();
        Rebirths {
            client,
            min_interval,
            asked,
            metrics,
        }
    }

    /// Asks each node ("group/edge_node") for a rebirth, unless it was asked too recently.
    pub fn request(&self, nodes: &[String]) {
        let now = Instant::now();
        let mut asked = crate::prefix::lock(&self.asked);
        for node in nodes {
            let Some((group, edge_node)) = node.split_once('/') else {
                tracing::warn!(
                    node,
                    "not a Sparkplug edge node (group/edge_node): no rebirth request"
                );
                continue;
            };
            if !allow(&mut asked, self.min_interval, node, now) {
                self.metrics.rebirth_requests_suppressed.inc();
                continue;
            }
            let topic = format!("spBv1.0/{group}/NCMD/{edge_node}");
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            if !(self.client).publish(topic.clone(), payload(timestamp.as_millis() as u64)) {
                // Asked again by the next batch that names it.
                asked.remove(node);
                tracing::warn!(
                    node,
                    "rebirth request not sent: the MQTT request queue is full"
                );
                continue;
            }
            self.metrics.rebirth_requests.inc();
            tracing::info!(
                node,
                topic,
                "asked for a rebirth: its data named an alias no birth declared"
            );
        }
    }
}

/// Whether `node` may be asked at `now`; if so, it counts as asked. Nodes asked `interval` or
/// longer ago are forgotten.
fn allow(
    asked: &mut HashMap<String, Instant>,
    interval: Duration,
    node: &str,
    now: Instant,
) -> bool {
    asked.retain(|_, &mut t| now.duration_since(t) < interval);
    if asked.contains_key(node) {
        return false;
    }
    asked.insert(node.to_owned(), now);
    true
}

/// The Sparkplug B payload of a rebirth request, in the protobuf encoding of Eclipse Tahu's
/// sparkplug_b.proto: Payload { timestamp (1) = `timestamp_ms`, metrics (2) = [Metric { name
/// (1) = "Node Control/Rebirth", datatype (4) = 11 (Boolean), boolean_value (14) = true }] }.
/// Written out by hand: one fixed message needs no protobuf library.
fn payload(timestamp_ms: u64) -> Vec<u8> {
    const NAME: &[u8] = b"Node Control/Rebirth";
    // A field's key is its number << 3 | wire type (0 varint, 2 length-delimited).
    let mut metric = vec![1 << 3 | 2, NAME.len() as u8];
    metric.extend_from_slice(NAME);
    metric.extend_from_slice(&[4 << 3, 11, 14 << 3, 1]);
    let mut out = vec![1 << 3];
    let mut n = timestamp_ms;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&[2 << 3 | 2, metric.len() as u8]);
    out.extend_from_slice(&metric);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    /// The fields of Tahu's sparkplug_b.proto that a rebirth request uses (with `seq` and
    /// `alias`, which it must leave out); a protobuf `oneof` value is an optional field on
    /// the wire.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Payload {
        #[prost(uint64, optional, tag = "1")]
        timestamp: Option<u64>,
        #[prost(message, repeated, tag = "2")]
        metrics: Vec<Metric>,
        #[prost(uint64, optional, tag = "3")]
        seq: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Metric {
        #[prost(string, optional, tag = "1")]
        name: Option<String>,
        #[prost(uint64, optional, tag = "2")]
        alias: Option<u64>,
        #[prost(uint32, optional, tag = "4")]
        datatype: Option<u32>,
        #[prost(bool, optional, tag = "14")]
        boolean_value: Option<bool>,
    }

    #[test]
    fn the_ncmd_payload_is_a_sparkplug_rebirth_request() {
        let now = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
        let decoded = Payload::decode(&payload(now)[..]).unwrap();
        let rebirth = Metric {
            name: Some("Node Control/Rebirth".into()),
            alias: None,
            datatype: Some(11),
            boolean_value: Some(true),
        };
        let expected = Payload {
            timestamp: Some(now),
            metrics: vec![rebirth],
            seq: None,
        };
        assert_eq!(decoded, expected);
        // Checked by hand: timestamp 1 in one varint byte, then the metric of 26 bytes.
        let mut bytes = vec![0x08, 0x01, 0x12, 26, 0x0a, 20];
        bytes.extend_from_slice(b"Node Control/Rebirth");
        bytes.extend_from_slice(&[0x20, 0x0b, 0x70, 0x01]);
        assert_eq!(payload(1), bytes);
        assert_eq!(payload(u64::MAX).len(), bytes.len() + 9, "ten varint bytes");
    }

    #[test]
    fn a_node_is_asked_at_most_once_per_interval() {
        let (mut asked, interval, t0) = (HashMap::new(), Duration::from_secs(30), Instant::now());
        let mut allow =
            |node, secs| allow(&mut asked, interval, node, t0 + Duration::from_secs(secs));
        assert!(allow("g/a", 0));
        assert!(allow("g/b", 0), "each node has its own limit");
        assert!(!allow("g/a", 29));
        assert!(
            allow("g/a", 30),
            "the request held back at 29 s did not count"
        );
        assert!(!allow("g/a", 31));
        assert_eq!(asked.len(), 1, "g/b, asked 31 s ago, is forgotten");
    }

    #[test]
    fn requests_go_out_as_ncmd_at_qos_0_and_are_counted() {
        let (tx, rx) = flume::bounded(4);
        let metrics = Arc::new(Metrics::new(1));
        let client = Client::V5(rumqttc::v5::AsyncClient::from_senders(tx));
        let rebirths = Rebirths::new(client, Duration::from_secs(30), metrics.clone());
        rebirths.request(&["plant/node-1".into(), "plant/node-1".into(), "bad".into()]);
        let sent: Vec<_> = rx.drain().collect();
        assert_eq!(sent.len(), 1);
        let rumqttc::v5::Request::Publish(publish) = &sent[0] else {
            panic!("not a publish: {:?}", sent[0]);
        };
        assert_eq!(&publish.topic[..], b"spBv1.0/plant/NCMD/node-1");
        assert_eq!(publish.qos, rumqttc::v5::mqttbytes::QoS::AtMostOnce);
        assert!(!publish.retain);
        let decoded = Payload::decode(&publish.payload[..]).unwrap();
        assert_eq!(decoded.metrics[0].boolean_value, Some(true));
        assert_eq!(metrics.rebirth_requests.get(), 1);
        assert_eq!(metrics.rebirth_requests_suppressed.get(), 1);
    }
}
