//! Staff devices: which devices an org has certified, and this device's own
//! enrolment as staff.
//!
//! [`staff_records`] is the pure certificate filter every client runs on an
//! org directory: a certificate counts only if it chains to the pinned org
//! key (org key → invitation → device binding) AND carries the org key's
//! approval of exactly that binding (see [`StaffCertificate::verify`]).
//! Whether it is *currently* usable is kept apart (expired, revoked, not on
//! the org's newest signed staff list), because the two cases are handled
//! differently: a member whose certificate once chained to the org key but
//! has since expired or been revoked is removed from threads quietly, while
//! a member with no chaining, approved certificate at all is a forgery and
//! makes the client refuse to send (see [`crate::threads::plan_membership`]).
//! Enrolments that chain but are not approved yet are returned apart as
//! [`PendingEnrolment`]s: the org admin's device approves them
//! ([`crate::approval`]); nobody encrypts to them.
//!
//! [`Client::enroll`] redeems an invitation code on a staff member's device.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::org::{
    DeviceBinding, ORG_VERSION, Role, Signed, SignedKind, StaffCertificate, StaffList,
};
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, OrgId, Request, Response};

use crate::codes::StaffInvitation;
use crate::error::ClientError;
use crate::session::{Client, unexpected};

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
    /// On the org's verified revocation list or staff list's revocations.
    pub revoked: bool,
    /// Past `expires_at`.
    pub expired: bool,
    /// Not on the org's newest verified staff list (or the org has none).
    pub unlisted: bool,
    /// The invitation it redeemed.
    pub invite_id: ByteBuf,
}

impl StaffRecord {
    /// Whether the device may take part in threads now.
    pub fn is_valid(&self) -> bool {
        !self.revoked && !self.expired && !self.unlisted
    }

    /// Whether this record certifies exactly this MLS member.
    pub fn certifies(&self, account: &AccountId, device: &DeviceId, key: &IdentityKey) -> bool {
        self.account == *account && self.device == *device && self.identity_key == *key
    }
}

/// An enrolment that chains to the org key but that the org key has not
/// approved: shown to the org admin, never encrypted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEnrolment {
    /// The staff member's account.
    pub account: AccountId,
    /// The enrolled device.
    pub device: DeviceId,
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// The role the invitation grants.
    pub role: Role,
    /// The department.
    pub department: String,
    /// When the certificate would expire (Unix ms).
    pub expires_at: u64,
    /// The invitation redeemed.
    pub invite_id: ByteBuf,
    /// The enrolment (invitation + binding) to approve.
    pub certificate: StaffCertificate,
}

/// What [`staff_records`] found in a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffView {
    /// Approved devices, one record per device, with their standing.
    pub staff: Vec<StaffRecord>,
    /// Enrolments waiting for the org key's approval.
    pub pending: Vec<PendingEnrolment>,
}

/// Every certificate that chains to `org_key` and carries its approval, one
/// record per device (the most useful one when a device was certified
/// twice: valid before invalid, then the later expiry), judged against the
/// revoked devices and the org's verified staff `list`; and, apart, the
/// enrolments that chain but are not approved. Anything else is dropped.
pub fn staff_records(
    certificates: &[StaffCertificate],
    org: &OrgId,
    org_key: &IdentityKey,
    revoked: &[DeviceId],
    list: Option<&StaffList>,
    now: u64,
) -> StaffView {
    let mut out: Vec<StaffRecord> = Vec::new();
    let mut pending: Vec<PendingEnrolment> = Vec::new();
    for certificate in certificates {
        let Ok(invite_id) = certificate.invite_id() else { continue };
        // Verifying "at time 0" checks the chain (signatures, ids, binding
        // made before the invitation expired) without the expiry, which is
        // judged below so that an expired device can still be recognised.
        let staff = match certificate.verify(org, org_key, 0) {
            Ok(staff) => staff,
            Err(_) => {
                if let Ok(staff) = certificate.verify_enrolment(org, org_key, 0)
                    && now < staff.expires_at
                {
                    pending.push(PendingEnrolment {
                        account: staff.account,
                        device: staff.device,
                        identity_key: staff.identity_key,
                        role: staff.role,
                        department: staff.department,
                        expires_at: staff.expires_at,
                        invite_id,
                        certificate: StaffCertificate { approval: None, ..certificate.clone() },
                    });
                } else {
                    tracing::debug!(
                        "skipping a staff certificate that does not chain to the org key"
                    );
                }
                continue;
            }
        };
        let record = StaffRecord {
            revoked: revoked.contains(&staff.device)
                || list.is_some_and(|l| l.is_revoked(&staff.device)),
            expired: now >= staff.expires_at,
            unlisted: list.is_none_or(|l| l.entry(&staff.device, &staff.identity_key).is_none()),
            account: staff.account,
            device: staff.device,
            identity_key: staff.identity_key,
            role: staff.role,
            department: staff.department,
            expires_at: staff.expires_at,
            invite_id,
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
    // An enrolment already approved (the same invitation for the same
    // device) is not pending; two copies of one pending enrolment are one.
    pending.retain(|p| !out.iter().any(|r| r.device == p.device && r.invite_id == p.invite_id));
    pending.sort_by(|a, b| (&a.department, a.device).cmp(&(&b.department, b.device)));
    pending.dedup_by(|a, b| a.certificate == b.certificate);
    out.sort_by(|a, b| (&a.department, a.device).cmp(&(&b.department, b.device)));
    StaffView { staff: out, pending }
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
    /// Whether the org key approved the enrolment (as far as this device
    /// has seen). Enrolments saved before approvals existed read as not
    /// approved until the next directory fetch shows the approval.
    #[serde(default)]
    pub approved: bool,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
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
            bound_at: self.clock.now_ms(),
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
                    detail: crate::refusal::Refusal(body),
                });
            }
            Err(body) => return Err(ClientError::server(body)),
        };
        let verified = self.fetch_org(&handle).await?;
        let own = self.secret.identity_key();
        let (account, device) = (self.state.account, self.state.device);
        let approved = verified.staff.iter().find(|r| r.certifies(&account, &device, &own));
        let pending = verified.pending.iter().find(|p| {
            p.account == account
                && p.device == device
                && p.identity_key == own
                && p.invite_id.as_slice() == code.id.as_slice()
        });
        let (role, department, expires_at, approved) = match (pending, approved) {
            (Some(p), _) => (p.role, p.department.clone(), p.expires_at, false),
            (None, Some(r)) => (r.role, r.department.clone(), r.expires_at, r.is_valid()),
            (None, None) => {
                return Err(ClientError::InvalidOrgData {
                    handle: handle.clone(),
                    reason: "the org directory does not hold this device's enrolment".into(),
                });
            }
        };
        let enrolment = Enrolment {
            org: verified.org,
            handle: handle.clone(),
            org_name: verified.name().to_string(),
            role,
            department,
            expires_at,
            enrolled_at: self.clock.now_ms(),
            approved,
        };
        self.state.enrolments.retain(|e| e.org != enrolment.org);
        self.state.enrolments.push(enrolment.clone());
        self.save().await?;
        Ok(enrolment)
    }

    /// This device's enrolment at `org`, if any (and not expired).
    pub fn enrolment_at(&self, org: &OrgId) -> Option<&Enrolment> {
        self.state.enrolments.iter().find(|e| e.org == *org && e.expires_at > self.clock.now_ms())
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
        let listed = [valid.clone(), expired.clone(), revoked.clone()];
        let signed_list =
            stadtbote_protocol::org::testing::staff_list(org, &org_key, 1, &listed, &[]);
        let list = StaffList::verify(&signed_list, &org, &org_key.identity_key()).unwrap();
        // Approved by the org key but not on its newest staff list.
        let unlisted = certificate(
            org,
            &org_key,
            AccountId([6; 16]),
            DeviceId([6; 16]),
            key(6),
            "bauhof",
            10_000,
        );
        // Enrolled with a valid invitation, not approved.
        let pending = StaffCertificate {
            approval: None,
            ..certificate(
                org,
                &org_key,
                AccountId([7; 16]),
                DeviceId([7; 16]),
                key(7),
                "bauhof",
                10_000,
            )
        };
        let view = staff_records(
            &[valid, expired, revoked, forged, other_org, unlisted, pending.clone()],
            &org,
            &org_key.identity_key(),
            &[DeviceId([3; 16])],
            Some(&list),
            5_000,
        );
        let records = view.staff;
        let devices: Vec<_> = records.iter().map(|r| r.device).collect();
        assert_eq!(
            devices,
            [DeviceId([1; 16]), DeviceId([2; 16]), DeviceId([3; 16]), DeviceId([6; 16])]
        );
        assert!(records[0].is_valid());
        assert!(records[1].expired && !records[1].revoked && !records[1].is_valid());
        assert!(records[2].revoked && !records[2].expired && !records[2].is_valid());
        assert!(records[3].unlisted && !records[3].is_valid());
        assert!(records[0].certifies(&AccountId([1; 16]), &DeviceId([1; 16]), &key(1)));
        assert!(!records[0].certifies(&AccountId([1; 16]), &DeviceId([1; 16]), &key(9)));
        assert_eq!(view.pending.len(), 1);
        assert_eq!(view.pending[0].device, DeviceId([7; 16]));
        assert_eq!(view.pending[0].certificate, pending);
        // Without any staff list nobody is valid.
        let view = staff_records(&listed, &org, &org_key.identity_key(), &[], None, 5_000);
        assert!(view.staff.iter().all(|r| r.unlisted && !r.is_valid()));
    }

    #[test]
    fn a_re_enrolled_device_keeps_its_best_certificate() {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let (account, device, key) = (AccountId([1; 16]), DeviceId([1; 16]), IdentityKey([1; 32]));
        let old = certificate(org, &org_key, account, device, key, "bauhof", 2_000);
        let new = certificate(org, &org_key, account, device, key, "ordnungsamt", 9_000);
        let signed = stadtbote_protocol::org::testing::staff_list(
            org,
            &org_key,
            1,
            std::slice::from_ref(&new),
            &[],
        );
        let list = StaffList::verify(&signed, &org, &org_key.identity_key()).unwrap();
        let records =
            staff_records(&[new, old], &org, &org_key.identity_key(), &[], Some(&list), 5_000)
                .staff;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].department, "ordnungsamt");
        assert!(records[0].is_valid());
    }
}
