//! The sending side of one WebSocket connection's socket.
//!
//! Every byte the server sends on a connection passes through its [`Wire`]:
//! whole, prebuilt WebSocket frames (RFC 6455 section 5.2; server frames are
//! never masked, so a frame is a 2–10 byte header plus the payload) queued in
//! order. Two kinds of writers use it:
//!
//! * the connection's writer task ([`crate::connection`]) for answers,
//!   events, mailbox deliveries, pings and the close frame, which it takes
//!   from the connection's bounded [`crate::outbox::Outbox`];
//! * the node's channel fan-out ([`crate::fanout`]), which builds one frame
//!   per post, queues the same bytes for every listener
//!   ([`Wire::queue_post`]) and then writes each listener's queue straight
//!   into its socket with one non-blocking vectored `send()`
//!   ([`Wire::write_queued`]) — no task wake-up and no copy per follower,
//!   and posts that queued up meanwhile (a burst) leave in the same
//!   `send()`. Only when the socket cannot take it all (the follower reads
//!   slowly) does the rest wait for the connection's writer task.
//!
//! Frames stay whole and in order because every write happens under the
//! queue's lock and always starts at the queue's head: a partly written
//! frame is the head, and nothing overtakes it.
//!
//! The queue is bounded: posts are refused once it holds
//! `send_queue_frames` frames or `max_write_buffer_bytes` bytes (the
//! listener misses the post and fetches it later, as before); the writer
//! task queues its own frames one at a time and waits for the socket
//! (`send_timeout_secs`) before it takes the next. A connection whose
//! socket takes nothing for `send_timeout_secs` is dropped as a slow reader.
//!
//! TLS connections have no direct path (the TLS layer must encrypt in
//! order on the writer task): their posts wake the writer.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

/// A TLS server connection.
pub type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// WebSocket opcodes the server sends.
pub mod opcode {
    /// A binary data frame (every protocol frame).
    pub const BINARY: u8 = 0x2;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping.
    pub const PING: u8 = 0x9;
}

/// Most frames one vectored write hands the kernel.
const MAX_IOVECS: usize = 64;

/// The header of an unmasked, final frame of `len` payload bytes.
fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    out[0] = 0x80 | (opcode & 0x0F);
    if len < 126 {
        out[1] = len as u8;
        (out, 2)
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        (out, 4)
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (out, 10)
    }
}

/// One whole frame (header and payload in one buffer): built once per
/// channel post and shared by every listener.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let (head, n) = header(opcode, payload.len());
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// A frame as header and payload, without copying the payload.
pub fn frame_parts(opcode: u8, payload: Bytes) -> [Bytes; 2] {
    let (head, n) = header(opcode, payload.len());
    [Bytes::copy_from_slice(&head[..n]), payload]
}

/// A close frame with `code` and `reason` (at most 123 bytes).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    frame(opcode::CLOSE, &payload)
}

/// Why the queue refused or the socket failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The socket failed or the connection is ending.
    #[error("connection closed")]
    Closed,
    /// The socket took nothing for the send timeout.
    #[error("socket stayed full")]
    Timeout,
}

/// The queue's bounds for offered frames.
#[derive(Debug, Clone, Copy)]
pub struct WireLimits {
    /// Most frames queued (`send_queue_frames`).
    pub frames: usize,
    /// Most bytes queued (`max_write_buffer_bytes`).
    pub bytes: usize,
}

#[derive(Default)]
struct Queue {
    /// Whole frames in order; the head may be partly written already.
    frames: VecDeque<Bytes>,
    bytes: usize,
    /// The connection is ending: nothing more is written or queued.
    closed: bool,
}

impl Queue {
    fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Drops `n` written bytes from the head.
    fn consume(&mut self, mut n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
        while n > 0 {
            let Some(head) = self.frames.front_mut() else { return };
            if n >= head.len() {
                n -= head.len();
                self.frames.pop_front();
            } else {
                head.advance(n);
                n = 0;
            }
        }
        if self.frames.is_empty() && self.frames.capacity() > 16 {
            // A burst grew it; an idle connection keeps little.
            self.frames.shrink_to(4);
        }
    }
}

/// One connection's outgoing frames and, for plain TCP, its socket's
/// sending half (shared by every writer; see the module docs).
pub struct Wire {
    queue: Mutex<Queue>,
    /// Wakes the writer task when posts are left for it or the read side
    /// queued a reply.
    wake: Notify,
    /// The socket, for direct writes; `None` on TLS.
    direct: Option<Arc<OwnedWriteHalf>>,
    limits: WireLimits,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire").field("direct", &self.direct.is_some()).finish_non_exhaustive()
    }
}

impl Wire {
    /// A wire writing into `direct` (plain TCP), or only queueing for the
    /// writer task (`None`: TLS, and unit tests).
    pub fn new(direct: Option<Arc<OwnedWriteHalf>>, limits: WireLimits) -> Arc<Self> {
        Arc::new(Self { queue: Mutex::default(), wake: Notify::new(), direct, limits })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Only plain values inside; a panic elsewhere cannot break them.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one whole frame shared with other connections (a channel
    /// post) without writing it yet; [`Wire::write_queued`] writes it.
    /// Returns false, and drops the frame for this connection, when the
    /// connection is ending or its queue is full.
    pub fn queue_post(&self, frame: &Bytes) -> bool {
        let mut queue = self.lock();
        if queue.closed
            || queue.frames.len() >= self.limits.frames
            || queue.bytes.saturating_add(frame.len()) > self.limits.bytes
        {
            return false;
        }
        queue.push(frame.clone());
        true
    }

    /// Writes what is queued straight into the socket, from the calling
    /// task, with one vectored non-blocking `send()` (posts queued since the
    /// last write go out together). What the socket cannot take now — and
    /// everything, on TLS — is left to the connection's writer task, which
    /// is woken only then.
    pub fn write_queued(&self) {
        let mut queue = self.lock();
        if queue.closed || queue.frames.is_empty() {
            return;
        }
        if let Some(socket) = &self.direct {
            loop {
                match try_write(socket, &queue.frames) {
                    Ok(0) => break,
                    Ok(n) => {
                        queue.consume(n);
                        if queue.frames.is_empty() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // The writer task meets the error on its next
                        // write and ends the connection.
                        queue.closed = true;
                        break;
                    }
                }
            }
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Queues frames of the writer task itself (bounded by the writer,
    /// which drains the queue before it takes its next item).
    fn queue_own(&self, frames: impl IntoIterator<Item = Bytes>) -> Result<(), WireError> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(WireError::Closed);
        }
        for frame in frames {
            queue.push(frame);
        }
        Ok(())
    }

    /// Queues a reply of the WebSocket read side (a pong, the answer to the
    /// client's close), within the queue's byte bound.
    fn queue_reply(&self, bytes: &[u8]) -> io::Result<()> {
        let mut queue = self.lock();
        if queue.closed {
            // Nothing is sent after the close frame; the reply is moot.
            return Ok(());
        }
        if queue.bytes.saturating_add(bytes.len()) > self.limits.bytes {
            return Err(io::Error::other("send queue full"));
        }
        let was_empty = queue.frames.is_empty();
        queue.push(Bytes::copy_from_slice(bytes));
        drop(queue);
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Stops all further writes and offers (after the close frame, or when
    /// the writer ends).
    fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        queue.frames.clear();
        queue.bytes = 0;
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits until posts were left for the writer or a reply was queued.
    async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// The writer task's half of the socket.
pub enum WriteSide {
    /// Plain TCP: the same half the wire writes into directly.
    Tcp(Arc<OwnedWriteHalf>),
    /// TLS: only the writer task writes.
    Tls(WriteHalf<TlsStream>),
}

/// The writer task's handle: queues its own frames and writes the queue
/// out.
pub struct Writer {
    wire: Arc<Wire>,
    side: WriteSide,
    send_timeout: Duration,
}

impl Writer {
    /// The writer of `wire` into `side`; a socket that takes nothing for
    /// `send_timeout` fails the write with [`WireError::Timeout`].
    pub fn new(wire: Arc<Wire>, side: WriteSide, send_timeout: Duration) -> Self {
        Self { wire, side, send_timeout }
    }

    /// Queues a binary message without writing it yet.
    pub fn queue_binary(&self, payload: Bytes) -> Result<(), WireError> {
        self.wire.queue_own(frame_parts(opcode::BINARY, payload))
    }

    /// Queues a ping without writing it yet.
    pub fn queue_ping(&self) -> Result<(), WireError> {
        self.wire.queue_own([frame(opcode::PING, &[])])
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.wire.queued_bytes()
    }

    /// Waits until someone else left bytes to write (posts that found the
    /// socket full, a pong).
    pub async fn woken(&self) {
        self.wire.woken().await;
    }

    /// Writes everything queued. Fails when the socket fails or takes
    /// nothing for the send timeout.
    pub async fn drain(&mut self) -> Result<(), WireError> {
        match &mut self.side {
            WriteSide::Tcp(socket) => drain_tcp(&self.wire, socket, self.send_timeout).await,
            WriteSide::Tls(tls) => drain_tls(&self.wire, tls, self.send_timeout).await,
        }
    }

    /// Writes the close frame (with whatever was queued before it), then
    /// ends the stream; nothing more is written afterwards.
    pub async fn close(&mut self, frame: Option<Bytes>) {
        if let Some(frame) = frame
            && self.wire.queue_own([frame]).is_ok()
        {
            let _ = self.finish().await;
            return;
        }
        self.wire.close();
        self.shutdown().await;
    }

    /// Writes what is queued (within the send timeout), then ends the
    /// stream.
    pub async fn finish(&mut self) -> Result<(), WireError> {
        let drained = self.drain().await;
        self.wire.close();
        self.shutdown().await;
        drained
    }

    async fn shutdown(&mut self) {
        match &mut self.side {
            // The socket closes when both halves are gone: the read half
            // with the connection, this one with the last wire.
            WriteSide::Tcp(_) => {}
            WriteSide::Tls(tls) => {
                let _ = tokio::time::timeout(self.send_timeout, tls.shutdown()).await;
            }
        }
    }
}

/// One non-blocking write of the queue's head frames: a plain `send()`
/// for a single frame (one post to a follower, the common case), one
/// vectored `send()` of up to [`MAX_IOVECS`] frames otherwise, with the
/// slices on the stack (no allocation per write).
fn try_write(socket: &OwnedWriteHalf, frames: &VecDeque<Bytes>) -> io::Result<usize> {
    if frames.len() == 1 {
        return socket.try_write(&frames[0]);
    }
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let mut n = 0;
    for (slot, frame) in slices.iter_mut().zip(frames) {
        *slot = IoSlice::new(frame);
        n += 1;
    }
    socket.try_write_vectored(&slices[..n])
}

async fn drain_tcp(
    wire: &Wire,
    socket: &OwnedWriteHalf,
    send_timeout: Duration,
) -> Result<(), WireError> {
    let mut deadline = tokio::time::Instant::now() + send_timeout;
    loop {
        {
            let mut queue = wire.lock();
            if queue.closed {
                return Err(WireError::Closed);
            }
            loop {
                if queue.frames.is_empty() {
                    return Ok(());
                }
                match try_write(socket, &queue.frames) {
                    Ok(0) => break,
                    Ok(n) => {
                        queue.consume(n);
                        deadline = tokio::time::Instant::now() + send_timeout;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        queue.closed = true;
                        return Err(WireError::Closed);
                    }
                }
            }
        }
        match tokio::time::timeout_at(deadline, socket.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(WireError::Closed),
            Err(_) => return Err(WireError::Timeout),
        }
    }
}

async fn drain_tls(
    wire: &Wire,
    tls: &mut WriteHalf<TlsStream>,
    send_timeout: Duration,
) -> Result<(), WireError> {
    loop {
        // Only this task writes a TLS stream, so the frames can be written
        // outside the lock; offers meanwhile queue behind them.
        let frames: Vec<Bytes> = {
            let mut queue = wire.lock();
            if queue.closed {
                return Err(WireError::Closed);
            }
            queue.bytes = 0;
            queue.frames.drain(..).collect()
        };
        if frames.is_empty() {
            return match tokio::time::timeout(send_timeout, tls.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(WireError::Closed),
                Err(_) => Err(WireError::Timeout),
            };
        }
        for frame in frames {
            match tokio::time::timeout(send_timeout, tls.write_all(&frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(WireError::Closed),
                Err(_) => return Err(WireError::Timeout),
            }
        }
    }
}

/// The socket's reading half.
pub enum ReadSide {
    /// Plain TCP.
    Tcp(OwnedReadHalf),
    /// TLS.
    Tls(tokio::io::ReadHalf<TlsStream>),
}

/// What the WebSocket protocol layer (tungstenite) reads from and writes
/// to: it reads the socket (after any bytes the HTTP layer had read past
/// the upgrade request), and its own writes — pongs and the answer to a
/// client's close — go into the connection's [`Wire`], so that they never
/// land in the middle of another frame.
pub struct Socket {
    read: ReadSide,
    /// Bytes read by the HTTP layer after the upgrade request.
    early: Bytes,
    wire: Arc<Wire>,
}

impl Socket {
    /// The protocol layer's stream over `read`, replying through `wire`.
    pub fn new(read: ReadSide, early: Bytes, wire: Arc<Wire>) -> Self {
        // A copy: `early` is a view into the HTTP layer's whole read buffer
        // (8 KiB or more), which would otherwise stay allocated for the
        // connection's lifetime even when the view is empty.
        let early = if early.is_empty() { Bytes::new() } else { Bytes::copy_from_slice(&early) };
        Self { read, early, wire }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
            if this.early.is_empty() {
                this.early = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        match &mut this.read {
            ReadSide::Tcp(read) => Pin::new(read).poll_read(cx, buf),
            ReadSide::Tls(read) => Pin::new(read).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.wire.queue_reply(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Splits an upgraded connection into the protocol layer's [`Socket`], the
/// shared [`Wire`] and the writer task's [`WriteSide`].
pub fn split_tcp(
    stream: TcpStream,
    early: Bytes,
    limits: WireLimits,
) -> (Socket, Arc<Wire>, WriteSide) {
    let (read, write) = stream.into_split();
    let write = Arc::new(write);
    let wire = Wire::new(Some(write.clone()), limits);
    (Socket::new(ReadSide::Tcp(read), early, wire.clone()), wire, WriteSide::Tcp(write))
}

/// As [`split_tcp`], for a TLS connection (no direct writes).
pub fn split_tls(
    stream: TlsStream,
    early: Bytes,
    limits: WireLimits,
) -> (Socket, Arc<Wire>, WriteSide) {
    let (read, write) = tokio::io::split(stream);
    let wire = Wire::new(None, limits);
    (Socket::new(ReadSide::Tls(read), early, wire.clone()), wire, WriteSide::Tls(write))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WireLimits = WireLimits { frames: 2, bytes: 100 };

    #[test]
    fn headers_follow_rfc_6455_lengths() {
        assert_eq!(&frame(opcode::BINARY, &[1, 2, 3])[..], &[0x82, 3, 1, 2, 3]);
        let medium = frame(opcode::BINARY, &[0; 300]);
        assert_eq!(&medium[..4], &[0x82, 126, 1, 44]);
        assert_eq!(medium.len(), 304);
        let large = frame(opcode::BINARY, &vec![0; 70_000]);
        assert_eq!(&large[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(&close_frame(1001, "idle timeout")[..4], &[0x88, 14, 0x03, 0xE9]);
        assert_eq!(&frame(opcode::PING, &[])[..], &[0x89, 0]);
    }

    #[test]
    fn offers_beyond_the_bounds_are_refused_and_nothing_after_close() {
        let wire = Wire::new(None, LIMITS);
        let post = frame(opcode::BINARY, &[7; 40]);
        assert!(wire.queue_post(&post));
        wire.write_queued();
        assert!(wire.queue_post(&post));
        assert!(!wire.queue_post(&post), "a third frame exceeds the frame bound");
        assert_eq!(wire.queued_bytes(), 84);
        let mut queue = wire.lock();
        queue.consume(50);
        assert_eq!((queue.frames.len(), queue.bytes), (1, 34));
        drop(queue);
        let big = frame(opcode::BINARY, &[7; 70]);
        assert!(!wire.queue_post(&big), "the byte bound");
        wire.close();
        assert!(!wire.queue_post(&post));
        assert_eq!(wire.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_direct_write_goes_straight_into_the_socket_and_keeps_frames_whole() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let limits = WireLimits { frames: 8, bytes: 100 };
        let (_socket, wire, side) = split_tcp(server, Bytes::new(), limits);
        let mut writer = Writer::new(wire.clone(), side, Duration::from_secs(5));
        // The socket reports writable once it was polled.
        writer.drain().await.unwrap();
        let post = frame(opcode::BINARY, b"post");
        assert!(wire.queue_post(&post));
        assert!(wire.queue_post(&post));
        wire.write_queued();
        assert_eq!(wire.queued_bytes(), 0, "both written directly");
        writer.queue_binary(Bytes::from_static(b"answer")).unwrap();
        assert!(wire.queue_post(&post), "queued behind the answer");
        assert_eq!(wire.queued_bytes(), 2 + 6 + 6);
        writer.finish().await.unwrap();
        // The write half shuts down when its last holder is gone.
        drop((writer, wire, _socket));
        let mut client = client;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        let mut want = [&post[..], &post[..]].concat();
        want.extend_from_slice(&[0x82, 6]);
        want.extend_from_slice(b"answer");
        want.extend_from_slice(&post);
        assert_eq!(got, want);
    }
}
