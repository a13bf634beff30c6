//! Online backup and restore through the real binaries: `stadtbote admin
//! backup` while citizens keep sending, `stadtbote-server verify-backup` and
//! `restore` into a fresh data directory, corrupted and encrypted backups.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{Server, contains_bytes};
use crate::municipal::Town;

/// Runs `stadtbote-server ARGS` and returns (success, stdout + stderr).
fn tool(args: &[&str]) -> (bool, String) {
    let out = Server::tool(args);
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_backup_taken_under_load_restores_every_acked_message_and_bad_backups_are_refused() {
    let mut town = Town::new(Server::start());
    let reader = town.citizen("Rita Reader");
    let rid = reader.whoami()["account"].as_str().expect("account").to_string();
    let senders: Vec<_> = (0..3).map(|i| town.citizen(&format!("Sender {i}"))).collect();
    // Conversations exist before the load starts, so every send below is
    // one ordinary message.
    for (i, s) in senders.iter().enumerate() {
        s.ok(&["send", &rid, &format!("hello from sender {i}")]);
    }

    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("online.sbk");
    let stop = AtomicBool::new(false);
    // (text, when the CLI reported it acked)
    let acked: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
    let mut backup_began = None;
    std::thread::scope(|scope| {
        for (i, sender) in senders.iter().enumerate() {
            let (stop, acked, rid) = (&stop, &acked, &rid);
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("Nachricht {i}-{n} an Rita");
                    if sender.run(&["send", rid, &text]).status.success() {
                        acked.lock().expect("lock").push((text, Instant::now()));
                    }
                    n += 1;
                }
            });
        }
        // Let the senders get going, then back up while they keep sending.
        std::thread::sleep(Duration::from_millis(1500));
        backup_began = Some(Instant::now());
        let out =
            town.admin_ok(&["admin", "backup", path(&file), "--insecure-plaintext", "--json"]);
        let summary: serde_json::Value =
            serde_json::from_str(out.trim().lines().last().expect("json line")).expect("json");
        assert_eq!(summary["encrypted"], false, "{summary}");
        assert!(summary["size"].as_u64().is_some_and(|n| n > 0), "{summary}");
        // Keep sending a little after the backup, too.
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
    });
    let backup_began = backup_began.expect("backup ran");
    let acked = acked.into_inner().expect("lock");
    let before: Vec<&String> =
        acked.iter().filter(|(_, at)| *at < backup_began).map(|(t, _)| t).collect();
    assert!(before.len() >= 3, "the senders got messages through before the backup: {acked:?}");
    assert!(
        acked.iter().any(|(_, at)| *at > backup_began),
        "sending went on during and after the backup"
    );

    let bytes = std::fs::read(&file).expect("backup file");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup file is private: {mode:o}");
    }
    for (text, _) in &acked {
        assert!(!contains_bytes(&bytes, text.as_bytes()), "no plaintext in the backup: {text}");
    }
    let (ok, out) = tool(&["verify-backup", path(&file)]);
    assert!(ok, "{out}");

    // One flipped byte is refused by verify-backup and by restore.
    let corrupt = work.path().join("corrupt.sbk");
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&corrupt, &bad).expect("write corrupt");
    let (ok, out) = tool(&["verify-backup", path(&corrupt)]);
    assert!(!ok, "a corrupted backup fails verification: {out}");
    let fresh_bad = work.path().join("restored-bad");
    let (ok, out) = tool(&["restore", path(&corrupt), "--data-dir", path(&fresh_bad)]);
    assert!(!ok, "a corrupted backup is not restored: {out}");
    assert!(
        !fresh_bad.exists() || std::fs::read_dir(&fresh_bad).expect("dir").next().is_none(),
        "nothing is left behind by a refused restore"
    );

    // An existing data directory is not overwritten without --force.
    let live = town.server.data_dir.clone();
    let (ok, out) = tool(&["restore", path(&file), "--data-dir", path(&live)]);
    assert!(!ok, "the live data dir is not overwritten without --force: {out}");
    assert!(out.contains("--force"), "the refusal names --force: {out}");

    // Restore into a fresh directory and serve from it.
    let restored = work.path().join("restored");
    let (ok, out) = tool(&["restore", path(&file), "--data-dir", path(&restored)]);
    assert!(ok, "{out}");
    town.server.restart_on(restored);
    let texts = reader.inbox_texts();
    for text in &before {
        let count = texts.iter().filter(|t| t == text).count();
        assert_eq!(count, 1, "{text} (acked before the backup) is delivered once: {texts:?}");
    }
    // The restored server is fully working: the reader answers.
    let sid = senders[0].whoami()["account"].as_str().expect("account").to_string();
    reader.ok(&["send", &sid, "Danke, alles angekommen"]);
    assert!(senders[0].inbox_texts().iter().any(|t| t == "Danke, alles angekommen"));
}

#[test]
fn an_encrypted_backup_needs_the_operator_key() {
    let town = Town::new(Server::start());
    let anna = town.citizen("Anna Acker");
    let bernd = town.citizen("Bernd Bach");
    let b = bernd.whoami()["account"].as_str().expect("account").to_string();
    anna.ok(&["send", &b, "Geheimer Gruß"]);

    let work = tempfile::tempdir().expect("tempdir");
    let key = work.path().join("operator.key");
    let (ok, out) = tool(&["backup-key", "generate", "--out", path(&key)]);
    assert!(ok, "{out}");
    let recipient = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("age1"))
        .expect("the recipient is printed")
        .to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the identity file is private: {mode:o}");
    }
    let (ok, _) = tool(&["backup-key", "generate", "--out", path(&key)]);
    assert!(!ok, "an existing key file is never overwritten");

    let file = work.path().join("sealed.sbk");
    let out = town.admin_ok(&["admin", "backup", path(&file), "--recipient", &recipient]);
    assert!(out.contains("  Encrypted:  yes (age)"), "{out}");
    let bytes = std::fs::read(&file).expect("backup");
    assert!(bytes.starts_with(b"age-encryption.org/v1"), "an age file");

    let (ok, out) = tool(&["verify-backup", path(&file)]);
    assert!(!ok, "an encrypted backup cannot be checked without the key: {out}");
    let without = work.path().join("without-key");
    let (ok, out) = tool(&["restore", path(&file), "--data-dir", path(&without)]);
    assert!(!ok, "nor restored: {out}");

    let (ok, out) = tool(&["verify-backup", path(&file), "--identity", path(&key)]);
    assert!(ok, "{out}");
    let restored = work.path().join("restored");
    let (ok, out) =
        tool(&["restore", path(&file), "--data-dir", path(&restored), "--identity", path(&key)]);
    assert!(ok, "{out}");
    let mut server = town.server;
    server.restart_on(restored);
    assert_eq!(bernd.inbox_texts(), ["Geheimer Gruß"]);
}

/// The audit entries of backups, from `admin audit --json`.
fn backup_audit_entries(town: &Town) -> Vec<serde_json::Value> {
    crate::harness::json_lines(&town.admin_ok(&["admin", "audit", "--json"]))
        .into_iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("admin.backup")))
        .collect()
}

#[test]
fn a_backup_without_recipient_is_refused_and_one_backup_is_one_audit_entry() {
    // Small chunks, so that one backup takes dozens of chunk requests.
    let town = Town::new(Server::start_with(&[("STADTBOTE_BACKUP_CHUNK_BYTES", "1024")]));
    let work = tempfile::tempdir().expect("tempdir");

    // No recipient configured or given: refused, with how to add one.
    let refused = work.path().join("refused.sbk");
    let err = town.admin_fails(&["admin", "backup", path(&refused)]);
    for hint in ["unencrypted", "backup-key generate", "backup_recipients", "--recipient"] {
        assert!(err.contains(hint), "the refusal mentions {hint}: {err}");
    }
    assert!(err.contains("--insecure-plaintext"), "{err}");
    assert!(!refused.exists(), "nothing written");
    let staged = town.server.data_dir.join("backups");
    let leftovers = std::fs::read_dir(&staged).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing staged on the server either");

    // Explicitly plaintext: written, many chunks, one audit entry.
    let file = work.path().join("plain.sbk");
    let out = town.admin_ok(&["admin", "backup", path(&file), "--insecure-plaintext", "--json"]);
    let summary: serde_json::Value =
        serde_json::from_str(out.trim().lines().last().expect("json line")).expect("json");
    assert_eq!(summary["encrypted"], false, "{summary}");
    let size = summary["size"].as_u64().expect("size");
    assert!(size / 1024 >= 10, "the backup took many chunks: {size} bytes");
    let entries = backup_audit_entries(&town);
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or(""), e["outcome"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        outcomes,
        [("admin.backup-start", "refused:invalid-request"), ("admin.backup-start", "ok")],
        "one entry per backup, none per chunk"
    );
}

/// A `systemctl` stand-in that records its calls and reports the service
/// as stopped.
fn fake_systemctl(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let script = bin.join("systemctl");
    let calls = dir.join("systemctl.calls");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit 3\n", calls.display()))
        .expect("write stub");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[test]
fn the_backup_timer_refuses_plaintext_unless_told_and_rotates_as_configured() {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");
    std::fs::create_dir_all(data.join("keys")).expect("data dir");
    std::fs::write(data.join("keys").join("pepper"), [7u8; 32]).expect("pepper");
    let backups = work.path().join("backups");
    let config = work.path().join("stadtbote.toml");
    std::fs::write(&config, "backup_keep_daily = 3\nbackup_keep_weekly = 2\n").expect("config");
    let bin = fake_systemctl(work.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/backup/stadtbote-backup.sh");
    let run = |args: &[&str], recipient: Option<&str>| {
        let mut command = std::process::Command::new("bash");
        command
            .arg(script)
            .args(args)
            .env("DATA_DIR", &data)
            .env("BACKUP_DIR", &backups)
            .env("SERVICE", "stadtbote-test")
            .env("STADTBOTE_SERVER", &crate::harness::bins().server)
            .env("STADTBOTE_CONFIG", &config)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
            .env_remove("AGE_RECIPIENT")
            .env_remove("INSECURE_PLAINTEXT")
            .env_remove("KEEP_DAILY")
            .env_remove("KEEP_WEEKLY");
        if let Some(r) = recipient {
            command.env("AGE_RECIPIENT", r);
        }
        let out = command.output().expect("run the backup script");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let archives = || {
        std::fs::read_dir(&backups)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("stadtbote-"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };

    let (ok, out) = run(&[], None);
    assert!(!ok, "no recipient: refused: {out}");
    for hint in ["unencrypted", "backup-key generate", "AGE_RECIPIENT", "--insecure-plaintext"] {
        assert!(out.contains(hint), "the refusal mentions {hint}: {out}");
    }
    assert!(archives().is_empty(), "nothing written");
    assert!(
        !work.path().join("systemctl.calls").exists(),
        "the service was not touched before refusing"
    );

    let (ok, out) = run(&["--insecure-plaintext"], None);
    assert!(ok, "explicitly plaintext: {out}");
    assert!(out.contains("UNENCRYPTED"), "{out}");
    assert!(out.contains("keeping 3 daily and 2 weekly"), "rotation from the config: {out}");
    let written = archives();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].ends_with(".tar.zst"), "{written:?}");
}
