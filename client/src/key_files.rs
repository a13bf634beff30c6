//! Secrets a device keeps outside its [`Storage`](crate::storage::Storage):
//! the org keys of the orgs it administers (and the one being rotated
//! to or claimed), each under a name such as `org/<handle>.key`.
//!
//! They are separate from the device's records on purpose: an org key is
//! the town's root of trust, kept readable only by its owner and
//! exportable on its own (`org export-key`), and never part of the
//! device's store. The front-end decides where they live — the CLI keeps
//! each as a private file under its home (`<home>/org/<handle>.key`, mode
//! 0600, replaced atomically) — and the core only names them and hands
//! over bytes. [`MemoryKeyFiles`] keeps them in memory (tests, and
//! front-ends that keep no org keys).

use std::collections::BTreeMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::ClientError;

/// Where a device's key files live (see the module docs). Errors are the
/// front-end's own, carried as [`ClientError::Local`].
pub trait KeyFiles {
    /// The bytes stored under `name`; an error when there are none.
    fn read(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, ClientError>;
    /// Stores `bytes` under `name` durably (readable only by this
    /// device's owner), replacing what was there.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ClientError>;
    /// Removes what is stored under `name`; nothing when there is none.
    fn remove(&self, name: &str) -> Result<(), ClientError>;
    /// The error for a key file that holds something unusable (the CLI
    /// names the file under its home).
    fn corrupt(&self, name: &str, reason: &str) -> ClientError {
        ClientError::StoredData { place: name.to_string(), reason: reason.to_string() }
    }
}

/// Key files in memory (lost when dropped).
#[derive(Debug, Default)]
pub struct MemoryKeyFiles {
    files: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

/// A key file [`MemoryKeyFiles`] does not hold.
#[derive(Debug, thiserror::Error)]
#[error("there is no key file {0}")]
pub struct MissingKeyFile(pub String);

impl KeyFiles for MemoryKeyFiles {
    fn read(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        files.get(name).cloned().ok_or_else(|| ClientError::local(MissingKeyFile(name.into())))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ClientError> {
        let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        files.insert(name.to_string(), Zeroizing::new(bytes.to_vec()));
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), ClientError> {
        let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        files.remove(name);
        Ok(())
    }
}
