//! The refusals a user can meet, by their stable [`RefusalReason`]: the
//! [`ErrorCode`] class each belongs to (what clients branch on) and the
//! English text sent as the error's `message`.
//!
//! Clients that know a reason word it from their own catalogs (in the
//! user's language; their English texts equal these, see the test), so
//! these texts only reach clients that predate reasons, or that meet a
//! reason newer than themselves. Like every error message they are fixed
//! texts: never ids, keys, codes or anything the client sent.

use stadtbote_protocol::{ErrorCode, RefusalReason};

/// The error class and English text of a refusal.
pub fn wire(reason: RefusalReason) -> (ErrorCode, &'static str) {
    use ErrorCode as C;
    use RefusalReason as R;
    match reason {
        R::Unauthenticated => (C::Unauthenticated, "log in or register first"),
        R::AlreadyAuthenticated => {
            (C::AlreadyAuthenticated, "this connection is already authenticated")
        }
        R::AuthFailed => (C::AuthFailed, "authentication failed"),
        R::PowInvalid => (C::PowInvalid, "proof-of-work does not meet the difficulty"),
        R::DeviceBlocked => (C::Forbidden, "this device is blocked"),
        R::DeviceRemoved => {
            (C::Forbidden, "this device was removed from its account, or the account was deleted")
        }
        R::AdminRoleHeld => (
            C::Forbidden,
            "a device of this account is a server admin or an org's admin; hand the role over \
             to another account before deleting this one",
        ),
        R::LinkCodeInvalid => (C::InvalidCode, "link code unknown, used or expired"),
        R::CodeUnknown => (C::InvalidCode, "unknown code"),
        R::CodeExpired => (C::InvalidCode, "code expired"),
        R::CodeUsed => (C::InvalidCode, "code already used"),
        R::InvitationUnknown => (C::InvalidCode, "unknown invitation code"),
        R::InvitationExpired => (C::InvalidCode, "invitation code expired"),
        R::InvitationUsed => (C::InvalidCode, "invitation code already used"),
        R::AdminClaimCodeInvalid => (C::InvalidCode, "unknown or already used admin claim code"),
        R::AdminClaimNeedsSecret => {
            (C::InvalidRequest, "an admin claim needs a TOTP secret (update the stadtbote client)")
        }
        R::SecondFactorMissing => {
            (C::SecondFactorRequired, "this action needs a second factor (the current TOTP code)")
        }
        R::SecondFactorWrongCode => (C::SecondFactorRequired, "second factor refused: wrong code"),
        R::SecondFactorReplayed => (
            C::SecondFactorRequired,
            "second factor refused: code already used, wait for the next one",
        ),
        R::SecondFactorSuperseded => (
            C::SecondFactorRequired,
            "second factor refused: this code is older than the last one used (a later code \
             was already accepted); wait for the next code",
        ),
        R::SecondFactorNotSetUp => (
            C::SecondFactorRequired,
            "second factor refused: no TOTP secret is set up for this admin",
        ),
        R::ServerAdminOnly => (C::Forbidden, "only a server admin may do this"),
        R::NoAdminRole => (C::Forbidden, "this device has no admin role"),
        R::OrgAdminDeviceOnly => (C::Forbidden, "only the org's admin device may do this"),
        R::PublishersOnly => (C::Forbidden, "only the org's publishers may do this"),
        R::OrgStaffOnly => (C::Forbidden, "only staff of an org can make a group of that org"),
        R::ModeratorsOnly => (
            C::ModeratorsOnly,
            "only the group's moderators (staff of its org) can end a discussion group",
        ),
        R::OrgNotClaimed => (C::Forbidden, "the org has not been claimed yet"),
        R::EnrolOrgNotClaimed => (C::InvalidRequest, "the org is not claimed"),
        R::OrgAlreadyClaimed => (C::InvalidRequest, "the org has already been claimed"),
        R::OrgSuspended => (C::OrgSuspended, "this org is suspended by the server's operator"),
        R::DeviceRevoked => (C::InvalidRequest, "this device is on the org's revocation list"),
        R::GroupLinkInvalid => (C::Forbidden, "invalid or replaced group link"),
        R::DeviceListOtherKey => (C::Forbidden, "the device list is signed by another account key"),
        R::UnknownAccount => (C::UnknownAccount, "no such account"),
        R::UnknownGroup => (C::UnknownGroup, "no such group"),
        R::NotAMember => {
            (C::NotAMember, "this device is not a member of the group (or there is no such group)")
        }
        R::UnknownOrg => (C::UnknownOrg, "no such org"),
        R::UnknownBlob => (C::UnknownBlob, "no such attachment, or it is not complete"),
        R::UnknownChannel => (C::UnknownChannel, "no such channel"),
        R::HandleTaken => (C::HandleTaken, "this handle is already taken"),
        R::RateLimited => (C::RateLimited, "too many requests"),
        R::QuotaExceeded => (
            C::QuotaExceeded,
            "the account's attachment storage quota is used up; nothing was stored",
        ),
        R::ListenerLimit => (
            C::Unavailable,
            "too many connections listen without an account, from this address or on this \
             server; retry later, or log in on this connection first",
        ),
        R::MessageTooLarge => (C::TooLarge, "message exceeds the message limit"),
        R::PostTooLarge => (
            C::TooLarge,
            "post exceeds the channel post limit (max_message_bytes minus metadata and framing)",
        ),
        R::GroupTooLarge => (C::TooLarge, "group would exceed max_group_devices"),
        R::TooManyListens => {
            (C::TooLarge, "a connection may listen to at most max_channel_listens channels")
        }
        R::TooManyBackupRecipients => (C::TooLarge, "at most 16 recipients"),
        R::StorageUnavailable => (C::StorageUnavailable, "storage unavailable; nothing was stored"),
        R::Unavailable => (C::Unavailable, "temporarily unavailable; retry later"),
        R::Internal => (C::Internal, "internal error"),
        R::StaleEpoch => (C::StaleEpoch, "another commit was already accepted for this epoch"),
        R::StalePost => {
            (C::StaleEpoch, "another post was stored first; fetch the newer posts and retry")
        }
        R::OrgChangedMeanwhile => (
            C::InvalidRequest,
            "the org key, its rotation chain, the profile or the staff list changed meanwhile \
             (versions must increase); fetch the org and try again",
        ),
        R::RetentionOutOfRange => {
            (C::InvalidRequest, "a retention period must be between 60 seconds and ten years")
        }
        R::RetentionWholeDays => {
            (C::InvalidRequest, "this retention period is counted in whole days")
        }
        R::RetentionUnknownKind => (
            C::InvalidRequest,
            "unknown retention kind (envelopes, attachments, uploads, link-codes, \
             org-claim-codes, channel-posts-max, audit)",
        ),
        R::OrgNameInvalid => {
            (C::InvalidRequest, "the org name must be 1-100 characters without control characters")
        }
        R::ChannelRetentionOutOfRange => {
            (C::InvalidRequest, "retention_days must be between 1 and max_channel_retention_days")
        }
        R::InvitationExpiryInvalid => (
            C::InvalidRequest,
            "the invitation must expire in the future and within max_invite_ttl_secs",
        ),
        R::PlaintextBackupRefused => (
            C::InvalidRequest,
            "refusing to write an unencrypted backup: it would hold the pepper, every \
             account's shredding key and the admins' TOTP secrets. Add an age recipient \
             (`stadtbote-server backup-key generate --out KEYFILE` on a machine other than the \
             server, then `backup_recipients` in the server configuration or `--recipient \
             age1…`), or pass --insecure-plaintext",
        ),
        R::BackupRecipientInvalid => (C::InvalidRequest, "a recipient is not an age1… public key"),
        R::BackupUnknown => (C::InvalidRequest, "unknown backup"),
        R::BackupUnknownOrUnfinished => (C::InvalidRequest, "unknown or unfinished backup"),
        R::BackupNotFinished => (C::InvalidRequest, "the backup is not finished"),
        R::RequestNotSupported => (C::InvalidRequest, "request not supported by this server"),
        R::AdminActionNotSupported => {
            (C::InvalidRequest, "admin action not supported by this server")
        }
        R::PushNotEnabled => {
            (C::InvalidRequest, "this server sends no push notifications (none configured)")
        }
        R::PushEndpointNotAllowed => {
            (C::Forbidden, "this push service is not on the server's list of allowed push services")
        }
        R::PushSubscriptionInvalid => (
            C::InvalidRequest,
            "invalid push subscription (endpoint URL, p256dh key or auth secret)",
        ),
        // `Unknown` is what a client decodes a newer reason as; a server
        // never sends it. The protocol enum is non-exhaustive, so a reason
        // added there without a row here falls through as well (the test
        // below catches that).
        _ => (C::Internal, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason has its own row: only `internal` itself is sent as
    /// an internal error, and no two reasons share a text.
    #[test]
    fn every_reason_has_its_row() {
        let mut texts = std::collections::BTreeSet::new();
        for reason in RefusalReason::ALL {
            let (code, text) = wire(*reason);
            if *reason != RefusalReason::Internal {
                assert_ne!(code, ErrorCode::Internal, "{} has no row", reason.as_str());
            }
            assert!(texts.insert(text), "{} shares its text", reason.as_str());
        }
    }

    /// The English catalog's text of every reason (the client's
    /// `refusal-…` ids) is the server's English text, so that English
    /// output is the same whether a client words a refusal itself or shows
    /// the server's message.
    #[test]
    fn the_english_catalog_says_what_the_server_says() {
        use stadtbote_i18n::{Catalog, Lang};
        let en = Catalog::get(Lang::En);
        for reason in RefusalReason::ALL {
            let id = format!("refusal-{}", reason.as_str().replace('_', "-"));
            assert_eq!(en.value(&id).as_deref(), Some(wire(*reason).1), "{id}");
        }
    }
}
