//! [`IndexedDbStorage`]: the client core's [`Storage`] in one IndexedDB
//! database per device, every value sealed at rest ([`crate::at_rest`]).
//!
//! | object store | key | value |
//! |---|---|---|
//! | `records` | space name ‖ 0x00 ‖ record key (binary) | sealed record |
//! | `chunks` | blob key ‖ chunk index (u32 BE) (binary) | sealed chunk |
//! | `meta` | `"lease"` | the [`LeaseRecord`], CBOR (not secret: holder id and token) |
//! | `meta` | `"at-rest-key"` | `{ id, key }`: the non-extractable `CryptoKey` |
//!
//! **Commit.** WebCrypto is asynchronous and an IndexedDB transaction
//! commits as soon as it has nothing to wait for, so the batch's values are
//! sealed first; then ONE readwrite transaction over `meta` and `records`
//! reads the lease record, checks the lease's fencing token, and issues
//! every put and delete from within that read's success handler (so the
//! transaction can never commit half-way through our code); any failure
//! aborts it, and IndexedDB then applies none of it. `commit` returns after
//! the transaction's `complete` event, with `durability: "strict"` (the
//! browser has flushed it to disk; its default "relaxed" may only have
//! handed it to the OS).
//!
//! **The lease** follows [`LeaseRecord`]'s rules, stored in `meta` and
//! checked inside every write transaction (the fencing). Liveness comes
//! from the Web Locks API ([`crate::web_lock`]): the handle that holds the
//! lease also holds the exclusive lock `stadtbote-writer:<database>`, so
//!
//! * a second tab asking for the lease while the first tab lives gets
//!   [`StorageError::LeaseHeld`] and stays read-only (reads need no lease);
//! * when the holder's tab is closed or crashes, the browser releases its
//!   lock and the next tab takes the lease over at once, before the expiry
//!   (like the file backend's lock file of a killed process);
//! * a holder whose lease expired (a frozen tab) has its lock stolen by the
//!   next acquirer; its writes are then refused twice over: by this handle
//!   (it no longer holds the lock) and by the token check in IndexedDB.
//!
//! Writes (commit, chunks, renew) need this handle to hold the lock for
//! the lease's token.
//!
//! [`Batch::erase_deleted`] cannot make the browser compact its files at
//! once: deleted values may stay in the browser's files until it compacts
//! them, sealed under the device's key (docs/PRIVACY.md).

use std::cell::RefCell;
use std::ops::Bound;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use stadtbote_client::storage::{
    Batch, BlobKey, HolderId, Lease, LeaseRecord, Op, Scan, Space, Storage, StorageError,
    check_value_len,
};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CryptoKey, Event, IdbCursorDirection, IdbCursorWithValue, IdbDatabase, IdbKeyRange,
    IdbObjectStore, IdbOpenDbRequest, IdbTransaction,
};

use crate::at_rest::{self, AtRestKey, FIRST_KEY_ID};
use crate::js;
use crate::layout::{self, Kind};
use crate::web_lock::{self, WebLock};

/// The prefix of every device database's name.
pub const DATABASE_PREFIX: &str = "stadtbote-device-";
/// The IndexedDB schema version this code creates and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The prefix of the writer lock's name (followed by the database name).
pub const LOCK_PREFIX: &str = "stadtbote-writer:";

const RECORDS: &str = "records";
const CHUNKS: &str = "chunks";
const META: &str = "meta";
const LEASE_KEY: &str = "lease";
const KEY_KEY: &str = "at-rest-key";

fn unavailable(action: &str, error: &JsValue) -> StorageError {
    StorageError::Unavailable { reason: format!("{action}: {}", js::describe(error)) }
}

/// A failed transaction's error as a storage error (a full quota is
/// [`StorageError::NoSpace`]).
fn transaction_error(error: &JsValue) -> StorageError {
    match js::error_name(error).as_deref() {
        Some("QuotaExceededError") => StorageError::NoSpace,
        _ => unavailable("IndexedDB transaction", error),
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt { what: what.to_string() }
}

/// One device's store in IndexedDB. Handles are cheap; several may be open
/// on one database (in one tab or several), as the [`Storage`] contract
/// allows. The database is opened on first use.
pub struct IndexedDbStorage {
    database: String,
    opened: RefCell<Option<Rc<Opened>>>,
    /// The writer lock this handle holds, with the token of its lease.
    writer: RefCell<Option<Writer>>,
}

struct Opened {
    db: IdbDatabase,
    key: AtRestKey,
    /// Closes the connection when another tab opens the database at a newer
    /// schema version (a newer app), which would otherwise wait for this
    /// tab to close; this handle's calls then fail as unavailable.
    _on_version_change: Closure<dyn FnMut(JsValue)>,
}

struct Writer {
    token: u64,
    lock: WebLock,
}

impl std::fmt::Debug for IndexedDbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedDbStorage").field("database", &self.database).finish_non_exhaustive()
    }
}

impl Drop for IndexedDbStorage {
    fn drop(&mut self) {
        // Dropping the writer releases its Web Lock: the next tab may take
        // the lease over at once, as after a closed tab.
        self.writer.get_mut().take();
        if let Some(opened) = self.opened.get_mut().take() {
            opened.db.set_onversionchange(None);
            opened.db.close();
        }
    }
}

/// A transaction on `stores`; writes are `durability: "strict"`.
fn transaction(
    db: &IdbDatabase,
    stores: &[&str],
    write: bool,
) -> Result<IdbTransaction, StorageError> {
    let names = Array::new();
    for store in stores {
        names.push(&(*store).into());
    }
    let options = Object::new();
    let mode = if write {
        // web-sys has the options argument only behind its unstable cfg.
        Reflect::set(&options, &"durability".into(), &"strict".into())
            .map_err(|e| unavailable("transaction options", &e))?;
        "readwrite"
    } else {
        "readonly"
    };
    let open = Reflect::get(db, &"transaction".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or(StorageError::Unavailable { reason: "IDBDatabase.transaction".into() })?;
    open.call3(db, &names, &mode.into(), &options)
        .map_err(|e| unavailable("starting an IndexedDB transaction", &e))?
        .dyn_into::<IdbTransaction>()
        .map_err(|_| StorageError::Unavailable { reason: "no IDBTransaction".into() })
}

fn store(tx: &IdbTransaction, name: &str) -> Result<IdbObjectStore, StorageError> {
    tx.object_store(name).map_err(|e| unavailable("object store", &e))
}

/// In one readwrite transaction over `stores` (which include `meta`): reads
/// `meta[read_key]`, then runs `body` from that read's success handler, so
/// that every request `body` issues belongs to the same transaction and
/// nothing can commit it in between. `body`'s error aborts the
/// transaction. Returns `body`'s value once the transaction completed.
async fn read_then_write<T: 'static>(
    db: &IdbDatabase,
    stores: &[&str],
    read_key: &str,
    body: impl FnOnce(&IdbTransaction, JsValue) -> Result<T, StorageError> + 'static,
) -> Result<T, StorageError> {
    let tx = transaction(db, stores, true)?;
    let req =
        store(&tx, META)?.get(&read_key.into()).map_err(|e| unavailable("IndexedDB read", &e))?;
    let outcome: Rc<RefCell<Option<Result<T, StorageError>>>> = Rc::default();
    let slot = outcome.clone();
    let (tx_in, req_in) = (tx.clone(), req.clone());
    let handler = Closure::once_into_js(move |_: Event| {
        let value = req_in.result().unwrap_or(JsValue::UNDEFINED);
        let result = body(&tx_in, value);
        if result.is_err() {
            let _ = tx_in.abort();
        }
        *slot.borrow_mut() = Some(result);
    });
    req.set_onsuccess(Some(handler.unchecked_ref()));
    let done = js::transaction_done(&tx).await;
    let result = outcome.borrow_mut().take();
    match (done, result) {
        (_, Some(Err(error))) => Err(error),
        (Ok(()), Some(Ok(value))) => Ok(value),
        (Err(error), _) => Err(transaction_error(&error)),
        (Ok(()), None) => Err(StorageError::Unavailable {
            reason: "the transaction ended before its read".into(),
        }),
    }
}

fn decode_lease(value: &JsValue) -> Result<LeaseRecord, StorageError> {
    if value.is_undefined() {
        return Ok(LeaseRecord::default());
    }
    let bytes = js::to_bytes(value).ok_or_else(|| corrupt("lease record type"))?;
    ciborium::from_reader(bytes.as_slice()).map_err(|_| corrupt("lease record"))
}

fn encode_lease(record: &LeaseRecord) -> Result<JsValue, StorageError> {
    let mut out = Vec::new();
    ciborium::into_writer(record, &mut out).map_err(|_| corrupt("lease record encoding"))?;
    Ok(js::bytes(&out).into())
}

fn put_lease(tx: &IdbTransaction, record: &LeaseRecord) -> Result<(), StorageError> {
    store(tx, META)?
        .put_with_key(&encode_lease(record)?, &LEASE_KEY.into())
        .map(|_| ())
        .map_err(|e| unavailable("writing the lease", &e))
}

/// A range of binary keys; `lower_open`/`upper_open` exclude the bound.
fn key_range(
    lower: &[u8],
    lower_open: bool,
    upper: &[u8],
    upper_open: bool,
) -> Result<IdbKeyRange, StorageError> {
    IdbKeyRange::bound_with_lower_open_and_upper_open(
        &js::bytes(lower),
        &js::bytes(upper),
        lower_open,
        upper_open,
    )
    .map_err(|e| unavailable("key range", &e))
}

/// Opens (creating or upgrading) the database `name`.
async fn open_database(name: &str) -> Result<IdbDatabase, StorageError> {
    let scope = js::scope()
        .ok_or(StorageError::Unavailable { reason: "no window or worker scope".into() })?;
    let factory = scope
        .indexed_db()
        .map_err(|e| unavailable("indexedDB", &e))?
        .ok_or(StorageError::Unavailable { reason: "this browser offers no IndexedDB".into() })?;
    let req: IdbOpenDbRequest = factory
        .open_with_u32(name, SCHEMA_VERSION)
        .map_err(|e| unavailable("opening IndexedDB", &e))?;
    let upgrading = req.clone();
    // Creates what is missing; runs inside the version-change transaction.
    let upgrade = Closure::once_into_js(move |_: Event| {
        let Ok(db) =
            upgrading.result().and_then(|db| db.dyn_into::<IdbDatabase>().map_err(Into::into))
        else {
            return;
        };
        let names = db.object_store_names();
        for name in [RECORDS, CHUNKS, META] {
            if !names.contains(name) {
                let _ = db.create_object_store(name);
            }
        }
    });
    req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    let result = js::request(&req).await;
    req.set_onupgradeneeded(None);
    match result {
        Ok(db) => db
            .dyn_into::<IdbDatabase>()
            .map_err(|_| StorageError::Unavailable { reason: "no IDBDatabase".into() }),
        // The database was created by a newer version of the app.
        Err(e) if js::error_name(&e).as_deref() == Some("VersionError") => {
            Err(StorageError::UnsupportedVersion {
                found: stored_version(&factory, name).await.unwrap_or(SCHEMA_VERSION + 1),
                supported: SCHEMA_VERSION,
            })
        }
        Err(e) => Err(unavailable("opening IndexedDB", &e)),
    }
}

/// The schema version of the existing database `name` (opened without a
/// version, which never upgrades an existing database).
async fn stored_version(factory: &web_sys::IdbFactory, name: &str) -> Option<u32> {
    let req = factory.open(name).ok()?;
    let db = js::request(&req).await.ok()?.dyn_into::<IdbDatabase>().ok()?;
    let version = db.version();
    db.close();
    Some(version as u32)
}

/// The database's at-rest key: loaded, or generated and stored on first
/// use. Two tabs that start at once both generate one; the transaction
/// keeps whichever was stored first.
async fn load_key(db: &IdbDatabase) -> Result<AtRestKey, StorageError> {
    fn parse(value: &JsValue) -> Result<Option<(u32, CryptoKey)>, StorageError> {
        if value.is_undefined() {
            return Ok(None);
        }
        let id = Reflect::get(value, &"id".into())
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|id| id.fract() == 0.0 && *id >= 0.0 && *id <= f64::from(u32::MAX))
            .ok_or_else(|| corrupt("at-rest key id"))?;
        let key = Reflect::get(value, &"key".into())
            .ok()
            .and_then(|k| k.dyn_into::<CryptoKey>().ok())
            .ok_or_else(|| corrupt("at-rest key"))?;
        Ok(Some((id as u32, key)))
    }

    let tx = transaction(db, &[META], false)?;
    let req =
        store(&tx, META)?.get(&KEY_KEY.into()).map_err(|e| unavailable("IndexedDB read", &e))?;
    let value = js::request(&req).await.map_err(|e| unavailable("reading the at-rest key", &e))?;
    if let Some((id, key)) = parse(&value)? {
        return AtRestKey::new(id, key);
    }
    let fresh = at_rest::generate_key().await?;
    let (id, key) = read_then_write(db, &[META], KEY_KEY, move |tx, value| {
        if let Some(existing) = parse(&value)? {
            return Ok(existing);
        }
        let entry = Object::new();
        Reflect::set(&entry, &"id".into(), &FIRST_KEY_ID.into())
            .and_then(|_| Reflect::set(&entry, &"key".into(), &fresh))
            .map_err(|e| unavailable("at-rest key entry", &e))?;
        store(tx, META)?
            .put_with_key(&entry, &KEY_KEY.into())
            .map_err(|e| unavailable("storing the at-rest key", &e))?;
        Ok((FIRST_KEY_ID, fresh))
    })
    .await?;
    AtRestKey::new(id, key)
}

/// A batch operation with its value sealed, ready for the transaction.
enum Prepared {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
}

impl IndexedDbStorage {
    /// A handle on the store of device `device` (database
    /// `stadtbote-device-<device>`); opened on first use. `device` is a
    /// local name chosen by the app (never user data).
    pub fn new(device: &str) -> Self {
        Self {
            database: format!("{DATABASE_PREFIX}{device}"),
            opened: RefCell::new(None),
            writer: RefCell::new(None),
        }
    }

    /// [`IndexedDbStorage::new`], opening the database (and creating its
    /// at-rest key) now, so that an unusable browser storage is reported
    /// before anything else happens.
    pub async fn open(device: &str) -> Result<Self, StorageError> {
        let storage = Self::new(device);
        storage.opened().await?;
        Ok(storage)
    }

    /// The IndexedDB database's name.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// The name of the Web Lock held by this device's writer.
    pub fn lock_name(&self) -> String {
        format!("{LOCK_PREFIX}{}", self.database)
    }

    /// Whether this handle holds the device's writer lock (it holds the
    /// lease and nobody stole the lock).
    pub fn holds_writer_lock(&self) -> bool {
        self.writer.borrow().as_ref().is_some_and(|w| w.lock.is_held())
    }

    /// Whether another tab (or another handle) is the device's writer now:
    /// what a second tab asks to show "read-only" without trying to
    /// acquire the lease.
    pub async fn writer_elsewhere(&self) -> Result<bool, StorageError> {
        Ok(!self.holds_writer_lock() && WebLock::is_held_anywhere(&self.lock_name()).await?)
    }

    async fn opened(&self) -> Result<Rc<Opened>, StorageError> {
        if let Some(opened) = self.opened.borrow().as_ref() {
            return Ok(opened.clone());
        }
        let db = open_database(&self.database).await?;
        let key = match load_key(&db).await {
            Ok(key) => key,
            Err(error) => {
                db.close();
                return Err(error);
            }
        };
        let mut slot = self.opened.borrow_mut();
        if let Some(opened) = slot.as_ref() {
            // Another call of this handle opened it meanwhile.
            db.close();
            return Ok(opened.clone());
        }
        let closing = db.clone();
        let on_version_change = Closure::<dyn FnMut(JsValue)>::new(move |_| closing.close());
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        let opened = Rc::new(Opened { db, key, _on_version_change: on_version_change });
        *slot = Some(opened.clone());
        Ok(opened)
    }

    /// Refuses writes unless this handle holds the writer lock for `lease`.
    fn check_writer(&self, lease: &Lease) -> Result<(), StorageError> {
        match self.writer.borrow().as_ref() {
            Some(writer) if writer.token == lease.token && writer.lock.is_held() => Ok(()),
            _ => Err(StorageError::LeaseLost),
        }
    }

    async fn read_lease(&self, opened: &Opened) -> Result<LeaseRecord, StorageError> {
        let tx = transaction(&opened.db, &[META], false)?;
        let req = store(&tx, META)?
            .get(&LEASE_KEY.into())
            .map_err(|e| unavailable("IndexedDB read", &e))?;
        let value = js::request(&req).await.map_err(|e| unavailable("reading the lease", &e))?;
        decode_lease(&value)
    }

    /// Reads one value of `store_name` and opens it.
    async fn get_sealed(
        &self,
        store_name: &str,
        kind: Kind,
        location: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let opened = self.opened().await?;
        let tx = transaction(&opened.db, &[store_name], false)?;
        let req = store(&tx, store_name)?
            .get(&js::bytes(location))
            .map_err(|e| unavailable("IndexedDB read", &e))?;
        let value = js::request(&req).await.map_err(|e| unavailable("IndexedDB read", &e))?;
        if value.is_undefined() {
            return Ok(None);
        }
        let stored = js::to_bytes(&value).ok_or_else(|| corrupt("stored value type"))?;
        opened.key.open(kind, location, &stored).await.map(Some)
    }

    /// Runs `ops` on `store_name` in one fenced write transaction.
    async fn write_fenced(
        &self,
        opened: &Opened,
        store_name: &'static str,
        lease: &Lease,
        ops: Vec<Prepared>,
    ) -> Result<(), StorageError> {
        let lease = lease.clone();
        read_then_write(&opened.db, &[META, store_name], LEASE_KEY, move |tx, value| {
            decode_lease(&value)?.check(&lease)?;
            let target = store(tx, store_name)?;
            for op in ops {
                let issued = match op {
                    Prepared::Put(key, value) => {
                        target.put_with_key(&js::bytes(&value), &js::bytes(&key))
                    }
                    Prepared::Delete(key) => target.delete(&js::bytes(&key)),
                    Prepared::DeleteRange(lower, upper) => {
                        let range = key_range(&lower, false, &upper, true)?;
                        target.delete(&range)
                    }
                };
                issued.map_err(|e| unavailable("IndexedDB write", &e))?;
            }
            Ok(())
        })
        .await
    }

    /// Runs the lease change `change` (given the stored record, it returns
    /// the record to store and its result) in one write transaction.
    async fn change_lease<T: 'static>(
        &self,
        opened: &Opened,
        change: impl FnOnce(&LeaseRecord) -> Result<(LeaseRecord, T), StorageError> + 'static,
    ) -> Result<T, StorageError> {
        read_then_write(&opened.db, &[META], LEASE_KEY, move |tx, value| {
            let (record, result) = change(&decode_lease(&value)?)?;
            put_lease(tx, &record)?;
            Ok(result)
        })
        .await
    }
}

impl Storage for IndexedDbStorage {
    async fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_sealed(RECORDS, Kind::Record, &layout::record_key(space, key)).await
    }

    async fn scan(
        &self,
        space: Space,
        scan: &Scan,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError> {
        let limit = scan.limit.unwrap_or(usize::MAX);
        if limit == 0 || scan.is_empty_range() {
            return Ok(Vec::new());
        }
        let (lower, lower_open) = match &scan.lower {
            Bound::Included(k) => (layout::record_key(space, k), false),
            Bound::Excluded(k) => (layout::record_key(space, k), true),
            Bound::Unbounded => (layout::space_start(space), false),
        };
        let (upper, upper_open) = match &scan.upper {
            Bound::Included(k) => (layout::record_key(space, k), false),
            Bound::Excluded(k) => (layout::record_key(space, k), true),
            Bound::Unbounded => (layout::space_end(space), true),
        };
        if lower > upper || (lower == upper && (lower_open || upper_open)) {
            return Ok(Vec::new());
        }
        let opened = self.opened().await?;
        let tx = transaction(&opened.db, &[RECORDS], false)?;
        let range = key_range(&lower, lower_open, &upper, upper_open)?;
        let direction =
            if scan.reverse { IdbCursorDirection::Prev } else { IdbCursorDirection::Next };
        let req = store(&tx, RECORDS)?
            .open_cursor_with_range_and_direction(&range, direction)
            .map_err(|e| unavailable("IndexedDB scan", &e))?;

        // The cursor advances from its own success handler until the limit
        // or the end of the range; the rows are opened afterwards.
        let rows: Rc<RefCell<Vec<(Vec<u8>, Vec<u8>)>>> = Rc::default();
        let failure: Rc<RefCell<Option<StorageError>>> = Rc::default();
        let step: Rc<RefCell<Option<Closure<dyn FnMut(Event)>>>> = Rc::default();
        let done = Promise::new(&mut |resolve, reject| {
            let (rows, failure, cursor_req) = (rows.clone(), failure.clone(), req.clone());
            let handler = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                let finish = || {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                };
                let cursor = match cursor_req.result() {
                    Ok(c) if !c.is_null() && !c.is_undefined() => c,
                    _ => return finish(),
                };
                let Ok(cursor) = cursor.dyn_into::<IdbCursorWithValue>() else {
                    *failure.borrow_mut() = Some(corrupt("cursor"));
                    return finish();
                };
                let key = cursor.key().ok().and_then(|k| js::to_bytes(&k));
                let value = cursor.value().ok().and_then(|v| js::to_bytes(&v));
                let (Some(key), Some(value)) = (key, value) else {
                    *failure.borrow_mut() = Some(corrupt("record key or value type"));
                    return finish();
                };
                let mut rows = rows.borrow_mut();
                rows.push((key, value));
                if rows.len() >= limit || cursor.continue_().is_err() {
                    finish();
                }
            });
            req.set_onsuccess(Some(handler.as_ref().unchecked_ref()));
            req.set_onerror(Some(&reject));
            *step.borrow_mut() = Some(handler);
        });
        let outcome = JsFuture::from(done).await;
        req.set_onsuccess(None);
        req.set_onerror(None);
        step.borrow_mut().take();
        outcome.map_err(|e| unavailable("IndexedDB scan", &e))?;
        if let Some(error) = failure.borrow_mut().take() {
            return Err(error);
        }
        let rows = std::mem::take(&mut *rows.borrow_mut());
        let mut out = Vec::with_capacity(rows.len());
        for (stored_key, stored) in rows {
            let key = layout::split_record_key(space, &stored_key)
                .ok_or_else(|| corrupt("record key outside its space"))?
                .to_vec();
            let value = opened.key.open(Kind::Record, &stored_key, &stored).await?;
            out.push((key, value));
        }
        Ok(out)
    }

    async fn commit(&self, lease: &Lease, batch: Batch) -> Result<(), StorageError> {
        batch.check_limits()?;
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        // Seal first: the transaction cannot wait for WebCrypto.
        let mut ops = Vec::with_capacity(batch.len());
        for op in batch.into_ops() {
            ops.push(match op {
                Op::Put { space, key, value } => {
                    let location = layout::record_key(space, &key);
                    let sealed = opened.key.seal(Kind::Record, &location, &value).await?;
                    Prepared::Put(location, sealed)
                }
                Op::Delete { space, key } => Prepared::Delete(layout::record_key(space, &key)),
                Op::DeletePrefix { space, prefix } => Prepared::DeleteRange(
                    layout::record_key(space, &prefix),
                    layout::prefix_end_in_space(space, &prefix),
                ),
            });
        }
        self.write_fenced(&opened, RECORDS, lease, ops).await
    }

    async fn put_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        check_value_len(bytes.len())?;
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        let location = layout::chunk_key(blob, index);
        let sealed = opened.key.seal(Kind::Chunk, &location, bytes).await?;
        self.write_fenced(&opened, CHUNKS, lease, vec![Prepared::Put(location, sealed)]).await
    }

    async fn get_chunk(&self, blob: BlobKey, index: u32) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_sealed(CHUNKS, Kind::Chunk, &layout::chunk_key(blob, index)).await
    }

    async fn chunk_indexes(&self, blob: BlobKey) -> Result<Vec<u32>, StorageError> {
        let opened = self.opened().await?;
        let tx = transaction(&opened.db, &[CHUNKS], false)?;
        let range = key_range(
            &layout::chunk_key(blob, 0),
            false,
            &layout::chunk_key(blob, u32::MAX),
            false,
        )?;
        let req = store(&tx, CHUNKS)?
            .get_all_keys_with_key(&range)
            .map_err(|e| unavailable("IndexedDB read", &e))?;
        let keys = js::request(&req).await.map_err(|e| unavailable("IndexedDB read", &e))?;
        Array::from(&keys)
            .iter()
            .map(|key| {
                js::to_bytes(&key)
                    .and_then(|key| layout::split_chunk_key(blob, &key))
                    .ok_or_else(|| corrupt("chunk key"))
            })
            .collect()
    }

    async fn remove_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
    ) -> Result<(), StorageError> {
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        let ops = vec![Prepared::Delete(layout::chunk_key(blob, index))];
        self.write_fenced(&opened, CHUNKS, lease, ops).await
    }

    async fn remove_chunks(&self, lease: &Lease, blob: BlobKey) -> Result<(), StorageError> {
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        let mut end = layout::chunk_key(blob, u32::MAX);
        end.push(0);
        let ops = vec![Prepared::DeleteRange(layout::chunk_key(blob, 0), end)];
        self.write_fenced(&opened, CHUNKS, lease, ops).await
    }

    async fn acquire_lease(
        &self,
        holder: &HolderId,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError> {
        let opened = self.opened().await?;
        // Take the writer lock first (unless this handle has it): who holds
        // it is alive, so an unexpired lease of a holder without it is a
        // closed tab's.
        let (lock, holder_gone) = if self.holds_writer_lock() {
            (None, false)
        } else {
            let name = self.lock_name();
            let record = self.read_lease(&opened).await?;
            match &record.current {
                Some(current) if now_ms < current.expires_at => {
                    if WebLock::is_held_anywhere(&name).await? {
                        return Err(StorageError::LeaseHeld { expires_at: current.expires_at });
                    }
                    match WebLock::request(&name, web_lock::Request::IfAvailable).await? {
                        Some(lock) => (Some(lock), true),
                        None => {
                            return Err(StorageError::LeaseHeld { expires_at: current.expires_at });
                        }
                    }
                }
                // Expired: its holder stalled (a frozen tab) and may still
                // hold the lock; take the lock from it.
                Some(_) => match WebLock::request(&name, web_lock::Request::IfAvailable).await? {
                    Some(lock) => (Some(lock), true),
                    None => match WebLock::request(&name, web_lock::Request::Steal).await? {
                        Some(lock) => (Some(lock), false),
                        None => return Err(StorageError::LeaseHeld { expires_at: now_ms }),
                    },
                },
                // No lease: the lock is free unless another handle is just
                // acquiring (between taking the lock and storing its lease).
                None => match WebLock::request(&name, web_lock::Request::IfAvailable).await? {
                    Some(lock) => (Some(lock), true),
                    None => return Err(StorageError::LeaseHeld { expires_at: now_ms }),
                },
            }
        };
        let holder = holder.clone();
        let result = self
            .change_lease(&opened, move |record| {
                record.acquire(&holder, now_ms, ttl_ms, holder_gone)
            })
            .await;
        match result {
            Ok(lease) => {
                let mut writer = self.writer.borrow_mut();
                match (lock, writer.as_mut()) {
                    (Some(lock), _) => *writer = Some(Writer { token: lease.token, lock }),
                    (None, Some(mine)) => mine.token = lease.token,
                    (None, None) => return Err(StorageError::LeaseLost),
                }
                Ok(lease)
            }
            Err(error) => {
                if let Some(lock) = lock {
                    lock.release().await;
                }
                Err(error)
            }
        }
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError> {
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        let lease = lease.clone();
        self.change_lease(&opened, move |record| record.renew(&lease, now_ms, ttl_ms)).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StorageError> {
        self.check_writer(lease)?;
        let opened = self.opened().await?;
        let given = lease.clone();
        let result =
            self.change_lease(&opened, move |record| Ok((record.release(&given)?, ()))).await;
        if matches!(result, Ok(()) | Err(StorageError::LeaseLost)) {
            let writer = self.writer.borrow_mut().take();
            if let Some(writer) = writer {
                writer.lock.release().await;
            }
        }
        result
    }
}
