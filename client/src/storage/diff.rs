//! [`changes`]: the batch that turns the records committed last into the
//! records an in-memory model maps to now.
//!
//! A front-end (or, later, the core itself) may keep a feature's data as an
//! in-memory model and map it to records with a pure function. Instead of
//! tracking every mutation, it compares the mapping's output with a copy of
//! what it committed last and writes only the records that differ: one
//! message sent adds one history record and deletes one outbox record, and
//! the other 1,000 messages of the history are compared in memory, not
//! written. The comparison is memory work only; what reaches the storage
//! is exactly what changed.

use super::{Batch, RecordMap};

/// Puts for every record of `current` that `committed` lacks or holds with
/// another value, and deletes for every record of `committed` that
/// `current` lacks. Applying the batch to `committed` yields `current`.
pub fn changes(committed: &RecordMap, current: &RecordMap) -> Batch {
    let mut batch = Batch::new();
    for (space, key, value) in current.iter() {
        if committed.get(space, key) != Some(value) {
            batch.put(space, key.to_vec(), value.to_vec());
        }
    }
    for (space, key, _) in committed.iter() {
        if current.get(space, key).is_none() {
            batch.delete(space, key.to_vec());
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Space;

    fn map(records: &[(Space, &[u8], &[u8])]) -> RecordMap {
        let mut batch = Batch::new();
        for (space, key, value) in records {
            batch.put(*space, key.to_vec(), value.to_vec());
        }
        let mut map = RecordMap::new();
        map.apply(&batch);
        map
    }

    #[test]
    fn only_differences_are_written_and_applying_them_converges() {
        let committed = map(&[
            (Space::History, b"1", b"eins"),
            (Space::History, b"2", b"zwei"),
            (Space::Outbox, b"1", b"drei"),
            (Space::Account, b"meta", b"m"),
        ]);
        let current = map(&[
            (Space::History, b"1", b"eins"),
            (Space::History, b"2", b"zwei!"),
            (Space::History, b"3", b"drei"),
            (Space::Account, b"meta", b"m"),
        ]);
        let batch = changes(&committed, &current);
        assert_eq!(batch.len(), 3, "{batch:?}");
        let mut applied = committed.clone();
        applied.apply(&batch);
        assert_eq!(applied.iter().collect::<Vec<_>>(), current.iter().collect::<Vec<_>>());
        assert!(changes(&current, &current).is_empty());
        // The same key in another space is another record.
        let other = map(&[(Space::Outbox, b"meta", b"m")]);
        let batch = changes(&map(&[(Space::Account, b"meta", b"m")]), &other);
        assert_eq!(batch.len(), 2);
    }
}
