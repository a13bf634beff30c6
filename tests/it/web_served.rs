//! The real `stadtbote-server` serving the web app and `stadtbote
//! web-verify` checking it (issue 17): the built-in bundle verifies
//! against the project's release key; a town's own signed build (web_dir
//! with its own web_release_key) verifies against the town's key and not
//! the project's; a server whose files differ from the signed manifest
//! refuses to start, and one told to serve them anyway
//! (`web_require_signed = false`, the stand-in for a server that was
//! tampered with) is caught by the verifier, which names the file;
//! `--watch` keeps going across the server's restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Server, bins, free_port};
use crate::web_verify::{cli, new_key, sign, verify, write_bundle};

fn origin(server: &Server) -> String {
    format!("http://{}", server.addr)
}

#[test]
fn the_built_in_bundle_verifies_against_the_release_key() {
    let server = Server::start();
    let out = cli(&["web-verify", &origin(&server), "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let check: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(check["status"], "ok");
    assert_eq!(check["expected_release_key"], true);
    // The fingerprint is that of the committed manifest's bytes.
    let committed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist/stadtbote-web-manifest.json"),
    )
    .unwrap();
    assert_eq!(check["fingerprint"], stadtbote_protocol::web_manifest::fingerprint(&committed));
    assert!(
        server.log().contains("web app verified against its signed manifest"),
        "{}",
        server.log()
    );
}

#[test]
fn a_towns_own_signed_build_verifies_against_the_towns_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = new_key(dir.path(), "town.key");
    let bundle = dir.path().join("dist");
    write_bundle(&bundle, "town");
    sign(&bundle, &secret, "0.8.0-musterhausen");
    let town_key = std::fs::read_to_string(&public).unwrap();
    let town_key = town_key.split_whitespace().nth(1).unwrap().to_owned();
    let server = Server::start_with(&[
        ("STADTBOTE_WEB_DIR", bundle.to_str().unwrap()),
        ("STADTBOTE_WEB_RELEASE_KEY", &town_key),
    ]);
    let (code, check) = verify(&origin(&server), &public, &[]);
    assert_eq!((code, check["status"].as_str()), (0, Some("ok")), "{check}");
    assert_eq!(check["app_version"], "0.8.0-musterhausen");
    let out = cli(&["web-verify", &origin(&server), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"wrong_key\""));
}

/// Starts the server binary and waits for it to exit; returns (exit code, output).
fn start_expecting_refusal(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bins().server)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(data.path().join("data"))
        .envs(env.iter().copied())
        .env("STADTBOTE_METRICS_LISTEN", "")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (out.status.code(), text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server kept running with a web app that does not match its manifest");
}

#[test]
fn a_changed_file_stops_the_server_and_served_anyway_the_verifier_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = new_key(dir.path(), "town.key");
    let bundle = dir.path().join("dist");
    write_bundle(&bundle, "town");
    sign(&bundle, &secret, "0.8.0");
    let wasm = bundle.join("pkg/stadtbote_web_bg.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes[64] ^= 0x04;
    std::fs::write(&wasm, bytes).unwrap();
    let key = std::fs::read_to_string(&public).unwrap();
    let key = key.split_whitespace().nth(1).unwrap().to_owned();
    let env =
        [("STADTBOTE_WEB_DIR", bundle.to_str().unwrap()), ("STADTBOTE_WEB_RELEASE_KEY", &key)];

    let (code, output) = start_expecting_refusal(&env);
    assert_ne!(code, Some(0));
    assert!(
        output.contains("the web app's files differ from its signed manifest")
            && output.contains("/pkg/stadtbote_web_bg.wasm has other content"),
        "{output}"
    );
    // Without the town's key the built-in default (the project's key) is
    // expected: refused as well, naming the key.
    let (code, output) = start_expecting_refusal(&env[..1]);
    assert_ne!(code, Some(0));
    assert!(output.contains("does not verify against web_release_key"), "{output}");

    let mut env = env.to_vec();
    env.push(("STADTBOTE_WEB_REQUIRE_SIGNED", "false"));
    let server = Server::start_with(&env);
    assert!(server.log().contains("SERVING AN UNVERIFIED WEB APP"), "{}", server.log());
    let (code, check) = verify(&origin(&server), &public, &[]);
    assert_eq!(code, 1);
    assert_eq!(check["differences"][0]["kind"], "hash_differs");
    assert_eq!(check["differences"][0]["path"], "/pkg/stadtbote_web_bg.wasm");
    assert_eq!(check["differences"].as_array().unwrap().len(), 1);
}

#[test]
fn watch_against_the_real_server_survives_its_restart() {
    let mut server = Server::start();
    let mut child = Command::new(&bins().cli)
        .args(["--lang", "de", "web-verify", &origin(&server), "--watch", "1", "--checks", "6"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(" OK ") && first.contains(" Version "), "{first}");
    server.terminate();
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains(" NETWORK - "), "{second}");
    server.restart();
    // One line per check, each either a network failure (while the server
    // starts) or OK; the last one, well after the restart, is OK.
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest.len(), 4, "{rest:?}");
    assert!(rest.iter().all(|l| l.contains(" OK ") || l.contains(" NETWORK - ")), "{rest:?}");
    assert!(rest.last().unwrap().contains(" OK "), "{rest:?}");
    assert!(child.wait().unwrap().success());
}
