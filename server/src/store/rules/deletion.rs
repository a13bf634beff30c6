//! What an account deletion removes, and in which order.
//!
//! The order is the rule; the backend implements the steps:
//!
//! 1. Refuse while a device of the account holds a server-admin or
//!    org-admin role (the role must be handed over first).
//! 2. Leave every group first: once the devices are no members, nothing
//!    new is queued for them, so the mailboxes purged next stay empty. A
//!    group left without members is deleted with its join link.
//! 3. Per device: purge its mailbox (and messages only it still had to
//!    receive), its KeyPackages, staff enrolments and revocation entries.
//! 4. Delete the account's own records: devices, device lists, push
//!    subscriptions, link codes, upload
//!    metadata (the files are the caller's), quota, the account — the
//!    account row last, in one transaction, so that a concurrent deletion
//!    is answered [`StoreError::UnknownAccount`].
//! 5. Make all of that durable, and only then
//! 6. destroy the account's shredding key, so that what lingers of its
//!    records in the database files (sled's old segments, PostgreSQL's WAL
//!    and dead tuples) cannot be read. A crash between 5 and 6 leaves an
//!    unused key, never live records whose key is missing.

use stadtbote_protocol::{AccountId, BlobId, DeviceId};

use crate::store::{AccountDeletion, StoreError};

/// The backend's part of an account deletion. Device ids are the
/// account's devices as the relay knows them; the backend translates to
/// its stored ids itself.
pub trait DeletionSteps {
    /// The account's devices, or [`StoreError::UnknownAccount`].
    fn account_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError>;

    /// Whether `device` is a server admin or an org's admin device.
    fn holds_admin_role(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Removes `devices` from every group (step 2).
    fn leave_groups(&self, devices: &[DeviceId]) -> Result<(), StoreError>;

    /// Purges one device's mailbox, KeyPackages, staff enrolments and
    /// revocation entries (step 3). Returns (envelopes, KeyPackages) deleted.
    fn purge_device(&self, device: &DeviceId) -> Result<(u64, u32), StoreError>;

    /// Deletes the account's own records (step 4). Returns the uploads
    /// whose metadata was deleted.
    fn delete_account_records(
        &self,
        account: &AccountId,
        devices: &[DeviceId],
    ) -> Result<Vec<BlobId>, StoreError>;

    /// Makes every write so far durable (step 5).
    fn make_durable(&self) -> Result<(), StoreError>;

    /// Destroys the account's shredding key (step 6) and forgets what the
    /// backend caches of the account's devices.
    fn destroy_shredding_key(
        &self,
        account: &AccountId,
        devices: &[DeviceId],
    ) -> Result<(), StoreError>;
}

/// Deletes `account` by the rule above.
pub fn delete_account(
    steps: &dyn DeletionSteps,
    account: &AccountId,
) -> Result<AccountDeletion, StoreError> {
    let devices = steps.account_devices(account)?;
    for device in &devices {
        if steps.holds_admin_role(device)? {
            return Err(StoreError::AdminRoleHeld);
        }
    }
    steps.leave_groups(&devices)?;
    let mut deletion = AccountDeletion { devices: devices.clone(), ..AccountDeletion::default() };
    for device in &devices {
        let (envelopes, key_packages) = steps.purge_device(device)?;
        deletion.envelopes += envelopes;
        deletion.key_packages = deletion.key_packages.saturating_add(key_packages);
    }
    deletion.blobs = steps.delete_account_records(account, &devices)?;
    steps.make_durable()?;
    steps.destroy_shredding_key(account, &devices)?;
    Ok(deletion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records the steps in the order they are taken.
    struct Recorder {
        admin: bool,
        steps: RefCell<Vec<&'static str>>,
    }

    impl DeletionSteps for Recorder {
        fn account_devices(&self, _: &AccountId) -> Result<Vec<DeviceId>, StoreError> {
            Ok(vec![DeviceId([1; DeviceId::LEN]), DeviceId([2; DeviceId::LEN])])
        }
        fn holds_admin_role(&self, _: &DeviceId) -> Result<bool, StoreError> {
            Ok(self.admin)
        }
        fn leave_groups(&self, _: &[DeviceId]) -> Result<(), StoreError> {
            self.steps.borrow_mut().push("leave");
            Ok(())
        }
        fn purge_device(&self, _: &DeviceId) -> Result<(u64, u32), StoreError> {
            self.steps.borrow_mut().push("purge");
            Ok((3, 1))
        }
        fn delete_account_records(
            &self,
            _: &AccountId,
            _: &[DeviceId],
        ) -> Result<Vec<BlobId>, StoreError> {
            self.steps.borrow_mut().push("records");
            Ok(Vec::new())
        }
        fn make_durable(&self) -> Result<(), StoreError> {
            self.steps.borrow_mut().push("durable");
            Ok(())
        }
        fn destroy_shredding_key(&self, _: &AccountId, _: &[DeviceId]) -> Result<(), StoreError> {
            self.steps.borrow_mut().push("shred");
            Ok(())
        }
    }

    #[test]
    fn records_are_durable_before_the_key_is_destroyed() {
        let r = Recorder { admin: false, steps: RefCell::new(Vec::new()) };
        let deletion = delete_account(&r, &AccountId([7; AccountId::LEN])).unwrap();
        assert_eq!(deletion.envelopes, 6);
        assert_eq!(deletion.key_packages, 2);
        assert_eq!(*r.steps.borrow(), ["leave", "purge", "purge", "records", "durable", "shred"]);
    }

    #[test]
    fn an_admin_role_refuses_before_anything_is_deleted() {
        let r = Recorder { admin: true, steps: RefCell::new(Vec::new()) };
        let refused = delete_account(&r, &AccountId([7; AccountId::LEN]));
        assert!(matches!(refused, Err(StoreError::AdminRoleHeld)), "{refused:?}");
        assert!(r.steps.borrow().is_empty());
    }
}
