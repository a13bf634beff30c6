//! Moving a stopped server's data into another backend or data directory
//! (`stadtbote-server migrate --from DATA_DIR --to TARGET`), and the record
//! pipeline that `town export` / `town import` share with it.
//!
//! The move is the logical backup format ([`crate::store::logical`])
//! without the file in between: the source store's export
//! ([`BackupStore::export_trees`]) is handed record by record to the
//! target backend's [`RecordImporter`], in one pass, and the data
//! directory's state files (the keys that keep ids keyed and sealed, and the
//! attachments) are copied beside it. Afterwards the target is opened as a
//! store and exported again, and the record count of every collection must
//! equal the source's: only then is the target put in place.
//!
//! Which backend a target names is decided in one place, [`Target::parse`]:
//! a path is a sled data directory; a `postgres://` URL is the PostgreSQL
//! backend ([`crate::store::PgImporter`] into an empty database, then
//! [`crate::store::PgStore`] opened on it for the count check).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::backup::BackupError;
use crate::backup::create::{create_private, create_private_dir, state_files};
use crate::backup::restore::{non_empty, open_when_released, sibling, swap_in};
use crate::store::logical::RecordImporter;
use crate::store::sled_backup::DB_DIR;
use crate::store::{
    BackupStore, PgImporter, PgOptions, PgStore, SledImporter, SledStore, StoreError, TreeVisitor,
};

/// Why a migration (or a town export/import) refused or failed. Nothing is
/// put in place unless every step succeeded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The source is not a data directory with a database.
    #[error("no Stadtbote database in {0} (expected a db/ directory there)")]
    NoDatabase(PathBuf),
    /// A running server (or another tool) holds the source database.
    #[error(
        "the database in {0} is locked: stadtbote-server (or another tool) is running on it; \
         stop the server first (e.g. systemctl stop stadtbote), then run the command again"
    )]
    Locked(PathBuf),
    /// The target data directory exists and holds something.
    #[error("the target {0} exists and is not empty; choose a new directory")]
    TargetNotEmpty(PathBuf),
    /// The target names a backend this build cannot write.
    #[error(
        "this build of stadtbote-server has no {0} backend yet; migrate into a data directory, \
         or use a release that includes it"
    )]
    BackendNotBuilt(&'static str),
    /// A database target without a directory for the state files.
    #[error(
        "a postgres:// target also needs --state-dir DIR: the data_dir of the servers on that \
         database, which receives keys/ and the attachments"
    )]
    NeedsStateDir,
    /// After the import, the target does not hold what the source held.
    #[error(
        "verification failed: collection {collection} has {source_count} records in the source \
         but {target_count} in the target; nothing was put in place"
    )]
    CountMismatch {
        /// The collection.
        collection: String,
        /// Records read from the source.
        source_count: u64,
        /// Records found in the target.
        target_count: u64,
    },
    /// Reading or writing a file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A helper shared with restore failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Records per collection, by collection name.
pub type Counts = BTreeMap<String, u64>;

/// Where records go: a backend and its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new sled data directory.
    Sled(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`), with
    /// the directory that receives the state files (`keys/`, attachments):
    /// the `data_dir` the nodes of that database use.
    Postgres {
        /// The database URL.
        url: String,
        /// Where the state files go.
        state_dir: PathBuf,
    },
}

impl Target {
    /// The backend factory's one decision: what `--to` names. A database
    /// target needs `state_dir` for the state files.
    pub fn parse(spec: &str, state_dir: Option<&Path>) -> Result<Self, MigrateError> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            let state_dir = state_dir.ok_or(MigrateError::NeedsStateDir)?;
            Ok(Self::Postgres { url: spec.to_owned(), state_dir: state_dir.to_owned() })
        } else {
            Ok(Self::Sled(PathBuf::from(spec)))
        }
    }

    /// How the target is shown in a summary: a path, or the URL without
    /// its user information (which may hold a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sled(dir) => dir.display().to_string(),
            Self::Postgres { url, .. } => redact_url(url),
        }
    }
}

/// The pool settings for database `url`: the pool size and timeouts of
/// `settings` (the operator's configuration, so that
/// `pg_statement_timeout_ms` can be raised for a large import).
pub fn pg_options(url: &str, settings: &crate::config::Config) -> PgOptions {
    PgOptions {
        url: url.to_owned(),
        pool_size: settings.pg_pool_size,
        connect_timeout: std::time::Duration::from_millis(settings.pg_connect_timeout_ms),
        statement_timeout: std::time::Duration::from_millis(settings.pg_statement_timeout_ms),
        send_batch: settings.pg_send_batch(),
    }
}

/// `scheme://user:secret@host/db` → `scheme://host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "postgres://…".to_owned() };
    let host_part = match rest.split_once('/') {
        Some((authority, _)) => authority,
        None => rest,
    };
    match host_part.rsplit_once('@') {
        Some((_, host)) => {
            let tail = &rest[host_part.len()..];
            format!("{scheme}://{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// What a migration did, for the summary (`--json` prints it as is).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The source data directory.
    pub from: String,
    /// The target (without credentials).
    pub to: String,
    /// Records per collection, read from the source and found again in
    /// the target (equal, or the migration would have failed).
    pub collections: Counts,
    /// Records over all collections.
    pub records: u64,
    /// State files copied (keys, attachments).
    pub files: u64,
    /// Bytes over those files.
    pub file_bytes: u64,
    /// Always `true` in a summary: the per-collection counts were checked.
    pub verified: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Refuses a source without a database or with a database a process holds.
/// sled (0.34) keeps an exclusive `flock` on `db/db`; it is probed before
/// sled opens anything, so that a running server's directory is never
/// touched (the same probe as `admin-reset`).
pub fn check_offline(data_dir: &Path) -> Result<(), MigrateError> {
    let db_dir = data_dir.join(DB_DIR);
    if !db_dir.is_dir() {
        return Err(MigrateError::NoDatabase(data_dir.to_owned()));
    }
    match File::open(db_dir.join("db")) {
        Ok(file) => match file.try_lock() {
            Ok(()) => Ok(()),
            Err(fs::TryLockError::WouldBlock) => Err(MigrateError::Locked(data_dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => Err(e.into()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(MigrateError::NoDatabase(data_dir.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Decides per record whether it goes to the target (all of them for a
/// migration; one town's for `town export`).
pub trait RecordFilter {
    /// Whether record `key` → `value` of `collection` is copied; may return
    /// a rewritten value (e.g. a list with other towns' entries removed).
    fn keep(&mut self, collection: &[u8], key: &[u8], value: &[u8]) -> Option<Vec<u8>>;
}

/// The filter of a migration: everything.
pub struct Everything;

impl RecordFilter for Everything {
    fn keep(&mut self, _: &[u8], _: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        Some(value.to_vec())
    }
}

/// Hands an export to an importer, counting what it passes on.
struct Pipe<'a> {
    importer: &'a mut dyn RecordImporter,
    filter: &'a mut dyn RecordFilter,
    current: Vec<u8>,
    counts: Counts,
    /// The importer's own error, kept typed (the visitor speaks io::Error).
    failed: Option<StoreError>,
}

impl Pipe<'_> {
    fn fail(&mut self, e: StoreError) -> io::Error {
        self.failed = Some(e);
        io::Error::other("the target refused a record")
    }
}

impl TreeVisitor for Pipe<'_> {
    fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        self.current = name.to_vec();
        self.counts.entry(String::from_utf8_lossy(name).into_owned()).or_insert(0);
        self.importer.collection(name).map_err(|e| self.fail(e))
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let Some(value) = self.filter.keep(&self.current, key, value) else { return Ok(()) };
        self.importer.insert(key, &value).map_err(|e| self.fail(e))?;
        let name = String::from_utf8_lossy(&self.current).into_owned();
        *self.counts.entry(name).or_insert(0) += 1;
        Ok(())
    }
}

/// Streams `source`'s records through `filter` into `importer` (which it
/// does not finish); returns what went in, per collection.
pub fn pipe_records(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    importer: &mut dyn RecordImporter,
) -> Result<Counts, MigrateError> {
    let mut pipe =
        Pipe { importer, filter, current: Vec::new(), counts: Counts::new(), failed: None };
    let result = source.export_trees(&mut pipe);
    if let Some(e) = pipe.failed.take() {
        return Err(e.into());
    }
    result?;
    Ok(pipe.counts)
}

/// Counts the records of every collection of `store`.
pub fn count_records(store: &dyn BackupStore) -> Result<Counts, MigrateError> {
    struct Count(Counts, String);
    impl TreeVisitor for Count {
        fn tree(&mut self, name: &[u8]) -> io::Result<()> {
            self.1 = String::from_utf8_lossy(name).into_owned();
            self.0.entry(self.1.clone()).or_insert(0);
            Ok(())
        }
        fn entry(&mut self, _: &[u8], _: &[u8]) -> io::Result<()> {
            *self.0.entry(self.1.clone()).or_insert(0) += 1;
            Ok(())
        }
    }
    let mut count = Count(Counts::new(), String::new());
    store.export_trees(&mut count)?;
    Ok(count.0)
}

/// Checks that `target` holds, per collection, exactly what was written.
/// Empty collections may be missing on either side.
pub fn verify_counts(written: &Counts, target: &Counts) -> Result<(), MigrateError> {
    let names: std::collections::BTreeSet<&String> = written.keys().chain(target.keys()).collect();
    for name in names {
        let source_count = written.get(name).copied().unwrap_or(0);
        let target_count = target.get(name).copied().unwrap_or(0);
        if source_count != target_count {
            return Err(MigrateError::CountMismatch {
                collection: name.clone(),
                source_count,
                target_count,
            });
        }
    }
    Ok(())
}

/// Copies `files` (relative path, source path) into `root`, private and
/// synced; returns their number and bytes.
pub fn copy_files(files: &[(String, PathBuf)], root: &Path) -> Result<(u64, u64), MigrateError> {
    let mut bytes = 0u64;
    for (rel, from) in files {
        let to = root.join(rel);
        if let Some(parent) = to.parent() {
            create_private_dir(parent)?;
        }
        let mut out = create_private(&to)?;
        bytes += io::copy(&mut File::open(from)?, &mut out)?;
        out.sync_all()?;
    }
    Ok((files.len() as u64, bytes))
}

/// Writes `files` and the records `filter` keeps of the source store into
/// a new sled data directory `target` (which must not exist or be empty),
/// verifies the counts, and only then puts it in place. Returns the counts
/// and the files' number and bytes.
pub fn into_sled_dir(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    files: &[(String, PathBuf)],
    target: &Path,
) -> Result<(Counts, u64, u64), MigrateError> {
    if non_empty(target)? {
        return Err(MigrateError::TargetNotEmpty(target.to_owned()));
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let staging = sibling(target, "migrate")?;
    let done = build_sled_dir(source, filter, files, &staging)?;
    swap_in(&staging, target)?;
    Ok(done)
}

/// Writes `files` and the records `filter` keeps into the new directory
/// `staging`, opens it as a store and checks that every collection holds
/// what was written. On failure the directory is removed again.
pub fn build_sled_dir(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    files: &[(String, PathBuf)],
    staging: &Path,
) -> Result<(Counts, u64, u64), MigrateError> {
    create_private_dir(staging)?;
    let result = (|| {
        let mut importer = SledImporter::create(staging)?;
        let written = pipe_records(source, filter, &mut importer)?;
        RecordImporter::finish(Box::new(importer))?;
        let (count, bytes) = copy_files(files, staging)?;
        // The copy must open as a store (schema, keys) and hold it all.
        let copy = open_when_released(staging)?;
        verify_counts(&written, &count_records(&copy)?)?;
        crate::store::Store::flush(&copy)?;
        Ok((written, count, bytes))
    })();
    if result.is_err() {
        // Best effort: the half-written copy is useless.
        let _ = fs::remove_dir_all(staging);
    }
    result
}

/// Writes the records `filter` keeps into a backend's `importer` (for an
/// empty store), the state files into `state_dir` (missing or empty), then
/// opens the result with `open_target` and checks that every collection
/// holds what was written. For backends other than sled, whose store is
/// not a directory that could be swapped in: a failure leaves the target
/// database to be dropped and created again by the operator.
pub fn into_backend(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    files: &[(String, PathBuf)],
    mut importer: Box<dyn RecordImporter>,
    state_dir: &Path,
    open_target: impl FnOnce() -> Result<Box<dyn BackupStore>, MigrateError>,
) -> Result<(Counts, u64, u64), MigrateError> {
    if non_empty(state_dir)? {
        return Err(MigrateError::TargetNotEmpty(state_dir.to_owned()));
    }
    create_private_dir(state_dir)?;
    let written = pipe_records(source, filter, importer.as_mut())?;
    importer.finish()?;
    let (count, bytes) = copy_files(files, state_dir)?;
    let target = open_target()?;
    verify_counts(&written, &count_records(target.as_ref())?)?;
    Ok((written, count, bytes))
}

/// Writes the records `filter` keeps into the empty PostgreSQL database
/// `url` (pool settings from `settings`) and the state files into
/// `state_dir`, then opens the database as the servers will and checks the
/// count of every collection.
pub fn into_postgres(
    source: &dyn BackupStore,
    filter: &mut dyn RecordFilter,
    files: &[(String, PathBuf)],
    url: &str,
    state_dir: &Path,
    settings: &crate::config::Config,
) -> Result<(Counts, u64, u64), MigrateError> {
    let options = pg_options(url, settings);
    // Checked before the database is touched (into_backend checks again).
    if non_empty(state_dir)? {
        return Err(MigrateError::TargetNotEmpty(state_dir.to_owned()));
    }
    // The importer refuses a database that already holds data.
    let importer = Box::new(PgImporter::create(&options)?);
    into_backend(source, filter, files, importer, state_dir, || {
        Ok(Box::new(PgStore::open(&options, state_dir)?))
    })
}

/// `restore FILE --database postgres://…`: restores a logical backup into
/// the empty PostgreSQL database `url` and its state files into
/// `state_dir`, then opens the database and checks that every collection
/// holds as many records as the backup held (counted while importing, so
/// old backups are checked the same way) and the total is the manifest's.
/// Returns the manifest and the records per collection found in the
/// database.
pub fn restore_into_postgres(
    file: &Path,
    url: &str,
    state_dir: &Path,
    settings: &crate::config::Config,
    identity: Option<&age::x25519::Identity>,
) -> Result<(crate::backup::format::Manifest, Counts), MigrateError> {
    let options = pg_options(url, settings);
    let read = std::sync::Arc::new(std::sync::Mutex::new(Counts::new()));
    let counting = read.clone();
    let manifest = crate::backup::restore::restore_into(
        file,
        state_dir,
        || {
            let inner: Box<dyn RecordImporter> = Box::new(PgImporter::create(&options)?);
            Ok(Box::new(CountingImporter { inner, counts: counting, current: String::new() }))
        },
        identity,
    )?;
    let store = PgStore::open(&options, state_dir)?;
    let found = count_records(&store)?;
    // Every collection holds what the backup held (counted while its
    // verified stream was imported; backups of every format version carry
    // their trees' names), and the total is the manifest's.
    let read = std::mem::take(&mut *read.lock().unwrap_or_else(|e| e.into_inner()));
    verify_counts(&read, &found)?;
    let total: u64 = found.values().sum();
    if total != manifest.entries {
        return Err(MigrateError::CountMismatch {
            collection: "(all collections)".to_owned(),
            source_count: manifest.entries,
            target_count: total,
        });
    }
    Ok((manifest, found))
}

/// An importer that counts, per collection, what it passes on to `inner`.
struct CountingImporter {
    inner: Box<dyn RecordImporter>,
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    current: String,
}

impl RecordImporter for CountingImporter {
    fn collection(&mut self, name: &[u8]) -> Result<(), StoreError> {
        self.inner.collection(name)?;
        self.current = String::from_utf8_lossy(name).into_owned();
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(self.current.clone())
            .or_insert(0);
        Ok(())
    }
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.insert(key, value)?;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(self.current.clone()).or_insert(0) += 1;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.finish()
    }
}

/// An importer that keeps nothing: counting what a filter passes.
pub struct Discard;

impl RecordImporter for Discard {
    fn collection(&mut self, _: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
    fn insert(&mut self, _: &[u8], _: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// `stadtbote-server migrate`: moves every record and state file of the
/// stopped server's data directory `from` into `to`, with the default pool
/// settings for a database target.
pub fn migrate(from: &Path, to: &Target) -> Result<Summary, MigrateError> {
    migrate_with(from, to, &crate::config::Config::default())
}

/// [`migrate`] with the pool settings (`pg_*`) of `settings`.
pub fn migrate_with(
    from: &Path,
    to: &Target,
    settings: &crate::config::Config,
) -> Result<Summary, MigrateError> {
    let started = std::time::Instant::now();
    check_offline(from)?;
    let source = SledStore::open(from)?;
    let files = state_files(from)?;
    let (collections, files, file_bytes) = match to {
        Target::Postgres { url, state_dir } => {
            into_postgres(&source, &mut Everything, &files, url, state_dir, settings)?
        }
        Target::Sled(dir) => into_sled_dir(&source, &mut Everything, &files, dir)?,
    };
    Ok(Summary {
        from: from.display().to_string(),
        to: to.describe(),
        records: collections.values().sum(),
        collections,
        files,
        file_bytes,
        verified: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn targets_are_told_apart_and_urls_lose_their_password() {
        assert_eq!(Target::parse("/srv/town", None).unwrap(), Target::Sled("/srv/town".into()));
        let state = Path::new("/srv/state");
        let pg =
            Target::parse("postgres://stadtbote:s3cret@db.example:5432/stadtbote", Some(state))
                .unwrap();
        assert!(matches!(&pg, Target::Postgres { state_dir, .. } if state_dir == state));
        assert_eq!(pg.describe(), "postgres://db.example:5432/stadtbote");
        let other = Target::parse("postgresql://u:pw@h/d", Some(state)).unwrap();
        assert!(!other.describe().contains("pw"));
        assert!(matches!(Target::parse("postgres://h/d", None), Err(MigrateError::NeedsStateDir)));
    }

    /// `restore --database` compares what it imported per collection: a
    /// collection the database lost (or gained) records in is named.
    #[test]
    fn restored_collections_are_counted_one_by_one() {
        let counts = std::sync::Arc::new(std::sync::Mutex::new(Counts::new()));
        let mut importer: Box<dyn RecordImporter> = Box::new(CountingImporter {
            inner: Box::new(Discard),
            counts: counts.clone(),
            current: String::new(),
        });
        importer.collection(b"devices").unwrap();
        importer.insert(b"a", b"1").unwrap();
        importer.insert(b"b", b"2").unwrap();
        importer.collection(b"orgs").unwrap();
        importer.insert(b"c", b"3").unwrap();
        importer.collection(b"staff").unwrap();
        importer.finish().unwrap();
        let read = counts.lock().unwrap().clone();
        let expected: Counts =
            [("devices".into(), 2), ("orgs".into(), 1), ("staff".into(), 0)].into();
        assert_eq!(read, expected);
        assert!(verify_counts(&read, &[("devices".into(), 2), ("orgs".into(), 1)].into()).is_ok());
        // The same total, spread differently: refused, naming a collection.
        let shifted: Counts = [("devices".into(), 1), ("orgs".into(), 2)].into();
        match verify_counts(&read, &shifted) {
            Err(MigrateError::CountMismatch { collection, .. }) => {
                assert_eq!(collection, "devices")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn migrate_copies_every_record_and_refuses_a_used_target_or_a_locked_source() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let store = SledStore::open(&from).unwrap();
        let key = stadtbote_protocol::auth::DeviceSecret::generate().identity_key();
        store.create_account(&key, 1).unwrap();
        store.flush().unwrap();
        fs::create_dir_all(from.join("blobs")).unwrap();
        fs::write(from.join("blobs/abc"), b"sealed attachment").unwrap();
        // Locked while a store has it open.
        assert!(matches!(
            migrate(&from, &Target::Sled(dir.path().join("x"))),
            Err(MigrateError::Locked(_))
        ));
        drop(store);
        let to = dir.path().join("to");
        let summary = loop {
            // sled's flusher keeps the lock a moment after the drop.
            match migrate(&from, &Target::Sled(to.clone())) {
                Err(MigrateError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => break other.unwrap(),
            }
        };
        assert!(summary.verified);
        assert_eq!(summary.collections.get("accounts"), Some(&1));
        assert_eq!(summary.collections.get("devices"), Some(&1));
        assert_eq!(fs::read(to.join("blobs/abc")).unwrap(), b"sealed attachment");
        let copy = open_when_released(&to).unwrap();
        let source = open_when_released(&from).unwrap();
        assert_eq!(count_records(&copy).unwrap(), count_records(&source).unwrap());
        drop(source);
        // A second run into the same target is refused.
        assert!(matches!(
            into_sled_dir(&copy, &mut Everything, &[], &to),
            Err(MigrateError::TargetNotEmpty(_))
        ));
        assert!(matches!(
            migrate(&dir.path().join("nothing"), &Target::Sled(dir.path().join("y"))),
            Err(MigrateError::NoDatabase(_))
        ));

        // The generic path a database backend takes, here with sled's
        // importer: the same records, verified.
        let other = dir.path().join("other");
        let state = dir.path().join("state");
        let importer = Box::new(SledImporter::create(&other).unwrap());
        let files = state_files(&to).unwrap();
        let (counts, n, _) = into_backend(&copy, &mut Everything, &files, importer, &state, || {
            // sled's importer writes the database; the keys come with the files.
            for (rel, path) in &files {
                let target = other.join(rel);
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::copy(path, target).unwrap();
            }
            Ok(Box::new(open_when_released(&other)?))
        })
        .unwrap();
        assert_eq!(counts, count_records(&copy).unwrap());
        assert_eq!(n, files.len() as u64);
        assert!(state.join("keys/pepper").is_file());
    }
}
