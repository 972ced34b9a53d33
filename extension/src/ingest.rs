//! The ingest pipeline: raw MQTT messages in, clean readings out, everything else accounted for.
//!
//! A batch is processed set-wise: decode every message in Rust, then one array-bound statement
//! each to resolve series, insert readings, look up conflicting duplicates, write dead letters
//! and record statistics. `telemetry.ingest` (one message) and `telemetry.ingest_staged` (the
//! session's staging table, filled by COPY) share this one path.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::pg_sys::PgTryBuilder;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};

use crate::errors::internal;
use crate::gucs;
use crate::metrics::MetricRule;
use crate::payload::{decode_json, Candidate, Name, Names, Reason, Rejection};
use crate::quality::{assess, flag, Reading, SourceQuality};
use crate::registry::{self, Registry, SeriesKey};
use crate::routes::{route, Format};
use crate::sparkplug::{self, Source};
use crate::time::{timestamp, transaction_start, unix_micros};
use crate::units::{convert_between, Unit, UnitError};

/// One raw message as it arrived.
#[derive(Default)]
pub struct Message {
    pub received_at: i64,
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
    fn size(&self) -> usize {
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

struct DeadLetter {
    message: usize,
    reason: &'static str,
    detail: String,
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
        let rows = client.select(
            "SELECT a.group_id, a.edge_node_id, a.device_id, a.alias, a.metric
               FROM unnest($1::text[], $2::text[], $3::text[]) AS k (group_id, edge_node_id, device_id)
               JOIN telemetry.sparkplug_aliases a USING (group_id, edge_node_id, device_id)",
            None,
            &[column(|s| &s.group).into(), column(|s| &s.edge_node).into(), column(|s| &s.device).into()],
        )?;
        for row in rows {
            let source = Source {
                group: row.get::<String>(1)?.unwrap_or_default(),
                edge_node: row.get::<String>(2)?.unwrap_or_default(),
                device: row.get::<String>(3)?.unwrap_or_default(),
            };
            let alias = u64::try_from(row.get::<i64>(4)?.unwrap_or_default()).unwrap_or_default();
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
                "DELETE FROM telemetry.sparkplug_aliases WHERE group_id = $1 AND edge_node_id = $2 AND device_id = $3",
                None,
                &args(),
            )?;
            let [g, e, d] = args();
            client.update(
                "INSERT INTO telemetry.sparkplug_aliases (group_id, edge_node_id, device_id, alias, metric)
                 SELECT $1, $2, $3, a, m FROM unnest($4::int8[], $5::text[]) AS x (a, m)",
                None,
                &[
                    g,
                    e,
                    d,
                    aliases.keys().map(|&a| a as i64).collect::<Vec<_>>().into(),
                    aliases.values().cloned().collect::<Vec<_>>().into(),
                ],
            )?;
        }
        Ok(())
    }
}

/// Decode, route and clean every message: the pure half of the pipeline.
fn clean(
    reg: &Registry,
    messages: &[Message],
    aliases: &mut SparkplugAliases,
    dead: &mut Vec<DeadLetter>,
) -> Vec<Clean> {
    let params = gucs::quality_params();
    let max_payload = gucs::max_payload_bytes();
    let mut out = Vec::with_capacity(messages.len());
    let mut memo = Memo::default();
    let mut names = Names::default();
    for (i, m) in messages.iter().enumerate() {
        let mut reject = |reason: &'static str, detail: String| {
            dead.push(DeadLetter {
                message: i,
                reason,
                detail,
            })
        };
        if m.size() > m.payload.len() {
            reject(
                "payload_too_large",
                format!(
                    "{} bytes, of which the client passed on {}",
                    m.size(),
                    m.payload.len()
                ),
            );
            continue;
        }
        if m.size() > max_payload {
            reject(
                "payload_too_large",
                format!(
                    "{} bytes; telemetry.max_payload_bytes is {max_payload}",
                    m.size()
                ),
            );
            continue;
        }
        let Some((route, captures)) = route(&reg.routes, &m.topic) else {
            reject(
                "no_route",
                "no enabled route in telemetry.routes matches the topic".into(),
            );
            continue;
        };
        let decoded = match route.format {
            Format::Json => decode_json(&m.payload, &captures, &route.defaults(), &mut names),
            Format::SparkplugB => match sparkplug::parse_topic(&m.topic) {
                Some((kind, source)) => {
                    if kind == sparkplug::Kind::Birth {
                        aliases.born.insert(source.clone());
                    }
                    let known = aliases.known.entry(source.clone()).or_default();
                    sparkplug::decode(&m.payload, kind, &source, known)
                }
                None => Err(Rejection {
                    reason: Reason::Other("bad_topic"),
                    detail: "not a Sparkplug B topic: spBv1.0/group/type/edge_node[/device]".into(),
                }),
            },
        };
        let candidates = match decoded {
            Ok(c) => c,
            Err(Rejection { reason, detail }) => {
                reject(reason.code(), detail);
                continue;
            }
        };
        for candidate in candidates {
            match candidate
                .and_then(|c| clean_one(reg, &mut memo, route.unit.as_ref(), i, m, c, &params))
            {
                Ok(c) => out.push(c),
                Err(Rejection { reason, detail }) => reject(reason.code(), detail),
            }
        }
    }
    out
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
    let Some((rule, suffix_unit)) = reg.metrics.rule_with_unit(metric, &reg.units) else {
        return Err(fail(
            "unknown_metric",
            format!(
                "metric {} is not in telemetry.metric_rules",
                crate::errors::echo(metric)
            ),
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

fn clean_one<'r>(
    reg: &'r Registry,
    memo: &mut Memo<'r>,
    route_unit: Option<&Name>,
    message: usize,
    m: &Message,
    c: Candidate,
    params: &crate::quality::Params,
) -> Result<Clean, Rejection> {
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
    let time = c.time.unwrap_or(m.received_at);
    let assessment = assess(
        &Reading {
            rule: Some(r.rule),
            value: Some(value),
            has_source_time: c.time.is_some(),
            delay_s: c.time.map(|t| (m.received_at - t) as f64 / 1e6),
            previous: None,
            recent: None,
            source,
        },
        params,
    );
    let converted = if r.from.code != r.rule.unit {
        flag("converted")
    } else {
        0
    };
    Ok(Clean {
        message,
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
    let lookup =
        |client: &SpiClient<'_>, ix: &[usize]| -> Result<Vec<(usize, i32)>, pgrx::spi::Error> {
            let rows = client.select(
                "SELECT k.i, s.series_id
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
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
            "INSERT INTO telemetry.sites (site_id) SELECT DISTINCT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
            None,
            &[column(&new, |k| &k.0).into()],
        )?;
        client.update(
            "INSERT INTO telemetry.assets (site_id, asset_id)
             SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            None,
            &[column(&new, |k| &k.0).into(), column(&new, |k| &k.1).into()],
        )?;
        let created = client.update(
            "INSERT INTO telemetry.series (site_id, asset_id, sensor_id, metric)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
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
    let installed =
        Spi::get_one::<String>("SELECT extversion FROM pg_extension WHERE extname = 'telemetry'")
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

/// Run the pipeline over a batch of messages inside the current transaction.
pub fn run(messages: &[Message]) -> Counts {
    require_current_schema();
    let started = std::time::Instant::now();
    let reg = registry::get();
    let mut dead = Vec::new();
    let mut aliases = Spi::connect(|client| SparkplugAliases::load(client, messages))
        .unwrap_or_else(|e| internal(format!("cannot read telemetry.sparkplug_aliases: {e}")));
    let cleaned = clean(&reg, messages, &mut aliases, &mut dead);
    let mut counts = Counts {
        messages: messages.len() as i32,
        ..Counts::default()
    };
    let result = Spi::connect_mut(|client| -> Result<(), pgrx::spi::Error> {
        // Each reading's series key is hashed once, to its slot among the batch's distinct keys.
        let mut slots: FxHashMap<&SeriesKey, usize> =
            FxHashMap::with_capacity_and_hasher(messages.len(), Default::default());
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
        let id_of_slot = resolve_series(client, &reg, &distinct, &mut counts)?;
        let series: Vec<Option<i32>> = slot.iter().map(|&s| id_of_slot[s]).collect();

        // Within the batch the first reading of a (series, time) wins, as in the table.
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
                Some(&j) if cleaned[j].value.to_bits() == c.value.to_bits() => {
                    counts.duplicates += 1
                }
                Some(&j) => conflict(&mut dead, &mut counts, c, cleaned[j].value),
                None => {
                    first.insert((id, c.time), i);
                    rows.push(i);
                }
            }
        }

        // A payload event_id seen again within the window is a duplicate even with another
        // timestamp (a device that re-stamps what it resends).
        let repeated = repeated_events(client, &rows, &cleaned, &series)?;
        if !repeated.is_empty() {
            counts.duplicates += repeated.len() as i32;
            rows.retain(|i| !repeated.contains(i));
        }

        // One global order of index keys: two sessions inserting overlapping batches then wait
        // for each other instead of deadlocking.
        let id_of = |i: usize| series[i].unwrap_or_default();
        let mut keyed: Vec<(i32, i64, usize)> = rows
            .iter()
            .map(|&i| (id_of(i), cleaned[i].time, i))
            .collect();
        keyed.sort_unstable();
        let rows: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
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
        const INSERT: &str = "INSERT INTO telemetry.readings (time, value, series_id, quality, flags, source_quality)
             SELECT unnest($1::timestamptz[]), unnest($2::float8[]), unnest($3::int4[]),
                    unnest($4::float4[]), unnest($5::int4[]), unnest($6::int2[])";
        // Most batches hold no stored key, and a plain INSERT is about a third cheaper than
        // ON CONFLICT: try it in a subtransaction and fall back only on a unique violation.
        let plain = in_subtransaction(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, || {
            client.update(INSERT, None, &args).map(|t| t.len())
        });
        let inserted = match plain {
            Some(done) => {
                let times = rows.iter().map(|&i| cleaned[i].time);
                (counts.oldest, counts.newest) = (times.clone().min(), times.max());
                done?
            }
            None => {
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
                stored
            }
        };
        counts.readings = inserted as i32;

        // Some keys were already stored: a redelivery (same value, a harmless duplicate) or a
        // conflict (another value: the first stays, the newcomer is dead-lettered with both).
        // Only then is it worth asking which, so the common case costs nothing.
        if inserted < rows.len() {
            let mut differing: Vec<(usize, f64)> = client
                .select(
                    "SELECT k.i, r.value
                       FROM unnest($1::int4[], $2::timestamptz[], $3::float8[]) WITH ORDINALITY AS k (series_id, time, value, i)
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
                    Ok((usize::try_from(ordinal - 1).unwrap_or_default(), row.get::<f64>(2)?.unwrap_or(f64::NAN)))
                })
                .collect::<Result<_, pgrx::spi::Error>>()?;
            differing.sort_unstable_by_key(|&(k, _)| k);
            for &(k, stored) in &differing {
                conflict(&mut dead, &mut counts, &cleaned[rows[k]], stored);
            }
            counts.duplicates += (rows.len() - inserted - differing.len()) as i32;
        }

        aliases.save(client)?;
        write_dead_letters(client, messages, &dead)?;
        counts.dead_letters = dead.len() as i32;
        for d in &dead {
            *counts.reasons.entry(d.reason).or_default() += 1;
        }
        client.update(
            "INSERT INTO telemetry.ingest_batches (started_at, finished_at, messages, readings, duplicates,
                                                   conflicting_duplicates, dead_letters, series_created)
             VALUES (now(), now() + make_interval(secs => $1), $2, $3, $4, $5, $6, $7)",
            None,
            &[
                started.elapsed().as_secs_f64().into(),
                counts.messages.into(),
                counts.readings.into(),
                counts.duplicates.into(),
                counts.conflicting_duplicates.into(),
                counts.dead_letters.into(),
                counts.series_created.into(),
            ],
        )?;
        Ok(())
    });
    result.unwrap_or_else(|e| internal(format!("ingest failed: {e}")));
    counts
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
             SELECT s, e, now() FROM unnest($1::int4[], $2::text[]) AS k (s, e) ORDER BY s, e
             ON CONFLICT (series_id, event_id) DO UPDATE SET seen_at = EXCLUDED.seen_at
              WHERE r.seen_at < now() - make_interval(secs => $3)
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
        "DELETE FROM telemetry.recent_events WHERE seen_at < now() - make_interval(secs => $1)",
        None,
        &[f64::from(window).into()],
    )?;
    Ok(repeated)
}

/// Run `f` in a subtransaction, as PL/pgSQL runs a block with an EXCEPTION clause: `None` when
/// it failed with `code` and was rolled back; any other error propagates.
fn in_subtransaction<R>(code: PgSqlErrorCode, f: impl FnOnce() -> R) -> Option<R> {
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
        Some(out)
    }))
    .catch_when(code, |_| {
        unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
        restore();
        None
    })
    .catch_others(|e| {
        unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
        restore();
        e.rethrow()
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
            chrono::DateTime::from_timestamp_micros(c.time)
                .map_or_else(|| c.time.to_string(), |t| t.to_rfc3339()),
            c.value
        ),
    });
}

fn write_dead_letters(
    client: &mut SpiClient<'_>,
    messages: &[Message],
    dead: &[DeadLetter],
) -> Result<(), pgrx::spi::Error> {
    if dead.is_empty() {
        return Ok(());
    }
    let keep = gucs::dead_letter_max_payload();
    let msg = |d: &DeadLetter| &messages[d.message];
    client.update(
        "INSERT INTO telemetry.dead_letters (received_at, topic, payload, payload_bytes, reason, detail,
                                             packet_id, retained, redelivered)
         SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bytea[], $4::int4[], $5::text[], $6::text[],
                              $7::int4[], $8::bool[], $9::bool[])",
        None,
        &[
            dead.iter().map(|d| timestamp(msg(d).received_at)).collect::<Vec<_>>().into(),
            dead.iter().map(|d| msg(d).topic.clone()).collect::<Vec<_>>().into(),
            dead.iter().map(|d| msg(d).payload[..msg(d).payload.len().min(keep)].to_vec()).collect::<Vec<_>>().into(),
            dead.iter().map(|d| i32::try_from(msg(d).size()).unwrap_or(i32::MAX)).collect::<Vec<_>>().into(),
            dead.iter().map(|d| d.reason.to_string()).collect::<Vec<_>>().into(),
            dead.iter().map(|d| d.detail.clone()).collect::<Vec<_>>().into(),
            dead.iter().map(|d| msg(d).broker.packet_id).collect::<Vec<_>>().into(),
            dead.iter().map(|d| msg(d).broker.retained).collect::<Vec<_>>().into(),
            dead.iter().map(|d| msg(d).broker.redelivered).collect::<Vec<_>>().into(),
        ],
    )?;
    Ok(())
}

// pgrx reads the SQL signature from the literal return type, so both functions spell it out.
type CountsRow = (
    i32,
    i32,
    i32,
    i32,
    i32,
    pgrx::JsonB,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
);

fn counts_row(c: Counts) -> TableIterator<'static, CountsRow> {
    let reasons = c
        .reasons
        .iter()
        .map(|(reason, n)| (reason.to_string(), serde_json::Value::from(*n)))
        .collect();
    TableIterator::once((
        c.messages,
        c.readings,
        c.duplicates,
        c.conflicting_duplicates,
        c.dead_letters,
        pgrx::JsonB(serde_json::Value::Object(reasons)),
        c.oldest.map(timestamp),
        c.newest.map(timestamp),
    ))
}

/// Ingest one MQTT message: route, decode, clean, de-duplicate, store; returns the counts.
#[pg_extern(volatile, parallel_unsafe)]
fn ingest(
    topic: &str,
    payload: &[u8],
    received_at: default!(TimestampWithTimeZone, "now()"),
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
        received_at: unix_micros(received_at, "received_at"),
        topic: topic.to_string(),
        payload: payload.to_vec(),
        ..Message::default()
    };
    counts_row(run(std::slice::from_ref(&message)))
}

/// Rows written to `telemetry.inbox` by the current statement, and which statement that is:
/// a statement that failed leaves rows the next one must not take for its own.
type Statement = (i64, u32, u32);

thread_local! {
    static INBOX: std::cell::RefCell<(Option<Statement>, Vec<Message>)> =
        const { std::cell::RefCell::new((None, Vec::new())) };
}

fn current_statement() -> Statement {
    unsafe {
        (
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::GetCurrentSubTransactionId(),
            pg_sys::GetCurrentCommandId(false),
        )
    }
}

/// BEFORE INSERT row trigger on `telemetry.inbox`: keep the message for the statement's end
/// and store nothing, so the inbox never holds a row.
#[pg_trigger]
pub fn inbox_collect<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByRust>>, pgrx::PgTriggerError> {
    let Some(row) = trigger.new() else {
        return Ok(None);
    };
    // The inbox's own columns and types, so a failure here is the extension's own fault.
    fn column(e: pgrx::datum::TryFromDatumError) -> ! {
        internal(format!("telemetry.inbox: {e}"))
    }
    let message = Message {
        received_at: row
            .get_by_name::<TimestampWithTimeZone>("received_at")
            .unwrap_or_else(|e| column(e))
            .map_or_else(transaction_start, |t| unix_micros(t, "received_at")),
        topic: row
            .get_by_name::<String>("topic")
            .unwrap_or_else(|e| column(e))
            .unwrap_or_default(),
        payload: row
            .get_by_name::<&[u8]>("payload")
            .unwrap_or_else(|e| column(e))
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        payload_bytes: row
            .get_by_name::<i32>("payload_bytes")
            .unwrap_or_else(|e| column(e)),
        broker: Broker {
            packet_id: row
                .get_by_name::<i32>("packet_id")
                .unwrap_or_else(|e| column(e)),
            retained: row
                .get_by_name::<bool>("retained")
                .unwrap_or_else(|e| column(e)),
            redelivered: row
                .get_by_name::<bool>("redelivered")
                .unwrap_or_else(|e| column(e)),
        },
    };
    let statement = current_statement();
    INBOX.with(|inbox| {
        let mut inbox = inbox.borrow_mut();
        if inbox.0 != Some(statement) {
            *inbox = (Some(statement), Vec::new());
        }
        inbox.1.push(message);
    });
    Ok(None)
}

/// AFTER INSERT statement trigger on `telemetry.inbox`: run the statement's messages through
/// the pipeline as one batch.
#[pg_trigger]
pub fn inbox_flush<'a>(
    _trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByRust>>, pgrx::PgTriggerError> {
    let statement = current_statement();
    let (tag, messages) = INBOX.with(|inbox| std::mem::take(&mut *inbox.borrow_mut()));
    if tag == Some(statement) && !messages.is_empty() {
        run(&messages);
    }
    Ok(None)
}

/// This session's staging table, found by a catalog lookup rather than a query: it runs once
/// per batch.
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
        "timestamptz NOT NULL DEFAULT now()",
        pg_sys::TIMESTAMPTZOID,
    ),
    ("topic", "text NOT NULL", pg_sys::TEXTOID),
    ("payload", "bytea NOT NULL", pg_sys::BYTEAOID),
    ("payload_bytes", "integer", pg_sys::INT4OID),
    ("packet_id", "integer", pg_sys::INT4OID),
    ("retained", "boolean", pg_sys::BOOLOID),
    ("redelivered", "boolean", pg_sys::BOOLOID),
];

/// The staged messages in arrival order: a heap scan, since the table only grows within a
/// transaction and a temporary table is always scanned from its first block. Read through SPI
/// it took a tenth of a batch's time; a sequence column for the order made the COPY a fifth
/// slower.
fn read_staging(relid: pg_sys::Oid) -> Vec<Message> {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let mut out = Vec::new();
    unsafe {
        let rel = pg_sys::table_open(relid, lock);
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
            pg_sys::table_close(rel, lock);
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                "pg_temp.telemetry_staging does not have the columns telemetry.prepare_staging() gives it",
                "telemetry",
            )
            .set_hint("DROP TABLE pg_temp.telemetry_staging, then call telemetry.prepare_staging().")
            .report(PgLogLevel::ERROR);
        }
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
        let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsBufferHeapTuple);
        while pg_sys::heap_getnextslot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
            pg_sys::slot_getallattrs(slot);
            let values = std::slice::from_raw_parts((*slot).tts_values, STAGING_COLUMNS.len());
            let nulls = std::slice::from_raw_parts((*slot).tts_isnull, STAGING_COLUMNS.len());
            let get = |i: usize| (!nulls[i]).then_some(values[i]);
            out.push(Message {
                received_at: get(0)
                    .and_then(|d| TimestampWithTimeZone::from_datum(d, false))
                    .map_or_else(transaction_start, |t| unix_micros(t, "received_at")),
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
            });
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::heap_endscan(scan);
        pg_sys::table_close(rel, lock);
    }
    out
}

/// Create this session's staging table if needed: COPY raw messages into it, then call
/// `telemetry.ingest_staged()` in the same transaction. Rows never outlive the transaction.
#[pg_extern(volatile, parallel_unsafe)]
fn prepare_staging() -> String {
    if staging_relid().is_none() {
        let columns: Vec<String> = STAGING_COLUMNS
            .iter()
            .map(|(name, definition, _)| format!("{name} {definition}"))
            .collect();
        Spi::run(&format!(
            "CREATE TEMP TABLE telemetry_staging ({}) ON COMMIT DELETE ROWS",
            columns.join(", ")
        ))
        .unwrap_or_else(|e| internal(format!("cannot create the staging table: {e}")));
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
    ),
> {
    let Some(relid) = staging_relid() else {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            "this session has no staging table pg_temp.telemetry_staging",
            "telemetry",
        )
        .set_hint("Call telemetry.prepare_staging() in this session first, then COPY into pg_temp.telemetry_staging.")
        .report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    };
    let messages = read_staging(relid);
    Spi::run("TRUNCATE pg_temp.telemetry_staging")
        .unwrap_or_else(|e| internal(format!("cannot empty the staging table: {e}")));
    counts_row(run(&messages))
}
