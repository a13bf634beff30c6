//! What lets the server's member list follow the MLS group: the checks of
//! a commit's signed membership statement, and who counts as a discussion
//! group's moderator.
//!
//! The server cannot read a commit (it stays an MLS `PrivateMessage`). It
//! applies the adds and removes the committing device declares, but only
//! when that device signed them over the commit's hash and the commit's
//! cleartext framing names the same group and epoch and carries the
//! statement's digest as its authenticated data. A member that declares
//! something else than its commit does is then refused here or by every
//! other member's client (`stadtbote_protocol::membership`).
//!
//! None of these checks looks at the group, so their refusals are the same
//! whether or not it exists.

use stadtbote_protocol::membership::{MembershipProof, MembershipStatement};
use stadtbote_protocol::mls::commit_framing;
use stadtbote_protocol::{DeviceId, GroupId, OrgId};

use super::{Identity, Relay, RelayError};

/// The membership change a `commit` request claims.
pub(super) struct Claim<'a> {
    pub group: &'a GroupId,
    pub epoch: u64,
    pub commit: &'a [u8],
    pub add: &'a [DeviceId],
    pub remove: &'a [DeviceId],
    pub proof: Option<&'a MembershipProof>,
}

const MISSING: &str =
    "a commit needs a membership statement; this client is too old for the server";
const BAD_SALT: &str = "the membership statement's salt must be 32 bytes";
const BAD_SIGNATURE: &str = "the membership statement is not signed by this device for this commit";
const NOT_BOUND: &str = "the commit does not carry the membership statement it was sent with (group, epoch or \
     authenticated data differ)";

impl Relay {
    /// Checks the statement's signature against the caller's registered
    /// identity key and its binding into the commit. The caller's
    /// membership is checked by the store, under the group's lock.
    pub(super) fn check_membership_claim(
        &self,
        me: &Identity,
        claim: &Claim<'_>,
    ) -> Result<(), RelayError> {
        let proof = claim.proof.ok_or(RelayError::InvalidRequest(MISSING))?;
        let statement = MembershipStatement::declared(
            *claim.group,
            claim.epoch,
            proof,
            claim.add,
            claim.remove,
        )
        .ok_or(RelayError::InvalidRequest(BAD_SALT))?;
        let device = self.store.device(&me.device)?.ok_or(RelayError::AuthFailed)?;
        if !statement.verify(&device.identity_key, claim.commit, &proof.signature) {
            return Err(RelayError::InvalidRequest(BAD_SIGNATURE));
        }
        let framing =
            commit_framing(claim.commit).map_err(|_| RelayError::InvalidRequest(NOT_BOUND))?;
        if framing.group != *claim.group
            || framing.epoch != claim.epoch
            || statement.aad().as_deref() != Some(framing.aad.as_slice())
        {
            return Err(RelayError::InvalidRequest(NOT_BOUND));
        }
        Ok(())
    }

    /// Whether the caller's device holds a current staff certificate of
    /// `org` that the org has not revoked: who may record a discussion
    /// group's org and end a group of that org (the store compares the org
    /// with the one recorded for the group).
    pub(super) fn is_staff(
        &self,
        me: &Identity,
        org: &OrgId,
        now_ms: u64,
    ) -> Result<bool, RelayError> {
        let Some(record) = self.store.org(org)? else {
            return Ok(false);
        };
        let Some(org_key) = record.org_key else {
            return Ok(false);
        };
        if record.suspended {
            return Ok(false);
        }
        let Some(certificate) = self.store.staff_certificate(org, &me.device)? else {
            return Ok(false);
        };
        let Ok(staff) = certificate.verify(org, &org_key, now_ms) else {
            return Ok(false);
        };
        Ok(staff.device == me.device && !self.store.revoked_by_org(org, &me.device)?)
    }
}
