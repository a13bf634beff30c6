//! Durable state behind one trait, so that the relay logic does not know
//! which database holds it.
//!
//! # Layers
//!
//! * [`Store`] (with [`OrgStore`], [`BlobStore`], [`ChannelStore`],
//!   [`AuditStore`], [`SettingsStore`], [`DeviceListStore`] and
//!   [`BackupStore`], so each concern reads on its own) speaks in the
//!   relay's terms: accounts, devices, KeyPackages, groups, mailboxes. Every
//!   method that changes several things does so atomically: either all of a
//!   commit, a message and its mailbox entries are stored, or none.
//! * [`rules`] decides, above every backend, what a commit may do, who is
//!   queued nothing (revoked devices) and what an account deletion removes
//!   in which order. A backend loads what a rule needs inside its
//!   transaction, asks the rule, and stores exactly the plan it returns.
//! * A backend stores, loads and transacts: [`sled_store::SledStore`] (the
//!   embedded default; envelopes in [`envelope_log`]) and
//!   [`pg_store::PgStore`] (`store = "postgres"`), which implements the same
//!   traits with one database transaction per method (several reads and
//!   writes; `SELECT … FOR UPDATE` of the group row where sled holds its
//!   envelope-ordering lock). Its bridge from these synchronous methods to
//!   the database is [`pg_pool`]: a bounded pool of dedicated connection
//!   threads (the synchronous `postgres` client cannot block inside the
//!   tokio runtime the relay calls from), with connect and statement
//!   timeouts.
//! * [`conformance`] is the behaviour every backend must show; each backend
//!   instantiates it in its tests.
//!
//! # Errors
//!
//! [`StoreError::Storage`] ([`StorageError`]: unavailable, full, corrupt,
//! contention, schema) means the storage failed and nothing is assumed
//! stored; every other variant is a domain refusal that left the store
//! unchanged. The relay answers the first with "try again later, nothing
//! acknowledged" and the second with the refusal's own code.
//!
//! # Durability contract: when the relay may acknowledge
//!
//! 1. A write method returning `Ok` means the change is atomic and visible
//!    to every later call, but not necessarily durable.
//! 2. It becomes durable with the next [`Store::flush`] that *starts after*
//!    the write returned. The relay sends no success answer for a write
//!    (an ack to a sender, `stored`, a commit's new epoch, a redeemed code)
//!    before such a flush returned `Ok`: writers register with
//!    [`crate::flush::Flusher`] only after their write returned, and the
//!    flusher releases many writers with one flush (group commit).
//! 3. A refusal stored nothing. A storage failure stored nothing of an
//!    atomic method; of a method made of several steps
//!    ([`Store::delete_account`], [`Store::sweep`]) it may leave the steps
//!    before it done, and repeating the call finishes the work. Either way
//!    it is never answered with success. A flush returning `Err` confirms
//!    nothing since the last successful flush; everybody waiting on it is
//!    answered `storage_unavailable`.
//! 4. Methods documented as "makes that durable" ([`Store::delete_account`])
//!    are durable when they return.
//! 5. Reads see every write that returned `Ok` before them, flushed or
//!    not. The relay wakes recipients only after the flush, but a device
//!    that is fetching anyway may get an envelope a moment before it is
//!    durable; if that flush then fails, its sender was not acknowledged
//!    and resends, and clients de-duplicate. What was acknowledged is never
//!    lost.
//!
//! How each backend holds it:
//!
//! * sled: writes go to memory and sled's log, and the envelope log's
//!   buffers; `flush` is sled's `flush` plus the envelope log's `fdatasync`.
//!   A commit additionally syncs its envelope-log frame inside
//!   [`Store::commit`] (the group's state must be in the log before sled).
//! * PostgreSQL ([`pg_store`]): each method commits its transaction with
//!   `synchronous_commit = off` (visible at once, WAL not yet flushed);
//!   `flush` commits one small writing transaction with `synchronous_commit
//!   = on`. PostgreSQL flushes its WAL in order, so that flush covers every
//!   earlier commit: many senders share one WAL fsync, the same group
//!   commit. (Committing every transaction synchronously, with a no-op
//!   `flush`, also holds the contract, at a lower rate.)
//!   Sends are additionally batched: many senders' messages share one
//!   transaction ([`pg_send_batch`]), and a send returns only after its
//!   batch committed; a batch that fails returns a storage error to every
//!   sender in it, so none of them is acknowledged.
//!
//! # Blocking
//!
//! Methods are synchronous and may block for one transaction's length:
//! sled touches memory and its log (a commit waits for one `fdatasync`); a
//! database server adds network round trips. No method may wait without
//! bound: a backend on the network sets statement and connection timeouts
//! and answers [`StorageError::Unavailable`] when they expire or the
//! connection is lost. The relay runs `flush`, `delete_account`, `sweep`
//! and backup exports on the blocking pool; the short request methods are
//! called from the connection tasks (on the multi-threaded runtime).

pub mod audit;
pub mod blob;
pub mod channel;
#[cfg(test)]
pub mod conformance;
pub mod device_list;
pub mod envelope_log;
mod error;
pub mod logical;
pub mod org;
mod pg_account;
mod pg_aux;
pub mod pg_backup;
mod pg_channel;
pub mod pg_cluster;
#[cfg(test)]
pub(crate) mod pg_conformance;
mod pg_kv;
pub mod pg_offline;
mod pg_org;
pub mod pg_pool;
pub mod pg_remove;
mod pg_schema;
pub mod pg_send_batch;
pub mod pg_store;
#[cfg(test)]
pub mod pg_test;
pub mod push;
pub mod records;
pub mod rules;
pub mod settings;
pub mod shred;
mod sled_account;
mod sled_audit;
pub mod sled_backup;
mod sled_blob;
mod sled_channel;
#[cfg(test)]
mod sled_conformance;
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
pub use error::{StorageError, StoreError};
pub use org::{
    CodeState, DirectoryLimits, InviteRecord, KeyRotationUpdate, OrgCodeRecord, OrgRecord, OrgStore,
};
pub use pg_backup::PgImporter;
pub use pg_pool::PgOptions;
pub use pg_store::PgStore;
pub use push::{PushStore, PushSubscription};
pub use settings::{FactorOwner, FactorRecord, SettingsStore};
pub use sled_backup::{BackupStore, SledImporter, TreeVisitor};
pub use sled_store::SledStore;

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

/// The relay's durable state. The durability contract, the error kinds and
/// how long a method may block are in the [module docs](self): in short, a
/// write is acknowledged to a client only after a [`Store::flush`] that
/// started after the write returned has succeeded.
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

    /// Makes every write that returned before this call durable (see the
    /// durability contract in the module docs). May block on the disk or
    /// the database; the relay calls it from the group-commit flusher on the
    /// blocking pool. An `Err` confirms nothing written since the last
    /// successful flush.
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

    /// Whether the store can serve requests now (`/healthz` readiness). An
    /// embedded store always can; a database backend checks its connection.
    fn readiness(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Deletes `account` with its devices, mailboxes (and messages only
    /// they still had to receive), group memberships, KeyPackages, link
    /// codes, staff enrolments, upload metadata and quota record, makes
    /// that durable and then destroys the account's shredding key, so that
    /// what lingers of it in the database files cannot be read. Refuses
    /// with [`StoreError::AdminRoleHeld`] while a device of the account is
    /// a server admin or an org's admin. May block on the disk.
    fn delete_account(&self, account: &AccountId) -> Result<AccountDeletion, StoreError>;
}
