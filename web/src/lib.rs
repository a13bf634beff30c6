//! Stadtbote's web app, the Rust side: everything the page shows is built
//! here (from the shared Fluent catalogs of `stadtbote-i18n`) and bound to
//! the page by wasm-bindgen. The page itself (`web/assets/`) is an empty
//! shell: `index.html`, one JS module that loads the wasm, and CSS.
//!
//! Module map:
//! * [`app`]: the app's state, start-up, events and rendering (browser only).
//! * [`a11y`]: focus on route changes, the live region, the skip link
//!   (browser only; the pattern is in docs/WEBAPP.md).
//! * [`contrast`]: WCAG contrast ratios; its test checks `style.css`.
//! * [`local_time`]: dates and times in the device's zone and format
//!   (browser only).
//! * [`router`]: which screen a URL fragment names.
//! * [`views`]: one module per screen, plus the shell around them.
//! * [`dom`]: small helpers that build elements with text (never HTML).
//! * [`net`]: same-origin JSON fetches.
//! * [`lang`]: which language the app starts in.
//! * [`text`]: catalog lookups in the chosen language.
//! * [`statement`]: the server's `/privacy` statement as the About page
//!   shows it (pure, tested natively).
//! * [`build_info`]: the bundle's build record (`build-info.json`).
//! * [`link_state`], [`town_check`], `town_open` (browser only): app links
//!   (`#v1/org|channel|group/…`): what they show, the town's check against
//!   the server and the key pin in IndexedDB.
//! * [`channel_state`], `channel_open` (browser only): the channel screen
//!   of a channel invite: the core's follower over IndexedDB and the
//!   browser's WebSocket, live posts, photos, warnings, reconnecting.
//! * [`integrity`]: the start-up check of the app's own files against the
//!   signed manifest (pure); [`startup_check`] gathers them in the browser.
//! * [`install`]: whether to tell this browser to add the app to the home
//!   screen.
//!
//! The pure modules (router, lang, text, statement, build_info) have no
//! browser dependency, so their unit tests run with plain `cargo test`.
// Unit tests may unwrap: a panic there is a test failure, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod a11y;
pub mod app;
pub mod build_info;
#[cfg(target_arch = "wasm32")]
pub mod channel_open;
pub mod channel_state;
pub mod contrast;
pub mod dom;
pub mod install;
pub mod integrity;
pub mod lang;
pub mod link_state;
pub mod local_time;
pub mod net;
pub mod router;
pub mod startup_check;
pub mod statement;
pub mod text;
pub mod town_check;
#[cfg(target_arch = "wasm32")]
pub mod town_open;
pub mod town_page;
pub mod views;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point: wasm-bindgen's generated `init()` (called by `app.js`)
/// runs this once the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    app::start();
}
