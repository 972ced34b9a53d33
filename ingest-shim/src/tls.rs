//! TLS with rustls, towards the broker and towards PostgreSQL: the `[mqtt.tls]` and
//! `[postgres.tls]` sections and the client configuration built from them.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read PEM from {path}: {source}")]
    Pem { path: PathBuf, source: pem::Error },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM CA bundle; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl Tls {
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => certificates(path)?
                .into_iter()
                .try_for_each(|c| roots.add(c))?,
            // Unreadable system certificates are skipped, as every TLS client does.
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        Ok(match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
                builder.with_client_auth_cert(certificates(cert)?, key)?
            }
            _ => builder.with_no_client_auth(),
        })
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(pem_error(path))
}

fn pem_error(path: &Path) -> impl FnOnce(pem::Error) -> TlsError + '_ {
    move |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    }
}
