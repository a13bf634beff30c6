//! Which kind of group an incoming message belongs to: one table from
//! group id to kind, consulted once per envelope.
//!
//! A device is in several kinds of MLS group — 1:1 conversations, report
//! and consultation threads (and groups it was welcomed into whose opening
//! thread message has not come yet), discussion groups — and every
//! envelope must go to the handler of its group's kind. The table is kept
//! where groups are created, joined and left, so that routing an envelope
//! is one lookup rather than a chain of checks against every feature's
//! records.
//!
//! A group can be listed under more than one kind for a moment (a pending
//! thread whose opening message makes it a thread; a local record left
//! behind by a crash). [`RoutingTable::route`] then answers with the kind
//! that wins, in a fixed order: discussion group, thread, pending thread,
//! conversation. That is the order the client has always checked them in:
//! discussion-group posts never reach the conversation history or the
//! threads, and a thread is never mistaken for a conversation.
//!
//! A group in none of them is [`Route::Unknown`]; the caller decides what
//! that means (today: recover a conversation from the group's members,
//! else drop the message).
//!
//! The table is plain data: no I/O, no clock, rebuilt from the feature
//! records when a device is opened.

use std::collections::BTreeMap;

use stadtbote_protocol::{AccountId, GroupId};

/// The kind of group an envelope belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A discussion group (posts, moderation).
    DiscussionGroup,
    /// A report or consultation thread this device holds.
    Thread,
    /// A group this device was welcomed into that is not a conversation:
    /// a thread whose opening message has not arrived yet.
    PendingThread,
    /// A 1:1 conversation with `peer`.
    Conversation {
        /// The other account.
        peer: AccountId,
    },
    /// None of the above.
    Unknown,
}

/// The kinds a group is listed under, as bits (see [`Kind::bit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entry {
    kinds: u8,
    /// The peer, while listed as a conversation.
    peer: Option<AccountId>,
}

/// A kind a group can be listed under (a [`Route`] without its data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// See [`Route::DiscussionGroup`].
    DiscussionGroup,
    /// See [`Route::Thread`].
    Thread,
    /// See [`Route::PendingThread`].
    PendingThread,
    /// See [`Route::Conversation`].
    Conversation,
}

impl Kind {
    /// In the order they win, first first.
    const BY_PRECEDENCE: [Kind; 4] =
        [Kind::DiscussionGroup, Kind::Thread, Kind::PendingThread, Kind::Conversation];

    fn bit(self) -> u8 {
        match self {
            Kind::DiscussionGroup => 1,
            Kind::Thread => 2,
            Kind::PendingThread => 4,
            Kind::Conversation => 8,
        }
    }
}

/// Group id → kind, for routing incoming messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingTable {
    groups: BTreeMap<GroupId, Entry>,
}

impl RoutingTable {
    /// An empty table.
    pub fn new() -> RoutingTable {
        RoutingTable::default()
    }

    /// Lists `group` as a discussion group.
    pub fn add_discussion_group(&mut self, group: GroupId) {
        self.add(group, Kind::DiscussionGroup);
    }

    /// Lists `group` as a thread. (A pending thread that becomes one is
    /// removed as pending by the caller, when its records say so.)
    pub fn add_thread(&mut self, group: GroupId) {
        self.add(group, Kind::Thread);
    }

    /// Lists `group` as a pending thread.
    pub fn add_pending_thread(&mut self, group: GroupId) {
        self.add(group, Kind::PendingThread);
    }

    /// Lists `group` as the conversation with `peer` (replacing another
    /// peer it was listed with).
    pub fn add_conversation(&mut self, group: GroupId, peer: AccountId) {
        self.add(group, Kind::Conversation);
        if let Some(entry) = self.groups.get_mut(&group) {
            entry.peer = Some(peer);
        }
    }

    /// Stops listing `group` under `kind` (the group was left, deleted or
    /// became another kind). Its other kinds stay.
    pub fn remove(&mut self, group: &GroupId, kind: Kind) {
        let Some(entry) = self.groups.get_mut(group) else { return };
        entry.kinds &= !kind.bit();
        if kind == Kind::Conversation {
            entry.peer = None;
        }
        if entry.kinds == 0 {
            self.groups.remove(group);
        }
    }

    fn add(&mut self, group: GroupId, kind: Kind) {
        self.groups.entry(group).or_default().kinds |= kind.bit();
    }

    /// Where a message of `group` goes: the first of its kinds in the
    /// order of the module docs, or [`Route::Unknown`].
    pub fn route(&self, group: &GroupId) -> Route {
        let Some(entry) = self.groups.get(group) else { return Route::Unknown };
        for kind in Kind::BY_PRECEDENCE {
            if entry.kinds & kind.bit() == 0 {
                continue;
            }
            return match kind {
                Kind::DiscussionGroup => Route::DiscussionGroup,
                Kind::Thread => Route::Thread,
                Kind::PendingThread => Route::PendingThread,
                Kind::Conversation => match entry.peer {
                    Some(peer) => Route::Conversation { peer },
                    None => continue,
                },
            };
        }
        Route::Unknown
    }

    /// Whether `group` is listed under `kind`.
    pub fn is(&self, group: &GroupId, kind: Kind) -> bool {
        self.groups.get(group).is_some_and(|entry| entry.kinds & kind.bit() != 0)
    }

    /// The groups listed as conversations with `peer`.
    pub fn conversations_with(&self, peer: &AccountId) -> Vec<GroupId> {
        self.groups
            .iter()
            .filter(|(_, entry)| entry.kinds & Kind::Conversation.bit() != 0)
            .filter(|(_, entry)| entry.peer.as_ref() == Some(peer))
            .map(|(group, _)| *group)
            .collect()
    }

    /// How many groups are listed.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no group is listed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: u8) -> GroupId {
        GroupId([n; 16])
    }

    const PEER: AccountId = AccountId([9; 16]);

    #[test]
    fn an_unlisted_group_is_unknown() {
        let table = RoutingTable::new();
        assert_eq!(table.route(&g(1)), Route::Unknown);
        assert!(table.is_empty());
    }

    #[test]
    fn each_kind_routes_to_itself() {
        let mut table = RoutingTable::new();
        table.add_discussion_group(g(1));
        table.add_thread(g(2));
        table.add_pending_thread(g(3));
        table.add_conversation(g(4), PEER);
        assert_eq!(table.route(&g(1)), Route::DiscussionGroup);
        assert_eq!(table.route(&g(2)), Route::Thread);
        assert_eq!(table.route(&g(3)), Route::PendingThread);
        assert_eq!(table.route(&g(4)), Route::Conversation { peer: PEER });
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn a_group_of_several_kinds_routes_by_precedence() {
        let mut table = RoutingTable::new();
        table.add_conversation(g(1), PEER);
        table.add_pending_thread(g(1));
        assert_eq!(table.route(&g(1)), Route::PendingThread);
        table.add_thread(g(1));
        assert_eq!(table.route(&g(1)), Route::Thread);
        table.remove(&g(1), Kind::PendingThread);
        assert_eq!(table.route(&g(1)), Route::Thread);
        assert!(!table.is(&g(1), Kind::PendingThread));
        table.add_discussion_group(g(1));
        assert_eq!(table.route(&g(1)), Route::DiscussionGroup);
        // Leaving one kind uncovers the next.
        table.remove(&g(1), Kind::DiscussionGroup);
        assert_eq!(table.route(&g(1)), Route::Thread);
        table.remove(&g(1), Kind::Thread);
        assert_eq!(table.route(&g(1)), Route::Conversation { peer: PEER });
        table.remove(&g(1), Kind::Conversation);
        assert_eq!(table.route(&g(1)), Route::Unknown);
        assert!(table.is_empty(), "a group of no kind is dropped");
    }

    #[test]
    fn a_conversation_keeps_its_latest_peer_and_removing_others_is_harmless() {
        let mut table = RoutingTable::new();
        table.add_conversation(g(1), AccountId([1; 16]));
        table.add_conversation(g(1), PEER);
        assert_eq!(table.route(&g(1)), Route::Conversation { peer: PEER });
        table.remove(&g(1), Kind::Thread);
        table.remove(&g(2), Kind::Conversation);
        assert_eq!(table.route(&g(1)), Route::Conversation { peer: PEER });
        assert!(table.is(&g(1), Kind::Conversation));
        assert!(!table.is(&g(2), Kind::Conversation));
        table.add_conversation(g(3), PEER);
        table.add_conversation(g(4), AccountId([1; 16]));
        assert_eq!(table.conversations_with(&PEER), [g(1), g(3)]);
    }
}
