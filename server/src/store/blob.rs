//! Metadata of encrypted attachments ("blobs").
//!
//! The blob contents are files outside the database (see `crate::blobs`);
//! the store keeps, per blob, who uploaded it (for the quota), its size and
//! chunking, how far the upload got and when it expires, plus each account's
//! quota usage. Creating a blob checks and charges the quota in one atomic
//! step, so concurrent uploads cannot overrun it.

use stadtbote_protocol::{AccountId, BlobId};

use super::StoreError;

/// What the server knows about one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRecord {
    /// The uploading account (only it may write or query the upload).
    pub owner: AccountId,
    /// Total size in bytes, declared at start.
    pub size: u64,
    /// Size of every chunk but the last.
    pub chunk_size: u32,
    /// Chunks stored durably so far, in order (the file may hold more that
    /// were not synced yet; see `crate::blobs`).
    pub chunks_received: u32,
    /// Whether the upload was finished (only then can it be downloaded).
    pub complete: bool,
    /// When the upload started (Unix ms).
    pub created_at: u64,
    /// When the sweeper deletes it (Unix ms): unfinished uploads after
    /// `upload_ttl_secs`, complete blobs after `blob_ttl_secs`.
    pub expires_at: u64,
    /// Bytes charged to the owner's quota (released when it is deleted).
    pub charged: u64,
}

impl BlobRecord {
    /// Number of chunks of the whole blob.
    pub fn total_chunks(&self) -> u64 {
        self.size.div_ceil(u64::from(self.chunk_size.max(1)))
    }

    /// Byte offset of chunk `index`.
    pub fn offset(&self, index: u32) -> u64 {
        u64::from(index).saturating_mul(u64::from(self.chunk_size))
    }

    /// Length of chunk `index`: the chunk size, or the remainder for the
    /// last chunk; 0 for an index past the end.
    pub fn chunk_len(&self, index: u32) -> u64 {
        self.size.saturating_sub(self.offset(index)).min(u64::from(self.chunk_size))
    }

    /// Whether every chunk has been received.
    pub fn all_received(&self) -> bool {
        u64::from(self.chunks_received) >= self.total_chunks()
    }
}

/// Blob metadata and per-account quota usage.
pub trait BlobStore {
    /// Stores a new blob's metadata and charges `record.charged` to the
    /// owner, unless that would exceed `quota` ([`StoreError::QuotaExceeded`]).
    fn create_blob(&self, blob: &BlobId, record: &BlobRecord, quota: u64)
    -> Result<(), StoreError>;

    /// The blob's metadata, if it exists.
    fn blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError>;

    /// Records that the first `count` chunks are stored (durably: the
    /// caller synced the file first). `count` must be more than recorded so
    /// far and at most the blob's chunk count, else
    /// [`StoreError::ChunkOutOfOrder`].
    fn record_blob_chunks(&self, blob: &BlobId, count: u32) -> Result<BlobRecord, StoreError>;

    /// Marks a fully received blob complete, to be kept until `expires_at`.
    fn complete_blob(&self, blob: &BlobId, expires_at: u64) -> Result<BlobRecord, StoreError>;

    /// Deletes the blob's metadata and releases its quota. Returns what was
    /// deleted.
    fn delete_blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError>;

    /// Up to `limit` blobs that expired before `now_ms`, oldest first.
    fn expired_blobs(&self, now_ms: u64, limit: usize) -> Result<Vec<BlobId>, StoreError>;

    /// Bytes charged to `account`.
    fn blob_usage(&self, account: &AccountId) -> Result<u64, StoreError>;
}
