//! Server-admin commands: aggregate statistics, blocking accounts, the
//! second factor, the audit log and its verification, suspending orgs,
//! retention periods, and the recovery paths for a lost authenticator.

use crate::harness::{Device, Server, json_lines, last_line};
use crate::municipal::{HANDLE, Totp, Town};

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
    assert!(text.contains("  Accounts: ") && text.contains("musterhausen"), "{text}");
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

/// `stadtbote-server admin-reset` on `town`'s data directory.
fn admin_reset(town: &Town, extra: &[&str]) -> std::process::Output {
    let data_dir = town.server.data_dir.to_str().expect("utf-8 data dir");
    let mut args = vec!["admin-reset", "--data-dir", data_dir];
    args.extend_from_slice(extra);
    Server::tool(&args)
}

#[test]
fn admin_reset_replaces_a_lost_authenticator_and_leaves_the_audit_chain_intact() {
    let mut town = Town::new(Server::start());
    town.admin_ok(&["admin", "stats"]);
    let code_file = town.server.data_dir.join("admin-claim.code");

    // On a running server's directory: refused clearly, nothing changed.
    let out = admin_reset(&town, &["--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("locked") && err.contains("stop the server"), "{err}");
    assert!(!code_file.exists());
    town.admin_ok(&["admin", "stats"]);
    let before = audit_entries(&town);
    assert!(!before.iter().any(|e| e["action"] == "admin.reset"), "{before:?}");

    // Without --yes: refused with an explanation.
    town.server.terminate();
    let out = admin_reset(&town, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--yes"), "{err}");
    assert!(!code_file.exists());

    let out = admin_reset(&town, &["--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("removed 1 server admin"), "{stdout}");
    assert!(stdout.contains("stadtbote admin claim CODE"), "{stdout}");
    let code = std::fs::read_to_string(&code_file).expect("a new claim code");
    assert!(!stdout.contains(code.trim()), "the code stays in the file: {stdout}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&code_file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin-claim.code mode {mode:o}");
    }
    town.server.restart();
    assert!(!town.server.log().contains(code.trim()), "the claim code is never logged");

    // The old admin device is refused even with a valid code of its secret.
    let err = town.admin_fails(&["admin", "stats"]);
    assert!(err.contains("admin"), "{err}");
    let err = town.admin.fails(&["admin", "stats"]);
    assert!(err.contains("not a server admin"), "{err}");

    // The new claim code works once and sets up a new secret.
    let new_admin = Device::new(&town.server);
    new_admin.init("Neue Server-Admin");
    let claimed = new_admin.ok(&["admin", "claim", code.trim()]);
    let totp = Totp::from_output(&claimed);
    assert!(!code_file.exists(), "the claim code is gone once used");
    town.admin.fails(&["admin", "claim", code.trim()]);
    // The lost secret does not open the new admin's actions.
    let err = new_admin.fails(&["--otp", &town.admin_totp.fresh(), "admin", "stats"]);
    assert!(err.contains("second factor"), "{err}");
    new_admin.ok(&["--otp", &totp.fresh(), "admin", "stats"]);

    let verified = new_admin.ok(&["--otp", &totp.fresh(), "admin", "audit", "--verify"]);
    assert!(verified.contains("audit log verified"), "{verified}");
    let entries = json_lines(&new_admin.ok(&["--otp", &totp.fresh(), "admin", "audit", "--json"]));
    let reset = entries.iter().find(|e| e["action"] == "admin.reset").expect("admin.reset entry");
    assert_eq!(
        (&reset["actor"], &reset["role"], &reset["outcome"]),
        (&"host-operator".into(), &"host-operator".into(), &"ok".into()),
        "{reset}"
    );
    // Older entries are still there, before the reset in the chain.
    let stats = entries.iter().find(|e| e["action"] == "admin.stats").expect("older entries kept");
    assert!(stats["seq"].as_u64() < reset["seq"].as_u64(), "{entries:?}");
}

#[test]
fn reset_2fa_lets_the_org_admin_set_up_a_new_secret_and_retires_the_old_one() {
    let town = Town::new(Server::start());
    let invite = ["org", "invite-staff", "--department", "bauhof", "--role", "clerk"];
    town.enable_org_2fa();
    town.mayor_ok(&invite);
    let old = town
        .mayor_totp
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the org's first secret");

    // Only server admins, with their own second factor.
    let err = town.mayor.fails(&["admin", "org", "reset-2fa", HANDLE]);
    assert!(err.contains("not a server admin"), "{err}");
    let err = town.admin.fails(&["admin", "org", "reset-2fa", HANDLE]);
    assert!(err.contains("--otp"), "{err}");
    let err = town.admin_fails(&["admin", "org", "reset-2fa", "gibt-es-nicht"]);
    assert!(!err.is_empty());

    let out = town.admin_ok(&["admin", "org", "reset-2fa", HANDLE]);
    assert!(out.contains("Turned off") && out.contains("org 2fa enable"), "{out}");

    // The mayor sets up a new secret without a code, then needs its codes.
    town.enable_org_2fa();
    let err = town.mayor.fails(&invite);
    assert!(err.contains("--otp"), "{err}");
    let err = town.mayor.fails(&[
        "--otp",
        &old.fresh(),
        "org",
        "invite-staff",
        "--department",
        "bauhof",
        "--role",
        "clerk",
    ]);
    assert!(err.contains("second factor"), "the old secret's codes are refused: {err}");
    let code = last_line(&town.mayor_ok(&invite));
    assert!(!code.is_empty());

    let entries = audit_entries(&town);
    assert!(
        entries.iter().any(|e| e["action"] == "admin.org-2fa-reset"
            && e["target"] == HANDLE
            && e["role"] == "server-admin"
            && e["outcome"] == "ok"),
        "{entries:?}"
    );
    let verified = town.admin_ok(&["admin", "audit", "--verify"]);
    assert!(verified.contains("audit log verified"), "{verified}");
}
