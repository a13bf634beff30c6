//! Account export and deletion on PostgreSQL: the reads of
//! [`rules::export`] and the steps of [`rules::deletion`] (whose order is
//! the rule) as SQL. Deleting deletes
//! rows; what lingers of them in the WAL and in dead tuples until VACUUM is
//! sealed with the account's shredding key, destroyed last
//! (docs/PRIVACY.md, "PostgreSQL store").

use std::collections::BTreeSet;

use stadtbote_protocol::account::AccountExport;
use stadtbote_protocol::{AccountId, BlobId, DeviceId, GroupId, OrgId};

use super::pg_org::{REVOKED, STAFF};
use super::pg_pool::pg_error;
use super::pg_store::{PgStore, ack_tx, unbig};
use super::rules::{self, deletion::DeletionSteps};
use super::{BlobRecord, OrgStore, Store, StoreError, records};

/// Sealing context of group ids (as sled's tree name).
const GROUP_IDS: &str = "group_ids";

impl PgStore {
    fn account_created_at(&self, account: &AccountId) -> Result<u64, StoreError> {
        let blind = self.keyring.blind(account);
        self.pool.run(move |c| {
            let row = c
                .query_opt(
                    "SELECT created_at FROM accounts WHERE blind = $1",
                    &[&blind.as_bytes().as_slice()],
                )
                .map_err(pg_error)?;
            row.map(|r| unbig(r.get(0))).ok_or(StoreError::UnknownAccount)
        })
    }

    /// The account's device ids (opened from their sealed form).
    pub(super) fn account_device_ids(
        &self,
        account: &AccountId,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let blind = self.keyring.blind(account);
        let keyring = self.keyring.clone();
        self.pool.run(move |c| {
            let rows = c
                .query(
                    "SELECT kdev, sealed_device FROM devices WHERE blind = $1 ORDER BY kdev",
                    &[&blind.as_bytes().as_slice()],
                )
                .map_err(pg_error)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let kdev: &[u8] = row.get(0);
                let ad_key = [blind.as_bytes().as_slice(), kdev].concat();
                if let Some(plain) =
                    keyring.open_sealed(&blind, "account_devices", &ad_key, row.get(1))?
                {
                    out.push(super::pg_store::device_of(&plain, "devices")?);
                }
            }
            Ok(out)
        })
    }

    /// Envelopes queued for `device` and their payload bytes.
    fn mailbox_size(&self, device: &DeviceId) -> Result<(u64, u64), StoreError> {
        let kdev = self.keyring.device(device).as_bytes().to_vec();
        self.pool.run(move |c| {
            let row = c
                .query_one(
                    "SELECT count(*), coalesce(sum(length(m.payload)), 0)::bigint FROM mailbox b \
                     JOIN messages m ON m.id = b.message WHERE b.kdev = $1",
                    &[&kdev],
                )
                .map_err(pg_error)?;
            Ok((unbig(row.get(0)), unbig(row.get(1))))
        })
    }

    /// The raw ids of groups with one of `devices` as a member.
    fn groups_of(&self, devices: &[DeviceId]) -> Result<Vec<GroupId>, StoreError> {
        let kdevs: Vec<Vec<u8>> =
            devices.iter().map(|d| self.keyring.device(d).as_bytes().to_vec()).collect();
        let keyring = self.keyring.clone();
        self.pool.run(move |c| {
            let rows = c
                .query(
                    "SELECT kgroup, sealed_id FROM groups WHERE members && $1::bytea[]",
                    &[&kdevs],
                )
                .map_err(pg_error)?;
            let mut out = Vec::new();
            for row in rows {
                let kgroup: &[u8] = row.get(0);
                let stored =
                    GroupId::from_slice(kgroup).map_err(|_| StoreError::corrupt("groups"))?;
                if let Some(sealed) = row.get::<_, Option<&[u8]>>(1) {
                    out.push(keyring.open_group(&stored, sealed, GROUP_IDS, kgroup)?);
                }
            }
            out.sort();
            Ok(out)
        })
    }
}

/// What the account export reads on PostgreSQL.
impl rules::export::ExportReads for PgStore {
    fn export_created_at(&self, account: &AccountId) -> Result<u64, StoreError> {
        self.account_created_at(account)
    }

    fn export_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError> {
        self.account_device_ids(account)
    }

    fn export_queued(&self, device: &DeviceId) -> Result<(u64, u64), StoreError> {
        self.mailbox_size(device)
    }

    fn export_is_staff(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError> {
        self.staff_certificate_exists(org, device)
    }

    fn export_groups(&self, devices: &[DeviceId]) -> Result<Vec<GroupId>, StoreError> {
        self.groups_of(devices)
    }

    fn export_blobs(&self, account: &AccountId) -> Result<Vec<(BlobId, BlobRecord)>, StoreError> {
        self.blobs_of(account)
    }

    fn export_link_code_expiries(&self, account: &AccountId) -> Result<Vec<u64>, StoreError> {
        let blind = self.keyring.blind(account);
        self.pool.run(move |c| {
            let rows = c
                .query(
                    "SELECT expires_at FROM link_codes WHERE blind = $1",
                    &[&blind.as_bytes().as_slice()],
                )
                .map_err(pg_error)?;
            Ok(rows.iter().map(|r| unbig(r.get(0))).collect())
        })
    }
}

/// Account export for [`Store::account_export`].
pub(super) fn export(
    store: &PgStore,
    account: &AccountId,
    now_ms: u64,
) -> Result<AccountExport, StoreError> {
    rules::export::account_export(store, account, now_ms)
}

/// PostgreSQL's steps of an account deletion; the order is the rule's
/// ([`rules::deletion`]).
impl DeletionSteps for PgStore {
    fn account_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError> {
        self.account_created_at(account)?;
        self.account_device_ids(account)
    }

    fn holds_admin_role(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.is_admin(device)?
            || self.orgs()?.iter().any(|(_, o)| o.admin_device == Some(*device)))
    }

    fn leave_groups(&self, devices: &[DeviceId]) -> Result<(), StoreError> {
        let kdevs: Vec<Vec<u8>> = devices
            .iter()
            .map(|d| self.keyring.device(d).as_bytes().to_vec())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.pool.tx(move |tx| {
            // Each group row is locked (as a commit locks it) while its
            // members change.
            let rows = tx
                .query(
                    "SELECT kgroup, members FROM groups WHERE members && $1::bytea[] \
                     ORDER BY kgroup FOR UPDATE",
                    &[&kdevs],
                )
                .map_err(pg_error)?;
            for row in rows {
                let kgroup: Vec<u8> = row.get(0);
                let mut members: Vec<Vec<u8>> = row.get(1);
                members.retain(|m| !kdevs.contains(m));
                if members.is_empty() {
                    // A group without members is deleted with its join link
                    // and whatever is still queued for it.
                    tx.execute("DELETE FROM group_info WHERE kgroup = $1", &[&kgroup])
                        .map_err(pg_error)?;
                    tx.execute("DELETE FROM groups WHERE kgroup = $1", &[&kgroup])
                        .map_err(pg_error)?;
                } else {
                    tx.execute(
                        "UPDATE groups SET members = $2 WHERE kgroup = $1",
                        &[&kgroup, &members],
                    )
                    .map_err(pg_error)?;
                }
            }
            Ok(())
        })
    }

    fn purge_device(&self, device: &DeviceId) -> Result<(u64, u32), StoreError> {
        let kdev = self.keyring.device(device).as_bytes().to_vec();
        let counts = self.pool.tx(move |tx| {
            let envelopes = u64::from(ack_tx(tx, &kdev, None)?);
            let one_time = tx
                .execute("DELETE FROM key_packages WHERE kdev = $1", &[&kdev])
                .map_err(pg_error)?;
            let last = tx
                .execute("DELETE FROM last_resort WHERE kdev = $1", &[&kdev])
                .map_err(pg_error)?;
            tx.execute("DELETE FROM mailbox_lock WHERE kdev = $1", &[&kdev]).map_err(pg_error)?;
            Ok((envelopes, u32::try_from(one_time + last).unwrap_or(u32::MAX)))
        })?;
        // Staff enrolments and revocation entries name the device (public
        // org data) but serve no one once it is gone.
        let orgs = self.orgs()?;
        self.kv(|s| {
            for (org, _) in &orgs {
                s.remove(STAFF, &records::pair_key(org.as_bytes(), device.as_bytes()))?;
            }
            s.remove(REVOKED, device.as_bytes())?;
            Ok(())
        })?;
        Ok(counts)
    }

    fn delete_account_records(
        &self,
        account: &AccountId,
        devices: &[DeviceId],
    ) -> Result<Vec<BlobId>, StoreError> {
        let blind = self.keyring.blind(account);
        self.forget_device_data(&blind)?;
        self.forget_push_subscriptions(devices)?;
        let blobs: Vec<BlobId> = self.blobs_of(account)?.into_iter().map(|(b, _)| b).collect();
        self.kv(|s| {
            for blob in &blobs {
                Self::delete_blob_in(s, blob)?;
            }
            s.remove("blob_usage", blind.as_bytes())?;
            Ok(())
        })?;
        self.pool.tx(move |tx| {
            let b = blind.as_bytes().as_slice();
            tx.execute("DELETE FROM link_codes WHERE blind = $1", &[&b]).map_err(pg_error)?;
            tx.execute("DELETE FROM devices WHERE blind = $1", &[&b]).map_err(pg_error)?;
            // The account row last: a concurrent deletion that got here
            // first leaves nothing to delete.
            if tx.execute("DELETE FROM accounts WHERE blind = $1", &[&b]).map_err(pg_error)? == 0 {
                return Err(StoreError::UnknownAccount);
            }
            Ok(())
        })?;
        Ok(blobs)
    }

    fn make_durable(&self) -> Result<(), StoreError> {
        self.flush()
    }

    fn destroy_shredding_key(
        &self,
        account: &AccountId,
        _devices: &[DeviceId],
    ) -> Result<(), StoreError> {
        // Nothing of the devices is cached on PostgreSQL's side.
        self.keyring.destroy_key(&self.keyring.blind(account))
    }
}
