//! [`DeviceStore`]: a device's [`State`], processed envelope ids and MLS key
//! store in the core's [`Storage`], as a [`FileStorage`] under
//! `<home>/store/`, written as one change batch per save.
//!
//! Saving maps the state to records ([`crate::state_records`]), compares
//! them with the records committed last and stages the MLS key store's
//! changed entries ([`MlsKeyStore`]); all of that is **one**
//! [`Storage::commit`]: one journal append and one `fdatasync`, whose size
//! is what changed (one message sent: one history record, one outbox
//! delete and a few MLS entries), not the whole state. A save that changes
//! nothing writes nothing. MLS state and processed envelope ids stay in one
//! batch, so an envelope counts as processed only if the MLS state that
//! processed it is stored too.
//!
//! **Migration.** A home from before (`state.cbor` + `mls.cbor`, no
//! state in the store) is imported on open in one commit; only after that
//! commit is durable are the old files removed. A crash before the commit
//! leaves the old files, and the next open imports them again; a crash
//! after it leaves a store with the state beside old files, which the next
//! open removes without reading. A home is never half-migrated.
//!
//! **Lease.** The store's lease is taken at the first commit of a command
//! (commands that only read write nothing) and fences any other writer; the
//! home's own lock ([`crate::home`]) stays in front of it: it makes a second
//! command wait up to 20 s instead of failing, covers the files outside the
//! store (`follows.cbor`, org keys, photos), and keeps its message and exit
//! code. A process that dies leaves its lease behind; the next one takes it
//! over at once ([`FileStorage`] sees the holder's OS lock released).

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use stadtbote_client::mls_store::{MlsKeyStore, MlsStoreError};
use stadtbote_client::storage::{
    Batch, BlobKey, HolderId, Lease, Op, RecordMap, Scan, Space, Storage, StorageError, changes,
};
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::mls::MlsClient;

use crate::error::ClientError;
use crate::file_storage::FileStorage;
use crate::home::{Home, MLS_FILE, STATE_FILE};
use crate::state::{MLS_FILE_VERSION, MlsFile, STATE_VERSION, State};
use crate::state_records::{self, META_KEY, RecordError, SEEN_PREFIX};

/// The store's directory in the home.
pub const STORE_DIR: &str = "store";
/// How long a lease lasts before it is renewed (a command renews it while it
/// runs; a dead holder is taken over before expiry anyway).
const LEASE_TTL_MS: u64 = 60 * 60 * 1000;
/// Renew when less than this is left.
const LEASE_RENEW_MS: u64 = 10 * 60 * 1000;

/// A device's opened store with what it holds.
pub struct Loaded<S = FileStorage> {
    /// The store.
    pub store: DeviceStore<S>,
    /// The bookkeeping state.
    pub state: State,
    /// Processed envelope ids (oldest first).
    pub seen: VecDeque<u64>,
    /// The MLS client over the stored key store.
    pub mls: MlsClient,
}

/// The store and what it holds as committed (see the module docs), over any
/// of the core's [`Storage`] backends (the CLI's is [`FileStorage`]).
pub struct DeviceStore<S = FileStorage> {
    storage: S,
    home: PathBuf,
    /// Who takes the lease (the CLI: its process id).
    holder: String,
    lease: Option<Lease>,
    /// This mapping's records as committed last.
    committed: RecordMap,
    keys: MlsKeyStore,
}

impl<S> std::fmt::Debug for DeviceStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("home", &self.home)
            .field("records", &self.committed.len())
            .finish_non_exhaustive()
    }
}

/// Runs a [`FileStorage`] future to its end. Its futures do their
/// (blocking) file work when first polled and never wait on anything else,
/// so they are ready at once; this keeps the file-backed entry points
/// (`DeviceStore::open`, `Client::open`) plain functions. The generic,
/// storage-independent paths (`save_at`, `load_existing`) are `async` and
/// awaited: IndexedDB cannot commit synchronously.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The lease holder the CLI's process writes as.
fn process_holder() -> String {
    format!("stadtbote pid {}", std::process::id())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A storage error as the CLI reports local file trouble: damage names the
/// store's directory, another holder is the home's "in use" error.
pub(crate) fn storage_error(home: &Path, error: StorageError) -> ClientError {
    let dir = home.join(STORE_DIR);
    match error {
        StorageError::Corrupt { what } => ClientError::CorruptFile { file: dir, reason: what },
        StorageError::UnsupportedVersion { .. } => {
            ClientError::CorruptFile { file: dir, reason: error.to_string() }
        }
        StorageError::LeaseLost | StorageError::LeaseHeld { .. } => {
            ClientError::Locked { home: home.to_path_buf() }
        }
        StorageError::NoSpace => ClientError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        },
        other => ClientError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::other(other.to_string()),
        },
    }
}

fn record_error(home: &Path, error: RecordError) -> ClientError {
    ClientError::CorruptFile { file: home.join(STORE_DIR), reason: error.to_string() }
}

fn mls_store_error(home: &Path, error: MlsStoreError) -> ClientError {
    match error {
        MlsStoreError::Storage(e) => storage_error(home, e),
        MlsStoreError::Mls(e) => ClientError::Mls(e),
        other => ClientError::CorruptFile { file: home.join(STORE_DIR), reason: other.to_string() },
    }
}

impl DeviceStore<FileStorage> {
    /// An empty store for a device being created (`init`): whatever a
    /// crashed `init` or an interrupted `account delete` left is removed.
    pub fn create(home: &Home) -> Result<DeviceStore<FileStorage>, ClientError> {
        let dir = home.path(STORE_DIR);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ClientError::Io { action: "remove", file: dir, source }),
        }
        home.remove_file(STATE_FILE)?;
        home.remove_file(MLS_FILE)?;
        let storage = FileStorage::open(&dir).map_err(|e| storage_error(home.dir(), e))?;
        Ok(DeviceStore::over(storage, home.dir().to_path_buf(), process_holder()))
    }

    /// Opens the store of an initialised home, importing a home from
    /// before first (see the module docs).
    pub fn open(home: &Home, secret: &DeviceSecret) -> Result<Loaded, ClientError> {
        let storage =
            FileStorage::open(&home.path(STORE_DIR)).map_err(|e| storage_error(home.dir(), e))?;
        let mut store = DeviceStore::over(storage, home.dir().to_path_buf(), process_holder());
        let stored = ready(store.storage.get(Space::Account, META_KEY))
            .map_err(|e| storage_error(home.dir(), e))?;
        if stored.is_none() {
            ready(store.import(home, secret))?;
        }
        // The old files are in the store now (imported above, or by an
        // earlier open that crashed before removing them).
        if home.exists(STATE_FILE) || home.exists(MLS_FILE) {
            home.remove_file(STATE_FILE)?;
            home.remove_file(MLS_FILE)?;
            home.remove_file(&format!("{STATE_FILE}.tmp"))?;
            home.remove_file(&format!("{MLS_FILE}.tmp"))?;
            if let Ok(dir) = std::fs::File::open(home.dir()) {
                dir.sync_all().map_err(|source| ClientError::Io {
                    action: "sync",
                    file: home.dir().to_path_buf(),
                    source,
                })?;
            }
        }
        ready(store.load(secret))
    }

    /// Imports `state.cbor` and `mls.cbor` in one commit.
    async fn import(&mut self, home: &Home, secret: &DeviceSecret) -> Result<(), ClientError> {
        let state: State = home.read_cbor(STATE_FILE)?;
        if state.v != STATE_VERSION {
            return Err(ClientError::CorruptFile {
                file: home.path(STATE_FILE),
                reason: format!("unknown format version {}", state.v),
            });
        }
        let mls_file: MlsFile = home.read_cbor(MLS_FILE)?;
        let corrupt_mls =
            |reason: String| ClientError::CorruptFile { file: home.path(MLS_FILE), reason };
        if mls_file.v != MLS_FILE_VERSION {
            return Err(corrupt_mls(format!("unknown format version {}", mls_file.v)));
        }
        let mls = MlsClient::import_state(secret, state.account, state.device, &mls_file.mls)
            .map_err(|e| corrupt_mls(e.to_string()))?;
        self.save_at(&state, &mls_file.seen_envelopes, &mls, false, now_ms()).await
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.storage.dir()
    }

    /// [`DeviceStore::save_at`] at the system clock's now, run to its end
    /// at once (a [`FileStorage`] commit never waits on anything but the
    /// disk).
    pub fn save(
        &mut self,
        state: &State,
        seen: &VecDeque<u64>,
        mls: &MlsClient,
        erase: bool,
    ) -> Result<(), ClientError> {
        ready(self.save_at(state, seen, mls, erase, now_ms()))
    }
}

impl<S: Storage> DeviceStore<S> {
    /// A store over `storage` (empty, or holding a device's records):
    /// what a front-end without files under `--home` opens. `home` only
    /// names the place in error messages.
    /// `holder` names this writer in the storage's lease (see
    /// [`HolderId`]).
    pub fn over(storage: S, home: PathBuf, holder: String) -> DeviceStore<S> {
        DeviceStore {
            storage,
            home,
            holder,
            lease: None,
            committed: RecordMap::new(),
            keys: MlsKeyStore::new(),
        }
    }

    /// Where the store is, for error messages (`<home>/store` in the CLI).
    pub fn place(&self) -> PathBuf {
        self.home.join(STORE_DIR)
    }

    /// Reads a device's records and MLS key store from the storage.
    pub async fn load_existing(self, secret: &DeviceSecret) -> Result<Loaded<S>, ClientError> {
        self.load(secret).await
    }

    /// Reads this mapping's records and the MLS key store.
    async fn load(mut self, secret: &DeviceSecret) -> Result<Loaded<S>, ClientError> {
        let home = self.home.clone();
        let mut batch = Batch::new();
        for space in state_records::SPACES {
            let scan = if space == Space::Mls { Scan::prefix(SEEN_PREFIX) } else { Scan::all() };
            for (key, value) in
                self.storage.scan(space, &scan).await.map_err(|e| storage_error(&home, e))?
            {
                batch.put(space, key, value);
            }
        }
        self.committed = RecordMap::new();
        self.committed.apply(&batch);
        let (state, seen) =
            state_records::from_records(&self.committed).map_err(|e| record_error(&home, e))?;
        let (mls, keys) = MlsKeyStore::load(&self.storage, secret, state.account, state.device)
            .await
            .map_err(|e| match e {
                MlsStoreError::Mls(e) => {
                    ClientError::CorruptFile { file: home.join(STORE_DIR), reason: e.to_string() }
                }
                other => mls_store_error(&home, other),
            })?;
        self.keys = keys;
        Ok(Loaded { store: self, state, seen, mls })
    }

    /// The lease, taken or renewed as needed.
    async fn lease(&mut self, now: u64) -> Result<Lease, ClientError> {
        let lease = match self.lease.take() {
            None => {
                let holder =
                    HolderId::new(self.holder.clone()).map_err(|e| storage_error(&self.home, e))?;
                self.storage.acquire_lease(&holder, now, LEASE_TTL_MS).await
            }
            Some(lease) if lease.expires_at.saturating_sub(now) < LEASE_RENEW_MS => {
                self.storage.renew_lease(&lease, now, LEASE_TTL_MS).await
            }
            Some(lease) => Ok(lease),
        }
        .map_err(|e| storage_error(&self.home, e))?;
        self.lease = Some(lease.clone());
        Ok(lease)
    }

    /// A storage error of this store as the CLI reports it.
    pub(crate) fn error(&self, error: StorageError) -> ClientError {
        storage_error(&self.home, error)
    }

    /// The records of `space` that `scan` selects (spaces outside the
    /// state's mapping, such as [`Space::Transfers`]).
    pub(crate) async fn scan(
        &self,
        space: Space,
        scan: &Scan,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ClientError> {
        self.storage.scan(space, scan).await.map_err(|e| self.error(e))
    }

    /// Commits `batch`, which changes only spaces outside the state's
    /// mapping ([`state_records::SPACES`]): their records are not part of
    /// the diff a save computes, so a save never undoes them.
    pub(crate) async fn commit_other(&mut self, batch: Batch, now: u64) -> Result<(), ClientError> {
        let foreign = batch.ops().iter().any(|op| {
            let space = match op {
                Op::Put { space, .. }
                | Op::Delete { space, .. }
                | Op::DeletePrefix { space, .. } => space,
            };
            state_records::SPACES.contains(space)
        });
        if foreign {
            return Err(storage_error(
                &self.home,
                StorageError::Invalid { reason: "a batch outside the state touched its spaces" },
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let lease = self.lease(now).await?;
        self.storage.commit(&lease, batch).await.map_err(|e| storage_error(&self.home, e))
    }

    /// Stores chunk `index` of `blob` durably.
    pub(crate) async fn put_chunk(
        &mut self,
        blob: BlobKey,
        index: u32,
        bytes: &[u8],
        now: u64,
    ) -> Result<(), ClientError> {
        let lease = self.lease(now).await?;
        self.storage.put_chunk(&lease, blob, index, bytes).await.map_err(|e| self.error(e))
    }

    /// The stored chunks of `blob`, in order, if they are all there
    /// (`0..n` without a gap); `None` otherwise.
    pub(crate) async fn read_blob(&self, blob: BlobKey) -> Result<Option<Vec<u8>>, ClientError> {
        let indexes = self.storage.chunk_indexes(blob).await.map_err(|e| self.error(e))?;
        let mut bytes = Vec::new();
        for (expected, index) in indexes.into_iter().enumerate() {
            if u32::try_from(expected).ok() != Some(index) {
                return Ok(None);
            }
            match self.storage.get_chunk(blob, index).await.map_err(|e| self.error(e))? {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
        Ok(Some(bytes))
    }

    /// Whether any chunk of `blob` is stored.
    #[cfg(test)]
    pub(crate) async fn has_chunks(&self, blob: BlobKey) -> Result<bool, ClientError> {
        let indexes = self.storage.chunk_indexes(blob).await.map_err(|e| self.error(e))?;
        Ok(!indexes.is_empty())
    }

    /// Removes every chunk of `blob`.
    pub(crate) async fn remove_chunks(
        &mut self,
        blob: BlobKey,
        now: u64,
    ) -> Result<(), ClientError> {
        let lease = self.lease(now).await?;
        self.storage.remove_chunks(&lease, blob).await.map_err(|e| self.error(e))
    }

    /// Writes what changed in `state`, `seen` and `mls`'s key store since
    /// the last save as one batch (nothing if nothing changed). With
    /// `erase`, deleted values leave the files before this returns
    /// ([`Batch::erase_deleted`]: disappearing threads).
    pub async fn save_at(
        &mut self,
        state: &State,
        seen: &VecDeque<u64>,
        mls: &MlsClient,
        erase: bool,
        now: u64,
    ) -> Result<(), ClientError> {
        let records =
            state_records::to_records(state, seen).map_err(|e| record_error(&self.home, e))?;
        let mut batch = changes(&self.committed, &records);
        let staged = self.keys.stage(mls).map_err(|e| mls_store_error(&self.home, e))?;
        staged.add_to(&mut batch);
        if batch.is_empty() {
            return Ok(());
        }
        if erase {
            batch.erase_deleted();
        }
        let lease = self.lease(now).await?;
        self.storage.commit(&lease, batch).await.map_err(|e| storage_error(&self.home, e))?;
        self.committed = records;
        self.keys.committed(staged);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ReceivedText;
    use stadtbote_protocol::{AccountId, DeviceId, GroupId, MsgId};

    const PEER: AccountId = AccountId([2; 16]);
    const GROUP: GroupId = GroupId([9; 16]);

    /// A home as the CLI wrote it before the store: `state.cbor` with a
    /// history, `mls.cbor` with a group, `identity.key`.
    fn old_home(dir: &Path) -> (DeviceSecret, State, MlsFile) {
        let (account, device) = (AccountId([1; 16]), DeviceId([1; 16]));
        let secret = DeviceSecret::generate();
        let mls = MlsClient::new(&secret, account, device);
        mls.generate_key_packages(3).unwrap();
        mls.create_group(GROUP).unwrap();
        let mut state = State::new(account, device, Some("Anna".into()));
        state.conversations.insert(PEER, GROUP);
        for i in 0..50u8 {
            state.record_received(ReceivedText {
                id: MsgId([i; 16]),
                conversation: GROUP,
                peer: PEER,
                from: PEER,
                from_device: DeviceId([3; 16]),
                from_name: Some("Bernd".into()),
                sent_at: u64::from(i),
                received_at: 5,
                text: format!("Geheimnis {i}"),
            });
        }
        state.queue(PEER, "noch offen".into(), 9);
        let file = MlsFile {
            v: MLS_FILE_VERSION,
            mls: serde_bytes::ByteBuf::from(mls.export_state().unwrap()),
            seen_envelopes: [11, 12, 13].into(),
        };
        let home = Home::create(dir).unwrap();
        home.write_cbor(STATE_FILE, &state).unwrap();
        home.write_cbor(MLS_FILE, &file).unwrap();
        home.write_identity(&secret).unwrap();
        (secret, state, file)
    }

    #[test]
    fn an_old_home_is_imported_in_one_commit_and_its_files_removed_after() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let (secret, state, file) = old_home(&dir);
        let home = Home::open(&dir).unwrap();
        let loaded = DeviceStore::open(&home, &secret).unwrap();
        assert_eq!(loaded.state, state);
        assert_eq!(loaded.seen, file.seen_envelopes);
        assert!(loaded.mls.has_group(&GROUP).unwrap());
        assert_eq!(loaded.mls.export_state().unwrap(), file.mls.as_slice());
        assert!(!dir.join(STATE_FILE).exists() && !dir.join(MLS_FILE).exists());
        let stats = loaded.store.storage.stats().unwrap();
        drop(loaded);
        // Lease and import: two journal frames, the import one batch.
        let journal = std::fs::read(dir.join(STORE_DIR).join("journal")).unwrap();
        assert!(stats.journal_len as usize == journal.len());
        // Opened again: the same state, nothing imported twice.
        let again = DeviceStore::open(&home, &secret).unwrap();
        assert_eq!(again.state, state);
        assert_eq!(std::fs::read(dir.join(STORE_DIR).join("journal")).unwrap(), journal);
    }

    #[test]
    fn a_crash_before_the_import_commit_imports_again_and_after_it_only_removes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let (secret, state, file) = old_home(&dir);
        let home = Home::open(&dir).unwrap();
        // Crash before the commit: an empty store beside the old files.
        drop(FileStorage::open(&home.path(STORE_DIR)).unwrap());
        let loaded = DeviceStore::open(&home, &secret).unwrap();
        assert_eq!(loaded.state, state);
        drop(loaded);
        // Crash after the commit, before the removal: the old files are
        // back (here: older ones, which must not be read again).
        let mut older = state.clone();
        older.history.truncate(3);
        home.write_cbor(STATE_FILE, &older).unwrap();
        home.write_cbor(MLS_FILE, &file).unwrap();
        let loaded = DeviceStore::open(&home, &secret).unwrap();
        assert_eq!(loaded.state, state, "the store wins; the old files are only removed");
        assert!(!dir.join(STATE_FILE).exists() && !dir.join(MLS_FILE).exists());
    }

    #[test]
    fn a_save_writes_what_changed_and_nothing_when_nothing_did() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let (secret, _, _) = old_home(&dir);
        let home = Home::open(&dir).unwrap();
        let Loaded { mut store, mut state, mut seen, mls } =
            DeviceStore::open(&home, &secret).unwrap();
        let len = |s: &DeviceStore| s.storage.stats().unwrap().journal_len;
        let start = len(&store);
        store.save(&state, &seen, &mls, false).unwrap();
        assert_eq!(len(&store), start, "nothing changed, nothing written");
        let entry = state.queue(PEER, "neu".into(), 10);
        mls.encrypt(&GROUP, b"neu").unwrap();
        seen.push_back(14);
        store.save(&state, &seen, &mls, false).unwrap();
        let after_lease_and_send = len(&store);
        state.mark_stored(&entry.id, GROUP);
        store.save(&state, &seen, &mls, false).unwrap();
        let stored = len(&store) - after_lease_and_send;
        assert!(stored < 600, "one history record and an outbox delete: {stored} bytes");
        drop(store);
        let again = DeviceStore::open(&home, &secret).unwrap();
        assert_eq!(again.state, state);
        assert_eq!(again.seen, seen);
        assert_eq!(again.mls.export_state().unwrap(), mls.export_state().unwrap());
    }

    #[test]
    fn a_second_writer_is_fenced_off() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let (secret, _, _) = old_home(&dir);
        let home = Home::open(&dir).unwrap();
        let Loaded { mut store, mut state, seen, mls } = DeviceStore::open(&home, &secret).unwrap();
        state.name = Some("A".into());
        store.save(&state, &seen, &mls, false).unwrap();
        // Another handle (as another process would, past the home lock)
        // cannot take the lease while this one lives.
        let Loaded { store: mut other, state: mut other_state, seen: s2, mls: m2 } =
            DeviceStore::open(&home, &secret).unwrap();
        other_state.name = Some("B".into());
        let err = other.save(&other_state, &s2, &m2, false).unwrap_err();
        assert!(matches!(err, ClientError::Locked { .. }), "{err}");
    }
}
