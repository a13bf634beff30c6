//! Taking a backup of a running server, in two steps so that the step that
//! needs the relay's exclusive write gate stays short.
//!
//! [`snapshot`] runs while nothing writes: it exports every sled tree into
//! the staging file and hard-links (small files: copies) every state file of
//! the data directory into a staging directory, which freezes their content
//! even if the server deletes or replaces them a moment later. [`complete`]
//! runs with the gate released: it appends the staged files, writes the
//! checksummed trailer, encrypts to the age recipients if there are any,
//! and hashes the final file for the download.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::BackupError;
use super::format::{BackupWriter, Manifest, check_path};
use crate::admin::ADMIN_CLAIM_FILE;
use crate::store::BackupStore;
use crate::store::sled_backup::DB_DIR;
use crate::store::sled_store::ENVELOPE_DIR;

/// Name of the staging directory inside the data directory.
pub const STAGING_DIR: &str = "backups";

/// Files smaller than this are copied into the staging directory rather
/// than hard-linked: they may be rewritten in place (keys), and copying a
/// few bytes costs less than reasoning about who else writes them.
const LINK_THRESHOLD: u64 = 64 * 1024;

/// Deepest directory nesting followed under the data directory.
const MAX_DEPTH: usize = 8;

/// A backup whose database part is written; the files are staged.
pub struct Pending {
    writer: BackupWriter<File>,
    /// Relative path in the data directory, and the staged copy.
    files: Vec<(String, PathBuf)>,
    files_dir: PathBuf,
}

/// A finished backup file.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// Whether it is age-encrypted.
    pub encrypted: bool,
    /// What it holds.
    pub manifest: Manifest,
}

/// Creates a file readable only by the owner; fails if it exists.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates a directory (and its parents) readable only by the owner; the
/// store's, so that every private directory is made the same way.
pub(crate) use crate::store::sled_store::create_private_dir;

/// Whether a top-level entry of the data directory is left out: the
/// database and the envelope log (both exported logically), the staging
/// directory, and the admin claim code (a secret that a restored server
/// replaces anyway).
fn excluded_top_level(name: &str) -> bool {
    name == DB_DIR || name == ENVELOPE_DIR || name == STAGING_DIR || name == ADMIN_CLAIM_FILE
}

/// Whether a file anywhere is left out: lock files and unfinished uploads
/// (whose bytes are still changing; their clients start them again).
fn excluded_file(name: &str) -> bool {
    name.ends_with(".lock") || name == "lock" || name.ends_with(".part") || name.ends_with(".tmp")
}

/// The consistent part, run while nothing writes: exports the trees into
/// `plain` (created 0600) and stages the state files in `files_dir`.
pub fn snapshot(
    store: &dyn BackupStore,
    data_dir: &Path,
    plain: &Path,
    files_dir: &Path,
    created_at_ms: u64,
) -> Result<Pending, BackupError> {
    let mut writer =
        BackupWriter::new(create_private(plain)?, created_at_ms, env!("CARGO_PKG_VERSION"))?;
    store.export_trees(&mut writer)?;
    create_private_dir(files_dir)?;
    let mut files = Vec::new();
    stage_dir(data_dir, "", files_dir, 0, &mut files)?;
    Ok(Pending { writer, files, files_dir: files_dir.to_owned() })
}

fn stage_dir(
    dir: &Path,
    prefix: &str,
    files_dir: &Path,
    depth: usize,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<(), BackupError> {
    walk_state_files(dir, prefix, depth, &mut |rel, entry| {
        let staged = files_dir.join(files.len().to_string());
        let len = entry.metadata()?.len();
        if len < LINK_THRESHOLD || fs::hard_link(entry.path(), &staged).is_err() {
            let mut from = File::open(entry.path())?;
            let mut to = create_private(&staged)?;
            io::copy(&mut from, &mut to)?;
        }
        files.push((rel, staged));
        Ok(())
    })
}

/// The data directory's state files (what a backup holds besides the
/// store's collections): relative path and full path, sorted. Used by
/// `stadtbote-server migrate` and `town`, which copy them the same way.
pub(crate) fn state_files(data_dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut files = Vec::new();
    walk_state_files(data_dir, "", 0, &mut |rel, entry| {
        files.push((rel, entry.path()));
        Ok(())
    })?;
    Ok(files)
}

/// Calls `found` for every state file under `dir` (see [`excluded_top_level`]
/// and [`excluded_file`]), in name order.
fn walk_state_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    found: &mut dyn FnMut(String, &fs::DirEntry) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        // Names that are not UTF-8 are not the server's.
        let Ok(name) = entry.file_name().into_string() else { continue };
        if prefix.is_empty() && excluded_top_level(&name) {
            continue;
        }
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if check_path(&rel).is_err() {
            continue;
        }
        // Symbolic links are never followed: only the server's own files.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk_state_files(&entry.path(), &rel, depth + 1, found)?;
        } else if kind.is_file() && !excluded_file(&name) {
            found(rel, &entry)?;
        }
    }
    Ok(())
}

/// The slow part, run with the write gate released: appends the staged
/// files, finishes the file at `plain`, encrypts it to `recipients` (if
/// any) into `encrypted`, and hashes the result. Returns the path of the
/// final file with what it holds. Removes the staging directory.
pub fn complete(
    pending: Pending,
    plain: &Path,
    encrypted: &Path,
    recipients: &[age::x25519::Recipient],
) -> Result<(PathBuf, Finished), BackupError> {
    let Pending { mut writer, files, files_dir } = pending;
    for (rel, staged) in &files {
        let mut file = File::open(staged)?;
        let size = file.metadata()?.len();
        writer.file(rel, size, &mut file)?;
        fs::remove_file(staged)?;
    }
    fs::remove_dir_all(&files_dir)?;
    let (manifest, file) = writer.finish()?;
    file.sync_all()?;
    drop(file);
    let final_path = if recipients.is_empty() {
        plain.to_owned()
    } else {
        seal_file(plain, encrypted, recipients)?;
        encrypted.to_owned()
    };
    let (size, sha256) = hash_file(&final_path)?;
    Ok((final_path, Finished { size, sha256, encrypted: !recipients.is_empty(), manifest }))
}

/// Encrypts the finished backup `plain` to `recipients` into the new file
/// `encrypted` (synced), then deletes `plain`.
pub(crate) fn seal_file(
    plain: &Path,
    encrypted: &Path,
    recipients: &[age::x25519::Recipient],
) -> Result<(), BackupError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| BackupError::Io(io::Error::other(e.to_string())))?;
    let out = create_private(encrypted)?;
    let mut sealed = encryptor.wrap_output(io::BufWriter::new(out))?;
    io::copy(&mut File::open(plain)?, &mut sealed)?;
    let out = sealed.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
    out.sync_all()?;
    fs::remove_file(plain)?;
    Ok(())
}

/// Size and SHA-256 of a file, streamed.
pub fn hash_file(path: &Path) -> io::Result<(u64, [u8; 32])> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// Writes `text` to a new file `path` readable only by the owner, synced.
pub fn write_private(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut file = create_private(path)?;
    file.write_all(text)?;
    file.sync_all()
}
