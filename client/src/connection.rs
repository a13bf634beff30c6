//! A logged-out or logged-in conversation with the relay over any
//! [`Transport`]: requests and their answers, events in between, and the
//! limits that keep a misbehaving server from holding the client forever
//! or filling its memory.
//!
//! A [`Connection`] is driven by its owner rather than by a background
//! task: every read happens inside [`Connection::call`] or
//! [`Connection::next_event`], and events that arrive while a request waits
//! for its answer are kept, in order, for the next `next_event`. That keeps
//! ordering obvious (mailbox batches are processed in the order the server
//! sent them), needs no channel between tasks and no `Send`, so the same
//! code runs on tokio and in the browser.
//!
//! Request ids count up from 1 per connection; an answer whose id is not
//! the one awaited (the answer to an earlier request that timed out here)
//! is dropped.
//!
//! Limits: opening (the connector and the server's challenge) must finish
//! within [`CONNECT_TIMEOUT`], every request is answered within
//! [`REQUEST_TIMEOUT`], no frame may exceed [`MAX_MESSAGE`], and no more
//! than [`MAX_BUFFERED_EVENTS`] events ([`MAX_BUFFERED_BYTES`]) are held
//! back. Time comes from the [`Clock`], so tests run the timeouts without
//! waiting for them.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::{ClientFrame, ErrorBody, Event, Request, Response};
use thiserror::Error;

use crate::clock::Clock;
use crate::transport::{Connector, Transport, TransportError};

/// Time allowed for opening the transport and receiving the challenge.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the answer to one request (sending included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest frame accepted from the server. A mailbox batch holds at most 64
/// envelopes; this leaves room for large ones.
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

/// Why a connection failed. Every variant names the server; none says what
/// a front-end's user should type (the front-end adds that).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// No connection could be established (refused, unreachable, timed
    /// out, or the server hung up before its challenge).
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The server URL.
        url: String,
    },
    /// The server turned the connection away because it is full.
    #[error("the server at {url} refused the connection: {reason}")]
    Busy {
        /// The server URL.
        url: String,
        /// A fixed explanation (never the server's text).
        reason: &'static str,
    },
    /// The server's TLS certificate failed verification.
    #[error("the server's certificate is not trusted: {reason} (server {url})")]
    UntrustedCertificate {
        /// The server URL.
        url: String,
        /// The verifier's verdict.
        reason: String,
    },
    /// The TLS handshake failed for another reason.
    #[error("TLS handshake with the server at {url} failed: {reason}")]
    Tls {
        /// The server URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection broke or the server stopped answering.
    #[error("lost the connection to the server at {url}: {reason}")]
    Lost {
        /// The server URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The server sent something that is not a valid frame, or not the
    /// frame the protocol expects at this point.
    #[error("the server at {url} sent an unexpected answer: {reason}")]
    Protocol {
        /// The server URL.
        url: String,
        /// What was unexpected.
        reason: String,
    },
    /// The server reported an error about the connection itself (an error
    /// frame without a request id).
    #[error("the server refused the request: {0}")]
    Server(ErrorBody),
}

/// Runs `work` until it completes or `timer` does, whichever is first;
/// `None` when the timer won. `work` is polled first, so something already
/// received is taken even when the time is up. Dropping `work` at the
/// deadline relies on it being cancel-safe ([`Transport::recv`]).
async fn before<W: Future, D: Future>(
    work: W,
    mut timer: std::pin::Pin<&mut D>,
) -> Option<W::Output> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Events read while waiting for answers, kept in order, with their sizes.
#[derive(Debug, Default)]
struct HeldEvents {
    events: VecDeque<(Event, usize)>,
    bytes: usize,
}

impl HeldEvents {
    fn keep(&mut self, event: Event, size: usize) -> Result<(), &'static str> {
        if self.events.len() >= MAX_BUFFERED_EVENTS
            || self.bytes.saturating_add(size) > MAX_BUFFERED_BYTES
        {
            return Err("too many unsolicited events");
        }
        self.bytes += size;
        self.events.push_back((event, size));
        Ok(())
    }

    fn take(&mut self) -> Option<Event> {
        let (event, size) = self.events.pop_front()?;
        self.bytes -= size;
        Some(event)
    }
}

/// An open connection to the relay over a transport `T`, timed by `C`.
pub struct Connection<T, C> {
    url: String,
    transport: T,
    clock: C,
    next_id: u64,
    held: HeldEvents,
}

impl<T, C> std::fmt::Debug for Connection<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("url", &self.url).finish_non_exhaustive()
    }
}

fn lost(url: &str, reason: String) -> ConnectionError {
    ConnectionError::Lost { url: url.to_string(), reason }
}

fn protocol(url: &str, reason: &str) -> ConnectionError {
    ConnectionError::Protocol { url: url.to_string(), reason: reason.to_string() }
}

/// Reads and decodes the next frame: its body and encoded size.
async fn read_body<T: Transport>(
    transport: &mut T,
    url: &str,
) -> Result<(ServerBody, usize), ConnectionError> {
    let bytes = transport.recv().await.map_err(|e| lost(url, e.to_string()))?;
    let frame =
        frame::decode_server(&bytes, MAX_MESSAGE).map_err(|e| protocol(url, &e.to_string()))?;
    Ok((frame.body, bytes.len()))
}

impl<T: Transport, C: Clock> Connection<T, C> {
    /// Opens a transport to `url` with `connector` and reads the server's
    /// challenge, all within [`CONNECT_TIMEOUT`]. Events before the
    /// challenge are kept.
    pub async fn open<K>(
        connector: &K,
        clock: C,
        url: &str,
    ) -> Result<(Self, Challenge), ConnectionError>
    where
        K: Connector<Transport = T>,
    {
        let unreachable = || ConnectionError::Unreachable { url: url.to_string() };
        // The timer borrows the clock; it ends before the clock moves in.
        let (transport, held, challenge) = {
            let mut timer = pin!(clock.sleep(CONNECT_TIMEOUT));
            let transport = match before(connector.connect(url), timer.as_mut()).await {
                None => return Err(unreachable()),
                Some(Ok(transport)) => transport,
                Some(Err(error)) => {
                    return Err(match error {
                        TransportError::Busy { reason } => {
                            ConnectionError::Busy { url: url.to_string(), reason }
                        }
                        TransportError::UntrustedCertificate { reason } => {
                            ConnectionError::UntrustedCertificate { url: url.to_string(), reason }
                        }
                        TransportError::Tls { reason } => {
                            ConnectionError::Tls { url: url.to_string(), reason }
                        }
                        TransportError::Unreachable
                        | TransportError::Closed
                        | TransportError::Failed(_) => unreachable(),
                    });
                }
            };
            let mut transport = transport;
            let mut held = HeldEvents::default();
            let challenge = loop {
                match before(read_body(&mut transport, url), timer.as_mut()).await {
                    Some(Ok((
                        ServerBody::Event {
                            event: Event::Challenge { nonce, pow_difficulty, server_time },
                        },
                        _,
                    ))) => {
                        break Challenge { nonce: nonce.into_vec(), pow_difficulty, server_time };
                    }
                    Some(Ok((ServerBody::Event { event }, size))) => {
                        held.keep(event, size).map_err(|reason| protocol(url, reason))?;
                    }
                    Some(Ok(_)) => return Err(protocol(url, "expected a challenge first")),
                    // A server that accepts the socket but never speaks, or
                    // hangs up at once, is as good as unreachable.
                    None | Some(Err(ConnectionError::Lost { .. })) => return Err(unreachable()),
                    Some(Err(error)) => return Err(error),
                }
            };
            (transport, held, challenge)
        };
        let connection = Connection { url: url.to_string(), transport, clock, next_id: 1, held };
        Ok((connection, challenge))
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The clock this connection times itself with.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Sends a request and waits (at most [`REQUEST_TIMEOUT`]) for its
    /// answer. A typed server error comes back as `Ok(Err(body))` so that
    /// callers can branch on its code.
    pub async fn call(
        &mut self,
        request: Request,
    ) -> Result<Result<Response, ErrorBody>, ConnectionError> {
        let id = self.next_id;
        self.next_id += 1;
        let name = request.name();
        let bytes = frame::encode(&ClientFrame::new(id, request));
        let url = self.url.as_str();
        let mut timer = pin!(self.clock.sleep(REQUEST_TIMEOUT));
        before(self.transport.send(bytes), timer.as_mut())
            .await
            .ok_or_else(|| lost(url, format!("sending {name} timed out")))?
            .map_err(|e| lost(url, e.to_string()))?;
        loop {
            let Some(read) = before(read_body(&mut self.transport, url), timer.as_mut()).await
            else {
                return Err(lost(url, format!("no answer to {name} in time")));
            };
            let (body, size) = read?;
            match body {
                ServerBody::Response { id: got, response } if got == id => return Ok(Ok(response)),
                ServerBody::Error { id: Some(got), error } if got == id => return Ok(Err(error)),
                ServerBody::Error { id: None, error } => {
                    return Err(ConnectionError::Server(error));
                }
                ServerBody::Event { event } => {
                    self.held.keep(event, size).map_err(|reason| protocol(url, reason))?;
                }
                // An answer to an earlier request that timed out here.
                _ => {}
            }
        }
    }

    /// Like [`Connection::call`], but a server error becomes
    /// [`ConnectionError::Server`].
    pub async fn request(&mut self, request: Request) -> Result<Response, ConnectionError> {
        self.call(request).await?.map_err(ConnectionError::Server)
    }

    /// The next event: one held back, or the next one read within `wait`.
    /// `Ok(None)` when `wait` passes first. Cancel-safe when the
    /// transport's `recv` is: dropping the future loses no event.
    pub async fn next_event(&mut self, wait: Duration) -> Result<Option<Event>, ConnectionError> {
        if let Some(event) = self.held.take() {
            return Ok(Some(event));
        }
        let url = self.url.as_str();
        let mut timer = pin!(self.clock.sleep(wait));
        loop {
            match before(read_body(&mut self.transport, url), timer.as_mut()).await {
                Some(Ok((ServerBody::Event { event }, _))) => return Ok(Some(event)),
                // An answer to an earlier request that timed out here.
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(None),
            }
        }
    }

    /// Closes the connection politely; errors are irrelevant at this point.
    pub async fn close(self) {
        self.transport.close().await;
    }
}

#[cfg(test)]
mod tests {
    use serde_bytes::ByteBuf;
    use stadtbote_protocol::ErrorCode;
    use stadtbote_protocol::frame::Envelope;

    use super::*;
    use crate::testing::{FakeServer, FakeTransport, ManualClock, Reply, run};

    const URL: &str = "ws://fake/v1/ws";

    fn open(server: &FakeServer, clock: &ManualClock) -> Connection<FakeTransport, ManualClock> {
        let (connection, challenge) =
            run(Connection::open(&server.connector(), clock.clone(), URL)).unwrap();
        assert_eq!(challenge.nonce, vec![7; 32]);
        connection
    }

    fn caught_up() -> Event {
        Event::Deliver { envelopes: Vec::new(), caught_up: true }
    }

    fn accepted(epoch: u64) -> Reply {
        Reply::Answer(Response::CommitAccepted { epoch })
    }

    fn sync() -> Request {
        Request::Ping
    }

    #[test]
    fn answers_are_matched_by_id_and_events_in_between_are_kept_in_order() {
        let server = FakeServer::new();
        let clock = ManualClock::at(0);
        let mut connection = open(&server, &clock);
        // An answer to an older request (id 99) and two events arrive
        // before the answer to the request this call waits for.
        server.push_body(ServerBody::Response { id: 99, response: Response::Acked { removed: 1 } });
        let event = Event::Deliver {
            envelopes: vec![Envelope { id: 5, received_at: 9, payload: ByteBuf::from(vec![1]) }],
            caught_up: false,
        };
        server.expect_after_events("ping", vec![event.clone(), caught_up()], accepted(3));
        assert_eq!(
            run(connection.call(sync())).unwrap(),
            Ok(Response::CommitAccepted { epoch: 3 })
        );
        assert_eq!(run(connection.next_event(Duration::ZERO)).unwrap(), Some(event));
        assert_eq!(run(connection.next_event(Duration::ZERO)).unwrap(), Some(caught_up()));
        assert_eq!(run(connection.next_event(Duration::from_secs(1))).unwrap(), None);
        assert_eq!(clock.now_ms(), 1_000, "only the empty wait took time");
    }

    #[test]
    fn request_ids_count_up_from_one_and_refusals_are_typed() {
        let server = FakeServer::new();
        let mut connection = open(&server, &ManualClock::default());
        server.expect("ping", Reply::refuse(ErrorCode::RateLimited));
        server.expect("ping", accepted(1));
        let refused = run(connection.call(sync())).unwrap().unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        let error = run(connection.request(sync()));
        assert_eq!(error.unwrap(), Response::CommitAccepted { epoch: 1 });
        // An error frame without a request id concerns the connection.
        server.expect("ping", Reply::Silence);
        server.push_body(ServerBody::Error {
            id: None,
            error: ErrorBody::new(ErrorCode::Internal, "x"),
        });
        assert!(matches!(run(connection.call(sync())), Err(ConnectionError::Server(_))));
        assert_eq!(server.request_names(), ["ping", "ping", "ping"]);
        assert_eq!(server.unmet(), 0);
    }

    #[test]
    fn an_unanswered_request_times_out_after_the_request_timeout() {
        let server = FakeServer::new();
        let clock = ManualClock::at(0);
        let mut connection = open(&server, &clock);
        server.expect("ping", Reply::Silence);
        let error = run(connection.call(sync())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "lost the connection to the server at ws://fake/v1/ws: no answer to ping in time"
        );
        assert_eq!(clock.now_ms(), REQUEST_TIMEOUT.as_millis() as u64);
        // Its late answer is dropped by the next call.
        server.push_body(ServerBody::Response { id: 1, response: Response::Acked { removed: 0 } });
        server.expect("ping", accepted(2));
        assert_eq!(
            run(connection.call(sync())).unwrap(),
            Ok(Response::CommitAccepted { epoch: 2 })
        );
    }

    #[test]
    fn a_dropped_connection_and_a_malformed_frame_are_reported() {
        let server = FakeServer::new();
        let mut connection = open(&server, &ManualClock::default());
        server.expect("ping", Reply::Disconnect);
        let error = run(connection.call(sync())).unwrap_err();
        assert_eq!(
            error,
            ConnectionError::Lost {
                url: URL.into(),
                reason: "the server closed the connection".into()
            }
        );
        let server = FakeServer::new();
        let mut connection = open(&server, &ManualClock::default());
        server.push_raw(vec![0xff, 0x00, 0x13]);
        let error = run(connection.next_event(Duration::from_secs(1))).unwrap_err();
        assert!(matches!(error, ConnectionError::Protocol { .. }), "{error}");
    }

    #[test]
    fn held_back_events_are_bounded() {
        let server = FakeServer::new();
        let mut connection = open(&server, &ManualClock::default());
        let flood = vec![caught_up(); MAX_BUFFERED_EVENTS + 1];
        server.expect_after_events("ping", flood, accepted(1));
        let error = run(connection.call(sync())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the server at ws://fake/v1/ws sent an unexpected answer: too many unsolicited events"
        );
    }

    #[test]
    fn opening_fails_as_unreachable_busy_or_protocol_error() {
        let clock = ManualClock::at(0);
        // Silent after the handshake: unreachable, after the connect timeout.
        let server = FakeServer::new();
        server.withhold_challenge();
        let error = run(Connection::open(&server.connector(), clock.clone(), URL)).unwrap_err();
        assert_eq!(error, ConnectionError::Unreachable { url: URL.into() });
        assert_eq!(clock.now_ms(), CONNECT_TIMEOUT.as_millis() as u64);
        // Hangs up at once: unreachable.
        let server = FakeServer::new();
        server.withhold_challenge();
        server.disconnect();
        let error = run(Connection::open(&server.connector(), clock.clone(), URL)).unwrap_err();
        assert_eq!(error, ConnectionError::Unreachable { url: URL.into() });
        // Full: the connector's fixed explanation, with the URL.
        let server = FakeServer::new();
        server.refuse_connect(TransportError::Busy { reason: "full" });
        let error = run(Connection::open(&server.connector(), clock.clone(), URL)).unwrap_err();
        assert_eq!(error, ConnectionError::Busy { url: URL.into(), reason: "full" });
        // An answer before the challenge: a protocol error.
        let server = FakeServer::new();
        server.withhold_challenge();
        server.push_body(ServerBody::Response { id: 1, response: Response::Acked { removed: 0 } });
        let error = run(Connection::open(&server.connector(), clock.clone(), URL)).unwrap_err();
        assert!(error.to_string().contains("expected a challenge first"), "{error}");
    }

    #[test]
    fn closing_closes_the_transport() {
        let server = FakeServer::new();
        let connection = open(&server, &ManualClock::default());
        run(connection.close());
        assert!(server.closed());
    }
}
