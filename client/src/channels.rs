//! Broadcast channels: publishing (staff devices) and following (anyone,
//! no account needed).
//!
//! * A **publisher** is a staff device whose certificate role is publisher
//!   or admin. Its channels (id, current key and epoch, metadata, the last
//!   post it knows) live in `state.cbor` ([`PublishedChannel`]). Posting
//!   always re-reads the channel's tail from the server first, because
//!   another publisher device may have posted since.
//! * A **follower** needs only the invite link (it carries the org key), so
//!   following works on a home that never ran `init`. The follower — its
//!   follows, the chain rule, withheld/forged/revoked detection, kept
//!   revocation lists and org key rotations — is the client core's
//!   (`crate::follow`, shared with the web app); the CLI's
//!   wrapper over a file store under `<home>/follows/` is its
//!   client-cli/src/follow_home.rs. Its types are re-exported here.

use crate::clock::Clock;
use crate::commit::{Attempt, CommitRace, commit_with_retry};
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::channel::{
    self, CHANNEL_VERSION, ChannelError, ChannelInvite, ChannelKey, ChannelMeta, GENESIS, PostBody,
    Replies,
};
use stadtbote_protocol::org::{Role, StaffCertificate};
use stadtbote_protocol::org_rotation::{OrgKeys, org_keys};
use stadtbote_protocol::{ChannelId, DeviceId, ErrorBody, ErrorCode, OrgId, Request, Response};

use crate::connection::Connection as CoreConnection;
use crate::error::ClientError;
use crate::invalid_input::InvalidReason as R;
use crate::session::{Client, unexpected};
use crate::transport::Transport;

// The follower (follows, the chain rule, withheld/forged detection)
// lives in `crate::follow`; re-exported here so that `channels::…` keeps
// naming them (the CLI adds its file-backed `Follower`).
pub use crate::follow::{
    ChainContext, Cursor, EXPIRY_CLOCK_MARGIN_MS, FETCH_LIMIT, FOLLOWS_VERSION, FeedItem, FeedLine,
    Follow, FollowsFile, KnownOrgKey, KnownRevocations, KnownStaffList, WarningKind, follow_chain,
};

/// Days the server keeps a post unless the publisher says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
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
        read_photo: crate::attachments::ReadPhoto<'_>,
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
            let photo = crate::attachments::Photo { path: path.clone(), bytes: read_photo(path)? };
            photos.push(crate::attachments::upload_photo(self, photo).await?);
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
    /// reply. `follows` are the device's follows, which the front-end keeps
    /// (the CLI reads them under its home's lock).
    pub async fn channel_post_for_reply(
        &mut self,
        follows: &FollowsFile,
        channel_text: &str,
        seq: u64,
    ) -> Result<(Follow, PostBody), ClientError> {
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
/// ([`crate::commit`], whose docs say why a post, though no MLS
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
