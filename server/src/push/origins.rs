//! Which push services the server may talk to: the allow-list of origins
//! (`push_allowed_origins`), the checks of an endpoint URL a client
//! registers, and the rule for the addresses a push request may go to.
//!
//! A client chooses its endpoint URL; the server then makes HTTP requests
//! to it. Without these checks any user could make the server call any
//! host (server-side request forgery): its own loopback services, the
//! town hall's intranet, cloud metadata addresses. So an endpoint is
//! accepted only when its origin (scheme, host, port) is on the operator's
//! list, again at send time, and a request goes only to an address that
//! is public — or that the operator wrote into the list literally.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The push services of the major browsers, the default allow-list:
/// Google's FCM (Chrome, Edge on Android, most Android browsers), Mozilla's
/// autopush (Firefox), Apple's (Safari, iOS home-screen apps) and
/// Microsoft's WNS (Edge on Windows; one host per region, hence the
/// wildcard).
pub const DEFAULT_ORIGINS: &[&str] = &[
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://*.notify.windows.com",
];

/// Why an endpoint URL is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an absolute `https://` (or `http://`) URL with a host, or too
    /// long, or with user information.
    #[error("not a valid push endpoint URL")]
    Invalid,
    /// Its origin is not on the allow-list.
    #[error("push endpoint origin not allowed")]
    NotAllowed,
}

/// How an allow-list entry matches a host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this host (lower case; an IP address in its canonical form).
    Exact(String),
    /// Any host name ending in `.<suffix>` (from `*.<suffix>`); never an
    /// IP address.
    Subdomains(String),
}

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    https: bool,
    host: HostPattern,
    port: u16,
}

/// The parsed `push_allowed_origins`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    origins: Vec<AllowedOrigin>,
}

/// Where a push request goes, from a checked endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` (else plain `http`, only for origins allow-listed so).
    pub https: bool,
    /// The host (lower case; IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The `Host` header value (host, and the port when not the default).
    pub authority: String,
    /// Path and query of the request.
    pub path: String,
    /// Whether `host` is an IP address the operator listed literally (the
    /// only way a request goes to a non-public address).
    pub literal_address: bool,
}

impl Target {
    /// The origin (`https://host[:port]`): the VAPID token's audience.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

/// Splits `scheme://authority[/]` or a full URL into (https, authority,
/// rest starting with `/` or empty).
fn split_url(url: &str) -> Option<(bool, &str, &str)> {
    let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((https, &rest[..end], &rest[end..]))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Splits an authority into a lower-case host (IPv6 without brackets) and
/// a port. Refuses user information, empty hosts and bad ports.
fn split_authority(authority: &str, https: bool) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => default_port(https),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().ok().filter(|p| *p != 0)?
        }
        Some(_) => return None,
    };
    let host = host.to_ascii_lowercase();
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if host.parse::<IpAddr>().is_err() && !valid_name {
        return None;
    }
    Some((host, port))
}

impl AllowList {
    /// Parses the configured origins; the error names the entry that is
    /// not an origin (`https://host[:port]`, `https://*.domain`, or
    /// `http://host[:port]`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || {
                format!(
                    "{entry:?} is not an origin (https://host[:port], https://*.domain or \
                     http://host[:port], without a path)"
                )
            };
            let (https, authority, rest) = split_url(entry.trim()).ok_or_else(bad)?;
            if !(rest.is_empty() || rest == "/") {
                return Err(bad());
            }
            let (host, port) = match authority.strip_prefix("*.") {
                Some(suffix) => {
                    let (host, port) = split_authority(suffix, https).ok_or_else(bad)?;
                    // A wildcard needs a registrable domain under it, never
                    // an address or a top-level domain alone.
                    if host.parse::<IpAddr>().is_ok() || !host.contains('.') {
                        return Err(bad());
                    }
                    (HostPattern::Subdomains(host), port)
                }
                None => {
                    let (host, port) = split_authority(authority, https).ok_or_else(bad)?;
                    let host = match host.parse::<IpAddr>() {
                        Ok(ip) => ip.to_string(),
                        Err(_) => host,
                    };
                    (HostPattern::Exact(host), port)
                }
            };
            origins.push(AllowedOrigin { https, host, port });
        }
        Ok(Self { origins })
    }

    /// Checks an endpoint URL a client registers (or the server is about
    /// to call): an absolute URL of at most `max_bytes` bytes, without user
    /// information, fragment, whitespace or control characters, whose
    /// origin is on the list.
    pub fn check(&self, url: &str, max_bytes: usize) -> Result<Target, EndpointError> {
        if url.len() > max_bytes
            || url.bytes().any(|b| b <= b' ' || b == 0x7f || b >= 0x80 || b == b'#')
        {
            return Err(EndpointError::Invalid);
        }
        let (https, authority, rest) = split_url(url).ok_or(EndpointError::Invalid)?;
        let (host, port) = split_authority(authority, https).ok_or(EndpointError::Invalid)?;
        let path = match rest {
            "" => "/".to_owned(),
            r if r.starts_with('/') => r.to_owned(),
            // `https://host?x`: a query without a path.
            r => format!("/{r}"),
        };
        let ip = host.parse::<IpAddr>().ok();
        let canonical = ip.map_or_else(|| host.clone(), |ip| ip.to_string());
        let allowed = self.origins.iter().any(|o| {
            o.https == https
                && o.port == port
                && match &o.host {
                    HostPattern::Exact(h) => *h == canonical,
                    HostPattern::Subdomains(suffix) => {
                        ip.is_none()
                            && canonical.len() > suffix.len() + 1
                            && canonical.ends_with(suffix.as_str())
                            && canonical.as_bytes()[canonical.len() - suffix.len() - 1] == b'.'
                    }
                }
        });
        if !allowed {
            return Err(EndpointError::NotAllowed);
        }
        let authority = match (ip, port == default_port(https)) {
            (Some(IpAddr::V6(_)), true) => format!("[{canonical}]"),
            (Some(IpAddr::V6(_)), false) => format!("[{canonical}]:{port}"),
            (_, true) => canonical.clone(),
            (_, false) => format!("{canonical}:{port}"),
        };
        Ok(Target { https, host: canonical, port, authority, path, literal_address: ip.is_some() })
    }
}

/// Whether a push request may go to `ip` for a host name (not an address
/// the operator listed): only globally routable unicast addresses. This is
/// checked on the addresses the name resolved to, and the connection goes
/// to exactly the checked address, so a DNS answer that changes between
/// check and use (DNS rebinding) cannot redirect a request to loopback,
/// private or link-local ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local
                || (first & 0xfe00) == 0xfc00
                // fe80::/10 link-local (and the deprecated site-local fec0::/10)
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // 2001:db8::/32 documentation
                || (first == 0x2001 && segments[1] == 0x0db8)
                // ::/96 IPv4-compatible and 64:ff9b::/96 NAT64 (could embed
                // a private IPv4 address)
                || segments[..6] == [0, 0, 0, 0, 0, 0]
                || (first == 0x0064 && segments[1] == 0xff9b))
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        // 100.64.0.0/10 carrier-grade NAT
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 protocol assignments
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15 benchmarking
        || (a == 198 && (b == 18 || b == 19))
        // 240.0.0.0/4 reserved
        || a >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> AllowList {
        let entries: Vec<String> = DEFAULT_ORIGINS.iter().map(|s| s.to_string()).collect();
        AllowList::parse(&entries).unwrap()
    }

    #[test]
    fn the_vendors_push_services_are_allowed_by_default() {
        let list = defaults();
        for url in [
            "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
            "https://web.push.apple.com/QGuQyavXutnMZvZ8",
            "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAD",
            "HTTPS://FCM.googleapis.com:443/x",
        ] {
            let target = list.check(url, 1024).unwrap();
            assert!(target.https && target.port == 443, "{url}");
        }
        let t = list.check("https://wns2-by3p.notify.windows.com/w/?token=B", 1024).unwrap();
        assert_eq!(t.origin(), "https://wns2-by3p.notify.windows.com");
        assert_eq!(t.path, "/w/?token=B");
    }

    #[test]
    fn anything_else_is_refused() {
        let list = defaults();
        let refused = [
            ("http://fcm.googleapis.com/x", EndpointError::NotAllowed),
            ("https://fcm.googleapis.com:8443/x", EndpointError::NotAllowed),
            ("https://fcm.googleapis.com.evil.example/x", EndpointError::NotAllowed),
            ("https://evilfcm.googleapis.com/x", EndpointError::NotAllowed),
            ("https://notify.windows.com/x", EndpointError::NotAllowed),
            ("https://127.0.0.1/x", EndpointError::NotAllowed),
            ("https://[::1]/x", EndpointError::NotAllowed),
            ("https://169.254.169.254/latest/meta-data", EndpointError::NotAllowed),
            ("https://user@fcm.googleapis.com/x", EndpointError::Invalid),
            ("https://fcm.googleapis.com@127.0.0.1/x", EndpointError::Invalid),
            ("https://fcm.googleapis.com/x#frag", EndpointError::Invalid),
            ("https://fcm.googleapis.com/x y", EndpointError::Invalid),
            ("https://fcm.googleapis.com/x\n", EndpointError::Invalid),
            ("ftp://fcm.googleapis.com/x", EndpointError::Invalid),
            ("fcm.googleapis.com/x", EndpointError::Invalid),
            ("https:///x", EndpointError::Invalid),
            ("https://fcm.googleapis.com:0/x", EndpointError::Invalid),
            ("https://fcm.googleapis.com:99999/x", EndpointError::Invalid),
        ];
        for (url, expected) in refused {
            assert_eq!(list.check(url, 1024), Err(expected), "{url}");
        }
        let long = format!("https://fcm.googleapis.com/{}", "a".repeat(2000));
        assert_eq!(list.check(&long, 1024), Err(EndpointError::Invalid));
    }

    #[test]
    fn an_operator_may_list_a_loopback_origin_over_plain_http() {
        let list = AllowList::parse(&["http://127.0.0.1:8099".to_owned()]).unwrap();
        let t = list.check("http://127.0.0.1:8099/push/abc", 1024).unwrap();
        assert!(!t.https && t.literal_address && t.authority == "127.0.0.1:8099");
        assert_eq!(list.check("http://127.0.0.1:8098/p", 1024), Err(EndpointError::NotAllowed));
        assert_eq!(list.check("https://127.0.0.1:8099/p", 1024), Err(EndpointError::NotAllowed));
    }

    #[test]
    fn malformed_entries_are_named() {
        for entry in ["fcm.googleapis.com", "https://x/path", "https://*.com", "https://*.1.2.3.4"]
        {
            let err = AllowList::parse(&[entry.to_owned()]).unwrap_err();
            assert!(err.contains(entry), "{err}");
        }
    }

    #[test]
    fn only_public_addresses_count_as_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["142.250.185.106", "2a00:1450:4001:80e::200a", "17.253.144.10"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
