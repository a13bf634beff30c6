//! Live pushes of new channel posts to the connections listening to them.
//!
//! [`ChannelListeners`] maps each channel to the outboxes of the connections
//! that sent a `channel_listen` for it. It lives in memory only: it is never
//! stored, never logged, and no request returns it, so the server keeps no
//! list of a channel's followers. Each connection's registrations are held
//! by its [`Listens`] and removed when that drops (the connection ends), so
//! the map never outgrows `max_connections × max_channel_listens`.
//!
//! A new post is encoded into one WebSocket frame (header and event) once
//! and queued, as the same reference-counted bytes, on every listener's
//! [`Wire`]; one fan-out task per post then writes each listener's queue
//! straight into its socket with one non-blocking `send()` — no
//! per-follower task wake-up or copy, and posts of a burst that queued up
//! meanwhile leave together. Only bytes the socket cannot take at once
//! wait in the connection's bounded queue for its writer task. A listener whose queue is full misses the post (it notices
//! the gap in sequence numbers and fetches); it never delays the others and
//! never makes the server buffer more, and one that stops reading is
//! dropped by its writer after `send_timeout_secs` as before.
//!
//! [`ChannelListeners::publish`] is the node's single entry for a post: it
//! takes the registry lock once per post (not per follower) to copy the
//! listeners' handles, encodes the frame once and queues and writes it
//! outside the lock.
//! When several nodes share one store (issue 20, item 2), a post stored on
//! another node is meant to enter here once per node, from that node's
//! notification of the new post, so that the store and the network carry
//! each post once per node and never once per follower. What one delivery
//! costs after this point, and what bounds it, is in docs/BENCHMARKS.md
//! ("Channel fan-out at the machine's limit").

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use stadtbote_protocol::ChannelId;
use stadtbote_protocol::frame::{ChannelPostRecord, Event, ServerBody, ServerFrame, encode};

use crate::wire::{self, Wire};

/// Sockets written between two yields of a fan-out task, so that other
/// tasks (the next post among them) run while thousands are written.
const WRITES_PER_TURN: usize = 256;

/// Writes every listener's queue into its socket, a turn at a time.
async fn write_all(listeners: Vec<Arc<Wire>>) {
    for turn in listeners.chunks(WRITES_PER_TURN) {
        turn.iter().for_each(|listener| listener.write_queued());
        tokio::task::yield_now().await;
    }
}

#[derive(Default)]
struct Inner {
    /// Channel → connection id → that connection's sending side.
    channels: HashMap<ChannelId, HashMap<u64, Arc<Wire>>>,
    /// Connections listening to at least one channel.
    connections: usize,
}

/// Who listens to which channel, in memory only.
#[derive(Default)]
pub struct ChannelListeners {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

/// What one publication reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Listeners whose socket or queue took the post.
    pub delivered: usize,
    /// Listeners whose queue was full or whose connection is ending.
    pub missed: usize,
}

impl ChannelListeners {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps half-updated in a way that
        // matters: at worst a closed outbox stays until its connection drops.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection's (initially empty) set of listened channels, writing
    /// into `wire`.
    pub fn connection(self: &Arc<Self>, wire: Arc<Wire>) -> Listens {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Listens { registry: self.clone(), id, wire, channels: HashSet::new() }
    }

    /// Offers `post` of `channel` to every listening connection.
    ///
    /// When it returns, the post is queued for every listener (so that an
    /// author who posts again only after the answer cannot overtake its own
    /// previous post at a listener); one task per post then writes the
    /// listeners' queues into their sockets. Posts that arrive while an
    /// earlier one is still being written leave with it, in the same
    /// `send()`, for every listener not reached yet.
    pub fn publish(&self, channel: &ChannelId, post: ChannelPostRecord) -> Pushed {
        // The handles are copied under the lock and written to outside it:
        // listens and hang-ups elsewhere never wait for a fan-out.
        let listeners: Vec<Arc<Wire>> = match self.lock().channels.get(channel) {
            Some(listeners) => listeners.values().cloned().collect(),
            None => return Pushed::default(),
        };
        // Encoded once, WebSocket header included: every listener gets the
        // same reference-counted bytes.
        let event = Event::ChannelPost { channel: *channel, post };
        let payload = encode(&ServerFrame::new(ServerBody::Event { event }));
        let frame = wire::frame(wire::opcode::BINARY, &payload);
        drop(payload);
        let mut pushed = Pushed::default();
        for listener in &listeners {
            if listener.queue_post(&frame) {
                pushed.delivered += 1;
            } else {
                pushed.missed += 1;
            }
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(write_all(listeners));
            }
            // Called outside the runtime: written right here.
            Err(_) => listeners.iter().for_each(|listener| listener.write_queued()),
        }
        pushed
    }

    /// Connections listening to at least one channel.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    /// Channels with at least one listener.
    pub fn channels(&self) -> usize {
        self.lock().channels.len()
    }
}

/// Refusal of a listen that would exceed the per-connection limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many channels")]
pub struct TooManyListens;

/// One connection's listened channels; unregisters them when dropped.
pub struct Listens {
    registry: Arc<ChannelListeners>,
    id: u64,
    wire: Arc<Wire>,
    channels: HashSet<ChannelId>,
}

impl Listens {
    /// Adds `channels`, keeping the total at most `max`; all or nothing.
    /// Returns how many channels the connection now listens to.
    pub fn add(&mut self, channels: &[ChannelId], max: usize) -> Result<usize, TooManyListens> {
        let new: HashSet<ChannelId> =
            channels.iter().filter(|c| !self.channels.contains(c)).copied().collect();
        if self.channels.len().saturating_add(new.len()) > max {
            return Err(TooManyListens);
        }
        if new.is_empty() {
            return Ok(self.channels.len());
        }
        let mut inner = self.registry.lock();
        if self.channels.is_empty() {
            inner.connections += 1;
        }
        for channel in &new {
            inner.channels.entry(*channel).or_default().insert(self.id, self.wire.clone());
        }
        drop(inner);
        self.channels.extend(new);
        Ok(self.channels.len())
    }

    /// Whether the connection listens to any channel.
    pub fn is_listening(&self) -> bool {
        !self.channels.is_empty()
    }

    /// How many channels the connection listens to.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether it listens to none.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

impl Drop for Listens {
    fn drop(&mut self) {
        if self.channels.is_empty() {
            return;
        }
        let mut inner = self.registry.lock();
        for channel in &self.channels {
            if let Some(listeners) = inner.channels.get_mut(channel) {
                listeners.remove(&self.id);
                if listeners.is_empty() {
                    inner.channels.remove(channel);
                }
            }
        }
        inner.connections = inner.connections.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireLimits;

    fn post(seq: u64) -> ChannelPostRecord {
        ChannelPostRecord { seq, stored_at: 1, post: vec![7; 10].into() }
    }

    /// A wire without a socket: offers queue up to `frames`.
    fn queue(frames: usize) -> Arc<Wire> {
        Wire::new(None, WireLimits { frames, bytes: 1 << 20 })
    }

    #[test]
    fn listeners_are_counted_limited_and_removed_on_drop() {
        let registry = ChannelListeners::new();
        let wire = queue(4);
        let mut a = registry.connection(wire.clone());
        let mut b = registry.connection(wire);
        let (c1, c2, c3) = (ChannelId([1; 16]), ChannelId([2; 16]), ChannelId([3; 16]));
        assert_eq!(a.add(&[c1, c2, c1], 2), Ok(2));
        assert_eq!(a.add(&[c3], 2), Err(TooManyListens));
        assert_eq!(a.add(&[c2], 2), Ok(2));
        assert_eq!(b.add(&[c1], 2), Ok(1));
        assert_eq!((registry.connections(), registry.channels()), (2, 2));
        drop(a);
        assert_eq!((registry.connections(), registry.channels()), (1, 1));
        drop(b);
        assert_eq!((registry.connections(), registry.channels()), (0, 0));
    }

    #[test]
    fn a_full_queue_misses_the_post_without_blocking_others() {
        let registry = ChannelListeners::new();
        let channel = ChannelId([9; 16]);
        let (slow, fast) = (queue(1), queue(8));
        let mut s = registry.connection(slow.clone());
        let mut f = registry.connection(fast.clone());
        s.add(&[channel], 4).unwrap();
        f.add(&[channel], 4).unwrap();
        assert_eq!(registry.publish(&channel, post(1)), Pushed { delivered: 2, missed: 0 });
        assert_eq!(registry.publish(&channel, post(2)), Pushed { delivered: 1, missed: 1 });
        assert_eq!(registry.publish(&ChannelId([0; 16]), post(3)), Pushed::default());
        // The same frame (one encoding) went to both: the slow one holds one.
        assert_eq!(fast.queued_bytes(), 2 * slow.queued_bytes());
    }
}
