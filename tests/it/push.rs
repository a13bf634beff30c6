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
struct FakePushService {
    port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
}

impl FakePushService {
    fn start() -> Self {
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

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn count(&self) -> usize {
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
struct BrowserKeys {
    secret: SecretKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl BrowserKeys {
    fn new() -> Self {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Self { secret, public, auth }
    }

    fn subscribe(&self, endpoint: &str) -> Request {
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
