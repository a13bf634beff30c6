//! [`MemoryStorage`]: the [`Storage`] reference implementation, in memory.
//!
//! For unit tests of the core and as the executable statement of the
//! semantics the conformance suite checks. Clones are handles on the same
//! store (as two processes on one `--home`, or two tabs on one origin), so
//! lease takeover and fencing can be exercised; nothing survives the last
//! handle.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Batch, BlobKey, HolderId, Lease, LeaseRecord, RecordMap, Scan, Space, Storage, StorageError,
    check_value_len,
};

/// An in-memory store; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    records: RecordMap,
    chunks: BTreeMap<(BlobKey, u32), Vec<u8>>,
    lease: LeaseRecord,
    commits: u64,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> Result<MutexGuard<'_, Inner>, StorageError> {
        // Nothing between a commit's checks and its end can panic, but a
        // poisoned lock is reported rather than guessed about.
        self.inner
            .lock()
            .map_err(|_| StorageError::Unavailable { reason: "a writer panicked".into() })
    }

    /// How many batches were committed (for tests that count durable writes).
    pub fn commits(&self) -> u64 {
        self.inner().map(|i| i.commits).unwrap_or(0)
    }

    /// A copy of every record (for tests comparing whole states).
    pub fn records(&self) -> Result<RecordMap, StorageError> {
        Ok(self.inner()?.records.clone())
    }
}

impl Storage for MemoryStorage {
    async fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner()?.records.get(space, key).map(<[u8]>::to_vec))
    }

    async fn scan(
        &self,
        space: Space,
        scan: &Scan,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError> {
        Ok(self.inner()?.records.scan(space, scan))
    }

    async fn commit(&self, lease: &Lease, batch: Batch) -> Result<(), StorageError> {
        batch.check_limits()?;
        let mut inner = self.inner()?;
        inner.lease.check(lease)?;
        inner.records.apply(&batch);
        inner.commits += 1;
        Ok(())
    }

    async fn put_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        check_value_len(bytes.len())?;
        let mut inner = self.inner()?;
        inner.lease.check(lease)?;
        inner.chunks.insert((blob, index), bytes.to_vec());
        Ok(())
    }

    async fn get_chunk(&self, blob: BlobKey, index: u32) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner()?.chunks.get(&(blob, index)).cloned())
    }

    async fn chunk_indexes(&self, blob: BlobKey) -> Result<Vec<u32>, StorageError> {
        let inner = self.inner()?;
        Ok(inner.chunks.range((blob, 0)..=(blob, u32::MAX)).map(|((_, i), _)| *i).collect())
    }

    async fn remove_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
    ) -> Result<(), StorageError> {
        let mut inner = self.inner()?;
        inner.lease.check(lease)?;
        inner.chunks.remove(&(blob, index));
        Ok(())
    }

    async fn remove_chunks(&self, lease: &Lease, blob: BlobKey) -> Result<(), StorageError> {
        let mut inner = self.inner()?;
        inner.lease.check(lease)?;
        inner.chunks.retain(|(b, _), _| *b != blob);
        Ok(())
    }

    async fn acquire_lease(
        &self,
        holder: &HolderId,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError> {
        let mut inner = self.inner()?;
        let (record, lease) = inner.lease.acquire(holder, now_ms, ttl_ms, false)?;
        inner.lease = record;
        Ok(lease)
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError> {
        let mut inner = self.inner()?;
        let (record, renewed) = inner.lease.renew(lease, now_ms, ttl_ms)?;
        inner.lease = record;
        Ok(renewed)
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StorageError> {
        let mut inner = self.inner()?;
        inner.lease = inner.lease.release(lease)?;
        Ok(())
    }
}
