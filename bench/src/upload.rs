//! The `upload` scenario: one attachment up and down on one connection.
//!
//! The content is random bytes encrypted with the real attachment format
//! ([`stadtbote_protocol::attachment::encrypt_all`]) before the timer
//! starts. Chunks are pipelined (a window of unanswered chunks), as a
//! client on a long link should; the download is checked against the
//! ciphertext's SHA-256 and decrypted afterwards. With `--server-pid`, the
//! server's RSS is read before the connection opens and again once the
//! transfer is over and the connection sits idle. That difference includes
//! what the allocator keeps once (arenas grown by the first 64 KiB chunks),
//! so `--held N` more connections then each upload the same and stay
//! open: their growth over the state after the first connection closed,
//! divided by N, is what one connection keeps after an upload.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::stream::SplitStream;
use rand::RngCore;
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use stadtbote_protocol::attachment::{self, Decryptor};
use stadtbote_protocol::frame::ServerBody;
use stadtbote_protocol::{Request, Response};

use crate::net::{self, Target};
use crate::report::{CpuWindow, Report, rss_kib};

/// Unanswered chunks allowed in flight.
const WINDOW: usize = 8;

/// One connection's upload and (with `download`) download of `ciphertext`;
/// the connection's halves are returned so that the caller decides how
/// long it stays open.
struct Transfer {
    chunk_size: usize,
    chunks: usize,
    upload_secs: f64,
    download_secs: f64,
    downloaded: Vec<u8>,
    open: (net::Sender, SplitStream<net::Ws>),
}

async fn transfer(target: &Target, ciphertext: &[u8], download: bool) -> Result<Transfer> {
    let mut conn = target.connect().await?;
    conn.register().await?;
    let (blob, chunk_size) =
        match conn.request(Request::UploadStart { size: ciphertext.len() as u64 }).await? {
            Response::UploadStarted { blob, chunk_size, .. } => (blob, chunk_size as usize),
            other => bail!("unexpected answer to upload_start: {other:?}"),
        };
    let chunks: Vec<&[u8]> = ciphertext.chunks(chunk_size).collect();
    let (mut sender, mut stream, _) = conn.split();

    let started = Instant::now();
    let mut next = 0usize;
    let mut answered = 0usize;
    while answered < chunks.len() {
        while next < chunks.len() && next - answered < WINDOW {
            let data = ByteBuf::from(chunks[next].to_vec());
            sender.send(Request::UploadChunk { blob, index: next as u32, data }).await?;
            next += 1;
        }
        match tokio::time::timeout(net::SETUP_TIMEOUT, net::read_body(&mut stream)).await?? {
            ServerBody::Response { response: Response::UploadProgress { .. }, .. } => answered += 1,
            ServerBody::Error { error, .. } => bail!("chunk refused: {error}"),
            _ => {}
        }
    }
    sender.send(Request::UploadFinish { blob }).await?;
    loop {
        match tokio::time::timeout(net::SETUP_TIMEOUT, net::read_body(&mut stream)).await?? {
            ServerBody::Response { response: Response::BlobStored { .. }, .. } => break,
            ServerBody::Error { error, .. } => bail!("finish refused: {error}"),
            _ => {}
        }
    }
    let upload_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut downloaded = Vec::with_capacity(ciphertext.len());
    let mut requested = VecDeque::new();
    let mut next = 0u32;
    let total = chunks.len() as u32;
    let mut received = 0u32;
    while download && received < total {
        while next < total && requested.len() < WINDOW {
            sender.send(Request::DownloadChunk { blob, index: next }).await?;
            requested.push_back(next);
            next += 1;
        }
        match tokio::time::timeout(net::SETUP_TIMEOUT, net::read_body(&mut stream)).await?? {
            ServerBody::Response { response: Response::BlobChunk { index, data, .. }, .. } => {
                if requested.pop_front() != Some(index) {
                    bail!("chunk {index} arrived out of order");
                }
                downloaded.extend_from_slice(&data);
                received += 1;
            }
            ServerBody::Error { error, .. } => bail!("download refused: {error}"),
            _ => {}
        }
    }
    let download_secs = started.elapsed().as_secs_f64();
    Ok(Transfer {
        chunk_size,
        chunks: chunks.len(),
        upload_secs,
        download_secs,
        downloaded,
        open: (sender, stream),
    })
}

/// The connections kept open after the measured transfer.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// How many.
    pub count: usize,
    /// How long they stay open before the server's memory is read.
    pub hold: Duration,
    /// They only register (no upload): the control for the same figure.
    pub control: bool,
}

/// Runs the scenario with `size_mb` million bytes of content; then, with
/// `held` above 0, that many more connections each upload the same amount
/// and stay open, to tell the memory each such connection keeps from what
/// the allocator keeps once.
pub async fn run(
    target: Arc<Target>,
    size_mb: f64,
    held: Held,
    server_pid: Option<u32>,
) -> Result<Report> {
    let Held { count: held, hold, control } = held;
    let mut report = Report::new("upload");
    let content_len = (size_mb * 1_000_000.0) as usize;
    let mut content = vec![0u8; content_len];
    rand::thread_rng().fill_bytes(&mut content);
    let (ciphertext, key, sha256) = attachment::encrypt_all(&content)?;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server_pid.map(rss_kib).transpose()?;
    let cpu = CpuWindow::start(server_pid);
    let first = transfer(&target, &ciphertext, true).await?;
    let cpu_use = cpu.finish();
    let Transfer { chunk_size, chunks, upload_secs, download_secs, downloaded, open } = first;

    // The connection stays open and idle while memory is read again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server_pid.map(rss_kib).transpose()?;

    let intact = Sha256::digest(&downloaded).as_slice() == sha256.as_slice();
    let mut decryptor = Decryptor::new(&key, downloaded.len() as u64)?;
    let mut plain = Vec::with_capacity(content_len);
    let mut rest = downloaded.as_slice();
    while let Some(len) = decryptor.next_chunk_len() {
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        plain.extend_from_slice(&decryptor.decrypt_next(chunk)?);
        rest = tail;
    }
    decryptor.finish()?;
    let decrypted = plain == content;

    let mb = ciphertext.len() as f64 / 1_000_000.0;
    report.add_f("size_mb", mb, "MB of ciphertext (10^6 bytes)");
    report.add("chunks", chunks, "chunks");
    report.add("chunk_size", chunk_size, "bytes");
    report.add_f("mb_per_s", mb / upload_secs.max(1e-6), "MB/s upload");
    report.add_f("download_mb_per_s", mb / download_secs.max(1e-6), "MB/s download");
    report.add("intact", intact && decrypted, "SHA-256 matches and content decrypts");
    report.add("lost", usize::from(!(intact && decrypted)), "corrupted transfers");
    if let (Some(before), Some(after)) = (before, after) {
        report.add("server_rss_kib_before", before, "KiB");
        report.add("server_rss_kib_after", after, "KiB");
        report.add(
            "server_rss_kib_per_conn_after_upload",
            after.saturating_sub(before),
            "KiB held after the transfer (one open, idle connection; includes what the \
             allocator keeps once, see server_rss_kib_per_held_conn)",
        );
    }
    // Once the connection is gone, what remains is the allocator's and the
    // store's, not the connection's.
    drop(open);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed = server_pid.map(rss_kib).transpose()?;
    if let (Some(before), Some(closed)) = (before, closed) {
        report.add("server_rss_kib_after_close", closed, "KiB once the connection closed");
        report.add(
            "server_rss_kib_retained_after_close",
            closed.saturating_sub(before),
            "KiB above the baseline with no connection",
        );
    }
    if held > 0 {
        let mut kept = Vec::with_capacity(held);
        for _ in 0..held {
            if control {
                let mut conn = target.connect().await?;
                conn.register().await?;
                let (sender, stream, _) = conn.split();
                kept.push((sender, stream));
            } else {
                kept.push(transfer(&target, &ciphertext, false).await?.open);
            }
        }
        // A heap profiler attached to the server snapshots during the hold
        // (bench/heap-per-conn.sh waits for this line).
        eprintln!("holding {held} connections for {} s", hold.as_secs_f64());
        tokio::time::sleep(hold).await;
        if let (Some(closed), Some(pid)) = (closed, server_pid) {
            let all = rss_kib(pid)?;
            let what = if control {
                "more connections that only registered (control) and stay open"
            } else {
                "more connections that uploaded and stay open"
            };
            report.add("held_connections", held, what);
            report.add("held_control", control, "the held connections did not upload");
            report.add("server_rss_kib_held", all, "KiB with them open and idle");
            report.add_f(
                "server_rss_kib_per_held_conn",
                all.saturating_sub(closed) as f64 / held as f64,
                "KiB each of them keeps (growth over the closed state ÷ held)",
            );
        }
        drop(kept);
    }
    cpu_use.record(&mut report);
    Ok(report)
}
