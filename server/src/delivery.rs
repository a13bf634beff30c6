//! Pushing mailbox contents to connected devices.
//!
//! [`DeliveryRegistry`] maps each connected device to a wake-up signal;
//! storing an envelope for a device (after the flush that made it durable)
//! wakes every connection of that device. Each authenticated connection's
//! writer drives a [`Delivery`]: it reads the mailbox from its own cursor in
//! batches, writes `deliver` events, and waits until woken once it has caught
//! up. Entries are removed when the last
//! connection of a device ends, so the registry never outgrows the number of
//! connections.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use stadtbote_protocol::DeviceId;
use stadtbote_protocol::frame::{Event, ServerBody};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::store::{Store, StoreError};

/// Encoded bytes one envelope adds to a `deliver` event besides its payload
/// (CBOR map with id, timestamp and byte-string header; 47 bytes today).
pub const ENVELOPE_OVERHEAD: usize = 64;

/// Encoded bytes of a `deliver` event besides its envelopes, and the margin
/// kept free in every message so that one envelope always fits one event.
pub const FRAME_OVERHEAD: usize = 1024;

struct Entry {
    notify: Arc<Notify>,
    listeners: usize,
}

/// Wake-up signals of connected devices.
#[derive(Default)]
pub struct DeliveryRegistry {
    devices: Mutex<HashMap<DeviceId, Entry>>,
}

impl DeliveryRegistry {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Entry>> {
        // A poisoned lock only means a panic elsewhere mid-update of a
        // counter; the map itself is intact.
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers interest in `device`'s wake-ups until the subscription drops.
    pub fn subscribe(self: &Arc<Self>, device: DeviceId) -> Subscription {
        let mut devices = self.lock();
        let entry = devices
            .entry(device)
            .or_insert_with(|| Entry { notify: Arc::new(Notify::new()), listeners: 0 });
        entry.listeners += 1;
        Subscription { registry: self.clone(), device, notify: entry.notify.clone() }
    }

    /// Wakes every connection of the given devices.
    pub fn wake(&self, devices: &[DeviceId]) {
        let registered = self.lock();
        for device in devices {
            if let Some(entry) = registered.get(device) {
                entry.notify.notify_waiters();
            }
        }
    }

    /// Whether `device` has at least one connection to this server.
    pub fn is_connected(&self, device: &DeviceId) -> bool {
        self.lock().contains_key(device)
    }

    /// Devices with at least one connection.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no device is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One connection's registration for a device's wake-ups.
pub struct Subscription {
    registry: Arc<DeliveryRegistry>,
    device: DeviceId,
    notify: Arc<Notify>,
}

impl Subscription {
    /// The device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut devices = self.registry.lock();
        if let Some(entry) = devices.get_mut(&self.device) {
            entry.listeners = entry.listeners.saturating_sub(1);
            if entry.listeners == 0 {
                devices.remove(&self.device);
            }
        }
    }
}

/// Batch limits of the delivery loop.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryLimits {
    /// Most envelopes per event (`deliver_batch`).
    pub batch: usize,
    /// Payload bytes per event, derived from `max_message_bytes`.
    pub max_bytes: usize,
}

impl DeliveryLimits {
    /// Limits for a connection whose messages may be `max_message_bytes` long.
    pub fn new(batch: usize, max_message_bytes: usize) -> Self {
        let overhead = batch.saturating_mul(ENVELOPE_OVERHEAD).saturating_add(FRAME_OVERHEAD);
        Self { batch: batch.max(1), max_bytes: max_message_bytes.saturating_sub(overhead) }
    }
}

/// One connection's delivery of its device's mailbox: the cursor it has read
/// up to and the wake-up it waits for. The connection's writer task drives it
/// (reading a page whenever it is woken and writing the event itself), so a
/// delivery costs no task and no queue slot of its own.
pub struct Delivery {
    store: Arc<dyn Store>,
    subscription: Subscription,
    limits: DeliveryLimits,
    cursor: u64,
    first: bool,
    /// The wake-up registered before the last mailbox read; boxed once and
    /// re-armed in place.
    wake: Pin<Box<OwnedNotified>>,
}

/// One page read from the mailbox.
#[derive(Debug)]
pub struct Page {
    /// The `deliver` event to send, if there is anything to say.
    pub event: Option<ServerBody>,
    /// Whether more is waiting: read the next page without waiting.
    pub more: bool,
}

impl Delivery {
    /// Delivery of `subscription.device()`'s mailbox from its start. The
    /// first page is an event even when the mailbox is empty.
    pub fn new(store: Arc<dyn Store>, subscription: Subscription, limits: DeliveryLimits) -> Self {
        let wake = Box::pin(subscription.notify.clone().notified_owned());
        Self { store, subscription, limits, cursor: 0, first: true, wake }
    }

    /// Reads the next page after the cursor.
    pub fn next_page(&mut self) -> Result<Page, StoreError> {
        // Register for the next wake-up *before* reading the mailbox: an
        // envelope stored after the read wakes this delivery, and one stored
        // before it is found by the read, so nothing falls in between.
        self.wake.set(self.subscription.notify.clone().notified_owned());
        self.wake.as_mut().enable();
        let page = self.store.mailbox(
            &self.subscription.device,
            self.cursor,
            self.limits.batch,
            self.limits.max_bytes,
        )?;
        if let Some(last) = page.envelopes.last() {
            self.cursor = last.id;
        }
        let event = (self.first || !page.envelopes.is_empty()).then(|| {
            self.first = false;
            let event = Event::Deliver { envelopes: page.envelopes, caught_up: !page.more };
            ServerBody::Event { event }
        });
        Ok(Page { event, more: page.more })
    }

    /// Waits for the wake-up registered by the last [`Delivery::next_page`]
    /// (returns at once if it already happened).
    pub async fn woken(&mut self) {
        self.wake.as_mut().await;
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The device id stays out of debug output like everywhere else.
        f.debug_struct("Delivery").field("cursor", &self.cursor).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_removes_devices_when_last_connection_ends() {
        let registry = DeliveryRegistry::new();
        let device = DeviceId([1; 16]);
        let a = registry.subscribe(device);
        let b = registry.subscribe(device);
        assert_eq!(registry.len(), 1);
        drop(a);
        assert_eq!(registry.len(), 1);
        drop(b);
        assert!(registry.is_empty());
    }

    #[tokio::test]
    async fn wake_reaches_every_connection_of_a_device() {
        let registry = DeliveryRegistry::new();
        let device = DeviceId([2; 16]);
        let a = registry.subscribe(device);
        let b = registry.subscribe(device);
        let fa = a.notify.notified();
        let fb = b.notify.notified();
        tokio::pin!(fa, fb);
        fa.as_mut().enable();
        fb.as_mut().enable();
        registry.wake(&[device, DeviceId([3; 16])]);
        tokio::time::timeout(std::time::Duration::from_secs(1), async {
            fa.await;
            fb.await;
        })
        .await
        .unwrap();
    }

    #[test]
    fn limits_leave_room_for_one_envelope_per_message() {
        let limits = DeliveryLimits::new(64, 262_144);
        assert_eq!(limits.max_bytes, 262_144 - 64 * ENVELOPE_OVERHEAD - FRAME_OVERHEAD);
    }
}
