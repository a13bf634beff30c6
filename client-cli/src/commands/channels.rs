//! Handlers of the channel commands: `channel create|list|post|rotate`
//! (publisher devices), `follow`, `unfollow`, `channels`, `feed` (any home,
//! no account needed) and `reply-to` (an account). A link or id a command
//! hands out is printed alone on its last line.

use stadtbote_client::connection::ConnectionError;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Subcommand;
use stadtbote_cli::channel_output::{
    feed_json, feed_text, follow_json, follow_text, published_json, published_text,
};
use stadtbote_cli::channels::{
    DEFAULT_RETENTION_DAYS, FeedItem, FeedLine, Follower, NewChannel, WarningKind, quote,
};
use stadtbote_cli::output::{safe, safe_json};
use stadtbote_cli::{Client, ClientError};
use stadtbote_cli::{app_links, qr};
use stadtbote_i18n::tr;
use stadtbote_protocol::channel::{ChannelInvite, Replies};
use stadtbote_protocol::{ChannelId, DeviceId, Event, OrgId};

use crate::commands::threads::send_opened;

/// `stadtbote channel …`
#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Create a broadcast channel (publisher or admin staff devices).
    Create {
        /// The channel's name, e.g. "Amtsblatt".
        name: String,
        /// A longer description.
        #[arg(long)]
        description: Option<String>,
        /// Days the server keeps each post.
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
        /// Whether followers may reply privately.
        #[arg(long, value_parser = ["off", "private"], default_value = "off")]
        replies: String,
        /// The org, when this device is staff of several.
        #[arg(long, value_name = "HANDLE")]
        org: Option<String>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// Where to write the QR code (default: HOME/qr, under --home).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// List the channels this device publishes to.
    List {
        /// One JSON object per channel.
        #[arg(long)]
        json: bool,
    },
    /// Post to a channel.
    Post {
        /// The channel id (or an unambiguous prefix).
        channel: String,
        /// The text.
        text: String,
        /// A photo (JPEG, PNG, HEIC or WebP; its metadata except the orientation is removed before it is encrypted).
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Give a channel a new key; old invite links stop working for new
    /// posts, so every follower must follow the new link. Asks first on a
    /// terminal; scripts must add --yes.
    Rotate {
        /// The channel id.
        channel: String,
        /// Where to write the QR code (default: HOME/qr, under --home).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// Rotate without asking (required without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs a `channel` subcommand.
pub async fn channel(home: &PathBuf, server: &str, command: ChannelCommand) -> Result<()> {
    match command {
        ChannelCommand::Create { name, description, retention_days, replies, org, json, out } => {
            let replies = if replies == "private" { Replies::Private } else { Replies::Off };
            let mut client = Client::open(home, server)?;
            let new = NewChannel { handle: org, name, description, retention_days, replies };
            let result = client.create_channel(new).await;
            client.disconnect().await;
            let (published, invite) = result?;
            let out = out.unwrap_or_else(|| default_qr_dir(home));
            let what = tr!("channel-created");
            let url = app_links::public_url(server).await;
            let url = app_links::channel_url(url.as_deref(), &invite);
            print_invite(&published.channel, &published.meta.name, &invite, out, json, &what, url)
        }
        ChannelCommand::List { json } => {
            let client = Client::open(home, server)?;
            let channels = &client.state().channels;
            if channels.is_empty() && !json {
                println!("{}", tr!("channel-list-none"));
            }
            for channel in channels.values() {
                if json {
                    println!("{}", safe_json(&published_json(channel).to_string()));
                } else {
                    println!("{}", published_text(channel));
                }
            }
            Ok(())
        }
        ChannelCommand::Post { channel, text, photos } => {
            let mut client = Client::open(home, server)?;
            let result = client.post_to_channel(&channel, &text, &photos).await;
            client.disconnect().await;
            println!("{}", tr!("channel-posted", seq = result?));
            Ok(())
        }
        ChannelCommand::Rotate { channel, out, json, yes } => {
            let mut client = Client::open(home, server)?;
            let id = client.resolve_published(&channel)?;
            let name = client.state().channels.get(&id).map(|c| c.meta.name.clone());
            confirm_rotation(&id, name.as_deref(), yes)?;
            let result = client.rotate_channel(&channel).await;
            client.disconnect().await;
            let (published, invite) = result?;
            let out = out.unwrap_or_else(|| default_qr_dir(home));
            let what = tr!("channel-rotated");
            let url = app_links::public_url(server).await;
            let url = app_links::channel_url(url.as_deref(), &invite);
            print_invite(&published.channel, &published.meta.name, &invite, out, json, &what, url)
        }
    }
}

/// Where QR code files go without `--out`: below the home directory, never
/// the current directory (which may be a repository or a shared folder).
pub fn default_qr_dir(home: &Path) -> PathBuf {
    home.join("qr")
}

/// `channel rotate` cuts every follower off until they follow the new
/// link: on a terminal it says so and asks; without one it needs `--yes`.
fn confirm_rotation(channel: &ChannelId, name: Option<&str>, yes: bool) -> Result<()> {
    use std::io::IsTerminal;
    if yes {
        return Ok(());
    }
    let what = match name {
        Some(name) => tr!("channel-rotate-named", name = safe(name), channel = channel),
        None => tr!("channel-rotate-unnamed", channel = channel),
    };
    if !std::io::stdin().is_terminal() {
        bail!("{}", tr!("channel-rotate-needs-yes", what = what));
    }
    eprintln!("{}", tr!("channel-rotate-explain", what = what));
    eprint!("{} ", tr!("channel-rotate-ask"));
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    // "j"/"ja" for the German prompt; "y"/"yes" always.
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes" | "j" | "ja") {
        bail!("{}", tr!("channel-rotate-declined"));
    }
    Ok(())
}

fn print_invite(
    channel: &ChannelId,
    name: &str,
    invite: &ChannelInvite,
    out: PathBuf,
    json: bool,
    what: &str,
    url: Option<String>,
) -> Result<()> {
    use std::io::IsTerminal;
    let link = invite.to_link();
    // With the server's web app address, the code carries the URL (a phone
    // camera opens it); without one, the upper-case link as before.
    let qr_text = app_links::qr_content(url.as_deref(), &link.to_ascii_uppercase());
    let (png, svg) = write_qr(&qr_text, channel, invite.key_epoch, &out)?;
    if json {
        let mut value = serde_json::json!({
            "channel": channel.to_string(),
            "invite": link,
            "name": name,
            "key_epoch": invite.key_epoch,
            "qr_png": png.display().to_string(),
            "qr_svg": svg.display().to_string(),
        });
        if let Some(url) = &url {
            value["url"] = serde_json::Value::from(url.as_str());
        }
        println!("{value}");
        return Ok(());
    }
    println!("{}", tr!("channel-invite-header", name = safe(name), what = what, channel = channel));
    println!("{}", tr!("qr-png", file = png.display()));
    println!("{}", tr!("qr-svg", file = svg.display()));
    if std::io::stdout().is_terminal() {
        // The same content as the files, to scan straight off the screen.
        print!("{}", qr::terminal(&qr_text)?);
    }
    println!("{}", tr!("channel-invite-follow"));
    println!("{link}");
    if let Some(url) = &url {
        println!("{}", tr!("app-link-url"));
        println!("{url}");
    }
    Ok(())
}

fn write_qr(
    link: &str,
    channel: &ChannelId,
    epoch: u32,
    out: &Path,
) -> Result<(PathBuf, PathBuf), stadtbote_cli::CliError> {
    // `link` is upper case (QR alphanumeric-friendly, what scanners expect
    // of the base32 part; parsing is case-insensitive) or the URL.
    // The epoch is part of the name, so an outdated poster file is never
    // silently overwritten by a rotation.
    qr::write_files(link, Some(out), &format!("channel-{channel}-{epoch}"))
}

/// `stadtbote follow INVITE`
pub async fn follow(home: &PathBuf, server: &str, invite: &str) -> Result<()> {
    let mut follower = Follower::open(home, server)?;
    let follow = follower.follow(invite).await?;
    println!(
        "{}",
        stadtbote_i18n::tr!(
            "follow-done",
            name = safe(&follow.name),
            handle = safe(&follow.handle)
        )
    );
    println!("{}", follow.channel);
    Ok(())
}

/// `stadtbote unfollow CHANNEL`
pub fn unfollow(home: &PathBuf, server: &str, channel: &str) -> Result<()> {
    let mut follower = Follower::open(home, server)?;
    let follow = follower.unfollow(channel)?;
    println!(
        "{}",
        stadtbote_i18n::tr!(
            "unfollow-done",
            name = safe(&follow.name),
            handle = safe(&follow.handle)
        )
    );
    Ok(())
}

/// `stadtbote channels [--json]`
pub fn channels(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let follower = Follower::open(home, server)?;
    if follower.follows().is_empty() && !json {
        println!("{}", stadtbote_i18n::tr!("channels-none"));
    }
    for follow in follower.follows().values() {
        if json {
            println!("{}", safe_json(&follow_json(follow).to_string()));
        } else {
            println!("{}", follow_text(follow));
        }
    }
    Ok(())
}

/// Prints feed lines; remembers the withheld ranges in `withheld`.
fn print_lines(lines: &[FeedLine], json: bool, withheld: &mut Vec<String>) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if let FeedItem::Warning { kind: WarningKind::Withheld, seq, until, .. } = &line.item {
            let range = if seq == until { format!("#{seq}") } else { format!("#{seq}..#{until}") };
            withheld.push(format!("{range} of {}", safe(&line.name)));
        }
        let text = if json {
            safe_json(&feed_json(line).to_string()).into_owned()
        } else {
            feed_text(line)
        };
        // A closed stdout (e.g. `| head`) is not worth an error.
        let _ = writeln!(stdout, "{text}");
    }
    let _ = stdout.flush();
}

/// How often `feed --follow` re-reads the followed orgs' revocation lists.
const LIVE_REVOCATION_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// `stadtbote feed [CHANNEL] [--follow] [--json]`. Fails (exit 1, after
/// printing everything) when posts were withheld, and before printing
/// anything when the server withholds an org's current revocation list.
pub async fn feed(
    home: &PathBuf,
    server: &str,
    channel: Option<&str>,
    live: bool,
    json: bool,
) -> Result<()> {
    let mut follower = Follower::open(home, server)?;
    let ids: Vec<ChannelId> = match channel {
        Some(text) => vec![follower.resolve(text)?],
        None => follower.follows().keys().copied().collect(),
    };
    if ids.is_empty() {
        bail!("{}", stadtbote_i18n::tr!("feed-not-following"));
    }
    let mut conn = follower.connect().await?;
    let mut revocations = match follower.revocations(&mut conn, &ids).await {
        Ok(revocations) => revocations,
        Err(error) => {
            conn.close().await;
            return Err(error.into());
        }
    };
    let mut withheld = Vec::new();
    let mut shown = 0usize;
    for id in &ids {
        let revoked = revoked_of(&follower, &revocations, id);
        let lines = follower.catch_up(&mut conn, *id, &revoked).await?;
        shown += lines.len();
        print_lines(&lines, json, &mut withheld);
    }
    if !live {
        conn.close().await;
        if shown == 0 && !json {
            println!("{}", stadtbote_i18n::tr!("feed-none"));
        }
        return withheld_error(withheld);
    }
    match conn.request(stadtbote_protocol::Request::ChannelListen { channels: ids.clone() }).await?
    {
        stadtbote_protocol::Response::Listening { .. } => {}
        other => {
            let name = format!("{other:?}");
            return Err(stadtbote_cli::ClientError::Connection(ConnectionError::Protocol {
                url: server.to_string(),
                reason: format!(
                    "unexpected answer {}",
                    stadtbote_cli::inner_error::response_name(&name)
                ),
            })
            .into());
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut refreshed = tokio::time::Instant::now();
    loop {
        // A long-running follower (a screen in the town hall) must learn of
        // a publisher device revoked after it started; the same rule as at
        // start applies (no list or an older one ends the run).
        if refreshed.elapsed() >= LIVE_REVOCATION_REFRESH {
            match follower.revocations(&mut conn, &ids).await {
                Ok(fresh) => revocations = fresh,
                Err(error) => {
                    conn.close().await;
                    return Err(error.into());
                }
            }
            refreshed = tokio::time::Instant::now();
        }
        // Waking up every 30 s to ping keeps idle connections (and proxies)
        // from timing out.
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            event = conn.next_event(std::time::Duration::from_secs(30)) => event?,
        };
        match event {
            None => {
                conn.request(stadtbote_protocol::Request::Ping).await?;
            }
            Some(Event::ChannelPost { channel, post }) if ids.contains(&channel) => {
                let revoked = revoked_of(&follower, &revocations, &channel);
                let lines = follower.on_push(&mut conn, channel, post, &revoked).await?;
                print_lines(&lines, json, &mut withheld);
            }
            Some(_) => {}
        }
    }
    conn.close().await;
    withheld_error(withheld)
}

/// The revoked devices of the org publishing channel `id`.
fn revoked_of(
    follower: &Follower,
    revocations: &BTreeMap<OrgId, Vec<DeviceId>>,
    id: &ChannelId,
) -> Vec<DeviceId> {
    follower.follows().get(id).and_then(|f| revocations.get(&f.org)).cloned().unwrap_or_default()
}

/// The error `feed` ends with when posts were withheld.
fn withheld_error(mut withheld: Vec<String>) -> Result<()> {
    if withheld.is_empty() {
        return Ok(());
    }
    withheld.dedup();
    Err(ClientError::PostsWithheld { posts: withheld.join(", ") }.into())
}

/// `stadtbote reply-to CHANNEL POST TEXT`
pub async fn reply_to(
    home: &PathBuf,
    server: &str,
    channel: &str,
    seq: u64,
    text: &str,
) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let (follow, post) = match client.channel_post_for_reply(channel, seq).await {
        Ok(found) => found,
        Err(error) => {
            client.disconnect().await;
            return Err(error.into());
        }
    };
    let Some(department) = follow.reply_department.clone() else {
        client.disconnect().await;
        return Err(ClientError::RepliesOff(follow.name).into());
    };
    let message = format!("{}\n\n{text}", quote(&follow.name, seq, &post.text));
    let entry = client.queue_department_consult(&follow.handle, &department, &message).await?;
    let sent = stadtbote_i18n::tr!(
        "reply-to-sent",
        handle = safe(&follow.handle),
        department = safe(&department)
    );
    send_opened(&mut client, &entry, "reply", &sent).await
}
