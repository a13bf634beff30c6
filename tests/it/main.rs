//! End-to-end tests for Stadtbote. Every test starts the real
//! `stadtbote-server` binary on a free loopback port with its own data
//! directory and drives it with the real `stadtbote` CLI (or, below the CLI,
//! with a raw protocol client over the same WebSocket).

// A panic in a test is a failing test, which is what tests are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod groups;
mod harness;
mod malicious;
mod map_tiles;

mod a11y;
mod account;
mod admin;
mod app_links;
mod audit_anchor;
mod backup;
mod bench_smoke;
mod browser;
mod channel_attacks;
mod channel_fanout;
mod channels;
mod cli_errors;
mod conversation_ids;
mod crash;
mod deploy_files;
mod devices;
mod diskfull;
mod envelope_log;
mod german;
mod hostile;
mod limits;
mod messaging;
mod municipal;
mod org_legal;
mod org_rotation;
mod papercuts;
mod persistence;
mod photo_formats;
mod photos;
mod poster;
mod privacy;
mod push;
mod readme;
mod recovery;
mod server_http;
mod squat;
mod staff_approval;
mod staff_work;
mod terminal_text;
mod tls;
mod town_move;
mod town_ready;
mod transparency;
mod upload_crash;
mod web;
mod web_links;
// s10-follow: the channel screen in the browser.
mod web_channel;
mod web_pwa;
mod web_served;
mod web_town;
mod web_verify;
mod wire;
mod wire_codes;
// s9-pg: the PostgreSQL store end to end.
mod postgres;
// s9-pgwire: migrate into PostgreSQL, then threads and channels there.
mod pg_migrate;
// s10-nodes: several server nodes on one PostgreSQL database.
mod cluster;
// s11-nodes: one town leaves a district on PostgreSQL.
mod pg_town;

/// Runs a future to completion on a fresh single-threaded runtime. Tests mix
/// blocking CLI calls with async protocol clients, so each async part gets its
/// own short-lived runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}
