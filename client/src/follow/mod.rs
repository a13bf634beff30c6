//! Following broadcast channels without an account (issue 16's channels,
//! the follower part of issue 15): what `stadtbote follow`/`feed` do and
//! what the web app's channel screen does, once, for every front-end.
//!
//! A follower needs only an invite link (it carries the channel key and
//! the org key), never logs in and keeps its follows in the front-end's
//! [`Storage`](crate::storage::Storage) (one record in
//! [`Space::Follows`](crate::storage::Space::Follows), see [`store`]).
//! It trusts the server for nothing it can check itself:
//!
//! * **Posts** pass the chain rule ([`chain::follow_chain`]): sealed with a
//!   channel key it holds, signed by a certified publisher under the org
//!   key, numbered as the server numbers them and chained by hash. A post
//!   that fails is reported (forged, altered) and never stepped over.
//! * **Missing posts** are "expired" only when they can be: older than the
//!   channel's signed retention, their age bounded by signed times.
//!   Otherwise they are *withheld*: reported, and the cursor stays before
//!   them, so a later honest fetch still delivers them.
//! * **Revocations.** The newest org-signed revocation list and staff list
//!   verified per org are kept ([`model::KnownRevocations`],
//!   [`model::KnownStaffList`]); an answer with none or an older one is
//!   refused, and posts by a revoked device are reported.
//! * **Org key rotations.** The org key of the first invite link is
//!   pinned and followed along the org's signed rotation chain
//!   ([`model::KnownOrgKey`]); posts are verified against the chain's keys.
//! * **Photos** of a post are downloaded and decrypted with the key the
//!   signed post carries, and checked against its signed hash
//!   ([`photos`]).
//!
//! Modules: [`model`] (what is kept), [`chain`] (the chain rule, pure),
//! [`directory`] (the org directory as a follower verifies it), [`store`]
//! (the record and the import of an older front-end's file),
//! [`follower`] ([`Follower`], the operations), [`photos`].

pub mod chain;
pub(crate) mod directory;
pub mod follower;
pub mod model;
pub mod photos;
pub mod store;

pub use chain::{ChainContext, EXPIRY_CLOCK_MARGIN_MS, FeedItem, WarningKind, follow_chain};
pub use follower::{FETCH_LIMIT, FeedLine, Follower, PreparedFollow};
pub use model::{
    Cursor, FOLLOWS_VERSION, Follow, FollowsFile, KnownOrgKey, KnownRevocations, KnownStaffList,
    resolve,
};

use stadtbote_protocol::channel::ChannelError;
use stadtbote_protocol::{ErrorBody, Response};

use crate::connection::ConnectionError;
use crate::storage::StorageError;

/// Why a follower operation failed. The texts say what happened, never
/// which command or button a front-end offers to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// The connection failed or the server refused a request.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The storage failed.
    #[error("the follows cannot be stored: {0}")]
    Storage(#[from] StorageError),
    /// The stored follows do not decode.
    #[error("the stored follows are corrupt ({reason})")]
    Corrupt {
        /// Why they could not be read.
        reason: String,
    },
    /// The stored follows were written by a newer version.
    #[error("the stored follows have format version {found}, written by a newer version")]
    NewerFormat {
        /// The version found.
        found: u16,
    },
    /// No followed channel by that id (or prefix).
    #[error("this device follows no channel {0}")]
    UnknownChannel(String),
    /// No org with this handle on the server.
    #[error("there is no org with the handle {handle} on this server")]
    UnknownOrg {
        /// The handle.
        handle: String,
    },
    /// The org has no org key yet.
    #[error("the org {handle} is not set up yet")]
    OrgNotSetUp {
        /// The handle.
        handle: String,
    },
    /// The server presents another org key than the pinned one, without a
    /// rotation chain from it.
    #[error(
        "the org key of {handle} has changed: pinned {pinned}, the server presents {presented}"
    )]
    OrgKeyChanged {
        /// The handle.
        handle: String,
        /// Fingerprint of the pinned key.
        pinned: String,
        /// Fingerprint of the presented key.
        presented: String,
    },
    /// The org's directory does not verify against the pinned key.
    #[error("the directory entry of {handle} does not verify: {reason}")]
    InvalidOrgData {
        /// The handle.
        handle: String,
        /// What failed.
        reason: String,
    },
    /// No revocation list, or an older one than the newest verified.
    #[error(
        "the server withheld the current revocation list of {handle}: version {pinned} was verified, the server offered {presented}"
    )]
    RevocationListWithheld {
        /// The org's handle.
        handle: String,
        /// The version kept.
        pinned: u64,
        /// What the server offered ("no list" or "version N").
        presented: String,
    },
    /// No staff list, or an older one than the newest verified.
    #[error(
        "the server offered {offered} of the staff list of {handle}, but version {seen} was already verified"
    )]
    StaffListRolledBack {
        /// The org.
        handle: String,
        /// The newest version verified.
        seen: u64,
        /// What the server offered ("version N" or "no version").
        offered: String,
    },
    /// Channel metadata, a post or an invite did not verify.
    #[error("the channel's {what} does not verify: {source}")]
    ChannelData {
        /// "metadata", "post", "invite link".
        what: &'static str,
        /// Why.
        source: ChannelError,
    },
    /// The invite's key was rotated away.
    #[error("this invite link is outdated: the channel has a new key")]
    OutdatedInvite,
    /// A photo could not be downloaded or does not match its signed hash.
    #[error("the photo cannot be shown: {reason}")]
    Photo {
        /// Why (fixed text).
        reason: &'static str,
    },
}

impl FollowError {
    /// The server refused a request with a typed error.
    pub fn server(body: ErrorBody) -> FollowError {
        FollowError::Connection(ConnectionError::Server(body))
    }
}

/// A protocol error for an answer that does not fit the request; only the
/// answer's name is kept (its fields are the server's choice).
pub(crate) fn unexpected(url: &str, response: &Response) -> FollowError {
    let debug = format!("{response:?}");
    let end = debug.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(debug.len());
    FollowError::Connection(ConnectionError::Protocol {
        url: url.to_string(),
        reason: format!("unexpected answer {}", &debug[..end]),
    })
}
