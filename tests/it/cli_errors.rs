//! How the CLI fails: every failure is one clear line and a non-zero exit
//! code, and nothing the user wrote is lost.

use std::time::{Duration, Instant};

use crate::harness::{Device, Server, json_lines};

fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one error line, got: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_string()
}

#[test]
fn unreachable_server_keeps_the_message_in_the_outbox_until_the_next_command() {
    let mut server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    server.kill();

    let started = Instant::now();
    let err = one_line(&anna.fails(&["send", &b, "Ist jemand da?"]));
    assert!(started.elapsed() < Duration::from_secs(15), "failed fast: {:?}", started.elapsed());
    assert!(err.contains("outbox"), "{err}");
    let pending = json_lines(&anna.ok(&["outbox", "--json"]));
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["text"], "Ist jemand da?");

    server.restart();
    // Any command that reaches the server sends the outbox first.
    anna.ok(&["inbox"]);
    assert!(json_lines(&anna.ok(&["outbox", "--json"])).is_empty());
    assert_eq!(bernd.inbox_texts(), ["Ist jemand da?"]);
}

#[test]
fn wrong_url_unknown_account_corrupt_state_and_missing_init_are_clear_errors() {
    let server = Server::start();
    let anna = Device::new(&server);
    anna.init("Anna");

    // Unknown and malformed account ids.
    let unknown = stadtbote_protocol::AccountId::random().to_string();
    let err = one_line(&anna.fails(&["send", &unknown, "hallo"]));
    assert!(err.to_lowercase().contains("unknown account"), "{err}");
    let err = one_line(&anna.fails(&["send", "not-an-id!", "hallo"]));
    assert!(err.to_lowercase().contains("account"), "{err}");

    // A URL that is not a WebSocket URL.
    let bad = Device::with_url("htp:/nonsense");
    let err = one_line(&bad.fails(&["init"]));
    assert!(err.to_lowercase().contains("server url"), "{err}");

    // A home that was never initialised.
    let fresh = Device::new(&server);
    let err = one_line(&fresh.fails(&["whoami"]));
    assert!(err.contains("stadtbote init"), "{err}");

    // A corrupted state file is named, not silently replaced (the state is
    // in `store/` since issue 15; its snapshot is the file read first).
    std::fs::write(anna.home.join("store/snapshot"), b"\x00garbage\xff").expect("corrupt");
    let err = one_line(&anna.fails(&["inbox"]));
    assert!(err.contains("store"), "{err}");

    // Initialising twice is refused.
    let bernd = Device::new(&server);
    bernd.init("Bernd");
    let err = one_line(&bernd.fails(&["init"]));
    assert!(err.to_lowercase().contains("already"), "{err}");
}
