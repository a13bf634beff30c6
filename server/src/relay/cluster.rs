//! The relay's side of several nodes on one database ([`crate::cluster`]):
//! every wake-up after a durable write also goes to the other nodes, a
//! stored channel post is announced, and a post announced by another node
//! is read once and published to this node's listeners once.

use std::sync::Arc;
use std::time::Instant;

use stadtbote_protocol::{AccountId, ChannelId, DeviceId};

use super::{Relay, RelayError};
use crate::cluster::{Cluster, Presence};
use crate::config::CHANNEL_POST_OVERHEAD;
use crate::ratelimit::{Action, IpKey, LimitHit, SharedBuckets};
use crate::store::{PageLimits, StoreError};
use crate::unix_ms;

impl Relay {
    /// Makes this relay a node of `cluster` (once, at start).
    pub fn join_cluster(&self, cluster: Arc<Cluster>) {
        if self.cluster.set(cluster).is_err() {
            tracing::warn!("cluster already joined");
        }
    }

    /// The cluster this node belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Wakes the devices an envelope was durably stored for: this node's
    /// connections, and (in a cluster) the other nodes'.
    pub(super) fn wake_stored(&self, devices: &[DeviceId]) {
        self.registry.wake(devices);
        if let Some(cluster) = self.cluster.get() {
            cluster.devices_stored(devices);
        }
    }

    /// Announces a durable channel post to the other nodes.
    pub(super) fn announce_post(&self, channel: &ChannelId, seq: u64) {
        if let Some(cluster) = self.cluster.get() {
            cluster.post_stored(channel, seq);
        }
    }

    /// Registers a connection of `device` with the cluster (presence and
    /// wake-ups from other nodes); `None` on a single node.
    pub fn cluster_presence(&self, device: DeviceId) -> Option<Presence> {
        self.cluster.get().map(|cluster| cluster.connected(device))
    }

    /// Counts an attempt at a one-time code (admin, org, invitation,
    /// second factor, group link): this node's per-device limit, and in a
    /// cluster the same limit over all nodes, so that an attacker gains
    /// nothing by spreading attempts over nodes.
    pub(super) fn check_code_attempt(&self, device: &DeviceId) -> Result<(), RelayError> {
        self.code_limiter.check(device, Instant::now())?;
        if let Some(cluster) = self.cluster.get()
            && !cluster.code_attempt_allowed(device, self.code_rate_per_minute)
        {
            return Err(RelayError::RateLimited { retry_after_ms: 60_000 });
        }
        Ok(())
    }

    /// The buckets several nodes share, in a cluster.
    fn shared_buckets(&self) -> Option<&dyn SharedBuckets> {
        self.cluster.get().map(|c| c.limits() as &dyn SharedBuckets)
    }

    /// Takes a token for `action` from the client address's bucket (this
    /// node's) and the account's (the cluster's, in a cluster).
    pub fn check_request_limits(
        &self,
        action: Action,
        account: Option<&AccountId>,
        ip: &IpKey,
        now: Instant,
    ) -> Result<(), LimitHit> {
        self.request_limiters.check_shared(action, account, ip, self.shared_buckets(), now)
    }

    /// Takes a token from `device`'s KeyPackage claim bucket
    /// (`claim_rate_per_minute`): the cluster's in a cluster, so that a
    /// device gains nothing by claiming through several nodes.
    pub(super) fn check_claim_limit(&self, device: &DeviceId) -> Result<(), RelayError> {
        let shared =
            self.shared_buckets().map(|b| (b, "claim_rate_device", device.as_bytes().as_slice()));
        self.claim_limiter.check_shared(device, shared, Instant::now())?;
        Ok(())
    }

    /// Reads post `seq` of `channel`, announced by another node, and
    /// publishes it to this node's listeners. Returns whether the post was
    /// read (it may have expired or been deleted meanwhile). Blocking.
    pub fn publish_remote_post(&self, channel: &ChannelId, seq: u64) -> Result<bool, StoreError> {
        let limits = PageLimits {
            limit: 1,
            max_bytes: self.limits.channel_page_bytes,
            per_post_overhead: CHANNEL_POST_OVERHEAD,
            now_ms: unix_ms(),
        };
        let page = self.store.channel_posts(channel, seq.saturating_sub(1), limits)?;
        let Some(post) = page.posts.into_iter().next().filter(|p| p.seq == seq) else {
            return Ok(false);
        };
        let pushed = self.listeners.publish(channel, post);
        if pushed.missed > 0 {
            tracing::debug!(missed = pushed.missed, "channel post not pushed to full queues");
        }
        Ok(true)
    }
}
