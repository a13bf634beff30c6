//! The MLS key store as records of [`Space::Mls`], changed entry by entry.
//!
//! OpenMLS keeps a device's group states, epoch secrets and private
//! KeyPackage keys in its storage provider; Stadtbote uses OpenMLS's
//! key-value `MemoryStorage` (inside [`MlsClient`]). The CLI today writes the
//! whole store to `mls.cbor` after every operation. [`MlsKeyStore`] instead
//! remembers what the [`Storage`] holds and, after an operation, stages only
//! the entries that changed as puts and deletes for that operation's
//! [`Batch`] — so the MLS state and the bookkeeping it belongs to (history,
//! processed envelope ids) land in one atomic commit.
//!
//! Why a diff and not a `StorageProvider` of our own with a dirty set:
//! OpenMLS derives the storage keys inside its provider (label, serialized
//! key, version) across some fifty trait methods; re-implementing them would
//! duplicate `openmls_memory_storage` and break silently with its next
//! version. Comparing the map with the last committed copy is memory work
//! only (the store is small, and the comparison stops at the first differing
//! byte), and what is written is exactly what changed.
//!
//! Layout: each OpenMLS entry is the record `k/` + OpenMLS key → value. Other
//! prefixes of the space are left to the caller (processed envelope ids).

use std::collections::HashMap;

use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::mls::{MlsClient, MlsError};
use stadtbote_protocol::{AccountId, DeviceId};

use crate::storage::{Batch, Scan, Space, Storage, StorageError};

/// The key prefix of OpenMLS entries in [`Space::Mls`].
pub const KEY_STORE_PREFIX: &[u8] = b"k/";

/// Why the MLS key store could not be loaded or staged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlsStoreError {
    /// Reading the records failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The MLS layer refused.
    #[error(transparent)]
    Mls(#[from] MlsError),
}

/// What the storage holds of one device's MLS key store.
#[derive(Default)]
pub struct MlsKeyStore {
    committed: HashMap<Vec<u8>, Vec<u8>>,
}

impl std::fmt::Debug for MlsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Private keys: show only the size.
        f.debug_struct("MlsKeyStore").field("entries", &self.committed.len()).finish()
    }
}

/// The key store's changes since the last commit, ready for a batch.
#[derive(Default)]
pub struct StagedMls {
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    deletes: Vec<Vec<u8>>,
}

impl std::fmt::Debug for StagedMls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedMls")
            .field("puts", &self.puts.len())
            .field("deletes", &self.deletes.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl StagedMls {
    /// Adds the changes to `batch` as records of [`Space::Mls`].
    pub fn add_to(&self, batch: &mut Batch) {
        for (key, value) in &self.puts {
            batch.put(Space::Mls, [KEY_STORE_PREFIX, key].concat(), value.clone());
        }
        for key in &self.deletes {
            batch.delete(Space::Mls, [KEY_STORE_PREFIX, key].concat());
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// Entries written and deleted.
    pub fn counts(&self) -> (usize, usize) {
        (self.puts.len(), self.deletes.len())
    }

    /// Bytes of keys and values written.
    pub fn bytes(&self) -> usize {
        self.puts.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + self.deletes.iter().map(Vec::len).sum::<usize>()
    }
}

impl MlsKeyStore {
    /// Nothing stored yet (a new device).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the key store from `storage` and builds the device's client
    /// over it.
    pub async fn load<S: Storage>(
        storage: &S,
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
    ) -> Result<(MlsClient, MlsKeyStore), MlsStoreError> {
        let records = storage.scan(Space::Mls, &Scan::prefix(KEY_STORE_PREFIX)).await?;
        let committed: HashMap<Vec<u8>, Vec<u8>> = records
            .into_iter()
            .filter_map(|(key, value)| Some((key.strip_prefix(KEY_STORE_PREFIX)?.to_vec(), value)))
            .collect();
        let client = MlsClient::from_key_store(
            secret,
            account,
            device,
            committed.iter().map(|(k, v)| (k.clone(), v.clone())),
        )?;
        Ok((client, MlsKeyStore { committed }))
    }

    /// The entries of `mls`'s key store that differ from what was committed.
    /// Add them to the operation's batch; after the commit succeeded, call
    /// [`MlsKeyStore::committed`] (after a failed one, just drop them: the
    /// next staging finds the same differences again).
    pub fn stage(&self, mls: &MlsClient) -> Result<StagedMls, MlsStoreError> {
        let staged = mls.read_key_store(|current| {
            let mut staged = StagedMls::default();
            for (key, value) in current {
                if self.committed.get(key) != Some(value) {
                    staged.puts.push((key.clone(), value.clone()));
                }
            }
            for key in self.committed.keys() {
                if !current.contains_key(key) {
                    staged.deletes.push(key.clone());
                }
            }
            // A stable order keeps batches reproducible.
            staged.puts.sort();
            staged.deletes.sort();
            staged
        })?;
        Ok(staged)
    }

    /// Records that `staged` is now in the storage.
    pub fn committed(&mut self, staged: StagedMls) {
        for key in staged.deletes {
            self.committed.remove(&key);
        }
        self.committed.extend(staged.puts);
    }

    /// How many entries the storage holds.
    pub fn len(&self) -> usize {
        self.committed.len()
    }

    /// Whether the storage holds none.
    pub fn is_empty(&self) -> bool {
        self.committed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::conformance::block_on;
    use crate::storage::{HolderId, Lease, MemoryStorage};
    use stadtbote_protocol::GroupId;
    use stadtbote_protocol::mls::Incoming;

    const GROUP: GroupId = GroupId([7; 16]);

    struct Device {
        secret: DeviceSecret,
        account: AccountId,
        device: DeviceId,
        mls: MlsClient,
        keys: MlsKeyStore,
        storage: MemoryStorage,
        lease: Lease,
    }

    impl Device {
        fn new(n: u8) -> Self {
            let secret = DeviceSecret::generate();
            let (account, device) = (AccountId([n; 16]), DeviceId([n; 16]));
            let mls = MlsClient::new(&secret, account, device);
            let storage = MemoryStorage::new();
            let lease =
                block_on(storage.acquire_lease(&HolderId::new("t").unwrap(), 0, u64::MAX)).unwrap();
            Device { secret, account, device, mls, keys: MlsKeyStore::new(), storage, lease }
        }

        /// Commits what the last operation changed; returns the batch's
        /// (entries written, entries deleted, bytes).
        fn save(&mut self) -> (usize, usize, usize) {
            let staged = self.keys.stage(&self.mls).unwrap();
            let mut batch = Batch::new();
            staged.add_to(&mut batch);
            let (puts, deletes) = staged.counts();
            let bytes = batch.payload_len();
            block_on(self.storage.commit(&self.lease, batch)).unwrap();
            self.keys.committed(staged);
            (puts, deletes, bytes)
        }

        fn full_size(&self) -> usize {
            self.mls.export_state().unwrap().len()
        }
    }

    #[test]
    fn operations_stage_small_batches_and_reload_reproduces_the_group() {
        let mut anna = Device::new(1);
        let mut bernd = Device::new(2);
        // Bernd's KeyPackage (its private half is in his store).
        let package = bernd.mls.generate_key_packages(1).unwrap().remove(0);
        bernd.save();
        // Anna has a stock of KeyPackages, as every device does: the store
        // is far larger than what one operation changes.
        anna.mls.generate_key_packages(20).unwrap();
        let (puts, _, _) = anna.save();
        assert!(puts >= 20, "the key packages are stored");
        println!("20 key packages: {puts} entries, store {} bytes", anna.full_size());

        anna.mls.create_group(GROUP).unwrap();
        let created = anna.save();
        let commit = anna.mls.add_members(&GROUP, &[package]).unwrap();
        anna.mls.merge_pending(&GROUP).unwrap();
        let added = anna.save();
        let welcome = commit.welcome.clone().unwrap();
        assert!(matches!(bernd.mls.process(&welcome).unwrap(), Incoming::Welcome { .. }));
        let joined = bernd.save();
        assert!(joined.1 >= 1, "the used KeyPackage's private keys are deleted: {joined:?}");

        let message = anna.mls.encrypt(&GROUP, b"hallo bernd").unwrap();
        let sent = anna.save();
        let full = anna.full_size();
        for (what, (puts, deletes, bytes)) in [("create", created), ("add", added), ("send", sent)]
        {
            assert!(puts + deletes > 0, "{what} changed something");
            assert!(
                bytes * 4 < full,
                "{what}: batch of {bytes} bytes vs {full} bytes for the whole store"
            );
        }
        assert!(sent.0 <= 4, "sending touches a few entries: {sent:?}");
        // Nothing changed, nothing staged.
        assert!(anna.keys.stage(&anna.mls).unwrap().is_empty());

        // Reload Anna from the storage alone: the same key store, and a
        // group that works.
        let (reloaded, keys) =
            block_on(MlsKeyStore::load(&anna.storage, &anna.secret, anna.account, anna.device))
                .unwrap();
        assert_eq!(reloaded.export_state().unwrap(), anna.mls.export_state().unwrap());
        assert_eq!(keys.len(), anna.keys.len());
        assert_eq!(reloaded.epoch(&GROUP).unwrap(), anna.mls.epoch(&GROUP).unwrap());
        match bernd.mls.process(&message).unwrap() {
            Incoming::Application { plaintext, .. } => assert_eq!(plaintext, b"hallo bernd"),
            other => panic!("{other:?}"),
        }
        let next = reloaded.encrypt(&GROUP, b"nach dem Neuladen").unwrap();
        match bernd.mls.process(&next).unwrap() {
            Incoming::Application { plaintext, .. } => assert_eq!(plaintext, b"nach dem Neuladen"),
            other => panic!("{other:?}"),
        }
        let _ = bernd.device;
        println!(
            "mls batches (puts, deletes, bytes): create {created:?}, add {added:?}, \
             send {sent:?}; whole store {full} bytes"
        );
    }

    #[test]
    fn a_failed_commit_is_staged_again() {
        let mut anna = Device::new(1);
        anna.mls.generate_key_packages(2).unwrap();
        anna.save();
        anna.mls.create_group(GROUP).unwrap();
        let staged = anna.keys.stage(&anna.mls).unwrap();
        let mut batch = Batch::new();
        staged.add_to(&mut batch);
        let stale = Lease { token: anna.lease.token + 1, ..anna.lease.clone() };
        assert!(block_on(anna.storage.commit(&stale, batch)).is_err());
        drop(staged);
        let again = anna.keys.stage(&anna.mls).unwrap();
        assert!(!again.is_empty(), "the group is still to be written");
        let (_, _, bytes) = anna.save();
        assert!(bytes > 0);
        let (reloaded, _) =
            block_on(MlsKeyStore::load(&anna.storage, &anna.secret, anna.account, anna.device))
                .unwrap();
        assert!(reloaded.has_group(&GROUP).unwrap());
        // Deleting the group deletes its entries from the storage too.
        anna.mls.delete_group(&GROUP).unwrap();
        let (_, deletes, _) = anna.save();
        assert!(deletes > 0);
        let (reloaded, _) =
            block_on(MlsKeyStore::load(&anna.storage, &anna.secret, anna.account, anna.device))
                .unwrap();
        assert!(!reloaded.has_group(&GROUP).unwrap());
        assert_eq!(reloaded.export_state().unwrap(), anna.mls.export_state().unwrap());
    }
}
