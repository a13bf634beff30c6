//! `stadtbote-server`: parses the command line and configuration, sets up
//! logging, binds the listener and runs the server until SIGINT or SIGTERM.
//!
//! Subcommands `restore`, `verify-backup`, `backup-key generate` and
//! `backup-rotation` are offline backup tools, `admin-reset` the offline recovery from a lost
//! admin authenticator; without one the server runs.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the server fails while
//! starting or running, 2 for an invalid command line or configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Address of the Prometheus /metrics listener, or `off` [default:
    /// 127.0.0.1:9470; env: STADTBOTE_METRICS_LISTEN]. A second server on
    /// the same machine needs another port or `off`.
    #[arg(long, value_name = "ADDR|off")]
    metrics_listen: Option<String>,
    /// Storage backend: `sled` or `postgres` [default: sled; env: STADTBOTE_STORE].
    #[arg(long, value_name = "sled|postgres")]
    store: Option<String>,
    /// PostgreSQL connection string for --store postgres
    /// [env: STADTBOTE_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Offline tools; without one, the server runs.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Offline tools (the online backup is `stadtbote admin backup`).
#[derive(Debug, Subcommand)]
enum Command {
    /// Restores a backup into a data directory (the server must not run on it).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory to create or, with --force, replace.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Replace an existing, non-empty data directory (only after the
        /// restored copy is complete).
        #[arg(long)]
        force: bool,
        /// age identity file to decrypt an encrypted backup.
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
        /// Restore the records into this empty PostgreSQL database
        /// (`postgres://…`) instead; --data-dir then receives the state
        /// files (keys, attachments): the data_dir of the servers on it.
        #[arg(long, value_name = "postgres://…")]
        database: Option<String>,
    },
    /// Checks a backup completely without writing anything.
    VerifyBackup {
        /// The backup file.
        file: PathBuf,
        /// age identity file to decrypt an encrypted backup.
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
    },
    /// Prints the nightly backup timer's rotation from the configuration
    /// (--config / STADTBOTE_CONFIG and STADTBOTE_* variables):
    /// `backup_keep_daily backup_keep_weekly` on one line, for
    /// deploy/backup/stadtbote-backup.sh.
    BackupRotation,
    /// Manages the age keys backups are encrypted to.
    BackupKey {
        #[command(subcommand)]
        action: BackupKeyAction,
    },
    /// Recovers from a lost admin authenticator: removes every server admin
    /// and their TOTP secrets and writes a new one-time claim code to
    /// DIR/admin-claim.code. The server must be stopped (with store =
    /// "postgres" from --config, STADTBOTE_STORE or --store: every node on
    /// the database; DIR is the nodes' data_dir).
    AdminReset {
        /// The server's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Confirms removing every server admin.
        #[arg(long)]
        yes: bool,
    },
    /// Moves a stopped server's data directory into another backend: a new
    /// data directory, or `postgres://…` where this build has that backend.
    /// Every record goes through the target's importer in one pass; the
    /// record counts of every collection are verified before the target is
    /// put in place. The source is left unchanged.
    Migrate {
        /// The stopped server's data directory.
        #[arg(long, value_name = "DATA_DIR")]
        from: PathBuf,
        /// A new (missing or empty) data directory, or a PostgreSQL URL.
        #[arg(long, value_name = "DIR|postgres://…")]
        to: String,
        /// With a postgres:// target: the servers' data_dir on that
        /// database (missing or empty), which receives keys/ and the
        /// attachments.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Moves one town (an org, its staff, channels, threads and their
    /// queued messages) out of or into a server's data directory. The
    /// servers involved must be stopped. See docs/OPERATIONS.md, "One town
    /// leaves the district's server".
    Town {
        #[command(subcommand)]
        action: TownAction,
    },
}

/// `town` steps.
#[derive(Debug, Subcommand)]
enum TownAction {
    /// Writes one town into a new single-town data directory (with copies
    /// of the accounts its staff and citizens need); the source is unchanged.
    Export {
        /// The stopped server's data directory.
        #[arg(long, value_name = "DATA_DIR")]
        data_dir: PathBuf,
        /// The org's handle.
        #[arg(long, value_name = "HANDLE")]
        org: String,
        /// The new data directory (missing or empty), or with --backup the
        /// new backup file.
        #[arg(long, value_name = "DIR|FILE")]
        to: PathBuf,
        /// Write a logical backup file (restorable with `restore` or `town
        /// import`) instead of a data directory.
        #[arg(long)]
        backup: bool,
        /// age recipient (age1…) to encrypt the backup file to; repeatable.
        #[arg(long, value_name = "AGE_RECIPIENT", requires = "backup")]
        recipient: Vec<String>,
        /// The district's PostgreSQL database (`postgres://…`; also store =
        /// "postgres" and database_url from the configuration): --data-dir
        /// is then the nodes' data_dir (keys, attachments). Every node
        /// must be stopped.
        #[arg(long, value_name = "postgres://…")]
        database: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Removes a town from the stopped server's data directory, after
    /// checking that EXPORT holds everything the town holds now. The store
    /// is rebuilt without it, so no trace of the org is left in its files.
    Remove {
        /// The stopped server's data directory.
        #[arg(long, value_name = "DATA_DIR")]
        data_dir: PathBuf,
        /// The org's handle.
        #[arg(long, value_name = "HANDLE")]
        org: String,
        /// The export written by `town export` (unchanged since): its data
        /// directory or backup file.
        #[arg(long, value_name = "EXPORT")]
        export: PathBuf,
        /// age identity file to read an encrypted export.
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
        /// The district's PostgreSQL database (`postgres://…`; also store =
        /// "postgres" and database_url from the configuration): the town's
        /// records are removed from it in place, --data-dir is the nodes'
        /// data_dir. Every node must be stopped.
        #[arg(long, value_name = "postgres://…")]
        database: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Puts an exported town into a new data directory for its own server.
    Import {
        /// The export written by `town export`: its data directory or
        /// backup file.
        #[arg(long, value_name = "EXPORT")]
        from: PathBuf,
        /// age identity file to decrypt an encrypted export.
        #[arg(long, value_name = "KEYFILE")]
        identity: Option<PathBuf>,
        /// The new data directory (missing or empty).
        #[arg(long, value_name = "DATA_DIR")]
        data_dir: PathBuf,
        /// Import the records into this empty PostgreSQL database
        /// (`postgres://…`) instead; --data-dir then receives the state
        /// files (keys, attachments): the data_dir of the servers on it.
        #[arg(long, value_name = "postgres://…")]
        database: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `town` step and prints its summary.
fn run_town(
    action: TownAction,
    config_file: Option<&Path>,
    backend: Overrides,
) -> anyhow::Result<()> {
    use stadtbote_server::town;
    let (summary, json, next) = match action {
        TownAction::Export { data_dir, org, to, backup, recipient, database, json } => {
            let district = district(&data_dir, database, config_file, backend)?;
            let target = if backup {
                let recipients = stadtbote_server::backup::parse_recipients(&recipient)?;
                town::ExportTo::File { path: to.clone(), recipients }
            } else {
                town::ExportTo::Dir(to.clone())
            };
            let summary = town::export_from(&district, &org, &target)
                .with_context(|| format!("export of {org} refused"))?;
            // The database (without its password) when the district is on one.
            let database = match &district {
                town::District::Postgres { options, .. } => format!(
                    " --database {}",
                    stadtbote_server::store::pg_pool::redact_url(&options.url)
                ),
                town::District::Dir(_) => String::new(),
            };
            let next = format!(
                "next: keep {} unchanged; `town import --from {} --data-dir NEW_DIR` for the \
                 town's server, then `town remove --data-dir {}{database} --org {org} --export {}`",
                to.display(),
                to.display(),
                data_dir.display(),
                to.display()
            );
            (summary, json, next)
        }
        TownAction::Remove { data_dir, org, export, identity, database, json } => {
            let district = district(&data_dir, database, config_file, backend)?;
            let identity =
                identity.as_deref().map(stadtbote_server::backup::load_identity).transpose()?;
            let summary = town::remove_from(&district, &org, &export, identity.as_ref())
                .with_context(|| format!("removal of {org} refused"))?;
            let next = match district {
                town::District::Dir(_) => {
                    "next: start stadtbote-server on the data directory again"
                }
                town::District::Postgres { .. } => "next: start the district's nodes again",
            };
            (summary, json, next.to_owned())
        }
        TownAction::Import { from, data_dir, identity, database: Some(url), json } => {
            let target = stadtbote_server::migrate::Target::parse(&url, Some(&data_dir))?;
            let stadtbote_server::migrate::Target::Postgres { url, state_dir } = &target else {
                anyhow::bail!(
                    "--database takes a postgres:// URL (or import into --data-dir alone)"
                );
            };
            let identity =
                identity.as_deref().map(stadtbote_server::backup::load_identity).transpose()?;
            let settings = settings_from_env(config_file)?;
            let summary =
                town::import_into_postgres(&from, url, state_dir, &settings, identity.as_ref())
                    .with_context(|| format!("import of {} refused", from.display()))?;
            let next = format!(
                "next: start stadtbote-server with store = \"postgres\" on {} and data_dir = {}, \
                 and claim it with the code in admin-claim.code",
                target.describe(),
                state_dir.display()
            );
            (summary, json, next)
        }
        TownAction::Import { from, data_dir, identity, database: None, json } => {
            let identity =
                identity.as_deref().map(stadtbote_server::backup::load_identity).transpose()?;
            let summary = town::import(&from, &data_dir, identity.as_ref())
                .with_context(|| format!("import of {} refused", from.display()))?;
            let next = format!(
                "next: start stadtbote-server --data-dir {} and claim it with the code in \
                 admin-claim.code",
                data_dir.display()
            );
            (summary, json, next)
        }
    };
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_counts(&summary.collections);
        println!(
            "{} of {}: {} records, {} groups, {} accounts copied, {} files; counts verified",
            summary.step,
            summary.org,
            summary.records,
            summary.groups,
            summary.accounts,
            summary.files
        );
        println!("{next}");
    }
    Ok(())
}

/// `backup-key` actions.
#[derive(Debug, Subcommand)]
enum BackupKeyAction {
    /// Writes a new age identity (mode 0600) and prints its recipient.
    Generate {
        /// Where to write the identity; must not exist.
        #[arg(long, value_name = "KEYFILE")]
        out: PathBuf,
    },
}

/// Runs an offline tool; exit 0 on success, 1 on any problem.
fn run_command(command: Command, config_file: Option<PathBuf>, backend: Overrides) -> ExitCode {
    use stadtbote_server::backup;
    let result: anyhow::Result<()> = (|| match command {
        Command::Restore { file, data_dir, force, identity, database: Some(url) } => {
            use stadtbote_server::migrate;
            let target = migrate::Target::parse(&url, Some(&data_dir))?;
            let migrate::Target::Postgres { url, state_dir } = &target else {
                anyhow::bail!(
                    "--database takes a postgres:// URL (or restore into --data-dir alone)"
                );
            };
            if force {
                anyhow::bail!(
                    "--force cannot replace a database: restore into a new, empty database \
                     (drop and create it again first)"
                );
            }
            let identity = identity.as_deref().map(backup::load_identity).transpose()?;
            let started = std::time::Instant::now();
            let settings = settings_from_env(config_file.as_deref())?;
            let (manifest, _) =
                migrate::restore_into_postgres(&file, url, state_dir, &settings, identity.as_ref())
                    .with_context(|| format!("restore of {} refused", file.display()))?;
            println!(
                "restored {} trees, {} entries, {} files ({} bytes) into {} (state files in {}) \
                 in {:.2} s; the database's record count verified",
                manifest.trees,
                manifest.entries,
                manifest.files,
                manifest.file_bytes,
                target.describe(),
                state_dir.display(),
                started.elapsed().as_secs_f64()
            );
            println!(
                "next: start stadtbote-server with store = \"postgres\", that database_url and \
                 data_dir = {}",
                state_dir.display()
            );
            Ok(())
        }
        Command::Restore { file, data_dir, force, identity, database: None } => {
            let identity = identity.as_deref().map(backup::load_identity).transpose()?;
            let started = std::time::Instant::now();
            let manifest = backup::restore::restore(&file, &data_dir, force, identity.as_ref())
                .with_context(|| format!("restore of {} refused", file.display()))?;
            println!(
                "restored {} trees, {} entries, {} files ({} bytes) into {} in {:.2} s",
                manifest.trees,
                manifest.entries,
                manifest.files,
                manifest.file_bytes,
                data_dir.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::VerifyBackup { file, identity } => {
            let identity = identity.as_deref().map(backup::load_identity).transpose()?;
            let (manifest, encrypted) = backup::restore::verify(&file, identity.as_ref())
                .with_context(|| format!("{} failed verification", file.display()))?;
            println!(
                "ok: {} trees, {} entries, {} files ({} bytes), created_at_ms {}, server {}, encrypted {}",
                manifest.trees,
                manifest.entries,
                manifest.files,
                manifest.file_bytes,
                manifest.created_at_ms,
                manifest.server_version,
                encrypted
            );
            Ok(())
        }
        Command::BackupRotation => {
            let env = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
            let config = Config::load(config_file.as_deref(), env, &Overrides::default())?;
            println!("{} {}", config.backup_keep_daily, config.backup_keep_weekly);
            Ok(())
        }
        Command::BackupKey { action: BackupKeyAction::Generate { out } } => {
            let created = format!("{} ms since 1970", stadtbote_server::backup::now_ms());
            let (identity, text) = backup::generate_identity(&created);
            backup::create::write_private(&out, text.as_bytes())
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", identity.to_public());
            Ok(())
        }
        Command::Migrate { from, to, state_dir, json } => {
            use stadtbote_server::migrate;
            let target = migrate::Target::parse(&to, state_dir.as_deref())?;
            // The pool settings (pg_pool_size, pg_*_timeout_ms) come from
            // the configuration, as for the servers on the target.
            let settings = settings_from_env(config_file.as_deref())?;
            let summary = migrate::migrate_with(&from, &target, &settings)
                .with_context(|| format!("migration of {} refused", from.display()))?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                print_counts(&summary.collections);
                println!(
                    "migrated {} records in {} collections and {} files ({} bytes) from {} to \
                     {} in {:.2} s; every collection's count verified",
                    summary.records,
                    summary.collections.len(),
                    summary.files,
                    summary.file_bytes,
                    summary.from,
                    summary.to,
                    summary.seconds
                );
                println!(
                    "next: start stadtbote-server on the target; keep the source until it runs"
                );
            }
            Ok(())
        }
        Command::Town { action } => run_town(action, config_file.as_deref(), backend),
        Command::AdminReset { data_dir, yes } => {
            if !yes {
                anyhow::bail!(
                    "admin-reset removes every server admin and their second factor, so that a \
                     new admin can be claimed with a fresh code; run it with the server stopped \
                     and add --yes to confirm"
                );
            }
            // The server's configuration decides the backend (store,
            // database_url, pg_* settings); --data-dir is its data_dir.
            let env = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
            let overrides = Overrides { data_dir: Some(data_dir.clone()), ..backend };
            let config = Config::load(config_file.as_deref(), env, &overrides)?;
            let reset = stadtbote_server::admin::reset_configured(&config)
                .with_context(|| format!("admin reset of {} refused", data_dir.display()))?;
            println!(
                "removed {} server admin(s) and every server-admin TOTP secret; recorded \
                 admin.reset in the audit log",
                reset.removed
            );
            println!("wrote a new one-time claim code to {}", reset.code_file.display());
            println!("next: start the server, then on the new admin device run");
            println!("  stadtbote admin claim CODE");
            println!("with the code from that file; it sets up a new TOTP secret.");
            Ok(())
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stadtbote-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The configuration (--config / STADTBOTE_CONFIG and STADTBOTE_*
/// variables) for an offline command that opens PostgreSQL: its pool size
/// and timeouts.
fn settings_from_env(config_file: Option<&Path>) -> anyhow::Result<Config> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    Ok(Config::load(config_file, env, &Overrides::default())?)
}

/// Where a town step finds the district's store: `--database`, or the
/// configuration's store = "postgres" and database_url (`--config`,
/// `STADTBOTE_*`, the global `--store`/`--database-url`), with `data_dir`
/// as the nodes' data directory; otherwise the sled data directory.
fn district(
    data_dir: &Path,
    database: Option<String>,
    config_file: Option<&Path>,
    backend: Overrides,
) -> anyhow::Result<stadtbote_server::town::District> {
    use stadtbote_server::town::District;
    let overrides = match database {
        Some(url) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                anyhow::bail!(
                    "--database takes a postgres:// URL (or leave it out for --data-dir)"
                );
            }
            Overrides {
                data_dir: Some(data_dir.to_owned()),
                store: Some("postgres".to_owned()),
                database_url: Some(url),
                ..Overrides::default()
            }
        }
        None => Overrides { data_dir: Some(data_dir.to_owned()), ..backend },
    };
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let config = Config::load(config_file, env, &overrides)?;
    Ok(match config.pg_options() {
        Some(options) => District::Postgres { options, state_dir: data_dir.to_owned() },
        None => District::Dir(data_dir.to_owned()),
    })
}

/// One line per collection: `  name  count`.
fn print_counts(counts: &stadtbote_server::migrate::Counts) {
    for (name, count) in counts {
        println!("  {name:<22} {count}");
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        // The backend flags apply to the offline tools that open the
        // server's store (admin-reset), as to the server.
        let backend = Overrides {
            store: cli.store.take(),
            database_url: cli.database_url.take(),
            ..Overrides::default()
        };
        return run_command(command, cli.config.take(), backend);
    }
    let overrides = Overrides {
        listen: cli.listen,
        data_dir: cli.data_dir,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
        metrics_listen: cli.metrics_listen,
        store: cli.store,
        database_url: cli.database_url,
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
            // One line on stderr (where the log goes too), not a log line
            // and the same text again.
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
    // The signal handlers are installed before the port is bound: a SIGTERM
    // that arrives as soon as the server can be reached (a supervisor
    // stopping it at once, a test) shuts it down gracefully instead of
    // killing it with the default action.
    let shutdown = shutdown_signal();
    // A taken metrics port (a second server on this machine) is found
    // before anything is printed, so its error is the only line; `run`
    // binds the address again right after.
    if let Ok(Some(addr)) = config.metrics_addr() {
        let probe = tokio::net::TcpListener::bind(addr).await;
        if let Err(error) = probe {
            return Err(stadtbote_server::ServerError::Metrics { addr, error }.into());
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {}; choose another address with --listen ADDR (config \
             `listen`, env STADTBOTE_LISTEN)",
            config.listen,
            stadtbote_server::bind_reason(&e)
        )
    })?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    // One machine-readable line on stdout, so that scripts and tests that
    // ask for port 0 learn the real port.
    println!("stadtbote-server listening on {addr}");
    tracing::info!(%addr, "listening");
    stadtbote_server::run(listener, config, shutdown).await?;
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM; the handlers are installed
/// when this is called, not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Some(mut term), None) => {
                    let _ = term.recv().await;
                }
                (None, Some(mut int)) => {
                    let _ = int.recv().await;
                }
                (None, None) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
