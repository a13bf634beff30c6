//! Export and import of the backup's logical collections
//! ([`super::logical`]) on sled, where each collection is the tree of the
//! same name (see `crate::backup`).
//!
//! The export walks `Db::tree_names()` rather than a list of the trees the
//! store knows, so a tree added later (or by another module) is backed up
//! without anyone remembering to add it here. It is consistent only while no
//! one writes: the relay holds its write gate exclusively around it.

use std::io;
use std::path::Path;

use super::logical::RecordImporter;
use super::{SledStore, StoreError};

/// Name of the sled database directory inside the data directory.
pub const DB_DIR: &str = "db";

/// Entries written per sled batch while importing; large enough to amortise
/// the batch overhead, small enough to keep the batch's memory modest.
const IMPORT_BATCH: usize = 1024;

/// Receives the collections ([`super::logical::COLLECTIONS`]) and records
/// of an export, in order: a collection, then its records, then the next.
/// (Named after sled's trees, which hold one collection each.)
pub trait TreeVisitor {
    /// A new collection begins.
    fn tree(&mut self, name: &[u8]) -> io::Result<()>;
    /// One record of the current collection.
    fn entry(&mut self, key: &[u8], value: &[u8]) -> io::Result<()>;
}

/// Stores that can hand out all of their data for a backup, in the
/// logical format of [`super::logical`].
pub trait BackupStore {
    /// Visits every collection and every record, queued envelopes included
    /// (in the envelope collections' layout). The caller makes sure nothing
    /// writes meanwhile; the visitor's I/O errors end the export.
    fn export_trees(&self, visitor: &mut dyn TreeVisitor) -> Result<(), StoreError>;
}

impl BackupStore for SledStore {
    fn export_trees(&self, visitor: &mut dyn TreeVisitor) -> Result<(), StoreError> {
        let mut names = self.db.tree_names();
        // A stable order makes two backups of the same data identical.
        names.sort();
        for name in names {
            // Envelopes are in the envelope log; they are written below in
            // these trees' layout instead.
            if super::sled_envelopes::is_legacy_tree(&name) {
                continue;
            }
            let tree = self.db.open_tree(&name).map_err(StoreError::unavailable)?;
            visitor.tree(&name).map_err(StoreError::unavailable)?;
            for item in tree.iter() {
                let (key, value) = item.map_err(StoreError::unavailable)?;
                visitor.entry(&key, &value).map_err(StoreError::unavailable)?;
            }
        }
        self.export_envelopes(visitor)
    }
}

/// Writes collections into a new, empty sled database (a restore), each
/// into the tree of its name. Nothing else may have the database open.
/// Unlike a backend with a fixed table per collection, sled places a
/// collection it does not know as well (a tree of that name), as it
/// always did.
pub struct SledImporter {
    db: sled::Db,
    tree: Option<(sled::Tree, sled::Batch, usize)>,
}

impl SledImporter {
    /// Creates the database in `<data_dir>/db`.
    pub fn create(data_dir: &Path) -> Result<Self, StoreError> {
        let db = super::sled_store::open_db(&data_dir.join(DB_DIR))?;
        Ok(Self { db, tree: None })
    }

    /// Starts writing tree `name`.
    pub fn tree(&mut self, name: &[u8]) -> Result<(), StoreError> {
        self.apply_pending()?;
        let tree = self.db.open_tree(name).map_err(StoreError::unavailable)?;
        self.tree = Some((tree, sled::Batch::default(), 0));
        Ok(())
    }

    /// Inserts one entry into the current tree.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let Some((_, batch, pending)) = self.tree.as_mut() else {
            return Err(StoreError::corrupt("backup entry outside a tree"));
        };
        batch.insert(key, value);
        *pending += 1;
        if *pending >= IMPORT_BATCH {
            self.apply_pending()?;
        }
        Ok(())
    }

    fn apply_pending(&mut self) -> Result<(), StoreError> {
        if let Some((tree, batch, pending)) = self.tree.as_mut()
            && *pending > 0
        {
            tree.apply_batch(std::mem::take(batch)).map_err(StoreError::unavailable)?;
            *pending = 0;
        }
        Ok(())
    }

    /// Writes what is pending and flushes everything to disk.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.apply_pending()?;
        self.db.flush().map_err(StoreError::unavailable)?;
        Ok(())
    }
}

impl RecordImporter for SledImporter {
    fn collection(&mut self, name: &[u8]) -> Result<(), StoreError> {
        self.tree(name)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        SledImporter::insert(self, key, value)
    }

    fn finish(self: Box<Self>) -> Result<(), StoreError> {
        SledImporter::finish(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::logical;
    use stadtbote_protocol::DeviceId;

    /// A tree the logical format does not list would be backed up, but no
    /// other backend could restore it: every tree sled opens must be a
    /// collection of [`logical::COLLECTIONS`].
    #[test]
    fn every_sled_tree_is_a_logical_collection() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        // Trees opened on first use.
        use crate::store::DeviceListStore;
        let account = stadtbote_protocol::AccountId([1; 16]);
        let _ = store.device_list(&account);
        let _ = store.take_link_slot(&[0; 32], &account, 0);
        let _ = crate::store::PushStore::push_subscription(&store, &DeviceId([1; 16]));
        let mut names = store.db.tree_names();
        names
            .extend(super::super::sled_envelopes::LEGACY_TREES.iter().map(|n| n.as_bytes().into()));
        for name in names {
            assert!(
                logical::collection(&name).is_some(),
                "sled tree {:?} is not in store::logical::COLLECTIONS",
                String::from_utf8_lossy(&name)
            );
        }
    }
}
