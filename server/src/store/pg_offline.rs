//! What the offline tools need to know before they change a PostgreSQL
//! database: whether server nodes are still connected to it.
//!
//! On sled the running server holds the database's file lock, and a tool
//! that finds it locked refuses. A PostgreSQL database has no such lock:
//! any number of nodes (and a tool) can work on it at once. The nodes
//! connect with the application name `stadtbote-server` (see
//! [`super::pg_pool`]), so a tool counts the database's sessions with that
//! name in `pg_stat_activity` before it opens its own pool — and refuses
//! while there are any, like the file lock on sled.

use postgres::NoTls;

use super::pg_pool::{PgOptions, PoolError, pg_error};
use super::{StorageError, StoreError};

/// The application name server nodes connect with.
pub const SERVER_APPLICATION: &str = "stadtbote-server";

/// The application name an offline tool's check connects with (so that
/// it does not count itself).
const TOOL_APPLICATION: &str = "stadtbote-server-offline";

/// How many sessions of running server nodes the database of `options`
/// has now. The check's own connection is not counted.
pub fn server_sessions(options: &PgOptions) -> Result<u64, StoreError> {
    let mut config: postgres::Config = options
        .url
        .parse()
        .map_err(|_| StoreError::from(StorageError::Unavailable(PoolError::BadUrl.into())))?;
    config.connect_timeout(options.connect_timeout);
    config.application_name(TOOL_APPLICATION);
    let mut client = config.connect(NoTls).map_err(pg_error)?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
            &[&SERVER_APPLICATION],
        )
        .map_err(pg_error)?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_store_counts_as_a_running_server() {
        let Some(pg) = crate::store::pg_conformance::cluster() else { return };
        let url = pg.create_database();
        let options = crate::store::pg_conformance::options(url);
        assert_eq!(server_sessions(&options).unwrap(), 0);
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::PgStore::open(&options, dir.path()).unwrap();
        assert!(server_sessions(&options).unwrap() >= 1);
        drop(store);
        // The pool's connections end when it is dropped; PostgreSQL notices
        // a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while server_sessions(&options).unwrap() != 0 {
            assert!(std::time::Instant::now() < deadline, "sessions left after drop");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
