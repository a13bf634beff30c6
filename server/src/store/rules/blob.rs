//! Rules of attachment uploads: the per-account quota and chunk order.

use crate::store::{BlobRecord, StoreError};

/// The account's charged bytes after adding `charge` to `used`, or
/// [`StoreError::QuotaExceeded`]. The backend reads and writes the usage in
/// one transaction, so parallel uploads cannot both slip under the quota.
pub fn charge(used: u64, charge: u64, quota: u64) -> Result<u64, StoreError> {
    let total = used.saturating_add(charge);
    if total > quota { Err(StoreError::QuotaExceeded) } else { Ok(total) }
}

/// Whether `count` chunks may now be recorded as durably stored: more than
/// before, no more than the blob has, and not after completion.
pub fn check_chunks(record: &BlobRecord, count: u32) -> Result<(), StoreError> {
    if record.complete
        || count <= record.chunks_received
        || u64::from(count) > record.total_chunks()
    {
        return Err(StoreError::ChunkOutOfOrder { expected: record.chunks_received });
    }
    Ok(())
}

/// Whether the upload may be completed: `Ok(false)` when it already is
/// (completing twice is harmless), `Ok(true)` when every chunk is there.
pub fn may_complete(record: &BlobRecord) -> Result<bool, StoreError> {
    if record.complete {
        return Ok(false);
    }
    if !record.all_received() {
        return Err(StoreError::ChunkOutOfOrder { expected: record.chunks_received });
    }
    Ok(true)
}
