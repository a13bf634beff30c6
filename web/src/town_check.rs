//! Checking a town opened from its link (`#v1/org/<handle>/<key>`, the
//! poster's QR code) against what the server serves: the key in the link
//! is the one the town printed, so the server's directory must present
//! that key (or a newer one the printed key signed over to, the org's
//! rotation chain) and a profile signed by it. Only then the page says
//! "verifiziert". All verification is the protocol crate's
//! (`Signed::verify`, `follow_chain`); nothing cryptographic is done here.
//!
//! A key this browser pinned earlier for the handle counts too: a server
//! that presents the key of a (forged) link but not the one pinned before
//! gets the warning, unless the pinned key signed the change.
//!
//! Pure (no browser), so it is unit-tested natively.

use stadtbote_protocol::auth::{IdentityKey, fingerprint_of};
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::org::{OrgProfile, SignedKind};
use stadtbote_protocol::org_rotation::follow_chain;

/// A town whose directory answer matched its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTown {
    /// The handle.
    pub handle: String,
    /// The town's name from its signed profile (control characters removed).
    pub name: String,
    /// The town's current key (the link's, or the one it rotated to).
    pub key: IdentityKey,
    /// Whether the current key differs from the link's (a rotation the
    /// link's key signed).
    pub rotated: bool,
    /// The profile, verified with [`VerifiedTown::key`]: everything the
    /// town's page shows (categories, hours, channels, the legal pages)
    /// comes from here. Its strings are the town's: shown as text only,
    /// through [`clean`]. Boxed: the profile is large next to the other
    /// states of a link.
    pub profile: Box<OrgProfile>,
}

impl VerifiedTown {
    /// The current key's fingerprint, as the poster prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.key.0)
    }
}

/// Why the server's answer does not match the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The server knows no town by that handle.
    UnknownTown,
    /// The server answered for another handle.
    OtherTown,
    /// The town has not set up its key yet.
    NotSetUp,
    /// The server presents another key, and the link's key did not sign
    /// the change.
    KeyDiffers {
        /// The fingerprint of the key the server presented.
        presented: String,
    },
    /// The key matches, but the town has no profile signed by it (none
    /// published, or one that does not verify).
    NoValidProfile,
    /// This browser pinned another key for the town earlier, and that key
    /// did not sign the change.
    PinnedKeyDiffers {
        /// The fingerprint of the pinned key.
        pinned: String,
    },
}

/// Checks the directory answer `info` for the link's `handle` and `key`,
/// and against `pinned`, the key this browser pinned for the handle before
/// (if any).
pub fn check_town(
    handle: &str,
    key: &IdentityKey,
    pinned: Option<&IdentityKey>,
    info: &OrgInfo,
) -> Result<VerifiedTown, Mismatch> {
    if info.handle != handle {
        return Err(Mismatch::OtherTown);
    }
    let Some(served) = info.org_key else { return Err(Mismatch::NotSetUp) };
    let reaches = |from: &IdentityKey| follow_chain(&info.org, from, &[], &info.rotations, &served);
    let followed =
        reaches(key).map_err(|_| Mismatch::KeyDiffers { presented: fingerprint_of(&served.0) })?;
    if let Some(pinned) = pinned
        && *pinned != served
        && reaches(pinned).is_err()
    {
        return Err(Mismatch::PinnedKeyDiffers { pinned: fingerprint_of(&pinned.0) });
    }
    let profile: OrgProfile = info
        .profile
        .as_ref()
        .and_then(|signed| signed.verify(SignedKind::Profile, &followed.key).ok())
        .ok_or(Mismatch::NoValidProfile)?;
    if profile.org != info.org || profile.handle != handle {
        return Err(Mismatch::NoValidProfile);
    }
    Ok(VerifiedTown {
        handle: handle.to_string(),
        name: clean(&profile.name),
        key: followed.key,
        rotated: followed.rotated,
        profile: Box::new(profile),
    })
}

/// `text` without control and bidi-override characters (the name is the
/// town's, shown as text; this keeps it from reordering the page's text).
/// Line breaks go too: multi-line texts are split into lines first.
pub fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::org::Signed;

    fn info(secret: &DeviceSecret, handle: &str, name: &str) -> OrgInfo {
        let org = OrgId([1; 16]);
        let profile = OrgProfile::new(org, handle.into(), name.into(), 1);
        OrgInfo {
            org,
            handle: handle.into(),
            org_key: Some(secret.identity_key()),
            profile: Some(Signed::sign(SignedKind::Profile, &profile, secret)),
            staff: Vec::new(),
            revocations: None,
            staff_list: None,
            rotations: Vec::new(),
        }
    }

    #[test]
    fn the_links_key_and_a_profile_it_signed_verify() {
        let town = DeviceSecret::generate();
        let key = town.identity_key();
        let info = info(&town, "goslar", "Stadt Goslar\u{202E}");
        let verified = check_town("goslar", &key, None, &info).unwrap();
        assert_eq!(verified.name, "Stadt Goslar");
        assert_eq!(verified.fingerprint(), fingerprint_of(&key.0));
        assert!(!verified.rotated);
        assert_eq!(check_town("goslar", &key, Some(&key), &info), Ok(verified));
    }

    #[test]
    fn another_key_another_town_or_a_forged_profile_is_a_mismatch() {
        let town = DeviceSecret::generate();
        let impostor = DeviceSecret::generate();
        let key = town.identity_key();
        // The server presents its own key and a profile signed with it.
        let forged = info(&impostor, "goslar", "Stadt Goslar");
        assert_eq!(
            check_town("goslar", &key, None, &forged),
            Err(Mismatch::KeyDiffers { presented: fingerprint_of(&impostor.identity_key().0) })
        );
        // The right key, but a profile signed by another.
        let mut swapped = forged.clone();
        swapped.org_key = Some(key);
        assert_eq!(check_town("goslar", &key, None, &swapped), Err(Mismatch::NoValidProfile));
        let mut none = info(&town, "goslar", "x");
        none.profile = None;
        assert_eq!(check_town("goslar", &key, None, &none), Err(Mismatch::NoValidProfile));
        none.org_key = None;
        assert_eq!(check_town("goslar", &key, None, &none), Err(Mismatch::NotSetUp));
        assert_eq!(
            check_town("goslar", &key, None, &info(&town, "wernigerode", "x")),
            Err(Mismatch::OtherTown)
        );
        // A link forged for the server's key does not override an earlier pin.
        let forged_key = impostor.identity_key();
        assert_eq!(
            check_town("goslar", &forged_key, Some(&key), &forged),
            Err(Mismatch::PinnedKeyDiffers { pinned: fingerprint_of(&key.0) })
        );
    }
}
