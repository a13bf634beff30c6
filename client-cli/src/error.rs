//! The client library's error type.
//!
//! Every failure a user can run into has its own variant with a message that
//! says what happened and, where there is one, what to do. The binary prints
//! exactly this message after `error: `; nothing here ever contains a key,
//! message text or other secret.

use std::path::PathBuf;

use stadtbote_protocol::mls::MlsError;
use stadtbote_protocol::{AccountId, ErrorBody, ErrorCode};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No connection could be established (refused, unreachable, timed out).
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The server URL.
        url: String,
    },
    /// The connection broke or the server stopped answering mid-conversation.
    #[error("lost the connection to the server at {url}: {reason}")]
    ConnectionLost {
        /// The server URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The server sent something this client does not understand.
    #[error("the server at {url} sent an unexpected answer: {reason}")]
    Protocol {
        /// The server URL.
        url: String,
        /// What was unexpected.
        reason: String,
    },
    /// The server refused a request with a typed error.
    #[error("the server refused the request: {0}")]
    Server(ErrorBody),
    /// A link code was refused.
    #[error(
        "the link code is unknown, already used or expired; create a new one with `stadtbote link` on a device of the account"
    )]
    InvalidLinkCode,
    /// The account does not exist on the server.
    #[error("unknown account id {0}")]
    UnknownAccount(AccountId),
    /// Text that is not an account id.
    #[error("{text:?} is not a valid account id (expected 26 base32 characters)")]
    InvalidAccountId {
        /// What was given.
        text: String,
    },
    /// The home directory has no identity yet.
    #[error("{home} holds no Stadtbote identity; run `stadtbote init` first")]
    NotInitialised {
        /// The home directory.
        home: PathBuf,
    },
    /// `init` on a home that already holds an identity.
    #[error("{home} is already initialised with a Stadtbote identity")]
    AlreadyInitialised {
        /// The home directory.
        home: PathBuf,
    },
    /// Another command holds the home directory's lock.
    #[error("another stadtbote command is using {home}; try again when it has finished")]
    Locked {
        /// The home directory.
        home: PathBuf,
    },
    /// A local file exists but cannot be decoded.
    #[error(
        "the local file {file} is corrupt ({reason}); restore it from a backup or move it away"
    )]
    CorruptFile {
        /// The file.
        file: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} {file}: {source}")]
    Io {
        /// What was attempted ("read", "write", …).
        action: &'static str,
        /// The file or directory.
        file: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The MLS layer refused an operation.
    #[error("encryption layer: {0}")]
    Mls(#[from] MlsError),
    /// This device was removed from the conversation by another member.
    #[error("this device is no longer a member of the conversation with {0}")]
    RemovedFromConversation(AccountId),
    /// The conversation exists on the server but this device is not in it
    /// yet; a member adds it the next time they send.
    #[error(
        "the conversation with {0} already exists and this device has not been added to it yet; it is added when a member of the conversation next sends a message"
    )]
    NotYetAdded(AccountId),
    /// Concurrent changes kept winning over ours.
    #[error("the conversation with {peer} kept changing; gave up after {attempts} attempts")]
    CommitConflict {
        /// The peer.
        peer: AccountId,
        /// How often we tried.
        attempts: usize,
    },
    /// A message waits behind an earlier one to the same account that could
    /// not be sent yet (messages to one account keep their order).
    #[error("an earlier message to the same account has not been sent yet")]
    WaitingForEarlierMessage,
    /// An operation that needs a connection was called without one.
    #[error("not connected to the server")]
    NotConnected,
}

impl ClientError {
    /// Whether the error means the server could not be reached or did not
    /// answer, as opposed to a refusal or a local problem. Messages that fail
    /// this way stay in the outbox for the next attempt.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::NotConnected
            | ClientError::WaitingForEarlierMessage
            | ClientError::CommitConflict { .. }
            | ClientError::NotYetAdded(_) => true,
            ClientError::Server(body) => matches!(
                body.code,
                ErrorCode::RateLimited
                    | ErrorCode::StorageUnavailable
                    | ErrorCode::Unavailable
                    | ErrorCode::Internal
            ),
            _ => false,
        }
    }
}
