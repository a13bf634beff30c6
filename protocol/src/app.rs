//! The application payload inside MLS application messages.
//!
//! Only group members ever see these bytes: the client CBOR-encodes an
//! [`AppMessage`] and MLS encrypts it. This is where display names travel, so
//! the server never learns them.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, BlobId, DeviceId, MsgId, OrgId};

/// Version of the application payload format.
pub const APP_VERSION: u16 = 1;

/// One application message, encrypted end to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMessage {
    /// Payload format version ([`APP_VERSION`]).
    pub v: u16,
    /// Chosen by the sender; receipts refer to it and duplicates share it.
    pub id: MsgId,
    /// The sender's clock when the user sent it (Unix milliseconds).
    pub sent_at: u64,
    /// The sender's display name, if they set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// What the message says.
    pub body: AppBody,
}

/// Kinds of application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppBody {
    /// A text message.
    Text {
        /// The text.
        text: String,
    },
    /// End-to-end delivery receipt: these messages reached the receipt's sender.
    Receipt {
        /// The delivered messages.
        ids: Vec<MsgId>,
    },
    /// Opens a report thread (first message of the thread, from the citizen).
    Report {
        /// The org reported to.
        org: OrgId,
        /// Its handle.
        handle: String,
        /// Category as named in the org's profile.
        category: String,
        /// Department the category routed to when the report was made.
        department: String,
        /// What the citizen wrote.
        text: String,
        /// Only when the citizen gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Location>,
        /// Photos (encrypted blobs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<AttachmentRef>,
    },
    /// Opens a consultation thread (first message, from the citizen).
    Consult {
        /// The org.
        org: OrgId,
        /// Its handle.
        handle: String,
        /// Department answering consultations.
        department: String,
        /// What the citizen wrote.
        text: String,
        /// Whether the citizen's client saw a live session when sending.
        live: bool,
    },
    /// A message in a report or consultation thread, from either side.
    Reply {
        /// The text.
        text: String,
        /// Photos (encrypted blobs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<AttachmentRef>,
        /// New status set by staff, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<ThreadStatus>,
        /// Reason for the status (required for resolved, rejected, reopened).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Set when a staff member replies on behalf of the org (shown as the
        /// town's name instead of the clerk's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        as_org: Option<String>,
    },
    /// A discussion group's name and current join-link secret, sent by its
    /// creator and by a moderator after replacing the link.
    GroupMeta {
        /// The group's name.
        name: String,
        /// The org running it.
        org: OrgId,
        /// Its handle.
        handle: String,
        /// The current 32-byte link secret (members may pass the link on).
        link_secret: serde_bytes::ByteBuf,
    },
    /// A post in a discussion group.
    GroupPost {
        /// The text.
        text: String,
    },
    /// Staff moved the thread to another department.
    Assign {
        /// The new department.
        department: String,
    },
    /// The thread disappears this many days after its consultation session.
    Disappear {
        /// Days; 0 switches disappearing off.
        days: u32,
        /// When the thread will be deleted (Unix ms), if set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
    /// Brings devices that were added to a thread later (the department a
    /// thread was re-assigned to, a citizen's newly linked device) up to
    /// date: sent by the member whose commit added them, right after it.
    /// Members that have the thread already ignore it. Only the forwarding
    /// member vouches for the forwarded messages (MLS signatures do not
    /// carry over), and a forwarded `History` is never nested.
    History {
        /// The account that opened the thread (the citizen).
        creator: AccountId,
        /// The thread's messages so far, oldest first, the opening first.
        messages: Vec<ForwardedMessage>,
    },
}

/// One message of a thread as forwarded in [`AppBody::History`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedMessage {
    /// Who wrote it.
    pub from: AccountId,
    /// From which device.
    pub from_device: DeviceId,
    /// When the server stored it (Unix ms), as the forwarding member saw it.
    pub received_at: u64,
    /// The message as sent.
    pub message: AppMessage,
}

/// A point given by the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees (−90 … 90).
    pub lat: f64,
    /// Longitude in degrees (−180 … 180).
    pub lon: f64,
}

impl Eq for Location {}

/// Status of a report thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadStatus {
    /// Just reported, nobody answered yet.
    Open,
    /// Staff have seen it.
    Acknowledged,
    /// Being worked on.
    InProgress,
    /// Done (reason required).
    Resolved,
    /// Will not be done (reason required).
    Rejected,
    /// The citizen reopened a resolved report (reason required).
    Reopened,
}

impl ThreadStatus {
    /// The status as written on the command line and in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            ThreadStatus::Open => "open",
            ThreadStatus::Acknowledged => "acknowledged",
            ThreadStatus::InProgress => "in-progress",
            ThreadStatus::Resolved => "resolved",
            ThreadStatus::Rejected => "rejected",
            ThreadStatus::Reopened => "reopened",
        }
    }

    /// Parses the command-line form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(ThreadStatus::Open),
            "acknowledged" => Some(ThreadStatus::Acknowledged),
            "in-progress" => Some(ThreadStatus::InProgress),
            "resolved" => Some(ThreadStatus::Resolved),
            "rejected" => Some(ThreadStatus::Rejected),
            "reopened" => Some(ThreadStatus::Reopened),
            _ => None,
        }
    }

    /// Whether setting this status requires a reason.
    pub fn needs_reason(&self) -> bool {
        matches!(self, ThreadStatus::Resolved | ThreadStatus::Rejected | ThreadStatus::Reopened)
    }
}

/// A reference to an encrypted attachment: everything needed to download,
/// check and decrypt it. Travels only inside MLS messages.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The blob on the server.
    pub blob: BlobId,
    /// The 32-byte ChaCha20-Poly1305 key of this attachment.
    pub key: serde_bytes::ByteBuf,
    /// SHA-256 of the complete ciphertext blob as uploaded.
    pub sha256: serde_bytes::ByteBuf,
    /// Plaintext size in bytes (after metadata removal).
    pub size: u64,
    /// Media type, e.g. `image/jpeg`.
    pub mime: String,
    /// Original file name, if the sender chose to include it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl std::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("blob", &self.blob)
            .field("size", &self.size)
            .field("mime", &self.mime)
            .finish_non_exhaustive()
    }
}

/// Why an application payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Not a valid application message.
    #[error("malformed application message")]
    Malformed,
    /// A payload version this client does not know.
    #[error("unsupported application message version {0}")]
    UnsupportedVersion(u16),
}

impl AppMessage {
    /// Encodes as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        crate::frame::encode(self)
    }

    /// Decodes from CBOR.
    pub fn decode(bytes: &[u8]) -> Result<Self, AppError> {
        let msg: AppMessage = ciborium::from_reader(bytes).map_err(|_| AppError::Malformed)?;
        if msg.v != APP_VERSION {
            return Err(AppError::UnsupportedVersion(msg.v));
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msg = AppMessage {
            v: APP_VERSION,
            id: MsgId([3; 16]),
            sent_at: 1_700_000_000_000,
            sender_name: Some("Anna".into()),
            body: AppBody::Text { text: "Schlagloch in der Hauptstraße".into() },
        };
        assert_eq!(AppMessage::decode(&msg.encode()).unwrap(), msg);
        assert_eq!(AppMessage::decode(b"\x01"), Err(AppError::Malformed));
    }

    #[test]
    fn history_round_trip() {
        let opening = AppMessage {
            v: APP_VERSION,
            id: MsgId([1; 16]),
            sent_at: 5,
            sender_name: None,
            body: AppBody::Consult {
                org: OrgId([2; 16]),
                handle: "goslar".into(),
                department: "buergermeister".into(),
                text: "Frage".into(),
                live: true,
            },
        };
        let msg = AppMessage {
            v: APP_VERSION,
            id: MsgId([3; 16]),
            sent_at: 9,
            sender_name: None,
            body: AppBody::History {
                creator: AccountId([4; 16]),
                messages: vec![ForwardedMessage {
                    from: AccountId([4; 16]),
                    from_device: DeviceId([5; 16]),
                    received_at: 6,
                    message: opening,
                }],
            },
        };
        assert_eq!(AppMessage::decode(&msg.encode()).unwrap(), msg);
    }
}
