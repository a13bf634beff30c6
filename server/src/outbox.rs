//! The bounded per-connection send queue.
//!
//! Everything a connection sends (answers, events, pings, the final close
//! frame) goes through one [`Outbox`] to the connection's writer task. The
//! queue holds `send_queue_frames` items; a sender that finds it full waits
//! (backpressure on request handling and delivery), and if it stays full for
//! `send_timeout_secs` the client is not reading and the connection is dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use stadtbote_protocol::frame::{ServerBody, ServerFrame, encode};
use tokio::sync::mpsc;

use crate::connection::Disconnect;
use crate::delivery::Delivery;

/// One item for the writer task.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded protocol frame, sent as a binary message.
    Frame(Vec<u8>),
    /// An encoded frame shared with other connections (a channel post
    /// pushed to all its listeners is encoded once). Behind an `Arc` so
    /// that this enum, of which every connection's queue keeps a block of
    /// slots, stays at 24 bytes.
    Shared(Arc<Bytes>),
    /// The connection's mailbox delivery, handed to the writer once the
    /// connection is authenticated (after the login answer).
    Deliver(Box<Delivery>),
    /// A WebSocket ping (keep-alive).
    Ping,
    /// A close frame with the code and fixed text of why the connection
    /// ends ([`Disconnect::close_frame`]); the writer stops after sending it.
    Close(Disconnect),
}

/// Why an item could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The writer has stopped; the connection is ending.
    #[error("connection closed")]
    Closed,
    /// The queue stayed full for the send timeout.
    #[error("send queue stayed full")]
    Timeout,
}

/// Sending half of a connection's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    timeout: Duration,
}

impl Outbox {
    /// A queue of `capacity` items whose senders give up after `timeout`.
    pub fn new(capacity: usize, timeout: Duration) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx, timeout }, rx)
    }

    /// Queues an item, waiting at most the send timeout for room.
    pub async fn push(&self, item: Outgoing) -> Result<(), OutboxError> {
        match tokio::time::timeout(self.timeout, self.tx.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(OutboxError::Closed),
            Err(_) => Err(OutboxError::Timeout),
        }
    }

    /// Queues an item only if there is room right now.
    pub fn try_push(&self, item: Outgoing) -> bool {
        self.tx.try_send(item).is_ok()
    }

    /// Encodes and queues a frame body.
    pub async fn send(&self, body: ServerBody) -> Result<(), OutboxError> {
        self.push(Outgoing::Frame(encode(&ServerFrame::new(body)))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_items_stay_small() {
        // Every connection's queue allocates a block of 32 slots.
        assert!(std::mem::size_of::<Outgoing>() <= 24);
    }

    #[tokio::test]
    async fn full_queue_times_out() {
        let (outbox, mut rx) = Outbox::new(1, Duration::from_millis(20));
        outbox.push(Outgoing::Ping).await.unwrap();
        assert!(!outbox.try_push(Outgoing::Ping));
        assert_eq!(outbox.push(Outgoing::Ping).await, Err(OutboxError::Timeout));
        assert!(matches!(rx.recv().await, Some(Outgoing::Ping)));
        drop(rx);
        assert_eq!(outbox.push(Outgoing::Ping).await, Err(OutboxError::Closed));
    }
}
