//! A citizen's rights over their account: `account export` lists what the
//! server holds, `account delete --yes` removes it so that nothing of the
//! account stays readable in the server's files, while other citizens'
//! conversations carry on.

use stadtbote_protocol::AccountId;
use stadtbote_protocol::ids::grouped;

use crate::harness::{Device, contains_bytes, files_below, json_lines, last_line};
use crate::municipal::{HANDLE, Town};
use crate::photos;

/// Panics if any file below the server's data dir holds the account id, raw
/// or in any text form the CLI prints or accepts.
fn assert_no_trace(data_dir: &std::path::Path, account: &str, when: &str) {
    let raw = AccountId::parse(account).expect("account id").0;
    let upper = account.to_ascii_uppercase();
    let lower = account.to_ascii_lowercase();
    let needles: Vec<Vec<u8>> = vec![
        raw.to_vec(),
        upper.clone().into_bytes(),
        lower.clone().into_bytes(),
        grouped(&upper, 4, " ").into_bytes(),
        grouped(&upper, 4, "-").into_bytes(),
        grouped(&lower, 4, " ").into_bytes(),
        grouped(&lower, 4, "-").into_bytes(),
    ];
    let files = files_below(data_dir);
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).expect("read data file");
        for needle in &needles {
            assert!(
                !contains_bytes(&bytes, needle),
                "{when}: the deleted account's id is in {}",
                file.display()
            );
        }
    }
}

/// Copies a device's home so that its keys can be tried after deletion.
fn copy_home(from: &Device, to: &Device) {
    std::fs::create_dir_all(&to.home).unwrap();
    for name in ["identity.key", "state.cbor", "mls.cbor"] {
        std::fs::copy(from.home.join(name), to.home.join(name)).unwrap();
    }
}

#[test]
fn export_then_delete_leaves_nothing_readable_and_others_carry_on() {
    // A plain server: the upload part of deletion is covered by the store's
    // unit tests and by `report_upload_is_exported_and_deleted` below.
    let mut server = crate::harness::Server::start();
    let (anna, bernd, carla) = (Device::new(&server), Device::new(&server), Device::new(&server));
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    let c = carla.init("Carla");

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
    let ghost = Device::new(&server);
    copy_home(&anna, &ghost);

    let refused = anna.fails(&["account", "delete"]);
    assert!(refused.contains("--yes"), "{refused}");
    assert!(anna.ok(&["account", "export", "--json"]).contains(&a), "still there");
    let out = anna.ok(&["account", "delete", "--yes"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(!anna.home.join("identity.key").exists(), "local keys are gone");

    assert_no_trace(&server.data_dir, &a, "server running");
    let err = anna.fails(&["account", "export"]);
    assert!(!err.is_empty());
    let err = ghost.fails(&["account", "export"]);
    assert!(err.contains("auth"), "the deleted device cannot log in: {err}");

    server.restart();
    assert_no_trace(&server.data_dir, &a, "after restart");
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
}

#[test]
fn report_upload_is_exported_and_deleted() {
    let town = Town::new(crate::harness::Server::start());
    let anna = town.citizen("Anna");
    let a = anna.whoami()["account"].as_str().unwrap().to_string();
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
