//! Attachment requests: chunked, resumable uploads and chunk downloads of
//! encrypted blobs, and the sweeping of expired ones.
//!
//! Files live in [`crate::blobs`], metadata in the store. A chunk is written
//! and synced to its file first, then counted in the metadata, then the
//! metadata is flushed, and only then is the chunk acknowledged. The blob id
//! (128 random bits) is the download capability: any authenticated device
//! that knows it may download, and the contents are end-to-end encrypted.

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

/// The answer describing an upload's state.
fn progress(blob: &BlobId, record: &BlobRecord) -> Response {
    Response::UploadProgress {
        blob: *blob,
        chunks_received: record.chunks_received,
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
        // A retry of a chunk that is already stored: acknowledge again.
        if index < record.chunks_received {
            return Ok(progress(blob, &record));
        }
        if index > record.chunks_received {
            return Err(RelayError::UnexpectedChunk { expected: record.chunks_received });
        }
        if record.complete || record.all_received() {
            return Err(RelayError::InvalidRequest(
                "every chunk was already received; finish the upload",
            ));
        }
        let expected = record.chunk_len(index);
        if data.len() as u64 != expected {
            return Err(RelayError::ChunkLength { index, expected });
        }
        let offset = record.offset(index);
        let files = self.blobs.clone();
        let id = *blob;
        blocking(move || files.write_chunk(&id, offset, &data))
            .await
            .map_err(file_error("write"))?;
        let updated = match self.store.record_blob_chunk(blob, index) {
            Ok(updated) => updated,
            Err(err) => {
                // Not counted, so not kept: cut the file back.
                let files = self.blobs.clone();
                if blocking(move || files.truncate(&id, offset)).await.is_err() {
                    // The next chunk write cuts it back instead.
                    tracing::warn!("could not cut back an attachment file");
                }
                return Err(err.into());
            }
        };
        // If this flush fails the chunk may or may not be counted after a
        // crash; either way the file holds at least what is counted, and the
        // next write replaces anything beyond it.
        self.durable().await?;
        Ok(progress(blob, &updated))
    }

    /// How far the caller's upload got.
    pub(super) fn upload_status(
        &self,
        me: &Identity,
        blob: &BlobId,
    ) -> Result<Response, RelayError> {
        let record = self.owned_blob(me, blob)?;
        Ok(progress(blob, &record))
    }

    /// Completes an upload whose chunks have all arrived.
    pub(super) async fn upload_finish(
        &self,
        me: &Identity,
        blob: &BlobId,
    ) -> Result<Response, RelayError> {
        let _busy = self.claim_blob_waiting(blob).await?;
        let record = self.owned_blob(me, blob)?;
        if record.complete {
            // A retry after a lost answer.
            return Ok(Response::BlobStored {
                blob: *blob,
                size: record.size,
                expires_at: record.expires_at,
            });
        }
        if !record.all_received() {
            return Err(RelayError::InvalidRequest("the upload is incomplete"));
        }
        let files = self.blobs.clone();
        let (id, size) = (*blob, record.size);
        blocking(move || files.finish(&id, size)).await.map_err(file_error("finish"))?;
        let expires_at =
            unix_ms().saturating_add(self.retention().ms(super::RetentionKind::Attachments));
        let done = self.store.complete_blob(blob, expires_at)?;
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
