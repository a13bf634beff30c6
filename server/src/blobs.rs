//! Attachment files: encrypted blobs stored as plain files outside the
//! database, in `<data_dir>/blobs/` (mode 0700, files 0600).
//!
//! Blobs are large (up to 20 MiB) and written in chunks over minutes; keeping
//! them out of sled keeps the database's log and cache small and lets the
//! operating system stream them. An unfinished upload is `<hex id>.part`;
//! finishing it renames it to `<hex id>`. The contents are ciphertext the
//! server cannot read, and file names are the random blob ids, so a file
//! listing reveals nothing but sizes.
//!
//! Crash safety comes from the order of operations in the relay: the file is
//! `fdatasync`ed before the metadata that counts its bytes is stored, so the
//! metadata never claims bytes the file lacks. Syncing happens per batch, not
//! per chunk: a chunk is written to the file (page cache) and counted in
//! memory ([`BlobFiles::received`]); once the chunks written since the last
//! sync reach `blob_sync_bytes`, at the last chunk and at finish, the file is
//! synced and only then the durable chunk count is stored. Bytes a file holds
//! beyond what the metadata counts (chunks not synced yet when the process
//! died, or a write whose metadata update never became durable) are cut off
//! by the next chunk write, which starts at the counted end. Files without
//! metadata are removed at start ([`BlobFiles::remove_orphans`]).
//!
//! Everything here blocks on the disk; async callers use the blocking pool.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use data_encoding::HEXLOWER;
use stadtbote_protocol::BlobId;

use crate::store::{BlobStore, StoreError};

/// Name of the attachment directory inside the data directory.
pub const BLOB_DIR: &str = "blobs";

/// Suffix of an unfinished upload's file.
const PART_SUFFIX: &str = ".part";

/// The attachment directory, and how far the unfinished uploads in it got
/// beyond what their metadata counts.
#[derive(Debug)]
pub struct BlobFiles {
    dir: PathBuf,
    /// Chunk bytes an upload may write between two syncs
    /// (`blob_sync_bytes`).
    sync_bytes: u64,
    /// Chunks each unfinished upload holds in its file (written, maybe not
    /// synced yet), for uploads that got further than their durable count
    /// in the metadata. One entry per unfinished upload at most; removed
    /// when the upload is finished or its files are removed (expiry, owner
    /// deleted), so the account quota on unfinished uploads bounds it.
    received: Mutex<HashMap<BlobId, u32>>,
}

/// Opens a file for writing, creating it readable only by the owner.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What a chunk write needs from a file; a trait so that tests can make the
/// disk fail halfway through a write.
pub(crate) trait ChunkFile {
    /// Current length.
    fn length(&self) -> io::Result<u64>;
    /// Truncates (or extends) to `len` bytes.
    fn truncate_to(&mut self, len: u64) -> io::Result<()>;
    /// Writes all of `data` at `offset`.
    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// `fdatasync`.
    fn sync(&mut self) -> io::Result<()>;
}

impl ChunkFile for File {
    fn length(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.seek(SeekFrom::Start(offset))?;
        self.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Writes `data` at `offset` (the end of what has been received) and, if
/// `sync`, makes the file durable (this chunk and every earlier one). On any
/// failure the file is cut back to `offset`, so nothing half-written stays
/// behind.
pub(crate) fn write_chunk_to(
    file: &mut impl ChunkFile,
    offset: u64,
    data: &[u8],
    sync: bool,
) -> io::Result<()> {
    let length = file.length()?;
    if length < offset {
        // The metadata counts bytes the file does not have: the disk lost
        // data that was synced. Padding would corrupt the blob silently.
        return Err(io::Error::new(io::ErrorKind::InvalidData, "partial upload file is too short"));
    }
    if length > offset {
        // Left over from chunks that were not synced, or whose metadata
        // update was lost, before a crash.
        file.truncate_to(offset)?;
    }
    let written =
        file.write_all_at(offset, data).and_then(|()| if sync { file.sync() } else { Ok(()) });
    if let Err(e) = written {
        // Best effort: if even this fails, the next write cuts the file back.
        let _ = file.truncate_to(offset).and_then(|()| file.sync());
        return Err(e);
    }
    Ok(())
}

/// The blob id of a file name in the directory, and whether it is a `.part`.
fn parse_name(name: &str) -> Option<(BlobId, bool)> {
    let (hex, part) = match name.strip_suffix(PART_SUFFIX) {
        Some(hex) => (hex, true),
        None => (name, false),
    };
    let bytes = HEXLOWER.decode(hex.as_bytes()).ok()?;
    BlobId::from_slice(&bytes).ok().map(|id| (id, part))
}

impl BlobFiles {
    /// Opens (creating with mode 0700 if missing) `<data_dir>/blobs`;
    /// uploads sync their file every `sync_bytes` chunk bytes.
    pub fn open(data_dir: &Path, sync_bytes: u64) -> io::Result<Self> {
        let dir = data_dir.join(BLOB_DIR);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir)?;
        Ok(Self { dir, sync_bytes, received: Mutex::new(HashMap::new()) })
    }

    /// Chunk bytes an upload may write between two syncs.
    pub fn sync_bytes(&self) -> u64 {
        self.sync_bytes
    }

    fn received_map(&self) -> MutexGuard<'_, HashMap<BlobId, u32>> {
        // A poisoned lock only means a panic mid-insert; the map is intact.
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chunks of an unfinished upload held in its file since this process
    /// wrote them, if it wrote any; may be more than its metadata counts.
    pub fn received(&self, blob: &BlobId) -> Option<u32> {
        self.received_map().get(blob).copied()
    }

    /// Notes that an unfinished upload's file holds `chunks` chunks.
    pub fn set_received(&self, blob: &BlobId, chunks: u32) {
        self.received_map().insert(*blob, chunks);
    }

    /// Forgets what [`Self::set_received`] noted: the metadata's count is
    /// what the file holds again (finished, or a sync failed).
    pub fn forget_received(&self, blob: &BlobId) {
        self.received_map().remove(blob);
    }

    /// Blobs with a noted count (for pruning ones whose metadata is gone).
    pub fn received_blobs(&self) -> Vec<BlobId> {
        self.received_map().keys().copied().collect()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn part_path(&self, blob: &BlobId) -> PathBuf {
        self.dir.join(format!("{}{PART_SUFFIX}", HEXLOWER.encode(blob.as_bytes())))
    }

    fn final_path(&self, blob: &BlobId) -> PathBuf {
        self.dir.join(HEXLOWER.encode(blob.as_bytes()))
    }

    /// Creates the empty file of a new upload (and makes its directory entry
    /// durable, so that a synced chunk can never land in a file a crash
    /// forgets).
    pub fn create_part(&self, blob: &BlobId) -> io::Result<()> {
        let file = private_options().create_new(true).open(self.part_path(blob))?;
        file.sync_all()?;
        sync_dir(&self.dir)
    }

    /// Writes chunk bytes at `offset` of an upload, synced if `sync`; see
    /// [`write_chunk_to`].
    pub fn write_chunk(
        &self,
        blob: &BlobId,
        offset: u64,
        data: &[u8],
        sync: bool,
    ) -> io::Result<()> {
        let mut file = private_options().create(true).open(self.part_path(blob))?;
        write_chunk_to(&mut file, offset, data, sync)
    }

    /// Makes everything written to an unfinished upload's file durable.
    pub fn sync_part(&self, blob: &BlobId) -> io::Result<()> {
        private_options().open(self.part_path(blob))?.sync_data()
    }

    /// Turns a fully received upload of `size` bytes into the final blob:
    /// trims, syncs, renames and syncs the directory. Repeating it after a
    /// crash that happened after the rename succeeds.
    pub fn finish(&self, blob: &BlobId, size: u64) -> io::Result<()> {
        let part = self.part_path(blob);
        let done = self.final_path(blob);
        let file = match private_options().open(&part) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && done.exists() => {
                return sync_dir(&self.dir);
            }
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() < size {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "upload file is too short"));
        }
        file.set_len(size)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&part, &done)?;
        sync_dir(&self.dir)
    }

    /// Reads `len` bytes at `offset` of a finished blob.
    pub fn read_chunk(&self, blob: &BlobId, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(self.final_path(blob))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut data = vec![0u8; len];
        file.read_exact(&mut data)?;
        Ok(data)
    }

    /// Deletes both possible files of a blob (missing files are fine) and
    /// forgets its noted chunk count.
    pub fn remove(&self, blob: &BlobId) -> io::Result<()> {
        self.forget_received(blob);
        for path in [self.part_path(blob), self.final_path(blob)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes files that no metadata refers to: uploads whose metadata was
    /// never stored, or whose deletion was interrupted. Files that are not
    /// named like blobs are left alone. Returns how many were deleted.
    pub fn remove_orphans(&self, store: &dyn BlobStore) -> Result<usize, OrphanError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((blob, _)) = name.to_str().and_then(parse_name) else { continue };
            if store.blob(&blob)?.is_none() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

/// Why orphaned attachment files could not be cleaned up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrphanError {
    /// The directory could not be read or a file not deleted.
    #[error("attachment directory: {0}")]
    Io(#[from] io::Error),
    /// The metadata could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in memory whose writes fail after `fail_after` bytes; counts
    /// its syncs and can fail them.
    struct FlakyFile {
        data: Vec<u8>,
        fail_after: usize,
        syncs: usize,
        fail_sync: bool,
    }

    impl FlakyFile {
        fn new(data: Vec<u8>, fail_after: usize) -> Self {
            Self { data, fail_after, syncs: 0, fail_sync: false }
        }
    }

    impl ChunkFile for FlakyFile {
        fn length(&self) -> io::Result<u64> {
            Ok(self.data.len() as u64)
        }
        fn truncate_to(&mut self, len: u64) -> io::Result<()> {
            self.data.resize(len as usize, 0);
            Ok(())
        }
        fn write_all_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.data.truncate(offset as usize);
            let n = data.len().min(self.fail_after);
            self.data.extend_from_slice(&data[..n]);
            if n < data.len() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            if self.fail_sync {
                return Err(io::Error::other("fdatasync failed"));
            }
            self.syncs += 1;
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_leaves_the_file_as_it_was() {
        for sync in [false, true] {
            let mut file = FlakyFile::new(vec![1; 10], 3);
            let err = write_chunk_to(&mut file, 10, &[2; 8], sync).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            assert_eq!(file.data, vec![1; 10], "the partial write was cut off");
            // Bytes beyond the recorded length (unsynced chunks or a lost
            // metadata update before a crash) are replaced.
            let mut file = FlakyFile::new(vec![1; 14], usize::MAX);
            write_chunk_to(&mut file, 10, &[2; 4], sync).unwrap();
            assert_eq!(&file.data[10..], &[2; 4]);
            assert_eq!(file.data.len(), 14);
            // A file shorter than recorded is refused rather than padded.
            let mut file = FlakyFile::new(vec![1; 4], usize::MAX);
            assert!(write_chunk_to(&mut file, 10, &[2; 4], sync).is_err());
        }
    }

    #[test]
    fn only_a_syncing_write_syncs_and_a_failed_sync_cuts_the_chunk_off() {
        let mut file = FlakyFile::new(Vec::new(), usize::MAX);
        write_chunk_to(&mut file, 0, &[1; 4], false).unwrap();
        write_chunk_to(&mut file, 4, &[2; 4], false).unwrap();
        assert_eq!(file.syncs, 0, "chunks below the threshold stay in the page cache");
        write_chunk_to(&mut file, 8, &[3; 4], true).unwrap();
        assert_eq!(file.syncs, 1);
        assert_eq!(file.data.len(), 12);
        file.fail_sync = true;
        assert!(write_chunk_to(&mut file, 12, &[4; 4], true).is_err());
        assert_eq!(file.data.len(), 12, "the chunk whose sync failed is not kept");
    }

    #[test]
    fn files_are_private_and_finish_renames() {
        let dir = tempfile::tempdir().unwrap();
        let files = BlobFiles::open(dir.path(), 1 << 20).unwrap();
        let blob = BlobId([7; 16]);
        files.create_part(&blob).unwrap();
        files.write_chunk(&blob, 0, b"abcd", false).unwrap();
        files.set_received(&blob, 1);
        files.write_chunk(&blob, 4, b"ef", true).unwrap();
        files.set_received(&blob, 2);
        files.sync_part(&blob).unwrap();
        assert_eq!(files.received(&blob), Some(2));
        assert_eq!(files.received_blobs(), vec![blob]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(files.dir()), 0o700);
            assert_eq!(mode(&files.part_path(&blob)), 0o600);
        }
        files.finish(&blob, 6).unwrap();
        assert!(!files.part_path(&blob).exists());
        // Finishing again (a retry after a crash) succeeds.
        files.finish(&blob, 6).unwrap();
        assert_eq!(files.read_chunk(&blob, 4, 2).unwrap(), b"ef");
        assert!(files.read_chunk(&blob, 4, 3).is_err());
        files.remove(&blob).unwrap();
        assert_eq!(files.received(&blob), None, "removing forgets the noted count");
        files.remove(&blob).unwrap();
        assert!(!files.final_path(&blob).exists());
        assert_eq!(parse_name(&format!("{}.part", HEXLOWER.encode(&[7; 16]))), Some((blob, true)));
        assert_eq!(parse_name("notes.txt"), None);
    }
}
