//! The session's staging table, `pg_temp.telemetry_staging`: a client COPYs raw messages into
//! it and calls `telemetry.ingest_staged()` in the same transaction.
//!
//! Both functions run as the extension's pipeline role (SECURITY DEFINER), so the table they
//! read, empty and create must be theirs: `prepare_staging()` creates it owned by that role,
//! with only INSERT granted on, and `ingest_staged()` refuses a table it does not own. A table
//! of the caller's own could carry triggers, rules or children that would run with the
//! pipeline's rights.

use pgrx::prelude::*;

use pgrx::PgSqlErrorCode;

use crate::errors::{in_subtransaction, internal, raise, Class};
use crate::ingest::{counts_row, run, Broker, CountsRow, Message};
use crate::plans;
use crate::time::received_at;

/// The session's own staging table, found by a catalog lookup in its temporary schema rather
/// than by a query: it runs once per batch.
fn staging_relid() -> Option<pg_sys::Oid> {
    unsafe {
        let relid = pg_sys::RelnameGetRelid(c"telemetry_staging".as_ptr());
        (relid != pg_sys::InvalidOid && pg_sys::isTempNamespace(pg_sys::get_rel_namespace(relid)))
            .then_some(relid)
    }
}

/// The staging table's columns, for both its CREATE and the check of what is read from it.
const STAGING_COLUMNS: [(&str, &str, pg_sys::Oid); 7] = [
    (
        "received_at",
        "timestamptz NOT NULL DEFAULT pg_catalog.now()",
        pg_sys::TIMESTAMPTZOID,
    ),
    ("topic", "text NOT NULL", pg_sys::TEXTOID),
    ("payload", "bytea NOT NULL", pg_sys::BYTEAOID),
    ("payload_bytes", "integer", pg_sys::INT4OID),
    ("packet_id", "integer", pg_sys::INT4OID),
    ("retained", "boolean", pg_sys::BOOLOID),
    ("redelivered", "boolean", pg_sys::BOOLOID),
];

fn refuse(class: Class, message: &str) -> ! {
    raise(
        class,
        message.into(),
        Some("DROP TABLE pg_temp.telemetry_staging, then call telemetry.prepare_staging()."),
    )
}

/// Refuse a staging table that is not the one `prepare_staging()` makes: owned by this
/// function's role, a plain table without children, with exactly the staging columns.
unsafe fn check_staging(rel: pg_sys::Relation) {
    let form = &*(*rel).rd_rel;
    if form.relowner != pg_sys::GetUserId() {
        refuse(
            Class::InsufficientPrivilege,
            "pg_temp.telemetry_staging was not created by telemetry.prepare_staging(); the pipeline reads only a staging table it owns",
        );
    }
    if form.relkind != pg_sys::RELKIND_RELATION as std::ffi::c_char || form.relhassubclass {
        refuse(
            Class::WrongObjectType,
            "pg_temp.telemetry_staging is not a plain table without children",
        );
    }
    let desc = (*rel).rd_att;
    let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
    let expected = attrs.len() == STAGING_COLUMNS.len()
        && attrs
            .iter()
            .zip(STAGING_COLUMNS)
            .all(|(a, (name, _, oid))| {
                !a.attisdropped
                    && a.atttypid == oid
                    && std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_bytes()
                        == name.as_bytes()
            });
    if !expected {
        refuse(
            Class::WrongObjectType,
            "pg_temp.telemetry_staging does not have the columns telemetry.prepare_staging() gives it",
        );
    }
}

/// One staged row as a message; `values` and `nulls` hold the staging columns in order.
fn message_of(values: &[pg_sys::Datum], nulls: &[bool]) -> Message {
    let get = |i: usize| (!nulls[i]).then_some(values[i]);
    unsafe {
        Message {
            received_at: received_at(
                get(0).and_then(|d| TimestampWithTimeZone::from_datum(d, false)),
            ),
            topic: get(1)
                .and_then(|d| String::from_datum(d, false))
                .unwrap_or_default(),
            payload: get(2)
                .and_then(|d| <&[u8]>::from_datum(d, false))
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            payload_bytes: get(3).and_then(|d| i32::from_datum(d, false)),
            broker: Broker {
                packet_id: get(4).and_then(|d| i32::from_datum(d, false)),
                retained: get(5).and_then(|d| bool::from_datum(d, false)),
                redelivered: get(6).and_then(|d| bool::from_datum(d, false)),
            },
        }
    }
}

/// How large the staging table (with its TOAST table) may grow before a batch empties it with
/// TRUNCATE, which makes new files (0.4 ms). Below it, a batch deletes the rows it read, and the
/// next batches append after them and scan past them. Emptying it at every commit instead
/// (ON COMMIT DELETE ROWS: truncating the files and rebuilding the TOAST index) cost 0.7-1.2 ms
/// of each batch.
const STAGING_MAX_BLOCKS: pg_sys::BlockNumber = 128;

/// Blocks of the staging table and of its TOAST table.
unsafe fn staging_blocks(rel: pg_sys::Relation) -> pg_sys::BlockNumber {
    let main = pg_sys::ForkNumber::MAIN_FORKNUM;
    let mut blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, main);
    let toast = (*(*rel).rd_rel).reltoastrelid;
    if toast != pg_sys::InvalidOid {
        let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let toast = pg_sys::table_open(toast, lock);
        blocks = blocks.saturating_add(pg_sys::RelationGetNumberOfBlocksInFork(toast, main));
        pg_sys::table_close(toast, lock);
    }
    blocks
}

/// The messages staged in this transaction, in arrival order, and whether the table has grown
/// enough to be truncated. A heap scan, since the table only grows between truncations and a
/// temporary table is always scanned from its first block. Read through SPI it took a tenth of
/// a batch's time; a sequence column for the order made the COPY a fifth slower. Rows of earlier
/// transactions that committed without ingesting them are never ingested: a staged row lives as
/// long as its transaction. Every row read is deleted unless the table is to be truncated.
fn read_staging(relid: pg_sys::Oid) -> (Vec<Message>, bool) {
    let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    let mut out = Vec::new();
    unsafe {
        let rel = pg_sys::table_open(relid, lock);
        check_staging(rel);
        let truncate = staging_blocks(rel) >= STAGING_MAX_BLOCKS;
        let scan = pg_sys::heap_beginscan(
            rel,
            pg_sys::GetActiveSnapshot(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            pg_sys::ScanOptions::SO_TYPE_SEQSCAN
                | pg_sys::ScanOptions::SO_ALLOW_STRAT
                | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE,
        );
        let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let xmin = pg_sys::HeapTupleHeaderGetXmin((*tuple).t_data);
            if pg_sys::TransactionIdIsCurrentTransactionId(xmin) {
                pg_sys::ExecStoreHeapTuple(tuple, slot, false);
                pg_sys::slot_getallattrs(slot);
                let values = std::slice::from_raw_parts((*slot).tts_values, STAGING_COLUMNS.len());
                let nulls = std::slice::from_raw_parts((*slot).tts_isnull, STAGING_COLUMNS.len());
                out.push(message_of(values, nulls));
                pg_sys::ExecClearTuple(slot);
            }
            if !truncate {
                pg_sys::simple_heap_delete(rel, &mut (*tuple).t_self);
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::heap_endscan(scan);
        pg_sys::table_close(rel, lock);
        // A later call in this transaction must not see the deleted rows.
        pg_sys::CommandCounterIncrement();
        (out, truncate)
    }
}

/// Empties the staging table by TRUNCATE, which is transactional: a rollback keeps its rows.
/// A table something else in this session holds open (55006) is emptied by DELETE instead.
fn truncate_staging() {
    let in_use: fn(PgSqlErrorCode) -> bool = |code| code == PgSqlErrorCode::ERRCODE_OBJECT_IN_USE;
    let empty = |statement: &str| {
        Spi::connect_mut(|client| plans::update(client, statement, &[]).map(drop))
    };
    let result = match in_subtransaction(in_use, || empty("TRUNCATE pg_temp.telemetry_staging")) {
        Ok(result) => result,
        Err(_) => empty("DELETE FROM pg_temp.telemetry_staging"),
    };
    result.unwrap_or_else(|e| internal(format!("cannot empty the staging table: {e}")));
}

/// Create this session's staging table if needed: COPY raw messages into it, then call
/// `telemetry.ingest_staged()` in the same transaction, which reads only the rows staged in
/// its transaction.
#[pg_extern(volatile, parallel_unsafe)]
fn prepare_staging() -> String {
    match staging_relid() {
        Some(relid) => unsafe {
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open(relid, lock);
            check_staging(rel);
            pg_sys::table_close(rel, lock);
        },
        None => {
            let columns: Vec<String> = STAGING_COLUMNS
                .iter()
                .map(|(name, definition, _)| format!("{name} {definition}"))
                .collect();
            // Owned by the pipeline's role; the caller may only add rows. Temporary tables are
            // private to their session, so PUBLIC means the roles this session takes on.
            // A payload is read once and gone at commit, so it is kept inline up to 8 kB and
            // never compressed: compressing rows over 2 kB cost 3-4% of PostgreSQL's CPU at 20
            // readings per message.
            Spi::run(&format!(
                "CREATE TEMP TABLE telemetry_staging ({}) WITH (toast_tuple_target = 8160);
                 ALTER TABLE pg_temp.telemetry_staging ALTER COLUMN payload SET STORAGE EXTERNAL;
                 GRANT INSERT ON pg_temp.telemetry_staging TO PUBLIC",
                columns.join(", ")
            ))
            .unwrap_or_else(|e| internal(format!("cannot create the staging table: {e}")));
        }
    }
    "pg_temp.telemetry_staging".into()
}

/// Run the pipeline over every message in this session's staging table, in arrival order,
/// and empty it.
#[pg_extern(volatile, parallel_unsafe)]
fn ingest_staged() -> TableIterator<
    'static,
    (
        name!(messages, i32),
        name!(readings, i32),
        name!(duplicates, i32),
        name!(conflicting_duplicates, i32),
        name!(dead_letters, i32),
        name!(dead_letter_reasons, pgrx::JsonB),
        name!(oldest_reading, Option<TimestampWithTimeZone>),
        name!(newest_reading, Option<TimestampWithTimeZone>),
        name!(rebirth_nodes, Vec<String>),
    ),
> {
    let Some(relid) = staging_relid() else {
        raise(
            Class::UndefinedTable,
            "this session has no staging table pg_temp.telemetry_staging".into(),
            Some("Call telemetry.prepare_staging() in this session first, then COPY into pg_temp.telemetry_staging."),
        )
    };
    let (messages, truncate) = read_staging(relid);
    if truncate {
        truncate_staging();
    }
    let row: CountsRow = counts_row(run(&messages));
    TableIterator::once(row)
}
