//! Transparency and operations: `stadtbote server-info` names the operator,
//! the contact, the source code and every retention period; `/metrics` on
//! its own loopback listener has aggregate counters and no ids.

use std::net::SocketAddr;

use crate::harness::{Device, Server, free_port, http_get};

const OPERATOR: &str = "Stadt Musterhausen, IT";
const CONTACT: &str = "datenschutz@musterhausen.example";

#[test]
fn server_info_and_metrics() {
    let metrics_addr: SocketAddr =
        format!("127.0.0.1:{}", free_port()).parse().expect("metrics addr");
    let metrics_listen = metrics_addr.to_string();
    let server = Server::start_with(&[
        ("STADTBOTE_OPERATOR_NAME", OPERATOR),
        ("STADTBOTE_OPERATOR_CONTACT", CONTACT),
        ("STADTBOTE_METRICS_LISTEN", &metrics_listen),
    ]);
    let (status, body) = http_get(server.addr, "/privacy", Some("application/json")).expect("get");
    assert_eq!(status, 200);
    let privacy: serde_json::Value = serde_json::from_str(&body).expect("privacy json");
    let source = privacy["source_code"].as_str().expect("source_code").to_owned();
    assert!(source.starts_with("https://"), "{source}");
    let retention = privacy["retention"].as_object().expect("retention").clone();
    assert!(retention.len() >= 5, "{retention:?}");

    // No account needed: a fresh device with an empty home.
    let anna = Device::new(&server);
    let text = anna.ok(&["server-info"]);
    for expected in [OPERATOR, CONTACT, source.as_str(), "envelopes", "attachments"] {
        assert!(text.contains(expected), "{expected:?} missing from server-info:\n{text}");
    }
    for (key, value) in &retention {
        assert!(text.contains(&format!("{key} = {value}")), "{key} missing from:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&anna.ok(&["server-info", "--json"])).expect("server-info json");
    assert_eq!(json, privacy, "--json prints the server's statement unchanged");
    assert_eq!(json["operator"]["name"], OPERATOR);
    assert_eq!(json["operator"]["contact"], CONTACT);

    // A message exchange moves the counters.
    let bernd = Device::new(&server);
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "Guten Tag"]);
    assert_eq!(bernd.inbox_texts(), ["Guten Tag"]);

    let (status, metrics) = http_get(metrics_addr, "/metrics", None).expect("metrics");
    assert_eq!(status, 200, "{metrics}");
    let value = |line_start: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line_start).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{line_start:?} missing from\n{metrics}"))
    };
    assert!(value("stadtbote_requests_total{kind=\"send\"} ") >= 1);
    assert!(value("stadtbote_requests_total{kind=\"register\"} ") >= 2);
    assert!(value("stadtbote_connections_total ") >= 2);
    assert!(value("stadtbote_envelopes_stored_total ") >= 1);
    assert!(value("stadtbote_envelopes_delivered_total ") >= 1);
    assert!(value("stadtbote_messages_bytes_stored_total ") >= 1);
    value("stadtbote_connections_current ");
    value("stadtbote_bad_frames_total ");
    value("stadtbote_rate_limited_total ");
    // No account or device id appears, in any form.
    let ids = [a.clone(), b.clone(), anna.device_id(), bernd.device_id()];
    let lower = metrics.to_lowercase();
    for id in &ids {
        assert!(!lower.contains(&id.to_lowercase()), "{id} appears in /metrics");
    }
    let whoami = anna.whoami();
    assert_eq!(whoami["account"], a.as_str());

    // The public listener does not serve metrics.
    let (status, _) = http_get(server.addr, "/metrics", None).expect("get");
    assert_eq!(status, 404);
}

#[test]
fn server_info_reports_an_unreachable_server_in_one_line() {
    let port = free_port();
    let device = Device::with_url(&format!("ws://127.0.0.1:{port}/v1/ws"));
    let err = device.fails(&["server-info"]);
    assert!(err.contains("cannot reach the server"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn unconfigured_operator_is_stated() {
    let server = Server::start();
    let text = Device::new(&server).ok(&["server-info"]);
    assert!(text.contains("Operator:     not configured"), "{text}");
}
