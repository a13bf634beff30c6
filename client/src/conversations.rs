//! Which groups are 1:1 conversations, with whom, and which one messages
//! to a peer go to.
//!
//! New conversations get random group ids, so nothing in an envelope's
//! clear MLS header names the two accounts
//! ([`stadtbote_protocol::conversation`]). A Welcome therefore says by
//! itself whether it opens a conversation: the adding device puts the
//! [`marker`] of the two accounts into the Welcome's signed, encrypted
//! GroupInfo. A joiner takes the group as its conversation with the other
//! account the marker names only when every member belongs to one of the
//! two accounts; before anything is sent into it, [`crate::send`] makes its
//! members exactly the devices on both accounts' signed device lists. A
//! conversation created before with the id derived from the two accounts
//! is still recognised by that id.
//!
//! When both sides started at the same time there are two groups; every
//! conversation group of the pair is read, and messages go to the one
//! [`stadtbote_protocol::conversation::preferred`] picks — on both sides.
//!
//! [`marker`]: stadtbote_protocol::conversation::marker

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeSet;

use serde_bytes::ByteBuf;
use stadtbote_protocol::conversation::peer_named;
use stadtbote_protocol::ids::conversation_id;
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::Member;
use stadtbote_protocol::{AccountId, GroupId};

use crate::error::ClientError;
use crate::session::Client;

/// The peer of a group a Welcome brought `own` into, if the group is a
/// 1:1 conversation: its id is the one derived from both accounts (older
/// conversations), or its Welcome carries a marker naming `own` and the
/// peer, and every member belongs to one of the two.
pub fn conversation_peer(
    own: &AccountId,
    group: &GroupId,
    members: &[Member],
    welcome_data: Option<&[u8]>,
) -> Option<AccountId> {
    let others: BTreeSet<AccountId> =
        members.iter().map(|m| m.account).filter(|a| a != own).collect();
    let member_peer = match others.len() {
        0 => Some(*own),
        1 => others.iter().next().copied(),
        _ => None,
    };
    if let Some(peer) = member_peer
        && conversation_id(own, &peer) == *group
    {
        return Some(peer);
    }
    let named = peer_named(welcome_data?, own)?;
    // Every other member belongs to the named peer (none yet is fine: the
    // peer's devices may have had no KeyPackages left).
    others.iter().all(|a| *a == named).then_some(named)
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// The conversation groups with `peer` this device can still send to.
    fn usable_conversations(&self, peer: &AccountId) -> Result<BTreeSet<GroupId>, ClientError> {
        let mut usable = BTreeSet::new();
        for group in self.state.conversation_groups_with(peer) {
            if self.mls.has_group(&group)? && self.mls.is_active(&group)? {
                usable.insert(group);
            }
        }
        Ok(usable)
    }

    /// Records `group` as a conversation with `peer` (the caller saves);
    /// returns the group messages to the peer go to from now on.
    pub(crate) fn learn_conversation(
        &mut self,
        peer: AccountId,
        group: GroupId,
    ) -> Result<Option<GroupId>, ClientError> {
        let mut usable = self.usable_conversations(&peer)?;
        if self.mls.has_group(&group)? && self.mls.is_active(&group)? {
            usable.insert(group);
        }
        let chosen = self.state.record_conversation(peer, group, &usable);
        self.reroute_conversations(&peer);
        if chosen.is_some_and(|c| c != group) {
            tracing::info!("two conversations with one account: the other one is used");
        }
        Ok(chosen)
    }

    /// The group messages to `peer` go to, or else a new one with a random
    /// id (`fresh`, kept across attempts) that is created here.
    pub(crate) fn conversation_group(
        &mut self,
        peer: &AccountId,
        fresh: &mut Option<GroupId>,
    ) -> Result<GroupId, ClientError> {
        if let Some(group) = self.state.conversations.get(peer).copied()
            && self.mls.has_group(&group)?
        {
            return Ok(group);
        }
        let group = match *fresh {
            Some(group) => group,
            None => {
                let (group, nonce) = new_random_group();
                let nonce = ByteBuf::from(nonce.to_vec());
                self.creations.insert(group, GroupCreation::Random { nonce });
                *fresh = Some(group);
                group
            }
        };
        if !self.mls.has_group(&group)? {
            self.mls.create_group(group)?;
        }
        Ok(group)
    }

    /// Forgets `group` as a conversation (the caller saves).
    pub(crate) fn unlearn_conversation(&mut self, group: &GroupId) -> Result<(), ClientError> {
        let Some(peer) = self.state.peer_of(group) else { return Ok(()) };
        let mut usable = self.usable_conversations(&peer)?;
        usable.remove(group);
        self.state.forget_conversation(group, &usable);
        self.reroute_conversations(&peer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::DeviceId;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::conversation::marker;

    fn member(account: AccountId, n: u8) -> Member {
        Member {
            account,
            device: DeviceId([n; 16]),
            identity_key: DeviceSecret::generate().identity_key(),
        }
    }

    #[test]
    fn a_welcome_is_a_conversation_only_between_the_two_named_accounts() {
        let (own, peer, third) = (AccountId([1; 16]), AccountId([2; 16]), AccountId([3; 16]));
        let random = GroupId([9; 16]);
        let pair = [member(own, 1), member(peer, 2), member(peer, 3)];
        let m = marker(&own, &peer);
        assert_eq!(conversation_peer(&own, &random, &pair, Some(&m)), Some(peer));
        // No marker: a thread or another kind of group.
        assert_eq!(conversation_peer(&own, &random, &pair, None), None);
        // A marker that does not name us, or names another peer.
        assert_eq!(conversation_peer(&own, &random, &pair, Some(&marker(&peer, &third))), None);
        assert_eq!(conversation_peer(&own, &random, &pair, Some(&marker(&own, &third))), None);
        // A third account's device among the members.
        let crowd = [member(own, 1), member(peer, 2), member(third, 4)];
        assert_eq!(conversation_peer(&own, &random, &crowd, Some(&m)), None);
        // Only own devices so far: still the conversation the marker names.
        assert_eq!(conversation_peer(&own, &random, &[member(own, 1)], Some(&m)), Some(peer));
        // Conversations from before keep their derived id, with no marker.
        let derived = conversation_id(&own, &peer);
        assert_eq!(conversation_peer(&own, &derived, &pair, None), Some(peer));
        assert_eq!(conversation_peer(&own, &derived, &crowd, None), None);
    }
}
