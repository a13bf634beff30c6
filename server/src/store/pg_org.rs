//! [`OrgStore`] on PostgreSQL: the port of `sled_org` onto the key-value
//! collections of [`super::pg_kv`] (same trees, keys and records). Where
//! sled reads under its `org_writes` lock and then re-checks inside a
//! transaction, here the reads, the directory-size check and the writes are
//! one serializable transaction.

use std::collections::BTreeSet;

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{OrgInfo, OrgStats, encode};
use stadtbote_protocol::org::{
    InviteCert, RevocationList, Signed, SignedKind, StaffApproval, StaffCertificate, StaffList,
};
use stadtbote_protocol::org_rotation::SignedRotation;
use stadtbote_protocol::{DeviceId, OrgId};

use super::org::{
    DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
use super::pg_aux::{ADMIN_CLAIM, ADMIN_CLAIM_KEY, ADMINS, ORGS};
use super::pg_pool::Session;
use super::pg_store::PgStore;
use super::{CodeState, StoreError, records};

const HANDLES: &str = "handles";
const ORG_CODES: &str = "org_codes";
const ORG_PROFILES: &str = "org_profiles";
const ORG_REVOCATIONS: &str = "org_revocations";
const ORG_STAFF_LISTS: &str = "org_staff_lists";
const ORG_ROTATIONS: &str = "org_rotations";
const INVITES: &str = "invites";
pub(super) const STAFF: &str = "staff";
pub(super) const REVOKED: &str = "revoked";
pub(super) const CHANNELS: &str = "channels";

fn certificate_current(certificate: &StaffCertificate, now_ms: u64) -> bool {
    certificate
        .invite
        .decode_unverified::<InviteCert>(SignedKind::Invite)
        .is_ok_and(|invite| now_ms < invite.cert_expires_at)
}

struct DirectoryParts {
    org: OrgId,
    record: OrgRecord,
    profile: Option<Signed>,
    revocations: Option<Signed>,
    staff_list: Option<Signed>,
    rotations: Vec<SignedRotation>,
    staff: Vec<(DeviceId, StaffCertificate)>,
    revoked: BTreeSet<DeviceId>,
    now_ms: u64,
}

impl DirectoryParts {
    fn build(&self) -> OrgInfo {
        let staff = self
            .staff
            .iter()
            .filter(|(device, cert)| {
                !self.revoked.contains(device) && certificate_current(cert, self.now_ms)
            })
            .map(|(_, cert)| cert.clone())
            .collect();
        OrgInfo {
            org: self.org,
            handle: self.record.handle.clone(),
            org_key: self.record.org_key,
            profile: self.profile.clone(),
            staff,
            revocations: self.revocations.clone(),
            staff_list: self.staff_list.clone(),
            rotations: self.rotations.clone(),
        }
    }

    fn check_size(&self, max_bytes: usize) -> Result<(), StoreError> {
        if encode(&self.build()).len() > max_bytes {
            return Err(StoreError::DirectoryTooLarge);
        }
        Ok(())
    }
}

pub(super) fn staff_of(
    s: &mut Session,
    org: &OrgId,
) -> Result<Vec<(DeviceId, StaffCertificate)>, StoreError> {
    let mut out = Vec::new();
    for (key, value) in s.scan_prefix(STAFF, org.as_bytes())? {
        let device = key
            .get(16..32)
            .and_then(|b| DeviceId::from_slice(b).ok())
            .ok_or(StoreError::corrupt("staff"))?;
        out.push((device, records::decode_staff(&value)?));
    }
    Ok(out)
}

fn revoking_orgs(s: &mut Session, device: &DeviceId) -> Result<Vec<OrgId>, StoreError> {
    match s.get(REVOKED, device.as_bytes())? {
        Some(bytes) => records::decode_orgs(&bytes),
        None => Ok(Vec::new()),
    }
}

fn revoked_by(
    s: &mut Session,
    org: &OrgId,
    staff: &[(DeviceId, StaffCertificate)],
) -> Result<BTreeSet<DeviceId>, StoreError> {
    let mut out = BTreeSet::new();
    for (device, _) in staff {
        if revoking_orgs(s, device)?.contains(org) {
            out.insert(*device);
        }
    }
    Ok(out)
}

fn signed_of(
    s: &mut Session,
    tree: &'static str,
    org: &OrgId,
) -> Result<Option<Signed>, StoreError> {
    match s.get(tree, org.as_bytes())? {
        Some(bytes) => records::decode_signed(&bytes, tree).map(Some),
        None => Ok(None),
    }
}

fn rotations_of(s: &mut Session, org: &OrgId) -> Result<Vec<SignedRotation>, StoreError> {
    match s.get(ORG_ROTATIONS, org.as_bytes())? {
        Some(bytes) => records::decode_rotations(&bytes),
        None => Ok(Vec::new()),
    }
}

pub(super) fn org_record(s: &mut Session, org: &OrgId) -> Result<OrgRecord, StoreError> {
    match s.get(ORGS, org.as_bytes())? {
        Some(bytes) => records::decode_org(&bytes),
        None => Err(StoreError::UnknownOrg),
    }
}

fn directory_parts(
    s: &mut Session,
    org: &OrgId,
    record: OrgRecord,
    now_ms: u64,
) -> Result<DirectoryParts, StoreError> {
    let staff = staff_of(s, org)?;
    let revoked = revoked_by(s, org, &staff)?;
    Ok(DirectoryParts {
        org: *org,
        record,
        profile: signed_of(s, ORG_PROFILES, org)?,
        revocations: signed_of(s, ORG_REVOCATIONS, org)?,
        staff_list: signed_of(s, ORG_STAFF_LISTS, org)?,
        rotations: rotations_of(s, org)?,
        staff,
        revoked,
        now_ms,
    })
}

fn list_version(signed: Option<&Signed>) -> u64 {
    // Verified with the org key when it was stored.
    signed
        .and_then(|s| s.decode_unverified::<StaffList>(SignedKind::StaffList).ok())
        .map_or(0, |l| l.version)
}

impl PgStore {
    /// Per-org aggregate counts by handle, for server admins.
    pub(super) fn org_stats(&self) -> Result<Vec<OrgStats>, StoreError> {
        self.kv(|s| {
            let mut channels: std::collections::BTreeMap<OrgId, u64> = Default::default();
            for (_, value) in s.iter(CHANNELS)? {
                let record = records::decode_channel(&value)?;
                *channels.entry(record.org).or_default() += 1;
            }
            let mut out = Vec::new();
            for (key, value) in s.iter(ORGS)? {
                let org = OrgId::from_slice(&key).map_err(|_| StoreError::corrupt("orgs"))?;
                let record = records::decode_org(&value)?;
                let staff = staff_of(s, &org)?;
                let revoked = revoked_by(s, &org, &staff)?;
                out.push(OrgStats {
                    handle: record.handle,
                    staff_devices: staff.iter().filter(|(d, _)| !revoked.contains(d)).count()
                        as u64,
                    channels: channels.get(&org).copied().unwrap_or(0),
                });
            }
            out.sort_by(|a, b| a.handle.cmp(&b.handle));
            Ok(out)
        })
    }

    /// Whether `device` is enrolled as staff of `org`.
    pub(super) fn staff_certificate_exists(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<bool, StoreError> {
        let key = records::pair_key(org.as_bytes(), device.as_bytes());
        self.kv(|s| s.contains_key(STAFF, &key))
    }
}

impl OrgStore for PgStore {
    fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(self.kv(|s| s.len(ADMINS))? > 0)
    }

    fn is_admin(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.kv(|s| s.contains_key(ADMINS, device.as_bytes()))
    }

    fn admin_claim_hash(&self) -> Result<Option<[u8; 32]>, StoreError> {
        match self.kv(|s| s.get(ADMIN_CLAIM, ADMIN_CLAIM_KEY))? {
            Some(bytes) => records::decode_hash(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn set_admin_claim_hash(&self, code_hash: &[u8; 32]) -> Result<(), StoreError> {
        let value = records::encode_hash(code_hash);
        self.kv(|s| s.insert(ADMIN_CLAIM, ADMIN_CLAIM_KEY, &value).map(|_| ()))
    }

    fn claim_admin(
        &self,
        code_hash: &[u8; 32],
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.kv(|s| {
            let Some(bytes) = s.get(ADMIN_CLAIM, ADMIN_CLAIM_KEY)? else {
                return Err(StoreError::Code(CodeState::Unknown));
            };
            if records::decode_hash(&bytes)? != *code_hash {
                return Err(StoreError::Code(CodeState::Unknown));
            }
            s.remove(ADMIN_CLAIM, ADMIN_CLAIM_KEY)?;
            s.insert(ADMINS, device.as_bytes(), &records::encode_u64(now_ms))?;
            Ok(())
        })
    }

    fn create_org(
        &self,
        org: &OrgId,
        record: &OrgRecord,
        code_hash: &[u8; 32],
        code: &OrgCodeRecord,
    ) -> Result<(), StoreError> {
        self.kv(|s| {
            if s.contains_key(HANDLES, record.handle.as_bytes())? {
                return Err(StoreError::HandleTaken);
            }
            if s.contains_key(ORGS, org.as_bytes())? || s.contains_key(ORG_CODES, code_hash)? {
                return Err(StoreError::contention());
            }
            s.insert(ORGS, org.as_bytes(), &records::encode_org(record))?;
            s.insert(HANDLES, record.handle.as_bytes(), &records::encode_id(org.as_bytes()))?;
            s.insert(ORG_CODES, code_hash, &records::encode_org_code(code))?;
            Ok(())
        })
    }

    fn orgs(&self) -> Result<Vec<(OrgId, OrgRecord)>, StoreError> {
        let mut out = Vec::new();
        for (key, value) in self.kv(|s| s.iter(ORGS))? {
            let org = OrgId::from_slice(&key).map_err(|_| StoreError::corrupt("orgs"))?;
            out.push((org, records::decode_org(&value)?));
        }
        Ok(out)
    }

    fn org(&self, org: &OrgId) -> Result<Option<OrgRecord>, StoreError> {
        match self.kv(|s| org_record(s, org)) {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::UnknownOrg) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn org_by_handle(&self, handle: &str) -> Result<Option<OrgId>, StoreError> {
        match self.kv(|s| s.get(HANDLES, handle.as_bytes()))? {
            Some(bytes) => records::decode_id(&bytes, "handles").map(|id| Some(OrgId(id))),
            None => Ok(None),
        }
    }

    fn org_code(&self, code_hash: &[u8; 32]) -> Result<Option<OrgCodeRecord>, StoreError> {
        match self.kv(|s| s.get(ORG_CODES, code_hash))? {
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
        self.kv(|s| {
            let Some(bytes) = s.get(ORG_CODES, code_hash)? else {
                return Err(StoreError::Code(CodeState::Unknown));
            };
            let code = records::decode_org_code(&bytes)?;
            code.check(now_ms).map_err(StoreError::Code)?;
            let mut record = org_record(s, &code.org)?;
            if record.org_key.is_some() {
                return Err(StoreError::AlreadyClaimed);
            }
            record.org_key = Some(*org_key);
            record.admin_device = Some(*device);
            s.insert(ORGS, code.org.as_bytes(), &records::encode_org(&record))?;
            // Kept until its deletion time, so that a second attempt is
            // told "already used".
            let used = OrgCodeRecord { used: true, ..code };
            s.insert(ORG_CODES, code_hash, &records::encode_org_code(&used))?;
            Ok((code.org, record))
        })
    }

    fn publish_profile(
        &self,
        org: &OrgId,
        profile: &Signed,
        version: u64,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        self.kv(|s| {
            let mut record = org_record(s, org)?;
            if version <= record.profile_version {
                return Err(StoreError::VersionNotIncreasing);
            }
            let mut parts = directory_parts(s, org, record.clone(), limits.now_ms)?;
            parts.profile = Some(profile.clone());
            parts.check_size(limits.max_bytes)?;
            record.profile_version = version;
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&record))?;
            s.insert(ORG_PROFILES, org.as_bytes(), &records::encode_signed(profile))?;
            Ok(())
        })
    }

    fn store_invite(&self, invite_id: &[u8; 8], record: &InviteRecord) -> Result<(), StoreError> {
        let value = records::encode_invite(record);
        self.kv(|s| {
            if s.contains_key(INVITES, invite_id)? {
                return Err(StoreError::InviteIdTaken);
            }
            s.insert(INVITES, invite_id, &value)?;
            Ok(())
        })
    }

    fn invite(&self, invite_id: &[u8; 8]) -> Result<Option<InviteRecord>, StoreError> {
        match self.kv(|s| s.get(INVITES, invite_id))? {
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
        self.kv(|s| {
            let Some(bytes) = s.get(INVITES, invite_id)? else {
                return Err(StoreError::Code(CodeState::Unknown));
            };
            let invite = records::decode_invite(&bytes)?;
            invite.check(limits.now_ms).map_err(StoreError::Code)?;
            let org = invite.org;
            let record = org_record(s, &org)?;
            let mut parts = directory_parts(s, &org, record, limits.now_ms)?;
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
            let used = InviteRecord { used: true, ..invite };
            s.insert(INVITES, invite_id, &records::encode_invite(&used))?;
            let key = records::pair_key(org.as_bytes(), device.as_bytes());
            s.insert(STAFF, &key, &records::encode_staff(certificate))?;
            Ok(org)
        })
    }

    fn revoke(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        revoked: &[DeviceId],
        limits: DirectoryLimits,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let listed: BTreeSet<DeviceId> = revoked.iter().copied().collect();
        self.kv(|s| {
            let mut record = org_record(s, org)?;
            if version <= record.revocation_version {
                return Err(StoreError::VersionNotIncreasing);
            }
            let mut parts = directory_parts(s, org, record.clone(), limits.now_ms)?;
            // Only the org's own staff devices are recorded as revoked.
            let staff: Vec<DeviceId> = parts.staff.iter().map(|(d, _)| *d).collect();
            let now_revoked: BTreeSet<DeviceId> =
                staff.iter().filter(|d| listed.contains(d)).copied().collect();
            parts.revocations = Some(list.clone());
            parts.revoked = now_revoked.clone();
            parts.check_size(limits.max_bytes)?;
            let mut newly = Vec::new();
            for device in &staff {
                let mut orgs_of = revoking_orgs(s, device)?;
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
                    orgs_of.retain(|o| o != org);
                }
                if orgs_of.is_empty() {
                    s.remove(REVOKED, device.as_bytes())?;
                } else {
                    s.insert(REVOKED, device.as_bytes(), &records::encode_orgs(&orgs_of))?;
                }
            }
            record.revocation_version = version;
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&record))?;
            s.insert(ORG_REVOCATIONS, org.as_bytes(), &records::encode_signed(list))?;
            Ok(newly)
        })
    }

    fn publish_staff_list(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        approvals: &[(StaffApproval, Signed)],
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        self.kv(|s| {
            let record = org_record(s, org)?;
            let mut parts = directory_parts(s, org, record, limits.now_ms)?;
            if version <= list_version(parts.staff_list.as_ref()) {
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
            for (device, value) in &updated {
                let key = records::pair_key(org.as_bytes(), device.as_bytes());
                s.insert(STAFF, &key, value)?;
            }
            s.insert(ORG_STAFF_LISTS, org.as_bytes(), &records::encode_signed(list))?;
            Ok(())
        })
    }

    fn rotate_org_key(
        &self,
        org: &OrgId,
        update: &KeyRotationUpdate<'_>,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError> {
        self.kv(|s| {
            let record = org_record(s, org)?;
            let mut chain = rotations_of(s, org)?;
            let expected_sequence = u64::try_from(chain.len()).ok().and_then(|n| n.checked_add(1));
            if record.org_key.as_ref() != Some(update.old_key)
                || expected_sequence != Some(update.sequence)
            {
                return Err(StoreError::VersionNotIncreasing);
            }
            let (profile, profile_version) = update.profile;
            let (list, new_list_version) = update.staff_list;
            let mut parts = directory_parts(s, org, record.clone(), limits.now_ms)?;
            if profile_version <= record.profile_version
                || new_list_version <= list_version(parts.staff_list.as_ref())
            {
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
            parts.record = new_record.clone();
            parts.profile = Some(profile.clone());
            parts.staff_list = Some(list.clone());
            parts.rotations = chain.clone();
            parts.staff = update.staff.to_vec();
            parts.check_size(limits.max_bytes)?;
            for (device, cert) in update.staff {
                let key = records::pair_key(org.as_bytes(), device.as_bytes());
                s.insert(STAFF, &key, &records::encode_staff(cert))?;
            }
            for device in &dropped {
                s.remove(STAFF, &records::pair_key(org.as_bytes(), device.as_bytes()))?;
            }
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&new_record))?;
            s.insert(ORG_ROTATIONS, org.as_bytes(), &records::encode_rotations(&chain))?;
            s.insert(ORG_PROFILES, org.as_bytes(), &records::encode_signed(profile))?;
            s.insert(ORG_STAFF_LISTS, org.as_bytes(), &records::encode_signed(list))?;
            if let Some((revocations, _)) = update.revocations {
                s.insert(ORG_REVOCATIONS, org.as_bytes(), &records::encode_signed(revocations))?;
            }
            Ok(())
        })
    }

    fn org_directory(&self, org: &OrgId, now_ms: u64) -> Result<Option<OrgInfo>, StoreError> {
        self.kv(|s| match org_record(s, org) {
            Ok(record) => Ok(Some(directory_parts(s, org, record, now_ms)?.build())),
            Err(StoreError::UnknownOrg) => Ok(None),
            Err(e) => Err(e),
        })
    }

    fn is_revoked(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.kv(|s| s.contains_key(REVOKED, device.as_bytes()))
    }
}

/// Deletes expired org codes and invitations (by their deletion time);
/// returns (org codes, invitations).
pub(super) fn sweep_codes(s: &mut Session, now_ms: u64) -> Result<(u64, u64), StoreError> {
    let mut codes = 0;
    for (key, value) in s.iter(ORG_CODES)? {
        if records::decode_org_code(&value).is_ok_and(|r| r.delete_at > now_ms) {
            continue;
        }
        s.remove(ORG_CODES, &key)?;
        codes += 1;
    }
    let mut invites = 0;
    for (key, value) in s.iter(INVITES)? {
        if records::decode_invite(&value).is_ok_and(|r| r.delete_at > now_ms) {
            continue;
        }
        s.remove(INVITES, &key)?;
        invites += 1;
    }
    Ok((codes, invites))
}
