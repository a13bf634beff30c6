//! Messaging through the relay: both directions, offline recipients, server
//! restarts and crashes, several devices per account, receipts, expiry.

use std::time::Duration;

use stadtbote_protocol::AccountId;

use crate::block_on;
use crate::harness::{Device, Server, json_lines, last_line, raw};

#[test]
fn two_accounts_exchange_messages_both_ways_with_receipts() {
    let server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    assert_ne!(a, b);
    assert!(AccountId::parse(&a).is_ok(), "account id {a:?} is base32");

    let sent = anna.ok(&["send", &b, "Guten Tag, Bernd"]);
    assert!(sent.contains("sent"), "send reports success: {sent}");

    let msgs = bernd.inbox();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(m["from"], a.as_str());
    assert_eq!(m["from_name"], "Anna");
    assert_eq!(m["text"], "Guten Tag, Bernd");
    assert!(m["sent_at"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "{m}");
    let conversation = m["conversation"].as_str().expect("conversation").to_string();

    bernd.ok(&["send", &a, "Hallo Anna, danke!"]);
    let msgs = anna.inbox();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["from"], b.as_str());
    assert_eq!(msgs[0]["from_name"], "Bernd");
    assert_eq!(msgs[0]["text"], "Hallo Anna, danke!");
    assert_eq!(msgs[0]["conversation"], conversation.as_str(), "one conversation per pair");

    // Nothing is shown twice.
    assert!(bernd.inbox().is_empty());
    assert!(anna.inbox().is_empty());

    // Bernd's client sent a delivery receipt for Anna's message; Anna's
    // history shows it as delivered once her client has synced.
    let history = json_lines(&anna.ok(&["history", &b, "--json", "--sync"]));
    let out: Vec<_> = history.iter().filter(|h| h["direction"] == "out").collect();
    assert_eq!(out.len(), 1, "{history:?}");
    assert_eq!(out[0]["text"], "Guten Tag, Bernd");
    assert_eq!(out[0]["delivered"], true, "{history:?}");
    let incoming: Vec<_> = history.iter().filter(|h| h["direction"] == "in").collect();
    assert_eq!(incoming.len(), 1);

    // The human-readable inbox shows name, account and text.
    anna.ok(&["send", &b, "Noch eine Frage"]);
    let text = bernd.ok(&["inbox"]);
    assert!(
        text.contains("Anna") && text.contains(&a) && text.contains("Noch eine Frage"),
        "{text}"
    );
}

#[test]
fn offline_recipient_gets_messages_after_restart_crash_and_on_every_device() {
    let mut server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    let bernd_tablet = Device::new(&server);
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");

    // Bernd links a second device before anyone writes to him.
    let code = last_line(&bernd.ok(&["link"]));
    assert!(!code.is_empty());
    let b2 = last_line(&bernd_tablet.ok(&["init", "--link", &code, "--name", "Bernd"]));
    assert_eq!(b2, b, "a linked device joins the same account");
    assert_ne!(bernd.device_id(), bernd_tablet.device_id());
    // A link code works once.
    let third = Device::new(&server);
    third.fails(&["init", "--link", &code]);
    // Bernd's phone approves the tablet (the code's secret authenticates it).
    bernd.ok(&["inbox"]);

    // Bernd is offline while Anna writes; the server restarts in between.
    anna.ok(&["send", &b, "eins"]);
    anna.ok(&["send", &b, "zwei"]);
    server.restart();
    // A message acked just before a crash (SIGKILL) survives too.
    anna.ok(&["send", &b, "drei"]);
    server.kill();
    server.restart();

    assert_eq!(bernd.inbox_texts(), ["eins", "zwei", "drei"]);
    assert_eq!(bernd_tablet.inbox_texts(), ["eins", "zwei", "drei"]);
    let again = bernd_tablet.inbox();
    assert!(again.is_empty(), "shown twice: {again:?}");

    // A device linked after the conversation started is added to it by the
    // next sender and receives what is sent from then on.
    let bernd_laptop = Device::new(&server);
    let code = last_line(&bernd.ok(&["link"]));
    bernd_laptop.ok(&["init", "--link", &code]);
    bernd.ok(&["inbox"]);
    anna.ok(&["send", &b, "vier"]);
    assert_eq!(bernd_laptop.inbox_texts(), ["vier"]);
    assert_eq!(bernd.inbox_texts(), ["vier"]);
    assert_eq!(bernd_tablet.inbox_texts(), ["vier"]);

    // Anna's own second device sees the conversation as well.
    let anna_phone = Device::new(&server);
    let code = last_line(&anna.ok(&["link"]));
    anna_phone.ok(&["init", "--link", &code]);
    anna.ok(&["inbox"]);
    bernd.ok(&["send", &a, "fünf"]);
    assert_eq!(anna.inbox_texts(), ["fünf"]);
    assert_eq!(anna_phone.inbox_texts(), ["fünf"]);
}

#[test]
fn mailbox_is_empty_after_delivery_and_undelivered_envelopes_expire() {
    // Part 1: delivered and acked envelopes are deleted from the mailbox.
    let server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "Bitte bestätigen"]);
    let device = bernd.device_id();
    let before = block_on(raw::mailbox_of(&server.url(), &bernd.home, &device)).expect("mailbox");
    assert!(before.len() >= 2, "welcome and message are queued: {}", before.len());
    assert_eq!(bernd.inbox_texts(), ["Bitte bestätigen"]);
    let after = block_on(raw::mailbox_of(&server.url(), &bernd.home, &device)).expect("mailbox");
    assert!(after.is_empty(), "mailbox holds {} envelopes after ack", after.len());

    // Part 2: an envelope nobody fetches expires under a short TTL.
    let server = Server::start_with(&[
        ("STADTBOTE_ENVELOPE_TTL_SECS", "2"),
        ("STADTBOTE_SWEEP_INTERVAL_SECS", "1"),
    ]);
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    let device = bernd.device_id();
    anna.ok(&["send", &b, "verfällt"]);
    let queued = block_on(raw::mailbox_of(&server.url(), &bernd.home, &device)).expect("mailbox");
    assert!(!queued.is_empty());
    std::thread::sleep(Duration::from_secs(4));
    let expired = block_on(raw::mailbox_of(&server.url(), &bernd.home, &device)).expect("mailbox");
    assert!(expired.is_empty(), "{} envelopes survived their TTL", expired.len());
    assert!(bernd.inbox().is_empty());
}

/// A client may pipeline: acks (which wait for a group commit) and pings
/// (answered at once) sent without waiting, more of them than
/// `max_pipelined_requests`, are all answered, each exactly once and in the
/// order they were sent.
#[test]
fn pipelined_requests_are_answered_in_request_order() {
    use stadtbote_protocol::frame::{self, ClientFrame, ServerBody};
    use stadtbote_protocol::{Request, Response};

    let server = Server::start_with(&[("STADTBOTE_MAX_PIPELINED_REQUESTS", "4")]);
    block_on(async {
        let mut client = crate::harness::RawClient::connect(&server.url()).await?;
        client.register().await?;
        let count = 40u64;
        let first = client.next_id;
        for n in 0..count {
            let request = if n % 3 == 2 { Request::Ping } else { Request::Ack { ids: vec![n] } };
            let bytes = frame::encode(&ClientFrame::new(first + n, request));
            client.send_bytes(bytes).await?;
        }
        let mut answered = Vec::new();
        while answered.len() < count as usize {
            match client.next_body().await? {
                ServerBody::Response { id, response } => {
                    let n = id - first;
                    match response {
                        Response::Pong => assert_eq!(n % 3, 2, "request {n} was not a ping"),
                        Response::Acked { removed: 0 } => assert_ne!(n % 3, 2, "{n} was a ping"),
                        other => anyhow::bail!("unexpected answer to {n}: {other:?}"),
                    }
                    answered.push(id);
                }
                ServerBody::Event { .. } => {}
                other => anyhow::bail!("unexpected frame: {other:?}"),
            }
        }
        let expected: Vec<u64> = (first..first + count).collect();
        assert_eq!(answered, expected, "answers out of request order");
        Ok(())
    })
    .expect("pipelined requests");
}
