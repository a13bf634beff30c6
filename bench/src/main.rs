//! `stadtbote-bench`: a load generator that speaks Stadtbote's real
//! protocol and crypto against a running `stadtbote-server`.
//!
//! Scenarios (see docs/BENCHMARKS.md for the targets and results):
//!
//! * `idle` ([`idle`]): N authenticated idle connections, server RSS per connection;
//! * `relay` ([`relay`]): 1:1 MLS messages between online pairs, throughput and latency;
//! * `offline` ([`relay`]): a mailbox filled while its device is away, then drained;
//! * `fanout` ([`fanout`]): one channel post (or a burst of `--posts`) to N connected followers;
//! * `upload` ([`upload`]): one attachment up and down.
//! * `client-io` ([`client_io`]): wall time and bytes written of one
//!   `stadtbote send` and one `stadtbote inbox` on a device with a long
//!   history (the client, not the server; it runs the real binary).
//!
//! Every scenario prints a table; with `--json` it also prints one JSON
//! object as the last line. Crypto (registrations, groups, KeyPackages,
//! encrypted messages and attachments) is prepared before each timed
//! window. [`net`] explains why the generator drives the WebSocket itself
//! instead of the client library's one-request-at-a-time `Connection`, and
//! [`relay`] why it uses `protocol::mls` directly instead of the home-dir
//! `Client`; the fan-out publisher does use that `Client`. Start the server
//! with `deploy/bench.toml` so that its per-IP and per-account limits,
//! meant for the public internet, do not throttle a loopback load test.

mod client_io;
mod fanout;
mod idle;
mod net;
mod relay;
mod report;
mod upload;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Load generator for stadtbote-server.
#[derive(Debug, Parser)]
#[command(name = "stadtbote-bench", version)]
struct Cli {
    /// WebSocket URL of the server (ws:// only).
    #[arg(long, global = true, default_value = "ws://127.0.0.1:8470/v1/ws")]
    server: String,
    /// Print one JSON object with the results as the last line.
    #[arg(long, global = true)]
    json: bool,
    /// Loopback source addresses (127.0.0.1 …) to spread connections over
    /// when the server is on loopback.
    #[arg(long, global = true, default_value_t = 4)]
    source_addrs: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Hold N authenticated idle connections and measure server memory.
    Idle {
        /// Connections to hold.
        #[arg(long)]
        connections: usize,
        /// The server's process id, for its RSS (/proc/PID/status).
        #[arg(long)]
        server_pid: Option<u32>,
        /// Seconds to hold the connections before the second reading.
        #[arg(long, default_value_t = 2)]
        hold: u64,
    },
    /// 1:1 end-to-end encrypted messages between online pairs.
    Relay {
        /// Pairs of devices (two connections each).
        #[arg(long)]
        pairs: usize,
        /// Seconds of the timed window.
        #[arg(long)]
        duration: f64,
        /// Plaintext bytes per message.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Fixed total rate in messages/s (default: as fast as acks allow).
        #[arg(long)]
        rate: Option<f64>,
        /// Unanswered sends per connection when no rate is given.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Messages to encrypt per direction before the window (default:
        /// enough for the rate, or for 30,000 msgs/s in total).
        #[arg(long)]
        prepare: Option<usize>,
        /// The server's process id, for CPU readings.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Queue N messages for an offline device, then drain its mailbox.
    Offline {
        /// Messages to queue.
        #[arg(long)]
        messages: usize,
        /// Plaintext bytes per message.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// The server's process id, for CPU readings.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One channel post to N connected followers.
    Fanout {
        /// Followers to connect.
        #[arg(long)]
        followers: usize,
        /// The server's admin claim code file (<data-dir>/admin-claim.code
        /// of a fresh server): the scenario creates an org and a publisher.
        #[arg(long)]
        admin_code_file: PathBuf,
        /// The server's process id, for CPU readings.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Posts in a burst, one after another (each after the previous
        /// one's answer); every follower waits for all of them.
        #[arg(long, default_value_t = 1)]
        posts: usize,
        /// Seconds to wait once every follower listens, before the first
        /// post (e.g. to attach a profiler to the server; the generator
        /// prints a line to stderr when the wait begins).
        #[arg(long, default_value_t = 0.0)]
        wait_before_posts: f64,
        /// Spread the followers round robin over these server URLs
        /// (comma-separated; the nodes of one cluster on one PostgreSQL
        /// database); the publisher posts through --server. Default: all
        /// on --server.
        #[arg(long, value_delimiter = ',')]
        servers: Vec<String>,
    },
    /// Upload and download one attachment.
    Upload {
        /// Content size in MB (10^6 bytes; at most 20).
        #[arg(long)]
        size: f64,
        /// Further connections that each upload the same amount and stay
        /// open, to measure the memory one such connection keeps.
        #[arg(long, default_value_t = 8)]
        held: usize,
        /// Seconds the held connections stay open before memory is read.
        #[arg(long, default_value_t = 2.0)]
        hold_secs: f64,
        /// The held connections only register, without an upload: the
        /// control for `server_rss_kib_per_held_conn`.
        #[arg(long)]
        control: bool,
        /// The server's process id, for RSS before and after.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Wall time and bytes written of one `stadtbote send` and one
    /// `stadtbote inbox` on a device with a long history.
    ClientIo {
        /// Messages in the measured device's history before the runs.
        #[arg(long, default_value_t = 1000)]
        history: usize,
        /// Measured runs of each command.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Characters per message.
        #[arg(long, default_value_t = 100)]
        size: usize,
        /// The `stadtbote` binary (default: next to this one).
        #[arg(long)]
        stadtbote: Option<PathBuf>,
        /// Directory for the two devices' homes; must be on a disk, not
        /// tmpfs (default: the system's temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also run one `send` and one `inbox` under strace (untimed) for
        /// writes, fsyncs and renames per file.
        #[arg(long)]
        strace: bool,
    },
    /// Runs a command and prints its wall time and I/O counters as JSON
    /// (used by `client-io`).
    #[command(hide = true)]
    MeasureIo {
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<OsString>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The wrapper stays a single thread that does nothing but wait, so its
    // I/O counters are its child's (client_io.rs).
    if let Scenario::MeasureIo { command } = &cli.scenario {
        return client_io::measure_io(command);
    }
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let target = Arc::new(net::Target::new(&cli.server, cli.source_addrs).await?);
    let report = match cli.scenario {
        Scenario::Idle { connections, server_pid, hold } => {
            idle::run(target, connections, server_pid, Duration::from_secs(hold)).await?
        }
        Scenario::Relay { pairs, duration, size, rate, window, prepare, server_pid } => {
            let opts = relay::RelayOptions {
                pairs: pairs.max(1),
                duration: Duration::from_secs_f64(duration.max(0.1)),
                size,
                rate,
                window,
                prepare,
                server_pid,
            };
            relay::run_relay(target, opts).await?
        }
        Scenario::Offline { messages, size, server_pid } => {
            relay::run_offline(target, messages, size, server_pid).await?
        }
        Scenario::Fanout {
            followers,
            admin_code_file,
            server_pid,
            posts,
            wait_before_posts,
            servers,
        } => {
            let mut spread = Vec::with_capacity(servers.len());
            for url in &servers {
                spread.push(Arc::new(net::Target::new(url, cli.source_addrs).await?));
            }
            let burst = fanout::Burst {
                posts,
                wait: Duration::from_secs_f64(wait_before_posts.max(0.0)),
                spread,
            };
            fanout::run(target, followers, burst, &admin_code_file, server_pid).await?
        }
        Scenario::Upload { size, held, hold_secs, control, server_pid } => {
            let hold = Duration::from_secs_f64(hold_secs.max(0.0));
            let held = upload::Held { count: held, hold, control };
            upload::run(target, size, held, server_pid).await?
        }
        Scenario::ClientIo { history, runs, size, stadtbote, dir, strace } => {
            let stadtbote = match stadtbote {
                Some(path) => path,
                None => std::env::current_exe()?.with_file_name("stadtbote"),
            };
            let dir = dir.unwrap_or_else(std::env::temp_dir);
            let options = client_io::Options { history, runs, size, stadtbote, dir, strace };
            let server = cli.server.clone();
            tokio::task::spawn_blocking(move || client_io::run(&server, &options)).await??
        }
        Scenario::MeasureIo { .. } => anyhow::bail!("measure-io runs without the runtime"),
    };
    report.print(cli.json);
    Ok(())
}
