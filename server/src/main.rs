//! `stadtbote-server`: parses the command line and configuration, sets up
//! logging, binds the listener and runs the server until SIGINT or SIGTERM.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the server fails while
//! starting or running, 2 for an invalid command line or configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use stadtbote_server::config::{Config, Overrides, log_filter};

/// Stadtbote relay server.
///
/// Configuration precedence: built-in defaults < TOML file (--config or
/// STADTBOTE_CONFIG) < environment STADTBOTE_<FIELD> (e.g.
/// STADTBOTE_LISTEN, STADTBOTE_DATA_DIR, STADTBOTE_POW_DIFFICULTY) <
/// command-line flags. See deploy/stadtbote.example.toml for every field.
#[derive(Debug, Parser)]
#[command(name = "stadtbote-server", version)]
struct Cli {
    /// Address to listen on [default: 127.0.0.1:8470].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory for the database, created with mode 0700 [default: ./stadtbote-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "STADTBOTE_CONFIG")]
    config: Option<PathBuf>,
    /// PEM certificate chain for native TLS (with --tls-key) [env: STADTBOTE_TLS_CERT].
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for native TLS (with --tls-cert) [env: STADTBOTE_TLS_KEY].
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen,
        data_dir: cli.data_dir,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
    };
    // Variables that are not valid Unicode cannot be configuration values;
    // skipping them avoids the panic of `std::env::vars`.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let config = match Config::load(cli.config.as_deref(), env, &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("stadtbote-server: {e}");
            return ExitCode::from(2);
        }
    };
    // Unusable TLS files are a configuration error: say so before starting.
    if let Err(e) = stadtbote_server::tls::from_config(&config) {
        eprintln!("stadtbote-server: {e}");
        return ExitCode::from(2);
    }
    init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("stadtbote-server: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("stadtbote-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; `RUST_LOG` wins over the configured filter. Either way
/// the chatty libraries are held back (see `config::log_filter`).
fn init_tracing(configured: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| log_filter(&spec).ok())
        .or_else(|| log_filter(configured).ok())
        // The configured filter was validated with the configuration, so
        // this fallback is only a safety net.
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    // One machine-readable line on stdout, so that scripts and tests that
    // ask for port 0 learn the real port.
    println!("stadtbote-server listening on {addr}");
    tracing::info!(%addr, "listening");
    stadtbote_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
