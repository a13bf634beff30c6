//! The per-account and per-device request limits of a cluster: one token
//! bucket per account (or device) and limit for all nodes, in the
//! database's UNLOGGED table `cluster_buckets`
//! ([`crate::store::pg_cluster`]), so that a client spreading its requests
//! over N nodes gets the one-node budget, not N times it.
//!
//! Cost: a database round trip per request would add one to every send.
//! So a node that sees an account (or device) busy — a second round trip
//! for it within [`LEASE`] — takes tokens in **slices**: one round trip
//! takes up to a second's refill of the bucket (`per_minute / 60`, at
//! least 1, at most [`MAX_SLICE`]) and the node hands them out locally for
//! at most [`LEASE`]. An occasional request takes exactly one token.
//! Tokens are taken from the shared bucket before they are spent, so the
//! cluster never allows more than the bucket holds; a slice left unspent
//! (the burst ended, or the client moved to another node) is lost when
//! the lease runs out, which can refuse an honest client at most a
//! second's refill early per burst, never allow an attacker more. With the
//! defaults (300 sends a minute) one round trip serves up to 5 sends of a
//! burst; a limit below 120 a minute costs one round trip per request.
//!
//! Bounded: the slices live in a map of at most `rate_limit_max_keys`
//! entries, pruned of expired leases; when it is full, the rest of a slice
//! is not kept (the request still gets its token). A database error
//! returns `Err(())` and the caller uses its own in-memory bucket: the
//! limit holds per node while the database is away, as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ratelimit::{RateLimited, SharedBuckets};
use crate::store::pg_cluster::ClusterDb;

/// How long a node may hand out tokens of a slice it took.
pub const LEASE: Duration = Duration::from_secs(1);

/// Most tokens one round trip takes (a lifted limit must not move a whole
/// minute's budget to one node).
pub const MAX_SLICE: u32 = 1000;

struct Slice {
    /// Tokens taken and not yet handed out.
    tokens: u32,
    /// When they may no longer be handed out.
    until: Instant,
}

/// The shared buckets of one node (see the module docs).
pub struct SharedLimits {
    db: ClusterDb,
    slices: Mutex<HashMap<[u8; 16], Slice>>,
    max_keys: usize,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits").finish_non_exhaustive()
    }
}

/// The tokens one round trip takes for a limit of `per_minute`.
pub fn slice_for(per_minute: u32) -> u32 {
    (per_minute / 60).clamp(1, MAX_SLICE)
}

impl SharedLimits {
    /// Buckets in `db`; at most `max_keys` slices held at a time.
    pub fn new(db: ClusterDb, max_keys: usize) -> Self {
        Self { db, slices: Mutex::new(HashMap::new()), max_keys: max_keys.max(1) }
    }

    fn slices(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], Slice>> {
        // A panic elsewhere mid-update leaves at worst a wrong count.
        self.slices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets slices whose lease ran out; returns how many remain.
    pub fn prune(&self, now: Instant) -> usize {
        let mut slices = self.slices();
        slices.retain(|_, s| s.until > now);
        slices.len()
    }
}

impl SharedBuckets for SharedLimits {
    fn take(
        &self,
        limit: &'static str,
        id: &[u8],
        per_minute: u32,
        now: Instant,
    ) -> Result<Result<(), RateLimited>, ()> {
        let key = self.db.limit_key(limit, id);
        // A slice only for a key busy enough to have needed a round trip
        // within the last lease: an occasional request takes one token.
        let busy = {
            let mut slices = self.slices();
            match slices.get_mut(&key) {
                Some(slice) if slice.until > now && slice.tokens > 0 => {
                    slice.tokens -= 1;
                    return Ok(Ok(()));
                }
                Some(slice) => slice.until > now,
                None => false,
            }
        };
        let per_minute = per_minute.max(1);
        let per_sec = f64::from(per_minute) / 60.0;
        let want = if busy { slice_for(per_minute) } else { 1 };
        let (granted, left) = match self.db.take_tokens(key, f64::from(per_minute), per_sec, want) {
            Ok(answer) => answer,
            Err(err) => {
                tracing::warn!(error = %err, "cluster: shared limit not reached, using this node's");
                return Err(());
            }
        };
        if granted == 0 {
            let missing = (1.0 - left).max(0.0);
            return Ok(Err(RateLimited {
                retry_after: Duration::from_secs_f64(missing / per_sec),
            }));
        }
        // The entry also remembers the round trip (a second one within the
        // lease takes a slice), even when nothing of this one is left.
        let slice = Slice { tokens: granted - 1, until: now + LEASE };
        let mut slices = self.slices();
        if slices.len() >= self.max_keys && !slices.contains_key(&key) {
            slices.retain(|_, s| s.until > now);
        }
        if slices.len() < self.max_keys || slices.contains_key(&key) {
            slices.insert(key, slice);
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_a_seconds_refill_within_bounds() {
        assert_eq!(slice_for(3), 1);
        assert_eq!(slice_for(60), 1);
        assert_eq!(slice_for(300), 5);
        assert_eq!(slice_for(100_000_000), MAX_SLICE);
    }
}

/// Against a real PostgreSQL (skipped loudly without one): two nodes'
/// buckets never allow more than the limit together.
#[cfg(test)]
mod pg_tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::PgStore;

    #[test]
    fn two_nodes_together_get_one_nodes_budget() {
        let Some(pg) = crate::store::pg_conformance::cluster() else { return };
        let options = crate::store::pg_conformance::options(pg.create_database());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PgStore::open(&options, dir.path()).unwrap());
        let db = ClusterDb::new(store, options);
        db.prepare().unwrap();
        let (a, b) = (SharedLimits::new(db.clone(), 16), SharedLimits::new(db, 16));
        let started = Instant::now();
        let account = [7u8; 16];
        // 300 a minute (slices of 5 once busy), 400 requests alternating
        // between the nodes as fast as they come.
        let mut allowed = 0u32;
        let mut refused = None;
        for n in 0..400 {
            let node = if n % 2 == 0 { &a } else { &b };
            match node.take("send_rate_account", &account, 300, Instant::now()) {
                Ok(Ok(())) => allowed += 1,
                Ok(Err(limited)) => refused = Some(limited),
                Err(()) => panic!("the database was reachable"),
            }
        }
        // Plus what refilled meanwhile (5 a second).
        let refill = (started.elapsed().as_secs_f64() * 5.0).ceil() as u32;
        assert!(allowed <= 300 + refill, "{allowed} allowed of 300 (+{refill} refilled)");
        // Slices left unspent on the other node cost at most a few tokens.
        assert!(allowed >= 300 - 2 * slice_for(300), "{allowed} allowed");
        let refused = refused.expect("some were refused");
        assert!(refused.retry_after <= Duration::from_millis(200), "{refused:?}");
        // Another account, another limit: their own buckets.
        assert_eq!(a.take("send_rate_account", &[8; 16], 300, Instant::now()), Ok(Ok(())));
        assert_eq!(a.take("upload_rate_account", &account, 300, Instant::now()), Ok(Ok(())));
        assert!(a.prune(Instant::now() + LEASE * 2) == 0);
    }
}
