//! Joining discussion groups by link: storing a group's sealed GroupInfo,
//! handing it to holders of the join token, and ordering their MLS external
//! commits.
//!
//! The server stores the GroupInfo sealed with the link secret, so it learns
//! neither the group's name nor anything of its messages; of the join token
//! it stores only the SHA-256, so a copy of the database does not let anyone
//! join. A member replaces both when the link changes (e.g. after a
//! removal), which invalidates the old link at once. Token checks compare
//! hashes in constant time and are rate-limited per device with the code
//! bucket (`code_rate_per_minute`), so tokens cannot be guessed online.

use stadtbote_protocol::frame::Response;
use stadtbote_protocol::group_link::token_hash;
use stadtbote_protocol::{GroupId, OrgId, RefusalReason};

use super::{Identity, Relay, RelayError};
use crate::store::{ExternalJoinInput, StoreError};
use crate::unix_ms;

impl Relay {
    /// Stores the group's sealed GroupInfo and the hash of its join token,
    /// replacing the previous ones (members only). The first put records
    /// the org named (the caller must be its staff): only that org's staff
    /// may end the group.
    pub(super) async fn group_info_put(
        &self,
        me: &Identity,
        group: &GroupId,
        token_hash: &[u8],
        info: &[u8],
        org: Option<&OrgId>,
    ) -> Result<Response, RelayError> {
        let token_hash: &[u8; 32] = token_hash
            .try_into()
            .map_err(|_| RelayError::InvalidRequest("token_hash must be 32 bytes"))?;
        if info.is_empty() {
            return Err(RelayError::InvalidRequest("empty group info"));
        }
        if info.len() > self.limits.max_group_info_bytes {
            return Err(RelayError::TooLarge("group info exceeds max_group_info_bytes"));
        }
        // Checked before the group is looked at, so that the refusal says
        // nothing about whether it exists.
        if let Some(org) = org
            && !self.is_staff(me, org, unix_ms())?
        {
            return Err(RelayError::Refused(RefusalReason::OrgStaffOnly));
        }
        let epoch = self.store.put_group_info(group, &me.device, token_hash, info, org)?;
        // The old token must stay invalid after a crash, so the replacement
        // is durable before it is confirmed.
        self.durable().await?;
        Ok(Response::GroupInfoStored { epoch })
    }

    /// Hands the sealed GroupInfo and the group's current epoch to a holder
    /// of the join token. Changes nothing, so nothing needs flushing.
    pub(super) fn group_info_get(
        &self,
        me: &Identity,
        group: &GroupId,
        token: &[u8],
    ) -> Result<Response, RelayError> {
        self.check_code_attempt(&me.device)?;
        let (epoch, info) =
            self.store.group_info(group, &token_hash(token)).map_err(link_refusal)?;
        Ok(Response::GroupInfo { group: *group, epoch, info: info.into() })
    }

    /// Orders an external commit by which the caller's device joins the
    /// group, fans it out to the previous members and wakes them.
    pub(super) async fn external_join(
        &self,
        me: &Identity,
        group: &GroupId,
        epoch: u64,
        commit: &[u8],
        token: &[u8],
    ) -> Result<Response, RelayError> {
        if commit.is_empty() {
            return Err(RelayError::InvalidRequest("empty commit"));
        }
        if commit.len() > self.limits.max_payload_bytes {
            return Err(RelayError::TooLarge("commit exceeds the message limit"));
        }
        // A join presents the token too, so it draws from the same bucket as
        // fetching the GroupInfo: guessing must not be possible either way.
        self.check_code_attempt(&me.device)?;
        let now = unix_ms();
        let outcome = self.store.external_join(ExternalJoinInput {
            group,
            caller: &me.device,
            epoch,
            commit,
            token_hash: &token_hash(token),
            now_ms: now,
            expires_at_ms: now.saturating_add(self.retention().ms(super::RetentionKind::Envelopes)),
            max_members: self.limits.max_group_devices,
        });
        self.commit_accepted(outcome.map_err(link_refusal)?).await
    }
}

/// A missing group and a wrong or replaced token get the same answer, so
/// that a join token's holder learns nothing more than a stranger.
fn link_refusal(err: StoreError) -> RelayError {
    match err {
        StoreError::UnknownGroup | StoreError::InvalidToken => {
            RelayError::Refused(RefusalReason::GroupLinkInvalid)
        }
        other => other.into(),
    }
}
