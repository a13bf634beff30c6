//! Which application messages are "worth a notification" (issue 18).
//!
//! The sender decides, per message, whether the server may wake the
//! recipients' offline devices by Web Push: it sends the envelope with
//! [`Request::SendNotify`] instead of [`Request::Send`]. Browsers show a
//! visible notification for every push, so only what a person wants to
//! hear about now is marked: a message, a new report or consultation
//! request, a reply or status change in a thread, a discussion group post.
//! Receipts, group metadata, catch-up copies and settings are not. Commits,
//! Welcomes, key packages and channel posts are other requests and never
//! cause a push. The table with the reasons is in docs/PROTOCOL.md
//! ("Which messages are worth a notification").
//!
//! The mark is the one bit the server learns about an envelope's kind; it
//! does not tell a message from a status change (see docs/PRIVACY.md).

use serde_bytes::ByteBuf;

use crate::app::AppBody;
use crate::frame::Request;
use crate::ids::GroupId;

/// Whether a message with this body is marked worth a notification.
///
/// The match names every kind (no wildcard): a new kind must be decided
/// here and in the table of docs/PROTOCOL.md.
pub fn worth_notification(body: &AppBody) -> bool {
    match body {
        // A 1:1 message.
        AppBody::Text { .. } => true,
        // A new report: wakes the department's staff.
        AppBody::Report { .. } => true,
        // A consultation request wakes staff only while a session is live
        // (outside it the org answers when the office opens).
        AppBody::Consult { live, .. } => *live,
        // Replies and status changes (with their reason), both directions;
        // in a live consultation session, its chat messages.
        AppBody::Reply { .. } => true,
        // The thread moved to another department: a step the citizen sees,
        // and for the new department's staff (added by the commit just
        // before it) a new report.
        AppBody::Assign { .. } => true,
        // A discussion group post.
        AppBody::GroupPost { .. } => true,
        // Delivery receipts: a push would show an empty notification.
        AppBody::Receipt { .. } => false,
        // Group name and link secret: metadata, nothing to read.
        AppBody::GroupMeta { .. } => false,
        // A setting (disappearing messages).
        AppBody::Disappear { .. } => false,
        // A catch-up copy for devices added later; what it carries was
        // announced when it was sent.
        AppBody::History { .. } => false,
    }
}

/// The request that stores `message` (an encrypted `AppMessage` with
/// `body`) for the group's other devices: `send_notify` when the body is
/// worth a notification, `send` otherwise.
pub fn send_request(group: GroupId, message: Vec<u8>, body: &AppBody) -> Request {
    let message = ByteBuf::from(message);
    if worth_notification(body) {
        Request::SendNotify { group, message }
    } else {
        Request::Send { group, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ThreadStatus;
    use crate::ids::{AccountId, MsgId, OrgId};

    fn marked(body: AppBody) -> bool {
        matches!(send_request(GroupId([1; 16]), vec![1], &body), Request::SendNotify { .. })
    }

    #[test]
    fn messages_and_status_changes_are_marked_receipts_and_metadata_are_not() {
        let org = OrgId([2; 16]);
        assert!(marked(AppBody::Text { text: "Hallo".into() }));
        assert!(marked(AppBody::Report {
            org,
            handle: "musterhausen".into(),
            category: "Straße".into(),
            department: "Bauhof".into(),
            text: "Schlagloch".into(),
            location: None,
            photos: vec![],
        }));
        let consult = |live| AppBody::Consult {
            org,
            handle: "musterhausen".into(),
            department: "Bürgerbüro".into(),
            text: "Frage".into(),
            live,
        };
        assert!(marked(consult(true)));
        assert!(!marked(consult(false)));
        assert!(marked(AppBody::Reply {
            text: "Erledigt".into(),
            photos: vec![],
            status: Some(ThreadStatus::Resolved),
            reason: Some("repariert".into()),
            as_org: Some("Stadt Musterhausen".into()),
        }));
        assert!(marked(AppBody::Assign { department: "Ordnungsamt".into() }));
        assert!(marked(AppBody::GroupPost { text: "Treffen".into() }));
        assert!(!marked(AppBody::Receipt { ids: vec![MsgId([3; 16])] }));
        assert!(!marked(AppBody::GroupMeta {
            name: "Nachbarn".into(),
            org,
            handle: "musterhausen".into(),
            link_secret: ByteBuf::from(vec![0; 32]),
        }));
        assert!(!marked(AppBody::Disappear { days: 7, at: None }));
        assert!(!marked(AppBody::History { creator: AccountId([4; 16]), messages: vec![] }));
    }
}
