//! Statements the pipeline keeps prepared for the life of the backend.
//!
//! Every batch runs the same handful of statements. Parsed, analysed and planned again at each
//! batch they cost about 1.5 ms of a small batch's fixed cost. Here each is prepared once per
//! backend and kept (`SPI_keepplan`). PostgreSQL's plan cache checks a kept plan before each
//! use and plans it again from its text when something it depends on changed (a table altered
//! or truncated, an extension update, another `search_path`), so a kept plan does not go stale.
//! Permissions are checked at each execution, as the current role.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// More texts than the pipeline has: a text made at run time is never kept past this bound.
const MAX_KEPT: usize = 64;

/// A statement's text, whether it writes, and its argument types.
type Key = (String, bool, Vec<u32>);

thread_local! {
    static KEPT: RefCell<HashMap<Key, Rc<OwnedPreparedStatement>>> =
        RefCell::new(HashMap::new());
}

/// The kept plan of `sql` with these argument types, prepared now if it is new; `None` once
/// `MAX_KEPT` are kept. The map is not borrowed while a statement runs: a trigger it fires may
/// run statements of its own.
fn kept(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[DatumWithOid<'_>],
    mutating: bool,
) -> SpiResult<Option<Rc<OwnedPreparedStatement>>> {
    let types: Vec<pgrx::pg_sys::Oid> = args.iter().map(DatumWithOid::oid).collect();
    let key = (
        sql.to_string(),
        mutating,
        types.iter().map(|t| t.to_u32()).collect(),
    );
    if let Some(plan) = KEPT.with_borrow(|k| k.get(&key).cloned()) {
        return Ok(Some(plan));
    }
    if KEPT.with_borrow(HashMap::len) >= MAX_KEPT {
        return Ok(None);
    }
    let types: Vec<PgOid> = types.into_iter().map(PgOid::from).collect();
    let prepared = if mutating {
        client.prepare_mut(sql, &types)?
    } else {
        client.prepare(sql, &types)?
    };
    let plan = Rc::new(prepared.keep());
    KEPT.with_borrow_mut(|k| k.insert(key, plan.clone()));
    Ok(Some(plan))
}

/// `client.select` through the kept plan of `sql`.
pub fn select<'conn>(
    client: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    match kept(client, sql, args, false)? {
        Some(plan) => client.select(&*plan, None, args),
        None => client.select(sql, None, args),
    }
}

/// `client.update` through the kept plan of `sql`.
pub fn update<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    match kept(client, sql, args, true)? {
        Some(plan) => client.update(&*plan, None, args),
        None => client.update(sql, None, args),
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    fn sum(sql: &str) -> Option<i64> {
        Spi::connect(|c| select(c, sql, &[])?.first().get_one::<i64>()).unwrap()
    }

    #[pg_test]
    fn a_kept_plan_follows_its_table_through_drop_and_create() {
        const SUM: &str = "SELECT sum(v)::pg_catalog.int8 FROM pg_temp.kept_t";
        Spi::run("CREATE TEMP TABLE kept_t (v int); INSERT INTO kept_t VALUES (1), (2)").unwrap();
        assert_eq!(sum(SUM), Some(3));
        // Another table of the same name, its column elsewhere: planned again, not stale.
        Spi::run("DROP TABLE kept_t; CREATE TEMP TABLE kept_t (pad text, v int8); INSERT INTO kept_t VALUES ('x', 40)")
            .unwrap();
        assert_eq!(sum(SUM), Some(40));
        Spi::connect_mut(|c| update(c, "TRUNCATE pg_temp.kept_t", &[]).map(drop)).unwrap();
        assert_eq!(sum(SUM), None);
    }

    #[pg_test]
    fn texts_past_the_bound_still_run_unkept() {
        for n in 0..(MAX_KEPT as i64 + 10) {
            assert_eq!(sum(&format!("SELECT {n}::pg_catalog.int8")), Some(n));
        }
        assert!(KEPT.with_borrow(HashMap::len) <= MAX_KEPT);
    }
}
