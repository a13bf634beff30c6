//! What a browser would load next: the references in the web app's HTML,
//! JavaScript, CSS and web app manifest, resolved against the file they
//! appear in.
//!
//! The verifier follows these so that a file the server adds (a script
//! tag, an import, a service worker) is fetched and found not to be part
//! of the signed manifest. It looks for what loads code or styles:
//!
//! * HTML: `src`/`href`/`srcset`/`data` of `script`, `link`, `img`,
//!   `source`, `iframe`, `frame`, `embed`, `object`, `audio`, `video`,
//!   `track`, `input` (not `a` or `form`: those are followed by people),
//!   and the JavaScript and CSS inside `<script>` and `<style>`;
//! * JavaScript: module specifiers (`import … from "x"`, `import "x"`,
//!   `export … from "x"`, `import("x")`), `new URL("x", …)` (how
//!   wasm-bindgen finds its `.wasm`), `serviceWorker.register("x")`
//!   and `….createScriptURL("x")` (a Trusted Types script URL, how the
//!   app registers its service worker; both resolved against the page) and
//!   `importScripts("x", …)`;
//! * CSS: `url(x)` and `@import "x"`;
//! * JSON (the web app manifest): `"src"` values.
//!
//! A JavaScript string is taken only when it looks like a path or URL
//! (`/`, `./`, `../`, a scheme, or a known file extension), so that a
//! word in a message is not mistaken for a file.

/// A reference found in a file, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The text as written.
    pub target: String,
    /// Resolve against the page (`/`) rather than the file itself
    /// (service worker registration).
    pub page_relative: bool,
}

/// Where a reference points once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A path (with query, if any) on the same origin.
    SameOrigin(String),
    /// Another origin: the URL as written.
    OtherOrigin(String),
    /// Nothing to fetch (`data:`, `blob:`, a fragment only, empty).
    Nothing,
}

/// What kind of file `path` holds, from its extension (`/` is the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// HTML.
    Html,
    /// JavaScript.
    Script,
    /// CSS.
    Style,
    /// JSON (a web app manifest).
    Json,
    /// Anything else (wasm, images, fonts): not read.
    Other,
}

impl FileKind {
    /// The kind of the file at `path`.
    pub fn of(path: &str) -> FileKind {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if path.ends_with('/') || path.ends_with(".html") || path.ends_with(".htm") {
            FileKind::Html
        } else if path.ends_with(".js") || path.ends_with(".mjs") {
            FileKind::Script
        } else if path.ends_with(".css") {
            FileKind::Style
        } else if path.ends_with(".json") || path.ends_with(".webmanifest") {
            FileKind::Json
        } else {
            FileKind::Other
        }
    }
}

/// The references in `body`, a file of `kind`.
pub fn references(kind: FileKind, body: &[u8]) -> Vec<Reference> {
    let text = String::from_utf8_lossy(body);
    match kind {
        FileKind::Html => html_references(&text),
        FileKind::Script => script_references(&text),
        FileKind::Style => style_references(&text),
        FileKind::Json => json_references(&text),
        FileKind::Other => Vec::new(),
    }
}

const LOADING_TAGS: &[&str] = &[
    "script", "link", "img", "source", "iframe", "frame", "embed", "object", "audio", "video",
    "track", "input", "image", "use",
];
const LOADING_ATTRIBUTES: &[&str] = &["src", "href", "srcset", "data", "poster", "xlink:href"];

fn html_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(offset) = lower[pos..].find('<') {
        let start = pos + offset + 1;
        if lower[start..].starts_with("!--") {
            pos = lower[start..].find("-->").map_or(lower.len(), |e| start + e + 3);
            continue;
        }
        let name_end = lower[start..]
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .map_or(lower.len(), |e| start + e);
        let name = &lower[start..name_end];
        let (attributes, tag_end) = parse_attributes(text, name_end);
        if LOADING_TAGS.contains(&name) {
            for (attr, value) in &attributes {
                if !LOADING_ATTRIBUTES.contains(&attr.as_str()) {
                    continue;
                }
                if attr == "srcset" {
                    for candidate in value.split(',') {
                        if let Some(url) = candidate.split_whitespace().next() {
                            out.push(Reference { target: url.to_owned(), page_relative: false });
                        }
                    }
                } else {
                    out.push(Reference { target: value.clone(), page_relative: false });
                }
            }
        }
        pos = tag_end;
        // The contents of <script> and <style> are code, not markup.
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            let content_end = lower[pos..].find(&close).map_or(lower.len(), |e| pos + e);
            let content = &text[pos..content_end];
            if name == "script" {
                out.extend(script_references(content));
            } else {
                out.extend(style_references(content));
            }
            pos = content_end;
        }
    }
    out
}

/// Reads the attributes of the tag whose name ends at `pos`; returns them
/// (names lowercase, values unquoted and with the common entities
/// decoded) and where the tag ends.
fn parse_attributes(text: &str, mut pos: usize) -> (Vec<(String, String)>, usize) {
    let bytes = text.as_bytes();
    let mut attributes = Vec::new();
    loop {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return (attributes, pos);
        }
        if bytes[pos] == b'>' {
            return (attributes, pos + 1);
        }
        let name_start = pos;
        while pos < bytes.len()
            && !bytes[pos].is_ascii_whitespace()
            && !matches!(bytes[pos], b'=' | b'>' | b'/')
        {
            pos += 1;
        }
        let name = text[name_start..pos].to_ascii_lowercase();
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let mut value = String::new();
        if pos < bytes.len() && bytes[pos] == b'=' {
            pos += 1;
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < bytes.len() && (bytes[pos] == b'"' || bytes[pos] == b'\'') {
                let quote = bytes[pos];
                let start = pos + 1;
                let end = bytes[start..]
                    .iter()
                    .position(|&b| b == quote)
                    .map_or(bytes.len(), |e| start + e);
                value = text[start..end].to_owned();
                pos = (end + 1).min(bytes.len());
            } else {
                let start = pos;
                while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() && bytes[pos] != b'>' {
                    pos += 1;
                }
                value = text[start..pos].to_owned();
            }
        }
        if !name.is_empty() {
            attributes.push((name, decode_entities(value.trim())));
        }
    }
}

fn decode_entities(value: &str) -> String {
    value
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

fn script_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        // Calls first: of two matches at one position the first listed wins
        // (`importScripts(` over `import`).
        let found = [
            ("importScripts(", false, true),
            ("new URL(", false, true),
            ("register(", true, true),
            // A Trusted Types policy's script URL (what a page under
            // `require-trusted-types-for 'script'` passes to
            // `serviceWorker.register`): resolved against the page.
            ("createScriptURL(", true, true),
            ("from", false, false),
            ("import", false, false),
        ]
        .iter()
        .filter_map(|&(word, page, call)| {
            text[pos..].find(word).map(|at| (pos + at, word, page, call))
        })
        .min_by_key(|&(at, ..)| at);
        let Some((at, word, page_relative, call)) = found else { break };
        pos = at + word.len();
        // A keyword must stand alone (not `fromage`, not `reimport`).
        let alone_before = call || at == 0 || !is_ident(bytes[at - 1]);
        let alone_after = call || bytes.get(pos).is_none_or(|&b| !is_ident(b));
        if !alone_before || !alone_after {
            continue;
        }
        let mut cursor = skip_space(bytes, pos);
        if word == "import" && bytes.get(cursor) == Some(&b'(') {
            cursor = skip_space(bytes, cursor + 1);
        }
        while let Some((literal, end)) = string_literal(text, cursor) {
            if looks_like_path(&literal)
                || (word != "import" && word != "from" && !literal.is_empty())
            {
                out.push(Reference { target: literal, page_relative });
            }
            // importScripts takes several.
            let next = skip_space(bytes, end);
            if word == "importScripts(" && bytes.get(next) == Some(&b',') {
                cursor = skip_space(bytes, next + 1);
                continue;
            }
            break;
        }
    }
    out
}

fn style_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while let Some(at) = lower[pos..].find("url(") {
        let start = skip_space(bytes, pos + at + 4);
        if let Some((literal, end)) = string_literal(text, start) {
            out.push(Reference { target: literal, page_relative: false });
            pos = end;
        } else {
            let end = lower[start..].find(')').map_or(lower.len(), |e| start + e);
            out.push(Reference {
                target: text[start..end].trim().to_owned(),
                page_relative: false,
            });
            pos = end;
        }
    }
    let mut pos = 0;
    while let Some(at) = lower[pos..].find("@import") {
        let start = skip_space(bytes, pos + at + 7);
        pos = start;
        if let Some((literal, end)) = string_literal(text, start) {
            out.push(Reference { target: literal, page_relative: false });
            pos = end;
        }
    }
    out
}

fn json_references(text: &str) -> Vec<Reference> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return Vec::new() };
    let mut out = Vec::new();
    collect_src(&value, &mut out);
    out
}

fn collect_src(value: &serde_json::Value, out: &mut Vec<Reference>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("src", serde_json::Value::String(s)) => {
                        out.push(Reference { target: s.clone(), page_relative: false });
                    }
                    _ => collect_src(item, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_src(i, out)),
        _ => {}
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.'
}

fn skip_space(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

/// A quoted string starting at `pos` (`'`, `"` or a template literal
/// without `${`), and the position after it.
fn string_literal(text: &str, pos: usize) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let quote = *bytes.get(pos)?;
    if !matches!(quote, b'"' | b'\'' | b'`') {
        return None;
    }
    let start = pos + 1;
    let mut end = start;
    while end < bytes.len() && bytes[end] != quote {
        if bytes[end] == b'\\' || bytes[end] == b'\n' {
            return None;
        }
        end += 1;
    }
    let literal = text.get(start..end)?;
    if end >= bytes.len() || (quote == b'`' && literal.contains("${")) {
        return None;
    }
    Some((literal.to_owned(), end + 1))
}

fn looks_like_path(text: &str) -> bool {
    const EXTENSIONS: &[&str] = &[".js", ".mjs", ".wasm", ".css", ".json", ".webmanifest", ".html"];
    text.starts_with('/')
        || text.starts_with("./")
        || text.starts_with("../")
        || text.contains("://")
        || EXTENSIONS.iter().any(|e| text.split(['?', '#']).next().unwrap_or_default().ends_with(e))
}

/// Resolves `target` against the file at `base_path` of `origin`
/// (`https://host[:port]`).
pub fn resolve(origin: &str, base_path: &str, target: &str) -> Resolved {
    let target = target.trim();
    let without_fragment = target.split('#').next().unwrap_or_default();
    if without_fragment.is_empty() {
        return Resolved::Nothing;
    }
    let lower = without_fragment.to_ascii_lowercase();
    if lower.starts_with("data:") || lower.starts_with("blob:") || lower.starts_with("about:") {
        return Resolved::Nothing;
    }
    if let Some(rest) = without_fragment.strip_prefix("//") {
        let scheme = origin.split("://").next().unwrap_or("https");
        return absolute(origin, &format!("{scheme}://{rest}"));
    }
    if let Some(colon) = without_fragment.find(':')
        && without_fragment[..colon]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !without_fragment[..colon].contains('/')
    {
        return absolute(origin, without_fragment);
    }
    let (path, query) = match without_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (without_fragment, None),
    };
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{path}", if dir.is_empty() { "/" } else { dir })
    };
    let mut segments: Vec<&str> = Vec::new();
    let trailing = joined.ends_with('/') || joined.ends_with("/.") || joined.ends_with("/..");
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normal = format!("/{}", segments.join("/"));
    if trailing && normal != "/" {
        normal.push('/');
    }
    if let Some(query) = query {
        normal = format!("{normal}?{query}");
    }
    Resolved::SameOrigin(normal)
}

fn absolute(origin: &str, url: &str) -> Resolved {
    match crate::web_fetch::WebUrl::parse(url) {
        Some(parsed) if parsed.origin() == origin => {
            let path = parsed.path;
            match resolve(origin, "/", &path) {
                Resolved::SameOrigin(p) => Resolved::SameOrigin(p),
                other => other,
            }
        }
        _ => Resolved::OtherOrigin(url.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(kind: FileKind, text: &str) -> Vec<String> {
        references(kind, text.as_bytes()).into_iter().map(|r| r.target).collect()
    }

    #[test]
    fn html_references_are_what_loads_code() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="style.css"><link rel=manifest href='/app.webmanifest'>
            <link rel="modulepreload" href="./pkg/app.js">
            <!-- <script src="commented.js"></script> -->
            <script type="module" src="/main.js"></script>
            <script>import("./inline.js"); const s = "<img src=x.png>";</script>
            <style>body { background: url("bg.png") }</style>
            </head><body><a href="https://www.openstreetmap.org/">map</a>
            <img SRC="icons/a.png" srcset="icons/a2.png 2x, icons/a3.png 3x" alt="">
            <script src="https://cdn.example.com/x.js"></script></body></html>"#;
        assert_eq!(
            targets(FileKind::Html, html),
            [
                "style.css",
                "/app.webmanifest",
                "./pkg/app.js",
                "/main.js",
                "./inline.js",
                "bg.png",
                "icons/a.png",
                "icons/a2.png",
                "icons/a3.png",
                "https://cdn.example.com/x.js",
            ]
        );
    }

    #[test]
    fn script_references_are_imports_urls_and_the_service_worker() {
        let js = r#"import init, { run } from './pkg/stadtbote_web.js';
            import "./side.js"; export * from "../lib.mjs";
            const m = await import('./lazy.js');
            const wasm = new URL('stadtbote_web_bg.wasm', import.meta.url);
            navigator.serviceWorker.register("sw.js", { scope: "/" });
            importScripts("a.js", 'b.js');
            const text = "import the file from Rathaus"; const fromage = 1;
            const ws = "/v1/ws";"#;
        assert_eq!(
            targets(FileKind::Script, js),
            [
                "./pkg/stadtbote_web.js",
                "./side.js",
                "../lib.mjs",
                "./lazy.js",
                "stadtbote_web_bg.wasm",
                "sw.js",
                "a.js",
                "b.js",
            ]
        );
        let tt = references(FileKind::Script, b"policy.createScriptURL(\"/sw.js\")");
        assert_eq!(tt, [Reference { target: "/sw.js".into(), page_relative: true }]);
        let sw = references(FileKind::Script, b"navigator.serviceWorker.register('/sw.js')");
        assert!(sw[0].page_relative);
    }

    #[test]
    fn css_and_manifest_references() {
        assert_eq!(
            targets(FileKind::Style, "@import 'base.css'; a { b: url( fonts/x.woff2 ) }"),
            ["fonts/x.woff2", "base.css"]
        );
        assert_eq!(
            targets(FileKind::Json, r#"{"icons":[{"src":"icons/192.png"}],"start_url":"/"}"#),
            ["icons/192.png"]
        );
    }

    #[test]
    fn resolution_follows_the_browser() {
        let o = "https://s.example.de";
        let same = |p: &str| Resolved::SameOrigin(p.to_owned());
        assert_eq!(resolve(o, "/pkg/app.js", "app_bg.wasm"), same("/pkg/app_bg.wasm"));
        assert_eq!(resolve(o, "/pkg/app.js", "../main.js"), same("/main.js"));
        assert_eq!(resolve(o, "/", "./a/./b/../c.js?v=1#x"), same("/a/c.js?v=1"));
        assert_eq!(resolve(o, "/", "/../../etc"), same("/etc"));
        assert_eq!(resolve(o, "/", "https://s.example.de/x.js"), same("/x.js"));
        assert_eq!(resolve(o, "/", "//s.example.de/x.js"), same("/x.js"));
        assert_eq!(
            resolve(o, "/", "https://evil.example/x.js"),
            Resolved::OtherOrigin("https://evil.example/x.js".into())
        );
        assert_eq!(
            resolve(o, "/", "http://s.example.de/x.js"),
            Resolved::OtherOrigin("http://s.example.de/x.js".into())
        );
        assert_eq!(resolve(o, "/", "data:image/png;base64,AAAA"), Resolved::Nothing);
        assert_eq!(resolve(o, "/", "#top"), Resolved::Nothing);
    }
}
