//! The plaintext of every push: `{"v":1,"n":"<nonce>"}`, where the nonce
//! is 16 random bytes in unpadded base64url (22 characters). Always 36
//! bytes, so always the same ciphertext size (230 bytes with `ece`'s
//! padding to 128 bytes). It names no sender, conversation, org or text:
//! it only wakes the service worker, which fetches the mailbox itself.

use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;

/// Length of every payload.
pub const LEN: usize = 36;

/// A fresh payload.
pub fn new() -> Vec<u8> {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    format!(r#"{{"v":1,"n":"{}"}}"#, BASE64URL_NOPAD.encode(&nonce)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_one_size_and_only_a_nonce() {
        let a = new();
        let b = new();
        assert_eq!((a.len(), b.len()), (LEN, LEN));
        assert_ne!(a, b);
        let value: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 2);
        assert_eq!(value["v"], 1);
        assert_eq!(value["n"].as_str().unwrap().len(), 22);
    }
}
