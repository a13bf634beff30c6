//! The collections that the PostgreSQL store keeps as key-value records:
//! everything but the hot paths (accounts, devices, KeyPackages, groups,
//! messages and mailboxes have their own tables, [`super::pg_store`]).
//!
//! Orgs, staff, invitations, channels and their posts, attachments'
//! metadata, the audit log, settings, device lists, link slots and push
//! subscriptions live in one table `kv (tree, key, value)` under exactly
//! the keys and record encodings of the sled tree of the same name
//! ([`super::records`], and the backup's logical collections,
//! [`super::logical`]). So the rules and record layouts are shared with
//! sled, a backup of these collections is a plain `SELECT … ORDER BY key`,
//! and the privacy properties of each record (keyed ids, sealed values)
//! carry over unchanged.
//!
//! Each operation runs in one SERIALIZABLE transaction ([`PgStore::kv`]),
//! retried when PostgreSQL reports a serialisation failure: the same
//! all-or-nothing, as-if-alone semantics as a sled transaction, without
//! per-operation lock reasoning.

use postgres::Row;

use super::pg_pool::{Param, Session};
use super::pg_store::PgStore;
use super::{StorageError, StoreError};

/// How often a serialisation failure is retried before the caller is told
/// [`StorageError::Contention`].
const ATTEMPTS: usize = 16;

fn bytes(v: &[u8]) -> Param {
    Param::Bytes(v.to_vec())
}

fn tree(t: &str) -> Param {
    Param::Text(t.to_string())
}

/// Records (key, value) in key order.
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

fn pairs(rows: Vec<Row>) -> Records {
    rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The smallest key above every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Key-value access inside one transaction, named after sled's.
impl Session {
    /// The record under `key` of `t`.
    pub fn get(&mut self, t: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            "SELECT value FROM kv WHERE tree = $1 AND key = $2",
            vec![tree(t), bytes(key)],
        )?;
        Ok(rows.into_iter().next().map(|r| r.get(0)))
    }

    /// Whether `key` of `t` holds a record.
    pub fn contains_key(&mut self, t: &str, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(t, key)?.is_some())
    }

    /// Stores `value` under `key` of `t`, returning the previous record.
    pub fn insert(
        &mut self,
        t: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(t, key)?;
        self.query(
            "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
            vec![tree(t), bytes(key), bytes(value)],
        )?;
        Ok(old)
    }

    /// Removes `key` of `t`, returning the record.
    pub fn remove(&mut self, t: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            "DELETE FROM kv WHERE tree = $1 AND key = $2 RETURNING value",
            vec![tree(t), bytes(key)],
        )?;
        Ok(rows.into_iter().next().map(|r| r.get(0)))
    }

    /// Every record of `t` whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&mut self, t: &str, prefix: &[u8]) -> Result<Records, StoreError> {
        match prefix_end(prefix) {
            Some(end) => self.range(t, prefix, Some(&end), None),
            None => self.range(t, prefix, None, None),
        }
    }

    /// Records of `t` with `start <= key < end` (no end: to the last), in
    /// key order, at most `limit`.
    pub fn range(
        &mut self,
        t: &str,
        start: &[u8],
        end: Option<&[u8]>,
        limit: Option<usize>,
    ) -> Result<Records, StoreError> {
        let limit = Param::Int(limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX)));
        let rows = match end {
            Some(end) => self.query(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 AND key < $3 \
                 ORDER BY key LIMIT $4",
                vec![tree(t), bytes(start), bytes(end), limit],
            )?,
            None => self.query(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 ORDER BY key LIMIT $3",
                vec![tree(t), bytes(start), limit],
            )?,
        };
        Ok(pairs(rows))
    }

    /// Every record of `t`, in key order.
    pub fn iter(&mut self, t: &str) -> Result<Records, StoreError> {
        self.range(t, &[], None, None)
    }

    /// How many records `t` holds.
    pub fn len(&mut self, t: &str) -> Result<u64, StoreError> {
        let rows = self.query("SELECT count(*) FROM kv WHERE tree = $1", vec![tree(t)])?;
        Ok(rows.first().map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }
}

impl PgStore {
    /// Runs `f` in one serializable transaction over the key-value
    /// collections (and any table), committing when it returns `Ok`;
    /// retried from the start on a serialisation failure.
    pub(super) fn kv<T>(
        &self,
        mut f: impl FnMut(&mut Session) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..ATTEMPTS {
            let mut session = self.pool.session(true)?;
            let out = match f(&mut session) {
                Ok(out) => out,
                Err(StoreError::Storage(StorageError::Contention)) => continue,
                Err(e) => return Err(e),
            };
            match session.commit() {
                Ok(()) => return Ok(out),
                Err(StoreError::Storage(StorageError::Contention)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::contention())
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
