//! [`OrgStore`] on PostgreSQL: the org records in the key-value
//! collections of [`super::pg_kv`] (same trees, keys and records as sled).
//! Each method reads what the rules of [`super::rules::org`] need, lets
//! them decide and writes what they return, all in one serializable
//! transaction (where sled reads under its `org_writes` lock and re-checks
//! inside a transaction).

use std::collections::BTreeSet;

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{OrgInfo, OrgStats};
use stadtbote_protocol::org::{Signed, StaffApproval, StaffCertificate};
use stadtbote_protocol::org_rotation::SignedRotation;
use stadtbote_protocol::{DeviceId, OrgId};

use super::org::{
    DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
use super::pg_aux::{ADMIN_CLAIM, ADMIN_CLAIM_KEY, ADMINS, ORGS};
use super::pg_pool::Session;
use super::pg_store::PgStore;
use super::rules::org::{self as rule, Directory};
use super::{StoreError, records};

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
) -> Result<Directory, StoreError> {
    let staff = staff_of(s, org)?;
    let revoked = revoked_by(s, org, &staff)?;
    Ok(Directory {
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

fn org_code_of(s: &mut Session, code_hash: &[u8; 32]) -> Result<Option<OrgCodeRecord>, StoreError> {
    s.get(ORG_CODES, code_hash)?.map(|bytes| records::decode_org_code(&bytes)).transpose()
}

fn invite_of(s: &mut Session, invite_id: &[u8; 8]) -> Result<Option<InviteRecord>, StoreError> {
    s.get(INVITES, invite_id)?.map(|bytes| records::decode_invite(&bytes)).transpose()
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
            let stored = s.get(ADMIN_CLAIM, ADMIN_CLAIM_KEY)?;
            rule::claim_admin(stored.map(|b| records::decode_hash(&b)).transpose()?, code_hash)?;
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
            let handle_taken = s.contains_key(HANDLES, record.handle.as_bytes())?;
            let id_or_code_taken =
                s.contains_key(ORGS, org.as_bytes())? || s.contains_key(ORG_CODES, code_hash)?;
            rule::check_new_org(handle_taken, id_or_code_taken)?;
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
        self.kv(|s| org_code_of(s, code_hash))
    }

    fn claim_org(
        &self,
        code_hash: &[u8; 32],
        org_key: &IdentityKey,
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(OrgId, OrgRecord), StoreError> {
        self.kv(|s| {
            let code = rule::usable_code(org_code_of(s, code_hash)?, now_ms)?;
            let record = match org_record(s, &code.org) {
                Ok(record) => Some(record),
                Err(StoreError::UnknownOrg) => None,
                Err(e) => return Err(e),
            };
            let claim = rule::claim_org(code, record, org_key, device)?;
            s.insert(ORGS, code.org.as_bytes(), &records::encode_org(&claim.record))?;
            s.insert(ORG_CODES, code_hash, &records::encode_org_code(&claim.used_code))?;
            Ok((code.org, claim.record))
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
            let record = org_record(s, org)?;
            rule::check_profile_version(&record, version)?;
            let parts = directory_parts(s, org, record, limits.now_ms)?;
            let record = rule::publish_profile(parts, profile, version, limits.max_bytes)?;
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
        self.kv(|s| invite_of(s, invite_id))
    }

    fn enroll(
        &self,
        invite_id: &[u8; 8],
        device: &DeviceId,
        certificate: &StaffCertificate,
        limits: DirectoryLimits,
    ) -> Result<OrgId, StoreError> {
        self.kv(|s| {
            let invite = rule::usable_invite(invite_of(s, invite_id)?, limits.now_ms)?;
            let org = invite.org;
            let record = org_record(s, &org)?;
            let parts = directory_parts(s, &org, record, limits.now_ms)?;
            let used = rule::enroll(invite, parts, device, certificate, limits.max_bytes)?;
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
        self.kv(|s| {
            let record = org_record(s, org)?;
            rule::check_revocation_version(&record, version)?;
            let parts = directory_parts(s, org, record, limits.now_ms)?;
            let plan = rule::revoke(parts, list, version, revoked, limits.max_bytes)?;
            let mut newly = Vec::new();
            for device in &plan.staff {
                let mut orgs_of = revoking_orgs(s, device)?;
                let wants = plan.now_revoked.contains(device);
                match rule::update_revoking(&mut orgs_of, org, wants) {
                    None => continue,
                    Some(true) => newly.push(*device),
                    Some(false) => {}
                }
                if orgs_of.is_empty() {
                    s.remove(REVOKED, device.as_bytes())?;
                } else {
                    s.insert(REVOKED, device.as_bytes(), &records::encode_orgs(&orgs_of))?;
                }
            }
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&plan.record))?;
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
            let parts = directory_parts(s, org, record, limits.now_ms)?;
            let updated =
                rule::publish_staff_list(parts, list, version, approvals, limits.max_bytes)?;
            for (device, certificate) in &updated {
                let key = records::pair_key(org.as_bytes(), device.as_bytes());
                s.insert(STAFF, &key, &records::encode_staff(certificate))?;
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
            let chain = rotations_of(s, org)?;
            // Checked before the directory is read, as on sled.
            rule::check_rotation_versions(&record, chain.len(), 0, update)?;
            let parts = directory_parts(s, org, record, limits.now_ms)?;
            let plan = rule::rotate_org_key(parts, chain, update, limits.max_bytes)?;
            let (profile, _) = update.profile;
            let (list, _) = update.staff_list;
            for (device, cert) in update.staff {
                let key = records::pair_key(org.as_bytes(), device.as_bytes());
                s.insert(STAFF, &key, &records::encode_staff(cert))?;
            }
            for device in &plan.dropped {
                s.remove(STAFF, &records::pair_key(org.as_bytes(), device.as_bytes()))?;
            }
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&plan.record))?;
            s.insert(ORG_ROTATIONS, org.as_bytes(), &records::encode_rotations(&plan.chain))?;
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
        let delete_at = records::decode_org_code(&value).ok().map(|r| r.delete_at);
        if !rule::code_record_gone(delete_at, now_ms) {
            continue;
        }
        s.remove(ORG_CODES, &key)?;
        codes += 1;
    }
    let mut invites = 0;
    for (key, value) in s.iter(INVITES)? {
        let delete_at = records::decode_invite(&value).ok().map(|r| r.delete_at);
        if !rule::code_record_gone(delete_at, now_ms) {
            continue;
        }
        s.remove(INVITES, &key)?;
        invites += 1;
    }
    Ok((codes, invites))
}
