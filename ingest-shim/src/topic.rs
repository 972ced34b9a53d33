//! The topic template of alarm messages (`alarms.topic`, default `alarms/{site_id}/{severity}`):
//! text with placeholders, each filled from the event as one topic level.

use std::fmt;
use std::str::FromStr;

/// The placeholders: fields of the event's message.
pub const FIELDS: [&str; 10] = [
    "site_id",
    "severity",
    "asset_id",
    "sensor_id",
    "metric",
    "kind",
    "rule",
    "rule_id",
    "series_id",
    "event_id",
];

/// A placeholder whose field the message does not have (a sensor id, say) becomes this.
const MISSING: &str = "none";

/// A template whose placeholders are all known and whose text makes a valid topic name.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Template(String);

impl Template {
    /// The topic for one event; `field` gives a field's value, None when it has none. Characters
    /// that would change the topic's levels or make it invalid (`/`, `+`, `#`, NUL) become `_`.
    pub fn render(&self, field: impl Fn(&str) -> Option<String>) -> String {
        let level = |name: &str| {
            let value = field(name).filter(|v| !v.is_empty());
            let value = value.unwrap_or_else(|| MISSING.into());
            Ok(value.replace(['/', '+', '#', '\0'], "_"))
        };
        expand(&self.0, level).unwrap_or_default()
    }
}

/// The template with each `{name}` replaced by `value(name)`.
fn expand(
    template: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close =
            (rest[open..].find('}')).ok_or_else(|| format!("unclosed {{ in {template:?}"))?;
        out.push_str(&value(&rest[open + 1..open + close])?);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Default for Template {
    fn default() -> Template {
        Template("alarms/{site_id}/{severity}".into())
    }
}

impl FromStr for Template {
    type Err = String;

    fn from_str(template: &str) -> Result<Template, String> {
        let known = |name: &str| match FIELDS.contains(&name) {
            true => Ok("x".to_owned()),
            false => Err(format!(
                "unknown placeholder {{{name}}} in {template:?}; known: {}",
                FIELDS.map(|f| format!("{{{f}}}")).join(", ")
            )),
        };
        let text = expand(template, known)?;
        if text.is_empty() || text.contains(['+', '#', '\0', '}']) || text.starts_with('$') {
            return Err(format!("{template:?} does not make a topic name: it must not be empty, begin with $ or hold +, #, NUL or a lone }}"));
        }
        Ok(Template(template.to_owned()))
    }
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(template: String) -> Result<Template, String> {
        template.parse()
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_each_placeholder_with_one_level() {
        let template: Template = "alarms/{site_id}/{severity}".parse().unwrap();
        let fields = |name: &str| match name {
            "site_id" => Some("plant/1+#".to_owned()),
            "severity" => Some("critical".to_owned()),
            _ => None,
        };
        assert_eq!(template.render(fields), "alarms/plant_1__/critical");
        assert_eq!(template, Template::default());
        let more: Template = "x/{asset_id}-{event_id}/{sensor_id}".parse().unwrap();
        let fields = |name: &str| match name {
            "asset_id" => Some("pump-7".to_owned()),
            "event_id" => Some("42".to_owned()),
            _ => Some(String::new()),
        };
        assert_eq!(more.render(fields), "x/pump-7-42/none");
        assert_eq!(
            "fixed/topic".parse::<Template>().unwrap().render(|_| None),
            "fixed/topic"
        );
    }

    #[test]
    fn refuses_unknown_placeholders_and_invalid_topics() {
        for (template, error) in [
            ("alarms/{site}", "unknown placeholder {site}"),
            ("alarms/{site_id", "unclosed {"),
            ("alarms/#", "does not make a topic name"),
            ("alarms/+/{severity}", "does not make a topic name"),
            ("alarms/}", "does not make a topic name"),
            ("$SYS/{site_id}", "does not make a topic name"),
            ("", "does not make a topic name"),
        ] {
            let refused = template.parse::<Template>().unwrap_err();
            assert!(refused.contains(error), "{template}: {refused}");
        }
    }
}
