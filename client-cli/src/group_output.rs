//! The text and JSON formats of the discussion-group commands (a contract:
//! scripts parse them).

use serde_json::{Value, json};
use stadtbote_protocol::GroupId;

use crate::channel_output::format_minute;
use crate::groups::{GroupPost, GroupSummary};
use crate::output::{safe, safe_body};

/// `[YYYY-MM-DD HH:MM UTC] <display name or (no name)>: <text>`
pub fn post_text(post: &GroupPost) -> String {
    let no_name = stadtbote_i18n::tr!("show-no-name");
    let name = safe(post.from_name.as_deref().unwrap_or(&no_name));
    format!("[{}] {name}: {}", format_minute(post.sent_at), safe_body(&post.text))
}

/// One JSON object per post.
pub fn post_json(group: &GroupId, post: &GroupPost) -> Value {
    json!({
        "group": group.to_string(),
        "id": post.id.to_string(),
        "from": post.from.to_string(),
        "from_name": post.from_name,
        "sent_at": post.sent_at,
        "text": post.text,
    })
}

/// One line of `groups`.
pub fn summary_text(summary: &GroupSummary) -> String {
    format!(
        "{}  {} ({}) — {} member(s){}",
        summary.group,
        safe(&summary.name),
        safe(&summary.handle),
        summary.members,
        if summary.moderator { ", moderator" } else { "" }
    )
}

/// One JSON object of `groups --json`.
pub fn summary_json(summary: &GroupSummary) -> Value {
    json!({
        "group": summary.group.to_string(),
        "name": summary.name,
        "handle": summary.handle,
        "members": summary.members,
        "moderator": summary.moderator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::{AccountId, DeviceId, MsgId};

    #[test]
    fn post_formats() {
        let post = GroupPost {
            id: MsgId::random(),
            from: AccountId([1; 16]),
            from_device: DeviceId([2; 16]),
            from_name: None,
            sent_at: 0,
            text: "Moin".into(),
            shown: false,
        };
        assert_eq!(post_text(&post), format!("[{}] (no name): Moin", format_minute(0)));
        let value = post_json(&GroupId([3; 16]), &post);
        assert_eq!(value["from"], AccountId([1; 16]).to_string());
        assert!(value["from_name"].is_null());
        assert_eq!(value["text"], "Moin");
    }
}
