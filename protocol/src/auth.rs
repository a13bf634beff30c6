//! Device identity keys, login challenges and the registration proof-of-work.
//!
//! Every device has an Ed25519 key pair. The public half ([`IdentityKey`]) is
//! registered with the server and is also the device's MLS signature key; the
//! secret half ([`DeviceSecret`]) never leaves the device and never appears in
//! `Debug` output.
//!
//! Authentication is challenge–response: the server sends a random nonce
//! unique to the connection ([`crate::Event::Challenge`]); the client signs a
//! domain-separated message containing it. Because the nonce is fresh per
//! connection and the server accepts one authentication per nonce, a captured
//! signature is useless on any other connection.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ids::DeviceId;

/// Length of a login challenge nonce in bytes.
pub const CHALLENGE_LEN: usize = 32;

const LOGIN_DOMAIN: &[u8] = b"stadtbote-login-v1\0";
const REGISTER_DOMAIN: &[u8] = b"stadtbote-register-v1\0";
const LINK_DOMAIN: &[u8] = b"stadtbote-link-v1\0";
const POW_DOMAIN: &[u8] = b"stadtbote-pow-v1\0";

/// Errors of key handling and verification. Deliberately coarse: a verifier
/// learns only that something did not verify, not which step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A key had the wrong length or is not a valid curve point.
    #[error("invalid key")]
    InvalidKey,
    /// The signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
}

/// A device's public Ed25519 identity key (32 bytes, a CBOR byte string on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey(pub [u8; 32]);

impl IdentityKey {
    /// Verifies `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), AuthError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| AuthError::InvalidKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify(message, &sig).map_err(|_| AuthError::BadSignature)
    }

    /// A short, human-comparable fingerprint: the first 16 bytes of
    /// SHA-256(key) as hex in groups of four, e.g. `3f2a 91c0 …`.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.0)
    }
}

/// The fingerprint format shared by device and organisation keys: the first
/// 16 bytes of SHA-256 over the key, hex, in groups of four characters.
pub fn fingerprint_of(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    crate::ids::grouped(&hex, 4, " ")
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.fingerprint())
    }
}

/// An Ed25519 signature (64 bytes, a CBOR byte string on the wire).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(..)")
    }
}

macro_rules! bytes_serde {
    ($name:ident, $len:expr) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?;
                <[u8; $len]>::try_from(bytes.as_slice()).map(Self).map_err(|_| {
                    serde::de::Error::custom(concat!(stringify!($name), " has the wrong length"))
                })
            }
        }
    };
}
bytes_serde!(IdentityKey, 32);
bytes_serde!(Signature, 64);

/// A device's secret Ed25519 key. Never printed, zeroized on drop.
#[derive(Clone)]
pub struct DeviceSecret(SigningKey);

impl DeviceSecret {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Restores a key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuthError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| AuthError::InvalidKey)?;
        Ok(Self(SigningKey::from_bytes(&arr)))
    }

    /// The 32 secret bytes, for storing in the device's local key file.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public identity key.
    pub fn identity_key(&self) -> IdentityKey {
        IdentityKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceSecret(public: {})", self.identity_key().fingerprint())
    }
}

/// The message a device signs to log in on a connection.
pub fn login_message(nonce: &[u8], device: &DeviceId) -> Vec<u8> {
    [LOGIN_DOMAIN, nonce, device.as_bytes()].concat()
}

/// The message a new device signs to register an account.
pub fn register_message(nonce: &[u8], key: &IdentityKey) -> Vec<u8> {
    [REGISTER_DOMAIN, nonce, &key.0].concat()
}

/// The message a new device signs to join an account with a link code.
pub fn link_message(nonce: &[u8], key: &IdentityKey, code: &str) -> Vec<u8> {
    [LINK_DOMAIN, nonce, &key.0, code.as_bytes()].concat()
}

/// Whether `pow_nonce` solves the registration proof-of-work: SHA-256 over
/// the domain, the challenge nonce, the identity key and `pow_nonce`
/// (8 bytes little-endian) must start with `difficulty` zero bits.
pub fn pow_valid(challenge: &[u8], key: &IdentityKey, pow_nonce: u64, difficulty: u8) -> bool {
    leading_zero_bits(&pow_hash(challenge, key, pow_nonce)) >= u32::from(difficulty)
}

/// Finds a proof-of-work solution by counting up from zero. The expected
/// work is 2^difficulty hashes; difficulties above 64 are treated as 64.
pub fn pow_solve(challenge: &[u8], key: &IdentityKey, difficulty: u8) -> u64 {
    let difficulty = difficulty.min(64);
    let mut nonce = 0u64;
    while !pow_valid(challenge, key, nonce, difficulty) {
        nonce = nonce.wrapping_add(1);
    }
    nonce
}

fn pow_hash(challenge: &[u8], key: &IdentityKey, pow_nonce: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(POW_DOMAIN);
    hasher.update(challenge);
    hasher.update(key.0);
    hasher.update(pow_nonce.to_le_bytes());
    hasher.finalize().into()
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in bytes {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_signature_is_bound_to_nonce_and_device() {
        let secret = DeviceSecret::generate();
        let key = secret.identity_key();
        let device = DeviceId([1; 16]);
        let sig = secret.sign(&login_message(&[9; 32], &device));
        assert!(key.verify(&login_message(&[9; 32], &device), &sig).is_ok());
        assert_eq!(
            key.verify(&login_message(&[8; 32], &device), &sig),
            Err(AuthError::BadSignature)
        );
        assert!(key.verify(&login_message(&[9; 32], &DeviceId([2; 16])), &sig).is_err());
    }

    #[test]
    fn pow_solution_verifies_and_difficulty_zero_is_free() {
        let key = DeviceSecret::generate().identity_key();
        let n = pow_solve(&[1; 32], &key, 10);
        assert!(pow_valid(&[1; 32], &key, n, 10));
        assert!(pow_valid(&[1; 32], &key, 12345, 0));
    }

    #[test]
    fn debug_never_shows_secret_bytes() {
        let secret = DeviceSecret::from_bytes(&[0x41; 32]).unwrap();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("41, 41") && !shown.contains("4141"));
    }

    #[test]
    fn fingerprint_vector() {
        // SHA-256 of 32 zero bytes starts 66687aadf862bd776c8fc18b8e9f8e20.
        assert_eq!(fingerprint_of(&[0; 32]), "6668 7aad f862 bd77 6c8f c18b 8e9f 8e20");
    }
}
