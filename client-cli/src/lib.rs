//! Stadtbote's command-line client, as a library.
//!
//! The `stadtbote` binary is a thin layer over [`Client`]; tests drive the
//! same API directly (for example to force a lost commit race).
//!
//! * [`home`]: the `--home` directory, its files, permissions, atomic writes and lock.
//! * [`state`]: the bookkeeping in `state.cbor` (history, outbox, receipts) and `mls.cbor`.
//! * [`connection`]: the WebSocket connection to the relay (timeouts, limits, request matching).
//! * [`session`]: [`Client`] itself: register, link, open, login, KeyPackage top-up, saving.
//! * [`sync`]: mailbox processing (decrypt, record, persist, then ack) and receipts.
//! * [`send`]: the outbox, conversation membership and commit-race recovery.
//! * [`output`]: the text and JSON formats of what the CLI prints.
//! * [`error`]: the error type, [`ClientError`].

pub mod connection;
pub mod error;
pub mod home;
pub mod output;
pub mod send;
pub mod session;
pub mod state;
pub mod sync;

pub use error::ClientError;
pub use send::FlushReport;
pub use session::{Client, Enrolment};
pub use sync::SyncReport;

/// The server URL used when none is given.
pub const DEFAULT_SERVER_URL: &str = "ws://127.0.0.1:8470/v1/ws";
