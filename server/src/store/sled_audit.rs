//! [`AuditStore`] on sled: the `audit` tree holds `r` + seq (big endian) →
//! CBOR [`AuditRecord`], `head` → CBOR [`AuditHead`] and `anchor` → CBOR
//! [`AuditHead`] of the last record removed by retention.

use sled::Transactional;
use sled::transaction::TransactionalTree;
use stadtbote_protocol::audit::{AuditEntry, AuditHead, AuditRecord, seal};

use super::StoreError;
use super::audit::{AuditDraft, AuditPage, AuditStore};
use super::sled_store::{SledStore, TxResult, abort, io, tx_decode, tx_error};

const HEAD_KEY: &[u8] = b"head";
const ANCHOR_KEY: &[u8] = b"anchor";
const RECORD_PREFIX: u8 = b'r';

fn record_key(seq: u64) -> [u8; 9] {
    let mut key = [RECORD_PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|_| StoreError::corrupt("audit"))?;
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    ciborium::from_reader(bytes).map_err(|_| StoreError::corrupt("audit"))
}

fn head_hash(head: &AuditHead) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(head.hash.as_slice()).map_err(|_| StoreError::corrupt("audit"))
}

/// Appends `draft` inside a transaction on the audit tree, chained to the
/// current head, and moves the head. Shared by [`AuditStore::audit_append`]
/// and by changes that must be recorded atomically with the entry that
/// describes them (the offline admin reset).
pub(super) fn append_in(audit: &TransactionalTree, draft: &AuditDraft) -> TxResult<AuditRecord> {
    let (seq, prev) = match audit.get(HEAD_KEY)? {
        Some(bytes) => {
            let head: AuditHead = tx_decode(decode(&bytes))?;
            (head.seq.saturating_add(1), tx_decode(head_hash(&head))?)
        }
        None => (1, [0u8; 32]),
    };
    if audit.get(record_key(seq))?.is_some() {
        return abort(StoreError::corrupt("audit"));
    }
    let entry = AuditEntry {
        seq,
        at: draft.at,
        actor: draft.actor.clone(),
        role: draft.role.clone(),
        action: draft.action.clone(),
        target: draft.target.clone(),
        outcome: draft.outcome.clone(),
    };
    let record = seal(&entry, &prev);
    let head = AuditHead { seq, hash: record.hash.clone() };
    audit.insert(&record_key(seq), tx_decode(encode(&record))?)?;
    audit.insert(HEAD_KEY, tx_decode(encode(&head))?)?;
    Ok(record)
}

impl AuditStore for SledStore {
    fn audit_pseudonym(&self, domain: &[u8], id: &[u8]) -> String {
        stadtbote_protocol::audit::keyed_pseudonym(
            self.keyring.pseudonym_key().as_ref(),
            domain,
            id,
        )
    }

    fn audit_append(&self, draft: &AuditDraft) -> Result<AuditRecord, StoreError> {
        (&self.audit,).transaction(|(audit,)| append_in(audit, draft)).map_err(tx_error)
    }

    fn audit_page(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<AuditPage, StoreError> {
        let head = self.audit.get(HEAD_KEY).map_err(io)?.map(|b| decode(&b)).transpose()?;
        let anchor = self.audit.get(ANCHOR_KEY).map_err(io)?.map(|b| decode(&b)).transpose()?;
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let start = record_key(after.saturating_add(1));
        let end = record_key(u64::MAX);
        for item in self.audit.range(start..=end) {
            let (_, value) = item.map_err(io)?;
            if records.len() >= limit || (!records.is_empty() && bytes + value.len() > max_bytes) {
                break;
            }
            bytes += value.len();
            records.push(decode::<AuditRecord>(&value)?);
        }
        Ok(AuditPage { records, head, anchor })
    }

    fn audit_prune(&self, before_ms: u64, max: usize) -> Result<u64, StoreError> {
        let mut stale = Vec::new();
        for item in self.audit.range(record_key(0)..=record_key(u64::MAX)) {
            let (key, value) = item.map_err(io)?;
            let record: AuditRecord = decode(&value)?;
            // An unreadable entry is kept: removing it would hide tampering.
            let Ok(entry) = AuditEntry::from_canonical_cbor(&record.entry) else {
                break;
            };
            if entry.at >= before_ms || stale.len() >= max {
                break;
            }
            stale.push((key, AuditHead { seq: record.seq, hash: record.hash }));
        }
        let Some((_, last)) = stale.last() else {
            return Ok(0);
        };
        let anchor = encode(last)?;
        let count = stale.len() as u64;
        (&self.audit,)
            .transaction(|(audit,)| {
                for (key, _) in &stale {
                    audit.remove(key)?;
                }
                audit.insert(ANCHOR_KEY, anchor.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use stadtbote_protocol::audit::verify_chain;

    use super::*;

    fn draft(at: u64) -> AuditDraft {
        AuditDraft {
            at,
            actor: "00".into(),
            role: "server-admin".into(),
            action: "admin.stats".into(),
            target: None,
            outcome: "ok".into(),
        }
    }

    #[test]
    fn append_page_prune_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        for at in 1..=5 {
            store.audit_append(&draft(at)).unwrap();
        }
        let page = store.audit_page(0, 100, 1 << 20).unwrap();
        assert_eq!(page.records.len(), 5);
        verify_chain(&page.records, None, page.head.as_ref(), None).unwrap();
        assert_eq!(store.audit_page(3, 1, 1 << 20).unwrap().records[0].seq, 4);
        assert_eq!(store.audit_prune(3, 100).unwrap(), 2);
        let page = store.audit_page(0, 100, 1 << 20).unwrap();
        assert_eq!(page.records[0].seq, 3);
        assert_eq!(page.anchor.as_ref().map(|a| a.seq), Some(2));
        verify_chain(&page.records, page.anchor.as_ref(), page.head.as_ref(), None).unwrap();
        // Appending after pruning continues the chain.
        store.audit_append(&draft(9)).unwrap();
        let page = store.audit_page(0, 100, 1 << 20).unwrap();
        verify_chain(&page.records, page.anchor.as_ref(), page.head.as_ref(), None).unwrap();
    }
}
