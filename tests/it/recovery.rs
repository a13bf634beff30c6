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
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    let url = server.url();

    block_on(async {
        let mut anna_client = Client::open(&anna.home, &url).expect("open anna");
        let mut bernd_client = Client::open(&bernd.home, &url).expect("open bernd");
        anna_client.connect().await.expect("anna connects");
        bernd_client.connect().await.expect("bernd connects");
        anna_client.sync().await.expect("anna syncs");
        bernd_client.sync().await.expect("bernd syncs");

        // Anna creates the conversation (epoch 0 -> 1) ...
        anna_client
            .send_text(&b.parse().expect("id"), "Erste Nachricht")
            .await
            .expect("anna sends");
        // ... while Bernd, who has not synced since, tries to create the same
        // conversation at epoch 0. The server refuses with stale_epoch; the
        // client joins through Anna's Welcome and sends in her group.
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
    assert!(texts.contains(&"Erste Nachricht"), "{history:?} / {bernd_msgs:?}");
    assert!(texts.contains(&"Gleichzeitig geschrieben"));
    // Both messages are in one conversation.
    let conversations: std::collections::BTreeSet<&str> =
        history.iter().filter_map(|h| h["conversation"].as_str()).collect();
    assert_eq!(conversations.len(), 1, "{history:?}");
}
