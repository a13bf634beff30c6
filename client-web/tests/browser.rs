//! The browser adapters in a real browser (headless Chromium through
//! wasm-bindgen-test; scripts/test-browser.sh runs them, and the
//! end-to-end test `browser::client_web_passes_its_browser_tests` runs
//! that script against a real `stadtbote-server`).
//!
//! * the core's Storage conformance suite against IndexedDB;
//! * encryption at rest: the raw IndexedDB values hold no plaintext, the key
//!   is non-extractable, and values swapped between records do not open;
//! * the lease's Web Lock: a second holder stays read-only, a closed
//!   holder (an iframe removed, as a closed tab) is taken over at once, a
//!   stalled holder loses its lock and cannot commit;
//! * the WebSocket transport against the server whose URL the script
//!   compiles in (`STADTBOTE_TEST_SERVER_WS`): challenge, request and
//!   answer through the core's `Connection`, the server's close, the
//!   bounded receive buffer, an unreachable server.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use stadtbote_client::clock::Clock;
use stadtbote_client::connection::{Connection, ConnectionError};
use stadtbote_client::storage::conformance::run_all;
use stadtbote_client::storage::{Batch, BlobKey, HolderId, Scan, Space, Storage, StorageError};
use stadtbote_client::transport::{Connector, Transport, TransportError};
use stadtbote_client_web::clock::BrowserClock;
use stadtbote_client_web::storage::IndexedDbStorage;
use stadtbote_client_web::transport::{BrowserConnector, ReceiveLimits};
use stadtbote_protocol::{Request, Response};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A device name no earlier run used (the browser profile may be reused).
fn fresh(name: &str) -> String {
    let random = (js_sys::Math::random() * 1e12) as u64;
    format!("{name}-{random:x}")
}

fn holder(id: &str) -> HolderId {
    HolderId::new(id).unwrap()
}

fn put(space: Space, key: &[u8], value: &[u8]) -> Batch {
    let mut batch = Batch::new();
    batch.put(space, key.to_vec(), value.to_vec());
    batch
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn sleep_ms(ms: u64) {
    BrowserClock.sleep(Duration::from_millis(ms)).await;
}

#[wasm_bindgen_test]
async fn indexed_db_storage_passes_the_conformance_suite() {
    let run = fresh("conformance");
    run_all(&mut |n| IndexedDbStorage::new(&format!("{run}-{n}"))).await;
}

// ---- raw IndexedDB, as someone reading the browser profile would ----

async fn await_request(req: &web_sys::IdbRequest) -> JsValue {
    let promise = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    JsFuture::from(promise).await.unwrap();
    req.result().unwrap()
}

async fn raw_db(name: &str) -> web_sys::IdbDatabase {
    let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
    let req = factory.open(name).unwrap();
    await_request(&req).await.dyn_into().unwrap()
}

/// Every key and value of an object store, as bytes.
async fn raw_entries(db: &web_sys::IdbDatabase, store: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let tx = db.transaction_with_str(store).unwrap();
    let store = tx.object_store(store).unwrap();
    let keys = Array::from(&await_request(&store.get_all_keys().unwrap()).await);
    let values = Array::from(&await_request(&store.get_all().unwrap()).await);
    let bytes = |v: JsValue| {
        if let Some(buffer) = v.dyn_ref::<js_sys::ArrayBuffer>() {
            Uint8Array::new(buffer).to_vec()
        } else {
            v.dyn_into::<Uint8Array>().map(|a| a.to_vec()).unwrap_or_default()
        }
    };
    keys.iter().zip(values.iter()).map(|(k, v)| (bytes(k), bytes(v))).collect()
}

async fn raw_put(db: &web_sys::IdbDatabase, store: &str, key: &[u8], value: &[u8]) {
    let tx =
        db.transaction_with_str_and_mode(store, web_sys::IdbTransactionMode::Readwrite).unwrap();
    let store = tx.object_store(store).unwrap();
    await_request(&store.put_with_key(&Uint8Array::from(value), &Uint8Array::from(key)).unwrap())
        .await;
}

#[wasm_bindgen_test]
async fn values_are_encrypted_at_rest_under_a_non_extractable_key() {
    let device = fresh("at-rest");
    let store = IndexedDbStorage::open(&device).await.unwrap();
    let lease = store.acquire_lease(&holder("tab"), 0, 60_000).await.unwrap();
    let marker = b"Schlagloch in der Lindenstrasse 12";
    let mut batch = Batch::new();
    batch.put(Space::Threads, b"report-1".to_vec(), marker.to_vec());
    batch.put(Space::Threads, b"report-2".to_vec(), b"Laterne defekt am Marktplatz".to_vec());
    store.commit(&lease, batch).await.unwrap();
    let photo = b"\xff\xd8\xff\xe0JFIF photo bytes of the pothole";
    store.put_chunk(&lease, BlobKey([3; 16]), 0, photo).await.unwrap();

    let db = raw_db(store.database_name()).await;
    let records = raw_entries(&db, "records").await;
    let chunks = raw_entries(&db, "chunks").await;
    assert_eq!(records.len(), 2);
    assert_eq!(chunks.len(), 1);
    for (_, value) in records.iter().chain(&chunks) {
        assert!(!contains(value, b"Schlagloch"), "no plaintext record in IndexedDB");
        assert!(!contains(value, b"Laterne"), "no plaintext record in IndexedDB");
        assert!(!contains(value, b"JFIF photo"), "no plaintext chunk in IndexedDB");
        assert_eq!(value[0], 1, "envelope version");
    }
    assert_eq!(records[0].1.len(), 1 + 4 + 12 + marker.len() + 16, "nonce and tag");

    // The key is a CryptoKey the browser refuses to export.
    let tx = db.transaction_with_str("meta").unwrap();
    let entry =
        await_request(&tx.object_store("meta").unwrap().get(&"at-rest-key".into()).unwrap()).await;
    let key: web_sys::CryptoKey = Reflect::get(&entry, &"key".into()).unwrap().dyn_into().unwrap();
    assert!(!key.extractable(), "the at-rest key is not extractable");
    let subtle = web_sys::window().unwrap().crypto().unwrap().subtle();
    let exported = JsFuture::from(subtle.export_key("raw", &key).unwrap()).await;
    let error = exported.expect_err("exporting the key must fail");
    assert_eq!(
        Reflect::get(&error, &"name".into()).unwrap().as_string().as_deref(),
        Some("InvalidAccessError")
    );

    // A value swapped onto another record's key does not open there.
    let (first_key, first_value) = records[0].clone();
    let (second_key, _) = records[1].clone();
    raw_put(&db, "records", &second_key, &first_value).await;
    let err = store.get(Space::Threads, b"report-2").await.unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    assert_eq!(store.get(Space::Threads, b"report-1").await.unwrap().as_deref(), Some(&marker[..]));
    // A flipped bit is damage, not a different value.
    let mut flipped = first_value.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    raw_put(&db, "records", &first_key, &flipped).await;
    assert!(matches!(
        store.get(Space::Threads, b"report-1").await,
        Err(StorageError::Corrupt { .. })
    ));
    db.close();

    // A second handle (another tab) uses the same key.
    let other = IndexedDbStorage::open(&device).await.unwrap();
    assert_eq!(other.get_chunk(BlobKey([3; 16]), 0).await.unwrap().as_deref(), Some(&photo[..]));
}

#[wasm_bindgen_test]
async fn a_second_tab_stays_read_only_until_the_first_is_gone() {
    let device = fresh("tabs");
    let first = IndexedDbStorage::open(&device).await.unwrap();
    let second = IndexedDbStorage::open(&device).await.unwrap();
    let lease = first.acquire_lease(&holder("tab-1"), 1_000, 60_000).await.unwrap();
    first.commit(&lease, put(Space::Outbox, b"draft", b"from tab 1")).await.unwrap();
    assert!(first.holds_writer_lock());
    assert!(!first.writer_elsewhere().await.unwrap());

    // The second tab learns it is second, and stays read-only.
    assert!(second.writer_elsewhere().await.unwrap(), "the second tab sees the writer");
    let err = second.acquire_lease(&holder("tab-2"), 2_000, 60_000).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseHeld { expires_at: 61_000 }), "{err:?}");
    assert_eq!(
        second.get(Space::Outbox, b"draft").await.unwrap().as_deref(),
        Some(&b"from tab 1"[..]),
        "the second tab reads"
    );
    // Even with the first tab's lease in hand, it cannot write: it does
    // not hold the lock.
    let err = second.commit(&lease, put(Space::Outbox, b"draft", b"tab 2")).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseLost), "{err:?}");

    // The first tab is closed: its lock is released by the browser, and the
    // second tab takes over at once, long before the lease's expiry.
    drop(first);
    let mut taken = None;
    for _ in 0..100 {
        match second.acquire_lease(&holder("tab-2"), 3_000, 60_000).await {
            Ok(lease) => {
                taken = Some(lease);
                break;
            }
            Err(StorageError::LeaseHeld { .. }) => sleep_ms(10).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    let lease2 = taken.expect("the second tab takes over once the first is gone");
    assert!(lease2.token > lease.token);
    second.commit(&lease2, put(Space::Outbox, b"draft", b"from tab 2")).await.unwrap();
    assert!(second.holds_writer_lock());
}

/// Holds the Web Lock `name` from inside `iframe`'s own browsing context
/// (another document of the origin, as another tab is) until the iframe is
/// removed.
async fn hold_lock_in(iframe: &web_sys::HtmlIFrameElement, name: &str) {
    let window = iframe.content_window().unwrap();
    let locks = Reflect::get(&window.navigator(), &"locks".into()).unwrap();
    let request: Function = Reflect::get(&locks, &"request".into()).unwrap().dyn_into().unwrap();
    let granted: Rc<RefCell<Option<Function>>> = Rc::default();
    let mut resolve_granted = None;
    let granted_promise = Promise::new(&mut |resolve, _| resolve_granted = Some(resolve));
    let resolve_granted = resolve_granted.unwrap();
    let slot = granted.clone();
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = resolve_granted.call0(&JsValue::UNDEFINED);
        // Never resolves: held until the iframe's document goes away.
        Promise::new(&mut |resolve, _| *slot.borrow_mut() = Some(resolve)).into()
    });
    let options = Object::new();
    Reflect::set(&options, &"ifAvailable".into(), &true.into()).unwrap();
    let _ = request.call3(&locks, &name.into(), &options, &callback).unwrap();
    JsFuture::from(granted_promise).await.unwrap();
    assert!(granted.borrow().is_some(), "the iframe holds the lock");
}

#[wasm_bindgen_test]
async fn a_lock_held_by_another_document_keeps_this_one_read_only_until_it_closes() {
    let device = fresh("iframe");
    let storage = IndexedDbStorage::open(&device).await.unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let iframe: web_sys::HtmlIFrameElement =
        document.create_element("iframe").unwrap().dyn_into().unwrap();
    document.body().unwrap().append_child(&iframe).unwrap();
    hold_lock_in(&iframe, &storage.lock_name()).await;

    assert!(storage.writer_elsewhere().await.unwrap());
    let err = storage.acquire_lease(&holder("tab"), 0, 60_000).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseHeld { .. }), "{err:?}");
    assert!(!storage.holds_writer_lock());

    // The other document goes away (a closed tab): the browser frees its lock.
    iframe.remove();
    let mut lease = None;
    for _ in 0..200 {
        match storage.acquire_lease(&holder("tab"), 0, 60_000).await {
            Ok(l) => {
                lease = Some(l);
                break;
            }
            Err(StorageError::LeaseHeld { .. }) => sleep_ms(10).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    let lease = lease.expect("the lock is free once the other document is gone");
    storage.commit(&lease, put(Space::Account, b"me", b"x")).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_stalled_tab_loses_its_lock_and_cannot_commit() {
    let device = fresh("stalled");
    let frozen = IndexedDbStorage::open(&device).await.unwrap();
    let next = IndexedDbStorage::open(&device).await.unwrap();
    let old = frozen.acquire_lease(&holder("frozen"), 1_000, 5_000).await.unwrap();
    frozen.commit(&old, put(Space::History, b"a", b"before")).await.unwrap();
    // The frozen tab's lease expired; the next tab takes the lock from it.
    let new = next.acquire_lease(&holder("next"), 6_000, 5_000).await.unwrap();
    assert!(new.token > old.token);
    assert!(next.holds_writer_lock());
    let mut lost = false;
    for _ in 0..100 {
        if !frozen.holds_writer_lock() {
            lost = true;
            break;
        }
        sleep_ms(10).await;
    }
    assert!(lost, "the frozen tab learns that its lock was taken");
    let err = frozen.commit(&old, put(Space::History, b"a", b"late")).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseLost), "{err:?}");
    let err = frozen.renew_lease(&old, 6_001, 5_000).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseLost), "{err:?}");
    next.commit(&new, put(Space::History, b"b", b"after")).await.unwrap();
    let all = next.scan(Space::History, &Scan::all()).await.unwrap();
    assert_eq!(all, vec![(b"a".to_vec(), b"before".to_vec()), (b"b".to_vec(), b"after".to_vec())]);
}

#[wasm_bindgen_test]
async fn a_newer_app_in_another_tab_is_not_blocked_and_this_one_refuses_its_database() {
    let device = fresh("upgrade");
    let old = IndexedDbStorage::open(&device).await.unwrap();
    // A newer version of the app opens the database at schema version 2:
    // this tab's connection steps aside instead of blocking the upgrade.
    let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
    let req = factory.open_with_u32(old.database_name(), 2).unwrap();
    let opened = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
        req.set_onblocked(Some(&reject));
    });
    let event = JsFuture::from(opened).await.unwrap();
    let kind = Reflect::get(&event, &"type".into()).unwrap().as_string();
    assert_eq!(kind.as_deref(), Some("success"), "the upgrade was not blocked by the old tab");
    let db: web_sys::IdbDatabase = req.result().unwrap().dyn_into().unwrap();
    db.close();
    let err = old.get(Space::Account, b"me").await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable { .. }), "{err:?}");
    // This version refuses the newer database with a clear error.
    let err = IndexedDbStorage::open(&device).await.unwrap_err();
    assert!(matches!(err, StorageError::UnsupportedVersion { found: 2, supported: 1 }), "{err:?}");
}

// ---- the transport ----

#[wasm_bindgen_test]
async fn the_clock_reads_the_wall_clock_and_sleeps() {
    let clock = BrowserClock;
    let before = clock.now_ms();
    assert!(before > 1_600_000_000_000, "Unix milliseconds: {before}");
    clock.sleep(Duration::from_millis(50)).await;
    let slept = clock.now_ms() - before;
    assert!((45..5_000).contains(&slept), "slept {slept} ms");
}

#[wasm_bindgen_test]
async fn an_unreachable_server_is_reported_as_such() {
    // Nothing listens on the discard port (and Chromium refuses it).
    let err = BrowserConnector::new().connect("ws://127.0.0.1:9/v1/ws").await.unwrap_err();
    assert_eq!(err, TransportError::Unreachable);
    let err = BrowserConnector::new().connect("ftp://example.invalid/").await.unwrap_err();
    assert!(matches!(err, TransportError::Failed(_)), "{err:?}");
}

/// The server the script started, if any.
fn server_url() -> Option<&'static str> {
    let url = option_env!("STADTBOTE_TEST_SERVER_WS").filter(|u| !u.is_empty());
    if url.is_none() {
        console_log!(
            "SKIPPED: no stadtbote-server for the transport tests (STADTBOTE_TEST_SERVER_WS unset \
             at build time); scripts/test-browser.sh under CI=true requires one"
        );
    }
    url
}

#[wasm_bindgen_test]
async fn the_core_talks_to_a_real_server_over_the_browser_websocket() {
    let Some(url) = server_url() else { return };
    let (mut connection, challenge) =
        Connection::open(&BrowserConnector::new(), BrowserClock, url).await.unwrap();
    assert_eq!(challenge.nonce.len(), 32, "the server's challenge arrived");
    let answer = connection.call(Request::Ping).await.unwrap();
    assert_eq!(answer, Ok(Response::Pong));
    assert_eq!(connection.call(Request::Ping).await.unwrap(), Ok(Response::Pong));
    assert_eq!(connection.next_event(Duration::from_millis(100)).await.unwrap(), None);
    connection.close().await;
}

#[wasm_bindgen_test]
async fn a_close_by_the_server_is_reported_after_the_frames_before_it() {
    let Some(url) = server_url() else { return };
    let mut transport = BrowserConnector::new().connect(url).await.unwrap();
    let challenge = transport.recv().await.unwrap();
    assert!(!challenge.is_empty());
    // Garbage frames: the server answers each with an error frame and
    // closes the connection (1008, with a close frame) after too many.
    let mut errors = 0;
    let end = loop {
        if let Err(e) = transport.send(vec![0xff, 0x00, 0x13]).await {
            break e;
        }
        match transport.recv().await {
            Ok(_) => errors += 1,
            Err(e) => break e,
        }
        assert!(errors < 1000, "the server never closed");
    };
    assert!(errors >= 1, "error frames before the close");
    assert_eq!(end, TransportError::Closed, "a clean close by the server");
    assert_eq!(transport.recv().await, Err(TransportError::Closed), "and it stays closed");
    assert_eq!(transport.send(vec![1]).await, Err(TransportError::Closed));
}

#[wasm_bindgen_test]
async fn the_receive_buffer_is_bounded() {
    let Some(url) = server_url() else { return };
    // A frame larger than the transport accepts: the connection is closed
    // and the reader is told why, not handed a truncated frame.
    let tiny =
        BrowserConnector { limits: ReceiveLimits { max_frame: 8, ..ReceiveLimits::default() } };
    let mut transport = tiny.connect(url).await.unwrap();
    let err = transport.recv().await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(reason) if reason.contains("more than 8")),
        "{err:?}"
    );
    // Through the core's connection, the same is a typed connection error.
    let err = Connection::open(&tiny, BrowserClock, url).await.unwrap_err();
    assert_eq!(err, ConnectionError::Unreachable { url: url.to_string() });

    // More unread frames than the buffer holds: the frames received before
    // are read first, then the error.
    let two =
        BrowserConnector { limits: ReceiveLimits { max_frames: 2, ..ReceiveLimits::default() } };
    let mut transport = two.connect(url).await.unwrap();
    for _ in 0..4 {
        transport.send(vec![0xff, 0x00, 0x13]).await.unwrap();
    }
    sleep_ms(500).await;
    assert_eq!(transport.buffered(), 2, "the challenge and one error frame");
    assert!(transport.recv().await.is_ok());
    assert!(transport.recv().await.is_ok());
    let err = transport.recv().await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(reason) if reason.contains("receive buffer")),
        "{err:?}"
    );
}

/// A measurement, not a check: one history record committed into a store
/// of 1,000 (sealing and one strict-durability transaction each), and the
/// newest 50 read back. Run with
/// `scripts/test-browser.sh --test browser -- --include-ignored --nocapture measure`.
#[wasm_bindgen_test]
#[ignore = "a measurement, not a check"]
async fn measure_indexed_db_commit_and_page() {
    let store = IndexedDbStorage::open(&fresh("measure")).await.unwrap();
    let lease = store.acquire_lease(&holder("bench"), 0, u64::MAX / 2).await.unwrap();
    let record = |n: u64| {
        format!(
            "Nachricht {n}: Die Sprechstunde ist morgen um zehn Uhr im Rathaus. {}",
            "x".repeat(200)
        )
        .into_bytes()
    };
    let mut batch = Batch::new();
    for n in 0..1000u64 {
        batch.put(Space::History, n.to_be_bytes().to_vec(), record(n));
    }
    let start = js_sys::Date::now();
    store.commit(&lease, batch).await.unwrap();
    let bulk = js_sys::Date::now() - start;
    let runs = 100u64;
    let start = js_sys::Date::now();
    for n in 1000..1000 + runs {
        store.commit(&lease, put(Space::History, &n.to_be_bytes(), &record(n))).await.unwrap();
    }
    let per_commit = (js_sys::Date::now() - start) / runs as f64;
    let start = js_sys::Date::now();
    for _ in 0..runs {
        let page = store.scan(Space::History, &Scan::all().reverse().limit(50)).await.unwrap();
        assert_eq!(page.len(), 50);
    }
    let per_page = (js_sys::Date::now() - start) / runs as f64;
    console_log!(
        "IndexedDB: 1,000 records in one commit {bulk:.0} ms; one more record {per_commit:.2} ms per commit; newest 50 of 1,100 {per_page:.2} ms per page"
    );
}
