//! How a follower's [`FollowsFile`] is kept: one CBOR record (key
//! [`FOLLOWS_KEY`]) in [`Space::Follows`]. A follower follows a handful of
//! channels, so one record, rewritten whole by each save, is small, and
//! every save is one atomic, durable commit.
//!
//! The writer takes the storage's lease only for the moment of a save
//! (acquire, commit, release): a follower is a short CLI command or a
//! browser tab that may vanish without a goodbye, and a lease left behind
//! must not lock its successor out.

use crate::storage::{Batch, HolderId, Space, Storage};

use super::FollowError;
use super::model::{FOLLOWS_VERSION, FollowsFile};

/// The record's key.
pub const FOLLOWS_KEY: &[u8] = b"follows";
/// How long the lease of one save lasts at most.
const SAVE_LEASE_MS: u64 = 60_000;

/// Decodes follows (the record, or an older front-end's file of the same
/// format); version 1 is upgraded in memory and written as version 2 by
/// the next save.
pub fn decode(bytes: &[u8]) -> Result<FollowsFile, FollowError> {
    let mut file: FollowsFile = ciborium::from_reader(bytes)
        .map_err(|e| FollowError::Corrupt { reason: e.to_string().chars().take(200).collect() })?;
    match file.v {
        // Version 1 lacks the kept revocation lists and signed retention:
        // the fields start empty and fill on the next fetch (trust on
        // first use, as when following).
        1 => file.v = FOLLOWS_VERSION,
        FOLLOWS_VERSION => {}
        found => return Err(FollowError::NewerFormat { found }),
    }
    Ok(file)
}

/// The follows kept in `storage`, `None` when there are none yet.
pub async fn load<S: Storage>(storage: &S) -> Result<Option<FollowsFile>, FollowError> {
    match storage.get(Space::Follows, FOLLOWS_KEY).await? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Saves `file` in one durable commit under a lease held only for it.
pub async fn save<S: Storage>(
    storage: &S,
    holder: &HolderId,
    file: &FollowsFile,
    now: u64,
) -> Result<(), FollowError> {
    let mut bytes = Vec::new();
    ciborium::into_writer(file, &mut bytes)
        .map_err(|e| FollowError::Corrupt { reason: e.to_string() })?;
    let mut batch = Batch::new();
    batch.put(Space::Follows, FOLLOWS_KEY.to_vec(), bytes);
    let lease = storage.acquire_lease(holder, now, SAVE_LEASE_MS).await?;
    let committed = storage.commit(&lease, batch).await;
    // Released also after a failed commit; a failed release only leaves a
    // lease that expires within SAVE_LEASE_MS (and a file-backed one is
    // taken over at once when this process is gone).
    let _ = storage.release_lease(&lease).await;
    committed.map_err(FollowError::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::follow::Follower;
    use crate::storage::MemoryStorage;
    use crate::testing::{ManualClock, run};

    fn holder() -> HolderId {
        HolderId::new("test").unwrap()
    }

    fn encoded(file: &FollowsFile) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(file, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn follows_round_trip_in_one_record_and_leave_no_lease_behind() {
        run(async {
            let storage = MemoryStorage::default();
            assert!(load(&storage).await.unwrap().is_none());
            let file = FollowsFile { v: 1, ..FollowsFile::default() };
            save(&storage, &holder(), &file, 5).await.unwrap();
            let back = load(&storage).await.unwrap().unwrap();
            // Version 1 is read as the current version.
            assert_eq!(back.v, FOLLOWS_VERSION);
            // Another writer can take the lease at once.
            let other = HolderId::new("other").unwrap();
            storage.acquire_lease(&other, 6, 1000).await.unwrap();
        });
    }

    #[test]
    fn an_older_front_ends_file_is_imported_once() {
        run(async {
            let storage = MemoryStorage::default();
            let mut follower =
                Follower::open(storage.clone(), holder(), ManualClock::at(1)).await.unwrap();
            let old = encoded(&FollowsFile::default());
            assert!(follower.import_legacy(&old).await.unwrap());
            // Follows in the store: a second copy of the old file is not
            // imported over them.
            assert!(!follower.import_legacy(&old).await.unwrap());
            let newer = encoded(&FollowsFile { v: 9, ..FollowsFile::default() });
            let mut fresh = Follower::open(MemoryStorage::default(), holder(), ManualClock::at(1))
                .await
                .unwrap();
            assert!(matches!(
                fresh.import_legacy(&newer).await,
                Err(FollowError::NewerFormat { found: 9 })
            ));
            assert!(matches!(
                fresh.import_legacy(b"not cbor").await,
                Err(FollowError::Corrupt { .. })
            ));
        });
    }
}
