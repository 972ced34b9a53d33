//! The ingest pipeline: raw MQTT messages in, clean readings out, everything else accounted for.
//!
//! A batch runs through stages, in the order data flows: decode and clean
//! (`telemetry_core::clean`, no database), Sparkplug session state ([`aliases`]), resolve
//! series ([`series`]), de-duplicate within the batch (`telemetry_core::batch`), store
//! ([`store`]), record the buckets of late readings for the rollups ([`rollups`]), evaluate alarms
//! ([`alarms`]), and account (`crate::dead_letters`, and the batch's row in
//! `telemetry.ingest_batches` here). `telemetry.ingest` (one message), `telemetry.ingest_staged`
//! (the session's staging table) and the inbox share this one path.
//!
//! The internal queries name relations, types and functions with their schema
//! (`pg_catalog.text`, `pg_catalog.unnest`; multi-array unnest is spelled `ROWS FROM`), so that
//! nothing planted in `public` or a session's `pg_temp` stands in for them, whatever the
//! `search_path`; the entry points pin it to `pg_catalog, pg_temp` besides.

mod alarms;
mod births;
mod metrics;
mod rollups;
mod series;
mod store;
#[cfg(any(test, feature = "pg_test"))]
mod test_support;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use telemetry_core::batch::{first_of_each_key, DeadLetter};
pub use telemetry_core::batch::{Broker, Counts, Message};
use telemetry_core::clean::{clean, Cleaned, Limits, SparkplugState};

use crate::dead_letters;
use crate::dedup;
use crate::errors::{in_subtransaction, internal, raise, Class};
use crate::gucs;
use crate::plans;
use crate::registry::{self, Registry};
use crate::time::{timestamp, transaction_start};
pub(crate) use alarms::evaluate as evaluate_alarms;
use births::Stored;
pub(crate) use series::series_of;

thread_local! {
    static SCHEMA_CURRENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The pipeline writes the tables of its own release. Between installing a new library and
/// `ALTER EXTENSION telemetry UPDATE` the database still has the old ones: say so, rather than
/// fail on a missing column. Once they match they stay matched, so a backend asks only once.
fn require_current_schema() {
    if SCHEMA_CURRENT.get() {
        return;
    }
    let library = env!("CARGO_PKG_VERSION");
    let installed = Spi::get_one::<String>(
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'telemetry'",
    )
    .ok()
    .flatten()
    .unwrap_or_default();
    if installed != library {
        raise(
            Class::NotInPrerequisiteState,
            format!(
                "the telemetry library is version {library}, but this database has the extension at version {installed}"
            ),
            Some("Run ALTER EXTENSION telemetry UPDATE in this database."),
        );
    }
    SCHEMA_CURRENT.set(true);
}

/// What a batch is judged by: the DBA's settings now.
fn limits(reg: &Registry) -> Limits {
    let now = transaction_start();
    Limits {
        new_metrics: gucs::new_metrics_allowed(reg.metrics.unreviewed()),
        params: gucs::quality_params(),
        max_payload: gucs::max_payload_bytes(),
        max_readings: gucs::max_readings_per_message(),
        plausible: gucs::plausible_times(now),
        now,
    }
}

/// Run the pipeline over a batch of messages inside the current transaction and record it in
/// `telemetry.ingest_batches`.
pub fn run(messages: &[Message]) -> Counts {
    require_current_schema();
    let started = std::time::Instant::now();
    let reg = registry::get();
    let counts = isolate(&reg, messages, 0);
    Spi::connect_mut(|client| plans::update(client,
        "INSERT INTO telemetry.ingest_batches (started_at, finished_at, messages, readings, duplicates,
                                               conflicting_duplicates, dead_letters, series_created)
         VALUES (pg_catalog.now(), pg_catalog.now() + pg_catalog.make_interval(secs => $1),
                 $2, $3, $4, $5, $6, $7)",
        &[
            started.elapsed().as_secs_f64().into(),
            counts.messages.into(),
            counts.readings.into(),
            counts.duplicates.into(),
            counts.conflicting_duplicates.into(),
            counts.dead_letters.into(),
            counts.series_created.into(),
        ],
    ).map(drop))
    .unwrap_or_else(|e| internal(format!("cannot record the batch: {e}")));
    counts
}

/// Errors that some message's data can cause: data exceptions (22), integrity constraints
/// (23), program limits such as array sizes (54), a trigger's RAISE (P0001) and internal
/// errors, a Rust panic among them (XX000). Anything else (a cancel, a lost lock, missing
/// privileges, no memory) says nothing about one message and fails the batch.
fn is_data_error(code: PgSqlErrorCode) -> bool {
    matches!(sqlstate(code).get(..2), Some("22" | "23" | "54" | "XX"))
        || code == PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION
}

/// The five-character SQLSTATE of an error code.
fn sqlstate(code: PgSqlErrorCode) -> String {
    let packed = code as i32;
    (0..5)
        .map(|i| char::from(b'0' + ((packed >> (6 * i)) & 0x3F) as u8))
        .collect()
}

/// The last line of defence: run the batch in a subtransaction, and if some message still
/// makes it fail with a data error, run each half on its own, down to the single messages
/// that fail, which become dead letters with the error. The others are stored as if the
/// offenders had never come. Halves run in arrival order, so births still precede data.
fn isolate(reg: &Registry, messages: &[Message], offset: usize) -> Counts {
    let (code, error) = match in_subtransaction(is_data_error, || process(reg, messages)) {
        Ok(counts) => return counts,
        Err(caught) => caught,
    };
    // Series the failed attempt registered were rolled back with it; the ids it cached must go.
    reg.series.borrow_mut().clear();
    if messages.len() > 1 {
        let (first, second) = messages.split_at(messages.len() / 2);
        let mut counts = isolate(reg, first, offset);
        counts.absorb(isolate(reg, second, offset + first.len()));
        return counts;
    }
    let letter = DeadLetter {
        message: 0,
        reason: "pipeline_error",
        detail: format!(
            "SQLSTATE {}: {} (message {} of its batch)",
            sqlstate(code),
            error,
            offset + 1
        ),
    };
    Spi::connect_mut(|client| dead_letters::write(client, messages, std::slice::from_ref(&letter)))
        .unwrap_or_else(|e| internal(format!("cannot write a dead letter: {e}")));
    Counts {
        messages: 1,
        dead_letters: 1,
        reasons: [("pipeline_error", 1)].into_iter().collect(),
        ..Counts::default()
    }
}

/// Decode, clean, resolve, store and account for a batch (or part of one).
fn process(reg: &Registry, messages: &[Message]) -> Counts {
    let mut dead = Vec::new();
    let mut births = Spi::connect(|client| SparkplugState::load(client, messages))
        .unwrap_or_else(|e| internal(format!("cannot read telemetry.sparkplug_metrics: {e}")));
    let Cleaned {
        readings: mut cleaned,
        new_metrics,
    } = clean(
        &reg.catalogs(),
        messages,
        &mut births,
        &mut dead,
        &limits(reg),
    );
    let mut counts = Counts {
        messages: messages.len() as i32,
        rebirths: births
            .lost
            .iter()
            .map(|(g, e)| format!("{g}/{e}"))
            .collect(),
        ..Counts::default()
    };
    let result = Spi::connect_mut(|client| -> Result<(), pgrx::spi::Error> {
        metrics::register(client, messages, &new_metrics, &mut cleaned, &mut dead)?;
        let series = series::series_of(client, reg, &cleaned, &mut counts)?;
        let rows = first_of_each_key(&cleaned, &series, &mut dead, &mut counts);
        // A payload event_id seen again within the window is a duplicate even with another
        // timestamp (a device that re-stamps what it resends).
        let repeated = dedup::events::repeated(client, &rows, &cleaned, &series)?;
        let rows: Vec<usize> = rows.into_iter().filter(|i| !repeated.contains(i)).collect();
        counts.duplicates += repeated.len() as i32;
        let stored = store::store(
            client,
            &cleaned,
            &series,
            rows.clone(),
            &mut dead,
            &mut counts,
        )?;
        rollups::invalidate(client, &cleaned, &series, &stored)?;
        counts.alarm_events += alarms::evaluate(client, reg, &cleaned, &series, &rows)? as i32;
        births.save(client)?;
        dead_letters::write(client, messages, &dead)?;
        counts.dead_letters = dead.len() as i32;
        for d in &dead {
            *counts.reasons.entry(d.reason).or_default() += 1;
        }
        Ok(())
    });
    result.unwrap_or_else(|e| internal(format!("ingest failed: {e}")));
    counts
}

// pgrx reads the SQL signature from the literal return type, so both functions spell it out.
pub type CountsRow = (
    i32,
    i32,
    i32,
    i32,
    i32,
    pgrx::JsonB,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Vec<String>,
);

pub fn counts_row(c: Counts) -> CountsRow {
    let reasons = c
        .reasons
        .iter()
        .map(|(reason, n)| (reason.to_string(), serde_json::Value::from(*n)))
        .collect();
    (
        c.messages,
        c.readings,
        c.duplicates,
        c.conflicting_duplicates,
        c.dead_letters,
        pgrx::JsonB(serde_json::Value::Object(reasons)),
        c.oldest.map(timestamp),
        c.newest.map(timestamp),
        c.rebirths.into_iter().collect(),
    )
}

/// Ingest one MQTT message: route, decode, clean, de-duplicate, store; returns the counts.
/// Not strict: a NULL becomes a dead letter, as it does through the inbox.
#[pg_extern(volatile, parallel_unsafe)]
fn ingest(
    topic: Option<&str>,
    payload: Option<&[u8]>,
    received_at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> TableIterator<
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
    let message = Message {
        received_at: crate::time::received_at(received_at),
        topic: topic.unwrap_or_default().to_string(),
        payload: payload.unwrap_or_default().to_vec(),
        ..Message::default()
    };
    TableIterator::once(counts_row(run(std::slice::from_ref(&message))))
}
