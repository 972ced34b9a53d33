//! Sparkplug session state, before and after a batch: the aliases each node and device declared
//! in its last birth are read for the nodes the batch names, and replaced for those born in it.
//! Aliases are any u64, so the column is numeric(20) and they travel as text.

use pgrx::spi::SpiClient;
use std::collections::HashMap;

use telemetry_core::batch::Message;
use telemetry_core::clean::SparkplugState;
use telemetry_core::sparkplug::{self, Source};

use crate::errors::internal;

/// Reading and writing `telemetry.sparkplug_aliases` for a batch.
pub trait Stored: Sized {
    fn load(client: &SpiClient<'_>, messages: &[Message]) -> Result<Self, pgrx::spi::Error>;
    fn save(&self, client: &mut SpiClient<'_>) -> Result<(), pgrx::spi::Error>;
}

impl Stored for SparkplugState {
    /// The stored aliases of every Sparkplug node and device the batch's topics name.
    fn load(client: &SpiClient<'_>, messages: &[Message]) -> Result<Self, pgrx::spi::Error> {
        let sources: std::collections::BTreeSet<Source> = messages
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
    fn a_born_node_s_aliases_are_replaced_and_read_back_whole() {
        let source = Source {
            group: "g".into(),
            edge_node: "e".into(),
            device: String::new(),
        };
        let mut state = SparkplugState::default();
        state.known.insert(
            source.clone(),
            HashMap::from([(u64::MAX, "pressure".to_string()), (0, "flow".to_string())]),
        );
        state.born.insert(source.clone());
        Spi::connect_mut(|client| state.save(client)).unwrap();
        let batch = [message("spBv1.0/g/NDATA/e"), message("other/topic")];
        let loaded = Spi::connect(|client| SparkplugState::load(client, &batch)).unwrap();
        assert_eq!(
            loaded.known[&source].get(&u64::MAX).map(String::as_str),
            Some("pressure")
        );
        assert_eq!(loaded.known[&source].len(), 2);
        assert!(loaded.born.is_empty(), "loading marks nothing as born");
    }
}
