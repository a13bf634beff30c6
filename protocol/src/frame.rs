//! The frames of the WebSocket protocol (`/v1/ws`), and their CBOR encoding.
//!
//! Every WebSocket binary message carries exactly one frame. A client sends
//! [`ClientFrame`]s, each with a request id; the server answers every request
//! with a [`ServerBody::Response`] or a [`ServerBody::Error`] carrying the same
//! id, and pushes [`Event`]s (login challenge, mailbox deliveries) on its own.
//! The encoding is CBOR (RFC 8949) via serde: structs are maps with text keys,
//! enums are externally tagged (`{"send": {...}}`), byte fields are CBOR byte
//! strings. docs/PROTOCOL.md is the normative description for other languages.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::PROTOCOL_VERSION;
use crate::auth::{IdentityKey, Signature};
use crate::device_list::SignedDeviceList;
use crate::ids::{AccountId, BackupId, BlobId, ChannelId, DeviceId, GroupId, OrgId};
use crate::membership::{GroupCreation, MembershipProof};
use crate::org::{Signed, StaffCertificate};
use crate::refusal::RefusalReason;

/// A request from a client, with the id its answer will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Protocol version; must be [`PROTOCOL_VERSION`].
    pub v: u16,
    /// Chosen by the client; echoed in the answer. Clients count up from 1.
    pub id: u64,
    /// What the client asks for.
    pub request: Request,
}

impl ClientFrame {
    /// A frame of the current protocol version.
    pub fn new(id: u64, request: Request) -> Self {
        Self { v: PROTOCOL_VERSION, id, request }
    }
}

/// Everything a client can ask the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Creates a new account with this device as its first device. The
    /// signature covers the connection's challenge (see [`crate::auth`]); the
    /// proof-of-work nonce must meet the difficulty announced in the challenge.
    Register {
        /// The new device's Ed25519 public key.
        identity_key: IdentityKey,
        /// Signature over [`crate::auth::register_message`].
        signature: Signature,
        /// Solution of the registration proof-of-work.
        pow_nonce: u64,
    },
    /// Authenticates this connection as an existing device.
    Login {
        /// The device logging in.
        device: DeviceId,
        /// Signature over [`crate::auth::login_message`].
        signature: Signature,
    },
    /// Adds a new device to an existing account using a one-time link code
    /// issued by [`Request::CreateLinkCode`] on one of the account's devices.
    Link {
        /// The link code as printed by `stadtbote link`.
        code: String,
        /// The new device's Ed25519 public key.
        identity_key: IdentityKey,
        /// Signature over [`crate::auth::link_message`].
        signature: Signature,
    },
    /// Issues a one-time code that lets a new device join this account.
    CreateLinkCode,
    /// Lists an account's devices and their identity keys.
    ListDevices {
        /// Whose devices.
        account: AccountId,
    },
    /// Stores this device's MLS KeyPackages (TLS-encoded `KeyPackage`s).
    UploadKeyPackages {
        /// One-time packages; each is handed out at most once.
        one_time: Vec<ByteBuf>,
        /// The last-resort package, handed out when no one-time package is
        /// left; replaces the previous one.
        last_resort: Option<ByteBuf>,
    },
    /// Claims one KeyPackage for every device of an account (except the
    /// caller's own device). Rate-limited per caller.
    ClaimKeyPackages {
        /// Whose devices.
        account: AccountId,
    },
    /// Submits an MLS commit for `group` at `epoch`. Exactly one commit per
    /// epoch is accepted; others get [`ErrorCode::StaleEpoch`]. A commit at
    /// epoch 0 for an unknown group creates it with the caller as member.
    Commit {
        /// The group (MLS group id).
        group: GroupId,
        /// The epoch the commit was created in.
        epoch: u64,
        /// The TLS-encoded `MlsMessage` holding the commit.
        commit: ByteBuf,
        /// Devices the commit adds; they receive `welcome`.
        add: Vec<DeviceId>,
        /// Devices the commit removes.
        remove: Vec<DeviceId>,
        /// The TLS-encoded `MlsMessage` holding the Welcome, if devices are added.
        welcome: Option<ByteBuf>,
        /// The committing device's signed membership statement: `add` and
        /// `remove` are exactly what the commit does (see
        /// [`crate::membership`]). Required; a commit without it is refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statement: Option<MembershipProof>,
        /// Why the caller may create the group: required for the epoch-0
        /// commit of a group the server does not have yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        create: Option<GroupCreation>,
    },
    /// Stores one MLS application message for every other member device of `group`.
    Send {
        /// The group (MLS group id).
        group: GroupId,
        /// The TLS-encoded `MlsMessage` (a `PrivateMessage`).
        message: ByteBuf,
    },
    /// Deletes delivered envelopes from this device's mailbox.
    Ack {
        /// Envelope ids as delivered in [`Event::Deliver`].
        ids: Vec<u64>,
    },
    /// Keeps the connection alive; answered by [`Response::Pong`].
    Ping,
    /// Makes the calling device a server admin, using the one-time code the
    /// server wrote to `<data-dir>/admin-claim.code` on its first start.
    AdminClaim {
        /// The claim code.
        code: String,
        /// The admin's new TOTP secret (RFC 6238, 20 random bytes chosen by
        /// the client, which shows it to the admin as an `otpauth://` URI).
        /// From the claim on, admin actions need a code derived from it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp_secret: Option<ByteBuf>,
    },
    /// Presents a TOTP code. On success the connection counts as having
    /// passed the second factor for every role of this device (server admin,
    /// org admin) until it closes. Each code (time step) is accepted once.
    SecondFactor {
        /// The six-digit code.
        otp: String,
    },
    /// Turns on the second factor for an org's admin actions (org admin
    /// only). Once on, replacing the secret needs a valid code first.
    OrgSecondFactorEnable {
        /// The org.
        org: OrgId,
        /// The new TOTP secret (20 random bytes chosen by the client).
        secret: ByteBuf,
    },
    /// Everything the server holds about the caller's account (GDPR Art. 15).
    AccountExport,
    /// Deletes the caller's account, its devices, mailboxes, uploads and
    /// KeyPackages at once (GDPR Art. 17).
    AccountDelete,
    /// A server-admin action. Only admin devices may send it.
    Admin {
        /// Second factor (TOTP code), once the admin has set one up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otp: Option<String>,
        /// What to do.
        action: AdminAction,
    },
    /// Makes the calling device the admin of an org, using the one-time
    /// org-admin code, and registers the org's public signing key.
    OrgClaim {
        /// The org-admin code from `admin org create`.
        code: String,
        /// The org's new Ed25519 public key (created on this device).
        org_key: crate::auth::IdentityKey,
        /// Signature by the org key over [`crate::org::org_claim_message`].
        proof: crate::auth::Signature,
    },
    /// Publishes a new version of the org's signed profile (org admin only).
    OrgPublish {
        /// The org.
        org: OrgId,
        /// [`crate::org::OrgProfile`] signed by the org key.
        profile: Signed,
    },
    /// Stores a staff invitation (org admin only); the server keeps it until
    /// it is redeemed or expires.
    OrgCreateInvite {
        /// The org.
        org: OrgId,
        /// [`crate::org::InviteCert`] signed by the org key.
        invite: Signed,
    },
    /// Redeems a staff invitation for the calling device.
    Enroll {
        /// The invitation's public id (first part of the code).
        invite_id: ByteBuf,
        /// [`crate::org::DeviceBinding`] for the calling device, signed by the invite key.
        binding: Signed,
    },
    /// Publishes the org's revocation list (org admin only). The server stops
    /// delivering to revoked devices at once.
    OrgRevoke {
        /// The org.
        org: OrgId,
        /// [`crate::org::RevocationList`] signed by the org key.
        revocations: Signed,
    },
    /// Everything public about an org: key, signed profile, staff
    /// certificates and revocations. Clients verify it all themselves.
    OrgDirectory {
        /// The org's handle.
        handle: String,
    },
    /// Claims one KeyPackage for each of the given devices (used for staff
    /// devices, which are addressed by device rather than by account).
    ClaimDeviceKeyPackages {
        /// The devices.
        devices: Vec<DeviceId>,
    },
    /// Sets when the server deletes a group and everything queued for it
    /// (disappearing consultation threads). Members only; may only shorten.
    /// A discussion group (one with a join link) only by a member holding a
    /// current staff certificate of `org` (its moderators).
    SetGroupExpiry {
        /// The group.
        group: GroupId,
        /// Unix ms.
        expires_at: u64,
        /// The org whose staff certificate the caller presents (discussion
        /// groups only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        org: Option<OrgId>,
    },
    /// Starts uploading an encrypted attachment of `size` bytes.
    UploadStart {
        /// Total ciphertext size in bytes.
        size: u64,
    },
    /// Stores chunk `index` of an upload. Chunks are sent in order; a chunk
    /// that is already stored is acknowledged again without change.
    UploadChunk {
        /// The upload.
        blob: BlobId,
        /// Chunk number, from 0.
        index: u32,
        /// Exactly `chunk_size` bytes, except for the last chunk.
        data: ByteBuf,
    },
    /// How much of an upload the server holds (to resume after an interruption).
    UploadStatus {
        /// The upload.
        blob: BlobId,
    },
    /// Completes an upload; the blob becomes downloadable.
    UploadFinish {
        /// The upload.
        blob: BlobId,
    },
    /// Downloads one chunk of a completed blob.
    DownloadChunk {
        /// The blob.
        blob: BlobId,
        /// Chunk number, from 0.
        index: u32,
    },
    /// Creates a broadcast channel of `org` (certified publisher or admin
    /// staff devices only).
    ChannelCreate {
        /// The org.
        org: OrgId,
        /// New random channel id chosen by the client.
        channel: ChannelId,
        /// [`crate::channel::ChannelMeta`] sealed with the channel key.
        meta: ByteBuf,
        /// Days the server keeps each post.
        retention_days: u32,
    },
    /// Replaces the sealed metadata, e.g. after a key rotation.
    ChannelUpdate {
        /// The channel.
        channel: ChannelId,
        /// New sealed metadata.
        meta: ByteBuf,
        /// Key epoch of the new metadata; must not decrease.
        key_epoch: u32,
    },
    /// Appends a sealed post. `prev_seq` must be the channel's last sequence
    /// number, else `stale_epoch` with `current_epoch` = the last one.
    ChannelPost {
        /// The channel.
        channel: ChannelId,
        /// The last post the author saw (0 for none).
        prev_seq: u64,
        /// [`crate::channel::SealedBox`] bytes of a signed post.
        post: ByteBuf,
    },
    /// Reads posts after `after` (no account needed).
    ChannelFetch {
        /// The channel.
        channel: ChannelId,
        /// Sequence number already seen (0 for none).
        after: u64,
        /// Most posts to return.
        limit: u32,
    },
    /// Asks for live pushes of new posts of these channels on this
    /// connection (no account needed). Not stored anywhere.
    ChannelListen {
        /// The channels.
        channels: Vec<ChannelId>,
    },
    /// Stores a discussion group's sealed GroupInfo and the hash of its
    /// current join token (members only). Replaces the previous ones, so a
    /// new link invalidates the old.
    GroupInfoPut {
        /// The group.
        group: GroupId,
        /// SHA-256 of the join token ([`crate::group_link::token_hash`]).
        token_hash: ByteBuf,
        /// GroupInfo sealed with the link secret.
        info: ByteBuf,
        /// The org whose staff run the group (its moderators). Recorded by
        /// the server with the group's first GroupInfo, when the caller
        /// holds a current staff certificate of that org; only that org's
        /// staff may end the group then. Ignored on later puts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        org: Option<OrgId>,
    },
    /// Fetches the sealed GroupInfo with a join token.
    GroupInfoGet {
        /// The group.
        group: GroupId,
        /// The join token ([`crate::group_link::join_token`]).
        token: ByteBuf,
    },
    /// Joins a group by MLS external commit: with a valid join token and the
    /// group's current epoch, the caller's device becomes a member.
    ExternalJoin {
        /// The group.
        group: GroupId,
        /// The epoch the commit was created in.
        epoch: u64,
        /// The TLS-encoded `MlsMessage` holding the external commit.
        commit: ByteBuf,
        /// The join token.
        token: ByteBuf,
    },
    /// Stores a new version of the caller's account's signed device list
    /// ([`crate::device_list`]). The server keeps the newest per account,
    /// refuses an older version or another account key, and stops
    /// accepting devices the previous list had and this one drops.
    PublishDeviceList {
        /// The list, signed by the account key.
        list: SignedDeviceList,
    },
    /// Leaves linking data in a slot derived from a link secret
    /// ([`crate::device_list::LinkKeys`]); only devices of the caller's
    /// account may take it. Slots expire with link codes.
    LinkSlotPut {
        /// The slot id (32 bytes).
        slot: ByteBuf,
        /// Opaque data (a link request or a sealed approval).
        data: ByteBuf,
    },
    /// Takes (reads and deletes) what a device of the caller's account left
    /// in a link slot; answered with no data when the slot is empty.
    LinkSlotTake {
        /// The slot id (32 bytes).
        slot: ByteBuf,
    },
    /// Publishes the org's next staff list together with the org key's
    /// approvals of pending enrolments (org admin only). The server checks
    /// every signature, that the list's version increases and that each
    /// approval states exactly the binding of a stored enrolment.
    OrgApprove {
        /// The org.
        org: OrgId,
        /// [`crate::org::StaffList`] signed by the org key.
        staff_list: Signed,
        /// [`crate::org::StaffApproval`]s signed by the org key (may be empty,
        /// e.g. when a revocation only changes the list).
        approvals: Vec<Signed>,
    },
    /// Replaces the org key (org admin only): the next link of the org's
    /// rotation chain, signed by the current and the new key, together with
    /// everything re-signed by the new key, stored atomically. Answered
    /// with [`Response::Published`] carrying the link's sequence number.
    OrgRotateKey {
        /// The org.
        org: OrgId,
        /// The rotation from the current key to the new one.
        rotation: crate::org_rotation::SignedRotation,
        /// The org's profile re-signed by the new key (next version).
        profile: Signed,
        /// The next [`crate::org::StaffList`], signed by the new key.
        staff_list: Signed,
        /// Every stored staff certificate, re-issued: the invitation
        /// re-signed by the new key, the binding unchanged, the approval
        /// (if the enrolment was approved) re-signed by the new key.
        staff: Vec<StaffCertificate>,
        /// The org's [`crate::org::RevocationList`] re-signed by the new key
        /// (next version, same devices); required when the org has one, so
        /// that the directory never holds a list signed by the old key.
        /// (Boxed to keep [`Request`] small.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revocations: Option<Box<Signed>>,
    },
    /// Asks for the server's Web Push (VAPID, RFC 8292) public key, which a
    /// browser needs as `applicationServerKey` to subscribe (no account
    /// needed). Answered with [`Response::PushKey`].
    PushKey,
    /// Registers (or replaces) this device's Web Push subscription (RFC
    /// 8030/8291), as the browser's `PushSubscription` gives it. The server
    /// refuses an endpoint whose origin is not on its allow-list of push
    /// services. Answered with [`Response::PushSubscribed`].
    PushSubscribe {
        /// The push service URL (`https://…`; plain `http://` only for
        /// origins the operator allow-listed so).
        endpoint: String,
        /// The browser's P-256 public key (`p256dh`, 65 bytes, uncompressed).
        p256dh: ByteBuf,
        /// The browser's authentication secret (`auth`, 16 bytes).
        auth: ByteBuf,
    },
    /// Removes this device's Web Push subscription (if any). Answered with
    /// [`Response::PushUnsubscribed`].
    PushUnsubscribe,
    /// [`Request::Send`] with the sender's mark "worth a notification" (a
    /// message or a status change; never a receipt): recipient devices that
    /// are offline and have a push subscription get a content-free Web
    /// Push wake-up. Answered like `send`, with [`Response::Stored`].
    SendNotify {
        /// The group (MLS group id).
        group: GroupId,
        /// The TLS-encoded `MlsMessage` (a `PrivateMessage`).
        message: ByteBuf,
    },
    /// Asks for what the server publishes about itself to any client (no
    /// account needed): today its web app address, which clients put into
    /// the links and QR codes they print. Answered with
    /// [`Response::ServerInfo`]. Older servers answer `bad_frame`, which a
    /// client treats as "nothing published".
    ServerInfo,
}

/// A stored channel post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPostRecord {
    /// Position in the channel, from 1.
    pub seq: u64,
    /// When the server stored it (Unix ms).
    pub stored_at: u64,
    /// The sealed post.
    pub post: ByteBuf,
}

/// Actions of server admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdminAction {
    /// Creates an org and a one-time org-admin code.
    CreateOrg {
        /// Display name, e.g. "Stadt Goslar".
        name: String,
        /// Unique handle, e.g. `goslar`.
        handle: String,
    },
    /// Lists orgs.
    ListOrgs,
    /// Server-wide aggregate counts (answered with [`Response::Stats`]).
    Stats,
    /// Blocks every device of an account: they can no longer log in or
    /// make requests, and are left out of the directory and of claims.
    Block {
        /// The account to block.
        account: AccountId,
    },
    /// Lifts [`AdminAction::Block`] from every device of an account.
    Unblock {
        /// The account to unblock.
        account: AccountId,
    },
    /// Suspends an org: its directory entry, staff actions and channel posts
    /// are refused with [`ErrorCode::OrgSuspended`] until resumed.
    SuspendOrg {
        /// The org's handle.
        handle: String,
    },
    /// Lifts [`AdminAction::SuspendOrg`].
    ResumeOrg {
        /// The org's handle.
        handle: String,
    },
    /// The retention periods in force (answered with [`Response::Retention`]).
    RetentionShow,
    /// Changes one retention period at run time; stored durably, it
    /// overrides the configuration file until changed again.
    RetentionSet {
        /// Which period, as named in [`RetentionPeriod::kind`].
        kind: String,
        /// The new period in seconds.
        secs: u64,
    },
    /// Reads the audit log (answered with [`Response::Audit`]).
    Audit {
        /// Entries after this sequence number (0 for the start).
        after: u64,
        /// Most entries to return.
        limit: u32,
    },
    /// Takes a consistent backup into a staging file on the server
    /// (answered with [`Response::BackupReady`]).
    BackupStart {
        /// Extra age recipients (`age1…`) to encrypt the backup to, on top
        /// of the server's configured ones.
        recipients: Vec<String>,
        /// The admin explicitly accepts an unencrypted backup when neither
        /// the server's configuration nor `recipients` name a recipient.
        /// Without it (and from clients that do not know the field) such a
        /// backup is refused with [`ErrorCode::InvalidRequest`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        insecure_plaintext: bool,
    },
    /// Reads one chunk of a staged backup.
    BackupChunk {
        /// The backup.
        backup: BackupId,
        /// Chunk number, from 0.
        index: u32,
    },
    /// Deletes a staged backup once downloaded.
    BackupFinish {
        /// The backup.
        backup: BackupId,
    },
    /// Turns an org's second factor off (its admin lost the authenticator),
    /// so that the org admin can set up a new secret (answered with
    /// [`Response::OrgSecondFactorReset`]).
    ResetOrgSecondFactor {
        /// The org's handle.
        handle: String,
    },
}

/// One retention period, as shown by `admin retention show` and `/privacy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPeriod {
    /// Stable name, e.g. `envelopes`, `attachments`, `audit`.
    pub kind: String,
    /// What is kept this long, in plain words.
    pub what: String,
    /// The period in force, in seconds.
    pub secs: u64,
    /// Where the value comes from: `config` or `admin`.
    pub source: String,
}

/// Server-wide aggregate counts for server admins. Holds no account, device,
/// group or channel ids; orgs appear only by their public handle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Registered accounts.
    pub accounts: u64,
    /// Registered devices (blocked ones included).
    pub devices: u64,
    /// Current WebSocket connections.
    pub connected: u64,
    /// Queued envelopes (mailbox entries not yet acknowledged).
    pub queued_envelopes: u64,
    /// Ciphertext bytes of stored messages plus stored attachment bytes.
    pub stored_bytes: u64,
    /// Broadcast channels.
    pub channels: u64,
    /// Stored channel posts, over all channels.
    pub channel_posts: u64,
    /// Per-org counts, by handle.
    pub orgs: Vec<OrgStats>,
}

/// Aggregate counts of one org, in [`ServerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgStats {
    /// The org's public handle.
    pub handle: String,
    /// Enrolled staff devices not revoked by the org.
    pub staff_devices: u64,
    /// The org's broadcast channels.
    pub channels: u64,
}

/// An org as listed for server admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// Its name as given at creation.
    pub name: String,
    /// Whether an org admin has claimed it (and registered its key).
    pub claimed: bool,
    /// Unix ms.
    pub created_at: u64,
    /// Whether a server admin suspended it.
    #[serde(default)]
    pub suspended: bool,
}

/// Public information about an org, as answered by [`Request::OrgDirectory`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// The org's public signing key, once claimed.
    pub org_key: Option<crate::auth::IdentityKey>,
    /// The latest signed profile.
    pub profile: Option<Signed>,
    /// Certificates of enrolled staff devices (clients verify and filter).
    pub staff: Vec<StaffCertificate>,
    /// The latest signed revocation list.
    pub revocations: Option<Signed>,
    /// The latest [`crate::org::StaffList`] signed by the org key (absent
    /// until the org admin approved a first staff device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_list: Option<Signed>,
    /// The org's key rotation chain, from its first key to `org_key`
    /// (empty while the key was never rotated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<crate::org_rotation::SignedRotation>,
}

impl Request {
    /// The request's name as used in logs and metrics; never includes payload.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Login { .. } => "login",
            Request::Link { .. } => "link",
            Request::CreateLinkCode => "create_link_code",
            Request::ListDevices { .. } => "list_devices",
            Request::UploadKeyPackages { .. } => "upload_key_packages",
            Request::ClaimKeyPackages { .. } => "claim_key_packages",
            Request::Commit { .. } => "commit",
            Request::Send { .. } => "send",
            Request::Ack { .. } => "ack",
            Request::Ping => "ping",
            Request::AdminClaim { .. } => "admin_claim",
            Request::SecondFactor { .. } => "second_factor",
            Request::OrgSecondFactorEnable { .. } => "org_second_factor_enable",
            Request::AccountExport => "account_export",
            Request::AccountDelete => "account_delete",
            Request::Admin { .. } => "admin",
            Request::OrgClaim { .. } => "org_claim",
            Request::OrgPublish { .. } => "org_publish",
            Request::OrgCreateInvite { .. } => "org_create_invite",
            Request::Enroll { .. } => "enroll",
            Request::OrgRevoke { .. } => "org_revoke",
            Request::OrgDirectory { .. } => "org_directory",
            Request::ClaimDeviceKeyPackages { .. } => "claim_device_key_packages",
            Request::SetGroupExpiry { .. } => "set_group_expiry",
            Request::UploadStart { .. } => "upload_start",
            Request::UploadChunk { .. } => "upload_chunk",
            Request::UploadStatus { .. } => "upload_status",
            Request::UploadFinish { .. } => "upload_finish",
            Request::DownloadChunk { .. } => "download_chunk",
            Request::ChannelCreate { .. } => "channel_create",
            Request::ChannelUpdate { .. } => "channel_update",
            Request::ChannelPost { .. } => "channel_post",
            Request::ChannelFetch { .. } => "channel_fetch",
            Request::ChannelListen { .. } => "channel_listen",
            Request::GroupInfoPut { .. } => "group_info_put",
            Request::GroupInfoGet { .. } => "group_info_get",
            Request::ExternalJoin { .. } => "external_join",
            Request::PublishDeviceList { .. } => "publish_device_list",
            Request::LinkSlotPut { .. } => "link_slot_put",
            Request::LinkSlotTake { .. } => "link_slot_take",
            Request::OrgApprove { .. } => "org_approve",
            Request::OrgRotateKey { .. } => "org_rotate_key",
            Request::PushKey => "push_key",
            Request::PushSubscribe { .. } => "push_subscribe",
            Request::PushUnsubscribe => "push_unsubscribe",
            Request::SendNotify { .. } => "send_notify",
            Request::ServerInfo => "server_info",
        }
    }
}

/// A device of an account as listed by the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device: DeviceId,
    /// Its Ed25519 identity key, which is also its MLS signature key.
    pub identity_key: IdentityKey,
}

/// A KeyPackage handed out by [`Request::ClaimKeyPackages`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKeyPackage {
    /// The device the package belongs to.
    pub device: DeviceId,
    /// The TLS-encoded `KeyPackage`.
    pub key_package: ByteBuf,
    /// Whether this is the device's last-resort package (reused until replaced).
    pub last_resort: bool,
}

/// A stored message waiting in a device's mailbox. It carries no sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Mailbox position; increases with every envelope stored for the device.
    pub id: u64,
    /// When the server stored it (Unix milliseconds).
    pub received_at: u64,
    /// The TLS-encoded `MlsMessage` (commit, welcome or application message).
    pub payload: ByteBuf,
}

/// Successful answers, one variant per request kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// Answer to [`Request::Register`] and [`Request::Link`]; the connection
    /// is now authenticated as `device`.
    Registered {
        /// The account (new for register, existing for link).
        account: AccountId,
        /// The new device.
        device: DeviceId,
    },
    /// Answer to [`Request::Login`].
    LoggedIn {
        /// The device's account.
        account: AccountId,
        /// How many one-time KeyPackages the server still holds for this device.
        key_packages_left: u32,
        /// Whether the server holds a last-resort KeyPackage for this device.
        has_last_resort: bool,
    },
    /// Answer to [`Request::CreateLinkCode`].
    LinkCode {
        /// The one-time code.
        code: String,
        /// When it stops working (Unix milliseconds).
        expires_at: u64,
    },
    /// Answer to [`Request::ListDevices`].
    Devices {
        /// The account's devices.
        devices: Vec<DeviceInfo>,
        /// The newest device list the account published; clients use no
        /// device that is not on it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_list: Option<SignedDeviceList>,
    },
    /// Answer to [`Request::UploadKeyPackages`].
    KeyPackagesStored {
        /// One-time packages now held for this device.
        one_time_left: u32,
    },
    /// Answer to [`Request::ClaimKeyPackages`].
    KeyPackages {
        /// One package per device that had one.
        packages: Vec<ClaimedKeyPackage>,
    },
    /// Answer to [`Request::Commit`]: durably stored and ordered.
    CommitAccepted {
        /// The group's epoch after this commit.
        epoch: u64,
    },
    /// Answer to [`Request::Send`]: durably stored for every recipient device.
    Stored {
        /// Number of recipient devices.
        recipients: u32,
    },
    /// Answer to [`Request::Ack`].
    Acked {
        /// Envelopes actually removed (ids not in this device's mailbox are ignored).
        removed: u32,
    },
    /// Answer to [`Request::Ping`].
    Pong,
    /// Answer to [`Request::AdminClaim`]: this device is now a server admin.
    AdminClaimed,
    /// Answer to [`Request::SecondFactor`]: the code was valid.
    SecondFactorAccepted,
    /// Answer to [`Request::OrgSecondFactorEnable`].
    OrgSecondFactorEnabled {
        /// The org.
        org: OrgId,
    },
    /// Answer to [`AdminAction::ResetOrgSecondFactor`].
    OrgSecondFactorReset {
        /// The org's handle.
        handle: String,
        /// Whether a secret was set (and is now removed).
        removed: bool,
    },
    /// Answer to [`AdminAction::SuspendOrg`] and [`AdminAction::ResumeOrg`].
    OrgSuspended {
        /// The org's handle.
        handle: String,
        /// Whether it is now suspended.
        suspended: bool,
    },
    /// Answer to [`AdminAction::RetentionShow`] and [`AdminAction::RetentionSet`].
    Retention {
        /// Every retention period in force.
        periods: Vec<RetentionPeriod>,
    },
    /// Answer to [`AdminAction::Audit`].
    Audit {
        /// Entries in sequence order.
        records: Vec<crate::audit::AuditRecord>,
        /// The newest entry's sequence number and hash (none while empty).
        head: Option<crate::audit::AuditHead>,
        /// The last entry removed by retention (none if none was): the
        /// oldest returned record links to it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor: Option<crate::audit::AuditHead>,
    },
    /// Answer to [`AdminAction::BackupStart`].
    BackupReady {
        /// The staged backup.
        backup: BackupId,
        /// Its size in bytes.
        size: u64,
        /// SHA-256 of the whole file.
        sha256: ByteBuf,
        /// Size of every chunk but the last.
        chunk_size: u32,
        /// Whether it is encrypted to age recipients.
        encrypted: bool,
    },
    /// Answer to [`AdminAction::BackupChunk`].
    BackupChunk {
        /// Chunk number.
        index: u32,
        /// The bytes.
        data: ByteBuf,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// Answer to [`AdminAction::BackupFinish`].
    BackupFinished,
    /// Answer to [`Request::AccountExport`].
    AccountExport {
        /// Everything held about the account (boxed: large).
        export: Box<crate::account::AccountExport>,
    },
    /// Answer to [`Request::AccountDelete`]: the account is gone.
    AccountDeleted {
        /// Devices deleted.
        devices: u32,
        /// Queued envelopes deleted.
        envelopes: u64,
        /// Uploads deleted.
        blobs: u32,
        /// Stored KeyPackages deleted.
        key_packages: u32,
    },
    /// Answer to [`AdminAction::CreateOrg`].
    OrgCreated {
        /// The new org.
        org: OrgId,
        /// Its handle.
        handle: String,
        /// One-time org-admin code for `stadtbote org claim`.
        code: String,
        /// When the code stops working (Unix ms).
        expires_at: u64,
    },
    /// Answer to [`AdminAction::ListOrgs`].
    Orgs {
        /// All orgs.
        orgs: Vec<OrgSummary>,
    },
    /// Answer to [`AdminAction::Stats`].
    Stats {
        /// The counts.
        stats: ServerStats,
    },
    /// Answer to [`AdminAction::Block`] and [`AdminAction::Unblock`].
    Blocked {
        /// The account.
        account: AccountId,
        /// Whether its devices are now blocked.
        blocked: bool,
        /// How many devices the account has (all of them changed).
        devices: u32,
    },
    /// Answer to [`Request::OrgClaim`]: this device is the org's admin.
    OrgClaimed {
        /// The org.
        org: OrgId,
        /// Its handle.
        handle: String,
        /// Its name as given at creation.
        name: String,
    },
    /// Answer to [`Request::OrgPublish`] and [`Request::OrgRevoke`].
    Published {
        /// The version now stored.
        version: u64,
    },
    /// Answer to [`Request::OrgCreateInvite`].
    InviteStored {
        /// When the invitation expires (Unix ms).
        expires_at: u64,
    },
    /// Answer to [`Request::Enroll`]: the certificate is published.
    Enrolled {
        /// The org.
        org: OrgId,
        /// Its handle.
        handle: String,
    },
    /// Answer to [`Request::OrgDirectory`].
    Org {
        /// The org's public information (boxed: it is much larger than the
        /// other answers; the wire format is unaffected).
        info: Box<OrgInfo>,
    },
    /// Answer to [`Request::SetGroupExpiry`].
    GroupExpirySet {
        /// The expiry now in force (Unix ms).
        expires_at: u64,
    },
    /// Answer to [`Request::UploadStart`].
    UploadStarted {
        /// The new blob's id.
        blob: BlobId,
        /// Size of every chunk but the last.
        chunk_size: u32,
        /// When an unfinished upload is discarded (Unix ms).
        expires_at: u64,
    },
    /// Answer to [`Request::UploadChunk`] and [`Request::UploadStatus`].
    UploadProgress {
        /// The blob.
        blob: BlobId,
        /// Chunks stored so far (the next chunk to send has this index).
        chunks_received: u32,
        /// Total size declared at start.
        size: u64,
        /// Chunk size.
        chunk_size: u32,
        /// Whether the upload was finished.
        complete: bool,
    },
    /// Answer to [`Request::UploadFinish`].
    BlobStored {
        /// The blob.
        blob: BlobId,
        /// Its size in bytes.
        size: u64,
        /// When the server deletes it (Unix ms).
        expires_at: u64,
    },
    /// Answer to [`Request::ChannelCreate`] and [`Request::ChannelUpdate`].
    ChannelStored {
        /// The channel.
        channel: ChannelId,
        /// Its current key epoch.
        key_epoch: u32,
    },
    /// Answer to [`Request::ChannelPost`].
    ChannelPosted {
        /// The post's sequence number.
        seq: u64,
        /// Unix ms.
        stored_at: u64,
    },
    /// Answer to [`Request::ChannelFetch`].
    ChannelPosts {
        /// The channel.
        channel: ChannelId,
        /// The org publishing it.
        org: OrgId,
        /// Current sealed metadata.
        meta: ByteBuf,
        /// Current key epoch.
        key_epoch: u32,
        /// Posts after the requested one, oldest first.
        posts: Vec<ChannelPostRecord>,
        /// Oldest sequence number still stored (older ones expired by
        /// retention), 0 when the channel holds no post.
        first_seq: u64,
        /// Newest sequence number (0 for none).
        last_seq: u64,
    },
    /// Answer to [`Request::GroupInfoPut`].
    GroupInfoStored {
        /// The group's epoch when stored.
        epoch: u64,
    },
    /// Answer to [`Request::GroupInfoGet`].
    GroupInfo {
        /// The group.
        group: GroupId,
        /// The group's current epoch on the server.
        epoch: u64,
        /// The sealed GroupInfo (possibly of an older epoch if no member
        /// refreshed it yet; the joiner then retries later).
        info: ByteBuf,
    },
    /// Answer to [`Request::ChannelListen`].
    Listening {
        /// How many channels this connection now listens to.
        channels: u32,
    },
    /// Answer to [`Request::DownloadChunk`].
    BlobChunk {
        /// Chunk number.
        index: u32,
        /// The chunk's bytes.
        data: ByteBuf,
        /// Total size of the blob.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// Answer to [`Request::PublishDeviceList`].
    DeviceListStored {
        /// The version now stored.
        version: u64,
    },
    /// Answer to [`Request::LinkSlotPut`].
    LinkSlotStored,
    /// Answer to [`Request::LinkSlotTake`].
    LinkSlot {
        /// What was in the slot, if anything.
        data: Option<ByteBuf>,
    },
    /// Answer to [`Request::PushKey`].
    PushKey {
        /// The server's VAPID public key: an uncompressed P-256 point (65
        /// bytes), the browser's `applicationServerKey`. Absent when this
        /// server sends no Web Push (no `push_contact` configured).
        key: Option<ByteBuf>,
    },
    /// Answer to [`Request::PushSubscribe`]: the subscription is stored.
    PushSubscribed,
    /// Answer to [`Request::PushUnsubscribe`].
    PushUnsubscribed {
        /// Whether a subscription was stored (and is now removed).
        removed: bool,
    },
    /// Answer to [`Request::ServerInfo`].
    ServerInfo {
        /// The web app's address (`public_url`: `https://host[:port]`, no
        /// trailing `/`), absent when the operator configured none. Links
        /// are `public_url/#v1/…` (see [`crate::app_link`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
    },
}

/// Messages the server pushes without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Sent first on every connection: the single-use login challenge.
    Challenge {
        /// Random, unique to this connection, valid for one authentication.
        nonce: ByteBuf,
        /// Leading zero bits required of the registration proof-of-work.
        pow_difficulty: u8,
        /// The server's clock (Unix milliseconds).
        server_time: u64,
    },
    /// A new post in a channel this connection listens to.
    ChannelPost {
        /// The channel.
        channel: ChannelId,
        /// The post.
        post: ChannelPostRecord,
    },
    /// Envelopes from this device's mailbox, oldest first. Sent after login
    /// (at least once, possibly empty) and whenever new envelopes arrive.
    Deliver {
        /// The envelopes.
        envelopes: Vec<Envelope>,
        /// True when this batch reaches the end of the mailbox as of sending.
        caught_up: bool,
    },
}

/// The body of a frame sent by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerBody {
    /// The answer to request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The answer.
        response: Response,
    },
    /// Request `id` failed (or, with no id, the frame could not be read at all).
    Error {
        /// The request's id, when the frame was readable enough to have one.
        id: Option<u64>,
        /// What went wrong.
        error: ErrorBody,
    },
    /// A push.
    Event {
        /// The event.
        event: Event,
    },
}

/// A frame sent by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrame {
    /// Protocol version; [`PROTOCOL_VERSION`].
    pub v: u16,
    /// The content.
    pub body: ServerBody,
}

impl ServerFrame {
    /// Wraps a body in a frame of the current version.
    pub fn new(body: ServerBody) -> Self {
        Self { v: PROTOCOL_VERSION, body }
    }
}

/// A typed error: a stable machine-readable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code; clients branch on this.
    pub code: ErrorCode,
    /// Human-readable explanation; never contains ids, keys or payloads.
    pub message: String,
    /// For [`ErrorCode::StaleEpoch`]: the group's current epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_epoch: Option<u64>,
    /// For [`ErrorCode::RateLimited`]: milliseconds until a retry may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Which refusal this is, for refusals a user can meet: clients word
    /// the refusal from this code in their user's language and show
    /// `message` only for a reason they do not know (or none). Absent from
    /// older servers and for refusals only a faulty client meets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RefusalReason>,
}

impl ErrorBody {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            current_epoch: None,
            retry_after_ms: None,
            reason: None,
        }
    }

    /// The same error with its refusal reason.
    pub fn with_reason(self, reason: RefusalReason) -> Self {
        Self { reason: Some(reason), ..self }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

/// Stable error codes. New codes may be added; clients treat unknown codes as
/// [`ErrorCode::Internal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid CBOR or not a valid request.
    BadFrame,
    /// The frame's protocol version is not supported.
    UnsupportedVersion,
    /// The frame or a field in it exceeds a configured limit.
    TooLarge,
    /// The request needs an authenticated connection.
    Unauthenticated,
    /// The connection is already authenticated.
    AlreadyAuthenticated,
    /// Signature, device or challenge did not verify.
    AuthFailed,
    /// The registration proof-of-work does not meet the difficulty.
    PowInvalid,
    /// A link code is unknown, used or expired.
    InvalidCode,
    /// Too many requests; see `retry_after_ms`.
    RateLimited,
    /// No such account.
    UnknownAccount,
    /// No such group.
    UnknownGroup,
    /// The caller's device is not a member of the group.
    NotAMember,
    /// Another commit was already accepted for this epoch; see `current_epoch`.
    StaleEpoch,
    /// The request is well-formed but its content is invalid.
    InvalidRequest,
    /// The account or device is blocked.
    Forbidden,
    /// Storage cannot accept writes (e.g. disk full); nothing was stored.
    StorageUnavailable,
    /// The server is shutting down or overloaded; retry later.
    Unavailable,
    /// An unexpected server error; nothing is assumed stored.
    Internal,
    /// No org with that handle or id.
    UnknownOrg,
    /// No such blob, or not (yet) complete.
    UnknownBlob,
    /// The account's attachment storage quota is used up; nothing was stored.
    QuotaExceeded,
    /// The handle is already taken.
    HandleTaken,
    /// No such channel.
    UnknownChannel,
    /// The action needs a second factor: send [`Request::SecondFactor`]
    /// first (or the code was missing, wrong or already used).
    SecondFactorRequired,
    /// The org is suspended by the server's operator.
    OrgSuspended,
    /// Only a discussion group's moderators (staff of its org) may do this.
    ModeratorsOnly,
    /// An error code this client does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::PowInvalid => "pow_invalid",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnknownAccount => "unknown_account",
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::StaleEpoch => "stale_epoch",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::UnknownOrg => "unknown_org",
            ErrorCode::UnknownBlob => "unknown_blob",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::HandleTaken => "handle_taken",
            ErrorCode::UnknownChannel => "unknown_channel",
            ErrorCode::SecondFactorRequired => "second_factor_required",
            ErrorCode::OrgSuspended => "org_suspended",
            ErrorCode::ModeratorsOnly => "moderators_only",
            ErrorCode::Unknown => "unknown",
        }
    }
}

/// Why bytes could not be turned into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Larger than the caller's limit; nothing was parsed.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not CBOR, or not the expected structure. `id` is the request id when it
    /// could still be read, so the error can be answered to that request.
    #[error("malformed frame: {reason}")]
    Malformed {
        /// Request id, if readable.
        id: Option<u64>,
        /// Short description (from the decoder; contains no payload bytes).
        reason: String,
    },
    /// A protocol version this crate does not speak.
    #[error("unsupported protocol version {version}")]
    UnsupportedVersion {
        /// Request id, if readable.
        id: Option<u64>,
        /// The version found.
        version: u64,
    },
}

impl FrameError {
    /// The request id the error can be answered to, if any.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            FrameError::TooLarge { .. } => None,
            FrameError::Malformed { id, .. } | FrameError::UnsupportedVersion { id, .. } => *id,
        }
    }

    /// The wire error for this decoding failure.
    pub fn to_error_body(&self) -> ErrorBody {
        let code = match self {
            FrameError::TooLarge { .. } => ErrorCode::TooLarge,
            FrameError::Malformed { .. } => ErrorCode::BadFrame,
            FrameError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
        };
        ErrorBody::new(code, self.to_string())
    }
}

/// Encodes any frame as CBOR.
pub fn encode<T: Serialize>(frame: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    // Serializing our own types into a Vec cannot fail: there is no I/O error
    // and every type is representable in CBOR. Should it ever fail, an empty
    // buffer is returned and the peer reports a malformed frame.
    if ciborium::into_writer(frame, &mut buf).is_err() {
        buf.clear();
    }
    buf
}

/// Decodes a client frame, refusing inputs over `limit` bytes before parsing.
pub fn decode_client(bytes: &[u8], limit: usize) -> Result<ClientFrame, FrameError> {
    decode_versioned(bytes, limit)
}

/// Decodes a server frame, refusing inputs over `limit` bytes before parsing.
pub fn decode_server(bytes: &[u8], limit: usize) -> Result<ServerFrame, FrameError> {
    decode_versioned(bytes, limit)
}

fn decode_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, FrameError> {
    if bytes.len() > limit {
        return Err(FrameError::TooLarge { size: bytes.len(), limit });
    }
    // Decode to a generic value first so that the version and request id can
    // be read even when the rest of the frame is not understood: that lets the
    // server answer "unsupported version" or "bad frame" to the right request.
    let value: ciborium::Value = ciborium::from_reader(bytes)
        .map_err(|e| FrameError::Malformed { id: None, reason: short_reason(&e.to_string()) })?;
    let map = value
        .as_map()
        .ok_or_else(|| FrameError::Malformed { id: None, reason: "frame is not a map".into() })?;
    let field = |name: &str| {
        map.iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .and_then(|(_, v)| v.as_integer())
            .and_then(|i| u64::try_from(i).ok())
    };
    let id = field("id");
    match field("v") {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(version) => return Err(FrameError::UnsupportedVersion { id, version }),
        None => {
            return Err(FrameError::Malformed { id, reason: "missing version field 'v'".into() });
        }
    }
    value
        .deserialized()
        .map_err(|e| FrameError::Malformed { id, reason: short_reason(&e.to_string()) })
}

/// Decoder messages can quote input; keep them short so that an error never
/// echoes a large part of what a client sent.
fn short_reason(reason: &str) -> String {
    reason.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_client(frame: ClientFrame) {
        let bytes = encode(&frame);
        assert_eq!(decode_client(&bytes, 1 << 20).unwrap(), frame);
    }

    #[test]
    fn requests_round_trip() {
        roundtrip_client(ClientFrame::new(1, Request::Ping));
        roundtrip_client(ClientFrame::new(
            2,
            Request::Send { group: GroupId([1; 16]), message: ByteBuf::from(vec![1, 2, 3]) },
        ));
        roundtrip_client(ClientFrame::new(3, Request::Ack { ids: vec![1, 2, u64::MAX] }));
    }

    #[test]
    fn garbage_is_malformed_not_panic() {
        for input in [&b""[..], b"\xff", b"\x00", b"\xa1\x61v\x01", b"\x9f\x9f\x9f"] {
            assert!(decode_client(input, 1024).is_err());
        }
    }

    #[test]
    fn oversized_is_refused_before_parsing() {
        let err = decode_client(&[0u8; 2000], 1000).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { size: 2000, limit: 1000 });
    }

    #[test]
    fn wrong_version_keeps_request_id() {
        let mut frame = ClientFrame::new(42, Request::Ping);
        frame.v = 9;
        let err = decode_client(&encode(&frame), 1024).unwrap_err();
        assert_eq!(err, FrameError::UnsupportedVersion { id: Some(42), version: 9 });
    }

    #[test]
    fn unknown_request_keeps_request_id() {
        #[derive(Serialize)]
        struct Fake {
            v: u16,
            id: u64,
            request: &'static str,
        }
        let bytes = encode(&Fake { v: PROTOCOL_VERSION, id: 7, request: "launch_rockets" });
        let err = decode_client(&bytes, 1024).unwrap_err();
        assert_eq!(err.request_id(), Some(7));
    }

    #[test]
    fn unknown_error_code_decodes_as_unknown() {
        #[derive(Serialize)]
        struct Fake {
            code: &'static str,
            message: &'static str,
        }
        let bytes = encode(&Fake { code: "from_the_future", message: "x" });
        let body: ErrorBody = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(body.code, ErrorCode::Unknown);
    }
}
