//! The acknowledger. MQTT requires PUBACKs in the order the PUBLISHes arrived, so a message is
//! acknowledged only once it and every message received before it have been committed,
//! whichever writer committed them. The session task, which owns the connection, takes the
//! released acks and writes them together (mqtt.rs).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::message::Unacked;
use crate::metrics::Metrics;
use crate::prefix::{self, Prefix, Token};

pub struct Acker {
    state: Mutex<AckState>,
    /// Woken when acks are released.
    released: Notify,
    pub metrics: Arc<Metrics>,
}

struct AckState {
    /// Counts broker connections; packet ids are only meaningful within one.
    connection: u64,
    prefix: Prefix<Unacked>,
    /// Committed, in arrival order, not yet taken by the session.
    released: VecDeque<Unacked>,
}

impl Acker {
    pub fn new(metrics: Arc<Metrics>) -> Acker {
        Acker {
            state: Mutex::new(AckState {
                connection: 0,
                prefix: Prefix::starting_at(0),
                released: VecDeque::new(),
            }),
            released: Notify::new(),
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

    /// Marks the messages committed and releases the committed prefix to the session.
    pub fn complete(&self, tokens: impl IntoIterator<Item = Token<Unacked>>) {
        let mut state = self.lock();
        let AckState {
            prefix, released, ..
        } = &mut *state;
        let before = released.len();
        prefix.complete(tokens, |unacked| released.push_back(unacked));
        self.metrics.messages_in_hand.set(prefix.len() as i64);
        if released.len() > before {
            self.released.notify_one();
        }
    }

    /// Waits until acks have been released since the last `take` (at once if they have).
    pub async fn wait(&self) {
        self.released.notified().await;
    }

    /// The packet ids to acknowledge now, in order. A message received on an earlier
    /// connection is not acknowledged: its packet id may now be another's, and the broker has
    /// redelivered it on this connection anyway.
    pub fn take(&self) -> Vec<u16> {
        let mut state = self.lock();
        let connection = state.connection;
        (state.released.drain(..))
            .filter(|u| u.connection == connection)
            .map(|u| u.packet_id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_in_arrival_order_and_only_for_the_current_connection() {
        let acker = Acker::new(Arc::new(Metrics::new(1)));
        acker.connected();
        let tokens: Vec<_> = [11, 12, 13]
            .into_iter()
            .map(|p| acker.register(p))
            .collect();
        acker.complete([tokens[2]]);
        assert_eq!(acker.take(), [] as [u16; 0], "13 waits for 11 and 12");
        acker.complete([tokens[0]]);
        assert_eq!(acker.take(), [11]);
        acker.complete([tokens[1]]);
        assert_eq!(acker.take(), [12, 13]);
        assert_eq!(acker.take(), [] as [u16; 0], "each ack is taken once");

        // A message from a lost connection is never acked: its packet id may now be another's.
        let old = acker.register(14);
        acker.connected();
        let new = acker.register(14);
        acker.complete([new, old]);
        assert_eq!(acker.take(), [14]);

        // Released before the loss was noticed and not yet taken: dropped too.
        let before = acker.register(15);
        acker.complete([before]);
        acker.connected();
        assert_eq!(acker.take(), [] as [u16; 0]);
    }

    #[tokio::test]
    async fn a_release_wakes_the_session_even_if_it_was_not_waiting_yet() {
        let acker = Acker::new(Arc::new(Metrics::new(1)));
        acker.connected();
        let token = acker.register(1);
        acker.complete([token]);
        tokio::time::timeout(std::time::Duration::from_secs(5), acker.wait())
            .await
            .expect("woken by the release before the wait");
        assert_eq!(acker.take(), [1]);
    }
}
