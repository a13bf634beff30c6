//! [`RecordMap`]: the records of every space as ordered maps in memory, with
//! batch application and scans. [`super::MemoryStorage`] is one; a file
//! backend keeps one as its index of what the snapshot and journal hold.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Batch, Op, Scan, Space};

/// Records by space and key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordMap {
    spaces: BTreeMap<Space, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl RecordMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key` in `space`.
    pub fn get(&self, space: Space, key: &[u8]) -> Option<&[u8]> {
        self.spaces.get(&space)?.get(key).map(Vec::as_slice)
    }

    /// Applies one operation.
    pub fn apply_op(&mut self, op: &Op) {
        match op {
            Op::Put { space, key, value } => {
                self.spaces.entry(*space).or_default().insert(key.clone(), value.clone());
            }
            Op::Delete { space, key } => {
                if let Some(records) = self.spaces.get_mut(space) {
                    records.remove(key);
                }
            }
            Op::DeletePrefix { space, prefix } => {
                if let Some(records) = self.spaces.get_mut(space) {
                    records.retain(|key, _| !key.starts_with(prefix));
                }
            }
        }
    }

    /// Applies every operation of `batch`, in order.
    pub fn apply(&mut self, batch: &Batch) {
        for op in batch.ops() {
            self.apply_op(op);
        }
    }

    /// The records `scan` selects, in its order.
    pub fn scan(&self, space: Space, scan: &Scan) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Some(records) = self.spaces.get(&space) else { return Vec::new() };
        if scan.is_empty_range() {
            return Vec::new();
        }
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (as_ref(&scan.lower), as_ref(&scan.upper));
        let range = records.range::<[u8], _>(bounds);
        let limit = scan.limit.unwrap_or(usize::MAX);
        let pick = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        if scan.reverse {
            range.rev().take(limit).map(pick).collect()
        } else {
            range.take(limit).map(pick).collect()
        }
    }

    /// Every record of every space, spaces in [`Space::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Space, &[u8], &[u8])> {
        self.spaces.iter().flat_map(|(space, records)| {
            records.iter().map(move |(k, v)| (*space, k.as_slice(), v.as_slice()))
        })
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.spaces.values().map(BTreeMap::len).sum()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of all keys and values.
    pub fn payload_len(&self) -> usize {
        self.iter().map(|(_, k, v)| k.len() + v.len()).sum()
    }
}

fn as_ref(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(b) => Bound::Included(b.as_slice()),
        Bound::Excluded(b) => Bound::Excluded(b.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_apply_in_order_and_scans_respect_bounds() {
        let mut map = RecordMap::new();
        let mut batch = Batch::new();
        for i in 0u8..10 {
            batch.put(Space::History, vec![1, i], vec![i]);
        }
        batch.put(Space::History, vec![2], vec![0]);
        batch.delete(Space::History, vec![1, 3]);
        batch.put(Space::History, vec![1, 3], vec![33]);
        batch.delete_prefix(Space::History, vec![2]);
        map.apply(&batch);
        assert_eq!(map.get(Space::History, &[1, 3]), Some(&[33u8][..]));
        assert_eq!(map.get(Space::History, &[2]), None);
        let page = map.scan(Space::History, &Scan::prefix(vec![1]).reverse().limit(3));
        let keys: Vec<_> = page.iter().map(|(k, _)| k[1]).collect();
        assert_eq!(keys, [9, 8, 7]);
        let next =
            map.scan(Space::History, &Scan::prefix(vec![1]).reverse().limit(3).before(vec![1, 7]));
        assert_eq!(next.iter().map(|(k, _)| k[1]).collect::<Vec<_>>(), [6, 5, 4]);
        // Bounds that exclude everything do not panic.
        assert!(map.scan(Space::History, &Scan::range(vec![5], vec![1])).is_empty());
        assert!(map.scan(Space::Outbox, &Scan::all()).is_empty());
    }
}
