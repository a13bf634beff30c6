//! The text and JSON formats of the thread and org commands (`threads`,
//! `show`, `org staff`, `admin org list`, `outbox` for thread messages).
//! Like [`crate::output`], these formats are a contract for scripts and the
//! end-to-end tests: change them only together with docs and tests.
//!
//! Times in JSON are Unix milliseconds; ids are base32 text.

use serde_json::{Value, json};
use stadtbote_protocol::frame::OrgSummary;

use stadtbote_i18n::tr;

use crate::output::{format_utc, safe, safe_body, status_label};
use crate::staff::StaffRecord;
use crate::thread_send::ThreadOutboxEntry;
use crate::threads::{Thread, ThreadBody, ThreadMessage};

fn short(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    let one_line = if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max.saturating_sub(1)).collect::<String>())
    };
    safe(&one_line).into_owned()
}

/// A thread kind as the user reads it (JSON keeps `ThreadKind::as_str`).
pub fn kind_label(kind: crate::threads::ThreadKind) -> String {
    match kind {
        crate::threads::ThreadKind::Report => tr!("thread-kind-report"),
        crate::threads::ThreadKind::Consult => tr!("thread-kind-consult"),
    }
}

fn citizen_name(thread: &Thread) -> Option<&str> {
    thread.opening().and_then(|m| m.from_name.as_deref())
}

/// One `threads --json` object.
pub fn thread_json(thread: &Thread, own: &stadtbote_protocol::AccountId) -> Value {
    json!({
        "thread": thread.id.to_string(),
        "kind": thread.kind.as_str(),
        "org": thread.org.to_string(),
        "org_name": thread.org_name,
        "handle": thread.handle,
        "category": thread.category,
        "department": thread.department(),
        "status": thread.status().as_str(),
        "created_at": thread.created_at,
        "updated_at": thread.updated_at(),
        "citizen": thread.creator.to_string(),
        "citizen_name": citizen_name(thread),
        "role": if thread.is_creator(own) { "citizen" } else { "staff" },
        "messages": thread.messages.len(),
        "unread": thread.unread(),
        "live": thread.live,
        "disappear_at": thread.disappear_at,
        "removed": thread.removed,
        "warnings": thread.warnings.len(),
    })
}

/// One `threads` line.
pub fn thread_text(thread: &Thread) -> String {
    let opening = thread.opening().and_then(ThreadMessage::text).unwrap_or_default();
    let mut line = format!(
        "{}  {:<7} {:<12} {}/{}  {}  {}  {}{}  {}",
        thread.id,
        kind_label(thread.kind),
        status_label(thread.status()),
        safe(&thread.handle),
        safe(thread.department()),
        safe(thread.category.as_deref().unwrap_or("-")),
        tr!("threads-messages", count = thread.messages.len()),
        format_utc(thread.updated_at()),
        if thread.unread() { format!("  {}", tr!("threads-new")) } else { String::new() },
        short(opening, 50),
    );
    if !thread.warnings.is_empty() {
        line.push_str("  ");
        line.push_str(&tr!("threads-warning"));
    }
    line
}

fn message_kind(message: &ThreadMessage) -> &'static str {
    match &message.body {
        ThreadBody::Open { .. } => "open",
        ThreadBody::Reply { .. } => "reply",
        ThreadBody::Assign { .. } => "assign",
        ThreadBody::Disappear { .. } => "disappear",
    }
}

fn message_json(thread: &Thread, message: &ThreadMessage) -> Value {
    let (status, reason) = match &message.body {
        ThreadBody::Reply { status, reason, .. } => (status.map(|s| s.as_str()), reason.clone()),
        _ => (None, None),
    };
    let photos: Vec<Value> = message
        .photos()
        .iter()
        .map(|p| {
            json!({
                "mime": p.attachment.mime,
                "size": p.attachment.size,
                "saved_to": p.saved_to.as_ref().map(|s| s.to_string_lossy().into_owned()),
            })
        })
        .collect();
    let mut value = json!({
        "id": message.id.to_string(),
        "kind": message_kind(message),
        "from": message.from.to_string(),
        "from_device": message.from_device.to_string(),
        "from_name": message.display_name(),
        "as_org": message.as_org(),
        "sender": match message.role {
            crate::threads::SenderRole::Creator => "citizen",
            crate::threads::SenderRole::Staff => "staff",
            crate::threads::SenderRole::Unverified => "unverified",
        },
        "sent_at": message.sent_at,
        "received_at": message.received_at,
        "text": message.text(),
        "status": status,
        "status_accepted": status.is_some() && thread.status_accepted(&message.id),
        "reason": reason,
        "photos": photos,
    });
    if let Some(map) = value.as_object_mut() {
        match &message.body {
            ThreadBody::Assign { department } => {
                map.insert("department".into(), json!(department));
            }
            ThreadBody::Disappear { days, at } => {
                map.insert("days".into(), json!(days));
                map.insert("disappear_at".into(), json!(at));
            }
            _ => {}
        }
    }
    value
}

/// The `show --json` object.
pub fn show_json(thread: &Thread) -> Value {
    let history: Vec<Value> = thread
        .status_history()
        .iter()
        .map(|c| {
            json!({
                "status": c.status.as_str(),
                "reason": c.reason,
                "at": c.at,
                "by": c.by.to_string(),
                "by_name": c.by_name,
            })
        })
        .collect();
    json!({
        "thread": thread.id.to_string(),
        "kind": thread.kind.as_str(),
        "org": thread.org.to_string(),
        "org_name": thread.org_name,
        "handle": thread.handle,
        "category": thread.category,
        "department": thread.department(),
        "status": thread.status().as_str(),
        "location": thread.location.map(|l| json!({"lat": l.lat, "lon": l.lon})),
        "created_at": thread.created_at,
        "updated_at": thread.updated_at(),
        "citizen": thread.creator.to_string(),
        "live": thread.live,
        "disappear_at": thread.disappear_at,
        "removed": thread.removed,
        "messages": thread.messages.iter().map(|m| message_json(thread, m)).collect::<Vec<_>>(),
        "status_history": history,
        "warnings": thread.warnings,
    })
}

/// The `show` text.
pub fn show_text(thread: &Thread) -> String {
    let mut out = Vec::new();
    out.push(tr!(
        "show-header",
        thread = thread.id,
        kind = kind_label(thread.kind),
        org = safe(&thread.org_name),
        handle = safe(&thread.handle)
    ));
    match &thread.category {
        Some(category) => out.push(tr!(
            "show-category",
            category = safe(category),
            department = safe(thread.department())
        )),
        None => out.push(tr!("show-department", department = safe(thread.department()))),
    }
    out.push(tr!("show-status", status = status_label(thread.status())));
    if let Some(location) = thread.location {
        out.push(tr!("show-location", lat = location.lat, lon = location.lon));
    }
    if let Some(at) = thread.disappear_at {
        out.push(tr!("show-disappears", time = format_utc(at)));
    }
    for warning in &thread.warnings {
        out.push(tr!("show-warning", warning = safe(warning)));
    }
    out.push(String::new());
    out.push(tr!("show-messages"));
    let no_name = tr!("show-no-name");
    for message in &thread.messages {
        let name = safe(message.display_name().unwrap_or(&no_name));
        let mut line = format!("[{}] {name}:", format_utc(message.at()));
        match &message.body {
            ThreadBody::Open { text, .. } | ThreadBody::Reply { text, .. } => {
                if !text.is_empty() {
                    line.push(' ');
                    line.push_str(&safe_body(text));
                }
            }
            ThreadBody::Assign { department } => {
                line.push(' ');
                line.push_str(&tr!("show-moved", department = safe(department)));
            }
            ThreadBody::Disappear { days, .. } => {
                line.push(' ');
                line.push_str(&tr!("show-disappears-in", days = days));
            }
        }
        if let ThreadBody::Reply { status: Some(status), reason, .. } = &message.body {
            line.push_str(" [");
            line.push_str(&tr!("show-status-tag", status = status_label(*status)));
            if let Some(reason) = reason {
                line.push_str(&format!(" — {}", safe(reason)));
            }
            if !thread.status_accepted(&message.id) {
                line.push(' ');
                line.push_str(&tr!("show-not-accepted"));
            }
            line.push(']');
        }
        out.push(line);
        for photo in message.photos() {
            let saved = photo.saved_to.as_ref().map_or(tr!("show-photo-not-saved"), |p| {
                tr!("show-photo-saved", path = safe(&p.display().to_string()))
            });
            out.push(format!(
                "    {}",
                tr!(
                    "show-photo",
                    mime = safe(&photo.attachment.mime),
                    size = photo.attachment.size,
                    saved = saved
                )
            ));
            if let Some(hint) = viewer_hint(&photo.attachment.mime, photo.saved_to.is_some()) {
                out.push(format!("      {hint}"));
            }
        }
    }
    out.push(String::new());
    out.push(tr!("show-history"));
    for change in thread.status_history() {
        let mut line = format!(
            "  {}  {:<12} {}",
            format_utc(change.at),
            status_label(change.status),
            tr!(
                "show-history-by",
                name = safe(&change.by_name.clone().unwrap_or_else(|| change.by.to_string()))
            )
        );
        if let Some(reason) = &change.reason {
            line.push_str(&format!(": {}", safe(reason)));
        }
        out.push(line);
    }
    out.join("\n")
}

/// One `org staff --json` object.
pub fn staff_json(record: &StaffRecord) -> Value {
    json!({
        "device": record.device.to_string(),
        "account": record.account.to_string(),
        "role": record.role.as_str(),
        "department": record.department,
        "expires_at": record.expires_at,
        "revoked": record.revoked,
        "expired": record.expired,
        "valid": record.is_valid(),
        "approved": true,
        "listed": !record.unlisted,
    })
}

/// One `org staff --json` object for an enrolment waiting for the org
/// key's approval (same fields as [`staff_json`]; `approved` false).
pub fn pending_json(pending: &crate::staff::PendingEnrolment) -> Value {
    json!({
        "device": pending.device.to_string(),
        "account": pending.account.to_string(),
        "role": pending.role.as_str(),
        "department": pending.department,
        "expires_at": pending.expires_at,
        "revoked": false,
        "expired": false,
        "valid": false,
        "approved": false,
        "listed": false,
    })
}

/// One `org staff` line for a pending enrolment.
pub fn pending_text(pending: &crate::staff::PendingEnrolment) -> String {
    format!(
        "{}  {}  {:<9} {:<16} {}  {}",
        pending.device,
        tr!("staff-account", account = pending.account),
        pending.role.as_str(),
        pending.department,
        tr!("staff-until", time = format_utc(pending.expires_at)),
        tr!("staff-pending", device = pending.device)
    )
}

/// One `org staff --json` object for a revoked device whose certificate
/// this device never saw (the server no longer publishes it).
pub fn revoked_device_json(device: &stadtbote_protocol::DeviceId) -> Value {
    json!({
        "device": device.to_string(),
        "account": null,
        "role": null,
        "department": null,
        "expires_at": null,
        "revoked": true,
        "expired": false,
        "valid": false,
        "approved": null,
        "listed": false,
    })
}

/// One `org staff` line.
pub fn staff_text(record: &StaffRecord) -> String {
    let standing = if record.revoked {
        tr!("staff-revoked")
    } else if record.expired {
        tr!("staff-expired")
    } else if record.unlisted {
        tr!("staff-unlisted")
    } else {
        tr!("staff-valid")
    };
    format!(
        "{}  {}  {:<9} {:<16} {}  {standing}",
        record.device,
        tr!("staff-account", account = record.account),
        record.role.as_str(),
        safe(&record.department),
        tr!("staff-until", time = format_utc(record.expires_at))
    )
}

/// One `admin org list --json` object.
pub fn org_summary_json(org: &OrgSummary) -> Value {
    json!({
        "org": org.org.to_string(),
        "handle": org.handle,
        "name": org.name,
        "claimed": org.claimed,
        "created_at": org.created_at,
        "suspended": org.suspended,
    })
}

/// One `admin org list` line.
pub fn org_summary_text(org: &OrgSummary) -> String {
    use stadtbote_i18n::tr;
    let (claimed, unclaimed) = (tr!("admin-org-claimed"), tr!("admin-org-unclaimed"));
    // One column for both words, whichever language is longer.
    let width = [9, claimed.chars().count(), unclaimed.chars().count()].into_iter().max();
    let state = if org.claimed { claimed } else { unclaimed };
    let state = format!("{state:<width$}", width = width.unwrap_or(9));
    let suspended = if org.suspended {
        format!("  {}", tr!("admin-org-suspended-mark"))
    } else {
        String::new()
    };
    format!(
        "{:<20} {:<30} {state} {}  {}{suspended}",
        safe(&org.handle),
        safe(&org.name),
        tr!("admin-org-created-at", time = format_utc(org.created_at)),
        org.org,
    )
}

/// One `outbox --json` object for a queued thread message.
pub fn thread_outbox_json(entry: &ThreadOutboxEntry) -> Value {
    json!({
        "id": entry.id.to_string(),
        "thread": entry.thread.to_string(),
        "kind": entry.action.name(),
        "sent_at": entry.sent_at,
        "text": entry.action.text(),
    })
}

/// One `outbox` line for a queued thread message.
pub fn thread_outbox_text(entry: &ThreadOutboxEntry) -> String {
    format!(
        "[{}] {}: {}",
        format_utc(entry.sent_at),
        tr!("outbox-thread-entry", kind = entry.action.name(), thread = entry.thread),
        safe_body(entry.action.text().unwrap_or(""))
    )
}

/// A note for photo formats many viewers cannot show (HEIC/HEIF: Chromium,
/// Firefox and older Windows cannot), saying where to get the file.
pub fn viewer_hint(mime: &str, saved: bool) -> Option<String> {
    if !matches!(mime, crate::metadata::HEIC_MIME | crate::metadata::HEIF_MIME) {
        return None;
    }
    Some(if saved { tr!("show-heic-hint-saved") } else { tr!("show-heic-hint-not-saved") })
}
