//! Accessibility of the web app (issue 16 items 7 and 8) in a real
//! headless Chromium against the real server: axe-core (fetched by
//! scripts/fetch-axe.sh, hash-checked) runs on every route in every
//! language choice (Deutsch, Leichte Sprache, English) at phone (360×740)
//! and desktop (1280×800) width and must find no violation; the keyboard
//! pattern works (skip link first, route changes move the focus to the new
//! page's heading and announce it, a visible focus ring); the
//! "Erklärung zur Barrierefreiheit" shows the operator's configured
//! contact and enforcement body; the Leichte Sprache choice is remembered
//! across a reload; dates are written in the browser's locale.
//!
//! With `STADTBOTE_SCREENSHOTS=1` the test also writes PNGs (one screen
//! each) of the main screens into docs/screenshots/ (deterministic names); without
//! it nothing in the tree changes.
//!
//! Without chromium and chromedriver the test prints a loud SKIPPED line;
//! under CI=true that is a failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail, ensure};
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stadtbote_i18n::{Lang, tr_in};

use crate::harness::Server;
use crate::web::{browser_programs, connect, script, start_driver, wait_for_text};

/// axe-core, fetched by scripts/fetch-axe.sh into target/test-tools/ (never
/// kept in the repository): its version and the SHA-256 of `axe.min.js`
/// (the npm package `axe-core@4.14.1`).
const AXE_VERSION: &str = "4.14.1";
const AXE_SHA256: &str = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c";

/// The widths the app is checked (and photographed) at: a small phone and
/// a desktop window, CSS pixels.
pub(crate) const VIEWPORTS: [(&str, u32, u32); 2] = [("phone", 360, 740), ("desktop", 1280, 800)];

/// The configured operator parts the statement page must show.
const CONTACT: &str = "barrierefreiheit@musterhausen.example";
const ENFORCEMENT: &str = "Landesbeauftragte für Barrierefreiheit Musterland, Musterstraße 1";

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// axe.min.js as scripts/fetch-axe.sh leaves it, refused unless it is the
/// pinned file; `None` (after a loud SKIPPED line) where it was not fetched,
/// and under CI=true its absence fails the test (`.ci/run` fetches it).
pub(crate) fn axe_source(test: &str) -> Option<String> {
    let path = workspace().join(format!("target/test-tools/axe-core-{AXE_VERSION}/axe.min.js"));
    let Ok(bytes) = std::fs::read(&path) else {
        let message = format!(
            "SKIPPED: {test}: needs axe-core in {} (run scripts/fetch-axe.sh)",
            path.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message} -- required under CI=true");
        }
        eprintln!("!! {message}");
        return None;
    };
    let hash: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        hash == AXE_SHA256,
        "{} has SHA-256 {hash}, not the pinned {AXE_SHA256}",
        path.display()
    );
    let source = String::from_utf8(bytes).expect("axe.min.js is UTF-8");
    assert!(source.starts_with(&format!("/*! axe v{AXE_VERSION}")), "not axe-core {AXE_VERSION}");
    Some(source)
}

/// chromedriver's DevTools passthrough (`goog/cdp/execute`): exact
/// viewport sizes (and the screenshots of exactly that viewport), which
/// WebDriver lacks.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "cmd": self.0, "params": self.1 }).to_string()))
    }
}

pub(crate) async fn set_viewport(client: &Client, width: u32, height: u32) -> Result<()> {
    client
        .issue_cmd(Cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        ))
        .await?;
    let inner = script(client, "return window.innerWidth").await?;
    ensure!(inner == json!(width), "viewport is {inner}, not {width} px wide");
    Ok(())
}

/// A PNG of the viewport, after scrolling `anchor` (a CSS selector) to the
/// top, or the page to its top.
pub(crate) async fn viewport_png(client: &Client, anchor: Option<&str>) -> Result<Vec<u8>> {
    let scroll = match anchor {
        Some(css) => format!("document.querySelector({css:?}).scrollIntoView(); return true"),
        None => "window.scrollTo(0, 0); return true".to_owned(),
    };
    script(client, &scroll).await?;
    let shot = client
        .issue_cmd(Cdp(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": false, "fromSurface": true }),
        ))
        .await?;
    let data = shot["data"].as_str().ok_or_else(|| anyhow!("no screenshot data: {shot}"))?;
    Ok(data_encoding::BASE64.decode(data.as_bytes())?)
}

/// Runs axe-core on the page (injected once per document) and returns its
/// violations as "rule (impact): help — targets" lines.
pub(crate) async fn axe_violations(client: &Client, axe: &str) -> Result<Vec<String>> {
    let loaded = script(client, "return typeof window.axe === 'object'").await?;
    if loaded != json!(true) {
        // The file is the script's body: WebDriver runs it in the page
        // without going through the page's CSP (no eval, no <script>).
        client.execute(&format!("{axe}\n;return typeof window.axe;"), Vec::new()).await?;
    }
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(JSON.stringify({
                   version: window.axe.version,
                   rules: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.failureSummary) })) })))
               .catch(e => done(JSON.stringify({ error: String(e) })));",
            Vec::new(),
        )
        .await?;
    let result: Value = serde_json::from_str(result.as_str().unwrap_or("{}"))?;
    if let Some(error) = result["error"].as_str() {
        bail!("axe-core failed: {error}");
    }
    ensure!(result["version"] == json!(AXE_VERSION), "ran axe {}", result["version"]);
    let rules = result["rules"].as_array().cloned().unwrap_or_default();
    Ok(rules
        .iter()
        .map(|rule| {
            format!(
                "{} ({}): {} -- {}",
                rule["id"].as_str().unwrap_or("?"),
                rule["impact"].as_str().unwrap_or("?"),
                rule["help"].as_str().unwrap_or("?"),
                rule["nodes"]
                    .as_array()
                    .map(|n| n.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "))
                    .unwrap_or_default()
            )
        })
        .collect())
}

/// A language choice of the switch: its button, the catalog language, and
/// the name used for screenshots.
#[derive(Clone, Copy)]
struct Choice {
    button: &'static str,
    lang: Lang,
    easy: bool,
    name: &'static str,
}

const CHOICES: [Choice; 3] = [
    Choice { button: "#lang-de", lang: Lang::De, easy: false, name: "de" },
    Choice { button: "#lang-de-easy", lang: Lang::De, easy: true, name: "leichte-sprache" },
    Choice { button: "#lang-en", lang: Lang::En, easy: false, name: "en" },
];

/// A route of the app: its fragment, the heading it shows, the name used
/// for screenshots, and an element that shows once the server's data is in.
struct Page {
    fragment: &'static str,
    heading: &'static str,
    name: &'static str,
    ready: &'static str,
}

/// Every route the router knows (and an unknown fragment).
const PAGES: [Page; 4] = [
    Page { fragment: "#/", heading: "web-about-heading", name: "start", ready: "#server-operator" },
    Page {
        fragment: "#/about",
        heading: "web-about-heading",
        name: "about",
        ready: "#server-operator",
    },
    Page {
        fragment: "#/barrierefreiheit",
        heading: "web-a11y-heading",
        name: "barrierefreiheit",
        ready: "#a11y-contact a",
    },
    Page {
        fragment: "#/nirgendwo",
        heading: "web-not-found-heading",
        name: "nicht-gefunden",
        ready: "main p",
    },
];

/// The screenshots kept in docs/screenshots/: (page, choice, the element
/// scrolled to the top first, if any). One screen each (the viewport), as
/// a person sees it without scrolling further.
const SCREENSHOTS: [(&str, &str, Option<&str>); 4] = [
    ("start", "de", None),
    ("start", "leichte-sprache", Some("#guide")),
    ("start", "en", None),
    ("barrierefreiheit", "de", None),
];

async fn choose(client: &Client, choice: Choice) -> Result<()> {
    // The page re-renders when the server's statement arrives, which can
    // replace the button between finding and clicking it: try again then.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pressed = async {
            let button = client.find(Locator::Css(choice.button)).await?;
            if button.attr("aria-pressed").await?.as_deref() != Some("true") {
                button.click().await?;
            }
            let button = client.find(Locator::Css(choice.button)).await?;
            anyhow::Ok(button.attr("aria-pressed").await?.as_deref() == Some("true"))
        }
        .await;
        if let Ok(true) = pressed {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{} never became pressed: {pressed:?}", choice.button);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The check can fail: an image without a text alternative and a button
/// without a name, put into the page, are reported by axe; the page is
/// reloaded afterwards.
async fn axe_sees_a_planted_violation(client: &Client, origin: &str, axe: &str) -> Result<()> {
    client.goto(&format!("{origin}/#/")).await?;
    wait_for_text(client, "#main-heading", "").await?;
    script(
        client,
        "const main = document.querySelector('main');          const img = document.createElement('img'); img.src = 'icon.svg'; main.appendChild(img);          main.appendChild(document.createElement('button')); return true",
    )
    .await?;
    let violations = axe_violations(client, axe).await?;
    for rule in ["image-alt", "button-name"] {
        ensure!(
            violations.iter().any(|v| v.starts_with(&format!("{rule} "))),
            "axe did not report the planted {rule}: {violations:?}"
        );
    }
    client.refresh().await?;
    Ok(())
}

async fn axe_on_every_page(client: &Client, origin: &str, axe: &str) -> Result<usize> {
    axe_sees_a_planted_violation(client, origin, axe).await?;
    let screenshots = std::env::var("STADTBOTE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let dir = workspace().join("docs/screenshots");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (width_name, width, height) in VIEWPORTS {
        set_viewport(client, width, height).await?;
        for choice in CHOICES {
            client.goto(&format!("{origin}/#/")).await?;
            wait_for_text(client, "#main-heading", "").await?;
            choose(client, choice).await?;
            for page in &PAGES {
                client.goto(&format!("{origin}/{}", page.fragment)).await?;
                let heading = tr_in(choice.lang, page.heading, &[]);
                wait_for_text(client, "#main-heading", &heading).await?;
                wait_for_text(client, page.ready, "").await?;
                let lang = script(client, "return document.documentElement.lang").await?;
                ensure!(lang == json!(choice.lang.code()), "<html lang> is {lang}");
                if page.name == "start" {
                    let guide = tr_in(
                        choice.lang,
                        if choice.easy { "web-easy-heading" } else { "web-guide-heading" },
                        &[],
                    );
                    wait_for_text(client, "#guide-heading", &guide).await?;
                }
                let violations = axe_violations(client, axe).await?;
                checked += 1;
                for violation in violations {
                    failures.push(format!(
                        "{} {} {width_name}: {violation}",
                        page.fragment, choice.name
                    ));
                }
                let shot =
                    SCREENSHOTS.iter().find(|(p, c, _)| *p == page.name && *c == choice.name);
                if let (true, Some((_, _, anchor))) = (screenshots, shot) {
                    std::fs::create_dir_all(&dir)?;
                    let file = dir.join(format!("{}-{}-{width_name}.png", page.name, choice.name));
                    std::fs::write(&file, viewport_png(client, *anchor).await?)?;
                    eprintln!("wrote {}", file.display());
                }
            }
        }
    }
    ensure!(failures.is_empty(), "axe-core found violations:\n{}", failures.join("\n"));
    Ok(checked)
}

/// The keyboard pattern: the skip link is the first stop and takes the
/// focus to the heading; a route change moves the focus to the new page's
/// heading and announces it; the focus ring is visible.
async fn keyboard_pattern(client: &Client, origin: &str) -> Result<()> {
    set_viewport(client, 1280, 800).await?;
    client.goto(&format!("{origin}/#/")).await?;
    choose(client, CHOICES[0]).await?;
    client.refresh().await?;
    let heading_de = tr_in(Lang::De, "web-about-heading", &[]);
    wait_for_text(client, "#main-heading", &heading_de).await?;
    wait_for_text(client, "#server-operator", "Stadt Musterhausen").await?;
    // Both fetches are in: no re-render replaces what the keys reach.
    wait_for_text(client, "#build-rustc", "rustc ").await?;

    // From the top of the page, the first Tab lands on the skip link, and
    // its focus ring is visible.
    script(client, "document.activeElement && document.activeElement.blur(); return true").await?;
    client.find(Locator::Css("body")).await?.send_keys(&Key::Tab.to_string()).await?;
    let focused = script(client, "return document.activeElement.id").await?;
    ensure!(focused == json!("skip-link"), "the first Tab stop is {focused}, not the skip link");
    let ring = script(
        client,
        "const s = getComputedStyle(document.activeElement); \
         return [s.outlineStyle, s.outlineWidth, s.top]",
    )
    .await?;
    ensure!(ring[0] != json!("none") && ring[1] != json!("0px"), "no visible focus: {ring}");
    ensure!(ring[2] != json!("-160px"), "the skip link stays off screen when focused: {ring}");
    client.active_element().await?.send_keys(&Key::Enter.to_string()).await?;
    let focused = script(client, "return document.activeElement.id").await?;
    ensure!(focused == json!("main-heading"), "the skip link took the focus to {focused}");
    let hash = script(client, "return location.hash").await?;
    ensure!(hash == json!("#/") || hash == json!(""), "the skip link changed the route: {hash}");

    // The footer link to the statement, by keyboard: focus moves to the
    // new heading, and the live region names it.
    client
        .find(Locator::Css("#footer-accessibility"))
        .await?
        .send_keys(&Key::Enter.to_string())
        .await?;
    let heading = tr_in(Lang::De, "web-a11y-heading", &[]);
    wait_for_text(client, "#main-heading", &heading).await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = script(
            client,
            "return [document.activeElement.id, \
             (document.getElementById('route-announce') || {}).textContent]",
        )
        .await?;
        let announced = state[1].as_str().unwrap_or_default().contains(&heading);
        if state[0] == json!("main-heading") && announced {
            break;
        }
        ensure!(Instant::now() < deadline, "focus/announcement after a route change: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let region = script(
        client,
        "const r = document.getElementById('route-announce'); \
         return [r.getAttribute('aria-live'), r.closest('#app') === null]",
    )
    .await?;
    ensure!(region == json!(["polite", true]), "the live region: {region}");

    // The statement: the operator's contact as a mail link, its
    // enforcement body, and the assessment date in the browser's locale.
    let link = client.find(Locator::Css("#a11y-contact a")).await?;
    ensure!(link.attr("href").await?.as_deref() == Some(&format!("mailto:{CONTACT}")[..]));
    wait_for_text(client, "#a11y-enforcement-body", ENFORCEMENT).await?;
    wait_for_text(client, "#a11y-method-text", "7. Dezember 2026").await?;
    wait_for_text(client, "#a11y-method-text", AXE_VERSION).await?;

    // Leichte Sprache is remembered on the device (no cookie) and shows the
    // start page's explanations in Leichte Sprache; English turns it off.
    client.goto(&format!("{origin}/#/")).await?;
    choose(client, CHOICES[1]).await?;
    client.refresh().await?;
    wait_for_text(client, "#guide-heading", &tr_in(Lang::De, "web-easy-heading", &[])).await?;
    wait_for_text(client, "#guide", &tr_in(Lang::De, "web-easy-secret-2", &[])).await?;
    let stored = script(client, "return localStorage.getItem('stadtbote.easy')").await?;
    ensure!(stored == json!("1"), "{stored}");
    ensure!(script(client, "return document.cookie").await? == json!(""), "a cookie was set");
    choose(client, CHOICES[2]).await?;
    wait_for_text(client, "#guide-heading", &tr_in(Lang::En, "web-guide-heading", &[])).await?;
    let focused = script(client, "return document.activeElement.id").await?;
    ensure!(focused == json!("lang-en"), "the focus left the switch: {focused}");
    ensure!(
        script(client, "return localStorage.getItem('stadtbote.easy')").await? == Value::Null,
        "English forgets Leichte Sprache"
    );
    Ok(())
}

#[test]
fn axe_finds_no_violation_on_any_page_and_the_keyboard_pattern_holds() {
    let Some((chromium, driver_path)) = browser_programs("accessibility browser test") else {
        return;
    };
    let Some(axe) = axe_source("accessibility browser test") else {
        return;
    };
    let server = Server::start_with(&[
        ("STADTBOTE_OPERATOR_NAME", "Stadt Musterhausen"),
        ("STADTBOTE_ACCESSIBILITY_CONTACT", CONTACT),
        ("STADTBOTE_ACCESSIBILITY_ENFORCEMENT", ENFORCEMENT),
    ]);
    let origin = format!("http://{}", server.addr);
    let driver = start_driver(&driver_path).expect("chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let client = connect(&driver, &chromium, "de-DE,de").await.expect("browser session");
        let result = async {
            keyboard_pattern(&client, &origin).await?;
            let checked = axe_on_every_page(&client, &origin, &axe).await?;
            ensure!(checked == VIEWPORTS.len() * CHOICES.len() * PAGES.len(), "{checked}");
            Ok(())
        }
        .await;
        let _ = client.close().await;
        result.expect("accessibility checks");
    });
}
