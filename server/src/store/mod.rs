//! Durable state behind one trait, so that the relay logic does not know
//! which database holds it.
//!
//! [`Store`] speaks in the relay's terms (accounts, devices, KeyPackages,
//! groups, mailboxes), and every method that changes several things does so
//! atomically: either all of a commit, a message and its mailbox entries are
//! stored, or none. Writes become durable only with [`Store::flush`], which
//! the relay calls through the group-commit flusher before it answers.
//! The embedded implementation is [`sled_store::SledStore`]; a PostgreSQL
//! backend would implement the same trait. Organisations ([`org`]) and
//! attachment metadata ([`blob`]) and broadcast channels ([`channel`]) are separate traits that [`Store`]
//! includes, so each concern reads on its own.

pub mod audit;
pub mod blob;
pub mod channel;
pub mod device_list;
pub mod envelope_log;
pub mod org;
pub mod push;
pub mod records;
pub mod settings;
pub mod shred;
mod sled_account;
mod sled_audit;
pub mod sled_backup;
mod sled_blob;
mod sled_channel;
mod sled_device_list;
mod sled_envelopes;
mod sled_ids;
mod sled_org;
mod sled_push;
mod sled_settings;
pub mod sled_store;

use stadtbote_protocol::account::AccountExport;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{ClaimedKeyPackage, DeviceInfo, Envelope, ServerStats};
use stadtbote_protocol::{AccountId, BlobId, DeviceId, GroupId, OrgId};

pub use audit::{AuditDraft, AuditPage, AuditStore};
pub use blob::{BlobRecord, BlobStore};
pub use channel::{ChannelCounts, ChannelPage, ChannelRecord, ChannelStore, NewPost, PageLimits};
pub use device_list::DeviceListStore;
pub use org::{
    CodeState, DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
pub use push::{PushStore, PushSubscription};
pub use settings::{FactorOwner, FactorRecord, SettingsStore};
pub use sled_backup::{BackupStore, SledImporter, TreeVisitor};
pub use sled_store::SledStore;

/// Why a store operation failed. The domain variants are refusals that leave
/// the store unchanged; [`StoreError::Unavailable`] means storage itself failed
/// and nothing is assumed stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not read or write (I/O error, disk full, …).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be decoded.
    #[error("corrupt record in {0}")]
    Corrupt(&'static str),
    /// The data directory was written by an older release whose schema
    /// this one does not read. There is no migration: no production data
    /// of an older schema exists.
    #[error(
        "the data directory uses storage schema {found}, this release needs {current}; \
         older schemas are not migrated (they predate any production use): \
         move the directory away and start with an empty one"
    )]
    OutdatedSchema {
        /// The schema found on disk.
        found: u8,
        /// The schema this release writes.
        current: u8,
    },
    /// The database was written by a newer, unknown schema.
    #[error("unsupported storage schema version {0}")]
    UnsupportedSchema(u8),
    /// The database (schema 2) was written before device and group ids
    /// were keyed with the pepper ([`sled_ids`]): its records name devices
    /// and conversations by their ids. Not migrated in place.
    #[error(
        "the data directory was written by an earlier release that stored device and \
         conversation ids unkeyed (no meta/ids marker); this release does not read it. \
         Keep running the earlier release on it, or move it away and start with an empty one"
    )]
    UnkeyedIds,
    /// The database's id keying (`meta/ids`) is of a newer, unknown version.
    #[error("unsupported id keying version {0}")]
    UnsupportedIdKeying(u8),
    /// A request kept colliding with concurrent changes; retrying later helps.
    #[error("too much concurrent contention")]
    Contention,
    /// No such account.
    #[error("unknown account")]
    UnknownAccount,
    /// A referenced device does not exist.
    #[error("unknown device")]
    UnknownDevice,
    /// No such group.
    #[error("unknown group")]
    UnknownGroup,
    /// The device is not a member of the group.
    #[error("not a member of the group")]
    NotAMember,
    /// A commit was already accepted for the given epoch.
    #[error("stale epoch; current epoch is {current}")]
    StaleEpoch {
        /// The group's current epoch.
        current: u64,
    },
    /// The commit would make the group larger than allowed.
    #[error("group would have more than {max} devices")]
    TooManyMembers {
        /// The configured maximum.
        max: usize,
    },
    /// The upload would exceed the per-device KeyPackage limit.
    #[error("more than {max} one-time KeyPackages")]
    TooManyKeyPackages {
        /// The configured maximum.
        max: u32,
    },
    /// A join token does not match the group's current link (wrong, or the
    /// link was replaced).
    #[error("invalid or replaced join token")]
    InvalidToken,
    /// A commit's add/remove lists are contradictory.
    #[error("invalid commit: {0}")]
    InvalidCommit(&'static str),
    /// A link code is unknown, already used or expired.
    #[error("invalid link code")]
    InvalidCode,
    /// An admin, org-admin or invitation code cannot be redeemed.
    #[error("code cannot be redeemed: {0:?}")]
    Code(CodeState),
    /// The org handle is already in use.
    #[error("handle taken")]
    HandleTaken,
    /// No such org.
    #[error("unknown org")]
    UnknownOrg,
    /// The org already has a key and admin device.
    #[error("org already claimed")]
    AlreadyClaimed,
    /// A profile or revocation list is not newer than the stored one.
    #[error("version not increasing")]
    VersionNotIncreasing,
    /// A staff invitation with this id is already stored.
    #[error("invitation id taken")]
    InviteIdTaken,
    /// The change would make the org directory larger than one message.
    #[error("org directory too large")]
    DirectoryTooLarge,
    /// The device is on the org's revocation list.
    #[error("device revoked")]
    DeviceRevoked,
    /// A staff approval does not state the binding of the enrolment stored
    /// for its device (or no enrolment is stored for it).
    #[error("approval does not match the enrolment")]
    ApprovalMismatch,
    /// Only a discussion group's moderators may do this.
    #[error("moderators only")]
    ModeratorsOnly,
    /// No such blob.
    #[error("unknown blob")]
    UnknownBlob,
    /// The account's attachment quota would be exceeded.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// A channel with this id already exists.
    #[error("channel id taken")]
    ChannelIdTaken,
    /// No such channel.
    #[error("unknown channel")]
    UnknownChannel,
    /// A channel's key epoch would decrease.
    #[error("key epoch decreasing")]
    EpochDecreasing,
    /// A post's `prev_seq` is not the channel's newest sequence number.
    #[error("stale post; the newest post is {last_seq}")]
    StaleSeq {
        /// The channel's newest sequence number.
        last_seq: u64,
    },
    /// The account holds a server-admin or org-admin role, which must be
    /// handed over before the account can be deleted.
    #[error("the account holds an admin role")]
    AdminRoleHeld,
    /// A chunk was recorded out of order.
    #[error("expected chunk {expected}")]
    ChunkOutOfOrder {
        /// The chunk the upload needs next.
        expected: u32,
    },
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The account it belongs to.
    pub account: AccountId,
    /// Its public identity key.
    pub identity_key: IdentityKey,
    /// When it was registered (Unix milliseconds).
    pub created_at: u64,
    /// Whether an operator blocked it; blocked devices cannot log in and are
    /// not offered to others as group members.
    pub blocked: bool,
}

/// What the server holds of a device's KeyPackages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPackageStatus {
    /// One-time packages left.
    pub one_time: u32,
    /// Whether a last-resort package is stored.
    pub last_resort: bool,
}

/// Outcome of redeeming a link code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// A new device was added to the code's account.
    Linked {
        /// The account.
        account: AccountId,
        /// The new device.
        device: DeviceId,
    },
    /// The code was consumed without adding a device (the caller's
    /// signature did not verify).
    Consumed,
}

/// An MLS commit to order and fan out.
#[derive(Debug, Clone, Copy)]
pub struct CommitInput<'a> {
    /// The group.
    pub group: &'a GroupId,
    /// The committing device.
    pub caller: &'a DeviceId,
    /// The epoch the commit was made in.
    pub epoch: u64,
    /// The commit message, queued for the previous members except the caller.
    pub commit: &'a [u8],
    /// Devices added; each receives `welcome`.
    pub add: &'a [DeviceId],
    /// Devices removed; they still receive the commit.
    pub remove: &'a [DeviceId],
    /// The Welcome message, present exactly when `add` is not empty.
    pub welcome: Option<&'a [u8]>,
    /// Now (Unix milliseconds).
    pub now_ms: u64,
    /// When the queued envelopes expire (Unix milliseconds).
    pub expires_at_ms: u64,
    /// The most member devices a group may have.
    pub max_members: usize,
    /// Whether the caller proved it may create the group (see
    /// `stadtbote_protocol::membership::GroupCreation`): an epoch-0 commit
    /// for a group that does not exist creates it only then, and is
    /// otherwise answered like a commit of a non-member.
    pub may_create: bool,
}

/// An MLS external commit by which a device joins a group with its link.
#[derive(Clone, Copy)]
pub struct ExternalJoinInput<'a> {
    /// The group.
    pub group: &'a GroupId,
    /// The joining device; it must not be a member yet.
    pub caller: &'a DeviceId,
    /// The epoch the external commit was made in.
    pub epoch: u64,
    /// The external commit, queued for every previous member.
    pub commit: &'a [u8],
    /// SHA-256 of the join token the caller presented.
    pub token_hash: &'a [u8; 32],
    /// Now (Unix milliseconds).
    pub now_ms: u64,
    /// When the queued envelopes expire (Unix milliseconds).
    pub expires_at_ms: u64,
    /// The most member devices a group may have.
    pub max_members: usize,
}

impl std::fmt::Debug for ExternalJoinInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalJoinInput").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// The result of an accepted commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The group's epoch after the commit.
    pub epoch: u64,
    /// Devices that received an envelope (commit or welcome) and should be woken.
    pub recipients: Vec<DeviceId>,
}

/// One page of a device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxPage {
    /// Envelopes in id order.
    pub envelopes: Vec<Envelope>,
    /// Whether more envelopes follow the last one returned.
    pub more: bool,
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired stored messages deleted.
    pub messages: u64,
    /// Mailbox entries deleted with them.
    pub envelopes: u64,
    /// Expired link codes deleted.
    pub link_codes: u64,
    /// Expired groups deleted (with everything queued for them).
    pub groups: u64,
    /// Expired (or used and expired) org-admin codes deleted.
    pub org_codes: u64,
    /// Expired (or used and expired) staff invitations deleted.
    pub invites: u64,
    /// Channel posts past their channel's retention deleted.
    pub channel_posts: u64,
}

/// What [`Store::delete_account`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDeletion {
    /// The account's devices (their connections are to be closed).
    pub devices: Vec<DeviceId>,
    /// Envelopes deleted from their mailboxes.
    pub envelopes: u64,
    /// Uploads whose metadata was deleted (their files are the caller's).
    pub blobs: Vec<BlobId>,
    /// Stored KeyPackages deleted (one-time and last-resort).
    pub key_packages: u32,
}

/// The relay's durable state. All methods are synchronous and short (they
/// touch memory and the database's write-ahead log, never wait for the disk),
/// so async callers may call them directly; durability comes from
/// [`Store::flush`], which may block and is run off the async threads.
pub trait Store:
    OrgStore
    + BlobStore
    + ChannelStore
    + BackupStore
    + AuditStore
    + SettingsStore
    + DeviceListStore
    + PushStore
    + Send
    + Sync
    + 'static
{
    /// Creates an account with a first device holding `identity_key`.
    fn create_account(
        &self,
        identity_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<(AccountId, DeviceId), StoreError>;

    /// The device, if it exists.
    fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError>;

    /// The account's devices that are not blocked, or
    /// [`StoreError::UnknownAccount`].
    fn list_devices(&self, account: &AccountId) -> Result<Vec<DeviceInfo>, StoreError>;

    /// Stores a link code (by its hash) for `account` until `expires_at_ms`.
    fn create_link_code(
        &self,
        code_hash: &[u8; 32],
        account: &AccountId,
        expires_at_ms: u64,
    ) -> Result<(), StoreError>;

    /// Consumes the link code with this hash ([`StoreError::InvalidCode`] if
    /// it is unknown or expired) and, when `identity_key` is given, adds a new
    /// device with it to the code's account in the same atomic step.
    fn redeem_link_code(
        &self,
        code_hash: &[u8; 32],
        identity_key: Option<&IdentityKey>,
        now_ms: u64,
    ) -> Result<LinkOutcome, StoreError>;

    /// How many KeyPackages the device has stored.
    fn key_package_status(&self, device: &DeviceId) -> Result<KeyPackageStatus, StoreError>;

    /// Adds one-time KeyPackages and optionally replaces the last-resort
    /// package; refuses with [`StoreError::TooManyKeyPackages`] if the device
    /// would hold more than `max_one_time`. Returns the one-time count now held.
    fn upload_key_packages(
        &self,
        device: &DeviceId,
        one_time: &[&[u8]],
        last_resort: Option<&[u8]>,
        max_one_time: u32,
    ) -> Result<u32, StoreError>;

    /// Hands out one KeyPackage per device of `account` except `claimer`:
    /// the oldest one-time package (deleted, so never handed out twice) or
    /// else the last-resort one. Devices with neither are omitted.
    fn claim_key_packages(
        &self,
        account: &AccountId,
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError>;

    /// Hands out one KeyPackage for each listed device (as
    /// [`Store::claim_key_packages`] does per account). Unknown, blocked and
    /// revoked devices, duplicates and `claimer` itself are omitted.
    fn claim_device_key_packages(
        &self,
        devices: &[DeviceId],
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError>;

    /// Orders a commit: accepts it only at the group's current epoch and
    /// updates membership and epoch together with queueing the commit and
    /// welcome envelopes, atomically. Devices revoked by an org are members
    /// like any other but are not queued anything.
    fn commit(&self, input: CommitInput<'_>) -> Result<CommitOutcome, StoreError>;

    /// Stores a discussion group's sealed GroupInfo with the hash of its
    /// current join token, replacing any previous one (so an old link stops
    /// working at once). `caller` must be a member. Returns the group's
    /// epoch, which is stored with the info. `org` (the relay checked that
    /// the caller is its staff) is recorded with the group's first info
    /// only, and kept by every later put: the group's moderating org.
    fn put_group_info(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        token_hash: &[u8; 32],
        info: &[u8],
        org: Option<&OrgId>,
    ) -> Result<u64, StoreError>;

    /// The group's current epoch and its sealed GroupInfo, if `token_hash`
    /// (SHA-256 of the presented token) equals the stored one, compared in
    /// constant time; else [`StoreError::InvalidToken`].
    /// [`StoreError::UnknownGroup`] when the group or its info is missing.
    fn group_info(
        &self,
        group: &GroupId,
        token_hash: &[u8; 32],
    ) -> Result<(u64, Vec<u8>), StoreError>;

    /// Orders an external commit: with a valid token (as for
    /// [`Store::group_info`]), at the group's current epoch, for a caller
    /// that is not yet a member, atomically adds the caller, advances the
    /// epoch and queues the commit once for every previous member (revoked
    /// devices excepted; the caller gets nothing).
    fn external_join(&self, input: ExternalJoinInput<'_>) -> Result<CommitOutcome, StoreError>;

    /// Stores `payload` once and queues it for every member of `group` except
    /// `sender` and revoked devices. Returns the recipients.
    fn send(
        &self,
        group: &GroupId,
        sender: &DeviceId,
        payload: &[u8],
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError>;

    /// Up to `limit` envelopes of `device`'s mailbox with ids above `after`,
    /// stopping early once they add up to more than `max_bytes` of payload
    /// (but always returning at least one when any is waiting).
    fn mailbox(
        &self,
        device: &DeviceId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<MailboxPage, StoreError>;

    /// Removes the given envelope ids from `device`'s own mailbox; ids that
    /// are not there (including other devices' ids) are ignored. A stored
    /// message is deleted when its last mailbox entry is gone. Returns how
    /// many entries were removed.
    fn ack(&self, device: &DeviceId, ids: &[u64]) -> Result<u32, StoreError>;

    /// Removes every envelope queued for `device` (used when an org revokes
    /// it). Returns how many were removed.
    fn purge_mailbox(&self, device: &DeviceId) -> Result<u32, StoreError>;

    /// Sets when `group` is deleted with everything queued for it. `caller`
    /// must be a member. An expiry can only be brought forward: a later time
    /// than the one in force leaves it unchanged. Returns the expiry in force.
    /// A group with a join link (a discussion group) is refused with
    /// [`StoreError::ModeratorsOnly`] unless `moderator_of` names the org
    /// the group was recorded with (the relay checked the caller's staff
    /// certificate of that org); a discussion group recorded without an org
    /// (before orgs were recorded) accepts staff of any org.
    fn set_group_expiry(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        expires_at_ms: u64,
        moderator_of: Option<&OrgId>,
    ) -> Result<u64, StoreError>;

    /// Deletes messages that expired before `now_ms` with all their mailbox
    /// entries; expired groups with every envelope still queued for them;
    /// expired link codes, org-admin codes and staff invitations; channel
    /// posts past their retention.
    fn sweep(&self, now_ms: u64) -> Result<SweepReport, StoreError>;

    /// Makes every write so far durable. May block on the disk.
    fn flush(&self) -> Result<(), StoreError>;

    /// Server-wide aggregate counts for server admins (no ids; orgs by
    /// handle). Counts by scanning trees: for occasional admin requests,
    /// not for request paths. `connected` is left 0: the store does not
    /// know connections.
    fn admin_stats(&self) -> Result<ServerStats, StoreError>;

    /// Sets or clears the `blocked` flag on every device of `account`, in
    /// one transaction. Returns the number of devices, or `None` if the
    /// account has none (unknown account).
    fn set_account_blocked(
        &self,
        account: &AccountId,
        blocked: bool,
    ) -> Result<Option<u32>, StoreError>;

    /// Everything stored about `account` (GDPR Art. 15), or
    /// [`StoreError::UnknownAccount`]. Scans several trees: for occasional
    /// requests by the account itself, not for request paths.
    fn account_export(&self, account: &AccountId, now_ms: u64)
    -> Result<AccountExport, StoreError>;

    /// Deletes `account` with its devices, mailboxes (and messages only
    /// they still had to receive), group memberships, KeyPackages, link
    /// codes, staff enrolments, upload metadata and quota record, makes
    /// that durable and then destroys the account's shredding key, so that
    /// what lingers of it in the database files cannot be read. Refuses
    /// with [`StoreError::AdminRoleHeld`] while a device of the account is
    /// a server admin or an org's admin. May block on the disk.
    fn delete_account(&self, account: &AccountId) -> Result<AccountDeletion, StoreError>;
}
