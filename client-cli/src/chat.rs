//! `stadtbote chat THREAD`: a live conversation in one thread, for the
//! citizen and for staff during consultation hours.
//!
//! The client stays connected. Lines typed (or piped) in are sent as replies
//! through the thread outbox, so a line survives a lost connection like any
//! other message; mailbox deliveries are processed as they arrive (all of
//! them, so other threads and conversations stay up to date) and the new
//! messages of this thread are handed to the caller to print, in the order
//! they arrived. The session ends at end of input or with `/quit`.
//!
//! Reading the terminal blocks, so the caller reads lines on a thread of its
//! own and passes them in through a bounded channel.

use stadtbote_client::clock::Clock;
use stadtbote_i18n::tr;
use std::collections::BTreeSet;
use std::time::Duration;

use stadtbote_protocol::{Event, GroupId, MsgId};
use tokio::sync::mpsc;

use crate::device::Client;
use crate::error::ClientError;
use crate::output::{safe, safe_body};
use crate::sync::SyncReport;
use crate::threads::{ThreadBody, ThreadMessage};

/// The command that ends a chat.
pub const QUIT: &str = "/quit";
/// How long one wait for deliveries lasts before input is looked at again.
const POLL: Duration = Duration::from_millis(500);

/// Something for the caller to show.
#[derive(Debug, Clone)]
pub enum ChatEvent {
    /// A message of the thread that this device has not shown yet.
    Message(Box<ThreadMessage>),
    /// A line could not be sent now; it stays in the outbox.
    NotSent(String),
    /// This device was removed from the thread; the chat ends.
    Removed,
}

/// What woke the chat loop.
enum Step {
    Line(Option<String>),
    Event(Option<Event>),
}

/// One `[HH:MM] Name: text` line (local time).
pub fn chat_line(message: &ThreadMessage) -> String {
    let no_name = tr!("show-no-name");
    let name = safe(message.display_name().unwrap_or(&no_name));
    let mut line = format!("[{}] {name}: ", crate::output::format_clock(message.at()));
    match &message.body {
        ThreadBody::Open { text, photos } | ThreadBody::Reply { text, photos, .. } => {
            line.push_str(&safe_body(text));
            if !photos.is_empty() {
                line.push_str(&format!(" [{}]", tr!("chat-photos", count = photos.len())));
            }
        }
        ThreadBody::Assign { department } => {
            line.push_str(&tr!("show-moved", department = safe(department)));
        }
        ThreadBody::Disappear { days, .. } => {
            line.push_str(&tr!("chat-disappears-in", days = days));
        }
    }
    if let ThreadBody::Reply { status: Some(status), reason, .. } = &message.body {
        line.push_str(" [");
        line.push_str(&tr!("show-status-tag", status = crate::output::status_label(*status)));
        if let Some(reason) = reason {
            line.push_str(&format!(": {}", safe(reason)));
        }
        line.push(']');
    }
    line
}

impl<C: Clock + Clone> Client<C> {
    /// Runs the chat until `lines` ends or says [`QUIT`]. Must be connected
    /// and caught up. Messages already read are not shown again; unread ones
    /// are shown first.
    pub async fn chat(
        &mut self,
        thread: GroupId,
        mut lines: mpsc::Receiver<String>,
        mut show: impl FnMut(ChatEvent),
    ) -> Result<(), ClientError> {
        let mut shown: BTreeSet<MsgId> = BTreeSet::new();
        let mut flush_pending = false;
        self.show_new(&thread, &mut shown, &mut show, true).await?;
        loop {
            if self.thread(&thread)?.removed {
                show(ChatEvent::Removed);
                return Ok(());
            }
            let step = {
                let conn = self.connection()?;
                // Both are cancel-safe: an unread line stays in the channel,
                // a partly read frame stays in the WebSocket's buffer.
                tokio::select! {
                    line = lines.recv() => Step::Line(line),
                    event = conn.next_event(POLL) => Step::Event(event?),
                }
            };
            match step {
                Step::Line(None) => break,
                Step::Line(Some(line)) => {
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text.trim() == QUIT {
                        break;
                    }
                    if !text.trim().is_empty() {
                        self.queue_reply(&thread, text, &[], None, None, false).await?;
                        flush_pending = true;
                    }
                }
                Step::Event(Some(Event::Deliver { envelopes, .. })) => {
                    let mut report = SyncReport::default();
                    self.process_batch(envelopes, &mut report).await?;
                    self.send_receipts().await?;
                }
                Step::Event(_) => {}
            }
            if flush_pending {
                let report = self.flush_thread_outbox().await?;
                flush_pending = false;
                for (entry, error) in report.kept.iter().chain(report.dropped.iter()) {
                    if entry.thread == thread {
                        show(ChatEvent::NotSent(error.to_string()));
                    }
                }
                // Our own lines are not echoed: the terminal shows them.
                for (id, _) in &report.sent {
                    shown.insert(*id);
                }
            }
            self.show_new(&thread, &mut shown, &mut show, false).await?;
        }
        Ok(())
    }

    async fn show_new(
        &mut self,
        thread: &GroupId,
        shown: &mut BTreeSet<MsgId>,
        show: &mut impl FnMut(ChatEvent),
        first: bool,
    ) -> Result<(), ClientError> {
        let record = self.thread(thread)?;
        let fresh: Vec<ThreadMessage> = record
            .messages
            .iter()
            .filter(|m| !shown.contains(&m.id))
            .filter(|m| if first { !m.read } else { m.from_device != self.device() })
            .cloned()
            .collect();
        if first {
            shown.extend(record.messages.iter().map(|m| m.id));
        }
        for message in fresh {
            shown.insert(message.id);
            show(ChatEvent::Message(Box::new(message)));
        }
        self.mark_thread_read(thread).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::SenderRole;
    use stadtbote_protocol::app::ThreadStatus;
    use stadtbote_protocol::{AccountId, DeviceId};

    #[test]
    fn chat_lines_show_time_name_text_and_status() {
        let message = ThreadMessage {
            id: MsgId([1; 16]),
            from: AccountId([1; 16]),
            from_device: DeviceId([1; 16]),
            from_name: None,
            role: SenderRole::Staff,
            sent_at: 0,
            // 2023-11-14 22:13:20 UTC
            received_at: Some(1_700_000_000_000),
            body: ThreadBody::Reply {
                text: "Guten Abend".into(),
                photos: vec![],
                status: Some(ThreadStatus::Resolved),
                reason: Some("beantwortet".into()),
                as_org: Some("Stadt Goslar".into()),
            },
            read: false,
        };
        let clock = crate::output::format_clock(1_700_000_000_000);
        assert_eq!(
            chat_line(&message),
            format!("[{clock}] Stadt Goslar: Guten Abend [status: resolved: beantwortet]")
        );
    }
}
