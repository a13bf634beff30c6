//! `stadtbote`: the command-line client. Parses arguments, runs one command
//! through the client library, prints its result, and turns any failure
//! into one `error: …` line on stderr and exit code 1. The one exception:
//! `consult` outside the consultation hours prints why and exits with 3
//! (`commands::EXIT_NOT_SENT`).

mod commands;
mod help_text;
mod parse_error;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use stadtbote_cli::{
    Client, ClientError, DEFAULT_SERVER_URL, Enrolment, FlushReport, output, thread_output,
};
use stadtbote_i18n::tr;
use stadtbote_protocol::{AccountId, MsgId};

use crate::commands::account::AccountCommand;
use crate::commands::channels::ChannelCommand;
use crate::commands::devices::DeviceCommand;
use crate::commands::groups::GroupCommand;
use crate::commands::org::{AdminCommand, OrgCommand};

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
    /// Extra CA certificate (PEM) to trust for wss:// besides the built-in
    /// roots, e.g. a town's own CA or a self-signed server certificate.
    #[arg(long, global = true, env = "STADTBOTE_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Second-factor code (TOTP, from your authenticator app) for admin and
    /// org-admin commands; sent right after login.
    #[arg(long, global = true, env = "STADTBOTE_OTP", value_name = "CODE", hide_env_values = true)]
    otp: Option<String>,
    /// Language of messages and help: de or en (default: from LC_ALL,
    /// LC_MESSAGES or LANG; English when unset, C or POSIX).
    #[arg(long, global = true, value_name = "LANG", value_parser = ["de", "en"])]
    lang: Option<String>,
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
    /// This account's signed device list: show it, remove a lost device.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
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
    /// Server administration: claim admin rights, orgs, statistics, blocking.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Run an org (a town) from this device: key, profile, hours, staff.
    Org {
        /// The org, when this device administers several.
        #[arg(long, global = true, value_name = "HANDLE")]
        org: Option<String>,
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Enrol this device as staff of an org with an invitation code.
    Enroll {
        /// The code from `stadtbote org invite-staff`.
        code: String,
    },
    /// Mark an org's key as verified after comparing its fingerprint (or
    /// QR code content) with the town's poster or website.
    Verify {
        /// The org's handle.
        handle: String,
        /// The fingerprint as printed, e.g. "3f2a 91c0 …".
        fingerprint: String,
    },
    /// Report a problem (road damage, a broken lamp…) to an org.
    Report {
        /// The org's handle.
        handle: String,
        /// The category, as the org names it.
        #[arg(long)]
        category: String,
        /// A photo (JPEG, PNG, HEIC or WebP; its metadata except the orientation is removed before it is encrypted).
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
        /// Where, in degrees: LAT,LON.
        #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
        location: Option<String>,
        /// What is wrong.
        text: String,
    },
    /// List report and consultation threads (syncs first when possible).
    Threads {
        /// Only threads with this status.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only threads of this department.
        #[arg(long, value_name = "DEPARTMENT")]
        department: Option<String>,
        /// Only consultations, in order of arrival (the queue).
        #[arg(long)]
        consult: bool,
        /// One JSON object per thread.
        #[arg(long)]
        json: bool,
    },
    /// Show a thread: messages, location, status history; saves photos.
    Show {
        /// The thread id (or an unambiguous prefix of it).
        thread: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// Save photos here (default: HOME/photos/THREAD/).
        #[arg(long, value_name = "DIR")]
        save: Option<PathBuf>,
    },
    /// Reply in a thread; staff can also set its status.
    Reply {
        /// The thread id.
        thread: String,
        /// The reply (optional with --template: added below the template's text).
        #[arg(required_unless_present = "template")]
        text: Option<String>,
        /// A photo to attach.
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
        /// Staff: start the reply with this reply template of the thread's
        /// department ("Textbaustein", see `org template list`).
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        /// New status (staff only).
        #[arg(long, value_parser = ["acknowledged", "in-progress", "resolved", "rejected"])]
        status: Option<String>,
        /// Why (required for resolved and rejected).
        #[arg(long)]
        reason: Option<String>,
        /// Staff: show your own name instead of the org's.
        #[arg(long)]
        as_me: bool,
    },
    /// Move a thread to another department (staff):
    /// `assign THREAD DEPARTMENT` (or `--department DEPARTMENT`).
    Assign {
        /// The thread id.
        thread: String,
        /// The new department.
        #[arg(value_name = "DEPARTMENT")]
        department: Option<String>,
        /// The new department (the same as the positional argument).
        #[arg(long = "department", value_name = "DEPARTMENT")]
        department_flag: Option<String>,
    },
    /// Reopen a resolved or rejected report (the citizen who opened it):
    /// `reopen THREAD REASON` (or `--reason REASON`).
    Reopen {
        /// The thread id.
        thread: String,
        /// Why.
        #[arg(value_name = "REASON")]
        reason: Option<String>,
        /// Why (the same as the positional argument).
        #[arg(long = "reason", value_name = "REASON")]
        reason_flag: Option<String>,
    },
    /// Ask an org during its consultation hours. Outside them the question
    /// is not sent: the hours are printed and the exit code is 3.
    Consult {
        /// The org's handle.
        handle: String,
        /// The question.
        text: String,
    },
    /// Chat live in a thread: prints incoming messages, sends each line.
    Chat {
        /// The thread id.
        thread: String,
    },
    /// Broadcast channels this device publishes to (staff publishers).
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Follow a channel with its invite link (no account needed).
    Follow {
        /// The invite link (`stadtbote:channel:…`).
        invite: String,
    },
    /// Stop following a channel.
    Unfollow {
        /// The channel id (or an unambiguous prefix).
        channel: String,
    },
    /// List the channels this home follows.
    Channels {
        /// One JSON object per channel.
        #[arg(long)]
        json: bool,
    },
    /// Show new, verified posts of followed channels.
    Feed {
        /// Only this channel.
        channel: Option<String>,
        /// Keep running and print new posts as they arrive.
        #[arg(long)]
        follow: bool,
        /// One JSON object per post or warning.
        #[arg(long)]
        json: bool,
    },
    /// Reply privately to a channel post (opens a thread with the town).
    ReplyTo {
        /// The channel id.
        channel: String,
        /// The post number.
        post: u64,
        /// The reply.
        text: String,
    },
    /// Discussion groups: create (staff), invite, join, post, read, remove (moderators).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// List the discussion groups this device is in (offline).
    Groups {
        /// One JSON object per group.
        #[arg(long)]
        json: bool,
    },
    /// Make a thread disappear DAYS days from now, on every device and the server.
    Disappear {
        /// The thread id.
        thread: String,
        /// Days from now (at least 1).
        days: u32,
    },
    /// Show who runs the server, what it stores and for how long, and where
    /// its source code is (from the server's /privacy statement; no account needed).
    ServerInfo {
        /// The server's JSON statement, unchanged.
        #[arg(long)]
        json: bool,
    },
    /// Your rights over your account: see everything the server stores
    /// about it, or delete it.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Sign the web app's bundle (write its manifest and the release
    /// signature), or create a release key with --new-key.
    WebSign {
        /// The bundle directory (e.g. web/dist).
        #[arg(required_unless_present = "new_key")]
        dir: Option<PathBuf>,
        /// The release key's secret file.
        #[arg(long, value_name = "FILE", required_unless_present = "new_key")]
        key: Option<PathBuf>,
        /// Create a new release key: the secret in FILE (mode 0600), the public half in FILE.pub.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["dir", "key"])]
        new_key: Option<PathBuf>,
        /// The app version (default: the build information's `version`, else this program's version).
        #[arg(long, value_name = "VERSION")]
        app_version: Option<String>,
        /// Compiler and tool versions of the build (JSON object or name=value lines).
        #[arg(long, value_name = "FILE")]
        build_info: Option<PathBuf>,
        /// The file the server serves at /.
        #[arg(long, value_name = "PATH", default_value = "/index.html")]
        root: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check that a server serves exactly the signed web app: fetches it as
    /// a browser would and compares every file with the signed manifest.
    /// Exit code 0: genuine; 1: differs or not signed; 4: server not reached.
    WebVerify {
        /// The server's address, e.g. https://stadtbote.musterhausen.de
        url: String,
        /// The release key to expect (64 hex digits or a .pub file; default: the project's).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// One JSON object per check.
        #[arg(long)]
        json: bool,
        /// Repeat the check every SECONDS seconds and print one line per check.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
        /// With --watch: stop after N checks (default: never).
        #[arg(long, value_name = "N", requires = "watch")]
        checks: Option<u64>,
        /// Remember the newest verified version in FILE, so that a rollback is noticed across runs.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
}

/// Ends the process on a command-line error (or `--help`/`--version`),
/// in the chosen language where clap's English would not do.
fn exit_with_parse_error(error: clap::Error) -> ! {
    match parse_error::localized(&error) {
        Some(text) => {
            eprintln!("{text}");
            std::process::exit(error.exit_code())
        }
        None => error.exit(),
    }
}

fn main() -> ExitCode {
    // The language first: clap's help and errors need it.
    stadtbote_i18n::set_language(help_text::language_from(std::env::args()));
    let matches = match help_text::localize(Cli::command()).try_get_matches() {
        Ok(matches) => matches,
        Err(error) => exit_with_parse_error(error),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => exit_with_parse_error(error),
    };
    if let Some(ca) = &cli.ca_cert {
        stadtbote_cli::connection::set_extra_ca_file(ca.clone());
    }
    if let Some(otp) = &cli.otp {
        commands::set_otp(otp.clone());
    }
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

/// Prints the error as one line. Errors carry server error bodies and names
/// from other parties, so the line goes through [`output::safe`].
fn fail(error: &anyhow::Error) -> ExitCode {
    if let Some(exit) = error.downcast_ref::<commands::Exit>() {
        return ExitCode::from(exit.code);
    }
    // `{error:#}` with every client error in the user's language.
    let text = stadtbote_cli::error_text::localized_chain(error.chain());
    let text = text.replace(['\n', '\r'], " ");
    eprintln!("{}", tr!("error-line", message = output::safe(&text)));
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
        .with_context(|| tr!("error-no-data-dir"))
}

fn parse_account(text: &str) -> Result<AccountId, ClientError> {
    AccountId::parse(text).map_err(|_| ClientError::InvalidAccountId { text: text.to_string() })
}

async fn run(cli: Cli) -> Result<()> {
    // The web app commands need no home directory (a checking machine's
    // service user may have none).
    let cli = match cli.command {
        Command::WebSign { dir, key, new_key, app_version, build_info, root, json } => {
            let args =
                commands::web::SignArgs { dir, key, new_key, app_version, build_info, root, json };
            return commands::web::sign(args);
        }
        Command::WebVerify { url, key, json, watch, checks, state } => {
            let ca_cert = cli.ca_cert.clone();
            let args = commands::web::VerifyArgs { url, key, json, watch, checks, state, ca_cert };
            return commands::web::verify(args).await;
        }
        command => Cli { command, ..cli },
    };
    let home = home_dir(&cli)?;
    let server = cli.server.clone();
    match cli.command {
        Command::Init { name, link } => init(&home, &server, name, link).await,
        Command::Whoami { json } => whoami(&Client::open(&home, &server)?, json),
        Command::Send { account, text } => send(&home, &server, &account, &text).await,
        Command::Inbox { json } => inbox(&home, &server, json).await,
        Command::Link => link(&home, &server).await,
        Command::Device { command } => commands::devices::device(&home, &server, command).await,
        Command::History { account, json, sync } => {
            history(&home, &server, account.as_deref(), json, sync).await
        }
        Command::Outbox { json } => outbox(&Client::open(&home, &server)?, json),
        Command::Admin { command } => commands::org::admin(&home, &server, command).await,
        Command::Org { org, command } => {
            commands::org::org(&home, &server, org.as_deref(), command).await
        }
        Command::Enroll { code } => commands::threads::enroll(&home, &server, &code).await,
        Command::Verify { handle, fingerprint } => {
            commands::threads::verify(&home, &server, &handle, &fingerprint).await
        }
        Command::Report { handle, category, photos, location, text } => {
            commands::threads::report(&home, &server, &handle, &category, &photos, location, &text)
                .await
        }
        Command::Threads { status, department, consult, json } => {
            commands::threads::threads(&home, &server, status, department, consult, json).await
        }
        Command::Show { thread, json, save } => {
            commands::threads::show(&home, &server, &thread, json, save).await
        }
        Command::Reply { thread, text, photos, template, status, reason, as_me } => {
            let text = text.unwrap_or_default();
            let reply =
                commands::threads::ReplyArgs { text, photos, status, reason, as_me, template };
            commands::threads::reply(&home, &server, &thread, reply).await
        }
        Command::Assign { thread, department, department_flag } => {
            let department = once("assign", "department", department, department_flag)?;
            commands::threads::assign(&home, &server, &thread, &department).await
        }
        Command::Reopen { thread, reason, reason_flag } => {
            let reason = once("reopen", "reason", reason, reason_flag)?;
            commands::threads::reopen(&home, &server, &thread, &reason).await
        }
        Command::Consult { handle, text } => {
            commands::threads::consult(&home, &server, &handle, &text).await
        }
        Command::Chat { thread } => commands::threads::chat(&home, &server, &thread).await,
        Command::Channel { command } => commands::channels::channel(&home, &server, command).await,
        Command::Follow { invite } => commands::channels::follow(&home, &server, &invite).await,
        Command::Unfollow { channel } => commands::channels::unfollow(&home, &server, &channel),
        Command::Channels { json } => commands::channels::channels(&home, &server, json),
        Command::Feed { channel, follow, json } => {
            commands::channels::feed(&home, &server, channel.as_deref(), follow, json).await
        }
        Command::ReplyTo { channel, post, text } => {
            commands::channels::reply_to(&home, &server, &channel, post, &text).await
        }
        Command::Group { command } => commands::groups::group(&home, &server, command).await,
        Command::Groups { json } => commands::groups::groups(&home, &server, json),
        Command::Disappear { thread, days } => {
            commands::threads::disappear(&home, &server, &thread, days).await
        }
        Command::ServerInfo { json } => commands::server_info::server_info(&server, json).await,
        Command::Account { command } => commands::account::account(&home, &server, command).await,
        // Run above, before the home directory is looked up.
        Command::WebSign { .. } | Command::WebVerify { .. } => {
            bail!("internal error: web command not dispatched")
        }
    }
}

/// An argument that may be given positionally or as `--NAME`, but not
/// both and not neither.
fn once(
    command: &str,
    name: &str,
    positional: Option<String>,
    flag: Option<String>,
) -> Result<String> {
    let upper = name.to_ascii_uppercase();
    // The two commands that take one, in the user's language.
    let known = match (command, name) {
        ("assign", "department") => {
            Some((tr!("assign-department-twice"), tr!("assign-department-missing")))
        }
        ("reopen", "reason") => Some((tr!("reopen-reason-twice"), tr!("reopen-reason-missing"))),
        _ => None,
    };
    match (positional, flag, known) {
        (Some(value), None, _) | (None, Some(value), _) => Ok(value),
        (Some(_), Some(_), Some((twice, _))) => bail!("{twice}"),
        (None, None, Some((_, missing))) => bail!("{missing}"),
        (Some(_), Some(_), None) => bail!(
            "the {name} was given twice; give it once, either as `stadtbote {command} THREAD \
             {upper}` or with --{name} {upper}"
        ),
        (None, None, None) => bail!(
            "`{command}` needs the {name}: stadtbote {command} THREAD {upper} (or --{name} {upper})"
        ),
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
        println!("{}", tr!("init-linked", account = client.account()));
        println!("{}", tr!("init-waiting"));
    } else {
        println!("{}", tr!("init-registered", account = client.account()));
    }
    println!("{}", tr!("label-device", value = client.device()));
    println!("{}", tr!("label-fingerprint", value = client.fingerprint()));
    println!("{}", tr!("init-share"));
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
        println!("{}", tr!("label-account", value = client.account()));
        println!("{}", tr!("label-device", value = client.device()));
        println!("{}", tr!("label-fingerprint", value = client.fingerprint()));
        if let Some(name) = client.name() {
            println!("{}", tr!("label-name", value = output::safe(name)));
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

async fn catch_up(client: &mut Client, except: Option<MsgId>) -> Result<FlushReport> {
    let report = client.connect_and_catch_up().await?;
    report_flush(client, &report, except);
    Ok(report)
}

/// Tells the user on stderr what the outbox flush did with messages other
/// than `except` (the command's own message, which it reports itself).
fn report_flush(client: &Client, report: &FlushReport, except: Option<MsgId>) {
    for group in client.refused_commits() {
        let message = tr!("flush-refused-commit", group = group);
        eprintln!("{}", tr!("warning-line", message = message));
    }
    let others = |id: &MsgId| except.is_none_or(|e| e != *id);
    for (entry, error) in report.dropped.iter().filter(|(e, _)| others(&e.id)) {
        let error = output::safe(&stadtbote_cli::error_text::localized(error)).into_owned();
        let message = tr!("flush-dropped", peer = entry.peer, error = error);
        eprintln!("{}", tr!("warning-line", message = message));
    }
    let kept = report.kept.iter().filter(|(e, _)| others(&e.id)).count();
    if let Some((_, error)) = report.kept.iter().find(|(e, _)| others(&e.id)) {
        let error = output::safe(&stadtbote_cli::error_text::localized(error)).into_owned();
        let message = tr!("flush-kept", count = kept, error = error);
        eprintln!("{}", tr!("warning-line", message = message));
    }
    let threads = &report.threads;
    for (chunk, chunks) in &threads.resumed {
        eprintln!("{}", tr!("flush-resumed", chunk = chunk, chunks = chunks));
    }
    for (id, thread) in threads.sent.iter().filter(|(id, _)| others(id)) {
        let opened = client
            .state()
            .threads
            .get(thread)
            .and_then(|t| t.opening().filter(|m| m.id == *id).map(|_| t.kind.as_str()));
        match opened {
            Some("report") => eprintln!("{}", tr!("flush-sent-queued-report", thread = thread)),
            Some("consult") => eprintln!("{}", tr!("flush-sent-queued-consult", thread = thread)),
            Some(kind) => eprintln!("sent the queued {kind}; its thread is {thread}"),
            None => eprintln!("{}", tr!("flush-sent-queued-message", thread = thread)),
        }
    }
    for (entry, error) in threads.dropped.iter().filter(|(e, _)| others(&e.id)) {
        let error = output::safe(&stadtbote_cli::error_text::localized(error)).into_owned();
        let message = tr!(
            "flush-thread-dropped",
            kind = entry.action.name(),
            thread = entry.thread,
            error = error
        );
        eprintln!("{}", tr!("warning-line", message = message));
    }
    let kept = threads.kept.iter().filter(|(e, _)| others(&e.id)).count();
    if let Some((_, error)) = threads.kept.iter().find(|(e, _)| others(&e.id)) {
        let error = output::safe(&stadtbote_cli::error_text::localized(error)).into_owned();
        let message = tr!("flush-thread-kept", count = kept, error = error);
        eprintln!("{}", tr!("warning-line", message = message));
    }
    print_staff_notices(&report.staff);
}

/// Tells the user on stderr which staff devices this device approved with
/// the org key, which enrolments it left pending, and whether this
/// device's own enrolment was approved.
pub(crate) fn print_staff_notices(notices: &stadtbote_cli::approval::StaffNotices) {
    // Departments and handles are checked to [a-z0-9_-] (the department is
    // signed by the org key); reasons and warnings can quote a server's
    // error message and go through `output::safe`.
    for approved in &notices.approvals.approved {
        eprintln!(
            "{}",
            tr!(
                "notice-approved",
                device = approved.device,
                role = approved.role.as_str(),
                department = approved.department,
                handle = approved.handle,
                version = approved.version
            )
        );
    }
    for refused in &notices.approvals.refused {
        let message = tr!(
            "notice-refused",
            device = refused.device,
            handle = refused.handle,
            reason = output::safe(&refused.reason)
        );
        eprintln!("{}", tr!("warning-line", message = message));
    }
    for enrolment in &notices.now_approved {
        eprintln!(
            "{}",
            tr!(
                "notice-now-approved",
                role = enrolment.role.as_str(),
                department = enrolment.department,
                handle = enrolment.handle
            )
        );
    }
    // Warnings can carry a server's error message: filtered.
    for warning in &notices.warnings {
        eprintln!("{}", tr!("warning-line", message = output::safe(warning)));
    }
}

async fn send(home: &PathBuf, server: &str, account: &str, text: &str) -> Result<()> {
    let peer = parse_account(account)?;
    let mut client = Client::open(home, server)?;
    // On disk before any network traffic: nothing the user wrote is lost.
    let entry = client.queue_text(&peer, text).await?;
    let result = catch_up(&mut client, Some(entry.id)).await;
    client.disconnect().await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let error = stadtbote_cli::error_text::localized_chain(error.chain());
            bail!("{}", tr!("kept-message", error = error))
        }
    };
    if let Some((_, error)) = report.dropped.into_iter().find(|(e, _)| e.id == entry.id) {
        return Err(error.into());
    }
    if let Some((_, error)) = report.kept.into_iter().find(|(e, _)| e.id == entry.id) {
        let error = stadtbote_cli::error_text::localized(&error);
        bail!("{}", tr!("kept-message", error = error));
    }
    if !report.sent.contains(&entry.id) {
        bail!("{}", tr!("send-not-sent"));
    }
    println!("{}", tr!("send-sent", id = entry.id));
    Ok(())
}

async fn inbox(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let unread_before = client.unread_thread_messages();
    catch_up(&mut client, None).await?;
    client.disconnect().await;
    // Thread messages belong to `threads`/`show`; `inbox` only says they came.
    let new_in_threads = client.unread_thread_messages().saturating_sub(unread_before);
    if new_in_threads > 0 {
        eprintln!("{}", tr!("inbox-thread-messages", count = new_in_threads));
    }
    for notice in client.take_device_notices().await? {
        if json {
            println!("{}", output::device_notice_json(client.account(), &notice));
        } else {
            println!("{}", output::device_notice_text(&notice));
        }
    }
    let shown = client.take_unshown().await?;
    if shown.is_empty() && !json {
        println!("{}", tr!("inbox-none"));
    }
    for entry in &shown {
        if json {
            println!(
                "{}",
                output::safe_json(&output::inbox_json(client.state(), entry).to_string())
            );
        } else {
            println!("{}", output::inbox_text(client.state(), entry));
        }
    }
    Ok(())
}

async fn link(home: &PathBuf, server: &str) -> Result<()> {
    let (mut client, _) = connected(home, server).await?;
    let result = client.create_link().await;
    client.disconnect().await;
    let (code, expires_at) = result?;
    let code = code.to_text();
    println!("{}", tr!("link-intro", account = client.account()));
    println!("  stadtbote init --link {code}");
    println!("{}", tr!("link-expires", time = output::format_utc(expires_at)));
    println!("{}", tr!("link-keep-secret"));
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
        println!("{}", tr!("history-none"));
    }
    for entry in entries {
        if json {
            println!("{}", output::safe_json(&output::history_json(entry).to_string()));
        } else {
            println!("{}", output::history_text(state, entry));
        }
    }
    Ok(())
}

fn outbox(client: &Client, json: bool) -> Result<()> {
    let state = client.state();
    if state.outbox.is_empty() && state.thread_outbox.is_empty() && !json {
        println!("{}", tr!("outbox-empty"));
    }
    for entry in &state.outbox {
        if json {
            println!("{}", output::safe_json(&output::outbox_json(entry).to_string()));
        } else {
            println!("{}", output::outbox_text(state, entry));
        }
    }
    for entry in &state.thread_outbox {
        if json {
            println!(
                "{}",
                output::safe_json(&thread_output::thread_outbox_json(entry).to_string())
            );
        } else {
            println!("{}", thread_output::thread_outbox_text(entry));
        }
    }
    Ok(())
}
