//! `stadtbote server-info`: who runs the server, what it stores and for how
//! long, and where its source code lives, from the server's `/privacy`
//! statement (JSON form).
//!
//! The statement's URL is derived from `--server`: `ws://` becomes
//! `http://`, `wss://` becomes `https://`, same host and port, path
//! `/privacy`. Plain HTTP is fetched with a minimal HTTP/1.1 client; HTTPS
//! is not supported by this command yet and says so.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use stadtbote_cli::output::{safe, safe_json};
use stadtbote_cli::retention_text;
use stadtbote_i18n::{Arg, Catalog, Lang};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long connecting and the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer accepted, in bytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Where the privacy statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyUrl {
    /// Whether it needs TLS (`wss://` or `https://`).
    pub https: bool,
    /// `host:port`, as given (with the scheme's default port filled in).
    pub authority: String,
    /// The host alone, for the `Host` header.
    pub host_header: String,
}

impl PrivacyUrl {
    /// The URL as text.
    pub fn as_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/privacy", self.host_header)
    }
}

/// Derives the `/privacy` URL from the server's WebSocket URL.
pub fn privacy_url(server: &str) -> Result<PrivacyUrl> {
    let (https, rest) = if let Some(rest) = server.strip_prefix("ws://") {
        (false, rest)
    } else if let Some(rest) = server.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = server.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = server.strip_prefix("https://") {
        (true, rest)
    } else {
        bail!("{}", stadtbote_i18n::tr!("server-url-scheme", url = format!("{server:?}")));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        bail!("{}", stadtbote_i18n::tr!("server-url-no-host", url = format!("{server:?}")));
    }
    // A port is present when the part after the last ':' is all digits and
    // that ':' is not inside an IPv6 literal.
    let has_port = host.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (!h.starts_with('[') || h.ends_with(']'))
    });
    let authority =
        if has_port { host.to_owned() } else { format!("{host}:{}", if https { 443 } else { 80 }) };
    Ok(PrivacyUrl { https, authority, host_header: host.to_owned() })
}

/// Splits a raw HTTP/1.1 response into status and body (de-chunked).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("the server's answer is not HTTP"))?;
    let head = std::str::from_utf8(&raw[..end]).context("the server's answer is not HTTP")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("the server's answer is not HTTP"))?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunked answer"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunked answer");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// GETs the privacy statement as JSON.
pub async fn fetch(server: &str) -> Result<serde_json::Value> {
    let url = privacy_url(server)?;
    if url.https {
        bail!(
            "server-info over https needs TLS in this command, which it does not have yet; \
             open {} in a browser instead",
            url.as_url()
        );
    }
    let exchange = async {
        let mut stream = TcpStream::connect(&url.authority).await?;
        let request = format!(
            "GET /privacy HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
             User-Agent: stadtbote\r\nConnection: close\r\n\r\n",
            url.host_header
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        (&mut stream).take(MAX_RESPONSE_BYTES as u64 + 1).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => bail!(
            "{}",
            stadtbote_i18n::tr!(
                "server-info-unreachable",
                url = url.as_url(),
                reason = e.to_string()
            )
        ),
        Err(_) => bail!("{}", stadtbote_i18n::tr!("server-info-timed-out", url = url.as_url())),
    };
    if raw.len() > MAX_RESPONSE_BYTES {
        bail!("{}", stadtbote_i18n::tr!("server-info-too-large", url = url.as_url()));
    }
    let (status, body) = parse_response(&raw)?;
    if status != 200 {
        bail!("{} answered with HTTP status {status}", url.as_url());
    }
    let value: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{} did not answer with a JSON statement", url.as_url()))?;
    if !value.is_object() {
        bail!("{} did not answer with a JSON statement", url.as_url());
    }
    Ok(value)
}

/// The statement in text form, in the current language.
pub fn format_text(statement: &serde_json::Value) -> String {
    format_text_in(stadtbote_i18n::language(), statement)
}

/// The statement in text form, in `lang`: labels and the retention table
/// from the catalogs (by the rows' stable keys, see
/// [`stadtbote_cli::retention_text`]), everything else the server wrote
/// shown through `safe`.
pub fn format_text_in(lang: Lang, statement: &serde_json::Value) -> String {
    let catalog = Catalog::get(lang);
    let label = |id: &str, value: String| catalog.format(id, &[("value", Arg::Text(value))]);
    let text =
        |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(|s| safe(s).into_owned());
    let not_configured = || catalog.format("privacy-not-configured", &[]);
    let mut out = String::new();
    let operator = &statement["operator"];
    for (id, value) in [
        ("privacy-operator", &operator["name"]),
        ("privacy-contact", &operator["contact"]),
        ("privacy-source-code", &statement["source_code"]),
    ] {
        out.push_str(&label(id, text(value).unwrap_or_else(not_configured)));
        out.push('\n');
    }
    out.push_str(&format!("\n{}\n", catalog.format("privacy-stored-heading", &[])));
    for item in statement["stored"].as_array().into_iter().flatten() {
        let (name, retention) = retention_text::stored_row_in(lang, item);
        let row = catalog.format(
            "privacy-stored-row",
            &[("item", Arg::Text(name)), ("retention", Arg::Text(retention))],
        );
        out.push_str(&format!("  {row}\n"));
    }
    let never: Vec<String> = statement["never_stored"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| retention_text::never_stored_in(lang, item))
        .filter(|name| !name.is_empty())
        .collect();
    if !never.is_empty() {
        let items = Arg::Text(never.join(", "));
        out.push_str(&format!(
            "\n{}\n",
            catalog.format("privacy-never-heading", &[("items", items)])
        ));
    }
    if let Some(retention) = statement["retention"].as_object() {
        out.push_str(&format!("\n{}\n", catalog.format("privacy-retention-heading", &[])));
        for (key, value) in retention {
            out.push_str(&format!("  {} = {}\n", safe(key), safe(&value.to_string())));
        }
    }
    // Every period in force by kind, including those an admin changed at
    // run time (`source` says which).
    if let Some(periods) = statement["retention_periods"].as_array() {
        out.push_str(&format!("\n{}\n", catalog.format("privacy-periods-heading", &[])));
        for period in periods {
            let kind = period["kind"].as_str().unwrap_or_default();
            let what = period["what"].as_str().unwrap_or_default();
            let source = period["source"].as_str().unwrap_or_default();
            let row = catalog.format(
                "privacy-period-row",
                &[
                    ("kind", Arg::Text(safe(kind).into_owned())),
                    ("secs", Arg::Text(safe(&period["secs"].to_string()).into_owned())),
                    ("what", Arg::Text(retention_text::period_what_in(lang, kind, what))),
                    ("source", Arg::Text(retention_text::source_in(lang, source))),
                ],
            );
            out.push_str(&format!("  {row}\n"));
        }
    }
    out
}

/// Runs the command.
pub async fn server_info(server: &str, json: bool) -> Result<()> {
    let statement = fetch(server).await?;
    if json {
        println!("{}", safe_json(&serde_json::to_string_pretty(&statement)?));
    } else {
        print!("{}", format_text(&statement));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_websocket_url() {
        let url = privacy_url("ws://127.0.0.1:8470/v1/ws").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8470");
        assert_eq!(url.as_url(), "http://127.0.0.1:8470/privacy");
        let url = privacy_url("wss://bote.musterhausen.example/v1/ws").unwrap();
        assert!(url.https);
        assert_eq!(url.authority, "bote.musterhausen.example:443");
        assert_eq!(url.as_url(), "https://bote.musterhausen.example/privacy");
        let url = privacy_url("ws://[::1]/v1/ws").unwrap();
        assert_eq!(url.authority, "[::1]:80");
        assert_eq!(privacy_url("ws://[::1]:9/x").unwrap().authority, "[::1]:9");
        assert!(privacy_url("ftp://x").is_err());
        assert!(privacy_url("ws:///v1/ws").is_err());
    }

    #[test]
    fn responses_are_parsed() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(raw).unwrap(), (200, b"{}".to_vec()));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().1, b"{\"a\":1}".to_vec());
        assert_eq!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap().0, 404);
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn text_names_operator_source_and_retention() {
        let statement = serde_json::json!({
            "operator": {"name": "Stadt X", "contact": null},
            "source_code": "https://code.example/stadtbote",
            "stored": [{"item": "envelopes", "retention": "30 days"}],
            "never_stored": [{"item": "IP addresses"}],
            "retention": {"envelope_ttl_secs": 2592000},
        });
        let text = format_text_in(Lang::En, &statement);
        assert!(text.contains("Operator:     Stadt X"), "{text}");
        assert!(text.contains("Contact:      not configured"), "{text}");
        assert!(text.contains("Source code:  https://code.example/stadtbote"), "{text}");
        assert!(text.contains("  envelopes: 30 days"), "{text}");
        assert!(text.contains("envelope_ttl_secs = 2592000"), "{text}");
        assert!(text.contains("Never stored: IP addresses"), "{text}");
    }

    /// In German the labels and the rows with keys are German; a row
    /// without a key (an older server) keeps the server's text.
    #[test]
    fn text_in_german_words_keyed_rows_from_the_catalog() {
        let statement = serde_json::json!({
            "operator": {"name": "Stadt X", "contact": null},
            "stored": [
                {"item": "accounts", "key": "accounts", "retention": "until the account is deleted"},
                {"item": "legacy", "retention": "as before"},
            ],
            "never_stored": [{"item": "IP addresses", "key": "ip-addresses"}],
            "retention_periods": [
                {"kind": "audit", "secs": 31_536_000, "what": "audit log", "source": "admin"},
            ],
        });
        let text = format_text_in(Lang::De, &statement);
        for german in [
            "Betreiber:    Stadt X",
            "Kontakt:      vom Betreiber nicht angegeben",
            "Was gespeichert wird, und wie lange:",
            "  Konten: bis das Konto gelöscht wird",
            "  legacy: as before",
            "Nie gespeichert: IP-Adressen",
            "  audit: 31536000 s (Prüfprotokoll der Admin-Aktionen (pseudonymisiert); festgelegt durch Admin)",
        ] {
            assert!(text.contains(german), "missing {german:?} in:\n{text}");
        }
    }
}
