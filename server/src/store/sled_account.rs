//! A citizen's rights on sled: the export of everything stored about an
//! account (GDPR Art. 15) and its deletion (Art. 17), behind
//! [`super::Store::account_export`] and [`super::Store::delete_account`].
//!
//! Both scan trees that are not indexed by account (groups, blobs, link
//! codes): they are rare requests of one account, never on a hot path.
//! Deletion follows the backend-neutral rule ([`super::rules::deletion`]:
//! what goes and in which order); this module implements its steps on
//! sled. It removes the live records and then destroys the account's
//! shredding key ([`super::shred`]) so that copies lingering in sled's old
//! log segments cannot be read either.

use std::collections::BTreeSet;

use sled::Transactional;
use stadtbote_protocol::account::AccountExport;
use stadtbote_protocol::{AccountId, BlobId, DeviceId, GroupId, OrgId};

use super::records::{self, GroupRecord};
use super::rules::{self, deletion::DeletionSteps};
use super::shred::Blind;
use super::sled_store::{SledStore, abort, io, tx_error};
use super::{AccountDeletion, BlobRecord, OrgStore, Store, StoreError};

impl SledStore {
    /// When the account was created, or [`StoreError::UnknownAccount`].
    fn account_created_at(&self, blind: &Blind) -> Result<u64, StoreError> {
        match self.accounts.get(blind.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_u64(&bytes, "accounts"),
            None => Err(StoreError::UnknownAccount),
        }
    }

    /// Envelopes queued for `device` and their payload bytes.
    fn mailbox_size(&self, device: &DeviceId) -> Result<(u64, u64), StoreError> {
        Ok(self.log.mailbox_size(&self.sdev(device)))
    }

    /// Groups with at least one of `devices` (stored ids) as a member, by
    /// stored id, with their records.
    fn groups_with(
        &self,
        devices: &BTreeSet<DeviceId>,
    ) -> Result<Vec<(GroupId, GroupRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.groups.iter() {
            let (key, value) = entry.map_err(io)?;
            let record = records::decode_group(&value)?;
            if record.members.iter().any(|d| devices.contains(d)) {
                let group = GroupId::from_slice(&key).map_err(|_| StoreError::corrupt("groups"))?;
                out.push((group, record));
            }
        }
        Ok(out)
    }

    /// The account's uploads with their stored records.
    fn blobs_of(&self, blind: &Blind) -> Result<Vec<(BlobId, records::StoredBlob)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.blobs.iter() {
            let (key, value) = entry.map_err(io)?;
            let stored = records::decode_blob(&value)?;
            if stored.owner.blind == *blind {
                let blob = BlobId::from_slice(&key).map_err(|_| StoreError::corrupt("blobs"))?;
                out.push((blob, stored));
            }
        }
        Ok(out)
    }

    /// Hashes of the account's link codes with their expiry.
    fn link_codes_of(&self, blind: &Blind) -> Result<Vec<(sled::IVec, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.link_codes.iter() {
            let (key, value) = entry.map_err(io)?;
            let record = records::decode_link_code(&value)?;
            if record.owner.blind == *blind {
                out.push((key, record.expires_at));
            }
        }
        Ok(out)
    }

    pub(super) fn account_export_impl(
        &self,
        account: &AccountId,
        now_ms: u64,
    ) -> Result<AccountExport, StoreError> {
        rules::export::account_export(self, account, now_ms)
    }

    /// Removes `devices` (stored ids) from every group they are in. Groups left without
    /// members are deleted with their join link; their queued envelopes
    /// were only for these devices and go with the mailboxes.
    fn leave_groups_stored(&self, devices: &BTreeSet<DeviceId>) -> Result<(), StoreError> {
        for (group, _) in self.groups_with(devices)? {
            // Under the envelope-ordering lock, which every change of a
            // group's record holds: re-read, since a commit may have changed
            // the members since the scan.
            let _order = self.lock_message_order();
            let Some(bytes) = self.groups.get(group.as_bytes()).map_err(io)? else { continue };
            let mut record = records::decode_group(&bytes)?;
            record.members.retain(|d| !devices.contains(d));
            if record.members.is_empty() {
                self.forget_group(&group)?;
            } else {
                self.groups.insert(group.as_bytes(), records::encode_group(&record)).map_err(io)?;
            }
        }
        Ok(())
    }

    /// Deletes the device's KeyPackages; returns how many there were.
    pub(super) fn delete_key_packages(&self, device: &DeviceId) -> Result<u32, StoreError> {
        let device = &self.sdev(device);
        let mut deleted = 0u32;
        for key in self.keypackages.scan_prefix(device.as_bytes()).keys() {
            if self.keypackages.remove(key.map_err(io)?).map_err(io)?.is_some() {
                deleted = deleted.saturating_add(1);
            }
        }
        self.kp_count.remove(device.as_bytes()).map_err(io)?;
        if self.last_resort.remove(device.as_bytes()).map_err(io)?.is_some() {
            deleted = deleted.saturating_add(1);
        }
        Ok(deleted)
    }

    pub(super) fn delete_account_impl(
        &self,
        account: &AccountId,
    ) -> Result<AccountDeletion, StoreError> {
        rules::deletion::delete_account(self, account)
    }
}

/// What the account export reads on sled.
impl rules::export::ExportReads for SledStore {
    fn export_created_at(&self, account: &AccountId) -> Result<u64, StoreError> {
        self.account_created_at(&self.blind(account))
    }

    fn export_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError> {
        self.account_device_ids(account)
    }

    fn export_queued(&self, device: &DeviceId) -> Result<(u64, u64), StoreError> {
        self.mailbox_size(device)
    }

    fn export_is_staff(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError> {
        let staff_key = records::pair_key(org.as_bytes(), device.as_bytes());
        self.staff.contains_key(staff_key).map_err(io)
    }

    fn export_groups(&self, devices: &[DeviceId]) -> Result<Vec<GroupId>, StoreError> {
        let device_set: BTreeSet<DeviceId> = devices.iter().map(|d| self.sdev(d)).collect();
        let mut groups = Vec::new();
        for (stored, _) in self.groups_with(&device_set)? {
            // Groups created before their id was kept sealed cannot be
            // named; they are still counted by their members' deletion.
            if let Some(group) = self.raw_group(&stored)? {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    fn export_blobs(&self, account: &AccountId) -> Result<Vec<(BlobId, BlobRecord)>, StoreError> {
        Ok(self
            .blobs_of(&self.blind(account))?
            .into_iter()
            .map(|(blob, stored)| (blob, stored.record))
            .collect())
    }

    fn export_link_code_expiries(&self, account: &AccountId) -> Result<Vec<u64>, StoreError> {
        Ok(self.link_codes_of(&self.blind(account))?.into_iter().map(|(_, at)| at).collect())
    }
}

/// sled's steps of an account deletion; the order is the rule's
/// ([`rules::deletion`]).
impl DeletionSteps for SledStore {
    fn account_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError> {
        self.account_created_at(&self.blind(account))?;
        self.account_device_ids(account)
    }

    fn holds_admin_role(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.is_admin(device)?
            || self.orgs()?.iter().any(|(_, o)| o.admin_device == Some(*device)))
    }

    fn leave_groups(&self, devices: &[DeviceId]) -> Result<(), StoreError> {
        let stored: BTreeSet<DeviceId> = devices.iter().map(|d| self.sdev(d)).collect();
        self.leave_groups_stored(&stored)
    }

    fn purge_device(&self, device: &DeviceId) -> Result<(u64, u32), StoreError> {
        let envelopes = u64::from(self.purge_mailbox(device)?);
        let key_packages = self.delete_key_packages(device)?;
        // Staff enrolments and revocation entries name the device only,
        // but serve no one once it is gone.
        for (org, _) in &self.orgs()? {
            let staff_key = records::pair_key(org.as_bytes(), device.as_bytes());
            self.staff.remove(staff_key).map_err(io)?;
        }
        self.revoked.remove(device.as_bytes()).map_err(io)?;
        Ok((envelopes, key_packages))
    }

    fn delete_account_records(
        &self,
        account: &AccountId,
        ids: &[DeviceId],
    ) -> Result<Vec<BlobId>, StoreError> {
        let blind = self.blind(account);
        let devices: BTreeSet<DeviceId> = ids.iter().map(|d| self.sdev(d)).collect();
        self.forget_device_data(&blind)?;
        self.forget_push_subscriptions(ids)?;
        for (code, _) in self.link_codes_of(&blind)? {
            self.link_codes.remove(code).map_err(io)?;
        }
        let mut blobs = Vec::new();
        for (blob, _) in self.blobs_of(&blind)? {
            (&self.blobs, &self.blob_usage, &self.blob_expiry)
                .transaction(|(blobs, usage, expiry)| {
                    Self::tx_delete_blob(blobs, usage, expiry, &blob)
                })
                .map_err(tx_error)?;
            blobs.push(blob);
        }
        (&self.accounts, &self.devices, &self.account_devices, &self.blob_usage)
            .transaction(|(accounts, device_tree, account_devices, usage)| {
                if accounts.remove(blind.as_bytes())?.is_none() {
                    // Deleted concurrently by another connection.
                    return abort(StoreError::UnknownAccount);
                }
                for device in &devices {
                    device_tree.remove(device.as_bytes())?;
                    account_devices.remove(&records::account_device_key(&blind, device)[..])?;
                }
                usage.remove(blind.as_bytes())?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(blobs)
    }

    fn make_durable(&self) -> Result<(), StoreError> {
        self.flush()
    }

    fn destroy_shredding_key(
        &self,
        account: &AccountId,
        devices: &[DeviceId],
    ) -> Result<(), StoreError> {
        self.keyring.destroy_key(&self.blind(account))?;
        self.forget_devices(devices);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BlobStore, CommitInput};
    use stadtbote_protocol::auth::DeviceSecret;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Every byte of every file below `dir`.
    fn all_files(dir: &std::path::Path) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn export_lists_and_delete_shreds_everything_of_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = SledStore::open(&data).unwrap();
        let key = || DeviceSecret::generate().identity_key();
        let (anna, a) = store.create_account(&key(), 5).unwrap();
        let (bernd_account, b) = store.create_account(&key(), 6).unwrap();
        // A KeyPackage embeds the raw account id (its MLS credential).
        let mut package = b"kp-".to_vec();
        package.extend_from_slice(anna.as_bytes());
        store.upload_key_packages(&a, &[&package], Some(&package), 10).unwrap();
        store.create_link_code(&[3; 32], &anna, u64::MAX).unwrap();
        let blob = BlobId([4; 16]);
        let upload = BlobRecord {
            owner: anna,
            size: 10,
            chunk_size: 10,
            chunks_received: 0,
            complete: false,
            created_at: 1,
            expires_at: 100,
            charged: 10,
        };
        store.create_blob(&blob, &upload, 1000).unwrap();
        let group = GroupId([9; 16]);
        let welcome: &[u8] = b"w";
        let input = CommitInput {
            group: &group,
            caller: &a,
            epoch: 0,
            commit: b"c",
            add: &[b],
            remove: &[],
            welcome: Some(welcome),
            now_ms: 1,
            expires_at_ms: u64::MAX,
            max_members: 10,
            may_create: true,
        };
        store.commit(input).unwrap();
        store.send(&group, &b, b"hello anna", 1, u64::MAX).unwrap();

        let export = store.account_export(&anna, 1).unwrap();
        assert_eq!(export.created_at, 5);
        assert_eq!(export.devices.len(), 1);
        assert_eq!(export.devices[0].key_packages, 1);
        assert!(export.devices[0].last_resort_key_package);
        assert_eq!(export.devices[0].queued_envelopes, 1);
        assert_eq!(export.groups, vec![group]);
        assert_eq!(export.blobs.len(), 1);
        assert_eq!(export.blob_usage_bytes, 10);
        assert_eq!(export.pending_link_codes, 1);

        let deleted = store.delete_account(&anna).unwrap();
        assert_eq!(deleted.devices, vec![a]);
        assert_eq!((deleted.envelopes, deleted.key_packages), (1, 2));
        assert_eq!(deleted.blobs, vec![blob]);
        assert!(store.device(&a).unwrap().is_none());
        assert!(matches!(store.account_export(&anna, 1), Err(StoreError::UnknownAccount)));
        assert!(matches!(store.delete_account(&anna), Err(StoreError::UnknownAccount)));
        // Bernd's side works on: the group goes on without Anna.
        store.send(&group, &b, b"still here", 1, u64::MAX).unwrap();
        assert!(store.account_export(&bernd_account, 1).unwrap().groups == vec![group]);
        drop(store);

        // Neither the live database nor its old segments (nor the envelope
        // log) name Anna, her device or her group: those are stored keyed.
        for bytes in all_files(&data) {
            assert!(!contains(&bytes, anna.as_bytes()), "raw account id on disk");
            assert!(!contains(&bytes, a.as_bytes()), "raw device id on disk");
            assert!(!contains(&bytes, group.as_bytes()), "raw group id on disk");
        }
        // Reopening works and still knows nothing of her.
        let store = SledStore::open(&data).unwrap();
        assert!(matches!(store.account_export(&anna, 1), Err(StoreError::UnknownAccount)));
        assert!(store.device(&b).unwrap().is_some());
    }

    #[test]
    fn an_admin_account_cannot_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let (account, device) =
            store.create_account(&DeviceSecret::generate().identity_key(), 1).unwrap();
        store.admins.insert(device.as_bytes(), records::encode_u64(1)).unwrap();
        assert!(matches!(store.delete_account(&account), Err(StoreError::AdminRoleHeld)));
        assert!(store.device(&device).unwrap().is_some());
    }

    #[test]
    fn an_older_schema_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path()).unwrap());
        {
            let db = super::super::sled_store::open_db(&dir.path().join("db")).unwrap();
            db.open_tree("meta").unwrap().insert(b"schema", &[1]).unwrap();
            db.flush().unwrap();
        }
        let err = super::super::sled_store::reopen_error(dir.path(), |e| {
            matches!(e, StoreError::Storage(crate::store::StorageError::OutdatedSchema { .. }))
        });
        assert!(
            matches!(
                err,
                StoreError::Storage(crate::store::StorageError::OutdatedSchema {
                    found: 1,
                    current: 2
                })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not migrated"), "{err}");
    }
}
