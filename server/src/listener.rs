//! The accept loop: one task per TCP connection, a cap on connections still
//! in their HTTP phase, and the handshake timeout.
//!
//! `axum::serve` has no timeout for the HTTP phase: a client could open TCP
//! connections and never send a request, holding a file descriptor and
//! memory each forever. So the server runs hyper's HTTP/1 connection itself
//! and bounds it with `handshake_timeout_secs`. With upgrades enabled, the
//! hyper connection future completes as soon as a WebSocket upgrade has been
//! answered (the socket then belongs to the WebSocket task, which has its own
//! auth and idle timeouts), so the timeout covers exactly the handshake.
//! Plain HTTP requests (`/healthz`, `/privacy`, the web app's files) get
//! no new request read after the same timeout; an answer still being sent
//! then (the app's wasm over a slow link) may finish within
//! `http_response_timeout_secs`, and the connection is closed after it.
//!
//! One client address may hold at most `max_connections_per_address`
//! connections in their HTTP phase, so that it cannot fill the cap on
//! handshakes for everyone. The TCP peer is all that is known at this point;
//! a trusted proxy (`trusted_proxies`) carries many clients and is exempt
//! (their addresses are counted after the upgrade request, in `http.rs`).
//!
//! With native TLS configured, the TLS handshake runs first, inside the
//! same timeout; hyper then serves HTTP/1 (and the upgrade) over the TLS
//! stream exactly as over plain TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::addrlimit::AddressLimits;
use crate::forwarded::TrustedProxies;
use crate::metrics::Metrics;
use crate::ratelimit::IpKey;
use crate::shutdown::ShutdownSignal;

/// Pause after a failed `accept` (e.g. out of file descriptors) so that the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The limits of the HTTP phase.
pub struct Caps {
    /// Connections in their HTTP phase (TLS handshake included), in all.
    pub max_pending: usize,
    /// Time for the HTTP phase.
    pub handshake_timeout: Duration,
    /// Time an answer still being sent at the end of the HTTP phase may
    /// take to finish.
    pub response_timeout: Duration,
    /// Per-address counts (the HTTP-phase cap per address).
    pub addresses: Arc<AddressLimits>,
    /// Peers exempt from the per-address HTTP-phase cap.
    pub proxies: Arc<TrustedProxies>,
}

/// Accepts connections until shutdown. At most `max_pending` connections may
/// be in their HTTP phase (TLS handshake included) at once, and at most
/// `max_connections_per_address` from one untrusted address; further ones
/// are closed right away. With `tls`, every connection is TLS. The limits
/// are counted in `metrics` (`pending_connections`,
/// `pending_connections_per_address`, `handshake_timeout`).
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    caps: Caps,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    mut shutdown: ShutdownSignal,
) {
    let Caps { max_pending, handshake_timeout, response_timeout, addresses, proxies } = caps;
    let pending = Arc::new(Semaphore::new(max_pending));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.triggered() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error_kind = ?e.kind(), "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let address_slot = if proxies.trusts(peer.ip()) {
            None
        } else {
            match addresses.admit_pending(IpKey::of(peer.ip())) {
                Ok(slot) => Some(slot),
                Err(refusal) => {
                    tracing::debug!("too many connections in handshake from one address");
                    metrics.limit_hit(refusal.limit_name());
                    continue;
                }
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::debug!("too many connections in handshake; dropping one");
            metrics.limit_hit("pending_connections");
            continue;
        };
        // Small request/response frames should not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let mut conn_shutdown = shutdown.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _address_slot = address_slot;
            // Whether a whole request arrived on this connection: only then
            // may an answer outlive the handshake deadline.
            let answered = Arc::new(AtomicBool::new(false));
            let saw_request = answered.clone();
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    saw_request.store(true, Ordering::Relaxed);
                    // The peer address reaches the handlers as axum's ConnectInfo;
                    // it is used for in-memory rate limits only.
                    request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    router.clone().oneshot(request)
                });
            let finish = Finish { answered, response_timeout };
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            let connection = async move {
                let Some(acceptor) = tls else {
                    return serve_http(stream, service, deadline, finish, &metrics).await;
                };
                match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        serve_http(tls_stream, service, deadline, finish, &metrics).await
                    }
                    Ok(Err(e)) => crate::tls::record_handshake_failure(&e),
                    Err(_) => {
                        metrics.limit_hit("handshake_timeout");
                        crate::tls::record_handshake_failure(&"timeout");
                    }
                }
            };
            tokio::select! {
                () = connection => {}
                _ = conn_shutdown.triggered() => {}
            }
        });
    }
}

/// What happens to a connection at its handshake deadline.
struct Finish {
    /// Set once a whole request reached the service.
    answered: Arc<AtomicBool>,
    /// How long an answer then may take to finish.
    response_timeout: Duration,
}

/// Serves HTTP/1 with upgrades on `io` until `deadline`; then, if a whole
/// request arrived, lets an answer in progress finish within the
/// response timeout.
async fn serve_http<I, S>(
    io: I,
    service: S,
    deadline: tokio::time::Instant,
    finish: Finish,
    metrics: &Metrics,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = axum::response::Response>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    let connection =
        http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    match tokio::time::timeout_at(deadline, connection.as_mut()).await {
        Ok(Ok(())) => return,
        Ok(Err(_)) => {
            tracing::debug!("http connection error");
            return;
        }
        Err(_) if !finish.answered.load(Ordering::Relaxed) => {
            // No whole request within the deadline (a slow or silent
            // client): dropped, as before the web app.
            metrics.limit_hit("handshake_timeout");
            tracing::debug!("handshake timeout");
            return;
        }
        Err(_) => {}
    }
    // Deadline after a request: read no further one. An idle keep-alive
    // connection closes at once; an answer being written (the wasm over a
    // slow link) may finish within the response timeout.
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(finish.response_timeout, connection).await {
        Ok(_) => {}
        Err(_) => {
            metrics.limit_hit("handshake_timeout");
            tracing::debug!("handshake timeout");
        }
    }
}
