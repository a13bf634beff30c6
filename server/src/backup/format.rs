//! The backup file format, version 1 (described byte by byte in
//! docs/OPERATIONS.md, "Backup file format"): writing ([`BackupWriter`]) and
//! reading with integrity and bounds checks ([`read_backup`]).
//!
//! All integers are big-endian. Every length read from a file is checked
//! against a fixed limit before anything is allocated, so a corrupted or
//! hostile file ends in a [`BackupError`], never in a panic or a huge
//! allocation. File contents are streamed, never held in memory.

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::BackupError;

/// First bytes of every (unencrypted) backup.
pub const MAGIC: &[u8; 16] = b"STADTBOTE-BACKUP";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;

/// Record tags.
const TAG_MANIFEST: u8 = b'M';
const TAG_TREE: u8 = b'T';
const TAG_ENTRY: u8 = b'E';
const TAG_FILE: u8 = b'F';
const TAG_END: u8 = b'Z';

/// Longest manifest body.
pub const MAX_MANIFEST_BYTES: u32 = 4096;
/// Longest server version string in the manifest.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest tree name.
pub const MAX_TREE_NAME_BYTES: u16 = 512;
/// Longest key.
pub const MAX_KEY_BYTES: u32 = 64 * 1024;
/// Longest value (sled values here are records and signed objects, far
/// below this).
pub const MAX_VALUE_BYTES: u32 = 16 * 1024 * 1024;
/// Longest relative file path.
pub const MAX_PATH_BYTES: u16 = 4096;
/// Largest file (the attachment limit's ceiling).
pub const MAX_FILE_BYTES: u64 = 1 << 40;

/// Size of the copy buffer for file contents.
const COPY_BUFFER: usize = 64 * 1024;

/// What a backup holds, as counted by the writer and checked by the reader.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    /// When the backup was taken, Unix milliseconds.
    pub created_at_ms: u64,
    /// The `stadtbote-server` version that wrote it.
    pub server_version: String,
    /// Trees.
    pub trees: u32,
    /// Entries over all trees.
    pub entries: u64,
    /// Files.
    pub files: u64,
    /// Bytes over all files.
    pub file_bytes: u64,
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let version = self.server_version.as_bytes();
        let version = &version[..version.len().min(MAX_VERSION_BYTES)];
        let mut body = Vec::with_capacity(38 + version.len());
        body.extend_from_slice(&self.created_at_ms.to_be_bytes());
        body.extend_from_slice(&self.trees.to_be_bytes());
        body.extend_from_slice(&self.entries.to_be_bytes());
        body.extend_from_slice(&self.files.to_be_bytes());
        body.extend_from_slice(&self.file_bytes.to_be_bytes());
        // At most MAX_VERSION_BYTES, so the cast cannot truncate.
        body.extend_from_slice(&(version.len() as u16).to_be_bytes());
        body.extend_from_slice(version);
        body
    }

    fn decode(body: &[u8]) -> Result<Self, BackupError> {
        let mut r = body;
        let created_at_ms = read_u64(&mut r)?;
        let trees = read_u32(&mut r)?;
        let entries = read_u64(&mut r)?;
        let files = read_u64(&mut r)?;
        let file_bytes = read_u64(&mut r)?;
        let len = usize::from(read_u16(&mut r)?);
        if len > MAX_VERSION_BYTES || r.len() != len {
            return Err(BackupError::Corrupt("manifest version field"));
        }
        let server_version = std::str::from_utf8(r)
            .map_err(|_| BackupError::Corrupt("manifest version is not UTF-8"))?
            .to_owned();
        Ok(Self { created_at_ms, server_version, trees, entries, files, file_bytes })
    }
}

/// Writes a backup body (everything but the trailer) into a seekable file;
/// [`BackupWriter::finish`] patches the manifest's counts and appends the
/// checksummed trailer.
pub struct BackupWriter<W: Write + Read + Seek> {
    out: io::BufWriter<W>,
    manifest: Manifest,
    manifest_at: u64,
}

impl<W: Write + Read + Seek> BackupWriter<W> {
    /// Writes the header and a placeholder manifest.
    pub fn new(out: W, created_at_ms: u64, server_version: &str) -> io::Result<Self> {
        let mut out = io::BufWriter::new(out);
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_be_bytes())?;
        let manifest_at = (MAGIC.len() + 2) as u64;
        let manifest = Manifest {
            created_at_ms,
            server_version: server_version.to_owned(),
            ..Manifest::default()
        };
        let body = manifest.encode();
        out.write_all(&[TAG_MANIFEST])?;
        out.write_all(&len_u32(body.len())?.to_be_bytes())?;
        out.write_all(&body)?;
        Ok(Self { out, manifest, manifest_at })
    }

    /// Starts a tree.
    pub fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        if name.is_empty() || name.len() > usize::from(MAX_TREE_NAME_BYTES) {
            return Err(too_long("tree name"));
        }
        self.out.write_all(&[TAG_TREE])?;
        self.out.write_all(&(name.len() as u16).to_be_bytes())?;
        self.out.write_all(name)?;
        self.manifest.trees = self.manifest.trees.saturating_add(1);
        Ok(())
    }

    /// One entry of the current tree.
    pub fn entry(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if key.len() > MAX_KEY_BYTES as usize {
            return Err(too_long("key"));
        }
        if value.len() > MAX_VALUE_BYTES as usize {
            return Err(too_long("value"));
        }
        self.out.write_all(&[TAG_ENTRY])?;
        self.out.write_all(&len_u32(key.len())?.to_be_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(&len_u32(value.len())?.to_be_bytes())?;
        self.out.write_all(value)?;
        self.manifest.entries = self.manifest.entries.saturating_add(1);
        Ok(())
    }

    /// One file: `path` relative to the data directory with `/` separators,
    /// and exactly `size` bytes from `content`.
    pub fn file(&mut self, path: &str, size: u64, content: &mut dyn Read) -> io::Result<()> {
        check_path(path).map_err(|_| too_long("file path"))?;
        if size > MAX_FILE_BYTES {
            return Err(too_long("file"));
        }
        self.out.write_all(&[TAG_FILE])?;
        self.out.write_all(&(path.len() as u16).to_be_bytes())?;
        self.out.write_all(path.as_bytes())?;
        self.out.write_all(&size.to_be_bytes())?;
        let copied = io::copy(&mut content.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank during backup"));
        }
        self.manifest.files = self.manifest.files.saturating_add(1);
        self.manifest.file_bytes = self.manifest.file_bytes.saturating_add(size);
        Ok(())
    }

    /// Patches the manifest, hashes everything written and appends the
    /// trailer; returns the manifest and the underlying file, synced.
    pub fn finish(self) -> io::Result<(Manifest, W)> {
        let Self { out, manifest, manifest_at } = self;
        let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        // Same version string, so the manifest keeps its length.
        file.seek(SeekFrom::Start(manifest_at + 5))?;
        file.write_all(&manifest.encode())?;
        file.seek(SeekFrom::Start(0))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_BUFFER];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hasher.update([TAG_END]);
        let digest = hasher.finalize();
        file.seek(SeekFrom::End(0))?;
        file.write_all(&[TAG_END])?;
        file.write_all(&digest)?;
        file.flush()?;
        Ok((manifest, file))
    }
}

impl<W: Write + Read + Seek> crate::store::TreeVisitor for BackupWriter<W> {
    fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        BackupWriter::tree(self, name)
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        BackupWriter::entry(self, key, value)
    }
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| too_long("record"))
}

fn too_long(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} too long for the backup format"))
}

/// Checks a relative path from a file record: UTF-8, `/`-separated, no
/// empty, `.` or `..` components, not absolute, no NUL or backslash.
pub fn check_path(path: &str) -> Result<(), BackupError> {
    if path.is_empty()
        || path.len() > usize::from(MAX_PATH_BYTES)
        || path.starts_with('/')
        || path.contains('\0')
        || path.contains('\\')
        || path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(BackupError::Corrupt("unsafe file path"));
    }
    Ok(())
}

/// What [`read_backup`] hands on while it reads.
pub trait BackupVisitor {
    /// The manifest (first).
    fn manifest(&mut self, manifest: &Manifest) -> Result<(), BackupError>;
    /// A tree starts.
    fn tree(&mut self, name: &[u8]) -> Result<(), BackupError>;
    /// An entry of the current tree.
    fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), BackupError>;
    /// A file starts; its bytes follow through [`BackupVisitor::file_data`].
    fn file_start(&mut self, path: &str, size: u64) -> Result<(), BackupError>;
    /// Bytes of the current file, in order.
    fn file_data(&mut self, data: &[u8]) -> Result<(), BackupError>;
    /// The current file is complete.
    fn file_end(&mut self) -> Result<(), BackupError>;
}

/// A reader that hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(eof_is_truncated)?;
        self.hasher.update(&*buf);
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, BackupError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u16(&mut self) -> Result<u16, BackupError> {
        let mut b = [0u8; 2];
        self.exact(&mut b)?;
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, BackupError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    /// Reads `len` bytes into `buf` (reused between records).
    fn bytes(&mut self, buf: &mut Vec<u8>, len: usize) -> Result<(), BackupError> {
        buf.clear();
        buf.resize(len, 0);
        self.exact(buf)
    }
}

fn eof_is_truncated(e: io::Error) -> BackupError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        BackupError::Truncated
    } else {
        BackupError::Io(e)
    }
}

/// Reads a whole (decrypted) backup from `input`, checking every bound, the
/// manifest's counts and the trailer's SHA-256, and hands the content to
/// `visitor`. The visitor sees data before the checksum is known to match,
/// so a restore must first verify (with a visitor that writes nothing) and
/// only then write.
pub fn read_backup(
    input: impl Read,
    visitor: &mut dyn BackupVisitor,
) -> Result<Manifest, BackupError> {
    let mut r = Hashing { inner: input, hasher: Sha256::new() };
    let mut magic = [0u8; 16];
    r.exact(&mut magic).map_err(|e| match e {
        BackupError::Truncated => BackupError::NotABackup,
        e => e,
    })?;
    if &magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(BackupError::UnsupportedVersion(version));
    }
    if r.u8()? != TAG_MANIFEST {
        return Err(BackupError::Corrupt("the manifest must come first"));
    }
    let len = r.u32()?;
    if len > MAX_MANIFEST_BYTES {
        return Err(BackupError::Corrupt("manifest too long"));
    }
    let mut buf = Vec::new();
    r.bytes(&mut buf, len as usize)?;
    let manifest = Manifest::decode(&buf)?;
    visitor.manifest(&manifest)?;

    let mut seen = Manifest { created_at_ms: manifest.created_at_ms, ..Manifest::default() };
    let mut in_tree = false;
    let mut value = Vec::new();
    let mut chunk = vec![0u8; COPY_BUFFER];
    loop {
        match r.u8()? {
            TAG_TREE => {
                let len = r.u16()?;
                if len == 0 || len > MAX_TREE_NAME_BYTES {
                    return Err(BackupError::Corrupt("tree name length"));
                }
                r.bytes(&mut buf, usize::from(len))?;
                visitor.tree(&buf)?;
                in_tree = true;
                seen.trees = seen.trees.saturating_add(1);
            }
            TAG_ENTRY => {
                if !in_tree {
                    return Err(BackupError::Corrupt("entry outside a tree"));
                }
                let len = r.u32()?;
                if len > MAX_KEY_BYTES {
                    return Err(BackupError::Corrupt("key length"));
                }
                r.bytes(&mut buf, len as usize)?;
                let len = r.u32()?;
                if len > MAX_VALUE_BYTES {
                    return Err(BackupError::Corrupt("value length"));
                }
                r.bytes(&mut value, len as usize)?;
                visitor.entry(&buf, &value)?;
                seen.entries = seen.entries.saturating_add(1);
            }
            TAG_FILE => {
                let len = r.u16()?;
                if len == 0 || len > MAX_PATH_BYTES {
                    return Err(BackupError::Corrupt("file path length"));
                }
                r.bytes(&mut buf, usize::from(len))?;
                let path = std::str::from_utf8(&buf)
                    .map_err(|_| BackupError::Corrupt("file path is not UTF-8"))?;
                check_path(path)?;
                let size = r.u64()?;
                if size > MAX_FILE_BYTES {
                    return Err(BackupError::Corrupt("file size"));
                }
                visitor.file_start(path, size)?;
                let mut left = size;
                while left > 0 {
                    let n = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
                    r.exact(&mut chunk[..n])?;
                    visitor.file_data(&chunk[..n])?;
                    left -= n as u64;
                }
                visitor.file_end()?;
                seen.files = seen.files.saturating_add(1);
                seen.file_bytes = seen.file_bytes.saturating_add(size);
            }
            TAG_END => break,
            _ => return Err(BackupError::Corrupt("unknown record tag")),
        }
    }
    let expected = r.hasher.clone().finalize();
    let mut stored = [0u8; 32];
    r.inner.read_exact(&mut stored).map_err(eof_is_truncated)?;
    if stored[..] != expected[..] {
        return Err(BackupError::ChecksumMismatch);
    }
    // Nothing may follow the trailer.
    let mut extra = [0u8; 1];
    match r.inner.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => return Err(BackupError::Corrupt("bytes after the trailer")),
        Err(e) => return Err(BackupError::Io(e)),
    }
    seen.server_version.clone_from(&manifest.server_version);
    if seen != manifest {
        return Err(BackupError::Corrupt("counts differ from the manifest"));
    }
    Ok(manifest)
}

fn read_u16(r: &mut &[u8]) -> Result<u16, BackupError> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b).map_err(|_| BackupError::Corrupt("manifest too short"))?;
    Ok(u16::from_be_bytes(b))
}

fn read_u32(r: &mut &[u8]) -> Result<u32, BackupError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|_| BackupError::Corrupt("manifest too short"))?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut &[u8]) -> Result<u64, BackupError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|_| BackupError::Corrupt("manifest too short"))?;
    Ok(u64::from_be_bytes(b))
}
