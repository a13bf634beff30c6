//! Web Push (RFC 8030) wake-ups for devices that are offline, issue 18.
//!
//! When an envelope its sender marked "worth a notification"
//! (`send_notify`) is stored for a device that has no connection to this
//! server and has a push subscription, [`Push::wake_offline`] schedules a
//! wake-up in the bounded, coalescing [`queue::WakeQueue`]. The sender
//! task ([`Push::run`]) takes due wake-ups and pushes them, at most
//! `push_max_concurrent` at once: the constant, content-free
//! [`payload`] encrypted with RFC 8291 ([`ece_backend`]), a VAPID token
//! (RFC 8292, [`vapid`]), `TTL` and `Urgency` headers, to an endpoint
//! re-checked against the allow-list ([`origins`]) over the checked
//! connection of [`client`]. `429`, `5xx` and network errors are retried
//! with exponential backoff (`push_max_retries` times); `404` and `410`
//! delete the subscription.
//!
//! A subscription neither used for a push the service accepted nor
//! registered again for `push_subscription_ttl_days` is deleted by the
//! sweeper ([`Push::sweep_subscriptions`]): a browser that was thrown away
//! does not leave its endpoint on the server for ever.
//!
//! What the push service learns: that this server woke this browser at
//! this time, and the ciphertext size (always the same). Nothing else is
//! in the request (see docs/PRIVACY.md). Nothing about a push is logged
//! but its outcome's kind.

pub mod client;
pub mod ece_backend;
pub mod origins;
pub mod payload;
pub mod queue;
pub mod vapid;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stadtbote_protocol::{DeviceId, RefusalReason};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::delivery::DeliveryRegistry;
use crate::shutdown::ShutdownSignal;
use crate::store::push::{AUTH_LEN, P256DH_LEN};
use crate::store::{PushSubscription, Store, StoreError};

use client::{ClientError, PushRequest};
use origins::{AllowList, EndpointError};
use queue::{Queued, WakeQueue};
use vapid::VapidKey;

/// The configured push settings.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// `push_contact`: the VAPID `sub` claim; empty turns push off.
    pub contact: String,
    /// `push_allowed_origins`, parsed.
    pub allowed: AllowList,
    /// `push_min_interval_secs`.
    pub min_interval: Duration,
    /// `push_queue_max`.
    pub queue_max: usize,
    /// `push_max_concurrent`.
    pub max_concurrent: usize,
    /// `push_ttl_secs`.
    pub ttl_secs: u64,
    /// `push_urgency`.
    pub urgency: &'static str,
    /// `push_max_retries`.
    pub max_retries: u32,
    /// `push_retry_base_ms`.
    pub retry_base: Duration,
    /// `push_request_timeout_secs`.
    pub request_timeout: Duration,
    /// `push_max_endpoint_bytes`.
    pub max_endpoint_bytes: usize,
    /// `push_subscription_ttl_days` (or `push_subscription_ttl_secs`).
    pub subscription_ttl: Duration,
}

/// The `Urgency` values of RFC 8030 section 5.3.
pub const URGENCIES: &[&str] = &["very-low", "low", "normal", "high"];

impl PushSettings {
    /// The settings of a validated configuration.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        Ok(Self {
            contact: config.push_contact.trim().to_owned(),
            allowed: AllowList::parse(&config.push_allowed_origins)?,
            min_interval: Duration::from_secs(config.push_min_interval_secs),
            queue_max: config.push_queue_max,
            max_concurrent: config.push_max_concurrent,
            ttl_secs: config.push_ttl_secs,
            urgency: URGENCIES
                .iter()
                .copied()
                .find(|u| *u == config.push_urgency)
                .ok_or_else(|| format!("must be one of {}", URGENCIES.join(", ")))?,
            max_retries: config.push_max_retries,
            retry_base: Duration::from_millis(config.push_retry_base_ms),
            request_timeout: Duration::from_secs(config.push_request_timeout_secs),
            max_endpoint_bytes: config.push_max_endpoint_bytes,
            subscription_ttl: Duration::from_secs(config.push_subscription_ttl()),
        })
    }
}

/// Aggregate push counts (no per-device anything).
#[derive(Debug, Default)]
pub struct PushCounts {
    /// Pushes the push service accepted.
    pub sent: AtomicU64,
    /// Pushes given up (after retries, or refused by the service).
    pub failed: AtomicU64,
    /// Subscriptions deleted because the service answered 404/410.
    pub expired: AtomicU64,
    /// Wake-ups dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Wake-ups merged into one already waiting.
    pub coalesced: AtomicU64,
    /// Subscriptions the sweeper deleted after `push_subscription_ttl_days`
    /// without use.
    pub swept: AtomicU64,
}

/// The push counts at one moment, for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushTotals {
    /// Pushes the push service accepted.
    pub sent: u64,
    /// Pushes given up.
    pub failed: u64,
    /// Subscriptions deleted because the service answered 404/410.
    pub expired: u64,
    /// Wake-ups dropped because the queue was full.
    pub dropped: u64,
    /// Wake-ups merged into one already waiting.
    pub coalesced: u64,
    /// Subscriptions deleted after the TTL without use.
    pub swept: u64,
}

impl PushCounts {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn totals(&self) -> PushTotals {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PushTotals {
            sent: load(&self.sent),
            failed: load(&self.failed),
            expired: load(&self.expired),
            dropped: load(&self.dropped),
            coalesced: load(&self.coalesced),
            swept: load(&self.swept),
        }
    }
}

/// Why Web Push could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    /// The stored VAPID secret could not be read or stored.
    #[error("VAPID key: {0}")]
    Store(#[from] StoreError),
    /// The stored VAPID secret is not a P-256 scalar.
    #[error("the stored VAPID key is invalid")]
    InvalidKey,
    /// The TLS client configuration could not be built.
    #[error("push TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Web Push: settings, VAPID key, the wake-up queue and counts.
pub struct Push {
    settings: PushSettings,
    /// `None` while push is off (no `push_contact`).
    vapid: Option<VapidKey>,
    queue: WakeQueue,
    counts: PushCounts,
    tls: Arc<rustls::ClientConfig>,
    /// In a cluster: whether a device is connected to another node
    /// (`crate::cluster`), which then delivers and no push is needed.
    elsewhere: std::sync::OnceLock<Elsewhere>,
}

/// Whether a device is connected to another node of the cluster (blocking:
/// a database look-up).
pub type Elsewhere = Arc<dyn Fn(&DeviceId) -> bool + Send + Sync>;

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push").field("enabled", &self.enabled()).finish_non_exhaustive()
    }
}

/// What the sender does after one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Gone,
    Retry,
    GiveUp,
}

fn verdict(status: Result<u16, ClientError>) -> Verdict {
    match status {
        Ok(200..=299) => Verdict::Delivered,
        Ok(404 | 410) => Verdict::Gone,
        Ok(429 | 500..=599) | Err(_) => Verdict::Retry,
        // 3xx (no redirect is followed), 400, 401/403 (VAPID refused),
        // 413: retrying would not help.
        Ok(_) => Verdict::GiveUp,
    }
}

impl Push {
    /// Push as configured; the VAPID key is read from the store, or
    /// created and stored on the first start with push on.
    pub fn new(settings: PushSettings, store: &dyn Store) -> Result<Self, PushSetupError> {
        let vapid = if settings.contact.is_empty() {
            None
        } else {
            let secret = store.vapid_secret(&VapidKey::generate_secret())?;
            Some(VapidKey::from_secret(&secret).ok_or(PushSetupError::InvalidKey)?)
        };
        Ok(Self {
            queue: WakeQueue::new(settings.queue_max, settings.min_interval),
            settings,
            vapid,
            counts: PushCounts::default(),
            tls: client::tls_config()?,
            elsewhere: std::sync::OnceLock::new(),
        })
    }

    /// In a cluster: asks `elsewhere` before pushing a device that is not
    /// connected to this node (set once at start).
    pub fn set_elsewhere(&self, elsewhere: Elsewhere) {
        let _ = self.elsewhere.set(elsewhere);
    }

    /// Whether `device` is connected to this node or, in a cluster, to
    /// another live node.
    fn connected_anywhere(&self, registry: &DeliveryRegistry, device: &DeviceId) -> bool {
        registry.is_connected(device) || self.connected_elsewhere(device)
    }

    /// Whether `device` is connected to another node of the cluster.
    fn connected_elsewhere(&self, device: &DeviceId) -> bool {
        self.elsewhere.get().is_some_and(|f| f(device))
    }

    /// Whether this server sends Web Push.
    pub fn enabled(&self) -> bool {
        self.vapid.is_some()
    }

    /// The VAPID public key (65 bytes), when push is on.
    pub fn public_key(&self) -> Option<&[u8; 65]> {
        self.vapid.as_ref().map(VapidKey::public_key)
    }

    /// The aggregate counts.
    pub fn counts(&self) -> &PushCounts {
        &self.counts
    }

    /// Checks a subscription a client registers: push on, the endpoint a
    /// valid URL of an allow-listed origin, `p256dh` a P-256 point, `auth`
    /// 16 bytes.
    pub fn check_subscription(
        &self,
        endpoint: &str,
        p256dh: &[u8],
        auth: &[u8],
        now_ms: u64,
    ) -> Result<PushSubscription, RefusalReason> {
        if !self.enabled() {
            return Err(RefusalReason::PushNotEnabled);
        }
        match self.settings.allowed.check(endpoint, self.settings.max_endpoint_bytes) {
            Ok(_) => {}
            Err(EndpointError::Invalid) => return Err(RefusalReason::PushSubscriptionInvalid),
            Err(EndpointError::NotAllowed) => return Err(RefusalReason::PushEndpointNotAllowed),
        }
        if !ece_backend::valid_public_key(p256dh) {
            return Err(RefusalReason::PushSubscriptionInvalid);
        }
        let p256dh = <[u8; P256DH_LEN]>::try_from(p256dh)
            .map_err(|_| RefusalReason::PushSubscriptionInvalid)?;
        let auth =
            <[u8; AUTH_LEN]>::try_from(auth).map_err(|_| RefusalReason::PushSubscriptionInvalid)?;
        Ok(PushSubscription {
            endpoint: endpoint.to_owned(),
            p256dh,
            auth,
            created_at: now_ms,
            last_used: now_ms,
        })
    }

    /// Deletes the subscriptions unused for the subscription TTL (also
    /// while push is off: they are of no use then either). Blocking; the
    /// sweeper calls it. Returns how many were deleted.
    pub fn sweep_subscriptions(&self, store: &dyn Store, now_ms: u64) -> Result<u64, StoreError> {
        let ttl_ms = u64::try_from(self.settings.subscription_ttl.as_millis()).unwrap_or(u64::MAX);
        let deleted = store.sweep_push_subscriptions(now_ms.saturating_sub(ttl_ms))?;
        self.counts.swept.fetch_add(deleted, Ordering::Relaxed);
        Ok(deleted)
    }

    /// Schedules a wake-up for each of `devices` (recipients of a marked
    /// envelope, now durable) that has no connection here and has a
    /// subscription. Cheap: an in-memory look-up and a key look-up each.
    pub fn wake_offline(
        &self,
        devices: &[DeviceId],
        registry: &DeliveryRegistry,
        store: &dyn Store,
    ) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        for device in devices {
            if registry.is_connected(device) {
                continue;
            }
            match store.has_push_subscription(device) {
                // Asked only for subscribed devices: a cluster look-up
                // costs a database round trip.
                Ok(true) if self.connected_anywhere(registry, device) => continue,
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "push subscription look-up failed");
                    continue;
                }
            }
            match self.queue.wake(*device, now) {
                Queued::Scheduled => {}
                Queued::Coalesced => PushCounts::add(&self.counts.coalesced),
                Queued::Dropped => PushCounts::add(&self.counts.dropped),
            }
        }
    }

    /// The sender task: pushes due wake-ups until shutdown.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        registry: Arc<DeliveryRegistry>,
        mut shutdown: ShutdownSignal,
    ) {
        if !self.enabled() {
            return;
        }
        let permits = Arc::new(Semaphore::new(self.settings.max_concurrent.max(1)));
        loop {
            let (due, next) = self.queue.take_due(Instant::now());
            for device in due {
                // Connected since it was queued: its connection delivers.
                if registry.is_connected(&device) {
                    continue;
                }
                if self.elsewhere.get().is_some() {
                    // Connected to another node of the cluster meanwhile.
                    let (push, probe) = (self.clone(), device);
                    let elsewhere =
                        tokio::task::spawn_blocking(move || push.connected_elsewhere(&probe));
                    if matches!(elsewhere.await, Ok(true)) {
                        continue;
                    }
                }
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => permit,
                    () = shutdown.triggered() => return,
                };
                let Ok(permit) = permit else { return };
                let push = self.clone();
                let store = store.clone();
                let mut signal = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = push.deliver(store.as_ref(), device) => {}
                        () = signal.triggered() => {}
                    }
                    drop(permit);
                });
            }
            let wait = next.map_or(Duration::from_secs(3600), |at| {
                at.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                () = self.queue.scheduled() => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.triggered() => return,
            }
        }
    }

    /// Pushes one wake-up to `device`, with retries.
    async fn deliver(&self, store: &dyn Store, device: DeviceId) {
        let Some(vapid) = &self.vapid else { return };
        let subscription = match store.push_subscription(&device) {
            Ok(Some(subscription)) => subscription,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "push subscription could not be read");
                return;
            }
        };
        // Checked again: the allow-list may have changed since it was
        // registered (a restart with another configuration).
        let target = match self
            .settings
            .allowed
            .check(&subscription.endpoint, self.settings.max_endpoint_bytes)
        {
            Ok(target) => target,
            Err(_) => {
                tracing::info!("push skipped: the endpoint's origin is no longer allowed");
                PushCounts::add(&self.counts.failed);
                return;
            }
        };
        let body =
            match ece_backend::encrypt(&subscription.p256dh, &subscription.auth, &payload::new()) {
                Ok(body) => body,
                Err(_) => {
                    tracing::warn!("push payload could not be encrypted");
                    PushCounts::add(&self.counts.failed);
                    return;
                }
            };
        let now_secs = crate::unix_ms() / 1000;
        let request = PushRequest {
            body,
            authorization: vapid.authorization(&target.origin(), &self.settings.contact, now_secs),
            ttl_secs: self.settings.ttl_secs,
            urgency: self.settings.urgency,
        };
        let mut attempt = 0u32;
        loop {
            let status =
                client::post(&self.tls, &target, &request, self.settings.request_timeout).await;
            match verdict(status) {
                Verdict::Delivered => {
                    PushCounts::add(&self.counts.sent);
                    // In use: the TTL starts again.
                    if let Err(err) = store.push_subscription_used(&device, crate::unix_ms()) {
                        tracing::warn!(error = %err, "push subscription use not recorded");
                    }
                    return;
                }
                Verdict::Gone => {
                    // The browser unsubscribed or the subscription expired.
                    PushCounts::add(&self.counts.expired);
                    if let Err(err) = store.delete_push_subscription(&device) {
                        tracing::warn!(error = %err, "expired push subscription not deleted");
                    }
                    return;
                }
                Verdict::GiveUp => {
                    tracing::info!(status = status.unwrap_or(0), "push refused by the service");
                    PushCounts::add(&self.counts.failed);
                    return;
                }
                Verdict::Retry if attempt >= self.settings.max_retries => {
                    match status {
                        Ok(code) => tracing::info!(status = code, "push failed after retries"),
                        Err(err) => tracing::info!(error = %err, "push failed after retries"),
                    }
                    PushCounts::add(&self.counts.failed);
                    return;
                }
                Verdict::Retry => {
                    let backoff = self.settings.retry_base.saturating_mul(1u32 << attempt.min(16));
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_retry_delete_or_give_up() {
        assert_eq!(verdict(Ok(201)), Verdict::Delivered);
        assert_eq!(verdict(Ok(404)), Verdict::Gone);
        assert_eq!(verdict(Ok(410)), Verdict::Gone);
        assert_eq!(verdict(Ok(429)), Verdict::Retry);
        assert_eq!(verdict(Ok(503)), Verdict::Retry);
        assert_eq!(verdict(Err(ClientError::Timeout)), Verdict::Retry);
        assert_eq!(verdict(Ok(301)), Verdict::GiveUp);
        assert_eq!(verdict(Ok(403)), Verdict::GiveUp);
    }
}
