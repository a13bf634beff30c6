//! The rest of the staff's daily work: moving a report to another
//! department, a live chat during the consultation hour, and moving the org
//! key to another device under a passphrase.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{Device, Server, fingerprint_in, json_lines, last_line};
use crate::municipal::{HANDLE, Town};

#[test]
fn assigning_a_report_moves_it_to_the_new_department_with_its_history() {
    let town = Town::new(Server::start());
    town.mayor.ok(&["org", "category", "add", "Grünfläche", "--department", "gruen"]);
    let gardener = town.enrol("Gerda Gärtnerin", "gruen");
    let citizen = town.citizen("Carla");
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Umgestürzter Baum auf dem Radweg",
    ]));
    assert_eq!(json_lines(&town.clerk.ok(&["threads", "--json"])).len(), 1);

    town.clerk.ok(&["assign", &thread, "--department", "gruen"]);
    let theirs = json_lines(&gardener.ok(&["threads", "--json"]));
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["department"], "gruen");
    let shown = gardener.ok(&["show", &thread, "--json"]);
    assert!(
        shown.contains("Umgestürzter Baum auf dem Radweg"),
        "the opening message came along: {shown}"
    );

    gardener.ok(&["reply", &thread, "Wir sägen ihn morgen früh weg.", "--status", "in-progress"]);
    citizen.ok(&["reply", &thread, "Danke!"]);
    let citizen_view = citizen.ok(&["show", &thread, "--json"]);
    assert!(citizen_view.contains("Wir sägen ihn morgen früh weg."));
    // The Bauhof no longer receives the thread's new messages.
    let old = town.clerk.run(&["show", &thread, "--json"]);
    let old = String::from_utf8_lossy(&old.stdout);
    assert!(!old.contains("Danke!"), "the old department still receives messages: {old}");
}

#[test]
fn clerk_and_citizen_chat_live_during_the_consultation_hour() {
    let town = Town::new(Server::start());
    let office = town.enrol("Büro", "buergermeister");
    town.mayor.ok(&["org", "hours", "set", "Mon 17:00-18:00", "--department", "buergermeister"]);
    town.mayor.ok(&["org", "hours", "live", "on"]);
    let citizen = town.citizen("Bernd Bürger");
    let thread = last_line(&citizen.ok(&["consult", HANDLE, "Ist der Bürgermeister heute da?"]));
    office.ok(&["threads", "--consult", "--json"]);

    // The office keeps `chat` open; lines arriving on its stdout are collected.
    let mut chat = office
        .command(&["chat", &thread])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = chat.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the chat a moment to connect, then the citizen writes.
    std::thread::sleep(Duration::from_millis(500));
    citizen.ok(&["reply", &thread, "Ich hätte eine Frage zur Kita."]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains("Ich hätte eine Frage zur Kita.");
            seen.push(line);
            if hit {
                break;
            }
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("Ich hätte eine Frage zur Kita.")),
        "live line: {seen:?}"
    );

    // The office answers from the chat; the citizen reads it.
    let mut stdin = chat.stdin.take().unwrap();
    writeln!(stdin, "Gerne, worum geht es?").unwrap();
    writeln!(stdin, "/quit").unwrap();
    drop(stdin);
    let status = chat.wait().unwrap();
    assert!(status.success());
    let shown = citizen.ok(&["show", &thread, "--json"]);
    assert!(shown.contains("Gerne, worum geht es?"), "{shown}");
}

#[test]
fn the_org_key_moves_to_another_device_only_with_the_passphrase() {
    let town = Town::new(Server::start());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org-key.enc");
    let file = file.to_string_lossy();
    let secret = town.mayor.home.join("org");
    assert!(secret.exists());

    let export = town
        .mayor
        .run_env(&["org", "export-key", &file], &[("STADTBOTE_PASSPHRASE", "Rathaus-2026-geheim")]);
    assert!(export.status.success(), "{export:?}");
    let blob = std::fs::read(dir.path().join("org-key.enc")).unwrap();
    // The exported file does not contain the key in the clear.
    for key_file in crate::harness::files_below(&secret) {
        let key = std::fs::read(&key_file).unwrap();
        if key.len() >= 32 {
            assert!(
                !crate::harness::contains_bytes(&blob, &key[key.len() - 32..]),
                "key in the clear"
            );
        }
    }

    let deputy = Device::new(&town.server);
    deputy.init("Stellvertretung");
    let wrong =
        deputy.run_env(&["org", "import-key", &file], &[("STADTBOTE_PASSPHRASE", "falsch")]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).to_lowercase().contains("passphrase"));
    let right = deputy
        .run_env(&["org", "import-key", &file], &[("STADTBOTE_PASSPHRASE", "Rathaus-2026-geheim")]);
    assert!(right.status.success(), "{right:?}");
    let out = dir.path().to_string_lossy().into_owned();
    let fp_mayor =
        fingerprint_in(&town.mayor.ok(&["org", "fingerprint", "--out", &out])).expect("fp");
    let fp_deputy = fingerprint_in(&deputy.ok(&["org", "fingerprint", "--out", &out])).expect("fp");
    assert_eq!(fp_deputy, fp_mayor, "the same org key on both devices");

    // The deputy can act for the town with it: a new category is published
    // (a report in it is refused only because nobody staffs it yet).
    deputy.ok(&["org", "category", "add", "Müll", "--department", "entsorgung"]);
    let citizen = town.citizen("Carla");
    let err =
        citizen.fails(&["report", crate::municipal::HANDLE, "--category", "Müll", "Tonne voll"]);
    assert!(err.contains("entsorgung"), "the category routes to its department: {err}");
}
