//! Broadcast channel requests: creating a channel, replacing its sealed
//! metadata, appending sealed posts, reading them (no account needed) and
//! listening for live posts (no account needed).
//!
//! The server cannot open anything a channel carries; what it enforces is
//! who may write (a device holding a current, unrevoked staff certificate of
//! the channel's org with the publisher or admin role), the order of posts
//! (each names the sequence number it follows, so two authors cannot both
//! take the same place), sizes, and retention. Followers verify the chain
//! of posts themselves, because the server is not trusted to be honest.

use stadtbote_protocol::frame::Response;
use stadtbote_protocol::org::Role;
use stadtbote_protocol::{ChannelId, OrgId, RefusalReason};

use super::{Identity, Relay, RelayError};
use crate::config::CHANNEL_POST_OVERHEAD;
use crate::fanout::Listens;
use crate::store::{ChannelRecord, NewPost, PageLimits};
use crate::unix_ms;

/// The refusal for a device that may not write to the org's channels.
const PUBLISHERS_ONLY: RelayError = RelayError::Refused(RefusalReason::PublishersOnly);

/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

impl Relay {
    /// Checks that the caller's device holds a current, unrevoked staff
    /// certificate of `org` with a role that may publish. The certificate
    /// is verified again against the org key (not only read): it may have
    /// expired since enrolment.
    fn check_publisher(&self, me: &Identity, org: &OrgId, now_ms: u64) -> Result<(), RelayError> {
        let record = self.store.org(org)?.ok_or(RelayError::UnknownOrg)?;
        if record.suspended {
            return Err(RelayError::OrgSuspended);
        }
        let org_key = record.org_key.ok_or(PUBLISHERS_ONLY)?;
        let certificate = self.store.staff_certificate(org, &me.device)?.ok_or(PUBLISHERS_ONLY)?;
        let staff = certificate.verify(org, &org_key, now_ms).map_err(|_| PUBLISHERS_ONLY)?;
        if staff.device != me.device || !matches!(staff.role, Role::Publisher | Role::Admin) {
            return Err(PUBLISHERS_ONLY);
        }
        if self.store.revoked_by_org(org, &me.device)? {
            return Err(PUBLISHERS_ONLY);
        }
        Ok(())
    }

    fn check_meta(&self, meta: &[u8]) -> Result<(), RelayError> {
        if meta.is_empty() {
            return Err(RelayError::InvalidRequest("empty channel metadata"));
        }
        if meta.len() > self.limits.max_profile_bytes {
            return Err(RelayError::TooLarge("channel metadata exceeds max_profile_bytes"));
        }
        Ok(())
    }

    /// Creates a channel of `org`.
    pub(super) async fn channel_create(
        &self,
        me: &Identity,
        org: &OrgId,
        channel: &ChannelId,
        meta: &[u8],
        retention_days: u32,
    ) -> Result<Response, RelayError> {
        self.check_meta(meta)?;
        if retention_days == 0
            || retention_days > self.retention().days(super::RetentionKind::ChannelPostsMax)
        {
            return Err(RelayError::Refused(RefusalReason::ChannelRetentionOutOfRange));
        }
        let now = unix_ms();
        self.check_publisher(me, org, now)?;
        let record = ChannelRecord {
            org: *org,
            meta: meta.to_vec(),
            key_epoch: 0,
            retention_days,
            last_seq: 0,
            created_at: now,
        };
        self.store.create_channel(channel, &record)?;
        self.durable().await?;
        Ok(Response::ChannelStored { channel: *channel, key_epoch: 0 })
    }

    /// Replaces a channel's sealed metadata.
    pub(super) async fn channel_update(
        &self,
        me: &Identity,
        channel: &ChannelId,
        meta: &[u8],
        key_epoch: u32,
    ) -> Result<Response, RelayError> {
        self.check_meta(meta)?;
        let record = self.store.channel(channel)?.ok_or(RelayError::UnknownChannel)?;
        self.check_publisher(me, &record.org, unix_ms())?;
        // Re-checked inside the store's transaction against a concurrent update.
        let key_epoch = self.store.update_channel(channel, meta, key_epoch)?;
        self.durable().await?;
        Ok(Response::ChannelStored { channel: *channel, key_epoch })
    }

    /// Appends a post, makes it durable, pushes it to the listeners, answers.
    pub(super) async fn channel_post(
        &self,
        me: &Identity,
        channel: &ChannelId,
        prev_seq: u64,
        post: &[u8],
    ) -> Result<Response, RelayError> {
        if post.is_empty() {
            return Err(RelayError::InvalidRequest("empty post"));
        }
        if post.len() > self.limits.max_channel_post_bytes {
            return Err(RelayError::Refused(RefusalReason::PostTooLarge));
        }
        let record = self.store.channel(channel)?.ok_or(RelayError::UnknownChannel)?;
        let now = unix_ms();
        self.check_publisher(me, &record.org, now)?;
        let retention_ms = u64::from(record.retention_days).saturating_mul(DAY_MS);
        let stored = self.store.append_post(NewPost {
            channel,
            prev_seq,
            post,
            now_ms: now,
            expires_at_ms: now.saturating_add(retention_ms),
        })?;
        self.durable().await?;
        self.metrics.channel_post();
        let (seq, stored_at) = (stored.seq, stored.stored_at);
        // Announced first, so that the other nodes read it while this one
        // queues it for its own listeners (it is durable already).
        self.announce_post(channel, seq);
        // Pushed before the answer: an author who posts again only after
        // this answer cannot overtake its own previous post at a listener.
        let pushed = self.listeners.publish(channel, stored);
        if pushed.missed > 0 {
            tracing::debug!(missed = pushed.missed, "channel post not pushed to full queues");
        }
        Ok(Response::ChannelPosted { seq, stored_at })
    }

    /// Posts after `after`, with the channel's current metadata.
    pub(super) fn channel_fetch(
        &self,
        channel: &ChannelId,
        after: u64,
        limit: u32,
    ) -> Result<Response, RelayError> {
        let record = self.store.channel(channel)?.ok_or(RelayError::UnknownChannel)?;
        let limits = PageLimits {
            limit: (limit as usize).min(self.limits.channel_fetch_limit),
            max_bytes: self.limits.channel_page_bytes.saturating_sub(record.meta.len()),
            per_post_overhead: CHANNEL_POST_OVERHEAD,
            now_ms: unix_ms(),
        };
        let page = self.store.channel_posts(channel, after, limits)?;
        Ok(Response::ChannelPosts {
            channel: *channel,
            org: record.org,
            meta: record.meta.into(),
            key_epoch: record.key_epoch,
            posts: page.posts,
            first_seq: page.first_seq,
            last_seq: record.last_seq,
        })
    }

    /// Registers this connection for live posts of `channels`.
    pub fn channel_listen(
        &self,
        listens: &mut Listens,
        channels: &[ChannelId],
    ) -> Result<Response, RelayError> {
        const TOO_MANY: RelayError = RelayError::Refused(RefusalReason::TooManyListens);
        let max = self.limits.max_channel_listens;
        // Checked before any lookup, so an oversized list costs nothing.
        if channels.len() > max {
            return Err(TOO_MANY);
        }
        for channel in channels {
            if self.store.channel(channel)?.is_none() {
                return Err(RelayError::UnknownChannel);
            }
        }
        let count = listens.add(channels, max).map_err(|_| TOO_MANY)?;
        Ok(Response::Listening { channels: u32::try_from(count).unwrap_or(u32::MAX) })
    }
}
