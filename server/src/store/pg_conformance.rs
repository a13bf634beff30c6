//! The conformance suite ([`super::conformance`]) against the PostgreSQL
//! backend: one throwaway cluster per test process ([`super::pg_test`]),
//! one fresh database and keyring directory per store; backups taken with
//! [`super::BackupStore::export_trees`] and restored with
//! [`super::PgImporter`] into another fresh database. Without PostgreSQL
//! each test prints `SKIPPED:` and passes (fails under `CI=true`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::conformance::{self, Backend, Fixture};
use super::logical::RecordImporter;
use super::pg_test::TestPg;
use super::sled_backup::TreeVisitor;
use super::{PgImporter, PgOptions, PgStore};

/// The cluster shared by this process's tests.
pub(crate) fn cluster() -> Option<&'static TestPg> {
    static CLUSTER: OnceLock<Option<TestPg>> = OnceLock::new();
    CLUSTER.get_or_init(TestPg::start).as_ref()
}

/// Pool settings for tests.
pub(crate) fn options(url: String) -> PgOptions {
    PgOptions {
        url,
        pool_size: 8,
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(20),
        send_batch: super::pg_send_batch::SendBatchOptions::default(),
    }
}

/// What keeps a PostgreSQL fixture alive: its keyring directory and its
/// database's connection string.
struct Guard {
    dir: tempfile::TempDir,
    url: String,
}

struct Pg(&'static TestPg);

impl Pg {
    fn store(&self) -> (PgStore, Guard) {
        let url = self.0.create_database();
        let dir = tempfile::tempdir().expect("temporary directory");
        let store =
            PgStore::open(&options(url.clone()), dir.path()).expect("open the PostgreSQL store");
        (store, Guard { dir, url })
    }
}

#[derive(Default)]
struct Collect(Vec<(Vec<u8>, super::pg_kv::Records)>);

impl TreeVisitor for Collect {
    fn tree(&mut self, name: &[u8]) -> std::io::Result<()> {
        self.0.push((name.to_vec(), Vec::new()));
        Ok(())
    }
    fn entry(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        if let Some((_, entries)) = self.0.last_mut() {
            entries.push((key.to_vec(), value.to_vec()));
        }
        Ok(())
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a key file");
        }
    }
}

impl Backend for Pg {
    fn fresh(&self) -> Fixture {
        let (store, guard) = self.store();
        Fixture { store: Arc::new(store), guard: Box::new(guard) }
    }

    fn backup_and_restore(&self, source: Fixture) -> Fixture {
        let Fixture { store, guard } = source;
        let mut collected = Collect::default();
        store.export_trees(&mut collected).expect("export");
        drop(store);
        let guard = guard.downcast::<Guard>().expect("a PostgreSQL fixture");
        let url = self.0.create_database();
        let mut importer: Box<dyn RecordImporter> =
            Box::new(PgImporter::create(&options(url.clone())).expect("importer"));
        for (name, entries) in &collected.0 {
            importer.collection(name).expect("collection");
            for (k, v) in entries {
                importer.insert(k, v).expect("insert");
            }
        }
        importer.finish().expect("finish the import");
        // The keyring travels with the backup (as `keys/` of a data dir).
        let dir = tempfile::tempdir().expect("temporary directory");
        copy_dir(&guard.dir.path().join("keys"), &dir.path().join("keys"));
        let restored = PgStore::open(&options(url.clone()), dir.path()).expect("open restored");
        Fixture { store: Arc::new(restored), guard: Box::new((Guard { dir, url }, guard)) }
    }

    fn persisted_bytes(&self, fixture: Fixture) -> Vec<Vec<u8>> {
        let Fixture { store, guard } = fixture;
        drop(store);
        let guard = guard.downcast::<Guard>().expect("a PostgreSQL fixture");
        // Everything PostgreSQL wrote of this database (tables, WAL, its
        // log) and the keyring directory.
        self.0.sql("postgres", "CHECKPOINT");
        let db = guard.url.rsplit("dbname=").next().unwrap_or("postgres");
        let mut out = self.0.database_bytes(db);
        let mut stack = vec![guard.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read directory").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(std::fs::read(&path).expect("read a key file"));
                }
            }
        }
        out
    }
}

macro_rules! pg_conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(pg) = cluster() {
                    conformance::$name(&Pg(pg));
                }
            }
        )*
    };
}

pg_conformance!(
    accounts_devices_and_key_packages,
    one_commit_per_epoch_under_concurrency,
    commit_rules,
    mailbox_send_fetch_ack_redelivery,
    sweep_and_expiry,
    deletion_leaves_nothing_readable,
    backup_round_trip,
);

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let Some(pg) = cluster() else { return };
    let url = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    drop(PgStore::open(&options(url.clone()), dir.path()).unwrap());
    let db = url.rsplit("dbname=").next().unwrap().to_string();
    pg.sql(
        &db,
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
         VALUES (999, 'future', now()::text, '0')",
    );
    let err = PgStore::open(&options(url), dir.path()).unwrap_err();
    assert!(err.to_string().contains("999") || err.to_string().contains("unsupported"), "{err}");
}

#[test]
fn a_stopped_database_is_storage_unavailable_and_the_store_recovers() {
    let Some(_) = super::pg_test::pg_bin_dir() else {
        let _ = TestPg::start();
        return;
    };
    let Some(pg) = TestPg::start() else { return };
    let url = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    let store = PgStore::open(&options(url), dir.path()).unwrap();
    let key = stadtbote_protocol::auth::DeviceSecret::generate().identity_key();
    let (account, _) = super::Store::create_account(&store, &key, 1).unwrap();
    super::Store::flush(&store).unwrap();
    pg.stop_server();
    let err = super::Store::list_devices(&store, &account).unwrap_err();
    assert!(err.is_storage_failure(), "{err:?}");
    assert!(super::Store::flush(&store).unwrap_err().is_storage_failure());
    assert!(super::Store::readiness(&store).is_err());
    pg.start_server();
    // The pool reconnects by itself.
    let mut answered = None;
    for _ in 0..50 {
        match super::Store::list_devices(&store, &account) {
            Ok(devices) => {
                answered = Some(devices);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    assert_eq!(answered.map(|d| d.len()), Some(1));
    // Readiness may run on another pooled connection that still has to find
    // out it is dead (it is replaced on that failure), so it is polled too,
    // as a readiness probe would be.
    let ready = (0..50).any(|_| {
        let ok = super::Store::readiness(&store).is_ok();
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(ready, "the store is ready again once the database is back");
}
