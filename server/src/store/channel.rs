//! Storage of broadcast channels: one record per channel and its sealed
//! posts, each stored once under channel ‖ sequence number.
//!
//! Everything a channel carries is sealed with a key the server never sees
//! (see `stadtbote_protocol::channel`): the server keeps the metadata and the
//! posts as opaque bytes, orders posts per channel and deletes them when the
//! channel's retention has passed. Nothing here records who reads a channel.

use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org::StaffCertificate;
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};

use super::StoreError;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The org publishing it.
    pub org: OrgId,
    /// [`stadtbote_protocol::channel::ChannelMeta`] sealed with the channel key.
    pub meta: Vec<u8>,
    /// Key epoch of the sealed metadata; never decreases.
    pub key_epoch: u32,
    /// Days each post is kept.
    pub retention_days: u32,
    /// Sequence number of the newest post (0: none yet). Never reused, even
    /// after retention deleted the post.
    pub last_seq: u64,
    /// When it was created (Unix ms).
    pub created_at: u64,
}

/// A post to append.
#[derive(Debug, Clone, Copy)]
pub struct NewPost<'a> {
    /// The channel.
    pub channel: &'a ChannelId,
    /// The sequence number the author saw last; must be the channel's
    /// `last_seq` ([`StoreError::StaleSeq`] otherwise).
    pub prev_seq: u64,
    /// The sealed post.
    pub post: &'a [u8],
    /// Now (Unix ms).
    pub now_ms: u64,
    /// When the post is deleted (Unix ms).
    pub expires_at_ms: u64,
}

/// One page of a channel's posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPage {
    /// Posts in sequence order.
    pub posts: Vec<ChannelPostRecord>,
    /// Oldest sequence number still stored, 0 when none is.
    pub first_seq: u64,
}

/// Bounds of one page of posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Most posts.
    pub limit: usize,
    /// Most bytes the posts may add up to, each counted with
    /// `per_post_overhead`; the page stops before the post that would
    /// exceed it (a single post always fits, see the post size limit).
    pub max_bytes: usize,
    /// Bytes counted per post besides its sealed bytes.
    pub per_post_overhead: usize,
    /// Now (Unix ms): posts past their expiry that the sweeper has not yet
    /// deleted are left out.
    pub now_ms: u64,
}

/// Aggregate counts, for operators; never per channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounts {
    /// Channels stored.
    pub channels: u64,
    /// Posts stored, over all channels.
    pub posts: u64,
}

/// Broadcast channels.
pub trait ChannelStore {
    /// Stores a new channel; [`StoreError::ChannelIdTaken`] if the id is in use.
    fn create_channel(&self, channel: &ChannelId, record: &ChannelRecord)
    -> Result<(), StoreError>;

    /// The channel, if it exists.
    fn channel(&self, channel: &ChannelId) -> Result<Option<ChannelRecord>, StoreError>;

    /// Replaces the sealed metadata and key epoch, which must not decrease
    /// ([`StoreError::EpochDecreasing`]); [`StoreError::UnknownChannel`] if
    /// there is no such channel. Returns the key epoch now stored.
    fn update_channel(
        &self,
        channel: &ChannelId,
        meta: &[u8],
        key_epoch: u32,
    ) -> Result<u32, StoreError>;

    /// Appends a post at `last_seq + 1` if `prev_seq` equals `last_seq`, in
    /// one atomic step with advancing `last_seq`. Returns the stored record.
    fn append_post(&self, post: NewPost<'_>) -> Result<ChannelPostRecord, StoreError>;

    /// Posts of `channel` with sequence numbers above `after`, oldest first,
    /// within `limits`.
    fn channel_posts(
        &self,
        channel: &ChannelId,
        after: u64,
        limits: PageLimits,
    ) -> Result<ChannelPage, StoreError>;

    /// The staff certificate `device` holds from `org`, if any (whether it
    /// is still valid is for the caller to check).
    fn staff_certificate(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<StaffCertificate>, StoreError>;

    /// Whether `org` revoked `device`.
    fn revoked_by_org(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError>;

    /// Deletes posts whose expiry is before `now_ms`. Returns how many.
    fn sweep_channel_posts(&self, now_ms: u64) -> Result<u64, StoreError>;

    /// How many channels and posts are stored. Counts by scanning: for
    /// occasional operator statistics, not for request paths.
    fn channel_counts(&self) -> Result<ChannelCounts, StoreError>;
}
