//! Discussion groups: MLS groups of an org's citizens, joined by link.
//!
//! A staff member creates a group; anyone holding its join link
//! ([`GroupLink`]) joins without a member being online, by MLS external
//! commit from the GroupInfo the server keeps sealed under the link secret.
//! The server keeps only the GroupInfo of the epoch it was last given, so
//! *every* member that knows the link secret puts a fresh one after merging
//! any commit of the group (its own or, during sync, someone else's), and
//! the next joiner finds the current epoch.
//!
//! A moderator (certified staff of the group's org) removes a member by one
//! commit for all its devices and then replaces the link: a new secret, a
//! new GroupInfo under the new token hash (the server forgets the old one),
//! and a `GroupMeta` with the new secret for the remaining members. Members
//! that see a removal by someone else wait for that `GroupMeta` before they
//! refresh the GroupInfo again, so that they never put it back under the
//! old token.
//!
//! Group posts live in [`State::groups`](crate::state::State::groups), never
//! in the conversation history or the threads.
//!
//! [`DiscussionGroup`]'s methods are pure bookkeeping and unit-tested here.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::commit::{Attempt, CommitRace, commit_with_retry};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::group_link::{
    GROUP_LINK_VERSION, GroupLink, join_token, new_secret, open_group_info, seal_group_info,
    token_hash,
};
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::{Commit, MlsError, group_info_data};
use stadtbote_protocol::{
    AccountId, DeviceId, ErrorBody, ErrorCode, GroupId, MsgId, OrgId, Request, Response,
};

use crate::error::ClientError;
use crate::invalid_input::InvalidReason as R;
use crate::session::{Client, unexpected};

/// How often `group join` tries again when another commit won the epoch.
pub const MAX_JOIN_ATTEMPTS: usize = 5;
/// How long a joiner waits between attempts for a member to refresh the
/// GroupInfo.
const JOIN_RETRY_WAIT: Duration = Duration::from_millis(400);
/// Longest group name accepted.
const MAX_NAME_CHARS: usize = 100;

/// One post of a discussion group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPost {
    /// The sender's message id.
    pub id: MsgId,
    /// The writer's account.
    pub from: AccountId,
    /// The writer's device.
    pub from_device: DeviceId,
    /// The display name the writer sent along.
    pub from_name: Option<String>,
    /// The writer's clock (Unix ms).
    pub sent_at: u64,
    /// The text.
    pub text: String,
    /// Whether `group read` has shown it.
    pub shown: bool,
}

/// A discussion group this device is in (or was removed from).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscussionGroup {
    /// The MLS group.
    pub group: GroupId,
    /// Its name.
    pub name: String,
    /// The org running it.
    pub org: OrgId,
    /// The org's handle.
    pub handle: String,
    /// The org's key (moderators are its certified staff).
    pub org_key: IdentityKey,
    /// The current 32-byte link secret.
    pub link_secret: ByteBuf,
    /// Whether this device created the group or moderates it as staff.
    pub moderator: bool,
    /// Posts, in the order this device learned of them.
    pub posts: Vec<GroupPost>,
    /// The latest display name seen per account in this group.
    pub names: BTreeMap<AccountId, String>,
    /// Member devices after the last commit this device merged.
    pub member_count: usize,
    /// A commit was merged since the server last got our GroupInfo.
    pub info_stale: bool,
    /// Someone else removed members: the link is being replaced, so the
    /// GroupInfo is not refreshed under the old secret until the moderator's
    /// `GroupMeta` with the new one arrives.
    pub awaiting_new_secret: bool,
    /// This device was removed from the group.
    pub removed: bool,
    /// When this device joined or created it (Unix ms).
    pub joined_at: u64,
}

impl std::fmt::Debug for DiscussionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The link secret lets anyone join: never print it.
        f.debug_struct("DiscussionGroup")
            .field("group", &self.group)
            .field("handle", &self.handle)
            .field("moderator", &self.moderator)
            .field("posts", &self.posts.len())
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

/// How [`DiscussionGroup::resolve_member`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberLookup {
    /// Nothing matched.
    NotFound,
    /// Several accounts matched.
    Ambiguous,
}

impl DiscussionGroup {
    /// The join link for the current secret.
    pub fn link(&self) -> GroupLink {
        GroupLink {
            v: GROUP_LINK_VERSION,
            group: self.group,
            secret: self.link_secret.clone(),
            org: self.org,
            handle: self.handle.clone(),
            org_key: self.org_key,
        }
    }

    /// Records a post once (de-duplicated by message id) and the writer's
    /// display name; returns whether it was new.
    pub fn record_post(&mut self, post: GroupPost) -> bool {
        if let Some(name) = &post.from_name {
            self.names.insert(post.from, name.clone());
        }
        if self.posts.iter().any(|p| p.id == post.id) {
            return false;
        }
        self.posts.push(post);
        true
    }

    /// Posts not shown yet, marked shown.
    pub fn take_unshown(&mut self) -> Vec<GroupPost> {
        let mut out = Vec::new();
        for post in self.posts.iter_mut().filter(|p| !p.shown) {
            post.shown = true;
            out.push(post.clone());
        }
        out
    }

    /// Applies a `GroupMeta` from a member: the name and a new link secret.
    /// Returns whether the secret changed.
    pub fn apply_meta(&mut self, name: &str, secret: &[u8]) -> bool {
        if !name.trim().is_empty() {
            self.name = name.to_string();
        }
        let changed = secret.len() == 32 && self.link_secret.as_slice() != secret;
        if changed {
            self.link_secret = ByteBuf::from(secret.to_vec());
            self.awaiting_new_secret = false;
            self.info_stale = true;
        }
        changed
    }

    /// Records a commit merged here with `members` devices afterwards. A
    /// drop in members by someone else's commit means a removal: the link
    /// is being replaced (see the module docs).
    pub fn on_commit(&mut self, members: usize, by_us: bool) {
        if !by_us && members < self.member_count {
            self.awaiting_new_secret = true;
        }
        self.member_count = members;
        self.info_stale = true;
    }

    /// Whether this device should put a fresh GroupInfo now.
    pub fn needs_refresh(&self) -> bool {
        self.info_stale && !self.awaiting_new_secret && !self.removed
    }

    /// Finds a member account by full id, unique id prefix (at least six
    /// characters) or a display name seen in the group (case-insensitive).
    pub fn resolve_member(
        &self,
        text: &str,
        members: &[AccountId],
    ) -> Result<AccountId, MemberLookup> {
        let wanted = text.trim();
        if let Ok(account) = AccountId::parse(wanted)
            && members.contains(&account)
        {
            return Ok(account);
        }
        let upper: String = wanted.chars().filter(|c| *c != '-').collect::<String>().to_uppercase();
        let mut found: Vec<AccountId> = Vec::new();
        if upper.len() >= 6 {
            found.extend(members.iter().filter(|a| a.to_string().starts_with(&upper)).copied());
        }
        if found.is_empty() {
            found.extend(
                members
                    .iter()
                    .filter(|a| self.names.get(a).is_some_and(|n| n.eq_ignore_ascii_case(wanted))),
            );
        }
        found.sort();
        found.dedup();
        match found.as_slice() {
            [only] => Ok(*only),
            [] => Err(MemberLookup::NotFound),
            _ => Err(MemberLookup::Ambiguous),
        }
    }
}

/// A group as `stadtbote groups` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group.
    pub group: GroupId,
    /// Its name.
    pub name: String,
    /// The org's handle.
    pub handle: String,
    /// Distinct member accounts (0 when removed).
    pub members: usize,
    /// Whether this device moderates it.
    pub moderator: bool,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// The discussion groups this device is in (not those it was removed from).
    pub fn group_summaries(&self) -> Result<Vec<GroupSummary>, ClientError> {
        let mut out = Vec::new();
        for g in self.state.groups.values().filter(|g| !g.removed) {
            let mut accounts: Vec<AccountId> = if self.mls.has_group(&g.group)? {
                self.mls.members(&g.group)?.into_iter().map(|m| m.account).collect()
            } else {
                Vec::new()
            };
            accounts.sort();
            accounts.dedup();
            out.push(GroupSummary {
                group: g.group,
                name: g.name.clone(),
                handle: g.handle.clone(),
                members: accounts.len(),
                moderator: g.moderator,
            });
        }
        Ok(out)
    }

    /// Finds a group by id, unambiguous id prefix (six characters or more)
    /// or exact name.
    pub fn resolve_group(&self, text: &str) -> Result<GroupId, ClientError> {
        let mut matches = crate::state::group_ids_matching(&self.state.groups, text);
        if matches.is_empty() {
            matches.extend(
                self.state.groups.values().filter(|g| g.name == text.trim()).map(|g| g.group),
            );
        }
        match matches.as_slice() {
            [only] => Ok(*only),
            _ => Err(ClientError::UnknownGroup(text.to_string())),
        }
    }

    /// The org this device is valid staff of: `handle`, or the only one.
    /// Checks the certificate against a fresh directory.
    async fn staff_org(
        &mut self,
        handle: Option<&str>,
    ) -> Result<(OrgId, String, IdentityKey), ClientError> {
        let now = self.clock.now_ms();
        let candidates: Vec<String> = self
            .state
            .enrolments
            .iter()
            .filter(|e| e.expires_at > now && handle.is_none_or(|h| h == e.handle))
            .map(|e| e.handle.clone())
            .collect();
        let handle = match candidates.as_slice() {
            [only] => only.clone(),
            [] => return Err(ClientError::NotStaffAnywhere),
            _ => return Err(ClientError::SeveralOrgs(candidates.join(", "))),
        };
        self.check_staff_of(&handle).await?;
        let pin = self
            .state
            .pins
            .get(&handle)
            .ok_or_else(|| ClientError::NotStaff { handle: handle.clone() })?;
        Ok((pin.org, handle, pin.key))
    }

    /// Fails unless the org's verified directory certifies this device now.
    async fn check_staff_of(&mut self, handle: &str) -> Result<(), ClientError> {
        let verified = self.fetch_org(handle).await?;
        let own = self.secret.identity_key();
        let (account, device) = (self.state.account, self.state.device);
        if verified.staff.iter().any(|r| r.is_valid() && r.certifies(&account, &device, &own)) {
            Ok(())
        } else {
            Err(ClientError::NotStaff { handle: handle.to_string() })
        }
    }

    /// `group create`: a new group with this staff device as its only member
    /// and moderator. Connects if needed. Returns the group.
    pub async fn create_discussion_group(
        &mut self,
        name: &str,
        handle: Option<&str>,
    ) -> Result<GroupId, ClientError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ClientError::Invalid {
                what: "group name",
                reason: R::NameLength { max: MAX_NAME_CHARS },
            });
        }
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        let (org, handle, org_key) = self.staff_org(handle).await?;
        let (group, nonce) = new_random_group();
        self.creations
            .insert(group, GroupCreation::Random { nonce: ByteBuf::from(nonce.to_vec()) });
        self.mls.create_group(group)?;
        // An empty commit at epoch 0 registers the group with the server.
        let commit = self.mls.commit_update(&group)?;
        // One attempt: a random group id the server already has is not a
        // race to retry.
        let mut race = CreationRace { client: self, group, commit: Some(commit) };
        commit_with_retry(&mut race, 1).await?;
        let secret = new_secret();
        let entry = DiscussionGroup {
            group,
            name: name.to_string(),
            org,
            handle,
            org_key,
            link_secret: ByteBuf::from(secret.to_vec()),
            moderator: true,
            posts: Vec::new(),
            names: BTreeMap::new(),
            member_count: 1,
            info_stale: true,
            awaiting_new_secret: false,
            removed: false,
            joined_at: self.clock.now_ms(),
        };
        self.state.groups.insert(group, entry);
        self.routes.add_discussion_group(group);
        self.save().await?;
        // The first put records the group's org with the server.
        self.put_group_info(&group, Some(org)).await?;
        self.send_group_meta(&group).await?;
        Ok(group)
    }

    /// Seals this epoch's GroupInfo (with the group's name) under the link
    /// secret and stores it with the token hash on the server.
    /// `org` is named on the group's first put only: the server records it
    /// then (the caller must be its staff) and ignores it later.
    async fn put_group_info(
        &mut self,
        group: &GroupId,
        org: Option<OrgId>,
    ) -> Result<(), ClientError> {
        let entry = self.group_entry(group)?.clone();
        let info = self.mls.export_group_info_with_data(group, entry.name.as_bytes())?;
        let sealed = seal_group_info(entry.link_secret.as_slice(), group, &info)
            .map_err(|e| ClientError::ChannelData { what: "group info", source: e })?;
        let token = join_token(entry.link_secret.as_slice());
        let request = Request::GroupInfoPut {
            group: *group,
            token_hash: ByteBuf::from(token_hash(&token).to_vec()),
            info: ByteBuf::from(sealed),
            org,
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::GroupInfoStored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(ClientError::server(body)),
        }
        if let Some(g) = self.state.groups.get_mut(group) {
            g.info_stale = false;
        }
        self.save().await
    }

    /// Puts fresh GroupInfo for every group that merged a commit since the
    /// last put (see the module docs). Failures are logged and retried at
    /// the next sync.
    pub(crate) async fn refresh_group_infos(&mut self) {
        let due: Vec<GroupId> =
            self.state.groups.values().filter(|g| g.needs_refresh()).map(|g| g.group).collect();
        for group in due {
            let active = self.mls.has_group(&group).and_then(|_| self.mls.is_active(&group));
            if !matches!(active, Ok(true)) {
                continue;
            }
            if let Err(error) = self.put_group_info(&group, None).await {
                tracing::warn!(%error, %group, "could not refresh the group's join information");
            }
        }
    }

    fn group_entry(&self, group: &GroupId) -> Result<&DiscussionGroup, ClientError> {
        self.state.groups.get(group).ok_or_else(|| ClientError::UnknownGroup(group.to_string()))
    }

    /// Encrypts and sends one application message to the group.
    async fn send_group_body(
        &mut self,
        group: &GroupId,
        body: AppBody,
    ) -> Result<MsgId, ClientError> {
        let message = AppMessage {
            v: APP_VERSION,
            id: MsgId::random(),
            sent_at: self.clock.now_ms(),
            sender_name: self.state.name.clone(),
            body,
        };
        let ciphertext = match self.mls.encrypt(group, &message.encode()) {
            Err(MlsError::NotAMember) => {
                return Err(ClientError::RemovedFromGroup(group.to_string()));
            }
            other => other?,
        };
        // The advanced sender ratchet is saved before the bytes leave.
        self.save().await?;
        let request = stadtbote_protocol::notify::send_request(*group, ciphertext, &message.body);
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Stored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::NotAMember => {
                return Err(ClientError::RemovedFromGroup(group.to_string()));
            }
            Err(body) => return Err(ClientError::server(body)),
        }
        if let AppBody::GroupPost { text } = message.body
            && let Some(g) = self.state.groups.get_mut(group)
        {
            let (account, device) = (self.state.account, self.state.device);
            g.record_post(GroupPost {
                id: message.id,
                from: account,
                from_device: device,
                from_name: message.sender_name,
                sent_at: message.sent_at,
                text,
                // Our own post need not be shown back to us.
                shown: true,
            });
            self.save().await?;
        }
        Ok(message.id)
    }

    async fn send_group_meta(&mut self, group: &GroupId) -> Result<(), ClientError> {
        let entry = self.group_entry(group)?;
        let body = AppBody::GroupMeta {
            name: entry.name.clone(),
            org: entry.org,
            handle: entry.handle.clone(),
            link_secret: entry.link_secret.clone(),
        };
        self.send_group_body(group, body).await.map(|_| ())
    }

    /// `group invite`: refreshes the GroupInfo for the current epoch and
    /// returns the join link. Connects (and syncs) if needed.
    pub async fn group_invite(&mut self, text: &str) -> Result<String, ClientError> {
        let group = self.resolve_group(text)?;
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        self.ensure_member(&group)?;
        self.put_group_info(&group, None).await?;
        Ok(self.group_entry(&group)?.link().to_link())
    }

    fn ensure_member(&self, group: &GroupId) -> Result<(), ClientError> {
        let entry = self.group_entry(group)?;
        if entry.removed || !self.mls.has_group(group)? || !self.mls.is_active(group)? {
            return Err(ClientError::RemovedFromGroup(group.to_string()));
        }
        Ok(())
    }

    /// `group join`: joins by external commit with a link. Returns the
    /// group's name and id. Connects if needed.
    pub async fn join_group(&mut self, link_text: &str) -> Result<(String, GroupId), ClientError> {
        let link = crate::app_links::group_link(link_text)?;
        let group = link.group;
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        if let Some(existing) = self.state.groups.get(&group)
            && !existing.removed
            && self.mls.has_group(&group)?
            && self.mls.is_active(&group)?
        {
            return Ok((existing.name.clone(), group));
        }
        let mut race = JoinRace { client: self, link };
        commit_with_retry(&mut race, MAX_JOIN_ATTEMPTS).await
    }

    /// `group post`: syncs (connecting if needed), then posts.
    pub async fn post_to_group(
        &mut self,
        text_group: &str,
        text: &str,
    ) -> Result<MsgId, ClientError> {
        let group = self.resolve_group(text_group)?;
        if text.trim().is_empty() {
            return Err(ClientError::Invalid { what: "post", reason: R::MustNotBeEmpty });
        }
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        self.ensure_member(&group)?;
        self.send_group_body(&group, AppBody::GroupPost { text: text.to_string() }).await
    }

    /// Posts of `group` not shown before, marked shown (saved).
    pub async fn take_unshown_posts(
        &mut self,
        group: &GroupId,
    ) -> Result<Vec<GroupPost>, ClientError> {
        let posts = match self.state.groups.get_mut(group) {
            Some(g) => g.take_unshown(),
            None => return Err(ClientError::UnknownGroup(group.to_string())),
        };
        if !posts.is_empty() {
            self.save().await?;
        }
        Ok(posts)
    }

    /// `group remove`: a moderator removes every device of an account in one
    /// commit, then replaces the link. Returns the removed account.
    pub async fn remove_from_group(
        &mut self,
        text_group: &str,
        member: &str,
    ) -> Result<AccountId, ClientError> {
        let group = self.resolve_group(text_group)?;
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        self.ensure_member(&group)?;
        let handle = self.group_entry(&group)?.handle.clone();
        self.check_staff_of(&handle).await?;
        let mut race = RemovalRace { client: self, group, member };
        commit_with_retry(&mut race, MAX_JOIN_ATTEMPTS).await
    }

    /// Sync hook: a commit of another member in a discussion group was merged.
    pub(crate) fn on_group_commit(&mut self, group: GroupId, removed: bool) {
        let members =
            if removed { 0 } else { self.mls.members(&group).map(|m| m.len()).unwrap_or_default() };
        if let Some(g) = self.state.groups.get_mut(&group) {
            if removed {
                g.removed = true;
                g.info_stale = false;
            } else {
                g.on_commit(members, false);
            }
        }
    }

    /// Sync hook: an application message in a discussion group.
    pub(crate) fn on_group_application(
        &mut self,
        group: GroupId,
        from: AccountId,
        from_device: DeviceId,
        plaintext: &[u8],
    ) {
        let message = match AppMessage::decode(plaintext) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "dropping an unreadable group message");
                return;
            }
        };
        let own = from == self.state.account;
        let Some(g) = self.state.groups.get_mut(&group) else { return };
        match message.body {
            AppBody::GroupPost { text } => {
                g.record_post(GroupPost {
                    id: message.id,
                    from,
                    from_device,
                    from_name: message.sender_name,
                    sent_at: message.sent_at,
                    text,
                    shown: false,
                });
            }
            AppBody::GroupMeta { name, org, link_secret, .. } if org == g.org => {
                if let Some(n) = &message.sender_name {
                    g.names.insert(from, n.clone());
                }
                // Only the group's own org runs it; a meta naming another
                // org is ignored. Members may pass the link on, so any
                // member's new secret is taken.
                if g.apply_meta(&name, &link_secret) && own {
                    g.moderator = true;
                }
            }
            _ => {}
        }
    }
}

fn is_link_refusal(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::InvalidCode | ErrorCode::UnknownGroup | ErrorCode::Forbidden)
}

/// [`Client::join_group`]'s side of the commit race: an external commit
/// built from the GroupInfo the server keeps for the link. The joiner is no
/// member yet, so a lost race needs no catching up (the next attempt
/// fetches the GroupInfo again), and a GroupInfo older than the group is an
/// attempt with nothing to send: the joiner waits [`JOIN_RETRY_WAIT`] for a
/// member to refresh it.
struct JoinRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    link: GroupLink,
}

impl<S: Storage, K: Connector, C: Clock + Clone> JoinRace<'_, S, K, C> {
    /// Drops the group the external commit created here (OpenMLS merged
    /// it at once) and saves: a retry starts clean.
    async fn drop_joined_group(&mut self) -> Result<(), ClientError> {
        self.client.mls.delete_group(&self.link.group)?;
        self.client.save().await
    }
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for JoinRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    /// The group's name from its GroupInfo.
    type Pending = String;
    type Done = (String, GroupId);
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<String, (String, GroupId)>, ClientError> {
        let (link, client) = (&self.link, &mut *self.client);
        let group = link.group;
        let token = join_token(link.secret.as_slice());
        let request = Request::GroupInfoGet { group, token: ByteBuf::from(token.to_vec()) };
        let (server_epoch, sealed) = match client.conn_mut()?.call(request).await? {
            Ok(Response::GroupInfo { epoch, info, .. }) => (epoch, info),
            Ok(other) => return Err(unexpected(&client.server_url, &other)),
            Err(body) if is_link_refusal(body.code) => {
                return Err(ClientError::GroupLinkRefused);
            }
            Err(body) => return Err(ClientError::server(body)),
        };
        let info = open_group_info(link.secret.as_slice(), &group, &sealed)
            .map_err(|_| ClientError::GroupLinkRefused)?;
        let name =
            group_info_data(&info)?.and_then(|d| String::from_utf8(d).ok()).unwrap_or_default();
        let (mls_group, commit, epoch) = client.mls.join_by_external_commit(&info)?;
        if mls_group != group {
            client.mls.delete_group(&mls_group)?;
            return Err(ClientError::GroupLinkRefused);
        }
        if epoch < server_epoch {
            // The stored GroupInfo is older than the group: no member
            // has refreshed it since the last commit. Wait and ask again.
            client.mls.delete_group(&group)?;
            return Ok(Attempt::NotYet);
        }
        // OpenMLS merged the commit already; it is undone (abandoned) if
        // the server does not accept it. Saved first so a crash cannot lose
        // the keys of a commit the server accepted.
        client.save().await?;
        let request = Request::ExternalJoin {
            group,
            epoch,
            commit: ByteBuf::from(commit),
            token: ByteBuf::from(token.to_vec()),
        };
        Ok(Attempt::Commit { request, pending: name })
    }

    async fn accepted(
        &mut self,
        name: String,
        _epoch: u64,
    ) -> Result<Option<(String, GroupId)>, ClientError> {
        let (link, client) = (&self.link, &mut *self.client);
        let group = link.group;
        let members = client.mls.members(&group)?.len();
        let entry = DiscussionGroup {
            group,
            name: if name.is_empty() { link.handle.clone() } else { name },
            org: link.org,
            handle: link.handle.clone(),
            org_key: link.org_key,
            link_secret: link.secret.clone(),
            moderator: false,
            posts: Vec::new(),
            names: BTreeMap::new(),
            member_count: members,
            info_stale: true,
            awaiting_new_secret: false,
            removed: false,
            joined_at: client.clock.now_ms(),
        };
        let shown = entry.name.clone();
        client.state.groups.insert(group, entry);
        client.routes.add_discussion_group(group);
        client.save().await?;
        // We are a member now and know the secret: the next joiner needs
        // this epoch's GroupInfo.
        if let Err(error) = client.put_group_info(&group, None).await {
            tracing::warn!(%error, "could not refresh the group's join information");
        }
        Ok(Some((shown, group)))
    }

    async fn abandon(&mut self, _name: &String) -> Result<(), ClientError> {
        // Whether refused, answered oddly or unanswered: the server's state
        // cannot be followed, so the group made here goes.
        self.drop_joined_group().await
    }

    async fn lost_race(&mut self, _name: String, _refusal: ErrorBody) -> Result<(), ClientError> {
        // Not a member: nothing to catch up with. The next attempt builds
        // on the GroupInfo of the epoch that won.
        Ok(())
    }

    async fn refused(&mut self, _name: String, body: ErrorBody) -> Result<(), ClientError> {
        if is_link_refusal(body.code) {
            return Err(ClientError::GroupLinkRefused);
        }
        Err(ClientError::server(body))
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, _attempts: usize) -> ClientError {
        ClientError::GroupInfoOutdated
    }

    fn pause(&self) -> Duration {
        JOIN_RETRY_WAIT
    }
}

/// [`Client::create_discussion_group`]'s side of the commit race: the one
/// empty commit at epoch 0 that registers the group with the server.
struct CreationRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    group: GroupId,
    /// The commit, until it is sent.
    commit: Option<Commit>,
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for CreationRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    type Pending = ();
    type Done = ();
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<(), ()>, ClientError> {
        let Some(commit) = self.commit.take() else { return Ok(Attempt::Done(())) };
        let request = self.client.commit_request(&self.group, &commit)?;
        Ok(Attempt::Commit { request, pending: () })
    }

    async fn accepted(&mut self, _pending: (), epoch: u64) -> Result<Option<()>, ClientError> {
        self.client.merge_commit(&self.group, epoch)?;
        Ok(Some(()))
    }

    async fn abandon(&mut self, _pending: &()) -> Result<(), ClientError> {
        self.client.abandon_commit(&self.group).await
    }

    async fn lost_race(&mut self, _pending: (), refusal: ErrorBody) -> Result<(), ClientError> {
        Err(ClientError::server(refusal))
    }

    async fn refused(&mut self, _pending: (), refusal: ErrorBody) -> Result<(), ClientError> {
        Err(ClientError::server(refusal))
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, attempts: usize) -> ClientError {
        ClientError::GroupConflict { attempts }
    }
}

/// [`Client::remove_from_group`]'s side of the commit race: one commit
/// removing every device of the member's account, then the link
/// replacement.
struct RemovalRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    group: GroupId,
    /// The member as the moderator named it.
    member: &'a str,
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for RemovalRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    /// The commit and the account it removes.
    type Pending = (Commit, AccountId);
    type Done = AccountId;
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<(Commit, AccountId), AccountId>, ClientError> {
        let (group, member, client) = (self.group, self.member, &mut *self.client);
        let members = client.mls.members(&group)?;
        let accounts: Vec<AccountId> = members.iter().map(|m| m.account).collect();
        let account =
            client.group_entry(&group)?.resolve_member(member, &accounts).map_err(|lookup| {
                ClientError::UnknownGroupMember {
                    member: member.to_string(),
                    ambiguous: lookup == MemberLookup::Ambiguous,
                }
            })?;
        if account == client.state.account {
            return Err(ClientError::Invalid { what: "member", reason: R::OwnAccount });
        }
        let devices: Vec<DeviceId> =
            members.iter().filter(|m| m.account == account).map(|m| m.device).collect();
        let commit = client.mls.remove_members(&group, &devices)?;
        let request = client.commit_request(&group, &commit)?;
        Ok(Attempt::Commit { request, pending: (commit, account) })
    }

    async fn accepted(
        &mut self,
        (_commit, account): (Commit, AccountId),
        epoch: u64,
    ) -> Result<Option<AccountId>, ClientError> {
        let (group, client) = (self.group, &mut *self.client);
        client.merge_commit(&group, epoch)?;
        let count = client.mls.members(&group)?.len();
        let secret = new_secret();
        if let Some(g) = client.state.groups.get_mut(&group) {
            g.on_commit(count, true);
            g.moderator = true;
            g.link_secret = ByteBuf::from(secret.to_vec());
            g.awaiting_new_secret = false;
        }
        client.save().await?;
        // New token hash first: the old link stops working now.
        client.put_group_info(&group, None).await?;
        client.send_group_meta(&group).await?;
        Ok(Some(account))
    }

    async fn abandon(&mut self, _pending: &(Commit, AccountId)) -> Result<(), ClientError> {
        self.client.abandon_commit(&self.group).await
    }

    async fn lost_race(
        &mut self,
        _pending: (Commit, AccountId),
        refusal: ErrorBody,
    ) -> Result<(), ClientError> {
        let epoch = refusal.current_epoch;
        self.client.catch_up_to(&self.group, epoch, crate::send::CATCH_UP_WAIT).await
    }

    async fn refused(
        &mut self,
        _pending: (Commit, AccountId),
        body: ErrorBody,
    ) -> Result<(), ClientError> {
        Err(ClientError::server(body))
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, attempts: usize) -> ClientError {
        ClientError::GroupConflict { attempts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> DiscussionGroup {
        DiscussionGroup {
            group: GroupId([1; 16]),
            name: "Radweg".into(),
            org: OrgId([2; 16]),
            handle: "musterhausen".into(),
            org_key: IdentityKey([3; 32]),
            link_secret: ByteBuf::from(vec![4; 32]),
            moderator: false,
            posts: Vec::new(),
            names: BTreeMap::new(),
            member_count: 3,
            info_stale: false,
            awaiting_new_secret: false,
            removed: false,
            joined_at: 0,
        }
    }

    fn post(id: MsgId, from: AccountId, name: Option<&str>) -> GroupPost {
        GroupPost {
            id,
            from,
            from_device: DeviceId([9; 16]),
            from_name: name.map(str::to_string),
            sent_at: 1,
            text: "hallo".into(),
            shown: false,
        }
    }

    #[test]
    fn posts_are_recorded_and_shown_once() {
        let mut g = group();
        let id = MsgId::random();
        let anna = AccountId([5; 16]);
        assert!(g.record_post(post(id, anna, Some("Anna"))));
        assert!(!g.record_post(post(id, anna, Some("Anna"))));
        assert_eq!(g.take_unshown().len(), 1);
        assert!(g.take_unshown().is_empty());
        assert_eq!(g.names.get(&anna).map(String::as_str), Some("Anna"));
    }

    #[test]
    fn a_removal_by_others_waits_for_the_new_secret() {
        let mut g = group();
        g.on_commit(4, false);
        assert!(g.needs_refresh());
        g.info_stale = false;
        g.on_commit(2, false);
        assert!(g.awaiting_new_secret && !g.needs_refresh());
        // The same secret again does not lift the hold; a new one does.
        assert!(!g.apply_meta("Radweg", &[4; 32]));
        assert!(!g.needs_refresh());
        assert!(g.apply_meta("Radweg Nord", &[7; 32]));
        assert!(g.needs_refresh());
        assert_eq!(g.name, "Radweg Nord");
        assert_eq!(g.link().secret.as_slice(), &[7; 32]);
        // Our own removal commit does not hold anything back.
        g.info_stale = false;
        g.on_commit(1, true);
        assert!(g.needs_refresh());
        g.removed = true;
        assert!(!g.needs_refresh());
    }

    #[test]
    fn members_resolve_by_id_prefix_or_name() {
        let mut g = group();
        let anna = AccountId([5; 16]);
        let bernd = AccountId([6; 16]);
        g.names.insert(anna, "Anna".into());
        g.names.insert(bernd, "Bernd".into());
        let members = [anna, bernd, bernd];
        assert_eq!(g.resolve_member(&anna.to_string(), &members), Ok(anna));
        assert_eq!(g.resolve_member(&bernd.to_string()[..8], &members), Ok(bernd));
        assert_eq!(g.resolve_member("anna", &members), Ok(anna));
        assert_eq!(g.resolve_member("Clara", &members), Err(MemberLookup::NotFound));
        g.names.insert(bernd, "Anna".into());
        assert_eq!(g.resolve_member("Anna", &members), Err(MemberLookup::Ambiguous));
        // Not a member: not found, even by full id.
        assert_eq!(
            g.resolve_member(&AccountId([8; 16]).to_string(), &members),
            Err(MemberLookup::NotFound)
        );
    }

    #[test]
    fn debug_hides_the_link_secret() {
        let g = group();
        let shown = format!("{g:?}");
        assert!(!shown.contains("4, 4, 4"));
        assert!(!shown.contains("link_secret"));
    }
}
