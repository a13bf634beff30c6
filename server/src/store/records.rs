//! The byte layout of stored keys and values.
//!
//! Every value starts with a version byte ([`RECORD_V1`]) so that a later
//! release can migrate old records instead of misreading them. Layouts are
//! fixed-width big-endian fields, which keeps them compact (a mailbox holds
//! millions of entries) and makes range scans over keys follow numeric
//! order. Nothing here holds plaintext beyond ids, public keys and timestamps;
//! payloads are MLS ciphertext and no record names a sender.
//!
//! No record holds a raw account id: where an account is named, the record
//! holds its blinded id and, where the id must be recovered, an [`Owner`]
//! whose account id is sealed with the account's shredding key (see
//! [`super::shred`]). KeyPackages are sealed the same way by the store.

use stadtbote_protocol::auth::{IdentityKey, Signature};
use stadtbote_protocol::org::{Signed, StaffCertificate};
use stadtbote_protocol::{AccountId, DeviceId, GroupId, OrgId};

use super::settings::{FactorOwner, FactorRecord};
use super::shred::{Blind, SEALED_ID_LEN};
use super::{BlobRecord, ChannelRecord, InviteRecord, OrgCodeRecord, OrgRecord, StoreError};
use stadtbote_protocol::totp::Secret;

/// The version byte of every record written by this release.
pub const RECORD_V1: u8 = 1;
/// The version byte of a `group_info` value that names the group's org.
pub const GROUP_INFO_WITH_ORG: u8 = 2;

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
            Some((&version, _)) => Err(StoreError::unsupported_schema(version)),
            None => Err(StoreError::corrupt(what)),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let (head, rest) = self.bytes.split_at_checked(N).ok_or(StoreError::corrupt(self.what))?;
        self.bytes = rest;
        <[u8; N]>::try_from(head).map_err(|_| StoreError::corrupt(self.what))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        self.take::<8>().map(u64::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        self.take::<4>().map(u32::from_be_bytes)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        self.take::<1>().map(|[b]| b)
    }

    fn flag(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StoreError::corrupt(self.what)),
        }
    }

    /// A field written by [`put_bytes`].
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.u32()? as usize;
        let (head, rest) =
            self.bytes.split_at_checked(len).ok_or(StoreError::corrupt(self.what))?;
        self.bytes = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let what = self.what;
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::corrupt(what))
    }

    /// A field written by [`put_signed`].
    fn signed(&mut self) -> Result<Signed, StoreError> {
        let bytes = self.bytes()?.to_vec();
        let signature = Signature(self.take()?);
        Ok(Signed { bytes: bytes.into(), signature })
    }

    fn rest(self) -> &'a [u8] {
        self.bytes
    }

    fn finish(self) -> Result<(), StoreError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(StoreError::corrupt(self.what)) }
    }
}

/// `accounts` value: when the account was created.
pub fn encode_account(created_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(RECORD_V1);
    out.extend_from_slice(&created_at.to_be_bytes());
    out
}

/// The account a record belongs to, as stored: its blinded id (to find
/// the account's records and key) and its id sealed with the account's
/// shredding key (to recover it while the account exists).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The blinded account id.
    pub blind: Blind,
    /// The account id sealed for this record.
    pub sealed: [u8; SEALED_ID_LEN],
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Owner(..)")
    }
}

impl Reader<'_> {
    fn owner(&mut self) -> Result<Owner, StoreError> {
        Ok(Owner { blind: Blind(self.take()?), sealed: self.take()? })
    }
}

fn put_owner(out: &mut Vec<u8>, owner: &Owner) {
    out.extend_from_slice(owner.blind.as_bytes());
    out.extend_from_slice(&owner.sealed);
}

/// A `devices` record as stored (the account sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredDevice {
    /// The account it belongs to.
    pub owner: Owner,
    /// Its public identity key.
    pub identity_key: IdentityKey,
    /// When it was registered (Unix milliseconds).
    pub created_at: u64,
    /// Whether an operator blocked it.
    pub blocked: bool,
}

/// `devices` value.
pub fn encode_device(record: &StoredDevice) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + SEALED_ID_LEN + 41);
    out.push(RECORD_V1);
    put_owner(&mut out, &record.owner);
    out.extend_from_slice(&record.identity_key.0);
    out.extend_from_slice(&record.created_at.to_be_bytes());
    out.push(u8::from(record.blocked));
    out
}

/// Reads a `devices` value.
pub fn decode_device(bytes: &[u8]) -> Result<StoredDevice, StoreError> {
    let mut r = Reader::new(bytes, "devices")?;
    let owner = r.owner()?;
    let identity_key = IdentityKey(r.take()?);
    let created_at = r.u64()?;
    let blocked = match r.take::<1>()? {
        [0] => false,
        [1] => true,
        _ => return Err(StoreError::corrupt("devices")),
    };
    r.finish()?;
    Ok(StoredDevice { owner, identity_key, created_at, blocked })
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
        return Err(StoreError::corrupt("groups"));
    }
    let members = rest
        .chunks_exact(DeviceId::LEN)
        .map(|c| DeviceId::from_slice(c).map_err(|_| StoreError::corrupt("groups")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroupRecord { epoch, members })
}

/// A discussion group's join information: the hash of its current join
/// token and its GroupInfo sealed with the link secret (opaque here).
#[derive(Clone, PartialEq, Eq)]
pub struct GroupInfoRecord {
    /// The group's epoch when the info was stored.
    pub epoch: u64,
    /// SHA-256 of the current join token.
    pub token_hash: [u8; 32],
    /// The sealed GroupInfo.
    pub info: Vec<u8>,
    /// The org whose staff moderate the group, as recorded with its first
    /// GroupInfo (`None` for groups recorded before this was kept, or
    /// created without one).
    pub org: Option<OrgId>,
}

impl std::fmt::Debug for GroupInfoRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupInfoRecord")
            .field("epoch", &self.epoch)
            .field("info_len", &self.info.len())
            .finish_non_exhaustive()
    }
}

/// `group_info` value: epoch, token hash, then the sealed GroupInfo.
///
/// Without an org the value is written as before ([`RECORD_V1`]); with one
/// as [`GROUP_INFO_WITH_ORG`], the org's 16 bytes after the token hash.
pub fn encode_group_info(record: &GroupInfoRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(57 + record.info.len());
    out.push(if record.org.is_some() { GROUP_INFO_WITH_ORG } else { RECORD_V1 });
    out.extend_from_slice(&record.epoch.to_be_bytes());
    out.extend_from_slice(&record.token_hash);
    if let Some(org) = &record.org {
        out.extend_from_slice(org.as_bytes());
    }
    out.extend_from_slice(&record.info);
    out
}

/// Reads a `group_info` value (either version).
pub fn decode_group_info(bytes: &[u8]) -> Result<GroupInfoRecord, StoreError> {
    let with_org = bytes.first() == Some(&GROUP_INFO_WITH_ORG);
    let mut r = if with_org {
        Reader { bytes: bytes.get(1..).unwrap_or_default(), what: "group_info" }
    } else {
        Reader::new(bytes, "group_info")?
    };
    let epoch = r.u64()?;
    let token_hash = r.take()?;
    let org = if with_org { Some(OrgId(r.take()?)) } else { None };
    Ok(GroupInfoRecord { epoch, token_hash, info: r.rest().to_vec(), org })
}

/// Compares two 32-byte hashes in constant time (no early exit), so that
/// timing does not reveal how much of a guessed token hash matched.
pub fn hash_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
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
    pub owner: Owner,
    /// When the code stops working (Unix milliseconds).
    pub expires_at: u64,
}

/// `link_codes` value.
pub fn encode_link_code(record: &LinkCodeRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + SEALED_ID_LEN + 8);
    out.push(RECORD_V1);
    put_owner(&mut out, &record.owner);
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out
}

/// Reads a `link_codes` value.
pub fn decode_link_code(bytes: &[u8]) -> Result<LinkCodeRecord, StoreError> {
    let mut r = Reader::new(bytes, "link_codes")?;
    let owner = r.owner()?;
    let expires_at = r.u64()?;
    r.finish()?;
    Ok(LinkCodeRecord { owner, expires_at })
}

/// `keypackages` and `last_resort` value: the TLS-encoded KeyPackage,
/// sealed by the store with the owner account's key (its MLS credential
/// holds the raw account id).
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

/// Appends a length-prefixed (u32) byte field. Every variable-length field
/// stored here is bounded by a configured limit far below 4 GiB.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a signed object: its bytes, then the 64-byte signature.
fn put_signed(out: &mut Vec<u8>, signed: &Signed) {
    put_bytes(out, &signed.bytes);
    out.extend_from_slice(&signed.signature.0);
}

/// A single timestamp (`admins`, `group_expiry`) or counter (`blob_usage`).
pub fn encode_u64(value: u64) -> Vec<u8> {
    encode_account(value)
}

/// Reads a value written by [`encode_u64`].
pub fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64, StoreError> {
    let mut r = Reader::new(bytes, what)?;
    let value = r.u64()?;
    r.finish()?;
    Ok(value)
}

/// A 32-byte hash (`admin_claim`).
pub fn encode_hash(hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    out.push(RECORD_V1);
    out.extend_from_slice(hash);
    out
}

/// Reads a value written by [`encode_hash`].
pub fn decode_hash(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    let mut r = Reader::new(bytes, "admin_claim")?;
    let hash = r.take()?;
    r.finish()?;
    Ok(hash)
}

/// A 16-byte id (`handles` → org, `message_group` → group).
pub fn encode_id(id: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17);
    out.push(RECORD_V1);
    out.extend_from_slice(id);
    out
}

/// Reads a value written by [`encode_id`].
pub fn decode_id(bytes: &[u8], what: &'static str) -> Result<[u8; 16], StoreError> {
    let mut r = Reader::new(bytes, what)?;
    let id = r.take()?;
    r.finish()?;
    Ok(id)
}

/// Reads a `message_group` value.
pub fn decode_group_id(bytes: &[u8]) -> Result<GroupId, StoreError> {
    decode_id(bytes, "message_group").map(GroupId)
}

/// `orgs` value.
pub fn encode_org(record: &OrgRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + record.handle.len() + record.name.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&record.created_at.to_be_bytes());
    out.extend_from_slice(&record.profile_version.to_be_bytes());
    out.extend_from_slice(&record.revocation_version.to_be_bytes());
    match &record.org_key {
        Some(key) => {
            out.push(1);
            out.extend_from_slice(&key.0);
        }
        None => out.push(0),
    }
    match &record.admin_device {
        Some(device) => {
            out.push(1);
            out.extend_from_slice(device.as_bytes());
        }
        None => out.push(0),
    }
    put_bytes(&mut out, record.handle.as_bytes());
    put_bytes(&mut out, record.name.as_bytes());
    // Appended after the fields of the first release, and only when set, so
    // that records written before suspension existed still decode (as not
    // suspended) and unsuspended records keep their old bytes.
    if record.suspended {
        out.push(1);
    }
    out
}

/// Reads an `orgs` value.
pub fn decode_org(bytes: &[u8]) -> Result<OrgRecord, StoreError> {
    let mut r = Reader::new(bytes, "orgs")?;
    let created_at = r.u64()?;
    let profile_version = r.u64()?;
    let revocation_version = r.u64()?;
    let org_key = if r.flag()? { Some(IdentityKey(r.take()?)) } else { None };
    let admin_device = if r.flag()? { Some(DeviceId(r.take()?)) } else { None };
    let handle = r.string()?;
    let name = r.string()?;
    let suspended = match r.rest() {
        [] => false,
        [1] => true,
        _ => return Err(StoreError::corrupt("orgs")),
    };
    Ok(OrgRecord {
        suspended,
        handle,
        name,
        created_at,
        org_key,
        admin_device,
        profile_version,
        revocation_version,
    })
}

/// `org_codes` value.
pub fn encode_org_code(record: &OrgCodeRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    out.push(RECORD_V1);
    out.extend_from_slice(record.org.as_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out.extend_from_slice(&record.delete_at.to_be_bytes());
    out.push(u8::from(record.used));
    out
}

/// Reads an `org_codes` value.
pub fn decode_org_code(bytes: &[u8]) -> Result<OrgCodeRecord, StoreError> {
    let mut r = Reader::new(bytes, "org_codes")?;
    let org = OrgId(r.take()?);
    let expires_at = r.u64()?;
    let delete_at = r.u64()?;
    let used = r.flag()?;
    r.finish()?;
    Ok(OrgCodeRecord { org, expires_at, delete_at, used })
}

/// `org_rotations` value: the org's key rotation chain (CBOR of the links).
pub fn encode_rotations(chain: &[stadtbote_protocol::org_rotation::SignedRotation]) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&stadtbote_protocol::frame::encode(&chain));
    out
}

/// Reads a value written by [`encode_rotations`].
pub fn decode_rotations(
    bytes: &[u8],
) -> Result<Vec<stadtbote_protocol::org_rotation::SignedRotation>, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => {
            ciborium::from_reader(rest).map_err(|_| StoreError::corrupt("org_rotations"))
        }
        _ => Err(StoreError::corrupt("org_rotations")),
    }
}

/// `org_profiles`, `org_revocations` and `org_staff_lists` value: a signed object.
pub fn encode_signed(signed: &Signed) -> Vec<u8> {
    let mut out = Vec::with_capacity(69 + signed.bytes.len());
    out.push(RECORD_V1);
    put_signed(&mut out, signed);
    out
}

/// Reads a value written by [`encode_signed`].
pub fn decode_signed(bytes: &[u8], what: &'static str) -> Result<Signed, StoreError> {
    let mut r = Reader::new(bytes, what)?;
    let signed = r.signed()?;
    r.finish()?;
    Ok(signed)
}

/// `invites` value.
pub fn encode_invite(record: &InviteRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(110 + record.invite.bytes.len());
    out.push(RECORD_V1);
    out.extend_from_slice(record.org.as_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out.extend_from_slice(&record.delete_at.to_be_bytes());
    out.push(u8::from(record.used));
    put_signed(&mut out, &record.invite);
    out
}

/// Reads an `invites` value.
pub fn decode_invite(bytes: &[u8]) -> Result<InviteRecord, StoreError> {
    let mut r = Reader::new(bytes, "invites")?;
    let org = OrgId(r.take()?);
    let expires_at = r.u64()?;
    let delete_at = r.u64()?;
    let used = r.flag()?;
    let invite = r.signed()?;
    r.finish()?;
    Ok(InviteRecord { org, expires_at, delete_at, used, invite })
}

/// `staff` value: the invitation, the device binding and, once the org key
/// approved the enrolment, the approval. The approval is an optional
/// trailing field, so values written before approvals existed (two signed
/// objects) read as pending enrolments without a new record version.
pub fn encode_staff(certificate: &StaffCertificate) -> Vec<u8> {
    let approval = certificate.approval.as_ref().map_or(0, |a| a.bytes.len() + 70);
    let size = certificate.invite.bytes.len() + certificate.binding.bytes.len() + approval;
    let mut out = Vec::with_capacity(140 + size);
    out.push(RECORD_V1);
    put_signed(&mut out, &certificate.invite);
    put_signed(&mut out, &certificate.binding);
    if let Some(approval) = &certificate.approval {
        put_signed(&mut out, approval);
    }
    out
}

/// Reads a `staff` value.
pub fn decode_staff(bytes: &[u8]) -> Result<StaffCertificate, StoreError> {
    let mut r = Reader::new(bytes, "staff")?;
    let invite = r.signed()?;
    let binding = r.signed()?;
    let approval = if r.bytes.is_empty() { None } else { Some(r.signed()?) };
    r.finish()?;
    Ok(StaffCertificate { invite, binding, approval })
}

/// `revoked` value: the orgs that revoked a device, sorted.
pub fn encode_orgs(orgs: &[OrgId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + orgs.len() * OrgId::LEN);
    out.push(RECORD_V1);
    let count = u32::try_from(orgs.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for org in orgs {
        out.extend_from_slice(org.as_bytes());
    }
    out
}

/// Reads a `revoked` value.
pub fn decode_orgs(bytes: &[u8]) -> Result<Vec<OrgId>, StoreError> {
    let mut r = Reader::new(bytes, "revoked")?;
    let count = r.u32()?;
    let rest = r.rest();
    if rest.len() != (count as usize).saturating_mul(OrgId::LEN) {
        return Err(StoreError::corrupt("revoked"));
    }
    rest.chunks_exact(OrgId::LEN)
        .map(|c| OrgId::from_slice(c).map_err(|_| StoreError::corrupt("revoked")))
        .collect()
}

/// A `blobs` record as stored: the owner sealed, the rest as in
/// [`BlobRecord`] (whose `owner` the store fills in after unsealing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    /// The uploading account.
    pub owner: Owner,
    /// The record; its `owner` field is not stored.
    pub record: BlobRecord,
}

/// `blobs` value.
pub fn encode_blob(stored: &StoredBlob) -> Vec<u8> {
    let record = &stored.record;
    let mut out = Vec::with_capacity(1 + 32 + SEALED_ID_LEN + 41);
    out.push(RECORD_V1);
    put_owner(&mut out, &stored.owner);
    out.extend_from_slice(&record.size.to_be_bytes());
    out.extend_from_slice(&record.chunk_size.to_be_bytes());
    out.extend_from_slice(&record.chunks_received.to_be_bytes());
    out.push(u8::from(record.complete));
    out.extend_from_slice(&record.created_at.to_be_bytes());
    out.extend_from_slice(&record.expires_at.to_be_bytes());
    out.extend_from_slice(&record.charged.to_be_bytes());
    out
}

/// Reads a `blobs` value. The returned record's `owner` is all zeros until
/// the store unseals it.
pub fn decode_blob(bytes: &[u8]) -> Result<StoredBlob, StoreError> {
    let mut r = Reader::new(bytes, "blobs")?;
    let owner = r.owner()?;
    let size = r.u64()?;
    let chunk_size = r.u32()?;
    let chunks_received = r.u32()?;
    let complete = r.flag()?;
    let created_at = r.u64()?;
    let expires_at = r.u64()?;
    let charged = r.u64()?;
    r.finish()?;
    let record = BlobRecord {
        owner: AccountId([0; AccountId::LEN]),
        size,
        chunk_size,
        chunks_received,
        complete,
        created_at,
        expires_at,
        charged,
    };
    Ok(StoredBlob { owner, record })
}

/// `channels` value.
pub fn encode_channel(record: &ChannelRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(45 + record.meta.len());
    out.push(RECORD_V1);
    out.extend_from_slice(record.org.as_bytes());
    out.extend_from_slice(&record.key_epoch.to_be_bytes());
    out.extend_from_slice(&record.retention_days.to_be_bytes());
    out.extend_from_slice(&record.last_seq.to_be_bytes());
    out.extend_from_slice(&record.created_at.to_be_bytes());
    put_bytes(&mut out, &record.meta);
    out
}

/// Reads a `channels` value.
pub fn decode_channel(bytes: &[u8]) -> Result<ChannelRecord, StoreError> {
    let mut r = Reader::new(bytes, "channels")?;
    let org = OrgId(r.take()?);
    let key_epoch = r.u32()?;
    let retention_days = r.u32()?;
    let last_seq = r.u64()?;
    let created_at = r.u64()?;
    let meta = r.bytes()?.to_vec();
    r.finish()?;
    Ok(ChannelRecord { org, meta, key_epoch, retention_days, last_seq, created_at })
}

/// `channel_posts` value: stored_at, expires_at, then the sealed post.
/// The same layout as a stored message.
pub fn encode_channel_post(stored_at: u64, expires_at: u64, post: &[u8]) -> Vec<u8> {
    encode_message(&MessageRecord { stored_at, expires_at, payload: post })
}

/// Reads a `channel_posts` value: (stored_at, expires_at, post).
pub fn decode_channel_post(bytes: &[u8]) -> Result<(u64, u64, &[u8]), StoreError> {
    let mut r = Reader::new(bytes, "channel_posts")?;
    let stored_at = r.u64()?;
    let expires_at = r.u64()?;
    Ok((stored_at, expires_at, r.rest()))
}

/// Key of the channel post expiry index: expiry time, channel, sequence
/// number, so that a range scan finds every post due before a time.
pub fn channel_expiry_key(expires_at: u64, channel: &[u8; 16], seq: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&expires_at.to_be_bytes());
    key[8..24].copy_from_slice(channel);
    key[24..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a 32-byte channel post expiry key into (channel, seq).
pub fn split_channel_expiry(key: &[u8]) -> Result<([u8; 16], u64), StoreError> {
    let rest = key.get(8..32).ok_or(StoreError::corrupt("channel_post_expiry"))?;
    split_id_seq(rest)
}

/// Key of a time followed by a 16-byte id (`group_expiry_index`,
/// `blob_expiry`), so that a range scan finds everything due before a time.
pub fn time_id_key(at: u64, id: &[u8; 16]) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&at.to_be_bytes());
    key[8..].copy_from_slice(id);
    key
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

/// `account_devices` key: blinded account ‖ device.
pub fn account_device_key(account: &Blind, device: &DeviceId) -> [u8; 48] {
    let mut key = [0u8; 48];
    key[..32].copy_from_slice(account.as_bytes());
    key[32..].copy_from_slice(device.as_bytes());
    key
}

/// Key of two 16-byte ids.
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
        key.get(..16).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("key"))?;
    let seq: [u8; 8] =
        key.get(16..24).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("key"))?;
    Ok((id, u64::from_be_bytes(seq)))
}

/// Splits a 24-byte `seq || id` key.
pub fn split_seq_id(key: &[u8]) -> Result<(u64, [u8; 16]), StoreError> {
    let seq: [u8; 8] =
        key.get(..8).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("key"))?;
    let id: [u8; 16] =
        key.get(8..24).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("key"))?;
    Ok((u64::from_be_bytes(seq), id))
}

/// Splits a 16-byte expiry key.
pub fn split_expiry(key: &[u8]) -> Result<(u64, u64), StoreError> {
    let at: [u8; 8] =
        key.get(..8).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("expiry"))?;
    let seq: [u8; 8] =
        key.get(8..16).and_then(|s| s.try_into().ok()).ok_or(StoreError::corrupt("expiry"))?;
    Ok((u64::from_be_bytes(at), u64::from_be_bytes(seq)))
}

/// The key of `owner`'s TOTP secret in the `settings` collection (both
/// backends; a backup moves it unchanged).
pub fn factor_key(owner: &FactorOwner) -> Vec<u8> {
    let mut key = b"factor/".to_vec();
    match owner {
        FactorOwner::Admin(device) => {
            key.extend_from_slice(b"a/");
            key.extend_from_slice(device.as_bytes());
        }
        FactorOwner::Org(org) => {
            key.extend_from_slice(b"o/");
            key.extend_from_slice(org.as_bytes());
        }
    }
    key
}

/// A TOTP secret record: version, whether a step was used, the last step,
/// the secret.
pub fn encode_factor(secret: &[u8], last_step: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + secret.len());
    out.push(RECORD_V1);
    out.push(u8::from(last_step.is_some()));
    out.extend_from_slice(&last_step.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(secret);
    out
}

/// Decodes [`encode_factor`]'s record.
pub fn decode_factor(bytes: &[u8]) -> Result<FactorRecord, StoreError> {
    let corrupt = || StoreError::corrupt("settings");
    let (&version, rest) = bytes.split_first().ok_or_else(corrupt)?;
    if version != RECORD_V1 {
        return Err(StoreError::unsupported_schema(version));
    }
    let (&flag, rest) = rest.split_first().ok_or_else(corrupt)?;
    let (step, secret) = rest.split_at_checked(8).ok_or_else(corrupt)?;
    let step = u64::from_be_bytes(<[u8; 8]>::try_from(step).map_err(|_| corrupt())?);
    let last_step = match flag {
        0 => None,
        1 => Some(step),
        _ => return Err(corrupt()),
    };
    if secret.is_empty() {
        return Err(corrupt());
    }
    Ok(FactorRecord { secret: Secret::from_bytes(secret), last_step })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageError;

    #[test]
    fn records_round_trip() {
        let owner = Owner { blind: Blind([1; 32]), sealed: [9; SEALED_ID_LEN] };
        let device = StoredDevice {
            owner,
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
        let link = LinkCodeRecord { owner, expires_at: 11 };
        assert_eq!(decode_link_code(&encode_link_code(&link)).unwrap(), link);
        assert_eq!(decode_count(&encode_count(42)).unwrap(), 42);
        let mut info =
            GroupInfoRecord { epoch: 4, token_hash: [6; 32], info: b"sealed".to_vec(), org: None };
        assert_eq!(decode_group_info(&encode_group_info(&info)).unwrap(), info);
        // Written before the org was kept: unchanged bytes, read as no org.
        assert_eq!(encode_group_info(&info)[0], RECORD_V1);
        info.org = Some(OrgId([5; 16]));
        assert_eq!(decode_group_info(&encode_group_info(&info)).unwrap(), info);
        assert!(hash_eq(&[1; 32], &[1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert!(!hash_eq(&[1; 32], &other));
    }

    #[test]
    fn org_and_blob_records_round_trip() {
        let signed = |b: u8| Signed { bytes: vec![b; 5].into(), signature: Signature([b; 64]) };
        let org = OrgRecord {
            handle: "goslar".into(),
            name: "Stadt Goslar – Rathaus".into(),
            created_at: 1,
            org_key: Some(IdentityKey([2; 32])),
            admin_device: None,
            profile_version: 3,
            revocation_version: 4,
            suspended: false,
        };
        assert_eq!(decode_org(&encode_org(&org)).unwrap(), org);
        let suspended = OrgRecord { suspended: true, ..org.clone() };
        assert_eq!(decode_org(&encode_org(&suspended)).unwrap(), suspended);
        let code = OrgCodeRecord { org: OrgId([1; 16]), expires_at: 5, delete_at: 6, used: true };
        assert_eq!(decode_org_code(&encode_org_code(&code)).unwrap(), code);
        let invite = InviteRecord {
            org: OrgId([1; 16]),
            expires_at: 7,
            delete_at: 8,
            used: false,
            invite: signed(9),
        };
        assert_eq!(decode_invite(&encode_invite(&invite)).unwrap(), invite);
        let staff = StaffCertificate { invite: signed(1), binding: signed(2), approval: None };
        assert_eq!(decode_staff(&encode_staff(&staff)).unwrap(), staff);
        let approved = StaffCertificate { approval: Some(signed(4)), ..staff.clone() };
        assert_eq!(decode_staff(&encode_staff(&approved)).unwrap(), approved);
        assert_eq!(decode_signed(&encode_signed(&signed(3)), "x").unwrap(), signed(3));
        let orgs = vec![OrgId([1; 16]), OrgId([2; 16])];
        assert_eq!(decode_orgs(&encode_orgs(&orgs)).unwrap(), orgs);
        let blob = BlobRecord {
            owner: AccountId([0; 16]),
            size: 10,
            chunk_size: 4,
            chunks_received: 2,
            complete: false,
            created_at: 1,
            expires_at: 2,
            charged: 10,
        };
        let owner = Owner { blind: Blind([4; 32]), sealed: [5; SEALED_ID_LEN] };
        let stored = StoredBlob { owner, record: blob };
        assert_eq!(decode_blob(&encode_blob(&stored)).unwrap(), stored);
        assert_eq!(decode_hash(&encode_hash(&[7; 32])).unwrap(), [7; 32]);
        assert_eq!(decode_u64(&encode_u64(42), "x").unwrap(), 42);
        let channel = ChannelRecord {
            org: OrgId([3; 16]),
            meta: b"sealed".to_vec(),
            key_epoch: 2,
            retention_days: 30,
            last_seq: 9,
            created_at: 5,
        };
        assert_eq!(decode_channel(&encode_channel(&channel)).unwrap(), channel);
        let post = encode_channel_post(1, 2, b"post");
        assert_eq!(decode_channel_post(&post).unwrap(), (1, 2, &b"post"[..]));
        let key = channel_expiry_key(7, &[4; 16], 8);
        assert_eq!(split_channel_expiry(&key).unwrap(), ([4; 16], 8));
        // A length prefix past the end is corruption, not a panic.
        let mut bad = encode_staff(&staff);
        bad.truncate(10);
        assert!(matches!(decode_staff(&bad), Err(StoreError::Storage(StorageError::Corrupt(_)))));
    }

    #[test]
    fn truncated_or_future_records_are_typed_errors() {
        assert!(matches!(
            decode_device(&[RECORD_V1, 1, 2]),
            Err(StoreError::Storage(StorageError::Corrupt(_)))
        ));
        assert!(matches!(
            decode_refs(&[9, 0]),
            Err(StoreError::Storage(StorageError::UnsupportedSchema(9)))
        ));
        assert!(matches!(decode_group(&[]), Err(StoreError::Storage(StorageError::Corrupt(_)))));
        let mut group = encode_group(&GroupRecord { epoch: 1, members: vec![DeviceId([1; 16])] });
        group.pop();
        assert!(matches!(decode_group(&group), Err(StoreError::Storage(StorageError::Corrupt(_)))));
    }
}
