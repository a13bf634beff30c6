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
//! Homes from before kept these in `<home>/uploads/` (`ID.blob`,
//! `ID.cbor`); [`import_old_uploads`] moves them into the store when the
//! home is opened.

use stadtbote_client::clock::Clock;
use stadtbote_client::connection::ConnectionError;
use stadtbote_client::storage::{Batch, BlobKey, Scan, Space, Storage};
use stadtbote_client::transport::Connector;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
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
use crate::home::Home;
use crate::metadata::{self, JPEG_MIME, PNG_MIME};
use crate::session::{Client, unexpected};

/// The directory under the home that held prepared uploads before they
/// moved into the store ([`import_old_uploads`]).
pub const UPLOADS_DIR: &str = "uploads";
/// The key prefix of upload records in [`Space::Transfers`].
const RECORD_PREFIX: &[u8] = b"upload/";
/// The key prefix of uploads whose chunks are being written.
const PREPARING_PREFIX: &[u8] = b"preparing/";
/// The size of the stored pieces of a prepared upload's ciphertext (the
/// server's chunk size is only known once the upload starts).
const STORED_CHUNK: usize = 1 << 20;
/// Format version of [`UploadRecord`].
pub const UPLOAD_RECORD_VERSION: u16 = 1;
/// Files this much larger than the limit are refused without reading them
/// (metadata removal could not bring them under the limit).
const METADATA_ALLOWANCE: u64 = 4 << 20;
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

/// Strips metadata, checks the 20 MB limit, encrypts to <home>/uploads/, uploads (resuming a previous attempt for the same prepared file), returns the reference to embed in the E2E message.
pub async fn upload_photo<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    path: &Path,
) -> Result<AttachmentRef, ClientError> {
    Ok(upload_photo_with_progress(client, path, |_| {}).await?.attachment)
}

/// Like [`upload_photo`], reporting progress to `on_progress` and returning
/// how the upload went (whether it resumed an earlier attempt).
pub async fn upload_photo_with_progress<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    path: &Path,
    mut on_progress: impl FnMut(UploadEvent),
) -> Result<UploadOutcome, ClientError> {
    let original = read_photo(path)?;
    let source: [u8; 32] = Sha256::digest(&original).into();
    let earlier = list_records(client)
        .await?
        .into_iter()
        .find(|r| r.direct && r.source.as_slice() == source.as_slice());
    let mut record = match earlier {
        Some(record) => record,
        None => prepare(client, path, original, source, true).await?.1,
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
    path: &Path,
) -> Result<PreparedUpload, ClientError> {
    let original = read_photo(path)?;
    let source: [u8; 32] = Sha256::digest(&original).into();
    let (prepared, _) = prepare(client, path, original, source, false).await?;
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

/// Downloads, verifies the SHA-256, decrypts and writes the photo into `dir` with a safe file name derived from `stem` + extension by mime type; returns the path.
///
/// The file is written to a temporary name, fsynced and then linked to its
/// final name; an existing file is never overwritten (`stem-1.jpg`, … are
/// tried instead). Nothing is written unless every check passed.
pub async fn download<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut Client<S, K, C>,
    attachment: &AttachmentRef,
    dir: &Path,
    stem: &str,
) -> Result<PathBuf, ClientError> {
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
    create_dir(dir, false)?;
    let (tmp_path, mut tmp) = create_temp(dir)?;
    let written = decrypt_into(&key, &ciphertext, &mut tmp, &tmp_path, attachment.size);
    drop(ciphertext);
    let placed = written.and_then(|()| {
        let name = safe_stem(stem);
        let ext = extension(&attachment.mime);
        place_without_overwriting(&tmp_path, dir, &name, ext)
    });
    if placed.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    placed
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

/// Reads a photo, refusing files that cannot fit the limit.
fn read_photo(path: &Path) -> Result<Vec<u8>, ClientError> {
    let io = |error: std::io::Error| ClientError::PhotoUnreadable {
        path: path.to_path_buf(),
        reason: match error.kind() {
            std::io::ErrorKind::NotFound => "there is no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => error.to_string(),
        },
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ClientError::PhotoUnreadable {
            path: path.to_path_buf(),
            reason: "it is a directory or device, not a file".to_string(),
        });
    }
    let too_large = |size| ClientError::PhotoTooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_PLAINTEXT_BYTES,
    };
    if meta.len() > MAX_PLAINTEXT_BYTES + METADATA_ALLOWANCE {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_PLAINTEXT_BYTES + METADATA_ALLOWANCE + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_PLAINTEXT_BYTES + METADATA_ALLOWANCE {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

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
fn encrypt(key: &AttachmentKey, content: &[u8]) -> Result<(Vec<u8>, [u8; 32]), ClientError> {
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
async fn store_ciphertext<S: Storage, K: Connector, C: Clock + Clone>(
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
        let place = client.store.place();
        let ciphertext = client.store.read_blob(blob_key(&record.id)?).await?.ok_or_else(|| {
            ClientError::CorruptFile {
                file: place.clone(),
                reason: "the encrypted photo of this prepared upload is missing".into(),
            }
        })?;
        let stored = ciphertext.len() as u64;
        if stored != record.size {
            return Err(ClientError::CorruptFile {
                file: place,
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

/// Decrypts `ciphertext` into `file`, checking the content length.
fn decrypt_into(
    key: &AttachmentKey,
    ciphertext: &[u8],
    file: &mut File,
    path: &Path,
    content_len: u64,
) -> Result<(), ClientError> {
    let failed = || ClientError::AttachmentCorrupt {
        reason: "it could not be decrypted (damaged or altered)",
    };
    let io = |source| ClientError::Io { action: "write", file: path.to_path_buf(), source };
    let mut dec = Decryptor::new(key, ciphertext.len() as u64).map_err(|_| failed())?;
    let mut rest = ciphertext;
    while let Some(len) = dec.next_chunk_len() {
        let (chunk, tail) = rest.split_at_checked(len).ok_or_else(failed)?;
        let content = dec.decrypt_next(chunk).map_err(|_| failed())?;
        file.write_all(&content).map_err(io)?;
        rest = tail;
    }
    if dec.finish().map_err(|_| failed())? != content_len {
        return Err(failed());
    }
    file.sync_all().map_err(io)
}

/// Gives the finished temporary file its final name, never replacing an
/// existing file: `name.ext`, then `name-1.ext`, `name-2.ext`, …
fn place_without_overwriting(
    tmp: &Path,
    dir: &Path,
    name: &str,
    ext: &str,
) -> Result<PathBuf, ClientError> {
    for n in 0..10_000u32 {
        let candidate = if n == 0 {
            dir.join(format!("{name}.{ext}"))
        } else {
            dir.join(format!("{name}-{n}.{ext}"))
        };
        // A hard link fails if the name exists: atomic and never clobbers.
        match fs::hard_link(tmp, &candidate) {
            Ok(()) => {
                remove_file_if_exists(tmp)?;
                sync_dir(dir)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(_) => {
                // File systems without hard links: reserve the name with
                // create_new, then rename over our own empty reservation.
                match OpenOptions::new().write(true).create_new(true).open(&candidate) {
                    Ok(_) => {
                        fs::rename(tmp, &candidate).map_err(|source| ClientError::Io {
                            action: "write",
                            file: candidate.clone(),
                            source,
                        })?;
                        sync_dir(dir)?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(source) => {
                        return Err(ClientError::Io { action: "create", file: candidate, source });
                    }
                }
            }
        }
    }
    Err(ClientError::Io {
        action: "create",
        file: dir.join(format!("{name}.{ext}")),
        source: std::io::Error::other("too many files with this name"),
    })
}

/// A new temporary file `.stadtbote-XXXX.part` in `dir` (0600).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), ClientError> {
    loop {
        let path = dir.join(format!(".stadtbote-{}.part", new_id()));
        match create_private(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(ClientError::Io { action: "create", file: path, source }),
        }
    }
}

// ---------------------------------------------------------------------------
// Files

fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn record_key(id: &str) -> Vec<u8> {
    [RECORD_PREFIX, id.as_bytes()].concat()
}

fn preparing_key(id: &str) -> Vec<u8> {
    [PREPARING_PREFIX, id.as_bytes()].concat()
}

/// The chunks' blob key of upload `id` (its hex digits).
fn blob_key(id: &str) -> Result<BlobKey, ClientError> {
    BlobKey::from_hex(id)
        .ok_or(ClientError::AttachmentCorrupt { reason: "its upload id is invalid" })
}

fn encode_record(record: &UploadRecord) -> Vec<u8> {
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
fn decode_record(id: &str, bytes: &[u8], place: &Path) -> Result<UploadRecord, ClientError> {
    let corrupt = || ClientError::CorruptFile {
        file: place.to_path_buf(),
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
    let place = client.store.place();
    let mut records = Vec::new();
    for (key, value) in client.store.scan(Space::Transfers, &Scan::prefix(RECORD_PREFIX)).await? {
        let id = key.get(RECORD_PREFIX.len()..).and_then(|id| std::str::from_utf8(id).ok());
        let Some(id) = id.filter(|id| valid_id(id)) else {
            return Err(ClientError::CorruptFile {
                file: place,
                reason: "an upload record has an invalid id".into(),
            });
        };
        records.push(decode_record(id, &value, &place)?);
    }
    Ok(records)
}

/// Removes the chunks of uploads whose process died while writing them
/// (before their record was committed).
async fn remove_stray_uploads<S: Storage, K: Connector, C: Clock + Clone>(
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

/// Moves the prepared uploads of a home from before the store
/// (`<home>/uploads/ID.cbor` + `ID.blob`) into the store: every blob's
/// chunks first, then all records in one commit, and only after that
/// commit the old directory is removed. A crash before the commit leaves
/// the old files, imported again at the next open (the chunks are written
/// again); a crash after it leaves a directory whose records are stored
/// already, which the next open imports again to the same effect.
/// Returns how many uploads it imported.
pub fn import_old_uploads(
    home: &Home,
    store: &mut crate::device_store::DeviceStore<crate::file_storage::FileStorage>,
    now: u64,
) -> Result<usize, ClientError> {
    use crate::device_store::ready;
    let dir = home.path(UPLOADS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(ClientError::Io { action: "read", file: dir, source }),
    };
    let mut batch = Batch::new();
    let mut imported = 0;
    for entry in entries {
        let entry = entry.map_err(|source| ClientError::Io {
            action: "read",
            file: dir.clone(),
            source,
        })?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".cbor")) else { continue };
        if !valid_id(id) {
            continue;
        }
        let file = format!("{UPLOADS_DIR}/{id}.cbor");
        let record: UploadRecord = home.read_cbor(&file)?;
        if record.v != UPLOAD_RECORD_VERSION || record.id != id {
            return Err(ClientError::CorruptFile {
                file: home.path(&file),
                reason: "not an upload record of this version".into(),
            });
        }
        let blob_path = dir.join(format!("{id}.blob"));
        match fs::read(&blob_path) {
            Ok(ciphertext) => {
                let blob = blob_key(id)?;
                ready(store.remove_chunks(blob, now))?;
                for (index, piece) in ciphertext.chunks(STORED_CHUNK).enumerate() {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    ready(store.put_chunk(blob, index, piece, now))?;
                }
            }
            // A completed upload keeps only its record; the missing
            // ciphertext of an unfinished one is reported when it resumes.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClientError::Io { action: "read", file: blob_path, source });
            }
        }
        batch.put(Space::Transfers, record_key(id), encode_record(&record));
        imported += 1;
    }
    ready(store.commit_other(batch, now))?;
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(ClientError::Io { action: "remove", file: dir, source }),
    }
    sync_dir(home.dir())?;
    Ok(imported)
}

fn remove_file_if_exists(path: &Path) -> Result<(), ClientError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ClientError::Io { action: "delete", file: path.to_path_buf(), source }),
    }
}

/// Creates a new file readable and writable by the owner only; fails if it
/// exists.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Creates a directory (and parents); `private` makes it 0700.
fn create_dir(dir: &Path, private: bool) -> Result<(), ClientError> {
    let err = |source| ClientError::Io { action: "create", file: dir.to_path_buf(), source };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), ClientError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| ClientError::Io {
        action: "sync",
        file: dir.to_path_buf(),
        source,
    })
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
    fn placing_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join("photo.jpg"), b"existing").unwrap();
        fs::write(dir.join("photo-1.jpg"), b"existing too").unwrap();
        let part = dir.join(".part");
        fs::write(&part, b"new").unwrap();
        let placed = place_without_overwriting(&part, dir, "photo", "jpg").unwrap();
        assert_eq!(placed, dir.join("photo-2.jpg"));
        assert_eq!(fs::read(dir.join("photo.jpg")).unwrap(), b"existing");
        assert_eq!(fs::read(&placed).unwrap(), b"new");
        assert!(!part.exists());
    }

    #[test]
    fn decryption_writes_exactly_the_content() {
        let content = b"\xFF\xD8\xFF pretend jpeg".to_vec();
        let (ct, key, _) = stadtbote_protocol::attachment::encrypt_all(&content).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (path, mut file) = create_temp(tmp.path()).unwrap();
        decrypt_into(&key, &ct, &mut file, &path, content.len() as u64).unwrap();
        assert_eq!(fs::read(&path).unwrap(), content);
        // A wrong declared size is refused.
        let (path, mut file) = create_temp(tmp.path()).unwrap();
        let err = decrypt_into(&key, &ct, &mut file, &path, 3).unwrap_err();
        assert!(matches!(err, ClientError::AttachmentCorrupt { .. }), "{err}");
        let mut bad = ct.clone();
        bad[100] ^= 4;
        let (path, mut file) = create_temp(tmp.path()).unwrap();
        assert!(decrypt_into(&key, &bad, &mut file, &path, content.len() as u64).is_err());
    }

    /// An in-memory stand-in for the relay's blob requests, enough for a
    /// [`Client`] to register, log in and upload: chunk size 16 KiB, and it
    /// can hang up when a chosen chunk arrives (as a dying connection would).
    mod fake {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex};

        use futures_util::{SinkExt, StreamExt};
        use serde_bytes::ByteBuf;
        use stadtbote_protocol::frame::{self, ServerBody, ServerFrame};
        use stadtbote_protocol::{
            AccountId, BlobId, DeviceId, ErrorBody, ErrorCode, Event, Request, Response,
        };
        use tokio_tungstenite::tungstenite::Message;

        pub const CHUNK: u32 = 16 * 1024;

        #[derive(Default)]
        pub struct Blob {
            pub size: u64,
            pub chunks: Vec<Vec<u8>>,
            pub complete: bool,
        }

        #[derive(Default)]
        pub struct State {
            pub account: Option<AccountId>,
            pub blobs: HashMap<BlobId, Blob>,
            /// Hang up instead of storing this chunk index (once).
            pub hang_up_at: Option<u32>,
            pub max_size: Option<u64>,
            pub quota_full: bool,
            /// Answer every n-th request `rate_limited` (blob requests only).
            pub rate_limit_every: Option<usize>,
            pub requests: Vec<&'static str>,
            /// The account's signed device list, as published.
            pub device_list: Option<stadtbote_protocol::device_list::SignedDeviceList>,
        }

        pub type Shared = Arc<Mutex<State>>;

        pub async fn start() -> (String, Shared) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}/v1/ws", listener.local_addr().unwrap());
            let state = Shared::default();
            let shared = state.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(serve(tcp, shared.clone()));
                }
            });
            (url, state)
        }

        fn error(code: ErrorCode) -> Result<Response, ErrorBody> {
            Err(ErrorBody::new(code, "refused"))
        }

        async fn serve(tcp: tokio::net::TcpStream, state: Shared) {
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let challenge = Event::Challenge {
                nonce: ByteBuf::from(vec![7; 32]),
                pow_difficulty: 0,
                server_time: 0,
            };
            let hello = frame::encode(&ServerFrame::new(ServerBody::Event { event: challenge }));
            ws.send(Message::Binary(hello.into())).await.unwrap();
            while let Some(Ok(message)) = ws.next().await {
                let Message::Binary(bytes) = message else { continue };
                let request = frame::decode_client(&bytes, 1 << 24).unwrap();
                let answer = {
                    let mut st = state.lock().unwrap();
                    st.requests.push(request.request.name());
                    let name = request.request.name();
                    let limited =
                        st.rate_limit_every.is_some_and(|n| st.requests.len().is_multiple_of(n))
                            && (name.starts_with("upload_") || name.starts_with("download_"));
                    let answer = if limited {
                        Some(Err(ErrorBody {
                            retry_after_ms: Some(2),
                            ..ErrorBody::new(ErrorCode::RateLimited, "too many requests")
                        }))
                    } else {
                        answer(&mut st, request.request)
                    };
                    match answer {
                        Some(answer) => answer,
                        None => return, // hang up
                    }
                };
                let body = match answer {
                    Ok(response) => ServerBody::Response { id: request.id, response },
                    Err(error) => ServerBody::Error { id: Some(request.id), error },
                };
                let bytes = frame::encode(&ServerFrame::new(body));
                if ws.send(Message::Binary(bytes.into())).await.is_err() {
                    return;
                }
            }
        }

        fn progress(blob: BlobId, b: &Blob) -> Response {
            Response::UploadProgress {
                blob,
                chunks_received: b.chunks.len() as u32,
                size: b.size,
                chunk_size: CHUNK,
                complete: b.complete,
            }
        }

        fn answer(st: &mut State, request: Request) -> Option<Result<Response, ErrorBody>> {
            Some(match request {
                Request::Register { .. } => {
                    let account = AccountId::random();
                    st.account = Some(account);
                    Ok(Response::Registered { account, device: DeviceId::random() })
                }
                Request::Login { .. } => Ok(Response::LoggedIn {
                    account: st.account.unwrap(),
                    key_packages_left: 100,
                    has_last_resort: true,
                }),
                Request::UploadKeyPackages { .. } => {
                    Ok(Response::KeyPackagesStored { one_time_left: 100 })
                }
                Request::PublishDeviceList { list } => {
                    let version = list.decode_unverified().map(|l| l.version).unwrap_or(0);
                    st.device_list = Some(list);
                    Ok(Response::DeviceListStored { version })
                }
                Request::ListDevices { .. } => Ok(Response::Devices {
                    devices: Vec::new(),
                    device_list: st.device_list.clone(),
                }),
                Request::UploadStart { size } => {
                    if st.max_size.is_some_and(|max| size > max) {
                        error(ErrorCode::TooLarge)
                    } else if st.quota_full {
                        error(ErrorCode::QuotaExceeded)
                    } else {
                        let blob = BlobId::random();
                        st.blobs.insert(blob, Blob { size, ..Blob::default() });
                        Ok(Response::UploadStarted { blob, chunk_size: CHUNK, expires_at: 1 })
                    }
                }
                Request::UploadChunk { blob, index, data } => {
                    if st.hang_up_at == Some(index) {
                        st.hang_up_at = None;
                        return None;
                    }
                    let Some(b) = st.blobs.get_mut(&blob) else {
                        return Some(error(ErrorCode::UnknownBlob));
                    };
                    let have = b.chunks.len() as u32;
                    let offset = u64::from(index) * u64::from(CHUNK);
                    let want = (b.size - offset).min(u64::from(CHUNK)) as usize;
                    if index == have && data.len() == want && !b.complete {
                        b.chunks.push(data.into_vec());
                    } else if index > have || data.len() != want {
                        return Some(error(ErrorCode::InvalidRequest));
                    }
                    Ok(progress(blob, b))
                }
                Request::UploadStatus { blob } => match st.blobs.get(&blob) {
                    Some(b) => Ok(progress(blob, b)),
                    None => error(ErrorCode::UnknownBlob),
                },
                Request::UploadFinish { blob } => match st.blobs.get_mut(&blob) {
                    Some(b) if b.chunks.concat().len() as u64 == b.size => {
                        b.complete = true;
                        Ok(Response::BlobStored { blob, size: b.size, expires_at: 99 })
                    }
                    _ => error(ErrorCode::InvalidRequest),
                },
                Request::DownloadChunk { blob, index } => match st.blobs.get(&blob) {
                    Some(b) if b.complete && (index as usize) < b.chunks.len() => {
                        Ok(Response::BlobChunk {
                            index,
                            data: ByteBuf::from(b.chunks[index as usize].clone()),
                            size: b.size,
                            last: index as usize + 1 == b.chunks.len(),
                        })
                    }
                    _ => error(ErrorCode::UnknownBlob),
                },
                _ => error(ErrorCode::InvalidRequest),
            })
        }
    }

    /// A real JPEG of about 300 KB (noise does not compress) with EXIF GPS.
    fn noisy_photo(path: &Path) -> Vec<u8> {
        let (w, h) = (400u16, 300u16);
        let mut x = 0x2545_F491u32;
        let rgb: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let exif = b"Exif\0\0MM\0\x2a\0\0\0\x08GPS 51.9084N 10.4290E";
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1, 0, exif.len() as u8 + 2];
        out.extend_from_slice(exif);
        out.extend_from_slice(&jpeg[2..]);
        fs::write(path, &out).unwrap();
        out
    }

    async fn client(url: &str, dir: &Path) -> Client {
        Client::init(dir.join("home"), url, None, crate::session::Enrolment::Register)
            .await
            .unwrap()
    }

    /// Upload records plus uploads with stored ciphertext (what were the
    /// files `ID.cbor` and `ID.blob` before the store).
    async fn uploads(client: &Client) -> usize {
        let records = list_records(client).await.unwrap();
        let mut count = records.len();
        for record in &records {
            if client.store.has_chunks(blob_key(&record.id).unwrap()).await.unwrap() {
                count += 1;
            }
        }
        count
    }

    #[tokio::test]
    async fn an_interrupted_upload_resumes_and_downloads_intact() {
        let (url, server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let mut client = client(&url, tmp.path()).await;
        let photo = tmp.path().join("IMG_0001.jpg");
        let original = noisy_photo(&photo);
        let clean = metadata::strip_metadata(&original).unwrap().bytes;

        server.lock().unwrap().hang_up_at = Some(5);
        let mut events = Vec::new();
        let err =
            upload_photo_with_progress(&mut client, &photo, |e| events.push(e)).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(
            events.last(),
            Some(&UploadEvent::Sent { done: 5, chunks: events_chunks(&events) })
        );
        assert_eq!(uploads(&client).await, 2, "record and ciphertext kept for the retry");
        assert!(!tmp.path().join("home").join(UPLOADS_DIR).exists(), "no files beside the store");

        client.connect().await.unwrap();
        let mut events = Vec::new();
        let outcome =
            upload_photo_with_progress(&mut client, &photo, |e| events.push(e)).await.unwrap();
        let chunks = outcome.chunks;
        assert_eq!(events[0], UploadEvent::Resumed { chunk: 5, chunks });
        assert_eq!(outcome.resumed_from, Some(5));
        assert_eq!(events.last(), Some(&UploadEvent::Sent { done: chunks, chunks }));
        assert_eq!(uploads(&client).await, 0, "local copy deleted after blob_stored");
        {
            let st = server.lock().unwrap();
            // One upload_start in all: the retry continued the same blob.
            assert_eq!(st.requests.iter().filter(|r| **r == "upload_start").count(), 1);
            assert_eq!(
                st.requests.iter().filter(|r| **r == "upload_chunk").count() as u32,
                chunks + 1
            );
            let blob = &st.blobs[&outcome.attachment.blob];
            assert!(
                blob.chunks[..blob.chunks.len() - 1]
                    .iter()
                    .all(|c| c.len() == fake::CHUNK as usize)
            );
            assert_eq!(
                Sha256::digest(blob.chunks.concat()).as_slice(),
                outcome.attachment.sha256.as_slice()
            );
        }
        let att = &outcome.attachment;
        assert_eq!(
            (att.size, att.mime.as_str(), att.name.as_deref()),
            (clean.len() as u64, JPEG_MIME, None)
        );

        let out = tmp.path().join("out");
        let first = download(&mut client, att, &out, "Meldung 7: Foto").await.unwrap();
        let second = download(&mut client, att, &out, "Meldung 7: Foto").await.unwrap();
        assert_eq!(first, out.join("Meldung_7__Foto.jpg"));
        assert_eq!(second, out.join("Meldung_7__Foto-1.jpg"));
        let got = fs::read(&first).unwrap();
        assert_eq!(got, clean);
        assert_eq!(fs::read(&second).unwrap(), clean);
        assert!(!got.windows(3).any(|w| w == b"GPS"));

        // Tampering with the reference: nothing is written.
        let before = fs::read_dir(&out).unwrap().count();
        let mut bad = att.clone();
        bad.sha256[3] ^= 1;
        let err = download(&mut client, &bad, &out, "x").await.unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let mut bad = att.clone();
        bad.key[0] ^= 1;
        let err = download(&mut client, &bad, &out, "x").await.unwrap_err();
        assert!(err.to_string().contains("decrypted"), "{err}");
        let mut bad = att.clone();
        bad.size += 1;
        assert!(download(&mut client, &bad, &out, "x").await.is_err());
        let mut gone = att.clone();
        gone.blob = BlobId::random();
        let err = download(&mut client, &gone, &out, "x").await.unwrap_err();
        assert!(matches!(err, ClientError::AttachmentUnavailable), "{err}");
        assert_eq!(fs::read_dir(&out).unwrap().count(), before, "no partial files left");
    }

    fn events_chunks(events: &[UploadEvent]) -> u32 {
        match events.last() {
            Some(UploadEvent::Sent { chunks, .. } | UploadEvent::Resumed { chunks, .. }) => *chunks,
            None => 0,
        }
    }

    #[tokio::test]
    async fn prepared_uploads_are_resumed_and_kept_until_forgotten() {
        let (url, server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let mut client = client(&url, tmp.path()).await;
        let photo = tmp.path().join("a.jpg");
        noisy_photo(&photo);
        let prepared = prepare_photo(&mut client, &photo).await.unwrap();
        assert_eq!(prepared.mime, JPEG_MIME);
        assert_eq!(pending_uploads(&client).await.unwrap().len(), 1);
        // A crash mid-upload of the flush… (and a server that keeps asking
        // the client to slow down)
        server.lock().unwrap().hang_up_at = Some(2);
        server.lock().unwrap().rate_limit_every = Some(4);
        assert!(resume_uploads(&mut client).await.unwrap_err().is_transient());
        client.connect().await.unwrap();
        // …and the next flush finishes it.
        let done = resume_uploads(&mut client).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, prepared.id);
        assert_eq!(done[0].1.size, prepared.size);
        assert_eq!(uploads(&client).await, 1, "record kept, ciphertext deleted");
        let out = tmp.path().join("out");
        let path = download(&mut client, &done[0].1, &out, "a").await.unwrap();
        assert_eq!(fs::read(path).unwrap().len() as u64, prepared.size);
        assert!(server.lock().unwrap().requests.len() > 10);
        // Completed uploads are reported again (no new requests) until forgotten.
        let requests = server.lock().unwrap().requests.len();
        let again = resume_uploads(&mut client).await.unwrap();
        assert_eq!(again[0].1, done[0].1);
        assert_eq!(server.lock().unwrap().requests.len(), requests);
        forget_upload(&mut client, &prepared.id).await.unwrap();
        forget_upload(&mut client, "../../state").await.unwrap();
        assert!(resume_uploads(&mut client).await.unwrap().is_empty());
        assert_eq!(uploads(&client).await, 0);
    }

    #[tokio::test]
    async fn refusals_are_clear_and_too_large_is_checked_first() {
        let (url, server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let mut client = client(&url, tmp.path()).await;
        let requests = server.lock().unwrap().requests.len();

        // A valid JPEG whose scan data is padded to 23.4 MB (never 0xFF, so
        // no marker appears), and a file too large to be worth reading.
        let big = tmp.path().join("big.jpg");
        let small = noisy_photo(&big);
        let mut bytes = metadata::strip_jpeg(&small).unwrap();
        bytes.truncate(bytes.len() - 2);
        bytes.resize(23_400_000 - 2, 0xAB);
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        fs::write(&big, &bytes).unwrap();
        let err = upload_photo(&mut client, &big).await.unwrap_err();
        assert!(matches!(err, ClientError::PhotoTooLarge { size: 23_400_000, .. }), "{err}");
        assert!(err.to_string().ends_with("is 23.4 MB; the limit is 20 MB"), "{err}");
        let huge = tmp.path().join("huge.png");
        fs::write(&huge, vec![0xAB; 30_000_000]).unwrap();
        let err = upload_photo(&mut client, &huge).await.unwrap_err();
        assert!(err.to_string().ends_with("is 30 MB; the limit is 20 MB"), "{err}");
        let text = tmp.path().join("notes.txt");
        fs::write(&text, b"GPS 51.9N").unwrap();
        let err = upload_photo(&mut client, &text).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot send {}: it is not a JPEG, PNG, HEIC or WebP photo; convert it to JPEG and try again",
                text.display()
            )
        );
        // A missing file: one sentence naming it, the OS reason once.
        let missing = tmp.path().join("IMG_0001.HEIC");
        let err = upload_photo(&mut client, &missing).await.unwrap_err();
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(
            chain,
            format!("cannot read the photo {}: there is no such file", missing.display())
        );
        assert_eq!(server.lock().unwrap().requests.len(), requests, "nothing sent");
        assert_eq!(uploads(&client).await, 0);

        let photo = tmp.path().join("a.jpg");
        noisy_photo(&photo);
        server.lock().unwrap().quota_full = true;
        let err = upload_photo(&mut client, &photo).await.unwrap_err();
        assert!(matches!(err, ClientError::AttachmentQuotaExceeded), "{err}");
        assert_eq!(uploads(&client).await, 2, "kept: quota frees up later");
        server.lock().unwrap().quota_full = false;
        server.lock().unwrap().max_size = Some(1000);
        let err = upload_photo(&mut client, &photo).await.unwrap_err();
        assert!(matches!(err, ClientError::AttachmentRefusedTooLarge { .. }), "{err}");
        assert_eq!(uploads(&client).await, 0, "deleted: it can never succeed");
    }

    /// Signed device lists (issue 13) with old local state: the first
    /// device of an account from before them creates the account key and
    /// publishes the first list at its next login; another old device then
    /// pins that list but holds no key, and says so when asked to link.
    #[tokio::test]
    async fn old_local_state_without_an_account_key_is_migrated_at_login() {
        let (url, server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let mut client = client(&url, tmp.path()).await;
        assert!(client.state.device_lists.account_secret.is_some());
        assert!(server.lock().unwrap().device_list.is_some());

        // As written by a release before signed lists, on a server that
        // has none either.
        client.state.device_lists = crate::devices::DeviceLists::default();
        client.save().await.unwrap();
        server.lock().unwrap().device_list = None;
        client.connect().await.unwrap();
        assert!(client.state.device_lists.account_secret.is_some(), "key created");
        let list = server.lock().unwrap().device_list.clone().unwrap();
        let list = list.decode_unverified().unwrap();
        assert_eq!(list.version, 1);
        assert!(list.lists(&client.device(), &client.secret.identity_key()));
        assert_eq!(client.own_devices().unwrap().list, list);

        // Another old device of the account: pins the list, holds no key.
        client.state.device_lists = crate::devices::DeviceLists::default();
        client.save().await.unwrap();
        client.connect().await.unwrap();
        assert!(client.state.device_lists.account_secret.is_none());
        assert_eq!(client.own_devices().unwrap().list.version, 1);
        assert!(matches!(client.create_link().await, Err(ClientError::NoAccountKey)));
    }

    /// A home from before the store: its prepared upload (`uploads/ID.cbor`
    /// and `ID.blob`) moves into the store at the next open, in one commit,
    /// the old directory removed after it; a crash after that commit (the
    /// old files back) imports nothing twice; the upload then resumes and
    /// downloads intact.
    #[tokio::test]
    async fn an_old_homes_prepared_upload_moves_into_the_store_and_still_uploads() {
        let (url, _server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let home_dir = tmp.path().join("home");
        drop(client(&url, tmp.path()).await);
        let photo = tmp.path().join("alt.jpg");
        let original = noisy_photo(&photo);
        let clean = metadata::strip_metadata(&original).unwrap().bytes;
        let key = AttachmentKey::generate();
        let (ciphertext, sha256) = encrypt(&key, &clean).unwrap();
        let id = new_id();
        let record = UploadRecord {
            v: UPLOAD_RECORD_VERSION,
            id: id.clone(),
            key: ByteBuf::from(key.as_bytes().to_vec()),
            sha256: ByteBuf::from(sha256.to_vec()),
            size: ciphertext.len() as u64,
            content_len: clean.len() as u64,
            mime: JPEG_MIME.to_string(),
            source: ByteBuf::from(vec![0; 32]),
            direct: false,
            created_at: 5,
            blob: None,
            chunk_size: None,
            stored_until: None,
        };
        let write_old = || {
            let home = Home::open(&home_dir).unwrap();
            home.ensure_dir(UPLOADS_DIR).unwrap();
            home.write_cbor(&format!("{UPLOADS_DIR}/{id}.cbor"), &record).unwrap();
            fs::write(home_dir.join(UPLOADS_DIR).join(format!("{id}.blob")), &ciphertext).unwrap();
        };
        write_old();

        let client = Client::open(&home_dir, &url).unwrap();
        assert!(!home_dir.join(UPLOADS_DIR).exists(), "old files removed after the import");
        let pending = pending_uploads(&client).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, id);
        assert_eq!(uploads(&client).await, 2, "record and ciphertext");
        let stored = client.store.read_blob(blob_key(&id).unwrap()).await.unwrap().unwrap();
        assert_eq!(stored, ciphertext);
        drop(client);

        // A crash after the import's commit, before the removal.
        write_old();
        let mut client = Client::open(&home_dir, &url).unwrap();
        assert!(!home_dir.join(UPLOADS_DIR).exists());
        assert_eq!(pending_uploads(&client).await.unwrap().len(), 1, "nothing imported twice");

        client.connect().await.unwrap();
        let done = resume_uploads(&mut client).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, id);
        let out = tmp.path().join("out");
        let path = download(&mut client, &done[0].1, &out, "alt").await.unwrap();
        assert_eq!(fs::read(path).unwrap(), clean);
    }

    /// Chunks written by a process that died before committing the
    /// upload's record are removed at the next flush; nothing else is.
    #[tokio::test]
    async fn chunks_of_an_upload_never_recorded_are_removed() {
        let (url, _server) = fake::start().await;
        let tmp = tempfile::tempdir().unwrap();
        let mut client = client(&url, tmp.path()).await;
        let photo = tmp.path().join("a.jpg");
        noisy_photo(&photo);
        let kept = prepare_photo(&mut client, &photo).await.unwrap();
        let orphan = new_id();
        store_ciphertext(&mut client, &orphan, &[7u8; 3 * STORED_CHUNK + 5]).await.unwrap();
        let orphan_blob = blob_key(&orphan).unwrap();
        assert!(client.store.has_chunks(orphan_blob).await.unwrap());
        remove_stray_uploads(&mut client).await.unwrap();
        assert!(!client.store.has_chunks(orphan_blob).await.unwrap());
        assert!(client.store.has_chunks(blob_key(&kept.id).unwrap()).await.unwrap());
        let markers =
            client.store.scan(Space::Transfers, &Scan::prefix(PREPARING_PREFIX)).await.unwrap();
        assert!(markers.is_empty());
        assert_eq!(pending_uploads(&client).await.unwrap().len(), 1);
    }
}
