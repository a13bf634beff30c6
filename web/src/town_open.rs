//! Opening a town from its link in the browser: one unauthenticated
//! `org_directory` request over the core's [`Connection`] on
//! client-web's [`BrowserConnector`] (the same request `stadtbote org
//! info` makes), the check of [`crate::town_check`], and the key pinned in
//! this browser's IndexedDB ([`IndexedDbStorage`], sealed at rest like
//! every record there). Needs no account.
//!
//! The pins live in the store of [`PIN_STORE`] (this browser, before any
//! account exists) in the core's `Orgs` space under `web-pin/<handle>`:
//! JSON `{ "handle", "org", "key" }` (key in base32). A later device
//! store can take them over.

use stadtbote_client::clock::Clock;
use stadtbote_client::connection::Connection;
use stadtbote_client::storage::{Batch, HolderId, Space, Storage};
use stadtbote_client_web::clock::BrowserClock;
use stadtbote_client_web::storage::IndexedDbStorage;
use stadtbote_client_web::transport::BrowserConnector;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::{ErrorCode, Request, Response};

use crate::link_state::{PinOutcome, TownCheck};
use crate::town_check::{Mismatch, check_town};

/// The IndexedDB store that holds this browser's pins.
pub const PIN_STORE: &str = "browser";
/// How long the pin write may hold the store's lease.
const LEASE_MS: u64 = 30_000;

/// The WebSocket URL of the server that served this page.
pub fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/v1/ws", location.host().ok()?))
}

/// Asks the server for `handle`'s directory entry.
async fn fetch(handle: &str) -> Result<Option<OrgInfo>, ()> {
    let url = ws_url().ok_or(())?;
    let (mut conn, _) = Connection::open(&BrowserConnector::new(), BrowserClock::new(), &url)
        .await
        .map_err(|_| ())?;
    let answer = conn.call(Request::OrgDirectory { handle: handle.to_string() }).await;
    conn.close().await;
    match answer {
        Ok(Ok(Response::Org { info })) => Ok(Some(*info)),
        Ok(Err(body)) if body.code == ErrorCode::UnknownOrg => Ok(None),
        _ => Err(()),
    }
}

fn pin_key(handle: &str) -> Vec<u8> {
    format!("web-pin/{handle}").into_bytes()
}

/// The key pinned for `handle` in `storage`, if any.
async fn pinned(storage: &IndexedDbStorage, handle: &str) -> Option<IdentityKey> {
    let bytes = storage.get(Space::Orgs, &pin_key(handle)).await.ok()??;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let key = stadtbote_protocol::ids::decode_base32_lenient(value["key"].as_str()?)?;
    Some(IdentityKey(key.try_into().ok()?))
}

/// Pins `key` for `handle` (with `org`).
async fn pin(storage: &IndexedDbStorage, handle: &str, org: &str, key: &IdentityKey) -> bool {
    let clock = BrowserClock::new();
    let holder = format!("tab-{:016x}", (js_sys::Math::random() * 2f64.powi(53)) as u64);
    let Ok(holder) = HolderId::new(holder) else { return false };
    let Ok(lease) = storage.acquire_lease(&holder, clock.now_ms(), LEASE_MS).await else {
        return false;
    };
    let value = serde_json::json!({
        "handle": handle,
        "org": org,
        "key": data_encoding::BASE32_NOPAD.encode(&key.0),
    });
    let mut batch = Batch::new();
    batch.put(Space::Orgs, pin_key(handle), value.to_string().into_bytes());
    let stored = storage.commit(&lease, batch).await.is_ok();
    let _ = storage.release_lease(&lease).await;
    stored
}

/// Fetches, checks and pins the town of a link; the check's outcome.
pub async fn open(handle: String, key: IdentityKey) -> TownCheck {
    let info = match fetch(&handle).await {
        Ok(Some(info)) => info,
        Ok(None) => return TownCheck::Mismatch(Mismatch::UnknownTown),
        Err(()) => return TownCheck::Failed,
    };
    let storage = IndexedDbStorage::open(PIN_STORE).await.ok();
    let before = match &storage {
        Some(storage) => pinned(storage, &handle).await,
        None => None,
    };
    let town = match check_town(&handle, &key, before.as_ref(), &info) {
        Ok(town) => town,
        Err(mismatch) => return TownCheck::Mismatch(mismatch),
    };
    let pin_outcome = match &storage {
        Some(_) if before == Some(town.key) => PinOutcome::AlreadyPinned,
        Some(storage) if pin(storage, &handle, &info.org.to_string(), &town.key).await => {
            PinOutcome::Pinned
        }
        _ => PinOutcome::NotSaved,
    };
    TownCheck::Verified { town, pin: pin_outcome }
}
