//! Whom this client trusts for `wss://`, and how a refused certificate or a
//! failed handshake is told to the user.
//!
//! Trust is the web PKI (webpki-roots) plus the certificates of
//! `--ca-cert FILE`. Those are trusted in two ways: as a certificate
//! authority (a town's own CA that signs its server certificate), and, for
//! the usual self-signed certificate (`openssl req -x509` marks it
//! `CA:TRUE`, which the web PKI refuses as a server's own certificate), as
//! exactly that server certificate: [`PinnedSelfSigned`] accepts it when
//! the server presents it byte for byte, still checking that it is made out
//! for the server's name and that the server proves it holds its key (the
//! handshake signature, verified by rustls' web-PKI verifier).
//!
//! Every TLS failure becomes one plain sentence ([`certificate_problem`],
//! [`handshake_problem`]), never rustls' debug text.

use stadtbote_client::connection::ConnectionError;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use stadtbote_i18n::tr;

use crate::error::{CliError, ClientError};

/// The web PKI verifier, plus byte-exact trust in the `--ca-cert`
/// certificates as server certificates when the web PKI refuses them only
/// because they are marked as a CA (a self-signed certificate).
#[derive(Debug)]
struct PinnedSelfSigned {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl PinnedSelfSigned {
    /// Whether `error` is the web PKI's only objection to a certificate
    /// given with `--ca-cert`: it is a CA certificate. The web PKI checks the
    /// validity period before that (so an expired certificate is refused as
    /// expired) and the name after it (checked here instead).
    fn only_marked_as_ca(error: &rustls::Error) -> bool {
        let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = error else {
            return false;
        };
        matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
    }
}

impl ServerCertVerifier for PinnedSelfSigned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(error)
                if Self::only_marked_as_ca(&error)
                    && self.pinned.iter().any(|pinned| pinned.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Reads the PEM certificates of a `--ca-cert` file.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CliError> {
    use rustls_pki_types::pem::{self, PemObject};
    let ca_err = |reason: String| CliError::CaCert { path: path.to_owned(), reason };
    let plain = |e: pem::Error| match e {
        pem::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            tr!("tls-ca-missing")
        }
        pem::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            tr!("tls-ca-permission")
        }
        pem::Error::Io(_) => tr!("tls-ca-unreadable"),
        _ => tr!("tls-ca-not-pem"),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_err(plain(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_err(plain(e)))?;
    if certs.is_empty() {
        return Err(ca_err(tr!("tls-ca-no-certificate")));
    }
    Ok(certs)
}

/// The rustls client configuration: web PKI roots (webpki-roots) plus the
/// certificates in `extra_ca` (as CAs, and as pinned self-signed server
/// certificates), with the `ring` provider.
pub fn client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, CliError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let mut pinned = Vec::new();
    if let Some(path) = extra_ca {
        for cert in read_ca_file(path)? {
            roots.add(cert.clone()).map_err(|_| CliError::CaCert {
                path: path.to_owned(),
                reason: tr!("tls-ca-bad-certificate"),
            })?;
            pinned.push(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let internal = |reason: &str| {
        CliError::Core(ClientError::Connection(ConnectionError::Tls {
            url: String::new(),
            reason: reason.into(),
        }))
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|_| internal("no certificate authority could be loaded"))?;
    let verifier = Arc::new(PinnedSelfSigned { webpki, pinned });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| internal("no TLS version is available"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// Why a server certificate was refused, as a plain sentence fragment.
pub fn certificate_problem(error: &CertificateError) -> String {
    use CertificateError as E;
    match error {
        E::UnknownIssuer => tr!("tls-cert-unknown-issuer"),
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            tr!("tls-cert-wrong-name")
        }
        E::Expired | E::ExpiredContext { .. } => tr!("tls-cert-expired"),
        E::NotValidYet | E::NotValidYetContext { .. } => {
            tr!("tls-cert-not-yet-valid")
        }
        E::Revoked => tr!("tls-cert-revoked"),
        E::BadSignature => tr!("tls-cert-bad-signature"),
        E::BadEncoding => tr!("tls-cert-malformed"),
        E::UnsupportedSignatureAlgorithmContext { .. }
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            tr!("tls-cert-unsupported-algorithm")
        }
        E::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                tr!("tls-cert-self-signed")
            }
            Some(webpki::Error::RequiredEkuNotFoundContext(_)) => {
                tr!("tls-cert-wrong-usage")
            }
            _ => tr!("tls-cert-failed"),
        },
        _ => tr!("tls-cert-failed"),
    }
}

/// Why a TLS handshake failed for a reason other than the certificate, as a
/// plain sentence fragment.
pub fn handshake_problem(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(reason) => certificate_problem(reason),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            tr!("tls-not-tls")
        }
        rustls::Error::AlertReceived(_) => tr!("tls-refused"),
        rustls::Error::PeerIncompatible(_) => {
            tr!("tls-incompatible")
        }
        rustls::Error::NoCertificatesPresented => tr!("tls-no-certificate"),
        _ => tr!("tls-failed"),
    }
}
