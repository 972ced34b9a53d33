//! The record of recent payload event ids, `telemetry.recent_events` (sql/dedup.sql), over
//! `telemetry_core::dedup::events`: a batch settles its generation and locks the record,
//! records the ids it sees first and learns which were seen before, and once a generation
//! empties the table of the generation before the previous one.

use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;
use std::collections::HashSet;

use telemetry_core::batch::Clean;
use telemetry_core::dedup::events::{expiring, looked_up, lookup, settle, slot};

use crate::errors::in_subtransaction;
use crate::gucs;
use crate::plans;
use crate::time::clock;

thread_local! {
    /// The generation in which this backend found the expiring table empty: it looks once a
    /// generation.
    static EMPTY_IN: Cell<Option<i64>> = const { Cell::new(None) };
}

fn table(slot: i64) -> String {
    format!("telemetry.recent_events_{slot}")
}

/// The readings of `rows` whose (series, event_id) was recorded as new within
/// `telemetry.event_id_window`, or came earlier in the batch; the others are recorded now.
/// Nothing is asked of the database when the check is off or no reading has an event id.
pub fn repeated(
    client: &mut SpiClient<'_>,
    rows: &[usize],
    cleaned: &[Clean],
    series: &[Option<i32>],
) -> Result<HashSet<usize>, pgrx::spi::Error> {
    let window = gucs::event_id_window_seconds();
    if window == 0 {
        return Ok(HashSet::new());
    }
    let batch = lookup(
        rows.iter()
            .filter_map(|&i| Some((i, series[i]?, cleaned[i].event_id.as_deref()?))),
    );
    let mut repeated: HashSet<usize> = batch.repeats.into_iter().collect();
    if batch.keys.is_empty() {
        return Ok(repeated);
    }
    let generation = settle(window, clock, |mode| {
        plans::update(
            client,
            &format!("LOCK TABLE ONLY telemetry.recent_events IN {mode} MODE"),
            &[],
        )
        .map(drop)
    })?;
    let seen = record(client, &batch.keys, generation)?;
    repeated.extend(seen.into_iter().map(|k| batch.keys[k].2));
    if EMPTY_IN.get() != Some(generation) && expire(client, generation)? {
        EMPTY_IN.set(Some(generation));
    }
    Ok(repeated)
}

/// Record the ids (in `lookup`'s order) as new in `generation` unless it or the previous one
/// holds them; returns the positions of those it held.
fn record(
    client: &mut SpiClient<'_>,
    keys: &[(i32, &str, usize)],
    generation: i64,
) -> Result<Vec<usize>, pgrx::spi::Error> {
    let [current, previous] = looked_up(generation).map(|g| table(slot(g)));
    let args: [pgrx::datum::DatumWithOid<'static>; 3] = [
        keys.iter().map(|k| k.0).collect::<Vec<_>>().into(),
        keys.iter().map(|k| k.1).collect::<Vec<_>>().into(),
        generation.into(),
    ];
    // A subquery rather than NOT EXISTS: the planner cannot make it a join, so each id is one
    // probe of the primary key, whatever the statistics of a table emptied a while ago say.
    let unseen = format!(
        "(SELECT true FROM {previous} p
           WHERE p.generation = $3 - 1 AND p.series_id = k.s AND p.event_id = k.e) IS NULL"
    );
    // Most batches bring only new ids, and a plain INSERT is much cheaper than ON CONFLICT: try
    // it in a subtransaction, and fall back when an id is in this generation already (or a
    // concurrent batch is recording it: the unique check waits for that one to end).
    let unique: fn(PgSqlErrorCode) -> bool =
        |code| code == PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION;
    let inserted = match in_subtransaction(unique, || {
        plans::update(
            client,
            &format!(
                "INSERT INTO {current} (generation, series_id, event_id)
                     SELECT $3, k.s, k.e
                       FROM (SELECT pg_catalog.unnest($1::pg_catalog.int4[]) AS s,
                                    pg_catalog.unnest($2::pg_catalog.text[]) AS e) AS k
                      WHERE {unseen}"
            ),
            &args,
        )
        .map(|t| t.len())
    }) {
        Ok(n) => Some(n?),
        Err(_) => None,
    };
    const KEYS: &str = "ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.text[]))
                        WITH ORDINALITY AS k (s, e, i)";
    let query = match inserted {
        Some(n) if n == keys.len() => return Ok(Vec::new()),
        // Recorded but for those the previous generation holds: which are they?
        Some(_) => format!("SELECT k.i FROM {KEYS} WHERE NOT {unseen}"),
        None => format!(
            "WITH k AS (SELECT * FROM {KEYS}),
                  fresh AS (INSERT INTO {current} AS r (generation, series_id, event_id)
                            SELECT $3, k.s, k.e FROM k WHERE {unseen}
                            ON CONFLICT DO NOTHING RETURNING r.series_id, r.event_id)
             SELECT k.i FROM k WHERE NOT EXISTS (SELECT FROM fresh f WHERE f.series_id = k.s AND f.event_id = k.e)"
        ),
    };
    plans::update(client, &query, &args)?
        .map(|row| {
            let ordinal = row.get::<i64>(1)?.unwrap_or_default();
            Ok(usize::try_from(ordinal - 1).unwrap_or_default())
        })
        .collect()
}

/// Empty the table of [`expiring`] when it holds ids of expired generations only. Nothing
/// waits for it: when another session holds the table, it is left for a later batch. Returns
/// whether the table was found empty (a batch that empties it looks again next time, in case
/// its transaction rolls back).
fn expire(client: &mut SpiClient<'_>, generation: i64) -> Result<bool, pgrx::spi::Error> {
    let (slot, oldest_kept) = expiring(generation);
    let table = table(slot);
    let busy: fn(PgSqlErrorCode) -> bool =
        |code| code == PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE;
    let locked = in_subtransaction(busy, || {
        plans::update(
            client,
            &format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE NOWAIT"),
            &[],
        )
    });
    match locked {
        Err(_) => return Ok(false),
        Ok(result) => result?,
    };
    let (any, kept) = plans::select(client,
            &format!(
                "SELECT EXISTS (SELECT FROM {table}), EXISTS (SELECT FROM {table} WHERE generation >= $1)"
            ),
            &[oldest_kept.into()],
        )?
        .first()
        .get_two::<bool, bool>()?;
    if any == Some(true) && kept == Some(false) {
        plans::update(client, &format!("TRUNCATE {table}"), &[])?;
    }
    Ok(any == Some(false))
}
