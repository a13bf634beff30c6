//! Encrypted attachments (photos): framing, padding, chunking and
//! ChaCha20-Poly1305 STREAM encryption. No I/O: callers hand in bytes and
//! store or upload what comes out.
//!
//! # Construction (normative; docs/PROTOCOL.md §"Attachments" has a test vector)
//!
//! 1. A fresh random 32-byte key per attachment ([`AttachmentKey::generate`]).
//! 2. The *framed plaintext* is `u64 LE content length ‖ content ‖ zero
//!    padding`. Its total length, the *padded length*, is the Padmé bucket of
//!    `8 + content length` ([`padme`]), but at least [`CHUNK_PLAIN`]: every
//!    attachment of up to 64 KiB looks the same, and above that the exact size
//!    is hidden within ~3 % (Padmé leaks O(log log n) bits of the length).
//! 3. The framed plaintext is cut into pieces of [`CHUNK_PLAIN`] = 65 520 bytes
//!    (the last may be shorter). Piece `i` is sealed with ChaCha20-Poly1305
//!    under the nonce `0x00 × 7 ‖ u32 BE i ‖ flag`, where `flag` is `0x01` for
//!    the last piece and `0x00` otherwise, with empty associated data: this is
//!    the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár
//!    ("nOAE", big-endian 32-bit counter, `aead::stream::StreamBE32`). Every
//!    ciphertext chunk is therefore exactly [`CHUNK_CIPHER`] = 65 536 bytes,
//!    except the last, which may be shorter.
//! 4. The blob is the concatenation of the ciphertext chunks; its SHA-256 goes
//!    into the [`crate::app::AttachmentRef`] together with the key.
//!
//! STREAM authenticates the position of every chunk and which chunk is the
//! last, so truncation, reordering, dropping or appending chunks fail just
//! like a flipped bit or a wrong key: all of these are
//! [`AttachmentError::DecryptionFailed`], deliberately without detail.
//! After decryption the length header must describe exactly this
//! ciphertext's size and the padding must be zero, so there is exactly one
//! valid ciphertext layout per content length.

use std::fmt;
use std::ops::Range;

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of an attachment key.
pub const KEY_LEN: usize = 32;
/// Length of the Poly1305 tag that ends every ciphertext chunk.
pub const TAG_LEN: usize = 16;
/// Size of every ciphertext chunk but the last.
pub const CHUNK_CIPHER: usize = 65_536;
/// Plaintext bytes per chunk: [`CHUNK_CIPHER`] minus the tag.
pub const CHUNK_PLAIN: usize = CHUNK_CIPHER - TAG_LEN;
/// Length of the framing header (the content length, u64 little-endian).
pub const HEADER_LEN: usize = 8;
/// Largest content (photo after metadata removal) that may be attached: 20 MB.
pub const MAX_PLAINTEXT_BYTES: u64 = 20_000_000;
/// Largest ciphertext blob: 20 MiB, the server's upload limit. The
/// ciphertext of [`MAX_PLAINTEXT_BYTES`] stays below it.
pub const MAX_CIPHERTEXT_BYTES: u64 = 20 * 1024 * 1024;

/// The first 7 bytes of every chunk nonce.
///
/// All zero on purpose: every key is fresh random and seals exactly one
/// attachment, exactly once (a resumed upload re-sends the stored
/// ciphertext, it never encrypts again). Within that one STREAM the 4-byte
/// counter and the last-chunk flag make every nonce distinct, so no
/// (key, nonce) pair ever repeats and a random prefix would add nothing.
const NONCE_PREFIX: [u8; 7] = [0; 7];

/// Why an attachment could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The content or ciphertext exceeds the limit.
    #[error("attachment of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size given.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A key that is not 32 bytes.
    #[error("an attachment key must be {KEY_LEN} bytes")]
    InvalidKey,
    /// The ciphertext is not an intact attachment under this key (damaged,
    /// truncated, reordered, extended, or the wrong key). Deliberately coarse.
    #[error("the attachment could not be decrypted")]
    DecryptionFailed,
    /// The caller passed content that does not match what the encryptor asked
    /// for, or used it after it finished.
    #[error("attachment encryptor used out of order")]
    Misuse,
}

/// The random key of one attachment. Zeroed on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKey([u8; KEY_LEN]);

impl AttachmentKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key from its 32 bytes (as carried in [`crate::app::AttachmentRef::key`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AttachmentError> {
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| AttachmentError::InvalidKey)?;
        Ok(Self(key))
    }

    /// The key's bytes, to put into an [`crate::app::AttachmentRef`].
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }
}

impl fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachmentKey(..)")
    }
}

/// The Padmé padding function (Nikitin et al., "Reducing Metadata Leakage
/// from Encrypted Files and Communication with PURBs", PETS 2019): rounds
/// `len` up so that only the top `⌊log2 E⌋ + 1` bits below the leading bit
/// may be non-zero, where `E = ⌊log2 len⌋`. Overhead is below 2^-(⌊log2 E⌋+1)
/// (≤ 3.2 % from 64 KiB to 4 GiB). Returns `None` on overflow.
pub fn padme(len: u64) -> Option<u64> {
    if len < 2 {
        return Some(len);
    }
    let e = 63 - len.leading_zeros(); // ⌊log2 len⌋
    let s = 32 - e.leading_zeros(); // ⌊log2 e⌋ + 1
    let last_bits = e.saturating_sub(s);
    let mask = (1u64 << last_bits) - 1;
    Some(len.checked_add(mask)? & !mask)
}

/// The sizes of one attachment, all determined by the content length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Content bytes (the photo after metadata removal).
    pub content_len: u64,
    /// Framed plaintext bytes: header, content and padding.
    pub padded_len: u64,
    /// Number of ciphertext chunks.
    pub chunks: u32,
    /// Total ciphertext (blob) bytes.
    pub ciphertext_len: u64,
}

impl Layout {
    /// The layout for `content_len` bytes of content.
    pub fn for_content(content_len: u64) -> Result<Layout, AttachmentError> {
        let too_large = AttachmentError::TooLarge { size: content_len, limit: MAX_PLAINTEXT_BYTES };
        if content_len > MAX_PLAINTEXT_BYTES {
            return Err(too_large);
        }
        let framed = content_len + HEADER_LEN as u64;
        let padded_len = padme(framed).ok_or(too_large.clone())?.max(CHUNK_PLAIN as u64);
        let chunks = padded_len.div_ceil(CHUNK_PLAIN as u64);
        let ciphertext_len = padded_len + chunks * TAG_LEN as u64;
        let chunks = u32::try_from(chunks).map_err(|_| too_large)?;
        Ok(Layout { content_len, padded_len, chunks, ciphertext_len })
    }

    /// Offsets in the framed plaintext covered by chunk `index`.
    fn framed_range(&self, index: u32) -> Range<u64> {
        let start = u64::from(index) * CHUNK_PLAIN as u64;
        let end = (start + CHUNK_PLAIN as u64).min(self.padded_len);
        start..end
    }

    /// Offsets in the content carried by chunk `index` (possibly empty).
    fn content_range(&self, index: u32) -> Range<u64> {
        let framed = self.framed_range(index);
        let clamp = |at: u64| at.saturating_sub(HEADER_LEN as u64).min(self.content_len);
        clamp(framed.start)..clamp(framed.end)
    }
}

/// The ciphertext (blob) size for `content_len` bytes of content.
pub fn ciphertext_len(content_len: u64) -> Result<u64, AttachmentError> {
    Ok(Layout::for_content(content_len)?.ciphertext_len)
}

/// Encrypts one attachment chunk by chunk, so the caller can write each
/// chunk out before asking for the next (a 20 MB photo never needs more
/// than the content itself and one chunk in memory).
///
/// ```
/// # use stadtbote_protocol::attachment::*;
/// let content = b"a photo".to_vec();
/// let key = AttachmentKey::generate();
/// let mut enc = Encryptor::new(&key, content.len() as u64).unwrap();
/// let mut blob = Vec::new();
/// while let Some(range) = enc.next_content_range() {
///     let piece = &content[range.start as usize..range.end as usize];
///     blob.extend_from_slice(&enc.encrypt_next(piece).unwrap());
/// }
/// let sha256 = enc.finish().unwrap();
/// assert_eq!(decrypt_all(&key, &blob).unwrap(), content);
/// # let _ = sha256;
/// ```
pub struct Encryptor {
    stream: Option<EncryptorBE32<ChaCha20Poly1305>>,
    layout: Layout,
    next: u32,
    hasher: Sha256,
}

impl fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryptor")
            .field("layout", &self.layout)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Starts encrypting `content_len` bytes of content under `key`. The key
    /// must be fresh (see [`AttachmentKey::generate`]) and never used again.
    pub fn new(key: &AttachmentKey, content_len: u64) -> Result<Self, AttachmentError> {
        let layout = Layout::for_content(content_len)?;
        let stream = EncryptorBE32::from_aead(key.cipher(), &GenericArray::from(NONCE_PREFIX));
        Ok(Self { stream: Some(stream), layout, next: 0, hasher: Sha256::new() })
    }

    /// The sizes of this attachment.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Which content bytes the next chunk needs (possibly an empty range for
    /// chunks of padding only); `None` once every chunk has been produced.
    pub fn next_content_range(&self) -> Option<Range<u64>> {
        (self.next < self.layout.chunks).then(|| self.layout.content_range(self.next))
    }

    /// Encrypts the next chunk. `content` must be exactly the bytes of
    /// [`Encryptor::next_content_range`]; returns the ciphertext chunk.
    pub fn encrypt_next(&mut self, content: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        let range = self.next_content_range().ok_or(AttachmentError::Misuse)?;
        if content.len() as u64 != range.end - range.start {
            return Err(AttachmentError::Misuse);
        }
        let index = self.next;
        let framed = self.layout.framed_range(index);
        let plain_len =
            usize::try_from(framed.end - framed.start).map_err(|_| AttachmentError::Misuse)?;
        let mut buf = Vec::with_capacity(plain_len + TAG_LEN);
        if index == 0 {
            buf.extend_from_slice(&self.layout.content_len.to_le_bytes());
        }
        buf.extend_from_slice(content);
        buf.resize(plain_len, 0);
        let last = index + 1 == self.layout.chunks;
        let sealed = if last {
            let stream = self.stream.take().ok_or(AttachmentError::Misuse)?;
            stream.encrypt_last_in_place(&[], &mut buf)
        } else {
            let stream = self.stream.as_mut().ok_or(AttachmentError::Misuse)?;
            stream.encrypt_next_in_place(&[], &mut buf)
        };
        // Sealing only fails for messages longer than ChaCha20 allows, which
        // a 64 KiB chunk never is.
        sealed.map_err(|_| AttachmentError::Misuse)?;
        self.hasher.update(&buf);
        self.next += 1;
        Ok(buf)
    }

    /// Ends encryption; returns the SHA-256 of the whole ciphertext. Fails if
    /// not every chunk was produced.
    pub fn finish(self) -> Result<[u8; 32], AttachmentError> {
        if self.next != self.layout.chunks {
            return Err(AttachmentError::Misuse);
        }
        Ok(self.hasher.finalize().into())
    }
}

/// Decrypts one attachment chunk by chunk, checking order, the last-chunk
/// flag, the length header and the padding.
pub struct Decryptor {
    stream: Option<DecryptorBE32<ChaCha20Poly1305>>,
    ciphertext_len: u64,
    chunks: u32,
    next: u32,
    /// Known once chunk 0 is decrypted.
    layout: Option<Layout>,
}

impl fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("ciphertext_len", &self.ciphertext_len)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// Starts decrypting a blob of `ciphertext_len` bytes. Refuses sizes no
    /// attachment can have.
    pub fn new(key: &AttachmentKey, ciphertext_len: u64) -> Result<Self, AttachmentError> {
        if ciphertext_len > MAX_CIPHERTEXT_BYTES {
            return Err(AttachmentError::TooLarge {
                size: ciphertext_len,
                limit: MAX_CIPHERTEXT_BYTES,
            });
        }
        let chunks = ciphertext_len.div_ceil(CHUNK_CIPHER as u64);
        let last_len = ciphertext_len - chunks.saturating_sub(1) * CHUNK_CIPHER as u64;
        // Every chunk holds at least one plaintext byte; chunk 0 the whole header.
        if chunks == 0 || last_len <= TAG_LEN as u64 || ciphertext_len < CHUNK_CIPHER as u64 {
            return Err(AttachmentError::DecryptionFailed);
        }
        let chunks = u32::try_from(chunks).map_err(|_| AttachmentError::DecryptionFailed)?;
        let stream = DecryptorBE32::from_aead(key.cipher(), &GenericArray::from(NONCE_PREFIX));
        Ok(Self { stream: Some(stream), ciphertext_len, chunks, next: 0, layout: None })
    }

    /// Number of ciphertext chunks.
    pub fn chunk_count(&self) -> u32 {
        self.chunks
    }

    /// Size of the next ciphertext chunk; `None` when all were decrypted.
    pub fn next_chunk_len(&self) -> Option<usize> {
        if self.next >= self.chunks {
            return None;
        }
        let start = u64::from(self.next) * CHUNK_CIPHER as u64;
        usize::try_from((self.ciphertext_len - start).min(CHUNK_CIPHER as u64)).ok()
    }

    /// The content length, known after the first chunk.
    pub fn content_len(&self) -> Option<u64> {
        self.layout.map(|l| l.content_len)
    }

    /// Decrypts the next chunk (exactly [`Decryptor::next_chunk_len`] bytes)
    /// and returns the content bytes it carries. After any failure the
    /// decryptor refuses everything.
    pub fn decrypt_next(&mut self, chunk: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        let result = self.decrypt_inner(chunk);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn decrypt_inner(&mut self, chunk: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        const FAILED: AttachmentError = AttachmentError::DecryptionFailed;
        if self.next_chunk_len() != Some(chunk.len()) {
            return Err(FAILED);
        }
        let index = self.next;
        let mut buf = chunk.to_vec();
        if index + 1 == self.chunks {
            let stream = self.stream.take().ok_or(FAILED)?;
            stream.decrypt_last_in_place(&[], &mut buf).map_err(|_| FAILED)?;
        } else {
            let stream = self.stream.as_mut().ok_or(FAILED)?;
            stream.decrypt_next_in_place(&[], &mut buf).map_err(|_| FAILED)?;
        }
        let layout = match self.layout {
            Some(layout) => layout,
            None => {
                let header: [u8; HEADER_LEN] =
                    buf.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(FAILED)?;
                let layout = Layout::for_content(u64::from_le_bytes(header)).map_err(|_| FAILED)?;
                if layout.ciphertext_len != self.ciphertext_len || layout.chunks != self.chunks {
                    return Err(FAILED);
                }
                self.layout = Some(layout);
                layout
            }
        };
        let framed = layout.framed_range(index);
        let content = layout.content_range(index);
        if framed.end - framed.start != buf.len() as u64 {
            return Err(FAILED);
        }
        // Where this chunk's content starts and ends inside `buf`.
        let offset = |content_at: u64| {
            usize::try_from(content_at + HEADER_LEN as u64 - framed.start).map_err(|_| FAILED)
        };
        let (from, to) = if content.is_empty() {
            // Padding only (or header only): nothing of the content here.
            let at = if index == 0 { HEADER_LEN } else { 0 };
            (at, at)
        } else {
            (offset(content.start)?, offset(content.end)?)
        };
        if buf.get(to..).is_none_or(|padding| padding.iter().any(|&b| b != 0)) {
            return Err(FAILED);
        }
        buf.truncate(to);
        buf.drain(..from);
        self.next += 1;
        Ok(buf)
    }

    /// Ends decryption; returns the content length. Fails unless every chunk
    /// (including the flagged last one) was decrypted.
    pub fn finish(self) -> Result<u64, AttachmentError> {
        match self.layout {
            Some(layout) if self.next == self.chunks => Ok(layout.content_len),
            _ => Err(AttachmentError::DecryptionFailed),
        }
    }
}

/// Encrypts `content` under a fresh key; returns the ciphertext, the key and
/// the ciphertext's SHA-256.
pub fn encrypt_all(content: &[u8]) -> Result<(Vec<u8>, AttachmentKey, [u8; 32]), AttachmentError> {
    let key = AttachmentKey::generate();
    let (ciphertext, sha256) = encrypt_all_with_key(&key, content)?;
    Ok((ciphertext, key, sha256))
}

/// Encrypts `content` under `key`, which must never have been used before
/// (this exists for test vectors; use [`encrypt_all`]). Returns the
/// ciphertext and its SHA-256.
pub fn encrypt_all_with_key(
    key: &AttachmentKey,
    content: &[u8],
) -> Result<(Vec<u8>, [u8; 32]), AttachmentError> {
    let mut enc = Encryptor::new(key, content.len() as u64)?;
    let total =
        usize::try_from(enc.layout().ciphertext_len).map_err(|_| AttachmentError::Misuse)?;
    let mut out = Vec::with_capacity(total);
    while let Some(range) = enc.next_content_range() {
        let piece = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| content.get(start..end))
            .ok_or(AttachmentError::Misuse)?;
        out.extend_from_slice(&enc.encrypt_next(piece)?);
    }
    let sha256 = enc.finish()?;
    Ok((out, sha256))
}

/// Decrypts a whole blob; returns the content.
pub fn decrypt_all(key: &AttachmentKey, ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let mut dec = Decryptor::new(key, ciphertext.len() as u64)?;
    let mut content = Vec::new();
    let mut rest = ciphertext;
    while let Some(len) = dec.next_chunk_len() {
        let (chunk, tail) = rest.split_at_checked(len).ok_or(AttachmentError::DecryptionFailed)?;
        let piece = dec.decrypt_next(chunk)?;
        if content.is_empty()
            && let Some(total) = dec.content_len().and_then(|n| usize::try_from(n).ok())
        {
            content.reserve_exact(total);
        }
        content.extend_from_slice(&piece);
        rest = tail;
    }
    dec.finish()?;
    Ok(content)
}

/// SHA-256 of a complete blob, as put into [`crate::app::AttachmentRef::sha256`].
pub fn blob_sha256(ciphertext: &[u8]) -> [u8; 32] {
    Sha256::digest(ciphertext).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn vector_key() -> AttachmentKey {
        let bytes: Vec<u8> = (0u8..32).collect();
        AttachmentKey::from_bytes(&bytes).unwrap()
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    #[test]
    fn padme_values() {
        assert_eq!(padme(0), Some(0));
        assert_eq!(padme(1), Some(1));
        assert_eq!(padme(9), Some(10));
        assert_eq!(padme(65_521), Some(65_536));
        assert_eq!(padme(100_000), Some(100_352));
        assert_eq!(padme(20_000_008), Some(20_447_232));
        assert_eq!(padme(u64::MAX), None);
        for len in [2u64, 100, 65_520, 1_000_000, 20_000_008] {
            let padded = padme(len).unwrap();
            assert!(padded >= len && padded - len <= len / 16, "{len} → {padded}");
        }
    }

    #[test]
    fn layout_sizes() {
        let small = Layout::for_content(0).unwrap();
        assert_eq!((small.padded_len, small.chunks, small.ciphertext_len), (65_520, 1, 65_536));
        // Everything whose Padmé bucket fits one chunk shares that size.
        assert_eq!(Layout::for_content(63_480).unwrap().with_content_len(0), small);
        // The next bucket (65 536) needs a second chunk.
        let two = Layout::for_content(63_481).unwrap();
        assert_eq!((two.padded_len, two.chunks, two.ciphertext_len), (65_536, 2, 65_568));
        // The largest photo fits the server's 20 MiB blob limit.
        let max = Layout::for_content(MAX_PLAINTEXT_BYTES).unwrap();
        assert_eq!(max.ciphertext_len, 20_452_240);
        assert!(max.ciphertext_len <= MAX_CIPHERTEXT_BYTES);
        assert!(max.ciphertext_len <= 20_971_520);
        assert_eq!(ciphertext_len(MAX_PLAINTEXT_BYTES).unwrap(), max.ciphertext_len);
        assert_eq!(
            Layout::for_content(MAX_PLAINTEXT_BYTES + 1),
            Err(AttachmentError::TooLarge { size: 20_000_001, limit: MAX_PLAINTEXT_BYTES })
        );
        // Sizes never shrink as content grows. Padmé keeps 32 buckets per
        // doubling: 265 distinct blob sizes up to 20 MB (248 seen at this
        // sampling step); multiples of a chunk would give 306, with 64 KiB
        // steps even for 15 MB photos.
        let mut last = 0;
        let mut distinct = 0;
        for len in (0..=MAX_PLAINTEXT_BYTES).step_by(4096) {
            let ct = ciphertext_len(len).unwrap();
            assert!(ct >= last);
            if ct != last {
                distinct += 1;
            }
            last = ct;
        }
        assert_eq!(distinct, 248);
    }

    impl Layout {
        fn with_content_len(mut self, content_len: u64) -> Layout {
            self.content_len = content_len;
            self
        }
    }

    #[test]
    fn test_vector() {
        let key = vector_key();
        let (ct, sha) = encrypt_all_with_key(&key, b"Schlagloch in der Hauptstrasse 12").unwrap();
        assert_eq!(ct.len(), 65_536);
        assert_eq!(
            hex(&ct[..48]),
            "485c7cd9310ab87a7e121643d2737b7d73991f29a0919810371afd495c9eeb79\
             a75f8d79c09e8eb21348eb24a6e3aace"
        );
        assert_eq!(hex(&ct[ct.len() - 16..]), "d3bd4910ad47a77875c667bcc4bd1af5");
        assert_eq!(hex(&sha), "7095fdc4cfd5237dd78cddaeca1656e97aa94c3d26a3db767cd1255dd9730984");
        assert_eq!(sha, blob_sha256(&ct));
    }

    #[test]
    fn round_trips_at_the_edges() {
        for len in [0usize, 1, 63_480, 63_481, 65_512, 65_513, 131_032, 131_033, 300_001] {
            let data = content(len);
            let (ct, key, sha) = encrypt_all(&data).unwrap();
            assert_eq!(ct.len() as u64, ciphertext_len(len as u64).unwrap(), "{len}");
            assert_eq!(sha, blob_sha256(&ct));
            assert_eq!(decrypt_all(&key, &ct).unwrap(), data, "{len}");
            // Every chunk but the last is exactly CHUNK_CIPHER bytes.
            assert!(ct.len() % CHUNK_CIPHER == 0 || ct.len() % CHUNK_CIPHER > TAG_LEN);
        }
    }

    #[test]
    fn tampering_is_refused_coarsely() {
        let data = content(200_000);
        let (ct, key, _) = encrypt_all(&data).unwrap();
        let layout = Layout::for_content(200_000).unwrap();
        assert_eq!(layout.chunks, 4);
        let failed = Err(AttachmentError::DecryptionFailed);

        // Flipped bits anywhere.
        for at in [0, 7, 8, 100, 65_535, 65_536, 150_000, ct.len() - 17, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[at] ^= 0x01;
            assert_eq!(decrypt_all(&key, &bad), failed, "bit at {at}");
        }
        // Wrong key.
        assert_eq!(decrypt_all(&AttachmentKey::generate(), &ct), failed);
        // Truncation: a byte, the last chunk, everything but the first chunk.
        assert_eq!(decrypt_all(&key, &ct[..ct.len() - 1]), failed);
        assert_eq!(decrypt_all(&key, &ct[..3 * CHUNK_CIPHER]), failed);
        assert_eq!(decrypt_all(&key, &ct[..CHUNK_CIPHER]), failed);
        assert_eq!(decrypt_all(&key, &[]), failed);
        // Extension: an extra copy of a chunk appended.
        let mut longer = ct.clone();
        longer.extend_from_slice(&ct[..CHUNK_CIPHER]);
        assert_eq!(decrypt_all(&key, &longer), failed);
        // Reordering: swap chunks 1 and 2.
        let mut swapped = ct.clone();
        swapped[CHUNK_CIPHER..2 * CHUNK_CIPHER]
            .copy_from_slice(&ct[2 * CHUNK_CIPHER..3 * CHUNK_CIPHER]);
        swapped[2 * CHUNK_CIPHER..3 * CHUNK_CIPHER]
            .copy_from_slice(&ct[CHUNK_CIPHER..2 * CHUNK_CIPHER]);
        assert_eq!(decrypt_all(&key, &swapped), failed);
        // A chunk fed twice to the streaming decryptor.
        let mut dec = Decryptor::new(&key, ct.len() as u64).unwrap();
        dec.decrypt_next(&ct[..CHUNK_CIPHER]).unwrap();
        assert_eq!(dec.decrypt_next(&ct[..CHUNK_CIPHER]), failed);
        // ... and it stays refused afterwards.
        assert_eq!(dec.decrypt_next(&ct[CHUNK_CIPHER..2 * CHUNK_CIPHER]), failed);
        // Stopping early is refused by finish.
        let mut dec = Decryptor::new(&key, ct.len() as u64).unwrap();
        dec.decrypt_next(&ct[..CHUNK_CIPHER]).unwrap();
        assert_eq!(dec.finish(), Err(AttachmentError::DecryptionFailed));
        // Too large is refused before anything else.
        assert!(matches!(
            Decryptor::new(&key, MAX_CIPHERTEXT_BYTES + 1),
            Err(AttachmentError::TooLarge { .. })
        ));
        // Impossible lengths.
        for len in [1u64, 16, 65_535, 65_537, 65_552] {
            assert!(Decryptor::new(&key, len).is_err(), "{len}");
        }
    }

    #[test]
    fn a_different_length_header_is_refused() {
        // Same key, two valid ciphertexts of different sizes: splicing the
        // first chunk of a one-chunk blob onto a longer stream fails.
        let key = vector_key();
        let (short, _) = encrypt_all_with_key(&key, &content(10)).unwrap();
        let (long, _) = encrypt_all_with_key(&key, &content(100_000)).unwrap();
        let mut spliced = short.clone();
        spliced.extend_from_slice(&long[CHUNK_CIPHER..]);
        assert_eq!(decrypt_all(&key, &spliced), Err(AttachmentError::DecryptionFailed));
    }

    #[test]
    fn encryptor_misuse_is_an_error_not_a_panic() {
        let key = AttachmentKey::generate();
        let mut enc = Encryptor::new(&key, 10).unwrap();
        assert_eq!(enc.next_content_range(), Some(0..10));
        assert_eq!(enc.encrypt_next(b"short"), Err(AttachmentError::Misuse));
        let chunk = enc.encrypt_next(&[7; 10]).unwrap();
        assert_eq!(chunk.len(), CHUNK_CIPHER);
        assert_eq!(enc.next_content_range(), None);
        assert_eq!(enc.encrypt_next(&[]), Err(AttachmentError::Misuse));
        let unfinished = Encryptor::new(&key, 10).unwrap();
        assert_eq!(unfinished.finish(), Err(AttachmentError::Misuse));
        assert_eq!(AttachmentKey::from_bytes(&[0; 31]), Err(AttachmentError::InvalidKey));
    }

    #[test]
    fn keys_are_not_printed() {
        let key = vector_key();
        assert_eq!(format!("{key:?}"), "AttachmentKey(..)");
        let enc = Encryptor::new(&key, 1).unwrap();
        assert!(!format!("{enc:?}").contains("0, 1, 2"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn streaming_round_trip(len in 0usize..200_000, seed in any::<u8>()) {
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
            let key = AttachmentKey::generate();
            let mut enc = Encryptor::new(&key, len as u64).unwrap();
            let mut chunks = Vec::new();
            while let Some(r) = enc.next_content_range() {
                chunks.push(enc.encrypt_next(&data[r.start as usize..r.end as usize]).unwrap());
            }
            let sha = enc.finish().unwrap();
            let ct = chunks.concat();
            prop_assert_eq!(sha, blob_sha256(&ct));
            prop_assert_eq!(ct.len() as u64, ciphertext_len(len as u64).unwrap());
            for c in &chunks[..chunks.len() - 1] {
                prop_assert_eq!(c.len(), CHUNK_CIPHER);
            }
            let mut dec = Decryptor::new(&key, ct.len() as u64).unwrap();
            let mut out = Vec::new();
            for c in &chunks {
                prop_assert_eq!(dec.next_chunk_len(), Some(c.len()));
                out.extend(dec.decrypt_next(c).unwrap());
            }
            prop_assert_eq!(dec.finish().unwrap(), len as u64);
            prop_assert_eq!(out, data);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..70_000)) {
            let key = vector_key();
            prop_assert!(decrypt_all(&key, &bytes).is_err());
        }
    }
}
