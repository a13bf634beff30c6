//! The second factor of server and org admins (TOTP, RFC 6238) and the
//! audit log of their actions.
//!
//! A connection becomes *elevated* for a secret's owner (a server admin's
//! device, or an org) by presenting a valid, never-used code, either with
//! `second_factor` or inside an `admin` request; it stays elevated until it
//! closes. Every admin and org-admin action is appended to the audit log,
//! refused ones included. Refusals first pass the per-device code limiter,
//! so a hostile device can neither guess codes quickly nor flood the log.

use std::collections::HashSet;

use stadtbote_protocol::audit::{ACCOUNT_PSEUDONYM_DOMAIN, DEVICE_PSEUDONYM_DOMAIN};
use stadtbote_protocol::frame::Response;
use stadtbote_protocol::totp::{self, MAX_SECRET_LEN, MIN_SECRET_LEN, Secret, TotpError};
use stadtbote_protocol::{AccountId, ErrorCode, OrgId, RefusalReason};

use super::{Identity, Relay, RelayError};
use crate::store::{AuditDraft, FactorOwner};
use crate::unix_ms;

/// The owners a connection has passed the second factor for.
#[derive(Debug, Default)]
pub struct Elevation(HashSet<FactorOwner>);

impl Elevation {
    /// Whether the connection passed the second factor of `owner`.
    pub fn has(&self, owner: &FactorOwner) -> bool {
        self.0.contains(owner)
    }

    fn grant(&mut self, owner: FactorOwner) {
        self.0.insert(owner);
    }
}

/// The `refused:…` outcome recorded for an error.
fn refusal(err: &RelayError) -> String {
    let reason = match err {
        RelayError::Refused(reason) => match reason {
            RefusalReason::SecondFactorWrongCode => "second-factor-wrong",
            RefusalReason::SecondFactorReplayed => "second-factor-replayed",
            RefusalReason::SecondFactorSuperseded => "second-factor-superseded",
            RefusalReason::OrgSuspended => "org-suspended",
            RefusalReason::RateLimited => "rate-limited",
            reason => match super::refusal::wire(*reason).0 {
                ErrorCode::Forbidden => "forbidden",
                ErrorCode::SecondFactorRequired => "second-factor-missing",
                ErrorCode::InvalidRequest => "invalid-request",
                ErrorCode::UnknownOrg => "unknown-org",
                ErrorCode::StorageUnavailable | ErrorCode::Unavailable => "unavailable",
                _ => "error",
            },
        },
        RelayError::OrgSuspended => "org-suspended",
        RelayError::UnknownOrg => "unknown-org",
        RelayError::InvalidRequest(_) | RelayError::InvalidField(_) => "invalid-request",
        RelayError::RateLimited { .. } => "rate-limited",
        RelayError::StorageUnavailable | RelayError::Unavailable => "unavailable",
        _ => "error",
    };
    format!("refused:{reason}")
}

/// The refusal of a code. `Superseded` is a code that was never used,
/// refused because a later one was (an authenticator shows the next code a
/// little early, the server accepts codes a step early or late, and never
/// an older one after a newer one).
fn code_error(err: TotpError) -> RelayError {
    RelayError::Refused(match err {
        TotpError::Replayed => RefusalReason::SecondFactorReplayed,
        TotpError::Superseded => RefusalReason::SecondFactorSuperseded,
        _ => RefusalReason::SecondFactorWrongCode,
    })
}

/// The refusal of an action that needs a second factor, without a code.
const MISSING_CODE: RelayError = RelayError::Refused(RefusalReason::SecondFactorMissing);

impl Relay {
    /// The audit pseudonym of an account, keyed with the store's pepper.
    pub(super) fn account_pseudonym(&self, account: &AccountId) -> String {
        self.store.audit_pseudonym(ACCOUNT_PSEUDONYM_DOMAIN, account.as_bytes())
    }

    /// Appends an entry to the audit log. A failure is logged, not
    /// returned: the action itself has already been decided.
    pub(super) fn audit(
        &self,
        me: &Identity,
        role: &str,
        action: &str,
        target: Option<String>,
        outcome: String,
    ) {
        let draft = AuditDraft {
            at: unix_ms(),
            actor: self.store.audit_pseudonym(DEVICE_PSEUDONYM_DOMAIN, me.device.as_bytes()),
            role: role.to_owned(),
            action: action.to_owned(),
            target,
            outcome,
        };
        if let Err(e) = self.store.audit_append(&draft) {
            tracing::error!(error = %e, action, "could not append to the audit log");
        }
    }

    /// Records the result of an action and makes the entry durable.
    pub(super) async fn audited(
        &self,
        me: &Identity,
        role: &str,
        action: &str,
        target: Option<String>,
        result: Result<Response, RelayError>,
    ) -> Result<Response, RelayError> {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(err) => refusal(err),
        };
        self.audit(me, role, action, target, outcome);
        self.durable().await?;
        result
    }

    /// Refuses an action: charges the device's code limiter (a device over
    /// its limit is answered `rate_limited` and leaves no entry), then
    /// records the refusal.
    pub(super) async fn refuse(
        &self,
        me: &Identity,
        role: &str,
        action: &str,
        target: Option<String>,
        err: RelayError,
    ) -> Result<Response, RelayError> {
        self.check_code_attempt(&me.device)?;
        self.audited(me, role, action, target, Err(err)).await
    }

    /// Checks `code` against `owner`'s secret and marks its step used.
    fn verify_code(&self, owner: &FactorOwner, code: &str) -> Result<(), RelayError> {
        let record = self
            .store
            .factor(owner)?
            .ok_or(RelayError::Refused(RefusalReason::SecondFactorNotSetUp))?;
        let now_secs = unix_ms() / 1000;
        let step =
            totp::verify(&record.secret, code, now_secs, self.totp_skew_steps, record.last_step)
                .map_err(code_error)?;
        // The compare-and-swap makes the step single-use even when two
        // connections present the same code at once.
        if !self.store.use_factor_step(owner, step)? {
            // Another connection used this step or a later one meanwhile.
            let last = self.store.factor(owner)?.and_then(|record| record.last_step);
            let err = match last {
                Some(last) if last > step => TotpError::Superseded,
                _ => TotpError::Replayed,
            };
            return Err(code_error(err));
        }
        Ok(())
    }

    /// Makes sure the connection is elevated for `owner`, using `otp` if it
    /// is not yet.
    pub(super) fn require_factor(
        &self,
        owner: FactorOwner,
        otp: Option<&str>,
        elevation: &mut Elevation,
    ) -> Result<(), RelayError> {
        if elevation.has(&owner) {
            return Ok(());
        }
        let code = otp.ok_or(MISSING_CODE)?;
        self.verify_code(&owner, code)?;
        elevation.grant(owner);
        Ok(())
    }

    /// `second_factor`: elevates the connection for every owner whose
    /// secret the code matches: this device as server admin, and the orgs
    /// whose admin device it is.
    pub(super) async fn second_factor(
        &self,
        me: &Identity,
        otp: &str,
        elevation: &mut Elevation,
    ) -> Result<Response, RelayError> {
        let mut owners = Vec::new();
        if self.store.is_admin(&me.device)? {
            owners.push(FactorOwner::Admin(me.device));
        }
        for (org, record) in self.store.orgs()? {
            if record.admin_device == Some(me.device) {
                owners.push(FactorOwner::Org(org));
            }
        }
        let mut last_err = RelayError::Refused(RefusalReason::NoAdminRole);
        let mut accepted = false;
        for owner in owners {
            if self.store.factor(&owner)?.is_none() {
                continue;
            }
            match self.verify_code(&owner, otp) {
                Ok(()) => {
                    elevation.grant(owner);
                    accepted = true;
                }
                Err(err) => last_err = err,
            }
        }
        if accepted {
            self.audited(me, "admin", "second-factor", None, Ok(Response::SecondFactorAccepted))
                .await
        } else {
            self.refuse(me, "admin", "second-factor", None, last_err).await
        }
    }

    /// Checks and stores a client-chosen secret for `owner`.
    pub(super) fn store_secret(
        &self,
        owner: &FactorOwner,
        secret: &[u8],
    ) -> Result<(), RelayError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) {
            return Err(RelayError::InvalidRequest("the TOTP secret must be 16 to 64 bytes"));
        }
        self.store.set_factor(owner, &Secret::from_bytes(secret))?;
        Ok(())
    }

    /// `org_second_factor_enable`: the org's admin device sets the org's
    /// TOTP secret. Replacing an existing one needs an elevated connection.
    pub(super) async fn org_second_factor_enable(
        &self,
        me: &Identity,
        org: &OrgId,
        secret: &[u8],
        elevation: &mut Elevation,
    ) -> Result<Response, RelayError> {
        let record = self.store.org(org)?.ok_or(RelayError::UnknownOrg)?;
        let role = format!("org-admin:{}", record.handle);
        let target = Some(record.handle.clone());
        const ACTION: &str = "org.2fa-enable";
        if record.admin_device != Some(me.device) {
            let err = RelayError::Refused(RefusalReason::OrgAdminDeviceOnly);
            return self.refuse(me, "none", ACTION, target, err).await;
        }
        if record.suspended {
            return self.refuse(me, &role, ACTION, target, RelayError::OrgSuspended).await;
        }
        let owner = FactorOwner::Org(*org);
        if self.store.factor(&owner)?.is_some() && !elevation.has(&owner) {
            let err = MISSING_CODE;
            return self.refuse(me, &role, ACTION, target, err).await;
        }
        let result = self
            .store_secret(&owner, secret)
            .map(|()| Response::OrgSecondFactorEnabled { org: *org });
        if result.is_ok() {
            // The device that set the secret has just proven it holds it.
            elevation.grant(owner);
        }
        self.audited(me, &role, ACTION, target, result).await
    }

    /// Runs an org-admin action after the suspension and second-factor
    /// checks, and records it. `run` does the action's own checks (the org
    /// key's signature).
    pub(super) async fn org_admin_action(
        &self,
        me: &Identity,
        org: &OrgId,
        action: &str,
        elevation: &Elevation,
        run: impl Future<Output = Result<Response, RelayError>>,
    ) -> Result<Response, RelayError> {
        let Some(record) = self.store.org(org)? else {
            return Err(RelayError::UnknownOrg);
        };
        let role = format!("org-admin:{}", record.handle);
        let target = Some(record.handle.clone());
        if record.suspended {
            return self.refuse(me, &role, action, target, RelayError::OrgSuspended).await;
        }
        let owner = FactorOwner::Org(*org);
        if self.store.factor(&owner)?.is_some() && !elevation.has(&owner) {
            let err = MISSING_CODE;
            return self.refuse(me, &role, action, target, err).await;
        }
        let result = run.await;
        if let Err(err) = &result
            && !matches!(err, RelayError::StorageUnavailable | RelayError::Unavailable)
        {
            // Refusals of the action itself count against the limiter too.
            self.check_code_attempt(&me.device)?;
        }
        self.audited(me, &role, action, target, result).await
    }
}
