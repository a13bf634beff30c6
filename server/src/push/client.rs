//! One push request: resolve, check the address, connect, TLS, one
//! HTTP/1.1 `POST`, read the status line, hang up.
//!
//! The request goes to exactly one address the server checked itself
//! ([`super::origins::is_public`], or an address the operator listed
//! literally), so DNS rebinding cannot point it elsewhere after the check.
//! No proxy is used, no redirect is followed (a `3xx` is a failure), and
//! the response body is never read. Errors name their kind only, never
//! the host, URL or address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::origins::{Target, is_public};

/// Why a push request got no HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The host name did not resolve.
    #[error("push service name did not resolve")]
    Resolve,
    /// The host name resolved only to non-public addresses.
    #[error("push service name resolved to no public address")]
    NoPublicAddress,
    /// No TCP connection could be made.
    #[error("could not connect to the push service")]
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS with the push service failed")]
    Tls,
    /// The HTTP exchange failed.
    #[error("HTTP exchange with the push service failed")]
    Http,
    /// Not answered within `push_request_timeout_secs`.
    #[error("the push service did not answer in time")]
    Timeout,
}

/// What a push request carries besides its target.
#[derive(Debug)]
pub struct PushRequest {
    /// The encrypted payload (`Content-Encoding: aes128gcm`).
    pub body: Vec<u8>,
    /// `vapid t=…, k=…`.
    pub authorization: String,
    /// `TTL` header, in seconds.
    pub ttl_secs: u64,
    /// `Urgency` header.
    pub urgency: &'static str,
}

/// The TLS configuration for push services: the web PKI (webpki-roots),
/// HTTP/1.1 by ALPN, rustls with `ring`.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The addresses a request to `target` may go to.
async fn addresses(target: &Target) -> Result<Vec<SocketAddr>, ClientError> {
    if target.literal_address {
        // Listed literally by the operator: the one address allowed even
        // when it is not public (a loopback or LAN distributor).
        let ip = target.host.parse().map_err(|_| ClientError::Resolve)?;
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|_| ClientError::Resolve)?
        .collect();
    if resolved.is_empty() {
        return Err(ClientError::Resolve);
    }
    let public: Vec<SocketAddr> = resolved.into_iter().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(ClientError::NoPublicAddress);
    }
    Ok(public)
}

/// Sends `request` to `target`; the HTTP status of the answer.
pub async fn post(
    tls: &Arc<rustls::ClientConfig>,
    target: &Target,
    request: &PushRequest,
    timeout: Duration,
) -> Result<u16, ClientError> {
    tokio::time::timeout(timeout, post_inner(tls, target, request))
        .await
        .map_err(|_| ClientError::Timeout)?
}

async fn post_inner(
    tls: &Arc<rustls::ClientConfig>,
    target: &Target,
    request: &PushRequest,
) -> Result<u16, ClientError> {
    let mut stream = None;
    for addr in addresses(target).await? {
        if let Ok(s) = TcpStream::connect(addr).await {
            stream = Some(s);
            break;
        }
    }
    let stream = stream.ok_or(ClientError::Connect)?;
    let _ = stream.set_nodelay(true);
    if target.https {
        let name = ServerName::try_from(target.host.clone()).map_err(|_| ClientError::Tls)?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|_| ClientError::Tls)?;
        exchange(stream, target, request).await
    } else {
        exchange(stream, target, request).await
    }
}

async fn exchange<S>(io: S, target: &Target, request: &PushRequest) -> Result<u16, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|_| ClientError::Http)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let http_request = hyper::Request::post(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header("TTL", request.ttl_secs.to_string())
        .header("Urgency", request.urgency)
        .header(CONTENT_ENCODING, "aes128gcm")
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, request.body.len().to_string())
        .header(AUTHORIZATION, request.authorization.as_str())
        .body(Full::new(Bytes::from(request.body.clone())))
        .map_err(|_| ClientError::Http)?;
    let answer = sender.send_request(http_request).await;
    // Only the status matters; the body is never read, the connection
    // never reused.
    driver.abort();
    answer.map(|response| response.status().as_u16()).map_err(|_| ClientError::Http)
}
