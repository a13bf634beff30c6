//! The application payload inside MLS application messages.
//!
//! Only group members ever see these bytes: the client CBOR-encodes an
//! [`AppMessage`] and MLS encrypts it. This is where display names travel, so
//! the server never learns them.

use serde::{Deserialize, Serialize};

use crate::ids::MsgId;

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
}
