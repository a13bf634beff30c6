//! The server's `/privacy` statement (JSON form) as the About page shows
//! it, in the user's language: labels and the retention rows come from the
//! catalogs by the rows' stable keys (`privacy-item-KEY`,
//! `privacy-retention-KEY` with the row's numbers, `privacy-never-KEY`) —
//! the same rows the CLI's `server-info` shows. A row whose key the app
//! does not know, or whose numbers are missing, shows the server's own
//! text, cleaned of control characters and cut to a sane length. The page
//! puts every string in as text, never as HTML.

use serde_json::Value;
use stadtbote_i18n::{Arg, Catalog, Lang};

use crate::text::{size, t, t1};

/// Where the statement is (same origin).
pub const URL: &str = "/privacy";

/// Longest server string shown, in characters.
const MAX_SERVER_TEXT: usize = 500;

const DAY: u64 = 86_400;

/// The statement, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementView {
    /// Who runs the server (or "not configured").
    pub operator: String,
    /// How to reach the operator about privacy (or "not configured").
    pub contact: String,
    /// Where the source code is (or "not configured").
    pub source_code: String,
    /// The service's public address, when the operator configured one.
    pub public_url: Option<String>,
    /// What is stored: (name, how long).
    pub stored: Vec<(String, String)>,
    /// What is never stored.
    pub never_stored: Vec<String>,
    /// The limits a user meets (largest file, storage per account).
    pub limits: Vec<String>,
}

/// A server string as shown: control characters dropped, at most
/// [`MAX_SERVER_TEXT`] characters; `None` when nothing is left.
pub(crate) fn server_text(value: &Value) -> Option<String> {
    let text: String =
        value.as_str()?.chars().filter(|c| !c.is_control()).take(MAX_SERVER_TEXT).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A key a catalog id may be built from: lower-case letters, digits, `-`.
fn plain_key(value: &Value) -> Option<&str> {
    let key = value.as_str()?;
    let plain = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plain.then_some(key)
}

/// A duration worded like the CLI's (`privacy-duration-*`).
fn duration(lang: Lang, secs: u64) -> String {
    let catalog = Catalog::get(lang);
    let count = |n: u64| Arg::Number(i64::try_from(n).unwrap_or(i64::MAX));
    let seconds = ("secs", Arg::Text(secs.to_string()));
    if secs >= DAY && secs.is_multiple_of(DAY) {
        catalog.format("privacy-duration-days", &[seconds, ("days", count(secs / DAY))])
    } else if secs >= 60 && secs.is_multiple_of(60) {
        catalog.format("privacy-duration-minutes", &[seconds, ("minutes", count(secs / 60))])
    } else {
        catalog.format("privacy-duration-secs", &[seconds])
    }
}

/// A row's numbers as catalog arguments; `None` when one is not a number.
fn retention_args(lang: Lang, values: &Value) -> Option<Vec<(String, Arg)>> {
    let Some(values) = values.as_object() else { return Some(Vec::new()) };
    values
        .iter()
        .map(|(name, value)| {
            let plain = name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let number = value.as_u64().filter(|_| plain)?;
            let arg = if name == "secs" || name.ends_with("_secs") {
                Arg::Text(duration(lang, number))
            } else {
                Arg::Number(i64::try_from(number).ok()?)
            };
            Some((name.clone(), arg))
        })
        .collect()
}

fn stored_row(lang: Lang, row: &Value) -> Option<(String, String)> {
    let catalog = Catalog::get(lang);
    let key = plain_key(&row["key"]);
    let name = key
        .and_then(|key| catalog.value(&format!("privacy-item-{key}")))
        .or_else(|| server_text(&row["item"]))?;
    let retention = key
        .and_then(|key| {
            let args = retention_args(lang, &row["retention_values"])?;
            let args: Vec<(&str, Arg)> =
                args.iter().map(|(name, arg)| (name.as_str(), arg.clone())).collect();
            catalog.format_complete(&format!("privacy-retention-{key}"), &args)
        })
        .or_else(|| server_text(&row["retention"]))
        .unwrap_or_default();
    Some((name, retention))
}

fn never_row(lang: Lang, row: &Value) -> Option<String> {
    plain_key(&row["key"])
        .and_then(|key| Catalog::get(lang).value(&format!("privacy-never-{key}")))
        .or_else(|| server_text(&row["item"]))
}

/// The statement `value` in `lang`.
pub fn view_in(lang: Lang, value: &Value) -> StatementView {
    let not_configured = || t(lang, "privacy-not-configured");
    let rows = |name: &str| value[name].as_array().map(Vec::as_slice).unwrap_or_default();
    let limits = &value["limits"];
    let limit = |id: &str, key: &str| {
        limits[key].as_u64().map(|bytes| t1(lang, id, "size", &size(lang, bytes)))
    };
    StatementView {
        operator: server_text(&value["operator"]["name"]).unwrap_or_else(not_configured),
        contact: server_text(&value["operator"]["contact"]).unwrap_or_else(not_configured),
        source_code: server_text(&value["source_code"]).unwrap_or_else(not_configured),
        public_url: server_text(&value["public_url"]),
        stored: rows("stored").iter().filter_map(|row| stored_row(lang, row)).collect(),
        never_stored: rows("never_stored").iter().filter_map(|row| never_row(lang, row)).collect(),
        limits: [
            limit("web-limit-attachment", "max_attachment_bytes"),
            limit("web-limit-quota", "attachment_quota_bytes"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "operator": {"name": "Stadt Musterhausen\u{1b}[2J", "contact": null},
            "source_code": "",
            "public_url": "https://stadtbote.musterhausen.de",
            "stored": [
                {"item": "attachments", "key": "attachments", "retention": "server words",
                 "retention_values": {"secs": 2_592_000, "upload_secs": 86_400}},
                {"item": "quantum\u{7}", "key": "quantum", "retention": "forever"},
                {"item": "link codes", "key": "link-codes", "retention": "r",
                 "retention_values": {"secs": "x"}},
                {"key": "../x"},
            ],
            "never_stored": [{"item": "read receipts", "key": "read-receipts"}, {"item": 3}],
            "limits": {"max_attachment_bytes": 20_971_520, "attachment_quota_bytes": 1000},
        })
    }

    #[test]
    fn rows_are_worded_from_the_german_catalog() {
        let view = view_in(Lang::De, &sample());
        assert_eq!(view.operator, "Stadt Musterhausen[2J");
        assert_eq!(view.contact, "vom Betreiber nicht angegeben");
        assert_eq!(view.source_code, "vom Betreiber nicht angegeben");
        assert_eq!(view.public_url.as_deref(), Some("https://stadtbote.musterhausen.de"));
        assert_eq!(
            view.stored,
            vec![
                (
                    "Anhänge".to_owned(),
                    "gelöscht 2592000 Sekunden (30 Tage) nach dem Ende des Hochladens; \
                     unfertige Uploads nach 86400 Sekunden (1 Tag)"
                        .to_owned()
                ),
                ("quantum".to_owned(), "forever".to_owned()),
                ("Verknüpfungscodes".to_owned(), "r".to_owned()),
            ]
        );
        assert_eq!(view.never_stored, vec!["Lesebestätigungen".to_owned()]);
        assert_eq!(
            view.limits,
            vec![
                "Größte Datei (etwa ein Foto): 20 MiB".to_owned(),
                "Speicherplatz für Dateien je Konto: 1000 Bytes".to_owned()
            ]
        );
    }

    #[test]
    fn english_and_an_empty_statement() {
        let view = view_in(Lang::En, &sample());
        assert_eq!(view.stored[0].0, "attachments");
        assert_eq!(view.contact, "not configured by the operator");
        let empty = view_in(Lang::En, &json!({}));
        assert!(empty.stored.is_empty() && empty.never_stored.is_empty());
        assert!(empty.limits.is_empty() && empty.public_url.is_none());
        let long = json!({"operator": {"name": "x".repeat(10_000)}});
        assert_eq!(view_in(Lang::En, &long).operator.len(), MAX_SERVER_TEXT);
    }
}
