//! A town export as a logical backup file (format 1, the same file
//! `stadtbote admin backup` writes): restorable with `stadtbote-server
//! restore` or `town import`, optionally age-encrypted to operator keys.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::backup::create::{create_private, seal_file};
use crate::backup::format::{BackupVisitor, BackupWriter, Manifest, read_backup};
use crate::backup::{BackupError, open_backup};
use crate::migrate::{Counts, RecordFilter, pipe_records};
use crate::store::logical::RecordImporter;
use crate::store::{BackupStore, StoreError};

/// Hands records to a backup file being written.
struct ToFile<'a>(&'a mut BackupWriter<File>);

impl RecordImporter for ToFile<'_> {
    fn collection(&mut self, name: &[u8]) -> Result<(), StoreError> {
        self.0.tree(name).map_err(StoreError::unavailable)
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0.entry(key, value).map_err(StoreError::unavailable)
    }
    fn finish(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Writes the records `filter` keeps and `files` into the new backup file
/// `out` (encrypted to `recipients` if there are any). An unencrypted file
/// is read back and its counts checked. Returns the counts and the number
/// of files.
pub fn write(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    files: &[(String, PathBuf)],
    out: &Path,
    recipients: &[age::x25519::Recipient],
) -> Result<(Counts, u64), BackupError> {
    if out.exists() {
        return Err(BackupError::Io(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists; choose a new file", out.display()),
        )));
    }
    let plain =
        if recipients.is_empty() { out.to_owned() } else { out.with_extension("plain-part") };
    let result = (|| {
        let mut writer = BackupWriter::new(
            create_private(&plain)?,
            crate::unix_ms(),
            env!("CARGO_PKG_VERSION"),
        )?;
        let counts = pipe_records(source, filter, &mut ToFile(&mut writer))
            .map_err(|e| BackupError::Io(io::Error::other(e.to_string())))?;
        for (rel, path) in files {
            let mut file = File::open(path)?;
            let size = file.metadata()?.len();
            writer.file(rel, size, &mut file)?;
        }
        let (_, file) = writer.finish()?;
        file.sync_all()?;
        drop(file);
        if recipients.is_empty() {
            let read = read_counts(out, None)?;
            if read.0 != counts {
                return Err(BackupError::Corrupt("the written export does not read back equal"));
            }
        } else {
            seal_file(&plain, out, recipients)?;
        }
        Ok((counts, files.len() as u64))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&plain);
        if !recipients.is_empty() {
            let _ = fs::remove_file(out);
        }
    }
    result
}

/// Reads a backup file completely (checksum included) and returns the
/// records per collection and the handles it holds.
pub fn read_counts(
    path: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<(Counts, Vec<String>), BackupError> {
    struct Count {
        counts: Counts,
        current: String,
        handles: Vec<String>,
    }
    impl BackupVisitor for Count {
        fn manifest(&mut self, _: &Manifest) -> Result<(), BackupError> {
            Ok(())
        }
        fn tree(&mut self, name: &[u8]) -> Result<(), BackupError> {
            self.current = String::from_utf8_lossy(name).into_owned();
            self.counts.entry(self.current.clone()).or_insert(0);
            Ok(())
        }
        fn entry(&mut self, key: &[u8], _: &[u8]) -> Result<(), BackupError> {
            *self.counts.entry(self.current.clone()).or_insert(0) += 1;
            if self.current == "handles" {
                self.handles.push(String::from_utf8_lossy(key).into_owned());
            }
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
    let (reader, _) = open_backup(path, identity)?;
    let mut count = Count { counts: Counts::new(), current: String::new(), handles: Vec::new() };
    read_backup(reader, &mut count)?;
    Ok((count.counts, count.handles))
}
