//! The server's configuration: one typed struct, its defaults, how the
//! sources are layered and how the result is validated.
//!
//! Sources, from weakest to strongest: the built-in defaults
//! ([`Config::default`]), a TOML file, environment variables named
//! `STADTBOTE_<FIELD_IN_UPPERCASE>` and finally command-line flags. Every
//! limit the server enforces is a field here with a documented default;
//! `deploy/stadtbote.example.toml` documents each one and a test keeps the two
//! in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Prefix of the environment variables that override configuration fields.
pub const ENV_PREFIX: &str = "STADTBOTE_";

/// The default `source_url`: the workspace's `repository` key.
pub const DEFAULT_SOURCE_URL: &str = env!("CARGO_PKG_REPOSITORY");

/// The default `web_release_key`: the Stadtbote release key
/// (`stadtbote_protocol::web_manifest::RELEASE_KEY`, also in
/// `deploy/web-release-key.pub`; a test keeps the three equal).
pub const DEFAULT_WEB_RELEASE_KEY: &str =
    "8d8e4e5a9acf3781231d92faaf5cad86e45873c168d71083446808c4fea81c5a";

/// Why a configuration could not be loaded or is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this struct (syntax
    /// error, wrong type or unknown key).
    #[error("invalid config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, including the line.
        message: String,
    },
    /// An environment variable could not be parsed for its field.
    #[error("invalid value in environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// Why.
        message: String,
    },
    /// The layered sources do not form a valid configuration.
    #[error("invalid configuration: {0}")]
    Merge(String),
    /// A value is outside its allowed range.
    #[error("invalid value for `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is allowed.
        reason: String,
    },
}

/// Everything the server can be configured with. See
/// `deploy/stadtbote.example.toml` for a commented version of the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory holding the database; created with mode 0700 if missing.
    pub data_dir: PathBuf,
    /// Leading zero bits required of the registration proof-of-work (0 disables it).
    pub pow_difficulty: u8,
    /// Largest WebSocket message accepted, in bytes; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// Largest single WebSocket frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Read buffer per connection, in bytes.
    pub read_buffer_bytes: usize,
    /// Bytes buffered before writing to the socket (0 writes every message at once).
    pub write_buffer_bytes: usize,
    /// Most bytes buffered for a socket that cannot be written.
    pub max_write_buffer_bytes: usize,
    /// Frames queued per connection before senders wait; also the most
    /// channel posts (with at most `max_write_buffer_bytes`) waiting for a
    /// full socket before a listener misses one (src/wire.rs).
    pub send_queue_frames: usize,
    /// How long a full send queue is tolerated before the connection is dropped, in seconds.
    pub send_timeout_secs: u64,
    /// Requests of one connection that may wait for their durable write at
    /// once (pipelining); beyond that, the connection reads no further request.
    pub max_pipelined_requests: usize,
    /// Most simultaneous WebSocket connections (and, separately, HTTP connections awaiting upgrade).
    pub max_connections: usize,
    /// Most simultaneous WebSocket connections from one client address
    /// (IPv4 address, IPv6 /64); separately, most connections from one
    /// address in their HTTP phase.
    pub max_connections_per_address: usize,
    /// Most connections, server-wide, that listen to channels without an
    /// account (a follower needs none, so no auth timeout ends them).
    pub max_accountless_listeners: usize,
    /// Most connections from one client address that listen to channels
    /// without an account.
    pub max_accountless_listeners_per_address: usize,
    /// Networks (CIDR, e.g. `127.0.0.1/32`) of reverse proxies whose
    /// `X-Forwarded-For` header is believed: a connection from one of them
    /// counts as the right-most untrusted address in that header.
    pub trusted_proxies: Vec<String>,
    /// Seconds a TCP connection has to complete the HTTP upgrade.
    pub handshake_timeout_secs: u64,
    /// Seconds a plain HTTP answer still being sent when the handshake
    /// timeout expires may take to finish (the web app's wasm over a slow
    /// phone link); no new request is read on that connection.
    pub http_response_timeout_secs: u64,
    /// PEM certificate chain for native TLS (`--tls-cert`); unset serves
    /// plain HTTP/WebSocket (for use behind a TLS-terminating proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for native TLS (`--tls-key`); set with `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a WebSocket connection may stay unauthenticated.
    pub auth_timeout_secs: u64,
    /// Seconds of silence after which a connection is closed (the server pings at half of it).
    pub idle_timeout_secs: u64,
    /// Seconds an undelivered envelope is kept.
    pub envelope_ttl_secs: u64,
    /// Seconds between sweeps for expired envelopes, groups, attachments and codes.
    pub sweep_interval_secs: u64,
    /// Seconds a device link code stays valid.
    pub link_code_ttl_secs: u64,
    /// Most one-time KeyPackages held per device.
    pub max_key_packages_per_device: u32,
    /// Largest KeyPackage accepted, in bytes.
    pub max_key_package_bytes: usize,
    /// Most member devices of one group.
    pub max_group_devices: usize,
    /// Largest sealed GroupInfo of a discussion group (join by link), in bytes.
    pub max_group_info_bytes: usize,
    /// Most envelopes in one `deliver` event.
    pub deliver_batch: usize,
    /// Most writes covered by one group-commit flush.
    pub flush_max_batch: usize,
    /// Milliseconds a flush waits for more writes to join it.
    pub flush_max_delay_ms: u64,
    /// Bytes after which the envelope log starts a new segment file.
    pub envelope_segment_bytes: u64,
    /// Seconds after which an envelope-log segment with records is sealed,
    /// so that deleted envelopes leave the disk within about this time.
    pub envelope_segment_max_age_secs: u64,
    /// Live envelope bytes one flush copies out of the oldest segment at
    /// most (compaction), bounding how long it delays a group commit.
    pub envelope_compact_bytes_per_flush: u64,
    /// KeyPackage claims per authenticated device per minute.
    pub claim_rate_per_minute: u32,
    /// Registrations and device links per client IP per minute (kept in memory only).
    pub register_rate_per_minute: u32,
    /// Sustained requests per second per connection (client pings and pongs count too).
    pub request_rate_per_second: u32,
    /// Requests a connection may send in a burst above the sustained rate.
    pub request_burst: u32,
    /// Sustained attachment chunk requests (upload or download) per second
    /// per connection. Chunks have their own bucket so that a photo upload
    /// (up to about 320 chunks) is not throttled like chatty requests; their
    /// volume is bounded by the attachment size limit and quota.
    pub chunk_rate_per_second: u32,
    /// Chunk requests a connection may send in a burst above that rate.
    pub chunk_burst: u32,
    /// Consecutive unreadable frames after which a connection is closed with 1008.
    pub max_bad_frames: u32,
    /// Most keys (IP addresses, devices) tracked by each rate limiter.
    pub rate_limit_max_keys: usize,
    /// `send` requests per account per minute, summed over its devices (0 disables).
    pub send_rate_per_minute_per_account: u32,
    /// `send` requests per client IP per minute, kept in memory only (0 disables).
    pub send_rate_per_minute_per_ip: u32,
    /// KeyPackage claims per account per minute, summed over its devices (0 disables).
    pub claim_rate_per_minute_per_account: u32,
    /// KeyPackage claims per client IP per minute (0 disables).
    pub claim_rate_per_minute_per_ip: u32,
    /// Attachment uploads started per account per minute (0 disables).
    pub upload_rate_per_minute_per_account: u32,
    /// Attachment uploads started per client IP per minute (0 disables).
    pub upload_rate_per_minute_per_ip: u32,
    /// Channel fetches and listens per client IP per minute (0 disables).
    pub channel_pull_rate_per_minute_per_ip: u32,
    /// Free bytes the data directory's filesystem must keep; below it writes
    /// are refused with `storage_unavailable` (0 disables the check).
    pub min_free_disk_bytes: u64,
    /// Seconds to wait for connections to close on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Admin, org-admin and staff invitation code attempts per device per minute.
    pub code_rate_per_minute: u32,
    /// Seconds a one-time org-admin code stays valid.
    pub org_claim_code_ttl_secs: u64,
    /// Largest signed org object (profile, revocation list, staff invitation, device binding), in bytes.
    pub max_profile_bytes: usize,
    /// Longest time an org may give a staff invitation before it expires, in seconds.
    pub max_invite_ttl_secs: u64,
    /// Largest attachment (encrypted blob) accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Size of an attachment chunk (upload and download), in bytes.
    pub blob_chunk_bytes: u32,
    /// Upload bytes written to an attachment file between two syncs (the
    /// last chunk and finishing always sync); at least 65536.
    pub blob_sync_bytes: u64,
    /// Seconds a completed attachment is kept.
    pub blob_ttl_secs: u64,
    /// Seconds after which an unfinished upload is deleted.
    pub upload_ttl_secs: u64,
    /// Attachment bytes an account may hold, unfinished uploads included.
    pub blob_quota_bytes: u64,
    /// Longest retention a broadcast channel may set for its posts, in days.
    pub max_channel_retention_days: u32,
    /// Time steps (30 s each) a second-factor code may be early or late,
    /// for clocks that drift; 0 accepts only the current step.
    pub totp_skew_steps: u64,
    /// Days an audit log entry is kept before the sweeper removes it.
    pub audit_retention_days: u32,
    /// Most posts returned by one `channel_fetch`.
    pub channel_fetch_limit: usize,
    /// Most channels one connection may listen to for live posts.
    pub max_channel_listens: usize,
    /// age recipients (`age1…`) every online backup is encrypted to; empty
    /// means unencrypted unless the admin names recipients.
    pub backup_recipients: Vec<String>,
    /// Most online backups staged on the server at once.
    pub max_staged_backups: usize,
    /// Seconds a staged backup is kept for download before it is deleted.
    pub backup_staging_ttl_secs: u64,
    /// Size of one backup download chunk, in bytes.
    pub backup_chunk_bytes: u32,
    /// Newest nightly archives the backup timer keeps (deploy/backup reads
    /// it with `stadtbote-server backup-rotation`); with
    /// `backup_keep_weekly` it is how long a deleted account survives in
    /// backups, which `/privacy` states.
    pub backup_keep_daily: u32,
    /// Newest Sunday archives the backup timer keeps beyond the daily ones.
    pub backup_keep_weekly: u32,
    /// Name of the operator (e.g. the town hall's IT department), shown by
    /// `/privacy` and `stadtbote server-info`; empty means not configured.
    pub operator_name: String,
    /// How to reach the operator about privacy (e-mail, address, web page);
    /// empty means not configured.
    pub operator_contact: String,
    /// Where the server's source code can be obtained, shown by `/privacy`.
    pub source_url: String,
    /// How people report accessibility barriers of the web app (e-mail,
    /// postal address or web page): the feedback contact of its
    /// "Erklärung zur Barrierefreiheit" (BITV 2.0 § 7), published in
    /// `/privacy` (`accessibility_contact`); empty means not configured.
    pub accessibility_contact: String,
    /// The enforcement body of the web app's accessibility statement: the
    /// Schlichtungsstelle or Durchsetzungsstelle responsible for the
    /// operator (for a town: its Land's), with its address or web page,
    /// published in `/privacy` (`accessibility_enforcement`); empty: the
    /// statement names the federal Schlichtungsstelle nach § 16 BGG and
    /// says that a town's Land may have its own.
    pub accessibility_enforcement: String,
    /// The address citizens open the web app at, as the browser sees it
    /// behind the proxy (`https://stadtbote.musterhausen.de`; scheme and
    /// host, optionally a port, no path). Used for links and QR codes,
    /// named in `/privacy` (`public_url`) and in the web app's
    /// Content-Security-Policy (its `wss://` origin). Empty: not
    /// configured; the policy then names the `Host` the browser asked for.
    pub public_url: String,
    /// A map tile server of the operator's own for the staff's embedded
    /// map (issue 16.6), as a URL template
    /// `https://host[:port]/path/{z}/{x}/{y}.png` (e.g. the Land's
    /// geoportal). Empty (the default): no map is embedded and the
    /// Content-Security-Policy allows images from no other origin; set,
    /// `/privacy` announces it (`map_tiles_url`) and the policy's
    /// `img-src` allows its origin (and only that).
    pub map_tiles_url: String,
    /// A directory to serve the web app from instead of the bundle built
    /// into the binary (a town's own build, see scripts/build-web.sh); read
    /// once at start. Empty: the built-in bundle.
    pub web_dir: String,
    /// The public half of the key the web app's manifest must be signed
    /// with (64 hex digits; default: the Stadtbote release key). A town
    /// that builds and signs its own app sets its own key here.
    pub web_release_key: String,
    /// Refuse to start when the web app served (built in or `web_dir`)
    /// does not match a manifest signed by `web_release_key`. `false`
    /// serves it anyway, with a warning in the log at every start (for
    /// developing the app; never in production).
    pub web_require_signed: bool,
    /// Address of the separate Prometheus `/metrics` listener (aggregate
    /// counters only); `off` or empty disables it. Keep it on loopback.
    pub metrics_listen: String,
    /// Web Push: the operator's contact for push services (`mailto:…` or
    /// `https://…`, the VAPID `sub` claim). Empty (the default) turns Web
    /// Push off.
    pub push_contact: String,
    /// Web Push: origins of the push services the server sends to
    /// (`https://host[:port]`, `https://*.domain`; `http://…` only when
    /// listed so). Endpoints of other origins are refused.
    pub push_allowed_origins: Vec<String>,
    /// Web Push: at most one push per device per this many seconds.
    pub push_min_interval_secs: u64,
    /// Web Push: most devices with a waiting (or recent) wake-up; further
    /// wake-ups are dropped while it is full.
    pub push_queue_max: usize,
    /// Web Push: most push requests in flight at once.
    pub push_max_concurrent: usize,
    /// Web Push: the `TTL` header, seconds the push service keeps a push
    /// for an unreachable browser.
    pub push_ttl_secs: u64,
    /// Web Push: the `Urgency` header (`very-low`, `low`, `normal`, `high`).
    pub push_urgency: String,
    /// Web Push: retries after `429`, `5xx` or a network error.
    pub push_max_retries: u32,
    /// Web Push: milliseconds before the first retry; doubled each time.
    pub push_retry_base_ms: u64,
    /// Web Push: seconds one push request may take, connection included.
    pub push_request_timeout_secs: u64,
    /// Web Push: longest endpoint URL accepted, in bytes.
    pub push_max_endpoint_bytes: usize,
    /// Web Push: days a subscription may go unused (no push accepted by
    /// the push service, no new registration) before the sweeper deletes
    /// it.
    pub push_subscription_ttl_days: u32,
    /// Web Push: the same in seconds; when not 0 it replaces
    /// `push_subscription_ttl_days` (tests, short-lived test servers).
    pub push_subscription_ttl_secs: u64,
    /// Tracing filter (`RUST_LOG` takes precedence when set).
    pub log: String,
    /// Storage backend: `sled` (embedded, the default) or `postgres`.
    pub store: String,
    /// PostgreSQL connection string for `store = "postgres"`; its password
    /// never appears in logs or errors (see [`DatabaseUrl`]).
    pub database_url: DatabaseUrl,
    /// PostgreSQL: connections (and connection threads) of the pool.
    pub pg_pool_size: usize,
    /// PostgreSQL: milliseconds allowed to establish one connection.
    pub pg_connect_timeout_ms: u64,
    /// PostgreSQL: milliseconds one statement (and one lock wait) may take.
    pub pg_statement_timeout_ms: u64,
    /// PostgreSQL: messages stored in one transaction at most (sends of many
    /// senders are batched, see `store::pg_send_batch`).
    pub pg_send_batch_max_messages: usize,
    /// PostgreSQL: payload bytes after which no more sends join a batch.
    pub pg_send_batch_max_bytes: usize,
    /// PostgreSQL: milliseconds a batch waits after its first send for more.
    pub pg_send_batch_delay_ms: u64,
    /// PostgreSQL: sends waiting for a batch; beyond it a send fails at once
    /// with `storage_unavailable`.
    pub pg_send_queue: usize,
    /// PostgreSQL cluster: wake-ups and posts waiting to be announced to the
    /// other nodes (NOTIFY); beyond it they collapse into one "wake all".
    pub cluster_notify_queue: usize,
    /// PostgreSQL cluster: seconds a node's presence lease lasts; renewed
    /// every third of it. A node silent for longer counts as dead.
    pub cluster_lease_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8470)),
            data_dir: PathBuf::from("./stadtbote-data"),
            pow_difficulty: 18,
            max_message_bytes: 262_144,
            max_frame_bytes: 262_144,
            read_buffer_bytes: 1024,
            write_buffer_bytes: 8192,
            max_write_buffer_bytes: 1_048_576,
            send_queue_frames: 64,
            max_pipelined_requests: 32,
            send_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_address: 500,
            max_accountless_listeners: 5000,
            max_accountless_listeners_per_address: 250,
            trusted_proxies: vec!["127.0.0.1/32".to_owned(), "::1/128".to_owned()],
            handshake_timeout_secs: 5,
            http_response_timeout_secs: 60,
            tls_cert: None,
            tls_key: None,
            auth_timeout_secs: 10,
            idle_timeout_secs: 300,
            envelope_ttl_secs: 2_592_000,
            sweep_interval_secs: 60,
            link_code_ttl_secs: 600,
            max_key_packages_per_device: 200,
            max_key_package_bytes: 16_384,
            max_group_devices: 500,
            max_group_info_bytes: 131_072,
            deliver_batch: 64,
            flush_max_batch: 1024,
            flush_max_delay_ms: 2,
            envelope_segment_bytes: 67_108_864,
            envelope_segment_max_age_secs: 3600,
            envelope_compact_bytes_per_flush: 8_388_608,
            claim_rate_per_minute: 60,
            register_rate_per_minute: 10,
            request_rate_per_second: 50,
            request_burst: 200,
            chunk_rate_per_second: 2000,
            chunk_burst: 400,
            max_bad_frames: 16,
            rate_limit_max_keys: 65_536,
            send_rate_per_minute_per_account: 300,
            send_rate_per_minute_per_ip: 3000,
            claim_rate_per_minute_per_account: 120,
            claim_rate_per_minute_per_ip: 1200,
            upload_rate_per_minute_per_account: 60,
            upload_rate_per_minute_per_ip: 600,
            channel_pull_rate_per_minute_per_ip: 6000,
            min_free_disk_bytes: 67_108_864,
            shutdown_timeout_secs: 5,
            code_rate_per_minute: 10,
            org_claim_code_ttl_secs: 604_800,
            max_profile_bytes: 65_536,
            max_invite_ttl_secs: 2_592_000,
            max_blob_bytes: 20_971_520,
            blob_chunk_bytes: 65_536,
            blob_sync_bytes: 1_048_576,
            blob_ttl_secs: 2_592_000,
            upload_ttl_secs: 86_400,
            blob_quota_bytes: 104_857_600,
            max_channel_retention_days: 365,
            totp_skew_steps: 1,
            audit_retention_days: 400,
            channel_fetch_limit: 256,
            max_channel_listens: 64,
            backup_recipients: Vec::new(),
            max_staged_backups: 2,
            backup_staging_ttl_secs: 3600,
            backup_chunk_bytes: 131_072,
            backup_keep_daily: 14,
            backup_keep_weekly: 8,
            operator_name: String::new(),
            operator_contact: String::new(),
            accessibility_contact: String::new(),
            accessibility_enforcement: String::new(),
            source_url: DEFAULT_SOURCE_URL.to_owned(),
            public_url: String::new(),
            map_tiles_url: String::new(),
            web_dir: String::new(),
            web_release_key: DEFAULT_WEB_RELEASE_KEY.to_owned(),
            web_require_signed: true,
            metrics_listen: "127.0.0.1:9470".to_owned(),
            push_contact: String::new(),
            push_allowed_origins: crate::push::origins::DEFAULT_ORIGINS
                .iter()
                .map(|origin| (*origin).to_owned())
                .collect(),
            push_min_interval_secs: 60,
            push_queue_max: 10_000,
            push_max_concurrent: 16,
            push_ttl_secs: 86_400,
            push_urgency: "normal".to_owned(),
            push_max_retries: 3,
            push_retry_base_ms: 1000,
            push_request_timeout_secs: 10,
            push_max_endpoint_bytes: 1024,
            push_subscription_ttl_days: 60,
            push_subscription_ttl_secs: 0,
            log: "info".to_owned(),
            store: STORE_SLED.to_owned(),
            database_url: DatabaseUrl::default(),
            pg_pool_size: 16,
            pg_connect_timeout_ms: 5000,
            pg_statement_timeout_ms: 10_000,
            pg_send_batch_max_messages: 256,
            pg_send_batch_max_bytes: 4 * 1024 * 1024,
            pg_send_batch_delay_ms: 1,
            pg_send_queue: 4096,
            cluster_notify_queue: 4096,
            cluster_lease_secs: 15,
        }
    }
}

/// `store` value of the embedded sled backend.
pub const STORE_SLED: &str = "sled";
/// `store` value of the PostgreSQL backend.
pub const STORE_POSTGRES: &str = "postgres";

/// A database connection string. `Debug` and `Display` show it with the
/// password replaced, so logging a configuration cannot leak it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The connection string itself (for connecting only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::store::pg_pool::redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::pg_pool::redact_url(&self.0))
    }
}

/// Values given on the command line; they override every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--metrics-listen` (an address, or `off`).
    pub metrics_listen: Option<String>,
    /// `--store` (`sled` or `postgres`).
    pub store: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// The `metrics_listen` value (and `--metrics-listen` argument) that turns
/// the `/metrics` listener off; an empty value does the same.
pub const METRICS_OFF: &str = "off";

/// Fields without a default value: absent from the serialised table, so
/// their `STADTBOTE_*` variables are recognised by name.
const OPTIONAL_PATH_FIELDS: &[&str] = &["tls_cert", "tls_key"];

/// The longest retention accepted for envelopes and link codes (ten years).
/// It keeps every millisecond timestamp computation far from overflow.
pub(crate) const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// The longest timeout or interval accepted (one year). Far larger values
/// would overflow clock arithmetic; none of them is useful.
const MAX_DURATION_SECS: u64 = 365 * 24 * 3600;

/// The largest count accepted for queue and connection limits; tokio's
/// semaphores and channels cannot hold more permits.
const MAX_COUNT: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// The smallest message limit accepted: every message must leave room for
/// the frame around an envelope (see `delivery::FRAME_OVERHEAD`).
const MIN_MESSAGE_BYTES: usize = 4096;

/// The smallest `envelope_segment_bytes` accepted: one largest message
/// must fit a segment with room to spare, or every append would seal one.
const MIN_ENVELOPE_SEGMENT_BYTES: u64 = 1_048_576;

/// The smallest `blob_sync_bytes` accepted: one default chunk. Smaller
/// values would sync every chunk anyway, only less obviously.
const MIN_BLOB_SYNC_BYTES: u64 = 65_536;

/// Bytes a frame adds around a blob chunk or a signed org object (CBOR
/// map keys, ids, version and request id); generous, like
/// `delivery::FRAME_OVERHEAD`.
pub const BLOB_FRAME_OVERHEAD: usize = 1024;

/// Encoded bytes one post adds to a `channel_posts` answer or
/// `channel_post` event besides its sealed bytes (CBOR map keys, sequence
/// number, timestamp, byte-string header); generous, like
/// `delivery::ENVELOPE_OVERHEAD`.
pub const CHANNEL_POST_OVERHEAD: usize = 64;

/// The smallest channel post limit a configuration may leave (see
/// [`Config::max_channel_post_bytes`]).
const MIN_CHANNEL_POST_BYTES: usize = 1024;

/// The most staged backups a configuration may allow; each one is a full
/// copy of the data directory on the same disk.
const MAX_STAGED_BACKUPS: usize = 16;

/// The most archives of one kind the backup timer may be told to keep
/// (about ten years of dailies); keeps the retention arithmetic small.
const MAX_BACKUP_KEEP: u32 = 3650;

/// The largest attachment size accepted (1 TiB): far above anything useful,
/// it keeps offset and quota arithmetic far from overflow.
const MAX_BLOB_BYTES: u64 = 1 << 40;

/// The largest proof-of-work difficulty a client can solve: its nonce is a
/// 64-bit counter.
const MAX_POW_DIFFICULTY: u8 = 64;

impl Config {
    /// Layers the sources: defaults, then the TOML file at `file` (if any),
    /// then `STADTBOTE_*` variables from `env`, then `overrides`; and
    /// validates the result. `env` is passed in (usually `std::env::vars()`)
    /// so that tests need not touch the process environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Self::from_toml(&text)
                    .map_err(|message| ConfigError::File { path: path.to_owned(), message })?
            }
            None => Self::default(),
        };
        let mut config = from_file.with_env(env)?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(cert) = &overrides.tls_cert {
            config.tls_cert = Some(cert.clone());
        }
        if let Some(key) = &overrides.tls_key {
            config.tls_key = Some(key.clone());
        }
        if let Some(metrics) = &overrides.metrics_listen {
            config.metrics_listen = metrics.clone();
        }
        if let Some(store) = &overrides.store {
            config.store = store.clone();
        }
        if let Some(url) = &overrides.database_url {
            config.database_url = DatabaseUrl(url.clone());
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document; missing fields take their defaults, unknown
    /// fields are an error. Returns the parser's message on failure.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `STADTBOTE_<FIELD>` variables. Each value is read with the
    /// type of the field it replaces; variables that name no field (such as
    /// `STADTBOTE_CONFIG`, or variables of the client) are ignored.
    pub fn with_env(
        self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = to_table(&self).map_err(ConfigError::Merge)?;
        for (var, value) in env {
            let Some(field) = var.strip_prefix(ENV_PREFIX) else { continue };
            let field = field.to_ascii_lowercase();
            if OPTIONAL_PATH_FIELDS.contains(&field.as_str()) {
                table.insert(field, toml::Value::String(value));
                continue;
            }
            let Some(current) = table.get(&field) else { continue };
            let parsed = match current {
                toml::Value::Integer(_) => {
                    value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|e| {
                        ConfigError::Env { var: var.clone(), message: e.to_string() }
                    })?
                }
                // Lists (the backup recipients) are comma-separated.
                toml::Value::Array(_) => toml::Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| toml::Value::String(item.to_owned()))
                        .collect(),
                ),
                toml::Value::Boolean(_) => {
                    value.trim().parse::<bool>().map(toml::Value::Boolean).map_err(|e| {
                        ConfigError::Env { var: var.clone(), message: e.to_string() }
                    })?
                }
                _ => toml::Value::String(value),
            };
            table.insert(field, parsed);
        }
        toml::Value::Table(table)
            .try_into::<Config>()
            .map_err(|e| ConfigError::Merge(e.to_string()))
    }

    /// How long a deleted account survives in the nightly backups, in
    /// days: the newest `backup_keep_daily` archives and the newest
    /// `backup_keep_weekly` Sunday archives are kept, so the last archive
    /// made before a deletion is rotated out after at most
    /// max(daily, 7 × weekly) days, plus one for the night the deletion
    /// fell in. Holds while the timer runs every night.
    pub fn backup_survival_days(&self) -> u64 {
        u64::from(self.backup_keep_daily)
            .max(u64::from(self.backup_keep_weekly).saturating_mul(7))
            .saturating_add(1)
    }

    /// The PostgreSQL pool's settings, when `store = "postgres"`.
    pub fn pg_options(&self) -> Option<crate::store::PgOptions> {
        (self.store == STORE_POSTGRES).then(|| crate::store::PgOptions {
            url: self.database_url.expose().to_owned(),
            pool_size: self.pg_pool_size,
            connect_timeout: std::time::Duration::from_millis(self.pg_connect_timeout_ms),
            statement_timeout: std::time::Duration::from_millis(self.pg_statement_timeout_ms),
            send_batch: self.pg_send_batch(),
        })
    }

    /// How the PostgreSQL store batches sends (`pg_send_*`).
    pub fn pg_send_batch(&self) -> crate::store::pg_send_batch::SendBatchOptions {
        crate::store::pg_send_batch::SendBatchOptions {
            max_messages: self.pg_send_batch_max_messages,
            max_bytes: self.pg_send_batch_max_bytes,
            max_delay: std::time::Duration::from_millis(self.pg_send_batch_delay_ms),
            queue: self.pg_send_queue,
        }
    }

    /// How long a node's presence lease lasts (`cluster_lease_secs`).
    pub fn cluster_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cluster_lease_secs)
    }

    /// Checks the storage backend's settings.
    fn validate_store(&self) -> Result<(), ConfigError> {
        match self.store.as_str() {
            STORE_SLED => Ok(()),
            STORE_POSTGRES => {
                if self.database_url.expose().trim().is_empty() {
                    return Err(ConfigError::Invalid {
                        field: "database_url",
                        reason:
                            "required with store = \"postgres\" (postgres://user:password@host/db)"
                                .to_owned(),
                    });
                }
                if self.database_url.expose().parse::<postgres::Config>().is_err() {
                    return Err(ConfigError::Invalid {
                        field: "database_url",
                        reason: "not a PostgreSQL connection string".to_owned(),
                    });
                }
                for (field, value, max) in [
                    ("pg_pool_size", self.pg_pool_size as u64, 1024),
                    ("pg_send_batch_max_messages", self.pg_send_batch_max_messages as u64, 65_536),
                    ("pg_send_batch_max_bytes", self.pg_send_batch_max_bytes as u64, 1 << 30),
                    ("pg_send_queue", self.pg_send_queue as u64, 1_048_576),
                    ("cluster_notify_queue", self.cluster_notify_queue as u64, 1_048_576),
                    ("cluster_lease_secs", self.cluster_lease_secs, 3600),
                    ("pg_connect_timeout_ms", self.pg_connect_timeout_ms, MAX_DURATION_SECS * 1000),
                    (
                        "pg_statement_timeout_ms",
                        self.pg_statement_timeout_ms,
                        MAX_DURATION_SECS * 1000,
                    ),
                ] {
                    if value == 0 || value > max {
                        return Err(ConfigError::Invalid { field, reason: format!("1 to {max}") });
                    }
                }
                if self.pg_send_batch_delay_ms > 1000 {
                    return Err(ConfigError::Invalid {
                        field: "pg_send_batch_delay_ms",
                        reason: "0 to 1000".to_owned(),
                    });
                }
                Ok(())
            }
            _ => Err(ConfigError::Invalid {
                field: "store",
                reason: "\"sled\" or \"postgres\"".to_owned(),
            }),
        }
    }

    /// Checks ranges and relations between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_store()?;
        let nonzero: &[(&'static str, u64)] = &[
            ("max_message_bytes", self.max_message_bytes as u64),
            ("max_frame_bytes", self.max_frame_bytes as u64),
            ("read_buffer_bytes", self.read_buffer_bytes as u64),
            ("max_write_buffer_bytes", self.max_write_buffer_bytes as u64),
            ("send_queue_frames", self.send_queue_frames as u64),
            ("max_pipelined_requests", self.max_pipelined_requests as u64),
            ("send_timeout_secs", self.send_timeout_secs),
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_address", self.max_connections_per_address as u64),
            ("max_accountless_listeners", self.max_accountless_listeners as u64),
            (
                "max_accountless_listeners_per_address",
                self.max_accountless_listeners_per_address as u64,
            ),
            ("handshake_timeout_secs", self.handshake_timeout_secs),
            ("http_response_timeout_secs", self.http_response_timeout_secs),
            ("auth_timeout_secs", self.auth_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("envelope_ttl_secs", self.envelope_ttl_secs),
            ("sweep_interval_secs", self.sweep_interval_secs),
            ("link_code_ttl_secs", self.link_code_ttl_secs),
            ("max_key_packages_per_device", u64::from(self.max_key_packages_per_device)),
            ("max_key_package_bytes", self.max_key_package_bytes as u64),
            ("max_group_devices", self.max_group_devices as u64),
            ("max_group_info_bytes", self.max_group_info_bytes as u64),
            ("deliver_batch", self.deliver_batch as u64),
            ("flush_max_batch", self.flush_max_batch as u64),
            ("envelope_segment_max_age_secs", self.envelope_segment_max_age_secs),
            ("envelope_compact_bytes_per_flush", self.envelope_compact_bytes_per_flush),
            ("claim_rate_per_minute", u64::from(self.claim_rate_per_minute)),
            ("register_rate_per_minute", u64::from(self.register_rate_per_minute)),
            ("request_rate_per_second", u64::from(self.request_rate_per_second)),
            ("request_burst", u64::from(self.request_burst)),
            ("chunk_rate_per_second", u64::from(self.chunk_rate_per_second)),
            ("chunk_burst", u64::from(self.chunk_burst)),
            ("max_bad_frames", u64::from(self.max_bad_frames)),
            ("rate_limit_max_keys", self.rate_limit_max_keys as u64),
            ("shutdown_timeout_secs", self.shutdown_timeout_secs),
            ("code_rate_per_minute", u64::from(self.code_rate_per_minute)),
            ("org_claim_code_ttl_secs", self.org_claim_code_ttl_secs),
            ("max_profile_bytes", self.max_profile_bytes as u64),
            ("max_invite_ttl_secs", self.max_invite_ttl_secs),
            ("max_blob_bytes", self.max_blob_bytes),
            ("blob_chunk_bytes", u64::from(self.blob_chunk_bytes)),
            ("blob_ttl_secs", self.blob_ttl_secs),
            ("upload_ttl_secs", self.upload_ttl_secs),
            ("blob_quota_bytes", self.blob_quota_bytes),
            ("max_channel_retention_days", u64::from(self.max_channel_retention_days)),
            ("audit_retention_days", u64::from(self.audit_retention_days)),
            ("channel_fetch_limit", self.channel_fetch_limit as u64),
            ("max_channel_listens", self.max_channel_listens as u64),
            ("max_staged_backups", self.max_staged_backups as u64),
            ("backup_staging_ttl_secs", self.backup_staging_ttl_secs),
            ("backup_chunk_bytes", u64::from(self.backup_chunk_bytes)),
            ("push_queue_max", self.push_queue_max as u64),
            ("push_max_concurrent", self.push_max_concurrent as u64),
            ("push_ttl_secs", self.push_ttl_secs),
            ("push_retry_base_ms", self.push_retry_base_ms),
            ("push_request_timeout_secs", self.push_request_timeout_secs),
            ("push_max_endpoint_bytes", self.push_max_endpoint_bytes as u64),
            ("push_subscription_ttl_days", u64::from(self.push_subscription_ttl_days)),
        ];
        for &(field, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        for (field, value) in [
            ("send_timeout_secs", self.send_timeout_secs),
            ("handshake_timeout_secs", self.handshake_timeout_secs),
            ("auth_timeout_secs", self.auth_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("sweep_interval_secs", self.sweep_interval_secs),
            ("shutdown_timeout_secs", self.shutdown_timeout_secs),
            ("flush_max_delay_ms", self.flush_max_delay_ms / 1000),
            ("envelope_segment_max_age_secs", self.envelope_segment_max_age_secs),
            ("push_min_interval_secs", self.push_min_interval_secs),
            ("push_retry_base_ms", self.push_retry_base_ms / 1000),
            ("push_request_timeout_secs", self.push_request_timeout_secs),
        ] {
            if value > MAX_DURATION_SECS {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be at most {MAX_DURATION_SECS} seconds (one year)"),
                });
            }
        }
        for (field, value) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_address", self.max_connections_per_address),
            ("max_accountless_listeners", self.max_accountless_listeners),
            ("max_accountless_listeners_per_address", self.max_accountless_listeners_per_address),
            ("send_queue_frames", self.send_queue_frames),
            ("max_pipelined_requests", self.max_pipelined_requests),
            ("flush_max_batch", self.flush_max_batch),
            ("push_queue_max", self.push_queue_max),
            ("push_max_concurrent", self.push_max_concurrent),
        ] {
            if value > MAX_COUNT {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be at most {MAX_COUNT}"),
                });
            }
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(ConfigError::Invalid {
                field: "max_message_bytes",
                reason: format!("must be at least {MIN_MESSAGE_BYTES}"),
            });
        }
        if self.pow_difficulty > MAX_POW_DIFFICULTY {
            return Err(ConfigError::Invalid {
                field: "pow_difficulty",
                reason: format!("must be at most {MAX_POW_DIFFICULTY}"),
            });
        }
        if self.max_frame_bytes > self.max_message_bytes {
            return Err(ConfigError::Invalid {
                field: "max_frame_bytes",
                reason: "must not exceed max_message_bytes".into(),
            });
        }
        // The WebSocket library refuses (panics on) a write-buffer cap that is
        // not above the write buffer, and a cap below one whole message would
        // fail every large delivery; check both here with a clear error.
        let needed = self.write_buffer_bytes.saturating_add(self.max_message_bytes);
        if self.max_write_buffer_bytes <= needed {
            return Err(ConfigError::Invalid {
                field: "max_write_buffer_bytes",
                reason: format!(
                    "must be greater than write_buffer_bytes + max_message_bytes ({needed})"
                ),
            });
        }
        if self.max_key_package_bytes > self.max_message_bytes {
            return Err(ConfigError::Invalid {
                field: "max_key_package_bytes",
                reason: "must not exceed max_message_bytes".into(),
            });
        }
        for (field, value) in [
            ("envelope_ttl_secs", self.envelope_ttl_secs),
            ("link_code_ttl_secs", self.link_code_ttl_secs),
            ("org_claim_code_ttl_secs", self.org_claim_code_ttl_secs),
            ("max_invite_ttl_secs", self.max_invite_ttl_secs),
            ("blob_ttl_secs", self.blob_ttl_secs),
            ("upload_ttl_secs", self.upload_ttl_secs),
        ] {
            if value > MAX_TTL_SECS {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must be at most {MAX_TTL_SECS} (ten years)"),
                });
            }
        }
        // Signed org objects travel inside one frame each (and together in
        // the org directory answer), so each must leave room for the frame.
        let object_room = self.max_message_bytes.saturating_sub(BLOB_FRAME_OVERHEAD);
        if self.max_profile_bytes > object_room {
            return Err(ConfigError::Invalid {
                field: "max_profile_bytes",
                reason: format!(
                    "must be at most max_message_bytes - {BLOB_FRAME_OVERHEAD} ({object_room})"
                ),
            });
        }
        // A sealed GroupInfo travels in one `group_info_put` request and one
        // `group_info` answer, so it must leave room for the frame.
        if self.max_group_info_bytes > object_room {
            return Err(ConfigError::Invalid {
                field: "max_group_info_bytes",
                reason: format!(
                    "must be at most max_message_bytes - {BLOB_FRAME_OVERHEAD} ({object_room})"
                ),
            });
        }
        // A chunk travels in one `upload_chunk` request and one `blob_chunk`
        // answer; a client typically sends each message as one WebSocket
        // frame, so the frame limit is the binding one.
        let chunk_room = self.max_frame_bytes.saturating_sub(BLOB_FRAME_OVERHEAD);
        // A backup chunk travels in one frame like an attachment chunk.
        if self.backup_chunk_bytes as usize > chunk_room {
            return Err(ConfigError::Invalid {
                field: "backup_chunk_bytes",
                reason: format!(
                    "must be at most max_frame_bytes - {BLOB_FRAME_OVERHEAD} ({chunk_room})"
                ),
            });
        }
        if self.max_staged_backups > MAX_STAGED_BACKUPS {
            return Err(ConfigError::Invalid {
                field: "max_staged_backups",
                reason: format!("must be at most {MAX_STAGED_BACKUPS}"),
            });
        }
        if self.backup_keep_daily > MAX_BACKUP_KEEP || self.backup_keep_weekly > MAX_BACKUP_KEEP {
            return Err(ConfigError::Invalid {
                field: if self.backup_keep_daily > MAX_BACKUP_KEEP {
                    "backup_keep_daily"
                } else {
                    "backup_keep_weekly"
                },
                reason: format!("must be at most {MAX_BACKUP_KEEP}"),
            });
        }
        if self.backup_staging_ttl_secs > MAX_DURATION_SECS {
            return Err(ConfigError::Invalid {
                field: "backup_staging_ttl_secs",
                reason: format!("must be at most {MAX_DURATION_SECS} seconds (one year)"),
            });
        }
        self.validate_push()?;
        if let Some(bad) = self
            .backup_recipients
            .iter()
            .find(|r| r.trim().parse::<age::x25519::Recipient>().is_err())
        {
            return Err(ConfigError::Invalid {
                field: "backup_recipients",
                reason: format!("{bad:?} is not an age x25519 recipient (age1…)"),
            });
        }
        if self.blob_chunk_bytes as usize > chunk_room {
            return Err(ConfigError::Invalid {
                field: "blob_chunk_bytes",
                reason: format!(
                    "must be at most max_frame_bytes - {BLOB_FRAME_OVERHEAD} ({chunk_room})"
                ),
            });
        }
        if self.max_blob_bytes.div_ceil(u64::from(self.blob_chunk_bytes.max(1)))
            > u64::from(u32::MAX)
        {
            return Err(ConfigError::Invalid {
                field: "max_blob_bytes",
                reason: "must not need more than 2^32 - 1 chunks of blob_chunk_bytes".into(),
            });
        }
        if self.blob_sync_bytes < MIN_BLOB_SYNC_BYTES {
            return Err(ConfigError::Invalid {
                field: "blob_sync_bytes",
                reason: format!("must be at least {MIN_BLOB_SYNC_BYTES}"),
            });
        }
        if self.envelope_segment_bytes < MIN_ENVELOPE_SEGMENT_BYTES
            || self.envelope_segment_bytes < 4 * self.max_message_bytes as u64
        {
            return Err(ConfigError::Invalid {
                field: "envelope_segment_bytes",
                reason: format!(
                    "must be at least {MIN_ENVELOPE_SEGMENT_BYTES} and at least four times max_message_bytes"
                ),
            });
        }
        if self.max_blob_bytes > MAX_BLOB_BYTES {
            return Err(ConfigError::Invalid {
                field: "max_blob_bytes",
                reason: format!("must be at most {MAX_BLOB_BYTES}"),
            });
        }
        if self.blob_quota_bytes < self.max_blob_bytes {
            return Err(ConfigError::Invalid {
                field: "blob_quota_bytes",
                reason: "must be at least max_blob_bytes, or the largest attachment could never be uploaded".into(),
            });
        }
        if u64::from(self.audit_retention_days) * 86_400 > MAX_TTL_SECS {
            return Err(ConfigError::Invalid {
                field: "audit_retention_days",
                reason: format!("must be at most {} (ten years)", MAX_TTL_SECS / 86_400),
            });
        }
        // More than ten minutes either way would let a stolen code live on.
        if self.totp_skew_steps > 20 {
            return Err(ConfigError::Invalid {
                field: "totp_skew_steps",
                reason: "must be at most 20 (ten minutes either way)".into(),
            });
        }
        if u64::from(self.max_channel_retention_days) * 86_400 > MAX_TTL_SECS {
            return Err(ConfigError::Invalid {
                field: "max_channel_retention_days",
                reason: format!("must be at most {} (ten years)", MAX_TTL_SECS / 86_400),
            });
        }
        // A channel post must fit one `channel_posts` answer together with
        // the channel's sealed metadata (at most max_profile_bytes).
        if self.max_channel_post_bytes() < MIN_CHANNEL_POST_BYTES {
            return Err(ConfigError::Invalid {
                field: "max_profile_bytes",
                reason: format!(
                    "must leave at least {MIN_CHANNEL_POST_BYTES} bytes for a channel post: \
                     max_message_bytes - max_profile_bytes - {} must be at least that",
                    BLOB_FRAME_OVERHEAD + CHANNEL_POST_OVERHEAD
                ),
            });
        }
        if u32::try_from(self.max_group_devices).is_err() {
            return Err(ConfigError::Invalid {
                field: "max_group_devices",
                reason: "must fit in 32 bits".into(),
            });
        }
        if let Err(reason) = self.trusted_proxy_networks() {
            return Err(ConfigError::Invalid { field: "trusted_proxies", reason });
        }
        if let Err(reason) = self.metrics_addr() {
            return Err(ConfigError::Invalid { field: "metrics_listen", reason });
        }
        if self.web_release_key().is_none() {
            return Err(ConfigError::Invalid {
                field: "web_release_key",
                reason: "must be a release key's public half: 64 hex digits (the second \
                         word of the .pub file `stadtbote web-sign --new-key` wrote)"
                    .into(),
            });
        }
        if let Err(reason) = check_public_url(&self.public_url) {
            return Err(ConfigError::Invalid { field: "public_url", reason });
        }
        if let Err(reason) = check_map_tiles_url(&self.map_tiles_url) {
            return Err(ConfigError::Invalid { field: "map_tiles_url", reason });
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid {
                field: if self.tls_cert.is_some() { "tls_key" } else { "tls_cert" },
                reason: "native TLS needs both tls_cert and tls_key (or neither)".into(),
            });
        }
        if let Err(e) = log_filter(&self.log) {
            return Err(ConfigError::Invalid {
                field: "log",
                reason: format!("not a valid tracing filter: {e}"),
            });
        }
        Ok(())
    }

    /// The key the web app's manifest must be signed with (`None` when
    /// `web_release_key` is not a key; `validate` refuses that).
    pub fn web_release_key(&self) -> Option<stadtbote_protocol::auth::IdentityKey> {
        stadtbote_protocol::web_manifest::parse_release_key(&self.web_release_key)
    }

    /// `map_tiles_url` (trimmed), when configured.
    pub fn map_tiles_url(&self) -> Option<&str> {
        Some(self.map_tiles_url.trim()).filter(|url| !url.is_empty())
    }

    /// The origin (`https://host[:port]`) of `map_tiles_url`, when
    /// configured: what the Content-Security-Policy's `img-src` allows.
    pub fn map_tiles_origin(&self) -> Option<String> {
        let rest = self.map_tiles_url()?.strip_prefix("https://")?;
        let host = rest.split('/').next().filter(|h| !h.is_empty())?;
        Some(format!("https://{host}"))
    }

    /// `public_url` without a trailing `/`; empty when not configured.
    pub fn public_url(&self) -> &str {
        self.public_url.trim().trim_end_matches('/')
    }

    /// The `/metrics` listener's address; `None` when `metrics_listen` is
    /// empty or `off` (metrics disabled).
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        let spec = self.metrics_listen.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case(METRICS_OFF) {
            return Ok(None);
        }
        spec.parse::<SocketAddr>()
            .map(Some)
            .map_err(|e| format!("not an address and port (or `off` to disable): {e}"))
    }

    /// Checks the Web Push fields: the contact's form, the allow-list's
    /// entries, the urgency, and bounds on retries and the URL length.
    fn validate_push(&self) -> Result<(), ConfigError> {
        let contact = self.push_contact.trim();
        let contact_ok = contact.is_empty()
            || ((contact.starts_with("mailto:") && contact.len() > 7 && contact.contains('@'))
                || (contact.starts_with("https://") && contact.len() > 8))
                && !contact.chars().any(|c| c.is_whitespace() || c.is_control());
        if !contact_ok {
            return Err(ConfigError::Invalid {
                field: "push_contact",
                reason: "must be empty (push off), a mailto: address or an https:// URL".into(),
            });
        }
        crate::push::PushSettings::from_config(self).map_err(|reason| {
            let field = if reason.starts_with("must be one of") {
                "push_urgency"
            } else {
                "push_allowed_origins"
            };
            ConfigError::Invalid { field, reason }
        })?;
        if self.push_max_retries > 16 {
            return Err(ConfigError::Invalid {
                field: "push_max_retries",
                reason: "must be at most 16".into(),
            });
        }
        if !(64..=8192).contains(&self.push_max_endpoint_bytes) {
            return Err(ConfigError::Invalid {
                field: "push_max_endpoint_bytes",
                reason: "must be between 64 and 8192".into(),
            });
        }
        if u64::from(self.push_subscription_ttl_days) * 86_400 > MAX_TTL_SECS {
            return Err(ConfigError::Invalid {
                field: "push_subscription_ttl_days",
                reason: format!("must be at most {} days", MAX_TTL_SECS / 86_400),
            });
        }
        if self.push_subscription_ttl_secs > MAX_TTL_SECS {
            return Err(ConfigError::Invalid {
                field: "push_subscription_ttl_secs",
                reason: format!("must be at most {MAX_TTL_SECS} seconds"),
            });
        }
        if self.push_ttl_secs > 2_419_200 {
            return Err(ConfigError::Invalid {
                field: "push_ttl_secs",
                reason: "must be at most 2419200 (four weeks)".into(),
            });
        }
        Ok(())
    }

    /// Seconds a push subscription may go unused before it is deleted:
    /// `push_subscription_ttl_secs` when set, else the days.
    pub fn push_subscription_ttl(&self) -> u64 {
        if self.push_subscription_ttl_secs > 0 {
            self.push_subscription_ttl_secs
        } else {
            u64::from(self.push_subscription_ttl_days).saturating_mul(86_400)
        }
    }

    /// The parsed `trusted_proxies`; the error names the entry that is not
    /// an IP network.
    pub fn trusted_proxy_networks(&self) -> Result<crate::forwarded::TrustedProxies, String> {
        crate::forwarded::TrustedProxies::parse(&self.trusted_proxies)
    }

    /// The largest sealed channel post accepted, in bytes: what is left of a
    /// message after the frame, the channel's sealed metadata (at most
    /// `max_profile_bytes`) and one post record's fields, so that every post
    /// fits a `channel_posts` answer and a `channel_post` event.
    pub fn max_channel_post_bytes(&self) -> usize {
        self.max_message_bytes.saturating_sub(
            self.max_profile_bytes
                .saturating_add(BLOB_FRAME_OVERHEAD)
                .saturating_add(CHANNEL_POST_OVERHEAD),
        )
    }

    /// [`Self::send_timeout_secs`] as a duration.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs)
    }

    /// [`Self::http_response_timeout_secs`] as a duration.
    pub fn http_response_timeout(&self) -> Duration {
        Duration::from_secs(self.http_response_timeout_secs)
    }

    /// [`Self::handshake_timeout_secs`] as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    /// [`Self::auth_timeout_secs`] as a duration.
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }

    /// [`Self::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// [`Self::sweep_interval_secs`] as a duration.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }

    /// The envelope log's options from `envelope_*`.
    pub fn envelope_log_options(&self) -> crate::store::envelope_log::LogOptions {
        crate::store::envelope_log::LogOptions {
            segment_bytes: self.envelope_segment_bytes,
            segment_max_age: Duration::from_secs(self.envelope_segment_max_age_secs),
            compact_bytes_per_sync: self.envelope_compact_bytes_per_flush,
        }
    }

    /// [`Self::flush_max_delay_ms`] as a duration.
    pub fn flush_max_delay(&self) -> Duration {
        Duration::from_millis(self.flush_max_delay_ms)
    }

    /// [`Self::shutdown_timeout_secs`] as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

/// Libraries whose debug and trace output can contain keys, payloads or
/// peer details (sled logs tree keys, tungstenite logs whole messages). They
/// are held at `warn` unless the filter names them explicitly, so that
/// `log = "debug"` never leaks what the server itself is careful not to log.
const QUIET_TARGETS: &[&str] =
    &["sled", "tungstenite", "tokio_tungstenite", "hyper", "hyper_util", "axum", "tower", "mio"];

/// Builds the tracing filter for `spec` (the `log` field or `RUST_LOG`),
/// holding [`QUIET_TARGETS`] at `warn` unless `spec` names them.
pub fn log_filter(spec: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    let mut filter = tracing_subscriber::EnvFilter::try_new(spec).map_err(|e| e.to_string())?;
    let named: Vec<&str> = spec
        .split(',')
        .filter_map(|directive| directive.split(['=', '[']).next())
        .map(str::trim)
        .collect();
    for target in QUIET_TARGETS {
        let mentioned = named
            .iter()
            .any(|n| n == target || n.strip_prefix(target).is_some_and(|r| r.starts_with("::")));
        if !mentioned {
            let directive = format!("{target}=warn").parse().map_err(|e| format!("{e}"))?;
            filter = filter.add_directive(directive);
        }
    }
    Ok(filter)
}

/// `public_url` must be empty or `http(s)://host[:port]` (an optional
/// trailing `/`): links and QR codes append their own path and fragment,
/// and the Content-Security-Policy repeats the host.
fn check_public_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return Err(format!("{url:?} must start with https:// (or http:// for a test server)"));
    };
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let plain = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if host.is_empty() || !plain || host.starts_with(['.', '-', ':']) {
        return Err(format!(
            "{url:?} must be only scheme, host and optional port, e.g. https://stadtbote.musterhausen.de"
        ));
    }
    Ok(())
}

/// `map_tiles_url` must be empty or an https URL template: host (and
/// optional port) of plain characters, a path holding `{z}`, `{x}` and
/// `{y}`, and nothing a header or policy could misread (no quotes, spaces,
/// `;` or `,`: its origin goes into the Content-Security-Policy).
fn check_map_tiles_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let example = "e.g. https://tiles.geoportal.example/{z}/{x}/{y}.png";
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(format!("{url:?} must start with https:// ({example})"));
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let plain_host = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if host.is_empty() || !plain_host || host.starts_with(['.', '-', ':']) {
        return Err(format!("{url:?} must name a plain host after https:// ({example})"));
    }
    let plain_path =
        path.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/{}?&=%+@!$*()".contains(&b));
    let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| path.contains(p));
    if !plain_path || !placeholders || url.len() > 512 {
        return Err(format!(
            "{url:?} must be a tile URL template with {{z}}, {{x}} and {{y}} and no spaces, \
             quotes, ';' or ',' (at most 512 characters; {example})"
        ));
    }
    Ok(())
}

/// The configuration as a TOML table, field name to value.
pub fn to_table(config: &Config) -> Result<toml::Table, String> {
    match toml::Value::try_from(config) {
        Ok(toml::Value::Table(table)) => Ok(table),
        Ok(_) => Err("configuration did not serialise to a table".into()),
        Err(e) => Err(format!("cannot represent configuration: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/stadtbote.example.toml");

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_default_web_release_key_is_the_project_release_key() {
        let key = Config::default().web_release_key();
        assert_eq!(key, Some(stadtbote_protocol::web_manifest::RELEASE_KEY));
        let bad = Config { web_release_key: "abc".into(), ..Config::default() };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::Invalid { field: "web_release_key", .. })
        ));
        let env = Config::default()
            .with_env([("STADTBOTE_WEB_REQUIRE_SIGNED".to_owned(), "false".to_owned())])
            .unwrap();
        assert!(!env.web_require_signed);
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn example_file_equals_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn example_file_sets_every_field_explicitly() {
        // Equality with the defaults alone would not notice a field missing
        // from the example (serde fills it in); compare the key sets too.
        let example: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let defaults = to_table(&Config::default()).unwrap();
        let mut missing: Vec<&String> =
            defaults.keys().filter(|k| !example.contains_key(*k)).collect();
        missing.sort();
        assert!(missing.is_empty(), "fields missing from the example file: {missing:?}");
        assert_eq!(example.len(), defaults.len());
        // Every field is introduced by a comment line in the example file.
        for key in defaults.keys() {
            let line = EXAMPLE
                .lines()
                .position(|l| l.starts_with(&format!("{key} =")))
                .unwrap_or_else(|| panic!("no line for {key}"));
            let previous = EXAMPLE.lines().nth(line.saturating_sub(1)).unwrap_or("");
            assert!(previous.starts_with('#'), "field {key} has no comment above it");
        }
    }

    #[test]
    fn tls_needs_cert_and_key_from_any_source() {
        let err =
            Config::load(None, env(&[("STADTBOTE_TLS_CERT", "/c.pem")]), &Overrides::default())
                .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "tls_key", .. }), "{err}");
        let config = Config::load(
            None,
            env(&[("STADTBOTE_TLS_CERT", "/c.pem"), ("STADTBOTE_TLS_KEY", "/k.pem")]),
            &Overrides { tls_key: Some(PathBuf::from("/flag.pem")), ..Overrides::default() },
        )
        .unwrap();
        assert_eq!(config.tls_cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(config.tls_key, Some(PathBuf::from("/flag.pem")));
        let from_file = Config::from_toml("tls_cert = \"/a\"\ntls_key = \"/b\"\n").unwrap();
        from_file.validate().unwrap();
        assert!(Config::default().tls_cert.is_none());
    }

    #[test]
    fn map_tiles_url_is_an_https_template_whose_origin_is_plain() {
        let config = Config::default();
        assert_eq!((config.map_tiles_url(), config.map_tiles_origin()), (None, None));
        let good = "https://tiles.geo.example:8443/wmts/{z}/{x}/{y}.png?layer=dop";
        let config = Config { map_tiles_url: good.into(), ..Config::default() };
        assert!(config.validate().is_ok());
        assert_eq!(config.map_tiles_origin().as_deref(), Some("https://tiles.geo.example:8443"));
        for bad in [
            "http://tiles.example/{z}/{x}/{y}.png",
            "https://tiles.example/{z}/{x}.png",
            "https://tiles.example; script-src */{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}/{y}.png 'unsafe-inline'",
            "https:///{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}/{y},https://evil.example",
            "tiles.example/{z}/{x}/{y}",
        ] {
            let config = Config { map_tiles_url: bad.into(), ..Config::default() };
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("map_tiles_url"), "{bad}: {error}");
        }
    }

    #[test]
    fn public_url_is_scheme_host_and_port_only() {
        for good in
            ["", "https://stadtbote.musterhausen.de", "https://a.de/", "http://127.0.0.1:8470"]
        {
            let config = Config { public_url: good.into(), ..Config::default() };
            assert!(config.validate().is_ok(), "{good}");
        }
        for bad in [
            "stadtbote.de",
            "https://a.de/app",
            "https://a.de?x",
            "https://",
            "ftp://a.de",
            "https://a b.de",
        ] {
            let config = Config { public_url: bad.into(), ..Config::default() };
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("public_url"), "{bad}: {error}");
        }
        let config = Config { public_url: "https://a.de/".into(), ..Config::default() };
        assert_eq!(config.public_url(), "https://a.de");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            Config::from_toml("listen = \"127.0.0.1:1\"\nmax_mesage_bytes = 5\n").unwrap_err();
        assert!(err.contains("max_mesage_bytes"), "{err}");
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "envelope_ttl_secs = 100\nlisten = \"127.0.0.1:1000\"\n").unwrap();
        let vars = env(&[
            ("STADTBOTE_ENVELOPE_TTL_SECS", "2"),
            ("STADTBOTE_POW_DIFFICULTY", "0"),
            ("STADTBOTE_LISTEN", "127.0.0.1:2000"),
            ("STADTBOTE_LOG", "debug"),
            ("STADTBOTE_CONFIG", "/ignored"),
            ("STADTBOTE_SOMETHING_ELSE", "ignored"),
            ("HOME", "/root"),
        ]);
        let overrides = Overrides {
            listen: None,
            data_dir: Some(PathBuf::from("/tmp/x")),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), vars.clone(), &overrides).unwrap();
        assert_eq!(config.envelope_ttl_secs, 2);
        assert_eq!(config.pow_difficulty, 0);
        assert_eq!(config.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(config.log, "debug");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));

        let overrides =
            Overrides { listen: Some("127.0.0.1:3000".parse().unwrap()), ..Overrides::default() };
        let config = Config::load(Some(&path), vars, &overrides).unwrap();
        assert_eq!(config.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("./stadtbote-data"));
    }

    #[test]
    fn metrics_listen_off_disables_and_the_flag_wins_over_file_and_env() {
        let config =
            Config::load(None, env(&[("STADTBOTE_METRICS_LISTEN", "off")]), &Overrides::default())
                .unwrap();
        assert_eq!(config.metrics_addr(), Ok(None));
        let overrides =
            Overrides { metrics_listen: Some("127.0.0.1:9555".into()), ..Overrides::default() };
        let config =
            Config::load(None, env(&[("STADTBOTE_METRICS_LISTEN", "off")]), &overrides).unwrap();
        assert_eq!(config.metrics_addr(), Ok(Some("127.0.0.1:9555".parse().unwrap())));
        let overrides = Overrides { metrics_listen: Some("OFF".into()), ..Overrides::default() };
        assert_eq!(Config::load(None, env(&[]), &overrides).unwrap().metrics_addr(), Ok(None));
        let overrides = Overrides { metrics_listen: Some("9470".into()), ..Overrides::default() };
        let err = Config::load(None, env(&[]), &overrides).unwrap_err().to_string();
        assert!(err.contains("metrics_listen") && err.contains("`off`"), "{err}");
    }

    #[test]
    fn trusted_proxies_from_the_environment_are_a_comma_separated_list() {
        let config = Config::load(
            None,
            env(&[("STADTBOTE_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.trusted_proxies, ["10.0.0.0/8", "fd00::/8"]);
        let none =
            Config::load(None, env(&[("STADTBOTE_TRUSTED_PROXIES", "")]), &Overrides::default())
                .unwrap();
        assert!(none.trusted_proxies.is_empty());
        let err = Config::load(
            None,
            env(&[("STADTBOTE_TRUSTED_PROXIES", "caddy.local")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "trusted_proxies", .. }), "{err}");
    }

    #[test]
    fn bad_env_value_is_a_clear_error() {
        let err = Config::load(
            None,
            env(&[("STADTBOTE_IDLE_TIMEOUT_SECS", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Env { ref var, .. } if var == "STADTBOTE_IDLE_TIMEOUT_SECS")
        );
        let err =
            Config::load(None, env(&[("STADTBOTE_POW_DIFFICULTY", "300")]), &Overrides::default())
                .unwrap_err();
        assert!(matches!(err, ConfigError::Merge(_)), "{err}");
    }

    #[test]
    fn validation_rejects_zero_limits_and_bad_relations() {
        let err = Config { deliver_batch: 0, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "deliver_batch", .. }));
        let err = Config { max_frame_bytes: 1 << 20, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_frame_bytes", .. }));
        let err =
            Config { max_write_buffer_bytes: 8192, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_write_buffer_bytes", .. }));
        let err = Config { pow_difficulty: 65, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "pow_difficulty", .. }));
        let err =
            Config { idle_timeout_secs: u64::MAX, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "idle_timeout_secs", .. }));
        let err = Config { max_message_bytes: 100, max_frame_bytes: 100, ..Config::default() }
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_message_bytes", .. }));
        let err =
            Config { max_connections_per_address: 0, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_connections_per_address", .. }));
        let err = Config { max_accountless_listeners_per_address: 0, ..Config::default() }
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid { field: "max_accountless_listeners_per_address", .. }
        ));
        let err =
            Config { max_accountless_listeners: 0, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_accountless_listeners", .. }));
        let err = Config { trusted_proxies: vec!["10.0.0.0/33".into()], ..Config::default() }
            .validate()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { field: "trusted_proxies", ref reason } if reason.contains("10.0.0.0/33")),
            "{err}"
        );
        Config { trusted_proxies: vec![], ..Config::default() }.validate().unwrap();
        let err = Config { log: "[[[".into(), ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "log", .. }));
        let err = Config { blob_chunk_bytes: 262_144, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "blob_chunk_bytes", .. }));
        let err =
            Config { max_profile_bytes: 262_144, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_profile_bytes", .. }));
        let err = Config { envelope_segment_bytes: 1_048_575, ..Config::default() }
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "envelope_segment_bytes", .. }));
        let err = Config {
            envelope_segment_bytes: 1 << 20,
            max_message_bytes: 1 << 19,
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "envelope_segment_bytes", .. }));
        Config { envelope_segment_bytes: 1 << 20, ..Config::default() }.validate().unwrap();
        let err = Config { blob_sync_bytes: 65_535, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "blob_sync_bytes", .. }));
        Config { blob_sync_bytes: 65_536, ..Config::default() }.validate().unwrap();
        let err = Config { blob_quota_bytes: 1, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "blob_quota_bytes", .. }));
        let err =
            Config { max_channel_retention_days: 0, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_channel_retention_days", .. }));
        let err = Config { max_profile_bytes: 262_144 - 1024, ..Config::default() }
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "max_profile_bytes", .. }));
        let err = Config { upload_ttl_secs: 0, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "upload_ttl_secs", .. }));
        let err =
            Config { blob_ttl_secs: MAX_TTL_SECS + 1, ..Config::default() }.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { field: "blob_ttl_secs", .. }));
        // Zero proof-of-work and a one-second sweep are allowed (tests use them).
        Config { pow_difficulty: 0, sweep_interval_secs: 1, ..Config::default() }
            .validate()
            .unwrap();
    }

    #[test]
    fn log_filter_quiets_chatty_libraries_unless_named() {
        let filter = log_filter("debug").unwrap().to_string();
        assert!(filter.contains("sled=warn") && filter.contains("tungstenite=warn"), "{filter}");
        let filter = log_filter("info,sled::pagecache=debug").unwrap().to_string();
        assert!(!filter.contains("sled=warn") && filter.contains("hyper=warn"), "{filter}");
        assert!(log_filter("[[[").is_err());
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/stadtbote.toml")),
            env(&[]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }
}
