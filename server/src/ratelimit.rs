//! In-memory token buckets: per connection, per device, per account and per
//! client IP.
//!
//! Nothing here touches the disk; client IP addresses exist only as keys of
//! [`KeyedLimiter`] maps and vanish when the process ends or the bucket is
//! pruned. Every map is capped (`rate_limit_max_keys`): a full bucket is
//! equivalent to no entry, so pruning full buckets loses nothing, and when the
//! map is still full the limiter refuses new keys rather than grow.
//!
//! Several nodes on one database (`crate::cluster`) share the per-account
//! and per-device buckets through [`SharedBuckets`]: with one, those
//! buckets live in the database and the local ones here are the fallback
//! while it cannot be reached. Per-IP buckets always stay in this node's
//! memory (client addresses never reach the database).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stadtbote_protocol::AccountId;

/// A refused request: when a retry may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry after {retry_after:?}")]
pub struct RateLimited {
    /// Time until one token is available again.
    pub retry_after: Duration,
}

impl RateLimited {
    /// [`Self::retry_after`] in whole milliseconds, rounded up.
    pub fn retry_after_ms(&self) -> u64 {
        let ms = self.retry_after.as_micros().div_ceil(1000);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// A classic token bucket: holds up to `capacity` tokens, refills at
/// `per_sec` tokens per second, and each request takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_sec: f64, now: Instant) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self { capacity, per_sec: per_sec.max(f64::MIN_POSITIVE), tokens: capacity, updated: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), RateLimited> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(RateLimited { retry_after: Duration::from_secs_f64(missing / self.per_sec) })
        }
    }

    /// Whether the bucket has refilled completely (and so carries no state).
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * self.per_sec >= self.capacity
    }
}

/// Per-account and per-device buckets that several nodes share (in a
/// cluster: the database, see `crate::cluster::limits`).
pub trait SharedBuckets: Send + Sync {
    /// Takes one token from the bucket `limit` of `id` (an account or device
    /// id), which allows `per_minute` requests a minute, all in a burst.
    /// `Ok(Err(_))` is a refusal; `Err(())` means the shared state could not
    /// be reached and the caller falls back to its own bucket.
    #[allow(clippy::result_unit_err)]
    fn take(
        &self,
        limit: &'static str,
        id: &[u8],
        per_minute: u32,
        now: Instant,
    ) -> Result<Result<(), RateLimited>, ()>;
}

/// Token buckets keyed by device, IP prefix, …, with a cap on the number of keys.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    buckets: Mutex<HashMap<K, TokenBucket>>,
    capacity: u32,
    per_sec: f64,
    max_keys: usize,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    /// Allows `per_minute` requests per key per minute, all of them in a burst.
    pub fn per_minute(per_minute: u32, max_keys: usize) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            capacity: per_minute.max(1),
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            max_keys: max_keys.max(1),
        }
    }

    /// The requests allowed per key per minute.
    pub fn rate_per_minute(&self) -> u32 {
        self.capacity
    }

    /// Takes a token for `key` from `shared` (keyed there by `name` and
    /// `id`, the key's bytes) when there is one and it can be reached, else
    /// from this limiter's own bucket.
    pub fn check_shared(
        &self,
        key: &K,
        shared: Option<(&dyn SharedBuckets, &'static str, &[u8])>,
        now: Instant,
    ) -> Result<(), RateLimited> {
        if let Some((buckets, name, id)) = shared
            && let Ok(answer) = buckets.take(name, id, self.capacity, now)
        {
            return answer;
        }
        self.check(key, now)
    }

    /// Takes a token for `key`.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), RateLimited> {
        // A poisoned lock only means another thread panicked mid-update of a
        // counter; the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            return bucket.try_take(now);
        }
        if buckets.len() >= self.max_keys {
            buckets.retain(|_, b| !b.is_full(now));
            if buckets.len() >= self.max_keys {
                return Err(RateLimited {
                    retry_after: Duration::from_secs_f64(1.0 / self.per_sec),
                });
            }
        }
        let mut bucket = TokenBucket::new(self.capacity, self.per_sec, now);
        let result = bucket.try_take(now);
        buckets.insert(key.clone(), bucket);
        result
    }

    /// Forgets buckets that have refilled completely; returns how many remain.
    pub fn prune(&self, now: Instant) -> usize {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|_, b| !b.is_full(now));
        buckets.len()
    }
}

/// What a per-account and per-IP limit counts. Each has its own pair of
/// buckets, so that a flood of one kind never starves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `send`: messages stored for other devices.
    Send,
    /// `claim_key_packages` and `claim_device_key_packages`.
    Claim,
    /// `upload_start`: new attachments.
    Upload,
    /// `channel_fetch` and `channel_listen`: reading channels, which needs no
    /// account and so is limited per IP only.
    ChannelPull,
}

/// A refused request and which limit refused it (a fixed name, used as the
/// `limit` label of `stadtbote_limit_hits_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit}: {limited}")]
pub struct LimitHit {
    /// The limit's name, e.g. `send_rate_account`.
    pub limit: &'static str,
    /// When a retry may succeed.
    pub limited: RateLimited,
}

/// Requests per minute allowed for one [`Action`], per account and per IP
/// (0 disables that side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionRates {
    /// Per account, summed over all of its devices.
    pub per_account: u32,
    /// Per client IP (IPv6: per /64).
    pub per_ip: u32,
}

/// A limiter allowing `rate` requests per minute, or none when `rate` is 0.
fn keyed<K: Eq + Hash + Clone>(rate: u32, max_keys: usize) -> Option<KeyedLimiter<K>> {
    (rate > 0).then(|| KeyedLimiter::per_minute(rate, max_keys))
}

/// One action's buckets.
#[derive(Debug)]
struct ActionLimiter {
    account: Option<KeyedLimiter<AccountId>>,
    ip: Option<KeyedLimiter<IpKey>>,
    account_name: &'static str,
    ip_name: &'static str,
}

impl ActionLimiter {
    fn new(rates: ActionRates, max_keys: usize, names: (&'static str, &'static str)) -> Self {
        Self {
            account: keyed(rates.per_account, max_keys),
            ip: keyed(rates.per_ip, max_keys),
            account_name: names.0,
            ip_name: names.1,
        }
    }

    fn check(
        &self,
        account: Option<&AccountId>,
        ip: &IpKey,
        shared: Option<&dyn SharedBuckets>,
        now: Instant,
    ) -> Result<(), LimitHit> {
        // The IP bucket first: an attacker rotating accounts behind one
        // address is stopped without touching any account's bucket.
        if let Some(limiter) = &self.ip {
            limiter.check(ip, now).map_err(|limited| LimitHit { limit: self.ip_name, limited })?;
        }
        if let (Some(limiter), Some(account)) = (&self.account, account) {
            let shared = shared.map(|b| (b, self.account_name, account.as_bytes().as_slice()));
            limiter
                .check_shared(account, shared, now)
                .map_err(|limited| LimitHit { limit: self.account_name, limited })?;
        }
        Ok(())
    }

    fn prune(&self, now: Instant) -> usize {
        self.account.as_ref().map_or(0, |l| l.prune(now))
            + self.ip.as_ref().map_or(0, |l| l.prune(now))
    }
}

/// The per-account and per-IP limits of sends, KeyPackage claims, uploads
/// and channel pulls, shared by all connections (memory only).
#[derive(Debug)]
pub struct RequestLimiters {
    send: ActionLimiter,
    claim: ActionLimiter,
    upload: ActionLimiter,
    channel_pull: ActionLimiter,
}

impl RequestLimiters {
    /// Limiters with the given rates; each map holds at most `max_keys` keys.
    pub fn new(
        send: ActionRates,
        claim: ActionRates,
        upload: ActionRates,
        channel_pull_per_ip: u32,
        max_keys: usize,
    ) -> Self {
        Self {
            send: ActionLimiter::new(send, max_keys, ("send_rate_account", "send_rate_ip")),
            claim: ActionLimiter::new(claim, max_keys, ("claim_rate_account", "claim_rate_ip")),
            upload: ActionLimiter::new(upload, max_keys, ("upload_rate_account", "upload_rate_ip")),
            channel_pull: ActionLimiter::new(
                ActionRates { per_account: 0, per_ip: channel_pull_per_ip },
                max_keys,
                ("channel_pull_rate_account", "channel_pull_rate_ip"),
            ),
        }
    }

    /// The limiters a configuration asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(
            ActionRates {
                per_account: config.send_rate_per_minute_per_account,
                per_ip: config.send_rate_per_minute_per_ip,
            },
            ActionRates {
                per_account: config.claim_rate_per_minute_per_account,
                per_ip: config.claim_rate_per_minute_per_ip,
            },
            ActionRates {
                per_account: config.upload_rate_per_minute_per_account,
                per_ip: config.upload_rate_per_minute_per_ip,
            },
            config.channel_pull_rate_per_minute_per_ip,
            config.rate_limit_max_keys,
        )
    }

    /// Takes a token for `action` from the IP's bucket and, when the
    /// connection is authenticated, from the account's.
    pub fn check(
        &self,
        action: Action,
        account: Option<&AccountId>,
        ip: &IpKey,
        now: Instant,
    ) -> Result<(), LimitHit> {
        self.check_shared(action, account, ip, None, now)
    }

    /// [`Self::check`], with the account's bucket taken from `shared` when
    /// given (several nodes on one database).
    pub fn check_shared(
        &self,
        action: Action,
        account: Option<&AccountId>,
        ip: &IpKey,
        shared: Option<&dyn SharedBuckets>,
        now: Instant,
    ) -> Result<(), LimitHit> {
        let limiter = match action {
            Action::Send => &self.send,
            Action::Claim => &self.claim,
            Action::Upload => &self.upload,
            Action::ChannelPull => &self.channel_pull,
        };
        limiter.check(account, ip, shared, now)
    }

    /// Forgets buckets that refilled completely; returns how many remain.
    pub fn prune(&self, now: Instant) -> usize {
        self.send.prune(now)
            + self.claim.prune(now)
            + self.upload.prune(now)
            + self.channel_pull.prune(now)
    }
}

/// The rate-limit key for a client address: the IPv4 address, or the /64
/// prefix of an IPv6 address (one subscriber usually has a whole /64, so
/// per-address limits would be trivially evaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpKey([u8; 16]);

impl IpKey {
    /// The key for `ip`.
    pub fn of(ip: IpAddr) -> Self {
        let mut key = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => key[12..].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => key[12..].copy_from_slice(&v4.octets()),
                None => {
                    key[..8].copy_from_slice(&v6.octets()[..8]);
                    key[8] = 0xff;
                }
            },
        }
        Self(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(3, 1.0, t0);
        for _ in 0..3 {
            bucket.try_take(t0).unwrap();
        }
        let err = bucket.try_take(t0).unwrap_err();
        assert_eq!(err.retry_after_ms(), 1000);
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_err());
        bucket.try_take(t0 + Duration::from_millis(1000)).unwrap();
        // Refill never exceeds the capacity.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            bucket.try_take(later).unwrap();
        }
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn keyed_limiter_is_per_key() {
        let t0 = Instant::now();
        let limiter = KeyedLimiter::per_minute(2, 100);
        limiter.check(&1, t0).unwrap();
        limiter.check(&1, t0).unwrap();
        let err = limiter.check(&1, t0).unwrap_err();
        assert_eq!(err.retry_after_ms(), 30_000);
        limiter.check(&2, t0).unwrap();
        limiter.check(&1, t0 + Duration::from_secs(30)).unwrap();
    }

    #[test]
    fn keyed_limiter_is_bounded_and_prunes_full_buckets() {
        let t0 = Instant::now();
        let limiter = KeyedLimiter::per_minute(1, 2);
        limiter.check(&1, t0).unwrap();
        limiter.check(&2, t0).unwrap();
        // Full map, nothing refilled yet: new keys are refused, not added.
        assert!(limiter.check(&3, t0).is_err());
        // After a minute both buckets are full again and can be forgotten.
        let later = t0 + Duration::from_secs(61);
        limiter.check(&3, later).unwrap();
        assert_eq!(limiter.prune(later), 1);
        assert_eq!(limiter.prune(later + Duration::from_secs(61)), 0);
    }

    fn limiters() -> RequestLimiters {
        RequestLimiters::new(
            ActionRates { per_account: 2, per_ip: 3 },
            ActionRates { per_account: 0, per_ip: 0 },
            ActionRates { per_account: 1, per_ip: 0 },
            1,
            100,
        )
    }

    #[test]
    fn send_limit_spans_an_accounts_devices_and_an_ip() {
        let t0 = Instant::now();
        let l = limiters();
        let (a, b) = (AccountId([1; 16]), AccountId([2; 16]));
        let ip1 = IpKey::of("192.0.2.1".parse().unwrap());
        let ip2 = IpKey::of("192.0.2.2".parse().unwrap());
        // Two devices of account `a` on different addresses share its bucket.
        l.check(Action::Send, Some(&a), &ip1, t0).unwrap();
        l.check(Action::Send, Some(&a), &ip2, t0).unwrap();
        let hit = l.check(Action::Send, Some(&a), &ip1, t0).unwrap_err();
        assert_eq!(hit.limit, "send_rate_account");
        assert_eq!(hit.limited.retry_after_ms(), 30_000);
        // Another account behind the same address runs into the IP bucket
        // (ip1 has spent two of its three tokens).
        l.check(Action::Send, Some(&b), &ip1, t0).unwrap();
        let hit = l.check(Action::Send, Some(&b), &ip1, t0).unwrap_err();
        assert_eq!(hit.limit, "send_rate_ip");
        // Refilled after a minute.
        l.check(Action::Send, Some(&a), &ip1, t0 + Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn zero_disables_and_actions_are_separate() {
        let t0 = Instant::now();
        let l = limiters();
        let a = AccountId([1; 16]);
        let ip = IpKey::of("192.0.2.1".parse().unwrap());
        for _ in 0..100 {
            l.check(Action::Claim, Some(&a), &ip, t0).unwrap();
        }
        l.check(Action::Upload, Some(&a), &ip, t0).unwrap();
        assert_eq!(
            l.check(Action::Upload, Some(&a), &ip, t0).unwrap_err().limit,
            "upload_rate_account"
        );
        // Unauthenticated uploads are only limited per IP, which is off here.
        l.check(Action::Upload, None, &ip, t0).unwrap();
        // Channel pulls have no account side; the IP bucket holds one.
        l.check(Action::ChannelPull, None, &ip, t0).unwrap();
        assert_eq!(
            l.check(Action::ChannelPull, Some(&a), &ip, t0).unwrap_err().limit,
            "channel_pull_rate_ip"
        );
        // The send bucket was never touched by all of that.
        l.check(Action::Send, Some(&a), &ip, t0).unwrap();
        assert!(l.prune(t0) > 0);
        assert_eq!(l.prune(t0 + Duration::from_secs(3600)), 0);
    }

    #[test]
    fn ipv6_is_keyed_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(IpKey::of(a), IpKey::of(b));
        assert_ne!(IpKey::of(a), IpKey::of(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(IpKey::of(v4), IpKey::of(mapped));
    }
}
