//! Storage of run-time settings changed by admins: retention overrides and
//! the TOTP secrets of server admins and orgs (with the last time step each
//! accepted, which makes every code single-use across restarts).

use stadtbote_protocol::totp::Secret;
use stadtbote_protocol::{DeviceId, OrgId};

use super::StoreError;
use super::audit::AuditDraft;

/// Whose second factor a secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorOwner {
    /// A server admin's device.
    Admin(DeviceId),
    /// An org (used by its admin device).
    Org(OrgId),
}

/// A stored TOTP secret. `Debug` of [`Secret`] never shows the bytes.
#[derive(Debug, Clone)]
pub struct FactorRecord {
    /// The shared secret.
    pub secret: Secret,
    /// The newest time step accepted so far.
    pub last_step: Option<u64>,
}

/// Admin-changed settings.
pub trait SettingsStore {
    /// Every stored retention override: (kind, seconds).
    fn retention_overrides(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Stores a retention override.
    fn set_retention_override(&self, kind: &str, secs: u64) -> Result<(), StoreError>;

    /// The second-factor secret of `owner`, if set.
    fn factor(&self, owner: &FactorOwner) -> Result<Option<FactorRecord>, StoreError>;

    /// Stores (or replaces) the secret of `owner`, with no step used yet.
    fn set_factor(&self, owner: &FactorOwner, secret: &Secret) -> Result<(), StoreError>;

    /// Removes the secret of `owner` (undoing a failed admin claim).
    fn remove_factor(&self, owner: &FactorOwner) -> Result<(), StoreError>;

    /// Records `step` as used if it is newer than the stored last step, in
    /// one compare-and-swap; `false` when it is not newer (a replay, also
    /// when two connections race with the same code).
    fn use_factor_step(&self, owner: &FactorOwner, step: u64) -> Result<bool, StoreError>;

    /// Removes every server-admin role and every server-admin TOTP secret
    /// (with its last used step), stores `claim_hash` as the pending admin
    /// claim code and appends `entry` to the audit log, all in one
    /// transaction. Returns how many admin roles were removed. Meant for
    /// the offline `admin-reset`: the caller must hold the database alone,
    /// because the keys to remove are collected before the transaction.
    fn reset_server_admins(
        &self,
        claim_hash: &[u8; 32],
        entry: &AuditDraft,
    ) -> Result<usize, StoreError>;

    /// Sets an org's suspended flag (kept here, with the other settings a
    /// server admin changes, rather than among the org admin's own writes).
    fn set_org_suspended(&self, org: &OrgId, suspended: bool) -> Result<(), StoreError>;
}
