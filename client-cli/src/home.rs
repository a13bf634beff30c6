//! The `--home` directory: where one device keeps everything it knows.
//!
//! | file | content |
//! |---|---|
//! | `identity.key` | the device's 32 secret Ed25519 bytes; written last by `init`, so its presence means "initialised" |
//! | `store/` | the device's state (account, conversations, history, outbox, receipts, threads, groups, pins, device lists), the ids of processed envelopes and the MLS key store, as records of a [`crate::file_storage::FileStorage`] ([`crate::device_store`]) |
//! | `state.cbor`, `mls.cbor` | only in a home from before `store/`: imported into it and removed on the first open |
//! | `follows/` | channels this home follows, with keys and verified cursors, as one record of a [`crate::file_storage::FileStorage`] ([`crate::follow_home`]; an old home's `follows.cbor` is imported once); needs no account |
//! | `lock` | empty; held with an exclusive lock while a command runs |
//! | `org/<handle>.key` | an org's signing key, on the org admin's device only ([`crate::org`]) |
//! | `photos/<thread>/` | photos `show` saved by default ([`crate::threads`]) |
//!
//! This module owns the rules for touching those files: the directory is
//! created with mode 0700 and every file with 0600; every write goes to a
//! temporary file that is fsynced and then renamed over the old one (and the
//! directory fsynced), so a crash leaves either the old or the new version,
//! never a torn one; a file that exists but cannot be decoded is reported by
//! name and never silently replaced; and an exclusive lock on `lock` keeps
//! two commands on one home from interleaving.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use stadtbote_protocol::auth::DeviceSecret;

use crate::error::CliError;

/// The device secret.
pub const IDENTITY_FILE: &str = "identity.key";
/// Client bookkeeping before `store/` (imported on first open).
pub const STATE_FILE: &str = "state.cbor";
/// MLS state before `store/` (imported on first open).
pub const MLS_FILE: &str = "mls.cbor";
/// The lock file.
pub const LOCK_FILE: &str = "lock";

/// How long a command waits for another one on the same home to finish.
const LOCK_WAIT: Duration = Duration::from_secs(20);

/// An opened, locked home directory. The lock is released on drop.
#[derive(Debug)]
pub struct Home {
    dir: PathBuf,
    // Held for its lock only; the lock is released when the file is closed.
    _lock: File,
}

/// Files and directories of the home that belong to the account; deleted
/// with it. `identity.key` goes first: without it the home no longer counts
/// as initialised, so a crash midway cannot leave a half-working account
/// (and `init` clears a store left behind). The store (`store/`: state,
/// history, MLS keys) goes whole, its journal with it, so no old value of
/// the history stays in the home; `state.cbor`/`mls.cbor` exist only in a
/// home from before the store that was never opened since. Followed
/// channels (`follows/`, formerly `follows.cbor`) need no account and are kept.
const ACCOUNT_FILES: [&str; 3] = [IDENTITY_FILE, STATE_FILE, MLS_FILE];
const ACCOUNT_DIRS: [&str; 2] = [crate::home_store::STORE_DIR, "photos"];

impl Home {
    /// Opens an initialised home (one that holds `identity.key`) and takes its lock.
    pub fn open(dir: &Path) -> Result<Home, CliError> {
        if !dir.join(IDENTITY_FILE).exists() {
            return Err(CliError::NotInitialised { home: dir.to_path_buf() });
        }
        let home = Self::lock(dir)?;
        // Checked again under the lock: a concurrent `init` may have been
        // half-way when we looked.
        if !home.exists(IDENTITY_FILE) {
            return Err(CliError::NotInitialised { home: dir.to_path_buf() });
        }
        Ok(home)
    }

    /// Creates (if needed) and locks a home whether or not it holds an
    /// identity: following channels needs no account, and a home used only
    /// for following can still be `init`ed later (its files do not clash).
    pub fn open_or_create(dir: &Path) -> Result<Home, CliError> {
        if !dir.exists() {
            create_private_dir(dir)?;
        }
        Self::lock(dir)
    }

    /// Creates (if needed) and locks a home for `init`. Fails if it already
    /// holds an identity.
    pub fn create(dir: &Path) -> Result<Home, CliError> {
        if !dir.exists() {
            create_private_dir(dir)?;
        }
        let home = Self::lock(dir)?;
        if home.exists(IDENTITY_FILE) {
            return Err(CliError::AlreadyInitialised { home: dir.to_path_buf() });
        }
        Ok(home)
    }

    fn lock(dir: &Path) -> Result<Home, CliError> {
        let path = dir.join(LOCK_FILE);
        let file = open_private(&path, false).map_err(|source| CliError::Io {
            action: "open",
            file: path.clone(),
            source,
        })?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(CliError::Locked { home: dir.to_path_buf() });
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(CliError::Io { action: "lock", file: path, source });
                }
            }
        }
        Ok(Home { dir: dir.to_path_buf(), _lock: file })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a file in the home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether a file exists in the home.
    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Reads the device secret.
    pub fn read_identity(&self) -> Result<DeviceSecret, CliError> {
        let path = self.path(IDENTITY_FILE);
        let bytes = self.read_bytes(IDENTITY_FILE)?;
        DeviceSecret::from_bytes(&bytes).map_err(|_| CliError::CorruptFile {
            file: path,
            reason: format!("expected 32 bytes, found {}", bytes.len()),
        })
    }

    /// Writes the device secret (atomically, mode 0600).
    pub fn write_identity(&self, secret: &DeviceSecret) -> Result<(), CliError> {
        self.write_atomic(IDENTITY_FILE, secret.to_bytes().as_slice())
    }

    /// Reads a whole file; a missing file is reported as corrupt state,
    /// because callers only read files an initialised home must have.
    pub fn read_bytes(&self, name: &str) -> Result<Vec<u8>, CliError> {
        let path = self.path(name);
        fs::read(&path).map_err(|source| match source.kind() {
            ErrorKind::NotFound => {
                CliError::CorruptFile { file: path, reason: "the file is missing".into() }
            }
            _ => CliError::Io { action: "read", file: path, source },
        })
    }

    /// Reads and decodes a CBOR file.
    pub fn read_cbor<T: DeserializeOwned>(&self, name: &str) -> Result<T, CliError> {
        let bytes = self.read_bytes(name)?;
        ciborium::from_reader(bytes.as_slice()).map_err(|e| CliError::CorruptFile {
            file: self.path(name),
            reason: short(&e.to_string()),
        })
    }

    /// Encodes and writes a CBOR file atomically.
    pub fn write_cbor<T: Serialize>(&self, name: &str, value: &T) -> Result<(), CliError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(|e| CliError::Io {
            action: "encode",
            file: self.path(name),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.write_atomic(name, &bytes)
    }

    /// Replaces a file atomically: temporary file (0600), fsync, rename,
    /// fsync of the directory.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        let tmp = self.path(&format!("{name}.tmp"));
        replace_atomically(&self.path(name), &tmp, |file| {
            file.write_all(bytes).map_err(|source| CliError::Io {
                action: "write",
                file: tmp.clone(),
                source,
            })
        })
    }

    /// Creates (if needed) a private (0700) directory below the home and
    /// returns its path; `name` may contain `/`.
    pub fn ensure_dir(&self, name: &str) -> Result<PathBuf, CliError> {
        let path = self.path(name);
        create_private_dir(&path)?;
        Ok(path)
    }

    /// Removes the account's files and directories ([`ACCOUNT_FILES`],
    /// [`ACCOUNT_DIRS`]) after the account was deleted on the server;
    /// returns the paths removed.
    pub fn remove_account_files(&self) -> Result<Vec<PathBuf>, CliError> {
        let mut removed = Vec::new();
        for name in ACCOUNT_FILES {
            let path = self.path(name);
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CliError::Io { action: "delete", file: path, source });
                }
            }
        }
        for name in ACCOUNT_DIRS {
            let path = self.path(name);
            match fs::remove_dir_all(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CliError::Io { action: "delete", file: path, source });
                }
            }
        }
        // Make the removals durable, as every write to the home is.
        if let Ok(dir) = File::open(self.dir()) {
            let _ = dir.sync_all();
        }
        Ok(removed)
    }

    /// Removes a file below the home; a missing file is fine.
    pub fn remove_file(&self, name: &str) -> Result<(), CliError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CliError::Io { action: "remove", file: path, source }),
        }
    }

    /// Removes the directory `name` with everything in it, if it exists.
    pub fn remove_dir(&self, name: &str) -> Result<(), CliError> {
        let path = self.path(name);
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CliError::Io { action: "remove", file: path, source }),
        }
    }
}

/// Replaces `path` atomically with what `write` writes into the temporary
/// file `tmp` (created or truncated, mode 0600): fsync, rename over `path`,
/// fsync of `path`'s directory. The rename is durable only once the
/// directory entry is, and that is the file's own directory (for
/// `org/x.key` not the home). On an error `tmp` may be left behind; it is
/// overwritten by the next attempt.
pub(crate) fn replace_atomically<T>(
    path: &Path,
    tmp: &Path,
    write: impl FnOnce(&mut File) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let io = |action: &'static str, file: &Path| {
        let file = file.to_path_buf();
        move |source| CliError::Io { action, file, source }
    };
    let mut file = open_private(tmp, true).map_err(io("write", tmp))?;
    let written = write(&mut file)?;
    file.sync_all().map_err(io("sync", tmp))?;
    drop(file);
    fs::rename(tmp, path).map_err(io("replace", path))?;
    if let Some(parent) = path.parent() {
        File::open(parent).and_then(|d| d.sync_all()).map_err(io("sync", parent))?;
    }
    Ok(written)
}

/// Opens (creating if needed) a file readable and writable by the owner only.
/// Permissions are also reset on an existing file, so a file copied in with
/// wider permissions is narrowed on first use.
pub(crate) fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let err = |source| CliError::Io { action: "create", file: dir.to_path_buf(), source };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Decoder messages can be long; one line is enough for the user.
fn short(reason: &str) -> String {
    reason.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn create_writes_private_files_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let home = Home::create(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        home.write_cbor(STATE_FILE, &vec![1u32, 2, 3]).unwrap();
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
        assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
        assert!(!dir.join("state.cbor.tmp").exists(), "temporary file renamed away");
        let back: Vec<u32> = home.read_cbor(STATE_FILE).unwrap();
        assert_eq!(back, [1, 2, 3]);
        // Overwriting replaces the whole content.
        home.write_cbor(STATE_FILE, &vec![9u32]).unwrap();
        let back: Vec<u32> = home.read_cbor(STATE_FILE).unwrap();
        assert_eq!(back, [9]);
        // A stale temporary file with wide permissions does not leak them.
        fs::write(dir.join("state.cbor.tmp"), b"old").unwrap();
        fs::set_permissions(dir.join("state.cbor.tmp"), fs::Permissions::from_mode(0o644)).unwrap();
        home.write_cbor(STATE_FILE, &vec![7u32]).unwrap();
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
    }

    #[test]
    fn identity_round_trip_and_init_twice_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let secret = DeviceSecret::generate();
        {
            let home = Home::create(&dir).unwrap();
            home.write_identity(&secret).unwrap();
            assert_eq!(mode(&dir.join(IDENTITY_FILE)), 0o600);
        }
        let home = Home::open(&dir).unwrap();
        assert_eq!(home.read_identity().unwrap().identity_key(), secret.identity_key());
        drop(home);
        assert!(matches!(Home::create(&dir), Err(CliError::AlreadyInitialised { .. })));
    }

    #[test]
    fn uninitialised_home_is_a_typed_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Home::open(&tmp.path().join("nowhere")).unwrap_err();
        assert!(matches!(err, CliError::NotInitialised { .. }));
        assert!(err.to_string().contains("stadtbote init"));
    }

    #[test]
    fn corrupt_and_missing_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let home = Home::create(&dir).unwrap();
        fs::write(dir.join(STATE_FILE), b"\x00garbage\xff").unwrap();
        let err = home.read_cbor::<Vec<u32>>(STATE_FILE).unwrap_err();
        assert!(matches!(err, CliError::CorruptFile { .. }));
        assert!(err.to_string().contains("state.cbor"), "{err}");
        let err = home.read_bytes(MLS_FILE).unwrap_err();
        assert!(err.to_string().contains("mls.cbor"), "{err}");
        fs::write(dir.join(IDENTITY_FILE), b"short").unwrap();
        let err = home.read_identity().unwrap_err();
        assert!(err.to_string().contains("identity.key"), "{err}");
    }

    #[test]
    fn lock_is_exclusive() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let home = Home::create(&dir).unwrap();
        // A second handle on the same lock file cannot take the lock while
        // the first one holds it (flock locks are per open file description).
        let other = open_private(&dir.join(LOCK_FILE), false).unwrap();
        assert!(matches!(other.try_lock(), Err(fs::TryLockError::WouldBlock)));
        drop(home);
        assert!(other.try_lock().is_ok());
    }
}
