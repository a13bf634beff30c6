//! The web app checks itself and installs (issue 17 item 4 and the About
//! page of item 2; issue 16 item 9), against the real `stadtbote-server`
//! and, where the browser matters, a real headless Chromium:
//!
//! * the PWA files (web app manifest, icons, service worker) are served
//!   with the right types and the strict CSP, and the signed manifest lists
//!   every one of them;
//! * `stadtbote web-verify` follows the web app manifest, its icons and the
//!   service worker, passes on the genuine bundle and names the service
//!   worker (or an icon the web app manifest adds) when the server changes it;
//! * the app's start-up check: on the genuine bundle the About page shows
//!   the version and the Prüfsumme `web-verify --json` reports and no
//!   warning; on a server serving one changed byte of the JavaScript and of
//!   the wasm (`web_require_signed = false`, the stand-in for a tampered
//!   server) a German warning on the page names both files;
//! * after one online visit the app starts with the server stopped (the
//!   service worker), and the worker's cache holds only the signed files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use fantoccini::{Client, Locator};
use serde_json::Value;
use stadtbote_i18n::{Arg, Lang, tr_in};
use stadtbote_protocol::web_manifest::{self, RELEASE_KEY, WebManifest};

use crate::harness::Server;
use crate::web::{
    assert_strict_headers, browser_programs, connect, raw_request, script, start_driver, text_of,
    wait_for_text,
};
use crate::web_verify::cli;

/// The bundle the server copies are made of: web/dist, or the directory
/// `STADTBOTE_TEST_WEB_DIST` names (to run these tests against an older
/// bundle and watch them fail).
fn dist() -> PathBuf {
    match std::env::var_os("STADTBOTE_TEST_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist"),
    }
}

fn committed_manifest() -> WebManifest {
    let bytes = std::fs::read(dist().join("stadtbote-web-manifest.json")).expect("manifest");
    WebManifest::parse(&bytes).expect("committed manifest parses")
}

/// A copy of web/dist in a temporary directory, with `change` applied.
fn dist_copy(change: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dist()).expect("web/dist") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    change(dir.path());
    dir
}

/// Replaces the first `from` in `file` with `to` (same length: one byte
/// changed, the size kept).
fn change_bytes(file: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(file).expect("read");
    let at = bytes.windows(from.len()).position(|w| w == from).expect("bytes to change");
    bytes[at..at + to.len()].copy_from_slice(to);
    std::fs::write(file, bytes).expect("write");
}

/// A server serving `dir` although it differs from its signed manifest.
fn unverified_server(dir: &Path) -> Server {
    Server::start_with(&[
        ("STADTBOTE_WEB_DIR", dir.to_str().expect("utf-8 path")),
        ("STADTBOTE_WEB_REQUIRE_SIGNED", "false"),
    ])
}

fn web_verify_json(origin: &str) -> (i32, Value) {
    let out = cli(&["web-verify", origin, "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let check = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("web-verify --json: {e}: {stdout}"));
    (out.status.code().unwrap_or(-1), check)
}

#[test]
fn pwa_files_are_served_strictly_and_all_are_signed() {
    let server = Server::start();
    let manifest = committed_manifest();
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for (path, content_type) in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/sw.js", "text/javascript; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
        ("/icon-180.png", "image/png"),
        ("/icon-192.png", "image/png"),
        ("/icon-512.png", "image/png"),
        ("/icon-maskable-512.png", "image/png"),
    ] {
        assert!(listed.contains(path), "{path} is not in the signed manifest");
        let answer = raw_request(server.addr, "GET", path, &[]);
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), content_type, "{path}");
        assert_eq!(answer.header("cache-control"), "no-cache", "{path}");
        assert_strict_headers(&answer, path);
        let csp = answer.header("content-security-policy");
        for directive in
            ["worker-src 'self';", "manifest-src 'self';", "trusted-types stadtbote-sw"]
        {
            assert!(csp.contains(directive), "{path}: CSP lacks {directive:?}: {csp}");
        }
        if let Some(size) = path.strip_suffix(".png").and_then(|p| p.rsplit('-').next()) {
            let size: u32 = size.parse().expect("size in the name");
            assert_eq!(&answer.body[..8], b"\x89PNG\r\n\x1a\n", "{path}");
            let width = u32::from_be_bytes(answer.body[16..20].try_into().expect("width"));
            let height = u32::from_be_bytes(answer.body[20..24].try_into().expect("height"));
            assert_eq!((width, height), (size, size), "{path}");
        }
    }
    // The web app manifest: installable, and every icon it names is signed.
    let answer = raw_request(server.addr, "GET", "/manifest.webmanifest", &[]);
    let app: Value = serde_json::from_slice(&answer.body).expect("web app manifest is JSON");
    assert_eq!(app["display"], "standalone");
    assert_eq!(app["start_url"], "/");
    assert!(app["theme_color"].is_string() && app["name"].is_string());
    let icons = app["icons"].as_array().expect("icons");
    for icon in icons {
        let src = icon["src"].as_str().expect("src");
        assert!(listed.contains(src), "icon {src} is not signed");
    }
    for size in ["192x192", "512x512"] {
        assert!(icons.iter().any(|i| i["sizes"] == size), "no {size} icon");
    }
    // The worker names its release (build-web.sh filled it in).
    let worker = raw_request(server.addr, "GET", "/sw.js", &[]);
    let worker = String::from_utf8(worker.body).expect("utf-8");
    assert!(!worker.contains("@BUNDLE@"), "sw.js was not built by build-web.sh");
    // The page links the manifest and the iOS icon.
    let page = raw_request(server.addr, "GET", "/", &[]);
    let page = String::from_utf8(page.body).expect("utf-8");
    assert!(page.contains("<link rel=\"manifest\" href=\"manifest.webmanifest\">"), "{page}");
    assert!(page.contains("rel=\"apple-touch-icon\" href=\"icon-180.png\""), "{page}");
}

#[test]
fn web_verify_follows_the_worker_and_the_app_manifest() {
    // The genuine bundle with the PWA files: verified, all files checked.
    let server = Server::start();
    let origin = format!("http://{}", server.addr);
    let (code, check) = web_verify_json(&origin);
    assert_eq!((code, check["status"].as_str()), (0, Some("ok")), "{check}");

    // The service worker changed by one byte: named.
    let changed = dist_copy(|dir| change_bytes(&dir.join("sw.js"), b"Stadtbote's", b"Stadtbote`s"));
    let server = unverified_server(changed.path());
    let (code, check) = web_verify_json(&format!("http://{}", server.addr));
    assert_eq!(code, 1, "{check}");
    let differences = check["differences"].as_array().expect("differences");
    assert_eq!(differences.len(), 1, "{check}");
    assert_eq!(differences[0]["path"], "/sw.js", "{check}");
    assert_eq!(differences[0]["kind"], "hash_differs", "{check}");

    // The web app manifest names one more icon, which the server serves:
    // the verifier follows the manifest to it and names both.
    let extra = dist_copy(|dir| {
        change_bytes(&dir.join("manifest.webmanifest"), b"/icon-192.png", b"/icon-193.png");
        std::fs::copy(dir.join("icon-192.png"), dir.join("icon-193.png")).expect("copy icon");
    });
    let server = unverified_server(extra.path());
    let (code, check) = web_verify_json(&format!("http://{}", server.addr));
    assert_eq!(code, 1, "{check}");
    let named: Vec<(&str, &str)> = check["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| (d["path"].as_str().unwrap_or(""), d["kind"].as_str().unwrap_or("")))
        .collect();
    assert!(named.contains(&("/icon-193.png", "extra")), "{check}");
    assert!(named.contains(&("/manifest.webmanifest", "hash_differs")), "{check}");
}

// ---------------------------------------------------------------------
// In the browser.

/// Runs `body` with a fresh browser session (German), or returns after a
/// loud SKIPPED where Chromium is missing.
fn with_browser(test: &str, body: impl AsyncFnOnce(&Client) -> Result<()>) {
    let Some((chromium, driver_path)) = browser_programs(test) else { return };
    let driver = start_driver(&driver_path).expect("chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let client = connect(&driver, &chromium, "de-DE,de").await.expect("browser session");
        let result = body(&client).await;
        let _ = client.close().await;
        result.expect("browser checks");
    });
}

async fn wait_until(client: &Client, what: &str, code: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if script(client, code).await? == Value::Bool(true) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{what} did not happen within 30 s")
}

async fn has_warning(client: &Client) -> Result<bool> {
    Ok(client.find(Locator::Css("#integrity-warning")).await.is_ok())
}

#[test]
fn the_about_page_shows_the_pruefsumme_web_verify_reports_and_no_warning() {
    let server = Server::start();
    let origin = format!("http://{}", server.addr);
    let (code, check) = web_verify_json(&origin);
    assert_eq!(code, 0, "{check}");
    with_browser("web self-check (genuine)", async |client| {
        client.goto(&format!("{origin}/")).await?;
        wait_for_text(client, "#release-status", &tr_in(Lang::De, "web-release-genuine", &[]))
            .await?;
        let shown = text_of(client, "#release-fingerprint").await?;
        assert_eq!(Some(shown.as_str()), check["fingerprint"].as_str(), "{check}");
        let version = text_of(client, "#release-version").await?;
        assert_eq!(Some(version.as_str()), check["app_version"].as_str(), "{check}");
        let signer = text_of(client, "#release-signer").await?;
        assert!(signer.contains(&RELEASE_KEY.fingerprint()), "{signer}");
        assert!(signer.contains("Stadtbote-Projekt"), "{signer}");
        assert!(!text_of(client, "#build-version").await?.is_empty());
        assert!(!has_warning(client).await?, "a warning on the genuine bundle");
        // The keys' warning is on the start page; the iOS hint is not
        // shown to Chromium.
        wait_for_text(client, "#keys-browser-data", "weiteres Gerät").await?;
        assert!(client.find(Locator::Css("#home-screen-hint")).await.is_err());
        Ok(())
    });
}

#[test]
fn a_server_serving_changed_javascript_and_wasm_gets_a_warning_naming_them() {
    let changed = dist_copy(|dir| {
        // One byte in a comment of the page's module and one in a string
        // of the wasm's data: both still run.
        change_bytes(&dir.join("app.js"), b"Stadtbote web app", b"Stadtbote web apP");
        change_bytes(&dir.join("stadtbote_web_bg.wasm"), b"Rathaus", b"RathauS");
    });
    let server = unverified_server(changed.path());
    let origin = format!("http://{}", server.addr);
    with_browser("web self-check (tampered)", async |client| {
        client.goto(&format!("{origin}/")).await?;
        let heading = tr_in(Lang::De, "web-integrity-warning-heading", &[]);
        wait_for_text(client, "#integrity-warning", &heading).await?;
        let warning = text_of(client, "#integrity-warning").await?;
        for path in ["/app.js", "/stadtbote_web_bg.wasm"] {
            let line = tr_in(
                Lang::De,
                "web-integrity-file-changed",
                &[("path", Arg::Text(path.to_owned()))],
            );
            assert!(warning.contains(&line), "{path} not named: {warning}");
        }
        assert!(warning.contains("stadtbote web-verify"), "{warning}");
        assert!(warning.contains("informieren Sie die Stadt"), "{warning}");
        // On every screen: also on the not-found one.
        client.goto(&format!("{origin}/#/nirgendwo")).await?;
        wait_for_text(client, "#integrity-warning", &heading).await?;
        wait_for_text(client, "#main-heading", &tr_in(Lang::De, "web-not-found-heading", &[]))
            .await?;
        Ok(())
    });
}

/// Every path in the page's Cache Storage.
async fn cached_paths(client: &Client) -> Result<Vec<String>> {
    let value = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             (async () => { const out = []; \
               for (const name of await caches.keys()) { \
                 const cache = await caches.open(name); \
                 for (const r of await cache.keys()) out.push(name + ' ' + new URL(r.url).pathname); } \
               return out; })().then(done, (e) => done(['error ' + e]));",
            Vec::new(),
        )
        .await?;
    serde_json::from_value(value).map_err(|e| anyhow!("{e}"))
}

#[test]
fn the_app_starts_offline_after_one_visit_and_caches_only_signed_files() {
    let mut server = Server::start();
    let origin = format!("http://{}", server.addr);
    let manifest = committed_manifest();
    with_browser("web offline start", async |client| {
        client.goto(&format!("{origin}/")).await?;
        let heading = tr_in(Lang::De, "web-about-heading", &[]);
        wait_for_text(client, "#main-heading", &heading).await?;
        wait_until(
            client,
            "the service worker controlling the page",
            "return navigator.serviceWorker.controller !== null",
        )
        .await?;
        // The worker cached exactly the signed release (plus `/`, the
        // manifest and its signature), in one cache, and nothing else.
        let cached = cached_paths(client).await?;
        let names: BTreeSet<&str> = cached.iter().filter_map(|c| c.split(' ').next()).collect();
        assert_eq!(names.len(), 1, "{cached:?}");
        let paths: BTreeSet<&str> = cached.iter().filter_map(|c| c.split(' ').nth(1)).collect();
        let mut expected: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        expected.extend(["/", web_manifest::MANIFEST_PATH, web_manifest::SIGNATURE_PATH]);
        assert_eq!(paths, expected, "{cached:?}");

        server.kill();
        client.refresh().await?;
        wait_for_text(client, "#main-heading", &heading).await?;
        // Offline, the app still checks the files it runs (from the cache).
        wait_for_text(client, "#release-status", &tr_in(Lang::De, "web-release-genuine", &[]))
            .await?;
        assert!(!has_warning(client).await?);
        // The server's statement cannot load, and that is said.
        let server_section = text_of(client, "#server").await?;
        let network = tr_in(Lang::De, "web-error-network", &[]);
        wait_for_text(client, "#server", &network)
            .await
            .map_err(|e| anyhow!("{e}: {server_section}"))?;
        Ok(())
    });
}

/// The name of the one Cache Storage cache and the bytes of `path` in it.
async fn cached_file(client: &Client, path: &str) -> Result<(Vec<String>, String)> {
    let code = format!(
        "const done = arguments[arguments.length - 1]; \
         (async () => {{ const names = await caches.keys(); \
           const hit = names.length === 1 ? await (await caches.open(names[0])).match({path:?}) : undefined; \
           return [names, hit === undefined ? '' : await hit.text()]; }})() \
           .then(done, (e) => done([[], 'error ' + e]));"
    );
    let value = client.execute_async(&code, Vec::new()).await?;
    serde_json::from_value(value).map_err(|e| anyhow!("{e}"))
}

#[test]
fn a_new_release_replaces_the_cached_one_whole() {
    // The same origin serves release A (the genuine bundle), then release B
    // (another style sheet, hence another service worker; signed by a
    // town's key, which the app does not pin: it warns, and that is fine
    // here). The worker must switch to B whole: one cache, B's files.
    let keys = tempfile::tempdir().expect("tempdir");
    let (secret, public) = crate::web_verify::new_key(keys.path(), "town.key");
    let town_key = std::fs::read_to_string(&public).expect("pub");
    let town_key = town_key.split_whitespace().nth(1).expect("key").to_owned();
    let served = dist_copy(|_| {});
    let release_b = dist_copy(|dir| {
        change_bytes(&dir.join("style.css"), b"Stadtbote web app", b"Stadtbote rel. B!");
        // Another release: another bundle hash in the worker.
        let worker = dir.join("sw.js");
        let mut bytes = std::fs::read(&worker).expect("sw.js");
        let marker = b"const BUNDLE = \"";
        let at = bytes.windows(marker.len()).position(|w| w == marker).expect("BUNDLE");
        let digit = &mut bytes[at + marker.len()];
        *digit = if *digit == b'0' { b'1' } else { b'0' };
        std::fs::write(&worker, bytes).expect("write sw.js");
        crate::web_verify::sign(dir, &secret, "0.9.9-b");
    });
    let mut server = Server::start_with(&[
        ("STADTBOTE_WEB_DIR", served.path().to_str().expect("utf-8")),
        ("STADTBOTE_WEB_RELEASE_KEY", &town_key),
        ("STADTBOTE_WEB_REQUIRE_SIGNED", "false"),
    ]);
    let origin = format!("http://{}", server.addr);
    with_browser("web release update", async |client| {
        client.goto(&format!("{origin}/")).await?;
        wait_until(
            client,
            "the first worker",
            "return navigator.serviceWorker.controller !== null",
        )
        .await?;
        let (names_a, css_a) = cached_file(client, "/style.css").await?;
        assert_eq!(names_a.len(), 1, "{names_a:?}");
        assert!(css_a.contains("Stadtbote web app"), "{css_a}");

        for entry in std::fs::read_dir(release_b.path())? {
            let entry = entry?;
            std::fs::copy(entry.path(), served.path().join(entry.file_name()))?;
        }
        server.restart();
        client.refresh().await?;
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (names, css) = cached_file(client, "/style.css").await?;
            if names.len() == 1 && names != names_a {
                assert!(css.contains("Stadtbote rel. B!"), "a mix of releases: {css}");
                break;
            }
            if Instant::now() > deadline {
                bail!("the worker never switched to release B: {names:?} (was {names_a:?})");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The page reloaded onto B: its check sees B's manifest (the
        // town's key, so it warns), not a mix.
        let heading = tr_in(Lang::De, "web-integrity-warning-heading", &[]);
        wait_for_text(client, "#integrity-warning", &heading).await?;
        let warning = text_of(client, "#integrity-warning").await?;
        assert!(warning.contains("anderen Schlüssel"), "{warning}");
        Ok(())
    });
}
