//! The CLI's photo files: reading the photo a user names (refused early
//! when it cannot fit the limit), saving a downloaded photo under a name
//! that never replaces another file, and moving the prepared uploads of a
//! home from before into its store. The attachments' logic (metadata
//! removal, encryption, resumable upload, download and checks) is the
//! core's, [`stadtbote_client::attachments`].

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use stadtbote_client::ClientError;
use stadtbote_client::attachments::{
    METADATA_ALLOWANCE, STORED_CHUNK, UPLOAD_RECORD_VERSION, UploadRecord, blob_key, encode_record,
    extension, new_id, record_key, safe_stem, valid_id,
};
use stadtbote_client::clock::Clock;
use stadtbote_client::device_store::DeviceStore;
use stadtbote_client::storage::{Batch, Space, Storage};
use stadtbote_client::transport::Connector;
use stadtbote_protocol::app::AttachmentRef;
use stadtbote_protocol::attachment::MAX_PLAINTEXT_BYTES;

use crate::error::CliError;
use crate::file_storage::FileStorage;
use crate::home::Home;
use crate::home_store::ready;

/// The directory under the home that held prepared uploads before they
/// moved into the store ([`import_old_uploads`]).
pub const UPLOADS_DIR: &str = "uploads";

/// [`read_photo`] as the core's [`ReadPhoto`](stadtbote_client::attachments::ReadPhoto).
pub fn read_photo_for_core(path: &Path) -> Result<Vec<u8>, ClientError> {
    read_photo(path).map_err(ClientError::from)
}

/// Downloads, verifies the SHA-256, decrypts and writes the photo into
/// `dir` with a safe file name derived from `stem` + extension by media
/// type; returns the path.
///
/// The file is written to a temporary name, fsynced and then linked to its
/// final name; an existing file is never overwritten (`stem-1.jpg`, … are
/// tried instead). Nothing is written unless every check passed.
pub async fn download<S: Storage, K: Connector, C: Clock + Clone>(
    client: &mut stadtbote_client::Client<S, K, C>,
    attachment: &AttachmentRef,
    dir: &Path,
    stem: &str,
) -> Result<PathBuf, CliError> {
    let content = stadtbote_client::attachments::fetch_photo(client, attachment).await?;
    create_dir(dir, false)?;
    let (tmp_path, mut tmp) = create_temp(dir)?;
    let io = |source| CliError::Io { action: "write", file: tmp_path.clone(), source };
    let written = tmp.write_all(&content).and_then(|()| tmp.sync_all()).map_err(io);
    drop(content);
    drop(tmp);
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

/// Reads a photo, refusing files that cannot fit the limit.
fn read_photo(path: &Path) -> Result<Vec<u8>, CliError> {
    let io = |error: std::io::Error| CliError::PhotoUnreadable {
        path: path.to_path_buf(),
        reason: match error.kind() {
            std::io::ErrorKind::NotFound => "there is no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => error.to_string(),
        },
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(CliError::PhotoUnreadable {
            path: path.to_path_buf(),
            reason: "it is a directory or device, not a file".to_string(),
        });
    }
    let too_large = |size| {
        CliError::Core(ClientError::PhotoTooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_PLAINTEXT_BYTES,
        })
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

/// Gives the finished temporary file its final name, never replacing an
/// existing file: `name.ext`, then `name-1.ext`, `name-2.ext`, …
fn place_without_overwriting(
    tmp: &Path,
    dir: &Path,
    name: &str,
    ext: &str,
) -> Result<PathBuf, CliError> {
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
                        fs::rename(tmp, &candidate).map_err(|source| CliError::Io {
                            action: "write",
                            file: candidate.clone(),
                            source,
                        })?;
                        sync_dir(dir)?;
                        return Ok(candidate);
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(source) => {
                        return Err(CliError::Io { action: "create", file: candidate, source });
                    }
                }
            }
        }
    }
    Err(CliError::Io {
        action: "create",
        file: dir.join(format!("{name}.{ext}")),
        source: std::io::Error::other("too many files with this name"),
    })
}

/// A new temporary file `.stadtbote-XXXX.part` in `dir` (0600).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), CliError> {
    loop {
        let path = dir.join(format!(".stadtbote-{}.part", new_id()));
        match create_private(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(CliError::Io { action: "create", file: path, source }),
        }
    }
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
    store: &mut DeviceStore<FileStorage>,
    now: u64,
) -> Result<usize, CliError> {
    let dir = home.path(UPLOADS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(CliError::Io { action: "read", file: dir, source }),
    };
    let mut batch = Batch::new();
    let mut imported = 0;
    for entry in entries {
        let entry =
            entry.map_err(|source| CliError::Io { action: "read", file: dir.clone(), source })?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".cbor")) else { continue };
        if !valid_id(id) {
            continue;
        }
        let file = format!("{UPLOADS_DIR}/{id}.cbor");
        let record: UploadRecord = home.read_cbor(&file)?;
        if record.v != UPLOAD_RECORD_VERSION || record.id != id {
            return Err(CliError::CorruptFile {
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
                return Err(CliError::Io { action: "read", file: blob_path, source });
            }
        }
        batch.put(Space::Transfers, record_key(id), encode_record(&record));
        imported += 1;
    }
    ready(store.commit_other(batch, now))?;
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(CliError::Io { action: "remove", file: dir, source }),
    }
    sync_dir(home.dir())?;
    Ok(imported)
}

fn remove_file_if_exists(path: &Path) -> Result<(), CliError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CliError::Io { action: "delete", file: path.to_path_buf(), source }),
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
fn create_dir(dir: &Path, private: bool) -> Result<(), CliError> {
    let err = |source| CliError::Io { action: "create", file: dir.to_path_buf(), source };
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

fn sync_dir(dir: &Path) -> Result<(), CliError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| CliError::Io {
        action: "sync",
        file: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::ByteBuf;
    use sha2::{Digest, Sha256};
    use stadtbote_client::attachments::{
        self as core, PREPARING_PREFIX, Photo, PreparedUpload, UploadEvent, UploadOutcome, encrypt,
        remove_stray_uploads, store_ciphertext,
    };
    use stadtbote_client::metadata::{self, JPEG_MIME};
    use stadtbote_client::storage::Scan;
    use stadtbote_protocol::BlobId;
    use stadtbote_protocol::attachment::AttachmentKey;

    use crate::device::Client;

    // The core's photo entry points as the CLI calls them: with the
    // file's path, read by the CLI.
    fn photo(path: &Path) -> Result<Photo, ClientError> {
        Ok(Photo { path: path.to_path_buf(), bytes: read_photo_for_core(path)? })
    }

    async fn upload_photo(client: &mut Client, path: &Path) -> Result<AttachmentRef, ClientError> {
        core::upload_photo(client.core_mut(), photo(path)?).await
    }

    async fn upload_photo_with_progress(
        client: &mut Client,
        path: &Path,
        on_progress: impl FnMut(UploadEvent),
    ) -> Result<UploadOutcome, ClientError> {
        core::upload_photo_with_progress(client.core_mut(), photo(path)?, on_progress).await
    }

    async fn prepare_photo(
        client: &mut Client,
        path: &Path,
    ) -> Result<PreparedUpload, ClientError> {
        core::prepare_photo(client.core_mut(), photo(path)?).await
    }

    async fn resume_uploads(
        client: &mut Client,
    ) -> Result<Vec<(String, AttachmentRef)>, ClientError> {
        core::resume_uploads(client.core_mut()).await
    }

    async fn pending_uploads(client: &Client) -> Result<Vec<UploadRecord>, ClientError> {
        core::pending_uploads(client.core()).await
    }

    async fn forget_upload(client: &mut Client, id: &str) -> Result<(), ClientError> {
        core::forget_upload(client.core_mut(), id).await
    }

    async fn download(
        client: &mut Client,
        attachment: &AttachmentRef,
        dir: &Path,
        stem: &str,
    ) -> Result<PathBuf, ClientError> {
        super::download(client.core_mut(), attachment, dir, stem).await.map_err(ClientError::from)
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
        Client::init(dir.join("home"), url, None, stadtbote_client::Enrolment::Register)
            .await
            .unwrap()
    }

    /// Upload records plus uploads with stored ciphertext (what were the
    /// files `ID.cbor` and `ID.blob` before the store).
    async fn uploads(client: &Client) -> usize {
        let records = pending_uploads(client).await.unwrap();
        let mut count = records.len();
        for record in &records {
            if client.store().has_chunks(blob_key(&record.id).unwrap()).await.unwrap() {
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
            _ => 0,
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
        assert!(client.state().device_lists.account_secret.is_some());
        assert!(server.lock().unwrap().device_list.is_some());

        // As written by a release before signed lists, on a server that
        // has none either.
        client.state_mut().device_lists = crate::devices::DeviceLists::default();
        client.save().await.unwrap();
        server.lock().unwrap().device_list = None;
        client.connect().await.unwrap();
        assert!(client.state().device_lists.account_secret.is_some(), "key created");
        let list = server.lock().unwrap().device_list.clone().unwrap();
        let list = list.decode_unverified().unwrap();
        assert_eq!(list.version, 1);
        assert!(list.lists(&client.device(), &client.secret().identity_key()));
        assert_eq!(client.own_devices().unwrap().list, list);

        // Another old device of the account: pins the list, holds no key.
        client.state_mut().device_lists = crate::devices::DeviceLists::default();
        client.save().await.unwrap();
        client.connect().await.unwrap();
        assert!(client.state().device_lists.account_secret.is_none());
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
        let stored = client.store().read_blob(blob_key(&id).unwrap()).await.unwrap().unwrap();
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
        store_ciphertext(client.core_mut(), &orphan, &[7u8; 3 * STORED_CHUNK + 5]).await.unwrap();
        let orphan_blob = blob_key(&orphan).unwrap();
        assert!(client.store().has_chunks(orphan_blob).await.unwrap());
        remove_stray_uploads(client.core_mut()).await.unwrap();
        assert!(!client.store().has_chunks(orphan_blob).await.unwrap());
        assert!(client.store().has_chunks(blob_key(&kept.id).unwrap()).await.unwrap());
        let markers =
            client.store().scan(Space::Transfers, &Scan::prefix(PREPARING_PREFIX)).await.unwrap();
        assert!(markers.is_empty());
        assert_eq!(pending_uploads(&client).await.unwrap().len(), 1);
    }
}
