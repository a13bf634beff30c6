//! Same-origin JSON fetches: no cookies or credentials are sent (there are
//! none, and the app never asks for any), and the browser's cache is
//! revalidated so that a changed statement shows at once.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCache, RequestCredentials, RequestInit, Response};

use stadtbote_i18n::Lang;

use crate::text::{t, t1};

/// Why a fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// No answer (offline, server down, refused by the browser).
    Network,
    /// The server answered with this HTTP status.
    Http(u16),
    /// The answer was not the JSON expected.
    Format,
}

impl FetchError {
    /// The reason in words, in `lang`.
    pub fn text(self, lang: Lang) -> String {
        match self {
            FetchError::Network => t(lang, "web-error-network"),
            FetchError::Http(status) => t1(lang, "web-error-http", "status", &status.to_string()),
            FetchError::Format => t(lang, "web-error-format"),
        }
    }
}

impl From<JsValue> for FetchError {
    fn from(_: JsValue) -> Self {
        FetchError::Network
    }
}

/// GETs `url` (a same-origin path) as JSON.
pub async fn get_json(url: &str) -> Result<serde_json::Value, FetchError> {
    let window = web_sys::window().ok_or(FetchError::Network)?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_credentials(RequestCredentials::Omit);
    init.set_cache(RequestCache::NoCache);
    let headers = Headers::new()?;
    headers.set("Accept", "application/json")?;
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into()
        .map_err(|_| FetchError::Format)?;
    if !response.ok() {
        return Err(FetchError::Http(response.status()));
    }
    let text = JsFuture::from(response.text()?).await?.as_string().ok_or(FetchError::Format)?;
    serde_json::from_str(&text).map_err(|_| FetchError::Format)
}
