//! Stadtbote's wire protocol and all of its cryptography.
//!
//! This crate owns the bytes that cross the network and the state machines that
//! protect them. It never performs I/O: callers own sockets, files and clocks
//! and hand this crate bytes, keys and timestamps. Every decoder returns a typed
//! error on bad input and never panics (the crate denies `unwrap`, `expect` and
//! `panic!` outside tests).
//!
//! * [`ids`]: account, device, group and message identifiers and their text form.
//! * [`frame`]: the versioned request/response/event frames of the WebSocket protocol.
//! * [`auth`]: device identity keys, login challenges and registration proof-of-work.
//! * [`app`]: the application payload carried inside MLS messages (never seen by the server).
//! * [`attachment`]: padding, chunking and STREAM encryption of photo attachments.
//! * [`org`]: organisation keys, signed profiles, staff certificates and revocations.
//! * [`org_rotation`]: handing over and replacing the org key (the signed rotation chain).
//! * [`channel`]: broadcast channel keys, invites, sealed signed posts and their hash chain.
//! * [`device_list`]: account keys, the signed device list and linking a device by a secret.
//! * [`group_link`]: join links of discussion groups (join token, sealed GroupInfo).
//! * [`account`]: what the server reports about an account (GDPR export).
//! * [`audit`]: the hash-chained audit log of admin actions and its verification.
//! * [`membership`]: signed membership statements of commits and group creation proofs.
//! * [`mls`]: the MLS (RFC 9420) client state machine built on OpenMLS.
//! * [`refusal`]: the stable reason codes of refusals, which clients word in their user's language.
//! * [`web_manifest`]: the signed manifest of the web app's bundle and the comparison with what a server serves.
//! * [`fuzzing`]: the decoders as the fuzz targets and the corpus replay test call them.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod account;
pub mod app;
pub mod app_link;
pub mod attachment;
pub mod audit;
pub mod auth;
pub mod channel;
pub mod conversation;
pub mod device_list;
pub mod frame;
pub mod fuzzing;
pub mod group_link;
pub mod ids;
pub mod membership;
pub mod mls;
pub mod notify;
pub mod org;
pub mod org_legal;
pub mod org_rotation;
pub mod refusal;
pub mod totp;
pub mod web_manifest;

pub use frame::{
    ClientFrame, ErrorBody, ErrorCode, Event, FrameError, Request, Response, ServerFrame,
};
pub use ids::{
    AccountId, BackupId, BlobId, ChannelId, DeviceId, GroupId, IdParseError, MsgId, OrgId,
};
pub use refusal::RefusalReason;

/// The protocol version spoken by this crate. Frames carrying another version
/// are refused with [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u16 = 3;
