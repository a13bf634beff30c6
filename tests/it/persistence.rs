//! The device's state in the core's Storage (issue 15, items 2 and 4): a
//! home written in the format from before (`state.cbor` + `mls.cbor`) is
//! imported by the next command and keeps its conversations, history,
//! threads and MLS groups; the old files are gone afterwards; deleting the
//! account leaves no message text in the home.

use std::path::Path;

use serde_bytes::ByteBuf;
use stadtbote_cli::device_store::{DeviceStore, Loaded, STORE_DIR};
use stadtbote_cli::home::{Home, MLS_FILE, STATE_FILE};
use stadtbote_cli::state::{MLS_FILE_VERSION, MlsFile};

use crate::harness::{Device, Server, files_below, json_lines, last_line};
use crate::municipal::{HANDLE, Town};

/// Rewrites a home in the format the CLI wrote before its state moved into
/// `store/`: `state.cbor` (the whole `State`) and `mls.cbor` (the MLS key
/// store's export and the processed envelope ids), through the library's
/// own types for those files, and removes the store.
fn downgrade_to_old_format(home: &Path) {
    let opened = Home::open(home).unwrap();
    let secret = opened.read_identity().unwrap();
    let Loaded { store, state, seen, mls } = DeviceStore::open(&opened, &secret).unwrap();
    drop(store);
    opened.write_cbor(STATE_FILE, &state).unwrap();
    let file = MlsFile {
        v: MLS_FILE_VERSION,
        mls: ByteBuf::from(mls.export_state().unwrap()),
        seen_envelopes: seen,
    };
    opened.write_cbor(MLS_FILE, &file).unwrap();
    drop(opened);
    std::fs::remove_dir_all(home.join(STORE_DIR)).unwrap();
}

fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().map(|l| l["text"].as_str().unwrap_or_default().to_string()).collect()
}

/// Files below `dir` that contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    files_below(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn a_home_from_before_the_store_is_imported_and_keeps_working() {
    let town = Town::new(Server::start());
    let anna = town.citizen("Anna Amsel");
    let bernd = town.citizen("Bernd Buche");
    let account = |d: &Device| d.whoami()["account"].as_str().unwrap().to_string();
    let (a, b) = (account(&anna), account(&bernd));
    anna.ok(&["send", &b, "Vor dem Umzug: Hallo Bernd"]);
    assert_eq!(bernd.inbox_texts(), ["Vor dem Umzug: Hallo Bernd"]);
    bernd.ok(&["send", &a, "Vor dem Umzug: Hallo Anna"]);
    assert_eq!(anna.inbox_texts(), ["Vor dem Umzug: Hallo Anna"]);
    let report = "Vor dem Umzug: Schlagloch in der Lindenstraße";
    let thread = last_line(&anna.ok(&["report", HANDLE, "--category", "Straßenschaden", report]));
    let history_before = texts(&json_lines(&anna.ok(&["history", &b, "--json"])));
    assert_eq!(history_before.len(), 2, "{history_before:?}");

    downgrade_to_old_format(&anna.home);
    assert!(anna.home.join(STATE_FILE).exists() && !anna.home.join(STORE_DIR).exists());

    // The first command imports the old files and removes them.
    let history = texts(&json_lines(&anna.ok(&["history", &b, "--json"])));
    assert_eq!(history, history_before);
    assert!(anna.home.join(STORE_DIR).join("journal").exists());
    assert!(!anna.home.join(STATE_FILE).exists(), "state.cbor removed after the import");
    assert!(!anna.home.join(MLS_FILE).exists(), "mls.cbor removed after the import");
    let shown: serde_json::Value =
        serde_json::from_str(anna.ok(&["show", &thread, "--json"]).trim()).unwrap();
    assert_eq!(shown["messages"][0]["text"], report, "{shown}");
    // Nothing shown before is shown again.
    assert!(anna.inbox_texts().is_empty());

    // The MLS groups came along: both directions work on.
    anna.ok(&["send", &b, "Nach dem Umzug: Hallo Bernd"]);
    assert_eq!(bernd.inbox_texts(), ["Nach dem Umzug: Hallo Bernd"]);
    bernd.ok(&["send", &a, "Nach dem Umzug: Hallo Anna"]);
    assert_eq!(anna.inbox_texts(), ["Nach dem Umzug: Hallo Anna"]);
    let history = texts(&json_lines(&anna.ok(&["history", &b, "--json"])));
    assert_eq!(history.len(), 4, "{history:?}");
    let reply = "Nach dem Umzug: noch eine Frage";
    anna.ok(&["reply", &thread, reply]);
    let shown: serde_json::Value =
        serde_json::from_str(anna.ok(&["show", &thread, "--json"]).trim()).unwrap();
    let thread_texts: Vec<_> =
        shown["messages"].as_array().unwrap().iter().map(|m| m["text"].clone()).collect();
    assert!(thread_texts.contains(&serde_json::json!(reply)), "{shown}");

    // Deleting the account leaves no message text anywhere in the home.
    assert!(!files_containing(&anna.home, "Umzug").is_empty(), "the check can fail");
    anna.ok(&["account", "delete", "--yes"]);
    let left = files_containing(&anna.home, "Umzug");
    assert!(left.is_empty(), "message text left in the home: {left:?}");
    assert!(!anna.home.join(STORE_DIR).exists());
}

#[test]
fn a_second_command_on_one_home_still_waits_for_the_first() {
    // The home lock stays in front of the store's lease: a second command
    // waits for the first instead of failing (here: four `send`s started at
    // once), and none loses another's writes.
    let server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let text = format!("parallel {i}");
            anna.command(&["send", &b, &text]).stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    let mut got = bernd.inbox_texts();
    got.sort();
    assert_eq!(got, ["parallel 0", "parallel 1", "parallel 2", "parallel 3"]);
    let history = json_lines(&anna.ok(&["history", &b, "--json"]));
    assert_eq!(history.len(), 4, "{history:?}");
}
