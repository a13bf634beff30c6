//! The store's envelope operations: groups and revocations are read from
//! sled, envelopes live in the [`EnvelopeLog`].
//!
//! Every change that queues envelopes runs under the store's
//! envelope-ordering lock, which is also what every change of a group's
//! record holds. Under it the group is read, checked, the envelopes are
//! appended (which allocates their sequence numbers in append order) and,
//! for a commit, the group's new record is written. A commit's log frame
//! carries that record and is synced before sled changes: if sled loses the
//! change in a crash, opening the store writes it again
//! ([`SledStore::redo_group_states`]); if the log loses the frame, sled
//! never saw the change.
//!
//! Envelope data of releases before the log (seven sled trees) is moved
//! into the log when the store opens ([`SledStore::migrate_legacy_envelopes`]),
//! and backups keep writing those trees' layout ([`SledStore::export_envelopes`]),
//! so that old backups restore into new releases and new backups read the
//! same way.

use sled::transaction::Transactional;

use stadtbote_protocol::{DeviceId, GroupId};

use super::envelope_log::{EnvelopeLog, GroupState, LiveEnvelope, NewEnvelope};
use super::records::{self, GroupRecord, MessageRecord, RefsRecord};
use super::rules::commit::{CommitPlan, GroupSnapshot};
use super::rules::{self, DeviceStanding, GroupView};
use super::sled_backup::TreeVisitor;
use super::sled_store::{SWEEP_BATCH, SledStore, io, tx_error};
use super::{CommitInput, CommitOutcome, ExternalJoinInput, StoreError};

/// The sled trees in which releases before the envelope log kept
/// envelopes. Backups still use their layout.
pub(super) const LEGACY_TREES: [&str; 7] =
    ["messages", "refs", "recipients", "mailbox", "expiry", "message_group", "group_messages"];

/// What the rules may ask about devices, answered from sled under the
/// envelope-ordering lock that the asking operation holds.
impl GroupView for SledStore {
    fn device_standing(&self, stored: &DeviceId) -> Result<DeviceStanding, StoreError> {
        Ok(match self.devices.get(stored.as_bytes()).map_err(io)? {
            None => DeviceStanding::Unknown,
            Some(bytes) if records::decode_device(&bytes)?.blocked => DeviceStanding::Blocked,
            Some(_) => DeviceStanding::Active,
        })
    }

    /// The revocation list names staff devices by their ids (public org
    /// data), so each stored id is looked up by its device id.
    fn is_queued_nothing(&self, stored: &DeviceId) -> Result<bool, StoreError> {
        match self.raw_device(stored) {
            Some(device) => self.revoked.contains_key(device.as_bytes()).map_err(io),
            // A device of a deleted account: no longer anybody's staff.
            None => Ok(false),
        }
    }
}

impl SledStore {
    /// The group's record, if it exists.
    fn group_record(&self, group: &GroupId) -> Result<Option<GroupRecord>, StoreError> {
        match self.groups.get(group.as_bytes()).map_err(io)? {
            Some(bytes) => Ok(Some(records::decode_group(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The group as the rules see it, if it exists.
    fn group_snapshot(&self, group: &GroupId) -> Result<Option<GroupSnapshot>, StoreError> {
        Ok(self
            .group_record(group)?
            .map(|record| GroupSnapshot { epoch: record.epoch, members: record.members }))
    }

    pub(super) fn send_impl(
        &self,
        group: &GroupId,
        sender: &DeviceId,
        payload: &[u8],
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let _order = self.lock_message_order();
        let current = self.group_snapshot(group)?;
        let to = rules::commit::send_recipients(self, current.as_ref(), sender)?;
        if !to.is_empty() {
            let envelope = NewEnvelope {
                group,
                payload,
                recipients: &to,
                stored_at: now_ms,
                expires_at: expires_at_ms,
            };
            self.log.append(&[envelope], None)?;
        }
        Ok(to)
    }

    /// Appends a commit's envelopes with the group's new record, syncs
    /// them, and only then writes the record to sled (see the module docs).
    /// Runs under the envelope-ordering lock.
    fn store_commit(
        &self,
        group: &GroupId,
        envelopes: &[NewEnvelope<'_>],
        record: GroupRecord,
    ) -> Result<(), StoreError> {
        let state =
            GroupState { group: *group, epoch: record.epoch, members: record.members.clone() };
        self.log.append_durable(envelopes, Some(&state))?;
        self.groups.insert(group.as_bytes(), records::encode_group(&record)).map_err(io)?;
        Ok(())
    }

    pub(super) fn commit_impl(&self, input: CommitInput<'_>) -> Result<CommitOutcome, StoreError> {
        // The lists are checked before the lock: a malformed commit never
        // waits for others.
        rules::commit::check_commit_shape(&input)?;
        let _order = self.lock_message_order();
        let current = self.group_snapshot(input.group)?;
        let CommitPlan { group: new_state, commit_to, welcomed } =
            rules::commit::plan_commit(self, current, &input)?;
        let (stored_at, expires_at) = (input.now_ms, input.expires_at_ms);
        let mut envelopes = Vec::with_capacity(2);
        if !commit_to.is_empty() {
            let payload = input.commit;
            let group = input.group;
            envelopes.push(NewEnvelope {
                group,
                payload,
                recipients: &commit_to,
                stored_at,
                expires_at,
            });
        }
        if let Some(welcome) = input.welcome
            && !welcomed.is_empty()
        {
            envelopes.push(NewEnvelope {
                group: input.group,
                payload: welcome,
                recipients: &welcomed,
                stored_at,
                expires_at,
            });
        }
        let new_epoch = new_state.epoch;
        let record = GroupRecord { epoch: new_state.epoch, members: new_state.members };
        self.store_commit(input.group, &envelopes, record)?;
        let mut woken = commit_to;
        woken.extend_from_slice(&welcomed);
        Ok(CommitOutcome { epoch: new_epoch, recipients: woken })
    }

    pub(super) fn external_join_impl(
        &self,
        input: ExternalJoinInput<'_>,
    ) -> Result<CommitOutcome, StoreError> {
        let _order = self.lock_message_order();
        let current = self.group_snapshot(input.group)?.ok_or(StoreError::UnknownGroup)?;
        // Checked under the lock: a link replaced a moment ago no longer
        // admits anyone.
        let Some(bytes) = self.group_info.get(input.group.as_bytes()).map_err(io)? else {
            return Err(StoreError::UnknownGroup);
        };
        let info = records::decode_group_info(&bytes)?;
        let token_matches = records::hash_eq(&info.token_hash, input.token_hash);
        let CommitPlan { group: new_state, commit_to, .. } =
            rules::commit::plan_external_join(self, current, token_matches, &input)?;
        let mut envelopes = Vec::with_capacity(1);
        if !commit_to.is_empty() {
            envelopes.push(NewEnvelope {
                group: input.group,
                payload: input.commit,
                recipients: &commit_to,
                stored_at: input.now_ms,
                expires_at: input.expires_at_ms,
            });
        }
        let new_epoch = new_state.epoch;
        let updated = GroupRecord { epoch: new_state.epoch, members: new_state.members };
        self.store_commit(input.group, &envelopes, updated)?;
        Ok(CommitOutcome { epoch: new_epoch, recipients: commit_to })
    }

    /// Deletes a group whose expiry-index entry says `at`, and then every
    /// envelope still queued for it. Returns `None` when the index entry was
    /// stale (it is removed) and the group was left alone.
    pub(super) fn delete_group(
        &self,
        group: &GroupId,
        at: u64,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let cutoff = {
            // Under the envelope-ordering lock no envelope for this group can
            // be stored between the group's deletion and reading the last
            // sequence number, so every envelope of the deleted group is at
            // or below `cutoff`. A conversation id is deterministic, so the
            // same group may be created again at once; its envelopes get
            // higher numbers and are left alone.
            let _order = self.lock_message_order();
            let index_key = records::time_id_key(at, group.as_bytes());
            let current = match self.group_expiry.get(group.as_bytes()).map_err(io)? {
                Some(bytes) => Some(records::decode_u64(&bytes, "group_expiry")?),
                None => None,
            };
            if current != Some(at) {
                self.group_expiry_index.remove(index_key).map_err(io)?;
                return Ok(None);
            }
            // Durable before sled forgets the group, so that no replayed
            // group state can bring it back.
            self.log.group_gone(group)?;
            (&self.groups, &self.group_expiry, &self.group_expiry_index, &self.group_info)
                .transaction(|(groups, group_expiry, index, group_info)| {
                    index.remove(&index_key[..])?;
                    group_expiry.remove(group.as_bytes())?;
                    groups.remove(group.as_bytes())?;
                    // The join link dies with the group.
                    group_info.remove(group.as_bytes())?;
                    Ok(())
                })
                .map_err(tx_error)?;
            self.forget_group_id(group)?;
            self.log.last_seq()
        };
        Ok(Some(self.log.drop_envelopes(&self.log.group_envelopes(group, cutoff))?))
    }

    /// Deletes a group that lost its last member (account deletion), with
    /// its join link. Runs under the envelope-ordering lock.
    pub(super) fn forget_group(&self, group: &GroupId) -> Result<(), StoreError> {
        self.log.group_gone(group)?;
        self.groups.remove(group.as_bytes()).map_err(io)?;
        self.group_info.remove(group.as_bytes()).map_err(io)?;
        self.forget_group_id(group)?;
        Ok(())
    }

    /// Deletes expired envelopes. Returns (envelopes, mailbox entries).
    pub(super) fn sweep_envelopes(&self, now_ms: u64) -> Result<(u64, u64), StoreError> {
        let mut total = (0u64, 0u64);
        loop {
            let batch = self.log.expired(now_ms, SWEEP_BATCH);
            if batch.is_empty() {
                return Ok(total);
            }
            let (messages, envelopes) = self.log.drop_envelopes(&batch)?;
            total.0 += messages;
            total.1 += envelopes;
            if batch.len() < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }

    /// Writes the group states the log holds and sled lost in a crash
    /// (see the module docs), and flushes them.
    pub(super) fn redo_group_states(&self, states: Vec<GroupState>) -> Result<(), StoreError> {
        let mut redone = 0usize;
        for state in states {
            let behind = match self.group_record(&state.group)? {
                Some(record) => record.epoch < state.epoch,
                // A group that a commit created; its deletion would have
                // been logged after the state.
                None => true,
            };
            if behind {
                let record = GroupRecord { epoch: state.epoch, members: state.members };
                self.groups
                    .insert(state.group.as_bytes(), records::encode_group(&record))
                    .map_err(io)?;
                redone += 1;
            }
        }
        if redone > 0 {
            tracing::warn!(groups = redone, "restored group states lost in a crash");
            self.db.flush().map_err(io)?;
        }
        Ok(())
    }

    /// Moves envelopes from the sled trees of earlier releases (or of a
    /// restored backup) into the log, then empties those trees. Safe to
    /// repeat after a crash: an envelope imported twice is one envelope.
    pub(super) fn migrate_legacy_envelopes(
        db: &sled::Db,
        log: &EnvelopeLog,
    ) -> Result<(), StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(io);
        let messages = tree("messages")?;
        if messages.is_empty() {
            return Ok(());
        }
        let recipients = tree("recipients")?;
        let message_group = tree("message_group")?;
        let mut moved = 0u64;
        for entry in messages.iter() {
            let (key, value) = entry.map_err(io)?;
            let seq = u64::from_be_bytes(
                key.as_ref().try_into().map_err(|_| StoreError::corrupt("messages"))?,
            );
            let record = records::decode_message(&value)?;
            let mut to = Vec::new();
            for key in recipients.scan_prefix(seq.to_be_bytes()).keys() {
                let (_, device) = records::split_seq_id(&key.map_err(io)?)?;
                to.push(DeviceId(device));
            }
            let Some(group) = message_group.get(seq.to_be_bytes()).map_err(io)? else {
                continue;
            };
            let group = records::decode_group_id(&group)?;
            if to.is_empty() {
                continue;
            }
            let envelope = NewEnvelope {
                group: &group,
                payload: record.payload,
                recipients: &to,
                stored_at: record.stored_at,
                expires_at: record.expires_at,
            };
            log.import(seq, envelope)?;
            moved += 1;
        }
        let token = log.sync()?;
        for name in LEGACY_TREES {
            tree(name)?.clear().map_err(io)?;
        }
        db.flush().map_err(io)?;
        log.sled_flushed(token);
        tracing::info!(envelopes = moved, "moved queued envelopes into the envelope log");
        Ok(())
    }

    /// Writes the live envelopes in the layout of the legacy trees, for a
    /// backup (see the module docs).
    pub(super) fn export_envelopes(&self, visitor: &mut dyn TreeVisitor) -> Result<(), StoreError> {
        // Each tree is written in one pass over the log; envelopes are read
        // again per tree rather than held, so a backup's memory does not
        // grow with the queue. Only `messages` needs the payloads.
        for name in LEGACY_TREES {
            visitor.tree(name.as_bytes()).map_err(StoreError::unavailable)?;
            self.log.for_each_live(name == "messages", |e| {
                write_legacy_entries(name, &e, visitor).map_err(StoreError::unavailable)
            })?;
        }
        Ok(())
    }
}

/// The entries envelope `e` had in legacy tree `name`.
fn write_legacy_entries(
    name: &str,
    e: &LiveEnvelope,
    visitor: &mut dyn TreeVisitor,
) -> std::io::Result<()> {
    let seq = e.seq.to_be_bytes();
    match name {
        "messages" => {
            let record = MessageRecord {
                stored_at: e.stored_at,
                expires_at: e.expires_at,
                payload: &e.payload,
            };
            visitor.entry(&seq, &records::encode_message(&record))
        }
        "refs" => {
            let remaining = u32::try_from(e.recipients.len()).unwrap_or(u32::MAX);
            let record = RefsRecord { remaining, expires_at: e.expires_at };
            visitor.entry(&seq, &records::encode_refs(record))
        }
        "recipients" => {
            for device in &e.recipients {
                visitor.entry(&records::seq_id_key(e.seq, device.as_bytes()), &[])?;
            }
            Ok(())
        }
        "mailbox" => {
            for device in &e.recipients {
                visitor.entry(&records::id_seq_key(device.as_bytes(), e.seq), &[])?;
            }
            Ok(())
        }
        "expiry" => visitor.entry(&records::expiry_key(e.expires_at, e.seq), &[]),
        "message_group" => visitor.entry(&seq, &records::encode_id(e.group.as_bytes())),
        "group_messages" => visitor.entry(&records::id_seq_key(e.group.as_bytes(), e.seq), &[]),
        _ => Ok(()),
    }
}

/// Whether `tree` is one of the legacy envelope trees.
pub(super) fn is_legacy_tree(name: &[u8]) -> bool {
    LEGACY_TREES.iter().any(|t| t.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use stadtbote_protocol::auth::DeviceSecret;

    use super::*;
    use crate::store::Store;

    const DAY: u64 = 86_400_000;

    /// A commit that adds `add` (with a welcome when there is someone to add).
    fn commit<'a>(
        group: &'a GroupId,
        caller: &'a DeviceId,
        epoch: u64,
        add: &'a [DeviceId],
    ) -> CommitInput<'a> {
        let welcome = (!add.is_empty()).then_some(&b"welcome"[..]);
        crate::store::sled_store::tests::commit(group, caller, epoch, add, welcome)
    }

    fn device(store: &SledStore) -> DeviceId {
        store.create_account(&DeviceSecret::generate().identity_key(), 1).unwrap().1
    }

    fn payloads(store: &SledStore, device: &DeviceId) -> Vec<(u64, Vec<u8>)> {
        let page = store.mailbox(device, 0, 100, 1 << 20).unwrap();
        page.envelopes.into_iter().map(|e| (e.id, e.payload.to_vec())).collect()
    }

    #[test]
    fn envelopes_of_earlier_releases_move_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupId([3; 16]);
        let (a, b) = {
            let store = SledStore::open(dir.path()).unwrap();
            let (a, b) = (device(&store), device(&store));
            store.commit(commit(&group, &a, 0, &[b])).unwrap();
            store.ack(&b, &store.log.mailbox_ids(&store.sdev(&b))).unwrap();
            // An envelope as releases before the log stored it (by stored
            // ids, as a backup holds it): seven trees.
            let (kb, kgroup) = (store.sdev(&b), store.sgroup(&group));
            let seq = 5000u64;
            let t = |name: &str| store.db.open_tree(name).unwrap();
            let record = MessageRecord { stored_at: 7, expires_at: 9 * DAY, payload: b"old" };
            t("messages").insert(seq.to_be_bytes(), records::encode_message(&record)).unwrap();
            let refs = RefsRecord { remaining: 1, expires_at: 9 * DAY };
            t("refs").insert(seq.to_be_bytes(), records::encode_refs(refs)).unwrap();
            t("recipients").insert(records::seq_id_key(seq, kb.as_bytes()), &[]).unwrap();
            t("mailbox").insert(records::id_seq_key(kb.as_bytes(), seq), &[]).unwrap();
            t("expiry").insert(records::expiry_key(9 * DAY, seq), &[]).unwrap();
            t("message_group").insert(seq.to_be_bytes(), records::encode_id(&kgroup.0)).unwrap();
            t("group_messages").insert(records::id_seq_key(&kgroup.0, seq), &[]).unwrap();
            store.flush().unwrap();
            (a, b)
        };
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(payloads(&store, &b), [(5000, b"old".to_vec())]);
        for name in LEGACY_TREES {
            assert!(store.db.open_tree(name).unwrap().is_empty(), "{name} emptied");
        }
        let page = store.mailbox(&b, 0, 10, 1 << 20).unwrap();
        assert_eq!(page.envelopes[0].received_at, 7);
        assert_eq!(store.sweep(9 * DAY + 1).unwrap().messages, 1, "its expiry came along");
        store.send(&group, &a, b"new", 1, 2 * DAY).unwrap();
        let (id, _) = payloads(&store, &b)[0];
        assert!(id > 5000, "numbers continue above migrated ones: {id}");
    }

    #[test]
    fn a_commit_that_sled_lost_is_written_again_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let (group, gone) = (GroupId([1; 16]), GroupId([2; 16]));
        let (a, b) = {
            let store = SledStore::open(dir.path()).unwrap();
            let (a, b) = (device(&store), device(&store));
            store.commit(commit(&group, &a, 0, &[b])).unwrap();
            store.commit(commit(&gone, &a, 0, &[b])).unwrap();
            store.set_group_expiry(&gone, &a, 10, None).unwrap();
            assert_eq!(store.sweep(11).unwrap().groups, 1);
            store.flush().unwrap();
            // As if sled had lost the commit: the log's frame is durable,
            // sled's record is not.
            store.groups.remove(store.sgroup(&group).as_bytes()).unwrap();
            store.db.flush().unwrap();
            (a, b)
        };
        let store = SledStore::open(dir.path()).unwrap();
        let record =
            store.group_record(&store.sgroup(&group)).unwrap().expect("group written again");
        assert_eq!(record.epoch, 1);
        assert_eq!(
            record.members.iter().copied().collect::<BTreeSet<_>>(),
            BTreeSet::from([store.sdev(&a), store.sdev(&b)])
        );
        assert!(
            store.group_record(&store.sgroup(&gone)).unwrap().is_none(),
            "a deleted group stays deleted"
        );
        // A group whose record is ahead of the log's state is left alone.
        store.commit(commit(&group, &a, 1, &[])).unwrap();
        store.flush().unwrap();
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.group_record(&store.sgroup(&group)).unwrap().unwrap().epoch, 2);
    }

    #[test]
    fn a_group_left_by_its_last_member_stays_gone_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupId([4; 16]);
        {
            let store = SledStore::open(dir.path()).unwrap();
            let (account, a) =
                store.create_account(&DeviceSecret::generate().identity_key(), 1).unwrap();
            store.commit(commit(&group, &a, 0, &[])).unwrap();
            store.delete_account(&account).unwrap();
            assert!(store.group_record(&group).unwrap().is_none());
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.group_record(&group).unwrap().is_none());
    }
}
