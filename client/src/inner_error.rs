//! What failed, and what the user can do, for the inner errors some
//! [`crate::ClientError`] variants wrap: the encryption layer (MLS),
//! attachment encryption, channel and group objects, the file system.
//! Their own `Display` is a terse technical English phrase ("malformed MLS
//! data"); here each kind gets a sentence a clerk or citizen can act on,
//! with the technical phrase kept in parentheses where it helps a support
//! request.
//!
//! This module holds the English texts (the variants' `Display`);
//! [`crate::error_text`] formats the same messages from the catalogs
//! (`inner-…` ids) in the user's language, and its tests check that the
//! English catalog equals these texts.

use stadtbote_protocol::attachment::AttachmentError;
use stadtbote_protocol::channel::ChannelError;
use stadtbote_protocol::mls::MlsError;

use crate::attachments::format_mb;

/// The catalog id of an MLS error kind (`inner-mls-…`), `None` for kinds
/// this version does not know (they show the technical text).
pub fn mls_id(error: &MlsError) -> Option<&'static str> {
    Some(match error {
        MlsError::Malformed => "inner-mls-malformed",
        MlsError::InvalidKeyPackage => "inner-mls-invalid-key-package",
        MlsError::InvalidCredential => "inner-mls-invalid-credential",
        MlsError::Rejected => "inner-mls-rejected",
        MlsError::UnknownGroup => "inner-mls-unknown-group",
        MlsError::GroupExists => "inner-mls-group-exists",
        MlsError::NotAMember => "inner-mls-not-a-member",
        MlsError::PendingCommit => "inner-mls-pending-commit",
        MlsError::NothingToCommit => "inner-mls-nothing-to-commit",
        MlsError::CorruptState => "inner-mls-corrupt-state",
        MlsError::MembershipMismatch => "inner-mls-membership-mismatch",
        MlsError::Internal => "inner-mls-internal",
        _ => return None,
    })
}

/// An MLS error in English (the `Display` of [`crate::ClientError::Mls`]).
pub fn mls_en(error: &MlsError) -> String {
    match error {
        MlsError::Malformed => "the encrypted data is damaged (malformed MLS data); ask the sender to send it again",
        MlsError::InvalidKeyPackage => "a device offered keys that are not valid (invalid key package); it can be added once it runs a current version of stadtbote",
        MlsError::InvalidCredential => "a member's device is not a valid Stadtbote device (invalid member credential); nothing was sent to it",
        MlsError::Rejected => "an encrypted message failed its checks and was not accepted (MLS message rejected); ask the sender to send it again",
        MlsError::UnknownGroup => "this device does not have the keys of this conversation (unknown group); it gets them when a member of the conversation next sends a message",
        MlsError::GroupExists => "this conversation already exists on this device (group already exists); run the command again",
        MlsError::NotAMember => "this device is no longer a member of this conversation (not a member of the group)",
        MlsError::PendingCommit => "an earlier change to this conversation is not finished yet (pending commit); run the command again",
        MlsError::NothingToCommit => "there is nobody to add or remove",
        MlsError::CorruptState => "the encryption state stored on this device is damaged (corrupt MLS state); restore the home directory from a backup, or set this device up again",
        MlsError::MembershipMismatch => "a member's change to the conversation does not do what it declares to the server, so it was refused (membership mismatch); tell the town if this persists",
        MlsError::Internal => "the encryption library failed (internal MLS error); run the command again, and report the problem if it persists",
        other => return format!("encryption layer: {other}"),
    }
    .to_string()
}

/// An attachment encryption error in English (the `Display` of
/// [`crate::ClientError::Attachment`]).
pub fn attachment_en(error: &AttachmentError) -> String {
    match error {
        AttachmentError::TooLarge { size, limit } => format!(
            "the photo is too large to encrypt ({}; the limit is {}); send a smaller photo",
            format_mb(*size),
            format_mb(*limit)
        ),
        AttachmentError::InvalidKey => {
            "the photo's key in the message is damaged; ask the sender to send the photo again"
                .to_string()
        }
        AttachmentError::DecryptionFailed => "the photo could not be decrypted (damaged, altered or not the right key); ask the sender to send it again".to_string(),
        AttachmentError::Misuse => "the photo could not be encrypted (internal error: attachment encryptor used out of order); run the command again".to_string(),
        other => format!("attachment encryption: {other}"),
    }
}

/// What [`crate::ClientError::ChannelData`] names (`what`) as a catalog
/// selector: Fluent keys cannot contain spaces.
pub fn channel_what_key(what: &str) -> &'static str {
    match what {
        "key" => "key",
        "invite link" => "invite-link",
        "metadata" => "metadata",
        "last post" => "last-post",
        "post" => "post",
        "group info" => "group-info",
        "group link" => "group-link",
        _ => "other",
    }
}

/// What failed to verify, in English.
pub fn channel_what_en(what: &str) -> String {
    match channel_what_key(what) {
        "key" => "the channel key".to_string(),
        "invite-link" => "the channel's invite link".to_string(),
        "metadata" => "the channel's description".to_string(),
        "last-post" => "the channel's last post".to_string(),
        "post" => "a channel post".to_string(),
        "group-info" => "the group's join information".to_string(),
        "group-link" => "the group's join link".to_string(),
        _ => format!("the channel's {what}"),
    }
}

/// Why a channel object failed, in English, with what to do.
pub fn channel_reason_en(error: &ChannelError) -> String {
    match error {
        ChannelError::Undecryptable => "it cannot be decrypted (wrong channel key, or it was altered); if the town gave the channel a new key, follow it again with the current invite link".to_string(),
        ChannelError::Forged => "it is not signed by a certified publisher of the org, so it is not shown; tell the town".to_string(),
        ChannelError::Revoked => "it is signed by a publisher device the org has revoked (lost or stolen), so it is not shown".to_string(),
        ChannelError::OutOfOrder { expected, found } => format!(
            "post {found} does not follow post {expected} (reordered or inserted); run the command again later, and tell the town if this persists"
        ),
        ChannelError::Malformed(detail) => format!(
            "it is damaged (malformed {detail}); if you copied it, check that it is complete, otherwise tell the town"
        ),
        other => other.to_string(),
    }
}

/// The catalog selector of an I/O error kind that gets its own sentence;
/// `other` for the rest (they show the operating system's text).
pub fn io_kind_key(error: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match error.kind() {
        K::NotFound => "not-found",
        K::PermissionDenied => "permission-denied",
        K::AlreadyExists => "already-exists",
        K::StorageFull => "storage-full",
        K::ReadOnlyFilesystem => "read-only",
        K::IsADirectory => "is-a-directory",
        K::NotADirectory => "not-a-directory",
        _ => "other",
    }
}

/// Why a file operation failed, in English (the `Display` of
/// [`crate::ClientError::Io`] after `cannot ACTION FILE: `).
pub fn io_reason_en(error: &std::io::Error) -> String {
    match io_kind_key(error) {
        "not-found" => "it does not exist".to_string(),
        "permission-denied" => {
            "permission denied; check who owns it and its permissions".to_string()
        }
        "already-exists" => "it already exists; choose another name or move it away".to_string(),
        "storage-full" => "the disk is full; free some space and run the command again".to_string(),
        "read-only" => "the file system is read-only".to_string(),
        "is-a-directory" => "it is a directory, not a file".to_string(),
        "not-a-directory" => "a part of the path is not a directory".to_string(),
        _ => error.to_string(),
    }
}

/// The technical part of an unexpected server answer worth showing: the
/// response's name, not its (possibly long, server-chosen) fields.
pub fn response_name(debug: &str) -> &str {
    let end = debug.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(debug.len());
    &debug[..end]
}
