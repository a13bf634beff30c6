//! Municipal accounts end to end: a server admin creates the town's org, the
//! org admin sets up categories and enrols a clerk, citizens report road
//! damage with photos and hold consultations — all through the real binaries.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stadtbote_protocol::totp::{self, Secret};

use crate::harness::{Device, Server, contains_bytes, files_below, json_lines, last_line};
use crate::photos;

pub const HANDLE: &str = "musterhausen";
pub const TOWN: &str = "Stadt Musterhausen";

/// A town with a server admin, an org admin (the mayor's office) and one
/// clerk of the Bauhof.
pub struct Town {
    pub server: Server,
    pub admin: Device,
    pub mayor: Device,
    pub clerk: Device,
    /// The server admin's TOTP secret, as printed by `admin claim`.
    pub admin_totp: Totp,
    /// The org's TOTP secret once a test ran `org 2fa enable`.
    pub mayor_totp: Mutex<Option<Totp>>,
}

/// The skew window the harness starts servers with
/// (`STADTBOTE_TOTP_SKEW_STEPS`).
pub const TEST_SKEW_STEPS: u64 = 5;

/// A TOTP secret and the newest time step a test used with it: each code
/// the server accepts must be of a newer step.
pub struct Totp {
    secret: Secret,
    last_step: Mutex<Option<u64>>,
}

impl Totp {
    /// Reads the base32 secret from the output of `admin claim` or
    /// `org 2fa enable`.
    pub fn from_output(out: &str) -> Totp {
        assert!(out.contains("otpauth://totp/Stadtbote:") && out.contains("secret="), "{out}");
        let base32 = out
            .lines()
            .find_map(|line| line.strip_prefix("secret (base32): "))
            .unwrap_or_else(|| panic!("no base32 secret in {out}"));
        let secret = Secret::from_base32(base32).expect("base32 secret");
        Totp { secret, last_step: Mutex::new(None) }
    }

    fn now_secs() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
    }

    /// A code the server has never seen: the step after the last used one,
    /// but not older than the window; waits when the window is used up.
    pub fn fresh(&self) -> String {
        let mut last = self.last_step.lock().unwrap_or_else(|e| e.into_inner());
        let now_step = totp::step_at(Self::now_secs());
        // The oldest step the window accepts in 10 s: a code at the very
        // edge of the window can expire while a loaded machine starts the
        // CLI and it reaches the server ("wrong code" flakes).
        let floor = totp::step_at(Self::now_secs() + 10).saturating_sub(TEST_SKEW_STEPS);
        let step = last.map_or(0, |l| l + 1).max(floor);
        if step > now_step + TEST_SKEW_STEPS {
            let valid_from = (step - TEST_SKEW_STEPS) * totp::STEP_SECS;
            std::thread::sleep(Duration::from_secs(valid_from.saturating_sub(Self::now_secs())));
        }
        *last = Some(step);
        totp::code_for_step(&self.secret, step)
    }

    /// A code the server has already accepted (the last used step).
    pub fn replayed(&self) -> String {
        let last = self.last_step.lock().unwrap_or_else(|e| e.into_inner());
        totp::code_for_step(&self.secret, last.expect("a code was used before"))
    }
}

/// `--otp CODE` followed by `args`.
fn with_otp<'a>(code: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--otp", code];
    all.extend_from_slice(args);
    all
}

impl Town {
    pub fn new(server: Server) -> Town {
        let admin = Device::new(&server);
        admin.init("Server-Admin");
        let code_file = server.data_dir.join("admin-claim.code");
        let code = std::fs::read_to_string(&code_file).expect("admin claim code file");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&code_file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "admin-claim.code mode {mode:o}");
        }
        assert!(!server.log().contains(code.trim()), "the claim code is never logged");
        let claimed = admin.ok(&["admin", "claim", code.trim()]);
        let admin_totp = Totp::from_output(&claimed);
        assert!(!code_file.exists(), "the claim code is gone once used");
        admin.fails(&["admin", "claim", code.trim()]);

        let otp = admin_totp.fresh();
        let org_code = last_line(
            &admin.ok(&with_otp(&otp, &["admin", "org", "create", TOWN, "--handle", HANDLE])),
        );
        let mayor = Device::new(&server);
        mayor.init("Bürgermeisterin Berg");
        mayor.ok(&["org", "claim", &org_code]);
        mayor.ok(&["org", "category", "add", "Straßenschaden", "--department", "bauhof"]);

        let clerk = Device::new(&server);
        clerk.init("Klaus Kehrer");
        let invite = last_line(&mayor.ok(&[
            "org",
            "invite-staff",
            "--department",
            "bauhof",
            "--role",
            "clerk",
        ]));
        let enrolled = clerk.ok(&["enroll", &invite]);
        assert!(enrolled.contains("bauhof"), "{enrolled}");
        let town = Town { server, admin, mayor, clerk, admin_totp, mayor_totp: Mutex::new(None) };
        town.approve(&town.clerk);
        town
    }

    /// The org admin's device approves `device`'s pending enrolment with
    /// the org key (`org approve`); until then no client accepts it.
    pub fn approve(&self, device: &Device) -> String {
        self.mayor_ok(&["org", "approve", &device.device_id()])
    }

    /// Enrols another staff device (role clerk) and returns it.
    pub fn enrol(&self, name: &str, department: &str) -> Device {
        self.enrol_as(name, department, "clerk")
    }

    /// Enrols another staff device with `role` and returns it.
    pub fn enrol_as(&self, name: &str, department: &str, role: &str) -> Device {
        let device = Device::new(&self.server);
        device.init(name);
        let code = last_line(&self.mayor.ok(&[
            "org",
            "invite-staff",
            "--department",
            department,
            "--role",
            role,
        ]));
        device.ok(&["enroll", &code]);
        self.approve(&device);
        device
    }

    pub fn citizen(&self, name: &str) -> Device {
        let device = Device::new(&self.server);
        device.init(name);
        device
    }

    /// Runs a server-admin command on the admin device with whatever second
    /// factor it needs; panics unless it succeeds. Tests run admin commands
    /// through this (not `town.admin.ok`), so the second factor lives in one place.
    pub fn admin_ok(&self, args: &[&str]) -> String {
        let otp = self.admin_totp.fresh();
        self.admin.ok(&with_otp(&otp, args))
    }

    /// Like [`Town::admin_ok`] but expects failure; returns stderr.
    pub fn admin_fails(&self, args: &[&str]) -> String {
        let otp = self.admin_totp.fresh();
        self.admin.fails(&with_otp(&otp, args))
    }

    /// Turns on the org's second factor (`org 2fa enable` on the mayor's
    /// device); from then on use [`Town::mayor_ok`] for org-admin commands.
    pub fn enable_org_2fa(&self) {
        let out = self.mayor.ok(&["org", "2fa", "enable"]);
        *self.mayor_totp.lock().unwrap_or_else(|e| e.into_inner()) = Some(Totp::from_output(&out));
    }

    /// Runs an org-admin command on the mayor's device with a fresh code of
    /// the org's second factor (or none before [`Town::enable_org_2fa`]).
    pub fn mayor_ok(&self, args: &[&str]) -> String {
        let totp = self.mayor_totp.lock().unwrap_or_else(|e| e.into_inner());
        match totp.as_ref() {
            Some(totp) => {
                let otp = totp.fresh();
                self.mayor.ok(&with_otp(&otp, args))
            }
            None => self.mayor.ok(args),
        }
    }
}

fn show(device: &Device, thread: &str, save: Option<&Path>) -> serde_json::Value {
    let mut args = vec!["show", thread, "--json"];
    let save_str;
    if let Some(dir) = save {
        save_str = dir.to_string_lossy().into_owned();
        args.extend(["--save", &save_str]);
    }
    serde_json::from_str(device.ok(&args).trim()).expect("show --json")
}

#[test]
fn a_citizen_reports_road_damage_with_a_photo_and_the_bauhof_resolves_it() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla Citizen");

    // The org publishes its fingerprint with a QR code for posters.
    let qr_dir = tempfile::tempdir().unwrap();
    let fp_out = town.mayor.ok(&["org", "fingerprint", "--out", &qr_dir.path().to_string_lossy()]);
    let pngs: Vec<_> = files_below(qr_dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(pngs.len(), 1, "{fp_out}");
    assert!(std::fs::read(&pngs[0]).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg =
        files_below(qr_dir.path()).into_iter().find(|p| p.extension().is_some_and(|e| e == "svg"));
    assert!(std::fs::read_to_string(svg.expect("svg")).unwrap().contains("<svg"));

    let (jpeg, exif) = photos::jpeg_with_metadata();
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = photo_dir.path().join("schlagloch.jpg");
    std::fs::write(&photo, &jpeg).unwrap();
    let text = "Tiefes Schlagloch vor Hausnummer 12, Radfahrer gefährdet";
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--photo",
        &photo.to_string_lossy(),
        "--location",
        "51.906123,10.429087",
        text,
    ]));
    assert!(stadtbote_protocol::GroupId::parse(&thread).is_ok(), "thread id: {thread}");

    // The citizen can verify the pinned key against the poster.
    let fingerprint = crate::harness::fingerprint_in(&fp_out).expect("fingerprint line");
    citizen.ok(&["verify", HANDLE, &fingerprint]);
    citizen.fails(&["verify", HANDLE, "0000 0000 0000 0000 0000 0000 0000 0000"]);

    // The clerk sees it in the team inbox.
    let inbox = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["thread"], thread.as_str());
    assert_eq!(inbox[0]["category"], "Straßenschaden");
    assert_eq!(inbox[0]["status"], "open");
    assert!(inbox[0]["updated_at"].as_u64().is_some());
    let filtered = json_lines(&town.clerk.ok(&["threads", "--json", "--status", "resolved"]));
    assert!(filtered.is_empty());

    // The clerk saves the photo: same pixels, no metadata.
    let save = tempfile::tempdir().unwrap();
    let shown = show(&town.clerk, &thread, Some(save.path()));
    assert_eq!(shown["messages"][0]["text"], text);
    assert_eq!(shown["location"]["lat"], 51.906123);
    assert_eq!(shown["location"]["lon"], 10.429087);
    let saved_path = shown["messages"][0]["photos"][0]["saved_to"].as_str().expect("saved_to");
    let saved = std::fs::read(saved_path).expect("saved photo");
    assert_eq!(photos::pixels(&saved), photos::pixels(&jpeg), "pixels identical");
    assert!(!contains_bytes(&saved, b"Exif\0\0"), "EXIF removed");
    assert!(!photos::shares_a_run(&saved, &exif, 16), "no EXIF/GPS bytes left");
    assert!(!contains_bytes(&saved, photos::COMMENT.as_bytes()), "comment removed");
    assert!(!contains_bytes(&saved, b"xmpmeta"), "XMP removed");

    // Replies with status changes; resolving needs a reason.
    town.clerk.ok(&["reply", &thread, "Danke, wir schauen uns das an.", "--status", "in-progress"]);
    let err = town.clerk.fails(&["reply", &thread, "Erledigt.", "--status", "resolved"]);
    assert!(err.contains("reason"), "{err}");
    town.clerk.ok(&[
        "reply",
        &thread,
        "Das Schlagloch ist geflickt.",
        "--status",
        "resolved",
        "--reason",
        "Asphalt am 22.11. ausgebessert",
    ]);

    // The citizen sees both replies, as from the town, and the statuses.
    let seen = show(&citizen, &thread, None);
    assert_eq!(seen["status"], "resolved", "{seen}");
    let texts: Vec<&str> =
        seen["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(
        texts.contains(&"Danke, wir schauen uns das an.")
            && texts.contains(&"Das Schlagloch ist geflickt."),
        "{seen}"
    );
    let replies: Vec<&serde_json::Value> =
        seen["messages"].as_array().unwrap().iter().skip(1).collect();
    for reply in &replies {
        let shown_as = reply["as_org"].as_str().or(reply["from_name"].as_str()).unwrap_or_default();
        assert!(shown_as.contains(TOWN), "reply shown as the town: {reply}");
        assert!(!reply.to_string().contains("Klaus Kehrer"), "clerk's name hidden: {reply}");
    }
    let history: Vec<(String, String)> = seen["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap_or_default().to_string(),
                h["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(history.iter().any(|(s, _)| s == "in-progress"), "{history:?}");
    assert!(
        history.iter().any(|(s, r)| s == "resolved" && r == "Asphalt am 22.11. ausgebessert"),
        "{history:?}"
    );
    let mine = json_lines(&citizen.ok(&["threads", "--json"]));
    assert_eq!(mine[0]["status"], "resolved");

    // The citizen reopens; the clerk sees the reason.
    citizen.ok(&["reopen", &thread, "--reason", "Wieder aufgebrochen nach Frost"]);
    let again = show(&town.clerk, &thread, None);
    assert_eq!(again["status"], "reopened", "{again}");

    // Nothing readable on the server's disk.
    let mut server = town.server;
    server.terminate();
    for file in files_below(&server.data_dir) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [
            text,
            "Danke, wir schauen uns das an.",
            "Das Schlagloch ist geflickt.",
            "Asphalt am 22.11. ausgebessert",
            "Wieder aufgebrochen nach Frost",
            "51.906123",
            "10.429087",
            "Carla Citizen",
            "Klaus Kehrer",
        ] {
            assert!(!contains_bytes(&bytes, secret.as_bytes()), "{secret:?} in {}", file.display());
        }
        for coordinate in [51.906123f64, 10.429087f64] {
            assert!(
                !contains_bytes(&bytes, &coordinate.to_be_bytes()),
                "raw coordinate in {}",
                file.display()
            );
        }
        assert!(
            !photos::shares_a_run(&bytes, &jpeg, 64),
            "a 64-byte run of the photo in {}",
            file.display()
        );
    }
}

#[test]
fn used_and_expired_codes_fail_clearly_and_revoked_staff_receive_nothing_new() {
    let town = Town::new(Server::start_with(&[("STADTBOTE_ORG_CLAIM_CODE_TTL_SECS", "1")]));

    // A used staff invitation.
    let code = last_line(&town.mayor.ok(&[
        "org",
        "invite-staff",
        "--department",
        "bauhof",
        "--role",
        "clerk",
    ]));
    let second = town.citizen("Zweite Kraft");
    second.ok(&["enroll", &code]);
    town.approve(&second);
    let third = town.citizen("Dritte Kraft");
    let err = third.fails(&["enroll", &code]);
    assert!(err.contains("already used"), "{err}");
    let err = third.fails(&["enroll", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-IIII-J"]);
    assert!(err.to_lowercase().contains("code"), "{err}");

    // An expired org-admin code.
    let org_code = last_line(&town.admin_ok(&[
        "admin",
        "org",
        "create",
        "Gemeinde Spät",
        "--handle",
        "spaet",
    ]));
    // Past its 1 s lifetime, but before the server forgets it (one more
    // lifetime), so the answer is precisely "expired".
    std::thread::sleep(Duration::from_millis(1300));
    let late = town.citizen("Zu spät");
    let err = late.fails(&["org", "claim", &org_code]);
    assert!(err.contains("expired"), "{err}");

    // Both Bauhof devices are in a new report thread; then one is revoked.
    let citizen = town.citizen("Carla");
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Laterne defekt",
    ]));
    assert_eq!(json_lines(&second.ok(&["threads", "--json"])).len(), 1);
    let revoked_device = second.device_id();
    town.mayor.ok(&["org", "revoke", &revoked_device]);
    let staff = json_lines(&town.mayor.ok(&["org", "staff", "--json"]));
    assert!(
        staff.iter().any(|s| s["device"] == revoked_device.as_str() && s["revoked"] == true),
        "{staff:?}"
    );

    citizen.ok(&["reply", &thread, "Nachtrag nach dem Widerruf"]);
    let clerk_view = show(&town.clerk, &thread, None);
    assert!(clerk_view.to_string().contains("Nachtrag nach dem Widerruf"));
    let revoked_view = second.run(&["show", &thread, "--json"]);
    assert!(
        !String::from_utf8_lossy(&revoked_view.stdout).contains("Nachtrag nach dem Widerruf"),
        "a revoked device received a new message"
    );
}

/// Weekday (0 = Monday) three days from now: certainly not "now" in any time zone.
fn weekday_not_today() -> &'static str {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            / 86_400;
    // 1970-01-01 was a Thursday (index 3).
    let today = (days + 3) % 7;
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][((today + 3) % 7) as usize]
}

#[test]
fn consultation_outside_hours_shows_hours_and_auto_reply_and_live_requests_queue_in_order() {
    let town = Town::new(Server::start());
    let office = town.enrol("Büro der Bürgermeisterin", "buergermeister");
    let slot = format!("{} 17:00-18:00", weekday_not_today());
    town.mayor.ok(&[
        "org",
        "hours",
        "set",
        &slot,
        "--auto-reply",
        "Die Sprechstunde ist dienstags. Wir melden uns.",
        "--department",
        "buergermeister",
    ]);

    let early = town.citizen("Frühe Frage");
    // Not sent: exit code 3 (issue 14), the hours and auto-reply on stdout.
    let out = early.run(&["consult", HANDLE, "Wann wird die Brücke saniert?"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.contains(&slot), "hours shown: {out}");
    assert!(
        out.contains("Die Sprechstunde ist dienstags. Wir melden uns."),
        "auto-reply shown: {out}"
    );

    town.mayor.ok(&["org", "hours", "live", "on"]);
    let names = ["Erste", "Zweite", "Dritte"];
    let mut accounts = Vec::new();
    for name in names {
        let citizen = town.citizen(name);
        accounts.push(citizen.whoami()["account"].as_str().unwrap().to_string());
        let out = citizen.ok(&["consult", HANDLE, &format!("Frage von {name}")]);
        assert!(stadtbote_protocol::GroupId::parse(&last_line(&out)).is_ok(), "{out}");
        // Distinct arrival times.
        std::thread::sleep(Duration::from_millis(20));
    }
    let queue = json_lines(&office.ok(&["threads", "--consult", "--json"]));
    let live: Vec<String> = queue
        .iter()
        .filter(|t| accounts.iter().any(|a| t["citizen"] == a.as_str()))
        .map(|t| t["citizen"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(live, accounts, "arrival order: {queue:?}");
    town.mayor.ok(&["org", "hours", "live", "off"]);
}

#[test]
fn an_oversized_photo_is_refused_with_nothing_stored_and_an_interrupted_upload_resumes() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Foto-Fan");
    let dir = tempfile::tempdir().unwrap();

    let huge = dir.path().join("riesig.jpg");
    std::fs::write(&huge, photos::big_jpeg(21_000_000)).unwrap();
    let err = citizen.fails(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--photo",
        &huge.to_string_lossy(),
        "zu groß",
    ]);
    assert!(err.contains("20 MB"), "{err}");
    let blobs = town.server.data_dir.join("blobs");
    assert!(files_below(&blobs).is_empty(), "nothing stored: {:?}", files_below(&blobs));
    assert!(json_lines(&town.clerk.ok(&["threads", "--json"])).is_empty());

    // Kill the CLI while it uploads a large photo, then let the next command
    // resume where the server stopped.
    let big = photos::big_jpeg(12_000_000);
    let big_path = dir.path().join("gross.jpg");
    std::fs::write(&big_path, &big).unwrap();
    let mut interrupted = false;
    for _attempt in 0..5 {
        let mut child = std::process::Command::new(&crate::harness::bins().cli)
            .arg("--home")
            .arg(&citizen.home)
            .arg("--server")
            .arg(&citizen.server_url)
            .args(["report", HANDLE, "--category", "Straßenschaden", "--photo"])
            .arg(&big_path)
            .arg("Großes Foto")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut killed = false;
        while Instant::now() < deadline {
            let partial = files_below(&blobs).into_iter().any(|p| {
                std::fs::metadata(&p).map(|m| m.len() > 0 && m.len() < 11_000_000).unwrap_or(false)
                    && p.to_string_lossy().ends_with(".part")
            });
            if partial {
                let _ = child.kill();
                killed = true;
                break;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.wait();
        if killed {
            interrupted = true;
            break;
        }
    }
    assert!(interrupted, "could not interrupt an upload in five attempts");
    // The next command that reaches the server continues the upload where
    // the server's copy ends (it says so) and then sends the report.
    let resumed = citizen.run(&["inbox"]);
    assert!(resumed.status.success(), "{resumed:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(said.contains("resumed upload at chunk"), "{said}");
    assert!(json_lines(&citizen.ok(&["outbox", "--json"])).is_empty(), "outbox drained");
    let threads = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert_eq!(threads.len(), 1, "the report arrived after resuming: {threads:?}");
    let save = tempfile::tempdir().unwrap();
    let shown = show(&town.clerk, threads[0]["thread"].as_str().unwrap(), Some(save.path()));
    let saved =
        std::fs::read(shown["messages"][0]["photos"][0]["saved_to"].as_str().unwrap()).unwrap();
    assert_eq!(saved.len(), big.len());
    assert!(saved == big, "the resumed photo arrived intact");
}

/// A server admin on `server` who claimed the server and created the org
/// `name` (`handle`); returns the admin, its second factor and the
/// org-admin code.
pub(crate) fn org_created(server: &Server, name: &str, handle: &str) -> (Device, Totp, String) {
    let admin = Device::new(server);
    admin.init("Server-Admin");
    let code = std::fs::read_to_string(server.data_dir.join("admin-claim.code")).unwrap();
    let totp = Totp::from_output(&admin.ok(&["admin", "claim", code.trim()]));
    let otp = totp.fresh();
    let org_code =
        last_line(&admin.ok(&["--otp", &otp, "admin", "org", "create", name, "--handle", handle]));
    (admin, totp, org_code)
}
