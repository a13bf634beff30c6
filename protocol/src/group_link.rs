//! Join links of discussion groups.
//!
//! A discussion group is an MLS group that people join by link, without a
//! member having to be online: the link carries a 32-byte secret from which
//! two values are derived. The *join token* proves to the server that the
//! joiner holds the link (the server stores only its SHA-256); the *info
//! key* seals the group's current MLS `GroupInfo`, which the joiner needs
//! for an MLS external commit (RFC 9420 §12.4.3.2). The server stores the
//! sealed GroupInfo but cannot read it. When a moderator removes a member,
//! the link is replaced, so the removed member cannot come back with it.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::auth::IdentityKey;
use crate::channel::{self, BoxKind, ChannelError, ChannelKey};
use crate::ids::{ChannelId, GroupId, OrgId};

const TOKEN_DOMAIN: &[u8] = b"stadtbote-group-token-v1\0";
const INFO_KEY_DOMAIN: &[u8] = b"stadtbote-group-info-key-v1\0";
const LINK_PREFIX: &str = "stadtbote:group:";

/// Version of the link format.
pub const GROUP_LINK_VERSION: u16 = 1;

/// A discussion group's join link.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLink {
    /// [`GROUP_LINK_VERSION`].
    pub v: u16,
    /// The MLS group.
    pub group: GroupId,
    /// The 32-byte link secret.
    pub secret: ByteBuf,
    /// The org running the group.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// Its public key (moderators are its certified staff).
    pub org_key: IdentityKey,
}

impl std::fmt::Debug for GroupLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLink")
            .field("group", &self.group)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// A fresh random link secret.
pub fn new_secret() -> Zeroizing<[u8; 32]> {
    use rand::RngCore;
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    secret
}

/// The join token for a link secret: SHA-256(domain ‖ secret).
pub fn join_token(secret: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(TOKEN_DOMAIN).chain_update(secret).finalize().into()
}

/// What the server stores to check a join token: SHA-256(token).
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

fn info_key(secret: &[u8]) -> Result<ChannelKey, ChannelError> {
    let key: [u8; 32] =
        Sha256::new().chain_update(INFO_KEY_DOMAIN).chain_update(secret).finalize().into();
    ChannelKey::from_bytes(&key)
}

/// The group id reinterpreted as the sealing context (same 16 bytes), so the
/// channel sealing construction binds the box to this group.
fn context(group: &GroupId) -> ChannelId {
    ChannelId(group.0)
}

/// Seals a TLS-encoded MLS GroupInfo under the link secret.
pub fn seal_group_info(
    secret: &[u8],
    group: &GroupId,
    info: &[u8],
) -> Result<Vec<u8>, ChannelError> {
    channel::seal(&info_key(secret)?, 0, &context(group), BoxKind::Meta, info)
}

/// Opens a sealed GroupInfo with the link secret.
pub fn open_group_info(
    secret: &[u8],
    group: &GroupId,
    sealed: &[u8],
) -> Result<Vec<u8>, ChannelError> {
    channel::open(&info_key(secret)?, &context(group), BoxKind::Meta, sealed).map(|(_, info)| info)
}

impl GroupLink {
    /// The link form: `stadtbote:group:` + base32 of the CBOR link.
    pub fn to_link(&self) -> String {
        format!("{LINK_PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&crate::frame::encode(self)))
    }

    /// Parses a link (case-insensitive; whitespace ignored).
    pub fn parse(link: &str) -> Result<Self, ChannelError> {
        let link = link.trim();
        let rest = link
            .get(..LINK_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(LINK_PREFIX))
            .and_then(|_| link.get(LINK_PREFIX.len()..))
            .ok_or(ChannelError::Malformed("group link"))?;
        let bytes =
            crate::ids::decode_base32_lenient(rest).ok_or(ChannelError::Malformed("group link"))?;
        let parsed: GroupLink = ciborium::from_reader(bytes.as_slice())
            .map_err(|_| ChannelError::Malformed("group link"))?;
        if parsed.v != GROUP_LINK_VERSION || parsed.secret.len() != 32 {
            return Err(ChannelError::Malformed("group link"));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DeviceSecret;

    #[test]
    fn link_round_trip_and_sealed_info() {
        let secret = new_secret();
        let link = GroupLink {
            v: GROUP_LINK_VERSION,
            group: GroupId([5; 16]),
            secret: ByteBuf::from(secret.to_vec()),
            org: OrgId([1; 16]),
            handle: "musterhausen".into(),
            org_key: DeviceSecret::generate().identity_key(),
        };
        let text = link.to_link();
        assert_eq!(GroupLink::parse(&text).unwrap(), link);
        assert!(!format!("{link:?}").contains(&text[20..40]));

        let sealed = seal_group_info(secret.as_slice(), &link.group, b"group info").unwrap();
        assert_eq!(
            open_group_info(secret.as_slice(), &link.group, &sealed).unwrap(),
            b"group info"
        );
        let other = new_secret();
        assert!(open_group_info(other.as_slice(), &link.group, &sealed).is_err());
        assert!(open_group_info(secret.as_slice(), &GroupId([6; 16]), &sealed).is_err());
        assert_ne!(join_token(secret.as_slice()), join_token(other.as_slice()));
        assert_eq!(token_hash(&join_token(secret.as_slice())).len(), 32);
    }
}
