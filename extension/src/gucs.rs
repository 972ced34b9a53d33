//! Every `telemetry.*` setting, in one place.
//!
//! Each that decides how data is judged or admitted is the DBA's: `Suset`, settable by a
//! superuser in postgresql.conf, `ALTER DATABASE`/`ALTER ROLE ... SET`, or a superuser's session
//! (or a role granted `SET` on the parameter). A writer cannot loosen how its own data is judged.
//! `telemetry.rollup_jit`, which only changes how queries run, is any session's.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use telemetry_core::quality::{Params, Weights};

static WEIGHT_COMPLETENESS: GucSetting<f64> = GucSetting::<f64>::new(0.30);
static WEIGHT_VALIDITY: GucSetting<f64> = GucSetting::<f64>::new(0.30);
static WEIGHT_CONSISTENCY: GucSetting<f64> = GucSetting::<f64>::new(0.25);
static WEIGHT_TIMELINESS: GucSetting<f64> = GucSetting::<f64>::new(0.15);
static TIMELINESS_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(300);
static MAX_CLOCK_SKEW: GucSetting<i32> = GucSetting::<i32>::new(60);
static UNCERTAIN_FACTOR: GucSetting<f64> = GucSetting::<f64>::new(0.5);
static ANOMALY_Z: GucSetting<f64> = GucSetting::<f64>::new(3.0);
static MAX_PAYLOAD_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
static DEAD_LETTER_MAX_PAYLOAD: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);
static AUTO_REGISTER_SERIES: GucSetting<bool> = GucSetting::<bool>::new(true);
static EVENT_ID_WINDOW: GucSetting<i32> = GucSetting::<i32>::new(3600);
/// Ten years back, so that commissioning a site can backfill its historian.
static MAX_READING_AGE: GucSetting<i32> = GucSetting::<i32>::new(3650 * 86_400);
static MAX_READING_LEAD: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static DEAD_LETTER_MAX_TOPIC: GucSetting<i32> = GucSetting::<i32>::new(1024);
static MAX_READINGS_PER_MESSAGE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
static UNKNOWN_METRICS: GucSetting<UnknownMetrics> =
    GucSetting::<UnknownMetrics>::new(UnknownMetrics::Register);
static MAINTENANCE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);
static MAINTENANCE_DATABASE: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(Some(c"postgres"));
/// Off: plans that read the rollup tiers are not JIT-compiled (see `crate::rollups::jit`).
static ROLLUP_JIT: GucSetting<bool> = GucSetting::<bool>::new(false);
/// Bounds what a publisher of made-up names can add before a DBA looks.
static MAX_PENDING_METRICS: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// What the pipeline does with a metric no rule in `telemetry.metric_rules` knows.
#[derive(Clone, Copy, Debug, PartialEq, PostgresGucEnum)]
pub enum UnknownMetrics {
    #[name = c"register"]
    Register,
    #[name = c"dead_letter"]
    DeadLetter,
}

pub fn init() {
    // Weights default to seed 002 section 8.1: 0.30 / 0.30 / 0.25 / 0.15.
    for (name, short, setting) in [
        (
            c"telemetry.quality_weight_completeness",
            c"Weight of completeness (value and source time present) in the quality score.",
            &WEIGHT_COMPLETENESS,
        ),
        (
            c"telemetry.quality_weight_validity",
            c"Weight of validity (value within the metric's valid range) in the quality score.",
            &WEIGHT_VALIDITY,
        ),
        (
            c"telemetry.quality_weight_consistency",
            c"Weight of consistency (rate of change, deviation from recent behaviour) in the quality score.",
            &WEIGHT_CONSISTENCY,
        ),
        (
            c"telemetry.quality_weight_timeliness",
            c"Weight of timeliness (ingestion delay) in the quality score.",
            &WEIGHT_TIMELINESS,
        ),
    ] {
        GucRegistry::define_float_guc(
            name,
            short,
            c"Weights are relative: the score divides by the sum of the weights of the components that apply.",
            setting,
            0.0,
            1.0,
            GucContext::Suset,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"telemetry.timeliness_threshold",
        c"Ingestion delay up to which a reading is fully timely.",
        c"Beyond it the timeliness component falls as threshold / delay. Seed 002 uses 5 minutes.",
        &TIMELINESS_THRESHOLD,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_clock_skew",
        c"How far a source timestamp may lie in the future before it is flagged.",
        c"Readings further ahead of the database clock score 0 for timeliness.",
        &MAX_CLOCK_SKEW,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_float_guc(
        c"telemetry.uncertain_quality_factor",
        c"Multiplier applied to the quality score when the source reports UNCERTAIN.",
        c"GOOD multiplies by 1 and BAD by 0.",
        &UNCERTAIN_FACTOR,
        0.0,
        1.0,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"telemetry.anomaly_z_threshold",
        c"Deviation from the recent mean, in standard deviations, up to which a value is consistent.",
        c"Consistency falls linearly from 1 at this deviation to 0 at twice it.",
        &ANOMALY_Z,
        0.1,
        1000.0,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_payload_bytes",
        c"Largest message payload the ingest pipeline decodes.",
        c"Larger messages become dead letters with reason payload_too_large.",
        &MAX_PAYLOAD_BYTES,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"telemetry.dead_letter_max_payload",
        c"How much of a payload a dead letter keeps.",
        c"telemetry.dead_letters.payload_bytes always records the full size.",
        &DEAD_LETTER_MAX_PAYLOAD,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"telemetry.event_id_window",
        c"How long a payload event_id is remembered to recognise a resent reading.",
        c"A reading whose series and event_id were seen within it is a duplicate even with another timestamp. 0 turns the check off.",
        &EVENT_ID_WINDOW,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_reading_age",
        c"How far in the past a reading's time (or a message's received_at) may lie.",
        c"Older readings become dead letters with reason implausible_time; every distinct day would otherwise make a chunk.",
        &MAX_READING_AGE,
        60,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_reading_lead",
        c"How far in the future a reading's time (or a message's received_at) may lie.",
        c"Later readings become dead letters with reason implausible_time. telemetry.max_clock_skew only lowers the quality score.",
        &MAX_READING_LEAD,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_readings_per_message",
        c"Most readings (JSON readings or Sparkplug metrics) one message may carry.",
        c"A message with more becomes one dead letter with reason too_many_readings, not one per reading.",
        &MAX_READINGS_PER_MESSAGE,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"telemetry.unknown_metrics",
        c"What becomes of a reading whose metric has no rule: register (default) or dead_letter.",
        c"register adds the metric to telemetry.metric_rules in the base unit of the reading's dimension, unreviewed, and flags its readings no_rule; telemetry.metrics_to_review lists them. dead_letter refuses them with reason unknown_metric.",
        &UNKNOWN_METRICS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"telemetry.max_pending_metrics",
        c"Most metrics the pipeline may have registered that await review.",
        c"Beyond it, readings of further unknown metrics become dead letters with reason unknown_metric until a DBA reviews some (telemetry.metrics_to_review).",
        &MAX_PENDING_METRICS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"telemetry.maintenance_interval",
        c"How often the background worker runs telemetry.run_maintenance() (0: it does not).",
        c"Stale and flat-line alarms, delays, shelving expiry, re-alarm and escalation are decided by time; this is how late they may be at most. The worker runs only when the library is in shared_preload_libraries.",
        &MAINTENANCE_INTERVAL,
        0,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"telemetry.maintenance_database",
        c"The database the background worker runs telemetry.run_maintenance() in.",
        c"Set in postgresql.conf; read when the worker starts (a restart of the server changes it). A database without the extension is skipped.",
        &MAINTENANCE_DATABASE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"telemetry.dead_letter_max_topic",
        c"How much of a topic a dead letter keeps.",
        c"telemetry.dead_letter_messages.topic_bytes always records the full length.",
        &DEAD_LETTER_MAX_TOPIC,
        16,
        65_535,
        GucContext::Suset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_bool_guc(
        c"telemetry.auto_register_series",
        c"Whether ingest registers series it has not seen.",
        c"Off: readings of unknown series become dead letters with reason unknown_series.",
        &AUTO_REGISTER_SERIES,
        GucContext::Suset,
        GucFlags::default(),
    );
    // How queries run, not how data is judged: any session may choose.
    GucRegistry::define_bool_guc(
        c"telemetry.rollup_jit",
        c"Whether plans that read the rollup tiers may be JIT-compiled.",
        c"Off (the default): PostgreSQL's jit settings do not apply to them; their estimated cost grows with series times raw chunks, and compiling cost more than it saved.",
        &ROLLUP_JIT,
        GucContext::Userset,
        GucFlags::default(),
    );
}

pub fn rollup_jit() -> bool {
    ROLLUP_JIT.get()
}

/// How many metrics a batch may register on first sight, given how many await review now;
/// `None` when unknown metrics are dead letters.
pub fn new_metrics_allowed(pending: usize) -> Option<usize> {
    match UNKNOWN_METRICS.get() {
        UnknownMetrics::DeadLetter => None,
        UnknownMetrics::Register => Some(
            usize::try_from(MAX_PENDING_METRICS.get())
                .unwrap_or(0)
                .saturating_sub(pending),
        ),
    }
}

/// The background worker's period; `None` when it is off.
pub fn maintenance_interval() -> Option<std::time::Duration> {
    let s = MAINTENANCE_INTERVAL.get();
    (s > 0).then(|| std::time::Duration::from_secs(s.unsigned_abs().into()))
}

pub fn maintenance_database() -> String {
    MAINTENANCE_DATABASE
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|| "postgres".into())
}

pub fn max_payload_bytes() -> usize {
    usize::try_from(MAX_PAYLOAD_BYTES.get()).unwrap_or(0)
}

pub fn dead_letter_max_payload() -> usize {
    usize::try_from(DEAD_LETTER_MAX_PAYLOAD.get()).unwrap_or(0)
}

pub fn max_readings_per_message() -> usize {
    usize::try_from(MAX_READINGS_PER_MESSAGE.get()).unwrap_or(1)
}

pub fn dead_letter_max_topic() -> usize {
    usize::try_from(DEAD_LETTER_MAX_TOPIC.get()).unwrap_or(0)
}

/// The plausible reading times around `now` (Unix µs): `max_reading_age` before it to
/// `max_reading_lead` after it.
pub fn plausible_times(now: i64) -> std::ops::RangeInclusive<i64> {
    let micros = |s: i32| i64::from(s) * 1_000_000;
    now - micros(MAX_READING_AGE.get())..=now + micros(MAX_READING_LEAD.get())
}

pub fn event_id_window_seconds() -> i32 {
    EVENT_ID_WINDOW.get()
}

pub fn auto_register_series() -> bool {
    AUTO_REGISTER_SERIES.get()
}

/// The quality-scoring parameters as currently set in this session.
pub fn quality_params() -> Params {
    Params {
        weights: Weights {
            completeness: WEIGHT_COMPLETENESS.get(),
            validity: WEIGHT_VALIDITY.get(),
            consistency: WEIGHT_CONSISTENCY.get(),
            timeliness: WEIGHT_TIMELINESS.get(),
        },
        timeliness_threshold_s: f64::from(TIMELINESS_THRESHOLD.get()),
        max_clock_skew_s: f64::from(MAX_CLOCK_SKEW.get()),
        uncertain_factor: UNCERTAIN_FACTOR.get(),
        anomaly_z: ANOMALY_Z.get(),
    }
}
