//! 1:1 conversation ids name nobody (issue 13, the threat table's "MLS
//! group id in the clear header" row): a first message queued for an
//! offline partner — on the server's disk for up to 30 days — carries a
//! random group id, not one anybody computes from the two account ids; and
//! two accounts that start talking at the same time end up in one
//! conversation.

use std::collections::BTreeSet;
use std::sync::Arc;

use stadtbote_protocol::frame::{self, Envelope, ServerBody};
use stadtbote_protocol::ids::conversation_id;
use stadtbote_protocol::mls::clear_group_id;
use stadtbote_protocol::{AccountId, Event, GroupId};

use crate::harness::{Device, Server, contains_bytes, files_below, json_lines, raw, start_proxy};

fn account_of(device: &Device) -> AccountId {
    AccountId::parse(device.whoami()["account"].as_str().unwrap()).unwrap()
}

/// The envelopes waiting in a device's mailbox (read as the server hands
/// them out, not acknowledged: they stay queued).
fn waiting(server: &Server, device: &Device) -> Vec<Envelope> {
    crate::block_on(raw::mailbox_of(&server.url(), &device.home, &device.device_id())).unwrap()
}

/// The data dir's files that hold one of `needles` (what, bytes).
fn on_disk(server: &Server, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_below(&server.data_dir) {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        for (what, needle) in needles {
            if contains_bytes(&bytes, needle) {
                found.push(format!("{what} in {}", file.display()));
            }
        }
    }
    found
}

#[test]
fn a_first_message_waiting_for_an_offline_partner_does_not_name_the_pair() {
    let server = Server::start();
    let alice = Device::new(&server);
    let bob = Device::new(&server);
    alice.init("Alice");
    let b = bob.init("Bob");
    let (a_id, b_id) = (account_of(&alice), account_of(&bob));
    let derived = conversation_id(&a_id, &b_id);

    // Bob is offline; Alice's first message waits for him on the server.
    alice.ok(&["send", &b, "Hallo Bob, kennst du mich noch?"]);
    let queued = waiting(&server, &bob);
    assert!(queued.len() >= 2, "Welcome and message wait for Bob: {}", queued.len());

    // What whoever holds the envelopes reads in the clear MLS headers.
    let headers: BTreeSet<GroupId> =
        queued.iter().filter_map(|e| clear_group_id(&e.payload)).collect();
    assert_eq!(headers.len(), 1, "the message names one group in its header: {headers:?}");
    let header = *headers.iter().next().unwrap();
    assert_ne!(header, derived, "the queued message's header names the two accounts' conversation");
    // Nothing else in the envelopes is the derived id or an account id.
    for envelope in &queued {
        for (what, needle) in [
            ("the derived conversation id", derived.as_bytes()),
            ("Alice's account id", a_id.as_bytes()),
            ("Bob's account id", b_id.as_bytes()),
        ] {
            assert!(!contains_bytes(&envelope.payload, needle), "a queued envelope holds {what}");
        }
    }
    // Nor does any file of the server's data dir (envelope log included).
    let text = derived.to_string();
    let needles = vec![
        ("the derived conversation id".to_string(), derived.as_bytes().to_vec()),
        ("the derived conversation id as text".to_string(), text.clone().into_bytes()),
        ("the derived conversation id as text".to_string(), text.to_lowercase().into_bytes()),
    ];
    let found = on_disk(&server, &needles);
    assert!(found.is_empty(), "the server's disk names the pair: {found:#?}");

    // The header's group is the conversation Bob then reads it in.
    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["text"], "Hallo Bob, kennst du mich noch?");
    assert_eq!(inbox[0]["conversation"], header.to_string());
    // And the conversation works both ways, in that group.
    let a = a_id.to_string();
    bob.ok(&["send", &a, "Natürlich, Alice!"]);
    let reply = alice.inbox();
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert_eq!(reply[0]["text"], "Natürlich, Alice!");
    assert_eq!(reply[0]["conversation"], header.to_string());
}

/// A proxy that hides every delivered envelope from the client (the batch
/// arrives empty, so nothing is acknowledged and it all stays queued):
/// the client acts as if its partner had not written yet.
fn deaf_proxy(upstream: String) -> String {
    start_proxy(
        upstream,
        Arc::new(|bytes: &[u8]| {
            let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                return bytes.to_vec();
            };
            if let ServerBody::Event { event: Event::Deliver { envelopes, .. } } = &mut frame.body {
                envelopes.clear();
                return frame::encode(&frame);
            }
            bytes.to_vec()
        }),
    )
}

/// `history ACCOUNT --json` of a device: (text, conversation) per message.
fn history(device: &Device, peer: &str) -> Vec<(String, String)> {
    json_lines(&device.ok(&["history", peer, "--json"]))
        .into_iter()
        .map(|v| {
            (
                v["text"].as_str().unwrap_or_default().to_string(),
                v["conversation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn sorted_texts(entries: &[(String, String)]) -> Vec<String> {
    let mut texts: Vec<String> = entries.iter().map(|(t, _)| t.clone()).collect();
    texts.sort();
    texts
}

#[test]
fn both_sides_starting_at_once_end_in_one_conversation() {
    let server = Server::start();
    let alice = Device::new(&server);
    let bob = Device::new(&server);
    let a = alice.init("Alice");
    let b = bob.init("Bob");

    // Alice writes first; Bob, not seeing her Welcome (hidden by the
    // proxy), writes too: each created a conversation of its own.
    alice.ok(&["send", &b, "a1 von Alice"]);
    let deaf_bob = deaf_proxy(server.url());
    let out = std::process::Command::new(&crate::harness::bins().cli)
        .arg("--home")
        .arg(&bob.home)
        .arg("--server")
        .arg(&deaf_bob)
        .args(["send", &a, "b1 von Bob"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Both read the other's first message, each in the other's group.
    assert_eq!(alice.inbox_texts(), ["b1 von Bob"]);
    assert_eq!(bob.inbox_texts(), ["a1 von Alice"]);
    let alice_view = history(&alice, &b);
    let groups: BTreeSet<String> = alice_view.iter().map(|(_, g)| g.clone()).collect();
    assert_eq!(groups.len(), 2, "two groups were created: {alice_view:?}");
    let winner = groups.iter().min_by_key(|g| GroupId::parse(g).unwrap()).unwrap().clone();

    // From now on both send into the same group (the smaller id), and
    // every message arrives.
    alice.ok(&["send", &b, "a2 von Alice"]);
    bob.ok(&["send", &a, "b2 von Bob"]);
    alice.ok(&["send", &b, "a3 von Alice"]);
    assert_eq!(alice.inbox_texts(), ["b2 von Bob"]);
    assert_eq!(bob.inbox_texts(), ["a2 von Alice", "a3 von Alice"]);

    let all = ["a1 von Alice", "a2 von Alice", "a3 von Alice", "b1 von Bob", "b2 von Bob"];
    for (name, view) in [("Alice", history(&alice, &b)), ("Bob", history(&bob, &a))] {
        assert_eq!(sorted_texts(&view), all, "{name}'s history holds every message once");
        for (text, group) in &view {
            if text.contains('2') || text.contains('3') {
                assert_eq!(group, &winner, "{name}: {text} went to the losing group");
            }
        }
    }
    // The one conversation is listed once per peer.
    let listed = json_lines(&alice.ok(&["history", "--json"]));
    assert!(listed.iter().all(|v| v["peer"].as_str().is_none_or(|p| p == b)), "{listed:?}");
}
