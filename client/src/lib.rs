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
pub mod mls_store;
pub mod storage;

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
