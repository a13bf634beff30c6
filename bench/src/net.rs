//! Connections of the load generator: source-address spreading, the
//! open-file limit, and a pipelining protocol connection.
//!
//! The client library's [`stadtbote_cli::connection::Connection`] waits for
//! the answer of each request before it sends the next one and connects from
//! whatever address the kernel picks. A load generator needs two things it
//! does not offer: many requests in flight on one socket (to measure the
//! server, not one round trip at a time) and a chosen source address, so
//! that tens of thousands of loopback connections do not exhaust one
//! address's ephemeral ports. [`Conn`] therefore owns its WebSocket itself,
//! but it speaks exactly the same frames: it encodes and decodes with
//! [`stadtbote_protocol::frame`] and signs with [`stadtbote_protocol::auth`].

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::StreamExt;
use futures_util::stream::{SplitSink, SplitStream};
use stadtbote_cli::connection::send_frame;
use stadtbote_protocol::auth::{self, DeviceSecret};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::{
    AccountId, ClientFrame, DeviceId, ErrorBody, ErrorCode, Event, Request, Response,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest message accepted from the server (a download chunk or a full
/// delivery batch fits easily).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Time allowed for connecting, the handshake and the challenge, and for
/// each setup request.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections per loopback source address before the next one is used.
/// Linux hands out about 28,000 ephemeral ports per address (32768–60999)
/// and a port stays reserved in TIME_WAIT for a minute after the generator
/// closes a setup connection, so one address would run out in the idle
/// scenario (a registration and a login connection per device).
pub const CONNS_PER_SOURCE: usize = 8_000;

/// The WebSocket type of a generator connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Where the server is and which source addresses reach it.
#[derive(Debug)]
pub struct Target {
    /// The WebSocket URL, e.g. `ws://127.0.0.1:8470/v1/ws`.
    pub url: String,
    /// The resolved server address.
    pub addr: SocketAddr,
    /// Source addresses to spread connections over (empty: let the kernel choose).
    sources: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Target {
    /// Resolves `url` (only `ws://`: TLS would measure rustls, not the relay).
    /// For a loopback IPv4 server, connections are spread over
    /// `source_addrs` addresses 127.0.0.1, 127.0.0.2, … (all of 127/8 is
    /// local on Linux).
    pub async fn new(url: &str, source_addrs: usize) -> Result<Target> {
        let rest = url.strip_prefix("ws://").ok_or_else(|| {
            anyhow!("the bench speaks ws:// only (measure the relay, not TLS): {url}")
        })?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let addr = tokio::net::lookup_host(host)
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .ok_or_else(|| anyhow!("{host} resolves to no address"))?;
        let sources = match addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => (1..=source_addrs.clamp(1, 250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Target { url: url.to_string(), addr, sources, next: AtomicUsize::new(0) })
    }

    /// How many source addresses are in use.
    pub fn source_count(&self) -> usize {
        self.sources.len().max(1)
    }

    /// The source address of the next connection: blocks of
    /// [`CONNS_PER_SOURCE`] consecutive connections share an address, then
    /// the next address is used, cycling.
    fn next_source(&self) -> Option<IpAddr> {
        if self.sources.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.sources[(n / CONNS_PER_SOURCE) % self.sources.len()])
    }

    /// Opens a connection and reads the challenge.
    pub async fn connect(&self) -> Result<Conn> {
        tokio::time::timeout(SETUP_TIMEOUT, self.connect_inner())
            .await
            .map_err(|_| anyhow!("connecting to {} timed out", self.url))?
    }

    async fn connect_inner(&self) -> Result<Conn> {
        let socket = if self.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(source) = self.next_source() {
            // Bind before connect so that the kernel allocates the
            // ephemeral port from this address's range.
            socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("binding {source}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            // The generator holds thousands of connections; small read
            // buffers keep its own memory out of the way.
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_MESSAGE * 2);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(self.url.as_str(), stream, Some(config))
                .await
                .context("WebSocket handshake")?;
        let mut conn =
            Conn { ws, next_id: 1, events: VecDeque::new(), nonce: Vec::new(), pow_difficulty: 0 };
        loop {
            match conn.recv().await? {
                ServerBody::Event { event: Event::Challenge { nonce, pow_difficulty, .. } } => {
                    conn.nonce = nonce.into_vec();
                    conn.pow_difficulty = pow_difficulty;
                    return Ok(conn);
                }
                ServerBody::Event { event } => conn.events.push_back(event),
                other => bail!("expected a challenge first, got {other:?}"),
            }
        }
    }
}

/// A registered device: what it needs to log in again and to speak MLS.
pub struct Device {
    /// Its identity key.
    pub secret: DeviceSecret,
    /// Its account.
    pub account: AccountId,
    /// The device id.
    pub device: DeviceId,
}

/// One protocol connection of the generator.
pub struct Conn {
    ws: Ws,
    next_id: u64,
    /// Events read while waiting for an answer, in arrival order.
    pub events: VecDeque<Event>,
    nonce: Vec<u8>,
    pow_difficulty: u8,
}

impl Conn {
    /// Reads the next server frame body.
    pub async fn recv(&mut self) -> Result<ServerBody> {
        read_body(&mut self.ws).await
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send(&mut self, request: Request) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        send_frame(&mut self.ws, frame::encode(&ClientFrame::new(id, request))).await?;
        Ok(id)
    }

    /// Sends a request and waits for its answer; events are kept aside.
    pub async fn call(&mut self, request: Request) -> Result<Result<Response, ErrorBody>> {
        let id = self.send(request).await?;
        tokio::time::timeout(SETUP_TIMEOUT, async {
            loop {
                match self.recv().await? {
                    ServerBody::Response { id: got, response } if got == id => {
                        return Ok(Ok(response));
                    }
                    ServerBody::Error { id: Some(got), error } if got == id => {
                        return Ok(Err(error));
                    }
                    ServerBody::Error { id: None, error } => bail!("server error: {error}"),
                    ServerBody::Event { event } => self.events.push_back(event),
                    _ => continue,
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no answer within {SETUP_TIMEOUT:?}"))?
    }

    /// Like [`Conn::call`], but retries after `rate_limited` (as a real
    /// client would) and turns other errors into `Err`.
    pub async fn request(&mut self, request: Request) -> Result<Response> {
        for _ in 0..20 {
            match self.call(request.clone()).await? {
                Ok(response) => return Ok(response),
                Err(error) if error.code == ErrorCode::RateLimited => {
                    let wait = error.retry_after_ms.unwrap_or(500).clamp(10, 10_000);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(error) => bail!("{} refused: {error}", request.name()),
            }
        }
        bail!("{} stayed rate-limited; start the server with deploy/bench.toml", request.name())
    }

    /// Registers a new account with this connection's challenge (solving the
    /// proof-of-work if the server asks for one).
    pub async fn register(&mut self) -> Result<Device> {
        let secret = DeviceSecret::generate();
        let key = secret.identity_key();
        let pow_nonce = if self.pow_difficulty == 0 {
            0
        } else {
            let (nonce, difficulty) = (self.nonce.clone(), self.pow_difficulty);
            tokio::task::spawn_blocking(move || auth::pow_solve(&nonce, &key, difficulty)).await?
        };
        let signature = secret.sign(&auth::register_message(&self.nonce, &key));
        match self.request(Request::Register { identity_key: key, signature, pow_nonce }).await? {
            Response::Registered { account, device } => Ok(Device { secret, account, device }),
            other => bail!("unexpected answer to register: {other:?}"),
        }
    }

    /// Logs in as `device`.
    pub async fn login(&mut self, device: &Device) -> Result<()> {
        let signature = device.secret.sign(&auth::login_message(&self.nonce, &device.device));
        match self.request(Request::Login { device: device.device, signature }).await? {
            Response::LoggedIn { .. } => Ok(()),
            other => bail!("unexpected answer to login: {other:?}"),
        }
    }

    /// The next event (held back or read), within `limit`.
    pub async fn next_event(&mut self, limit: Duration) -> Result<Option<Event>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        let read = tokio::time::timeout(limit, async {
            loop {
                if let ServerBody::Event { event } = self.recv().await? {
                    return Ok::<_, anyhow::Error>(event);
                }
            }
        });
        match read.await {
            Ok(event) => Ok(Some(event?)),
            Err(_) => Ok(None),
        }
    }

    /// Splits into a sending and a receiving half for pipelined traffic;
    /// request ids continue from `next_id` on the sending half.
    pub fn split(self) -> (Sender, SplitStream<Ws>, VecDeque<Event>) {
        let (sink, stream) = self.ws.split();
        (Sender { sink, next_id: self.next_id }, stream, self.events)
    }

    /// The TCP stream under the WebSocket, for a reader that parses the
    /// server's frames itself ([`crate::fanout`]): call it only when the
    /// server has nothing more in flight on this connection (bytes
    /// tungstenite already buffered would be lost).
    pub fn into_tcp(self) -> TcpStream {
        self.ws.into_inner()
    }

    /// Closes politely; errors do not matter any more.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// The sending half of a split [`Conn`].
pub struct Sender {
    sink: SplitSink<Ws, Message>,
    next_id: u64,
}

impl Sender {
    /// Sends a request; returns its id.
    pub async fn send(&mut self, request: Request) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        send_frame(&mut self.sink, frame::encode(&ClientFrame::new(id, request))).await?;
        Ok(id)
    }

    /// The id the next request will get.
    pub fn peek_id(&self) -> u64 {
        self.next_id
    }
}

/// Reads the next binary frame's body from a WebSocket stream.
pub async fn read_body<S>(ws: &mut S) -> Result<ServerBody>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            None => bail!("the server closed the connection"),
            Some(Err(e)) => bail!("connection lost: {e}"),
            Some(Ok(Message::Binary(bytes))) => {
                return Ok(frame::decode_server(&bytes, MAX_MESSAGE)?.body);
            }
            Some(Ok(Message::Close(_))) => bail!("the server closed the connection"),
            Some(Ok(_)) => continue,
        }
    }
}

/// Raises the soft open-file limit to the hard limit and returns the new
/// soft limit.
pub fn raise_nofile() -> Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")
}

/// Fails early when `connections` sockets (plus room for the runtime, log
/// files and setup connections) would not fit under the open-file limit.
pub fn check_fd_budget(connections: usize, limit: u64) -> Result<()> {
    let needed = connections as u64 + 256;
    if needed > limit {
        bail!(
            "{connections} connections need about {needed} open files, but the limit is {limit} \
             (ulimit -Hn); use fewer connections"
        );
    }
    Ok(())
}
