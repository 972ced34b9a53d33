//! Poison messages: which failures a batch's messages can cause (by SQLSTATE), and the split
//! that finds the guilty ones. A batch that fails on its data is rolled back and committed in
//! halves, recursively, so the good messages commit and k bad ones among n are found in
//! O(k log n) attempts; a single message that still fails goes to the local dead-letter file.

use std::ops::Range;

use crate::error::CopyError;

/// SQLSTATEs, or classes of two characters, that say nothing about the messages: the
/// connection, the server or its resources failed, or the database is not ready for the
/// pipeline. Every other SQLSTATE is a data error. The README documents this list.
const TRANSIENT: [&str; 21] = [
    "08",    // connection exception
    "25006", // read-only transaction: connected to a standby, e.g. after a failover
    "25P03", // idle-in-transaction timeout: the server ended the session
    "40001", // serialization failure
    "40003", // statement completion unknown
    "40P01", // deadlock detected
    "53",    // insufficient resources: disk full, out of memory, too many connections
    "55000", // object not in prerequisite state: the extension's "run ALTER EXTENSION UPDATE"
    "55006", // object in use
    "55P03", // lock not available
    "57000", // operator intervention
    "57P01", // admin shutdown
    "57P02", // crash shutdown
    "57P03", // cannot connect now
    "57P04", // database dropped
    "57P05", // idle session timeout
    "58",    // system error: I/O, a missing file such as the extension's library
    "72000", // snapshot too old
    "F0",    // configuration file error
    "XX001", // data corrupted (storage, not a message)
    "XX002", // index corrupted
];

/// Whether a SQLSTATE (always five characters) is one the messages cannot have caused.
pub fn transient(sqlstate: &str) -> bool {
    TRANSIENT.iter().any(|t| sqlstate.starts_with(t))
}

/// Why an attempt failed, and so what to do about it.
pub enum Failure {
    /// No SQLSTATE (I/O, a closed connection, a timeout, connecting) or a transient one: drop
    /// the connection, back off, retry the same messages.
    Transient(CopyError),
    /// The server refused these messages: roll back and split.
    Data(DataError),
}

pub struct DataError {
    pub sqlstate: String,
    /// The server's message.
    pub message: String,
    pub error: CopyError,
}

impl Failure {
    pub fn into_error(self) -> CopyError {
        match self {
            Failure::Transient(error) | Failure::Data(DataError { error, .. }) => error,
        }
    }

    /// Classifies an error of a batch's transaction (not of connecting, which is transient).
    pub fn of(error: CopyError) -> Failure {
        let CopyError::Postgres(e) = &error else {
            return Failure::Transient(error);
        };
        match (e.code(), e.as_db_error()) {
            (Some(code), Some(db)) if !transient(code.code()) => Failure::Data(DataError {
                sqlstate: code.code().to_owned(),
                message: db.message().to_owned(),
                error,
            }),
            _ => Failure::Transient(error),
        }
    }
}

/// The parts of a batch still to commit, as index ranges, the next one last. Parts go in
/// arrival order, so a topic's messages still commit in order.
pub struct Parts(Vec<Range<usize>>);

impl Parts {
    /// One part, the whole batch; none for an empty one.
    pub fn new(messages: usize) -> Parts {
        Parts((messages > 0).then_some(0..messages).into_iter().collect())
    }

    pub fn next(&self) -> Option<Range<usize>> {
        self.0.last().cloned()
    }

    /// The next part is committed or dead-lettered.
    pub fn done(&mut self) {
        self.0.pop();
    }

    /// Replaces the next part by its halves; false when it is a single message.
    pub fn split(&mut self) -> bool {
        let Some(part) = self.0.pop_if(|part| part.len() >= 2) else {
            return false;
        };
        let middle = part.start + part.len() / 2;
        self.0.extend([middle..part.end, part.start..middle]);
        true
    }

    /// Messages not yet committed or dead-lettered.
    pub fn remaining(&self) -> usize {
        self.0.iter().map(|r| r.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_sqlstate() {
        for code in [
            "08006", "08P01", "25006", "25P03", "40001", "40P01", "53100", "53200", "53300",
            "55000", "55P03", "57P01", "57P02", "57P03", "58030", "58P01", "XX001",
        ] {
            assert!(transient(code), "{code} is transient");
        }
        // Data: bad values, constraints (also at COMMIT from a deferred trigger), names and
        // privileges, program limits (nesting), internal errors (a panic), RAISE EXCEPTION,
        // and a statement timeout, which smaller parts may well avoid.
        for code in [
            "22021", "22P02", "22008", "23505", "23514", "42501", "42883", "54001", "XX000",
            "P0001", "57014", "40002", "0A000",
        ] {
            assert!(!transient(code), "{code} is a data error");
        }
    }

    /// Commits every part that holds no bad message, as a server would. Returns the committed
    /// parts, the dead-lettered messages, the number of attempts, and every message in the order
    /// it was committed or dead-lettered.
    fn run(n: usize, bad: &[usize]) -> (Vec<Range<usize>>, Vec<usize>, usize, Vec<usize>) {
        let mut parts = Parts::new(n);
        let (mut committed, mut dead, mut attempts, mut order) = (vec![], vec![], 0, vec![]);
        while let Some(part) = parts.next() {
            attempts += 1;
            if !bad.iter().any(|b| part.contains(b)) {
                order.extend(part.clone());
                committed.push(part);
                parts.done();
            } else if !parts.split() {
                order.push(part.start);
                dead.push(part.start);
                parts.done();
            }
            assert_eq!(parts.remaining() + order.len(), n);
        }
        (committed, dead, attempts, order)
    }

    #[test]
    fn a_batch_without_bad_messages_is_one_attempt() {
        let (committed, dead, attempts, _) = run(5000, &[]);
        assert_eq!((committed.first(), committed.len()), (Some(&(0..5000)), 1));
        assert_eq!((dead.len(), attempts), (0, 1));
        assert_eq!(run(0, &[]).2, 0);
    }

    #[test]
    fn split_finds_the_bad_messages_in_k_log_n_attempts_and_keeps_the_order() {
        for (n, bad) in [
            (1, vec![0]),
            (2, vec![1]),
            (5000, vec![0]),
            (5000, vec![4999]),
            (5000, vec![17, 18, 2500, 4000]),
            (4096, (0..4096).step_by(512).collect()),
            (7, (0..7).collect()),
        ] {
            let (committed, dead, attempts, order) = run(n, &bad);
            assert_eq!(dead, bad, "n={n}: exactly the bad ones");
            assert!(committed.iter().all(|r| !bad.iter().any(|b| r.contains(b))));
            // Every message once, committed or dead-lettered in arrival order.
            assert_eq!(order, (0..n).collect::<Vec<_>>(), "n={n}");
            let log = (n as f64).log2().ceil() as usize;
            assert!(
                attempts <= 1 + 2 * bad.len() * log.max(1),
                "n={n}, k={}: {attempts} attempts",
                bad.len()
            );
        }
    }
}
