//! Staff devices: which devices an org has certified, and this device's own
//! enrolment as staff.
//!
//! [`staff_records`] is the pure certificate filter every client runs on an
//! org directory: a certificate counts only if it chains to the pinned org
//! key (org key → invitation → device binding, see
//! [`StaffCertificate::verify`]). Whether it is *currently* usable is kept
//! apart (expired, revoked), because the two cases are handled differently:
//! a member whose certificate once chained to the org key but has since
//! expired or been revoked is removed from threads quietly, while a member
//! with no chaining certificate at all is a forgery and makes the client
//! refuse to send (see [`crate::threads::plan_membership`]).
//!
//! [`Client::enroll`] redeems an invitation code on a staff member's device.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::org::{
    DeviceBinding, ORG_VERSION, Role, Signed, SignedKind, StaffCertificate,
};
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, OrgId, Request, Response};

use crate::codes::StaffInvitation;
use crate::error::ClientError;
use crate::session::{Client, now_ms, unexpected};

/// A staff device as certified by an org, with its current standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    /// The staff member's account.
    pub account: AccountId,
    /// The certified device.
    pub device: DeviceId,
    /// The device's identity (and MLS signature) key.
    pub identity_key: IdentityKey,
    /// Its role.
    pub role: Role,
    /// Its department.
    pub department: String,
    /// When the certificate expires (Unix ms).
    pub expires_at: u64,
    /// On the org's verified revocation list.
    pub revoked: bool,
    /// Past `expires_at`.
    pub expired: bool,
}

impl StaffRecord {
    /// Whether the device may take part in threads now.
    pub fn is_valid(&self) -> bool {
        !self.revoked && !self.expired
    }

    /// Whether this record certifies exactly this MLS member.
    pub fn certifies(&self, account: &AccountId, device: &DeviceId, key: &IdentityKey) -> bool {
        self.account == *account && self.device == *device && self.identity_key == *key
    }
}

/// Every certificate that chains to `org_key`, one record per device (the
/// most useful one when a device was certified twice: valid before invalid,
/// then the later expiry). Certificates that do not chain are dropped.
pub fn staff_records(
    certificates: &[StaffCertificate],
    org: &OrgId,
    org_key: &IdentityKey,
    revoked: &[DeviceId],
    now: u64,
) -> Vec<StaffRecord> {
    let mut out: Vec<StaffRecord> = Vec::new();
    for certificate in certificates {
        // Verifying "at time 0" checks the chain (signatures, ids, binding
        // made before the invitation expired) without the expiry, which is
        // judged below so that an expired device can still be recognised.
        let Ok(staff) = certificate.verify(org, org_key, 0) else {
            tracing::debug!("skipping a staff certificate that does not chain to the org key");
            continue;
        };
        let record = StaffRecord {
            revoked: revoked.contains(&staff.device),
            expired: now >= staff.expires_at,
            account: staff.account,
            device: staff.device,
            identity_key: staff.identity_key,
            role: staff.role,
            department: staff.department,
            expires_at: staff.expires_at,
        };
        match out.iter_mut().find(|r| r.device == record.device) {
            Some(existing) => {
                let better = (record.is_valid(), record.expires_at)
                    > (existing.is_valid(), existing.expires_at);
                if better {
                    *existing = record;
                }
            }
            None => out.push(record),
        }
    }
    out.sort_by(|a, b| (&a.department, a.device).cmp(&(&b.department, b.device)));
    out
}

/// This device's enrolment as staff of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// Its name (from the profile at enrolment).
    pub org_name: String,
    /// The role granted.
    pub role: Role,
    /// The department.
    pub department: String,
    /// When the certificate expires (Unix ms).
    pub expires_at: u64,
    /// When this device enrolled (Unix ms).
    pub enrolled_at: u64,
}

impl Client {
    /// Redeems a staff invitation code for this device: signs a device
    /// binding with the code's one-time invite key, sends it, then fetches
    /// the org's directory, pins its key and checks that the published
    /// certificate really names this device. Connects if needed.
    pub async fn enroll(&mut self, code_text: &str) -> Result<Enrolment, ClientError> {
        let StaffInvitation { org, code } = StaffInvitation::parse(code_text)?;
        let invite_key = code.invite_key();
        if !self.is_connected() {
            self.connect_and_catch_up().await?;
        }
        let binding = DeviceBinding {
            v: ORG_VERSION,
            org,
            invite_id: ByteBuf::from(code.id.to_vec()),
            account: self.state.account,
            device: self.state.device,
            identity_key: self.secret.identity_key(),
            bound_at: now_ms(),
        };
        let request = Request::Enroll {
            invite_id: ByteBuf::from(code.id.to_vec()),
            binding: Signed::sign(SignedKind::Binding, &binding, &invite_key),
        };
        let handle = match self.conn_mut()?.call(request).await? {
            Ok(Response::Enrolled { handle, .. }) => handle,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::InvalidCode => {
                return Err(ClientError::CodeRefused {
                    what: "invitation code",
                    detail: body.message,
                });
            }
            Err(body) => return Err(ClientError::Server(body)),
        };
        let verified = self.fetch_org(&handle).await?;
        let own = self.secret.identity_key();
        let mine = verified
            .staff
            .iter()
            .find(|r| r.certifies(&self.state.account, &self.state.device, &own))
            .ok_or_else(|| ClientError::InvalidOrgData {
                handle: handle.clone(),
                reason: "the org directory does not hold a valid certificate for this device"
                    .into(),
            })?;
        let enrolment = Enrolment {
            org: verified.org,
            handle: handle.clone(),
            org_name: verified.name().to_string(),
            role: mine.role,
            department: mine.department.clone(),
            expires_at: mine.expires_at,
            enrolled_at: now_ms(),
        };
        self.state.enrolments.retain(|e| e.org != enrolment.org);
        self.state.enrolments.push(enrolment.clone());
        self.save()?;
        Ok(enrolment)
    }

    /// This device's enrolment at `org`, if any (and not expired).
    pub fn enrolment_at(&self, org: &OrgId) -> Option<&Enrolment> {
        self.state.enrolments.iter().find(|e| e.org == *org && e.expires_at > now_ms())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::org::testing::{CertTimes, Holder, staff_certificate};

    /// Issues a certificate for (account, device, key) in `department`.
    pub(crate) fn certificate(
        org: OrgId,
        org_key: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        key: IdentityKey,
        department: &str,
        cert_expires_at: u64,
    ) -> StaffCertificate {
        let holder = Holder { account, device, identity_key: key };
        let times =
            CertTimes { issued_at: 0, invite_expires_at: 1_000, cert_expires_at, bound_at: 500 };
        staff_certificate(org, org_key, holder, Role::Clerk, department, times)
    }

    #[test]
    fn only_chaining_certificates_count_and_standing_is_judged_separately() {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let key = |n: u8| IdentityKey([n; 32]);
        let valid = certificate(
            org,
            &org_key,
            AccountId([1; 16]),
            DeviceId([1; 16]),
            key(1),
            "bauhof",
            10_000,
        );
        let expired = certificate(
            org,
            &org_key,
            AccountId([2; 16]),
            DeviceId([2; 16]),
            key(2),
            "bauhof",
            2_000,
        );
        let revoked = certificate(
            org,
            &org_key,
            AccountId([3; 16]),
            DeviceId([3; 16]),
            key(3),
            "bauhof",
            10_000,
        );
        let forged = certificate(
            org,
            &DeviceSecret::generate(),
            AccountId([4; 16]),
            DeviceId([4; 16]),
            key(4),
            "bauhof",
            10_000,
        );
        let other_org = certificate(
            OrgId([9; 16]),
            &org_key,
            AccountId([5; 16]),
            DeviceId([5; 16]),
            key(5),
            "bauhof",
            10_000,
        );
        let records = staff_records(
            &[valid, expired, revoked, forged, other_org],
            &org,
            &org_key.identity_key(),
            &[DeviceId([3; 16])],
            5_000,
        );
        let devices: Vec<_> = records.iter().map(|r| r.device).collect();
        assert_eq!(devices, [DeviceId([1; 16]), DeviceId([2; 16]), DeviceId([3; 16])]);
        assert!(records[0].is_valid());
        assert!(records[1].expired && !records[1].revoked && !records[1].is_valid());
        assert!(records[2].revoked && !records[2].expired && !records[2].is_valid());
        assert!(records[0].certifies(&AccountId([1; 16]), &DeviceId([1; 16]), &key(1)));
        assert!(!records[0].certifies(&AccountId([1; 16]), &DeviceId([1; 16]), &key(9)));
    }

    #[test]
    fn a_re_enrolled_device_keeps_its_best_certificate() {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let (account, device, key) = (AccountId([1; 16]), DeviceId([1; 16]), IdentityKey([1; 32]));
        let old = certificate(org, &org_key, account, device, key, "bauhof", 2_000);
        let new = certificate(org, &org_key, account, device, key, "ordnungsamt", 9_000);
        let records = staff_records(&[new, old], &org, &org_key.identity_key(), &[], 5_000);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].department, "ordnungsamt");
        assert!(records[0].is_valid());
    }
}
