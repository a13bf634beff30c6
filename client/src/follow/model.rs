//! What a follower keeps: its follows (channel keys, verified metadata, the
//! cursor in each channel's hash chain) and, per org, the newest
//! org-signed revocation list and staff list it verified and the org key
//! and rotation chain it followed. Nothing here goes backwards: a server
//! answer with an older list is refused ([`FollowError::RevocationListWithheld`],
//! [`FollowError::StaffListRolledBack`]).
//!
//! [`FollowsFile`] is stored as one record of the core's storage
//! ([`super::store`]); the CLI's older homes kept the same CBOR value in
//! `follows.cbor`, which is imported once.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::channel::{ChannelKey, ChannelMeta, GENESIS, Replies};
use stadtbote_protocol::org::{RevocationList, StaffList};
use stadtbote_protocol::org_rotation::{OrgKeys, SignedRotation, org_keys};
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};
use std::collections::BTreeMap;

use super::FollowError;
use super::directory::PresentedOrg;

/// Version of the follows format. Version 1 (before followers kept
/// revocation lists and the signed retention) is read and upgraded.
pub const FOLLOWS_VERSION: u16 = 2;

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
    pub(crate) fn prev(&self) -> Option<[u8; 32]> {
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
    pub fn take_meta(&mut self, meta: ChannelMeta) {
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

    pub fn channel_keys(&self) -> BTreeMap<u32, ChannelKey> {
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
    ) -> Result<(bool, Vec<DeviceId>), FollowError> {
        let kept = self.revocations.get(&org);
        let updated_at = presented.as_ref().map(|list| list.updated_at);
        let newest = newest_revoked(
            kept.map(|k| (k.version, k.revoked.as_slice())),
            presented.map(|list| (list.version, list.revoked)),
        )
        .map_err(|(pinned, presented)| FollowError::RevocationListWithheld {
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
    ) -> Result<(bool, Vec<DeviceId>), FollowError> {
        let kept = self.staff_lists.get(&org);
        let newest = newest_revoked(
            kept.map(|k| (k.version, k.revoked.as_slice())),
            presented.map(|list| (list.version, list.revoked)),
        )
        .map_err(|(seen, offered)| FollowError::StaffListRolledBack {
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
    pub(crate) fn pinned(
        &self,
        org: &OrgId,
        invite_key: IdentityKey,
    ) -> (IdentityKey, Vec<SignedRotation>) {
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

    /// Takes a directory answer verified by `directory::presented_org`: the followed
    /// key and chain, the revocation list and the staff list (neither may
    /// go backwards). Returns whether anything kept changed, and every
    /// device either list revokes.
    pub(crate) fn accept_org(
        &mut self,
        org: OrgId,
        handle: &str,
        presented: PresentedOrg,
    ) -> Result<(bool, Vec<DeviceId>), FollowError> {
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

/// Finds a channel by full id or unambiguous prefix.
pub fn resolve<'a, T>(
    map: &'a BTreeMap<ChannelId, T>,
    text: &str,
) -> Result<(&'a ChannelId, &'a T), FollowError> {
    let wanted = text.trim().to_ascii_uppercase();
    let mut found = map.iter().filter(|(id, _)| id.to_string().starts_with(&wanted));
    match (found.next(), found.next()) {
        (Some(hit), None) if !wanted.is_empty() => Ok(hit),
        _ => Err(FollowError::UnknownChannel(text.to_string())),
    }
}
