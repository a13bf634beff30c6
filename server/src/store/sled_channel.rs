//! [`ChannelStore`] on sled: channel records, sealed posts and their expiry
//! index. Trees and layouts are listed in `sled_store.rs`.
//!
//! Appending a post reads the channel's `last_seq`, checks the author's
//! `prev_seq` against it and writes the post, its expiry entry and the new
//! `last_seq` in one transaction. sled runs transactions one at a time, so
//! two authors racing for the same sequence number cannot both win.

use sled::Transactional;
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org::StaffCertificate;
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};

use super::StoreError;
use super::channel::{
    ChannelCounts, ChannelPage, ChannelRecord, ChannelStore, NewPost, PageLimits,
};
use super::sled_store::{SWEEP_BATCH, SledStore, abort, io, tx_decode, tx_error};
use super::{records, rules};

impl ChannelStore for SledStore {
    fn create_channel(
        &self,
        channel: &ChannelId,
        record: &ChannelRecord,
    ) -> Result<(), StoreError> {
        let value = records::encode_channel(record);
        self.channels
            .transaction(|channels| {
                if channels.get(channel.as_bytes())?.is_some() {
                    return abort(StoreError::ChannelIdTaken);
                }
                channels.insert(channel.as_bytes(), value.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn channel(&self, channel: &ChannelId) -> Result<Option<ChannelRecord>, StoreError> {
        match self.channels.get(channel.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_channel(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn update_channel(
        &self,
        channel: &ChannelId,
        meta: &[u8],
        key_epoch: u32,
    ) -> Result<u32, StoreError> {
        self.channels
            .transaction(|channels| {
                let Some(bytes) = channels.get(channel.as_bytes())? else {
                    return abort(StoreError::UnknownChannel);
                };
                let mut record = tx_decode(records::decode_channel(&bytes))?;
                tx_decode(rules::channel::check_key_epoch(record.key_epoch, key_epoch))?;
                record.meta = meta.to_vec();
                record.key_epoch = key_epoch;
                channels.insert(channel.as_bytes(), records::encode_channel(&record))?;
                Ok(key_epoch)
            })
            .map_err(tx_error)
    }

    fn append_post(&self, post: NewPost<'_>) -> Result<ChannelPostRecord, StoreError> {
        let channel = post.channel.as_bytes();
        (&self.channels, &self.channel_posts, &self.channel_post_expiry)
            .transaction(|(channels, posts, expiry)| {
                let Some(bytes) = channels.get(channel)? else {
                    return abort(StoreError::UnknownChannel);
                };
                let mut record = tx_decode(records::decode_channel(&bytes))?;
                let seq = tx_decode(rules::channel::next_seq(record.last_seq, post.prev_seq))?;
                record.last_seq = seq;
                posts.insert(
                    &records::id_seq_key(channel, seq),
                    records::encode_channel_post(post.now_ms, post.expires_at_ms, post.post),
                )?;
                expiry
                    .insert(&records::channel_expiry_key(post.expires_at_ms, channel, seq), &[])?;
                channels.insert(channel, records::encode_channel(&record))?;
                Ok(ChannelPostRecord {
                    seq,
                    stored_at: post.now_ms,
                    post: post.post.to_vec().into(),
                })
            })
            .map_err(tx_error)
    }

    fn channel_posts(
        &self,
        channel: &ChannelId,
        after: u64,
        limits: PageLimits,
    ) -> Result<ChannelPage, StoreError> {
        let id = channel.as_bytes();
        // Posts of one channel expire in sequence order (one retention per
        // channel), so expired posts the sweeper has not reached yet form a
        // prefix; skipping them costs at most one sweep interval's worth.
        let mut first_seq = 0;
        for entry in self.channel_posts.scan_prefix(id) {
            let (key, value) = entry.map_err(io)?;
            let (_, expires_at, _) = records::decode_channel_post(&value)?;
            if expires_at > limits.now_ms {
                first_seq = records::split_id_seq(&key)?.1;
                break;
            }
        }
        let mut page = rules::channel::Page::new(limits);
        if first_seq > 0 {
            let start =
                records::id_seq_key(id, after.max(first_seq.saturating_sub(1)).saturating_add(1));
            let end = records::id_seq_key(id, u64::MAX);
            for entry in self.channel_posts.range(start..=end) {
                if page.is_full() {
                    break;
                }
                let (key, value) = entry.map_err(io)?;
                let (_, seq) = records::split_id_seq(&key)?;
                let (stored_at, expires_at, post) = records::decode_channel_post(&value)?;
                if !page.offer(seq, stored_at, expires_at, post) {
                    break;
                }
            }
        }
        Ok(ChannelPage { posts: page.posts, first_seq })
    }

    fn staff_certificate(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<StaffCertificate>, StoreError> {
        let key = records::pair_key(org.as_bytes(), device.as_bytes());
        match self.staff.get(key).map_err(io)? {
            Some(bytes) => records::decode_staff(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn revoked_by_org(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError> {
        match self.revoked.get(device.as_bytes()).map_err(io)? {
            Some(bytes) => Ok(records::decode_orgs(&bytes)?.contains(org)),
            None => Ok(false),
        }
    }

    fn sweep_channel_posts(&self, now_ms: u64) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        loop {
            // Everything with expires_at < now sorts before (now, 0…, 0).
            let end = records::channel_expiry_key(now_ms, &[0; 16], 0);
            let mut batch = Vec::with_capacity(SWEEP_BATCH);
            for key in self.channel_post_expiry.range(..end).keys().take(SWEEP_BATCH) {
                let key = key.map_err(io)?;
                let (channel, seq) = records::split_channel_expiry(&key)?;
                batch.push((key, records::id_seq_key(&channel, seq)));
            }
            let full = batch.len() >= SWEEP_BATCH;
            if batch.is_empty() {
                break;
            }
            // One transaction per batch keeps each short; a post and its
            // index entry go together.
            let removed = (&self.channel_posts, &self.channel_post_expiry)
                .transaction(|(posts, expiry)| {
                    let mut removed = 0u64;
                    for (expiry_key, post_key) in &batch {
                        expiry.remove(expiry_key)?;
                        if posts.remove(post_key)?.is_some() {
                            removed += 1;
                        }
                    }
                    Ok(removed)
                })
                .map_err(tx_error)?;
            deleted += removed;
            if !full {
                break;
            }
        }
        Ok(deleted)
    }

    fn channel_counts(&self) -> Result<ChannelCounts, StoreError> {
        Ok(ChannelCounts {
            channels: self.channels.len() as u64,
            posts: self.channel_posts.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const DAY: u64 = 86_400_000;
    const CHANNEL: ChannelId = ChannelId([5; 16]);

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn create(store: &SledStore, channel: &ChannelId) {
        let record = ChannelRecord {
            org: OrgId([1; 16]),
            meta: b"sealed meta".to_vec(),
            key_epoch: 0,
            retention_days: 1,
            last_seq: 0,
            created_at: 0,
        };
        store.create_channel(channel, &record).unwrap();
    }

    fn append(
        store: &SledStore,
        prev_seq: u64,
        post: &[u8],
        now_ms: u64,
    ) -> Result<ChannelPostRecord, StoreError> {
        store.append_post(NewPost {
            channel: &CHANNEL,
            prev_seq,
            post,
            now_ms,
            expires_at_ms: now_ms + DAY,
        })
    }

    fn limits(limit: usize, max_bytes: usize, now_ms: u64) -> PageLimits {
        PageLimits { limit, max_bytes, per_post_overhead: 10, now_ms }
    }

    fn seqs(page: &ChannelPage) -> Vec<u64> {
        page.posts.iter().map(|p| p.seq).collect()
    }

    #[test]
    fn posts_are_ordered_and_a_stale_prev_seq_is_refused() {
        let (_dir, store) = open();
        create(&store, &CHANNEL);
        assert!(matches!(
            store.create_channel(&CHANNEL, &store.channel(&CHANNEL).unwrap().unwrap()),
            Err(StoreError::ChannelIdTaken)
        ));
        assert_eq!(append(&store, 0, b"one", 10).unwrap().seq, 1);
        assert_eq!(append(&store, 1, b"two", 11).unwrap().seq, 2);
        // Two authors who both saw post 2: the second is refused with the
        // newest sequence number, and nothing is stored for it.
        assert_eq!(append(&store, 2, b"three", 12).unwrap().seq, 3);
        assert!(matches!(
            append(&store, 2, b"late", 12),
            Err(StoreError::StaleSeq { last_seq: 3 })
        ));
        assert!(matches!(
            append(&store, 9, b"ahead", 12),
            Err(StoreError::StaleSeq { last_seq: 3 })
        ));
        let unknown = store.append_post(NewPost {
            channel: &ChannelId([6; 16]),
            prev_seq: 0,
            post: b"x",
            now_ms: 1,
            expires_at_ms: 2,
        });
        assert!(matches!(unknown, Err(StoreError::UnknownChannel)));
        let page = store.channel_posts(&CHANNEL, 0, limits(10, 1 << 20, 20)).unwrap();
        assert_eq!(seqs(&page), [1, 2, 3]);
        assert_eq!(page.first_seq, 1);
        assert_eq!(page.posts[2].post.as_slice(), b"three");
        assert_eq!(store.channel(&CHANNEL).unwrap().unwrap().last_seq, 3);

        // Concurrent authors at the same place: exactly one wins.
        let store = std::sync::Arc::new(store);
        let winners: usize = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || append(&store, 3, &[i], 30).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(winners, 1);
        assert_eq!(store.channel(&CHANNEL).unwrap().unwrap().last_seq, 4);
    }

    #[test]
    fn key_epoch_may_not_decrease() {
        let (_dir, store) = open();
        create(&store, &CHANNEL);
        assert_eq!(store.update_channel(&CHANNEL, b"m2", 2).unwrap(), 2);
        assert_eq!(store.update_channel(&CHANNEL, b"m3", 2).unwrap(), 2);
        assert!(matches!(
            store.update_channel(&CHANNEL, b"m", 1),
            Err(StoreError::EpochDecreasing)
        ));
        assert!(matches!(
            store.update_channel(&ChannelId([6; 16]), b"m", 1),
            Err(StoreError::UnknownChannel)
        ));
        let record = store.channel(&CHANNEL).unwrap().unwrap();
        assert_eq!((record.meta.as_slice(), record.key_epoch), (&b"m3"[..], 2));
    }

    #[test]
    fn fetch_respects_after_count_and_size() {
        let (_dir, store) = open();
        create(&store, &CHANNEL);
        create(&store, &ChannelId([6; 16]));
        for seq in 0..10u64 {
            append(&store, seq, &[seq as u8; 100], 10).unwrap();
        }
        let page = store.channel_posts(&CHANNEL, 4, limits(3, 1 << 20, 20)).unwrap();
        assert_eq!((seqs(&page), page.first_seq), (vec![5, 6, 7], 1));
        // 110 counted bytes per post: 350 bytes hold three.
        let page = store.channel_posts(&CHANNEL, 0, limits(100, 350, 20)).unwrap();
        assert_eq!(seqs(&page), [1, 2, 3]);
        // One post always fits, even when the budget is smaller.
        let page = store.channel_posts(&CHANNEL, 0, limits(100, 5, 20)).unwrap();
        assert_eq!(seqs(&page), [1]);
        assert!(
            store.channel_posts(&CHANNEL, 10, limits(10, 1 << 20, 20)).unwrap().posts.is_empty()
        );
        assert!(store.channel_posts(&CHANNEL, 0, limits(0, 1 << 20, 20)).unwrap().posts.is_empty());
        // Another channel's posts never leak in.
        let other = store.channel_posts(&ChannelId([6; 16]), 0, limits(10, 1 << 20, 20)).unwrap();
        assert_eq!((other.posts.len(), other.first_seq), (0, 0));
    }

    #[test]
    fn sweep_deletes_expired_posts_and_keeps_the_channel() {
        let (_dir, store) = open();
        create(&store, &CHANNEL);
        append(&store, 0, b"old", 0).unwrap();
        append(&store, 1, b"older", 1).unwrap();
        append(&store, 2, b"new", DAY).unwrap();
        // Past their expiry but not yet swept: left out of a fetch.
        let page = store.channel_posts(&CHANNEL, 0, limits(10, 1 << 20, DAY + 2)).unwrap();
        assert_eq!((seqs(&page), page.first_seq), (vec![3], 3));
        assert_eq!(store.sweep(DAY + 2).unwrap().channel_posts, 2);
        assert_eq!(store.sweep(DAY + 2).unwrap().channel_posts, 0);
        let page = store.channel_posts(&CHANNEL, 0, limits(10, 1 << 20, DAY + 2)).unwrap();
        assert_eq!((seqs(&page), page.first_seq), (vec![3], 3));
        let record = store.channel(&CHANNEL).unwrap().unwrap();
        assert_eq!(record.last_seq, 3);
        assert_eq!(store.channel_counts().unwrap(), ChannelCounts { channels: 1, posts: 1 });
        // Sequence numbers continue after expired posts.
        assert_eq!(append(&store, 3, b"next", DAY).unwrap().seq, 4);
        assert_eq!(store.sweep(3 * DAY).unwrap().channel_posts, 2);
        let page = store.channel_posts(&CHANNEL, 0, limits(10, 1 << 20, 3 * DAY)).unwrap();
        assert_eq!((page.posts.len(), page.first_seq), (0, 0));
    }
}
