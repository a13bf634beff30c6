//! `stadtbote`: the command-line client. Parses arguments, runs one command
//! through the client library, prints its result, and turns any failure
//! into one `error: …` line on stderr and exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use stadtbote_cli::state::OutboxEntry;
use stadtbote_cli::{Client, ClientError, DEFAULT_SERVER_URL, Enrolment, FlushReport, output};
use stadtbote_protocol::AccountId;

#[derive(Parser)]
#[command(
    name = "stadtbote",
    version,
    about = "End-to-end encrypted messages for towns and their citizens"
)]
struct Cli {
    /// Directory holding this device's keys and messages.
    #[arg(long, global = true, env = "STADTBOTE_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    /// WebSocket URL of the Stadtbote server.
    #[arg(long, global = true, env = "STADTBOTE_SERVER", value_name = "URL", default_value = DEFAULT_SERVER_URL)]
    server: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this device: register a new account, or join one with a link code.
    Init {
        /// Display name sent along with your messages (only recipients see it).
        #[arg(long)]
        name: Option<String>,
        /// Link code from `stadtbote link` on a device of an existing account.
        #[arg(long, value_name = "CODE")]
        link: Option<String>,
    },
    /// Show this device's account, device id and key fingerprint (offline).
    Whoami {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Send a text message to an account.
    Send {
        /// The recipient's account id.
        account: String,
        /// The message.
        text: String,
    },
    /// Fetch and show new messages.
    Inbox {
        /// One JSON object per message.
        #[arg(long)]
        json: bool,
    },
    /// Create a one-time code to link another device to this account.
    Link,
    /// Show sent and received messages stored on this device.
    History {
        /// Only the conversation with this account.
        account: Option<String>,
        /// One JSON object per message.
        #[arg(long)]
        json: bool,
        /// Fetch new messages and receipts from the server first.
        #[arg(long)]
        sync: bool,
    },
    /// Show messages the server has not acknowledged yet.
    Outbox {
        /// One JSON object per message.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints the error as one line.
fn fail(error: &anyhow::Error) -> ExitCode {
    let text = format!("{error:#}").replace(['\n', '\r'], " ");
    eprintln!("error: {text}");
    ExitCode::FAILURE
}

/// Logging is off except for errors unless `RUST_LOG` asks for more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn home_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(home) = &cli.home {
        return Ok(home.clone());
    }
    directories::ProjectDirs::from("de", "Stadtbote", "stadtbote")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context("cannot determine a data directory for this user; pass --home DIR")
}

fn parse_account(text: &str) -> Result<AccountId, ClientError> {
    AccountId::parse(text).map_err(|_| ClientError::InvalidAccountId { text: text.to_string() })
}

async fn run(cli: Cli) -> Result<()> {
    let home = home_dir(&cli)?;
    let server = cli.server.clone();
    match cli.command {
        Command::Init { name, link } => init(&home, &server, name, link).await,
        Command::Whoami { json } => whoami(&Client::open(&home, &server)?, json),
        Command::Send { account, text } => send(&home, &server, &account, &text).await,
        Command::Inbox { json } => inbox(&home, &server, json).await,
        Command::Link => link(&home, &server).await,
        Command::History { account, json, sync } => {
            history(&home, &server, account.as_deref(), json, sync).await
        }
        Command::Outbox { json } => outbox(&Client::open(&home, &server)?, json),
    }
}

async fn init(
    home: &PathBuf,
    server: &str,
    name: Option<String>,
    link: Option<String>,
) -> Result<()> {
    let linking = link.is_some();
    let enrolment = link.map_or(Enrolment::Register, Enrolment::Link);
    let mut client = Client::init(home, server, name, enrolment).await?;
    if linking {
        println!("Linked this device to account {}", client.account());
    } else {
        println!("Registered account {}", client.account());
    }
    println!("device: {}", client.device());
    println!("fingerprint: {}", client.fingerprint());
    println!("Share your account id so that others can write to you:");
    println!("{}", client.account());
    client.disconnect().await;
    Ok(())
}

fn whoami(client: &Client, json: bool) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "account": client.account().to_string(),
            "device": client.device().to_string(),
            "fingerprint": client.fingerprint(),
            "name": client.name(),
        });
        println!("{value}");
    } else {
        println!("account: {}", client.account());
        println!("device: {}", client.device());
        println!("fingerprint: {}", client.fingerprint());
        if let Some(name) = client.name() {
            println!("name: {name}");
        }
    }
    Ok(())
}

/// Opens the client, connects, syncs and sends the outbox; reports messages
/// that had to be dropped (other than `except`) as warnings.
async fn connected(home: &PathBuf, server: &str) -> Result<(Client, FlushReport)> {
    let mut client = Client::open(home, server)?;
    let report = catch_up(&mut client, None).await?;
    Ok((client, report))
}

async fn catch_up(client: &mut Client, except: Option<&OutboxEntry>) -> Result<FlushReport> {
    let report = client.connect_and_catch_up().await?;
    let others = |entry: &OutboxEntry| except.is_none_or(|e| e.id != entry.id);
    for (entry, error) in report.dropped.iter().filter(|(e, _)| others(e)) {
        eprintln!(
            "warning: a queued message to {} could not be sent and was removed from the outbox: {error}",
            entry.peer
        );
    }
    let kept = report.kept.iter().filter(|(e, _)| others(e)).count();
    if let Some((_, error)) = report.kept.iter().find(|(e, _)| others(e)) {
        eprintln!("warning: {kept} message(s) stay in the outbox for now: {error}");
    }
    Ok(report)
}

async fn send(home: &PathBuf, server: &str, account: &str, text: &str) -> Result<()> {
    let peer = parse_account(account)?;
    let mut client = Client::open(home, server)?;
    // On disk before any network traffic: nothing the user wrote is lost.
    let entry = client.queue_text(&peer, text)?;
    let result = catch_up(&mut client, Some(&entry)).await;
    client.disconnect().await;
    let report = match result {
        Ok(report) => report,
        Err(error) => bail!(
            "{error:#}; the message is kept in the outbox and will be sent by the next command that reaches the server"
        ),
    };
    if let Some((_, error)) = report.dropped.into_iter().find(|(e, _)| e.id == entry.id) {
        return Err(error.into());
    }
    if let Some((_, error)) = report.kept.into_iter().find(|(e, _)| e.id == entry.id) {
        bail!(
            "{error}; the message is kept in the outbox and will be sent by the next command that reaches the server"
        );
    }
    if !report.sent.contains(&entry.id) {
        bail!("the message was not sent; it is kept in the outbox");
    }
    println!("sent {}", entry.id);
    Ok(())
}

async fn inbox(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let (mut client, _) = connected(home, server).await?;
    client.disconnect().await;
    let shown = client.take_unshown()?;
    if shown.is_empty() && !json {
        println!("No new messages.");
    }
    for entry in &shown {
        if json {
            println!("{}", output::inbox_json(client.state(), entry));
        } else {
            println!("{}", output::inbox_text(client.state(), entry));
        }
    }
    Ok(())
}

async fn link(home: &PathBuf, server: &str) -> Result<()> {
    let (mut client, _) = connected(home, server).await?;
    let (code, expires_at) = client.create_link_code().await?;
    client.disconnect().await;
    println!("To add another device to account {}, run on that device:", client.account());
    println!("  stadtbote init --link {code}");
    println!("The code works once and expires at {}.", output::format_utc(expires_at));
    println!("{code}");
    Ok(())
}

async fn history(
    home: &PathBuf,
    server: &str,
    account: Option<&str>,
    json: bool,
    sync: bool,
) -> Result<()> {
    let peer = account.map(parse_account).transpose()?;
    let client = if sync {
        let (mut client, _) = connected(home, server).await?;
        client.disconnect().await;
        client
    } else {
        Client::open(home, server)?
    };
    let state = client.state();
    let entries = state.history_view(peer.as_ref());
    if entries.is_empty() && !json {
        println!("No messages.");
    }
    for entry in entries {
        if json {
            println!("{}", output::history_json(entry));
        } else {
            println!("{}", output::history_text(state, entry));
        }
    }
    Ok(())
}

fn outbox(client: &Client, json: bool) -> Result<()> {
    let state = client.state();
    if state.outbox.is_empty() && !json {
        println!("The outbox is empty.");
    }
    for entry in &state.outbox {
        if json {
            println!("{}", output::outbox_json(entry));
        } else {
            println!("{}", output::outbox_text(state, entry));
        }
    }
    Ok(())
}
