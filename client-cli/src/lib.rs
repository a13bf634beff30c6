//! Stadtbote's command-line client, as a library.
//!
//! The `stadtbote` binary is a thin layer over [`Client`]; tests drive the
//! same API directly (for example to force a lost commit race).
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
//! * [`error`]: the error type, [`ClientError`].
//! * [`error_text`]: [`ClientError`] in the user's language (the `stadtbote-i18n` catalogs).

pub mod account;
pub mod admin_output;
pub mod admin_staff;
pub mod app_links;
pub mod approval;
pub mod attachments;
pub mod backup;
pub mod channel_output;
pub mod channels;
pub mod chat;
pub mod clock;
pub mod codes;
pub mod commit_race;
pub mod connection;
pub mod consult;
pub mod conversations;
pub mod device_store;
pub mod devices;
pub mod error;
pub mod error_text;
pub mod file_storage;
pub mod follow_home;
pub mod group_output;
pub mod groups;
pub mod home;
pub mod inner_error;
pub mod invalid_input;
pub use stadtbote_client::metadata;
pub mod org;
pub mod org_info;
pub mod org_info_output;
pub mod org_legal;
pub mod org_legal_output;
pub mod org_rotation;
pub mod output;
pub mod passphrase;
pub mod pinning;
pub mod poster;
pub mod qr;
pub mod refusal_text;
pub mod retention_text;
pub mod routes;
pub mod send;
pub mod session;
pub mod staff;
pub mod state;
pub mod state_records;
pub mod sync;
pub mod thread_output;
pub mod thread_send;
pub mod thread_sync;
pub mod threads;
pub mod tls_trust;
pub mod web_fetch;
pub mod web_refs;
pub mod web_sign;
pub mod web_verify;

pub use error::ClientError;
pub use send::FlushReport;
pub use session::{Client, Enrolment};
pub use sync::SyncReport;

/// The server URL used when none is given.
pub const DEFAULT_SERVER_URL: &str = "ws://127.0.0.1:8470/v1/ws";
