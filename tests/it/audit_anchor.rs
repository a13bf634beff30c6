//! `admin audit --verify` cannot be fooled by a forged retention anchor.
//!
//! A compromised server (a proxy in front of the real one) hides one audit
//! entry made after the admin's last verification: it claims that
//! everything up to that entry was removed by retention, forges the
//! anchor's hash and re-chains the rest of the log from it. The admin's
//! client must refuse (the chain no longer continues from the head it
//! pinned), keep its pin, and an honest verification afterwards passes and
//! states the exact range it checked.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_bytes::ByteBuf;
use stadtbote_protocol::Response;
use stadtbote_protocol::audit::{AuditHead, chain_hash};
use stadtbote_protocol::frame::{self, ServerBody};

use crate::harness::{Server, bins, json_lines, start_proxy};
use crate::municipal::Town;

/// Rewrites an audit page: entries up to `hide` are "pruned", the anchor
/// claims `hide` with a made-up hash, and every later record is re-chained
/// from it (the chain hash is unkeyed, so the server can recompute it).
fn forge(bytes: &[u8], hide: u64) -> Vec<u8> {
    let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
    let ServerBody::Response { response: Response::Audit { records, head, anchor }, .. } =
        &mut frame.body
    else {
        return bytes.to_vec();
    };
    let forged = AuditHead { seq: hide, hash: ByteBuf::from(vec![0x42; 32]) };
    records.retain(|r| r.seq > hide);
    let mut prev = forged.hash.to_vec();
    for record in records.iter_mut() {
        record.prev = ByteBuf::from(prev.clone());
        let hash = chain_hash(&prev, &record.entry);
        record.hash = ByteBuf::from(hash.to_vec());
        prev = hash.to_vec();
    }
    *head = Some(
        records
            .last()
            .map_or_else(|| forged.clone(), |r| AuditHead { seq: r.seq, hash: r.hash.clone() }),
    );
    *anchor = Some(forged);
    frame::encode(&frame)
}

/// Runs `stadtbote --otp CODE ARGS` with the server admin's home against
/// `url`.
fn admin_via(town: &Town, url: &str, args: &[&str]) -> Output {
    std::process::Command::new(&bins().cli)
        .arg("--home")
        .arg(&town.admin.home)
        .arg("--server")
        .arg(url)
        .arg("--otp")
        .arg(town.admin_totp.fresh())
        .args(args)
        .env_remove("STADTBOTE_HOME")
        .env_remove("STADTBOTE_SERVER")
        .env_remove("STADTBOTE_OTP")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run stadtbote")
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The head `admin audit --verify` pinned for `url`.
fn pinned(town: &Town, url: &str) -> (u64, String) {
    let text = std::fs::read_to_string(town.admin.home.join("audit-pins.json")).expect("pins");
    let pins: serde_json::Value = serde_json::from_str(&text).expect("pins json");
    let pin = &pins[url];
    // Both layouts: `[seq, hash]` (older) and `{seq, hash, ...}`.
    let seq = pin[0].as_u64().or_else(|| pin["seq"].as_u64()).expect("pinned seq");
    let hash = pin[1].as_str().or_else(|| pin["hash"].as_str()).expect("pinned hash");
    (seq, hash.to_owned())
}

#[test]
fn a_forged_retention_anchor_past_the_pinned_head_is_refused() {
    let town = Town::new(Server::start());
    let hide = Arc::new(AtomicU64::new(0));
    let proxy = {
        let hide = hide.clone();
        start_proxy(
            town.server.url(),
            Arc::new(move |bytes: &[u8]| match hide.load(Ordering::SeqCst) {
                0 => bytes.to_vec(),
                seq => forge(bytes, seq),
            }),
        )
    };

    // First verification through the (still honest) proxy pins the head.
    let first = stdout_ok(&admin_via(&town, &proxy, &["admin", "audit", "--verify"]));
    assert!(first.contains("audit log verified"), "{first}");
    let (pin, pin_hash) = pinned(&town, &proxy);

    // Actions after the pin, among them one the server wants to hide.
    town.admin_ok(&["admin", "stats"]);
    town.admin_ok(&["admin", "org", "list"]);

    // The server hides the first entry after the pin behind a forged anchor.
    hide.store(pin + 1, Ordering::SeqCst);
    let out = admin_via(&town, &proxy, &["admin", "audit", "--verify"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "a forged anchor must not verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("rewritten or pruned past"), "{err}");
    assert!(err.contains(&format!("seq {pin}")), "names the pinned head: {err}");
    assert!(err.contains("audit_retention_days"), "explains the retention gap: {err}");
    assert_eq!(pinned(&town, &proxy), (pin, pin_hash.clone()), "the pin is kept");
    // The same with --json: refused, nothing pinned.
    let out = admin_via(&town, &proxy, &["admin", "audit", "--verify", "--json"]);
    assert!(!out.status.success());
    assert_eq!(pinned(&town, &proxy), (pin, pin_hash.clone()), "the pin is kept");

    // Honest again: the chain continues from the pin and the range is stated.
    hide.store(0, Ordering::SeqCst);
    let text = stdout_ok(&admin_via(&town, &proxy, &["admin", "audit", "--verify"]));
    let (new_pin, _) = pinned(&town, &proxy);
    assert!(new_pin > pin + 1, "the pin moved on: {new_pin} after {pin}");
    assert!(text.contains(&format!("checked seq 1 to {new_pin}")), "{text}");
    assert!(text.contains(&format!("continues from the head pinned at seq {pin}")), "{text}");
    assert!(text.contains(&format!("pinned head: seq {new_pin}")), "{text}");
    assert!(!text.contains("trust on first use"), "{text}");

    let lines = json_lines(&stdout_ok(&admin_via(
        &town,
        &proxy,
        &["admin", "audit", "--verify", "--json"],
    )));
    let verification = lines
        .iter()
        .find_map(|l| l.get("verification"))
        .unwrap_or_else(|| panic!("a verification object: {lines:?}"));
    let (after, after_hash) = pinned(&town, &proxy);
    assert_eq!(verification["from"], 1, "{verification}");
    assert_eq!(verification["to"], after, "{verification}");
    assert_eq!(verification["pinned_before"]["seq"], new_pin, "{verification}");
    assert_eq!(verification["pinned_after"]["seq"], after, "{verification}");
    assert_eq!(verification["pinned_after"]["hash"], after_hash.as_str(), "{verification}");
    assert_eq!(verification["trust_on_first_use"], false, "{verification}");
    // Entries still follow, one object each.
    assert!(lines.iter().any(|l| l["action"] == "admin.stats"), "{lines:?}");

    // Another home (no pin yet) is told that its first check is trust on
    // first use.
    let first_time =
        stdout_ok(&admin_via(&town, &town.server.url(), &["admin", "audit", "--verify"]));
    assert!(first_time.contains("trust on first use"), "{first_time}");

    // An admin who accepts the gap (e.g. after a long absence) re-pins as on
    // first use; if the "gap" was a forgery, the honest log no longer
    // matches that pin and the next verification says so.
    hide.store(after + 1, Ordering::SeqCst);
    let accepted =
        stdout_ok(&admin_via(&town, &proxy, &["admin", "audit", "--verify", "--accept-gap"]));
    assert!(
        accepted.contains("not checked") && accepted.contains("trust on first use"),
        "{accepted}"
    );
    hide.store(0, Ordering::SeqCst);
    let out = admin_via(&town, &proxy, &["admin", "audit", "--verify"]);
    assert!(!out.status.success(), "the forged head no longer matches the real log");
}
