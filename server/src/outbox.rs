//! The bounded per-connection send queue.
//!
//! Everything a connection sends (answers, events, pings, the final close
//! frame) goes through one [`Outbox`] to the connection's writer task. The
//! queue holds `send_queue_frames` items; a sender that finds it full waits
//! (backpressure on request handling and delivery), and if it stays full for
//! `send_timeout_secs` the client is not reading and the connection is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use stadtbote_protocol::frame::{ServerBody, ServerFrame, encode};
use tokio::sync::Notify;

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

/// The queue itself, shared by the senders and the writer.
///
/// A `VecDeque` under a lock with two [`Notify`]s rather than a tokio
/// `mpsc` channel: the channel allocates its first block of 32 slots and
/// several cache-line-padded counters up front (about 1.3 KiB per
/// connection, most of it never used by an idle connection), while this
/// allocates nothing until the first item and gives back a burst's room
/// once it drained.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: an item was queued or the last sender left.
    items: Notify,
    /// Wakes senders: room was made or the writer left.
    room: Notify,
    capacity: usize,
}

struct State {
    queue: VecDeque<Outgoing>,
    /// Live [`Outbox`] handles; at zero the writer's `recv` ends.
    senders: usize,
    /// The writer dropped its [`Receiver`]: every push fails.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only plain values inside; a panic elsewhere cannot break them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` if there is room; gives it back otherwise.
    fn try_push(&self, item: Outgoing) -> Result<(), (Outgoing, OutboxError)> {
        let mut state = self.lock();
        if state.closed {
            return Err((item, OutboxError::Closed));
        }
        if state.queue.len() >= self.capacity {
            return Err((item, OutboxError::Timeout));
        }
        state.queue.push_back(item);
        drop(state);
        self.items.notify_one();
        Ok(())
    }
}

/// Sending half of a connection's queue. Cheap to clone.
pub struct Outbox {
    shared: Arc<Shared>,
    timeout: Duration,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("capacity", &self.shared.capacity).finish_non_exhaustive()
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self { shared: self.shared.clone(), timeout: self.timeout }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders = state.senders.saturating_sub(1);
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.items.notify_one();
        }
    }
}

impl Outbox {
    /// A queue of `capacity` items whose senders give up after `timeout`.
    pub fn new(capacity: usize, timeout: Duration) -> (Self, Receiver) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { queue: VecDeque::new(), senders: 1, closed: false }),
            items: Notify::new(),
            room: Notify::new(),
            capacity: capacity.max(1),
        });
        (Self { shared: shared.clone(), timeout }, Receiver { shared })
    }

    /// Queues an item, waiting at most the send timeout for room.
    pub async fn push(&self, item: Outgoing) -> Result<(), OutboxError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut item = item;
        loop {
            // Registered before the check, so that room made in between
            // is not missed.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.shared.try_push(item) {
                Ok(()) => return Ok(()),
                Err((_, OutboxError::Closed)) => return Err(OutboxError::Closed),
                Err((back, OutboxError::Timeout)) => item = back,
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(OutboxError::Timeout);
            }
        }
    }

    /// Queues an item only if there is room right now.
    pub fn try_push(&self, item: Outgoing) -> bool {
        self.shared.try_push(item).is_ok()
    }

    /// Encodes and queues a frame body.
    pub async fn send(&self, body: ServerBody) -> Result<(), OutboxError> {
        self.push(Outgoing::Frame(encode(&ServerFrame::new(body)))).await
    }
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued right now.
    Empty,
    /// Nothing queued, and every sender is gone.
    Disconnected,
}

/// The writer's half of a connection's queue.
pub struct Receiver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl Receiver {
    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Result<Outgoing, TryRecvError> {
        let mut state = self.shared.lock();
        match state.queue.pop_front() {
            Some(item) => {
                if state.queue.is_empty() && state.queue.capacity() > ROOM_KEPT {
                    // A burst grew it; an idle connection keeps little.
                    state.queue.shrink_to(ROOM_KEPT);
                }
                drop(state);
                self.shared.room.notify_one();
                Ok(item)
            }
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Waits for the next item; `None` once it is empty and every sender
    /// is gone. Cancel-safe: an item is only taken when it is returned.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let shared = self.shared.clone();
        loop {
            let items = shared.items.notified();
            tokio::pin!(items);
            items.as_mut().enable();
            match self.try_recv() {
                Ok(item) => return Some(item),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => items.await,
            }
        }
    }

    /// Whether nothing is queued right now.
    pub fn is_empty(&self) -> bool {
        self.shared.lock().queue.is_empty()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        // Dropped with the receiver, not with the last sender: a delivery
        // or frame left behind holds nothing a sender could still use.
        let left = std::mem::take(&mut state.queue);
        drop(state);
        drop(left);
        self.shared.room.notify_waiters();
    }
}

/// Slots an emptied queue keeps (a burst's extra room is given back).
const ROOM_KEPT: usize = 4;

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

    #[tokio::test]
    async fn a_waiting_sender_gets_room_and_the_writer_sees_the_last_sender_leave() {
        let (outbox, mut rx) = Outbox::new(1, Duration::from_secs(5));
        outbox.push(Outgoing::Ping).await.unwrap();
        let second = outbox.clone();
        let waiting = tokio::spawn(async move { second.push(Outgoing::Ping).await });
        tokio::task::yield_now().await;
        assert!(matches!(rx.recv().await, Some(Outgoing::Ping)));
        assert_eq!(waiting.await.unwrap(), Ok(()), "room made while it waited");
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Ping)));
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        drop(outbox);
        assert!(rx.recv().await.is_none(), "every sender is gone");
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn an_emptied_queue_gives_back_its_room() {
        let (outbox, mut rx) = Outbox::new(64, Duration::from_secs(5));
        assert_eq!(rx.shared.lock().queue.capacity(), 0, "nothing allocated up front");
        for _ in 0..40 {
            assert!(outbox.try_push(Outgoing::Ping));
        }
        assert!(rx.shared.lock().queue.capacity() >= 40);
        while rx.try_recv().is_ok() {}
        assert!(rx.shared.lock().queue.capacity() <= ROOM_KEPT);
        assert!(rx.is_empty());
    }
}
