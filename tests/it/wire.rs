//! The protocol below the CLI: single-use login challenges, commit ordering,
//! mailbox isolation and hostile bytes. Each test also proves that an honest
//! client keeps being served.

use futures_util::SinkExt;
use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{ClientFrame, ErrorCode, GroupId, PROTOCOL_VERSION, Request, Response};
use tokio_tungstenite::tungstenite::Message;

use crate::block_on;
use crate::harness::{Device, RawClient, Server, raw_mls};

fn code_of(answer: Result<Response, stadtbote_protocol::ErrorBody>) -> ErrorCode {
    match answer {
        Err(e) => e.code,
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

#[test]
fn login_challenge_is_single_use_and_bound_to_its_connection() {
    let server = Server::start();
    let url = server.url();
    block_on(async {
        let mut first = RawClient::connect(&url).await.unwrap();
        let (secret, _account, device) = first.register().await.unwrap();

        // A login signed for connection 2's challenge...
        let mut second = RawClient::connect(&url).await.unwrap();
        let login = second.login_request(&secret, device);
        // ...replayed on connection 3 is refused,
        let mut third = RawClient::connect(&url).await.unwrap();
        assert_eq!(code_of(third.request(login.clone()).await.unwrap()), ErrorCode::AuthFailed);
        // while on its own connection it works exactly once.
        assert!(matches!(
            second.request(login.clone()).await.unwrap(),
            Ok(Response::LoggedIn { .. })
        ));
        assert_eq!(code_of(second.request(login).await.unwrap()), ErrorCode::AlreadyAuthenticated);
        // Connection 3 got a fresh challenge after the failure and can log in with it.
        let fresh = third.login_request(&secret, device);
        assert!(matches!(third.request(fresh).await.unwrap(), Ok(Response::LoggedIn { .. })));

        // Requests before authentication are refused with a typed error.
        let mut fourth = RawClient::connect(&url).await.unwrap();
        let send = Request::Send { group: GroupId([1; 16]), message: ByteBuf::from(vec![1]) };
        assert_eq!(code_of(fourth.request(send).await.unwrap()), ErrorCode::Unauthenticated);
    });
}

#[test]
fn exactly_one_commit_per_epoch_is_accepted() {
    let server = Server::start();
    let url = server.url();
    block_on(async {
        let mut alice = RawClient::connect(&url).await.unwrap();
        let (alice_secret, alice_account, alice_dev) = alice.register().await.unwrap();
        let mut bob = RawClient::connect(&url).await.unwrap();
        let (bob_secret, bob_account, bob_dev) = bob.register().await.unwrap();
        let alice_mls = MlsClient::new(&alice_secret, alice_account, alice_dev);
        let bob_mls = MlsClient::new(&bob_secret, bob_account, bob_dev);
        let package = bob_mls.generate_key_packages(1).unwrap().remove(0);
        let (group, nonce) = new_random_group();
        let create = Some(GroupCreation::Random { nonce: ByteBuf::from(nonce.to_vec()) });
        alice_mls.create_group(group).unwrap();
        let first = alice_mls.add_members(&group, &[package]).unwrap();
        let request = first.request(group, &alice_secret, create.clone()).unwrap();
        assert_eq!(
            alice.request(request).await.unwrap(),
            Ok(Response::CommitAccepted { epoch: 1 })
        );
        alice_mls.merge_pending(&group).unwrap();
        // A competing creation of the same group at epoch 0 loses.
        let rival = MlsClient::new(&bob_secret, bob_account, bob_dev);
        rival.create_group(group).unwrap();
        let competing = rival.commit_update(&group).unwrap();
        let request = competing.request(group, &bob_secret, create).unwrap();
        let err = bob.request(request).await.unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::StaleEpoch);
        assert_eq!(err.current_epoch, Some(1));
        // Bob, now caught up, commits at epoch 1; Alice's commit for epoch 1 is then stale.
        bob_mls.process(first.welcome.as_ref().unwrap()).unwrap();
        let request = bob_mls.commit_update(&group).unwrap().request(group, &bob_secret, None);
        assert_eq!(
            bob.request(request.unwrap()).await.unwrap(),
            Ok(Response::CommitAccepted { epoch: 2 })
        );
        let request = alice_mls.commit_update(&group).unwrap().request(group, &alice_secret, None);
        let err = alice.request(request.unwrap()).await.unwrap().unwrap_err();
        assert_eq!((err.code, err.current_epoch), (ErrorCode::StaleEpoch, Some(2)));
        // A device outside the group can neither commit nor send to it.
        let mut eve = RawClient::connect(&url).await.unwrap();
        let (eve_secret, eve_account, eve_dev) = eve.register().await.unwrap();
        let commit = raw_mls::stranger_commit(&eve_secret, eve_account, eve_dev, group, 2);
        assert_eq!(code_of(eve.request(commit).await.unwrap()), ErrorCode::NotAMember);
        let send = Request::Send { group, message: ByteBuf::from(vec![1, 2, 3]) };
        assert_eq!(code_of(eve.request(send).await.unwrap()), ErrorCode::NotAMember);
    });
}

#[test]
fn a_device_cannot_ack_another_devices_envelopes() {
    let server = Server::start();
    let url = server.url();
    block_on(async {
        let mut alice = RawClient::connect(&url).await.unwrap();
        let alice_id = alice.register().await.unwrap();
        let mut bob = RawClient::connect(&url).await.unwrap();
        let bob_id = bob.register().await.unwrap();
        let mut eve = RawClient::connect(&url).await.unwrap();
        eve.register().await.unwrap();
        let (group, create, _) = raw_mls::group_with(&alice_id, &bob_id);
        let (bob_secret, _, bob_dev) = bob_id;
        assert!(alice.request(create).await.unwrap().is_ok());
        let send = Request::Send { group, message: ByteBuf::from(vec![3; 32]) };
        assert_eq!(alice.request(send).await.unwrap(), Ok(Response::Stored { recipients: 1 }));

        let mut bob2 = RawClient::connect(&url).await.unwrap();
        let login = bob2.login_request(&bob_secret, bob_dev);
        assert!(bob2.request(login).await.unwrap().is_ok());
        let envelopes = bob2.drain_mailbox().await.unwrap();
        assert_eq!(envelopes.len(), 2, "welcome and message");
        let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();

        assert_eq!(
            eve.request(Request::Ack { ids: ids.clone() }).await.unwrap(),
            Ok(Response::Acked { removed: 0 })
        );
        let mut bob3 = RawClient::connect(&url).await.unwrap();
        let login = bob3.login_request(&bob_secret, bob_dev);
        assert!(bob3.request(login).await.unwrap().is_ok());
        assert_eq!(bob3.drain_mailbox().await.unwrap().len(), 2, "eve's ack removed nothing");
        assert_eq!(
            bob3.request(Request::Ack { ids }).await.unwrap(),
            Ok(Response::Acked { removed: 2 })
        );
    });
}

#[test]
fn garbage_truncated_and_oversized_frames_get_typed_errors_and_others_keep_working() {
    let server = Server::start();
    let url = server.url();
    let honest_a = Device::new(&server);
    let honest_b = Device::new(&server);
    honest_a.init("A");
    let b = honest_b.init("B");

    block_on(async {
        let mut hostile = RawClient::connect(&url).await.unwrap();
        // Random bytes.
        hostile.send_bytes(vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad]).await.unwrap();
        let body = hostile.next_body().await.unwrap();
        assert!(
            matches!(body, ServerBody::Error { error, .. } if error.code == ErrorCode::BadFrame)
        );
        // A valid frame cut in half: the id may be unreadable, the error is typed.
        let full = frame::encode(&ClientFrame::new(5, Request::Ping));
        hostile.send_bytes(full[..full.len() / 2].to_vec()).await.unwrap();
        let body = hostile.next_body().await.unwrap();
        assert!(
            matches!(body, ServerBody::Error { error, .. } if error.code == ErrorCode::BadFrame)
        );
        // An unknown request still names its id.
        #[derive(serde::Serialize)]
        struct Fake {
            v: u16,
            id: u64,
            request: &'static str,
        }
        hostile
            .send_bytes(frame::encode(&Fake {
                v: PROTOCOL_VERSION,
                id: 77,
                request: "drop_tables",
            }))
            .await
            .unwrap();
        match hostile.next_body().await.unwrap() {
            ServerBody::Error { id, error } => {
                assert_eq!(id, Some(77));
                assert_eq!(error.code, ErrorCode::BadFrame);
            }
            other => panic!("{other:?}"),
        }
        // A future protocol version.
        let mut future = ClientFrame::new(78, Request::Ping);
        future.v = 99;
        hostile.send_bytes(frame::encode(&future)).await.unwrap();
        match hostile.next_body().await.unwrap() {
            ServerBody::Error { id, error } => {
                assert_eq!((id, error.code), (Some(78), ErrorCode::UnsupportedVersion));
            }
            other => panic!("{other:?}"),
        }
        // A version 1 client (before signed membership, device lists and
        // staff approvals) is told so, not misread.
        let mut old = ClientFrame::new(79, Request::Ping);
        old.v = 1;
        hostile.send_bytes(frame::encode(&old)).await.unwrap();
        match hostile.next_body().await.unwrap() {
            ServerBody::Error { id, error } => {
                assert_eq!((id, error.code), (Some(79), ErrorCode::UnsupportedVersion));
            }
            other => panic!("{other:?}"),
        }
        // Text frames carry no protocol.
        hostile.ws.send(Message::Text("hello".into())).await.unwrap();
        assert!(matches!(hostile.next_body().await.unwrap(), ServerBody::Error { .. }));
        // After all that the connection still answers.
        assert_eq!(hostile.request(Request::Ping).await.unwrap(), Ok(Response::Pong));

        // A message over the 256 KiB limit is refused: the server closes this
        // connection (close code 1009) or answers too_large.
        let _ = hostile.send_bytes(vec![0xA5; 300 * 1024]).await;
        match hostile.next_body().await {
            Ok(ServerBody::Error { error, .. }) => assert_eq!(error.code, ErrorCode::TooLarge),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => {
                let text = format!("{e:#}");
                assert!(
                    text.contains("closed") || text.contains("ended") || text.contains("reset"),
                    "connection closed: {text}"
                );
            }
        }

        // Other clients were never affected.
        let mut other = RawClient::connect(&url).await.unwrap();
        assert_eq!(other.request(Request::Ping).await.unwrap(), Ok(Response::Pong));
    });
    honest_a.ok(&["send", &b, "still here"]);
    assert_eq!(honest_b.inbox_texts(), ["still here"]);
}
