//! The committed prefix: entries are completed in any order (each writer commits its own
//! batches) but released only in the order they were added, once they and every earlier one
//! are complete. The acknowledger releases PUBACKs this way, the spool its segments.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard};

/// An entry's place in a `Prefix<T>`, typed by the entry so that the acknowledger's tokens
/// cannot be completed in the spool's prefix, or the other way round.
#[derive(Clone, Copy)]
pub struct Token<T> {
    index: u64,
    kind: PhantomData<T>,
}

pub struct Prefix<T> {
    /// Index of the first entry in `entries`; the ones before it have been released.
    front: u64,
    /// Each entry with whether it is complete.
    entries: VecDeque<(T, bool)>,
}

impl<T> Prefix<T> {
    /// Empty, its first entry to get index `front` (the spool goes on from its last run).
    pub fn starting_at(front: u64) -> Prefix<T> {
        Prefix {
            front,
            entries: VecDeque::new(),
        }
    }

    pub fn push(&mut self, entry: T) -> Token<T> {
        let index = self.end();
        self.entries.push_back((entry, false));
        Token {
            index,
            kind: PhantomData,
        }
    }

    /// Entries added and not yet released.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Index of the next entry to be released.
    pub fn front(&self) -> u64 {
        self.front
    }

    /// Index of the next entry to be pushed.
    pub fn end(&self) -> u64 {
        self.front + self.entries.len() as u64
    }

    /// Marks the tokens' entries complete, then hands the complete prefix to `release`, in
    /// order. A token already released (a message committed twice) is ignored.
    pub fn complete(
        &mut self,
        tokens: impl IntoIterator<Item = Token<T>>,
        mut release: impl FnMut(T),
    ) {
        for token in tokens {
            let index = token.index.wrapping_sub(self.front) as usize;
            if let Some(entry) = self.entries.get_mut(index) {
                entry.1 = true;
            }
        }
        while let Some((entry, _)) = self.entries.pop_front_if(|e| e.1) {
            self.front += 1;
            release(entry);
        }
    }
}

/// Locks a prefix's owner (the acknowledger, the spool). A panic elsewhere while holding the
/// lock leaves consistent state: every update there is a single push, flag or pop.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<T> Token<T> {
        pub(crate) fn index(self) -> u64 {
            self.index
        }
    }

    #[test]
    fn completes_out_of_order_and_releases_in_order() {
        let mut prefix = Prefix::starting_at(5);
        let tokens: Vec<Token<char>> = ['a', 'b', 'c'].map(|c| prefix.push(c)).to_vec();
        assert_eq!(tokens[0].index(), 5);
        let mut released = Vec::new();
        prefix.complete([tokens[2]], |c| released.push(c));
        assert!(released.is_empty(), "c waits for a and b");
        prefix.complete([tokens[0]], |c| released.push(c));
        assert_eq!(released, ['a']);
        prefix.complete([tokens[1], tokens[1], tokens[0]], |c| released.push(c));
        assert_eq!(released, ['a', 'b', 'c']);
        assert!(prefix.is_empty() && prefix.front() == 8 && prefix.end() == 8);
    }
}
