//! What several nodes on one PostgreSQL database keep in it besides the
//! store's records (issue 19 item 3; the node side is `crate::cluster`):
//!
//! * `cluster_keys`: one row per data-dir secret, naming it by a keyed
//!   fingerprint ([`super::shred::Keyring::fingerprint`]) — never the key.
//!   The first node records it; every later node compares and refuses to
//!   start with different keys (a node with another `keys/pepper` would
//!   compute other keyed ids and neither find nor deliver anything).
//! * `cluster_nodes` and `cluster_presence` (UNLOGGED: never in WAL, emptied
//!   by a database crash): which node holds a connection of which keyed
//!   device id (the `kdev` the mailbox tables use, so a database reader
//!   learns no new id), under a per-node lease renewed by a heartbeat. Web
//!   Push asks it whether a device is connected to another node.
//!
//! * `cluster_attempts` (UNLOGGED): attempts at one-time codes per keyed
//!   device id and minute, so that `code_rate_per_minute` holds for the
//!   whole cluster and not once per node (rows older than two minutes are
//!   removed by the heartbeat).
//!
//! * `cluster_buckets` (UNLOGGED): the token buckets of the per-account
//!   and per-device request limits (sends, uploads, KeyPackage claims), one
//!   row per bucket under a keyed id of its own
//!   ([`Keyring::limit_key`]), so that these limits hold for the whole
//!   cluster. A node takes tokens in small slices ([`ClusterDb::take_tokens`],
//!   one `INSERT … ON CONFLICT … DO UPDATE … RETURNING`); rows idle for two
//!   minutes (their bucket refilled long ago) are removed by the heartbeat.
//!
//! The tables are created on start (`CREATE … IF NOT EXISTS` under an
//! advisory lock, so nodes starting together do not race); they hold only
//! state that a restart of every node rebuilds, so they are not part of the
//! versioned schema, backups or exports.

use std::sync::Arc;
use std::time::Duration;

use stadtbote_protocol::DeviceId;

use super::pg_pool::{PgOptions, pg_error};
use super::pg_store::PgStore;
use super::shred::Keyring;
use super::{StorageError, StoreError};

/// The advisory lock key serialising the creation of the cluster tables
/// ("sbclustr" as a number; any constant other code does not use).
const TABLES_LOCK: i64 = 0x7362_636c_7573_7472;

/// The name of the pepper's row in `cluster_keys`.
const PEPPER: &str = "pepper";

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS cluster_keys (
    name text PRIMARY KEY,
    fingerprint bytea NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS cluster_nodes (
    node bytea PRIMARY KEY,
    lease_until timestamptz NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS cluster_presence (
    kdev bytea NOT NULL,
    node bytea NOT NULL,
    PRIMARY KEY (kdev, node)
);
CREATE UNLOGGED TABLE IF NOT EXISTS cluster_attempts (
    kdev bytea NOT NULL,
    minute bigint NOT NULL,
    attempts integer NOT NULL,
    PRIMARY KEY (kdev, minute)
);
CREATE UNLOGGED TABLE IF NOT EXISTS cluster_buckets (
    kkey bytea PRIMARY KEY,
    tokens double precision NOT NULL,
    granted double precision NOT NULL,
    updated timestamptz NOT NULL
);
";

/// Takes up to `$4` whole tokens from bucket `$1` (capacity `$2`, refilled
/// at `$3` tokens per second), creating it full; returns what was granted
/// and what is left. One statement, so concurrent nodes serialise on the
/// row and never grant more than the bucket holds.
const TAKE_TOKENS: &str = "
INSERT INTO cluster_buckets AS b (kkey, tokens, granted, updated)
VALUES ($1, $2::float8 - LEAST($4::float8, floor($2::float8)), LEAST($4::float8, floor($2::float8)), now())
ON CONFLICT (kkey) DO UPDATE SET
    granted = LEAST($4::float8, floor(LEAST($2::float8, b.tokens
        + $3::float8 * GREATEST(0, extract(epoch FROM now() - b.updated)::float8)))),
    tokens = LEAST($2::float8, b.tokens
        + $3::float8 * GREATEST(0, extract(epoch FROM now() - b.updated)::float8))
        - LEAST($4::float8, floor(LEAST($2::float8, b.tokens
        + $3::float8 * GREATEST(0, extract(epoch FROM now() - b.updated)::float8)))),
    updated = now()
RETURNING granted, tokens";

/// What the start-up check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// This node's keys are the ones the database was first used with.
    Matches,
    /// No node had recorded its keys yet; this node's are now recorded.
    Recorded,
    /// The database was used with other keys.
    Differs,
}

/// The database side of the cluster, shared by the node's cluster tasks.
#[derive(Clone)]
pub struct ClusterDb {
    store: Arc<PgStore>,
    keyring: Arc<Keyring>,
    options: PgOptions,
}

impl std::fmt::Debug for ClusterDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterDb").finish_non_exhaustive()
    }
}

impl ClusterDb {
    /// The cluster side of `store`, which was opened with `options`.
    pub fn new(store: Arc<PgStore>, options: PgOptions) -> Self {
        let keyring = store.keyring.clone();
        Self { store, keyring, options }
    }

    /// The connection settings for the node's dedicated LISTEN and NOTIFY
    /// connections (the pool's timeouts and application name).
    pub fn connect_config(&self) -> Result<postgres::Config, StoreError> {
        super::pg_pool::config(&self.options)
            .map_err(|e| StoreError::from(StorageError::Unavailable(e.into())))
    }

    /// The id under which the database knows `device` (its `kdev`).
    pub fn keyed(&self, device: &DeviceId) -> DeviceId {
        self.keyring.device(device)
    }

    /// The id of the shared bucket of `limit` for `id` (an account or
    /// device id; only the keyed form reaches the database).
    pub fn limit_key(&self, limit: &str, id: &[u8]) -> [u8; 16] {
        self.keyring.limit_key(limit, id)
    }

    /// Creates the cluster tables if missing and compares this node's
    /// keys with the ones recorded by the first node.
    pub fn prepare(&self) -> Result<KeyCheck, StoreError> {
        let fingerprint = self.keyring.fingerprint().to_vec();
        self.store.pool.run(move |c| {
            let mut tx = c.transaction().map_err(pg_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&TABLES_LOCK]).map_err(pg_error)?;
            tx.batch_execute(TABLES).map_err(pg_error)?;
            let inserted = tx
                .execute(
                    "INSERT INTO cluster_keys (name, fingerprint) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                    &[&PEPPER, &fingerprint],
                )
                .map_err(pg_error)?;
            let row = tx
                .query_one("SELECT fingerprint FROM cluster_keys WHERE name = $1", &[&PEPPER])
                .map_err(pg_error)?;
            let stored: Vec<u8> = row.get(0);
            tx.commit().map_err(pg_error)?;
            Ok(if stored != fingerprint {
                KeyCheck::Differs
            } else if inserted == 1 {
                KeyCheck::Recorded
            } else {
                KeyCheck::Matches
            })
        })
    }

    /// Renews `node`'s lease for `lease` and forgets nodes whose lease
    /// ran out (a dead node's presence rows go with it).
    pub fn heartbeat(&self, node: [u8; 8], lease: Duration) -> Result<(), StoreError> {
        let secs = lease.as_secs_f64();
        self.store.pool.run(move |c| {
            let node = node.to_vec();
            let mut tx = c.transaction().map_err(pg_error)?;
            tx.execute(
                "INSERT INTO cluster_nodes (node, lease_until) \
                 VALUES ($1, now() + make_interval(secs => $2)) \
                 ON CONFLICT (node) DO UPDATE SET lease_until = EXCLUDED.lease_until",
                &[&node, &secs],
            )
            .map_err(pg_error)?;
            // Rows of nodes whose lease ran out, or that have no lease
            // row at all (a node that died before its first heartbeat
            // committed), count for nobody: remove them.
            tx.execute(
                "DELETE FROM cluster_presence p WHERE NOT EXISTS \
                 (SELECT 1 FROM cluster_nodes n WHERE n.node = p.node AND n.lease_until >= now())",
                &[],
            )
            .map_err(pg_error)?;
            tx.execute("DELETE FROM cluster_nodes WHERE lease_until < now()", &[])
                .map_err(pg_error)?;
            tx.execute(
                "DELETE FROM cluster_attempts \
                 WHERE minute < (extract(epoch FROM now()) / 60)::bigint - 2",
                &[],
            )
            .map_err(pg_error)?;
            // Every bucket refills completely within a minute: a row idle
            // for two carries no state.
            tx.execute(
                "DELETE FROM cluster_buckets WHERE updated < now() - interval '2 minutes'",
                &[],
            )
            .map_err(pg_error)?;
            tx.commit().map_err(pg_error)
        })
    }

    /// Records that `node` now holds connections of `connected` and no
    /// longer of `gone` (keyed ids). With `replace`, every earlier row of
    /// the node is dropped first (a full resynchronisation).
    pub fn presence(
        &self,
        node: [u8; 8],
        connected: Vec<DeviceId>,
        gone: Vec<DeviceId>,
        replace: bool,
    ) -> Result<(), StoreError> {
        self.store.pool.run(move |c| {
            let node = node.to_vec();
            let connected: Vec<&[u8]> = connected.iter().map(|d| d.as_bytes().as_slice()).collect();
            let gone: Vec<&[u8]> = gone.iter().map(|d| d.as_bytes().as_slice()).collect();
            let mut tx = c.transaction().map_err(pg_error)?;
            if replace {
                tx.execute("DELETE FROM cluster_presence WHERE node = $1", &[&node])
                    .map_err(pg_error)?;
            } else if !gone.is_empty() {
                tx.execute(
                    "DELETE FROM cluster_presence WHERE node = $1 AND kdev = ANY($2)",
                    &[&node, &gone],
                )
                .map_err(pg_error)?;
            }
            if !connected.is_empty() {
                tx.execute(
                    "INSERT INTO cluster_presence (kdev, node) SELECT k, $1 FROM unnest($2::bytea[]) k \
                     ON CONFLICT DO NOTHING",
                    &[&node, &connected],
                )
                .map_err(pg_error)?;
            }
            tx.commit().map_err(pg_error)
        })
    }

    /// Removes every row of `node` (a clean shutdown).
    pub fn leave(&self, node: [u8; 8]) -> Result<(), StoreError> {
        self.store.pool.run(move |c| {
            let node = node.to_vec();
            let mut tx = c.transaction().map_err(pg_error)?;
            tx.execute("DELETE FROM cluster_presence WHERE node = $1", &[&node])
                .map_err(pg_error)?;
            tx.execute("DELETE FROM cluster_nodes WHERE node = $1", &[&node]).map_err(pg_error)?;
            tx.commit().map_err(pg_error)
        })
    }

    /// Whether `device` (keyed) is connected to a node other than `node`
    /// whose lease is still valid.
    pub fn connected_elsewhere(&self, node: [u8; 8], device: DeviceId) -> Result<bool, StoreError> {
        self.store.pool.run(move |c| {
            let node = node.to_vec();
            let kdev = device.as_bytes().to_vec();
            let row = c
                .query_opt(
                    "SELECT 1 FROM cluster_presence p JOIN cluster_nodes n ON n.node = p.node \
                     WHERE p.kdev = $1 AND p.node <> $2 AND n.lease_until >= now() LIMIT 1",
                    &[&kdev, &node],
                )
                .map_err(pg_error)?;
            Ok(row.is_some())
        })
    }

    /// Counts one attempt of `device` (keyed) at a one-time code in the
    /// current minute, across every node; returns the minute's count.
    pub fn count_attempt(&self, device: DeviceId) -> Result<u64, StoreError> {
        self.store.pool.run(move |c| {
            let kdev = device.as_bytes().to_vec();
            let row = c
                .query_one(
                    "INSERT INTO cluster_attempts (kdev, minute, attempts) \
                     VALUES ($1, (extract(epoch FROM now()) / 60)::bigint, 1) \
                     ON CONFLICT (kdev, minute) \
                     DO UPDATE SET attempts = cluster_attempts.attempts + 1 \
                     RETURNING attempts",
                    &[&kdev],
                )
                .map_err(pg_error)?;
            let attempts: i32 = row.get(0);
            Ok(u64::try_from(attempts).unwrap_or(0))
        })
    }

    /// Takes up to `want` tokens from the shared bucket `key` (holding at
    /// most `capacity`, refilled at `per_sec` tokens a second), across every
    /// node; returns the tokens granted (0 when not even one is there) and
    /// the tokens left in the bucket.
    pub fn take_tokens(
        &self,
        key: [u8; 16],
        capacity: f64,
        per_sec: f64,
        want: u32,
    ) -> Result<(u32, f64), StoreError> {
        self.store.pool.run(move |c| {
            let key = key.to_vec();
            let want = f64::from(want);
            let statement = super::pg_pool::prepared(c, TAKE_TOKENS)?;
            let row =
                c.query_one(&statement, &[&key, &capacity, &per_sec, &want]).map_err(pg_error)?;
            let granted: f64 = row.get(0);
            let left: f64 = row.get(1);
            // A float from our own arithmetic, between 0 and `want`.
            let granted = granted.clamp(0.0, want) as u32;
            Ok((granted, left))
        })
    }
}
