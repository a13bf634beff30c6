//! Which refusal the server sent: the stable reason code an
//! [`ErrorBody`](crate::ErrorBody) carries next to its [`ErrorCode`](crate::ErrorCode).
//!
//! The [`ErrorCode`](crate::ErrorCode) is the class a client branches on (retry after
//! `rate_limited`, ask for a TOTP code after `second_factor_required`, …);
//! several refusals share one class. The reason names the one refusal, so
//! that a client can word it in its user's language from its own catalog
//! instead of showing (or matching) the server's English `message`. Servers
//! keep sending `message` for clients that predate reasons; a client that
//! meets a reason it does not know ([`RefusalReason::Unknown`]) shows that
//! message, filtered like any other party's text.
//!
//! Refusals only a faulty client can meet (a malformed signature, an empty
//! commit, …) carry no reason: their English text is a developer's hint.

use serde::{Deserialize, Serialize};

/// Stable reason codes of refusals a user can meet. Appended, never
/// renamed or reused; see docs/PROTOCOL.md ("Refusal reasons").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalReason {
    // ----- connection and login
    /// The request needs a logged-in connection.
    Unauthenticated,
    /// The connection is already logged in.
    AlreadyAuthenticated,
    /// The login's signature, device or challenge did not verify.
    AuthFailed,
    /// The registration proof-of-work does not meet the difficulty.
    PowInvalid,
    /// The device was blocked by a server admin.
    DeviceBlocked,
    /// The device was removed from its account, or the account deleted.
    DeviceRemoved,
    /// An account holding an admin role cannot be deleted.
    AdminRoleHeld,
    // ----- one-time codes
    /// A device link code is unknown, used or expired.
    LinkCodeInvalid,
    /// An org-admin (claim) code is unknown.
    CodeUnknown,
    /// An org-admin (claim) code has expired.
    CodeExpired,
    /// An org-admin (claim) code was used already.
    CodeUsed,
    /// A staff invitation code is unknown.
    InvitationUnknown,
    /// A staff invitation code has expired.
    InvitationExpired,
    /// A staff invitation code was used already.
    InvitationUsed,
    /// The server-admin claim code is unknown or used.
    AdminClaimCodeInvalid,
    /// A server-admin claim without a TOTP secret (an old client).
    AdminClaimNeedsSecret,
    // ----- the second factor (TOTP)
    /// The action needs the current TOTP code, and none was given.
    SecondFactorMissing,
    /// The TOTP code is wrong.
    SecondFactorWrongCode,
    /// The TOTP code was used already.
    SecondFactorReplayed,
    /// The TOTP code was never used, but a later one was.
    SecondFactorSuperseded,
    /// No TOTP secret is set up for this admin.
    SecondFactorNotSetUp,
    // ----- roles and permissions
    /// Only a server admin may do this.
    ServerAdminOnly,
    /// A second factor from a device without any admin role.
    NoAdminRole,
    /// Only the org's admin device may do this.
    OrgAdminDeviceOnly,
    /// Only the org's publishers may do this.
    PublishersOnly,
    /// Only staff of an org can make a discussion group of that org.
    OrgStaffOnly,
    /// Only a discussion group's moderators may do this.
    ModeratorsOnly,
    /// The org has not been claimed yet (an org-admin action).
    OrgNotClaimed,
    /// The org has not been claimed yet (a staff enrolment).
    EnrolOrgNotClaimed,
    /// The org has already been claimed.
    OrgAlreadyClaimed,
    /// The org is suspended by the server's operator.
    OrgSuspended,
    /// This device is on the org's revocation list.
    DeviceRevoked,
    /// A discussion group's join link is invalid or was replaced.
    GroupLinkInvalid,
    /// A device list signed by another account key than the stored one.
    DeviceListOtherKey,
    // ----- not found, taken
    /// No such account.
    UnknownAccount,
    /// No such group.
    UnknownGroup,
    /// The device is not a member of the group (or there is no such group).
    NotAMember,
    /// No such org.
    UnknownOrg,
    /// No such attachment, or it is not complete.
    UnknownBlob,
    /// No such channel.
    UnknownChannel,
    /// The org handle is taken.
    HandleTaken,
    // ----- limits
    /// Too many requests; see `retry_after_ms`.
    RateLimited,
    /// The account's attachment storage quota is used up.
    QuotaExceeded,
    /// Too many connections listen without an account.
    ListenerLimit,
    /// A message exceeds the server's message limit.
    MessageTooLarge,
    /// A channel post exceeds the channel post limit.
    PostTooLarge,
    /// A group would exceed the server's group size limit.
    GroupTooLarge,
    /// One connection listens to too many channels.
    TooManyListens,
    /// An online backup names too many recipients.
    TooManyBackupRecipients,
    // ----- availability and races
    /// Storage cannot accept writes; nothing was stored.
    StorageUnavailable,
    /// The server is shutting down or overloaded.
    Unavailable,
    /// An unexpected server error.
    Internal,
    /// Another commit was accepted for this epoch first.
    StaleEpoch,
    /// Another channel post was stored first.
    StalePost,
    /// An org key rotation raced with another change of the org.
    OrgChangedMeanwhile,
    // ----- what an admin typed
    /// A retention period outside 60 seconds to ten years.
    RetentionOutOfRange,
    /// A retention period counted in days that is not whole days.
    RetentionWholeDays,
    /// An unknown retention kind.
    RetentionUnknownKind,
    /// An org name that is empty, too long or has control characters.
    OrgNameInvalid,
    /// A channel retention outside 1 day to the server's maximum.
    ChannelRetentionOutOfRange,
    /// A staff invitation's expiry in the past or too far ahead.
    InvitationExpiryInvalid,
    /// An online backup without any recipient, not explicitly unencrypted.
    PlaintextBackupRefused,
    /// An online backup recipient that is not an age public key.
    BackupRecipientInvalid,
    /// No such online backup.
    BackupUnknown,
    /// No such online backup, or it is not finished.
    BackupUnknownOrUnfinished,
    /// The online backup is not finished yet.
    BackupNotFinished,
    // ----- versions
    /// A request this server does not know (it is older than the client).
    RequestNotSupported,
    /// An admin action this server does not know.
    AdminActionNotSupported,
    // ----- Web Push
    /// This server sends no Web Push (its operator configured none).
    PushNotEnabled,
    /// The push endpoint's origin is not on the server's allow-list of
    /// push services.
    PushEndpointNotAllowed,
    /// The push subscription is malformed (endpoint URL, key or secret).
    PushSubscriptionInvalid,
    /// A reason this client does not know (a newer server's): show the
    /// server's `message`.
    #[serde(other)]
    Unknown,
}

impl RefusalReason {
    /// Every reason a server sends, in declaration order (not
    /// [`RefusalReason::Unknown`]). A client's catalog needs a text for each.
    pub const ALL: &'static [RefusalReason] = &[
        RefusalReason::Unauthenticated,
        RefusalReason::AlreadyAuthenticated,
        RefusalReason::AuthFailed,
        RefusalReason::PowInvalid,
        RefusalReason::DeviceBlocked,
        RefusalReason::DeviceRemoved,
        RefusalReason::AdminRoleHeld,
        RefusalReason::LinkCodeInvalid,
        RefusalReason::CodeUnknown,
        RefusalReason::CodeExpired,
        RefusalReason::CodeUsed,
        RefusalReason::InvitationUnknown,
        RefusalReason::InvitationExpired,
        RefusalReason::InvitationUsed,
        RefusalReason::AdminClaimCodeInvalid,
        RefusalReason::AdminClaimNeedsSecret,
        RefusalReason::SecondFactorMissing,
        RefusalReason::SecondFactorWrongCode,
        RefusalReason::SecondFactorReplayed,
        RefusalReason::SecondFactorSuperseded,
        RefusalReason::SecondFactorNotSetUp,
        RefusalReason::ServerAdminOnly,
        RefusalReason::NoAdminRole,
        RefusalReason::OrgAdminDeviceOnly,
        RefusalReason::PublishersOnly,
        RefusalReason::OrgStaffOnly,
        RefusalReason::ModeratorsOnly,
        RefusalReason::OrgNotClaimed,
        RefusalReason::EnrolOrgNotClaimed,
        RefusalReason::OrgAlreadyClaimed,
        RefusalReason::OrgSuspended,
        RefusalReason::DeviceRevoked,
        RefusalReason::GroupLinkInvalid,
        RefusalReason::DeviceListOtherKey,
        RefusalReason::UnknownAccount,
        RefusalReason::UnknownGroup,
        RefusalReason::NotAMember,
        RefusalReason::UnknownOrg,
        RefusalReason::UnknownBlob,
        RefusalReason::UnknownChannel,
        RefusalReason::HandleTaken,
        RefusalReason::RateLimited,
        RefusalReason::QuotaExceeded,
        RefusalReason::ListenerLimit,
        RefusalReason::MessageTooLarge,
        RefusalReason::PostTooLarge,
        RefusalReason::GroupTooLarge,
        RefusalReason::TooManyListens,
        RefusalReason::TooManyBackupRecipients,
        RefusalReason::StorageUnavailable,
        RefusalReason::Unavailable,
        RefusalReason::Internal,
        RefusalReason::StaleEpoch,
        RefusalReason::StalePost,
        RefusalReason::OrgChangedMeanwhile,
        RefusalReason::RetentionOutOfRange,
        RefusalReason::RetentionWholeDays,
        RefusalReason::RetentionUnknownKind,
        RefusalReason::OrgNameInvalid,
        RefusalReason::ChannelRetentionOutOfRange,
        RefusalReason::InvitationExpiryInvalid,
        RefusalReason::PlaintextBackupRefused,
        RefusalReason::BackupRecipientInvalid,
        RefusalReason::BackupUnknown,
        RefusalReason::BackupUnknownOrUnfinished,
        RefusalReason::BackupNotFinished,
        RefusalReason::RequestNotSupported,
        RefusalReason::AdminActionNotSupported,
        RefusalReason::PushNotEnabled,
        RefusalReason::PushEndpointNotAllowed,
        RefusalReason::PushSubscriptionInvalid,
    ];

    /// The reason as written on the wire (`second_factor_wrong_code`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RefusalReason::Unauthenticated => "unauthenticated",
            RefusalReason::AlreadyAuthenticated => "already_authenticated",
            RefusalReason::AuthFailed => "auth_failed",
            RefusalReason::PowInvalid => "pow_invalid",
            RefusalReason::DeviceBlocked => "device_blocked",
            RefusalReason::DeviceRemoved => "device_removed",
            RefusalReason::AdminRoleHeld => "admin_role_held",
            RefusalReason::LinkCodeInvalid => "link_code_invalid",
            RefusalReason::CodeUnknown => "code_unknown",
            RefusalReason::CodeExpired => "code_expired",
            RefusalReason::CodeUsed => "code_used",
            RefusalReason::InvitationUnknown => "invitation_unknown",
            RefusalReason::InvitationExpired => "invitation_expired",
            RefusalReason::InvitationUsed => "invitation_used",
            RefusalReason::AdminClaimCodeInvalid => "admin_claim_code_invalid",
            RefusalReason::AdminClaimNeedsSecret => "admin_claim_needs_secret",
            RefusalReason::SecondFactorMissing => "second_factor_missing",
            RefusalReason::SecondFactorWrongCode => "second_factor_wrong_code",
            RefusalReason::SecondFactorReplayed => "second_factor_replayed",
            RefusalReason::SecondFactorSuperseded => "second_factor_superseded",
            RefusalReason::SecondFactorNotSetUp => "second_factor_not_set_up",
            RefusalReason::ServerAdminOnly => "server_admin_only",
            RefusalReason::NoAdminRole => "no_admin_role",
            RefusalReason::OrgAdminDeviceOnly => "org_admin_device_only",
            RefusalReason::PublishersOnly => "publishers_only",
            RefusalReason::OrgStaffOnly => "org_staff_only",
            RefusalReason::ModeratorsOnly => "moderators_only",
            RefusalReason::OrgNotClaimed => "org_not_claimed",
            RefusalReason::EnrolOrgNotClaimed => "enrol_org_not_claimed",
            RefusalReason::OrgAlreadyClaimed => "org_already_claimed",
            RefusalReason::OrgSuspended => "org_suspended",
            RefusalReason::DeviceRevoked => "device_revoked",
            RefusalReason::GroupLinkInvalid => "group_link_invalid",
            RefusalReason::DeviceListOtherKey => "device_list_other_key",
            RefusalReason::UnknownAccount => "unknown_account",
            RefusalReason::UnknownGroup => "unknown_group",
            RefusalReason::NotAMember => "not_a_member",
            RefusalReason::UnknownOrg => "unknown_org",
            RefusalReason::UnknownBlob => "unknown_blob",
            RefusalReason::UnknownChannel => "unknown_channel",
            RefusalReason::HandleTaken => "handle_taken",
            RefusalReason::RateLimited => "rate_limited",
            RefusalReason::QuotaExceeded => "quota_exceeded",
            RefusalReason::ListenerLimit => "listener_limit",
            RefusalReason::MessageTooLarge => "message_too_large",
            RefusalReason::PostTooLarge => "post_too_large",
            RefusalReason::GroupTooLarge => "group_too_large",
            RefusalReason::TooManyListens => "too_many_listens",
            RefusalReason::TooManyBackupRecipients => "too_many_backup_recipients",
            RefusalReason::StorageUnavailable => "storage_unavailable",
            RefusalReason::Unavailable => "unavailable",
            RefusalReason::Internal => "internal",
            RefusalReason::StaleEpoch => "stale_epoch",
            RefusalReason::StalePost => "stale_post",
            RefusalReason::OrgChangedMeanwhile => "org_changed_meanwhile",
            RefusalReason::RetentionOutOfRange => "retention_out_of_range",
            RefusalReason::RetentionWholeDays => "retention_whole_days",
            RefusalReason::RetentionUnknownKind => "retention_unknown_kind",
            RefusalReason::OrgNameInvalid => "org_name_invalid",
            RefusalReason::ChannelRetentionOutOfRange => "channel_retention_out_of_range",
            RefusalReason::InvitationExpiryInvalid => "invitation_expiry_invalid",
            RefusalReason::PlaintextBackupRefused => "plaintext_backup_refused",
            RefusalReason::BackupRecipientInvalid => "backup_recipient_invalid",
            RefusalReason::BackupUnknown => "backup_unknown",
            RefusalReason::BackupUnknownOrUnfinished => "backup_unknown_or_unfinished",
            RefusalReason::BackupNotFinished => "backup_not_finished",
            RefusalReason::RequestNotSupported => "request_not_supported",
            RefusalReason::AdminActionNotSupported => "admin_action_not_supported",
            RefusalReason::PushNotEnabled => "push_not_enabled",
            RefusalReason::PushEndpointNotAllowed => "push_endpoint_not_allowed",
            RefusalReason::PushSubscriptionInvalid => "push_subscription_invalid",
            RefusalReason::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` is what serde writes, for every reason; the wire names are
    /// unique; `ALL` holds each reason once and not `Unknown`.
    #[test]
    fn wire_names_match_serde_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for reason in RefusalReason::ALL {
            let mut bytes = Vec::new();
            ciborium::into_writer(reason, &mut bytes).unwrap();
            let value: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
            assert_eq!(value.as_text(), Some(reason.as_str()));
            assert!(seen.insert(reason.as_str()), "{} twice", reason.as_str());
            assert_ne!(*reason, RefusalReason::Unknown);
        }
    }

    /// A reason from a newer server decodes as `Unknown`, not as an error.
    #[test]
    fn a_future_reason_decodes_as_unknown() {
        let mut bytes = Vec::new();
        ciborium::into_writer(&"refused_by_a_newer_rule", &mut bytes).unwrap();
        let reason: RefusalReason = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(reason, RefusalReason::Unknown);
    }
}
