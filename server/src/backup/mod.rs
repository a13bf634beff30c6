//! Backups of the server's whole state and their restore.
//!
//! This module owns the backup file: its format ([`format`]), taking one
//! from a running server's store and data directory ([`create`]), optional
//! age encryption to operator keys, and verifying and restoring a file
//! offline ([`restore`]). The relay side (the write gate, staging and the
//! chunked download) lives in `relay::backup`.
//!
//! A backup holds every sled tree (exported generically) and every regular
//! file of the data directory that is server state (attachments, per-account
//! keys), but not the sled directory itself, the staging directory, lock
//! files, unfinished uploads or the admin claim code.

pub mod create;
pub mod format;
#[cfg(test)]
mod old_format_tests;
pub mod restore;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

pub use format::Manifest;

use crate::store::StoreError;

/// First bytes of an age-encrypted file (the binary, not armored, format).
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// First line of an ASCII-armored age file (`age -a`, `rage -a`).
const AGE_ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// Largest identity file read (an identity file is a few hundred bytes).
const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// Why a backup could not be written, read, verified or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading or writing a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The file does not start like a Stadtbote backup.
    #[error("not a Stadtbote backup (wrong magic bytes)")]
    NotABackup,
    /// The file was written by a newer format version.
    #[error("unsupported backup format version {0}")]
    UnsupportedVersion(u16),
    /// The file ends too early.
    #[error("the backup is truncated")]
    Truncated,
    /// A record is malformed or exceeds a limit.
    #[error("the backup is corrupt: {0}")]
    Corrupt(&'static str),
    /// The trailer's SHA-256 does not match the content.
    #[error("the backup is corrupt: checksum mismatch")]
    ChecksumMismatch,
    /// The backup is encrypted and no identity was given.
    #[error("the backup is encrypted; pass --identity KEYFILE")]
    Encrypted,
    /// None of the given identities can decrypt the backup.
    #[error("the identity does not match any recipient of this backup")]
    WrongKey,
    /// The encrypted file is damaged (age refused it).
    #[error("the encrypted backup is corrupt: {0}")]
    Decrypt(String),
    /// A recipient is not an age x25519 recipient.
    #[error("invalid age recipient {0:?}")]
    InvalidRecipient(String),
    /// The identity file holds no usable age identity.
    #[error("no age identity (AGE-SECRET-KEY-1…) in the identity file")]
    InvalidIdentity,
    /// The target data directory exists and is not empty.
    #[error("{0} exists and is not empty; pass --force to replace it")]
    NotEmpty(std::path::PathBuf),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Now as Unix milliseconds (for the key file's comment).
pub fn now_ms() -> u64 {
    crate::unix_ms()
}

/// Parses age x25519 recipients (`age1…`).
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<age::x25519::Recipient>, BackupError> {
    recipients
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r.trim())
                .map_err(|_| BackupError::InvalidRecipient(r.clone()))
        })
        .collect()
}

/// Reads the first age identity from an identity file (as written by
/// [`generate_identity`] or `age-keygen`); comment lines are skipped.
pub fn load_identity(path: &Path) -> Result<age::x25519::Identity, BackupError> {
    let mut text = String::new();
    File::open(path)?
        .take(MAX_IDENTITY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| BackupError::InvalidIdentity)?;
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|line| age::x25519::Identity::from_str(line).ok())
        .ok_or(BackupError::InvalidIdentity)
}

/// A new identity and the text of its identity file (the same layout as
/// `age-keygen`, so the standard tools read it too).
pub fn generate_identity(created: &str) -> (age::x25519::Identity, String) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let text = format!(
        "# created: {created}\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    (identity, text)
}

/// Opens a backup file for reading: decrypts it when it is age-encrypted,
/// binary or ASCII-armored (which needs `identity`), else reads it as it
/// is. Returns the reader and whether the file was encrypted.
pub fn open_backup(
    path: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<(Box<dyn Read>, bool), BackupError> {
    let mut file = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let head = file.fill_buf()?;
    // The armored format allows whitespace before its first line.
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let binary = head.starts_with(AGE_MAGIC);
    let armored = head[start..].starts_with(AGE_ARMOR_BEGIN);
    if !binary && !armored {
        return Ok((Box::new(file), false));
    }
    let identity = identity.ok_or(BackupError::Encrypted)?;
    // The armor reader passes a binary age file through unchanged.
    let file = age::armor::ArmoredReader::new(file);
    let decryptor = age::Decryptor::new_buffered(file).map_err(decrypt_error)?;
    let reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(decrypt_error)?;
    Ok((Box::new(reader), true))
}

fn decrypt_error(e: age::DecryptError) -> BackupError {
    match e {
        age::DecryptError::NoMatchingKeys => BackupError::WrongKey,
        age::DecryptError::Io(e) => eof_truncated(e),
        other => BackupError::Decrypt(other.to_string()),
    }
}

fn eof_truncated(e: io::Error) -> BackupError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BackupError::Truncated
    } else {
        BackupError::Io(e)
    }
}
