//! Web Push (issue 18) against the real server: a fake push service on
//! loopback (allow-listed in the server's configuration) records what the
//! server sends. The tests decrypt every push with RFC 8291 written out
//! here from the primitives (independently of the server's `ece`), verify
//! its VAPID token against the key the server published, and play the
//! hostile client: endpoints outside the allow-list, and an allow-listed
//! name that resolves to loopback (the DNS-rebinding case).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use data_encoding::BASE64URL_NOPAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_bytes::ByteBuf;
use sha2::Sha256;
use stadtbote_protocol::{ErrorCode, RefusalReason, Request, Response};

use crate::block_on;
use crate::harness::raw_mls::{Identity, group_with};
use crate::harness::{RawClient, Server, contains_bytes, eventually, files_below};

const CONTACT: &str = "mailto:it@musterhausen.example";

/// One request the fake push service received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A push service on 127.0.0.1 that records requests and answers each
/// with the status currently set.
pub(crate) struct FakePushService {
    port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
}

impl FakePushService {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(201));
        let (log, answer) = (requests.clone(), status.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                if let Some(recorded) = read_request(&stream) {
                    log.lock().unwrap().push(recorded);
                    let code = answer.load(Ordering::SeqCst);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        });
        Self { port, requests, status }
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn all(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded { method, path, headers, body })
}

/// A browser's push subscription keys.
pub(crate) struct BrowserKeys {
    secret: SecretKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl BrowserKeys {
    pub(crate) fn new() -> Self {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Self { secret, public, auth }
    }

    pub(crate) fn subscribe(&self, endpoint: &str) -> Request {
        Request::PushSubscribe {
            endpoint: endpoint.to_owned(),
            p256dh: ByteBuf::from(self.public.clone()),
            auth: ByteBuf::from(self.auth.to_vec()),
        }
    }

    /// RFC 8291 section 3.4 and RFC 8188, for one record: what a browser
    /// does with a push.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let (salt, rest) = body.split_at(16);
        let rs = u32::from_be_bytes(rest[..4].try_into().unwrap());
        assert!(rs >= 18, "record size {rs}");
        let idlen = rest[4] as usize;
        assert_eq!(idlen, 65, "keyid is the sender's public key");
        let (sender, ciphertext) = rest[5..].split_at(idlen);
        assert!(ciphertext.len() <= rs as usize, "one record");
        let sender_key = PublicKey::from_sec1_bytes(sender).unwrap();
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender_key.as_affine());
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public);
        key_info.extend_from_slice(sender);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&key_info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
        let mut nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
        let padded = Aes128Gcm::new_from_slice(&cek)
            .unwrap()
            .decrypt(Nonce::from_slice(&nonce), ciphertext)
            .expect("the push decrypts with the subscription's keys");
        // The last (only) record: data, the delimiter 2, then zeros.
        let end = padded.iter().rposition(|b| *b != 0).unwrap();
        assert_eq!(padded[end], 2, "last-record delimiter");
        padded[..end].to_vec()
    }
}

/// RFC 8291 appendix A: the decryption above, checked on the RFC's example.
#[test]
fn the_tests_rfc8291_decryption_matches_the_rfc_example() {
    let b64 = |s: &str| BASE64URL_NOPAD.decode(s.as_bytes()).unwrap();
    let keys = BrowserKeys {
        secret: SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap(),
        public: b64(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        ),
        auth: b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap(),
    };
    let body = b64(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
    assert_eq!(keys.decrypt(&body), b"When I grow up, I want to be a watermelon");
}

/// Checks one recorded push end to end; returns the plaintext.
fn check_push(push: &Recorded, path: &str, keys: &BrowserKeys, server_key: &[u8], origin: &str) {
    assert_eq!(push.method, "POST");
    assert_eq!(push.path, path);
    assert_eq!(push.header("TTL"), Some("86400"));
    assert_eq!(push.header("Urgency"), Some("normal"));
    assert_eq!(push.header("Content-Encoding"), Some("aes128gcm"));
    // RFC 8292: `vapid t=<JWT>, k=<the published key>`, ES256 over the JWT.
    let auth = push.header("Authorization").expect("authorization header");
    let (token, k) = auth.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
    assert_eq!(BASE64URL_NOPAD.decode(k.as_bytes()).unwrap(), server_key);
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature =
        Signature::from_slice(&BASE64URL_NOPAD.decode(signature.as_bytes()).unwrap()).unwrap();
    VerifyingKey::from_sec1_bytes(server_key)
        .unwrap()
        .verify(signed.as_bytes(), &signature)
        .expect("the VAPID token is signed by the published key");
    let (header, claims) = signed.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(header.as_bytes()).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(claims.as_bytes()).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    assert_eq!(claims["sub"], CONTACT);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now.as_secs() && exp <= now.as_secs() + 24 * 3600, "exp {exp}");
    // Content-free and constant: `{"v":1,"n":"<22 characters>"}`, 230 bytes
    // on the wire.
    assert_eq!(push.body.len(), 230, "constant ciphertext size");
    let plain = keys.decrypt(&push.body);
    assert_eq!(plain.len(), 36, "{}", String::from_utf8_lossy(&plain));
    let value: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 2, "{value}");
    assert_eq!(value["v"], 1);
    assert_eq!(value["n"].as_str().unwrap().len(), 22);
}

fn push_env(fake: &FakePushService, allowed: &str, interval: &str) -> Vec<(String, String)> {
    let _ = fake;
    vec![
        ("STADTBOTE_PUSH_CONTACT".into(), CONTACT.into()),
        ("STADTBOTE_PUSH_ALLOWED_ORIGINS".into(), allowed.into()),
        ("STADTBOTE_PUSH_MIN_INTERVAL_SECS".into(), interval.into()),
        ("STADTBOTE_PUSH_RETRY_BASE_MS".into(), "100".into()),
        ("STADTBOTE_LOG".into(), "debug".into()),
    ]
}

fn start(env: &[(String, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start_with(&env)
}

async fn server_key(client: &mut RawClient) -> Vec<u8> {
    match client.request(Request::PushKey).await.unwrap() {
        Ok(Response::PushKey { key: Some(key) }) => key.into_vec(),
        other => panic!("expected the VAPID key, got {other:?}"),
    }
}

fn refusal(answer: Result<Response, stadtbote_protocol::ErrorBody>) -> (ErrorCode, RefusalReason) {
    let error = answer.expect_err("refused");
    (error.code, error.reason.expect("a refusal reason"))
}

/// Logs in again as `id` on a new connection.
async fn login(url: &str, id: &Identity) -> RawClient {
    let mut client = RawClient::connect(url).await.unwrap();
    let login = client.login_request(&id.0, id.2);
    assert!(matches!(client.request(login).await.unwrap(), Ok(Response::LoggedIn { .. })));
    client
}

/// The log names neither the endpoint nor the push service's address.
fn assert_log_is_clean(server: &Server, fake: &FakePushService, secret_path: &str) {
    let log = server.log();
    assert!(!log.is_empty());
    assert!(!log.contains(secret_path), "endpoint path in the log");
    assert!(!log.contains(&format!("127.0.0.1:{}", fake.port)), "push service address logged");
    assert!(!log.contains(&format!(":{}/", fake.port)), "push service port logged");
}

#[test]
fn an_offline_device_gets_one_content_free_push_and_hostile_endpoints_are_refused() {
    let fake = FakePushService::start();
    let mut server = start(&push_env(&fake, &fake.origin(), "60"));
    let url = server.url();
    let keys = BrowserKeys::new();
    let secret_path = "/wpush/v2/gAAAAABnBerndsBrowserSubscription";
    let endpoint = format!("{}{secret_path}", fake.origin());
    block_on(async {
        let mut alice = RawClient::connect(&url).await.unwrap();
        let alice_id = alice.register().await.unwrap();
        let mut bob = RawClient::connect(&url).await.unwrap();
        let bob_id = bob.register().await.unwrap();
        let published = server_key(&mut bob).await;
        assert_eq!((published.len(), published[0]), (65, 4));

        // The hostile client: endpoints the operator did not allow.
        for bad in [
            "https://evil.example/collect".to_owned(),
            format!("http://127.0.0.1:{}/other-port", fake.port.wrapping_add(1)),
            format!("https://127.0.0.1:{}/tls-instead", fake.port),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            format!("http://localhost:{}/by-name", fake.port),
        ] {
            let answer = bob.request(keys.subscribe(&bad)).await.unwrap();
            assert_eq!(
                refusal(answer),
                (ErrorCode::Forbidden, RefusalReason::PushEndpointNotAllowed),
                "{bad}"
            );
        }
        for bad in [
            format!("http://user@127.0.0.1:{}/x", fake.port),
            format!("{endpoint}#fragment"),
            format!("{}/{}", fake.origin(), "a".repeat(2000)),
        ] {
            let answer = bob.request(keys.subscribe(&bad)).await.unwrap();
            assert_eq!(
                refusal(answer),
                (ErrorCode::InvalidRequest, RefusalReason::PushSubscriptionInvalid)
            );
        }
        let mut off_curve = keys.public.clone();
        off_curve[64] ^= 1;
        let bad_key = Request::PushSubscribe {
            endpoint: endpoint.clone(),
            p256dh: ByteBuf::from(off_curve),
            auth: ByteBuf::from(keys.auth.to_vec()),
        };
        assert_eq!(
            refusal(bob.request(bad_key).await.unwrap()).1,
            RefusalReason::PushSubscriptionInvalid
        );
        let short_auth = Request::PushSubscribe {
            endpoint: endpoint.clone(),
            p256dh: ByteBuf::from(keys.public.clone()),
            auth: ByteBuf::from(vec![1; 8]),
        };
        assert_eq!(
            refusal(bob.request(short_auth).await.unwrap()).1,
            RefusalReason::PushSubscriptionInvalid
        );

        // The real subscription.
        assert_eq!(
            bob.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        let (group, create, _) = group_with(&alice_id, &bob_id);
        assert!(alice.request(create).await.unwrap().is_ok(), "group created");

        // Bob is connected: his connection delivers, nobody is pushed.
        let marked = |n: u8| Request::SendNotify { group, message: ByteBuf::from(vec![n; 40]) };
        assert_eq!(alice.request(marked(1)).await.unwrap(), Ok(Response::Stored { recipients: 1 }));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(fake.count(), 0, "a connected device is not pushed");

        // Bob goes offline. A receipt (an unmarked send) wakes nobody.
        bob.ws.close(None).await.unwrap();
        drop(bob);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let receipt = Request::Send { group, message: ByteBuf::from(vec![9; 40]) };
        assert_eq!(alice.request(receipt).await.unwrap(), Ok(Response::Stored { recipients: 1 }));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(fake.count(), 0, "an unmarked envelope makes no push");

        // Three marked messages: exactly one push within the interval.
        for n in 2..5 {
            assert!(alice.request(marked(n)).await.unwrap().is_ok());
        }
    });
    eventually(Duration::from_secs(10), || (fake.count() > 0).then_some(())).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let pushes = fake.all();
    assert_eq!(pushes.len(), 1, "coalesced into one push: {pushes:?}");
    block_on(async {
        let mut bob = RawClient::connect(&url).await.unwrap();
        let key = server_key(&mut bob).await;
        check_push(&pushes[0], secret_path, &keys, &key, &fake.origin());
    });

    // The key survives a restart (subscriptions stay valid).
    let before = block_on(async { server_key(&mut RawClient::connect(&url).await.unwrap()).await });
    server.restart();
    let after = block_on(async { server_key(&mut RawClient::connect(&url).await.unwrap()).await });
    assert_eq!(before, after, "the VAPID key is kept");
    server.terminate();
    assert_log_is_clean(&server, &fake, secret_path);
    for file in files_below(&server.data_dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!contains_bytes(&bytes, secret_path.as_bytes()), "{}", file.display());
    }
}

#[test]
fn gone_subscriptions_are_deleted_and_subscriptions_are_listed_and_removable() {
    let fake = FakePushService::start();
    let server = start(&push_env(&fake, &fake.origin(), "1"));
    let url = server.url();
    let keys = BrowserKeys::new();
    let secret_path = "/push/ZGllLWJyb3dzZXItdm9uLWNhcm9s";
    let endpoint = format!("{}{secret_path}", fake.origin());
    let (alice_id, carol_id, group) = block_on(async {
        let mut alice = RawClient::connect(&url).await.unwrap();
        let alice_id = alice.register().await.unwrap();
        let mut carol = RawClient::connect(&url).await.unwrap();
        let carol_id = carol.register().await.unwrap();
        assert_eq!(
            carol.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        // The account export lists the subscription.
        let Ok(Response::AccountExport { export }) =
            carol.request(Request::AccountExport).await.unwrap()
        else {
            panic!("export")
        };
        let listed = export.devices[0].push_subscription.as_ref().expect("listed");
        assert_eq!(listed.endpoint, endpoint);
        let (group, create, _) = group_with(&alice_id, &carol_id);
        assert!(alice.request(create).await.unwrap().is_ok());
        (alice_id, carol_id, group)
    });
    // Carol's connection ended with the runtime; give the server a moment
    // to notice, so that she counts as offline.
    std::thread::sleep(Duration::from_millis(500));
    let marked = |n: u8| Request::SendNotify { group, message: ByteBuf::from(vec![n; 40]) };
    // Two pushes more than the interval apart: same size, both decrypt.
    for n in 1..3 {
        block_on(async {
            let mut alice = login(&url, &alice_id).await;
            assert!(alice.request(marked(n)).await.unwrap().is_ok());
        });
        eventually(Duration::from_secs(10), || (fake.count() == n as usize).then_some(())).unwrap();
        std::thread::sleep(Duration::from_millis(1200));
    }
    let key = block_on(async { server_key(&mut RawClient::connect(&url).await.unwrap()).await });
    let pushes = fake.all();
    for push in &pushes {
        check_push(push, secret_path, &keys, &key, &fake.origin());
    }
    assert_ne!(pushes[0].body, pushes[1].body);

    // The browser unsubscribed: 410 Gone deletes the subscription.
    fake.status.store(410, Ordering::SeqCst);
    block_on(async {
        let mut alice = login(&url, &alice_id).await;
        assert!(alice.request(marked(3)).await.unwrap().is_ok());
    });
    eventually(Duration::from_secs(10), || (fake.count() == 3).then_some(())).unwrap();
    eventually(Duration::from_secs(10), || {
        block_on(async {
            let mut carol = login(&url, &carol_id).await;
            let Ok(Response::AccountExport { export }) =
                carol.request(Request::AccountExport).await.unwrap()
            else {
                panic!("export")
            };
            export.devices[0].push_subscription.is_none().then_some(())
        })
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    block_on(async {
        let mut alice = login(&url, &alice_id).await;
        assert!(alice.request(marked(4)).await.unwrap().is_ok());
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(fake.count(), 3, "no push after 410");

    // Unsubscribing works on both sides of the answer.
    block_on(async {
        let mut carol = login(&url, &carol_id).await;
        let unsubscribe = carol.request(Request::PushUnsubscribe).await.unwrap();
        assert_eq!(unsubscribe, Ok(Response::PushUnsubscribed { removed: false }));
        assert_eq!(
            carol.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        let unsubscribe = carol.request(Request::PushUnsubscribe).await.unwrap();
        assert_eq!(unsubscribe, Ok(Response::PushUnsubscribed { removed: true }));
        let Ok(Response::AccountExport { export }) =
            carol.request(Request::AccountExport).await.unwrap()
        else {
            panic!("export")
        };
        assert!(export.devices[0].push_subscription.is_none());
        // Subscribed again, then the account is deleted: the server keeps
        // nothing of it (the store's unit test checks the record itself).
        assert_eq!(
            carol.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        assert!(matches!(
            carol.request(Request::AccountDelete).await.unwrap(),
            Ok(Response::AccountDeleted { devices: 1, .. })
        ));
    });
    assert_log_is_clean(&server, &fake, secret_path);
}

/// The DNS-rebinding case: the operator allowed a host *name*, and it
/// resolves to loopback (as a hostile DNS answer would). The server
/// accepts the subscription (the origin is on the list) but never connects
/// to a non-public address it was not given literally.
#[test]
fn an_allowed_name_resolving_to_loopback_gets_no_request() {
    let fake = FakePushService::start();
    let allowed = format!("http://localhost:{}", fake.port);
    let server = start(&push_env(&fake, &allowed, "1"));
    let url = server.url();
    let keys = BrowserKeys::new();
    block_on(async {
        let mut alice = RawClient::connect(&url).await.unwrap();
        let alice_id = alice.register().await.unwrap();
        let mut dave = RawClient::connect(&url).await.unwrap();
        let dave_id = dave.register().await.unwrap();
        let endpoint = format!("http://localhost:{}/rebound", fake.port);
        assert_eq!(
            dave.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        let (group, create, _) = group_with(&alice_id, &dave_id);
        assert!(alice.request(create).await.unwrap().is_ok());
        dave.ws.close(None).await.unwrap();
        drop(dave);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let marked = Request::SendNotify { group, message: ByteBuf::from(vec![1; 40]) };
        assert!(alice.request(marked).await.unwrap().is_ok());
    });
    // Retries (3, from 100 ms, doubling) are over well within this.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fake.count(), 0, "a request went to loopback by name");
    assert!(server.log().contains("push failed after retries"), "the failure is logged");
}

#[test]
fn push_is_off_without_a_contact() {
    let server = Server::start();
    let url = server.url();
    block_on(async {
        let mut client = RawClient::connect(&url).await.unwrap();
        assert_eq!(
            client.request(Request::PushKey).await.unwrap(),
            Ok(Response::PushKey { key: None })
        );
        client.register().await.unwrap();
        let keys = BrowserKeys::new();
        let answer = client.request(keys.subscribe("https://fcm.googleapis.com/fcm/send/x")).await;
        assert_eq!(refusal(answer.unwrap()).1, RefusalReason::PushNotEnabled);
    });
}

// ---------------------------------------------------------------------------
// s9-push (issue 18.5/18.6): what the CLI marks, staff wake-ups, the
// independent check in Python, the subscription's lifetime, /metrics.

/// Runs tests/it/webpush_verify.py (Python's `cryptography`, i.e. OpenSSL):
/// verifies the VAPID token and decrypts the payload independently of any
/// Rust code. `None` (after a loud SKIPPED line) where Python or
/// `cryptography` is missing; under CI=true that fails instead.
fn independent_check(
    push: &Recorded,
    keys: &BrowserKeys,
    server_key: &[u8],
    aud: &str,
) -> Option<serde_json::Value> {
    use std::process::{Command, Stdio};
    let b64 = |bytes: &[u8]| BASE64URL_NOPAD.encode(bytes);
    let input = serde_json::json!({
        "authorization": push.header("Authorization").expect("authorization header"),
        "body": b64(&push.body),
        "ua_private": b64(&keys.secret.to_bytes()),
        "ua_public": b64(&keys.public),
        "auth": b64(&keys.auth),
        "server_key": b64(server_key),
        "aud": aud,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/it/webpush_verify.py");
    let skip = |why: String| {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the independent Web Push check cannot run under CI=true: {why}");
        }
        eprintln!("SKIPPED: independent Web Push check (Python `cryptography`): {why}");
        None
    };
    let child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => return skip(format!("python3 not found ({err})")),
    };
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.code() {
        Some(0) => Some(serde_json::from_slice(&out.stdout).expect("the check's JSON")),
        Some(2) => skip(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        _ => panic!(
            "the independent check refused the push: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Checks a push in Rust ([`check_push`]) and in Python; returns the
/// plaintext as Python decrypted it (if Python ran).
fn check_push_twice(
    push: &Recorded,
    path: &str,
    keys: &BrowserKeys,
    key: &[u8],
    origin: &str,
) -> Option<String> {
    check_push(push, path, keys, key, origin);
    let checked = independent_check(push, keys, key, origin)?;
    assert_eq!(checked["claims"]["sub"], CONTACT);
    let plain = checked["plaintext"].as_str().unwrap().to_owned();
    assert_eq!(plain.len(), 36, "{plain}");
    let value: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(value.as_object().unwrap().len(), 2, "content-free: {value}");
    assert_eq!(value["n"].as_str().unwrap().len(), 22);
    Some(plain)
}

/// Logs in as the device of a CLI home with a raw client (as the web app
/// would from the same device) and registers a push subscription for it.
fn subscribe_cli_device(
    url: &str,
    device: &crate::harness::Device,
    keys: &BrowserKeys,
    path: &str,
) {
    use crate::harness::raw::home_secret;
    let secret = home_secret(&device.home).unwrap();
    let id = stadtbote_protocol::DeviceId::parse(&device.device_id()).unwrap();
    block_on(async {
        let mut client = RawClient::connect(url).await.unwrap();
        let login = client.login_request(&secret, id);
        assert!(matches!(client.request(login).await.unwrap(), Ok(Response::LoggedIn { .. })));
        assert_eq!(
            client.request(keys.subscribe(path)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        client.ws.close(None).await.unwrap();
    });
    // The server notices the closed connection: the device is offline.
    std::thread::sleep(Duration::from_millis(300));
}

fn push_env_with_metrics(
    fake: &FakePushService,
    metrics: &std::net::SocketAddr,
) -> Vec<(String, String)> {
    let mut env = push_env(fake, &fake.origin(), "1");
    env.push(("STADTBOTE_METRICS_LISTEN".into(), metrics.to_string()));
    env
}

fn metrics_addr() -> std::net::SocketAddr {
    format!("127.0.0.1:{}", crate::harness::free_port()).parse().unwrap()
}

#[test]
fn cli_reports_replies_consultations_and_messages_wake_offline_devices_but_receipts_and_channel_posts_do_not()
 {
    use crate::harness::{Device, json_lines, last_line, metric};
    use crate::municipal::{HANDLE, Town};

    let fake = FakePushService::start();
    let metrics = metrics_addr();
    let town = Town::new(start(&push_env_with_metrics(&fake, &metrics)));
    let url = town.server.url();
    let origin = fake.origin();
    let key = block_on(async { server_key(&mut RawClient::connect(&url).await.unwrap()).await });
    let office = town.enrol("Büro", "buergermeister");
    town.mayor.ok(&["org", "hours", "set", "Mon 17:00-18:00", "--department", "buergermeister"]);
    town.mayor.ok(&["org", "hours", "live", "on"]);
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let citizen = Device::new(&town.server);
    let carla = citizen.init("Carla");
    let bernd = Device::new(&town.server);
    bernd.init("Bernd");

    let (clerk_keys, office_keys, citizen_keys, bernd_keys) =
        (BrowserKeys::new(), BrowserKeys::new(), BrowserKeys::new(), BrowserKeys::new());
    let (clerk_path, office_path, citizen_path, bernd_path) =
        ("/wpush/clerk-bauhof", "/wpush/office-consult", "/wpush/citizen-carla", "/wpush/bernd");
    let at = |path: &str| format!("{origin}{path}");
    subscribe_cli_device(&url, &town.clerk, &clerk_keys, &at(clerk_path));
    subscribe_cli_device(&url, &office, &office_keys, &at(office_path));
    subscribe_cli_device(&url, &citizen, &citizen_keys, &at(citizen_path));
    subscribe_cli_device(&url, &bernd, &bernd_keys, &at(bernd_path));
    let pushes_to = |path: &str| -> Vec<Recorded> {
        fake.all().into_iter().filter(|r| r.path == path).collect()
    };
    // Waits until `path` got `n` pushes, then a little longer to see that
    // no further one follows (the coalescing interval here is 1 s).
    let expect = |path: &str, n: usize, what: &str| {
        let got = eventually(Duration::from_secs(15), || {
            let got = pushes_to(path);
            (got.len() >= n).then_some(got)
        });
        assert!(got.is_ok(), "{what}: no push to {path}; all: {:?}", fake.all());
        std::thread::sleep(Duration::from_millis(2500));
        let got = pushes_to(path);
        assert_eq!(got.len(), n, "{what}: pushes to {path}");
        got
    };
    let mut plains = Vec::new();

    // Item 6: a citizen's new report wakes the department's offline clerk.
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Schlagloch vor der Hausnummer 12",
    ]));
    let got = expect(clerk_path, 1, "new report");
    plains.extend(check_push_twice(&got[0], clerk_path, &clerk_keys, &key, &origin));
    assert!(pushes_to(citizen_path).is_empty(), "the sender is not woken");

    // A staff status change with its reason wakes the citizen.
    town.clerk.ok(&["reply", &thread, "Wir reparieren es morgen.", "--status", "in-progress"]);
    let got = expect(citizen_path, 1, "staff status change");
    plains.extend(check_push_twice(&got[0], citizen_path, &citizen_keys, &key, &origin));

    // The citizen's follow-up wakes the clerk again.
    citizen.ok(&["reply", &thread, "Danke, es ist wirklich tief."]);
    let got = expect(clerk_path, 2, "citizen's reply");
    plains.extend(check_push_twice(&got[1], clerk_path, &clerk_keys, &key, &origin));

    // A consultation request during a live session wakes the office.
    citizen.ok(&["consult", HANDLE, "Ist der Bürgermeister heute da?"]);
    let got = expect(office_path, 1, "live consultation request");
    plains.extend(check_push_twice(&got[0], office_path, &office_keys, &key, &origin));

    // A 1:1 message wakes its recipient; her receipt wakes nobody.
    bernd.ok(&["send", &carla, "Hallo Carla, kommst du heute Abend?"]);
    let got = expect(citizen_path, 2, "1:1 message");
    plains.extend(check_push_twice(&got[1], citizen_path, &citizen_keys, &key, &origin));
    let plain_sends = metric(metrics, "requests_total{kind=\"send\"}").unwrap_or(0);
    let texts = citizen.inbox_texts();
    assert!(texts.iter().any(|t| t.contains("kommst du heute Abend")), "{texts:?}");
    assert!(
        metric(metrics, "requests_total{kind=\"send\"}").unwrap_or(0) > plain_sends,
        "the receipt went out as a plain send"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert!(pushes_to(bernd_path).is_empty(), "a receipt woke its recipient");

    // A channel post wakes nobody, not even a following device with a
    // subscription.
    let out = press.ok(&["channel", "create", "Amtsblatt", "--retention-days", "30", "--json"]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&out)).unwrap();
    let (channel, invite) =
        (created["channel"].as_str().unwrap(), created["invite"].as_str().unwrap());
    citizen.ok(&["follow", invite]);
    let before = fake.count();
    press.ok(&["channel", "post", channel, "Wochenmarkt am Samstag"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(fake.count(), before, "a channel post made a push: {:?}", fake.all());
    let feed = json_lines(&citizen.ok(&["feed", "--json"]));
    assert!(format!("{feed:?}").contains("Wochenmarkt"), "the post is there when opened");

    // Constant size across kinds (report, status change, reply,
    // consultation, 1:1 message): every plaintext is 36 bytes.
    assert!(plains.iter().all(|p| p.len() == 36), "{plains:?}");
    assert!(fake.all().iter().all(|r| r.body.len() == 230));

    // /metrics: aggregate counts only.
    let sent = metric(metrics, "pushes_sent_total").unwrap();
    assert_eq!(sent, fake.count() as u64);
    assert_eq!(sent, 5);
    assert_eq!(metric(metrics, "pushes_failed_total"), Some(0));
    assert!(metric(metrics, "requests_total{kind=\"send_notify\"}").unwrap() >= 5);
    let (_, text) = crate::harness::http_get(metrics, "/metrics", None).unwrap();
    let push_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("stadtbote_push")).collect();
    assert_eq!(push_lines.len(), 6, "{push_lines:?}");
    for line in push_lines {
        assert!(!line.contains('{'), "a push metric with labels: {line}");
    }
    // A push the service accepted counts as use of the subscription.
    let export: serde_json::Value =
        serde_json::from_str(town.clerk.ok(&["account", "export", "--json"]).trim()).unwrap();
    let listed = &export["devices"][0]["push_subscription"];
    assert!(listed["last_used_at"].as_u64().unwrap() > listed["created_at"].as_u64().unwrap());
    let text = town.clerk.ok(&["account", "export"]);
    assert!(text.contains(&format!("push notifications: via {origin}, registered")), "{text}");
    assert!(!text.contains(clerk_path), "the text export shows only the origin: {text}");

    let mut server = town.server;
    server.terminate();
    for path in [clerk_path, office_path, citizen_path, bernd_path] {
        assert_log_is_clean(&server, &fake, path);
    }
}

/// The caller's device's subscription as `account export` lists it.
async fn listed_subscription(
    client: &mut RawClient,
) -> Option<stadtbote_protocol::account::PushSubscriptionExport> {
    let Ok(Response::AccountExport { export }) =
        client.request(Request::AccountExport).await.unwrap()
    else {
        panic!("export")
    };
    export.devices[0].push_subscription.clone()
}

/// Entries in the stopped server's push subscription table.
fn stored_subscriptions(server: &Server) -> usize {
    let db = sled::open(server.data_dir.join("db")).expect("open the server's db");
    let tree = db.open_tree("push").unwrap();
    tree.scan_prefix(b"s/").count()
}

#[test]
fn subscriptions_go_with_their_device_and_account_and_after_the_ttl_without_use() {
    use crate::harness::{Device, last_line, metric};

    // Device removal and account deletion (default TTL).
    let fake = FakePushService::start();
    let mut server = start(&push_env(&fake, &fake.origin(), "1"));
    let url = server.url();
    let (anna, phone) = (Device::new(&server), Device::new(&server));
    anna.init("Anna");
    let code = last_line(&anna.ok(&["link"]));
    phone.ok(&["init", "--link", &code]);
    anna.ok(&["inbox"]);
    phone.ok(&["inbox"]);
    let keys = BrowserKeys::new();
    subscribe_cli_device(&url, &anna, &keys, &format!("{}/wpush/anna", fake.origin()));
    subscribe_cli_device(&url, &phone, &keys, &format!("{}/wpush/phone", fake.origin()));
    server.terminate();
    assert_eq!(stored_subscriptions(&server), 2);
    server.restart();
    let out = anna.ok(&["device", "remove", &phone.device_id()]);
    assert!(out.contains("Removed device"), "{out}");
    server.terminate();
    assert_eq!(stored_subscriptions(&server), 1, "the removed device's subscription is gone");
    server.restart();
    anna.ok(&["account", "delete", "--yes"]);
    server.terminate();
    assert_eq!(stored_subscriptions(&server), 0, "the account's subscriptions are gone");

    // TTL: unused for push_subscription_ttl_secs, deleted by the sweeper.
    let metrics = metrics_addr();
    let mut env = push_env_with_metrics(&fake, &metrics);
    env.push(("STADTBOTE_PUSH_SUBSCRIPTION_TTL_SECS".into(), "3".into()));
    env.push(("STADTBOTE_SWEEP_INTERVAL_SECS".into(), "1".into()));
    let server = start(&env);
    let url = server.url();
    let carol_id = block_on(async {
        let mut carol = RawClient::connect(&url).await.unwrap();
        let id = carol.register().await.unwrap();
        let endpoint = format!("{}/wpush/carol", fake.origin());
        assert_eq!(
            carol.request(keys.subscribe(&endpoint)).await.unwrap(),
            Ok(Response::PushSubscribed)
        );
        let first = listed_subscription(&mut carol).await.expect("listed after registration");
        assert_eq!(first.last_used_at, first.created_at);
        id
    });
    let gone = eventually(Duration::from_secs(20), || {
        block_on(async {
            let mut carol = login(&url, &carol_id).await;
            listed_subscription(&mut carol).await.is_none().then_some(())
        })
    });
    assert!(gone.is_ok(), "the unused subscription is still there");
    assert_eq!(metric(metrics, "push_subscriptions_expired_total"), Some(1));
    let mut server = server;
    server.terminate();
    assert_eq!(stored_subscriptions(&server), 0);
    // The sweep's log line counts it (field names only, never a device).
    let log = server.log();
    assert!(log.contains("swept expired data") && log.contains("push_subscriptions"), "{log}");
}
