//! Commit ordering seen from the client: when two devices race to change the
//! same conversation, the server accepts one commit for the epoch and rejects
//! the other with `stale_epoch`; the losing client catches up and retries, and
//! the message still arrives. The race is forced deterministically by using
//! the client library (the CLI always syncs before sending, so it rarely
//! loses such a race), against the real server binary over a real socket.

use stadtbote_cli::Client;

use crate::block_on;
use crate::harness::{Device, Server};

#[test]
fn a_client_that_loses_the_epoch_race_catches_up_and_its_message_arrives() {
    let server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    let phone = Device::new(&server);
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    let url = server.url();
    // The conversation exists (1:1 conversations have random ids, so two
    // first messages no longer race for one group: see conversation_ids.rs).
    anna.ok(&["send", &b, "Erste Nachricht"]);
    assert_eq!(bernd.inbox_texts(), ["Erste Nachricht"]);
    // Bernd links a phone: both sides will want to add it.
    let code = crate::harness::last_line(&bernd.ok(&["link"]));
    phone.ok(&["init", "--link", &code]);
    bernd.ok(&["inbox"]);
    phone.ok(&["inbox"]);

    block_on(async {
        let mut anna_client = Client::open(&anna.home, &url).expect("open anna");
        let mut bernd_client = Client::open(&bernd.home, &url).expect("open bernd");
        anna_client.connect().await.expect("anna connects");
        bernd_client.connect().await.expect("bernd connects");
        anna_client.sync().await.expect("anna syncs");
        bernd_client.sync().await.expect("bernd syncs");

        // Anna adds the phone (one epoch on) and sends ...
        anna_client
            .send_text(&b.parse().expect("id"), "Zweite Nachricht")
            .await
            .expect("anna sends");
        // ... while Bernd, who has not synced since, adds the phone at the
        // old epoch. The server refuses with stale_epoch; the client
        // applies Anna's commit and sends in the group as it now is.
        bernd_client
            .send_text(&a.parse().expect("id"), "Gleichzeitig geschrieben")
            .await
            .expect("bernd recovers from the stale epoch and sends");
    });

    assert_eq!(anna.inbox_texts(), ["Gleichzeitig geschrieben"]);
    let bernd_msgs = bernd.inbox();
    // Bernd's client already processed Anna's message while recovering; the
    // CLI shows whatever it has not shown before, exactly once.
    let history = crate::harness::json_lines(&bernd.ok(&["history", "--json"]));
    let texts: Vec<&str> = history.iter().filter_map(|h| h["text"].as_str()).collect();
    assert!(texts.contains(&"Zweite Nachricht"), "{history:?} / {bernd_msgs:?}");
    assert!(texts.contains(&"Gleichzeitig geschrieben"));
    // Every message is in one conversation.
    let conversations: std::collections::BTreeSet<&str> =
        history.iter().filter_map(|h| h["conversation"].as_str()).collect();
    assert_eq!(conversations.len(), 1, "{history:?}");
    // The phone was added once and reads both messages sent since.
    let mut on_phone = phone.inbox_texts();
    on_phone.sort();
    assert_eq!(on_phone, ["Gleichzeitig geschrieben", "Zweite Nachricht"]);
}
