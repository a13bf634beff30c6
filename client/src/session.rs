//! The [`Client`] and its life cycle: creating a device (register or link),
//! opening it again, logging in, keeping KeyPackages stocked, saving state.
//!
//! A `Client` owns the locked home directory, the device secret, the
//! bookkeeping [`State`] and the [`MlsClient`], the [`DeviceStore`] they are
//! saved to, and (once connected) the [`Connection`]. Saving writes what
//! changed in the state, the processed envelope ids and the MLS key store
//! as one atomic batch ([`crate::device_store`]), so they never disagree
//! after a crash.

use stadtbote_client::connection::ConnectionError;
use std::path::Path;

use serde_bytes::ByteBuf;
use stadtbote_client::clock::Clock;
use stadtbote_protocol::auth::{self, DeviceSecret};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, Request, Response};

use stadtbote_client::storage::Storage;
use stadtbote_client::transport::Connector;

use crate::clock::SystemClock;
use crate::connection::{WsConnector, validate_url};
use crate::device_store::{DeviceStore, Loaded};
use crate::devices::LinkCode;
use crate::error::ClientError;
use crate::file_storage::FileStorage;
use crate::home::Home;
use crate::state::{MLS_FILE_VERSION, MlsFile, State};

/// One-time KeyPackages kept on the server.
pub const KEY_PACKAGE_TARGET: u32 = 20;
/// A last-resort KeyPackage older than this is replaced at the next login
/// (OpenMLS KeyPackages are valid for about three months).
pub const LAST_RESORT_MAX_AGE_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// How a new device joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// Create a new account.
    Register,
    /// Join an existing account with a link code.
    Link(String),
}

/// The core's connection as a client over connector `K` holds it.
pub type ClientConnection<K, C> =
    stadtbote_client::connection::Connection<<K as Connector>::Transport, C>;

/// A device's client: home, keys, state and (optionally) a connection,
/// over the storage `S`, the connector `K` and timed by its clock `C`.
///
/// The client logic only uses the core's traits: the CLI passes its
/// [`FileStorage`] under `--home` and its tokio WebSocket
/// ([`WsConnector`]), the defaults; tests may pass the core's
/// `MemoryStorage` and scripted transport.
///
/// Every timestamp, deadline and sleep of the client logic comes from
/// `C` ([`Client::now_ms`], [`Client::clock`]), never from the system
/// clock or tokio's timers directly: the CLI passes [`SystemClock`] (the
/// default), tests the core's `ManualClock`, and the browser will pass its
/// own, where reading the system time traps.
pub struct Client<S = FileStorage, K: Connector = WsConnector, C = SystemClock> {
    pub(crate) home: Home,
    pub(crate) server_url: String,
    pub(crate) secret: DeviceSecret,
    pub(crate) state: State,
    pub(crate) mls: MlsClient,
    /// The processed envelope ids (its `mls` bytes stay empty: the key
    /// store is saved entry by entry through `store`).
    pub(crate) mls_file: MlsFile,
    /// Where state, envelope ids and MLS key store are saved.
    pub(crate) store: DeviceStore<S>,
    /// Opens connections to the server.
    pub(crate) connector: K,
    pub(crate) conn: Option<ClientConnection<K, C>>,
    /// Where time comes from (see the type's docs).
    pub(crate) clock: C,
    /// Which kind each group is, for routing incoming messages
    /// ([`crate::routes`]).
    pub(crate) routes: stadtbote_client::routing::RoutingTable,
    /// Whether the server has said `caught_up` since this connection logged in.
    pub(crate) caught_up: bool,
    /// Whether this connection passed a second factor (`second_factor`).
    pub(crate) elevated: bool,
    /// A second-factor code to present right after the next login
    /// ([`Client::set_second_factor_code`]).
    pub(crate) second_factor_code: Option<String>,
    /// Groups in which this run refused a commit that does not make the
    /// membership change its sender declared (see `sync`).
    pub(crate) refused_commits: Vec<stadtbote_protocol::GroupId>,
    /// Why this device may create groups it made locally and has not
    /// registered with the server yet (sent with their epoch-0 commit).
    pub(crate) creations: std::collections::BTreeMap<
        stadtbote_protocol::GroupId,
        stadtbote_protocol::membership::GroupCreation,
    >,
}

impl<S, K: Connector, C> std::fmt::Debug for Client<S, K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("home", &self.home.dir())
            .field("account", &self.state.account)
            .field("device", &self.state.device)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl Client<SystemClock> {
    /// Opens an initialised home, timed by the system clock. Works
    /// offline; the server URL is only checked and used by
    /// [`Client::connect`].
    pub fn open(home: impl AsRef<Path>, server_url: &str) -> Result<Client, ClientError> {
        Client::open_with_clock(home, server_url, SystemClock)
    }

    /// Creates a device in an empty home, timed by the system clock (see
    /// [`Client::init_with_clock`]).
    pub async fn init(
        home: impl AsRef<Path>,
        server_url: &str,
        name: Option<String>,
        enrolment: Enrolment,
    ) -> Result<Client, ClientError> {
        Client::init_with_clock(home, server_url, name, enrolment, SystemClock).await
    }
}

impl<C: Clock + Clone> Client<FileStorage, WsConnector, C> {
    /// Opens an initialised home, timed by `clock`. Works offline; the
    /// server URL is only checked and used by [`Client::connect`].
    pub fn open_with_clock(
        home: impl AsRef<Path>,
        server_url: &str,
        clock: C,
    ) -> Result<Client<FileStorage, WsConnector, C>, ClientError> {
        let home = Home::open(home.as_ref())?;
        let secret = home.read_identity()?;
        // Imports a home from before the store on its first open.
        let Loaded { mut store, state, seen, mls } = DeviceStore::open(&home, &secret)?;
        // Prepared uploads of a home from before moved into the store.
        crate::attachments::import_old_uploads(&home, &mut store, clock.now_ms())?;
        let parts = Parts { home, server_url, secret, state, mls, seen, store };
        let mut client = Client::assemble(parts, WsConnector::for_url(server_url)?, None, clock);
        // Disappearing threads are deleted by whatever command runs first
        // after their time, connected or not.
        let now = client.now_ms();
        // Their photos saved under the home go first (see
        // `purge_expired_threads`); the rest is only storage work, and a
        // `FileStorage`'s futures are ready at once.
        for id in client.expired_threads(now) {
            client.home.remove_dir(&format!("{}/{id}", crate::thread_sync::PHOTOS_DIR))?;
        }
        crate::device_store::ready(client.purge_expired_threads(now))?;
        Ok(client)
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
    ) -> Result<Client<FileStorage, WsConnector, C>, ClientError> {
        // Refuse a bad URL before touching the disk.
        validate_url(server_url)?;
        // And a link code without its secret half.
        let link_code = match &enrolment {
            Enrolment::Link(text) => Some(LinkCode::parse(text)?),
            Enrolment::Register => None,
        };
        let home = Home::create(home.as_ref())?;
        let connector = WsConnector::for_url(server_url)?;
        let (mut conn, challenge) =
            ClientConnection::<WsConnector, C>::open(&connector, clock.clone(), server_url).await?;
        let secret = DeviceSecret::generate();
        let key = secret.identity_key();
        let request = match &enrolment {
            Enrolment::Register => {
                let nonce = challenge.nonce.clone();
                let difficulty = challenge.pow_difficulty;
                // Proof-of-work is CPU-bound: keep it off the I/O thread.
                let pow_nonce =
                    tokio::task::spawn_blocking(move || auth::pow_solve(&nonce, &key, difficulty))
                        .await
                        .map_err(|_| {
                            ClientError::Connection(ConnectionError::Protocol {
                                url: server_url.to_string(),
                                reason: "proof-of-work was interrupted".into(),
                            })
                        })?;
                let signature = secret.sign(&auth::register_message(&challenge.nonce, &key));
                Request::Register { identity_key: key, signature, pow_nonce }
            }
            Enrolment::Link(_) => {
                let code = link_code.as_ref().map(|c| c.server_code.clone()).unwrap_or_default();
                let signature = secret.sign(&auth::link_message(&challenge.nonce, &key, &code));
                Request::Link { code, identity_key: key, signature }
            }
        };
        let (account, device) = match conn.call(request).await? {
            Ok(Response::Registered { account, device }) => (account, device),
            Ok(other) => return Err(unexpected(server_url, &other)),
            Err(body) if body.code == ErrorCode::InvalidCode => {
                return Err(ClientError::InvalidLinkCode);
            }
            Err(body) => return Err(ClientError::server(body)),
        };
        let mls = MlsClient::new(&secret, account, device);
        let store = DeviceStore::create(&home)?;
        let state = State::new(account, device, name);
        let parts = Parts { home, server_url, secret, state, mls, seen: Default::default(), store };
        let mut client = Client::assemble(parts, connector, Some(conn), clock);
        client.save().await?;
        // The identity file goes last: its presence is what "initialised"
        // means, so a crash before this point leaves a home `init` can redo.
        client.home.write_identity(&client.secret)?;
        match &link_code {
            // The existing device approves this one at its next command.
            Some(code) => client.request_approval(&code.secret).await?,
            None => client.create_account_key(&[]).await?,
        }
        client.top_up_key_packages(0, false).await?;
        Ok(client)
    }
}

/// What a [`Client`] is made of, loaded or created by the front-end.
pub(crate) struct Parts<'a, S> {
    pub(crate) home: Home,
    pub(crate) server_url: &'a str,
    pub(crate) secret: DeviceSecret,
    pub(crate) state: State,
    pub(crate) mls: MlsClient,
    /// The processed envelope ids (oldest first).
    pub(crate) seen: std::collections::VecDeque<u64>,
    pub(crate) store: DeviceStore<S>,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// A client of what `parts` hold, over `connector` (already connected
    /// when `conn` is given), timed by `clock`.
    pub(crate) fn assemble(
        parts: Parts<'_, S>,
        connector: K,
        conn: Option<ClientConnection<K, C>>,
        clock: C,
    ) -> Client<S, K, C> {
        let Parts { home, server_url, secret, state, mls, seen, store } = parts;
        let mls_file = MlsFile { v: MLS_FILE_VERSION, mls: ByteBuf::new(), seen_envelopes: seen };
        let routes = state.routing_table();
        Client {
            home,
            server_url: server_url.to_string(),
            secret,
            state,
            mls,
            mls_file,
            store,
            connector,
            conn,
            clock,
            routes,
            caught_up: false,
            elevated: false,
            second_factor_code: None,
            creations: Default::default(),
            refused_commits: Vec::new(),
        }
    }

    /// Connects, logs in and tops up KeyPackages. Does not sync.
    pub async fn connect(&mut self) -> Result<(), ClientError> {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        validate_url(&self.server_url)?;
        let (mut conn, challenge) =
            ClientConnection::<K, C>::open(&self.connector, self.clock.clone(), &self.server_url)
                .await?;
        let device = self.state.device;
        let signature = self.secret.sign(&auth::login_message(&challenge.nonce, &device));
        let (account, left, has_last_resort) =
            match conn.request(Request::Login { device, signature }).await? {
                Response::LoggedIn { account, key_packages_left, has_last_resort } => {
                    (account, key_packages_left, has_last_resort)
                }
                other => return Err(unexpected(&self.server_url, &other)),
            };
        if account != self.state.account {
            return Err(ClientError::Connection(ConnectionError::Protocol {
                url: self.server_url.clone(),
                reason: "the server logged this device into another account".into(),
            }));
        }
        self.conn = Some(conn);
        self.caught_up = false;
        self.elevated = false;
        self.top_up_key_packages(left, has_last_resort).await?;
        // Approvals, the own list's news, and the migration of an account
        // from before signed device lists.
        self.settle_device_list().await
    }

    /// Closes the connection, if any.
    pub async fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Uploads enough one-time KeyPackages to reach [`KEY_PACKAGE_TARGET`]
    /// and a last-resort package when the server has none or ours is old.
    async fn top_up_key_packages(
        &mut self,
        left: u32,
        has_last_resort: bool,
    ) -> Result<(), ClientError> {
        let missing = KEY_PACKAGE_TARGET.saturating_sub(left);
        let now = self.now_ms();
        let last_resort_stale = self
            .state
            .last_resort_uploaded_at
            .is_none_or(|at| now.saturating_sub(at) > LAST_RESORT_MAX_AGE_MS);
        let want_last_resort = !has_last_resort || last_resort_stale;
        if missing == 0 && !want_last_resort {
            return Ok(());
        }
        let one_time = self.mls.generate_key_packages(missing as usize)?;
        let last_resort =
            if want_last_resort { Some(self.mls.generate_last_resort()?) } else { None };
        // The private halves must be on disk before anyone can use the
        // public ones.
        self.save().await?;
        let request = Request::UploadKeyPackages {
            one_time: one_time.into_iter().map(ByteBuf::from).collect(),
            last_resort: last_resort.map(ByteBuf::from),
        };
        match self.conn_mut()?.request(request).await? {
            Response::KeyPackagesStored { .. } => {}
            other => return Err(unexpected(&self.server_url, &other)),
        }
        if want_last_resort {
            self.state.last_resort_uploaded_at = Some(now);
            self.save().await?;
        }
        Ok(())
    }

    /// Asks the server for a one-time code that links a new device to this
    /// account. Returns the code and when it expires (Unix ms).
    pub async fn create_link_code(&mut self) -> Result<(String, u64), ClientError> {
        match self.conn_mut()?.request(Request::CreateLinkCode).await? {
            Response::LinkCode { code, expires_at } => Ok((code, expires_at)),
            other => Err(unexpected(&self.server_url, &other)),
        }
    }

    /// Saves what changed since the last save (state, processed envelope
    /// ids, MLS key store) as one durable batch; nothing when nothing did.
    pub async fn save(&mut self) -> Result<(), ClientError> {
        let now = self.now_ms();
        self.store.save_at(&self.state, &self.mls_file.seen_envelopes, &self.mls, false, now).await
    }

    /// [`Client::save`] for deletions people expect to be final
    /// (disappearing threads): the deleted values leave the store's files
    /// before this returns, not at its next compaction.
    pub(crate) async fn save_erasing(&mut self) -> Result<(), ClientError> {
        let now = self.now_ms();
        self.store.save_at(&self.state, &self.mls_file.seen_envelopes, &self.mls, true, now).await
    }

    pub(crate) fn conn_mut(&mut self) -> Result<&mut ClientConnection<K, C>, ClientError> {
        self.conn.as_mut().ok_or(ClientError::NotConnected)
    }

    /// Now, in Unix milliseconds, by this client's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// This client's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Groups in which this run refused a commit whose membership change
    /// differs from what its sender declared to the server.
    pub fn refused_commits(&self) -> &[stadtbote_protocol::GroupId] {
        &self.refused_commits
    }

    /// This device's account.
    pub fn account(&self) -> AccountId {
        self.state.account
    }

    /// This device.
    pub fn device(&self) -> DeviceId {
        self.state.device
    }

    /// This device's identity key fingerprint.
    pub fn fingerprint(&self) -> String {
        self.secret.identity_key().fingerprint()
    }

    /// The display name, if set.
    pub fn name(&self) -> Option<&str> {
        self.state.name.as_deref()
    }

    /// The bookkeeping state (history, outbox, conversations).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The server URL this client connects to.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
}

pub(crate) fn unexpected(url: &str, response: &Response) -> ClientError {
    ClientError::Connection(ConnectionError::Protocol {
        url: url.to_string(),
        // Only the answer's name: its fields can be long and are chosen by
        // the server.
        reason: format!(
            "unexpected answer {}",
            crate::inner_error::response_name(&format!("{response:?}"))
        ),
    })
}

/// A client over the core's `MemoryStorage` and scripted `FakeServer`,
/// timed by a `ManualClock`, for the unit tests of the feature modules.
#[cfg(test)]
pub(crate) mod fake {
    use stadtbote_client::storage::MemoryStorage;
    use stadtbote_client::testing::{FakeConnector, FakeServer, ManualClock, run};
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::mls::MlsClient;
    use stadtbote_protocol::{AccountId, DeviceId};

    use super::{Client, ClientConnection, Parts};
    use crate::device_store::DeviceStore;
    use crate::home::Home;
    use crate::state::State;

    pub(crate) const URL: &str = "ws://fake.invalid/v1/ws";

    pub(crate) type TestClient = Client<MemoryStorage, FakeConnector, ManualClock>;

    /// A client of a fresh device whose state and MLS client `setup`
    /// prepares, connected (past the challenge, not logged in) when
    /// `connected`. Returns it with its device secret.
    pub(crate) fn client(
        dir: &std::path::Path,
        storage: &MemoryStorage,
        server: &FakeServer,
        connected: bool,
        setup: impl FnOnce(&mut State, &DeviceSecret, &MlsClient),
    ) -> (TestClient, DeviceSecret) {
        let (account, device) = (AccountId([1; 16]), DeviceId([1; 16]));
        let secret = DeviceSecret::generate();
        let mls = MlsClient::new(&secret, account, device);
        let mut state = State::new(account, device, None);
        setup(&mut state, &secret, &mls);
        let store = DeviceStore::over(storage.clone(), dir.to_path_buf(), "test".into());
        let parts = Parts {
            home: Home::create(dir).unwrap(),
            server_url: URL,
            secret: DeviceSecret::from_bytes(&secret.to_bytes()[..]).unwrap(),
            state,
            mls,
            seen: Default::default(),
            store,
        };
        let clock = ManualClock::at(1_000);
        let connector = server.connector();
        let conn = connected.then(|| {
            run(ClientConnection::<FakeConnector, _>::open(&connector, clock.clone(), URL))
                .unwrap()
                .0
        });
        (Client::assemble(parts, connector, conn, clock), secret)
    }

    /// The state as stored, read back through another handle.
    pub(crate) fn stored_state(storage: &MemoryStorage, secret: &DeviceSecret) -> State {
        let store = DeviceStore::over(storage.clone(), "reload".into(), "reader".into());
        stadtbote_client::testing::run(store.load_existing(secret)).unwrap().state
    }
}

/// Logging in over the scripted transport: the checks `connect` makes of
/// the server's answers.
#[cfg(test)]
mod tests {
    use stadtbote_client::connection::ConnectionError;
    use stadtbote_client::storage::MemoryStorage;
    use stadtbote_client::testing::{FakeServer, Reply, run};
    use stadtbote_protocol::device_list::{DEVICE_LIST_VERSION, DeviceList, ListPin, ListedDevice};
    use stadtbote_protocol::{AccountId, Response};

    use super::fake::client;
    use crate::error::ClientError;

    fn logged_in(account: AccountId) -> Reply {
        Reply::Answer(Response::LoggedIn { account, key_packages_left: 20, has_last_resort: true })
    }

    #[test]
    fn a_login_into_another_account_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (storage, server) = (MemoryStorage::default(), FakeServer::new());
        let (mut client, _) = client(&tmp.path().join("h"), &storage, &server, false, |_, _, _| {});
        server.expect("login", logged_in(AccountId([7; 16])));
        let err = run(client.connect()).unwrap_err();
        assert!(
            matches!(&err, ClientError::Connection(ConnectionError::Protocol { reason, .. })
                if reason.contains("another account")),
            "{err}"
        );
        assert!(!client.is_connected());
        assert_eq!(server.request_names(), ["login"]);
    }

    #[test]
    fn a_server_that_withholds_the_pinned_own_device_list_is_refused_at_login() {
        let tmp = tempfile::tempdir().unwrap();
        let (storage, server) = (MemoryStorage::default(), FakeServer::new());
        let account_key = stadtbote_protocol::auth::DeviceSecret::generate();
        let (mut client, _) =
            client(&tmp.path().join("h"), &storage, &server, false, |state, secret, _| {
                let list = DeviceList {
                    v: DEVICE_LIST_VERSION,
                    account: state.account,
                    account_key: account_key.identity_key(),
                    version: 1,
                    issued_at: 1,
                    devices: vec![ListedDevice {
                        device: state.device,
                        identity_key: secret.identity_key(),
                        added_at: 1,
                    }],
                };
                let signed = list.sign(&account_key);
                let (_, pin) = ListPin::advance(None, &state.account, &signed).unwrap();
                state.device_lists.pins.insert(state.account, pin);
                state.device_lists.own = Some(signed);
                // KeyPackages are stocked: login goes straight to the list.
                state.last_resort_uploaded_at = Some(1_000);
            });
        server.expect("login", logged_in(client.account()));
        server.expect(
            "list_devices",
            Reply::Answer(Response::Devices { devices: Vec::new(), device_list: None }),
        );
        let err = run(client.connect()).unwrap_err();
        assert!(
            matches!(&err, ClientError::DeviceList { reason, .. }
                if reason.contains("left out the signed device list")),
            "{err}"
        );
        assert_eq!(server.request_names(), ["login", "list_devices"]);
    }
}
