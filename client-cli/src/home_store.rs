//! The device store of a home: `<home>/store/`, a [`FileStorage`] under
//! the core's [`CoreDeviceStore`] (see client/src/device_store.rs for
//! what a save writes). Opening it imports a home from before the store.
//!
//! **Migration.** A home from before (`state.cbor` + `mls.cbor`, no
//! state in the store) is imported on open in one commit; only after that
//! commit is durable are the old files removed. A crash before the commit
//! leaves the old files, and the next open imports them again; a crash
//! after it leaves a store with the state beside old files, which the next
//! open removes without reading. A home is never half-migrated.
//!
//! **Lock.** The home's own lock ([`crate::home`]) stays in front of the
//! store's lease: it makes a second command wait up to 20 s instead of
//! failing, covers the files outside the store (the follows, org keys,
//! photos), and keeps its message and exit code. A process that dies
//! leaves its lease behind; the next one takes it over at once
//! ([`FileStorage`] sees the holder's OS lock released).

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use stadtbote_client::device_store::DeviceStore as CoreDeviceStore;
use stadtbote_client::state::{MLS_FILE_VERSION, MlsFile, STATE_VERSION, State};
use stadtbote_client::state_records::META_KEY;
use stadtbote_client::storage::{Space, Storage, StorageError};
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::mls::MlsClient;

use crate::error::CliError;
use crate::file_storage::FileStorage;
use crate::home::{Home, MLS_FILE, STATE_FILE};

/// The store's directory in the home.
pub const STORE_DIR: &str = "store";

/// A device's opened store with what it holds.
pub type Loaded = stadtbote_client::device_store::Loaded<FileStorage>;

/// How the CLI names a home's store in the core's errors: the home
/// directory ([`crate::error::storage_error`] words it).
pub fn place(home: &Home) -> String {
    home.dir().display().to_string()
}

/// A storage error of `home`'s store as the CLI reports local file
/// trouble ([`crate::error::storage_error`]).
fn storage_error(home: &Path, error: StorageError) -> CliError {
    crate::error::storage_error(home, &error)
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

/// Opening and creating the device store of a home, `<home>/store/` (a
/// namespace: the store itself is the core's [`CoreDeviceStore`]).
#[derive(Debug)]
pub struct DeviceStore;

impl DeviceStore {
    /// An empty store for a device being created (`init`): whatever a
    /// crashed `init` or an interrupted `account delete` left is removed.
    pub fn create(home: &Home) -> Result<CoreDeviceStore<FileStorage>, CliError> {
        let dir = home.path(STORE_DIR);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CliError::Io { action: "remove", file: dir, source }),
        }
        home.remove_file(STATE_FILE)?;
        home.remove_file(MLS_FILE)?;
        let storage = FileStorage::open(&dir).map_err(|e| storage_error(home.dir(), e))?;
        Ok(CoreDeviceStore::over(storage, place(home), process_holder()))
    }

    /// Opens the store of an initialised home, importing a home from
    /// before first (see the module docs).
    pub fn open(home: &Home, secret: &DeviceSecret) -> Result<Loaded, CliError> {
        let storage =
            FileStorage::open(&home.path(STORE_DIR)).map_err(|e| storage_error(home.dir(), e))?;
        let mut store = CoreDeviceStore::over(storage, place(home), process_holder());
        let stored = ready(store.storage().get(Space::Account, META_KEY))
            .map_err(|e| storage_error(home.dir(), e))?;
        if stored.is_none() {
            ready(import(&mut store, home, secret))?;
        }
        // The old files are in the store now (imported above, or by an
        // earlier open that crashed before removing them).
        if home.exists(STATE_FILE) || home.exists(MLS_FILE) {
            home.remove_file(STATE_FILE)?;
            home.remove_file(MLS_FILE)?;
            home.remove_file(&format!("{STATE_FILE}.tmp"))?;
            home.remove_file(&format!("{MLS_FILE}.tmp"))?;
            if let Ok(dir) = std::fs::File::open(home.dir()) {
                dir.sync_all().map_err(|source| CliError::Io {
                    action: "sync",
                    file: home.dir().to_path_buf(),
                    source,
                })?;
            }
        }
        Ok(ready(store.load_existing(secret))?)
    }
}

/// Imports `state.cbor` and `mls.cbor` in one commit.
async fn import(
    store: &mut CoreDeviceStore<FileStorage>,
    home: &Home,
    secret: &DeviceSecret,
) -> Result<(), CliError> {
    let state: State = home.read_cbor(STATE_FILE)?;
    if state.v != STATE_VERSION {
        return Err(CliError::CorruptFile {
            file: home.path(STATE_FILE),
            reason: format!("unknown format version {}", state.v),
        });
    }
    let mls_file: MlsFile = home.read_cbor(MLS_FILE)?;
    let corrupt_mls = |reason: String| CliError::CorruptFile { file: home.path(MLS_FILE), reason };
    if mls_file.v != MLS_FILE_VERSION {
        return Err(corrupt_mls(format!("unknown format version {}", mls_file.v)));
    }
    let mls = MlsClient::import_state(secret, state.account, state.device, &mls_file.mls)
        .map_err(|e| corrupt_mls(e.to_string()))?;
    Ok(store.save_at(&state, &mls_file.seen_envelopes, &mls, false, now_ms()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_client::ClientError;

    /// A save at the system clock's now, run to its end at once.
    fn save(
        store: &mut CoreDeviceStore<FileStorage>,
        state: &State,
        seen: &std::collections::VecDeque<u64>,
        mls: &MlsClient,
    ) -> Result<(), ClientError> {
        ready(store.save_at(state, seen, mls, false, now_ms()))
    }
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
        let stats = loaded.store.storage().stats().unwrap();
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
        let len = |s: &CoreDeviceStore<FileStorage>| s.storage().stats().unwrap().journal_len;
        let start = len(&store);
        save(&mut store, &state, &seen, &mls).unwrap();
        assert_eq!(len(&store), start, "nothing changed, nothing written");
        let entry = state.queue(PEER, "neu".into(), 10);
        mls.encrypt(&GROUP, b"neu").unwrap();
        seen.push_back(14);
        save(&mut store, &state, &seen, &mls).unwrap();
        let after_lease_and_send = len(&store);
        state.mark_stored(&entry.id, GROUP);
        save(&mut store, &state, &seen, &mls).unwrap();
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
        save(&mut store, &state, &seen, &mls).unwrap();
        // Another handle (as another process would, past the home lock)
        // cannot take the lease while this one lives.
        let Loaded { store: mut other, state: mut other_state, seen: s2, mls: m2 } =
            DeviceStore::open(&home, &secret).unwrap();
        other_state.name = Some("B".into());
        let err = save(&mut other, &other_state, &s2, &m2).unwrap_err();
        let err = crate::error::from_core(err);
        assert!(matches!(err, CliError::Locked { .. }), "{err}");
    }
}
