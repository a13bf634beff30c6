//! The text and JSON formats of the channel commands (a contract: scripts
//! parse them). JSON feed lines carry posts and warnings alike on stdout, so
//! a script sees a rejected post as well as a person does.

use serde_json::{Value, json};

use crate::channels::{FeedItem, FeedLine, Follow, PublishedChannel};
use stadtbote_i18n::tr;

use crate::output::{format_utc, safe, safe_body};

/// `YYYY-MM-DD HH:MM ZONE` in local time (minutes are enough for a feed).
pub fn format_minute(ms: u64) -> String {
    let full = format_utc(ms);
    // "YYYY-MM-DD HH:MM:SS ZONE" → drop ":SS".
    match (full.get(..16), full.get(19..)) {
        (Some(head), Some(tail)) => format!("{head}{tail}"),
        _ => full,
    }
}

/// One feed line as text; warnings go to stdout prefixed `warning:`/`note:`.
pub fn feed_text(line: &FeedLine) -> String {
    match &line.item {
        FeedItem::Post { seq, post } => {
            let mut text = format!(
                "[{}] {} #{seq}: {}",
                format_minute(post.body.posted_at),
                safe(&line.name),
                safe_body(&post.body.text)
            );
            if !post.body.photos.is_empty() {
                let photos = tr!("feed-photos", count = post.body.photos.len());
                text.push_str(&format!(" [{photos}]"));
            }
            text
        }
        FeedItem::Warning { kind: crate::channels::WarningKind::Expired, message, .. } => {
            tr!("note-line", message = safe(message))
        }
        FeedItem::Warning { message, .. } => tr!("warning-line", message = safe(message)),
    }
}

/// One feed line as JSON.
pub fn feed_json(line: &FeedLine) -> Value {
    match &line.item {
        FeedItem::Post { seq, post } => json!({
            "channel": line.channel.to_string(),
            "channel_name": line.name,
            "seq": seq,
            "posted_at": post.body.posted_at,
            "text": post.body.text,
            "photos": post.body.photos.iter().map(|p| json!({
                "blob": p.blob.to_string(),
                "mime": p.mime,
                "size": p.size,
                "name": p.name,
            })).collect::<Vec<_>>(),
            "author_department": post.author.department,
        }),
        // `event` repeats `warning` under the name scripts use for feed
        // events (`"event": "withheld"`); `until` is the range's last post.
        FeedItem::Warning { kind, seq, until, message } => json!({
            "channel": line.channel.to_string(),
            "warning": kind.as_str(),
            "event": kind.as_str(),
            "seq": seq,
            "until": until,
            "message": message,
        }),
    }
}

/// A follow as JSON.
pub fn follow_json(follow: &Follow) -> Value {
    json!({
        "channel": follow.channel.to_string(),
        "name": follow.name,
        "handle": follow.handle,
        "last_seq": follow.cursor.last_seq,
        // The publisher-signed retention (null until first verified).
        "retention_days": follow.retention_days,
    })
}

/// A follow as text.
pub fn follow_text(follow: &Follow) -> String {
    format!(
        "{}  {} ({})  {}",
        follow.channel,
        safe(&follow.name),
        safe(&follow.handle),
        tr!("channels-last-post", seq = follow.cursor.last_seq)
    )
}

/// A published channel as JSON.
pub fn published_json(channel: &PublishedChannel) -> Value {
    json!({
        "channel": channel.channel.to_string(),
        "name": channel.meta.name,
        "handle": channel.handle,
        "key_epoch": channel.key_epoch,
        "last_seq": channel.last_seq,
        "replies": match channel.meta.replies {
            stadtbote_protocol::channel::Replies::Off => "off",
            stadtbote_protocol::channel::Replies::Private => "private",
        },
        "retention_days": channel.meta.retention_days,
    })
}

/// A published channel as text.
pub fn published_text(channel: &PublishedChannel) -> String {
    stadtbote_i18n::tr!(
        "channel-published-line",
        channel = channel.channel,
        name = safe(&channel.meta.name),
        handle = safe(&channel.handle),
        epoch = channel.key_epoch,
        seq = channel.last_seq
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `channel list` keeps its English line byte for byte and has a
    /// German one.
    #[test]
    fn published_line_in_both_languages() {
        use stadtbote_i18n::{Arg, Lang, tr_in};
        let args = |lang| {
            let text = |s: &str| Arg::Text(s.to_string());
            tr_in(
                lang,
                "channel-published-line",
                &[
                    ("channel", text("PQA7")),
                    ("name", text("Amtsblatt")),
                    ("handle", text("musterhausen")),
                    ("epoch", text("2")),
                    ("seq", text("14")),
                ],
            )
        };
        assert_eq!(args(Lang::En), "PQA7  Amtsblatt (musterhausen)  key epoch 2, last post #14");
        assert_eq!(
            args(Lang::De),
            "PQA7  Amtsblatt (musterhausen)  Schlüsselgeneration 2, letzter Beitrag #14"
        );
    }

    #[test]
    fn minutes_format() {
        // Local time: the same as the minutes format of `output`, whatever
        // the zone of the machine running the test.
        for ms in [0, 86_400_000 + 61_000, 1_795_342_502_000] {
            assert_eq!(format_minute(ms), crate::output::format_utc_minutes(ms));
        }
    }
}
