//! Time-based one-time passwords (RFC 6238) for the second factor of server
//! and org admins: computing and verifying codes, and the `otpauth://` URI
//! that authenticator apps import.
//!
//! Parameters are fixed to what every authenticator app supports: HMAC-SHA-1,
//! six digits, 30-second steps. The implementation uses the RustCrypto `hmac`
//! and `sha1` crates directly rather than `totp-rs`: verification here must
//! return the matched time step (the server stores it and refuses any step
//! not newer, which is what makes a code single-use), and `totp-rs` only
//! answers yes or no. The comparison runs over every step of the window in
//! constant time, so timing reveals neither the right code nor its step.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a generated secret (160 bits, as RFC 4226 recommends for SHA-1).
pub const SECRET_LEN: usize = 20;
/// Shortest secret accepted from a client (128 bits, RFC 4226 minimum).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret accepted from a client.
pub const MAX_SECRET_LEN: usize = 64;
/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "Stadtbote";

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// Not six ASCII digits.
    #[error("the code must be six digits")]
    Malformed,
    /// No step inside the window has this code.
    #[error("wrong code")]
    Wrong,
    /// The code is valid but its step was already used.
    #[error("code already used")]
    Replayed,
    /// The code is valid but older than the last code used (a later code,
    /// e.g. the next one, was accepted first); it was never used itself.
    #[error("code older than the last one used")]
    Superseded,
}

/// A TOTP secret. Its bytes are wiped on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A fresh random secret of [`SECRET_LEN`] bytes.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// Parses the base32 form users copy from `admin claim` output (spaces
    /// and lower case tolerated).
    pub fn from_base32(text: &str) -> Option<Self> {
        let clean: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        BASE32_NOPAD.decode(clean.as_bytes()).ok().map(|bytes| Self(Zeroizing::new(bytes)))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The base32 form (no padding), as authenticator apps expect it.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }
}

/// The time step containing `unix_secs`.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The HOTP value (RFC 4226) of `secret` at `counter`, with `digits` digits.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The six-digit code of `secret` for time step `step`.
pub fn code_for_step(secret: &Secret, step: u64) -> String {
    format!("{:06}", hotp(secret.as_bytes(), step, DIGITS))
}

/// The six-digit code of `secret` at `unix_secs`.
pub fn code_at(secret: &Secret, unix_secs: u64) -> String {
    code_for_step(secret, step_at(unix_secs))
}

/// Checks `code` against every step within `skew_steps` of `now_secs` and
/// returns the matched step. A match at the step `last_used` is refused as
/// [`TotpError::Replayed`] and one at an earlier step as
/// [`TotpError::Superseded`]: each code is accepted once, and never an
/// older one after a newer one.
pub fn verify(
    secret: &Secret,
    code: &str,
    now_secs: u64,
    skew_steps: u64,
    last_used: Option<u64>,
) -> Result<u64, TotpError> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let now = step_at(now_secs);
    let mut matched: Option<u64> = None;
    // Every step of the window is computed and compared, with no early
    // exit, so the time taken does not depend on which step matches.
    for step in now.saturating_sub(skew_steps)..=now.saturating_add(skew_steps) {
        let expected = code_for_step(secret, step);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            // Prefer the newest matching step (two steps sharing a code is
            // a one-in-a-million coincidence).
            matched = Some(step);
        }
    }
    match (matched, last_used) {
        (None, _) => Err(TotpError::Wrong),
        (Some(step), Some(last)) if step == last => Err(TotpError::Replayed),
        (Some(step), Some(last)) if step < last => Err(TotpError::Superseded),
        (Some(step), _) => Ok(step),
    }
}

/// Percent-encodes a URI path or query component (RFC 3986 unreserved
/// characters stay as they are).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI that authenticator apps import (as text or QR code).
pub fn otpauth_uri(secret: &Secret, label: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(label),
        secret.to_base32(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The RFC 6238 appendix B SHA-1 seed.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        // (time, eight-digit TOTP) from RFC 6238 appendix B.
        let vectors = [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        let secret = Secret::from_bytes(RFC_SEED);
        for (time, expected) in vectors {
            assert_eq!(hotp(RFC_SEED, step_at(time), 8), expected, "t = {time}");
            // Six digits are the last six of the eight.
            assert_eq!(code_at(&secret, time), format!("{:06}", expected % 1_000_000));
        }
    }

    #[test]
    fn verify_window_and_replay() {
        let secret = Secret::from_bytes(RFC_SEED);
        let now = 1_234_567_890;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, 1, None).unwrap();
        assert_eq!(step, step_at(now));
        assert_eq!(verify(&secret, &code, now, 1, Some(step)), Err(TotpError::Replayed));
        assert_eq!(verify(&secret, &code, now, 1, Some(step + 3)), Err(TotpError::Superseded));
        // One step of skew either way is accepted, two are not.
        let early = code_at(&secret, now - STEP_SECS);
        assert!(verify(&secret, &early, now, 1, None).is_ok());
        let old = code_at(&secret, now - 2 * STEP_SECS);
        assert_eq!(verify(&secret, &old, now, 1, None), Err(TotpError::Wrong));
        assert!(verify(&secret, &old, now, 2, None).is_ok());
        assert_eq!(verify(&secret, "12345", now, 1, None), Err(TotpError::Malformed));
        assert_eq!(verify(&secret, "abcdef", now, 1, None), Err(TotpError::Malformed));
    }

    #[test]
    fn uri_and_base32() {
        let secret = Secret::from_bytes(RFC_SEED);
        let uri = otpauth_uri(&secret, "admin@relay.example");
        assert_eq!(
            uri,
            "otpauth://totp/Stadtbote:admin%40relay.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Stadtbote&algorithm=SHA1&digits=6&period=30"
        );
        let parsed = Secret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(parsed.as_bytes(), RFC_SEED);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(Secret::generate().as_bytes().len(), SECRET_LEN);
    }
}
