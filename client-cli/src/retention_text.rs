//! The server's retention table in the user's language. The rows of its
//! privacy statement (`/privacy`: what is stored and for how long, what is
//! never stored) and its retention periods (`/privacy` and `admin retention
//! show`) carry stable keys next to their English texts; the text shown is
//! the catalog's (`privacy-item-KEY`, `privacy-retention-KEY`,
//! `privacy-never-KEY`, `privacy-period-KIND`), with the row's numbers
//! (`retention_values`) filled in. A row whose key this client does not
//! know, or whose numbers are missing, shows the server's own text,
//! filtered like every other party's string ([`crate::output::safe`]).

use serde_json::Value;
use stadtbote_i18n::{Arg, Catalog, Lang};

use crate::output::safe;

const DAY: u64 = 86_400;

/// A key a catalog id may be built from: lower-case letters, digits, `-`.
fn plain_key(key: &str) -> Option<&str> {
    let plain = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plain.then_some(key)
}

/// The server's text of `value`, filtered, or empty.
fn server_text(value: &Value) -> String {
    value.as_str().map(|text| safe(text).into_owned()).unwrap_or_default()
}

/// A duration the way the server's statement words it ("2592000 seconds
/// (30 days)"), in `lang`.
pub fn duration_in(lang: Lang, secs: u64) -> String {
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

/// The name and retention of one `stored` row of a privacy statement, in
/// `lang`.
pub fn stored_row_in(lang: Lang, row: &Value) -> (String, String) {
    let catalog = Catalog::get(lang);
    let key = row["key"].as_str().and_then(plain_key);
    let name = key
        .and_then(|key| catalog.value(&format!("privacy-item-{key}")))
        .unwrap_or_else(|| server_text(&row["item"]));
    let retention = key
        .and_then(|key| {
            let args = retention_args(lang, &row["retention_values"])?;
            let args: Vec<(&str, Arg)> =
                args.iter().map(|(name, arg)| (name.as_str(), arg.clone())).collect();
            catalog.format_complete(&format!("privacy-retention-{key}"), &args)
        })
        .unwrap_or_else(|| server_text(&row["retention"]));
    (name, retention)
}

/// A row's numbers as catalog arguments: durations (names ending in
/// `secs`) worded in `lang`, other numbers as counts. `None` when the row
/// holds something else there.
fn retention_args(lang: Lang, values: &Value) -> Option<Vec<(String, Arg)>> {
    let Some(values) = values.as_object() else {
        // Rows without numbers (and older servers) send none.
        return Some(Vec::new());
    };
    values
        .iter()
        .map(|(name, value)| {
            let plain = name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let number = value.as_u64().filter(|_| plain)?;
            let arg = if name == "secs" || name.ends_with("_secs") {
                Arg::Text(duration_in(lang, number))
            } else {
                Arg::Number(i64::try_from(number).ok()?)
            };
            Some((name.clone(), arg))
        })
        .collect()
}

/// The name of one `never_stored` row, in `lang`.
pub fn never_stored_in(lang: Lang, row: &Value) -> String {
    row["key"]
        .as_str()
        .and_then(plain_key)
        .and_then(|key| Catalog::get(lang).value(&format!("privacy-never-{key}")))
        .unwrap_or_else(|| server_text(&row["item"]))
}

/// What a retention period of `kind` keeps, in `lang`; the server's `what`
/// for a kind this client does not know.
pub fn period_what_in(lang: Lang, kind: &str, what: &str) -> String {
    plain_key(kind)
        .and_then(|kind| Catalog::get(lang).value(&format!("privacy-period-{kind}")))
        .unwrap_or_else(|| safe(what).into_owned())
}

/// Where a period's value comes from (`config` or `admin`), in `lang`.
pub fn source_in(lang: Lang, source: &str) -> String {
    match source {
        "config" => Catalog::get(lang).format("privacy-source-config", &[]),
        "admin" => Catalog::get(lang).format("privacy-source-admin", &[]),
        other => safe(other).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_read_like_the_servers() {
        assert_eq!(duration_in(Lang::En, 2_592_000), "2592000 seconds (30 days)");
        assert_eq!(duration_in(Lang::En, 3600), "3600 seconds (60 minutes)");
        assert_eq!(duration_in(Lang::En, 59), "59 seconds");
        assert_eq!(duration_in(Lang::De, 2_592_000), "2592000 Sekunden (30 Tage)");
        assert_eq!(duration_in(Lang::De, 86_400), "86400 Sekunden (1 Tag)");
        assert_eq!(duration_in(Lang::De, 60), "60 Sekunden (1 Minute)");
    }

    #[test]
    fn known_rows_are_worded_from_the_catalog() {
        let row = json!({
            "item": "attachments",
            "key": "attachments",
            "retention": "whatever the server wrote",
            "retention_values": {"secs": 2_592_000, "upload_secs": 86_400},
        });
        let (name, retention) = stored_row_in(Lang::De, &row);
        assert_eq!(name, "Anhänge");
        assert_eq!(
            retention,
            "gelöscht 2592000 Sekunden (30 Tage) nach dem Ende des Hochladens; unfertige Uploads \
             nach 86400 Sekunden (1 Tag)"
        );
        let (name, retention) = stored_row_in(Lang::En, &row);
        assert_eq!(name, "attachments");
        assert_eq!(
            retention,
            "deleted 2592000 seconds (30 days) after the upload finished; unfinished uploads \
             after 86400 seconds (1 days)"
        );
        let never = json!({"item": "read receipts", "key": "read-receipts"});
        assert_eq!(never_stored_in(Lang::De, &never), "Lesebestätigungen");
        assert_eq!(
            period_what_in(Lang::De, "envelopes", "x"),
            "verschlüsselte Nachrichten, die auf Zustellung warten"
        );
        assert_eq!(source_in(Lang::De, "admin"), "Admin");
        assert_eq!(source_in(Lang::De, "config"), "Konfiguration");
    }

    /// Unknown keys, missing numbers and odd keys show the server's text,
    /// filtered.
    #[test]
    fn unknown_rows_fall_back_to_the_filtered_server_text() {
        let future =
            json!({"item": "quantum\u{1b}[2J", "key": "quantum", "retention": "forever\r"});
        assert_eq!(stored_row_in(Lang::De, &future), ("quantum␛[2J".into(), "forever␍".into()));
        let missing = json!({"item": "attachments", "key": "attachments", "retention": "r"});
        assert_eq!(stored_row_in(Lang::De, &missing).1, "r");
        let odd = json!({"item": "i", "key": "../accounts", "retention": "r"});
        assert_eq!(stored_row_in(Lang::De, &odd), ("i".into(), "r".into()));
        let text_value = json!({
            "item": "i", "key": "link-codes", "retention": "r", "retention_values": {"secs": "x"},
        });
        assert_eq!(stored_row_in(Lang::De, &text_value).1, "r");
        assert_eq!(period_what_in(Lang::De, "new-kind", "new\u{7}"), "new␇");
        assert_eq!(source_in(Lang::De, "operator"), "operator");
        assert_eq!(never_stored_in(Lang::De, &json!({"item": "x"})), "x");
    }
}
