//! How the database and the envelope log name devices and groups: never by
//! their ids, always by ids keyed with the pepper ([`Keyring::device`],
//! [`Keyring::group`]).
//!
//! A device id (or a 1:1 conversation id, which follows from the two
//! account ids) written to sled or to an envelope-log segment stays in the
//! files after it is deleted — sled keeps old values in its log until it
//! compacts, the log keeps records until their segment goes. Keyed ids
//! leave nothing to erase: without the pepper a stored id cannot be
//! checked against a candidate id. The store translates at its boundary:
//! every [`super::Store`] method takes and returns real ids, and the
//! internal operations work on stored ids only.
//!
//! Two things need the way back, and get it without storing ids unkeyed:
//!
//! * Stored device id → device id (the recipients to wake after a send):
//!   `account_devices` values hold the device id sealed with the account's
//!   key, and an in-memory map (one entry per device, built when the store
//!   opens) answers the lookups. A deleted account's entries become
//!   unreadable with its key.
//! * Stored group id → group id (`account export` lists the conversations):
//!   the `group_ids` tree holds it sealed under a key derived from the
//!   pepper, deleted with the group.
//!
//! A data directory written before ids were keyed has no `meta/ids` marker
//! and is refused (see [`check_marker`]).

use std::collections::HashMap;

use stadtbote_protocol::{DeviceId, GroupId};

use super::sled_store::{SledStore, io};
use super::{StorageError, StoreError};

/// `meta` key marking a database whose device and group ids are keyed.
pub(super) const IDS_MARKER: &[u8] = b"ids";
/// The marker's value: version 1 of the keying ([`super::shred`]).
pub(super) const IDS_VERSION: u8 = 1;

/// Tree name of the sealed group ids.
pub(super) const GROUP_IDS_TREE: &str = "group_ids";
/// Tree name of the sealed device ids (values of `account_devices`).
pub(super) const ACCOUNT_DEVICES_TREE: &str = "account_devices";

/// Checks the `meta/ids` marker of an existing database, or writes it into
/// a new one.
pub(super) fn check_marker(meta: &sled::Tree, fresh: bool) -> Result<(), StoreError> {
    if fresh {
        meta.insert(IDS_MARKER, &[IDS_VERSION]).map_err(io)?;
        return Ok(());
    }
    match meta.get(IDS_MARKER).map_err(io)? {
        Some(v) if v.as_ref() == [IDS_VERSION] => Ok(()),
        Some(v) => Err(StorageError::UnsupportedIdKeying(v.first().copied().unwrap_or(0)).into()),
        None => Err(StorageError::UnkeyedIds.into()),
    }
}

/// Stored device id → device id, for the devices of existing accounts.
#[derive(Default)]
pub(super) struct DeviceNames(std::sync::RwLock<HashMap<DeviceId, DeviceId>>);

impl DeviceNames {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<DeviceId, DeviceId>> {
        // The map only mirrors sled; a panic elsewhere cannot leave it
        // half-updated in a way that matters.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<DeviceId, DeviceId>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl SledStore {
    /// The id under which the files know `device`.
    pub(super) fn sdev(&self, device: &DeviceId) -> DeviceId {
        self.keyring.device(device)
    }

    /// The ids under which the files know `devices`.
    pub(super) fn sdevs(&self, devices: &[DeviceId]) -> Vec<DeviceId> {
        devices.iter().map(|d| self.sdev(d)).collect()
    }

    /// The id under which the files know `group`.
    pub(super) fn sgroup(&self, group: &GroupId) -> GroupId {
        self.keyring.group(group)
    }

    /// The device behind a stored device id; `None` for a device of a
    /// deleted account.
    pub(super) fn raw_device(&self, stored: &DeviceId) -> Option<DeviceId> {
        self.device_names.read().get(stored).copied()
    }

    /// The devices behind stored ids, in order, leaving out unknown ones.
    pub(super) fn raw_devices(&self, stored: &[DeviceId]) -> Vec<DeviceId> {
        let names = self.device_names.read();
        stored.iter().filter_map(|s| names.get(s).copied()).collect()
    }

    /// Records that `device` exists (after its transaction committed).
    pub(super) fn remember_device(&self, device: &DeviceId) {
        self.device_names.write().insert(self.sdev(device), *device);
    }

    /// Forgets deleted devices.
    pub(super) fn forget_devices(&self, devices: &[DeviceId]) {
        let mut names = self.device_names.write();
        for device in devices {
            names.remove(&self.sdev(device));
        }
    }

    /// Fills the map from `account_devices` when the store opens. Entries
    /// whose account key is gone (deleted accounts) are skipped.
    pub(super) fn load_device_names(&self) -> Result<(), StoreError> {
        let mut names = HashMap::new();
        for entry in self.account_devices.iter() {
            let (key, value) = entry.map_err(io)?;
            let (Some(blind), Some(stored)) = (key.get(..32), key.get(32..)) else {
                return Err(StoreError::corrupt(ACCOUNT_DEVICES_TREE));
            };
            let blind = super::shred::Blind(
                blind.try_into().map_err(|_| StoreError::corrupt(ACCOUNT_DEVICES_TREE))?,
            );
            let stored = DeviceId::from_slice(stored)
                .map_err(|_| StoreError::corrupt(ACCOUNT_DEVICES_TREE))?;
            let Some(plain) =
                self.keyring.open_sealed(&blind, ACCOUNT_DEVICES_TREE, &key, &value)?
            else {
                continue;
            };
            let device = DeviceId::from_slice(&plain)
                .map_err(|_| StoreError::corrupt(ACCOUNT_DEVICES_TREE))?;
            if self.sdev(&device) != stored {
                return Err(StoreError::corrupt(ACCOUNT_DEVICES_TREE));
            }
            names.insert(stored, device);
        }
        *self.device_names.write() = names;
        Ok(())
    }

    /// Keeps the sealed id of a group, unless it is there already.
    pub(super) fn remember_group(&self, group: &GroupId) -> Result<(), StoreError> {
        let stored = self.sgroup(group);
        if self.group_ids.contains_key(stored.as_bytes()).map_err(io)? {
            return Ok(());
        }
        let sealed = self.keyring.seal_group(group, GROUP_IDS_TREE, stored.as_bytes())?;
        self.group_ids.insert(stored.as_bytes(), sealed).map_err(io)?;
        Ok(())
    }

    /// The group behind a stored group id, if its sealed id is kept.
    pub(super) fn raw_group(&self, stored: &GroupId) -> Result<Option<GroupId>, StoreError> {
        match self.group_ids.get(stored.as_bytes()).map_err(io)? {
            Some(sealed) => Ok(Some(self.keyring.open_group(
                stored,
                &sealed,
                GROUP_IDS_TREE,
                stored.as_bytes(),
            )?)),
            None => Ok(None),
        }
    }

    /// Deletes the sealed id of a deleted group (by its stored id).
    pub(super) fn forget_group_id(&self, stored: &GroupId) -> Result<(), StoreError> {
        self.group_ids.remove(stored.as_bytes()).map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use stadtbote_protocol::auth::DeviceSecret;

    #[test]
    fn a_database_with_unkeyed_ids_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path()).unwrap());
        {
            let db = super::super::sled_store::open_db(&dir.path().join("db")).unwrap();
            db.open_tree("meta").unwrap().remove(IDS_MARKER).unwrap();
            db.flush().unwrap();
        }
        let err = super::super::sled_store::reopen_error(dir.path(), |e| {
            matches!(e, StoreError::Storage(StorageError::UnkeyedIds))
        });
        assert!(matches!(err, StoreError::Storage(StorageError::UnkeyedIds)), "{err:?}");
        assert!(err.to_string().contains("unkeyed"), "{err}");
    }

    #[test]
    fn devices_are_found_again_after_a_restart_and_forgotten_with_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let key = || DeviceSecret::generate().identity_key();
        let (anna, a, b) = {
            let store = SledStore::open(dir.path()).unwrap();
            let (anna, a) = store.create_account(&key(), 1).unwrap();
            let (_, b) = store.create_account(&key(), 1).unwrap();
            (anna, a, b)
        };
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.raw_device(&store.sdev(&a)), Some(a));
        assert_eq!(store.raw_devices(&[store.sdev(&b), store.sdev(&a)]), vec![b, a]);
        assert_ne!(store.sdev(&a), a, "stored ids are not the ids");
        store.delete_account(&anna).unwrap();
        assert_eq!(store.raw_device(&store.sdev(&a)), None);
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.raw_device(&store.sdev(&a)), None);
        assert_eq!(store.raw_device(&store.sdev(&b)), Some(b));
    }
}
