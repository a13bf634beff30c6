//! A citizen's rights over their account: `account export` lists what the
//! server holds, `account delete --yes` removes it so that nothing of the
//! account stays readable in the server's files, while other citizens'
//! conversations carry on.

use stadtbote_protocol::audit::{ACCOUNT_PSEUDONYM_DOMAIN, DEVICE_PSEUDONYM_DOMAIN, pseudonym};
use stadtbote_protocol::ids::{conversation_id, grouped};
use stadtbote_protocol::{AccountId, DeviceId};

use crate::harness::{Device, contains_bytes, files_below, json_lines, last_line};
use crate::municipal::{HANDLE, Town};
use crate::photos;

/// An id raw and in every text form the CLI prints or accepts.
fn id_forms(raw: &[u8], text: &str) -> Vec<Vec<u8>> {
    let upper = text.to_ascii_uppercase();
    let lower = text.to_ascii_lowercase();
    vec![
        raw.to_vec(),
        upper.clone().into_bytes(),
        lower.clone().into_bytes(),
        grouped(&upper, 4, " ").into_bytes(),
        grouped(&upper, 4, "-").into_bytes(),
        grouped(&lower, 4, " ").into_bytes(),
        grouped(&lower, 4, "-").into_bytes(),
    ]
}

/// What must not be found in the data dir after an account's deletion:
/// (what it is, its bytes).
fn account_needles(account: &str) -> Vec<(String, Vec<u8>)> {
    let raw = AccountId::parse(account).expect("account id").0;
    id_forms(&raw, account).into_iter().map(|n| ("the account id".to_owned(), n)).collect()
}

/// Everything from which a holder of the deleted account's id (and of its
/// devices' and partners' ids) could confirm that it existed or whom it
/// talked to: its device ids, the 1:1 conversation ids with `partners`, and
/// the unkeyed audit pseudonyms of the account and its devices.
fn derived_needles(account: &str, devices: &[String], partners: &[&str]) -> Vec<(String, Vec<u8>)> {
    let account_id = AccountId::parse(account).expect("account id");
    let mut out = Vec::new();
    for device in devices {
        let id = DeviceId::parse(device).expect("device id");
        for form in id_forms(id.as_bytes(), device) {
            out.push((format!("device id {device}"), form));
        }
        let alias = pseudonym(DEVICE_PSEUDONYM_DOMAIN, id.as_bytes());
        out.push((format!("unkeyed audit pseudonym {alias} of device {device}"), alias.into()));
    }
    for partner in partners {
        let other = AccountId::parse(partner).expect("partner id");
        let group = conversation_id(&account_id, &other);
        let text = group.to_string();
        for form in id_forms(group.as_bytes(), &text) {
            out.push((format!("1:1 conversation id {text}"), form));
        }
    }
    let alias = pseudonym(ACCOUNT_PSEUDONYM_DOMAIN, account_id.as_bytes());
    out.push((format!("unkeyed audit pseudonym {alias} of the account"), alias.into()));
    out
}

/// Every (needle, file) below the server's data dir that holds one of
/// `needles`.
fn found_on_disk(data_dir: &std::path::Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let files = files_below(data_dir);
    assert!(!files.is_empty());
    let mut found = Vec::new();
    for file in files {
        // The server is running: sled may remove a segment or blob file
        // between listing and reading. A file that is gone holds nothing.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("read data file {}: {e}", file.display()),
        };
        for (what, needle) in needles {
            if contains_bytes(&bytes, needle) {
                found.push(format!("{what} in {}", file.display()));
            }
        }
    }
    found.dedup();
    found
}

/// Panics if any file below the server's data dir holds one of `needles`,
/// naming every (needle, file) found.
fn assert_none_on_disk(data_dir: &std::path::Path, needles: &[(String, Vec<u8>)], when: &str) {
    let found = found_on_disk(data_dir, needles);
    assert!(found.is_empty(), "{when}: after deletion the data dir holds {found:#?}");
}

/// Panics if any file below the server's data dir holds the account id, raw
/// or in any text form the CLI prints or accepts.
fn assert_no_trace(data_dir: &std::path::Path, account: &str, when: &str) {
    assert_none_on_disk(data_dir, &account_needles(account), when);
}

/// Copies a device's home so that its keys can be tried after deletion.
fn copy_home(from: &Device, to: &Device) {
    std::fs::create_dir_all(to.home.join("store")).unwrap();
    std::fs::copy(from.home.join("identity.key"), to.home.join("identity.key")).unwrap();
    // The state lives in `store/` since issue 15 (lock files are not copied).
    for entry in std::fs::read_dir(from.home.join("store")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_file() && !name.to_string_lossy().ends_with("lock") {
            std::fs::copy(entry.path(), to.home.join("store").join(&name)).unwrap();
        }
    }
}

#[test]
fn export_then_delete_leaves_nothing_readable_and_others_carry_on() {
    // A town for its server admin (the audit log below); the upload part
    // of deletion is covered by the store's unit tests and by
    // `report_upload_is_exported_and_deleted` below.
    // Short envelope-log segments, so that the acknowledged ciphertext of
    // Anna's conversation (whose MLS headers carry its id) leaves quickly.
    let mut town = Town::new(crate::harness::Server::start_with(&[
        ("STADTBOTE_ENVELOPE_SEGMENT_MAX_AGE_SECS", "1"),
        ("STADTBOTE_SWEEP_INTERVAL_SECS", "1"),
    ]));
    let (anna, bernd, carla) =
        (Device::new(&town.server), Device::new(&town.server), Device::new(&town.server));
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    let c = carla.init("Carla");
    let anna_devices = vec![anna.device_id()];
    // Anna's device and account in the audit log: a refused admin
    // command of hers, and a block and unblock of her account.
    let refused = anna.fails(&["admin", "stats"]);
    assert!(refused.contains("not a server admin"), "{refused}");
    town.admin_ok(&["admin", "block", &a]);
    town.admin_ok(&["admin", "unblock", &a]);

    anna.ok(&["send", &b, "Hallo Bernd"]);
    assert_eq!(bernd.inbox_texts(), ["Hallo Bernd"]);
    bernd.ok(&["send", &a, "Hallo Anna"]);
    assert_eq!(anna.inbox_texts(), ["Hallo Anna"]);
    // One message stays waiting in Anna's mailbox.
    bernd.ok(&["send", &a, "Noch offen"]);

    anna.ok(&["link"]);

    let export: serde_json::Value =
        serde_json::from_str(anna.ok(&["account", "export", "--json"]).trim()).unwrap();
    assert_eq!(export["account"], a.as_str(), "{export}");
    let devices = export["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{export}");
    assert_eq!(devices[0]["device"], anna.device_id().as_str());
    // `export` catches up first, so the waiting message was fetched.
    assert_eq!(devices[0]["queued_envelopes"], 0, "{export}");
    assert!(devices[0]["key_packages"].as_u64().unwrap() > 0, "{export}");
    assert_eq!(export["groups"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["pending_link_codes"], 1);
    let text = anna.ok(&["account", "export"]);
    assert!(text.contains("end-to-end encrypted") && text.contains(&a), "{text}");

    // Keys of Anna's device, kept to try logging in afterwards.
    let ghost = Device::new(&town.server);
    copy_home(&anna, &ghost);

    let refused = anna.fails(&["account", "delete"]);
    assert!(refused.contains("--yes"), "{refused}");
    assert!(anna.ok(&["account", "export", "--json"]).contains(&a), "still there");
    let out = anna.ok(&["account", "delete", "--yes"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(!anna.home.join("identity.key").exists(), "local keys are gone");

    assert_no_trace(&town.server.data_dir, &a, "server running");
    // No exception for the envelope log: a 1:1 conversation's id is random
    // (docs/PRIVACY.md), so even the clear MLS headers of the message still
    // waiting for Bernd cannot name a derived id.
    let derived = derived_needles(&a, &anna_devices, &[&b]);
    assert_none_on_disk(&town.server.data_dir, &derived, "server running");
    let err = anna.fails(&["account", "export"]);
    assert!(!err.is_empty());
    let err = ghost.fails(&["account", "export"]);
    assert!(err.contains("auth"), "the deleted device cannot log in: {err}");

    town.server.restart();
    assert_no_trace(&town.server.data_dir, &a, "after restart");
    assert_none_on_disk(&town.server.data_dir, &derived, "after restart");
    let err = ghost.fails(&["inbox"]);
    assert!(err.contains("auth"), "{err}");

    // Bernd keeps his history with Anna and talks to others as before.
    let history = json_lines(&bernd.ok(&["history", &a, "--json"]));
    assert!(history.iter().any(|h| h["text"] == "Hallo Anna"), "{history:?}");
    assert!(history.iter().any(|h| h["text"] == "Hallo Bernd"), "{history:?}");
    bernd.ok(&["send", &c, "Hallo Carla"]);
    assert_eq!(carla.inbox_texts(), ["Hallo Carla"]);
    carla.ok(&["send", &b, "Hallo zurück"]);
    assert_eq!(bernd.inbox_texts(), ["Hallo zurück"]);

    // Bernd has fetched everything Anna's device sent him (its last
    // delivery receipts included), so every envelope of their conversation
    // is acknowledged and its segments go: then not even the ciphertext
    // names the conversation.
    let gone = crate::harness::eventually(std::time::Duration::from_secs(30), || {
        found_on_disk(&town.server.data_dir, &derived).is_empty().then_some(())
    });
    assert!(
        gone.is_ok(),
        "the conversation's ciphertext stays: {:#?}",
        found_on_disk(&town.server.data_dir, &derived)
    );
}

#[test]
fn report_upload_is_exported_and_deleted() {
    let town = Town::new(crate::harness::Server::start());
    let anna = town.citizen("Anna");
    let a = anna.whoami()["account"].as_str().unwrap().to_string();
    let anna_devices = vec![anna.device_id()];
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("laterne.jpg");
    std::fs::write(&photo, photos::jpeg_with_metadata().0).unwrap();
    let thread = last_line(&anna.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--photo",
        &photo.to_string_lossy(),
        "Laterne defekt",
    ]));
    let export: serde_json::Value =
        serde_json::from_str(anna.ok(&["account", "export", "--json"]).trim()).unwrap();
    assert!(export["groups"].as_array().unwrap().iter().any(|g| g == thread.as_str()));
    let blobs = export["blobs"].as_array().unwrap();
    assert_eq!(blobs.len(), 1, "{export}");
    assert_eq!(blobs[0]["complete"], true);
    assert!(export["blob_usage_bytes"].as_u64().unwrap() > 0);
    let out = anna.ok(&["account", "delete", "--yes"]);
    assert!(out.contains("1 upload"), "{out}");
    assert_no_trace(&town.server.data_dir, &a, "after a report");
    let derived = derived_needles(&a, &anna_devices, &[]);
    assert_none_on_disk(&town.server.data_dir, &derived, "after a report");
    // The clerk's thread goes on without the citizen.
    assert!(!town.clerk.ok(&["threads", "--json"]).is_empty());
}

#[test]
fn admin_accounts_must_hand_over_before_deleting() {
    let town = Town::new(crate::harness::Server::start());
    for device in [&town.admin, &town.mayor] {
        let err = device.fails(&["account", "delete", "--yes"]);
        assert!(err.contains("hand the role over"), "{err}");
        assert!(device.home.join("identity.key").exists(), "nothing deleted locally");
    }
    town.admin_ok(&["admin", "stats"]);
    town.mayor.ok(&["org", "staff", "--json"]);
}
