//! The PostgreSQL schema: SQL migrations in `server/migrations/`
//! (`V<n>__<name>.sql`), embedded into the binary and applied on start by
//! refinery, which records them in `refinery_schema_history`.
//!
//! A database whose history holds a version this binary does not know was
//! migrated by a newer release: the node refuses to start (with
//! [`StorageError::UnsupportedSchema`]) instead of running on tables it
//! does not understand. Several nodes starting at once apply a migration
//! once: the run holds a transaction-level advisory lock.

use super::pg_pool::{Pool, pg_error};
use super::{StorageError, StoreError};

refinery::embed_migrations!("migrations");

/// Advisory lock key serialising migration runs of several nodes.
const MIGRATION_LOCK: i64 = 0x5354_4442_4d49_4752; // "STDBMIGR"

/// The newest schema version this binary carries.
pub fn binary_version() -> i64 {
    migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Applies the missing migrations. Returns whether the database was new
/// (no keyring marker yet), so that the caller creates the pepper.
pub fn migrate(pool: &Pool) -> Result<bool, StoreError> {
    pool.run(|client| {
        let newest = binary_version();
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(pg_error)?;
        let result = (|| {
            let exists: bool = client
                .query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[])
                .map_err(pg_error)?
                .get(0);
            if exists {
                let found: Option<i32> = client
                    .query_one("SELECT max(version) FROM refinery_schema_history", &[])
                    .map_err(pg_error)?
                    .get(0);
                if let Some(found) = found
                    && i64::from(found) > newest
                {
                    return Err(StoreError::from(StorageError::UnsupportedSchema(
                        u8::try_from(found).unwrap_or(u8::MAX),
                    )));
                }
            }
            migrations::runner().run(client).map_err(|e| {
                StoreError::from(StorageError::Unavailable(
                    format!("applying the database schema failed: {}", e.kind()).into(),
                ))
            })?;
            let fresh: bool = client
                .query_one("SELECT NOT EXISTS (SELECT 1 FROM server_state WHERE name = 'ids')", &[])
                .map_err(pg_error)?
                .get(0);
            Ok(fresh)
        })();
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).map_err(pg_error)?;
        result
    })
}

/// Records that the keyring of this database exists (after its pepper was
/// written).
pub fn mark_keyed(pool: &Pool) -> Result<(), StoreError> {
    pool.run(|client| {
        client
            .execute(
                "INSERT INTO server_state (name, value) VALUES ('ids', '\\x01') \
                 ON CONFLICT (name) DO NOTHING",
                &[],
            )
            .map_err(pg_error)?;
        Ok(())
    })
}
