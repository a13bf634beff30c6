//! The one module that owns the WebSocket: the tokio-tungstenite
//! [`Transport`] (with rustls for `wss://`) and its [`Connector`](transport::Connector), and
//! [`Connection`], the client's connection to the relay built on them.
//!
//! What the frames mean — request ids and matching answers, events that
//! arrive while a request waits (kept in order for the next
//! [`Connection::next_event`]), the login challenge, the timeouts and
//! limits — lives in the core ([`stadtbote_client::connection`]), the same
//! for every front-end; this module adapts the socket to it: whole frames
//! out (fragmented above [`MAX_OUTGOING_FRAME`]), whole frames in, TLS and
//! HTTP refusals of the upgrade in plain words, and the core's errors as
//! the CLI's [`ClientError`]s.
//!
//! Limits: connecting (TCP, WebSocket handshake and the server's challenge)
//! must finish within [`CONNECT_TIMEOUT`], every request is answered within
//! [`REQUEST_TIMEOUT`], no incoming message may exceed [`MAX_MESSAGE`], and
//! no more than [`MAX_BUFFERED_EVENTS`] events are held back.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stadtbote_client::clock::Clock;
use stadtbote_client::connection as core;
use stadtbote_client::transport::{self, Transport, TransportError};
use stadtbote_protocol::{ErrorBody, Event, Request, Response};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use stadtbote_client::connection::{
    CONNECT_TIMEOUT, Challenge, MAX_BUFFERED_BYTES, MAX_BUFFERED_EVENTS, MAX_MESSAGE,
    REQUEST_TIMEOUT,
};

use crate::clock::SystemClock;
use crate::error::{CliError, ClientError};

/// Largest WebSocket frame this client sends; a longer message goes out as a
/// fragmented message (RFC 6455, section 5.4), which every WebSocket server
/// reassembles. The server's WebSocket library (tungstenite) keeps its read
/// buffer as large as the largest frame it has received until the
/// connection closes, so small frames are what keep a server's memory per
/// connection small after an attachment upload (64 KiB chunks):
/// docs/BENCHMARKS.md.
pub const MAX_OUTGOING_FRAME: usize = 2048;

/// The WebSocket messages that carry one encoded client frame: a single
/// binary message, or for more than [`MAX_OUTGOING_FRAME`] bytes a binary
/// frame and continuation frames of at most that size each.
pub fn outgoing(bytes: Vec<u8>) -> Vec<Message> {
    if bytes.len() <= MAX_OUTGOING_FRAME {
        return vec![Message::Binary(bytes.into())];
    }
    let bytes = tokio_tungstenite::tungstenite::Bytes::from(bytes);
    let count = bytes.len().div_ceil(MAX_OUTGOING_FRAME);
    (0..count)
        .map(|i| {
            let start = i * MAX_OUTGOING_FRAME;
            let end = (start + MAX_OUTGOING_FRAME).min(bytes.len());
            let opcode = if i == 0 { Data::Binary } else { Data::Continue };
            Message::Frame(Frame::message(
                bytes.slice(start..end),
                OpCode::Data(opcode),
                end == bytes.len(),
            ))
        })
        .collect()
}

/// Sends one encoded client frame as [`outgoing`] splits it, then flushes.
pub async fn send_frame<S>(sink: &mut S, bytes: Vec<u8>) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    for message in outgoing(bytes) {
        sink.feed(message).await?;
    }
    sink.flush().await
}

/// Checks that a server URL is a usable WebSocket URL.
pub fn validate_url(url: &str) -> Result<(), ClientError> {
    let invalid = |reason| ClientError::InvalidServerUrl { url: url.to_string(), reason };
    // The core's check first (scheme, host), then the WebSocket library's.
    stadtbote_client::session::validate_url(url)?;
    url.into_client_request().map_err(|_| invalid("it is not a valid URL"))?;
    Ok(())
}

/// An extra CA certificate file (`--ca-cert`) trusted for `wss://` besides
/// the built-in web PKI roots; set once at startup.
static EXTRA_CA_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Trusts the PEM certificates in `path` for `wss://` connections, besides
/// the built-in roots (for a town's own CA or a self-signed certificate).
/// Only the first call has an effect.
pub fn set_extra_ca_file(path: PathBuf) {
    let _ = EXTRA_CA_FILE.set(path);
}

/// The rustls client configuration: web PKI roots (webpki-roots) plus the
/// certificates of [`set_extra_ca_file`] (see [`crate::tls_trust`]), with
/// the `ring` provider.
pub fn tls_client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, CliError> {
    crate::tls_trust::client_config(extra_ca)
}

/// Turns a failed connect into a TLS error, in plain words, when rustls
/// caused it.
fn tls_failure(error: &tokio_tungstenite::tungstenite::Error) -> Option<TransportError> {
    let tokio_tungstenite::tungstenite::Error::Io(io) = error else { return None };
    let rustls_error = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(reason) => TransportError::UntrustedCertificate {
            reason: crate::tls_trust::certificate_problem(reason),
        },
        other => TransportError::Tls { reason: crate::tls_trust::handshake_problem(other) },
    })
}

/// A refused WebSocket upgrade that means "too many connections", with a
/// fixed explanation (the server's own text is not shown).
fn refused_upgrade(error: &tokio_tungstenite::tungstenite::Error) -> Option<TransportError> {
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else { return None };
    let reason = match response.status().as_u16() {
        429 => {
            "too many connections from your network address (for example a shared Wi-Fi or \
             your mobile carrier's NAT)"
        }
        503 => "the server is at its connection limit or shutting down",
        _ => return None,
    };
    Some(TransportError::Busy { reason })
}

/// The WebSocket to the relay as the core's frame pipe.
pub struct WsTransport {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTransport").finish_non_exhaustive()
    }
}

impl Transport for WsTransport {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError> {
        send_frame(&mut self.ws, frame).await.map_err(|e| TransportError::Failed(e.to_string()))
    }

    /// Cancel-safe: `StreamExt::next` on the WebSocket keeps a partly
    /// received message in tungstenite's buffer, and nothing is held
    /// between the loop's turns.
    async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        loop {
            match self.ws.next().await {
                None => return Err(TransportError::Closed),
                Some(Err(e)) => return Err(TransportError::Failed(e.to_string())),
                Some(Ok(Message::Binary(bytes))) => return Ok(bytes.into()),
                Some(Ok(Message::Close(_))) => return Err(TransportError::Closed),
                // Pings are answered by tungstenite itself; text frames are
                // not part of the protocol.
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn close(mut self) {
        let _ = timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// Opens [`WsTransport`]s: TCP, TLS for `wss://` (with the trust of
/// [`tls_client_config`]) and the WebSocket handshake, with this client's
/// message limits.
#[derive(Debug, Clone)]
pub struct WsConnector {
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl WsConnector {
    /// A connector for `url`: with TLS (web PKI roots plus the certificates
    /// of [`set_extra_ca_file`]) for `wss://`.
    pub fn for_url(url: &str) -> Result<WsConnector, CliError> {
        let tls = if url.starts_with("wss://") {
            Some(Arc::new(tls_client_config(EXTRA_CA_FILE.get().map(PathBuf::as_path))?))
        } else {
            None
        };
        Ok(WsConnector { tls })
    }
}

impl transport::Connector for WsConnector {
    type Transport = WsTransport;

    async fn connect(&self, url: &str) -> Result<WsTransport, TransportError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            // Small buffers: the client sends and receives little.
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_MESSAGE * 2);
        let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        let (ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector)
                .await
                .map_err(|e| {
                    tracing::debug!(error = %e, "connect failed");
                    tls_failure(&e)
                        .or_else(|| refused_upgrade(&e))
                        .unwrap_or(TransportError::Unreachable)
                })?;
        Ok(WsTransport { ws })
    }
}

/// The core's connection over the WebSocket, timed by `C` (the system
/// clock unless a test passes another).
pub type CoreConnection<C = SystemClock> = core::Connection<WsTransport, C>;

/// An open connection to the relay, timed by `C`.
#[derive(Debug)]
pub struct Connection<C = SystemClock> {
    inner: CoreConnection<C>,
}

impl Connection<SystemClock> {
    /// Connects and reads the server's challenge, timed by the system clock.
    pub async fn connect(url: &str) -> Result<(Connection, Challenge), CliError> {
        Connection::connect_with(url, SystemClock).await
    }
}

impl<C: Clock> Connection<C> {
    /// Connects and reads the server's challenge; `clock` times the
    /// connection's deadlines.
    pub async fn connect_with(url: &str, clock: C) -> Result<(Connection<C>, Challenge), CliError> {
        validate_url(url)?;
        let connector = WsConnector::for_url(url)?;
        let (inner, challenge) = CoreConnection::open(&connector, clock, url).await?;
        Ok((Connection { inner }, challenge))
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        self.inner.url()
    }

    /// The clock this connection is timed by.
    pub fn clock(&self) -> &C {
        self.inner.clock()
    }

    /// The core's connection, for the core's routines
    /// ([`stadtbote_client::commit::commit_with_retry`]).
    pub fn core_mut(&mut self) -> &mut CoreConnection<C> {
        &mut self.inner
    }

    /// Sends a request and waits for its answer. A typed server error comes
    /// back as `Ok(Err(body))` so that callers can branch on its code.
    pub async fn call(
        &mut self,
        request: Request,
    ) -> Result<Result<Response, ErrorBody>, ClientError> {
        Ok(self.inner.call(request).await?)
    }

    /// Like [`Connection::call`], but a server error becomes
    /// [`ConnectionError::Server`](core::ConnectionError::Server) (inside
    /// [`ClientError::Connection`]).
    pub async fn request(&mut self, request: Request) -> Result<Response, ClientError> {
        self.call(request).await?.map_err(ClientError::server)
    }

    /// The next event: one held back, or the next one read within `wait`
    /// (timed by the connection's clock). `Ok(None)` when `wait` passes
    /// first. Cancel-safe (the chat races it against the terminal).
    pub async fn next_event(&mut self, wait: Duration) -> Result<Option<Event>, ClientError> {
        Ok(self.inner.next_event(wait).await?)
    }

    /// Closes the connection politely; errors are irrelevant at this point.
    pub async fn close(self) {
        self.inner.close().await;
    }
}

#[cfg(test)]
mod tests {
    use stadtbote_client::connection::ConnectionError;

    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("ws://127.0.0.1:8470/v1/ws").is_ok());
        assert!(validate_url("ws://example.org/v1/ws").is_ok());
        assert!(validate_url("wss://example.org/v1/ws").is_ok());
        for bad in ["htp:/nonsense", "", "ws://", "http://x/v1/ws", "ws:///v1/ws", "wss:///v1/ws"] {
            let err = validate_url(bad).unwrap_err();
            assert!(err.to_string().contains("invalid server URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn too_many_connections_is_reported_as_busy() {
        use tokio_tungstenite::tungstenite::{Error, http};
        let refusal = |status: u16| {
            let response = http::Response::builder().status(status).body(None).unwrap();
            refused_upgrade(&Error::Http(Box::new(response))).map(|error| {
                let TransportError::Busy { reason } = error else { panic!("{error}") };
                ClientError::from(ConnectionError::Busy { url: "ws://x/v1/ws".into(), reason })
            })
        };
        let busy = refusal(429).unwrap();
        assert!(busy.to_string().contains("too many connections from your network"), "{busy}");
        assert!(busy.is_offline() && busy.is_transient());
        assert!(refusal(503).unwrap().to_string().contains("connection limit"));
        assert!(refusal(404).is_none());
    }

    #[tokio::test]
    async fn a_closed_port_fails_fast_as_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let started = std::time::Instant::now();
        let err = Connection::connect(&format!("ws://127.0.0.1:{port}/v1/ws")).await.unwrap_err();
        assert!(
            matches!(
                err,
                CliError::Core(ClientError::Connection(ConnectionError::Unreachable { .. }))
            ),
            "{err}"
        );
        assert!(started.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_within_the_connect_timeout() {
        // Accepts TCP but never speaks WebSocket.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        let err = Connection::connect(&format!("ws://127.0.0.1:{port}/v1/ws")).await.unwrap_err();
        assert!(
            matches!(
                err,
                CliError::Core(ClientError::Connection(ConnectionError::Unreachable { .. }))
            ),
            "{err}"
        );
        assert!(started.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(1));
    }

    #[test]
    fn long_frames_go_out_as_fragments_of_at_most_the_limit() {
        assert!(matches!(&outgoing(vec![1; MAX_OUTGOING_FRAME])[..], [Message::Binary(_)]));
        let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let messages = outgoing(bytes.clone());
        assert_eq!(messages.len(), 10_000usize.div_ceil(MAX_OUTGOING_FRAME));
        let mut joined = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let Message::Frame(frame) = message else { panic!("fragment {i} is not a frame") };
            let expected = if i == 0 { Data::Binary } else { Data::Continue };
            assert_eq!(frame.header().opcode, OpCode::Data(expected));
            assert_eq!(frame.header().is_final, i + 1 == messages.len());
            assert!(frame.payload().len() <= MAX_OUTGOING_FRAME);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, bytes);
    }

    /// A real WebSocket server (tungstenite, as the relay uses) reassembles
    /// the fragments into the one message that was sent.
    #[tokio::test]
    async fn a_server_receives_a_fragmented_frame_as_one_message() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                other => panic!("unexpected {other:?}"),
            }
        });
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/")).await.unwrap();
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        send_frame(&mut ws, bytes.clone()).await.unwrap();
        assert_eq!(server.await.unwrap(), bytes);
    }

    /// The adapter hands the core whole binary messages only: pings and
    /// text are skipped, a close is "the server closed the connection".
    #[tokio::test]
    async fn the_websocket_transport_passes_binary_frames_and_reports_a_close() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            ws.send(Message::Ping(vec![1].into())).await.unwrap();
            ws.send(Message::Text("not a frame".into())).await.unwrap();
            ws.send(Message::Binary(vec![9, 8, 7].into())).await.unwrap();
            ws.close(None).await.unwrap();
            // Keep the socket until the client has read the close.
            while ws.next().await.is_some() {}
        });
        let url = format!("ws://127.0.0.1:{port}/v1/ws");
        let mut transport =
            transport::Connector::connect(&WsConnector::for_url(&url).unwrap(), &url)
                .await
                .unwrap();
        assert_eq!(transport.recv().await.unwrap(), vec![9, 8, 7]);
        let closed = transport.recv().await.unwrap_err();
        assert_eq!(closed, TransportError::Closed);
        assert_eq!(closed.to_string(), "the server closed the connection");
    }
}
