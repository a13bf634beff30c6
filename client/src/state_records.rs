//! The device's [`State`] (and the ids of processed envelopes) as records
//! of the core's [`Storage`](crate::storage::Storage) spaces:
//! a pure mapping both ways, no I/O.
//!
//! [`State`] stays the in-memory model the commands work on. Saving maps it
//! to records ([`to_records`]) and writes only those that differ from what
//! was committed last ([`crate::storage::changes`]), so sending
//! one message writes one history record and deletes one outbox record
//! instead of the whole history. Each record is a CBOR value of the type
//! the state already uses.
//!
//! | space | key | value |
//! |---|---|---|
//! | `account` | `meta` | [`Meta`]: layout version, account, device, name, last-resort upload, server admin |
//! | `conversations` | `c/` + peer | the group messages to the peer go to |
//! | `conversations` | `g/` + group | the peer of every known 1:1 group |
//! | `conversations` | `n/` + account | the latest display name the account sent |
//! | `history` | index (u64 big-endian) | one [`HistoryEntry`], in the order this device learned of it |
//! | `outbox` | index (u64 big-endian) | one [`OutboxEntry`], oldest first |
//! | `receipts` | group | the message ids owed a receipt there |
//! | `threads` | `t/` + id | one report or consultation thread |
//! | `threads` | `p/` + id | a joined group whose opening thread message is awaited (when joined) |
//! | `threads` | `o/` + index | one queued thread message |
//! | `channels` | id | a channel this device publishes to |
//! | `groups` | id | a discussion group with its posts |
//! | `orgs` | `pin/` + handle, `admin/` + handle, `enrol/` + index | org pins, administered orgs, enrolments |
//! | `devices` | `lists` | the account key, pinned device lists, link codes, notices |
//! | `mls` | `e/` + envelope id (u64 big-endian) | empty: a processed envelope |
//!
//! Ids and handles in keys are their CBOR encoding (the key order within a
//! space is not the map's order; [`from_records`] rebuilds the maps).
//! Indexes are positions in the state's lists, so the order of the history
//! and the outboxes is kept. The MLS key store's entries (`mls`, prefix
//! `k/`) belong to [`crate::mls_store`], not to this mapping.
//!
//! Why here and not in the core crate: [`State`] holds the types of
//! pinning, org, staff, threads, channels, groups and devices, which still
//! live in client-cli; moving it would drag them along. This module has no
//! I/O, so it moves into `stadtbote-client` together with [`State`].

use std::collections::VecDeque;

use crate::storage::{Batch, RecordMap, Space};
use serde::Serialize;
use serde::de::DeserializeOwned;
use stadtbote_protocol::{AccountId, DeviceId};

use crate::state::{HistoryEntry, OutboxEntry, STATE_VERSION, State};

/// Version of this record layout (in [`Meta::layout`]).
pub const LAYOUT_VERSION: u16 = 1;

/// The key of the account's [`Meta`] record in [`Space::Account`]; its
/// presence means the device's state is in the store.
pub const META_KEY: &[u8] = b"meta";
/// The key prefix of processed envelope ids in [`Space::Mls`].
pub const SEEN_PREFIX: &[u8] = b"e/";
/// The spaces this mapping writes (the `mls` space only under
/// [`SEEN_PREFIX`]).
pub const SPACES: [Space; 11] = [
    Space::Account,
    Space::Conversations,
    Space::History,
    Space::Outbox,
    Space::Receipts,
    Space::Threads,
    Space::Channels,
    Space::Groups,
    Space::Orgs,
    Space::Devices,
    Space::Mls,
];

/// The single values of [`State`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// [`LAYOUT_VERSION`] when written.
    pub layout: u16,
    /// This device's account.
    pub account: AccountId,
    /// This device.
    pub device: DeviceId,
    /// The display name sent along with messages.
    pub name: Option<String>,
    /// When the last-resort KeyPackage was last uploaded (Unix ms).
    pub last_resort_uploaded_at: Option<u64>,
    /// Whether this device is a server admin.
    pub server_admin: bool,
}

/// Why stored records do not make a state. Names the record's kind, never
/// its content.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A record does not decode, or its key is unknown.
    #[error("a record of `{space}` ({what}) is damaged")]
    Damaged {
        /// The space.
        space: Space,
        /// Which kind of record.
        what: &'static str,
    },
    /// The records were written by a newer layout.
    #[error("the state has record layout {found}; this program reads up to {LAYOUT_VERSION}")]
    Newer {
        /// The layout found.
        found: u16,
    },
    /// There is no [`Meta`] record: no device state is stored.
    #[error("the device's state is missing")]
    Missing,
    /// A value could not be encoded.
    #[error("a record of `{space}` could not be encoded")]
    Encode {
        /// The space.
        space: Space,
    },
}

fn cbor<T: Serialize>(space: Space, value: &T) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| RecordError::Encode { space })?;
    Ok(out)
}

fn decode<T: DeserializeOwned>(
    space: Space,
    what: &'static str,
    bytes: &[u8],
) -> Result<T, RecordError> {
    ciborium::from_reader(bytes).map_err(|_| RecordError::Damaged { space, what })
}

fn index_key(prefix: &[u8], index: usize) -> Vec<u8> {
    [prefix, &(index as u64).to_be_bytes()].concat()
}

struct Records(Batch);

impl Records {
    fn put<T: Serialize>(
        &mut self,
        space: Space,
        key: Vec<u8>,
        value: &T,
    ) -> Result<(), RecordError> {
        self.0.put(space, key, cbor(space, value)?);
        Ok(())
    }

    fn map<K: Serialize, V: Serialize>(
        &mut self,
        space: Space,
        prefix: &[u8],
        map: &std::collections::BTreeMap<K, V>,
    ) -> Result<(), RecordError> {
        for (key, value) in map {
            self.put(space, [prefix, &cbor(space, key)?].concat(), value)?;
        }
        Ok(())
    }

    fn list<V: Serialize>(
        &mut self,
        space: Space,
        prefix: &[u8],
        list: &[V],
    ) -> Result<(), RecordError> {
        for (index, value) in list.iter().enumerate() {
            self.put(space, index_key(prefix, index), value)?;
        }
        Ok(())
    }
}

/// The records of `state` and of the processed envelope ids `seen`.
pub fn to_records(state: &State, seen: &VecDeque<u64>) -> Result<RecordMap, RecordError> {
    let mut r = Records(Batch::new());
    let meta = Meta {
        layout: LAYOUT_VERSION,
        account: state.account,
        device: state.device,
        name: state.name.clone(),
        last_resort_uploaded_at: state.last_resort_uploaded_at,
        server_admin: state.server_admin,
    };
    r.put(Space::Account, META_KEY.to_vec(), &meta)?;
    r.map(Space::Conversations, b"c/", &state.conversations)?;
    r.map(Space::Conversations, b"g/", &state.conversation_groups)?;
    r.map(Space::Conversations, b"n/", &state.names)?;
    r.list(Space::History, b"", &state.history)?;
    r.list(Space::Outbox, b"", &state.outbox)?;
    r.map(Space::Receipts, b"", &state.pending_receipts)?;
    r.map(Space::Threads, b"t/", &state.threads)?;
    r.map(Space::Threads, b"p/", &state.pending_threads)?;
    r.list(Space::Threads, b"o/", &state.thread_outbox)?;
    r.map(Space::Channels, b"", &state.channels)?;
    r.map(Space::Groups, b"", &state.groups)?;
    r.map(Space::Orgs, b"pin/", &state.pins)?;
    r.map(Space::Orgs, b"admin/", &state.admin_orgs)?;
    r.list(Space::Orgs, b"enrol/", &state.enrolments)?;
    r.put(Space::Devices, b"lists".to_vec(), &state.device_lists)?;
    for id in seen {
        r.0.put(Space::Mls, [SEEN_PREFIX, &id.to_be_bytes()].concat(), Vec::new());
    }
    let mut map = RecordMap::new();
    map.apply(&r.0);
    Ok(map)
}

/// Whether `key` of `space` belongs to this mapping (the MLS key store's
/// entries do not).
pub fn owns(space: Space, key: &[u8]) -> bool {
    space != Space::Mls || key.starts_with(SEEN_PREFIX)
}

/// The state and processed envelope ids that `records` (this mapping's
/// records, as [`to_records`] wrote them) hold.
pub fn from_records(records: &RecordMap) -> Result<(State, VecDeque<u64>), RecordError> {
    let meta: Meta = match records.get(Space::Account, META_KEY) {
        Some(bytes) => decode(Space::Account, "meta", bytes)?,
        None => return Err(RecordError::Missing),
    };
    if meta.layout > LAYOUT_VERSION {
        return Err(RecordError::Newer { found: meta.layout });
    }
    let mut state = State::new(meta.account, meta.device, meta.name);
    state.v = STATE_VERSION;
    state.last_resort_uploaded_at = meta.last_resort_uploaded_at;
    state.server_admin = meta.server_admin;
    let mut seen = VecDeque::new();
    for (space, key, value) in records.iter() {
        let damaged = |what| RecordError::Damaged { space, what };
        // The map key after a prefix, decoded.
        fn id<K: DeserializeOwned>(
            space: Space,
            what: &'static str,
            key: &[u8],
            prefix: &[u8],
        ) -> Result<K, RecordError> {
            decode(space, what, key.strip_prefix(prefix).unwrap_or(key))
        }
        match space {
            Space::Account if key == META_KEY => {}
            Space::Conversations if key.starts_with(b"c/") => {
                let peer = id(space, "conversation", key, b"c/")?;
                state.conversations.insert(peer, decode(space, "conversation", value)?);
            }
            Space::Conversations if key.starts_with(b"g/") => {
                let group = id(space, "conversation group", key, b"g/")?;
                state
                    .conversation_groups
                    .insert(group, decode(space, "conversation group", value)?);
            }
            Space::Conversations if key.starts_with(b"n/") => {
                let account = id(space, "name", key, b"n/")?;
                state.names.insert(account, decode(space, "name", value)?);
            }
            // Keys are indexes in big-endian order: the scan order is the
            // list's order.
            Space::History if key.len() == 8 => {
                state.history.push(decode::<HistoryEntry>(space, "message", value)?);
            }
            Space::Outbox if key.len() == 8 => {
                state.outbox.push(decode::<OutboxEntry>(space, "message", value)?);
            }
            Space::Receipts => {
                let group = id(space, "receipts", key, b"")?;
                state.pending_receipts.insert(group, decode(space, "receipts", value)?);
            }
            Space::Threads if key.starts_with(b"t/") => {
                let thread = id(space, "thread", key, b"t/")?;
                state.threads.insert(thread, decode(space, "thread", value)?);
            }
            Space::Threads if key.starts_with(b"p/") => {
                let group = id(space, "pending thread", key, b"p/")?;
                state.pending_threads.insert(group, decode(space, "pending thread", value)?);
            }
            Space::Threads if key.starts_with(b"o/") && key.len() == 10 => {
                state.thread_outbox.push(decode(space, "queued message", value)?);
            }
            Space::Channels => {
                let channel = id(space, "channel", key, b"")?;
                state.channels.insert(channel, decode(space, "channel", value)?);
            }
            Space::Groups => {
                let group = id(space, "group", key, b"")?;
                state.groups.insert(group, decode(space, "group", value)?);
            }
            Space::Orgs if key.starts_with(b"pin/") => {
                let handle = id(space, "org pin", key, b"pin/")?;
                state.pins.insert(handle, decode(space, "org pin", value)?);
            }
            Space::Orgs if key.starts_with(b"admin/") => {
                let handle = id(space, "administered org", key, b"admin/")?;
                state.admin_orgs.insert(handle, decode(space, "administered org", value)?);
            }
            Space::Orgs if key.starts_with(b"enrol/") && key.len() == 14 => {
                state.enrolments.push(decode(space, "enrolment", value)?);
            }
            Space::Devices if key == b"lists" => {
                state.device_lists = decode(space, "device lists", value)?;
            }
            Space::Mls if key.starts_with(SEEN_PREFIX) => {
                let bytes: [u8; 8] = key[SEEN_PREFIX.len()..]
                    .try_into()
                    .map_err(|_| damaged("processed envelope"))?;
                seen.push_back(u64::from_be_bytes(bytes));
            }
            Space::Mls => {}
            _ => return Err(damaged("unknown key")),
        }
    }
    Ok((state, seen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Direction, ReceivedText};
    use crate::storage::changes;
    use stadtbote_protocol::{GroupId, MsgId};

    const PEER: AccountId = AccountId([2; 16]);
    const GROUP: GroupId = GroupId([9; 16]);

    fn state_with_history(n: usize) -> State {
        let mut s = State::new(AccountId([1; 16]), DeviceId([1; 16]), Some("Anna".into()));
        s.conversations.insert(PEER, GROUP);
        s.conversation_groups.insert(GROUP, PEER);
        for i in 0..n {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            s.record_received(ReceivedText {
                id: MsgId(id),
                conversation: GROUP,
                peer: PEER,
                from: PEER,
                from_device: DeviceId([3; 16]),
                from_name: Some("Bernd".into()),
                // Not in arrival order: the history's order must survive.
                sent_at: 10_000 - i as u64,
                received_at: 2_000,
                text: format!("Nachricht {i} {}", "x".repeat(80)),
            });
        }
        s.last_resort_uploaded_at = Some(7);
        s.pending_threads.insert(GroupId([4; 16]), 99);
        s
    }

    #[test]
    fn state_round_trips_through_records() {
        let mut s = state_with_history(300);
        s.queue(PEER, "offen".into(), 1);
        s.queue(PEER, "auch offen".into(), 2);
        let seen: VecDeque<u64> = [3, 17, 1 << 40].into();
        let records = to_records(&s, &seen).unwrap();
        let (back, back_seen) = from_records(&records).unwrap();
        assert_eq!(back, s);
        assert_eq!(back_seen, seen);
        assert!(records.iter().all(|(space, key, _)| owns(space, key)));
        assert!(!owns(Space::Mls, b"k/abc"));
    }

    #[test]
    fn sending_one_message_changes_two_records_not_the_history() {
        let mut s = state_with_history(1_000);
        let seen = VecDeque::new();
        let before = to_records(&s, &seen).unwrap();
        let entry = s.queue(PEER, "neu".into(), 5);
        let queued = to_records(&s, &seen).unwrap();
        let batch = changes(&before, &queued);
        assert_eq!(batch.len(), 1, "the outbox record");
        s.mark_stored(&entry.id, GROUP);
        let stored = to_records(&s, &seen).unwrap();
        let batch = changes(&queued, &stored);
        assert_eq!(batch.len(), 2, "one history put, one outbox delete: {batch:?}");
        assert!(batch.payload_len() < 400, "{} bytes", batch.payload_len());
        assert!(before.payload_len() > 100_000, "the history is large");
        // Marking one message shown rewrites that message only.
        let last = s.history.iter().rfind(|h| h.direction == Direction::In).unwrap().id;
        s.mark_shown(&[last]);
        let shown = to_records(&s, &seen).unwrap();
        assert_eq!(changes(&stored, &shown).len(), 1);
    }

    #[test]
    fn newer_and_damaged_records_are_refused() {
        let s = state_with_history(2);
        let records = to_records(&s, &VecDeque::new()).unwrap();
        let mut newer = records.clone();
        let mut meta: Meta =
            decode(Space::Account, "meta", newer.get(Space::Account, META_KEY).unwrap()).unwrap();
        meta.layout = LAYOUT_VERSION + 1;
        let mut batch = Batch::new();
        batch.put(Space::Account, META_KEY.to_vec(), cbor(Space::Account, &meta).unwrap());
        newer.apply(&batch);
        assert!(matches!(from_records(&newer), Err(RecordError::Newer { .. })));
        let mut damaged = records.clone();
        let mut batch = Batch::new();
        batch.put(Space::History, 0u64.to_be_bytes().to_vec(), b"\xff\x00".to_vec());
        damaged.apply(&batch);
        let err = from_records(&damaged).unwrap_err();
        assert!(matches!(err, RecordError::Damaged { space: Space::History, .. }), "{err}");
        assert!(!err.to_string().contains("Nachricht"));
        assert!(matches!(from_records(&RecordMap::new()), Err(RecordError::Missing)));
    }
}
