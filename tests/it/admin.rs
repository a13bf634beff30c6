//! Server-admin commands: aggregate statistics, blocking accounts, the
//! second factor, the audit log and its verification, suspending orgs and
//! retention periods.

use crate::harness::{Server, last_line};
use crate::municipal::{HANDLE, Town};

#[test]
fn admin_stats_are_aggregates_and_block_refuses_an_account_until_unblocked() {
    let town = Town::new(Server::start());
    let anna = town.citizen("Anna Acker");
    let bernd = town.citizen("Bernd Bach");
    let a = anna.whoami()["account"].as_str().expect("account").to_string();
    let b = bernd.whoami()["account"].as_str().expect("account").to_string();
    anna.ok(&["send", &b, "Hallo Bernd"]);
    assert_eq!(bernd.inbox_texts(), ["Hallo Bernd"]);
    // Queued, not yet read by Anna.
    bernd.ok(&["send", &a, "Hallo Anna"]);

    let stats: serde_json::Value =
        serde_json::from_str(town.admin_ok(&["admin", "stats", "--json"]).trim())
            .expect("stats json");
    assert!(stats["accounts"].as_u64().is_some_and(|n| n >= 4), "{stats}");
    assert!(stats["devices"].as_u64().is_some_and(|n| n >= 4), "{stats}");
    for key in ["connected", "queued_envelopes", "stored_bytes", "channels", "channel_posts"] {
        assert!(stats[key].as_u64().is_some(), "{key} is an integer: {stats}");
    }
    assert!(stats["queued_envelopes"].as_u64().is_some_and(|n| n >= 1), "{stats}");
    assert!(stats["stored_bytes"].as_u64().is_some_and(|n| n > 0), "{stats}");
    let orgs = stats["orgs"].as_array().expect("orgs");
    assert!(orgs.iter().any(|o| o["handle"] == "musterhausen"), "{stats}");

    let text = town.admin_ok(&["admin", "stats"]);
    assert!(text.contains("accounts: ") && text.contains("musterhausen"), "{text}");
    for id in [&a, &b] {
        assert!(!text.contains(id.as_str()), "no account id in the stats: {text}");
        assert!(!stats.to_string().contains(id.as_str()), "{stats}");
    }

    // Only server admins.
    anna.fails(&["admin", "stats"]);
    town.mayor.fails(&["admin", "stats", "--json"]);

    let out = town.admin_ok(&["admin", "block", &a]);
    assert!(out.contains(&format!("blocked {a} (1 device)")), "{out}");
    let err = anna.fails(&["inbox"]);
    assert!(err.contains("blocked"), "a clear error: {err}");
    // Others keep working.
    bernd.ok(&["inbox"]);
    town.admin_ok(&["admin", "stats"]);
    assert!(!town.server.log().contains(&a), "no account id in the server log");

    let out = town.admin_ok(&["admin", "unblock", &a]);
    assert!(out.contains(&format!("unblocked {a} (1 device)")), "{out}");
    assert_eq!(anna.inbox_texts(), ["Hallo Anna"]);

    // An unknown account is refused.
    let unknown = stadtbote_protocol::AccountId::random().to_string();
    let err = town.admin_fails(&["admin", "block", &unknown]);
    assert!(!err.is_empty(), "an error for an unknown account");
}

/// The audit log as `admin audit --json` prints it.
fn audit_entries(town: &Town) -> Vec<serde_json::Value> {
    crate::harness::json_lines(&town.admin_ok(&["admin", "audit", "--json"]))
}

/// Changes the stopped server's audit log: `edit` gets the audit tree.
fn tamper(town: &mut Town, edit: impl FnOnce(&sled::Tree)) {
    town.server.terminate();
    {
        let db = sled::open(town.server.data_dir.join("db")).expect("open the server's db");
        let tree = db.open_tree("audit").expect("audit tree");
        edit(&tree);
        db.flush().expect("flush");
    }
    town.server.restart();
}

/// The key of audit record `seq` (see `server/src/store/sled_audit.rs`).
fn record_key(seq: u64) -> Vec<u8> {
    let mut key = vec![b'r'];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

#[test]
fn admin_second_factor_refusals_are_audited_and_the_chain_catches_tampering() {
    let mut town = Town::new(Server::start());
    let citizen = town.citizen("Nina Neugier");

    // Without a code, with a replayed one, from a non-admin device: refused.
    let missing = town.admin.fails(&["admin", "stats"]);
    assert!(missing.contains("--otp") && missing.contains("STADTBOTE_OTP"), "{missing}");
    town.admin_ok(&["admin", "stats"]);
    let replayed = town.admin_totp.replayed();
    let err = town.admin.fails(&["--otp", &replayed, "admin", "stats"]);
    assert!(err.contains("already used"), "{err}");
    let wrong = town.admin.fails(&["--otp", "000000", "admin", "stats"]);
    assert!(wrong.contains("second factor"), "{wrong}");
    let forbidden = citizen.fails(&["admin", "stats"]);
    assert!(forbidden.contains("not a server admin"), "{forbidden}");

    let entries = audit_entries(&town);
    for outcome in [
        "refused:second-factor-missing",
        "refused:second-factor-replayed",
        "refused:forbidden",
        "ok",
    ] {
        assert!(entries.iter().any(|e| e["outcome"] == outcome), "{outcome}: {entries:?}");
    }
    assert!(entries.iter().any(|e| e["action"] == "admin.org-create" && e["target"] == HANDLE));
    // Actors are pseudonyms, never device or account ids.
    let text = serde_json::Value::from(entries.clone()).to_string();
    for device in [&town.admin, &citizen] {
        let id = device.device_id();
        assert!(!text.contains(&id), "no device id in the audit log");
        let account = device.whoami()["account"].as_str().expect("account").to_owned();
        assert!(!text.contains(&account), "no account id in the audit log");
    }

    let verified = town.admin_ok(&["admin", "audit", "--verify"]);
    assert!(verified.contains("audit log verified"), "{verified}");

    // Change one byte inside an entry's text on disk.
    let seq = entries
        .iter()
        .find(|e| e["action"] == "admin.stats")
        .and_then(|e| e["seq"].as_u64())
        .expect("an admin.stats entry");
    let mut original = Vec::new();
    tamper(&mut town, |tree| {
        let key = record_key(seq);
        let value = tree.get(&key).expect("read").expect("entry present").to_vec();
        original.clone_from(&value);
        let at = value.windows(11).position(|w| w == b"admin.stats").expect("entry text");
        let mut changed = value;
        changed[at + 6] = b'S';
        tree.insert(&key, changed).expect("write");
    });
    let err = town.admin_fails(&["admin", "audit", "--verify"]);
    assert!(err.contains(&format!("seq {seq}")) && err.contains("changed"), "{err}");

    // Put it back, then remove another entry instead.
    let removed = seq + 1;
    tamper(&mut town, |tree| {
        tree.insert(record_key(seq), original).expect("restore");
        tree.remove(record_key(removed)).expect("remove");
    });
    let err = town.admin_fails(&["admin", "audit", "--verify"]);
    assert!(err.contains(&format!("seq {removed}")) && err.contains("missing"), "{err}");
}

#[test]
fn suspension_retention_and_org_second_factor() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Sven Sorge");
    let report = ["report", HANDLE, "--category", "Straßenschaden", "Schlagloch am Markt"];

    // Suspended: the directory (and so reporting) is refused, resumed: works.
    town.admin_ok(&["admin", "org", "suspend", HANDLE]);
    let listed = town.admin_ok(&["admin", "org", "list", "--json"]);
    let orgs = crate::harness::json_lines(&listed);
    assert!(orgs.iter().any(|o| o["handle"] == HANDLE && o["suspended"] == true), "{listed}");
    let err = citizen.fails(&report);
    assert!(err.contains("suspended"), "{err}");
    let err =
        town.mayor.fails(&["org", "invite-staff", "--department", "bauhof", "--role", "clerk"]);
    assert!(err.contains("suspended"), "{err}");
    town.admin_ok(&["admin", "org", "resume", HANDLE]);
    citizen.ok(&report);

    // Retention: shown in `/privacy` and by `admin retention show`.
    let out = town.admin_ok(&["admin", "retention", "set", "envelopes", "7d"]);
    assert!(out.contains("604800"), "{out}");
    let err = town.admin_fails(&["admin", "retention", "set", "envelopes", "0s"]);
    assert!(err.contains("between"), "{err}");
    let shown =
        crate::harness::json_lines(&town.admin_ok(&["admin", "retention", "show", "--json"]));
    let envelopes = shown.iter().find(|p| p["kind"] == "envelopes").expect("envelopes");
    assert_eq!(
        (envelopes["secs"].as_u64(), envelopes["source"].as_str()),
        (Some(604_800), Some("admin"))
    );
    let (status, body) =
        crate::harness::http_get(town.server.addr, "/privacy", Some("application/json"))
            .expect("privacy");
    assert_eq!(status, 200);
    let privacy: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(privacy["retention"]["envelope_ttl_secs"], 604_800, "{privacy}");
    let periods = privacy["retention_periods"].as_array().expect("periods");
    for kind in [
        "envelopes",
        "attachments",
        "uploads",
        "link-codes",
        "org-claim-codes",
        "channel-posts-max",
        "audit",
    ] {
        assert!(
            periods.iter().any(|p| p["kind"] == kind && p["secs"].as_u64().is_some_and(|s| s > 0)),
            "{kind} in /privacy: {privacy}"
        );
    }
    let info = citizen.ok(&["server-info"]);
    assert!(info.contains("envelopes: 604800 s") && info.contains("audit: "), "{info}");

    // The org's second factor: once on, org-admin actions need a code.
    town.enable_org_2fa();
    let invite = ["org", "invite-staff", "--department", "bauhof", "--role", "clerk"];
    let err = town.mayor.fails(&invite);
    assert!(err.contains("--otp"), "{err}");
    let code = last_line(&town.mayor_ok(&invite));
    assert!(!code.is_empty());
    let entries = audit_entries(&town);
    assert!(
        entries.iter().any(|e| e["action"] == "org.invite"
            && e["outcome"] == "refused:second-factor-missing"
            && e["role"] == format!("org-admin:{HANDLE}")),
        "{entries:?}"
    );
}
