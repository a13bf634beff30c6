//! 1:1 conversations: how a group says it is one, and which of two wins.
//!
//! A conversation between two accounts is an MLS group holding the devices
//! of both. Its group id is random ([`crate::membership::new_random_group`],
//! created with a [`crate::membership::GroupCreation::Random`] proof), so
//! the id in every envelope's cleartext MLS header says nothing about the
//! two accounts. (Before, it was [`crate::ids::conversation_id`], which
//! anybody holding the two account ids computes; conversations created
//! that way keep their id.)
//!
//! The peer learns that a Welcome brings it into a conversation, and with
//! whom, from [`marker`]: the adding device puts it into the Welcome's
//! GroupInfo ([`crate::mls::MlsClient::add_members_with_welcome_data`]),
//! where it is encrypted to the joiners and covered by the adder's
//! signature. A joiner accepts the group as a conversation only when the
//! marker names its own account and every member belongs to one of the two
//! accounts it names ([`peer_named`]).
//!
//! Two accounts that start talking at the same time, neither having seen
//! the other's Welcome, create two groups. Both sides apply the same rule
//! once they hold both: messages are read from every conversation group of
//! the pair, and sent only to the [`preferred`] one — the smallest group id
//! (byte-wise) among those the device is still an active member of. The
//! other group goes quiet: nobody sends to it any more, but it is not left
//! (MLS has no way to leave without another member's commit, and a message
//! already on its way in it must stay readable).

use crate::ids::{AccountId, GroupId};

/// Domain separator at the start of [`marker`].
pub const MARKER_DOMAIN: &[u8] = b"stadtbote-conversation-v2\0";

/// Length of [`marker`]: the domain and two account ids.
pub const MARKER_LEN: usize = MARKER_DOMAIN.len() + 2 * AccountId::LEN;

/// The Welcome marker of the conversation between `a` and `b`: the domain
/// separator `"stadtbote-conversation-v2\0"`, the smaller account id and
/// the larger one (byte-wise order). `a == b` is an account's conversation
/// with its own devices.
pub fn marker(a: &AccountId, b: &AccountId) -> Vec<u8> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(MARKER_LEN);
    out.extend_from_slice(MARKER_DOMAIN);
    out.extend_from_slice(low.as_bytes());
    out.extend_from_slice(high.as_bytes());
    out
}

/// The other account a Welcome marker names besides `own` (`own` itself
/// for an account's own conversation), or `None` when `data` is not a
/// marker or does not name `own`.
pub fn peer_named(data: &[u8], own: &AccountId) -> Option<AccountId> {
    if data.len() != MARKER_LEN {
        return None;
    }
    let rest = data.strip_prefix(MARKER_DOMAIN)?;
    let (low, high) = rest.split_at(AccountId::LEN);
    let low = AccountId::from_slice(low).ok()?;
    let high = AccountId::from_slice(high).ok()?;
    if low > high {
        return None;
    }
    if low == *own {
        Some(high)
    } else if high == *own {
        Some(low)
    } else {
        None
    }
}

/// The group messages to the peer go to: the smallest id of `groups` (the
/// pair's conversation groups this device is still an active member of).
pub fn preferred(groups: impl IntoIterator<Item = GroupId>) -> Option<GroupId> {
    groups.into_iter().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of docs/PROTOCOL.md ("1:1 conversations").
    #[test]
    fn marker_test_vector() {
        let (a, b) = (AccountId([0x02; 16]), AccountId([0x01; 16]));
        let m = marker(&a, &b);
        assert_eq!(m, marker(&b, &a));
        assert_eq!(m.len(), MARKER_LEN);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&m),
            "7374616474626f74652d636f6e766572736174696f6e2d7632\
             00\
             01010101010101010101010101010101\
             02020202020202020202020202020202"
        );
    }

    #[test]
    fn a_marker_names_the_peer_only_for_one_of_its_accounts() {
        let (a, b, c) = (AccountId([1; 16]), AccountId([2; 16]), AccountId([3; 16]));
        let m = marker(&a, &b);
        assert_eq!(peer_named(&m, &a), Some(b));
        assert_eq!(peer_named(&m, &b), Some(a));
        assert_eq!(peer_named(&m, &c), None);
        assert_eq!(peer_named(&marker(&a, &a), &a), Some(a));
        // Anything else is no marker: wrong length, domain, or order.
        assert_eq!(peer_named(&m[..m.len() - 1], &a), None);
        let mut other = m.clone();
        other[0] ^= 1;
        assert_eq!(peer_named(&other, &a), None);
        let mut swapped = MARKER_DOMAIN.to_vec();
        swapped.extend_from_slice(b.as_bytes());
        swapped.extend_from_slice(a.as_bytes());
        assert_eq!(peer_named(&swapped, &a), None);
    }

    #[test]
    fn the_smallest_group_wins_whatever_the_order() {
        let (g1, g2, g3) = (GroupId([1; 16]), GroupId([2; 16]), GroupId([3; 16]));
        assert_eq!(preferred([g3, g1, g2]), Some(g1));
        assert_eq!(preferred([g2, g3]), preferred([g3, g2]));
        assert_eq!(preferred(Vec::new()), None);
    }
}
