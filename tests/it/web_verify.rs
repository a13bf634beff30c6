//! `stadtbote web-sign` and `stadtbote web-verify` (issue 17): a bundle is
//! signed with a release key, and the verifier, fetching it over HTTP as a
//! browser would, accepts exactly the signed files and names every
//! difference a tampering server introduces: one byte of the wasm, an
//! extra script, a missing file, a reference outside the manifest, a
//! script from another origin, a manifest signed by another key, an older
//! signed release put back. `--watch` prints one line per check and keeps
//! going across a server restart, telling a network failure apart from a
//! mismatch (exit code 4, not 1).
//!
//! The server here is a small static file server in this module (the
//! attacker's server: it serves whatever is in its directory); the real
//! `stadtbote-server` serving its bundle is tested in `web_served.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::harness::{bins, free_port, json_lines};

/// A static HTTP/1.1 file server over a directory (`/` is `index.html`),
/// read at each request so that a test can change files between checks.
pub struct StaticServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StaticServer {
    pub fn start(dir: &Path, port: u16) -> StaticServer {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let listener = TcpListener::bind(addr).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let dir = dir.to_path_buf();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve_one(&dir, stream);
                }
            }
        });
        StaticServer { addr, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_one(dir: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let name = if path == "/" { "index.html" } else { path.trim_start_matches('/') };
    let file = dir.join(name);
    let (status, body) = match (name.contains(".."), std::fs::read(&file)) {
        (false, Ok(body)) => ("200 OK", body),
        _ => ("404 Not Found", b"not found".to_vec()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}

/// A bundle as `wasm-bindgen --target web` and a service worker make it:
/// page → module script → glue → wasm via `new URL(…, import.meta.url)`,
/// a service worker registered by the script, a style sheet with an
/// image, and a web app manifest with an icon.
pub fn write_bundle(dir: &Path, version_marker: &str) {
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::create_dir_all(dir.join("icons")).unwrap();
    let files: &[(&str, &[u8])] = &[
        (
            "index.html",
            b"<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\">\
              <link rel=\"stylesheet\" href=\"style.css\">\
              <link rel=\"manifest\" href=\"app.webmanifest\">\
              <script type=\"module\" src=\"app.js\"></script></head>\
              <body><main id=\"app\"></main></body></html>\n",
        ),
        (
            "app.js",
            b"import init, { start } from './pkg/stadtbote_web.js';\n\
              await init();\nstart();\n\
              if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js');\n",
        ),
        (
            "pkg/stadtbote_web.js",
            b"export async function init(module_or_path) {\n\
              if (module_or_path === undefined) module_or_path = new URL('stadtbote_web_bg.wasm', import.meta.url);\n\
              return fetch(module_or_path);\n}\nexport function start() {}\nexport default init;\n",
        ),
        ("sw.js", b"self.addEventListener('fetch', () => {});\n"),
        ("style.css", b"body { background: url(icons/bg.png) no-repeat; }\n"),
        ("app.webmanifest", b"{\"name\":\"Stadtbote\",\"icons\":[{\"src\":\"icons/192.png\",\"sizes\":\"192x192\"}]}\n"),
        ("icons/192.png", b"\x89PNG\r\n\x1a\n192"),
        ("icons/bg.png", b"\x89PNG\r\n\x1a\nbg"),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend(version_marker.as_bytes());
    wasm.extend(vec![0x42; 4096]);
    std::fs::write(dir.join("pkg/stadtbote_web_bg.wasm"), wasm).unwrap();
    std::fs::write(
        dir.join("build-info.json"),
        b"{\"version\":\"0.8.0\",\"rustc\":\"rustc 1.96.0 (test)\",\"wasm_bindgen\":\"wasm-bindgen 0.2.130\"}\n",
    )
    .unwrap();
}

pub fn cli(args: &[&str]) -> Output {
    Command::new(&bins().cli)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .output()
        .expect("run stadtbote")
}

/// Creates a release key in `dir`; returns (secret file, public file).
pub fn new_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let secret = dir.join(name);
    let out = cli(&["web-sign", "--new-key", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (secret.clone(), dir.join(format!("{name}.pub")))
}

pub fn sign(bundle: &Path, secret: &Path, version: &str) -> serde_json::Value {
    let out = cli(&[
        "web-sign",
        bundle.to_str().unwrap(),
        "--key",
        secret.to_str().unwrap(),
        "--app-version",
        version,
        "--build-info",
        bundle.join("build-info.json").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&String::from_utf8_lossy(&out.stdout)).remove(0)
}

/// One `web-verify --json` run: (exit code, the check's JSON).
pub fn verify(url: &str, key: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["web-verify", url, "--key", key.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = json_lines(&stdout);
    assert_eq!(
        lines.len(),
        1,
        "one JSON line per check: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), lines.into_iter().next().unwrap())
}

fn differences(check: &serde_json::Value) -> Vec<(String, String)> {
    check["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_owned(), d["path"].as_str().unwrap().to_owned()))
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    secret: PathBuf,
    public: PathBuf,
    server: StaticServer,
    fingerprint: String,
}

fn signed_bundle() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = new_key(dir.path(), "release.key");
    let bundle = dir.path().join("dist");
    write_bundle(&bundle, "v0.8.0");
    let signed = sign(&bundle, &secret, "0.8.0");
    assert_eq!(signed["files"], 10);
    let server = StaticServer::start(&bundle, free_port());
    let fingerprint = signed["fingerprint"].as_str().unwrap().to_owned();
    Setup { _dir: dir, bundle, secret, public, server, fingerprint }
}

#[test]
fn the_signed_bundle_verifies_and_every_file_is_fetched_as_a_browser_would() {
    let s = signed_bundle();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["status"], "ok");
    assert_eq!(check["ok"], true);
    assert_eq!(check["app_version"], "0.8.0");
    assert_eq!(check["fingerprint"], s.fingerprint.as_str());
    assert_eq!(check["build"]["rustc"], "rustc 1.96.0 (test)");
    // `/` plus the ten files of the manifest.
    assert_eq!(check["files_checked"], 11);

    // Text output, German first: the Prüfsumme and whose key signed.
    let out =
        cli(&["--lang", "de", "web-verify", &s.server.url(), "--key", s.public.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("liefert die signierte Web-App aus, Version 0.8.0"), "{text}");
    assert!(text.contains(&format!("Prüfsumme: {}", s.fingerprint)), "{text}");
    assert!(text.contains("einem eigenen Schlüssel der Kommune"), "{text}");
}

#[test]
fn one_byte_of_the_wasm_or_the_glue_changed_is_named() {
    let s = signed_bundle();
    let wasm = s.bundle.join("pkg/stadtbote_web_bg.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&wasm, bytes).unwrap();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!(code, 1);
    assert_eq!(check["status"], "differs");
    assert_eq!(differences(&check), [("hash_differs".into(), "/pkg/stadtbote_web_bg.wasm".into())]);
    let d = &check["differences"][0];
    assert_ne!(d["expected_sha256"], d["actual_sha256"]);

    let glue = s.bundle.join("pkg/stadtbote_web.js");
    let text =
        std::fs::read_to_string(&glue).unwrap().replace("return fetch", "fetch('/x');return fetch");
    std::fs::write(&glue, text).unwrap();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        differences(&check),
        [
            ("size_differs".into(), "/pkg/stadtbote_web.js".into()),
            ("hash_differs".into(), "/pkg/stadtbote_web_bg.wasm".into()),
        ]
    );
    // The plain text names the file, in English with --lang en.
    let out =
        cli(&["--lang", "en", "web-verify", &s.server.url(), "--key", s.public.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("FAIL:") && err.contains("2 differences"), "{err}");
    assert!(err.contains("/pkg/stadtbote_web_bg.wasm: other content than signed"), "{err}");
}

#[test]
fn an_extra_script_a_missing_file_and_a_foreign_origin_are_named() {
    let s = signed_bundle();
    // The server slips a script into the page.
    let page = s.bundle.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let evil = html.replace(
        "</head>",
        "<script src=\"/analytics.js\"></script><script src=\"https://cdn.example.net/t.js\"></script></head>",
    );
    std::fs::write(&page, &evil).unwrap();
    std::fs::write(s.bundle.join("analytics.js"), b"steal()").unwrap();
    std::fs::remove_file(s.bundle.join("sw.js")).unwrap();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!(code, 1, "{check}");
    assert_eq!(
        differences(&check),
        [
            ("size_differs".into(), "/".into()),
            ("extra".into(), "/analytics.js".into()),
            ("size_differs".into(), "/index.html".into()),
            ("missing".into(), "/sw.js".into()),
            ("other_origin".into(), "https://cdn.example.net/t.js".into()),
        ]
    );
}

#[test]
fn a_file_the_page_loads_that_the_manifest_does_not_list_is_named() {
    // The page references a file that was not there when the release was
    // signed; a server that adds it later runs unsigned code with the
    // signed page unchanged.
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = new_key(dir.path(), "k");
    let bundle = dir.path().join("dist");
    write_bundle(&bundle, "v1");
    let page = bundle.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, html.replace("</head>", "<script src=\"late.js\"></script></head>"))
        .unwrap();
    sign(&bundle, &secret, "0.8.0");
    let server = StaticServer::start(&bundle, free_port());
    let (code, check) = verify(&server.url(), &public, &[]);
    assert_eq!(code, 1);
    assert_eq!(differences(&check), [("unlisted".into(), "/late.js".into())]);
    std::fs::write(bundle.join("late.js"), b"steal()").unwrap();
    let (code, check) = verify(&server.url(), &public, &[]);
    assert_eq!(code, 1);
    assert_eq!(differences(&check), [("extra".into(), "/late.js".into())]);
}

#[test]
fn a_manifest_signed_by_another_key_or_not_at_all_is_refused() {
    let s = signed_bundle();
    // Re-signed with the attacker's own key: everything matches its
    // manifest, but the key is not the one expected.
    let dir = tempfile::tempdir().unwrap();
    let (other_secret, _) = new_key(dir.path(), "attacker");
    std::fs::write(s.bundle.join("app.js"), b"steal()").unwrap();
    let resigned = sign(&s.bundle, &other_secret, "0.8.0");
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!(code, 1);
    assert_eq!(check["status"], "invalid_manifest");
    assert_eq!(check["error"]["kind"], "wrong_key");
    assert_eq!(check["key_fingerprint"], resigned["key_fingerprint"]);
    // Without --key the project's release key is expected: a town's own
    // (or an attacker's) key is refused just the same.
    let out = cli(&["--lang", "de", "web-verify", &s.server.url()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("mit einem anderen Schlüssel signiert"), "{err}");
    assert!(err.contains("dem Stadtbote-Release-Schlüssel"), "{err}");

    std::fs::remove_file(s.bundle.join("stadtbote-web-manifest.sig")).unwrap();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!((code, check["error"]["kind"].as_str()), (1, Some("unsigned")));
    std::fs::remove_file(s.bundle.join("stadtbote-web-manifest.json")).unwrap();
    let (code, check) = verify(&s.server.url(), &s.public, &[]);
    assert_eq!((code, check["error"]["kind"].as_str()), (1, Some("manifest_missing")));
}

#[test]
fn an_older_signed_release_put_back_is_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = new_key(dir.path(), "k");
    let old = dir.path().join("old");
    write_bundle(&old, "v0.8.0");
    sign(&old, &secret, "0.8.0");
    let new = dir.path().join("new");
    write_bundle(&new, "v0.9.0");
    sign(&new, &secret, "0.9.0");
    let state = dir.path().join("state.json");
    let state_arg = ["--state", state.to_str().unwrap()];
    let port = free_port();
    let mut server = StaticServer::start(&new, port);
    let (code, check) = verify(&server.url(), &public, &state_arg);
    assert_eq!((code, check["app_version"].as_str()), (0, Some("0.9.0")));
    server.stop();
    // The old release, complete and correctly signed, served again.
    let server = StaticServer::start(&old, port);
    let (code, check) = verify(&server.url(), &public, &[]);
    assert_eq!(code, 0, "without memory it is a valid release");
    let (code, check_with_state) = verify(&server.url(), &public, &state_arg);
    assert_eq!(code, 1, "{check_with_state}");
    assert_eq!(check_with_state["status"], "rolled_back");
    assert_eq!(check_with_state["app_version"], "0.8.0");
    assert_eq!(check_with_state["newest_seen"], "0.9.0");
    assert_eq!(check["fingerprint"], check_with_state["fingerprint"]);
}

#[test]
fn watch_prints_one_line_per_check_and_survives_a_restart() {
    let s = signed_bundle();
    let port = s.server.addr.port();
    let mut server = s.server;
    let mut child = Command::new(&bins().cli)
        .args(["--lang", "en", "web-verify", &server.url(), "--key", s.public.to_str().unwrap()])
        .args(["--watch", "1", "--checks", "4"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&format!(" OK {} version 0.8.0", s.fingerprint)), "{first}");
    server.stop();
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains(" NETWORK - "), "{second}");
    // The server comes back, with one byte of the wasm changed.
    let wasm = s.bundle.join("pkg/stadtbote_web_bg.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes[200] ^= 0x80;
    std::fs::write(&wasm, &bytes).unwrap();
    let server = StaticServer::start(&s.bundle, port);
    let third = lines.next().unwrap().unwrap();
    assert!(
        third.contains(&format!(
            " FAIL {} 1 difference, first: /pkg/stadtbote_web_bg.wasm",
            s.fingerprint
        )),
        "{third}"
    );
    bytes[200] ^= 0x80;
    std::fs::write(&wasm, &bytes).unwrap();
    let fourth = lines.next().unwrap().unwrap();
    assert!(fourth.contains(" OK "), "{fourth}");
    assert!(lines.next().is_none(), "stops after --checks 4");
    let status = child.wait().unwrap();
    assert!(status.success(), "the last check passed");
    drop(server);
    let _ = s.secret;
}

#[test]
fn an_unreachable_server_is_not_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = new_key(dir.path(), "k");
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, check) = verify(&url, &public, &[]);
    assert_eq!(code, 4);
    assert_eq!(check["status"], "unreachable");
    assert_eq!(check["error"]["kind"], "network");
    let out = cli(&["--lang", "de", "web-verify", &url, "--key", public.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4));
    assert!(err.contains("kein Hinweis auf eine Veränderung"), "{err}");
}
