//! Topic routes: MQTT topic patterns that say where site, asset, sensor and metric come from.
//!
//! A pattern is MQTT topic levels separated by `/`: a literal level, `+` (any one level), `#`
//! (any rest, last only) or `{name}` (any one level, captured). `{site_id}`, `{asset_id}`,
//! `{sensor_id}` and `{metric}` fill those fields; any other name (`{asset_type}`, `{group}`)
//! matches but is not used.

use crate::names::{echo, Name};

#[derive(Debug, Clone, PartialEq)]
enum Level {
    Literal(String),
    Capture(Option<Field>),
    Plus,
    Hash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Site,
    Asset,
    Sensor,
    Metric,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    levels: Vec<Level>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    SparkplugB,
}

/// A row of `telemetry.routes`: its pattern and the fixed values it gives readings whose topic
/// and payload leave a field open.
#[derive(Debug, Clone)]
pub struct Route {
    pub pattern: Pattern,
    pub format: Format,
    pub site: Option<String>,
    pub asset: Option<String>,
    pub sensor: Option<String>,
    pub metric: Option<String>,
    pub unit: Option<Name>,
}

impl Route {
    pub fn defaults(&self) -> Captures<'_> {
        Captures {
            site: self.site.as_deref(),
            asset: self.asset.as_deref(),
            sensor: self.sensor.as_deref(),
            metric: self.metric.as_deref(),
        }
    }
}

/// The first route, in priority order, whose pattern matches the topic.
pub fn route<'r, 't>(routes: &'r [Route], topic: &'t str) -> Option<(&'r Route, Captures<'t>)> {
    routes
        .iter()
        .find_map(|r| r.pattern.captures(topic).map(|c| (r, c)))
}

/// What a matching topic said about its readings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Captures<'t> {
    pub site: Option<&'t str>,
    pub asset: Option<&'t str>,
    pub sensor: Option<&'t str>,
    pub metric: Option<&'t str>,
}

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        if pattern.is_empty() || pattern.len() > 1024 {
            return Err(format!(
                "a route pattern needs 1 to 1024 bytes, got {}",
                pattern.len()
            ));
        }
        let parts: Vec<&str> = pattern.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" => Level::Plus,
                "#" if i + 1 == parts.len() => Level::Hash,
                "#" => return Err("# may only be the last level".into()),
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                    Level::Capture(match &p[1..p.len() - 1] {
                        "site_id" => Some(Field::Site),
                        "asset_id" => Some(Field::Asset),
                        "sensor_id" => Some(Field::Sensor),
                        "metric" => Some(Field::Metric),
                        name if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => None,
                        name => {
                            return Err(format!("capture name {} is not a plain word", echo(name)))
                        }
                    })
                }
                p if p.contains(['+', '#', '{', '}']) => {
                    return Err(format!(
                        "level {} mixes a wildcard or capture with text",
                        echo(p)
                    ))
                }
                p => Level::Literal(p.to_string()),
            };
            levels.push(level);
        }
        Ok(Pattern { levels })
    }

    /// Match a topic; `None` when it does not match.
    pub fn captures<'t>(&self, topic: &'t str) -> Option<Captures<'t>> {
        let mut out = Captures::default();
        let mut parts = topic.split('/');
        for level in &self.levels {
            if *level == Level::Hash {
                return Some(out);
            }
            let part = parts.next()?;
            match level {
                Level::Literal(l) if l != part => return None,
                Level::Capture(field) if !part.is_empty() => match field {
                    Some(Field::Site) => out.site = Some(part),
                    Some(Field::Asset) => out.asset = Some(part),
                    Some(Field::Sensor) => out.sensor = Some(part),
                    Some(Field::Metric) => out.metric = Some(part),
                    None => {}
                },
                Level::Capture(_) => return None,
                _ => {}
            }
        }
        parts.next().is_none().then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_topic_layouts() {
        let p = Pattern::parse("telemetry/{site_id}/{asset_id}/{metric}").unwrap();
        let c = p
            .captures("telemetry/site-001/asset-001/TEMPERATURE")
            .unwrap();
        assert_eq!(
            (c.site, c.asset, c.metric),
            (Some("site-001"), Some("asset-001"), Some("TEMPERATURE"))
        );
        assert!(p.captures("telemetry/site-001/asset-001").is_none());
        assert!(p.captures("telemetry/site-001/asset-001/x/y").is_none());
        assert!(p.captures("other/site-001/asset-001/x").is_none());

        let p = Pattern::parse("site/{site_id}/{asset_type}/{asset_id}/{metric}").unwrap();
        let c = p.captures("site/ALPHA-001/inverter/INV-01/power").unwrap();
        assert_eq!(
            (c.site, c.asset, c.metric),
            (Some("ALPHA-001"), Some("INV-01"), Some("power"))
        );

        let p = Pattern::parse("smart-dairy/{site_id}/sensors/#").unwrap();
        assert_eq!(
            p.captures("smart-dairy/farm-1/sensors/barn/3")
                .unwrap()
                .site,
            Some("farm-1")
        );
        assert_eq!(
            p.captures("smart-dairy/farm-1/sensors").unwrap().site,
            Some("farm-1")
        );

        let p = Pattern::parse("spBv1.0/{group}/DDATA/{edge_node}/{asset_id}").unwrap();
        assert_eq!(
            p.captures("spBv1.0/g1/DDATA/edge1/pump-7").unwrap().asset,
            Some("pump-7")
        );
    }

    #[test]
    fn wildcards() {
        let p = Pattern::parse("a/+/c").unwrap();
        assert!(p.captures("a/b/c").is_some());
        assert!(p.captures("a//c").is_some());
        assert!(p.captures("a/b/d").is_none());
        assert!(Pattern::parse("#")
            .unwrap()
            .captures("anything/at/all")
            .is_some());
    }

    #[test]
    fn empty_levels_do_not_capture() {
        let p = Pattern::parse("t/{site_id}/x").unwrap();
        assert!(p.captures("t//x").is_none());
    }

    #[test]
    fn bad_patterns() {
        for bad in ["", "a/#/b", "a/b+/c", "a/{site id}/c", "a/x{site_id}/c"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse(&"a/".repeat(600)).is_err());
    }
}
