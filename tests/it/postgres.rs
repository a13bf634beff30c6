//! The server on the PostgreSQL store (issue 19 items 2 and 4), with the
//! real binaries and a throwaway PostgreSQL cluster (`pg_test.rs`, shared
//! with the server's unit tests): messaging end to end; PostgreSQL stopped
//! mid-traffic (storage_unavailable, no ack, nothing acked lost, recovery
//! without a restart); and what PostgreSQL's data directory, WAL and log
//! hold afterwards. Without PostgreSQL the tests print `SKIPPED:` (and fail
//! under `CI=true`).

use std::time::Duration;

use crate::harness::{Device, Server, eventually, http_get, json_lines};

#[path = "../../server/src/store/pg_test.rs"]
pub(crate) mod pg_test;

use pg_test::{TestPg, contains_anywhere};

fn pg_server(pg: &TestPg) -> (Server, String) {
    let url = pg.create_database();
    let server = Server::start_with(&[
        ("STADTBOTE_STORE", "postgres"),
        ("STADTBOTE_DATABASE_URL", &url),
        ("STADTBOTE_PG_STATEMENT_TIMEOUT_MS", "3000"),
        ("STADTBOTE_PG_CONNECT_TIMEOUT_MS", "1000"),
    ]);
    let db = url.rsplit("dbname=").next().unwrap_or("postgres").to_string();
    (server, db)
}

#[test]
fn messaging_on_postgres_leaves_no_plaintext_and_deletion_leaves_no_ids() {
    let Some(pg) = TestPg::start() else { return };
    let (server, db) = pg_server(&pg);
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    let a = anna.init("Annegret Pgtestname");
    let b = bernd.init("Bernhard Pgtestname");
    anna.ok(&["send", &b, "Treffpunkt Marktplatz Pgtestort um acht"]);
    assert_eq!(bernd.inbox_texts(), ["Treffpunkt Marktplatz Pgtestort um acht"]);
    bernd.ok(&["send", &a, "Antwort aus dem Pgtestdorf"]);
    assert_eq!(anna.inbox_texts(), ["Antwort aus dem Pgtestdorf"]);
    // Queued, not yet fetched, when the files are scanned.
    anna.ok(&["send", &b, "Noch offen im Pgtestweiler"]);

    pg.sql(&db, "CHECKPOINT");
    let files = pg.database_bytes(&db);
    for plain in [
        "Treffpunkt Marktplatz Pgtestort",
        "Antwort aus dem Pgtestdorf",
        "Noch offen im Pgtestweiler",
        "Annegret Pgtestname",
        "Bernhard Pgtestname",
    ] {
        assert!(
            !contains_anywhere(&files, plain.as_bytes()),
            "plaintext {plain:?} in PostgreSQL's files"
        );
    }
    let anna_device = anna.device_id();
    let ids_of = |text: &str| {
        stadtbote_protocol::AccountId::parse(text).map(|id| id.as_bytes().to_vec()).ok()
    };
    let anna_account = ids_of(&a).expect("account id");
    let anna_device_bytes = stadtbote_protocol::DeviceId::parse(&anna_device)
        .map(|id| id.as_bytes().to_vec())
        .expect("device id");
    assert!(!contains_anywhere(&files, &anna_account), "raw account id in PostgreSQL's files");
    assert!(!contains_anywhere(&files, &anna_device_bytes), "raw device id in PostgreSQL's files");
    for text in [a.as_str(), b.as_str(), anna_device.as_str()] {
        assert!(!contains_anywhere(&files, text.as_bytes()), "an id in PostgreSQL's files or log");
    }

    anna.ok(&["account", "delete", "--yes"]);
    pg.sql(&db, "VACUUM");
    pg.sql(&db, "CHECKPOINT");
    let files = pg.database_bytes(&db);
    assert!(!contains_anywhere(&files, &anna_account), "deleted account id in PostgreSQL's files");
    assert!(
        !contains_anywhere(&files, &anna_device_bytes),
        "deleted device id in PostgreSQL's files"
    );
    let log = std::fs::read_to_string(pg.log_file()).unwrap_or_default();
    for text in [a.as_str(), b.as_str(), anna_device.as_str()] {
        assert!(!log.contains(text), "an id in PostgreSQL's log:\n{log}");
    }
    assert!(!log.contains("DETAIL:  Key"), "a key value in PostgreSQL's log:\n{log}");
    let server_log = server.log();
    assert!(
        !server_log.contains(&a) && !server_log.contains(&anna_device),
        "an id in the server log"
    );
}

#[test]
fn postgres_stopped_mid_traffic_means_no_ack_and_the_node_recovers_without_restart() {
    let Some(pg) = TestPg::start() else { return };
    let (server, _db) = pg_server(&pg);
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "vorher"]);

    pg.stop_server();
    let err = anna.fails(&["send", &b, "während"]);
    assert!(err.contains("storage unavailable") || err.contains("outbox"), "{err}");
    let outbox = json_lines(&anna.ok(&["outbox", "--json"]));
    assert!(
        outbox.iter().any(|m| m.to_string().contains("während")),
        "the unacknowledged message stays in the outbox: {outbox:?}"
    );
    let (status, body) = http_get(server.addr, "/healthz", None).expect("healthz answers");
    assert_eq!(
        (status, body.trim()),
        (503, "storage unavailable"),
        "not ready while the database is down"
    );

    pg.start_server();
    eventually(Duration::from_secs(20), || {
        matches!(http_get(server.addr, "/healthz", None), Ok((200, _))).then_some(())
    })
    .expect("ready again without a restart");
    eventually(Duration::from_secs(20), || {
        let flushed = anna.run(&["inbox"]).status.success();
        (flushed && json_lines(&anna.ok(&["outbox", "--json"])).is_empty()).then_some(())
    })
    .expect("the outbox drains once the database is back");
    anna.ok(&["send", &b, "nachher"]);
    assert_eq!(bernd.inbox_texts(), ["vorher", "während", "nachher"], "every acked message, once");
}

/// `admin-reset` with `store = "postgres"` (s10-pgseam): the same flags as
/// the server (`--store`, `--database-url`) select the database; refused
/// while a node is connected to it; then the lost admin is replaced and a
/// new device claims with the new code.
#[test]
fn admin_reset_works_on_postgres() {
    let Some(pg) = TestPg::start() else { return };
    let (server, db) = pg_server(&pg);
    let url = pg.url(&db);
    let mut town = crate::municipal::Town::new(server);
    town.admin_ok(&["admin", "stats"]);
    let code_file = town.server.data_dir.join("admin-claim.code");
    let data_dir = town.server.data_dir.to_str().expect("utf-8 data dir").to_owned();
    let reset = |extra: &[&str]| {
        let mut args =
            vec!["--store", "postgres", "--database-url", &url, "admin-reset", "--data-dir"];
        args.push(&data_dir);
        args.extend_from_slice(extra);
        Server::tool(&args)
    };

    // A node is connected: refused clearly, nothing changed.
    let out = reset(&["--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stop every server node"), "{err}");
    assert!(!err.contains(&url), "the URL is not printed: {err}");
    assert!(!code_file.exists());
    town.admin_ok(&["admin", "stats"]);

    town.server.terminate();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = reset(&["--yes"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // PostgreSQL ends the stopped node's sessions a moment later.
        if out.status.success() || !err.contains("stop every server node") {
            break out;
        }
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("removed 1 server admin"), "{stdout}");
    let code = std::fs::read_to_string(&code_file).expect("a new claim code");

    town.server.restart();
    let err = town.admin.fails(&["admin", "stats"]);
    assert!(err.contains("not a server admin"), "{err}");
    let new_admin = Device::new(&town.server);
    new_admin.init("Neue Server-Admin");
    new_admin.ok(&["admin", "claim", code.trim()]);
    assert!(!code_file.exists(), "the claim code is gone once used");
}
