//! Test harness: builds the real binaries once, starts `stadtbote-server`
//! processes on free loopback ports with their own data directories, and runs
//! the `stadtbote` CLI against them. Also offers a raw protocol client for
//! tests that must speak to the server below the CLI (replayed challenges,
//! garbage frames, mailbox inspection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Paths of the binaries under test.
pub struct Bins {
    pub server: PathBuf,
    pub cli: PathBuf,
    /// The load generator (`bench_smoke.rs`).
    pub bench: PathBuf,
}

/// Builds `stadtbote-server` and `stadtbote` once per test run, in the same
/// profile as this test binary, and returns their paths. Cargo only builds
/// binaries of the package under test for its integration tests, and these
/// live in other packages, so the harness asks cargo itself; when they are
/// fresh this costs well under a second.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/it-<hash>
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("target profile dir").to_path_buf();
        let profile =
            profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_arg = if profile == "debug" { "dev".to_string() } else { profile.clone() };
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--bins",
                "-p",
                "stadtbote-server",
                "-p",
                "stadtbote-cli",
                "-p",
                "stadtbote-bench",
                "--profile",
                &profile_arg,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        Bins {
            server: profile_dir.join("stadtbote-server"),
            cli: profile_dir.join("stadtbote"),
            bench: profile_dir.join("stadtbote-bench"),
        }
    })
}

/// A free TCP port on 127.0.0.1 (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `stadtbote-server` with its own data directory and log file.
pub struct Server {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with proof-of-work off and the given extra environment.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !env.iter().any(|(k, _)| k == "STADTBOTE_POW_DIFFICULTY") {
            env.push(("STADTBOTE_POW_DIFFICULTY".into(), "0".into()));
        }
        // Parallel servers cannot all take the default metrics port; tests
        // that need metrics pass their own free port.
        // A wide TOTP window, so that the tests' fresh codes (each a step
        // later than the last, see `municipal::Town`) are accepted without
        // waiting for real time to pass.
        if !env.iter().any(|(k, _)| k == "STADTBOTE_TOTP_SKEW_STEPS") {
            env.push(("STADTBOTE_TOTP_SKEW_STEPS".into(), "5".into()));
        }
        if !env.iter().any(|(k, _)| k == "STADTBOTE_METRICS_LISTEN") {
            env.push(("STADTBOTE_METRICS_LISTEN".into(), String::new()));
        }
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut server = Server { addr, data_dir, log_path, env, child: None, _dir: Some(dir) };
        server.spawn();
        server
    }

    /// Starts a server with default settings (proof-of-work off).
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// The server process's id (for readings of its memory).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The WebSocket URL clients use.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("server log");
        let log2 = log.try_clone().expect("log clone");
        let mut cmd = Command::new(&bins().server);
        cmd.arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn server"));
        self.wait_ready();
    }

    /// Waits until `/healthz` answers, or panics with the server log.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        // A native-TLS server does not speak plain HTTP: accepting TCP is
        // enough (it binds only after loading its certificate).
        let tls = self.env.iter().any(|(k, _)| k == "STADTBOTE_TLS_CERT");
        while Instant::now() < deadline {
            if tls && TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
                return;
            }
            if !tls && let Ok((200, _)) = http_get(self.addr, "/healthz", None) {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("server exited early with {status}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready; log:\n{}", self.log());
    }

    /// Stops the server with SIGKILL (no chance to clean up), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        signal(child.id(), "TERM");
        wait_timeout(&mut child, Duration::from_secs(15)).expect("server exits after SIGTERM")
    }

    /// Starts the server again on the same address and data directory.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
        self.spawn();
    }

    /// Stops the server and starts it again on the same address with
    /// another data directory (e.g. one a backup was restored into).
    pub fn restart_on(&mut self, data_dir: PathBuf) {
        if self.child.is_some() {
            self.terminate();
        }
        self.data_dir = data_dir;
        self.spawn();
    }

    /// The path of the `stadtbote-server` binary, for its offline commands
    /// (restore, verify-backup, backup-key).
    pub fn tool(args: &[&str]) -> Output {
        Command::new(&bins().server)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run stadtbote-server")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a POSIX signal by name using the system `kill` command, which keeps
/// the tests free of unsafe FFI.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// A minimal HTTP/1.1 GET over a plain socket: returns status and body.
pub fn http_get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no HTTP header end"))?;
    let status: u16 =
        head.split_whitespace().nth(1).ok_or_else(|| anyhow!("no status"))?.parse()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One user's device: a `--home` directory used with the real `stadtbote` CLI.
pub struct Device {
    pub home: PathBuf,
    pub server_url: String,
    /// Environment set for every CLI run of this device (see [`Device::with_env`]).
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Device {
    pub fn new(server: &Server) -> Device {
        Self::with_url(&server.url())
    }

    pub fn with_url(url: &str) -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        Device {
            home: dir.path().join("home"),
            server_url: url.to_string(),
            env: Vec::new(),
            _dir: dir,
        }
    }

    /// Sets an environment variable for every CLI run of this device (e.g.
    /// `STADTBOTE_CA_CERT`).
    pub fn with_env(mut self, key: &str, value: &str) -> Device {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `stadtbote --home H --server S ARGS...` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Runs the CLI with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run stadtbote")
    }

    /// The `stadtbote --home H --server S ARGS...` command, for tests that
    /// need to spawn it (interactive use, killing it midway).
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_at(&self.server_url, args)
    }

    /// Runs the CLI on this device's home against another server URL (a
    /// tampering proxy in front of the real server) and returns its output.
    pub fn run_via(&self, server_url: &str, args: &[&str]) -> Output {
        self.command_at(server_url, args).stdin(Stdio::null()).output().expect("run stadtbote")
    }

    /// The CLI command on this device's home, talking to `server_url`.
    fn command_at(&self, server_url: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&bins().cli);
        // Files a command writes to its working directory by default (QR
        // codes) land in this device's temporary directory, never in the
        // repository.
        cmd.current_dir(self._dir.path());
        cmd.arg("--home")
            .arg(&self.home)
            .arg("--server")
            .arg(server_url)
            .args(args)
            .env_remove("STADTBOTE_HOME")
            .env_remove("STADTBOTE_SERVER")
            .env_remove("STADTBOTE_PASSPHRASE")
            .env_remove("STADTBOTE_CA_CERT")
            .env_remove("STADTBOTE_OTP")
            // English and UTC times whatever the machine's locale and zone
            // (the i18n tests set LANG/--lang themselves).
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("LANG")
            .env("TZ", "UTC")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs the CLI, requires success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "stadtbote {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI, requires failure and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "stadtbote {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `init --name NAME`; returns the account id from the last output line.
    pub fn init(&self, name: &str) -> String {
        last_line(&self.ok(&["init", "--name", name]))
    }

    /// The `whoami --json` object.
    pub fn whoami(&self) -> serde_json::Value {
        serde_json::from_str(self.ok(&["whoami", "--json"]).trim()).expect("whoami json")
    }

    /// The device id of this home.
    pub fn device_id(&self) -> String {
        self.whoami()["device"].as_str().expect("device").to_string()
    }

    /// `inbox --json` parsed into one value per message (event lines, such
    /// as `device_added`, are left out).
    pub fn inbox(&self) -> Vec<serde_json::Value> {
        json_lines(&self.ok(&["inbox", "--json"]))
            .into_iter()
            .filter(|v| v.get("event").is_none())
            .collect()
    }

    /// The texts of `inbox --json`.
    pub fn inbox_texts(&self) -> Vec<String> {
        self.inbox().iter().map(|m| m["text"].as_str().unwrap_or_default().to_string()).collect()
    }
}

/// The last non-empty line of a command's output, trimmed.
pub fn last_line(stdout: &str) -> String {
    stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// The first key fingerprint (eight groups of four hex digits) in `text`.
pub fn fingerprint_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let hex: String = l.chars().filter(|c| c.is_ascii_hexdigit() || *c == ' ').collect();
        let groups: Vec<&str> = hex.split_whitespace().collect();
        (groups.len() == 8 && groups.iter().all(|g| g.len() == 4)).then(|| groups.join(" "))
    })
}

/// Parses one JSON object per non-empty line.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Polls `f` until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub use raw::RawClient;

/// Rewrites one binary message from the server on its way to the client.
pub type Tamper = std::sync::Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// Runs a man-in-the-middle WebSocket proxy on a free loopback port in a
/// background thread and returns its URL. Client messages pass unchanged;
/// every binary message from the server goes through `tamper`, so a test
/// can play a compromised server in front of the real one.
pub fn start_proxy(upstream: String, tamper: Tamper) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
    let addr = listener.local_addr().expect("proxy addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proxy runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
            // Bounded: tests make a handful of connections, then the test
            // process ends and takes the thread with it.
            for _ in 0..256 {
                let Ok((stream, _)) = listener.accept().await else { return };
                let upstream = upstream.clone();
                let tamper = tamper.clone();
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(stream).await else { return };
                    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await
                    else {
                        return;
                    };
                    let (mut client_tx, mut client_rx) = client.split();
                    let (mut server_tx, mut server_rx) = server.split();
                    let up = async {
                        while let Some(Ok(msg)) = client_rx.next().await {
                            if server_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(msg)) = server_rx.next().await {
                            let msg = match msg {
                                Message::Binary(bytes) => Message::Binary(tamper(&bytes).into()),
                                other => other,
                            };
                            if client_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
    });
    format!("ws://{addr}/v1/ws")
}

/// A raw protocol client speaking CBOR frames over the WebSocket, for tests
/// below the CLI.
pub mod raw {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use stadtbote_protocol::auth::{self, DeviceSecret};
    use stadtbote_protocol::frame::{self, Envelope, ServerBody};
    use stadtbote_protocol::{ClientFrame, DeviceId, ErrorBody, Event, Request, Response};
    use tokio::net::TcpStream as TokioTcp;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    pub type Ws = WebSocketStream<MaybeTlsStream<TokioTcp>>;

    pub struct RawClient {
        pub ws: Ws,
        pub next_id: u64,
        /// The nonce of the most recent challenge the server pushed.
        pub nonce: Vec<u8>,
        pub pow_difficulty: u8,
        /// Events received while waiting for responses.
        pub events: Vec<Event>,
    }

    impl RawClient {
        /// Connects and reads the initial challenge.
        pub async fn connect(url: &str) -> Result<RawClient> {
            let (ws, _) =
                tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url))
                    .await
                    .context("connect timeout")??;
            let mut c =
                RawClient { ws, next_id: 1, nonce: vec![], pow_difficulty: 0, events: vec![] };
            match c.next_body().await? {
                ServerBody::Event { event: Event::Challenge { nonce, pow_difficulty, .. } } => {
                    c.nonce = nonce.into_vec();
                    c.pow_difficulty = pow_difficulty;
                }
                other => bail!("expected challenge first, got {other:?}"),
            }
            Ok(c)
        }

        /// Reads the next server frame body (5 s timeout).
        pub async fn next_body(&mut self) -> Result<ServerBody> {
            loop {
                let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                    .await
                    .context("timed out waiting for a frame")?
                    .ok_or_else(|| anyhow!("connection ended"))??;
                match msg {
                    Message::Binary(bytes) => {
                        let frame = frame::decode_server(&bytes, 1 << 24)?;
                        if let ServerBody::Event { event: Event::Challenge { nonce, .. } } =
                            &frame.body
                        {
                            self.nonce = nonce.to_vec();
                        }
                        return Ok(frame.body);
                    }
                    Message::Close(c) => bail!("closed: {c:?}"),
                    _ => continue,
                }
            }
        }

        /// Sends raw bytes as one binary WebSocket message.
        pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
            self.ws.send(Message::Binary(bytes.into())).await?;
            Ok(())
        }

        /// Sends a request and waits for its answer, keeping events aside.
        pub async fn request(&mut self, request: Request) -> Result<Result<Response, ErrorBody>> {
            let id = self.next_id;
            self.next_id += 1;
            self.send_bytes(frame::encode(&ClientFrame::new(id, request))).await?;
            self.answer(id).await
        }

        /// Waits for the answer to request `id`.
        pub async fn answer(&mut self, id: u64) -> Result<Result<Response, ErrorBody>> {
            loop {
                match self.next_body().await? {
                    ServerBody::Response { id: got, response } if got == id => {
                        return Ok(Ok(response));
                    }
                    ServerBody::Error { id: Some(got), error } if got == id => {
                        return Ok(Err(error));
                    }
                    ServerBody::Event { event } => self.events.push(event),
                    other => bail!("unexpected frame while waiting for {id}: {other:?}"),
                }
            }
        }

        /// Registers a fresh account (solving the proof-of-work); returns the secret and ids.
        pub async fn register(
            &mut self,
        ) -> Result<(DeviceSecret, stadtbote_protocol::AccountId, DeviceId)> {
            let secret = DeviceSecret::generate();
            let key = secret.identity_key();
            let pow_nonce = auth::pow_solve(&self.nonce, &key, self.pow_difficulty);
            let signature = secret.sign(&auth::register_message(&self.nonce, &key));
            match self
                .request(Request::Register { identity_key: key, signature, pow_nonce })
                .await?
            {
                Ok(Response::Registered { account, device }) => Ok((secret, account, device)),
                other => bail!("register failed: {other:?}"),
            }
        }

        /// The Login request for this connection's current challenge.
        pub fn login_request(&self, secret: &DeviceSecret, device: DeviceId) -> Request {
            Request::Login {
                device,
                signature: secret.sign(&auth::login_message(&self.nonce, &device)),
            }
        }

        /// Waits for the first `Deliver` event that is caught up; returns all
        /// envelopes delivered up to then.
        pub async fn drain_mailbox(&mut self) -> Result<Vec<Envelope>> {
            let mut all = Vec::new();
            let pending: Vec<Event> = std::mem::take(&mut self.events);
            for ev in pending {
                if let Event::Deliver { envelopes, caught_up } = ev {
                    all.extend(envelopes);
                    if caught_up {
                        return Ok(all);
                    }
                }
            }
            loop {
                match self.next_body().await? {
                    ServerBody::Event { event: Event::Deliver { envelopes, caught_up } } => {
                        all.extend(envelopes);
                        if caught_up {
                            return Ok(all);
                        }
                    }
                    _ => continue,
                }
            }
        }
    }

    /// Reads a CLI home's device secret (the `identity.key` file).
    pub fn home_secret(home: &Path) -> Result<DeviceSecret> {
        let bytes = std::fs::read(home.join("identity.key"))?;
        Ok(DeviceSecret::from_bytes(&bytes)?)
    }

    /// Logs in as the device of a CLI home and returns its current mailbox.
    pub async fn mailbox_of(url: &str, home: &Path, device: &str) -> Result<Vec<Envelope>> {
        let secret = home_secret(home)?;
        let device = DeviceId::parse(device)?;
        let mut c = RawClient::connect(url).await?;
        let login = c.login_request(&secret, device);
        match c.request(login).await? {
            Ok(Response::LoggedIn { .. }) => {}
            other => bail!("login failed: {other:?}"),
        }
        c.drain_mailbox().await
    }
}

/// Raw-client helpers for the membership tests (tests/it/squat.rs): real
/// MLS commits made below the CLI, as a hostile member or stranger would.
pub mod raw_mls {
    use serde_bytes::ByteBuf;
    use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage};
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::membership::{GroupCreation, MembershipStatement, new_random_group};
    use stadtbote_protocol::mls::{Commit, MlsClient};
    use stadtbote_protocol::{AccountId, DeviceId, GroupId, MsgId, Request, Response};

    use super::raw::RawClient;

    /// Processes delivered envelopes until `done` holds.
    pub async fn receive_until(
        client: &mut RawClient,
        mls: &MlsClient,
        done: impl Fn(&MlsClient) -> bool,
    ) {
        client.process_until(mls, done).await;
    }

    /// Publishes a signed device list (with a fresh account key) that
    /// names this one device, as a current client does on its first start.
    pub async fn publish_device_list(
        client: &mut RawClient,
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
    ) {
        use stadtbote_protocol::device_list::{DEVICE_LIST_VERSION, DeviceList, ListedDevice};
        let account_key = DeviceSecret::generate();
        let list = DeviceList {
            v: DEVICE_LIST_VERSION,
            account,
            account_key: account_key.identity_key(),
            version: 1,
            issued_at: 1,
            devices: vec![ListedDevice {
                device,
                identity_key: secret.identity_key(),
                added_at: 1,
            }],
        };
        let answer =
            client.request(Request::PublishDeviceList { list: list.sign(&account_key) }).await;
        assert!(answer.unwrap().is_ok(), "device list refused");
    }

    /// Uploads a few one-time KeyPackages and a last-resort one.
    pub async fn upload_key_packages(client: &mut RawClient, mls: &MlsClient) {
        let one_time =
            mls.generate_key_packages(4).unwrap().into_iter().map(ByteBuf::from).collect();
        let last_resort = Some(ByteBuf::from(mls.generate_last_resort().unwrap()));
        let answer =
            client.request(Request::UploadKeyPackages { one_time, last_resort }).await.unwrap();
        assert!(matches!(answer, Ok(Response::KeyPackagesStored { .. })), "{answer:?}");
    }

    /// An encoded text message as the CLI would send it.
    pub fn text_payload(text: &str) -> Vec<u8> {
        AppMessage {
            v: APP_VERSION,
            id: MsgId::random(),
            sent_at: 1,
            sender_name: Some("Mallory".into()),
            body: AppBody::Text { text: text.into() },
        }
        .encode()
    }

    /// The `commit` request for `commit`, declaring `add` and `remove`
    /// (signed by `secret`; the commit carries its own declaration).
    pub fn commit_request(
        secret: &DeviceSecret,
        group: &GroupId,
        commit: &Commit,
        add: Vec<DeviceId>,
        remove: Vec<DeviceId>,
    ) -> Request {
        let declared = MembershipStatement {
            group: *group,
            epoch: commit.epoch_before,
            salt: commit.salt,
            add: add.clone(),
            remove: remove.clone(),
        };
        Request::Commit {
            group: *group,
            epoch: commit.epoch_before,
            commit: ByteBuf::from(commit.commit.clone()),
            welcome: if add.is_empty() { None } else { commit.welcome.clone().map(ByteBuf::from) },
            add,
            remove,
            statement: declared.prove(secret, &commit.commit),
            create: None,
        }
    }

    /// The epoch-0 commit creating `group` (a real MLS commit, signed
    /// statement), with `create` as the creation proof.
    pub fn create_request(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        group: GroupId,
        create: Option<GroupCreation>,
    ) -> Request {
        let mls = MlsClient::new(secret, account, device);
        mls.create_group(group).unwrap();
        let commit = mls.commit_update(&group).unwrap();
        match commit_request(secret, &group, &commit, vec![], vec![]) {
            Request::Commit { group, epoch, commit, add, remove, welcome, statement, .. } => {
                Request::Commit { group, epoch, commit, add, remove, welcome, statement, create }
            }
            other => other,
        }
    }

    /// Every way a stranger can try to create `target` (the conversation
    /// of two other accounts, one of them `peer`).
    pub fn squat_requests(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        target: GroupId,
        peer: AccountId,
    ) -> Vec<Request> {
        let nonce = ByteBuf::from(target.as_bytes().to_vec());
        [
            None,
            Some(GroupCreation::Conversation { peer }),
            Some(GroupCreation::Conversation { peer: account }),
            Some(GroupCreation::Random { nonce }),
        ]
        .into_iter()
        .map(|create| create_request(secret, account, device, target, create))
        .collect()
    }

    /// A commit at `epoch` as a stranger would send it: a garbage one (at
    /// epochs above 0), or a real signed creation naming `peer` at epoch 0.
    pub fn probe_commit(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        group: GroupId,
        epoch: u64,
        peer: AccountId,
    ) -> Request {
        if epoch == 0 {
            return create_request(
                secret,
                account,
                device,
                group,
                Some(GroupCreation::Conversation { peer }),
            );
        }
        stranger_commit(secret, account, device, group, epoch)
    }

    /// A well-formed, signed commit for `group` at `epoch` made by a device
    /// that is not in the server's group: it keeps a local group of its
    /// own with that id and commits to itself until it reaches `epoch`.
    pub fn stranger_commit(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        group: GroupId,
        epoch: u64,
    ) -> Request {
        let mls = MlsClient::new(secret, account, device);
        mls.create_group(group).unwrap();
        for _ in 0..epoch {
            mls.commit_update(&group).unwrap();
            mls.merge_pending(&group).unwrap();
        }
        let commit = mls.commit_update(&group).unwrap();
        commit_request(secret, &group, &commit, vec![], vec![])
    }

    /// A device's raw identity: secret, account, device.
    pub type Identity = (DeviceSecret, AccountId, DeviceId);

    /// A new random group created by `sender` adding `recipient`'s device
    /// (real MLS commit and Welcome, signed statement, creation proof).
    /// Returns the group, the request, and the sender's MLS state.
    pub fn group_with(sender: &Identity, recipient: &Identity) -> (GroupId, Request, MlsClient) {
        let (group, nonce) = new_random_group();
        let mls = MlsClient::new(&sender.0, sender.1, sender.2);
        let theirs = MlsClient::new(&recipient.0, recipient.1, recipient.2);
        let package = theirs.generate_key_packages(1).unwrap().remove(0);
        mls.create_group(group).unwrap();
        let commit = mls.add_members(&group, &[package]).unwrap();
        let create = GroupCreation::Random { nonce: ByteBuf::from(nonce.to_vec()) };
        let request = commit.request(group, &sender.0, Some(create)).unwrap();
        mls.merge_pending(&group).unwrap();
        (group, request, mls)
    }

    /// `set_group_expiry` for `group`.
    pub fn expiry_request(
        group: GroupId,
        expires_at: u64,
        org: Option<stadtbote_protocol::OrgId>,
    ) -> Request {
        Request::SetGroupExpiry { group, expires_at, org }
    }

    /// A commit that really adds a stranger's device while declaring no
    /// change (in the commit and to the server), with the declared lists.
    pub async fn misdeclared_add(
        mls: &MlsClient,
        group: &GroupId,
    ) -> Option<(Commit, Vec<DeviceId>, Vec<DeviceId>)> {
        let stranger =
            MlsClient::new(&DeviceSecret::generate(), AccountId::random(), DeviceId::random());
        let package = stranger.generate_key_packages(1).unwrap().remove(0);
        let commit = mls.misdeclared_change(group, &[package], &[], (vec![], vec![])).unwrap();
        Some((commit, vec![], vec![]))
    }
}

impl raw::RawClient {
    /// Processes (and acks) delivered envelopes with `mls` until `done`
    /// holds; panics after 10 s.
    pub async fn process_until(
        &mut self,
        mls: &stadtbote_protocol::mls::MlsClient,
        done: impl Fn(&stadtbote_protocol::mls::MlsClient) -> bool,
    ) {
        use stadtbote_protocol::frame::ServerBody;
        use stadtbote_protocol::{Event, Request};
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pending: Vec<Event> = std::mem::take(&mut self.events);
        while !done(mls) {
            assert!(Instant::now() < deadline, "timed out waiting for envelopes");
            let event = match pending.pop() {
                Some(event) => event,
                None => match self.next_body().await {
                    Ok(ServerBody::Event { event }) => event,
                    _ => continue,
                },
            };
            if let Event::Deliver { envelopes, .. } = event {
                let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();
                for envelope in envelopes {
                    let _ = mls.process(&envelope.payload);
                }
                if !ids.is_empty() {
                    let _ = self.request(Request::Ack { ids }).await;
                }
            }
        }
    }
}

/// How an HTTP upgrade from a chosen source address ended.
pub enum Upgrade {
    /// Upgraded; the challenge has been read.
    Open(Box<RawClient>),
    /// The server answered the upgrade request with this HTTP status.
    Refused(u16),
}

impl Upgrade {
    /// The open client, or a panic naming the refusal.
    pub fn open(self) -> RawClient {
        match self {
            Upgrade::Open(client) => *client,
            Upgrade::Refused(status) => panic!("upgrade refused with HTTP {status}"),
        }
    }

    /// The refusal's HTTP status, or `None` if the upgrade succeeded.
    pub fn refused(&self) -> Option<u16> {
        match self {
            Upgrade::Open(_) => None,
            Upgrade::Refused(status) => Some(*status),
        }
    }
}

/// Opens a raw protocol connection to `url` from the local address
/// `source` (any of 127.0.0.0/8 works on Linux without setup), sending
/// `headers` with the upgrade request (e.g. `X-Forwarded-For`). An HTTP
/// refusal of the upgrade is returned as [`Upgrade::Refused`], not an error.
pub async fn raw_connect_from(
    url: &str,
    source: std::net::IpAddr,
    headers: &[(&str, &str)],
) -> Result<Upgrade> {
    use stadtbote_protocol::Event;
    use stadtbote_protocol::frame::ServerBody;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
    }
    let host = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("not a ws:// url: {url}"))?;
    let server: SocketAddr = host.parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("binding {source}"))?;
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(server))
        .await
        .context("connect timeout")??;
    let handshake = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream)),
    )
    .await
    .context("handshake timeout")?;
    let ws = match handshake {
        Ok((ws, _)) => ws,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return Ok(Upgrade::Refused(response.status().as_u16()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut client = RawClient { ws, next_id: 1, nonce: vec![], pow_difficulty: 0, events: vec![] };
    match client.next_body().await? {
        ServerBody::Event { event: Event::Challenge { nonce, pow_difficulty, .. } } => {
            client.nonce = nonce.into_vec();
            client.pow_difficulty = pow_difficulty;
        }
        other => bail!("expected challenge first, got {other:?}"),
    }
    Ok(Upgrade::Open(Box::new(client)))
}

/// The value of an unlabelled metric (`stadtbote_<name>`) or of a labelled
/// one (`name` including its `{...}`) on the `/metrics` listener at `addr`.
pub fn metric(addr: SocketAddr, name: &str) -> Option<u64> {
    let (_, body) = http_get(addr, "/metrics", None).ok()?;
    let prefix = format!("stadtbote_{name} ");
    body.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok())
}

impl Server {
    /// Stops the server and starts it again on the same address with
    /// another data directory and extra environment (e.g. `store =
    /// "postgres"` on a database a migration filled).
    pub fn restart_with_env_on(&mut self, data_dir: PathBuf, env: &[(&str, &str)]) {
        if self.child.is_some() {
            self.terminate();
        }
        for (k, v) in env {
            self.env.retain(|(key, _)| key != k);
            self.env.push((k.to_string(), v.to_string()));
        }
        self.data_dir = data_dir;
        self.spawn();
    }
}

/// Like [`start_proxy`], but it also passes plain HTTP through to the
/// server at `upstream_addr` (`host:port`), so that a browser can load the
/// web app from the proxy's origin and its WebSocket (`/v1/ws` on that
/// origin) goes through `tamper` (s10-follow). Returns the proxy's
/// `http://` origin.
pub fn start_web_proxy(upstream_addr: String, tamper: Tamper) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
    let addr = listener.local_addr().expect("proxy addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proxy runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
            for _ in 0..1024 {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let upstream_addr = upstream_addr.clone();
                let tamper = tamper.clone();
                tokio::spawn(async move {
                    // The request head decides: a WebSocket upgrade is
                    // tampered with, everything else passes as bytes.
                    let mut head = vec![0u8; 8192];
                    let mut seen = 0;
                    for _ in 0..200 {
                        let Ok(n) = stream.peek(&mut head).await else { return };
                        seen = n;
                        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") || n == head.len() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    let text = String::from_utf8_lossy(&head[..seen]).to_ascii_lowercase();
                    if !text.contains("upgrade: websocket") {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&upstream_addr).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut stream, &mut server).await;
                        return;
                    }
                    let Ok(client) = tokio_tungstenite::accept_async(stream).await else { return };
                    let upstream = format!("ws://{upstream_addr}/v1/ws");
                    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await
                    else {
                        return;
                    };
                    let (mut client_tx, mut client_rx) = client.split();
                    let (mut server_tx, mut server_rx) = server.split();
                    let up = async {
                        while let Some(Ok(msg)) = client_rx.next().await {
                            if server_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(msg)) = server_rx.next().await {
                            let msg = match msg {
                                Message::Binary(bytes) => Message::Binary(tamper(&bytes).into()),
                                other => other,
                            };
                            if client_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
    });
    format!("http://{addr}")
}

impl Server {
    /// Starts a server on a given (possibly shared) data directory with the
    /// defaults of [`Server::start_with`] and the given extra environment:
    /// several nodes of one cluster share one data directory
    /// (tests/it/cluster.rs).
    pub fn start_on(data_dir: PathBuf, env: &[(&str, &str)]) -> Server {
        let mut server = Server::start_unspawned(env);
        server.data_dir = data_dir;
        server.spawn();
        server
    }

    fn start_unspawned(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (key, value) in [
            ("STADTBOTE_POW_DIFFICULTY", "0"),
            ("STADTBOTE_TOTP_SKEW_STEPS", "5"),
            ("STADTBOTE_METRICS_LISTEN", ""),
        ] {
            if !env.iter().any(|(k, _)| k == key) {
                env.push((key.into(), value.into()));
            }
        }
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        Server { addr, data_dir, log_path, env, child: None, _dir: Some(dir) }
    }
}
