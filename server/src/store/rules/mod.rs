//! The relay's storage rules, above every backend.
//!
//! A backend stores, loads and transacts; it does not decide. What a
//! commit may do (epoch check, membership changes, group creation, size
//! limit), who is queued nothing (devices revoked by an org) and what an
//! account deletion removes and in which order (records durable before
//! the shredding key is destroyed) are decided here, once, for every
//! backend:
//!
//! * [`commit`] — pure functions from the group's current state (as the
//!   backend loaded it inside its transaction) and the request to a plan
//!   (new epoch, new members, who is queued what) or a refusal. The rule
//!   consults the backend only through [`GroupView`], a narrow read
//!   interface answered inside the same transaction.
//! * [`revocation`] — revoked devices stay group members but are queued
//!   nothing; every fan-out (send, commit, welcome, external join) filters
//!   its recipients through [`revocation::unrevoked`].
//! * [`deletion`] — the steps of an account deletion and their order; the
//!   backend implements the steps ([`deletion::DeletionSteps`]).
//! * [`group`] — who may set a group's expiry (only ever earlier;
//!   discussion groups by moderators only) and which org a join link keeps.
//! * [`channel`], [`blob`] — one post per sequence number, key epochs
//!   never back; the attachment quota and chunk order.
//! * [`export`] — what an account export lists (devices, roles, groups,
//!   uploads, pending link codes), assembled from the backend's reads.
//! * [`org`] — one-time org codes and staff invitations, growing
//!   versions of an org's signed objects, key rotations, revocation lists
//!   and the directory's size bound.
//!
//! How a backend uses a rule: open a transaction (sled: the
//! envelope-ordering lock; PostgreSQL: `SELECT … FOR UPDATE` of the group
//! row), load the group, call the rule with a [`GroupView`] backed by the
//! same transaction, store exactly what the returned plan says, commit. The
//! rules never do I/O themselves and never panic on stored data.

pub mod blob;
pub mod channel;
pub mod commit;
pub mod deletion;
pub mod export;
pub mod group;
pub mod org;
pub mod revocation;

use stadtbote_protocol::DeviceId;

use super::StoreError;

/// What a rule may ask the backend about devices, answered inside the
/// backend's current transaction (or under its ordering lock). Ids are the
/// backend's stored ids, the same ones the group's member list holds.
pub trait GroupView {
    /// Whether the device exists, and if so whether an operator blocked it.
    fn device_standing(&self, device: &DeviceId) -> Result<DeviceStanding, StoreError>;

    /// Whether the device is on an org's revocation list (so it is queued
    /// nothing, see [`revocation`]).
    fn is_queued_nothing(&self, device: &DeviceId) -> Result<bool, StoreError>;
}

/// Whether a device may be added to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStanding {
    /// No such device (or its account was deleted).
    Unknown,
    /// Blocked by an operator: not offered to anybody as a member.
    Blocked,
    /// Registered and not blocked.
    Active,
}
