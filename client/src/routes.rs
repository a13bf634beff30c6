//! The client's routing table: the core's
//! [`RoutingTable`](crate::routing::RoutingTable) built from the
//! records of the [`State`] when a device is opened and kept up to date
//! where groups are created, joined and left (conversations in
//! `conversations.rs` and `send.rs`, threads in `thread_send.rs` and
//! `thread_sync.rs`, discussion groups in `groups.rs`). `sync.rs` looks
//! every envelope's group up in it once.
//!
//! In debug builds (every test), each envelope first checks that the table
//! still equals the one the records give, so that a place which changes
//! the records and forgets the table fails the tests instead of misrouting.

use std::collections::BTreeSet;

use crate::clock::Clock;
use crate::routing::{Kind, RoutingTable};
use crate::storage::Storage;
use crate::transport::Connector;
use stadtbote_protocol::{AccountId, GroupId};

use crate::session::Client;
use crate::state::State;

impl State {
    /// The routing table these records give.
    pub fn routing_table(&self) -> RoutingTable {
        let mut table = RoutingTable::new();
        for group in self.groups.keys() {
            table.add_discussion_group(*group);
        }
        for group in self.threads.keys() {
            table.add_thread(*group);
        }
        for group in self.pending_threads.keys() {
            table.add_pending_thread(*group);
        }
        // `peer_of`: the group list first, the peer's current group else.
        let mut conversations: BTreeSet<GroupId> =
            self.conversation_groups.keys().copied().collect();
        conversations.extend(self.conversations.values().copied());
        for group in conversations {
            if let Some(peer) = self.peer_of(&group) {
                table.add_conversation(group, peer);
            }
        }
        table
    }
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Brings the table's conversations with `peer` in line with the
    /// records, after they changed which groups are conversations with it.
    pub(crate) fn reroute_conversations(&mut self, peer: &AccountId) {
        let mut groups: BTreeSet<GroupId> =
            self.routes.conversations_with(peer).into_iter().collect();
        groups.extend(self.state.conversation_groups_with(peer));
        for group in groups {
            match self.state.peer_of(&group) {
                Some(peer) => self.routes.add_conversation(group, peer),
                None => self.routes.remove(&group, Kind::Conversation),
            }
        }
    }

    /// Debug builds: the table must equal the one the records give.
    pub(crate) fn check_routes(&self) {
        debug_assert_eq!(
            self.routes,
            self.state.routing_table(),
            "the routing table and the group records differ"
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::routing::Route;
    use stadtbote_protocol::DeviceId;

    use super::*;

    #[test]
    fn the_table_follows_the_records_with_the_old_precedence() {
        let (anna, bernd) = (AccountId([1; 16]), AccountId([2; 16]));
        let mut state = State::new(AccountId([9; 16]), DeviceId([9; 16]), None);
        let (old, listed, thread, pending) =
            (GroupId([1; 16]), GroupId([2; 16]), GroupId([3; 16]), GroupId([4; 16]));
        // A state from before the group list names a conversation by peer only.
        state.conversations.insert(anna, old);
        state.conversation_groups.insert(listed, bernd);
        state.pending_threads.insert(pending, 0);
        state.pending_threads.insert(thread, 0);
        let table = state.routing_table();
        assert_eq!(table.route(&old), Route::Conversation { peer: anna });
        assert_eq!(table.route(&listed), Route::Conversation { peer: bernd });
        assert_eq!(table.route(&pending), Route::PendingThread);
        assert_eq!(table.route(&thread), Route::PendingThread);
        assert_eq!(table.route(&GroupId([5; 16])), Route::Unknown);
        assert_eq!(table.len(), 4);
    }
}
