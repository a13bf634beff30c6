//! The server's plain HTTP endpoints and its process behaviour: health check,
//! the privacy statement, defaults and graceful shutdown.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{RawClient, Server, http_get};

#[test]
fn healthz_and_privacy_in_text_and_json() {
    let server = Server::start_with(&[("STADTBOTE_ENVELOPE_TTL_SECS", "86400")]);
    let (status, body) = http_get(server.addr, "/healthz", None).expect("healthz");
    assert_eq!(status, 200);
    assert!(body.contains("ok"));

    let (status, text) = http_get(server.addr, "/privacy", None).expect("privacy");
    assert_eq!(status, 200);
    let lower = text.to_lowercase();
    for word in ["account", "envelope", "ip address", "retention"] {
        assert!(lower.contains(word), "privacy text mentions {word}: {text}");
    }

    let (status, json) =
        http_get(server.addr, "/privacy", Some("application/json")).expect("privacy json");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&json).expect("privacy JSON");
    assert_eq!(v["retention"]["envelope_ttl_secs"], 86400, "{v}");
    assert!(v["stored"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    assert!(v["never_stored"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
}

#[test]
fn sigterm_closes_connections_with_a_close_frame_and_exits_cleanly() {
    let mut server = Server::start();
    let url = server.url();
    // One runtime for the whole test: the client's socket belongs to it.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut client = runtime.block_on(RawClient::connect(&url)).expect("connect");
    let status = server.terminate();
    assert!(status.success(), "graceful exit, got {status}");
    let closed = runtime.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), client.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    });
    assert_eq!(closed, Some(1001), "close code 'going away'");
}

#[test]
fn server_starts_with_no_arguments_on_its_defaults() {
    // Only when the default port is free, e.g. not while a developer runs a
    // server on this machine; the test then says so instead of failing.
    if std::net::TcpListener::bind("127.0.0.1:8470").is_err() {
        eprintln!("skipped: 127.0.0.1:8470 is in use on this machine");
        return;
    }
    // The default metrics listener (127.0.0.1:9470) must be free too.
    if std::net::TcpListener::bind("127.0.0.1:9470").is_err() {
        eprintln!("skipped: 127.0.0.1:9470 is in use on this machine");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(&crate::harness::bins().server)
        .current_dir(dir.path())
        .env_remove("STADTBOTE_LISTEN")
        .env_remove("STADTBOTE_DATA_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let addr = "127.0.0.1:8470".parse().expect("addr");
    let ok = crate::harness::eventually(Duration::from_secs(20), || {
        http_get(addr, "/healthz", None).ok().filter(|(s, _)| *s == 200)
    });
    crate::harness::signal(child.id(), "TERM");
    let _ = child.wait();
    ok.expect("server answers on 127.0.0.1:8470");
    assert!(dir.path().join("stadtbote-data").is_dir(), "data in ./stadtbote-data");
}
