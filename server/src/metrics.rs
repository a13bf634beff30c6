//! Aggregate operational counters, served as Prometheus text (exposition
//! format 0.0.4) on a separate listener (`metrics_listen`, loopback by
//! default; see [`serve`]).
//!
//! Privacy: every metric is a server-wide total. There are no labels with
//! account, device, group, channel or IP values; the only labels are the
//! request kind (a fixed set of protocol request names, `Request::name`) and
//! the error code (a fixed set, `ErrorCode::as_str`) and the name of a
//! limit (a fixed set of static names chosen by the server).
//!
//! Metrics (all prefixed `stadtbote_`):
//! * `connections_current` (gauge): open WebSocket connections.
//! * `connections_total` (counter): WebSocket connections accepted.
//! * `requests_total{kind}` (counter): decoded requests, by request kind.
//! * `errors_total{code}` (counter): error frames sent, by error code
//!   (refused requests, bad frames and rate limits).
//! * `envelopes_stored_total` (counter): envelopes stored by `send`
//!   (one per recipient device).
//! * `envelopes_delivered_total` (counter): envelopes acknowledged (and so
//!   deleted) by their receiving device.
//! * `messages_bytes_stored_total` (counter): ciphertext bytes stored by
//!   `send` (message size times recipient devices).
//! * `channel_listeners_current` (gauge): connections listening for live
//!   channel posts.
//! * `accountless_listeners_current` (gauge): connections listening to
//!   channels without an account (capped by `max_accountless_listeners`).
//! * `connection_addresses_current` (gauge): distinct client addresses
//!   (IPv4 address, IPv6 /64) with open WebSocket connections.
//! * `connections_per_address_max` (gauge): the most WebSocket connections
//!   any one address holds now (compare with `max_connections_per_address`;
//!   a number, never the address).
//! * `channel_posts_total` (counter): channel posts stored.
//! * `rate_limited_total` (counter): requests refused by a rate limit.
//! * `bad_frames_total` (counter): unreadable frames (undecodable or text).
//! * `limit_hits_total{limit}` (counter): requests refused or connections
//!   ended by a configured limit, by the limit's fixed name (`send_rate_ip`,
//!   `message_size`, `send_queue`, `disk_space`, ...; see `docs/OPERATIONS.md`).
//! * `tls_handshake_failures_total` (counter): failed or timed-out TLS
//!   handshakes when the server terminates TLS itself.
//! * `pushes_sent_total`, `pushes_failed_total` (counters): Web Push
//!   requests the push service accepted, and wake-ups given up (after
//!   retries, refused, or the endpoint's origin no longer allowed).
//! * `pushes_coalesced_total`, `pushes_dropped_total` (counters): wake-ups
//!   merged into one already waiting, and dropped because the wake-up
//!   table was full (`push_queue_max`).
//! * `push_subscriptions_gone_total` (counter): subscriptions deleted
//!   because the push service answered 404 or 410.
//! * `push_subscriptions_expired_total` (counter): subscriptions the
//!   sweeper deleted after `push_subscription_ttl_days` without use.
//!   All push metrics are server-wide totals, never per device.
//! * `cluster_notifications_sent_total`, `cluster_notifications_received_total`,
//!   `cluster_posts_read_total`, `cluster_resyncs_total`,
//!   `cluster_overflows_total` (counters; zero on a single node): NOTIFY
//!   payloads sent to and announcements received from the other nodes on
//!   the same PostgreSQL database, channel posts read for them (once per
//!   post and node), wake-alls and dropped announcements (`crate::cluster`).
//!
//! Counters start at zero when the server starts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::shutdown::ShutdownSignal;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's counters. Shared through the [`crate::relay::Relay`].
#[derive(Debug, Default)]
pub struct Metrics {
    connections_current: AtomicU64,
    connections_total: AtomicU64,
    /// Keyed by `Request::name` (a fixed set of static names).
    requests: Mutex<BTreeMap<&'static str, u64>>,
    /// Keyed by `ErrorCode::as_str` (a fixed set of static names).
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Keyed by the limit's fixed name.
    limit_hits: Mutex<BTreeMap<&'static str, u64>>,
    envelopes_stored: AtomicU64,
    envelopes_delivered: AtomicU64,
    message_bytes_stored: AtomicU64,
    channel_posts: AtomicU64,
    rate_limited: AtomicU64,
    bad_frames: AtomicU64,
}

/// Gauges read at scrape time from elsewhere in the server.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Connections listening for live channel posts.
    pub channel_listeners: u64,
    /// Connections listening to channels without an account.
    pub accountless_listeners: u64,
    /// Distinct client addresses with open WebSocket connections.
    pub connection_addresses: u64,
    /// The most WebSocket connections one address holds.
    pub connections_per_address_max: u64,
    /// Web Push counts (totals only).
    pub push: crate::push::PushTotals,
    /// Cluster counts (totals only; zero on a single node).
    pub cluster: crate::cluster::ClusterTotals,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *map.entry(key).or_insert(0) += 1;
}

fn snapshot(map: &Mutex<BTreeMap<&'static str, u64>>) -> BTreeMap<&'static str, u64> {
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

impl Metrics {
    /// A WebSocket connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_current.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket connection ended.
    pub fn connection_closed(&self) {
        // Never below zero, even if calls were ever unbalanced.
        let _ = self
            .connections_current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// Open WebSocket connections now.
    pub fn connections_current(&self) -> u64 {
        self.connections_current.load(Ordering::Relaxed)
    }

    /// A request of `kind` (`Request::name`) was decoded.
    pub fn request(&self, kind: &'static str) {
        bump(&self.requests, kind);
    }

    /// An error frame with `code` (`ErrorCode::as_str`) was sent.
    pub fn error(&self, code: &'static str) {
        bump(&self.errors, code);
    }

    /// A request was refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// A configured limit refused a request or ended a connection. `limit`
    /// is a fixed name chosen by the server, never client data.
    pub fn limit_hit(&self, limit: &'static str) {
        bump(&self.limit_hits, limit);
    }

    /// How often `limit` was hit so far.
    pub fn limit_hits(&self, limit: &str) -> u64 {
        snapshot(&self.limit_hits).get(limit).copied().unwrap_or(0)
    }

    /// An unreadable frame arrived.
    pub fn bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    /// `send` stored one envelope of `bytes` for each of `recipients`.
    pub fn envelopes_stored(&self, recipients: u64, bytes: u64) {
        self.envelopes_stored.fetch_add(recipients, Ordering::Relaxed);
        self.message_bytes_stored.fetch_add(bytes.saturating_mul(recipients), Ordering::Relaxed);
    }

    /// `count` envelopes were acknowledged and deleted.
    pub fn envelopes_delivered(&self, count: u64) {
        self.envelopes_delivered.fetch_add(count, Ordering::Relaxed);
    }

    /// A channel post was stored.
    pub fn channel_post(&self) {
        self.channel_posts.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics in Prometheus text exposition format 0.0.4.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut single = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP stadtbote_{name} {help}");
            let _ = writeln!(out, "# TYPE stadtbote_{name} {kind}");
            let _ = writeln!(out, "stadtbote_{name} {value}");
        };
        single(
            "connections_current",
            "gauge",
            "Open WebSocket connections.",
            load(&self.connections_current),
        );
        single(
            "connections_total",
            "counter",
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        single(
            "envelopes_stored_total",
            "counter",
            "Envelopes stored by send, one per recipient device.",
            load(&self.envelopes_stored),
        );
        single(
            "envelopes_delivered_total",
            "counter",
            "Envelopes acknowledged by their receiving device.",
            load(&self.envelopes_delivered),
        );
        single(
            "messages_bytes_stored_total",
            "counter",
            "Ciphertext bytes stored by send.",
            load(&self.message_bytes_stored),
        );
        single(
            "channel_listeners_current",
            "gauge",
            "Connections listening for live channel posts.",
            gauges.channel_listeners,
        );
        single(
            "accountless_listeners_current",
            "gauge",
            "Connections listening to channels without an account.",
            gauges.accountless_listeners,
        );
        single(
            "connection_addresses_current",
            "gauge",
            "Distinct client addresses (IPv4 address, IPv6 /64) with open WebSocket connections.",
            gauges.connection_addresses,
        );
        single(
            "connections_per_address_max",
            "gauge",
            "The most WebSocket connections any one client address holds.",
            gauges.connections_per_address_max,
        );
        single(
            "channel_posts_total",
            "counter",
            "Channel posts stored.",
            load(&self.channel_posts),
        );
        single(
            "rate_limited_total",
            "counter",
            "Requests refused by a rate limit.",
            load(&self.rate_limited),
        );
        single(
            "bad_frames_total",
            "counter",
            "Unreadable frames received.",
            load(&self.bad_frames),
        );
        single(
            "tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out (native TLS only).",
            crate::tls::handshake_failures(),
        );
        let push = gauges.push;
        for (name, help, value) in [
            ("pushes_sent_total", "Web Push requests the push service accepted.", push.sent),
            ("pushes_failed_total", "Web Push wake-ups given up.", push.failed),
            (
                "pushes_coalesced_total",
                "Web Push wake-ups merged into one already waiting.",
                push.coalesced,
            ),
            (
                "pushes_dropped_total",
                "Web Push wake-ups dropped because the wake-up table was full.",
                push.dropped,
            ),
            (
                "push_subscriptions_gone_total",
                "Push subscriptions deleted because the push service answered 404 or 410.",
                push.expired,
            ),
            (
                "push_subscriptions_expired_total",
                "Push subscriptions deleted after push_subscription_ttl_days without use.",
                push.swept,
            ),
        ] {
            single(name, "counter", help, value);
        }
        let cluster = gauges.cluster;
        for (name, help, value) in [
            (
                "cluster_notifications_sent_total",
                "NOTIFY payloads this node sent to the other nodes (ids only).",
                cluster.notes_sent,
            ),
            (
                "cluster_notifications_received_total",
                "Announcements of other nodes this node received.",
                cluster.notes_received,
            ),
            (
                "cluster_posts_read_total",
                "Channel posts read because another node announced them (once per post and node).",
                cluster.posts_read,
            ),
            (
                "cluster_resyncs_total",
                "Times this node woke all its connections (LISTEN reconnected or a queue overflowed).",
                cluster.resyncs,
            ),
            (
                "cluster_overflows_total",
                "Announcements dropped from a full queue and replaced by one wake-all.",
                cluster.overflows,
            ),
        ] {
            single(name, "counter", help, value);
        }
        let mut labelled =
            |name: &str, label: &str, help: &str, values: BTreeMap<&'static str, u64>| {
                let _ = writeln!(out, "# HELP stadtbote_{name} {help}");
                let _ = writeln!(out, "# TYPE stadtbote_{name} counter");
                for (key, value) in values {
                    let _ =
                        writeln!(out, "stadtbote_{name}{{{label}=\"{}\"}} {value}", escape(key));
                }
            };
        labelled("requests_total", "kind", "Requests received, by kind.", snapshot(&self.requests));
        labelled("errors_total", "code", "Error frames sent, by code.", snapshot(&self.errors));
        labelled(
            "limit_hits_total",
            "limit",
            "Requests refused or connections ended by a configured limit, by limit.",
            snapshot(&self.limit_hits),
        );
        out
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serves `GET /metrics` on `listener` until `shutdown`. `gauges` is called
/// at every scrape.
pub async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    gauges: impl Fn() -> Gauges + Clone + Send + Sync + 'static,
    mut shutdown: ShutdownSignal,
) {
    let router = Router::new()
        .route(
            "/metrics",
            get(move |State(metrics): State<std::sync::Arc<Metrics>>| {
                let gauges = gauges.clone();
                async move {
                    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render(gauges()))
                        .into_response()
                }
            }),
        )
        .with_state(metrics);
    let local = listener.local_addr().ok();
    if let Some(addr) = local
        && !addr.ip().is_loopback()
    {
        tracing::warn!(%addr, "metrics listener is not on loopback");
    }
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.triggered().await })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "metrics listener failed");
    }
}

/// Binds the metrics listener, if configured.
pub async fn bind(addr: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => TcpListener::bind(addr).await.map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let metrics = Metrics::default();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.request("send");
        metrics.request("send");
        metrics.request("ack");
        metrics.error("rate_limited");
        metrics.rate_limited();
        metrics.bad_frame();
        metrics.envelopes_stored(2, 100);
        metrics.envelopes_delivered(1);
        metrics.channel_post();
        metrics.limit_hit("send_rate_ip");
        metrics.limit_hit("send_rate_ip");
        assert_eq!(metrics.limit_hits("send_rate_ip"), 2);
        let text = metrics.render(Gauges {
            channel_listeners: 3,
            accountless_listeners: 2,
            connection_addresses: 4,
            connections_per_address_max: 7,
            push: crate::push::PushTotals {
                sent: 5,
                failed: 1,
                expired: 2,
                dropped: 0,
                coalesced: 3,
                swept: 4,
            },
            cluster: crate::cluster::ClusterTotals { posts_read: 6, ..Default::default() },
        });
        for line in [
            "stadtbote_cluster_posts_read_total 6",
            "stadtbote_cluster_resyncs_total 0",
            "# TYPE stadtbote_connections_current gauge",
            "stadtbote_connections_current 1",
            "# TYPE stadtbote_connections_total counter",
            "stadtbote_connections_total 2",
            "# TYPE stadtbote_requests_total counter",
            "stadtbote_requests_total{kind=\"ack\"} 1",
            "stadtbote_requests_total{kind=\"send\"} 2",
            "stadtbote_errors_total{code=\"rate_limited\"} 1",
            "stadtbote_envelopes_stored_total 2",
            "stadtbote_envelopes_delivered_total 1",
            "stadtbote_messages_bytes_stored_total 200",
            "stadtbote_channel_listeners_current 3",
            "# TYPE stadtbote_accountless_listeners_current gauge",
            "stadtbote_accountless_listeners_current 2",
            "stadtbote_connection_addresses_current 4",
            "stadtbote_connections_per_address_max 7",
            "stadtbote_channel_posts_total 1",
            "stadtbote_rate_limited_total 1",
            "stadtbote_bad_frames_total 1",
            "# TYPE stadtbote_limit_hits_total counter",
            "stadtbote_limit_hits_total{limit=\"send_rate_ip\"} 2",
            "# TYPE stadtbote_pushes_sent_total counter",
            "stadtbote_pushes_sent_total 5",
            "stadtbote_pushes_failed_total 1",
            "stadtbote_pushes_coalesced_total 3",
            "stadtbote_pushes_dropped_total 0",
            "stadtbote_push_subscriptions_gone_total 2",
            "stadtbote_push_subscriptions_expired_total 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
        // Every line is a comment or `name[{labels}] value`, ends in a
        // newline, and every sample has HELP and TYPE before it.
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                assert!(rest.starts_with("HELP stadtbote_") || rest.starts_with("TYPE stadtbote_"));
                continue;
            }
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<u64>().is_ok(), "{line}");
            let base = name.split('{').next().unwrap();
            assert!(text.contains(&format!("# TYPE {base} ")), "{line}");
            assert!(
                base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad metric name {base}"
            );
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
