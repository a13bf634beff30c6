//! The web app's files and how they are served: the bundle built into the
//! binary (`web/dist/`, embedded by `build.rs`) or, with `web_dir`, a
//! directory read once at start (a town that builds a modified app); the
//! strict headers every HTTP answer of the server carries
//! ([`security_headers`]); and the answer for one path ([`WebApp::respond`]).
//!
//! The page loads nothing from another origin, so the policy allows
//! `'self'` only, plus `'wasm-unsafe-eval'` (compiling WebAssembly), the
//! WebSocket of the same origin, and `blob:`/`data:` images (photos shown
//! before they are sent). No inline script or style, no `eval`, and
//! Trusted Types with one policy only, `stadtbote-sw` (`web/assets/app.js`),
//! which passes exactly the service worker's URL to
//! `serviceWorker.register` (a script-URL sink): the app never writes HTML
//! and loads no other script by URL.
//! Files are small and few, so they are kept in memory; each one's ETag is
//! its SHA-256, and browsers revalidate every time (`no-cache`), so a new
//! bundle is used at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_bundle.rs"));
}

/// The most bytes a `web_dir` may hold (all files together): they are
/// kept in memory.
pub const MAX_WEB_DIR_BYTES: u64 = 64 << 20;

/// The most files a `web_dir` may hold.
pub const MAX_WEB_DIR_FILES: usize = 256;

/// Why `web_dir` cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebDirError {
    /// The directory or a file in it cannot be read.
    #[error("cannot read the web app directory {path} (web_dir): {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory has no `index.html`.
    #[error(
        "the web app directory {0} (web_dir) has no index.html; build it with scripts/build-web.sh \
         and point web_dir at its output, or leave web_dir empty to serve the built-in app"
    )]
    NoIndex(PathBuf),
    /// More or larger files than the server keeps in memory.
    #[error(
        "the web app directory {0} (web_dir) holds more than {MAX_WEB_DIR_FILES} files or \
         {MAX_WEB_DIR_BYTES} bytes"
    )]
    TooLarge(PathBuf),
}

/// One file of the app.
#[derive(Debug, Clone)]
pub struct WebFile {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl WebFile {
    fn new(name: &str, body: Bytes) -> WebFile {
        let hash = Sha256::digest(&body);
        let etag = format!("\"sha256-{}\"", data_encoding::HEXLOWER.encode(&hash));
        WebFile {
            body,
            content_type: content_type(name),
            // Hex digits and quotes are always a valid header value.
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        }
    }

    /// The file's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Its `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }
}

/// The `Content-Type` of a file by its extension.
pub fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or_default();
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The app's files by path (`index.html`, `app.js`, …).
#[derive(Debug, Clone)]
pub struct WebApp {
    files: BTreeMap<String, WebFile>,
}

impl WebApp {
    /// The bundle built into this binary.
    pub fn embedded() -> WebApp {
        let files = embedded::FILES
            .iter()
            .map(|(name, bytes)| {
                ((*name).to_owned(), WebFile::new(name, Bytes::from_static(bytes)))
            })
            .collect();
        WebApp { files }
    }

    /// The files of `dir` (and its subdirectories), read now.
    pub fn from_dir(dir: &Path) -> Result<WebApp, WebDirError> {
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        read_dir(dir, dir, &mut files, &mut total)?;
        if !files.contains_key("index.html") {
            return Err(WebDirError::NoIndex(dir.to_owned()));
        }
        Ok(WebApp { files })
    }

    /// The app of the configuration: `web_dir` when set, else the embedded
    /// bundle.
    pub fn from_config(config: &crate::Config) -> Result<WebApp, WebDirError> {
        let dir = config.web_dir.trim();
        if dir.is_empty() { Ok(WebApp::embedded()) } else { WebApp::from_dir(Path::new(dir)) }
    }

    /// The file at `path` (`/` is `index.html`).
    pub fn get(&self, path: &str) -> Option<&WebFile> {
        let name = path.strip_prefix('/').unwrap_or(path);
        self.files.get(if name.is_empty() { "index.html" } else { name })
    }

    /// The names of all files.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The answer to `method path` with the request's `headers`: the file
    /// (or `304 Not Modified` when `If-None-Match` names its ETag), `404`
    /// for unknown paths, `405` for methods other than GET and HEAD.
    pub fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, HEAD")],
                "method not allowed\n",
            )
                .into_response();
        }
        let Some(file) = self.get(path) else {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "not found\n",
            )
                .into_response();
        };
        let cache = [
            (header::ETAG, file.etag.clone()),
            // Revalidate every time: the names are fixed, the contents
            // change with each release.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_TYPE, HeaderValue::from_static(file.content_type)),
        ];
        let matches = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || file.etag.to_str().is_ok_and(|etag| etag == tag));
        if matches {
            return (StatusCode::NOT_MODIFIED, cache).into_response();
        }
        let body =
            if method == Method::HEAD { Body::empty() } else { Body::from(file.body.clone()) };
        let mut response = (cache, body).into_response();
        if method == Method::HEAD {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(file.body.len()));
        }
        response
    }
}

fn read_dir(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, WebFile>,
    total: &mut u64,
) -> Result<(), WebDirError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| WebDirError::Read { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error(dir))?
        .collect::<Result<_, _>>()
        .map_err(read_error(dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        // Follows symlinks: an operator may link files into the directory.
        let meta = std::fs::metadata(&path).map_err(read_error(&path))?;
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let Some(name) = relative.to_str().map(|n| n.replace('\\', "/")) else { continue };
        if name.split('/').any(|part| part.starts_with('.')) {
            continue;
        }
        if meta.is_dir() {
            read_dir(root, &path, files, total)?;
        } else if meta.is_file() {
            *total = total.saturating_add(meta.len());
            if files.len() >= MAX_WEB_DIR_FILES || *total > MAX_WEB_DIR_BYTES {
                return Err(WebDirError::TooLarge(root.to_owned()));
            }
            let bytes = std::fs::read(&path).map_err(read_error(&path))?;
            files.insert(name.clone(), WebFile::new(&name, Bytes::from(bytes)));
        }
    }
    Ok(())
}

/// The one Trusted Types policy the page may create (`web/assets/app.js`:
/// it allows exactly `/sw.js`, to register the service worker).
pub const TRUSTED_TYPES_POLICY: &str = "stadtbote-sw";

/// The Content-Security-Policy for pages of this server. `ws_origins` are
/// the WebSocket origins of the page's own origin (`wss://host`), which
/// `'self'` covers in current browsers but not in all older ones.
pub fn content_security_policy(ws_origins: &[String]) -> String {
    content_security_policy_with(ws_origins, None)
}

/// [`content_security_policy`], whose `img-src` also allows the origin of
/// the operator's map tile server (`map_tiles_url`, issue 16.6) when one
/// is configured — and only then.
pub fn content_security_policy_with(ws_origins: &[String], map_tiles: Option<&str>) -> String {
    let mut img = String::from("'self' blob: data:");
    if let Some(origin) = map_tiles {
        img.push(' ');
        img.push_str(origin);
    }
    let mut connect = String::from("'self'");
    for origin in ws_origins {
        connect.push(' ');
        connect.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src {img}; font-src 'self'; connect-src {connect}; \
         worker-src 'self'; manifest-src 'self'; object-src 'none'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'; \
         trusted-types {TRUSTED_TYPES_POLICY}"
    )
}

/// A host (with port) as a request's `Host` header or `public_url`
/// names it, when it is plain enough to repeat in a header.
fn plain_host(host: &str) -> Option<&str> {
    let plain = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    plain.then_some(host)
}

/// The WebSocket origins of the page: those of `public_url` when it is
/// configured, else those of the `Host` the browser asked for (`ws://` and
/// `wss://`: behind a TLS proxy the server does not know which one the
/// browser uses).
pub fn ws_origins(public_url: &str, request_host: Option<&str>) -> Vec<String> {
    if let Some(rest) = public_url.strip_prefix("https://") {
        return plain_host(rest).map(|host| vec![format!("wss://{host}")]).unwrap_or_default();
    }
    if let Some(rest) = public_url.strip_prefix("http://") {
        return plain_host(rest).map(|host| vec![format!("ws://{host}")]).unwrap_or_default();
    }
    match request_host.and_then(plain_host) {
        Some(host) => vec![format!("ws://{host}"), format!("wss://{host}")],
        None => Vec::new(),
    }
}

/// Adds the headers every answer of the server carries (unless the
/// handler set them): the CSP, `Referrer-Policy: no-referrer`,
/// `X-Content-Type-Options: nosniff`, framing refused, and same-origin
/// isolation. Never a cookie.
pub fn security_headers(headers: &mut HeaderMap, csp: &str) {
    let fixed = [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(value);
    }
    // No handler sets cookies; this keeps it so.
    headers.remove(header::SET_COOKIE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_bundle_has_the_page_the_module_and_the_wasm() {
        let app = WebApp::embedded();
        let index = app.get("/").expect("index.html");
        assert_eq!(index.content_type(), "text/html; charset=utf-8");
        let html = std::str::from_utf8(index.body()).unwrap();
        assert!(html.contains("src=\"app.js\""), "{html}");
        // No inline script or style: every <script> has a src.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script type=\"module\" src=").count()
        );
        assert!(!html.contains("<style") && !html.contains("style="), "{html}");
        assert_eq!(app.get("/stadtbote_web_bg.wasm").unwrap().content_type(), "application/wasm");
        assert!(app.get("/app.js").is_some() && app.get("/build-info.json").is_some());
        assert!(app.get("/nope").is_none() && app.get("/../Cargo.toml").is_none());
    }

    #[test]
    fn etags_and_not_modified() {
        let app = WebApp::embedded();
        let ok = app.respond(&Method::GET, "/app.js", &HeaderMap::new());
        assert_eq!(ok.status(), StatusCode::OK);
        let etag = ok.headers()[header::ETAG].clone();
        assert!(etag.to_str().unwrap().starts_with("\"sha256-"), "{etag:?}");
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        let again = app.respond(&Method::GET, "/app.js", &headers);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let head = app.respond(&Method::HEAD, "/app.js", &HeaderMap::new());
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            app.respond(&Method::POST, "/", &HeaderMap::new()).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            app.respond(&Method::GET, "/x", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_directory_replaces_the_bundle_and_needs_an_index() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.js"), "x").unwrap();
        assert!(matches!(WebApp::from_dir(dir.path()), Err(WebDirError::NoIndex(_))));
        std::fs::write(dir.path().join("index.html"), "<!doctype html>town").unwrap();
        std::fs::write(dir.path().join(".secret"), "x").unwrap();
        let app = WebApp::from_dir(dir.path()).unwrap();
        assert_eq!(app.get("/").unwrap().body(), b"<!doctype html>town");
        assert_eq!(app.names().collect::<Vec<_>>(), ["app.js", "index.html"]);
        let missing = WebApp::from_dir(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("web_dir"), "{missing}");
    }

    #[test]
    fn the_policy_and_its_websocket_origins() {
        assert_eq!(
            ws_origins("https://stadtbote.example.de", None),
            ["wss://stadtbote.example.de"]
        );
        assert_eq!(
            ws_origins("", Some("127.0.0.1:8470")),
            ["ws://127.0.0.1:8470", "wss://127.0.0.1:8470"]
        );
        assert!(ws_origins("", Some("evil.example; script-src *")).is_empty());
        let csp = content_security_policy(&ws_origins("", Some("[::1]:80")));
        assert!(csp.contains("connect-src 'self' ws://[::1]:80 wss://[::1]:80;"), "{csp}");
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{csp}");
        // The PWA: its worker and manifest from this origin only, and one
        // Trusted Types policy (no 'allow-duplicates', no wildcard).
        assert!(csp.contains("worker-src 'self';") && csp.contains("manifest-src 'self';"));
        assert!(csp.ends_with("trusted-types stadtbote-sw"), "{csp}");
        let mut headers = HeaderMap::new();
        headers.insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        security_headers(&mut headers, &csp);
        assert!(!headers.contains_key(header::SET_COOKIE));
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
