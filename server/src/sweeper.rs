//! Periodic deletion of what has outlived its retention: expired envelopes
//! (with their mailbox entries), groups whose expiry passed (with every
//! envelope still queued for them), expired attachments and unfinished
//! uploads (metadata and files), expired link codes, org-admin codes and
//! staff invitations, channel posts past their channel's retention (the
//! channels themselves stay), staged online backups past their lifetime,
//! audit log entries past the audit retention (the last removed entry stays
//! as the chain's anchor; retention changed by an admin applies from the
//! next sweep on); Web Push subscriptions unused for
//! `push_subscription_ttl_days`;
//! plus forgetting idle rate-limit state. Logs counts only, and at debug level the aggregate channel statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::{Relay, RetentionKind};
use crate::shutdown::ShutdownSignal;
use crate::store::{Store, StoreError, SweepReport};

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Deletions in the database.
    pub store: SweepReport,
    /// Attachments (finished or not) deleted with their files.
    pub blobs: u64,
    /// Audit log entries removed by retention.
    pub audit: u64,
    /// Web Push subscriptions unused for the subscription TTL.
    pub push_subscriptions: u64,
}

/// Audit entries removed per sweep; the rest follow in later sweeps, so one
/// sweep never holds the audit tree for long.
const AUDIT_PRUNE_BATCH: usize = 1024;

/// Runs one database sweep at `now_ms` and makes the deletions durable.
/// Blocking: call it from a blocking context.
pub fn sweep_store(store: &dyn Store, now_ms: u64) -> Result<SweepReport, StoreError> {
    let report = store.sweep(now_ms)?;
    // Always, even when nothing expired: the flush is also where the
    // envelope log seals an old segment and deletes or compacts the oldest
    // one, so on a quiet server acknowledged envelopes still leave the disk.
    // Flushing what is already durable costs next to nothing.
    store.flush()?;
    Ok(report)
}

/// Runs one whole sweep: the database, then the attachments. Blocking.
pub fn sweep_once(relay: &Relay, now_ms: u64) -> Result<SweepSummary, StoreError> {
    // Several nodes: an admin may have changed a retention period through
    // another node; take the stored periods before using them.
    if relay.cluster().is_some() {
        relay.retention().load(relay.store().as_ref());
    }
    let store = sweep_store(relay.store().as_ref(), now_ms)?;
    let blobs = relay.sweep_blobs(now_ms)?;
    let cutoff = now_ms.saturating_sub(relay.retention().ms(RetentionKind::Audit));
    let audit = relay.store().audit_prune(cutoff, AUDIT_PRUNE_BATCH)?;
    let push_subscriptions = relay.push().sweep_subscriptions(relay.store().as_ref(), now_ms)?;
    if audit > 0 || push_subscriptions > 0 {
        relay.store().flush()?;
    }
    Ok(SweepSummary { store, blobs, audit, push_subscriptions })
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
        let sweeping = relay.clone();
        let now = crate::unix_ms();
        // A sweep deletes: it waits while an online backup snapshots, and a
        // backup waits for a running sweep.
        let gate = relay.write_gate().clone().read_owned().await;
        let result = tokio::task::spawn_blocking(move || {
            let summary = sweep_once(&sweeping, now);
            sweeping.sweep_staged_backups(now);
            summary
        })
        .await;
        drop(gate);
        match result {
            Ok(Ok(summary)) => {
                if summary != SweepSummary::default() {
                    let report = summary.store;
                    tracing::info!(
                        messages = report.messages,
                        envelopes = report.envelopes,
                        groups = report.groups,
                        blobs = summary.blobs,
                        audit_entries = summary.audit,
                        push_subscriptions = summary.push_subscriptions,
                        link_codes = report.link_codes,
                        org_codes = report.org_codes,
                        invites = report.invites,
                        channel_posts = report.channel_posts,
                        millis = started.elapsed().as_millis() as u64,
                        "swept expired data"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
            Err(_) => tracing::warn!("sweep task failed"),
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            // Aggregates only (counting scans the store, hence debug only).
            let counting = relay.clone();
            if let Ok(Ok(stats)) =
                tokio::task::spawn_blocking(move || counting.channel_stats()).await
            {
                tracing::debug!(
                    channels = stats.channels,
                    channel_posts = stats.posts,
                    listening_connections = stats.listening_connections,
                    "channel statistics"
                );
            }
        }
        let (ips, devices) = relay.prune_rate_limits(Instant::now());
        tracing::debug!(ip_buckets = ips, device_buckets = devices, "rate limiters pruned");
    }
}
