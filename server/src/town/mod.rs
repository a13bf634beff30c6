//! One town leaves or joins a server: `stadtbote-server town export`,
//! `town remove` and `town import`, offline (the servers involved stopped).
//!
//! This module owns the three steps; [`select`] owns the rule of what
//! belongs to a town. All three run on the record pipeline of
//! [`crate::migrate`] (the logical format, per-collection counts verified
//! before anything is put in place):
//!
//! * **export** writes the town's records (and the accounts, keys and
//!   blobs it needs) into a new single-town data directory.
//! * **remove** first checks that the given export holds exactly what the
//!   town holds now (every collection's count), then rebuilds the
//!   district's store without the town into a new directory and swaps it
//!   in. The rebuild, rather than deleting in place, is what leaves no org
//!   handle, name or profile behind: sled and the envelope log keep removed
//!   values in their files until they compact, a new directory has none.
//! * **import** puts an exported town into a new data directory (the
//!   town's own server). Importing into a store that already holds data
//!   is refused: device and group ids are keyed with each server's pepper,
//!   and the export carries the pepper of the server it came from.
//!
//! **On PostgreSQL** ([`District::Postgres`]: a district's nodes on one
//! database, all stopped — checked as `admin-reset` checks it) export reads
//! the same logical records from the database (one snapshot) and the state
//! files from the nodes' `data_dir`; the rule of [`select`] is the same.
//! Removal cannot swap in a rebuilt store, so the removal filter is run
//! over the records to *record* what it drops or rewrites, and the database
//! applies exactly those changes in one transaction
//! ([`crate::store::pg_remove`]), is counted again against what the filter
//! kept, and rewrites the changed tables. Import into PostgreSQL is
//! [`import_into_postgres`] (an empty database).

pub mod backup_file;
pub mod select;

use std::fs;
use std::path::{Path, PathBuf};

use crate::backup::create::state_files;
use crate::backup::restore::{open_when_released, sibling, swap_in};
use crate::migrate::RecordFilter;
use crate::migrate::{
    Counts, Discard, Everything, MigrateError, build_sled_dir, check_offline, count_records,
    into_sled_dir, pipe_records, verify_counts,
};
use crate::store::pg_remove::RecordChange;
use crate::store::shred::Keyring;
use crate::store::{BackupStore, PgOptions, PgStore, SledStore, StoreError};

pub use select::Town;

/// Why a town step refused or failed; nothing was changed then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TownError {
    /// No org has this handle.
    #[error("no org with the handle {0:?} in this data directory")]
    UnknownOrg(String),
    /// The export given to `remove` is not the town as it is now.
    #[error(
        "the export in {dir} does not hold the town as the data directory does now \
         ({detail}); run `town export` again (with the server stopped) and remove with that export"
    )]
    ExportMismatch {
        /// The export directory.
        dir: PathBuf,
        /// The first difference.
        detail: String,
    },
    /// The export holds another org.
    #[error("the export in {0} does not hold the org {1:?}")]
    ExportOfAnotherOrg(PathBuf, String),
    /// `import` into a data directory that already holds a store.
    #[error(
        "{0} already holds a store; a town can only be imported into a new data directory \
         (device and group ids are keyed with each server's secret pepper)"
    )]
    ImportIntoUsedStore(PathBuf),
    /// A step of the record pipeline failed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// A store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A helper shared with restore failed.
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// Server nodes are still connected to the district's database.
    #[error(
        "{0} stadtbote-server session(s) are connected to the database; stop every node of \
         the district (e.g. kubectl scale deployment stadtbote --replicas=0), then run the \
         command again"
    )]
    ServersRunning(u64),
}

/// Where the district's store is.
#[derive(Debug, Clone)]
pub enum District {
    /// A stopped server's sled data directory.
    Dir(PathBuf),
    /// A PostgreSQL database whose nodes are stopped, and their `data_dir`
    /// (keys and attachments).
    Postgres {
        /// The database.
        options: PgOptions,
        /// The nodes' data directory.
        state_dir: PathBuf,
    },
}

impl District {
    /// The directory holding the state files (keys, attachments).
    fn state_dir(&self) -> &Path {
        match self {
            Self::Dir(dir) => dir,
            Self::Postgres { state_dir, .. } => state_dir,
        }
    }
}

/// A district's store opened for a town step.
enum Opened {
    Sled(Box<SledStore>),
    Pg(PgStore),
}

impl Opened {
    fn records(&self) -> &dyn BackupStore {
        match self {
            Self::Sled(store) => store.as_ref(),
            Self::Pg(store) => store,
        }
    }
}

/// Opens the district's store, refusing while a server uses it.
fn open_district(district: &District) -> Result<(Opened, Keyring), TownError> {
    match district {
        District::Dir(dir) => {
            let (store, keyring) = opened(dir)?;
            Ok((Opened::Sled(Box::new(store)), keyring))
        }
        District::Postgres { options, state_dir } => {
            let running = crate::store::pg_offline::server_sessions(options)?;
            if running > 0 {
                return Err(TownError::ServersRunning(running));
            }
            // The nodes' keys must be there: a town step never creates any.
            let keyring = Keyring::open(state_dir, false)?;
            let store = PgStore::open(options, state_dir)?;
            Ok((Opened::Pg(store), keyring))
        }
    }
}

/// A removal filter that also writes down what it drops or rewrites (the
/// changes a database applies in place).
struct Recording<F> {
    inner: F,
    changes: Vec<RecordChange>,
}

impl<F: RecordFilter> RecordFilter for Recording<F> {
    fn keep(&mut self, collection: &[u8], key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let kept = self.inner.keep(collection, key, value);
        let change = match &kept {
            None => Some(None),
            Some(new) if new.as_slice() != value => Some(Some(new.clone())),
            Some(_) => None,
        };
        if let Some(value) = change {
            self.changes.push(RecordChange {
                collection: String::from_utf8_lossy(collection).into_owned(),
                key: key.to_vec(),
                value,
            });
        }
        kept
    }
}

/// What a town step did (`--json` prints it as is).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TownSummary {
    /// `export`, `remove` or `import`.
    pub step: &'static str,
    /// The org's handle.
    pub org: String,
    /// Records per collection written (export, import) or removed (remove).
    pub collections: Counts,
    /// Records over all collections.
    pub records: u64,
    /// Accounts copied with the town (export; 0 otherwise).
    pub accounts: u64,
    /// The town's groups (export), or those removed with it (remove).
    pub groups: u64,
    /// State files written (keys, attachments).
    pub files: u64,
    /// Always `true`: the counts were verified.
    pub verified: bool,
}

fn opened(data_dir: &Path) -> Result<(SledStore, Keyring), TownError> {
    check_offline(data_dir)?;
    let store = SledStore::open(data_dir)?;
    let keyring = Keyring::open(data_dir, false)?;
    Ok((store, keyring))
}

/// Where `town export` writes: a new data directory, or a new backup file
/// (encrypted to `recipients` if there are any).
pub enum ExportTo {
    /// A new single-town data directory.
    Dir(PathBuf),
    /// A new logical backup file.
    File {
        /// The file.
        path: PathBuf,
        /// age recipients; none: unencrypted.
        recipients: Vec<age::x25519::Recipient>,
    },
}

/// `town export`: writes the town `handle` of the stopped server's `data_dir`
/// into a new data directory or backup file.
pub fn export(data_dir: &Path, handle: &str, to: &ExportTo) -> Result<TownSummary, TownError> {
    export_from(&District::Dir(data_dir.to_owned()), handle, to)
}

/// `town export` from a district on either backend (see [`District`]).
pub fn export_from(
    district: &District,
    handle: &str,
    to: &ExportTo,
) -> Result<TownSummary, TownError> {
    let (opened, keyring) = open_district(district)?;
    let store = opened.records();
    let town = Town::scan(store, &keyring, handle)?;
    let files: Vec<_> = state_files(district.state_dir())?
        .into_iter()
        .filter(|(rel, _)| town.exports_file(rel))
        .collect();
    let mut filter = town.export_filter();
    let (collections, files) = match to {
        ExportTo::Dir(dir) => {
            let (counts, files, _) = into_sled_dir(store, &mut filter, &files, dir)?;
            (counts, files)
        }
        ExportTo::File { path, recipients } => {
            backup_file::write(store, &mut filter, &files, path, recipients)?
        }
    };
    Ok(TownSummary {
        step: "export",
        org: town.handle.clone(),
        records: collections.values().sum(),
        collections,
        accounts: town.accounts.len() as u64,
        groups: town.group_counts().0 as u64,
        files,
        verified: true,
    })
}

/// Records per collection of an export (a data directory, or a backup file
/// read completely with `identity` if it is encrypted), checked to hold
/// the org `handle`.
fn export_counts(
    export: &Path,
    handle: &str,
    identity: Option<&age::x25519::Identity>,
) -> Result<Counts, TownError> {
    if export.is_file() {
        let (counts, handles) = backup_file::read_counts(export, identity)?;
        if handles.iter().any(|h| h == handle) {
            return Ok(counts);
        }
        return Err(TownError::ExportOfAnotherOrg(export.to_owned(), handle.to_owned()));
    }
    check_offline(export)?;
    let copy = SledStore::open(export)?;
    let copy_keys = Keyring::open(export, false)?;
    Town::scan(&copy, &copy_keys, handle).map_err(|e| match e {
        TownError::UnknownOrg(h) => TownError::ExportOfAnotherOrg(export.to_owned(), h),
        other => other,
    })?;
    Ok(count_records(&copy)?)
}

/// `town remove`: after checking that `export` holds the town as `data_dir`
/// holds it now, rebuilds `data_dir` without the town.
pub fn remove(
    data_dir: &Path,
    handle: &str,
    export: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<TownSummary, TownError> {
    let (store, keyring) = opened(data_dir)?;
    let town = Town::scan(&store, &keyring, handle)?;
    check_export(&store, &town, export, identity)?;

    // Rebuild without the town, verify, swap in.
    let before = count_records(&store)?;
    let staging = sibling(data_dir, "town-remove")?;
    let files = state_files(data_dir)?;
    let (kept, files, _) = build_sled_dir(&store, &mut town.removal_filter(), &files, &staging)?;
    // Not a state file of a backup, but this server's until claimed.
    let claim = data_dir.join(crate::admin::ADMIN_CLAIM_FILE);
    if claim.is_file() {
        fs::copy(&claim, staging.join(crate::admin::ADMIN_CLAIM_FILE))?;
    }
    drop(store);
    swap_in(&staging, data_dir)?;
    // It must open again (the lock of the old handle is released by now).
    drop(open_when_released(data_dir)?);
    Ok(removal_summary(&town, &before, &kept, files))
}

/// Checks that `export` holds exactly what `town` holds in `store` now.
fn check_export(
    store: &dyn BackupStore,
    town: &Town,
    export: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<(), TownError> {
    let expected = pipe_records(store, &mut town.export_filter(), &mut Discard)?;
    let exported = export_counts(export, &town.handle, identity)?;
    verify_counts(&expected, &exported).map_err(|e| TownError::ExportMismatch {
        dir: export.to_owned(),
        detail: match e {
            MigrateError::CountMismatch { collection, source_count, target_count } => {
                format!("{collection}: {source_count} records here, {target_count} in the export")
            }
            other => other.to_string(),
        },
    })?;
    Ok(())
}

/// `town remove` from a district on either backend (see [`District`]).
pub fn remove_from(
    district: &District,
    handle: &str,
    export: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<TownSummary, TownError> {
    let District::Postgres { .. } = district else {
        return remove(district.state_dir(), handle, export, identity);
    };
    let (opened, keyring) = open_district(district)?;
    let Opened::Pg(store) = opened else {
        return Err(StoreError::corrupt("town remove: not a database").into());
    };
    let town = Town::scan(&store, &keyring, handle)?;
    check_export(&store, &town, export, identity)?;

    // The same rule as the rebuild on sled, recorded instead of applied.
    let before = count_records(&store)?;
    let mut recording = Recording { inner: town.removal_filter(), changes: Vec::new() };
    let kept = pipe_records(&store, &mut recording, &mut Discard)?;
    let changes = recording.changes;
    store.remove_records(changes)?;
    // The database must now hold exactly what the filter kept.
    verify_counts(&kept, &count_records(&store)?)?;
    store.compact()?;
    Ok(removal_summary(&town, &before, &kept, 0))
}

/// `town import`: puts the exported town in `from` into the new data
/// directory `into`.
pub fn import(
    from: &Path,
    into: &Path,
    identity: Option<&age::x25519::Identity>,
) -> Result<TownSummary, TownError> {
    if into.join(crate::store::sled_backup::DB_DIR).exists() {
        return Err(TownError::ImportIntoUsedStore(into.to_owned()));
    }
    if from.is_file() {
        // A backup file: checked completely, then restored like any backup.
        let (collections, handles) = backup_file::read_counts(from, identity)?;
        let [handle] = handles.as_slice() else {
            return Err(StoreError::corrupt("a town export holds exactly one org").into());
        };
        let manifest =
            crate::backup::restore::restore(from, into, false, identity).map_err(|e| match e {
                crate::backup::BackupError::NotEmpty(dir) => TownError::ImportIntoUsedStore(dir),
                other => other.into(),
            })?;
        return Ok(TownSummary {
            step: "import",
            org: handle.clone(),
            records: collections.values().sum(),
            accounts: collections.get("accounts").copied().unwrap_or(0),
            groups: collections.get("groups").copied().unwrap_or(0),
            collections,
            files: manifest.files,
            verified: true,
        });
    }
    let (store, _) = opened(from)?;
    let handle = single_org(&store)?;
    let files = state_files(from)?;
    let (collections, files, _) =
        into_sled_dir(&store, &mut Everything, &files, into).map_err(|e| match e {
            MigrateError::TargetNotEmpty(dir) => TownError::ImportIntoUsedStore(dir),
            other => other.into(),
        })?;
    Ok(TownSummary {
        step: "import",
        org: handle,
        records: collections.values().sum(),
        accounts: collections.get("accounts").copied().unwrap_or(0),
        groups: collections.get("groups").copied().unwrap_or(0),
        collections,
        files,
        verified: true,
    })
}

/// `town import --database postgres://…`: puts the exported town in
/// `from` into the empty PostgreSQL database `url` (pool settings from
/// `settings`), its state files into `state_dir` (the data_dir of the
/// servers on that database, missing or empty), and checks the counts.
pub fn import_into_postgres(
    from: &Path,
    url: &str,
    state_dir: &Path,
    settings: &crate::config::Config,
    identity: Option<&age::x25519::Identity>,
) -> Result<TownSummary, TownError> {
    let (handle, collections, files) = if from.is_file() {
        let (in_file, handles) = backup_file::read_counts(from, identity)?;
        let [handle] = handles.as_slice() else {
            return Err(StoreError::corrupt("a town export holds exactly one org").into());
        };
        let (manifest, found) =
            crate::migrate::restore_into_postgres(from, url, state_dir, settings, identity)
                .map_err(|e| match e {
                    MigrateError::Backup(crate::backup::BackupError::NotEmpty(dir)) => {
                        TownError::ImportIntoUsedStore(dir)
                    }
                    other => other.into(),
                })?;
        crate::migrate::verify_counts(&in_file, &found)?;
        (handle.clone(), found, manifest.files)
    } else {
        let (store, _) = opened(from)?;
        let handle = single_org(&store)?;
        let files = state_files(from)?;
        let (collections, files, _) = crate::migrate::into_postgres(
            &store,
            &mut Everything,
            &files,
            url,
            state_dir,
            settings,
        )
        .map_err(|e| match e {
            MigrateError::TargetNotEmpty(dir) => TownError::ImportIntoUsedStore(dir),
            other => other.into(),
        })?;
        (handle, collections, files)
    };
    Ok(TownSummary {
        step: "import",
        org: handle,
        records: collections.values().sum(),
        accounts: collections.get("accounts").copied().unwrap_or(0),
        groups: collections.get("groups").copied().unwrap_or(0),
        collections,
        files,
        verified: true,
    })
}

/// The handle of the one org an export holds.
fn single_org(store: &SledStore) -> Result<String, TownError> {
    struct Handles(Vec<String>, bool);
    impl crate::store::TreeVisitor for Handles {
        fn tree(&mut self, name: &[u8]) -> std::io::Result<()> {
            self.1 = name == b"handles";
            Ok(())
        }
        fn entry(&mut self, key: &[u8], _: &[u8]) -> std::io::Result<()> {
            if self.1 {
                self.0.push(String::from_utf8_lossy(key).into_owned());
            }
            Ok(())
        }
    }
    let mut handles = Handles(Vec::new(), false);
    crate::store::BackupStore::export_trees(store, &mut handles)?;
    match handles.0.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(TownError::Store(StoreError::corrupt("a town export holds exactly one org"))),
    }
}

/// What `town remove` reports: per collection, the records before minus
/// the records the filter kept (both backends count the same way).
fn removal_summary(town: &Town, before: &Counts, kept: &Counts, files: u64) -> TownSummary {
    let removed: Counts = before
        .iter()
        .map(|(name, n)| (name.clone(), n.saturating_sub(kept.get(name).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect();
    TownSummary {
        step: "remove",
        org: town.handle.clone(),
        records: removed.values().sum(),
        collections: removed,
        accounts: 0,
        groups: town.group_counts().1 as u64,
        files,
        verified: true,
    }
}
