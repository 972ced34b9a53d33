//! Sparkplug session state, before and after a batch: what each node and device declared in
//! its last birth (aliases, `engUnit`, `engLow`, `engHigh`) is read for the nodes the batch
//! names, and replaced for those born in it. Aliases are any u64, so the column is
//! numeric(20) and they travel as text.

use pgrx::spi::SpiClient;
use std::collections::BTreeSet;

use telemetry_core::batch::Message;
use telemetry_core::clean::SparkplugState;
use telemetry_core::payload::Declared;
use telemetry_core::sparkplug::{self, Births, Declaration, Source};

use crate::errors::internal;
use crate::plans;
use crate::time::{timestamp, unix_micros_checked};

/// Reading and writing `telemetry.sparkplug_metrics` for a batch.
pub trait Stored: Sized {
    fn load(client: &SpiClient<'_>, messages: &[Message]) -> Result<Self, pgrx::spi::Error>;
    fn save(&self, client: &mut SpiClient<'_>) -> Result<(), pgrx::spi::Error>;
}

fn alias_of(text: Option<String>) -> Option<u64> {
    let text = text?;
    match text.parse::<u64>() {
        Ok(a) => Some(a),
        Err(_) => internal(format!(
            "telemetry.sparkplug_metrics holds alias {text}, not a u64"
        )),
    }
}

impl Stored for SparkplugState {
    /// What the last births of every Sparkplug node and device the batch's topics name declared.
    fn load(client: &SpiClient<'_>, messages: &[Message]) -> Result<Self, pgrx::spi::Error> {
        let sources: BTreeSet<Source> = messages
            .iter()
            .filter_map(|m| sparkplug::parse_topic(&m.topic))
            .map(|(_, s)| s)
            .collect();
        let mut out = SparkplugState::default();
        if sources.is_empty() {
            return Ok(out);
        }
        let column =
            |f: fn(&Source) -> &String| sources.iter().map(|s| f(s).clone()).collect::<Vec<_>>();
        let rows = plans::select(client,
            "SELECT a.group_id, a.edge_node_id, a.device_id, a.metric, a.alias::pg_catalog.text,
                    a.unit, a.eng_low, a.eng_high, a.born_at
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))
                    AS k (group_id, edge_node_id, device_id)
               JOIN telemetry.sparkplug_metrics a USING (group_id, edge_node_id, device_id)",
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
            let declaration = Declaration {
                alias: alias_of(row.get::<String>(5)?),
                unit: row.get::<String>(6)?,
                range: Declared {
                    low: row.get::<f64>(7)?,
                    high: row.get::<f64>(8)?,
                },
            };
            if let Some(t) = row.get::<pgrx::datum::TimestampWithTimeZone>(9)? {
                if let Some(t) = unix_micros_checked(t) {
                    out.born_at.insert(source.clone(), t);
                }
            }
            out.known
                .entry(source)
                .or_default()
                .declare(row.get::<String>(4)?.unwrap_or_default(), declaration);
        }
        Ok(out)
    }

    /// Replace what every node and device born in this batch declared.
    fn save(&self, client: &mut SpiClient<'_>) -> Result<(), pgrx::spi::Error> {
        for source in &self.born {
            let none = Births::default();
            let births = self.known.get(source).unwrap_or(&none);
            let args = || -> [pgrx::datum::DatumWithOid<'static>; 3] {
                [
                    source.group.clone().into(),
                    source.edge_node.clone().into(),
                    source.device.clone().into(),
                ]
            };
            plans::update(
                client,
                "DELETE FROM telemetry.sparkplug_metrics
                  WHERE group_id = $1 AND edge_node_id = $2 AND device_id = $3",
                &args(),
            )?;
            let born_at = self.born_at.get(source).copied().map(timestamp);
            let [g, e, d] = args();
            let declared: Vec<(&String, &Declaration)> = births.iter().collect();
            plans::update(client,
                "INSERT INTO telemetry.sparkplug_metrics
                        (group_id, edge_node_id, device_id, metric, alias, unit, eng_low, eng_high, born_at)
                 SELECT $1, $2, $3, m, a::pg_catalog.numeric, u, lo, hi, coalesce($9, pg_catalog.now())
                   FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.text[]), pg_catalog.unnest($5::pg_catalog.text[]),
                                   pg_catalog.unnest($6::pg_catalog.text[]), pg_catalog.unnest($7::pg_catalog.float8[]),
                                   pg_catalog.unnest($8::pg_catalog.float8[])) AS x (m, a, u, lo, hi)",
                &[
                    g,
                    e,
                    d,
                    declared.iter().map(|(m, _)| (*m).clone()).collect::<Vec<_>>().into(),
                    declared
                        .iter()
                        .map(|(_, x)| x.alias.map(|a| a.to_string()))
                        .collect::<Vec<_>>()
                        .into(),
                    declared.iter().map(|(_, x)| x.unit.clone()).collect::<Vec<_>>().into(),
                    declared.iter().map(|(_, x)| x.range.low).collect::<Vec<_>>().into(),
                    declared.iter().map(|(_, x)| x.range.high).collect::<Vec<_>>().into(),
                    born_at.into(),
                ],
            )?;
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    fn message(topic: &str) -> Message {
        Message {
            topic: topic.into(),
            ..Message::default()
        }
    }

    #[pg_test]
    fn a_born_node_s_declarations_are_replaced_and_read_back_whole() {
        let source = Source {
            group: "g".into(),
            edge_node: "e".into(),
            device: String::new(),
        };
        let mut births = Births::default();
        births.declare(
            "pressure".into(),
            Declaration {
                alias: Some(u64::MAX),
                unit: Some("bar".into()),
                range: Declared {
                    low: Some(0.0),
                    high: None,
                },
            },
        );
        births.declare("flow".into(), Declaration::default());
        let mut state = SparkplugState::default();
        state.known.insert(source.clone(), births.clone());
        state.born.insert(source.clone());
        Spi::connect_mut(|client| state.save(client)).unwrap();
        let batch = [message("spBv1.0/g/NDATA/e"), message("other/topic")];
        let loaded = Spi::connect(|client| SparkplugState::load(client, &batch)).unwrap();
        assert_eq!(loaded.known[&source], births);
        assert!(loaded.born_at.contains_key(&source));
        assert!(loaded.born.is_empty(), "loading marks nothing as born");
    }
}
