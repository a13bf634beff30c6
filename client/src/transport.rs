//! The network, as the core sees it: a pipe of encoded frames to one server.
//!
//! A [`Transport`] moves whole frames and nothing else: it sends an encoded
//! client frame and hands back the next encoded server frame. Everything
//! that gives the frames meaning — request ids and matching answers to
//! requests, events that arrive while a request waits, timeouts, size and
//! buffer limits, the login challenge — lives in
//! [`Connection`](crate::connection::Connection), once, for every
//! front-end. A front-end only adapts its socket: client-cli the
//! tokio-tungstenite WebSocket (with TLS), the web app the browser's
//! `WebSocket`, the tests `testing::FakeTransport`.
//!
//! A [`Connector`] opens a transport to a server URL; the connection puts
//! its own deadline around it.

use thiserror::Error;

/// Why a transport could not be opened or stopped working. The texts name
/// what happened, never how a front-end lets the user change it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// No connection could be established (refused, no route, no answer).
    #[error("cannot reach the server")]
    Unreachable,
    /// The server turned the connection away because it is full (HTTP 429
    /// or 503 on the WebSocket upgrade); `reason` is a fixed explanation,
    /// never the server's own text.
    #[error("the server refused the connection: {reason}")]
    Busy {
        /// A fixed explanation of the refusal.
        reason: &'static str,
    },
    /// The server's TLS certificate failed verification.
    #[error("the server's certificate is not trusted: {reason}")]
    UntrustedCertificate {
        /// The verifier's verdict in plain words.
        reason: String,
    },
    /// The TLS handshake failed for another reason.
    #[error("the TLS handshake failed: {reason}")]
    Tls {
        /// What went wrong, in plain words.
        reason: String,
    },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The connection broke; the text is the socket's own description.
    #[error("{0}")]
    Failed(String),
}

/// An open, ordered, reliable pipe of frames to one server.
///
/// No `Send` bound (the browser's `WebSocket` is not `Send`); the core uses
/// transports generically, never as `dyn Transport`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends one encoded client frame whole (a transport may split it into
    /// several WebSocket frames of one message).
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError>;

    /// The next encoded server frame. Messages that carry no frame
    /// (pings, text) are skipped by the transport.
    ///
    /// Must be cancel-safe: when the future is dropped before it completes
    /// (the connection's timeout, or a front-end's `select!`), no frame is
    /// lost; a partly received one stays buffered for the next call.
    async fn recv(&mut self) -> Result<Vec<u8>, TransportError>;

    /// Closes the pipe politely, within a short time of the transport's
    /// choosing; errors do not matter any more at this point.
    async fn close(self);
}

/// Opens transports to a server.
#[allow(async_fn_in_trait)]
pub trait Connector {
    /// What it opens.
    type Transport: Transport;

    /// Opens a transport to `url` (a checked `ws://` or `wss://` URL). No
    /// deadline of its own is needed: the connection abandons the future
    /// after [`CONNECT_TIMEOUT`](crate::connection::CONNECT_TIMEOUT).
    async fn connect(&self, url: &str) -> Result<Self::Transport, TransportError>;
}
