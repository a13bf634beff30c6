//! Server-admin requests: claiming the admin role with the bootstrap code
//! (and the admin's TOTP secret), and the admin actions (creating, listing,
//! suspending and resuming orgs, resetting an org's second factor,
//! aggregate statistics, blocking accounts, retention periods, reading the
//! audit log). Every admin action needs the
//! second factor (see `second_factor`) and is recorded in the audit log.

use stadtbote_protocol::frame::{AdminAction, OrgSummary, Response};
use stadtbote_protocol::org::validate_handle;
use stadtbote_protocol::{AccountId, OrgId, RefusalReason};

use super::second_factor::Elevation;
use super::{Identity, Relay, RelayError, code_hash};
use crate::admin::{random_code, remove_if_exists};
use crate::store::{FactorOwner, OrgCodeRecord, OrgRecord, StoreError};
use crate::unix_ms;

/// Longest org display name, in characters.
const MAX_ORG_NAME_CHARS: usize = 100;

impl Relay {
    /// Makes the caller a server admin if `code` is the pending claim code.
    pub(super) async fn admin_claim(
        &self,
        me: &Identity,
        code: &str,
        totp_secret: Option<&[u8]>,
    ) -> Result<Response, RelayError> {
        self.check_code_attempt(&me.device)?;
        let Some(secret) = totp_secret else {
            return Err(RelayError::Refused(RefusalReason::AdminClaimNeedsSecret));
        };
        // An admin's secret is never replaced by a claim attempt (a wrong
        // code would otherwise delete it below).
        if self.store.is_admin(&me.device)? {
            return Err(RelayError::Refused(RefusalReason::AdminClaimCodeInvalid));
        }
        // The secret is stored before the role: a crash in between leaves
        // an unused secret, never an admin without a second factor.
        let owner = FactorOwner::Admin(me.device);
        self.store_secret(&owner, secret)?;
        match self.store.claim_admin(&code_hash(code), &me.device, unix_ms()) {
            Ok(()) => {}
            // A wrong code and a used one look the same: once used, the
            // code's hash is gone.
            Err(StoreError::Code(_)) => {
                self.store.remove_factor(&owner)?;
                return Err(RelayError::Refused(RefusalReason::AdminClaimCodeInvalid));
            }
            Err(e) => {
                self.store.remove_factor(&owner)?;
                return Err(e.into());
            }
        }
        self.durable().await?;
        // The code is spent; its file goes too. Should deleting fail, the
        // file holds only a useless code and the next start removes it.
        let path = self.admin_code_path.clone();
        match tokio::task::spawn_blocking(move || remove_if_exists(&path)).await {
            Ok(Ok(())) => {}
            _ => tracing::warn!("could not delete the used admin claim code file"),
        }
        tracing::info!("server admin claimed");
        Ok(Response::AdminClaimed)
    }

    /// A server-admin action.
    pub(super) async fn admin(
        &self,
        me: &Identity,
        otp: Option<&str>,
        elevation: &mut Elevation,
        action: AdminAction,
    ) -> Result<Response, RelayError> {
        let name = action_name(&action);
        let target = self.action_target(&action);
        if !self.store.is_admin(&me.device)? {
            let err = RelayError::Refused(RefusalReason::ServerAdminOnly);
            return self.refuse(me, "none", name, target, err).await;
        }
        if let Err(err) = self.require_factor(FactorOwner::Admin(me.device), otp, elevation) {
            return self.refuse(me, ROLE, name, target, err).await;
        }
        // One backup is one entry (its start, with the outcome): the
        // chunks and the final clean-up of a started backup are not
        // recorded one by one (a 25 MB backup would write ~200 entries).
        // Their refusals still are.
        let part_of_backup =
            matches!(action, AdminAction::BackupChunk { .. } | AdminAction::BackupFinish { .. });
        let result = self.admin_action(action).await;
        if part_of_backup && result.is_ok() {
            return result;
        }
        self.audited(me, ROLE, name, target, result).await
    }

    /// Runs an admin action of an admin who passed both factors.
    async fn admin_action(&self, action: AdminAction) -> Result<Response, RelayError> {
        match action {
            AdminAction::CreateOrg { name, handle } => self.create_org(&name, &handle).await,
            AdminAction::ListOrgs => {
                let orgs = self
                    .store
                    .orgs()?
                    .into_iter()
                    .map(|(org, record)| OrgSummary {
                        org,
                        handle: record.handle,
                        name: record.name,
                        claimed: record.org_key.is_some(),
                        created_at: record.created_at,
                        suspended: record.suspended,
                    })
                    .collect();
                Ok(Response::Orgs { orgs })
            }
            AdminAction::Stats => {
                let mut stats = self.store.admin_stats()?;
                stats.connected = self.metrics.connections_current();
                Ok(Response::Stats { stats })
            }
            AdminAction::Block { account } => self.set_blocked(&account, true).await,
            AdminAction::Unblock { account } => self.set_blocked(&account, false).await,
            AdminAction::SuspendOrg { handle } => self.set_suspended(&handle, true).await,
            AdminAction::ResumeOrg { handle } => self.set_suspended(&handle, false).await,
            AdminAction::RetentionShow => {
                Ok(Response::Retention { periods: self.retention().periods() })
            }
            AdminAction::RetentionSet { kind, secs } => self.retention_set(&kind, secs).await,
            AdminAction::Audit { after, limit } => {
                let limit = (limit as usize).clamp(1, self.limits.channel_fetch_limit);
                let page = self.store.audit_page(after, limit, self.limits.channel_page_bytes)?;
                Ok(Response::Audit { records: page.records, head: page.head, anchor: page.anchor })
            }
            AdminAction::BackupStart { recipients, insecure_plaintext } => {
                self.backup_start(&recipients, insecure_plaintext).await
            }
            AdminAction::BackupChunk { backup, index } => self.backup_chunk(&backup, index).await,
            AdminAction::BackupFinish { backup } => self.backup_finish(&backup).await,
            AdminAction::ResetOrgSecondFactor { handle } => self.reset_org_factor(&handle).await,
            _ => Err(RelayError::Refused(RefusalReason::AdminActionNotSupported)),
        }
    }

    /// Suspends or resumes the org with `handle`.
    async fn set_suspended(&self, handle: &str, suspended: bool) -> Result<Response, RelayError> {
        let handle = handle.trim().to_ascii_lowercase();
        let org = self.store.org_by_handle(&handle)?.ok_or(RelayError::UnknownOrg)?;
        self.store.set_org_suspended(&org, suspended)?;
        self.durable().await?;
        tracing::info!(handle, suspended, "org suspension changed by a server admin");
        Ok(Response::OrgSuspended { handle, suspended })
    }

    /// Removes the TOTP secret of the org with `handle`, so that its admin
    /// device can set up a new one with `org_second_factor_enable` (which
    /// needs no code while no secret is set). Connections already elevated
    /// for the org stay so until they close, as after any other change.
    async fn reset_org_factor(&self, handle: &str) -> Result<Response, RelayError> {
        let handle = handle.trim().to_ascii_lowercase();
        let org = self.store.org_by_handle(&handle)?.ok_or(RelayError::UnknownOrg)?;
        let owner = FactorOwner::Org(org);
        let removed = self.store.factor(&owner)?.is_some();
        self.store.remove_factor(&owner)?;
        self.durable().await?;
        tracing::info!(handle, removed, "org second factor reset by a server admin");
        Ok(Response::OrgSecondFactorReset { handle, removed })
    }

    /// Blocks or unblocks every device of `account`.
    async fn set_blocked(
        &self,
        account: &AccountId,
        blocked: bool,
    ) -> Result<Response, RelayError> {
        let devices =
            self.store.set_account_blocked(account, blocked)?.ok_or(RelayError::UnknownAccount)?;
        self.durable().await?;
        // No account id in the log.
        tracing::info!(blocked, devices, "account block changed by a server admin");
        Ok(Response::Blocked { account: *account, blocked, devices })
    }

    async fn create_org(&self, name: &str, handle: &str) -> Result<Response, RelayError> {
        validate_handle(handle).map_err(RelayError::InvalidField)?;
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_ORG_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(RelayError::Refused(RefusalReason::OrgNameInvalid));
        }
        let org = OrgId::random();
        let code = random_code();
        let now = unix_ms();
        let ttl = self.retention().ms(super::RetentionKind::OrgClaimCodes);
        let expires_at = now.saturating_add(ttl);
        let record = OrgRecord {
            handle: handle.to_owned(),
            name: name.to_owned(),
            created_at: now,
            org_key: None,
            admin_device: None,
            profile_version: 0,
            revocation_version: 0,
            suspended: false,
        };
        // Kept one more lifetime after expiry, so that a late attempt is
        // told "code expired" instead of "unknown code".
        let code_record = OrgCodeRecord {
            org,
            expires_at,
            delete_at: expires_at.saturating_add(ttl),
            used: false,
        };
        self.store.create_org(&org, &record, &code_hash(&code), &code_record)?;
        self.durable().await?;
        // Handles are public (they are what citizens type); ids are not logged.
        tracing::info!(handle, "org created");
        Ok(Response::OrgCreated { org, handle: record.handle, code, expires_at })
    }
}

/// The role recorded for server admins.
const ROLE: &str = "server-admin";

/// The audit name of an admin action.
fn action_name(action: &AdminAction) -> &'static str {
    match action {
        AdminAction::CreateOrg { .. } => "admin.org-create",
        AdminAction::ListOrgs => "admin.org-list",
        AdminAction::Stats => "admin.stats",
        AdminAction::Block { .. } => "admin.block",
        AdminAction::Unblock { .. } => "admin.unblock",
        AdminAction::SuspendOrg { .. } => "admin.org-suspend",
        AdminAction::ResumeOrg { .. } => "admin.org-resume",
        AdminAction::RetentionShow => "admin.retention-show",
        AdminAction::RetentionSet { .. } => "admin.retention-set",
        AdminAction::Audit { .. } => "admin.audit",
        AdminAction::BackupStart { .. } => "admin.backup-start",
        AdminAction::BackupChunk { .. } => "admin.backup-chunk",
        AdminAction::BackupFinish { .. } => "admin.backup-finish",
        AdminAction::ResetOrgSecondFactor { .. } => "admin.org-2fa-reset",
        _ => "admin.other",
    }
}

impl Relay {
    /// The audit target of an admin action: org handles in clear, accounts
    /// as (keyed) pseudonyms, retention kinds with their new value.
    fn action_target(&self, action: &AdminAction) -> Option<String> {
        match action {
            AdminAction::CreateOrg { handle, .. }
            | AdminAction::SuspendOrg { handle }
            | AdminAction::ResumeOrg { handle }
            | AdminAction::ResetOrgSecondFactor { handle } => Some(handle.clone()),
            AdminAction::Block { account } | AdminAction::Unblock { account } => {
                Some(self.account_pseudonym(account))
            }
            AdminAction::RetentionSet { kind, secs } => Some(format!("{kind}={secs}s")),
            _ => None,
        }
    }
}
