//! A batch of raw messages and what the pipeline decides about them: the readings to store,
//! the dead letters, the counts. Plain data, so that the decisions can be tested without a
//! cluster; the extension's ingest stages do the I/O.

use rustc_hash::FxHashMap;

use crate::names::Name;
use crate::time;

/// One raw message as it arrived.
#[derive(Default)]
pub struct Message {
    /// Unix microseconds; `None` when the client gave an infinite time.
    pub received_at: Option<i64>,
    pub topic: String,
    pub payload: Vec<u8>,
    /// The size the message had when the client cut its payload; `None` when it did not.
    pub payload_bytes: Option<i32>,
    pub broker: Broker,
}

/// What the broker said of a message, when the client passes it on; kept with dead letters.
#[derive(Default, Clone, Copy)]
pub struct Broker {
    pub packet_id: Option<i32>,
    pub retained: Option<bool>,
    pub redelivered: Option<bool>,
}

impl Message {
    pub fn size(&self) -> usize {
        self.payload_bytes
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .max(self.payload.len())
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub messages: i32,
    pub readings: i32,
    pub duplicates: i32,
    pub conflicting_duplicates: i32,
    pub dead_letters: i32,
    pub series_created: i32,
    /// Alarm transitions the batch's readings caused.
    pub alarm_events: i32,
    pub reasons: std::collections::BTreeMap<&'static str, i32>,
    /// Source times (Unix µs) of the oldest and newest reading stored, for a client's
    /// source-to-commit latency.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// Sparkplug edge nodes, as `group/edge_node`, to ask for a rebirth: their data named an
    /// alias no birth declared.
    pub rebirths: std::collections::BTreeSet<String>,
}

impl Counts {
    /// Add the counts of another part of the same batch.
    pub fn absorb(&mut self, other: Counts) {
        self.messages += other.messages;
        self.readings += other.readings;
        self.duplicates += other.duplicates;
        self.conflicting_duplicates += other.conflicting_duplicates;
        self.dead_letters += other.dead_letters;
        self.series_created += other.series_created;
        self.alarm_events += other.alarm_events;
        for (reason, n) in other.reasons {
            *self.reasons.entry(reason).or_default() += n;
        }
        self.oldest = self.oldest.into_iter().chain(other.oldest).min();
        self.newest = self.newest.into_iter().chain(other.newest).max();
        self.rebirths.extend(other.rebirths);
    }
}

/// A series is (site, asset, sensor, metric); readings carry its small integer id.
pub type SeriesKey = (Name, Name, Name, Name);

/// A message or reading the pipeline did not store, and why.
pub struct DeadLetter {
    /// Index of the message in its batch.
    pub message: usize,
    pub reason: &'static str,
    pub detail: String,
}

/// A reading ready to store, in its metric's canonical unit.
pub struct Clean {
    pub message: usize,
    pub key: SeriesKey,
    pub time: i64,
    pub value: f64,
    pub quality: f32,
    pub flags: i32,
    pub source_quality: i16,
    pub event_id: Option<Name>,
}

/// The readings to insert: within the batch the first reading of a (series, time) wins, as in
/// the table; repeats are duplicates or conflicts, unknown series dead letters.
pub fn first_of_each_key(
    cleaned: &[Clean],
    series: &[Option<i32>],
    dead: &mut Vec<DeadLetter>,
    counts: &mut Counts,
) -> Vec<usize> {
    let mut first: FxHashMap<(i32, i64), usize> =
        FxHashMap::with_capacity_and_hasher(cleaned.len(), Default::default());
    let mut rows: Vec<usize> = Vec::with_capacity(cleaned.len());
    for (i, c) in cleaned.iter().enumerate() {
        let Some(id) = series[i] else {
            dead.push(DeadLetter {
                message: c.message,
                reason: "unknown_series",
                detail: format!(
                    "series {}/{}/{}/{} is not registered and telemetry.auto_register_series is off",
                    c.key.0, c.key.1, c.key.2, c.key.3
                ),
            });
            continue;
        };
        match first.get(&(id, c.time)) {
            Some(&j) if cleaned[j].value.to_bits() == c.value.to_bits() => counts.duplicates += 1,
            Some(&j) => conflict(dead, counts, c, cleaned[j].value),
            None => {
                first.insert((id, c.time), i);
                rows.push(i);
            }
        }
    }
    rows
}

/// A reading whose series and time were stored (or came earlier) with another value.
pub fn conflict(dead: &mut Vec<DeadLetter>, counts: &mut Counts, c: &Clean, stored: f64) {
    counts.conflicting_duplicates += 1;
    dead.push(DeadLetter {
        message: c.message,
        reason: "conflicting_duplicate",
        detail: format!(
            "{}/{}/{}/{} at {}: stored {stored}, received {}",
            c.key.0,
            c.key.1,
            c.key.2,
            c.key.3,
            time::show(c.time),
            c.value
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(message: usize, time: i64, value: f64) -> Clean {
        let n = Name::from;
        Clean {
            message,
            key: (n("s"), n("a"), n(""), n("pressure")),
            time,
            value,
            quality: 1.0,
            flags: 0,
            source_quality: 0,
            event_id: None,
        }
    }

    #[test]
    fn within_a_batch_the_first_reading_of_a_key_wins() {
        let cleaned = [
            reading(0, 1, 3.0),
            reading(1, 1, 3.0),
            reading(2, 1, 4.0),
            reading(3, 2, 5.0),
            reading(4, 2, 5.0),
        ];
        let series = [Some(7), Some(7), Some(7), Some(7), None];
        let (mut dead, mut counts) = (Vec::new(), Counts::default());
        let rows = first_of_each_key(&cleaned, &series, &mut dead, &mut counts);
        assert_eq!(rows, [0, 3]);
        assert_eq!((counts.duplicates, counts.conflicting_duplicates), (1, 1));
        let reasons: Vec<_> = dead.iter().map(|d| (d.message, d.reason)).collect();
        assert_eq!(
            reasons,
            [(2, "conflicting_duplicate"), (4, "unknown_series")]
        );
        assert!(
            dead[0].detail.contains("stored 3, received 4"),
            "{}",
            dead[0].detail
        );
    }

    #[test]
    fn parts_of_a_batch_add_up() {
        let mut a = Counts {
            messages: 2,
            readings: 1,
            oldest: Some(5),
            newest: Some(9),
            reasons: [("bad_json", 1)].into_iter().collect(),
            ..Counts::default()
        };
        a.absorb(Counts {
            messages: 1,
            dead_letters: 1,
            oldest: Some(3),
            reasons: [("bad_json", 1), ("no_route", 1)].into_iter().collect(),
            ..Counts::default()
        });
        assert_eq!((a.messages, a.readings, a.dead_letters), (3, 1, 1));
        assert_eq!((a.oldest, a.newest), (Some(3), Some(9)));
        assert_eq!(a.reasons.get("bad_json"), Some(&2));
    }
}
