//! The start-up check in the browser (issue 17, item 4): gathers what the
//! page runs and hands it to [`crate::integrity::check`].
//!
//! `app.js` fetches the wasm itself, instantiates it from exactly those
//! bytes and passes the same bytes to [`check_integrity`], so the hash is
//! over what runs, not over a second download. The page, its JavaScript
//! and CSS and the service worker are fetched again from the URLs the page
//! used with `force-cache`: the browser's cached copy (the one the page
//! ran) when it has one, and the service worker's precached copy when it
//! controls the page. The manifest and its signature are revalidated.

use std::collections::BTreeMap;

use js_sys::Uint8Array;
use stadtbote_protocol::web_manifest::{MANIFEST_PATH, SIGNATURE_PATH};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCache, RequestCredentials, RequestInit, Response};

use crate::app::{self, Load};
use crate::integrity;
use crate::net::FetchError;

/// Where the wasm lies (its bytes come from `app.js`).
pub const WASM_PATH: &str = "/stadtbote_web_bg.wasm";

/// The other files the page runs: its module, wasm-bindgen's glue, the
/// style sheet and the service worker it registers (the page itself is
/// added under `/`).
pub const RUN_PATHS: &[&str] = &["/app.js", "/stadtbote_web.js", "/style.css", "/sw.js"];

/// Called by `app.js` once the module runs, with the bytes it was
/// instantiated from. The result shows in the app's state.
#[wasm_bindgen]
pub fn check_integrity(wasm: Vec<u8>) {
    wasm_bindgen_futures::spawn_local(async move {
        let result = run(wasm).await;
        app::update(|state| {
            state.integrity = match result {
                Ok(report) => Load::Ready(report),
                Err(error) => Load::Failed(error),
            }
        });
    });
}

async fn run(wasm: Vec<u8>) -> Result<integrity::Report, FetchError> {
    let manifest = get_bytes(MANIFEST_PATH, RequestCache::NoCache).await?;
    let signature = get_bytes(SIGNATURE_PATH, RequestCache::NoCache).await?;
    let page = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .filter(|p| p == "/" || p == "/index.html")
        .unwrap_or_else(|| "/".to_owned());
    let mut files = BTreeMap::new();
    files.insert(WASM_PATH.to_owned(), Some(wasm));
    for path in std::iter::once(page.as_str()).chain(RUN_PATHS.iter().copied()) {
        files.insert(path.to_owned(), get_bytes(path, RequestCache::ForceCache).await?);
    }
    Ok(integrity::check(
        manifest.as_deref(),
        signature.as_deref(),
        &integrity::pinned_key(),
        &files,
    ))
}

/// GETs `path` on this origin: its bytes, `None` on 404, or why not.
async fn get_bytes(path: &str, cache: RequestCache) -> Result<Option<Vec<u8>>, FetchError> {
    let window = web_sys::window().ok_or(FetchError::Network)?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_credentials(RequestCredentials::Omit);
    init.set_cache(cache);
    let request = Request::new_with_str_and_init(path, &init)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into()
        .map_err(|_: JsValue| FetchError::Format)?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(FetchError::Http(response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}
