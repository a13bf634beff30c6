//! The wake-ups waiting to be pushed: at most one entry per device, at most
//! `push_queue_max` devices, and at most one push per device per
//! `push_min_interval_secs`.
//!
//! A device that is woken again while its wake-up still waits is not
//! queued twice (the one push wakes it for both). A device pushed less than
//! the interval ago gets its next push when the interval is over, so a
//! burst of messages makes one push now and at most one more later. The
//! table also remembers when each device was last pushed, for as long as
//! that matters (one interval); entries are dropped after that. When the
//! table is full, a new device's wake-up is dropped and counted: memory
//! stays bounded whatever the senders do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stadtbote_protocol::DeviceId;
use tokio::sync::Notify;

/// What [`WakeQueue::wake`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// A push is now scheduled.
    Scheduled,
    /// A push was already scheduled for the device (coalesced).
    Coalesced,
    /// The table is full; nothing was queued.
    Dropped,
}

#[derive(Debug, Default)]
struct Slot {
    /// When the scheduled push is due (with its key in `due`).
    due: Option<(Instant, u64)>,
    /// When the device was last handed to the sender.
    last_sent: Option<Instant>,
}

#[derive(Debug, Default)]
struct Table {
    slots: HashMap<DeviceId, Slot>,
    /// Scheduled pushes by due time (and a sequence number for ties).
    due: BTreeMap<(Instant, u64), DeviceId>,
    seq: u64,
}

/// The bounded, coalescing table of wake-ups.
#[derive(Debug)]
pub struct WakeQueue {
    table: Mutex<Table>,
    notify: Notify,
    capacity: usize,
    interval: Duration,
}

impl WakeQueue {
    /// A table of at most `capacity` devices, pushing each at most once per
    /// `interval`.
    pub fn new(capacity: usize, interval: Duration) -> Self {
        Self { table: Mutex::new(Table::default()), notify: Notify::new(), capacity, interval }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere mid-update leaves a consistent enough table.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Schedules a push for `device`.
    pub fn wake(&self, device: DeviceId, now: Instant) -> Queued {
        let mut table = self.lock();
        if let Some(slot) = table.slots.get(&device) {
            if slot.due.is_some() {
                return Queued::Coalesced;
            }
        } else if table.slots.len() >= self.capacity {
            let interval = self.interval;
            table.slots.retain(|_, slot| {
                slot.due.is_some()
                    || slot.last_sent.is_some_and(|at| now.duration_since(at) < interval)
            });
            if table.slots.len() >= self.capacity {
                return Queued::Dropped;
            }
        }
        table.seq = table.seq.wrapping_add(1);
        let seq = table.seq;
        let slot = table.slots.entry(device).or_default();
        let at = match slot.last_sent {
            Some(last) => (last + self.interval).max(now),
            None => now,
        };
        slot.due = Some((at, seq));
        table.due.insert((at, seq), device);
        drop(table);
        self.notify.notify_one();
        Queued::Scheduled
    }

    /// Takes every push due at `now` (marking the devices as pushed now)
    /// and returns them with when the next one is due.
    pub fn take_due(&self, now: Instant) -> (Vec<DeviceId>, Option<Instant>) {
        let mut table = self.lock();
        let mut out = Vec::new();
        while let Some((&(at, seq), &device)) = table.due.first_key_value() {
            if at > now {
                break;
            }
            table.due.remove(&(at, seq));
            if let Some(slot) = table.slots.get_mut(&device) {
                slot.due = None;
                slot.last_sent = Some(now);
            }
            out.push(device);
        }
        let next = table.due.first_key_value().map(|(&(at, _), _)| at);
        (out, next)
    }

    /// Waits until [`WakeQueue::wake`] scheduled something (returns at once
    /// if it did since the last call).
    pub async fn scheduled(&self) {
        self.notify.notified().await;
    }

    /// Devices in the table (scheduled or recently pushed).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_burst_makes_one_push_now_and_one_after_the_interval() {
        let queue = WakeQueue::new(10, MINUTE);
        let device = DeviceId([1; 16]);
        let t0 = Instant::now();
        assert_eq!(queue.wake(device, t0), Queued::Scheduled);
        assert_eq!(queue.wake(device, t0), Queued::Coalesced);
        assert_eq!(queue.take_due(t0), (vec![device], None));
        // Three more messages within the minute: one push, at its end.
        for s in 1..4 {
            let at = t0 + Duration::from_secs(s);
            assert_ne!(queue.wake(device, at), Queued::Dropped);
        }
        let (due, next) = queue.take_due(t0 + Duration::from_secs(30));
        assert!(due.is_empty());
        assert_eq!(next, Some(t0 + MINUTE));
        assert_eq!(queue.take_due(t0 + MINUTE).0, vec![device]);
        assert!(queue.take_due(t0 + 10 * MINUTE).0.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_forgets_old_entries() {
        let queue = WakeQueue::new(2, MINUTE);
        let t0 = Instant::now();
        assert_eq!(queue.wake(DeviceId([1; 16]), t0), Queued::Scheduled);
        assert_eq!(queue.wake(DeviceId([2; 16]), t0), Queued::Scheduled);
        assert_eq!(queue.wake(DeviceId([3; 16]), t0), Queued::Dropped);
        assert_eq!(queue.take_due(t0).0.len(), 2);
        // Still remembered for the interval, so still full...
        assert_eq!(queue.wake(DeviceId([3; 16]), t0 + MINUTE / 2), Queued::Dropped);
        // ...and forgotten after it.
        assert_eq!(queue.wake(DeviceId([3; 16]), t0 + MINUTE), Queued::Scheduled);
        assert_eq!(queue.len(), 1);
    }
}
