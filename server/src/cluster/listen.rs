//! The LISTEN side: one thread holding a dedicated connection that LISTENs
//! on [`super::wire::CHANNEL`], and one task that acts on what it hears.
//!
//! The thread never blocks on the node: it hands each announcement to a
//! bounded queue ([`INCOMING_QUEUE`]); when that is full it drops it and
//! flags a "wake all" instead. When the connection is lost (database
//! restart, `pg_terminate_backend`, network) the thread reconnects with
//! back-off and, once it listens again, asks for a "wake all": what was
//! announced in between was missed, so every connection re-reads its
//! mailbox from its cursor.
//!
//! The task wakes the local devices of a wake-up, and reads an announced
//! channel post once and publishes it once to this node's listeners.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use tokio::sync::mpsc;

use super::wire::{self, Note};
use super::{Cluster, ClusterCounts, ClusterError};
use crate::relay::Relay;
use crate::shutdown::ShutdownSignal;
use crate::store::pg_cluster::ClusterDb;

/// Announcements waiting for the task; beyond, they collapse into a
/// "wake all".
pub const INCOMING_QUEUE: usize = 4096;
/// How long the thread waits for notifications before checking that its
/// connection still works.
const POLL: Duration = Duration::from_millis(500);
/// How often an idle connection is probed (a half-open TCP connection
/// does not close by itself).
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// Most notifications handed on in one batch.
const BATCH: usize = 256;
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the LISTEN thread and the task acting on it; both end at shutdown.
pub fn spawn(
    db: &ClusterDb,
    cluster: Arc<Cluster>,
    relay: Arc<Relay>,
    shutdown: ShutdownSignal,
) -> Result<tokio::task::JoinHandle<()>, ClusterError> {
    let mut config = db.connect_config()?;
    config.application_name("stadtbote-listen");
    let (sender, receiver) = mpsc::channel(INCOMING_QUEUE);
    let lost = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (lost, stop, node, counts) =
            (lost.clone(), stop.clone(), cluster.node(), cluster.counts().clone());
        std::thread::Builder::new()
            .name("cluster-listen".into())
            .spawn(move || listen(config, node, sender, lost, stop, counts))
            .map_err(|e| ClusterError::Store(crate::store::StoreError::unavailable(e)))?;
    }
    Ok(tokio::spawn(act(cluster, relay, receiver, lost, stop, shutdown)))
}

fn listen(
    config: postgres::Config,
    node: wire::NodeId,
    sender: mpsc::Sender<Note>,
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    counts: Arc<ClusterCounts>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    while !stop.load(Ordering::Acquire) {
        let mut client = match config.connect(NoTls) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(error = %err, "cluster: LISTEN connection failed; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Err(err) = client.batch_execute(&format!("LISTEN {}", wire::CHANNEL)) {
            tracing::warn!(error = %err, "cluster: LISTEN failed; retrying");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        backoff = Duration::from_millis(100);
        if first {
            first = false;
        } else {
            // Announcements made while this node was not listening are
            // gone: every connection re-reads its mailbox once.
            tracing::info!("cluster: LISTEN connection re-established; waking all connections");
            lost.store(true, Ordering::Release);
            let _ = sender.try_send(Note::All);
        }
        serve(&mut client, node, &sender, &lost, &stop, &counts);
        if !stop.load(Ordering::Acquire) {
            tracing::warn!("cluster: LISTEN connection lost; reconnecting");
        }
    }
}

/// Reads notifications until the connection is lost or the node stops.
fn serve(
    client: &mut Client,
    node: wire::NodeId,
    sender: &mpsc::Sender<Note>,
    lost: &AtomicBool,
    stop: &AtomicBool,
    counts: &ClusterCounts,
) {
    let mut last_probe = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let mut payloads: Vec<String> = Vec::new();
        {
            let mut notifications = client.notifications();
            // Waits (up to POLL) for the first notification only; then takes
            // what has already arrived without waiting again. Waiting with
            // `timeout_iter` for every further one held each batch — and so
            // every cross-node post and wake-up — for a whole POLL after its
            // last notification (session 10's three-node run lost ≈ 500 ms
            // there).
            match notifications.timeout_iter(POLL).next() {
                Ok(Some(notification)) => payloads.push(notification.payload().to_owned()),
                Ok(None) => {}
                Err(_) => return,
            }
            if !payloads.is_empty() {
                let mut pending = notifications.iter();
                while payloads.len() < BATCH {
                    match pending.next() {
                        Ok(Some(notification)) => payloads.push(notification.payload().to_owned()),
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
        }
        for payload in payloads {
            let Some((from, note)) = wire::decode(&payload) else { continue };
            if from == node {
                continue;
            }
            ClusterCounts::add(&counts.notes_received);
            if sender.try_send(note).is_err() {
                ClusterCounts::add(&counts.overflows);
                lost.store(true, Ordering::Release);
            }
        }
        if client.is_closed() {
            return;
        }
        if last_probe.elapsed() >= PROBE_EVERY {
            last_probe = Instant::now();
            if client.is_valid(PROBE_EVERY).is_err() {
                return;
            }
        }
    }
}

async fn act(
    cluster: Arc<Cluster>,
    relay: Arc<Relay>,
    mut receiver: mpsc::Receiver<Note>,
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let note = tokio::select! {
            note = receiver.recv() => note,
            () = shutdown.triggered() => None,
        };
        let Some(note) = note else { break };
        if lost.swap(false, Ordering::AcqRel) {
            wake_all(&cluster, &relay);
        }
        match note {
            Note::Wake(keyed) => {
                let devices = cluster.local_devices(&keyed);
                if !devices.is_empty() {
                    relay.registry().wake(&devices);
                }
            }
            Note::All => wake_all(&cluster, &relay),
            Note::Post(channel, seq) => {
                let relay = relay.clone();
                let read =
                    tokio::task::spawn_blocking(move || relay.publish_remote_post(&channel, seq));
                match read.await {
                    // Counted by `publish_remote_post` when it read it.
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "cluster: announced channel post not read")
                    }
                    Err(err) => tracing::warn!(error = %err, "cluster: channel post task failed"),
                }
            }
        }
    }
    stop.store(true, Ordering::Release);
}

fn wake_all(cluster: &Cluster, relay: &Relay) {
    ClusterCounts::add(&cluster.counts().resyncs);
    let devices = cluster.all_local_devices();
    if !devices.is_empty() {
        relay.registry().wake(&devices);
    }
}
