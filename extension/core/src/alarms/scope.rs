//! Which series a rule watches: site, asset, sensor, a metric or a LIKE pattern of metrics, or
//! one series. A scope field that is `None` matches anything; the others must all match.

use crate::batch::SeriesKey;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub site: Option<String>,
    pub asset: Option<String>,
    pub sensor: Option<String>,
    /// A metric, or a pattern with SQL LIKE's `%` (any run) and `_` (any one character).
    pub metric: Option<String>,
    pub series_id: Option<i32>,
}

impl Scope {
    pub fn matches(&self, key: &SeriesKey, series_id: i32) -> bool {
        let field = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.series_id.is_none_or(|id| id == series_id)
            && field(&self.site, &key.0)
            && field(&self.asset, &key.1)
            && field(&self.sensor, &key.2)
            && self.metric.as_deref().is_none_or(|p| like(p, &key.3))
    }
}

/// SQL LIKE without an escape character, over characters.
fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy matching with backtracking to the last `%`: linear in practice, never exponential.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) && p[pi] != '%' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Name;

    fn key(site: &str, metric: &str) -> SeriesKey {
        (
            Name::from(site),
            Name::from("a1"),
            Name::from(""),
            Name::from(metric),
        )
    }

    #[test]
    fn every_field_that_is_set_must_match() {
        let any = Scope::default();
        assert!(any.matches(&key("s1", "temperature"), 7));
        let scoped = Scope {
            site: Some("s1".into()),
            metric: Some("%temperature".into()),
            ..Scope::default()
        };
        assert!(scoped.matches(&key("s1", "gearbox_temperature"), 7));
        assert!(scoped.matches(&key("s1", "temperature"), 7));
        assert!(!scoped.matches(&key("s2", "temperature"), 7));
        assert!(!scoped.matches(&key("s1", "temperature_spread"), 7));
        let one = Scope {
            series_id: Some(7),
            ..Scope::default()
        };
        assert!(one.matches(&key("x", "y"), 7) && !one.matches(&key("x", "y"), 8));
    }

    #[test]
    fn like_patterns() {
        for (p, t, want) in [
            ("%", "", true),
            ("a_c", "abc", true),
            ("a_c", "ac", false),
            ("%_power", "active_power", true),
            ("%%a%%", "bab", true),
            ("a%b%c", "aXbYc", true),
            ("a%b%c", "aXcYb", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(like(p, t), want, "{p} LIKE {t}");
        }
        let long = "a".repeat(10_000);
        assert!(!like(&format!("{}b", "%a".repeat(50)), &long));
    }
}
