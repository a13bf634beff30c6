//! The embedded [`Store`] on sled (`=0.34.7`).
//!
//! One sled database in `<data_dir>/db` with these trees (layouts in
//! [`super::records`]):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema` | schema version |
//! | `meta` | `ids` | id keying version ([`super::sled_ids`]) |
//! | `accounts` | blind(account) | created_at |
//! | `devices` | kdev(device) | blind(account), sealed account, identity key, created_at, blocked |
//! | `account_devices` | blind(account) ‖ kdev(device) | device, sealed |
//! | `keypackages` | kdev(device) ‖ seq | one-time KeyPackage, sealed |
//! | `kp_count` | kdev(device) | one-time packages held |
//! | `last_resort` | kdev(device) | last-resort KeyPackage, sealed |
//! | `groups` | kgroup(group) | epoch, member devices as kdev(device) |
//! | `group_ids` | kgroup(group) | group, sealed under a pepper-derived key |
//! | `link_codes` | SHA-256(code) | blind(account), sealed account, expires_at |
//! | `group_expiry` | kgroup(group) | expires_at |
//! | `group_expiry_index` | expires_at ‖ kgroup(group) | – |
//! | `group_info` | kgroup(group) | epoch when stored, SHA-256(join token), sealed GroupInfo |
//! | `admins` | device | since |
//! | `admin_claim` | `code` | SHA-256(admin claim code) |
//! | `orgs` | org | handle, name, created_at, org key, admin device, versions |
//! | `handles` | handle | org |
//! | `org_codes` | SHA-256(code) | org, expires_at, delete_at, used |
//! | `org_profiles` | org | signed profile |
//! | `org_revocations` | org | signed revocation list |
//! | `org_staff_lists` | org | signed staff list |
//! | `org_rotations` | org | the org key's rotation chain (signed links) |
//! | `invites` | invite id | org, expires_at, delete_at, used, signed invitation |
//! | `staff` | org ‖ device | signed invitation, signed device binding, signed approval (once approved) |
//! | `revoked` | device | orgs that revoked it |
//! | `blobs` | blob | blind(owner), sealed owner, size, chunking, progress, expiry, quota charge |
//! | `blob_usage` | blind(account) | bytes charged |
//! | `blob_expiry` | expires_at ‖ blob | – |
//! | `channels` | channel | org, key epoch, retention days, last seq, created_at, sealed metadata |
//! | `channel_posts` | channel ‖ seq | stored_at, expires_at, sealed post |
//! | `channel_post_expiry` | expires_at ‖ channel ‖ seq | – |
//!
//! `kdev` and `kgroup` are device and group ids keyed with the pepper
//! ([`super::sled_ids`]); the envelope log names devices and groups the same
//! way. No key or value holds a raw account id, nor the id of a citizen's
//! device or group (staff and admin devices are public org data: `admins`,
//! `staff`, `revoked` and `orgs` name them). `blind(account)` and "sealed"
//! are the crypto-shredding construction of [`super::shred`]: the blinding
//! pepper and the per-account keys live in `<data_dir>/keys/`, outside sled,
//! and deleting an account destroys its key, which makes whatever of it
//! lingers in sled's old log segments unreadable.
//!
//! Multi-tree changes run in sled transactions, which sled serialises with a
//! global lock: that is what makes "one commit per epoch" and "a KeyPackage is
//! handed out once" hold under concurrency. Transactions cannot scan, so
//! operations that need a scan (claiming the oldest KeyPackage, sweeping) scan
//! first and then re-check inside the transaction, retrying if a concurrent
//! change got there first.
//!
//! Queued envelopes are not in sled: they live in the envelope log
//! (`<data_dir>/envelopes/`, [`super::envelope_log`]), and the operations
//! that queue them are in [`super::sled_envelopes`]. Their sequence numbers
//! are allocated by the log in append order under the envelope-ordering
//! lock, so a delivery cursor that has seen id `n` will never later find an
//! id below `n` appearing in the same mailbox.

use std::collections::HashSet;
use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError, Transactional,
    TransactionalTree,
};
use sled::{IVec, Tree};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{ClaimedKeyPackage, DeviceInfo, ServerStats};
use stadtbote_protocol::{AccountId, DeviceId, GroupId, OrgId};

use super::envelope_log::{EnvelopeLog, LogOptions};
use super::records::{self, GroupInfoRecord, LinkCodeRecord, Owner, StoredDevice};
use super::rules::{self, DeviceStanding};
use super::shred::{Blind, Keyring};
use super::{
    ChannelStore, CommitInput, CommitOutcome, DeviceRecord, ExternalJoinInput, KeyPackageStatus,
    LinkOutcome, MailboxPage, OrgStore, StorageError, Store, StoreError, SweepReport,
};

/// The storage schema this release writes and reads. Version 2 blinds and
/// seals account ids ([`super::shred`]); version 1 stored them raw and is
/// refused, not migrated: no production data of version 1 exists.
const SCHEMA_VERSION: u8 = 2;

/// How often a KeyPackage claim is retried when concurrent claims keep taking
/// the package it picked. Each retry re-scans, so a handful is plenty.
const CLAIM_ATTEMPTS: usize = 16;

/// Expired messages deleted per sweep transaction; keeps each transaction (and
/// the global lock it holds) short.
pub(super) const SWEEP_BATCH: usize = 256;

/// Name of the envelope log's directory inside the data directory.
pub const ENVELOPE_DIR: &str = "envelopes";

/// The sled-backed store. Cheap to share behind an `Arc`.
pub struct SledStore {
    pub(super) db: sled::Db,
    pub(super) accounts: Tree,
    pub(super) devices: Tree,
    pub(super) account_devices: Tree,
    pub(super) keypackages: Tree,
    pub(super) kp_count: Tree,
    pub(super) last_resort: Tree,
    pub(super) groups: Tree,
    pub(super) link_codes: Tree,
    pub(super) group_expiry: Tree,
    pub(super) group_expiry_index: Tree,
    pub(super) group_info: Tree,
    pub(super) admins: Tree,
    pub(super) admin_claim: Tree,
    pub(super) orgs: Tree,
    pub(super) handles: Tree,
    pub(super) org_codes: Tree,
    pub(super) org_profiles: Tree,
    pub(super) org_revocations: Tree,
    pub(super) org_staff_lists: Tree,
    pub(super) org_rotations: Tree,
    pub(super) invites: Tree,
    pub(super) staff: Tree,
    pub(super) revoked: Tree,
    pub(super) blobs: Tree,
    pub(super) blob_usage: Tree,
    pub(super) blob_expiry: Tree,
    pub(super) channels: Tree,
    pub(super) channel_posts: Tree,
    pub(super) channel_post_expiry: Tree,
    /// Sealed group ids by stored group id (see `sled_ids`).
    pub(super) group_ids: Tree,
    /// Stored device id → device id (see `sled_ids`).
    pub(super) device_names: super::sled_ids::DeviceNames,
    /// The blinding pepper and per-account shredding keys, outside sled.
    pub(super) keyring: Keyring,
    /// The audit log (see `sled_audit`).
    pub(super) audit: Tree,
    /// Admin-changed settings (see `sled_settings`).
    pub(super) settings: Tree,
    /// Serialises changes to what an org directory shows (claim, profile,
    /// enrolment, revocation). Each of them checks the directory's size or
    /// the org's staff with scans, which sled transactions cannot do; under
    /// this lock the scan and the transaction that follows see the same
    /// org. Org changes are rare, so the lock costs nothing measurable.
    pub(super) org_writes: std::sync::Mutex<()>,
    /// Serialises the transactions that store envelopes. Sequence numbers
    /// are allocated inside those transactions; without this lock a later
    /// number could become visible before an earlier one, and a delivery
    /// loop whose cursor already passed the later number would skip the
    /// earlier envelope until the device reconnects. Holding it costs only
    /// the in-memory transaction: the fsync happens afterwards, in the
    /// group-commit flusher.
    message_order: std::sync::Mutex<()>,
    /// Where queued envelopes live.
    pub(super) log: EnvelopeLog,
}

pub(super) type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

pub(super) fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

pub(super) fn tx_error(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    }
}

/// A sled failure as a storage failure. sled wraps the I/O error that
/// says the disk is full; it is unwrapped so that it becomes
/// [`StorageError::Full`].
pub(super) fn io(err: sled::Error) -> StoreError {
    match err {
        sled::Error::Io(e) => StoreError::unavailable(e),
        other => StoreError::unavailable(other),
    }
}

/// Decodes inside a transaction, turning a bad record into an abort.
pub(super) fn tx_decode<T>(result: Result<T, StoreError>) -> TxResult<T> {
    result.map_err(ConflictableTransactionError::Abort)
}

/// The group's expiry time as stored in `group_expiry`, inside a transaction.
fn tx_group_expiry(group_expiry: &TransactionalTree, group: &GroupId) -> TxResult<Option<u64>> {
    match group_expiry.get(group.as_bytes())? {
        Some(bytes) => Ok(Some(tx_decode(records::decode_u64(&bytes, "group_expiry"))?)),
        None => Ok(None),
    }
}

/// The group's join information, checked against the hash of a presented
/// join token in constant time, inside a transaction.
fn tx_checked_group_info(
    group_info: &TransactionalTree,
    group: &GroupId,
    token_hash: &[u8; 32],
) -> TxResult<GroupInfoRecord> {
    let Some(bytes) = group_info.get(group.as_bytes())? else {
        return abort(StoreError::UnknownGroup);
    };
    let record = tx_decode(records::decode_group_info(&bytes))?;
    if !records::hash_eq(&record.token_hash, token_hash) {
        return abort(StoreError::InvalidToken);
    }
    Ok(record)
}

/// Creates `dir` (and missing parents) readable only by the owner. An existing
/// directory keeps its permissions: the operator may have chosen them.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Deletes the records of `tree` whose deletion time (read by `delete_at`)
/// is not after `now_ms`. Unreadable records can never be redeemed and are
/// deleted too. Code trees are small (codes are created by people), so a
/// full scan per sweep is cheap.
fn sweep_codes(
    tree: &Tree,
    now_ms: u64,
    delete_at: impl Fn(&[u8]) -> Result<u64, StoreError>,
) -> Result<u64, StoreError> {
    let mut stale = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry.map_err(io)?;
        if delete_at(&value).is_ok_and(|at| at > now_ms) {
            continue;
        }
        stale.push(key);
    }
    let mut deleted = 0;
    for key in stale {
        if tree.remove(key).map_err(io)?.is_some() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// How long [`open_db`] waits for a file lock that a handle of this same
/// process, just dropped, may still hold.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the sled database at `path`. sled's background flusher thread keeps
/// the database's file lock for up to one flush interval after the last
/// handle is dropped, so a reopen in the same process (restore, town import,
/// tests) can find the lock still taken; that case is retried for
/// [`LOCK_RELEASE_WAIT`]. Another process holding the lock still gets the
/// error, only later.
pub(crate) fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(e))
                // sled 0.34 reports a taken lock only through this message.
                if e.to_string().starts_with("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.map_err(io),
        }
    }
}

impl SledStore {
    /// Takes the envelope-ordering lock. A poisoned lock guards no data (it
    /// is a `()`), so it is simply taken over.
    pub(super) fn lock_message_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.message_order.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens (or creates) the database under `data_dir`, creating the
    /// directory with mode 0700 if it is missing, with the envelope log's
    /// default options.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, LogOptions::default())
    }

    /// Opens (or creates) the database and the envelope log under
    /// `data_dir`. Envelopes still in sled trees (an earlier release, or a
    /// restored backup) move into the log; group states the log holds and
    /// sled lost in a crash are written again.
    pub fn open_with(data_dir: &Path, log_options: LogOptions) -> Result<Self, StoreError> {
        create_private_dir(data_dir).map_err(StoreError::unavailable)?;
        let db = open_db(&data_dir.join("db"))?;
        let meta = db.open_tree("meta").map_err(io)?;
        let fresh = match meta.get(b"schema").map_err(io)? {
            Some(v) if v.as_ref() == [SCHEMA_VERSION] => false,
            Some(v) => {
                let found = v.first().copied().unwrap_or(0);
                if found < SCHEMA_VERSION {
                    return Err(
                        StorageError::OutdatedSchema { found, current: SCHEMA_VERSION }.into()
                    );
                }
                return Err(StoreError::unsupported_schema(found));
            }
            None => true,
        };
        // The pepper is created only with a new database: an existing one
        // whose pepper went missing cannot find any account again, and
        // silently starting a new pepper would hide that.
        let keyring = Keyring::open(data_dir, fresh)?;
        super::sled_ids::check_marker(&meta, fresh)?;
        if fresh {
            meta.insert(b"schema", &[SCHEMA_VERSION]).map_err(io)?;
        }
        // Sequence numbers of earlier releases came from sled's id
        // generator; the log's numbers continue above them.
        let seq_floor = db.generate_id().map_err(io)?.saturating_add(1);
        let opened = EnvelopeLog::open(&data_dir.join(ENVELOPE_DIR), log_options, seq_floor)?;
        Self::migrate_legacy_envelopes(&db, &opened.log)?;
        let tree = |name: &str| db.open_tree(name).map_err(io);
        let store = Self {
            log: opened.log,
            message_order: std::sync::Mutex::new(()),
            accounts: tree("accounts")?,
            devices: tree("devices")?,
            account_devices: tree("account_devices")?,
            keypackages: tree("keypackages")?,
            kp_count: tree("kp_count")?,
            last_resort: tree("last_resort")?,
            groups: tree("groups")?,
            link_codes: tree("link_codes")?,
            group_expiry: tree("group_expiry")?,
            group_expiry_index: tree("group_expiry_index")?,
            group_info: tree("group_info")?,
            admins: tree("admins")?,
            admin_claim: tree("admin_claim")?,
            orgs: tree("orgs")?,
            handles: tree("handles")?,
            org_codes: tree("org_codes")?,
            org_profiles: tree("org_profiles")?,
            org_revocations: tree("org_revocations")?,
            org_staff_lists: tree("org_staff_lists")?,
            org_rotations: tree("org_rotations")?,
            invites: tree("invites")?,
            staff: tree("staff")?,
            revoked: tree("revoked")?,
            blobs: tree("blobs")?,
            blob_usage: tree("blob_usage")?,
            blob_expiry: tree("blob_expiry")?,
            channels: tree("channels")?,
            channel_posts: tree("channel_posts")?,
            channel_post_expiry: tree("channel_post_expiry")?,
            group_ids: tree(super::sled_ids::GROUP_IDS_TREE)?,
            device_names: super::sled_ids::DeviceNames::default(),
            audit: tree("audit")?,
            settings: tree("settings")?,
            org_writes: std::sync::Mutex::new(()),
            keyring,
            db,
        };
        store.redo_group_states(opened.group_redo)?;
        store.load_device_names()?;
        Ok(store)
    }

    /// Adds a device to an account inside a transaction. The account's
    /// shredding key must exist.
    fn insert_device(
        &self,
        devices: &TransactionalTree,
        account_devices: &TransactionalTree,
        account: &AccountId,
        identity_key: &IdentityKey,
        now_ms: u64,
    ) -> TxResult<DeviceId> {
        let device = DeviceId::random();
        let stored = self.sdev(&device);
        // 128 random bits do not collide in practice; should they, refusing is
        // safer than overwriting someone's device.
        if devices.get(stored.as_bytes())?.is_some() {
            return abort(StoreError::contention());
        }
        let owner = tx_decode(self.seal_owner(account, "devices", stored.as_bytes()))?;
        let record =
            StoredDevice { owner, identity_key: *identity_key, created_at: now_ms, blocked: false };
        devices.insert(stored.as_bytes(), records::encode_device(&record))?;
        // The device id itself, sealed with the account's key: how the
        // account's devices are listed, and gone with that key.
        let key = records::account_device_key(&owner.blind, &stored);
        let sealed = tx_decode(self.keyring.seal(
            &owner.blind,
            super::sled_ids::ACCOUNT_DEVICES_TREE,
            &key,
            device.as_bytes(),
        ))?;
        account_devices.insert(&key[..], sealed)?;
        Ok(device)
    }

    /// The account as stored in record `key` of `tree`: blinded, and sealed
    /// with the account's key.
    pub(super) fn seal_owner(
        &self,
        account: &AccountId,
        tree: &str,
        key: &[u8],
    ) -> Result<Owner, StoreError> {
        let (blind, sealed) = self.keyring.seal_account(account, tree, key)?;
        Ok(Owner { blind, sealed })
    }

    /// The account of a stored [`Owner`]; `None` once the account is
    /// deleted (its key destroyed).
    pub(super) fn open_owner(
        &self,
        owner: &Owner,
        tree: &'static str,
        key: &[u8],
    ) -> Result<Option<AccountId>, StoreError> {
        self.keyring.open_account(&owner.blind, &owner.sealed, tree, key)
    }

    /// The account's blinded id, as the database knows it.
    pub(super) fn blind(&self, account: &AccountId) -> Blind {
        self.keyring.blind(account)
    }

    /// The blinded account of a device (by its stored id), if it exists.
    pub(super) fn device_owner(&self, stored: &DeviceId) -> Result<Option<Blind>, StoreError> {
        match self.devices.get(stored.as_bytes()).map_err(io)? {
            Some(bytes) => Ok(Some(records::decode_device(&bytes)?.owner.blind)),
            None => Ok(None),
        }
    }

    /// Seals a KeyPackage (its credential holds the raw account id) for
    /// record `key` of `tree`.
    fn seal_key_package(
        &self,
        owner: &Blind,
        tree: &str,
        key: &[u8],
        package: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        Ok(records::encode_key_package(&self.keyring.seal(owner, tree, key, package)?))
    }

    /// Opens a KeyPackage sealed by [`SledStore::seal_key_package`]; `None`
    /// once its account is deleted.
    fn open_key_package(
        &self,
        owner: &Blind,
        tree: &'static str,
        key: &[u8],
        stored: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed = records::decode_key_package(stored)?;
        Ok(self.keyring.open_sealed(owner, tree, key, sealed)?.map(|p| p.to_vec()))
    }

    /// The account's device ids, in the order of their stored ids.
    pub(super) fn account_device_ids(
        &self,
        account: &AccountId,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let blind = self.blind(account);
        let mut out = Vec::new();
        for entry in self.account_devices.scan_prefix(blind.as_bytes()) {
            let (key, value) = entry.map_err(io)?;
            let Some(plain) = self.keyring.open_sealed(
                &blind,
                super::sled_ids::ACCOUNT_DEVICES_TREE,
                &key,
                &value,
            )?
            else {
                // The account was deleted meanwhile.
                continue;
            };
            let device = DeviceId::from_slice(&plain)
                .map_err(|_| StoreError::corrupt(super::sled_ids::ACCOUNT_DEVICES_TREE))?;
            out.push(device);
        }
        Ok(out)
    }

    pub(super) fn account_exists(&self, account: &AccountId) -> Result<bool, StoreError> {
        self.accounts.contains_key(self.blind(account).as_bytes()).map_err(io)
    }

    /// The key of the device's oldest one-time KeyPackage (by its stored
    /// id), if any.
    fn oldest_key_package(&self, stored: &DeviceId) -> Result<Option<IVec>, StoreError> {
        match self.keypackages.scan_prefix(stored.as_bytes()).keys().next() {
            Some(key) => key.map(Some).map_err(io),
            None => Ok(None),
        }
    }
}

/// The bodies of the longer [`Store`] methods.
impl SledStore {
    /// The devices among `devices` that may be handed a KeyPackage: existing,
    /// not blocked, not revoked, not `claimer`; each once; with their stored
    /// id and the blinded account whose key seals their packages.
    fn claimable(
        &self,
        devices: &[DeviceId],
        claimer: &DeviceId,
    ) -> Result<Vec<(DeviceId, DeviceId, Blind)>, StoreError> {
        let mut seen = HashSet::with_capacity(devices.len());
        let mut targets = Vec::with_capacity(devices.len());
        for device in devices {
            if device == claimer || !seen.insert(*device) {
                continue;
            }
            let stored = self.sdev(device);
            let Some(bytes) = self.devices.get(stored.as_bytes()).map_err(io)? else { continue };
            let record = records::decode_device(&bytes)?;
            let standing =
                if record.blocked { DeviceStanding::Blocked } else { DeviceStanding::Active };
            if rules::revocation::may_be_claimed(standing, self.is_revoked(device)?) {
                targets.push((*device, stored, record.owner.blind));
            }
        }
        Ok(targets)
    }

    /// Hands out one KeyPackage per target device: the oldest one-time
    /// package (deleted, so never handed out twice) or else the last-resort one.
    fn claim_for(
        &self,
        targets: &[(DeviceId, DeviceId, Blind)],
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let mut candidates = Vec::with_capacity(targets.len());
            for (device, stored, owner) in targets {
                candidates.push((*device, *stored, *owner, self.oldest_key_package(stored)?));
            }
            let result = (&self.keypackages, &self.kp_count, &self.last_resort).transaction(
                |(keypackages, kp_count, last_resort)| {
                    let mut claimed = Vec::with_capacity(candidates.len());
                    for (device, stored, owner, candidate) in &candidates {
                        if let Some(key) = candidate {
                            // Removing inside the transaction is what makes
                            // the hand-out exclusive: if another claim took
                            // this package since the scan, start over.
                            let Some(bytes) = keypackages.remove(key)? else {
                                return abort(StoreError::contention());
                            };
                            // A package of an account deleted meanwhile no
                            // longer opens; it is consumed all the same.
                            let package = tx_decode(self.open_key_package(
                                owner,
                                "keypackages",
                                key,
                                &bytes,
                            ))?;
                            let held = match kp_count.get(stored.as_bytes())? {
                                Some(count) => tx_decode(records::decode_count(&count))?,
                                None => 1,
                            };
                            kp_count.insert(
                                stored.as_bytes(),
                                records::encode_count(held.saturating_sub(1)),
                            )?;
                            if let Some(package) = package {
                                claimed.push(ClaimedKeyPackage {
                                    device: *device,
                                    key_package: package.into(),
                                    last_resort: false,
                                });
                            }
                        } else if let Some(bytes) = last_resort.get(stored.as_bytes())? {
                            let package = tx_decode(self.open_key_package(
                                owner,
                                "last_resort",
                                stored.as_bytes(),
                                &bytes,
                            ))?;
                            if let Some(package) = package {
                                claimed.push(ClaimedKeyPackage {
                                    device: *device,
                                    key_package: package.into(),
                                    last_resort: true,
                                });
                            }
                        }
                    }
                    Ok(claimed)
                },
            );
            match result {
                Err(TransactionError::Abort(StoreError::Storage(StorageError::Contention))) => {
                    continue;
                }
                other => return other.map_err(tx_error),
            }
        }
        Err(StoreError::contention())
    }
}

impl Store for SledStore {
    fn create_account(
        &self,
        identity_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<(AccountId, DeviceId), StoreError> {
        let account = AccountId::random();
        let blind = self.blind(&account);
        // The key is durable before any record sealed with it is written; a
        // key whose transaction then fails is an unused file, not a loss.
        self.keyring.create_key(&blind)?;
        (&self.accounts, &self.devices, &self.account_devices)
            .transaction(|(accounts, devices, account_devices)| {
                if accounts.get(blind.as_bytes())?.is_some() {
                    return abort(StoreError::contention());
                }
                accounts.insert(blind.as_bytes(), records::encode_account(now_ms))?;
                let device =
                    self.insert_device(devices, account_devices, &account, identity_key, now_ms)?;
                Ok((account, device))
            })
            .map_err(tx_error)
            .inspect(|(_, device)| self.remember_device(device))
    }

    fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let key = self.sdev(device);
        let Some(bytes) = self.devices.get(key.as_bytes()).map_err(io)? else {
            return Ok(None);
        };
        let stored = records::decode_device(&bytes)?;
        // A device whose account key is gone belongs to a deleted account.
        let Some(account) = self.open_owner(&stored.owner, "devices", key.as_bytes())? else {
            return Ok(None);
        };
        Ok(Some(DeviceRecord {
            account,
            identity_key: stored.identity_key,
            created_at: stored.created_at,
            blocked: stored.blocked,
        }))
    }

    fn list_devices(&self, account: &AccountId) -> Result<Vec<DeviceInfo>, StoreError> {
        if !self.account_exists(account)? {
            return Err(StoreError::UnknownAccount);
        }
        let mut out = Vec::new();
        for device in self.account_device_ids(account)? {
            if let Some(record) = self.device(&device)?
                && !record.blocked
            {
                out.push(DeviceInfo { device, identity_key: record.identity_key });
            }
        }
        Ok(out)
    }

    fn create_link_code(
        &self,
        code_hash: &[u8; 32],
        account: &AccountId,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let owner = self.seal_owner(account, "link_codes", code_hash)?;
        let record = LinkCodeRecord { owner, expires_at: expires_at_ms };
        self.link_codes.insert(code_hash, records::encode_link_code(&record)).map_err(io)?;
        Ok(())
    }

    fn redeem_link_code(
        &self,
        code_hash: &[u8; 32],
        identity_key: Option<&IdentityKey>,
        now_ms: u64,
    ) -> Result<LinkOutcome, StoreError> {
        (&self.link_codes, &self.accounts, &self.devices, &self.account_devices)
            .transaction(|(link_codes, accounts, devices, account_devices)| {
                let Some(bytes) = link_codes.remove(code_hash)? else {
                    return abort(StoreError::InvalidCode);
                };
                let record = tx_decode(records::decode_link_code(&bytes))?;
                if record.expires_at <= now_ms {
                    // Aborting keeps the expired record; the sweeper deletes it.
                    return abort(StoreError::InvalidCode);
                }
                let Some(key) = identity_key else { return Ok(LinkOutcome::Consumed) };
                if accounts.get(record.owner.blind.as_bytes())?.is_none() {
                    return abort(StoreError::InvalidCode);
                }
                let Some(account) =
                    tx_decode(self.open_owner(&record.owner, "link_codes", code_hash))?
                else {
                    return abort(StoreError::InvalidCode);
                };
                let device = self.insert_device(devices, account_devices, &account, key, now_ms)?;
                Ok(LinkOutcome::Linked { account, device })
            })
            .map_err(tx_error)
            .inspect(|outcome| {
                if let LinkOutcome::Linked { device, .. } = outcome {
                    self.remember_device(device);
                }
            })
    }

    fn key_package_status(&self, device: &DeviceId) -> Result<KeyPackageStatus, StoreError> {
        let device = &self.sdev(device);
        let one_time = match self.kp_count.get(device.as_bytes()).map_err(io)? {
            Some(bytes) => records::decode_count(&bytes)?,
            None => 0,
        };
        let last_resort = self.last_resort.contains_key(device.as_bytes()).map_err(io)?;
        Ok(KeyPackageStatus { one_time, last_resort })
    }

    fn upload_key_packages(
        &self,
        device: &DeviceId,
        one_time: &[&[u8]],
        last_resort: Option<&[u8]>,
        max_one_time: u32,
    ) -> Result<u32, StoreError> {
        let added = u32::try_from(one_time.len())
            .map_err(|_| StoreError::TooManyKeyPackages { max: max_one_time })?;
        let device = &self.sdev(device);
        let owner = self.device_owner(device)?.ok_or(StoreError::UnknownDevice)?;
        (&self.keypackages, &self.kp_count, &self.last_resort)
            .transaction(|(keypackages, kp_count, last_resort_tree)| {
                // The count lives in its own record and is read and written in
                // this transaction, so concurrent uploads cannot both slip
                // under the limit.
                let held = match kp_count.get(device.as_bytes())? {
                    Some(bytes) => tx_decode(records::decode_count(&bytes))?,
                    None => 0,
                };
                let total = held.saturating_add(added);
                if total > max_one_time {
                    return abort(StoreError::TooManyKeyPackages { max: max_one_time });
                }
                for package in one_time {
                    let seq = keypackages.generate_id()?;
                    let key = records::id_seq_key(device.as_bytes(), seq);
                    let sealed =
                        tx_decode(self.seal_key_package(&owner, "keypackages", &key, package))?;
                    keypackages.insert(&key, sealed)?;
                }
                kp_count.insert(device.as_bytes(), records::encode_count(total))?;
                if let Some(package) = last_resort {
                    let sealed = tx_decode(self.seal_key_package(
                        &owner,
                        "last_resort",
                        device.as_bytes(),
                        package,
                    ))?;
                    last_resort_tree.insert(device.as_bytes(), sealed)?;
                }
                Ok(total)
            })
            .map_err(tx_error)
    }

    fn claim_key_packages(
        &self,
        account: &AccountId,
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError> {
        if !self.account_exists(account)? {
            return Err(StoreError::UnknownAccount);
        }
        let targets = self.claimable(&self.account_device_ids(account)?, claimer)?;
        self.claim_for(&targets)
    }

    fn claim_device_key_packages(
        &self,
        devices: &[DeviceId],
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError> {
        let targets = self.claimable(devices, claimer)?;
        self.claim_for(&targets)
    }

    fn commit(&self, input: CommitInput<'_>) -> Result<CommitOutcome, StoreError> {
        let (group, caller) = (self.sgroup(input.group), self.sdev(input.caller));
        let (add, remove) = (self.sdevs(input.add), self.sdevs(input.remove));
        let stored =
            CommitInput { group: &group, caller: &caller, add: &add, remove: &remove, ..input };
        let outcome = self.commit_impl(stored)?;
        let mut recipients = self.raw_devices(&outcome.recipients);
        recipients.sort();
        if input.epoch == 0 {
            // The group was created: keep its id, sealed, for the members'
            // account export. Only after success, so that failed attempts
            // leave nothing behind.
            self.remember_group(input.group)?;
        }
        Ok(CommitOutcome { recipients, ..outcome })
    }

    fn put_group_info(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        token_hash: &[u8; 32],
        info: &[u8],
        org: Option<&OrgId>,
    ) -> Result<u64, StoreError> {
        let (group, caller) = (&self.sgroup(group), &self.sdev(caller));
        (&self.groups, &self.group_info)
            .transaction(|(groups, group_info)| {
                let Some(bytes) = groups.get(group.as_bytes())? else {
                    return abort(StoreError::UnknownGroup);
                };
                let record = tx_decode(records::decode_group(&bytes))?;
                tx_decode(rules::group::require_member(&record.members, caller))?;
                let recorded = match group_info.get(group.as_bytes())? {
                    Some(bytes) => Some(tx_decode(records::decode_group_info(&bytes))?.org),
                    None => None,
                };
                let org = rules::group::link_org(recorded, org);
                let info = GroupInfoRecord {
                    epoch: record.epoch,
                    token_hash: *token_hash,
                    info: info.to_vec(),
                    org,
                };
                group_info.insert(group.as_bytes(), records::encode_group_info(&info))?;
                Ok(record.epoch)
            })
            .map_err(tx_error)
    }

    fn group_info(
        &self,
        group: &GroupId,
        token_hash: &[u8; 32],
    ) -> Result<(u64, Vec<u8>), StoreError> {
        let group = &self.sgroup(group);
        (&self.groups, &self.group_info)
            .transaction(|(groups, group_info)| {
                let info = tx_checked_group_info(group_info, group, token_hash)?;
                let Some(bytes) = groups.get(group.as_bytes())? else {
                    return abort(StoreError::UnknownGroup);
                };
                let epoch = tx_decode(records::decode_group(&bytes))?.epoch;
                Ok((epoch, info.info))
            })
            .map_err(tx_error)
    }

    fn external_join(&self, input: ExternalJoinInput<'_>) -> Result<CommitOutcome, StoreError> {
        let (group, caller) = (self.sgroup(input.group), self.sdev(input.caller));
        let stored = ExternalJoinInput { group: &group, caller: &caller, ..input };
        let outcome = self.external_join_impl(stored)?;
        let mut recipients = self.raw_devices(&outcome.recipients);
        recipients.sort();
        Ok(CommitOutcome { recipients, ..outcome })
    }

    fn send(
        &self,
        group: &GroupId,
        sender: &DeviceId,
        payload: &[u8],
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        let (group, sender) = (self.sgroup(group), self.sdev(sender));
        let to = self.send_impl(&group, &sender, payload, now_ms, expires_at_ms)?;
        let mut recipients = self.raw_devices(&to);
        recipients.sort();
        Ok(recipients)
    }

    fn mailbox(
        &self,
        device: &DeviceId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<MailboxPage, StoreError> {
        self.log.page(&self.sdev(device), after, limit, max_bytes)
    }

    fn ack(&self, device: &DeviceId, ids: &[u64]) -> Result<u32, StoreError> {
        // Only the caller's own mailbox is looked at, so ids of other
        // devices' envelopes are simply not found.
        self.log.ack(&self.sdev(device), ids)
    }

    fn purge_mailbox(&self, device: &DeviceId) -> Result<u32, StoreError> {
        let device = self.sdev(device);
        self.log.ack(&device, &self.log.mailbox_ids(&device))
    }

    fn set_group_expiry(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        expires_at_ms: u64,
        moderator_of: Option<&OrgId>,
    ) -> Result<u64, StoreError> {
        let (group, caller) = (&self.sgroup(group), &self.sdev(caller));
        // Group deletion reads the expiry under this lock; holding it here
        // too keeps the two from interleaving.
        let _order = self.lock_message_order();
        (&self.groups, &self.group_expiry, &self.group_expiry_index, &self.group_info)
            .transaction(|(groups, group_expiry, index, group_info)| {
                let Some(bytes) = groups.get(group.as_bytes())? else {
                    return abort(StoreError::UnknownGroup);
                };
                let members = tx_decode(records::decode_group(&bytes))?.members;
                tx_decode(rules::group::require_member(&members, caller))?;
                let link_org = match group_info.get(group.as_bytes())? {
                    Some(bytes) => Some(tx_decode(records::decode_group_info(&bytes))?.org),
                    None => None,
                };
                tx_decode(rules::group::may_set_expiry(link_org, moderator_of))?;
                let current = tx_group_expiry(group_expiry, group)?;
                let in_force = rules::group::expiry_in_force(current, expires_at_ms);
                if current != Some(in_force) {
                    if let Some(old) = current {
                        index.remove(&records::time_id_key(old, group.as_bytes()))?;
                    }
                    index.insert(&records::time_id_key(in_force, group.as_bytes()), &[])?;
                    group_expiry.insert(group.as_bytes(), records::encode_u64(in_force))?;
                }
                Ok(in_force)
            })
            .map_err(tx_error)
    }

    fn sweep(&self, now_ms: u64) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let (messages, envelopes) = self.sweep_envelopes(now_ms)?;
        report.messages += messages;
        report.envelopes += envelopes;
        loop {
            let mut due = Vec::new();
            let end = records::time_id_key(now_ms, &[0; 16]);
            for entry in self.group_expiry_index.range(..end).keys().take(SWEEP_BATCH) {
                let (at, group) = records::split_seq_id(&entry.map_err(io)?)?;
                due.push((at, GroupId(group)));
            }
            let full = due.len() >= SWEEP_BATCH;
            for (at, group) in due {
                if let Some((messages, envelopes)) = self.delete_group(&group, at)? {
                    report.groups += 1;
                    report.messages += messages;
                    report.envelopes += envelopes;
                }
            }
            if !full {
                break;
            }
        }
        report.link_codes = sweep_codes(&self.link_codes, now_ms, |value| {
            records::decode_link_code(value).map(|r| r.expires_at)
        })?;
        // Link slots live as long as link codes; counted with them.
        report.link_codes += self.sweep_link_slots(now_ms)?;
        report.org_codes = sweep_codes(&self.org_codes, now_ms, |value| {
            records::decode_org_code(value).map(|r| r.delete_at)
        })?;
        report.invites = sweep_codes(&self.invites, now_ms, |value| {
            records::decode_invite(value).map(|r| r.delete_at)
        })?;
        report.channel_posts = self.sweep_channel_posts(now_ms)?;
        Ok(report)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // The log first: a commit's group state reaches sled only after its
        // frame is durable, and a segment is deleted only once a sled flush
        // followed its sealing (see `sled_envelopes`).
        let token = self.log.sync()?;
        self.db.flush().map_err(io)?;
        self.log.sled_flushed(token);
        Ok(())
    }

    fn admin_stats(&self) -> Result<ServerStats, StoreError> {
        let envelopes = self.log.totals();
        let mut stored_bytes = envelopes.bytes;
        for value in self.blobs.iter().values() {
            let record = records::decode_blob(&value.map_err(io)?)?.record;
            let held = record.offset(record.chunks_received).min(record.size);
            stored_bytes = stored_bytes.saturating_add(held);
        }
        let channels = self.channel_counts()?;
        Ok(ServerStats {
            accounts: self.accounts.len() as u64,
            devices: self.devices.len() as u64,
            connected: 0,
            queued_envelopes: envelopes.envelopes,
            stored_bytes,
            channels: channels.channels,
            channel_posts: channels.posts,
            orgs: self.org_stats()?,
        })
    }

    fn set_account_blocked(
        &self,
        account: &AccountId,
        blocked: bool,
    ) -> Result<Option<u32>, StoreError> {
        let ids = self.account_device_ids(account)?;
        if ids.is_empty() {
            return Ok(None);
        }
        let stored = self.sdevs(&ids);
        self.devices
            .transaction(|devices| {
                for device in &stored {
                    let Some(bytes) = devices.get(device.as_bytes())? else {
                        return abort(StoreError::corrupt("account_devices"));
                    };
                    let mut record = tx_decode(records::decode_device(&bytes))?;
                    if record.blocked != blocked {
                        record.blocked = blocked;
                        devices.insert(device.as_bytes(), records::encode_device(&record))?;
                    }
                }
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(Some(u32::try_from(ids.len()).unwrap_or(u32::MAX)))
    }

    fn account_export(
        &self,
        account: &AccountId,
        now_ms: u64,
    ) -> Result<stadtbote_protocol::account::AccountExport, StoreError> {
        self.account_export_impl(account, now_ms)
    }

    fn delete_account(&self, account: &AccountId) -> Result<super::AccountDeletion, StoreError> {
        self.delete_account_impl(account)
    }
}

/// Tests: the error of opening `data_dir`, tried again for up to 5 s until
/// `expected` holds: sled's background flusher can keep the file lock of a
/// handle just dropped for a moment, and that lock error is not the answer
/// a test asks about.
#[cfg(test)]
pub(crate) fn reopen_error(data_dir: &Path, expected: impl Fn(&StoreError) -> bool) -> StoreError {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledStore::open(data_dir) {
            Err(err) if expected(&err) || std::time::Instant::now() > deadline => return err,
            Ok(_) => panic!("the data dir opened"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::envelope_log::Totals;
    use stadtbote_protocol::auth::DeviceSecret;

    const DAY: u64 = 86_400_000;

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("data")).unwrap();
        (dir, store)
    }

    fn key() -> IdentityKey {
        DeviceSecret::generate().identity_key()
    }

    /// A commit input with fixed payloads and times, for store tests (the
    /// conformance suite's).
    pub(in crate::store) use crate::store::conformance::commit;

    fn ids(page: &MailboxPage) -> Vec<u64> {
        page.envelopes.iter().map(|e| e.id).collect()
    }

    #[test]
    fn data_dir_is_private() {
        let (dir, _store) = open();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn accounts_devices_and_link_codes() {
        let (_dir, store) = open();
        let k = key();
        let (account, device) = store.create_account(&k, 1).unwrap();
        let record = store.device(&device).unwrap().unwrap();
        assert_eq!(record.account, account);
        assert_eq!(record.identity_key, k);
        assert!(matches!(store.list_devices(&AccountId([9; 16])), Err(StoreError::UnknownAccount)));

        let hash = [7u8; 32];
        store.create_link_code(&hash, &account, 100).unwrap();
        // Expired codes are refused.
        assert!(matches!(
            store.redeem_link_code(&hash, Some(&key()), 100),
            Err(StoreError::InvalidCode)
        ));
        let k2 = key();
        let LinkOutcome::Linked { account: a2, device: d2 } =
            store.redeem_link_code(&hash, Some(&k2), 50).unwrap()
        else {
            panic!("not linked")
        };
        assert_eq!(a2, account);
        // Single use.
        assert!(matches!(
            store.redeem_link_code(&hash, Some(&k2), 50),
            Err(StoreError::InvalidCode)
        ));
        let devices = store.list_devices(&account).unwrap();
        assert_eq!(devices.len(), 2);
        assert!(devices.iter().any(|d| d.device == d2 && d.identity_key == k2));
        // A failed signature still consumes the code.
        store.create_link_code(&[8; 32], &account, 100).unwrap();
        assert_eq!(store.redeem_link_code(&[8; 32], None, 50).unwrap(), LinkOutcome::Consumed);
        assert!(matches!(
            store.redeem_link_code(&[8; 32], Some(&k2), 50),
            Err(StoreError::InvalidCode)
        ));
    }

    #[test]
    fn second_commit_at_same_epoch_is_stale() {
        let (_dir, store) = open();
        let (_, alice) = store.create_account(&key(), 1).unwrap();
        let (_, bob) = store.create_account(&key(), 1).unwrap();
        let (_, carol) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([1; 16]);

        // Unknown group at a non-zero epoch, or at epoch 0 without a
        // creation proof: answered as to a non-member.
        assert!(matches!(
            store.commit(commit(&group, &alice, 3, &[], None)),
            Err(StoreError::NotAMember)
        ));
        let unproven = CommitInput { may_create: false, ..commit(&group, &alice, 0, &[], None) };
        assert!(matches!(store.commit(unproven), Err(StoreError::NotAMember)));
        let out = store.commit(commit(&group, &alice, 0, &[bob], Some(b"welcome"))).unwrap();
        assert_eq!(out.epoch, 1);
        assert_eq!(out.recipients, vec![bob]);
        // Bob got exactly the welcome.
        let page = store.mailbox(&bob, 0, 10, 1 << 20).unwrap();
        assert_eq!(page.envelopes.len(), 1);
        assert_eq!(page.envelopes[0].payload.as_ref(), b"welcome");

        // Both members commit at epoch 1: exactly one wins.
        let first = store.commit(commit(&group, &bob, 1, &[carol], Some(b"w2"))).unwrap();
        assert_eq!(first.epoch, 2);
        let second = store.commit(commit(&group, &alice, 1, &[], None));
        assert!(matches!(second, Err(StoreError::StaleEpoch { current: 2 })), "{second:?}");
        // Non-members cannot commit, unknown devices cannot be added.
        let (_, dave) = store.create_account(&key(), 1).unwrap();
        assert!(matches!(
            store.commit(commit(&group, &dave, 2, &[], None)),
            Err(StoreError::NotAMember)
        ));
        assert!(matches!(
            store.commit(commit(&group, &alice, 2, &[DeviceId([0xEE; 16])], Some(b"w"))),
            Err(StoreError::UnknownDevice)
        ));
        // Adding without a welcome is refused.
        assert!(matches!(
            store.commit(commit(&group, &alice, 2, &[dave], None)),
            Err(StoreError::InvalidCommit(_))
        ));
        // Alice got bob's commit; carol got only the welcome.
        let alice_page = store.mailbox(&alice, 0, 10, 1 << 20).unwrap();
        assert_eq!(alice_page.envelopes.len(), 1);
        assert_eq!(alice_page.envelopes[0].payload.as_ref(), b"commit");
        let carol_page = store.mailbox(&carol, 0, 10, 1 << 20).unwrap();
        assert_eq!(carol_page.envelopes[0].payload.as_ref(), b"w2");

        // Removal: the removed device still receives the commit.
        let input = CommitInput {
            remove: std::slice::from_ref(&carol),
            ..commit(&group, &alice, 2, &[], None)
        };
        let mut recipients = store.commit(input).unwrap().recipients;
        recipients.sort();
        let mut expected = vec![bob, carol];
        expected.sort();
        assert_eq!(recipients, expected);
        assert!(matches!(store.send(&group, &carol, b"hi", 1, 2), Err(StoreError::NotAMember)));
    }

    #[test]
    fn concurrent_commits_at_one_epoch_accept_exactly_one() {
        let (_dir, store) = open();
        let store = std::sync::Arc::new(store);
        let (_, alice) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([2; 16]);
        store.commit(commit(&group, &alice, 0, &[], None)).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.commit(commit(&group, &alice, 1, &[], None)).is_ok()
                })
            })
            .collect();
        let accepted =
            handles.into_iter().map(|h| h.join().unwrap_or(false)).filter(|ok| *ok).count();
        assert_eq!(accepted, 1);
    }

    #[test]
    fn send_fans_out_once_and_ack_refcount_deletes_message() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let (_, c) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([3; 16]);
        store.commit(commit(&group, &a, 0, &[b, c], Some(b"w"))).unwrap();
        let mut to = store.send(&group, &a, b"hello", 5, 5 + DAY).unwrap();
        to.sort();
        let mut expected = vec![b, c];
        expected.sort();
        assert_eq!(to, expected);
        assert_eq!(store.log.totals().messages, 2, "welcome and message stored once each");
        let b_page = store.mailbox(&b, 0, 10, 1 << 20).unwrap();
        let msg_id = *ids(&b_page).last().unwrap();
        assert_eq!(b_page.envelopes.last().unwrap().payload.as_ref(), b"hello");
        assert_eq!(b_page.envelopes.last().unwrap().received_at, 5);

        // The sender's ids are not the recipient's: acking someone else's
        // envelope removes nothing.
        assert_eq!(store.ack(&a, &[msg_id]).unwrap(), 0);
        assert_eq!(store.ack(&b, &ids(&b_page)).unwrap(), 2);
        assert_eq!(store.ack(&b, &ids(&b_page)).unwrap(), 0, "acks are idempotent");
        assert_eq!(
            store.log.mailbox_ids(&store.sdev(&c)).last(),
            Some(&msg_id),
            "c still waits for it"
        );
        let c_ids = ids(&store.mailbox(&c, 0, 10, 1 << 20).unwrap());
        assert_eq!(store.ack(&c, &c_ids).unwrap(), 2);
        assert_eq!(store.log.totals(), Totals::default(), "last ack deletes the message");
        assert!(store.log.expired(u64::MAX, 10).is_empty());
        // Unknown groups and the sole member.
        assert!(matches!(
            store.send(&GroupId([0; 16]), &a, b"x", 1, 2),
            Err(StoreError::UnknownGroup)
        ));
    }

    #[test]
    fn mailbox_pages_by_count_and_bytes() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([4; 16]);
        store.commit(commit(&group, &a, 0, &[b], Some(b"w"))).unwrap();
        for _ in 0..5 {
            store.send(&group, &a, &[0u8; 100], 1, 1 + DAY).unwrap();
        }
        let page = store.mailbox(&b, 0, 3, 1 << 20).unwrap();
        assert_eq!(page.envelopes.len(), 3);
        assert!(page.more);
        let rest = store.mailbox(&b, *ids(&page).last().unwrap(), 3, 1 << 20).unwrap();
        assert_eq!(rest.envelopes.len(), 3);
        assert!(!rest.more);
        assert!(ids(&page).last() < ids(&rest).first(), "ids increase");
        // A byte budget smaller than one payload still returns one envelope.
        let small = store.mailbox(&b, 0, 10, 50).unwrap();
        assert_eq!(small.envelopes.len(), 1);
        assert!(small.more);
    }

    #[test]
    fn one_time_key_package_is_handed_out_once_then_last_resort() {
        let (_dir, store) = open();
        let (account, d1) = store.create_account(&key(), 1).unwrap();
        let (_, claimer) = store.create_account(&key(), 1).unwrap();
        assert_eq!(store.upload_key_packages(&d1, &[b"kp1", b"kp2"], Some(b"lr"), 3).unwrap(), 2);
        assert!(matches!(
            store.upload_key_packages(&d1, &[b"a", b"b"], None, 3),
            Err(StoreError::TooManyKeyPackages { max: 3 })
        ));
        assert_eq!(
            store.key_package_status(&d1).unwrap(),
            KeyPackageStatus { one_time: 2, last_resort: true }
        );
        let first = store.claim_key_packages(&account, &claimer).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].key_package.as_ref(), first[0].last_resort), (&b"kp1"[..], false));
        let second = store.claim_key_packages(&account, &claimer).unwrap();
        assert_eq!((second[0].key_package.as_ref(), second[0].last_resort), (&b"kp2"[..], false));
        for _ in 0..2 {
            let third = store.claim_key_packages(&account, &claimer).unwrap();
            assert_eq!((third[0].key_package.as_ref(), third[0].last_resort), (&b"lr"[..], true));
        }
        assert_eq!(store.key_package_status(&d1).unwrap().one_time, 0);
        // The claimer's own device is skipped; devices with nothing are omitted.
        assert!(store.claim_key_packages(&account, &d1).unwrap().is_empty());
        assert!(matches!(
            store.claim_key_packages(&AccountId([1; 16]), &claimer),
            Err(StoreError::UnknownAccount)
        ));
        // Replacing the last-resort package.
        store.upload_key_packages(&d1, &[], Some(b"lr2"), 3).unwrap();
        let again = store.claim_key_packages(&account, &claimer).unwrap();
        assert_eq!(again[0].key_package.as_ref(), b"lr2");
    }

    #[test]
    fn concurrent_claims_never_share_a_one_time_package() {
        let (_dir, store) = open();
        let store = std::sync::Arc::new(store);
        let (account, d1) = store.create_account(&key(), 1).unwrap();
        let packages: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i]).collect();
        let refs: Vec<&[u8]> = packages.iter().map(|p| p.as_slice()).collect();
        store.upload_key_packages(&d1, &refs, None, 200).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let claimer = DeviceId::random();
                    let mut got = Vec::new();
                    for _ in 0..10 {
                        for p in store.claim_key_packages(&account, &claimer).unwrap() {
                            got.push(p.key_package.to_vec());
                        }
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<Vec<u8>> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        assert_eq!(all.len(), 40);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40, "a package was handed out twice");
    }

    #[test]
    fn sweep_deletes_expired_messages_entries_and_link_codes() {
        let (_dir, store) = open();
        let (account, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([5; 16]);
        // Welcome expires at 1000 + DAY.
        store.commit(commit(&group, &a, 0, &[b], Some(b"w"))).unwrap();
        store.send(&group, &a, b"old", 10, 500).unwrap();
        store.send(&group, &b, b"new", 10, 10 * DAY).unwrap();
        store.create_link_code(&[1; 32], &account, 400).unwrap();
        store.create_link_code(&[2; 32], &account, 10 * DAY).unwrap();

        let report = store.sweep(600).unwrap();
        assert_eq!(
            report,
            SweepReport { messages: 1, envelopes: 1, link_codes: 1, ..SweepReport::default() }
        );
        let b_page = store.mailbox(&b, 0, 10, 1 << 20).unwrap();
        assert_eq!(b_page.envelopes.len(), 1, "only the welcome is left for b");
        assert_eq!(store.sweep(600).unwrap(), SweepReport::default());

        let report = store.sweep(2 * DAY).unwrap();
        assert_eq!(report, SweepReport { messages: 1, envelopes: 1, ..SweepReport::default() });
        // An ack after expiry finds nothing and does not fail.
        assert_eq!(store.ack(&b, &ids(&b_page)).unwrap(), 0);
        assert_eq!(store.mailbox(&a, 0, 10, 1 << 20).unwrap().envelopes.len(), 1);
        assert_eq!(store.sweep(11 * DAY).unwrap().link_codes, 1);
        assert_eq!(store.log.totals(), Totals::default());
        assert!(store.log.expired(u64::MAX, 10).is_empty() && store.link_codes.is_empty());
    }

    /// Marks `device` revoked the way `OrgStore::revoke` records it.
    fn revoke(store: &SledStore, device: &DeviceId) {
        let orgs = [stadtbote_protocol::OrgId([1; 16])];
        store.revoked.insert(device.as_bytes(), records::encode_orgs(&orgs)).unwrap();
    }

    #[test]
    fn revoked_devices_are_queued_nothing_in_any_group() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let (staff_account, staff) = store.create_account(&key(), 1).unwrap();
        let (_, late) = store.create_account(&key(), 1).unwrap();
        store.upload_key_packages(&staff, &[b"kp"], Some(b"lr"), 5).unwrap();
        let (g1, g2) = (GroupId([1; 16]), GroupId([2; 16]));
        store.commit(commit(&g1, &a, 0, &[b, staff], Some(b"w1"))).unwrap();
        store.commit(commit(&g2, &b, 0, &[staff], Some(b"w2"))).unwrap();
        assert_eq!(store.mailbox(&staff, 0, 10, 1 << 20).unwrap().envelopes.len(), 2);
        revoke(&store, &staff);

        assert_eq!(store.send(&g1, &a, b"m1", 5, 5 + DAY).unwrap(), vec![b]);
        assert!(store.send(&g2, &b, b"m2", 5, 5 + DAY).unwrap().is_empty());
        // A commit reaches the other members only, and adding a revoked
        // device to a new group queues no welcome for it.
        let out = store.commit(commit(&g1, &b, 1, &[late], Some(b"w3"))).unwrap();
        let mut expected = vec![a, late];
        expected.sort();
        assert_eq!(out.recipients, expected, "recipients come sorted");
        let g3 = GroupId([3; 16]);
        let out = store.commit(commit(&g3, &a, 0, &[staff], Some(b"w4"))).unwrap();
        assert!(out.recipients.is_empty());
        let page = store.mailbox(&staff, 0, 10, 1 << 20).unwrap();
        assert_eq!(page.envelopes.len(), 2, "only what was queued before the revocation");
        // Nobody is handed its KeyPackages any more.
        assert!(store.claim_device_key_packages(&[staff, staff], &a).unwrap().is_empty());
        assert!(store.claim_key_packages(&staff_account, &a).unwrap().is_empty());
        // Purging removes what was queued before.
        assert_eq!(store.purge_mailbox(&staff).unwrap(), 2);
        assert!(store.mailbox(&staff, 0, 10, 1 << 20).unwrap().envelopes.is_empty());
    }

    #[test]
    fn claim_device_key_packages_skips_unknown_duplicate_and_own_devices() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        store.upload_key_packages(&a, &[b"a1"], None, 5).unwrap();
        store.upload_key_packages(&b, &[b"b1", b"b2"], None, 5).unwrap();
        let claimed =
            store.claim_device_key_packages(&[a, b, b, DeviceId([0xEE; 16])], &a).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].device, claimed[0].key_package.as_ref()), (b, &b"b1"[..]));
        assert_eq!(store.key_package_status(&b).unwrap().one_time, 1);
        assert_eq!(store.key_package_status(&a).unwrap().one_time, 1, "own device skipped");
    }

    #[test]
    fn an_expired_group_is_deleted_with_everything_queued_for_it() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let (_, c) = store.create_account(&key(), 1).unwrap();
        let (thread, other) = (GroupId([1; 16]), GroupId([2; 16]));
        store.commit(commit(&thread, &a, 0, &[b, c], Some(b"w"))).unwrap();
        store.commit(commit(&other, &a, 0, &[b], Some(b"w-other"))).unwrap();
        for _ in 0..3 {
            store.send(&thread, &a, b"secret", 5, 10 * DAY).unwrap();
        }
        store.send(&other, &a, b"kept", 5, 10 * DAY).unwrap();
        // c reads and acks part of the thread.
        let c_ids = ids(&store.mailbox(&c, 0, 2, 1 << 20).unwrap());
        store.ack(&c, &c_ids).unwrap();

        assert!(matches!(
            store.set_group_expiry(&GroupId([9; 16]), &a, 100, None),
            Err(StoreError::UnknownGroup)
        ));
        let (_, outsider) = store.create_account(&key(), 1).unwrap();
        assert!(matches!(
            store.set_group_expiry(&thread, &outsider, 100, None),
            Err(StoreError::NotAMember)
        ));
        assert_eq!(store.set_group_expiry(&thread, &b, 2 * DAY, None).unwrap(), 2 * DAY);
        // Only ever earlier.
        assert_eq!(store.set_group_expiry(&thread, &a, 3 * DAY, None).unwrap(), 2 * DAY);
        assert_eq!(store.set_group_expiry(&thread, &c, DAY, None).unwrap(), DAY);
        assert_eq!(store.group_expiry_index.len(), 1);

        assert_eq!(store.sweep(DAY).unwrap().groups, 0, "not before its time");
        let report = store.sweep(DAY + 1).unwrap();
        assert_eq!(report.groups, 1);
        assert_eq!(report.messages, 4, "the welcome and three messages");
        // b: the welcome and three messages; c acked two of its four.
        assert_eq!(report.envelopes, 4 + 2);
        assert!(matches!(store.send(&thread, &a, b"x", 1, 2), Err(StoreError::UnknownGroup)));
        // Nothing of the thread remains; the other group is untouched.
        for device in [&b, &c] {
            for envelope in store.mailbox(device, 0, 100, 1 << 20).unwrap().envelopes {
                assert!(!envelope.payload.as_ref().starts_with(b"secret"));
                assert_ne!(envelope.payload.as_ref(), b"w");
            }
        }
        let b_page = store.mailbox(&b, 0, 100, 1 << 20).unwrap();
        assert_eq!(b_page.envelopes.len(), 2, "the other group's welcome and message");
        assert!(store.log.group_envelopes(&store.sgroup(&thread), u64::MAX).is_empty());
        assert!(store.group_expiry.is_empty() && store.group_expiry_index.is_empty());
        assert_eq!(store.log.totals().messages, 2);
        assert_eq!(store.log.group_envelopes(&store.sgroup(&other), u64::MAX).len(), 2);
        // The same id can start a new thread, which the old expiry does not touch.
        store.commit(commit(&thread, &a, 0, &[b], Some(b"again"))).unwrap();
        assert_eq!(store.sweep(DAY + 2).unwrap().groups, 0);
        assert_eq!(store.mailbox(&b, 0, 100, 1 << 20).unwrap().envelopes.len(), 3);
    }

    fn join<'a>(
        group: &'a GroupId,
        caller: &'a DeviceId,
        epoch: u64,
        token_hash: &'a [u8; 32],
    ) -> ExternalJoinInput<'a> {
        ExternalJoinInput {
            group,
            caller,
            epoch,
            commit: b"external",
            token_hash,
            now_ms: 1000,
            expires_at_ms: 1000 + DAY,
            max_members: 4,
        }
    }

    #[test]
    fn group_info_token_check_and_replacement() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, outsider) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([1; 16]);
        let (old, new) = ([1u8; 32], [2u8; 32]);
        assert!(matches!(
            store.put_group_info(&group, &a, &old, b"info", None),
            Err(StoreError::UnknownGroup)
        ));
        store.commit(commit(&group, &a, 0, &[], None)).unwrap();
        assert!(matches!(store.group_info(&group, &old), Err(StoreError::UnknownGroup)));
        assert!(matches!(
            store.put_group_info(&group, &outsider, &old, b"info", None),
            Err(StoreError::NotAMember)
        ));
        // The first info records the moderating org; later puts cannot change it.
        let (town, other_town) = (OrgId([1; 16]), OrgId([2; 16]));
        assert_eq!(store.put_group_info(&group, &a, &old, b"info-1", Some(&town)).unwrap(), 1);
        assert_eq!(store.group_info(&group, &old).unwrap(), (1, b"info-1".to_vec()));
        assert!(matches!(store.group_info(&group, &new), Err(StoreError::InvalidToken)));
        // The GroupInfo answer carries the group's current epoch.
        store.commit(commit(&group, &a, 1, &[], None)).unwrap();
        assert_eq!(store.group_info(&group, &old).unwrap().0, 2);
        // Replacing the link invalidates the old token at once.
        assert_eq!(
            store.put_group_info(&group, &a, &new, b"info-2", Some(&other_town)).unwrap(),
            2
        );
        assert!(matches!(store.group_info(&group, &old), Err(StoreError::InvalidToken)));
        assert!(matches!(
            store.external_join(join(&group, &outsider, 2, &old)),
            Err(StoreError::InvalidToken)
        ));
        assert_eq!(store.group_info(&group, &new).unwrap(), (2, b"info-2".to_vec()));
        // Only a moderator ends a group with a join link.
        assert!(matches!(
            store.set_group_expiry(&group, &a, DAY, None),
            Err(StoreError::ModeratorsOnly)
        ));
        // Expiry deletes the join info with the group.
        assert!(matches!(
            store.set_group_expiry(&group, &a, DAY, Some(&other_town)),
            Err(StoreError::ModeratorsOnly)
        ));
        store.set_group_expiry(&group, &a, DAY, Some(&town)).unwrap();
        assert_eq!(store.sweep(DAY + 1).unwrap().groups, 1);
        assert!(store.group_info.is_empty());
        assert!(matches!(store.group_info(&group, &new), Err(StoreError::UnknownGroup)));
    }

    #[test]
    fn external_join_needs_the_current_epoch() {
        let (_dir, store) = open();
        let (_, a) = store.create_account(&key(), 1).unwrap();
        let (_, b) = store.create_account(&key(), 1).unwrap();
        let (_, revoked) = store.create_account(&key(), 1).unwrap();
        let (_, joiner) = store.create_account(&key(), 1).unwrap();
        let (_, late) = store.create_account(&key(), 1).unwrap();
        let group = GroupId([2; 16]);
        let token = [9u8; 32];
        store.commit(commit(&group, &a, 0, &[b, revoked], Some(b"w"))).unwrap();
        store.put_group_info(&group, &a, &token, b"info", None).unwrap();
        revoke(&store, &revoked);
        let before = store.mailbox(&revoked, 0, 10, 1 << 20).unwrap().envelopes.len();

        assert!(matches!(
            store.external_join(join(&group, &joiner, 0, &token)),
            Err(StoreError::StaleEpoch { current: 1 })
        ));
        assert!(matches!(
            store.external_join(join(&GroupId([3; 16]), &joiner, 1, &token)),
            Err(StoreError::UnknownGroup)
        ));
        assert!(matches!(
            store.external_join(join(&group, &b, 1, &token)),
            Err(StoreError::InvalidCommit(_))
        ));
        let out = store.external_join(join(&group, &joiner, 1, &token)).unwrap();
        assert_eq!(out.epoch, 2);
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(out.recipients, expected, "previous members except revoked ones");
        for device in [&a, &b] {
            let page = store.mailbox(device, 0, 10, 1 << 20).unwrap();
            assert_eq!(page.envelopes.last().unwrap().payload.as_ref(), b"external");
        }
        assert!(store.mailbox(&joiner, 0, 10, 1 << 20).unwrap().envelopes.is_empty());
        assert_eq!(store.mailbox(&revoked, 0, 10, 1 << 20).unwrap().envelopes.len(), before);
        assert_eq!(store.log.totals().messages, 2, "the welcome and the commit, each stored once");
        // The joiner is a member now: it can send and commit.
        assert_eq!(store.send(&group, &joiner, b"hi", 5, 5 + DAY).unwrap().len(), 2);
        // The same join again is stale; a fifth member exceeds max_members = 4.
        assert!(matches!(
            store.external_join(join(&group, &late, 1, &token)),
            Err(StoreError::StaleEpoch { current: 2 })
        ));
        let input = ExternalJoinInput { max_members: 5, ..join(&group, &late, 2, &token) };
        assert!(matches!(
            store.external_join(join(&group, &late, 2, &token)),
            Err(StoreError::TooManyMembers { max: 4 })
        ));
        assert_eq!(store.external_join(input).unwrap().epoch, 3);
    }

    #[test]
    fn reopening_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let device = {
            let store = SledStore::open(dir.path()).unwrap();
            let (_, device) = store.create_account(&key(), 1).unwrap();
            store.flush().unwrap();
            device
        };
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.device(&device).unwrap().is_some());
    }
}
