//! The papercuts a newcomer hit in the first hour (issue 14, item 7), each
//! through the real binaries: a second server on the same machine, a
//! self-signed certificate from `openssl req -x509`, `consult` outside the
//! hours, positional `reopen`/`assign`, TOTP codes and several admin
//! commands within one login, QR files, `channel rotate` in scripts,
//! armored age backups and the operations guide.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{Device, Server, bins, files_below, free_port, json_lines, last_line};
use crate::municipal::{HANDLE, Town};

/// The non-empty lines of a command's stderr.
fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// A `stadtbote-server` command on `data_dir` with only `--listen` given
/// and no configuration from the test's environment.
fn server_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(&bins().server);
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .env_remove("STADTBOTE_CONFIG")
        .env_remove("STADTBOTE_TLS_CERT")
        .env_remove("STADTBOTE_TLS_KEY")
        .env("STADTBOTE_POW_DIFFICULTY", "0")
        .stdin(Stdio::null());
    cmd
}

/// Spawns a server and waits for its "listening on ADDR" line; returns the
/// child (killed by the caller) and the address.
fn spawn_listening(mut cmd: Command) -> (std::process::Child, SocketAddr) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("stadtbote-server listening on ")
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

#[test]
fn a_second_server_with_only_another_listen_says_which_metrics_port_clashes_and_how_to_change_it() {
    let taken = format!("127.0.0.1:{}", free_port());
    let _first = Server::start_with(&[("STADTBOTE_METRICS_LISTEN", &taken)]);
    let dir = tempfile::tempdir().unwrap();

    // The second server gets the same metrics address (as both would with
    // the default): one line naming the address and the option.
    let out = server_command(&dir.path().join("second"))
        .env("STADTBOTE_METRICS_LISTEN", &taken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    for expected in [taken.as_str(), "already in use", "--metrics-listen", "off"] {
        assert!(lines[0].contains(expected), "{expected}: {lines:?}");
    }
    assert!(!lines[0].contains("os error"), "{lines:?}");

    // `--metrics-listen off` starts it without metrics…
    let mut cmd = server_command(&dir.path().join("second"));
    cmd.env("STADTBOTE_METRICS_LISTEN", &taken).args(["--metrics-listen", "off"]);
    let (mut child, addr) = spawn_listening(cmd);
    assert!(matches!(crate::harness::http_get(addr, "/healthz", None), Ok((200, _))));
    child.kill().unwrap();
    child.wait().unwrap();

    // …and `--metrics-listen ADDR` moves them (the flag beats the variable).
    let own: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = server_command(&dir.path().join("second"));
    cmd.env("STADTBOTE_METRICS_LISTEN", &taken).args(["--metrics-listen", &own.to_string()]);
    let (mut child, _) = spawn_listening(cmd);
    // The metrics listener follows the main one by a moment.
    let scraped = crate::harness::eventually(Duration::from_secs(20), || {
        crate::harness::http_get(own, "/metrics", None).ok()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let (status, body) = scraped.unwrap();
    assert!(status == 200 && body.contains("stadtbote_"), "{status} {body}");
}

/// A self-signed certificate as `openssl req -x509` makes it (basic
/// constraints CA:TRUE) for `names`; returns the certificate and key paths.
fn self_signed_ca(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Rust debug text that must never reach a user.
fn assert_plain(line: &str) {
    for debug in ["Other(", "OtherError", "CaUsedAsEndEntity", "InvalidCertificate", "{", "::"] {
        assert!(!line.contains(debug), "debug text {debug:?} in {line:?}");
    }
}

#[test]
fn a_self_signed_ca_true_certificate_given_with_ca_cert_is_trusted_and_tls_failures_are_plain() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_ca(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start_with(&[("STADTBOTE_TLS_CERT", cert), ("STADTBOTE_TLS_KEY", key)]);
    let url = format!("wss://localhost:{}/v1/ws", server.addr.port());

    // The very certificate, given with --ca-cert (or the variable): works.
    let anna = Device::with_url(&url).with_env("STADTBOTE_CA_CERT", cert);
    let bernd = Device::with_url(&url);
    anna.init("Anna");
    let out = bernd.run(&["--ca-cert", cert, "init", "--name", "Bernd"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b = last_line(&String::from_utf8_lossy(&out.stdout));
    anna.ok(&["send", &b, "Hallo über TLS"]);

    // Without it: refused, in one plain sentence.
    let out = Device::with_url(&url).run(&["init", "--name", "Fremd"]);
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("TLS: the server's certificate is not trusted"), "{lines:?}");
    assert!(lines[0].contains("self-signed"), "{lines:?}");
    assert_plain(&lines[0]);

    // Another self-signed certificate is no key to this server: only the
    // exact certificate is trusted as the server's.
    let (other, _) = self_signed_ca(dir.path(), "other", &["localhost", "127.0.0.1"]);
    let out = Device::with_url(&url).run(&["--ca-cert", other.to_str().unwrap(), "init"]);
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not trusted"), "{lines:?}");
    assert_plain(&lines[0]);

    // The name is still checked: a certificate made out for localhost
    // only is refused when the server is reached as 127.0.0.1.
    let (narrow, narrow_key) = self_signed_ca(dir.path(), "narrow", &["localhost"]);
    let narrow = narrow.to_str().unwrap();
    let named = Server::start_with(&[
        ("STADTBOTE_TLS_CERT", narrow),
        ("STADTBOTE_TLS_KEY", narrow_key.to_str().unwrap()),
    ]);
    let by_ip = format!("wss://127.0.0.1:{}/v1/ws", named.addr.port());
    let out = Device::with_url(&by_ip).run(&["--ca-cert", narrow, "init"]);
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("another server name"), "{lines:?}");
    assert_plain(&lines[0]);

    // wss:// to a server without TLS: one plain sentence too.
    let plain = Server::start();
    let out =
        Device::with_url(&format!("wss://127.0.0.1:{}/v1/ws", plain.addr.port())).run(&["init"]);
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_plain(&lines[0]);
}

#[test]
fn consult_outside_the_hours_prints_the_hours_and_exits_3() {
    let town = Town::new(Server::start());
    town.enrol("Büro", "buergermeister");
    town.mayor.ok(&["org", "hours", "set", "Mon 17:00-18:00", "--department", "buergermeister"]);
    let citizen = town.citizen("Bernd Bürger");
    let out = citizen.run(&["consult", HANDLE, "Ist der Bürgermeister heute da?"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("Your question was not sent"), "{stdout}");
    assert!(stdout.contains("Mon 17:00-18:00"), "{stdout}");
    assert!(stderr_lines(&out).is_empty(), "no error line besides the text: {out:?}");
}

#[test]
fn reopen_and_assign_take_their_argument_positionally_and_refuse_it_twice() {
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

    let twice = town.clerk.fails(&["assign", &thread, "gruen", "--department", "bauhof"]);
    assert!(twice.contains("given twice") && twice.contains("--department"), "{twice}");
    let none = town.clerk.fails(&["assign", &thread]);
    assert!(none.contains("stadtbote assign THREAD DEPARTMENT"), "{none}");
    town.clerk.ok(&["assign", &thread, "gruen"]);
    let theirs = json_lines(&gardener.ok(&["threads", "--json"]));
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["department"], "gruen");

    gardener.ok(&[
        "reply",
        &thread,
        "Der Baum ist weg.",
        "--status",
        "resolved",
        "--reason",
        "zersägt",
    ]);
    citizen.ok(&["threads", "--json"]);
    let twice = citizen.fails(&["reopen", &thread, "Noch Äste da", "--reason", "Äste"]);
    assert!(twice.contains("given twice") && twice.contains("--reason"), "{twice}");
    citizen.ok(&["reopen", &thread, "Es liegen noch Äste auf dem Weg"]);
    let shown: serde_json::Value =
        serde_json::from_str(&gardener.ok(&["show", &thread, "--json"])).unwrap();
    assert_eq!(shown["status"], "reopened", "{shown}");
    assert!(shown.to_string().contains("Es liegen noch Äste auf dem Weg"), "{shown}");
}

/// Runs `stadtbote ARGS` on `device` with `input` on standard input.
fn run_with_input(device: &Device, args: &[&str], input: &str) -> Output {
    let mut child = device
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `stadtbote ARGS` on `device` inside a pseudo-terminal (util-linux
/// `script`) with `input` typed in; returns the exit code and everything
/// the terminal showed (the input's echo, stdout and stderr).
fn run_on_terminal(device: &Device, args: &[&str], input: &str) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = vec![
        quote(bins().cli.to_str().unwrap()),
        "--home".to_string(),
        quote(device.home.to_str().unwrap()),
        "--server".to_string(),
        quote(&device.server_url),
    ];
    line.extend(args.iter().map(|a| quote(a)));
    let mut child = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env_remove("STADTBOTE_HOME")
        .env_remove("STADTBOTE_SERVER")
        .env_remove("STADTBOTE_CA_CERT")
        .env_remove("STADTBOTE_OTP")
        .current_dir(device.home.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let shown =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), shown)
}

/// The audit log's accepted entries with `action`.
fn audit_count(town: &Town, action: &str) -> usize {
    json_lines(&town.admin_ok(&["admin", "audit", "--json"]))
        .iter()
        .filter(|e| e["action"] == action && e["outcome"] == "ok")
        .count()
}

#[test]
fn an_older_code_is_not_called_used_and_several_admin_commands_run_within_one_login() {
    let town = Town::new(Server::start());
    // The authenticator shows the next code a little early: it is used
    // first, then the current one. The current one was never used.
    let current = town.admin_totp.fresh();
    let next = town.admin_totp.fresh();
    town.admin.ok(&["--otp", &next, "admin", "stats"]);
    let err = town.admin.fails(&["--otp", &current, "admin", "stats"]);
    assert!(err.contains("older than the last one used"), "{err}");
    assert!(err.contains("wait for the next code"), "{err}");
    assert!(!err.contains("already used"), "{err}");

    // A batch: one login, one code, several commands; comments and blank
    // lines skipped; each command audited.
    let stats_before = audit_count(&town, "admin.stats");
    let otp = town.admin_totp.fresh();
    let input = "# morning round\n\nstats\n  org list --json\n\
                 org create 'Gemeinde Zweidorf' --handle zweidorf\nstats --json\n";
    let out = run_with_input(&town.admin, &["admin", "--otp", &otp, "batch"], input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("  Accounts:"), "{stdout}");
    assert!(stdout.contains(&format!("\"handle\":\"{HANDLE}\"")), "{stdout}");
    assert!(stdout.contains("Created the org Gemeinde Zweidorf"), "{stdout}");
    // Each command is audited, all after the batch's one login and with
    // no login between them.
    let entries = json_lines(&town.admin_ok(&["admin", "audit", "--json"]));
    let stats: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i]["action"] == "admin.stats" && entries[i]["outcome"] == "ok")
        .collect();
    assert_eq!(stats.len(), stats_before + 2, "each command audited: {entries:?}");
    let (first, last) = (stats[stats.len() - 2], stats[stats.len() - 1]);
    let created = entries
        .iter()
        .position(|e| e["action"] == "admin.org-create" && e["target"] == "zweidorf")
        .expect("the org creation is audited");
    assert!(first < created && created < last, "{entries:?}");
    let login = |e: &serde_json::Value| e["action"] == "second-factor";
    assert!(!entries[first..=last].iter().any(login), "one login for the batch: {entries:?}");
    assert!(entries[..first].iter().rev().find(|e| login(e)).is_some_and(|e| e["outcome"] == "ok"));

    // The first failure stops the batch, naming its line; exit code 1.
    let otp = town.admin_totp.fresh();
    let input = "stats\norg suspend no-such-town\norg create 'Dritte' --handle dritte\n";
    let out = run_with_input(&town.admin, &["admin", "--otp", &otp, "batch"], input);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: line 2: "), "{lines:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Dritte"), "stopped at line 2");
    let otp = town.admin_totp.fresh();
    let out =
        run_with_input(&town.admin, &["admin", "--otp", &otp, "batch"], "stats\nfrobnicate\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("frobnicate"), "{err}");

    // The shell keeps going after a failed command.
    let otp = town.admin_totp.fresh();
    let input = "org list\nfrobnicate\nstats\nexit\nstats\n";
    let out = run_with_input(&town.admin, &["admin", "--otp", &otp, "shell"], input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(HANDLE) && stdout.matches("  Accounts:").count() == 1, "{stdout}");
    assert!(stderr.contains("frobnicate"), "{stderr}");

    // On a terminal the shell prompts.
    let otp = town.admin_totp.fresh();
    let (code, shown) =
        run_on_terminal(&town.admin, &["--otp", &otp, "admin", "shell"], "stats\nexit\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("admin> ") && shown.contains("  Accounts:"), "{shown}");
}

/// Files directly in `dir` (not below it) with extension `ext`.
fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect()
}

#[test]
fn qr_files_go_under_home_and_channel_rotate_in_a_script_needs_yes() {
    let town = Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let cwd = press.home.parent().unwrap().to_path_buf();
    let qr_dir = press.home.join("qr");

    let out = press.ok(&["channel", "create", "Amtsblatt"]);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Channel Amtsblatt created: "))
        .expect("channel id")
        .to_string();
    let invite = last_line(&out);
    assert!(out.contains(&qr_dir.display().to_string()), "where the files went: {out}");
    assert_eq!(files_in(&qr_dir, "png").len(), 1, "{:?}", files_below(&qr_dir));
    assert_eq!(files_in(&qr_dir, "svg").len(), 1);
    let fp = town.mayor.ok(&["org", "fingerprint"]);
    let mayor_qr = town.mayor.home.join("qr");
    assert!(fp.contains(&mayor_qr.display().to_string()), "{fp}");
    assert_eq!(files_in(&mayor_qr, "png").len(), 1);
    for dir in [&cwd, &town.mayor.home.parent().unwrap().to_path_buf()] {
        assert!(files_in(dir, "png").is_empty(), "nothing in the working directory {dir:?}");
    }

    // Without a terminal and --yes: refused, nothing changed.
    let follower = Device::new(&town.server);
    follower.ok(&["follow", &invite]);
    let err = press.fails(&["channel", "rotate", &id]);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(err.contains("--yes") && err.contains("cuts every follower off"), "{err}");
    press.ok(&["channel", "post", &id, "Wochenmarkt am Samstag"]);
    let feed = json_lines(&follower.ok(&["feed", "--json"]));
    assert!(feed.iter().any(|p| p["text"] == "Wochenmarkt am Samstag"), "{feed:?}");

    // On a terminal: explained and asked; "n" changes nothing.
    let (code, shown) = run_on_terminal(&press, &["channel", "rotate", &id], "n\n");
    assert_eq!(code, Some(1), "{shown}");
    for expected in ["Every follower stops receiving new posts", "[y/N]", "not rotated"] {
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
    assert_eq!(files_in(&qr_dir, "png").len(), 1, "nothing rotated");

    // "y" rotates and shows the new link with a QR code on the terminal.
    let (code, shown) = run_on_terminal(&press, &["channel", "rotate", &id], "y\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains('█') && shown.contains('▀'), "a QR code on the terminal: {shown}");
    let shown_link = shown
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("stadtbote:channel:"))
        .expect("the new link")
        .to_string();
    assert_ne!(shown_link, invite);
    assert_eq!(files_in(&qr_dir, "png").len(), 2, "one file per key epoch");

    // With --yes (scripts): rotated, the new link and QR files printed.
    let out = press.ok(&["channel", "rotate", &id, "--yes"]);
    let new_invite = last_line(&out);
    assert_ne!(new_invite, shown_link);
    assert!(out.contains("QR code (PNG)"), "{out}");
    assert_eq!(files_in(&qr_dir, "png").len(), 3, "one file per key epoch");
}

#[test]
fn an_ascii_armored_age_backup_is_verified_and_restored() {
    let town = Town::new(Server::start());
    let anna = town.citizen("Anna Acker");
    let bernd = town.citizen("Bernd Bach");
    let b = bernd.whoami()["account"].as_str().unwrap().to_string();
    anna.ok(&["send", &b, "Gepanzerter Gruß"]);

    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("operator.key");
    let out = Server::tool(&["backup-key", "generate", "--out", key.to_str().unwrap()]);
    assert!(out.status.success());
    let recipient = last_line(&String::from_utf8_lossy(&out.stdout));
    let binary = work.path().join("sealed.sbk");
    town.admin_ok(&["admin", "backup", binary.to_str().unwrap(), "--recipient", &recipient]);

    // Armor it as `age -a` does, with the age library's own writer.
    let armored = work.path().join("sealed.sbk.age");
    {
        use age::armor::{ArmoredWriter, Format};
        let file = std::fs::File::create(&armored).unwrap();
        let mut writer = ArmoredWriter::wrap_output(file, Format::AsciiArmor).unwrap();
        writer.write_all(&std::fs::read(&binary).unwrap()).unwrap();
        writer.finish().unwrap();
    }
    let text = std::fs::read_to_string(&armored).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{}", &text[..40]);

    let (armored, key) = (armored.to_str().unwrap(), key.to_str().unwrap());
    let out = Server::tool(&["verify-backup", armored]);
    assert!(!out.status.success(), "an armored backup still needs the key");
    let out = Server::tool(&["verify-backup", armored, "--identity", key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("encrypted true"));
    let restored = work.path().join("restored");
    let out = Server::tool(&[
        "restore",
        armored,
        "--data-dir",
        restored.to_str().unwrap(),
        "--identity",
        key,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut server = town.server;
    server.restart_on(restored);
    assert_eq!(bernd.inbox_texts(), ["Gepanzerter Gruß"]);
}

#[test]
fn the_operations_guide_names_the_online_backup_command() {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/OPERATIONS.md"),
    )
    .unwrap();
    assert!(!guide.contains("no online backup command"), "outdated claim in OPERATIONS.md");
    assert!(guide.contains("stadtbote --otp CODE admin backup"), "the command, as run");
    // The guide's command runs: the admin backup exists and takes its flags.
    let help = Command::new(&bins().cli).args(["admin", "backup", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--recipient") && help.contains("--insecure-plaintext"), "{help}");
}
