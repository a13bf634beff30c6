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
//! What [`OrgInfoView`] renders — text and the `--json` object — is a
//! contract for scripts (see `stadtbote org info --help`).

use serde_json::{Value, json};
use stadtbote_client::clock::Clock;
use stadtbote_client::storage::Storage;
use stadtbote_client::transport::Connector;
use stadtbote_i18n::tr;
use stadtbote_protocol::auth::fingerprint_of;
use stadtbote_protocol::org::OrgProfile;
use stadtbote_protocol::{ErrorCode, Request, Response};

use crate::connection::Connection;
use crate::error::ClientError;
use crate::org::DEFAULT_CONSULT_DEPARTMENT;
use crate::output::{format_utc, safe, safe_body, safe_json};
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
pub async fn org_info_without_account<C: Clock>(
    server_url: &str,
    handle: &str,
    clock: C,
) -> Result<OrgInfoView, ClientError> {
    let now = clock.now_ms();
    let (mut conn, _) = Connection::connect_with(server_url, clock).await?;
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
fn consult_department(profile: &OrgProfile) -> &str {
    profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT)
}

/// Every department the profile names (categories and consultations),
/// sorted, once each.
fn departments(profile: &OrgProfile) -> Vec<&str> {
    let mut out: Vec<&str> = profile.categories.iter().map(|c| c.department.as_str()).collect();
    out.push(consult_department(profile));
    out.sort_unstable();
    out.dedup();
    out
}

impl OrgInfoView {
    /// The `--json` object (field names stable, in English; times in Unix
    /// ms UTC; every string from the server through [`safe_json`] when
    /// printed).
    pub fn to_json(&self) -> Value {
        let org = &self.org;
        let profile = org.profile.as_ref();
        let previous = match &self.trust {
            KeyTrust::Rotated { previous, .. } => Some(previous.clone()),
            _ => None,
        };
        let verified = match &self.trust {
            KeyTrust::Verified => true,
            KeyTrust::Rotated { verified, .. } => *verified,
            _ => false,
        };
        json!({
            "handle": org.handle,
            "org": org.org.to_string(),
            "name": org.name(),
            "fingerprint": org.fingerprint(),
            "verification": self.trust.as_str(),
            "pinned": self.trust.is_pinned(),
            "fingerprint_verified": verified,
            "previous_fingerprint": previous,
            "key_rotations": self.key_rotations,
            "offline": self.offline,
            "profile_version": profile.map(|p| p.version),
            "updated_at": profile.map(|p| p.updated_at),
            "categories": profile.map_or_else(Vec::new, |p| p
                .categories
                .iter()
                .map(|c| json!({"name": c.name, "department": c.department}))
                .collect()),
            "departments": profile.map_or_else(Vec::new, departments),
            "consult_department": profile.map(consult_department),
            "timezone": profile.map(|p| p.timezone.as_str()),
            "office_hours": profile.map_or_else(Vec::new, |p| if p.office_hours.is_empty() {
                Vec::new()
            } else {
                vec![json!({
                    "department": consult_department(p),
                    "slots": p.office_hours.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })]
            }),
            "auto_reply": profile.and_then(|p| p.auto_reply.clone()),
            "live": profile.is_some_and(|p| p.live_since.is_some()),
            "live_since": profile.and_then(|p| p.live_since),
            "channels": profile.map_or_else(Vec::new, |p| p
                .channels
                .iter()
                .map(|c| data_encoding::HEXLOWER.encode(&c.id))
                .collect()),
        })
    }

    /// The `--json` line as printed.
    pub fn json_line(&self) -> String {
        safe_json(&self.to_json().to_string()).into_owned()
    }

    /// The text form, one line per entry; strings from the server pass
    /// through [`safe`].
    pub fn text_lines(&self) -> Vec<String> {
        let org = &self.org;
        let handle = safe(&org.handle).into_owned();
        let mut out = vec![format!("{} ({handle})", safe(org.name()))];
        out.push(tr!("org-info-fingerprint", fingerprint = org.fingerprint()));
        out.push(tr!("org-info-verification", trust = self.trust_text(&handle)));
        if self.key_rotations > 0 {
            out.push(tr!("org-info-key-rotations", count = self.key_rotations));
        }
        if self.offline {
            out.push(tr!("org-info-offline"));
        }
        let Some(profile) = org.profile.as_ref() else {
            out.push(tr!("org-info-no-profile"));
            return out;
        };
        if profile.categories.is_empty() {
            out.push(tr!("org-info-no-categories"));
        } else {
            out.push(tr!("org-info-categories"));
            for category in &profile.categories {
                let (name, department) = (safe(&category.name), safe(&category.department));
                out.push(format!(
                    "  {}",
                    tr!("org-info-category", name = name, department = department)
                ));
            }
        }
        let consult = safe(consult_department(profile)).into_owned();
        out.push(tr!("org-info-consultations", department = consult.as_str()));
        if profile.office_hours.is_empty() {
            out.push(tr!("org-info-no-hours"));
        } else {
            let slots: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
            out.push(tr!("org-info-hours", timezone = safe(&profile.timezone)));
            out.push(format!("  {consult}: {}", safe(&slots.join(", "))));
        }
        if let Some(reply) = &profile.auto_reply {
            out.push(tr!("org-info-auto-reply", reply = safe_body(reply)));
        }
        out.push(match profile.live_since {
            Some(since) => {
                tr!("org-info-live", since = format_utc(since), handle = handle.as_str())
            }
            None => tr!("org-info-not-live"),
        });
        if profile.channels.is_empty() {
            out.push(tr!("org-info-no-channels"));
        } else {
            out.push(tr!("org-info-channels"));
            for channel in &profile.channels {
                out.push(format!("  {}", data_encoding::HEXLOWER.encode(&channel.id)));
            }
        }
        out.push(tr!(
            "org-info-profile-version",
            version = profile.version,
            time = format_utc(profile.updated_at)
        ));
        out
    }

    fn trust_text(&self, handle: &str) -> String {
        let compare =
            tr!("org-info-compare", handle = handle, fingerprint = self.org.fingerprint());
        match &self.trust {
            KeyTrust::Verified => tr!("org-info-trust-verified"),
            KeyTrust::Pinned => tr!("org-info-trust-pinned", compare = compare),
            KeyTrust::FirstSeen { pinned: true } => {
                tr!("org-info-trust-first-seen-pinned", compare = compare)
            }
            KeyTrust::FirstSeen { pinned: false } => {
                tr!("org-info-trust-first-seen-unpinned", handle = handle)
            }
            KeyTrust::Rotated { previous, verified: false } => {
                tr!("org-info-trust-rotated", previous = previous.as_str())
            }
            KeyTrust::Rotated { previous, verified: true } => {
                tr!("org-info-trust-rotated-verified", previous = previous.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::auth::IdentityKey;
    use stadtbote_protocol::org::{Category, HoursSlot};

    fn view(profile: Option<OrgProfile>, trust: KeyTrust) -> OrgInfoView {
        let org = VerifiedOrg {
            org: OrgId([1; 16]),
            handle: "goslar".into(),
            key: IdentityKey([7; 32]),
            verified: false,
            profile,
            revocations: None,
            staff: Vec::new(),
            pending: Vec::new(),
            staff_list: None,
        };
        OrgInfoView { org, trust, key_rotations: 0, offline: false }
    }

    fn profile() -> OrgProfile {
        let mut p =
            OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Stadt \u{1b}[2JGoslar".into(), 0);
        p.categories.push(Category { name: "Straßenschaden".into(), department: "bauhof".into() });
        p.office_hours.push(HoursSlot::parse("Tue 17:00-18:00").unwrap());
        p.consult_department = Some("buergermeister".into());
        p
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v = view(Some(profile()), KeyTrust::FirstSeen { pinned: false }).to_json();
        assert_eq!(v["verification"], "first_seen");
        assert_eq!(v["pinned"], false);
        assert_eq!(v["categories"][0]["department"], "bauhof");
        assert_eq!(v["departments"], json!(["bauhof", "buergermeister"]));
        assert_eq!(v["office_hours"][0]["department"], "buergermeister");
        assert_eq!(v["office_hours"][0]["slots"][0], "Tue 17:00-18:00");
        assert_eq!(v["live"], false);
        assert_eq!(v["channels"], json!([]));
        assert_eq!(v["fingerprint"], fingerprint_of(&[7; 32]));
    }

    #[test]
    fn text_is_terminal_safe_and_says_what_to_run() {
        let trust = KeyTrust::FirstSeen { pinned: true };
        let lines = view(Some(profile()), trust).text_lines();
        let text = lines.join("\n");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("stadtbote verify goslar"), "{text}");
        assert!(text.contains("  Straßenschaden -> department bauhof"), "{text}");
        assert!(text.contains("  buergermeister: Tue 17:00-18:00"), "{text}");
        assert!(text.contains("channels: none published"), "{text}");
        let rotated = KeyTrust::Rotated { previous: fingerprint_of(&[1; 32]), verified: true };
        assert_eq!(view(None, rotated.clone()).to_json()["verification"], "rotated");
        assert!(view(None, rotated).text_lines().join("\n").contains("profile: none published"));
    }
}
