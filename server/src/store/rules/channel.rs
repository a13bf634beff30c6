//! Rules of broadcast channels: posts in one chain, key epochs never back,
//! and what one page of a channel's posts holds.

use stadtbote_protocol::frame::ChannelPostRecord;

use crate::store::{PageLimits, StoreError};

/// One page of a channel's posts, filled in sequence order by the backend
/// ([`Page::offer`]): at most `limits.limit` posts, expired posts the
/// sweeper has not reached yet left out, and it stops before the post that
/// would exceed `limits.max_bytes` (a single post always fits).
#[derive(Debug)]
pub struct Page {
    limits: PageLimits,
    bytes: usize,
    /// The posts taken so far.
    pub posts: Vec<ChannelPostRecord>,
}

impl Page {
    /// An empty page.
    pub fn new(limits: PageLimits) -> Self {
        Self { limits, bytes: 0, posts: Vec::new() }
    }

    /// Whether the page takes no more posts: read no further.
    pub fn is_full(&self) -> bool {
        self.posts.len() >= self.limits.limit
    }

    /// Offers the next stored post; `false` when the page is complete and
    /// the backend should stop reading.
    pub fn offer(&mut self, seq: u64, stored_at: u64, expires_at: u64, post: &[u8]) -> bool {
        if self.is_full() {
            return false;
        }
        if expires_at <= self.limits.now_ms {
            return true;
        }
        let size = post.len().saturating_add(self.limits.per_post_overhead);
        if !self.posts.is_empty() && self.bytes.saturating_add(size) > self.limits.max_bytes {
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.posts.push(ChannelPostRecord { seq, stored_at, post: post.to_vec().into() });
        true
    }
}

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
    fn a_page_skips_expired_posts_and_stops_at_its_bounds() {
        let limits = PageLimits { limit: 3, max_bytes: 25, per_post_overhead: 5, now_ms: 100 };
        let mut page = Page::new(limits);
        assert!(page.offer(1, 1, 100, b"expired"), "skipped, go on");
        assert!(page.offer(2, 2, 200, &[0; 10]));
        assert!(!page.offer(3, 3, 200, &[0; 20]), "would exceed the bytes");
        assert_eq!(page.posts.iter().map(|p| p.seq).collect::<Vec<_>>(), [2]);
        let mut page = Page::new(PageLimits { max_bytes: 1, ..limits });
        assert!(page.offer(4, 4, 200, &[0; 50]), "one post always fits");
        let mut page = Page::new(PageLimits { limit: 1, ..limits });
        assert!(page.offer(5, 5, 200, b"a"));
        assert!(page.is_full() && !page.offer(6, 6, 200, b"b"));
    }

    #[test]
    fn one_post_follows_each_and_epochs_never_go_back() {
        assert_eq!(next_seq(0, 0).unwrap(), 1);
        assert!(matches!(next_seq(3, 2), Err(StoreError::StaleSeq { last_seq: 3 })));
        assert!(check_key_epoch(2, 2).is_ok());
        assert!(matches!(check_key_epoch(2, 1), Err(StoreError::EpochDecreasing)));
    }
}
