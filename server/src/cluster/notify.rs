//! The NOTIFY sender: one thread with its own connection that drains the
//! node's bounded queue of announcements, batches them into payloads below
//! PostgreSQL's 8000-byte limit ([`super::wire`]) and sends each batch in
//! one transaction (notifications are delivered at its commit, in order).
//!
//! It runs after the relay's durable flush, outside the store's
//! transactions, so the envelope path keeps its own commits and never waits
//! for the cluster. A batch that cannot be sent (the database is away) is
//! replaced by one "wake all", retried with back-off until it goes out:
//! nothing is lost, at worst every node re-reads its mailboxes once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use postgres::{Client, NoTls};

use super::wire::{self, NodeId, Note};
use super::{ClusterCounts, ClusterError};
use crate::store::pg_cluster::ClusterDb;

/// Most announcements merged into one batch.
const MAX_BATCH: usize = 4096;
/// Longest wait between attempts while the database is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the sender thread; returns the queue's sending side.
pub(super) fn spawn(
    db: &ClusterDb,
    node: NodeId,
    queue: usize,
    overflow: Arc<AtomicBool>,
    counts: Arc<ClusterCounts>,
) -> Result<SyncSender<Note>, ClusterError> {
    let mut config = db.connect_config()?;
    config.application_name("stadtbote-notify");
    let (sender, receiver) = sync_channel(queue.max(1));
    std::thread::Builder::new()
        .name("cluster-notify".into())
        .spawn(move || run(config, node, receiver, overflow, counts))
        .map_err(|e| ClusterError::Store(crate::store::StoreError::unavailable(e)))?;
    Ok(sender)
}

fn run(
    config: postgres::Config,
    node: NodeId,
    receiver: Receiver<Note>,
    overflow: Arc<AtomicBool>,
    counts: Arc<ClusterCounts>,
) {
    let mut client: Option<(Client, postgres::Statement)> = None;
    loop {
        // Waits for work; checks the overflow flag now and then, in case
        // announcements were dropped while nothing else is queued.
        let first = match receiver.recv_timeout(Duration::from_secs(1)) {
            Ok(note) => Some(note),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut notes: Vec<Note> = first.into_iter().collect();
        while notes.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(note) => notes.push(note),
                Err(_) => break,
            }
        }
        if overflow.swap(false, Ordering::AcqRel) {
            notes.push(Note::All);
        }
        if notes.is_empty() {
            continue;
        }
        let mut payloads = wire::encode(&node, &notes);
        let mut backoff = Duration::from_millis(50);
        loop {
            match send(&config, &mut client, &payloads) {
                Ok(()) => {
                    counts
                        .notes_sent
                        .fetch_add(payloads.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cluster: NOTIFY failed; retrying as a wake-all");
                    client = None;
                    // Whatever was in the batch is covered by waking all.
                    payloads = wire::encode(&node, &[Note::All]);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

fn send(
    config: &postgres::Config,
    client: &mut Option<(Client, postgres::Statement)>,
    payloads: &[String],
) -> Result<(), postgres::Error> {
    if client.as_ref().is_none_or(|(c, _)| c.is_closed()) {
        let mut c = config.connect(NoTls)?;
        // Prepared once per connection: each batch is then one round trip
        // per payload (Bind/Execute), not a Parse/Describe round trip more.
        let statement = c.prepare("SELECT pg_notify($1, $2)")?;
        *client = Some((c, statement));
    }
    let Some((c, statement)) = client.as_mut() else { return Ok(()) };
    if let [payload] = payloads {
        // One payload (one post, one wake-up): its own implicit
        // transaction, no BEGIN/COMMIT round trips around it.
        c.execute(&*statement, &[&wire::CHANNEL, payload])?;
        return Ok(());
    }
    let mut tx = c.transaction()?;
    for payload in payloads {
        tx.execute(&*statement, &[&wire::CHANNEL, payload])?;
    }
    tx.commit()
}
