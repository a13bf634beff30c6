//! [`ChannelStore`] on PostgreSQL: the port of `sled_channel` onto the
//! key-value collections of [`super::pg_kv`] (same trees, keys, records).
//! Appending a post reads the channel's `last_seq`, checks the author's
//! `prev_seq` and writes post, expiry entry and `last_seq` in one
//! serializable transaction: two authors racing for one sequence number
//! cannot both win.

use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org::StaffCertificate;
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};

use super::channel::{
    ChannelCounts, ChannelPage, ChannelRecord, ChannelStore, NewPost, PageLimits,
};
use super::pg_org::{CHANNELS, REVOKED, STAFF};
use super::pg_store::PgStore;
use super::{StoreError, records, rules};

const POSTS: &str = "channel_posts";
const POST_EXPIRY: &str = "channel_post_expiry";
/// Posts read per round trip while looking for the first unexpired one.
const SCAN_BATCH: usize = 64;
/// Expired posts deleted per transaction.
const SWEEP_BATCH: usize = 256;

impl ChannelStore for PgStore {
    fn create_channel(
        &self,
        channel: &ChannelId,
        record: &ChannelRecord,
    ) -> Result<(), StoreError> {
        let value = records::encode_channel(record);
        self.kv(|s| {
            if s.contains_key(CHANNELS, channel.as_bytes())? {
                return Err(StoreError::ChannelIdTaken);
            }
            s.insert(CHANNELS, channel.as_bytes(), &value)?;
            Ok(())
        })
    }

    fn channel(&self, channel: &ChannelId) -> Result<Option<ChannelRecord>, StoreError> {
        match self.kv(|s| s.get(CHANNELS, channel.as_bytes()))? {
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
        self.kv(|s| {
            let Some(bytes) = s.get(CHANNELS, channel.as_bytes())? else {
                return Err(StoreError::UnknownChannel);
            };
            let mut record = records::decode_channel(&bytes)?;
            rules::channel::check_key_epoch(record.key_epoch, key_epoch)?;
            record.meta = meta.to_vec();
            record.key_epoch = key_epoch;
            s.insert(CHANNELS, channel.as_bytes(), &records::encode_channel(&record))?;
            Ok(key_epoch)
        })
    }

    fn append_post(&self, post: NewPost<'_>) -> Result<ChannelPostRecord, StoreError> {
        let channel = post.channel.as_bytes();
        self.kv(|s| {
            let Some(bytes) = s.get(CHANNELS, channel)? else {
                return Err(StoreError::UnknownChannel);
            };
            let mut record = records::decode_channel(&bytes)?;
            let seq = rules::channel::next_seq(record.last_seq, post.prev_seq)?;
            record.last_seq = seq;
            s.insert(
                POSTS,
                &records::id_seq_key(channel, seq),
                &records::encode_channel_post(post.now_ms, post.expires_at_ms, post.post),
            )?;
            s.insert(
                POST_EXPIRY,
                &records::channel_expiry_key(post.expires_at_ms, channel, seq),
                &[],
            )?;
            s.insert(CHANNELS, channel, &records::encode_channel(&record))?;
            Ok(ChannelPostRecord { seq, stored_at: post.now_ms, post: post.post.to_vec().into() })
        })
    }

    fn channel_posts(
        &self,
        channel: &ChannelId,
        after: u64,
        limits: PageLimits,
    ) -> Result<ChannelPage, StoreError> {
        let id = channel.as_bytes();
        self.kv(|s| {
            // Expired posts the sweeper has not reached yet form a prefix.
            let mut first_seq = 0;
            let mut from = records::id_seq_key(id, 0).to_vec();
            let end = records::id_seq_key(id, u64::MAX).to_vec();
            'scan: loop {
                let batch = s.range(POSTS, &from, Some(&end), Some(SCAN_BATCH))?;
                let full = batch.len() >= SCAN_BATCH;
                for (key, value) in &batch {
                    let (_, expires_at, _) = records::decode_channel_post(value)?;
                    if expires_at > limits.now_ms {
                        first_seq = records::split_id_seq(key)?.1;
                        break 'scan;
                    }
                }
                match batch.last() {
                    Some((key, _)) if full => {
                        from = key.clone();
                        from.push(0);
                    }
                    _ => break,
                }
            }
            let mut page = rules::channel::Page::new(limits);
            if first_seq > 0 {
                let start = records::id_seq_key(
                    id,
                    after.max(first_seq.saturating_sub(1)).saturating_add(1),
                );
                let rows = s.range(POSTS, &start, Some(&end), Some(limits.limit))?;
                for (key, value) in rows {
                    let (_, seq) = records::split_id_seq(&key)?;
                    let (stored_at, expires_at, post) = records::decode_channel_post(&value)?;
                    if !page.offer(seq, stored_at, expires_at, post) {
                        break;
                    }
                }
            }
            Ok(ChannelPage { posts: page.posts, first_seq })
        })
    }

    fn staff_certificate(
        &self,
        org: &OrgId,
        device: &DeviceId,
    ) -> Result<Option<StaffCertificate>, StoreError> {
        let key = records::pair_key(org.as_bytes(), device.as_bytes());
        match self.kv(|s| s.get(STAFF, &key))? {
            Some(bytes) => records::decode_staff(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn revoked_by_org(&self, org: &OrgId, device: &DeviceId) -> Result<bool, StoreError> {
        match self.kv(|s| s.get(REVOKED, device.as_bytes()))? {
            Some(bytes) => Ok(records::decode_orgs(&bytes)?.contains(org)),
            None => Ok(false),
        }
    }

    fn sweep_channel_posts(&self, now_ms: u64) -> Result<u64, StoreError> {
        let end = records::channel_expiry_key(now_ms, &[0; 16], 0);
        let mut deleted = 0u64;
        loop {
            let (removed, full) = self.kv(|s| {
                let batch = s.range(POST_EXPIRY, &[], Some(&end), Some(SWEEP_BATCH))?;
                let mut removed = 0u64;
                for (key, _) in &batch {
                    let (channel, seq) = records::split_channel_expiry(key)?;
                    s.remove(POST_EXPIRY, key)?;
                    if s.remove(POSTS, &records::id_seq_key(&channel, seq))?.is_some() {
                        removed += 1;
                    }
                }
                Ok((removed, batch.len() >= SWEEP_BATCH))
            })?;
            deleted += removed;
            if !full {
                return Ok(deleted);
            }
        }
    }

    fn channel_counts(&self) -> Result<ChannelCounts, StoreError> {
        self.kv(|s| Ok(ChannelCounts { channels: s.len(CHANNELS)?, posts: s.len(POSTS)? }))
    }
}
