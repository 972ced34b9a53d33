//! Prometheus metrics and the HTTP endpoints /metrics, /healthz and /readyz.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Counters with one label: `reason` (the reason the pipeline wrote to telemetry.dead_letters)
/// or `sqlstate`.
pub type Labelled = Family<[(&'static str, String); 1], Counter>;

/// Declares each registered metric once: its field, its type, its name (the field's) with its
/// help text, and, for histograms, its buckets. Expands to `Metrics` and `Metrics::new`.
macro_rules! metrics {
    ($($field:ident: $ty:ty $(= $init:expr)?, $help:literal;)*) => {
        pub struct Metrics {
            registry: Registry,
            $(pub $field: $ty,)*
            pub mqtt_ready: AtomicBool,
            /// Set when the shim can no longer make progress; /healthz then fails so it gets
            /// restarted.
            pub failed: AtomicBool,
            /// Set while a local dead letter cannot be written (its message is not acknowledged).
            pub dead_letter_failing: AtomicBool,
            pub writers_connected: AtomicUsize,
            writers: usize,
        }

        impl Metrics {
            pub fn new(writers: usize) -> Metrics {
                let mut registry = Registry::with_prefix("ingest_shim");
                $(
                    let $field: $ty = metrics!(@init $($init)?);
                    registry.register(stringify!($field), $help, $field.clone());
                )*
                Metrics {
                    registry,
                    $($field,)*
                    mqtt_ready: AtomicBool::new(false),
                    failed: AtomicBool::new(false),
                    dead_letter_failing: AtomicBool::new(false),
                    writers_connected: AtomicUsize::new(0),
                    writers,
                }
            }
        }
    };
    (@init) => { Default::default() };
    (@init $init:expr) => { $init };
}

metrics! {
    messages_received: Counter, "MQTT messages received";
    messages_committed: Counter, "Messages whose batch committed";
    readings_committed: Counter, "Readings stored by committed batches";
    duplicates: Counter, "Readings already stored with the same value";
    conflicting_duplicates: Counter, "Readings already stored with another value";
    dead_letters: Labelled, "Messages or readings the pipeline wrote to telemetry.dead_letters, by reason";
    payloads_cut: Counter, "Payloads above the pipeline's limit sent cut, with their size (dead letters payload_too_large)";
    batch_messages: Histogram = Histogram::new(exponential_buckets(1.0, 2.0, 16)), "Messages per committed batch";
    commit_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)), "Time from the start of COPY to COMMIT";
    receive_to_commit_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)), "Time from receiving a batch's first message to its commit";
    // 5 ms to 87 min: devices that buffer readings deliver them late.
    source_to_commit_seconds: Histogram = Histogram::new(exponential_buckets(0.005, 2.0, 21)), "Per batch that stored readings, its commit time minus the source time of its oldest reading";
    batch_failures: Counter, "Batch attempts that failed (retried, or split on a data error)";
    data_errors: Labelled, "Batch attempts that failed with a data error, by SQLSTATE: rolled back, then split or dead-lettered locally";
    local_dead_letters: Labelled, "Messages that failed alone with a data error, written to the local dead-letter file and acknowledged, by SQLSTATE";
    local_dead_letters_unwritten: Counter, "Local dead letters acknowledged without their line: the file was at its size limit";
    rebirth_requests: Counter, "Sparkplug rebirth requests (NCMD Node Control/Rebirth) sent to edge nodes whose data named an alias no birth declared";
    rebirth_requests_suppressed: Counter, "Rebirth requests not sent because the node was asked less than rebirth.min_interval_secs ago";
    mqtt_reconnects: Counter, "MQTT connections established after the first";
    mqtt_sessions_lost: Counter, "MQTT connections on which the broker had kept no session for the shim (first start, or the broker lost it): what was published while no subscription existed was dropped by the broker";
    acks_deferred: Counter, "Times a PUBACK found the MQTT client's request queue full (MQTT 5, whose acks go through it) and was kept, in order, for the next MQTT event";
    ack_writes: Counter, "Writes of PUBACKs to the broker, each carrying every ack released since the one before (MQTT 3.1.1; with MQTT 5, rumqttc writes each ack alone)";
    pg_connects: Counter, "PostgreSQL connections opened";
    messages_in_hand: Gauge, "Messages received and not yet acknowledged";
    bytes_in_hand: Gauge, "Memory of the messages held (received or replayed, not yet committed): topic, payload and 512 bytes each";
    spool_bytes: Gauge, "Bytes in the disk spool's segment files";
    alarms_published: Counter, "Alarm events published with QoS 2 (again, under the same packet id, after a lost connection or a restart)";
    alarms_confirmed: Counter, "Alarm events the broker completed (PUBCOMP) and the shim then removed from telemetry.alarm_outbox";
    alarms_in_flight: Gauge, "Alarm events published and not yet confirmed";
    alarm_publish_to_confirm_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)), "Time from publishing an alarm event to its confirmation in PostgreSQL";
}

impl Metrics {
    fn ready(&self) -> bool {
        self.mqtt_ready.load(Ordering::Relaxed)
            && self.writers_connected.load(Ordering::Relaxed) == self.writers
    }

    fn healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed) && !self.dead_letter_failing.load(Ordering::Relaxed)
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Serves until the process ends. /healthz is 200 unless the shim can no longer make progress
/// (its spool failed, or a local dead letter cannot be written); /readyz is 200 when the
/// subscriptions are in place and every writer connection is up.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "http accept failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| respond(req, metrics.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = conn.await {
                tracing::debug!(%error, "http connection failed");
            }
        });
    }
}

async fn respond(
    req: Request<hyper::body::Incoming>,
    metrics: Arc<Metrics>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/metrics" => match metrics.render() {
            Ok(text) => (StatusCode::OK, text),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding failed\n".into(),
            ),
        },
        "/healthz" if metrics.healthy() => (StatusCode::OK, "ok\n".into()),
        "/healthz" => (StatusCode::SERVICE_UNAVAILABLE, "failed\n".into()),
        "/readyz" if metrics.ready() => (StatusCode::OK, "ready\n".into()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into()),
        _ => (StatusCode::NOT_FOUND, "not found\n".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}
