//! Online backups: `admin backup` stages a consistent backup file under
//! `<data_dir>/backups/` (0700, files 0600) and the admin downloads it in
//! chunks.
//!
//! Consistency comes from the relay's write gate: every request and every
//! sweep holds it shared while it runs, and the backup holds it exclusively
//! only while it exports the database and freezes the state files (see
//! `backup::create::snapshot`). Because a request holds the gate until it
//! has answered, every envelope acknowledged before the backup took the gate
//! is in the backup, and no write is half in it. Encrypting and hashing run
//! after the gate is released. At most `max_staged_backups` exist at once;
//! each is deleted after `BackupFinish` or by the sweeper after
//! `backup_staging_ttl_secs`.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data_encoding::HEXLOWER;
use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::Response;
use stadtbote_protocol::{BackupId, RefusalReason};

use super::{Relay, RelayError};
use crate::backup::create::{self, STAGING_DIR, create_private_dir};
use crate::backup::{BackupError, parse_recipients};
use crate::config::Config;
use crate::unix_ms;

/// Most extra recipients one request may name.
const MAX_REQUEST_RECIPIENTS: usize = 16;

/// A staged backup.
#[derive(Debug, Clone)]
enum Staged {
    /// Being written; counts against the limit.
    Preparing,
    /// Ready for download.
    Ready { path: PathBuf, size: u64, expires_at: u64 },
}

/// The staging area and its configuration.
pub(crate) struct BackupStaging {
    data_dir: PathBuf,
    dir: PathBuf,
    recipients: Vec<String>,
    max_staged: usize,
    ttl_ms: u64,
    chunk_bytes: u32,
    staged: Mutex<HashMap<BackupId, Staged>>,
}

impl BackupStaging {
    /// The staging area of a (validated) configuration.
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            data_dir: config.data_dir.clone(),
            dir: config.data_dir.join(STAGING_DIR),
            recipients: config.backup_recipients.clone(),
            max_staged: config.max_staged_backups,
            ttl_ms: config.backup_staging_ttl_secs.saturating_mul(1000),
            chunk_bytes: config.backup_chunk_bytes,
            staged: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BackupId, Staged>> {
        // A panic while holding this lock leaves only a map of ids behind.
        self.staged.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn base(&self, backup: &BackupId) -> PathBuf {
        self.dir.join(HEXLOWER.encode(backup.as_bytes()))
    }
}

/// Deletes every file of a staged backup; missing files are fine.
fn remove_staged(base: &Path) {
    for suffix in ["plain", "age"] {
        let _ = fs::remove_file(base.with_extension(suffix));
    }
    let _ = fs::remove_dir_all(base.with_extension("files"));
}

fn internal(e: BackupError) -> RelayError {
    tracing::error!(error = %e, "backup failed");
    RelayError::StorageUnavailable
}

impl Relay {
    /// Takes a backup into the staging area.
    pub(super) async fn backup_start(
        &self,
        extra: &[String],
        insecure_plaintext: bool,
    ) -> Result<Response, RelayError> {
        if extra.len() > MAX_REQUEST_RECIPIENTS {
            return Err(RelayError::Refused(RefusalReason::TooManyBackupRecipients));
        }
        let staging = &self.backups;
        let mut all = staging.recipients.clone();
        all.extend(extra.iter().cloned());
        if all.is_empty() && !insecure_plaintext {
            // A plaintext backup holds the pepper, every account's
            // shredding key and the admins' TOTP secrets: with it, deleted
            // accounts become readable again. Only on explicit request.
            return Err(RelayError::Refused(RefusalReason::PlaintextBackupRefused));
        }
        let recipients = parse_recipients(&all)
            .map_err(|_| RelayError::Refused(RefusalReason::BackupRecipientInvalid))?;
        let backup = BackupId::random();
        {
            let mut staged = staging.lock();
            if staged.len() >= staging.max_staged {
                return Err(RelayError::Unavailable);
            }
            staged.insert(backup, Staged::Preparing);
        }
        let base = staging.base(&backup);
        let result = self.stage(&base, recipients).await;
        let mut staged = staging.lock();
        match result {
            Ok(finished) if staged.contains_key(&backup) => {
                let (path, finished) = finished;
                let expires_at = unix_ms().saturating_add(staging.ttl_ms);
                staged.insert(backup, Staged::Ready { path, size: finished.size, expires_at });
                drop(staged);
                tracing::info!(
                    bytes = finished.size,
                    trees = finished.manifest.trees,
                    entries = finished.manifest.entries,
                    files = finished.manifest.files,
                    encrypted = finished.encrypted,
                    "backup staged"
                );
                Ok(Response::BackupReady {
                    backup,
                    size: finished.size,
                    sha256: ByteBuf::from(finished.sha256.to_vec()),
                    chunk_size: staging.chunk_bytes,
                    encrypted: finished.encrypted,
                })
            }
            Ok(_) => {
                // The sweeper expired it meanwhile.
                drop(staged);
                remove_staged(&base);
                Err(RelayError::Unavailable)
            }
            Err(e) => {
                staged.remove(&backup);
                drop(staged);
                remove_staged(&base);
                Err(e)
            }
        }
    }

    /// The two steps of `backup::create`, the first under the exclusive gate.
    async fn stage(
        &self,
        base: &Path,
        recipients: Vec<age::x25519::Recipient>,
    ) -> Result<(PathBuf, create::Finished), RelayError> {
        let plain = base.with_extension("plain");
        let encrypted = base.with_extension("age");
        let files_dir = base.with_extension("files");
        let pending = {
            // Waits for every request in flight to answer; new ones wait
            // for this guard (tokio's lock is fair, so writers cannot
            // starve the backup).
            let _exclusive = self.write_gate.write().await;
            let store = self.store.clone();
            let data_dir = self.backups.data_dir.clone();
            let dir = self.backups.dir.clone();
            let (plain, files_dir) = (plain.clone(), files_dir.clone());
            tokio::task::spawn_blocking(move || {
                create_private_dir(&dir)?;
                create::snapshot(store.as_ref(), &data_dir, &plain, &files_dir, unix_ms())
            })
            .await
            .map_err(|_| RelayError::Internal)?
            .map_err(internal)?
        };
        tokio::task::spawn_blocking(move || {
            create::complete(pending, &plain, &encrypted, &recipients)
        })
        .await
        .map_err(|_| RelayError::Internal)?
        .map_err(internal)
    }

    /// One chunk of a staged backup.
    pub(super) async fn backup_chunk(
        &self,
        backup: &BackupId,
        index: u32,
    ) -> Result<Response, RelayError> {
        let (path, size) = match self.backups.lock().get(backup) {
            Some(Staged::Ready { path, size, .. }) => (path.clone(), *size),
            _ => return Err(RelayError::Refused(RefusalReason::BackupUnknownOrUnfinished)),
        };
        let chunk = u64::from(self.backups.chunk_bytes);
        let offset = u64::from(index).saturating_mul(chunk);
        if offset >= size && !(size == 0 && index == 0) {
            return Err(RelayError::InvalidRequest("chunk index past the end of the backup"));
        }
        let len = chunk.min(size - offset.min(size));
        let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut file = fs::File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut data = Vec::with_capacity(len as usize);
            file.take(len).read_to_end(&mut data)?;
            Ok(data)
        })
        .await
        .map_err(|_| RelayError::Internal)?
        .map_err(|e| internal(e.into()))?;
        if data.len() as u64 != len {
            return Err(RelayError::Internal);
        }
        Ok(Response::BackupChunk { index, data: ByteBuf::from(data), last: offset + len >= size })
    }

    /// Deletes a staged backup.
    pub(super) async fn backup_finish(&self, backup: &BackupId) -> Result<Response, RelayError> {
        match self.backups.lock().remove(backup) {
            Some(Staged::Ready { .. }) => {}
            Some(preparing) => {
                // Still being written: leave it to its request.
                self.backups.lock().insert(*backup, preparing);
                return Err(RelayError::Refused(RefusalReason::BackupNotFinished));
            }
            None => return Err(RelayError::Refused(RefusalReason::BackupUnknown)),
        }
        let base = self.backups.base(backup);
        let _ = tokio::task::spawn_blocking(move || remove_staged(&base)).await;
        Ok(Response::BackupFinished)
    }

    /// Deletes staged backups past their lifetime, and leftovers in the
    /// staging directory that no staged backup owns (from before a
    /// restart). Blocking; called by the sweeper. Returns how many went.
    pub fn sweep_staged_backups(&self, now_ms: u64) -> u64 {
        let mut removed = 0;
        // The lock is held while listing the directory, so that a backup
        // starting meanwhile cannot have its new files taken for leftovers.
        let mut staged = self.backups.lock();
        let expired: Vec<BackupId> = staged
            .iter()
            .filter(|(_, s)| match s {
                Staged::Ready { expires_at, .. } => *expires_at <= now_ms,
                // A backup still being written is never swept: its request
                // removes it if it fails.
                Staged::Preparing => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            staged.remove(id);
            remove_staged(&self.backups.base(id));
            removed += 1;
        }
        let known: Vec<String> = staged.keys().map(|id| HEXLOWER.encode(id.as_bytes())).collect();
        if let Ok(entries) = fs::read_dir(&self.backups.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let stem = name.split('.').next().unwrap_or_default();
                if !known.iter().any(|k| k == stem) {
                    let path = entry.path();
                    let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
                }
            }
        }
        drop(staged);
        removed
    }
}
