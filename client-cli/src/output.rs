//! How messages are shown: the text and JSON-lines formats of `inbox`,
//! `history` and `outbox`. These formats are a contract (scripts and the
//! end-to-end tests parse them), so they live in one place.

use serde_json::{Value, json};
use stadtbote_protocol::AccountId;

use crate::state::{Direction, HistoryEntry, OutboxEntry, State};

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc_minutes(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn display_name<'a>(state: &'a State, entry: &'a HistoryEntry) -> Option<&'a str> {
    entry.from_name.as_deref().or_else(|| state.name_of(&entry.from))
}

/// One `inbox` line: `[time] name <ACCOUNT>: text`.
pub fn inbox_text(state: &State, entry: &HistoryEntry) -> String {
    format!(
        "[{}] {} <{}>: {}",
        format_utc(entry.sent_at),
        display_name(state, entry).unwrap_or("(no name)"),
        entry.from,
        entry.text
    )
}

/// One `inbox --json` object.
pub fn inbox_json(state: &State, entry: &HistoryEntry) -> Value {
    json!({
        "id": entry.id.to_string(),
        "from": entry.from.to_string(),
        "from_name": display_name(state, entry),
        "from_device": entry.from_device.to_string(),
        "conversation": entry.conversation.to_string(),
        "sent_at": entry.sent_at,
        "received_at": entry.received_at.unwrap_or(entry.sent_at),
        "text": entry.text,
    })
}

/// One `inbox` line for a device that appeared on this account's list.
pub fn device_notice_text(notice: &crate::devices::DeviceNotice) -> String {
    if notice.approved_here {
        format!(
            "notice: this device approved device {} (key {}) for your account (device list version {}).",
            notice.device, notice.fingerprint, notice.version
        )
    } else {
        format!(
            "notice: a new device {} (key {}) was added to your account (device list version {}). \
             If that was not you, run `stadtbote device remove {}`.",
            notice.device, notice.fingerprint, notice.version, notice.device
        )
    }
}

/// The `inbox --json` event for a device that appeared on this account's list.
pub fn device_notice_json(account: AccountId, notice: &crate::devices::DeviceNotice) -> Value {
    json!({
        "event": "device_added",
        "account": account.to_string(),
        "device": notice.device.to_string(),
        "fingerprint": notice.fingerprint,
        "version": notice.version,
        "approved_here": notice.approved_here,
        "seen_at": notice.seen_at,
    })
}

fn peer_label(state: &State, peer: &AccountId) -> String {
    match state.name_of(peer) {
        Some(name) => format!("{name} <{peer}>"),
        None => format!("<{peer}>"),
    }
}

/// One `history` line.
pub fn history_text(state: &State, entry: &HistoryEntry) -> String {
    let time = format_utc(entry.sent_at);
    match entry.direction {
        Direction::Out => {
            let status =
                if entry.delivered_to.contains(&entry.peer) || !entry.delivered_to.is_empty() {
                    "delivered"
                } else if entry.from_device == state.device {
                    "sent"
                } else {
                    "sent from another device"
                };
            format!("[{time}] you -> {}: {} ({status})", peer_label(state, &entry.peer), entry.text)
        }
        Direction::In => format!(
            "[{time}] {} <{}>: {}",
            display_name(state, entry).unwrap_or("(no name)"),
            entry.from,
            entry.text
        ),
    }
}

/// One `history --json` object.
pub fn history_json(entry: &HistoryEntry) -> Value {
    let mut value = json!({
        "id": entry.id.to_string(),
        "direction": match entry.direction { Direction::Out => "out", Direction::In => "in" },
        "peer": entry.peer.to_string(),
        "from": entry.from.to_string(),
        "conversation": entry.conversation.to_string(),
        "sent_at": entry.sent_at,
        "text": entry.text,
    });
    if entry.direction == Direction::Out
        && let Some(map) = value.as_object_mut()
    {
        map.insert("delivered".into(), Value::Bool(!entry.delivered_to.is_empty()));
        map.insert(
            "delivered_to".into(),
            Value::Array(entry.delivered_to.iter().map(|a| Value::String(a.to_string())).collect()),
        );
    }
    value
}

/// One `outbox` line.
pub fn outbox_text(state: &State, entry: &OutboxEntry) -> String {
    format!(
        "[{}] to {} (not yet sent): {}",
        format_utc(entry.sent_at),
        peer_label(state, &entry.peer),
        entry.text
    )
}

/// One `outbox --json` object.
pub fn outbox_json(entry: &OutboxEntry) -> Value {
    json!({
        "id": entry.id.to_string(),
        "peer": entry.peer.to_string(),
        "sent_at": entry.sent_at,
        "text": entry.text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::{DeviceId, GroupId, MsgId};

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(4_102_444_799_000), "2099-12-31 23:59:59 UTC");
        assert_eq!(format_utc_minutes(1_700_000_000_123), "2023-11-14 22:13 UTC");
        assert_eq!(format_utc_minutes(951_782_459_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn inbox_formats() {
        let mut state = State::new(AccountId([1; 16]), DeviceId([1; 16]), None);
        let peer = AccountId([2; 16]);
        state.record_received(crate::state::ReceivedText {
            id: MsgId([3; 16]),
            conversation: GroupId([4; 16]),
            peer,
            from: peer,
            from_device: DeviceId([5; 16]),
            from_name: None,
            sent_at: 0,
            received_at: 7,
            text: "hallo".into(),
        });
        let entry = &state.history[0];
        assert_eq!(
            inbox_text(&state, entry),
            format!("[1970-01-01 00:00:00 UTC] (no name) <{peer}>: hallo")
        );
        let json = inbox_json(&state, entry);
        assert_eq!(json["from_name"], Value::Null);
        assert_eq!(json["received_at"], 7);
        assert_eq!(json["from"], peer.to_string());
        let history = history_json(entry);
        assert_eq!(history["direction"], "in");
        assert!(history.get("delivered").is_none());
    }
}
