//! Several `stadtbote-server` nodes on one PostgreSQL database behaving as
//! one service (issue 19 item 3). This module owns what a node must tell
//! the others and what it hears from them; the database side is
//! [`crate::store::pg_cluster`].
//!
//! * **Wake-ups** (PostgreSQL LISTEN/NOTIFY, [`wire`]): after a write that
//!   queued envelopes is durable, the relay wakes its own connections
//!   ([`crate::delivery::DeliveryRegistry::wake`]) and hands the devices'
//!   keyed ids to [`Cluster::devices_stored`]; a sender thread ([`notify`])
//!   batches them into NOTIFY payloads on its own connection. Every node
//!   LISTENs on one dedicated connection ([`listen`]) and wakes those of the
//!   devices that are connected to it. A channel post is announced as
//!   channel id and sequence number: each node reads the post once and
//!   hands it to [`crate::fanout::ChannelListeners::publish`] once, however
//!   many followers listen there.
//! * **Bounded, nothing lost**: announcements wait in a bounded queue
//!   (`cluster_notify_queue`); when it is full, or a NOTIFY fails, the node
//!   later sends one "wake all" instead. A node whose LISTEN connection
//!   dropped (or whose incoming queue overflowed) reconnects by itself and
//!   wakes all its connections once: each re-reads its mailbox from its
//!   cursor. Wake-ups are hints; the mailboxes in the database are the truth.
//! * **Presence** for Web Push: which node holds a connection of which keyed
//!   device id, under a lease ([`presence`]); a device connected to another
//!   live node gets no push.
//! * **Limits**: the per-account and per-device request limits (sends,
//!   uploads, KeyPackage claims) are token buckets in the database, taken
//!   in small slices ([`limits`]), so that they hold for the cluster as on
//!   one node; per-address limits stay in each node's memory.
//! * **Keys**: the first node records a fingerprint of its pepper; a node
//!   with other keys refuses to start ([`ClusterError::KeysDiffer`]).

pub mod limits;
pub mod listen;
pub mod notify;
pub mod presence;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::RngCore;
use stadtbote_protocol::{ChannelId, DeviceId};

use crate::store::StoreError;
use crate::store::pg_cluster::{ClusterDb, KeyCheck};
use wire::{NodeId, Note};

/// Why a node cannot join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node's `keys/pepper` is not the one the database was used with.
    #[error(
        "this node's keys (data_dir/keys/pepper) differ from the keys this database was \
         first used with: every node of a cluster needs the same keys directory. Mount the \
         shared keys (docs/OPERATIONS.md, \"Sharing keys between nodes\") and start again"
    )]
    KeysDiffer,
    /// The database could not be prepared.
    #[error("cluster tables: {0}")]
    Store(#[from] StoreError),
}

/// Aggregate counters of the cluster (served on `/metrics`, never per id).
#[derive(Debug, Default)]
pub struct ClusterCounts {
    /// NOTIFY payloads sent.
    pub notes_sent: AtomicU64,
    /// Announcements from other nodes received.
    pub notes_received: AtomicU64,
    /// Channel posts read because another node announced them (one per
    /// post and node, however many followers listen here).
    pub posts_read: AtomicU64,
    /// Times this node woke all its connections (LISTEN reconnected,
    /// queue overflow or another node's "wake all").
    pub resyncs: AtomicU64,
    /// Announcements that did not fit the queue (replaced by "wake all").
    pub overflows: AtomicU64,
}

impl ClusterCounts {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters' values.
    pub fn totals(&self) -> ClusterTotals {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClusterTotals {
            notes_sent: load(&self.notes_sent),
            notes_received: load(&self.notes_received),
            posts_read: load(&self.posts_read),
            resyncs: load(&self.resyncs),
            overflows: load(&self.overflows),
        }
    }
}

/// A reading of [`ClusterCounts`] (all zero on a single node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterTotals {
    /// NOTIFY payloads sent.
    pub notes_sent: u64,
    /// Announcements from other nodes received.
    pub notes_received: u64,
    /// Channel posts read for other nodes' announcements.
    pub posts_read: u64,
    /// Times all connections were woken.
    pub resyncs: u64,
    /// Announcements dropped for a "wake all".
    pub overflows: u64,
}

struct Local {
    device: DeviceId,
    connections: usize,
}

/// This node's membership in the cluster.
pub struct Cluster {
    node: NodeId,
    db: ClusterDb,
    outgoing: SyncSender<Note>,
    /// Announcements were dropped: the sender adds a "wake all".
    overflow: Arc<AtomicBool>,
    /// Keyed id → the local device and its connection count on this node.
    local: Mutex<HashMap<DeviceId, Local>>,
    presence: presence::Changes,
    counts: Arc<ClusterCounts>,
    lease: Duration,
    /// The per-account and per-device buckets shared by all nodes.
    limits: limits::SharedLimits,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}

impl Cluster {
    /// Joins the cluster: checks the keys, creates the cluster tables if
    /// needed and starts the NOTIFY sender thread. The LISTEN side and the
    /// presence heartbeat are started by [`listen::spawn`] and
    /// [`presence::spawn`] once the relay exists. `max_keys` bounds the
    /// slices of shared limits held at a time (`rate_limit_max_keys`).
    pub fn join(
        db: ClusterDb,
        queue: usize,
        lease: Duration,
        max_keys: usize,
    ) -> Result<Arc<Self>, ClusterError> {
        match db.prepare()? {
            KeyCheck::Differs => return Err(ClusterError::KeysDiffer),
            KeyCheck::Recorded => tracing::info!("cluster: this node's key fingerprint recorded"),
            KeyCheck::Matches => {}
        }
        let mut node = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut node);
        let counts = Arc::new(ClusterCounts::default());
        let overflow = Arc::new(AtomicBool::new(false));
        let outgoing = notify::spawn(&db, node, queue, overflow.clone(), counts.clone())?;
        Ok(Arc::new(Self {
            node,
            limits: limits::SharedLimits::new(db.clone(), max_keys),
            db,
            outgoing,
            overflow,
            local: Mutex::new(HashMap::new()),
            presence: presence::Changes::new(queue),
            counts,
            lease,
        }))
    }

    /// The node's random id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The counters for `/metrics`.
    pub fn counts(&self) -> &Arc<ClusterCounts> {
        &self.counts
    }

    fn local(&self) -> MutexGuard<'_, HashMap<DeviceId, Local>> {
        // A panic elsewhere mid-update leaves at worst a wrong count.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn announce(&self, note: Note) {
        match self.outgoing.try_send(note) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                ClusterCounts::add(&self.counts.overflows);
                self.overflow.store(true, Ordering::Release);
            }
        }
    }

    /// Tells the other nodes that envelopes for `devices` are durable.
    pub fn devices_stored(&self, devices: &[DeviceId]) {
        if devices.is_empty() {
            return;
        }
        self.announce(Note::Wake(devices.iter().map(|d| self.db.keyed(d)).collect()));
    }

    /// Tells the other nodes that post `seq` of `channel` is durable.
    pub fn post_stored(&self, channel: &ChannelId, seq: u64) {
        self.announce(Note::Post(*channel, seq));
    }

    /// Registers a connection of `device` on this node until the returned
    /// guard drops.
    pub fn connected(self: &Arc<Self>, device: DeviceId) -> Presence {
        let keyed = self.db.keyed(&device);
        let first = {
            let mut local = self.local();
            let entry = local.entry(keyed).or_insert(Local { device, connections: 0 });
            entry.connections += 1;
            entry.connections == 1
        };
        if first {
            self.presence.connected(keyed);
        }
        Presence { cluster: self.clone(), keyed }
    }

    /// The local devices among the keyed ids `keyed`.
    pub fn local_devices(&self, keyed: &[DeviceId]) -> Vec<DeviceId> {
        let local = self.local();
        keyed.iter().filter_map(|k| local.get(k).map(|l| l.device)).collect()
    }

    /// Every device connected to this node.
    pub fn all_local_devices(&self) -> Vec<DeviceId> {
        self.local().values().map(|l| l.device).collect()
    }

    /// The per-account and per-device buckets shared by every node.
    pub fn limits(&self) -> &limits::SharedLimits {
        &self.limits
    }

    /// Counts an attempt of `device` at a one-time code across the cluster;
    /// whether it is within `per_minute`. A database error refuses (the
    /// code check would need the database anyway).
    pub fn code_attempt_allowed(&self, device: &DeviceId, per_minute: u32) -> bool {
        match self.db.count_attempt(self.db.keyed(device)) {
            Ok(attempts) => attempts <= u64::from(per_minute),
            Err(err) => {
                tracing::warn!(error = %err, "cluster: code attempt not counted");
                false
            }
        }
    }

    /// Whether `device` is connected to another node with a live lease
    /// (a database look-up; an error counts as "not known to be connected").
    pub fn connected_elsewhere(&self, device: &DeviceId) -> bool {
        match self.db.connected_elsewhere(self.node, self.db.keyed(device)) {
            Ok(connected) => connected,
            Err(err) => {
                tracing::warn!(error = %err, "cluster presence look-up failed");
                false
            }
        }
    }
}

/// One connection's registration on this node; unregisters when dropped.
pub struct Presence {
    cluster: Arc<Cluster>,
    keyed: DeviceId,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No id in debug output.
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        let last = {
            let mut local = self.cluster.local();
            match local.get_mut(&self.keyed) {
                Some(entry) => {
                    entry.connections = entry.connections.saturating_sub(1);
                    let last = entry.connections == 0;
                    if last {
                        local.remove(&self.keyed);
                    }
                    last
                }
                None => false,
            }
        };
        if last {
            self.cluster.presence.gone(self.keyed);
        }
    }
}
