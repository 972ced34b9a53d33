//! Alarm rules as the pipeline sees them: read from `telemetry.alarm_rules` into the registry
//! cache (with the series each applies to, worked out once per series), and checked on every
//! change by the trigger `telemetry.alarm_rule_check()`, which names the column that is wrong.

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{AllocatedByPostgres, PgTriggerError};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;

use telemetry_core::alarms::{KindName, Rule, RuleRow, Scope};
use telemetry_core::batch::SeriesKey;

use crate::errors::{echo, invalid_parameter};
use crate::time::interval_micros as micros;

/// One rule with what it watches and which kinds it suppresses on its site while active.
pub struct Watched {
    pub rule: Rule,
    pub scope: Scope,
    pub suppresses: Vec<KindName>,
}

/// The enabled and disabled rules, and per series the rules that watch it.
#[derive(Default)]
pub struct AlarmRules {
    pub rules: Vec<Watched>,
    by_series: RefCell<FxHashMap<i32, Rc<[usize]>>>,
}

impl AlarmRules {
    /// No rule is enabled: the pipeline has nothing to evaluate.
    pub fn is_empty(&self) -> bool {
        !self.rules.iter().any(|w| w.rule.enabled)
    }

    /// The enabled rules that watch a series, by index into `rules`.
    pub fn watching(&self, series_id: i32, key: &SeriesKey) -> Rc<[usize]> {
        self.by_series
            .borrow_mut()
            .entry(series_id)
            .or_insert_with(|| {
                (0..self.rules.len())
                    .filter(|&i| {
                        self.rules[i].rule.enabled && self.rules[i].scope.matches(key, series_id)
                    })
                    .collect()
            })
            .clone()
    }

    pub fn by_id(&self, rule_id: i64) -> Option<&Watched> {
        self.rules.iter().find(|w| w.rule.id == rule_id)
    }
}

/// The columns of a rule, as `load` and the check trigger read them.
struct Columns {
    id: i64,
    name: String,
    kind: String,
    severity: String,
    numbers: [Option<f64>; 5],
    counts: [Option<i32>; 4],
    source_quality: Option<i16>,
    durations: [Option<i64>; 5],
    enabled: bool,
}

impl Columns {
    /// Limit, epsilon, z, deadband, deadband percent; window, warm-up, on and off samples;
    /// after, on delay, off delay, realarm after, suppression window.
    fn rule(&self) -> Result<Rule, String> {
        let [limit, epsilon, z, deadband, deadband_percent] = self.numbers;
        let [window, warmup, on_delay_samples, off_delay_samples] = self.counts;
        let [after, on_delay, off_delay, realarm_after, suppression_window] = self.durations;
        Rule::from_row(&RuleRow {
            id: self.id,
            kind: &self.kind,
            severity: &self.severity,
            limit,
            epsilon,
            after,
            window,
            warmup,
            z,
            source_quality: self.source_quality,
            deadband,
            deadband_percent,
            on_delay,
            on_delay_samples,
            off_delay,
            off_delay_samples,
            realarm_after,
            suppression_window,
            enabled: self.enabled,
        })
        .map_err(|e| e.to_string())
    }
}

const NUMBERS: [&str; 5] = [
    "limit_value",
    "epsilon",
    "z",
    "deadband",
    "deadband_percent",
];
const COUNTS: [&str; 4] = [
    "window_samples",
    "warmup_samples",
    "on_delay_samples",
    "off_delay_samples",
];
const DURATIONS: [&str; 5] = [
    "after",
    "on_delay",
    "off_delay",
    "realarm_after",
    "suppression_window",
];

fn suppressed_kinds(names: Option<Vec<Option<String>>>) -> Result<Vec<KindName>, String> {
    names
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|n| {
            KindName::parse(&n)
                .ok_or_else(|| format!("suppresses names {}, not a kind of rule", echo(&n)))
        })
        .collect()
}

/// Every rule; one the check would now refuse (written before a stricter release) is left out
/// with a WARNING rather than stopping ingest.
pub fn load(client: &SpiClient<'_>) -> Result<AlarmRules, pgrx::spi::Error> {
    let list = |cols: &[&str]| cols.join(", ");
    let sql = format!(
        "SELECT rule_id, name, kind, severity, {}, {}, source_quality, {}, enabled,
                site_id, asset_id, sensor_id, metric, series_id, suppresses
           FROM telemetry.alarm_rules ORDER BY rule_id",
        list(&NUMBERS),
        list(&COUNTS),
        DURATIONS
            .map(|d| format!("(extract(epoch FROM {d}) * 1000000)::pg_catalog.int8"))
            .join(", ")
    );
    let mut rules = Vec::new();
    for row in client.select(&sql, None, &[])? {
        let n = |i: usize| row.get::<f64>(5 + i);
        let c = |i: usize| row.get::<i32>(10 + i);
        let d = |i: usize| row.get::<i64>(15 + i);
        let columns = Columns {
            id: row.get::<i64>(1)?.unwrap_or_default(),
            name: row.get::<String>(2)?.unwrap_or_default(),
            kind: row.get::<String>(3)?.unwrap_or_default(),
            severity: row.get::<String>(4)?.unwrap_or_default(),
            numbers: [n(0)?, n(1)?, n(2)?, n(3)?, n(4)?],
            counts: [c(0)?, c(1)?, c(2)?, c(3)?],
            source_quality: row.get::<i16>(14)?,
            durations: [d(0)?, d(1)?, d(2)?, d(3)?, d(4)?],
            enabled: row.get::<bool>(20)?.unwrap_or(true),
        };
        let scope = Scope {
            site: row.get::<String>(21)?,
            asset: row.get::<String>(22)?,
            sensor: row.get::<String>(23)?,
            metric: row.get::<String>(24)?,
            series_id: row.get::<i32>(25)?,
        };
        let suppresses = row.get::<Vec<Option<String>>>(26)?;
        match columns
            .rule()
            .and_then(|rule| suppressed_kinds(suppresses).map(|s| (rule, s)))
        {
            Ok((rule, suppresses)) => rules.push(Watched {
                rule,
                scope,
                suppresses,
            }),
            Err(e) => warning!("alarm rule {} is not evaluated: {e}", echo(&columns.name)),
        }
    }
    Ok(AlarmRules {
        rules,
        by_series: RefCell::default(),
    })
}

/// BEFORE INSERT OR UPDATE on `telemetry.alarm_rules`: refuse a rule that cannot work.
#[pg_trigger]
fn alarm_rule_check<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let Some(new) = trigger.new() else {
        return Ok(None);
    };
    let bad = |column: &str, e: pgrx::datum::TryFromDatumError| -> ! {
        invalid_parameter(format!("alarm_rules.{column}: {e}"), None)
    };
    let text = |c: &str| new.get_by_name::<String>(c).unwrap_or_else(|e| bad(c, e));
    let number = |c: &str| new.get_by_name::<f64>(c).unwrap_or_else(|e| bad(c, e));
    let count = |c: &str| new.get_by_name::<i32>(c).unwrap_or_else(|e| bad(c, e));
    let duration = |c: &str| {
        new.get_by_name::<pgrx::datum::Interval>(c)
            .unwrap_or_else(|e| bad(c, e))
            .map(micros)
    };
    let columns = Columns {
        id: new
            .get_by_name::<i64>("rule_id")
            .unwrap_or_else(|e| bad("rule_id", e))
            .unwrap_or_default(),
        name: text("name").unwrap_or_default(),
        kind: text("kind").unwrap_or_default(),
        severity: text("severity").unwrap_or_default(),
        numbers: NUMBERS.map(number),
        counts: COUNTS.map(count),
        source_quality: new
            .get_by_name::<i16>("source_quality")
            .unwrap_or_else(|e| bad("source_quality", e)),
        durations: DURATIONS.map(duration),
        enabled: new
            .get_by_name::<bool>("enabled")
            .unwrap_or_else(|e| bad("enabled", e))
            .unwrap_or(true),
    };
    let suppresses = new
        .get_by_name::<pgrx::datum::Array<'_, String>>("suppresses")
        .unwrap_or_else(|e| bad("suppresses", e))
        .map(|a| a.iter().collect::<Vec<Option<String>>>());
    if let Err(e) = columns.rule().and_then(|_| suppressed_kinds(suppresses)) {
        invalid_parameter(
            format!("alarm rule {}: {e}", echo(&columns.name)),
            Some(
                "COMMENT ON COLUMN telemetry.alarm_rules.* says what each kind of rule uses."
                    .into(),
            ),
        );
    }
    Ok(Some(new))
}
