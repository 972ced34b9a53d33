//! Configuration: a TOML file, then environment variables and flags on top (clap reads both).
//! Secrets come from the environment or from files and are never printed.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Deserialize;

use crate::partition::{self, Rule};
pub use crate::tls::Tls;
use crate::topic::Template;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Declares each flag that overrides one setting in one place: its help text, its type, its
/// environment variable and the setting it goes to. Expands to `Args`, with the flags that are
/// not settings, and to `Args::apply`.
macro_rules! flags {
    ($($(#[$doc:meta])* $flag:ident: $ty:ty, $env:literal => $($setting:ident).+;)*) => {
        /// MQTT to PostgreSQL sidecar for the telemetry extension: subscribes with QoS 1 and a
        /// persistent session, COPYs each batch into telemetry's staging table, runs the pipeline
        /// in the same transaction, and acknowledges the messages only after the commit.
        ///
        /// Every flag can also be set by the environment variable shown, and most settings by the
        /// TOML file given with --config (see ingest-shim/README.md), such as the [[partition]]
        /// rules that split messages between the writers. Flags win over the environment, which
        /// wins over the file. Passwords are read only from the environment or from files.
        #[derive(Debug, Parser)]
        #[command(version)]
        pub struct Args {
            /// TOML configuration file.
            #[arg(short, long, env = "INGEST_SHIM_CONFIG")]
            pub config: Option<PathBuf>,
            /// Validate the configuration, print it (the partition rules in force included) with
            /// secrets hidden, and exit.
            #[arg(long)]
            pub check_config: bool,
            /// Topic filter to subscribe to; repeat for several. `$share/GROUP/FILTER` splits a
            /// stream between shims (MQTT 5).
            #[arg(long, env = "INGEST_SHIM_SUBSCRIBE", value_delimiter = ',')]
            pub subscribe: Vec<String>,
            $($(#[$doc])* #[arg(long, env = $env)] pub $flag: Option<$ty>,)*
        }

        impl Args {
            /// Sets what the flags and variables give.
            fn apply(&self, config: &mut Config) {
                if !self.subscribe.is_empty() {
                    config.mqtt.subscriptions = self.subscribe.clone();
                }
                $(if let Some(value) = &self.$flag {
                    config.$($setting).+ = value.clone().into();
                })*
            }
        }
    };
}

flags! {
    /// MQTT broker host.
    mqtt_host: String, "INGEST_SHIM_MQTT_HOST" => mqtt.host;
    /// MQTT broker port.
    mqtt_port: u16, "INGEST_SHIM_MQTT_PORT" => mqtt.port;
    /// MQTT protocol version.
    mqtt_protocol: Protocol, "INGEST_SHIM_MQTT_PROTOCOL" => mqtt.protocol;
    /// Fixed MQTT client id: the broker keeps the session (and un-acknowledged messages) under it.
    client_id: String, "INGEST_SHIM_CLIENT_ID" => mqtt.client_id;
    /// MQTT user name (password: INGEST_SHIM_MQTT_PASSWORD or INGEST_SHIM_MQTT_PASSWORD_FILE).
    mqtt_username: String, "INGEST_SHIM_MQTT_USERNAME" => mqtt.username;
    /// PostgreSQL connection string, key=value or URL (password: INGEST_SHIM_PG_PASSWORD or
    /// INGEST_SHIM_PG_PASSWORD_FILE).
    pg: String, "INGEST_SHIM_PG" => postgres.url;
    /// Number of PostgreSQL writer connections; messages are split between them by partition key
    /// (the levels of the topic that name a device: see [[partition]] in the README).
    writers: usize, "INGEST_SHIM_WRITERS" => postgres.writers;
    /// Address for /metrics, /healthz and /readyz.
    http_listen: SocketAddr, "INGEST_SHIM_HTTP_LISTEN" => http.listen;
    /// Log format.
    log_format: LogFormat, "INGEST_SHIM_LOG_FORMAT" => log.format;
    /// Directory of the disk spool (acknowledge once on disk, replay from there); none by default.
    spool_dir: PathBuf, "INGEST_SHIM_SPOOL_DIR" => spool.dir;
    /// Largest size of the spool in bytes; when full, the shim stops taking messages.
    spool_max_bytes: u64, "INGEST_SHIM_SPOOL_MAX_BYTES" => spool.max_bytes;
    /// File of the messages PostgreSQL refuses even alone (JSON lines) [default:
    /// dead-letters.jsonl in the spool directory, else /var/lib/ingest-shim/dead-letters.jsonl].
    dead_letter_file: PathBuf, "INGEST_SHIM_DEAD_LETTER_FILE" => dead_letter.file;
    /// Size in bytes past which the dead-letter file gets no more lines (they are counted).
    dead_letter_max_bytes: u64, "INGEST_SHIM_DEAD_LETTER_MAX_BYTES" => dead_letter.max_bytes;
    /// Publish the alarm events of telemetry.alarm_outbox over MQTT (needs the role
    /// telemetry_publisher).
    alarms_enabled: bool, "INGEST_SHIM_ALARMS_ENABLED" => alarms.enabled;
    /// Topic of alarm messages; placeholders {site_id}, {severity}, {asset_id}, {sensor_id},
    /// {metric}, {kind}, {rule}, {rule_id}, {series_id}, {event_id}.
    alarm_topic: Template, "INGEST_SHIM_ALARM_TOPIC" => alarms.topic;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    V3,
    V5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A password: Debug never shows it.
#[derive(Clone, Default, Deserialize)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"(hidden)\"")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mqtt: Mqtt,
    pub postgres: Postgres,
    pub batch: Batch,
    pub http: Http,
    pub log: Log,
    pub shutdown: Shutdown,
    pub spool: Spool,
    pub dead_letter: DeadLetter,
    pub rebirth: Rebirth,
    pub alarms: Alarms,
    /// Tried before the built-in rules, which `Config::load` appends.
    pub partition: Vec<Rule>,
    /// Deprecated or risky settings found, logged once logging is set up.
    #[serde(skip)]
    pub warnings: Vec<&'static str>,
}

/// Declares the sections of the file with each key's type and default in one place: the
/// structs, their serde attributes (unknown keys are errors; absent keys take the default) and
/// `Default`.
macro_rules! sections {
    ($($(#[$meta:meta])* $name:ident {
        $($(#[$field_meta:meta])* $field:ident: $ty:ty = $default:expr,)*
    })*) => {$(
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default,)* }
            }
        }
    )*};
}

sections! {
    Mqtt {
        host: String = "localhost".into(),
        port: u16 = 1883,
        protocol: Protocol = Protocol::V5,
        client_id: String = "ingest-shim".into(),
        /// The topics of the extension's built-in routes.
        subscriptions: Vec<String> =
            ["telemetry/#", "site/#", "smart-dairy/#", "spBv1.0/#"].map(String::from).to_vec(),
        keep_alive_secs: u64 = 30,
        /// MQTT 5; with 0 the broker drops the session and its queue at every disconnect, and
        /// the shim warns at start.
        session_expiry_secs: u32 = 7 * 24 * 3600,
        /// The MQTT 5 receive maximum.
        max_inflight: u16 = 10_000,
        /// Above it the shim reads no more until commits free space: Mosquitto 2.0 can exceed
        /// the in-flight window, so this is what bounds memory.
        max_bytes_in_hand: u64 = 16 << 20,
        /// Above the pipeline's payload limit, so that large payloads become dead letters
        /// rather than a disconnect loop.
        max_packet_bytes: u32 = 16 << 20,
        username: Option<String> = None,
        #[serde(skip)]
        password: Option<Secret> = None,
        password_file: Option<PathBuf> = None,
        tls: Option<Tls> = None,
        /// Short: after a broker restart that lost the session, what publishers send before the
        /// shim has subscribed again is dropped by the broker.
        reconnect_max_secs: u64 = 1,
    }

    Postgres {
        url: String = "host=localhost user=postgres dbname=postgres".into(),
        #[serde(skip)]
        password: Option<Secret> = None,
        password_file: Option<PathBuf> = None,
        /// Plain TCP or a socket when absent.
        tls: Option<Tls> = None,
        writers: usize = 2,
        /// COPY ignores statement_timeout, so the shim times batches itself.
        batch_timeout_secs: u64 = 30,
        connect_timeout_secs: u64 = 10,
        retry_max_secs: u64 = 10,
    }

    Batch {
        max_messages: usize = 5_000,
        max_bytes: usize = 4 << 20,
        /// Most of the publish-to-alarm latency (seed 004 wants critical alarms within 100 ms),
        /// and short enough that batches still hold hundreds of messages at production rates.
        max_delay_ms: u64 = 10,
    }

    Http {
        listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9187)),
    }

    Log {
        format: LogFormat = LogFormat::Text,
        /// A tracing filter; RUST_LOG wins when set.
        filter: String = "info".into(),
        /// Deprecated: the old place of shutdown.timeout_secs, still read (with a warning).
        shutdown_timeout_secs: Option<u64> = None,
    }

    /// What a SIGTERM or SIGINT waits for.
    Shutdown {
        /// None until `Config::load` resolves it, from here or from the old place.
        timeout_secs: Option<u64> = None,
    }

    /// Messages are acknowledged once fsynced here, and replayed from here.
    Spool {
        /// No spool when absent.
        dir: Option<PathBuf> = None,
        /// When full, the shim stops taking messages (the broker keeps them).
        max_bytes: u64 = 1 << 30,
    }

    /// Messages that fail alone with a data error go to this file, and are then acknowledged.
    DeadLetter {
        /// Empty until `Config::load` puts the default there.
        file: PathBuf = PathBuf::new(),
        max_bytes: u64 = 1 << 30,
    }

    /// Sparkplug rebirth requests.
    Rebirth {
        /// A node is asked at most once in this time: long enough for its births to arrive,
        /// short enough that a lost request (QoS 0, a node offline) is soon repeated.
        min_interval_secs: u64 = 30,
    }

    /// Alarm delivery from telemetry.alarm_outbox (alarms.rs).
    Alarms {
        enabled: bool = true,
        topic: Template = Template::default(),
        /// Besides each NOTIFY: for events whose NOTIFY was missed, and for refused ones.
        poll_interval_secs: u64 = 5,
        /// Events fetched at a time; at most twice as many are in flight.
        batch_size: usize = 100,
    }
}

impl Batch {
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }
}

impl Shutdown {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(30))
    }
}

impl Config {
    /// The file (if any), then the flags and environment from `args`, then the secrets.
    pub fn load(args: &Args) -> Result<Config, ConfigError> {
        let mut config = match &args.config {
            Some(path) => toml::from_str(&read(path)?).map_err(|source| ConfigError::Parse {
                path: path.clone(),
                source: Box::new(source),
            })?,
            None => Config::default(),
        };
        args.apply(&mut config);
        if config.dead_letter.file.as_os_str().is_empty() {
            let dir = config.spool.dir.as_deref();
            let dir = dir.unwrap_or(Path::new("/var/lib/ingest-shim"));
            config.dead_letter.file = dir.join("dead-letters.jsonl");
        }
        config.settle()?;
        config.partition.extend(partition::defaults());
        config.mqtt.password = secret("INGEST_SHIM_MQTT_PASSWORD", &config.mqtt.password_file)?;
        config.postgres.password =
            secret("INGEST_SHIM_PG_PASSWORD", &config.postgres.password_file)?;
        config.validate()?;
        Ok(config)
    }

    /// Moves settings from their old places to their new ones, noting each for a warning, and
    /// notes risky settings too.
    fn settle(&mut self) -> Result<(), ConfigError> {
        if let Some(secs) = self.log.shutdown_timeout_secs.take() {
            if self.shutdown.timeout_secs.is_some() {
                return Err(invalid("log.shutdown_timeout_secs is the old name of shutdown.timeout_secs: set only the latter"));
            }
            self.shutdown.timeout_secs = Some(secs);
            self.warnings
                .push("log.shutdown_timeout_secs is deprecated: set shutdown.timeout_secs instead");
        }
        self.shutdown.timeout_secs.get_or_insert(30);
        if self.mqtt.protocol == Protocol::V5 && self.mqtt.session_expiry_secs == 0 {
            self.warnings.push("mqtt.session_expiry_secs = 0: the broker ends the session at each disconnect, so what is published while the shim is not connected (a restart included) is dropped");
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let (m, pg) = (&self.mqtt, &self.postgres);
        let problems = [
            (
                m.client_id.is_empty(),
                "mqtt.client_id must not be empty: a persistent session needs a fixed id",
            ),
            (
                m.subscriptions.is_empty(),
                "mqtt.subscriptions must list at least one topic filter",
            ),
            (m.max_inflight == 0, "mqtt.max_inflight must be above 0"),
            (
                m.max_bytes_in_hand == 0,
                "mqtt.max_bytes_in_hand must be above 0",
            ),
            (
                m.keep_alive_secs < 5,
                "mqtt.keep_alive_secs must be at least 5",
            ),
            (pg.writers == 0, "postgres.writers must be above 0"),
            (
                self.batch.max_messages == 0 || self.batch.max_bytes == 0,
                "batch.max_messages and batch.max_bytes must be above 0",
            ),
            (
                pg.batch_timeout_secs == 0,
                "postgres.batch_timeout_secs must be above 0",
            ),
            (self.spool.max_bytes == 0, "spool.max_bytes must be above 0"),
            (
                self.dead_letter.max_bytes == 0,
                "dead_letter.max_bytes must be above 0",
            ),
            (
                self.alarms.poll_interval_secs == 0,
                "alarms.poll_interval_secs must be above 0",
            ),
            (
                !(1..=10_000).contains(&self.alarms.batch_size),
                "alarms.batch_size must be 1 to 10000",
            ),
        ];
        let messages: Vec<&str> = problems.iter().filter(|p| p.0).map(|p| p.1).collect();
        if !messages.is_empty() {
            return Err(invalid(messages.join("; ")));
        }
        if let Some(problem) = self.partition.iter().find_map(Rule::problem) {
            return Err(invalid(problem));
        }
        let shared = m.subscriptions.iter().find(|f| f.starts_with("$share/"));
        if let Some(filter) = shared.filter(|_| m.protocol == Protocol::V3) {
            return Err(invalid(format!(
                "shared subscription {filter} needs mqtt.protocol = \"v5\""
            )));
        }
        // The string is printed by --check-config and in errors, so it must not hold a secret.
        let url: tokio_postgres::Config = pg
            .url
            .parse()
            .map_err(|e| invalid(format!("postgres.url: {e}")))?;
        if url.get_password().is_some() {
            return Err(invalid("postgres.url must not contain the password: use INGEST_SHIM_PG_PASSWORD or postgres.password_file"));
        }
        let mut tls = [&m.tls, &pg.tls].into_iter().flatten();
        if tls.any(|t| t.cert_file.is_some() != t.key_file.is_some()) {
            return Err(invalid("tls.cert_file and tls.key_file go together"));
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The variable NAME, else the file named by NAME_FILE, else the file from the configuration.
/// A trailing newline in a file is not part of the secret.
fn secret(name: &str, file: &Option<PathBuf>) -> Result<Option<Secret>, ConfigError> {
    if let Ok(value) = std::env::var(name) {
        return Ok(Some(Secret(value)));
    }
    let path = std::env::var_os(format!("{name}_FILE")).map(PathBuf::from);
    match path.as_ref().or(file.as_ref()) {
        Some(path) => Ok(Some(Secret(
            read(path)?.trim_end_matches(['\r', '\n']).into(),
        ))),
        None => Ok(None),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::parse_from(std::iter::once("ingest-shim").chain(extra.iter().copied()))
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("shim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[mqtt]\nport = 1999\nsubscriptions = [\"a/#\"]\n[batch]\nmax_messages = 7\n",
        )
        .unwrap();
        let config = Config::load(&args(&[
            "--config",
            path.to_str().unwrap(),
            "--mqtt-port",
            "2000",
        ]))
        .unwrap();
        assert_eq!(config.mqtt.port, 2000);
        assert_eq!(config.mqtt.subscriptions, ["a/#"]);
        assert_eq!(config.batch.max_messages, 7);
        assert_eq!(config.batch.max_bytes, 4 << 20);
        assert_eq!(
            config.dead_letter.file,
            Path::new("/var/lib/ingest-shim/dead-letters.jsonl")
        );
        let spooled = Config::load(&args(&["--spool-dir", "/s"])).unwrap();
        assert_eq!(spooled.dead_letter.file, Path::new("/s/dead-letters.jsonl"));
        let set = Config::load(&args(&["--spool-dir", "/s", "--dead-letter-file", "d"])).unwrap();
        assert_eq!(set.dead_letter.file, Path::new("d"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let dir = std::env::temp_dir().join(format!("shim-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[mqtt]\nhots = \"x\"\n").unwrap();
        let err = Config::load(&args(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("hots"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = Config::load(&args(&[
            "--writers",
            "0",
            "--subscribe",
            "$share/g/t/#",
            "--mqtt-protocol",
            "v3",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("postgres.writers"), "{err}");
        let err = Config::load(&args(&[
            "--subscribe",
            "$share/g/t/#",
            "--mqtt-protocol",
            "v3",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("needs mqtt.protocol"), "{err}");
    }

    #[test]
    fn shutdown_timeout_in_its_section_or_in_the_old_place() {
        let dir = std::env::temp_dir().join(format!("shim-config-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(&args(&["--config", path.to_str().unwrap()]))
        };
        let default = load("").unwrap();
        assert_eq!(default.shutdown.timeout(), Duration::from_secs(30));
        assert!(default.warnings.is_empty());
        let new = load("[shutdown]\ntimeout_secs = 3\n").unwrap();
        assert_eq!(new.shutdown.timeout(), Duration::from_secs(3));
        assert!(new.warnings.is_empty());
        let old = load("[log]\nshutdown_timeout_secs = 2\n").unwrap();
        assert_eq!(old.shutdown.timeout(), Duration::from_secs(2));
        assert_eq!(old.warnings.len(), 1);
        let both = "[log]\nshutdown_timeout_secs = 2\n[shutdown]\ntimeout_secs = 3\n";
        assert!(load(both).unwrap_err().to_string().contains("set only"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn partition_rules_from_the_file_come_before_the_built_in_ones() {
        let dir = std::env::temp_dir().join(format!("shim-config-part-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(&args(&["--config", path.to_str().unwrap()]))
        };
        let rules = load("[[partition]]\nfilter = \"f/+/l/#\"\nlevels = [1, 3]\n")
            .unwrap()
            .partition;
        assert_eq!(
            (rules[0].filter.as_str(), &rules[0].levels[..]),
            ("f/+/l/#", &[1, 3][..])
        );
        assert_eq!(rules[1].filter, "spBv1.0/#");
        assert_eq!(load("").unwrap().partition.len(), rules.len() - 1);
        let err = load("[[partition]]\nfilter = \"f/+\"\nlevels = [4]\n").unwrap_err();
        assert!(err.to_string().contains("beyond the last"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_are_hidden() {
        let secret = Secret("hunter2".into());
        assert_eq!(format!("{secret:?}"), "\"(hidden)\"");
        assert_eq!(secret.expose(), "hunter2");
    }
}
