//! Embeds the server with `stadtbote_server::run` on a loopback port and
//! drives it over a real WebSocket: registration, login, challenge replay,
//! bad frames, delivery and shutdown.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stadtbote_protocol::auth::{DeviceSecret, login_message, register_message};
use stadtbote_protocol::frame::{
    ClientFrame, Envelope, Event, Request, Response, ServerBody, ServerFrame, decode_server, encode,
};
use stadtbote_protocol::{AccountId, DeviceId, ErrorBody, ErrorCode, GroupId};
use stadtbote_server::Config;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), stadtbote_server::ServerError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        pow_difficulty: 0,
        shutdown_timeout_secs: 2,
        ..Config::default()
    };
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(stadtbote_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop, task, _dir: dir }
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    nonce: Vec<u8>,
}

impl Client {
    /// Connects and reads the challenge.
    async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.unwrap();
        let mut client = Self { ws, next_id: 1, nonce: Vec::new() };
        match client.event().await {
            Event::Challenge { nonce, .. } => client.nonce = nonce.into_vec(),
            other => panic!("expected a challenge, got {other:?}"),
        }
        client
    }

    async fn frame(&mut self) -> ServerFrame {
        loop {
            let message =
                tokio::time::timeout(WAIT, self.ws.next()).await.unwrap().unwrap().unwrap();
            match message {
                Message::Binary(bytes) => return decode_server(&bytes, 1 << 22).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    async fn event(&mut self) -> Event {
        match self.frame().await.body {
            ServerBody::Event { event } => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// Sends a request and returns its answer, keeping events that arrive
    /// before it (deliveries) in `events`.
    async fn request(&mut self, request: Request) -> Result<Response, ErrorBody> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(Message::Binary(encode(&ClientFrame::new(id, request)).into())).await;
        loop {
            match self.frame().await.body {
                ServerBody::Response { id: got, response } => {
                    assert_eq!(got, id);
                    return Ok(response);
                }
                ServerBody::Error { id: got, error } => {
                    assert_eq!(got, Some(id));
                    return Err(error);
                }
                ServerBody::Event { event: Event::Deliver { .. } } => continue,
                ServerBody::Event { event: Event::Challenge { nonce, .. } } => {
                    self.nonce = nonce.into_vec();
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn register(addr: SocketAddr) -> (Self, DeviceSecret, AccountId, DeviceId) {
        let mut client = Self::connect(addr).await;
        let secret = DeviceSecret::generate();
        let identity_key = secret.identity_key();
        let signature = secret.sign(&register_message(&client.nonce, &identity_key));
        match client.request(Request::Register { identity_key, signature, pow_nonce: 0 }).await {
            Ok(Response::Registered { account, device }) => (client, secret, account, device),
            other => panic!("registration failed: {other:?}"),
        }
    }

    /// Reads events until a non-empty delivery arrives.
    async fn delivery(&mut self) -> Vec<Envelope> {
        loop {
            if let Event::Deliver { envelopes, .. } = self.event().await
                && !envelopes.is_empty()
            {
                return envelopes;
            }
        }
    }

    /// Expects the server to close the connection with `code`.
    async fn expect_close(&mut self, code: u16) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.unwrap() {
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(u16::from(frame.code), code);
                    return;
                }
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn register_login_replay_and_bad_frames() {
    let server = start().await;
    let addr = server.addr;

    // Health and privacy endpoints answer over plain HTTP.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");

    // Connection 1 registers a new account.
    let (_c1, secret, account, device) = Client::register(addr).await;

    // Connection 2 logs in as that device.
    let mut c2 = Client::connect(addr).await;
    let signature = secret.sign(&login_message(&c2.nonce, &device));
    let login = Request::Login { device, signature };
    match c2.request(login.clone()).await {
        Ok(Response::LoggedIn { account: a, key_packages_left: 0, has_last_resort: false }) => {
            assert_eq!(a, account);
        }
        other => panic!("login failed: {other:?}"),
    }
    match c2.event().await {
        Event::Deliver { envelopes, caught_up: true } => assert!(envelopes.is_empty()),
        other => panic!("expected the initial delivery, got {other:?}"),
    }

    // Connection 3 replays connection 2's login: refused, with a fresh challenge.
    let mut c3 = Client::connect(addr).await;
    let first_nonce = c3.nonce.clone();
    let err = c3.request(login).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthFailed);
    // The fresh challenge arrived just before the error.
    assert_ne!(c3.nonce, first_nonce);
    // The fresh challenge works; an authenticated connection refuses more auth.
    let signature = secret.sign(&login_message(&c3.nonce, &device));
    assert!(matches!(
        c3.request(Request::Login { device, signature }).await,
        Ok(Response::LoggedIn { .. })
    ));
    let again = c3.request(Request::Login { device, signature }).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::AlreadyAuthenticated);

    // Requests before authentication are refused.
    let mut c4 = Client::connect(addr).await;
    let err = c4.request(Request::ListDevices { account }).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthenticated);

    // Garbage and text get `bad_frame`; the connection keeps working.
    c2.send_raw(Message::Binary(b"\xff\x00 not cbor".to_vec().into())).await;
    match c2.frame().await.body {
        ServerBody::Error { id: None, error } => assert_eq!(error.code, ErrorCode::BadFrame),
        other => panic!("expected bad_frame, got {other:?}"),
    }
    c2.send_raw(Message::Text("hello".into())).await;
    match c2.frame().await.body {
        ServerBody::Error { id: None, error } => assert_eq!(error.code, ErrorCode::BadFrame),
        other => panic!("expected bad_frame, got {other:?}"),
    }
    assert_eq!(c2.request(Request::Ping).await, Ok(Response::Pong));

    // An oversized message closes only that connection, with 1009.
    c4.send_raw(Message::Binary(vec![0u8; 300_000].into())).await;
    c4.expect_close(1009).await;
    assert_eq!(c2.request(Request::Ping).await, Ok(Response::Pong));

    // Shutdown closes connections with 1001 and `run` returns cleanly.
    server.stop.send(()).unwrap();
    c2.expect_close(1001).await;
    tokio::time::timeout(WAIT, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn commit_send_deliver_ack() {
    let server = start().await;
    let (mut alice, _, _, _) = Client::register(server.addr).await;
    let (mut bob, _, bob_account, bob_device) = Client::register(server.addr).await;

    let devices = alice.request(Request::ListDevices { account: bob_account }).await.unwrap();
    assert!(matches!(devices, Response::Devices { ref devices } if devices.len() == 1));

    let group = GroupId([7; 16]);
    let commit = Request::Commit {
        group,
        epoch: 0,
        commit: b"commit-0".to_vec().into(),
        add: vec![bob_device],
        remove: vec![],
        welcome: Some(b"welcome".to_vec().into()),
    };
    assert_eq!(alice.request(commit.clone()).await, Ok(Response::CommitAccepted { epoch: 1 }));
    let stale = alice.request(commit).await.unwrap_err();
    assert_eq!((stale.code, stale.current_epoch), (ErrorCode::StaleEpoch, Some(1)));

    let welcome = bob.delivery().await;
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0].payload.as_ref(), b"welcome");

    let send = Request::Send { group, message: b"ciphertext".to_vec().into() };
    assert_eq!(alice.request(send).await, Ok(Response::Stored { recipients: 1 }));
    let message = bob.delivery().await;
    assert_eq!(message[0].payload.as_ref(), b"ciphertext");
    assert!(message[0].id > welcome[0].id);

    // Alice cannot ack Bob's envelopes; Bob can.
    let ids = vec![welcome[0].id, message[0].id];
    assert_eq!(
        alice.request(Request::Ack { ids: ids.clone() }).await,
        Ok(Response::Acked { removed: 0 })
    );
    assert_eq!(bob.request(Request::Ack { ids }).await, Ok(Response::Acked { removed: 2 }));

    server.stop.send(()).unwrap();
    tokio::time::timeout(WAIT, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn handshake_and_auth_timeouts() {
    use tokio::io::AsyncReadExt;
    let server = start_with(|c| {
        c.handshake_timeout_secs = 1;
        c.auth_timeout_secs = 1;
    })
    .await;
    // A TCP connection that never sends a request is dropped.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, tcp.read(&mut buf)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // A WebSocket that never authenticates is closed with 1008.
    let mut idle = Client::connect(server.addr).await;
    idle.expect_close(1008).await;
    server.stop.send(()).unwrap();
    tokio::time::timeout(WAIT, server.task).await.unwrap().unwrap().unwrap();
}
