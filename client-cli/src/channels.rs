//! Broadcast channels: publishing (staff devices) and following (anyone,
//! no account needed).
//!
//! * A **publisher** is a staff device whose certificate role is publisher
//!   or admin. Its channels (id, current key and epoch, metadata, the last
//!   post it knows) live in `state.cbor` ([`PublishedChannel`]). Posting
//!   always re-reads the channel's tail from the server first, because
//!   another publisher device may have posted since.
//! * A **follower** needs only the invite link (it carries the org key), so
//!   following works on a home that never ran `init`: follows live in their
//!   own file `follows.cbor` ([`Follow`]), the home is opened without an
//!   identity ([`Home::open_or_create`]) and the connection is never logged
//!   in. `init` on such a home still works: it only refuses homes that hold
//!   an identity.
//!
//! The chain rule ([`follow_chain`], pure and unit-tested) decides what a
//! follower shows: a post is shown only after it opened with a channel key,
//! its signature and staff certificate verified against the org key from
//! the invite (and the org's revocation list), its number is the server's
//! sequence number and its `prev` is the hash of the post before it. The
//! cursor (last seq + hash) only ever moves over such posts, so a post that
//! was rejected, or sealed with a key this follower does not have yet, is
//! looked at again by the next `feed`.
//!
//! A follower trusts the server for nothing it can check itself:
//!
//! * **Missing posts.** Posts missing after the cursor are "expired" only
//!   when they can be: older than the channel's retention, which the
//!   follower keeps from the publisher-signed metadata ([`Follow::retention_days`]).
//!   Their age is bounded by signed times: the next post's `prev_posted_at`,
//!   the last verified post's `posted_at`, the channel's `created_at`.
//!   Otherwise they are *withheld*: reported, and the cursor stays before
//!   them, so a later honest fetch still delivers them.
//! * **Revocations.** The newest org-signed revocation list verified for an
//!   org is kept in `follows.cbor` ([`KnownRevocations`]); a server answer
//!   with no list or an older one is refused ([`ClientError::RevocationListWithheld`]),
//!   and posts by a device on the kept list are reported as revoked. The
//!   org-signed staff list's revocations count too; its newest version is
//!   kept the same way ([`KnownStaffList`]).
//! * **Org key rotations.** A follower pins the org key of its first invite
//!   link and follows the org's signed rotation chain from it, keeping the
//!   chain it accepted ([`KnownOrgKey`]); a chain that does not extend it
//!   or does not lead from the pinned key is refused. Posts are verified
//!   against the chain's keys ([`channel::open_post_along`]): the current
//!   key, and each earlier one for posts dated before it was replaced.

use stadtbote_client::clock::Clock;
use stadtbote_client::commit::{Attempt, CommitRace, commit_with_retry};
use stadtbote_client::storage::Storage;
use stadtbote_client::transport::Connector;
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::channel::{
    self, CHANNEL_VERSION, ChannelError, ChannelInvite, ChannelKey, ChannelMeta, GENESIS, PostBody,
    Replies, VerifiedPost,
};
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org::{RevocationList, Role, StaffCertificate, StaffList};
use stadtbote_protocol::org_rotation::{OrgKeys, SignedRotation, org_keys};
use stadtbote_protocol::{ChannelId, DeviceId, ErrorBody, ErrorCode, OrgId, Request, Response};

use crate::clock::SystemClock;
use crate::connection::Connection;
use crate::device_store::{DeviceStore, Loaded};
use crate::error::ClientError;
use crate::home::{Home, IDENTITY_FILE};
use crate::invalid_input::InvalidReason as R;
use crate::pinning::{OrgPin, verify_directory};
use crate::session::{Client, unexpected};
use stadtbote_client::connection::Connection as CoreConnection;
use stadtbote_client::transport::Transport;

/// The follows file.
pub const FOLLOWS_FILE: &str = "follows.cbor";
/// Version of the follows file format. Version 1 (before followers kept
/// revocation lists and the signed retention) is read and upgraded.
pub const FOLLOWS_VERSION: u16 = 2;
/// Posts are called withheld rather than expired unless older than the
/// retention minus this margin: publisher, server and follower clocks may
/// differ by minutes, and an honest expiry must never look like an attack.
pub const EXPIRY_CLOCK_MARGIN_MS: u64 = 60 * 60 * 1000;
/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;
/// Days the server keeps a post unless the publisher says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Posts asked for per `ChannelFetch`.
pub const FETCH_LIMIT: u32 = 100;
/// How often a post is retried when other posts keep arriving first.
const POST_ATTEMPTS: usize = 4;
/// Characters of a post quoted in a private reply.
const QUOTE_CHARS: usize = 80;

/// A channel this staff device publishes to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedChannel {
    /// The channel.
    pub channel: ChannelId,
    /// The org.
    pub org: OrgId,
    /// The org's handle.
    pub handle: String,
    /// The current key (secret).
    pub key: ByteBuf,
    /// The current key epoch.
    pub key_epoch: u32,
    /// The metadata as last sealed.
    pub meta: ChannelMeta,
    /// The last post this device knows of (0 for none).
    pub last_seq: u64,
    /// Its hash.
    pub last_hash: Option<ByteBuf>,
}

impl std::fmt::Debug for PublishedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedChannel")
            .field("channel", &self.channel)
            .field("handle", &self.handle)
            .field("key_epoch", &self.key_epoch)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl PublishedChannel {
    /// The current channel key.
    pub fn channel_key(&self) -> Result<ChannelKey, ClientError> {
        ChannelKey::from_bytes(&self.key)
            .map_err(|source| ClientError::ChannelData { what: "key", source })
    }

    /// The invite link's content for the current key.
    pub fn invite(&self, org_key: IdentityKey) -> ChannelInvite {
        ChannelInvite {
            v: CHANNEL_VERSION,
            handle: self.handle.clone(),
            org: self.org,
            org_key,
            channel: self.channel,
            key_epoch: self.key_epoch,
            key: self.key.clone(),
        }
    }
}

/// Where a follower is in a channel's hash chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last post verified (0 for none).
    pub last_seq: u64,
    /// Its hash; `None` before the first post, or when the chain restarts
    /// after expired posts (the next post's `prev` cannot be checked then;
    /// its signature and number still are).
    pub last_hash: Option<ByteBuf>,
    /// The signed `posted_at` of the last post verified (a lower bound for
    /// the age of every later post); `None` when unknown.
    #[serde(default)]
    pub last_posted_at: Option<u64>,
}

impl Cursor {
    fn prev(&self) -> Option<[u8; 32]> {
        if self.last_seq == 0 {
            return Some(GENESIS);
        }
        self.last_hash.as_ref().and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
    }
}

/// A followed channel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    /// The channel.
    pub channel: ChannelId,
    /// The org.
    pub org: OrgId,
    /// The org's handle.
    pub handle: String,
    /// The org key from the invite.
    pub org_key: IdentityKey,
    /// Channel keys by epoch (secret); older ones stay to read older posts.
    pub keys: BTreeMap<u32, ByteBuf>,
    /// Channel name from the verified metadata.
    pub name: String,
    /// Reply policy from the verified metadata.
    pub replies: Replies,
    /// Department receiving private replies.
    pub reply_department: Option<String>,
    /// Where the follower is.
    pub cursor: Cursor,
    /// When followed (Unix ms).
    pub followed_at: u64,
    /// Retention in days from the newest publisher-signed metadata verified
    /// (`None` in follows from before this was kept, until the next feed).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// The channel's signed creation time.
    #[serde(default)]
    pub created_at: Option<u64>,
    /// The `meta_version` of that metadata; older metadata is ignored.
    #[serde(default)]
    pub meta_version: u64,
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("channel", &self.channel)
            .field("handle", &self.handle)
            .field("name", &self.name)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Follow {
    /// The newest key epoch this follower holds.
    pub fn key_epoch(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    /// Takes name, reply policy and signed retention from verified
    /// metadata, unless it is older than what this follower already has
    /// (a server replaying metadata from before a rotation).
    fn take_meta(&mut self, meta: ChannelMeta) {
        if meta.meta_version < self.meta_version && self.retention_days.is_some() {
            return;
        }
        self.name = meta.name;
        self.replies = meta.replies;
        self.reply_department = meta.reply_department;
        self.retention_days = Some(meta.retention_days);
        self.created_at = Some(meta.created_at);
        self.meta_version = meta.meta_version;
    }

    fn channel_keys(&self) -> BTreeMap<u32, ChannelKey> {
        self.keys
            .iter()
            .filter_map(|(epoch, k)| ChannelKey::from_bytes(k).ok().map(|k| (*epoch, k)))
            .collect()
    }
}

/// The newest revocation list of an org this home verified (against the
/// org key from the invite link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownRevocations {
    /// The list's signed version.
    pub version: u64,
    /// Revoked devices.
    pub revoked: Vec<DeviceId>,
    /// When the org signed it (Unix ms).
    pub updated_at: u64,
}

/// The newest org-signed staff list of an org this home verified: only its
/// version and revocations matter to a follower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownStaffList {
    /// The list's signed version.
    pub version: u64,
    /// Devices the list revokes.
    pub revoked: Vec<DeviceId>,
}

/// The org key a follower pinned and the rotation chain it accepted since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownOrgKey {
    /// The org's current key as far as this home knows.
    pub key: IdentityKey,
    /// The rotation chain accepted (the next one served must extend it).
    pub chain: Vec<SignedRotation>,
}

/// Everything in `follows.cbor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowsFile {
    /// [`FOLLOWS_VERSION`].
    pub v: u16,
    /// Follows by channel.
    pub follows: BTreeMap<ChannelId, Follow>,
    /// The newest revocation list verified per org (never goes back).
    #[serde(default)]
    pub revocations: BTreeMap<OrgId, KnownRevocations>,
    /// The newest staff list verified per org (never goes back).
    #[serde(default)]
    pub staff_lists: BTreeMap<OrgId, KnownStaffList>,
    /// The org key and rotation chain followed per org (absent in files
    /// from before followers followed rotations: the follows' invite keys
    /// are the pins then).
    #[serde(default)]
    pub org_keys: BTreeMap<OrgId, KnownOrgKey>,
}

impl Default for FollowsFile {
    fn default() -> Self {
        FollowsFile {
            v: FOLLOWS_VERSION,
            follows: BTreeMap::new(),
            revocations: BTreeMap::new(),
            staff_lists: BTreeMap::new(),
            org_keys: BTreeMap::new(),
        }
    }
}

/// The version and revoked devices of an org-signed list a follower keeps
/// after the server presented one (see [`newest_revoked`]).
struct NewestRevoked {
    version: u64,
    revoked: Vec<DeviceId>,
    /// Taken from the presented list (not merged into the kept one).
    replaced: bool,
}

/// Decides between the kept and the presented version of an org-signed
/// list of revoked devices (revocation list or staff list), each as
/// `(version, revoked)`. `Ok(None)`: neither exists. `Err((kept version,
/// presented version))`: the presented one is missing or older, so the
/// server withholds or rolls back. The same version signed twice by the
/// org key cannot come from the server; every device either names is kept.
fn newest_revoked(
    kept: Option<(u64, &[DeviceId])>,
    presented: Option<(u64, Vec<DeviceId>)>,
) -> Result<Option<NewestRevoked>, (u64, Option<u64>)> {
    match (kept, presented) {
        (None, None) => Ok(None),
        (Some((version, _)), None) => Err((version, None)),
        (Some((version, _)), Some((offered, _))) if offered < version => {
            Err((version, Some(offered)))
        }
        (Some((version, kept)), Some((offered, list))) if offered == version => {
            let mut revoked = kept.to_vec();
            for device in list {
                if !revoked.contains(&device) {
                    revoked.push(device);
                }
            }
            Ok(Some(NewestRevoked { version, revoked, replaced: false }))
        }
        (_, Some((version, revoked))) => {
            Ok(Some(NewestRevoked { version, revoked, replaced: true }))
        }
    }
}

impl FollowsFile {
    /// Takes a revocation list the server presented for `org` (already
    /// verified against the org key) unless it would go backwards: `None`
    /// or an older version than the one kept is refused. Returns whether
    /// the kept list changed, and the revoked devices to check posts with.
    pub fn accept_revocations(
        &mut self,
        org: OrgId,
        handle: &str,
        presented: Option<RevocationList>,
    ) -> Result<(bool, Vec<DeviceId>), ClientError> {
        let kept = self.revocations.get(&org);
        let updated_at = presented.as_ref().map(|list| list.updated_at);
        let newest = newest_revoked(
            kept.map(|k| (k.version, k.revoked.as_slice())),
            presented.map(|list| (list.version, list.revoked)),
        )
        .map_err(|(pinned, presented)| ClientError::RevocationListWithheld {
            handle: handle.to_string(),
            pinned,
            presented: presented.map_or("no list".into(), |v| format!("version {v}")),
        })?;
        let Some(newest) = newest else { return Ok((false, Vec::new())) };
        let newest = KnownRevocations {
            version: newest.version,
            revoked: newest.revoked,
            updated_at: match (newest.replaced, kept) {
                (false, Some(kept)) => kept.updated_at,
                _ => updated_at.unwrap_or_default(),
            },
        };
        let changed = kept != Some(&newest);
        let revoked = newest.revoked.clone();
        self.revocations.insert(org, newest);
        Ok((changed, revoked))
    }

    /// Takes a staff list the server presented for `org` (already verified
    /// against the org key) unless it would go backwards, like
    /// [`FollowsFile::accept_revocations`]. Returns whether the kept list
    /// changed, and the devices it revokes.
    pub fn accept_staff_list(
        &mut self,
        org: OrgId,
        handle: &str,
        presented: Option<StaffList>,
    ) -> Result<(bool, Vec<DeviceId>), ClientError> {
        let kept = self.staff_lists.get(&org);
        let newest = newest_revoked(
            kept.map(|k| (k.version, k.revoked.as_slice())),
            presented.map(|list| (list.version, list.revoked)),
        )
        .map_err(|(seen, offered)| ClientError::StaffListRolledBack {
            handle: handle.to_string(),
            seen,
            offered: offered.map_or("no version".into(), |v| format!("version {v}")),
        })?;
        let Some(newest) = newest else { return Ok((false, Vec::new())) };
        let newest = KnownStaffList { version: newest.version, revoked: newest.revoked };
        let changed = kept != Some(&newest);
        let revoked = newest.revoked.clone();
        self.staff_lists.insert(org, newest);
        Ok((changed, revoked))
    }

    /// The key a follower checks `org`'s next directory answer from: the
    /// one it followed to, or `invite_key` when it followed none yet.
    fn pinned(&self, org: &OrgId, invite_key: IdentityKey) -> (IdentityKey, Vec<SignedRotation>) {
        self.org_keys
            .get(org)
            .map_or((invite_key, Vec::new()), |known| (known.key, known.chain.clone()))
    }

    /// The org keys posts of `org` are checked with: the followed chain's,
    /// or `invite_key` alone when none was followed yet.
    pub fn org_keys(&self, org: &OrgId, invite_key: &IdentityKey) -> OrgKeys {
        self.org_keys
            .get(org)
            .and_then(|known| org_keys(org, &known.chain, &known.key).ok())
            .unwrap_or_else(|| OrgKeys::single(*invite_key))
    }

    /// Takes a directory answer verified by [`presented_org`]: the followed
    /// key and chain, the revocation list and the staff list (neither may
    /// go backwards). Returns whether anything kept changed, and every
    /// device either list revokes.
    fn accept_org(
        &mut self,
        org: OrgId,
        handle: &str,
        presented: PresentedOrg,
    ) -> Result<(bool, Vec<DeviceId>), ClientError> {
        let (revocations_changed, mut revoked) =
            self.accept_revocations(org, handle, presented.revocations)?;
        let (list_changed, staff_revoked) =
            self.accept_staff_list(org, handle, presented.staff_list)?;
        let known = KnownOrgKey { key: presented.key, chain: presented.chain };
        let key_changed = self.org_keys.get(&org) != Some(&known);
        self.org_keys.insert(org, known);
        revoked.extend(staff_revoked);
        revoked.sort();
        revoked.dedup();
        Ok((revocations_changed || list_changed || key_changed, revoked))
    }
}

/// Reads `follows.cbor` (empty when missing; version 1 is upgraded in
/// memory and written as version 2 by the next save).
pub fn read_follows(home: &Home) -> Result<FollowsFile, ClientError> {
    if !home.exists(FOLLOWS_FILE) {
        return Ok(FollowsFile::default());
    }
    let mut file: FollowsFile = home.read_cbor(FOLLOWS_FILE)?;
    match file.v {
        // Version 1 lacks the kept revocation lists and signed retention:
        // the fields start empty and fill on the next `feed` (trust on
        // first use, as when following).
        1 => file.v = FOLLOWS_VERSION,
        FOLLOWS_VERSION => {}
        other => {
            return Err(ClientError::CorruptFile {
                file: home.path(FOLLOWS_FILE),
                reason: format!(
                    "unknown format version {other} (written by a newer stadtbote; update this one)"
                ),
            });
        }
    }
    Ok(file)
}

/// Finds a channel by full id or unambiguous prefix.
fn resolve<'a, T>(
    map: &'a BTreeMap<ChannelId, T>,
    text: &str,
) -> Result<(&'a ChannelId, &'a T), ClientError> {
    let wanted = text.trim().to_ascii_uppercase();
    let mut found = map.iter().filter(|(id, _)| id.to_string().starts_with(&wanted));
    match (found.next(), found.next()) {
        (Some(hit), None) if !wanted.is_empty() => Ok(hit),
        _ => Err(ClientError::UnknownChannel(text.to_string())),
    }
}

// ------------------------------------------------------------ chain rule

/// What kind of trouble a follower reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Posts missing (younger than the signed retention) or out of order.
    Withheld,
    /// Not signed by a certified publisher.
    Forged,
    /// Does not decrypt or decode under a key the follower has.
    Altered,
    /// Sealed with a newer key than the follower's.
    Rotated,
    /// Older posts removed by retention (a note, not an alarm).
    Expired,
    /// Signed by a publisher device the org has revoked (lost or stolen).
    Revoked,
}

impl WarningKind {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            WarningKind::Withheld => "withheld",
            WarningKind::Forged => "forged",
            WarningKind::Altered => "altered",
            WarningKind::Rotated => "rotated",
            WarningKind::Expired => "expired",
            WarningKind::Revoked => "revoked",
        }
    }
}

/// One thing `feed` reports about a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// A verified post.
    Post {
        /// Server sequence number (= the signed `n`).
        seq: u64,
        /// The post.
        post: Box<VerifiedPost>,
    },
    /// A problem (or the retention note).
    Warning {
        /// Which.
        kind: WarningKind,
        /// The post concerned (the first one of a range).
        seq: u64,
        /// The last post of the range (`seq` for one post).
        until: u64,
        /// The line to show, without `warning: `/`note: `.
        message: String,
    },
}

/// What [`follow_chain`] needs besides the posts.
#[derive(Debug)]
pub struct ChainContext<'a> {
    /// The channel.
    pub channel: ChannelId,
    /// Its name, for messages.
    pub name: &'a str,
    /// The org.
    pub org: OrgId,
    /// The org keys (the invite's, or the rotation chain followed from it).
    pub org_keys: &'a OrgKeys,
    /// Channel keys by epoch.
    pub keys: &'a BTreeMap<u32, ChannelKey>,
    /// Revoked staff devices (the newest list this home verified).
    pub revoked: &'a [DeviceId],
    /// The channel's retention in days from its signed metadata (`None`
    /// when unknown: then no missing post counts as expired).
    pub retention_days: Option<u32>,
    /// The channel's signed creation time.
    pub created_at: Option<u64>,
    /// Now (Unix ms).
    pub now: u64,
}

/// `#3` or `#3..#5`.
fn range(from: u64, until: u64) -> String {
    if from == until { format!("#{from}") } else { format!("#{from}..#{until}") }
}

/// Whether posts `from..` missing after the cursor (up to the post `next`
/// when the server sent one) may have been removed by retention. They
/// cannot when the server itself says the channel starts at or before
/// `from`, or when they are younger than the signed retention. Their age is
/// bounded below by signed times: each was posted after the last post this
/// follower verified and after the channel was created, and the newest one
/// when `next` says its predecessor was posted.
fn may_have_expired(
    cursor: &Cursor,
    ctx: &ChainContext<'_>,
    first_seq: Option<u64>,
    from: u64,
    next: Option<&PostBody>,
) -> bool {
    if first_seq.is_some_and(|first| first <= from) {
        return false;
    }
    let Some(days) = ctx.retention_days else { return false };
    let retention = u64::from(days).saturating_mul(DAY_MS);
    let posted_no_earlier = [
        cursor.last_posted_at,
        ctx.created_at,
        next.map(|body| body.prev_posted_at).filter(|at| *at > 0),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    ctx.now.saturating_sub(posted_no_earlier).saturating_add(EXPIRY_CLOCK_MARGIN_MS) >= retention
}

fn withheld_gap(from: u64, until: u64, ctx: &ChainContext<'_>) -> FeedItem {
    let retention = ctx
        .retention_days
        .map_or_else(|| "its retention".to_string(), |d| format!("its {d}-day retention"));
    FeedItem::Warning {
        kind: WarningKind::Withheld,
        seq: from,
        until,
        message: format!(
            "post(s) {} of {} were withheld by the server: they are missing but younger than {retention}; later posts wait until they arrive",
            range(from, until),
            ctx.name
        ),
    }
}

fn expired_gap(from: u64, until: u64, ctx: &ChainContext<'_>) -> FeedItem {
    let days = ctx.retention_days.unwrap_or_default();
    FeedItem::Warning {
        kind: WarningKind::Expired,
        seq: from,
        until,
        message: format!(
            "{} older post(s) of {} expired (kept {days} days)",
            until - from + 1,
            ctx.name
        ),
    }
}

/// Applies fetched posts to `cursor`. `first_seq` is the server's oldest
/// retained post (pass it for a fetch answer, `None` for a pushed post).
/// Returns what to show and whether processing stopped at a post that
/// cannot be shown (the cursor stays before it, so the next `feed` looks
/// at it again; later posts of this batch are not shown, as they cannot be
/// chained to it).
pub fn follow_chain(
    cursor: &mut Cursor,
    ctx: &ChainContext<'_>,
    first_seq: Option<u64>,
    posts: &[ChannelPostRecord],
) -> (Vec<FeedItem>, bool) {
    let mut items = Vec::new();
    let warn = |kind, seq, message: String| FeedItem::Warning { kind, seq, until: seq, message };
    // The server sent nothing new but says the channel now starts later:
    // everything after the cursor is gone. Retention does that to a
    // follower that was away long enough; anything younger was withheld.
    if let Some(first) = first_seq
        && first > cursor.last_seq.saturating_add(1)
        && !posts.iter().any(|p| p.seq > cursor.last_seq)
    {
        let from = cursor.last_seq.saturating_add(1);
        if !may_have_expired(cursor, ctx, None, from, None) {
            items.push(withheld_gap(from, first - 1, ctx));
            return (items, true);
        }
        items.push(expired_gap(from, first - 1, ctx));
        cursor.last_seq = first - 1;
        cursor.last_hash = None;
    }
    let max_epoch = ctx.keys.keys().next_back().copied().unwrap_or(0);
    for record in posts {
        if record.seq <= cursor.last_seq {
            continue;
        }
        let expected = cursor.last_seq.saturating_add(1);
        let gap = record.seq > expected;
        let epoch = channel::key_epoch_of(&record.post).ok();
        let key = epoch.and_then(|e| ctx.keys.get(&e));
        // Opened before the gap is judged: a genuine post after it says
        // when the newest missing post was posted.
        let prev = if gap { None } else { cursor.prev() };
        let opened = key.map(|key| {
            channel::open_post_along(
                &record.post,
                key,
                &ctx.channel,
                &ctx.org,
                ctx.org_keys,
                ctx.revoked,
                Some(record.seq),
                prev.as_ref(),
                cursor.last_posted_at,
                ctx.now,
            )
        });
        if gap {
            let next = match &opened {
                Some(Ok(post)) => Some(&post.body),
                _ => None,
            };
            if !may_have_expired(cursor, ctx, first_seq, expected, next) {
                // The cursor stays before the gap: a later (honest) fetch
                // still delivers the missing posts and chains them.
                items.push(withheld_gap(expected, record.seq - 1, ctx));
                return (items, true);
            }
            // Expired: the chain restarts here; this post's `prev` cannot
            // be known, its signature and number are still checked.
            items.push(expired_gap(expected, record.seq - 1, ctx));
            cursor.last_seq = record.seq - 1;
            cursor.last_hash = None;
        }
        let Some(opened) = opened else {
            match epoch {
                Some(e) if e > max_epoch => items.push(warn(
                    WarningKind::Rotated,
                    record.seq,
                    format!("{} has a new key; ask the town for the new invite link", ctx.name),
                )),
                // Once this follower verified a post, every later post
                // has that post's key epoch or a newer one, and it holds
                // all keys from its invite on: an "older" epoch after that
                // is a server's substitute, reported and never stepped over.
                Some(_) if cursor.last_posted_at.is_none() => {
                    // Sealed with a key from before this follower's invite:
                    // unreadable history, not an attack. Its hash still
                    // links the chain; the next post's signature vouches
                    // for that link.
                    items.push(warn(
                        WarningKind::Expired,
                        record.seq,
                        format!(
                            "post #{} of {} predates your invite link and cannot be read",
                            record.seq, ctx.name
                        ),
                    ));
                    cursor.last_seq = record.seq;
                    cursor.last_hash = Some(ByteBuf::from(channel::post_hash(&record.post)));
                    continue;
                }
                Some(_) | None => items.push(altered(record.seq, ctx.name)),
            }
            return (items, true);
        };
        match opened {
            Ok(post) => {
                cursor.last_seq = record.seq;
                cursor.last_hash = Some(ByteBuf::from(post.hash.to_vec()));
                cursor.last_posted_at = Some(post.body.posted_at);
                items.push(FeedItem::Post { seq: record.seq, post: Box::new(post) });
            }
            Err(ChannelError::Revoked) => {
                // Genuinely signed, in its genuine place, but by a device
                // the town revoked: never shown, and stepped over so that
                // the posts after it are not held up (its hash links them).
                // Its times are the thief's word, so `last_posted_at` stays.
                items.push(warn(
                    WarningKind::Revoked,
                    record.seq,
                    format!(
                        "rejected post #{} of {}: signed by a publisher device the town has revoked (lost or stolen)",
                        record.seq, ctx.name
                    ),
                ));
                cursor.last_seq = record.seq;
                cursor.last_hash = Some(ByteBuf::from(channel::post_hash(&record.post)));
            }
            Err(ChannelError::Forged) => {
                items.push(warn(
                    WarningKind::Forged,
                    record.seq,
                    format!(
                        "rejected post #{} of {}: not signed by a certified publisher",
                        record.seq, ctx.name
                    ),
                ));
                return (items, true);
            }
            Err(ChannelError::OutOfOrder { expected, found }) => {
                let (a, b) = (expected.min(found).min(record.seq), expected.max(found));
                items.push(FeedItem::Warning {
                    kind: WarningKind::Withheld,
                    seq: a,
                    until: b,
                    message: format!(
                        "post(s) {} of {} were withheld or reordered",
                        range(a, b),
                        ctx.name
                    ),
                });
                return (items, true);
            }
            Err(_) => {
                items.push(altered(record.seq, ctx.name));
                return (items, true);
            }
        }
    }
    (items, false)
}

fn altered(seq: u64, name: &str) -> FeedItem {
    FeedItem::Warning {
        kind: WarningKind::Altered,
        seq,
        until: seq,
        message: format!("rejected post #{seq} of {name}: altered"),
    }
}

// -------------------------------------------------------------- follower

/// A home used for following (with or without an account).
#[derive(Debug)]
pub struct Follower<C = SystemClock> {
    home: Home,
    server_url: String,
    file: FollowsFile,
    /// Where time comes from (as for [`Client`]).
    clock: C,
}

/// One feed item of one channel.
#[derive(Debug, Clone)]
pub struct FeedLine {
    /// The channel.
    pub channel: ChannelId,
    /// Its name.
    pub name: String,
    /// What happened.
    pub item: FeedItem,
}

/// Asks for posts after `after`.
async fn fetch<T: Transport, C: Clock>(
    conn: &mut CoreConnection<T, C>,
    channel: ChannelId,
    after: u64,
    limit: u32,
) -> Result<Response, ClientError> {
    match conn.call(Request::ChannelFetch { channel, after, limit }).await? {
        Ok(response @ Response::ChannelPosts { .. }) => Ok(response),
        Ok(other) => Err(unexpected(conn.url(), &other)),
        Err(body) if body.code == ErrorCode::UnknownChannel => {
            Err(ClientError::UnknownChannel(channel.to_string()))
        }
        Err(body) => Err(ClientError::server(body)),
    }
}

/// A directory answer as a follower takes it.
#[derive(Debug)]
struct PresentedOrg {
    /// The org key followed to (the pinned one, or where its chain leads).
    key: IdentityKey,
    /// The rotation chain that leads there.
    chain: Vec<SignedRotation>,
    /// The revocation list, verified against `key`.
    revocations: Option<RevocationList>,
    /// The staff list, verified against `key`.
    staff_list: Option<StaffList>,
}

/// The org's directory as the server presents it, verified from `pinned`
/// (the invite's key or the key this home followed to, never the
/// server's): the org's rotation chain must extend `accepted` and lead from
/// `pinned` to the key the server names, and everything else must verify
/// against that key. Whether the lists may be taken is
/// [`FollowsFile::accept_org`]'s decision.
async fn presented_org<T: Transport, C: Clock>(
    conn: &mut CoreConnection<T, C>,
    handle: &str,
    org: OrgId,
    pinned: IdentityKey,
    accepted: &[SignedRotation],
) -> Result<PresentedOrg, ClientError> {
    let info = match conn.call(Request::OrgDirectory { handle: handle.to_string() }).await? {
        Ok(Response::Org { info }) => *info,
        Ok(other) => return Err(unexpected(conn.url(), &other)),
        Err(body) if body.code == ErrorCode::UnknownOrg => {
            return Err(ClientError::UnknownOrg { handle: handle.to_string() });
        }
        Err(body) => return Err(ClientError::server(body)),
    };
    let Some(presented) = info.org_key else {
        return Err(ClientError::OrgNotSetUp { handle: handle.to_string() });
    };
    let followed = stadtbote_protocol::org_rotation::follow_chain(
        &org,
        &pinned,
        accepted,
        &info.rotations,
        &presented,
    )
    .map_err(|err| match err {
        // A key change without a valid chain from the pinned key
        // (none, or a fork, e.g. signed by a stolen earlier key):
        // the hard error, as for citizens' clients.
        _ if presented != pinned => ClientError::OrgKeyChanged {
            handle: handle.to_string(),
            pinned: pinned.fingerprint(),
            presented: presented.fingerprint(),
        },
        err => ClientError::InvalidOrgData {
            handle: handle.to_string(),
            reason: format!(
                "its key rotation chain does not continue the one this device accepted ({err})"
            ),
        },
    })?;
    let pin = OrgPin {
        org,
        handle: handle.to_string(),
        key: followed.key,
        verified: false,
        pinned_at: 0,
        conflicting_key: None,
        directory: None,
    };
    let verified = verify_directory(&info, handle, Some(&pin), conn.clock().now_ms())?;
    Ok(PresentedOrg {
        key: followed.key,
        chain: followed.chain,
        revocations: verified.revocations,
        staff_list: verified.staff_list,
    })
}

impl Follower<SystemClock> {
    /// Opens (creating if needed) a home for following; no identity needed.
    /// Timed by the system clock.
    pub fn open(dir: impl AsRef<Path>, server_url: &str) -> Result<Follower, ClientError> {
        Follower::open_with_clock(dir, server_url, SystemClock)
    }
}

impl<C: Clock + Clone> Follower<C> {
    /// Opens (creating if needed) a home for following, timed by `clock`.
    pub fn open_with_clock(
        dir: impl AsRef<Path>,
        server_url: &str,
        clock: C,
    ) -> Result<Follower<C>, ClientError> {
        let home = Home::open_or_create(dir.as_ref())?;
        let file = read_follows(&home)?;
        Ok(Follower { home, server_url: server_url.to_string(), file, clock })
    }

    fn save(&self) -> Result<(), ClientError> {
        self.home.write_cbor(FOLLOWS_FILE, &self.file)
    }

    /// The follows, by channel.
    pub fn follows(&self) -> &BTreeMap<ChannelId, Follow> {
        &self.file.follows
    }

    /// Connects without logging in.
    pub async fn connect(&self) -> Result<Connection<C>, ClientError> {
        Ok(Connection::connect_with(&self.server_url, self.clock.clone()).await?.0)
    }

    /// Follows the channel of an invite link (again, with a newer key, after
    /// a rotation: the cursor is kept).
    pub async fn follow(&mut self, link: &str) -> Result<Follow, ClientError> {
        let invite = crate::app_links::channel_invite(link)?;
        let key = invite
            .channel_key()
            .map_err(|source| ClientError::ChannelData { what: "invite link", source })?;
        let mut conn = self.connect().await?;
        let result = self.follow_checked(&mut conn, &invite, &key).await;
        conn.close().await;
        let (meta, keys) = result?;
        let follow = match self.file.follows.get(&invite.channel) {
            Some(old) if old.org != invite.org || !keys.contains(&old.org_key) => {
                return Err(ClientError::OrgKeyChanged {
                    handle: invite.handle.clone(),
                    pinned: old.org_key.fingerprint(),
                    presented: invite.org_key.fingerprint(),
                });
            }
            Some(old) => {
                let mut follow = old.clone();
                follow.keys.insert(invite.key_epoch, invite.key.clone());
                follow.take_meta(meta);
                follow
            }
            None => {
                let mut follow = Follow {
                    channel: invite.channel,
                    org: invite.org,
                    handle: invite.handle.clone(),
                    org_key: invite.org_key,
                    keys: BTreeMap::from([(invite.key_epoch, invite.key.clone())]),
                    name: String::new(),
                    replies: meta.replies,
                    reply_department: None,
                    cursor: Cursor::default(),
                    followed_at: self.clock.now_ms(),
                    retention_days: None,
                    created_at: None,
                    meta_version: 0,
                };
                follow.take_meta(meta);
                follow
            }
        };
        self.file.follows.insert(invite.channel, follow.clone());
        self.save()?;
        Ok(follow)
    }

    /// Verifies the org's directory from the pinned key (following its
    /// rotation chain), checks that the invite's org key is on that chain,
    /// pins it in an initialised home and reads the channel's metadata.
    async fn follow_checked(
        &mut self,
        conn: &mut Connection<C>,
        invite: &ChannelInvite,
        key: &ChannelKey,
    ) -> Result<(ChannelMeta, OrgKeys), ClientError> {
        let revoked = self.refresh_org(conn, invite.org, &invite.handle, invite.org_key).await?;
        let keys = self.file.org_keys(&invite.org, &invite.org_key);
        if !keys.contains(&invite.org_key) {
            return Err(ClientError::OrgKeyChanged {
                handle: invite.handle.clone(),
                pinned: keys.current.fingerprint(),
                presented: invite.org_key.fingerprint(),
            });
        }
        self.pin(invite, &keys)?;
        let meta = self.fetch_meta(conn, invite, key, &keys, &revoked).await?;
        Ok((meta, keys))
    }

    /// Fetches and takes `org`'s directory (see [`presented_org`] and
    /// [`FollowsFile::accept_org`]), saving what changed; returns the
    /// revoked devices.
    async fn refresh_org(
        &mut self,
        conn: &mut Connection<C>,
        org: OrgId,
        handle: &str,
        invite_key: IdentityKey,
    ) -> Result<Vec<DeviceId>, ClientError> {
        let (pinned, accepted) = self.file.pinned(&org, invite_key);
        let presented = presented_org(conn.core_mut(), handle, org, pinned, &accepted).await?;
        let (changed, revoked) = self.file.accept_org(org, handle, presented)?;
        if changed {
            self.save()?;
        }
        Ok(revoked)
    }

    async fn fetch_meta(
        &self,
        conn: &mut Connection<C>,
        invite: &ChannelInvite,
        key: &ChannelKey,
        keys: &OrgKeys,
        revoked: &[DeviceId],
    ) -> Result<ChannelMeta, ClientError> {
        let Response::ChannelPosts { org, meta, key_epoch, .. } =
            fetch(conn.core_mut(), invite.channel, 0, 1).await?
        else {
            return Err(ClientError::NotConnected);
        };
        if org != invite.org {
            return Err(ClientError::ChannelData {
                what: "metadata",
                source: ChannelError::Forged,
            });
        }
        let meta = channel::open_meta_along(
            &meta,
            key,
            &invite.channel,
            keys,
            revoked,
            self.clock.now_ms(),
        )
        .map_err(|source| match source {
            ChannelError::Undecryptable if key_epoch > invite.key_epoch => {
                ClientError::OutdatedInvite
            }
            source => ClientError::ChannelData { what: "metadata", source },
        })?;
        if meta.org != invite.org || meta.handle != invite.handle {
            return Err(ClientError::ChannelData {
                what: "metadata",
                source: ChannelError::Forged,
            });
        }
        Ok(meta)
    }

    /// Pins the invite's org key in an initialised home (trust on first
    /// use, like fetching the directory would); refuses an invite whose org
    /// key contradicts the pin (a key of the org's rotation chain `keys`,
    /// as is the pin, does not).
    fn pin(&self, invite: &ChannelInvite, keys: &OrgKeys) -> Result<(), ClientError> {
        if !self.home.exists(IDENTITY_FILE) {
            return Ok(());
        }
        let secret = self.home.read_identity()?;
        let Loaded { mut store, mut state, seen, mls } = DeviceStore::open(&self.home, &secret)?;
        match state.pins.get(&invite.handle) {
            Some(pin)
                if pin.org != invite.org
                    || (pin.key != invite.org_key
                        && !(keys.contains(&pin.key) && keys.contains(&invite.org_key))) =>
            {
                Err(ClientError::OrgKeyChanged {
                    handle: invite.handle.clone(),
                    pinned: pin.key.fingerprint(),
                    presented: invite.org_key.fingerprint(),
                })
            }
            Some(_) => Ok(()),
            None => {
                state.pins.insert(
                    invite.handle.clone(),
                    OrgPin {
                        org: invite.org,
                        handle: invite.handle.clone(),
                        key: invite.org_key,
                        verified: false,
                        pinned_at: self.clock.now_ms(),
                        conflicting_key: None,
                        directory: None,
                    },
                );
                store.save(&state, &seen, &mls, false)
            }
        }
    }

    /// Stops following.
    pub fn unfollow(&mut self, text: &str) -> Result<Follow, ClientError> {
        let (id, _) = resolve(&self.file.follows, text)?;
        let id = *id;
        let follow =
            self.file.follows.remove(&id).ok_or(ClientError::UnknownChannel(id.to_string()))?;
        self.save()?;
        Ok(follow)
    }

    /// Resolves a followed channel by id or prefix.
    pub fn resolve(&self, text: &str) -> Result<ChannelId, ClientError> {
        resolve(&self.file.follows, text).map(|(id, _)| *id)
    }

    /// The revoked devices of the followed orgs (one directory fetch per
    /// org): on the newest revocation list and staff list this home
    /// verified. A newer list the server presents is kept (saved at once),
    /// a missing or older one is refused with
    /// [`ClientError::RevocationListWithheld`] or
    /// [`ClientError::StaffListRolledBack`]; the org key follows the org's
    /// rotation chain.
    pub async fn revocations(
        &mut self,
        conn: &mut Connection<C>,
        channels: &[ChannelId],
    ) -> Result<BTreeMap<OrgId, Vec<DeviceId>>, ClientError> {
        let mut out = BTreeMap::new();
        for id in channels {
            let Some(follow) = self.file.follows.get(id) else { continue };
            if out.contains_key(&follow.org) {
                continue;
            }
            let (org, handle, invite_key) = (follow.org, follow.handle.clone(), follow.org_key);
            let revoked = self.refresh_org(conn, org, &handle, invite_key).await?;
            out.insert(org, revoked);
        }
        Ok(out)
    }

    /// Fetches and verifies everything after the cursor of `channel`,
    /// persisting the cursor after every batch.
    pub async fn catch_up(
        &mut self,
        conn: &mut Connection<C>,
        channel: ChannelId,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, ClientError> {
        let mut lines = Vec::new();
        while let Some(follow) = self.file.follows.get(&channel) {
            let before = follow.cursor.last_seq;
            let Response::ChannelPosts { meta, posts, first_seq, last_seq, .. } =
                fetch(conn.core_mut(), channel, before, FETCH_LIMIT).await?
            else {
                break;
            };
            let keys = follow.channel_keys();
            let before_meta = follow.clone();
            let name = self.refresh_meta(channel, &meta, &keys, revoked);
            if self.file.follows.get(&channel) != Some(&before_meta) {
                self.save()?;
            }
            let (stopped, after) =
                self.apply(channel, &name, &keys, revoked, Some(first_seq), &posts, &mut lines)?;
            if stopped || posts.is_empty() || after <= before || after >= last_seq {
                break;
            }
        }
        Ok(lines)
    }

    /// Applies one pushed post (`ChannelListen`); on a gap, fetches the
    /// missing range first.
    pub async fn on_push(
        &mut self,
        conn: &mut Connection<C>,
        channel: ChannelId,
        post: ChannelPostRecord,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, ClientError> {
        let Some(follow) = self.file.follows.get(&channel) else { return Ok(Vec::new()) };
        if post.seq <= follow.cursor.last_seq {
            return Ok(Vec::new());
        }
        if post.seq > follow.cursor.last_seq.saturating_add(1) {
            return self.catch_up(conn, channel, revoked).await;
        }
        let keys = follow.channel_keys();
        let name = follow.name.clone();
        let mut lines = Vec::new();
        self.apply(channel, &name, &keys, revoked, None, std::slice::from_ref(&post), &mut lines)?;
        Ok(lines)
    }

    /// Runs the chain rule and saves the cursor; returns (stopped, cursor).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        channel: ChannelId,
        name: &str,
        keys: &BTreeMap<u32, ChannelKey>,
        revoked: &[DeviceId],
        first_seq: Option<u64>,
        posts: &[ChannelPostRecord],
        lines: &mut Vec<FeedLine>,
    ) -> Result<(bool, u64), ClientError> {
        let Some(follow) = self.file.follows.get(&channel) else { return Ok((true, 0)) };
        let org_keys = self.file.org_keys(&follow.org, &follow.org_key);
        let Some(follow) = self.file.follows.get_mut(&channel) else { return Ok((true, 0)) };
        let ctx = ChainContext {
            channel,
            name,
            org: follow.org,
            org_keys: &org_keys,
            keys,
            revoked,
            retention_days: follow.retention_days,
            created_at: follow.created_at,
            now: self.clock.now_ms(),
        };
        let mut cursor = follow.cursor.clone();
        let (items, stopped) = follow_chain(&mut cursor, &ctx, first_seq, posts);
        let changed = cursor != follow.cursor;
        let after = cursor.last_seq;
        follow.cursor = cursor;
        if changed {
            self.save()?;
        }
        lines.extend(items.into_iter().map(|item| FeedLine {
            channel,
            name: name.to_string(),
            item,
        }));
        Ok((stopped, after))
    }

    /// Re-reads the name and reply policy from the metadata when it opens
    /// with a key this follower holds; returns the name to show.
    fn refresh_meta(
        &mut self,
        channel: ChannelId,
        sealed: &[u8],
        keys: &BTreeMap<u32, ChannelKey>,
        revoked: &[DeviceId],
    ) -> String {
        let Some(follow) = self.file.follows.get(&channel) else { return String::new() };
        let org_keys = self.file.org_keys(&follow.org, &follow.org_key);
        let Some(follow) = self.file.follows.get_mut(&channel) else { return String::new() };
        let epoch = channel::key_epoch_of(sealed).ok();
        if let Some(key) = epoch.and_then(|e| keys.get(&e))
            && let Ok(meta) = channel::open_meta_along(
                sealed,
                key,
                &channel,
                &org_keys,
                revoked,
                self.clock.now_ms(),
            )
            && meta.org == follow.org
        {
            follow.take_meta(meta);
        }
        follow.name.clone()
    }
}

// ------------------------------------------------------------- publisher

/// Options of `channel create`.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// Org handle (when this device is staff of several).
    pub handle: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Retention in days.
    pub retention_days: u32,
    /// Reply policy.
    pub replies: Replies,
}

/// A post's quote line in a private reply.
pub fn quote(name: &str, seq: u64, text: &str) -> String {
    let short: String = text.chars().take(QUOTE_CHARS).collect();
    let short = short.replace(['\n', '\r'], " ");
    format!("Re: {name} #{seq}: \"{short}\"")
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// The keys of `org`'s rotation chain this device accepted (its pinned
    /// directory's), to check posts made before a rotation with.
    fn pinned_org_keys(&self, org: &crate::pinning::VerifiedOrg) -> OrgKeys {
        self.state
            .pins
            .get(&org.handle)
            .and_then(|p| p.directory.as_ref())
            .and_then(|d| org_keys(&org.org, &d.rotations, &org.key).ok())
            .unwrap_or_else(|| OrgKeys::single(org.key))
    }

    /// This device's certificate with a publishing role at org `handle`
    /// (or the only org where it has one), with the verified org.
    async fn publisher_certificate(
        &mut self,
        handle: Option<&str>,
    ) -> Result<(String, StaffCertificate, crate::pinning::VerifiedOrg), ClientError> {
        let handle = match handle {
            Some(h) => h.to_string(),
            None => {
                let now = self.clock.now_ms();
                let mut eligible = self.state.enrolments.iter().filter(|e| {
                    e.expires_at > now && matches!(e.role, Role::Publisher | Role::Admin)
                });
                match (eligible.next(), eligible.next()) {
                    (Some(e), None) => e.handle.clone(),
                    (Some(_), Some(_)) => {
                        let all: Vec<_> =
                            self.state.enrolments.iter().map(|e| e.handle.as_str()).collect();
                        return Err(ClientError::SeveralOrgs(all.join(", ")));
                    }
                    _ => {
                        let handle = self
                            .state
                            .enrolments
                            .first()
                            .map_or_else(|| "any org".to_string(), |e| e.handle.clone());
                        return Err(ClientError::NotPublisher { handle });
                    }
                }
            }
        };
        let org = self.fetch_org(&handle).await?;
        let certs = self
            .state
            .pins
            .get(&handle)
            .and_then(|p| p.directory.as_ref())
            .map(|d| d.staff.clone())
            .unwrap_or_default();
        let own = self.secret.identity_key();
        let device = self.state.device;
        let revoked = org.revoked_devices();
        let now = self.clock.now_ms();
        let best = certs
            .into_iter()
            .filter_map(|c| c.verify(&org.org, &org.key, now).ok().map(|s| (s, c)))
            .filter(|(s, _)| s.device == device && s.identity_key == own)
            .filter(|(s, _)| !revoked.contains(&s.device))
            .filter(|(s, _)| matches!(s.role, Role::Publisher | Role::Admin))
            .max_by_key(|(s, _)| s.expires_at);
        let Some((_, cert)) = best else {
            return Err(ClientError::NotPublisher { handle });
        };
        Ok((handle, cert, org))
    }

    /// Creates a channel; returns it and its invite.
    pub async fn create_channel(
        &mut self,
        new: NewChannel,
    ) -> Result<(PublishedChannel, ChannelInvite), ClientError> {
        if new.name.trim().is_empty() {
            return Err(ClientError::Invalid { what: "channel name", reason: R::Empty });
        }
        if new.retention_days == 0 {
            return Err(ClientError::Invalid { what: "retention", reason: R::AtLeastOneDay });
        }
        if !self.is_connected() {
            self.connect().await?;
        }
        let (handle, cert, org) = self.publisher_certificate(new.handle.as_deref()).await?;
        let department = self.enrolment_at(&org.org).map(|e| e.department.clone());
        let key = ChannelKey::generate();
        let channel = ChannelId::random();
        let meta = ChannelMeta {
            v: CHANNEL_VERSION,
            channel,
            org: org.org,
            handle: handle.clone(),
            name: new.name.trim().to_string(),
            description: new.description,
            replies: new.replies,
            reply_department: department,
            retention_days: new.retention_days,
            created_at: self.clock.now_ms(),
            meta_version: 1,
        };
        let sealed = channel::seal_meta(&meta, &key, 0, &self.secret, cert)
            .map_err(|source| ClientError::ChannelData { what: "metadata", source })?;
        let request = Request::ChannelCreate {
            org: org.org,
            channel,
            meta: ByteBuf::from(sealed),
            retention_days: new.retention_days,
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::ChannelStored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::Forbidden => {
                return Err(ClientError::NotPublisher { handle });
            }
            Err(body) => return Err(ClientError::server(body)),
        }
        let published = PublishedChannel {
            channel,
            org: org.org,
            handle,
            key: ByteBuf::from(key.as_bytes().to_vec()),
            key_epoch: 0,
            meta,
            last_seq: 0,
            last_hash: None,
        };
        self.state.channels.insert(channel, published.clone());
        self.save().await?;
        let invite = published.invite(org.key);
        Ok((published, invite))
    }

    /// Resolves a published channel by id or prefix.
    pub fn resolve_published(&self, text: &str) -> Result<ChannelId, ClientError> {
        resolve(&self.state.channels, text).map(|(id, _)| *id)
    }

    /// The server's last post of the channel, its hash and when it was
    /// posted (checked when it is sealed with the current key; its signed
    /// `posted_at` then, else 0 for unknown).
    async fn channel_tail(
        &mut self,
        published: &PublishedChannel,
        org_keys: &OrgKeys,
        revoked: &[DeviceId],
    ) -> Result<(u64, [u8; 32], u64), ClientError> {
        let conn = self.conn_mut()?;
        let after = published.last_seq.saturating_sub(1);
        let Response::ChannelPosts { mut posts, mut last_seq, .. } =
            fetch(conn, published.channel, after, FETCH_LIMIT).await?
        else {
            return Err(ClientError::NotConnected);
        };
        if last_seq == 0 {
            return Ok((0, GENESIS, 0));
        }
        if !posts.iter().any(|p| p.seq == last_seq) {
            let Response::ChannelPosts { posts: tail, last_seq: now_last, .. } =
                fetch(conn, published.channel, last_seq - 1, 1).await?
            else {
                return Err(ClientError::NotConnected);
            };
            posts = tail;
            last_seq = now_last;
        }
        let Some(last) = posts.iter().find(|p| p.seq == last_seq) else {
            return Err(ClientError::ChannelConflict { attempts: 1 });
        };
        let mut posted_at = 0;
        if channel::key_epoch_of(&last.post).ok() == Some(published.key_epoch) {
            let key = published.channel_key()?;
            match channel::open_post_along(
                &last.post,
                &key,
                &published.channel,
                &published.org,
                org_keys,
                revoked,
                Some(last_seq),
                None,
                None,
                self.clock.now_ms(),
            ) {
                Ok(post) => posted_at = post.body.posted_at,
                // A genuine post of a since revoked device stays in the
                // chain (followers step over it); its times are not vouched for.
                Err(ChannelError::Revoked) => {}
                Err(source) => return Err(ClientError::ChannelData { what: "last post", source }),
            }
        }
        Ok((last_seq, channel::post_hash(&last.post), posted_at))
    }

    /// Posts to a channel; returns the post's sequence number.
    pub async fn post_to_channel(
        &mut self,
        channel_text: &str,
        text: &str,
        photo_paths: &[std::path::PathBuf],
    ) -> Result<u64, ClientError> {
        let id = self.resolve_published(channel_text)?;
        if text.trim().is_empty() && photo_paths.is_empty() {
            return Err(ClientError::Invalid { what: "post", reason: R::Empty });
        }
        if !self.is_connected() {
            self.connect().await?;
        }
        let handle = self.state.channels.get(&id).map(|c| c.handle.clone()).unwrap_or_default();
        let (_, cert, org) = self.publisher_certificate(Some(&handle)).await?;
        let revoked = org.revoked_devices();
        let org_keys = self.pinned_org_keys(&org);
        let mut photos = Vec::new();
        for path in photo_paths {
            photos.push(crate::attachments::upload_photo(self, path).await?);
        }
        let mut race =
            PostRace { client: self, channel: id, handle, text, photos, cert, org_keys, revoked };
        commit_with_retry(&mut race, POST_ATTEMPTS).await
    }

    /// Rotates a channel's key: new key, next epoch, re-sealed metadata.
    pub async fn rotate_channel(
        &mut self,
        channel_text: &str,
    ) -> Result<(PublishedChannel, ChannelInvite), ClientError> {
        let id = self.resolve_published(channel_text)?;
        if !self.is_connected() {
            self.connect().await?;
        }
        let mut published = self
            .state
            .channels
            .get(&id)
            .cloned()
            .ok_or(ClientError::UnknownChannel(id.to_string()))?;
        let (_, cert, org) = self.publisher_certificate(Some(&published.handle.clone())).await?;
        let key = ChannelKey::generate();
        let epoch = published.key_epoch + 1;
        // Followers keep the newest metadata they verified and ignore
        // older metadata a server replays.
        published.meta.meta_version = published.meta.meta_version.saturating_add(1);
        let sealed = channel::seal_meta(&published.meta, &key, epoch, &self.secret, cert)
            .map_err(|source| ClientError::ChannelData { what: "metadata", source })?;
        let request =
            Request::ChannelUpdate { channel: id, meta: ByteBuf::from(sealed), key_epoch: epoch };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::ChannelStored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::Forbidden => {
                return Err(ClientError::NotPublisher { handle: published.handle });
            }
            Err(body) => return Err(ClientError::server(body)),
        }
        published.key = ByteBuf::from(key.as_bytes().to_vec());
        published.key_epoch = epoch;
        self.state.channels.insert(id, published.clone());
        self.save().await?;
        let invite = published.invite(org.key);
        Ok((published, invite))
    }

    /// The followed channel and one of its posts (verified), for a private
    /// reply. Reads `follows.cbor` under this client's lock.
    pub async fn channel_post_for_reply(
        &mut self,
        channel_text: &str,
        seq: u64,
    ) -> Result<(Follow, PostBody), ClientError> {
        let follows = read_follows(&self.home)?;
        let (_, follow) = resolve(&follows.follows, channel_text)?;
        let follow = follow.clone();
        if follow.replies != Replies::Private {
            return Err(ClientError::RepliesOff(follow.name));
        }
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        let org = self.fetch_org(&follow.handle).await?;
        let org_keys = self.pinned_org_keys(&org);
        if !org_keys.contains(&follow.org_key) || org.org != follow.org {
            return Err(ClientError::OrgKeyChanged {
                handle: follow.handle.clone(),
                pinned: org.key.fingerprint(),
                presented: follow.org_key.fingerprint(),
            });
        }
        let revoked = org.revoked_devices();
        let conn = self.conn_mut()?;
        let Response::ChannelPosts { posts, .. } =
            fetch(conn, follow.channel, seq.saturating_sub(1), 1).await?
        else {
            return Err(ClientError::NotConnected);
        };
        let record =
            posts.into_iter().find(|p| p.seq == seq).ok_or_else(|| ClientError::Invalid {
                what: "post number",
                reason: R::NoSuchPost { channel: follow.name.clone(), seq },
            })?;
        let keys = follow.channel_keys();
        let key = channel::key_epoch_of(&record.post).ok().and_then(|e| keys.get(&e)).ok_or(
            ClientError::ChannelData { what: "post", source: ChannelError::Undecryptable },
        )?;
        let post = channel::open_post_along(
            &record.post,
            key,
            &follow.channel,
            &follow.org,
            &org_keys,
            &revoked,
            Some(seq),
            None,
            None,
            self.clock.now_ms(),
        )
        .map_err(|source| ClientError::ChannelData { what: "post", source })?;
        Ok((follow, post.body))
    }
}

/// [`Client::post_to_channel`]'s side of the shared retry routine
/// ([`stadtbote_client::commit`], whose docs say why a post, though no MLS
/// commit, is the same race): the post chained to the tail the server
/// holds now. A lost race (`stale_epoch`: another device posted first) is
/// caught up with by the next attempt, which re-reads the tail.
struct PostRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    channel: ChannelId,
    /// The org the channel belongs to (for the refusal's message).
    handle: String,
    text: &'a str,
    photos: Vec<stadtbote_protocol::app::AttachmentRef>,
    cert: StaffCertificate,
    org_keys: OrgKeys,
    revoked: Vec<DeviceId>,
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for PostRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    /// The hash of the post sent, to chain the next one to.
    type Pending = [u8; 32];
    type Done = u64;
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<[u8; 32], u64>, ClientError> {
        let id = self.channel;
        let published = self
            .client
            .state
            .channels
            .get(&id)
            .cloned()
            .ok_or(ClientError::UnknownChannel(id.to_string()))?;
        let (last_seq, prev, prev_posted_at) =
            self.client.channel_tail(&published, &self.org_keys, &self.revoked).await?;
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: id,
            n: last_seq + 1,
            prev: ByteBuf::from(prev.to_vec()),
            posted_at: self.client.clock.now_ms(),
            text: self.text.to_string(),
            photos: self.photos.clone(),
            prev_posted_at,
        };
        let key = published.channel_key()?;
        let sealed = channel::seal_post(
            &body,
            &key,
            published.key_epoch,
            &self.client.secret,
            self.cert.clone(),
        )
        .map_err(|source| ClientError::ChannelData { what: "post", source })?;
        let hash = channel::post_hash(&sealed);
        let request =
            Request::ChannelPost { channel: id, prev_seq: last_seq, post: ByteBuf::from(sealed) };
        Ok(Attempt::Commit { request, pending: hash })
    }

    async fn accepted(&mut self, hash: [u8; 32], seq: u64) -> Result<Option<u64>, ClientError> {
        if let Some(entry) = self.client.state.channels.get_mut(&self.channel) {
            entry.last_seq = seq;
            entry.last_hash = Some(ByteBuf::from(hash.to_vec()));
        }
        self.client.save().await?;
        Ok(Some(seq))
    }

    async fn abandon(&mut self, _hash: &[u8; 32]) -> Result<(), ClientError> {
        // A post leaves nothing pending on this device.
        Ok(())
    }

    async fn lost_race(&mut self, _hash: [u8; 32], _refusal: ErrorBody) -> Result<(), ClientError> {
        // Another device posted first: the next attempt re-reads the tail
        // and chains to the winner's post.
        Ok(())
    }

    async fn refused(&mut self, _hash: [u8; 32], body: ErrorBody) -> Result<(), ClientError> {
        if body.code == ErrorCode::Forbidden {
            return Err(ClientError::NotPublisher { handle: self.handle.clone() });
        }
        Err(ClientError::server(body))
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, attempts: usize) -> ClientError {
        ClientError::ChannelConflict { attempts }
    }

    fn accepted_at(&self, answer: &Response) -> Option<u64> {
        match answer {
            Response::ChannelPosted { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
