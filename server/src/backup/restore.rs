//! Verifying a backup file and restoring it into a data directory, offline
//! (`stadtbote-server verify-backup` and `restore`).
//!
//! A restore reads the file twice: once to verify everything (checksum,
//! bounds, counts) without writing, then again to write it into a fresh
//! sibling directory of the target. Only when that directory is complete,
//! flushed and opens as a store does it replace the target, so a failed or
//! interrupted restore leaves the existing data directory untouched.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;

use super::create::{create_private, create_private_dir};
use super::format::{BackupVisitor, Manifest, read_backup};
use super::{BackupError, open_backup};
use crate::store::logical::RecordImporter;
use crate::store::{SledImporter, SledStore};

/// Reads and checks a whole backup without writing anything.
struct Verify;

impl BackupVisitor for Verify {
    fn manifest(&mut self, _: &Manifest) -> Result<(), BackupError> {
        Ok(())
    }
    fn tree(&mut self, _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn entry(&mut self, _: &[u8], _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_start(&mut self, _: &str, _: u64) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_data(&mut self, _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_end(&mut self) -> Result<(), BackupError> {
        Ok(())
    }
}

/// Checks a backup completely; returns what it holds and whether it was
/// encrypted.
pub fn verify(
    path: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<(Manifest, bool), BackupError> {
    let (reader, encrypted) = open_backup(path, identity)?;
    let manifest = read_backup(reader, &mut Verify)?;
    Ok((manifest, encrypted))
}

/// Writes a backup's content into a new directory: the collections into
/// the backend's importer, the state files beside it.
struct Restorer {
    root: PathBuf,
    importer: Box<dyn RecordImporter>,
    file: Option<File>,
}

impl BackupVisitor for Restorer {
    fn manifest(&mut self, _: &Manifest) -> Result<(), BackupError> {
        Ok(())
    }
    fn tree(&mut self, name: &[u8]) -> Result<(), BackupError> {
        self.importer.collection(name).map_err(BackupError::from)
    }
    fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        self.importer.insert(key, value).map_err(BackupError::from)
    }
    fn file_start(&mut self, path: &str, _size: u64) -> Result<(), BackupError> {
        // The reader has checked the path: relative, no `..`.
        let target = self.root.join(path);
        if let Some(parent) = target.parent() {
            create_private_dir(parent)?;
        }
        self.file = Some(create_private(&target)?);
        Ok(())
    }
    fn file_data(&mut self, data: &[u8]) -> Result<(), BackupError> {
        match self.file.as_mut() {
            Some(file) => Ok(file.write_all(data)?),
            None => Err(BackupError::Corrupt("file data outside a file")),
        }
    }
    fn file_end(&mut self) -> Result<(), BackupError> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        Ok(())
    }
}

/// Whether `dir` exists with at least one entry.
pub(crate) fn non_empty(dir: &Path) -> Result<bool, BackupError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A sibling of `dir` named `.<name>.<what>-<random>`.
pub(crate) fn sibling(dir: &Path, what: &str) -> Result<PathBuf, BackupError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or(BackupError::Io(std::io::Error::other("the data directory needs a name")))?;
    let mut random = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut random);
    let suffix = data_encoding::HEXLOWER.encode(&random);
    Ok(dir.with_file_name(format!(".{name}.{what}-{suffix}")))
}

/// Verifies `path`, then restores it into `data_dir`. An existing non-empty
/// `data_dir` is replaced only with `force`, and only after the restored
/// copy is complete.
pub fn restore(
    path: &Path,
    data_dir: &Path,
    force: bool,
    identity: Option<&age::x25519::Identity>,
) -> Result<Manifest, BackupError> {
    if !force && non_empty(data_dir)? {
        return Err(BackupError::NotEmpty(data_dir.to_owned()));
    }
    verify(path, identity)?;
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let staging = sibling(data_dir, "restore")?;
    create_private_dir(&staging)?;
    match write_into(path, &staging, identity) {
        Ok(manifest) => {
            swap_in(&staging, data_dir)?;
            Ok(manifest)
        }
        Err(e) => {
            // Best effort: the half-written copy is useless.
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn write_into(
    path: &Path,
    staging: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<Manifest, BackupError> {
    let (reader, _) = open_backup(path, identity)?;
    // The only backend a data directory holds today; a restore into
    // another backend hands the same stream to that backend's importer.
    let importer: Box<dyn RecordImporter> = Box::new(SledImporter::create(staging)?);
    let mut visitor = Restorer { root: staging.to_owned(), importer, file: None };
    let manifest = read_backup(reader, &mut visitor)?;
    visitor.importer.finish()?;
    // The restored database must open as a store (schema check included).
    drop(open_when_released(staging)?);
    Ok(manifest)
}

/// Verifies `path`, then writes its collections into `importer` (a
/// backend's importer for an empty store, which it finishes) and its state
/// files into `state_dir` (missing or empty). For backends that are not a
/// directory (PostgreSQL): the caller opens the result as a store and
/// checks it; a failure leaves the database to be dropped and created
/// again by the operator, and `state_dir` to be removed.
pub fn restore_into(
    path: &Path,
    state_dir: &Path,
    importer: impl FnOnce() -> Result<Box<dyn RecordImporter>, BackupError>,
    identity: Option<&age::x25519::Identity>,
) -> Result<Manifest, BackupError> {
    if non_empty(state_dir)? {
        return Err(BackupError::NotEmpty(state_dir.to_owned()));
    }
    verify(path, identity)?;
    let importer = importer()?;
    create_private_dir(state_dir)?;
    let (reader, _) = open_backup(path, identity)?;
    let mut visitor = Restorer { root: state_dir.to_owned(), importer, file: None };
    let manifest = read_backup(reader, &mut visitor)?;
    visitor.importer.finish()?;
    Ok(manifest)
}

/// Opens the store in `dir` right after another handle to it was dropped.
/// sled's background flusher keeps the database's file lock a moment after
/// the last handle is gone, so an immediate open can fail although nothing
/// is wrong; a real problem (corruption, an old schema) persists and is
/// returned after a few seconds.
pub(crate) fn open_when_released(dir: &Path) -> Result<SledStore, BackupError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledStore::open(dir) {
            Ok(store) => return Ok(store),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// Replaces `data_dir` by `staging`. The old directory is renamed aside
/// first and deleted only once the new one is in place.
pub(crate) fn swap_in(staging: &Path, data_dir: &Path) -> Result<(), BackupError> {
    let old = if data_dir.exists() {
        let aside = sibling(data_dir, "replaced")?;
        fs::rename(data_dir, &aside)?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = fs::rename(staging, data_dir) {
        if let Some(aside) = &old {
            let _ = fs::rename(aside, data_dir);
        }
        let _ = fs::remove_dir_all(staging);
        return Err(e.into());
    }
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::blobs::sync_dir(parent)?;
    }
    if let Some(aside) = old {
        fs::remove_dir_all(aside)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use super::*;
    use crate::backup::create::{complete, snapshot};
    use crate::store::Store;

    /// A data dir with a store holding a few entries and a blob file.
    fn source() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let key = stadtbote_protocol::auth::DeviceSecret::generate().identity_key();
        store.create_account(&key, 1).unwrap();
        store.flush().unwrap();
        drop(store);
        fs::create_dir_all(dir.path().join("blobs")).unwrap();
        fs::write(dir.path().join("blobs/abc"), vec![42u8; 100_000]).unwrap();
        fs::write(dir.path().join("blobs/def.part"), b"unfinished").unwrap();
        fs::write(dir.path().join("admin-claim.code"), b"secret").unwrap();
        dir
    }

    fn reopen(data: &Path) -> SledStore {
        super::open_when_released(data).unwrap()
    }

    fn take(data: &Path, recipients: &[age::x25519::Recipient]) -> (tempfile::TempDir, PathBuf) {
        let out = tempfile::tempdir().unwrap();
        let store = reopen(data);
        let plain = out.path().join("b.plain");
        let pending = snapshot(&store, data, &plain, &out.path().join("b.files"), 5).unwrap();
        drop(store);
        let (path, finished) =
            complete(pending, &plain, &out.path().join("b.age"), recipients).unwrap();
        assert_eq!(finished.encrypted, !recipients.is_empty());
        (out, path)
    }

    #[test]
    fn round_trip_restores_trees_and_files() {
        let src = source();
        let (_out, file) = take(src.path(), &[]);
        let (manifest, encrypted) = verify(&file, None).unwrap();
        assert!(!encrypted);
        // The finished blob plus whatever the store keeps under keys/.
        assert!(manifest.files >= 1);
        assert!(manifest.entries > 0);
        let target = tempfile::tempdir().unwrap();
        let data = target.path().join("data");
        restore(&file, &data, false, None).unwrap();
        assert_eq!(fs::read(data.join("blobs/abc")).unwrap(), vec![42u8; 100_000]);
        assert!(!data.join("admin-claim.code").exists());
        assert!(!data.join("blobs/def.part").exists());
        let restored = reopen(&data);
        let mut count = 0;
        struct Count<'a>(&'a mut u64);
        impl crate::store::TreeVisitor for Count<'_> {
            fn tree(&mut self, _: &[u8]) -> std::io::Result<()> {
                Ok(())
            }
            fn entry(&mut self, _: &[u8], _: &[u8]) -> std::io::Result<()> {
                *self.0 += 1;
                Ok(())
            }
        }
        crate::store::BackupStore::export_trees(&restored, &mut Count(&mut count)).unwrap();
        assert!(count >= manifest.entries);
    }

    #[test]
    fn truncated_and_flipped_files_are_refused() {
        let src = source();
        let (out, file) = take(src.path(), &[]);
        let bytes = fs::read(&file).unwrap();
        let cut = out.path().join("cut");
        fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
        assert!(matches!(verify(&cut, None), Err(BackupError::Truncated)));
        // Every position of a small file, sampled: flipping any byte is caught.
        for at in (0..bytes.len()).step_by(997) {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            let flipped = out.path().join("flipped");
            fs::write(&flipped, &bad).unwrap();
            assert!(verify(&flipped, None).is_err(), "flip at {at} not detected");
        }
        let data = out.path().join("never");
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        fs::write(out.path().join("bad"), &bad).unwrap();
        assert!(matches!(
            restore(&out.path().join("bad"), &data, false, None),
            Err(BackupError::ChecksumMismatch)
        ));
        assert!(!data.exists());
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(crate::backup::format::MAGIC);
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.push(b'M');
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(verify(&path, None), Err(BackupError::Corrupt(_))));
        fs::write(&path, b"not a backup at all").unwrap();
        assert!(matches!(verify(&path, None), Err(BackupError::NotABackup)));
    }

    #[test]
    fn encrypted_backup_needs_the_right_key() {
        let src = source();
        let (right, _) = crate::backup::generate_identity("test");
        let (wrong, _) = crate::backup::generate_identity("test");
        let (_out, file) = take(src.path(), &[right.to_public()]);
        let mut head = [0u8; 21];
        fs::File::open(&file).unwrap().read_exact(&mut head).unwrap();
        assert_eq!(&head, b"age-encryption.org/v1");
        assert!(matches!(verify(&file, None), Err(BackupError::Encrypted)));
        assert!(matches!(verify(&file, Some(&wrong)), Err(BackupError::WrongKey)));
        let (manifest, encrypted) = verify(&file, Some(&right)).unwrap();
        assert!(encrypted);
        assert!(manifest.files >= 1);
    }

    #[test]
    fn existing_data_dir_needs_force_and_survives_a_failed_restore() {
        let src = source();
        let (out, file) = take(src.path(), &[]);
        let data = out.path().join("data");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("keep"), b"old").unwrap();
        assert!(matches!(restore(&file, &data, false, None), Err(BackupError::NotEmpty(_))));
        let mut bad = fs::read(&file).unwrap();
        bad[40] ^= 1;
        fs::write(out.path().join("bad"), &bad).unwrap();
        assert!(restore(&out.path().join("bad"), &data, true, None).is_err());
        assert_eq!(fs::read(data.join("keep")).unwrap(), b"old");
        restore(&file, &data, true, None).unwrap();
        assert!(!data.join("keep").exists());
        assert!(data.join("blobs/abc").exists());
    }
}
