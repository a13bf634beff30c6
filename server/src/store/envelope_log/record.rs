//! The byte layout of envelope-log segments: a header per file and framed
//! records after it.
//!
//! ```text
//! segment = header record*
//! header  = "SBENVLOG" version:u32 first_seq:u64                (20 bytes)
//! frame   = body_len:u32 crc32(body):u32 body
//! body    = record+          (what one append wrote: all or nothing)
//! record  = 1 put   | 2 ack | 3 drop | 4 group state | 5 group gone
//! put     = seq:u64 stored_at:u64 expires_at:u64 group:[16]
//!           n:u32 recipient:[16]*n payload_len:u32 payload
//! ack     = device:[16] n:u32 seq:u64*n
//! drop    = n:u32 seq:u64*n
//! state   = group:[16] epoch:u64 n:u32 member:[16]*n
//! gone    = group:[16]
//! ```
//!
//! All integers are little-endian. The CRC (CRC-32/ISO-HDLC, as in zlib) is
//! not a security measure: it finds a frame torn by a crash, so that replay
//! stops at the last whole frame instead of reading garbage. Because one
//! frame holds everything one change wrote (a commit's envelope, its welcome
//! and the group's new state), a crash keeps all of a change or none of it.

use stadtbote_protocol::{DeviceId, GroupId};

/// The first bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"SBENVLOG";
/// The layout version written after [`MAGIC`].
pub const VERSION: u32 = 1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 20;
/// Length of a record's frame (length and checksum) before its body.
pub const FRAME_LEN: usize = 8;
/// The largest record body replay accepts. Payloads are limited far below
/// this by `max_message_bytes`; a length beyond it is a torn or corrupt
/// frame, and checking it first keeps replay from allocating on garbage.
pub const MAX_BODY_LEN: usize = 64 << 20;

const TAG_PUT: u8 = 1;
const TAG_ACK: u8 = 2;
const TAG_DROP: u8 = 3;
const TAG_GROUP_STATE: u8 = 4;
const TAG_GROUP_GONE: u8 = 5;

/// A decoded record, borrowing from the bytes it was read from.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// An envelope stored for `recipients` (or, when the same `seq` was
    /// seen before, the surviving recipients of a copy made by compaction).
    Put {
        seq: u64,
        stored_at: u64,
        expires_at: u64,
        group: GroupId,
        recipients: Vec<DeviceId>,
        /// Where the payload starts inside the record body.
        payload_at: usize,
        payload: &'a [u8],
    },
    /// `device` acknowledged these envelopes.
    Ack { device: DeviceId, seqs: Vec<u64> },
    /// These envelopes were deleted for every recipient.
    Drop { seqs: Vec<u64> },
    /// A group's membership after a commit (redo for the database).
    GroupState { group: GroupId, epoch: u64, members: Vec<DeviceId> },
    /// A group was deleted; earlier states of it are void.
    GroupGone { group: GroupId },
}

/// Encodes a segment header.
pub fn header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..].copy_from_slice(&first_seq.to_le_bytes());
    out
}

/// Why a header or record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the frame or header says (a torn write at the end).
    Truncated,
    /// The checksum does not match, or the length is impossible.
    Corrupt,
    /// A well-framed record whose body does not parse (a bug or tampering).
    Malformed,
    /// The header names another file format or a newer version.
    NotASegment,
}

/// Reads a segment header and returns its `first_seq`.
pub fn parse_header(bytes: &[u8]) -> Result<u64, DecodeError> {
    let header = bytes.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
    if &header[..8] != MAGIC || header[8..12] != VERSION.to_le_bytes() {
        return Err(DecodeError::NotASegment);
    }
    Ok(u64::from_le_bytes(header[12..20].try_into().map_err(|_| DecodeError::Truncated)?))
}

/// Starts a frame at the end of `out`; the records of one change are then
/// encoded after it and [`end_frame`] seals them. Returns the frame's start.
pub fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_LEN]);
    start
}

/// Seals the frame begun at `start` with its length and checksum.
pub fn end_frame(out: &mut [u8], start: usize) {
    let body = &out[start + FRAME_LEN..];
    let crc = crc32fast::hash(body);
    // Bodies are bounded by the message limit, far below 4 GiB.
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Appends a put record to `b` and returns the offset of its payload in `b`.
pub fn encode_put(
    b: &mut Vec<u8>,
    seq: u64,
    stored_at: u64,
    expires_at: u64,
    group: &GroupId,
    recipients: &[DeviceId],
    payload: &[u8],
) -> usize {
    b.push(TAG_PUT);
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&stored_at.to_le_bytes());
    b.extend_from_slice(&expires_at.to_le_bytes());
    b.extend_from_slice(group.as_bytes());
    put_len(b, recipients.len());
    for device in recipients {
        b.extend_from_slice(device.as_bytes());
    }
    put_len(b, payload.len());
    let at = b.len();
    b.extend_from_slice(payload);
    at
}

/// Appends an ack record to `out`.
pub fn encode_ack(b: &mut Vec<u8>, device: &DeviceId, seqs: &[u64]) {
    {
        b.push(TAG_ACK);
        b.extend_from_slice(device.as_bytes());
        put_len(b, seqs.len());
        for seq in seqs {
            b.extend_from_slice(&seq.to_le_bytes());
        }
    }
}

/// Appends a drop record to `out`.
pub fn encode_drop(b: &mut Vec<u8>, seqs: &[u64]) {
    {
        b.push(TAG_DROP);
        put_len(b, seqs.len());
        for seq in seqs {
            b.extend_from_slice(&seq.to_le_bytes());
        }
    }
}

/// Appends a group-state record to `out`.
pub fn encode_group_state(b: &mut Vec<u8>, group: &GroupId, epoch: u64, members: &[DeviceId]) {
    {
        b.push(TAG_GROUP_STATE);
        b.extend_from_slice(group.as_bytes());
        b.extend_from_slice(&epoch.to_le_bytes());
        put_len(b, members.len());
        for device in members {
            b.extend_from_slice(device.as_bytes());
        }
    }
}

/// Appends a group-gone record to `out`.
pub fn encode_group_gone(b: &mut Vec<u8>, group: &GroupId) {
    {
        b.push(TAG_GROUP_GONE);
        b.extend_from_slice(group.as_bytes());
    }
}

/// Reads the frame at the start of `bytes`: the record's body and the
/// frame's total length.
pub fn next_frame(bytes: &[u8]) -> Result<(&[u8], usize), DecodeError> {
    let head = bytes.get(..FRAME_LEN).ok_or(DecodeError::Truncated)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_BODY_LEN {
        return Err(DecodeError::Corrupt);
    }
    let end = FRAME_LEN.checked_add(len).ok_or(DecodeError::Corrupt)?;
    let body = bytes.get(FRAME_LEN..end).ok_or(DecodeError::Truncated)?;
    if crc32fast::hash(body) != crc {
        return Err(DecodeError::Corrupt);
    }
    Ok((body, end))
}

/// A cursor over a record body that fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Malformed)?;
        let out = self.bytes.get(self.at..end).ok_or(DecodeError::Malformed)?;
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn group(&mut self) -> Result<GroupId, DecodeError> {
        GroupId::from_slice(self.take(GroupId::LEN)?).map_err(|_| DecodeError::Malformed)
    }
    fn device(&mut self) -> Result<DeviceId, DecodeError> {
        DeviceId::from_slice(self.take(DeviceId::LEN)?).map_err(|_| DecodeError::Malformed)
    }
    /// A count of items of `item_len` bytes, checked against what is left so
    /// that a forged count cannot make the caller allocate.
    fn count(&mut self, item_len: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len().saturating_sub(self.at);
        if n.checked_mul(item_len).is_none_or(|need| need > left) {
            return Err(DecodeError::Malformed);
        }
        Ok(n)
    }
    fn devices(&mut self) -> Result<Vec<DeviceId>, DecodeError> {
        let n = self.count(DeviceId::LEN)?;
        (0..n).map(|_| self.device()).collect()
    }
    fn seqs(&mut self) -> Result<Vec<u64>, DecodeError> {
        let n = self.count(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
}

/// Decodes every record of a frame body (as returned by [`next_frame`]).
/// A put's `payload_at` is its payload's offset in `body`.
pub fn decode(body: &[u8]) -> Result<Vec<Record<'_>>, DecodeError> {
    let mut r = Reader { bytes: body, at: 0 };
    let mut records = Vec::new();
    while r.at < body.len() {
        records.push(decode_one(&mut r)?);
    }
    if records.is_empty() {
        return Err(DecodeError::Malformed);
    }
    Ok(records)
}

fn decode_one<'a>(r: &mut Reader<'a>) -> Result<Record<'a>, DecodeError> {
    let tag = r.take(1)?[0];
    Ok(match tag {
        TAG_PUT => {
            let seq = r.u64()?;
            let stored_at = r.u64()?;
            let expires_at = r.u64()?;
            let group = r.group()?;
            let recipients = r.devices()?;
            let len = r.u32()? as usize;
            let payload_at = r.at;
            let payload = r.take(len)?;
            Record::Put { seq, stored_at, expires_at, group, recipients, payload_at, payload }
        }
        TAG_ACK => {
            let device = r.device()?;
            Record::Ack { device, seqs: r.seqs()? }
        }
        TAG_DROP => Record::Drop { seqs: r.seqs()? },
        TAG_GROUP_STATE => {
            let group = r.group()?;
            let epoch = r.u64()?;
            Record::GroupState { group, epoch, members: r.devices()? }
        }
        TAG_GROUP_GONE => Record::GroupGone { group: r.group()? },
        _ => return Err(DecodeError::Malformed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId([n; DeviceId::LEN])
    }

    /// Encodes `records` as one frame, like one append does.
    fn framed(records: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        let start = begin_frame(&mut out);
        records(&mut out);
        end_frame(&mut out, start);
        out
    }

    #[test]
    fn every_record_roundtrips_and_put_payload_offset_is_exact() {
        let group = GroupId([7; GroupId::LEN]);
        let mut at = 0;
        let mut out = framed(|b| {
            at = encode_put(b, 42, 1000, 2000, &group, &[device(1), device(2)], b"cipher");
            encode_ack(b, &device(1), &[42, 43]);
        });
        assert_eq!(&out[at..at + 6], b"cipher");
        out.extend(framed(|b| {
            encode_drop(b, &[44]);
            encode_group_state(b, &group, 9, &[device(3)]);
            encode_group_gone(b, &group);
        }));

        let mut rest = &out[..];
        let mut records = Vec::new();
        while !rest.is_empty() {
            let (body, len) = next_frame(rest).unwrap();
            records.extend(decode(body).unwrap());
            rest = &rest[len..];
        }
        assert_eq!(
            records,
            vec![
                Record::Put {
                    seq: 42,
                    stored_at: 1000,
                    expires_at: 2000,
                    group,
                    recipients: vec![device(1), device(2)],
                    payload_at: at - FRAME_LEN,
                    payload: b"cipher",
                },
                Record::Ack { device: device(1), seqs: vec![42, 43] },
                Record::Drop { seqs: vec![44] },
                Record::GroupState { group, epoch: 9, members: vec![device(3)] },
                Record::GroupGone { group },
            ]
        );
    }

    /// A fixed byte string, so that a change of the layout is noticed: it
    /// would make existing data directories unreadable. The checksum is
    /// zlib's CRC-32 of the body (`python3 -c "import zlib;
    /// print(hex(zlib.crc32(bytes([3,1,0,0,0,1,0,0,0,0,0,0,0]))))"`).
    #[test]
    fn layout_test_vector() {
        let out = framed(|b| encode_drop(b, &[1]));
        assert_eq!(
            out,
            [13, 0, 0, 0, CRC[0], CRC[1], CRC[2], CRC[3], 3, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(parse_header(&header(5)), Ok(5));
        assert_eq!(&header(5)[..12], b"SBENVLOG\x01\x00\x00\x00");
    }
    const CRC: [u8; 4] = [189, 102, 177, 229];

    #[test]
    fn torn_and_corrupt_frames_are_told_apart() {
        let out = framed(|b| encode_ack(b, &device(1), &[1, 2, 3]));
        for cut in 0..out.len() {
            assert_eq!(next_frame(&out[..cut]).unwrap_err(), DecodeError::Truncated, "cut {cut}");
        }
        let mut flipped = out.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(next_frame(&flipped).unwrap_err(), DecodeError::Corrupt);
        assert_eq!(next_frame(&[0; 8]).unwrap_err(), DecodeError::Corrupt);
        assert_eq!(next_frame(&[0xff; 8]).unwrap_err(), DecodeError::Corrupt);
    }

    #[test]
    fn forged_counts_are_refused_without_allocating() {
        // An ack claiming four billion ids in a 30-byte body.
        let mut body = vec![TAG_ACK];
        body.extend_from_slice(&[1; 16]);
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&[0; 8]);
        assert_eq!(decode(&body).unwrap_err(), DecodeError::Malformed);
        assert_eq!(decode(&[9]).unwrap_err(), DecodeError::Malformed);
        assert_eq!(decode(&[]).unwrap_err(), DecodeError::Malformed);
        // A whole record followed by a cut one.
        assert_eq!(decode(&[TAG_DROP, 0, 0, 0, 0, TAG_DROP]).unwrap_err(), DecodeError::Malformed);
        assert_eq!(decode(&[TAG_DROP, 0, 0, 0, 0]).unwrap().len(), 1);
    }

    #[test]
    fn foreign_headers_are_refused() {
        assert_eq!(parse_header(b"SBENVLOG"), Err(DecodeError::Truncated));
        let mut other = header(1);
        other[8] = 2;
        assert_eq!(parse_header(&other), Err(DecodeError::NotASegment));
        assert_eq!(parse_header(&[0; HEADER_LEN]), Err(DecodeError::NotASegment));
    }
}
