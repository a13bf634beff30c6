//! A full disk: the server's data directory lives on a small tmpfs mounted in
//! a private mount namespace (`unshare -m`), the test fills it from outside
//! through `/proc/<pid>/root`, and checks that sends fail with a typed
//! storage error without an acknowledgement (the message stays in the
//! sender's outbox), that reads keep working, and that everything resumes
//! by itself once space is freed. A second test turns the guard off and
//! lets the store itself run into ENOSPC: a typed error, no acknowledgement,
//! no panic, reads still served.
//!
//! Skipped with a message where the machine does not permit mount
//! namespaces (no root, seccomp, containers without CAP_SYS_ADMIN).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Device, bins, eventually, free_port, http_get, json_lines, raw};

/// Size of the tmpfs holding the data directory.
const TMPFS_MIB: u64 = 48;
/// The server's `min_free_disk_bytes` in this test.
const MIN_FREE: u64 = 16 << 20;

/// A server whose data directory is a private tmpfs.
struct TmpfsServer {
    child: Child,
    addr: std::net::SocketAddr,
    metrics: std::net::SocketAddr,
    data_dir: PathBuf,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TmpfsServer {
    /// Starts the server with `min_free_disk_bytes = min_free`, or returns
    /// why this machine cannot run the test.
    fn start(min_free: u64) -> Result<TmpfsServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).map_err(|e| e.to_string())?;
        // The probe's mount lives and dies with its throwaway namespace.
        let probe = Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "mount",
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "tmpfs",
            ])
            .arg(&data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            return Err("`unshare -m` with a tmpfs mount is not permitted here".into());
        }
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let addr: std::net::SocketAddr =
            format!("127.0.0.1:{}", free_port()).parse().map_err(|e| format!("{e}"))?;
        let metrics: std::net::SocketAddr =
            format!("127.0.0.1:{}", free_port()).parse().map_err(|e| format!("{e}"))?;
        // `exec` makes the server the namespace's process itself, so the
        // child's pid is the server's and `/proc/<pid>/root` sees its mounts.
        let script = format!(
            "mount -t tmpfs -o size={TMPFS_MIB}m,mode=0700 tmpfs '{dir}' && exec '{server}' --listen {addr} --data-dir '{dir}'",
            dir = data_dir.display(),
            server = bins().server.display(),
        );
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env_remove("RUST_LOG")
            .env("STADTBOTE_POW_DIFFICULTY", "0")
            .env("STADTBOTE_METRICS_LISTEN", metrics.to_string())
            .env("STADTBOTE_MIN_FREE_DISK_BYTES", min_free.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let mut server = TmpfsServer { child, addr, metrics, data_dir, log_path, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http_get(server.addr, "/healthz", None) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("server under unshare exited with {status}: {}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready; log:\n{}", server.log());
    }

    fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// The data directory as seen from inside the server's mount namespace.
    fn inside(&self) -> PathBuf {
        let relative = self.data_dir.strip_prefix("/").unwrap_or(&self.data_dir);
        Path::new("/proc").join(self.child.id().to_string()).join("root").join(relative)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn limit_hits(&self, limit: &str) -> u64 {
        let (_, body) = http_get(self.metrics, "/metrics", None).expect("metrics");
        let prefix = format!("stadtbote_limit_hits_total{{limit=\"{limit}\"}} ");
        body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Drop for TmpfsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes available on the filesystem holding `path` (`stat -f`, which
/// follows `/proc/<pid>/root` into the server's namespace).
fn available(path: &Path) -> u64 {
    let out = Command::new("stat").args(["-f", "-c", "%a %S"]).arg(path).output().expect("stat");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
    parts.next().unwrap_or(0) * parts.next().unwrap_or(0)
}

/// Fills the filesystem holding `dir` until less than `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 1 << 20];
    while available(dir) >= leave {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    file.sync_all().expect("sync filler");
    path
}

#[test]
fn a_full_disk_refuses_writes_without_ack_and_recovers_by_itself() {
    let server = match TmpfsServer::start(MIN_FREE) {
        Ok(server) => server,
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_disk_refuses_writes_without_ack_and_recovers_by_itself: {why}"
            );
            return;
        }
    };
    let inside = server.inside();
    let tmpfs = available(&inside);
    assert!(
        tmpfs > MIN_FREE && tmpfs <= TMPFS_MIB << 20,
        "the data directory is not the private tmpfs ({tmpfs} bytes free)"
    );
    let url = server.url();
    let anna = Device::with_url(&url);
    let bernd = Device::with_url(&url);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "vorher"]);

    // Below the threshold, but not completely full.
    let filler = fill(&inside, MIN_FREE / 2);
    // The guard caches its measurement for a second.
    std::thread::sleep(Duration::from_millis(1200));
    let err = anna.fails(&["send", &b, "während"]);
    assert!(err.contains("storage unavailable"), "{err}");
    let outbox = json_lines(&anna.ok(&["outbox", "--json"]));
    assert!(
        outbox.iter().any(|m| m.to_string().contains("während")),
        "the refused message stays in the outbox: {outbox:?}"
    );
    assert!(server.limit_hits("disk_space") >= 1);
    // Reads keep working: login and delivery of the mailbox. (The CLI's
    // `inbox` would also send a delivery receipt, which is a write.)
    let device = bernd.device_id();
    let mailbox = crate::block_on(raw::mailbox_of(&url, &bernd.home, &device)).expect("mailbox");
    assert!(mailbox.len() >= 2, "welcome and message are delivered: {}", mailbox.len());
    // A new account is a write too.
    let carla = Device::with_url(&url);
    carla.fails(&["init", "--name", "Carla"]);

    std::fs::remove_file(&filler).expect("remove filler");
    // Writes resume by themselves; the next command that reaches the server
    // drains the outbox (`inbox` adds no message of its own).
    eventually(Duration::from_secs(10), || {
        let flushed = anna.run(&["inbox"]).status.success();
        (flushed && json_lines(&anna.ok(&["outbox", "--json"])).is_empty()).then_some(())
    })
    .expect("the server accepts writes again once space is back");
    anna.ok(&["send", &b, "nachher"]);
    let outbox = json_lines(&anna.ok(&["outbox", "--json"]));
    assert!(outbox.is_empty(), "outbox drained: {outbox:?}");
    let texts = bernd.inbox_texts();
    assert_eq!(texts, ["vorher", "während", "nachher"], "every acked envelope is delivered, once");

    let log = server.log();
    assert_eq!(
        log.matches("free disk space below").count(),
        1,
        "one warning per transition:\n{log}"
    );
    assert!(log.contains("free disk space recovered"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn enospc_without_the_guard_is_a_typed_error_and_never_a_panic() {
    // With the guard off the store itself runs into ENOSPC.
    let server = match TmpfsServer::start(0) {
        Ok(server) => server,
        Err(why) => {
            eprintln!("SKIPPED enospc_without_the_guard_is_a_typed_error_and_never_a_panic: {why}");
            return;
        }
    };
    let url = server.url();
    let anna = Device::with_url(&url);
    let bernd = Device::with_url(&url);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "vorher"]);
    let filler = fill(&server.inside(), 1);
    // Large enough that the store cannot absorb it in what little is left.
    let big = "x".repeat(100_000);
    let mut refused = 0;
    for _ in 0..5 {
        let out = anna.run(&["send", &b, &big]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(err.contains("storage unavailable"), "{err}");
            refused += 1;
        }
    }
    assert!(refused > 0, "a full disk refused nothing");
    assert!(http_get(server.addr, "/healthz", None).is_ok_and(|(s, _)| s == 200));
    // Nothing refused was acknowledged: all of it is still in the outbox.
    let outbox = json_lines(&anna.ok(&["outbox", "--json"]));
    assert_eq!(outbox.len(), refused, "{outbox:?}");
    // Reads still work, and what was acknowledged before is there.
    let device = bernd.device_id();
    let mailbox = crate::block_on(raw::mailbox_of(&url, &bernd.home, &device)).expect("mailbox");
    assert!(mailbox.len() >= 2, "welcome and message are delivered: {}", mailbox.len());
    // sled keeps refusing writes after a failed write until it is reopened
    // (after a failed fsync the page cache cannot be trusted), so without
    // the guard the operator restarts the service; see OPERATIONS.md.
    std::fs::remove_file(&filler).expect("remove filler");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    eprintln!("ENOSPC: {refused} of 5 sends refused");
}
