//! The PostgreSQL [`Store`] (`store = "postgres"`): accounts, devices,
//! link codes, KeyPackages, groups, commits and mailboxes in the tables of
//! `server/migrations/` (applied on start with refinery, see [`super::pg_schema`]).
//!
//! * Transactions: every method is one database transaction on a pooled
//!   connection ([`super::pg_pool`]). A commit locks its group row with
//!   `SELECT … FOR UPDATE` (the envelope-ordering lock of sled): exactly one
//!   commit per epoch. A group that does not exist yet is created with
//!   `INSERT … ON CONFLICT DO NOTHING`, so two concurrent creators cannot both
//!   win. The rules of [`super::rules`] decide, inside the transaction, as on
//!   sled.
//! * Envelope ids: a message's id (one sequence), taken only after the
//!   transaction locked each recipient's `mailbox_lock` row (in sorted
//!   device order, so no two storing transactions wait on each other in a
//!   circle; PostgreSQL's deadlock detector answers the rare remaining case
//!   as contention). The locks are held until commit, so a device's
//!   envelope ids become visible in increasing order and a delivery cursor
//!   never skips one.
//! * Sends: [`Store::send`] does not run its own transaction; it queues the
//!   send with the batcher of [`super::pg_send_batch`], which stores many
//!   senders' messages in one transaction (the same locks and rules as
//!   above, for the whole batch) and answers each sender once it committed.
//! * Durability: connections run with `synchronous_commit = off`, so a
//!   method's commit is visible at once but its WAL may not be flushed yet;
//!   [`Store::flush`] commits one transaction that takes a transaction id
//!   with `synchronous_commit = on`, which waits for the WAL up to it — and so
//!   for every earlier commit — to be flushed: one WAL fsync for every sender
//!   that registered before (group commit, see `crate::flush`).
//! * Ids: stored keyed, in the forms sled uses ([`super::shred`]): kdev,
//!   kgroup, blind(account); the raw device id and account id only sealed
//!   with the account's shredding key, whose keyring lives in
//!   `<data_dir>/keys` (outside the database, so that neither WAL nor WAL
//!   archives hold it). Unique keys are never violated on purpose (which
//!   would print their values in PostgreSQL's log): inserts use
//!   `ON CONFLICT`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use postgres::Transaction;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{ClaimedKeyPackage, DeviceInfo, Envelope, ServerStats};
use stadtbote_protocol::{AccountId, DeviceId, GroupId, OrgId};

use super::pg_pool::{PgOptions, Pool, pg_error, prepared};
use super::pg_send_batch::{SendBatcher, SendInput};
use super::rules::commit::{CommitPlan, GroupSnapshot};
use super::rules::{self, DeviceStanding, GroupView};
use super::shred::{Blind, Keyring, SEALED_ID_LEN};
use super::{
    CommitInput, CommitOutcome, DeviceRecord, ExternalJoinInput, KeyPackageStatus, LinkOutcome,
    MailboxPage, StorageError, Store, StoreError, SweepReport,
};

/// Tree names used as the sealing context (as sled's tree names).
const DEVICES: &str = "devices";
const ACCOUNT_DEVICES: &str = "account_devices";
const KEYPACKAGES: &str = "keypackages";
const LAST_RESORT: &str = "last_resort";
const LINK_CODES: &str = "link_codes";
const GROUP_IDS: &str = "group_ids";

/// The PostgreSQL-backed store. Cheap to share behind an `Arc`.
pub struct PgStore {
    pub(super) pool: Arc<Pool>,
    pub(super) keyring: Arc<Keyring>,
    /// Stores sends in batches, many senders per transaction
    /// ([`super::pg_send_batch`]).
    sends: SendBatcher,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A `u64` as PostgreSQL's `bigint` (times and counters stay far below).
pub(super) fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored `bigint` as `u64`.
pub(super) fn unbig(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn device_of(bytes: &[u8], table: &'static str) -> Result<DeviceId, StoreError> {
    DeviceId::from_slice(bytes).map_err(|_| StoreError::corrupt(table))
}

fn blind_of(bytes: &[u8], table: &'static str) -> Result<Blind, StoreError> {
    Ok(Blind(bytes.try_into().map_err(|_| StoreError::corrupt(table))?))
}

fn sealed_id_of(bytes: &[u8], table: &'static str) -> Result<[u8; SEALED_ID_LEN], StoreError> {
    bytes.try_into().map_err(|_| StoreError::corrupt(table))
}

impl PgStore {
    /// Connects (lazily) with `options`, applies the schema migrations and
    /// opens the keyring under `<data_dir>/keys`. Refuses a database whose
    /// schema is newer than this release.
    pub fn open(options: &PgOptions, data_dir: &Path) -> Result<Self, StoreError> {
        let pool = Pool::new(options)
            .map_err(|e| StoreError::from(StorageError::Unavailable(e.into())))?;
        let fresh = super::pg_schema::migrate(&pool)?;
        super::sled_store::create_private_dir(data_dir).map_err(StoreError::unavailable)?;
        let keyring = Arc::new(Keyring::open(data_dir, fresh)?);
        super::pg_schema::mark_keyed(&pool)?;
        let pool = Arc::new(pool);
        let sends = SendBatcher::start(pool.clone(), keyring.clone(), options.send_batch)?;
        Ok(Self { pool, keyring, sends })
    }

    /// Whether the database answers now (readiness).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.pool.run(|c| c.simple_query("SELECT 1").map(|_| ()).map_err(pg_error))
    }

    fn kdev(&self, d: &DeviceId) -> Vec<u8> {
        self.keyring.device(d).as_bytes().to_vec()
    }

    fn kgroup(&self, g: &GroupId) -> Vec<u8> {
        self.keyring.group(g).as_bytes().to_vec()
    }
}

/// Inserts a new device of `account` inside `tx`.
fn insert_device(
    tx: &mut Transaction<'_>,
    keyring: &Keyring,
    account: &AccountId,
    identity_key: &IdentityKey,
    now_ms: u64,
) -> Result<DeviceId, StoreError> {
    let device = DeviceId::random();
    let kdev = keyring.device(&device);
    let kdev = kdev.as_bytes().as_slice();
    let (blind, sealed_account) = keyring.seal_account(account, DEVICES, kdev)?;
    // The sealing contexts are sled's (tree name and record key), so that
    // a backup's records open on either backend.
    let kdev_id = keyring.device(&device);
    let ad_key = super::records::account_device_key(&blind, &kdev_id);
    let sealed_device = keyring.seal(&blind, ACCOUNT_DEVICES, &ad_key, device.as_bytes())?;
    let inserted = tx
        .execute(
            "INSERT INTO devices (kdev, blind, sealed_account, sealed_device, identity_key, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kdev) DO NOTHING",
            &[
                &kdev,
                &blind.as_bytes().as_slice(),
                &sealed_account.as_slice(),
                &sealed_device,
                &identity_key.0.as_slice(),
                &big(now_ms),
            ],
        )
        .map_err(pg_error)?;
    if inserted != 1 {
        // 128 random bits do not collide in practice; should they,
        // refusing is safer than overwriting someone's device.
        return Err(StoreError::contention());
    }
    Ok(device)
}

/// The raw ids of stored devices (`kdevs`) that still exist, in the order
/// of `kdevs`.
fn raw_devices(
    tx: &mut Transaction<'_>,
    keyring: &Keyring,
    kdevs: &[DeviceId],
) -> Result<Vec<DeviceId>, StoreError> {
    if kdevs.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&[u8]> = kdevs.iter().map(|d| d.as_bytes().as_slice()).collect();
    let statement =
        prepared(tx, "SELECT kdev, blind, sealed_device FROM devices WHERE kdev = ANY($1)")?;
    let rows = tx.query(&statement, &[&keys]).map_err(pg_error)?;
    open_devices(keyring, rows)
}

/// The raw device ids of rows `(kdev, blind, sealed_device)` of `devices`,
/// sorted.
fn open_devices(keyring: &Keyring, rows: Vec<postgres::Row>) -> Result<Vec<DeviceId>, StoreError> {
    let mut out: Vec<DeviceId> =
        open_device_pairs(keyring, rows)?.into_iter().map(|(_, device)| device).collect();
    out.sort();
    Ok(out)
}

/// Rows `(kdev, blind, sealed_device)` of `devices` as pairs of the stored
/// id and the raw device id, in the rows' order; a row whose sealed id no
/// longer opens (its account was shredded) is left out.
pub(super) fn open_device_pairs(
    keyring: &Keyring,
    rows: Vec<postgres::Row>,
) -> Result<Vec<(Vec<u8>, DeviceId)>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kdev: &[u8] = row.get(0);
        let blind = blind_of(row.get(1), DEVICES)?;
        let sealed: &[u8] = row.get(2);
        let ad_key = [blind.as_bytes().as_slice(), kdev].concat();
        if let Some(plain) = keyring.open_sealed(&blind, ACCOUNT_DEVICES, &ad_key, sealed)? {
            let device = device_of(&plain, DEVICES)?;
            if keyring.device(&device).as_bytes().as_slice() != kdev {
                return Err(StoreError::corrupt(DEVICES));
            }
            out.push((kdev.to_vec(), device));
        }
    }
    Ok(out)
}

/// Locks the mailboxes of the stored device ids in `$1` (sorted, no
/// duplicates) in that order, creating their lock rows as needed, and
/// answers the rows `(kdev, blind, sealed_device)` of those devices that
/// exist. A data-modifying WITH runs to completion (in the ORDER BY order)
/// before the devices are read.
pub(super) const LOCK_MAILBOXES: &str = "WITH l AS (INSERT INTO mailbox_lock (kdev) \
     SELECT d FROM unnest($1::bytea[]) WITH ORDINALITY AS t(d, n) ORDER BY n \
     ON CONFLICT (kdev) DO UPDATE SET kdev = EXCLUDED.kdev RETURNING kdev) \
     SELECT d.kdev, d.blind, d.sealed_device FROM devices d JOIN l ON l.kdev = d.kdev";

/// Stores `payload` once and queues it for `recipients` (stored ids), in
/// two statements: the recipients' mailbox locks, then the message and its
/// entries (see the module docs on envelope ids). Answers the recipients'
/// rows `(kdev, blind, sealed_device)` of `devices` (those that still
/// exist), read by the statement that locks their mailboxes: the send path
/// needs their raw ids to wake them, and this spares it a round trip.
pub(super) fn enqueue(
    tx: &mut Transaction<'_>,
    kgroup: &[u8],
    payload: &[u8],
    recipients: &[DeviceId],
    stored_at: u64,
    expires_at: u64,
) -> Result<Vec<postgres::Row>, StoreError> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&[u8]> = recipients.iter().map(|d| d.as_bytes().as_slice()).collect();
    sorted.sort();
    sorted.dedup();
    // Lock the recipients' mailboxes first, then take the message id. A
    // data-modifying WITH runs to completion (in the ORDER BY order) before
    // the devices are read.
    let lock = prepared(tx, LOCK_MAILBOXES)?;
    let rows = tx.query(&lock, &[&sorted]).map_err(pg_error)?;
    let insert = prepared(
        tx,
        "WITH m AS (INSERT INTO messages (kgroup, payload, stored_at, expires_at) \
                    VALUES ($1, $2, $3, $4) RETURNING id) \
         INSERT INTO mailbox (kdev, message) SELECT d, m.id FROM unnest($5::bytea[]) AS d, m",
    )?;
    tx.execute(&insert, &[&kgroup, &payload, &big(stored_at), &big(expires_at), &sorted])
        .map_err(pg_error)?;
    Ok(rows)
}

/// What the rules may ask about devices, answered inside the transaction.
pub(super) struct TxView<'a, 'b> {
    tx: RefCell<&'a mut Transaction<'b>>,
    keyring: &'a Keyring,
    /// Whether any device is revoked at all (asked once per transaction).
    any_revoked: Cell<Option<bool>>,
}

impl<'a, 'b> TxView<'a, 'b> {
    fn new(tx: &'a mut Transaction<'b>, keyring: &'a Keyring) -> Self {
        Self { tx: RefCell::new(tx), keyring, any_revoked: Cell::new(None) }
    }

    /// A view that already knows whether any device is revoked (read by
    /// the statement that loaded the group).
    pub(super) fn knowing_revoked(
        tx: &'a mut Transaction<'b>,
        keyring: &'a Keyring,
        any: bool,
    ) -> Self {
        Self { tx: RefCell::new(tx), keyring, any_revoked: Cell::new(Some(any)) }
    }
}

impl GroupView for TxView<'_, '_> {
    fn device_standing(&self, stored: &DeviceId) -> Result<DeviceStanding, StoreError> {
        let mut tx = self.tx.borrow_mut();
        let row = tx
            .query_opt(
                "SELECT blocked FROM devices WHERE kdev = $1",
                &[&stored.as_bytes().as_slice()],
            )
            .map_err(pg_error)?;
        Ok(match row {
            None => DeviceStanding::Unknown,
            Some(r) if r.get::<_, bool>(0) => DeviceStanding::Blocked,
            Some(_) => DeviceStanding::Active,
        })
    }

    /// The revocation list names staff devices by their ids (public org
    /// data), so the stored id is opened to the device id first.
    fn is_queued_nothing(&self, stored: &DeviceId) -> Result<bool, StoreError> {
        let mut tx = self.tx.borrow_mut();
        let any = match self.any_revoked.get() {
            Some(any) => any,
            None => {
                let any: bool = tx
                    .query_one("SELECT EXISTS (SELECT 1 FROM kv WHERE tree = 'revoked')", &[])
                    .map_err(pg_error)?
                    .get(0);
                self.any_revoked.set(Some(any));
                any
            }
        };
        if !any {
            return Ok(false);
        }
        let Some(device) = raw_devices(&mut tx, self.keyring, &[*stored])?.pop() else {
            return Ok(false);
        };
        let row = tx
            .query_opt(
                "SELECT 1 FROM kv WHERE tree = 'revoked' AND key = $1",
                &[&device.as_bytes().as_slice()],
            )
            .map_err(pg_error)?;
        Ok(row.is_some())
    }
}

pub(super) fn members_of(raw: Vec<Vec<u8>>) -> Result<Vec<DeviceId>, StoreError> {
    raw.iter().map(|m| device_of(m, "groups")).collect()
}

fn member_bytes(members: &[DeviceId]) -> Vec<&[u8]> {
    members.iter().map(|d| d.as_bytes().as_slice()).collect()
}

/// The group locked for this transaction, if it exists.
fn lock_group(
    tx: &mut Transaction<'_>,
    kgroup: &[u8],
) -> Result<Option<GroupSnapshot>, StoreError> {
    let row = tx
        .query_opt("SELECT epoch, members FROM groups WHERE kgroup = $1 FOR UPDATE", &[&kgroup])
        .map_err(pg_error)?;
    match row {
        None => Ok(None),
        Some(r) => {
            Ok(Some(GroupSnapshot { epoch: unbig(r.get(0)), members: members_of(r.get(1))? }))
        }
    }
}

/// The group's join link record's org: `None` when the group has no link,
/// `Some(None)` for a link without an org.
fn recorded_link_org(
    tx: &mut Transaction<'_>,
    kgroup: &[u8],
) -> Result<Option<Option<OrgId>>, StoreError> {
    let row = tx
        .query_opt("SELECT org FROM group_info WHERE kgroup = $1", &[&kgroup])
        .map_err(pg_error)?;
    let Some(row) = row else { return Ok(None) };
    let org = row
        .get::<_, Option<Vec<u8>>>(0)
        .map(|o| OrgId::from_slice(&o).map_err(|_| StoreError::corrupt("group_info")))
        .transpose()?;
    Ok(Some(org))
}

/// Owned copy of a commit request, so that it can travel to a connection
/// thread.
struct OwnedCommit {
    group: GroupId,
    caller: DeviceId,
    epoch: u64,
    commit: Vec<u8>,
    add: Vec<DeviceId>,
    remove: Vec<DeviceId>,
    welcome: Option<Vec<u8>>,
    now_ms: u64,
    expires_at_ms: u64,
    max_members: usize,
    may_create: bool,
}

impl OwnedCommit {
    fn input(&self) -> CommitInput<'_> {
        CommitInput {
            group: &self.group,
            caller: &self.caller,
            epoch: self.epoch,
            commit: &self.commit,
            add: &self.add,
            remove: &self.remove,
            welcome: self.welcome.as_deref(),
            now_ms: self.now_ms,
            expires_at_ms: self.expires_at_ms,
            max_members: self.max_members,
            may_create: self.may_create,
        }
    }
}

fn commit_tx(
    tx: &mut Transaction<'_>,
    keyring: &Keyring,
    c: &OwnedCommit,
    sealed_group: Vec<u8>,
) -> Result<CommitOutcome, StoreError> {
    let kgroup = c.group.as_bytes().as_slice();
    let mut current = lock_group(tx, kgroup)?;
    let mut created = false;
    if current.is_none() && c.epoch == 0 && c.may_create {
        // Claim the group row first; a concurrent creator that got there
        // first makes this one an ordinary (stale) commit.
        let caller = [c.caller.as_bytes().as_slice()];
        let n = tx
            .execute(
                "INSERT INTO groups (kgroup, epoch, members, sealed_id) VALUES ($1, 0, $2, $3) \
                 ON CONFLICT (kgroup) DO NOTHING",
                &[&kgroup, &caller.as_slice(), &sealed_group],
            )
            .map_err(pg_error)?;
        if n == 1 {
            created = true;
        } else {
            current = lock_group(tx, kgroup)?;
        }
    }
    let plan = {
        let view = TxView::new(tx, keyring);
        rules::commit::plan_commit(&view, if created { None } else { current }, &c.input())?
    };
    let CommitPlan { group, commit_to, welcomed } = plan;
    tx.execute(
        "UPDATE groups SET epoch = $2, members = $3 WHERE kgroup = $1",
        &[&kgroup, &big(group.epoch), &member_bytes(&group.members)],
    )
    .map_err(pg_error)?;
    enqueue(tx, kgroup, &c.commit, &commit_to, c.now_ms, c.expires_at_ms)?;
    if let Some(welcome) = &c.welcome {
        enqueue(tx, kgroup, welcome, &welcomed, c.now_ms, c.expires_at_ms)?;
    }
    let mut woken = commit_to;
    woken.extend_from_slice(&welcomed);
    let recipients = raw_devices(tx, keyring, &woken)?;
    Ok(CommitOutcome { epoch: group.epoch, recipients })
}

impl Store for PgStore {
    fn create_account(
        &self,
        identity_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<(AccountId, DeviceId), StoreError> {
        let account = AccountId::random();
        let blind = self.keyring.blind(&account);
        // The key is durable before any record sealed with it is written.
        self.keyring.create_key(&blind)?;
        let (keyring, key) = (self.keyring.clone(), *identity_key);
        self.pool.tx(move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO accounts (blind, created_at) VALUES ($1, $2) \
                     ON CONFLICT (blind) DO NOTHING",
                    &[&blind.as_bytes().as_slice(), &big(now_ms)],
                )
                .map_err(pg_error)?;
            if n != 1 {
                return Err(StoreError::contention());
            }
            let device = insert_device(tx, &keyring, &account, &key, now_ms)?;
            Ok((account, device))
        })
    }

    fn device(&self, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let kdev = self.kdev(device);
        let keyring = self.keyring.clone();
        self.pool.run(move |c| {
            // Asked before every write request (is the device blocked?).
            let lookup = prepared(
                c,
                "SELECT blind, sealed_account, identity_key, created_at, blocked \
                 FROM devices WHERE kdev = $1",
            )?;
            let row = c.query_opt(&lookup, &[&kdev]).map_err(pg_error)?;
            let Some(row) = row else { return Ok(None) };
            let blind = blind_of(row.get(0), DEVICES)?;
            let sealed = sealed_id_of(row.get(1), DEVICES)?;
            // A device whose account key is gone belongs to a deleted account.
            let Some(account) = keyring.open_account(&blind, &sealed, DEVICES, &kdev)? else {
                return Ok(None);
            };
            let key: &[u8] = row.get(2);
            let identity_key =
                IdentityKey(key.try_into().map_err(|_| StoreError::corrupt(DEVICES))?);
            Ok(Some(DeviceRecord {
                account,
                identity_key,
                created_at: unbig(row.get(3)),
                blocked: row.get(4),
            }))
        })
    }

    fn list_devices(&self, account: &AccountId) -> Result<Vec<DeviceInfo>, StoreError> {
        let blind = self.keyring.blind(account);
        let keyring = self.keyring.clone();
        self.pool.run(move |c| {
            let b = blind.as_bytes().as_slice();
            if c.query_opt("SELECT 1 FROM accounts WHERE blind = $1", &[&b])
                .map_err(pg_error)?
                .is_none()
            {
                return Err(StoreError::UnknownAccount);
            }
            let rows = c
                .query(
                    "SELECT kdev, sealed_device, identity_key FROM devices \
                     WHERE blind = $1 AND NOT blocked ORDER BY kdev",
                    &[&b],
                )
                .map_err(pg_error)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let kdev: &[u8] = row.get(0);
                let ad_key = [blind.as_bytes().as_slice(), kdev].concat();
                let Some(plain) =
                    keyring.open_sealed(&blind, ACCOUNT_DEVICES, &ad_key, row.get(1))?
                else {
                    continue;
                };
                let key: &[u8] = row.get(2);
                out.push(DeviceInfo {
                    device: device_of(&plain, DEVICES)?,
                    identity_key: IdentityKey(
                        key.try_into().map_err(|_| StoreError::corrupt(DEVICES))?,
                    ),
                });
            }
            Ok(out)
        })
    }

    fn create_link_code(
        &self,
        code_hash: &[u8; 32],
        account: &AccountId,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let (blind, sealed) = self.keyring.seal_account(account, LINK_CODES, code_hash)?;
        let code = code_hash.to_vec();
        self.pool.tx(move |tx| {
            tx.execute(
                "INSERT INTO link_codes (code_hash, blind, sealed_account, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (code_hash) DO UPDATE SET \
                 blind = EXCLUDED.blind, sealed_account = EXCLUDED.sealed_account, \
                 expires_at = EXCLUDED.expires_at",
                &[&code, &blind.as_bytes().as_slice(), &sealed.as_slice(), &big(expires_at_ms)],
            )
            .map_err(pg_error)?;
            Ok(())
        })
    }

    fn redeem_link_code(
        &self,
        code_hash: &[u8; 32],
        identity_key: Option<&IdentityKey>,
        now_ms: u64,
    ) -> Result<LinkOutcome, StoreError> {
        let (code, key, keyring) =
            (code_hash.to_vec(), identity_key.copied(), self.keyring.clone());
        self.pool.tx(move |tx| {
            let row = tx
                .query_opt(
                    "DELETE FROM link_codes WHERE code_hash = $1 AND expires_at > $2 \
                     RETURNING blind, sealed_account",
                    &[&code, &big(now_ms)],
                )
                .map_err(pg_error)?;
            let Some(row) = row else { return Err(StoreError::InvalidCode) };
            let Some(key) = key else { return Ok(LinkOutcome::Consumed) };
            let blind = blind_of(row.get(0), LINK_CODES)?;
            let sealed = sealed_id_of(row.get(1), LINK_CODES)?;
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM accounts WHERE blind = $1",
                    &[&blind.as_bytes().as_slice()],
                )
                .map_err(pg_error)?
                .is_some();
            if !exists {
                return Err(StoreError::InvalidCode);
            }
            let Some(account) = keyring.open_account(&blind, &sealed, LINK_CODES, &code)? else {
                return Err(StoreError::InvalidCode);
            };
            let device = insert_device(tx, &keyring, &account, &key, now_ms)?;
            Ok(LinkOutcome::Linked { account, device })
        })
    }

    fn key_package_status(&self, device: &DeviceId) -> Result<KeyPackageStatus, StoreError> {
        let kdev = self.kdev(device);
        self.pool.run(move |c| {
            let row = c
                .query_one(
                    "SELECT (SELECT count(*) FROM key_packages WHERE kdev = $1), \
                            EXISTS (SELECT 1 FROM last_resort WHERE kdev = $1)",
                    &[&kdev],
                )
                .map_err(pg_error)?;
            let one_time: i64 = row.get(0);
            Ok(KeyPackageStatus {
                one_time: u32::try_from(one_time).unwrap_or(u32::MAX),
                last_resort: row.get(1),
            })
        })
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
        let kdev = self.kdev(device);
        let keyring = self.keyring.clone();
        let one_time: Vec<Vec<u8>> = one_time.iter().map(|p| p.to_vec()).collect();
        let last_resort = last_resort.map(<[u8]>::to_vec);
        self.pool.tx(move |tx| {
            // Locking the device row serialises uploads (and claims) of one
            // device, so concurrent uploads cannot both slip under the limit.
            let row = tx
                .query_opt("SELECT blind FROM devices WHERE kdev = $1 FOR UPDATE", &[&kdev])
                .map_err(pg_error)?;
            let Some(row) = row else { return Err(StoreError::UnknownDevice) };
            let blind = blind_of(row.get(0), DEVICES)?;
            let held: i64 = tx
                .query_one("SELECT count(*) FROM key_packages WHERE kdev = $1", &[&kdev])
                .map_err(pg_error)?
                .get(0);
            let total = u32::try_from(held).unwrap_or(u32::MAX).saturating_add(added);
            if total > max_one_time {
                return Err(StoreError::TooManyKeyPackages { max: max_one_time });
            }
            let kdev_id = device_of(&kdev, DEVICES)?;
            for package in &one_time {
                // The sequence number is taken first: it is part of the
                // sealing context (sled's record key, kdev ‖ seq).
                let seq: i64 = tx
                    .query_one("SELECT nextval(pg_get_serial_sequence('key_packages', 'seq'))", &[])
                    .map_err(pg_error)?
                    .get(0);
                let key = super::records::id_seq_key(kdev_id.as_bytes(), unbig(seq));
                let sealed = keyring.seal(&blind, KEYPACKAGES, &key, package)?;
                tx.execute(
                    "INSERT INTO key_packages (kdev, seq, sealed) VALUES ($1, $2, $3)",
                    &[&kdev, &seq, &sealed],
                )
                .map_err(pg_error)?;
            }
            if let Some(package) = &last_resort {
                let sealed = keyring.seal(&blind, LAST_RESORT, &kdev, package)?;
                tx.execute(
                    "INSERT INTO last_resort (kdev, sealed) VALUES ($1, $2) \
                     ON CONFLICT (kdev) DO UPDATE SET sealed = EXCLUDED.sealed",
                    &[&kdev, &sealed],
                )
                .map_err(pg_error)?;
            }
            Ok(total)
        })
    }

    fn claim_key_packages(
        &self,
        account: &AccountId,
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError> {
        let blind = self.keyring.blind(account);
        let keyring = self.keyring.clone();
        let devices = self.pool.run(move |c| {
            let b = blind.as_bytes().as_slice();
            if c.query_opt("SELECT 1 FROM accounts WHERE blind = $1", &[&b])
                .map_err(pg_error)?
                .is_none()
            {
                return Err(StoreError::UnknownAccount);
            }
            let rows = c
                .query(
                    "SELECT kdev, sealed_device FROM devices WHERE blind = $1 ORDER BY kdev",
                    &[&b],
                )
                .map_err(pg_error)?;
            let mut out = Vec::new();
            for row in rows {
                let kdev: &[u8] = row.get(0);
                let ad_key = [blind.as_bytes().as_slice(), kdev].concat();
                if let Some(plain) =
                    keyring.open_sealed(&blind, ACCOUNT_DEVICES, &ad_key, row.get(1))?
                {
                    out.push(device_of(&plain, DEVICES)?);
                }
            }
            Ok(out)
        })?;
        self.claim_device_key_packages(&devices, claimer)
    }

    fn claim_device_key_packages(
        &self,
        devices: &[DeviceId],
        claimer: &DeviceId,
    ) -> Result<Vec<ClaimedKeyPackage>, StoreError> {
        let mut seen = BTreeSet::new();
        let targets: Vec<(DeviceId, Vec<u8>)> = devices
            .iter()
            .filter(|d| *d != claimer && seen.insert(**d))
            .map(|d| (*d, self.kdev(d)))
            .collect();
        let keyring = self.keyring.clone();
        self.pool.tx(move |tx| {
            let any_revoked: bool = tx
                .query_one("SELECT EXISTS (SELECT 1 FROM kv WHERE tree = 'revoked')", &[])
                .map_err(pg_error)?
                .get(0);
            let mut claimed = Vec::with_capacity(targets.len());
            for (device, kdev) in &targets {
                let row = tx
                    .query_opt("SELECT blind, blocked FROM devices WHERE kdev = $1", &[kdev])
                    .map_err(pg_error)?;
                let Some(row) = row else { continue };
                let blind = blind_of(row.get(0), DEVICES)?;
                let standing =
                    if row.get(1) { DeviceStanding::Blocked } else { DeviceStanding::Active };
                let revoked = any_revoked
                    && tx
                        .query_opt(
                            "SELECT 1 FROM kv WHERE tree = 'revoked' AND key = $1",
                            &[&device.as_bytes().as_slice()],
                        )
                        .map_err(pg_error)?
                        .is_some();
                if !rules::revocation::may_be_claimed(standing, revoked) {
                    continue;
                }
                // The oldest one-time package, taken exclusively: a
                // concurrent claim skips the locked row and takes the next.
                let one = tx
                    .query_opt(
                        "DELETE FROM key_packages WHERE (kdev, seq) = (SELECT kdev, seq FROM \
                         key_packages WHERE kdev = $1 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                         RETURNING seq, sealed",
                        &[kdev],
                    )
                    .map_err(pg_error)?;
                let (sealed, table, ad_key, last_resort): (Vec<u8>, &'static str, Vec<u8>, bool) =
                    match one {
                        Some(row) => {
                            let kdev_id = device_of(kdev, DEVICES)?;
                            let key =
                                super::records::id_seq_key(kdev_id.as_bytes(), unbig(row.get(0)));
                            (row.get(1), KEYPACKAGES, key.to_vec(), false)
                        }
                        None => {
                            let row = tx
                                .query_opt(
                                    "SELECT sealed FROM last_resort WHERE kdev = $1",
                                    &[kdev],
                                )
                                .map_err(pg_error)?;
                            match row {
                                Some(row) => (row.get(0), LAST_RESORT, kdev.clone(), true),
                                None => continue,
                            }
                        }
                    };
                // A package of an account deleted meanwhile no longer
                // opens; it is consumed all the same.
                if let Some(package) = keyring.open_sealed(&blind, table, &ad_key, &sealed)? {
                    claimed.push(ClaimedKeyPackage {
                        device: *device,
                        key_package: package.to_vec().into(),
                        last_resort,
                    });
                }
            }
            Ok(claimed)
        })
    }

    fn commit(&self, input: CommitInput<'_>) -> Result<CommitOutcome, StoreError> {
        // The lists are checked before any round trip: a malformed commit
        // never waits for others.
        rules::commit::check_commit_shape(&input)?;
        let k = &self.keyring;
        let owned = OwnedCommit {
            group: k.group(input.group),
            caller: k.device(input.caller),
            epoch: input.epoch,
            commit: input.commit.to_vec(),
            add: input.add.iter().map(|d| k.device(d)).collect(),
            remove: input.remove.iter().map(|d| k.device(d)).collect(),
            welcome: input.welcome.map(<[u8]>::to_vec),
            now_ms: input.now_ms,
            expires_at_ms: input.expires_at_ms,
            max_members: input.max_members,
            may_create: input.may_create,
        };
        // The raw group id, sealed for the members' account export; stored
        // only when this commit creates the group.
        let kg = owned.group;
        let sealed_group = k.seal_group(input.group, GROUP_IDS, kg.as_bytes())?;
        let keyring = self.keyring.clone();
        self.pool.tx(move |tx| commit_tx(tx, &keyring, &owned, sealed_group))
    }

    fn put_group_info(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        token_hash: &[u8; 32],
        info: &[u8],
        org: Option<&OrgId>,
    ) -> Result<u64, StoreError> {
        let (kgroup, kcaller) = (self.kgroup(group), self.keyring.device(caller));
        let (token, info, org) = (token_hash.to_vec(), info.to_vec(), org.copied());
        self.pool.tx(move |tx| {
            let Some(current) = lock_group(tx, &kgroup)? else {
                return Err(StoreError::UnknownGroup);
            };
            rules::group::require_member(&current.members, &kcaller)?;
            let recorded = recorded_link_org(tx, &kgroup)?;
            let org = rules::group::link_org(recorded, org.as_ref());
            let org_bytes = org.map(|o| o.as_bytes().to_vec());
            tx.execute(
                "INSERT INTO group_info (kgroup, epoch, token_hash, info, org) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kgroup) DO UPDATE SET \
                 epoch = EXCLUDED.epoch, token_hash = EXCLUDED.token_hash, \
                 info = EXCLUDED.info, org = EXCLUDED.org",
                &[&kgroup, &big(current.epoch), &token, &info, &org_bytes],
            )
            .map_err(pg_error)?;
            Ok(current.epoch)
        })
    }

    fn group_info(
        &self,
        group: &GroupId,
        token_hash: &[u8; 32],
    ) -> Result<(u64, Vec<u8>), StoreError> {
        let (kgroup, token) = (self.kgroup(group), *token_hash);
        self.pool.run(move |c| {
            let row = c
                .query_opt(
                    "SELECT g.epoch, i.token_hash, i.info FROM group_info i \
                     JOIN groups g ON g.kgroup = i.kgroup WHERE i.kgroup = $1",
                    &[&kgroup],
                )
                .map_err(pg_error)?;
            let Some(row) = row else { return Err(StoreError::UnknownGroup) };
            let stored: &[u8] = row.get(1);
            let stored: [u8; 32] =
                stored.try_into().map_err(|_| StoreError::corrupt("group_info"))?;
            if !super::records::hash_eq(&stored, &token) {
                return Err(StoreError::InvalidToken);
            }
            Ok((unbig(row.get(0)), row.get(2)))
        })
    }

    fn external_join(&self, input: ExternalJoinInput<'_>) -> Result<CommitOutcome, StoreError> {
        let (kgroup, kcaller) =
            (self.keyring.group(input.group), self.keyring.device(input.caller));
        let (epoch, commit, token) = (input.epoch, input.commit.to_vec(), *input.token_hash);
        let (now_ms, expires_at_ms, max_members) =
            (input.now_ms, input.expires_at_ms, input.max_members);
        let keyring = self.keyring.clone();
        self.pool.tx(move |tx| {
            let kg = kgroup.as_bytes().as_slice();
            let current = lock_group(tx, kg)?.ok_or(StoreError::UnknownGroup)?;
            // Checked under the group lock: a link replaced a moment ago no
            // longer admits anyone.
            let row = tx
                .query_opt("SELECT token_hash FROM group_info WHERE kgroup = $1", &[&kg])
                .map_err(pg_error)?;
            let Some(row) = row else { return Err(StoreError::UnknownGroup) };
            let stored: &[u8] = row.get(0);
            let stored: [u8; 32] =
                stored.try_into().map_err(|_| StoreError::corrupt("group_info"))?;
            let token_matches = super::records::hash_eq(&stored, &token);
            let input = ExternalJoinInput {
                group: &kgroup,
                caller: &kcaller,
                epoch,
                commit: &commit,
                token_hash: &token,
                now_ms,
                expires_at_ms,
                max_members,
            };
            let plan = {
                let view = TxView::new(tx, &keyring);
                rules::commit::plan_external_join(&view, current, token_matches, &input)?
            };
            tx.execute(
                "UPDATE groups SET epoch = $2, members = $3 WHERE kgroup = $1",
                &[&kg, &big(plan.group.epoch), &member_bytes(&plan.group.members)],
            )
            .map_err(pg_error)?;
            enqueue(tx, kg, &commit, &plan.commit_to, now_ms, expires_at_ms)?;
            let recipients = raw_devices(tx, &keyring, &plan.commit_to)?;
            Ok(CommitOutcome { epoch: plan.group.epoch, recipients })
        })
    }

    fn send(
        &self,
        group: &GroupId,
        sender: &DeviceId,
        payload: &[u8],
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        // Stored with other senders' messages in one transaction
        // (group commit, see `pg_send_batch`); answered once it committed.
        self.sends.send(SendInput {
            kgroup: self.kgroup(group),
            ksender: self.keyring.device(sender),
            payload: payload.to_vec(),
            now_ms,
            expires_at_ms,
        })
    }

    fn mailbox(
        &self,
        device: &DeviceId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<MailboxPage, StoreError> {
        let kdev = self.kdev(device);
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        self.pool.run(move |c| {
            let page = prepared(
                c,
                "SELECT m.id, m.stored_at, m.payload FROM mailbox b \
                 JOIN messages m ON m.id = b.message \
                 WHERE b.kdev = $1 AND b.message > $2 ORDER BY b.message LIMIT $3",
            )?;
            let rows = c.query(&page, &[&kdev, &big(after), &fetch]).map_err(pg_error)?;
            let mut more = rows.len() > limit;
            let mut envelopes = Vec::new();
            let mut bytes = 0usize;
            for row in rows.into_iter().take(limit) {
                let payload: Vec<u8> = row.get(2);
                bytes = bytes.saturating_add(payload.len());
                if !envelopes.is_empty() && bytes > max_bytes {
                    more = true;
                    break;
                }
                envelopes.push(Envelope {
                    id: unbig(row.get(0)),
                    received_at: unbig(row.get(1)),
                    payload: payload.into(),
                });
            }
            Ok(MailboxPage { envelopes, more })
        })
    }

    fn ack(&self, device: &DeviceId, ids: &[u64]) -> Result<u32, StoreError> {
        let kdev = self.kdev(device);
        let ids: Vec<i64> = ids.iter().map(|i| big(*i)).collect();
        self.pool.tx(move |tx| ack_tx(tx, &kdev, Some(&ids)))
    }

    fn purge_mailbox(&self, device: &DeviceId) -> Result<u32, StoreError> {
        let kdev = self.kdev(device);
        self.pool.tx(move |tx| ack_tx(tx, &kdev, None))
    }

    fn set_group_expiry(
        &self,
        group: &GroupId,
        caller: &DeviceId,
        expires_at_ms: u64,
        moderator_of: Option<&OrgId>,
    ) -> Result<u64, StoreError> {
        let (kgroup, kcaller, moderator) =
            (self.kgroup(group), self.keyring.device(caller), moderator_of.copied());
        self.pool.tx(move |tx| {
            let row = tx
                .query_opt(
                    "SELECT members, expires_at FROM groups WHERE kgroup = $1 FOR UPDATE",
                    &[&kgroup],
                )
                .map_err(pg_error)?;
            let Some(row) = row else { return Err(StoreError::UnknownGroup) };
            let members = members_of(row.get(0))?;
            rules::group::require_member(&members, &kcaller)?;
            let current: Option<i64> = row.get(1);
            let link_org = recorded_link_org(tx, &kgroup)?;
            rules::group::may_set_expiry(link_org, moderator.as_ref())?;
            let current = current.map(unbig);
            let in_force = rules::group::expiry_in_force(current, expires_at_ms);
            if current != Some(in_force) {
                tx.execute(
                    "UPDATE groups SET expires_at = $2 WHERE kgroup = $1",
                    &[&kgroup, &big(in_force)],
                )
                .map_err(pg_error)?;
            }
            Ok(in_force)
        })
    }

    fn sweep(&self, now_ms: u64) -> Result<SweepReport, StoreError> {
        let now = big(now_ms);
        let mut report = self.pool.tx(move |tx| {
            let mut report = SweepReport::default();
            // Expired groups first, with every message queued for them.
            let groups = tx
                .query(
                    "DELETE FROM groups WHERE expires_at IS NOT NULL AND expires_at < $1 \
                     RETURNING kgroup",
                    &[&now],
                )
                .map_err(pg_error)?;
            report.groups = groups.len() as u64;
            let gone: Vec<Vec<u8>> = groups.iter().map(|r| r.get(0)).collect();
            if !gone.is_empty() {
                tx.execute("DELETE FROM group_info WHERE kgroup = ANY($1)", &[&gone])
                    .map_err(pg_error)?;
            }
            let row = tx
                .query_one(
                    "WITH e AS (DELETE FROM mailbox WHERE message IN (SELECT id FROM messages \
                     WHERE expires_at < $1 OR kgroup = ANY($2)) RETURNING 1) SELECT count(*) FROM e",
                    &[&now, &gone],
                )
                .map_err(pg_error)?;
            report.envelopes = unbig(row.get(0));
            let row = tx
                .query_one(
                    "WITH m AS (DELETE FROM messages WHERE expires_at < $1 OR kgroup = ANY($2) \
                     RETURNING 1) SELECT count(*) FROM m",
                    &[&now, &gone],
                )
                .map_err(pg_error)?;
            report.messages = unbig(row.get(0));
            report.link_codes = tx
                .execute("DELETE FROM link_codes WHERE expires_at <= $1", &[&now])
                .map_err(pg_error)?;
            Ok(report)
        })?;
        // Link slots live as long as link codes; counted with them.
        report.link_codes += self.sweep_link_slots(now_ms)?;
        let (org_codes, invites) = self.kv(|s| super::pg_org::sweep_codes(s, now_ms))?;
        report.org_codes = org_codes;
        report.invites = invites;
        report.channel_posts = super::ChannelStore::sweep_channel_posts(self, now_ms)?;
        Ok(report)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.pool.run(|c| {
            // Taking a transaction id makes the commit write a commit
            // record; with synchronous_commit on, COMMIT returns once the
            // WAL up to it — and so every earlier commit — is flushed. One
            // round trip (a simple-query batch). Should a part fail, the
            // block is left aborted: roll it back so the connection stays
            // usable, and fail the call.
            c.batch_execute(
                "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
            )
            .map_err(|e| {
                let _ = c.batch_execute("ROLLBACK");
                pg_error(e)
            })
        })
    }

    fn admin_stats(&self) -> Result<ServerStats, StoreError> {
        let stats = self.pool.run(|c| {
            let row = c
                .query_one(
                    "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM devices), \
                            (SELECT count(*) FROM mailbox), \
                            (SELECT coalesce(sum(length(payload)), 0)::bigint FROM messages)",
                    &[],
                )
                .map_err(pg_error)?;
            Ok(ServerStats {
                accounts: unbig(row.get(0)),
                devices: unbig(row.get(1)),
                connected: 0,
                queued_envelopes: unbig(row.get(2)),
                stored_bytes: unbig(row.get(3)),
                channels: 0,
                channel_posts: 0,
                orgs: Vec::new(),
            })
        })?;
        let mut stats = stats;
        for (_, value) in self.kv(|s| s.iter("blobs"))? {
            let record = super::records::decode_blob(&value)?.record;
            let held = record.offset(record.chunks_received).min(record.size);
            stats.stored_bytes = stats.stored_bytes.saturating_add(held);
        }
        let channels = super::ChannelStore::channel_counts(self)?;
        stats.channels = channels.channels;
        stats.channel_posts = channels.posts;
        stats.orgs = self.org_stats()?;
        Ok(stats)
    }

    fn set_account_blocked(
        &self,
        account: &AccountId,
        blocked: bool,
    ) -> Result<Option<u32>, StoreError> {
        let blind = self.keyring.blind(account);
        self.pool.tx(move |tx| {
            let n = tx
                .execute(
                    "UPDATE devices SET blocked = $2 WHERE blind = $1",
                    &[&blind.as_bytes().as_slice(), &blocked],
                )
                .map_err(pg_error)?;
            Ok(if n == 0 { None } else { Some(u32::try_from(n).unwrap_or(u32::MAX)) })
        })
    }

    fn account_export(
        &self,
        account: &AccountId,
        now_ms: u64,
    ) -> Result<stadtbote_protocol::account::AccountExport, StoreError> {
        super::pg_account::export(self, account, now_ms)
    }

    fn delete_account(&self, account: &AccountId) -> Result<super::AccountDeletion, StoreError> {
        rules::deletion::delete_account(self, account)
    }

    fn readiness(&self) -> Result<(), StoreError> {
        self.ping()
    }
}

/// Removes mailbox entries of `kdev` (the listed ids, or all) and the
/// messages nobody else still has to receive. The messages are locked
/// first, so that two devices acking the last two entries of one message
/// concurrently cannot both leave it behind.
pub(super) fn ack_tx(
    tx: &mut Transaction<'_>,
    kdev: &[u8],
    ids: Option<&[i64]>,
) -> Result<u32, StoreError> {
    let rows = match ids {
        Some(ids) => {
            let lock = prepared(
                tx,
                "SELECT m.id FROM mailbox b JOIN messages m ON m.id = b.message \
                 WHERE b.kdev = $1 AND b.message = ANY($2) ORDER BY m.id FOR UPDATE OF m",
            )?;
            tx.query(&lock, &[&kdev, &ids])
        }
        None => tx.query(
            "SELECT m.id FROM mailbox b JOIN messages m ON m.id = b.message \
             WHERE b.kdev = $1 ORDER BY m.id FOR UPDATE OF m",
            &[&kdev],
        ),
    }
    .map_err(pg_error)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let messages: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let removed = match ids {
        Some(ids) => {
            let remove = prepared(tx, "DELETE FROM mailbox WHERE kdev = $1 AND message = ANY($2)")?;
            tx.execute(&remove, &[&kdev, &ids])
        }
        None => tx.execute("DELETE FROM mailbox WHERE kdev = $1", &[&kdev]),
    }
    .map_err(pg_error)?;
    let orphans = prepared(
        tx,
        "DELETE FROM messages m WHERE m.id = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM mailbox b WHERE b.message = m.id)",
    )?;
    tx.execute(&orphans, &[&messages]).map_err(pg_error)?;
    Ok(u32::try_from(removed).unwrap_or(u32::MAX))
}
