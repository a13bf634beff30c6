//! Property tests: every wire type survives encode → decode unchanged, and
//! the decoders never panic on arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failing test.

use proptest::prelude::*;
use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
use stadtbote_protocol::auth::{IdentityKey, Signature};
use stadtbote_protocol::frame::{self, ClaimedKeyPackage, DeviceInfo, Envelope, ServerBody};
use stadtbote_protocol::{
    AccountId, ClientFrame, DeviceId, ErrorBody, ErrorCode, Event, GroupId, MsgId, Request,
    Response, ServerFrame,
};

fn bytes() -> impl Strategy<Value = ByteBuf> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(ByteBuf::from)
}
fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 16]>().prop_map(AccountId)
}
fn device() -> impl Strategy<Value = DeviceId> {
    any::<[u8; 16]>().prop_map(DeviceId)
}
fn group() -> impl Strategy<Value = GroupId> {
    any::<[u8; 16]>().prop_map(GroupId)
}
fn key() -> impl Strategy<Value = IdentityKey> {
    any::<[u8; 32]>().prop_map(IdentityKey)
}
fn sig() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (key(), sig(), any::<u64>()).prop_map(|(identity_key, signature, pow_nonce)| {
            Request::Register { identity_key, signature, pow_nonce }
        }),
        (device(), sig()).prop_map(|(device, signature)| Request::Login { device, signature }),
        (".{0,20}", key(), sig()).prop_map(|(code, identity_key, signature)| Request::Link {
            code,
            identity_key,
            signature
        }),
        Just(Request::CreateLinkCode),
        account().prop_map(|account| Request::ListDevices { account }),
        (proptest::collection::vec(bytes(), 0..4), proptest::option::of(bytes())).prop_map(
            |(one_time, last_resort)| Request::UploadKeyPackages { one_time, last_resort }
        ),
        account().prop_map(|account| Request::ClaimKeyPackages { account }),
        (
            group(),
            any::<u64>(),
            bytes(),
            proptest::collection::vec(device(), 0..3),
            proptest::collection::vec(device(), 0..3),
            proptest::option::of(bytes())
        )
            .prop_map(|(group, epoch, commit, add, remove, welcome)| Request::Commit {
                group,
                epoch,
                commit,
                add,
                remove,
                welcome
            }),
        (group(), bytes()).prop_map(|(group, message)| Request::Send { group, message }),
        proptest::collection::vec(any::<u64>(), 0..8).prop_map(|ids| Request::Ack { ids }),
        Just(Request::Ping),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::BadFrame),
        Just(ErrorCode::StaleEpoch),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::StorageUnavailable),
        Just(ErrorCode::UnknownAccount),
        Just(ErrorCode::Internal),
    ]
}

fn server_body() -> impl Strategy<Value = ServerBody> {
    let envelope = (any::<u64>(), any::<u64>(), bytes())
        .prop_map(|(id, received_at, payload)| Envelope { id, received_at, payload });
    prop_oneof![
        (any::<u64>(), account(), device()).prop_map(|(id, account, device)| {
            ServerBody::Response { id, response: Response::Registered { account, device } }
        }),
        (any::<u64>(), proptest::collection::vec((device(), key()), 0..3)).prop_map(|(id, d)| {
            ServerBody::Response {
                id,
                response: Response::Devices {
                    devices: d
                        .into_iter()
                        .map(|(device, identity_key)| DeviceInfo { device, identity_key })
                        .collect(),
                },
            }
        }),
        (any::<u64>(), proptest::collection::vec((device(), bytes(), any::<bool>()), 0..3))
            .prop_map(|(id, p)| ServerBody::Response {
                id,
                response: Response::KeyPackages {
                    packages: p
                        .into_iter()
                        .map(|(device, key_package, last_resort)| ClaimedKeyPackage {
                            device,
                            key_package,
                            last_resort
                        })
                        .collect(),
                },
            }),
        (
            proptest::option::of(any::<u64>()),
            error_code(),
            ".{0,30}",
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(id, code, message, current_epoch)| ServerBody::Error {
                id,
                error: ErrorBody { code, message, current_epoch, retry_after_ms: None },
            }),
        (bytes(), any::<u8>(), any::<u64>()).prop_map(|(nonce, pow_difficulty, server_time)| {
            ServerBody::Event { event: Event::Challenge { nonce, pow_difficulty, server_time } }
        }),
        (proptest::collection::vec(envelope, 0..4), any::<bool>()).prop_map(
            |(envelopes, caught_up)| ServerBody::Event {
                event: Event::Deliver { envelopes, caught_up }
            }
        ),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(id in any::<u64>(), request in request()) {
        let frame = ClientFrame::new(id, request);
        let bytes = frame::encode(&frame);
        prop_assert_eq!(frame::decode_client(&bytes, 1 << 20).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(body in server_body()) {
        let frame = ServerFrame::new(body);
        let bytes = frame::encode(&frame);
        prop_assert_eq!(frame::decode_server(&bytes, 1 << 20).unwrap(), frame);
    }

    #[test]
    fn app_messages_round_trip(id in any::<[u8; 16]>(), sent_at in any::<u64>(),
                               name in proptest::option::of(".{0,20}"), text in ".{0,100}",
                               receipt in any::<bool>()) {
        let body = if receipt {
            AppBody::Receipt { ids: vec![MsgId(id)] }
        } else {
            AppBody::Text { text }
        };
        let msg = AppMessage { v: APP_VERSION, id: MsgId(id), sent_at, sender_name: name, body };
        prop_assert_eq!(AppMessage::decode(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn decoders_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::decode_client(&input, 1 << 20);
        let _ = frame::decode_server(&input, 1 << 20);
        let _ = AppMessage::decode(&input);
        let _ = AccountId::from_slice(&input);
    }
}
