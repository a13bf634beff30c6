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

/// The stored form of a subscription, the same in every backend: a version
/// byte, the owner's blinded account id (32 bytes) and the subscription
/// sealed with that account's key (`PUSH` as the collection). Version 2
/// seals created-at (u64 big endian), last-used (u64 big endian), p256dh
/// (65 bytes), auth (16 bytes) and the endpoint (UTF-8, the rest); version
/// 1 (written before `push_subscription_ttl_days`) has no last-used and is
/// read as last used when it was created.
pub(super) mod record {
    use zeroize::Zeroizing;

    use super::{AUTH_LEN, P256DH_LEN, PushSubscription};
    use crate::store::StoreError;
    use crate::store::records::RECORD_V1;
    use crate::store::shred::{Blind, Keyring};

    /// The collection's name (also the sealed records' associated data).
    pub(in crate::store) const PUSH: &str = "push";
    /// A subscription record with its last-used time.
    const SUBSCRIPTION_V2: u8 = 2;

    fn corrupt() -> StoreError {
        StoreError::corrupt(PUSH)
    }

    /// What [`open`] found under a key.
    pub(in crate::store) enum Opened {
        /// The subscription.
        Live(PushSubscription),
        /// The owner's account was deleted (its key destroyed): unreadable.
        Shredded,
    }

    /// The stored value of a subscription owned by `owner` under `key`.
    pub(in crate::store) fn seal(
        keyring: &Keyring,
        owner: &Blind,
        key: &[u8],
        subscription: &PushSubscription,
    ) -> Result<Vec<u8>, StoreError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(
            16 + P256DH_LEN + AUTH_LEN + subscription.endpoint.len(),
        ));
        plain.extend_from_slice(&subscription.created_at.to_be_bytes());
        plain.extend_from_slice(&subscription.last_used.to_be_bytes());
        plain.extend_from_slice(&subscription.p256dh);
        plain.extend_from_slice(&subscription.auth);
        plain.extend_from_slice(subscription.endpoint.as_bytes());
        let sealed = keyring.seal(owner, PUSH, key, &plain)?;
        let mut value = Vec::with_capacity(1 + 32 + sealed.len());
        value.push(SUBSCRIPTION_V2);
        value.extend_from_slice(owner.as_bytes());
        value.extend_from_slice(&sealed);
        Ok(value)
    }

    /// Reads a stored subscription value (either version) and its owner.
    pub(in crate::store) fn open(
        keyring: &Keyring,
        key: &[u8],
        value: &[u8],
    ) -> Result<(Blind, Opened), StoreError> {
        let (&version, rest) = value.split_first().ok_or_else(corrupt)?;
        if version != RECORD_V1 && version != SUBSCRIPTION_V2 {
            return Err(StoreError::unsupported_schema(version));
        }
        let (owner, sealed) = rest.split_at_checked(32).ok_or_else(corrupt)?;
        let owner = Blind(<[u8; 32]>::try_from(owner).map_err(|_| corrupt())?);
        let Some(plain) = keyring.open_sealed(&owner, PUSH, key, sealed)? else {
            return Ok((owner, Opened::Shredded));
        };
        let (created_at, rest) = plain.split_at_checked(8).ok_or_else(corrupt)?;
        let created_at = u64::from_be_bytes(created_at.try_into().map_err(|_| corrupt())?);
        let (last_used, rest) = if version == SUBSCRIPTION_V2 {
            let (last_used, rest) = rest.split_at_checked(8).ok_or_else(corrupt)?;
            (u64::from_be_bytes(last_used.try_into().map_err(|_| corrupt())?), rest)
        } else {
            (created_at, rest)
        };
        let (p256dh, rest) = rest.split_at_checked(P256DH_LEN).ok_or_else(corrupt)?;
        let (auth, endpoint) = rest.split_at_checked(AUTH_LEN).ok_or_else(corrupt)?;
        let subscription = PushSubscription {
            endpoint: String::from_utf8(endpoint.to_vec()).map_err(|_| corrupt())?,
            p256dh: p256dh.try_into().map_err(|_| corrupt())?,
            auth: auth.try_into().map_err(|_| corrupt())?,
            created_at,
            last_used,
        };
        Ok((owner, Opened::Live(subscription)))
    }
}
