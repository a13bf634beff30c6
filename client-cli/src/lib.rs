//! Stadtbote's command-line client, as a library.
//!
//! The `stadtbote` binary is a thin layer over [`Client`]; tests drive the
//! same API directly (for example to force a lost commit race).
//!
//! The client logic lives in the core crate, `stadtbote_client` (issue
//! 15): [`Client`] here is the core's client over the home's files and the
//! tokio WebSocket ([`device`]), and the core's modules are re-exported
//! under their old names (`stadtbote_cli::sync`, `::threads`, …). The
//! CLI's own modules: [`device`], [`home`], [`home_store`] (as
//! [`device_store`]), [`file_storage`], [`photo_files`], [`connection`],
//! [`clock`], [`cli_error`], [`error_text`] and the `*_output` formats,
//! [`passphrase`], [`qr`], [`poster`], [`chat`], [`follow_home`],
//! [`backup`], [`tls_trust`], the `web_*` modules and [`web_app_url`].
//! The list below is by topic, wherever the module lives.
//!
//! * [`home`]: the `--home` directory, its files, permissions, atomic writes and lock.
//! * [`state`]: the bookkeeping (history, outbox, receipts) and the old `state.cbor`/`mls.cbor` formats.
//! * [`state_records`]: the state as records of the core's Storage spaces, both ways (no I/O).
//! * [`device_store`]: the state, envelope ids and MLS key store in a `FileStorage` under `<home>/store/`, one batch per save; imports old homes.
//! * [`connection`]: the WebSocket connection to the relay (timeouts, limits, request matching).
//! * [`clock`]: the system clock and tokio timers as the core's `Clock`.
//! * [`commit_race`]: what the CLI's commit races share (the core's one commit-and-retry routine).
//! * [`session`]: [`Client`] itself: register, link, open, login, KeyPackage top-up, saving.
//! * [`routes`]: the routing table of incoming messages (group id → kind), built from the state and kept where groups come and go.
//! * [`sync`]: mailbox processing (decrypt, record, persist, then ack) and receipts.
//! * [`send`]: the outbox, conversation membership and commit-race recovery.
//! * [`conversations`]: which groups are 1:1 conversations (random ids, the Welcome marker) and which one is sent to.
//! * [`output`]: the text and JSON formats of what the CLI prints.
//! * [`metadata`]: removing metadata (EXIF, GPS, XMP, comments) from JPEG, PNG, HEIC/HEIF and WebP photos without re-encoding (keeping their orientation); lives in the core, `stadtbote_client::metadata`.
//! * [`attachments`]: photo upload (encrypted, resumable) and download.
//! * [`org`]: server-admin bootstrap, the org key, the signed profile, staff invitations, revocation.
//! * [`org_rotation`]: replacing the org key (`org rotate-key`) with a signed rotation.
//! * [`codes`]: the org-admin and staff invitation codes the CLI hands out.
//! * [`passphrase`]: passphrases and the encrypted org-key export file.
//! * [`qr`]: the org key's QR code (PNG, SVG).
//! * [`poster`]: the printable notice-board poster (A4, PDF or SVG) of `org poster`.
//! * [`pinning`]: pinning org keys (trust on first use, verification) and checking org directories.
//! * [`staff`]: certified staff devices and this device's enrolment.
//! * [`approval`]: the org key's approval of staff enrolments and the signed staff list.
//! * [`admin_staff`]: the org admin's own device as a certified staff device of its org.
//! * [`org_info`]: the verified public profile of an org (`org info`), with or without an account.
//! * [`org_info_output`]: the text and JSON forms of `org info`.
//! * [`threads`]: report and consultation threads: state, status rules, membership rule.
//! * [`thread_send`]: the thread outbox, opening threads, membership before every send.
//! * [`thread_sync`]: incoming thread messages, sender and member checks, disappearing threads.
//! * [`thread_output`]: the text and JSON formats of the thread and org commands.
//! * [`consult`]: consultation hours: live or closed.
//! * [`channel_output`]: the text and JSON formats of the channel commands.
//! * [`channels`]: broadcast channels: publishing, following without an account, the follower's chain rule.
//! * [`follow_home`]: the core's account-less channel follower over a file store under `<home>/follows/`; imports an old home's `follows.cbor`.
//! * [`groups`]: discussion groups: creating, joining by link (external commit), posts, moderation.
//! * [`group_output`]: the text and JSON formats of the group commands.
//! * [`chat`]: the interactive chat in one thread.
//! * [`devices`]: the account key, signed device lists (pinning, linking, removal, notices).
//! * [`account`]: exporting everything the server holds about the account, and deleting it.
//! * [`web_fetch`], [`web_refs`], [`web_verify`]: `web-verify`: fetching the web app as a browser would and checking it against its signed manifest.
//! * [`web_sign`]: `web-sign`: the release key and the signed manifest of a bundle directory.
//! * [`error`]: the core's [`ClientError`] and the CLI's [`CliError`].
//! * [`error_text`]: both in the user's language (the `stadtbote-i18n` catalogs).

// What the CLI is: its own modules.
pub mod admin_output;
pub mod backup;
pub mod channel_output;
pub mod chat;
pub mod cli_error;
pub mod clock;
pub mod connection;
pub mod device;
pub mod error_text;
pub mod file_storage;
pub mod follow_home;
pub mod group_output;
pub mod home;
pub mod home_store;
pub mod org_info_output;
pub mod org_legal;
pub mod org_legal_output;
pub mod output;
pub mod passphrase;
pub mod photo_files;
pub mod poster;
pub mod qr;
pub mod refusal_text;
pub mod retention_text;
pub mod thread_output;
pub mod tls_trust;
pub mod web_app_url;
pub mod web_fetch;
pub mod web_refs;
pub mod web_sign;
pub mod web_verify;

// The client logic, which lives in the core crate (`stadtbote_client`):
// re-exported under the names the commands, the unit tests and tests/it
// have always used.
pub use home_store as device_store;
pub use stadtbote_client::{
    account, admin_staff, approval, attachments, codes, commit_race, consult, conversations,
    devices, groups, inner_error, invalid_input, metadata, org, org_info, org_rotation, pinning,
    routes, send, session, staff, state, state_records, sync, thread_send, thread_sync, threads,
};

/// App links: the core's (`stadtbote_client::app_links`) and the CLI's
/// question to the server for its web app address.
pub mod app_links {
    pub use crate::web_app_url::public_url;
    pub use stadtbote_client::app_links::*;
}

/// Broadcast channels: the core's (`stadtbote_client::channels`) and the
/// CLI's account-less follower under the home ([`crate::follow_home`]).
pub mod channels {
    pub use crate::follow_home::{FOLLOWS_FILE, Follower, read_follows};
    pub use stadtbote_client::channels::*;
}

/// The errors: the core's [`ClientError`] and the CLI's own [`CliError`].
pub mod error {
    pub use crate::cli_error::*;
    pub use stadtbote_client::error::*;
}

pub use cli_error::CliError;
pub use device::Client;
pub use stadtbote_client::{ClientError, Enrolment, FlushReport, SyncReport};

/// The server URL used when none is given.
pub const DEFAULT_SERVER_URL: &str = "ws://127.0.0.1:8470/v1/ws";
