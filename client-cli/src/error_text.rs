//! [`ClientError`] in the user's language: the catalog message of every
//! variant (`error-…` ids in the `stadtbote-i18n` catalogs; the match is
//! exhaustive, so a new variant needs its text), with the inner errors
//! some variants wrap worded by kind (`inner-…`, `reason-…`). A server's
//! refusal is worded from its reason code ([`crate::refusal_text`]).
//! Details other parties send without a code, and technical phrases
//! without a translation (an OS error of a rare kind), stay as they are.
//!
//! The English catalog texts equal the variants' `Display` (the tests
//! below check each one), so English output does not change.

use stadtbote_client::connection::ConnectionError;
use stadtbote_i18n::{Arg, Lang, tr, tr_in};
use stadtbote_protocol::app_link::AppLinkError;
use stadtbote_protocol::attachment::AttachmentError;
use stadtbote_protocol::channel::ChannelError;
use stadtbote_protocol::mls::MlsError;
use stadtbote_protocol::org::OrgError;

use crate::ClientError;
use crate::attachments::format_mb;
use crate::error::CliError;
use crate::inner_error;
use crate::invalid_input::{self, InvalidReason};
use crate::metadata::MetadataError;
use crate::poster::PosterError;
use crate::refusal_text::{RefusalText, server_error_text};

/// The error's message in the current language (see
/// [`stadtbote_i18n::set_language`]).
pub fn localized(error: &ClientError) -> String {
    use ClientError as E;
    match error {
        E::Connection(error) => connection_localized(error),
        E::InvalidLinkCode => tr!("error-invalid-link-code"),
        E::UnknownAccount(account) => tr!("error-unknown-account", account = account),
        E::InvalidAccountId { text } => {
            tr!("error-invalid-account-id", text = format!("{text:?}"))
        }
        E::PhotoTooLarge { path, size, limit } => tr!(
            "error-photo-too-large",
            path = path.display(),
            size = format_mb(*size),
            limit = format_mb(*limit)
        ),
        E::UnsupportedPhoto { path, reason } => {
            tr!("error-unsupported-photo", path = path.display(), reason = photo_refusal(reason))
        }
        E::AttachmentQuotaExceeded => tr!("error-attachment-quota-exceeded"),
        E::AttachmentUnavailable => tr!("error-attachment-unavailable"),
        E::Invalid { what, reason } => invalid_text(stadtbote_i18n::language(), what, reason),
        E::InvalidCodeText { what } => tr!("error-invalid-code-text", what = code_kind(what)),
        E::NotServerAdmin => tr!("error-not-server-admin"),
        E::Forbidden(refusal) => tr!("error-forbidden", reason = refusal.text()),
        E::SecondFactorRequired(refusal) => {
            tr!("error-second-factor-required", reason = refusal.text())
        }
        E::OrgSuspended => tr!("error-org-suspended"),
        E::HandleTaken(handle) => tr!("error-handle-taken", handle = handle),
        E::NotOrgAdmin => tr!("error-not-org-admin"),
        E::NotAdminOf(handle) => tr!("error-not-admin-of", handle = handle),
        E::SeveralOrgs(orgs) => tr!("error-several-orgs", orgs = orgs),
        E::UnknownOrg { handle } => tr!("error-unknown-org", handle = handle),
        E::OrgNotSetUp { handle } => tr!("error-org-not-set-up", handle = handle),
        E::OrgKeyChanged { handle, pinned, presented } => {
            tr!("error-org-key-changed", handle = handle, pinned = pinned, presented = presented)
        }
        E::FingerprintMismatch { handle, pinned } => {
            tr!("error-fingerprint-mismatch", handle = handle, pinned = pinned)
        }
        E::UnknownCategory { category, handle, valid } => tr!(
            "error-unknown-category",
            handle = handle,
            category = format!("{category:?}"),
            valid = valid
        ),
        E::NoStaffEnrolled { department, handle } => {
            tr!("error-no-staff-enrolled", department = department, handle = handle)
        }
        E::StaffAwaitingApproval { department, handle } => {
            tr!("error-staff-awaiting-approval", department = department, handle = handle)
        }
        E::NoStaffReachable { department } => {
            tr!("error-no-staff-reachable", department = department)
        }
        E::UnknownThread(thread) => tr!("error-unknown-thread", thread = thread),
        E::RemovedFromThread(thread) => tr!("error-removed-from-thread", thread = thread),
        E::NotInDepartment { thread, department } => {
            tr!("error-not-in-department", thread = thread, department = department)
        }
        E::NotStaff { handle } => tr!("error-not-staff", handle = handle),
        E::PhotoNotSent(reason) => tr!("error-photo-not-sent", reason = reason),
        E::InvalidInviteCode => tr!("error-invalid-invite-code"),
        E::UnknownChannel(channel) => tr!("error-unknown-channel", channel = channel),
        E::OutdatedInvite => tr!("error-outdated-invite"),
        E::NotPublisher { handle } => tr!("error-not-publisher", handle = handle),
        E::RepliesOff(channel) => tr!("error-replies-off", channel = channel),
        E::UnknownGroup(group) => tr!("error-unknown-group", group = group),
        E::AwaitingApproval => tr!("error-awaiting-approval"),
        E::UnknownDevice(device) => tr!("error-unknown-device", device = device),
        E::Status(status) => status_error(status),
        E::RemovedFromConversation(account) => {
            tr!("error-removed-from-conversation", account = account)
        }
        E::NotYetAdded(account) => tr!("error-not-yet-added", account = account),
        E::CommitConflict { peer, attempts } => {
            tr!("error-commit-conflict", peer = peer, attempts = attempts)
        }
        E::WaitingForEarlierMessage => tr!("error-waiting-for-earlier-message"),
        E::NotConnected => tr!("error-not-connected"),
        E::AttachmentRefusedTooLarge { size } => {
            tr!("error-attachment-refused-too-large", size = format_mb(*size))
        }
        E::AttachmentCorrupt { reason } => tr!("error-attachment-corrupt", reason = reason),
        E::CodeRefused { what, detail } => {
            tr!("error-code-refused", what = code_kind(what), detail = detail.text())
        }
        E::InvalidOrgData { handle, reason } => {
            tr!("error-invalid-org-data", handle = handle, reason = reason)
        }
        E::StaffListRolledBack { handle, seen, offered } => {
            tr!("error-staff-list-rolled-back", handle = handle, seen = seen, offered = offered)
        }
        E::RefuseUncertified { device, thread, handle } => {
            tr!("error-refuse-uncertified", device = device, thread = thread, handle = handle)
        }
        E::MemberAwaitingApproval { device, thread, handle } => {
            tr!("error-member-awaiting-approval", device = device, thread = thread, handle = handle)
        }
        E::KeyPackageMismatch { device, handle } => {
            tr!("error-key-package-mismatch", device = device, handle = handle)
        }
        E::ThreadConflict { attempts } => tr!("error-thread-conflict", attempts = attempts),
        E::NotAnExportFile => tr!("error-not-an-export-file"),
        E::RevocationListWithheld { handle, pinned, presented } => tr!(
            "error-revocation-list-withheld",
            handle = handle,
            pinned = pinned,
            presented = presented
        ),
        E::PostsWithheld { posts } => tr!("error-posts-withheld", posts = posts),
        E::RemovedFromGroup(group) => tr!("error-removed-from-group", group = group),
        E::NotStaffAnywhere => tr!("error-not-staff-anywhere"),
        E::GroupLinkRefused => tr!("error-group-link-refused"),
        E::GroupInfoOutdated => tr!("error-group-info-outdated"),
        E::LinkCodeWithoutSecret => tr!("error-link-code-without-secret"),
        E::NoDeviceList(account) => tr!("error-no-device-list", account = account),
        E::NoAccountKey => tr!("error-no-account-key"),
        E::RemoveOwnDevice => tr!("error-remove-own-device"),
        E::InvalidServerUrl { url, reason } => {
            tr!("error-invalid-server-url", url = format!("{url:?}"), reason = *reason)
        }
        E::Mls(error) => mls(error),
        E::Attachment(error) => attachment(error),
        E::ChannelData { what, source } => {
            let what = match inner_error::channel_what_key(what) {
                "other" => tr!("inner-channel-what-other", what = *what),
                key => tr("inner-channel-what", &[("what", Arg::Text(key.to_string()))]),
            };
            tr!("error-channel-data", what = what, reason = channel_reason(source))
        }
        E::AppLink(source) => tr!("error-app-link", reason = app_link_reason(source)),
        E::ThreadIdTaken => tr!("error-thread-id-taken"),
        E::ChannelConflict { attempts } => tr!("error-channel-conflict", attempts = attempts),
        E::GroupConflict { attempts } => tr!("error-group-conflict", attempts = attempts),
        E::UnknownGroupMember { member, ambiguous: true } => {
            tr!("error-group-member-ambiguous", member = format!("{member:?}"))
        }
        E::UnknownGroupMember { member, ambiguous: false } => {
            tr!("error-unknown-group-member", member = format!("{member:?}"))
        }
        E::DeviceList { account, reason } => {
            tr!("error-device-list", account = account, reason = reason)
        }
        E::PlaintextBackupRefused => tr!("error-plaintext-backup-refused"),
        // The storage's and the CLI's own errors, in the words the CLI has
        // always used for its files (the store's place is the home).
        E::Storage { place, error } => {
            localized_cli(&crate::error::storage_error(std::path::Path::new(place), error))
        }
        E::StoredData { place, reason } => localized_cli(&CliError::CorruptFile {
            file: std::path::Path::new(place).join(crate::home_store::STORE_DIR),
            reason: reason.clone(),
        }),
        E::Local(inner) => match inner.downcast_ref::<CliError>() {
            Some(cli) => localized_cli(cli),
            None => inner.to_string(),
        },
        _ => error.to_string(),
    }
}

/// A CLI error's message in the current language: the core's error as
/// [`localized`] words it, the CLI's own (home, files, passphrases) here.
pub fn localized_cli(error: &CliError) -> String {
    use CliError as E;
    match error {
        E::Core(error) => localized(error),
        E::NotInitialised { home } => tr!("error-not-initialised", home = home.display()),
        E::AlreadyInitialised { home } => {
            tr!("error-already-initialised", home = home.display())
        }
        E::Locked { home } => tr!("error-locked", home = home.display()),
        E::CaCert { path, reason } => {
            tr!("error-ca-cert", path = path.display(), reason = reason)
        }
        E::WrongPassphrase => tr!("error-wrong-passphrase"),
        E::EmptyPassphrase => tr!("error-empty-passphrase"),
        E::PassphraseMismatch => tr!("error-passphrase-mismatch"),
        E::PhotoUnreadable { path, reason } => {
            tr!("error-photo-unreadable", path = path.display(), reason = unreadable(reason))
        }
        E::CorruptFile { file, reason } => {
            tr!("error-corrupt-file", file = file.display(), reason = reason)
        }
        E::NoPassphrase { env } => tr!("error-no-passphrase", env = env),
        E::Io { action, file, source } => {
            tr!("error-io", action = *action, file = file.display(), source = io_reason(source))
        }
        E::Qr(detail) => tr!("error-qr", detail = detail),
    }
}

/// Why `org poster` could not make a poster, in the current language.
pub fn localized_poster(error: &PosterError) -> String {
    match error {
        PosterError::UnknownFormat { file } => tr!("error-poster-unknown-format", file = file),
        PosterError::NotInFont { character, text } => tr!(
            "error-poster-not-in-font",
            character = crate::poster::character_name(*character),
            text = format!("{text:?}")
        ),
        PosterError::Font { font, reason } => {
            tr!("error-poster-font", font = *font, reason = reason)
        }
        PosterError::Client(error) => localized_cli(error),
    }
}

/// `tr!` in an explicit language.
macro_rules! tr_lang {
    ($lang:expr, $id:literal) => {
        tr_in($lang, $id, &[])
    };
    ($lang:expr, $id:literal, $($name:ident = $value:expr),+ $(,)?) => {
        tr_in($lang, $id, &[$((stringify!($name), stadtbote_i18n::ToArg::to_arg(&$value))),+])
    };
}

/// A [`ClientError::Invalid`] in `lang`: what was given and why it was
/// refused, each worded by kind.
pub fn invalid_text(lang: Lang, what: &str, reason: &InvalidReason) -> String {
    tr_lang!(
        lang,
        "error-invalid",
        what = invalid_what(lang, what),
        reason = invalid_reason(lang, reason)
    )
}

/// What an invalid input was given for ([`ClientError::Invalid`]), in the
/// current language; an option or placeholder (`--status`, `DAYS`) as it
/// is.
fn invalid_what(lang: Lang, what: &str) -> String {
    match invalid_input::what_key(what) {
        Some(key) => tr_in(lang, "invalid-what", &[("what", Arg::Text(key.to_string()))]),
        None => what.to_string(),
    }
}

/// A protocol format error (handle, department, office hours) in the
/// current language; one without a translation as it is.
fn invalid_format(lang: Lang, error: &OrgError) -> String {
    match invalid_input::format_key(error) {
        Some(key) => tr_in(lang, "invalid-format", &[("what", Arg::Text(key.to_string()))]),
        None => error.to_string(),
    }
}

/// Why an input was refused ([`ClientError::Invalid`]), in the current
/// language.
fn invalid_reason(lang: Lang, reason: &InvalidReason) -> String {
    use InvalidReason as R;
    match reason {
        R::Empty => tr_lang!(lang, "invalid-reason-empty"),
        R::MustNotBeEmpty => tr_lang!(lang, "invalid-reason-must-not-be-empty"),
        R::AtLeastOne => tr_lang!(lang, "invalid-reason-at-least-one"),
        R::AtLeastOneDay => tr_lang!(lang, "invalid-reason-at-least-one-day"),
        R::Location(problem) => {
            let problem = tr_in(
                lang,
                "invalid-location-problem",
                &[("what", Arg::Text(problem.key().to_string()))],
            );
            tr_lang!(lang, "invalid-reason-location", problem = problem)
        }
        R::GoesWithStatus => tr_lang!(lang, "invalid-reason-goes-with-status"),
        R::OnlyStaffOnBehalf => tr_lang!(lang, "invalid-reason-only-staff-on-behalf"),
        R::AlreadyWith { department } => {
            tr_lang!(lang, "invalid-reason-already-with", department = department)
        }
        R::Format(error) => invalid_format(lang, error),
        R::Slot { text, error } => {
            tr_lang!(
                lang,
                "invalid-reason-slot",
                slot = format!("{text:?}"),
                reason = invalid_format(lang, error)
            )
        }
        R::NoSlot => tr_lang!(lang, "invalid-reason-no-slot"),
        R::OtherKeyHeld { handle } => {
            tr_lang!(lang, "invalid-reason-other-key-held", handle = handle)
        }
        R::NotPinnedKey { handle } => {
            tr_lang!(lang, "invalid-reason-not-pinned-key", handle = handle)
        }
        R::ServerKeyNotOurs { handle } => {
            tr_lang!(lang, "invalid-reason-server-key-not-ours", handle = handle)
        }
        R::CategoryFormat => tr_lang!(lang, "invalid-reason-category-format"),
        R::NoSuchCategory { name } => {
            tr_lang!(lang, "invalid-reason-no-such-category", name = format!("{name:?}"))
        }
        R::NoSuchPost { channel, seq } => {
            tr_lang!(lang, "invalid-reason-no-such-post", channel = channel, seq = seq)
        }
        R::NameLength { max } => tr_lang!(lang, "invalid-reason-name-length", max = max),
        R::OwnAccount => tr_lang!(lang, "invalid-reason-own-account"),
        R::NotADeviceId { text } => {
            tr_lang!(lang, "invalid-reason-not-a-device-id", text = format!("{text:?}"))
        }
        R::AlreadyApproved => tr_lang!(lang, "invalid-reason-already-approved"),
        R::NoPendingEnrolment => tr_lang!(lang, "invalid-reason-no-pending-enrolment"),
        R::Given(text) | R::Text(text) => text.clone(),
    }
}

/// Which kind of one-time code (`InvalidCodeText`, `CodeRefused`) in the
/// current language; a kind without a translation as it is.
fn code_kind(what: &str) -> String {
    let key = match what {
        "link code" => "link",
        "invitation code" => "invitation",
        "staff invitation code" => "staff-invitation",
        "org-admin code" => "org-admin",
        "admin claim code" => "admin-claim",
        other => return other.to_string(),
    };
    tr("code-kind", &[("what", Arg::Text(key.to_string()))])
}

/// The reasons the client words itself for a lost connection or an
/// unexpected answer (connection.rs, session.rs, backup.rs,
/// attachments.rs), in the current language; others (a WebSocket
/// library's text) stay as they are.
fn technical_reason(reason: &str) -> String {
    if let Some(name) = reason.strip_prefix("unexpected answer ") {
        return tr!("reason-unexpected-answer", name = name);
    }
    if let Some(name) =
        reason.strip_prefix("no answer to ").and_then(|r| r.strip_suffix(" in time"))
    {
        return tr!("reason-no-answer", request = name);
    }
    if let Some(name) = reason.strip_prefix("sending ").and_then(|r| r.strip_suffix(" timed out")) {
        return tr!("reason-send-timed-out", request = name);
    }
    match reason {
        "the server closed the connection" => tr!("reason-server-closed"),
        "too many unsolicited events" => tr!("reason-too-many-events"),
        "proof-of-work was interrupted" => tr!("reason-pow-interrupted"),
        "the server logged this device into another account" => tr!("reason-other-account"),
        "the backup is longer than announced" => tr!("reason-backup-too-long"),
        "the downloaded backup does not match its size or SHA-256" => {
            tr!("reason-backup-mismatch")
        }
        "the server claims more chunks than the upload has" => tr!("reason-upload-chunks"),
        other => other.to_string(),
    }
}

/// An MLS error kind: what failed and what to do.
fn mls(error: &MlsError) -> String {
    match inner_error::mls_id(error) {
        Some(id) => tr(id, &[]),
        None => tr!("inner-mls-other", detail = error),
    }
}

/// An attachment encryption error: what failed and what to do.
fn attachment(error: &AttachmentError) -> String {
    match error {
        AttachmentError::TooLarge { size, limit } => {
            tr!("inner-attachment-too-large", size = format_mb(*size), limit = format_mb(*limit))
        }
        AttachmentError::InvalidKey => tr!("inner-attachment-invalid-key"),
        AttachmentError::DecryptionFailed => tr!("inner-attachment-decryption-failed"),
        AttachmentError::Misuse => tr!("inner-attachment-misuse"),
        other => tr!("inner-attachment-other", detail = other),
    }
}

/// Why a channel or group object does not verify.
/// Why an app link cannot be read, in words.
fn app_link_reason(error: &AppLinkError) -> String {
    match error {
        AppLinkError::Length => tr!("app-link-length"),
        AppLinkError::NotALink => tr!("app-link-not-a-link"),
        AppLinkError::NoFragment => tr!("app-link-no-fragment"),
        AppLinkError::UnknownVersion => tr!("app-link-unknown-version"),
        AppLinkError::UnknownKind => tr!("app-link-unknown-kind"),
        AppLinkError::WrongKind { expected, found } => {
            tr!("app-link-wrong-kind", expected = *expected, found = *found)
        }
        AppLinkError::Malformed(kind) => tr!("app-link-malformed", kind = *kind),
        other => other.to_string(),
    }
}

fn channel_reason(error: &ChannelError) -> String {
    match error {
        ChannelError::Undecryptable => tr!("inner-channel-undecryptable"),
        ChannelError::Forged => tr!("inner-channel-forged"),
        ChannelError::Revoked => tr!("inner-channel-revoked"),
        ChannelError::OutOfOrder { expected, found } => {
            tr!("inner-channel-out-of-order", expected = expected, found = found)
        }
        ChannelError::Malformed(detail) => tr!("inner-channel-malformed", detail = *detail),
        other => other.to_string(),
    }
}

/// Why a file operation failed; the operating system's own text for
/// kinds without a sentence of their own.
fn io_reason(error: &std::io::Error) -> String {
    match inner_error::io_kind_key(error) {
        "other" => error.to_string(),
        kind => tr("inner-io", &[("kind", Arg::Text(kind.to_string()))]),
    }
}

/// Why a photo cannot be cleaned of its metadata (the detail in
/// parentheses is a technical hint and stays English).
fn photo_refusal(error: &MetadataError) -> String {
    use MetadataError as M;
    match error {
        M::UnsupportedFormat => tr!("photo-refused-format"),
        M::MalformedJpeg(detail) => tr!("photo-refused-jpeg-damaged", detail = detail),
        M::UnsupportedJpegMarker(_) => tr!("photo-refused-jpeg-feature"),
        M::MalformedPng(detail) => tr!("photo-refused-png-damaged", detail = detail),
        M::UnsupportedPngChunk(_) => tr!("photo-refused-png-feature"),
        M::MalformedHeif(detail) => tr!("photo-refused-heic-damaged", detail = detail),
        M::UnsupportedHeif(detail) => tr!("photo-refused-heic-feature", detail = detail),
        M::MalformedWebp(detail) => tr!("photo-refused-webp-damaged", detail = detail),
    }
}

/// Why a photo file cannot be read: the reasons `attachments.rs` words
/// itself; an operating system's own text stays as it is.
fn unreadable(reason: &str) -> String {
    match reason {
        "there is no such file" => tr!("photo-unreadable-missing"),
        "permission denied" => tr!("photo-unreadable-permission"),
        "it is a directory or device, not a file" => tr!("photo-unreadable-not-a-file"),
        other => other.to_string(),
    }
}

fn status_error(error: &crate::threads::StatusError) -> String {
    use crate::threads::StatusError as S;
    match error {
        S::NeedsReason(status) => tr!("error-status-needs-reason", status = status.as_str()),
        S::StaffOnly => tr!("error-status-staff-only"),
        S::CitizenOnly => tr!("error-status-citizen-only"),
        S::NotAllowed { from, to } => {
            tr!("error-status-not-allowed", from = from.as_str(), to = to.as_str())
        }
    }
}

/// The core's [`ConnectionError`] in the user's language (the English
/// texts equal [`crate::error::connection_text`]).
fn connection_localized(error: &ConnectionError) -> String {
    use ConnectionError as C;
    match error {
        C::Unreachable { url } => tr!("error-unreachable", url = url),
        C::Busy { url, reason } => tr!("error-server-busy", url = url, reason = reason),
        C::UntrustedCertificate { url, reason } => {
            tr!("error-untrusted-certificate", url = url, reason = reason)
        }
        C::Tls { url, reason } => tr!("error-tls", url = url, reason = reason),
        C::Lost { url, reason } => {
            tr!("error-connection-lost", url = url, reason = technical_reason(reason))
        }
        C::Protocol { url, reason } => {
            tr!("error-protocol", url = url, reason = technical_reason(reason))
        }
        C::Server(body) => tr!("error-server", body = server_error_text(body)),
    }
}

/// An [`anyhow::Error`]-style chain (`outer: cause: cause`, as `{:#}`
/// prints it) with every [`ClientError`] in it localized.
pub fn localized_chain<'a>(
    chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for error in chain {
        if let Some(cli_error) = error.downcast_ref::<CliError>() {
            parts.push(localized_cli(cli_error));
            if std::error::Error::source(cli_error).is_some() {
                break;
            }
        } else if let Some(client_error) = error.downcast_ref::<ClientError>() {
            parts.push(localized(client_error));
            // Its message already says what its inner error (an OS error,
            // the encryption layer's) means: the inner error's own English
            // text would only repeat it.
            if std::error::Error::source(client_error).is_some() {
                break;
            }
        } else if let Some(poster_error) = error.downcast_ref::<PosterError>() {
            parts.push(localized_poster(poster_error));
        } else {
            parts.push(error.to_string());
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use stadtbote_protocol::app::ThreadStatus;
    use stadtbote_protocol::{AccountId, ErrorBody, ErrorCode, RefusalReason};

    use crate::refusal_text::Refusal;
    use crate::threads::StatusError;

    use super::*;

    /// Every MLS error kind the client words (both tests below walk them).
    const ALL_MLS_ERRORS: [MlsError; 12] = [
        MlsError::Malformed,
        MlsError::InvalidKeyPackage,
        MlsError::InvalidCredential,
        MlsError::Rejected,
        MlsError::UnknownGroup,
        MlsError::GroupExists,
        MlsError::NotAMember,
        MlsError::PendingCommit,
        MlsError::NothingToCommit,
        MlsError::CorruptState,
        MlsError::MembershipMismatch,
        MlsError::Internal,
    ];

    /// A server refusal as the server sends it.
    fn refusal(code: ErrorCode, message: &str, reason: Option<RefusalReason>) -> Refusal {
        Refusal(ErrorBody { reason, ..ErrorBody::new(code, message) })
    }

    /// One value of every variant [`localized`] translates.
    fn samples() -> Vec<ClientError> {
        let account = AccountId::random();
        let home = PathBuf::from("/home/x/.stadtbote");
        let mut samples = vec![
            ClientError::Connection(ConnectionError::Unreachable { url: "ws://x".into() }),
            ClientError::Connection(ConnectionError::Busy {
                url: "ws://x".into(),
                reason: "HTTP 503",
            }),
            ClientError::InvalidLinkCode,
            ClientError::UnknownAccount(account),
            ClientError::InvalidAccountId { text: "a\"b".into() },
            ClientError::local(CliError::NotInitialised { home: home.clone() }),
            ClientError::local(CliError::AlreadyInitialised { home: home.clone() }),
            ClientError::local(CliError::Locked { home }),
            ClientError::PhotoTooLarge {
                path: "p.jpg".into(),
                size: 23_400_000,
                limit: 20_000_000,
            },
            ClientError::AttachmentQuotaExceeded,
            ClientError::AttachmentUnavailable,
            ClientError::Invalid {
                what: "--status",
                reason: InvalidReason::Text("unknown status".into()),
            },
            ClientError::InvalidCodeText { what: "staff invitation code" },
            ClientError::InvalidCodeText { what: "link code" },
            ClientError::InvalidCodeText { what: "org-admin code" },
            ClientError::InvalidCodeText { what: "something else" },
            ClientError::CodeRefused {
                what: "admin claim code",
                detail: refusal(ErrorCode::Forbidden, "unknown", None),
            },
            ClientError::CodeRefused {
                what: "invitation code",
                detail: refusal(ErrorCode::Forbidden, "expired", None),
            },
            ClientError::NotServerAdmin,
            ClientError::Forbidden(refusal(ErrorCode::Forbidden, "no", None)),
            ClientError::Forbidden(refusal(
                ErrorCode::Forbidden,
                "only the org's admin device may do this",
                Some(RefusalReason::OrgAdminDeviceOnly),
            )),
            ClientError::SecondFactorRequired(refusal(
                ErrorCode::SecondFactorRequired,
                "code needed",
                None,
            )),
            ClientError::SecondFactorRequired(refusal(
                ErrorCode::SecondFactorRequired,
                "second factor refused: wrong code",
                Some(RefusalReason::SecondFactorWrongCode),
            )),
            ClientError::SecondFactorRequired(refusal(
                ErrorCode::SecondFactorRequired,
                "second factor refused: this code is older than the last one used (a later code was already accepted); wait for the next code",
                Some(RefusalReason::SecondFactorSuperseded),
            )),
            ClientError::server(
                ErrorBody::new(ErrorCode::RateLimited, "too many requests")
                    .with_reason(RefusalReason::RateLimited),
            ),
            ClientError::server(ErrorBody::new(ErrorCode::InvalidRequest, "empty commit")),
            ClientError::Connection(ConnectionError::UntrustedCertificate {
                url: "wss://x".into(),
                reason: "it has expired".into(),
            }),
            ClientError::Connection(ConnectionError::Tls {
                url: "wss://x".into(),
                reason: "the server refused".into(),
            }),
            ClientError::local(CliError::CaCert {
                path: "/etc/ca.pem".into(),
                reason: "the file does not exist".into(),
            }),
            ClientError::OrgSuspended,
            ClientError::HandleTaken("h".into()),
            ClientError::NotOrgAdmin,
            ClientError::NotAdminOf("h".into()),
            ClientError::SeveralOrgs("a, b".into()),
            ClientError::UnknownOrg { handle: "h".into() },
            ClientError::OrgNotSetUp { handle: "h".into() },
            ClientError::OrgKeyChanged {
                handle: "h".into(),
                pinned: "p".into(),
                presented: "q".into(),
            },
            ClientError::FingerprintMismatch { handle: "h".into(), pinned: "p".into() },
            ClientError::UnknownCategory {
                category: "x y".into(),
                handle: "h".into(),
                valid: "a, b".into(),
            },
            ClientError::NoStaffEnrolled { department: "d".into(), handle: "h".into() },
            ClientError::StaffAwaitingApproval { department: "d".into(), handle: "h".into() },
            ClientError::NoStaffReachable { department: "d".into() },
            ClientError::UnknownThread("t".into()),
            ClientError::RemovedFromThread("t".into()),
            ClientError::NotInDepartment { thread: "t".into(), department: "d".into() },
            ClientError::NotStaff { handle: "h".into() },
            ClientError::PhotoNotSent("r".into()),
            ClientError::InvalidInviteCode,
            ClientError::local(CliError::WrongPassphrase),
            ClientError::local(CliError::EmptyPassphrase),
            ClientError::local(CliError::PassphraseMismatch),
            ClientError::UnknownChannel("c".into()),
            ClientError::OutdatedInvite,
            ClientError::NotPublisher { handle: "h".into() },
            ClientError::RepliesOff("c".into()),
            ClientError::UnknownGroup("g".into()),
            ClientError::AwaitingApproval,
            ClientError::UnknownDevice("d".into()),
            ClientError::Status(StatusError::NeedsReason(ThreadStatus::Resolved)),
            ClientError::Status(StatusError::StaffOnly),
            ClientError::local(CliError::PhotoUnreadable {
                path: "p.jpg".into(),
                reason: "there is no such file".into(),
            }),
            ClientError::local(CliError::PhotoUnreadable {
                path: "p.jpg".into(),
                reason: "permission denied".into(),
            }),
            ClientError::local(CliError::PhotoUnreadable {
                path: "p".into(),
                reason: "it is a directory or device, not a file".into(),
            }),
            ClientError::local(CliError::PhotoUnreadable {
                path: "p.jpg".into(),
                reason: "Input/output error".into(),
            }),
            ClientError::local(CliError::CorruptFile {
                file: "/h/state.cbor".into(),
                reason: "bad".into(),
            }),
            ClientError::RemovedFromConversation(AccountId::random()),
            ClientError::NotYetAdded(AccountId::random()),
            ClientError::CommitConflict { peer: AccountId::random(), attempts: 5 },
            ClientError::WaitingForEarlierMessage,
            ClientError::NotConnected,
            ClientError::AttachmentRefusedTooLarge { size: 12_300_000 },
            ClientError::AttachmentCorrupt { reason: "hash mismatch" },
            ClientError::CodeRefused {
                what: "link code",
                detail: refusal(
                    ErrorCode::InvalidCode,
                    "code expired",
                    Some(RefusalReason::CodeExpired),
                ),
            },
            ClientError::InvalidOrgData { handle: "h".into(), reason: "r".into() },
            ClientError::StaffListRolledBack {
                handle: "h".into(),
                seen: 4,
                offered: "version 3".into(),
            },
            ClientError::RefuseUncertified {
                device: "d".into(),
                thread: "t".into(),
                handle: "h".into(),
            },
            ClientError::MemberAwaitingApproval {
                device: "d".into(),
                thread: "t".into(),
                handle: "h".into(),
            },
            ClientError::KeyPackageMismatch { device: "d".into(), handle: "h".into() },
            ClientError::ThreadConflict { attempts: 3 },
            ClientError::local(CliError::NoPassphrase { env: "STADTBOTE_PASSPHRASE" }),
            ClientError::NotAnExportFile,
            ClientError::RevocationListWithheld {
                handle: "h".into(),
                pinned: 2,
                presented: "no list".into(),
            },
            ClientError::PostsWithheld { posts: "#2..#3 of Amtsblatt".into() },
            ClientError::RemovedFromGroup("g".into()),
            ClientError::NotStaffAnywhere,
            ClientError::GroupLinkRefused,
            ClientError::GroupInfoOutdated,
            ClientError::LinkCodeWithoutSecret,
            ClientError::NoDeviceList(AccountId::random()),
            ClientError::NoAccountKey,
            ClientError::InvalidServerUrl { url: "u".into(), reason: "r" },
            ClientError::Connection(ConnectionError::Lost { url: "u".into(), reason: "r".into() }),
            ClientError::Connection(ConnectionError::Protocol {
                url: "u".into(),
                reason: "r".into(),
            }),
            ClientError::local(CliError::Io {
                action: "read",
                file: "f".into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
            ClientError::ThreadIdTaken,
            ClientError::ChannelConflict { attempts: 3 },
            ClientError::GroupConflict { attempts: 3 },
            ClientError::UnknownGroupMember { member: "m".into(), ambiguous: true },
            ClientError::UnknownGroupMember { member: "m".into(), ambiguous: false },
            ClientError::DeviceList { account: AccountId::random(), reason: "r".into() },
            ClientError::PlaintextBackupRefused,
            ClientError::RemoveOwnDevice,
            ClientError::Status(StatusError::CitizenOnly),
            ClientError::Status(StatusError::NotAllowed {
                from: ThreadStatus::Resolved,
                to: ThreadStatus::InProgress,
            }),
        ];
        for reason in [
            MetadataError::UnsupportedFormat,
            MetadataError::MalformedJpeg("truncated"),
            MetadataError::UnsupportedJpegMarker(0xF7),
            MetadataError::MalformedPng("no image data"),
            MetadataError::UnsupportedPngChunk("ZZZZ".into()),
            MetadataError::MalformedHeif("truncated"),
            MetadataError::UnsupportedHeif("grid image"),
            MetadataError::MalformedWebp("truncated"),
        ] {
            samples.push(ClientError::UnsupportedPhoto { path: "p.heic".into(), reason });
        }
        for error in ALL_MLS_ERRORS {
            samples.push(ClientError::Mls(error));
        }
        for error in [
            AttachmentError::TooLarge { size: 23_400_000, limit: 20_000_000 },
            AttachmentError::InvalidKey,
            AttachmentError::DecryptionFailed,
            AttachmentError::Misuse,
        ] {
            samples.push(ClientError::Attachment(error));
        }
        let what = [
            "key",
            "invite link",
            "metadata",
            "last post",
            "post",
            "group info",
            "group link",
            "something new",
        ];
        for (i, what) in what.into_iter().enumerate() {
            let source = match i % 5 {
                0 => ChannelError::Undecryptable,
                1 => ChannelError::Forged,
                2 => ChannelError::Revoked,
                3 => ChannelError::OutOfOrder { expected: 4, found: 6 },
                _ => ChannelError::Malformed("invite link"),
            };
            samples.push(ClientError::ChannelData { what, source });
        }
        samples.push(ClientError::local(CliError::Qr("data too long".into())));
        for error in [
            AppLinkError::Length,
            AppLinkError::NotALink,
            AppLinkError::NoFragment,
            AppLinkError::UnknownVersion,
            AppLinkError::UnknownKind,
            AppLinkError::WrongKind { expected: "channel", found: "org" },
            AppLinkError::Malformed("group"),
        ] {
            samples.push(ClientError::AppLink(error));
        }
        for reason in [
            "unexpected answer Welcome",
            "no answer to Login in time",
            "sending Fetch timed out",
            "the server closed the connection",
            "too many unsolicited events",
            "proof-of-work was interrupted",
            "the server logged this device into another account",
            "the backup is longer than announced",
            "the downloaded backup does not match its size or SHA-256",
            "the server claims more chunks than the upload has",
        ] {
            samples.push(ClientError::Connection(ConnectionError::Protocol {
                url: "ws://x".into(),
                reason: reason.into(),
            }));
            samples.push(ClientError::Connection(ConnectionError::Lost {
                url: "ws://x".into(),
                reason: reason.into(),
            }));
        }
        for kind in [
            std::io::ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied,
            std::io::ErrorKind::AlreadyExists,
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::ReadOnlyFilesystem,
            std::io::ErrorKind::IsADirectory,
            std::io::ErrorKind::NotADirectory,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            samples.push(ClientError::local(CliError::Io {
                action: "write",
                file: "/h/state.cbor".into(),
                source: std::io::Error::from(kind),
            }));
        }
        samples.extend(
            invalid_samples()
                .into_iter()
                .map(|(what, reason)| ClientError::Invalid { what, reason }),
        );
        samples
    }

    /// The `what` and `reason` of every `ClientError::Invalid` the client
    /// makes (one per call site; see `grep -rn "ClientError::Invalid {"`),
    /// except the ones that carry a text worded elsewhere.
    fn invalid_samples() -> Vec<(&'static str, InvalidReason)> {
        use crate::invalid_input::LocationProblem as L;
        use InvalidReason as R;
        let department =
            || stadtbote_protocol::org::validate_department("Bürgermeister").err().map(R::Format);
        let handle = || stadtbote_protocol::org::validate_handle("A B").err().map(R::Format);
        let slot = stadtbote_protocol::org::HoursSlot::parse("Mo 25:00-26:00")
            .err()
            .map(|error| R::Slot { text: "Mo 25:00-26:00".into(), error });
        let mut samples = vec![
            ("--location", R::Location(L::MissingComma)),
            ("--location", R::Location(L::LatitudeNotANumber)),
            ("--location", R::Location(L::LongitudeNotANumber)),
            ("--location", R::Location(L::LatitudeRange)),
            ("--location", R::Location(L::LongitudeRange)),
            ("text", R::Empty),
            ("--reason", R::GoesWithStatus),
            ("--as-me", R::OnlyStaffOnBehalf),
            ("department", R::AlreadyWith { department: "bauamt".into() }),
            ("DAYS", R::AtLeastOne),
            ("office hours", R::NoSlot),
            ("--expires-hours", R::AtLeastOne),
            ("org key file", R::OtherKeyHeld { handle: "musterstadt".into() }),
            ("org key file", R::NotPinnedKey { handle: "musterstadt".into() }),
            ("category", R::CategoryFormat),
            ("channel name", R::Empty),
            ("retention", R::AtLeastOneDay),
            ("post", R::Empty),
            ("post number", R::NoSuchPost { channel: "Amtsblatt".into(), seq: 9 }),
            ("group name", R::NameLength { max: 64 }),
            ("post", R::MustNotBeEmpty),
            ("member", R::OwnAccount),
            ("--role", R::Given("buergermeister".into())),
            ("category", R::NoSuchCategory { name: "Straßen".into() }),
            ("device id", R::NotADeviceId { text: "xyz".into() }),
            ("org key", R::ServerKeyNotOurs { handle: "musterstadt".into() }),
            ("device", R::AlreadyApproved),
            ("device", R::NoPendingEnrolment),
        ];
        for (what, reason) in
            [("department", department()), ("handle", handle()), ("office hours", slot)]
        {
            let reason = reason.unwrap_or_else(|| panic!("{what} is refused"));
            samples.push((what, reason));
        }
        samples
    }

    /// In German, what was given and why it was refused carry no English
    /// fragment (options like `--location` are the same in every language).
    #[test]
    fn german_invalid_input_has_no_english_fragment() {
        const ENGLISH: &str = "invalid it is the must be at least empty expected degrees missing comma latitude \
             longitude number between and goes with only staff reply on behalf of thread \
             already day give one slot device holds another key for its not this pinned \
             server's fetch again or import current characters without control surrounding \
             spaces does exist has no post to cannot remove their own account approved \
             pending enrolment directory department handle office hours category channel name \
             retention group member file tue";
        let samples = invalid_samples();
        assert_eq!(samples.len(), 31);
        for (what, reason) in samples {
            let german = invalid_text(Lang::De, what, &reason);
            assert_ne!(german, invalid_text(Lang::En, what, &reason), "{what}: {reason}");
            assert!(german.starts_with("ungültige Angabe für "), "{german}");
            // Options (`--expires-hours`) are the same in every language.
            let words = german
                .split_whitespace()
                .filter(|token| !token.starts_with("--"))
                .flat_map(|token| token.split(|c: char| !(c.is_alphanumeric() || c == '\'')))
                .map(str::to_lowercase)
                .filter(|word| !word.is_empty());
            for word in words {
                assert!(!ENGLISH.split_whitespace().any(|e| e == word), "{word:?} in {german}");
            }
        }
    }

    /// Every inner error kind has its own German sentence (not the English
    /// one, not a catalog id), naming what to do where there is something.
    #[test]
    fn german_inner_error_texts() {
        use stadtbote_i18n::{Arg, Lang, tr_in};
        let de = |id: &str, args: &[(&str, Arg)]| tr_in(Lang::De, id, args);
        let en = |id: &str, args: &[(&str, Arg)]| tr_in(Lang::En, id, args);
        let mut ids: Vec<&str> = ALL_MLS_ERRORS.iter().filter_map(inner_error::mls_id).collect();
        assert_eq!(ids.len(), 12);
        ids.extend([
            "inner-attachment-invalid-key",
            "inner-attachment-decryption-failed",
            "inner-attachment-misuse",
            "inner-channel-undecryptable",
            "inner-channel-forged",
            "inner-channel-revoked",
        ]);
        for id in ids {
            let german = de(id, &[]);
            assert_ne!(german, en(id, &[]), "{id}");
            assert!(!german.starts_with("inner-"), "{id} missing in de");
            for english in ["ask the sender", "run the command", "tell the town", "this device"] {
                assert!(!german.contains(english), "{id}: {german}");
            }
        }
        assert_eq!(
            de("inner-mls-rejected", &[]),
            "eine verschlüsselte Nachricht hat die Prüfung nicht bestanden und wurde nicht \
             angenommen (MLS message rejected); bitten Sie den Absender, sie noch einmal zu senden"
        );
        let what = de("inner-channel-what", &[("what", Arg::Text("invite-link".into()))]);
        let reason = de("inner-channel-malformed", &[("detail", Arg::Text("invite link".into()))]);
        assert_eq!(
            de("error-channel-data", &[("what", Arg::Text(what)), ("reason", Arg::Text(reason))]),
            "der Einladungslink des Kanals lässt sich nicht prüfen: beschädigt (malformed invite \
             link); wenn Sie etwas kopiert haben, prüfen Sie, ob es vollständig ist, sonst sagen \
             Sie es der Gemeinde"
        );
        let io = |kind: &str| de("inner-io", &[("kind", Arg::Text(kind.into()))]);
        assert_eq!(
            io("storage-full"),
            "der Datenträger ist voll; schaffen Sie Platz und führen Sie den Befehl noch einmal aus"
        );
        for kind in ["not-found", "permission-denied", "already-exists", "read-only"] {
            assert_ne!(io(kind), io("not-a-directory"), "{kind} has its own text");
        }
    }

    /// A client error that wraps an OS or encryption error says what it
    /// means once: the chain does not repeat the inner error's own text.
    #[test]
    fn the_chain_does_not_repeat_a_worded_inner_error() {
        stadtbote_i18n::set_language(stadtbote_i18n::Lang::En);
        let io = ClientError::local(CliError::Io {
            action: "create",
            file: "/x/backup.partial".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        let error = anyhow::Error::new(io).context("outer");
        let text = localized_chain(error.chain());
        assert_eq!(
            text.matches("not found").count() + text.matches("os error").count(),
            0,
            "{text}"
        );
        assert!(text.starts_with("outer: "), "{text}");
        let mls = anyhow::Error::new(ClientError::Mls(MlsError::Rejected));
        assert_eq!(localized_chain(mls.chain()).matches("MLS message rejected").count(), 1);
    }

    /// The English catalog reproduces every translated variant's `Display`
    /// byte for byte (scripts and the end-to-end tests read it).
    #[test]
    fn english_catalog_equals_display() {
        stadtbote_i18n::set_language(stadtbote_i18n::Lang::En);
        for error in samples() {
            // The core's connection errors carry no CLI advice; the CLI's
            // English adds it (`connection_text`).
            let english = match &error {
                ClientError::Connection(e) => crate::error::connection_text(e),
                other => other.to_string(),
            };
            assert_eq!(localized(&error), english);
        }
        for error in [
            PosterError::UnknownFormat { file: "poster.png".into() },
            PosterError::NotInFont { character: '姉', text: "Stadt 姉妹".into() },
            PosterError::Font { font: "DejaVuSans", reason: "malformed font".into() },
            PosterError::Client(CliError::Core(ClientError::NotOrgAdmin)),
        ] {
            assert_eq!(localized_poster(&error), error.to_string());
        }
    }

    /// German file errors name what could not be done with the file in
    /// German (the catalog selects on the operation). Formats with
    /// `tr_in`, because the process-wide language is shared by parallel
    /// tests.
    #[test]
    fn german_file_errors_name_the_operation() {
        use stadtbote_i18n::{Arg, Lang, tr_in};
        let text = |action: &str| {
            tr_in(
                Lang::De,
                "error-io",
                &[
                    ("action", Arg::Text(action.into())),
                    ("file", Arg::Text("brief.txt".into())),
                    ("source", Arg::Text("x".into())),
                ],
            )
        };
        assert_eq!(text("read"), "brief.txt kann nicht gelesen werden: x");
        assert_eq!(text("write"), "brief.txt kann nicht geschrieben werden: x");
        assert_eq!(text("frobnicate"), "brief.txt kann nicht verarbeitet werden: x");
    }

    /// A server refusal is worded from its reason in German, whatever
    /// English the server wrote (`tr_in`-free: the variant's text goes
    /// through the refusal's own language lookup, checked here in German).
    #[test]
    fn server_refusals_are_german_by_their_reason() {
        use stadtbote_i18n::{Arg, Lang, tr_in};
        let wrong = refusal(
            ErrorCode::SecondFactorRequired,
            "whatever the server wrote",
            Some(RefusalReason::SecondFactorWrongCode),
        );
        let text = crate::refusal_text::refusal_text_in(Lang::De, &wrong.0);
        let line = tr_in(Lang::De, "error-second-factor-required", &[("reason", Arg::Text(text))]);
        assert!(
            line.starts_with("zweiter Faktor abgelehnt: falscher Code; geben Sie --otp CODE an"),
            "{line}"
        );
        assert!(!line.contains("whatever"), "{line}");
    }
}
