//! Opening a PostgreSQL connection (TLS or not) with the configured settings, and driving it in
//! a task of its own, which wakes a listener at each notification and when the connection ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::config;
use crate::error::{describe, CopyError};

pub async fn connect(
    config: &config::Postgres,
    application_name: &str,
    wake: Option<Arc<Notify>>,
) -> Result<(Client, JoinHandle<()>), CopyError> {
    let mut pg: tokio_postgres::Config = config.url.parse()?;
    if let Some(password) = &config.password {
        pg.password(password.expose());
    }
    pg.connect_timeout(Duration::from_secs(config.connect_timeout_secs));
    pg.application_name(application_name);
    Ok(match &config.tls {
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls.client_config()?);
            let (client, connection) = pg.connect(tls).await?;
            (client, tokio::spawn(drive(connection, wake)))
        }
        None => {
            let (client, connection) = pg.connect(NoTls).await?;
            (client, tokio::spawn(drive(connection, wake)))
        }
    })
}

/// What `Connection`'s own future does (notices logged at info), and notifications wake `wake`.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, wake: Option<Arc<Notify>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notification(_)) => wake.iter().for_each(|w| w.notify_one()),
            Ok(AsyncMessage::Notice(n)) => tracing::info!("{}: {}", n.severity(), n.message()),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = describe(&error), "PostgreSQL connection ended");
                break;
            }
        }
    }
    // The listener finds out at its next statement.
    wake.iter().for_each(|w| w.notify_one());
}
