//! Broadcast channels: the channel key, invite links, sealed and signed
//! posts, and the hash chain that exposes forged, reordered or withheld
//! posts.
//!
//! A channel has a random 32-byte key shared through its invite link (or QR
//! code); the server never sees it. Everything about the channel the server
//! stores is sealed with it: the metadata (name, description, reply policy)
//! and every post. A post is signed by a certified staff device (the
//! signature and the device's [`StaffCertificate`] travel inside the sealed
//! box, so the server cannot tell which clerk posted) and names the hash of
//! the previous post's sealed bytes, so a follower notices when the server
//! drops, reorders or invents posts.
//!
//! Sealing uses XChaCha20-Poly1305 (from the `chacha20poly1305` crate) with a
//! random 24-byte nonce per box, which is safe for any number of boxes under
//! one key; the associated data binds each box to its channel, key epoch and
//! kind, so a box cannot be moved to another channel or reused as another
//! kind. Rotating the key starts a new key epoch: holders of an old invite
//! can no longer open new boxes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::app::AttachmentRef;
use crate::auth::{DeviceSecret, IdentityKey, Signature};
use crate::ids::{ChannelId, DeviceId, OrgId};
use crate::org::{OrgError, Role, StaffCertificate, VerifiedStaff};
use crate::org_rotation::OrgKeys;

const SEAL_DOMAIN: &[u8] = b"stadtbote-channel-v1\0";
const POST_SIGN_DOMAIN: &[u8] = b"stadtbote-channel-post-v1\0";
const META_SIGN_DOMAIN: &[u8] = b"stadtbote-channel-meta-v1\0";
const INVITE_PREFIX: &str = "stadtbote:channel:";

/// Version of the channel structures.
pub const CHANNEL_VERSION: u16 = 1;

/// Hash of "no previous post", the `prev` of a channel's first post.
pub const GENESIS: [u8; 32] = [0; 32];

/// Why a channel object could not be used. Coarse where it concerns crypto.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Wrong key (e.g. rotated away), or the bytes were altered.
    #[error("cannot decrypt (wrong channel key, or the post was altered)")]
    Undecryptable,
    /// The signature or the staff certificate does not verify, or the
    /// device may not publish.
    #[error("forged: not signed by a certified publisher of this org")]
    Forged,
    /// Genuinely signed by a certified publisher device that the org has
    /// since revoked (lost or stolen). Only returned once everything else
    /// (signature, certificate, channel, number and `prev`) checked out, so
    /// the object's place in the chain is genuine.
    #[error("signed by a publisher device the org has revoked")]
    Revoked,
    /// The post does not follow the previous one (reordered or inserted).
    #[error("out of order: post {found} does not follow post {expected}")]
    OutOfOrder {
        /// Post number the chain expected.
        expected: u64,
        /// Post number found.
        found: u64,
    },
    /// Not a well-formed object.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A channel key. Never printed, zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey(Zeroizing<[u8; 32]>);

impl ChannelKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// From 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChannelError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ChannelError::Malformed("channel key"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// The 32 key bytes (for storing in the follower's local state).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelKey(..)")
    }
}

/// What a box holds; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxKind {
    /// [`ChannelMeta`].
    Meta,
    /// [`SignedPost`].
    Post,
}

impl BoxKind {
    fn tag(self) -> u8 {
        match self {
            BoxKind::Meta => 1,
            BoxKind::Post => 2,
        }
    }
}

/// A sealed box as stored by the server: `{key_epoch, nonce, ciphertext}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBox {
    /// Which key (rotation count) sealed it.
    pub key_epoch: u32,
    /// 24 random bytes.
    pub nonce: ByteBuf,
    /// XChaCha20-Poly1305 ciphertext with tag.
    pub ciphertext: ByteBuf,
}

fn aad(channel: &ChannelId, key_epoch: u32, kind: BoxKind) -> Vec<u8> {
    [SEAL_DOMAIN, channel.as_bytes(), &key_epoch.to_be_bytes(), &[kind.tag()]].concat()
}

/// Seals `plaintext` for `channel` under `key` (epoch `key_epoch`); returns
/// the CBOR bytes of the [`SealedBox`].
pub fn seal(
    key: &ChannelKey,
    key_epoch: u32,
    channel: &ChannelId,
    kind: BoxKind,
    plaintext: &[u8],
) -> Result<Vec<u8>, ChannelError> {
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = aad(channel, key_epoch, kind);
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| ChannelError::Malformed("plaintext"))?;
    Ok(crate::frame::encode(&SealedBox {
        key_epoch,
        nonce: ByteBuf::from(nonce.to_vec()),
        ciphertext: ByteBuf::from(ciphertext),
    }))
}

/// Opens a sealed box's CBOR bytes. Any failure is [`ChannelError::Undecryptable`]
/// (or `Malformed` if the bytes are not a box at all).
pub fn open(
    key: &ChannelKey,
    channel: &ChannelId,
    kind: BoxKind,
    sealed: &[u8],
) -> Result<(u32, Vec<u8>), ChannelError> {
    let sealed: SealedBox =
        ciborium::from_reader(sealed).map_err(|_| ChannelError::Malformed("sealed box"))?;
    if sealed.nonce.len() != 24 {
        return Err(ChannelError::Malformed("sealed box"));
    }
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let aad = aad(channel, sealed.key_epoch, kind);
    let plaintext = cipher
        .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &aad })
        .map_err(|_| ChannelError::Undecryptable)?;
    Ok((sealed.key_epoch, plaintext))
}

/// The key epoch a sealed box claims, without opening it.
pub fn key_epoch_of(sealed: &[u8]) -> Result<u32, ChannelError> {
    let sealed: SealedBox =
        ciborium::from_reader(sealed).map_err(|_| ChannelError::Malformed("sealed box"))?;
    Ok(sealed.key_epoch)
}

/// SHA-256 of a post's sealed bytes: what the next post's `prev` names.
pub fn post_hash(sealed: &[u8]) -> [u8; 32] {
    Sha256::digest(sealed).into()
}

/// Who may reply to posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replies {
    /// No replies.
    Off,
    /// Followers may open a private thread with the org about a post.
    Private,
}

/// The channel's description, sealed with the channel key and signed by the
/// staff device that created (or last rotated) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMeta {
    /// [`CHANNEL_VERSION`].
    pub v: u16,
    /// The channel.
    pub channel: ChannelId,
    /// The org publishing it.
    pub org: OrgId,
    /// The org's handle.
    pub handle: String,
    /// Channel name, e.g. "Amtsblatt".
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// Reply policy.
    pub replies: Replies,
    /// Department that receives private replies.
    pub reply_department: Option<String>,
    /// Days a post is kept on the server. Signed, so followers can tell
    /// posts that expired from posts the server withholds.
    pub retention_days: u32,
    /// When created (Unix ms).
    pub created_at: u64,
    /// Increases every time the metadata is sealed again (key rotation);
    /// followers keep the newest they verified and ignore older ones a
    /// server replays. 0 in metadata from before this field existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub meta_version: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A post's content, signed by its author's staff device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostBody {
    /// [`CHANNEL_VERSION`].
    pub v: u16,
    /// The channel.
    pub channel: ChannelId,
    /// Position in the channel, from 1; equals the server's sequence number.
    pub n: u64,
    /// [`post_hash`] of post `n - 1` ([`GENESIS`] for the first post).
    pub prev: ByteBuf,
    /// When the author posted (Unix ms).
    pub posted_at: u64,
    /// The text.
    pub text: String,
    /// Photos (encrypted attachments; their keys travel only in here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<AttachmentRef>,
    /// When post `n - 1` was posted (its signed `posted_at`, Unix ms), as
    /// the author read it; 0 when unknown (first post, a predecessor sealed
    /// with an older key, or a post from before this field existed). It
    /// lets a follower that finds posts missing before this one tell
    /// whether they can have expired.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prev_posted_at: u64,
}

/// A signed object of a channel: its CBOR bytes, the author device's
/// signature over them, and the author's staff certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSigned {
    /// CBOR of [`PostBody`] or [`ChannelMeta`].
    pub body: ByteBuf,
    /// Ed25519 signature by the author device over domain ‖ body.
    pub signature: Signature,
    /// The author device's certificate from the org.
    pub cert: StaffCertificate,
}

impl StaffSigned {
    fn sign(domain: &[u8], body: Vec<u8>, device: &DeviceSecret, cert: StaffCertificate) -> Self {
        let signature = device.sign(&[domain, &body].concat());
        StaffSigned { body: ByteBuf::from(body), signature, cert }
    }

    /// Verifies certificate (against the org key, at `now_ms`, a role that
    /// may publish) and signature; returns the author. Revocation is the
    /// caller's check (after the chain checks, see [`ChannelError::Revoked`]).
    fn verify(
        &self,
        domain: &[u8],
        org: &OrgId,
        org_key: &IdentityKey,
        now_ms: u64,
    ) -> Result<VerifiedStaff, ChannelError> {
        let staff = self.cert.verify(org, org_key, now_ms).map_err(|e| match e {
            OrgError::Malformed(what) => ChannelError::Malformed(what),
            _ => ChannelError::Forged,
        })?;
        if staff.role == Role::Clerk {
            return Err(ChannelError::Forged);
        }
        staff
            .identity_key
            .verify(&[domain, &self.body].concat(), &self.signature)
            .map_err(|_| ChannelError::Forged)?;
        Ok(staff)
    }
}

/// Signs and seals channel metadata; returns the sealed bytes.
pub fn seal_meta(
    meta: &ChannelMeta,
    key: &ChannelKey,
    key_epoch: u32,
    device: &DeviceSecret,
    cert: StaffCertificate,
) -> Result<Vec<u8>, ChannelError> {
    let signed = StaffSigned::sign(META_SIGN_DOMAIN, crate::frame::encode(meta), device, cert);
    seal(key, key_epoch, &meta.channel, BoxKind::Meta, &crate::frame::encode(&signed))
}

/// Opens and verifies channel metadata.
pub fn open_meta(
    sealed: &[u8],
    key: &ChannelKey,
    channel: &ChannelId,
    org_key: &IdentityKey,
    revoked: &[DeviceId],
    now_ms: u64,
) -> Result<ChannelMeta, ChannelError> {
    let (_, plain) = open(key, channel, BoxKind::Meta, sealed)?;
    let signed: StaffSigned =
        ciborium::from_reader(plain.as_slice()).map_err(|_| ChannelError::Malformed("metadata"))?;
    let meta: ChannelMeta = ciborium::from_reader(signed.body.as_slice())
        .map_err(|_| ChannelError::Malformed("metadata"))?;
    let author = signed.verify(META_SIGN_DOMAIN, &meta.org, org_key, now_ms)?;
    if meta.channel != *channel {
        return Err(ChannelError::Forged);
    }
    if revoked.contains(&author.device) {
        return Err(ChannelError::Revoked);
    }
    Ok(meta)
}

/// Signs and seals a post; returns the sealed bytes to send.
pub fn seal_post(
    body: &PostBody,
    key: &ChannelKey,
    key_epoch: u32,
    device: &DeviceSecret,
    cert: StaffCertificate,
) -> Result<Vec<u8>, ChannelError> {
    let signed = StaffSigned::sign(POST_SIGN_DOMAIN, crate::frame::encode(body), device, cert);
    seal(key, key_epoch, &body.channel, BoxKind::Post, &crate::frame::encode(&signed))
}

/// A post that opened, verified and fits the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPost {
    /// The content.
    pub body: PostBody,
    /// Its author (a certified publisher).
    pub author: VerifiedStaff,
    /// [`post_hash`] of its sealed bytes, the `prev` of the next post.
    pub hash: [u8; 32],
}

/// Opens and verifies post `sealed`, expected to be post number `expected_n`
/// following a post with hash `prev` (pass `None` for either when the
/// follower starts in the middle of a channel, e.g. after retention removed
/// older posts; the chain is then checked from this post on). A post whose
/// author is on `revoked` is [`ChannelError::Revoked`] once all other
/// checks passed.
#[allow(clippy::too_many_arguments)]
pub fn open_post(
    sealed: &[u8],
    key: &ChannelKey,
    channel: &ChannelId,
    org: &OrgId,
    org_key: &IdentityKey,
    revoked: &[DeviceId],
    expected_n: Option<u64>,
    prev: Option<&[u8; 32]>,
    now_ms: u64,
) -> Result<VerifiedPost, ChannelError> {
    let (_, plain) = open(key, channel, BoxKind::Post, sealed)?;
    let signed: StaffSigned =
        ciborium::from_reader(plain.as_slice()).map_err(|_| ChannelError::Malformed("post"))?;
    let author = signed.verify(POST_SIGN_DOMAIN, org, org_key, now_ms)?;
    let body: PostBody = ciborium::from_reader(signed.body.as_slice())
        .map_err(|_| ChannelError::Malformed("post"))?;
    if body.channel != *channel {
        return Err(ChannelError::Forged);
    }
    if let Some(expected) = expected_n
        && body.n != expected
    {
        return Err(ChannelError::OutOfOrder { expected, found: body.n });
    }
    if let Some(prev) = prev
        && body.prev.as_slice() != prev.as_slice()
    {
        return Err(ChannelError::OutOfOrder { expected: body.n, found: body.n });
    }
    if revoked.contains(&author.device) {
        return Err(ChannelError::Revoked);
    }
    Ok(VerifiedPost { body, author, hash: post_hash(sealed) })
}

/// [`open_meta`] for an org whose key may have been rotated: the author's
/// certificate may be approved by the current key, or by an earlier key of
/// the org's verified rotation chain if the channel was created (signed
/// `created_at`) before the rotation away from that key.
pub fn open_meta_along(
    sealed: &[u8],
    key: &ChannelKey,
    channel: &ChannelId,
    keys: &OrgKeys,
    revoked: &[DeviceId],
    now_ms: u64,
) -> Result<ChannelMeta, ChannelError> {
    let current = open_meta(sealed, key, channel, &keys.current, revoked, now_ms);
    if !matches!(current, Err(ChannelError::Forged)) {
        return current;
    }
    for retired in &keys.retired {
        match open_meta(sealed, key, channel, &retired.key, revoked, now_ms) {
            Err(ChannelError::Forged) => continue,
            Ok(meta) if meta.created_at < retired.until => return Ok(meta),
            Ok(_) => return Err(ChannelError::Forged),
            Err(other) => return Err(other),
        }
    }
    Err(ChannelError::Forged)
}

/// [`open_post`] for an org whose key may have been rotated. The post's
/// certificate may be approved by the current key; or by an earlier key of
/// the org's verified rotation chain, when the post is dated (its signed
/// `posted_at`) before the rotation away from that key and the follower
/// verified no post dated after that rotation before it
/// (`last_posted_at`, the newest post it verified). So a thief holding a
/// replaced key cannot date a post of his after posts made under the new
/// key; that he can backdate one until the follower saw such a post is the
/// limit of a self-asserted time.
#[allow(clippy::too_many_arguments)]
pub fn open_post_along(
    sealed: &[u8],
    key: &ChannelKey,
    channel: &ChannelId,
    org: &OrgId,
    keys: &OrgKeys,
    revoked: &[DeviceId],
    expected_n: Option<u64>,
    prev: Option<&[u8; 32]>,
    last_posted_at: Option<u64>,
    now_ms: u64,
) -> Result<VerifiedPost, ChannelError> {
    let open_with = |org_key: &IdentityKey| {
        open_post(sealed, key, channel, org, org_key, revoked, expected_n, prev, now_ms)
    };
    let current = open_with(&keys.current);
    if !matches!(current, Err(ChannelError::Forged)) {
        return current;
    }
    for retired in &keys.retired {
        match open_with(&retired.key) {
            Err(ChannelError::Forged) => continue,
            Ok(post)
                if post.body.posted_at < retired.until
                    && last_posted_at.is_none_or(|at| at < retired.until) =>
            {
                return Ok(post);
            }
            Ok(_) => return Err(ChannelError::Forged),
            Err(other) => return Err(other),
        }
    }
    Err(ChannelError::Forged)
}

/// Everything a follower needs, carried in the invite link: which org
/// (with its key, so following needs no account and no trust in the
/// server), which channel, and the channel key of the current epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInvite {
    /// [`CHANNEL_VERSION`].
    pub v: u16,
    /// The org's handle.
    pub handle: String,
    /// The org.
    pub org: OrgId,
    /// The org's public key.
    pub org_key: IdentityKey,
    /// The channel.
    pub channel: ChannelId,
    /// The key epoch.
    pub key_epoch: u32,
    /// The channel key (32 bytes).
    pub key: ByteBuf,
}

impl std::fmt::Debug for ChannelInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelInvite")
            .field("handle", &self.handle)
            .field("channel", &self.channel)
            .field("key_epoch", &self.key_epoch)
            .finish_non_exhaustive()
    }
}

impl ChannelInvite {
    /// The channel key.
    pub fn channel_key(&self) -> Result<ChannelKey, ChannelError> {
        ChannelKey::from_bytes(&self.key)
    }

    /// The link form: `stadtbote:channel:` + base32 of the CBOR invite.
    pub fn to_link(&self) -> String {
        format!(
            "{INVITE_PREFIX}{}",
            data_encoding::BASE32_NOPAD.encode(&crate::frame::encode(self))
        )
    }

    /// Parses a link (case-insensitive; whitespace ignored).
    pub fn parse(link: &str) -> Result<Self, ChannelError> {
        let link = link.trim();
        let rest = link
            .get(..INVITE_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(INVITE_PREFIX))
            .and_then(|_| link.get(INVITE_PREFIX.len()..))
            .ok_or(ChannelError::Malformed("channel invite"))?;
        let bytes = crate::ids::decode_base32_lenient(rest)
            .ok_or(ChannelError::Malformed("channel invite"))?;
        let invite: ChannelInvite = ciborium::from_reader(bytes.as_slice())
            .map_err(|_| ChannelError::Malformed("channel invite"))?;
        if invite.v != CHANNEL_VERSION || invite.key.len() != 32 {
            return Err(ChannelError::Malformed("channel invite"));
        }
        Ok(invite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::testing::default_staff_certificate;

    struct Fixture {
        org: OrgId,
        org_key: DeviceSecret,
        device: DeviceSecret,
        cert: StaffCertificate,
        channel: ChannelId,
        key: ChannelKey,
    }

    fn fixture(role: Role) -> Fixture {
        let org = OrgId([1; 16]);
        let org_key = DeviceSecret::generate();
        let device = DeviceSecret::generate();
        let cert = default_staff_certificate(org, &org_key, &device, role);
        Fixture {
            org,
            org_key,
            device,
            cert,
            channel: ChannelId([4; 16]),
            key: ChannelKey::generate(),
        }
    }

    fn post(f: &Fixture, n: u64, prev: [u8; 32], text: &str) -> Vec<u8> {
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: f.channel,
            n,
            prev: ByteBuf::from(prev.to_vec()),
            posted_at: 100,
            text: text.into(),
            photos: vec![],
            prev_posted_at: 0,
        };
        seal_post(&body, &f.key, 0, &f.device, f.cert.clone()).unwrap()
    }

    fn open_n(
        f: &Fixture,
        sealed: &[u8],
        n: u64,
        prev: &[u8; 32],
    ) -> Result<VerifiedPost, ChannelError> {
        open_post(
            sealed,
            &f.key,
            &f.channel,
            &f.org,
            &f.org_key.identity_key(),
            &[],
            Some(n),
            Some(prev),
            500,
        )
    }

    #[test]
    fn a_replaced_org_key_vouches_only_for_posts_dated_before_its_rotation() {
        use crate::org_rotation::{OrgKeys, RetiredKey, RotationReason};
        // The fixture's certificate is approved by `org_key`, which the org
        // replaced at time 200 (posts are dated 100).
        let f = fixture(Role::Publisher);
        let current = DeviceSecret::generate().identity_key();
        let retired = |until| OrgKeys {
            current,
            retired: vec![RetiredKey {
                key: f.org_key.identity_key(),
                until,
                reason: RotationReason::Handover,
            }],
        };
        let p1 = post(&f, 1, GENESIS, "vor der Übergabe");
        let open = |keys: &OrgKeys, last: Option<u64>| {
            open_post_along(&p1, &f.key, &f.channel, &f.org, keys, &[], Some(1), None, last, 500)
        };
        assert!(open(&retired(200), None).is_ok());
        assert!(open(&retired(200), Some(150)).is_ok());
        // Dated at or after the rotation, or after a post dated after it.
        assert_eq!(open(&retired(100), None), Err(ChannelError::Forged));
        assert_eq!(open(&retired(200), Some(250)), Err(ChannelError::Forged));
        // A key outside the chain vouches for nothing.
        assert_eq!(open(&OrgKeys::single(current), None), Err(ChannelError::Forged));
        // The current key, without a time limit.
        let now = OrgKeys::single(f.org_key.identity_key());
        assert!(open(&now, Some(u64::MAX)).is_ok());
        // Metadata: by its signed creation time.
        let meta = ChannelMeta {
            v: CHANNEL_VERSION,
            channel: f.channel,
            org: f.org,
            handle: "goslar".into(),
            name: "Amtsblatt".into(),
            description: None,
            replies: Replies::Off,
            reply_department: None,
            retention_days: 30,
            created_at: 150,
            meta_version: 1,
        };
        let sealed = seal_meta(&meta, &f.key, 0, &f.device, f.cert.clone()).unwrap();
        let open_meta =
            |keys: &OrgKeys| open_meta_along(&sealed, &f.key, &f.channel, keys, &[], 500);
        assert_eq!(open_meta(&retired(200)).unwrap(), meta);
        assert_eq!(open_meta(&retired(150)), Err(ChannelError::Forged));
    }

    #[test]
    fn chain_of_posts_verifies_and_detects_gaps_and_reordering() {
        let f = fixture(Role::Publisher);
        let p1 = post(&f, 1, GENESIS, "Straßensperrung Montag");
        let h1 = open_n(&f, &p1, 1, &GENESIS).unwrap().hash;
        let p2 = post(&f, 2, h1, "Wochenmarkt verlegt");
        let h2 = open_n(&f, &p2, 2, &h1).unwrap().hash;
        let p3 = post(&f, 3, h2, "Sprechstunde entfällt");
        // Withheld: post 2 skipped.
        assert!(matches!(open_n(&f, &p3, 2, &h1), Err(ChannelError::OutOfOrder { .. })));
        // Reordered: post 3's prev is not post 1.
        assert!(matches!(open_n(&f, &p3, 3, &h1), Err(ChannelError::OutOfOrder { .. })));
        assert!(open_n(&f, &p3, 3, &h2).is_ok());
    }

    #[test]
    fn tampered_forged_and_wrong_key_posts_are_rejected() {
        let f = fixture(Role::Publisher);
        let mut sealed = post(&f, 1, GENESIS, "Echt");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(open_n(&f, &sealed, 1, &GENESIS), Err(ChannelError::Undecryptable));

        // Signed by a device whose certificate is from another org key.
        let other = fixture(Role::Publisher);
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: f.channel,
            n: 1,
            prev: ByteBuf::from(GENESIS.to_vec()),
            posted_at: 1,
            text: "Fälschung".into(),
            photos: vec![],
            prev_posted_at: 0,
        };
        let forged = seal_post(&body, &f.key, 0, &other.device, other.cert.clone()).unwrap();
        assert_eq!(open_n(&f, &forged, 1, &GENESIS), Err(ChannelError::Forged));

        // A clerk may not publish.
        let clerk = fixture(Role::Clerk);
        let clerk_post = post(&clerk, 1, GENESIS, "x");
        let result = open_post(
            &clerk_post,
            &clerk.key,
            &clerk.channel,
            &clerk.org,
            &clerk.org_key.identity_key(),
            &[],
            None,
            None,
            500,
        );
        assert_eq!(result, Err(ChannelError::Forged));

        // A rotated key cannot open the old box and vice versa.
        let sealed = post(&f, 1, GENESIS, "alt");
        let rotated = ChannelKey::generate();
        let result = open_post(
            &sealed,
            &rotated,
            &f.channel,
            &f.org,
            &f.org_key.identity_key(),
            &[],
            None,
            None,
            500,
        );
        assert_eq!(result, Err(ChannelError::Undecryptable));
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_revoked_author_is_reported_only_for_an_otherwise_genuine_post() {
        let f = fixture(Role::Publisher);
        let p1 = post(&f, 1, GENESIS, "Echt, aber vom gestohlenen Gerät");
        let device = f.cert.verify(&f.org, &f.org_key.identity_key(), 500).unwrap().device;
        let open_revoked = |sealed: &[u8], n: u64, prev: &[u8; 32]| {
            open_post(
                sealed,
                &f.key,
                &f.channel,
                &f.org,
                &f.org_key.identity_key(),
                &[device],
                Some(n),
                Some(prev),
                500,
            )
        };
        assert_eq!(open_revoked(&p1, 1, &GENESIS), Err(ChannelError::Revoked));
        // Out of place, the chain error wins: only a post in its genuine
        // place may be stepped over as "revoked".
        assert!(matches!(open_revoked(&p1, 2, &GENESIS), Err(ChannelError::OutOfOrder { .. })));
        assert!(matches!(open_revoked(&p1, 1, &[9; 32]), Err(ChannelError::OutOfOrder { .. })));
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: f.channel,
            n: 2,
            prev: ByteBuf::from(post_hash(&p1).to_vec()),
            posted_at: 200,
            text: "zwei".into(),
            photos: vec![],
            prev_posted_at: 100,
        };
        let p2 = seal_post(&body, &f.key, 0, &f.device, f.cert.clone()).unwrap();
        assert_eq!(open_n(&f, &p2, 2, &post_hash(&p1)).unwrap().body.prev_posted_at, 100);
    }

    #[test]
    fn boxes_are_bound_to_channel_and_kind() {
        let f = fixture(Role::Publisher);
        let sealed = seal(&f.key, 0, &f.channel, BoxKind::Post, b"hello").unwrap();
        assert_eq!(
            open(&f.key, &f.channel, BoxKind::Meta, &sealed),
            Err(ChannelError::Undecryptable)
        );
        assert_eq!(
            open(&f.key, &ChannelId([9; 16]), BoxKind::Post, &sealed),
            Err(ChannelError::Undecryptable)
        );
        assert_eq!(open(&f.key, &f.channel, BoxKind::Post, &sealed).unwrap().1, b"hello");
    }

    #[test]
    fn metadata_round_trip_and_invite_link() {
        let f = fixture(Role::Admin);
        let meta = ChannelMeta {
            v: CHANNEL_VERSION,
            channel: f.channel,
            org: f.org,
            handle: "goslar".into(),
            name: "Amtsblatt".into(),
            description: Some("Bekanntmachungen".into()),
            replies: Replies::Private,
            reply_department: Some("presse".into()),
            retention_days: 90,
            created_at: 1,
            meta_version: 0,
        };
        let sealed = seal_meta(&meta, &f.key, 0, &f.device, f.cert.clone()).unwrap();
        let opened =
            open_meta(&sealed, &f.key, &f.channel, &f.org_key.identity_key(), &[], 500).unwrap();
        assert_eq!(opened, meta);
        let revoked = [DeviceId([3; 16])];
        assert_eq!(
            open_meta(&sealed, &f.key, &f.channel, &f.org_key.identity_key(), &revoked, 500),
            Err(ChannelError::Revoked)
        );
        // Fields added later are left out when zero: older metadata and
        // posts keep their bytes (and signatures), and decode to zero.
        let encoded = crate::frame::encode(&meta);
        assert!(!contains(&encoded, b"meta_version"));
        let later = ChannelMeta { meta_version: 2, ..meta };
        let back: ChannelMeta =
            ciborium::from_reader(crate::frame::encode(&later).as_slice()).unwrap();
        assert_eq!(back, later);

        let invite = ChannelInvite {
            v: CHANNEL_VERSION,
            handle: "goslar".into(),
            org: f.org,
            org_key: f.org_key.identity_key(),
            channel: f.channel,
            key_epoch: 0,
            key: ByteBuf::from(f.key.as_bytes().to_vec()),
        };
        let link = invite.to_link();
        assert!(link.starts_with("stadtbote:channel:"));
        assert_eq!(ChannelInvite::parse(&link).unwrap(), invite);
        assert!(ChannelInvite::parse("stadtbote:channel:AAAA").is_err());
        assert!(!format!("{invite:?}").contains(&link[20..40]));
    }
}
