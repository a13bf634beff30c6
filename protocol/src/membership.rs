//! Membership statements and group creation proofs: what lets the server
//! keep its member list equal to the MLS group without reading commits.
//!
//! Commits stay MLS `PrivateMessage`s (docs/PRIVACY.md: a stored envelope
//! names neither the committer nor the members). Instead every `commit`
//! request carries a [`MembershipStatement`] — group, epoch, a salt, and
//! exactly the devices the commit adds and removes — signed by the
//! committing device's identity key over the statement and the SHA-256 of
//! the commit bytes ([`MembershipStatement::signed_message`]). The commit
//! itself carries the statement's digest as its MLS authenticated data
//! ([`MembershipStatement::aad`]), which the MLS signature covers:
//!
//! * the server checks the signature against the committer's registered
//!   key, that the committer is a member, and that the commit's cleartext
//!   framing (group id, epoch, authenticated data) matches the statement,
//!   and then applies exactly the statement's adds and removes;
//! * every receiving member recomputes the digest from what the commit
//!   actually does and refuses a commit whose digest differs
//!   ([`crate::mls::MlsError::MembershipMismatch`]).
//!
//! So a member that tells the server one thing and does another is caught
//! either by the server (digest ≠ declared statement) or by every other
//! member (digest ≠ real changes). The salt is an MLS exporter secret of
//! the epoch the commit is made in ([`SALT_LABEL`]): members know it, a
//! copy of the server's disk does not, so the digest in a stored envelope
//! does not let anyone holding candidate device ids confirm who was added.
//!
//! Hook for staff changes: a statement that adds staff devices is checked by
//! the receiving client against the org's staff certificates where the
//! client routes the commit (threads); [`MembershipStatement::add`] is the
//! exact list to check.
//!
//! [`GroupCreation`] is the proof that a caller may create a group at epoch
//! 0: the 1:1 conversation id of the caller and a named peer, or a random
//! group id derived from a nonce ([`random_group_id`]) — a hash in another
//! domain, so nobody can claim a conversation id as a random group.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use crate::auth::{DeviceSecret, IdentityKey, Signature};
use crate::ids::{AccountId, DeviceId, GroupId, conversation_id};

/// Domain separator of [`MembershipStatement::to_bytes`].
const STATEMENT_DOMAIN: &[u8] = b"stadtbote-membership-v1\0";
/// Domain separator of [`MembershipStatement::signed_message`].
const SIGNATURE_DOMAIN: &[u8] = b"stadtbote-membership-sig-v1\0";
/// Domain separator of [`random_group_id`].
const RANDOM_GROUP_DOMAIN: &[u8] = b"stadtbote-random-group-v1\0";
/// First byte of [`MembershipStatement::aad`] (format version).
pub const AAD_VERSION: u8 = 1;
/// Length of [`MembershipStatement::aad`].
pub const AAD_LEN: usize = 33;
/// MLS exporter label of the statement salt.
pub const SALT_LABEL: &str = "stadtbote membership salt";
/// Length of the salt.
pub const SALT_LEN: usize = 32;
/// Length of a random group's nonce.
pub const NONCE_LEN: usize = 16;

/// Exactly the membership change one commit makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipStatement {
    /// The group.
    pub group: GroupId,
    /// The epoch the commit was created in.
    pub epoch: u64,
    /// MLS exporter secret ([`SALT_LABEL`]) of that epoch.
    pub salt: [u8; SALT_LEN],
    /// Devices added, in any order (encoded sorted).
    pub add: Vec<DeviceId>,
    /// Devices removed, in any order (encoded sorted).
    pub remove: Vec<DeviceId>,
}

/// The signed part of a `commit` request besides its add/remove lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipProof {
    /// The statement's salt ([`SALT_LEN`] bytes).
    pub salt: ByteBuf,
    /// The committing device's signature over
    /// [`MembershipStatement::signed_message`].
    pub signature: Signature,
}

/// Why a group may be created by the caller (sent with an epoch-0 commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupCreation {
    /// The 1:1 conversation of the caller's account and `peer`:
    /// the group id must be [`conversation_id`] of both. Kept so old
    /// requests still decode; servers no longer create groups with it
    /// (new conversations have random ids, [`crate::conversation`]).
    Conversation {
        /// The other account (the caller's own for its own devices).
        peer: AccountId,
    },
    /// A thread or discussion group: the group id must be
    /// [`random_group_id`] of the nonce.
    Random {
        /// [`NONCE_LEN`] random bytes.
        nonce: ByteBuf,
    },
}

impl GroupCreation {
    /// Whether an account `creator` may create `group` with this proof.
    pub fn permits(&self, creator: &AccountId, group: &GroupId) -> bool {
        match self {
            GroupCreation::Conversation { peer } => conversation_id(creator, peer) == *group,
            GroupCreation::Random { nonce } => <[u8; NONCE_LEN]>::try_from(nonce.as_slice())
                .is_ok_and(|nonce| random_group_id(&nonce) == *group),
        }
    }
}

/// The id of a random group (thread, discussion group) made from `nonce`:
/// the first 16 bytes of SHA-256 over `"stadtbote-random-group-v1\0"` and
/// the nonce.
pub fn random_group_id(nonce: &[u8; NONCE_LEN]) -> GroupId {
    let digest = Sha256::new().chain_update(RANDOM_GROUP_DOMAIN).chain_update(nonce).finalize();
    let mut id = [0u8; GroupId::LEN];
    id.copy_from_slice(&digest[..GroupId::LEN]);
    GroupId(id)
}

/// A fresh random group id with the nonce that proves it.
pub fn new_random_group() -> (GroupId, [u8; NONCE_LEN]) {
    let nonce = *MsgNonce::random().as_bytes();
    (random_group_id(&nonce), nonce)
}

// 16 random bytes from the OS generator, as every other id.
type MsgNonce = crate::ids::MsgId;

fn sorted(devices: &[DeviceId]) -> Vec<DeviceId> {
    let mut out = devices.to_vec();
    out.sort();
    out
}

impl MembershipStatement {
    /// The canonical bytes: domain, group (16), epoch (u64 big endian),
    /// salt (32), number of added devices (u16 BE) and their ids sorted,
    /// number of removed devices (u16 BE) and their ids sorted. `None`
    /// when a list is longer than 65,535 entries.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let add = sorted(&self.add);
        let remove = sorted(&self.remove);
        let mut out = Vec::with_capacity(
            STATEMENT_DOMAIN.len() + 16 + 8 + SALT_LEN + 4 + 16 * (add.len() + remove.len()),
        );
        out.extend_from_slice(STATEMENT_DOMAIN);
        out.extend_from_slice(self.group.as_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.salt);
        for list in [&add, &remove] {
            out.extend_from_slice(&u16::try_from(list.len()).ok()?.to_be_bytes());
            for device in list {
                out.extend_from_slice(device.as_bytes());
            }
        }
        Some(out)
    }

    /// What the commit carries as MLS authenticated data: [`AAD_VERSION`]
    /// followed by SHA-256 of [`MembershipStatement::to_bytes`].
    pub fn aad(&self) -> Option<Vec<u8>> {
        let digest = Sha256::digest(self.to_bytes()?);
        let mut out = Vec::with_capacity(AAD_LEN);
        out.push(AAD_VERSION);
        out.extend_from_slice(&digest);
        Some(out)
    }

    /// What the committing device signs: domain, SHA-256 of the commit
    /// bytes (the TLS-encoded `MlsMessage`), the statement's bytes.
    pub fn signed_message(&self, commit: &[u8]) -> Option<Vec<u8>> {
        let statement = self.to_bytes()?;
        let mut out = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 32 + statement.len());
        out.extend_from_slice(SIGNATURE_DOMAIN);
        out.extend_from_slice(&Sha256::digest(commit));
        out.extend_from_slice(&statement);
        Some(out)
    }

    /// Signs the statement for `commit` with the committing device's key.
    pub fn prove(&self, secret: &DeviceSecret, commit: &[u8]) -> Option<MembershipProof> {
        let message = self.signed_message(commit)?;
        Some(MembershipProof {
            salt: ByteBuf::from(self.salt.to_vec()),
            signature: secret.sign(&message),
        })
    }

    /// Rebuilds the statement a `commit` request declares from its proof.
    /// `None` when the salt has the wrong length.
    pub fn declared(
        group: GroupId,
        epoch: u64,
        proof: &MembershipProof,
        add: &[DeviceId],
        remove: &[DeviceId],
    ) -> Option<Self> {
        let salt = <[u8; SALT_LEN]>::try_from(proof.salt.as_slice()).ok()?;
        Some(Self { group, epoch, salt, add: add.to_vec(), remove: remove.to_vec() })
    }

    /// Whether `signature` is `key`'s signature of this statement for `commit`.
    pub fn verify(&self, key: &IdentityKey, commit: &[u8], signature: &Signature) -> bool {
        self.signed_message(commit).is_some_and(|m| key.verify(&m, signature).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> MembershipStatement {
        MembershipStatement {
            group: GroupId([0x11; 16]),
            epoch: 7,
            salt: [0x22; 32],
            add: vec![DeviceId([0x44; 16]), DeviceId([0x33; 16])],
            remove: vec![DeviceId([0x55; 16])],
        }
    }

    /// The test vector of docs/PROTOCOL.md ("Membership statements").
    #[test]
    fn test_vector() {
        let s = statement();
        let bytes = s.to_bytes().unwrap();
        let mut expected = b"stadtbote-membership-v1\0".to_vec();
        expected.extend_from_slice(&[0x11; 16]);
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.extend_from_slice(&[0x22; 32]);
        expected.extend_from_slice(&[0, 2]);
        expected.extend_from_slice(&[0x33; 16]);
        expected.extend_from_slice(&[0x44; 16]);
        expected.extend_from_slice(&[0, 1]);
        expected.extend_from_slice(&[0x55; 16]);
        assert_eq!(bytes, expected);
        let aad = s.aad().unwrap();
        assert_eq!(aad.len(), AAD_LEN);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&aad),
            "01".to_string() + &data_encoding::HEXLOWER.encode(&Sha256::digest(&expected))
        );
        let secret = DeviceSecret::from_bytes(&[0x66; 32]).unwrap();
        let proof = s.prove(&secret, b"commit").unwrap();
        assert!(s.verify(&secret.identity_key(), b"commit", &proof.signature));
        // Golden values (docs/PROTOCOL.md).
        assert_eq!(
            data_encoding::HEXLOWER.encode(&aad),
            "0167aeb9eead76dc5c2c82f9d662b84a5399a02b1e0fec9219c6751edd73d6532e"
        );
        assert_eq!(
            data_encoding::HEXLOWER.encode(&proof.signature.0),
            "9f9f7661dad94a2610f7063dedd8ba59bcb42034c155b7acff643f04529b405cacfa34fdbc0fc7ba1b7d7b1beabf065800e4232a3328a0cb6e266be0e04a2c0b"
        );
    }

    #[test]
    fn a_changed_list_commit_or_key_fails_verification() {
        let s = statement();
        let secret = DeviceSecret::generate();
        let proof = s.prove(&secret, b"commit").unwrap();
        let key = secret.identity_key();
        let mut other = s.clone();
        other.remove.clear();
        assert!(!other.verify(&key, b"commit", &proof.signature));
        assert!(!s.verify(&key, b"other commit", &proof.signature));
        assert!(!s.verify(&DeviceSecret::generate().identity_key(), b"commit", &proof.signature));
        assert_ne!(s.aad(), other.aad());
        // Order does not matter.
        let mut reordered = s.clone();
        reordered.add.reverse();
        assert_eq!(s.aad(), reordered.aad());
        assert!(reordered.verify(&key, b"commit", &proof.signature));
    }

    #[test]
    fn creation_proofs() {
        let (a, b, c) = (AccountId([1; 16]), AccountId([2; 16]), AccountId([3; 16]));
        let conversation = conversation_id(&a, &b);
        assert!(GroupCreation::Conversation { peer: b }.permits(&a, &conversation));
        assert!(GroupCreation::Conversation { peer: a }.permits(&b, &conversation));
        // A third account can name either peer and still not hit the id.
        assert!(!GroupCreation::Conversation { peer: a }.permits(&c, &conversation));
        assert!(!GroupCreation::Conversation { peer: b }.permits(&c, &conversation));
        let (group, nonce) = new_random_group();
        let proof = GroupCreation::Random { nonce: ByteBuf::from(nonce.to_vec()) };
        assert!(proof.permits(&c, &group));
        assert!(!proof.permits(&c, &conversation));
        assert!(!GroupCreation::Random { nonce: ByteBuf::from(vec![1; 3]) }.permits(&c, &group));
    }
}
