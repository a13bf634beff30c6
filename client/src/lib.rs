//! Stadtbote's client core (issue 15): the client logic of every front-end —
//! the `stadtbote` CLI (client-cli/) and the web app — behind three traits it
//! defines, so that it does no I/O of its own.
//!
//! Invariant: nothing in this crate touches the filesystem, the network, a
//! terminal or the process environment. What it needs from the outside
//! world comes through its traits (storage, transport, clock), which the
//! front-ends implement: files under `--home` and a tokio WebSocket in
//! client-cli, IndexedDB and the browser's WebSocket in the web app.
//!
//! The crate compiles for `wasm32-unknown-unknown` (scripts/build-wasm.sh,
//! run by `.ci/run`).
//!
//! # Modules
//!
//! * [`storage`]: [`Storage`](storage::Storage), the device's records in
//!   named spaces with one atomic, durable batch per operation, attachment
//!   chunks and a fenced lease; [`MemoryStorage`](storage::MemoryStorage)
//!   and the conformance suite every backend passes (feature
//!   `test-support`).
//! * [`mls_store`]: the OpenMLS key store's changes as entries of the
//!   operation's batch, instead of a rewrite of the whole key store.
//! * [`transport`]: [`Transport`](transport::Transport) is a dumb pipe of
//!   encoded frames (send one, receive the next, cancel-safely; close) and
//!   [`Connector`](transport::Connector) opens one to a URL. The traits use
//!   `async fn` without a `Send` bound, so the browser's `WebSocket` can
//!   implement them; the core takes them as generic parameters, never as
//!   `dyn`.
//! * [`clock`]: [`Clock`](clock::Clock) is now (Unix ms) and sleep.
//! * [`connection`]: [`Connection`](connection::Connection) gives the
//!   frames their meaning, once for every transport: request ids and
//!   matching answers to requests, events that arrive between answers kept
//!   in order (and bounded), the login challenge, and every timeout (raced
//!   against the clock's sleep, so tests run them without waiting).
//! * [`commit`]: the one commit-and-retry routine that 1:1 conversations,
//!   threads and discussion groups share ([`commit::commit_with_retry`]).
//! * [`routing`]: [`RoutingTable`](routing::RoutingTable), group id →
//!   kind (conversation, thread, pending thread, discussion group), which
//!   routes every incoming message with one lookup.
//! * [`follow`]: following broadcast channels without an account
//!   ([`Follower`](follow::Follower)): the chain rule, withheld/forged
//!   detection, kept revocation lists and org key rotations, photos;
//!   follows in the storage's `follows` space.
//! * [`metadata`]: removing metadata (EXIF, GPS, XMP, comments) from JPEG,
//!   PNG, HEIC/HEIF and WebP photos without re-encoding (keeping their
//!   orientation); pure bytes to bytes.
//! * [`testing`] (feature `test-support`): a scripted fake transport, a
//!   manual clock, and a runtime-free executor for tests.

pub mod account;
pub mod admin_staff;
pub mod app_links;
pub mod approval;
pub mod attachments;
pub mod channels;
pub mod clock;
pub mod codes;
pub mod commit;
pub mod commit_race;
pub mod connection;
pub mod consult;
pub mod conversations;
pub mod device_store;
pub mod devices;
pub mod error;
pub mod follow;
pub mod groups;
pub mod inner_error;
pub mod invalid_input;
pub mod key_files;
pub mod metadata;
pub mod mls_store;
pub mod org;
pub mod org_info;
pub mod org_rotation;
pub mod pinning;
pub mod refusal;
pub mod routes;
pub mod routing;
pub mod send;
pub mod session;
pub mod staff;
pub mod state;
pub mod state_records;
pub mod storage;
pub mod sync;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod thread_send;
pub mod thread_sync;
pub mod threads;
pub mod transport;

pub use error::ClientError;
pub use send::FlushReport;
pub use session::{Client, Enrolment};
pub use sync::SyncReport;

#[cfg(test)]
mod tests {
    use crate::storage::MemoryStorage;
    use crate::storage::conformance::{block_on, run_all};
    use std::collections::HashMap;

    #[test]
    fn memory_storage_conforms() {
        let mut stores: HashMap<u32, MemoryStorage> = HashMap::new();
        block_on(run_all(&mut |n| stores.entry(n).or_default().clone()));
    }
}
