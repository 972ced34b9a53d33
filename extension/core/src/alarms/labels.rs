//! Every string form the SQL side stores or shows for alarms, in one place: severities, rule
//! kinds, states and modes, event kinds, notification methods. `parse` takes any case, so a
//! DBA may write `CRITICAL` as seed 004 does; `name` is the one stored form (lower case).

/// A fieldless enum with its stored names, `ALL`, `name`, `parse` and `Display`.
macro_rules! labels {
    ($(#[$m:meta])* $ty:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vm])* $v,)+
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$v,)+];

            /// The stored form.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$v => $s,)+
                }
            }

            /// The stored form in any case, surrounding blanks ignored.
            pub fn parse(text: &str) -> Option<$ty> {
                let t = text.trim();
                Self::ALL.iter().copied().find(|x| x.name().eq_ignore_ascii_case(t))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

labels! {
    /// Alarm priority, seed 004 section 6.1, highest first.
    Severity {
        Critical => "critical",
        High => "high",
        Medium => "medium",
        Low => "low",
        Info => "info",
    }
}

impl Severity {
    /// Seed 004's `AlarmPriority`: 0 is the most urgent, so a queue sorts by it ascending.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

labels! {
    /// What a rule watches; the parameters of each are in `rule::Kind`.
    KindName {
        HighHigh => "high_high",
        High => "high",
        Low => "low",
        LowLow => "low_low",
        RateOfChange => "rate_of_change",
        Stale => "stale",
        FlatLine => "flat_line",
        BadQuality => "bad_quality",
        Anomaly => "anomaly",
    }
}

labels! {
    /// Where an alarm is, as an operator's list shows it: the four ISA-18.2 states while the
    /// alarm is in service, else the mode that keeps it from being annunciated.
    Status {
        Normal => "normal",
        /// Active, not acknowledged.
        Unacknowledged => "unacknowledged",
        /// Active, acknowledged.
        Acknowledged => "acknowledged",
        /// No longer active, never acknowledged.
        ReturnedUnacknowledged => "returned_unacknowledged",
        Shelved => "shelved",
        /// Suppressed by design: the caller said a suppressing alarm is active.
        Suppressed => "suppressed",
        OutOfService => "out_of_service",
    }
}

labels! {
    /// What an event records.
    EventKind {
        Raise => "raise",
        Clear => "clear",
        Acknowledge => "acknowledge",
        /// Active and acknowledged for longer than `realarm_after`: unacknowledged again.
        Realarm => "realarm",
        Shelve => "shelve",
        /// By an operator (with an actor) or at the shelving's expiry (no actor).
        Unshelve => "unshelve",
        Suppress => "suppress",
        Unsuppress => "unsuppress",
        OutOfService => "out_of_service",
        ReturnToService => "return_to_service",
        /// An escalation level fell due (seed 004 section 6.3).
        Escalate => "escalate",
    }
}

labels! {
    /// How an escalation level notifies, seed 004 section 6.3.
    Method {
        Email => "email",
        Sms => "sms",
        Phone => "phone",
        Webhook => "webhook",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.name()), Some(*s));
            assert_eq!(Severity::parse(&s.name().to_uppercase()), Some(*s));
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(*k));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(&format!(" {s} ")), Some(*s));
        }
        assert_eq!(KindName::parse("High_High"), Some(KindName::HighHigh));
        assert_eq!(Method::parse("pager"), None);
    }

    #[test]
    fn ranks_follow_seed_004() {
        let ranks: Vec<u8> = Severity::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
    }
}
