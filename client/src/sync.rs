//! Mailbox processing: envelopes in, history and MLS state out, then acks.
//!
//! The server delivers a device's envelopes oldest first, in batches. For
//! each batch this module runs every envelope through the [`MlsClient`] in
//! order, records text messages (de-duplicated by message id) and receipts
//! in the [`State`], saves both files, and only then acks the batch. A crash
//! anywhere before the ack means the server delivers the batch again, and
//! replaying it is harmless (see [`crate::session`] for the save order).
//!
//! An envelope that can never be processed (forged, corrupted, from a group
//! this device left) is acked after a warning, so that one bad envelope
//! cannot block the mailbox forever.
//!
//! After catching up, the receipts owed for newly received messages are sent,
//! one per conversation.
//!
//! [`MlsClient`]: stadtbote_protocol::mls::MlsClient
//! [`State`]: crate::state::State

use crate::clock::Clock;
use crate::connection::ConnectionError;
use crate::storage::Storage;
use crate::transport::Connector;
use std::time::Duration;

use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
use stadtbote_protocol::frame::Envelope;
use stadtbote_protocol::mls::{Incoming, Member, MlsError};
use stadtbote_protocol::{AccountId, DeviceId, Event, GroupId, MsgId, Request, Response};

use crate::connection::REQUEST_TIMEOUT;
use crate::conversations::conversation_peer;
use crate::error::ClientError;
use crate::routing::Route;
use crate::session::{Client, unexpected};
use crate::state::ReceivedText;

/// The group a commit names in its cleartext framing.
fn group_of_commit(payload: &[u8]) -> Option<GroupId> {
    stadtbote_protocol::mls::commit_framing(payload).ok().map(|framing| framing.group)
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Envelopes processed (acked).
    pub envelopes: usize,
    /// New text messages recorded.
    pub new_messages: Vec<MsgId>,
    /// Conversations joined through a Welcome.
    pub joined: Vec<GroupId>,
    /// Envelopes that could not be processed and were dropped.
    pub failed: usize,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// What every command that talks to the server does first: connect,
    /// process the mailbox, then send the outbox.
    pub async fn connect_and_catch_up(&mut self) -> Result<crate::FlushReport, ClientError> {
        self.connect().await?;
        // A TOTP code is valid for a short window only: present it at once,
        // before the mailbox is processed (and before automatic approvals,
        // which may need it).
        if let Some(otp) = self.second_factor_code.take() {
            self.second_factor(&otp).await?;
        }
        self.sync().await?;
        // Thread senders and members are checked against fresh org
        // directories once the mailbox is in (see `thread_sync`).
        self.verify_threads().await;
        // The org admin's device approves pending staff enrolments on every
        // command that connects; a staff device learns it was approved.
        // Before the outbox flush, so that a report queued while the
        // department waited for approval goes out now.
        let staff = self.approve_pending_everywhere().await;
        let mut report = self.flush_outbox().await?;
        report.threads = self.flush_thread_outbox().await?;
        report.staff = staff;
        Ok(report)
    }

    /// Returns the messages `inbox` has not shown yet and marks them shown
    /// (saved), so each is shown exactly once across runs.
    pub async fn take_unshown(&mut self) -> Result<Vec<crate::state::HistoryEntry>, ClientError> {
        let entries: Vec<_> = self.state.unshown().into_iter().cloned().collect();
        if !entries.is_empty() {
            let ids: Vec<MsgId> = entries.iter().map(|e| e.id).collect();
            self.state.mark_shown(&ids);
            self.save().await?;
        }
        Ok(entries)
    }

    /// Processes the mailbox until the server says it is caught up (waiting
    /// for that after a login), then whatever else has already arrived, and
    /// finally sends the receipts owed.
    pub async fn sync(&mut self) -> Result<SyncReport, ClientError> {
        let mut report = SyncReport::default();
        loop {
            // Before the first `caught_up` of this connection the mailbox is
            // still coming: wait for it. Afterwards, take only what is
            // already here.
            let wait = if self.caught_up { Duration::ZERO } else { REQUEST_TIMEOUT };
            let event = self.conn_mut()?.next_event(wait).await?;
            match event {
                Some(Event::Deliver { envelopes, caught_up }) => {
                    self.process_batch(envelopes, &mut report).await?;
                    if caught_up {
                        self.caught_up = true;
                    }
                }
                Some(_) => {}
                None if self.caught_up => break,
                None => {
                    return Err(ClientError::Connection(ConnectionError::Lost {
                        url: self.server_url.clone(),
                        reason: "the mailbox was not delivered in time".into(),
                    }));
                }
            }
        }
        self.send_receipts().await?;
        // Commits merged above moved discussion groups on: the server's
        // GroupInfo must follow, or nobody can join (see `groups`).
        self.refresh_group_infos().await;
        Ok(report)
    }

    /// Syncs, then keeps processing deliveries for up to `wait` until this
    /// device holds `group` at `epoch` or later. Used after a refused commit:
    /// the winning commit (or the Welcome into the group) is on its way.
    pub(crate) async fn catch_up_to(
        &mut self,
        group: &GroupId,
        epoch: Option<u64>,
        wait: Duration,
    ) -> Result<(), ClientError> {
        let mut report = SyncReport::default();
        self.sync().await?;
        // By the client's clock: the wait is spread over several reads.
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let deadline = self.now_ms().saturating_add(wait_ms);
        while !self.holds_epoch(group, epoch)? {
            let left = Duration::from_millis(deadline.saturating_sub(self.now_ms()));
            match self.conn_mut()?.next_event(left).await? {
                Some(Event::Deliver { envelopes, .. }) => {
                    self.process_batch(envelopes, &mut report).await?;
                }
                Some(_) => {}
                None => break,
            }
        }
        self.send_receipts().await?;
        Ok(())
    }

    fn holds_epoch(&self, group: &GroupId, epoch: Option<u64>) -> Result<bool, ClientError> {
        if !self.mls.has_group(group)? {
            return Ok(false);
        }
        Ok(match epoch {
            Some(target) => self.mls.epoch(group)? >= target,
            None => true,
        })
    }

    pub async fn process_batch(
        &mut self,
        envelopes: Vec<Envelope>,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        if envelopes.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(envelopes.len());
        for envelope in &envelopes {
            ids.push(envelope.id);
            if self.mls_file.seen(envelope.id) {
                continue;
            }
            self.process_envelope(envelope, report)?;
            self.mls_file.remember(envelope.id);
        }
        // Persist first, ack second: an acked envelope is gone from the server.
        self.save().await?;
        report.envelopes += ids.len();
        match self.conn_mut()?.request(Request::Ack { ids }).await? {
            Response::Acked { .. } => Ok(()),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    fn process_envelope(
        &mut self,
        envelope: &Envelope,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        self.check_routes();
        match self.mls.process(&envelope.payload) {
            Ok(Incoming::Welcome { group, members, welcome_data, .. }) => {
                if self.on_welcome(group, &members, welcome_data.as_deref())? {
                    report.joined.push(group);
                }
            }
            Ok(Incoming::Application { group, sender_account, sender_device, plaintext }) => {
                if let Some(id) = self.on_application(
                    group,
                    sender_account,
                    sender_device,
                    &plaintext,
                    envelope.received_at,
                )? {
                    report.new_messages.push(id);
                }
            }
            Ok(Incoming::CommitApplied { group, removed, added, .. }) => {
                match self.routes.route(&group) {
                    Route::DiscussionGroup => self.on_group_commit(group, removed),
                    Route::Thread | Route::PendingThread => {
                        self.on_thread_commit(group, removed, !added.is_empty());
                    }
                    Route::Conversation { .. } | Route::Unknown if removed => {
                        tracing::warn!(%group, "this device was removed from a conversation");
                    }
                    Route::Conversation { .. } | Route::Unknown => {}
                }
            }
            Ok(Incoming::Ignored { reason, .. }) => {
                tracing::debug!(?reason, "envelope ignored");
            }
            Ok(_) => {}
            // A broken key store is not the envelope's fault: stop without
            // acking so nothing is lost.
            Err(MlsError::Internal) => return Err(ClientError::Mls(MlsError::Internal)),
            // A member declared another membership change to the server
            // than its commit makes: refused (our group stays as it was)
            // and reported, never merged silently.
            Err(MlsError::MembershipMismatch) => {
                report.failed += 1;
                if let Some(group) = group_of_commit(&envelope.payload)
                    && !self.refused_commits.contains(&group)
                {
                    self.refused_commits.push(group);
                }
                tracing::warn!("refused a commit whose declared membership change differs");
            }
            Err(error) => {
                report.failed += 1;
                tracing::warn!(%error, "dropping an envelope that cannot be processed");
            }
        }
        Ok(())
    }

    /// Records the conversation a Welcome brought us into (see
    /// [`crate::conversations`] for what makes a group one). Any other
    /// group is taken for a thread whose opening message follows.
    fn on_welcome(
        &mut self,
        group: GroupId,
        members: &[Member],
        welcome_data: Option<&[u8]>,
    ) -> Result<bool, ClientError> {
        let own = self.state.account;
        match conversation_peer(&own, &group, members, welcome_data) {
            Some(peer) => {
                self.learn_conversation(peer, group)?;
                Ok(true)
            }
            _ => {
                // Not a conversation: a report or consultation thread, whose
                // opening message follows (see `thread_sync`).
                self.on_thread_welcome(group);
                Ok(false)
            }
        }
    }

    /// Handles a decrypted application message; returns the id of a newly
    /// recorded text message.
    fn on_application(
        &mut self,
        group: GroupId,
        from: AccountId,
        from_device: DeviceId,
        plaintext: &[u8],
        received_at: u64,
    ) -> Result<Option<MsgId>, ClientError> {
        let own = self.state.account;
        // One lookup decides (see `routes`): discussion groups first, so
        // their posts never reach the conversation history or the threads.
        let peer = match self.routes.route(&group) {
            Route::DiscussionGroup => {
                self.on_group_application(group, from, from_device, plaintext);
                return Ok(None);
            }
            Route::Thread | Route::PendingThread => {
                self.on_thread_application(group, from, from_device, plaintext, received_at)?;
                return Ok(None);
            }
            Route::Conversation { peer } => peer,
            Route::Unknown => {
                // A conversation this state does not list (its Welcome was
                // processed by a run that crashed before saving state):
                // recover the peer from the members.
                let members = self.mls.members(&group)?;
                if !self.on_welcome(group, &members, None)? {
                    if matches!(self.routes.route(&group), Route::Thread | Route::PendingThread) {
                        self.on_thread_application(
                            group,
                            from,
                            from_device,
                            plaintext,
                            received_at,
                        )?;
                    }
                    return Ok(None);
                }
                match self.state.peer_of(&group) {
                    Some(peer) => peer,
                    None => return Ok(None),
                }
            }
        };
        if from != own && from != peer {
            tracing::warn!(%group, "dropping a message from an account outside the conversation");
            return Ok(None);
        }
        let message = match AppMessage::decode(plaintext) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "dropping an unreadable application message");
                return Ok(None);
            }
        };
        match message.body {
            AppBody::Text { text } => {
                let id = message.id;
                let recorded = self.state.record_received(ReceivedText {
                    id,
                    conversation: group,
                    peer,
                    from,
                    from_device,
                    from_name: message.sender_name,
                    sent_at: message.sent_at,
                    received_at,
                    text,
                });
                Ok(recorded.then_some(id))
            }
            AppBody::Receipt { ids } => {
                self.state.apply_receipt(group, from, &ids);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Sends the receipts owed, one message per conversation. Receipts that
    /// cannot be sent now stay owed.
    pub async fn send_receipts(&mut self) -> Result<(), ClientError> {
        let owed = self.state.take_receipts();
        if owed.is_empty() {
            return Ok(());
        }
        let mut unsent = owed.clone();
        let mut result = Ok(());
        for (group, ids) in owed {
            if !self.mls.has_group(&group)? || !self.mls.is_active(&group)? {
                // Nobody left to tell.
                unsent.remove(&group);
                continue;
            }
            let message = AppMessage {
                v: APP_VERSION,
                id: MsgId::random(),
                sent_at: self.clock.now_ms(),
                sender_name: None,
                body: AppBody::Receipt { ids },
            };
            let ciphertext = self.mls.encrypt(&group, &message.encode())?;
            // The sender ratchet moved on: save that before the bytes leave.
            self.state.pending_receipts = unsent.clone();
            self.save().await?;
            let request = Request::Send { group, message: ByteBuf::from(ciphertext) };
            match self.conn_mut()?.request(request).await.map_err(ClientError::from) {
                Ok(Response::Stored { .. }) => {
                    unsent.remove(&group);
                }
                Ok(other) => {
                    result = Err(unexpected(&self.server_url, &other));
                    break;
                }
                Err(error) if error.is_transient() => {
                    result = Err(error);
                    break;
                }
                Err(error) => {
                    // Refused for good (e.g. no longer a member): retrying
                    // would fail the same way at every sync.
                    tracing::warn!(%error, "dropping a receipt the server refused");
                    unsent.remove(&group);
                }
            }
        }
        self.state.pending_receipts = unsent;
        self.save().await?;
        result
    }
}

/// The receipt path over the core's in-memory storage and scripted
/// transport ([`crate::session::fake`]): no server, no files for the state.
#[cfg(test)]
mod tests {
    use crate::storage::MemoryStorage;
    use crate::testing::{FakeServer, Reply, run};
    use stadtbote_protocol::{ErrorCode, GroupId, MsgId, Response};

    use crate::session::fake::{TestClient, client, stored_state};

    const GROUP: GroupId = GroupId([9; 16]);
    const READ: MsgId = MsgId([5; 16]);

    /// A connected client that owes a receipt for `READ` in `GROUP`.
    fn owing_a_receipt(
        dir: &std::path::Path,
        storage: &MemoryStorage,
        server: &FakeServer,
    ) -> (TestClient, stadtbote_protocol::auth::DeviceSecret) {
        client(dir, storage, server, true, |state, _, mls| {
            mls.create_group(GROUP).unwrap();
            state.pending_receipts.insert(GROUP, vec![READ]);
        })
    }

    fn stored_receipts(
        storage: &MemoryStorage,
        secret: &stadtbote_protocol::auth::DeviceSecret,
    ) -> Vec<MsgId> {
        stored_state(storage, secret).pending_receipts.values().flatten().copied().collect()
    }
    #[test]
    fn a_receipt_is_sent_once_and_no_longer_owed_in_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let (storage, server) = (MemoryStorage::default(), FakeServer::new());
        let (mut client, secret) = owing_a_receipt(&tmp.path().join("h"), &storage, &server);
        server.expect("send", Reply::Answer(Response::Stored { recipients: 1 }));
        run(client.send_receipts()).unwrap();
        assert_eq!(server.request_names(), ["send"]);
        assert_eq!(server.unmet(), 0);
        assert!(client.state().pending_receipts.is_empty());
        assert!(stored_receipts(&storage, &secret).is_empty(), "saved as sent");
        // Nothing owed: nothing sent again.
        run(client.send_receipts()).unwrap();
        assert_eq!(server.request_names(), ["send"]);
    }

    #[test]
    fn a_receipt_the_connection_lost_stays_owed_and_a_refused_one_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let (storage, server) = (MemoryStorage::default(), FakeServer::new());
        let (mut client, secret) = owing_a_receipt(&tmp.path().join("h"), &storage, &server);
        server.expect("send", Reply::Disconnect);
        let err = run(client.send_receipts()).unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(stored_receipts(&storage, &secret), [READ], "still owed after a crash");

        let tmp = tempfile::tempdir().unwrap();
        let (storage, server) = (MemoryStorage::default(), FakeServer::new());
        let (mut client, secret) = owing_a_receipt(&tmp.path().join("h"), &storage, &server);
        server.expect("send", Reply::refuse(ErrorCode::Forbidden));
        run(client.send_receipts()).unwrap();
        assert!(stored_receipts(&storage, &secret).is_empty(), "retrying would fail the same way");
    }
}
