//! Crash safety of attachment uploads with batched syncs: a chunk is
//! acknowledged once it is written to the upload's file, and the file is
//! synced (and the durable chunk count stored) every `blob_sync_bytes`. The
//! server is killed with SIGKILL in the middle of an upload; after the
//! restart `upload_status` reports at most what was acknowledged and at
//! least what the last sync covered, and resuming from there stores the
//! attachment intact.

use anyhow::{Result, bail};
use stadtbote_protocol::{BlobId, ErrorBody, ErrorCode, Request, Response};

use crate::block_on;
use crate::harness::{RawClient, Server};

const CHUNK: usize = 65_536;
const SYNC_BYTES: usize = 1 << 20;
/// Chunks per sync.
const PER_SYNC: u32 = (SYNC_BYTES / CHUNK) as u32;
/// A 3 MiB attachment plus a short last chunk: 49 chunks.
const SIZE: usize = 3 * (1 << 20) + 1234;
/// Chunks sent before the crash: past the first sync, short of the second.
const BEFORE_CRASH: u32 = PER_SYNC + 10;

/// Deterministic bytes that differ from chunk to chunk.
fn attachment() -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn chunk(data: &[u8], index: u32) -> &[u8] {
    let start = index as usize * CHUNK;
    &data[start..(start + CHUNK).min(data.len())]
}

fn upload_chunk(blob: BlobId, data: &[u8], index: u32) -> Request {
    Request::UploadChunk { blob, index, data: chunk(data, index).to_vec().into() }
}

/// The `chunks_received` of an `upload_progress` answer.
fn received(answer: Result<Response, ErrorBody>) -> Result<u32> {
    match answer {
        Ok(Response::UploadProgress { chunks_received, complete: false, .. }) => {
            Ok(chunks_received)
        }
        other => bail!("expected upload progress, got {other:?}"),
    }
}

#[test]
fn an_upload_killed_mid_way_resumes_from_the_last_sync_and_arrives_intact() {
    let mut server = Server::start_with(&[("STADTBOTE_BLOB_SYNC_BYTES", &SYNC_BYTES.to_string())]);
    let url = server.url();
    let data = attachment();
    let total = SIZE.div_ceil(CHUNK) as u32;

    let (secret, device, blob) = block_on(async {
        let mut c = RawClient::connect(&url).await?;
        let (secret, _, device) = c.register().await?;
        let blob = match c.request(Request::UploadStart { size: SIZE as u64 }).await? {
            Ok(Response::UploadStarted { blob, chunk_size, .. }) => {
                assert_eq!(chunk_size as usize, CHUNK);
                blob
            }
            other => bail!("upload_start: {other:?}"),
        };
        for index in 0..BEFORE_CRASH {
            let got = received(c.request(upload_chunk(blob, &data, index)).await?)?;
            assert_eq!(got, index + 1, "each chunk is acknowledged");
        }
        // While the server lives it reports every chunk it holds, synced or not.
        let status = received(c.request(Request::UploadStatus { blob }).await?)?;
        assert_eq!(status, BEFORE_CRASH);
        // A retry of an acknowledged chunk is acknowledged again.
        assert_eq!(received(c.request(upload_chunk(blob, &data, 3)).await?)?, BEFORE_CRASH);
        Ok::<_, anyhow::Error>((secret, device, blob))
    })
    .unwrap();

    server.kill();
    server.restart();

    let part = std::fs::read_dir(server.data_dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".part"))
        .expect("the unfinished upload's file survived");

    let stored = block_on(async {
        let mut c = RawClient::connect(&url).await?;
        let login = c.login_request(&secret, device);
        match c.request(login).await? {
            Ok(Response::LoggedIn { .. }) => {}
            other => bail!("login: {other:?}"),
        }
        let resume = received(c.request(Request::UploadStatus { blob }).await?)?;
        let last_sync = BEFORE_CRASH / PER_SYNC * PER_SYNC;
        assert!(
            (last_sync..=BEFORE_CRASH).contains(&resume),
            "after the crash the server holds {resume} chunks; acknowledged \
             {BEFORE_CRASH}, synced at least {last_sync}"
        );
        let on_disk = std::fs::metadata(&part)?.len();
        assert!(on_disk >= u64::from(resume) * CHUNK as u64, "the file holds what is counted");
        if resume < BEFORE_CRASH {
            // What was not synced is gone: the server wants the chunk after
            // the durable count, not the one after the acknowledged ones.
            let skipped = c.request(upload_chunk(blob, &data, BEFORE_CRASH)).await?;
            match skipped {
                Err(ErrorBody { code: ErrorCode::InvalidRequest, ref message, .. })
                    if *message == format!("expected chunk {resume}") => {}
                other => bail!("a chunk past the durable count: {other:?}"),
            }
        }
        for index in resume..total {
            let got = received(c.request(upload_chunk(blob, &data, index)).await?)?;
            assert_eq!(got, index + 1);
        }
        let stored = match c.request(Request::UploadFinish { blob }).await? {
            Ok(Response::BlobStored { size, .. }) => size,
            other => bail!("upload_finish: {other:?}"),
        };
        assert_eq!(stored, SIZE as u64);
        let mut downloaded = Vec::with_capacity(SIZE);
        for index in 0..total {
            match c.request(Request::DownloadChunk { blob, index }).await? {
                Ok(Response::BlobChunk { data: bytes, last, .. }) => {
                    assert_eq!(last, index + 1 == total);
                    downloaded.extend_from_slice(&bytes);
                }
                other => bail!("download_chunk {index}: {other:?}"),
            }
        }
        Ok::<_, anyhow::Error>(downloaded)
    })
    .unwrap();
    assert!(stored == data, "the downloaded attachment differs from the uploaded one");
    let file = std::fs::read_dir(server.data_dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(file.len(), 1, "only the finished blob: {file:?}");
    assert!(std::fs::read(&file[0]).unwrap() == data, "stored exactly as uploaded");
}
