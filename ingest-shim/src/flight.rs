//! Alarm events between their PUBLISH and their confirmation in PostgreSQL: which packet id
//! carries which event, which events the broker has acknowledged, and which ones a fetch from
//! the outbox may skip (`after_event`).
//!
//! rumqttc gives a QoS 1 PUBLISH its packet id when it writes it out, and reports that
//! (`Outgoing::Publish(pkid)`) in the order the PUBLISHes were requested, so the n-th report
//! is the n-th event requested. A packet id is used again only after its PUBACK. Packet ids mean
//! something only within one connection: when it is lost, the events not acknowledged on it are
//! forgotten here, and so published again on the next.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Flight {
    /// Handed to the MQTT client, not yet written out, in request order.
    queued: VecDeque<i64>,
    /// Written out under this packet id, awaiting the PUBACK.
    sent: HashMap<u16, i64>,
    /// Acknowledged by the broker, to be confirmed in PostgreSQL.
    acked: Vec<i64>,
    /// Refused by the broker (an MQTT 5 reason code): held back until the next rewind.
    refused: Vec<i64>,
    /// Every event in one of the above, with when it was handed to the client.
    since: HashMap<i64, Instant>,
    /// Every event in the outbox up to this id was, at the last fetch, in flight or confirmed.
    after: i64,
}

impl Flight {
    pub fn published(&mut self, event: i64, at: Instant) {
        self.queued.push_back(event);
        self.since.insert(event, at);
    }

    /// The client wrote the next PUBLISH out with this packet id.
    pub fn written(&mut self, pkid: u16) {
        if let Some(event) = self.queued.pop_front() {
            self.sent.insert(pkid, event);
        }
    }

    /// A PUBACK: the event to confirm.
    pub fn acked(&mut self, pkid: u16) {
        self.acked.extend(self.sent.remove(&pkid));
    }

    /// A PUBACK that refuses the message: the event, which the next rewind lets go again.
    pub fn refused(&mut self, pkid: u16) -> Option<i64> {
        let event = self.sent.remove(&pkid)?;
        self.refused.push(event);
        Some(event)
    }

    /// Acknowledged, not yet confirmed.
    pub fn to_confirm(&self) -> &[i64] {
        &self.acked
    }

    /// Those have been confirmed: how long each took from its PUBLISH.
    pub fn confirmed(&mut self, now: Instant) -> Vec<Duration> {
        let since = &mut self.since;
        let events = self.acked.drain(..).filter_map(|e| since.remove(&e));
        events.map(|at| now.saturating_duration_since(at)).collect()
    }

    /// The connection is lost: what was not acknowledged on it goes out again on the next.
    pub fn lost(&mut self) {
        let sent = self.sent.drain().map(|(_, event)| event);
        for event in self.queued.drain(..).chain(sent) {
            self.since.remove(&event);
        }
        self.rewind();
    }

    /// The next fetch starts from the first event in the outbox (the poll, a new connection):
    /// for events committed after ones with higher ids, and for refused ones.
    pub fn rewind(&mut self) {
        for event in self.refused.drain(..) {
            self.since.remove(&event);
        }
        self.after = 0;
    }

    /// A fetch from `after()` of at most `limit` events returned `rows` (event id, critical) in
    /// its order, critical ones first and then by id, and every new one has been published.
    pub fn fetched(&mut self, rows: &[(i64, bool)], limit: usize) {
        let seen = if rows.len() < limit {
            // Every event after `after` was returned.
            rows.iter().map(|r| r.0).max()
        } else {
            // All critical ones, and the others up to the last; none, if all were critical.
            rows.last().filter(|r| !r.1).map(|r| r.0)
        };
        self.after = self.after.max(seen.unwrap_or(0));
    }

    pub fn after(&self) -> i64 {
        self.after
    }

    pub fn contains(&self, event: i64) -> bool {
        self.since.contains_key(&event)
    }

    pub fn len(&self) -> usize {
        self.since.len()
    }

    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(flight: &mut Flight, events: &[i64]) {
        events
            .iter()
            .for_each(|&e| flight.published(e, Instant::now()));
    }

    #[test]
    fn packet_ids_map_to_events_in_request_order_and_acks_in_any_order() {
        let mut flight = Flight::default();
        publish(&mut flight, &[10, 7, 12]);
        flight.written(1);
        flight.written(2);
        flight.acked(2);
        assert_eq!(
            flight.to_confirm(),
            [7],
            "packet id 2 carried the second event requested"
        );
        flight.written(3);
        flight.acked(1);
        flight.acked(1); // a repeated PUBACK confirms nothing more
        flight.acked(9); // nor one for a packet id not in flight
        assert_eq!(flight.to_confirm(), [7, 10]);
        assert_eq!((flight.len(), flight.contains(12)), (3, true));
        assert_eq!(flight.confirmed(Instant::now()).len(), 2);
        assert_eq!((flight.len(), flight.contains(7)), (1, false));
        flight.acked(3);
        flight.confirmed(Instant::now());
        assert!(flight.is_empty());
    }

    #[test]
    fn a_lost_connection_forgets_what_it_had_not_acknowledged() {
        let mut flight = Flight::default();
        publish(&mut flight, &[1, 2, 3, 4]);
        flight.written(1);
        flight.written(2);
        flight.written(3);
        flight.acked(1);
        flight.fetched(&[(1, false), (2, false), (3, false), (4, false)], 100);
        assert_eq!(flight.after(), 4);
        flight.lost();
        // 1 is acknowledged and still to be confirmed; 2 and 3 (sent) and 4 (queued) go again.
        assert_eq!(
            (flight.to_confirm(), flight.len(), flight.after()),
            (&[1][..], 1, 0)
        );
        assert!(!flight.contains(2) && !flight.contains(4));
        // The next connection's packet ids start again; they map to what is published now.
        publish(&mut flight, &[2]);
        flight.written(1);
        flight.acked(1);
        assert_eq!(flight.to_confirm(), [1, 2]);
    }

    #[test]
    fn refused_events_are_held_back_until_the_rewind() {
        let mut flight = Flight::default();
        publish(&mut flight, &[5]);
        flight.written(1);
        assert_eq!(flight.refused(1), Some(5));
        assert_eq!(flight.refused(1), None);
        assert!(flight.contains(5) && flight.to_confirm().is_empty());
        flight.rewind();
        assert!(!flight.contains(5));
    }

    #[test]
    fn fetches_skip_only_what_every_earlier_fetch_returned() {
        let mut flight = Flight::default();
        // Fewer than asked for: everything after 0 was returned.
        flight.fetched(&[(9, true), (3, false), (4, false)], 3 + 1);
        assert_eq!(flight.after(), 9);
        // A full batch ending in a non-critical event: up to it.
        let mut flight = Flight::default();
        flight.fetched(&[(90, true), (3, false), (4, false)], 3);
        assert_eq!(
            flight.after(),
            4,
            "non-critical events after 4 were not returned"
        );
        // A full batch of critical events says nothing about the others.
        flight.fetched(&[(91, true), (92, true)], 2);
        assert_eq!(flight.after(), 4);
        flight.fetched(&[], 2);
        assert_eq!(flight.after(), 4);
        flight.rewind();
        assert_eq!(flight.after(), 0);
    }
}
