//! The [`Client`] and its life cycle: creating a device (register or link),
//! loading it again, logging in, keeping KeyPackages stocked, saving state.
//!
//! A `Client` owns the device secret, the bookkeeping [`State`] and the
//! [`MlsClient`], the [`DeviceStore`] they are saved to, the device's
//! [`KeyFiles`] (org keys), and (once connected) the [`Connection`]. Saving
//! writes what changed in the state, the processed envelope ids and the MLS
//! key store as one atomic batch ([`crate::device_store`]), so they never
//! disagree after a crash.
//!
//! Where a device lives is the front-end's: the CLI opens its home (lock,
//! identity file, old formats) and hands the parts to [`Client::from_parts`];
//! a new device is made by [`Client::enrol`] and, once the front-end has
//! kept its secret, [`Client::finish_enrolment`].
//!
//! [`Connection`]: crate::connection::Connection

use crate::connection::ConnectionError;

use crate::clock::Clock;
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::{self, DeviceSecret};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, Request, Response};

use crate::storage::Storage;
use crate::transport::Connector;

use crate::device_store::DeviceStore;
use crate::devices::LinkCode;
use crate::error::ClientError;
use crate::key_files::KeyFiles;
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
pub type ClientConnection<K, C> = crate::connection::Connection<<K as Connector>::Transport, C>;

/// A device's client: keys, state and (optionally) a connection, over the
/// storage `S`, the connector `K` and timed by its clock `C`.
///
/// The client logic only uses the core's traits: the CLI passes its
/// `FileStorage` under `--home` and its tokio WebSocket; tests pass the
/// core's `MemoryStorage` and scripted transport.
///
/// Every timestamp, deadline and sleep of the client logic comes from
/// `C` ([`Client::now_ms`], [`Client::clock`]), never from the system
/// clock or a runtime's timers directly: the CLI passes its system clock,
/// tests the core's `ManualClock`, and the browser its own, where reading
/// the system time traps.
pub struct Client<S, K: Connector, C> {
    pub(crate) server_url: String,
    pub(crate) secret: DeviceSecret,
    pub(crate) state: State,
    pub(crate) mls: MlsClient,
    /// The processed envelope ids (its `mls` bytes stay empty: the key
    /// store is saved entry by entry through `store`).
    pub(crate) mls_file: MlsFile,
    /// Where state, envelope ids and MLS key store are saved.
    pub(crate) store: DeviceStore<S>,
    /// Where the org keys this device administers are kept.
    pub(crate) key_files: Box<dyn KeyFiles>,
    /// Opens connections to the server.
    pub(crate) connector: K,
    pub(crate) conn: Option<ClientConnection<K, C>>,
    /// Where time comes from (see the type's docs).
    pub(crate) clock: C,
    /// Which kind each group is, for routing incoming messages
    /// ([`crate::routes`]).
    pub(crate) routes: crate::routing::RoutingTable,
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
            .field("store", &self.store)
            .field("account", &self.state.account)
            .field("device", &self.state.device)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`Client`] is made of, loaded or created by the front-end.
pub struct Parts<'a, S> {
    /// The server's URL.
    pub server_url: &'a str,
    /// The device secret.
    pub secret: DeviceSecret,
    /// The bookkeeping state.
    pub state: State,
    /// The MLS client over the stored key store.
    pub mls: MlsClient,
    /// The processed envelope ids (oldest first).
    pub seen: std::collections::VecDeque<u64>,
    /// Where they are saved.
    pub store: DeviceStore<S>,
    /// Where the org keys are kept.
    pub key_files: Box<dyn KeyFiles>,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// A client of what `parts` hold, over `connector` (already connected
    /// when `conn` is given), timed by `clock`: a device the front-end
    /// loaded from its storage. Works offline; the server URL is only
    /// checked and used by [`Client::connect`].
    pub fn from_parts(
        parts: Parts<'_, S>,
        connector: K,
        conn: Option<ClientConnection<K, C>>,
        clock: C,
    ) -> Client<S, K, C> {
        Client::assemble(parts, connector, conn, clock)
    }

    /// Creates a device: registers a new account (or joins one with a link
    /// code) over `connector` and saves the new state to the store
    /// `make_store` makes once the server has registered the device. The
    /// returned client is connected and logged in; the front-end keeps its
    /// secret ([`Client::secret`]) and then calls
    /// [`Client::finish_enrolment`].
    #[allow(clippy::too_many_arguments)]
    pub async fn enrol(
        make_store: impl FnOnce() -> Result<DeviceStore<S>, ClientError>,
        key_files: Box<dyn KeyFiles>,
        connector: K,
        clock: C,
        server_url: &str,
        name: Option<String>,
        enrolment: &Enrolment,
    ) -> Result<Client<S, K, C>, ClientError> {
        validate_url(server_url)?;
        let link_code = match enrolment {
            Enrolment::Link(text) => Some(LinkCode::parse(text)?),
            Enrolment::Register => None,
        };
        let (mut conn, challenge) =
            ClientConnection::<K, C>::open(&connector, clock.clone(), server_url).await?;
        let secret = DeviceSecret::generate();
        let key = secret.identity_key();
        let request = match &link_code {
            None => {
                // Proof-of-work is CPU-bound; the core has no thread pool
                // of its own, and nothing else waits on this connection
                // while it runs.
                let pow_nonce = auth::pow_solve(&challenge.nonce, &key, challenge.pow_difficulty);
                let signature = secret.sign(&auth::register_message(&challenge.nonce, &key));
                Request::Register { identity_key: key, signature, pow_nonce }
            }
            Some(code) => {
                let code = code.server_code.clone();
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
        let store = make_store()?;
        let state = State::new(account, device, name);
        let parts =
            Parts { server_url, secret, state, mls, seen: Default::default(), store, key_files };
        let mut client = Client::assemble(parts, connector, Some(conn), clock);
        client.save().await?;
        Ok(client)
    }

    /// The rest of [`Client::enrol`], once the front-end has kept the
    /// device secret: a linked device asks for approval, a new account gets
    /// its account key; then KeyPackages are uploaded.
    pub async fn finish_enrolment(&mut self, enrolment: &Enrolment) -> Result<(), ClientError> {
        match enrolment {
            // The existing device approves this one at its next command.
            Enrolment::Link(text) => {
                let code = LinkCode::parse(text)?;
                self.request_approval(&code.secret).await?
            }
            Enrolment::Register => self.create_account_key(&[]).await?,
        }
        self.top_up_key_packages(0, false).await
    }

    /// This device's secret, for the front-end to keep (the CLI's
    /// `identity.key`).
    pub fn secret(&self) -> &DeviceSecret {
        &self.secret
    }

    /// The device's store.
    pub fn store(&self) -> &DeviceStore<S> {
        &self.store
    }

    /// The device's store, for a front-end's own records in its spaces
    /// (the CLI's import of an old home's uploads).
    pub fn store_mut(&mut self) -> &mut DeviceStore<S> {
        &mut self.store
    }

    /// The open connection, for a front-end's own requests (the CLI's
    /// online backup download); an error when there is none.
    pub fn connection(&mut self) -> Result<&mut ClientConnection<K, C>, ClientError> {
        self.conn_mut()
    }
}

/// Checks that a server URL is a usable WebSocket URL: `ws://` or
/// `wss://`, a host, and nothing a URL cannot hold (front-ends may check
/// more, as the CLI's WebSocket library does).
pub fn validate_url(url: &str) -> Result<(), ClientError> {
    let invalid = |reason| ClientError::InvalidServerUrl { url: url.to_string(), reason };
    let Some(rest) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")) else {
        return Err(invalid("it must start with ws:// or wss://"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("it names no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(c)) {
        return Err(invalid("it is not a valid URL"));
    }
    Ok(())
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// A client of what `parts` hold, over `connector` (already connected
    /// when `conn` is given), timed by `clock`.
    fn assemble(
        parts: Parts<'_, S>,
        connector: K,
        conn: Option<ClientConnection<K, C>>,
        clock: C,
    ) -> Client<S, K, C> {
        let Parts { server_url, secret, state, mls, seen, store, key_files } = parts;
        let mls_file = MlsFile { v: MLS_FILE_VERSION, mls: ByteBuf::new(), seen_envelopes: seen };
        let routes = state.routing_table();
        Client {
            server_url: server_url.to_string(),
            secret,
            state,
            mls,
            mls_file,
            store,
            key_files,
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
    pub(crate) async fn top_up_key_packages(
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

    /// The bookkeeping state, to change it behind the client's back: for
    /// the front-ends' tests (feature `test-support`) that play old local
    /// state.
    #[cfg(any(test, feature = "test-support"))]
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The MLS client, for the front-ends' tests (feature `test-support`).
    #[cfg(any(test, feature = "test-support"))]
    pub fn mls(&self) -> &MlsClient {
        &self.mls
    }

    /// The server URL this client connects to.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
}

pub fn unexpected(url: &str, response: &Response) -> ClientError {
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
    use crate::storage::MemoryStorage;
    use crate::testing::{FakeConnector, FakeServer, ManualClock, run};
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::mls::MlsClient;
    use stadtbote_protocol::{AccountId, DeviceId};

    use super::{Client, ClientConnection, Parts};
    use crate::device_store::DeviceStore;
    use crate::key_files::MemoryKeyFiles;
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
        let store = DeviceStore::over(storage.clone(), dir.display().to_string(), "test".into());
        let parts = Parts {
            server_url: URL,
            secret: DeviceSecret::from_bytes(&secret.to_bytes()[..]).unwrap(),
            state,
            mls,
            seen: Default::default(),
            store,
            key_files: Box::new(MemoryKeyFiles::default()),
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
        crate::testing::run(store.load_existing(secret)).unwrap().state
    }
}

/// Logging in over the scripted transport: the checks `connect` makes of
/// the server's answers.
#[cfg(test)]
mod tests {
    use crate::connection::ConnectionError;
    use crate::storage::MemoryStorage;
    use crate::testing::{FakeServer, Reply, run};
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
