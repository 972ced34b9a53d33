//! ingest-shim: MQTT in, binary COPY into the telemetry extension's staging table out; each
//! message is acknowledged to the broker only after the transaction holding it has committed.

mod ack;
mod alarm_link;
mod alarms;
mod backoff;
mod batch;
mod client;
mod config;
mod copy;
mod deadletter;
mod durable;
mod error;
mod flight;
mod isolate;
mod message;
mod metrics;
mod mqtt;
mod partition;
mod pg;
mod prefix;
mod rebirth;
mod spool;
mod tls;
mod topic;
mod writer;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing_subscriber::EnvFilter;

use crate::config::{Args, Config, LogFormat};
use crate::metrics::Metrics;
use crate::partition::Partitioner;
use crate::rebirth::Rebirths;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ingest-shim: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if args.check_config {
        println!("{config:#?}");
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    // rustls needs one process-wide crypto provider; an error only means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(Arc::new(config)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(log: &config::Log) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new(config.postgres.writers));
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    tokio::spawn(metrics::serve(listener, metrics.clone()));

    let session = mqtt::Session::new(&config.mqtt, metrics.clone())?;
    let spool = (config.spool.dir.as_ref())
        .map(|dir| spool::Spool::open(dir, config.spool.max_bytes, metrics.clone()))
        .transpose()?;
    let completion = match &spool {
        Some(spool) => writer::Completion::Spool(spool.cursor.clone()),
        None => writer::Completion::Ack(session.acker.clone()),
    };
    let cursor = spool.as_ref().map(|s| s.cursor.clone());
    let partitioner = Arc::new(Partitioner(config.partition.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (disconnect_tx, disconnect_rx) = watch::channel(false);
    let (senders, mut writers) = spawn_writers(&config, completion, &session, &metrics, &stop_rx)?;
    let router = match spool {
        Some(spool) => spawn_spool(spool, senders, &session, &config, &stop_rx, &partitioner),
        None => writer::Router::new(senders, partitioner),
    };
    // It stops after the writers, so that the alarms of their last batches go out too.
    let alarms = (config.alarms.enabled).then(|| {
        tokio::spawn(alarms::run(
            config.clone(),
            metrics.clone(),
            disconnect_rx.clone(),
        ))
    });
    let poller = tokio::spawn(session.run(router, stop_rx, disconnect_rx, metrics.clone()));
    tracing::info!(
        broker = %format!("{}:{}", config.mqtt.host, config.mqtt.port),
        writers = config.postgres.writers,
        http = %config.http.listen,
        spool = ?config.spool.dir,
        "ingest-shim started"
    );

    let mut failure = tokio::select! {
        signal = signalled() => {
            let signal = signal.context("cannot install signal handlers")?;
            tracing::info!(signal, "stopping: reading no more, committing the messages in hand");
            None
        }
        // Writers end early only on what no retry can mend, such as an old extension.
        Some(error) = next_failure(&mut writers) => Some(error),
    };
    // Send errors only mean the receivers have already ended.
    let _ = stop_tx.send(true);
    while let Some(error) = next_failure(&mut writers).await {
        tracing::error!("{error:#}");
        failure.get_or_insert(error);
    }
    if let Some(cursor) = cursor {
        cursor.close();
    }
    let _ = disconnect_tx.send(true);
    // A broker that is down cannot take the DISCONNECT; the session survives either way.
    if tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .is_err()
    {
        tracing::warn!("no DISCONNECT sent within 5 s");
    }
    if let Some(alarms) = alarms {
        if tokio::time::timeout(Duration::from_secs(5), alarms)
            .await
            .is_err()
        {
            tracing::warn!("the alarm publisher did not stop within 5 s");
        }
    }
    failure.map_or(Ok(()), Err)?;
    tracing::info!("stopped");
    Ok(())
}

/// As many messages as the broker may have un-acknowledged: the poller never waits on a writer
/// (nor on the spool, which acknowledges only what it has passed on).
const CHANNEL: usize = mqtt::MAX_UNACKED;

type Writers = JoinSet<Result<(), error::CopyError>>;

/// One task per writer connection; returns their senders and tasks.
fn spawn_writers(
    config: &Arc<Config>,
    completion: writer::Completion,
    session: &mqtt::Session,
    metrics: &Arc<Metrics>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(Vec<mpsc::Sender<message::Message>>, Writers)> {
    let dead_letters = Arc::new(deadletter::DeadLetterFile::open(
        &config.dead_letter.file,
        config.dead_letter.max_bytes,
    )?);
    let interval = Duration::from_secs(config.rebirth.min_interval_secs);
    let rebirths = Arc::new(Rebirths::new(session.client(), interval, metrics.clone()));
    let completion = Arc::new(completion);
    let mut writers = JoinSet::new();
    let senders = (0..config.postgres.writers)
        .map(|id| {
            let (tx, rx) = mpsc::channel(CHANNEL);
            writers.spawn(
                writer::Writer {
                    id,
                    rx,
                    config: config.clone(),
                    completion: completion.clone(),
                    metrics: metrics.clone(),
                    stop: stop.clone(),
                    dead_letters: dead_letters.clone(),
                    rebirths: rebirths.clone(),
                }
                .run(),
            );
            tx
        })
        .collect();
    Ok((senders, writers))
}

/// The spool's task, between the poller and the writers; returns the poller's router to it.
fn spawn_spool(
    spool: spool::Spool,
    writers: Vec<mpsc::Sender<message::Message>>,
    session: &mqtt::Session,
    config: &Arc<Config>,
    stop: &watch::Receiver<bool>,
    partitioner: &Arc<Partitioner>,
) -> writer::Router {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let (acker, config, stop) = (session.acker.clone(), config.clone(), stop.clone());
    let writers = writer::Router::new(writers, partitioner.clone());
    tokio::spawn(async move {
        if let Err(error) = spool.run(rx, writers, acker, &config.batch, stop).await {
            // Nothing more is acknowledged; the broker keeps what was not spooled.
            tracing::error!(%error, "the spool failed; no more messages are taken");
        }
    });
    writer::Router::new(vec![tx], partitioner.clone())
}

/// The first SIGTERM or SIGINT starts an orderly stop.
async fn signalled() -> std::io::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// The error of the next writer to fail (at a stop: to give up on messages not committed);
/// None once every writer has ended.
async fn next_failure(writers: &mut Writers) -> Option<anyhow::Error> {
    while let Some(ended) = writers.join_next().await {
        match ended {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Some(error.into()),
            Err(error) => return Some(anyhow::Error::new(error).context("writer task failed")),
        }
    }
    None
}
