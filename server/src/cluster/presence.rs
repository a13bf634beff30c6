//! Presence: which node holds a connection of which keyed device id, so
//! that Web Push does not wake a phone whose app is connected to another
//! node. What the database learns: for each connected device its keyed id
//! (the `kdev` the mailbox tables already hold) and the random id of the
//! node it is connected to, while it is connected — in UNLOGGED tables
//! (never written to WAL or archives, emptied by a database crash). No
//! address, no time of connection beyond the node's lease.
//!
//! Changes collect in memory ([`Changes`], bounded: beyond its bound it
//! falls back to rewriting the node's whole set) and are written by one
//! task every [`FLUSH_EVERY`]; the same task renews the node's lease every
//! third of `cluster_lease_secs` and removes the rows of nodes whose lease
//! ran out (a node killed with SIGKILL cannot remove its own). A clean
//! shutdown removes the node's rows at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stadtbote_protocol::DeviceId;

use super::Cluster;
use crate::shutdown::ShutdownSignal;
use crate::store::pg_cluster::ClusterDb;

/// How often collected presence changes are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Pending {
    connected: HashSet<DeviceId>,
    gone: HashSet<DeviceId>,
    /// Rewrite the node's whole set (after an overflow or a failed write).
    resync: bool,
}

/// Presence changes not yet written, bounded.
pub(super) struct Changes {
    pending: Mutex<Pending>,
    max: usize,
}

impl Changes {
    pub(super) fn new(max: usize) -> Self {
        Self {
            pending: Mutex::new(Pending { resync: true, ..Pending::default() }),
            max: max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, keyed: DeviceId, connected: bool) {
        let mut pending = self.lock();
        if pending.resync {
            return;
        }
        if connected {
            pending.gone.remove(&keyed);
            pending.connected.insert(keyed);
        } else {
            pending.connected.remove(&keyed);
            pending.gone.insert(keyed);
        }
        if pending.connected.len() + pending.gone.len() > self.max {
            *pending = Pending { resync: true, ..Pending::default() };
        }
    }

    pub(super) fn connected(&self, keyed: DeviceId) {
        self.record(keyed, true);
    }

    pub(super) fn gone(&self, keyed: DeviceId) {
        self.record(keyed, false);
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.lock())
    }

    fn failed(&self) {
        *self.lock() = Pending { resync: true, ..Pending::default() };
    }
}

/// Starts the task that writes presence and renews the lease until
/// shutdown, then removes the node's rows.
pub fn spawn(
    db: ClusterDb,
    cluster: Arc<Cluster>,
    mut shutdown: ShutdownSignal,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let lease = cluster.lease;
        let renew = (lease / 3).max(Duration::from_millis(200));
        let mut last_renewal: Option<Instant> = None;
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.triggered() => break,
            }
            if last_renewal.is_none_or(|at| at.elapsed() >= renew) {
                let (db, node) = (db.clone(), cluster.node());
                match tokio::task::spawn_blocking(move || db.heartbeat(node, lease)).await {
                    Ok(Ok(())) => {
                        // The lease may have run out meanwhile and another
                        // node removed this node's rows: write them anew.
                        if last_renewal.is_some_and(|at| at.elapsed() >= lease) {
                            cluster.presence.failed();
                        }
                        last_renewal = Some(Instant::now());
                    }
                    Ok(Err(err)) => tracing::warn!(error = %err, "cluster: lease not renewed"),
                    Err(err) => tracing::warn!(error = %err, "cluster: lease task failed"),
                }
            }
            let pending = cluster.presence.take();
            if !pending.resync && pending.connected.is_empty() && pending.gone.is_empty() {
                continue;
            }
            let (connected, gone) = if pending.resync {
                let all = cluster.all_local_devices();
                (all.iter().map(|d| cluster.db.keyed(d)).collect(), Vec::new())
            } else {
                (pending.connected.into_iter().collect(), pending.gone.into_iter().collect())
            };
            let (db2, node, replace) = (db.clone(), cluster.node(), pending.resync);
            let written =
                tokio::task::spawn_blocking(move || db2.presence(node, connected, gone, replace))
                    .await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::warn!("cluster: presence not written; rewriting it next time");
                cluster.presence.failed();
            }
        }
        let node = cluster.node();
        if let Ok(Err(err)) = tokio::task::spawn_blocking(move || db.leave(node)).await {
            tracing::warn!(error = %err, "cluster: presence not removed at shutdown");
        }
    })
}
