//! Removing logical records from a PostgreSQL store in place (`town
//! remove` on a shared database, issue 19 item 6).
//!
//! On sled a removal rebuilds the store without the records into a new
//! directory. A PostgreSQL database shared by other towns cannot be swapped
//! like that, so the caller decides *which* records go with the same rule
//! as on sled (`crate::town::select`, applied to the logical records of
//! [`super::BackupStore::export_trees`]) and hands the result here as
//! [`RecordChange`]s in the logical format's collections and keys. This
//! module only maps them onto the tables, in one transaction:
//!
//! * key-value collections (`kv`): the row is deleted or its value replaced;
//! * `groups`, `group_info`: the group's row; `group_ids` and
//!   `group_expiry` clear their column of the group's row;
//! * `messages`: the envelope's row, `mailbox`: one recipient's entry;
//! * collections derived from those in the export (`refs`, `recipients`,
//!   `expiry`, `message_group`, `group_messages`, `group_expiry_index`)
//!   need no change of their own: they follow from the rows above.
//!
//! Every change must hit exactly one row, or the whole transaction is
//! rolled back ([`RemoveError`]): a removal never half-happens or removes
//! something the rule did not name. Accounts, devices, KeyPackages and link
//! codes are refused: no town rule removes them (accounts stay with the
//! district). Afterwards [`PgStore::compact`] rewrites the changed tables
//! (`VACUUM FULL`), so that the removed rows' bytes leave the table files
//! (what PostgreSQL's WAL keeps is stated in docs/PRIVACY.md).

use postgres::Transaction;

use super::pg_pool::pg_error;
use super::pg_store::PgStore;
use super::{StorageError, StoreError};

/// One record of the logical format to delete (`value: None`) or to give a
/// new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    /// The logical collection.
    pub collection: String,
    /// The record's key.
    pub key: Vec<u8>,
    /// Its new value, or `None` to delete it.
    pub value: Option<Vec<u8>>,
}

/// Collections whose records are rows of their own tables, never removed by
/// a town's rule.
const REFUSED: [&str; 8] = [
    "account_devices",
    "accounts",
    "devices",
    "keypackages",
    "kp_count",
    "last_resort",
    "link_codes",
    "meta",
];

/// Collections derived from the rows that the other changes delete.
const DERIVED: [&str; 6] =
    ["expiry", "group_expiry_index", "group_messages", "message_group", "recipients", "refs"];

/// The order in which changes are applied: entries before what they point
/// at (a mailbox entry before its message, a group's columns before its
/// row), so that each change still finds its row.
fn rank(collection: &str) -> u8 {
    match collection {
        "mailbox" => 1,
        "messages" => 2,
        "group_info" => 3,
        "group_ids" | "group_expiry" => 4,
        "groups" => 5,
        _ => 0,
    }
}

fn seq_of(bytes: &[u8]) -> Result<i64, StoreError> {
    let seq = <[u8; 8]>::try_from(bytes).map_err(|_| StoreError::corrupt("removal: seq"))?;
    Ok(super::pg_store::big(u64::from_be_bytes(seq)))
}

fn refused(collection: &str) -> StoreError {
    StoreError::from(StorageError::Unavailable(
        format!("records of the collection {collection} are not removed in place").into(),
    ))
}

fn apply(tx: &mut Transaction<'_>, change: &RecordChange) -> Result<(), StoreError> {
    let name = change.collection.as_str();
    let key = change.key.as_slice();
    let rows = match (name, &change.value) {
        (name, _) if REFUSED.contains(&name) => return Err(refused(name)),
        (name, _) if DERIVED.contains(&name) => return Ok(()),
        ("groups", None) => tx.execute("DELETE FROM groups WHERE kgroup = $1", &[&key]),
        ("group_info", None) => tx.execute("DELETE FROM group_info WHERE kgroup = $1", &[&key]),
        ("group_ids", None) => tx.execute(
            "UPDATE groups SET sealed_id = NULL WHERE kgroup = $1 AND sealed_id IS NOT NULL",
            &[&key],
        ),
        ("group_expiry", None) => tx.execute(
            "UPDATE groups SET expires_at = NULL WHERE kgroup = $1 AND expires_at IS NOT NULL",
            &[&key],
        ),
        ("messages", None) => tx.execute("DELETE FROM messages WHERE id = $1", &[&seq_of(key)?]),
        ("mailbox", None) => {
            let (kdev, seq) = key.split_at_checked(16).ok_or(StoreError::corrupt("mailbox"))?;
            tx.execute(
                "DELETE FROM mailbox WHERE kdev = $1 AND message = $2",
                &[&kdev, &seq_of(seq)?],
            )
        }
        ("groups" | "group_info" | "group_ids" | "group_expiry" | "messages" | "mailbox", _) => {
            return Err(refused(name));
        }
        (tree, None) => tx.execute("DELETE FROM kv WHERE tree = $1 AND key = $2", &[&tree, &key]),
        (tree, Some(value)) => tx.execute(
            "UPDATE kv SET value = $3 WHERE tree = $1 AND key = $2",
            &[&tree, &key, value],
        ),
    }
    .map_err(pg_error)?;
    if rows != 1 {
        return Err(StoreError::from(StorageError::Unavailable(
            format!(
                "a record of {name} to be removed was not found as exported ({rows} rows); \
                 nothing was changed"
            )
            .into(),
        )));
    }
    Ok(())
}

impl PgStore {
    /// Applies `changes` in one transaction (see the module docs): all of
    /// them or, if any does not hit exactly one row, none. Durable when it
    /// returns (a synchronous commit).
    pub fn remove_records(&self, mut changes: Vec<RecordChange>) -> Result<(), StoreError> {
        changes.sort_by_key(|c| rank(&c.collection));
        self.pool.run(move |client| {
            let mut tx = client.transaction().map_err(pg_error)?;
            // The pool's connections commit asynchronously; this one
            // transaction is made durable before the tool reports success.
            tx.batch_execute("SET LOCAL synchronous_commit = on").map_err(pg_error)?;
            for change in &changes {
                apply(&mut tx, change)?;
            }
            tx.commit().map_err(pg_error)
        })
    }

    /// Rewrites the tables a removal changes (`VACUUM FULL`), so that the
    /// removed rows' bytes are no longer in the table files. Needs the
    /// database alone for its duration (it locks each table exclusively).
    pub fn compact(&self) -> Result<(), StoreError> {
        self.pool.run(|client| {
            client
                .batch_execute("VACUUM FULL kv, groups, group_info, messages, mailbox")
                .map_err(pg_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_go_before_what_they_point_at() {
        let mut names = vec!["groups", "kv_tree", "messages", "group_ids", "mailbox", "group_info"];
        names.sort_by_key(|n| rank(n));
        assert_eq!(names, ["kv_tree", "mailbox", "messages", "group_info", "group_ids", "groups"]);
    }

    /// Against a real PostgreSQL (skipped loudly without one): a change
    /// that misses its row rolls back every other one.
    #[test]
    fn all_or_nothing() {
        let Some(pg) = super::super::pg_conformance::cluster() else { return };
        let options = super::super::pg_conformance::options(pg.create_database());
        let dir = tempfile::tempdir().unwrap();
        let store = PgStore::open(&options, dir.path()).unwrap();
        store
            .pool
            .run(|c| {
                c.batch_execute(
                    "INSERT INTO kv VALUES ('orgs', '\\x01', '\\x02'), ('revoked', '\\x03', '\\x04')",
                )
                .map_err(pg_error)
            })
            .unwrap();
        let values = |store: &PgStore| {
            store
                .pool
                .run(|c| {
                    let rows = c
                        .query("SELECT tree, value FROM kv ORDER BY tree", &[])
                        .map_err(pg_error)?;
                    Ok(rows
                        .iter()
                        .map(|r| (r.get::<_, String>(0), r.get::<_, Vec<u8>>(1)))
                        .collect::<Vec<_>>())
                })
                .unwrap()
        };
        let change = |collection: &str, key: &[u8], value: Option<Vec<u8>>| RecordChange {
            collection: collection.to_owned(),
            key: key.to_vec(),
            value,
        };
        let delete = change("orgs", &[1], None);
        let rewrite = change("revoked", &[3], Some(vec![5]));
        let missing = change("handles", b"nowhere", None);
        let before = values(&store);
        assert!(store.remove_records(vec![delete.clone(), rewrite.clone(), missing]).is_err());
        assert_eq!(values(&store), before, "nothing changed");
        assert!(store.remove_records(vec![change("accounts", &[1; 32], None)]).is_err());
        // Derived collections need no row of their own.
        let derived = change("refs", &7u64.to_be_bytes(), None);
        store.remove_records(vec![delete, rewrite, derived]).unwrap();
        assert_eq!(values(&store), [("revoked".to_owned(), vec![5])]);
        store.compact().unwrap();
    }
}
