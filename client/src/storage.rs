//! The [`Storage`] trait: how the client core keeps what a device knows,
//! without touching a filesystem itself.
//!
//! Front-ends implement it: [`MemoryStorage`] here (tests, and the reference
//! for the semantics), files under `--home` in client-cli
//! (`stadtbote_cli::file_storage::FileStorage`), IndexedDB in the web app.
//! Every implementation must pass the conformance suite in
//! `storage::conformance` (feature `test-support`).
//!
//! # Model
//!
//! * **Records** live in named [`Space`]s, one per feature (history, outbox,
//!   threads, channels, mls, …). A record is a byte key and a byte value;
//!   within a space keys are ordered bytewise, and [`Storage::scan`] returns
//!   them in that order (or reversed), by prefix or range, with a limit —
//!   what history pagination needs. Encode numbers in keys big-endian so
//!   that byte order is numeric order.
//! * **One durable write per operation.** All changes an operation makes
//!   (a sent message moving from the outbox into the history, the MLS key
//!   store's changed entries, a receipt owed) go into one [`Batch`] of puts
//!   and deletes, and [`Storage::commit`] applies it atomically and durably.
//!   *Contract:* when `commit` returns `Ok`, the whole batch survives a crash
//!   or kill of the process (and, for native backends, of the machine); when
//!   it returns an error, nothing of it was applied — a later read, also
//!   after a reopen, sees the state before the batch. Readers never see half
//!   a batch. Within a batch, operations apply in order, so a later put or
//!   delete of the same key wins.
//!   A batch marked [`Batch::erase_deleted`] also removes the old values
//!   from the medium before `commit` returns (log-structured backends keep
//!   them until they compact otherwise).
//! * **Attachment chunks** are large and written one by one while a transfer
//!   runs, so they stay out of batches: [`Storage::put_chunk`] stores one
//!   chunk of one local blob durably on its own; a record committed in a
//!   batch says which blob a message or upload refers to.
//! * **The lease.** One device's state must have one writer at a time: two
//!   `stadtbote` processes on one `--home`, or two browser tabs on one
//!   origin, would otherwise interleave and corrupt it. A writer first
//!   [acquires](Storage::acquire_lease) a [`Lease`] with a holder id and an
//!   expiry (the caller's clock: this crate has none of its own), renews it
//!   while it works and releases it at the end. Every mutating call carries
//!   the lease, and the storage refuses it with
//!   [`StorageError::LeaseLost`] once another holder has taken the lease
//!   over — that is the fencing: each acquisition gets a larger
//!   [`Lease::token`], and only the newest token may write. A holder that
//!   stalls past its expiry (a suspended laptop, a frozen tab) therefore
//!   cannot overwrite what its successor wrote. A backend may end a lease
//!   early when it knows the holder is gone (files: its process exited,
//!   detected through an OS lock); see [`LeaseRecord`] for the shared rules.
//!
//! Reads need no lease. A handle sees everything committed through itself;
//! what other handles committed is visible after this handle acquires or
//! renews a lease (backends may show it earlier).
//!
//! The trait is generic, not `dyn` (its `async fn`s return futures without a
//! `Send` bound, so that IndexedDB's single-threaded futures can implement
//! it): the core is generic over `S: Storage`. A consequence for native
//! front-ends: the core's futures are not `Send` either, so the CLI drives
//! them on its current task (`block_on`, `LocalSet`), never `tokio::spawn`.
//!
//! Limits ([`MAX_KEY_LEN`], [`MAX_VALUE_LEN`], [`MAX_BATCH_LEN`]) are part of
//! the format and the same for every backend, so that a batch one backend
//! accepts is accepted by all ([`Batch::check_limits`]).

pub mod diff;
pub mod map;
pub mod memory;

#[cfg(any(test, feature = "test-support"))]
pub mod conformance;

use std::fmt;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

pub use diff::changes;
pub use map::RecordMap;
pub use memory::MemoryStorage;

/// The largest value of one record, and of one attachment chunk.
pub const MAX_VALUE_LEN: usize = 16 << 20;
/// The largest sum of keys and values in one batch.
pub const MAX_BATCH_LEN: usize = 48 << 20;
/// The longest record key.
pub const MAX_KEY_LEN: usize = 1024;
/// The longest holder id (it is written to the store: a process or tab id,
/// never user data).
pub const MAX_HOLDER_LEN: usize = 64;

/// A named space of records, one per feature. The names are part of the
/// stored format: never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Space {
    /// The account, device and profile (single records).
    Account,
    /// Conversations by peer.
    Conversations,
    /// 1:1 message history (keyed for pagination).
    History,
    /// Messages waiting for the server's acknowledgement.
    Outbox,
    /// Delivery receipts owed.
    Receipts,
    /// Report and consultation threads and their messages.
    Threads,
    /// Broadcast channels this device publishes to.
    Channels,
    /// Broadcast channels this device follows.
    Follows,
    /// Discussion groups and their posts.
    Groups,
    /// Org pins, administered orgs and staff enrolments.
    Orgs,
    /// Pinned device lists and link codes.
    Devices,
    /// Prepared uploads and downloads in progress (their chunks are
    /// stored with [`Storage::put_chunk`]).
    Transfers,
    /// The MLS key store, entry by entry ([`crate::mls_store`]), and the
    /// ids of processed envelopes.
    Mls,
}

impl Space {
    /// Every space, in a fixed order.
    pub const ALL: [Space; 13] = [
        Space::Account,
        Space::Conversations,
        Space::History,
        Space::Outbox,
        Space::Receipts,
        Space::Threads,
        Space::Channels,
        Space::Follows,
        Space::Groups,
        Space::Orgs,
        Space::Devices,
        Space::Transfers,
        Space::Mls,
    ];

    /// The stored name.
    pub const fn name(self) -> &'static str {
        match self {
            Space::Account => "account",
            Space::Conversations => "conversations",
            Space::History => "history",
            Space::Outbox => "outbox",
            Space::Receipts => "receipts",
            Space::Threads => "threads",
            Space::Channels => "channels",
            Space::Follows => "follows",
            Space::Groups => "groups",
            Space::Orgs => "orgs",
            Space::Devices => "devices",
            Space::Transfers => "transfers",
            Space::Mls => "mls",
        }
    }

    /// The space with this stored name.
    pub fn from_name(name: &str) -> Option<Space> {
        Space::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Space {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Space {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Space::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom("unknown storage space (newer version?)"))
    }
}

/// One change of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Sets a record (inserting or overwriting).
    Put {
        /// The space.
        space: Space,
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Removes a record; a missing one is fine.
    Delete {
        /// The space.
        space: Space,
        /// The key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Removes every record whose key starts with `prefix` (all of the
    /// space for an empty prefix).
    DeletePrefix {
        /// The space.
        space: Space,
        /// The prefix.
        #[serde(with = "serde_bytes")]
        prefix: Vec<u8>,
    },
}

/// The changes of one operation, committed all or nothing by
/// [`Storage::commit`]. Applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
    erase: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` in `space` to `value`.
    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put { space, key: key.into(), value: value.into() });
    }

    /// Removes `key` from `space`.
    pub fn delete(&mut self, space: Space, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete { space, key: key.into() });
    }

    /// Removes every key of `space` that starts with `prefix`.
    pub fn delete_prefix(&mut self, space: Space, prefix: impl Into<Vec<u8>>) {
        self.ops.push(Op::DeletePrefix { space, prefix: prefix.into() });
    }

    /// Appends the operations of `other` (and its erase request).
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
        self.erase |= other.erase;
    }

    /// Asks that the values this batch deletes or overwrites be gone from
    /// the backend's files when the commit returns, not merely unreachable
    /// (a log-structured backend otherwise keeps old values until it
    /// compacts). For deletions people expect to be final: disappearing
    /// threads, a deleted account. Costs a rewrite of the whole store.
    pub fn erase_deleted(&mut self) {
        self.erase = true;
    }

    /// Whether [`Batch::erase_deleted`] was asked for.
    pub fn erases(&self) -> bool {
        self.erase
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Takes the operations.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Bytes of keys and values (what [`MAX_BATCH_LEN`] limits).
    pub fn payload_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value, .. } => key.len() + value.len(),
                Op::Delete { key, .. } => key.len(),
                Op::DeletePrefix { prefix, .. } => prefix.len(),
            })
            .sum()
    }

    /// Checks the limits every backend enforces, so that a batch one backend
    /// accepts is accepted by all.
    pub fn check_limits(&self) -> Result<(), StorageError> {
        for op in &self.ops {
            let (key, value_len) = match op {
                Op::Put { key, value, .. } => (key, value.len()),
                Op::Delete { key, .. } => (key, 0),
                Op::DeletePrefix { prefix, .. } => (prefix, 0),
            };
            if key.len() > MAX_KEY_LEN {
                return Err(StorageError::TooLarge { len: key.len(), max: MAX_KEY_LEN });
            }
            check_value_len(value_len)?;
        }
        let total = self.payload_len();
        if total > MAX_BATCH_LEN {
            return Err(StorageError::TooLarge { len: total, max: MAX_BATCH_LEN });
        }
        Ok(())
    }
}

/// Refuses a value (a record's or an attachment chunk's) longer than
/// [`MAX_VALUE_LEN`]: the limit every backend enforces, in `commit` through
/// [`Batch::check_limits`] and first thing in `put_chunk`.
pub fn check_value_len(len: usize) -> Result<(), StorageError> {
    if len > MAX_VALUE_LEN {
        return Err(StorageError::TooLarge { len, max: MAX_VALUE_LEN });
    }
    Ok(())
}

/// Which records of a space [`Storage::scan`] returns: keys within the
/// bounds, in key order (or reversed), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The lower bound.
    pub lower: Bound<Vec<u8>>,
    /// The upper bound.
    pub upper: Bound<Vec<u8>>,
    /// At most this many records (the first ones in the scan's direction).
    pub limit: Option<usize>,
    /// Largest key first.
    pub reverse: bool,
}

impl Scan {
    /// Every record of the space.
    pub fn all() -> Self {
        Self { lower: Bound::Unbounded, upper: Bound::Unbounded, limit: None, reverse: false }
    }

    /// The records whose key starts with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let prefix = prefix.into();
        let upper = match prefix_end(&prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        Self { lower: Bound::Included(prefix), upper, limit: None, reverse: false }
    }

    /// The records with `lower <= key < upper`.
    pub fn range(lower: impl Into<Vec<u8>>, upper: impl Into<Vec<u8>>) -> Self {
        Self {
            lower: Bound::Included(lower.into()),
            upper: Bound::Excluded(upper.into()),
            limit: None,
            reverse: false,
        }
    }

    /// At most `n` records.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Largest key first.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Narrows the scan to keys after `key` (the next page going forward).
    pub fn after(mut self, key: impl Into<Vec<u8>>) -> Self {
        let key = key.into();
        let tighter = match &self.lower {
            Bound::Included(l) | Bound::Excluded(l) => key >= *l,
            Bound::Unbounded => true,
        };
        if tighter {
            self.lower = Bound::Excluded(key);
        }
        self
    }

    /// Narrows the scan to keys before `key` (the next page of a reverse scan).
    pub fn before(mut self, key: impl Into<Vec<u8>>) -> Self {
        let key = key.into();
        let tighter = match &self.upper {
            Bound::Included(u) | Bound::Excluded(u) => key <= *u,
            Bound::Unbounded => true,
        };
        if tighter {
            self.upper = Bound::Excluded(key);
        }
        self
    }

    /// Whether `key` lies within the bounds.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above = match &self.lower {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.upper {
            Bound::Included(u) => key <= u.as_slice(),
            Bound::Excluded(u) => key < u.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// Whether no key can lie within the bounds (a `BTreeMap::range` over
    /// them would panic).
    pub fn is_empty_range(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l), Bound::Excluded(u))
            | (Bound::Excluded(l), Bound::Included(u))
            | (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
            _ => false,
        }
    }
}

/// The smallest key greater than every key starting with `prefix`, or
/// `None` when there is none (empty prefix or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A local name for one blob's chunks (an upload being prepared, a download
/// being received). Chosen by the caller; random, never derived from content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobKey(pub [u8; 16]);

impl BlobKey {
    /// The key as 32 lowercase hex digits (file names, IndexedDB keys).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`BlobKey::hex`] back.
    pub fn from_hex(text: &str) -> Option<BlobKey> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(BlobKey(out))
    }
}

/// Who holds a lease: a process or tab id chosen by the caller (for
/// instance the process id and start time, or a random tab id). Written to
/// the store, so it must not be user data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HolderId(String);

impl HolderId {
    /// A holder id of 1 to [`MAX_HOLDER_LEN`] printable ASCII characters.
    pub fn new(id: impl Into<String>) -> Result<Self, StorageError> {
        let id = id.into();
        if id.is_empty()
            || id.len() > MAX_HOLDER_LEN
            || !id.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(StorageError::Invalid { reason: "holder id" });
        }
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The right to write one store until `expires_at`, fenced by `token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub holder: HolderId,
    /// The fencing token: larger for every acquisition of this store.
    pub token: u64,
    /// Until when (the caller's clock, Unix ms) no other holder may take it.
    pub expires_at: u64,
}

/// What a store remembers about its lease: the current one (if any) and the
/// largest token ever handed out, so tokens never repeat, also after a
/// release. Backends persist it with their records and apply these rules,
/// so every backend grants, renews and fences the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The lease held now, if any (it may have expired).
    pub current: Option<Lease>,
    /// The largest token handed out so far.
    pub last_token: u64,
}

impl LeaseRecord {
    /// A new lease for `holder` if nobody holds an unexpired one (or
    /// `holder_gone` says its holder is provably gone). Returns the record
    /// to persist and the lease.
    pub fn acquire(
        &self,
        holder: &HolderId,
        now_ms: u64,
        ttl_ms: u64,
        holder_gone: bool,
    ) -> Result<(LeaseRecord, Lease), StorageError> {
        if let Some(current) = &self.current
            && now_ms < current.expires_at
            && !holder_gone
        {
            return Err(StorageError::LeaseHeld { expires_at: current.expires_at });
        }
        let token = self
            .last_token
            .checked_add(1)
            .ok_or(StorageError::Invalid { reason: "lease tokens exhausted" })?;
        let lease =
            Lease { holder: holder.clone(), token, expires_at: now_ms.saturating_add(ttl_ms) };
        Ok((LeaseRecord { current: Some(lease.clone()), last_token: token }, lease))
    }

    /// Whether `lease` is still the newest one (expired or not: as long as
    /// nobody took it over, its holder is the only writer).
    pub fn check(&self, lease: &Lease) -> Result<(), StorageError> {
        match &self.current {
            Some(current) if current.token == lease.token && current.holder == lease.holder => {
                Ok(())
            }
            _ => Err(StorageError::LeaseLost),
        }
    }

    /// `lease`, extended to `now_ms + ttl_ms`.
    pub fn renew(
        &self,
        lease: &Lease,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<(LeaseRecord, Lease), StorageError> {
        self.check(lease)?;
        let renewed = Lease { expires_at: now_ms.saturating_add(ttl_ms), ..lease.clone() };
        Ok((LeaseRecord { current: Some(renewed.clone()), last_token: self.last_token }, renewed))
    }

    /// The record after `lease` is given back.
    pub fn release(&self, lease: &Lease) -> Result<LeaseRecord, StorageError> {
        self.check(lease)?;
        Ok(LeaseRecord { current: None, last_token: self.last_token })
    }
}

/// Why a storage call failed. Messages name files and offsets at most,
/// never keys or values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Stored data does not decode or fails its checksum: not something a
    /// crash leaves behind (those are repaired on open), but damage or a
    /// bug. Nothing was changed.
    #[error("the stored data is corrupt ({what})")]
    Corrupt {
        /// Where (a file and offset, a record kind), never content.
        what: String,
    },
    /// The store was written by a newer version of the format.
    #[error("the store has format version {found}, this program reads up to {supported}")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The newest version this program reads.
        supported: u32,
    },
    /// The medium is full (or over quota); nothing was changed.
    #[error("no space left to store the change")]
    NoSpace,
    /// The storage cannot be read or written right now (I/O error,
    /// permissions, a browser that refused the database).
    #[error("the storage is unavailable ({reason})")]
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// Another holder has taken the lease over: this handle may not write
    /// any more. Acquire a new lease (and re-read) before writing again.
    #[error("the store's lease was taken over by another holder")]
    LeaseLost,
    /// Another holder has an unexpired lease.
    #[error("the store is in use by another holder until {expires_at}")]
    LeaseHeld {
        /// When that lease expires (Unix ms, the clock it was acquired with).
        expires_at: u64,
    },
    /// A key, value, chunk or batch is larger than the storage accepts.
    #[error("{len} bytes is more than the {max} the storage accepts")]
    TooLarge {
        /// The size given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A malformed argument (a holder id, …).
    #[error("invalid storage request ({reason})")]
    Invalid {
        /// Which argument.
        reason: &'static str,
    },
}

/// A device's persistent store. See the module docs for the contract.
// The futures deliberately carry no `Send` bound: IndexedDB's futures are
// not `Send`, and the core is single-threaded per device anyway.
#[allow(async_fn_in_trait)]
pub trait Storage {
    /// The value of `key` in `space`.
    async fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// The records of `space` that `scan` selects, in its order.
    async fn scan(
        &self,
        space: Space,
        scan: &Scan,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError>;

    /// Applies `batch` atomically and durably (see the module docs), if
    /// `lease` is still the store's newest lease.
    async fn commit(&self, lease: &Lease, batch: Batch) -> Result<(), StorageError>;

    /// Stores chunk `index` of `blob` durably (replacing one stored before).
    async fn put_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
        bytes: &[u8],
    ) -> Result<(), StorageError>;

    /// Chunk `index` of `blob`, if stored.
    async fn get_chunk(&self, blob: BlobKey, index: u32) -> Result<Option<Vec<u8>>, StorageError>;

    /// The indexes of the stored chunks of `blob`, ascending (where a
    /// resumed transfer continues).
    async fn chunk_indexes(&self, blob: BlobKey) -> Result<Vec<u32>, StorageError>;

    /// Removes chunk `index` of `blob`; a missing one is fine.
    async fn remove_chunk(
        &self,
        lease: &Lease,
        blob: BlobKey,
        index: u32,
    ) -> Result<(), StorageError>;

    /// Removes every chunk of `blob`.
    async fn remove_chunks(&self, lease: &Lease, blob: BlobKey) -> Result<(), StorageError>;

    /// Takes the lease for `holder` until `now_ms + ttl_ms`, unless another
    /// unexpired lease exists ([`StorageError::LeaseHeld`]). The new lease's
    /// token is larger than every earlier one; their holders are fenced off.
    async fn acquire_lease(
        &self,
        holder: &HolderId,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError>;

    /// Extends `lease` to `now_ms + ttl_ms` if nobody took it over.
    async fn renew_lease(
        &self,
        lease: &Lease,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Lease, StorageError>;

    /// Gives `lease` back, so that another holder may acquire at once.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StorageError>;
}
