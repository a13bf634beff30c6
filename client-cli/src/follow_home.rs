//! The CLI's [`Follower`]: the core's account-less follower
//! ([`stadtbote_client::follow`]) over a [`FileStorage`] of its own under
//! `<home>/follows/`, with the CLI's connection, clock and error messages.
//!
//! The follows live apart from the device's store (`<home>/store/`): a home
//! follows without an account, `init` clears a leftover device store and
//! `account delete` removes it whole, and neither may take the follows
//! with it.
//!
//! **Migration.** Homes from before kept the follows in `follows.cbor`.
//! The first open imports it into the store in one durable commit; only
//! after that commit is the old file removed (and the directory synced).
//! A crash in between leaves both, and the next open, finding follows in
//! the store, removes the old file without reading it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use stadtbote_client::clock::Clock;
use stadtbote_client::follow::{self as core, FollowError};
use stadtbote_client::storage::{HolderId, StorageError};
use stadtbote_protocol::channel::ChannelInvite;
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org_rotation::OrgKeys;
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};
use std::collections::BTreeMap;

use crate::channels::{Follow, FollowsFile};
use crate::clock::SystemClock;
use crate::connection::Connection;
use crate::error::{CliError, ClientError};
use crate::file_storage::FileStorage;
use crate::home::{Home, IDENTITY_FILE};
use crate::home_store::{DeviceStore, Loaded};
use crate::pinning::OrgPin;

pub use stadtbote_client::follow::FeedLine;

/// The follows file of homes from before the store (imported, then removed).
pub const FOLLOWS_FILE: &str = "follows.cbor";
/// The follower's store in the home.
pub const FOLLOWS_DIR: &str = "follows";

/// Runs a [`FileStorage`] future to its end (they are ready at once: the
/// file work happens when first polled).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The CLI's message (and exit code) for a follower error; `home` names
/// the place of stored follows.
pub fn follow_error(home: &Path, error: FollowError) -> CliError {
    let dir = home.join(FOLLOWS_DIR);
    let core = match error {
        FollowError::Connection(e) => ClientError::Connection(e),
        FollowError::Storage(e) => return storage_error(home, e),
        FollowError::Corrupt { reason } => return CliError::CorruptFile { file: dir, reason },
        FollowError::NewerFormat { found } => {
            return CliError::CorruptFile {
                file: dir,
                reason: format!(
                    "unknown format version {found} (written by a newer stadtbote; update this one)"
                ),
            };
        }
        FollowError::UnknownChannel(c) => ClientError::UnknownChannel(c),
        FollowError::UnknownOrg { handle } => ClientError::UnknownOrg { handle },
        FollowError::OrgNotSetUp { handle } => ClientError::OrgNotSetUp { handle },
        FollowError::OrgKeyChanged { handle, pinned, presented } => {
            ClientError::OrgKeyChanged { handle, pinned, presented }
        }
        FollowError::InvalidOrgData { handle, reason } => {
            ClientError::InvalidOrgData { handle, reason }
        }
        FollowError::RevocationListWithheld { handle, pinned, presented } => {
            ClientError::RevocationListWithheld { handle, pinned, presented }
        }
        FollowError::StaffListRolledBack { handle, seen, offered } => {
            ClientError::StaffListRolledBack { handle, seen, offered }
        }
        FollowError::ChannelData { what, source } => ClientError::ChannelData { what, source },
        FollowError::OutdatedInvite => ClientError::OutdatedInvite,
        FollowError::Photo { reason } => ClientError::AttachmentCorrupt { reason },
        other => return CliError::CorruptFile { file: dir, reason: other.to_string() },
    };
    CliError::Core(core)
}

fn storage_error(home: &Path, error: StorageError) -> CliError {
    let dir = home.join(FOLLOWS_DIR);
    match error {
        StorageError::Corrupt { what } => CliError::CorruptFile { file: dir, reason: what },
        StorageError::LeaseLost | StorageError::LeaseHeld { .. } => {
            CliError::Locked { home: home.to_path_buf() }
        }
        StorageError::NoSpace => CliError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        },
        other => CliError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The follows of a home, read without its lock (a snapshot; for
/// `reply-to`, whose client holds the lock).
pub fn read_follows(home: &Home) -> Result<FollowsFile, CliError> {
    let dir = home.path(FOLLOWS_DIR);
    if dir.exists() {
        let storage = FileStorage::open(&dir).map_err(|e| storage_error(home.dir(), e))?;
        if let Some(file) =
            ready(core::store::load(&storage)).map_err(|e| follow_error(home.dir(), e))?
        {
            return Ok(file);
        }
    }
    if home.exists(FOLLOWS_FILE) {
        let bytes = home.read_bytes(FOLLOWS_FILE)?;
        return core::store::decode(&bytes).map_err(|e| match e {
            FollowError::NewerFormat { .. } | FollowError::Corrupt { .. } => {
                match follow_error(home.dir(), e) {
                    CliError::CorruptFile { reason, .. } => {
                        CliError::CorruptFile { file: home.path(FOLLOWS_FILE), reason }
                    }
                    other => other,
                }
            }
            other => follow_error(home.dir(), other),
        });
    }
    Ok(FollowsFile::default())
}

/// A home used for following (with or without an account).
#[derive(Debug)]
pub struct Follower<C = SystemClock> {
    home: Home,
    server_url: String,
    core: core::Follower<FileStorage, C>,
}

impl Follower<SystemClock> {
    /// Opens (creating if needed) a home for following; no identity needed.
    /// Timed by the system clock.
    pub fn open(dir: impl AsRef<Path>, server_url: &str) -> Result<Follower, CliError> {
        Follower::open_with_clock(dir, server_url, SystemClock)
    }
}

impl<C: Clock + Clone> Follower<C> {
    /// Opens (creating if needed) a home for following, timed by `clock`;
    /// imports an old home's `follows.cbor` (see the module docs).
    pub fn open_with_clock(
        dir: impl AsRef<Path>,
        server_url: &str,
        clock: C,
    ) -> Result<Follower<C>, CliError> {
        let home = Home::open_or_create(dir.as_ref())?;
        let err = |e| follow_error(home.dir(), e);
        let storage =
            FileStorage::open(&home.path(FOLLOWS_DIR)).map_err(|e| storage_error(home.dir(), e))?;
        let holder = HolderId::new(format!("stadtbote pid {}", std::process::id()))
            .map_err(|e| storage_error(home.dir(), e))?;
        let mut core = ready(core::Follower::open(storage, holder, clock)).map_err(err)?;
        if home.exists(FOLLOWS_FILE) {
            let bytes = home.read_bytes(FOLLOWS_FILE)?;
            let imported = ready(core.import_legacy(&bytes));
            match imported {
                Ok(_) => {}
                Err(e @ (FollowError::NewerFormat { .. } | FollowError::Corrupt { .. })) => {
                    let reason = match follow_error(home.dir(), e) {
                        CliError::CorruptFile { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    return Err(CliError::CorruptFile { file: home.path(FOLLOWS_FILE), reason });
                }
                Err(e) => return Err(err(e)),
            }
            // The follows are in the store (committed durably above, or by
            // an earlier open): the old file goes.
            home.remove_file(FOLLOWS_FILE)?;
            home.remove_file(&format!("{FOLLOWS_FILE}.tmp"))?;
            if let Ok(d) = std::fs::File::open(home.dir()) {
                d.sync_all().map_err(|source| CliError::Io {
                    action: "sync",
                    file: home.dir().to_path_buf(),
                    source,
                })?;
            }
        }
        Ok(Follower { home, server_url: server_url.to_string(), core })
    }

    fn err(&self, e: FollowError) -> CliError {
        follow_error(self.home.dir(), e)
    }

    /// The follows, by channel.
    pub fn follows(&self) -> &BTreeMap<ChannelId, Follow> {
        self.core.follows()
    }

    /// Where the follows are stored.
    pub fn store_dir(&self) -> PathBuf {
        self.home.path(FOLLOWS_DIR)
    }

    /// Connects without logging in.
    pub async fn connect(&self) -> Result<Connection<C>, CliError> {
        Ok(Connection::connect_with(&self.server_url, self.core_clock()).await?.0)
    }

    fn core_clock(&self) -> C {
        self.core.clock().clone()
    }

    /// Follows the channel of an invite link (again, with a newer key, after
    /// a rotation: the cursor is kept). An initialised home also pins the
    /// org key in its device state (trust on first use).
    pub async fn follow(&mut self, link: &str) -> Result<Follow, CliError> {
        let invite = crate::app_links::channel_invite(link)?;
        let mut conn = self.connect().await?;
        let prepared = self.core.prepare_follow(conn.core_mut(), &invite).await;
        conn.close().await;
        let prepared = prepared.map_err(|e| self.err(e))?;
        self.pin(prepared.invite(), &prepared.org_keys)?;
        let follow = self.core.commit_follow(prepared).await.map_err(|e| self.err(e))?;
        Ok(follow)
    }

    /// Pins the invite's org key in an initialised home (trust on first
    /// use, like fetching the directory would); refuses an invite whose org
    /// key contradicts the pin (a key of the org's rotation chain `keys`,
    /// as is the pin, does not).
    fn pin(&self, invite: &ChannelInvite, keys: &OrgKeys) -> Result<(), CliError> {
        if !self.home.exists(IDENTITY_FILE) {
            return Ok(());
        }
        let secret = self.home.read_identity()?;
        let Loaded { mut store, mut state, seen, mls } = DeviceStore::open(&self.home, &secret)?;
        match state.pins.get(&invite.handle) {
            Some(pin)
                if pin.org != invite.org
                    || (pin.key != invite.org_key
                        && !(keys.contains(&pin.key) && keys.contains(&invite.org_key))) =>
            {
                Err(CliError::Core(ClientError::OrgKeyChanged {
                    handle: invite.handle.clone(),
                    pinned: pin.key.fingerprint(),
                    presented: invite.org_key.fingerprint(),
                }))
            }
            Some(_) => Ok(()),
            None => {
                state.pins.insert(
                    invite.handle.clone(),
                    OrgPin {
                        org: invite.org,
                        handle: invite.handle.clone(),
                        key: invite.org_key,
                        verified: false,
                        pinned_at: self.core.clock().now_ms(),
                        conflicting_key: None,
                        directory: None,
                    },
                );
                let now = self.core.clock().now_ms();
                Ok(ready(store.save_at(&state, &seen, &mls, false, now))?)
            }
        }
    }

    /// Stops following.
    pub fn unfollow(&mut self, text: &str) -> Result<Follow, CliError> {
        ready(self.core.unfollow(text)).map_err(|e| self.err(e))
    }

    /// Resolves a followed channel by id or prefix.
    pub fn resolve(&self, text: &str) -> Result<ChannelId, CliError> {
        self.core.resolve(text).map_err(|e| self.err(e))
    }

    /// The revoked devices of the followed orgs (see
    /// [`core::Follower::revocations`]).
    pub async fn revocations(
        &mut self,
        conn: &mut Connection<C>,
        channels: &[ChannelId],
    ) -> Result<BTreeMap<OrgId, Vec<DeviceId>>, CliError> {
        let result = self.core.revocations(conn.core_mut(), channels).await;
        result.map_err(|e| self.err(e))
    }

    /// Fetches and verifies everything after the cursor of `channel`.
    pub async fn catch_up(
        &mut self,
        conn: &mut Connection<C>,
        channel: ChannelId,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, CliError> {
        let result = self.core.catch_up(conn.core_mut(), channel, revoked).await;
        result.map_err(|e| self.err(e))
    }

    /// Applies one pushed post; on a gap, fetches the missing range first.
    pub async fn on_push(
        &mut self,
        conn: &mut Connection<C>,
        channel: ChannelId,
        post: ChannelPostRecord,
        revoked: &[DeviceId],
    ) -> Result<Vec<FeedLine>, CliError> {
        let result = self.core.on_push(conn.core_mut(), channel, post, revoked).await;
        result.map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_bytes::ByteBuf;
    use stadtbote_client::follow::Cursor;
    use stadtbote_client::follow::FOLLOWS_VERSION;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::auth::IdentityKey;
    use stadtbote_protocol::channel::Replies;

    fn follows_with(name: &str, last_seq: u64) -> FollowsFile {
        let channel = ChannelId([4; 16]);
        let follow = Follow {
            channel,
            org: OrgId([1; 16]),
            handle: "goslar".into(),
            org_key: DeviceSecret::generate().identity_key(),
            keys: BTreeMap::from([(0, ByteBuf::from(vec![7; 32]))]),
            name: name.into(),
            replies: Replies::Off,
            reply_department: None,
            cursor: Cursor { last_seq, last_hash: None, last_posted_at: None },
            followed_at: 5,
            retention_days: Some(30),
            created_at: Some(1),
            meta_version: 1,
        };
        FollowsFile { follows: BTreeMap::from([(channel, follow)]), ..FollowsFile::default() }
    }

    #[test]
    fn an_old_homes_follows_file_is_imported_once_and_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let home = Home::open_or_create(dir.path()).unwrap();
            home.write_cbor(FOLLOWS_FILE, &follows_with("Amtsblatt", 3)).unwrap();
        }
        let follower = Follower::open(dir.path(), "ws://127.0.0.1:1").unwrap();
        assert_eq!(follower.follows().values().next().unwrap().name, "Amtsblatt");
        assert!(!dir.path().join(FOLLOWS_FILE).exists(), "the old file goes after the commit");
        assert!(dir.path().join(FOLLOWS_DIR).is_dir());
        drop(follower);
        // Reopened from the store alone.
        let follower = Follower::open(dir.path(), "ws://127.0.0.1:1").unwrap();
        assert_eq!(follower.follows().values().next().unwrap().cursor.last_seq, 3);
    }

    #[test]
    fn an_old_file_left_beside_imported_follows_is_removed_unread() {
        let dir = tempfile::tempdir().unwrap();
        {
            let home = Home::open_or_create(dir.path()).unwrap();
            home.write_cbor(FOLLOWS_FILE, &follows_with("Amtsblatt", 3)).unwrap();
        }
        drop(Follower::open(dir.path(), "ws://127.0.0.1:1").unwrap());
        // A crash after the import's commit, before the removal: the old
        // file (here an older state of it) is back beside the store.
        {
            let home = Home::open_or_create(dir.path()).unwrap();
            home.write_cbor(FOLLOWS_FILE, &follows_with("Alt", 1)).unwrap();
        }
        let follower = Follower::open(dir.path(), "ws://127.0.0.1:1").unwrap();
        let follow = follower.follows().values().next().unwrap();
        assert_eq!((follow.name.as_str(), follow.cursor.last_seq), ("Amtsblatt", 3));
        assert!(!dir.path().join(FOLLOWS_FILE).exists());
    }

    #[test]
    fn a_newer_old_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let home = Home::open_or_create(dir.path()).unwrap();
            home.write_cbor(FOLLOWS_FILE, &FollowsFile { v: 9, ..FollowsFile::default() }).unwrap();
        }
        let err = Follower::open(dir.path(), "ws://127.0.0.1:1").unwrap_err();
        assert!(err.to_string().contains("newer stadtbote"), "{err}");
        assert!(dir.path().join(FOLLOWS_FILE).exists());
    }

    #[test]
    fn a_version_1_follows_file_is_read_and_upgraded() {
        #[derive(Serialize)]
        struct OldCursor {
            last_seq: u64,
            last_hash: Option<ByteBuf>,
        }
        #[derive(Serialize)]
        struct OldFollow {
            channel: ChannelId,
            org: OrgId,
            handle: String,
            org_key: IdentityKey,
            keys: BTreeMap<u32, ByteBuf>,
            name: String,
            replies: Replies,
            reply_department: Option<String>,
            cursor: OldCursor,
            followed_at: u64,
        }
        #[derive(Serialize)]
        struct OldFile {
            v: u16,
            follows: BTreeMap<ChannelId, OldFollow>,
        }
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open_or_create(dir.path()).unwrap();
        let channel = ChannelId([4; 16]);
        let old = OldFollow {
            channel,
            org: OrgId([1; 16]),
            handle: "goslar".into(),
            org_key: DeviceSecret::generate().identity_key(),
            keys: BTreeMap::from([(0, ByteBuf::from(vec![7; 32]))]),
            name: "Amtsblatt".into(),
            replies: Replies::Off,
            reply_department: None,
            cursor: OldCursor { last_seq: 3, last_hash: Some(ByteBuf::from(vec![1; 32])) },
            followed_at: 5,
        };
        home.write_cbor(FOLLOWS_FILE, &OldFile { v: 1, follows: BTreeMap::from([(channel, old)]) })
            .unwrap();
        let file = read_follows(&home).unwrap();
        assert_eq!(file.v, FOLLOWS_VERSION);
        let follow = &file.follows[&channel];
        assert_eq!(follow.cursor.last_seq, 3);
        assert_eq!(follow.cursor.last_posted_at, None);
        assert_eq!(follow.retention_days, None);
        assert!(file.revocations.is_empty());
        home.write_cbor(FOLLOWS_FILE, &FollowsFile { v: 9, ..FollowsFile::default() }).unwrap();
        assert!(read_follows(&home).unwrap_err().to_string().contains("newer stadtbote"));
    }
}
