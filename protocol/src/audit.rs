//! The audit log of admin and org-admin actions: entry format and the hash
//! chain that makes a changed or removed entry detectable.
//!
//! The server appends; `stadtbote admin audit --verify` recomputes the chain
//! on the client, so a server that rewrote its log cannot also fake the check.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// One stored audit record: the CBOR-encoded [`AuditEntry`] and its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The encoded [`AuditEntry`], exactly as hashed.
    pub entry: ByteBuf,
    /// Hash of the previous record (32 zero bytes for the first).
    pub prev: ByteBuf,
    /// This record's chain hash.
    pub hash: ByteBuf,
}

/// The newest record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain hash.
    pub hash: ByteBuf,
}

/// What happened, as stored inside an [`AuditRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (repeated inside the hashed bytes).
    pub seq: u64,
    /// Unix ms.
    pub at: u64,
    /// Who acted: a pseudonym of the device (never a raw account or device
    /// id, so that a deleted citizen leaves no id behind in the log).
    pub actor: String,
    /// The actor's role as the server saw it, e.g. `server-admin`,
    /// `org-admin:goslar`, `none`.
    pub role: String,
    /// The action, e.g. `admin.block`, `org.publish`.
    pub action: String,
    /// Its object (an org handle, a pseudonymised account), if any.
    pub target: Option<String>,
    /// `ok`, or why it was refused, e.g. `refused:second-factor-missing`.
    pub outcome: String,
}

/// Domain separator of the chain hash.
pub const CHAIN_DOMAIN: &[u8] = b"stadtbote-audit-chain-v1\0";
/// Domain separator of actor pseudonyms (devices).
pub const DEVICE_PSEUDONYM_DOMAIN: &[u8] = b"stadtbote-audit-device-v1\0";
/// Domain separator of target pseudonyms (accounts).
pub const ACCOUNT_PSEUDONYM_DOMAIN: &[u8] = b"stadtbote-audit-account-v1\0";
/// Hex characters of a pseudonym (64 bits: unique among a town's devices,
/// too short to be a useful handle outside the log).
pub const PSEUDONYM_HEX_CHARS: usize = 16;

/// Why an audit entry could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditCodecError {
    /// The bytes are not a canonical encoding of an [`AuditEntry`].
    #[error("not a canonical audit entry")]
    NotCanonical,
}

/// Why a chain did not verify. Each variant names the first bad sequence
/// number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditChainError {
    /// The entry's bytes or hash were changed (or the entry is unreadable).
    #[error("audit entry {seq} was changed")]
    Changed {
        /// The entry.
        seq: u64,
    },
    /// An entry is missing: the log jumps past `seq`.
    #[error("audit entry {seq} is missing")]
    Missing {
        /// The first missing sequence number.
        seq: u64,
    },
    /// An entry appears out of order.
    #[error("audit entry {seq} is out of order")]
    Reordered {
        /// The misplaced entry.
        seq: u64,
    },
    /// The entry does not link to its predecessor.
    #[error("audit entry {seq} does not link to the entry before it")]
    BrokenLink {
        /// The entry.
        seq: u64,
    },
    /// The head the server reported is not the last entry.
    #[error("the reported head {seq} does not match the log")]
    HeadMismatch {
        /// The reported head's sequence number.
        seq: u64,
    },
    /// A head pinned earlier is no longer in the log (truncated).
    #[error("the pinned head {seq} is missing: the log was truncated")]
    PinnedMissing {
        /// The pinned sequence number.
        seq: u64,
    },
    /// A head pinned earlier has a different hash now (rewritten).
    #[error("entry {seq} differs from the pinned head: the log was rewritten")]
    PinnedDifferent {
        /// The pinned sequence number.
        seq: u64,
    },
    /// The server's anchor lies beyond a head pinned earlier: the log claims
    /// that entries after the pin were removed, so the served chain cannot
    /// be linked to what was verified before. Either the log was rewritten
    /// or retention removed entries the verifier never checked.
    #[error(
        "the log starts after seq {anchor} but the pinned head is seq {pinned}: \
         rewritten or pruned past the last verification"
    )]
    PrunedPastPin {
        /// The pinned sequence number.
        pinned: u64,
        /// The anchor's sequence number (the last entry said to be removed).
        anchor: u64,
    },
}

impl AuditChainError {
    /// The first bad sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Changed { seq }
            | Self::Missing { seq }
            | Self::Reordered { seq }
            | Self::BrokenLink { seq }
            | Self::HeadMismatch { seq }
            | Self::PinnedMissing { seq }
            | Self::PinnedDifferent { seq } => *seq,
            // The first entry that can no longer be checked.
            Self::PrunedPastPin { pinned, .. } => pinned.saturating_add(1),
        }
    }
}

/// A lowercase hex prefix of HMAC-SHA256(`key`, `domain` || `id`): the
/// pseudonym the server writes into its audit log, keyed with a secret
/// derived from its pepper ([`PSEUDONYM_KEY_DOMAIN`]), so that whoever
/// holds a candidate account or device id but not the pepper cannot tell
/// whether it appears in the log (also after the account was deleted).
pub fn keyed_pseudonym(key: &[u8], domain: &[u8], id: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length; the error branch cannot be reached,
    // and falls back to an unkeyed-looking but distinct value rather than
    // panicking.
    let Ok(mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key) else {
        return "0".repeat(PSEUDONYM_HEX_CHARS);
    };
    let digest = mac.chain_update(domain).chain_update(id).finalize().into_bytes();
    let mut hex = data_encoding::HEXLOWER.encode(&digest);
    hex.truncate(PSEUDONYM_HEX_CHARS);
    hex
}

/// Domain separator with which the server derives its pseudonym key from
/// its pepper: `HMAC-SHA256(pepper, PSEUDONYM_KEY_DOMAIN)`.
pub const PSEUDONYM_KEY_DOMAIN: &[u8] = b"stadtbote/audit/pseudonym-key/v1";

/// A lowercase hex prefix of SHA-256(`domain` || `id`): the unkeyed
/// pseudonym of earlier releases. Anybody holding a candidate id can
/// recompute it, so the server no longer writes it (see
/// [`keyed_pseudonym`]); kept for reading old logs and for tests.
pub fn pseudonym(domain: &[u8], id: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(domain).chain_update(id).finalize();
    let mut hex = data_encoding::HEXLOWER.encode(&digest);
    hex.truncate(PSEUDONYM_HEX_CHARS);
    hex
}

fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    // Shortest form, as RFC 8949 section 4.2.1 (core deterministic encoding)
    // requires.
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

impl AuditEntry {
    /// The canonical encoding: a CBOR map with text keys in RFC 8949 core
    /// deterministic order (shorter keys first, then bytewise), definite
    /// lengths and shortest integers. Hand-written so that the hashed bytes
    /// do not depend on a serializer's choices.
    pub fn to_canonical_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.actor.len() + self.action.len());
        cbor_head(&mut out, 5, 7);
        cbor_text(&mut out, "at");
        cbor_head(&mut out, 0, self.at);
        cbor_text(&mut out, "seq");
        cbor_head(&mut out, 0, self.seq);
        cbor_text(&mut out, "role");
        cbor_text(&mut out, &self.role);
        cbor_text(&mut out, "actor");
        cbor_text(&mut out, &self.actor);
        cbor_text(&mut out, "action");
        cbor_text(&mut out, &self.action);
        cbor_text(&mut out, "target");
        match &self.target {
            Some(target) => cbor_text(&mut out, target),
            // CBOR null.
            None => out.push(0xf6),
        }
        cbor_text(&mut out, "outcome");
        cbor_text(&mut out, &self.outcome);
        out
    }

    /// Decodes canonical bytes; anything else (including a valid but
    /// non-canonical encoding) is refused.
    pub fn from_canonical_cbor(bytes: &[u8]) -> Result<Self, AuditCodecError> {
        let entry: Self =
            ciborium::from_reader(bytes).map_err(|_| AuditCodecError::NotCanonical)?;
        if entry.to_canonical_cbor() != bytes {
            return Err(AuditCodecError::NotCanonical);
        }
        Ok(entry)
    }
}

/// The chain hash of an entry: SHA-256(`CHAIN_DOMAIN` || `prev` || `entry`).
pub fn chain_hash(prev: &[u8], entry: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::new()
        .chain_update(CHAIN_DOMAIN)
        .chain_update(prev)
        .chain_update(entry)
        .finalize()
        .into()
}

/// Builds the record of `entry` following `prev` (the previous record's hash,
/// 32 zero bytes for the first).
pub fn seal(entry: &AuditEntry, prev: &[u8; 32]) -> AuditRecord {
    let bytes = entry.to_canonical_cbor();
    let hash = chain_hash(prev, &bytes);
    AuditRecord {
        seq: entry.seq,
        entry: ByteBuf::from(bytes),
        prev: ByteBuf::from(prev.to_vec()),
        hash: ByteBuf::from(hash.to_vec()),
    }
}

/// Verifies a whole log as served: `records` in order, starting right after
/// `anchor` (the last entry removed by retention, if any, else at seq 1
/// after 32 zero bytes); `head` is the newest entry the server reported and
/// `pinned` a head the verifier saw earlier. Returns the verified head.
///
/// The served chain must continue from `pinned`: the pinned entry is in
/// `records` with the same hash, or it is the anchor itself. An anchor
/// beyond the pin is refused ([`AuditChainError::PrunedPastPin`]): the
/// anchor is only the server's word, and accepting it would let a server
/// claim that everything up to a forged hash was pruned and re-chain an
/// edited log from there. Without a pin (the first verification) the anchor
/// is trusted on first use.
pub fn verify_chain(
    records: &[AuditRecord],
    anchor: Option<&AuditHead>,
    head: Option<&AuditHead>,
    pinned: Option<&AuditHead>,
) -> Result<Option<AuditHead>, AuditChainError> {
    let (mut expected_seq, mut prev) = match anchor {
        Some(anchor) => (anchor.seq.saturating_add(1), anchor.hash.to_vec()),
        None => (1, vec![0u8; 32]),
    };
    if let (Some(pin), Some(anchor)) = (pinned, anchor)
        && anchor.seq > pin.seq
    {
        return Err(AuditChainError::PrunedPastPin { pinned: pin.seq, anchor: anchor.seq });
    }
    let mut last: Option<AuditHead> = anchor.cloned();
    let mut pinned_seen = false;
    for record in records {
        if record.seq > expected_seq {
            return Err(AuditChainError::Missing { seq: expected_seq });
        }
        if record.seq < expected_seq {
            return Err(AuditChainError::Reordered { seq: record.seq });
        }
        if record.prev.as_slice() != prev.as_slice() {
            return Err(AuditChainError::BrokenLink { seq: record.seq });
        }
        let recomputed = chain_hash(&prev, &record.entry);
        if recomputed.as_slice() != record.hash.as_slice() {
            return Err(AuditChainError::Changed { seq: record.seq });
        }
        match AuditEntry::from_canonical_cbor(&record.entry) {
            Ok(entry) if entry.seq == record.seq => {}
            _ => return Err(AuditChainError::Changed { seq: record.seq }),
        }
        if let Some(pin) = pinned
            && pin.seq == record.seq
        {
            if pin.hash.as_slice() != record.hash.as_slice() {
                return Err(AuditChainError::PinnedDifferent { seq: pin.seq });
            }
            pinned_seen = true;
        }
        prev = record.hash.to_vec();
        expected_seq = record.seq.saturating_add(1);
        last = Some(AuditHead { seq: record.seq, hash: record.hash.clone() });
    }
    match (head, &last) {
        (None, None) => {}
        (Some(head), Some(last)) if head == last => {}
        (Some(head), _) => return Err(AuditChainError::HeadMismatch { seq: head.seq }),
        (None, Some(last)) => return Err(AuditChainError::HeadMismatch { seq: last.seq }),
    }
    if let Some(pin) = pinned
        && !pinned_seen
    {
        match anchor {
            // Pruned exactly up to the pin: the chain continues from it.
            Some(anchor) if anchor.seq == pin.seq && anchor.hash == pin.hash => {}
            Some(anchor) if anchor.seq == pin.seq => {
                return Err(AuditChainError::PinnedDifferent { seq: pin.seq });
            }
            _ => return Err(AuditChainError::PinnedMissing { seq: pin.seq }),
        }
    }
    Ok(last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> AuditEntry {
        AuditEntry {
            seq,
            at: 1_700_000_000_000 + seq,
            actor: "0123456789abcdef".into(),
            role: "server-admin".into(),
            action: "admin.list_orgs".into(),
            target: seq.is_multiple_of(2).then(|| "goslar".to_owned()),
            outcome: "ok".into(),
        }
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut prev = [0u8; 32];
        (1..=n)
            .map(|seq| {
                let record = seal(&entry(seq), &prev);
                prev.copy_from_slice(&record.hash);
                record
            })
            .collect()
    }

    fn head_of(record: &AuditRecord) -> AuditHead {
        AuditHead { seq: record.seq, hash: record.hash.clone() }
    }

    #[test]
    fn canonical_roundtrip_and_vector() {
        let e = entry(1);
        let bytes = e.to_canonical_cbor();
        assert_eq!(AuditEntry::from_canonical_cbor(&bytes).unwrap(), e);
        // The test vector of docs/PROTOCOL.md.
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bytes),
            "a76261741b0000018bcfe56801637365710164726f6c656c7365727665722d61646d696e656163746f72\
             703031323334353637383961626364656666616374696f6e6f61646d696e2e6c6973745f6f726773667461\
             72676574f6676f7574636f6d65626f6b"
        );
        let hash = chain_hash(&[0u8; 32], &bytes);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&hash),
            "2354746012306179f0ccfa0b391b949aaaddcc18310611a26621c97ac660caa5"
        );
        assert_eq!(seal(&e, &[0; 32]).hash.as_slice(), hash.as_slice());
        // A serializer's own (non-canonical) map order is refused.
        let mut other = Vec::new();
        ciborium::into_writer(&e, &mut other).unwrap();
        assert_ne!(other, bytes);
        assert!(AuditEntry::from_canonical_cbor(&other).is_err());
    }

    #[test]
    fn verify_detects_every_kind_of_tampering() {
        let records = chain(5);
        let head = head_of(&records[4]);
        assert_eq!(verify_chain(&records, None, Some(&head), None).unwrap(), Some(head.clone()));

        let mut changed = records.clone();
        let mut bytes = changed[2].entry.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        changed[2].entry = ByteBuf::from(bytes);
        assert_eq!(
            verify_chain(&changed, None, Some(&head), None),
            Err(AuditChainError::Changed { seq: 3 })
        );

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(
            verify_chain(&removed, None, Some(&head), None),
            Err(AuditChainError::Missing { seq: 2 })
        );

        let mut swapped = records.clone();
        swapped.swap(1, 2);
        assert_eq!(
            verify_chain(&swapped, None, Some(&head), None),
            Err(AuditChainError::Missing { seq: 2 })
        );

        let truncated = &records[..3];
        assert_eq!(
            verify_chain(truncated, None, Some(&head), None),
            Err(AuditChainError::HeadMismatch { seq: 5 })
        );
        let short_head = head_of(&records[2]);
        assert_eq!(
            verify_chain(truncated, None, Some(&short_head), Some(&head)),
            Err(AuditChainError::PinnedMissing { seq: 5 })
        );

        let rewritten = chain(5)
            .into_iter()
            .map(|mut r| {
                if r.seq == 4 {
                    r.hash = ByteBuf::from(vec![9; 32]);
                }
                r
            })
            .collect::<Vec<_>>();
        assert!(verify_chain(&rewritten, None, Some(&head), None).is_err());

        // After pruning the first two, the anchor carries the chain; a pin
        // at or after the anchor is still checked.
        let anchor = head_of(&records[1]);
        assert!(verify_chain(&records[2..], Some(&anchor), Some(&head), Some(&anchor)).is_ok());
        let mut forged_anchor = anchor.clone();
        forged_anchor.hash = ByteBuf::from(vec![7; 32]);
        assert_eq!(
            verify_chain(&records[2..], Some(&forged_anchor), Some(&head), Some(&anchor)),
            Err(AuditChainError::BrokenLink { seq: 3 })
        );
        let pin3 = head_of(&records[2]);
        assert!(verify_chain(&records[2..], Some(&anchor), Some(&head), Some(&pin3)).is_ok());
        let mut wrong_pin = pin3.clone();
        wrong_pin.hash = ByteBuf::from(vec![1; 32]);
        assert_eq!(
            verify_chain(&records[2..], Some(&anchor), Some(&head), Some(&wrong_pin)),
            Err(AuditChainError::PinnedDifferent { seq: 3 })
        );
    }

    /// A server that claims entries after the pinned head were pruned and
    /// re-chains the rest from a forged anchor is refused, however
    /// consistent the re-chained records are.
    #[test]
    fn an_anchor_beyond_the_pin_is_refused() {
        let records = chain(5);
        let pin = head_of(&records[0]);
        let anchor = head_of(&records[1]);
        let head = head_of(&records[4]);
        // Honest pruning past the pin looks the same to the verifier: refused.
        let err = verify_chain(&records[2..], Some(&anchor), Some(&head), Some(&pin));
        assert_eq!(err, Err(AuditChainError::PrunedPastPin { pinned: 1, anchor: 2 }));
        assert_eq!(err.unwrap_err().seq(), 2);

        // A forged anchor and re-chained records.
        let forged = AuditHead { seq: 3, hash: ByteBuf::from(vec![0x42; 32]) };
        let mut prev = [0x42u8; 32];
        let rechained: Vec<AuditRecord> = (4..=5)
            .map(|seq| {
                let record = seal(&entry(seq), &prev);
                prev.copy_from_slice(&record.hash);
                record
            })
            .collect();
        let forged_head = head_of(&rechained[1]);
        // Without a pin this is trust on first use and cannot be told apart.
        assert!(verify_chain(&rechained, Some(&forged), Some(&forged_head), None).is_ok());
        let pin2 = head_of(&records[1]);
        assert_eq!(
            verify_chain(&rechained, Some(&forged), Some(&forged_head), Some(&pin2)),
            Err(AuditChainError::PrunedPastPin { pinned: 2, anchor: 3 })
        );
        // A pin beyond the served head: truncated.
        assert_eq!(
            verify_chain(&records[..2], None, Some(&pin2), Some(&head)),
            Err(AuditChainError::PinnedMissing { seq: 5 })
        );
    }

    #[test]
    fn keyed_pseudonyms_need_the_key() {
        let key = [7u8; 32];
        let a = keyed_pseudonym(&key, DEVICE_PSEUDONYM_DOMAIN, &[1; 16]);
        assert_eq!(a.len(), PSEUDONYM_HEX_CHARS);
        assert_eq!(a, keyed_pseudonym(&key, DEVICE_PSEUDONYM_DOMAIN, &[1; 16]));
        assert_ne!(a, keyed_pseudonym(&[8u8; 32], DEVICE_PSEUDONYM_DOMAIN, &[1; 16]));
        assert_ne!(a, keyed_pseudonym(&key, ACCOUNT_PSEUDONYM_DOMAIN, &[1; 16]));
        assert_ne!(a, pseudonym(DEVICE_PSEUDONYM_DOMAIN, &[1; 16]));
        // Test vector (docs/PROTOCOL.md, 10c):
        // HMAC-SHA256(07*32, "stadtbote-audit-device-v1\0" || 01*16)[..8].
        assert_eq!(a, "b20a4f3777a43fac");
    }

    #[test]
    fn pseudonyms_are_short_and_domain_separated() {
        let a = pseudonym(DEVICE_PSEUDONYM_DOMAIN, &[1; 16]);
        assert_eq!(a.len(), PSEUDONYM_HEX_CHARS);
        assert_ne!(a, pseudonym(ACCOUNT_PSEUDONYM_DOMAIN, &[1; 16]));
    }
}
