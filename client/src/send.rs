//! Sending: the outbox, conversation membership and the commit race.
//!
//! The conversation between two accounts is one MLS group holding every
//! device of both. A new one gets a random id (nothing in an envelope's
//! clear header names the two accounts) and its Welcomes carry the pair's
//! marker ([`crate::conversations`]); conversations created before keep
//! their id derived from the two accounts. Before each message the
//! sender makes the group match the server's directory: devices the
//! directory lists but the group lacks are added (with KeyPackages whose
//! credential and key are checked against the directory), members the
//! directory no longer lists, or lists with another key, are removed. The
//! server accepts one commit per epoch; a client whose commit is refused with
//! `stale_epoch` throws it away, processes the winning commit (or joins
//! through the winner's Welcome) and tries again.
//!
//! A message enters the outbox (on disk) before any network traffic and
//! leaves it only when the server answered `stored`, so a message is never
//! lost to a failed connection; it keeps its id across retries, so a
//! recipient that gets it twice shows it once.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
use stadtbote_protocol::conversation::marker;
use stadtbote_protocol::frame::DeviceInfo;
use stadtbote_protocol::mls::{Commit, Member};
use stadtbote_protocol::{
    AccountId, DeviceId, ErrorBody, ErrorCode, GroupId, MsgId, Request, Response,
};

use crate::commit::{Attempt, CommitRace, commit_with_retry};

use crate::error::ClientError;
use crate::session::{Client, unexpected};
use crate::state::OutboxEntry;

/// How often membership is attempted before giving up on a busy conversation.
pub use crate::commit::MAX_COMMIT_ATTEMPTS;
/// How long to wait for the winning commit or Welcome after `stale_epoch`.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// What [`Client::flush_outbox`] did.
#[derive(Debug, Default)]
pub struct FlushReport {
    /// Messages the server stored.
    pub sent: Vec<MsgId>,
    /// Messages that could not be sent now and stay in the outbox, with why.
    pub kept: Vec<(OutboxEntry, ClientError)>,
    /// Messages that can never be sent, removed from the outbox, with why.
    pub dropped: Vec<(OutboxEntry, ClientError)>,
    /// What happened to queued thread messages.
    pub threads: crate::thread_send::ThreadFlushReport,
    /// Staff approvals made and enrolments seen approved on connecting.
    pub staff: crate::approval::StaffNotices,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Puts a text message into the outbox (saved to disk) without sending it.
    pub async fn queue_text(
        &mut self,
        peer: &AccountId,
        text: &str,
    ) -> Result<OutboxEntry, ClientError> {
        let entry = self.state.queue(*peer, text.to_string(), self.clock.now_ms());
        self.save().await?;
        Ok(entry)
    }

    /// Sends a text message now: queues it, brings the conversation's
    /// membership up to date and sends. Returns once the server stored it.
    /// Does not sync the mailbox first (except to recover from a lost commit
    /// race); on failure the message stays in the outbox.
    pub async fn send_text(&mut self, peer: &AccountId, text: &str) -> Result<MsgId, ClientError> {
        let entry = self.queue_text(peer, text).await?;
        self.deliver(&entry).await?;
        Ok(entry.id)
    }

    /// Sends every message in the outbox, oldest first. A message that fails
    /// for a reason that may pass (busy conversation, device not yet added)
    /// stays, and so do later messages to the same account, to keep their
    /// order; a lost connection stops the flush. Messages that can never be
    /// sent (unknown account, refused by the server) are dropped. Per-message
    /// failures are reported, not returned as errors, so that the command
    /// that flushed can still do its own work.
    pub async fn flush_outbox(&mut self) -> Result<FlushReport, ClientError> {
        let mut report = FlushReport::default();
        let mut blocked: BTreeSet<AccountId> = BTreeSet::new();
        let mut offline = false;
        for entry in self.state.outbox.clone() {
            if offline {
                report.kept.push((entry, ClientError::NotConnected));
                continue;
            }
            if blocked.contains(&entry.peer) {
                report.kept.push((entry, ClientError::WaitingForEarlierMessage));
                continue;
            }
            match self.deliver(&entry).await {
                Ok(()) => report.sent.push(entry.id),
                Err(error) if error.is_transient() => {
                    offline = error.is_offline();
                    blocked.insert(entry.peer);
                    report.kept.push((entry, error));
                }
                Err(error) => {
                    if let Some(entry) = self.state.drop_from_outbox(&entry.id) {
                        report.dropped.push((entry, error));
                    }
                    self.save().await?;
                }
            }
        }
        Ok(report)
    }

    /// Sends one outbox entry.
    async fn deliver(&mut self, entry: &OutboxEntry) -> Result<(), ClientError> {
        // A group the server does not know (its data was reset) is rebuilt once.
        for _ in 0..2 {
            let group = self.ensure_conversation(&entry.peer).await?;
            let message = AppMessage {
                v: APP_VERSION,
                id: entry.id,
                sent_at: entry.sent_at,
                sender_name: self.state.name.clone(),
                body: AppBody::Text { text: entry.text.clone() },
            };
            let ciphertext = self.mls.encrypt(&group, &message.encode())?;
            // Save the advanced sender ratchet before the ciphertext leaves,
            // so a crash can never make this device reuse a message key.
            self.save().await?;
            let request =
                stadtbote_protocol::notify::send_request(group, ciphertext, &message.body);
            match self.conn_mut()?.call(request).await? {
                Ok(Response::Stored { .. }) => {
                    self.state.mark_stored(&entry.id, group);
                    self.save().await?;
                    return Ok(());
                }
                Ok(other) => return Err(unexpected(&self.server_url, &other)),
                Err(body) if body.code == ErrorCode::UnknownGroup => {
                    tracing::warn!("the server does not know the conversation; rebuilding it");
                    self.forget_group(&entry.peer, &group).await?;
                }
                // The server answers a group it does not have like one this
                // device is not in. A group still active here was lost by the
                // server: rebuild it once (a real removal makes the next
                // attempt fail as "not yet added").
                Err(body) if body.code == ErrorCode::NotAMember && self.still_active(&group)? => {
                    tracing::warn!("the server does not know the conversation; rebuilding it");
                    self.forget_group(&entry.peer, &group).await?;
                }
                Err(body) if body.code == ErrorCode::NotAMember => {
                    return Err(ClientError::RemovedFromConversation(entry.peer));
                }
                Err(body) => return Err(ClientError::server(body)),
            }
        }
        Err(ClientError::CommitConflict { peer: entry.peer, attempts: 2 })
    }

    /// Whether this device holds `group` and has not been removed from it.
    fn still_active(&self, group: &GroupId) -> Result<bool, ClientError> {
        Ok(self.mls.has_group(group)? && self.mls.is_active(group)?)
    }

    async fn forget_group(&mut self, peer: &AccountId, group: &GroupId) -> Result<(), ClientError> {
        if self.mls.has_group(group)? {
            self.mls.delete_group(group)?;
        }
        self.unlearn_conversation(group)?;
        // A state from before lists the group only by peer.
        if self.state.conversations.get(peer) == Some(group) {
            self.state.conversations.remove(peer);
            self.reroute_conversations(peer);
        }
        self.save().await
    }

    /// Makes the conversation with `peer` exist and hold exactly the devices
    /// the directory lists for both accounts. Returns its group id.
    pub async fn ensure_conversation(&mut self, peer: &AccountId) -> Result<GroupId, ClientError> {
        // Each attempt picks the group (`conversation_group`) before it is used.
        let placeholder = GroupId::random();
        let mut race =
            ConversationRace { client: self, peer: *peer, group: placeholder, fresh: None };
        commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS).await
    }

    /// Clears a refused or unanswered commit; a group that never got past
    /// epoch 0 existed only here and is deleted.
    pub(crate) async fn abandon_commit(&mut self, group: &GroupId) -> Result<(), ClientError> {
        if !self.mls.has_group(group)? {
            return Ok(());
        }
        if self.mls.has_pending_commit(group)? {
            self.mls.clear_pending(group)?;
        }
        if self.mls.epoch(group)? == 0 {
            self.mls.delete_group(group)?;
        }
        self.save().await
    }

    /// The devices the directory lists for the peer and for this account,
    /// as the members they should be.
    async fn directory(
        &mut self,
        peer: &AccountId,
    ) -> Result<BTreeMap<DeviceId, Member>, ClientError> {
        let own = self.state.account;
        let mut directory = BTreeMap::new();
        let accounts: Vec<AccountId> = if *peer == own { vec![own] } else { vec![*peer, own] };
        for account in accounts {
            for info in self.list_devices(&account).await? {
                directory.insert(
                    info.device,
                    Member { account, device: info.device, identity_key: info.identity_key },
                );
            }
        }
        Ok(directory)
    }

    pub(crate) async fn list_devices(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<DeviceInfo>, ClientError> {
        // Only devices on the account's signed list (see `devices`).
        self.verified_devices(account).await
    }

    /// The next commit that brings the group closer to the directory, or
    /// `None` when it matches (and the group is known to the server).
    async fn membership_commit(
        &mut self,
        group: &GroupId,
        peer: &AccountId,
        directory: &BTreeMap<DeviceId, Member>,
    ) -> Result<Option<Commit>, ClientError> {
        let own_device = self.state.device;
        let members = self.mls.members(group)?;
        let current: BTreeMap<DeviceId, Member> = members.iter().map(|m| (m.device, *m)).collect();

        // Members the directory does not list as they are (gone, or listed
        // with another key or account) are removed first; a device listed
        // with a new key is added again afterwards.
        let stale: Vec<DeviceId> = current
            .values()
            .filter(|m| m.device != own_device && directory.get(&m.device) != Some(*m))
            .map(|m| m.device)
            .collect();
        if !stale.is_empty() {
            return Ok(Some(self.mls.remove_members(group, &stale)?));
        }

        let missing: BTreeMap<DeviceId, Member> = directory
            .iter()
            .filter(|(device, _)| **device != own_device && !current.contains_key(*device))
            .map(|(d, m)| (*d, *m))
            .collect();
        if !missing.is_empty() {
            let packages = self.claim_verified(&missing).await?;
            if !packages.is_empty() {
                // The Welcome tells the joiners whose conversation this is.
                let marker = marker(&self.state.account, peer);
                return Ok(Some(
                    self.mls.add_members_with_welcome_data(group, &packages, &marker)?,
                ));
            }
            tracing::warn!("devices without usable KeyPackages are left out for now");
        }

        // A group nobody has committed to yet is unknown to the server; an
        // empty commit registers it.
        if self.mls.epoch(group)? == 0 {
            return Ok(Some(self.mls.commit_update(group)?));
        }
        Ok(None)
    }

    /// Claims KeyPackages for the accounts of the missing devices and keeps
    /// those of missing devices whose credential and key match the directory.
    async fn claim_verified(
        &mut self,
        missing: &BTreeMap<DeviceId, Member>,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let accounts: BTreeSet<AccountId> = missing.values().map(|m| m.account).collect();
        let mut out = Vec::new();
        for account in accounts {
            let claimed = match self.conn_mut()?.call(Request::ClaimKeyPackages { account }).await?
            {
                Ok(Response::KeyPackages { packages }) => packages,
                Ok(other) => return Err(unexpected(&self.server_url, &other)),
                Err(body) if body.code == ErrorCode::UnknownAccount => {
                    return Err(ClientError::UnknownAccount(account));
                }
                Err(body) => return Err(ClientError::server(body)),
            };
            for package in claimed {
                let Some(expected) = missing.get(&package.device) else { continue };
                match self.mls.inspect_key_package(&package.key_package) {
                    Ok(info) if info.member == *expected => {
                        out.push(package.key_package.into_vec())
                    }
                    Ok(_) => tracing::warn!("a KeyPackage does not match the directory; skipped"),
                    Err(error) => tracing::warn!(%error, "an invalid KeyPackage was skipped"),
                }
            }
        }
        Ok(out)
    }
}

/// [`Client::ensure_conversation`]'s side of the commit race: the commit
/// that brings the conversation's members closer to the directory, one at
/// a time, until none is needed.
struct ConversationRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    peer: AccountId,
    /// The group of the current attempt.
    group: GroupId,
    /// A new group id an earlier attempt chose (`conversation_group`).
    fresh: Option<GroupId>,
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for ConversationRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    type Pending = Commit;
    type Done = GroupId;
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<Commit, GroupId>, ClientError> {
        let (peer, client) = (&self.peer, &mut *self.client);
        let directory = client.directory(peer).await?;
        let group = client.conversation_group(peer, &mut self.fresh)?;
        self.group = group;
        if !client.mls.is_active(&group)? {
            return Err(ClientError::RemovedFromConversation(*peer));
        }
        let Some(commit) = client.membership_commit(&group, peer, &directory).await? else {
            client.learn_conversation(*peer, group)?;
            client.save().await?;
            return Ok(Attempt::Done(group));
        };
        let request = client.commit_request(&group, &commit)?;
        Ok(Attempt::Commit { request, pending: commit })
    }

    async fn accepted(
        &mut self,
        _commit: Commit,
        epoch: u64,
    ) -> Result<Option<GroupId>, ClientError> {
        self.client.merge_commit(&self.group, epoch)?;
        self.client.learn_conversation(self.peer, self.group)?;
        self.client.save().await?;
        // Once more: the directory check confirms nothing else is missing
        // (removals and additions go in turn).
        Ok(None)
    }

    async fn abandon(&mut self, _commit: &Commit) -> Result<(), ClientError> {
        self.client.abandon_commit(&self.group).await
    }

    async fn lost_race(&mut self, commit: Commit, refusal: ErrorBody) -> Result<(), ClientError> {
        self.client.catch_up_to(&self.group, refusal.current_epoch, CATCH_UP_WAIT).await?;
        if commit.epoch_before == 0 && !self.client.mls.has_group(&self.group)? {
            // The group exists on the server, and nobody has added this
            // device to it.
            return Err(ClientError::NotYetAdded(self.peer));
        }
        Ok(())
    }

    async fn refused(&mut self, commit: Commit, body: ErrorBody) -> Result<(), ClientError> {
        let (peer, group) = (self.peer, self.group);
        match body.code {
            // Our group has history the server does not know.
            ErrorCode::UnknownGroup => self.client.forget_group(&peer, &group).await,
            // The server does not have the group (it answers that like
            // "not a member"): start it again.
            ErrorCode::NotAMember
                if commit.epoch_before > 0 && self.client.still_active(&group)? =>
            {
                self.client.forget_group(&peer, &group).await
            }
            // A group we only just created here means the conversation
            // exists and this device was never added.
            ErrorCode::NotAMember if commit.epoch_before == 0 => {
                Err(ClientError::NotYetAdded(peer))
            }
            ErrorCode::NotAMember => Err(ClientError::RemovedFromConversation(peer)),
            ErrorCode::UnknownAccount => Err(ClientError::UnknownAccount(peer)),
            _ => Err(ClientError::server(body)),
        }
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, attempts: usize) -> ClientError {
        ClientError::CommitConflict { peer: self.peer, attempts }
    }
}
