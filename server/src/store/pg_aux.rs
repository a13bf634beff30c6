//! Attachments' metadata, push subscriptions, device lists and link slots,
//! settings and the audit log on PostgreSQL: ports of the sled modules of
//! the same concerns (`sled_blob`, `sled_push`, `sled_device_list`,
//! `sled_settings`, `sled_audit`) onto the key-value collections of
//! [`super::pg_kv`], with the same keys, record encodings and sealing. One
//! serializable transaction per method replaces sled's transactions,
//! compare-and-swaps and in-process locks.
//!
//! Attachment bytes are not here: they stay files under the data
//! directory (`crate::blobs`); several nodes must share that directory
//! (docs/OPERATIONS.md).

use std::collections::BTreeSet;

use stadtbote_protocol::audit::{AuditEntry, AuditHead, AuditRecord, seal};
use stadtbote_protocol::totp::Secret;
use stadtbote_protocol::{AccountId, BlobId, DeviceId, OrgId};
use zeroize::Zeroizing;

use super::audit::{AuditDraft, AuditPage, AuditStore};
use super::blob::{BlobRecord, BlobStore};
use super::device_list::DeviceListStore;
use super::pg_pool::Session;
use super::pg_store::PgStore;
use super::push::record::{self as push_record, Opened};
use super::push::{PushStore, PushSubscription};
use super::records::{self, Owner, RECORD_V1, StoredBlob};
use super::settings::{FactorOwner, FactorRecord, SettingsStore};
use super::shred::Blind;
use super::{StoreError, rules};

const BLOBS: &str = "blobs";
const BLOB_USAGE: &str = "blob_usage";
const BLOB_EXPIRY: &str = "blob_expiry";
const PUSH: &str = "push";
const VAPID_KEY: &[u8] = b"vapid";
const SUBSCRIPTION_PREFIX: &[u8] = b"s/";
const LISTS: &str = "device_lists";
const SLOTS: &str = "link_slots";
const LIST_FORMAT: u8 = 1;
const SETTINGS: &str = "settings";
const RETENTION_PREFIX: &[u8] = b"retention/";
const ADMIN_FACTOR_PREFIX: &[u8] = b"factor/a/";
pub(super) const AUDIT: &str = "audit";
const HEAD_KEY: &[u8] = b"head";
const ANCHOR_KEY: &[u8] = b"anchor";
const RECORD_PREFIX: u8 = b'r';
pub(super) const ADMINS: &str = "admins";
pub(super) const ADMIN_CLAIM: &str = "admin_claim";
pub(super) const ADMIN_CLAIM_KEY: &[u8] = b"code";
pub(super) const ORGS: &str = "orgs";

impl PgStore {
    pub(super) fn seal_owner(
        &self,
        account: &AccountId,
        tree: &str,
        key: &[u8],
    ) -> Result<Owner, StoreError> {
        let (blind, sealed) = self.keyring.seal_account(account, tree, key)?;
        Ok(Owner { blind, sealed })
    }

    pub(super) fn open_owner(
        &self,
        owner: &Owner,
        tree: &'static str,
        key: &[u8],
    ) -> Result<Option<AccountId>, StoreError> {
        self.keyring.open_account(&owner.blind, &owner.sealed, tree, key)
    }

    /// The account's uploads with their records (owner opened).
    pub(super) fn blobs_of(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(BlobId, BlobRecord)>, StoreError> {
        let blind = self.keyring.blind(account);
        let all = self.kv(|s| s.iter(BLOBS))?;
        let mut out = Vec::new();
        for (key, value) in all {
            let stored = records::decode_blob(&value)?;
            if stored.owner.blind == blind {
                let blob = BlobId::from_slice(&key).map_err(|_| StoreError::corrupt(BLOBS))?;
                out.push((blob, BlobRecord { owner: *account, ..stored.record }));
            }
        }
        Ok(out)
    }

    fn blob_any_owner(&self, blob: &BlobId, stored: StoredBlob) -> Result<BlobRecord, StoreError> {
        let record = stored.record;
        let owner = self.open_owner(&stored.owner, BLOBS, blob.as_bytes())?;
        Ok(owner.map(|owner| BlobRecord { owner, ..record }).unwrap_or(record))
    }

    fn subscription_key(&self, device: &DeviceId) -> Vec<u8> {
        let mut key = SUBSCRIPTION_PREFIX.to_vec();
        key.extend_from_slice(self.keyring.device(device).as_bytes());
        key
    }

    /// The blinded account of a device, if it exists.
    fn device_blind(&self, device: &DeviceId) -> Result<Option<Blind>, StoreError> {
        let kdev = self.keyring.device(device).as_bytes().to_vec();
        self.kv(|s| {
            let rows = s.query(
                "SELECT blind FROM devices WHERE kdev = $1",
                vec![super::pg_pool::Param::Bytes(kdev.clone())],
            )?;
            match rows.first() {
                Some(r) => {
                    let b: &[u8] = r.get(0);
                    Ok(Some(Blind(b.try_into().map_err(|_| StoreError::corrupt("devices"))?)))
                }
                None => Ok(None),
            }
        })
    }

    /// Deletes the account's device list and link slots (account deletion).
    pub(super) fn forget_device_data(&self, blind: &Blind) -> Result<(), StoreError> {
        self.kv(|s| {
            s.remove(LISTS, blind.as_bytes())?;
            for (key, value) in s.iter(SLOTS)? {
                if value.get(9..41) == Some(blind.as_bytes().as_slice()) {
                    s.remove(SLOTS, &key)?;
                }
            }
            Ok(())
        })
    }

    /// Deletes expired link slots; returns how many.
    pub(super) fn sweep_link_slots(&self, now_ms: u64) -> Result<u64, StoreError> {
        self.kv(|s| {
            let mut deleted = 0;
            for (key, value) in s.iter(SLOTS)? {
                if slot_expiry(&value).is_none_or(|at| at <= now_ms) {
                    s.remove(SLOTS, &key)?;
                    deleted += 1;
                }
            }
            Ok(deleted)
        })
    }

    /// Deletes the devices' push subscriptions.
    pub(super) fn forget_push_subscriptions(&self, devices: &[DeviceId]) -> Result<(), StoreError> {
        let keys: Vec<Vec<u8>> = devices.iter().map(|d| self.subscription_key(d)).collect();
        self.kv(|s| {
            for key in &keys {
                s.remove(PUSH, key)?;
            }
            Ok(())
        })
    }

    /// Deletes an upload's metadata and releases its quota charge.
    pub(super) fn delete_blob_in(
        s: &mut Session,
        blob: &BlobId,
    ) -> Result<Option<StoredBlob>, StoreError> {
        let Some(bytes) = s.remove(BLOBS, blob.as_bytes())? else { return Ok(None) };
        let stored = records::decode_blob(&bytes)?;
        let record = &stored.record;
        s.remove(BLOB_EXPIRY, &records::time_id_key(record.expires_at, blob.as_bytes()))?;
        let owner = &stored.owner.blind;
        let left = usage_in(s, owner)?.saturating_sub(record.charged);
        if left == 0 {
            s.remove(BLOB_USAGE, owner.as_bytes())?;
        } else {
            s.insert(BLOB_USAGE, owner.as_bytes(), &records::encode_u64(left))?;
        }
        Ok(Some(stored))
    }
}

fn usage_in(s: &mut Session, account: &Blind) -> Result<u64, StoreError> {
    match s.get(BLOB_USAGE, account.as_bytes())? {
        Some(bytes) => records::decode_u64(&bytes, BLOB_USAGE),
        None => Ok(0),
    }
}

fn blob_in(s: &mut Session, blob: &BlobId) -> Result<StoredBlob, StoreError> {
    match s.get(BLOBS, blob.as_bytes())? {
        Some(bytes) => records::decode_blob(&bytes),
        None => Err(StoreError::UnknownBlob),
    }
}

fn slot_expiry(value: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = value.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

impl BlobStore for PgStore {
    fn create_blob(
        &self,
        blob: &BlobId,
        record: &BlobRecord,
        quota: u64,
    ) -> Result<(), StoreError> {
        let owner = self.seal_owner(&record.owner, BLOBS, blob.as_bytes())?;
        self.kv(|s| {
            if s.contains_key(BLOBS, blob.as_bytes())? {
                return Err(StoreError::contention());
            }
            let used = usage_in(s, &owner.blind)?;
            let total = rules::blob::charge(used, record.charged, quota)?;
            s.insert(BLOB_USAGE, owner.blind.as_bytes(), &records::encode_u64(total))?;
            let stored = StoredBlob { owner, record: *record };
            s.insert(BLOBS, blob.as_bytes(), &records::encode_blob(&stored))?;
            s.insert(BLOB_EXPIRY, &records::time_id_key(record.expires_at, blob.as_bytes()), &[])?;
            Ok(())
        })
    }

    fn blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        let Some(bytes) = self.kv(|s| s.get(BLOBS, blob.as_bytes()))? else { return Ok(None) };
        let stored = records::decode_blob(&bytes)?;
        let owner = self.open_owner(&stored.owner, BLOBS, blob.as_bytes())?;
        Ok(owner.map(|owner| BlobRecord { owner, ..stored.record }))
    }

    fn record_blob_chunks(&self, blob: &BlobId, count: u32) -> Result<BlobRecord, StoreError> {
        let stored = self.kv(|s| {
            let mut stored = blob_in(s, blob)?;
            rules::blob::check_chunks(&stored.record, count)?;
            stored.record.chunks_received = count;
            s.insert(BLOBS, blob.as_bytes(), &records::encode_blob(&stored))?;
            Ok(stored)
        })?;
        self.blob_any_owner(blob, stored)
    }

    fn complete_blob(&self, blob: &BlobId, expires_at: u64) -> Result<BlobRecord, StoreError> {
        let stored = self.kv(|s| {
            let mut stored = blob_in(s, blob)?;
            if !rules::blob::may_complete(&stored.record)? {
                return Ok(stored);
            }
            let record = &mut stored.record;
            s.remove(BLOB_EXPIRY, &records::time_id_key(record.expires_at, blob.as_bytes()))?;
            record.complete = true;
            record.expires_at = expires_at;
            s.insert(BLOB_EXPIRY, &records::time_id_key(expires_at, blob.as_bytes()), &[])?;
            s.insert(BLOBS, blob.as_bytes(), &records::encode_blob(&stored))?;
            Ok(stored)
        })?;
        self.blob_any_owner(blob, stored)
    }

    fn delete_blob(&self, blob: &BlobId) -> Result<Option<BlobRecord>, StoreError> {
        let stored = self.kv(|s| Self::delete_blob_in(s, blob))?;
        stored.map(|stored| self.blob_any_owner(blob, stored)).transpose()
    }

    fn expired_blobs(&self, now_ms: u64, limit: usize) -> Result<Vec<BlobId>, StoreError> {
        let end = records::time_id_key(now_ms, &[0; 16]);
        let keys = self.kv(|s| s.range(BLOB_EXPIRY, &[], Some(&end), Some(limit)))?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let (_, blob) = records::split_seq_id(&key)?;
            out.push(BlobId(blob));
        }
        Ok(out)
    }

    fn blob_usage(&self, account: &AccountId) -> Result<u64, StoreError> {
        let blind = self.keyring.blind(account);
        self.kv(|s| usage_in(s, &blind))
    }
}

fn push_corrupt() -> StoreError {
    StoreError::corrupt(PUSH)
}

impl PushStore for PgStore {
    fn vapid_secret(&self, fresh: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let stored = self.kv(|s| {
            if let Some(existing) = s.get(PUSH, VAPID_KEY)? {
                return Ok(Zeroizing::new(existing));
            }
            let mut record = Zeroizing::new(Vec::with_capacity(33));
            record.push(RECORD_V1);
            record.extend_from_slice(fresh);
            s.insert(PUSH, VAPID_KEY, &record)?;
            Ok(record)
        })?;
        match stored.split_first() {
            Some((&RECORD_V1, secret)) if secret.len() == 32 => Ok(Zeroizing::new(secret.to_vec())),
            Some((&RECORD_V1, _)) | None => Err(push_corrupt()),
            Some((&version, _)) => Err(StoreError::unsupported_schema(version)),
        }
    }

    fn put_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &PushSubscription,
    ) -> Result<(), StoreError> {
        let owner = self.device_blind(device)?.ok_or(StoreError::UnknownDevice)?;
        let key = self.subscription_key(device);
        let value = push_record::seal(&self.keyring, &owner, &key, subscription)?;
        self.kv(|s| s.insert(PUSH, &key, &value).map(|_| ()))
    }

    fn push_subscription(&self, device: &DeviceId) -> Result<Option<PushSubscription>, StoreError> {
        let key = self.subscription_key(device);
        let Some(value) = self.kv(|s| s.get(PUSH, &key))? else { return Ok(None) };
        match push_record::open(&self.keyring, &key, &value)? {
            (_, Opened::Live(subscription)) => Ok(Some(subscription)),
            (_, Opened::Shredded) => Ok(None),
        }
    }

    fn has_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        let key = self.subscription_key(device);
        self.kv(|s| s.contains_key(PUSH, &key))
    }

    fn delete_push_subscription(&self, device: &DeviceId) -> Result<bool, StoreError> {
        let key = self.subscription_key(device);
        self.kv(|s| Ok(s.remove(PUSH, &key)?.is_some()))
    }

    fn push_subscription_used(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError> {
        let key = self.subscription_key(device);
        // Read and write in one serializable transaction: a subscription
        // deleted or replaced meanwhile (unsubscribe, a 410, a new
        // registration) stays so.
        self.kv(|s| {
            let Some(old) = s.get(PUSH, &key)? else { return Ok(false) };
            let (owner, Opened::Live(mut subscription)) =
                push_record::open(&self.keyring, &key, &old)?
            else {
                return Ok(false);
            };
            subscription.last_used = subscription.last_used.max(now_ms);
            let new = push_record::seal(&self.keyring, &owner, &key, &subscription)?;
            s.insert(PUSH, &key, &new)?;
            Ok(true)
        })
    }

    fn sweep_push_subscriptions(&self, unused_before_ms: u64) -> Result<u64, StoreError> {
        let records = self.kv(|s| s.scan_prefix(PUSH, SUBSCRIPTION_PREFIX))?;
        let mut deleted = 0;
        for (key, value) in records {
            let stale = match push_record::open(&self.keyring, &key, &value) {
                Ok((_, Opened::Live(subscription))) => subscription.last_used < unused_before_ms,
                // Unreadable for good: nothing could ever push with it.
                Ok((_, Opened::Shredded)) => true,
                Err(err) => {
                    tracing::warn!(error = %err, "unreadable push subscription skipped by the sweep");
                    false
                }
            };
            // Deleted only when unchanged since it was read.
            if stale
                && self.kv(|s| {
                    if s.get(PUSH, &key)?.as_deref() != Some(value.as_slice()) {
                        return Ok(false);
                    }
                    Ok(s.remove(PUSH, &key)?.is_some())
                })?
            {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

impl DeviceListStore for PgStore {
    fn device_list(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        let blind = self.keyring.blind(account);
        let Some(value) = self.kv(|s| s.get(LISTS, blind.as_bytes()))? else { return Ok(None) };
        let sealed = match value.split_first() {
            Some((&LIST_FORMAT, sealed)) => sealed,
            _ => return Err(StoreError::corrupt(LISTS)),
        };
        let plain = self.keyring.open_sealed(&blind, LISTS, blind.as_bytes(), sealed)?;
        Ok(plain.map(|p| p.to_vec()))
    }

    fn replace_device_list(
        &self,
        account: &AccountId,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let blind = self.keyring.blind(account);
        let sealed = self.keyring.seal(&blind, LISTS, blind.as_bytes(), new)?;
        let value = [&[LIST_FORMAT][..], &sealed].concat();
        let keyring = self.keyring.clone();
        self.kv(|s| {
            let exists = s.query(
                "SELECT 1 FROM accounts WHERE blind = $1",
                vec![super::pg_pool::Param::Bytes(blind.as_bytes().to_vec())],
            )?;
            if exists.is_empty() {
                return Err(StoreError::UnknownAccount);
            }
            let current = match s.get(LISTS, blind.as_bytes())? {
                Some(v) => match v.split_first() {
                    Some((&LIST_FORMAT, sealed)) => keyring
                        .open_sealed(&blind, LISTS, blind.as_bytes(), sealed)?
                        .map(|p| p.to_vec()),
                    _ => return Err(StoreError::corrupt(LISTS)),
                },
                None => None,
            };
            if current.as_deref() != expected {
                return Ok(false);
            }
            s.insert(LISTS, blind.as_bytes(), &value)?;
            Ok(true)
        })
    }

    fn remove_devices(&self, account: &AccountId, devices: &[DeviceId]) -> Result<u32, StoreError> {
        let own: BTreeSet<DeviceId> = self.account_device_ids(account)?.into_iter().collect();
        let gone: Vec<DeviceId> = devices
            .iter()
            .filter(|d| own.contains(d))
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        // Group memberships stay (as on sled): the other members' next
        // commits remove the devices.
        for device in &gone {
            let _ = super::rules::deletion::DeletionSteps::purge_device(self, device)?;
            let kdev = self.keyring.device(device).as_bytes().to_vec();
            self.kv(|s| {
                s.query(
                    "DELETE FROM devices WHERE kdev = $1",
                    vec![super::pg_pool::Param::Bytes(kdev.clone())],
                )?;
                Ok(())
            })?;
        }
        self.forget_push_subscriptions(&gone)?;
        Ok(u32::try_from(gone.len()).unwrap_or(u32::MAX))
    }

    fn put_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        data: &[u8],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let blind = self.keyring.blind(account);
        let sealed = self.keyring.seal(&blind, SLOTS, slot, data)?;
        let value = [
            &[LIST_FORMAT][..],
            &expires_at_ms.to_be_bytes(),
            blind.as_bytes().as_slice(),
            &sealed,
        ]
        .concat();
        self.kv(|s| {
            if s.contains_key(SLOTS, slot)? {
                return Err(StoreError::InvalidCode);
            }
            s.insert(SLOTS, slot, &value)?;
            Ok(())
        })
    }

    fn take_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let blind = self.keyring.blind(account);
        let value = self.kv(|s| {
            let Some(value) = s.get(SLOTS, slot)? else { return Ok(None) };
            if value.first() != Some(&LIST_FORMAT) || value.len() < 41 {
                return Err(StoreError::corrupt(SLOTS));
            }
            if value.get(9..41) != Some(blind.as_bytes().as_slice())
                || slot_expiry(&value).is_none_or(|at| at <= now_ms)
            {
                return Ok(None);
            }
            s.remove(SLOTS, slot)?;
            Ok(Some(value))
        })?;
        let Some(value) = value else { return Ok(None) };
        let sealed = value.get(41..).unwrap_or_default();
        let plain = self.keyring.open_sealed(&blind, SLOTS, slot, sealed)?;
        Ok(plain.map(|p| p.to_vec()))
    }
}

impl SettingsStore for PgStore {
    fn retention_overrides(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for (key, value) in self.kv(|s| s.scan_prefix(SETTINGS, RETENTION_PREFIX))? {
            let kind = std::str::from_utf8(&key[RETENTION_PREFIX.len()..])
                .map_err(|_| StoreError::corrupt(SETTINGS))?;
            let secs =
                <[u8; 8]>::try_from(value.as_slice()).map_err(|_| StoreError::corrupt(SETTINGS))?;
            out.push((kind.to_owned(), u64::from_be_bytes(secs)));
        }
        Ok(out)
    }

    fn set_retention_override(&self, kind: &str, secs: u64) -> Result<(), StoreError> {
        let mut key = RETENTION_PREFIX.to_vec();
        key.extend_from_slice(kind.as_bytes());
        self.kv(|s| s.insert(SETTINGS, &key, &secs.to_be_bytes()).map(|_| ()))
    }

    fn factor(&self, owner: &FactorOwner) -> Result<Option<FactorRecord>, StoreError> {
        let key = records::factor_key(owner);
        self.kv(|s| s.get(SETTINGS, &key))?.map(|b| records::decode_factor(&b)).transpose()
    }

    fn set_factor(&self, owner: &FactorOwner, secret: &Secret) -> Result<(), StoreError> {
        let (key, value) =
            (records::factor_key(owner), records::encode_factor(secret.as_bytes(), None));
        self.kv(|s| s.insert(SETTINGS, &key, &value).map(|_| ()))
    }

    fn remove_factor(&self, owner: &FactorOwner) -> Result<(), StoreError> {
        let key = records::factor_key(owner);
        self.kv(|s| s.remove(SETTINGS, &key).map(|_| ()))
    }

    fn use_factor_step(&self, owner: &FactorOwner, step: u64) -> Result<bool, StoreError> {
        let key = records::factor_key(owner);
        self.kv(|s| {
            let Some(current) = s.get(SETTINGS, &key)? else { return Ok(false) };
            let record = records::decode_factor(&current)?;
            if record.last_step.is_some_and(|last| step <= last) {
                return Ok(false);
            }
            s.insert(
                SETTINGS,
                &key,
                &records::encode_factor(record.secret.as_bytes(), Some(step)),
            )?;
            Ok(true)
        })
    }

    fn reset_server_admins(
        &self,
        claim_hash: &[u8; 32],
        entry: &AuditDraft,
    ) -> Result<usize, StoreError> {
        self.kv(|s| {
            let admins = s.iter(ADMINS)?;
            for (key, _) in &admins {
                s.remove(ADMINS, key)?;
            }
            for (key, _) in s.scan_prefix(SETTINGS, ADMIN_FACTOR_PREFIX)? {
                s.remove(SETTINGS, &key)?;
            }
            s.insert(ADMIN_CLAIM, ADMIN_CLAIM_KEY, &records::encode_hash(claim_hash))?;
            append_in(s, entry)?;
            Ok(admins.len())
        })
    }

    fn set_org_suspended(&self, org: &OrgId, suspended: bool) -> Result<(), StoreError> {
        self.kv(|s| {
            let Some(bytes) = s.get(ORGS, org.as_bytes())? else {
                return Err(StoreError::UnknownOrg);
            };
            let mut record = records::decode_org(&bytes)?;
            record.suspended = suspended;
            s.insert(ORGS, org.as_bytes(), &records::encode_org(&record))?;
            Ok(())
        })
    }
}

fn record_key(seq: u64) -> [u8; 9] {
    let mut key = [RECORD_PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| StoreError::corrupt(AUDIT))?;
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    ciborium::from_reader(bytes).map_err(|_| StoreError::corrupt(AUDIT))
}

fn head_hash(head: &AuditHead) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(head.hash.as_slice()).map_err(|_| StoreError::corrupt(AUDIT))
}

/// Appends an audit record inside the caller's transaction (the chain as
/// on sled: each record sealed over the previous head).
pub(super) fn append_in(s: &mut Session, draft: &AuditDraft) -> Result<AuditRecord, StoreError> {
    let (seq, prev) = match s.get(AUDIT, HEAD_KEY)? {
        Some(bytes) => {
            let head: AuditHead = decode(&bytes)?;
            (head.seq.saturating_add(1), head_hash(&head)?)
        }
        None => (1, [0u8; 32]),
    };
    if s.contains_key(AUDIT, &record_key(seq))? {
        return Err(StoreError::corrupt(AUDIT));
    }
    let entry = AuditEntry {
        seq,
        at: draft.at,
        actor: draft.actor.clone(),
        role: draft.role.clone(),
        action: draft.action.clone(),
        target: draft.target.clone(),
        outcome: draft.outcome.clone(),
    };
    let record = seal(&entry, &prev);
    let head = AuditHead { seq, hash: record.hash.clone() };
    s.insert(AUDIT, &record_key(seq), &encode(&record)?)?;
    s.insert(AUDIT, HEAD_KEY, &encode(&head)?)?;
    Ok(record)
}

impl AuditStore for PgStore {
    fn audit_pseudonym(&self, domain: &[u8], id: &[u8]) -> String {
        stadtbote_protocol::audit::keyed_pseudonym(
            self.keyring.pseudonym_key().as_ref(),
            domain,
            id,
        )
    }

    fn audit_append(&self, draft: &AuditDraft) -> Result<AuditRecord, StoreError> {
        self.kv(|s| append_in(s, draft))
    }

    fn audit_page(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<AuditPage, StoreError> {
        let start = record_key(after.saturating_add(1));
        let end = [RECORD_PREFIX + 1];
        let (head, anchor, rows) = self.kv(|s| {
            Ok((
                s.get(AUDIT, HEAD_KEY)?,
                s.get(AUDIT, ANCHOR_KEY)?,
                s.range(AUDIT, &start, Some(&end), Some(limit))?,
            ))
        })?;
        let head = head.map(|b| decode(&b)).transpose()?;
        let anchor = anchor.map(|b| decode(&b)).transpose()?;
        let mut records = Vec::new();
        let mut bytes = 0usize;
        for (_, value) in rows {
            if records.len() >= limit || (!records.is_empty() && bytes + value.len() > max_bytes) {
                break;
            }
            bytes += value.len();
            records.push(decode::<AuditRecord>(&value)?);
        }
        Ok(AuditPage { records, head, anchor })
    }

    fn audit_prune(&self, before_ms: u64, max: usize) -> Result<u64, StoreError> {
        let start = record_key(0);
        let end = [RECORD_PREFIX + 1];
        self.kv(|s| {
            let mut stale = Vec::new();
            for (key, value) in s.range(AUDIT, &start, Some(&end), Some(max.saturating_add(1)))? {
                let record: AuditRecord = decode(&value)?;
                // An unreadable entry is kept: removing it would hide tampering.
                let Ok(entry) = AuditEntry::from_canonical_cbor(&record.entry) else { break };
                if entry.at >= before_ms || stale.len() >= max {
                    break;
                }
                stale.push((key, AuditHead { seq: record.seq, hash: record.hash }));
            }
            let Some((_, last)) = stale.last() else { return Ok(0) };
            let anchor = encode(last)?;
            for (key, _) in &stale {
                s.remove(AUDIT, key)?;
            }
            s.insert(AUDIT, ANCHOR_KEY, &anchor)?;
            Ok(stale.len() as u64)
        })
    }
}
