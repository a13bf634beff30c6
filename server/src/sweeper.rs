//! Periodic deletion of what has outlived its retention: expired envelopes
//! (with their mailbox entries) and expired link codes, plus forgetting idle
//! rate-limit state. Logs counts only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::Relay;
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError, SweepReport};

/// Runs one sweep at `now_ms` and makes the deletions durable. Blocking:
/// call it from a blocking context (the loop below uses the blocking pool).
pub fn sweep_once(store: &dyn Store, now_ms: u64) -> Result<SweepReport, StoreError> {
    let report = store.sweep(now_ms)?;
    if report != SweepReport::default() {
        store.flush()?;
    }
    Ok(report)
}

/// Sweeps every `interval` until shutdown.
pub async fn run(relay: Arc<Relay>, interval: Duration, mut shutdown: ShutdownSignal) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let store = relay.store();
        let now = crate::unix_ms();
        match tokio::task::spawn_blocking(move || sweep_once(store.as_ref(), now)).await {
            Ok(Ok(report)) => {
                if report != SweepReport::default() {
                    tracing::info!(
                        messages = report.messages,
                        envelopes = report.envelopes,
                        link_codes = report.link_codes,
                        millis = started.elapsed().as_millis() as u64,
                        "swept expired data"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
            Err(_) => tracing::warn!("sweep task failed"),
        }
        let (ips, devices) = relay.prune_rate_limits(Instant::now());
        tracing::debug!(ip_buckets = ips, device_buckets = devices, "rate limiters pruned");
    }
}
