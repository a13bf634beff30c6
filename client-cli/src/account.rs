//! The citizen's rights over their account: asking the server for
//! everything it holds about the account (GDPR Art. 15) and deleting the
//! account there and on this device (Art. 17).

use stadtbote_client::clock::Clock;
use stadtbote_client::storage::Storage;
use stadtbote_client::transport::Connector;
use std::path::PathBuf;

use stadtbote_protocol::Request;
use stadtbote_protocol::account::AccountExport;
use stadtbote_protocol::frame::Response;

use crate::device_store::STORE_DIR;
use crate::error::ClientError;
use crate::home::{IDENTITY_FILE, MLS_FILE, STATE_FILE};
use crate::session::{Client, unexpected};

/// What the server deleted, as it reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerDeletion {
    /// Devices deleted.
    pub devices: u32,
    /// Queued envelopes deleted.
    pub envelopes: u64,
    /// Uploads deleted.
    pub blobs: u32,
    /// Stored KeyPackages deleted.
    pub key_packages: u32,
}

/// Files and directories of the home that belong to the account; deleted
/// with it. `identity.key` goes first: without it the home no longer counts
/// as initialised, so a crash midway cannot leave a half-working account
/// (and `init` clears a store left behind). The store (`store/`: state,
/// history, MLS keys) goes whole, its journal with it, so no old value of
/// the history stays in the home; `state.cbor`/`mls.cbor` exist only in a
/// home from before the store that was never opened since. Followed
/// channels (`follows.cbor`) need no account and are kept.
const ACCOUNT_FILES: [&str; 3] = [IDENTITY_FILE, STATE_FILE, MLS_FILE];
const ACCOUNT_DIRS: [&str; 2] = [STORE_DIR, "photos"];

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Everything the server holds about this device's account. Needs a
    /// connection.
    pub async fn export_account(&mut self) -> Result<AccountExport, ClientError> {
        match self.conn_mut()?.request(Request::AccountExport).await? {
            Response::AccountExport { export } => Ok(*export),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Deletes the account on the server (needs a connection), then the
    /// account's files in this home. Returns what the server deleted and
    /// the local paths removed.
    pub async fn delete_account(mut self) -> Result<(ServerDeletion, Vec<PathBuf>), ClientError> {
        let deletion = match self.conn_mut()?.request(Request::AccountDelete).await? {
            Response::AccountDeleted { devices, envelopes, blobs, key_packages } => {
                ServerDeletion { devices, envelopes, blobs, key_packages }
            }
            other => return Err(unexpected(&self.server_url, &other)),
        };
        self.disconnect().await;
        let mut removed = Vec::new();
        for name in ACCOUNT_FILES {
            let path = self.home.path(name);
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ClientError::Io { action: "delete", file: path, source });
                }
            }
        }
        for name in ACCOUNT_DIRS {
            let path = self.home.path(name);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ClientError::Io { action: "delete", file: path, source });
                }
            }
        }
        // Make the removals durable, as every write to the home is.
        if let Ok(dir) = std::fs::File::open(self.home.dir()) {
            let _ = dir.sync_all();
        }
        Ok((deletion, removed))
    }
}
