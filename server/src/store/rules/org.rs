//! What may happen to orgs, their codes, invitations, staff and directory.
//!
//! Pure functions over decoded records: the backend reads the records
//! inside its transaction (sled: under `org_writes`, re-checking inside
//! its transaction what a concurrent request could change; PostgreSQL: one
//! serializable transaction), hands them here and stores exactly what comes
//! back. Which refusal a request gets, and in which order the checks run,
//! is decided here once for both backends:
//!
//! * one-time codes: the admin claim code, org-admin codes and staff
//!   invitations are redeemed once, before their expiry ([`usable_code`],
//!   [`usable_invite`], [`claim_admin`]);
//! * versions of the profile, staff list and revocation list only grow;
//!   a key rotation extends the chain by exactly one link from the stored
//!   key ([`check_rotation_versions`]);
//! * the directory an org publishes always fits in one message
//!   ([`Directory::check_size`]), and shows only current, unrevoked staff
//!   ([`Directory::build`]);
//! * a revocation list records only the org's own staff as revoked
//!   ([`revoke`], [`update_revoking`]).

use std::collections::BTreeSet;

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{OrgInfo, encode};
use stadtbote_protocol::org::{
    InviteCert, RevocationList, Signed, SignedKind, StaffApproval, StaffCertificate, StaffList,
};
use stadtbote_protocol::org_rotation::SignedRotation;
use stadtbote_protocol::{DeviceId, OrgId};

use crate::store::org::{InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord};
use crate::store::{CodeState, StoreError};

/// Whether a stored staff certificate belongs in the directory at `now_ms`:
/// expired certificates are left out (clients would discard them anyway).
/// The invitation was verified when it was stored, so reading it unverified
/// here is only reading our own record.
pub fn certificate_current(certificate: &StaffCertificate, now_ms: u64) -> bool {
    certificate
        .invite
        .decode_unverified::<InviteCert>(SignedKind::Invite)
        .is_ok_and(|invite| now_ms < invite.cert_expires_at)
}

/// The version of a stored staff list (0: none). Verified with the org key
/// when it was stored.
pub fn staff_list_version(signed: Option<&Signed>) -> u64 {
    signed
        .and_then(|s| s.decode_unverified::<StaffList>(SignedKind::StaffList).ok())
        .map_or(0, |l| l.version)
}

/// What an org's directory is built from, as the backend read it.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The org.
    pub org: OrgId,
    /// Its record.
    pub record: OrgRecord,
    /// Its signed profile.
    pub profile: Option<Signed>,
    /// Its signed revocation list.
    pub revocations: Option<Signed>,
    /// Its signed staff list.
    pub staff_list: Option<Signed>,
    /// Its key rotation chain.
    pub rotations: Vec<SignedRotation>,
    /// Its staff certificates with their devices, in device order.
    pub staff: Vec<(DeviceId, StaffCertificate)>,
    /// The staff devices this org revoked.
    pub revoked: BTreeSet<DeviceId>,
    /// Now (Unix ms): expired certificates are left out.
    pub now_ms: u64,
}

impl Directory {
    /// The directory answer.
    pub fn build(&self) -> OrgInfo {
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

    /// Refuses with [`StoreError::DirectoryTooLarge`] when the directory
    /// built from these parts would not fit in `max_bytes`.
    pub fn check_size(&self, max_bytes: usize) -> Result<(), StoreError> {
        if encode(&self.build()).len() > max_bytes {
            return Err(StoreError::DirectoryTooLarge);
        }
        Ok(())
    }
}

/// The admin claim: the stored pending code hash must be `code_hash`.
/// Hashes of 160-bit random codes: comparing them leaks nothing useful
/// through timing.
pub fn claim_admin(stored: Option<[u8; 32]>, code_hash: &[u8; 32]) -> Result<(), StoreError> {
    match stored {
        Some(stored) if stored == *code_hash => Ok(()),
        _ => Err(StoreError::Code(CodeState::Unknown)),
    }
}

/// A new org: its handle must be free. Random 128-bit ids and 160-bit
/// codes do not collide in practice; should they, refusing beats
/// overwriting.
pub fn check_new_org(handle_taken: bool, id_or_code_taken: bool) -> Result<(), StoreError> {
    if handle_taken {
        return Err(StoreError::HandleTaken);
    }
    if id_or_code_taken {
        return Err(StoreError::contention());
    }
    Ok(())
}

/// An org-admin code that can be redeemed now, or why not.
pub fn usable_code(code: Option<OrgCodeRecord>, now_ms: u64) -> Result<OrgCodeRecord, StoreError> {
    let code = code.ok_or(StoreError::Code(CodeState::Unknown))?;
    code.check(now_ms).map_err(StoreError::Code)?;
    Ok(code)
}

/// What a successful org claim stores: the org's record with its key and
/// admin device, and the used code (kept until its deletion time so that a
/// second attempt is told "already used").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgClaim {
    /// The claimed org's new record.
    pub record: OrgRecord,
    /// The code, marked used.
    pub used_code: OrgCodeRecord,
}

/// Claims the org of `code` (already [`usable_code`]) for `org_key`.
pub fn claim_org(
    code: OrgCodeRecord,
    record: Option<OrgRecord>,
    org_key: &IdentityKey,
    device: &DeviceId,
) -> Result<OrgClaim, StoreError> {
    let mut record = record.ok_or(StoreError::UnknownOrg)?;
    if record.org_key.is_some() {
        return Err(StoreError::AlreadyClaimed);
    }
    record.org_key = Some(*org_key);
    record.admin_device = Some(*device);
    Ok(OrgClaim { record, used_code: OrgCodeRecord { used: true, ..code } })
}

/// A profile version must be above the stored one.
pub fn check_profile_version(record: &OrgRecord, version: u64) -> Result<(), StoreError> {
    if version <= record.profile_version {
        return Err(StoreError::VersionNotIncreasing);
    }
    Ok(())
}

/// Publishes `profile` as `version`: returns the org's new record, or the
/// refusal (version, directory size).
pub fn publish_profile(
    mut directory: Directory,
    profile: &Signed,
    version: u64,
    max_bytes: usize,
) -> Result<OrgRecord, StoreError> {
    check_profile_version(&directory.record, version)?;
    directory.profile = Some(profile.clone());
    directory.check_size(max_bytes)?;
    let mut record = directory.record;
    record.profile_version = version;
    Ok(record)
}

/// A staff invitation that can be redeemed now, or why not.
pub fn usable_invite(
    invite: Option<InviteRecord>,
    now_ms: u64,
) -> Result<InviteRecord, StoreError> {
    let invite = invite.ok_or(StoreError::Code(CodeState::Unknown))?;
    invite.check(now_ms).map_err(StoreError::Code)?;
    Ok(invite)
}

/// Enrols `device` with `certificate` through `invite` (already
/// [`usable_invite`]) into the org's `directory`: refused for a device on
/// the org's current revocation list (it applies to devices enrolled after
/// it, too) and when the directory would no longer fit. Returns the used
/// invitation; an earlier enrolment of the device is replaced.
pub fn enroll(
    invite: InviteRecord,
    mut directory: Directory,
    device: &DeviceId,
    certificate: &StaffCertificate,
    max_bytes: usize,
) -> Result<InviteRecord, StoreError> {
    if let Some(list) = &directory.revocations
        && list
            .decode_unverified::<RevocationList>(SignedKind::Revocations)
            .is_ok_and(|list| list.revoked.contains(device))
    {
        return Err(StoreError::DeviceRevoked);
    }
    directory.staff.retain(|(d, _)| d != device);
    directory.staff.push((*device, certificate.clone()));
    directory.check_size(max_bytes)?;
    Ok(InviteRecord { used: true, ..invite })
}

/// A revocation list version must be above the stored one.
pub fn check_revocation_version(record: &OrgRecord, version: u64) -> Result<(), StoreError> {
    if version <= record.revocation_version {
        return Err(StoreError::VersionNotIncreasing);
    }
    Ok(())
}

/// What a new revocation list changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokePlan {
    /// The org's new record (its revocation version).
    pub record: OrgRecord,
    /// The org's staff devices, each to be updated with
    /// [`update_revoking`].
    pub staff: Vec<DeviceId>,
    /// Those of them that are revoked from now on.
    pub now_revoked: BTreeSet<DeviceId>,
}

/// Publishes the revocation list `list` (`version`, naming `listed`). Only
/// the org's own staff devices are recorded as revoked: an org must not be
/// able to cut off anyone else's devices.
pub fn revoke(
    mut directory: Directory,
    list: &Signed,
    version: u64,
    listed: &[DeviceId],
    max_bytes: usize,
) -> Result<RevokePlan, StoreError> {
    check_revocation_version(&directory.record, version)?;
    let listed: BTreeSet<&DeviceId> = listed.iter().collect();
    let staff: Vec<DeviceId> = directory.staff.iter().map(|(d, _)| *d).collect();
    let now_revoked: BTreeSet<DeviceId> =
        staff.iter().filter(|d| listed.contains(d)).copied().collect();
    directory.revocations = Some(list.clone());
    directory.revoked = now_revoked.clone();
    directory.check_size(max_bytes)?;
    let mut record = directory.record;
    record.revocation_version = version;
    Ok(RevokePlan { record, staff, now_revoked })
}

/// Updates `orgs`, the orgs that revoked one staff device, for `org`'s new
/// list: `None` when nothing changes; `Some(true)` when the device is newly
/// revoked, `Some(false)` when the revocation is lifted (a later list may
/// lift it). The backend then stores `orgs`, or removes the device's
/// record when `orgs` is empty.
pub fn update_revoking(orgs: &mut Vec<OrgId>, org: &OrgId, wants: bool) -> Option<bool> {
    if orgs.contains(org) == wants {
        return None;
    }
    if wants {
        orgs.push(*org);
        orgs.sort();
    } else {
        orgs.retain(|o| o != org);
    }
    Some(wants)
}

/// Whether `new` is still the enrolment `current` (the same invitation and
/// binding): the device may have redeemed another code since the approval
/// was read.
pub fn same_enrolment(new: &StaffCertificate, current: &StaffCertificate) -> bool {
    new.invite == current.invite && new.binding == current.binding
}

/// Publishes the staff list `list` (`version`) with `approvals` attached to
/// the matching enrolments: returns the certificates to store, or the
/// refusal (version, an approval of no stored binding, directory size).
pub fn publish_staff_list(
    mut directory: Directory,
    list: &Signed,
    version: u64,
    approvals: &[(StaffApproval, Signed)],
    max_bytes: usize,
) -> Result<Vec<(DeviceId, StaffCertificate)>, StoreError> {
    if version <= staff_list_version(directory.staff_list.as_ref()) {
        return Err(StoreError::VersionNotIncreasing);
    }
    let mut updated = Vec::with_capacity(approvals.len());
    for (approval, signed) in approvals {
        let Some((_, stored)) = directory.staff.iter_mut().find(|(d, _)| *d == approval.device)
        else {
            return Err(StoreError::ApprovalMismatch);
        };
        if !stored.matches_approval(approval) {
            return Err(StoreError::ApprovalMismatch);
        }
        stored.approval = Some(signed.clone());
        updated.push((approval.device, stored.clone()));
    }
    directory.staff_list = Some(list.clone());
    directory.check_size(max_bytes)?;
    Ok(updated)
}

/// The version checks of a key rotation against what is stored: the
/// stored key is the one replaced, the chain grows by exactly this link,
/// and the profile, staff list and (if any) revocation list versions grow.
pub fn check_rotation_versions(
    record: &OrgRecord,
    chain_len: usize,
    stored_list_version: u64,
    update: &KeyRotationUpdate<'_>,
) -> Result<(), StoreError> {
    let expected_sequence = u64::try_from(chain_len).ok().and_then(|n| n.checked_add(1));
    if record.org_key.as_ref() != Some(update.old_key) || expected_sequence != Some(update.sequence)
    {
        return Err(StoreError::VersionNotIncreasing);
    }
    let (_, profile_version) = update.profile;
    let (_, list_version) = update.staff_list;
    if profile_version <= record.profile_version || list_version <= stored_list_version {
        return Err(StoreError::VersionNotIncreasing);
    }
    if let Some((_, version)) = update.revocations
        && version <= record.revocation_version
    {
        return Err(StoreError::VersionNotIncreasing);
    }
    Ok(())
}

/// What a key rotation stores.
#[derive(Debug, Clone)]
pub struct RotationPlan {
    /// The org's new record (new key, profile and revocation versions).
    pub record: OrgRecord,
    /// The rotation chain with the new link.
    pub chain: Vec<SignedRotation>,
    /// Staff devices whose certificates were not re-issued: dropped.
    pub dropped: Vec<DeviceId>,
}

/// Rotates the org key: every re-issued certificate must keep its stored
/// binding; staff not re-issued are dropped; the directory after the
/// rotation must fit.
pub fn rotate_org_key(
    mut directory: Directory,
    mut chain: Vec<SignedRotation>,
    update: &KeyRotationUpdate<'_>,
    max_bytes: usize,
) -> Result<RotationPlan, StoreError> {
    check_rotation_versions(
        &directory.record,
        chain.len(),
        staff_list_version(directory.staff_list.as_ref()),
        update,
    )?;
    for (device, reissued) in update.staff {
        let same_binding = directory
            .staff
            .iter()
            .any(|(d, stored)| d == device && stored.binding == reissued.binding);
        if !same_binding {
            return Err(StoreError::ApprovalMismatch);
        }
    }
    let dropped: Vec<DeviceId> = directory
        .staff
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| !update.staff.iter().any(|(r, _)| r == d))
        .collect();
    chain.push(update.rotation.clone());
    let (profile, profile_version) = update.profile;
    let (list, _) = update.staff_list;
    let mut record = directory.record.clone();
    record.org_key = Some(*update.new_key);
    record.profile_version = profile_version;
    if let Some((list, version)) = update.revocations {
        record.revocation_version = version;
        directory.revocations = Some(list.clone());
    }
    directory.record = record.clone();
    directory.profile = Some(profile.clone());
    directory.staff_list = Some(list.clone());
    directory.rotations = chain.clone();
    directory.staff = update.staff.to_vec();
    directory.check_size(max_bytes)?;
    Ok(RotationPlan { record, chain, dropped })
}

/// Whether the sweeper deletes an org code or invitation record whose
/// deletion time is `delete_at` (`None`: the record does not decode).
pub fn code_record_gone(delete_at: Option<u64>, now_ms: u64) -> bool {
    delete_at.is_none_or(|at| at <= now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000;

    fn record() -> OrgRecord {
        OrgRecord {
            handle: "goslar".into(),
            name: "Stadt Goslar".into(),
            created_at: 1,
            org_key: None,
            admin_device: None,
            profile_version: 0,
            revocation_version: 0,
            suspended: false,
        }
    }

    fn directory(record: OrgRecord) -> Directory {
        Directory {
            org: OrgId([1; 16]),
            record,
            profile: None,
            revocations: None,
            staff_list: None,
            rotations: Vec::new(),
            staff: Vec::new(),
            revoked: BTreeSet::new(),
            now_ms: NOW,
        }
    }

    /// An object of `len` bytes; the rules never verify signatures (the
    /// relay did before the store was asked).
    fn unsigned(len: usize) -> Signed {
        Signed {
            bytes: serde_bytes::ByteBuf::from(vec![0; len]),
            signature: stadtbote_protocol::auth::Signature([0; 64]),
        }
    }

    fn code(used: bool, expires_at: u64) -> OrgCodeRecord {
        OrgCodeRecord { org: OrgId([1; 16]), expires_at, delete_at: expires_at + 10, used }
    }

    #[test]
    fn codes_are_redeemed_once_before_their_expiry() {
        assert!(matches!(usable_code(None, NOW), Err(StoreError::Code(CodeState::Unknown))));
        assert!(matches!(
            usable_code(Some(code(true, NOW + 1)), NOW),
            Err(StoreError::Code(CodeState::Used))
        ));
        assert!(matches!(
            usable_code(Some(code(false, NOW)), NOW),
            Err(StoreError::Code(CodeState::Expired))
        ));
        let usable = usable_code(Some(code(false, NOW + 1)), NOW).unwrap();
        let key = IdentityKey([7; 32]);
        let device = DeviceId([2; 16]);
        assert!(matches!(claim_org(usable, None, &key, &device), Err(StoreError::UnknownOrg)));
        let claim = claim_org(usable, Some(record()), &key, &device).unwrap();
        assert!(claim.used_code.used);
        assert_eq!(claim.record.org_key, Some(key));
        assert_eq!(claim.record.admin_device, Some(device));
        assert!(matches!(
            claim_org(usable, Some(claim.record), &key, &device),
            Err(StoreError::AlreadyClaimed)
        ));
        assert!(claim_admin(Some([1; 32]), &[1; 32]).is_ok());
        assert!(matches!(
            claim_admin(Some([1; 32]), &[2; 32]),
            Err(StoreError::Code(CodeState::Unknown))
        ));
        assert!(matches!(claim_admin(None, &[1; 32]), Err(StoreError::Code(CodeState::Unknown))));
        assert!(matches!(check_new_org(true, true), Err(StoreError::HandleTaken)));
        assert!(check_new_org(false, false).is_ok());
        assert!(check_new_org(false, true).is_err());
        assert!(!code_record_gone(Some(NOW + 1), NOW));
        assert!(code_record_gone(Some(NOW), NOW));
        assert!(code_record_gone(None, NOW), "an undecodable record goes");
    }

    #[test]
    fn versions_only_grow_and_the_directory_must_fit() {
        let mut stored = record();
        stored.profile_version = 3;
        let signed = unsigned(10);
        assert!(matches!(
            publish_profile(directory(stored.clone()), &signed, 3, 1 << 20),
            Err(StoreError::VersionNotIncreasing)
        ));
        assert_eq!(
            publish_profile(directory(stored.clone()), &signed, 4, 1 << 20)
                .unwrap()
                .profile_version,
            4
        );
        let big = unsigned(2000);
        assert!(matches!(
            publish_profile(directory(stored), &big, 4, 1000),
            Err(StoreError::DirectoryTooLarge)
        ));
    }

    #[test]
    fn only_the_orgs_own_staff_is_revoked_and_a_later_list_lifts_it() {
        let org = OrgId([1; 16]);
        let mut orgs = Vec::new();
        assert_eq!(update_revoking(&mut orgs, &org, false), None);
        assert_eq!(update_revoking(&mut orgs, &org, true), Some(true));
        assert_eq!(orgs, vec![org]);
        assert_eq!(update_revoking(&mut orgs, &org, true), None);
        let other = OrgId([0; 16]);
        assert_eq!(update_revoking(&mut orgs, &other, true), Some(true));
        assert_eq!(orgs, vec![other, org], "kept sorted");
        assert_eq!(update_revoking(&mut orgs, &org, false), Some(false));
        assert_eq!(orgs, vec![other]);
        let list = unsigned(0);
        let plan = revoke(directory(record()), &list, 1, &[DeviceId([5; 16])], 1 << 20).unwrap();
        assert!(plan.staff.is_empty() && plan.now_revoked.is_empty(), "not the org's device");
        assert_eq!(plan.record.revocation_version, 1);
        assert!(matches!(
            revoke(directory(plan.record), &list, 1, &[], 1 << 20),
            Err(StoreError::VersionNotIncreasing)
        ));
    }
}
