//! The audit log of admin and org-admin actions: entry format and the hash
//! chain that makes a changed or removed entry detectable.
//!
//! The server appends; `stadtbote admin audit --verify` recomputes the chain
//! on the client, so a server that rewrote its log cannot also fake the check.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// One stored audit record: the CBOR-encoded [`AuditEntry`] and its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The encoded [`AuditEntry`], exactly as hashed.
    pub entry: ByteBuf,
    /// Hash of the previous record (32 zero bytes for the first).
    pub prev: ByteBuf,
    /// This record's chain hash.
    pub hash: ByteBuf,
}

/// The newest record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain hash.
    pub hash: ByteBuf,
}

/// What happened, as stored inside an [`AuditRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (repeated inside the hashed bytes).
    pub seq: u64,
    /// Unix ms.
    pub at: u64,
    /// Who acted: a pseudonym of the device (never a raw account or device
    /// id, so that a deleted citizen leaves no id behind in the log).
    pub actor: String,
    /// The actor's role as the server saw it, e.g. `server-admin`,
    /// `org-admin:goslar`, `none`.
    pub role: String,
    /// The action, e.g. `admin.block`, `org.publish`.
    pub action: String,
    /// Its object (an org handle, a pseudonymised account), if any.
    pub target: Option<String>,
    /// `ok`, or why it was refused, e.g. `refused:second-factor-missing`.
    pub outcome: String,
}
