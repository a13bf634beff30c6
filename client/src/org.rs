//! Running an org from this device: server-admin bootstrap, claiming an
//! org, the org key, the signed profile, staff invitations and revocation.
//!
//! The org key is created on the org admin's device by `stadtbote org
//! claim` and kept in the device's [`KeyFiles`](crate::key_files::KeyFiles)
//! (the CLI: `<home>/org/<handle>.key`, 0600), never anywhere else
//! unencrypted; `org export-key` / `org import-key` move it sealed under a
//! passphrase (the CLI's client-cli/src/passphrase.rs). Bookkeeping (the last
//! published profile and revocation list) lives in the state as
//! [`AdminOrg`].
//!
//! Every change to the profile or the revocation list starts from the newer
//! of the local copy and the server's (verified) copy, increases the version
//! by one, is signed with the org key and published. Nothing is recorded
//! locally until the server accepted it.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::audit::{AuditHead, AuditRecord};
use stadtbote_protocol::auth::{DeviceSecret, IdentityKey};
use stadtbote_protocol::frame::{AdminAction, OrgSummary, RetentionPeriod, ServerStats};
use stadtbote_protocol::org::{
    InviteCert, InviteCode, ORG_VERSION, OrgProfile, RevocationList, Role, Signed, SignedKind,
    StaffList, org_claim_message,
};
use stadtbote_protocol::totp::Secret;
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, OrgId, Request, Response};
use zeroize::Zeroizing;

use crate::codes::{OrgAdminCode, StaffInvitation};
use crate::error::{ClientError, Refusal};
use crate::invalid_input::InvalidReason as R;
use crate::pinning::OrgPin;
use crate::session::{Client, unexpected};
use crate::staff::{PendingEnrolment, StaffRecord};

/// Directory below the home that holds org keys.
pub const ORG_DIR: &str = "org";
/// Days a staff certificate is valid.
pub const CERT_VALIDITY_DAYS: u64 = 365;
/// Default hours an invitation can be redeemed.
pub const DEFAULT_INVITE_HOURS: u64 = 72;
/// Department that answers consultations unless the org says otherwise;
/// created with the org (the first profile names it, and the claiming
/// device is certified as its first staff device).
pub const DEFAULT_CONSULT_DEPARTMENT: &str = "buergermeister";
/// Version of the key file format.
const KEY_FILE_VERSION: u16 = 1;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// An org this device administers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOrg {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// Its name.
    pub name: String,
    /// The org key's public half (the secret is in `org/<handle>.key`).
    pub key: IdentityKey,
    /// The last profile published from here.
    pub profile: Option<OrgProfile>,
    /// The last revocation list published from here.
    pub revocations: Option<RevocationList>,
    /// The last staff list published from here.
    #[serde(default)]
    pub staff_list: Option<StaffList>,
    /// Invitations this device approved a device for: each approves one.
    #[serde(default)]
    pub approved_invites: Vec<ByteBuf>,
    /// Whether the org's admin actions need a second factor (learnt from
    /// `org 2fa enable` or a refusal); automatic approvals then wait for a
    /// command run with `--otp`.
    #[serde(default)]
    pub second_factor: bool,
}

/// `org/<handle>.key`, and the content of an export file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    v: u16,
    org: OrgId,
    handle: String,
    name: String,
    secret: ByteBuf,
    /// Only in export files: the bookkeeping, so that the importing device
    /// continues the version numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<OrgProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revocations: Option<RevocationList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    staff_list: Option<StaffList>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    approved_invites: Vec<ByteBuf>,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.as_mut_slice().zeroize();
    }
}

/// What `admin org create` returns.
#[derive(Clone)]
pub struct CreatedOrg {
    /// The new org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// The org-admin code to hand on (includes the org id, see [`crate::codes`]).
    pub code: String,
    /// When the code expires (Unix ms).
    pub expires_at: u64,
}

/// What `org invite-staff` returns.
#[derive(Clone)]
pub struct Invitation {
    /// The code to hand to the staff member.
    pub code: String,
    /// When it expires (Unix ms).
    pub expires_at: u64,
    /// When the certificate will expire (Unix ms).
    pub cert_expires_at: u64,
}

// The codes are secrets until redeemed: never in Debug output.
impl std::fmt::Debug for CreatedOrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedOrg")
            .field("org", &self.org)
            .field("handle", &self.handle)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("expires_at", &self.expires_at)
            .field("cert_expires_at", &self.cert_expires_at)
            .finish_non_exhaustive()
    }
}

/// What `org revoke` did.
#[derive(Debug, Default)]
pub struct Revoked {
    /// The new revocation list's version.
    pub version: u64,
    /// Whether the device held a certificate of the org.
    pub was_staff: bool,
    /// Threads of this device it was removed from.
    pub removed_from: Vec<stadtbote_protocol::GroupId>,
    /// Threads it could not be removed from now, with why.
    pub failed: Vec<(stadtbote_protocol::GroupId, ClientError)>,
}

pub(crate) fn key_file_name(handle: &str) -> String {
    format!("{ORG_DIR}/{handle}.key")
}

pub(crate) fn server_error(body: stadtbote_protocol::ErrorBody) -> ClientError {
    match body.code {
        ErrorCode::Forbidden => ClientError::Forbidden(Refusal(body)),
        ErrorCode::SecondFactorRequired => ClientError::SecondFactorRequired(Refusal(body)),
        ErrorCode::OrgSuspended => ClientError::OrgSuspended,
        _ => ClientError::server(body),
    }
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    // ---------------------------------------------------------------- admin

    /// Makes this device a server admin with the code from
    /// `<data-dir>/admin-claim.code`, registering `secret` as the admin's
    /// TOTP secret. The secret is not stored on this device: it belongs in
    /// the admin's authenticator app.
    pub async fn admin_claim(&mut self, code: &str, secret: &Secret) -> Result<(), ClientError> {
        let request = Request::AdminClaim {
            code: code.trim().to_string(),
            totp_secret: Some(secret.as_bytes().to_vec().into()),
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::AdminClaimed) => {
                self.state.server_admin = true;
                self.save().await
            }
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::InvalidCode => {
                Err(ClientError::CodeRefused { what: "admin claim code", detail: Refusal(body) })
            }
            Err(body) => Err(server_error(body)),
        }
    }

    /// Runs a server-admin action, with the typed errors every admin
    /// command shares (not an admin, second factor missing, ...).
    pub async fn admin_action(
        &mut self,
        action: AdminAction,
        otp: Option<String>,
    ) -> Result<Response, ClientError> {
        match self.conn_mut()?.call(Request::Admin { otp, action }).await? {
            Ok(response) => Ok(response),
            Err(body) if body.code == ErrorCode::Forbidden => Err(ClientError::NotServerAdmin),
            Err(body) if body.code == ErrorCode::SecondFactorRequired => {
                Err(ClientError::SecondFactorRequired(Refusal(body)))
            }
            Err(body) if body.code == ErrorCode::HandleTaken => {
                Err(ClientError::HandleTaken(body.message))
            }
            Err(body) => Err(server_error(body)),
        }
    }

    /// Creates an org (server admins only); returns the org-admin code.
    pub async fn create_org(
        &mut self,
        name: &str,
        handle: &str,
        otp: Option<String>,
    ) -> Result<CreatedOrg, ClientError> {
        stadtbote_protocol::org::validate_handle(handle)
            .map_err(|e| ClientError::Invalid { what: "handle", reason: R::Format(e) })?;
        let action = AdminAction::CreateOrg { name: name.to_string(), handle: handle.to_string() };
        match self.admin_action(action, otp).await {
            Ok(Response::OrgCreated { org, handle, code, expires_at }) => {
                let code = OrgAdminCode { org, server_code: code }.to_text();
                Ok(CreatedOrg { org, handle, code, expires_at })
            }
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(ClientError::HandleTaken(_)) => Err(ClientError::HandleTaken(handle.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Lists the server's orgs (server admins only).
    pub async fn list_orgs(&mut self, otp: Option<String>) -> Result<Vec<OrgSummary>, ClientError> {
        match self.admin_action(AdminAction::ListOrgs, otp).await? {
            Response::Orgs { orgs } => Ok(orgs),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Server-wide aggregate counts (server admins only).
    pub async fn admin_stats(&mut self, otp: Option<String>) -> Result<ServerStats, ClientError> {
        match self.admin_action(AdminAction::Stats, otp).await? {
            Response::Stats { stats } => Ok(stats),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Blocks (or unblocks) every device of `account` (server admins only).
    /// Returns the number of devices.
    pub async fn admin_set_blocked(
        &mut self,
        account: AccountId,
        blocked: bool,
        otp: Option<String>,
    ) -> Result<u32, ClientError> {
        let action =
            if blocked { AdminAction::Block { account } } else { AdminAction::Unblock { account } };
        match self.admin_action(action, otp).await? {
            Response::Blocked { devices, .. } => Ok(devices),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Makes the next [`Client::connect_and_catch_up`] present `otp` right
    /// after logging in (see [`Client::second_factor`]).
    pub fn set_second_factor_code(&mut self, otp: String) {
        self.second_factor_code = Some(otp);
    }

    /// Presents a TOTP code: the connection then counts as having passed
    /// the second factor for this device's admin roles until it closes.
    pub async fn second_factor(&mut self, otp: &str) -> Result<(), ClientError> {
        let request = Request::SecondFactor { otp: otp.trim().to_string() };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::SecondFactorAccepted) => {
                self.elevated = true;
                Ok(())
            }
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) => Err(server_error(body)),
        }
    }

    /// Suspends or resumes an org (server admins only).
    pub async fn admin_set_suspended(
        &mut self,
        handle: &str,
        suspended: bool,
    ) -> Result<(), ClientError> {
        let handle = handle.to_string();
        let action = if suspended {
            AdminAction::SuspendOrg { handle }
        } else {
            AdminAction::ResumeOrg { handle }
        };
        match self.admin_action(action, None).await? {
            Response::OrgSuspended { .. } => Ok(()),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Turns off the second factor of the org with `handle` (server admins
    /// only), for an org admin who lost the authenticator. Returns whether a
    /// secret was set.
    pub async fn admin_reset_org_second_factor(
        &mut self,
        handle: &str,
    ) -> Result<bool, ClientError> {
        let action = AdminAction::ResetOrgSecondFactor { handle: handle.to_string() };
        match self.admin_action(action, None).await? {
            Response::OrgSecondFactorReset { removed, .. } => Ok(removed),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// The retention periods in force, or after changing one (server admins
    /// only).
    pub async fn admin_retention(
        &mut self,
        change: Option<(String, u64)>,
    ) -> Result<Vec<RetentionPeriod>, ClientError> {
        let action = match change {
            Some((kind, secs)) => AdminAction::RetentionSet { kind, secs },
            None => AdminAction::RetentionShow,
        };
        match self.admin_action(action, None).await? {
            Response::Retention { periods } => Ok(periods),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// One page of the audit log (server admins only): records after
    /// `after`, the head and the anchor.
    pub async fn admin_audit_page(
        &mut self,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<AuditRecord>, Option<AuditHead>, Option<AuditHead>), ClientError> {
        match self.admin_action(AdminAction::Audit { after, limit }, None).await? {
            Response::Audit { records, head, anchor } => Ok((records, head, anchor)),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Turns on the second factor for `org`'s admin actions with `secret`.
    pub async fn org_second_factor_enable(
        &mut self,
        org: OrgId,
        secret: &Secret,
    ) -> Result<(), ClientError> {
        let request =
            Request::OrgSecondFactorEnable { org, secret: secret.as_bytes().to_vec().into() };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::OrgSecondFactorEnabled { .. }) => {
                // Automatic approvals now wait for a connection that
                // passed the second factor (see `crate::approval`).
                for admin in self.state.admin_orgs.values_mut().filter(|a| a.org == org) {
                    admin.second_factor = true;
                }
                self.save().await
            }
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) => Err(server_error(body)),
        }
    }

    // ------------------------------------------------------------ org claim

    /// Redeems an org-admin code: creates the org key here, registers it
    /// with a proof of possession, stores it (0600) and publishes the first
    /// signed profile (consultations go to [`DEFAULT_CONSULT_DEPARTMENT`]).
    /// `stadtbote org claim` then certifies this device as staff with
    /// [`Client::enrol_admin_device`].
    pub async fn claim_org(&mut self, code_text: &str) -> Result<AdminOrg, ClientError> {
        let code = OrgAdminCode::parse(code_text)?;
        let org_key = DeviceSecret::generate();
        // On disk before the server knows the key: a crash after the server
        // registered it must not lose the only copy.
        let pending = format!("{ORG_DIR}/pending-{}.key", code.org);
        self.write_key_file(&pending, code.org, "", "", &org_key, None, None)?;
        let proof = org_key.sign(&org_claim_message(&code.org, &self.state.device));
        let request = Request::OrgClaim {
            code: code.server_code.clone(),
            org_key: org_key.identity_key(),
            proof,
        };
        let (org, handle, name) = match self.conn_mut()?.call(request).await? {
            Ok(Response::OrgClaimed { org, handle, name }) => (org, handle, name),
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::InvalidCode => {
                self.key_files.remove(&pending)?;
                return Err(ClientError::CodeRefused {
                    what: "org-admin code",
                    detail: Refusal(body),
                });
            }
            Err(body) => {
                self.key_files.remove(&pending)?;
                return Err(server_error(body));
            }
        };
        if org != code.org {
            return Err(ClientError::InvalidOrgData {
                handle,
                reason: "the server claimed another org than the code names".into(),
            });
        }
        stadtbote_protocol::org::validate_handle(&handle).map_err(|_| {
            ClientError::InvalidOrgData { handle: handle.clone(), reason: "invalid handle".into() }
        })?;
        self.write_key_file(&key_file_name(&handle), org, &handle, &name, &org_key, None, None)?;
        self.key_files.remove(&pending)?;
        let admin = AdminOrg {
            org,
            handle: handle.clone(),
            name: name.clone(),
            key: org_key.identity_key(),
            profile: None,
            revocations: None,
            staff_list: None,
            approved_invites: Vec::new(),
            second_factor: false,
        };
        self.state.admin_orgs.insert(handle.clone(), admin);
        // The admin trusts its own key without asking anyone.
        self.state.pins.insert(
            handle.clone(),
            OrgPin {
                org,
                handle: handle.clone(),
                key: org_key.identity_key(),
                verified: true,
                pinned_at: self.clock.now_ms(),
                conflicting_key: None,
                directory: None,
            },
        );
        self.save().await?;
        let mut profile = OrgProfile::new(org, handle.clone(), name, self.clock.now_ms());
        // The default department exists from the start: consultations go
        // there, and the claiming device becomes its first staff device
        // ([`Client::enrol_admin_device`]).
        profile.consult_department = Some(DEFAULT_CONSULT_DEPARTMENT.to_string());
        self.publish_profile_version(&handle, profile).await?;
        self.admin_org(Some(&handle)).cloned()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_key_file(
        &self,
        name: &str,
        org: OrgId,
        handle: &str,
        org_name: &str,
        key: &DeviceSecret,
        profile: Option<OrgProfile>,
        revocations: Option<RevocationList>,
    ) -> Result<(), ClientError> {
        let file = KeyFile {
            v: KEY_FILE_VERSION,
            org,
            handle: handle.to_string(),
            name: org_name.to_string(),
            secret: ByteBuf::from(key.to_bytes().to_vec()),
            profile,
            revocations,
            staff_list: None,
            approved_invites: Vec::new(),
        };
        let bytes = Zeroizing::new(stadtbote_protocol::frame::encode(&file));
        self.key_files.write(name, &bytes)
    }

    /// The org key of an org this device administers.
    pub(crate) fn org_secret(&self, admin: &AdminOrg) -> Result<DeviceSecret, ClientError> {
        let name = key_file_name(&admin.handle);
        let bytes = self.key_files.read(&name)?;
        let corrupt = |reason: &str| self.key_files.corrupt(&name, reason);
        let file: KeyFile =
            ciborium::from_reader(bytes.as_slice()).map_err(|_| corrupt("not a key file"))?;
        let secret = DeviceSecret::from_bytes(&file.secret).map_err(|_| corrupt("bad key"))?;
        if file.org != admin.org || secret.identity_key() != admin.key {
            return Err(corrupt("it holds the key of another org"));
        }
        Ok(secret)
    }

    /// The org `handle` names, or the only org this device administers.
    pub fn admin_org(&self, handle: Option<&str>) -> Result<&AdminOrg, ClientError> {
        match handle {
            Some(handle) => self
                .state
                .admin_orgs
                .get(handle)
                .ok_or_else(|| ClientError::NotAdminOf(handle.to_string())),
            None => {
                let mut orgs = self.state.admin_orgs.values();
                match (orgs.next(), orgs.next()) {
                    (None, _) => Err(ClientError::NotOrgAdmin),
                    (Some(org), None) => Ok(org),
                    (Some(_), Some(_)) => Err(ClientError::SeveralOrgs(
                        self.state.admin_orgs.keys().cloned().collect::<Vec<_>>().join(", "),
                    )),
                }
            }
        }
    }

    // -------------------------------------------------------------- profile

    /// Changes the profile with `change` and publishes it as the next
    /// version. Needs a connection.
    pub async fn update_profile(
        &mut self,
        handle: &str,
        change: impl FnOnce(&mut OrgProfile) -> Result<(), ClientError>,
    ) -> Result<OrgProfile, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let server = self.fetch_org(handle).await.ok().and_then(|o| o.profile);
        let local = admin.profile.clone();
        let mut profile = match (local, server) {
            (Some(l), Some(s)) => {
                if s.version > l.version {
                    s
                } else {
                    l
                }
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => OrgProfile::new(admin.org, admin.handle.clone(), admin.name.clone(), 0),
        };
        change(&mut profile)?;
        profile.version += 1;
        profile.updated_at = self.clock.now_ms();
        self.publish_profile_version(handle, profile).await
    }

    async fn publish_profile_version(
        &mut self,
        handle: &str,
        profile: OrgProfile,
    ) -> Result<OrgProfile, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let secret = self.org_secret(&admin)?;
        let signed = Signed::sign(SignedKind::Profile, &profile, &secret);
        let request = Request::OrgPublish { org: admin.org, profile: signed };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Published { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(server_error(body)),
        }
        if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
            entry.profile = Some(profile.clone());
        }
        self.save().await?;
        Ok(profile)
    }

    // ---------------------------------------------------------------- staff

    /// Creates a one-time staff invitation for `department` with `role`.
    pub async fn invite_staff(
        &mut self,
        handle: &str,
        department: &str,
        role: Role,
        valid_hours: u64,
    ) -> Result<Invitation, ClientError> {
        stadtbote_protocol::org::validate_department(department)
            .map_err(|e| ClientError::Invalid { what: "department", reason: R::Format(e) })?;
        if valid_hours == 0 {
            return Err(ClientError::Invalid { what: "--expires-hours", reason: R::AtLeastOne });
        }
        let admin = self.admin_org(Some(handle))?.clone();
        let secret = self.org_secret(&admin)?;
        let code = InviteCode::generate();
        let now = self.clock.now_ms();
        let invite = InviteCert {
            v: ORG_VERSION,
            org: admin.org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            invite_key: code.invite_key().identity_key(),
            role,
            department: department.to_string(),
            issued_at: now,
            invite_expires_at: now.saturating_add(valid_hours.saturating_mul(60 * 60 * 1000)),
            cert_expires_at: now.saturating_add(CERT_VALIDITY_DAYS * DAY_MS),
        };
        let request = Request::OrgCreateInvite {
            org: admin.org,
            invite: Signed::sign(SignedKind::Invite, &invite, &secret),
        };
        let expires_at = match self.conn_mut()?.call(request).await? {
            Ok(Response::InviteStored { expires_at }) => expires_at,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(server_error(body)),
        };
        Ok(Invitation {
            code: StaffInvitation { org: admin.org, code }.to_text(),
            expires_at,
            cert_expires_at: invite.cert_expires_at,
        })
    }

    /// The org's certified staff devices, verified against the org key
    /// (revoked and expired ones included, as far as this device has seen
    /// their certificates), and the revoked devices whose certificates it
    /// has never seen.
    pub async fn org_staff(
        &mut self,
        handle: &str,
    ) -> Result<(Vec<StaffRecord>, Vec<DeviceId>), ClientError> {
        let (staff, unknown, _) = self.org_staff_and_pending(handle).await?;
        Ok((staff, unknown))
    }

    /// [`Client::org_staff`], plus the enrolments waiting for the org
    /// key's approval.
    pub async fn org_staff_and_pending(
        &mut self,
        handle: &str,
    ) -> Result<(Vec<StaffRecord>, Vec<DeviceId>, Vec<PendingEnrolment>), ClientError> {
        self.admin_org(Some(handle))?;
        let org = self.fetch_org(handle).await?;
        let revoked = org
            .revocations
            .iter()
            .flat_map(|l| l.revoked.iter())
            .chain(org.staff_list.iter().flat_map(|l| l.revoked.iter()));
        let mut unknown: Vec<DeviceId> = Vec::new();
        for device in revoked {
            if org.staff_device(device).is_none() && !unknown.contains(device) {
                unknown.push(*device);
            }
        }
        Ok((org.staff, unknown, org.pending))
    }

    /// Revokes a staff device: signs and publishes the next revocation list,
    /// then removes the device from every thread this device is in.
    pub async fn revoke_device(
        &mut self,
        handle: &str,
        device: DeviceId,
    ) -> Result<Revoked, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let secret = self.org_secret(&admin)?;
        let directory = self.fetch_org(handle).await?;
        let was_staff = directory.staff_device(&device).is_some();
        let base = match (admin.revocations.clone(), directory.revocations.clone()) {
            (Some(l), Some(s)) => {
                if s.version > l.version {
                    s
                } else {
                    l
                }
            }
            (Some(l), None) | (None, Some(l)) => l,
            (None, None) => RevocationList {
                v: ORG_VERSION,
                org: admin.org,
                version: 0,
                revoked: Vec::new(),
                updated_at: 0,
            },
        };
        let mut list = base;
        if !list.revoked.contains(&device) {
            list.revoked.push(device);
        }
        list.version += 1;
        list.updated_at = self.clock.now_ms();
        let request = Request::OrgRevoke {
            org: admin.org,
            revocations: Signed::sign(SignedKind::Revocations, &list, &secret),
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Published { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(server_error(body)),
        }
        let version = list.version;
        if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
            entry.revocations = Some(list);
        }
        self.save().await?;
        // The signed staff list, which clients pin and never let go
        // backwards, says the same: off the list, on its revocations.
        let mut staff_list = self.next_staff_list_base(handle, directory.staff_list.clone())?;
        staff_list.staff.retain(|e| e.device != device);
        if !staff_list.revoked.contains(&device) {
            staff_list.revoked.push(device);
        }
        self.publish_staff_list(handle, staff_list, Vec::new()).await?;
        // Refresh the pin's cache so the membership rule sees the new list.
        self.fetch_org(handle).await?;
        let mut revoked = Revoked { version, was_staff, ..Revoked::default() };
        let threads: Vec<_> = self
            .state
            .threads
            .values()
            .filter(|t| t.org == admin.org && !t.removed)
            .map(|t| t.id)
            .collect();
        for thread in threads {
            let member = self.mls.has_group(&thread)?
                && self.mls.members(&thread)?.iter().any(|m| m.device == device);
            if !member {
                continue;
            }
            match self.enforce_membership(&thread).await {
                Ok(()) => revoked.removed_from.push(thread),
                Err(error) => revoked.failed.push((thread, error)),
            }
        }
        Ok(revoked)
    }

    // ------------------------------------------------------------- the key

    /// The org key's public half, and the org's name.
    pub fn org_key_info(&self, handle: &str) -> Result<(IdentityKey, String), ClientError> {
        let admin = self.admin_org(Some(handle))?;
        // Reading the secret proves the key file is really here.
        let secret = self.org_secret(admin)?;
        let name = admin.profile.as_ref().map_or(admin.name.clone(), |p| p.name.clone());
        Ok((secret.identity_key(), name))
    }

    /// The org key's export: its key file's content (key, org, profile,
    /// revocations, staff list), for the front-end to seal under a
    /// passphrase (the CLI's `org export-key`).
    pub fn export_org_key(&self, handle: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let admin = self.admin_org(Some(handle))?;
        let secret = self.org_secret(admin)?;
        let content = KeyFile {
            v: KEY_FILE_VERSION,
            org: admin.org,
            handle: admin.handle.clone(),
            name: admin.name.clone(),
            secret: ByteBuf::from(secret.to_bytes().to_vec()),
            profile: admin.profile.clone(),
            revocations: admin.revocations.clone(),
            staff_list: admin.staff_list.clone(),
            approved_invites: admin.approved_invites.clone(),
        };
        Ok(Zeroizing::new(stadtbote_protocol::frame::encode(&content)))
    }

    /// Makes this device an admin of the org whose export
    /// ([`Client::export_org_key`], unsealed by the front-end) is
    /// `plaintext`. Returns the org.
    pub async fn import_org_key(&mut self, plaintext: &[u8]) -> Result<AdminOrg, ClientError> {
        let content: KeyFile =
            ciborium::from_reader(plaintext).map_err(|_| ClientError::NotAnExportFile)?;
        let secret =
            DeviceSecret::from_bytes(&content.secret).map_err(|_| ClientError::NotAnExportFile)?;
        stadtbote_protocol::org::validate_handle(&content.handle)
            .map_err(|_| ClientError::NotAnExportFile)?;
        if let Some(existing) = self.state.admin_orgs.get(&content.handle)
            && existing.key != secret.identity_key()
        {
            return Err(ClientError::Invalid {
                what: "org key file",
                reason: R::OtherKeyHeld { handle: content.handle.clone() },
            });
        }
        if let Some(pin) = self.state.pins.get(&content.handle)
            && (pin.key != secret.identity_key() || pin.org != content.org)
        {
            return Err(ClientError::Invalid {
                what: "org key file",
                reason: R::NotPinnedKey { handle: content.handle.clone() },
            });
        }
        self.write_key_file(
            &key_file_name(&content.handle),
            content.org,
            &content.handle,
            &content.name,
            &secret,
            None,
            None,
        )?;
        let admin = AdminOrg {
            org: content.org,
            handle: content.handle.clone(),
            name: content.name.clone(),
            key: secret.identity_key(),
            profile: content.profile.clone(),
            revocations: content.revocations.clone(),
            staff_list: content.staff_list.clone(),
            approved_invites: content.approved_invites.clone(),
            second_factor: false,
        };
        self.state.admin_orgs.insert(admin.handle.clone(), admin.clone());
        let pin = self.state.pins.entry(admin.handle.clone()).or_insert_with(|| OrgPin {
            org: admin.org,
            handle: admin.handle.clone(),
            key: admin.key,
            verified: true,
            pinned_at: self.clock.now_ms(),
            conflicting_key: None,
            directory: None,
        });
        pin.verified = true;
        self.save().await?;
        Ok(admin)
    }
}

/// Validates a category name: 1–64 characters, no control characters.
pub fn validate_category(name: &str) -> Result<(), ClientError> {
    let chars = name.chars().count();
    if chars == 0 || chars > 64 || name.chars().any(char::is_control) || name.trim() != name {
        return Err(ClientError::Invalid { what: "category", reason: R::CategoryFormat });
    }
    Ok(())
}

/// Adds a category to a profile, or moves an existing one (same name,
/// ignoring case) to another department. Returns whether it was new.
pub fn set_category(profile: &mut OrgProfile, name: &str, department: &str) -> bool {
    match profile.categories.iter_mut().find(|c| c.name.eq_ignore_ascii_case(name)) {
        Some(existing) => {
            existing.department = department.to_string();
            false
        }
        None => {
            profile.categories.push(stadtbote_protocol::org::Category {
                name: name.to_string(),
                department: department.to_string(),
            });
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_added_or_moved() {
        let mut profile =
            OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Stadt Goslar".into(), 0);
        assert!(set_category(&mut profile, "Straßenschaden", "bauhof"));
        assert!(!set_category(&mut profile, "straßenschaden", "tiefbau"));
        assert_eq!(profile.categories.len(), 1);
        assert_eq!(profile.department_of("STRASSENSCHADEN"), None);
        assert_eq!(profile.department_of("Straßenschaden"), Some("tiefbau"));
        assert!(validate_category("Straßenschaden").is_ok());
        assert!(validate_category("").is_err());
        assert!(validate_category(" x").is_err());
        assert!(validate_category("a\nb").is_err());
    }
}
