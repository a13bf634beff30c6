//! The envelope log with the real server: an acknowledged envelope's bytes
//! leave the data directory (its segment is sealed, the envelopes still
//! queued in it are copied forward, and the file is deleted), while the
//! envelopes still queued survive restarts, copy or not.

use std::time::Duration;

use serde_bytes::ByteBuf;
use stadtbote_protocol::{Request, Response};

use crate::block_on;
use crate::harness::{RawClient, Server, contains_bytes, eventually, files_below};

/// Whether any file below the data directory holds `needle`.
fn on_disk(server: &Server, needle: &[u8]) -> bool {
    files_below(&server.data_dir)
        .into_iter()
        .any(|f| std::fs::read(&f).is_ok_and(|bytes| contains_bytes(&bytes, needle)))
}

#[test]
fn acknowledged_envelopes_leave_the_disk_and_queued_ones_survive_restarts() {
    let mut server = Server::start_with(&[
        ("STADTBOTE_ENVELOPE_SEGMENT_MAX_AGE_SECS", "1"),
        ("STADTBOTE_SWEEP_INTERVAL_SECS", "1"),
    ]);
    let url = server.url();
    // Stand-ins for ciphertext: the server never looks inside a payload.
    // The acknowledged one is large, so that its segment is mostly dead
    // next to the (real, kilobyte-sized) MLS Welcome that stays queued.
    let mut delivered = b"ENVELOPE-LOG-TEST delivered and acknowledged ....".to_vec();
    delivered.resize(16 * 1024, b'.');
    let queued = b"ENVELOPE-LOG-TEST still queued for the recipient ..".to_vec();
    let (secret, device, ids) = block_on(async {
        let mut sender = RawClient::connect(&url).await.unwrap();
        let sender_id = sender.register().await.unwrap();
        let mut recipient = RawClient::connect(&url).await.unwrap();
        let recipient_id = recipient.register().await.unwrap();
        let (group, create, _) = crate::harness::raw_mls::group_with(&sender_id, &recipient_id);
        let (secret, _, device) = recipient_id;
        assert!(sender.request(create).await.unwrap().is_ok());
        for payload in [&delivered, &queued] {
            let send = Request::Send { group, message: ByteBuf::from(payload.clone()) };
            assert_eq!(sender.request(send).await.unwrap(), Ok(Response::Stored { recipients: 1 }));
        }
        // A fresh login sees the whole mailbox in its first deliveries.
        drop(recipient);
        let mut recipient = RawClient::connect(&url).await.unwrap();
        let login = recipient.login_request(&secret, device);
        assert!(recipient.request(login).await.unwrap().is_ok());
        let envelopes = recipient.drain_mailbox().await.unwrap();
        let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();
        assert_eq!(envelopes.len(), 3, "welcome and two messages");
        assert_eq!(envelopes[1].payload.as_ref(), &delivered[..]);
        (secret, device, ids)
    });
    assert!(on_disk(&server, &delivered) && on_disk(&server, &queued));

    // Acknowledge only the first message, then restart: it stays deleted.
    block_on(async {
        let mut recipient = RawClient::connect(&url).await.unwrap();
        let login = recipient.login_request(&secret, device);
        assert!(matches!(recipient.request(login).await.unwrap(), Ok(Response::LoggedIn { .. })));
        let ack = Request::Ack { ids: vec![ids[1]] };
        assert_eq!(recipient.request(ack).await.unwrap(), Ok(Response::Acked { removed: 1 }));
    });
    server.restart();
    let mailbox = || {
        block_on(async {
            let mut recipient = RawClient::connect(&url).await.unwrap();
            let login = recipient.login_request(&secret, device);
            assert!(recipient.request(login).await.unwrap().is_ok());
            recipient.drain_mailbox().await.unwrap()
        })
    };
    let left: Vec<u64> = mailbox().iter().map(|e| e.id).collect();
    assert_eq!(left, [ids[0], ids[2]], "the acknowledged envelope stays deleted");

    // Within a few sweeps its segment is sealed, the two queued envelopes
    // are copied out of it, and the file goes.
    eventually(Duration::from_secs(30), || (!on_disk(&server, &delivered)).then_some(()))
        .expect("the acknowledged envelope's bytes leave the data directory");
    assert!(on_disk(&server, &queued), "the queued envelope is still stored");
    server.restart();
    let after = mailbox();
    assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0], ids[2]]);
    assert_eq!(after[1].payload.as_ref(), &queued[..], "the copy is intact");
}
