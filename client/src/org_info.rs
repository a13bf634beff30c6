//! An org's verified public profile, as `stadtbote org info HANDLE` shows it
//! to anyone — a citizen before writing, even before `stadtbote init`.
//!
//! The directory answer is verified exactly as for every other command
//! ([`crate::pinning`]): against the pinned key on a device with an account
//! (pinning it on first contact, following a rotation the pinned key
//! signed, refusing a key change it did not sign), or, on a device without
//! an account, against the key the server presents, which is then only
//! "first seen" and is not stored anywhere: nothing is written to a home
//! that `stadtbote init` has not created. The fingerprint is printed so
//! that the citizen can compare it with the town's poster.
//!
//! How the CLI renders an [`OrgInfoView`] — text and the `--json` object, a
//! contract for scripts (see `stadtbote org info --help`) — is its
//! client-cli/src/org_info_output.rs.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use stadtbote_protocol::auth::fingerprint_of;
use stadtbote_protocol::org::OrgProfile;
use stadtbote_protocol::{ErrorCode, Request, Response};

use crate::connection::Connection;
use crate::error::ClientError;
use crate::org::DEFAULT_CONSULT_DEPARTMENT;
use crate::pinning::{OrgPin, VerifiedOrg, verify_directory};
use crate::session::{Client, unexpected};

/// How far this device trusts the org key shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTrust {
    /// The user compared the fingerprint (`stadtbote verify`).
    Verified,
    /// Pinned on an earlier contact (trust on first use), not compared.
    Pinned,
    /// First seen now: pinned now (with an account) or not stored at all
    /// (without one).
    FirstSeen {
        /// Whether the key is now pinned on this device.
        pinned: bool,
    },
    /// The key changed since the last contact by a rotation the previously
    /// pinned key signed; the new key is pinned now.
    Rotated {
        /// The fingerprint pinned before.
        previous: String,
        /// Whether the pin was verified (it stays so: the verified key
        /// signed the change).
        verified: bool,
    },
}

impl KeyTrust {
    /// The stable `--json` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyTrust::Verified => "verified",
            KeyTrust::Pinned => "pinned",
            KeyTrust::FirstSeen { .. } => "first_seen",
            KeyTrust::Rotated { .. } => "rotated",
        }
    }

    /// Whether the key is pinned on this device after the command.
    pub fn is_pinned(&self) -> bool {
        !matches!(self, KeyTrust::FirstSeen { pinned: false })
    }
}

/// What `org info` shows.
#[derive(Debug, Clone)]
pub struct OrgInfoView {
    /// The verified org.
    pub org: VerifiedOrg,
    /// How far the key is trusted.
    pub trust: KeyTrust,
    /// Signed key rotations the org made so far.
    pub key_rotations: usize,
    /// Set when the server could not be reached: the view is the cached
    /// directory as last verified.
    pub offline: bool,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Fetches and verifies the org's directory (pinning on first contact)
    /// and says how far its key is trusted. Needs a connection.
    pub async fn org_info(&mut self, handle: &str) -> Result<OrgInfoView, ClientError> {
        let before = self.pin(handle)?.cloned();
        self.org_info_since(handle, before).await
    }

    /// [`Client::org_info`], judging the key against `before`, the pin as
    /// it was when the command started (a catch-up may have followed a
    /// rotation already).
    pub async fn org_info_since(
        &mut self,
        handle: &str,
        before: Option<OrgPin>,
    ) -> Result<OrgInfoView, ClientError> {
        let org = self.fetch_org(handle).await?;
        let trust = match before {
            None => KeyTrust::FirstSeen { pinned: true },
            Some(pin) if pin.key != org.key => {
                KeyTrust::Rotated { previous: fingerprint_of(&pin.key.0), verified: org.verified }
            }
            Some(_) if org.verified => KeyTrust::Verified,
            Some(_) => KeyTrust::Pinned,
        };
        Ok(OrgInfoView { key_rotations: self.pinned_rotations(handle), org, trust, offline: false })
    }

    /// The org as last verified on this device (no network), for `org info`
    /// when the server cannot be reached.
    pub fn cached_org_info(&self, handle: &str) -> Result<Option<OrgInfoView>, ClientError> {
        let Some(org) = self.cached_org(handle)? else { return Ok(None) };
        let trust = if org.verified { KeyTrust::Verified } else { KeyTrust::Pinned };
        Ok(Some(OrgInfoView {
            key_rotations: self.pinned_rotations(handle),
            org,
            trust,
            offline: true,
        }))
    }

    fn pinned_rotations(&self, handle: &str) -> usize {
        self.state
            .pins
            .get(handle)
            .and_then(|p| p.directory.as_ref())
            .map_or(0, |d| d.rotations.len())
    }
}

/// `org info` on a device without an account: one unauthenticated
/// directory request (the server answers it without a login), verified
/// against the key it presents. Nothing is stored.
pub async fn org_info_without_account<K: Connector, C: Clock>(
    connector: &K,
    server_url: &str,
    handle: &str,
    clock: C,
) -> Result<OrgInfoView, ClientError> {
    let now = clock.now_ms();
    let (mut conn, _) = Connection::open(connector, clock, server_url).await?;
    let answer = conn.call(Request::OrgDirectory { handle: handle.to_string() }).await;
    conn.close().await;
    let info = match answer? {
        Ok(Response::Org { info }) => *info,
        Ok(other) => return Err(unexpected(server_url, &other)),
        Err(body) if body.code == ErrorCode::UnknownOrg => {
            return Err(ClientError::UnknownOrg { handle: handle.to_string() });
        }
        Err(body) => return Err(ClientError::server(body)),
    };
    let org = verify_directory(&info, handle, None, now)?;
    Ok(OrgInfoView {
        org,
        trust: KeyTrust::FirstSeen { pinned: false },
        key_rotations: info.rotations.len(),
        offline: false,
    })
}

/// The department consultations go to under `profile`.
pub fn consult_department(profile: &OrgProfile) -> &str {
    profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consultation_department_defaults_to_the_default() {
        let mut p = OrgProfile::new(
            stadtbote_protocol::OrgId([1; 16]),
            "goslar".into(),
            "Goslar".into(),
            0,
        );
        assert_eq!(consult_department(&p), DEFAULT_CONSULT_DEPARTMENT);
        p.consult_department = Some("buergermeister".into());
        assert_eq!(consult_department(&p), "buergermeister");
    }
}
