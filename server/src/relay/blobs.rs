//! Attachment requests: chunked, resumable uploads and chunk downloads of
//! encrypted blobs, and the sweeping of expired ones.
//!
//! Files live in [`crate::blobs`], metadata in the store. A chunk is
//! normally written to its file (page cache, no sync), counted in memory
//! ([`BlobFiles::received`](crate::blobs::BlobFiles::received)) and
//! acknowledged. When the bytes written since the last sync reach
//! `blob_sync_bytes`, and always for the last chunk and at finish, the file
//! is `fdatasync`ed first, then the durable chunk count is stored in the
//! metadata, then the metadata is flushed, and only then is the chunk
//! acknowledged. So acknowledged chunks survive a server crash up to the
//! last sync: `upload_status` answers the in-memory count while the process
//! lives and the durable count after a restart, and the client resumes from
//! there. The blob id (128 random bits) is the download capability: any
//! authenticated device that knows it may download, and the contents are
//! end-to-end encrypted.

use std::io;
use std::time::Duration;

use stadtbote_protocol::BlobId;
use stadtbote_protocol::frame::Response;

use super::{Identity, Relay, RelayError};
use crate::store::{BlobRecord, StoreError};
use crate::unix_ms;

/// Expired blobs deleted per store pass of a sweep.
const SWEEP_BATCH: usize = 256;

/// How long a request waits for another request on the same blob to finish
/// before answering `unavailable`. A client whose connection broke mid-chunk
/// resumes on a new connection while the server may still be finishing the
/// old request (one chunk write and flush: milliseconds); waiting this long
/// spares it a retry in that common case.
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// Pause between checks while waiting for a busy blob.
const BUSY_POLL: Duration = Duration::from_millis(10);

/// Marks a blob as being worked on; released on drop.
pub(super) struct BusyBlob<'a> {
    relay: &'a Relay,
    blob: BlobId,
}

impl Drop for BusyBlob<'_> {
    fn drop(&mut self) {
        self.relay.busy_set().remove(&self.blob);
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(io::Error::other("blocking file task failed")))
}

/// Whether writing chunk `index` of an upload whose metadata durably counts
/// `record.chunks_received` chunks must sync the file and store the count:
/// when the bytes not yet synced, this chunk included, reach `sync_bytes`,
/// or when it is the last chunk (so that finishing finds every chunk
/// counted).
fn sync_due(record: &BlobRecord, index: u32, sync_bytes: u64) -> bool {
    let end = record.offset(index).saturating_add(record.chunk_len(index));
    let unsynced = end.saturating_sub(record.offset(record.chunks_received));
    u64::from(index) + 1 >= record.total_chunks() || unsynced >= sync_bytes
}

/// The answer describing an upload's state, with `received` chunks held.
fn progress(blob: &BlobId, record: &BlobRecord, received: u32) -> Response {
    Response::UploadProgress {
        blob: *blob,
        chunks_received: received,
        size: record.size,
        chunk_size: record.chunk_size,
        complete: record.complete,
    }
}

/// A failed file operation: logged without ids, answered as a storage failure.
fn file_error(what: &'static str) -> impl FnOnce(io::Error) -> RelayError {
    move |err| {
        tracing::warn!(error = %err, operation = what, "attachment file operation failed");
        RelayError::StorageUnavailable
    }
}

impl Relay {
    fn busy_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<BlobId>> {
        // A poisoned lock only means a panic mid-insert; the set is intact.
        self.busy_blobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `blob` for one request, or answers `unavailable` if another
    /// request (a retry on a second connection, or the sweeper) holds it.
    fn claim_blob(&self, blob: &BlobId) -> Result<BusyBlob<'_>, RelayError> {
        if !self.busy_set().insert(*blob) {
            return Err(RelayError::Unavailable);
        }
        Ok(BusyBlob { relay: self, blob: *blob })
    }

    /// Like [`Self::claim_blob`], but waits up to [`BUSY_WAIT`] for the
    /// other request to finish.
    async fn claim_blob_waiting(&self, blob: &BlobId) -> Result<BusyBlob<'_>, RelayError> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        loop {
            match self.claim_blob(blob) {
                Ok(busy) => return Ok(busy),
                Err(err) if tokio::time::Instant::now() >= deadline => return Err(err),
                Err(_) => tokio::time::sleep(BUSY_POLL).await,
            }
        }
    }

    /// The caller's unfinished or finished upload. Other accounts' blobs and
    /// unfinished uploads past their expiry look unknown.
    fn owned_blob(&self, me: &Identity, blob: &BlobId) -> Result<BlobRecord, RelayError> {
        match self.store.blob(blob)? {
            Some(record)
                if record.owner == me.account
                    && (record.complete || record.expires_at > unix_ms()) =>
            {
                Ok(record)
            }
            _ => Err(RelayError::UnknownBlob),
        }
    }

    /// Starts an upload of `size` bytes.
    pub(super) async fn upload_start(
        &self,
        me: &Identity,
        size: u64,
    ) -> Result<Response, RelayError> {
        if size == 0 {
            return Err(RelayError::InvalidRequest("an attachment must not be empty"));
        }
        let limit = self.limits.max_blob_bytes;
        if size > limit {
            return Err(RelayError::BlobTooLarge { size, limit });
        }
        let chunk_size = self.limits.blob_chunk_bytes;
        let now = unix_ms();
        let expires_at = now.saturating_add(self.retention().ms(super::RetentionKind::Uploads));
        let record = BlobRecord {
            owner: me.account,
            size,
            chunk_size,
            chunks_received: 0,
            complete: false,
            created_at: now,
            expires_at,
            // Each blob costs a file, so tiny blobs count as one chunk:
            // the quota also bounds how many files an account can create.
            charged: size.max(u64::from(chunk_size)),
        };
        let blob = BlobId::random();
        self.store.create_blob(&blob, &record, self.limits.blob_quota_bytes)?;
        let files = self.blobs.clone();
        if let Err(err) = blocking(move || files.create_part(&blob)).await {
            let _ = self.store.delete_blob(&blob);
            return Err(file_error("create")(err));
        }
        // A crash before this flush leaves a file without metadata, which
        // the next start removes.
        self.durable().await?;
        Ok(Response::UploadStarted { blob, chunk_size, expires_at })
    }

    /// Chunks an upload holds now: what this process wrote to its file, or
    /// (after a restart, or once synced) what the metadata durably counts.
    fn held_chunks(&self, blob: &BlobId, record: &BlobRecord) -> u32 {
        if record.complete {
            return record.chunks_received;
        }
        self.blobs.received(blob).map_or(record.chunks_received, |n| n.max(record.chunks_received))
    }

    /// Makes the first `count` chunks of an upload durable: syncs the file
    /// (if `sync_file`; a syncing chunk write already did), then stores the
    /// count, then waits for the flush. The file is synced before the
    /// metadata that counts it, so a crash never leaves the metadata
    /// claiming bytes the file lacks.
    async fn make_chunks_durable(
        &self,
        blob: &BlobId,
        count: u32,
        sync_file: bool,
    ) -> Result<BlobRecord, RelayError> {
        if sync_file {
            let files = self.blobs.clone();
            let id = *blob;
            if let Err(err) = blocking(move || files.sync_part(&id)).await {
                // The unsynced chunks may be lost: resume from the durable count.
                self.blobs.forget_received(blob);
                return Err(file_error("sync")(err));
            }
        }
        // On failure the file holds more than is counted, which is fine: the
        // next chunk write starts at the counted (or held) end and cuts the
        // rest off.
        let updated = self.store.record_blob_chunks(blob, count)?;
        // If this flush fails the chunks may or may not be counted after a
        // crash; either way the file holds at least what is counted.
        self.durable().await?;
        Ok(updated)
    }

    /// Stores chunk `index` of an upload.
    pub(super) async fn upload_chunk(
        &self,
        me: &Identity,
        blob: &BlobId,
        index: u32,
        data: Vec<u8>,
    ) -> Result<Response, RelayError> {
        let _busy = self.claim_blob_waiting(blob).await?;
        let record = self.owned_blob(me, blob)?;
        let held = self.held_chunks(blob, &record);
        // A retry of a chunk that is already held: acknowledge again.
        if index < held {
            return Ok(progress(blob, &record, held));
        }
        if index > held {
            return Err(RelayError::UnexpectedChunk { expected: held });
        }
        if record.complete || u64::from(held) >= record.total_chunks() {
            return Err(RelayError::InvalidRequest(
                "every chunk was already received; finish the upload",
            ));
        }
        let expected = record.chunk_len(index);
        if data.len() as u64 != expected {
            return Err(RelayError::ChunkLength { index, expected });
        }
        let offset = record.offset(index);
        let sync = sync_due(&record, index, self.blobs.sync_bytes());
        let files = self.blobs.clone();
        let id = *blob;
        if let Err(err) = blocking(move || files.write_chunk(&id, offset, &data, sync)).await {
            if sync {
                // A failed sync may have dropped earlier unsynced chunks too.
                self.blobs.forget_received(blob);
            }
            return Err(file_error("write")(err));
        }
        let count = index.saturating_add(1);
        if !sync {
            self.blobs.set_received(blob, count);
            return Ok(progress(blob, &record, count));
        }
        // Not counted in memory until it is durable: if storing the count
        // fails, the chunk is not acknowledged and is written again.
        let updated = self.make_chunks_durable(blob, count, false).await?;
        self.blobs.set_received(blob, count);
        Ok(progress(blob, &updated, count))
    }

    /// How far the caller's upload got.
    pub(super) fn upload_status(
        &self,
        me: &Identity,
        blob: &BlobId,
    ) -> Result<Response, RelayError> {
        let record = self.owned_blob(me, blob)?;
        Ok(progress(blob, &record, self.held_chunks(blob, &record)))
    }

    /// Completes an upload whose chunks have all arrived.
    pub(super) async fn upload_finish(
        &self,
        me: &Identity,
        blob: &BlobId,
    ) -> Result<Response, RelayError> {
        let _busy = self.claim_blob_waiting(blob).await?;
        let mut record = self.owned_blob(me, blob)?;
        if record.complete {
            // A retry after a lost answer.
            return Ok(Response::BlobStored {
                blob: *blob,
                size: record.size,
                expires_at: record.expires_at,
            });
        }
        let held = self.held_chunks(blob, &record);
        if u64::from(held) < record.total_chunks() {
            return Err(RelayError::InvalidRequest("the upload is incomplete"));
        }
        if !record.all_received() {
            // Every chunk is in the file but not all are counted durably
            // (storing the count after the last chunk failed): count them
            // before the file is renamed, or a crash in between would leave
            // an upload that cannot be finished or resumed.
            record = self.make_chunks_durable(blob, held, true).await?;
        }
        let files = self.blobs.clone();
        let (id, size) = (*blob, record.size);
        blocking(move || files.finish(&id, size)).await.map_err(file_error("finish"))?;
        let expires_at =
            unix_ms().saturating_add(self.retention().ms(super::RetentionKind::Attachments));
        let done = self.store.complete_blob(blob, expires_at)?;
        self.blobs.forget_received(blob);
        self.durable().await?;
        Ok(Response::BlobStored { blob: *blob, size: done.size, expires_at: done.expires_at })
    }

    /// One chunk of a complete blob, for any authenticated device.
    pub(super) async fn download_chunk(
        &self,
        blob: &BlobId,
        index: u32,
    ) -> Result<Response, RelayError> {
        let record = match self.store.blob(blob)? {
            Some(record) if record.complete && record.expires_at > unix_ms() => record,
            _ => return Err(RelayError::UnknownBlob),
        };
        let total = record.total_chunks();
        if u64::from(index) >= total {
            return Err(RelayError::InvalidRequest("chunk index beyond the end of the attachment"));
        }
        let offset = record.offset(index);
        // At most one chunk, which fits in memory by configuration.
        let len = usize::try_from(record.chunk_len(index)).map_err(|_| RelayError::Internal)?;
        let files = self.blobs.clone();
        let id = *blob;
        let data = match blocking(move || files.read_chunk(&id, offset, len)).await {
            Ok(data) => data,
            // Deleted by the sweeper between the lookup and the read.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(RelayError::UnknownBlob);
            }
            Err(err) => return Err(file_error("read")(err)),
        };
        Ok(Response::BlobChunk {
            index,
            data: data.into(),
            size: record.size,
            last: u64::from(index) + 1 == total,
        })
    }

    /// Deletes blobs (finished or not) that expired before `now_ms`:
    /// metadata first, made durable, then the files, so that a crash in
    /// between leaves only files without metadata, which the next start
    /// removes. Blobs a request is working on are left for the next sweep.
    /// Blocking. Returns how many were deleted.
    pub fn sweep_blobs(&self, now_ms: u64) -> Result<u64, StoreError> {
        // Forget in-memory chunk counts whose upload is gone or finished
        // (an account deleted while one of its chunks was being written):
        // the entries stay bounded by the unfinished uploads.
        for blob in self.blobs.received_blobs() {
            let Ok(_busy) = self.claim_blob(&blob) else { continue };
            if self.store.blob(&blob)?.is_none_or(|record| record.complete) {
                self.blobs.forget_received(&blob);
            }
        }
        let mut total = 0u64;
        loop {
            let expired = self.store.expired_blobs(now_ms, SWEEP_BATCH)?;
            let full = expired.len() >= SWEEP_BATCH;
            let mut deleted = Vec::new();
            for blob in expired {
                let Ok(busy) = self.claim_blob(&blob) else { continue };
                if self.store.delete_blob(&blob)?.is_some() {
                    deleted.push(busy);
                }
            }
            if deleted.is_empty() {
                return Ok(total);
            }
            self.store.flush()?;
            for busy in &deleted {
                if let Err(err) = self.blobs.remove(&busy.blob) {
                    tracing::warn!(error = %err, "could not delete an expired attachment file");
                }
            }
            total += deleted.len() as u64;
            if !full {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use stadtbote_protocol::AccountId;

    use super::*;

    const KIB: u64 = 1024;

    /// An upload of `size` bytes in 64 KiB chunks, `durable` of them counted.
    fn upload(size: u64, durable: u32) -> BlobRecord {
        BlobRecord {
            owner: AccountId([1; 16]),
            size,
            chunk_size: 65_536,
            chunks_received: durable,
            complete: false,
            created_at: 0,
            expires_at: 1,
            charged: size,
        }
    }

    #[test]
    fn a_sync_is_due_every_sync_bytes_and_at_the_last_chunk() {
        // 3 MiB = 48 chunks; sync every 1 MiB = 16 chunks.
        let sync_bytes = 1024 * KIB;
        let due: Vec<u32> = (0..48)
            .filter(|&i| sync_due(&upload(3 * 1024 * KIB, i / 16 * 16), i, sync_bytes))
            .collect();
        assert_eq!(due, vec![15, 31, 47]);
        // A short last chunk still syncs.
        let record = upload(100 * KIB, 0);
        assert_eq!(record.total_chunks(), 2);
        assert!(!sync_due(&record, 0, sync_bytes));
        assert!(sync_due(&record, 1, sync_bytes));
        // A threshold of one chunk (or less) syncs every chunk, as before.
        assert!((0..48).all(|i| sync_due(&upload(3 * 1024 * KIB, i), i, 64 * KIB)));
        // After a failed count update the next chunk syncs again.
        assert!(sync_due(&upload(3 * 1024 * KIB, 0), 16, sync_bytes));
        // A threshold that is not a multiple of the chunk size: the first
        // chunk that reaches it.
        let due: Vec<u32> = (0..10)
            .scan(0u32, |durable, i| {
                let sync = sync_due(&upload(640 * KIB, *durable), i, 100 * KIB);
                if sync {
                    *durable = i + 1;
                }
                Some((i, sync))
            })
            .filter_map(|(i, sync)| sync.then_some(i))
            .collect();
        assert_eq!(due, vec![1, 3, 5, 7, 9]);
    }

    #[test]
    fn the_answer_reports_the_chunks_held() {
        let record = upload(3 * 1024 * KIB, 16);
        let Response::UploadProgress { chunks_received, size, .. } =
            progress(&BlobId([2; 16]), &record, 20)
        else {
            panic!("not a progress answer");
        };
        assert_eq!((chunks_received, size), (20, 3 * 1024 * KIB));
    }
}
