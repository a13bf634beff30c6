//! A citizen's rights over their own account (issue 5): the export of
//! everything the server holds about it and its deletion.

use stadtbote_protocol::frame::Response;

use super::{Identity, Relay, RelayError};
use crate::unix_ms;

impl Relay {
    /// Everything stored about the caller's account (GDPR Art. 15).
    pub(super) fn account_export(&self, me: &Identity) -> Result<Response, RelayError> {
        let export = self.store.account_export(&me.account, unix_ms())?;
        Ok(Response::AccountExport { export: Box::new(export) })
    }

    /// Deletes the caller's account (GDPR Art. 17): the store removes its
    /// records durably and destroys its shredding key, then the upload
    /// files go. Connections of its devices are refused from their next
    /// request on and their delivery stops (see `handle`).
    pub(super) async fn account_delete(&self, me: &Identity) -> Result<Response, RelayError> {
        let store = self.store();
        let account = me.account;
        // Deletion flushes the database and fsyncs the key directory: run
        // it off the async threads.
        let deletion = tokio::task::spawn_blocking(move || store.delete_account(&account))
            .await
            .map_err(|_| RelayError::Internal)??;
        for blob in &deletion.blobs {
            // The metadata is gone; a file left behind is removed by the
            // orphan sweep at the next start, so a failure here is logged,
            // not returned (the account is deleted either way).
            if let Err(err) = self.blobs.remove(blob) {
                tracing::warn!(error = %err, "upload file of a deleted account not removed");
            }
        }
        // Wake the devices' other connections: their delivery loops find
        // empty mailboxes, and their next request is refused.
        self.wake_stored(&deletion.devices);
        Ok(Response::AccountDeleted {
            devices: u32::try_from(deletion.devices.len()).unwrap_or(u32::MAX),
            envelopes: deletion.envelopes,
            blobs: u32::try_from(deletion.blobs.len()).unwrap_or(u32::MAX),
            key_packages: deletion.key_packages,
        })
    }
}
