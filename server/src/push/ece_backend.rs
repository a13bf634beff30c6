//! The cryptography behind the `ece` crate's RFC 8291 encryption, from the
//! RustCrypto crates the workspace already uses (`p256` for ECDH, `hkdf`
//! with `sha2`, `aes-gcm`), so that the server links no OpenSSL. `ece`
//! does the composition (key derivation, records, padding); this module
//! only hands it the primitives, and is checked with the RFC's own test
//! vector.

use std::any::Any;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use ece::crypto::{Cryptographer, EcKeyComponents, LocalKeyPair, RemotePublicKey};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use sha2::Sha256;

/// `ece`'s error for a failing primitive.
fn crypto_error() -> ece::Error {
    ece::Error::CryptoError
}

struct Remote(PublicKey);

impl RemotePublicKey for Remote {
    fn as_raw(&self) -> ece::Result<Vec<u8>> {
        Ok(self.0.to_encoded_point(false).as_bytes().to_vec())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Local(SecretKey);

impl LocalKeyPair for Local {
    fn pub_as_raw(&self) -> ece::Result<Vec<u8>> {
        Ok(self.0.public_key().to_encoded_point(false).as_bytes().to_vec())
    }
    fn raw_components(&self) -> ece::Result<EcKeyComponents> {
        Ok(EcKeyComponents::new(self.0.to_bytes().to_vec(), self.pub_as_raw()?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// [`Cryptographer`] over RustCrypto.
pub struct RustCrypto;

impl Cryptographer for RustCrypto {
    fn generate_ephemeral_keypair(&self) -> ece::Result<Box<dyn LocalKeyPair>> {
        Ok(Box::new(Local(SecretKey::random(&mut rand::rngs::OsRng))))
    }

    fn import_key_pair(&self, components: &EcKeyComponents) -> ece::Result<Box<dyn LocalKeyPair>> {
        let secret = SecretKey::from_slice(components.private_key()).map_err(|_| crypto_error())?;
        Ok(Box::new(Local(secret)))
    }

    fn import_public_key(&self, raw: &[u8]) -> ece::Result<Box<dyn RemotePublicKey>> {
        // Refuses points that are not on the curve (and the identity).
        let key = PublicKey::from_sec1_bytes(raw).map_err(|_| crypto_error())?;
        Ok(Box::new(Remote(key)))
    }

    fn compute_ecdh_secret(
        &self,
        remote: &dyn RemotePublicKey,
        local: &dyn LocalKeyPair,
    ) -> ece::Result<Vec<u8>> {
        let remote = remote.as_any().downcast_ref::<Remote>().ok_or_else(crypto_error)?;
        let local = local.as_any().downcast_ref::<Local>().ok_or_else(crypto_error)?;
        let shared = p256::ecdh::diffie_hellman(local.0.to_nonzero_scalar(), remote.0.as_affine());
        Ok(shared.raw_secret_bytes().to_vec())
    }

    fn hkdf_sha256(
        &self,
        salt: &[u8],
        secret: &[u8],
        info: &[u8],
        len: usize,
    ) -> ece::Result<Vec<u8>> {
        let mut okm = vec![0u8; len];
        Hkdf::<Sha256>::new(Some(salt), secret)
            .expand(info, &mut okm)
            .map_err(|_| crypto_error())?;
        Ok(okm)
    }

    fn aes_gcm_128_encrypt(&self, key: &[u8], iv: &[u8], data: &[u8]) -> ece::Result<Vec<u8>> {
        if iv.len() != 12 {
            return Err(crypto_error());
        }
        let cipher = Aes128Gcm::new_from_slice(key).map_err(|_| crypto_error())?;
        // Ciphertext followed by the 16-byte tag, as `ece` expects.
        cipher.encrypt(Nonce::from_slice(iv), data).map_err(|_| crypto_error())
    }

    fn aes_gcm_128_decrypt(
        &self,
        key: &[u8],
        iv: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> ece::Result<Vec<u8>> {
        if iv.len() != 12 {
            return Err(crypto_error());
        }
        let cipher = Aes128Gcm::new_from_slice(key).map_err(|_| crypto_error())?;
        cipher.decrypt(Nonce::from_slice(iv), ciphertext_and_tag).map_err(|_| crypto_error())
    }

    fn random_bytes(&self, dest: &mut [u8]) -> ece::Result<()> {
        rand::rngs::OsRng.fill_bytes(dest);
        Ok(())
    }
}

static BACKEND: RustCrypto = RustCrypto;

/// Installs the backend for `ece` (once per process; `ece` panics on use
/// without one, so every encryption goes through [`encrypt`]).
fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a backend is already set, which is then this one.
        let _ = ece::crypto::set_cryptographer(&BACKEND);
    });
}

/// RFC 8291 (aes128gcm) encryption of `plaintext` to a subscription's
/// `p256dh` key and `auth` secret, with a fresh sender key and salt.
pub fn encrypt(p256dh: &[u8], auth: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ece::Error> {
    install();
    ece::encrypt(p256dh, auth, plaintext)
}

/// Whether `p256dh` is a valid uncompressed P-256 public key.
pub fn valid_public_key(p256dh: &[u8]) -> bool {
    p256dh.len() == 65 && p256dh[0] == 4 && PublicKey::from_sec1_bytes(p256dh).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ece`'s own check of a backend: RFC 8291's example encryption and
    /// decryption, byte for byte.
    #[test]
    fn passes_eces_backend_test_with_the_rfc_vector() {
        ece::crypto::test_cryptographer(RustCrypto);
    }

    #[test]
    fn encryption_round_trips_and_has_a_constant_size() {
        let receiver = SecretKey::random(&mut rand::rngs::OsRng);
        let public = receiver.public_key().to_encoded_point(false).as_bytes().to_vec();
        let auth = [7u8; 16];
        let a = encrypt(&public, &auth, b"same size").unwrap();
        let b = encrypt(&public, &auth, b"size same").unwrap();
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        install();
        let components = EcKeyComponents::new(receiver.to_bytes().to_vec(), public.clone());
        assert_eq!(ece::decrypt(&components, &auth, &a).unwrap(), b"same size");
        assert!(valid_public_key(&public));
        let mut off_curve = public.clone();
        off_curve[64] ^= 1;
        assert!(!valid_public_key(&off_curve));
        assert!(encrypt(&off_curve, &auth, b"x").is_err());
    }
}
