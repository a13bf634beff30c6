//! Account keys, the account's signed device list, and linking a device
//! through a secret the server never sees.
//!
//! Every account has an Ed25519 *account key*, created on its first device
//! and handed to linked devices. It signs the account's [`DeviceList`]: the
//! devices that speak for the account, with a version that only grows.
//! Clients pin the account key on first contact and the newest version they
//! saw, and encrypt to no device that is not on a list signed by that key —
//! so the server, which only relays the list, cannot add a device.
//!
//! Linking: the existing device makes a [`LinkSecret`] (160 random bits) and
//! shows it as part of the link code. Both devices derive [`LinkKeys`] from
//! it with HKDF-SHA256. The new device sends a [`LinkRequest`] whose
//! HMAC-SHA256 tag (under the derived MAC key) binds everything the existing
//! device puts on the list from it: the account, the device id and its
//! identity key (and the structure version); the existing device checks the tag, signs a new list with
//! the device on it and returns the account key in a [`LinkApproval`]
//! sealed with ChaCha20-Poly1305 under the derived sealing key. Both travel
//! through the server in slots named by further derived values, which tell
//! the server nothing about the secret. docs/PROTOCOL.md has the exact
//! composition and a test vector.

use std::collections::BTreeSet;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::auth::{DeviceSecret, IdentityKey, Signature};
use crate::ids::{AccountId, DeviceId};

/// Version of the device-list structures.
pub const DEVICE_LIST_VERSION: u16 = 1;
/// The most devices one list may hold (decoding refuses more).
pub const MAX_LISTED_DEVICES: usize = 64;
/// Bytes of a link secret (160 bits).
pub const LINK_SECRET_LEN: usize = 20;
/// Bytes of a link slot id.
pub const LINK_SLOT_LEN: usize = 32;

const LIST_DOMAIN: &[u8] = b"stadtbote-device-list-v1\0";
const LINK_SALT: &[u8] = b"stadtbote-link-v1";
const REQUEST_MAC_DOMAIN: &[u8] = b"stadtbote-link-request-v2\0";
const APPROVAL_AD: &[u8] = b"stadtbote-link-approval-v1";
const NONCE_LEN: usize = 12;

/// Why a device list, link request or approval was refused. Deliberately
/// coarse: none of them says more than which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceListError {
    /// Bytes are not a valid structure of the expected kind.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The signature does not verify against the account key.
    #[error("the device list's signature does not verify")]
    BadSignature,
    /// The list is signed by another key than the one pinned for the account.
    #[error("the device list is signed by another account key than the pinned one")]
    KeyChanged,
    /// The list names another account.
    #[error("the device list belongs to another account")]
    WrongAccount,
    /// The list is older than one already seen.
    #[error("device list version {got} is older than version {pinned} already seen")]
    Rollback {
        /// The version offered.
        got: u64,
        /// The newest version seen before.
        pinned: u64,
    },
    /// A list with the pinned version but other content.
    #[error("two different device lists carry version {0}")]
    Equivocation(u64),
    /// A link request's tag or a link approval's seal does not verify.
    #[error("the link code's secret does not match")]
    BadLinkSecret,
}

/// One device on an account's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedDevice {
    /// The device.
    pub device: DeviceId,
    /// Its identity key (also its MLS signature key).
    pub identity_key: IdentityKey,
    /// When it was put on the list (Unix ms, the signer's clock).
    pub added_at: u64,
}

/// The devices of an account, signed by the account key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// Structure version ([`DEVICE_LIST_VERSION`]).
    pub v: u16,
    /// The account.
    pub account: AccountId,
    /// The account key that signs this list.
    pub account_key: IdentityKey,
    /// Grows by at least one with every change; clients never go back.
    pub version: u64,
    /// When the list was signed (Unix ms, the signer's clock).
    pub issued_at: u64,
    /// The devices, at most [`MAX_LISTED_DEVICES`], each once.
    pub devices: Vec<ListedDevice>,
}

impl DeviceList {
    /// The device's entry, if listed.
    pub fn get(&self, device: &DeviceId) -> Option<&ListedDevice> {
        self.devices.iter().find(|d| d.device == *device)
    }

    /// Whether `device` is listed with exactly `key`.
    pub fn lists(&self, device: &DeviceId, key: &IdentityKey) -> bool {
        self.get(device).is_some_and(|d| d.identity_key == *key)
    }

    /// Signs the list with the account key. The key must be the one named
    /// in the list (checked by [`SignedDeviceList::verify`] on every reader).
    pub fn sign(&self, account_key: &DeviceSecret) -> SignedDeviceList {
        let bytes = crate::frame::encode(self);
        let signature = account_key.sign(&list_message(&bytes));
        SignedDeviceList { bytes: ByteBuf::from(bytes), signature }
    }

    fn check(&self) -> Result<(), DeviceListError> {
        if self.v != DEVICE_LIST_VERSION || self.devices.len() > MAX_LISTED_DEVICES {
            return Err(DeviceListError::Malformed("device list"));
        }
        let unique: BTreeSet<DeviceId> = self.devices.iter().map(|d| d.device).collect();
        if unique.len() != self.devices.len() {
            return Err(DeviceListError::Malformed("device list"));
        }
        Ok(())
    }
}

fn list_message(bytes: &[u8]) -> Vec<u8> {
    [LIST_DOMAIN, bytes].concat()
}

/// A [`DeviceList`] as it travels: its CBOR bytes and the account key's
/// Ed25519 signature over `"stadtbote-device-list-v1\0" ‖ bytes`. The server
/// stores and serves it without being able to change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDeviceList {
    /// CBOR encoding of the [`DeviceList`].
    pub bytes: ByteBuf,
    /// Signature by the list's account key.
    pub signature: Signature,
}

impl SignedDeviceList {
    /// Decodes WITHOUT checking the signature (to read version and key).
    pub fn decode_unverified(&self) -> Result<DeviceList, DeviceListError> {
        let list: DeviceList = ciborium::from_reader(self.bytes.as_slice())
            .map_err(|_| DeviceListError::Malformed("device list"))?;
        list.check()?;
        Ok(list)
    }

    /// Verifies that this is `account`'s list, signed by the key it names,
    /// and that this key is `pinned` when one is pinned.
    pub fn verify(
        &self,
        account: &AccountId,
        pinned: Option<&IdentityKey>,
    ) -> Result<DeviceList, DeviceListError> {
        let list = self.decode_unverified()?;
        if list.account != *account {
            return Err(DeviceListError::WrongAccount);
        }
        if pinned.is_some_and(|key| *key != list.account_key) {
            return Err(DeviceListError::KeyChanged);
        }
        list.account_key
            .verify(&list_message(&self.bytes), &self.signature)
            .map_err(|_| DeviceListError::BadSignature)?;
        Ok(list)
    }

    /// SHA-256 of the signed bytes: tells two lists of one version apart.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }
}

/// What a reader pinned of an account: its key, the newest version seen
/// and that version's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPin {
    /// The account key.
    pub account_key: IdentityKey,
    /// The newest version seen.
    pub version: u64,
    /// [`SignedDeviceList::digest`] of that version.
    #[serde(with = "serde_bytes")]
    pub digest: [u8; 32],
}

impl ListPin {
    /// Checks `signed` against this pin (or pins on first contact when
    /// `pin` is `None`) and returns the list with the pin to keep: never an
    /// older version, never another key, never a second list of one version.
    pub fn advance(
        pin: Option<&ListPin>,
        account: &AccountId,
        signed: &SignedDeviceList,
    ) -> Result<(DeviceList, ListPin), DeviceListError> {
        let list = signed.verify(account, pin.map(|p| &p.account_key))?;
        let digest = signed.digest();
        if let Some(pin) = pin {
            if list.version < pin.version {
                return Err(DeviceListError::Rollback { got: list.version, pinned: pin.version });
            }
            if list.version == pin.version && digest != pin.digest {
                return Err(DeviceListError::Equivocation(list.version));
            }
        }
        let next = ListPin { account_key: list.account_key, version: list.version, digest };
        Ok((list, next))
    }
}

/// The secret half of a link code: made on the existing device, typed or
/// scanned on the new one, never sent to the server.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret(pub [u8; LINK_SECRET_LEN]);

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

impl LinkSecret {
    /// A fresh secret from the operating system's random number generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; LINK_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The keys and slots derived from the secret.
    pub fn keys(&self) -> LinkKeys {
        let hk = Hkdf::<Sha256>::new(Some(LINK_SALT), &self.0);
        let derive = |info: &[u8]| {
            let mut out = [0u8; 32];
            // 32 bytes are far below HKDF-SHA256's limit of 8160.
            let _ = hk.expand(info, &mut out);
            out
        };
        LinkKeys {
            request_slot: derive(b"request slot"),
            approval_slot: derive(b"approval slot"),
            mac_key: Zeroizing::new(derive(b"request mac")),
            seal_key: Zeroizing::new(derive(b"approval seal")),
        }
    }
}

/// What both devices derive from a [`LinkSecret`] with HKDF-SHA256
/// (salt `"stadtbote-link-v1"`, one info string per output).
pub struct LinkKeys {
    /// Where the new device leaves its [`LinkRequest`] (info `"request slot"`).
    pub request_slot: [u8; 32],
    /// Where the existing device leaves its sealed [`LinkApproval`]
    /// (info `"approval slot"`).
    pub approval_slot: [u8; 32],
    mac_key: Zeroizing<[u8; 32]>,
    seal_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeys(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl LinkKeys {
    /// The MAC over every field of a request but the tag (all of fixed
    /// length, so plain concatenation is unambiguous): the approving device
    /// lists exactly the device id and key it was given, so a server that
    /// swaps either (or the account) breaks the tag.
    fn request_mac(
        &self,
        v: u16,
        account: &AccountId,
        device: &DeviceId,
        identity_key: &IdentityKey,
    ) -> Result<HmacSha256, DeviceListError> {
        // HMAC takes keys of any length; the error cannot happen.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.mac_key.as_slice())
            .map_err(|_| DeviceListError::Malformed("link key"))?;
        mac.update(REQUEST_MAC_DOMAIN);
        mac.update(&v.to_be_bytes());
        mac.update(account.as_bytes());
        mac.update(device.as_bytes());
        mac.update(&identity_key.0);
        Ok(mac)
    }

    /// The new device's request: HMAC-SHA256 under the derived MAC key over
    /// `"stadtbote-link-request-v2\0" ‖ v (u16 big-endian) ‖ account (16) ‖
    /// device (16) ‖ identity key (32)`.
    pub fn request(
        &self,
        account: AccountId,
        device: DeviceId,
        identity_key: IdentityKey,
    ) -> Result<LinkRequest, DeviceListError> {
        let tag = self
            .request_mac(DEVICE_LIST_VERSION, &account, &device, &identity_key)?
            .finalize()
            .into_bytes();
        Ok(LinkRequest {
            v: DEVICE_LIST_VERSION,
            account,
            device,
            identity_key,
            tag: ByteBuf::from(tag.to_vec()),
        })
    }

    /// Checks a request's tag (in constant time).
    pub fn verify_request(&self, request: &LinkRequest) -> Result<(), DeviceListError> {
        self.request_mac(request.v, &request.account, &request.device, &request.identity_key)?
            .verify_slice(&request.tag)
            .map_err(|_| DeviceListError::BadLinkSecret)
    }

    /// Seals an approval: random 96-bit nonce ‖ ChaCha20-Poly1305 ciphertext
    /// under the derived sealing key, associated data
    /// `"stadtbote-link-approval-v1"`. Each secret seals one approval.
    pub fn seal_approval(&self, approval: &LinkApproval) -> Result<Vec<u8>, DeviceListError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.seal_approval_with_nonce(approval, nonce)
    }

    fn seal_approval_with_nonce(
        &self,
        approval: &LinkApproval,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, DeviceListError> {
        let plain = Zeroizing::new(crate::frame::encode(approval));
        let cipher = ChaCha20Poly1305::new(self.seal_key.as_slice().into());
        // Fails only for plaintexts beyond 256 GiB.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: APPROVAL_AD })
            .map_err(|_| DeviceListError::Malformed("link approval"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens an approval sealed by [`LinkKeys::seal_approval`].
    pub fn open_approval(&self, sealed: &[u8]) -> Result<LinkApproval, DeviceListError> {
        let (nonce, ciphertext) =
            sealed.split_at_checked(NONCE_LEN).ok_or(DeviceListError::BadLinkSecret)?;
        let cipher = ChaCha20Poly1305::new(self.seal_key.as_slice().into());
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: APPROVAL_AD })
            .map(Zeroizing::new)
            .map_err(|_| DeviceListError::BadLinkSecret)?;
        let approval: LinkApproval = ciborium::from_reader(plain.as_slice())
            .map_err(|_| DeviceListError::Malformed("link approval"))?;
        if approval.v != DEVICE_LIST_VERSION {
            return Err(DeviceListError::Malformed("link approval"));
        }
        Ok(approval)
    }
}

/// What the new device leaves for the existing one (in the clear: it holds
/// only public values and the tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// Structure version.
    pub v: u16,
    /// The account the new device joined.
    pub account: AccountId,
    /// The new device.
    pub device: DeviceId,
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// HMAC-SHA256 tag, see [`LinkKeys::request`].
    pub tag: ByteBuf,
}

impl LinkRequest {
    /// CBOR bytes, as stored in the request slot.
    pub fn encode(&self) -> Vec<u8> {
        crate::frame::encode(self)
    }

    /// Decodes a request from its slot.
    pub fn decode(bytes: &[u8]) -> Result<Self, DeviceListError> {
        let request: LinkRequest =
            ciborium::from_reader(bytes).map_err(|_| DeviceListError::Malformed("link request"))?;
        if request.v != DEVICE_LIST_VERSION {
            return Err(DeviceListError::Malformed("link request"));
        }
        Ok(request)
    }
}

/// What the existing device hands the approved one, sealed: the account
/// key and the signed list that holds the new device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkApproval {
    /// Structure version.
    pub v: u16,
    /// The account key's 32 secret bytes.
    pub account_secret: ByteBuf,
    /// The new list.
    pub list: SignedDeviceList,
}

impl std::fmt::Debug for LinkApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkApproval").field("list", &self.list).finish_non_exhaustive()
    }
}

impl Drop for LinkApproval {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.account_secret.as_mut_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn list(key: &DeviceSecret, version: u64, devices: &[u8]) -> DeviceList {
        DeviceList {
            v: DEVICE_LIST_VERSION,
            account: AccountId([1; 16]),
            account_key: key.identity_key(),
            version,
            issued_at: 5,
            devices: devices
                .iter()
                .map(|d| ListedDevice {
                    device: DeviceId([*d; 16]),
                    identity_key: IdentityKey([*d; 32]),
                    added_at: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn a_list_verifies_only_for_its_account_and_key() {
        let key = DeviceSecret::generate();
        let signed = list(&key, 1, &[2, 3]).sign(&key);
        let back = signed.verify(&AccountId([1; 16]), Some(&key.identity_key())).unwrap();
        assert!(back.lists(&DeviceId([2; 16]), &IdentityKey([2; 32])));
        assert!(!back.lists(&DeviceId([2; 16]), &IdentityKey([9; 32])));
        assert_eq!(signed.verify(&AccountId([2; 16]), None), Err(DeviceListError::WrongAccount));
        let other = DeviceSecret::generate();
        assert_eq!(
            signed.verify(&AccountId([1; 16]), Some(&other.identity_key())),
            Err(DeviceListError::KeyChanged)
        );
        // Signed by a key other than the one it names.
        let forged = list(&key, 1, &[2]).sign(&other);
        assert_eq!(forged.verify(&AccountId([1; 16]), None), Err(DeviceListError::BadSignature));
        // One changed byte.
        let mut tampered = signed.clone();
        let last = tampered.bytes.len() - 1;
        tampered.bytes[last] ^= 1;
        assert!(tampered.verify(&AccountId([1; 16]), None).is_err());
        // A device twice is malformed.
        let mut twice = list(&key, 1, &[2]);
        twice.devices.push(twice.devices[0]);
        assert!(matches!(
            twice.sign(&key).verify(&AccountId([1; 16]), None),
            Err(DeviceListError::Malformed(_))
        ));
        assert!(
            SignedDeviceList { bytes: ByteBuf::from(vec![0xff]), signature: Signature([0; 64]) }
                .decode_unverified()
                .is_err()
        );
    }

    #[test]
    fn pins_never_go_back_and_catch_equivocation() {
        let key = DeviceSecret::generate();
        let account = AccountId([1; 16]);
        let v1 = list(&key, 1, &[2]).sign(&key);
        let v2 = list(&key, 2, &[2, 3]).sign(&key);
        let (_, pin1) = ListPin::advance(None, &account, &v1).unwrap();
        let (listed, pin2) = ListPin::advance(Some(&pin1), &account, &v2).unwrap();
        assert_eq!((listed.version, pin2.version), (2, 2));
        assert_eq!(
            ListPin::advance(Some(&pin2), &account, &v1).unwrap_err(),
            DeviceListError::Rollback { got: 1, pinned: 2 }
        );
        // The same list again is fine; another list of the same version is not.
        assert!(ListPin::advance(Some(&pin2), &account, &v2).is_ok());
        let other_v2 = list(&key, 2, &[2, 4]).sign(&key);
        assert_eq!(
            ListPin::advance(Some(&pin2), &account, &other_v2).unwrap_err(),
            DeviceListError::Equivocation(2)
        );
        // A new key is refused even with a higher version.
        let thief = DeviceSecret::generate();
        let v3 = list(&thief, 3, &[9]).sign(&thief);
        assert_eq!(
            ListPin::advance(Some(&pin2), &account, &v3).unwrap_err(),
            DeviceListError::KeyChanged
        );
    }

    #[test]
    fn link_requests_and_approvals_need_the_secret() {
        let secret = LinkSecret::generate();
        let keys = secret.keys();
        let request =
            keys.request(AccountId([1; 16]), DeviceId([2; 16]), IdentityKey([3; 32])).unwrap();
        let back = LinkRequest::decode(&request.encode()).unwrap();
        keys.verify_request(&back).unwrap();
        // Another secret, another key or another account: refused.
        let wrong = LinkSecret::generate().keys();
        assert_eq!(wrong.verify_request(&back), Err(DeviceListError::BadLinkSecret));
        let mut swapped = back.clone();
        swapped.identity_key = IdentityKey([4; 32]);
        assert_eq!(keys.verify_request(&swapped), Err(DeviceListError::BadLinkSecret));
        let mut moved = back.clone();
        moved.account = AccountId([5; 16]);
        assert_eq!(keys.verify_request(&moved), Err(DeviceListError::BadLinkSecret));
        // A server that substitutes the device id breaks the tag too.
        let mut substituted = back;
        substituted.device = DeviceId([6; 16]);
        assert_eq!(keys.verify_request(&substituted), Err(DeviceListError::BadLinkSecret));

        let account_key = DeviceSecret::generate();
        let approval = LinkApproval {
            v: DEVICE_LIST_VERSION,
            account_secret: ByteBuf::from(account_key.to_bytes().to_vec()),
            list: list(&account_key, 2, &[2]).sign(&account_key),
        };
        let sealed = keys.seal_approval(&approval).unwrap();
        assert_eq!(keys.open_approval(&sealed).unwrap(), approval);
        assert_eq!(wrong.open_approval(&sealed), Err(DeviceListError::BadLinkSecret));
        assert!(keys.open_approval(&sealed[..5]).is_err());
        assert!(!format!("{approval:?} {keys:?} {secret:?}").contains(&hex(&secret.0)));
    }

    proptest::proptest! {
        /// Whatever a server or slot hands over, the decoders refuse it
        /// with an error and never panic.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let signed = SignedDeviceList { bytes: ByteBuf::from(bytes.clone()), signature: Signature([1; 64]) };
            let _ = signed.decode_unverified();
            let _ = signed.verify(&AccountId([1; 16]), None);
            let _ = LinkRequest::decode(&bytes);
            let _ = LinkSecret([3; LINK_SECRET_LEN]).keys().open_approval(&bytes);
        }
    }

    /// The test vector of docs/PROTOCOL.md ("Linking a device").
    #[test]
    fn link_test_vector() {
        let secret = LinkSecret([0x42; LINK_SECRET_LEN]);
        let keys = secret.keys();
        let request = keys
            .request(AccountId([0x11; 16]), DeviceId([0x22; 16]), IdentityKey([0x33; 32]))
            .unwrap();
        let vector = format!(
            "request_slot={}\napproval_slot={}\ntag={}",
            hex(&keys.request_slot),
            hex(&keys.approval_slot),
            hex(&request.tag)
        );
        let sealed = keys
            .seal_approval_with_nonce(
                &LinkApproval {
                    v: DEVICE_LIST_VERSION,
                    account_secret: ByteBuf::from(vec![0x44; 32]),
                    list: SignedDeviceList {
                        bytes: ByteBuf::from(vec![0xa0]),
                        signature: Signature([0x55; 64]),
                    },
                },
                [0x66; NONCE_LEN],
            )
            .unwrap();
        let expected = include_str!("../tests/device_list_vectors/link_v1.txt");
        let ours = format!("{vector}\nsealed_approval={}\n", hex(&sealed));
        assert_eq!(ours, expected, "update docs/PROTOCOL.md together with the vector");
    }

    /// The signed-list vector of docs/PROTOCOL.md: a fixed key signs a fixed list.
    #[test]
    fn device_list_test_vector() {
        let key = DeviceSecret::from_bytes(&[0x77; 32]).unwrap();
        let signed = list(&key, 3, &[2]).sign(&key);
        let ours = format!(
            "account_key={}\nbytes={}\nsignature={}\n",
            hex(&key.identity_key().0),
            hex(&signed.bytes),
            hex(&signed.signature.0)
        );
        let expected = include_str!("../tests/device_list_vectors/device_list_v1.txt");
        assert_eq!(ours, expected, "update docs/PROTOCOL.md together with the vector");
    }
}
