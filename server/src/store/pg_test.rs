//! A throwaway PostgreSQL cluster for tests, shared by the server's unit
//! tests and the end-to-end tests in `tests/it` (which include this file
//! with `#[path]`). Standard library only.
//!
//! The binaries are looked up in `/usr/local/bin` and
//! `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package). The
//! cluster is `initdb`-ed into a temporary directory and started with
//! `pg_ctl` listening on a Unix socket in that directory only
//! (`listen_addresses=''`): no system service, no TCP port. PostgreSQL
//! refuses to run as root, so under root the tools run as the `postgres`
//! user (`runuser`), which owns the directory.
//!
//! Without PostgreSQL, [`TestPg::start`] prints a loud `SKIPPED:` line and
//! returns `None`; under `CI=true` it panics instead, so CI cannot pass by
//! skipping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster; stopped (immediately) and deleted on drop.
pub struct TestPg {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// Where the PostgreSQL binaries are, if installed.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    // /usr/local/bin may hold only links to some of the tools: use the
    // directory the real initdb is in, which has psql too.
    candidates
        .into_iter()
        .filter(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .map(|dir| {
            std::fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|real| real.join("psql").is_file())
                .unwrap_or(dir)
        })
        .next()
}

fn skip(why: &str) -> Option<TestPg> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL is required under CI=true but {why}");
    }
    eprintln!("SKIPPED: PostgreSQL test: {why} (install Debian's `postgresql` package)");
    None
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(54329)
}

impl TestPg {
    /// Initialises and starts a cluster, or `None` (after a loud skip line)
    /// when PostgreSQL is not installed. Panics under `CI=true` instead of
    /// skipping, and whenever an installed PostgreSQL fails to start.
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin_dir() else { return skip("initdb/pg_ctl not found") };
        let as_postgres = is_root();
        let base = std::env::temp_dir().join(format!(
            "stadtbote-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create the cluster directory");
        let pg = Self { root: base, bin, port: free_port(), as_postgres };
        if as_postgres {
            let status = Command::new("chown").arg("-R").arg("postgres:").arg(&pg.root).status();
            assert!(status.is_ok_and(|s| s.success()), "chown the cluster directory to postgres");
        }
        let out = pg.tool(
            "initdb",
            &[
                "-D",
                &pg.data_dir().to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_server();
        Some(pg)
    }

    /// Runs one of the PostgreSQL tools (as `postgres` under root).
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args).env("LC_ALL", "C").output().expect("run a PostgreSQL tool")
    }

    /// The data directory (tables, WAL, logs).
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The Unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The server's log file (PostgreSQL's own log, default settings).
    pub fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// Starts (again) the server, waiting until it accepts connections.
    pub fn start_server(&self) {
        let options = format!("-k {} -p {} -c listen_addresses=''", self.root.display(), self.port);
        let out = self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().to_string_lossy(),
                "-l",
                &self.log_file().to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop_server(&self) {
        let out = self.tool(
            "pg_ctl",
            &["-D", &self.data_dir().to_string_lossy(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A connection string (key=value form) for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("host={} port={} user=postgres dbname={db}", self.root.display(), self.port)
    }

    /// Creates a fresh database and returns its connection string.
    pub fn create_database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in database `db` with psql; panics on failure.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = self.tool(
            "psql",
            &[
                "-h",
                &self.root.to_string_lossy(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
        );
        assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every byte of what the cluster holds of database `db`: its table
    /// files, the shared catalog, the WAL (which all databases share) and
    /// the server's log.
    pub fn database_bytes(&self, db: &str) -> Vec<Vec<u8>> {
        let oid =
            self.sql("postgres", &format!("SELECT oid FROM pg_database WHERE datname = '{db}'"));
        let data = self.data_dir();
        let mut out = Vec::new();
        let mut stack =
            vec![data.join("base").join(oid.trim()), data.join("global"), data.join("pg_wal")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push(bytes);
                }
            }
        }
        if let Ok(bytes) = std::fs::read(self.log_file()) {
            out.push(bytes);
        }
        out
    }

    /// Every byte of every file below the data directory and of the log.
    pub fn persisted_bytes(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push(bytes);
                }
            }
        }
        out
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let _ = self.tool(
            "pg_ctl",
            &["-D", &self.data_dir().to_string_lossy(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Whether `needle` occurs in any of `files`.
pub fn contains_anywhere(files: &[Vec<u8>], needle: &[u8]) -> bool {
    !needle.is_empty() && files.iter().any(|f| f.windows(needle.len()).any(|w| w == needle))
}
