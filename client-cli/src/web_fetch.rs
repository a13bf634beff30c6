//! Fetching what a web server serves, as the web-app verifier needs it:
//! one `GET` per file over HTTP/1.1, plain or with TLS trusted like
//! `wss://` ([`crate::tls_trust`]: web PKI plus `--ca-cert`).
//!
//! Deliberately small: no redirects (a redirect is reported as the
//! status it is), no cookies, no compression (`Accept-Encoding:
//! identity`), `Connection: close`, and a bound on time and size per
//! answer. Network failures are [`FetchError`]s, distinct from an answer
//! with a status other than 200, which the caller judges.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long connecting and one whole exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The largest answer accepted, in bytes (head and body).
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// An `http://` or `https://` origin and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl {
    /// Whether it is `https`.
    pub https: bool,
    /// The host as written (an IPv6 literal with its brackets).
    pub host: String,
    /// The port (the scheme's default when not written).
    pub port: u16,
    /// The path with its query, starting with `/`.
    pub path: String,
}

impl WebUrl {
    /// Parses `http(s)://host[:port][/path]` (no user info); a fragment is
    /// dropped. `ws://`/`wss://` are read as `http://`/`https://`, so the
    /// URL people configured their client with works too.
    pub fn parse(text: &str) -> Option<WebUrl> {
        let (https, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "wss://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "ws://") {
            (false, rest)
        } else {
            return None;
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty()
            || authority.contains('@')
            || authority.contains(char::is_whitespace)
        {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => {
                (host, port.parse::<u16>().ok()?)
            }
            _ => (authority, if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return None;
        }
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        Some(WebUrl { https, host: host.to_ascii_lowercase(), port, path })
    }

    /// The origin, e.g. `https://stadtbote.example.de` (the port only when
    /// it is not the scheme's default).
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            format!("{scheme}://{}", self.host)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// The same origin with another path.
    pub fn with_path(&self, path: &str) -> WebUrl {
        WebUrl { path: path.to_owned(), ..self.clone() }
    }
}

impl std::fmt::Display for WebUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Why a fetch did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No TCP connection (refused, unreachable, name not found).
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// What was fetched.
        url: String,
        /// The system's reason.
        reason: String,
    },
    /// The TLS handshake failed (certificate refused and the like).
    #[error("TLS with {url} failed: {reason}")]
    Tls {
        /// What was fetched.
        url: String,
        /// A plain sentence from [`crate::tls_trust`].
        reason: String,
    },
    /// The connection broke or the answer is not HTTP.
    #[error("reading {url} failed: {reason}")]
    Read {
        /// What was fetched.
        url: String,
        /// Why.
        reason: String,
    },
    /// No complete answer within [`TIMEOUT`].
    #[error("{url} did not answer in time")]
    TimedOut {
        /// What was fetched.
        url: String,
    },
    /// The answer is larger than [`MAX_RESPONSE_BYTES`].
    #[error("the answer from {url} is too large")]
    TooLarge {
        /// What was fetched.
        url: String,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl WebResponse {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Fetches URLs of one server; TLS as configured once.
#[derive(Clone)]
pub struct WebFetcher {
    tls: Option<tokio_rustls::TlsConnector>,
}

impl WebFetcher {
    /// A fetcher trusting the web PKI and the certificates of `extra_ca`.
    pub fn new(extra_ca: Option<&std::path::Path>) -> Result<WebFetcher, crate::ClientError> {
        let config = crate::tls_trust::client_config(extra_ca)?;
        Ok(WebFetcher { tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))) })
    }

    /// GETs `url`.
    pub async fn get(&self, url: &WebUrl) -> Result<WebResponse, FetchError> {
        match tokio::time::timeout(TIMEOUT, self.exchange(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::TimedOut { url: url.to_string() }),
        }
    }

    async fn exchange(&self, url: &WebUrl) -> Result<WebResponse, FetchError> {
        let host = url.host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((host, url.port))
            .await
            .map_err(|e| FetchError::Connect { url: url.to_string(), reason: e.to_string() })?;
        if !url.https {
            return request(tcp, url).await;
        }
        let tls = self.tls.as_ref().ok_or_else(|| FetchError::Tls {
            url: url.to_string(),
            reason: "no TLS configuration".into(),
        })?;
        let name = rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
            FetchError::Tls { url: url.to_string(), reason: "invalid server name".into() }
        })?;
        let stream = tls.connect(name, tcp).await.map_err(|e| {
            let reason = match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                Some(tls) => crate::tls_trust::handshake_problem(tls),
                None => e.to_string(),
            };
            FetchError::Tls { url: url.to_string(), reason }
        })?;
        request(stream, url).await
    }
}

async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &WebUrl,
) -> Result<WebResponse, FetchError> {
    let read_err = |reason: String| FetchError::Read { url: url.to_string(), reason };
    let default = if url.https { 443 } else { 80 };
    let host =
        if url.port == default { url.host.clone() } else { format!("{}:{}", url.host, url.port) };
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n\
         User-Agent: stadtbote-web-verify\r\nConnection: close\r\n\r\n",
        url.path
    );
    stream.write_all(head.as_bytes()).await.map_err(|e| read_err(e.to_string()))?;
    stream.flush().await.map_err(|e| read_err(e.to_string()))?;
    let mut raw = Vec::new();
    let read = (&mut stream).take(MAX_RESPONSE_BYTES as u64 + 1).read_to_end(&mut raw).await;
    // A TLS peer that closes without close_notify still delivered a
    // complete answer when its length checks out below.
    if let Err(e) = read
        && (raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof)
    {
        return Err(read_err(e.to_string()));
    }
    if raw.len() > MAX_RESPONSE_BYTES {
        return Err(FetchError::TooLarge { url: url.to_string() });
    }
    parse_response(&raw).map_err(|reason| read_err(reason.to_owned()))
}

/// Splits a raw HTTP/1.1 answer read to the end of the connection into
/// status, headers and body (de-chunked; cut to `Content-Length`, which
/// must be complete).
pub fn parse_response(raw: &[u8]) -> Result<WebResponse, &'static str> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the answer is not HTTP")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the answer is not HTTP")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.") {
        return Err("the answer is not HTTP");
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or("the answer has no status")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let body =
        if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            dechunk(body)?
        } else if let Some(length) = find("content-length") {
            let length: usize = length.parse().map_err(|_| "invalid Content-Length")?;
            body.get(..length).ok_or("the answer is shorter than its Content-Length")?.to_vec()
        } else {
            body.to_vec()
        };
    Ok(WebResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    loop {
        let line_end =
            data.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunked answer")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunked answer")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_ipv6() {
        let u = WebUrl::parse("https://Stadtbote.Example.de").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "stadtbote.example.de", 443, "/")
        );
        assert_eq!(u.origin(), "https://stadtbote.example.de");
        let u = WebUrl::parse("ws://127.0.0.1:8470/v1/ws#x").unwrap();
        assert_eq!((u.https, u.port, u.path.as_str()), (false, 8470, "/v1/ws"));
        assert_eq!(u.to_string(), "http://127.0.0.1:8470/v1/ws");
        let u = WebUrl::parse("http://[::1]:9000?a").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("[::1]", 9000, "/?a"));
        for bad in ["ftp://x", "http://", "http://u@h/", "http://h:99999/", "stadtbote.de"] {
            assert_eq!(WebUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn answers_are_cut_to_their_length_and_dechunked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcd"[..]));
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }
}
