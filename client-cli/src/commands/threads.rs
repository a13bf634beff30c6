//! `stadtbote enroll`, `verify`, `report`, `threads`, `show`, `reply`,
//! `assign`, `reopen`, `consult`, `chat` and `disappear`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Result, bail};
use stadtbote_cli::chat::{ChatEvent, chat_line};
use stadtbote_cli::consult::{ConsultDecision, decide};
use stadtbote_cli::error_text::localized;
use stadtbote_cli::invalid_input::InvalidReason;
use stadtbote_cli::output::{format_utc, safe, safe_json};
use stadtbote_cli::pinning::VerifyOutcome;
use stadtbote_cli::thread_send::{ThreadOutboxEntry, parse_location};
use stadtbote_cli::threads::ThreadKind;
use stadtbote_cli::{Client, ClientError, FlushReport, thread_output};
use stadtbote_i18n::tr;
use stadtbote_protocol::GroupId;
use stadtbote_protocol::app::ThreadStatus;

use super::{open_connected, try_catch_up};

/// Where a queued thread message ended up after a flush.
pub(crate) enum Outcome {
    Sent(GroupId),
    // Boxed: an outbox entry is several times larger than the other variants.
    Kept(Box<ThreadOutboxEntry>, ClientError),
    Dropped(ClientError),
    Missing,
}

pub(crate) fn outcome(
    report: &mut stadtbote_cli::thread_send::ThreadFlushReport,
    id: &stadtbote_protocol::MsgId,
) -> Outcome {
    if let Some((_, group)) = report.sent.iter().find(|(m, _)| m == id) {
        return Outcome::Sent(*group);
    }
    if let Some(pos) = report.dropped.iter().position(|(e, _)| e.id == *id) {
        return Outcome::Dropped(report.dropped.remove(pos).1);
    }
    if let Some(pos) = report.kept.iter().position(|(e, _)| e.id == *id) {
        let (entry, error) = report.kept.remove(pos);
        return Outcome::Kept(Box::new(entry), error);
    }
    Outcome::Missing
}

pub(crate) const KEPT: &str =
    "is kept in the outbox and will be sent by the next command that reaches the server";

/// Sends the thread `entry` just opened (a consultation `what`: "question",
/// "reply") and disconnects. Once it went out, prints `sent`, how to follow
/// the answer and the thread; if it stays in the outbox, prints the thread
/// and fails saying so.
pub(crate) async fn send_opened(
    client: &mut Client,
    entry: &ThreadOutboxEntry,
    what: &str,
    sent: &str,
) -> Result<()> {
    let result = client.flush_thread_outbox().await;
    client.disconnect().await;
    let mut report = result?;
    match outcome(&mut report, &entry.id) {
        Outcome::Sent(thread) => {
            println!("{sent}");
            println!("{}", tr!("follow-answer", thread = thread));
            println!("{thread}");
            Ok(())
        }
        Outcome::Dropped(error) => Err(error.into()),
        Outcome::Kept(entry, error) => {
            println!("{}", entry.thread);
            match what {
                "question" => bail!("{}", tr!("kept-question", error = localized(&error))),
                "reply" => bail!("{}", tr!("kept-reply", error = localized(&error))),
                _ => bail!("{error}; the {what} {KEPT}"),
            }
        }
        Outcome::Missing => match what {
            "question" => bail!("{}", tr!("not-sent-question")),
            "reply" => bail!("{}", tr!("not-sent-reply")),
            _ => bail!("the {what} was not sent; it {KEPT}"),
        },
    }
}

/// Connects (if possible), queues with `queue` and sends. A message that
/// cannot go out now stays in the outbox and the command fails saying so.
async fn queue_and_send(
    client: &mut Client,
    queue: impl AsyncFnOnce(&mut Client) -> Result<ThreadOutboxEntry, ClientError>,
) -> Result<GroupId> {
    let connected = try_catch_up(client).await?;
    let entry = queue(client).await?;
    if !connected {
        bail!("{}", tr!("unreachable-kept-message"));
    }
    let mut report = client.flush_thread_outbox().await?;
    client.disconnect().await;
    let flush =
        FlushReport { threads: report_without(&mut report, &entry), ..FlushReport::default() };
    crate::report_flush(client, &flush, Some(entry.id));
    match outcome(&mut report, &entry.id) {
        Outcome::Sent(group) => Ok(group),
        Outcome::Dropped(error) => Err(error.into()),
        Outcome::Kept(_, error) => bail!("{}", tr!("kept-message", error = localized(&error))),
        Outcome::Missing => bail!("{}", tr!("not-sent-message")),
    }
}

/// The report minus the given entry (which the command reports itself).
fn report_without(
    report: &mut stadtbote_cli::thread_send::ThreadFlushReport,
    entry: &ThreadOutboxEntry,
) -> stadtbote_cli::thread_send::ThreadFlushReport {
    stadtbote_cli::thread_send::ThreadFlushReport {
        sent: report.sent.iter().filter(|(id, _)| *id != entry.id).copied().collect(),
        kept: Vec::new(),
        dropped: Vec::new(),
        resumed: std::mem::take(&mut report.resumed),
    }
}

/// `stadtbote enroll CODE`
pub async fn enroll(home: &PathBuf, server: &str, code: &str) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    let result = client.enroll(code).await;
    client.disconnect().await;
    let enrolment = result?;
    println!(
        "{}",
        tr!(
            "enroll-enrolled",
            role = enrolment.role.as_str(),
            department = safe(&enrolment.department),
            org = safe(&enrolment.org_name),
            handle = safe(&enrolment.handle)
        )
    );
    println!("{}", tr!("enroll-valid-until", time = format_utc(enrolment.expires_at)));
    if !enrolment.approved {
        println!("{}", tr!("enroll-pending", device = client.state().device));
    }
    Ok(())
}

/// `stadtbote verify HANDLE FINGERPRINT`
pub async fn verify(home: &PathBuf, server: &str, handle: &str, fingerprint: &str) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let result = client.verify_org(handle, fingerprint).await;
    client.disconnect().await;
    match result? {
        VerifyOutcome::Verified { fingerprint } => {
            println!("{}", tr!("verify-verified", handle = handle));
            println!("{fingerprint}");
        }
        VerifyOutcome::Repinned { fingerprint } => {
            println!("{}", tr!("verify-repinned", handle = handle));
            println!("{fingerprint}");
        }
    }
    Ok(())
}

/// `stadtbote report HANDLE --category CAT [--photo FILE]… [--location LAT,LON] TEXT`
pub async fn report(
    home: &PathBuf,
    server: &str,
    handle: &str,
    category: &str,
    photos: &[PathBuf],
    location: Option<String>,
    text: &str,
) -> Result<()> {
    let location = location.as_deref().map(parse_location).transpose()?;
    let mut client = Client::open(home, server)?;
    // On disk (photos prepared) before any network traffic, so that a lost
    // connection or a killed process loses nothing.
    let entry = client
        .queue_open(ThreadKind::Report, handle, Some(category), text, location, photos, false)
        .await?;
    let result = crate::catch_up(&mut client, Some(entry.id)).await;
    client.disconnect().await;
    let mut report = match result {
        Ok(report) => report,
        Err(error) => {
            println!("{}", entry.thread);
            let error = stadtbote_cli::error_text::localized_chain(error.chain());
            bail!("{}", tr!("kept-report", error = error));
        }
    };
    match outcome(&mut report.threads, &entry.id) {
        Outcome::Sent(thread) => {
            if let Ok(record) = client.thread(&thread) {
                println!(
                    "{}",
                    tr!(
                        "report-sent",
                        org = safe(&record.org_name),
                        handle = safe(&record.handle),
                        category = safe(record.category.as_deref().unwrap_or(category)),
                        department = safe(record.department())
                    )
                );
            }
            println!("{thread}");
            Ok(())
        }
        Outcome::Dropped(error) => Err(error.into()),
        Outcome::Kept(entry, error) => {
            println!("{}", entry.thread);
            bail!("{}", tr!("kept-report", error = localized(&error)))
        }
        Outcome::Missing => {
            println!("{}", entry.thread);
            bail!("{}", tr!("not-sent-report"))
        }
    }
}

/// `stadtbote threads [--status S] [--department D] [--consult] [--json]`
pub async fn threads(
    home: &PathBuf,
    server: &str,
    status: Option<String>,
    department: Option<String>,
    consult: bool,
    json: bool,
) -> Result<()> {
    let status = status
        .map(|s| {
            ThreadStatus::parse(&s).ok_or(ClientError::Invalid {
                what: "--status",
                reason: InvalidReason::Text(tr!(
                    "threads-status-invalid",
                    status = format!("{s:?}")
                )),
            })
        })
        .transpose()?;
    let mut client = Client::open(home, server)?;
    try_catch_up(&mut client).await?;
    client.disconnect().await;
    let state = client.state();
    let mut list: Vec<_> = state
        .threads
        .values()
        .filter(|t| status.is_none_or(|s| t.status() == s))
        .filter(|t| department.as_deref().is_none_or(|d| t.department() == d))
        .filter(|t| !consult || t.kind == ThreadKind::Consult)
        .collect();
    // A changed org key is a hard error for every command touching the org.
    for thread in &list {
        client.pin(&thread.handle)?;
    }
    if consult {
        // The queue: first come, first served, by the server's arrival time.
        list.sort_by_key(|t| (t.created_at, t.id));
    } else {
        list.sort_by_key(|t| std::cmp::Reverse((t.updated_at(), t.id)));
    }
    if list.is_empty() && !json {
        println!("{}", tr!("threads-none"));
    }
    for thread in list {
        if json {
            println!(
                "{}",
                safe_json(&thread_output::thread_json(thread, &state.account).to_string())
            );
        } else {
            println!("{}", thread_output::thread_text(thread));
        }
    }
    Ok(())
}

/// `stadtbote show THREAD [--json] [--save DIR]`
pub async fn show(
    home: &PathBuf,
    server: &str,
    thread: &str,
    json: bool,
    save: Option<PathBuf>,
) -> Result<()> {
    let mut client = Client::open(home, server)?;
    try_catch_up(&mut client).await?;
    let id = match client.resolve_thread(thread) {
        Ok(id) => id,
        Err(error) => {
            client.disconnect().await;
            return Err(error.into());
        }
    };
    let handle = client.thread(&id)?.handle.clone();
    if let Err(error) = client.pin(&handle) {
        client.disconnect().await;
        return Err(error.into());
    }
    let saved = client.save_thread_photos(&id, save.as_deref()).await;
    client.disconnect().await;
    let (saved, failed) = match saved {
        Ok(result) => result,
        Err(error) => {
            let message = tr!("show-photos-not-saved", error = safe(&localized(&error)));
            eprintln!("{}", tr!("warning-line", message = message));
            (Vec::new(), Vec::new())
        }
    };
    for error in &failed {
        let message = tr!("show-photo-not-saved-warning", error = safe(&localized(error)));
        eprintln!("{}", tr!("warning-line", message = message));
    }
    let record = client.thread(&id)?.clone();
    if json {
        println!("{}", safe_json(&thread_output::show_json(&record).to_string()));
    } else {
        println!("{}", thread_output::show_text(&record));
        for path in &saved {
            println!("{}", tr!("show-saved-photo", path = safe(&path.display().to_string())));
        }
    }
    client.mark_thread_read(&id).await?;
    Ok(())
}

/// What `stadtbote reply` was given.
pub struct ReplyArgs {
    /// The text.
    pub text: String,
    /// Photos.
    pub photos: Vec<PathBuf>,
    /// New status.
    pub status: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Staff: own name.
    pub as_me: bool,
    /// Staff: a reply template of the thread's department, sent before
    /// `text` (issue 16.6).
    pub template: Option<String>,
}

/// `stadtbote reply THREAD TEXT [--photo FILE]… [--status S] [--reason R] [--as-me]`
pub async fn reply(home: &PathBuf, server: &str, thread: &str, args: ReplyArgs) -> Result<()> {
    let status = args.status.as_deref().map(ThreadStatus::parse).map(|s| {
        s.ok_or(ClientError::Invalid {
            what: "--status",
            reason: InvalidReason::Text(tr!("reply-unknown-status")),
        })
    });
    let status = status.transpose()?;
    // Before anything else, and before anything is sent.
    if let Some(status) = status
        && status.needs_reason()
        && args.reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        return Err(
            ClientError::from(stadtbote_cli::threads::StatusError::NeedsReason(status)).into()
        );
    }
    let mut client = Client::open(home, server)?;
    let thread_text = thread.to_string();
    let reason = args.reason.clone();
    let group = queue_and_send(&mut client, async |client| {
        let id = client.resolve_thread(&thread_text)?;
        // The template from the org's verified profile, fetched now.
        let text = match &args.template {
            Some(name) => {
                let template = client.reply_template_text(&id, name).await?;
                stadtbote_cli::org_legal::compose_reply(&template, Some(&args.text))
            }
            None => args.text.clone(),
        };
        client.queue_reply(&id, &text, &args.photos, status, reason.as_deref(), args.as_me).await
    })
    .await?;
    match status {
        Some(status) => println!(
            "{}",
            tr!(
                "reply-sent-status",
                thread = group,
                status = stadtbote_cli::output::status_label(status)
            )
        ),
        None => println!("{}", tr!("reply-sent", thread = group)),
    }
    Ok(())
}

/// `stadtbote assign THREAD --department D`
pub async fn assign(home: &PathBuf, server: &str, thread: &str, department: &str) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let thread_text = thread.to_string();
    let group = queue_and_send(&mut client, async |client| {
        let id = client.resolve_thread(&thread_text)?;
        client.queue_assign(&id, department).await
    })
    .await?;
    println!("{}", tr!("assign-done", thread = group, department = safe(department)));
    Ok(())
}

/// `stadtbote reopen THREAD --reason TEXT`
pub async fn reopen(home: &PathBuf, server: &str, thread: &str, reason: &str) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let thread_text = thread.to_string();
    let group = queue_and_send(&mut client, async |client| {
        let id = client.resolve_thread(&thread_text)?;
        client.queue_reply(&id, "", &[], Some(ThreadStatus::Reopened), Some(reason), false).await
    })
    .await?;
    println!("{}", tr!("reopen-done", thread = group));
    Ok(())
}

/// `stadtbote disappear THREAD DAYS`
pub async fn disappear(home: &PathBuf, server: &str, thread: &str, days: u32) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let thread_text = thread.to_string();
    let group = queue_and_send(&mut client, async |client| {
        let id = client.resolve_thread(&thread_text)?;
        client.queue_disappear(&id, days).await
    })
    .await?;
    let at = client.thread(&group).ok().and_then(|t| t.disappear_at);
    match at {
        Some(at) => println!("{}", tr!("disappear-at", thread = group, time = format_utc(at))),
        None => println!("{}", tr!("disappear-in", thread = group, days = days)),
    }
    Ok(())
}

/// `stadtbote consult HANDLE TEXT`
pub async fn consult(home: &PathBuf, server: &str, handle: &str, text: &str) -> Result<()> {
    let mut client = Client::open(home, server)?;
    client.pin(handle)?;
    crate::catch_up(&mut client, None).await?;
    let org = match client.fetch_org(handle).await {
        Ok(org) => org,
        Err(error) => {
            client.disconnect().await;
            return Err(error.into());
        }
    };
    let profile = org.require_profile()?.clone();
    match decide(&profile) {
        ConsultDecision::Closed { hours, timezone, auto_reply } => {
            client.disconnect().await;
            let name = safe(&profile.name);
            println!("{}", tr!("consult-closed", org = name, handle = safe(handle)));
            if hours.is_empty() {
                println!("{}", tr!("consult-no-hours"));
            } else {
                println!("{}", tr!("consult-hours", timezone = safe(&timezone.to_string())));
                for slot in &hours {
                    println!("  {}", safe(&slot.to_string()));
                }
            }
            if let Some(reply) = auto_reply {
                println!("{}", tr!("consult-message-from", org = name));
                println!("  {}", stadtbote_cli::output::safe_body(&reply.to_string()));
            }
            println!("{}", tr!("consult-not-sent"));
            Err(super::Exit { code: super::EXIT_NOT_SENT, reason: "outside consultation hours" }
                .into())
        }
        ConsultDecision::Live { .. } => {
            let entry =
                client.queue_open(ThreadKind::Consult, handle, None, text, None, &[], true).await?;
            let sent = tr!("consult-queued");
            send_opened(&mut client, &entry, "question", &sent).await
        }
    }
}

/// `stadtbote chat THREAD`
pub async fn chat(home: &PathBuf, server: &str, thread: &str) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    let id = client.resolve_thread(thread)?;
    let record = client.thread(&id)?.clone();
    client.pin(&record.handle)?;
    // Reading the terminal blocks: a thread of its own feeds the lines in.
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    eprintln!(
        "{}",
        tr!("chat-start", thread = id, org = safe(&record.org_name), handle = safe(&record.handle))
    );
    let result = client
        .chat(id, rx, |event| match event {
            ChatEvent::Message(message) => println!("{}", chat_line(&message)),
            ChatEvent::NotSent(error) => {
                let message = tr!("chat-not-sent", error = safe(&error));
                eprintln!("{}", tr!("warning-line", message = message))
            }
            ChatEvent::Removed => eprintln!("{}", tr!("chat-removed")),
        })
        .await;
    client.disconnect().await;
    result?;
    Ok(())
}
