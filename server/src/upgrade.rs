//! The WebSocket upgrade of `/v1/ws`, done by the server itself.
//!
//! axum's `WebSocketUpgrade` hands over a `WebSocket` that hides the socket
//! behind hyper's upgrade wrapper and tungstenite's write path: every frame
//! is copied into a per-connection write buffer, sent by the connection's
//! own task, one task wake-up and one `send()` per frame and follower. The
//! channel fan-out needs the plain socket instead, to write one prebuilt
//! frame into every follower's socket directly ([`crate::wire`]). So this
//! module checks the upgrade request exactly as axum did (same statuses),
//! answers `101 Switching Protocols`, and, once hyper has let go of the
//! connection, takes the TCP (or TLS) stream back out of it: tungstenite
//! then only reads the client's frames, and every frame the server sends
//! goes through the connection's [`crate::wire::Wire`].

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::Config;
use crate::wire::{self, Socket, TlsStream, Wire, WireLimits, WriteSide};

/// A valid upgrade request, not yet answered.
pub struct Pending {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// The upgraded connection: tungstenite reading the client's frames, the
/// shared sending side, and the writer task's half of the socket.
pub struct WebSocket {
    /// The client's messages.
    pub stream: WebSocketStream<Socket>,
    /// Everything the server sends.
    pub wire: std::sync::Arc<Wire>,
    /// The writer task's half of the socket.
    pub write: WriteSide,
}

fn header_contains(headers: &HeaderMap, key: HeaderName, value: &str) -> bool {
    headers.get_all(key).iter().any(|header| {
        header
            .to_str()
            .is_ok_and(|text| text.split(',').any(|item| item.trim().eq_ignore_ascii_case(value)))
    })
}

fn header_eq(headers: &HeaderMap, key: HeaderName, value: &str) -> bool {
    headers.get(key).is_some_and(|header| header.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Checks an upgrade request as axum's `WebSocketUpgrade` extractor did:
/// a GET over HTTP/1.1 with `Connection: upgrade`, `Upgrade: websocket`,
/// a key and version 13. Refusals carry the same statuses as before.
pub fn check(request: &mut Request) -> Result<Pending, (StatusCode, &'static str)> {
    let refuse = |status: StatusCode, text: &'static str| (status, text);
    if request.version() > Version::HTTP_11 {
        return Err(refuse(StatusCode::BAD_REQUEST, "WebSocket over HTTP/1.1 only"));
    }
    if request.method() != Method::GET {
        return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "Request method must be `GET`"));
    }
    let headers = request.headers();
    if !header_contains(headers, header::CONNECTION, "upgrade") {
        return Err(refuse(StatusCode::BAD_REQUEST, "Connection header did not include 'upgrade'"));
    }
    if !header_eq(headers, header::UPGRADE, "websocket") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "`Upgrade` header did not include 'websocket'",
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Err(refuse(StatusCode::BAD_REQUEST, "`Sec-WebSocket-Key` header missing"));
    };
    if !header_eq(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Version` header did not include '13'",
        ));
    }
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket request couldn't be upgraded since no upgrade state was present",
        ));
    };
    Ok(Pending { key, on_upgrade })
}

impl Pending {
    /// Answers `101 Switching Protocols` and runs `serve` on the
    /// connection once hyper hands it over.
    pub fn accept<F, Fut>(self, config: &Config, serve: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(config.read_buffer_bytes)
            // The server writes its own frames (crate::wire); tungstenite
            // only writes pongs and close answers, which go to the wire at
            // once.
            .write_buffer_size(0)
            .max_write_buffer_size(config.max_write_buffer_bytes)
            .max_message_size(Some(config.max_message_bytes))
            .max_frame_size(Some(config.max_frame_bytes));
        let limits = WireLimits {
            frames: config.send_queue_frames.max(1),
            bytes: config.max_write_buffer_bytes,
        };
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                tracing::debug!("websocket upgrade failed");
                return;
            };
            let Some((socket, wire, write)) = take_socket(upgraded, limits) else {
                tracing::warn!("websocket upgrade on an unknown transport");
                return;
            };
            let stream =
                WebSocketStream::from_raw_socket(socket, Role::Server, Some(ws_config)).await;
            serve(WebSocket { stream, wire, write }).await;
        });
        let accept = derive_accept_key(self.key.as_bytes());
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
        }
        response
    }
}

/// The stream hyper served (plain TCP or TLS, see [`crate::listener`]),
/// with the bytes it had already read past the upgrade request.
fn take_socket(
    upgraded: Upgraded,
    limits: WireLimits,
) -> Option<(Socket, std::sync::Arc<Wire>, WriteSide)> {
    let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => return Some(wire::split_tcp(parts.io.into_inner(), parts.read_buf, limits)),
        Err(upgraded) => upgraded,
    };
    match upgraded.downcast::<TokioIo<TlsStream>>() {
        Ok(parts) => Some(wire::split_tls(parts.io.into_inner(), parts.read_buf, limits)),
        Err(_) => None,
    }
}
