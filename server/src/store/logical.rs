//! The logical content of a backup: named collections of records, the same
//! for every backend.
//!
//! A backup (`crate::backup`, format 1) is a checksummed, optionally
//! age-encrypted stream: a manifest, then collections — each a name followed
//! by its records, every record a key and a value — then the data
//! directory's state files (attachments, the shredding keys). This module
//! fixes what those collections are: [`COLLECTIONS`] lists every one with
//! the meaning of its keys and values. Keys and values are the versioned
//! byte layouts of [`super::records`] (each value starts with its layout
//! version), never a backend's file format: the sled backend happens to
//! keep each collection in a tree of the same name; a PostgreSQL backend
//! keeps each in a table (`key bytea primary key, value bytea`, or typed
//! columns decoded with `records`) and exports and imports the same
//! stream. Queued envelopes are exported as the seven `envelope_*`-era
//! collections (`messages` … `group_messages`) whatever the backend keeps
//! them in, which is also how releases before the envelope log stored
//! them: old backups restore unchanged.
//!
//! Export is [`super::BackupStore::export_trees`] (a backend hands every
//! collection to a [`super::TreeVisitor`]); import is a [`RecordImporter`],
//! which every backend provides for an empty store. A backup holds ids only
//! in the keyed and sealed forms the store holds them in, so the pepper and
//! the per-account keys (`keys/`, a state file of the backup) must travel
//! with it: a backup restores into a store that uses them.

use super::StoreError;

/// One collection of the logical format.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// Its name in the backup stream.
    pub name: &'static str,
    /// What its keys and values are (layouts in `store::records`).
    pub holds: &'static str,
}

/// Every collection a backup may hold, in the order a backup writes them
/// (sorted by name). A backend exports exactly these (empty ones may be
/// left out) and refuses nothing of them on import.
pub const COLLECTIONS: &[Collection] = &[
    Collection { name: "__sled__default", holds: "always empty (kept for old backups)" },
    Collection {
        name: "account_devices", holds: "blind(account) ‖ kdev(device) → sealed device"
    },
    Collection { name: "accounts", holds: "blind(account) → created_at" },
    Collection { name: "admin_claim", holds: "`code` → SHA-256(admin claim code)" },
    Collection { name: "admins", holds: "admin device → since" },
    Collection {
        name: "audit",
        holds: "`r` ‖ seq → CBOR audit record; `head`, `anchor` → CBOR head",
    },
    Collection { name: "blob_expiry", holds: "expires_at ‖ blob → –" },
    Collection { name: "blob_usage", holds: "blind(account) → bytes charged" },
    Collection { name: "blobs", holds: "blob → blind(owner), sealed owner, progress, expiry" },
    Collection { name: "channel_post_expiry", holds: "expires_at ‖ channel ‖ seq → –" },
    Collection {
        name: "channel_posts",
        holds: "channel ‖ seq → stored_at, expires_at, sealed post",
    },
    Collection { name: "channels", holds: "channel → org, key epoch, retention, last seq, meta" },
    Collection { name: "device_lists", holds: "blind(account) → sealed signed device list" },
    Collection { name: "devices", holds: "kdev(device) → owner, identity key, created, blocked" },
    Collection { name: "expiry", holds: "envelopes: expires_at ‖ seq → –" },
    Collection { name: "group_expiry", holds: "kgroup(group) → expires_at" },
    Collection { name: "group_expiry_index", holds: "expires_at ‖ kgroup(group) → –" },
    Collection { name: "group_ids", holds: "kgroup(group) → group id sealed (account export)" },
    Collection { name: "group_info", holds: "kgroup(group) → epoch, SHA-256(token), GroupInfo" },
    Collection { name: "group_messages", holds: "envelopes: kgroup(group) ‖ seq → –" },
    Collection { name: "groups", holds: "kgroup(group) → epoch, members as kdev(device)" },
    Collection { name: "handles", holds: "org handle → org" },
    Collection { name: "invites", holds: "invite id → org, expiry, used, signed invitation" },
    Collection {
        name: "keypackages", holds: "kdev(device) ‖ seq → sealed one-time KeyPackage"
    },
    Collection { name: "kp_count", holds: "kdev(device) → one-time packages held" },
    Collection { name: "last_resort", holds: "kdev(device) → sealed last-resort KeyPackage" },
    Collection { name: "link_codes", holds: "SHA-256(code) → owner, expires_at" },
    Collection { name: "link_slots", holds: "slot → expires_at, blind(account), sealed data" },
    Collection { name: "mailbox", holds: "envelopes: kdev(device) ‖ seq → –" },
    Collection { name: "message_group", holds: "envelopes: seq → kgroup(group)" },
    Collection { name: "messages", holds: "envelopes: seq → stored_at, expires_at, payload" },
    Collection { name: "meta", holds: "`schema`, `ids` → store schema and id keying versions" },
    Collection { name: "org_codes", holds: "SHA-256(code) → org, expiry, used" },
    Collection { name: "org_profiles", holds: "org → signed profile" },
    Collection { name: "org_revocations", holds: "org → signed revocation list" },
    Collection { name: "org_rotations", holds: "org → the org key's signed rotation chain" },
    Collection { name: "org_staff_lists", holds: "org → signed staff list" },
    Collection { name: "orgs", holds: "org → handle, name, key, admin device, versions" },
    Collection {
        name: "push",
        holds: "`vapid` → VAPID secret; `s/` ‖ kdev(device) → sealed subscription",
    },
    Collection { name: "recipients", holds: "envelopes: seq ‖ kdev(device) → –" },
    Collection { name: "refs", holds: "envelopes: seq → remaining recipients, expires_at" },
    Collection { name: "revoked", holds: "staff device → orgs that revoked it" },
    Collection { name: "settings", holds: "`retention/<kind>`, `factor/…` → admin settings" },
    Collection { name: "staff", holds: "org ‖ device → signed invitation, binding, approval" },
];

/// The collection named `name`, if it is one of the logical format's.
pub fn collection(name: &[u8]) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.name.as_bytes() == name)
}

/// Writes a backup's collections into a new, empty store of some backend
/// (a restore). Collections arrive one after another, each followed by its
/// records; [`RecordImporter::finish`] makes everything durable. Nothing
/// else may use the store meanwhile.
pub trait RecordImporter {
    /// Collection `name` begins. A name that is not in [`COLLECTIONS`] is
    /// refused as [`super::StorageError::Corrupt`]: a backup of a newer
    /// release that this one cannot place.
    fn collection(&mut self, name: &[u8]) -> Result<(), StoreError>;

    /// One record of the current collection.
    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Writes what is pending and makes the whole import durable.
    fn finish(self: Box<Self>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_sorted_and_unique() {
        let names: Vec<&str> = COLLECTIONS.iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
