//! Photo attachments: prepare (remove metadata, encrypt), upload with
//! resume, download and decrypt.
//!
//! Preparing a photo stores it in the device's Storage (no files of its
//! own), under a random local upload id (32 hex digits, also the
//! [`BlobKey`] of its chunks):
//!
//! | where | content |
//! |---|---|
//! | chunks of blob `ID` ([`Storage::put_chunk`], 1 MiB each) | the encrypted photo exactly as it is uploaded |
//! | `upload/ID` in [`Space::Transfers`] | [`UploadRecord`] (CBOR): key, SHA-256, sizes, media type, and the server's blob id once the upload started |
//! | `preparing/ID` in [`Space::Transfers`] | while the chunks are written: removes them if the process dies before the record is committed |
//!
//! The ciphertext's chunks are durable before the record is committed, so a
//! record always has its ciphertext. An interrupted upload continues where
//! the server says it stopped (`upload_status` → `chunks_received`); the
//! ciphertext is never encrypted again, so a key never seals two different
//! streams. After the server answers `blob_stored` the ciphertext is deleted.
//! Records of uploads prepared with [`prepare_photo`] stay (without
//! ciphertext) until [`forget_upload`], so the attachment reference is not
//! lost if the process dies before the message that carries it is saved.
//!
//! Homes of the CLI from before kept these in `<home>/uploads/` (`ID.blob`,
//! `ID.cbor`); the CLI moves them into the store when the home is opened
//! (client-cli/src/photo_files.rs), with [`encode_record`] and friends.
//!
//! Reading the photo the user chose and saving a downloaded one are the
//! front-end's: the core takes a [`Photo`]'s bytes and gives back the
//! content ([`fetch_photo`]).

use crate::clock::Clock;
use crate::connection::ConnectionError;
use crate::storage::{Batch, BlobKey, Scan, Space, Storage};
use crate::transport::Connector;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use stadtbote_protocol::app::AttachmentRef;
use stadtbote_protocol::attachment::{
    AttachmentKey, Decryptor, Encryptor, Layout, MAX_CIPHERTEXT_BYTES, MAX_PLAINTEXT_BYTES,
};
use stadtbote_protocol::{BlobId, ErrorBody, ErrorCode, Request, Response};

use crate::error::ClientError;
use crate::metadata::{self, JPEG_MIME, PNG_MIME};
use crate::session::{Client, unexpected};

/// The key prefix of upload records in [`Space::Transfers`].
const RECORD_PREFIX: &[u8] = b"upload/";
/// The key prefix of uploads whose chunks are being written.
pub const PREPARING_PREFIX: &[u8] = b"preparing/";
/// The size of the stored pieces of a prepared upload's ciphertext (the
/// server's chunk size is only known once the upload starts).
pub const STORED_CHUNK: usize = 1 << 20;
/// Format version of [`UploadRecord`].
pub const UPLOAD_RECORD_VERSION: u16 = 1;
/// Files this much larger than the limit are refused without reading them
/// (metadata removal could not bring them under the limit).
pub const METADATA_ALLOWANCE: u64 = 4 << 20;
/// Largest chunk size accepted from the server (a chunk must fit a frame).
const MAX_CHUNK_SIZE: u32 = 8 << 20;
/// Longest the upload or download waits in all for one request while the
/// server answers `rate_limited`.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Longest file name stem written by [`download`].
const MAX_STEM_CHARS: usize = 64;

/// What the record `upload/ID` holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Format version ([`UPLOAD_RECORD_VERSION`]).
    pub v: u16,
    /// Local upload id (32 hex digits), also the file names.
    pub id: String,
    /// The attachment key.
    pub key: ByteBuf,
    /// SHA-256 of the ciphertext.
    pub sha256: ByteBuf,
    /// Ciphertext size.
    pub size: u64,
    /// Plaintext (cleaned photo) size.
    pub content_len: u64,
    /// Media type.
    pub mime: String,
    /// SHA-256 of the original file, to recognise a retry of the same photo.
    pub source: ByteBuf,
    /// Made by [`upload_photo`] (deleted when it returns) rather than by
    /// [`prepare_photo`] (kept until [`forget_upload`]).
    pub direct: bool,
    /// When it was prepared (Unix ms); uploads resume oldest first.
    pub created_at: u64,
    /// The server's blob id, once `upload_start` was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<BlobId>,
    /// The server's chunk size for this upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u32>,
    /// When the server deletes the stored blob (Unix ms), once `blob_stored`
    /// was answered; from then on the upload is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_until: Option<u64>,
}

impl std::fmt::Debug for UploadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadRecord")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("mime", &self.mime)
            .field("blob", &self.blob)
            .field("stored_until", &self.stored_until)
            .finish_non_exhaustive()
    }
}

impl UploadRecord {
    fn attachment(&self, blob: BlobId) -> AttachmentRef {
        AttachmentRef {
            blob,
            key: self.key.clone(),
            sha256: self.sha256.clone(),
            size: self.content_len,
            mime: self.mime.clone(),
            name: None,
        }
    }

    fn chunks(&self) -> u32 {
        let chunk_size = u64::from(self.chunk_size.unwrap_or(1).max(1));
        u32::try_from(self.size.div_ceil(chunk_size)).unwrap_or(u32::MAX)
    }
}

/// A photo prepared for upload by [`prepare_photo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedUpload {
    /// Local upload id: give it to [`resume_uploads`]' caller's bookkeeping.
    pub id: String,
    /// Media type.
    pub mime: String,
    /// Photo size after metadata removal.
    pub size: u64,
    /// Encrypted size.
    pub encrypted_size: u64,
}

/// Progress of an upload, for the CLI to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadEvent {
    /// An earlier attempt had stored `chunk` of `chunks` chunks; the upload
    /// continues from there ("resumed upload at chunk N of M").
    Resumed {
        /// Chunks already on the server.
        chunk: u32,
        /// Chunks in all.
        chunks: u32,
    },
    /// `done` of `chunks` chunks are on the server.
    Sent {
        /// Chunks stored so far.
        done: u32,
        /// Chunks in all.
        chunks: u32,
    },
}

/// The result of an upload.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    /// The local upload id.
    pub id: String,
    /// The reference to embed in the end-to-end encrypted message.
    pub attachment: AttachmentRef,
    /// Set when an earlier attempt had already stored this many chunks.
    pub resumed_from: Option<u32>,
    /// Chunks of the upload (in the server's chunk size).
    pub chunks: u32,
    /// When the server deletes the blob (Unix ms).
    pub expires_at: u64,
}

/// A photo the user chose: its name as the user gave it (for messages and
/// errors) and its bytes, which the front-end read (the CLI: the file,
/// refused early when it cannot fit the limit).
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// The name the user gave (the CLI: the path).
    pub path: PathBuf,
    /// The photo as read, metadata and all.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo").field("path", &self.path).field("len", &self.bytes.len()).finish()
    }
}

/// How the core reads a photo the user named (the CLI: the file, refused
/// early when it cannot fit the limit; the browser: the picked file).
pub type ReadPhoto<'a> = &'a dyn Fn(&Path) -> Result<Vec<u8>, ClientError>;

/// Strips metadata, checks the 20 MB limit, encrypts into the store, uploads (resuming a previous attempt for the same prepared file), returns the reference to embed in the E2E message.
pub async fn upload_photo<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    photo: Photo,
) -> Result<AttachmentRef, ClientError> {
    Ok(upload_photo_with_progress(client, photo, |_| {}).await?.attachment)
}

/// Like [`upload_photo`], reporting progress to `on_progress` and returning
/// how the upload went (whether it resumed an earlier attempt).
pub async fn upload_photo_with_progress<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    photo: Photo,
    mut on_progress: impl FnMut(UploadEvent),
) -> Result<UploadOutcome, ClientError> {
    let Photo { path, bytes: original } = photo;
    let source: [u8; 32] = Sha256::digest(&original).into();
    let earlier = list_records(client)
        .await?
        .into_iter()
        .find(|r| r.direct && r.source.as_slice() == source.as_slice());
    let mut record = match earlier {
        Some(record) => record,
        None => prepare(client, &path, original, source, true).await?.1,
    };
    let outcome = drive_upload(client, &mut record, &mut on_progress).await?;
    remove_upload_files(client, &record.id).await?;
    Ok(outcome)
}

/// Prepares a photo for a later upload without touching the network:
/// removes metadata, checks the limit and writes the encrypted file and its
/// record to the store. [`resume_uploads`] uploads it; the record stays
/// until [`forget_upload`].
pub async fn prepare_photo<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    photo: Photo,
) -> Result<PreparedUpload, ClientError> {
    let Photo { path, bytes: original } = photo;
    let source: [u8; 32] = Sha256::digest(&original).into();
    let (prepared, _) = prepare(client, &path, original, source, false).await?;
    Ok(prepared)
}

/// Resumes every unfinished upload recorded in the store (called by the outbox flush); returns the refs of completed ones keyed by the local upload id.
///
/// Completed uploads made with [`prepare_photo`] are returned again on every
/// call until [`forget_upload`] removes them. Stops at the first error; an
/// upload the server refuses as too large is deleted (it can never succeed),
/// anything else stays for the next attempt.
pub async fn resume_uploads<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
) -> Result<Vec<(String, AttachmentRef)>, ClientError> {
    resume_uploads_with_progress(client, |_, _| {}).await
}

/// Like [`resume_uploads`], reporting progress per local upload id.
pub async fn resume_uploads_with_progress<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    mut on_progress: impl FnMut(&str, UploadEvent),
) -> Result<Vec<(String, AttachmentRef)>, ClientError> {
    remove_stray_uploads(client).await?;
    let mut records = list_records(client).await?;
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut done = Vec::with_capacity(records.len());
    for mut record in records {
        let id = record.id.clone();
        let outcome = drive_upload(client, &mut record, &mut |e| on_progress(&id, e)).await?;
        if record.direct {
            // A direct upload whose caller died before getting its answer:
            // it is nobody's now but ours to report, once.
            remove_upload_files(client, &id).await?;
        }
        done.push((id, outcome.attachment));
    }
    Ok(done)
}

/// The uploads recorded in the store, oldest first.
pub async fn pending_uploads<S: Storage, K: Connector, C: Clock + Clone>(
    client: &Client<S, K, C>,
) -> Result<Vec<UploadRecord>, ClientError> {
    let mut records = list_records(client).await?;
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(records)
}

/// Deletes an upload's record and encrypted file (after its reference was
/// saved in a message, or to give up on it). Unknown ids are ignored.
pub async fn forget_upload<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    id: &str,
) -> Result<(), ClientError> {
    if !valid_id(id) {
        return Ok(());
    }
    remove_upload_files(client, id).await
}

/// Downloads, verifies the SHA-256 and decrypts a photo; returns its
/// content (of the media type `attachment.mime`). The front-end saves it
/// (the CLI: a file that never replaces another, see its photo_files.rs).
pub async fn fetch_photo<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    attachment: &AttachmentRef,
) -> Result<Vec<u8>, ClientError> {
    let invalid = || ClientError::AttachmentCorrupt { reason: "its reference is invalid" };
    let key = AttachmentKey::from_bytes(&attachment.key).map_err(|_| invalid())?;
    let expected_sha: [u8; 32] = attachment.sha256.as_slice().try_into().map_err(|_| invalid())?;
    let layout = Layout::for_content(attachment.size).map_err(|_| invalid())?;
    let ciphertext = fetch_blob(client, attachment.blob, layout.ciphertext_len).await?;
    let sha: [u8; 32] = Sha256::digest(&ciphertext).into();
    if sha != expected_sha {
        return Err(ClientError::AttachmentCorrupt {
            reason: "its checksum does not match (it was damaged or altered)",
        });
    }
    decrypt(&key, &ciphertext, attachment.size)
}

/// Decrypts `ciphertext`, checking the content length.
pub fn decrypt(
    key: &AttachmentKey,
    ciphertext: &[u8],
    content_len: u64,
) -> Result<Vec<u8>, ClientError> {
    let failed = || ClientError::AttachmentCorrupt {
        reason: "it could not be decrypted (damaged or altered)",
    };
    let mut dec = Decryptor::new(key, ciphertext.len() as u64).map_err(|_| failed())?;
    let mut content = Vec::with_capacity(usize::try_from(content_len).unwrap_or(0));
    let mut rest = ciphertext;
    while let Some(len) = dec.next_chunk_len() {
        let (chunk, tail) = rest.split_at_checked(len).ok_or_else(failed)?;
        content.extend_from_slice(&dec.decrypt_next(chunk).map_err(|_| failed())?);
        rest = tail;
    }
    if dec.finish().map_err(|_| failed())? != content_len {
        return Err(failed());
    }
    Ok(content)
}

/// A size in megabytes (10^6 bytes) as people read it: "23.4 MB", "20 MB".
/// Rounded up, so a file just over a limit never prints as the limit.
pub fn format_mb(bytes: u64) -> String {
    let tenths = bytes.div_ceil(100_000);
    if tenths.is_multiple_of(10) {
        format!("{} MB", tenths / 10)
    } else {
        format!("{}.{} MB", tenths / 10, tenths % 10)
    }
}

/// A file name stem safe on every common file system: letters, digits, `-`
/// and `_` only (anything else becomes `_`), never starting with `-` (it
/// would read as an option) or `.`, at most 64 characters, never empty.
pub fn safe_stem(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(MAX_STEM_CHARS)
        .collect();
    let trimmed = cleaned.trim_start_matches(['_', '-']).trim_end_matches('_');
    if trimmed.is_empty() { "photo".to_string() } else { trimmed.to_string() }
}

/// The file extension for a media type (`bin` for anything but the photo
/// formats this client sends).
pub fn extension(mime: &str) -> &'static str {
    match mime {
        JPEG_MIME => "jpg",
        PNG_MIME => "png",
        metadata::HEIC_MIME => "heic",
        metadata::HEIF_MIME => "heif",
        metadata::AVIF_MIME => "avif",
        metadata::WEBP_MIME => "webp",
        _ => "bin",
    }
}

// ---------------------------------------------------------------------------
// Preparing

/// Removes metadata, encrypts into the chunks of blob `ID` and commits the
/// record `upload/ID`.
async fn prepare<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    path: &Path,
    original: Vec<u8>,
    source: [u8; 32],
    direct: bool,
) -> Result<(PreparedUpload, UploadRecord), ClientError> {
    let now_ms = client.now_ms();
    let original_len = original.len() as u64;
    let clean = metadata::strip_metadata(&original)
        .map_err(|reason| ClientError::UnsupportedPhoto { path: path.to_path_buf(), reason })?;
    drop(original);
    let content_len = clean.bytes.len() as u64;
    if content_len > MAX_PLAINTEXT_BYTES {
        // Reported with the size the user sees on disk.
        return Err(ClientError::PhotoTooLarge {
            path: path.to_path_buf(),
            size: original_len.max(content_len),
            limit: MAX_PLAINTEXT_BYTES,
        });
    }
    let id = new_id();
    let key = AttachmentKey::generate();
    let (ciphertext, sha256) = encrypt(&key, &clean.bytes)?;
    let size = ciphertext.len() as u64;
    store_ciphertext(client, &id, &ciphertext).await?;
    drop(ciphertext);
    let record = UploadRecord {
        v: UPLOAD_RECORD_VERSION,
        id: id.clone(),
        key: ByteBuf::from(key.as_bytes().to_vec()),
        sha256: ByteBuf::from(sha256.to_vec()),
        size,
        content_len,
        mime: clean.mime.to_string(),
        source: ByteBuf::from(source.to_vec()),
        direct,
        created_at: now_ms,
        blob: None,
        chunk_size: None,
        stored_until: None,
    };
    let mut batch = Batch::new();
    batch.put(Space::Transfers, record_key(&record.id), encode_record(&record));
    batch.delete(Space::Transfers, preparing_key(&record.id));
    client.store.commit_other(batch, now_ms).await?;
    tracing::debug!(id = %id, size, "prepared an encrypted photo");
    let prepared =
        PreparedUpload { id, mime: record.mime.clone(), size: content_len, encrypted_size: size };
    Ok((prepared, record))
}

/// Encrypts `content` chunk by chunk; returns the ciphertext and its
/// SHA-256.
pub fn encrypt(key: &AttachmentKey, content: &[u8]) -> Result<(Vec<u8>, [u8; 32]), ClientError> {
    let mut enc = Encryptor::new(key, content.len() as u64)?;
    let capacity = usize::try_from(enc.layout().ciphertext_len).unwrap_or(0);
    let mut out = Vec::with_capacity(capacity);
    while let Some(range) = enc.next_content_range() {
        let piece = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| content.get(start..end))
            .ok_or(stadtbote_protocol::attachment::AttachmentError::Misuse)?;
        out.extend_from_slice(&enc.encrypt_next(piece)?);
    }
    let sha256 = enc.finish()?;
    Ok((out, sha256))
}

/// Stores a prepared upload's ciphertext as chunks of blob `id`, marked
/// `preparing/ID` until its record is committed (so that the chunks of an
/// upload whose process died here are found and removed).
pub async fn store_ciphertext<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    id: &str,
    ciphertext: &[u8],
) -> Result<(), ClientError> {
    let now = client.now_ms();
    let blob = blob_key(id)?;
    let mut marker = Batch::new();
    marker.put(Space::Transfers, preparing_key(id), Vec::new());
    client.store.commit_other(marker, now).await?;
    for (index, piece) in ciphertext.chunks(STORED_CHUNK).enumerate() {
        let index = u32::try_from(index).map_err(|_| ClientError::AttachmentRefusedTooLarge {
            size: ciphertext.len() as u64,
        })?;
        client.store.put_chunk(blob, index, piece, now).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Uploading

/// Uploads (or continues uploading) one prepared record until the server
/// stores it.
async fn drive_upload<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    record: &mut UploadRecord,
    on_progress: &mut dyn FnMut(UploadEvent),
) -> Result<UploadOutcome, ClientError> {
    if let (Some(blob), Some(expires_at)) = (record.blob, record.stored_until) {
        let chunks = record.chunks();
        return Ok(UploadOutcome {
            id: record.id.clone(),
            attachment: record.attachment(blob),
            resumed_from: Some(chunks),
            chunks,
            expires_at,
        });
    }
    let url = client.server_url.clone();
    // Where does the server stand?
    let mut state = None;
    if let Some(blob) = record.blob {
        match call_patiently(client, &Request::UploadStatus { blob }).await? {
            Ok(Response::UploadProgress {
                blob: got,
                chunks_received,
                size,
                chunk_size,
                complete,
            }) if got == blob && size == record.size => {
                state = Some((blob, chunk_size, chunks_received, complete));
            }
            Ok(other) => return Err(unexpected(&url, &other)),
            // Discarded (unfinished uploads expire): start again.
            Err(body) if body.code == ErrorCode::UnknownBlob => {
                tracing::info!(id = %record.id, "the server discarded the earlier upload; starting again");
            }
            Err(body) => return Err(upload_error(client, record, body).await),
        }
    }
    let resumed = state.is_some();
    let (blob, chunk_size, mut next, complete) = match state {
        Some(state) => state,
        None => {
            let request = Request::UploadStart { size: record.size };
            match call_patiently(client, &request).await? {
                Ok(Response::UploadStarted { blob, chunk_size, .. }) => {
                    record.blob = Some(blob);
                    record.chunk_size = Some(chunk_size);
                    save_record(client, record).await?;
                    (blob, chunk_size, 0, false)
                }
                Ok(other) => return Err(unexpected(&url, &other)),
                Err(body) => return Err(upload_error(client, record, body).await),
            }
        }
    };
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
        return Err(ClientError::Connection(ConnectionError::Protocol {
            url,
            reason: format!("unusable upload chunk size {chunk_size}"),
        }));
    }
    if record.chunk_size != Some(chunk_size) {
        record.chunk_size = Some(chunk_size);
        save_record(client, record).await?;
    }
    let chunks = record.chunks();
    if next > chunks {
        return Err(ClientError::Connection(ConnectionError::Protocol {
            url,
            reason: "the server claims more chunks than the upload has".into(),
        }));
    }
    let resumed_from = (resumed && next > 0).then_some(next);
    if let Some(chunk) = resumed_from {
        tracing::info!(id = %record.id, chunk, chunks, "resuming an upload");
        on_progress(UploadEvent::Resumed { chunk, chunks });
    }
    if !complete {
        let place = client.store.place().to_string();
        let ciphertext = client.store.read_blob(blob_key(&record.id)?).await?.ok_or_else(|| {
            ClientError::StoredData {
                place: place.clone(),
                reason: "the encrypted photo of this prepared upload is missing".into(),
            }
        })?;
        let stored = ciphertext.len() as u64;
        if stored != record.size {
            return Err(ClientError::StoredData {
                place,
                reason: format!("expected {} bytes, found {stored}", record.size),
            });
        }
        while next < chunks {
            let offset = u64::from(next) * u64::from(chunk_size);
            let len = (record.size - offset).min(u64::from(chunk_size));
            let piece = usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset + len).ok())
                .and_then(|(start, end)| ciphertext.get(start..end))
                .unwrap_or_default();
            let request =
                Request::UploadChunk { blob, index: next, data: ByteBuf::from(piece.to_vec()) };
            match call_patiently(client, &request).await? {
                Ok(Response::UploadProgress { blob: got, chunks_received, .. })
                    if got == blob && chunks_received > next && chunks_received <= chunks =>
                {
                    next = chunks_received;
                }
                Ok(other) => return Err(unexpected(&url, &other)),
                Err(body) => return Err(upload_error(client, record, body).await),
            }
            on_progress(UploadEvent::Sent { done: next, chunks });
        }
    }
    let expires_at = match call_patiently(client, &Request::UploadFinish { blob }).await? {
        Ok(Response::BlobStored { blob: got, size, expires_at }) if got == blob => {
            if size != record.size {
                return Err(ClientError::Connection(ConnectionError::Protocol {
                    url,
                    reason: format!("the server stored {size} bytes of {}", record.size),
                }));
            }
            expires_at
        }
        Ok(other) => return Err(unexpected(&url, &other)),
        Err(body) => return Err(upload_error(client, record, body).await),
    };
    record.stored_until = Some(expires_at);
    save_record(client, record).await?;
    let now = client.now_ms();
    client.store.remove_chunks(blob_key(&record.id)?, now).await?;
    tracing::info!(id = %record.id, chunks, "photo uploaded");
    Ok(UploadOutcome {
        id: record.id.clone(),
        attachment: record.attachment(blob),
        resumed_from,
        chunks,
        expires_at,
    })
}

/// Sends a request, waiting and retrying while the server answers
/// `rate_limited` (a 20 MB photo is ~300 chunk requests, more than the
/// server's burst allowance), for at most [`MAX_RATE_LIMIT_WAIT`] in all.
async fn call_patiently<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    request: &Request,
) -> Result<Result<Response, ErrorBody>, ClientError> {
    let mut waited = Duration::ZERO;
    loop {
        match client.conn_mut()?.call(request.clone()).await? {
            Err(body) if body.code == ErrorCode::RateLimited && waited < MAX_RATE_LIMIT_WAIT => {
                let pause =
                    Duration::from_millis(body.retry_after_ms.unwrap_or(100).clamp(1, 5_000));
                client.clock().sleep(pause).await;
                waited += pause;
            }
            answer => return Ok(answer),
        }
    }
}

/// Maps a server refusal of an upload request to a clear error. An upload
/// refused as too large is deleted locally: it can never succeed.
async fn upload_error<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    record: &UploadRecord,
    body: ErrorBody,
) -> ClientError {
    match body.code {
        ErrorCode::TooLarge => {
            if let Err(e) = remove_upload_files(client, &record.id).await {
                tracing::warn!(error = %e, "could not delete a refused upload");
            }
            ClientError::AttachmentRefusedTooLarge { size: record.size }
        }
        ErrorCode::QuotaExceeded => ClientError::AttachmentQuotaExceeded,
        _ => ClientError::server(body),
    }
}

// ---------------------------------------------------------------------------
// Downloading

/// Downloads a whole blob of `expected` bytes into memory.
async fn fetch_blob<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    blob: BlobId,
    expected: u64,
) -> Result<Vec<u8>, ClientError> {
    let url = client.server_url.clone();
    let mismatch = || ClientError::AttachmentCorrupt {
        reason: "the server's copy does not have the announced size",
    };
    let capacity = usize::try_from(expected.min(MAX_CIPHERTEXT_BYTES)).unwrap_or(0);
    let mut ciphertext = Vec::with_capacity(capacity);
    let mut index = 0u32;
    loop {
        match call_patiently(client, &Request::DownloadChunk { blob, index }).await? {
            Ok(Response::BlobChunk { index: got, data, size, last }) if got == index => {
                if size != expected
                    || data.is_empty() && !last
                    || ciphertext.len() as u64 + data.len() as u64 > expected
                {
                    return Err(mismatch());
                }
                ciphertext.extend_from_slice(&data);
                if last {
                    break;
                }
                index = index.checked_add(1).ok_or_else(mismatch)?;
            }
            Ok(other) => return Err(unexpected(&url, &other)),
            Err(body) if body.code == ErrorCode::UnknownBlob => {
                return Err(ClientError::AttachmentUnavailable);
            }
            Err(body) => return Err(ClientError::server(body)),
        }
    }
    if ciphertext.len() as u64 != expected {
        return Err(mismatch());
    }
    Ok(ciphertext)
}

// ---------------------------------------------------------------------------
// Files

pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn record_key(id: &str) -> Vec<u8> {
    [RECORD_PREFIX, id.as_bytes()].concat()
}

fn preparing_key(id: &str) -> Vec<u8> {
    [PREPARING_PREFIX, id.as_bytes()].concat()
}

/// The chunks' blob key of upload `id` (its hex digits).
pub fn blob_key(id: &str) -> Result<BlobKey, ClientError> {
    BlobKey::from_hex(id)
        .ok_or(ClientError::AttachmentCorrupt { reason: "its upload id is invalid" })
}

pub fn encode_record(record: &UploadRecord) -> Vec<u8> {
    stadtbote_protocol::frame::encode(record)
}

/// Commits a changed record.
async fn save_record<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    record: &UploadRecord,
) -> Result<(), ClientError> {
    let now = client.now_ms();
    let mut batch = Batch::new();
    batch.put(Space::Transfers, record_key(&record.id), encode_record(record));
    client.store.commit_other(batch, now).await
}

/// Reads one stored record, checking its version and id.
pub fn decode_record(id: &str, bytes: &[u8], place: &str) -> Result<UploadRecord, ClientError> {
    let corrupt = || ClientError::StoredData {
        place: place.to_string(),
        reason: "not an upload record of this version".into(),
    };
    let record: UploadRecord = ciborium::from_reader(bytes).map_err(|_| corrupt())?;
    if record.v != UPLOAD_RECORD_VERSION || record.id != id {
        return Err(corrupt());
    }
    Ok(record)
}

/// All upload records in the store. A record that cannot be read is an
/// error (never silently dropped: it holds a key).
async fn list_records<S: Storage, K: Connector, C: Clock + Clone>(
    client: &Client<S, K, C>,
) -> Result<Vec<UploadRecord>, ClientError> {
    let place = client.store.place().to_string();
    let mut records = Vec::new();
    for (key, value) in client.store.scan(Space::Transfers, &Scan::prefix(RECORD_PREFIX)).await? {
        let id = key.get(RECORD_PREFIX.len()..).and_then(|id| std::str::from_utf8(id).ok());
        let Some(id) = id.filter(|id| valid_id(id)) else {
            return Err(ClientError::StoredData {
                place,
                reason: "an upload record has an invalid id".into(),
            });
        };
        records.push(decode_record(id, &value, &place)?);
    }
    Ok(records)
}

/// Removes the chunks of uploads whose process died while writing them
/// (before their record was committed).
pub async fn remove_stray_uploads<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
) -> Result<(), ClientError> {
    let markers = client.store.scan(Space::Transfers, &Scan::prefix(PREPARING_PREFIX)).await?;
    for (key, _) in markers {
        let id = key.get(PREPARING_PREFIX.len()..).and_then(|id| std::str::from_utf8(id).ok());
        if let Some(id) = id.filter(|id| valid_id(id)) {
            let record = client.store.scan(Space::Transfers, &Scan::prefix(record_key(id))).await?;
            if record.is_empty() {
                let now = client.now_ms();
                client.store.remove_chunks(blob_key(id)?, now).await?;
            }
        }
        let mut batch = Batch::new();
        batch.delete(Space::Transfers, key);
        let now = client.now_ms();
        client.store.commit_other(batch, now).await?;
    }
    Ok(())
}

/// Deletes an upload's chunks, then its record.
async fn remove_upload_files<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    id: &str,
) -> Result<(), ClientError> {
    let now = client.now_ms();
    client.store.remove_chunks(blob_key(id)?, now).await?;
    let mut batch = Batch::new();
    batch.delete(Space::Transfers, record_key(id));
    client.store.commit_other(batch, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(format_mb(20_000_000), "20 MB");
        assert_eq!(format_mb(23_400_000), "23.4 MB");
        assert_eq!(format_mb(23_350_001), "23.4 MB");
        assert_eq!(format_mb(20_000_001), "20.1 MB");
        assert_eq!(format_mb(1), "0.1 MB");
        let err = ClientError::PhotoTooLarge {
            path: PathBuf::from("IMG_0001.jpg"),
            size: 23_400_000,
            limit: MAX_PLAINTEXT_BYTES,
        };
        assert_eq!(err.to_string(), "photo IMG_0001.jpg is 23.4 MB; the limit is 20 MB");
    }

    #[test]
    fn stems_are_made_safe() {
        assert_eq!(safe_stem("report-7_photo-1"), "report-7_photo-1");
        assert_eq!(safe_stem("../../etc/passwd"), "etc_passwd");
        assert_eq!(safe_stem(".hidden"), "hidden");
        assert_eq!(safe_stem("-rf"), "rf");
        assert_eq!(safe_stem("a/b\\c:d*e?f\"g<h>i|j\0k"), "a_b_c_d_e_f_g_h_i_j_k");
        assert_eq!(safe_stem(""), "photo");
        assert_eq!(safe_stem("..."), "photo");
        assert_eq!(safe_stem("Straße über"), "Straße_über");
        assert_eq!(safe_stem(&"x".repeat(500)).chars().count(), MAX_STEM_CHARS);
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("image/png"), "png");
        assert_eq!(extension("image/heic"), "heic");
        assert_eq!(extension("image/heif"), "heif");
        assert_eq!(extension("image/avif"), "avif");
        assert_eq!(extension("image/webp"), "webp");
        assert_eq!(extension("text/html"), "bin");
    }

    #[test]
    fn decryption_gives_exactly_the_content() {
        let content = b"\xFF\xD8\xFF pretend jpeg".to_vec();
        let (ct, key, _) = stadtbote_protocol::attachment::encrypt_all(&content).unwrap();
        assert_eq!(decrypt(&key, &ct, content.len() as u64).unwrap(), content);
        // A wrong declared size is refused.
        let err = decrypt(&key, &ct, 3).unwrap_err();
        assert!(matches!(err, ClientError::AttachmentCorrupt { .. }), "{err}");
        let mut bad = ct.clone();
        bad[100] ^= 4;
        assert!(decrypt(&key, &bad, content.len() as u64).is_err());
    }
}
