//! Resolve series: each distinct (site, asset, sensor, metric) of a batch to its small integer
//! id, from the session's cache, then the table, registering what is new (with its site and
//! asset) when `telemetry.auto_register_series` is on.

use pgrx::spi::SpiClient;
use rustc_hash::FxHashMap;

use telemetry_core::batch::{Clean, Counts, SeriesKey};
use telemetry_core::names::Name;

use crate::errors::internal;
use crate::gucs;
use crate::plans;
use crate::registry::Registry;

/// The series id of each cleaned reading (`None`: not registered), each distinct key
/// resolved once.
pub fn series_of(
    client: &mut SpiClient<'_>,
    reg: &Registry,
    cleaned: &[Clean],
    counts: &mut Counts,
) -> Result<Vec<Option<i32>>, pgrx::spi::Error> {
    // Each reading's series key is hashed once, to its slot among the batch's distinct keys.
    let mut slots: FxHashMap<&SeriesKey, usize> =
        FxHashMap::with_capacity_and_hasher(cleaned.len(), Default::default());
    let mut distinct: Vec<&SeriesKey> = Vec::new();
    let slot: Vec<usize> = cleaned
        .iter()
        .map(|c| {
            *slots.entry(&c.key).or_insert_with(|| {
                distinct.push(&c.key);
                distinct.len() - 1
            })
        })
        .collect();
    let id_of_slot = resolve_series(client, reg, &distinct, counts)?;
    Ok(slot.iter().map(|&s| id_of_slot[s]).collect())
}

/// Series ids for the keys, in their order (`None`: not registered), registering new series
/// when `telemetry.auto_register_series` is on.
fn resolve_series(
    client: &mut SpiClient<'_>,
    reg: &Registry,
    keys: &[&SeriesKey],
    counts: &mut Counts,
) -> Result<Vec<Option<i32>>, pgrx::spi::Error> {
    let mut ids: Vec<Option<i32>> = {
        let cache = reg.series.borrow();
        keys.iter().map(|k| cache.get(*k).copied()).collect()
    };
    let mut missing: Vec<usize> = (0..keys.len()).filter(|&i| ids[i].is_none()).collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    // Sorted, so that concurrent registrations lock in one order.
    missing.sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
    let column = |ix: &[usize], field: fn(&SeriesKey) -> &Name| -> Vec<String> {
        ix.iter().map(|&i| field(keys[i]).to_string()).collect()
    };
    let lookup = |client: &SpiClient<'_>,
                  ix: &[usize]|
     -> Result<Vec<(usize, i32)>, pgrx::spi::Error> {
        let rows = plans::select(client,
                "SELECT k.i, s.series_id
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[])) WITH ORDINALITY
                    AS k (site_id, asset_id, sensor_id, metric, i)
               JOIN telemetry.series s USING (site_id, asset_id, sensor_id, metric)",
                &[
                    column(ix, |k| &k.0).into(),
                    column(ix, |k| &k.1).into(),
                    column(ix, |k| &k.2).into(),
                    column(ix, |k| &k.3).into(),
                ],
            )?;
        let mut found = Vec::with_capacity(ix.len());
        for row in rows {
            let ordinal = row.get::<i64>(1)?.unwrap_or_default();
            let slot = usize::try_from(ordinal - 1)
                .ok()
                .and_then(|o| ix.get(o).copied());
            match (slot, row.get::<i32>(2)?) {
                (Some(i), Some(id)) => found.push((i, id)),
                _ => internal(format!("series lookup returned ordinal {ordinal}")),
            }
        }
        Ok(found)
    };
    for (i, id) in lookup(client, &missing)? {
        ids[i] = Some(id);
    }
    let new: Vec<usize> = missing
        .iter()
        .copied()
        .filter(|&i| ids[i].is_none())
        .collect();
    if !new.is_empty() && gucs::auto_register_series() {
        // New series may come from sites and assets the registry has not seen: list them there,
        // so the DBA finds every publisher in telemetry.sites and telemetry.assets to describe.
        plans::update(client,
            "INSERT INTO telemetry.sites (site_id) SELECT DISTINCT pg_catalog.unnest($1::pg_catalog.text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
            &[column(&new, |k| &k.0).into()],
        )?;
        plans::update(client,
            "INSERT INTO telemetry.assets (site_id, asset_id)
             SELECT DISTINCT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            &[column(&new, |k| &k.0).into(), column(&new, |k| &k.1).into()],
        )?;
        let created = plans::update(client,
            "INSERT INTO telemetry.series (site_id, asset_id, sensor_id, metric)
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]))
             ON CONFLICT DO NOTHING",
            &[
                column(&new, |k| &k.0).into(),
                column(&new, |k| &k.1).into(),
                column(&new, |k| &k.2).into(),
                column(&new, |k| &k.3).into(),
            ],
        )?;
        counts.series_created += created.len() as i32;
        for (i, id) in lookup(client, &new)? {
            ids[i] = Some(id);
        }
    }
    let mut cache = reg.series.borrow_mut();
    for &i in &missing {
        if let Some(id) = ids[i] {
            cache.insert(keys[i].clone(), id);
        }
    }
    Ok(ids)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::super::test_support::reading;
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn new_series_are_registered_once_and_cached() {
        let reg = crate::registry::get();
        let cleaned = [
            reading("stage-site", "pressure"),
            reading("stage-site", "humidity"),
            reading("stage-site", "pressure"),
        ];
        let mut counts = Counts::default();
        let ids = Spi::connect_mut(|c| series_of(c, &reg, &cleaned, &mut counts)).unwrap();
        assert_eq!(counts.series_created, 2);
        assert_eq!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[1]);
        assert!(ids.iter().all(Option::is_some));
        // The second time they come from the cache and the table, and nothing is registered.
        let mut again = Counts::default();
        let same = Spi::connect_mut(|c| series_of(c, &reg, &cleaned, &mut again)).unwrap();
        assert_eq!((same, again.series_created), (ids, 0));
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT count(*) FROM telemetry.sites WHERE site_id = 'stage-site'"
            ),
            Ok(Some(1))
        );
    }
}
