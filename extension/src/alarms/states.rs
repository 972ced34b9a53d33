//! The state of each (rule, series) and the record of its transitions. `lock` reads the states
//! a batch, an action or a maintenance run will change and locks them, in one global order so
//! that concurrent sessions wait for each other rather than deadlock, and so that two of them
//! never raise the same alarm twice; `save` writes back those that changed; `record` appends
//! the events, each with its row in the outbox the shim publishes from, and wakes the shim.

use pgrx::datum::{DatumWithOid, TimestampWithTimeZone};
use pgrx::spi::SpiClient;
use rustc_hash::FxHashMap;

use telemetry_core::alarms::anomaly::Stats;
use telemetry_core::alarms::{AlarmState, Event, Severity};

use crate::errors::internal;
use crate::plans;
use crate::time::{timestamp, unix_micros_checked};
use pgrx::pg_sys;
use rustc_hash::FxHashSet;
use std::cell::RefCell;

/// (rule_id, series_id)
pub type Key = (i64, i32);

/// The (rule, series) pairs that have a state row, and the OID of `telemetry.alarm_states`,
/// per backend. A healthy plant's series have none: their readings then cost no lookup. Rows
/// are only added or deleted by statements whose trigger invalidates the relcache entry, so
/// the set is dropped exactly when it may have changed.
struct Known {
    relid: pg_sys::Oid,
    keys: FxHashSet<Key>,
}

thread_local! {
    static KNOWN: RefCell<Option<Known>> = const { RefCell::new(None) };
}

/// Called by the registry's relcache callback.
pub fn invalidate(relid: pg_sys::Oid) {
    KNOWN.with(|k| {
        let mut k = k.borrow_mut();
        if relid == pg_sys::InvalidOid || k.as_ref().is_some_and(|known| known.relid == relid) {
            *k = None;
        }
    });
}

/// Of `keys`, those that have a state row.
pub fn existing(client: &SpiClient<'_>, keys: &[Key]) -> Result<Vec<Key>, pgrx::spi::Error> {
    let loaded = KNOWN.with(|k| k.borrow().is_some());
    if !loaded {
        let relid = plans::select(
            client,
            "SELECT 'telemetry.alarm_states'::pg_catalog.regclass::pg_catalog.oid",
            &[],
        )?
        .first()
        .get_one::<pg_sys::Oid>()?
        .unwrap_or_else(|| internal("telemetry.alarm_states has no OID".into()));
        let mut set = FxHashSet::default();
        for row in plans::select(
            client,
            "SELECT rule_id, series_id FROM telemetry.alarm_states",
            &[],
        )? {
            set.insert((
                row.get::<i64>(1)?.unwrap_or_default(),
                row.get::<i32>(2)?.unwrap_or_default(),
            ));
        }
        KNOWN.with(|k| *k.borrow_mut() = Some(Known { relid, keys: set }));
    }
    Ok(KNOWN.with(|k| {
        let k = k.borrow();
        let known = k.as_ref().map(|k| &k.keys);
        keys.iter()
            .copied()
            .filter(|key| known.is_some_and(|s| s.contains(key)))
            .collect()
    }))
}

const COLUMNS: &str = "condition_active, unacknowledged, severity, raised_at, unacked_at, acked_at,
    escalation_level, shelved_until, suppressed, out_of_service, pending_since, pending_samples,
    last_time, last_value, last_value_at, flat_since, flat_value, stats_n, stats_mean, stats_var";

fn micros(t: Option<TimestampWithTimeZone>) -> Option<i64> {
    t.and_then(unix_micros_checked)
}

/// Lock and read the state rows of `keys` (sorted, without repeats); a key without a row is
/// not in the result.
pub fn lock(
    client: &mut SpiClient<'_>,
    keys: &[Key],
) -> Result<FxHashMap<Key, AlarmState>, pgrx::spi::Error> {
    if keys.is_empty() {
        return Ok(FxHashMap::default());
    }
    let args = || -> [DatumWithOid<'static>; 2] {
        [
            keys.iter().map(|k| k.0).collect::<Vec<_>>().into(),
            keys.iter().map(|k| k.1).collect::<Vec<_>>().into(),
        ]
    };
    let rows = plans::update(client,
        &format!(
            "SELECT s.rule_id, s.series_id, {COLUMNS}
               FROM telemetry.alarm_states s
               JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int4[]))
                    AS k (rule_id, series_id) USING (rule_id, series_id)
              ORDER BY s.rule_id, s.series_id
                FOR UPDATE OF s"
        ),
        &args(),
    )?;
    let mut out = FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
    for row in rows {
        let key = (
            row.get::<i64>(1)?.unwrap_or_default(),
            row.get::<i32>(2)?.unwrap_or_default(),
        );
        let t = |i: usize| row.get::<TimestampWithTimeZone>(i).map(micros);
        let state = AlarmState {
            condition: row.get::<bool>(3)?.unwrap_or(false),
            unacknowledged: row.get::<bool>(4)?.unwrap_or(false),
            severity: row.get::<String>(5)?.as_deref().and_then(Severity::parse),
            raised_at: t(6)?,
            unacked_at: t(7)?,
            acked_at: t(8)?,
            escalation_level: row.get::<i16>(9)?.unwrap_or(0),
            shelved_until: t(10)?,
            suppressed: row.get::<bool>(11)?.unwrap_or(false),
            out_of_service: row.get::<bool>(12)?.unwrap_or(false),
            pending_since: t(13)?,
            pending_samples: row.get::<i32>(14)?.unwrap_or(0),
            last_time: t(15)?,
            last_value: row.get::<f64>(16)?,
            last_value_at: t(17)?,
            flat_since: t(18)?,
            flat_value: row.get::<f64>(19)?,
            stats: Stats {
                n: row.get::<i32>(20)?.unwrap_or(0),
                mean: row.get::<f64>(21)?.unwrap_or(0.0),
                var: row.get::<f64>(22)?.unwrap_or(0.0),
            },
        };
        out.insert(key, state);
    }
    Ok(out)
}

/// Create state rows for `keys` (sorted); returns those this call created, which it holds. A
/// key another session created meanwhile is not among them: the caller locks and reads it.
pub fn create(
    client: &mut SpiClient<'_>,
    keys: &[Key],
) -> Result<FxHashSet<Key>, pgrx::spi::Error> {
    if keys.is_empty() {
        return Ok(FxHashSet::default());
    }
    plans::update(client,
            "INSERT INTO telemetry.alarm_states (rule_id, series_id)
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int4[]))
             ORDER BY 1, 2
             ON CONFLICT DO NOTHING
             RETURNING rule_id, series_id",
            &[
                keys.iter().map(|k| k.0).collect::<Vec<_>>().into(),
                keys.iter().map(|k| k.1).collect::<Vec<_>>().into(),
            ],
        )?
        .map(|row| Ok((row.get::<i64>(1)?.unwrap_or_default(), row.get::<i32>(2)?.unwrap_or_default())))
        .collect()
}

/// Write back the states that changed.
pub fn save(
    client: &mut SpiClient<'_>,
    states: &[(Key, &AlarmState)],
) -> Result<(), pgrx::spi::Error> {
    if states.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&AlarmState) -> Option<i64>| {
        states
            .iter()
            .map(|(_, s)| f(s).map(timestamp))
            .collect::<Vec<_>>()
    };
    let args: Vec<DatumWithOid<'static>> = vec![
        states.iter().map(|(k, _)| k.0).collect::<Vec<_>>().into(),
        states.iter().map(|(k, _)| k.1).collect::<Vec<_>>().into(),
        states
            .iter()
            .map(|(_, s)| s.status().name().to_string())
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.condition)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.unacknowledged)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.severity.map(|x| x.name().to_string()))
            .collect::<Vec<_>>()
            .into(),
        col(|s| s.raised_at).into(),
        col(|s| s.unacked_at).into(),
        col(|s| s.acked_at).into(),
        states
            .iter()
            .map(|(_, s)| s.escalation_level)
            .collect::<Vec<_>>()
            .into(),
        col(|s| s.shelved_until).into(),
        states
            .iter()
            .map(|(_, s)| s.suppressed)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.out_of_service)
            .collect::<Vec<_>>()
            .into(),
        col(|s| s.pending_since).into(),
        states
            .iter()
            .map(|(_, s)| s.pending_samples)
            .collect::<Vec<_>>()
            .into(),
        col(|s| s.last_time).into(),
        states
            .iter()
            .map(|(_, s)| s.last_value)
            .collect::<Vec<_>>()
            .into(),
        col(|s| s.last_value_at).into(),
        col(|s| s.flat_since).into(),
        states
            .iter()
            .map(|(_, s)| s.flat_value)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.stats.n)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.stats.mean)
            .collect::<Vec<_>>()
            .into(),
        states
            .iter()
            .map(|(_, s)| s.stats.var)
            .collect::<Vec<_>>()
            .into(),
    ];
    plans::update(client,
        &format!(
            "UPDATE telemetry.alarm_states s
                SET (status, {COLUMNS}) = (u.status, u.condition_active, u.unacknowledged, u.severity, u.raised_at,
                     u.unacked_at, u.acked_at, u.escalation_level, u.shelved_until, u.suppressed, u.out_of_service,
                     u.pending_since, u.pending_samples, u.last_time, u.last_value, u.last_value_at, u.flat_since,
                     u.flat_value, u.stats_n, u.stats_mean, u.stats_var)
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.int4[]),
                      pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.bool[]),
                      pg_catalog.unnest($5::pg_catalog.bool[]), pg_catalog.unnest($6::pg_catalog.text[]),
                      pg_catalog.unnest($7::pg_catalog.timestamptz[]), pg_catalog.unnest($8::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($9::pg_catalog.timestamptz[]), pg_catalog.unnest($10::pg_catalog.int2[]),
                      pg_catalog.unnest($11::pg_catalog.timestamptz[]), pg_catalog.unnest($12::pg_catalog.bool[]),
                      pg_catalog.unnest($13::pg_catalog.bool[]), pg_catalog.unnest($14::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($15::pg_catalog.int4[]), pg_catalog.unnest($16::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($17::pg_catalog.float8[]), pg_catalog.unnest($18::pg_catalog.timestamptz[]),
                      pg_catalog.unnest($19::pg_catalog.timestamptz[]), pg_catalog.unnest($20::pg_catalog.float8[]),
                      pg_catalog.unnest($21::pg_catalog.int4[]), pg_catalog.unnest($22::pg_catalog.float8[]),
                      pg_catalog.unnest($23::pg_catalog.float8[]))
                    AS u (rule_id, series_id, status, {COLUMNS})
              WHERE s.rule_id = u.rule_id AND s.series_id = u.series_id"
        ),
        &args,
    )?;
    Ok(())
}

/// Save the `changed` states of `locked` and record `events`; returns how many were recorded.
pub fn write_back(
    client: &mut SpiClient<'_>,
    locked: &FxHashMap<Key, AlarmState>,
    changed: &[Key],
    events: &[(Key, Event)],
) -> Result<usize, pgrx::spi::Error> {
    let saved: Vec<(Key, &AlarmState)> = changed
        .iter()
        .filter_map(|k| locked.get(k).map(|s| (*k, s)))
        .collect();
    save(client, &saved)?;
    record(client, events, None)
}

/// Append events (each with the note its caller gives) and their outbox rows; returns how many.
/// A NOTIFY on `telemetry_alarms` wakes the shim; PostgreSQL folds repeats within a
/// transaction into one, so a transaction sends at most one however many batches it holds.
pub fn record(
    client: &mut SpiClient<'_>,
    events: &[(Key, Event)],
    note: Option<&str>,
) -> Result<usize, pgrx::spi::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let text =
        |f: fn(&Event) -> Option<String>| events.iter().map(|(_, e)| f(e)).collect::<Vec<_>>();
    let args: Vec<DatumWithOid> = vec![
        events
            .iter()
            .map(|(_, e)| timestamp(e.time))
            .collect::<Vec<_>>()
            .into(),
        events.iter().map(|(k, _)| k.0).collect::<Vec<_>>().into(),
        events.iter().map(|(k, _)| k.1).collect::<Vec<_>>().into(),
        text(|e| Some(e.kind.name().into())).into(),
        text(|e| Some(e.from.name().into())).into(),
        text(|e| Some(e.to.name().into())).into(),
        events
            .iter()
            .map(|(_, e)| e.value)
            .collect::<Vec<_>>()
            .into(),
        text(|e| e.severity.map(|s| s.name().into())).into(),
        text(|e| e.actor.clone()).into(),
        events
            .iter()
            .map(|(_, e)| e.notify.as_ref().map(|n| n.level))
            .collect::<Vec<_>>()
            .into(),
        text(|e| e.notify.as_ref().map(|n| n.target.clone())).into(),
        text(|e| e.notify.as_ref().map(|n| n.method.name().into())).into(),
        note.into(),
    ];
    plans::update(client,
        "WITH e AS (
           INSERT INTO telemetry.alarm_events (time, rule_id, series_id, kind, from_status, to_status, value,
                                               severity, actor, level, target, method, note)
           SELECT u.*, $13 FROM ROWS FROM (
                    pg_catalog.unnest($1::pg_catalog.timestamptz[]), pg_catalog.unnest($2::pg_catalog.int8[]),
                    pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.text[]),
                    pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.text[]),
                    pg_catalog.unnest($7::pg_catalog.float8[]), pg_catalog.unnest($8::pg_catalog.text[]),
                    pg_catalog.unnest($9::pg_catalog.text[]), pg_catalog.unnest($10::pg_catalog.int2[]),
                    pg_catalog.unnest($11::pg_catalog.text[]), pg_catalog.unnest($12::pg_catalog.text[])) AS u
           RETURNING event_id, time, severity)
         INSERT INTO telemetry.alarm_outbox (event_id, time, severity) SELECT * FROM e",
        &args,
    )?;
    plans::update(
        client,
        "SELECT pg_catalog.pg_notify('telemetry_alarms', '')",
        &[],
    )?;
    Ok(events.len())
}
