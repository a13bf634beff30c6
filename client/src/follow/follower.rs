//! [`Follower`]: the operations of an account-less follower over a
//! front-end's storage and a connection that is never logged in.
//!
//! Every change is saved at once as one durable commit of the follows
//! record ([`super::store`]): following, unfollowing, a cursor that moved
//! over verified posts, a newer revocation list or staff list, an org key
//! followed along its rotation chain.

use stadtbote_protocol::channel::{self, ChannelError, ChannelInvite, ChannelKey, ChannelMeta};
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org_rotation::OrgKeys;
use stadtbote_protocol::{ChannelId, DeviceId, ErrorCode, OrgId, Request, Response};
use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::connection::Connection;
use crate::storage::{HolderId, Storage};
use crate::transport::{Connector, Transport};

use super::chain::{ChainContext, FeedItem, follow_chain};
use super::directory::presented_org;
use super::model::{Cursor, Follow, FollowsFile, resolve};
use super::{FollowError, store, unexpected};

/// Posts asked for per `ChannelFetch`.
pub const FETCH_LIMIT: u32 = 100;

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

/// A follow checked against the server, not yet kept (see
/// [`Follower::prepare_follow`]).
#[derive(Debug)]
pub struct PreparedFollow {
    invite: ChannelInvite,
    meta: ChannelMeta,
    /// The org's keys along its rotation chain as followed.
    pub org_keys: OrgKeys,
}

impl PreparedFollow {
    /// The invite being followed.
    pub fn invite(&self) -> &ChannelInvite {
        &self.invite
    }
}

/// One `ChannelFetch` answer.
struct Page {
    org: OrgId,
    meta: Vec<u8>,
    key_epoch: u32,
    posts: Vec<ChannelPostRecord>,
    first_seq: u64,
    last_seq: u64,
}

/// Asks for posts after `after`.
async fn fetch<T: Transport, C: Clock>(
    conn: &mut Connection<T, C>,
    channel: ChannelId,
    after: u64,
    limit: u32,
) -> Result<Page, FollowError> {
    match conn.call(Request::ChannelFetch { channel, after, limit }).await? {
        Ok(Response::ChannelPosts { org, meta, key_epoch, posts, first_seq, last_seq, .. }) => {
            Ok(Page { org, meta: meta.into_vec(), key_epoch, posts, first_seq, last_seq })
        }
        Ok(other) => Err(unexpected(conn.url(), &other)),
        Err(body) if body.code == ErrorCode::UnknownChannel => {
            Err(FollowError::UnknownChannel(channel.to_string()))
        }
        Err(body) => Err(FollowError::server(body)),
    }
}

/// An account-less follower: its follows in storage `S`, timed by `C`.
#[derive(Debug)]
pub struct Follower<S, C> {
    storage: S,
    holder: HolderId,
    file: FollowsFile,
    clock: C,
}

impl<S: Storage, C: Clock + Clone> Follower<S, C> {
    /// Opens the follows kept in `storage` (none yet: empty). `holder`
    /// names this writer in the storage's lease, which is taken only for
    /// the moment of each save.
    pub async fn open(storage: S, holder: HolderId, clock: C) -> Result<Self, FollowError> {
        let file = store::load(&storage).await?.unwrap_or_default();
        Ok(Follower { storage, holder, file, clock })
    }

    /// Imports follows an older front-end kept elsewhere (the CLI's
    /// `follows.cbor`) in one durable commit, unless the storage already
    /// holds follows (then an earlier import committed and only the old
    /// copy was left). Returns whether it imported. The caller removes the
    /// old copy only after this returned `Ok`.
    pub async fn import_legacy(&mut self, bytes: &[u8]) -> Result<bool, FollowError> {
        if store::load(&self.storage).await?.is_some() {
            return Ok(false);
        }
        let file = store::decode(bytes)?;
        store::save(&self.storage, &self.holder, &file, self.clock.now_ms()).await?;
        self.file = file;
        Ok(true)
    }

    /// Everything kept.
    pub fn file(&self) -> &FollowsFile {
        &self.file
    }

    /// The follows, by channel.
    pub fn follows(&self) -> &BTreeMap<ChannelId, Follow> {
        &self.file.follows
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    async fn save(&self) -> Result<(), FollowError> {
        store::save(&self.storage, &self.holder, &self.file, self.clock.now_ms()).await
    }

    /// Connects to `url` without logging in.
    pub async fn connect<K: Connector>(
        &self,
        connector: &K,
        url: &str,
    ) -> Result<Connection<K::Transport, C>, FollowError> {
        Ok(Connection::open(connector, self.clock.clone(), url).await?.0)
    }

    /// Follows the channel of an invite (again, with a newer key, after a
    /// rotation: the cursor is kept): [`Follower::prepare_follow`], then
    /// [`Follower::commit_follow`].
    pub async fn follow<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        invite: &ChannelInvite,
    ) -> Result<Follow, FollowError> {
        let prepared = self.prepare_follow(conn, invite).await?;
        self.commit_follow(prepared).await
    }

    /// Verifies the org's directory from the pinned key (following its
    /// rotation chain), checks that the invite's org key is on that chain
    /// and reads the channel's metadata. A front-end that pins org keys of
    /// its own checks the prepared follow against them before it commits.
    pub async fn prepare_follow<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        invite: &ChannelInvite,
    ) -> Result<PreparedFollow, FollowError> {
        let key = invite
            .channel_key()
            .map_err(|source| FollowError::ChannelData { what: "invite link", source })?;
        let revoked = self.refresh_org(conn, invite.org, &invite.handle, invite.org_key).await?;
        let org_keys = self.file.org_keys(&invite.org, &invite.org_key);
        if !org_keys.contains(&invite.org_key) {
            return Err(FollowError::OrgKeyChanged {
                handle: invite.handle.clone(),
                pinned: org_keys.current.fingerprint(),
                presented: invite.org_key.fingerprint(),
            });
        }
        let meta = self.fetch_meta(conn, invite, &key, &org_keys, &revoked).await?;
        Ok(PreparedFollow { invite: invite.clone(), meta, org_keys })
    }

    /// Keeps a prepared follow.
    pub async fn commit_follow(&mut self, prepared: PreparedFollow) -> Result<Follow, FollowError> {
        let PreparedFollow { invite, meta, org_keys } = prepared;
        let follow = match self.file.follows.get(&invite.channel) {
            Some(old) if old.org != invite.org || !org_keys.contains(&old.org_key) => {
                return Err(FollowError::OrgKeyChanged {
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
        self.save().await?;
        Ok(follow)
    }

    /// Fetches and takes `org`'s directory, saving what changed; returns
    /// the revoked devices.
    async fn refresh_org<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        org: OrgId,
        handle: &str,
        invite_key: stadtbote_protocol::auth::IdentityKey,
    ) -> Result<Vec<DeviceId>, FollowError> {
        let (pinned, accepted) = self.file.pinned(&org, invite_key);
        let presented = presented_org(conn, handle, org, pinned, &accepted).await?;
        let (changed, revoked) = self.file.accept_org(org, handle, presented)?;
        if changed {
            self.save().await?;
        }
        Ok(revoked)
    }

    async fn fetch_meta<T: Transport>(
        &self,
        conn: &mut Connection<T, C>,
        invite: &ChannelInvite,
        key: &ChannelKey,
        keys: &OrgKeys,
        revoked: &[DeviceId],
    ) -> Result<ChannelMeta, FollowError> {
        let page = fetch(conn, invite.channel, 0, 1).await?;
        let forged = || FollowError::ChannelData { what: "metadata", source: ChannelError::Forged };
        if page.org != invite.org {
            return Err(forged());
        }
        let meta = channel::open_meta_along(
            &page.meta,
            key,
            &invite.channel,
            keys,
            revoked,
            self.clock.now_ms(),
        )
        .map_err(|source| match source {
            ChannelError::Undecryptable if page.key_epoch > invite.key_epoch => {
                FollowError::OutdatedInvite
            }
            source => FollowError::ChannelData { what: "metadata", source },
        })?;
        if meta.org != invite.org || meta.handle != invite.handle {
            return Err(forged());
        }
        Ok(meta)
    }

    /// Stops following.
    pub async fn unfollow(&mut self, text: &str) -> Result<Follow, FollowError> {
        let id = self.resolve(text)?;
        let follow =
            self.file.follows.remove(&id).ok_or(FollowError::UnknownChannel(id.to_string()))?;
        self.save().await?;
        Ok(follow)
    }

    /// Resolves a followed channel by id or prefix.
    pub fn resolve(&self, text: &str) -> Result<ChannelId, FollowError> {
        resolve(&self.file.follows, text).map(|(id, _)| *id)
    }

    /// The revoked devices of the orgs publishing `channels` (one directory
    /// fetch per org): on the newest revocation list and staff list this
    /// follower verified. A newer list the server presents is kept (saved
    /// at once), a missing or older one is refused; the org key follows
    /// the org's rotation chain.
    pub async fn revocations<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        channels: &[ChannelId],
    ) -> Result<BTreeMap<OrgId, Vec<DeviceId>>, FollowError> {
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

    /// Asks the server to push new posts of `channels` on `conn`
    /// (`Event::ChannelPost`, handed to [`Follower::on_push`]).
    pub async fn listen<T: Transport>(
        conn: &mut Connection<T, C>,
        channels: Vec<ChannelId>,
    ) -> Result<(), FollowError> {
        match conn.request(Request::ChannelListen { channels }).await? {
            Response::Listening { .. } => Ok(()),
            other => Err(unexpected(conn.url(), &other)),
        }
    }

    /// Fetches and verifies everything after the cursor of `channel`,
    /// saving the cursor after every batch.
    pub async fn catch_up<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        channel: ChannelId,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, FollowError> {
        let mut lines = Vec::new();
        while let Some(follow) = self.file.follows.get(&channel) {
            let before = follow.cursor.last_seq;
            let page = fetch(conn, channel, before, FETCH_LIMIT).await?;
            let keys = follow.channel_keys();
            let before_meta = follow.clone();
            let name = self.refresh_meta(channel, &page.meta, &keys, revoked);
            if self.file.follows.get(&channel) != Some(&before_meta) {
                self.save().await?;
            }
            let (stopped, after) = self
                .apply(
                    channel,
                    &name,
                    &keys,
                    revoked,
                    Some(page.first_seq),
                    &page.posts,
                    &mut lines,
                )
                .await?;
            if stopped || page.posts.is_empty() || after <= before || after >= page.last_seq {
                break;
            }
        }
        Ok(lines)
    }

    /// The channel's newest posts (at most about `max`) for a screen that
    /// shows them again: fetched and run through the chain rule from a
    /// cursor of its own, so the kept cursor does not move and nothing is
    /// saved. A window that starts after the first retained post cannot
    /// check its first post's `prev` (its signature and number still are).
    pub async fn history<T: Transport>(
        &self,
        conn: &mut Connection<T, C>,
        channel: ChannelId,
        revoked: &[DeviceId],
        max: u64,
    ) -> Result<Vec<FeedLine>, FollowError> {
        let Some(follow) = self.file.follows.get(&channel) else { return Ok(Vec::new()) };
        let keys = follow.channel_keys();
        let org_keys = self.file.org_keys(&follow.org, &follow.org_key);
        let head = fetch(conn, channel, 0, 1).await?;
        let start = head.last_seq.saturating_sub(max).max(head.first_seq.saturating_sub(1));
        let mut cursor = Cursor { last_seq: start, ..Cursor::default() };
        let mut lines = Vec::new();
        loop {
            let page = fetch(conn, channel, cursor.last_seq, FETCH_LIMIT).await?;
            let ctx = ChainContext {
                channel,
                name: &follow.name,
                org: follow.org,
                org_keys: &org_keys,
                keys: &keys,
                revoked,
                retention_days: follow.retention_days,
                created_at: follow.created_at,
                now: self.clock.now_ms(),
            };
            let before = cursor.last_seq;
            let (items, stopped) =
                follow_chain(&mut cursor, &ctx, Some(page.first_seq), &page.posts);
            lines.extend(items.into_iter().map(|item| FeedLine {
                channel,
                name: follow.name.clone(),
                item,
            }));
            if stopped
                || page.posts.is_empty()
                || cursor.last_seq <= before
                || cursor.last_seq >= page.last_seq
            {
                break;
            }
        }
        Ok(lines)
    }

    /// Applies one pushed post (`ChannelListen`); on a gap, fetches the
    /// missing range first.
    pub async fn on_push<T: Transport>(
        &mut self,
        conn: &mut Connection<T, C>,
        channel: ChannelId,
        post: ChannelPostRecord,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, FollowError> {
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
        self.apply(channel, &name, &keys, revoked, None, std::slice::from_ref(&post), &mut lines)
            .await?;
        Ok(lines)
    }

    /// Runs the chain rule and saves the cursor; returns (stopped, cursor).
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &mut self,
        channel: ChannelId,
        name: &str,
        keys: &BTreeMap<u32, ChannelKey>,
        revoked: &[DeviceId],
        first_seq: Option<u64>,
        posts: &[ChannelPostRecord],
        lines: &mut Vec<FeedLine>,
    ) -> Result<(bool, u64), FollowError> {
        let Some(follow) = self.file.follows.get(&channel) else { return Ok((true, 0)) };
        let org_keys = self.file.org_keys(&follow.org, &follow.org_key);
        let now = self.clock.now_ms();
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
            now,
        };
        let mut cursor = follow.cursor.clone();
        let (items, stopped) = follow_chain(&mut cursor, &ctx, first_seq, posts);
        let changed = cursor != follow.cursor;
        let after = cursor.last_seq;
        follow.cursor = cursor;
        if changed {
            self.save().await?;
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
        let now = self.clock.now_ms();
        let Some(follow) = self.file.follows.get_mut(&channel) else { return String::new() };
        let epoch = channel::key_epoch_of(sealed).ok();
        if let Some(key) = epoch.and_then(|e| keys.get(&e))
            && let Ok(meta) =
                channel::open_meta_along(sealed, key, &channel, &org_keys, revoked, now)
            && meta.org == follow.org
        {
            follow.take_meta(meta);
        }
        follow.name.clone()
    }
}
