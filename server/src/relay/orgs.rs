//! Org requests: claiming an org, publishing its signed profile and
//! revocation list, staff invitations, enrolment (pending until the org
//! key approves it), approvals with the signed staff list, and the public
//! org directory.
//!
//! The server verifies every signed object against the org key before
//! storing it, so the directory holds nothing the org did not sign; clients
//! still verify everything themselves against the key they pinned, because
//! the server is not trusted to be honest.

use serde::de::DeserializeOwned;
use stadtbote_protocol::auth::{IdentityKey, Signature};
use stadtbote_protocol::frame::Response;
use stadtbote_protocol::org::{
    DeviceBinding, InviteCert, OrgError, OrgProfile, RevocationList, Signed, SignedKind,
    StaffApproval, StaffCertificate, StaffList, org_claim_message, validate_department,
};
use stadtbote_protocol::{OrgId, RefusalReason};

use super::{Identity, Relay, RelayError, code_hash};
use stadtbote_protocol::org_rotation::{SignedRotation, VerifiedChain};

use crate::store::{
    CodeState, DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgRecord, StoreError,
};
use crate::unix_ms;

/// Length of a staff invitation's public id.
const INVITE_ID_LEN: usize = 8;

/// The refusal for an invitation code that cannot be redeemed.
fn invite_code_error(state: CodeState) -> RelayError {
    RelayError::Refused(match state {
        CodeState::Unknown => RefusalReason::InvitationUnknown,
        CodeState::Expired => RefusalReason::InvitationExpired,
        CodeState::Used => RefusalReason::InvitationUsed,
    })
}

/// Verifies a signed object of `kind` with `key` and decodes it, with a
/// refusal that says which object failed.
/// The signed objects of an `org_rotate_key` request.
pub(super) struct RotationSigned<'a> {
    /// The rotation link.
    pub rotation: &'a SignedRotation,
    /// The profile re-signed by the new key.
    pub profile: &'a Signed,
    /// The staff list re-signed by the new key.
    pub staff_list: &'a Signed,
    /// The revocation list re-signed by the new key, if the org has one.
    pub revocations: Option<&'a Signed>,
}

fn verify_signed<T: DeserializeOwned>(
    signed: &Signed,
    kind: SignedKind,
    key: &IdentityKey,
) -> Result<T, RelayError> {
    signed.verify(kind, key).map_err(|err| {
        let bad_signature = matches!(err, OrgError::BadSignature);
        RelayError::InvalidRequest(match (kind, bad_signature) {
            (SignedKind::Profile, true) => {
                "the profile's signature does not verify with the org key"
            }
            (SignedKind::Profile, false) => "the profile is malformed",
            (SignedKind::Invite, true) => {
                "the invitation's signature does not verify with the org key"
            }
            (SignedKind::Invite, false) => "the invitation is malformed",
            (SignedKind::Binding, true) => {
                "the device binding's signature does not verify with the invitation key"
            }
            (SignedKind::Binding, false) => "the device binding is malformed",
            (SignedKind::Revocations, true) => {
                "the revocation list's signature does not verify with the org key"
            }
            (SignedKind::Revocations, false) => "the revocation list is malformed",
            (SignedKind::Approval, true) => {
                "the staff approval's signature does not verify with the org key"
            }
            (SignedKind::Approval, false) => "the staff approval is malformed",
            (SignedKind::StaffList, true) => {
                "the staff list's signature does not verify with the org key"
            }
            (SignedKind::StaffList, false) => "the staff list is malformed",
            (SignedKind::KeyRotation | SignedKind::KeyRotationAccept, true) => {
                "the org key rotation's signature does not verify"
            }
            (SignedKind::KeyRotation | SignedKind::KeyRotationAccept, false) => {
                "the org key rotation is malformed"
            }
        })
    })
}

impl Relay {
    fn check_signed_size(&self, signed: &Signed) -> Result<(), RelayError> {
        if signed.bytes.len() > self.limits.max_profile_bytes {
            return Err(RelayError::TooLarge("signed org object exceeds max_profile_bytes"));
        }
        Ok(())
    }

    fn directory_limits(&self, now_ms: u64) -> DirectoryLimits {
        // The directory answer carries the org info plus a few bytes of frame;
        // the payload limit leaves more than enough room for those.
        DirectoryLimits { now_ms, max_bytes: self.limits.max_payload_bytes }
    }

    /// The org and its key, for a request carrying an object the org key
    /// signed. The signature, not the sending device, is the authority: the
    /// org admin may move the key to another device (`org export-key` /
    /// `import-key`), and that device must be able to act. Replaying an old
    /// signed object gains nothing, because profiles and revocation lists
    /// must increase their version and invitation ids are single-use.
    fn org_admin(
        &self,
        _me: &Identity,
        org: &OrgId,
    ) -> Result<(OrgRecord, IdentityKey), RelayError> {
        let record = self.store.org(org)?.ok_or(RelayError::UnknownOrg)?;
        match record.org_key {
            Some(key) => Ok((record, key)),
            None => Err(RelayError::Refused(RefusalReason::OrgNotClaimed)),
        }
    }

    /// Makes the caller the admin device of the org the code belongs to and
    /// registers the org key it proves to hold.
    pub(super) async fn org_claim(
        &self,
        me: &Identity,
        code: &str,
        org_key: &IdentityKey,
        proof: &Signature,
    ) -> Result<Response, RelayError> {
        self.check_code_attempt(&me.device)?;
        let hash = code_hash(code);
        let now = unix_ms();
        let record =
            self.store.org_code(&hash)?.ok_or(RelayError::Refused(RefusalReason::CodeUnknown))?;
        record.check(now).map_err(|state| RelayError::from(StoreError::Code(state)))?;
        // A wrong proof does not consume the code: whoever sent it knows the
        // code anyway, and a client bug should not cost the org its code.
        org_key
            .verify(&org_claim_message(&record.org, &me.device), proof)
            .map_err(|_| RelayError::InvalidRequest("the org key's proof does not verify"))?;
        let (org, claimed) = self.store.claim_org(&hash, org_key, &me.device, now)?;
        self.durable().await?;
        tracing::info!(handle = claimed.handle.as_str(), "org claimed");
        Ok(Response::OrgClaimed { org, handle: claimed.handle, name: claimed.name })
    }

    /// Stores a new version of the org's signed profile.
    pub(super) async fn org_publish(
        &self,
        me: &Identity,
        org: &OrgId,
        profile: &Signed,
    ) -> Result<Response, RelayError> {
        self.check_signed_size(profile)?;
        let (record, key) = self.org_admin(me, org)?;
        let decoded: OrgProfile = verify_signed(profile, SignedKind::Profile, &key)?;
        if decoded.org != *org {
            return Err(RelayError::InvalidRequest("the profile is for another org"));
        }
        if decoded.handle != record.handle {
            return Err(RelayError::InvalidRequest("the profile's handle is not the org's handle"));
        }
        // The legal pages' and reply templates' sizes (issue 16.5/16.6).
        decoded.check_published().map_err(RelayError::InvalidField)?;
        if decoded.version <= record.profile_version {
            return Err(RelayError::InvalidRequest("profile version must increase"));
        }
        let limits = self.directory_limits(unix_ms());
        match self.store.publish_profile(org, profile, decoded.version, limits) {
            Err(StoreError::VersionNotIncreasing) => {
                return Err(RelayError::InvalidRequest("profile version must increase"));
            }
            other => other?,
        }
        self.durable().await?;
        Ok(Response::Published { version: decoded.version })
    }

    /// Stores a staff invitation until it is redeemed or expires.
    pub(super) async fn org_create_invite(
        &self,
        me: &Identity,
        org: &OrgId,
        invite: &Signed,
    ) -> Result<Response, RelayError> {
        self.check_signed_size(invite)?;
        let (_, key) = self.org_admin(me, org)?;
        let decoded: InviteCert = verify_signed(invite, SignedKind::Invite, &key)?;
        if decoded.org != *org {
            return Err(RelayError::InvalidRequest("the invitation is for another org"));
        }
        let Ok(id) = <[u8; INVITE_ID_LEN]>::try_from(decoded.invite_id.as_slice()) else {
            return Err(RelayError::InvalidRequest("the invitation id must be 8 bytes"));
        };
        validate_department(&decoded.department).map_err(RelayError::InvalidField)?;
        let now = unix_ms();
        let expires_at = decoded.invite_expires_at;
        if expires_at <= now || expires_at > now.saturating_add(self.limits.max_invite_ttl_ms) {
            return Err(RelayError::Refused(RefusalReason::InvitationExpiryInvalid));
        }
        // Kept one more lifetime after expiry so that a late attempt is told
        // "expired" rather than "unknown".
        let delete_at = expires_at.saturating_add(expires_at - now);
        let record =
            InviteRecord { org: *org, expires_at, delete_at, used: false, invite: invite.clone() };
        self.store.store_invite(&id, &record)?;
        self.durable().await?;
        Ok(Response::InviteStored { expires_at })
    }

    /// Redeems a staff invitation for the calling device.
    pub(super) async fn enroll(
        &self,
        me: &Identity,
        invite_id: &[u8],
        binding: &Signed,
    ) -> Result<Response, RelayError> {
        self.check_code_attempt(&me.device)?;
        let Ok(id) = <[u8; INVITE_ID_LEN]>::try_from(invite_id) else {
            return Err(invite_code_error(CodeState::Unknown));
        };
        let now = unix_ms();
        let record = self.store.invite(&id)?.ok_or(invite_code_error(CodeState::Unknown))?;
        record.check(now).map_err(invite_code_error)?;
        self.check_signed_size(binding)?;
        // Verified with the org key when it was stored.
        let invite: InviteCert = record
            .invite
            .decode_unverified(SignedKind::Invite)
            .map_err(|_| RelayError::Internal)?;
        let bound: DeviceBinding = verify_signed(binding, SignedKind::Binding, &invite.invite_key)?;
        if bound.org != record.org || bound.invite_id.as_slice() != id {
            return Err(RelayError::InvalidRequest("the device binding is for another invitation"));
        }
        if bound.device != me.device || bound.account != me.account {
            return Err(RelayError::InvalidRequest("the device binding names another device"));
        }
        let device = self.store.device(&me.device)?.ok_or(RelayError::Internal)?;
        if device.identity_key != bound.identity_key {
            return Err(RelayError::InvalidRequest(
                "the device binding names another identity key",
            ));
        }
        let org = self.store.org(&record.org)?.ok_or(RelayError::UnknownOrg)?;
        if org.suspended {
            return Err(RelayError::OrgSuspended);
        }
        let org_key = org.org_key.ok_or(RelayError::Refused(RefusalReason::EnrolOrgNotClaimed))?;
        let certificate =
            StaffCertificate { invite: record.invite, binding: binding.clone(), approval: None };
        // Only enrolments that chain to the org key are stored. They stay
        // pending (no client accepts them) until the org admin's device
        // approves them with the org key (`org_approve`).
        certificate.verify_enrolment(&record.org, &org_key, now).map_err(|err| match err {
            OrgError::Expired => RelayError::InvalidRequest(
                "the certificate is expired or was bound after the invitation expired",
            ),
            _ => RelayError::InvalidRequest("the staff certificate does not verify"),
        })?;
        match self.store.enroll(&id, &me.device, &certificate, self.directory_limits(now)) {
            Err(StoreError::Code(state)) => return Err(invite_code_error(state)),
            other => other?,
        };
        self.durable().await?;
        tracing::info!(handle = org.handle.as_str(), "staff device enrolled, approval pending");
        Ok(Response::Enrolled { org: record.org, handle: org.handle })
    }

    /// Stores the org's new revocation list. Revoked staff devices get no
    /// new envelopes from then on, and what was queued for them is deleted.
    pub(super) async fn org_revoke(
        &self,
        me: &Identity,
        org: &OrgId,
        revocations: &Signed,
    ) -> Result<Response, RelayError> {
        self.check_signed_size(revocations)?;
        let (record, key) = self.org_admin(me, org)?;
        let list: RevocationList = verify_signed(revocations, SignedKind::Revocations, &key)?;
        if list.org != *org {
            return Err(RelayError::InvalidRequest("the revocation list is for another org"));
        }
        if list.version <= record.revocation_version {
            return Err(RelayError::InvalidRequest("revocation list version must increase"));
        }
        let limits = self.directory_limits(unix_ms());
        let newly = match self.store.revoke(org, revocations, list.version, &list.revoked, limits) {
            Err(StoreError::VersionNotIncreasing) => {
                return Err(RelayError::InvalidRequest("revocation list version must increase"));
            }
            other => other?,
        };
        self.durable().await?;
        // A revoked device may be a stolen phone: what was waiting for it
        // must not be handed out either.
        let mut purged = 0u32;
        for device in &newly {
            purged = purged.saturating_add(self.store.purge_mailbox(device)?);
        }
        if purged > 0 {
            self.durable().await?;
        }
        tracing::info!(
            handle = record.handle.as_str(),
            revoked = newly.len(),
            purged,
            "org revocation list published"
        );
        Ok(Response::Published { version: list.version })
    }

    /// Stores the org's next staff list and the org key's approvals of
    /// pending enrolments. Each approval must state exactly the binding of
    /// the enrolment stored for its device; the list's version must
    /// increase. The server checks signatures so that it stores nothing the
    /// org did not sign, but clients do not rely on that: they verify the
    /// approvals and the list against the key they pinned.
    pub(super) async fn org_approve(
        &self,
        me: &Identity,
        org: &OrgId,
        staff_list: &Signed,
        approvals: &[Signed],
    ) -> Result<Response, RelayError> {
        self.check_signed_size(staff_list)?;
        let (_, key) = self.org_admin(me, org)?;
        let list: StaffList = verify_signed(staff_list, SignedKind::StaffList, &key)?;
        if list.org != *org {
            return Err(RelayError::InvalidRequest("the staff list is for another org"));
        }
        let mut verified = Vec::with_capacity(approvals.len());
        for signed in approvals {
            self.check_signed_size(signed)?;
            let approval: StaffApproval = verify_signed(signed, SignedKind::Approval, &key)?;
            if approval.org != *org {
                return Err(RelayError::InvalidRequest("the staff approval is for another org"));
            }
            verified.push((approval, signed.clone()));
        }
        let limits = self.directory_limits(unix_ms());
        match self.store.publish_staff_list(org, staff_list, list.version, &verified, limits) {
            Err(StoreError::VersionNotIncreasing) => {
                return Err(RelayError::InvalidRequest("staff list version must increase"));
            }
            Err(StoreError::ApprovalMismatch) => {
                return Err(RelayError::InvalidRequest(
                    "a staff approval does not match the enrolment stored for its device",
                ));
            }
            other => other?,
        }
        self.durable().await?;
        tracing::info!(approved = verified.len(), "org staff list published");
        Ok(Response::Published { version: list.version })
    }

    /// Replaces the org key: the next link of the rotation chain (signed
    /// by the current key and the new one), with the profile, the staff
    /// list and every staff certificate re-signed by the new key, stored
    /// at once so that the directory never mixes keys. From then on the
    /// server checks every org signature against the new key.
    pub(super) async fn org_rotate_key(
        &self,
        me: &Identity,
        org: &OrgId,
        signed: RotationSigned<'_>,
        staff: &[StaffCertificate],
    ) -> Result<Response, RelayError> {
        let RotationSigned { rotation, profile, staff_list, revocations } = signed;
        self.check_signed_size(&rotation.by_old)?;
        self.check_signed_size(profile)?;
        self.check_signed_size(staff_list)?;
        if let Some(list) = revocations {
            self.check_signed_size(list)?;
        }
        let (record, key) = self.org_admin(me, org)?;
        let link = rotation
            .verify(org)
            .map_err(|_| RelayError::InvalidRequest("the org key rotation does not verify"))?;
        if link.old_key != key {
            return Err(RelayError::InvalidRequest(
                "the org key rotation is not signed by the org's current key",
            ));
        }
        let mut chain =
            self.store.org_directory(org, unix_ms())?.map(|i| i.rotations).unwrap_or_default();
        chain.push(rotation.clone());
        VerifiedChain::verify(org, &chain).map_err(|_| {
            RelayError::InvalidRequest("the rotation does not continue the org's rotation chain")
        })?;
        let new_key = link.new_key;
        let decoded: OrgProfile = verify_signed(profile, SignedKind::Profile, &new_key)?;
        if decoded.org != *org || decoded.handle != record.handle {
            return Err(RelayError::InvalidRequest("the profile is for another org"));
        }
        decoded.check_published().map_err(RelayError::InvalidField)?;
        let list = StaffList::verify(staff_list, org, &new_key).map_err(|_| {
            RelayError::InvalidRequest("the staff list does not verify with the new org key")
        })?;
        let revocations = self.resigned_revocations(org, revocations, &new_key)?;
        let now = unix_ms();
        let mut reissued = Vec::with_capacity(staff.len());
        for certificate in staff {
            for signed in [&certificate.invite, &certificate.binding] {
                self.check_signed_size(signed)?;
            }
            let verified = match &certificate.approval {
                Some(approval) => {
                    self.check_signed_size(approval)?;
                    certificate.verify(org, &new_key, now)
                }
                None => certificate.verify_enrolment(org, &new_key, now),
            }
            .map_err(|_| {
                RelayError::InvalidRequest(
                    "a re-issued staff certificate does not verify with the new org key",
                )
            })?;
            reissued.push((verified.device, certificate.clone()));
        }
        let update = KeyRotationUpdate {
            rotation,
            sequence: link.sequence,
            old_key: &key,
            new_key: &new_key,
            profile: (profile, decoded.version),
            staff_list: (staff_list, list.version),
            staff: &reissued,
            revocations,
        };
        match self.store.rotate_org_key(org, &update, self.directory_limits(now)) {
            Err(StoreError::VersionNotIncreasing) => {
                return Err(RelayError::Refused(RefusalReason::OrgChangedMeanwhile));
            }
            Err(StoreError::ApprovalMismatch) => {
                return Err(RelayError::InvalidRequest(
                    "a re-issued staff certificate does not match the enrolment stored for its \
                     device",
                ));
            }
            other => other?,
        }
        self.durable().await?;
        tracing::info!(sequence = link.sequence, "org key rotated");
        Ok(Response::Published { version: link.sequence })
    }

    /// The revocation list a key rotation re-signs: required when the org
    /// has one (the directory must not keep a list signed by the old key),
    /// verified with the new key, for the same devices, at a higher version.
    fn resigned_revocations<'a>(
        &self,
        org: &OrgId,
        presented: Option<&'a Signed>,
        new_key: &IdentityKey,
    ) -> Result<Option<(&'a Signed, u64)>, RelayError> {
        let stored = self
            .store
            .org_directory(org, unix_ms())?
            .and_then(|info| info.revocations)
            .and_then(|s| s.decode_unverified::<RevocationList>(SignedKind::Revocations).ok());
        let (stored, presented) = match (stored, presented) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(RelayError::InvalidRequest(
                    "the org's revocation list must be re-signed with the new org key",
                ));
            }
            (stored, Some(presented)) => (stored, presented),
        };
        let list: RevocationList = verify_signed(presented, SignedKind::Revocations, new_key)?;
        let mut devices = list.revoked.clone();
        devices.sort();
        devices.dedup();
        let (stored_version, mut stored_devices) =
            stored.map_or((0, Vec::new()), |l| (l.version, l.revoked));
        stored_devices.sort();
        stored_devices.dedup();
        if list.org != *org || list.version <= stored_version || devices != stored_devices {
            return Err(RelayError::InvalidRequest(
                "the re-signed revocation list must name the same devices at a higher version",
            ));
        }
        Ok(Some((presented, list.version)))
    }

    /// Everything public about the org with this handle.
    pub(super) fn org_directory(&self, handle: &str) -> Result<Response, RelayError> {
        let handle = handle.trim().to_ascii_lowercase();
        let org = self.store.org_by_handle(&handle)?.ok_or(RelayError::UnknownOrg)?;
        if self.store.org(&org)?.is_some_and(|record| record.suspended) {
            return Err(RelayError::OrgSuspended);
        }
        let info = self.store.org_directory(&org, unix_ms())?.ok_or(RelayError::UnknownOrg)?;
        Ok(Response::Org { info: Box::new(info) })
    }
}
