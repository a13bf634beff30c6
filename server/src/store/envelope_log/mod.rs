//! The envelope log: where queued envelopes live, outside sled.
//!
//! Envelopes are written once, read once per recipient and deleted soon
//! after: a queue, not a database. Kept in sled they cost five tree updates
//! to store and five to delete, and sled rewrites whole tree pages as they
//! change, so a 1 KiB envelope made about 25 KB of disk writes and sled's
//! I/O bounded the relay (docs/BENCHMARKS.md). Here an envelope is one
//! appended record and an acknowledgement a few bytes more.
//!
//! * **Files.** `<data_dir>/envelopes/<n>.log`, numbered segments (layout in
//!   [`record`]). Only the newest one (the active segment) is appended to;
//!   [`EnvelopeLog::sync`] seals it when it is `segment_bytes` long or
//!   `segment_max_age` old.
//! * **Index.** Which envelopes are live, and where, is kept in memory
//!   ([`index`]) and rebuilt by replaying the segments at start.
//! * **Durability.** Appends are written at once and made durable by
//!   [`EnvelopeLog::sync`] (`fdatasync`), which the group-commit flusher
//!   calls for many writers together. A crash keeps every whole frame, and
//!   one frame holds everything one change wrote.
//! * **Deletion.** Deleted envelopes are dropped from the index at once and
//!   their bytes go with their segment file, which a helper thread unlinks
//!   (in order) so that no group commit waits for the filesystem. Segments are deleted oldest
//!   first, never out of order: a segment's acknowledgements refer only to
//!   envelopes of itself or older segments, so deleting in order never
//!   brings an acknowledged envelope back at replay. Envelopes still live
//!   in the oldest segment are copied forward (compaction) once it holds
//!   mostly dead bytes or the log is more than twice what is live.
//! * **Group redo.** A commit changes a group in sled and queues its
//!   envelopes here. The log is written (and synced) first and carries the
//!   group's new state; at start, a group state that sled lost in a crash is
//!   written again ([`Opened::group_redo`]). A segment with such states is
//!   deleted only after a sled flush that followed its sealing.

mod index;
pub mod record;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stadtbote_protocol::frame::Envelope;
use stadtbote_protocol::{DeviceId, GroupId};

pub use self::index::Totals;
use self::index::{Index, Message};
use self::record::{DecodeError, Record};
use super::{MailboxPage, StoreError};

/// Ids acknowledged or dropped per record, so that purging a huge mailbox
/// writes bounded records.
const IDS_PER_RECORD: usize = 65_536;

/// How the log rolls and cleans its segments.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// A segment is sealed once it is this long.
    pub segment_bytes: u64,
    /// A segment with records is sealed once it is this old, so that the
    /// bytes of deleted envelopes leave the disk within about this time
    /// plus the sweep interval even on a quiet server.
    pub segment_max_age: Duration,
    /// Bytes copied forward per sync at most, which bounds how long one
    /// group commit can be delayed by compaction.
    pub compact_bytes_per_sync: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(3600),
            compact_bytes_per_sync: 8 << 20,
        }
    }
}

/// A new envelope to append.
#[derive(Debug, Clone, Copy)]
pub struct NewEnvelope<'a> {
    pub group: &'a GroupId,
    pub payload: &'a [u8],
    /// Never empty.
    pub recipients: &'a [DeviceId],
    pub stored_at: u64,
    pub expires_at: u64,
}

/// A group's state after a commit, written with the commit's envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub group: GroupId,
    pub epoch: u64,
    pub members: Vec<DeviceId>,
}

/// A live envelope, as handed to a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEnvelope {
    pub seq: u64,
    pub stored_at: u64,
    pub expires_at: u64,
    pub group: GroupId,
    pub recipients: Vec<DeviceId>,
    pub payload: Vec<u8>,
}

/// The log after [`EnvelopeLog::open`].
pub struct Opened {
    pub log: EnvelopeLog,
    /// The newest state per group found in the log, for groups whose last
    /// record is not a deletion. The caller writes each one whose epoch is
    /// newer than what sled holds, then flushes.
    pub group_redo: Vec<GroupState>,
}

struct Segment {
    file: Arc<File>,
    /// Bytes written (the next append goes here).
    len: u64,
    /// A sled flush completed after this segment was sealed, so the group
    /// states in it are in sled and the segment may be deleted.
    covered: bool,
    /// Envelopes were copied out of this segment since the last sync: it
    /// may not be deleted before those copies are durable.
    copies_unsynced: bool,
}

struct Active {
    number: u64,
    file: Arc<File>,
    len: u64,
    /// When it became the active segment, for `segment_max_age`.
    since: Instant,
}

struct State {
    index: Index,
    next_seq: u64,
    active: Active,
    sealed: BTreeMap<u64, Segment>,
    /// Set when a failed append could not be cut back off the file: later
    /// appends would land behind garbage that replay stops at, so none are
    /// accepted until a restart truncates it.
    poisoned: bool,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
}

/// The envelope log. Cheap to share behind the store's `Arc`.
pub struct EnvelopeLog {
    dir: PathBuf,
    options: LogOptions,
    state: Mutex<State>,
    /// One sync (with rollover and compaction) at a time.
    syncing: Mutex<()>,
    /// Hands dead segments to the thread that deletes them (`None` only
    /// while the log is dropped).
    unlinker: Mutex<Option<std::sync::mpsc::SyncSender<PathBuf>>>,
    /// The unlinker thread, joined on drop.
    unlink_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EnvelopeLog {
    /// Waits until every segment handed to the unlinker is deleted, so a
    /// log opened on the same directory afterwards (a restart within the
    /// process, a restore) never lists a file that is about to vanish.
    fn drop(&mut self) {
        drop(self.unlinker.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.unlink_thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("envelope log: the segment unlinker thread panicked");
        }
    }
}

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::unavailable(err)
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016x}.log"))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::blobs::sync_dir(dir).map_err(io_error)
}

/// Creates a new segment file, refusing to overwrite one.
fn create_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(io_error)
}

/// Encodes a put record of `e` under `seq`; returns its payload's offset.
fn encode_envelope(b: &mut Vec<u8>, seq: u64, e: &NewEnvelope<'_>) -> usize {
    record::encode_put(b, seq, e.stored_at, e.expires_at, e.group, e.recipients, e.payload)
}

/// Reads an envelope's payload of `len` bytes at `offset` of a segment.
fn read_payload(file: &File, offset: u64, len: u32) -> Result<Vec<u8>, StoreError> {
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset).map_err(io_error)?;
    Ok(payload)
}

/// Deletes a dead segment file. A failure leaves a file that holds nothing
/// live; the next start deletes it.
fn remove_segment(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %err, "envelope log: could not delete a dead segment");
    }
}

/// Dead segments handed to the unlinker thread and not yet deleted, at
/// most. A sync that finds the queue full waits for room, so it is bounded
/// like every other queue on the server.
const UNLINK_QUEUE: usize = 64;

/// Starts the thread that deletes dead segments, in the order it gets them.
fn start_unlinker()
-> Result<(std::sync::mpsc::SyncSender<PathBuf>, std::thread::JoinHandle<()>), StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<PathBuf>(UNLINK_QUEUE);
    let thread = std::thread::Builder::new()
        .name("envelope-unlink".into())
        .spawn(move || {
            // Ends when the log, which holds the sender, is dropped.
            for path in rx {
                remove_segment(&path);
            }
        })
        .map_err(io_error)?;
    Ok((tx, thread))
}

/// The numbered segment files in `dir`, oldest first.
fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let name = entry.map_err(io_error)?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".log") else { continue };
        if stem.len() == 16
            && let Ok(number) = u64::from_str_radix(stem, 16)
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Whether `rest`, from a frame that does not check to the end of the
/// newest segment, is what a crash during an append leaves: the frame runs
/// past the end of the file, or the file was extended but its blocks never
/// written (zeros). Anything else is damage to bytes that were synced, and
/// cutting it off would silently lose acknowledged envelopes.
fn torn_tail(rest: &[u8]) -> bool {
    if rest.iter().all(|b| *b == 0) {
        return true;
    }
    let Some(head) = rest.get(..4) else { return true };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    record::FRAME_LEN.saturating_add(len) >= rest.len()
}

/// What replay learned beyond the index.
#[derive(Default)]
struct Replay {
    max_seq: u64,
    groups: HashMap<GroupId, Option<GroupState>>,
}

impl Replay {
    /// Applies one record to the index. `base` is the file offset of the
    /// frame body the record came from.
    fn apply(&mut self, index: &mut Index, segment: u64, base: u64, record: Record<'_>) {
        match record {
            Record::Put { seq, stored_at, expires_at, group, recipients, payload_at, payload } => {
                self.max_seq = self.max_seq.max(seq);
                let message = Message {
                    segment,
                    offset: base + payload_at as u64,
                    len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                    stored_at,
                    expires_at,
                    group,
                    recipients,
                };
                index.put(seq, message);
            }
            Record::Ack { device, seqs } => {
                index.remove_for(&device, &seqs);
            }
            Record::Drop { seqs } => {
                for seq in seqs {
                    index.remove(seq);
                }
            }
            Record::GroupState { group, epoch, members } => {
                self.groups.insert(group, Some(GroupState { group, epoch, members }));
            }
            Record::GroupGone { group } => {
                self.groups.insert(group, None);
            }
        }
    }
}

impl EnvelopeLog {
    /// Opens the log in `dir` (created with mode 0700 if missing) and
    /// replays it. Sequence numbers continue above every number found and
    /// above `seq_floor`.
    ///
    /// A torn frame at the end of the newest segment (a crash during an
    /// append that was never acknowledged) is cut off. Damage anywhere else
    /// is refused as [`StorageError::Corrupt`](super::StorageError::Corrupt): those bytes were synced, and
    /// skipping them would silently lose acknowledged envelopes. The
    /// operator then restores a backup.
    pub fn open(dir: &Path, options: LogOptions, seq_floor: u64) -> Result<Opened, StoreError> {
        super::sled_store::create_private_dir(dir).map_err(io_error)?;
        let numbers = list_segments(dir)?;
        let mut index = Index::default();
        let mut replay = Replay::default();
        let mut floor = seq_floor;
        let mut sealed = BTreeMap::new();
        let mut active = None;
        for (i, &number) in numbers.iter().enumerate() {
            let last = i + 1 == numbers.len();
            let path = segment_path(dir, number);
            let bytes = std::fs::read(&path).map_err(io_error)?;
            let first_seq = match record::parse_header(&bytes) {
                Ok(first_seq) => first_seq,
                // A segment whose header never got written: the crash came
                // between creating the file and switching to it.
                Err(DecodeError::Truncated) if last => {
                    std::fs::remove_file(&path).map_err(io_error)?;
                    break;
                }
                Err(_) => return Err(StoreError::corrupt("envelope log segment header")),
            };
            floor = floor.max(first_seq);
            let mut at = record::HEADER_LEN;
            while at < bytes.len() {
                let (body, len) = match record::next_frame(&bytes[at..]) {
                    Ok(frame) => frame,
                    Err(_) if last && torn_tail(&bytes[at..]) => break,
                    Err(_) => return Err(StoreError::corrupt("envelope log segment")),
                };
                let records =
                    record::decode(body).map_err(|_| StoreError::corrupt("envelope log record"))?;
                let base = (at + record::FRAME_LEN) as u64;
                for record in records {
                    replay.apply(&mut index, number, base, record);
                }
                at += len;
            }
            let file = OpenOptions::new().read(true).write(last).open(&path).map_err(io_error)?;
            if last {
                if (at as u64) < bytes.len() as u64 {
                    tracing::warn!(
                        cut = bytes.len() - at,
                        "envelope log: cut off a frame torn by a crash"
                    );
                    file.set_len(at as u64).map_err(io_error)?;
                    file.sync_all().map_err(io_error)?;
                }
                active = Some(Active {
                    number,
                    file: Arc::new(file),
                    len: at as u64,
                    since: Instant::now(),
                });
            } else {
                let segment = Segment {
                    file: Arc::new(file),
                    len: bytes.len() as u64,
                    covered: false,
                    copies_unsynced: false,
                };
                sealed.insert(number, segment);
            }
        }
        let next_seq = floor.max(replay.max_seq.saturating_add(1)).max(1);
        let active = match active {
            Some(active) => active,
            None => {
                // Numbers continue after sealed segments (the newest one may
                // have been an empty file just removed above).
                let number = sealed.keys().next_back().map_or(1, |n| n + 1);
                Self::create_segment(dir, number, next_seq)?
            }
        };
        let group_redo = replay.groups.into_values().flatten().collect();
        let (unlinker, unlink_thread) = start_unlinker()?;
        let state = State { index, next_seq, active, sealed, poisoned: false, scratch: Vec::new() };
        let log = Self {
            dir: dir.to_path_buf(),
            options,
            state: Mutex::new(state),
            syncing: Mutex::new(()),
            unlinker: Mutex::new(Some(unlinker)),
            unlink_thread: Some(unlink_thread),
        };
        Ok(Opened { log, group_redo })
    }

    /// Creates segment `number` with its header, durable with its directory
    /// entry.
    fn create_segment(dir: &Path, number: u64, first_seq: u64) -> Result<Active, StoreError> {
        let path = segment_path(dir, number);
        let file = create_file(&path)?;
        file.write_all_at(&record::header(first_seq), 0).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        sync_dir(dir)?;
        Ok(Active {
            number,
            file: Arc::new(file),
            len: record::HEADER_LEN as u64,
            since: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only changed after the write it mirrors succeeded,
        // and every change is completed without panicking paths, so a
        // poisoned lock still guards a consistent index.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends new envelopes (and, for a commit, the group's new state) as
    /// one frame and returns their sequence numbers. Visible to
    /// [`EnvelopeLog::page`] at once; durable after the next sync.
    pub fn append(
        &self,
        envelopes: &[NewEnvelope<'_>],
        group_state: Option<&GroupState>,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self.append_to(envelopes, group_state)?.0)
    }

    /// Like [`EnvelopeLog::append`], and returns only once the frame is
    /// durable (for a commit, whose group change sled may store only
    /// afterwards). The file synced is the one the frame went to, even if
    /// a sync sealed it meanwhile.
    pub fn append_durable(
        &self,
        envelopes: &[NewEnvelope<'_>],
        group_state: Option<&GroupState>,
    ) -> Result<Vec<u64>, StoreError> {
        let (seqs, file) = self.append_to(envelopes, group_state)?;
        if let Some(file) = file {
            file.sync_data().map_err(io_error)?;
        }
        Ok(seqs)
    }

    /// Appends and returns the sequence numbers and the file written to
    /// (`None` when there was nothing to write).
    fn append_to(
        &self,
        envelopes: &[NewEnvelope<'_>],
        group_state: Option<&GroupState>,
    ) -> Result<(Vec<u64>, Option<Arc<File>>), StoreError> {
        if envelopes.is_empty() && group_state.is_none() {
            return Ok((Vec::new(), None));
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let first = state.next_seq;
        let (base, placed) = state.write_frame(|b| {
            if let Some(g) = group_state {
                record::encode_group_state(b, &g.group, g.epoch, &g.members);
            }
            let seqs = (first..).take(envelopes.len());
            seqs.zip(envelopes)
                .map(|(seq, e)| (seq, encode_envelope(b, seq, e)))
                .collect::<Vec<_>>()
        })?;
        let mut seqs = Vec::with_capacity(envelopes.len());
        for (e, (seq, at)) in envelopes.iter().zip(placed) {
            let message = state.placed(base + at as u64, e);
            state.index.put(seq, message);
            seqs.push(seq);
        }
        state.next_seq = state.next_seq.saturating_add(envelopes.len() as u64);
        Ok((seqs, Some(state.active.file.clone())))
    }

    /// Writes `frame` at the end of the active segment and returns where it
    /// starts. A failed write is cut back off, so the file never holds a
    /// partial frame in front of later ones.
    fn write(state: &mut State, frame: &[u8]) -> Result<u64, StoreError> {
        if state.poisoned {
            return Err(StoreError::corrupt("envelope log needs a restart after a failed write"));
        }
        let at = state.active.len;
        if let Err(err) = state.active.file.write_all_at(frame, at) {
            if state.active.file.set_len(at).is_err() {
                state.poisoned = true;
            }
            return Err(io_error(err));
        }
        state.active.len = at + frame.len() as u64;
        Ok(at)
    }

    /// Removes `device`'s mailbox entries for `seqs`; envelopes nobody else
    /// waits for are deleted. Returns the entries removed. Ids that are not
    /// queued for `device` are ignored.
    pub fn ack(&self, device: &DeviceId, seqs: &[u64]) -> Result<u32, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let found = state.index.queued_for(device, seqs);
        let mut removed = 0u32;
        for chunk in found.chunks(IDS_PER_RECORD) {
            state.write_frame(|b| record::encode_ack(b, device, chunk))?;
            removed = removed.saturating_add(state.index.remove_for(device, chunk));
        }
        Ok(removed)
    }

    /// Deletes envelopes for every recipient. Returns (envelopes, mailbox
    /// entries) deleted.
    pub fn drop_envelopes(&self, seqs: &[u64]) -> Result<(u64, u64), StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let live: Vec<u64> =
            seqs.iter().copied().filter(|s| state.index.get(*s).is_some()).collect();
        let mut deleted = (0u64, 0u64);
        for chunk in live.chunks(IDS_PER_RECORD) {
            state.write_frame(|b| record::encode_drop(b, chunk))?;
            for &seq in chunk {
                if let Some(entries) = state.index.remove(seq) {
                    deleted.0 += 1;
                    deleted.1 += entries;
                }
            }
        }
        Ok(deleted)
    }

    /// Records that `group` was deleted, durably: it must be on disk before
    /// sled forgets the group, or replay could bring the group back.
    pub fn group_gone(&self, group: &GroupId) -> Result<(), StoreError> {
        let file = {
            let mut state = self.lock();
            state.write_frame(|b| record::encode_group_gone(b, group))?;
            state.active.file.clone()
        };
        file.sync_data().map_err(io_error)
    }

    /// A page of `device`'s mailbox after `after`: at most `limit`
    /// envelopes and, beyond the first, at most `max_bytes` of payload.
    pub fn page(
        &self,
        device: &DeviceId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<MailboxPage, StoreError> {
        // Locations are collected under the lock and read after it, so a
        // page of a large mailbox does not hold up appends. A file handle
        // keeps a segment readable even if compaction deletes it meanwhile.
        let mut wanted = Vec::new();
        let mut more;
        {
            let state = self.lock();
            let (ids, has_more) = state.index.mailbox_after(device, after, limit);
            more = has_more;
            let mut bytes = 0usize;
            for seq in &ids {
                let Some(m) = state.index.get(*seq) else { continue };
                bytes = bytes.saturating_add(m.len as usize);
                if !wanted.is_empty() && bytes > max_bytes {
                    more = true;
                    break;
                }
                let Some(file) = state.file(m.segment) else {
                    return Err(StoreError::corrupt("envelope log segment missing"));
                };
                wanted.push((*seq, m.stored_at, file, m.offset, m.len));
            }
        }
        let mut envelopes = Vec::with_capacity(wanted.len());
        for (seq, stored_at, file, offset, len) in wanted {
            let payload = read_payload(&file, offset, len)?;
            envelopes.push(Envelope { id: seq, received_at: stored_at, payload: payload.into() });
        }
        Ok(MailboxPage { envelopes, more })
    }

    /// Every id queued for `device`.
    pub fn mailbox_ids(&self, device: &DeviceId) -> Vec<u64> {
        self.lock().index.mailbox(device)
    }

    /// Envelopes queued for `device` and their payload bytes.
    pub fn mailbox_size(&self, device: &DeviceId) -> (u64, u64) {
        self.lock().index.mailbox_size(device)
    }

    /// Up to `limit` envelopes that expire before `now_ms`.
    pub fn expired(&self, now_ms: u64, limit: usize) -> Vec<u64> {
        self.lock().index.expired(now_ms, limit)
    }

    /// Every envelope of `group` with an id up to `cutoff`.
    pub fn group_envelopes(&self, group: &GroupId, cutoff: u64) -> Vec<u64> {
        self.lock().index.group_upto(group, cutoff)
    }

    /// The highest sequence number handed out so far.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq.saturating_sub(1)
    }

    /// Live envelopes, entries and payload bytes.
    pub fn totals(&self) -> Totals {
        self.lock().index.totals()
    }

    /// Bytes the segment files take on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.lock().disk_bytes()
    }

    /// Calls `visit` with every live envelope in id order (for backups; the
    /// caller makes sure nothing writes meanwhile). Payloads are read only
    /// `with_payload`; otherwise they are empty.
    pub fn for_each_live(
        &self,
        with_payload: bool,
        mut visit: impl FnMut(LiveEnvelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let seqs = self.lock().index.all_seqs();
        for seq in seqs {
            let (message, file) = {
                let state = self.lock();
                let Some(message) = state.index.get(seq).cloned() else { continue };
                let Some(file) = state.file(message.segment) else {
                    return Err(StoreError::corrupt("envelope log segment missing"));
                };
                (message, file)
            };
            let payload = if with_payload {
                read_payload(&file, message.offset, message.len)?
            } else {
                Vec::new()
            };
            visit(LiveEnvelope {
                seq,
                stored_at: message.stored_at,
                expires_at: message.expires_at,
                group: message.group,
                recipients: message.recipients,
                payload,
            })?;
        }
        Ok(())
    }

    /// Stores an envelope under a given sequence number (migrating from the
    /// sled trees of earlier releases). Numbers continue above it.
    pub fn import(&self, seq: u64, envelope: NewEnvelope<'_>) -> Result<(), StoreError> {
        let mut state = self.lock();
        let (base, at) = state.write_frame(|b| encode_envelope(b, seq, &envelope))?;
        let message = state.placed(base + at as u64, &envelope);
        state.index.put(seq, message);
        state.next_seq = state.next_seq.max(seq.saturating_add(1));
        Ok(())
    }

    /// Makes every append so far durable, then seals the active segment
    /// if it is full or old, and deletes or compacts the oldest segment.
    /// Returns a token for [`EnvelopeLog::sled_flushed`].
    pub fn sync(&self) -> Result<SyncToken, StoreError> {
        let _one = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        self.delete_dead_head()?;
        self.compact_head()?;
        let file = self.lock().active.file.clone();
        file.sync_data().map_err(io_error)?;
        let (roll, number) = {
            let mut state = self.lock();
            for segment in state.sealed.values_mut() {
                segment.copies_unsynced = false;
            }
            let has_records = state.active.len > record::HEADER_LEN as u64;
            let roll = state.active.len >= self.options.segment_bytes
                || (has_records && state.active.since.elapsed() >= self.options.segment_max_age);
            (roll, state.active.number)
        };
        if roll {
            self.roll(number)?;
        }
        Ok(SyncToken(self.lock().active.number))
    }

    /// Seals the active segment `number` (just synced) and starts the next.
    /// Only the switch itself holds the lock; the disk waits do not, so
    /// appends go on meanwhile.
    fn roll(&self, number: u64) -> Result<(), StoreError> {
        let next = number.saturating_add(1);
        let path = segment_path(&self.dir, next);
        let file = create_file(&path)?;
        sync_dir(&self.dir)?;
        let file = Arc::new(file);
        let old = {
            let mut state = self.lock();
            // The header's floor is read under the lock at the switch, so it
            // is above every number handed out in older segments: those may
            // all be deleted, and numbers must never be reused.
            file.write_all_at(&record::header(state.next_seq), 0).map_err(io_error)?;
            let new = Active {
                number: next,
                file: file.clone(),
                len: record::HEADER_LEN as u64,
                since: Instant::now(),
            };
            let old = std::mem::replace(&mut state.active, new);
            let sealed = Segment {
                file: old.file.clone(),
                len: old.len,
                covered: false,
                copies_unsynced: false,
            };
            state.sealed.insert(old.number, sealed);
            old.file
        };
        // Appends made between the caller's sync and the switch are in the
        // old segment; their waiters are answered only after a later sync,
        // which cannot start before this one returns. The new header must
        // be durable before any older segment (and its numbers) is deleted.
        old.sync_data().map_err(io_error)?;
        file.sync_data().map_err(io_error)
    }

    /// Records that sled flushed after the sync that returned `token`:
    /// every segment sealed before it has its group states in sled.
    pub fn sled_flushed(&self, token: SyncToken) {
        let mut state = self.lock();
        for (_, segment) in state.sealed.range_mut(..token.0) {
            segment.covered = true;
        }
    }

    /// Deletes the oldest segments while they hold no live envelope.
    fn delete_dead_head(&self) -> Result<(), StoreError> {
        loop {
            let number = {
                let mut state = self.lock();
                let Some((&number, head)) = state.sealed.iter().next() else { return Ok(()) };
                let dead = state.index.segments.get(&number).is_none_or(|l| l.seqs.is_empty());
                if !dead || !head.covered || head.copies_unsynced {
                    return Ok(());
                }
                state.sealed.remove(&number);
                state.index.segments.remove(&number);
                number
            };
            // Unlinking a full segment frees thousands of blocks and pages,
            // which can take tens of milliseconds; every waiting writer's
            // group commit would wait for it. The segment is already out of
            // the log, so the unlinker thread deletes it, in the order they
            // were handed over (deleting a newer segment before an older one
            // could bring acknowledged envelopes back at replay). Should the
            // process end first, the next start replays the file, finds
            // nothing live in it and deletes it again.
            let path = segment_path(&self.dir, number);
            let unlinker = self.unlinker.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match unlinker.map(|tx| tx.send(path.clone())) {
                Some(Ok(())) => {}
                Some(Err(std::sync::mpsc::SendError(path))) => remove_segment(&path),
                None => remove_segment(&path),
            }
        }
    }

    /// Copies live envelopes out of the oldest segment when it is mostly
    /// dead or the log holds more than twice what is live, at most
    /// `compact_bytes_per_sync` per call. The segment is deleted by a later
    /// sync, once the copies are durable.
    fn compact_head(&self) -> Result<(), StoreError> {
        let (number, file, seqs) = {
            let state = self.lock();
            let Some((&number, head)) = state.sealed.iter().next() else { return Ok(()) };
            if !head.covered {
                return Ok(());
            }
            let live = state.index.segments.get(&number).map_or(0, |l| l.bytes);
            let on_disk = state.disk_bytes();
            let total_live = state.index.totals().bytes;
            let mostly_dead = live.saturating_mul(2) < head.len;
            let bloated = on_disk > total_live.saturating_mul(2) + 2 * self.options.segment_bytes;
            if !(mostly_dead || bloated) {
                return Ok(());
            }
            (number, head.file.clone(), state.index.segment_seqs(number))
        };
        let mut copied = 0u64;
        for seq in seqs {
            if copied >= self.options.compact_bytes_per_sync {
                break;
            }
            let Some(message) = self.lock().index.get(seq).cloned() else { continue };
            if message.segment != number {
                continue;
            }
            let payload = read_payload(&file, message.offset, message.len)?;
            let mut guard = self.lock();
            let state = &mut *guard;
            // Re-read under the lock: an ack may have come in meanwhile.
            let Some(current) = state.index.get(seq) else { continue };
            let copy = NewEnvelope {
                group: &message.group,
                payload: &payload,
                recipients: &current.recipients.clone(),
                stored_at: message.stored_at,
                expires_at: message.expires_at,
            };
            let (base, at) = state.write_frame(|b| encode_envelope(b, seq, &copy))?;
            let active = state.active.number;
            state.index.relocate(seq, active, base + at as u64);
            if let Some(head) = state.sealed.get_mut(&number) {
                head.copies_unsynced = true;
            }
            copied += u64::from(message.len);
        }
        Ok(())
    }
}

/// Returned by [`EnvelopeLog::sync`]; see [`EnvelopeLog::sled_flushed`].
#[derive(Debug, Clone, Copy)]
pub struct SyncToken(u64);

impl State {
    /// Encodes one frame with `records` into the reused buffer and appends
    /// it to the active segment. Returns the frame's file offset and what
    /// `records` returned (offsets relative to the frame's start).
    fn write_frame<R>(
        &mut self,
        records: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Result<(u64, R), StoreError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let start = record::begin_frame(&mut scratch);
        let out = records(&mut scratch);
        record::end_frame(&mut scratch, start);
        let result = EnvelopeLog::write(self, &scratch);
        self.scratch = scratch;
        Ok((result?, out))
    }

    /// The index entry of an envelope whose put record's payload starts at
    /// `offset` of the active segment.
    fn placed(&self, offset: u64, e: &NewEnvelope<'_>) -> Message {
        Message {
            segment: self.active.number,
            offset,
            len: u32::try_from(e.payload.len()).unwrap_or(u32::MAX),
            stored_at: e.stored_at,
            expires_at: e.expires_at,
            group: *e.group,
            recipients: e.recipients.to_vec(),
        }
    }

    /// Bytes the segment files take on disk.
    fn disk_bytes(&self) -> u64 {
        self.sealed.values().map(|s| s.len).sum::<u64>() + self.active.len
    }

    fn file(&self, segment: u64) -> Option<Arc<File>> {
        if segment == self.active.number {
            return Some(self.active.file.clone());
        }
        self.sealed.get(&segment).map(|s| s.file.clone())
    }
}

#[cfg(test)]
mod tests;
