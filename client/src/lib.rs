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
//! * [`metadata`]: removing metadata (EXIF, GPS, XMP, comments) from JPEG, PNG, HEIC/HEIF and WebP photos without re-encoding (keeping their orientation); pure bytes to bytes.

pub mod metadata;
