//! The one module that owns the WebSocket.
//!
//! A [`Connection`] turns requests into frames and frames back into answers.
//! It is driven by its owner rather than by a background task: every read
//! happens inside [`Connection::request`] or [`Connection::next_event`], and
//! events that arrive while a request waits for its answer are kept, in
//! order, for the next `next_event`. That keeps ordering obvious (mailbox
//! batches are processed in the order the server sent them) and needs no
//! channel between tasks.
//!
//! Limits: connecting (TCP, WebSocket handshake and the server's challenge)
//! must finish within [`CONNECT_TIMEOUT`], every request is answered within
//! [`REQUEST_TIMEOUT`], no incoming message may exceed [`MAX_MESSAGE`], and
//! no more than [`MAX_BUFFERED_EVENTS`] events are held back.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::{ClientFrame, ErrorBody, Event, Request, Response};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::error::ClientError;

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

/// Time allowed for TCP connect, WebSocket handshake and the challenge.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest WebSocket message accepted from the server. A mailbox batch holds
/// at most 64 envelopes; this leaves room for large ones.
pub const MAX_MESSAGE: usize = 16 << 20;
/// Events held back while waiting for answers before the connection is
/// considered misbehaving.
pub const MAX_BUFFERED_EVENTS: usize = 4096;
/// Bytes of held-back events allowed (a month of mailbox fits easily).
pub const MAX_BUFFERED_BYTES: usize = 256 << 20;

/// The login challenge the server sends first on every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The nonce to sign.
    pub nonce: Vec<u8>,
    /// Proof-of-work difficulty for registration.
    pub pow_difficulty: u8,
    /// The server's clock (Unix ms).
    pub server_time: u64,
}

/// Checks that a server URL is a usable WebSocket URL.
pub fn validate_url(url: &str) -> Result<(), ClientError> {
    let invalid = |reason| ClientError::InvalidServerUrl { url: url.to_string(), reason };
    let Some(rest) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")) else {
        return Err(invalid("it must start with ws:// or wss://"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("it names no host"));
    }
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
pub fn tls_client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    crate::tls_trust::client_config(extra_ca)
}

/// Turns a failed connect into a TLS error, in plain words, when rustls
/// caused it.
fn tls_failure(url: &str, error: &tokio_tungstenite::tungstenite::Error) -> Option<ClientError> {
    let tokio_tungstenite::tungstenite::Error::Io(io) = error else { return None };
    let rustls_error = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(reason) => ClientError::UntrustedCertificate {
            url: url.to_string(),
            reason: crate::tls_trust::certificate_problem(reason),
        },
        other => ClientError::Tls {
            url: url.to_string(),
            reason: crate::tls_trust::handshake_problem(other),
        },
    })
}

/// A refused WebSocket upgrade that means "too many connections", with a
/// fixed explanation (the server's own text is not shown).
fn refused_upgrade(
    url: &str,
    error: &tokio_tungstenite::tungstenite::Error,
) -> Option<ClientError> {
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else { return None };
    let reason = match response.status().as_u16() {
        429 => {
            "too many connections from your network address (for example a shared Wi-Fi or \
             your mobile carrier's NAT)"
        }
        503 => "the server is at its connection limit or shutting down",
        _ => return None,
    };
    Some(ClientError::ServerBusy { url: url.to_string(), reason })
}

/// An open connection to the relay.
pub struct Connection {
    url: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Held-back events with their encoded sizes.
    events: VecDeque<(Event, usize)>,
    buffered_bytes: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects and reads the server's challenge.
    pub async fn connect(url: &str) -> Result<(Connection, Challenge), ClientError> {
        validate_url(url)?;
        let unreachable = || ClientError::Unreachable { url: url.to_string() };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            // Small buffers: the client sends and receives little.
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_MESSAGE * 2);
        let connector = if url.starts_with("wss://") {
            let tls = tls_client_config(EXTRA_CA_FILE.get().map(PathBuf::as_path))?;
            Some(Connector::Rustls(Arc::new(tls)))
        } else {
            None
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let (ws, _response) = timeout_at(
            deadline,
            tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector),
        )
        .await
        .map_err(|_| unreachable())?
        .map_err(|e| {
            tracing::debug!(error = %e, "connect failed");
            tls_failure(url, &e).or_else(|| refused_upgrade(url, &e)).unwrap_or_else(unreachable)
        })?;
        let mut conn = Connection {
            url: url.to_string(),
            ws,
            next_id: 1,
            events: VecDeque::new(),
            buffered_bytes: 0,
        };
        let challenge = loop {
            match conn.read_body(deadline).await {
                Ok(Some((
                    ServerBody::Event {
                        event: Event::Challenge { nonce, pow_difficulty, server_time },
                    },
                    _,
                ))) => {
                    break Challenge { nonce: nonce.into_vec(), pow_difficulty, server_time };
                }
                Ok(Some((ServerBody::Event { event }, size))) => conn.keep(event, size)?,
                Ok(Some(_)) => return Err(conn.protocol("expected a challenge first")),
                // A server that accepts the socket but never speaks, or
                // hangs up at once, is as good as unreachable.
                Ok(None) | Err(ClientError::ConnectionLost { .. }) => return Err(unreachable()),
                Err(e) => return Err(e),
            }
        };
        Ok((conn, challenge))
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends a request and waits for its answer. A typed server error comes
    /// back as `Ok(Err(body))` so that callers can branch on its code.
    pub async fn call(
        &mut self,
        request: Request,
    ) -> Result<Result<Response, ErrorBody>, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let name = request.name();
        let bytes = frame::encode(&ClientFrame::new(id, request));
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        timeout_at(deadline, send_frame(&mut self.ws, bytes))
            .await
            .map_err(|_| self.lost(format!("sending {name} timed out")))?
            .map_err(|e| self.lost(e.to_string()))?;
        loop {
            let Some((body, size)) = self.read_body(deadline).await? else {
                return Err(self.lost(format!("no answer to {name} in time")));
            };
            match body {
                ServerBody::Response { id: got, response } if got == id => return Ok(Ok(response)),
                ServerBody::Error { id: Some(got), error } if got == id => return Ok(Err(error)),
                ServerBody::Error { id: None, error } => return Err(ClientError::Server(error)),
                ServerBody::Event { event } => self.keep(event, size)?,
                // An answer to an earlier request that timed out on our side.
                _ => tracing::debug!("dropping an answer to an older request"),
            }
        }
    }

    /// Like [`Connection::call`], but a server error becomes [`ClientError::Server`].
    pub async fn request(&mut self, request: Request) -> Result<Response, ClientError> {
        self.call(request).await?.map_err(ClientError::Server)
    }

    /// The next event: one held back, or the next one read before `deadline`.
    /// `Ok(None)` when the deadline passes first.
    pub async fn next_event(&mut self, deadline: Instant) -> Result<Option<Event>, ClientError> {
        if let Some((event, size)) = self.events.pop_front() {
            self.buffered_bytes -= size;
            return Ok(Some(event));
        }
        loop {
            match self.read_body(deadline).await? {
                Some((ServerBody::Event { event }, _)) => return Ok(Some(event)),
                Some(_) => tracing::debug!("dropping an answer to an older request"),
                None => return Ok(None),
            }
        }
    }

    /// Closes the connection politely; errors are irrelevant at this point.
    pub async fn close(mut self) {
        let _ = timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }

    fn keep(&mut self, event: Event, size: usize) -> Result<(), ClientError> {
        if self.events.len() >= MAX_BUFFERED_EVENTS
            || self.buffered_bytes.saturating_add(size) > MAX_BUFFERED_BYTES
        {
            return Err(self.protocol("too many unsolicited events"));
        }
        self.buffered_bytes += size;
        self.events.push_back((event, size));
        Ok(())
    }

    /// Reads the next frame; returns its body and encoded size, or `None`
    /// when the deadline passes first. Cancelling the read at the deadline
    /// is safe: a partly received message stays in tungstenite's buffer.
    async fn read_body(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(ServerBody, usize)>, ClientError> {
        loop {
            let message = match timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(self.lost("the server closed the connection".into())),
                Ok(Some(Err(e))) => return Err(self.lost(e.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Binary(bytes) => {
                    let frame = frame::decode_server(&bytes, MAX_MESSAGE)
                        .map_err(|e| self.protocol(&e.to_string()))?;
                    return Ok(Some((frame.body, bytes.len())));
                }
                Message::Close(_) => {
                    return Err(self.lost("the server closed the connection".into()));
                }
                // Pings are answered by tungstenite itself; text frames are
                // not part of the protocol.
                _ => continue,
            }
        }
    }

    fn lost(&self, reason: String) -> ClientError {
        ClientError::ConnectionLost { url: self.url.clone(), reason }
    }

    fn protocol(&self, reason: &str) -> ClientError {
        ClientError::Protocol { url: self.url.clone(), reason: reason.to_string() }
    }
}

#[cfg(test)]
mod tests {
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
            refused_upgrade("ws://x/v1/ws", &Error::Http(Box::new(response)))
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
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
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
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
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
}
