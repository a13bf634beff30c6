//! Storage of Web Push state: each device's push subscription (endpoint
//! URL, the browser's public key and auth secret) and the server's VAPID
//! secret.
//!
//! A subscription is personal data: the endpoint names one browser at one
//! push service. The sled backend seals it with the account's shredding
//! key ([`super::shred`]), under the device's keyed id, so the files hold
//! neither the URL nor the device id in the clear and a deleted account's
//! subscriptions cannot be read from old log segments either.

use stadtbote_protocol::DeviceId;

use super::StoreError;

/// Length of a browser's P-256 public key (uncompressed point).
pub const P256DH_LEN: usize = 65;
/// Length of a subscription's auth secret.
pub const AUTH_LEN: usize = 16;

/// A device's Web Push subscription.
#[derive(Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The push service URL (checked against the allow-list when stored).
    pub endpoint: String,
    /// The browser's public key.
    pub p256dh: [u8; P256DH_LEN],
    /// The browser's auth secret.
    pub auth: [u8; AUTH_LEN],
    /// When it was registered (Unix ms).
    pub created_at: u64,
    /// When it was last registered again or accepted a push (Unix ms);
    /// unused for `push_subscription_ttl_days`, the sweeper deletes it.
    pub last_used: u64,
}

impl std::fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The endpoint and keys stay out of debug output (and so of logs).
        f.debug_struct("PushSubscription")
            .field("created_at", &self.created_at)
            .field("last_used", &self.last_used)
            .finish_non_exhaustive()
    }
}

/// Web Push subscriptions and the VAPID secret.
pub trait PushStore {
    /// The stored VAPID secret, or `fresh` stored as it when there is none
    /// yet (in one compare-and-swap: two starts never end up with two keys).
    fn vapid_secret(&self, fresh: &[u8; 32]) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError>;

    /// Stores (or replaces) `device`'s subscription;
    /// [`StoreError::UnknownDevice`] if the device does not exist.
    fn put_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &PushSubscription,
    ) -> Result<(), StoreError>;

    /// `device`'s subscription, if any (none once its account is deleted).
    fn push_subscription(&self, device: &DeviceId) -> Result<Option<PushSubscription>, StoreError>;

    /// Whether `device` has a subscription (a key look-up, for the send
    /// path; nothing is decrypted).
    fn has_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Removes `device`'s subscription; whether there was one.
    fn delete_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Records that the push service accepted a push for `device`'s
    /// subscription at `now_ms` (its last use); whether it was updated. A
    /// subscription deleted or replaced meanwhile is left alone.
    fn push_subscription_used(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError>;

    /// Deletes every subscription last used before `unused_before_ms`
    /// (and any its deleted account left unreadable); how many.
    fn sweep_push_subscriptions(&self, unused_before_ms: u64) -> Result<u64, StoreError>;
}
