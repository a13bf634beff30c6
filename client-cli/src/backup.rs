//! `stadtbote admin backup FILE`: asks the server for an online backup,
//! downloads it chunk by chunk, checks its SHA-256 and writes it
//! atomically (a temporary file, fsync, rename) with mode 0600.
//!
//! A backup is encrypted to age recipients (the server's
//! `backup_recipients` and `--recipient`); an unencrypted one is written
//! only with `--insecure-plaintext`, because it holds the keys that make
//! deleted accounts unreadable.
//!
//! The file is never held in memory: each chunk is hashed and written as
//! it arrives.

use stadtbote_client::clock::Clock;
use stadtbote_client::connection::ConnectionError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use stadtbote_protocol::BackupId;
use stadtbote_protocol::ErrorCode;
use stadtbote_protocol::frame::{AdminAction, Response};

use crate::device::Client;
use crate::error::CliError;
use crate::error::ClientError;
use stadtbote_client::session::unexpected;

/// Most chunks accepted for one backup (with the server's default chunk
/// size, 512 GiB): a server answering forever cannot keep the client busy.
const MAX_CHUNKS: u32 = 4_194_304;

/// What `admin backup` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    /// Where the backup was written.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Whether it is age-encrypted.
    pub encrypted: bool,
}

fn io_error(action: &'static str, file: &Path) -> impl FnOnce(std::io::Error) -> CliError {
    let file = file.to_path_buf();
    move |source| CliError::Io { action, file, source }
}

impl<C: Clock + Clone> Client<C> {
    /// Takes an online backup and writes it to `file` (server admins only).
    pub async fn admin_backup(
        &mut self,
        file: &Path,
        recipients: Vec<String>,
        insecure_plaintext: bool,
        otp: Option<String>,
    ) -> Result<BackupSummary, CliError> {
        // Without a recipient here the server may still have configured
        // ones; it refuses (invalid_request) only when it has none.
        let named_none = recipients.is_empty() && !insecure_plaintext;
        let start = AdminAction::BackupStart { recipients, insecure_plaintext };
        let (backup, size, sha256, encrypted) = match self.admin_action(start, otp.clone()).await {
            Ok(Response::BackupReady { backup, size, sha256, encrypted, .. }) => {
                (backup, size, sha256.into_vec(), encrypted)
            }
            Ok(other) => return Err(unexpected(self.server_url(), &other).into()),
            Err(ClientError::Connection(ConnectionError::Server(body)))
                if named_none && body.code == ErrorCode::InvalidRequest =>
            {
                return Err(ClientError::PlaintextBackupRefused.into());
            }
            Err(e) => return Err(e.into()),
        };
        if !encrypted && !insecure_plaintext {
            // A server from before the refusal wrote plaintext anyway:
            // delete the staged copy instead of downloading it.
            let _ = self.admin_action(AdminAction::BackupFinish { backup }, otp).await;
            return Err(ClientError::PlaintextBackupRefused.into());
        }
        let tmp = tmp_path(file);
        let result = self.download_backup(backup, size, &sha256, &tmp, otp.clone()).await;
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, file).map_err(io_error("rename into place", file))?;
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Makes the rename durable; a failure here leaves a complete file.
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        // The staged copy on the server is no longer needed.
        match self.admin_action(AdminAction::BackupFinish { backup }, otp).await? {
            Response::BackupFinished => {}
            other => return Err(unexpected(self.server_url(), &other).into()),
        }
        Ok(BackupSummary {
            file: file.to_path_buf(),
            size,
            sha256: data_encoding::HEXLOWER.encode(&sha256),
            encrypted,
        })
    }

    async fn download_backup(
        &mut self,
        backup: BackupId,
        size: u64,
        expected: &[u8],
        tmp: &Path,
        otp: Option<String>,
    ) -> Result<(), CliError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(tmp).map_err(io_error("create", tmp))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        for index in 0..MAX_CHUNKS {
            let action = AdminAction::BackupChunk { backup, index };
            let (data, last) = match self.admin_action(action, otp.clone()).await? {
                Response::BackupChunk { index: got, data, last } if got == index => (data, last),
                other => return Err(unexpected(self.server_url(), &other).into()),
            };
            written = written.saturating_add(data.len() as u64);
            if written > size {
                return Err(ConnectionError::Protocol {
                    url: self.server_url().to_string(),
                    reason: "the backup is longer than announced".into(),
                }
                .into());
            }
            hasher.update(&data);
            out.write_all(&data).map_err(io_error("write", tmp))?;
            if last {
                break;
            }
        }
        if written != size || hasher.finalize()[..] != *expected {
            return Err(ConnectionError::Protocol {
                url: self.server_url().to_string(),
                reason: "the downloaded backup does not match its size or SHA-256".into(),
            }
            .into());
        }
        out.sync_all().map_err(io_error("sync", tmp))?;
        Ok(())
    }
}

/// `FILE.partial` next to `FILE`, so the rename stays on one file system.
fn tmp_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}
