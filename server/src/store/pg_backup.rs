//! Backup export and restore on PostgreSQL, in the logical format of
//! [`super::logical`] — the same collections, keys and record encodings as
//! a sled backup, so that a backup taken on either backend restores into
//! either.
//!
//! * Export: the key-value collections as stored; the tables of the hot
//!   paths written as the records sled would hold (accounts, devices,
//!   KeyPackages, groups, join links, link codes) and queued envelopes in
//!   the envelope collections' layout (`messages`, `mailbox`, …), as sled
//!   does. Derived collections (counts, indexes) are written too, so that
//!   sled reads the backup as its own.
//! * Import ([`PgImporter`]): every record first goes into `kv` as it
//!   arrives (collections come in name order, and a message's group comes
//!   after its mailbox entries); [`RecordImporter::finish`] then moves the
//!   hot-path collections into their tables in one transaction, drops the
//!   derived ones and makes it durable.

use std::collections::{BTreeMap, HashMap};

use postgres::Transaction;

use super::logical::{self, RecordImporter};
use super::pg_pool::{PgOptions, Pool, pg_error};
use super::pg_store::{PgStore, big, unbig};
use super::records::{
    self, GroupInfoRecord, GroupRecord, LinkCodeRecord, MessageRecord, Owner, RefsRecord,
    StoredDevice,
};
use super::shred::Blind;
use super::sled_backup::{BackupStore, TreeVisitor};
use super::{StorageError, StoreError};

/// Collections kept in tables (and converted at export and import).
const TABLE_COLLECTIONS: [&str; 12] = [
    "account_devices",
    "accounts",
    "devices",
    "group_expiry",
    "group_expiry_index",
    "group_ids",
    "group_info",
    "groups",
    "keypackages",
    "kp_count",
    "last_resort",
    "link_codes",
];

/// The envelope collections (sled's layout before its envelope log).
const ENVELOPE_COLLECTIONS: [&str; 7] =
    ["expiry", "group_messages", "mailbox", "message_group", "messages", "recipients", "refs"];

/// The sled schema whose records the export writes.
const SLED_SCHEMA: u8 = 2;
/// The id keying version of the records (`meta/ids`).
const IDS_VERSION: u8 = 1;

/// Records per statement when importing.
const IMPORT_BATCH: usize = 512;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn visit(visitor: &mut dyn TreeVisitor, entries: &Entries) -> Result<(), StoreError> {
    for (k, v) in entries {
        visitor.entry(k, v).map_err(StoreError::unavailable)?;
    }
    Ok(())
}

fn blind(bytes: &[u8], what: &'static str) -> Result<Blind, StoreError> {
    Ok(Blind(bytes.try_into().map_err(|_| StoreError::corrupt(what))?))
}

fn id16(bytes: &[u8], what: &'static str) -> Result<[u8; 16], StoreError> {
    bytes.try_into().map_err(|_| StoreError::corrupt(what))
}

/// The records of one table collection, as sled holds them, in key order.
fn table_collection(tx: &mut Transaction<'_>, name: &str) -> Result<Entries, StoreError> {
    let q = |tx: &mut Transaction<'_>, sql: &str| tx.query(sql, &[]).map_err(pg_error);
    let mut out: Entries = Vec::new();
    match name {
        "accounts" => {
            for r in q(tx, "SELECT blind, created_at FROM accounts")? {
                out.push((r.get(0), records::encode_account(unbig(r.get(1)))));
            }
        }
        "account_devices" => {
            for r in q(tx, "SELECT blind, kdev, sealed_device FROM devices")? {
                let (b, k): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(1));
                out.push(([b, k].concat(), r.get(2)));
            }
        }
        "devices" => {
            for r in q(
                tx,
                "SELECT kdev, blind, sealed_account, identity_key, created_at, blocked FROM devices",
            )? {
                let key: &[u8] = r.get(3);
                let sealed: &[u8] = r.get(2);
                let record = StoredDevice {
                    owner: Owner {
                        blind: blind(r.get(1), "devices")?,
                        sealed: sealed.try_into().map_err(|_| StoreError::corrupt("devices"))?,
                    },
                    identity_key: stadtbote_protocol::auth::IdentityKey(
                        key.try_into().map_err(|_| StoreError::corrupt("devices"))?,
                    ),
                    created_at: unbig(r.get(4)),
                    blocked: r.get(5),
                };
                out.push((r.get(0), records::encode_device(&record)));
            }
        }
        "keypackages" => {
            for r in q(tx, "SELECT kdev, seq, sealed FROM key_packages")? {
                let kdev = id16(r.get(0), "keypackages")?;
                let sealed: &[u8] = r.get(2);
                out.push((
                    records::id_seq_key(&kdev, unbig(r.get(1))).to_vec(),
                    records::encode_key_package(sealed),
                ));
            }
        }
        "kp_count" => {
            for r in q(tx, "SELECT kdev, count(*) FROM key_packages GROUP BY kdev")? {
                let n: i64 = r.get(1);
                out.push((r.get(0), records::encode_count(u32::try_from(n).unwrap_or(u32::MAX))));
            }
        }
        "last_resort" => {
            for r in q(tx, "SELECT kdev, sealed FROM last_resort")? {
                let sealed: &[u8] = r.get(1);
                out.push((r.get(0), records::encode_key_package(sealed)));
            }
        }
        "groups" => {
            for r in q(tx, "SELECT kgroup, epoch, members FROM groups")? {
                let members: Vec<Vec<u8>> = r.get(2);
                let members = members
                    .iter()
                    .map(|m| super::pg_store::device_of(m, "groups"))
                    .collect::<Result<Vec<_>, _>>()?;
                let record = GroupRecord { epoch: unbig(r.get(1)), members };
                out.push((r.get(0), records::encode_group(&record)));
            }
        }
        "group_ids" => {
            for r in q(tx, "SELECT kgroup, sealed_id FROM groups WHERE sealed_id IS NOT NULL")? {
                out.push((r.get(0), r.get(1)));
            }
        }
        "group_expiry" => {
            for r in q(tx, "SELECT kgroup, expires_at FROM groups WHERE expires_at IS NOT NULL")? {
                out.push((r.get(0), records::encode_u64(unbig(r.get(1)))));
            }
        }
        "group_expiry_index" => {
            for r in q(tx, "SELECT kgroup, expires_at FROM groups WHERE expires_at IS NOT NULL")? {
                let g = id16(r.get(0), "groups")?;
                out.push((records::time_id_key(unbig(r.get(1)), &g).to_vec(), Vec::new()));
            }
        }
        "group_info" => {
            for r in q(tx, "SELECT kgroup, epoch, token_hash, info, org FROM group_info")? {
                let token: &[u8] = r.get(2);
                let org: Option<Vec<u8>> = r.get(4);
                let record = GroupInfoRecord {
                    epoch: unbig(r.get(1)),
                    token_hash: token.try_into().map_err(|_| StoreError::corrupt("group_info"))?,
                    info: r.get(3),
                    org: org
                        .map(|o| stadtbote_protocol::OrgId::from_slice(&o))
                        .transpose()
                        .map_err(|_| StoreError::corrupt("group_info"))?,
                };
                out.push((r.get(0), records::encode_group_info(&record)));
            }
        }
        "link_codes" => {
            for r in q(tx, "SELECT code_hash, blind, sealed_account, expires_at FROM link_codes")? {
                let sealed: &[u8] = r.get(2);
                let record = LinkCodeRecord {
                    owner: Owner {
                        blind: blind(r.get(1), "link_codes")?,
                        sealed: sealed.try_into().map_err(|_| StoreError::corrupt("link_codes"))?,
                    },
                    expires_at: unbig(r.get(3)),
                };
                out.push((r.get(0), records::encode_link_code(&record)));
            }
        }
        _ => {}
    }
    out.sort();
    Ok(out)
}

/// The envelope collection `name` in sled's legacy layout.
fn envelope_collection(tx: &mut Transaction<'_>, name: &str) -> Result<Entries, StoreError> {
    let mut out: Entries = Vec::new();
    let rows = |tx: &mut Transaction<'_>, sql: &str| tx.query(sql, &[]).map_err(pg_error);
    match name {
        "messages" => {
            for r in rows(tx, "SELECT id, stored_at, expires_at, payload FROM messages")? {
                let payload: &[u8] = r.get(3);
                let record = MessageRecord {
                    stored_at: unbig(r.get(1)),
                    expires_at: unbig(r.get(2)),
                    payload,
                };
                out.push((
                    unbig(r.get(0)).to_be_bytes().to_vec(),
                    records::encode_message(&record),
                ));
            }
        }
        "refs" => {
            for r in rows(
                tx,
                "SELECT m.id, m.expires_at, count(b.kdev) FROM messages m \
                 JOIN mailbox b ON b.message = m.id GROUP BY m.id, m.expires_at",
            )? {
                let n: i64 = r.get(2);
                let record = RefsRecord {
                    remaining: u32::try_from(n).unwrap_or(u32::MAX),
                    expires_at: unbig(r.get(1)),
                };
                out.push((unbig(r.get(0)).to_be_bytes().to_vec(), records::encode_refs(record)));
            }
        }
        "recipients" | "mailbox" => {
            for r in rows(tx, "SELECT kdev, message FROM mailbox")? {
                let kdev = id16(r.get(0), "mailbox")?;
                let seq = unbig(r.get(1));
                let key = if name == "mailbox" {
                    records::id_seq_key(&kdev, seq)
                } else {
                    records::seq_id_key(seq, &kdev)
                };
                out.push((key.to_vec(), Vec::new()));
            }
        }
        "expiry" => {
            for r in rows(tx, "SELECT id, expires_at FROM messages")? {
                out.push((
                    records::expiry_key(unbig(r.get(1)), unbig(r.get(0))).to_vec(),
                    Vec::new(),
                ));
            }
        }
        "message_group" => {
            for r in rows(tx, "SELECT id, kgroup FROM messages")? {
                let g = id16(r.get(1), "messages")?;
                out.push((unbig(r.get(0)).to_be_bytes().to_vec(), records::encode_id(&g)));
            }
        }
        "group_messages" => {
            for r in rows(tx, "SELECT id, kgroup FROM messages")? {
                let g = id16(r.get(1), "messages")?;
                out.push((records::id_seq_key(&g, unbig(r.get(0))).to_vec(), Vec::new()));
            }
        }
        _ => {}
    }
    out.sort();
    Ok(out)
}

impl BackupStore for PgStore {
    fn export_trees(&self, visitor: &mut dyn TreeVisitor) -> Result<(), StoreError> {
        // One REPEATABLE READ snapshot for the whole export, so that the
        // backup is consistent even if someone writes meanwhile.
        let all: Vec<(String, Entries)> = self.pool.run(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(pg_error)?;
            let mut out = Vec::with_capacity(logical::COLLECTIONS.len());
            for c in logical::COLLECTIONS {
                let name = c.name;
                let entries = if TABLE_COLLECTIONS.contains(&name) {
                    table_collection(&mut tx, name)?
                } else if ENVELOPE_COLLECTIONS.contains(&name) {
                    envelope_collection(&mut tx, name)?
                } else if name == "meta" {
                    vec![
                        (b"ids".to_vec(), vec![IDS_VERSION]),
                        (b"schema".to_vec(), vec![SLED_SCHEMA]),
                    ]
                } else {
                    tx.query("SELECT key, value FROM kv WHERE tree = $1 ORDER BY key", &[&name])
                        .map_err(pg_error)?
                        .into_iter()
                        .map(|r| (r.get(0), r.get(1)))
                        .collect()
                };
                out.push((name.to_string(), entries));
            }
            tx.commit().map_err(pg_error)?;
            Ok(out)
        })?;
        for (name, entries) in &all {
            visitor.tree(name.as_bytes()).map_err(StoreError::unavailable)?;
            visit(visitor, entries)?;
        }
        Ok(())
    }
}

/// Writes a backup's collections into a new, empty PostgreSQL database (a
/// restore). See the module docs.
pub struct PgImporter {
    pool: Pool,
    collection: Option<String>,
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PgImporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgImporter").finish_non_exhaustive()
    }
}

impl PgImporter {
    /// Connects, applies the schema and checks that the database holds no
    /// data yet (a restore never merges).
    pub fn create(options: &PgOptions) -> Result<Self, StoreError> {
        let pool = Pool::new(options)
            .map_err(|e| StoreError::from(StorageError::Unavailable(e.into())))?;
        super::pg_schema::migrate(&pool)?;
        let empty: bool = pool.run(|c| {
            Ok(c.query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM accounts) AND NOT EXISTS (SELECT 1 FROM kv) \
                 AND NOT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM groups)",
                &[],
            )
            .map_err(pg_error)?
            .get(0))
        })?;
        if !empty {
            return Err(StorageError::Unavailable(
                "the target database already holds data; restore only into an empty database"
                    .into(),
            )
            .into());
        }
        Ok(Self { pool, collection: None, keys: Vec::new(), values: Vec::new() })
    }

    fn apply_pending(&mut self) -> Result<(), StoreError> {
        let Some(name) = self.collection.clone() else { return Ok(()) };
        if self.keys.is_empty() {
            return Ok(());
        }
        let (keys, values) = (std::mem::take(&mut self.keys), std::mem::take(&mut self.values));
        self.pool.run(move |c| {
            c.execute(
                "INSERT INTO kv (tree, key, value) SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v) \
                 ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
                &[&name, &keys, &values],
            )
            .map_err(pg_error)?;
            Ok(())
        })
    }
}

impl RecordImporter for PgImporter {
    fn collection(&mut self, name: &[u8]) -> Result<(), StoreError> {
        self.apply_pending()?;
        let known = logical::collection(name).ok_or(StorageError::Corrupt("backup collection"))?;
        self.collection = Some(known.name.to_string());
        Ok(())
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if self.collection.is_none() {
            return Err(StoreError::corrupt("backup entry outside a collection"));
        }
        self.keys.push(key.to_vec());
        self.values.push(value.to_vec());
        if self.keys.len() >= IMPORT_BATCH {
            self.apply_pending()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        self.apply_pending()?;
        self.pool.tx(move_into_tables)?;
        self.pool.run(|c| {
            let mut tx = c.transaction().map_err(pg_error)?;
            tx.batch_execute("SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id()")
                .map_err(pg_error)?;
            tx.commit().map_err(pg_error)
        })
    }
}

fn staged(tx: &mut Transaction<'_>, name: &str) -> Result<Entries, StoreError> {
    Ok(tx
        .query("DELETE FROM kv WHERE tree = $1 RETURNING key, value", &[&name])
        .map_err(pg_error)?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Moves the staged hot-path collections from `kv` into their tables.
fn move_into_tables(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    let meta: HashMap<Vec<u8>, Vec<u8>> = staged(tx, "meta")?.into_iter().collect();
    match meta.get(b"ids".as_slice()).map(Vec::as_slice) {
        Some([IDS_VERSION]) => {}
        Some(v) => {
            return Err(StorageError::UnsupportedIdKeying(v.first().copied().unwrap_or(0)).into());
        }
        None if meta.is_empty() && !has_any(tx)? => {}
        None => return Err(StorageError::UnkeyedIds.into()),
    }
    for (k, v) in staged(tx, "accounts")? {
        let at = records::decode_u64(&v, "accounts")?;
        tx.execute(
            "INSERT INTO accounts (blind, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&k, &big(at)],
        )
        .map_err(pg_error)?;
    }
    let sealed_devices: HashMap<Vec<u8>, Vec<u8>> = staged(tx, "account_devices")?
        .into_iter()
        .filter_map(|(k, v)| k.get(32..).map(|kdev| (kdev.to_vec(), v)))
        .collect();
    for (k, v) in staged(tx, "devices")? {
        let d = records::decode_device(&v)?;
        let Some(sealed_device) = sealed_devices.get(&k) else { continue };
        tx.execute(
            "INSERT INTO devices (kdev, blind, sealed_account, sealed_device, identity_key, created_at, blocked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[&k, &d.owner.blind.as_bytes().as_slice(), &d.owner.sealed.as_slice(), sealed_device,
              &d.identity_key.0.as_slice(), &big(d.created_at), &d.blocked],
        )
        .map_err(pg_error)?;
    }
    for (k, v) in staged(tx, "keypackages")? {
        let (kdev, seq) = records::split_id_seq(&k)?;
        let sealed = records::decode_key_package(&v)?;
        tx.execute(
            "INSERT INTO key_packages (kdev, seq, sealed) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&kdev.as_slice(), &big(seq), &sealed],
        )
        .map_err(pg_error)?;
    }
    for (k, v) in staged(tx, "last_resort")? {
        let sealed = records::decode_key_package(&v)?;
        tx.execute(
            "INSERT INTO last_resort (kdev, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&k, &sealed],
        )
        .map_err(pg_error)?;
    }
    let group_ids: HashMap<Vec<u8>, Vec<u8>> = staged(tx, "group_ids")?.into_iter().collect();
    let mut expiry: HashMap<Vec<u8>, u64> = HashMap::new();
    for (k, v) in staged(tx, "group_expiry")? {
        expiry.insert(k, records::decode_u64(&v, "group_expiry")?);
    }
    for (k, v) in staged(tx, "groups")? {
        let g = records::decode_group(&v)?;
        let members: Vec<&[u8]> = g.members.iter().map(|m| m.as_bytes().as_slice()).collect();
        tx.execute(
            "INSERT INTO groups (kgroup, epoch, members, expires_at, sealed_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
            &[&k, &big(g.epoch), &members, &expiry.get(&k).map(|e| big(*e)), &group_ids.get(&k)],
        )
        .map_err(pg_error)?;
    }
    for (k, v) in staged(tx, "group_info")? {
        let i = records::decode_group_info(&v)?;
        let org = i.org.map(|o| o.as_bytes().to_vec());
        tx.execute(
            "INSERT INTO group_info (kgroup, epoch, token_hash, info, org) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
            &[&k, &big(i.epoch), &i.token_hash.as_slice(), &i.info, &org],
        )
        .map_err(pg_error)?;
    }
    for (k, v) in staged(tx, "link_codes")? {
        let c = records::decode_link_code(&v)?;
        tx.execute(
            "INSERT INTO link_codes (code_hash, blind, sealed_account, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
            &[&k, &c.owner.blind.as_bytes().as_slice(), &c.owner.sealed.as_slice(), &big(c.expires_at)],
        )
        .map_err(pg_error)?;
    }
    let groups_of: BTreeMap<Vec<u8>, Vec<u8>> = staged(tx, "message_group")?
        .into_iter()
        .map(|(k, v)| records::decode_id(&v, "message_group").map(|g| (k, g.to_vec())))
        .collect::<Result<_, _>>()?;
    for (k, v) in staged(tx, "messages")? {
        let seq = u64::from_be_bytes(
            k.as_slice().try_into().map_err(|_| StoreError::corrupt("messages"))?,
        );
        let m = records::decode_message(&v)?;
        let Some(kgroup) = groups_of.get(&k) else { continue };
        tx.execute(
            "INSERT INTO messages (id, kgroup, payload, stored_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
            &[&big(seq), kgroup, &m.payload, &big(m.stored_at), &big(m.expires_at)],
        )
        .map_err(pg_error)?;
    }
    for (k, _) in staged(tx, "mailbox")? {
        let (kdev, seq) = records::split_id_seq(&k)?;
        tx.execute(
            "INSERT INTO mailbox (kdev, message) SELECT $1, id FROM messages WHERE id = $2 ON CONFLICT DO NOTHING",
            &[&kdev.as_slice(), &big(seq)],
        )
        .map_err(pg_error)?;
    }
    tx.batch_execute(
        "INSERT INTO mailbox_lock (kdev) SELECT DISTINCT kdev FROM mailbox ON CONFLICT DO NOTHING; \
         SELECT setval(pg_get_serial_sequence('messages', 'id'), coalesce((SELECT max(id) FROM messages), 0) + 1, false); \
         SELECT setval(pg_get_serial_sequence('key_packages', 'seq'), coalesce((SELECT max(seq) FROM key_packages), 0) + 1, false)",
    )
    .map_err(pg_error)?;
    for derived in [
        "__sled__default",
        "kp_count",
        "group_expiry_index",
        "refs",
        "recipients",
        "expiry",
        "group_messages",
    ] {
        staged(tx, derived)?;
    }
    Ok(())
}

/// Whether the staged import holds any record (an empty backup needs no
/// `meta`).
fn has_any(tx: &mut Transaction<'_>) -> Result<bool, StoreError> {
    Ok(tx.query_one("SELECT EXISTS (SELECT 1 FROM kv)", &[]).map_err(pg_error)?.get(0))
}
