//! [`PushStore`] on sled: the `push` tree holds `vapid` → version byte and
//! the 32-byte secret, and `s/<stored device id>` → version byte, the
//! owner's blinded account id (32 bytes) and the subscription sealed with
//! that account's key. Version 2 seals created-at (u64 big endian),
//! last-used (u64 big endian), p256dh (65 bytes), auth (16 bytes) and the
//! endpoint (UTF-8, the rest); version 1 (written before
//! `push_subscription_ttl_days`) has no last-used and is read as last used
//! when it was created.

use stadtbote_protocol::DeviceId;
use zeroize::Zeroizing;

use super::StoreError;
use super::push::record::{self, Opened};
use super::push::{PushStore, PushSubscription};
use super::records::RECORD_V1;
use super::shred::Blind;
use super::sled_store::{SledStore, io};

/// The tree's name (also the sealed records' associated data).
pub(super) const PUSH_TREE: &str = record::PUSH;
const VAPID_KEY: &[u8] = b"vapid";
const SUBSCRIPTION_PREFIX: &[u8] = b"s/";

fn corrupt() -> StoreError {
    StoreError::corrupt(PUSH_TREE)
}

impl SledStore {
    fn push_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(PUSH_TREE).map_err(io)
    }

    fn subscription_key(&self, device: &DeviceId) -> Vec<u8> {
        let mut key = SUBSCRIPTION_PREFIX.to_vec();
        key.extend_from_slice(self.sdev(device).as_bytes());
        key
    }

    /// Removes the subscriptions of `devices` (account deletion, devices
    /// dropped from their account's list).
    pub(super) fn forget_push_subscriptions(&self, devices: &[DeviceId]) -> Result<(), StoreError> {
        let tree = self.push_tree()?;
        for device in devices {
            tree.remove(self.subscription_key(device)).map_err(io)?;
        }
        Ok(())
    }

    /// The stored value of a subscription owned by `owner`.
    fn seal_subscription(
        &self,
        owner: &Blind,
        key: &[u8],
        subscription: &PushSubscription,
    ) -> Result<Vec<u8>, StoreError> {
        record::seal(&self.keyring, owner, key, subscription)
    }

    /// Reads a stored subscription value (either version) and its owner.
    fn open_subscription(&self, key: &[u8], value: &[u8]) -> Result<(Blind, Opened), StoreError> {
        record::open(&self.keyring, key, value)
    }
}

impl PushStore for SledStore {
    fn vapid_secret(&self, fresh: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let tree = self.push_tree()?;
        let mut record = Zeroizing::new(Vec::with_capacity(33));
        record.push(RECORD_V1);
        record.extend_from_slice(fresh);
        let stored = match tree
            .compare_and_swap(VAPID_KEY, None as Option<&[u8]>, Some(record.as_slice()))
            .map_err(io)?
        {
            Ok(()) => return Ok(Zeroizing::new(fresh.to_vec())),
            Err(existing) => existing.current.ok_or_else(corrupt)?,
        };
        match stored.split_first() {
            Some((&RECORD_V1, secret)) if secret.len() == 32 => Ok(Zeroizing::new(secret.to_vec())),
            Some((&RECORD_V1, _)) | None => Err(corrupt()),
            Some((&version, _)) => Err(StoreError::unsupported_schema(version)),
        }
    }

    fn put_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &PushSubscription,
    ) -> Result<(), StoreError> {
        let owner = self.device_owner(&self.sdev(device))?.ok_or(StoreError::UnknownDevice)?;
        let key = self.subscription_key(device);
        let value = self.seal_subscription(&owner, &key, subscription)?;
        self.push_tree()?.insert(key, value).map_err(io)?;
        Ok(())
    }

    fn push_subscription(&self, device: &DeviceId) -> Result<Option<PushSubscription>, StoreError> {
        let key = self.subscription_key(device);
        let Some(value) = self.push_tree()?.get(&key).map_err(io)? else { return Ok(None) };
        match self.open_subscription(&key, &value)? {
            (_, Opened::Live(subscription)) => Ok(Some(subscription)),
            (_, Opened::Shredded) => Ok(None),
        }
    }

    fn has_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.push_tree()?.contains_key(self.subscription_key(device)).map_err(io)
    }

    fn delete_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.push_tree()?.remove(self.subscription_key(device)).map_err(io)?.is_some())
    }

    fn push_subscription_used(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError> {
        let tree = self.push_tree()?;
        let key = self.subscription_key(device);
        let Some(old) = tree.get(&key).map_err(io)? else { return Ok(false) };
        let (owner, Opened::Live(mut subscription)) = self.open_subscription(&key, &old)? else {
            return Ok(false);
        };
        subscription.last_used = subscription.last_used.max(now_ms);
        let new = self.seal_subscription(&owner, &key, &subscription)?;
        // Only over the value read: a subscription deleted or replaced
        // meanwhile (unsubscribe, a 410, a new registration) stays so.
        Ok(tree.compare_and_swap(&key, Some(old), Some(new)).map_err(io)?.is_ok())
    }

    fn sweep_push_subscriptions(&self, unused_before_ms: u64) -> Result<u64, StoreError> {
        let tree = self.push_tree()?;
        let mut deleted = 0;
        for entry in tree.scan_prefix(SUBSCRIPTION_PREFIX) {
            let (key, value) = entry.map_err(io)?;
            let stale = match self.open_subscription(&key, &value) {
                Ok((_, Opened::Live(subscription))) => subscription.last_used < unused_before_ms,
                // Unreadable for good: nothing could ever push with it.
                Ok((_, Opened::Shredded)) => true,
                Err(err) => {
                    tracing::warn!(error = %err, "unreadable push subscription skipped by the sweep");
                    false
                }
            };
            if stale
                && tree
                    .compare_and_swap(&key, Some(value), None as Option<&[u8]>)
                    .map_err(io)?
                    .is_ok()
            {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use stadtbote_protocol::auth::DeviceSecret;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn subscriptions_are_sealed_exported_and_shredded_with_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let (account, device) =
            store.create_account(&DeviceSecret::generate().identity_key(), 1).unwrap();
        let endpoint = "https://push.example/wpush/v2/Zm9vYmFyLXN1YnNjcmlwdGlvbi1pZA";
        let subscription = PushSubscription {
            endpoint: endpoint.to_owned(),
            p256dh: [4; 65],
            auth: [9; 16],
            created_at: 77,
            last_used: 77,
        };
        assert!(store.push_subscription(&device).unwrap().is_none());
        store.put_push_subscription(&device, &subscription).unwrap();
        assert_eq!(store.push_subscription(&device).unwrap(), Some(subscription.clone()));
        let export = store.account_export(&account, 2).unwrap();
        let listed = export.devices[0].push_subscription.as_ref().unwrap();
        assert_eq!((listed.endpoint.as_str(), listed.created_at), (endpoint, 77));
        assert!(matches!(
            store.put_push_subscription(&DeviceId([1; 16]), &subscription),
            Err(StoreError::UnknownDevice)
        ));
        store.delete_account(&account).unwrap();
        assert!(store.push_subscription(&device).unwrap().is_none());
        store.flush().unwrap();
        drop(store);
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(!contains(&bytes, endpoint.as_bytes()), "in {}", path.display());
                    assert!(!contains(&bytes, device.as_bytes()), "in {}", path.display());
                }
            }
        }
    }

    #[test]
    fn unused_subscriptions_are_swept_and_old_records_read_as_last_used_when_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let identity = |_| DeviceSecret::generate().identity_key();
        let (_, used) = store.create_account(&identity(0), 1).unwrap();
        let (_, idle) = store.create_account(&identity(1), 1).unwrap();
        let (_, old) = store.create_account(&identity(2), 1).unwrap();
        let subscription = |at| PushSubscription {
            endpoint: "https://push.example/w/abc".to_owned(),
            p256dh: [4; 65],
            auth: [9; 16],
            created_at: at,
            last_used: at,
        };
        store.put_push_subscription(&used, &subscription(1_000)).unwrap();
        store.put_push_subscription(&idle, &subscription(1_000)).unwrap();
        // A record as written before last-used existed (version 1).
        let key = store.subscription_key(&old);
        let owner = store.device_owner(&store.sdev(&old)).unwrap().unwrap();
        let mut plain = 5_000u64.to_be_bytes().to_vec();
        plain.extend_from_slice(&[4; 65]);
        plain.extend_from_slice(&[9; 16]);
        plain.extend_from_slice(b"https://push.example/w/old");
        let mut value = vec![RECORD_V1];
        value.extend_from_slice(owner.as_bytes());
        value.extend_from_slice(&store.keyring.seal(&owner, PUSH_TREE, &key, &plain).unwrap());
        store.push_tree().unwrap().insert(&key, value).unwrap();
        let read = store.push_subscription(&old).unwrap().unwrap();
        assert_eq!((read.created_at, read.last_used), (5_000, 5_000));
        assert_eq!(read.endpoint, "https://push.example/w/old");

        assert!(store.push_subscription_used(&used, 9_000).unwrap());
        assert!(!store.push_subscription_used(&DeviceId([7; 16]), 9_000).unwrap());
        let read = store.push_subscription(&used).unwrap().unwrap();
        assert_eq!((read.created_at, read.last_used), (1_000, 9_000));
        // Nothing unused before 1000; then the idle one; then the old one.
        assert_eq!(store.sweep_push_subscriptions(1_000).unwrap(), 0);
        assert_eq!(store.sweep_push_subscriptions(1_001).unwrap(), 1);
        assert!(!store.has_push_subscription(&idle).unwrap());
        assert!(store.has_push_subscription(&old).unwrap());
        assert_eq!(store.sweep_push_subscriptions(5_001).unwrap(), 1);
        assert!(!store.has_push_subscription(&old).unwrap());
        assert!(store.has_push_subscription(&used).unwrap());
        assert_eq!(store.sweep_push_subscriptions(9_001).unwrap(), 1);
        assert!(store.push_subscription(&used).unwrap().is_none());
    }

    #[test]
    fn the_vapid_secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let first = store.vapid_secret(&[3; 32]).unwrap();
        assert_eq!(first.as_slice(), &[3; 32]);
        assert_eq!(store.vapid_secret(&[5; 32]).unwrap().as_slice(), &[3; 32]);
    }
}
