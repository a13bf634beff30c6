//! Handing over and replacing an org key: the signed rotation chain.
//!
//! An org key changes hands (after an election) or must be replaced (a
//! stolen laptop). Each change is one [`OrgKeyRotation`] link: it names the
//! old and the new key, its position in the org's chain (`sequence`, 1 for
//! the first rotation), why (`handover` or `compromised`) and when. The OLD
//! key signs it (so nobody but the key's holder can move the org away from
//! it) and the NEW key signs the same bytes (so a rotation cannot name a key
//! whose holder never agreed). The org's rotation chain is the list of all
//! links in order, from the org's first key to its current one.
//!
//! A client that pinned some key of the chain follows the links after it
//! ([`follow_chain`]) and re-pins to the chain's last key. It keeps the
//! chain it accepted and only accepts a chain that extends it: once a
//! client saw a `compromised` rotation away from a key, a second rotation
//! signed by that (stolen) key — a fork — is refused. A key that does not
//! follow from the pinned key by a valid chain is, as before, a hard error.

use serde::{Deserialize, Serialize};

use crate::auth::{DeviceSecret, IdentityKey, Signature};
use crate::ids::OrgId;
use crate::org::{ORG_VERSION, OrgError, Signed, SignedKind, signed_message};

/// Why an org key was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationReason {
    /// Regular handover: the old key is retired but was never in other hands.
    Handover,
    /// The old key may be held by somebody else: clients treat it as
    /// revoked from `at` on.
    Compromised,
}

/// One link of an org's rotation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgKeyRotation {
    /// [`ORG_VERSION`].
    pub v: u16,
    /// The org.
    pub org: OrgId,
    /// The key being replaced (signs this link).
    pub old_key: IdentityKey,
    /// The replacement (also signs this link).
    pub new_key: IdentityKey,
    /// Position in the org's chain: 1 for the first rotation, then +1.
    pub sequence: u64,
    /// Handover or compromise.
    pub reason: RotationReason,
    /// When the rotation was made (Unix ms); for a compromise, the moment
    /// from which the old key counts as revoked.
    pub at: u64,
}

/// A rotation link as published: the [`OrgKeyRotation`] signed by the old
/// key, and the new key's signature over the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRotation {
    /// [`OrgKeyRotation`] signed by its `old_key` as [`SignedKind::KeyRotation`].
    pub by_old: Signed,
    /// The `new_key`'s signature over the same bytes as
    /// [`SignedKind::KeyRotationAccept`].
    pub by_new: Signature,
}

impl SignedRotation {
    /// Makes link number `sequence` of `org`'s chain from `old` to `new`.
    pub fn sign(
        org: OrgId,
        old: &DeviceSecret,
        new: &DeviceSecret,
        sequence: u64,
        reason: RotationReason,
        at: u64,
    ) -> (OrgKeyRotation, SignedRotation) {
        let rotation = OrgKeyRotation {
            v: ORG_VERSION,
            org,
            old_key: old.identity_key(),
            new_key: new.identity_key(),
            sequence,
            reason,
            at,
        };
        let by_old = Signed::sign(SignedKind::KeyRotation, &rotation, old);
        let by_new = new.sign(&signed_message(SignedKind::KeyRotationAccept, &by_old.bytes));
        (rotation, SignedRotation { by_old, by_new })
    }

    /// Verifies one link on its own: both signatures (by the keys it
    /// names), the org, and that it rotates to a different key.
    pub fn verify(&self, org: &OrgId) -> Result<OrgKeyRotation, OrgError> {
        let rotation: OrgKeyRotation = self.by_old.decode_unverified(SignedKind::KeyRotation)?;
        let checked: OrgKeyRotation =
            self.by_old.verify(SignedKind::KeyRotation, &rotation.old_key)?;
        rotation
            .new_key
            .verify(
                &signed_message(SignedKind::KeyRotationAccept, &self.by_old.bytes),
                &self.by_new,
            )
            .map_err(|_| OrgError::BadSignature)?;
        if checked.org != *org {
            return Err(OrgError::Mismatch);
        }
        if checked.old_key == checked.new_key || checked.sequence == 0 {
            return Err(OrgError::Invalid("org key rotation"));
        }
        Ok(checked)
    }
}

/// A whole rotation chain, verified: every link valid, numbered 1, 2, …,
/// each starting at the key the previous one ended at, and no key used twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The links, in order.
    pub links: Vec<OrgKeyRotation>,
}

impl VerifiedChain {
    /// Verifies `chain` of `org`.
    pub fn verify(org: &OrgId, chain: &[SignedRotation]) -> Result<Self, OrgError> {
        let mut links: Vec<OrgKeyRotation> = Vec::with_capacity(chain.len());
        for (index, signed) in chain.iter().enumerate() {
            let link = signed.verify(org)?;
            if u64::try_from(index).ok().and_then(|i| i.checked_add(1)) != Some(link.sequence) {
                return Err(OrgError::Invalid("org key rotation chain (sequence)"));
            }
            if let Some(previous) = links.last() {
                if previous.new_key != link.old_key {
                    return Err(OrgError::Invalid("org key rotation chain (broken link)"));
                }
                if link.at < previous.at {
                    return Err(OrgError::Invalid("org key rotation chain (time)"));
                }
            }
            // A key may appear once: rotating back to an earlier (possibly
            // stolen) key would revive it. (The old key is the previous
            // link's new key, checked above.)
            if links.iter().any(|l| l.old_key == link.new_key || l.new_key == link.new_key) {
                return Err(OrgError::Invalid("org key rotation chain (key reused)"));
            }
            links.push(link);
        }
        Ok(VerifiedChain { links })
    }

    /// The chain's current key: the last link's new key, or `first` (the
    /// org's key) when nothing was rotated yet.
    pub fn current_key(&self, first: &IdentityKey) -> IdentityKey {
        self.links.last().map_or(*first, |l| l.new_key)
    }

    /// Whether `key` is reached by this chain at or after `from` (a key on
    /// it, or `from` itself).
    fn reaches(&self, from: &IdentityKey, key: &IdentityKey) -> bool {
        let start = self.links.iter().position(|l| l.old_key == *from);
        match start {
            Some(i) => self.links[i..].iter().any(|l| l.new_key == *key),
            None => false,
        }
    }

    /// When `key` was revoked by a `compromised` rotation away from it, if
    /// it was: anything it signed dated after this is not to be trusted.
    pub fn revoked_at(&self, key: &IdentityKey) -> Option<u64> {
        self.links
            .iter()
            .find(|l| l.old_key == *key && l.reason == RotationReason::Compromised)
            .map(|l| l.at)
    }
}

/// A key the org used before its current one, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    /// The earlier org key.
    pub key: IdentityKey,
    /// When the rotation away from it was made (Unix ms): what it signed
    /// is trusted only when dated before this.
    pub until: u64,
    /// Handover or compromise.
    pub reason: RotationReason,
}

/// The org keys a verified rotation chain vouches for, for checking
/// things signed over time (e.g. channel posts kept for weeks): the
/// current key without a time limit, every earlier key of the chain only
/// for what it signed dated before the rotation away from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgKeys {
    /// The chain's current key.
    pub current: IdentityKey,
    /// The earlier keys, newest first.
    pub retired: Vec<RetiredKey>,
}

impl OrgKeys {
    /// An org that never rotated its key.
    pub fn single(key: IdentityKey) -> Self {
        OrgKeys { current: key, retired: Vec::new() }
    }

    /// Whether `key` is the current key or one of the retired ones.
    pub fn contains(&self, key: &IdentityKey) -> bool {
        self.current == *key || self.retired.iter().any(|r| r.key == *key)
    }
}

impl VerifiedChain {
    /// The keys this chain vouches for, `first` being the org's key when
    /// nothing was rotated yet.
    pub fn keys(&self, first: &IdentityKey) -> OrgKeys {
        OrgKeys {
            current: self.current_key(first),
            retired: self
                .links
                .iter()
                .rev()
                .map(|l| RetiredKey { key: l.old_key, until: l.at, reason: l.reason })
                .collect(),
        }
    }
}

/// The keys of `org`'s rotation `chain` (as accepted by [`follow_chain`])
/// whose current key is `current`; an invalid chain, or one that ends at
/// another key, is an error.
pub fn org_keys(
    org: &OrgId,
    chain: &[SignedRotation],
    current: &IdentityKey,
) -> Result<OrgKeys, OrgError> {
    let keys = VerifiedChain::verify(org, chain)?.keys(current);
    if keys.current != *current {
        return Err(OrgError::Invalid("org key rotation chain (current key)"));
    }
    Ok(keys)
}

/// Why a client refuses to follow an org's key change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// A link or the chain's structure is invalid.
    #[error("invalid org key rotation: {0}")]
    Invalid(#[from] OrgError),
    /// The served chain does not extend the chain this client accepted
    /// before: a second rotation away from a key (e.g. signed by a stolen,
    /// revoked key), or a rewritten history.
    #[error("the org key rotation chain conflicts with the one accepted before")]
    Forked,
    /// The directory's key does not follow from the pinned key by the
    /// served chain: an unsigned key change.
    #[error("the org key changed without a rotation signed by the pinned key")]
    Unsigned,
}

/// What a client pins after following a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// The org's current key (pin it).
    pub key: IdentityKey,
    /// The chain accepted (store it; the next served chain must extend it).
    pub chain: Vec<SignedRotation>,
    /// Whether the key changed from the pinned one.
    pub rotated: bool,
}

/// Follows `org`'s rotation chain from the key this client pinned.
///
/// `pinned` is the pinned key, `accepted` the chain the client accepted
/// before (empty if none), `served` the chain the server serves now and
/// `served_key` the org key the directory names. The served chain must
/// verify, extend `accepted` link for link, and lead from `pinned` to
/// `served_key`; otherwise the key change is refused.
pub fn follow_chain(
    org: &OrgId,
    pinned: &IdentityKey,
    accepted: &[SignedRotation],
    served: &[SignedRotation],
    served_key: &IdentityKey,
) -> Result<Followed, RotationError> {
    if served.len() < accepted.len() || served[..accepted.len()] != *accepted {
        return Err(RotationError::Forked);
    }
    let chain = VerifiedChain::verify(org, served)?;
    if let Some(last) = chain.links.last()
        && last.new_key != *served_key
    {
        return Err(RotationError::Unsigned);
    }
    let rotated = pinned != served_key;
    if rotated && !chain.reaches(pinned, served_key) {
        return Err(RotationError::Unsigned);
    }
    if !rotated && chain.links.last().is_some_and(|l| l.new_key != *pinned) {
        return Err(RotationError::Unsigned);
    }
    Ok(Followed { key: *served_key, chain: served.to_vec(), rotated })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: OrgId = OrgId([1; 16]);

    fn keys() -> (DeviceSecret, DeviceSecret, DeviceSecret) {
        (DeviceSecret::generate(), DeviceSecret::generate(), DeviceSecret::generate())
    }

    #[test]
    fn a_signed_handover_is_followed_from_the_pinned_key() {
        let (a, b, c) = keys();
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 1, RotationReason::Handover, 100);
        let (_, bc) = SignedRotation::sign(ORG, &b, &c, 2, RotationReason::Handover, 200);
        let chain = vec![ab.clone(), bc.clone()];
        // Pinned the first key, never saw a rotation: follows two links.
        let followed =
            follow_chain(&ORG, &a.identity_key(), &[], &chain, &c.identity_key()).unwrap();
        assert!(followed.rotated);
        assert_eq!(followed.key, c.identity_key());
        // Pinned the middle key after seeing the first link.
        let followed = follow_chain(
            &ORG,
            &b.identity_key(),
            std::slice::from_ref(&ab),
            &chain,
            &c.identity_key(),
        )
        .unwrap();
        assert_eq!(followed.chain, chain);
        // Nothing changed.
        let same =
            follow_chain(&ORG, &c.identity_key(), &chain, &chain, &c.identity_key()).unwrap();
        assert!(!same.rotated);
        let fresh = DeviceSecret::generate();
        assert!(
            !follow_chain(&ORG, &fresh.identity_key(), &[], &[], &fresh.identity_key())
                .unwrap()
                .rotated
        );
    }

    #[test]
    fn an_unsigned_key_change_is_refused() {
        let (a, b, c) = keys();
        // No chain at all.
        assert_eq!(
            follow_chain(&ORG, &a.identity_key(), &[], &[], &b.identity_key()),
            Err(RotationError::Unsigned)
        );
        // A valid chain that leads elsewhere than the directory's key.
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 1, RotationReason::Handover, 1);
        assert_eq!(
            follow_chain(
                &ORG,
                &a.identity_key(),
                &[],
                std::slice::from_ref(&ab),
                &c.identity_key()
            ),
            Err(RotationError::Unsigned)
        );
        // A chain that does not start at the pinned key.
        let (_, bc) = SignedRotation::sign(ORG, &b, &c, 1, RotationReason::Handover, 1);
        assert_eq!(
            follow_chain(&ORG, &a.identity_key(), &[], &[bc], &c.identity_key()),
            Err(RotationError::Unsigned)
        );
        // Signed by the new key only (the old signature forged by another key).
        let (rotation, _) = SignedRotation::sign(ORG, &a, &c, 1, RotationReason::Handover, 1);
        let by_old = Signed::sign(SignedKind::KeyRotation, &rotation, &c);
        let by_new = c.sign(&signed_message(SignedKind::KeyRotationAccept, &by_old.bytes));
        assert_eq!(
            follow_chain(
                &ORG,
                &a.identity_key(),
                &[],
                &[SignedRotation { by_old, by_new }],
                &c.identity_key()
            ),
            Err(RotationError::Invalid(OrgError::BadSignature))
        );
        // Signed by the old key but naming a new key whose holder never signed.
        let (_, mut ac) = SignedRotation::sign(ORG, &a, &c, 1, RotationReason::Handover, 1);
        ac.by_new = b.sign(&signed_message(SignedKind::KeyRotationAccept, &ac.by_old.bytes));
        assert_eq!(
            follow_chain(&ORG, &a.identity_key(), &[], &[ac], &c.identity_key()),
            Err(RotationError::Invalid(OrgError::BadSignature))
        );
    }

    #[test]
    fn a_second_rotation_by_a_revoked_key_is_refused() {
        let (a, b, thief) = keys();
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 1, RotationReason::Compromised, 100);
        let accepted = follow_chain(
            &ORG,
            &a.identity_key(),
            &[],
            std::slice::from_ref(&ab),
            &b.identity_key(),
        )
        .unwrap();
        let chain = VerifiedChain::verify(&ORG, &accepted.chain).unwrap();
        assert_eq!(chain.revoked_at(&a.identity_key()), Some(100));
        assert_eq!(chain.revoked_at(&b.identity_key()), None);
        // The thief signs a rotation from the stolen key to its own.
        let (_, forged) = SignedRotation::sign(ORG, &a, &thief, 1, RotationReason::Handover, 200);
        assert_eq!(
            follow_chain(
                &ORG,
                &b.identity_key(),
                &accepted.chain,
                std::slice::from_ref(&forged),
                &thief.identity_key()
            ),
            Err(RotationError::Forked)
        );
        // Or appends it after the genuine link.
        let (_, forged2) = SignedRotation::sign(ORG, &a, &thief, 2, RotationReason::Handover, 200);
        assert!(matches!(
            follow_chain(
                &ORG,
                &b.identity_key(),
                &accepted.chain,
                &[ab.clone(), forged2],
                &thief.identity_key()
            ),
            Err(RotationError::Invalid(_))
        ));
        // Or rotates back to the stolen key.
        let (_, back) = SignedRotation::sign(ORG, &b, &a, 2, RotationReason::Handover, 300);
        assert!(matches!(
            follow_chain(&ORG, &b.identity_key(), &accepted.chain, &[ab, back], &a.identity_key()),
            Err(RotationError::Invalid(_))
        ));
    }

    #[test]
    fn a_chain_vouches_for_each_earlier_key_until_its_rotation() {
        let (a, b, c) = keys();
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 1, RotationReason::Handover, 100);
        let (_, bc) = SignedRotation::sign(ORG, &b, &c, 2, RotationReason::Compromised, 200);
        let chain = VerifiedChain::verify(&ORG, &[ab, bc]).unwrap();
        let keys = chain.keys(&a.identity_key());
        assert_eq!(keys.current, c.identity_key());
        assert_eq!(
            keys.retired,
            vec![
                RetiredKey {
                    key: b.identity_key(),
                    until: 200,
                    reason: RotationReason::Compromised
                },
                RetiredKey { key: a.identity_key(), until: 100, reason: RotationReason::Handover },
            ]
        );
        assert!(keys.contains(&a.identity_key()));
        assert!(!keys.contains(&DeviceSecret::generate().identity_key()));
        let none = VerifiedChain::verify(&ORG, &[]).unwrap().keys(&a.identity_key());
        assert_eq!(none, OrgKeys::single(a.identity_key()));
    }

    #[test]
    fn links_are_numbered_and_bound_to_the_org() {
        let (a, b, c) = keys();
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 2, RotationReason::Handover, 1);
        assert!(VerifiedChain::verify(&ORG, &[ab]).is_err());
        let (_, ab) = SignedRotation::sign(ORG, &a, &b, 1, RotationReason::Handover, 1);
        assert_eq!(ab.verify(&OrgId([9; 16])), Err(OrgError::Mismatch));
        let (_, bc) = SignedRotation::sign(ORG, &b, &c, 2, RotationReason::Handover, 0);
        assert!(VerifiedChain::verify(&ORG, &[ab.clone(), bc]).is_err(), "time went backwards");
        // A rotation signature is not a profile signature and vice versa.
        assert!(
            ab.by_old.verify::<OrgKeyRotation>(SignedKind::Profile, &a.identity_key()).is_err()
        );
    }

    /// The test vector of docs/PROTOCOL.md ("Org key rotation").
    #[test]
    fn rotation_test_vector() {
        let old = DeviceSecret::from_bytes(&[0x11; 32]).unwrap();
        let new = DeviceSecret::from_bytes(&[0x22; 32]).unwrap();
        let (_, signed) =
            SignedRotation::sign(ORG, &old, &new, 1, RotationReason::Compromised, 500);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let got = [
            hex(&old.identity_key().0),
            hex(&new.identity_key().0),
            hex(&signed.by_old.bytes),
            hex(&signed.by_old.signature.0),
            hex(&signed.by_new.0),
        ];
        assert_eq!(got, VECTOR, "{got:#?}");
        assert!(signed.verify(&ORG).is_ok());
    }

    const VECTOR: [&str; 5] = [
        "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737",
        "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0",
        concat!(
            "a7617601636f72675001010101010101010101010101010101676f6c645f6b65",
            "795820d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9",
            "778737676e65775f6b65795820a09aa5f47a6759802ff955f8dc2d2a14a5c99d",
            "23be97f864127ff9383455a4f06873657175656e63650166726561736f6e6b63",
            "6f6d70726f6d697365646261741901f4",
        ),
        concat!(
            "7bc6035da6a0810784a0416527d95a7929a083eab3755c8f5be9ffd3352f5fb5",
            "9d7b9677a8ba88d5897f8c6217e3f3da92f8498622f6f0790821f0a0c2918304",
        ),
        concat!(
            "8469426442d09a6a4ba013fc31cbc9da5050738c552f42ff022fac8f8b54892c",
            "c71731d051a8bc8c50f8c25cd8bbfe03d67b17cb1bda2a5b040d1f2e41d26f0c",
        ),
    ];
}
