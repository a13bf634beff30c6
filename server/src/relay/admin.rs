//! Server-admin requests: claiming the admin role with the bootstrap code,
//! and the admin actions (creating and listing orgs, aggregate statistics,
//! blocking accounts).

use std::time::Instant;

use stadtbote_protocol::frame::{AdminAction, OrgSummary, Response};
use stadtbote_protocol::org::validate_handle;
use stadtbote_protocol::{AccountId, OrgId};

use super::{Identity, Relay, RelayError, code_hash};
use crate::admin::{random_code, remove_if_exists};
use crate::store::{OrgCodeRecord, OrgRecord, StoreError};
use crate::unix_ms;

/// Longest org display name, in characters.
const MAX_ORG_NAME_CHARS: usize = 100;

impl Relay {
    /// Makes the caller a server admin if `code` is the pending claim code.
    pub(super) async fn admin_claim(
        &self,
        me: &Identity,
        code: &str,
    ) -> Result<Response, RelayError> {
        self.code_limiter.check(&me.device, Instant::now())?;
        match self.store.claim_admin(&code_hash(code), &me.device, unix_ms()) {
            Ok(()) => {}
            // A wrong code and a used one look the same: once used, the
            // code's hash is gone.
            Err(StoreError::Code(_)) => {
                return Err(RelayError::InvalidCode("unknown or already used admin claim code"));
            }
            Err(e) => return Err(e.into()),
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
        action: AdminAction,
    ) -> Result<Response, RelayError> {
        if !self.store.is_admin(&me.device)? {
            return Err(RelayError::Forbidden("only a server admin may do this"));
        }
        self.check_second_factor(me, otp)?;
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
            _ => Err(RelayError::InvalidRequest("admin action not supported by this server")),
        }
    }

    /// Where an admin's second factor is checked. No admin can set one up
    /// yet, so every admin passes; once TOTP exists, an admin who has it
    /// must present a valid `otp` here (and a wrong one is refused with
    /// `forbidden`), before any admin action runs.
    fn check_second_factor(&self, _me: &Identity, _otp: Option<&str>) -> Result<(), RelayError> {
        Ok(())
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
            return Err(RelayError::InvalidRequest(
                "the org name must be 1-100 characters without control characters",
            ));
        }
        let org = OrgId::random();
        let code = random_code();
        let now = unix_ms();
        let ttl = self.limits.org_claim_code_ttl_ms;
        let expires_at = now.saturating_add(ttl);
        let record = OrgRecord {
            handle: handle.to_owned(),
            name: name.to_owned(),
            created_at: now,
            org_key: None,
            admin_device: None,
            profile_version: 0,
            revocation_version: 0,
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
