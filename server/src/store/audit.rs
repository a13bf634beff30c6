//! Storage of the audit log: an append-only, hash-chained list of admin and
//! org-admin actions, plus the anchor that keeps the chain verifiable after
//! the sweeper removed old entries.
//!
//! Every append stores the record and the new chain head in one
//! transaction, so the head never points past or behind the stored log.

use stadtbote_protocol::audit::{AuditHead, AuditRecord};

use super::StoreError;

/// An entry to append; the store assigns its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// Unix ms.
    pub at: u64,
    /// The actor's pseudonym.
    pub actor: String,
    /// The actor's role.
    pub role: String,
    /// The action.
    pub action: String,
    /// Its object, if any (org handle or account pseudonym).
    pub target: Option<String>,
    /// `ok` or `refused:<reason>`.
    pub outcome: String,
}

/// One page of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// Records after the requested sequence number, in order.
    pub records: Vec<AuditRecord>,
    /// The newest record, if any.
    pub head: Option<AuditHead>,
    /// The last record removed by retention, if any.
    pub anchor: Option<AuditHead>,
}

/// The audit log.
pub trait AuditStore {
    /// Appends an entry, chained to the current head, atomically with the
    /// new head. Returns the stored record.
    fn audit_append(&self, draft: &AuditDraft) -> Result<AuditRecord, StoreError>;

    /// Records with `seq > after`, at most `limit` of them and, beyond the
    /// first, no more than `max_bytes` of entries.
    fn audit_page(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<AuditPage, StoreError>;

    /// Removes records older than `before_ms` (at most `max` per call),
    /// oldest first, moving the anchor to the last removed one. Returns how
    /// many were removed.
    fn audit_prune(&self, before_ms: u64, max: usize) -> Result<u64, StoreError>;

    /// The pseudonym under which the log names an account or device:
    /// [`stadtbote_protocol::audit::keyed_pseudonym`] with a key derived
    /// from the store's pepper, so that a candidate id cannot be checked
    /// against the log (or its old copies) without the pepper.
    fn audit_pseudonym(&self, domain: &[u8], id: &[u8]) -> String;
}
