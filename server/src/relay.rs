//! What the server does for each request, independent of the socket.
//!
//! [`Relay`] owns the store, the group-commit flusher, the rate limiters and
//! the delivery registry. Each method checks a request, changes the store
//! atomically, waits for the flush that makes the change durable, wakes the
//! devices that received envelopes, and only then returns the answer. Every
//! refusal is a [`RelayError`] with a stable code; a storage failure becomes
//! [`RelayError::StorageUnavailable`] and never a success.
//!
//! The org and admin requests live in [`admin`] and [`orgs`], attachments in
//! [`blobs`], broadcast channels in [`channels`], joining discussion groups
//! by link in [`group_links`]; this file holds the messaging core.

mod account;
mod admin;
mod backup;
mod blobs;
mod channels;
mod cluster;
mod device_lists;
mod group_links;
mod membership;
mod orgs;
use orgs::RotationSigned;
mod push;
mod refusal;
mod retention;
mod second_factor;

pub use refusal::wire as refusal_wire;
pub use retention::{Retention, RetentionKind};
pub use second_factor::Elevation;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use stadtbote_protocol::auth::{
    IdentityKey, Signature, link_message, login_message, pow_valid, register_message,
};
use stadtbote_protocol::frame::{Request, Response};
use stadtbote_protocol::membership::GroupCreation;
use stadtbote_protocol::org::OrgError;
use stadtbote_protocol::{AccountId, BlobId, DeviceId, GroupId, RefusalReason};

use crate::admin::ADMIN_CLAIM_FILE;
use crate::blobs::BlobFiles;
use crate::config::Config;
use crate::delivery::{
    DeliveryLimits, DeliveryRegistry, ENVELOPE_OVERHEAD, FRAME_OVERHEAD, Subscription,
};
use crate::diskguard::DiskGuard;
use crate::fanout::{ChannelListeners, Listens};
use crate::flush::{FlushError, Flusher};
use crate::metrics::Metrics;
use crate::push::Push;
use crate::ratelimit::{IpKey, KeyedLimiter, RateLimited, RequestLimiters};
use crate::store::{
    CodeState, CommitInput, CommitOutcome, LinkOutcome, StorageError, Store, StoreError,
};
use crate::unix_ms;

/// Bytes of randomness in a link code (80 bits: 16 base32 characters).
const LINK_CODE_BYTES: usize = 10;

/// A refused or failed request. Each variant maps to one wire
/// [`stadtbote_protocol::ErrorCode`] (see `connection::error_body`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The request needs an authenticated connection.
    #[error("not authenticated")]
    Unauthenticated,
    /// The connection is already authenticated.
    #[error("already authenticated")]
    AlreadyAuthenticated,
    /// Signature, device or challenge did not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// A refusal a user can meet, named by its stable reason (the wire
    /// code and English text are in [`refusal::wire`]): blocked, not an
    /// admin, a wrong or used code, a missing second factor, …
    #[error("refused: {}", .0.as_str())]
    Refused(RefusalReason),
    /// The proof-of-work is insufficient.
    #[error("proof-of-work invalid")]
    PowInvalid,
    /// Too many requests.
    #[error("rate limited")]
    RateLimited {
        /// Milliseconds until a retry may succeed.
        retry_after_ms: u64,
    },
    /// No such account.
    #[error("unknown account")]
    UnknownAccount,
    /// No such group.
    #[error("unknown group")]
    UnknownGroup,
    /// The caller is not a member of the group.
    #[error("not a member")]
    NotAMember,
    /// Another commit was accepted for this epoch.
    #[error("stale epoch")]
    StaleEpoch {
        /// The group's current epoch.
        current: u64,
    },
    /// The request's content is invalid.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A field of an org request is invalid (handle, department, …); the
    /// text is the protocol's own explanation.
    #[error("invalid request: {0}")]
    InvalidField(OrgError),
    /// An upload chunk arrived out of order.
    #[error("expected chunk {expected}")]
    UnexpectedChunk {
        /// The chunk the upload needs next.
        expected: u32,
    },
    /// An upload chunk has the wrong length.
    #[error("chunk {index} must be {expected} bytes long")]
    ChunkLength {
        /// The chunk.
        index: u32,
        /// Its required length.
        expected: u64,
    },
    /// A field exceeds a configured limit.
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// An attachment is larger than `max_blob_bytes`.
    #[error("attachment of {size} bytes exceeds the server's limit of {limit} bytes")]
    BlobTooLarge {
        /// The declared size.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// No such org.
    #[error("unknown org")]
    UnknownOrg,
    /// No such blob for this caller, or not complete.
    #[error("unknown blob")]
    UnknownBlob,
    /// The account's attachment quota is used up.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The org handle is taken.
    #[error("handle taken")]
    HandleTaken,
    /// The org is suspended by a server admin.
    #[error("org suspended")]
    OrgSuspended,
    /// Only a discussion group's moderators may end it.
    #[error("moderators only")]
    ModeratorsOnly,
    /// No such channel.
    #[error("unknown channel")]
    UnknownChannel,
    /// A channel post did not follow the channel's newest post.
    #[error("stale post")]
    StalePost {
        /// The channel's newest sequence number.
        last_seq: u64,
    },
    /// Storage could not durably accept the change; nothing is assumed stored.
    #[error("storage unavailable")]
    StorageUnavailable,
    /// The server is busy or shutting down.
    #[error("temporarily unavailable")]
    Unavailable,
    /// Too many connections listen to channels without an account, from
    /// the client's address or on the whole server.
    #[error("too many listeners without an account")]
    ListenerLimit,
    /// An unexpected failure (e.g. a corrupt record).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for RelayError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownAccount => Self::UnknownAccount,
            StoreError::UnknownDevice => Self::InvalidRequest("an added device does not exist"),
            // A non-member gets one answer whether or not the group exists
            // (join-link requests map the token refusal the same way).
            StoreError::UnknownGroup => Self::NotAMember,
            StoreError::NotAMember => Self::NotAMember,
            StoreError::StaleEpoch { current } => Self::StaleEpoch { current },
            StoreError::TooManyMembers { .. } => Self::Refused(RefusalReason::GroupTooLarge),
            StoreError::TooManyKeyPackages { .. } => {
                Self::InvalidRequest("upload would exceed max_key_packages_per_device")
            }
            StoreError::InvalidCommit(reason) => Self::InvalidRequest(reason),
            StoreError::InvalidToken => Self::Refused(RefusalReason::GroupLinkInvalid),
            StoreError::InvalidCode => Self::Refused(RefusalReason::LinkCodeInvalid),
            StoreError::Code(state) => Self::Refused(match state {
                CodeState::Unknown => RefusalReason::CodeUnknown,
                CodeState::Expired => RefusalReason::CodeExpired,
                CodeState::Used => RefusalReason::CodeUsed,
            }),
            StoreError::HandleTaken => Self::HandleTaken,
            StoreError::UnknownOrg => Self::UnknownOrg,
            StoreError::AlreadyClaimed => Self::Refused(RefusalReason::OrgAlreadyClaimed),
            StoreError::VersionNotIncreasing => Self::InvalidRequest("version must increase"),
            StoreError::InviteIdTaken => {
                Self::InvalidRequest("an invitation with this id already exists")
            }
            StoreError::DirectoryTooLarge => {
                Self::TooLarge("the org directory would exceed the message limit")
            }
            StoreError::DeviceRevoked => Self::Refused(RefusalReason::DeviceRevoked),
            StoreError::ApprovalMismatch => Self::InvalidRequest(
                "a staff approval does not match the enrolment stored for its device",
            ),
            StoreError::ModeratorsOnly => Self::ModeratorsOnly,
            StoreError::UnknownBlob => Self::UnknownBlob,
            StoreError::QuotaExceeded => Self::QuotaExceeded,
            StoreError::ChunkOutOfOrder { expected } => Self::UnexpectedChunk { expected },
            StoreError::ChannelIdTaken => {
                Self::InvalidRequest("a channel with this id already exists")
            }
            StoreError::UnknownChannel => Self::UnknownChannel,
            StoreError::EpochDecreasing => Self::InvalidRequest("the key epoch must not decrease"),
            StoreError::StaleSeq { last_seq } => Self::StalePost { last_seq },
            StoreError::Storage(failure) => failure.into(),
            StoreError::AdminRoleHeld => Self::Refused(RefusalReason::AdminRoleHeld),
        }
    }
}

/// A storage failure: nothing was stored, nothing is acknowledged, and the
/// client is told to try again later. The codes are those of earlier
/// releases: contention is `unavailable`, a failed read or write (a full
/// disk included) `storage_unavailable`, a record that does not decode or a
/// data directory of another schema `internal`.
impl From<StorageError> for RelayError {
    fn from(failure: StorageError) -> Self {
        match failure {
            StorageError::Contention => Self::Unavailable,
            StorageError::Unavailable(e) => {
                tracing::error!(error = %e, "storage operation failed");
                Self::StorageUnavailable
            }
            StorageError::Full(e) => {
                tracing::error!(error = %e, "storage full");
                Self::StorageUnavailable
            }
            StorageError::Corrupt(what) => {
                tracing::error!(tree = what, "corrupt stored record");
                Self::Internal
            }
            StorageError::OutdatedSchema { found, .. } => {
                tracing::error!(version = found, "record of an outdated schema version");
                Self::Internal
            }
            StorageError::UnsupportedSchema(version) => {
                tracing::error!(version, "record of an unsupported schema version");
                Self::Internal
            }
            StorageError::UnkeyedIds | StorageError::UnsupportedIdKeying(_) => {
                tracing::error!(error = %failure, "data directory of another id keying");
                Self::Internal
            }
        }
    }
}

impl From<FlushError> for RelayError {
    fn from(_: FlushError) -> Self {
        Self::StorageUnavailable
    }
}

impl From<RateLimited> for RelayError {
    fn from(limited: RateLimited) -> Self {
        Self::RateLimited { retry_after_ms: limited.retry_after_ms() }
    }
}

/// Aggregate channel counts; never per channel, never who listens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Channels stored.
    pub channels: u64,
    /// Posts stored over all channels.
    pub posts: u64,
    /// Connections listening for live posts of at least one channel.
    pub listening_connections: u64,
}

/// The device a connection is authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Its account.
    pub account: AccountId,
    /// The device.
    pub device: DeviceId,
}

/// The configured limits the relay enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Registration proof-of-work difficulty.
    pub pow_difficulty: u8,
    /// Envelope lifetime in milliseconds.
    pub envelope_ttl_ms: u64,
    /// Link code lifetime in milliseconds.
    pub link_code_ttl_ms: u64,
    /// One-time KeyPackages per device.
    pub max_key_packages_per_device: u32,
    /// Largest KeyPackage in bytes.
    pub max_key_package_bytes: usize,
    /// Most member devices per group.
    pub max_group_devices: usize,
    /// Largest sealed GroupInfo in bytes.
    pub max_group_info_bytes: usize,
    /// Largest commit, welcome or message payload in bytes: the message limit
    /// minus what a `deliver` event adds, so every envelope can be delivered.
    pub max_payload_bytes: usize,
    /// Delivery batch limits.
    pub delivery: DeliveryLimits,
    /// Org-admin code lifetime in milliseconds.
    pub org_claim_code_ttl_ms: u64,
    /// Largest signed org object in bytes.
    pub max_profile_bytes: usize,
    /// Longest staff invitation lifetime in milliseconds.
    pub max_invite_ttl_ms: u64,
    /// Largest attachment in bytes.
    pub max_blob_bytes: u64,
    /// Attachment chunk size in bytes.
    pub blob_chunk_bytes: u32,
    /// Lifetime of a completed attachment in milliseconds.
    pub blob_ttl_ms: u64,
    /// Lifetime of an unfinished upload in milliseconds.
    pub upload_ttl_ms: u64,
    /// Attachment bytes per account.
    pub blob_quota_bytes: u64,
    /// Longest channel retention in days.
    pub max_channel_retention_days: u32,
    /// Most posts per `channel_fetch`.
    pub channel_fetch_limit: usize,
    /// Most channels one connection listens to.
    pub max_channel_listens: usize,
    /// Largest sealed channel post in bytes.
    pub max_channel_post_bytes: usize,
    /// Bytes of one message available to a `channel_posts` answer besides
    /// the frame (metadata and posts share it).
    pub channel_page_bytes: usize,
}

impl Limits {
    /// The limits of a (validated) configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            pow_difficulty: config.pow_difficulty,
            envelope_ttl_ms: config.envelope_ttl_secs.saturating_mul(1000),
            link_code_ttl_ms: config.link_code_ttl_secs.saturating_mul(1000),
            max_key_packages_per_device: config.max_key_packages_per_device,
            max_key_package_bytes: config.max_key_package_bytes,
            max_group_devices: config.max_group_devices,
            max_group_info_bytes: config.max_group_info_bytes,
            max_payload_bytes: config
                .max_message_bytes
                .saturating_sub(FRAME_OVERHEAD + ENVELOPE_OVERHEAD),
            delivery: DeliveryLimits::new(config.deliver_batch, config.max_message_bytes),
            org_claim_code_ttl_ms: config.org_claim_code_ttl_secs.saturating_mul(1000),
            max_profile_bytes: config.max_profile_bytes,
            max_invite_ttl_ms: config.max_invite_ttl_secs.saturating_mul(1000),
            max_blob_bytes: config.max_blob_bytes,
            blob_chunk_bytes: config.blob_chunk_bytes,
            blob_ttl_ms: config.blob_ttl_secs.saturating_mul(1000),
            upload_ttl_ms: config.upload_ttl_secs.saturating_mul(1000),
            blob_quota_bytes: config.blob_quota_bytes,
            max_channel_retention_days: config.max_channel_retention_days,
            channel_fetch_limit: config.channel_fetch_limit,
            max_channel_listens: config.max_channel_listens,
            max_channel_post_bytes: config.max_channel_post_bytes(),
            channel_page_bytes: config
                .max_message_bytes
                .saturating_sub(crate::config::BLOB_FRAME_OVERHEAD),
        }
    }
}

/// Request handling shared by all connections.
pub struct Relay {
    store: Arc<dyn Store>,
    flusher: Flusher,
    registry: Arc<DeliveryRegistry>,
    limits: Limits,
    register_limiter: KeyedLimiter<IpKey>,
    claim_limiter: KeyedLimiter<DeviceId>,
    /// Attempts at admin, org-admin and invitation codes, per device.
    code_limiter: KeyedLimiter<DeviceId>,
    /// Attachment files.
    blobs: Arc<BlobFiles>,
    /// Blobs with a request (or the sweeper) working on their file right
    /// now; a second request for the same blob is answered `unavailable`
    /// instead of interleaving writes. Holds only in-flight requests.
    busy_blobs: Mutex<HashSet<BlobId>>,
    /// `<data_dir>/admin-claim.code`, deleted once the code is used.
    admin_code_path: PathBuf,
    /// Connections listening for live channel posts (memory only).
    listeners: Arc<ChannelListeners>,
    /// Aggregate counters for `/metrics`.
    metrics: Arc<Metrics>,
    /// The retention periods in force (configuration and admin overrides).
    retention: Retention,
    /// Steps of clock skew accepted for second-factor codes.
    totp_skew_steps: u64,
    /// Held shared by every request and sweep while it runs, exclusively by
    /// an online backup while it takes its consistent snapshot.
    write_gate: Arc<tokio::sync::RwLock<()>>,
    /// Staged online backups.
    backups: backup::BackupStaging,
    /// Per-account and per-IP limits on sends, claims, uploads and channel
    /// pulls; checked by the connection, which knows the client's address.
    request_limiters: RequestLimiters,
    /// Refuses writes while the data directory's filesystem is nearly full.
    disk: DiskGuard,
    /// Web Push: settings, VAPID key and the wake-up queue.
    push: Arc<Push>,
    /// The web app's address (`public_url`, no trailing `/`; empty when
    /// not configured), answered to `server_info`.
    public_url: String,
    /// `code_rate_per_minute`, for the cluster-wide count of code attempts.
    code_rate_per_minute: u32,
    /// The other nodes on the same database, if any ([`cluster`]).
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

/// A write that is stored in memory but not yet durable, with the answer
/// it gets once it is. Sending that answer before [`Relay::complete`]
/// returned would acknowledge something a crash could still lose.
#[derive(Debug)]
#[must_use = "a stored write must be completed before it is answered"]
pub struct Unflushed {
    response: Response,
    /// Devices to wake once the write is durable.
    wake: Vec<DeviceId>,
    /// Whether the sender marked it worth a notification: offline devices
    /// among `wake` with a push subscription get a Web Push wake-up.
    notify: bool,
}

/// What handling a request produced.
#[derive(Debug)]
pub enum Handled {
    /// The answer, ready to send.
    Answer(Result<Response, RelayError>),
    /// A stored write to answer after [`Relay::complete`].
    Unflushed(Unflushed),
}

/// Normalises a typed link code: upper case, without spaces or dashes, so
/// that `abcd-efgh` and `ABCDEFGH` are the same code.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The SHA-256 of a normalised code; only this is ever stored.
pub(crate) fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(normalise_code(code).as_bytes()).into()
}

impl Relay {
    /// A relay over `store` with the configuration's limits.
    pub fn new(
        store: Arc<dyn Store>,
        flusher: Flusher,
        registry: Arc<DeliveryRegistry>,
        blobs: BlobFiles,
        config: &Config,
        push: Arc<Push>,
    ) -> Self {
        let retention = Retention::from_config(config);
        retention.load(store.as_ref());
        Self {
            store,
            flusher,
            registry,
            limits: Limits::from_config(config),
            code_limiter: KeyedLimiter::per_minute(
                config.code_rate_per_minute,
                config.rate_limit_max_keys,
            ),
            blobs: Arc::new(blobs),
            busy_blobs: Mutex::new(HashSet::new()),
            admin_code_path: config.data_dir.join(ADMIN_CLAIM_FILE),
            listeners: ChannelListeners::new(),
            metrics: Arc::new(Metrics::default()),
            retention,
            totp_skew_steps: config.totp_skew_steps,
            write_gate: Arc::new(tokio::sync::RwLock::new(())),
            backups: backup::BackupStaging::from_config(config),
            request_limiters: RequestLimiters::from_config(config),
            disk: DiskGuard::new(config.data_dir.clone(), config.min_free_disk_bytes),
            push,
            public_url: config.public_url().to_string(),
            code_rate_per_minute: config.code_rate_per_minute,
            cluster: std::sync::OnceLock::new(),
            register_limiter: KeyedLimiter::per_minute(
                config.register_rate_per_minute,
                config.rate_limit_max_keys,
            ),
            claim_limiter: KeyedLimiter::per_minute(
                config.claim_rate_per_minute,
                config.rate_limit_max_keys,
            ),
        }
    }

    /// Web Push (for its sender task and its counts).
    pub fn push(&self) -> &Arc<Push> {
        &self.push
    }

    /// The wake-up registry of connected devices.
    pub fn registry(&self) -> &Arc<DeliveryRegistry> {
        &self.registry
    }

    /// The aggregate counters served on `/metrics`.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The per-account and per-IP request limits.
    pub fn request_limiters(&self) -> &RequestLimiters {
        &self.request_limiters
    }

    /// The free-space guard of the data directory.
    pub fn disk_guard(&self) -> &DiskGuard {
        &self.disk
    }

    /// Connections listening for live channel posts right now (cheap).
    pub fn channel_listener_count(&self) -> u64 {
        self.listeners.connections() as u64
    }

    /// The write gate: whoever changes the store or the data directory
    /// holds it shared (requests, sweeps); an online backup holds it
    /// exclusively while it snapshots.
    pub fn write_gate(&self) -> &Arc<tokio::sync::RwLock<()>> {
        &self.write_gate
    }

    /// The enforced limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store (for delivery and the sweeper).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Registers a connection for `device`'s wake-ups.
    pub fn subscribe(&self, device: DeviceId) -> Subscription {
        self.registry.subscribe(device)
    }

    /// A connection's (empty) set of listened channels, writing posts into
    /// `wire`.
    pub fn channel_listens(&self, wire: Arc<crate::wire::Wire>) -> Listens {
        self.listeners.connection(wire)
    }

    /// Aggregate channel counts for operators: stored channels and posts,
    /// and connections listening for live posts. Scans the store; call it
    /// rarely and off the async threads.
    pub fn channel_stats(&self) -> Result<ChannelStats, StoreError> {
        let counts = self.store.channel_counts()?;
        Ok(ChannelStats {
            channels: counts.channels,
            posts: counts.posts,
            listening_connections: self.listeners.connections() as u64,
        })
    }

    /// Handles a request that needs no account (public information,
    /// reading channels and their photos); `None` when `request` is not one of them.
    /// `channel_listen` is handled by the session, which holds the
    /// connection's registrations.
    pub async fn handle_public(&self, request: &Request) -> Option<Result<Response, RelayError>> {
        Some(match request {
            Request::Ping => Ok(Response::Pong),
            Request::PushKey => Ok(self.push_key()),
            Request::ServerInfo => Ok(Response::ServerInfo {
                public_url: Some(self.public_url.clone()).filter(|url| !url.is_empty()),
            }),
            Request::OrgDirectory { handle } => self.org_directory(handle),
            Request::ChannelFetch { channel, after, limit } => {
                self.channel_fetch(channel, *after, *limit)
            }
            // A channel post's photos, for followers without an account
            // (issue 16): a blob is found only by its random id, which only
            // the post's readers know, and is ciphertext under the key in
            // the post; downloading needed no account check before either.
            Request::DownloadChunk { blob, index } => self.download_chunk(blob, *index).await,
            _ => return None,
        })
    }

    /// Forgets rate-limit state that no longer matters (called by the
    /// sweeper). Returns the IP buckets and device buckets left.
    pub fn prune_rate_limits(&self, now: Instant) -> (usize, usize) {
        let devices = self.claim_limiter.prune(now)
            + self.code_limiter.prune(now)
            + self.request_limiters.prune(now)
            + self.cluster.get().map_or(0, |c| c.limits().prune(now));
        (self.register_limiter.prune(now), devices)
    }

    /// Waits for durability of everything written so far.
    async fn durable(&self) -> Result<(), RelayError> {
        self.flusher.flush().await.map_err(RelayError::from)
    }

    /// Answers a commit the store ordered (a member's or an external
    /// join's): once it is durable, wakes the devices it was queued for.
    async fn commit_accepted(&self, outcome: CommitOutcome) -> Result<Response, RelayError> {
        self.durable().await?;
        self.wake_stored(&outcome.recipients);
        Ok(Response::CommitAccepted { epoch: outcome.epoch })
    }

    /// Creates an account. `nonce` is the connection's (already consumed) challenge.
    pub async fn register(
        &self,
        client: IpKey,
        nonce: &[u8],
        identity_key: &IdentityKey,
        signature: &Signature,
        pow_nonce: u64,
    ) -> Result<Identity, RelayError> {
        // Account creation writes: it waits while a backup snapshots.
        let _gate = self.write_gate.read().await;
        self.register_limiter.check(&client, Instant::now())?;
        if !pow_valid(nonce, identity_key, pow_nonce, self.limits.pow_difficulty) {
            return Err(RelayError::PowInvalid);
        }
        identity_key
            .verify(&register_message(nonce, identity_key), signature)
            .map_err(|_| RelayError::AuthFailed)?;
        let (account, device) = self.store.create_account(identity_key, unix_ms())?;
        self.durable().await?;
        Ok(Identity { account, device })
    }

    /// Authenticates an existing device. Returns its identity and
    /// KeyPackage status.
    pub async fn login(
        &self,
        nonce: &[u8],
        device: &DeviceId,
        signature: &Signature,
    ) -> Result<(Identity, Response), RelayError> {
        let record = self.store.device(device)?.ok_or(RelayError::AuthFailed)?;
        record
            .identity_key
            .verify(&login_message(nonce, device), signature)
            .map_err(|_| RelayError::AuthFailed)?;
        // Checked after the signature so that only the device's owner learns
        // that it is blocked.
        if record.blocked {
            return Err(RelayError::Refused(RefusalReason::DeviceBlocked));
        }
        let status = self.store.key_package_status(device)?;
        let identity = Identity { account: record.account, device: *device };
        let response = Response::LoggedIn {
            account: record.account,
            key_packages_left: status.one_time,
            has_last_resort: status.last_resort,
        };
        Ok((identity, response))
    }

    /// Adds a device to an account with a link code.
    pub async fn link(
        &self,
        client: IpKey,
        nonce: &[u8],
        code: &str,
        identity_key: &IdentityKey,
        signature: &Signature,
    ) -> Result<Identity, RelayError> {
        // Linking writes: it waits while a backup snapshots.
        let _gate = self.write_gate.read().await;
        self.register_limiter.check(&client, Instant::now())?;
        // The signature covers the code exactly as the client sent it.
        let signed =
            identity_key.verify(&link_message(nonce, identity_key, code), signature).is_ok();
        let outcome = self.store.redeem_link_code(
            &code_hash(code),
            signed.then_some(identity_key),
            unix_ms(),
        )?;
        // Durable in both cases: a consumed code must stay consumed.
        self.durable().await?;
        match outcome {
            LinkOutcome::Linked { account, device } => Ok(Identity { account, device }),
            LinkOutcome::Consumed => Err(RelayError::AuthFailed),
        }
    }

    /// Handles a request of an authenticated connection that has not
    /// passed a second factor.
    pub async fn handle(&self, me: &Identity, request: Request) -> Result<Response, RelayError> {
        self.handle_elevated(me, &mut Elevation::default(), request).await
    }

    /// Handles a request of an authenticated connection; `elevation` is
    /// the connection's second-factor state, kept for its lifetime.
    pub async fn handle_elevated(
        &self,
        me: &Identity,
        elevation: &mut Elevation,
        request: Request,
    ) -> Result<Response, RelayError> {
        match self.handle_pipelined(me, elevation, request).await {
            Handled::Answer(result) => result,
            Handled::Unflushed(write) => self.complete(write).await,
        }
    }

    /// Handles a request of an authenticated connection like
    /// [`Relay::handle_elevated`], except that the hot-path writes (`send`
    /// and `ack`) return as soon as they are stored in memory, as
    /// [`Handled::Unflushed`]: the connection may then read its next request
    /// while this one waits for the group commit in [`Relay::complete`].
    /// Every write of one connection is still stored in the order its
    /// requests arrived; only the answers wait.
    pub async fn handle_pipelined(
        &self,
        me: &Identity,
        elevation: &mut Elevation,
        request: Request,
    ) -> Handled {
        match request {
            Request::Send { group, message } => {
                self.staged(me, |relay| relay.store_send(me, &group, &message, false)).await
            }
            Request::SendNotify { group, message } => {
                self.staged(me, |relay| relay.store_send(me, &group, &message, true)).await
            }
            Request::Ack { ids } => {
                self.staged(me, |relay| {
                    let removed = relay.store.ack(&me.device, &ids)?;
                    relay.metrics.envelopes_delivered(u64::from(removed));
                    Ok(Unflushed {
                        response: Response::Acked { removed },
                        wake: Vec::new(),
                        notify: false,
                    })
                })
                .await
            }
            other => Handled::Answer(self.handle_now(me, elevation, other).await),
        }
    }

    /// Waits until `write` is durable, wakes the devices it was stored
    /// for and returns its answer.
    pub async fn complete(&self, write: Unflushed) -> Result<Response, RelayError> {
        self.durable().await?;
        if !write.wake.is_empty() {
            self.wake_stored(&write.wake);
            if write.notify {
                self.push.wake_offline(&write.wake, &self.registry, self.store.as_ref());
            }
        }
        Ok(write.response)
    }

    /// Runs a hot-path write under the same admission as every other
    /// request (write gate, blocked or deleted device). The gate is held
    /// only while the write runs: an online backup's snapshot reads the
    /// store's memory, so a write that finished before it is in the
    /// snapshot whether or not its flush has happened yet.
    async fn staged(
        &self,
        me: &Identity,
        write: impl FnOnce(&Self) -> Result<Unflushed, RelayError>,
    ) -> Handled {
        let _gate = self.write_gate.read().await;
        if let Err(err) = self.check_device(me) {
            return Handled::Answer(Err(err));
        }
        match write(self) {
            Ok(write) => Handled::Unflushed(write),
            Err(err) => Handled::Answer(Err(err)),
        }
    }

    /// Refuses a device blocked while connected from its next request on
    /// (one in-memory key lookup; the connection also stops delivery), and a
    /// device whose account another of its connections deleted.
    fn check_device(&self, me: &Identity) -> Result<(), RelayError> {
        match self.store.device(&me.device)? {
            Some(record) if record.blocked => {
                Err(RelayError::Refused(RefusalReason::DeviceBlocked))
            }
            Some(_) => Ok(()),
            // A device of a deleted account, or one removed from its
            // account's signed device list (on every request of a
            // connection that was open when that happened).
            None => Err(RelayError::Refused(RefusalReason::DeviceRemoved)),
        }
    }

    /// Handles every authenticated request but the hot-path writes, waiting
    /// for durability before it returns.
    async fn handle_now(
        &self,
        me: &Identity,
        elevation: &mut Elevation,
        request: Request,
    ) -> Result<Response, RelayError> {
        // Every request holds the write gate until it has answered, so an
        // online backup sees each change whole or not at all. The backup's
        // own request must not: it takes the gate exclusively.
        let _gate = match &request {
            Request::Admin {
                action: stadtbote_protocol::frame::AdminAction::BackupStart { .. },
                ..
            } => None,
            _ => Some(self.write_gate.read().await),
        };
        self.check_device(me)?;
        match request {
            Request::Register { .. } | Request::Login { .. } | Request::Link { .. } => {
                Err(RelayError::AlreadyAuthenticated)
            }
            Request::Ping
            | Request::PushKey
            | Request::ServerInfo
            | Request::OrgDirectory { .. }
            | Request::ChannelFetch { .. } => self
                .handle_public(&request)
                .await
                .unwrap_or(Err(RelayError::InvalidRequest("not a public request"))),
            Request::CreateLinkCode => self.create_link_code(me).await,
            Request::ListDevices { account } => self.list_devices(&account),
            Request::UploadKeyPackages { one_time, last_resort } => {
                self.upload_key_packages(me, &one_time, last_resort.as_deref().map(Vec::as_slice))
                    .await
            }
            Request::ClaimKeyPackages { account } => self.claim_key_packages(me, &account).await,
            Request::Commit { group, epoch, commit, add, remove, welcome, statement, create } => {
                let claim = membership::Claim {
                    group: &group,
                    epoch,
                    commit: &commit,
                    add: &add,
                    remove: &remove,
                    proof: statement.as_ref(),
                };
                self.commit(me, claim, welcome.as_deref().map(Vec::as_slice), create.as_ref()).await
            }
            // Answered by `handle_pipelined` before this match is reached.
            Request::Send { .. } | Request::SendNotify { .. } | Request::Ack { .. } => {
                Err(RelayError::InvalidRequest("not handled here"))
            }
            Request::PushSubscribe { endpoint, p256dh, auth } => {
                self.push_subscribe(me, &endpoint, &p256dh, &auth).await
            }
            Request::PushUnsubscribe => self.push_unsubscribe(me).await,
            Request::ClaimDeviceKeyPackages { devices } => {
                self.claim_device_key_packages(me, &devices).await
            }
            Request::SetGroupExpiry { group, expires_at, org } => {
                self.set_group_expiry(me, &group, expires_at, org.as_ref()).await
            }
            Request::AdminClaim { code, totp_secret } => {
                let secret = totp_secret.as_deref().map(|s| s.as_slice());
                let result = self.admin_claim(me, &code, secret).await;
                // A device over its code limit leaves no entry.
                if matches!(result, Err(RelayError::RateLimited { .. })) {
                    return result;
                }
                self.audited(me, "none", "admin.claim", None, result).await
            }
            Request::SecondFactor { otp } => self.second_factor(me, &otp, elevation).await,
            Request::OrgSecondFactorEnable { org, secret } => {
                self.org_second_factor_enable(me, &org, &secret, elevation).await
            }
            Request::AccountExport => self.account_export(me),
            Request::AccountDelete => self.account_delete(me).await,
            Request::Admin { otp, action } => {
                self.admin(me, otp.as_deref(), elevation, action).await
            }
            Request::OrgClaim { code, org_key, proof } => {
                self.org_claim(me, &code, &org_key, &proof).await
            }
            Request::OrgPublish { org, profile } => {
                let run = self.org_publish(me, &org, &profile);
                self.org_admin_action(me, &org, "org.publish", elevation, run).await
            }
            Request::OrgCreateInvite { org, invite } => {
                let run = self.org_create_invite(me, &org, &invite);
                self.org_admin_action(me, &org, "org.invite", elevation, run).await
            }
            Request::Enroll { invite_id, binding } => self.enroll(me, &invite_id, &binding).await,
            Request::OrgRevoke { org, revocations } => {
                let run = self.org_revoke(me, &org, &revocations);
                self.org_admin_action(me, &org, "org.revoke", elevation, run).await
            }
            Request::OrgApprove { org, staff_list, approvals } => {
                let run = self.org_approve(me, &org, &staff_list, &approvals);
                self.org_admin_action(me, &org, "org.approve", elevation, run).await
            }
            Request::OrgRotateKey { org, rotation, profile, staff_list, staff, revocations } => {
                let signed = RotationSigned {
                    rotation: &rotation,
                    profile: &profile,
                    staff_list: &staff_list,
                    revocations: revocations.as_deref(),
                };
                let run = self.org_rotate_key(me, &org, signed, &staff);
                self.org_admin_action(me, &org, "org.rotate_key", elevation, run).await
            }
            Request::UploadStart { size } => self.upload_start(me, size).await,
            Request::UploadChunk { blob, index, data } => {
                self.upload_chunk(me, &blob, index, data.into_vec()).await
            }
            Request::UploadStatus { blob } => self.upload_status(me, &blob),
            Request::UploadFinish { blob } => self.upload_finish(me, &blob).await,
            Request::DownloadChunk { blob, index } => self.download_chunk(&blob, index).await,
            Request::ChannelCreate { org, channel, meta, retention_days } => {
                self.channel_create(me, &org, &channel, &meta, retention_days).await
            }
            Request::ChannelUpdate { channel, meta, key_epoch } => {
                self.channel_update(me, &channel, &meta, key_epoch).await
            }
            Request::ChannelPost { channel, prev_seq, post } => {
                self.channel_post(me, &channel, prev_seq, &post).await
            }
            Request::GroupInfoPut { group, token_hash, info, org } => {
                self.group_info_put(me, &group, &token_hash, &info, org.as_ref()).await
            }
            Request::GroupInfoGet { group, token } => self.group_info_get(me, &group, &token),
            Request::ExternalJoin { group, epoch, commit, token } => {
                self.external_join(me, &group, epoch, &commit, &token).await
            }
            Request::PublishDeviceList { list } => self.publish_device_list(me, &list).await,
            Request::LinkSlotPut { slot, data } => self.link_slot_put(me, &slot, &data).await,
            Request::LinkSlotTake { slot } => self.link_slot_take(me, &slot).await,
            _ => Err(RelayError::Refused(RefusalReason::RequestNotSupported)),
        }
    }

    async fn create_link_code(&self, me: &Identity) -> Result<Response, RelayError> {
        let mut raw = [0u8; LINK_CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let code = BASE32_NOPAD.encode(&raw);
        let expires_at = unix_ms().saturating_add(self.retention.ms(RetentionKind::LinkCodes));
        // Only the hash is stored: a copy of the database does not reveal
        // codes that are still valid.
        self.store.create_link_code(&code_hash(&code), &me.account, expires_at)?;
        self.durable().await?;
        Ok(Response::LinkCode { code, expires_at })
    }

    async fn upload_key_packages(
        &self,
        me: &Identity,
        one_time: &[serde_bytes::ByteBuf],
        last_resort: Option<&[u8]>,
    ) -> Result<Response, RelayError> {
        let limit = self.limits.max_key_package_bytes;
        if one_time.iter().any(|p| p.len() > limit) || last_resort.is_some_and(|p| p.len() > limit)
        {
            return Err(RelayError::TooLarge("a KeyPackage exceeds max_key_package_bytes"));
        }
        if one_time.iter().any(|p| p.is_empty()) || last_resort.is_some_and(<[u8]>::is_empty) {
            return Err(RelayError::InvalidRequest("empty KeyPackage"));
        }
        let packages: Vec<&[u8]> = one_time.iter().map(|p| p.as_slice()).collect();
        let one_time_left = self.store.upload_key_packages(
            &me.device,
            &packages,
            last_resort,
            self.limits.max_key_packages_per_device,
        )?;
        self.durable().await?;
        Ok(Response::KeyPackagesStored { one_time_left })
    }

    async fn claim_key_packages(
        &self,
        me: &Identity,
        account: &AccountId,
    ) -> Result<Response, RelayError> {
        self.check_claim_limit(&me.device)?;
        let packages = self.store.claim_key_packages(account, &me.device)?;
        // Claimed one-time packages are deleted; that deletion must be durable
        // before the packages are handed out, or a crash could hand them out again.
        self.durable().await?;
        Ok(Response::KeyPackages { packages })
    }

    async fn claim_device_key_packages(
        &self,
        me: &Identity,
        devices: &[DeviceId],
    ) -> Result<Response, RelayError> {
        // A claim prepares adding these devices to one group, which can hold
        // no more than this anyway.
        if devices.len() > self.limits.max_group_devices {
            return Err(RelayError::TooLarge("more devices than max_group_devices"));
        }
        // The same bucket as claims by account: both drain KeyPackages.
        self.check_claim_limit(&me.device)?;
        let packages = self.store.claim_device_key_packages(devices, &me.device)?;
        self.durable().await?;
        Ok(Response::KeyPackages { packages })
    }

    async fn set_group_expiry(
        &self,
        me: &Identity,
        group: &GroupId,
        expires_at: u64,
        org: Option<&stadtbote_protocol::OrgId>,
    ) -> Result<Response, RelayError> {
        let now = unix_ms();
        if expires_at <= now {
            return Err(RelayError::InvalidRequest("the expiry must be in the future"));
        }
        let moderator_of = match org {
            Some(org) if self.is_staff(me, org, now)? => Some(org),
            _ => None,
        };
        let in_force = self.store.set_group_expiry(group, &me.device, expires_at, moderator_of)?;
        self.durable().await?;
        Ok(Response::GroupExpirySet { expires_at: in_force })
    }

    async fn commit(
        &self,
        me: &Identity,
        claim: membership::Claim<'_>,
        welcome: Option<&[u8]>,
        create: Option<&GroupCreation>,
    ) -> Result<Response, RelayError> {
        let membership::Claim { group, epoch, commit, add, remove, .. } = claim;
        if commit.is_empty() {
            return Err(RelayError::InvalidRequest("empty commit"));
        }
        if add.is_empty() != welcome.is_none() {
            return Err(RelayError::InvalidRequest("a welcome is required exactly when adding"));
        }
        let max = self.limits.max_payload_bytes;
        if commit.len() > max || welcome.is_some_and(|w| w.len() > max) {
            return Err(RelayError::TooLarge("commit or welcome exceeds the message limit"));
        }
        if welcome.is_some_and(<[u8]>::is_empty) {
            return Err(RelayError::InvalidRequest("empty welcome"));
        }
        // Checked before the group is looked at, so that these refusals
        // say nothing about whether it exists.
        self.check_membership_claim(me, &claim)?;
        // New groups only with a random id: a 1:1 conversation id derived
        // from the two account ids ([`GroupCreation::Conversation`]) would
        // name the pair in every envelope's clear MLS header. Groups created
        // that way before keep working (they are past epoch 0).
        let may_create = create.is_some_and(|c| {
            matches!(c, GroupCreation::Random { .. }) && c.permits(&me.account, group)
        });
        let now = unix_ms();
        let outcome = self.store.commit(CommitInput {
            group,
            caller: &me.device,
            epoch,
            commit,
            add,
            remove,
            welcome,
            now_ms: now,
            expires_at_ms: now.saturating_add(self.retention.ms(RetentionKind::Envelopes)),
            max_members: self.limits.max_group_devices,
            may_create,
        })?;
        self.commit_accepted(outcome).await
    }

    /// Stores one application message for every other member device of
    /// `group`; durable and delivered only after [`Relay::complete`].
    fn store_send(
        &self,
        me: &Identity,
        group: &GroupId,
        message: &[u8],
        notify: bool,
    ) -> Result<Unflushed, RelayError> {
        if message.is_empty() {
            return Err(RelayError::InvalidRequest("empty message"));
        }
        if message.len() > self.limits.max_payload_bytes {
            return Err(RelayError::Refused(RefusalReason::MessageTooLarge));
        }
        let now = unix_ms();
        let recipients = self.store.send(
            group,
            &me.device,
            message,
            now,
            now.saturating_add(self.retention.ms(RetentionKind::Envelopes)),
        )?;
        self.metrics.envelopes_stored(recipients.len() as u64, message.len() as u64);
        let count = u32::try_from(recipients.len()).unwrap_or(u32::MAX);
        Ok(Unflushed { response: Response::Stored { recipients: count }, wake: recipients, notify })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage failure is never answered like a refusal, and the codes
    /// stay those of earlier releases (a full disk included).
    #[test]
    fn storage_failures_and_refusals_keep_their_answers() {
        let full = StoreError::unavailable(std::io::Error::from_raw_os_error(28));
        assert!(matches!(full, StoreError::Storage(StorageError::Full(_))));
        assert_eq!(RelayError::from(full), RelayError::StorageUnavailable);
        let broken = StoreError::unavailable(std::io::Error::other("connection lost"));
        assert_eq!(RelayError::from(broken), RelayError::StorageUnavailable);
        assert_eq!(RelayError::from(StoreError::contention()), RelayError::Unavailable);
        assert_eq!(RelayError::from(StoreError::corrupt("groups")), RelayError::Internal);
        assert_eq!(
            RelayError::from(StoreError::StaleEpoch { current: 4 }),
            RelayError::StaleEpoch { current: 4 }
        );
        assert_eq!(RelayError::from(StoreError::UnknownGroup), RelayError::NotAMember);
        assert_eq!(RelayError::from(StoreError::QuotaExceeded), RelayError::QuotaExceeded);
    }

    #[test]
    fn link_codes_are_normalised_before_hashing() {
        assert_eq!(code_hash("abcd-efgh ijkl"), code_hash("ABCDEFGHIJKL"));
        assert_ne!(code_hash("ABCDEFGHIJKL"), code_hash("ABCDEFGHIJKM"));
    }

    #[test]
    fn payload_limit_leaves_room_for_delivery() {
        let limits = Limits::from_config(&Config::default());
        assert!(limits.max_payload_bytes + FRAME_OVERHEAD + ENVELOPE_OVERHEAD <= 262_144);
        assert!(limits.delivery.max_bytes >= limits.max_payload_bytes / 2);
    }
}
