//! Dead-letter replay: stored dead letters run through the pipeline again, for example once a
//! DBA has added the rule, alias, unit or route they lacked, or a Sparkplug node has rebirthed.
//!
//! Each chosen message is taken out of `telemetry.dead_letter_messages` (its dead letters go
//! with it) and ingested as it first arrived, with its `received_at`: what still fails is
//! dead-lettered again, as a new message, and a reading the first attempt stored counts as a
//! duplicate, so nothing is stored twice however often a message is replayed. Messages whose
//! topic or payload the dead letter cut cannot be replayed; they are counted and left.

use pgrx::prelude::*;

use crate::errors::{internal, invalid_parameter};
use crate::ingest::{counts_row, run, Broker, Counts, CountsRow, Message};
use crate::time::unix_micros_checked;

/// The filter the caller chose, as SQL arguments $1..$4, and the part of the WHERE clause that
/// applies it to `m`, a row of `telemetry.dead_letter_messages`.
const CHOSEN: &str = "($1::pg_catalog.text IS NULL OR EXISTS (SELECT FROM telemetry.dead_letters d
                        WHERE d.message_id = m.message_id AND d.reason = $1))
     AND ($2::pg_catalog.text IS NULL OR m.topic LIKE $2)
     AND ($3::pg_catalog.timestamptz IS NULL OR m.received_at >= $3)
     AND ($4::pg_catalog.timestamptz IS NULL OR m.received_at < $4)";

/// A message the dead letter kept whole.
const WHOLE: &str = "(m.topic_bytes IS NULL OR m.topic_bytes <= pg_catalog.octet_length(m.topic))
     AND coalesce(m.payload_bytes, 0) <= coalesce(pg_catalog.octet_length(m.payload), 0)";

/// The messages the caller chose.
struct Filter<'a> {
    reason: Option<&'a str>,
    topic_like: Option<&'a str>,
    received_after: Option<TimestampWithTimeZone>,
    received_before: Option<TimestampWithTimeZone>,
}

impl<'a> Filter<'a> {
    fn args(&self) -> Vec<pgrx::datum::DatumWithOid<'a>> {
        vec![
            self.reason.into(),
            self.topic_like.into(),
            self.received_after.into(),
            self.received_before.into(),
        ]
    }
}

fn count(sql: &str, filter: &Filter) -> i64 {
    Spi::get_one_with_args::<i64>(sql, &filter.args())
        .unwrap_or_else(|e| internal(format!("cannot count dead letters: {e}")))
        .unwrap_or(0)
}

/// Take up to `limit` chosen messages with ids in (after, upto] out of the dead letters, in
/// arrival order. A replay running at the same time waits on the rows this one deletes and
/// then finds them gone, so no message is replayed twice at once.
fn take(filter: &Filter, after: i64, upto: i64, limit: i32) -> Vec<(i64, Message)> {
    let sql = format!(
        "WITH chosen AS (
           SELECT m.message_id FROM telemetry.dead_letter_messages m
            WHERE m.message_id > $5 AND m.message_id <= $6 AND {CHOSEN} AND {WHOLE}
            ORDER BY m.message_id LIMIT $7)
         DELETE FROM telemetry.dead_letter_messages m USING chosen WHERE m.message_id = chosen.message_id
         RETURNING m.message_id, m.received_at, m.topic, m.payload, m.packet_id, m.retained, m.redelivered"
    );
    let mut args = filter.args();
    args.extend([after.into(), upto.into(), limit.into()]);
    let mut taken = Spi::connect_mut(|client| {
        client
            .update(&sql, None, &args)?
            .map(|row| {
                let received_at = row
                    .get::<TimestampWithTimeZone>(2)?
                    .and_then(unix_micros_checked);
                Ok((
                    row.get::<i64>(1)?.unwrap_or_default(),
                    Message {
                        received_at,
                        topic: row.get::<String>(3)?.unwrap_or_default(),
                        payload: row.get::<Vec<u8>>(4)?.unwrap_or_default(),
                        payload_bytes: None,
                        broker: Broker {
                            packet_id: row.get::<i32>(5)?,
                            retained: row.get::<bool>(6)?,
                            redelivered: row.get::<bool>(7)?,
                        },
                    },
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| internal(format!("cannot take dead letters for replay: {e}")));
    taken.sort_by_key(|(id, _)| *id);
    taken
}

/// Run stored dead letters through the pipeline again: the messages with a dead letter of
/// `reason`, a topic `LIKE topic_like`, received in [received_after, received_before), NULL
/// meaning any, `batch_size` messages per batch. Returns what `telemetry.ingest` returns for
/// all of them, and how many chosen messages could not be replayed because the dead letter cut
/// their topic or payload.
#[pg_extern(volatile, parallel_unsafe)]
fn replay_dead_letters(
    reason: default!(Option<&str>, "NULL"),
    topic_like: default!(Option<&str>, "NULL"),
    received_after: default!(Option<TimestampWithTimeZone>, "NULL"),
    received_before: default!(Option<TimestampWithTimeZone>, "NULL"),
    batch_size: default!(i32, 1000),
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
        name!(not_replayable, i64),
    ),
> {
    if batch_size < 1 {
        invalid_parameter(
            format!("batch_size must be at least 1, not {batch_size}"),
            None,
        );
    }
    let filter = Filter {
        reason,
        topic_like,
        received_after,
        received_before,
    };
    // Messages dead-lettered again during the replay come after this id and are left alone.
    let upto = Spi::get_one::<i64>("SELECT max(message_id) FROM telemetry.dead_letter_messages")
        .unwrap_or_else(|e| internal(format!("cannot read the dead letters: {e}")))
        .unwrap_or(0);
    let base =
        format!("SELECT pg_catalog.count(*) FROM telemetry.dead_letter_messages m WHERE {CHOSEN}");
    let not_replayable = count(&format!("{base} AND NOT ({WHOLE})"), &filter);
    let total = count(&format!("{base} AND {WHOLE}"), &filter);
    let (mut counts, mut after) = (Counts::default(), 0_i64);
    loop {
        let taken = take(&filter, after, upto, batch_size);
        let Some(&(last, _)) = taken.last() else {
            break;
        };
        after = last;
        let messages: Vec<Message> = taken.into_iter().map(|(_, m)| m).collect();
        counts.absorb(run(&messages));
        if total > i64::from(batch_size) {
            notice!(
                "replayed {} of {total} dead-lettered messages",
                counts.messages
            );
        }
    }
    let row: CountsRow = counts_row(counts);
    let (a, b, c, d, e, f, g, h, i) = row;
    TableIterator::once((a, b, c, d, e, f, g, h, i, not_replayable))
}
