//! The stored layout of [`IndexedDbStorage`](crate::storage): how record
//! and chunk locations become IndexedDB keys, and how a value is sealed at
//! rest (the envelope and its associated data). Pure bytes, no browser, so
//! it is unit-tested on every target; docs/PROTOCOL.md ("Browser storage at
//! rest") describes the same composition with a test vector.
//!
//! ```text
//! record key  = space name (UTF-8) ‖ 0x00 ‖ record key        (object store "records")
//! chunk key   = blob key (16 bytes) ‖ chunk index (u32, big-endian)   ("chunks")
//! envelope    = 0x01 ‖ key id (u32 BE) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
//! aad         = "stadtbote/idb-at-rest/v1" ‖ 0x00 ‖ kind ‖ envelope header ‖ location key
//! ```
//!
//! `kind` is `r` for a record and `c` for a chunk; the envelope header is
//! its first five bytes (version and key id). Binding the location (the
//! IndexedDB key) into the associated data means that a value copied or
//! swapped to another key, space or chunk no longer decrypts.
//!
//! IndexedDB orders binary keys bytewise, so a space's records sort by
//! their own key, and space names (lowercase ASCII, no 0x00) keep the
//! spaces apart: every key of space `s` lies in `[s ‖ 0x00, s ‖ 0x01)`.

use stadtbote_client::storage::{BlobKey, Space, prefix_end};

/// The envelope's format version.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: version, key id, nonce.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The domain separator at the start of every associated data.
pub const AAD_DOMAIN: &[u8] = b"stadtbote/idb-at-rest/v1";

/// What a sealed value is: a record or an attachment chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A record in a space.
    Record,
    /// An attachment chunk.
    Chunk,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Record => b'r',
            Kind::Chunk => b'c',
        }
    }
}

/// The IndexedDB key of record `key` in `space`.
pub fn record_key(space: Space, key: &[u8]) -> Vec<u8> {
    let name = space.name().as_bytes();
    let mut out = Vec::with_capacity(name.len() + 1 + key.len());
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// The smallest IndexedDB key of `space` (its empty record key).
pub fn space_start(space: Space) -> Vec<u8> {
    record_key(space, &[])
}

/// The first IndexedDB key after every key of `space`.
pub fn space_end(space: Space) -> Vec<u8> {
    let mut out = space.name().as_bytes().to_vec();
    out.push(1);
    out
}

/// The record key inside IndexedDB key `stored`, if `stored` belongs to `space`.
pub fn split_record_key(space: Space, stored: &[u8]) -> Option<&[u8]> {
    let name = space.name().as_bytes();
    let rest = stored.strip_prefix(name)?;
    rest.strip_prefix(&[0u8])
}

/// The exclusive end of the keys of `space` starting with `prefix` (there
/// always is one: at worst the end of the space).
pub fn prefix_end_in_space(space: Space, prefix: &[u8]) -> Vec<u8> {
    prefix_end(&record_key(space, prefix)).unwrap_or_else(|| space_end(space))
}

/// The IndexedDB key of chunk `index` of `blob`.
pub fn chunk_key(blob: BlobKey, index: u32) -> Vec<u8> {
    let mut out = blob.0.to_vec();
    out.extend_from_slice(&index.to_be_bytes());
    out
}

/// The chunk index inside IndexedDB key `stored`, if it belongs to `blob`.
pub fn split_chunk_key(blob: BlobKey, stored: &[u8]) -> Option<u32> {
    let rest = stored.strip_prefix(&blob.0[..])?;
    Some(u32::from_be_bytes(rest.try_into().ok()?))
}

/// The first five bytes of an envelope: version and key id.
pub fn envelope_header(key_id: u32) -> [u8; 5] {
    let id = key_id.to_be_bytes();
    [ENVELOPE_VERSION, id[0], id[1], id[2], id[3]]
}

/// The associated data of the value stored under `location`.
pub fn aad(kind: Kind, key_id: u32, location: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AAD_DOMAIN.len() + 7 + location.len());
    out.extend_from_slice(AAD_DOMAIN);
    out.push(0);
    out.push(kind.byte());
    out.extend_from_slice(&envelope_header(key_id));
    out.extend_from_slice(location);
    out
}

/// Joins header, nonce and AES-GCM output (ciphertext and tag) into the
/// stored envelope.
pub fn envelope(key_id: u32, nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + sealed.len());
    out.extend_from_slice(&envelope_header(key_id));
    out.extend_from_slice(nonce);
    out.extend_from_slice(sealed);
    out
}

/// A stored envelope, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The key it was sealed with.
    pub key_id: u32,
    /// Its nonce.
    pub nonce: &'a [u8],
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
}

/// Splits a stored envelope; `None` for a wrong version or a short value.
pub fn split_envelope(stored: &[u8]) -> Option<Opened<'_>> {
    if stored.len() < ENVELOPE_HEADER_LEN + TAG_LEN || stored[0] != ENVELOPE_VERSION {
        return None;
    }
    let key_id = u32::from_be_bytes(stored.get(1..5)?.try_into().ok()?);
    Some(Opened {
        key_id,
        nonce: stored.get(5..ENVELOPE_HEADER_LEN)?,
        sealed: stored.get(ENVELOPE_HEADER_LEN..)?,
    })
}

// Plain #[test]s: run natively (the browser run has only wasm_bindgen_tests).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn record_keys_keep_spaces_apart_and_order_within_a_space() {
        let a = record_key(Space::History, &[0, 1]);
        let b = record_key(Space::History, &[0, 1, 0]);
        let c = record_key(Space::History, &[0xff, 0xff]);
        assert!(space_start(Space::History) < a && a < b && b < c);
        assert!(c < space_end(Space::History));
        // "history" and "mls" etc. never interleave, even with 0xff keys.
        for space in Space::ALL {
            for other in Space::ALL {
                if space != other {
                    let inside = record_key(other, &[0xff; 8]);
                    assert!(
                        !(space_start(space) <= inside && inside < space_end(space)),
                        "{other} inside {space}"
                    );
                }
            }
        }
        assert_eq!(split_record_key(Space::History, &a), Some(&[0u8, 1][..]));
        assert_eq!(split_record_key(Space::Outbox, &a), None);
        assert_eq!(prefix_end_in_space(Space::Mls, &[0xff, 0xff]), space_end(Space::Mls));
        assert_eq!(prefix_end_in_space(Space::Mls, b"a"), record_key(Space::Mls, b"b"));
    }

    #[test]
    fn chunk_keys_sort_by_index() {
        let blob = BlobKey([7; 16]);
        assert!(chunk_key(blob, 1) < chunk_key(blob, 256));
        assert!(chunk_key(blob, 256) < chunk_key(blob, u32::MAX));
        assert_eq!(split_chunk_key(blob, &chunk_key(blob, 300)), Some(300));
        assert_eq!(split_chunk_key(BlobKey([8; 16]), &chunk_key(blob, 300)), None);
    }

    #[test]
    fn envelopes_split_back_and_bind_their_location() {
        let sealed = [9u8; 20];
        let stored = envelope(3, &[5; NONCE_LEN], &sealed);
        let opened = split_envelope(&stored).unwrap();
        assert_eq!((opened.key_id, opened.nonce, opened.sealed), (3, &[5u8; 12][..], &sealed[..]));
        assert_eq!(split_envelope(&stored[..ENVELOPE_HEADER_LEN + TAG_LEN - 1]), None);
        let mut wrong = stored.clone();
        wrong[0] = 2;
        assert_eq!(split_envelope(&wrong), None);
        let here = aad(Kind::Record, 1, &record_key(Space::History, b"k"));
        assert_ne!(here, aad(Kind::Record, 1, &record_key(Space::Outbox, b"k")));
        assert_ne!(here, aad(Kind::Record, 2, &record_key(Space::History, b"k")));
        assert_ne!(
            aad(Kind::Record, 1, &chunk_key(BlobKey([0; 16]), 0)),
            aad(Kind::Chunk, 1, &chunk_key(BlobKey([0; 16]), 0))
        );
        assert_eq!(
            here,
            [b"stadtbote/idb-at-rest/v1\0r".as_slice(), &[1, 0, 0, 0, 1], b"history\0k"].concat()
        );
    }
}
