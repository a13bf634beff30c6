//! The citizen's rights over their account: asking the server for
//! everything it holds about the account (GDPR Art. 15) and deleting the
//! account there and on this device (Art. 17).

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;

use stadtbote_protocol::Request;
use stadtbote_protocol::account::AccountExport;
use stadtbote_protocol::frame::Response;

use crate::error::ClientError;
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

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Everything the server holds about this device's account. Needs a
    /// connection.
    pub async fn export_account(&mut self) -> Result<AccountExport, ClientError> {
        match self.conn_mut()?.request(Request::AccountExport).await? {
            Response::AccountExport { export } => Ok(*export),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Deletes the account on the server (needs a connection); what was
    /// stored locally is the front-end's to remove.
    pub async fn delete_account_on_server(&mut self) -> Result<ServerDeletion, ClientError> {
        let deletion = match self.conn_mut()?.request(Request::AccountDelete).await? {
            Response::AccountDeleted { devices, envelopes, blobs, key_packages } => {
                ServerDeletion { devices, envelopes, blobs, key_packages }
            }
            other => return Err(unexpected(&self.server_url, &other)),
        };
        Ok(deletion)
    }
}
