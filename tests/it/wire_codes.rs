//! German for what the SERVER says (issue 14 item 6): a refusal carries a
//! stable reason code and the retention table stable row keys, and the
//! client words both from its catalogs in the user's language, never from
//! the server's English text. A proxy that rewrites the server's English
//! keeps the German (and the English) text unchanged; a reason or row the
//! client does not know shows the server's text, filtered.

use std::sync::Arc;

use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::totp::{self, Secret};

use crate::harness::{Device, Server, start_proxy};
use crate::municipal::{TEST_SKEW_STEPS, Totp};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A server admin device (claimed, with its TOTP secret).
fn admin(server: &Server) -> (Device, Totp, Secret) {
    let admin = Device::new(server);
    admin.init("Server-Admin");
    let code = std::fs::read_to_string(server.data_dir.join("admin-claim.code")).unwrap();
    let claimed = admin.ok(&["admin", "claim", code.trim()]);
    let base32 = claimed
        .lines()
        .find_map(|line| line.strip_prefix("secret (base32): "))
        .expect("base32 secret")
        .to_owned();
    (admin, Totp::from_output(&claimed), Secret::from_base32(&base32).unwrap())
}

/// A six-digit code the server refuses as wrong: none of the codes its
/// window accepts now (or in the next minute).
fn wrong_code(secret: &Secret) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let step = totp::step_at(now);
    let window = step.saturating_sub(TEST_SKEW_STEPS + 1)..=step + TEST_SKEW_STEPS + 3;
    let valid: Vec<String> = window.map(|s| totp::code_for_step(secret, s)).collect();
    (0..10u32)
        .map(|d| d.to_string().repeat(6))
        .find(|code| !valid.contains(code))
        .expect("a wrong code")
}

/// Rewrites the `message` of every error the server sends, keeping its
/// code and reason: a server that words its refusals as it likes.
fn rewrite_messages(bytes: &[u8]) -> Vec<u8> {
    let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
    if let ServerBody::Error { error, .. } = &mut frame.body {
        error.message = "REWRITTEN BY THE PROXY".to_owned();
        return frame::encode(&frame);
    }
    bytes.to_vec()
}

/// Replaces every error's reason by one no client knows yet, and its
/// message by a text with a terminal escape: what a newer (or hostile)
/// server could send.
fn future_reason(bytes: &[u8]) -> Vec<u8> {
    use ciborium::Value;
    fn field<'a>(map: &'a mut Value, name: &str) -> Option<&'a mut Value> {
        let Value::Map(entries) = map else { return None };
        entries.iter_mut().find(|(k, _)| k.as_text() == Some(name)).map(|(_, v)| v)
    }
    let Ok(mut value) = ciborium::from_reader::<Value, _>(bytes) else { return bytes.to_vec() };
    // body.error.error is the ErrorBody map.
    let error = field(&mut value, "body")
        .and_then(|body| field(body, "error"))
        .and_then(|outer| field(outer, "error"));
    let Some(Value::Map(entries)) = error else { return bytes.to_vec() };
    entries.retain(|(k, _)| !matches!(k.as_text(), Some("reason" | "message")));
    entries
        .push((Value::Text("message".into()), Value::Text("a newer rule\u{1b}[2J says no".into())));
    entries.push((Value::Text("reason".into()), Value::Text("refused_by_a_newer_rule".into())));
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    out
}

/// A wrong TOTP code is refused in German with `--lang de` and in English
/// with `--lang en`, chosen by the refusal's reason code: a proxy that
/// rewrites the server's English message changes neither. A reason the
/// client does not know shows the server's text, with the escape sequence
/// neutralised.
#[test]
fn a_wrong_totp_code_is_refused_in_the_users_language_whatever_the_server_writes() {
    let server = Server::start();
    let (admin, _totp, secret) = admin(&server);
    let wrong = wrong_code(&secret);
    let german = "Fehler: zweiter Faktor abgelehnt: falscher Code; geben Sie --otp CODE an \
                  (den aktuellen Code Ihrer Authenticator-App) oder setzen Sie STADTBOTE_OTP";
    let english = "error: second factor refused: wrong code; pass --otp CODE (the current code \
                   of your authenticator app) or set STADTBOTE_OTP";

    // Straight to the server.
    let out = admin.run(&["--lang", "de", "--otp", &wrong, "admin", "stats"]);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with(german), "{}", stderr(&out));
    let out = admin.run(&["--lang", "en", "--otp", &wrong, "admin", "stats"]);
    assert!(stderr(&out).starts_with(english), "{}", stderr(&out));

    // Through a server that words its refusals differently.
    let rewriting = start_proxy(server.url(), Arc::new(rewrite_messages));
    for (lang, expected) in [("de", german), ("en", english)] {
        let out = admin.run_via(&rewriting, &["--lang", lang, "--otp", &wrong, "admin", "stats"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.starts_with(expected), "{lang}: {err}");
        assert!(!err.contains("REWRITTEN"), "{lang}: {err}");
    }
    // The proxy does rewrite: a refusal without a reason this client knows
    // shows its text.
    let future = start_proxy(server.url(), Arc::new(future_reason));
    let out = admin.run_via(&future, &["--lang", "de", "--otp", &wrong, "admin", "stats"]);
    let err = stderr(&out);
    assert!(err.starts_with("Fehler: a newer rule␛[2J says no; geben Sie --otp CODE an"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

/// `server-info` shows the retention table in German with `--lang de`,
/// worded from the rows' keys, and in English exactly the server's own
/// texts; `admin retention show` likewise. `--json` stays the server's.
#[test]
fn the_retention_table_in_german_and_english() {
    let server = Server::start();
    let device = Device::new(&server);
    let json: serde_json::Value =
        serde_json::from_str(&device.ok(&["--lang", "de", "server-info", "--json"])).unwrap();
    assert_eq!(json["stored"][0]["item"], "accounts", "--json stays English");
    assert_eq!(json["stored"][0]["key"], "accounts");

    let english = device.ok(&["--lang", "en", "server-info"]);
    let german = device.ok(&["--lang", "de", "server-info"]);
    for row in json["stored"].as_array().unwrap() {
        let (item, retention) = (row["item"].as_str().unwrap(), row["retention"].as_str().unwrap());
        let line = format!("  {item}: {retention}\n");
        assert!(english.contains(&line), "{line:?} missing from:\n{english}");
        assert!(!german.contains(&line), "{line:?} in German:\n{german}");
    }
    for german_line in [
        "Betreiber:    vom Betreiber nicht angegeben",
        "Was gespeichert wird, und wie lange:",
        "  Konten: bis das Konto gelöscht wird",
        "  Umschläge (verschlüsselte Nachrichten): gelöscht, sobald das empfangende Gerät den \
         Empfang bestätigt; nicht zugestellte Umschläge werden nach 2592000 Sekunden (30 Tage) \
         gelöscht",
        "  Anhänge: gelöscht 2592000 Sekunden (30 Tage) nach dem Ende des Hochladens; unfertige \
         Uploads nach 86400 Sekunden (1 Tag)",
        "Nie gespeichert: IP-Adressen, Anzeigenamen, ",
        "Aufbewahrungsfristen:",
        "  envelopes: 2592000 s (verschlüsselte Nachrichten, die auf Zustellung warten; \
         festgelegt durch Konfiguration)",
    ] {
        assert!(german.contains(german_line), "missing {german_line:?} in:\n{german}");
    }
    assert!(english.contains("Stored, and for how long:\n"), "{english}");
    assert!(
        english.contains(
            "  envelopes: 2592000 s (encrypted messages waiting for delivery; set by config)"
        ),
        "{english}"
    );

    // The admin's view of the periods, after a change.
    let (admin, totp, _) = admin(&server);
    admin.ok(&["--otp", &totp.fresh(), "admin", "retention", "set", "envelopes", "7d"]);
    let shown = admin.ok(&["--lang", "de", "--otp", &totp.fresh(), "admin", "retention", "show"]);
    let row = |what: &str| format!("{:<18} {:>12} s  ({what})", "envelopes", 604_800);
    let expected =
        row("verschlüsselte Nachrichten, die auf Zustellung warten; festgelegt durch Admin");
    assert!(shown.contains(&expected), "{expected:?} missing from:\n{shown}");
    let shown = admin.ok(&["--lang", "en", "--otp", &totp.fresh(), "admin", "retention", "show"]);
    let expected = row("encrypted messages waiting for delivery; set by admin");
    assert!(shown.contains(&expected), "{expected:?} missing from:\n{shown}");
    // The statement follows the change, in German too.
    let german = device.ok(&["--lang", "de", "server-info"]);
    assert!(german.contains("nach 604800 Sekunden (7 Tage) gelöscht"), "{german}");
}
