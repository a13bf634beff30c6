//! The byte layout of stored keys and values.
//!
//! Every value starts with a version byte ([`RECORD_V1`]) so that a later
//! release can migrate old records instead of misreading them. Layouts are
//! fixed-width big-endian fields, which keeps them compact (a mailbox holds
//! millions of entries) and makes range scans over keys follow numeric
//! order. Nothing here holds plaintext beyond ids, public keys and timestamps;
//! payloads are MLS ciphertext and no record names a sender.

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::{AccountId, DeviceId};

use super::{DeviceRecord, StoreError};

/// The version byte of every record written by this release.
pub const RECORD_V1: u8 = 1;

/// A byte cursor over a stored value that reports truncation as corruption.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`, checking the version byte.
    fn new(bytes: &'a [u8], what: &'static str) -> Result<Self, StoreError> {
        match bytes.split_first() {
            Some((&RECORD_V1, rest)) => Ok(Self { bytes: rest, what }),
            Some((&version, _)) => Err(StoreError::UnsupportedSchema(version)),
            None => Err(StoreError::Corrupt(what)),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let (head, rest) = self.bytes.split_at_checked(N).ok_or(StoreError::Corrupt(self.what))?;
        self.bytes = rest;
        <[u8; N]>::try_from(head).map_err(|_| StoreError::Corrupt(self.what))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        self.take::<8>().map(u64::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        self.take::<4>().map(u32::from_be_bytes)
    }

    fn rest(self) -> &'a [u8] {
        self.bytes
    }

    fn finish(self) -> Result<(), StoreError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(StoreError::Corrupt(self.what)) }
    }
}

/// `accounts` value: when the account was created.
pub fn encode_account(created_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(RECORD_V1);
    out.extend_from_slice(&created_at.to_be_bytes());
    out
}

/// `devices` value.
pub fn encode_device(record: &DeviceRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(58);
    out.push(RECORD_V1);
    out.extend_from_slice(record.account.as_bytes());
    out.extend_from_slice(&record.identity_key.0);
    out.extend_from_slice(&record.created_at.to_be_bytes());
    out.push(u8::from(record.blocked));
    out
}

/// Reads a `devices` value.
pub fn decode_device(bytes: &[u8]) -> Result<DeviceRecord, StoreError> {
    let mut r = Reader::new(bytes, "devices")?;
    let account = AccountId(r.take()?);
    let identity_key = IdentityKey(r.take()?);
    let created_at = r.u64()?;
    let blocked = match r.take::<1>()? {
        [0] => false,
        [1] => true,
        _ => return Err(StoreError::Corrupt("devices")),
    };
    r.finish()?;
    Ok(DeviceRecord { account, identity_key, created_at, blocked })
}

/// A group's ordering state: its epoch and member devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The current epoch (1 after the creating commit).
    pub epoch: u64,
    /// Member devices, sorted and without duplicates.
    pub members: Vec<DeviceId>,
}

/// `groups` value.
pub fn encode_group(record: &GroupRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + record.members.len() * DeviceId::LEN);
    out.push(RECORD_V1);
    out.extend_from_slice(&record.epoch.to_be_bytes());
    // The member count is bounded by the configured group size (validated to
    // fit in 32 bits), so the conversion cannot saturate in practice.
    let count = u32::try_from(record.members.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for member in &record.members {
        out.extend_from_slice(member.as_bytes());
    }
    out
}

/// Reads a `groups` value.
pub fn decode_group(bytes: &[u8]) -> Result<GroupRecord, StoreError> {
    let mut r = Reader::new(bytes, "groups")?;
    let epoch = r.u64()?;
    let count = r.u32()?;
    let rest = r.rest();
    if rest.len() != (count as usize).saturating_mul(DeviceId::LEN) {
        return Err(StoreError::Corrupt("groups"));
    }
    let members = rest
        .chunks_exact(DeviceId::LEN)
        .map(|c| DeviceId::from_slice(c).map_err(|_| StoreError::Corrupt("groups")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroupRecord { epoch, members })
}

/// A stored message: one copy of the ciphertext, shared by its mailbox entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    /// When it was stored (Unix milliseconds).
    pub stored_at: u64,
    /// When it expires if undelivered (Unix milliseconds).
    pub expires_at: u64,
    /// The MLS message.
    pub payload: &'a [u8],
}

/// `messages` value.
pub fn encode_message(record: &MessageRecord<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + record.payload.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&record.stored_at.to_be_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out.extend_from_slice(record.payload);
    out
}

/// Reads a `messages` value.
pub fn decode_message(bytes: &[u8]) -> Result<MessageRecord<'_>, StoreError> {
    let mut r = Reader::new(bytes, "messages")?;
    let stored_at = r.u64()?;
    let expires_at = r.u64()?;
    Ok(MessageRecord { stored_at, expires_at, payload: r.rest() })
}

/// How many mailbox entries still point at a message, and when it expires
/// (kept apart from the payload so that an ack does not rewrite the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefsRecord {
    /// Mailbox entries left.
    pub remaining: u32,
    /// The message's expiry, to find its expiry-index entry.
    pub expires_at: u64,
}

/// `refs` value.
pub fn encode_refs(record: RefsRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(13);
    out.push(RECORD_V1);
    out.extend_from_slice(&record.remaining.to_be_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out
}

/// Reads a `refs` value.
pub fn decode_refs(bytes: &[u8]) -> Result<RefsRecord, StoreError> {
    let mut r = Reader::new(bytes, "refs")?;
    let remaining = r.u32()?;
    let expires_at = r.u64()?;
    r.finish()?;
    Ok(RefsRecord { remaining, expires_at })
}

/// A link code (stored under the SHA-256 of the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCodeRecord {
    /// The account a new device joins.
    pub account: AccountId,
    /// When the code stops working (Unix milliseconds).
    pub expires_at: u64,
}

/// `link_codes` value.
pub fn encode_link_code(record: &LinkCodeRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(25);
    out.push(RECORD_V1);
    out.extend_from_slice(record.account.as_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out
}

/// Reads a `link_codes` value.
pub fn decode_link_code(bytes: &[u8]) -> Result<LinkCodeRecord, StoreError> {
    let mut r = Reader::new(bytes, "link_codes")?;
    let account = AccountId(r.take()?);
    let expires_at = r.u64()?;
    r.finish()?;
    Ok(LinkCodeRecord { account, expires_at })
}

/// `keypackages` and `last_resort` value: the TLS-encoded KeyPackage.
pub fn encode_key_package(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + bytes.len());
    out.push(RECORD_V1);
    out.extend_from_slice(bytes);
    out
}

/// Reads a `keypackages` or `last_resort` value.
pub fn decode_key_package(bytes: &[u8]) -> Result<&[u8], StoreError> {
    Reader::new(bytes, "keypackages").map(Reader::rest)
}

/// `kp_count` value: one-time packages held by a device.
pub fn encode_count(count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    out.push(RECORD_V1);
    out.extend_from_slice(&count.to_be_bytes());
    out
}

/// Reads a `kp_count` value.
pub fn decode_count(bytes: &[u8]) -> Result<u32, StoreError> {
    let mut r = Reader::new(bytes, "kp_count")?;
    let count = r.u32()?;
    r.finish()?;
    Ok(count)
}

/// Key of 16 id bytes followed by a big-endian sequence number (mailbox and
/// keypackages), so that a device's entries are contiguous and in order.
pub fn id_seq_key(id: &[u8; 16], seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(id);
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Key of a sequence number followed by a device (the recipients index).
pub fn seq_id_key(seq: u64, id: &[u8; 16]) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&seq.to_be_bytes());
    key[8..].copy_from_slice(id);
    key
}

/// Key of two 16-byte ids (account → device index).
pub fn pair_key(a: &[u8; 16], b: &[u8; 16]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(a);
    key[16..].copy_from_slice(b);
    key
}

/// Key of the expiry index: expiry time then message sequence number.
pub fn expiry_key(expires_at: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&expires_at.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a 24-byte `id || seq` key.
pub fn split_id_seq(key: &[u8]) -> Result<([u8; 16], u64), StoreError> {
    let id: [u8; 16] =
        key.get(..16).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("key"))?;
    let seq: [u8; 8] =
        key.get(16..24).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("key"))?;
    Ok((id, u64::from_be_bytes(seq)))
}

/// Splits a 24-byte `seq || id` key.
pub fn split_seq_id(key: &[u8]) -> Result<(u64, [u8; 16]), StoreError> {
    let seq: [u8; 8] =
        key.get(..8).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("key"))?;
    let id: [u8; 16] =
        key.get(8..24).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("key"))?;
    Ok((u64::from_be_bytes(seq), id))
}

/// Splits a 16-byte expiry key.
pub fn split_expiry(key: &[u8]) -> Result<(u64, u64), StoreError> {
    let at: [u8; 8] =
        key.get(..8).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("expiry"))?;
    let seq: [u8; 8] =
        key.get(8..16).and_then(|s| s.try_into().ok()).ok_or(StoreError::Corrupt("expiry"))?;
    Ok((u64::from_be_bytes(at), u64::from_be_bytes(seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let device = DeviceRecord {
            account: AccountId([1; 16]),
            identity_key: IdentityKey([2; 32]),
            created_at: 3,
            blocked: true,
        };
        assert_eq!(decode_device(&encode_device(&device)).unwrap(), device);
        let group = GroupRecord { epoch: 7, members: vec![DeviceId([1; 16]), DeviceId([2; 16])] };
        assert_eq!(decode_group(&encode_group(&group)).unwrap(), group);
        let message = MessageRecord { stored_at: 1, expires_at: 2, payload: b"abc" };
        assert_eq!(decode_message(&encode_message(&message)).unwrap(), message);
        let refs = RefsRecord { remaining: 3, expires_at: 9 };
        assert_eq!(decode_refs(&encode_refs(refs)).unwrap(), refs);
        let link = LinkCodeRecord { account: AccountId([5; 16]), expires_at: 11 };
        assert_eq!(decode_link_code(&encode_link_code(&link)).unwrap(), link);
        assert_eq!(decode_count(&encode_count(42)).unwrap(), 42);
    }

    #[test]
    fn truncated_or_future_records_are_typed_errors() {
        assert!(matches!(decode_device(&[RECORD_V1, 1, 2]), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode_refs(&[9, 0]), Err(StoreError::UnsupportedSchema(9))));
        assert!(matches!(decode_group(&[]), Err(StoreError::Corrupt(_))));
        let mut group = encode_group(&GroupRecord { epoch: 1, members: vec![DeviceId([1; 16])] });
        group.pop();
        assert!(matches!(decode_group(&group), Err(StoreError::Corrupt(_))));
    }
}
