//! Replacing the org key (`stadtbote org rotate-key [--compromised]`).
//!
//! The org admin's device makes a new org key, signs the next link of the
//! org's rotation chain with the old key and the new one, re-signs the
//! profile (next version), the staff list (next version) and every current
//! staff certificate (the invitation and, if approved, the approval) with
//! the new key, re-signs the revocation list (next version, same devices)
//! if the org has one, and publishes all of it in one `org_rotate_key`
//! request.
//! Citizens' and staff clients follow the signed chain from the key they
//! pinned (`pinning.rs`). The new key is written next to the old key file
//! before the request is sent, so that a crash after the server accepted
//! it does not lose the key the org now depends on.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use stadtbote_protocol::auth::{DeviceSecret, IdentityKey, fingerprint_of};
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::org::{InviteCert, OrgProfile, Signed, SignedKind, StaffCertificate};
use stadtbote_protocol::org_rotation::{RotationReason, SignedRotation};
use stadtbote_protocol::{ErrorCode, Request, Response};

use crate::error::ClientError;
use crate::org::{key_file_name, server_error};
use crate::session::{Client, unexpected};

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The org's handle.
    pub handle: String,
    /// The new org key.
    pub key: IdentityKey,
    /// Its fingerprint (for the new posters).
    pub fingerprint: String,
    /// The link's position in the org's rotation chain.
    pub sequence: u64,
    /// Whether the old key was declared compromised.
    pub compromised: bool,
    /// Staff certificates re-issued under the new key.
    pub reissued: usize,
}

/// Re-issues `certificate` under `new` if it is current under `old`:
/// approved ones get a new approval, pending ones stay pending.
fn reissue(
    certificate: &StaffCertificate,
    info: &OrgInfo,
    old: &IdentityKey,
    new: &DeviceSecret,
    now: u64,
) -> Option<StaffCertificate> {
    let approved = certificate.verify(&info.org, old, now).is_ok();
    if !approved && certificate.verify_enrolment(&info.org, old, now).is_err() {
        return None;
    }
    let invite: InviteCert = certificate.invite.decode_unverified(SignedKind::Invite).ok()?;
    let mut reissued = StaffCertificate {
        invite: Signed::sign(SignedKind::Invite, &invite, new),
        binding: certificate.binding.clone(),
        approval: None,
    };
    if approved {
        reissued.approval = Some(reissued.approve(&info.org, new, now).ok()?.1);
    }
    Some(reissued)
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Replaces the org key of `handle` (see the module docs). Needs a
    /// connection.
    pub async fn rotate_org_key(
        &mut self,
        handle: &str,
        reason: RotationReason,
    ) -> Result<Rotated, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let old = self.org_secret(&admin)?;
        let verified = self.fetch_org(handle).await?;
        if verified.key != old.identity_key() {
            return Err(ClientError::Invalid {
                what: "org key",
                reason: crate::invalid_input::InvalidReason::ServerKeyNotOurs {
                    handle: handle.to_string(),
                },
            });
        }
        let request = Request::OrgDirectory { handle: handle.to_string() };
        let info = match self.conn_mut()?.call(request).await? {
            Ok(Response::Org { info }) => *info,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(server_error(body)),
        };
        let now = self.clock.now_ms();
        let new = DeviceSecret::generate();
        let revoked = verified.revoked_devices();
        let staff: Vec<StaffCertificate> = info
            .staff
            .iter()
            .filter(|c| {
                c.binding
                    .decode_unverified::<stadtbote_protocol::org::DeviceBinding>(
                        SignedKind::Binding,
                    )
                    .is_ok_and(|b| !revoked.contains(&b.device))
            })
            .filter_map(|c| reissue(c, &info, &old.identity_key(), &new, now))
            .collect();
        let mut profile = match (admin.profile.clone(), verified.profile.clone()) {
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
        profile.version = profile.version.saturating_add(1);
        profile.updated_at = now;
        let mut list = self.next_staff_list_base(handle, verified.staff_list.clone())?;
        list.version = list.version.saturating_add(1);
        list.updated_at = now;
        list.staff.sort_by_key(|e| e.device);
        list.revoked.sort();
        list.revoked.dedup();
        // The revocation list too (same devices, next version): the
        // directory must not keep a list only the old key signed.
        let revocations = verified.revocations.clone().map(|mut list| {
            list.version = list.version.saturating_add(1);
            list.updated_at = now;
            Box::new(Signed::sign(SignedKind::Revocations, &list, &new))
        });
        let sequence = u64::try_from(info.rotations.len()).unwrap_or(u64::MAX).saturating_add(1);
        let (_, rotation) = SignedRotation::sign(admin.org, &old, &new, sequence, reason, now);
        // Keep the new key before the server depends on it.
        let next_file = format!("{}.next", key_file_name(handle));
        self.write_key_file(&next_file, admin.org, handle, &admin.name, &new, None, None)?;
        let request = Request::OrgRotateKey {
            org: admin.org,
            rotation,
            profile: Signed::sign(SignedKind::Profile, &profile, &new),
            staff_list: Signed::sign(SignedKind::StaffList, &list, &new),
            staff: staff.clone(),
            revocations,
        };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Published { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::SecondFactorRequired => {
                return Err(ClientError::SecondFactorRequired(crate::refusal::Refusal(body)));
            }
            Err(body) => return Err(server_error(body)),
        }
        self.write_key_file(
            &key_file_name(handle),
            admin.org,
            handle,
            &admin.name,
            &new,
            None,
            None,
        )?;
        self.key_files.remove(&next_file)?;
        if let Some(entry) = self.state.admin_orgs.get_mut(handle) {
            entry.key = new.identity_key();
            entry.profile = Some(profile);
            entry.staff_list = Some(list);
        }
        self.save().await?;
        // Follow the chain like every other client does (re-pins this
        // device's own pin to the new key).
        self.fetch_org(handle).await?;
        Ok(Rotated {
            handle: handle.to_string(),
            key: new.identity_key(),
            fingerprint: fingerprint_of(&new.identity_key().0),
            sequence,
            compromised: reason == RotationReason::Compromised,
            reissued: staff.len(),
        })
    }
}
