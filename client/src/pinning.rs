//! Trust in org keys: pinning on first contact, verification against the
//! town's poster, and checking everything an org directory says.
//!
//! The first time this device fetches an org (by handle) it pins the org id
//! and org key it was given (trust on first use). `stadtbote verify HANDLE
//! FINGERPRINT` upgrades the pin to *verified* once the user compared the
//! fingerprint (or scanned the QR code). From then on:
//!
//! * a directory answer with another key or org id for that handle is a hard
//!   error ([`ClientError::OrgKeyChanged`]) on every command touching the
//!   org, and stays one (the conflicting key is remembered) until the user
//!   verifies the new key's fingerprint explicitly;
//! * every signed object (profile, revocation list, staff certificates) is
//!   verified against the pinned key, never against what the server says;
//! * the last verified directory is cached with the pin, so that incoming
//!   thread messages can be checked without a round trip, and so that a
//!   server cannot roll the profile or the revocation list back to an older
//!   version: a fresh answer older than the cache keeps the cached object;
//! * the org's signed staff list is pinned the same way, but more strictly:
//!   a directory answer with an older staff list than the pinned one, or
//!   none after one was seen, is refused
//!   ([`ClientError::StaffListRolledBack`]), because the list is what says
//!   which staff devices exist and which are revoked;
//! * a key change that the pinned key signed (the org's rotation chain, see
//!   `stadtbote_protocol::org_rotation`) is followed silently and re-pins;
//!   the accepted chain is kept with the cached directory, and a chain that
//!   does not extend it (e.g. a second rotation signed by a key the town
//!   declared compromised) is refused.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use serde::{Deserialize, Serialize};
use stadtbote_protocol::auth::{IdentityKey, fingerprint_of};
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::org::{OrgProfile, RevocationList, SignedKind, StaffList};
use stadtbote_protocol::org_rotation::follow_chain;
use stadtbote_protocol::{DeviceId, ErrorCode, OrgId, Request, Response};

use crate::app_links::parse_org_qr_content;
use crate::error::ClientError;
use crate::session::{Client, unexpected};
use crate::staff::{PendingEnrolment, StaffRecord, StaffView, staff_records};

/// What this device knows and trusts about one org handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPin {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// The pinned org key.
    pub key: IdentityKey,
    /// Whether the user compared the fingerprint (`stadtbote verify`).
    pub verified: bool,
    /// When the key was pinned (Unix ms).
    pub pinned_at: u64,
    /// Another key the server presented for this handle later; while set,
    /// every command touching the org fails.
    pub conflicting_key: Option<IdentityKey>,
    /// The last directory answer, merged so that nothing goes backwards.
    pub directory: Option<OrgInfo>,
}

/// An org directory after every check against the pinned key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedOrg {
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// The pinned key everything was verified with.
    pub key: IdentityKey,
    /// Whether the user verified the fingerprint.
    pub verified: bool,
    /// The latest verified profile, if the org published one.
    pub profile: Option<OrgProfile>,
    /// The latest verified revocation list.
    pub revocations: Option<RevocationList>,
    /// Every certificate that chains to the key and carries its approval,
    /// with its standing.
    pub staff: Vec<StaffRecord>,
    /// Enrolments that chain to the key but wait for its approval.
    pub pending: Vec<PendingEnrolment>,
    /// The latest verified staff list.
    pub staff_list: Option<StaffList>,
}

impl VerifiedOrg {
    /// The org's display name (the handle until a profile is published).
    pub fn name(&self) -> &str {
        self.profile.as_ref().map_or(self.handle.as_str(), |p| p.name.as_str())
    }

    /// The profile, or an error saying the org is not set up yet.
    pub fn require_profile(&self) -> Result<&OrgProfile, ClientError> {
        self.profile
            .as_ref()
            .ok_or_else(|| ClientError::OrgNotSetUp { handle: self.handle.clone() })
    }

    /// Valid (unexpired, unrevoked) staff devices of `department`.
    pub fn valid_staff(&self, department: &str) -> Vec<&StaffRecord> {
        self.staff.iter().filter(|r| r.is_valid() && r.department == department).collect()
    }

    /// Devices the org revoked: on its revocation list or on its staff
    /// list's revocations.
    pub fn revoked_devices(&self) -> Vec<DeviceId> {
        let mut out: Vec<DeviceId> =
            self.revocations.iter().flat_map(|l| l.revoked.iter().copied()).collect();
        out.extend(self.staff_list.iter().flat_map(|l| l.revoked.iter().copied()));
        out.sort();
        out.dedup();
        out
    }

    /// The record for a device, valid or not.
    pub fn staff_device(&self, device: &DeviceId) -> Option<&StaffRecord> {
        self.staff.iter().find(|r| r.device == *device)
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.key.0)
    }
}

/// Verifies a directory answer for `handle` against the pinned key (or, for
/// a first contact, against the key it names) at time `now`.
pub fn verify_directory(
    info: &OrgInfo,
    handle: &str,
    pin: Option<&OrgPin>,
    now: u64,
) -> Result<VerifiedOrg, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidOrgData {
        handle: handle.to_string(),
        reason: reason.to_string(),
    };
    if info.handle != handle {
        return Err(invalid("the server answered for another handle"));
    }
    let Some(presented) = info.org_key else {
        return Err(ClientError::OrgNotSetUp { handle: handle.to_string() });
    };
    let key = match pin {
        Some(pin) if pin.key != presented || pin.org != info.org => {
            return Err(ClientError::OrgKeyChanged {
                handle: handle.to_string(),
                pinned: fingerprint_of(&pin.key.0),
                presented: fingerprint_of(&presented.0),
            });
        }
        Some(pin) => pin.key,
        None => presented,
    };
    let profile = match &info.profile {
        Some(signed) => {
            let profile: OrgProfile = signed
                .verify(SignedKind::Profile, &key)
                .map_err(|_| invalid("its profile is not signed by the org key"))?;
            if profile.org != info.org || profile.handle != handle {
                return Err(invalid("its profile names another org"));
            }
            Some(profile)
        }
        None => None,
    };
    let revocations = match &info.revocations {
        Some(signed) => {
            let list: RevocationList = signed
                .verify(SignedKind::Revocations, &key)
                .map_err(|_| invalid("its revocation list is not signed by the org key"))?;
            if list.org != info.org {
                return Err(invalid("its revocation list names another org"));
            }
            Some(list)
        }
        None => None,
    };
    let staff_list = match &info.staff_list {
        Some(signed) => Some(
            StaffList::verify(signed, &info.org, &key)
                .map_err(|_| invalid("its staff list is not signed by the org key"))?,
        ),
        None => None,
    };
    let revoked = revocations.as_ref().map(|l| l.revoked.as_slice()).unwrap_or_default();
    let StaffView { staff, pending } =
        staff_records(&info.staff, &info.org, &key, revoked, staff_list.as_ref(), now);
    Ok(VerifiedOrg {
        org: info.org,
        handle: handle.to_string(),
        key,
        verified: pin.is_some_and(|p| p.verified),
        profile,
        revocations,
        staff,
        pending,
        staff_list,
    })
}

/// Combines a cached and a fresh directory answer so that nothing goes
/// backwards: the newer profile and revocation list win (by their signed
/// version; the cached one if the server offers an older one), and staff
/// certificates are the union of both. The server leaves revoked and
/// expired certificates out of its answer; remembering them lets this
/// device still recognise such a device as one the org once certified
/// (whose standing the revocation list and expiry decide), rather than as a
/// stranger.
pub fn merge_directory(cached: Option<&OrgInfo>, fresh: OrgInfo, key: &IdentityKey) -> OrgInfo {
    let Some(cached) = cached else { return fresh };
    let version = |info: &OrgInfo| {
        info.profile
            .as_ref()
            .and_then(|s| s.verify::<OrgProfile>(SignedKind::Profile, key).ok())
            .map(|p| p.version)
    };
    let revocation_version = |info: &OrgInfo| {
        info.revocations
            .as_ref()
            .and_then(|s| s.verify::<RevocationList>(SignedKind::Revocations, key).ok())
            .map(|l| l.version)
    };
    let mut merged = fresh;
    if version(cached) > version(&merged) {
        tracing::warn!("the server offered an older org profile than this device has seen");
        merged.profile = cached.profile.clone();
    }
    if revocation_version(cached) > revocation_version(&merged) {
        tracing::warn!("the server offered an older revocation list than this device has seen");
        merged.revocations = cached.revocations.clone();
    }
    // `check_staff_list` refused an older list before this runs; keep the
    // cached one only should the fresh one not verify at all.
    let list_version = |info: &OrgInfo| {
        info.staff_list
            .as_ref()
            .and_then(|s| StaffList::verify(s, &info.org, key).ok())
            .map(|l| l.version)
    };
    if list_version(cached) > list_version(&merged) {
        merged.staff_list = cached.staff_list.clone();
    }
    for certificate in &cached.staff {
        if !merged.staff.contains(certificate) {
            merged.staff.push(certificate.clone());
        }
    }
    merged
}

/// Refuses a fresh directory answer whose staff list is older than the
/// one in the cached (pinned) directory, or that has none although the
/// cache has one. Lists that do not verify with `key` count as absent here
/// (the cache only ever holds verified ones; a fresh one that does not
/// verify is refused by [`verify_directory`]).
pub fn check_staff_list(
    cached: Option<&OrgInfo>,
    fresh: &OrgInfo,
    key: &IdentityKey,
    handle: &str,
) -> Result<(), ClientError> {
    let verified = |info: &OrgInfo| {
        info.staff_list.as_ref().and_then(|s| StaffList::verify(s, &info.org, key).ok())
    };
    let Some(pinned) = cached.and_then(verified) else { return Ok(()) };
    let offered = verified(fresh);
    let older = match &offered {
        Some(list) => list.check_not_older_than(&pinned).is_err(),
        None => true,
    };
    if older {
        return Err(ClientError::StaffListRolledBack {
            handle: handle.to_string(),
            seen: pinned.version,
            offered: offered.map_or("no version".to_string(), |l| format!("version {}", l.version)),
        });
    }
    Ok(())
}

/// Whether `text` (a fingerprint as printed, in any case and grouping, or
/// the QR code's content) names `key` of `handle`.
pub fn fingerprint_matches(text: &str, handle: &str, key: &IdentityKey) -> bool {
    if let Some((qr_handle, qr_key)) = parse_org_qr_content(text) {
        return qr_handle == handle && qr_key == *key;
    }
    let given: String =
        text.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != ':').collect();
    let expected: String = fingerprint_of(&key.0).chars().filter(|c| *c != ' ').collect();
    !given.is_empty() && given.eq_ignore_ascii_case(&expected)
}

/// What `stadtbote verify` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The fingerprint matches the pinned key, now marked verified.
    Verified {
        /// The fingerprint.
        fingerprint: String,
    },
    /// The fingerprint matches the key the server presented after the pin;
    /// the user confirmed it, so it replaces the old pin.
    Repinned {
        /// The new fingerprint.
        fingerprint: String,
    },
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// The pin for a handle; an unresolved key conflict is an error.
    pub fn pin(&self, handle: &str) -> Result<Option<&OrgPin>, ClientError> {
        match self.state.pins.get(handle) {
            Some(pin) => {
                if let Some(presented) = &pin.conflicting_key {
                    return Err(ClientError::OrgKeyChanged {
                        handle: handle.to_string(),
                        pinned: fingerprint_of(&pin.key.0),
                        presented: fingerprint_of(&presented.0),
                    });
                }
                Ok(Some(pin))
            }
            None => Ok(None),
        }
    }

    /// The org as last verified, from the cache (no network).
    pub fn cached_org(&self, handle: &str) -> Result<Option<VerifiedOrg>, ClientError> {
        let Some(pin) = self.pin(handle)? else { return Ok(None) };
        let Some(info) = &pin.directory else { return Ok(None) };
        verify_directory(info, handle, Some(pin), self.clock.now_ms()).map(Some)
    }

    /// Fetches an org's directory, pins its key on first contact and
    /// verifies everything against the pinned key. Needs a connection.
    pub async fn fetch_org(&mut self, handle: &str) -> Result<VerifiedOrg, ClientError> {
        self.pin(handle)?;
        let request = Request::OrgDirectory { handle: handle.to_string() };
        let info = match self.conn_mut()?.call(request).await? {
            Ok(Response::Org { info }) => *info,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::UnknownOrg => {
                return Err(ClientError::UnknownOrg { handle: handle.to_string() });
            }
            Err(body) => return Err(ClientError::server(body)),
        };
        let now = self.clock.now_ms();
        match self.state.pins.get(handle).cloned() {
            None => {
                let verified = verify_directory(&info, handle, None, now)?;
                self.state.pins.insert(
                    handle.to_string(),
                    OrgPin {
                        org: verified.org,
                        handle: handle.to_string(),
                        key: verified.key,
                        verified: false,
                        pinned_at: now,
                        conflicting_key: None,
                        directory: Some(info),
                    },
                );
                self.save().await?;
                Ok(verified)
            }
            Some(mut pin) => {
                self.follow_rotation(&mut pin, &info, handle)?;
                if info.org_key.is_some_and(|k| k != pin.key) || info.org != pin.org {
                    // Remembered, so that the error persists even when the
                    // next command cannot reach the server.
                    pin.conflicting_key = Some(info.org_key.unwrap_or(pin.key));
                    self.state.pins.insert(handle.to_string(), pin);
                    self.save().await?;
                    return Err(self.pin(handle).err().unwrap_or(ClientError::InvalidOrgData {
                        handle: handle.to_string(),
                        reason: "the org id changed".into(),
                    }));
                }
                check_staff_list(pin.directory.as_ref(), &info, &pin.key, handle)?;
                let merged = merge_directory(pin.directory.as_ref(), info, &pin.key);
                let verified = verify_directory(&merged, handle, Some(&pin), now)?;
                pin.directory = Some(merged);
                self.state.pins.insert(handle.to_string(), pin);
                self.save().await?;
                Ok(verified)
            }
        }
    }

    /// Follows the org's signed key rotation chain from the pinned key
    /// (see `org_rotation` in the protocol crate): a valid chain that
    /// extends the one this device accepted and leads from the pinned key
    /// to the key the server presents re-pins silently (the pin stays
    /// verified: the pinned key itself signed the change), dropping the
    /// cached objects the old key signed. A key change without such a chain
    /// is left to the caller's hard error; a rewritten or rolled-back chain
    /// under an unchanged key is refused here.
    fn follow_rotation(
        &mut self,
        pin: &mut OrgPin,
        info: &OrgInfo,
        handle: &str,
    ) -> Result<(), ClientError> {
        let Some(presented) = info.org_key else { return Ok(()) };
        if info.org != pin.org {
            return Ok(());
        }
        let accepted = pin.directory.as_ref().map(|d| d.rotations.as_slice()).unwrap_or_default();
        match follow_chain(&pin.org, &pin.key, accepted, &info.rotations, &presented) {
            Ok(followed) if followed.rotated => {
                tracing::info!("the org key changed by a rotation the pinned key signed");
                pin.key = followed.key;
                pin.directory = None;
                pin.pinned_at = self.clock.now_ms();
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(err) if presented == pin.key => Err(ClientError::InvalidOrgData {
                handle: handle.to_string(),
                reason: format!(
                    "its key rotation chain does not continue the one this device accepted ({err})"
                ),
            }),
            // A key change without a valid chain from the pinned key: the
            // caller's hard error (`OrgKeyChanged`).
            Err(err) => {
                tracing::warn!(%err, "the org key changed without a valid rotation chain");
                Ok(())
            }
        }
    }

    /// Compares a fingerprint the user read off the town's poster (or the QR
    /// code's content) with the pinned key and marks it verified. Without a
    /// pin, the org is fetched (and pinned) first, which needs a connection.
    pub async fn verify_org(
        &mut self,
        handle: &str,
        fingerprint: &str,
    ) -> Result<VerifyOutcome, ClientError> {
        if !self.state.pins.contains_key(handle) {
            if !self.is_connected() {
                self.connect_and_catch_up().await?;
            }
            self.fetch_org(handle).await?;
        }
        let Some(pin) = self.state.pins.get_mut(handle) else {
            return Err(ClientError::UnknownOrg { handle: handle.to_string() });
        };
        if fingerprint_matches(fingerprint, handle, &pin.key) {
            pin.verified = true;
            let fingerprint = fingerprint_of(&pin.key.0);
            if pin.conflicting_key.is_some() {
                // The user confirmed the key they pinned: the other one
                // stays refused.
                self.save().await?;
                return Err(self.pin(handle).err().unwrap_or(ClientError::NotConnected));
            }
            self.save().await?;
            return Ok(VerifyOutcome::Verified { fingerprint });
        }
        if let Some(presented) = pin.conflicting_key
            && fingerprint_matches(fingerprint, handle, &presented)
        {
            // The town really changed its key (the poster shows the new
            // one): start over with the new key, verified.
            pin.key = presented;
            pin.verified = true;
            pin.conflicting_key = None;
            pin.directory = None;
            pin.pinned_at = self.clock.now_ms();
            self.save().await?;
            return Ok(VerifyOutcome::Repinned { fingerprint: fingerprint_of(&presented.0) });
        }
        Err(ClientError::FingerprintMismatch {
            handle: handle.to_string(),
            pinned: fingerprint_of(&pin.key.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff::tests::certificate;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::org::{ORG_VERSION, Signed};
    use stadtbote_protocol::{AccountId, DeviceId};

    const ORG: OrgId = OrgId([1; 16]);

    fn directory(org_key: &DeviceSecret, profile_version: u64, revoked: Vec<DeviceId>) -> OrgInfo {
        let mut profile = OrgProfile::new(ORG, "goslar".into(), "Stadt Goslar".into(), 0);
        profile.version = profile_version;
        let list = RevocationList {
            v: ORG_VERSION,
            org: ORG,
            version: profile_version,
            revoked,
            updated_at: 0,
        };
        let cert = certificate(
            ORG,
            org_key,
            AccountId([2; 16]),
            DeviceId([2; 16]),
            IdentityKey([2; 32]),
            "bauhof",
            u64::MAX,
        );
        let staff_list = stadtbote_protocol::org::testing::staff_list(
            ORG,
            org_key,
            profile_version,
            std::slice::from_ref(&cert),
            &[],
        );
        OrgInfo {
            org: ORG,
            handle: "goslar".into(),
            org_key: Some(org_key.identity_key()),
            profile: Some(Signed::sign(SignedKind::Profile, &profile, org_key)),
            staff: vec![cert],
            revocations: Some(Signed::sign(SignedKind::Revocations, &list, org_key)),
            staff_list: Some(staff_list),
            rotations: Vec::new(),
        }
    }

    fn pin_for(key: IdentityKey) -> OrgPin {
        OrgPin {
            org: ORG,
            handle: "goslar".into(),
            key,
            verified: false,
            pinned_at: 0,
            conflicting_key: None,
            directory: None,
        }
    }

    #[test]
    fn first_contact_pins_and_a_changed_key_is_refused() {
        let org_key = DeviceSecret::generate();
        let info = directory(&org_key, 1, vec![]);
        let verified = verify_directory(&info, "goslar", None, 5).unwrap();
        assert_eq!(verified.name(), "Stadt Goslar");
        assert_eq!(verified.valid_staff("bauhof").len(), 1);
        let pin = pin_for(org_key.identity_key());
        assert!(verify_directory(&info, "goslar", Some(&pin), 5).is_ok());

        let impostor = DeviceSecret::generate();
        let forged = directory(&impostor, 2, vec![]);
        let err = verify_directory(&forged, "goslar", Some(&pin), 5).unwrap_err();
        assert!(matches!(err, ClientError::OrgKeyChanged { .. }), "{err}");
        // Objects signed by another key under the pinned key are refused too.
        let mut mixed = info.clone();
        mixed.profile = forged.profile.clone();
        assert!(matches!(
            verify_directory(&mixed, "goslar", Some(&pin), 5),
            Err(ClientError::InvalidOrgData { .. })
        ));
        assert!(verify_directory(&info, "other", None, 5).is_err());
    }

    #[test]
    fn revocations_apply_and_cannot_be_rolled_back() {
        let org_key = DeviceSecret::generate();
        let key = org_key.identity_key();
        let newer = directory(&org_key, 3, vec![DeviceId([2; 16])]);
        let older = directory(&org_key, 2, vec![]);
        let merged = merge_directory(Some(&newer), older, &key);
        let verified = verify_directory(&merged, "goslar", Some(&pin_for(key)), 5).unwrap();
        assert_eq!(verified.profile.as_ref().unwrap().version, 3);
        assert_eq!(verified.revocations.as_ref().unwrap().version, 3);
        assert!(verified.valid_staff("bauhof").is_empty(), "the revoked device stays revoked");
        assert!(verified.staff[0].revoked);
    }

    #[test]
    fn an_older_or_missing_staff_list_is_refused_and_one_by_another_key_too() {
        let org_key = DeviceSecret::generate();
        let key = org_key.identity_key();
        let newer = directory(&org_key, 3, vec![]);
        let older = directory(&org_key, 2, vec![]);
        assert!(check_staff_list(Some(&older), &newer, &key, "goslar").is_ok());
        assert!(check_staff_list(None, &older, &key, "goslar").is_ok());
        assert!(check_staff_list(Some(&newer), &newer, &key, "goslar").is_ok());
        let err = check_staff_list(Some(&newer), &older, &key, "goslar").unwrap_err();
        assert!(matches!(err, ClientError::StaffListRolledBack { seen: 3, .. }), "{err}");
        let mut stripped = newer.clone();
        stripped.staff_list = None;
        let err = check_staff_list(Some(&newer), &stripped, &key, "goslar").unwrap_err();
        assert!(err.to_string().contains("no version"), "{err}");
        // A list signed by another key is refused, and does not count as
        // progress either.
        let mut foreign = newer.clone();
        foreign.staff_list = directory(&DeviceSecret::generate(), 9, vec![]).staff_list;
        assert!(check_staff_list(Some(&newer), &foreign, &key, "goslar").is_err());
        assert!(matches!(
            verify_directory(&foreign, "goslar", Some(&pin_for(key)), 5),
            Err(ClientError::InvalidOrgData { .. })
        ));
        // Without the list nobody is valid staff; the certificate stays
        // recognisable (unlisted).
        let verified = verify_directory(&stripped, "goslar", Some(&pin_for(key)), 5).unwrap();
        assert!(verified.valid_staff("bauhof").is_empty());
        assert!(verified.staff[0].unlisted);
    }

    #[test]
    fn fingerprints_match_in_any_grouping_or_as_qr_content() {
        let key = IdentityKey([3; 32]);
        let fp = fingerprint_of(&key.0);
        assert!(fingerprint_matches(&fp, "goslar", &key));
        assert!(fingerprint_matches(&fp.to_uppercase().replace(' ', "-"), "goslar", &key));
        assert!(fingerprint_matches(
            &crate::app_links::org_qr_content("goslar", &key),
            "goslar",
            &key
        ));
        assert!(!fingerprint_matches(
            &crate::app_links::org_qr_content("other", &key),
            "goslar",
            &key
        ));
        assert!(!fingerprint_matches("0000 0000 0000 0000 0000 0000 0000 0000", "goslar", &key));
        assert!(!fingerprint_matches("", "goslar", &key));
    }
}
