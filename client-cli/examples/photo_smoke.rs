//! Manual smoke test of photo attachments against a running server:
//! upload, kill the uploading process midway, resume, download, compare.
//!
//! ```text
//! STADTBOTE_POW_DIFFICULTY=0 target/debug/stadtbote-server --listen 127.0.0.1:8470 --data-dir /tmp/sb &
//! cargo run -p stadtbote-cli --example photo_smoke -- ws://127.0.0.1:8470/v1/ws /tmp/smoke
//! ```
// A manual test: a failed unwrap is a failed smoke test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use stadtbote_cli::attachments::{self, UploadEvent};
use stadtbote_cli::metadata;
use stadtbote_cli::{Client, ClientError, Enrolment};

/// The process exits (as if killed) after this many chunks.
const KILL_AFTER: u32 = 3;

fn photo(path: &Path) -> Vec<u8> {
    // Noise does not compress: about 1 MB of JPEG, so ~16 chunks.
    let (w, h) = (900u16, 700u16);
    let mut state = 0x9E37_79B9u32;
    let rgb: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 95)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let exif = b"Exif\0\0MM\0\x2a\0\0\0\x08GPS 51.9084N 10.4290E";
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(exif);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(path, &out).unwrap();
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("partial") {
        // Child: upload until KILL_AFTER chunks are on the server, then die.
        let mut client = Client::open(&args[3], &args[2])?;
        client.connect().await?;
        attachments::upload_photo_with_progress(&mut client, Path::new(&args[4]), |event| {
            if let UploadEvent::Sent { done, chunks } = event
                && done >= KILL_AFTER
            {
                eprintln!("child: {done} of {chunks} chunks sent; exiting without cleanup");
                std::process::exit(3);
            }
        })
        .await?;
        unreachable!("the child should have exited mid-upload");
    }
    let url = &args[1];
    let work = PathBuf::from(&args[2]);
    std::fs::create_dir_all(&work).unwrap();
    let home = work.join("home");
    let photo_path = work.join("IMG_0001.jpg");
    let original = photo(&photo_path);
    let expected = metadata::strip_metadata(&original).unwrap().bytes;
    println!("photo: {} bytes, {} after metadata removal", original.len(), expected.len());

    drop(Client::init(&home, url, Some("smoke".into()), Enrolment::Register).await?);

    let status = Command::new(std::env::current_exe().unwrap())
        .args(["partial", url, home.to_str().unwrap(), photo_path.to_str().unwrap()])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "child exit");
    let pending = std::fs::read_dir(home.join("uploads")).unwrap().count();
    println!("after the kill: {pending} files in uploads/");
    assert_eq!(pending, 2);

    let mut client = Client::open(&home, url)?;
    client.connect().await?;
    let outcome = attachments::upload_photo_with_progress(&mut client, &photo_path, |event| {
        if let UploadEvent::Resumed { chunk, chunks } = event {
            println!("resumed upload at chunk {chunk} of {chunks}");
        }
    })
    .await?;
    println!(
        "uploaded: {:?}, resumed_from {:?}, {} chunks",
        outcome.attachment, outcome.resumed_from, outcome.chunks
    );
    assert!(outcome.resumed_from.is_some_and(|n| n >= KILL_AFTER));
    assert_eq!(std::fs::read_dir(home.join("uploads")).unwrap().count(), 0, "local copy deleted");

    let dir = work.join("downloads");
    let first =
        attachments::download(&mut client, &outcome.attachment, &dir, "report 7/photo").await?;
    let second =
        attachments::download(&mut client, &outcome.attachment, &dir, "report 7/photo").await?;
    println!("downloaded to {} and {}", first.display(), second.display());
    assert_eq!(first.file_name().unwrap(), "report_7_photo.jpg");
    assert_eq!(second.file_name().unwrap(), "report_7_photo-1.jpg");
    let got = std::fs::read(&first).unwrap();
    assert_eq!(got, expected, "download equals the cleaned photo");
    assert!(!got.windows(3).any(|w| w == b"GPS"), "no GPS in the download");

    // Tampered reference: the hash check fails before decryption.
    let mut tampered = outcome.attachment.clone();
    tampered.sha256[0] ^= 1;
    let err = attachments::download(&mut client, &tampered, &dir, "x").await.unwrap_err();
    println!("tampered hash: {err}");
    let mut wrong_key = outcome.attachment.clone();
    wrong_key.key[0] ^= 1;
    let err = attachments::download(&mut client, &wrong_key, &dir, "x").await.unwrap_err();
    println!("wrong key: {err}");

    // Too large: refused before anything is uploaded.
    let big = work.join("big.jpg");
    // A valid JPEG whose scan data is padded (never with 0xFF) to 23.4 MB.
    let mut bytes = expected.clone();
    bytes.truncate(bytes.len() - 2);
    bytes.resize(23_400_000 - 2, 0xAB);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    std::fs::write(&big, &bytes).unwrap();
    let err = attachments::upload_photo(&mut client, &big).await.unwrap_err();
    println!("too large: {err}");
    assert!(matches!(err, ClientError::PhotoTooLarge { .. }));
    // The largest photo allowed (20 MB after metadata removal) fits the
    // server's 20 MiB blob limit and comes back intact.
    let max = work.join("max.jpg");
    bytes.truncate(bytes.len() - 2);
    bytes.truncate(20_000_000 - 2);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    std::fs::write(&max, &bytes).unwrap();
    let started = std::time::Instant::now();
    let outcome = attachments::upload_photo_with_progress(&mut client, &max, |_| {}).await?;
    println!("20 MB photo: {} chunks uploaded in {:.1?}", outcome.chunks, started.elapsed());
    let back = attachments::download(&mut client, &outcome.attachment, &dir, "max").await?;
    assert_eq!(std::fs::read(back).unwrap(), bytes);
    // Not a photo.
    let text = work.join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    println!("not a photo: {}", attachments::upload_photo(&mut client, &text).await.unwrap_err());
    client.disconnect().await;
    println!("smoke test passed");
    Ok(())
}
