//! Which address a connection counts as: the TCP peer, or — when the peer is
//! a trusted reverse proxy (`trusted_proxies`) — the client address the
//! proxy wrote into `X-Forwarded-For`.
//!
//! Behind Caddy or nginx every TCP connection comes from the proxy, so
//! without this the per-address connection caps and per-IP rate limits
//! would treat the whole town as one address. The header is believed only
//! from a trusted peer, because anybody else can write anything into it.
//! Each proxy appends the address it received the request from, so the list
//! is read from the right: entries written by trusted proxies are skipped,
//! and the first untrusted address is the client. Whatever a client put in
//! front of that (the left part of the header) is never believed.
//!
//! The address found here is reduced to a rate-limit key by the caller and
//! kept in memory only; it is never logged.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;

/// The header a proxy writes the client's address into.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Entries of `X-Forwarded-For` examined at most; a longer chain of
/// trusted proxies does not exist in practice, and the bound keeps the work
/// per request small whatever the header holds.
const MAX_HOPS: usize = 32;

/// An IP network, `address/prefix-length` (a plain address is a /32 or
/// /128). IPv4-mapped IPv6 addresses are compared as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(
            address.parse::<IpAddr>().map_err(|_| format!("{text:?} is not an IP network"))?,
        );
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports
/// for IPv4 peers) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the first `bits` bits of `a` and `b` agree.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// Where a connection's address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The TCP peer is not a trusted proxy: its own address.
    Peer,
    /// Read from `X-Forwarded-For` behind a trusted proxy.
    Forwarded,
    /// A trusted proxy sent no usable `X-Forwarded-For`: the proxy's own
    /// address (or the nearest trusted hop), shared by everyone behind it.
    ProxyWithoutHeader,
}

/// The configured trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
}

impl TrustedProxies {
    /// Parses `trusted_proxies`; the error names the bad entry.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let networks = list.iter().map(|entry| entry.parse()).collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(ip))
    }

    /// The address a request from `peer` with `headers` counts as.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> (IpAddr, Source) {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return (peer, Source::Peer);
        }
        // Several header lines form one list, in order (RFC 9110, 5.3).
        let lines: Vec<&str> =
            headers.get_all(FORWARDED_FOR).iter().filter_map(|value| value.to_str().ok()).collect();
        let mut nearest = peer;
        let hops = lines.iter().rev().flat_map(|line| line.rsplit(',')).take(MAX_HOPS);
        for entry in hops {
            let Some(ip) = parse_entry(entry) else {
                // Written by a trusted hop (everything right of it was), or
                // the header is garbage: count as the nearest known hop.
                break;
            };
            if !self.trusts(ip) {
                return (ip, Source::Forwarded);
            }
            nearest = ip;
        }
        (nearest, Source::ProxyWithoutHeader)
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|addr| canonical(addr.ip()))
}

/// Says once per process, without any address, that a trusted proxy sent
/// no `X-Forwarded-For` (all its clients then share one address's limits).
pub fn warn_missing_header_once() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::info!(
            "a connection from a trusted proxy carried no X-Forwarded-For; it counts as the \
             proxy's own address (set the header in the proxy, see docs/OPERATIONS.md)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn networks_parse_and_match() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped counts as IPv4");
        let odd: Cidr = "192.0.2.128/25".parse().unwrap();
        assert!(odd.contains(ip("192.0.2.200")) && !odd.contains(ip("192.0.2.100")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let single: Cidr = "::1".parse().unwrap();
        assert!(single.contains(ip("::1")) && !single.contains(ip("::2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0.0/x", "example.org", "10.0.0/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn untrusted_peers_header_is_ignored() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let (got, source) = trusted.client_ip(ip("192.0.2.7"), &headers(&["198.51.100.1"]));
        assert_eq!((got, source), (ip("192.0.2.7"), Source::Peer));
        let nobody = proxies(&[]);
        let (got, _) = nobody.client_ip(ip("127.0.0.1"), &headers(&["198.51.100.1"]));
        assert_eq!(got, ip("127.0.0.1"));
    }

    #[test]
    fn right_most_untrusted_address_counts() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        let cases: &[(&[&str], &str, Source)] = &[
            (&["198.51.100.1"], "198.51.100.1", Source::Forwarded),
            // A client's own header in front of the proxy's entry is not believed.
            (&["6.6.6.6, 198.51.100.1"], "198.51.100.1", Source::Forwarded),
            // Trusted hops are skipped, also across header lines.
            (&["198.51.100.1, 10.0.0.2"], "198.51.100.1", Source::Forwarded),
            (&["6.6.6.6, 198.51.100.1", "10.0.0.2"], "198.51.100.1", Source::Forwarded),
            (&[" [2001:db8::5]:443 "], "2001:db8::5", Source::Forwarded),
            (&["198.51.100.1:5555"], "198.51.100.1", Source::Forwarded),
            // No header, or garbage next to a trusted hop: the nearest trusted hop.
            (&[], "127.0.0.1", Source::ProxyWithoutHeader),
            (&["unknown"], "127.0.0.1", Source::ProxyWithoutHeader),
            (&["198.51.100.1, garbage, 10.0.0.3"], "10.0.0.3", Source::ProxyWithoutHeader),
            (&["10.0.0.4"], "10.0.0.4", Source::ProxyWithoutHeader),
        ];
        for (values, expected, source) in cases {
            assert_eq!(
                trusted.client_ip(peer, &headers(values)),
                (ip(expected), *source),
                "{values:?}"
            );
        }
        // A mapped peer address is trusted like its IPv4 form.
        let (got, _) = trusted.client_ip(ip("::ffff:127.0.0.1"), &headers(&["198.51.100.9"]));
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn the_walk_is_bounded() {
        let trusted = proxies(&["0.0.0.0/0"]);
        let long = vec!["10.0.0.1"; 10_000].join(",");
        let (got, source) = trusted.client_ip(ip("127.0.0.1"), &headers(&[&long]));
        assert_eq!((got, source), (ip("10.0.0.1"), Source::ProxyWithoutHeader));
    }
}
