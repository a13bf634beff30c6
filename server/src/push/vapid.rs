//! The server's VAPID identity (RFC 8292): a P-256 key pair, generated on
//! first start and kept in the database (so it survives restarts and is
//! in every backup: subscriptions made with it keep working after a
//! restore), and the signed token each push request carries.
//!
//! The token is a JWT signed with ES256 (ECDSA P-256 with SHA-256, by the
//! `p256` crate): `{"typ":"JWT","alg":"ES256"}` and the claims `aud` (the
//! push service's origin), `exp` (at most 24 hours ahead) and `sub` (the
//! operator's `push_contact`). The secret scalar never leaves this module
//! in any `Debug` output or log.

use data_encoding::BASE64URL_NOPAD;
use p256::SecretKey;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::Zeroizing;

/// How long a token is valid: RFC 8292 allows at most 24 hours.
pub const TOKEN_LIFETIME_SECS: u64 = 12 * 3600;

/// The server's VAPID key pair.
pub struct VapidKey {
    signing: SigningKey,
    public: [u8; 65],
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey").finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A new random secret scalar (32 bytes), for the first start.
    pub fn generate_secret() -> Zeroizing<[u8; 32]> {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        Zeroizing::new(secret.to_bytes().into())
    }

    /// The key pair of a stored secret; `None` if it is not a valid scalar.
    pub fn from_secret(bytes: &[u8]) -> Option<Self> {
        let secret = SecretKey::from_slice(bytes).ok()?;
        let point = secret.public_key().to_encoded_point(false);
        let public = <[u8; 65]>::try_from(point.as_bytes()).ok()?;
        Some(Self { signing: SigningKey::from(secret), public })
    }

    /// The public key, uncompressed (65 bytes): what browsers take as
    /// `applicationServerKey` and push services compare the token's `k` with.
    pub fn public_key(&self) -> &[u8; 65] {
        &self.public
    }

    /// The `Authorization` header value for a request to `audience` (an
    /// origin): `vapid t=<JWT>, k=<public key>`.
    pub fn authorization(&self, audience: &str, contact: &str, now_secs: u64) -> String {
        let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now_secs.saturating_add(TOKEN_LIFETIME_SECS),
            "sub": contact,
        });
        let claims = BASE64URL_NOPAD.encode(claims.to_string().as_bytes());
        let input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(input.as_bytes());
        let signature = BASE64URL_NOPAD.encode(&signature.to_bytes());
        let key = BASE64URL_NOPAD.encode(&self.public);
        format!("vapid t={input}.{signature}, k={key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn the_token_verifies_with_the_published_key_and_names_audience_and_contact() {
        let secret = VapidKey::generate_secret();
        let key = VapidKey::from_secret(secret.as_ref()).unwrap();
        let value = key.authorization("https://push.example", "mailto:it@example.org", 1000);
        let (token, k) = value.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(BASE64URL_NOPAD.decode(k.as_bytes()).unwrap(), key.public_key());
        let (input, signature) = token.rsplit_once('.').unwrap();
        let verifying = VerifyingKey::from_sec1_bytes(key.public_key()).unwrap();
        let signature =
            Signature::from_slice(&BASE64URL_NOPAD.decode(signature.as_bytes()).unwrap()).unwrap();
        verifying.verify(input.as_bytes(), &signature).unwrap();
        let claims = input.split_once('.').unwrap().1;
        let claims: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(claims.as_bytes()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example");
        assert_eq!(claims["sub"], "mailto:it@example.org");
        assert_eq!(claims["exp"], 1000 + TOKEN_LIFETIME_SECS);
        // The same secret gives the same public key (restart).
        let again = VapidKey::from_secret(secret.as_ref()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(VapidKey::from_secret(&[0u8; 32]).is_none());
        assert!(!format!("{key:?}").contains(&format!("{:?}", &secret[..4])));
    }
}
