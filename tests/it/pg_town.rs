//! One town leaves a district that runs on PostgreSQL (issue 19 item 6 on
//! the backend of item 2), through the real binaries: `town export
//! --database`, `town remove --database` and `town import` into the town's
//! own (sled) server. Its citizen fetches the reply that was queued when the
//! town left, the other town on the district's database is untouched, and
//! no record of the database but the district's audit log names the town
//! afterwards. Without PostgreSQL the test prints `SKIPPED:` (and fails
//! under `CI=true`).

use std::path::Path;

use crate::harness::{Device, Server, json_lines, last_line};
use crate::municipal::{HANDLE, TOWN, Town};
use crate::postgres::pg_test::TestPg;

const OTHER: &str = "beispielhain";
const OTHER_NAME: &str = "Gemeinde Beispielhain";

/// The `postgres://` URL of the database behind `keyvalue` (`TestPg`'s
/// `host=… port=… user=… dbname=…` form), its socket directory
/// percent-encoded as the host.
fn url_of(keyvalue: &str) -> String {
    let field = |name: &str| {
        keyvalue
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{name} in {keyvalue}"))
            .to_owned()
    };
    let host = field("host").replace('%', "%25").replace('/', "%2F");
    format!("postgres://postgres@{host}:{}/{}", field("port"), field("dbname"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `stadtbote-server ARGS`; returns (success, stdout, stderr).
fn tool(args: &[&str]) -> (bool, String, String) {
    let out = Server::tool(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON summary line of a `--json` run, which must have succeeded.
fn summary(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = tool(args);
    assert!(ok, "{args:?} failed: {out}{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn texts_via(device: &Device, url: &str, thread: &str) -> Vec<String> {
    let out = device.run_via(url, &["show", thread, "--json"]);
    assert!(out.status.success(), "show: {}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show --json");
    shown["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn one_town_leaves_a_postgres_district_and_continues_on_its_own_server() {
    let Some(pg) = TestPg::start() else { return };
    let keyvalue = pg.create_database();
    let db = keyvalue.rsplit("dbname=").next().expect("dbname").to_owned();
    let url = url_of(&keyvalue);
    let mut town = Town::new(Server::start_with(&[
        ("STADTBOTE_STORE", "postgres"),
        ("STADTBOTE_DATABASE_URL", &keyvalue),
        ("STADTBOTE_PG_STATEMENT_TIMEOUT_MS", "10000"),
        ("STADTBOTE_PG_CONNECT_TIMEOUT_MS", "1000"),
    ]));
    // The second town on the same database.
    let org_code =
        last_line(&town.admin_ok(&["admin", "org", "create", OTHER_NAME, "--handle", OTHER]));
    let mayor2 = town.citizen("Bürgermeisterin Hain");
    mayor2.ok(&["org", "claim", &org_code]);
    mayor2.ok(&["org", "category", "add", "Müll", "--department", "bauhof"]);
    let clerk2 = town.citizen("Hanna Hainkraft");
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

    // A channel of the leaving town with a post.
    let press = town.enrol_as("Pressestelle Pgtown", "presse", "publisher");
    let qr = tempfile::tempdir().expect("tempdir");
    let created =
        press.ok(&["channel", "create", "Amtsblatt Pgtown", "--json", "--out", path(qr.path())]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&created)).expect("json");
    let channel = created["channel"].as_str().expect("channel").to_owned();
    press.ok(&["channel", "post", &channel, "Bekanntmachung vor dem Umzug"]);

    // One citizen uses both towns; a reply is queued for them.
    let citizen = town.citizen("Carla Pgtownbuergerin");
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Schlagloch in der Pgtownstraße",
    ]));
    let other_thread =
        last_line(&citizen.ok(&["report", OTHER, "--category", "Müll", "Tonne nicht geleert"]));
    assert_eq!(json_lines(&town.clerk.ok(&["threads", "--json"])).len(), 1);
    assert_eq!(json_lines(&clerk2.ok(&["threads", "--json"])).len(), 1);
    town.clerk.ok(&["reply", &thread, "Wir kümmern uns.", "--status", "in-progress"]);

    let state = town.server.data_dir.clone();
    let work = tempfile::tempdir().expect("tempdir");
    let export = work.path().join("export");

    // While a node is connected the database is not touched.
    let (ok, _, err) = tool(&[
        "town",
        "export",
        "--data-dir",
        path(&state),
        "--database",
        &url,
        "--org",
        HANDLE,
        "--to",
        path(&export),
    ]);
    assert!(!ok && err.contains("connected to the database"), "{err}");
    assert!(!export.exists());

    let old_url = town.server.url();
    town.server.terminate();
    let exported = summary(&[
        "town",
        "export",
        "--data-dir",
        path(&state),
        "--database",
        &url,
        "--org",
        HANDLE,
        "--to",
        path(&export),
        "--json",
    ]);
    assert_eq!(exported["verified"], true, "{exported}");
    for (collection, at_least) in [
        ("orgs", 1),
        ("handles", 1),
        ("staff", 1),
        ("channels", 1),
        ("channel_posts", 1),
        ("messages", 1),
    ] {
        let n = exported["collections"][collection].as_u64().unwrap_or(0);
        assert!(n >= at_least, "{collection}: {n} in {exported}");
    }
    assert!(exported["groups"].as_u64().is_some_and(|n| n >= 1), "{exported}");
    for file in crate::harness::files_below(&export) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !crate::harness::contains_bytes(&bytes, OTHER.as_bytes()),
            "{} names {OTHER}",
            file.display()
        );
    }

    // Removal from the database, checked against the export.
    let (ok, _, err) = tool(&[
        "town",
        "remove",
        "--data-dir",
        path(&state),
        "--database",
        &url,
        "--org",
        OTHER,
        "--export",
        path(&export),
    ]);
    assert!(!ok && err.contains("does not hold the org"), "{err}");
    let removed = summary(&[
        "town",
        "remove",
        "--data-dir",
        path(&state),
        "--database",
        &url,
        "--org",
        HANDLE,
        "--export",
        path(&export),
        "--json",
    ]);
    assert_eq!(removed["collections"]["orgs"], 1, "{removed}");
    assert!(removed["groups"].as_u64().is_some_and(|n| n >= 1), "{removed}");
    assert!(removed["collections"]["messages"].as_u64().is_some_and(|n| n >= 1), "{removed}");
    // Accounts stay with the district (a citizen may use both towns).
    assert!(removed["collections"].get("accounts").is_none(), "{removed}");
    // No record but the district's audit log names the town.
    let naming = pg.sql(
        &db,
        &format!(
            "SELECT count(*) FROM kv WHERE tree <> 'audit' AND \
             (position('\\x{h}'::bytea in key) > 0 OR position('\\x{h}'::bytea in value) > 0 \
              OR position('\\x{t}'::bytea in value) > 0)",
            h = hex(HANDLE),
            t = hex(TOWN),
        ),
    );
    assert_eq!(naming.trim(), "0", "records still name the town");
    // A second removal finds nothing to remove.
    let (ok, _, err) = tool(&[
        "town",
        "remove",
        "--data-dir",
        path(&state),
        "--database",
        &url,
        "--org",
        HANDLE,
        "--export",
        path(&export),
    ]);
    assert!(!ok && err.contains("no org with the handle"), "{err}");

    // The town's own server, on sled, from the export.
    let own = work.path().join("own");
    let imported =
        summary(&["town", "import", "--from", path(&export), "--data-dir", path(&own), "--json"]);
    assert_eq!(imported["collections"], exported["collections"], "import = export");
    let mut own_server = Server::start();
    own_server.restart_on(own);
    let new_url = own_server.url();
    // The citizen fetches the reply queued when the town left.
    assert!(texts_via(&citizen, &new_url, &thread).contains(&"Wir kümmern uns.".to_owned()));
    let out = citizen.run_via(&new_url, &["reply", &thread, "Danke!"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(texts_via(&town.clerk, &new_url, &thread).contains(&"Danke!".to_owned()));

    // The district runs on without the town; the other town is untouched.
    town.server.restart();
    assert_eq!(town.server.url(), old_url);
    clerk2.ok(&["reply", &other_thread, "Wird morgen geleert."]);
    assert!(
        texts_via(&citizen, &old_url, &other_thread).contains(&"Wird morgen geleert.".to_owned())
    );
    let err = citizen.fails(&["report", HANDLE, "--category", "Straßenschaden", "noch eins"]);
    assert!(!err.is_empty());
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
