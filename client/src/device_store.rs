//! [`DeviceStore`]: a device's [`State`], processed envelope ids and MLS key
//! store in the core's [`Storage`], written as one change batch per save
//! (the CLI's backend is a `FileStorage` under `<home>/store/`, opened by
//! client-cli/src/home_store.rs, which also imports homes from before the
//! store).
//!
//! Saving maps the state to records ([`crate::state_records`]), compares
//! them with the records committed last and stages the MLS key store's
//! changed entries ([`MlsKeyStore`]); all of that is **one**
//! [`Storage::commit`]: one journal append and one `fdatasync` in the CLI,
//! whose size is what changed (one message sent: one history record, one
//! outbox delete and a few MLS entries), not the whole state. A save that
//! changes nothing writes nothing. MLS state and processed envelope ids
//! stay in one batch, so an envelope counts as processed only if the MLS
//! state that processed it is stored too.
//!
//! **Lease.** The store's lease is taken at the first commit of an
//! operation (operations that only read write nothing) and fences any
//! other writer. A front-end may keep a lock of its own in front of it (the
//! CLI's home lock makes a second command wait instead of failing).

use std::collections::VecDeque;

use crate::mls_store::{MlsKeyStore, MlsStoreError};
use crate::storage::{
    Batch, BlobKey, HolderId, Lease, Op, RecordMap, Scan, Space, Storage, StorageError, changes,
};
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::mls::MlsClient;

use crate::error::ClientError;
use crate::state::State;
use crate::state_records::{self, RecordError, SEEN_PREFIX};

/// How long a lease lasts before it is renewed (a command renews it while it
/// runs; a dead holder is taken over before expiry anyway).
const LEASE_TTL_MS: u64 = 60 * 60 * 1000;
/// Renew when less than this is left.
const LEASE_RENEW_MS: u64 = 10 * 60 * 1000;

/// A device's opened store with what it holds.
pub struct Loaded<S> {
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
/// of the core's [`Storage`] backends.
pub struct DeviceStore<S> {
    storage: S,
    /// Where the store is, as the front-end names it (error messages).
    place: String,
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
            .field("place", &self.place)
            .field("records", &self.committed.len())
            .finish_non_exhaustive()
    }
}

/// A storage error of the store at `place`.
pub(crate) fn storage_error(place: &str, error: StorageError) -> ClientError {
    ClientError::Storage { place: place.to_string(), error }
}

fn record_error(place: &str, error: RecordError) -> ClientError {
    ClientError::StoredData { place: place.to_string(), reason: error.to_string() }
}

fn mls_store_error(place: &str, error: MlsStoreError) -> ClientError {
    match error {
        MlsStoreError::Storage(e) => storage_error(place, e),
        MlsStoreError::Mls(e) => ClientError::Mls(e),
    }
}

impl<S: Storage> DeviceStore<S> {
    /// A store over `storage` (empty, or holding a device's records).
    /// `place` only names it in error messages (the CLI: its home).
    /// `holder` names this writer in the storage's lease (see
    /// [`HolderId`]).
    pub fn over(storage: S, place: String, holder: String) -> DeviceStore<S> {
        DeviceStore {
            storage,
            place,
            holder,
            lease: None,
            committed: RecordMap::new(),
            keys: MlsKeyStore::new(),
        }
    }

    /// Where the store is, as the front-end named it (error messages).
    pub fn place(&self) -> &str {
        &self.place
    }

    /// The storage under this store (a front-end's own records).
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Reads a device's records and MLS key store from the storage.
    pub async fn load_existing(self, secret: &DeviceSecret) -> Result<Loaded<S>, ClientError> {
        self.load(secret).await
    }

    /// Reads this mapping's records and the MLS key store.
    pub(crate) async fn load(mut self, secret: &DeviceSecret) -> Result<Loaded<S>, ClientError> {
        let home = self.place.clone();
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
                    ClientError::StoredData { place: home.clone(), reason: e.to_string() }
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
                let holder = HolderId::new(self.holder.clone())
                    .map_err(|e| storage_error(&self.place, e))?;
                self.storage.acquire_lease(&holder, now, LEASE_TTL_MS).await
            }
            Some(lease) if lease.expires_at.saturating_sub(now) < LEASE_RENEW_MS => {
                self.storage.renew_lease(&lease, now, LEASE_TTL_MS).await
            }
            Some(lease) => Ok(lease),
        }
        .map_err(|e| storage_error(&self.place, e))?;
        self.lease = Some(lease.clone());
        Ok(lease)
    }

    /// A storage error of this store as the CLI reports it.
    pub fn error(&self, error: StorageError) -> ClientError {
        storage_error(&self.place, error)
    }

    /// The records of `space` that `scan` selects (spaces outside the
    /// state's mapping, such as [`Space::Transfers`]).
    pub async fn scan(
        &self,
        space: Space,
        scan: &Scan,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ClientError> {
        self.storage.scan(space, scan).await.map_err(|e| self.error(e))
    }

    /// Commits `batch`, which changes only spaces outside the state's
    /// mapping ([`state_records::SPACES`]): their records are not part of
    /// the diff a save computes, so a save never undoes them.
    pub async fn commit_other(&mut self, batch: Batch, now: u64) -> Result<(), ClientError> {
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
                &self.place,
                StorageError::Invalid { reason: "a batch outside the state touched its spaces" },
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let lease = self.lease(now).await?;
        self.storage.commit(&lease, batch).await.map_err(|e| storage_error(&self.place, e))
    }

    /// Stores chunk `index` of `blob` durably.
    pub async fn put_chunk(
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
    pub async fn read_blob(&self, blob: BlobKey) -> Result<Option<Vec<u8>>, ClientError> {
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
    pub async fn has_chunks(&self, blob: BlobKey) -> Result<bool, ClientError> {
        let indexes = self.storage.chunk_indexes(blob).await.map_err(|e| self.error(e))?;
        Ok(!indexes.is_empty())
    }

    /// Removes every chunk of `blob`.
    pub async fn remove_chunks(&mut self, blob: BlobKey, now: u64) -> Result<(), ClientError> {
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
            state_records::to_records(state, seen).map_err(|e| record_error(&self.place, e))?;
        let mut batch = changes(&self.committed, &records);
        let staged = self.keys.stage(mls).map_err(|e| mls_store_error(&self.place, e))?;
        staged.add_to(&mut batch);
        if batch.is_empty() {
            return Ok(());
        }
        if erase {
            batch.erase_deleted();
        }
        let lease = self.lease(now).await?;
        self.storage.commit(&lease, batch).await.map_err(|e| storage_error(&self.place, e))?;
        self.committed = records;
        self.keys.committed(staged);
        Ok(())
    }
}
