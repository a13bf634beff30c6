//! [`BlobStore`] on sled: blob metadata, the blob expiry index and each
//! account's quota usage. Trees and layouts are listed in `sled_store.rs`.
//! Owners are stored blinded and sealed ([`super::shred`]), usage is keyed
//! by the blinded account.

use sled::Transactional;
use sled::transaction::TransactionalTree;
use stadtbote_protocol::{AccountId, BlobId};

use super::blob::{BlobRecord, BlobStore};
use super::records::StoredBlob;
use super::shred::Blind;
use super::sled_store::{SledStore, TxResult, abort, io, tx_decode, tx_error};
use super::{StoreError, records, rules};

/// Reads a blob's stored record inside a transaction.
fn tx_blob(blobs: &TransactionalTree, blob: &BlobId) -> TxResult<StoredBlob> {
    match blobs.get(blob.as_bytes())? {
        Some(bytes) => tx_decode(records::decode_blob(&bytes)),
        None => abort(StoreError::UnknownBlob),
    }
}

/// Reads an account's usage inside a transaction.
fn tx_usage(usage: &TransactionalTree, account: &Blind) -> TxResult<u64> {
    match usage.get(account.as_bytes())? {
        Some(bytes) => tx_decode(records::decode_u64(&bytes, "blob_usage")),
        None => Ok(0),
    }
}

impl SledStore {
    /// The blob's record with its owner unsealed; `None` when the owner's
    /// account was deleted (its key destroyed).
    fn unsealed_blob(
        &self,
        blob: &BlobId,
        stored: StoredBlob,
    ) -> Result<Option<BlobRecord>, StoreError> {
        let owner = self.open_owner(&stored.owner, "blobs", blob.as_bytes())?;
        Ok(owner.map(|owner| BlobRecord { owner, ..stored.record }))
    }

    /// As [`SledStore::unsealed_blob`], for records that must be returned
    /// even when the owner is gone: the owner is then all zeros, which
    /// matches no caller.
    fn blob_any_owner(&self, blob: &BlobId, stored: StoredBlob) -> Result<BlobRecord, StoreError> {
        let record = stored.record;
        Ok(self.unsealed_blob(blob, stored)?.unwrap_or(record))
    }

    /// Deletes the blob's record and releases its quota charge, inside a
    /// transaction. Returns the deleted record.
    pub(super) fn tx_delete_blob(
        blobs: &TransactionalTree,
        usage: &TransactionalTree,
        expiry: &TransactionalTree,
        blob: &BlobId,
    ) -> TxResult<Option<StoredBlob>> {
        let Some(bytes) = blobs.remove(blob.as_bytes())? else { return Ok(None) };
        let stored = tx_decode(records::decode_blob(&bytes))?;
        let record = &stored.record;
        expiry.remove(&records::time_id_key(record.expires_at, blob.as_bytes()))?;
        let owner = &stored.owner.blind;
        let left = tx_usage(usage, owner)?.saturating_sub(record.charged);
        if left == 0 {
            usage.remove(owner.as_bytes())?;
        } else {
            usage.insert(owner.as_bytes(), records::encode_u64(left))?;
        }
        Ok(Some(stored))
    }
}

impl BlobStore for SledStore {
    fn create_blob(
        &self,
        blob: &BlobId,
        record: &BlobRecord,
        quota: u64,
    ) -> Result<(), StoreError> {
        let owner = self.seal_owner(&record.owner, "blobs", blob.as_bytes())?;
        (&self.blobs, &self.blob_usage, &self.blob_expiry)
            .transaction(|(blobs, usage, expiry)| {
                // 128 random bits do not collide in practice; should they,
                // refusing beats overwriting someone's upload.
                if blobs.get(blob.as_bytes())?.is_some() {
                    return abort(StoreError::contention());
                }
                // Usage is read and written in this transaction, so parallel
                // uploads of one account cannot both slip under the quota.
                let used = tx_usage(usage, &owner.blind)?;
                let total = tx_decode(rules::blob::charge(used, record.charged, quota))?;
                usage.insert(owner.blind.as_bytes(), records::encode_u64(total))?;
                let stored = StoredBlob { owner, record: *record };
                blobs.insert(blob.as_bytes(), records::encode_blob(&stored))?;
                expiry.insert(&records::time_id_key(record.expires_at, blob.as_bytes()), &[])?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        match self.blobs.get(blob.as_bytes()).map_err(io)? {
            Some(bytes) => self.unsealed_blob(blob, records::decode_blob(&bytes)?),
            None => Ok(None),
        }
    }

    fn record_blob_chunks(&self, blob: &BlobId, count: u32) -> Result<BlobRecord, StoreError> {
        let stored = self
            .blobs
            .transaction(|blobs| {
                let mut stored = tx_blob(blobs, blob)?;
                let record = &mut stored.record;
                tx_decode(rules::blob::check_chunks(record, count))?;
                record.chunks_received = count;
                blobs.insert(blob.as_bytes(), records::encode_blob(&stored))?;
                Ok(stored)
            })
            .map_err(tx_error)?;
        self.blob_any_owner(blob, stored)
    }

    fn complete_blob(&self, blob: &BlobId, expires_at: u64) -> Result<BlobRecord, StoreError> {
        let stored = (&self.blobs, &self.blob_expiry)
            .transaction(|(blobs, expiry)| {
                let mut stored = tx_blob(blobs, blob)?;
                let record = &mut stored.record;
                if !tx_decode(rules::blob::may_complete(record))? {
                    return Ok(stored);
                }
                expiry.remove(&records::time_id_key(record.expires_at, blob.as_bytes()))?;
                record.complete = true;
                record.expires_at = expires_at;
                expiry.insert(&records::time_id_key(expires_at, blob.as_bytes()), &[])?;
                blobs.insert(blob.as_bytes(), records::encode_blob(&stored))?;
                Ok(stored)
            })
            .map_err(tx_error)?;
        self.blob_any_owner(blob, stored)
    }

    fn delete_blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        let stored = (&self.blobs, &self.blob_usage, &self.blob_expiry)
            .transaction(|(blobs, usage, expiry)| Self::tx_delete_blob(blobs, usage, expiry, blob))
            .map_err(tx_error)?;
        stored.map(|stored| self.blob_any_owner(blob, stored)).transpose()
    }

    fn expired_blobs(&self, now_ms: u64, limit: usize) -> Result<Vec<BlobId>, StoreError> {
        let end = records::time_id_key(now_ms, &[0; 16]);
        let mut out = Vec::new();
        for key in self.blob_expiry.range(..end).keys().take(limit) {
            let (_, blob) = records::split_seq_id(&key.map_err(io)?)?;
            out.push(BlobId(blob));
        }
        Ok(out)
    }

    fn blob_usage(&self, account: &AccountId) -> Result<u64, StoreError> {
        match self.blob_usage.get(self.blind(account).as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_u64(&bytes, "blob_usage"),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn record(owner: AccountId, size: u64) -> BlobRecord {
        BlobRecord {
            owner,
            size,
            chunk_size: 1000,
            chunks_received: 0,
            complete: false,
            created_at: 1,
            expires_at: 100,
            charged: size.max(1000),
        }
    }

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        // Owners are sealed with their account's key, so the accounts the
        // tests use need one.
        for n in 1..=2 {
            store.keyring.create_key(&store.blind(&AccountId([n; 16]))).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn quota_counts_unfinished_uploads_and_is_released_on_delete() {
        let (_dir, store) = open();
        let alice = AccountId([1; 16]);
        let (a, b, c) = (BlobId([1; 16]), BlobId([2; 16]), BlobId([3; 16]));
        store.create_blob(&a, &record(alice, 6 * MIB), 10 * MIB).unwrap();
        assert!(matches!(
            store.create_blob(&b, &record(alice, 5 * MIB), 10 * MIB),
            Err(StoreError::QuotaExceeded)
        ));
        // Another account has its own quota; tiny blobs count one chunk.
        store.create_blob(&b, &record(AccountId([2; 16]), 5 * MIB), 10 * MIB).unwrap();
        store.create_blob(&c, &record(alice, 1), 10 * MIB).unwrap();
        assert_eq!(store.blob_usage(&alice).unwrap(), 6 * MIB + 1000);
        assert!(store.create_blob(&c, &record(alice, 1), 10 * MIB).is_err(), "ids are unique");
        assert_eq!(store.delete_blob(&a).unwrap().map(|r| r.size), Some(6 * MIB));
        assert_eq!(store.blob_usage(&alice).unwrap(), 1000);
        assert_eq!(store.delete_blob(&a).unwrap(), None);
        store.delete_blob(&c).unwrap();
        assert_eq!(store.blob_usage(&alice).unwrap(), 0);
        assert!(!store.blob_usage.contains_key(store.blind(&alice).as_bytes()).unwrap());
    }

    #[test]
    fn concurrent_uploads_cannot_overrun_the_quota() {
        let (_dir, store) = open();
        let store = std::sync::Arc::new(store);
        let alice = AccountId([1; 16]);
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.create_blob(&BlobId([i; 16]), &record(alice, 3 * MIB), 10 * MIB).is_ok()
                })
            })
            .collect();
        let created = handles.into_iter().map(|h| h.join().unwrap()).filter(|ok| *ok).count();
        assert_eq!(created, 3);
        assert_eq!(store.blob_usage(&alice).unwrap(), 9 * MIB);
    }

    #[test]
    fn chunks_are_recorded_in_order_then_the_blob_completes() {
        let (_dir, store) = open();
        let blob = BlobId([1; 16]);
        store.create_blob(&blob, &record(AccountId([1; 16]), 2500), MIB).unwrap();
        assert_eq!(record(AccountId([1; 16]), 2500).total_chunks(), 3);
        assert_eq!(record(AccountId([1; 16]), 2500).chunk_len(2), 500);
        assert!(matches!(
            store.record_blob_chunks(&blob, 0),
            Err(StoreError::ChunkOutOfOrder { expected: 0 })
        ));
        assert!(matches!(
            store.record_blob_chunks(&blob, 4),
            Err(StoreError::ChunkOutOfOrder { expected: 0 })
        ));
        assert!(matches!(
            store.complete_blob(&blob, 500),
            Err(StoreError::ChunkOutOfOrder { expected: 0 })
        ));
        // Several chunks at once (one sync covers them), then one more.
        assert_eq!(store.record_blob_chunks(&blob, 2).unwrap().chunks_received, 2);
        assert!(matches!(
            store.record_blob_chunks(&blob, 2),
            Err(StoreError::ChunkOutOfOrder { expected: 2 })
        ));
        assert_eq!(store.record_blob_chunks(&blob, 3).unwrap().chunks_received, 3);
        assert!(store.record_blob_chunks(&blob, 4).is_err(), "no chunk past the end");
        assert_eq!(store.expired_blobs(101, 10).unwrap(), vec![blob]);
        let done = store.complete_blob(&blob, 500).unwrap();
        assert!(done.complete && done.all_received());
        assert_eq!(done.owner, AccountId([1; 16]), "the owner is unsealed");
        assert_eq!(store.blob(&blob).unwrap(), Some(done));
        // The expiry index follows the new expiry.
        assert!(store.expired_blobs(101, 10).unwrap().is_empty());
        assert_eq!(store.expired_blobs(501, 10).unwrap(), vec![blob]);
        assert!(matches!(
            store.record_blob_chunks(&BlobId([9; 16]), 1),
            Err(StoreError::UnknownBlob)
        ));
        store.delete_blob(&blob).unwrap();
        assert!(store.blob_expiry.is_empty() && store.blobs.is_empty());
    }
}
