//! `telemetry.rollup_watermark(tier)`: how far a tier is materialized, which the views
//! `telemetry.rollup_<tier>` read once per series. A SQL function would start an executor on
//! every call; this one reads `telemetry.rollup_watermarks` once per snapshot and answers the
//! other calls under the same snapshot from memory.

use std::cell::RefCell;

use pgrx::prelude::*;

use crate::errors::internal;

/// What decides which rows a snapshot sees: its transaction and command, and which
/// transactions it takes as running. Two snapshots alike in all of it see the same rows.
/// (PostgreSQL's own completion counter is zeroed in the copies that queries run under.)
struct SnapshotKey {
    lxid: u32,
    curcid: u32,
    xmin: pg_sys::TransactionId,
    xmax: pg_sys::TransactionId,
    suboverflowed: bool,
    xip: Vec<pg_sys::TransactionId>,
    subxip: Vec<pg_sys::TransactionId>,
}

type Watermarks = Vec<(String, Option<TimestampWithTimeZone>)>;

thread_local! {
    static CACHE: RefCell<Option<(SnapshotKey, Watermarks)>> = const { RefCell::new(None) };
}

/// The active snapshot and this backend's local transaction id, or None without a snapshot.
fn active_snapshot() -> Option<(u32, &'static pg_sys::SnapshotData)> {
    unsafe {
        if !pg_sys::ActiveSnapshotSet() || pg_sys::MyProc.is_null() {
            return None;
        }
        // Read within this call only, while the snapshot stays active.
        Some(((*pg_sys::MyProc).lxid, &*pg_sys::GetActiveSnapshot()))
    }
}

/// The running transactions a snapshot lists.
fn xids(xip: *mut pg_sys::TransactionId, n: i64) -> &'static [pg_sys::TransactionId] {
    if xip.is_null() || n <= 0 {
        return &[];
    }
    unsafe { std::slice::from_raw_parts(xip, n as usize) }
}

impl SnapshotKey {
    fn of(lxid: u32, s: &pg_sys::SnapshotData) -> SnapshotKey {
        SnapshotKey {
            lxid,
            curcid: s.curcid,
            xmin: s.xmin,
            xmax: s.xmax,
            suboverflowed: s.suboverflowed,
            xip: xids(s.xip, i64::from(s.xcnt)).to_vec(),
            subxip: xids(s.subxip, i64::from(s.subxcnt)).to_vec(),
        }
    }

    /// Whether `s` sees what the snapshot of this key saw; compared in place, as every call
    /// of the views' asks.
    fn matches(&self, lxid: u32, s: &pg_sys::SnapshotData) -> bool {
        self.lxid == lxid
            && self.curcid == s.curcid
            && self.xmin == s.xmin
            && self.xmax == s.xmax
            && self.suboverflowed == s.suboverflowed
            && self.xip == xids(s.xip, i64::from(s.xcnt))
            && self.subxip == xids(s.subxip, i64::from(s.subxcnt))
    }
}

fn load() -> Watermarks {
    Spi::connect(|client| {
        client
            .select(
                "SELECT w.tier, w.materialized_until FROM telemetry.rollup_watermarks w",
                None,
                &[],
            )?
            .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get(2)?)))
            .collect::<Result<Watermarks, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| internal(format!("cannot read telemetry.rollup_watermarks: {e}")))
}

/// Parallel restricted: its read of the table is an SPI query, which a parallel worker of a
/// transaction that has written cannot run.
#[pg_extern(stable, strict, parallel_restricted)]
fn rollup_watermark(tier: &str) -> Option<TimestampWithTimeZone> {
    let find = |w: &Watermarks| w.iter().find(|(t, _)| t == tier).and_then(|(_, at)| *at);
    let snapshot = active_snapshot();
    if let Some(at) = CACHE.with(|c| match (&*c.borrow(), snapshot) {
        (Some((key, w)), Some((lxid, s))) if key.matches(lxid, s) => Some(find(w)),
        _ => None,
    }) {
        return at;
    }
    let watermarks = load();
    let at = find(&watermarks);
    if let Some((lxid, s)) = snapshot {
        CACHE.with(|c| *c.borrow_mut() = Some((SnapshotKey::of(lxid, s), watermarks)));
    }
    at
}
