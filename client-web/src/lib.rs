//! Stadtbote's browser adapters for the client core (issue 16): what
//! `stadtbote_client`'s traits need from a browser, as client-cli is the
//! native one. The web app (crate `web/`) builds on this library.
//!
//! * [`storage`]: [`IndexedDbStorage`](storage::IndexedDbStorage), the
//!   core's `Storage` in one IndexedDB database per device: one readwrite
//!   transaction per commit, resolved after its `complete` event
//!   (`durability: "strict"`); attachment chunks; values sealed at rest;
//!   the lease fenced in IndexedDB and tied to a Web Lock, so a second tab
//!   of the same device learns it is second and stays read-only.
//! * [`at_rest`]: AES-256-GCM through WebCrypto under a non-extractable key
//!   generated once per database and stored in it (a `CryptoKey` is
//!   structured-cloneable; its bytes never reach JavaScript or wasm).
//! * [`layout`]: the stored keys and the sealed envelope, as pure bytes
//!   (also built and unit-tested natively).
//! * [`web_lock`]: one exclusive Web Lock (`navigator.locks`).
//! * [`transport`]: [`BrowserConnector`](transport::BrowserConnector) and
//!   [`BrowserTransport`](transport::BrowserTransport), the browser's
//!   WebSocket with binary frames, a bounded receive buffer and typed
//!   errors.
//! * [`clock`]: [`BrowserClock`](clock::BrowserClock), `Date.now()` and
//!   `setTimeout`.
//!
//! Everything but [`layout`] exists only on `wasm32`: natively the crate is
//! that module alone, so `cargo test --workspace` and clippy still build
//! it. The browser tests (tests/browser.rs, run in headless Chromium by
//! scripts/test-browser.sh) run the core's Storage conformance suite
//! against IndexedDB.
//!
//! Why web-sys rather than an IndexedDB wrapper crate (`idb`,
//! `indexed_db_futures`, `rexie`): a commit must check the fencing token
//! and issue every write inside ONE transaction without the transaction
//! committing in between, with `durability: "strict"`, binary keys and
//! key ranges; doing that from the read's success handler is a few lines
//! on web-sys, whereas the wrappers hide the handler behind futures (whose
//! wake-up order decides whether the transaction is still active) and do
//! not expose the durability option. web-sys is generated from the
//! browsers' WebIDL by the wasm-bindgen project, the same dependency those
//! wrappers build on.

pub mod layout;

#[cfg(target_arch = "wasm32")]
pub mod at_rest;
#[cfg(target_arch = "wasm32")]
pub mod clock;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
pub mod storage;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod web_lock;

// The crate's own wasm tests (the at-rest test vector) run in the browser
// too, not in Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
