//! Rules of broadcast channels: posts in one chain, key epochs never back.

use crate::store::StoreError;

/// The sequence number of a post whose author saw `prev_seq` last, in a
/// channel whose newest post is `last_seq`: exactly one post follows each
/// (two authors racing get one acceptance and one [`StoreError::StaleSeq`]).
pub fn next_seq(last_seq: u64, prev_seq: u64) -> Result<u64, StoreError> {
    if prev_seq != last_seq {
        return Err(StoreError::StaleSeq { last_seq });
    }
    Ok(last_seq.saturating_add(1))
}

/// A channel's key epoch never decreases (an old key could otherwise be
/// brought back after a rotation locked someone out).
pub fn check_key_epoch(current: u32, new: u32) -> Result<(), StoreError> {
    if new < current { Err(StoreError::EpochDecreasing) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_post_follows_each_and_epochs_never_go_back() {
        assert_eq!(next_seq(0, 0).unwrap(), 1);
        assert!(matches!(next_seq(3, 2), Err(StoreError::StaleSeq { last_seq: 3 })));
        assert!(check_key_epoch(2, 2).is_ok());
        assert!(matches!(check_key_epoch(2, 1), Err(StoreError::EpochDecreasing)));
    }
}
