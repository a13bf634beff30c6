//! Moving data between servers through the real binaries (issue 19, items
//! 5 and 6): `stadtbote-server migrate` of a stopped server into a new data
//! directory, whose clients then fetch their queued messages there; and one
//! town leaving a district server with two towns (`town export`, `town
//! import`, `town remove`): its staff and a citizen continue their report
//! thread on the town's own server, the other town is untouched, and the
//! district's data directory keeps no trace of the town's handle or name.

use std::path::Path;

use crate::harness::{Device, Server, contains_bytes, files_below, json_lines, last_line};
use crate::municipal::{HANDLE, TOWN, Town};

/// Runs `stadtbote-server ARGS`; returns (success, stdout, stderr).
fn tool(args: &[&str]) -> (bool, String, String) {
    let out = Server::tool(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The JSON summary line of a `--json` run, which must have succeeded.
fn summary(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = tool(args);
    assert!(ok, "{args:?} failed: {out}{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn show(device: &Device, url: &str, thread: &str) -> serde_json::Value {
    let out = device.run_via(url, &["show", thread, "--json"]);
    assert!(out.status.success(), "show: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("show --json")
}

fn texts(shown: &serde_json::Value) -> Vec<String> {
    shown["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn ok_via(device: &Device, url: &str, args: &[&str]) -> String {
    let out = device.run_via(url, args);
    assert!(
        out.status.success(),
        "{args:?} via {url}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn migrate_moves_a_stopped_server_and_its_clients_fetch_their_queued_messages() {
    let mut server = Server::start();
    let alice = Device::new(&server);
    alice.init("Alice");
    let bob = Device::new(&server);
    bob.init("Bob");
    let bob_id = bob.whoami()["account"].as_str().expect("account").to_owned();
    alice.ok(&["send", &bob_id, "erste Nachricht"]);
    assert_eq!(bob.inbox_texts(), ["erste Nachricht"]);
    // Queued, not yet fetched, when the server stops.
    alice.ok(&["send", &bob_id, "wartet in der Warteschlange"]);

    let work = tempfile::tempdir().expect("tempdir");
    let to = work.path().join("migrated");

    // A running server's data directory is refused, and left alone.
    let (ok, _, err) =
        tool(&["migrate", "--from", path(&server.data_dir), "--to", path(&to), "--json"]);
    assert!(!ok, "migrating a running server's directory must be refused");
    assert!(err.contains("is locked") && err.contains("stop the server first"), "{err}");
    assert!(!to.exists(), "nothing written");

    server.terminate();
    let done = summary(&["migrate", "--from", path(&server.data_dir), "--to", path(&to), "--json"]);
    assert_eq!(done["verified"], true, "{done}");
    assert_eq!(done["collections"]["accounts"], 2, "{done}");
    assert_eq!(done["collections"]["devices"], 2, "{done}");
    assert!(done["collections"]["messages"].as_u64().is_some_and(|n| n >= 1), "{done}");
    assert!(done["files"].as_u64().is_some_and(|n| n >= 3), "pepper and keys: {done}");
    // A second run into the same (now used) target is refused.
    let (ok, _, err) = tool(&["migrate", "--from", path(&server.data_dir), "--to", path(&to)]);
    assert!(!ok && err.contains("not empty"), "{err}");
    // A postgres:// target needs --state-dir and a reachable database:
    // refused clearly, without echoing the password.
    let pg = "postgres://stadtbote:geheim@127.0.0.1:1/stadtbote";
    let (ok, _, err) = tool(&["migrate", "--from", path(&server.data_dir), "--to", pg]);
    assert!(!ok && err.contains("--state-dir") && !err.contains("geheim"), "{err}");
    let state = work.path().join("state");
    let (ok, _, err) = tool(&[
        "migrate",
        "--from",
        path(&server.data_dir),
        "--to",
        pg,
        "--state-dir",
        path(&state),
    ]);
    // (Nothing listens there: refused with the connection failure.)
    assert!(!ok && err.contains("database") && !err.contains("geheim"), "{err}");

    // The migrated directory serves the same clients.
    server.restart_on(to.clone());
    assert_eq!(bob.inbox_texts(), ["wartet in der Warteschlange"]);
    bob.ok(&["send", alice.whoami()["account"].as_str().unwrap(), "angekommen"]);
    assert!(alice.inbox_texts().contains(&"angekommen".to_owned()));
}

const OTHER: &str = "beispielstadt";
const OTHER_NAME: &str = "Gemeinde Beispielstadt";

#[test]
fn one_town_leaves_a_district_server_and_continues_on_its_own() {
    let mut town = Town::new(Server::start());
    // The second town on the same server, with its own org admin and clerk.
    let org_code =
        last_line(&town.admin_ok(&["admin", "org", "create", OTHER_NAME, "--handle", OTHER]));
    let mayor2 = town.citizen("Bürgermeister Zwei");
    mayor2.ok(&["org", "claim", &org_code]);
    mayor2.ok(&["org", "category", "add", "Müll", "--department", "bauhof"]);
    let clerk2 = town.citizen("Zora Zweitkraft");
    let invite = last_line(&mayor2.ok(&[
        "org",
        "invite-staff",
        "--department",
        "bauhof",
        "--role",
        "clerk",
    ]));
    clerk2.ok(&["enroll", &invite]);
    mayor2.ok(&["org", "approve", &clerk2.device_id()]);

    // One citizen uses both towns.
    let citizen = town.citizen("Carla Citizen");
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Schlagloch in der Hauptstraße",
    ]));
    let other_thread =
        last_line(&citizen.ok(&["report", OTHER, "--category", "Müll", "Tonne nicht geleert"]));
    let inbox = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(json_lines(&clerk2.ok(&["threads", "--json"])).len(), 1);
    // A reply that is still queued for the citizen when the town moves.
    town.clerk.ok(&["reply", &thread, "Wir kümmern uns.", "--status", "in-progress"]);

    let old_url = town.server.url();
    town.server.terminate();
    let district = town.server.data_dir.clone();
    let work = tempfile::tempdir().expect("tempdir");
    let export = work.path().join("export");
    let own = work.path().join("musterhausen-data");

    let exported = summary(&[
        "town",
        "export",
        "--data-dir",
        path(&district),
        "--org",
        HANDLE,
        "--to",
        path(&export),
        "--json",
    ]);
    assert_eq!(exported["verified"], true, "{exported}");
    assert_eq!(exported["collections"]["orgs"], 1, "{exported}");
    assert_eq!(exported["collections"]["handles"], 1, "{exported}");
    assert!(exported["groups"].as_u64().is_some_and(|n| n >= 1), "{exported}");
    assert!(exported["collections"]["messages"].as_u64().is_some_and(|n| n >= 1), "{exported}");
    // The other town is not in the export; the server admin is not either.
    for file in files_below(&export) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(!contains_bytes(&bytes, OTHER.as_bytes()), "{} names {OTHER}", file.display());
    }
    assert_eq!(exported["collections"].get("admins").and_then(|n| n.as_u64()).unwrap_or(0), 0);

    // Removal needs an export that holds the town as it is now.
    let (ok, _, err) = tool(&[
        "town",
        "remove",
        "--data-dir",
        path(&district),
        "--org",
        OTHER,
        "--export",
        path(&export),
    ]);
    assert!(!ok && err.contains("does not hold the org"), "{err}");

    // The same export as an encrypted logical backup file: the town's
    // server is made from this one.
    let key = work.path().join("transfer.key");
    let (ok, recipient, err) = tool(&["backup-key", "generate", "--out", path(&key)]);
    assert!(ok, "{err}");
    let file = work.path().join("musterhausen.sbk");
    let to_file = summary(&[
        "town",
        "export",
        "--data-dir",
        path(&district),
        "--org",
        HANDLE,
        "--to",
        path(&file),
        "--backup",
        "--recipient",
        recipient.trim(),
        "--json",
    ]);
    assert_eq!(to_file["collections"], exported["collections"], "file = directory");
    let bytes = std::fs::read(&file).expect("export file");
    assert!(bytes.starts_with(b"age-encryption.org/v1"), "encrypted");
    let (ok, _, err) = tool(&["town", "import", "--from", path(&file), "--data-dir", path(&own)]);
    assert!(!ok && err.contains("encrypted"), "no key, no import: {err}");
    let imported = summary(&[
        "town",
        "import",
        "--from",
        path(&file),
        "--data-dir",
        path(&own),
        "--identity",
        path(&key),
        "--json",
    ]);
    assert_eq!(imported["org"], HANDLE);
    assert_eq!(imported["collections"], exported["collections"], "import = export");
    // And from the directory export.
    let copy = work.path().join("copy");
    let from_dir =
        summary(&["town", "import", "--from", path(&export), "--data-dir", path(&copy), "--json"]);
    assert_eq!(from_dir["collections"], exported["collections"], "import = export");
    let (ok, _, err) =
        tool(&["town", "import", "--from", path(&export), "--data-dir", path(&district)]);
    assert!(!ok && err.contains("already holds a store"), "{err}");

    let removed = summary(&[
        "town",
        "remove",
        "--data-dir",
        path(&district),
        "--org",
        HANDLE,
        "--export",
        path(&file),
        "--identity",
        path(&key),
        "--json",
    ]);
    assert_eq!(removed["collections"]["orgs"], 1, "{removed}");
    assert!(removed["groups"].as_u64().is_some_and(|n| n >= 1), "{removed}");
    // No trace of the town's handle or name in the district's data dir:
    // not in any file outside the database, and in the database (rebuilt
    // into new files, so it holds only its current records) in no record
    // but the district's audit log, a hash chain that keeps the entries
    // naming the town (e.g. `org-admin:musterhausen`) until retention.
    for file in files_below(&district) {
        if file.starts_with(district.join("db")) {
            continue;
        }
        let bytes = std::fs::read(&file).expect("read");
        assert!(!contains_bytes(&bytes, HANDLE.as_bytes()), "{} names {HANDLE}", file.display());
        assert!(!contains_bytes(&bytes, TOWN.as_bytes()), "{} names {TOWN}", file.display());
    }
    {
        let db = sled::open(district.join("db")).expect("open the district's database");
        let mut audit_naming = 0;
        for name in db.tree_names() {
            let tree = db.open_tree(&name).expect("tree");
            for item in tree.iter() {
                let (key, value) = item.expect("record");
                let names = |b: &[u8]| {
                    contains_bytes(b, HANDLE.as_bytes()) || contains_bytes(b, TOWN.as_bytes())
                };
                if &*name == b"audit" {
                    audit_naming += usize::from(names(&value));
                    continue;
                }
                assert!(
                    !names(&key) && !names(&value),
                    "collection {} still names the town",
                    String::from_utf8_lossy(&name)
                );
            }
        }
        assert!(audit_naming > 0, "the district's audit log is kept as it was");
        drop(db);
        // sled's flusher lets go of the file lock a moment after the drop.
        crate::harness::eventually(std::time::Duration::from_secs(10), || {
            let file = std::fs::File::open(district.join("db/db")).ok()?;
            file.try_lock().ok()
        })
        .expect("the database lock is released");
    }

    // The town's own server, at a new address.
    let mut own_server = Server::start();
    own_server.restart_on(own.clone());
    let new_url = own_server.url();
    // The district server runs on without the town.
    town.server.restart();
    assert_eq!(town.server.url(), old_url);

    // The citizen fetches the queued reply from the town's new server and
    // the thread goes on there.
    let seen = show(&citizen, &new_url, &thread);
    assert!(texts(&seen).contains(&"Wir kümmern uns.".to_owned()), "{seen}");
    ok_via(&citizen, &new_url, &["reply", &thread, "Danke, es ist sehr tief."]);
    let clerk_sees = show(&town.clerk, &new_url, &thread);
    assert!(texts(&clerk_sees).contains(&"Danke, es ist sehr tief.".to_owned()), "{clerk_sees}");
    ok_via(
        &town.clerk,
        &new_url,
        &[
            "reply",
            &thread,
            "Ist geflickt.",
            "--status",
            "resolved",
            "--reason",
            "Asphalt ausgebessert",
        ],
    );
    let seen = show(&citizen, &new_url, &thread);
    assert_eq!(seen["status"], "resolved", "{seen}");

    // The other town on the district server is untouched.
    clerk2.ok(&["reply", &other_thread, "Wird morgen geleert."]);
    let seen = show(&citizen, &old_url, &other_thread);
    assert!(texts(&seen).contains(&"Wird morgen geleert.".to_owned()), "{seen}");
    // And the moved town is gone from it.
    let err = citizen.fails(&["report", HANDLE, "--category", "Straßenschaden", "noch eins"]);
    assert!(!err.is_empty());
}
