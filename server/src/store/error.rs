//! What a store operation can answer besides success, in two kinds that the
//! relay must never confuse:
//!
//! * [`StorageError`] — the storage itself failed (I/O error, disk full, a
//!   lost database connection, a record that does not decode, a transaction
//!   that kept conflicting). Nothing is assumed stored and nothing may be
//!   acknowledged; the client is told "try again later" (wire code
//!   `storage_unavailable`, `unavailable` for contention, `internal` for a
//!   corrupt record — the codes of earlier releases). Every backend reports
//!   its failures only through these variants.
//! * the other [`StoreError`] variants — domain refusals decided by the
//!   rules (`store::rules` and the stores' own checks): stale epoch, unknown
//!   group, quota, … They leave the store unchanged and are answered with the
//!   refusal's own code; retrying the same request does not help.
//!
//! [`StoreError::is_storage_failure`] tells the two apart without a match.

/// The storage failed; nothing of the operation is assumed stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database could not read or write (I/O error, lost connection, …).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The filesystem or database is out of space (ENOSPC, EDQUOT); the
    /// operation wrote nothing that counts.
    #[error("storage full: {0}")]
    Full(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record could not be decoded.
    #[error("corrupt record in {0}")]
    Corrupt(&'static str),
    /// A request kept colliding with concurrent changes (a transaction that
    /// could not be serialised); retrying later helps, nothing was stored.
    #[error("too much concurrent contention")]
    Contention,
    /// The data directory was written by an older release whose schema
    /// this one does not read. There is no migration: no production data
    /// of an older schema exists.
    #[error(
        "the data directory uses storage schema {found}, this release needs {current}; \
         older schemas are not migrated (they predate any production use): \
         move the directory away and start with an empty one"
    )]
    OutdatedSchema {
        /// The schema found on disk.
        found: u8,
        /// The schema this release writes.
        current: u8,
    },
    /// The database was written by a newer, unknown schema.
    #[error("unsupported storage schema version {0}")]
    UnsupportedSchema(u8),
    /// The database (schema 2) was written before device and group ids
    /// were keyed with the pepper (`store::sled_ids`): its records name
    /// devices and conversations by their ids. Not migrated in place.
    #[error(
        "the data directory was written by an earlier release that stored device and \
         conversation ids unkeyed (no meta/ids marker); this release does not read it. \
         Keep running the earlier release on it, or move it away and start with an empty one"
    )]
    UnkeyedIds,
    /// The database's id keying (`meta/ids`) is of a newer, unknown version.
    #[error("unsupported id keying version {0}")]
    UnsupportedIdKeying(u8),
}

/// Why a store operation failed: a storage failure ([`StoreError::Storage`])
/// or one of the domain refusals, which leave the store unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage failed; see [`StorageError`].
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No such account.
    #[error("unknown account")]
    UnknownAccount,
    /// A referenced device does not exist.
    #[error("unknown device")]
    UnknownDevice,
    /// No such group.
    #[error("unknown group")]
    UnknownGroup,
    /// The device is not a member of the group.
    #[error("not a member of the group")]
    NotAMember,
    /// A commit was already accepted for the given epoch.
    #[error("stale epoch; current epoch is {current}")]
    StaleEpoch {
        /// The group's current epoch.
        current: u64,
    },
    /// The commit would make the group larger than allowed.
    #[error("group would have more than {max} devices")]
    TooManyMembers {
        /// The configured maximum.
        max: usize,
    },
    /// The upload would exceed the per-device KeyPackage limit.
    #[error("more than {max} one-time KeyPackages")]
    TooManyKeyPackages {
        /// The configured maximum.
        max: u32,
    },
    /// A join token does not match the group's current link (wrong, or the
    /// link was replaced).
    #[error("invalid or replaced join token")]
    InvalidToken,
    /// A commit's add/remove lists are contradictory.
    #[error("invalid commit: {0}")]
    InvalidCommit(&'static str),
    /// A link code is unknown, already used or expired.
    #[error("invalid link code")]
    InvalidCode,
    /// An admin, org-admin or invitation code cannot be redeemed.
    #[error("code cannot be redeemed: {0:?}")]
    Code(super::CodeState),
    /// The org handle is already in use.
    #[error("handle taken")]
    HandleTaken,
    /// No such org.
    #[error("unknown org")]
    UnknownOrg,
    /// The org already has a key and admin device.
    #[error("org already claimed")]
    AlreadyClaimed,
    /// A profile or revocation list is not newer than the stored one.
    #[error("version not increasing")]
    VersionNotIncreasing,
    /// A staff invitation with this id is already stored.
    #[error("invitation id taken")]
    InviteIdTaken,
    /// The change would make the org directory larger than one message.
    #[error("org directory too large")]
    DirectoryTooLarge,
    /// The device is on the org's revocation list.
    #[error("device revoked")]
    DeviceRevoked,
    /// A staff approval does not state the binding of the enrolment stored
    /// for its device (or no enrolment is stored for it).
    #[error("approval does not match the enrolment")]
    ApprovalMismatch,
    /// Only a discussion group's moderators may do this.
    #[error("moderators only")]
    ModeratorsOnly,
    /// No such blob.
    #[error("unknown blob")]
    UnknownBlob,
    /// The account's attachment quota would be exceeded.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// A channel with this id already exists.
    #[error("channel id taken")]
    ChannelIdTaken,
    /// No such channel.
    #[error("unknown channel")]
    UnknownChannel,
    /// A channel's key epoch would decrease.
    #[error("key epoch decreasing")]
    EpochDecreasing,
    /// A post's `prev_seq` is not the channel's newest sequence number.
    #[error("stale post; the newest post is {last_seq}")]
    StaleSeq {
        /// The channel's newest sequence number.
        last_seq: u64,
    },
    /// The account holds a server-admin or org-admin role, which must be
    /// handed over before the account can be deleted.
    #[error("the account holds an admin role")]
    AdminRoleHeld,
    /// A chunk was recorded out of order.
    #[error("expected chunk {expected}")]
    ChunkOutOfOrder {
        /// The chunk the upload needs next.
        expected: u32,
    },
}

impl StoreError {
    /// Wraps a backend error as a storage failure: [`StorageError::Full`]
    /// when an I/O error in its chain says the disk or quota is full, else
    /// [`StorageError::Unavailable`].
    pub fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        let full = is_out_of_space(&err);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        Self::Storage(if full {
            StorageError::Full(boxed)
        } else {
            StorageError::Unavailable(boxed)
        })
    }

    /// A record of `what` (a tree or table name) did not decode.
    pub fn corrupt(what: &'static str) -> Self {
        Self::Storage(StorageError::Corrupt(what))
    }

    /// A transaction kept conflicting; nothing was stored.
    pub fn contention() -> Self {
        Self::Storage(StorageError::Contention)
    }

    /// A record of an unknown, newer layout version.
    pub fn unsupported_schema(version: u8) -> Self {
        Self::Storage(StorageError::UnsupportedSchema(version))
    }

    /// Whether storage failed (nothing may be acknowledged; retrying later
    /// may succeed), as opposed to a domain refusal.
    pub fn is_storage_failure(&self) -> bool {
        matches!(self, Self::Storage(_))
    }

    /// The storage failure, if this is one.
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            Self::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// ENOSPC and EDQUOT on Linux; other systems report `StorageFull` kinds.
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// Whether `err` or an error in its source chain is an I/O error saying
/// that space ran out.
fn is_out_of_space(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT)))
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_is_full_and_other_io_is_unavailable() {
        let full = StoreError::unavailable(std::io::Error::from_raw_os_error(ENOSPC));
        assert!(matches!(full, StoreError::Storage(StorageError::Full(_))), "{full:?}");
        assert!(full.is_storage_failure());
        let other = StoreError::unavailable(std::io::Error::other("broken pipe"));
        assert!(matches!(other, StoreError::Storage(StorageError::Unavailable(_))), "{other:?}");
        assert!(!StoreError::StaleEpoch { current: 3 }.is_storage_failure());
        assert!(StoreError::corrupt("groups").storage().is_some());
    }

    #[test]
    fn messages_of_storage_failures_are_unchanged() {
        // Operators grep logs for these; the split must not change them.
        assert_eq!(StoreError::corrupt("groups").to_string(), "corrupt record in groups");
        assert_eq!(StoreError::contention().to_string(), "too much concurrent contention");
        assert_eq!(
            StoreError::unsupported_schema(9).to_string(),
            "unsupported storage schema version 9"
        );
    }
}
