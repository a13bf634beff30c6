//! What a device remembers between commands, and the bookkeeping on it.
//!
//! [`State`] (`state.cbor`) holds the account, the conversations, the
//! message history with delivery state, the outbox and receipts still to be
//! sent. Its methods are pure bookkeeping (no I/O, no clock), so the rules
//! they implement are unit-tested here:
//!
//! * a message is identified by its [`MsgId`]; one delivered twice is recorded
//!   and shown once;
//! * a message leaves the outbox only when the server has stored it;
//! * a receipt marks our messages delivered to the receipt's account, but only
//!   messages of the conversation the receipt arrived in.
//!
//! [`MlsFile`] (`mls.cbor`) wraps the MLS key store together with the ids of
//! envelopes whose effects it contains. Keeping the two in one file keeps them
//! consistent: an envelope is skipped as "already processed" only if the MLS
//! state that processed it was saved.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::{AccountId, DeviceId, GroupId, MsgId};

/// Version of the `state.cbor` format.
pub const STATE_VERSION: u16 = 1;
/// Version of the `mls.cbor` format.
pub const MLS_FILE_VERSION: u16 = 1;
/// How many processed envelope ids are remembered (the server delivers
/// oldest first, so a redelivery is always among the most recent).
const SEEN_ENVELOPES: usize = 4096;

/// Whether a message was written by this account or to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Written by this account (on this or another of its devices).
    Out,
    /// Written by the peer.
    In,
}

/// One message in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The sender's message id.
    pub id: MsgId,
    /// Ours or theirs.
    pub direction: Direction,
    /// The other account of the conversation.
    pub peer: AccountId,
    /// The conversation's group.
    pub conversation: GroupId,
    /// The account that wrote it.
    pub from: AccountId,
    /// The device that wrote it.
    pub from_device: DeviceId,
    /// The display name the sender sent along, if any.
    pub from_name: Option<String>,
    /// The sender's clock when sent (Unix ms).
    pub sent_at: u64,
    /// When the server stored it for us (Unix ms); `None` for messages this
    /// device sent.
    pub received_at: Option<u64>,
    /// The text.
    pub text: String,
    /// Accounts whose devices sent a delivery receipt (outgoing messages).
    pub delivered_to: BTreeSet<AccountId>,
    /// Whether `inbox` has shown it (incoming and other-device messages).
    pub shown: bool,
}

/// A message waiting for the server's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The message id, fixed when queued so that a resend is recognised as
    /// the same message.
    pub id: MsgId,
    /// The recipient account.
    pub peer: AccountId,
    /// The text.
    pub text: String,
    /// When the user sent it (Unix ms).
    pub sent_at: u64,
}

/// A text message as it came out of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedText {
    /// The sender's message id.
    pub id: MsgId,
    /// The conversation's group.
    pub conversation: GroupId,
    /// The other account of the conversation.
    pub peer: AccountId,
    /// The writer's account.
    pub from: AccountId,
    /// The writer's device.
    pub from_device: DeviceId,
    /// The writer's display name.
    pub from_name: Option<String>,
    /// The writer's clock (Unix ms).
    pub sent_at: u64,
    /// The server's clock when stored (Unix ms).
    pub received_at: u64,
    /// The text.
    pub text: String,
}

/// Everything in `state.cbor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version ([`STATE_VERSION`]).
    pub v: u16,
    /// This device's account.
    pub account: AccountId,
    /// This device.
    pub device: DeviceId,
    /// The display name sent along with messages.
    pub name: Option<String>,
    /// Conversations by peer account: the group messages to the peer go
    /// to ([`stadtbote_protocol::conversation::preferred`]).
    pub conversations: BTreeMap<AccountId, GroupId>,
    /// The latest display name each account sent.
    pub names: BTreeMap<AccountId, String>,
    /// Sent and received messages, in the order this device learned of them.
    pub history: Vec<HistoryEntry>,
    /// Messages not yet stored by the server, oldest first.
    pub outbox: Vec<OutboxEntry>,
    /// Receipts owed per conversation, sent after the messages were acked.
    pub pending_receipts: BTreeMap<GroupId, Vec<MsgId>>,
    /// When the last-resort KeyPackage was last uploaded (Unix ms).
    pub last_resort_uploaded_at: Option<u64>,
    /// Org keys this device pinned, by handle ([`crate::pinning`]).
    #[serde(default)]
    pub pins: BTreeMap<String, crate::pinning::OrgPin>,
    /// Orgs this device administers, by handle ([`crate::org`]).
    #[serde(default)]
    pub admin_orgs: BTreeMap<String, crate::org::AdminOrg>,
    /// This device's enrolments as staff ([`crate::staff`]).
    #[serde(default)]
    pub enrolments: Vec<crate::staff::Enrolment>,
    /// Report and consultation threads, by id ([`crate::threads`]).
    #[serde(default)]
    pub threads: BTreeMap<GroupId, crate::threads::Thread>,
    /// Groups joined through a Welcome that are not conversations and whose
    /// opening thread message has not arrived yet (when joined, Unix ms).
    #[serde(default)]
    pub pending_threads: BTreeMap<GroupId, u64>,
    /// Thread messages not yet stored by the server, oldest first
    /// ([`crate::thread_send`]).
    #[serde(default)]
    pub thread_outbox: Vec<crate::thread_send::ThreadOutboxEntry>,
    /// Whether this device is a server admin.
    #[serde(default)]
    pub server_admin: bool,
    /// Broadcast channels this staff device publishes to ([`crate::channels`]).
    #[serde(default)]
    pub channels: BTreeMap<stadtbote_protocol::ChannelId, crate::channels::PublishedChannel>,
    /// Discussion groups this device is in or was removed from, with their
    /// posts ([`crate::groups`]); never part of `history` or `threads`.
    #[serde(default)]
    pub groups: BTreeMap<GroupId, crate::groups::DiscussionGroup>,
    /// The account key (where held), pinned device lists, link codes and
    /// new-device notices ([`crate::devices`]).
    #[serde(default)]
    pub device_lists: crate::devices::DeviceLists,
    /// Every 1:1 conversation group known here, with its peer: the one in
    /// `conversations` and those created at the same time by the other
    /// side (still read, no longer sent to). Older states list only
    /// `conversations`.
    #[serde(default)]
    pub conversation_groups: BTreeMap<GroupId, AccountId>,
}

impl State {
    /// The state of a freshly registered device.
    pub fn new(account: AccountId, device: DeviceId, name: Option<String>) -> Self {
        Self {
            v: STATE_VERSION,
            account,
            device,
            name,
            conversations: BTreeMap::new(),
            names: BTreeMap::new(),
            history: Vec::new(),
            outbox: Vec::new(),
            pending_receipts: BTreeMap::new(),
            last_resort_uploaded_at: None,
            pins: BTreeMap::new(),
            admin_orgs: BTreeMap::new(),
            enrolments: Vec::new(),
            threads: BTreeMap::new(),
            pending_threads: BTreeMap::new(),
            thread_outbox: Vec::new(),
            server_admin: false,
            channels: BTreeMap::new(),
            groups: BTreeMap::new(),
            device_lists: crate::devices::DeviceLists::default(),
            conversation_groups: BTreeMap::new(),
        }
    }

    /// The peer of the conversation held in `group`, if it is one of ours.
    pub fn peer_of(&self, group: &GroupId) -> Option<AccountId> {
        if let Some(peer) = self.conversation_groups.get(group) {
            return Some(*peer);
        }
        self.conversations.iter().find(|(_, g)| *g == group).map(|(peer, _)| *peer)
    }

    /// Every conversation group with `peer` known here.
    pub fn conversation_groups_with(&self, peer: &AccountId) -> BTreeSet<GroupId> {
        let mut groups: BTreeSet<GroupId> = self
            .conversation_groups
            .iter()
            .filter(|(_, p)| *p == peer)
            .map(|(group, _)| *group)
            .collect();
        groups.extend(self.conversations.get(peer).copied());
        groups
    }

    /// Records `group` as a conversation with `peer`, and the group of
    /// `usable` (those this device is still an active member of) that
    /// messages to the peer go to from now on; returns that group.
    pub fn record_conversation(
        &mut self,
        peer: AccountId,
        group: GroupId,
        usable: &BTreeSet<GroupId>,
    ) -> Option<GroupId> {
        if let Some(current) = self.conversations.get(&peer) {
            self.conversation_groups.insert(*current, peer);
        }
        self.conversation_groups.insert(group, peer);
        self.choose_conversation(&peer, usable)
    }

    /// Forgets `group` as a conversation; the peer's next group from
    /// `usable` takes its place, if there is one.
    pub fn forget_conversation(&mut self, group: &GroupId, usable: &BTreeSet<GroupId>) {
        let Some(peer) = self.peer_of(group) else { return };
        self.conversation_groups.remove(group);
        if self.conversations.get(&peer) == Some(group) {
            self.conversations.remove(&peer);
        }
        self.choose_conversation(&peer, usable);
    }

    /// Applies the rule both sides follow on their own: of the peer's
    /// conversation groups still usable here, the smallest id is sent to.
    fn choose_conversation(
        &mut self,
        peer: &AccountId,
        usable: &BTreeSet<GroupId>,
    ) -> Option<GroupId> {
        let groups = self.conversation_groups_with(peer);
        let chosen = stadtbote_protocol::conversation::preferred(
            groups.iter().filter(|g| usable.contains(g)).copied(),
        );
        // Nothing usable: keep what was there (e.g. a group this device
        // was removed from, which explains a refused send).
        if let Some(group) = chosen {
            self.conversations.insert(*peer, group);
        }
        chosen
    }

    /// The display name last seen for an account (our own from the state).
    pub fn name_of(&self, account: &AccountId) -> Option<&str> {
        if *account == self.account {
            return self.name.as_deref();
        }
        self.names.get(account).map(String::as_str)
    }

    /// Whether the history already holds this message.
    pub fn has_message(&self, id: &MsgId) -> bool {
        self.history.iter().any(|h| h.id == *id)
    }

    /// Puts a message into the outbox; it stays there until
    /// [`State::mark_stored`].
    pub fn queue(&mut self, peer: AccountId, text: String, sent_at: u64) -> OutboxEntry {
        let entry = OutboxEntry { id: MsgId::random(), peer, text, sent_at };
        self.outbox.push(entry.clone());
        entry
    }

    /// The server stored the message: move it from the outbox to the history.
    pub fn mark_stored(&mut self, id: &MsgId, conversation: GroupId) {
        let Some(pos) = self.outbox.iter().position(|o| o.id == *id) else { return };
        let entry = self.outbox.remove(pos);
        if self.has_message(id) {
            return;
        }
        self.history.push(HistoryEntry {
            id: entry.id,
            direction: Direction::Out,
            peer: entry.peer,
            conversation,
            from: self.account,
            from_device: self.device,
            from_name: self.name.clone(),
            sent_at: entry.sent_at,
            received_at: None,
            text: entry.text,
            delivered_to: BTreeSet::new(),
            // Written here: nothing for `inbox` to show.
            shown: true,
        });
    }

    /// Drops a message from the outbox that can never be sent.
    pub fn drop_from_outbox(&mut self, id: &MsgId) -> Option<OutboxEntry> {
        let pos = self.outbox.iter().position(|o| o.id == *id)?;
        Some(self.outbox.remove(pos))
    }

    /// Records a received text message. Returns `false` for a duplicate.
    /// Messages of other accounts are owed a receipt.
    pub fn record_received(&mut self, msg: ReceivedText) -> bool {
        if let Some(name) = &msg.from_name
            && msg.from != self.account
        {
            self.names.insert(msg.from, name.clone());
        }
        if self.has_message(&msg.id) {
            return false;
        }
        let direction = if msg.from == self.account { Direction::Out } else { Direction::In };
        if direction == Direction::In {
            self.pending_receipts.entry(msg.conversation).or_default().push(msg.id);
        }
        self.history.push(HistoryEntry {
            id: msg.id,
            direction,
            peer: msg.peer,
            conversation: msg.conversation,
            from: msg.from,
            from_device: msg.from_device,
            from_name: msg.from_name,
            sent_at: msg.sent_at,
            received_at: Some(msg.received_at),
            text: msg.text,
            delivered_to: BTreeSet::new(),
            shown: false,
        });
        true
    }

    /// Applies a delivery receipt from `from` that arrived in `conversation`.
    /// Returns how many messages it newly marked.
    pub fn apply_receipt(
        &mut self,
        conversation: GroupId,
        from: AccountId,
        ids: &[MsgId],
    ) -> usize {
        // Our own devices do not send receipts; if one arrives, it says
        // nothing about the peer having the message.
        if from == self.account {
            return 0;
        }
        let mut marked = 0;
        for entry in self.history.iter_mut().filter(|h| {
            h.direction == Direction::Out && h.conversation == conversation && ids.contains(&h.id)
        }) {
            if entry.delivered_to.insert(from) {
                marked += 1;
            }
        }
        marked
    }

    /// Messages `inbox` has not shown yet, in the order they arrived.
    pub fn unshown(&self) -> Vec<&HistoryEntry> {
        self.history.iter().filter(|h| !h.shown).collect()
    }

    /// Marks messages as shown by `inbox`.
    pub fn mark_shown(&mut self, ids: &[MsgId]) {
        for entry in self.history.iter_mut().filter(|h| ids.contains(&h.id)) {
            entry.shown = true;
        }
    }

    /// Takes the receipts owed, one batch per conversation.
    pub fn take_receipts(&mut self) -> BTreeMap<GroupId, Vec<MsgId>> {
        std::mem::take(&mut self.pending_receipts)
    }

    /// The history of one conversation (or all), oldest first by the
    /// sender's clock; ties keep arrival order.
    pub fn history_view(&self, peer: Option<&AccountId>) -> Vec<&HistoryEntry> {
        let mut out: Vec<&HistoryEntry> =
            self.history.iter().filter(|h| peer.is_none_or(|p| h.peer == *p)).collect();
        out.sort_by_key(|h| h.sent_at);
        out
    }
}

/// Everything in `mls.cbor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlsFile {
    /// Format version ([`MLS_FILE_VERSION`]).
    pub v: u16,
    /// [`stadtbote_protocol::mls::MlsClient::export_state`] output.
    pub mls: ByteBuf,
    /// Ids of the most recent envelopes whose effects `mls` contains.
    pub seen_envelopes: VecDeque<u64>,
}

impl MlsFile {
    /// Whether this envelope was processed (and its effects saved).
    pub fn seen(&self, id: u64) -> bool {
        self.seen_envelopes.contains(&id)
    }

    /// Remembers a processed envelope, forgetting the oldest beyond the limit.
    pub fn remember(&mut self, id: u64) {
        if self.seen(id) {
            return;
        }
        self.seen_envelopes.push_back(id);
        while self.seen_envelopes.len() > SEEN_ENVELOPES {
            self.seen_envelopes.pop_front();
        }
    }
}

/// The keys of `map` that `text` names as a person types a group id (any
/// case, spaces and dashes ignored): the full id, else every id it is a
/// prefix of (six characters or more). Threads and discussion groups are
/// looked up this way.
pub(crate) fn group_ids_matching<V>(map: &BTreeMap<GroupId, V>, text: &str) -> Vec<GroupId> {
    let wanted: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if let Ok(id) = GroupId::parse(&wanted)
        && map.contains_key(&id)
    {
        return vec![id];
    }
    if wanted.len() < 6 {
        return Vec::new();
    }
    map.keys().filter(|id| id.to_string().starts_with(&wanted)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::new(AccountId([1; 16]), DeviceId([1; 16]), Some("Anna".into()))
    }

    const PEER: AccountId = AccountId([2; 16]);
    const GROUP: GroupId = GroupId([9; 16]);

    fn received(id: MsgId, from: AccountId) -> ReceivedText {
        ReceivedText {
            id,
            conversation: GROUP,
            peer: PEER,
            from,
            from_device: DeviceId([3; 16]),
            from_name: Some("Bernd".into()),
            sent_at: 1_000,
            received_at: 2_000,
            text: "hallo".into(),
        }
    }

    #[test]
    fn outbox_keeps_message_until_stored() {
        let mut s = state();
        let entry = s.queue(PEER, "eins".into(), 5);
        assert_eq!(s.outbox.len(), 1);
        assert!(s.history.is_empty());
        s.mark_stored(&entry.id, GROUP);
        assert!(s.outbox.is_empty());
        assert_eq!(s.history.len(), 1);
        let h = &s.history[0];
        assert_eq!((h.direction, h.peer, h.conversation), (Direction::Out, PEER, GROUP));
        assert!(h.shown, "own messages are not shown by inbox");
        // Storing twice (an answer that arrived after a retry) changes nothing.
        s.mark_stored(&entry.id, GROUP);
        assert_eq!(s.history.len(), 1);
        let dropped = s.queue(PEER, "zwei".into(), 6);
        assert_eq!(s.drop_from_outbox(&dropped.id).map(|e| e.text), Some("zwei".into()));
        assert!(s.outbox.is_empty());
    }

    #[test]
    fn a_message_delivered_twice_is_recorded_and_shown_once() {
        let mut s = state();
        let id = MsgId([4; 16]);
        assert!(s.record_received(received(id, PEER)));
        assert!(!s.record_received(received(id, PEER)));
        assert_eq!(s.history.len(), 1);
        assert_eq!(s.unshown().len(), 1);
        s.mark_shown(&[id]);
        assert!(s.unshown().is_empty());
        assert!(!s.record_received(received(id, PEER)));
        assert!(s.unshown().is_empty(), "a late duplicate is not shown again");
        // One receipt is owed, not two.
        assert_eq!(s.take_receipts().get(&GROUP), Some(&vec![id]));
        assert!(s.take_receipts().is_empty());
        assert_eq!(s.name_of(&PEER), Some("Bernd"));
    }

    #[test]
    fn messages_from_own_other_devices_are_outgoing_and_owe_no_receipt() {
        let mut s = state();
        let own = s.account;
        assert!(s.record_received(received(MsgId([5; 16]), own)));
        assert_eq!(s.history[0].direction, Direction::Out);
        assert_eq!(s.unshown().len(), 1, "shown once in inbox");
        assert!(s.take_receipts().is_empty());
    }

    #[test]
    fn receipts_mark_delivered_only_in_their_conversation() {
        let mut s = state();
        let entry = s.queue(PEER, "eins".into(), 5);
        s.mark_stored(&entry.id, GROUP);
        // A receipt from another conversation or from ourselves counts for nothing.
        assert_eq!(s.apply_receipt(GroupId([8; 16]), PEER, &[entry.id]), 0);
        assert_eq!(s.apply_receipt(GROUP, s.account, &[entry.id]), 0);
        assert!(s.history[0].delivered_to.is_empty());
        assert_eq!(s.apply_receipt(GROUP, PEER, &[entry.id, MsgId([7; 16])]), 1);
        assert_eq!(s.apply_receipt(GROUP, PEER, &[entry.id]), 0, "idempotent");
        assert_eq!(s.history[0].delivered_to.iter().collect::<Vec<_>>(), [&PEER]);
    }

    #[test]
    fn history_view_filters_and_orders() {
        let mut s = state();
        let mut late = received(MsgId([1; 16]), PEER);
        late.sent_at = 50;
        let mut early = received(MsgId([2; 16]), PEER);
        early.sent_at = 10;
        let mut other = received(MsgId([3; 16]), AccountId([5; 16]));
        other.peer = AccountId([5; 16]);
        s.record_received(late);
        s.record_received(early);
        s.record_received(other);
        let view: Vec<_> = s.history_view(Some(&PEER)).iter().map(|h| h.id).collect();
        assert_eq!(view, [MsgId([2; 16]), MsgId([1; 16])]);
        assert_eq!(s.history_view(None).len(), 3);
    }

    #[test]
    fn state_round_trips_through_cbor() {
        let mut s = state();
        s.conversations.insert(PEER, GROUP);
        s.record_received(received(MsgId([4; 16]), PEER));
        s.queue(PEER, "offen".into(), 1);
        let mut bytes = Vec::new();
        ciborium::into_writer(&s, &mut bytes).unwrap();
        let back: State = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.peer_of(&GROUP), Some(PEER));
    }

    #[test]
    fn both_sides_send_to_the_smallest_conversation_group() {
        let (small, large) = (GroupId([3; 16]), GroupId([7; 16]));
        let usable: BTreeSet<GroupId> = [small, large].into();
        // One side created the large group and learns the small one later,
        // the other the reverse: both end up with the small one.
        let mut one = state();
        one.record_conversation(PEER, large, &usable);
        assert_eq!(one.conversations.get(&PEER), Some(&large));
        assert_eq!(one.record_conversation(PEER, small, &usable), Some(small));
        let mut other = state();
        other.record_conversation(PEER, small, &usable);
        assert_eq!(other.record_conversation(PEER, large, &usable), Some(small));
        for s in [&one, &other] {
            assert_eq!(s.conversations.get(&PEER), Some(&small));
            // Both groups stay known: messages in either are read.
            assert_eq!(s.peer_of(&large), Some(PEER));
            assert_eq!(s.peer_of(&small), Some(PEER));
        }
        // A group this device was removed from is not sent to.
        let only_large: BTreeSet<GroupId> = [large].into();
        let mut removed = state();
        removed.record_conversation(PEER, small, &usable);
        assert_eq!(removed.record_conversation(PEER, large, &only_large), Some(large));
        // Forgetting the chosen group falls back to the other one.
        one.forget_conversation(&small, &only_large);
        assert_eq!(one.conversations.get(&PEER), Some(&large));
        assert_eq!(one.peer_of(&small), None);
        // A state from before knows its conversation only by peer.
        let mut old = state();
        old.conversations.insert(PEER, large);
        assert_eq!(old.peer_of(&large), Some(PEER));
        assert_eq!(old.record_conversation(PEER, small, &usable), Some(small));
        assert_eq!(old.peer_of(&large), Some(PEER));
    }

    #[test]
    fn seen_envelopes_are_bounded() {
        let mut f =
            MlsFile { v: MLS_FILE_VERSION, mls: ByteBuf::new(), seen_envelopes: VecDeque::new() };
        for id in 0..(SEEN_ENVELOPES as u64 + 10) {
            f.remember(id);
        }
        f.remember(20);
        assert_eq!(f.seen_envelopes.len(), SEEN_ENVELOPES);
        assert!(!f.seen(0));
        assert!(f.seen(SEEN_ENVELOPES as u64 + 9));
    }
}
