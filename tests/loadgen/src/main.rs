//! Publishes numbered telemetry readings at a target rate with QoS 1, so a test can prove what
//! arrived: producer P writes the series (site, "pP", metric), reading S has value S and the
//! source time START + S * INTERVAL, where INTERVAL is the producer's time between readings.
//! Each reading's time is therefore also when it was due to be published, which makes
//! `commit time - time` the publish-to-commit latency. Prints one summary line at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::{Parser, ValueEnum};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, Request};

/// Messages the client dropped, unacknowledged, when the broker had lost its session.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Metrics without an upper bound in telemetry.metric_rules, so any sequence number is valid;
/// values without a unit are taken in the metric's canonical unit and stored unchanged.
const METRICS: [&str; 8] = [
    "energy",
    "pressure",
    "flow_rate",
    "motor_current",
    "motor_speed",
    "vibration",
    "active_power",
    "reactive_power",
];

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Shape {
    /// One reading per message on telemetry/SITE/pP/energy (seed 001 JSON).
    Single,
    /// K consecutive readings of one series per message, as a JSON array.
    Array,
    /// K metrics with one timestamp per message on site/SITE/telemetry (seed 000 JSON).
    Multi,
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Concurrent producers, each with its own connection and series.
    #[arg(long, default_value_t = 4)]
    producers: u32,
    /// Messages each producer publishes.
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Target readings per second, all producers together (0: as fast as possible).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    #[arg(long, value_enum, default_value = "single")]
    shape: Shape,
    /// Readings per message for --shape array or multi (at most 8 for multi).
    #[arg(long, default_value_t = 1)]
    per_message: u64,
    /// site_id of every series, so each run can be told apart.
    #[arg(long, default_value = "loadgen")]
    site: String,
    /// Client id prefix; producer P connects as PREFIX-P.
    #[arg(long, default_value = "loadgen")]
    client_id: String,
    /// Time of the first reading (RFC 3339), so a run can be published again exactly; now if unset.
    #[arg(long, value_parser = humantime::parse_rfc3339)]
    start: Option<SystemTime>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.producers == 0 || args.per_message == 0 {
        return Err("--producers and --per-message must be above 0".into());
    }
    if args.shape == Shape::Multi && args.per_message > METRICS.len() as u64 {
        return Err(format!(
            "--per-message is at most {} for --shape multi",
            METRICS.len()
        ));
    }
    if args.shape == Shape::Single && args.per_message != 1 {
        return Err("--shape single sends one reading per message".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), String> {
    let args = Arc::new(args);
    let start = args.start.unwrap_or_else(SystemTime::now);
    let started = Instant::now();
    let lag_us = Arc::new(AtomicU64::new(0));
    let mut producers = Vec::new();
    for p in 0..args.producers {
        producers.push(tokio::spawn(produce(
            args.clone(),
            p,
            start,
            lag_us.clone(),
        )));
    }
    for producer in producers {
        producer.await.map_err(|e| e.to_string())??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let messages = args.messages * u64::from(args.producers);
    let readings = messages * args.per_message;
    println!(
        "published messages={messages} readings={readings} producers={} seconds={seconds:.3} readings_per_s={:.0} max_lag_ms={:.1} start={} dropped={}",
        args.producers,
        readings as f64 / seconds,
        lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
        humantime::format_rfc3339_micros(start),
        DROPPED.load(Ordering::Relaxed),
    );
    Ok(())
}

/// Publishes this producer's messages on schedule and returns once the broker has
/// acknowledged every one of them.
async fn produce(
    args: Arc<Args>,
    producer: u32,
    start: SystemTime,
    lag_us: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut options = MqttOptions::new(
        format!("{}-{producer}", args.client_id),
        &args.host,
        args.port,
    );
    // A persistent session: after a broker restart, rumqttc resends what was not acknowledged.
    options
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let expected = args.messages;
    let closer = client.clone();
    let poller = tokio::spawn(async move {
        let (mut acked, mut dropped, mut connections, mut unacked) = (0u64, 0u64, 0u64, 0u64);
        while acked + dropped < expected {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    connections += 1;
                    // A broker that lost our session: rumqttc drops what was not acknowledged,
                    // as a publisher without a store-and-forward buffer would.
                    if connections > 1 && !ack.session_present {
                        eprintln!("loadgen: producer {producer}: the broker lost the session; {unacked} messages dropped");
                        dropped += std::mem::take(&mut unacked);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let pending = eventloop.pending.iter();
                    unacked = pending.filter(|r| matches!(r, Request::Publish(_))).count() as u64;
                    eprintln!("loadgen: producer {producer}: {error}; reconnecting");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        DROPPED.fetch_add(dropped, Ordering::Relaxed);
        // Poll until the DISCONNECT has gone out.
        if closer.try_disconnect().is_err() {
            return;
        }
        loop {
            if let Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) = eventloop.poll().await {
                break;
            }
        }
    });
    let per_producer_rate = args.rate / f64::from(args.producers);
    // Time between readings of one series; at least 1 µs so every reading has its own time.
    let interval = if per_producer_rate > 0.0 {
        Duration::from_secs_f64(1.0 / per_producer_rate).max(Duration::from_micros(1))
    } else {
        Duration::from_micros(1)
    };
    let started = tokio::time::Instant::now();
    for m in 0..args.messages {
        let first = m * args.per_message;
        let last = first + args.per_message - 1;
        let due = interval.saturating_mul(u32::try_from(last).map_err(|e| e.to_string())?);
        if per_producer_rate > 0.0 {
            tokio::time::sleep_until(started + due).await;
            let lag = started.elapsed().saturating_sub(due).as_micros() as u64;
            lag_us.fetch_max(lag, Ordering::Relaxed);
        }
        let (topic, payload) = message(&args, producer, first, start, interval);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Only reached after the last publish; the poller ends when all are acknowledged.
    poller.await.map_err(|e| e.to_string())?;
    Ok(())
}

fn reading_time(start: SystemTime, interval: Duration, seq: u64) -> String {
    let offset = interval.saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
    humantime::format_rfc3339_micros(start + offset).to_string()
}

fn message(
    args: &Args,
    producer: u32,
    first: u64,
    start: SystemTime,
    interval: Duration,
) -> (String, String) {
    let site = &args.site;
    match args.shape {
        Shape::Single => (
            format!("telemetry/{site}/p{producer}/energy"),
            single(producer, first, &reading_time(start, interval, first)),
        ),
        Shape::Array => {
            let readings: Vec<String> = (first..first + args.per_message)
                .map(|seq| single(producer, seq, &reading_time(start, interval, seq)))
                .collect();
            (
                format!("telemetry/{site}/p{producer}/energy"),
                format!("[{}]", readings.join(",")),
            )
        }
        Shape::Multi => {
            // One timestamp for K metrics: the message's sequence number is the value of each.
            let seq = first / args.per_message;
            let metrics: Vec<String> = METRICS[..args.per_message as usize]
                .iter()
                .map(|metric| format!("\"{metric}\":{seq}"))
                .collect();
            (
                format!("site/{site}/telemetry"),
                format!(
                    "{{\"siteId\":\"{site}\",\"assetId\":\"p{producer}\",\"timestamp\":\"{}\",\"metrics\":{{{}}}}}",
                    reading_time(start, interval.saturating_mul(args.per_message as u32), seq),
                    metrics.join(",")
                ),
            )
        }
    }
}

fn single(producer: u32, seq: u64, time: &str) -> String {
    format!(
        "{{\"event_id\":\"p{producer}-{seq}\",\"timestamp\":\"{time}\",\"value\":{seq},\"unit\":\"kWh\",\"quality_flag\":\"GOOD\"}}"
    )
}
