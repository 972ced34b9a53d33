//! The ingest pipeline: raw MQTT messages in, clean readings out, everything else accounted for.
//!
//! A batch is processed set-wise: decode every message in Rust, then one array-bound statement
//! each to resolve series, insert readings, look up conflicting duplicates, write dead letters
//! and record statistics. `telemetry.ingest` (one message) and `telemetry.ingest_staged` (the
//! session's staging table, filled by COPY) share this one path.
//!
//! The internal queries name relations, types and functions with their schema
//! (`pg_catalog.text`, `pg_catalog.unnest`; multi-array unnest is spelled `ROWS FROM`), so that
//! nothing planted in `public` or a session's `pg_temp` stands in for them, whatever the
//! `search_path`; the entry points pin it to `pg_catalog, pg_temp` besides.

use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::pg_sys::PgTryBuilder;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};

use crate::dead_letters::{self, DeadLetter};
use crate::errors::{echo, internal};
use crate::gucs;
use crate::metrics::MetricRule;
use crate::payload::{
    check_name, decode_json, Candidate, Name, Names, Reason, Rejection, MAX_METRIC_CHARS,
    MAX_NAME_CHARS, MAX_UNIT_CHARS,
};
use crate::quality::{assess, flag, Reading, SourceQuality};
use crate::registry::{self, Registry, SeriesKey};
use crate::routes::{route, Format};
use crate::sparkplug::{self, Source};
use crate::time::{self, timestamp, transaction_start, unix_micros, unix_micros_checked};
use crate::units::{convert_between, Unit, UnitError};

/// One raw message as it arrived.
#[derive(Default)]
pub struct Message {
    /// Unix microseconds; `None` when the client gave an infinite time.
    pub received_at: Option<i64>,
    pub topic: String,
    pub payload: Vec<u8>,
    /// The size the message had when the client cut its payload; `None` when it did not.
    pub payload_bytes: Option<i32>,
    pub broker: Broker,
}

/// What the broker said of a message, when the client passes it on; kept with dead letters.
#[derive(Default, Clone, Copy)]
pub struct Broker {
    pub packet_id: Option<i32>,
    pub retained: Option<bool>,
    pub redelivered: Option<bool>,
}

impl Message {
    pub fn size(&self) -> usize {
        self.payload_bytes
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .max(self.payload.len())
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub messages: i32,
    pub readings: i32,
    pub duplicates: i32,
    pub conflicting_duplicates: i32,
    pub dead_letters: i32,
    pub series_created: i32,
    pub reasons: std::collections::BTreeMap<&'static str, i32>,
    /// Source times (Unix µs) of the oldest and newest reading stored, for a client's
    /// source-to-commit latency.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Counts {
    /// Add the counts of another part of the same batch.
    fn absorb(&mut self, other: Counts) {
        self.messages += other.messages;
        self.readings += other.readings;
        self.duplicates += other.duplicates;
        self.conflicting_duplicates += other.conflicting_duplicates;
        self.dead_letters += other.dead_letters;
        self.series_created += other.series_created;
        for (reason, n) in other.reasons {
            *self.reasons.entry(reason).or_default() += n;
        }
        self.oldest = self.oldest.into_iter().chain(other.oldest).min();
        self.newest = self.newest.into_iter().chain(other.newest).max();
    }
}

/// A reading ready to store, in its metric's canonical unit.
struct Clean {
    message: usize,
    key: SeriesKey,
    time: i64,
    value: f64,
    quality: f32,
    flags: i32,
    source_quality: i16,
    event_id: Option<Name>,
}

fn unit_reason(e: &UnitError) -> &'static str {
    match e {
        UnitError::Unknown(_) | UnitError::Ambiguous(..) => "unknown_unit",
        UnitError::Incompatible { .. } => "incompatible_unit",
        UnitError::OutOfRange { .. } => "not_finite",
    }
}

/// Sparkplug aliases of the nodes and devices in a batch: as stored, then as births change them.
#[derive(Default)]
struct SparkplugAliases {
    known: HashMap<Source, HashMap<u64, String>>,
    born: std::collections::BTreeSet<Source>,
}

impl SparkplugAliases {
    /// The stored aliases of every Sparkplug node and device the batch's topics name.
    fn load(client: &SpiClient<'_>, messages: &[Message]) -> Result<Self, pgrx::spi::Error> {
        let sources: std::collections::BTreeSet<Source> = messages
            .iter()
            .filter_map(|m| sparkplug::parse_topic(&m.topic))
            .map(|(_, s)| s)
            .collect();
        let mut out = SparkplugAliases::default();
        if sources.is_empty() {
            return Ok(out);
        }
        let column =
            |f: fn(&Source) -> &String| sources.iter().map(|s| f(s).clone()).collect::<Vec<_>>();
        // Aliases are any u64, so the column is numeric(20) and they travel as text.
        let rows = client.select(
            "SELECT a.group_id, a.edge_node_id, a.device_id, a.alias::pg_catalog.text, a.metric
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))
                    AS k (group_id, edge_node_id, device_id)
               JOIN telemetry.sparkplug_aliases a USING (group_id, edge_node_id, device_id)",
            None,
            &[
                column(|s| &s.group).into(),
                column(|s| &s.edge_node).into(),
                column(|s| &s.device).into(),
            ],
        )?;
        for row in rows {
            let source = Source {
                group: row.get::<String>(1)?.unwrap_or_default(),
                edge_node: row.get::<String>(2)?.unwrap_or_default(),
                device: row.get::<String>(3)?.unwrap_or_default(),
            };
            let alias = row.get::<String>(4)?.unwrap_or_default();
            let Ok(alias) = alias.parse::<u64>() else {
                internal(format!(
                    "telemetry.sparkplug_aliases holds alias {alias}, not a u64"
                ));
            };
            out.known
                .entry(source)
                .or_default()
                .insert(alias, row.get::<String>(5)?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Replace the stored aliases of every node and device that was born in this batch.
    fn save(&self, client: &mut SpiClient<'_>) -> Result<(), pgrx::spi::Error> {
        for source in &self.born {
            let none = HashMap::new();
            let aliases = self.known.get(source).unwrap_or(&none);
            let args = || -> [pgrx::datum::DatumWithOid<'static>; 3] {
                [
                    source.group.clone().into(),
                    source.edge_node.clone().into(),
                    source.device.clone().into(),
                ]
            };
            client.update(
                "DELETE FROM telemetry.sparkplug_aliases
                  WHERE group_id = $1 AND edge_node_id = $2 AND device_id = $3",
                None,
                &args(),
            )?;
            let [g, e, d] = args();
            client.update(
                "INSERT INTO telemetry.sparkplug_aliases (group_id, edge_node_id, device_id, alias, metric)
                 SELECT $1, $2, $3, a::pg_catalog.numeric, m
                   FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.text[]), pg_catalog.unnest($5::pg_catalog.text[])) AS x (a, m)",
                None,
                &[
                    g,
                    e,
                    d,
                    aliases.keys().map(u64::to_string).collect::<Vec<_>>().into(),
                    aliases.values().cloned().collect::<Vec<_>>().into(),
                ],
            )?;
        }
        Ok(())
    }
}

/// What a batch is judged by: the DBA's settings, read once per batch.
struct Limits {
    params: crate::quality::Params,
    max_payload: usize,
    max_readings: usize,
    /// Reading times (Unix µs) the pipeline accepts.
    plausible: std::ops::RangeInclusive<i64>,
}

impl Limits {
    fn current() -> Limits {
        Limits {
            params: gucs::quality_params(),
            max_payload: gucs::max_payload_bytes(),
            max_readings: gucs::max_readings_per_message(),
            plausible: gucs::plausible_times(transaction_start()),
        }
    }

    /// `Err` says why a time lies outside the plausible window.
    fn check_time(&self, what: &str, t: i64) -> Result<(), Rejection> {
        let (side, setting, bound) = if t < *self.plausible.start() {
            ("past", "max_reading_age", self.plausible.start())
        } else if t > *self.plausible.end() {
            ("future", "max_reading_lead", self.plausible.end())
        } else {
            return Ok(());
        };
        let seconds = (bound - transaction_start()).abs() / 1_000_000;
        Err(fail(
            "implausible_time",
            format!(
                "{what} {} is further in the {side} than telemetry.{setting} ({seconds} s)",
                time::show(t)
            ),
        ))
    }
}

/// The message-level checks before decoding; `Ok` is the time it was received.
fn admit(m: &Message, limits: &Limits) -> Result<i64, Rejection> {
    if m.size() > m.payload.len() {
        return Err(fail(
            "payload_too_large",
            format!(
                "{} bytes, of which the client passed on {}",
                m.size(),
                m.payload.len()
            ),
        ));
    }
    if m.size() > limits.max_payload {
        return Err(fail(
            "payload_too_large",
            format!(
                "{} bytes; telemetry.max_payload_bytes is {}",
                m.size(),
                limits.max_payload
            ),
        ));
    }
    let received_at = m
        .received_at
        .ok_or_else(|| fail("bad_received_at", "received_at is infinite".into()))?;
    limits.check_time("received_at", received_at)?;
    Ok(received_at)
}

/// A Sparkplug message's readings. Its topic names the node and device its aliases belong to.
fn decode_sparkplug(
    m: &Message,
    aliases: &mut SparkplugAliases,
    max_metrics: usize,
) -> Result<Vec<Result<Candidate, Rejection>>, Rejection> {
    let Some((kind, source)) = sparkplug::parse_topic(&m.topic) else {
        return Err(fail(
            "bad_topic",
            "not a Sparkplug B topic: spBv1.0/group/type/edge_node[/device]".into(),
        ));
    };
    for (what, name) in [
        ("group_id", &source.group),
        ("edge_node_id", &source.edge_node),
        ("device_id", &source.device),
    ] {
        check_name(what, name, MAX_NAME_CHARS).map_err(|r| fail("bad_topic", r.detail))?;
    }
    let known = aliases.known.entry(source.clone()).or_default();
    let decoded = sparkplug::decode(&m.payload, kind, &source, known, max_metrics)?;
    if kind == sparkplug::Kind::Birth {
        aliases.born.insert(source);
    }
    Ok(decoded)
}

/// Decode, route and clean every message: the pure half of the pipeline.
fn clean(
    reg: &Registry,
    messages: &[Message],
    aliases: &mut SparkplugAliases,
    dead: &mut Vec<DeadLetter>,
) -> Vec<Clean> {
    let limits = Limits::current();
    let mut out = Vec::with_capacity(messages.len());
    let mut memo = Memo::default();
    let mut names = Names::default();
    for (i, m) in messages.iter().enumerate() {
        let mut reject = |r: Rejection| {
            dead.push(DeadLetter {
                message: i,
                reason: r.reason.code(),
                detail: r.detail,
            })
        };
        let received_at = match admit(m, &limits) {
            Ok(t) => t,
            Err(r) => {
                reject(r);
                continue;
            }
        };
        let Some((route, captures)) = route(&reg.routes, &m.topic) else {
            reject(fail(
                "no_route",
                "no enabled route in telemetry.routes matches the topic".into(),
            ));
            continue;
        };
        let decoded = match route.format {
            Format::Json => decode_json(&m.payload, &captures, &route.defaults(), &mut names)
                .and_then(|c| at_most(c, limits.max_readings)),
            Format::SparkplugB => decode_sparkplug(m, aliases, limits.max_readings),
        };
        let candidates = match decoded {
            Ok(c) => c,
            Err(r) => {
                reject(r);
                continue;
            }
        };
        let arrived = Arrival {
            message: i,
            received_at,
        };
        for candidate in candidates {
            let cleaned = candidate
                .and_then(|c| clean_one(reg, &mut memo, route.unit.as_ref(), &arrived, c, &limits));
            match cleaned {
                Ok(c) => out.push(c),
                Err(r) => reject(r),
            }
        }
    }
    out
}

/// A message of more readings than `max` is one dead letter, not one per reading: 100,000
/// unknown metrics in one message once took a second of the batch to refuse one by one.
fn at_most<T>(readings: Vec<T>, max: usize) -> Result<Vec<T>, Rejection> {
    if readings.len() > max {
        return Err(fail(
            "too_many_readings",
            format!(
                "{} readings; telemetry.max_readings_per_message is {max}",
                readings.len()
            ),
        ));
    }
    Ok(readings)
}

/// Which message a reading came in, and when that message was received.
struct Arrival {
    message: usize,
    received_at: i64,
}

/// What a metric name and units resolve to. A batch repeats a few combinations many times,
/// so each is worked out once: (metric as sent, payload unit, route unit) -> rule and units.
type Memo<'r> = FxHashMap<(Name, Option<Name>, Option<Name>), Result<Resolved<'r>, Rejection>>;

#[derive(Clone)]
struct Resolved<'r> {
    rule: &'r MetricRule,
    metric: Name,
    from: &'r Unit,
    to: &'r Unit,
}

fn fail(reason: &'static str, detail: String) -> Rejection {
    Rejection {
        reason: Reason::Other(reason),
        detail,
    }
}

/// The rule of a metric and the unit its value is in: the payload's, else one the name ends
/// in (`temperature_f`), else the route's, else the canonical one.
fn resolve<'r>(
    reg: &'r Registry,
    metric: &str,
    unit: Option<&str>,
    route_unit: Option<&str>,
) -> Result<Resolved<'r>, Rejection> {
    check_name("metric", metric, MAX_METRIC_CHARS)?;
    if let Some(u) = unit {
        check_name("unit", u, MAX_UNIT_CHARS)?;
    }
    let Some((rule, suffix_unit)) = reg.metrics.rule_with_unit(metric, &reg.units) else {
        return Err(fail(
            "unknown_metric",
            format!("metric {} is not in telemetry.metric_rules", echo(metric)),
        ));
    };
    let unit = unit
        .or(suffix_unit.as_deref())
        .or(route_unit)
        .unwrap_or(&rule.unit);
    let units = |e: UnitError| fail(unit_reason(&e), format!("{}: {e}", rule.metric));
    Ok(Resolved {
        rule,
        metric: Name::from(rule.metric.as_str()),
        from: reg.units.resolve(unit).map_err(units)?,
        to: reg.units.resolve(&rule.unit).map_err(units)?,
    })
}

/// The names of a reading that are not resolved through the registry, checked as they are
/// stored: site, asset and sensor become the series key, the event id a key of its own.
fn check_reading_names(c: &Candidate) -> Result<(), Rejection> {
    check_name("site_id", &c.site, MAX_NAME_CHARS)?;
    check_name("asset_id", &c.asset, MAX_NAME_CHARS)?;
    check_name("sensor_id", &c.sensor, MAX_NAME_CHARS)?;
    if let Some(event) = &c.event_id {
        check_name("event_id", event, MAX_NAME_CHARS)?;
    }
    if let Some(quality) = &c.quality {
        check_name("quality", quality, MAX_UNIT_CHARS)?;
    }
    Ok(())
}

fn clean_one<'r>(
    reg: &'r Registry,
    memo: &mut Memo<'r>,
    route_unit: Option<&Name>,
    arrived: &Arrival,
    c: Candidate,
    limits: &Limits,
) -> Result<Clean, Rejection> {
    check_reading_names(&c)?;
    let r = memo
        .entry((c.metric.clone(), c.unit.clone(), route_unit.cloned()))
        .or_insert_with(|| resolve(reg, &c.metric, c.unit.as_deref(), route_unit.map(|u| &**u)))
        .clone()?;
    let value = convert_between(c.value, r.from, r.to)
        .map_err(|e| fail(unit_reason(&e), format!("{}: {e}", r.rule.metric)))?;
    if !value.is_finite() {
        return Err(fail(
            "not_finite",
            format!("{} value is {}", r.rule.metric, c.value),
        ));
    }
    let source = SourceQuality::parse(c.quality.as_deref().unwrap_or(""))
        .map_err(|msg| fail("bad_quality", msg))?;
    let time = c.time.unwrap_or(arrived.received_at);
    limits.check_time(&format!("{} reading time", r.rule.metric), time)?;
    let assessment = assess(
        &Reading {
            rule: Some(r.rule),
            value: Some(value),
            has_source_time: c.time.is_some(),
            delay_s: c.time.map(|t| (arrived.received_at - t) as f64 / 1e6),
            previous: None,
            recent: None,
            source,
        },
        &limits.params,
    );
    let converted = if r.from.code != r.rule.unit {
        flag("converted")
    } else {
        0
    };
    Ok(Clean {
        message: arrived.message,
        key: (c.site, c.asset, c.sensor, r.metric),
        time,
        value,
        quality: assessment.score as f32,
        flags: assessment.flags | converted,
        source_quality: source.code(),
        event_id: c.event_id,
    })
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
        let rows = client.select(
                "SELECT k.i, s.series_id
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[])) WITH ORDINALITY
                    AS k (site_id, asset_id, sensor_id, metric, i)
               JOIN telemetry.series s USING (site_id, asset_id, sensor_id, metric)",
                None,
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
        client.update(
            "INSERT INTO telemetry.sites (site_id) SELECT DISTINCT pg_catalog.unnest($1::pg_catalog.text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
            None,
            &[column(&new, |k| &k.0).into()],
        )?;
        client.update(
            "INSERT INTO telemetry.assets (site_id, asset_id)
             SELECT DISTINCT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            None,
            &[column(&new, |k| &k.0).into(), column(&new, |k| &k.1).into()],
        )?;
        let created = client.update(
            "INSERT INTO telemetry.series (site_id, asset_id, sensor_id, metric)
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]))
             ON CONFLICT DO NOTHING",
            None,
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
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "the telemetry library is version {library}, but this database has the extension at version {installed}"
            ),
            "telemetry",
        )
        .set_hint("Run ALTER EXTENSION telemetry UPDATE in this database.")
        .report(PgLogLevel::ERROR);
    }
    SCHEMA_CURRENT.set(true);
}

/// Run the pipeline over a batch of messages inside the current transaction and record it in
/// `telemetry.ingest_batches`.
pub fn run(messages: &[Message]) -> Counts {
    require_current_schema();
    let started = std::time::Instant::now();
    let reg = registry::get();
    let counts = isolate(&reg, messages, 0);
    Spi::run_with_args(
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
    )
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
    let mut aliases = Spi::connect(|client| SparkplugAliases::load(client, messages))
        .unwrap_or_else(|e| internal(format!("cannot read telemetry.sparkplug_aliases: {e}")));
    let cleaned = clean(reg, messages, &mut aliases, &mut dead);
    let mut counts = Counts {
        messages: messages.len() as i32,
        ..Counts::default()
    };
    let result = Spi::connect_mut(|client| -> Result<(), pgrx::spi::Error> {
        let series = series_of(client, reg, &cleaned, &mut counts)?;
        let rows = first_of_each_key(&cleaned, &series, &mut dead, &mut counts);
        // A payload event_id seen again within the window is a duplicate even with another
        // timestamp (a device that re-stamps what it resends).
        let repeated = repeated_events(client, &rows, &cleaned, &series)?;
        let rows: Vec<usize> = rows.into_iter().filter(|i| !repeated.contains(i)).collect();
        counts.duplicates += repeated.len() as i32;
        store(client, &cleaned, &series, rows, &mut dead, &mut counts)?;
        aliases.save(client)?;
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

/// The series id of each cleaned reading (`None`: not registered), each distinct key
/// resolved once.
fn series_of(
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

/// The readings to insert: within the batch the first reading of a (series, time) wins, as in
/// the table; repeats are duplicates or conflicts, unknown series dead letters.
fn first_of_each_key(
    cleaned: &[Clean],
    series: &[Option<i32>],
    dead: &mut Vec<DeadLetter>,
    counts: &mut Counts,
) -> Vec<usize> {
    let mut first: FxHashMap<(i32, i64), usize> =
        FxHashMap::with_capacity_and_hasher(cleaned.len(), Default::default());
    let mut rows: Vec<usize> = Vec::with_capacity(cleaned.len());
    for (i, c) in cleaned.iter().enumerate() {
        let Some(id) = series[i] else {
            dead.push(DeadLetter {
                message: c.message,
                reason: "unknown_series",
                detail: format!(
                    "series {}/{}/{}/{} is not registered and telemetry.auto_register_series is off",
                    c.key.0, c.key.1, c.key.2, c.key.3
                ),
            });
            continue;
        };
        match first.get(&(id, c.time)) {
            Some(&j) if cleaned[j].value.to_bits() == c.value.to_bits() => counts.duplicates += 1,
            Some(&j) => conflict(dead, counts, c, cleaned[j].value),
            None => {
                first.insert((id, c.time), i);
                rows.push(i);
            }
        }
    }
    rows
}

/// Insert the readings; keys already stored are redeliveries (a harmless duplicate) or
/// conflicts (another value: the first stays, the newcomer is dead-lettered with both).
fn store(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    series: &[Option<i32>],
    rows: Vec<usize>,
    dead: &mut Vec<DeadLetter>,
    counts: &mut Counts,
) -> Result<(), pgrx::spi::Error> {
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
    counts.readings = inserted as i32;
    // Only when some key was already stored is it worth asking which, so the common case
    // costs nothing.
    if inserted < rows.len() {
        let differing = differing_values(client, cleaned, &rows, &id_of)?;
        for &(k, stored) in &differing {
            conflict(dead, counts, &cleaned[rows[k]], stored);
        }
        counts.duplicates += (rows.len() - inserted - differing.len()) as i32;
    }
    Ok(())
}

/// INSERT the rows; returns how many were stored and notes the source-time range.
fn insert(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    rows: &[usize],
    id_of: &dyn Fn(usize) -> i32,
    counts: &mut Counts,
) -> Result<usize, pgrx::spi::Error> {
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
        client.update(INSERT, None, &args).map(|t| t.len())
    }) {
        let times = rows.iter().map(|&i| cleaned[i].time);
        (counts.oldest, counts.newest) = (times.clone().min(), times.max());
        return done;
    }
    let mut stored = 0;
    for row in client.update(
        &format!("{INSERT} ON CONFLICT (series_id, time) DO NOTHING RETURNING time"),
        None,
        &args,
    )? {
        if let Some(t) = row.get::<TimestampWithTimeZone>(1)? {
            let t = unix_micros(t, "time");
            counts.oldest = Some(counts.oldest.map_or(t, |o| o.min(t)));
            counts.newest = Some(counts.newest.map_or(t, |n| n.max(t)));
        }
        stored += 1;
    }
    Ok(stored)
}

/// Of rows whose key was already stored, those stored with another value: (position in
/// `rows`, stored value), in row order.
fn differing_values(
    client: &mut SpiClient<'_>,
    cleaned: &[Clean],
    rows: &[usize],
    id_of: &dyn Fn(usize) -> i32,
) -> Result<Vec<(usize, f64)>, pgrx::spi::Error> {
    let mut differing: Vec<(usize, f64)> = client
        .select(
            "SELECT k.i, r.value
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.timestamptz[]), pg_catalog.unnest($3::pg_catalog.float8[]))
                    WITH ORDINALITY AS k (series_id, time, value, i)
               JOIN telemetry.readings r USING (series_id, time)
              WHERE r.value IS DISTINCT FROM k.value",
            None,
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

/// The rows whose (series, event_id) was recorded within `telemetry.event_id_window`; the
/// others are recorded now. Within the batch the first occurrence counts as the new one.
fn repeated_events(
    client: &mut SpiClient<'_>,
    rows: &[usize],
    cleaned: &[Clean],
    series: &[Option<i32>],
) -> Result<HashSet<usize>, pgrx::spi::Error> {
    let window = gucs::event_id_window_seconds();
    let mut first: HashMap<(i32, &str), usize> = HashMap::new();
    let mut repeated = HashSet::new();
    for &i in rows {
        if let (Some(event), Some(id)) = (cleaned[i].event_id.as_deref(), series[i]) {
            if window == 0 {
                continue;
            }
            match first.entry((id, event)) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    repeated.insert(i);
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
    }
    if first.is_empty() {
        return Ok(repeated);
    }
    let (keys, events): (Vec<i32>, Vec<String>) =
        first.keys().map(|&(id, e)| (id, e.to_string())).unzip();
    // An expired record is renewed and counts as new; RETURNING lists the new ones.
    let fresh: HashSet<(i32, String)> = client
        .update(
            "INSERT INTO telemetry.recent_events AS r (series_id, event_id, seen_at)
             SELECT s, e, pg_catalog.now() FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.text[])) AS k (s, e) ORDER BY s, e
             ON CONFLICT (series_id, event_id) DO UPDATE SET seen_at = EXCLUDED.seen_at
              WHERE r.seen_at < pg_catalog.now() - pg_catalog.make_interval(secs => $3)
             RETURNING series_id, event_id",
            None,
            &[keys.into(), events.into(), f64::from(window).into()],
        )?
        .map(|row| {
            Ok((
                row.get::<i32>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
            ))
        })
        .collect::<Result<_, pgrx::spi::Error>>()?;
    for ((id, event), i) in first {
        if !fresh.contains(&(id, event.to_string())) {
            repeated.insert(i);
        }
    }
    client.update(
        "DELETE FROM telemetry.recent_events WHERE seen_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)",
        None,
        &[f64::from(window).into()],
    )?;
    Ok(repeated)
}

/// Run `f` in a subtransaction, as PL/pgSQL runs a block with an EXCEPTION clause: `Err`
/// with the error when it failed with a code `caught` accepts and was rolled back; any other
/// error propagates.
fn in_subtransaction<R>(
    caught: fn(PgSqlErrorCode) -> bool,
    f: impl FnOnce() -> R,
) -> Result<R, (PgSqlErrorCode, String)> {
    use pgrx::pg_sys;
    let (context, owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    let restore = move || unsafe {
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
    };
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
    }
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        let out = f();
        unsafe { pg_sys::ReleaseCurrentSubTransaction() };
        restore();
        Ok(out)
    }))
    .catch_others(|e| {
        unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
        restore();
        let report = match &e {
            CaughtError::PostgresError(r)
            | CaughtError::ErrorReport(r)
            | CaughtError::RustPanic { ereport: r, .. } => r,
        };
        if caught(report.sql_error_code()) {
            Err((report.sql_error_code(), report.message().to_string()))
        } else {
            e.rethrow()
        }
    })
    .execute()
}

fn conflict(dead: &mut Vec<DeadLetter>, counts: &mut Counts, c: &Clean, stored: f64) {
    counts.conflicting_duplicates += 1;
    dead.push(DeadLetter {
        message: c.message,
        reason: "conflicting_duplicate",
        detail: format!(
            "{}/{}/{}/{} at {}: stored {stored}, received {}",
            c.key.0,
            c.key.1,
            c.key.2,
            c.key.3,
            time::show(c.time),
            c.value
        ),
    });
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
    ),
> {
    let message = Message {
        received_at: received_at.map_or(Some(transaction_start()), unix_micros_checked),
        topic: topic.unwrap_or_default().to_string(),
        payload: payload.unwrap_or_default().to_vec(),
        ..Message::default()
    };
    TableIterator::once(counts_row(run(std::slice::from_ref(&message))))
}
