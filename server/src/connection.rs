//! One WebSocket connection: messages in, protocol frames out.
//!
//! This module owns the socket. It turns binary messages into requests,
//! hands them to the [`Session`], and queues the answers on the connection's
//! bounded [`Outbox`], which a separate writer task drains into the socket.
//! It also runs the auth timeout (lifted for a connection that listens to a
//! channel: followers need no account — such connections are capped per
//! address and server-wide instead, see [`crate::addrlimit`]), the idle
//! timeout with server pings, and the delivery task once the connection is
//! authenticated.
//!
//! Every way a request can fail becomes a typed error frame in
//! [`error_body`], and every way a connection can end becomes a close code in
//! [`Disconnect::close_frame`]: those two functions are the only places that
//! decide what the client is told. A misbehaving client only ever affects its
//! own connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};
use stadtbote_protocol::frame::{ServerBody, ServerFrame, decode_client, encode};
use stadtbote_protocol::{ErrorBody, ErrorCode, FrameError, RefusalReason, Request, Response};
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::addrlimit::AddressSlot;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::diskguard::Space;
use crate::outbox::{Outbox, OutboxError, Outgoing};
use crate::ratelimit::{Action, IpKey, TokenBucket};
use crate::relay::{Handled, Identity, Relay, RelayError, refusal_wire};
use crate::session::Session;
use crate::shutdown::ShutdownSignal;
use crate::upgrade::WebSocket;
use crate::wire::{Socket, Wire, WireError, Writer, close_frame};

/// How long the final close frame may wait for room in the queue, and how
/// long the writer may take to send it, before the socket is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Everything a connection needs, handed over by the HTTP layer.
pub struct ConnectionContext {
    /// Request handling.
    pub relay: Arc<Relay>,
    /// Limits and timeouts.
    pub config: Arc<Config>,
    /// Stops the connection on server shutdown.
    pub shutdown: ShutdownSignal,
    /// The client's address as a rate-limit key (memory only, never logged).
    pub client: IpKey,
    /// The connection's place under the per-address caps, released on drop.
    pub address_slot: AddressSlot,
    /// The connection's slot under `max_connections`, released on drop.
    pub permit: OwnedSemaphorePermit,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client closed the connection (or the TCP stream ended).
    PeerClosed,
    /// Reading or writing the socket failed.
    Transport,
    /// A message or frame exceeded the configured size.
    MessageTooBig,
    /// The client broke the WebSocket protocol.
    ProtocolViolation,
    /// A text message was not valid UTF-8.
    InvalidUtf8,
    /// Too many unreadable frames in a row.
    TooManyBadFrames,
    /// Pings and pongs beyond the connection's request rate: each one makes
    /// the server answer or wake up, so a flood of them is refused like a
    /// flood of requests, but it cannot be answered with an error frame.
    ControlFlood,
    /// No successful authentication within the auth timeout.
    AuthTimeout,
    /// Nothing heard from the client within the idle timeout.
    IdleTimeout,
    /// The server is shutting down.
    Shutdown,
    /// The send queue stayed full: the client does not read.
    SlowReader,
    /// The mailbox could not be read for delivery.
    DeliveryFailed,
}

impl Disconnect {
    /// The close frame to send, if the connection can still take one.
    pub fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            Disconnect::PeerClosed | Disconnect::Transport | Disconnect::SlowReader => None,
            Disconnect::MessageTooBig => Some((1009, "message too big")),
            Disconnect::ProtocolViolation => Some((1002, "protocol error")),
            Disconnect::InvalidUtf8 => Some((1007, "invalid utf-8")),
            Disconnect::TooManyBadFrames => Some((1008, "too many bad frames")),
            Disconnect::ControlFlood => Some((1008, "too many control frames")),
            Disconnect::AuthTimeout => Some((1008, "authentication timeout")),
            Disconnect::IdleTimeout => Some((1001, "idle timeout")),
            Disconnect::Shutdown => Some((1001, "server shutting down")),
            Disconnect::DeliveryFailed => Some((1011, "internal error")),
        }
    }

    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Disconnect::PeerClosed => "peer_closed",
            Disconnect::Transport => "transport",
            Disconnect::MessageTooBig => "message_too_big",
            Disconnect::ProtocolViolation => "protocol_violation",
            Disconnect::InvalidUtf8 => "invalid_utf8",
            Disconnect::TooManyBadFrames => "too_many_bad_frames",
            Disconnect::ControlFlood => "control_flood",
            Disconnect::AuthTimeout => "auth_timeout",
            Disconnect::IdleTimeout => "idle_timeout",
            Disconnect::Shutdown => "shutdown",
            Disconnect::SlowReader => "slow_reader",
            Disconnect::DeliveryFailed => "delivery_failed",
        }
    }

    /// The `limit` label under which `/metrics` counts this ending, when a
    /// configured limit or a protocol violation caused it.
    pub fn limit_name(self) -> Option<&'static str> {
        match self {
            Disconnect::MessageTooBig => Some("message_size"),
            Disconnect::ProtocolViolation => Some("protocol_violation"),
            Disconnect::InvalidUtf8 => Some("invalid_utf8"),
            Disconnect::TooManyBadFrames => Some("bad_frames"),
            Disconnect::ControlFlood => Some("control_rate"),
            Disconnect::AuthTimeout => Some("auth_timeout"),
            Disconnect::IdleTimeout => Some("idle_timeout"),
            Disconnect::SlowReader => Some("send_queue"),
            Disconnect::PeerClosed
            | Disconnect::Transport
            | Disconnect::Shutdown
            | Disconnect::DeliveryFailed => None,
        }
    }

    /// How a failed queue push ends the connection.
    fn from_outbox(err: OutboxError) -> Self {
        match err {
            OutboxError::Timeout => Disconnect::SlowReader,
            OutboxError::Closed => Disconnect::Transport,
        }
    }

    /// How a WebSocket read error ends the connection.
    fn from_ws_error(err: tungstenite::Error) -> Self {
        match err {
            tungstenite::Error::Capacity(_) => Disconnect::MessageTooBig,
            tungstenite::Error::Utf8(_) => Disconnect::InvalidUtf8,
            tungstenite::Error::Protocol(_) => Disconnect::ProtocolViolation,
            _ => Disconnect::Transport,
        }
    }

    /// How a failed socket write ends the connection.
    fn from_wire(err: WireError) -> Self {
        match err {
            WireError::Timeout => Disconnect::SlowReader,
            WireError::Closed => Disconnect::Transport,
        }
    }
}

/// The wire error for a failed request. Messages are fixed texts or contain
/// only numbers (sizes, limits, chunk indexes): never ids, keys, codes or
/// anything else the client sent. Refusals a user can meet carry their
/// [`RefusalReason`], which clients word in their user's language.
pub fn error_body(err: &RelayError) -> ErrorBody {
    let mut body = match err {
        RelayError::InvalidField(field) => {
            ErrorBody::new(ErrorCode::InvalidRequest, field.to_string())
        }
        RelayError::UnexpectedChunk { .. } | RelayError::ChunkLength { .. } => {
            ErrorBody::new(ErrorCode::InvalidRequest, err.to_string())
        }
        RelayError::BlobTooLarge { .. } => ErrorBody::new(ErrorCode::TooLarge, err.to_string()),
        // What only a faulty client meets: a developer's hint, no reason.
        RelayError::InvalidRequest(text) => ErrorBody::new(ErrorCode::InvalidRequest, *text),
        RelayError::TooLarge(text) => ErrorBody::new(ErrorCode::TooLarge, *text),
        other => {
            let reason = refusal_reason(other);
            let (code, message) = refusal_wire(reason);
            ErrorBody::new(code, message).with_reason(reason)
        }
    };
    match err {
        RelayError::StaleEpoch { current } => body.current_epoch = Some(*current),
        RelayError::StalePost { last_seq } => body.current_epoch = Some(*last_seq),
        RelayError::RateLimited { retry_after_ms } => body.retry_after_ms = Some(*retry_after_ms),
        _ => {}
    }
    body
}

/// The refusal reason of errors whose text does not vary.
fn refusal_reason(err: &RelayError) -> RefusalReason {
    use RefusalReason as R;
    match err {
        RelayError::Refused(reason) => *reason,
        RelayError::Unauthenticated => R::Unauthenticated,
        RelayError::AlreadyAuthenticated => R::AlreadyAuthenticated,
        RelayError::AuthFailed => R::AuthFailed,
        RelayError::OrgSuspended => R::OrgSuspended,
        RelayError::PowInvalid => R::PowInvalid,
        RelayError::RateLimited { .. } => R::RateLimited,
        RelayError::UnknownAccount => R::UnknownAccount,
        RelayError::UnknownGroup => R::UnknownGroup,
        RelayError::NotAMember => R::NotAMember,
        RelayError::ModeratorsOnly => R::ModeratorsOnly,
        RelayError::StaleEpoch { .. } => R::StaleEpoch,
        RelayError::StorageUnavailable => R::StorageUnavailable,
        RelayError::Unavailable => R::Unavailable,
        RelayError::ListenerLimit => R::ListenerLimit,
        RelayError::UnknownOrg => R::UnknownOrg,
        RelayError::UnknownBlob => R::UnknownBlob,
        RelayError::QuotaExceeded => R::QuotaExceeded,
        RelayError::HandleTaken => R::HandleTaken,
        RelayError::UnknownChannel => R::UnknownChannel,
        RelayError::StalePost { .. } => R::StalePost,
        // The variants with variable texts are handled by `error_body`.
        RelayError::InvalidField(_)
        | RelayError::InvalidRequest(_)
        | RelayError::TooLarge(_)
        | RelayError::UnexpectedChunk { .. }
        | RelayError::ChunkLength { .. }
        | RelayError::BlobTooLarge { .. }
        | RelayError::Internal => R::Internal,
    }
}

/// Which per-account and per-IP bucket a request draws from, if any.
fn action_of(request: &Request) -> Option<Action> {
    match request {
        Request::Send { .. } | Request::SendNotify { .. } => Some(Action::Send),
        Request::ClaimKeyPackages { .. } | Request::ClaimDeviceKeyPackages { .. } => {
            Some(Action::Claim)
        }
        Request::UploadStart { .. } => Some(Action::Upload),
        Request::ChannelFetch { .. } | Request::ChannelListen { .. } => Some(Action::ChannelPull),
        _ => None,
    }
}

/// Whether a request may run while the disk is nearly full. Reads need no
/// space, and acknowledgements and account deletion only free it (refusing
/// them would keep the disk full). Everything else, including requests added
/// later, counts as a write: refusing a read by mistake is harmless, accepting
/// a write on a full disk is not.
fn allowed_on_low_disk(request: &Request) -> bool {
    matches!(
        request,
        Request::Ping
            | Request::Login { .. }
            | Request::OrgDirectory { .. }
            | Request::ChannelFetch { .. }
            | Request::ChannelListen { .. }
            | Request::ListDevices { .. }
            | Request::UploadStatus { .. }
            | Request::DownloadChunk { .. }
            | Request::GroupInfoGet { .. }
            | Request::AccountExport
            | Request::Ack { .. }
            | Request::AccountDelete
            | Request::PushKey
            | Request::PushUnsubscribe
            | Request::ServerInfo
    )
}

/// The `limit` label for a rate limit enforced inside the relay, which
/// answers `rate_limited` without saying which bucket refused.
fn relay_limit_name(kind: &str) -> &'static str {
    match kind {
        "register" | "link" => "register_rate_ip",
        "claim_key_packages" | "claim_device_key_packages" => "claim_rate_device",
        _ => "code_rate_device",
    }
}

/// The caps on listeners without an account: a `channel_listen` on an
/// unauthenticated connection takes a place under both (once), or is
/// refused. Returns the refusing limit's name and the error.
fn listener_admission(
    session: &Session,
    request: &Request,
    slot: &mut AddressSlot,
) -> Option<(&'static str, RelayError)> {
    if !matches!(request, Request::ChannelListen { .. }) || session.identity().is_some() {
        return None;
    }
    slot.listen_without_account()
        .err()
        .map(|refusal| (refusal.limit_name(), RelayError::ListenerLimit))
}

/// The wire error for a frame that could not be decoded.
fn frame_error_body(err: &FrameError) -> ErrorBody {
    err.to_error_body()
}

/// Serves one upgraded WebSocket until it ends.
pub async fn serve(socket: WebSocket, ctx: ConnectionContext) {
    let started = Instant::now();
    let metrics = ctx.relay.metrics().clone();
    metrics.connection_opened();
    let WebSocket { mut stream, wire, write } = socket;
    let (outbox, queue) = Outbox::new(ctx.config.send_queue_frames, ctx.config.send_timeout());
    // The writer, which also delivers the mailbox, reports here why it ended.
    let kill = Arc::new(KillSwitch::default());
    let socket_writer = Writer::new(wire.clone(), write, ctx.config.send_timeout());
    let flush_at = ctx.config.write_buffer_bytes.max(1);
    let mut writer = tokio::spawn(write_loop(socket_writer, queue, kill.clone(), flush_at));

    let mut conn = Connection {
        relay: ctx.relay.clone(),
        config: ctx.config.clone(),
        outbox: outbox.clone(),
        wire,
        kill: kill.clone(),
        delivering: false,
        presence: None,
    };
    let mut address_slot = ctx.address_slot;
    let end = conn.read_loop(&mut stream, &kill, ctx.shutdown, ctx.client, &mut address_slot).await;

    if end.close_frame().is_some() {
        let _ = tokio::time::timeout(CLOSE_GRACE, outbox.push(Outgoing::Close(end))).await;
        // Lingering close: read and discard what the client still sends until
        // it answers the close frame or the grace period ends. Closing a
        // socket that holds unread input makes the kernel send a reset, which
        // can destroy the close frame before the client reads it (a flood of
        // pings would then end without its 1008).
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
    // Dropping every queue sender lets the writer finish after the close frame.
    drop(outbox);
    drop(conn);
    if tokio::time::timeout(CLOSE_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
    drop(ctx.permit);
    drop(address_slot);
    if let Some(limit) = end.limit_name() {
        metrics.limit_hit(limit);
    }
    metrics.connection_closed();
    tracing::debug!(reason = end.as_str(), secs = started.elapsed().as_secs(), "connection closed");
}

/// How the writer task ends its connection (and how the reader stops its
/// mailbox delivery); the first
/// reason wins and later ones are moot. A lock and a [`Notify`] rather than
/// a channel, because every idle connection keeps one and a tokio channel
/// costs several hundred bytes.
#[derive(Default)]
struct KillSwitch {
    reason: std::sync::Mutex<Option<Disconnect>>,
    notify: Notify,
    /// Set when the device was blocked or deleted while connected: the
    /// writer delivers nothing more.
    delivery_stopped: AtomicBool,
}

impl KillSwitch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Disconnect>> {
        // Only ever holds a plain value; a panic elsewhere cannot break it.
        self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the connection for `reason`, unless another reason came first.
    fn kill(&self, reason: Disconnect) {
        self.lock().get_or_insert(reason);
        // Stores a permit when the reader is not waiting right now, so the
        // reason is seen by its next `killed`.
        self.notify.notify_one();
    }

    /// Stops mailbox delivery on this connection for good.
    fn stop_delivery(&self) {
        self.delivery_stopped.store(true, Ordering::Release);
    }

    fn delivery_stopped(&self) -> bool {
        self.delivery_stopped.load(Ordering::Acquire)
    }

    /// Waits until the connection is killed and returns why.
    async fn killed(&self) -> Disconnect {
        loop {
            if let Some(reason) = *self.lock() {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

/// An answer that waits for a group commit (or queues behind one).
struct Answered {
    id: u64,
    kind: &'static str,
    started: Instant,
    result: Result<Response, RelayError>,
}

type Answering = std::pin::Pin<Box<dyn std::future::Future<Output = Answered> + Send>>;

struct Connection {
    relay: Arc<Relay>,
    config: Arc<Config>,
    outbox: Outbox,
    /// The socket's sending side, into which channel posts are written.
    wire: Arc<Wire>,
    kill: Arc<KillSwitch>,
    /// Whether the writer was handed this connection's mailbox delivery.
    delivering: bool,
    /// In a cluster: this node holds the device's connection (wake-ups
    /// from other nodes, presence for Web Push); dropped with it.
    presence: Option<crate::cluster::Presence>,
}

type WsStream = WebSocketStream<Socket>;

impl Connection {
    async fn read_loop(
        &mut self,
        stream: &mut WsStream,
        kill: &KillSwitch,
        mut shutdown: ShutdownSignal,
        client: IpKey,
        address_slot: &mut AddressSlot,
    ) -> Disconnect {
        let listens = self.relay.channel_listens(self.wire.clone());
        let (mut session, challenge) = Session::new(client, self.config.pow_difficulty, listens);
        if let Err(e) = self.outbox.send(ServerBody::Event { event: challenge }).await {
            return Disconnect::from_outbox(e);
        }
        let idle = self.config.idle_timeout();
        let mut last_heard = Instant::now();
        let auth_deadline = tokio::time::sleep(self.config.auth_timeout());
        tokio::pin!(auth_deadline);
        // Check for silence four times per idle period; a ping goes out once
        // half of it has passed without a word from the client.
        let mut idle_check = tokio::time::interval((idle / 4).max(Duration::from_millis(100)));
        idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bucket = TokenBucket::new(
            self.config.request_burst,
            f64::from(self.config.request_rate_per_second),
            std::time::Instant::now(),
        );
        let mut chunk_bucket = TokenBucket::new(
            self.config.chunk_burst,
            f64::from(self.config.chunk_rate_per_second),
            std::time::Instant::now(),
        );
        let mut bad_frames = 0u32;
        // Answers to writes waiting for their group commit, in request order.
        let mut answering: FuturesOrdered<Answering> = FuturesOrdered::new();
        let max_in_flight = self.config.max_pipelined_requests.max(1);
        let shutdown_fut = shutdown.triggered();
        tokio::pin!(shutdown_fut);

        loop {
            let message = tokio::select! {
                biased;
                _ = &mut shutdown_fut => return Disconnect::Shutdown,
                reason = kill.killed() => return reason,
                // A follower that listens to a channel needs no account; from
                // then on only the idle timeout applies to it.
                _ = &mut auth_deadline, if session.identity().is_none() && !session.is_listening() => {
                    return Disconnect::AuthTimeout;
                }
                Some(done) = answering.next(), if !answering.is_empty() => {
                    let body = self.answer_body(done.id, done.kind, done.started, done.result);
                    if let Err(e) = self.outbox.send(body).await {
                        return Disconnect::from_outbox(e);
                    }
                    continue;
                }
                _ = idle_check.tick() => {
                    let silent = last_heard.elapsed();
                    if silent >= idle {
                        return Disconnect::IdleTimeout;
                    }
                    if silent >= idle / 2 {
                        // Best effort: a full queue means traffic is flowing anyway.
                        self.outbox.try_push(Outgoing::Ping);
                    }
                    continue;
                }
                // At the pipelining limit the client's next request waits
                // in the socket until an answer went out.
                message = stream.next(), if answering.len() < max_in_flight => message,
            };
            let Some(message) = message else { return Disconnect::PeerClosed };
            last_heard = Instant::now();
            let bytes = match message {
                Err(e) => return Disconnect::from_ws_error(e),
                Ok(Message::Binary(bytes)) => bytes,
                Ok(Message::Text(_)) => {
                    bad_frames += 1;
                    self.relay.metrics().bad_frame();
                    let error = ErrorBody::new(
                        ErrorCode::BadFrame,
                        "frames must be sent as binary messages",
                    );
                    self.count_error(error.code);
                    if let Err(e) = self.outbox.send(ServerBody::Error { id: None, error }).await {
                        return Disconnect::from_outbox(e);
                    }
                    if bad_frames >= self.config.max_bad_frames {
                        return Disconnect::TooManyBadFrames;
                    }
                    continue;
                }
                // Pings are answered by the WebSocket layer; both count as
                // signs of life, and as requests for the connection's rate.
                Ok(Message::Ping(_) | Message::Pong(_)) => {
                    if bucket.try_take(std::time::Instant::now()).is_err() {
                        return Disconnect::ControlFlood;
                    }
                    continue;
                }
                Ok(Message::Close(_)) => return Disconnect::PeerClosed,
                // Raw frames are only ever written, never read.
                Ok(Message::Frame(_)) => continue,
            };
            let frame = match decode_client(&bytes, self.config.max_message_bytes) {
                Ok(frame) => frame,
                Err(err) => {
                    bad_frames += 1;
                    self.relay.metrics().bad_frame();
                    tracing::debug!(error = "bad_frame", "undecodable frame");
                    let error = frame_error_body(&err);
                    self.count_error(error.code);
                    let body = ServerBody::Error { id: err.request_id(), error };
                    if let Err(e) = self.outbox.send(body).await {
                        return Disconnect::from_outbox(e);
                    }
                    if bad_frames >= self.config.max_bad_frames {
                        return Disconnect::TooManyBadFrames;
                    }
                    continue;
                }
            };
            bad_frames = 0;
            self.relay.metrics().request(frame.request.name());
            let (bucket, bucket_name) = match frame.request {
                Request::UploadChunk { .. } | Request::DownloadChunk { .. } => {
                    (&mut chunk_bucket, "chunk_rate")
                }
                _ => (&mut bucket, "request_rate"),
            };
            let now = std::time::Instant::now();
            let refused = match bucket.try_take(now) {
                Err(limited) => Some((bucket_name, RelayError::from(limited))),
                Ok(()) => self
                    .admission(&session, &frame.request, client, now)
                    .or_else(|| listener_admission(&session, &frame.request, address_slot)),
            };
            if let Some((limit, err)) = refused {
                self.relay.metrics().limit_hit(limit);
                let error = error_body(&err);
                self.count_error(error.code);
                if let Err(e) =
                    self.outbox.send(ServerBody::Error { id: Some(frame.id), error }).await
                {
                    return Disconnect::from_outbox(e);
                }
                continue;
            }

            let kind = frame.request.name();
            let started = Instant::now();
            // Boxed so that this loop's future, which every idle connection
            // keeps, does not embed the largest request handler's state.
            let reply = Box::pin(session.handle(&self.relay, frame.request)).await;
            // A listener that logged in, or whose listen failed, no longer
            // counts as listening without an account.
            if address_slot.is_listening_without_account()
                && (session.identity().is_some() || !session.is_listening())
            {
                address_slot.stop_listening();
            }
            // After a failed authentication the fresh challenge goes out
            // before the error, so a client that retries as soon as it reads
            // the error already holds the nonce to sign.
            if let Some(event) = reply.challenge
                && let Err(e) = self.outbox.send(ServerBody::Event { event }).await
            {
                return Disconnect::from_outbox(e);
            }
            let id = frame.id;
            match reply.handled {
                Handled::Answer(result) if answering.is_empty() => {
                    let body = self.answer_body(id, kind, started, result);
                    if let Err(e) = self.outbox.send(body).await {
                        return Disconnect::from_outbox(e);
                    }
                }
                // Behind a write still waiting for its flush: queued so that
                // answers keep the order of their requests.
                Handled::Answer(result) => {
                    answering.push_back(Box::pin(std::future::ready(Answered {
                        id,
                        kind,
                        started,
                        result,
                    })))
                }
                Handled::Unflushed(write) => {
                    let relay = self.relay.clone();
                    answering.push_back(Box::pin(async move {
                        Answered { id, kind, started, result: relay.complete(write).await }
                    }));
                }
            }
            if let Some(identity) = reply.authenticated
                && let Err(e) = self.start_delivery(identity).await
            {
                return Disconnect::from_outbox(e);
            }
        }
    }

    /// The frame that answers request `id`, counting and logging the outcome.
    fn answer_body(
        &mut self,
        id: u64,
        kind: &'static str,
        started: Instant,
        result: Result<Response, RelayError>,
    ) -> ServerBody {
        match result {
            Ok(response) => {
                tracing::debug!(kind, micros = started.elapsed().as_micros() as u64, "request ok");
                ServerBody::Response { id, response }
            }
            Err(err) => {
                if matches!(err, RelayError::RateLimited { .. }) {
                    self.relay.metrics().limit_hit(relay_limit_name(kind));
                }
                if matches!(
                    err,
                    RelayError::Refused(
                        RefusalReason::DeviceBlocked | RefusalReason::DeviceRemoved
                    )
                ) && self.delivering
                {
                    // Blocked while connected: nothing more is delivered.
                    self.kill.stop_delivery();
                }
                let error = error_body(&err);
                self.count_error(error.code);
                tracing::debug!(
                    kind,
                    code = error.code.as_str(),
                    micros = started.elapsed().as_micros() as u64,
                    "request refused"
                );
                ServerBody::Error { id: Some(id), error }
            }
        }
    }

    /// The checks shared by all connections before a request runs: the
    /// per-account and per-IP rate limits and the free-space guard. Returns
    /// the refusing limit's name and the error, or `None` to go ahead.
    fn admission(
        &self,
        session: &Session,
        request: &Request,
        client: IpKey,
        now: std::time::Instant,
    ) -> Option<(&'static str, RelayError)> {
        if let Some(action) = action_of(request) {
            let account = session.identity().map(|identity| identity.account);
            if let Err(hit) =
                self.relay.check_request_limits(action, account.as_ref(), &client, now)
            {
                return Some((hit.limit, RelayError::from(hit.limited)));
            }
        }
        if !allowed_on_low_disk(request) && self.relay.disk_guard().check() == Space::Low {
            // Nothing was stored and nothing is acknowledged; the client keeps
            // the request in its outbox and retries later.
            return Some(("disk_space", RelayError::StorageUnavailable));
        }
        None
    }

    /// Counts an error frame about to be sent (and rate limits separately).
    fn count_error(&self, code: ErrorCode) {
        let metrics = self.relay.metrics();
        metrics.error(code.as_str());
        if code == ErrorCode::RateLimited {
            metrics.rate_limited();
        }
    }

    /// Hands the mailbox delivery to the writer. Queued after the login
    /// answer, so the client sees its login confirmed before the first
    /// delivery.
    async fn start_delivery(&mut self, identity: Identity) -> Result<(), OutboxError> {
        if self.delivering {
            return Ok(());
        }
        let delivery = Delivery::new(
            self.relay.store(),
            self.relay.subscribe(identity.device),
            self.relay.limits().delivery,
        );
        self.outbox.push(Outgoing::Deliver(Box::new(delivery))).await?;
        self.delivering = true;
        self.presence = self.relay.cluster_presence(identity.device);
        Ok(())
    }
}

/// The writer task: drains the queue into the socket and delivers the
/// mailbox once it was handed the connection's [`Delivery`]. Queued frames
/// go first (answers are small and a client waits for them); then one
/// mailbox page at a time while the mailbox has more, so neither starves the
/// other. Frames are queued on the connection's [`Wire`] without writing
/// while more are ready (up to `flush_at` bytes), then written together
/// with one vectored `send()`. It also writes what channel offers left
/// queued when the socket was full. A write that cannot complete within
/// `send_timeout` (the client stopped reading) ends the connection as a
/// slow reader.
async fn write_loop(
    mut writer: Writer,
    mut queue: mpsc::Receiver<Outgoing>,
    kill: Arc<KillSwitch>,
    flush_at: usize,
) {
    let mut delivery: Option<Box<Delivery>> = None;
    // Whether the mailbox may hold more than was delivered: read a page.
    let mut read_mailbox = false;
    loop {
        if delivery.is_some() && kill.delivery_stopped() {
            delivery = None;
            read_mailbox = false;
        }
        let item = if read_mailbox {
            match queue.try_recv() {
                Ok(item) => Some(item),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            // Write once nothing else is ready.
            if queue.is_empty()
                && writer.queued_bytes() > 0
                && let Err(e) = writer.drain().await
            {
                kill.kill(Disconnect::from_wire(e));
                return;
            }
            let mut offered = false;
            let item = tokio::select! {
                biased;
                item = queue.recv() => match item {
                    Some(item) => Some(item),
                    None => break,
                },
                // A channel post (or a pong) waits for room in the socket.
                () = writer.woken() => {
                    offered = true;
                    None
                }
                () = woken(&mut delivery) => {
                    read_mailbox = true;
                    None
                }
            };
            if offered {
                if let Err(e) = writer.drain().await {
                    kill.kill(Disconnect::from_wire(e));
                    return;
                }
                continue;
            }
            item
        };
        let queued = match item {
            Some(Outgoing::Deliver(handed)) => {
                delivery = Some(handed);
                read_mailbox = true;
                continue;
            }
            Some(Outgoing::Close(end)) => {
                let frame = end.close_frame().map(|(code, reason)| close_frame(code, reason));
                writer.close(frame).await;
                return;
            }
            Some(Outgoing::Frame(bytes)) => writer.queue_binary(Bytes::from(bytes)),
            Some(Outgoing::Shared(bytes)) => writer.queue_binary(Bytes::clone(&bytes)),
            Some(Outgoing::Ping) => writer.queue_ping(),
            None => {
                let Some(mailbox) = delivery.as_mut().filter(|_| read_mailbox) else { continue };
                match mailbox.next_page() {
                    Ok(page) => {
                        read_mailbox = page.more;
                        let Some(body) = page.event else { continue };
                        writer.queue_binary(encode(&ServerFrame::new(body)).into())
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "mailbox read failed");
                        kill.kill(Disconnect::DeliveryFailed);
                        return;
                    }
                }
            }
        };
        if let Err(e) = queued {
            kill.kill(Disconnect::from_wire(e));
            return;
        }
        if writer.queued_bytes() >= flush_at
            && let Err(e) = writer.drain().await
        {
            kill.kill(Disconnect::from_wire(e));
            return;
        }
    }
    let _ = writer.finish().await;
}

/// Waits for the delivery's next wake-up; never, without a delivery.
async fn woken(delivery: &mut Option<Box<Delivery>>) {
    match delivery {
        Some(delivery) => delivery.woken().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relay_error_has_its_code() {
        let cases = [
            (RelayError::Unauthenticated, ErrorCode::Unauthenticated),
            (RelayError::AlreadyAuthenticated, ErrorCode::AlreadyAuthenticated),
            (RelayError::AuthFailed, ErrorCode::AuthFailed),
            (RelayError::PowInvalid, ErrorCode::PowInvalid),
            (RelayError::Refused(RefusalReason::CodeUnknown), ErrorCode::InvalidCode),
            (RelayError::Refused(RefusalReason::DeviceBlocked), ErrorCode::Forbidden),
            (
                RelayError::Refused(RefusalReason::SecondFactorWrongCode),
                ErrorCode::SecondFactorRequired,
            ),
            (RelayError::OrgSuspended, ErrorCode::OrgSuspended),
            (RelayError::UnknownOrg, ErrorCode::UnknownOrg),
            (RelayError::UnknownBlob, ErrorCode::UnknownBlob),
            (RelayError::QuotaExceeded, ErrorCode::QuotaExceeded),
            (RelayError::HandleTaken, ErrorCode::HandleTaken),
            (RelayError::UnknownAccount, ErrorCode::UnknownAccount),
            (RelayError::StorageUnavailable, ErrorCode::StorageUnavailable),
        ];
        for (err, code) in cases {
            assert_eq!(error_body(&err).code, code);
        }
        let post = error_body(&RelayError::StalePost { last_seq: 4 });
        assert_eq!((post.code, post.current_epoch), (ErrorCode::StaleEpoch, Some(4)));
        assert_eq!(error_body(&RelayError::UnknownChannel).code, ErrorCode::UnknownChannel);
        let stale = error_body(&RelayError::StaleEpoch { current: 7 });
        assert_eq!((stale.code, stale.current_epoch), (ErrorCode::StaleEpoch, Some(7)));
        let limited = error_body(&RelayError::RateLimited { retry_after_ms: 5 });
        assert_eq!(limited.retry_after_ms, Some(5));
        let big = error_body(&RelayError::BlobTooLarge { size: 30, limit: 20 });
        assert_eq!(big.code, ErrorCode::TooLarge);
        assert_eq!(big.message, "attachment of 30 bytes exceeds the server's limit of 20 bytes");
        let chunk = error_body(&RelayError::UnexpectedChunk { expected: 3 });
        assert_eq!(
            (chunk.code, chunk.message.as_str()),
            (ErrorCode::InvalidRequest, "expected chunk 3")
        );
        let handle = error_body(&RelayError::InvalidField(
            stadtbote_protocol::org::validate_handle("Bad Handle").unwrap_err(),
        ));
        assert_eq!(handle.code, ErrorCode::InvalidRequest);
        assert!(handle.message.contains("handle"), "{}", handle.message);
        assert_eq!(handle.reason, None);
    }

    /// Refusals a user can meet carry their reason next to the unchanged
    /// code and English text; a faulty client's refusals carry none.
    #[test]
    fn refusals_carry_their_reason() {
        let wrong = error_body(&RelayError::Refused(RefusalReason::SecondFactorWrongCode));
        assert_eq!(wrong.code, ErrorCode::SecondFactorRequired);
        assert_eq!(wrong.message, "second factor refused: wrong code");
        assert_eq!(wrong.reason, Some(RefusalReason::SecondFactorWrongCode));
        let limited = error_body(&RelayError::RateLimited { retry_after_ms: 5 });
        assert_eq!(limited.reason, Some(RefusalReason::RateLimited));
        assert_eq!(limited.message, "too many requests");
        let member = error_body(&RelayError::NotAMember);
        assert_eq!(member.reason, Some(RefusalReason::NotAMember));
        let faulty = error_body(&RelayError::InvalidRequest("empty commit"));
        assert_eq!((faulty.code, faulty.reason), (ErrorCode::InvalidRequest, None));
        let internal = error_body(&RelayError::Internal);
        assert_eq!(internal.reason, Some(RefusalReason::Internal));
    }

    #[test]
    fn close_codes() {
        assert_eq!(Disconnect::MessageTooBig.close_frame().map(|c| c.0), Some(1009));
        assert_eq!(Disconnect::Shutdown.close_frame(), Some((1001, "server shutting down")));
        assert_eq!(Disconnect::TooManyBadFrames.close_frame().map(|c| c.0), Some(1008));
        assert_eq!(Disconnect::ControlFlood.close_frame().map(|c| c.0), Some(1008));
        assert_eq!(Disconnect::ControlFlood.limit_name(), Some("control_rate"));
        assert_eq!(Disconnect::PeerClosed.limit_name(), None);
        assert_eq!(Disconnect::PeerClosed.close_frame(), None);
    }
}
