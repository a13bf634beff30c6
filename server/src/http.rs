//! The HTTP surface: `/healthz`, `/privacy`, the WebSocket endpoint
//! `/v1/ws`, and the web app's files on every other path (`/` is its
//! `index.html`; [`crate::webapp`]). Every answer carries the strict
//! security headers of [`crate::webapp::security_headers`].
//!
//! The WebSocket upgrade is configured with the buffer and size limits from
//! the configuration (tungstenite's defaults — 128 KiB buffers, 64 MiB
//! messages, unlimited write buffer — are wrong for a relay) and is refused
//! with 503 when `max_connections` WebSockets are open or the server is
//! shutting down, and with 429 when the client's address already holds
//! `max_connections_per_address` of them. The client's address is the TCP
//! peer's, or the one a trusted proxy forwarded ([`crate::forwarded`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;

use crate::addrlimit::AddressLimits;
use crate::config::Config;
use crate::connection::{self, ConnectionContext};
use crate::forwarded::{Source, TrustedProxies};
use crate::privacy::PrivacyStatement;
use crate::ratelimit::IpKey;
use crate::relay::Relay;
use crate::shutdown::ShutdownSignal;
use crate::webapp::{self, WebApp};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// Request handling for WebSocket connections.
    pub relay: Arc<Relay>,
    /// The configuration.
    pub config: Arc<Config>,
    /// `/privacy` content, computed once from the configuration.
    pub privacy: Arc<PrivacyStatement>,
    /// One permit per open WebSocket connection.
    pub ws_slots: Arc<Semaphore>,
    /// Per-address connection counts and caps.
    pub addresses: Arc<AddressLimits>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub proxies: Arc<TrustedProxies>,
    /// Server shutdown.
    pub shutdown: ShutdownSignal,
    /// The web app's files.
    pub web: Arc<WebApp>,
}

/// The router with all routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/privacy", get(privacy))
        .route("/v1/ws", get(websocket))
        .fallback(web_file)
        .layer(middleware::from_fn_with_state(state.clone(), with_security_headers))
        .with_state(state)
}

async fn web_file(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    state.web.respond(&method, uri.path(), &headers)
}

/// Adds the security headers (CSP, no referrer, nosniff, …) to every
/// answer; the policy's WebSocket origin follows `public_url`, else the
/// `Host` asked for.
async fn with_security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let origins = webapp::ws_origins(state.config.public_url(), host.as_deref());
    let tiles = state.config.map_tiles_origin();
    let csp = webapp::content_security_policy_with(&origins, tiles.as_deref());
    webapp::security_headers(response.headers_mut(), &csp);
    response
}

/// Liveness and readiness: `ok` while the store answers; `503` with
/// `storage unavailable` while it does not (a PostgreSQL store whose
/// database is unreachable), so that a load balancer sends clients to
/// another node until this one recovers by itself.
async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.relay.store();
    match tokio::task::spawn_blocking(move || store.readiness()).await {
        Ok(Ok(())) => "ok".into_response(),
        _ => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response(),
    }
}

async fn privacy(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    // Admins may change retention at run time; the statement shows what is
    // enforced now.
    let statement = state.privacy.with_periods(state.relay.retention().periods());
    if wants_json {
        ([(header::CONTENT_TYPE, "application/json")], statement.to_json()).into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], statement.to_text()).into_response()
    }
}

async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    // Checked first, as axum's extractor did before: a request that is no
    // WebSocket upgrade is refused before any limit is counted.
    let upgrade = match crate::upgrade::check(&mut request) {
        Ok(upgrade) => upgrade,
        Err(refusal) => return refusal.into_response(),
    };
    let headers = request.headers();
    if state.shutdown.is_triggered() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response();
    }
    // The address is reduced to a rate-limit key here and goes no further.
    let (ip, source) = state.proxies.client_ip(peer.ip(), headers);
    if source == Source::ProxyWithoutHeader {
        crate::forwarded::warn_missing_header_once();
    }
    let client = IpKey::of(ip);
    let address_slot = match state.addresses.admit(client) {
        Ok(slot) => slot,
        Err(refusal) => {
            tracing::debug!("per-address connection limit reached");
            state.relay.metrics().limit_hit(refusal.limit_name());
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address; close some or retry later",
            )
                .into_response();
        }
    };
    let Ok(permit) = state.ws_slots.clone().try_acquire_owned() else {
        tracing::warn!(limit = state.config.max_connections, "connection limit reached");
        state.relay.metrics().limit_hit("connections");
        return (StatusCode::SERVICE_UNAVAILABLE, "server at its connection limit").into_response();
    };
    let ctx = ConnectionContext {
        relay: state.relay.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
        client,
        address_slot,
        permit,
    };
    upgrade.accept(&state.config, move |socket| connection::serve(socket, ctx))
}
