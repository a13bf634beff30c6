//! The text of the node-to-node notifications (PostgreSQL NOTIFY payloads
//! on the channel [`CHANNEL`]). Ids only, never payloads or addresses:
//!
//! * `w NODE ID ID …` — envelopes were stored for these devices (each `ID`
//!   the device's keyed id `kdev` as the mailbox tables hold it, base64url).
//! * `p NODE CHANNEL SEQ` — post `SEQ` of the (public) channel id `CHANNEL`
//!   was stored.
//! * `a NODE` — wake every connected device (the sender dropped
//!   announcements: its queue overflowed or its NOTIFY connection failed).
//!
//! `NODE` is the sending node's random id (16 hex digits, new at every
//! start), so that a node skips its own announcements. Each payload stays
//! below [`MAX_PAYLOAD`] bytes (PostgreSQL refuses 8000 and more): long
//! lists of devices are split over several payloads.

use data_encoding::BASE64URL_NOPAD;
use stadtbote_protocol::{ChannelId, DeviceId};

/// The PostgreSQL notification channel every node listens on.
pub const CHANNEL: &str = "stadtbote_cluster";

/// Most bytes of one payload (PostgreSQL's limit is 8000).
pub const MAX_PAYLOAD: usize = 7900;

/// A node's random id.
pub type NodeId = [u8; 8];

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Envelopes stored for these keyed device ids.
    Wake(Vec<DeviceId>),
    /// A channel post stored.
    Post(ChannelId, u64),
    /// Wake every connected device.
    All,
}

fn node_hex(node: &NodeId) -> String {
    data_encoding::HEXLOWER.encode(node)
}

/// The payloads announcing `notes` from `node`, each at most
/// [`MAX_PAYLOAD`] bytes, in order (wake-ups of consecutive notes merged).
pub fn encode(node: &NodeId, notes: &[Note]) -> Vec<String> {
    let node = node_hex(node);
    let mut out = Vec::new();
    let mut wake = String::new();
    let flush_wake = |wake: &mut String, out: &mut Vec<String>| {
        if !wake.is_empty() {
            out.push(std::mem::take(wake));
        }
    };
    for note in notes {
        match note {
            Note::Wake(devices) => {
                for device in devices {
                    let id = BASE64URL_NOPAD.encode(device.as_bytes());
                    if wake.len() + 1 + id.len() > MAX_PAYLOAD {
                        flush_wake(&mut wake, &mut out);
                    }
                    if wake.is_empty() {
                        wake = format!("w {node}");
                    }
                    wake.push(' ');
                    wake.push_str(&id);
                }
            }
            Note::Post(channel, seq) => {
                flush_wake(&mut wake, &mut out);
                out.push(format!("p {node} {} {seq}", BASE64URL_NOPAD.encode(channel.as_bytes())));
            }
            Note::All => {
                flush_wake(&mut wake, &mut out);
                out.push(format!("a {node}"));
            }
        }
    }
    flush_wake(&mut wake, &mut out);
    out
}

/// Reads a payload: the sending node and its note, `None` if it is not one
/// (another program's NOTIFY on the channel is ignored, never trusted).
pub fn decode(payload: &str) -> Option<(NodeId, Note)> {
    let mut parts = payload.split(' ');
    let kind = parts.next()?;
    let node: NodeId =
        data_encoding::HEXLOWER.decode(parts.next()?.as_bytes()).ok()?.try_into().ok()?;
    let note = match kind {
        "w" => {
            let mut devices = Vec::new();
            for id in parts {
                let bytes = BASE64URL_NOPAD.decode(id.as_bytes()).ok()?;
                devices.push(DeviceId::from_slice(&bytes).ok()?);
            }
            Note::Wake(devices)
        }
        "p" => {
            let channel = BASE64URL_NOPAD.decode(parts.next()?.as_bytes()).ok()?;
            let channel = ChannelId::from_slice(&channel).ok()?;
            let seq = parts.next()?.parse().ok()?;
            if parts.next().is_some() {
                return None;
            }
            Note::Post(channel, seq)
        }
        "a" => {
            if parts.next().is_some() {
                return None;
            }
            Note::All
        }
        _ => return None,
    };
    Some((node, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: NodeId = [7, 1, 2, 3, 4, 5, 6, 8];

    #[test]
    fn notes_round_trip() {
        let channel = ChannelId::from_slice(&[9; ChannelId::LEN]).unwrap();
        let notes = vec![
            Note::Wake(vec![DeviceId([1; 16]), DeviceId([2; 16])]),
            Note::Post(channel, 42),
            Note::All,
        ];
        let payloads = encode(&NODE, &notes);
        assert_eq!(payloads.len(), 3);
        let decoded: Vec<Note> = payloads
            .iter()
            .map(|p| decode(p).map(|(n, note)| (assert_eq!(n, NODE), note).1).unwrap())
            .collect();
        assert_eq!(decoded, notes);
    }

    #[test]
    fn long_wake_lists_are_split_below_the_limit_and_lose_nothing() {
        let devices: Vec<DeviceId> =
            (0..2000u32).map(|i| DeviceId(u128::from(i).to_be_bytes())).collect();
        let payloads = encode(&NODE, &[Note::Wake(devices.clone())]);
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
            let Some((_, Note::Wake(ids))) = decode(payload) else { panic!("not a wake") };
            back.extend(ids);
        }
        assert_eq!(back, devices);
    }

    #[test]
    fn foreign_payloads_are_ignored() {
        for payload in [
            "",
            "w",
            "w zz",
            "x 0701020304050608",
            "p 0701020304050608 AA 1",
            "a 0701020304050608 x",
        ] {
            assert_eq!(decode(payload), None, "{payload:?}");
        }
    }
}
