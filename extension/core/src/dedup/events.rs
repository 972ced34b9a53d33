//! The record of recent payload event ids, kept in generations.
//!
//! Generation `g` of a window of `w` seconds is the stretch of Unix time from `g * w` to
//! `(g + 1) * w`. A batch records the event ids it sees first in its own generation and looks
//! them up in that one and the one before, so an id is remembered for at least the window and
//! at most twice it. Older generations are never deleted row by row: the record keeps
//! [`SLOTS`] tables used in turn (generation mod 3), the current one, the previous one (looked
//! up) and the one before that, whose ids have all expired and which is emptied whole
//! (truncated) while the current generation lasts, ready for the next.
//!
//! A batch and one of the next generation, racing on the same new id, record it in two
//! tables, and neither sees the other's row before it commits. So batches of neighbouring
//! generations never run at the same time: each holds a lock on the record ([`lock_mode`])
//! that the batches of its own generation share and those of the next and the previous one
//! wait for. Within a generation, the primary key of its table arbitrates.

use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;

/// Tables the generations take in turn: the current one, the previous one, and the expired one
/// being emptied for the next.
pub const SLOTS: i64 = 3;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// The generation of a moment (Unix microseconds) for a window of `window_secs` (at least 1;
/// 0 turns the record off before it gets here).
pub fn generation(unix_micros: i64, window_secs: i32) -> i64 {
    unix_micros.div_euclid(i64::from(window_secs.max(1)) * MICROS_PER_SECOND)
}

/// The table (0, 1 or 2) that holds a generation's record.
pub fn slot(generation: i64) -> i64 {
    generation.rem_euclid(SLOTS)
}

/// The generations a batch of `generation` looks its ids up in: its own and the one before.
pub fn looked_up(generation: i64) -> [i64; 2] {
    [generation, generation - 1]
}

/// The table a batch of `generation` may empty: the one the next generation will use, which
/// holds only expired ids unless a batch of the next generation has written to it already.
/// `oldest_kept` is the oldest generation whose rows forbid emptying it.
pub fn expiring(generation: i64) -> (i64, i64) {
    (slot(generation + 1), generation - 1)
}

/// The lock a batch of `generation` holds on the record (the partitioned table itself, not
/// its partitions) until it commits. SHARE and ROW EXCLUSIVE are each compatible with
/// themselves and conflict with each other, and neighbouring generations alternate between
/// them.
pub fn lock_mode(generation: i64) -> &'static str {
    if generation.rem_euclid(2) == 0 {
        "SHARE"
    } else {
        "ROW EXCLUSIVE"
    }
}

/// The generation a batch works in, and its lock: the clock's generation, locked; if the clock
/// has moved into another generation while the lock was awaited (a batch of the next one held
/// it), that one is locked too and taken. A batch of the next generation that ran meanwhile has
/// committed, so nothing it recorded escapes the lookup. Returns the generation settled on.
pub fn settle<E>(
    window_secs: i32,
    mut clock: impl FnMut() -> i64,
    mut lock: impl FnMut(&'static str) -> Result<(), E>,
) -> Result<i64, E> {
    let mut held: Vec<&'static str> = Vec::with_capacity(2);
    let mut current = generation(clock(), window_secs);
    loop {
        let mode = lock_mode(current);
        if !held.contains(&mode) {
            lock(mode)?;
            held.push(mode);
        }
        let now = generation(clock(), window_secs);
        if now == current {
            return Ok(current);
        }
        current = now;
    }
}

/// A batch's event ids to look up, and the readings that repeat one earlier in the batch.
#[derive(Debug, PartialEq, Eq)]
pub struct Lookup<'a> {
    /// Each (series, event id) once, with the position of its first reading, in one global
    /// order (series, then the id's bytes, which is the order of collation "C"): batches that
    /// record the same ids then wait for each other instead of deadlocking.
    pub keys: Vec<(i32, &'a str, usize)>,
    /// The readings whose (series, event id) came earlier in the batch, in batch order.
    pub repeats: Vec<usize>,
}

/// Sort a batch's (reading position, series, event id) into the ids to look up and the
/// readings that repeat an earlier one: within the batch the first occurrence is the new one.
pub fn lookup<'a>(readings: impl IntoIterator<Item = (usize, i32, &'a str)>) -> Lookup<'a> {
    let mut first: FxHashMap<(i32, &'a str), usize> = FxHashMap::default();
    let mut repeats = Vec::new();
    for (i, series, event) in readings {
        match first.entry((series, event)) {
            Entry::Occupied(_) => repeats.push(i),
            Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    let mut keys: Vec<(i32, &str, usize)> =
        first.into_iter().map(|((s, e), i)| (s, e, i)).collect();
    keys.sort_unstable();
    Lookup { keys, repeats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const S: i64 = MICROS_PER_SECOND;

    #[test]
    fn generations_are_window_long_stretches_of_unix_time() {
        assert_eq!(generation(0, 3600), 0);
        assert_eq!(generation(3600 * S - 1, 3600), 0);
        assert_eq!(generation(3600 * S, 3600), 1);
        assert_eq!(generation(1_748_779_200 * S, 3600), 485_772);
        // The largest window does not overflow.
        assert_eq!(
            generation(i64::MAX, i32::MAX),
            i64::MAX / (i64::from(i32::MAX) * S)
        );
    }

    #[test]
    fn an_id_is_remembered_for_at_least_the_window_and_at_most_twice_it() {
        let w = 10;
        // Seen as new at `seen`, looked up at `later`: found while the later batch's lookup
        // includes the generation it was recorded in.
        let found =
            |seen: i64, later: i64| looked_up(generation(later, w)).contains(&generation(seen, w));
        for seen in (0..30 * S).step_by(250_000) {
            for age in (0..25 * S).step_by(250_000) {
                let later = seen + age;
                if age < 10 * S {
                    assert!(found(seen, later), "seen {seen}, {age} µs later");
                }
                if age >= 20 * S {
                    assert!(!found(seen, later), "seen {seen}, {age} µs later");
                }
            }
        }
    }

    #[test]
    fn three_tables_in_turn_and_the_expiring_one_is_neither_looked_up_nor_current() {
        for g in 0..12 {
            let (expiring_slot, oldest_kept) = expiring(g);
            let in_use: Vec<i64> = looked_up(g).iter().map(|&l| slot(l)).collect();
            assert!(!in_use.contains(&expiring_slot), "generation {g}");
            // Of the generations that table can hold, only the next one (written after the
            // clock moved on) is kept; the others have expired.
            for held in (g - 8..=g + 1).filter(|&h| slot(h) == expiring_slot) {
                assert_eq!(
                    held >= oldest_kept,
                    held == g + 1,
                    "generation {g}, held {held}"
                );
            }
        }
        assert_eq!((slot(0), slot(1), slot(2), slot(3)), (0, 1, 2, 0));
    }

    #[test]
    fn neighbouring_generations_take_conflicting_locks() {
        for g in 0..10 {
            assert_ne!(lock_mode(g), lock_mode(g + 1));
            assert_eq!(lock_mode(g), lock_mode(g + 2));
        }
    }

    #[test]
    fn settle_locks_once_when_the_clock_stays_in_its_generation() {
        let locks = RefCell::new(Vec::new());
        let g = settle::<()>(
            10,
            || 25 * S,
            |m| {
                locks.borrow_mut().push(m);
                Ok(())
            },
        );
        assert_eq!(g, Ok(2));
        assert_eq!(*locks.borrow(), vec!["SHARE"]);
    }

    #[test]
    fn settle_takes_the_next_generation_when_the_clock_moves_on_during_the_wait() {
        // The lock of generation 1 was awaited until generation 2 began (a batch of 2 held it).
        let times = RefCell::new(vec![19 * S, 20 * S, 20 * S].into_iter());
        let locks = RefCell::new(Vec::new());
        let g = settle::<()>(
            10,
            || times.borrow_mut().next().unwrap_or(i64::MAX),
            |m| {
                locks.borrow_mut().push(m);
                Ok(())
            },
        );
        assert_eq!(g, Ok(2));
        assert_eq!(*locks.borrow(), vec!["ROW EXCLUSIVE", "SHARE"]);
    }

    #[test]
    fn settle_passes_a_failed_lock_on() {
        assert_eq!(settle(10, || 0, |_| Err("busy")), Err("busy"));
    }

    #[test]
    fn lookup_keeps_the_first_of_each_id_in_one_global_order() {
        let readings = [
            (0, 7, "b"),
            (1, 3, "z"),
            (2, 7, "b"),
            (3, 7, "B"),
            (4, 3, "z"),
            (5, 7, "a\u{e9}"),
            (6, 7, "ab"),
        ];
        let l = lookup(readings);
        assert_eq!(
            l.keys,
            vec![
                (3, "z", 1),
                (7, "B", 3),
                (7, "ab", 6),
                (7, "a\u{e9}", 5),
                (7, "b", 0)
            ]
        );
        assert_eq!(l.repeats, vec![2, 4]);
        assert_eq!(
            lookup([]),
            Lookup {
                keys: vec![],
                repeats: vec![]
            }
        );
    }
}
