//! [`PushStore`] on sled: the `push` tree holds `vapid` → version byte and
//! the 32-byte secret, and `s/<stored device id>` → version byte, the
//! owner's blinded account id (32 bytes) and the subscription sealed with
//! that account's key: created-at (u64 big endian), p256dh (65 bytes),
//! auth (16 bytes), endpoint (UTF-8, the rest).

use stadtbote_protocol::DeviceId;
use zeroize::Zeroizing;

use super::StoreError;
use super::push::{AUTH_LEN, P256DH_LEN, PushStore, PushSubscription};
use super::records::RECORD_V1;
use super::shred::Blind;
use super::sled_store::{SledStore, io};

/// The tree's name (also the sealed records' associated data).
pub(super) const PUSH_TREE: &str = "push";
const VAPID_KEY: &[u8] = b"vapid";
const SUBSCRIPTION_PREFIX: &[u8] = b"s/";

fn corrupt() -> StoreError {
    StoreError::Corrupt(PUSH_TREE)
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
            Some((&version, _)) => Err(StoreError::UnsupportedSchema(version)),
        }
    }

    fn put_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &PushSubscription,
    ) -> Result<(), StoreError> {
        let owner = self.device_owner(&self.sdev(device))?.ok_or(StoreError::UnknownDevice)?;
        let key = self.subscription_key(device);
        let mut plain = Zeroizing::new(Vec::with_capacity(
            8 + P256DH_LEN + AUTH_LEN + subscription.endpoint.len(),
        ));
        plain.extend_from_slice(&subscription.created_at.to_be_bytes());
        plain.extend_from_slice(&subscription.p256dh);
        plain.extend_from_slice(&subscription.auth);
        plain.extend_from_slice(subscription.endpoint.as_bytes());
        let sealed = self.keyring.seal(&owner, PUSH_TREE, &key, &plain)?;
        let mut value = Vec::with_capacity(1 + 32 + sealed.len());
        value.push(RECORD_V1);
        value.extend_from_slice(owner.as_bytes());
        value.extend_from_slice(&sealed);
        self.push_tree()?.insert(key, value).map_err(io)?;
        Ok(())
    }

    fn push_subscription(&self, device: &DeviceId) -> Result<Option<PushSubscription>, StoreError> {
        let key = self.subscription_key(device);
        let Some(value) = self.push_tree()?.get(&key).map_err(io)? else { return Ok(None) };
        let (&version, rest) = value.split_first().ok_or_else(corrupt)?;
        if version != RECORD_V1 {
            return Err(StoreError::UnsupportedSchema(version));
        }
        let (owner, sealed) = rest.split_at_checked(32).ok_or_else(corrupt)?;
        let owner = Blind(<[u8; 32]>::try_from(owner).map_err(|_| corrupt())?);
        let Some(plain) = self.keyring.open_sealed(&owner, PUSH_TREE, &key, sealed)? else {
            // The account was deleted (its key destroyed).
            return Ok(None);
        };
        let (created_at, rest) = plain.split_at_checked(8).ok_or_else(corrupt)?;
        let (p256dh, rest) = rest.split_at_checked(P256DH_LEN).ok_or_else(corrupt)?;
        let (auth, endpoint) = rest.split_at_checked(AUTH_LEN).ok_or_else(corrupt)?;
        Ok(Some(PushSubscription {
            endpoint: String::from_utf8(endpoint.to_vec()).map_err(|_| corrupt())?,
            p256dh: p256dh.try_into().map_err(|_| corrupt())?,
            auth: auth.try_into().map_err(|_| corrupt())?,
            created_at: u64::from_be_bytes(created_at.try_into().map_err(|_| corrupt())?),
        }))
    }

    fn has_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.push_tree()?.contains_key(self.subscription_key(device)).map_err(io)
    }

    fn delete_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.push_tree()?.remove(self.subscription_key(device)).map_err(io)?.is_some())
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
    fn the_vapid_secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let first = store.vapid_secret(&[3; 32]).unwrap();
        assert_eq!(first.as_slice(), &[3; 32]);
        assert_eq!(store.vapid_secret(&[5; 32]).unwrap().as_slice(), &[3; 32]);
    }
}
