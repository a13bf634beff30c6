//! The client core's error type.
//!
//! Every failure a user can run into has its own variant with a message that
//! says what happened and, where there is one, what to do; nothing here ever
//! contains a key, message text or other secret. Front-ends word it in the
//! user's language (the CLI: client-cli/src/error_text.rs).
//!
//! Nothing here names a file: the device's storage fails as
//! [`ClientError::Storage`] / [`ClientError::StoredData`] with the place
//! the front-end gave the store (the CLI names `<home>/store` from it), and
//! a front-end's own failures (files under the home, key files) travel as
//! [`ClientError::Local`], which the front-end words itself.

use std::path::PathBuf;

use crate::connection::ConnectionError;
use crate::storage::StorageError;
use stadtbote_protocol::mls::MlsError;
use stadtbote_protocol::{AccountId, ErrorBody, ErrorCode};

pub use crate::refusal::Refusal;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The connection to the server failed, or the server refused a
    /// request or answered it in a way the protocol does not expect: the
    /// core's [`ConnectionError`], carried as it is (front-ends add their
    /// advice when they word it).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A link code was refused.
    #[error(
        "the link code is unknown, already used or expired; create a new one with `stadtbote link` on a device of the account"
    )]
    InvalidLinkCode,
    /// The account does not exist on the server.
    #[error("unknown account id {0}")]
    UnknownAccount(AccountId),
    /// Text that is not an account id.
    #[error("{text:?} is not a valid account id (expected 26 base32 characters)")]
    InvalidAccountId {
        /// What was given.
        text: String,
    },
    /// The MLS layer refused an operation.
    #[error("{}", crate::inner_error::mls_en(.0))]
    Mls(#[from] MlsError),
    /// This device was removed from the conversation by another member.
    #[error("this device is no longer a member of the conversation with {0}")]
    RemovedFromConversation(AccountId),
    /// The conversation exists on the server but this device is not in it
    /// yet; a member adds it the next time they send.
    #[error(
        "the conversation with {0} already exists and this device has not been added to it yet; it is added when a member of the conversation next sends a message"
    )]
    NotYetAdded(AccountId),
    /// Concurrent changes kept winning over ours.
    #[error("the conversation with {peer} kept changing; gave up after {attempts} attempts")]
    CommitConflict {
        /// The peer.
        peer: AccountId,
        /// How often we tried.
        attempts: usize,
    },
    /// A message waits behind an earlier one to the same account that could
    /// not be sent yet (messages to one account keep their order).
    #[error("an earlier message to the same account has not been sent yet")]
    WaitingForEarlierMessage,
    /// An operation that needs a connection was called without one.
    #[error("not connected to the server")]
    NotConnected,
    /// A photo is larger than attachments may be (checked before anything
    /// is uploaded).
    #[error(
        "photo {} is {}; the limit is {}",
        .path.display(),
        crate::attachments::format_mb(*.size),
        crate::attachments::format_mb(*.limit)
    )]
    PhotoTooLarge {
        /// The photo.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A file that cannot be sent as a photo (not JPEG, PNG, HEIC/HEIF or
    /// WebP, or damaged).
    #[error("cannot send {}: {reason}", .path.display())]
    UnsupportedPhoto {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: crate::metadata::MetadataError,
    },
    /// The server refused an attachment as too large (its limit is lower
    /// than this client's).
    #[error(
        "the server refuses attachments this large ({} encrypted); its operator has set a lower limit",
        crate::attachments::format_mb(*.size)
    )]
    AttachmentRefusedTooLarge {
        /// Encrypted size in bytes.
        size: u64,
    },
    /// The account's attachment storage on the server is full.
    #[error(
        "the server's attachment storage for this account is full; try again when earlier photos have expired"
    )]
    AttachmentQuotaExceeded,
    /// The attachment is not (or no longer) on the server.
    #[error(
        "the attachment is no longer on the server (attachments expire); ask the sender to send it again"
    )]
    AttachmentUnavailable,
    /// A downloaded attachment failed its checks; nothing was written.
    #[error("the attachment cannot be used: {reason}")]
    AttachmentCorrupt {
        /// What failed.
        reason: &'static str,
    },
    /// Encrypting an attachment failed.
    #[error("{}", crate::inner_error::attachment_en(.0))]
    Attachment(#[from] stadtbote_protocol::attachment::AttachmentError),
    // ----- organisations, staff and threads (org.rs, pinning.rs, threads …)
    /// Invalid user input.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was given (an option or argument).
        what: &'static str,
        /// What is wrong.
        reason: crate::invalid_input::InvalidReason,
    },
    /// A code as typed cannot be read.
    #[error("this is not a valid {what}; copy it exactly as it was printed")]
    InvalidCodeText {
        /// Which kind of code.
        what: &'static str,
    },
    /// The server refused a one-time code.
    #[error("the {what} was refused: {detail} (codes work once and expire)")]
    CodeRefused {
        /// Which kind of code.
        what: &'static str,
        /// The server's refusal (unknown, expired, already used).
        detail: Refusal,
    },
    /// An admin action from a device that is not a server admin.
    #[error(
        "this device is not a server admin; run `stadtbote admin claim CODE` with the code from the server's data directory"
    )]
    NotServerAdmin,
    /// The server refused an org action for lack of rights.
    #[error("not allowed: {0}")]
    Forbidden(Refusal),
    /// An admin or org-admin action needs a (valid, unused) TOTP code.
    #[error(
        "{0}; pass --otp CODE (the current code of your authenticator app) or set STADTBOTE_OTP"
    )]
    SecondFactorRequired(Refusal),
    /// The org is suspended by the server's operator.
    #[error(
        "this org is suspended by the server's operator; its services are unavailable until it is resumed"
    )]
    OrgSuspended,
    /// An org handle is taken.
    #[error("the handle {0} is already taken; choose another")]
    HandleTaken(String),
    /// An `org …` command on a device that administers no org.
    #[error("this device is not an org admin; run `stadtbote org claim CODE`")]
    NotOrgAdmin,
    /// An `org …` command for an org this device does not administer.
    #[error("this device is not the admin of {0}")]
    NotAdminOf(String),
    /// Several orgs and no `--org`.
    #[error("this device administers several orgs ({0}); choose one with --org HANDLE")]
    SeveralOrgs(String),
    /// No org with this handle on the server.
    #[error("there is no org with the handle {handle} on this server")]
    UnknownOrg {
        /// The handle.
        handle: String,
    },
    /// The org has not been claimed or has published no profile yet.
    #[error("the org {handle} is not set up yet (no org key or profile published)")]
    OrgNotSetUp {
        /// The handle.
        handle: String,
    },
    /// The server presents another key for a pinned org.
    #[error(
        "the org key of {handle} has CHANGED: pinned {pinned}, the server now presents {presented}; this may be an attack. Nothing was sent. Compare the fingerprint on the town's poster and, only if it shows the new key, run `stadtbote verify {handle} FINGERPRINT`"
    )]
    OrgKeyChanged {
        /// The handle.
        handle: String,
        /// Fingerprint of the pinned key.
        pinned: String,
        /// Fingerprint of the key the server presents.
        presented: String,
    },
    /// Org data that does not verify against the pinned key.
    #[error("the directory entry of {handle} does not verify: {reason}")]
    InvalidOrgData {
        /// The handle.
        handle: String,
        /// What failed.
        reason: String,
    },
    /// `verify` with a fingerprint that is not the pinned key's.
    #[error(
        "the fingerprint does NOT match the org key pinned for {handle} ({pinned}); do not trust messages claiming to come from {handle} until this is resolved"
    )]
    FingerprintMismatch {
        /// The handle.
        handle: String,
        /// The pinned key's fingerprint.
        pinned: String,
    },
    /// A report with a category the org does not have.
    #[error("{handle} has no category {category:?}; valid categories: {valid}")]
    UnknownCategory {
        /// What was given.
        category: String,
        /// The org.
        handle: String,
        /// The org's categories.
        valid: String,
    },
    /// No certified device can receive the thread.
    #[error(
        "no staff device of department {department} is enrolled at {handle}, so nobody there could read this; nothing was sent. {handle}'s org admin enrols one with `stadtbote org invite-staff --department {department} --role clerk` (then `stadtbote enroll CODE` on that device), or makes the org admin's own device staff there with `stadtbote org enroll-self --department {department}`"
    )]
    NoStaffEnrolled {
        /// The department.
        department: String,
        /// The org.
        handle: String,
    },
    /// Staff devices of the department enrolled, but the org key has not
    /// approved any of them yet; retried with the next command.
    #[error(
        "the staff devices of department {department} at {handle} are waiting for the org admin's approval (every staff device needs the org key's countersignature); the message stays queued and is sent once one is approved"
    )]
    StaffAwaitingApproval {
        /// The department.
        department: String,
        /// The org.
        handle: String,
    },
    /// The server offered an older staff list than this device has seen,
    /// or none after having shown one.
    #[error(
        "refusing the directory of {handle}: the server offered {offered} of its staff list, but this device has already seen version {seen}; the server may be hiding staff changes such as revocations. Nothing was sent; try again later, and tell the town if this persists"
    )]
    StaffListRolledBack {
        /// The org.
        handle: String,
        /// The newest version this device has seen.
        seen: u64,
        /// What the server offered ("version N" or "no version").
        offered: String,
    },
    /// Staff devices are enrolled but none could be added yet (no
    /// KeyPackages on the server); retried with the next command.
    #[error(
        "no staff device of department {department} can be reached right now: none has key packages on the server yet (a staff device uploads them whenever it runs a command, e.g. `stadtbote threads`)"
    )]
    NoStaffReachable {
        /// The department.
        department: String,
    },
    /// A thread member without a valid certificate.
    #[error(
        "refusing to send: device {device} in thread {thread} has no valid staff certificate from {handle}"
    )]
    RefuseUncertified {
        /// The member device.
        device: String,
        /// The thread.
        thread: String,
        /// The org.
        handle: String,
    },
    /// A thread member whose staff enrolment waits for the org key's
    /// approval (e.g. enrolled before approvals existed); retried later.
    #[error(
        "not sending yet: device {device} in thread {thread} is a staff device of {handle} whose enrolment waits for the org admin's approval (every staff device now needs the org key's countersignature); the message stays queued and is sent once the org admin's device has approved it"
    )]
    MemberAwaitingApproval {
        /// The member device.
        device: String,
        /// The thread.
        thread: String,
        /// The org.
        handle: String,
    },
    /// A claimed KeyPackage that does not match the staff certificate.
    #[error(
        "refusing to send: the server handed out a key package for device {device} that does not match its staff certificate from {handle}"
    )]
    KeyPackageMismatch {
        /// The device.
        device: String,
        /// The org.
        handle: String,
    },
    /// No such thread on this device.
    #[error("no thread {0} on this device (see `stadtbote threads`)")]
    UnknownThread(String),
    /// This device was removed from a thread.
    #[error("this device is no longer a member of thread {0}")]
    RemovedFromThread(String),
    /// This staff device is not in the thread's department.
    #[error(
        "this device is not staff of department {department}, which thread {thread} is assigned to"
    )]
    NotInDepartment {
        /// The thread.
        thread: String,
        /// Its department.
        department: String,
    },
    /// A staff action from a device that is not staff of the thread's org.
    #[error(
        "only staff of {handle} can do this; enrol this device with `stadtbote enroll CODE` (a code from `stadtbote org invite-staff` on {handle}'s org admin device)"
    )]
    NotStaff {
        /// The org.
        handle: String,
    },
    /// A status change the rules do not allow.
    #[error(transparent)]
    Status(#[from] crate::threads::StatusError),
    /// A new thread's random id exists on the server already.
    #[error("the new thread's id is taken")]
    ThreadIdTaken,
    /// Concurrent membership changes kept winning over ours.
    #[error("the thread kept changing; gave up after {attempts} attempts")]
    ThreadConflict {
        /// How often we tried.
        attempts: usize,
    },
    /// A photo of a queued message could not be uploaded.
    #[error("a photo could not be uploaded: {0}")]
    PhotoNotSent(String),
    /// The invitation code of `enroll` is malformed.
    #[error("this is not a valid invitation code")]
    InvalidInviteCode,
    /// Not an org key export file.
    #[error("this is not a Stadtbote org key file")]
    NotAnExportFile,
    /// No channel by that id (or prefix) on this device.
    #[error("no channel {0} on this device (see `stadtbote channels` or `stadtbote channel list`)")]
    UnknownChannel(String),
    /// A channel object (metadata or post) did not verify.
    #[error(
        "{} does not verify: {}",
        crate::inner_error::channel_what_en(.what),
        crate::inner_error::channel_reason_en(.source)
    )]
    ChannelData {
        /// "metadata", "post", "invite link".
        what: &'static str,
        /// Why.
        source: stadtbote_protocol::channel::ChannelError,
    },
    /// The invite link's key was rotated away.
    #[error(
        "this invite link is outdated: the channel has a new key; ask the town for the current invite link"
    )]
    OutdatedInvite,
    /// This device may not publish to channels of the org.
    #[error(
        "this device is not a certified publisher of {handle}; ask the org admin for `org invite-staff --role publisher` (on the org admin's own device, run `stadtbote org enroll-self`)"
    )]
    NotPublisher {
        /// The org's handle.
        handle: String,
    },
    /// The channel does not take replies.
    #[error("{0} does not take replies")]
    RepliesOff(String),
    /// Other posts kept arriving while posting.
    #[error("the channel kept changing; gave up after {attempts} attempts")]
    ChannelConflict {
        /// How often we tried.
        attempts: usize,
    },
    /// The server answered with no revocation list, or an older one, than
    /// the newest this home has verified for the org: it may be hiding a
    /// revoked (lost or stolen) publisher device.
    #[error(
        "the server withheld the current revocation list of {handle}: this device has verified version {pinned}, the server offered {presented}. It may be hiding a revoked (lost or stolen) publisher device, so no posts are shown. Try again later or from another network, and tell the town if this persists"
    )]
    RevocationListWithheld {
        /// The org's handle.
        handle: String,
        /// The version this home keeps.
        pinned: u64,
        /// What the server offered ("no list" or "version N").
        presented: String,
    },
    /// A channel feed found posts missing that cannot have expired yet.
    #[error(
        "the server withheld post(s) {posts} although they are younger than the channel's retention; they were not skipped and later posts wait for them: run `stadtbote feed` again later, and tell the town if this persists"
    )]
    PostsWithheld {
        /// The posts concerned, e.g. "#2..#3 of Amtsblatt".
        posts: String,
    },
    // ----- discussion groups (groups.rs)
    /// No discussion group by that id, prefix or name on this device.
    #[error("no discussion group {0} on this device (see `stadtbote groups`)")]
    UnknownGroup(String),
    /// This device was removed from the group (or never finished joining).
    #[error("this device is no longer a member of discussion group {0}")]
    RemovedFromGroup(String),
    /// `group create` on a device that is nobody's staff.
    #[error(
        "only certified staff can create discussion groups; enrol this device with `stadtbote enroll CODE` first (on an org admin's device, run `stadtbote org enroll-self`)"
    )]
    NotStaffAnywhere,
    /// The server refused the link's token, or the link does not open.
    #[error(
        "this join link is not valid (any more); the group's link is replaced when a member is removed, ask a member for the current one"
    )]
    GroupLinkRefused,
    /// The stored GroupInfo stayed older than the group's epoch.
    #[error(
        "the group's join information is out of date; ask a member to run `stadtbote group invite`"
    )]
    GroupInfoOutdated,
    /// `group remove` with a member that cannot be found, or several.
    #[error("{}", if *.ambiguous { format!("{member:?} matches several members; use the account id") } else { format!("no member {member:?} in this group (give an account id or a display name seen in the group)") })]
    UnknownGroupMember {
        /// What was given.
        member: String,
        /// Whether several members matched.
        ambiguous: bool,
    },
    /// Concurrent commits kept winning over ours.
    #[error("the group kept changing; gave up after {attempts} attempts")]
    GroupConflict {
        /// How often we tried.
        attempts: usize,
    },
    /// A link code from an older version, without the secret half.
    #[error(
        "this link code lacks the part made on your other device; run `stadtbote link` there again (with this version) and use the new code"
    )]
    LinkCodeWithoutSecret,
    /// An account's signed device list was refused (forged, rolled back,
    /// another key, or withheld after it was pinned).
    #[error(
        "refusing the device list of account {account}: {reason}. The server may be trying to add a device to that account; nothing was sent to its devices"
    )]
    DeviceList {
        /// The account.
        account: AccountId,
        /// What was wrong.
        reason: String,
    },
    /// The account has not published a signed device list.
    #[error(
        "account {0} has not published a signed device list yet, so none of its devices can be trusted; it appears once one of its devices runs a current version of stadtbote"
    )]
    NoDeviceList(AccountId),
    /// This device was linked and waits for the approval of the device
    /// that made the link code.
    #[error(
        "this device waits for approval: run `stadtbote inbox` on the device that showed the link code, then try again here"
    )]
    AwaitingApproval,
    /// Linking and removing devices needs the account key, which this
    /// device does not hold.
    #[error(
        "this device does not hold the account key; run this on the account's first device or one linked with a current version (`stadtbote device list` shows the devices)"
    )]
    NoAccountKey,
    /// `device remove` of this very device.
    #[error(
        "this is the device you are using; remove it from another device, or delete the whole account with `stadtbote account delete`"
    )]
    RemoveOwnDevice,
    /// No such device on the account's list.
    #[error("no device {0} on this account's device list (see `stadtbote device list`)")]
    UnknownDevice(String),
    // ----- online backups (backup.rs)
    /// `admin backup` without any age recipient and without
    /// `--insecure-plaintext`: the server refused to write it.
    #[error(
        "refused to write an unencrypted backup: it would hold the server's pepper, every account's shredding key and the admins' TOTP secrets, so deleted accounts would become readable again. Create an age key on a machine other than the server with `stadtbote-server backup-key generate --out KEYFILE` (keep KEYFILE offline), then either add the printed age1… recipient to `backup_recipients` in the server configuration or pass `--recipient age1…`; to write an unencrypted backup anyway, add --insecure-plaintext"
    )]
    PlaintextBackupRefused,
    // ----- app links (app_links.rs)
    /// A link in the URL form (`https://…/#v1/…`) that cannot be read.
    #[error(
        "this link cannot be used: {0}; copy the whole link (or scan the QR code) and try again"
    )]
    AppLink(stadtbote_protocol::app_link::AppLinkError),
    // ----- the device's storage and the front-end's own failures
    /// The device's storage failed (the front-end's backend: files under
    /// the CLI's home, IndexedDB in the browser).
    #[error("the device's storage at {place} failed: {error}")]
    Storage {
        /// Where the store is, as the front-end named it (the CLI: its home).
        place: String,
        /// What failed.
        error: StorageError,
    },
    /// The device's stored records cannot be decoded.
    #[error("the device's stored data at {place} is damaged: {reason}")]
    StoredData {
        /// Where the store is, as the front-end named it.
        place: String,
        /// Why it could not be read.
        reason: String,
    },
    /// A failure of the front-end's own (a file under the CLI's home, a key
    /// file), carried through the core as it is; the front-end words it.
    #[error(transparent)]
    Local(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ClientError {
    /// A front-end's own failure, carried through the core
    /// ([`ClientError::Local`]).
    pub fn local(error: impl std::error::Error + Send + Sync + 'static) -> ClientError {
        ClientError::Local(Box::new(error))
    }

    /// The server refused a request with a typed error.
    pub fn server(body: ErrorBody) -> ClientError {
        ClientError::Connection(ConnectionError::Server(body))
    }

    /// Whether the error means there is no connection to the server (a
    /// flush stops trying at the first such error).
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            ClientError::Connection(ConnectionError::Unreachable { .. })
                | ClientError::Connection(ConnectionError::Busy { .. })
                | ClientError::Connection(ConnectionError::Lost { .. })
                | ClientError::NotConnected
        )
    }

    /// Whether the error means the server could not be reached or did not
    /// answer, as opposed to a refusal or a local problem. Messages that fail
    /// this way stay in the outbox for the next attempt.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connection(ConnectionError::Unreachable { .. })
            | ClientError::Connection(ConnectionError::Busy { .. })
            | ClientError::Connection(ConnectionError::Lost { .. })
            | ClientError::NotConnected
            | ClientError::WaitingForEarlierMessage
            | ClientError::CommitConflict { .. }
            | ClientError::NotYetAdded(_)
            | ClientError::ThreadConflict { .. }
            | ClientError::NoStaffReachable { .. }
            | ClientError::StaffAwaitingApproval { .. }
            | ClientError::MemberAwaitingApproval { .. }
            | ClientError::AwaitingApproval
            | ClientError::NoDeviceList(_)
            | ClientError::DeviceList { .. } => true,
            ClientError::Connection(ConnectionError::Server(body)) => matches!(
                body.code,
                ErrorCode::RateLimited
                    | ErrorCode::StorageUnavailable
                    | ErrorCode::Unavailable
                    | ErrorCode::Internal
            ),
            _ => false,
        }
    }
}
