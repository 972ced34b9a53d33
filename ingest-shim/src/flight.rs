//! Alarm events between their PUBLISH and their confirmation in PostgreSQL, by packet id (the
//! outbox gives each event its own): published and awaiting the broker's PUBREC; received, to
//! be recorded before the release; released and awaiting the PUBCOMP; delivered, to be
//! confirmed. Also which events a fetch from the outbox may skip (`after_event`).
//!
//! What is in flight on a lost connection is forgotten here and fetched again: an event the
//! outbox shows as received is then only released again, any other is published again under
//! its packet id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Flight {
    /// Published, awaiting the PUBREC.
    published: HashMap<u16, i64>,
    /// Received by the broker, to be recorded in PostgreSQL before the PUBREL.
    received: Vec<(u16, i64)>,
    /// Recorded and released, awaiting the PUBCOMP.
    released: HashMap<u16, i64>,
    /// Delivered, to be confirmed in PostgreSQL.
    completed: Vec<i64>,
    /// Every event in one of the above, with when it was first handed to the connection.
    since: HashMap<i64, Instant>,
    /// Every event in the outbox up to this id was, at the last fetch, in flight or confirmed.
    after: i64,
}

impl Flight {
    pub fn published(&mut self, pkid: u16, event: i64, at: Instant) {
        self.published.insert(pkid, event);
        self.since.insert(event, at);
    }

    /// A PUBREC.
    pub fn received(&mut self, pkid: u16) {
        self.received.extend(self.published.remove_entry(&pkid));
    }

    /// Received, to be recorded (then each is `releasing`).
    pub fn take_received(&mut self) -> Vec<(u16, i64)> {
        std::mem::take(&mut self.received)
    }

    /// Its PUBREL is being sent.
    pub fn releasing(&mut self, pkid: u16, event: i64) {
        self.released.insert(pkid, event);
        self.since.entry(event).or_insert_with(Instant::now);
    }

    /// A PUBCOMP.
    pub fn completed(&mut self, pkid: u16) {
        self.completed.extend(self.released.remove(&pkid));
    }

    /// Delivered, not yet confirmed.
    pub fn to_confirm(&self) -> &[i64] {
        &self.completed
    }

    /// Those have been confirmed: how long each took from its PUBLISH.
    pub fn confirmed(&mut self, now: Instant) -> Vec<Duration> {
        let since = &mut self.since;
        let events = self.completed.drain(..).filter_map(|e| since.remove(&e));
        events.map(|at| now.saturating_duration_since(at)).collect()
    }

    /// The connection is lost: what was not delivered on it goes out again on the next.
    pub fn lost(&mut self) {
        let published = self.published.drain().map(|(_, event)| event);
        let released = self.released.drain().map(|(_, event)| event);
        let received = self.received.drain(..).map(|(_, event)| event);
        for event in published
            .chain(released)
            .chain(received)
            .collect::<Vec<_>>()
        {
            self.since.remove(&event);
        }
        self.rewind();
    }

    /// The next fetch starts from the first event in the outbox (the poll, a new connection),
    /// for events committed after ones with higher ids.
    pub fn rewind(&mut self) {
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

    #[test]
    fn published_received_recorded_released_delivered_confirmed() {
        let mut flight = Flight::default();
        flight.published(11, 10, Instant::now());
        flight.published(8, 7, Instant::now());
        flight.received(8);
        flight.received(8); // a repeated PUBREC records nothing more
        flight.received(99); // nor one for a packet id not in flight
        assert_eq!(flight.take_received(), [(8, 7)]);
        assert!(flight.take_received().is_empty(), "taken once");
        flight.releasing(8, 7);
        assert!(
            flight.to_confirm().is_empty(),
            "released is not yet delivered"
        );
        flight.completed(8);
        flight.completed(11); // a PUBCOMP before any PUBREL completes nothing
        assert_eq!(flight.to_confirm(), [7]);
        assert_eq!((flight.len(), flight.contains(10)), (2, true));
        assert_eq!(flight.confirmed(Instant::now()).len(), 1);
        assert_eq!((flight.len(), flight.contains(7)), (1, false));
    }

    #[test]
    fn a_lost_connection_forgets_what_it_had_not_delivered() {
        let mut flight = Flight::default();
        for (pkid, event) in [(2, 1), (3, 2), (4, 3), (5, 4)] {
            flight.published(pkid, event, Instant::now());
        }
        flight.received(2);
        flight.received(3);
        let recorded = flight.take_received();
        assert_eq!(recorded.len(), 2);
        recorded
            .into_iter()
            .for_each(|(p, e)| flight.releasing(p, e));
        flight.completed(2);
        flight.received(4);
        flight.fetched(&[(1, false), (2, false), (3, false), (4, false)], 100);
        assert_eq!(flight.after(), 4);
        flight.lost();
        // 1 is delivered and still to be confirmed; 2 (released), 3 (received, not recorded)
        // and 4 (published) are fetched again.
        assert_eq!(
            (flight.to_confirm(), flight.len(), flight.after()),
            (&[1][..], 1, 0)
        );
        assert!(!flight.contains(2) && !flight.contains(3) && !flight.contains(4));
        assert!(flight.take_received().is_empty());
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
