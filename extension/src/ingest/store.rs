//! Store: insert a batch's readings in one statement, in one global key order; tell the
//! redeliveries of stored keys (duplicates) from conflicts (another value: dead-lettered with
//! both). (A payload event_id seen again is recognised before, by `crate::dedup::events`.)

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use std::collections::HashSet;

use telemetry_core::batch::{conflict, Clean, Counts, DeadLetter};

use crate::errors::in_subtransaction;
use crate::plans;
use crate::time::{timestamp, unix_micros};

/// Insert the readings; keys already stored are redeliveries (a harmless duplicate) or
/// conflicts (another value: the first stays, the newcomer is dead-lettered with both).
/// Returns the rows inserted, in (series, time) order.
pub fn store(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    series: &[Option<i32>],
    rows: Vec<usize>,
    dead: &mut Vec<DeadLetter>,
    counts: &mut Counts,
) -> Result<Vec<usize>, pgrx::spi::Error> {
    // One global order of index keys: two sessions inserting overlapping batches then wait
    // for each other instead of deadlocking.
    let id_of = |i: usize| series[i].unwrap_or_default();
    let mut keyed: Vec<(i32, i64, usize)> = rows
        .iter()
        .map(|&i| (id_of(i), cleaned[i].time, i))
        .collect();
    keyed.sort_unstable();
    let rows: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
    let inserted = insert(client, cleaned, &rows, &id_of, counts)?;
    counts.readings = inserted.len() as i32;
    // Only when some key was already stored is it worth asking which, so the common case
    // costs nothing.
    if inserted.len() < rows.len() {
        let differing = differing_values(client, cleaned, &rows, &id_of)?;
        for &(k, stored) in &differing {
            conflict(dead, counts, &cleaned[rows[k]], stored);
        }
        counts.duplicates += (rows.len() - inserted.len() - differing.len()) as i32;
    }
    Ok(inserted)
}

/// INSERT the rows; returns those stored (the others' keys were stored before) and notes
/// the source-time range.
fn insert(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    rows: &[usize],
    id_of: &dyn Fn(usize) -> i32,
    counts: &mut Counts,
) -> Result<Vec<usize>, pgrx::spi::Error> {
    let args: [pgrx::datum::DatumWithOid<'static>; 6] = [
        rows.iter()
            .map(|&i| timestamp(cleaned[i].time))
            .collect::<Vec<_>>()
            .into(),
        rows.iter()
            .map(|&i| cleaned[i].value)
            .collect::<Vec<_>>()
            .into(),
        rows.iter().map(|&i| id_of(i)).collect::<Vec<_>>().into(),
        rows.iter()
            .map(|&i| cleaned[i].quality)
            .collect::<Vec<_>>()
            .into(),
        rows.iter()
            .map(|&i| cleaned[i].flags)
            .collect::<Vec<_>>()
            .into(),
        rows.iter()
            .map(|&i| cleaned[i].source_quality)
            .collect::<Vec<_>>()
            .into(),
    ];
    // unnest() in the select list runs value by value; in FROM it would first copy every
    // array into a tuplestore of its own, which costs a tenth of the whole batch.
    const INSERT: &str =
        "INSERT INTO telemetry.readings (time, value, series_id, quality, flags, source_quality)
         SELECT pg_catalog.unnest($1::pg_catalog.timestamptz[]), pg_catalog.unnest($2::pg_catalog.float8[]),
                pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.float4[]),
                pg_catalog.unnest($5::pg_catalog.int4[]), pg_catalog.unnest($6::pg_catalog.int2[])";
    // Most batches hold no stored key, and a plain INSERT is about a third cheaper than
    // ON CONFLICT: try it in a subtransaction and fall back only on a unique violation.
    let unique: fn(PgSqlErrorCode) -> bool =
        |code| code == PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION;
    if let Ok(done) = in_subtransaction(unique, || {
        plans::update(client, INSERT, &args).map(|_| rows.to_vec())
    }) {
        let times = rows.iter().map(|&i| cleaned[i].time);
        (counts.oldest, counts.newest) = (times.clone().min(), times.max());
        return done;
    }
    let mut stored: HashSet<(i32, i64)> = HashSet::new();
    for row in plans::update(
        client,
        &format!("{INSERT} ON CONFLICT (series_id, time) DO NOTHING RETURNING series_id, time"),
        &args,
    )? {
        if let (Some(id), Some(t)) = (row.get::<i32>(1)?, row.get::<TimestampWithTimeZone>(2)?) {
            let t = unix_micros(t, "time");
            counts.oldest = Some(counts.oldest.map_or(t, |o| o.min(t)));
            counts.newest = Some(counts.newest.map_or(t, |n| n.max(t)));
            stored.insert((id, t));
        }
    }
    Ok(rows
        .iter()
        .copied()
        .filter(|&i| stored.contains(&(id_of(i), cleaned[i].time)))
        .collect())
}

/// Of rows whose key was already stored, those stored with another value: (position in
/// `rows`, stored value), in row order.
fn differing_values(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    rows: &[usize],
    id_of: &dyn Fn(usize) -> i32,
) -> Result<Vec<(usize, f64)>, pgrx::spi::Error> {
    let mut differing: Vec<(usize, f64)> = plans::select(client,
            "SELECT k.i, r.value
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.timestamptz[]), pg_catalog.unnest($3::pg_catalog.float8[]))
                    WITH ORDINALITY AS k (series_id, time, value, i)
               JOIN telemetry.readings r USING (series_id, time)
              WHERE r.value IS DISTINCT FROM k.value",
            &[
                rows.iter().map(|&i| id_of(i)).collect::<Vec<_>>().into(),
                rows.iter().map(|&i| timestamp(cleaned[i].time)).collect::<Vec<_>>().into(),
                rows.iter().map(|&i| cleaned[i].value).collect::<Vec<_>>().into(),
            ],
        )?
        .map(|row| {
            let ordinal = row.get::<i64>(1)?.unwrap_or_default();
            Ok((
                usize::try_from(ordinal - 1).unwrap_or_default(),
                row.get::<f64>(2)?.unwrap_or(f64::NAN),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()?;
    differing.sort_unstable_by_key(|&(k, _)| k);
    Ok(differing)
}
