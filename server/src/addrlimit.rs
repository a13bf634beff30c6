//! Per-address connection caps: how many WebSocket connections one client
//! address (IPv4 address, IPv6 /64; see [`IpKey`]) may hold, and how many
//! of them — and of all connections — may listen to channels without an
//! account.
//!
//! Without them one address could open `max_connections` connections and
//! keep them forever: a connection that listens to a channel needs no
//! account (so the auth timeout does not apply) and its automatic pongs
//! keep the idle timeout away. Everybody else would get 503.
//!
//! Each admitted connection holds an [`AddressSlot`]; dropping it (however
//! the connection ends, also when the upgrade fails) gives back everything
//! it counted. The table holds only addresses with open connections, so it
//! never has more entries than there are connections. Addresses exist here
//! as in-memory keys only and are never logged or stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ratelimit::IpKey;

/// Why a connection or a listen was refused; each maps to a fixed `limit`
/// label of `stadtbote_limit_hits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address holds `max_connections_per_address` connections.
    #[error("too many connections from this address")]
    ConnectionsPerAddress,
    /// The address holds `max_connections_per_address` connections that
    /// have not finished their HTTP handshake.
    #[error("too many connections in handshake from this address")]
    PendingPerAddress,
    /// The server has `max_accountless_listeners` listeners without an account.
    #[error("too many listeners without an account")]
    Listeners,
    /// The address has `max_accountless_listeners_per_address` of them.
    #[error("too many listeners without an account from this address")]
    ListenersPerAddress,
}

impl Refusal {
    /// The fixed `limit` label under which `/metrics` counts it.
    pub fn limit_name(self) -> &'static str {
        match self {
            Refusal::ConnectionsPerAddress => "connections_per_address",
            Refusal::PendingPerAddress => "pending_connections_per_address",
            Refusal::Listeners => "accountless_listeners",
            Refusal::ListenersPerAddress => "accountless_listeners_per_address",
        }
    }
}

/// The caps, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// WebSocket connections per address (also: connections in their HTTP
    /// phase per address, counted separately).
    pub per_address: usize,
    /// Listeners without an account, server-wide.
    pub listeners: usize,
    /// Listeners without an account per address.
    pub listeners_per_address: usize,
}

impl Caps {
    /// The caps a configuration asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            per_address: config.max_connections_per_address,
            listeners: config.max_accountless_listeners,
            listeners_per_address: config.max_accountless_listeners_per_address,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    connections: usize,
    listeners: usize,
    pending: usize,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.connections == 0 && self.listeners == 0 && self.pending == 0
    }
}

#[derive(Debug, Default)]
struct Table {
    by_address: HashMap<IpKey, Counts>,
    listeners: usize,
}

/// Aggregate figures for `/metrics` (never per address).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Distinct addresses with open WebSocket connections.
    pub addresses: u64,
    /// Listeners without an account.
    pub listeners: u64,
    /// The most WebSocket connections any one address holds.
    pub max_per_address: u64,
}

/// The shared table of per-address counts.
#[derive(Debug)]
pub struct AddressLimits {
    table: Mutex<Table>,
    caps: Caps,
}

impl AddressLimits {
    /// An empty table enforcing `caps`.
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self { table: Mutex::new(Table::default()), caps })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Only counters: a panic elsewhere cannot leave them half-updated
        // in a way that matters more than refusing everything would.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new WebSocket connection from `key`, or refuses it.
    pub fn admit(self: &Arc<Self>, key: IpKey) -> Result<AddressSlot, Refusal> {
        let mut table = self.lock();
        let counts = table.by_address.entry(key).or_default();
        if counts.connections >= self.caps.per_address {
            if counts.is_empty() {
                table.by_address.remove(&key);
            }
            return Err(Refusal::ConnectionsPerAddress);
        }
        counts.connections += 1;
        Ok(AddressSlot { limits: self.clone(), key, listening: false })
    }

    /// Counts a TCP connection from `key` in its HTTP phase, or refuses it.
    pub fn admit_pending(self: &Arc<Self>, key: IpKey) -> Result<PendingSlot, Refusal> {
        let mut table = self.lock();
        let counts = table.by_address.entry(key).or_default();
        if counts.pending >= self.caps.per_address {
            if counts.is_empty() {
                table.by_address.remove(&key);
            }
            return Err(Refusal::PendingPerAddress);
        }
        counts.pending += 1;
        Ok(PendingSlot { limits: self.clone(), key })
    }

    /// The figures for `/metrics`.
    pub fn snapshot(&self) -> Snapshot {
        let table = self.lock();
        let open = table.by_address.values().filter(|c| c.connections > 0);
        let (addresses, max) =
            open.fold((0u64, 0usize), |(n, max), c| (n + 1, max.max(c.connections)));
        Snapshot { addresses, listeners: table.listeners as u64, max_per_address: max as u64 }
    }

    /// Applies `change` to `key`'s counts and forgets the key when nothing
    /// is left.
    fn release(&self, key: IpKey, change: impl FnOnce(&mut Table, &mut Counts)) {
        let mut table = self.lock();
        let Some(mut counts) = table.by_address.get(&key).copied() else { return };
        change(&mut table, &mut counts);
        if counts.is_empty() {
            table.by_address.remove(&key);
        } else {
            table.by_address.insert(key, counts);
        }
    }
}

/// One WebSocket connection's place under the per-address caps; dropping
/// it releases the place (and the listener place, if it holds one).
#[derive(Debug)]
pub struct AddressSlot {
    limits: Arc<AddressLimits>,
    key: IpKey,
    listening: bool,
}

impl AddressSlot {
    /// The connection starts listening to channels without an account:
    /// counts it under both listener caps, or refuses. Idempotent.
    pub fn listen_without_account(&mut self) -> Result<(), Refusal> {
        if self.listening {
            return Ok(());
        }
        let caps = self.limits.caps;
        let mut table = self.limits.lock();
        if table.listeners >= caps.listeners {
            return Err(Refusal::Listeners);
        }
        let Some(counts) = table.by_address.get_mut(&self.key) else {
            // Cannot happen while this slot lives; refuse rather than count
            // a listener under no address.
            return Err(Refusal::ListenersPerAddress);
        };
        if counts.listeners >= caps.listeners_per_address {
            return Err(Refusal::ListenersPerAddress);
        }
        counts.listeners += 1;
        table.listeners += 1;
        self.listening = true;
        Ok(())
    }

    /// Whether the connection counts as a listener without an account.
    pub fn is_listening_without_account(&self) -> bool {
        self.listening
    }

    /// The connection logged in or stopped listening: it no longer counts
    /// as a listener without an account.
    pub fn stop_listening(&mut self) {
        if !std::mem::take(&mut self.listening) {
            return;
        }
        self.limits.release(self.key, |table, counts| {
            counts.listeners = counts.listeners.saturating_sub(1);
            table.listeners = table.listeners.saturating_sub(1);
        });
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.stop_listening();
        self.limits.release(self.key, |_, counts| {
            counts.connections = counts.connections.saturating_sub(1);
        });
    }
}

/// One TCP connection's place in its HTTP phase; released on drop.
#[derive(Debug)]
pub struct PendingSlot {
    limits: Arc<AddressLimits>,
    key: IpKey,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.limits.release(self.key, |_, counts| {
            counts.pending = counts.pending.saturating_sub(1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> IpKey {
        IpKey::of(text.parse().unwrap())
    }

    fn limits(
        per_address: usize,
        listeners: usize,
        listeners_per_address: usize,
    ) -> Arc<AddressLimits> {
        AddressLimits::new(Caps { per_address, listeners, listeners_per_address })
    }

    #[test]
    fn per_address_cap_and_release() {
        let l = limits(2, 10, 10);
        let a = key("192.0.2.1");
        let first = l.admit(a).unwrap();
        let _second = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::ConnectionsPerAddress);
        // Another address is unaffected; an IPv6 /64 is one address.
        let _other = l.admit(key("192.0.2.2")).unwrap();
        let _v6a = l.admit(key("2001:db8:0:1::1")).unwrap();
        let _v6b = l.admit(key("2001:db8:0:1::2")).unwrap();
        assert!(l.admit(key("2001:db8:0:1:ffff::3")).is_err());
        assert_eq!(l.snapshot(), Snapshot { addresses: 3, listeners: 0, max_per_address: 2 });
        drop(first);
        let _again = l.admit(a).unwrap();
    }

    #[test]
    fn listener_caps_global_and_per_address() {
        let l = limits(10, 3, 2);
        let (a, b) = (key("192.0.2.1"), key("192.0.2.2"));
        let mut a1 = l.admit(a).unwrap();
        let mut a2 = l.admit(a).unwrap();
        let mut a3 = l.admit(a).unwrap();
        a1.listen_without_account().unwrap();
        a1.listen_without_account().unwrap();
        a2.listen_without_account().unwrap();
        assert_eq!(a3.listen_without_account(), Err(Refusal::ListenersPerAddress));
        let mut b1 = l.admit(b).unwrap();
        let mut b2 = l.admit(b).unwrap();
        b1.listen_without_account().unwrap();
        assert_eq!(b2.listen_without_account(), Err(Refusal::Listeners));
        assert_eq!(l.snapshot().listeners, 3);
        // Logging in frees the place; so does closing.
        a1.stop_listening();
        assert!(!a1.is_listening_without_account());
        b2.listen_without_account().unwrap();
        drop(b1);
        a3.listen_without_account().unwrap();
        assert_eq!(l.snapshot().listeners, 3);
    }

    #[test]
    fn nothing_leaks() {
        let l = limits(3, 3, 3);
        let slots: Vec<AddressSlot> = (0..3)
            .map(|_| {
                let mut s = l.admit(key("192.0.2.1")).unwrap();
                s.listen_without_account().unwrap();
                s
            })
            .collect();
        let pending = l.admit_pending(key("192.0.2.1")).unwrap();
        assert!(l.admit(key("192.0.2.1")).is_err());
        drop(slots);
        drop(pending);
        assert_eq!(l.snapshot(), Snapshot::default());
        assert!(l.lock().by_address.is_empty(), "no address left in the table");
        // Refusals leave nothing behind either.
        let zero = limits(0, 0, 0);
        assert!(zero.admit(key("192.0.2.9")).is_err());
        assert!(zero.admit_pending(key("192.0.2.9")).is_err());
        assert!(zero.lock().by_address.is_empty());
    }

    #[test]
    fn pending_is_counted_apart_from_websockets() {
        let l = limits(1, 1, 1);
        let a = key("192.0.2.1");
        let pending = l.admit_pending(a).unwrap();
        assert_eq!(l.admit_pending(a).unwrap_err(), Refusal::PendingPerAddress);
        let _ws = l.admit(a).unwrap();
        drop(pending);
        let _next = l.admit_pending(a).unwrap();
    }
}
