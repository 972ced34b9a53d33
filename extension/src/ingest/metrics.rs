//! Register the metrics a batch met first (`telemetry.unknown_metrics = 'register'`), before
//! their series: each gets an unreviewed rule in the base unit of its dimension, with the
//! range its source declared if any, and a row in `telemetry.metric_registrations` saying how
//! it was first seen, for `telemetry.metrics_to_review`. Two sessions may register one metric
//! at once from readings of different dimensions: the first to commit wins, and the other's
//! readings of it, converted to a unit the rule does not have, become dead letters.

use pgrx::spi::SpiClient;

use telemetry_core::batch::{Clean, DeadLetter, Message};
use telemetry_core::clean::NewMetric;

use crate::dead_letters::cut;

/// How much of the first topic a registration keeps.
const TOPIC_BYTES: usize = 1024;

pub fn register(
    client: &mut SpiClient<'_>,
    messages: &[Message],
    new: &[NewMetric],
    cleaned: &mut Vec<Clean>,
    dead: &mut Vec<DeadLetter>,
) -> Result<(), pgrx::spi::Error> {
    if new.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = new.iter().map(|n| n.metric.to_string()).collect();
    let units: Vec<String> = new.iter().map(|n| n.unit.clone()).collect();
    // A declared range the wrong way round says nothing: it is dropped, not half kept.
    let ordered = |n: &NewMetric| match (n.range.low, n.range.high) {
        (Some(lo), Some(hi)) if lo > hi => (None, None),
        range => range,
    };
    let topic = |n: &NewMetric| {
        messages
            .get(n.message)
            .map(|m| cut(&m.topic, TOPIC_BYTES).to_string())
    };
    client.update(
        "WITH n AS (
           SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]),
                                    pg_catalog.unnest($3::pg_catalog.float8[]), pg_catalog.unnest($4::pg_catalog.float8[]),
                                    pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.text[]),
                                    pg_catalog.unnest($7::pg_catalog.float8[]))
                    AS n (metric, unit, lo, hi, topic, units_seen, example)
         ), added AS (
           INSERT INTO telemetry.metric_rules (metric, unit, valid_min, valid_max, reviewed, description)
           SELECT metric, unit, lo, hi, false, 'Registered by the pipeline on first sight' FROM n
           ON CONFLICT (metric) DO NOTHING
           RETURNING metric
         )
         INSERT INTO telemetry.metric_registrations (metric, first_topic, units_seen, example_value)
         SELECT n.metric, n.topic,
                (SELECT pg_catalog.array_agg(u) FROM pg_catalog.jsonb_array_elements_text(n.units_seen::pg_catalog.jsonb) AS u),
                n.example
           FROM added JOIN n USING (metric)",
        None,
        &[
            names.clone().into(),
            units.clone().into(),
            new.iter().map(|n| ordered(n).0).collect::<Vec<_>>().into(),
            new.iter().map(|n| ordered(n).1).collect::<Vec<_>>().into(),
            new.iter().map(topic).collect::<Vec<_>>().into(),
            new.iter()
                .map(|n| serde_json::Value::from(n.units_seen.iter().cloned().collect::<Vec<_>>()).to_string())
                .collect::<Vec<_>>()
                .into(),
            new.iter().map(|n| n.example).collect::<Vec<_>>().into(),
        ],
    )?;
    // Seen after the insert's statement: a rule another session committed meanwhile.
    let lost: Vec<(String, String)> = client
        .select(
            "SELECT n.metric, r.unit
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS n (metric, unit)
               JOIN telemetry.metric_rules r USING (metric)
              WHERE r.unit <> n.unit",
            None,
            &[names.into(), units.into()],
        )?
        .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default())))
        .collect::<Result<_, pgrx::spi::Error>>()?;
    if lost.is_empty() {
        return Ok(());
    }
    cleaned.retain(|c| match lost.iter().find(|(m, _)| *m == *c.key.3) {
        None => true,
        Some((metric, unit)) => {
            dead.push(DeadLetter {
                message: c.message,
                reason: "incompatible_unit",
                detail: format!(
                    "metric {metric} was registered in {unit} by another session at the same time, from readings of another dimension"
                ),
            });
            false
        }
    });
    Ok(())
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::super::test_support::reading;
    use super::*;
    use pgrx::prelude::*;
    use telemetry_core::names::Name;
    use telemetry_core::payload::Declared;

    fn new(metric: &str, unit: &str, range: Declared) -> NewMetric {
        NewMetric {
            metric: Name::from(metric),
            unit: unit.into(),
            units_seen: ["[degF]".to_string()].into(),
            example: Some(373.15),
            message: 0,
            range,
        }
    }

    #[pg_test]
    fn a_new_metric_is_registered_once_and_a_lost_race_is_dead_lettered() {
        let messages = [Message {
            topic: "telemetry/s/a/lube_temp".into(),
            ..Message::default()
        }];
        let backwards = Declared {
            low: Some(10.0),
            high: Some(0.0),
        };
        let mut cleaned = vec![reading("s", "lube_temp")];
        let mut dead = Vec::new();
        Spi::connect_mut(|c| {
            register(
                c,
                &messages,
                &[new("lube_temp", "K", backwards)],
                &mut cleaned,
                &mut dead,
            )
        })
        .unwrap();
        assert!(dead.is_empty());
        assert_eq!(
            Spi::get_two::<String, bool>(
                "SELECT unit, reviewed FROM telemetry.metric_rules WHERE metric = 'lube_temp' AND valid_min IS NULL"
            ),
            Ok((Some("K".into()), Some(false))),
            "registered unreviewed, and a range the wrong way round is dropped"
        );
        assert_eq!(
            Spi::get_two::<String, String>(
                "SELECT first_topic, units_seen::text FROM telemetry.metric_registrations WHERE metric = 'lube_temp'"
            ),
            Ok((Some("telemetry/s/a/lube_temp".into()), Some("{[degF]}".into())))
        );
        // Another session registered it in another unit first: these readings cannot be stored.
        let mut cleaned = vec![reading("s", "lube_temp"), reading("s", "pressure")];
        Spi::connect_mut(|c| {
            register(
                c,
                &messages,
                &[new("lube_temp", "1", Declared::default())],
                &mut cleaned,
                &mut dead,
            )
        })
        .unwrap();
        assert_eq!(cleaned.len(), 1);
        assert_eq!((dead.len(), dead[0].reason), (1, "incompatible_unit"));
    }
}
