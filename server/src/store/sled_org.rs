//! [`OrgStore`] on sled: server admins, orgs, their codes, signed objects
//! and staff. Trees and layouts are listed in `sled_store.rs`.
//!
//! Every change to what an org directory shows runs under
//! `SledStore::org_writes`: it reads the org's staff and current objects,
//! checks the directory would still fit in one message, and then writes in
//! one transaction that re-checks what a concurrent request could change
//! (code state, versions).

use std::collections::BTreeSet;

use sled::Transactional;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{OrgInfo, OrgStats, encode};
use stadtbote_protocol::org::{
    InviteCert, RevocationList, Signed, SignedKind, StaffApproval, StaffCertificate, StaffList,
};
use stadtbote_protocol::{DeviceId, OrgId};

use stadtbote_protocol::org_rotation::SignedRotation;

use super::org::{
    DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
use super::sled_store::{SledStore, abort, io, tx_decode, tx_error};
use super::{CodeState, StoreError, records};

/// The key of the pending admin claim code's hash in `admin_claim`.
pub(super) const ADMIN_CLAIM_KEY: &[u8] = b"code";

/// Whether a stored staff certificate belongs in the directory at `now_ms`:
/// expired certificates are left out (clients would discard them anyway).
/// The invitation was verified when it was stored, so reading it unverified
/// here is only reading our own record.
fn certificate_current(certificate: &StaffCertificate, now_ms: u64) -> bool {
    certificate
        .invite
        .decode_unverified::<InviteCert>(SignedKind::Invite)
        .is_ok_and(|invite| now_ms < invite.cert_expires_at)
}

/// What a directory is built from.
struct DirectoryParts<'a> {
    org: &'a OrgId,
    record: &'a OrgRecord,
    profile: Option<Signed>,
    revocations: Option<Signed>,
    staff_list: Option<Signed>,
    rotations: Vec<SignedRotation>,
    staff: Vec<(DeviceId, StaffCertificate)>,
    /// Devices this org revoked.
    revoked: BTreeSet<DeviceId>,
    now_ms: u64,
}

impl DirectoryParts<'_> {
    fn build(self) -> OrgInfo {
        let now_ms = self.now_ms;
        let staff = self
            .staff
            .into_iter()
            .filter(|(device, cert)| {
                !self.revoked.contains(device) && certificate_current(cert, now_ms)
            })
            .map(|(_, cert)| cert)
            .collect();
        OrgInfo {
            org: *self.org,
            handle: self.record.handle.clone(),
            org_key: self.record.org_key,
            profile: self.profile,
            staff,
            revocations: self.revocations,
            staff_list: self.staff_list,
            rotations: self.rotations,
        }
    }

    /// Refuses with [`StoreError::DirectoryTooLarge`] when the directory
    /// built from these parts would not fit in `max_bytes`.
    fn check_size(self, max_bytes: usize) -> Result<(), StoreError> {
        if encode(&self.build()).len() > max_bytes {
            return Err(StoreError::DirectoryTooLarge);
        }
        Ok(())
    }
}

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
    fn directory_parts<'a>(
        &self,
        org: &'a OrgId,
        record: &'a OrgRecord,
        now_ms: u64,
    ) -> Result<DirectoryParts<'a>, StoreError> {
        let staff = self.staff_of(org)?;
        let revoked = self.revoked_by(org, &staff)?;
        Ok(DirectoryParts {
            org,
            record,
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
                let Some(bytes) = admin_claim.get(ADMIN_CLAIM_KEY)? else {
                    return abort(StoreError::Code(CodeState::Unknown));
                };
                // Hashes of 160-bit random codes: comparing them leaks
                // nothing useful through timing.
                if tx_decode(records::decode_hash(&bytes))? != *code_hash {
                    return abort(StoreError::Code(CodeState::Unknown));
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
                if handles.get(record.handle.as_bytes())?.is_some() {
                    return abort(StoreError::HandleTaken);
                }
                // Random 128-bit ids and 160-bit codes do not collide in
                // practice; should they, refusing beats overwriting.
                if orgs.get(org.as_bytes())?.is_some() || org_codes.get(code_hash)?.is_some() {
                    return abort(StoreError::contention());
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
                let Some(bytes) = org_codes.get(code_hash)? else {
                    return abort(StoreError::Code(CodeState::Unknown));
                };
                let code = tx_decode(records::decode_org_code(&bytes))?;
                if let Err(state) = code.check(now_ms) {
                    return abort(StoreError::Code(state));
                }
                let Some(bytes) = orgs.get(code.org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                if record.org_key.is_some() {
                    return abort(StoreError::AlreadyClaimed);
                }
                record.org_key = Some(*org_key);
                record.admin_device = Some(*device);
                orgs.insert(code.org.as_bytes(), records::encode_org(&record))?;
                // The used code is kept until its deletion time so that a
                // second attempt is told "already used".
                let used = OrgCodeRecord { used: true, ..code };
                org_codes.insert(code_hash, records::encode_org_code(&used))?;
                Ok((code.org, record))
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
        if version <= record.profile_version {
            return Err(StoreError::VersionNotIncreasing);
        }
        let mut parts = self.directory_parts(org, &record, limits.now_ms)?;
        parts.profile = Some(profile.clone());
        parts.check_size(limits.max_bytes)?;
        (&self.orgs, &self.org_profiles)
            .transaction(|(orgs, org_profiles)| {
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                if version <= record.profile_version {
                    return abort(StoreError::VersionNotIncreasing);
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
        let invite = self.invite(invite_id)?.ok_or(StoreError::Code(CodeState::Unknown))?;
        invite.check(limits.now_ms).map_err(StoreError::Code)?;
        let org = invite.org;
        let record = self.org_record(&org)?;
        let mut parts = self.directory_parts(&org, &record, limits.now_ms)?;
        // The org's current list applies to devices enrolled after it, too.
        if let Some(list) = &parts.revocations
            && list
                .decode_unverified::<RevocationList>(SignedKind::Revocations)
                .is_ok_and(|list| list.revoked.contains(device))
        {
            return Err(StoreError::DeviceRevoked);
        }
        parts.staff.retain(|(d, _)| d != device);
        parts.staff.push((*device, certificate.clone()));
        parts.check_size(limits.max_bytes)?;
        let value = records::encode_staff(certificate);
        let key = records::pair_key(org.as_bytes(), device.as_bytes());
        (&self.invites, &self.staff)
            .transaction(|(invites, staff)| {
                let Some(bytes) = invites.get(invite_id)? else {
                    return abort(StoreError::Code(CodeState::Unknown));
                };
                let invite = tx_decode(records::decode_invite(&bytes))?;
                if let Err(state) = invite.check(limits.now_ms) {
                    return abort(StoreError::Code(state));
                }
                let used = InviteRecord { used: true, ..invite };
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
        if version <= record.revocation_version {
            return Err(StoreError::VersionNotIncreasing);
        }
        let listed: BTreeSet<DeviceId> = revoked.iter().copied().collect();
        let mut parts = self.directory_parts(org, &record, limits.now_ms)?;
        // Only the org's own staff devices are recorded as revoked: an org
        // must not be able to cut off anyone else's devices.
        let staff: Vec<DeviceId> = parts.staff.iter().map(|(d, _)| *d).collect();
        let now_revoked: BTreeSet<DeviceId> =
            staff.iter().filter(|d| listed.contains(d)).copied().collect();
        parts.revocations = Some(list.clone());
        parts.revoked = now_revoked.clone();
        parts.check_size(limits.max_bytes)?;
        (&self.orgs, &self.org_revocations, &self.revoked)
            .transaction(|(orgs, org_revocations, revoked_tree)| {
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                if version <= record.revocation_version {
                    return abort(StoreError::VersionNotIncreasing);
                }
                let mut newly = Vec::new();
                for device in &staff {
                    let mut orgs_of = match revoked_tree.get(device.as_bytes())? {
                        Some(bytes) => tx_decode(records::decode_orgs(&bytes))?,
                        None => Vec::new(),
                    };
                    let had = orgs_of.contains(org);
                    let wants = now_revoked.contains(device);
                    if had == wants {
                        continue;
                    }
                    if wants {
                        orgs_of.push(*org);
                        orgs_of.sort();
                        newly.push(*device);
                    } else {
                        // A later list may lift a revocation.
                        orgs_of.retain(|o| o != org);
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
        let stored_version = |signed: Option<Signed>| {
            // Verified with the org key when it was stored.
            signed
                .and_then(|s| s.decode_unverified::<StaffList>(SignedKind::StaffList).ok())
                .map_or(0, |l| l.version)
        };
        let mut parts = self.directory_parts(org, &record, limits.now_ms)?;
        if version <= stored_version(parts.staff_list.clone()) {
            return Err(StoreError::VersionNotIncreasing);
        }
        let mut updated = Vec::with_capacity(approvals.len());
        for (approval, signed) in approvals {
            let Some((_, stored)) = parts.staff.iter_mut().find(|(d, _)| *d == approval.device)
            else {
                return Err(StoreError::ApprovalMismatch);
            };
            if !stored.matches_approval(approval) {
                return Err(StoreError::ApprovalMismatch);
            }
            stored.approval = Some(signed.clone());
            updated.push((approval.device, records::encode_staff(stored)));
        }
        parts.staff_list = Some(list.clone());
        parts.check_size(limits.max_bytes)?;
        (&self.org_staff_lists, &self.staff)
            .transaction(|(lists, staff)| {
                let current = match lists.get(org.as_bytes())? {
                    Some(bytes) => {
                        Some(tx_decode(records::decode_signed(&bytes, "org_staff_lists"))?)
                    }
                    None => None,
                };
                if version <= stored_version(current) {
                    return abort(StoreError::VersionNotIncreasing);
                }
                for (device, value) in &updated {
                    let key = records::pair_key(org.as_bytes(), device.as_bytes());
                    // The enrolment may have been replaced (the device
                    // redeemed another code) since it was read: then this
                    // approval is for a binding that no longer exists.
                    let Some(bytes) = staff.get(key)? else {
                        return abort(StoreError::ApprovalMismatch);
                    };
                    let current = tx_decode(records::decode_staff(&bytes))?;
                    let unchanged = records::decode_staff(value).is_ok_and(|new| {
                        new.invite == current.invite && new.binding == current.binding
                    });
                    if !unchanged {
                        return abort(StoreError::ApprovalMismatch);
                    }
                    staff.insert(key.as_slice(), value.as_slice())?;
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
        let mut chain = self.rotations_of(org)?;
        let expected_sequence = u64::try_from(chain.len()).ok().and_then(|n| n.checked_add(1));
        if record.org_key.as_ref() != Some(update.old_key)
            || expected_sequence != Some(update.sequence)
        {
            return Err(StoreError::VersionNotIncreasing);
        }
        let (profile, profile_version) = update.profile;
        let (list, list_version) = update.staff_list;
        let mut parts = self.directory_parts(org, &record, limits.now_ms)?;
        let stored_list_version = parts
            .staff_list
            .as_ref()
            .and_then(|s| s.decode_unverified::<StaffList>(SignedKind::StaffList).ok())
            .map_or(0, |l| l.version);
        if profile_version <= record.profile_version || list_version <= stored_list_version {
            return Err(StoreError::VersionNotIncreasing);
        }
        if let Some((_, version)) = update.revocations
            && version <= record.revocation_version
        {
            return Err(StoreError::VersionNotIncreasing);
        }
        for (device, reissued) in update.staff {
            let same_binding = parts
                .staff
                .iter()
                .any(|(d, stored)| d == device && stored.binding == reissued.binding);
            if !same_binding {
                return Err(StoreError::ApprovalMismatch);
            }
        }
        let dropped: Vec<DeviceId> = parts
            .staff
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| !update.staff.iter().any(|(r, _)| r == d))
            .collect();
        chain.push(update.rotation.clone());
        let mut new_record = record.clone();
        new_record.org_key = Some(*update.new_key);
        new_record.profile_version = profile_version;
        if let Some((list, version)) = update.revocations {
            new_record.revocation_version = version;
            parts.revocations = Some(list.clone());
        }
        parts.record = &new_record;
        parts.profile = Some(profile.clone());
        parts.staff_list = Some(list.clone());
        parts.rotations = chain.clone();
        parts.staff = update.staff.to_vec();
        parts.check_size(limits.max_bytes)?;
        let encoded_record = records::encode_org(&new_record);
        let encoded_chain = records::encode_rotations(&chain);
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
        let dropped_keys: Vec<Vec<u8>> = dropped
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
                if current.org_key.as_ref() != Some(update.old_key)
                    || current.profile_version >= profile_version
                    || stored_chain.checked_add(1) != Some(chain.len())
                    || update
                        .revocations
                        .is_some_and(|(_, version)| current.revocation_version >= version)
                {
                    return abort(StoreError::VersionNotIncreasing);
                }
                if let Some(bytes) = lists.get(org.as_bytes())? {
                    let current_list =
                        tx_decode(records::decode_signed(&bytes, "org_staff_lists"))?;
                    let version = current_list
                        .decode_unverified::<StaffList>(SignedKind::StaffList)
                        .map_or(0, |l| l.version);
                    if list_version <= version {
                        return abort(StoreError::VersionNotIncreasing);
                    }
                }
                for (key, value) in &staff_values {
                    let Some(bytes) = staff.get(key.as_slice())? else {
                        return abort(StoreError::ApprovalMismatch);
                    };
                    let stored = tx_decode(records::decode_staff(&bytes))?;
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
    use crate::store::Store;

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
