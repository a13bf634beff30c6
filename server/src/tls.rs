//! Native TLS for setups without a TLS-terminating proxy (`--tls-cert`,
//! `--tls-key`).
//!
//! rustls with the `ring` provider only: aws-lc-rs would need cmake and NASM
//! to build. The provider is passed explicitly to the config builder, so no
//! process-wide default has to be installed.
//!
//! TLS handshakes run inside the listener's handshake timeout. Failed
//! handshakes are counted ([`handshake_failures`]) and logged without the
//! peer's address.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("cannot use TLS certificate {path}: {reason}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("cannot use TLS key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("cannot use TLS certificate {cert} with key {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

static HANDSHAKE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// TLS handshakes that failed or timed out since the process started.
pub fn handshake_failures() -> u64 {
    HANDSHAKE_FAILURES.load(Ordering::Relaxed)
}

/// Counts and logs (without the peer's address) one failed handshake.
pub(crate) fn record_handshake_failure(reason: &dyn std::fmt::Display) {
    HANDSHAKE_FAILURES.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%reason, "TLS handshake failed");
}

/// Loads a PEM certificate chain and private key into an acceptor for
/// HTTP/1.1 (the WebSocket upgrade needs HTTP/1.1).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |reason: String| TlsError::Cert { path: cert.to_owned(), reason };
    let key_err = |reason: String| TlsError::Key { path: key.to_owned(), reason };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate (BEGIN CERTIFICATE) found".into()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private_key))
        .map_err(|e| TlsError::Pair {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The acceptor for the configured certificate and key, or `None` when TLS
/// is not configured (the configuration guarantees both or neither).
pub fn from_config(config: &crate::config::Config) -> Result<Option<TlsAcceptor>, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => acceptor(cert, key).map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_garbage_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let Err(err) = acceptor(&missing, &missing) else { panic!("accepted a missing file") };
        assert!(matches!(err, TlsError::Cert { .. }), "{err}");
        let Err(err) = acceptor(&garbage, &garbage) else { panic!("accepted garbage") };
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
