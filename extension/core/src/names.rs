//! Names a message supplies (site, asset, sensor, metric, unit, ...): how they are checked,
//! shared within a batch, and quoted back in messages.

use std::rc::Rc;

use crate::rejection::{reject, Reason, Rejection};

/// Longest user-supplied text echoed back in a message: enough to recognise, never a flood.
const ECHO_LIMIT: usize = 64;

/// Quote user input for an error message, cut at a character boundary, with control
/// characters escaped: a NUL must never reach a text column or a log line.
pub fn echo(s: &str) -> String {
    let (shown, cut) = match s.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => (&s[..cut], true),
        None => (s, false),
    };
    let mut out = String::with_capacity(shown.len() + 2);
    out.push('"');
    for c in shown.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    if cut {
        out.insert_str(out.len() - 1, "...");
        out.push_str(&format!(" ({} bytes)", s.len()));
    }
    out
}

/// Longest site, asset, sensor id and event id a message may give, in characters: the limit
/// of the registry's CHECKs.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest metric name as sent: vendor names (Sparkplug folder paths) are normalised before
/// they meet the registry's limit.
pub const MAX_METRIC_CHARS: usize = 256;
/// Longest unit or source-quality spelling, in characters.
pub const MAX_UNIT_CHARS: usize = 64;

/// Check a name a message supplies before it can reach a key or a text column: at most `max`
/// characters and no control characters. A NUL compares equal to its prefix under some
/// collations, which once made `INSERT ... ON CONFLICT` into the series loop for ever.
pub fn check_name(what: &str, s: &str, max: usize) -> Result<(), Rejection> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(reject(
            Reason::BadName,
            format!(
                "{what} {} holds the control character U+{:04X}",
                echo(s),
                u32::from(c)
            ),
        ));
    }
    // Bytes bound characters from above, so most names need no count.
    if s.len() > max && s.chars().count() > max {
        return Err(reject(
            Reason::BadName,
            format!(
                "{what} {} has {} characters; at most {max} are allowed",
                echo(s),
                s.chars().count()
            ),
        ));
    }
    Ok(())
}

/// A name a batch repeats for many readings (site, asset, metric, unit): shared, not copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Name(Rc<str>);

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// One copy of each name a batch mentions: thousands of messages name the same sites, assets
/// and metrics, and equal names then compare by pointer.
#[derive(Default)]
pub struct Names(rustc_hash::FxHashSet<Name>);

impl Names {
    pub fn get(&mut self, s: &str) -> Name {
        if let Some(n) = self.0.get(s) {
            return n.clone();
        }
        let n = Name::from(s);
        self.0.insert(n.clone());
        n
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(Rc::from(s))
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_escapes_and_cuts() {
        assert_eq!(echo("a\0b\u{1b}"), "\"a\\u{0}b\\u{1b}\"");
        let long = "x".repeat(100);
        assert_eq!(
            echo(&long),
            format!("\"{}...\" (100 bytes)", "x".repeat(64))
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("site_id", "plant-1", MAX_NAME_CHARS).is_ok());
        assert!(check_name("site_id", &"é".repeat(128), MAX_NAME_CHARS).is_ok());
        for bad in ["a\0", "\u{1}", "x\u{7f}", "\u{85}"] {
            let r = check_name("sensor_id", bad, MAX_NAME_CHARS).unwrap_err();
            assert_eq!(r.reason, Reason::BadName, "{bad:?}");
            assert!(
                !r.detail.contains('\0'),
                "the detail must not carry the NUL"
            );
        }
        let r = check_name("site_id", &"s".repeat(129), MAX_NAME_CHARS).unwrap_err();
        assert!(r.detail.contains("129 characters"), "{}", r.detail);
    }
}
