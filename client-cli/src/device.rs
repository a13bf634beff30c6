//! The CLI's [`Client`]: the core's client
//! ([`stadtbote_client::Client`]) over the home's files, beside the locked
//! [`Home`] itself.
//!
//! The core never touches a file; what the CLI keeps under `--home` it
//! handles here: opening a home (its lock, `identity.key`, the store under
//! `store/` with the imports of older homes, expired threads' saved
//! photos) and creating one (`init`), the org key files (the core's
//! [`KeyFiles`] as files under `org/`), deleting the account's files, the
//! follows under `follows/`, reading the photos a user names and saving
//! the photos of a thread. Everything else is the core's: [`Client`]
//! dereferences to it, so `client.sync()` and the rest are the core's
//! methods.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stadtbote_client::account::ServerDeletion;
use stadtbote_client::attachments::ReadPhoto;
use stadtbote_client::channels::{Follow, FollowsFile};
use stadtbote_client::clock::Clock;
use stadtbote_client::key_files::KeyFiles;
use stadtbote_client::org::AdminOrg;
use stadtbote_client::session::Parts;
use stadtbote_client::thread_send::ThreadOutboxEntry;
use stadtbote_client::threads::ThreadKind;
use stadtbote_client::{ClientError, Enrolment};
use stadtbote_protocol::GroupId;
use stadtbote_protocol::app::{Location, ThreadStatus};
use stadtbote_protocol::channel::PostBody;
use zeroize::Zeroizing;

use crate::clock::SystemClock;
use crate::connection::{WsConnector, validate_url};
use crate::error::CliError;
use crate::file_storage::FileStorage;
use crate::home::Home;
use crate::home_store::{DeviceStore, Loaded, ready};
use crate::passphrase::{self, KdfParams};
use crate::photo_files::read_photo_for_core;

/// The directory below the home where `show` saves photos by default.
pub const PHOTOS_DIR: &str = "photos";

/// The core's client as the CLI runs it: over the home's [`FileStorage`]
/// and the tokio WebSocket, timed by `C`.
pub type CoreClient<C = SystemClock> = stadtbote_client::Client<FileStorage, WsConnector, C>;

/// A device's client under a locked home (see the module docs), timed by
/// `C` (the system clock unless a test passes another).
pub struct Client<C = SystemClock> {
    core: CoreClient<C>,
    home: Arc<Home>,
}

impl<C> std::fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("home", &self.home.dir())
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<C> Deref for Client<C> {
    type Target = CoreClient<C>;

    fn deref(&self) -> &CoreClient<C> {
        &self.core
    }
}

impl<C> DerefMut for Client<C> {
    fn deref_mut(&mut self) -> &mut CoreClient<C> {
        &mut self.core
    }
}

/// The org key files of a home: `<home>/org/<handle>.key` and friends,
/// private files replaced atomically ([`Home::write_atomic`]).
struct HomeKeyFiles(Arc<Home>);

impl KeyFiles for HomeKeyFiles {
    fn read(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        Ok(Zeroizing::new(self.0.read_bytes(name)?))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ClientError> {
        if let Some((dir, _)) = name.rsplit_once('/') {
            self.0.ensure_dir(dir)?;
        }
        Ok(self.0.write_atomic(name, bytes)?)
    }

    fn remove(&self, name: &str) -> Result<(), ClientError> {
        Ok(self.0.remove_file(name)?)
    }

    fn corrupt(&self, name: &str, reason: &str) -> ClientError {
        CliError::CorruptFile { file: self.0.path(name), reason: reason.to_string() }.into()
    }
}

impl Client<SystemClock> {
    /// Opens an initialised home, timed by the system clock. Works
    /// offline; the server URL is only checked and used by
    /// [`stadtbote_client::Client::connect`].
    pub fn open(home: impl AsRef<Path>, server_url: &str) -> Result<Client, CliError> {
        Client::open_with_clock(home, server_url, SystemClock)
    }

    /// Creates a device in an empty home, timed by the system clock (see
    /// [`Client::init_with_clock`]).
    pub async fn init(
        home: impl AsRef<Path>,
        server_url: &str,
        name: Option<String>,
        enrolment: Enrolment,
    ) -> Result<Client, CliError> {
        Client::init_with_clock(home, server_url, name, enrolment, SystemClock).await
    }
}

impl<C: Clock + Clone> Client<C> {
    /// Opens an initialised home, timed by `clock`. Works offline; the
    /// server URL is only checked and used by `connect`.
    pub fn open_with_clock(
        home: impl AsRef<Path>,
        server_url: &str,
        clock: C,
    ) -> Result<Client<C>, CliError> {
        let home = Arc::new(Home::open(home.as_ref())?);
        let secret = home.read_identity()?;
        // Imports a home from before the store on its first open.
        let Loaded { mut store, state, seen, mls } = DeviceStore::open(&home, &secret)?;
        // Prepared uploads of a home from before moved into the store.
        crate::photo_files::import_old_uploads(&home, &mut store, clock.now_ms())?;
        let key_files = Box::new(HomeKeyFiles(home.clone()));
        let parts = Parts { server_url, secret, state, mls, seen, store, key_files };
        let connector = WsConnector::for_url(server_url)?;
        let mut core = CoreClient::from_parts(parts, connector, None, clock);
        // Disappearing threads are deleted by whatever command runs first
        // after their time, connected or not. Their photos saved under the
        // home go first (see `purge_expired_threads`); the rest is only
        // storage work, and a `FileStorage`'s futures are ready at once.
        let now = core.now_ms();
        for id in core.expired_threads(now) {
            home.remove_dir(&format!("{PHOTOS_DIR}/{id}"))?;
        }
        ready(core.purge_expired_threads(now))?;
        Ok(Client { core, home })
    }

    /// Creates a device in an empty home: registers a new account (or joins
    /// one with a link code), saves the identity and uploads KeyPackages.
    /// The returned client is connected and logged in.
    pub async fn init_with_clock(
        home: impl AsRef<Path>,
        server_url: &str,
        name: Option<String>,
        enrolment: Enrolment,
        clock: C,
    ) -> Result<Client<C>, CliError> {
        // Refuse a bad URL before touching the disk.
        validate_url(server_url)?;
        // And a link code without its secret half.
        if let Enrolment::Link(text) = &enrolment {
            stadtbote_client::devices::LinkCode::parse(text)?;
        }
        let home = Arc::new(Home::create(home.as_ref())?);
        let connector = WsConnector::for_url(server_url)?;
        let key_files = Box::new(HomeKeyFiles(home.clone()));
        let store_home = home.clone();
        let make_store = move || DeviceStore::create(&store_home).map_err(ClientError::from);
        let core = CoreClient::enrol(
            make_store, key_files, connector, clock, server_url, name, &enrolment,
        )
        .await
        .map_err(crate::error::from_core)?;
        let mut client = Client { core, home };
        // The identity file goes last: its presence is what "initialised"
        // means, so a crash before this point leaves a home `init` can redo.
        client.home.write_identity(client.core.secret())?;
        client.core.finish_enrolment(&enrolment).await?;
        Ok(client)
    }

    /// The locked home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The core's client.
    pub fn core(&self) -> &CoreClient<C> {
        &self.core
    }

    /// The core's client, for the core's routines that take it generically
    /// (`stadtbote_client::attachments::…`).
    pub fn core_mut(&mut self) -> &mut CoreClient<C> {
        &mut self.core
    }

    /// Deletes the account on the server (needs a connection), then the
    /// account's files in this home. Returns what the server deleted and
    /// the local paths removed.
    pub async fn delete_account(mut self) -> Result<(ServerDeletion, Vec<PathBuf>), CliError> {
        let deletion = self.core.delete_account_on_server().await?;
        self.core.disconnect().await;
        let removed = self.home.remove_account_files()?;
        Ok((deletion, removed))
    }

    /// The followed channel and one of its posts (verified), for a private
    /// reply. Reads the follows under this client's lock.
    pub async fn channel_post_for_reply(
        &mut self,
        channel_text: &str,
        seq: u64,
    ) -> Result<(Follow, PostBody), CliError> {
        let follows: FollowsFile = crate::follow_home::read_follows(&self.home)?;
        Ok(self.core.channel_post_for_reply(&follows, channel_text, seq).await?)
    }

    /// Queues a report or consultation with the photos at `photo_paths`
    /// (see the core's `queue_open`).
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_open(
        &mut self,
        kind: ThreadKind,
        handle: &str,
        category: Option<&str>,
        text: &str,
        location: Option<Location>,
        photo_paths: &[PathBuf],
        live: bool,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        let read: ReadPhoto<'_> = &read_photo_for_core;
        self.core.queue_open(kind, handle, category, text, location, photo_paths, read, live).await
    }

    /// Queues a reply with the photos at `photo_paths` (see the core's
    /// `queue_reply`).
    pub async fn queue_reply(
        &mut self,
        thread: &GroupId,
        text: &str,
        photo_paths: &[PathBuf],
        status: Option<ThreadStatus>,
        reason: Option<&str>,
        as_me: bool,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        let read: ReadPhoto<'_> = &read_photo_for_core;
        self.core.queue_reply(thread, text, photo_paths, read, status, reason, as_me).await
    }

    /// Posts to a channel with the photos at `photo_paths`; returns the
    /// post's sequence number.
    pub async fn post_to_channel(
        &mut self,
        channel_text: &str,
        text: &str,
        photo_paths: &[PathBuf],
    ) -> Result<u64, ClientError> {
        let read: ReadPhoto<'_> = &read_photo_for_core;
        self.core.post_to_channel(channel_text, text, photo_paths, read).await
    }

    /// Writes the org key, sealed under `passphrase`, to `file`.
    pub fn export_org_key(
        &self,
        handle: &str,
        file: &Path,
        passphrase: &str,
    ) -> Result<(), CliError> {
        let plaintext = self.core.export_org_key(handle)?;
        let sealed = passphrase::seal(&plaintext, passphrase, KdfParams::default())?;
        crate::passphrase::write_private_file(file, &sealed)
    }

    /// Reads an export file, unseals it with `passphrase` and makes this
    /// device an admin of that org. Returns the org.
    pub async fn import_org_key(
        &mut self,
        file: &Path,
        passphrase: &str,
    ) -> Result<AdminOrg, CliError> {
        let bytes = std::fs::read(file).map_err(|source| CliError::Io {
            action: "read",
            file: file.to_path_buf(),
            source,
        })?;
        let plaintext = passphrase::open(&bytes, passphrase)?;
        Ok(self.core.import_org_key(&plaintext).await?)
    }

    /// Saves a thread's photos: into `dir` when given (every photo), else
    /// into `<home>/photos/<THREAD>/` (photos not saved there yet). Needs a
    /// connection for photos it downloads. Returns the paths written and
    /// the photos that failed, with why.
    pub async fn save_thread_photos(
        &mut self,
        id: &GroupId,
        dir: Option<&Path>,
    ) -> Result<(Vec<PathBuf>, Vec<ClientError>), ClientError> {
        let photos = self.core.thread_photos(id)?;
        let default_dir = self.home.path(&format!("{PHOTOS_DIR}/{id}"));
        let target = dir.map_or(default_dir, Path::to_path_buf);
        let mut saved = Vec::new();
        let mut failed = Vec::new();
        for photo in photos {
            let already = photo
                .saved_to
                .as_ref()
                .is_some_and(|p| p.exists() && p.parent() == Some(target.as_path()));
            if already {
                continue;
            }
            if !self.core.is_connected() {
                failed.push(ClientError::NotConnected);
                continue;
            }
            if dir.is_none() {
                self.home.ensure_dir(PHOTOS_DIR)?;
                self.home.ensure_dir(&format!("{PHOTOS_DIR}/{id}"))?;
            }
            let downloaded = crate::photo_files::download(
                &mut self.core,
                &photo.attachment,
                &target,
                &photo.stem,
            )
            .await
            .map_err(ClientError::from);
            match downloaded {
                Ok(path) => {
                    self.core.record_photo_saved(id, &photo, path.clone()).await?;
                    saved.push(path);
                }
                Err(error) if error.is_transient() => return Err(error),
                Err(error) => failed.push(error),
            }
        }
        Ok((saved, failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_client::threads::Thread;
    use stadtbote_protocol::{AccountId, DeviceId, OrgId};

    fn thread() -> Thread {
        Thread {
            id: GroupId([3; 16]),
            kind: ThreadKind::Report,
            org: OrgId([4; 16]),
            handle: "goslar".into(),
            org_name: "Stadt Goslar".into(),
            category: None,
            opened_department: "bauhof".into(),
            creator: AccountId([1; 16]),
            location: None,
            live: false,
            created_at: 0,
            messages: vec![],
            warnings: vec![],
            disappear_at: None,
            removed: false,
            unchecked_members: false,
        }
    }

    #[test]
    fn disappeared_threads_are_deleted_by_the_next_command() {
        use crate::home::{Home, MLS_FILE, STATE_FILE};
        use stadtbote_client::state::{MLS_FILE_VERSION, MlsFile, State};
        use stadtbote_protocol::auth::DeviceSecret;
        use stadtbote_protocol::mls::MlsClient;

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        let (account, device) = (AccountId([1; 16]), DeviceId([1; 16]));
        let secret = DeviceSecret::generate();
        let mls = MlsClient::new(&secret, account, device);
        let gone = GroupId([5; 16]);
        let kept = GroupId([6; 16]);
        mls.create_group(gone).unwrap();
        let mut state = State::new(account, device, None);
        let mut expired = thread();
        expired.id = gone;
        expired.disappear_at = Some(1);
        expired.category = Some("Verschwindet spurlos".into());
        let mut later = thread();
        later.id = kept;
        later.disappear_at = Some(u64::MAX);
        state.threads.insert(gone, expired);
        state.threads.insert(kept, later);
        {
            let home = Home::create(&dir).unwrap();
            home.write_cbor(STATE_FILE, &state).unwrap();
            let file = MlsFile {
                v: MLS_FILE_VERSION,
                mls: serde_bytes::ByteBuf::from(mls.export_state().unwrap()),
                seen_envelopes: Default::default(),
            };
            home.write_cbor(MLS_FILE, &file).unwrap();
            home.ensure_dir(&format!("{PHOTOS_DIR}/{gone}")).unwrap();
            std::fs::write(dir.join(format!("{PHOTOS_DIR}/{gone}/a.jpg")), b"x").unwrap();
            home.write_identity(&secret).unwrap();
        }
        let client = Client::open(&dir, "ws://127.0.0.1:1/v1/ws").unwrap();
        assert!(client.state().threads.contains_key(&kept));
        assert!(!client.state().threads.contains_key(&gone));
        assert!(!client.mls().has_group(&gone).unwrap());
        assert!(!dir.join(format!("{PHOTOS_DIR}/{gone}")).exists(), "saved photos deleted");
        drop(client);
        // Nothing of it stays readable in the home's files: the deletion
        // rewrote the store's snapshot instead of appending to its journal
        // (which held the thread since the old files were imported).
        let mut files = vec![dir.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let needle = b"Verschwindet spurlos";
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} still holds the thread",
                    path.display()
                );
            }
        }
        // And it stays deleted on disk.
        let again = Client::open(&dir, "ws://127.0.0.1:1/v1/ws").unwrap();
        assert!(!again.state().threads.contains_key(&gone));
    }
}
