//! The [`Client`] and its life cycle: creating a device (register or link),
//! opening it again, logging in, keeping KeyPackages stocked, saving state.
//!
//! A `Client` owns the locked home directory, the device secret, the
//! bookkeeping [`State`] and the [`MlsClient`], and (once connected) the
//! [`Connection`]. Saving always writes `state.cbor` before `mls.cbor`:
//! if a crash falls between the two, the MLS state is the older one, so the
//! server's redelivery of the unacknowledged envelopes replays exactly what
//! was lost, and the history's de-duplication by message id absorbs what
//! was already recorded.

use stadtbote_client::connection::ConnectionError;
use std::path::Path;

use serde_bytes::ByteBuf;
use stadtbote_client::clock::Clock;
use stadtbote_protocol::auth::{self, DeviceSecret};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, Request, Response};

use crate::clock::SystemClock;
use crate::connection::{Connection, validate_url};
use crate::devices::LinkCode;
use crate::error::ClientError;
use crate::home::{Home, MLS_FILE, STATE_FILE};
use crate::state::{MLS_FILE_VERSION, MlsFile, STATE_VERSION, State};

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

/// A device's client: home, keys, state and (optionally) a connection,
/// timed by its clock `C`.
///
/// Every timestamp, deadline and sleep of the client logic comes from
/// `C` ([`Client::now_ms`], [`Client::clock`]), never from the system
/// clock or tokio's timers directly: the CLI passes [`SystemClock`] (the
/// default), tests the core's `ManualClock`, and the browser will pass its
/// own, where reading the system time traps.
pub struct Client<C = SystemClock> {
    pub(crate) home: Home,
    pub(crate) server_url: String,
    pub(crate) secret: DeviceSecret,
    pub(crate) state: State,
    pub(crate) mls: MlsClient,
    pub(crate) mls_file: MlsFile,
    pub(crate) conn: Option<Connection<C>>,
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

impl<C> std::fmt::Debug for Client<C> {
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

impl<C: Clock + Clone> Client<C> {
    /// Opens an initialised home, timed by `clock`. Works offline; the
    /// server URL is only checked and used by [`Client::connect`].
    pub fn open_with_clock(
        home: impl AsRef<Path>,
        server_url: &str,
        clock: C,
    ) -> Result<Client<C>, ClientError> {
        let home = Home::open(home.as_ref())?;
        let secret = home.read_identity()?;
        let state: State = home.read_cbor(STATE_FILE)?;
        if state.v != STATE_VERSION {
            return Err(ClientError::CorruptFile {
                file: home.path(STATE_FILE),
                reason: format!("unknown format version {}", state.v),
            });
        }
        let mls_file: MlsFile = home.read_cbor(MLS_FILE)?;
        let corrupt_mls =
            |reason: String| ClientError::CorruptFile { file: home.path(MLS_FILE), reason };
        if mls_file.v != MLS_FILE_VERSION {
            return Err(corrupt_mls(format!("unknown format version {}", mls_file.v)));
        }
        let mls = MlsClient::import_state(&secret, state.account, state.device, &mls_file.mls)
            .map_err(|e| corrupt_mls(e.to_string()))?;
        let mut client = Client {
            home,
            server_url: server_url.to_string(),
            secret,
            state,
            mls,
            mls_file,
            conn: None,
            clock,
            routes: Default::default(),
            caught_up: false,
            elevated: false,
            second_factor_code: None,
            creations: Default::default(),
            refused_commits: Vec::new(),
        };
        // Disappearing threads are deleted by whatever command runs first
        // after their time, connected or not.
        client.routes = client.state.routing_table();
        let now = client.now_ms();
        client.purge_expired_threads(now)?;
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
    ) -> Result<Client<C>, ClientError> {
        // Refuse a bad URL before touching the disk.
        validate_url(server_url)?;
        // And a link code without its secret half.
        let link_code = match &enrolment {
            Enrolment::Link(text) => Some(LinkCode::parse(text)?),
            Enrolment::Register => None,
        };
        let home = Home::create(home.as_ref())?;
        let (mut conn, challenge) = Connection::connect_with(server_url, clock.clone()).await?;
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
        let mut client = Client {
            home,
            server_url: server_url.to_string(),
            secret,
            state: State::new(account, device, name),
            mls,
            mls_file: MlsFile {
                v: MLS_FILE_VERSION,
                mls: ByteBuf::new(),
                seen_envelopes: Default::default(),
            },
            conn: Some(conn),
            clock,
            routes: Default::default(),
            caught_up: false,
            elevated: false,
            second_factor_code: None,
            creations: Default::default(),
            refused_commits: Vec::new(),
        };
        client.save()?;
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

    /// Connects, logs in and tops up KeyPackages. Does not sync.
    pub async fn connect(&mut self) -> Result<(), ClientError> {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        let (mut conn, challenge) =
            Connection::connect_with(&self.server_url, self.clock.clone()).await?;
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
        self.save()?;
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
            self.save()?;
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

    /// Saves `state.cbor`, then `mls.cbor` (see the module docs for why in
    /// this order).
    pub fn save(&mut self) -> Result<(), ClientError> {
        self.home.write_cbor(STATE_FILE, &self.state)?;
        self.mls_file.mls = ByteBuf::from(self.mls.export_state()?);
        self.home.write_cbor(MLS_FILE, &self.mls_file)
    }

    pub(crate) fn conn_mut(&mut self) -> Result<&mut Connection<C>, ClientError> {
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
