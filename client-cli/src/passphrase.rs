//! Passphrases and the encrypted org-key export file.
//!
//! The org key must be able to move to a new device (a new laptop in the
//! town hall, a backup in the safe) without ever existing unencrypted outside
//! a `--home`. `stadtbote org export-key` therefore seals it under a
//! passphrase:
//!
//! * key derivation: Argon2id (RFC 9106) with a fresh 16-byte salt and the
//!   cost parameters stored in the file (64 MiB, 3 passes, 1 lane by
//!   default — the file says which, so they can grow later);
//! * encryption: ChaCha20-Poly1305 with a fresh 12-byte nonce; the header
//!   (magic, format version, cost parameters, salt) is the associated data,
//!   so tampering with the parameters fails like a wrong passphrase.
//!
//! A wrong passphrase and a damaged file are indistinguishable by design
//! ([`CliError::WrongPassphrase`]).
//!
//! The passphrase comes from `STADTBOTE_PASSPHRASE` (scripts, tests) or is
//! read from the terminal without echo; it is never logged and is zeroized
//! after use.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use zeroize::Zeroizing;

use std::path::Path;

use crate::error::CliError;

/// Environment variable that supplies the passphrase non-interactively.
pub const PASSPHRASE_ENV: &str = "STADTBOTE_PASSPHRASE";

/// First bytes of every export file.
const MAGIC: &str = "stadtbote-org-key-export";
/// Version of the export format.
const EXPORT_VERSION: u16 = 1;

/// Argon2id cost: memory in KiB.
pub const DEFAULT_M_COST: u32 = 64 * 1024;
/// Argon2id cost: passes.
pub const DEFAULT_T_COST: u32 = 3;
/// Argon2id cost: lanes.
pub const DEFAULT_P_COST: u32 = 1;
/// Upper bounds accepted when reading a file, so that a crafted file cannot
/// make the importer allocate gigabytes or spin for hours.
const MAX_M_COST: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 20;
const MAX_P_COST: u32 = 8;

/// The cost parameters of Argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams { m_cost: DEFAULT_M_COST, t_cost: DEFAULT_T_COST, p_cost: DEFAULT_P_COST }
    }
}

/// The file as stored: a header in the clear and the sealed content.
#[derive(Serialize, Deserialize)]
struct ExportFile {
    magic: String,
    v: u16,
    kdf: KdfParams,
    salt: ByteBuf,
    nonce: ByteBuf,
    ciphertext: ByteBuf,
}

/// The associated data: everything in the header.
fn header_aad(v: u16, kdf: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(MAGIC.as_bytes());
    aad.extend_from_slice(&v.to_be_bytes());
    aad.extend_from_slice(&kdf.m_cost.to_be_bytes());
    aad.extend_from_slice(&kdf.t_cost.to_be_bytes());
    aad.extend_from_slice(&kdf.p_cost.to_be_bytes());
    aad.extend_from_slice(salt);
    aad
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    kdf: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, CliError> {
    let params = Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|_| CliError::WrongPassphrase)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut_slice())
        .map_err(|_| CliError::WrongPassphrase)?;
    Ok(key)
}

/// Seals `plaintext` under `passphrase` with the given cost.
pub fn seal(plaintext: &[u8], passphrase: &str, kdf: KdfParams) -> Result<Vec<u8>, CliError> {
    if passphrase.is_empty() {
        return Err(CliError::EmptyPassphrase);
    }
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt, &kdf)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    let aad = header_aad(EXPORT_VERSION, &kdf, &salt);
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| CliError::WrongPassphrase)?;
    let file = ExportFile {
        magic: MAGIC.into(),
        v: EXPORT_VERSION,
        kdf,
        salt: ByteBuf::from(salt.to_vec()),
        nonce: ByteBuf::from(nonce.to_vec()),
        ciphertext: ByteBuf::from(ciphertext),
    };
    Ok(stadtbote_protocol::frame::encode(&file))
}

/// Opens a file made by [`seal`]. A file that is not an export file at all
/// is [`CliError::Core(stadtbote_client::ClientError::NotAnExportFile)`]; a wrong passphrase or a damaged file
/// is [`CliError::WrongPassphrase`].
pub fn open(bytes: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let file: ExportFile = ciborium::from_reader(bytes)
        .map_err(|_| CliError::Core(stadtbote_client::ClientError::NotAnExportFile))?;
    if file.magic != MAGIC {
        return Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile));
    }
    if file.v != EXPORT_VERSION {
        return Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile));
    }
    let kdf = file.kdf;
    if kdf.m_cost > MAX_M_COST || kdf.t_cost > MAX_T_COST || kdf.p_cost > MAX_P_COST {
        return Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile));
    }
    if file.nonce.len() != 12 || file.salt.len() < 8 {
        return Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile));
    }
    let key = derive_key(passphrase, &file.salt, &kdf)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    let aad = header_aad(file.v, &kdf, &file.salt);
    cipher
        .decrypt(Nonce::from_slice(&file.nonce), Payload { msg: &file.ciphertext, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| CliError::WrongPassphrase)
}

/// Reads the passphrase: from [`PASSPHRASE_ENV`] if set, otherwise from the
/// terminal (asked twice when `confirm`). Empty passphrases are refused.
pub fn read_passphrase(confirm: bool) -> Result<Zeroizing<String>, CliError> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        let value = Zeroizing::new(value);
        if value.is_empty() {
            return Err(CliError::EmptyPassphrase);
        }
        return Ok(value);
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .map_err(|_| CliError::NoPassphrase { env: PASSPHRASE_ENV })
    };
    let first = prompt(&format!("{} ", stadtbote_i18n::tr!("prompt-passphrase")))?;
    if first.is_empty() {
        return Err(CliError::EmptyPassphrase);
    }
    if confirm {
        let second = prompt(&format!("{} ", stadtbote_i18n::tr!("prompt-passphrase-repeat")))?;
        if *second != *first {
            return Err(CliError::PassphraseMismatch);
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters: the construction is what is tested, not the cost.
    const FAST: KdfParams = KdfParams { m_cost: 64, t_cost: 1, p_cost: 1 };

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let sealed = seal(b"org key bytes", "Rathaus 1871!", FAST).unwrap();
        assert_eq!(open(&sealed, "Rathaus 1871!").unwrap().as_slice(), b"org key bytes");
        assert!(matches!(open(&sealed, "rathaus 1871!"), Err(CliError::WrongPassphrase)));
        assert!(!sealed.windows(13).any(|w| w == b"org key bytes"), "plaintext not visible");
    }

    #[test]
    fn the_default_cost_round_trips() {
        let sealed = seal(b"x", "pw", KdfParams::default()).unwrap();
        assert_eq!(open(&sealed, "pw").unwrap().as_slice(), b"x");
    }

    #[test]
    fn empty_passphrase_is_refused() {
        assert!(matches!(seal(b"x", "", FAST), Err(CliError::EmptyPassphrase)));
    }

    #[test]
    fn tampered_header_or_body_fails_like_a_wrong_passphrase() {
        let sealed = seal(b"secret", "pw", FAST).unwrap();
        let mut file: ExportFile = ciborium::from_reader(sealed.as_slice()).unwrap();
        file.kdf.t_cost = 2;
        let tampered = stadtbote_protocol::frame::encode(&file);
        assert!(matches!(open(&tampered, "pw"), Err(CliError::WrongPassphrase)));

        let mut file: ExportFile = ciborium::from_reader(sealed.as_slice()).unwrap();
        let last = file.ciphertext.len() - 1;
        file.ciphertext[last] ^= 1;
        let tampered = stadtbote_protocol::frame::encode(&file);
        assert!(matches!(open(&tampered, "pw"), Err(CliError::WrongPassphrase)));
    }

    #[test]
    fn garbage_and_excessive_cost_are_not_export_files() {
        assert!(matches!(
            open(b"hello", "pw"),
            Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile))
        ));
        let sealed = seal(b"secret", "pw", FAST).unwrap();
        let mut file: ExportFile = ciborium::from_reader(sealed.as_slice()).unwrap();
        file.kdf.m_cost = u32::MAX;
        let crafted = stadtbote_protocol::frame::encode(&file);
        assert!(matches!(
            open(&crafted, "pw"),
            Err(CliError::Core(stadtbote_client::ClientError::NotAnExportFile))
        ));
    }
}

/// Writes a file outside the home with mode 0600, replacing it atomically
/// (the sealed export of `org export-key`).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let io = |action: &'static str| {
        let file = path.to_path_buf();
        move |source| CliError::Io { action, file, source }
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io("write"))?;
    file.write_all(bytes).map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("replace"))
}

#[cfg(test)]
mod private_file_tests {
    use super::write_private_file;

    #[test]
    fn export_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.export");
        write_private_file(&path, b"sealed").unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"sealed");
    }
}
