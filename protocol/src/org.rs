//! Organisation identity: the org signing key and everything it signs.
//!
//! A municipality ("org") has an Ed25519 signing key that lives on its org
//! admin's device. Its fingerprint is printed on posters and the website;
//! citizens' clients pin it on first contact. The key signs:
//!
//! * the public [`OrgProfile`] (name, handle, categories and the department
//!   each routes to, office hours, live session, channels);
//! * [`InviteCert`]s: a one-time staff invitation naming role, department and
//!   expiry, and delegating to a one-time *invite key* derived from the secret
//!   half of the invite code. The staff device that redeems the code signs a
//!   [`DeviceBinding`] with that invite key. Invite certificate + binding
//!   together form the device's *enrolment*; the server, which never learns
//!   the code's secret, cannot produce either half;
//! * a [`StaffApproval`] of each enrolment: the org admin's device checks
//!   the pending binding against the invitation it issued (and that the
//!   invitation was not used for another approved device) and signs the
//!   final device binding with the org key. Invitation + binding + approval
//!   form the device's [`StaffCertificate`]; without the approval a client
//!   accepts none, so whoever saw an invitation code (and the operator) can
//!   no longer certify devices with it;
//! * the versioned [`StaffList`] (approved devices and revocations) that
//!   clients pin per org and never let go backwards;
//! * the [`RevocationList`] of staff devices (still published; the server
//!   stops delivering to the devices it names).
//!
//! Every signed object travels as a [`Signed`] envelope: the CBOR bytes of the
//! object plus an Ed25519 signature over a domain tag, the object's kind and
//! those bytes, so a signature for one kind can never be reused as another.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use crate::auth::{DeviceSecret, IdentityKey, Signature};
use crate::ids::{AccountId, DeviceId, OrgId};
use crate::org_legal::{OrgLegal, ReplyTemplate, check_templates};

const SIGNED_DOMAIN: &[u8] = b"stadtbote-signed-v1\0";
const INVITE_KEY_DOMAIN: &[u8] = b"stadtbote-invite-key-v1\0";
const ORG_CLAIM_DOMAIN: &[u8] = b"stadtbote-org-claim-v1\0";

/// Version of the signed org structures.
pub const ORG_VERSION: u16 = 1;

/// Errors of org structures. Verification errors are deliberately coarse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrgError {
    /// Bytes are not a valid structure of the expected kind.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A signature did not verify against the expected key.
    #[error("signature does not verify")]
    BadSignature,
    /// The certificate or invitation is past its expiry.
    #[error("expired")]
    Expired,
    /// The pieces belong to different orgs, invites or devices.
    #[error("certificate does not match")]
    Mismatch,
    /// A field is out of its allowed range (handle, name, department, hours…).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The enrolment chains to the org key but the org key has not
    /// approved (countersigned) it yet.
    #[error("not approved by the org key")]
    NotApproved,
    /// A signed list is older than one already seen.
    #[error("older than the {0} already seen")]
    RolledBack(&'static str),
}

/// Which kind of object a [`Signed`] envelope holds; part of what is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedKind {
    /// [`OrgProfile`].
    Profile,
    /// [`InviteCert`].
    Invite,
    /// [`DeviceBinding`].
    Binding,
    /// [`RevocationList`].
    Revocations,
    /// [`StaffApproval`].
    Approval,
    /// [`StaffList`].
    StaffList,
    /// [`crate::org_rotation::OrgKeyRotation`], signed by the OLD org key.
    KeyRotation,
    /// The same [`crate::org_rotation::OrgKeyRotation`] bytes, signed by the
    /// NEW org key (proof that its holder has the new key).
    KeyRotationAccept,
}

impl SignedKind {
    fn tag(self) -> &'static [u8] {
        match self {
            SignedKind::Profile => b"profile\0",
            SignedKind::Invite => b"invite\0",
            SignedKind::Binding => b"binding\0",
            SignedKind::Revocations => b"revocations\0",
            SignedKind::Approval => b"staff-approval\0",
            SignedKind::StaffList => b"staff-list\0",
            SignedKind::KeyRotation => b"org-key-rotation\0",
            SignedKind::KeyRotationAccept => b"org-key-rotation-accept\0",
        }
    }

    fn name(self) -> &'static str {
        match self {
            SignedKind::Profile => "org profile",
            SignedKind::Invite => "staff invitation",
            SignedKind::Binding => "device binding",
            SignedKind::Revocations => "revocation list",
            SignedKind::Approval => "staff approval",
            SignedKind::StaffList => "staff list",
            SignedKind::KeyRotation | SignedKind::KeyRotationAccept => "org key rotation",
        }
    }
}

/// A signed object: its CBOR bytes and an Ed25519 signature over
/// `"stadtbote-signed-v1\0" ‖ kind tag ‖ bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// CBOR encoding of the object.
    pub bytes: ByteBuf,
    /// Signature by the key responsible for this kind.
    pub signature: Signature,
}

impl Signed {
    /// Encodes `value` and signs it as `kind`.
    pub fn sign<T: Serialize>(kind: SignedKind, value: &T, key: &DeviceSecret) -> Signed {
        let bytes = crate::frame::encode(value);
        let signature = key.sign(&signed_message(kind, &bytes));
        Signed { bytes: ByteBuf::from(bytes), signature }
    }

    /// Verifies the signature with `key` and decodes the object.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        kind: SignedKind,
        key: &IdentityKey,
    ) -> Result<T, OrgError> {
        key.verify(&signed_message(kind, &self.bytes), &self.signature)
            .map_err(|_| OrgError::BadSignature)?;
        self.decode_unverified(kind)
    }

    /// Decodes the object WITHOUT checking the signature; only for reading
    /// which key to verify with (e.g. the invite key inside an invitation).
    pub fn decode_unverified<T: serde::de::DeserializeOwned>(
        &self,
        kind: SignedKind,
    ) -> Result<T, OrgError> {
        ciborium::from_reader(self.bytes.as_slice()).map_err(|_| OrgError::Malformed(kind.name()))
    }
}

pub(crate) fn signed_message(kind: SignedKind, bytes: &[u8]) -> Vec<u8> {
    [SIGNED_DOMAIN, kind.tag(), bytes].concat()
}

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Answers citizens' reports and consultations of their department.
    Clerk,
    /// May also post to the org's broadcast channels.
    Publisher,
    /// May also manage the org (not the org key itself).
    Admin,
}

impl Role {
    /// The role's name as used on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }

    /// Parses a command-line role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "clerk" => Some(Role::Clerk),
            "publisher" => Some(Role::Publisher),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A report category and the department it routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Shown to citizens, e.g. "Straßenschaden".
    pub name: String,
    /// Department whose staff devices receive reports of this category, e.g. "bauhof".
    pub department: String,
}

/// A weekly consultation slot in the org's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursSlot {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Start, minutes after midnight.
    pub start_min: u16,
    /// End, minutes after midnight (exclusive, > start).
    pub end_min: u16,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl HoursSlot {
    /// Parses `"Tue 17:00-18:00"` (English or German weekday abbreviations).
    pub fn parse(text: &str) -> Result<HoursSlot, OrgError> {
        let invalid = OrgError::Invalid("office hours (expected e.g. \"Tue 17:00-18:00\")");
        let mut parts = text.split_whitespace();
        let (Some(day), Some(range), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid);
        };
        let day = day.trim_end_matches('.').to_ascii_lowercase();
        let weekday = match day.get(..2).unwrap_or("") {
            "mo" => 0,
            "tu" | "di" => 1,
            "we" | "mi" => 2,
            "th" | "do" => 3,
            "fr" => 4,
            "sa" => 5,
            "su" | "so" => 6,
            _ => return Err(invalid),
        };
        let (start, end) = range.split_once('-').ok_or(invalid.clone())?;
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (Some(start_min), Some(end_min)) = (minutes(start), minutes(end)) else {
            return Err(invalid);
        };
        if end_min <= start_min {
            return Err(invalid);
        }
        Ok(HoursSlot { weekday, start_min, end_min })
    }

    /// Whether `weekday` (0 = Monday) and `minute` of the day fall in this slot.
    pub fn contains(&self, weekday: u8, minute: u16) -> bool {
        self.weekday == weekday && minute >= self.start_min && minute < self.end_min
    }
}

impl std::fmt::Display for HoursSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = WEEKDAYS.get(usize::from(self.weekday)).copied().unwrap_or("?");
        write!(
            f,
            "{day} {:02}:{:02}-{:02}:{:02}",
            self.start_min / 60,
            self.start_min % 60,
            self.end_min / 60,
            self.end_min % 60
        )
    }
}

/// A broadcast channel listed in the profile (filled by the channels feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRef {
    /// Channel id (opaque bytes).
    pub id: ByteBuf,
}

/// The org's public profile, signed by the org key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgProfile {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// Short unique name, e.g. `goslar`.
    pub handle: String,
    /// Display name, e.g. "Stadt Goslar".
    pub name: String,
    /// Increases with every published change; the server refuses older ones.
    pub version: u64,
    /// When this version was signed (Unix ms).
    pub updated_at: u64,
    /// Report categories.
    pub categories: Vec<Category>,
    /// Weekly consultation hours.
    pub office_hours: Vec<HoursSlot>,
    /// IANA time zone of the office hours.
    pub timezone: String,
    /// Shown by citizens' clients when they write outside office hours.
    pub auto_reply: Option<String>,
    /// Set while staff hold a live consultation session (Unix ms of its start).
    pub live_since: Option<u64>,
    /// Department that answers consultations.
    pub consult_department: Option<String>,
    /// Broadcast channels.
    pub channels: Vec<ChannelRef>,
    /// The Impressum and GDPR Art. 13 privacy notice (issue 16.5); absent
    /// in profiles from before them, and left out of the encoding when
    /// unset (see [`crate::org_legal`] for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal: Option<OrgLegal>,
    /// Reply templates per department ("Textbausteine", issue 16.6);
    /// left out of the encoding when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_templates: Vec<ReplyTemplate>,
}

impl OrgProfile {
    /// A first, empty profile for a newly claimed org.
    pub fn new(org: OrgId, handle: String, name: String, now_ms: u64) -> Self {
        OrgProfile {
            v: ORG_VERSION,
            org,
            handle,
            name,
            version: 1,
            updated_at: now_ms,
            categories: Vec::new(),
            office_hours: Vec::new(),
            timezone: "Europe/Berlin".into(),
            auto_reply: None,
            live_since: None,
            consult_department: None,
            channels: Vec::new(),
            legal: None,
            reply_templates: Vec::new(),
        }
    }

    /// Checks what the server checks of a profile's content before it
    /// stores it (beyond org, handle and version): the legal pages' and
    /// reply templates' sizes ([`crate::org_legal`]).
    pub fn check_published(&self) -> Result<(), OrgError> {
        if let Some(legal) = &self.legal {
            legal.check()?;
        }
        check_templates(&self.reply_templates)
    }

    /// The department a category routes to (case-insensitive match on the name).
    pub fn department_of(&self, category: &str) -> Option<&str> {
        self.categories
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(category))
            .map(|c| c.department.as_str())
    }
}

/// A staff invitation, signed by the org key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCert {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The inviting org.
    pub org: OrgId,
    /// Public half of the invitation code (looked up by the server).
    pub invite_id: ByteBuf,
    /// Public key derived from the code's secret half; signs one [`DeviceBinding`].
    pub invite_key: IdentityKey,
    /// Role granted.
    pub role: Role,
    /// Department, e.g. `bauhof`.
    pub department: String,
    /// When the invitation was issued (Unix ms).
    pub issued_at: u64,
    /// The code must be redeemed before this (Unix ms).
    pub invite_expires_at: u64,
    /// The resulting staff certificate is valid until this (Unix ms).
    pub cert_expires_at: u64,
}

/// A staff device's acceptance of an invitation, signed by the invite key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBinding {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// The invitation redeemed.
    pub invite_id: ByteBuf,
    /// The staff member's account.
    pub account: AccountId,
    /// The certified device.
    pub device: DeviceId,
    /// The device's identity (and MLS signature) key.
    pub identity_key: IdentityKey,
    /// When it was bound (Unix ms).
    pub bound_at: u64,
}

/// The org's list of revoked staff devices, signed by the org key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// Increases with every change.
    pub version: u64,
    /// Revoked devices.
    pub revoked: Vec<DeviceId>,
    /// When signed (Unix ms).
    pub updated_at: u64,
}

/// The org key's countersignature of one enrolment: the final device
/// binding as the org admin's device approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffApproval {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// The invitation the device redeemed.
    pub invite_id: ByteBuf,
    /// The staff member's account.
    pub account: AccountId,
    /// The approved device.
    pub device: DeviceId,
    /// The device's identity (and MLS signature) key.
    pub identity_key: IdentityKey,
    /// Role granted (the invitation's).
    pub role: Role,
    /// Department (the invitation's).
    pub department: String,
    /// The certificate is valid until this (Unix ms; the invitation's).
    pub expires_at: u64,
    /// When the org admin's device approved it (Unix ms).
    pub approved_at: u64,
}

/// One approved device on a [`StaffList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffListEntry {
    /// The device.
    pub device: DeviceId,
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// The invitation it redeemed (each invitation approves one device).
    pub invite_id: ByteBuf,
}

/// The org's versioned list of approved staff devices and revocations,
/// signed by the org key. Clients pin the newest version they saw per org
/// and refuse an older one (or none, once they saw one); a staff device
/// that is not on the newest list, or revoked on it, is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffList {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// Increases with every change.
    pub version: u64,
    /// Approved, unrevoked devices.
    pub staff: Vec<StaffListEntry>,
    /// Revoked devices.
    pub revoked: Vec<DeviceId>,
    /// When signed (Unix ms).
    pub updated_at: u64,
}

impl StaffList {
    /// An empty list of `org` (version 0: the first published is 1).
    pub fn empty(org: OrgId) -> Self {
        StaffList {
            v: ORG_VERSION,
            org,
            version: 0,
            staff: Vec::new(),
            revoked: Vec::new(),
            updated_at: 0,
        }
    }

    /// Verifies a signed list with `org_key` and checks it names `org`.
    pub fn verify(signed: &Signed, org: &OrgId, org_key: &IdentityKey) -> Result<Self, OrgError> {
        let list: StaffList = signed.verify(SignedKind::StaffList, org_key)?;
        if list.org != *org {
            return Err(OrgError::Mismatch);
        }
        Ok(list)
    }

    /// Refuses `self` if it is older than `pinned` (the newest version this
    /// device has seen); the same version must be the same list.
    pub fn check_not_older_than(&self, pinned: &StaffList) -> Result<(), OrgError> {
        if self.version < pinned.version || (self.version == pinned.version && self != pinned) {
            return Err(OrgError::RolledBack("staff list"));
        }
        Ok(())
    }

    /// The entry that lists exactly this device with this key, if any.
    pub fn entry(&self, device: &DeviceId, identity_key: &IdentityKey) -> Option<&StaffListEntry> {
        self.staff.iter().find(|e| e.device == *device && e.identity_key == *identity_key)
    }

    /// Whether `device` is revoked on this list.
    pub fn is_revoked(&self, device: &DeviceId) -> bool {
        self.revoked.contains(device)
    }
}

/// A staff device's certificate as published: invitation + binding (the
/// enrolment) + the org key's approval of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffCertificate {
    /// [`InviteCert`] signed by the org key.
    pub invite: Signed,
    /// [`DeviceBinding`] signed by the invite key.
    pub binding: Signed,
    /// [`StaffApproval`] signed by the org key; absent while the enrolment
    /// waits for the org admin (and in certificates from before approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Signed>,
}

/// What a valid staff certificate certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStaff {
    /// The staff member's account.
    pub account: AccountId,
    /// The certified device.
    pub device: DeviceId,
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// Its role.
    pub role: Role,
    /// Its department.
    pub department: String,
    /// Valid until (Unix ms).
    pub expires_at: u64,
}

impl StaffCertificate {
    /// Verifies the whole certificate at time `now_ms`: the enrolment
    /// ([`StaffCertificate::verify_enrolment`]) and the org key's approval
    /// of exactly that binding ([`OrgError::NotApproved`] without one).
    /// Revocation and the staff list are checked separately.
    pub fn verify(
        &self,
        org: &OrgId,
        org_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<VerifiedStaff, OrgError> {
        let staff = self.verify_enrolment(org, org_key, now_ms)?;
        let signed = self.approval.as_ref().ok_or(OrgError::NotApproved)?;
        let approval: StaffApproval = signed.verify(SignedKind::Approval, org_key)?;
        if !self.matches_approval(&approval) {
            return Err(OrgError::Mismatch);
        }
        Ok(staff)
    }

    /// Verifies the enrolment only: the chain org key → invitation → device
    /// binding at time `now_ms`, and that the binding claims to have been
    /// made before the invitation expired. This is what the server checks
    /// when a code is redeemed, and what the org admin's device checks
    /// before approving; no client accepts a device on this alone.
    pub fn verify_enrolment(
        &self,
        org: &OrgId,
        org_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<VerifiedStaff, OrgError> {
        let invite: InviteCert = self.invite.verify(SignedKind::Invite, org_key)?;
        let binding: DeviceBinding =
            self.binding.verify(SignedKind::Binding, &invite.invite_key)?;
        if invite.org != *org || binding.org != *org || binding.invite_id != invite.invite_id {
            return Err(OrgError::Mismatch);
        }
        if binding.bound_at > invite.invite_expires_at || now_ms >= invite.cert_expires_at {
            return Err(OrgError::Expired);
        }
        Ok(VerifiedStaff {
            account: binding.account,
            device: binding.device,
            identity_key: binding.identity_key,
            role: invite.role,
            department: invite.department,
            expires_at: invite.cert_expires_at,
        })
    }

    /// The invitation id this certificate's invitation carries (unverified).
    pub fn invite_id(&self) -> Result<ByteBuf, OrgError> {
        self.invite.decode_unverified::<InviteCert>(SignedKind::Invite).map(|i| i.invite_id)
    }

    /// Whether `approval` states exactly this enrolment's binding (org,
    /// invitation, account, device, key, role, department, expiry). Reads
    /// the pieces without checking signatures: callers verify those.
    pub fn matches_approval(&self, approval: &StaffApproval) -> bool {
        let (Ok(invite), Ok(binding)) = (
            self.invite.decode_unverified::<InviteCert>(SignedKind::Invite),
            self.binding.decode_unverified::<DeviceBinding>(SignedKind::Binding),
        ) else {
            return false;
        };
        approval.org == invite.org
            && approval.org == binding.org
            && approval.invite_id == invite.invite_id
            && approval.invite_id == binding.invite_id
            && approval.account == binding.account
            && approval.device == binding.device
            && approval.identity_key == binding.identity_key
            && approval.role == invite.role
            && approval.department == invite.department
            && approval.expires_at == invite.cert_expires_at
    }

    /// The org key's approval of this enrolment, signed with `org_key`
    /// after verifying the enrolment against it at `now_ms`.
    pub fn approve(
        &self,
        org: &OrgId,
        org_key: &DeviceSecret,
        now_ms: u64,
    ) -> Result<(StaffApproval, Signed), OrgError> {
        let staff = self.verify_enrolment(org, &org_key.identity_key(), now_ms)?;
        let approval = StaffApproval {
            v: ORG_VERSION,
            org: *org,
            invite_id: self.invite_id()?,
            account: staff.account,
            device: staff.device,
            identity_key: staff.identity_key,
            role: staff.role,
            department: staff.department,
            expires_at: staff.expires_at,
            approved_at: now_ms,
        };
        let signed = Signed::sign(SignedKind::Approval, &approval, org_key);
        Ok((approval, signed))
    }
}

/// A staff invitation code: a public id the server looks up and a secret the
/// server never sees, from which the one-time invite key is derived.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode {
    /// Public part (8 bytes).
    pub id: [u8; 8],
    secret: [u8; 16],
}

impl std::fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InviteCode(id: {:02x?}, secret: ..)", self.id)
    }
}

impl InviteCode {
    /// A fresh random code.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut id = [0u8; 8];
        let mut secret = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self { id, secret }
    }

    /// The invite key pair: Ed25519 secret = SHA-256(domain ‖ id ‖ secret).
    pub fn invite_key(&self) -> DeviceSecret {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(INVITE_KEY_DOMAIN)
            .chain_update(self.id)
            .chain_update(self.secret)
            .finalize()
            .into();
        // A 32-byte seed is always a valid Ed25519 secret key.
        match DeviceSecret::from_bytes(&seed) {
            Ok(key) => key,
            Err(_) => DeviceSecret::generate(),
        }
    }

    /// The 24 bytes id ‖ secret (for embedding in longer codes).
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.id);
        out[8..].copy_from_slice(&self.secret);
        out
    }

    /// Rebuilds a code from [`InviteCode::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OrgError> {
        if bytes.len() != 24 {
            return Err(OrgError::Malformed("invitation code"));
        }
        let mut id = [0u8; 8];
        let mut secret = [0u8; 16];
        id.copy_from_slice(&bytes[..8]);
        secret.copy_from_slice(&bytes[8..]);
        Ok(Self { id, secret })
    }

    /// Text form: base32 of id ‖ secret in groups of four, e.g. `ABCD-EFGH-…`.
    pub fn to_text(&self) -> String {
        crate::ids::grouped(&data_encoding::BASE32_NOPAD.encode(&self.to_bytes()), 4, "-")
    }

    /// Parses the text form (case, spaces and dashes do not matter).
    pub fn parse(text: &str) -> Result<Self, OrgError> {
        let bytes = crate::ids::decode_base32_lenient(text)
            .ok_or(OrgError::Malformed("invitation code"))?;
        Self::from_bytes(&bytes)
    }
}

/// The message an org admin's device signs with the new org key when claiming
/// an org, proving it holds the key it registers.
pub fn org_claim_message(org: &OrgId, device: &DeviceId) -> Vec<u8> {
    [ORG_CLAIM_DOMAIN, org.as_bytes(), device.as_bytes()].concat()
}

/// Checks an org handle: 2–32 characters of `a-z`, `0-9` and `-`, not
/// starting or ending with `-`.
pub fn validate_handle(handle: &str) -> Result<(), OrgError> {
    let ok = (2..=32).contains(&handle.len())
        && handle.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !handle.starts_with('-')
        && !handle.ends_with('-');
    if ok { Ok(()) } else { Err(OrgError::Invalid("handle (2-32 of a-z, 0-9, -)")) }
}

/// Checks a department name: 1–64 characters of `a-z`, `0-9`, `-` and `_`.
pub fn validate_department(department: &str) -> Result<(), OrgError> {
    let ok = (1..=64).contains(&department.len())
        && department
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(OrgError::Invalid("department (1-64 of a-z, 0-9, -, _)")) }
}

/// Test fixtures for the crates of this workspace: compiled into this
/// crate's own tests and, for the other crates' tests, behind the
/// `test-support` feature (enabled only from their `[dev-dependencies]`).
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use super::*;

    /// The staff device a test certificate is issued to.
    #[derive(Debug, Clone, Copy)]
    pub struct Holder {
        /// The account the device belongs to.
        pub account: AccountId,
        /// The certified device.
        pub device: DeviceId,
        /// The device's identity key, bound by the certificate.
        pub identity_key: IdentityKey,
    }

    /// The timestamps (ms) written into a test certificate.
    #[derive(Debug, Clone, Copy)]
    pub struct CertTimes {
        /// When the invitation was issued.
        pub issued_at: u64,
        /// Until when the invitation may be redeemed.
        pub invite_expires_at: u64,
        /// When the resulting certificate expires.
        pub cert_expires_at: u64,
        /// When the device bound itself to the invitation.
        pub bound_at: u64,
    }

    /// Builds the certificate of an enrolment the org admin has not
    /// approved yet: `org_key` signs an [`InviteCert`] for `role` in
    /// `department` delegating to a fresh invitation code's invite key,
    /// which signs the [`DeviceBinding`] of `holder`. Returns the code too.
    pub fn enrolment_certificate(
        org: OrgId,
        org_key: &DeviceSecret,
        holder: Holder,
        role: Role,
        department: &str,
        times: CertTimes,
    ) -> (InviteCode, StaffCertificate) {
        let code = InviteCode::generate();
        let invite = InviteCert {
            v: ORG_VERSION,
            org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            invite_key: code.invite_key().identity_key(),
            role,
            department: department.into(),
            issued_at: times.issued_at,
            invite_expires_at: times.invite_expires_at,
            cert_expires_at: times.cert_expires_at,
        };
        let binding = DeviceBinding {
            v: ORG_VERSION,
            org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            account: holder.account,
            device: holder.device,
            identity_key: holder.identity_key,
            bound_at: times.bound_at,
        };
        let cert = StaffCertificate {
            invite: Signed::sign(SignedKind::Invite, &invite, org_key),
            binding: Signed::sign(SignedKind::Binding, &binding, &code.invite_key()),
            approval: None,
        };
        (code, cert)
    }

    /// The staff certificate an approved enrolment has: as
    /// [`enrolment_certificate`], plus the org key's [`StaffApproval`]
    /// (approved at the binding time).
    pub fn staff_certificate(
        org: OrgId,
        org_key: &DeviceSecret,
        holder: Holder,
        role: Role,
        department: &str,
        times: CertTimes,
    ) -> StaffCertificate {
        let (_, mut cert) = enrolment_certificate(org, org_key, holder, role, department, times);
        // The fixture's times are chosen by the test; approve at time 0 so
        // that only the chain, not the clock, decides.
        let approval = cert.approve(&org, org_key, 0).map(|(_, signed)| signed).ok();
        cert.approval = approval;
        cert
    }

    /// The staff list (version `version`) that lists the devices of
    /// `certificates` and revokes `revoked`, signed by `org_key`.
    pub fn staff_list(
        org: OrgId,
        org_key: &DeviceSecret,
        version: u64,
        certificates: &[StaffCertificate],
        revoked: &[DeviceId],
    ) -> Signed {
        let staff = certificates
            .iter()
            .filter_map(|c| {
                let binding: DeviceBinding =
                    c.binding.decode_unverified(SignedKind::Binding).ok()?;
                Some(StaffListEntry {
                    device: binding.device,
                    identity_key: binding.identity_key,
                    invite_id: binding.invite_id,
                })
            })
            .filter(|e| !revoked.contains(&e.device))
            .collect();
        let list = StaffList {
            v: ORG_VERSION,
            org,
            version,
            staff,
            revoked: revoked.to_vec(),
            updated_at: 0,
        };
        Signed::sign(SignedKind::StaffList, &list, org_key)
    }

    /// [`staff_certificate`] with the usual fixture values: `device_key`
    /// as device `[3; 16]` of account `[2; 16]`, department `presse`,
    /// issued at 0 and bound at 10, the invitation valid until 1 000 and
    /// the certificate until 1 000 000.
    pub fn default_staff_certificate(
        org: OrgId,
        org_key: &DeviceSecret,
        device_key: &DeviceSecret,
        role: Role,
    ) -> StaffCertificate {
        let holder = Holder {
            account: AccountId([2; 16]),
            device: DeviceId([3; 16]),
            identity_key: device_key.identity_key(),
        };
        let times = CertTimes {
            issued_at: 0,
            invite_expires_at: 1_000,
            cert_expires_at: 1_000_000,
            bound_at: 10,
        };
        staff_certificate(org, org_key, holder, role, "presse", times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff_fixture(now: u64) -> (OrgId, DeviceSecret, StaffCertificate) {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let holder = testing::Holder {
            account: AccountId([2; 16]),
            device: DeviceId([3; 16]),
            identity_key: DeviceSecret::generate().identity_key(),
        };
        let times = testing::CertTimes {
            issued_at: now,
            invite_expires_at: now + 1000,
            cert_expires_at: now + 10_000,
            bound_at: now + 10,
        };
        let cert = testing::staff_certificate(org, &org_key, holder, Role::Clerk, "bauhof", times);
        (org, org_key, cert)
    }

    #[test]
    fn staff_certificate_chain_verifies_and_expires() {
        let (org, org_key, cert) = staff_fixture(1000);
        let staff = cert.verify(&org, &org_key.identity_key(), 2000).unwrap();
        assert_eq!(staff.department, "bauhof");
        assert_eq!(staff.role, Role::Clerk);
        assert_eq!(cert.verify(&org, &org_key.identity_key(), 11_000), Err(OrgError::Expired));
        let other = DeviceSecret::generate().identity_key();
        assert_eq!(cert.verify(&org, &other, 2000), Err(OrgError::BadSignature));
        assert_eq!(
            cert.verify(&OrgId([9; 16]), &org_key.identity_key(), 2000),
            Err(OrgError::Mismatch)
        );
    }

    #[test]
    fn an_enrolment_without_the_org_keys_approval_is_not_a_certificate() {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let holder = testing::Holder {
            account: AccountId([2; 16]),
            device: DeviceId([3; 16]),
            identity_key: DeviceSecret::generate().identity_key(),
        };
        let times = testing::CertTimes {
            issued_at: 0,
            invite_expires_at: 1_000,
            cert_expires_at: 10_000,
            bound_at: 10,
        };
        let (code, pending) =
            testing::enrolment_certificate(org, &org_key, holder, Role::Clerk, "bauhof", times);
        let key = org_key.identity_key();
        assert!(pending.verify_enrolment(&org, &key, 20).is_ok());
        assert_eq!(pending.verify(&org, &key, 20), Err(OrgError::NotApproved));
        let (approval, signed) = pending.approve(&org, &org_key, 20).unwrap();
        assert_eq!(approval.device, DeviceId([3; 16]));
        let approved = StaffCertificate { approval: Some(signed.clone()), ..pending.clone() };
        assert_eq!(approved.verify(&org, &key, 20).unwrap().department, "bauhof");

        // Whoever knows the (redeemed) code can bind another device to the
        // same invitation; the org key's approval of the first device does
        // not carry over to it.
        let rogue = DeviceBinding {
            v: ORG_VERSION,
            org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            account: AccountId([7; 16]),
            device: DeviceId([7; 16]),
            identity_key: DeviceSecret::generate().identity_key(),
            bound_at: 10,
        };
        let rogue_binding = Signed::sign(SignedKind::Binding, &rogue, &code.invite_key());
        let minted = StaffCertificate {
            invite: pending.invite.clone(),
            binding: rogue_binding.clone(),
            approval: Some(signed),
        };
        assert!(minted.verify_enrolment(&org, &key, 20).is_ok(), "the chain alone verifies");
        assert_eq!(minted.verify(&org, &key, 20), Err(OrgError::Mismatch));
        let unapproved = StaffCertificate { approval: None, ..minted.clone() };
        assert_eq!(unapproved.verify(&org, &key, 20), Err(OrgError::NotApproved));
        // An approval signed by another key is refused.
        let (_, foreign) = pending.approve(&org, &org_key, 20).unwrap();
        let foreign_approval: StaffApproval =
            foreign.decode_unverified(SignedKind::Approval).unwrap();
        let by_other =
            Signed::sign(SignedKind::Approval, &foreign_approval, &DeviceSecret::generate());
        let forged = StaffCertificate { approval: Some(by_other), ..pending.clone() };
        assert_eq!(forged.verify(&org, &key, 20), Err(OrgError::BadSignature));
        // An approval cannot be passed off as another kind and vice versa.
        let as_profile = StaffCertificate {
            approval: Some(Signed {
                bytes: pending.invite.bytes.clone(),
                signature: pending.invite.signature,
            }),
            ..pending
        };
        assert_eq!(as_profile.verify(&org, &key, 20), Err(OrgError::BadSignature));
    }

    #[test]
    fn staff_lists_verify_with_the_org_key_and_never_go_backwards() {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let key = org_key.identity_key();
        let device = DeviceSecret::generate();
        let cert = testing::default_staff_certificate(org, &org_key, &device, Role::Clerk);
        let v1 = testing::staff_list(org, &org_key, 1, std::slice::from_ref(&cert), &[]);
        let v2 = testing::staff_list(
            org,
            &org_key,
            2,
            std::slice::from_ref(&cert),
            &[DeviceId([3; 16])],
        );
        let one = StaffList::verify(&v1, &org, &key).unwrap();
        let two = StaffList::verify(&v2, &org, &key).unwrap();
        assert!(one.entry(&DeviceId([3; 16]), &device.identity_key()).is_some());
        assert!(one.entry(&DeviceId([3; 16]), &DeviceSecret::generate().identity_key()).is_none());
        assert!(two.is_revoked(&DeviceId([3; 16])) && two.staff.is_empty());
        // Rollback: an older list after a newer one is refused; the same
        // version is only accepted if it is the same list.
        assert!(two.check_not_older_than(&one).is_ok());
        assert_eq!(one.check_not_older_than(&two), Err(OrgError::RolledBack("staff list")));
        assert!(two.check_not_older_than(&two).is_ok());
        let other_v2 = testing::staff_list(org, &org_key, 2, &[cert], &[]);
        let other_v2 = StaffList::verify(&other_v2, &org, &key).unwrap();
        assert!(other_v2.check_not_older_than(&two).is_err());
        // Wrong key, wrong org, wrong kind.
        assert_eq!(
            StaffList::verify(&v1, &org, &DeviceSecret::generate().identity_key()),
            Err(OrgError::BadSignature)
        );
        assert_eq!(StaffList::verify(&v1, &OrgId([9; 16]), &key), Err(OrgError::Mismatch));
        assert_eq!(
            v1.verify::<RevocationList>(SignedKind::Revocations, &key),
            Err(OrgError::BadSignature)
        );
    }

    /// The test vector of docs/PROTOCOL.md ("Staff approval and staff list").
    #[test]
    fn approval_and_staff_list_test_vector() {
        let org_key = DeviceSecret::from_bytes(&[0x11; 32]).unwrap();
        let approval = StaffApproval {
            v: ORG_VERSION,
            org: OrgId([1; 16]),
            invite_id: ByteBuf::from(vec![2; 8]),
            account: AccountId([3; 16]),
            device: DeviceId([4; 16]),
            identity_key: IdentityKey([5; 32]),
            role: Role::Clerk,
            department: "bauhof".into(),
            expires_at: 1_000_000,
            approved_at: 500,
        };
        let signed = Signed::sign(SignedKind::Approval, &approval, &org_key);
        let list = StaffList {
            v: ORG_VERSION,
            org: OrgId([1; 16]),
            version: 1,
            staff: vec![StaffListEntry {
                device: DeviceId([4; 16]),
                identity_key: IdentityKey([5; 32]),
                invite_id: ByteBuf::from(vec![2; 8]),
            }],
            revoked: vec![DeviceId([6; 16])],
            updated_at: 500,
        };
        let signed_list = Signed::sign(SignedKind::StaffList, &list, &org_key);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let got = [
            hex(&org_key.identity_key().0),
            hex(&signed.bytes),
            hex(&signed.signature.0),
            hex(&signed_list.bytes),
            hex(&signed_list.signature.0),
        ];
        assert_eq!(got, VECTOR, "{got:#?}");
    }

    const VECTOR: [&str; 5] = [
        "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737",
        concat!(
            "aa617601636f7267500101010101010101010101010101010169696e76697465",
            "5f6964480202020202020202676163636f756e74500303030303030303030303",
            "03030303036664657669636550040404040404040404040404040404046c6964",
            "656e746974795f6b657958200505050505050505050505050505050505050505",
            "05050505050505050505050564726f6c6565636c65726b6a6465706172746d65",
            "6e7466626175686f666a657870697265735f61741a000f42406b617070726f76",
            "65645f61741901f4",
        ),
        concat!(
            "ead64c87272e3b2b1db4f88f4646b9713c7fce97a01f1a61c4be0c8adeb51ccf",
            "8564547879bde5687adc0ce4d4bc187dd58213bb95fb57f4bb07361295a54500",
        ),
        concat!(
            "a6617601636f726750010101010101010101010101010101016776657273696f",
            "6e0165737461666681a366646576696365500404040404040404040404040404",
            "04046c6964656e746974795f6b65795820050505050505050505050505050505",
            "050505050505050505050505050505050569696e766974655f69644802020202",
            "02020202677265766f6b65648150060606060606060606060606060606066a75",
            "7064617465645f61741901f4",
        ),
        concat!(
            "f0bfd1c09b23d4f065dc95996e1b88b0171de223892f885233df32593b89f9e6",
            "f2031e721c2fe270fbd777fc8fa346f7153287652cc83d9b7d485f2ae84ca408",
        ),
    ];

    #[test]
    fn a_binding_signed_by_another_key_is_refused() {
        let (org, org_key, mut cert) = staff_fixture(1000);
        let forged: DeviceBinding = cert.binding.decode_unverified(SignedKind::Binding).unwrap();
        cert.binding = Signed::sign(SignedKind::Binding, &forged, &DeviceSecret::generate());
        assert_eq!(cert.verify(&org, &org_key.identity_key(), 2000), Err(OrgError::BadSignature));
    }

    #[test]
    fn signatures_do_not_transfer_between_kinds() {
        let key = DeviceSecret::generate();
        let list = RevocationList {
            v: ORG_VERSION,
            org: OrgId([1; 16]),
            version: 1,
            revoked: vec![],
            updated_at: 0,
        };
        let signed = Signed::sign(SignedKind::Revocations, &list, &key);
        assert!(
            signed.verify::<RevocationList>(SignedKind::Revocations, &key.identity_key()).is_ok()
        );
        assert_eq!(
            signed.verify::<RevocationList>(SignedKind::Profile, &key.identity_key()),
            Err(OrgError::BadSignature)
        );
    }

    #[test]
    fn invite_code_text_round_trip() {
        let code = InviteCode::generate();
        let text = code.to_text();
        let back = InviteCode::parse(&text.to_lowercase()).unwrap();
        assert_eq!(back, code);
        assert_eq!(back.invite_key().identity_key(), code.invite_key().identity_key());
        assert!(InviteCode::parse("ABCD").is_err());
        assert!(!format!("{code:?}").contains(&text[10..]));
    }

    #[test]
    fn hours_parse_and_display() {
        let slot = HoursSlot::parse("Tue 17:00-18:00").unwrap();
        assert_eq!(slot, HoursSlot { weekday: 1, start_min: 1020, end_min: 1080 });
        assert_eq!(slot.to_string(), "Tue 17:00-18:00");
        assert_eq!(HoursSlot::parse("Do 09:30-11:00").unwrap().weekday, 3);
        assert!(slot.contains(1, 1020) && !slot.contains(1, 1080) && !slot.contains(2, 1030));
        for bad in ["Tue", "Tue 18:00-17:00", "Xyz 10:00-11:00", "Mon 25:00-26:00"] {
            assert!(HoursSlot::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn handles_and_departments() {
        assert!(validate_handle("goslar").is_ok());
        assert!(validate_handle("bad handle").is_err());
        assert!(validate_handle("-x").is_err());
        assert!(validate_department("bauhof").is_ok());
        assert!(validate_department("Bauhof").is_err());
    }
}
