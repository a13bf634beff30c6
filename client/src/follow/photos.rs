//! A post's photos for a follower: downloaded by blob id without an
//! account, checked against the SHA-256 the signed post carries, decrypted
//! with the key it carries. Nothing is stored; a front-end shows the bytes
//! (the web app as a `blob:` URL) or saves them.

use sha2::{Digest, Sha256};
use stadtbote_protocol::app::AttachmentRef;
use stadtbote_protocol::attachment::{AttachmentKey, Layout, decrypt_all};
use stadtbote_protocol::{ErrorCode, Request, Response};

use crate::clock::Clock;
use crate::connection::Connection;
use crate::transport::Transport;

use super::{FollowError, unexpected};

/// The media types a follower hands out as photos (anything else in a post
/// is offered as a download by the front-end, never rendered).
pub const PHOTO_MIMES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/heic"];

/// Downloads, verifies and decrypts `photo`; returns its bytes.
pub async fn fetch_photo<T: Transport, C: Clock>(
    conn: &mut Connection<T, C>,
    photo: &AttachmentRef,
) -> Result<Vec<u8>, FollowError> {
    let invalid = FollowError::Photo { reason: "its reference is invalid" };
    let key = AttachmentKey::from_bytes(&photo.key).map_err(|_| invalid)?;
    let Ok(expected_sha) = <[u8; 32]>::try_from(photo.sha256.as_slice()) else {
        return Err(FollowError::Photo { reason: "its reference is invalid" });
    };
    let layout = Layout::for_content(photo.size)
        .map_err(|_| FollowError::Photo { reason: "its reference is invalid" })?;
    let expected = layout.ciphertext_len;
    let mismatch = || FollowError::Photo { reason: "the server's copy has the wrong size" };
    let mut ciphertext = Vec::new();
    let mut index = 0u32;
    loop {
        match conn.call(Request::DownloadChunk { blob: photo.blob, index }).await? {
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
            Ok(other) => return Err(unexpected(conn.url(), &other)),
            Err(body) if body.code == ErrorCode::UnknownBlob => {
                return Err(FollowError::Photo { reason: "the server no longer has it" });
            }
            Err(body) => return Err(FollowError::server(body)),
        }
    }
    if ciphertext.len() as u64 != expected {
        return Err(mismatch());
    }
    let sha: [u8; 32] = Sha256::digest(&ciphertext).into();
    if sha != expected_sha {
        return Err(FollowError::Photo { reason: "its checksum does not match (altered)" });
    }
    let content = decrypt_all(&key, &ciphertext)
        .map_err(|_| FollowError::Photo { reason: "it does not decrypt (altered)" })?;
    if content.len() as u64 != photo.size {
        return Err(FollowError::Photo { reason: "it does not decrypt (altered)" });
    }
    Ok(content)
}
