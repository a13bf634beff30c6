//! Group commit: many writers share one durable flush.
//!
//! A request that changed storage must not be answered before its change is
//! on disk. Flushing once per request would cap throughput at the disk's sync
//! rate, so writers instead register with the [`Flusher`] and wait; one task
//! collects up to `flush_max_batch` waiters (or whatever arrived within
//! `flush_max_delay_ms` of the first), flushes once, and then releases them
//! all, each with the flush's result. Because a writer registers only after
//! its write completed, the flush that releases it covers that write.
//!
//! This is the relay's half of the store's durability contract (see
//! `crate::store`, "Durability contract"): a flush that *started after* a
//! write returned covers it, whatever the backend (sled: one `fsync`;
//! PostgreSQL: one synchronously committed transaction behind many
//! asynchronously committed ones).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::Store;

/// Why a flush did not confirm durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The storage flush failed; the writes may not be durable.
    #[error("storage flush failed")]
    Failed,
    /// The flusher has stopped (the server is shutting down).
    #[error("flusher stopped")]
    Stopped,
}

type Waiter = oneshot::Sender<Result<(), FlushError>>;

/// Handle for waiting on durable storage. Cheap to clone.
#[derive(Clone)]
pub struct Flusher {
    waiters: mpsc::Sender<Waiter>,
}

impl Flusher {
    /// Starts the flusher task. The waiting queue holds `max_batch` waiters,
    /// so writers beyond that wait for room (backpressure) rather than
    /// growing memory.
    pub fn spawn(
        store: Arc<dyn Store>,
        max_batch: usize,
        max_delay: Duration,
    ) -> (Self, JoinHandle<()>) {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch);
        let task = tokio::spawn(run(store, rx, max_batch, max_delay));
        (Self { waiters: tx }, task)
    }

    /// Returns once every write made before this call is durable.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (tx, rx) = oneshot::channel();
        self.waiters.send(tx).await.map_err(|_| FlushError::Stopped)?;
        rx.await.unwrap_or(Err(FlushError::Stopped))
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Waiter>,
    max_batch: usize,
    max_delay: Duration,
) {
    let mut batch: Vec<Waiter> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = Instant::now() + max_delay;
        while batch.len() < max_batch {
            // Take whatever is already queued without waiting, then wait for
            // more only until the deadline of this batch.
            match rx.try_recv() {
                Ok(waiter) => {
                    batch.push(waiter);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(waiter)) => batch.push(waiter),
                Ok(None) | Err(_) => break,
            }
        }
        let started = Instant::now();
        let flushing = store.clone();
        // The flush blocks on the disk, so it runs on the blocking pool and
        // never stalls the async worker threads.
        let result = match tokio::task::spawn_blocking(move || flushing.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, waiters = batch.len(), "storage flush failed");
                Err(FlushError::Failed)
            }
            Err(_) => {
                tracing::error!(waiters = batch.len(), "storage flush task failed");
                Err(FlushError::Failed)
            }
        };
        tracing::trace!(
            waiters = batch.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        for waiter in batch.drain(..) {
            // A waiter that gave up (its connection closed) is not an error.
            let _ = waiter.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[tokio::test]
    async fn many_waiters_complete() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let (flusher, task) = Flusher::spawn(store, 4, Duration::from_millis(1));
        let waits: Vec<_> = (0..20)
            .map(|_| {
                let f = flusher.clone();
                tokio::spawn(async move { f.flush().await })
            })
            .collect();
        for w in waits {
            assert_eq!(w.await.unwrap(), Ok(()));
        }
        drop(flusher);
        task.await.unwrap();
    }
}
