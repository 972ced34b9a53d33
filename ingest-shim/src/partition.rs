//! Which writer a message goes to. Its key is made of some of its topic's levels, so that what
//! must stay in order goes through one writer, in arrival order: a device's series, and all
//! of a Sparkplug edge node (its BIRTHs before its DATA, which are on other topics).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde::Deserialize;

/// A `[[partition]]` of the configuration: topics that match `filter` are keyed by `levels`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// An MQTT topic filter, with `+` and `#`.
    pub filter: String,
    /// Indexes of topic levels, from 0, taken in topic order; a level the topic lacks is left
    /// out.
    pub levels: Vec<usize>,
}

/// The topic layouts of the extension's built-in routes, each keyed by its device.
const DEFAULTS: [(&str, &[usize]); 5] = [
    // spBv1.0/{group}/{type}/{edge_node}[/{device}]: the edge node, births and data alike.
    ("spBv1.0/#", &[1, 3]),
    // telemetry/{site}/{asset}/{metric}
    ("telemetry/+/+/+", &[0, 1, 2]),
    // site/{site}/{asset_type}/{asset}/{metric}
    ("site/+/+/+/+", &[0, 1, 2, 3]),
    // site/{site}/telemetry: one message carries the metrics of many assets.
    ("site/+/telemetry", &[0, 1]),
    ("smart-dairy/+/sensors/#", &[0, 1]),
];

pub fn defaults() -> impl Iterator<Item = Rule> {
    DEFAULTS
        .map(|(filter, levels)| Rule {
            filter: filter.into(),
            levels: levels.to_vec(),
        })
        .into_iter()
}

impl Rule {
    /// Why the rule can never key a topic as it says, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let levels: Vec<&str> = self.filter.split('/').collect();
        let last = levels.len() - 1;
        let misplaced = |(i, level): (usize, &&str)| match *level {
            "#" => i != last,
            "+" => false,
            level => level.contains(['+', '#']),
        };
        let problem = if levels.iter().enumerate().any(misplaced) {
            "+ and # must be whole levels, and # the last"
        } else if self.levels.is_empty() {
            "levels must not be empty"
        } else if levels[last] != "#" && self.levels.iter().any(|&i| i > last) {
            "a level is beyond the last of the filter"
        } else {
            return None;
        };
        Some(format!("partition {:?}: {problem}", self.filter))
    }
}

/// The rules in the order they are tried; the first that matches a topic keys it. A topic no
/// rule matches is keyed by all its levels but the last (usually the metric).
pub struct Partitioner(pub Vec<Rule>);

impl Partitioner {
    /// The levels of the topic that make its key.
    pub fn key<'t>(&self, topic: &'t str) -> impl Iterator<Item = &'t str> + use<'t, '_> {
        let rule = self.0.iter().find(|r| matches(&r.filter, topic));
        let count = topic.split('/').count();
        let keep = move |i: &usize| rule.map_or(i + 1 < count, |r| r.levels.contains(i));
        (topic.split('/').enumerate())
            .filter(move |(i, _)| keep(i))
            .map(|(_, level)| level)
    }

    /// Which of `writers` the topic goes to.
    pub fn writer(&self, topic: &str, writers: usize) -> usize {
        let mut hasher = DefaultHasher::new();
        self.key(topic).for_each(|level| level.hash(&mut hasher));
        (hasher.finish() % writers as u64) as usize
    }
}

/// Whether an MQTT topic filter matches a topic name. As for subscriptions, a wildcard does not
/// match a first level that starts with `$`.
fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(level)) if f == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(partitioner: &Partitioner, topic: &str) -> String {
        partitioner.key(topic).collect::<Vec<_>>().join("/")
    }

    #[test]
    fn the_shipped_layouts_are_keyed_by_device() {
        let p = Partitioner(defaults().collect());
        for (topic, expected) in [
            ("spBv1.0/plant/NBIRTH/node-1", "plant/node-1"),
            ("spBv1.0/plant/DBIRTH/node-1/inv-1", "plant/node-1"),
            ("spBv1.0/plant/DDATA/node-1/inv-2", "plant/node-1"),
            ("spBv1.0/plant/NDEATH/node-1", "plant/node-1"),
            ("telemetry/s1/pump-1/pressure", "telemetry/s1/pump-1"),
            ("site/s1/inverter/inv-1/ac_power", "site/s1/inverter/inv-1"),
            ("site/s1/telemetry", "site/s1"),
            ("smart-dairy/farm-1/sensors/barn/temp", "smart-dairy/farm-1"),
            ("smart-dairy/farm-1/sensors", "smart-dairy/farm-1"),
            // No rule: all but the last level.
            ("plant/line-3/motor-2/vibration", "plant/line-3/motor-2"),
            ("single", ""),
        ] {
            assert_eq!(key(&p, topic), expected, "{topic}");
        }
        // Births and data of one edge node, and its devices, go to one writer.
        let writer = p.writer("spBv1.0/plant/NBIRTH/node-1", 7);
        for topic in [
            "spBv1.0/plant/DBIRTH/node-1/a",
            "spBv1.0/plant/DDATA/node-1/b",
        ] {
            assert_eq!(p.writer(topic, 7), writer);
        }
    }

    #[test]
    fn configured_rules_come_first_and_the_first_match_wins() {
        let mut rules = vec![
            Rule {
                filter: "factory/+/line/#".into(),
                levels: vec![1, 3],
            },
            Rule {
                filter: "factory/#".into(),
                levels: vec![0],
            },
        ];
        rules.extend(defaults());
        let p = Partitioner(rules);
        assert_eq!(key(&p, "factory/f1/line/l2/robot/torque"), "f1/l2");
        assert_eq!(key(&p, "factory/f1/hall/temp"), "factory");
        assert_eq!(
            key(&p, "factory/f1/line"),
            "f1",
            "a missing level is left out"
        );
        assert_eq!(key(&p, "spBv1.0/g/DDATA/e/d"), "g/e");
    }

    #[test]
    fn filters_match_as_subscriptions_do() {
        for (filter, topic, expected) in [
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+/c", "a//c", true),
            ("a/b", "a/b/c", false),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
        ] {
            assert_eq!(matches(filter, topic), expected, "{filter} {topic}");
        }
    }

    #[test]
    fn rules_that_cannot_work_are_refused() {
        let rule = |filter: &str, levels: &[usize]| Rule {
            filter: filter.into(),
            levels: levels.to_vec(),
        };
        assert!(defaults().all(|r| r.problem().is_none()));
        assert!(rule("a/#/b", &[0])
            .problem()
            .unwrap()
            .contains("whole levels"));
        assert!(rule("a/b+", &[0]).problem().is_some());
        assert!(rule("a/+", &[]).problem().unwrap().contains("empty"));
        assert!(rule("a/+", &[2]).problem().unwrap().contains("beyond"));
        assert!(rule("a/#", &[5]).problem().is_none());
    }
}
