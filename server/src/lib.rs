//! Stadtbote's relay server: an MLS delivery service over WebSocket.
//!
//! The server stores and forwards MLS ciphertext it cannot read, orders MLS
//! commits (one per group epoch), keeps a KeyPackage directory and a mailbox
//! per device. [`run`] is the whole server; `main.rs` only parses the
//! configuration and calls it, and tests embed it the same way.
//!
//! Module map:
//! * [`config`]: the typed configuration, its sources and validation.
//! * [`listener`]: accept loop, handshake timeout, HTTP-phase connection cap.
//! * [`forwarded`]: trusted proxies; the client address from `X-Forwarded-For`.
//! * [`addrlimit`]: per-address connection caps and listeners without an account.
//! * [`http`]: routes `/healthz`, `/privacy`, `/v1/ws`, the web app.
//! * [`web_integrity`]: the start-up check of the web app against its manifest signed by `web_release_key`.
//! * [`webapp`]: the web app's files (built in or `web_dir`) and the
//!   security headers of every answer.
//! * [`connection`]: one WebSocket; frames in and out; error and close codes.
//! * [`session`]: unauthenticated → authenticated; the login challenge.
//! * [`relay`]: what each request does.
//! * [`delivery`]: wake-ups and the per-connection delivery loop.
//! * [`outbox`]: the bounded per-connection send queue.
//! * [`fanout`]: live pushes of channel posts to listening connections.
//! * [`store`]: the storage trait and its sled implementation.
//! * [`flush`]: group commit (durable before answering).
//! * [`diskguard`]: refuses writes while the data directory's disk is nearly full.
//! * [`ratelimit`]: in-memory token buckets.
//! * [`sweeper`]: deletes expired envelopes, groups, attachments, codes and
//!   channel posts.
//! * [`blobs`]: attachment files outside the database.
//! * [`backup`]: the backup file format, taking, verifying and restoring backups.
//! * [`admin`]: the server-admin bootstrap (the one-time claim code file).
//! * [`privacy`]: the `/privacy` statement.
//! * [`push`]: Web Push wake-ups for offline devices (VAPID, RFC 8291).
//! * [`metrics`]: aggregate counters on a separate loopback `/metrics` listener.
//! * [`shutdown`]: coordinated shutdown.
// Unit tests may unwrap: a panic there is a test failure, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod addrlimit;
pub mod admin;
pub mod backup;
pub mod blobs;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod delivery;
pub mod diskguard;
pub mod fanout;
pub mod flush;
pub mod forwarded;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod migrate;
pub mod outbox;
pub mod privacy;
pub mod push;
pub mod ratelimit;
pub mod relay;
pub mod session;
pub mod shutdown;
pub mod store;
pub mod sweeper;
pub mod tls;
pub mod town;
pub mod upgrade;
pub mod web_integrity;
pub mod webapp;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::{Config, ConfigError};
pub use store::StoreError;

use crate::blobs::BlobFiles;
use crate::delivery::DeliveryRegistry;
use crate::flush::Flusher;
use crate::http::AppState;
use crate::privacy::PrivacyStatement;
use crate::relay::Relay;
use crate::shutdown::ShutdownController;
use crate::store::{PgStore, SledStore, Store};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage could not be opened or flushed.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// A background task failed unexpectedly.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The admin claim code could not be prepared.
    #[error(transparent)]
    AdminClaim(#[from] admin::BootstrapError),
    /// The attachment directory could not be prepared.
    #[error(transparent)]
    Blobs(#[from] blobs::OrphanError),
    /// The `/metrics` listener could not be bound (typically: another
    /// server on this machine already uses the port).
    #[error(
        "cannot listen for metrics on {addr}: {}; choose another address with \
         --metrics-listen ADDR (config `metrics_listen`, env STADTBOTE_METRICS_LISTEN) \
         or turn metrics off with --metrics-listen off",
        bind_reason(error)
    )]
    Metrics {
        /// The configured `metrics_listen` address.
        addr: std::net::SocketAddr,
        /// Why (not a `source`: the message already says it in words, and
        /// `{:#}` would repeat the OS's text).
        error: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// This node cannot join the other nodes on its database.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// The web app directory (`web_dir`) cannot be served.
    #[error(transparent)]
    WebDir(#[from] webapp::WebDirError),
    /// The web app does not match a manifest signed by `web_release_key`
    /// (and `web_require_signed` is on).
    #[error(transparent)]
    WebIntegrity(#[from] web_integrity::WebIntegrityError),
    /// Web Push could not be set up (its stored key, its TLS settings).
    #[error(transparent)]
    Push(#[from] push::PushSetupError),
}

/// Why a listener could not be bound, in words rather than the OS's
/// `(os error N)` text.
pub fn bind_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (is another server running?)".to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "the address does not belong to this machine".to_owned()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".to_owned()
        }
        _ => error.to_string(),
    }
}

/// Now as Unix milliseconds. A clock before 1970 reads as 0 rather than
/// failing: timestamps are informational and only compared with each other.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Prepares what lives in the data directory besides the database: the
/// admin claim code while there is no admin, and the attachment directory
/// without files that no metadata refers to. Runs before the listener
/// accepts, so the claim code file exists once the server answers.
async fn prepare_files(
    store: Arc<dyn Store>,
    data_dir: std::path::PathBuf,
    blob_sync_bytes: u64,
) -> Result<BlobFiles, ServerError> {
    tokio::task::spawn_blocking(move || {
        if let Some(path) = admin::bootstrap(store.as_ref(), &data_dir)? {
            // The path only, never the code.
            tracing::info!("admin claim code written to {}", path.display());
        }
        let files = BlobFiles::open(&data_dir, blob_sync_bytes).map_err(blobs::OrphanError::Io)?;
        let orphans = files.remove_orphans(store.as_ref())?;
        if orphans > 0 {
            tracing::info!(files = orphans, "removed attachment files without metadata");
        }
        Ok(files)
    })
    .await?
}

/// Runs the server on `listener` until `shutdown` resolves; then closes every
/// connection (close code 1001), waits up to `shutdown_timeout_secs` for
/// them, flushes storage and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let tls = tls::from_config(&config)?;
    let web = Arc::new(webapp::WebApp::from_config(&config)?);
    // `validate` refused a `web_release_key` that is not a key.
    if let Some(key) = config.web_release_key() {
        web_integrity::enforce(&web, &key, config.web_require_signed)?;
    }
    let config = Arc::new(config);
    let data_dir = config.data_dir.clone();
    let log_options = config.envelope_log_options();
    // With PostgreSQL the node is one of possibly several on the database.
    let mut cluster_db = None;
    let store: Arc<dyn Store> = match config.pg_options() {
        Some(options) => {
            tracing::info!(database = %config.database_url, "store: postgres");
            let opening = options.clone();
            let pg = Arc::new(
                tokio::task::spawn_blocking(move || PgStore::open(&opening, &data_dir)).await??,
            );
            cluster_db = Some(store::pg_cluster::ClusterDb::new(pg.clone(), options));
            pg
        }
        None => Arc::new(
            tokio::task::spawn_blocking(move || SledStore::open_with(&data_dir, log_options))
                .await??,
        ),
    };
    let blobs =
        prepare_files(store.clone(), config.data_dir.clone(), config.blob_sync_bytes).await?;
    let (flusher, flusher_task) =
        Flusher::spawn(store.clone(), config.flush_max_batch, config.flush_max_delay());
    let push_settings = push::PushSettings::from_config(&config).map_err(|reason| {
        ServerError::Config(ConfigError::Invalid { field: "push_allowed_origins", reason })
    })?;
    let push_store = store.clone();
    let push = Arc::new(
        tokio::task::spawn_blocking(move || push::Push::new(push_settings, push_store.as_ref()))
            .await??,
    );
    let registry = DeliveryRegistry::new();
    let relay = Arc::new(Relay::new(
        store.clone(),
        flusher,
        registry.clone(),
        blobs,
        &config,
        push.clone(),
    ));

    let cluster = match cluster_db {
        Some(db) => {
            let (queue, lease) = (config.cluster_notify_queue, config.cluster_lease());
            let max_keys = config.rate_limit_max_keys;
            let joining = db.clone();
            let cluster = tokio::task::spawn_blocking(move || {
                cluster::Cluster::join(joining, queue, lease, max_keys)
            })
            .await??;
            relay.join_cluster(cluster.clone());
            let asking = cluster.clone();
            push.set_elsewhere(Arc::new(move |device| asking.connected_elsewhere(device)));
            Some((db, cluster))
        }
        None => None,
    };

    let (controller, signal) = ShutdownController::new();
    let cluster_tasks = match cluster {
        Some((db, cluster)) => {
            let listening =
                cluster::listen::spawn(&db, cluster.clone(), relay.clone(), signal.clone())?;
            let presence = cluster::presence::spawn(db, cluster, signal.clone());
            vec![listening, presence]
        }
        None => Vec::new(),
    };
    // The metrics listener is bound before anything is served, so that a
    // taken port is a clear start-up error rather than a silent gap.
    let metrics_addr = config.metrics_addr().map_err(|reason| {
        ServerError::Config(ConfigError::Invalid { field: "metrics_listen", reason })
    })?;
    let metrics_listener = metrics::bind(metrics_addr).await.map_err(|error| {
        ServerError::Metrics { addr: metrics_addr.unwrap_or(([127, 0, 0, 1], 0).into()), error }
    })?;
    let addresses = addrlimit::AddressLimits::new(addrlimit::Caps::from_config(&config));
    let proxies = Arc::new(config.trusted_proxy_networks().map_err(|reason| {
        ServerError::Config(ConfigError::Invalid { field: "trusted_proxies", reason })
    })?);
    let metrics_task = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "metrics listening");
        }
        let gauges_relay = Arc::downgrade(&relay);
        let gauges_addresses = addresses.clone();
        let gauges_push = push.clone();
        let gauges_cluster = relay.cluster().map(|c| c.counts().clone());
        let gauges = move || {
            let per_address = gauges_addresses.snapshot();
            metrics::Gauges {
                channel_listeners: gauges_relay
                    .upgrade()
                    .map_or(0, |relay| relay.channel_listener_count()),
                accountless_listeners: per_address.listeners,
                connection_addresses: per_address.addresses,
                connections_per_address_max: per_address.max_per_address,
                push: gauges_push.counts().totals(),
                cluster: gauges_cluster.as_ref().map(|c| c.totals()).unwrap_or_default(),
            }
        };
        tokio::spawn(metrics::serve(listener, relay.metrics().clone(), gauges, signal.clone()))
    });
    let sweeper =
        tokio::spawn(sweeper::run(relay.clone(), config.sweep_interval(), signal.clone()));
    let push_task = tokio::spawn(push.clone().run(store.clone(), registry, signal.clone()));
    if push.enabled() {
        tracing::info!("web push on");
    }
    let state = AppState {
        relay: relay.clone(),
        config: config.clone(),
        privacy: Arc::new(PrivacyStatement::from_config(&config)),
        ws_slots: Arc::new(Semaphore::new(config.max_connections)),
        addresses: addresses.clone(),
        proxies: proxies.clone(),
        shutdown: signal.clone(),
        web,
    };
    let accept = tokio::spawn(listener::accept_loop(
        listener,
        http::router(state),
        listener::Caps {
            max_pending: config.max_connections,
            handshake_timeout: config.handshake_timeout(),
            response_timeout: config.http_response_timeout(),
            addresses,
            proxies,
        },
        tls,
        relay.metrics().clone(),
        signal,
    ));
    tracing::info!(
        pow_difficulty = config.pow_difficulty,
        max_connections = config.max_connections,
        "server started"
    );
    if !config.public_url().is_empty() {
        tracing::info!(public_url = config.public_url(), "web app served for this address");
    }

    shutdown.await;
    tracing::info!("shutting down");
    controller.trigger();
    accept.await?;
    sweeper.await?;
    push_task.await?;
    for task in cluster_tasks {
        task.await?;
    }
    if let Some(task) = metrics_task {
        task.await?;
    }
    if !controller.wait_for_tasks(config.shutdown_timeout()).await {
        tracing::warn!(tasks = controller.running(), "connections still open at shutdown timeout");
    }
    // Connections may still hold the relay (and with it the flusher) if they
    // did not finish in time; flush directly so everything acknowledged so
    // far is on disk before returning.
    drop(relay);
    let flushing = store.clone();
    tokio::task::spawn_blocking(move || flushing.flush()).await??;
    if flusher_task.is_finished() {
        flusher_task.await?;
    }
    tracing::info!("stopped");
    Ok(())
}
