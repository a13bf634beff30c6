//! [`DeviceListStore`] on sled, in two trees of their own:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `device_lists` | blind(account) | 1 ‖ sealed signed device list |
//! | `link_slots` | slot (32 bytes, derived from a link secret) | 1 ‖ expires_at ‖ blind(account) ‖ sealed data |
//!
//! Both values are sealed with the account's shredding key (a list names
//! the account and its devices), so deleting the account makes any copy
//! unreadable; [`SledStore::forget_device_data`] removes the live records.

use std::collections::BTreeSet;
use std::sync::Mutex;

use stadtbote_protocol::{AccountId, DeviceId};

use super::device_list::DeviceListStore;
use super::shred::Blind;
use super::sled_store::{SledStore, io};
use super::{OrgStore, Store, StoreError, records};

const LISTS: &str = "device_lists";
const SLOTS: &str = "link_slots";
const FORMAT: u8 = 1;

/// Serialises list replacements (read, compare, write); publishing is rare.
static LIST_WRITES: Mutex<()> = Mutex::new(());

impl SledStore {
    fn lists_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(LISTS).map_err(io)
    }

    fn slots_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(SLOTS).map_err(io)
    }

    /// Removes the account's list and link slots (account deletion).
    pub(super) fn forget_device_data(&self, blind: &Blind) -> Result<(), StoreError> {
        self.lists_tree()?.remove(blind.as_bytes()).map_err(io)?;
        let slots = self.slots_tree()?;
        let mut owned = Vec::new();
        for entry in slots.iter() {
            let (key, value) = entry.map_err(io)?;
            if value.get(9..41) == Some(blind.as_bytes().as_slice()) {
                owned.push(key);
            }
        }
        for key in owned {
            slots.remove(key).map_err(io)?;
        }
        Ok(())
    }

    /// Deletes expired link slots; returns how many.
    pub(super) fn sweep_link_slots(&self, now_ms: u64) -> Result<u64, StoreError> {
        let slots = self.slots_tree()?;
        let mut stale = Vec::new();
        for entry in slots.iter() {
            let (key, value) = entry.map_err(io)?;
            if slot_expiry(&value).is_none_or(|at| at <= now_ms) {
                stale.push(key);
            }
        }
        let mut deleted = 0;
        for key in stale {
            if slots.remove(key).map_err(io)?.is_some() {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

fn slot_expiry(value: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = value.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

impl DeviceListStore for SledStore {
    fn device_list(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        let blind = self.blind(account);
        let Some(value) = self.lists_tree()?.get(blind.as_bytes()).map_err(io)? else {
            return Ok(None);
        };
        let sealed = match value.split_first() {
            Some((&FORMAT, sealed)) => sealed,
            _ => return Err(StoreError::Corrupt(LISTS)),
        };
        let plain = self.keyring.open_sealed(&blind, LISTS, blind.as_bytes(), sealed)?;
        Ok(plain.map(|p| p.to_vec()))
    }

    fn replace_device_list(
        &self,
        account: &AccountId,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let _writes = LIST_WRITES.lock().unwrap_or_else(|e| e.into_inner());
        if !self.account_exists(account)? {
            return Err(StoreError::UnknownAccount);
        }
        if self.device_list(account)?.as_deref() != expected {
            return Ok(false);
        }
        let blind = self.blind(account);
        let sealed = self.keyring.seal(&blind, LISTS, blind.as_bytes(), new)?;
        let value = [&[FORMAT][..], &sealed].concat();
        self.lists_tree()?.insert(blind.as_bytes(), value).map_err(io)?;
        Ok(true)
    }

    fn remove_devices(&self, account: &AccountId, devices: &[DeviceId]) -> Result<u32, StoreError> {
        let blind = self.blind(account);
        let own: BTreeSet<DeviceId> = self.account_device_ids(account)?.into_iter().collect();
        let gone: BTreeSet<DeviceId> =
            devices.iter().filter(|d| own.contains(d)).copied().collect();
        if gone.is_empty() {
            return Ok(0);
        }
        // Group memberships stay: the other members' clients remove the
        // device from each MLS group with their next commit (the list no
        // longer holds it), and the server's member list follows that
        // commit. Until then envelopes for it expire unread.
        let orgs = self.orgs()?;
        for device in &gone {
            self.purge_mailbox(device)?;
            self.delete_key_packages(device)?;
            for (org, _) in &orgs {
                let staff_key = records::pair_key(org.as_bytes(), device.as_bytes());
                self.staff.remove(staff_key).map_err(io)?;
            }
            // The files know the device by its keyed id (`sled_ids`).
            let stored = self.sdev(device);
            self.devices.remove(stored.as_bytes()).map_err(io)?;
            self.account_devices
                .remove(&records::account_device_key(&blind, &stored)[..])
                .map_err(io)?;
        }
        let gone: Vec<DeviceId> = gone.into_iter().collect();
        self.forget_push_subscriptions(&gone)?;
        self.forget_devices(&gone);
        Ok(u32::try_from(gone.len()).unwrap_or(u32::MAX))
    }

    fn put_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        data: &[u8],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let blind = self.blind(account);
        let sealed = self.keyring.seal(&blind, SLOTS, slot, data)?;
        let value =
            [&[FORMAT][..], &expires_at_ms.to_be_bytes(), blind.as_bytes().as_slice(), &sealed]
                .concat();
        match self.slots_tree()?.compare_and_swap(slot, None::<&[u8]>, Some(value)).map_err(io)? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::InvalidCode),
        }
    }

    fn take_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let blind = self.blind(account);
        let slots = self.slots_tree()?;
        let Some(value) = slots.get(slot).map_err(io)? else { return Ok(None) };
        if value.first() != Some(&FORMAT) || value.len() < 41 {
            return Err(StoreError::Corrupt(SLOTS));
        }
        if value.get(9..41) != Some(blind.as_bytes().as_slice())
            || slot_expiry(&value).is_none_or(|at| at <= now_ms)
        {
            return Ok(None);
        }
        // Only one taker wins.
        if slots.compare_and_swap(slot, Some(&value), None::<&[u8]>).map_err(io)?.is_err() {
            return Ok(None);
        }
        let sealed = value.get(41..).unwrap_or_default();
        let plain = self.keyring.open_sealed(&blind, SLOTS, slot, sealed)?;
        Ok(plain.map(|p| p.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::auth::DeviceSecret;

    #[test]
    fn lists_replace_only_the_expected_version_and_slots_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let key = || DeviceSecret::generate().identity_key();
        let (anna, a1) = store.create_account(&key(), 1).unwrap();
        let (bernd, _) = store.create_account(&key(), 1).unwrap();
        assert_eq!(store.device_list(&anna).unwrap(), None);
        assert!(store.replace_device_list(&anna, None, b"v1").unwrap());
        assert!(!store.replace_device_list(&anna, None, b"v1'").unwrap());
        assert!(store.replace_device_list(&anna, Some(b"v1"), b"v2").unwrap());
        assert_eq!(store.device_list(&anna).unwrap().as_deref(), Some(&b"v2"[..]));

        store.put_link_slot(&[7; 32], &anna, b"request", 100).unwrap();
        assert!(store.put_link_slot(&[7; 32], &anna, b"other", 100).is_err());
        assert_eq!(store.take_link_slot(&[7; 32], &bernd, 50).unwrap(), None);
        assert_eq!(store.take_link_slot(&[7; 32], &anna, 50).unwrap().unwrap(), b"request");
        assert_eq!(store.take_link_slot(&[7; 32], &anna, 50).unwrap(), None);
        store.put_link_slot(&[8; 32], &anna, b"late", 100).unwrap();
        assert_eq!(store.take_link_slot(&[8; 32], &anna, 100).unwrap(), None);
        assert_eq!(store.sweep_link_slots(100).unwrap(), 1);

        // Removing a device: it is gone; another account's is untouched.
        let a2 = match store
            .create_link_code(&[1; 32], &anna, 100)
            .and_then(|()| store.redeem_link_code(&[1; 32], Some(&key()), 10))
        {
            Ok(crate::store::LinkOutcome::Linked { device, .. }) => device,
            other => panic!("{other:?}"),
        };
        let b1 = store.list_devices(&bernd).unwrap()[0].device;
        assert_eq!(store.remove_devices(&anna, &[a2, b1]).unwrap(), 1);
        assert!(store.device(&a2).unwrap().is_none());
        assert!(store.device(&a1).unwrap().is_some() && store.device(&b1).unwrap().is_some());

        store.put_link_slot(&[9; 32], &anna, b"x", 100).unwrap();
        store.delete_account(&anna).unwrap();
        assert!(store.lists_tree().unwrap().is_empty() && store.slots_tree().unwrap().is_empty());
    }
}
