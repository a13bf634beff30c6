//! What an account export (GDPR Art. 15) says about an account, assembled
//! once for every backend from what the backend reads ([`ExportReads`]):
//! each device with its KeyPackages, queue, roles and push subscription;
//! the groups any of its devices is a member of; its uploads; its pending
//! link codes. The backend answers the reads; which records make up the
//! export and what counts as pending is decided here.

use stadtbote_protocol::account::{
    AccountExport, BlobExport, DeviceExport, PushSubscriptionExport,
};
use stadtbote_protocol::{AccountId, BlobId, DeviceId, GroupId, OrgId};

use crate::store::{BlobRecord, BlobStore, OrgStore, PushStore, Store, StoreError};

/// The reads an account export needs beyond the store traits, answered by
/// the backend (ids are raw: the backend keys and opens them).
pub trait ExportReads: Store + OrgStore + PushStore + BlobStore {
    /// When the account was created, or [`StoreError::UnknownAccount`].
    fn export_created_at(&self, account: &AccountId) -> Result<u64, StoreError>;
    /// The account's devices.
    fn export_devices(&self, account: &AccountId) -> Result<Vec<DeviceId>, StoreError>;
    /// Envelopes queued for `device` and their payload bytes.
    fn export_queued(&self, device: &DeviceId) -> Result<(u64, u64), StoreError>;
    /// Whether `device` is enrolled as staff of `org`.
    fn export_is_staff(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError>;
    /// The groups with one of `devices` as a member whose ids can be named
    /// (groups stored before their id was kept sealed cannot).
    fn export_groups(&self, devices: &[DeviceId]) -> Result<Vec<GroupId>, StoreError>;
    /// The account's uploads.
    fn export_blobs(&self, account: &AccountId) -> Result<Vec<(BlobId, BlobRecord)>, StoreError>;
    /// The expiry times of the account's link codes.
    fn export_link_code_expiries(&self, account: &AccountId) -> Result<Vec<u64>, StoreError>;
}

/// The export of `account` at `now_ms`.
pub fn account_export<S: ExportReads + ?Sized>(
    store: &S,
    account: &AccountId,
    now_ms: u64,
) -> Result<AccountExport, StoreError> {
    let created_at = store.export_created_at(account)?;
    let ids = store.export_devices(account)?;
    let orgs = store.orgs()?;
    let mut devices = Vec::with_capacity(ids.len());
    for device in &ids {
        // Deleted between the two reads: not part of the account any more.
        let Some(record) = store.device(device)? else { continue };
        let packages = store.key_package_status(device)?;
        let (queued_envelopes, queued_bytes) = store.export_queued(device)?;
        let mut org_admin_of = Vec::new();
        let mut staff_of = Vec::new();
        for (org, org_record) in &orgs {
            if org_record.admin_device == Some(*device) {
                org_admin_of.push(org_record.handle.clone());
            }
            if store.export_is_staff(org, device)? {
                staff_of.push(org_record.handle.clone());
            }
        }
        devices.push(DeviceExport {
            device: *device,
            identity_key: record.identity_key,
            created_at: record.created_at,
            blocked: record.blocked,
            key_packages: packages.one_time,
            last_resort_key_package: packages.last_resort,
            queued_envelopes,
            queued_bytes,
            server_admin: store.is_admin(device)?,
            org_admin_of,
            staff_of,
            push_subscription: store.push_subscription(device)?.map(|s| PushSubscriptionExport {
                endpoint: s.endpoint,
                created_at: s.created_at,
                last_used_at: s.last_used,
            }),
        });
    }
    let mut groups = store.export_groups(&ids)?;
    groups.sort();
    let blobs = store
        .export_blobs(account)?
        .into_iter()
        .map(|(blob, r)| BlobExport {
            blob,
            size: r.size,
            complete: r.complete,
            expires_at: r.expires_at,
        })
        .collect();
    let pending =
        store.export_link_code_expiries(account)?.into_iter().filter(|at| *at > now_ms).count();
    Ok(AccountExport {
        account: *account,
        created_at,
        devices,
        groups,
        blobs,
        blob_usage_bytes: store.blob_usage(account)?,
        pending_link_codes: u32::try_from(pending).unwrap_or(u32::MAX),
    })
}
