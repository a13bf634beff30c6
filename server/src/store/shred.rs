//! Crypto-shredding of account data: the keyring that keeps raw account ids
//! out of the database and makes a deleted account's lingering records
//! unreadable.
//!
//! sled is log-structured: a removed key or overwritten value stays in old
//! segment files until they are compacted, which may be never. Deleting an
//! account's records is therefore not enough to make them unreadable. This
//! module owns the two secrets that close that gap, both stored *outside*
//! sled as small files under `<data_dir>/keys/`:
//!
//! - `keys/pepper`: 32 random bytes created once. Every database key that
//!   would name an account holds [`Keyring::blind`] instead:
//!   `HMAC-SHA256(pepper, "stadtbote/shred/blind/v1" ‖ account id)`. Without
//!   the pepper a blinded id cannot be linked to an account id.
//! - `keys/<2 hex>/<64 hex>`: one random 32-byte key per account, named by
//!   the hex of its blinded id. Values that contain the account id (or data
//!   that embeds it, such as KeyPackages, whose MLS credential is account ‖
//!   device) are sealed with XChaCha20-Poly1305 under that key, with a
//!   random 24-byte nonce and the associated data `tree name ‖ 0 ‖ record
//!   key`, so a sealed value cannot be moved to another record.
//!
//! Deleting an account deletes its key file (and fsyncs the directory), after
//! which every sealed record of the account, live or lingering in old
//! segments, is undecryptable noise. Key files are written with mode 0600 in
//! directories of mode 0700 and fsynced with their directory, so a key that a
//! stored record depends on survives a crash.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use stadtbote_protocol::{AccountId, DeviceId, GroupId};
use zeroize::Zeroizing;

use super::StoreError;

/// Length of a sealing key and of the pepper.
const KEY_LEN: usize = 32;
/// Length of an XChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Length of a sealed account id.
pub const SEALED_ID_LEN: usize = AccountId::LEN + SEAL_OVERHEAD;
/// Domain separation for blinding, so the pepper's HMAC is never reused for
/// another purpose with the same input.
const BLIND_DOMAIN: &[u8] = b"stadtbote/shred/blind/v1";
/// Domain of stored device ids ([`Keyring::device`]).
const DEVICE_DOMAIN: &[u8] = b"stadtbote/shred/device/v1";
/// Domain of stored group ids ([`Keyring::group`]).
const GROUP_DOMAIN: &[u8] = b"stadtbote/shred/group/v1";
/// Domain of the key that seals raw group ids ([`Keyring::seal_group`]).
const GROUP_SEAL_DOMAIN: &[u8] = b"stadtbote/shred/group-seal-key/v1";
/// Domain of the keyring's fingerprint ([`Keyring::fingerprint`]).
const FINGERPRINT_DOMAIN: &[u8] = b"stadtbote/cluster/key-fingerprint/v1";
/// Domain of the ids under which several nodes share a rate-limit bucket.
const LIMIT_DOMAIN: &[u8] = b"stadtbote/cluster/limit/v1";
/// Keys kept in memory. Each is one small file read on a miss; the bound
/// keeps memory flat however many accounts are active.
const CACHE_CAPACITY: usize = 4096;

/// An account id blinded with the server's pepper: what the database holds
/// instead of the account id. Not secret by itself, but without the pepper
/// it cannot be linked to an account.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blind(pub [u8; 32]);

impl Blind {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, used as the key file's name.
    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Blind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Blinded ids are pseudonyms; logs and panics never need them.
        f.write_str("Blind(..)")
    }
}

/// A per-account sealing key.
type AccountKey = Zeroizing<[u8; KEY_LEN]>;

/// The pepper and the per-account keys (see the module documentation).
pub struct Keyring {
    dir: PathBuf,
    pepper: Zeroizing<[u8; KEY_LEN]>,
    cache: Mutex<HashMap<Blind, AccountKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

fn unavailable(err: std::io::Error) -> StoreError {
    StoreError::unavailable(err)
}

/// Creates `dir` with mode 0700 if it is missing.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes a directory entry change (create, delete) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to a new file `path` (mode 0600), failing if it exists,
/// and makes file and directory entry durable.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Reads a 32-byte secret file; `None` if it does not exist.
fn read_secret(path: &Path) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unavailable(e)),
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN));
    file.read_to_end(&mut buf).map_err(unavailable)?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    if buf.len() != KEY_LEN {
        return Err(StoreError::corrupt("keys"));
    }
    out.copy_from_slice(&buf);
    Ok(Some(out))
}

fn random_secret() -> Zeroizing<[u8; KEY_LEN]> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(out.as_mut());
    out
}

/// The associated data binding a sealed value to its record.
fn associated_data(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(tree.len() + 1 + key.len());
    ad.extend_from_slice(tree.as_bytes());
    // The separator keeps ("ab", "c…") and ("a", "bc…") apart.
    ad.push(0);
    ad.extend_from_slice(key);
    ad
}

impl Keyring {
    /// Opens the keyring under `<data_dir>/keys`, creating the directory
    /// and, if `create` (a new database), the pepper.
    pub fn open(data_dir: &Path, create: bool) -> Result<Self, StoreError> {
        let dir = data_dir.join("keys");
        private_dir(&dir).map_err(unavailable)?;
        let pepper_path = dir.join("pepper");
        let pepper = match read_secret(&pepper_path)? {
            Some(pepper) => pepper,
            None if !create => {
                return Err(unavailable(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "keys/pepper is missing: the database cannot be read without it \
                     (restore it from the same backup as the database)",
                )));
            }
            None => {
                let pepper = random_secret();
                write_new(&pepper_path, pepper.as_ref()).map_err(unavailable)?;
                pepper
            }
        };
        Ok(Self { dir, pepper, cache: Mutex::new(HashMap::new()) })
    }

    /// The key of the audit log's pseudonyms:
    /// `HMAC-SHA256(pepper, PSEUDONYM_KEY_DOMAIN)`, a subkey so that the
    /// pepper itself keys only blinding.
    pub fn pseudonym_key(&self) -> Zeroizing<[u8; KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        // HMAC accepts keys of any length: the else branch is unreachable.
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.pepper.as_ref()) {
            mac.update(stadtbote_protocol::audit::PSEUDONYM_KEY_DOMAIN);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// `HMAC-SHA256(pepper, "stadtbote/cluster/key-fingerprint/v1")`: names
    /// the pepper without revealing it, so that nodes sharing one database
    /// can check that they hold the same keys (see `crate::cluster`).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.mac(FINGERPRINT_DOMAIN, &[])
    }

    /// The id of one rate-limit bucket that several nodes share: the first
    /// 16 bytes of `HMAC-SHA256(pepper, "stadtbote/cluster/limit/v1" ‖
    /// len(limit) ‖ limit ‖ id)`. A domain of its own, so that a bucket row
    /// left behind after an account's deletion matches no stored id.
    pub fn limit_key(&self, limit: &str, id: &[u8]) -> [u8; 16] {
        let len = [u8::try_from(limit.len()).unwrap_or(u8::MAX)];
        let mac = self.mac(LIMIT_DOMAIN, &[&len, limit.as_bytes(), id]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&mac[..16]);
        out
    }

    /// HMAC-SHA256(pepper, `domain` ‖ `parts`…).
    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; the
        // fallback is unreachable but keeps the code free of panics.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.pepper.as_ref()) else {
            return [0; 32];
        };
        mac.update(domain);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The id under which the database and the envelope log know a device:
    /// the first 16 bytes of `HMAC-SHA256(pepper, "stadtbote/shred/device/v1"
    /// ‖ device id)`. Device ids never reach the files unkeyed, so nothing
    /// needs erasing when an account is deleted: without the pepper a
    /// stored id cannot be checked against a candidate device id.
    pub fn device(&self, device: &DeviceId) -> DeviceId {
        let mac = self.mac(DEVICE_DOMAIN, &[device.as_bytes()]);
        let mut out = [0u8; DeviceId::LEN];
        out.copy_from_slice(&mac[..DeviceId::LEN]);
        DeviceId(out)
    }

    /// The id under which the database and the envelope log know a group
    /// (see [`Keyring::device`]): a 1:1 conversation id follows from the
    /// two account ids, so stored unkeyed it would confirm who talked.
    pub fn group(&self, group: &GroupId) -> GroupId {
        let mac = self.mac(GROUP_DOMAIN, &[group.as_bytes()]);
        let mut out = [0u8; GroupId::LEN];
        out.copy_from_slice(&mac[..GroupId::LEN]);
        GroupId(out)
    }

    /// The key that seals raw group ids (for account export).
    fn group_seal_key(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.mac(GROUP_SEAL_DOMAIN, &[]))
    }

    /// Seals a raw group id for the record `key` of `tree` under a key
    /// derived from the pepper: nonce ‖ ciphertext ‖ tag.
    pub fn seal_group(
        &self,
        group: &GroupId,
        tree: &str,
        key: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let seal_key = self.group_seal_key();
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(seal_key.as_ref()));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ad = associated_data(tree, key);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: group.as_bytes(), aad: &ad })
            .map_err(|_| StoreError::corrupt("keys"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a group id sealed by [`Keyring::seal_group`] and checks that it
    /// keys to `stored`.
    pub fn open_group(
        &self,
        stored: &GroupId,
        sealed: &[u8],
        tree: &'static str,
        key: &[u8],
    ) -> Result<GroupId, StoreError> {
        let seal_key = self.group_seal_key();
        let (nonce, ciphertext) =
            sealed.split_at_checked(NONCE_LEN).ok_or(StoreError::corrupt(tree))?;
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(seal_key.as_ref()));
        let ad = associated_data(tree, key);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &ad })
            .map_err(|_| StoreError::corrupt(tree))?;
        let group = GroupId::from_slice(&plain).map_err(|_| StoreError::corrupt(tree))?;
        if self.group(&group) != *stored {
            return Err(StoreError::corrupt(tree));
        }
        Ok(group)
    }

    /// The account's blinded id.
    pub fn blind(&self, account: &AccountId) -> Blind {
        // HMAC accepts keys of any length, so this cannot fail; the
        // fallback is unreachable but keeps the code free of panics.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.pepper.as_ref()) else {
            return Blind([0; 32]);
        };
        mac.update(BLIND_DOMAIN);
        mac.update(account.as_bytes());
        Blind(mac.finalize().into_bytes().into())
    }

    fn path(&self, blind: &Blind) -> (PathBuf, PathBuf) {
        let hex = blind.hex();
        let sub = self.dir.join(&hex[..2]);
        let file = sub.join(&hex);
        (sub, file)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Blind, AccountKey>> {
        // The cache only mirrors files; a panic elsewhere cannot leave it
        // inconsistent in a way that matters, so a poisoned lock is reused.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, blind: Blind, key: &AccountKey) {
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY
            && let Some(evict) = cache.keys().next().copied()
        {
            cache.remove(&evict);
        }
        cache.insert(blind, key.clone());
    }

    /// Creates the account's key durably, unless it exists.
    pub fn create_key(&self, blind: &Blind) -> Result<(), StoreError> {
        if self.key(blind)?.is_some() {
            return Ok(());
        }
        let (sub, file) = self.path(blind);
        private_dir(&sub).map_err(unavailable)?;
        sync_dir(&self.dir).map_err(unavailable)?;
        let key = random_secret();
        match write_new(&file, key.as_ref()) {
            Ok(()) => {}
            // Created concurrently: use the one on disk.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        }
        self.remember(*blind, &key);
        Ok(())
    }

    /// The account's key, or `None` if it was never created or destroyed.
    fn key(&self, blind: &Blind) -> Result<Option<AccountKey>, StoreError> {
        if let Some(key) = self.cache().get(blind) {
            return Ok(Some(key.clone()));
        }
        let (_, file) = self.path(blind);
        let key = read_secret(&file)?;
        if let Some(key) = &key {
            self.remember(*blind, key);
        }
        Ok(key)
    }

    /// Whether the account's key exists.
    pub fn has_key(&self, blind: &Blind) -> Result<bool, StoreError> {
        Ok(self.key(blind)?.is_some())
    }

    /// Destroys the account's key durably (file removed, directory synced).
    /// Every value sealed with it becomes unreadable.
    pub fn destroy_key(&self, blind: &Blind) -> Result<(), StoreError> {
        self.cache().remove(blind);
        let (sub, file) = self.path(blind);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        }
        sync_dir(&sub).map_err(unavailable)
    }

    /// Seals `plaintext` for the record `key` of `tree` with the account's
    /// key: nonce ‖ ciphertext ‖ tag. [`StoreError::UnknownAccount`] if the
    /// account has no key (never created or deleted).
    pub fn seal(
        &self,
        blind: &Blind,
        tree: &str,
        key: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let account_key = self.key(blind)?.ok_or(StoreError::UnknownAccount)?;
        let cipher =
            XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(account_key.as_ref()));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ad = associated_data(tree, key);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &ad })
            .map_err(|_| StoreError::corrupt("keys"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed by [`Keyring::seal`] for the same record.
    /// `Ok(None)` when the account's key is gone (a deleted account's
    /// record); [`StorageError::Corrupt`](super::StorageError::Corrupt) naming `tree` when the value does not
    /// authenticate.
    pub fn open_sealed(
        &self,
        blind: &Blind,
        tree: &'static str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(account_key) = self.key(blind)? else { return Ok(None) };
        let (nonce, ciphertext) =
            sealed.split_at_checked(NONCE_LEN).ok_or(StoreError::corrupt(tree))?;
        let cipher =
            XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(account_key.as_ref()));
        let ad = associated_data(tree, key);
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &ad })
            .map(|plain| Some(Zeroizing::new(plain)))
            .map_err(|_| StoreError::corrupt(tree))
    }

    /// Seals an account id for the record `key` of `tree`.
    pub fn seal_account(
        &self,
        account: &AccountId,
        tree: &str,
        key: &[u8],
    ) -> Result<(Blind, [u8; SEALED_ID_LEN]), StoreError> {
        let blind = self.blind(account);
        let sealed = self.seal(&blind, tree, key, account.as_bytes())?;
        let sealed = <[u8; SEALED_ID_LEN]>::try_from(sealed.as_slice())
            .map_err(|_| StoreError::corrupt("keys"))?;
        Ok((blind, sealed))
    }

    /// Opens an account id sealed by [`Keyring::seal_account`] and checks
    /// that it blinds to `blind`. `Ok(None)` when the account was deleted.
    pub fn open_account(
        &self,
        blind: &Blind,
        sealed: &[u8; SEALED_ID_LEN],
        tree: &'static str,
        key: &[u8],
    ) -> Result<Option<AccountId>, StoreError> {
        let Some(plain) = self.open_sealed(blind, tree, key, sealed)? else { return Ok(None) };
        let account = AccountId::from_slice(&plain).map_err(|_| StoreError::corrupt(tree))?;
        if self.blind(&account) != *blind {
            return Err(StoreError::corrupt(tree));
        }
        Ok(Some(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_shred() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path(), true).unwrap();
        let account = AccountId::random();
        let blind = ring.blind(&account);
        // Without a key nothing can be sealed.
        assert!(matches!(
            ring.seal_account(&account, "devices", b"k"),
            Err(StoreError::UnknownAccount)
        ));
        ring.create_key(&blind).unwrap();
        let (b, sealed) = ring.seal_account(&account, "devices", b"k").unwrap();
        assert_eq!(b, blind);
        assert!(!sealed.windows(16).any(|w| w == account.as_bytes()));
        assert_eq!(ring.open_account(&blind, &sealed, "devices", b"k").unwrap(), Some(account));
        // Bound to its record: another key or tree does not open it.
        assert!(ring.open_account(&blind, &sealed, "devices", b"x").is_err());
        assert!(ring.open_account(&blind, &sealed, "blobs", b"k").is_err());
        // Shredded: the key file is gone and the value is unreadable.
        ring.destroy_key(&blind).unwrap();
        assert_eq!(ring.open_account(&blind, &sealed, "devices", b"k").unwrap(), None);
        assert!(!ring.has_key(&blind).unwrap());
        // A reopened keyring has no cached copy either.
        let again = Keyring::open(dir.path(), true).unwrap();
        assert_eq!(again.open_account(&blind, &sealed, "devices", b"k").unwrap(), None);
    }

    #[test]
    fn stored_ids_are_keyed_with_the_pepper() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("pepper"), [7u8; 32]).unwrap();
        let ring = Keyring::open(dir.path(), false).unwrap();
        // Test vectors of docs/PROTOCOL.md (10c).
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(ring.device(&DeviceId([1; 16])).as_bytes()),
            "826ce39d0da816a6185d02ce5c0dc078"
        );
        assert_eq!(
            hex(ring.group(&GroupId([1; 16])).as_bytes()),
            "2092fce35dcb71048e9bf6b826527c84"
        );
        assert_eq!(
            hex(ring.pseudonym_key().as_ref()),
            "bfa3ea7740795c5972aa59a212aaf0d4494053f1861b1cdcc725994466f87b9b"
        );
        // Devices and groups of the same bytes are told apart.
        assert_ne!(ring.device(&DeviceId([1; 16])).0, ring.group(&GroupId([1; 16])).0);
        // A sealed group id opens only for its record and its stored id.
        let group = GroupId::random();
        let stored = ring.group(&group);
        let sealed = ring.seal_group(&group, "group_ids", stored.as_bytes()).unwrap();
        assert!(!sealed.windows(16).any(|w| w == group.as_bytes()));
        assert_eq!(
            ring.open_group(&stored, &sealed, "group_ids", stored.as_bytes()).unwrap(),
            group
        );
        assert!(ring.open_group(&stored, &sealed, "group_ids", b"other").is_err());
        assert!(
            ring.open_group(
                &ring.group(&GroupId::random()),
                &sealed,
                "group_ids",
                stored.as_bytes()
            )
            .is_err()
        );
    }

    #[test]
    fn blinding_is_stable_per_pepper_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let account = AccountId::random();
        let first = Keyring::open(dir.path(), true).unwrap().blind(&account);
        let ring = Keyring::open(dir.path(), true).unwrap();
        assert_eq!(ring.blind(&account), first);
        assert_ne!(ring.blind(&AccountId::random()), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(Keyring::open(other.path(), true).unwrap().blind(&account), first);
        ring.create_key(&first).unwrap();
        let (sub, file) = ring.path(&first);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        assert_eq!(mode(&dir.path().join("keys/pepper")), 0o600);
    }
}
