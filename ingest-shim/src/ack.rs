//! The acknowledger. MQTT requires PUBACKs in the order the PUBLISHes arrived, so a message is
//! acknowledged only once it and every message received before it have been committed,
//! whichever writer committed them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::Client;
use crate::message::Unacked;
use crate::metrics::Metrics;
use crate::prefix::{self, Prefix, Token};

pub struct Acker {
    state: Mutex<AckState>,
    client: Client,
    metrics: Arc<Metrics>,
}

struct AckState {
    /// Counts broker connections; packet ids are only meaningful within one.
    connection: u64,
    prefix: Prefix<Unacked>,
    /// Committed, in arrival order, but not yet taken by the client's request channel. Never
    /// dropped: each would hold a slot of the broker's in-flight window until the next connection.
    unsent: VecDeque<Unacked>,
}

impl Acker {
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Acker {
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

    fn lock(&self) -> MutexGuard<'_, AckState> {
        prefix::lock(&self.state)
    }

    /// A new broker connection, whose packet ids are new too.
    pub fn connected(&self) {
        self.lock().connection += 1;
    }

    pub fn register(&self, packet_id: u16) -> Token<Unacked> {
        let mut state = self.lock();
        let connection = state.connection;
        let token = state.prefix.push(Unacked {
            connection,
            packet_id,
        });
        self.metrics.messages_in_hand.set(state.prefix.len() as i64);
        token
    }

    /// Marks the messages committed and acknowledges the committed prefix.
    pub fn complete(&self, tokens: impl IntoIterator<Item = Token<Unacked>>) {
        let mut state = self.lock();
        let AckState { prefix, unsent, .. } = &mut *state;
        prefix.complete(tokens, |unacked| unsent.push_back(unacked));
        self.metrics.messages_in_hand.set(prefix.len() as i64);
        self.send(&mut state);
    }

    /// Sends the acknowledgements kept while the request channel was full.
    pub fn flush(&self) {
        self.send(&mut self.lock());
    }

    /// Sends what the request channel takes now and keeps the rest, in order, for later. A
    /// message received on an earlier connection is not acknowledged: its packet id may now
    /// be another's, and the broker has redelivered it on this connection anyway.
    fn send(&self, state: &mut AckState) {
        while let Some(&Unacked {
            connection,
            packet_id,
        }) = state.unsent.front()
        {
            if connection == state.connection && !self.client.ack(packet_id) {
                self.metrics.acks_deferred.inc();
                tracing::debug!(packet_id, "ack deferred: the request channel is full");
                break;
            }
            state.unsent.pop_front();
        }
    }
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
