//! [`OrgStore`] on sled: server admins, orgs, their codes, signed objects
//! and staff. Trees and layouts are listed in `sled_store.rs`.
//!
//! Every change to what an org directory shows runs under
//! `SledStore::org_writes`: it reads the org's staff and current objects,
//! lets the rules of [`super::rules::org`] decide (versions, codes, the
//! directory's size) and then writes in one transaction that re-checks,
//! with the same rules, what a concurrent request could change (code
//! state, versions).

use std::collections::BTreeSet;

use sled::Transactional;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{OrgInfo, OrgStats};
use stadtbote_protocol::org::{Signed, StaffApproval, StaffCertificate};
use stadtbote_protocol::{DeviceId, OrgId};

use stadtbote_protocol::org_rotation::SignedRotation;

use super::org::{
    DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
use super::rules::org::{self as rule, Directory};
use super::sled_store::{SledStore, abort, io, tx_decode, tx_error};
use super::{StoreError, records};

/// The key of the pending admin claim code's hash in `admin_claim`.
pub(super) const ADMIN_CLAIM_KEY: &[u8] = b"code";

impl SledStore {
    fn lock_org_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data, so a poisoned one is simply taken over.
        self.org_writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The org's staff certificates with their devices, in device order.
    fn staff_of(&self, org: &OrgId) -> Result<Vec<(DeviceId, StaffCertificate)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.staff.scan_prefix(org.as_bytes()) {
            let (key, value) = entry.map_err(io)?;
            let device = key
                .get(16..32)
                .and_then(|b| DeviceId::from_slice(b).ok())
                .ok_or(StoreError::corrupt("staff"))?;
            out.push((device, records::decode_staff(&value)?));
        }
        Ok(out)
    }

    /// Per-org aggregate counts by handle, for server admins: staff
    /// devices the org has not revoked, and channels.
    pub(super) fn org_stats(&self) -> Result<Vec<OrgStats>, StoreError> {
        let mut channels: std::collections::BTreeMap<OrgId, u64> = Default::default();
        for value in self.channels.iter().values() {
            let record = records::decode_channel(&value.map_err(io)?)?;
            *channels.entry(record.org).or_default() += 1;
        }
        let mut out = Vec::new();
        for (org, record) in self.orgs()? {
            let staff = self.staff_of(&org)?;
            let revoked = self.revoked_by(&org, &staff)?;
            out.push(OrgStats {
                handle: record.handle,
                staff_devices: staff.iter().filter(|(d, _)| !revoked.contains(d)).count() as u64,
                channels: channels.get(&org).copied().unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.handle.cmp(&b.handle));
        Ok(out)
    }

    /// The orgs that revoked `device`.
    fn revoking_orgs(&self, device: &DeviceId) -> Result<Vec<OrgId>, StoreError> {
        match self.revoked.get(device.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_orgs(&bytes),
            None => Ok(Vec::new()),
        }
    }

    /// The staff devices `org` revoked.
    fn revoked_by(
        &self,
        org: &OrgId,
        staff: &[(DeviceId, StaffCertificate)],
    ) -> Result<BTreeSet<DeviceId>, StoreError> {
        let mut out = BTreeSet::new();
        for (device, _) in staff {
            if self.revoking_orgs(device)?.contains(org) {
                out.insert(*device);
            }
        }
        Ok(out)
    }

    fn signed_of(
        &self,
        tree: &sled::Tree,
        org: &OrgId,
        what: &'static str,
    ) -> Result<Option<Signed>, StoreError> {
        match tree.get(org.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_signed(&bytes, what).map(Some),
            None => Ok(None),
        }
    }

    /// The directory's current parts.
    fn directory_parts(
        &self,
        org: &OrgId,
        record: &OrgRecord,
        now_ms: u64,
    ) -> Result<Directory, StoreError> {
        let staff = self.staff_of(org)?;
        let revoked = self.revoked_by(org, &staff)?;
        Ok(Directory {
            org: *org,
            record: record.clone(),
            profile: self.signed_of(&self.org_profiles, org, "org_profiles")?,
            revocations: self.signed_of(&self.org_revocations, org, "org_revocations")?,
            staff_list: self.signed_of(&self.org_staff_lists, org, "org_staff_lists")?,
            rotations: self.rotations_of(org)?,
            staff,
            revoked,
            now_ms,
        })
    }

    /// The org's key rotation chain (empty if never rotated).
    fn rotations_of(&self, org: &OrgId) -> Result<Vec<SignedRotation>, StoreError> {
        match self.org_rotations.get(org.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_rotations(&bytes),
            None => Ok(Vec::new()),
        }
    }

    fn org_record(&self, org: &OrgId) -> Result<OrgRecord, StoreError> {
        match self.orgs.get(org.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_org(&bytes),
            None => Err(StoreError::UnknownOrg),
        }
    }
}

impl OrgStore for SledStore {
    fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(!self.admins.is_empty())
    }

    fn is_admin(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.admins.contains_key(device.as_bytes()).map_err(io)
    }

    fn admin_claim_hash(&self) -> Result<Option<[u8; 32]>, StoreError> {
        match self.admin_claim.get(ADMIN_CLAIM_KEY).map_err(io)? {
            Some(bytes) => records::decode_hash(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn set_admin_claim_hash(&self, code_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.admin_claim.insert(ADMIN_CLAIM_KEY, records::encode_hash(code_hash)).map_err(io)?;
        Ok(())
    }

    fn claim_admin(
        &self,
        code_hash: &[u8; 32],
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        (&self.admin_claim, &self.admins)
            .transaction(|(admin_claim, admins)| {
                let stored = match admin_claim.get(ADMIN_CLAIM_KEY)? {
                    Some(bytes) => Some(tx_decode(records::decode_hash(&bytes))?),
                    None => None,
                };
                if let Err(e) = rule::claim_admin(stored, code_hash) {
                    return abort(e);
                }
                admin_claim.remove(ADMIN_CLAIM_KEY)?;
                admins.insert(device.as_bytes(), records::encode_u64(now_ms))?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn create_org(
        &self,
        org: &OrgId,
        record: &OrgRecord,
        code_hash: &[u8; 32],
        code: &OrgCodeRecord,
    ) -> Result<(), StoreError> {
        (&self.orgs, &self.handles, &self.org_codes)
            .transaction(|(orgs, handles, org_codes)| {
                let handle_taken = handles.get(record.handle.as_bytes())?.is_some();
                let id_or_code_taken =
                    orgs.get(org.as_bytes())?.is_some() || org_codes.get(code_hash)?.is_some();
                if let Err(e) = rule::check_new_org(handle_taken, id_or_code_taken) {
                    return abort(e);
                }
                orgs.insert(org.as_bytes(), records::encode_org(record))?;
                handles.insert(record.handle.as_bytes(), records::encode_id(org.as_bytes()))?;
                org_codes.insert(code_hash, records::encode_org_code(code))?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn orgs(&self) -> Result<Vec<(OrgId, OrgRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.orgs.iter() {
            let (key, value) = entry.map_err(io)?;
            let org = OrgId::from_slice(&key).map_err(|_| StoreError::corrupt("orgs"))?;
            out.push((org, records::decode_org(&value)?));
        }
        Ok(out)
    }

    fn org(&self, org: &OrgId) -> Result<Option<OrgRecord>, StoreError> {
        match self.org_record(org) {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::UnknownOrg) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn org_by_handle(&self, handle: &str) -> Result<Option<OrgId>, StoreError> {
        match self.handles.get(handle.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_id(&bytes, "handles").map(|id| Some(OrgId(id))),
            None => Ok(None),
        }
    }

    fn org_code(&self, code_hash: &[u8; 32]) -> Result<Option<OrgCodeRecord>, StoreError> {
        match self.org_codes.get(code_hash).map_err(io)? {
            Some(bytes) => records::decode_org_code(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn claim_org(
        &self,
        code_hash: &[u8; 32],
        org_key: &IdentityKey,
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(OrgId, OrgRecord), StoreError> {
        let _org = self.lock_org_writes();
        (&self.org_codes, &self.orgs)
            .transaction(|(org_codes, orgs)| {
                let code = match org_codes.get(code_hash)? {
                    Some(bytes) => Some(tx_decode(records::decode_org_code(&bytes))?),
                    None => None,
                };
                let code = match rule::usable_code(code, now_ms) {
                    Ok(code) => code,
                    Err(e) => return abort(e),
                };
                let record = match orgs.get(code.org.as_bytes())? {
                    Some(bytes) => Some(tx_decode(records::decode_org(&bytes))?),
                    None => None,
                };
                let claim = match rule::claim_org(code, record, org_key, device) {
                    Ok(claim) => claim,
                    Err(e) => return abort(e),
                };
                orgs.insert(code.org.as_bytes(), records::encode_org(&claim.record))?;
                org_codes.insert(code_hash, records::encode_org_code(&claim.used_code))?;
                Ok((code.org, claim.record))
            })
            .map_err(tx_error)
    }

    fn publish_profile(
        &self,
        org: &OrgId,
        profile: &Signed,
        version: u64,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        let _org = self.lock_org_writes();
        let record = self.org_record(org)?;
        rule::check_profile_version(&record, version)?;
        let parts = self.directory_parts(org, &record, limits.now_ms)?;
        rule::publish_profile(parts, profile, version, limits.max_bytes)?;
        (&self.orgs, &self.org_profiles)
            .transaction(|(orgs, org_profiles)| {
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                if let Err(e) = rule::check_profile_version(&record, version) {
                    return abort(e);
                }
                record.profile_version = version;
                orgs.insert(org.as_bytes(), records::encode_org(&record))?;
                org_profiles.insert(org.as_bytes(), records::encode_signed(profile))?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn store_invite(&self, invite_id: &[u8; 8], record: &InviteRecord) -> Result<(), StoreError> {
        let value = records::encode_invite(record);
        self.invites
            .transaction(|invites| {
                if invites.get(invite_id)?.is_some() {
                    return abort(StoreError::InviteIdTaken);
                }
                invites.insert(invite_id, value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn invite(&self, invite_id: &[u8; 8]) -> Result<Option<InviteRecord>, StoreError> {
        match self.invites.get(invite_id).map_err(io)? {
            Some(bytes) => records::decode_invite(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn enroll(
        &self,
        invite_id: &[u8; 8],
        device: &DeviceId,
        certificate: &StaffCertificate,
        limits: DirectoryLimits,
    ) -> Result<OrgId, StoreError> {
        let _org = self.lock_org_writes();
        let invite = rule::usable_invite(self.invite(invite_id)?, limits.now_ms)?;
        let org = invite.org;
        let record = self.org_record(&org)?;
        let parts = self.directory_parts(&org, &record, limits.now_ms)?;
        rule::enroll(invite, parts, device, certificate, limits.max_bytes)?;
        let value = records::encode_staff(certificate);
        let key = records::pair_key(org.as_bytes(), device.as_bytes());
        (&self.invites, &self.staff)
            .transaction(|(invites, staff)| {
                let invite = match invites.get(invite_id)? {
                    Some(bytes) => Some(tx_decode(records::decode_invite(&bytes))?),
                    None => None,
                };
                // Re-checked: a concurrent enrolment may have used it.
                let used = match rule::usable_invite(invite, limits.now_ms) {
                    Ok(invite) => InviteRecord { used: true, ..invite },
                    Err(e) => return abort(e),
                };
                invites.insert(invite_id, records::encode_invite(&used))?;
                staff.insert(&key, value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(org)
    }

    fn revoke(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        revoked: &[DeviceId],
        limits: DirectoryLimits,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let _org = self.lock_org_writes();
        let record = self.org_record(org)?;
        rule::check_revocation_version(&record, version)?;
        let parts = self.directory_parts(org, &record, limits.now_ms)?;
        let plan = rule::revoke(parts, list, version, revoked, limits.max_bytes)?;
        (&self.orgs, &self.org_revocations, &self.revoked)
            .transaction(|(orgs, org_revocations, revoked_tree)| {
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                if let Err(e) = rule::check_revocation_version(&record, version) {
                    return abort(e);
                }
                let mut newly = Vec::new();
                for device in &plan.staff {
                    let mut orgs_of = match revoked_tree.get(device.as_bytes())? {
                        Some(bytes) => tx_decode(records::decode_orgs(&bytes))?,
                        None => Vec::new(),
                    };
                    let wants = plan.now_revoked.contains(device);
                    match rule::update_revoking(&mut orgs_of, org, wants) {
                        None => continue,
                        Some(true) => newly.push(*device),
                        Some(false) => {}
                    }
                    if orgs_of.is_empty() {
                        revoked_tree.remove(device.as_bytes())?;
                    } else {
                        revoked_tree.insert(device.as_bytes(), records::encode_orgs(&orgs_of))?;
                    }
                }
                record.revocation_version = version;
                orgs.insert(org.as_bytes(), records::encode_org(&record))?;
                org_revocations.insert(org.as_bytes(), records::encode_signed(list))?;
                Ok(newly)
            })
            .map_err(tx_error)
    }

    fn publish_staff_list(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        approvals: &[(StaffApproval, Signed)],
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        let _org = self.lock_org_writes();
        let record = self.org_record(org)?;
        let parts = self.directory_parts(org, &record, limits.now_ms)?;
        let updated = rule::publish_staff_list(parts, list, version, approvals, limits.max_bytes)?;
        (&self.org_staff_lists, &self.staff)
            .transaction(|(lists, staff)| {
                let current = match lists.get(org.as_bytes())? {
                    Some(bytes) => {
                        Some(tx_decode(records::decode_signed(&bytes, "org_staff_lists"))?)
                    }
                    None => None,
                };
                if version <= rule::staff_list_version(current.as_ref()) {
                    return abort(StoreError::VersionNotIncreasing);
                }
                for (device, certificate) in &updated {
                    let key = records::pair_key(org.as_bytes(), device.as_bytes());
                    // The enrolment may have been replaced (the device
                    // redeemed another code) since it was read: then this
                    // approval is for a binding that no longer exists.
                    let Some(bytes) = staff.get(key)? else {
                        return abort(StoreError::ApprovalMismatch);
                    };
                    let current = tx_decode(records::decode_staff(&bytes))?;
                    if !rule::same_enrolment(certificate, &current) {
                        return abort(StoreError::ApprovalMismatch);
                    }
                    staff.insert(key.as_slice(), records::encode_staff(certificate))?;
                }
                lists.insert(org.as_bytes(), records::encode_signed(list))?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn rotate_org_key(
        &self,
        org: &OrgId,
        update: &KeyRotationUpdate<'_>,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        let _org = self.lock_org_writes();
        let record = self.org_record(org)?;
        let chain = self.rotations_of(org)?;
        // Checked before the directory is read.
        rule::check_rotation_versions(&record, chain.len(), 0, update)?;
        let parts = self.directory_parts(org, &record, limits.now_ms)?;
        let plan = rule::rotate_org_key(parts, chain, update, limits.max_bytes)?;
        let (profile, _) = update.profile;
        let (list, _) = update.staff_list;
        let encoded_record = records::encode_org(&plan.record);
        let encoded_chain = records::encode_rotations(&plan.chain);
        let staff_values: Vec<(Vec<u8>, Vec<u8>)> = update
            .staff
            .iter()
            .map(|(device, cert)| {
                (
                    records::pair_key(org.as_bytes(), device.as_bytes()).to_vec(),
                    records::encode_staff(cert),
                )
            })
            .collect();
        let dropped_keys: Vec<Vec<u8>> = plan
            .dropped
            .iter()
            .map(|device| records::pair_key(org.as_bytes(), device.as_bytes()).to_vec())
            .collect();
        (
            &self.orgs,
            &self.org_rotations,
            &self.org_profiles,
            &self.org_staff_lists,
            &self.staff,
            &self.org_revocations,
        )
            .transaction(|(orgs, rotations, profiles, lists, staff, org_revocations)| {
                // Re-check what a concurrent request could have changed.
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let current = tx_decode(records::decode_org(&bytes))?;
                let stored_chain = match rotations.get(org.as_bytes())? {
                    Some(bytes) => tx_decode(records::decode_rotations(&bytes))?.len(),
                    None => 0,
                };
                let current_list = match lists.get(org.as_bytes())? {
                    Some(bytes) => {
                        Some(tx_decode(records::decode_signed(&bytes, "org_staff_lists"))?)
                    }
                    None => None,
                };
                let stored_list_version = rule::staff_list_version(current_list.as_ref());
                if let Err(e) = rule::check_rotation_versions(
                    &current,
                    stored_chain,
                    stored_list_version,
                    update,
                ) {
                    return abort(e);
                }
                for (key, value) in &staff_values {
                    let Some(bytes) = staff.get(key.as_slice())? else {
                        return abort(StoreError::ApprovalMismatch);
                    };
                    let stored = tx_decode(records::decode_staff(&bytes))?;
                    // The same binding as when the rules checked it.
                    let unchanged =
                        records::decode_staff(value).is_ok_and(|new| new.binding == stored.binding);
                    if !unchanged {
                        return abort(StoreError::ApprovalMismatch);
                    }
                    staff.insert(key.as_slice(), value.as_slice())?;
                }
                for key in &dropped_keys {
                    staff.remove(key.as_slice())?;
                }
                orgs.insert(org.as_bytes(), encoded_record.as_slice())?;
                rotations.insert(org.as_bytes(), encoded_chain.as_slice())?;
                profiles.insert(org.as_bytes(), records::encode_signed(profile))?;
                lists.insert(org.as_bytes(), records::encode_signed(list))?;
                if let Some((revocations, _)) = update.revocations {
                    org_revocations.insert(org.as_bytes(), records::encode_signed(revocations))?;
                }
                Ok(())
            })
            .map_err(tx_error)
    }

    fn org_directory(&self, org: &OrgId, now_ms: u64) -> Result<Option<OrgInfo>, StoreError> {
        let Some(record) = self.org(org)? else { return Ok(None) };
        Ok(Some(self.directory_parts(org, &record, now_ms)?.build()))
    }

    fn is_revoked(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.revoked.contains_key(device.as_bytes()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use serde_bytes::ByteBuf;
    use stadtbote_protocol::AccountId;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::org::{DeviceBinding, InviteCode, ORG_VERSION, OrgProfile, Role};

    use super::*;
    use crate::store::{CodeState, Store};
    use stadtbote_protocol::org::{InviteCert, RevocationList, SignedKind, StaffList};

    const DAY: u64 = 86_400_000;
    const NOW: u64 = 1_000_000;

    fn limits() -> DirectoryLimits {
        DirectoryLimits { now_ms: NOW, max_bytes: 1 << 20 }
    }

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A claimed org with handle `handle`; returns its id and key.
    fn claimed_org(store: &SledStore, handle: &str) -> (OrgId, DeviceSecret, DeviceId) {
        let org = OrgId::random();
        let record = OrgRecord {
            handle: handle.into(),
            name: "Stadt".into(),
            created_at: 1,
            org_key: None,
            admin_device: None,
            profile_version: 0,
            revocation_version: 0,
            suspended: false,
        };
        let hash = [handle.len() as u8; 32];
        let code =
            OrgCodeRecord { org, expires_at: NOW + DAY, delete_at: NOW + 2 * DAY, used: false };
        store.create_org(&org, &record, &hash, &code).unwrap();
        let key = DeviceSecret::generate();
        let admin = DeviceId::random();
        store.claim_org(&hash, &key.identity_key(), &admin, NOW).unwrap();
        (org, key, admin)
    }

    /// Stores an invitation of `org` and returns its code and record.
    fn stored_invite(store: &SledStore, org: &OrgId, key: &DeviceSecret) -> (InviteCode, Signed) {
        let code = InviteCode::generate();
        let cert = InviteCert {
            v: ORG_VERSION,
            org: *org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            invite_key: code.invite_key().identity_key(),
            role: Role::Clerk,
            department: "bauhof".into(),
            issued_at: NOW,
            invite_expires_at: NOW + DAY,
            cert_expires_at: NOW + 100 * DAY,
        };
        let signed = Signed::sign(SignedKind::Invite, &cert, key);
        let record = InviteRecord {
            org: *org,
            expires_at: NOW + DAY,
            delete_at: NOW + 2 * DAY,
            used: false,
            invite: signed.clone(),
        };
        store.store_invite(&code.id, &record).unwrap();
        (code, signed)
    }

    fn certificate(
        org: &OrgId,
        code: &InviteCode,
        invite: &Signed,
        device: DeviceId,
    ) -> StaffCertificate {
        let binding = DeviceBinding {
            v: ORG_VERSION,
            org: *org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            account: AccountId::random(),
            device,
            identity_key: DeviceSecret::generate().identity_key(),
            bound_at: NOW,
        };
        StaffCertificate {
            invite: invite.clone(),
            binding: Signed::sign(SignedKind::Binding, &binding, &code.invite_key()),
            approval: None,
        }
    }

    fn revocations(
        org: &OrgId,
        key: &DeviceSecret,
        version: u64,
        revoked: Vec<DeviceId>,
    ) -> Signed {
        let list = RevocationList { v: ORG_VERSION, org: *org, version, revoked, updated_at: NOW };
        Signed::sign(SignedKind::Revocations, &list, key)
    }

    #[test]
    fn org_codes_are_single_use_with_precise_states() {
        let (_dir, store) = open();
        let (org, key, admin) = claimed_org(&store, "goslar");
        let record = store.org(&org).unwrap().unwrap();
        assert_eq!(record.admin_device, Some(admin));
        assert_eq!(record.org_key, Some(key.identity_key()));
        let hash = [6u8; 32];
        let again = store.claim_org(&hash, &key.identity_key(), &admin, NOW);
        assert!(matches!(again, Err(StoreError::Code(CodeState::Used))), "{again:?}");
        assert!(matches!(
            store.claim_org(&[9; 32], &key.identity_key(), &admin, NOW),
            Err(StoreError::Code(CodeState::Unknown))
        ));
        // An expired code says so, until the record's deletion time.
        let late = OrgId::random();
        let record = OrgRecord {
            handle: "spaet".into(),
            name: "Spät".into(),
            created_at: 1,
            org_key: None,
            admin_device: None,
            profile_version: 0,
            revocation_version: 0,
            suspended: false,
        };
        let code = OrgCodeRecord { org: late, expires_at: NOW, delete_at: NOW + DAY, used: false };
        store.create_org(&late, &record, &[5; 32], &code).unwrap();
        assert!(matches!(
            store.claim_org(&[5; 32], &key.identity_key(), &admin, NOW),
            Err(StoreError::Code(CodeState::Expired))
        ));
        // Handles are unique.
        let taken = store.create_org(&OrgId::random(), &record, &[4; 32], &code);
        assert!(matches!(taken, Err(StoreError::HandleTaken)), "{taken:?}");
        assert_eq!(store.org_by_handle("spaet").unwrap(), Some(late));
        assert_eq!(store.orgs().unwrap().len(), 2);
        // The sweeper keeps both codes until their deletion time.
        assert_eq!(store.sweep(NOW + DAY - 1).unwrap().org_codes, 0);
        assert_eq!(store.sweep(NOW + DAY).unwrap().org_codes, 1);
        assert_eq!(store.sweep(NOW + 2 * DAY).unwrap().org_codes, 1);
        assert!(store.org_codes.is_empty());
    }

    #[test]
    fn an_invitation_is_redeemed_once_under_concurrency() {
        let (_dir, store) = open();
        let store = std::sync::Arc::new(store);
        let (org, key, _) = claimed_org(&store, "goslar");
        let (code, invite) = stored_invite(&store, &org, &key);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let cert = certificate(&org, &code, &invite, DeviceId::random());
                let id = code.id;
                std::thread::spawn(move || store.enroll(&id, &cert_device(&cert), &cert, limits()))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let enrolled = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(enrolled, 1, "{results:?}");
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(StoreError::Code(CodeState::Used)))),
            "{results:?}"
        );
        let info = store.org_directory(&org, NOW).unwrap().unwrap();
        assert_eq!(info.staff.len(), 1);
        assert!(store.invite(&code.id).unwrap().unwrap().used);
        // Unknown and expired invitations.
        let unknown = certificate(&org, &code, &invite, DeviceId::random());
        assert!(matches!(
            store.enroll(&[0; 8], &cert_device(&unknown), &unknown, limits()),
            Err(StoreError::Code(CodeState::Unknown))
        ));
        let (late, late_invite) = stored_invite(&store, &org, &key);
        let cert = certificate(&org, &late, &late_invite, DeviceId::random());
        let expired = DirectoryLimits { now_ms: NOW + DAY, ..limits() };
        assert!(matches!(
            store.enroll(&late.id, &cert_device(&cert), &cert, expired),
            Err(StoreError::Code(CodeState::Expired))
        ));
    }

    fn cert_device(cert: &StaffCertificate) -> DeviceId {
        cert.binding.decode_unverified::<DeviceBinding>(SignedKind::Binding).unwrap().device
    }

    #[test]
    fn revocation_hides_staff_and_only_touches_the_orgs_own_devices() {
        let (_dir, store) = open();
        let (org, key, _) = claimed_org(&store, "goslar");
        let mut staff = Vec::new();
        for _ in 0..3 {
            let (code, invite) = stored_invite(&store, &org, &key);
            let device = DeviceId::random();
            let cert = certificate(&org, &code, &invite, device);
            store.enroll(&code.id, &device, &cert, limits()).unwrap();
            staff.push(device);
        }
        let outsider = DeviceId::random();
        let list = revocations(&org, &key, 1, vec![staff[0], outsider]);
        let newly = store.revoke(&org, &list, 1, &[staff[0], outsider], limits()).unwrap();
        assert_eq!(newly, vec![staff[0]]);
        assert!(store.is_revoked(&staff[0]).unwrap());
        assert!(!store.is_revoked(&outsider).unwrap(), "not the org's device");
        let info = store.org_directory(&org, NOW).unwrap().unwrap();
        assert_eq!(info.staff.len(), 2);
        assert_eq!(info.revocations, Some(list.clone()));
        assert!(info.staff.iter().all(|c| cert_device(c) != staff[0]));
        // Versions must increase.
        assert!(matches!(
            store.revoke(&org, &list, 1, &[], limits()),
            Err(StoreError::VersionNotIncreasing)
        ));
        // A listed device cannot enrol again while listed.
        let (code, invite) = stored_invite(&store, &org, &key);
        let cert = certificate(&org, &code, &invite, staff[0]);
        assert!(matches!(
            store.enroll(&code.id, &staff[0], &cert, limits()),
            Err(StoreError::DeviceRevoked)
        ));
        // A later list may lift the revocation.
        let lifted = revocations(&org, &key, 2, vec![]);
        assert!(store.revoke(&org, &lifted, 2, &[], limits()).unwrap().is_empty());
        assert!(!store.is_revoked(&staff[0]).unwrap());
        assert_eq!(store.org_directory(&org, NOW).unwrap().unwrap().staff.len(), 3);
        assert!(store.revoked.is_empty());
        // Expired certificates are left out of the directory.
        assert!(store.org_directory(&org, NOW + 100 * DAY).unwrap().unwrap().staff.is_empty());
    }

    #[test]
    fn approvals_attach_to_the_matching_enrolment_with_an_increasing_staff_list() {
        let (_dir, store) = open();
        let (org, key, _) = claimed_org(&store, "goslar");
        let (code, invite) = stored_invite(&store, &org, &key);
        let device = DeviceId::random();
        let cert = certificate(&org, &code, &invite, device);
        store.enroll(&code.id, &device, &cert, limits()).unwrap();
        let info = store.org_directory(&org, NOW).unwrap().unwrap();
        assert_eq!(info.staff[0].approval, None, "pending until approved");
        assert_eq!(info.staff_list, None);

        let (approval, signed) = cert.approve(&org, &key, NOW).unwrap();
        let entry_of = approval.clone();
        let list = |version| {
            let approval = &entry_of;
            let list = StaffList {
                v: ORG_VERSION,
                org,
                version,
                staff: vec![stadtbote_protocol::org::StaffListEntry {
                    device,
                    identity_key: approval.identity_key,
                    invite_id: approval.invite_id.clone(),
                }],
                revoked: vec![],
                updated_at: NOW,
            };
            Signed::sign(SignedKind::StaffList, &list, &key)
        };
        // An approval of another binding (a second device bound with the
        // same invitation) does not attach to this enrolment.
        let rogue = StaffApproval { account: AccountId::random(), ..approval.clone() };
        let rogue_signed = Signed::sign(SignedKind::Approval, &rogue, &key);
        assert!(matches!(
            store.publish_staff_list(&org, &list(1), 1, &[(rogue, rogue_signed)], limits()),
            Err(StoreError::ApprovalMismatch)
        ));
        let unknown = StaffApproval { device: DeviceId::random(), ..approval.clone() };
        let unknown_signed = Signed::sign(SignedKind::Approval, &unknown, &key);
        assert!(matches!(
            store.publish_staff_list(&org, &list(1), 1, &[(unknown, unknown_signed)], limits()),
            Err(StoreError::ApprovalMismatch)
        ));
        store
            .publish_staff_list(&org, &list(1), 1, &[(approval, signed.clone())], limits())
            .unwrap();
        let info = store.org_directory(&org, NOW).unwrap().unwrap();
        assert_eq!(info.staff[0].approval, Some(signed));
        assert_eq!(info.staff_list, Some(list(1)));
        assert!(info.staff[0].verify(&org, &key.identity_key(), NOW).is_ok());
        // Versions must increase.
        assert!(matches!(
            store.publish_staff_list(&org, &list(1), 1, &[], limits()),
            Err(StoreError::VersionNotIncreasing)
        ));
        store.publish_staff_list(&org, &list(2), 2, &[], limits()).unwrap();
        // Re-enrolling with another invitation makes the device pending again.
        let (again, again_invite) = stored_invite(&store, &org, &key);
        let cert2 = certificate(&org, &again, &again_invite, device);
        store.enroll(&again.id, &device, &cert2, limits()).unwrap();
        assert_eq!(store.org_directory(&org, NOW).unwrap().unwrap().staff[0].approval, None);
    }

    #[test]
    fn profile_versions_increase_and_the_directory_must_fit_one_message() {
        let (_dir, store) = open();
        let (org, key, _) = claimed_org(&store, "goslar");
        let mut profile = OrgProfile::new(org, "goslar".into(), "Stadt Goslar".into(), NOW);
        let signed = Signed::sign(SignedKind::Profile, &profile, &key);
        store.publish_profile(&org, &signed, 1, limits()).unwrap();
        assert!(matches!(
            store.publish_profile(&org, &signed, 1, limits()),
            Err(StoreError::VersionNotIncreasing)
        ));
        assert_eq!(store.org(&org).unwrap().unwrap().profile_version, 1);
        profile.version = 2;
        profile.auto_reply = Some("x".repeat(2000));
        let big = Signed::sign(SignedKind::Profile, &profile, &key);
        let small = DirectoryLimits { now_ms: NOW, max_bytes: 1000 };
        assert!(matches!(
            store.publish_profile(&org, &big, 2, small),
            Err(StoreError::DirectoryTooLarge)
        ));
        let info = store.org_directory(&org, NOW).unwrap().unwrap();
        assert_eq!(info.profile, Some(signed));
        assert_eq!(info.handle, "goslar");
        assert!(matches!(
            store.publish_profile(&OrgId::random(), &big, 2, limits()),
            Err(StoreError::UnknownOrg)
        ));
    }

    #[test]
    fn admin_claim_needs_the_pending_code() {
        let (_dir, store) = open();
        let device = DeviceId([1; 16]);
        assert!(!store.has_admin().unwrap());
        assert!(matches!(
            store.claim_admin(&[1; 32], &device, 1),
            Err(StoreError::Code(CodeState::Unknown))
        ));
        store.set_admin_claim_hash(&[2; 32]).unwrap();
        assert!(store.claim_admin(&[1; 32], &device, 1).is_err());
        store.claim_admin(&[2; 32], &device, 1).unwrap();
        assert!(store.is_admin(&device).unwrap() && store.has_admin().unwrap());
        assert!(store.admin_claim_hash().unwrap().is_none());
        assert!(store.claim_admin(&[2; 32], &DeviceId([3; 16]), 1).is_err(), "single use");
    }
}
