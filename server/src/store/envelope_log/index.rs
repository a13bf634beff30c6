//! The in-memory index of the envelope log: which envelopes are live,
//! where their payloads are, whose mailboxes hold them, when they expire and
//! which group they belong to.
//!
//! The index is rebuilt from the segments at every start (replay), so it is
//! never written anywhere itself. It only changes through [`Index::put`] and
//! [`Index::remove_for`] / [`Index::remove`], which replay and live writes
//! share: that is what keeps the rebuilt index equal to the one before a
//! restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use stadtbote_protocol::{DeviceId, GroupId};

/// Where a live envelope is and who still has to fetch it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The segment holding its newest put record.
    pub segment: u64,
    /// Offset of the payload in that segment file.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
    pub stored_at: u64,
    pub expires_at: u64,
    pub group: GroupId,
    /// Devices that have not acknowledged it yet; never empty.
    pub recipients: Vec<DeviceId>,
}

/// What the log keeps per segment file for compaction.
#[derive(Debug, Default, Clone)]
pub struct SegmentLive {
    /// Envelopes whose newest put record is in this segment.
    pub seqs: BTreeSet<u64>,
    /// Their payload bytes.
    pub bytes: u64,
}

/// Totals for the admin statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub messages: u64,
    pub envelopes: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct Index {
    messages: HashMap<u64, Message>,
    mailboxes: HashMap<DeviceId, BTreeSet<u64>>,
    expiry: BTreeSet<(u64, u64)>,
    groups: HashMap<GroupId, BTreeSet<u64>>,
    pub segments: BTreeMap<u64, SegmentLive>,
    totals: Totals,
}

impl Index {
    pub fn totals(&self) -> Totals {
        self.totals
    }

    pub fn get(&self, seq: u64) -> Option<&Message> {
        self.messages.get(&seq)
    }

    /// Records a put. A put of a `seq` already present replaces it: that is
    /// a copy made by compaction, whose recipients are the ones still
    /// waiting when it was copied.
    pub fn put(&mut self, seq: u64, message: Message) {
        self.remove(seq);
        if message.recipients.is_empty() {
            return;
        }
        for device in &message.recipients {
            self.mailboxes.entry(*device).or_default().insert(seq);
        }
        self.expiry.insert((message.expires_at, seq));
        self.groups.entry(message.group).or_default().insert(seq);
        let live = self.segments.entry(message.segment).or_default();
        live.seqs.insert(seq);
        live.bytes += u64::from(message.len);
        self.totals.messages += 1;
        self.totals.envelopes += message.recipients.len() as u64;
        self.totals.bytes += u64::from(message.len);
        self.messages.insert(seq, message);
    }

    /// Which of `seqs` are queued for `device`, without changing anything.
    pub fn queued_for(&self, device: &DeviceId, seqs: &[u64]) -> Vec<u64> {
        let Some(mailbox) = self.mailboxes.get(device) else { return Vec::new() };
        let mut found: Vec<u64> = seqs.iter().copied().filter(|s| mailbox.contains(s)).collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Removes `device`'s mailbox entry for each of `seqs`, deleting
    /// envelopes nobody else waits for. Returns the entries removed.
    pub fn remove_for(&mut self, device: &DeviceId, seqs: &[u64]) -> u32 {
        let mut removed = 0u32;
        for &seq in seqs {
            let Some(mailbox) = self.mailboxes.get_mut(device) else { break };
            if !mailbox.remove(&seq) {
                continue;
            }
            if mailbox.is_empty() {
                self.mailboxes.remove(device);
            }
            removed = removed.saturating_add(1);
            self.totals.envelopes = self.totals.envelopes.saturating_sub(1);
            let Some(message) = self.messages.get_mut(&seq) else { continue };
            message.recipients.retain(|d| d != device);
            if message.recipients.is_empty() {
                self.remove(seq);
            }
        }
        removed
    }

    /// Deletes an envelope with all its mailbox entries. Returns the mailbox
    /// entries it still had, or `None` if it was not live.
    pub fn remove(&mut self, seq: u64) -> Option<u64> {
        let message = self.messages.remove(&seq)?;
        for device in &message.recipients {
            if let Some(mailbox) = self.mailboxes.get_mut(device) {
                mailbox.remove(&seq);
                if mailbox.is_empty() {
                    self.mailboxes.remove(device);
                }
            }
        }
        self.expiry.remove(&(message.expires_at, seq));
        if let Some(seqs) = self.groups.get_mut(&message.group) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.groups.remove(&message.group);
            }
        }
        if let Some(live) = self.segments.get_mut(&message.segment) {
            live.seqs.remove(&seq);
            live.bytes = live.bytes.saturating_sub(u64::from(message.len));
        }
        let entries = message.recipients.len() as u64;
        self.totals.messages = self.totals.messages.saturating_sub(1);
        self.totals.envelopes = self.totals.envelopes.saturating_sub(entries);
        self.totals.bytes = self.totals.bytes.saturating_sub(u64::from(message.len));
        Some(entries)
    }

    /// Up to `limit` ids queued for `device` after `after`, in order, and
    /// whether more follow.
    pub fn mailbox_after(&self, device: &DeviceId, after: u64, limit: usize) -> (Vec<u64>, bool) {
        let Some(mailbox) = self.mailboxes.get(device) else { return (Vec::new(), false) };
        let Some(first) = after.checked_add(1) else { return (Vec::new(), false) };
        let mut range = mailbox.range(first..);
        let ids: Vec<u64> = range.by_ref().take(limit).copied().collect();
        let more = range.next().is_some();
        (ids, more)
    }

    /// Every id queued for `device`.
    pub fn mailbox(&self, device: &DeviceId) -> Vec<u64> {
        self.mailboxes.get(device).map(|m| m.iter().copied().collect()).unwrap_or_default()
    }

    /// Envelopes queued for `device` and their payload bytes.
    pub fn mailbox_size(&self, device: &DeviceId) -> (u64, u64) {
        let Some(mailbox) = self.mailboxes.get(device) else { return (0, 0) };
        let bytes =
            mailbox.iter().filter_map(|seq| self.messages.get(seq)).map(|m| u64::from(m.len)).sum();
        (mailbox.len() as u64, bytes)
    }

    /// Up to `limit` envelopes that expire before `now_ms`.
    pub fn expired(&self, now_ms: u64, limit: usize) -> Vec<u64> {
        self.expiry.range(..(now_ms, 0)).take(limit).map(|(_, seq)| *seq).collect()
    }

    /// Every envelope of `group` with an id up to `cutoff`.
    pub fn group_upto(&self, group: &GroupId, cutoff: u64) -> Vec<u64> {
        self.groups.get(group).map(|s| s.range(..=cutoff).copied().collect()).unwrap_or_default()
    }

    /// Every live envelope id, in order.
    pub fn all_seqs(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.messages.keys().copied().collect();
        seqs.sort_unstable();
        seqs
    }

    /// The live envelopes whose newest put record is in `segment`.
    pub fn segment_seqs(&self, segment: u64) -> Vec<u64> {
        self.segments.get(&segment).map(|l| l.seqs.iter().copied().collect()).unwrap_or_default()
    }

    /// Moves an envelope's location to a copy (compaction).
    pub fn relocate(&mut self, seq: u64, segment: u64, offset: u64) {
        let Some(message) = self.messages.get_mut(&seq) else { return };
        let len = u64::from(message.len);
        if let Some(old) = self.segments.get_mut(&message.segment) {
            old.seqs.remove(&seq);
            old.bytes = old.bytes.saturating_sub(len);
        }
        message.segment = segment;
        message.offset = offset;
        let live = self.segments.entry(segment).or_default();
        live.seqs.insert(seq);
        live.bytes += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId([n; DeviceId::LEN])
    }

    fn message(segment: u64, recipients: &[DeviceId]) -> Message {
        Message {
            segment,
            offset: 0,
            len: 10,
            stored_at: 1,
            expires_at: 100,
            group: GroupId([1; GroupId::LEN]),
            recipients: recipients.to_vec(),
        }
    }

    #[test]
    fn acks_count_down_and_the_last_one_deletes() {
        let mut index = Index::default();
        index.put(1, message(0, &[device(1), device(2)]));
        index.put(2, message(0, &[device(1)]));
        assert_eq!(index.totals(), Totals { messages: 2, envelopes: 3, bytes: 20 });
        assert_eq!(index.remove_for(&device(1), &[1, 2, 3]), 2);
        assert!(index.get(2).is_none());
        assert_eq!(index.get(1).unwrap().recipients, [device(2)]);
        // A second ack of the same id removes nothing.
        assert_eq!(index.remove_for(&device(1), &[1]), 0);
        assert_eq!(index.remove_for(&device(2), &[1]), 1);
        assert_eq!(index.totals(), Totals::default());
        assert!(index.segment_seqs(0).is_empty());
        assert!(index.mailboxes.is_empty() && index.groups.is_empty() && index.expiry.is_empty());
    }

    #[test]
    fn a_copy_replaces_the_original() {
        let mut index = Index::default();
        index.put(5, message(0, &[device(1), device(2)]));
        index.put(5, message(3, &[device(2)]));
        assert_eq!(index.totals(), Totals { messages: 1, envelopes: 1, bytes: 10 });
        assert!(index.segment_seqs(0).is_empty());
        assert_eq!(index.segment_seqs(3), [5]);
        assert_eq!(index.mailbox(&device(1)), Vec::<u64>::new());
    }

    #[test]
    fn pages_expiry_and_groups() {
        let mut index = Index::default();
        for seq in 1..=5 {
            let mut m = message(0, &[device(1)]);
            m.expires_at = seq * 10;
            index.put(seq, m);
        }
        assert_eq!(index.mailbox_after(&device(1), 2, 2), (vec![3, 4], true));
        assert_eq!(index.mailbox_after(&device(1), 3, 5), (vec![4, 5], false));
        assert_eq!(index.mailbox_after(&device(1), u64::MAX, 5), (vec![], false));
        assert_eq!(index.expired(30, 10), [1, 2]);
        assert_eq!(index.group_upto(&GroupId([1; GroupId::LEN]), 3), [1, 2, 3]);
        assert_eq!(index.mailbox_size(&device(1)), (5, 50));
        assert_eq!(index.queued_for(&device(1), &[5, 9, 5, 1]), [1, 5]);
    }
}
