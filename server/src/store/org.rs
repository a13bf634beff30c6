//! Storage of server admins, organisations and the org-signed objects the
//! server keeps for them (profile, staff invitations and certificates with
//! the org key's approvals, staff list, revocation list).
//!
//! The server checks every signature before it stores an object, but it
//! cannot create any of them: they are signed by the org key (on the org
//! admin's device) or by a one-time invite key derived from a secret the
//! server never sees. What is stored here is public: clients fetch it with
//! the org directory and verify it themselves against the org key they pinned.
//!
//! Codes (admin claim, org-admin claim) are stored only as SHA-256 hashes.

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::org::{Signed, StaffApproval, StaffCertificate};
use stadtbote_protocol::{DeviceId, OrgId};

use super::StoreError;

/// Why a one-time code cannot be redeemed. Kept apart so that the relay can
/// tell the user precisely what is wrong with the code they typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// No such code.
    Unknown,
    /// The code is past its expiry.
    Expired,
    /// The code was already redeemed.
    Used,
}

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    /// Unique handle, e.g. `goslar`.
    pub handle: String,
    /// Display name given at creation.
    pub name: String,
    /// When a server admin created it (Unix ms).
    pub created_at: u64,
    /// The org's public signing key, once claimed.
    pub org_key: Option<IdentityKey>,
    /// The org admin's device, once claimed.
    pub admin_device: Option<DeviceId>,
    /// Version of the stored profile (0: none yet).
    pub profile_version: u64,
    /// Version of the stored revocation list (0: none yet).
    pub revocation_version: u64,
    /// Whether a server admin suspended the org.
    pub suspended: bool,
}

/// What [`OrgStore::rotate_org_key`] stores, every signature verified.
#[derive(Debug, Clone, Copy)]
pub struct KeyRotationUpdate<'a> {
    /// The rotation link.
    pub rotation: &'a stadtbote_protocol::org_rotation::SignedRotation,
    /// Its sequence number.
    pub sequence: u64,
    /// The key it replaces (must be the stored key).
    pub old_key: &'a IdentityKey,
    /// The new key.
    pub new_key: &'a IdentityKey,
    /// The profile signed by the new key, and its version.
    pub profile: (&'a Signed, u64),
    /// The staff list signed by the new key, and its version.
    pub staff_list: (&'a Signed, u64),
    /// Re-issued staff certificates with their devices.
    pub staff: &'a [(DeviceId, StaffCertificate)],
    /// The revocation list re-signed by the new key (same devices), and its
    /// version; `None` when the org has none.
    pub revocations: Option<(&'a Signed, u64)>,
}

/// A one-time org-admin code (stored under its SHA-256 hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgCodeRecord {
    /// The org it claims.
    pub org: OrgId,
    /// When it stops working (Unix ms).
    pub expires_at: u64,
    /// When the sweeper deletes the record; later than `expires_at` so that
    /// late attempts are told "expired" rather than "unknown".
    pub delete_at: u64,
    /// Whether it was redeemed.
    pub used: bool,
}

/// Whether a one-time code (org code or invitation) that is `used` and
/// expires at `expires_at` can be redeemed at `now_ms`, or why not.
fn redeemable(used: bool, expires_at: u64, now_ms: u64) -> Result<(), CodeState> {
    if used {
        Err(CodeState::Used)
    } else if now_ms >= expires_at {
        Err(CodeState::Expired)
    } else {
        Ok(())
    }
}

impl OrgCodeRecord {
    /// Whether the code can be redeemed at `now_ms`, or why not.
    pub fn check(&self, now_ms: u64) -> Result<(), CodeState> {
        redeemable(self.used, self.expires_at, now_ms)
    }
}

/// A staff invitation (stored under its 8-byte public id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    /// The inviting org.
    pub org: OrgId,
    /// The invitation must be redeemed before this (Unix ms).
    pub expires_at: u64,
    /// When the sweeper deletes the record (after `expires_at`).
    pub delete_at: u64,
    /// Whether it was redeemed.
    pub used: bool,
    /// The [`stadtbote_protocol::org::InviteCert`], signed by the org key
    /// (verified before it was stored).
    pub invite: Signed,
}

impl InviteRecord {
    /// Whether the invitation can be redeemed at `now_ms`, or why not.
    pub fn check(&self, now_ms: u64) -> Result<(), CodeState> {
        redeemable(self.used, self.expires_at, now_ms)
    }
}

/// The time and size bound for changes to what the org directory shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryLimits {
    /// Now (Unix ms).
    pub now_ms: u64,
    /// The most bytes the encoded [`OrgInfo`] may have after the change, so
    /// that the directory answer always fits in one message.
    pub max_bytes: usize,
}

/// Server admins and organisations.
pub trait OrgStore {
    /// Whether any device is a server admin.
    fn has_admin(&self) -> Result<bool, StoreError>;

    /// Whether `device` is a server admin.
    fn is_admin(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// The hash of the pending admin claim code, if any.
    fn admin_claim_hash(&self) -> Result<Option<[u8; 32]>, StoreError>;

    /// Stores (or replaces) the pending admin claim code's hash.
    fn set_admin_claim_hash(&self, code_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// Makes `device` a server admin if `code_hash` is the pending claim
    /// code's hash, consuming the code in the same step; otherwise
    /// [`StoreError::Code`] with [`CodeState::Unknown`].
    fn claim_admin(
        &self,
        code_hash: &[u8; 32],
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// Creates an org with its handle and one-time org-admin code;
    /// [`StoreError::HandleTaken`] if the handle is in use.
    fn create_org(
        &self,
        org: &OrgId,
        record: &OrgRecord,
        code_hash: &[u8; 32],
        code: &OrgCodeRecord,
    ) -> Result<(), StoreError>;

    /// Every org, in id order.
    fn orgs(&self) -> Result<Vec<(OrgId, OrgRecord)>, StoreError>;

    /// The org, if it exists.
    fn org(&self, org: &OrgId) -> Result<Option<OrgRecord>, StoreError>;

    /// The org with this handle, if any.
    fn org_by_handle(&self, handle: &str) -> Result<Option<OrgId>, StoreError>;

    /// The org-admin code with this hash, if stored.
    fn org_code(&self, code_hash: &[u8; 32]) -> Result<Option<OrgCodeRecord>, StoreError>;

    /// Redeems an org-admin code: registers `org_key` and `device` as the
    /// org's key and admin device and marks the code used, atomically.
    fn claim_org(
        &self,
        code_hash: &[u8; 32],
        org_key: &IdentityKey,
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(OrgId, OrgRecord), StoreError>;

    /// Stores a verified profile of `version`, which must be above the stored
    /// version ([`StoreError::VersionNotIncreasing`]).
    fn publish_profile(
        &self,
        org: &OrgId,
        profile: &Signed,
        version: u64,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError>;

    /// Stores a verified staff invitation; [`StoreError::InviteIdTaken`] if
    /// its id is in use.
    fn store_invite(&self, invite_id: &[u8; 8], record: &InviteRecord) -> Result<(), StoreError>;

    /// The invitation with this id, if stored.
    fn invite(&self, invite_id: &[u8; 8]) -> Result<Option<InviteRecord>, StoreError>;

    /// Redeems an invitation for `device`: marks it used and stores the
    /// (verified) staff certificate, atomically. Returns the org.
    fn enroll(
        &self,
        invite_id: &[u8; 8],
        device: &DeviceId,
        certificate: &StaffCertificate,
        limits: DirectoryLimits,
    ) -> Result<OrgId, StoreError>;

    /// Stores a verified revocation list of `version` (above the stored one)
    /// and records which of the org's staff devices it revokes. Returns the
    /// devices revoked by this list that were not revoked before.
    fn revoke(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        revoked: &[DeviceId],
        limits: DirectoryLimits,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// Stores a verified staff list of `version` (above the stored list's
    /// version, else [`StoreError::VersionNotIncreasing`]) and attaches each
    /// verified approval to the enrolment stored for its device, atomically;
    /// [`StoreError::ApprovalMismatch`] if an approval does not state that
    /// enrolment's binding exactly.
    fn publish_staff_list(
        &self,
        org: &OrgId,
        list: &Signed,
        version: u64,
        approvals: &[(StaffApproval, Signed)],
        limits: DirectoryLimits,
    ) -> Result<(), StoreError>;

    /// Replaces the org key, atomically: appends the rotation link (whose
    /// sequence must be the chain's length + 1, and the stored key
    /// `update.old_key`, else [`StoreError::VersionNotIncreasing`]), stores
    /// the new key, the profile and staff list re-signed by it (versions
    /// above the stored ones) and the re-issued staff certificates (each
    /// must carry the binding of an enrolment stored for its device, else
    /// [`StoreError::ApprovalMismatch`]); stored enrolments not re-issued
    /// are dropped (they no longer chain to the org key).
    fn rotate_org_key(
        &self,
        org: &OrgId,
        update: &KeyRotationUpdate<'_>,
        limits: DirectoryLimits,
    ) -> Result<(), StoreError>;

    /// Everything public about the org at `now_ms`: staff certificates of
    /// devices it revoked, and expired ones, are left out.
    fn org_directory(&self, org: &OrgId, now_ms: u64) -> Result<Option<OrgInfo>, StoreError>;

    /// Whether any org revoked `device`.
    fn is_revoked(&self, device: &DeviceId) -> Result<bool, StoreError>;
}
