//! Server-admin bootstrap: the one-time admin claim code.
//!
//! A fresh server has no admin. On start it generates a random code, stores
//! only its SHA-256 hash, and writes the code to `<data_dir>/admin-claim.code`
//! (mode 0600), where only the operator (who can read the data directory)
//! finds it. The first device that sends `admin_claim` with that code becomes
//! the server admin; the hash and the file are then deleted. The code never
//! appears in a log.
//!
//! The hash is stored and flushed *before* the file is written: a crash in
//! between leaves a pending hash without a file, and the next start notices
//! the missing file and replaces the code. The opposite order could leave a
//! file whose code matches no stored hash.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use data_encoding::BASE32_NOPAD;
use rand::RngCore;

use crate::blobs::sync_dir;
use crate::relay::code_hash;
use crate::store::{Store, StoreError};

/// Name of the claim code file inside the data directory.
pub const ADMIN_CLAIM_FILE: &str = "admin-claim.code";

/// Bytes of randomness in admin and org-admin codes (160 bits).
const CODE_BYTES: usize = 20;

/// A fresh one-time code: 160 random bits in base32, in dash-separated
/// groups of four (`ABCD-EFGH-…`, 39 characters) so that it can be read out
/// and typed. Case, spaces and dashes do not matter when it is redeemed.
pub fn random_code() -> String {
    let mut raw = [0u8; CODE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text = BASE32_NOPAD.encode(&raw);
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Why the admin claim code could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The code's hash could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The code file could not be written.
    #[error("cannot write the admin claim code file: {0}")]
    Io(#[from] io::Error),
}

/// Deletes `path`; a missing file is fine.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to a new file at `path` with mode 0600, atomically:
/// the file appears complete or not at all, and an existing file is never
/// overwritten.
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("code.tmp");
    remove_if_exists(&tmp)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    // A hard link, unlike a rename, fails if the target exists. File
    // systems without hard links fall back to a rename (the caller removed
    // any previous file just before).
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => remove_if_exists(&tmp)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_exists(&tmp)?;
            return Err(e);
        }
        Err(_) => std::fs::rename(&tmp, path)?,
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Makes sure a claim code is waiting when the server has no admin. Returns
/// the code file's path when one is waiting, `None` once an admin exists.
/// Blocking.
pub fn bootstrap(store: &dyn Store, data_dir: &Path) -> Result<Option<PathBuf>, BootstrapError> {
    let path = data_dir.join(ADMIN_CLAIM_FILE);
    if store.has_admin()? {
        // Left behind if deleting it after the claim failed; it is useless.
        remove_if_exists(&path)?;
        return Ok(None);
    }
    if store.admin_claim_hash()?.is_some() && path.exists() {
        return Ok(Some(path));
    }
    let code = random_code();
    store.set_admin_claim_hash(&code_hash(&code))?;
    store.flush()?;
    // A file without a pending hash (a crash before the hash was stored)
    // holds a code that no longer works.
    remove_if_exists(&path)?;
    write_new_private(&path, format!("{code}\n").as_bytes())?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OrgStore, SledStore};

    #[test]
    fn codes_are_grouped_and_random() {
        let code = random_code();
        assert_eq!(code.len(), 39);
        assert_eq!(code.split('-').count(), 8);
        assert_ne!(code, random_code());
    }

    #[test]
    fn bootstrap_writes_a_private_file_once_and_replaces_a_lost_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let path = bootstrap(&store, dir.path()).unwrap().unwrap();
        let code = std::fs::read_to_string(&path).unwrap();
        assert!(code.ends_with('\n'));
        assert_eq!(store.admin_claim_hash().unwrap(), Some(code_hash(code.trim())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A restart keeps the pending code.
        bootstrap(&store, dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), code);
        // A lost file is replaced by a new code; the old one stops working.
        std::fs::remove_file(&path).unwrap();
        bootstrap(&store, dir.path()).unwrap();
        let new_code = std::fs::read_to_string(&path).unwrap();
        assert_ne!(new_code, code);
        assert_eq!(store.admin_claim_hash().unwrap(), Some(code_hash(new_code.trim())));
        // Once claimed, no code is written and a stale file is removed.
        let device = stadtbote_protocol::DeviceId([1; 16]);
        store.claim_admin(&code_hash(&new_code.to_lowercase()), &device, 1).unwrap();
        assert!(bootstrap(&store, dir.path()).unwrap().is_none());
        assert!(!path.exists());
        assert!(store.is_admin(&device).unwrap());
    }
}
