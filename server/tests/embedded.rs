//! Embeds the server with `stadtbote_server::run` on a loopback port and
//! drives it over a real WebSocket: registration, login, challenge replay,
//! bad frames, delivery and shutdown; the org flow (admin claim, org claim,
//! profile, staff invitation, enrolment, directory, revocation); attachment
//! uploads and downloads; group and upload expiry; broadcast channels
//! (publishing, reading and listening without an account).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stadtbote_protocol::auth::{DeviceSecret, login_message, register_message};
use stadtbote_protocol::frame::{
    ClientFrame, Envelope, Event, Request, Response, ServerBody, ServerFrame, decode_server, encode,
};
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, ErrorBody, ErrorCode, GroupId};
use stadtbote_server::Config;

/// The TOTP secret the tests' admins claim with.
fn totp_secret() -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![7u8; 20])
}

/// A `second_factor` request with the current code of [`totp_secret`].
fn second_factor() -> Request {
    use stadtbote_protocol::totp::{Secret, code_at};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Request::SecondFactor { otp: code_at(&Secret::from_bytes(&[7u8; 20]), now) }
}
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    data_dir: std::path::PathBuf,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), stadtbote_server::ServerError>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Stops the server and checks that `run` returns cleanly.
    async fn shut_down(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(WAIT, self.task).await.unwrap().unwrap().unwrap();
    }
}

/// The commit creating a new random group at epoch 0 by `creator`: a real
/// MLS commit with a signed membership statement declaring `add` (the
/// server never reads the MLS content), a stand-in welcome, and the
/// creation proof. Returns the group and the request.
fn create_group(
    secret: &DeviceSecret,
    account: AccountId,
    device: DeviceId,
    add: Vec<DeviceId>,
) -> (GroupId, Request) {
    let (group, nonce) = new_random_group();
    let mls = MlsClient::new(secret, account, device);
    mls.create_group(group).unwrap();
    let commit = mls.misdeclared_change(&group, &[], &[], (add, vec![])).unwrap();
    let create = GroupCreation::Random { nonce: nonce.to_vec().into() };
    let mut request = commit.request(group, secret, Some(create)).unwrap();
    if let Request::Commit { welcome, .. } = &mut request {
        *welcome = Some(b"welcome".to_vec().into());
    }
    (group, request)
}

async fn start() -> Server {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        pow_difficulty: 0,
        shutdown_timeout_secs: 2,
        metrics_listen: String::new(),
        ..Config::default()
    };
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(stadtbote_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { addr, data_dir, stop, task, _dir: dir }
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
    let (mut alice, a_secret, a_account, a_device) = Client::register(server.addr).await;
    let (mut bob, _, bob_account, bob_device) = Client::register(server.addr).await;

    let devices = alice.request(Request::ListDevices { account: bob_account }).await.unwrap();
    assert!(matches!(devices, Response::Devices { ref devices, .. } if devices.len() == 1));

    let (group, commit) = create_group(&a_secret, a_account, a_device, vec![bob_device]);
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

    server.shut_down().await;
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
    server.shut_down().await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn error_of(result: Result<Response, ErrorBody>) -> ErrorBody {
    match result {
        Err(error) => error,
        Ok(response) => panic!("expected an error, got {response:?}"),
    }
}

#[tokio::test]
async fn org_admin_staff_directory_and_revocation() {
    use stadtbote_protocol::frame::AdminAction;
    use stadtbote_protocol::org::{
        DeviceBinding, InviteCert, InviteCode, ORG_VERSION, OrgProfile, RevocationList, Role,
        Signed, SignedKind, org_claim_message,
    };

    let server = start().await;
    let addr = server.addr;
    let (mut admin, _, _, _) = Client::register(addr).await;

    // Server admin: the code comes from the file, which is private and goes
    // away once the code is used.
    let code_file = server.data_dir.join("admin-claim.code");
    let code = std::fs::read_to_string(&code_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&code_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let list = || Request::Admin { otp: None, action: AdminAction::ListOrgs };
    assert_eq!(error_of(admin.request(list()).await).code, ErrorCode::Forbidden);
    let no_secret = Request::AdminClaim { code: code.trim().into(), totp_secret: None };
    assert_eq!(error_of(admin.request(no_secret).await).code, ErrorCode::InvalidRequest);
    let wrong = admin
        .request(Request::AdminClaim { code: "AAAA-BBBB".into(), totp_secret: Some(totp_secret()) })
        .await;
    assert_eq!(error_of(wrong).code, ErrorCode::InvalidCode);
    let claim =
        Request::AdminClaim { code: code.trim().to_lowercase(), totp_secret: Some(totp_secret()) };
    assert_eq!(admin.request(claim.clone()).await, Ok(Response::AdminClaimed));
    assert!(!code_file.exists());
    assert_eq!(error_of(admin.request(claim).await).code, ErrorCode::InvalidCode);
    // Admin actions need the second factor too.
    assert_eq!(error_of(admin.request(list()).await).code, ErrorCode::SecondFactorRequired);
    assert_eq!(admin.request(second_factor()).await, Ok(Response::SecondFactorAccepted));

    // The admin creates the org.
    let create = |handle: &str| Request::Admin {
        otp: None,
        action: AdminAction::CreateOrg { name: "Stadt Goslar".into(), handle: handle.into() },
    };
    let bad = error_of(admin.request(create("Bad Handle")).await);
    assert_eq!(bad.code, ErrorCode::InvalidRequest);
    assert!(bad.message.contains("handle"), "{bad}");
    let (org, org_code, expires_at) = match admin.request(create("goslar")).await {
        Ok(Response::OrgCreated { org, handle, code, expires_at }) => {
            assert_eq!(handle, "goslar");
            (org, code, expires_at)
        }
        other => panic!("{other:?}"),
    };
    assert!(expires_at > now_ms() + 6 * 86_400_000);
    assert_eq!(error_of(admin.request(create("goslar")).await).code, ErrorCode::HandleTaken);
    match admin.request(list()).await {
        Ok(Response::Orgs { orgs }) => {
            assert_eq!(orgs.len(), 1);
            assert!(!orgs[0].claimed);
        }
        other => panic!("{other:?}"),
    }

    // The mayor's device claims it with a new org key.
    let (mut mayor, _, _, mayor_device) = Client::register(addr).await;
    let org_key = DeviceSecret::generate();
    let claim = |proof| Request::OrgClaim {
        code: org_code.clone(),
        org_key: org_key.identity_key(),
        proof,
    };
    let forged = DeviceSecret::generate().sign(&org_claim_message(&org, &mayor_device));
    assert_eq!(error_of(mayor.request(claim(forged)).await).code, ErrorCode::InvalidRequest);
    let proof = org_key.sign(&org_claim_message(&org, &mayor_device));
    match mayor.request(claim(proof)).await {
        Ok(Response::OrgClaimed { org: o, handle, name }) => {
            assert_eq!((o, handle.as_str(), name.as_str()), (org, "goslar", "Stadt Goslar"));
        }
        other => panic!("{other:?}"),
    }
    let used = error_of(mayor.request(claim(proof)).await);
    assert_eq!((used.code, used.message.as_str()), (ErrorCode::InvalidCode, "code already used"));
    let unknown = mayor
        .request(Request::OrgClaim {
            code: "ZZZZ-ZZZZ".into(),
            org_key: org_key.identity_key(),
            proof,
        })
        .await;
    assert_eq!(error_of(unknown).message, "unknown code");

    // Profile: only signed by the org key (from whichever device holds it),
    // only increasing versions.
    let profile = OrgProfile::new(org, "goslar".into(), "Stadt Goslar".into(), now_ms());
    let signed_profile = Signed::sign(SignedKind::Profile, &profile, &org_key);
    let publish = Request::OrgPublish { org, profile: signed_profile.clone() };
    let impostor = Signed::sign(SignedKind::Profile, &profile, &DeviceSecret::generate());
    let forged = Request::OrgPublish { org, profile: impostor };
    assert_eq!(error_of(admin.request(forged).await).code, ErrorCode::InvalidRequest);
    assert_eq!(mayor.request(publish.clone()).await, Ok(Response::Published { version: 1 }));
    let stale = error_of(mayor.request(publish).await);
    assert_eq!(stale.message, "profile version must increase");

    // A staff invitation, redeemed by the clerk's device.
    let invite_code = InviteCode::generate();
    let now = now_ms();
    let invite = InviteCert {
        v: ORG_VERSION,
        org,
        invite_id: invite_code.id.to_vec().into(),
        invite_key: invite_code.invite_key().identity_key(),
        role: Role::Clerk,
        department: "bauhof".into(),
        issued_at: now,
        invite_expires_at: now + 3_600_000,
        cert_expires_at: now + 365 * 86_400_000,
    };
    let signed_invite = Signed::sign(SignedKind::Invite, &invite, &org_key);
    match mayor.request(Request::OrgCreateInvite { org, invite: signed_invite }).await {
        Ok(Response::InviteStored { expires_at }) => assert_eq!(expires_at, now + 3_600_000),
        other => panic!("{other:?}"),
    }
    let (mut clerk, clerk_secret, clerk_account, clerk_device) = Client::register(addr).await;
    let binding = |account, device, identity_key| {
        let binding = DeviceBinding {
            v: ORG_VERSION,
            org,
            invite_id: invite_code.id.to_vec().into(),
            account,
            device,
            identity_key,
            bound_at: now_ms(),
        };
        Signed::sign(SignedKind::Binding, &binding, &invite_code.invite_key())
    };
    let enroll = |binding| Request::Enroll { invite_id: invite_code.id.to_vec().into(), binding };
    // A binding for another device is refused and does not use up the code.
    let other = binding(clerk_account, mayor_device, clerk_secret.identity_key());
    assert_eq!(error_of(clerk.request(enroll(other)).await).code, ErrorCode::InvalidRequest);
    let own = binding(clerk_account, clerk_device, clerk_secret.identity_key());
    assert_eq!(
        clerk.request(enroll(own.clone())).await,
        Ok(Response::Enrolled { org, handle: "goslar".into() })
    );
    let again = error_of(clerk.request(enroll(own)).await);
    assert_eq!(
        (again.code, again.message.as_str()),
        (ErrorCode::InvalidCode, "invitation code already used")
    );
    let unknown = Request::Enroll {
        invite_id: vec![0; 8].into(),
        binding: binding(clerk_account, clerk_device, clerk_secret.identity_key()),
    };
    assert_eq!(error_of(clerk.request(unknown).await).message, "unknown invitation code");
    approve_pending(&mut mayor, "goslar", &org_key, 1).await;

    // Anyone can read the directory; the certificate chain verifies.
    let (mut citizen, c_secret, c_account, c_device) = Client::register(addr).await;
    let directory = Request::OrgDirectory { handle: "goslar".into() };
    let info = match citizen.request(directory.clone()).await {
        Ok(Response::Org { info }) => info,
        other => panic!("{other:?}"),
    };
    assert_eq!(info.org_key, Some(org_key.identity_key()));
    assert_eq!(info.profile, Some(signed_profile));
    assert_eq!(info.staff.len(), 1);
    let staff = info.staff[0].verify(&org, &org_key.identity_key(), now_ms()).unwrap();
    assert_eq!((staff.device, staff.department.as_str()), (clerk_device, "bauhof"));
    assert!(info.revocations.is_none());
    let missing = citizen.request(Request::OrgDirectory { handle: "nowhere".into() }).await;
    assert_eq!(error_of(missing).code, ErrorCode::UnknownOrg);

    // A report thread: the citizen, the clerk and the mayor.
    clerk
        .request(Request::UploadKeyPackages {
            one_time: vec![b"kp-1".to_vec().into()],
            last_resort: Some(b"kp-lr".to_vec().into()),
        })
        .await
        .unwrap();
    let claim_clerk = Request::ClaimDeviceKeyPackages { devices: vec![clerk_device] };
    match citizen.request(claim_clerk.clone()).await {
        Ok(Response::KeyPackages { packages }) => assert_eq!(packages.len(), 1),
        other => panic!("{other:?}"),
    }
    let (group, commit) =
        create_group(&c_secret, c_account, c_device, vec![clerk_device, mayor_device]);
    assert_eq!(citizen.request(commit).await, Ok(Response::CommitAccepted { epoch: 1 }));
    let send = |text: &[u8]| Request::Send { group, message: text.to_vec().into() };
    assert_eq!(citizen.request(send(b"report")).await, Ok(Response::Stored { recipients: 2 }));

    // The org revokes the clerk's device.
    let revocations = RevocationList {
        v: ORG_VERSION,
        org,
        version: 1,
        revoked: vec![clerk_device],
        updated_at: now_ms(),
    };
    let signed = Signed::sign(SignedKind::Revocations, &revocations, &org_key);
    let revoke = Request::OrgRevoke { org, revocations: signed.clone() };
    assert_eq!(mayor.request(revoke.clone()).await, Ok(Response::Published { version: 1 }));
    assert_eq!(error_of(mayor.request(revoke).await).code, ErrorCode::InvalidRequest);
    let info = match citizen.request(directory).await {
        Ok(Response::Org { info }) => info,
        other => panic!("{other:?}"),
    };
    assert!(info.staff.is_empty(), "revoked certificates are omitted");
    assert_eq!(info.revocations, Some(signed));
    // From now on nothing is queued for the revoked device.
    assert_eq!(citizen.request(send(b"after")).await, Ok(Response::Stored { recipients: 1 }));
    match citizen.request(claim_clerk).await {
        Ok(Response::KeyPackages { packages }) => assert!(packages.is_empty()),
        other => panic!("{other:?}"),
    }
    // A fresh login of the clerk's device finds an empty mailbox: what was
    // queued before the revocation was deleted with it.
    let mut again = Client::connect(addr).await;
    let signature = clerk_secret.sign(&login_message(&again.nonce, &clerk_device));
    again.request(Request::Login { device: clerk_device, signature }).await.unwrap();
    match again.event().await {
        Event::Deliver { envelopes, caught_up: true } => assert!(envelopes.is_empty()),
        other => panic!("{other:?}"),
    }

    server.shut_down().await;
}

#[tokio::test]
async fn upload_resume_finish_and_download() {
    let server = start_with(|c| {
        c.blob_chunk_bytes = 4096;
        c.max_blob_bytes = 10_000;
        c.blob_quota_bytes = 20_000;
    })
    .await;
    let (mut alice, _, _, _) = Client::register(server.addr).await;
    let (mut bob, _, _, _) = Client::register(server.addr).await;

    let too_big = error_of(alice.request(Request::UploadStart { size: 10_001 }).await);
    assert_eq!(too_big.code, ErrorCode::TooLarge);
    assert_eq!(
        too_big.message,
        "attachment of 10001 bytes exceeds the server's limit of 10000 bytes"
    );
    let blobs_dir = server.data_dir.join("blobs");
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 0, "nothing stored");
    assert_eq!(
        error_of(alice.request(Request::UploadStart { size: 0 }).await).code,
        ErrorCode::InvalidRequest
    );

    let data: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
    let blob = match alice.request(Request::UploadStart { size: 9000 }).await {
        Ok(Response::UploadStarted { blob, chunk_size: 4096, expires_at }) => {
            assert!(expires_at > now_ms());
            blob
        }
        other => panic!("{other:?}"),
    };
    let chunk = |index: u32, bytes: &[u8]| Request::UploadChunk {
        blob,
        index,
        data: bytes.to_vec().into(),
    };
    let progress = |chunks_received, complete| {
        Ok(Response::UploadProgress {
            blob,
            chunks_received,
            size: 9000,
            chunk_size: 4096,
            complete,
        })
    };
    let early = error_of(alice.request(chunk(1, &data[4096..8192])).await);
    assert_eq!(
        (early.code, early.message.as_str()),
        (ErrorCode::InvalidRequest, "expected chunk 0")
    );
    let short = error_of(alice.request(chunk(0, &data[..100])).await);
    assert_eq!(short.code, ErrorCode::InvalidRequest);
    assert_eq!(alice.request(chunk(0, &data[..4096])).await, progress(1, false));
    // A retried chunk is acknowledged again without change.
    assert_eq!(alice.request(chunk(0, &data[..4096])).await, progress(1, false));
    // Other accounts see nothing.
    let status = Request::UploadStatus { blob };
    assert_eq!(error_of(bob.request(status.clone()).await).code, ErrorCode::UnknownBlob);
    assert_eq!(
        error_of(bob.request(chunk(1, &data[4096..8192])).await).code,
        ErrorCode::UnknownBlob
    );
    // Resuming starts from the status.
    assert_eq!(alice.request(status).await, progress(1, false));
    let finish = Request::UploadFinish { blob };
    assert_eq!(error_of(alice.request(finish.clone()).await).code, ErrorCode::InvalidRequest);
    let download = |index| Request::DownloadChunk { blob, index };
    assert_eq!(error_of(bob.request(download(0)).await).code, ErrorCode::UnknownBlob);
    assert_eq!(alice.request(chunk(1, &data[4096..8192])).await, progress(2, false));
    assert_eq!(alice.request(chunk(2, &data[8192..])).await, progress(3, false));
    let stored = alice.request(finish.clone()).await;
    assert!(matches!(stored, Ok(Response::BlobStored { size: 9000, .. })), "{stored:?}");
    assert_eq!(alice.request(finish).await, stored, "finishing is idempotent");

    // Any device holding the id downloads it.
    let mut downloaded = Vec::new();
    for index in 0..3 {
        match bob.request(download(index)).await {
            Ok(Response::BlobChunk { index: i, data, size: 9000, last }) => {
                assert_eq!((i, last), (index, index == 2));
                downloaded.extend_from_slice(&data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(downloaded, data);
    assert_eq!(error_of(bob.request(download(3)).await).code, ErrorCode::InvalidRequest);

    // Files are private; the finished blob has no `.part` suffix.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&blobs_dir), 0o700);
        let files: Vec<_> =
            std::fs::read_dir(&blobs_dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(mode(&files[0]), 0o600);
        assert!(!files[0].to_string_lossy().ends_with(".part"));
        assert_eq!(std::fs::read(&files[0]).unwrap(), data, "stored as uploaded (ciphertext)");
    }

    // The quota counts every blob of the account, finished or not.
    assert!(matches!(
        alice.request(Request::UploadStart { size: 9000 }).await,
        Ok(Response::UploadStarted { .. })
    ));
    let over = error_of(alice.request(Request::UploadStart { size: 9000 }).await);
    assert_eq!(over.code, ErrorCode::QuotaExceeded);
    assert!(matches!(
        bob.request(Request::UploadStart { size: 9000 }).await,
        Ok(Response::UploadStarted { .. })
    ));

    server.shut_down().await;
}

#[tokio::test]
async fn expired_groups_and_unfinished_uploads_are_swept() {
    let server = start_with(|c| {
        c.sweep_interval_secs = 1;
        c.upload_ttl_secs = 1;
    })
    .await;
    let (mut alice, a_secret, a_account, a_device) = Client::register(server.addr).await;
    let (_bob, _, _, bob_device) = Client::register(server.addr).await;
    let (group, commit) = create_group(&a_secret, a_account, a_device, vec![bob_device]);
    alice.request(commit).await.unwrap();
    let past = Request::SetGroupExpiry { group, expires_at: now_ms() - 1, org: None };
    assert_eq!(error_of(alice.request(past).await).code, ErrorCode::InvalidRequest);
    let at = now_ms() + 1500;
    let set = alice.request(Request::SetGroupExpiry { group, expires_at: at, org: None }).await;
    assert_eq!(set, Ok(Response::GroupExpirySet { expires_at: at }));
    let later =
        alice.request(Request::SetGroupExpiry { group, expires_at: at + 60_000, org: None }).await;
    assert_eq!(later, Ok(Response::GroupExpirySet { expires_at: at }), "only ever earlier");
    let send = Request::Send { group, message: b"bald weg".to_vec().into() };
    assert_eq!(alice.request(send.clone()).await, Ok(Response::Stored { recipients: 1 }));

    match alice.request(Request::UploadStart { size: 10 }).await {
        Ok(Response::UploadStarted { .. }) => {}
        other => panic!("{other:?}"),
    }
    let blobs_dir = server.data_dir.join("blobs");
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 1);

    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let gone = error_of_or_none(alice.request(send.clone()).await)
            .is_some_and(|e| e.code == ErrorCode::NotAMember);
        let swept = std::fs::read_dir(&blobs_dir).unwrap().count() == 0;
        if gone && swept {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "group or upload not swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    server.shut_down().await;
}

fn error_of_or_none(result: Result<Response, ErrorBody>) -> Option<ErrorBody> {
    result.err()
}

/// The org key approves every pending enrolment of `handle` and publishes
/// staff list `version` naming them (what the org admin's client does).
async fn approve_pending(mayor: &mut Client, handle: &str, org_key: &DeviceSecret, version: u64) {
    use stadtbote_protocol::org::{ORG_VERSION, Signed, SignedKind, StaffList, StaffListEntry};
    let info = match mayor.request(Request::OrgDirectory { handle: handle.into() }).await {
        Ok(Response::Org { info }) => info,
        other => panic!("{other:?}"),
    };
    let mut staff = Vec::new();
    let mut approvals = Vec::new();
    for certificate in &info.staff {
        let (approval, signed) = certificate.approve(&info.org, org_key, now_ms()).unwrap();
        staff.push(StaffListEntry {
            device: approval.device,
            identity_key: approval.identity_key,
            invite_id: approval.invite_id.clone(),
        });
        approvals.push(signed);
    }
    staff.sort_by_key(|e| e.device);
    let list = StaffList {
        v: ORG_VERSION,
        org: info.org,
        version,
        staff,
        revoked: Vec::new(),
        updated_at: now_ms(),
    };
    let approve = Request::OrgApprove {
        org: info.org,
        staff_list: Signed::sign(SignedKind::StaffList, &list, org_key),
        approvals,
    };
    match mayor.request(approve).await {
        Ok(Response::Published { .. }) => {}
        other => panic!("approval refused: {other:?}"),
    }
}

/// An org "goslar" with a claimed org key, a publisher and a clerk, each
/// enrolled with a staff certificate. Returns the org and the two
/// authenticated clients (publisher, clerk).
async fn enrolled_org(server: &Server) -> (stadtbote_protocol::OrgId, Client, Client) {
    use stadtbote_protocol::frame::AdminAction;
    use stadtbote_protocol::org::{
        DeviceBinding, InviteCert, InviteCode, ORG_VERSION, Role, Signed, SignedKind,
        org_claim_message,
    };

    let addr = server.addr;
    let (mut admin, _, _, _) = Client::register(addr).await;
    let code = std::fs::read_to_string(server.data_dir.join("admin-claim.code")).unwrap();
    admin
        .request(Request::AdminClaim { code: code.trim().into(), totp_secret: Some(totp_secret()) })
        .await
        .unwrap();
    admin.request(second_factor()).await.unwrap();
    let create = AdminAction::CreateOrg { name: "Stadt Goslar".into(), handle: "goslar".into() };
    let (org, org_code) = match admin.request(Request::Admin { otp: None, action: create }).await {
        Ok(Response::OrgCreated { org, code, .. }) => (org, code),
        other => panic!("{other:?}"),
    };
    let (mut mayor, _, _, mayor_device) = Client::register(addr).await;
    let org_key = DeviceSecret::generate();
    let proof = org_key.sign(&org_claim_message(&org, &mayor_device));
    let claim = Request::OrgClaim { code: org_code, org_key: org_key.identity_key(), proof };
    mayor.request(claim).await.unwrap();

    let mut staff = Vec::new();
    for role in [Role::Publisher, Role::Clerk] {
        let invite_code = InviteCode::generate();
        let now = now_ms();
        let invite = InviteCert {
            v: ORG_VERSION,
            org,
            invite_id: invite_code.id.to_vec().into(),
            invite_key: invite_code.invite_key().identity_key(),
            role,
            department: "presse".into(),
            issued_at: now,
            invite_expires_at: now + 3_600_000,
            cert_expires_at: now + 365 * 86_400_000,
        };
        let invite = Signed::sign(SignedKind::Invite, &invite, &org_key);
        mayor.request(Request::OrgCreateInvite { org, invite }).await.unwrap();
        let (mut client, secret, account, device) = Client::register(addr).await;
        let binding = DeviceBinding {
            v: ORG_VERSION,
            org,
            invite_id: invite_code.id.to_vec().into(),
            account,
            device,
            identity_key: secret.identity_key(),
            bound_at: now_ms(),
        };
        let binding = Signed::sign(SignedKind::Binding, &binding, &invite_code.invite_key());
        let enroll = Request::Enroll { invite_id: invite_code.id.to_vec().into(), binding };
        assert!(matches!(client.request(enroll).await, Ok(Response::Enrolled { .. })));
        staff.push(client);
    }
    approve_pending(&mut mayor, "goslar", &org_key, 1).await;
    let clerk = staff.pop().unwrap();
    let publisher = staff.pop().unwrap();
    (org, publisher, clerk)
}

#[tokio::test]
async fn channels_publish_fetch_and_listen_without_an_account() {
    use stadtbote_protocol::ChannelId;
    use stadtbote_protocol::frame::ChannelPostRecord;

    // A short auth timeout: a listening follower must outlive it.
    let server = start_with(|c| c.auth_timeout_secs = 1).await;
    let (org, mut publisher, mut clerk) = enrolled_org(&server).await;
    let channel = ChannelId([77; 16]);
    let create = |retention_days| Request::ChannelCreate {
        org,
        channel,
        meta: b"sealed meta".to_vec().into(),
        retention_days,
    };

    // Only publishers may create; retention is bounded; ids are unique.
    let refused = error_of(clerk.request(create(30)).await);
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (ErrorCode::Forbidden, "only the org's publishers may do this")
    );
    assert_eq!(error_of(publisher.request(create(0)).await).code, ErrorCode::InvalidRequest);
    assert_eq!(error_of(publisher.request(create(366)).await).code, ErrorCode::InvalidRequest);
    assert_eq!(
        publisher.request(create(30)).await,
        Ok(Response::ChannelStored { channel, key_epoch: 0 })
    );
    assert_eq!(error_of(publisher.request(create(30)).await).code, ErrorCode::InvalidRequest);

    // Two posts, then a stale one.
    let post = |prev_seq, text: &[u8]| Request::ChannelPost {
        channel,
        prev_seq,
        post: text.to_vec().into(),
    };
    assert_eq!(error_of(clerk.request(post(0, b"clerk")).await).code, ErrorCode::Forbidden);
    for (prev, text) in [(0, b"first"), (1, b"secnd")] {
        match publisher.request(post(prev, text)).await {
            Ok(Response::ChannelPosted { seq, .. }) => assert_eq!(seq, prev + 1),
            other => panic!("{other:?}"),
        }
    }
    let stale = error_of(publisher.request(post(1, b"stale")).await);
    assert_eq!((stale.code, stale.current_epoch), (ErrorCode::StaleEpoch, Some(2)));

    // A follower without an account reads and listens.
    let mut follower = Client::connect(server.addr).await;
    let unknown = follower
        .request(Request::ChannelFetch { channel: ChannelId([1; 16]), after: 0, limit: 10 })
        .await;
    assert_eq!(error_of(unknown).code, ErrorCode::UnknownChannel);
    match follower.request(Request::ChannelFetch { channel, after: 0, limit: 10 }).await {
        Ok(Response::ChannelPosts {
            org: o,
            meta,
            key_epoch: 0,
            posts,
            first_seq: 1,
            last_seq: 2,
            ..
        }) => {
            assert_eq!((o, meta.as_slice()), (org, &b"sealed meta"[..]));
            let texts: Vec<&[u8]> = posts.iter().map(|p| p.post.as_slice()).collect();
            assert_eq!(texts, [&b"first"[..], b"secnd"]);
        }
        other => panic!("{other:?}"),
    }
    match follower.request(Request::ChannelFetch { channel, after: 1, limit: 1 }).await {
        Ok(Response::ChannelPosts { posts, .. }) => assert_eq!(posts[0].seq, 2),
        other => panic!("{other:?}"),
    }
    let directory = follower.request(Request::OrgDirectory { handle: "goslar".into() }).await;
    assert!(matches!(directory, Ok(Response::Org { .. })));
    let writes = follower.request(post(2, b"anon")).await;
    assert_eq!(error_of(writes).code, ErrorCode::Unauthenticated);
    let listen = |channels| Request::ChannelListen { channels };
    let unknown = follower.request(listen(vec![channel, ChannelId([1; 16])])).await;
    assert_eq!(error_of(unknown).code, ErrorCode::UnknownChannel);
    let too_many = follower.request(listen(vec![channel; 65])).await;
    assert_eq!(error_of(too_many).code, ErrorCode::TooLarge);
    assert_eq!(
        follower.request(listen(vec![channel])).await,
        Ok(Response::Listening { channels: 1 })
    );

    // Past the auth timeout the follower is still connected and gets the
    // next post live.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(matches!(
        publisher.request(post(2, b"third")).await,
        Ok(Response::ChannelPosted { seq: 3, .. })
    ));
    match follower.event().await {
        Event::ChannelPost { channel: c, post: ChannelPostRecord { seq: 3, post, .. } } => {
            assert_eq!((c, post.as_slice()), (channel, &b"third"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(follower.request(Request::Ping).await, Ok(Response::Pong));

    // A connection that neither authenticates nor listens is still cut off.
    let mut idle = Client::connect(server.addr).await;
    idle.expect_close(1008).await;

    server.shut_down().await;
}

#[tokio::test]
async fn discussion_group_join_by_link() {
    use stadtbote_protocol::group_link::{join_token, token_hash};
    let server = start().await;
    let (mut alice, a_secret, a_account, a_device) = Client::register(server.addr).await;
    let (mut bob, _, _, bob_device) = Client::register(server.addr).await;
    let (mut carol, _, _, _) = Client::register(server.addr).await;

    let (group, create) = create_group(&a_secret, a_account, a_device, vec![bob_device]);
    assert_eq!(alice.request(create).await, Ok(Response::CommitAccepted { epoch: 1 }));
    let welcome = bob.delivery().await;
    bob.request(Request::Ack { ids: welcome.iter().map(|e| e.id).collect() }).await.unwrap();

    let token = join_token(&[1; 32]);
    let put = |hash: [u8; 32], info: &[u8]| Request::GroupInfoPut {
        group,
        token_hash: hash.to_vec().into(),
        info: info.to_vec().into(),
        org: None,
    };
    // Members only; the hash must be 32 bytes.
    assert_eq!(
        error_of(carol.request(put(token_hash(&token), b"sealed-1")).await).code,
        ErrorCode::NotAMember
    );
    let short = Request::GroupInfoPut {
        group,
        token_hash: vec![0; 31].into(),
        info: b"sealed-1".to_vec().into(),
        org: None,
    };
    assert_eq!(error_of(alice.request(short).await).code, ErrorCode::InvalidRequest);
    // Naming an org needs a staff certificate of it.
    let as_org = Request::GroupInfoPut {
        group,
        token_hash: token_hash(&token).to_vec().into(),
        info: b"sealed-1".to_vec().into(),
        org: Some(stadtbote_protocol::OrgId([9; 16])),
    };
    assert_eq!(error_of(alice.request(as_org).await).code, ErrorCode::Forbidden);
    assert_eq!(
        alice.request(put(token_hash(&token), b"sealed-1")).await,
        Ok(Response::GroupInfoStored { epoch: 1 })
    );

    let get = |token: &[u8]| Request::GroupInfoGet { group, token: token.to_vec().into() };
    assert_eq!(
        carol.request(get(&token)).await,
        Ok(Response::GroupInfo { group, epoch: 1, info: b"sealed-1".to_vec().into() })
    );
    let wrong = error_of(carol.request(get(&join_token(&[2; 32]))).await);
    assert_eq!(wrong.code, ErrorCode::Forbidden);
    assert!(wrong.message.contains("invalid or replaced group link"));

    let join = |epoch: u64, token: &[u8]| Request::ExternalJoin {
        group,
        epoch,
        commit: b"external-commit".to_vec().into(),
        token: token.to_vec().into(),
    };
    let stale = error_of(carol.request(join(0, &token)).await);
    assert_eq!((stale.code, stale.current_epoch), (ErrorCode::StaleEpoch, Some(1)));
    assert_eq!(carol.request(join(1, &token)).await, Ok(Response::CommitAccepted { epoch: 2 }));
    for member in [&mut alice, &mut bob] {
        let envelopes = member.delivery().await;
        assert_eq!(envelopes.len(), 1);
        assert_eq!(envelopes[0].payload.as_ref(), b"external-commit");
    }
    // Carol is a member now: she cannot join twice, and she can send.
    assert_eq!(error_of(carol.request(join(2, &token)).await).code, ErrorCode::InvalidRequest);
    let send = Request::Send { group, message: b"hello".to_vec().into() };
    assert_eq!(carol.request(send).await, Ok(Response::Stored { recipients: 2 }));

    // A new link replaces the old one at once.
    let new_token = join_token(&[3; 32]);
    assert_eq!(
        bob.request(put(token_hash(&new_token), b"sealed-2")).await,
        Ok(Response::GroupInfoStored { epoch: 2 })
    );
    let (mut dave, _, _, _) = Client::register(server.addr).await;
    let old = error_of(dave.request(get(&token)).await);
    assert_eq!(old.code, ErrorCode::Forbidden);
    assert_eq!(error_of(dave.request(join(2, &token)).await).code, ErrorCode::Forbidden);
    assert_eq!(
        dave.request(get(&new_token)).await,
        Ok(Response::GroupInfo { group, epoch: 2, info: b"sealed-2".to_vec().into() })
    );
    let unknown =
        Request::GroupInfoGet { group: GroupId([0x32; 16]), token: token.to_vec().into() };
    // A missing group is answered like a wrong token: nothing tells it apart.
    assert_eq!(error_of(dave.request(unknown).await), old);

    server.shut_down().await;
}
