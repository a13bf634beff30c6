//! The org key's approval of staff enrolments, and the signed staff list.
//!
//! A staff device that redeems an invitation code is only *enrolled*: the
//! server keeps its binding pending, and no client encrypts to it. The org
//! admin's device, which holds the org key, approves it: it checks the
//! pending binding against the invitation the org key signed and that the
//! invitation was not used for another approved device (this device's own
//! record of approved invitations and the newest staff list), then signs a
//! [`StaffApproval`] of exactly that binding and the next version of the
//! [`StaffList`], and publishes both in one request.
//!
//! Approval happens explicitly (`stadtbote org approve DEVICE`) or
//! automatically: [`Client::approve_pending_everywhere`] runs on every
//! command of the org admin's device that connects. Two pending
//! enrolments of one invitation are never approved automatically (one of
//! them was made by somebody who only knew the code); the org admin picks
//! one with `org approve DEVICE`. When the org requires a second factor,
//! automatic approval waits for a command run with `--otp`.
//!
//! A staff device learns that it was approved from the directory
//! ([`Client::check_own_enrolments`]).

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use serde_bytes::ByteBuf;
use stadtbote_protocol::org::{Role, Signed, SignedKind, StaffList, StaffListEntry};
use stadtbote_protocol::{DeviceId, ErrorCode, Request, Response};

use crate::error::ClientError;
use crate::invalid_input::InvalidReason;
use crate::org::server_error;
use crate::session::{Client, unexpected};
use crate::staff::{Enrolment, PendingEnrolment};

/// A device approved by this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The org's handle.
    pub handle: String,
    /// The approved device.
    pub device: DeviceId,
    /// Its role.
    pub role: Role,
    /// Its department.
    pub department: String,
    /// The staff list version that lists it.
    pub version: u64,
}

/// A pending enrolment this device did not approve, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApproved {
    /// The org's handle.
    pub handle: String,
    /// The enrolled device.
    pub device: DeviceId,
    /// Why not (a sentence for the user).
    pub reason: String,
}

/// What an approval run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalReport {
    /// Devices approved now.
    pub approved: Vec<Approved>,
    /// Pending enrolments left pending, with why.
    pub refused: Vec<NotApproved>,
}

/// What the staff bookkeeping of a connecting command found: approvals this
/// device made (org admin), its own enrolments that were approved since
/// (staff), and what could not be done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffNotices {
    /// Approvals made now.
    pub approvals: ApprovalReport,
    /// This device's enrolments that the org key approved since last seen.
    pub now_approved: Vec<Enrolment>,
    /// Problems, as sentences for the user.
    pub warnings: Vec<String>,
}

/// Chooses which pending enrolments to approve against `list` (the newest
/// staff list) and the invitations already `used`. `only` restricts the
/// choice to one device (an explicit `org approve DEVICE`). Returns the
/// enrolments to approve and the refusals.
pub fn choose_approvals<'a>(
    handle: &str,
    pending: &'a [PendingEnrolment],
    list: &StaffList,
    used: &[ByteBuf],
    only: Option<&DeviceId>,
) -> (Vec<&'a PendingEnrolment>, Vec<NotApproved>) {
    let mut chosen = Vec::new();
    let mut refused = Vec::new();
    let refuse = |p: &PendingEnrolment, reason: String| NotApproved {
        handle: handle.to_string(),
        device: p.device,
        reason,
    };
    for p in pending.iter().filter(|p| only.is_none_or(|d| *d == p.device)) {
        if list.is_revoked(&p.device) {
            refused.push(refuse(p, "the device is revoked".into()));
            continue;
        }
        let listed_for = list.staff.iter().find(|e| e.invite_id == p.invite_id);
        if let Some(entry) = listed_for.filter(|e| e.device != p.device) {
            refused.push(refuse(
                p,
                format!(
                    "its invitation was already used for the approved device {}; a second binding made with the same code is not approved",
                    entry.device
                ),
            ));
            continue;
        }
        if listed_for.is_none() && used.contains(&p.invite_id) {
            refused.push(refuse(
                p,
                "its invitation was already used for another device this device approved".into(),
            ));
            continue;
        }
        let rivals = pending.iter().filter(|o| o.invite_id == p.invite_id).count();
        if rivals > 1 && only.is_none() {
            refused.push(refuse(
                p,
                format!(
                    "{rivals} devices redeemed the same invitation; approve the right one with `stadtbote org approve DEVICE`"
                ),
            ));
            continue;
        }
        chosen.push(p);
    }
    (chosen, refused)
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Approves pending enrolments of org `handle` (all that qualify, or
    /// only `only`) with the org key and publishes the next staff list.
    /// Needs a connection.
    pub async fn approve_enrolments(
        &mut self,
        handle: &str,
        only: Option<DeviceId>,
    ) -> Result<ApprovalReport, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let secret = self.org_secret(&admin)?;
        let org = self.fetch_org(handle).await?;
        let base = newest_list(admin.staff_list.clone(), org.staff_list.clone())
            .unwrap_or_else(|| StaffList::empty(admin.org));
        let mut used = admin.approved_invites.clone();
        used.extend(org.staff.iter().map(|r| r.invite_id.clone()));
        if let Some(device) = &only
            && !org.pending.iter().any(|p| p.device == *device)
        {
            let reason = if org.staff.iter().any(|r| r.device == *device && r.is_valid()) {
                InvalidReason::AlreadyApproved
            } else {
                InvalidReason::NoPendingEnrolment
            };
            return Err(ClientError::Invalid { what: "device", reason });
        }
        let (chosen, refused) = choose_approvals(handle, &org.pending, &base, &used, only.as_ref());
        let mut report = ApprovalReport { approved: Vec::new(), refused };
        if chosen.is_empty() {
            return Ok(report);
        }
        let now = self.clock.now_ms();
        let mut list = base;
        let mut approvals: Vec<Signed> = Vec::new();
        let mut newly_used = Vec::new();
        for pending in chosen {
            let (approval, signed) = match pending.certificate.approve(&admin.org, &secret, now) {
                Ok(done) => done,
                Err(error) => {
                    report.refused.push(NotApproved {
                        handle: handle.to_string(),
                        device: pending.device,
                        reason: format!("its enrolment does not verify: {error}"),
                    });
                    continue;
                }
            };
            list.staff.retain(|e| e.device != approval.device);
            list.staff.push(StaffListEntry {
                device: approval.device,
                identity_key: approval.identity_key,
                invite_id: approval.invite_id.clone(),
            });
            approvals.push(signed);
            newly_used.push(approval.invite_id.clone());
            report.approved.push(Approved {
                handle: handle.to_string(),
                device: approval.device,
                role: approval.role,
                department: approval.department,
                version: 0,
            });
        }
        if approvals.is_empty() {
            return Ok(report);
        }
        let version = self.publish_staff_list(handle, list, approvals).await?;
        for approved in &mut report.approved {
            approved.version = version;
        }
        if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
            for invite in newly_used {
                if !entry.approved_invites.contains(&invite) {
                    entry.approved_invites.push(invite);
                }
            }
        }
        self.save().await?;
        // Pin the list just published (and the approved certificates).
        self.fetch_org(handle).await?;
        Ok(report)
    }

    /// Signs `list` as the next version after the newest known one and
    /// publishes it with `approvals`; records it as this device's newest.
    /// Returns the version.
    pub(crate) async fn publish_staff_list(
        &mut self,
        handle: &str,
        mut list: StaffList,
        approvals: Vec<Signed>,
    ) -> Result<u64, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let secret = self.org_secret(&admin)?;
        list.version = list.version.saturating_add(1);
        list.updated_at = self.clock.now_ms();
        list.staff.sort_by_key(|e| e.device);
        list.revoked.sort();
        list.revoked.dedup();
        let request = Request::OrgApprove {
            org: admin.org,
            staff_list: Signed::sign(SignedKind::StaffList, &list, &secret),
            approvals,
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Published { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::SecondFactorRequired => {
                if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
                    entry.second_factor = true;
                }
                self.save().await?;
                return Err(ClientError::SecondFactorRequired(crate::refusal::Refusal(body)));
            }
            Err(body) => return Err(server_error(body)),
        }
        let version = list.version;
        let elevated = self.elevated;
        if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
            entry.staff_list = Some(list);
            // Accepted without a second factor: the org no longer has one
            // (e.g. a server admin reset it), so automatic approvals resume.
            if !elevated {
                entry.second_factor = false;
            }
        }
        self.save().await?;
        Ok(version)
    }

    /// The staff list to build the next version on for org `handle`: the
    /// newer of this device's last published list and the directory's.
    pub(crate) fn next_staff_list_base(
        &self,
        handle: &str,
        directory: Option<StaffList>,
    ) -> Result<StaffList, ClientError> {
        let admin = self.admin_org(Some(handle))?;
        Ok(newest_list(admin.staff_list.clone(), directory)
            .unwrap_or_else(|| StaffList::empty(admin.org)))
    }

    /// Runs the automatic approval for every org this device administers
    /// (skipping orgs that need a second factor unless this connection
    /// passed one), and checks whether this device's own pending
    /// enrolments were approved. Never fails: problems become warnings.
    pub async fn approve_pending_everywhere(&mut self) -> StaffNotices {
        let mut notices = StaffNotices::default();
        if !self.is_connected() {
            return notices;
        }
        let handles: Vec<(String, bool)> =
            self.state.admin_orgs.values().map(|a| (a.handle.clone(), a.second_factor)).collect();
        for (handle, second_factor) in handles {
            if second_factor && !self.elevated {
                if let Ok(org) = self.fetch_org(&handle).await
                    && !org.pending.is_empty()
                {
                    notices.warnings.push(format!(
                        "{} staff enrolment(s) of {handle} wait for approval; {handle} requires a second factor, so run: stadtbote --otp CODE org approve DEVICE (see `stadtbote org staff`)",
                        org.pending.len()
                    ));
                }
                continue;
            }
            match self.approve_enrolments(&handle, None).await {
                Ok(report) => {
                    notices.approvals.approved.extend(report.approved);
                    notices.approvals.refused.extend(report.refused);
                }
                Err(error) => notices
                    .warnings
                    .push(format!("could not approve the pending staff of {handle}: {error}")),
            }
        }
        match self.check_own_enrolments().await {
            Ok(approved) => notices.now_approved = approved,
            Err(error) => notices.warnings.push(format!(
                "could not check whether this device's staff enrolment was approved: {error}"
            )),
        }
        notices
    }

    /// For each of this device's enrolments not yet seen approved: fetches
    /// the org and marks it approved once a valid, approved certificate of
    /// this device is listed. Returns the enrolments approved now.
    pub async fn check_own_enrolments(&mut self) -> Result<Vec<Enrolment>, ClientError> {
        let waiting: Vec<String> = self
            .state
            .enrolments
            .iter()
            .filter(|e| !e.approved && e.expires_at > self.clock.now_ms())
            .map(|e| e.handle.clone())
            .collect();
        let mut now_approved = Vec::new();
        for handle in waiting {
            let org = self.fetch_org(&handle).await?;
            let own = self.secret.identity_key();
            let (account, device) = (self.state.account, self.state.device);
            let Some(record) = org
                .staff
                .iter()
                .find(|r| r.is_valid() && r.certifies(&account, &device, &own))
                .cloned()
            else {
                continue;
            };
            if let Some(enrolment) = self.state.enrolments.iter_mut().find(|e| e.org == org.org) {
                enrolment.approved = true;
                enrolment.role = record.role;
                enrolment.department = record.department.clone();
                enrolment.expires_at = record.expires_at;
                now_approved.push(enrolment.clone());
            }
        }
        if !now_approved.is_empty() {
            self.save().await?;
        }
        Ok(now_approved)
    }
}

/// The newer of two staff lists (by version).
fn newest_list(a: Option<StaffList>, b: Option<StaffList>) -> Option<StaffList> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.version > a.version { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::auth::{DeviceSecret, IdentityKey};
    use stadtbote_protocol::org::StaffCertificate;
    use stadtbote_protocol::{AccountId, OrgId};

    fn pending(device: u8, invite: u8) -> PendingEnrolment {
        let dummy = Signed { bytes: ByteBuf::new(), signature: DeviceSecret::generate().sign(b"") };
        PendingEnrolment {
            account: AccountId([device; 16]),
            device: DeviceId([device; 16]),
            identity_key: IdentityKey([device; 32]),
            role: Role::Clerk,
            department: "bauhof".into(),
            expires_at: u64::MAX,
            invite_id: ByteBuf::from(vec![invite; 8]),
            certificate: StaffCertificate { invite: dummy.clone(), binding: dummy, approval: None },
        }
    }

    fn entry(device: u8, invite: u8) -> StaffListEntry {
        StaffListEntry {
            device: DeviceId([device; 16]),
            identity_key: IdentityKey([device; 32]),
            invite_id: ByteBuf::from(vec![invite; 8]),
        }
    }

    #[test]
    fn an_invitation_approves_one_device_and_rivals_wait_for_the_admin() {
        let mut list = StaffList::empty(OrgId([1; 16]));
        list.staff.push(entry(1, 1));
        list.revoked.push(DeviceId([5; 16]));
        let all = [pending(2, 1), pending(3, 3), pending(4, 4), pending(6, 4), pending(5, 5)];
        let used = [ByteBuf::from(vec![3; 8])];
        let (chosen, refused) = choose_approvals("goslar", &all, &list, &used, None);
        assert!(chosen.is_empty(), "{chosen:?}");
        let reasons: Vec<_> = refused.iter().map(|r| (r.device, r.reason.as_str())).collect();
        assert!(reasons[0].1.contains("already used for the approved device"), "{reasons:?}");
        assert!(reasons[1].1.contains("already used for another device"), "{reasons:?}");
        assert!(
            reasons[2].1.contains("same invitation") && reasons[3].1.contains("same invitation")
        );
        assert!(reasons[4].1.contains("revoked"));
        // The admin picks one of two rivals explicitly.
        let (chosen, _) = choose_approvals("goslar", &all, &list, &used, Some(&DeviceId([6; 16])));
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].device, DeviceId([6; 16]));
        // A fresh invitation is approved automatically.
        let fresh = [pending(7, 7)];
        let (chosen, refused) = choose_approvals("goslar", &fresh, &list, &used, None);
        assert_eq!((chosen.len(), refused.len()), (1, 0));
    }
}
