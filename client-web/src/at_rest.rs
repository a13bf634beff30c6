//! Encryption at rest for IndexedDB: every stored value is sealed with
//! AES-256-GCM under a WebCrypto key that is generated non-extractable,
//! once per device database, and kept in the database itself (a `CryptoKey`
//! is structured-cloneable). Its bytes never exist in JavaScript or wasm
//! memory: the browser performs the encryption. This is key wrapping at
//! rest with the browser's maintained primitive, not new cryptography; the
//! composition (random 96-bit nonce per value, key id, associated data
//! binding the value to its location) is [`crate::layout`]'s and
//! docs/PROTOCOL.md's.
//!
//! What it protects against: a script injected into the page cannot take
//! the key away as bytes (it can only decrypt while it runs in the page),
//! and files or fragments of the profile without the key hold only
//! ciphertext. What it does not: the browser serialises the key's material
//! into the same IndexedDB files (non-extractable is an API restriction), so
//! someone with the whole profile is stopped only by the operating system's
//! protection of it; nor a script running in the origin while the app is
//! open, nor malware controlling the browser. See docs/PRIVACY.md.

use js_sys::{Array, Object, Reflect};
use stadtbote_client::storage::StorageError;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Crypto, CryptoKey, SubtleCrypto};

use crate::js;
use crate::layout::{self, Kind, NONCE_LEN};

/// The id of the key generated for a new database. Stored in every
/// envelope, so that a later rotation can tell keys apart.
pub const FIRST_KEY_ID: u32 = 1;

fn unavailable(action: &str, error: &JsValue) -> StorageError {
    StorageError::Unavailable { reason: format!("{action}: {}", js::describe(error)) }
}

/// The browser's crypto objects of the current scope.
fn crypto() -> Result<(Crypto, SubtleCrypto), StorageError> {
    let scope = js::scope()
        .ok_or(StorageError::Unavailable { reason: "no window or worker scope".into() })?;
    let crypto = scope.crypto().map_err(|e| unavailable("window.crypto", &e))?;
    // `crypto.subtle` is undefined outside a secure context (https or
    // loopback): say so rather than fail later with a TypeError.
    let subtle = Reflect::get(&crypto, &"subtle".into())
        .ok()
        .and_then(|s| s.dyn_into::<SubtleCrypto>().ok())
        .ok_or(StorageError::Unavailable {
            reason: "WebCrypto is not available (the page is not a secure context)".into(),
        })?;
    Ok((crypto, subtle))
}

fn set(object: &Object, name: &str, value: &JsValue) -> Result<(), StorageError> {
    Reflect::set(object, &name.into(), value)
        .map(|_| ())
        .map_err(|e| unavailable("building a WebCrypto argument", &e))
}

/// Generates a new non-extractable AES-256-GCM key for encrypt and decrypt.
pub async fn generate_key() -> Result<CryptoKey, StorageError> {
    let (_, subtle) = crypto()?;
    let algorithm = Object::new();
    set(&algorithm, "name", &"AES-GCM".into())?;
    set(&algorithm, "length", &256.into())?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle
        .generate_key_with_object(&algorithm, false, &usages)
        .map_err(|e| unavailable("generating the storage key", &e))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| unavailable("generating the storage key", &e))?
        .dyn_into::<CryptoKey>()
        .map_err(|_| StorageError::Unavailable { reason: "generateKey returned no key".into() })
}

/// The key that seals a device database's values.
#[derive(Clone)]
pub struct AtRestKey {
    id: u32,
    key: CryptoKey,
    crypto: Crypto,
    subtle: SubtleCrypto,
}

impl std::fmt::Debug for AtRestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtRestKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl AtRestKey {
    /// Uses `key` (loaded from the database) as key number `id`.
    pub fn new(id: u32, key: CryptoKey) -> Result<Self, StorageError> {
        let (crypto, subtle) = crypto()?;
        Ok(Self { id, key, crypto, subtle })
    }

    /// Its id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The WebCrypto key (non-extractable).
    pub fn crypto_key(&self) -> &CryptoKey {
        &self.key
    }

    fn algorithm(&self, nonce: &[u8], aad: &[u8]) -> Result<Object, StorageError> {
        let algorithm = Object::new();
        set(&algorithm, "name", &"AES-GCM".into())?;
        set(&algorithm, "iv", &js::bytes(nonce))?;
        set(&algorithm, "additionalData", &js::bytes(aad))?;
        set(&algorithm, "tagLength", &128.into())?;
        Ok(algorithm)
    }

    /// Seals `plaintext` for `location` with a fresh random nonce.
    pub async fn seal(
        &self,
        kind: Kind,
        location: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.crypto
            .get_random_values_with_u8_array(&mut nonce)
            .map_err(|e| unavailable("getRandomValues", &e))?;
        self.seal_with_nonce(kind, location, plaintext, &nonce).await
    }

    /// Seals with a given nonce: only [`AtRestKey::seal`] and the test
    /// vector use it (a nonce must never repeat under one key).
    pub(crate) async fn seal_with_nonce(
        &self,
        kind: Kind,
        location: &[u8],
        plaintext: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Vec<u8>, StorageError> {
        let aad = layout::aad(kind, self.id, location);
        let algorithm = self.algorithm(nonce, &aad)?;
        let promise = self
            .subtle
            .encrypt_with_object_and_buffer_source(&algorithm, &self.key, &js::bytes(plaintext))
            .map_err(|e| unavailable("encrypting a stored value", &e))?;
        let sealed = JsFuture::from(promise)
            .await
            .map_err(|e| unavailable("encrypting a stored value", &e))?;
        let sealed = js::to_bytes(&sealed)
            .ok_or(StorageError::Unavailable { reason: "encrypt returned no bytes".into() })?;
        Ok(layout::envelope(self.id, nonce, &sealed))
    }

    /// Opens a value stored at `location`. A value that fails to decrypt
    /// (damaged, moved to another key, sealed under another key) is
    /// [`StorageError::Corrupt`].
    pub async fn open(
        &self,
        kind: Kind,
        location: &[u8],
        stored: &[u8],
    ) -> Result<Vec<u8>, StorageError> {
        let what = match kind {
            Kind::Record => "record",
            Kind::Chunk => "chunk",
        };
        let opened = layout::split_envelope(stored)
            .ok_or_else(|| StorageError::Corrupt { what: format!("{what} envelope") })?;
        if opened.key_id != self.id {
            return Err(StorageError::Corrupt {
                what: format!("{what} sealed under unknown key {}", opened.key_id),
            });
        }
        let aad = layout::aad(kind, self.id, location);
        let algorithm = self.algorithm(opened.nonce, &aad)?;
        let promise = self
            .subtle
            .decrypt_with_object_and_buffer_source(&algorithm, &self.key, &js::bytes(opened.sealed))
            .map_err(|e| unavailable("decrypting a stored value", &e))?;
        match JsFuture::from(promise).await {
            Ok(plain) => js::to_bytes(&plain)
                .ok_or(StorageError::Unavailable { reason: "decrypt returned no bytes".into() }),
            // OperationError: the tag did not verify.
            Err(e) if js::error_name(&e).as_deref() == Some("OperationError") => {
                Err(StorageError::Corrupt { what: format!("{what} does not authenticate") })
            }
            Err(e) => Err(unavailable("decrypting a stored value", &e)),
        }
    }
}

/// Imports raw key bytes as a non-extractable AES-GCM key (for the test
/// vector only: real keys are generated by the browser and never exist as
/// bytes).
#[cfg(test)]
pub(crate) async fn import_raw_for_test(raw: &[u8]) -> Result<CryptoKey, StorageError> {
    let (_, subtle) = crypto()?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle
        .import_key_with_str("raw", &js_sys::Uint8Array::from(raw), "AES-GCM", false, &usages)
        .map_err(|e| unavailable("importKey", &e))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| unavailable("importKey", &e))?
        .dyn_into::<CryptoKey>()
        .map_err(|_| StorageError::Unavailable { reason: "importKey returned no key".into() })
}

#[cfg(test)]
mod tests {
    use stadtbote_client::storage::Space;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::layout::record_key;

    /// The test vector of docs/PROTOCOL.md ("Browser storage at rest"):
    /// key 00 01 … 1f, nonce 0x0a × 12, record "k" in space "history",
    /// value "Hallo Rathaus".
    pub(crate) const VECTOR: &str = "0100000001\
0a0a0a0a0a0a0a0a0a0a0a0a\
e14333fca50e259344eeb9d01e683feb2d24f1985ef9a311c7d6176b7a";

    #[wasm_bindgen_test]
    async fn the_composition_matches_its_test_vector() {
        let raw: Vec<u8> = (0u8..32).collect();
        let key = AtRestKey::new(1, import_raw_for_test(&raw).await.unwrap()).unwrap();
        let location = record_key(Space::History, b"k");
        let sealed = key
            .seal_with_nonce(Kind::Record, &location, b"Hallo Rathaus", &[0x0a; 12])
            .await
            .unwrap();
        let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, VECTOR);
        assert_eq!(key.open(Kind::Record, &location, &sealed).await.unwrap(), b"Hallo Rathaus");
        // Moved to another key or space, or flipped: no longer opens.
        let elsewhere = record_key(Space::Outbox, b"k");
        assert!(matches!(
            key.open(Kind::Record, &elsewhere, &sealed).await,
            Err(StorageError::Corrupt { .. })
        ));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            key.open(Kind::Record, &location, &flipped).await,
            Err(StorageError::Corrupt { .. })
        ));
    }
}
