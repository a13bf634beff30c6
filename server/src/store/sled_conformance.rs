//! The conformance suite ([`super::conformance`]) against the sled backend:
//! every store in its own temporary data directory; backups taken and
//! restored with the same functions `stadtbote-server backup` and
//! `restore` use.

use std::sync::Arc;

use super::SledStore;
use super::conformance::{Backend, Fixture, conformance_suite};
use crate::backup::create::{complete, snapshot};
use crate::backup::restore::{open_when_released, restore};

/// The data directory inside a fixture's temporary directory.
const DATA: &str = "data";

struct Sled;

impl Backend for Sled {
    fn fresh(&self) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SledStore::open(&dir.path().join(DATA)).expect("open sled store");
        Fixture { store: Arc::new(store), guard: Box::new(dir) }
    }

    fn backup_and_restore(&self, source: Fixture) -> Fixture {
        let Fixture { store, guard } = source;
        let dir = guard.downcast::<tempfile::TempDir>().expect("a sled fixture");
        let data = dir.path().join(DATA);
        let out = tempfile::tempdir().expect("temporary directory");
        let plain = out.path().join("backup.plain");
        let pending = snapshot(store.as_ref(), &data, &plain, &out.path().join("files"), 5)
            .expect("backup snapshot");
        drop(store);
        let (file, _) =
            complete(pending, &plain, &out.path().join("backup.age"), &[]).expect("backup");
        let target = tempfile::tempdir().expect("temporary directory");
        restore(&file, &target.path().join(DATA), false, None).expect("restore");
        let restored = open_when_released(&target.path().join(DATA)).expect("open restored");
        Fixture { store: Arc::new(restored), guard: Box::new((target, dir, out)) }
    }

    fn persisted_bytes(&self, fixture: Fixture) -> Vec<Vec<u8>> {
        let Fixture { store, guard } = fixture;
        drop(store);
        let dir = guard.downcast::<tempfile::TempDir>().expect("a sled fixture");
        let mut out = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read the data directory") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(std::fs::read(&path).expect("read a data file"));
                }
            }
        }
        out
    }
}

conformance_suite!(Sled);
