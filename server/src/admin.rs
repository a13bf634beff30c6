//! Server-admin bootstrap: the one-time admin claim code.
//!
//! A fresh server has no admin. On start it generates a random code, stores
//! only its SHA-256 hash, and writes the code to `<data_dir>/admin-claim.code`
//! (mode 0600), where only the operator (who can read the data directory)
//! finds it. The first device that sends `admin_claim` with that code becomes
//! the server admin; the hash and the file are then deleted. The code never
//! appears in a log.
//!
//! The hash is stored and flushed *before* the file is written: a crash in
//! between leaves a pending hash without a file, and the next start notices
//! the missing file and replaces the code. The opposite order could leave a
//! file whose code matches no stored hash.
//!
//! An admin who lost the authenticator is recovered offline by whoever runs
//! the host: `stadtbote-server admin-reset` ([`reset`]) removes every admin
//! and admin secret and issues a new claim code the same way, recording an
//! `admin.reset` entry in the audit chain in the same transaction. With
//! `store = "postgres"` it works on the configured database instead
//! ([`reset_configured`]), refusing while any server node is connected to
//! it; the claim code file goes to the data directory given, the one the
//! nodes share (their keys live there too).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use data_encoding::BASE32_NOPAD;
use rand::RngCore;

use crate::blobs::sync_dir;
use crate::relay::code_hash;
use crate::store::{AuditDraft, Store, StoreError};

/// Name of the claim code file inside the data directory.
pub const ADMIN_CLAIM_FILE: &str = "admin-claim.code";

/// Bytes of randomness in admin and org-admin codes (160 bits).
const CODE_BYTES: usize = 20;

/// A fresh one-time code: 160 random bits in base32, in dash-separated
/// groups of four (`ABCD-EFGH-…`, 39 characters) so that it can be read out
/// and typed. Case, spaces and dashes do not matter when it is redeemed.
pub fn random_code() -> String {
    let mut raw = [0u8; CODE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text = BASE32_NOPAD.encode(&raw);
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Why the admin claim code could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The code's hash could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The code file could not be written.
    #[error("cannot write the admin claim code file: {0}")]
    Io(#[from] io::Error),
}

/// Deletes `path`; a missing file is fine.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to a new file at `path` with mode 0600, atomically:
/// the file appears complete or not at all, and an existing file is never
/// overwritten.
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("code.tmp");
    remove_if_exists(&tmp)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    // A hard link, unlike a rename, fails if the target exists. File
    // systems without hard links fall back to a rename (the caller removed
    // any previous file just before).
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => remove_if_exists(&tmp)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_exists(&tmp)?;
            return Err(e);
        }
        Err(_) => std::fs::rename(&tmp, path)?,
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Makes sure a claim code is waiting when the server has no admin. Returns
/// the code file's path when one is waiting, `None` once an admin exists.
/// Blocking.
pub fn bootstrap(store: &dyn Store, data_dir: &Path) -> Result<Option<PathBuf>, BootstrapError> {
    let path = data_dir.join(ADMIN_CLAIM_FILE);
    if store.has_admin()? {
        // Left behind if deleting it after the claim failed; it is useless.
        remove_if_exists(&path)?;
        return Ok(None);
    }
    if store.admin_claim_hash()?.is_some() && path.exists() {
        return Ok(Some(path));
    }
    let code = random_code();
    store.set_admin_claim_hash(&code_hash(&code))?;
    store.flush()?;
    write_code_file(&path, &code)?;
    Ok(Some(path))
}

/// Writes `code` to the claim file at `path`, replacing an older file. Only
/// called once the code's hash is stored and flushed (see the module
/// documentation for why that order).
fn write_code_file(path: &Path, code: &str) -> io::Result<()> {
    // A file without a pending hash (a crash before the hash was stored)
    // holds a code that no longer works.
    remove_if_exists(path)?;
    write_new_private(path, format!("{code}\n").as_bytes())
}

/// The actor and role the audit log records for the offline admin reset:
/// whoever runs the host has no device, so no pseudonym.
pub const HOST_OPERATOR: &str = "host-operator";

/// The audit action of the offline admin reset.
pub const ADMIN_RESET_ACTION: &str = "admin.reset";

/// What [`reset`] did. Holds no code: the operator reads it from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReset {
    /// How many server-admin roles were removed.
    pub removed: usize,
    /// The new claim code's file.
    pub code_file: PathBuf,
}

/// Why `admin-reset` refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResetError {
    /// There is no database to reset (a wrong directory, most likely).
    #[error("no Stadtbote database in {0} (expected a db/ directory there)")]
    NoDatabase(PathBuf),
    /// Another process, normally the running server, holds the database.
    #[error(
        "the database in {0} is locked: stadtbote-server (or another tool) is running on it; \
         stop the server first (e.g. systemctl stop stadtbote), then run admin-reset again"
    )]
    Locked(PathBuf),
    /// Server nodes are connected to the PostgreSQL database.
    #[error(
        "{0} connection(s) of running stadtbote-server nodes are open on the database: stop \
         every server node on it first (e.g. systemctl stop stadtbote, or scale the deployment \
         to 0 replicas), then run admin-reset again"
    )]
    ServersRunning(u64),
    /// The database could not be read or changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The code file could not be written, or the lock could not be probed.
    #[error("cannot write the admin claim code file: {0}")]
    Io(#[from] io::Error),
}

/// The offline admin reset for a lost authenticator: opens the stopped
/// server's database under `data_dir` and runs [`reset_store`] on it.
/// Refuses, changing nothing, when there is no database or the database is
/// locked by a running server. Blocking.
pub fn reset(data_dir: &Path) -> Result<AdminReset, ResetError> {
    let db_dir = data_dir.join("db");
    if !db_dir.is_dir() {
        return Err(ResetError::NoDatabase(data_dir.to_path_buf()));
    }
    // sled (pinned to 0.34.7) keeps its exclusive `flock` on `db/db`. It is
    // probed here, before sled opens anything, so that a running server's
    // directory is left untouched and the operator gets a clear message
    // instead of sled's. The probe's lock ends when the file is dropped.
    match std::fs::File::open(db_dir.join("db")) {
        Ok(file) => match file.try_lock() {
            Ok(()) => drop(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ResetError::Locked(data_dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(ResetError::Io(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ResetError::NoDatabase(data_dir.to_path_buf()));
        }
        Err(e) => return Err(ResetError::Io(e)),
    }
    let store = crate::store::SledStore::open(data_dir)?;
    reset_store(&store, data_dir)
}

/// The offline admin reset on the backend `config` names (`store`,
/// `database_url`, `data_dir` and the `pg_*` pool settings, as the server
/// reads them): [`reset`] of `config.data_dir` on sled, [`reset_postgres`]
/// on PostgreSQL. Blocking.
pub fn reset_configured(config: &crate::config::Config) -> Result<AdminReset, ResetError> {
    match config.pg_options() {
        Some(options) => reset_postgres(&options, &config.data_dir),
        None => reset(&config.data_dir),
    }
}

/// The offline admin reset on PostgreSQL: refuses, changing nothing, while
/// a server node is connected to the database (see
/// [`crate::store::pg_offline`]); otherwise opens the store with the
/// nodes' keyring under `data_dir` and runs [`reset_store`], which writes
/// the new claim code to `data_dir`. Blocking.
pub fn reset_postgres(
    options: &crate::store::PgOptions,
    data_dir: &Path,
) -> Result<AdminReset, ResetError> {
    let running = crate::store::pg_offline::server_sessions(options)?;
    if running > 0 {
        return Err(ResetError::ServersRunning(running));
    }
    let store = crate::store::PgStore::open(options, data_dir)?;
    reset_store(&store, data_dir)
}

/// Removes every server admin and admin TOTP secret, stores a new claim
/// code's hash and an `admin.reset` audit entry in one transaction, flushes,
/// then writes the code to `<data_dir>/admin-claim.code` the way the first
/// start does. The caller must hold the database alone.
pub fn reset_store(store: &dyn Store, data_dir: &Path) -> Result<AdminReset, ResetError> {
    let path = data_dir.join(ADMIN_CLAIM_FILE);
    let code = random_code();
    let entry = AuditDraft {
        at: crate::unix_ms(),
        actor: HOST_OPERATOR.to_owned(),
        role: HOST_OPERATOR.to_owned(),
        action: ADMIN_RESET_ACTION.to_owned(),
        target: None,
        outcome: "ok".to_owned(),
    };
    let removed = store.reset_server_admins(&code_hash(&code), &entry)?;
    store.flush()?;
    write_code_file(&path, &code)?;
    Ok(AdminReset { removed, code_file: path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OrgStore, SledStore};

    #[test]
    fn codes_are_grouped_and_random() {
        let code = random_code();
        assert_eq!(code.len(), 39);
        assert_eq!(code.split('-').count(), 8);
        assert_ne!(code, random_code());
    }

    #[test]
    fn bootstrap_writes_a_private_file_once_and_replaces_a_lost_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let path = bootstrap(&store, dir.path()).unwrap().unwrap();
        let code = std::fs::read_to_string(&path).unwrap();
        assert!(code.ends_with('\n'));
        assert_eq!(store.admin_claim_hash().unwrap(), Some(code_hash(code.trim())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A restart keeps the pending code.
        bootstrap(&store, dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), code);
        // A lost file is replaced by a new code; the old one stops working.
        std::fs::remove_file(&path).unwrap();
        bootstrap(&store, dir.path()).unwrap();
        let new_code = std::fs::read_to_string(&path).unwrap();
        assert_ne!(new_code, code);
        assert_eq!(store.admin_claim_hash().unwrap(), Some(code_hash(new_code.trim())));
        // Once claimed, no code is written and a stale file is removed.
        let device = stadtbote_protocol::DeviceId([1; 16]);
        store.claim_admin(&code_hash(&new_code.to_lowercase()), &device, 1).unwrap();
        assert!(bootstrap(&store, dir.path()).unwrap().is_none());
        assert!(!path.exists());
        assert!(store.is_admin(&device).unwrap());
    }

    #[test]
    fn reset_removes_admins_and_their_secrets_and_extends_the_audit_chain() {
        use crate::store::{AuditStore, FactorOwner, SettingsStore};
        use stadtbote_protocol::audit::{AuditEntry, verify_chain};
        use stadtbote_protocol::totp::Secret;

        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let path = bootstrap(&store, dir.path()).unwrap().unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        let admin = stadtbote_protocol::DeviceId([1; 16]);
        let admin_owner = FactorOwner::Admin(admin);
        store.set_factor(&admin_owner, &Secret::from_bytes(&[3; 20])).unwrap();
        store.claim_admin(&code_hash(first.trim()), &admin, 1).unwrap();
        assert!(store.use_factor_step(&admin_owner, 5).unwrap());
        // A secret left by a claim that crashed before the role was stored.
        let orphan = FactorOwner::Admin(stadtbote_protocol::DeviceId([2; 16]));
        store.set_factor(&orphan, &Secret::from_bytes(&[4; 20])).unwrap();
        // Orgs' secrets are not the host operator's business.
        let org = FactorOwner::Org(stadtbote_protocol::OrgId([9; 16]));
        store.set_factor(&org, &Secret::from_bytes(&[5; 20])).unwrap();
        let before = AuditDraft {
            at: 1,
            actor: "aa".into(),
            role: "server-admin".into(),
            action: "admin.stats".into(),
            target: None,
            outcome: "ok".into(),
        };
        store.audit_append(&before).unwrap();

        let reset = reset_store(&store, dir.path()).unwrap();
        assert_eq!(reset, AdminReset { removed: 1, code_file: path.clone() });
        assert!(!store.has_admin().unwrap());
        assert!(store.factor(&admin_owner).unwrap().is_none());
        assert!(store.factor(&orphan).unwrap().is_none());
        assert!(store.factor(&org).unwrap().is_some());
        let code = std::fs::read_to_string(&path).unwrap();
        assert_ne!(code, first);
        assert_eq!(store.admin_claim_hash().unwrap(), Some(code_hash(code.trim())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A restart keeps the new code rather than issuing another.
        bootstrap(&store, dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), code);

        let page = store.audit_page(0, 100, 1 << 20).unwrap();
        verify_chain(&page.records, None, page.head.as_ref(), None).unwrap();
        let last = AuditEntry::from_canonical_cbor(&page.records[1].entry).unwrap();
        assert_eq!(
            (last.seq, last.actor.as_str(), last.action.as_str()),
            (2, HOST_OPERATOR, ADMIN_RESET_ACTION)
        );

        // The new code makes a new device admin; the old one stays out.
        let new_admin = stadtbote_protocol::DeviceId([7; 16]);
        store.claim_admin(&code_hash(code.trim()), &new_admin, 2).unwrap();
        assert!(store.is_admin(&new_admin).unwrap());
        assert!(!store.is_admin(&admin).unwrap());
    }

    /// `admin-reset` with `store = "postgres"`: refused while a node is
    /// connected, then the same reset as on sled, on the database.
    #[test]
    fn reset_works_on_postgres_and_refuses_while_a_node_is_connected() {
        let Some(pg) = crate::store::pg_conformance::cluster() else { return };
        let options = crate::store::pg_conformance::options(pg.create_database());
        let dir = tempfile::tempdir().unwrap();
        let node = crate::store::PgStore::open(&options, dir.path()).unwrap();
        let path = bootstrap(&node, dir.path()).unwrap().unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        let admin = stadtbote_protocol::DeviceId([1; 16]);
        node.claim_admin(&code_hash(first.trim()), &admin, 1).unwrap();
        node.flush().unwrap();
        // The relay deletes the file after a claim.
        std::fs::remove_file(&path).unwrap();
        let err = reset_postgres(&options, dir.path()).unwrap_err();
        assert!(matches!(err, ResetError::ServersRunning(n) if n >= 1), "{err}");
        assert!(err.to_string().contains("stop every server node"), "{err}");
        assert!(node.is_admin(&admin).unwrap(), "nothing changed");
        assert!(!path.exists(), "no code written");
        drop(node);
        // The node's sessions end a moment after its pool is dropped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let reset = loop {
            match reset_postgres(&options, dir.path()) {
                Err(ResetError::ServersRunning(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(reset, AdminReset { removed: 1, code_file: path.clone() });
        let code = std::fs::read_to_string(&path).unwrap();
        let node = crate::store::PgStore::open(&options, dir.path()).unwrap();
        assert!(!node.has_admin().unwrap());
        assert_eq!(node.admin_claim_hash().unwrap(), Some(code_hash(code.trim())));
        let new_admin = stadtbote_protocol::DeviceId([7; 16]);
        node.claim_admin(&code_hash(code.trim()), &new_admin, 2).unwrap();
        assert!(node.is_admin(&new_admin).unwrap() && !node.is_admin(&admin).unwrap());
    }

    #[test]
    fn reset_refuses_a_directory_without_a_database_and_a_locked_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(reset(dir.path()), Err(ResetError::NoDatabase(_))));
        assert!(!dir.path().join(ADMIN_CLAIM_FILE).exists(), "nothing written");
        let store = SledStore::open(dir.path()).unwrap();
        let err = reset(dir.path()).unwrap_err();
        assert!(matches!(err, ResetError::Locked(_)), "{err}");
        assert!(err.to_string().contains("stop the server first"), "{err}");
        assert!(!dir.path().join(ADMIN_CLAIM_FILE).exists(), "nothing written");
        assert!(store.admin_claim_hash().unwrap().is_none(), "nothing stored");
    }
}
