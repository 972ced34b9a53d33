//! Dead letters: every message or reading the pipeline did not store, with why.
//!
//! A message is stored once in `telemetry.dead_letter_messages` (topic and payload cut to
//! bounds, their full sizes kept), however many of its readings were refused; each refusal is
//! a row of `telemetry.dead_letters` naming it. One message of 50,000 unknown metrics once
//! stored its 64 kB payload 50,000 times.

use pgrx::spi::SpiClient;

use crate::gucs;
use crate::plans;
use crate::time::{timestamp, transaction_start};
use telemetry_core::batch::Message;

pub use telemetry_core::batch::DeadLetter;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Write the dead letters of a batch: each message they name once, then one row per letter.
pub fn write(
    client: &mut SpiClient<'_>,
    messages: &[Message],
    dead: &[DeadLetter],
) -> Result<(), pgrx::spi::Error> {
    if dead.is_empty() {
        return Ok(());
    }
    let keep_payload = gucs::dead_letter_max_payload();
    let keep_topic = gucs::dead_letter_max_topic();
    let mut named: Vec<usize> = dead.iter().map(|d| d.message).collect();
    named.sort_unstable();
    named.dedup();
    let m = |i: &usize| &messages[*i];
    // An infinite received_at is itself a reason for a dead letter; the row keeps when it came.
    let received = |i: &usize| timestamp(m(i).received_at.unwrap_or_else(transaction_start));
    let size = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    // Message ids are drawn first, in batch order, so that each letter can name its message
    // within the same statement.
    plans::update(client,
        "WITH m AS MATERIALIZED (
           SELECT pg_catalog.nextval('telemetry.dead_letter_messages_message_id_seq') AS message_id, u.*
             FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int4[]), pg_catalog.unnest($2::pg_catalog.timestamptz[]),
                            pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.int4[]),
                            pg_catalog.unnest($5::pg_catalog.bytea[]), pg_catalog.unnest($6::pg_catalog.int4[]),
                            pg_catalog.unnest($7::pg_catalog.int4[]), pg_catalog.unnest($8::pg_catalog.bool[]),
                            pg_catalog.unnest($9::pg_catalog.bool[]))
                  AS u (i, received_at, topic, topic_bytes, payload, payload_bytes, packet_id, retained, redelivered)
         ), stored AS (
           INSERT INTO telemetry.dead_letter_messages (message_id, received_at, topic, topic_bytes, payload,
                                                       payload_bytes, packet_id, retained, redelivered)
           SELECT message_id, received_at, topic, topic_bytes, payload, payload_bytes, packet_id, retained, redelivered
             FROM m
         )
         INSERT INTO telemetry.dead_letters (message_id, received_at, reason, detail)
         SELECT m.message_id, m.received_at, d.reason, d.detail
           FROM ROWS FROM (pg_catalog.unnest($10::pg_catalog.int4[]), pg_catalog.unnest($11::pg_catalog.text[]), pg_catalog.unnest($12::pg_catalog.text[]))
                WITH ORDINALITY AS d (i, reason, detail, n)
           JOIN m USING (i)
          ORDER BY d.n",
        &[
            named.iter().map(|&i| size(i)).collect::<Vec<_>>().into(),
            named.iter().map(received).collect::<Vec<_>>().into(),
            named
                .iter()
                .map(|i| cut(&m(i).topic, keep_topic).to_string())
                .collect::<Vec<_>>()
                .into(),
            named.iter().map(|i| size(m(i).topic.len())).collect::<Vec<_>>().into(),
            named
                .iter()
                .map(|i| m(i).payload[..m(i).payload.len().min(keep_payload)].to_vec())
                .collect::<Vec<_>>()
                .into(),
            named.iter().map(|i| size(m(i).size())).collect::<Vec<_>>().into(),
            named.iter().map(|i| m(i).broker.packet_id).collect::<Vec<_>>().into(),
            named.iter().map(|i| m(i).broker.retained).collect::<Vec<_>>().into(),
            named.iter().map(|i| m(i).broker.redelivered).collect::<Vec<_>>().into(),
            dead.iter().map(|d| size(d.message)).collect::<Vec<_>>().into(),
            dead.iter().map(|d| d.reason.to_string()).collect::<Vec<_>>().into(),
            dead.iter().map(|d| d.detail.clone()).collect::<Vec<_>>().into(),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("", 0), "");
    }
}
