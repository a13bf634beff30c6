//! The load generator `stadtbote-bench` against a real server started with
//! `deploy/bench.toml`, every scenario with tiny numbers: its JSON line
//! carries the fields docs/BENCHMARKS.md relies on and nothing was lost.
//! No timing is asserted; these runs prove the tool works, not the figures.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{Server, bins, last_line};

/// A server configured as for a benchmark (deploy/bench.toml).
fn bench_server() -> Server {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/bench.toml");
    Server::start_with(&[("STADTBOTE_CONFIG", config.to_str().expect("utf-8 path"))])
}

/// Runs one scenario and returns its JSON object.
fn bench(server: &Server, args: &[&str]) -> Value {
    let output = std::process::Command::new(&bins().bench)
        .arg("--server")
        .arg(server.url())
        .arg("--json")
        .args(args)
        .output()
        .expect("run stadtbote-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stadtbote-bench {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&last_line(&stdout)).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_fields(report: &Value, fields: &[&str]) {
    for field in fields {
        assert!(report.get(field).is_some_and(|v| !v.is_null()), "no {field} in {report}");
    }
}

#[test]
fn idle_holds_authenticated_connections_and_reads_server_memory() {
    let server = bench_server();
    let pid = server.pid().to_string();
    let report =
        bench(&server, &["idle", "--connections", "20", "--server-pid", &pid, "--hold", "0"]);
    assert_fields(&report, &["connections", "server_rss_kib_per_conn"]);
    assert_eq!(report["connections"], 20, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
}

#[test]
fn relay_delivers_every_acked_message() {
    let server = bench_server();
    let report = bench(
        &server,
        &["relay", "--pairs", "2", "--duration", "1", "--size", "256", "--prepare", "40"],
    );
    assert_fields(&report, &["msgs_per_s", "p50_deliver_ms", "p99_deliver_ms", "p99_ack_ms"]);
    assert_eq!(report["lost"], 0, "{report}");
    assert!(report["delivered"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn relay_at_a_fixed_rate() {
    let server = bench_server();
    let report = bench(&server, &["relay", "--pairs", "1", "--duration", "1", "--rate", "20"]);
    assert_fields(&report, &["msgs_per_s", "p99_deliver_ms", "p99_ack_ms", "offered_rate"]);
    assert_eq!(report["lost"], 0, "{report}");
}

#[test]
fn offline_mailbox_drains_without_loss() {
    let server = bench_server();
    let report = bench(&server, &["offline", "--messages", "30"]);
    assert_fields(&report, &["drain_s", "lost"]);
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["stored"], 30, "{report}");
    assert_eq!(report["left_in_mailbox"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
}

#[test]
fn fanout_reaches_every_follower_with_a_verified_post() {
    let server = bench_server();
    let code = server.data_dir.join("admin-claim.code");
    let report = bench(
        &server,
        &["fanout", "--followers", "10", "--admin-code-file", code.to_str().expect("utf-8")],
    );
    assert_fields(&report, &["last_delivery_ms", "deliveries_per_s"]);
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["bad"], 0, "{report}");
}

#[test]
fn upload_round_trips_an_attachment() {
    let server = bench_server();
    let pid = server.pid().to_string();
    let report = bench(&server, &["upload", "--size", "1", "--server-pid", &pid]);
    assert_fields(
        &report,
        &["mb_per_s", "download_mb_per_s", "server_rss_kib_per_conn_after_upload"],
    );
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["intact"], true, "{report}");
}

#[test]
fn client_io_measures_send_and_inbox_of_the_real_binary() {
    let server = bench_server();
    let cli = bins().cli.to_str().expect("utf-8 path");
    let mut args = vec!["client-io", "--history", "6", "--runs", "2", "--size", "40"];
    args.extend(["--stadtbote", cli]);
    // The per-file breakdown where strace is installed.
    let strace = std::process::Command::new("strace").arg("-V").output();
    let traced = strace.is_ok_and(|o| o.status.success());
    if traced {
        args.push("--strace");
    }
    let report = bench(&server, &args);
    assert_fields(
        &report,
        &["setup_s", "send_ms_p50", "send_ms_p90", "send_wchar_p50", "send_write_bytes_p50"],
    );
    assert_fields(&report, &["inbox_ms_p50", "inbox_wchar_p90", "home_bytes_before"]);
    assert_eq!(report["history_messages"], 6, "{report}");
    // Both commands rewrite state files: something was written.
    assert!(report["send_wchar_p50"].as_f64().unwrap() > 0.0, "{report}");
    assert!(report["inbox_wchar_p50"].as_f64().unwrap() > 0.0, "{report}");
    if traced {
        assert!(report["send_traced_fsyncs"].as_u64().unwrap() > 0, "{report}");
        assert!(report["send_traced_file_write_bytes"].as_u64().unwrap() > 0, "{report}");
    }
}

/// Issue 20: a burst of posts reaches every follower, each post verified,
/// and the report carries the burst's deliveries/s, the server's CPU per
/// delivery and its memory per follower.
#[test]
fn fanout_burst_reports_deliveries_and_server_cpu_per_delivery() {
    let server = bench_server();
    let code = server.data_dir.join("admin-claim.code");
    let pid = server.pid().to_string();
    let args = ["fanout", "--followers", "6", "--posts", "3", "--server-pid", &pid];
    let mut args = args.to_vec();
    args.extend(["--admin-code-file", code.to_str().expect("utf-8")]);
    let report = bench(&server, &args);
    assert_fields(
        &report,
        &[
            "deliveries_per_s",
            "burst_last_delivery_ms",
            "server_cpu_us_per_delivery",
            "generator_cpu_us_per_delivery",
            "server_rss_kib_per_follower",
            "server_rss_kib_per_follower_after_posts",
            "load_avg_1m",
        ],
    );
    assert_eq!(report["posts"], 3, "{report}");
    assert_eq!(report["deliveries"], 18, "{report}");
    assert_eq!(report["complete_followers"], 6, "{report}");
    assert_eq!(report["missed_deliveries"], 0, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["bad"], 0, "{report}");
}
