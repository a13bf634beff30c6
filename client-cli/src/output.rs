//! How messages are shown: the text and JSON-lines formats of `inbox`,
//! `history` and `outbox`. These formats are a contract (scripts and the
//! end-to-end tests parse them), so they live in one place.
//!
//! It also owns [`safe`] and [`safe_body`], the one place where a string
//! that came from another party or the server is made harmless for a
//! terminal before the text formats print it (see "Terminal safety" below).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Value, json};
use stadtbote_protocol::AccountId;

use crate::state::{Direction, HistoryEntry, OutboxEntry, State};

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS ZONE` in the local
/// time zone (`TZ`, else the system's), with the zone's abbreviation, e.g.
/// `2026-11-22 11:15:02 CET`. (The name is historic: text output used to be
/// UTC. JSON output keeps Unix milliseconds.)
pub fn format_utc(ms: u64) -> String {
    format_time_in(ms, local_zone(), true)
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM ZONE` in the local time
/// zone.
pub fn format_utc_minutes(ms: u64) -> String {
    format_time_in(ms, local_zone(), false)
}

/// `HH:MM` in the local time zone (the chat's clock).
pub fn format_clock(ms: u64) -> String {
    match i64::try_from(ms).ok().and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) {
        Some(at) => at.to_zoned_datetime(local_zone().clone()).strftime("%H:%M").to_string(),
        None => "--:--".to_string(),
    }
}

/// The local time zone, read once per process (jiff reads `TZ`, then
/// `/etc/localtime`; UTC when neither tells).
fn local_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(jiff::tz::TimeZone::system)
}

/// Formats Unix milliseconds in `zone`, with seconds or without.
pub fn format_time_in(ms: u64, zone: &jiff::tz::TimeZone, seconds: bool) -> String {
    let pattern = if seconds { "%Y-%m-%d %H:%M:%S %Z" } else { "%Y-%m-%d %H:%M %Z" };
    match i64::try_from(ms).ok().and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) {
        Some(at) => at.to_zoned_datetime(zone.clone()).strftime(pattern).to_string(),
        // Beyond the year 9999 (a forged or corrupt time): plain UTC.
        None => format_utc_fallback(ms, seconds),
    }
}

fn format_utc_fallback(ms: u64, seconds: bool) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    if seconds {
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    } else {
        format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
    }
}

/// A thread status as the user reads it (German: "eingegangen", …); JSON
/// and the command line keep [`stadtbote_protocol::app::ThreadStatus::as_str`].
pub fn status_label(status: stadtbote_protocol::app::ThreadStatus) -> String {
    use stadtbote_i18n::tr;
    use stadtbote_protocol::app::ThreadStatus as S;
    match status {
        S::Open => tr!("status-open"),
        S::Acknowledged => tr!("status-acknowledged"),
        S::InProgress => tr!("status-in-progress"),
        S::Resolved => tr!("status-resolved"),
        S::Rejected => tr!("status-rejected"),
        S::Reopened => tr!("status-reopened"),
    }
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
    let no_name = stadtbote_i18n::tr!("show-no-name");
    format!(
        "[{}] {} <{}>: {}",
        format_utc(entry.sent_at),
        safe(display_name(state, entry).unwrap_or(&no_name)),
        entry.from,
        safe_body(&entry.text)
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
    use stadtbote_i18n::tr;
    if notice.approved_here {
        tr!(
            "notice-device-approved-here",
            device = notice.device,
            key = notice.fingerprint,
            version = notice.version
        )
    } else {
        tr!(
            "notice-device-added",
            device = notice.device,
            key = notice.fingerprint,
            version = notice.version
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
        Some(name) => format!("{} <{peer}>", safe(name)),
        None => format!("<{peer}>"),
    }
}

/// One `history` line.
pub fn history_text(state: &State, entry: &HistoryEntry) -> String {
    let time = format_utc(entry.sent_at);
    match entry.direction {
        Direction::Out => {
            use stadtbote_i18n::tr;
            let status =
                if entry.delivered_to.contains(&entry.peer) || !entry.delivered_to.is_empty() {
                    tr!("history-delivered")
                } else if entry.from_device == state.device {
                    tr!("history-sent")
                } else {
                    tr!("history-sent-elsewhere")
                };
            format!(
                "[{time}] {}: {} ({status})",
                tr!("history-you-to", peer = peer_label(state, &entry.peer)),
                safe_body(&entry.text)
            )
        }
        Direction::In => format!(
            "[{time}] {} <{}>: {}",
            safe(display_name(state, entry).unwrap_or(&stadtbote_i18n::tr!("show-no-name"))),
            entry.from,
            safe_body(&entry.text)
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
        "[{}] {}: {}",
        format_utc(entry.sent_at),
        stadtbote_i18n::tr!("outbox-to", peer = peer_label(state, &entry.peer)),
        safe_body(&entry.text)
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

// ------------------------------------------------------- terminal safety
//
// Message texts, display names, org, category, department, channel and
// group names, file names, server statements, server error bodies and audit
// entries are written by somebody else. Printed raw, a carriage return or
// an escape sequence could overwrite the line with a fake header ("Stadt
// Goslar (verified): …"), clear the screen, set the window title or write
// the reader's clipboard (OSC 52), and a bidi override could reorder what is
// shown ("exe.pdf"). Every text-format print site passes such strings
// through [`safe`] (one-line fields) or [`safe_body`] (message bodies);
// `--json` output is left exact, JSON escapes control characters itself.

/// What a continuation line of a multi-line message body starts with, so
/// that no line of a body can pass as a message header of its own.
pub const CONTINUATION: &str = "  | ";

/// `text` made harmless for a terminal, as one line: every control
/// character (C0 including newline and tab, DEL, C1) is shown as its
/// Unicode control picture (`␛`, `␍`, `␊`; DEL `␡`) or as `\u{9b}` (C1),
/// and every bidi control (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
/// U+061C) and line/paragraph separator as `\u{202e}`. Anything else is
/// kept, so ordinary text (umlauts, emoji, right-to-left scripts) is
/// unchanged and borrowed.
pub fn safe(text: &str) -> Cow<'_, str> {
    neutralise(text, false)
}

/// Like [`safe`], for a multi-line message body: newlines (and CR LF) are
/// kept, and every line after the first starts with [`CONTINUATION`].
pub fn safe_body(text: &str) -> Cow<'_, str> {
    neutralise(text, true)
}

/// Serialized JSON (one line or pretty) made safe for a terminal without
/// changing its value: serde_json escapes C0 controls itself but writes
/// DEL, C1 controls, bidi controls and U+2028/U+2029 raw, so those become
/// `\uXXXX` escapes. All of them can only occur inside JSON strings (JSON's
/// own syntax is ASCII), so a parser reads back exactly the same strings.
pub fn safe_json(serialized: &str) -> Cow<'_, str> {
    // C0 stays: serde_json escaped it inside strings, and outside them it is
    // the pretty printer's own newlines.
    let risky = |c: char| (c == '\u{7f}' || !c.is_ascii()) && visible(c).is_some();
    if !serialized.chars().any(risky) {
        return Cow::Borrowed(serialized);
    }
    let mut out = String::with_capacity(serialized.len() + 16);
    for c in serialized.chars() {
        if risky(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How one character is shown, or `None` when it is harmless as it is.
fn visible(c: char) -> Option<Cow<'static, str>> {
    match c {
        // C0: the control pictures U+2400–U+241F.
        '\u{0}'..='\u{1f}' => {
            char::from_u32(0x2400 + u32::from(c)).map(|p| Cow::Owned(p.to_string()))
        }
        '\u{7f}' => Some(Cow::Borrowed("\u{2421}")),
        // C1 (8-bit CSI, OSC, …), bidi embeddings, overrides, isolates and
        // marks, and the separators some terminals take for a newline.
        '\u{80}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{61c}'
        | '\u{2028}'
        | '\u{2029}' => Some(Cow::Owned(format!("\\u{{{:x}}}", u32::from(c)))),
        _ => None,
    }
}

fn neutralise(text: &str, multiline: bool) -> Cow<'_, str> {
    let harmless = |c: char| visible(c).is_none();
    if text.chars().all(harmless) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if multiline && (c == '\n' || (c == '\r' && chars.peek() == Some(&'\n'))) {
            if c == '\r' {
                chars.next();
            }
            out.push('\n');
            out.push_str(CONTINUATION);
            continue;
        }
        match visible(c) {
            Some(shown) => {
                let _ = write!(out, "{shown}");
            }
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::{DeviceId, GroupId, MsgId};

    #[test]
    fn safe_shows_controls_and_bidi_and_keeps_ordinary_text() {
        for plain in ["Grüße aus Goslar", "Straße 🚧", "שלום", "مرحبا", ""] {
            assert!(matches!(safe(plain), Cow::Borrowed(_)), "{plain}");
            assert_eq!(safe_body(plain), plain);
        }
        assert_eq!(safe("a\rb"), "a\u{240d}b");
        assert_eq!(safe("\u{1b}[2J"), "\u{241b}[2J");
        assert_eq!(safe("\u{1b}]52;c;ZXZpbA==\u{7}"), "\u{241b}]52;c;ZXZpbA==\u{2407}");
        assert_eq!(safe("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(safe("\u{202e}fdp.exe"), "\\u{202e}fdp.exe");
        assert_eq!(safe("a\nb\tc\u{7f}\u{0}"), "a\u{240a}b\u{2409}c\u{2421}\u{2400}");
        for bidi in
            ['\u{202a}', '\u{202c}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}']
        {
            let shown = safe(&bidi.to_string()).into_owned();
            assert!(!shown.contains(bidi) && shown.starts_with("\\u{"), "{shown}");
        }
    }

    #[test]
    fn nothing_harmful_survives_any_character() {
        for code in (0..0x3000u32).chain([0x202e, 0x2066, 0x2069, 0xfeff]) {
            let Some(c) = char::from_u32(code) else { continue };
            let text = format!("a{c}b");
            for shown in [safe(&text), safe_body(&text)] {
                for bad in shown.chars() {
                    let harmful = (bad.is_control() && bad != '\n')
                        || matches!(bad, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                        || matches!(
                            bad,
                            '\u{200e}' | '\u{200f}' | '\u{61c}' | '\u{2028}' | '\u{2029}'
                        );
                    assert!(!harmful, "U+{code:04X} shown as {shown:?}");
                }
                assert!(!safe(&text).contains('\n'), "one line: U+{code:04X}");
            }
        }
    }

    #[test]
    fn json_stays_exact_but_carries_no_raw_c1_or_bidi() {
        let text = "a\u{1b}[2J\u{9b}31m\u{202e}fdp.exe\u{2066}\u{7f}\u{2028}\nü";
        for serialized in [
            json!({ "text": text }).to_string(),
            serde_json::to_string_pretty(&json!({ "text": text, "n": [1, 2] })).unwrap_or_default(),
        ] {
            let shown = safe_json(&serialized);
            assert!(!shown.chars().any(|c| matches!(c, '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{1b}')), "{shown}");
            let back: Value = serde_json::from_str(&shown).unwrap_or_default();
            assert_eq!(back["text"], text, "{shown}");
        }
        assert!(matches!(safe_json("{\"a\":\"Grüße\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn bodies_keep_lines_but_indent_continuations() {
        let fake = "ok\n[2026-01-01 09:00:00 UTC] Stadt Goslar (verified): zahlen\r\nende\rX";
        let shown = safe_body(fake);
        assert_eq!(
            shown,
            "ok\n  | [2026-01-01 09:00:00 UTC] Stadt Goslar (verified): zahlen\n  | ende\u{240d}X"
        );
        assert!(shown.lines().skip(1).all(|l| l.starts_with(CONTINUATION)));
        assert_eq!(safe("a\nb"), "a\u{240a}b");
    }

    #[test]
    fn utc_formatting() {
        let utc = jiff::tz::TimeZone::UTC;
        let f = |ms| format_time_in(ms, &utc, true);
        assert_eq!(f(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(f(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(f(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(f(4_102_444_799_000), "2099-12-31 23:59:59 UTC");
        assert_eq!(format_time_in(1_700_000_000_123, &utc, false), "2023-11-14 22:13 UTC");
        assert_eq!(format_time_in(951_782_459_000, &utc, false), "2000-02-29 00:00 UTC");
        // Beyond jiff's range: the plain UTC fallback.
        assert_eq!(format_time_in(u64::MAX, &utc, true), format_utc_fallback(u64::MAX, true));
    }

    #[test]
    fn local_times_carry_the_zone_abbreviation() {
        // Central European time as a POSIX TZ string (no tz database needed).
        let cet = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("posix tz");
        assert_eq!(format_time_in(1_795_342_502_000, &cet, true), "2026-11-22 11:15:02 CET");
        assert_eq!(format_time_in(1_783_000_000_000, &cet, false), "2026-07-02 15:46 CEST");
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
