//! Identifiers: random, fixed-length byte strings with a base32 text form.
//!
//! Account ids are what people exchange ("send a message to
//! `K3QF…`"), so their text form is RFC 4648 base32 without padding, upper
//! case, accepting lower case and ignoring spaces and dashes on input. On the
//! wire every id is a CBOR byte string.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// The text is not valid base32.
    #[error("not a valid base32 id")]
    Encoding,
    /// The decoded id has the wrong length.
    #[error("id has {found} bytes, expected {expected}")]
    Length {
        /// Bytes expected for this kind of id.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
}

/// Decodes base32 as people type it: any case, with spaces and dashes
/// anywhere. Shared by ids and the codes the CLI hands out.
pub fn decode_base32_lenient(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD.decode(cleaned.as_bytes()).ok()
}

/// Splits `text` into groups of `size` characters joined by `sep`, for
/// fingerprints and codes that people read aloud or type.
pub fn grouped(text: &str, size: usize, sep: &str) -> String {
    text.as_bytes()
        .chunks(size.max(1))
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

macro_rules! byte_id {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length of this id in bytes.
            pub const LEN: usize = $len;

            /// A fresh id from the operating system's random number generator.
            pub fn random() -> Self {
                let mut bytes = [0u8; $len];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Builds an id from a byte slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdParseError> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| IdParseError::Length { expected: $len, found: bytes.len() })
            }

            /// Parses the base32 text form (case-insensitive; spaces and dashes ignored).
            pub fn parse(text: &str) -> Result<Self, IdParseError> {
                let bytes = decode_base32_lenient(text).ok_or(IdParseError::Encoding)?;
                Self::from_slice(&bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&BASE32_NOPAD.encode(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_string())
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    Self::parse(&text).map_err(serde::de::Error::custom)
                } else {
                    let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?;
                    Self::from_slice(&bytes).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

byte_id!(
    /// A person's (or organisation's) account: 128 random bits, no phone number, no e-mail.
    AccountId,
    16
);
byte_id!(
    /// One device of an account; each device has its own Ed25519 identity key.
    DeviceId,
    16
);
byte_id!(
    /// An MLS group (a conversation); also the MLS `group_id`.
    GroupId,
    16
);
byte_id!(
    /// An application message, chosen by the sending client; used for
    /// delivery receipts and to show a message delivered twice only once.
    MsgId,
    16
);

byte_id!(
    /// An organisation (a municipality), created by a server admin.
    OrgId,
    16
);
byte_id!(
    /// An uploaded attachment (an opaque encrypted blob); knowing the id is
    /// what allows downloading it.
    BlobId,
    16
);

byte_id!(
    /// A broadcast channel.
    ChannelId,
    16
);

byte_id!(
    /// A backup staged on the server for an admin to download.
    BackupId,
    16
);

/// Domain separator of [`conversation_id`].
const CONVERSATION_DOMAIN: &[u8] = b"stadtbote-conversation-v1\0";

/// The group id of the one-to-one conversation between accounts `a` and `b`:
/// the first 16 bytes of SHA-256 over the domain separator
/// `"stadtbote-conversation-v1\0"`, the smaller account id and the larger
/// account id (byte-wise order). Both sides derive the same id without
/// talking to each other, so two devices that start the conversation at the
/// same time compete for the same group and the server's one-commit-per-epoch
/// rule picks a winner. `a == b` gives the conversation of an account with
/// its own devices.
pub fn conversation_id(a: &AccountId, b: &AccountId) -> GroupId {
    use sha2::{Digest, Sha256};
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut hasher = Sha256::new();
    hasher.update(CONVERSATION_DOMAIN);
    hasher.update(low.as_bytes());
    hasher.update(high.as_bytes());
    let digest = hasher.finalize();
    let mut id = [0u8; GroupId::LEN];
    id.copy_from_slice(&digest[..GroupId::LEN]);
    GroupId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_id_is_symmetric_and_distinct() {
        let a = AccountId([1; 16]);
        let b = AccountId([2; 16]);
        assert_eq!(conversation_id(&a, &b), conversation_id(&b, &a));
        assert_ne!(conversation_id(&a, &b), conversation_id(&a, &a));
        // Golden value: SHA-256("stadtbote-conversation-v1\0" || 01*16 || 02*16)[..16].
        use sha2::{Digest, Sha256};
        let mut input = b"stadtbote-conversation-v1\0".to_vec();
        input.extend_from_slice(&[1; 16]);
        input.extend_from_slice(&[2; 16]);
        assert_eq!(conversation_id(&a, &b).0[..], Sha256::digest(&input)[..16]);
    }

    #[test]
    fn base32_round_trip_and_lenient_input() {
        let id = AccountId([0xAB; 16]);
        let text = id.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(AccountId::parse(&text).unwrap(), id);
        let sloppy = format!(" {}-{} ", &text[..10].to_lowercase(), &text[10..]);
        assert_eq!(AccountId::parse(&sloppy).unwrap(), id);
    }

    #[test]
    fn wrong_length_and_garbage_are_typed_errors() {
        assert_eq!(AccountId::parse("AAAA"), Err(IdParseError::Length { expected: 16, found: 2 }));
        assert_eq!(AccountId::parse("!!!"), Err(IdParseError::Encoding));
    }

    #[test]
    fn cbor_encodes_ids_as_byte_strings() {
        let id = DeviceId([7; 16]);
        let mut buf = Vec::new();
        ciborium::into_writer(&id, &mut buf).unwrap();
        // 0x50 = CBOR major type 2 (byte string), length 16.
        assert_eq!(buf[0], 0x50);
        let back: DeviceId = ciborium::from_reader(buf.as_slice()).unwrap();
        assert_eq!(back, id);
    }
}
