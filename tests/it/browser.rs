//! The browser adapters (crate client-web) in headless Chromium against a
//! real `stadtbote-server`: runs scripts/test-browser.sh, which builds
//! client-web's tests for wasm32 with Debian's toolchain and runs them with
//! wasm-bindgen-test-runner and chromedriver. Those tests run the core's
//! Storage conformance suite against IndexedDB, check encryption at rest
//! and the Web Locks lease, and speak to this server over the browser's
//! WebSocket.
//!
//! Without Chromium, chromedriver, wasm-bindgen-test-runner or the wasm32
//! toolchain the script (and this test) says SKIPPED loudly; under
//! `CI=true` it fails instead.

use std::path::Path;
use std::process::Command;

use crate::harness::Server;

#[test]
fn client_web_passes_its_browser_tests() {
    let server = Server::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let output = Command::new("bash")
        .arg(root.join("scripts/test-browser.sh"))
        .current_dir(root)
        .env("STADTBOTE_TEST_SERVER_WS", server.url())
        .output()
        .expect("run scripts/test-browser.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = |text: &str| {
        text.lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        output.status.success(),
        "scripts/test-browser.sh failed ({}):\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
        output.status,
        tail(&stdout),
        tail(&stderr)
    );
    if let Some(line) = stderr.lines().find(|l| l.contains("SKIPPED")) {
        eprintln!("SKIPPED client_web_passes_its_browser_tests: {line}");
        eprintln!("{}", tail(&stderr));
        return;
    }
    // The transport tests ran against the server rather than skipping.
    assert!(!stdout.contains("SKIPPED: no stadtbote-server"), "{}", tail(&stdout));
    assert!(stdout.contains("browser tests passed"), "{}", tail(&stdout));
    for test in [
        "indexed_db_storage_passes_the_conformance_suite",
        "values_are_encrypted_at_rest_under_a_non_extractable_key",
        "a_second_tab_stays_read_only_until_the_first_is_gone",
        "the_core_talks_to_a_real_server_over_the_browser_websocket",
    ] {
        assert!(stdout.contains(test), "{test} did not run:\n{}", tail(&stdout));
    }
}
