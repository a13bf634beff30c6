//! The town works right after `stadtbote org claim` (issue 14 item 2), and
//! anyone can read a town's verified public profile with `stadtbote org
//! info HANDLE` (item 3), even before `stadtbote init`.

use crate::harness::{Device, Server, fingerprint_in, json_lines, last_line};
use crate::municipal::org_created;

const HANDLE: &str = "neustadt";
const TOWN: &str = "Stadt Neustadt";

/// The mayor's device claims the org; returns it and what `claim` printed.
fn claimed(server: &Server) -> (Device, String) {
    let (_admin, _totp, org_code) = org_created(server, TOWN, HANDLE);
    let mayor = Device::new(server);
    mayor.init("Bürgermeisterin");
    let out = mayor.ok(&["org", "claim", &org_code]);
    (mayor, out)
}

/// A citizen asks in a live consultation; returns the thread.
fn consult(citizen: &Device, question: &str) -> String {
    let out = citizen.ok(&["consult", HANDLE, question]);
    last_line(&out)
}

#[test]
fn right_after_claim_the_org_admin_publishes_moderates_and_answers_consultations() {
    let server = Server::start();
    let (mayor, out) = claimed(&server);
    assert!(
        out.contains("role admin (includes publisher and clerk), department buergermeister"),
        "{out}"
    );
    assert!(fingerprint_in(&out).is_some(), "the fingerprint is still printed: {out}");

    // The claiming device is on the org's signed staff list, approved.
    let staff = json_lines(&mayor.ok(&["org", "staff", "--json"]));
    assert_eq!(staff.len(), 1, "{staff:?}");
    assert_eq!(staff[0]["device"], mayor.device_id().as_str());
    assert_eq!(staff[0]["role"], "admin");
    assert_eq!(staff[0]["department"], "buergermeister");

    // Publisher: a channel; moderator: a discussion group.
    let created = mayor.ok(&["channel", "create", "Amtsblatt", "--retention-days", "30"]);
    assert!(created.contains("stadtbote://") || created.contains("Amtsblatt"), "{created}");
    let group = last_line(&mayor.ok(&["group", "create", "Bürgerforum"]));
    assert!(!group.is_empty());

    // Clerk of the default department: hours (no --department), live, a
    // citizen's question, the office's answer.
    let set = mayor.run(&["org", "hours", "set", "Mon 17:00-18:00"]);
    assert!(set.status.success());
    let (stdout, stderr) =
        (String::from_utf8_lossy(&set.stdout), String::from_utf8_lossy(&set.stderr));
    assert!(stdout.contains("Consultations go to department buergermeister."), "{stdout}");
    assert!(!stderr.contains("warning"), "the default department has staff: {stderr}");
    mayor.ok(&["org", "hours", "live", "on"]);
    let citizen = Device::new(&server);
    citizen.init("Carla Citizen");
    let thread = consult(&citizen, "Wann wird die Brücke saniert?");
    let queue = json_lines(&mayor.ok(&["threads", "--consult", "--json"]));
    assert_eq!(queue.len(), 1, "{queue:?}");
    mayor.ok(&["reply", &thread, "Im Frühjahr.", "--status", "acknowledged"]);
    let shown = citizen.ok(&["show", &thread, "--json"]);
    assert!(shown.contains("Im Frühjahr."), "{shown}");
}

#[test]
fn hours_for_another_department_say_what_to_run_and_rotation_keeps_the_admin_device_staff() {
    let server = Server::start();
    let (mayor, _) = claimed(&server);
    let set = mayor.run(&["org", "hours", "set", "Tue 09:00-11:00", "--department", "rathaus"]);
    assert!(set.status.success());
    let stdout = String::from_utf8_lossy(&set.stdout);
    let stderr = String::from_utf8_lossy(&set.stderr);
    assert!(stdout.contains("Consultations go to department rathaus."), "{stdout}");
    assert!(stderr.contains("org enroll-self --department rathaus"), "{stderr}");
    assert!(stderr.contains("org invite-staff --department rathaus"), "{stderr}");
    mayor.ok(&["org", "hours", "live", "on"]);

    // Nobody is staff of rathaus: the citizen is told what the town must
    // do, never to try again later.
    let citizen = Device::new(&server);
    citizen.init("Bernd Bürger");
    let err = citizen.fails(&["consult", HANDLE, "Hallo?"]);
    assert!(!err.contains("try again later"), "{err}");
    assert!(err.contains("org invite-staff --department rathaus"), "{err}");

    // A later `hours set` without --department keeps rathaus.
    mayor.run(&["org", "hours", "set", "Tue 09:00-12:00"]);
    let info = mayor.ok(&["org", "info", HANDLE, "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(info["consult_department"], "rathaus");

    let out = mayor.ok(&["org", "enroll-self", "--department", "rathaus"]);
    assert!(out.contains("department rathaus"), "{out}");
    let again = mayor.ok(&["org", "enroll-self", "--department", "rathaus"]);
    assert!(again.contains("already"), "{again}");

    // The key rotation re-issues the admin device's certificate: it keeps
    // publishing, moderating and answering.
    mayor.ok(&["org", "rotate-key"]);
    let staff = json_lines(&mayor.ok(&["org", "staff", "--json"]));
    let own: Vec<_> = staff.iter().filter(|s| s["device"] == mayor.device_id().as_str()).collect();
    assert_eq!(own.len(), 1, "{staff:?}");
    assert_eq!(own[0]["department"], "rathaus");
    mayor.ok(&["channel", "create", "Amtsblatt", "--retention-days", "30"]);
    mayor.ok(&["group", "create", "Bürgerforum"]);
    let thread = consult(&citizen, "Noch einmal: Hallo?");
    mayor.ok(&["reply", &thread, "Guten Tag!"]);
    let shown = citizen.ok(&["show", &thread, "--json"]);
    assert!(shown.contains("Guten Tag!"), "{shown}");

    // `org info` on the citizen's device followed the signed rotation.
    let info = citizen.ok(&["org", "info", HANDLE, "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    assert_eq!(info["key_rotations"], 1, "{info}");
}

#[test]
fn org_info_shows_the_verified_profile_with_and_without_an_account() {
    let server = Server::start();
    let (mayor, _) = claimed(&server);
    mayor.ok(&["org", "category", "add", "Straßenschaden", "--department", "bauhof"]);
    mayor.ok(&["org", "hours", "set", "Thu 16:00-18:00", "--auto-reply", "Bis Donnerstag!"]);
    let fingerprint = fingerprint_in(&mayor.ok(&["org", "fingerprint"])).unwrap();

    // Before `init`: it works, says the key is only first seen, and
    // writes nothing.
    let visitor = Device::new(&server);
    let text = visitor.ok(&["org", "info", HANDLE]);
    assert!(text.starts_with(&format!("{TOWN} ({HANDLE})")), "{text}");
    assert!(text.contains(&format!("fingerprint: {fingerprint}")), "{text}");
    assert!(text.contains("first seen now, not pinned"), "{text}");
    assert!(text.contains("  Straßenschaden -> department bauhof"), "{text}");
    assert!(text.contains("consultations: department buergermeister"), "{text}");
    assert!(text.contains("  buergermeister: Thu 16:00-18:00"), "{text}");
    assert!(text.contains("auto-reply: Bis Donnerstag!"), "{text}");
    assert!(text.contains("live: no"), "{text}");
    assert!(text.contains("channels: none published"), "{text}");
    assert!(!visitor.home.exists(), "org info created the home before init");
    let json: serde_json::Value =
        serde_json::from_str(visitor.ok(&["org", "info", HANDLE, "--json"]).trim()).unwrap();
    assert_eq!(json["name"], TOWN);
    assert_eq!(json["fingerprint"], fingerprint.as_str());
    assert_eq!(json["verification"], "first_seen");
    assert_eq!(json["pinned"], false);
    assert_eq!(json["categories"][0]["name"], "Straßenschaden");
    assert_eq!(json["categories"][0]["department"], "bauhof");
    assert_eq!(json["departments"], serde_json::json!(["bauhof", "buergermeister"]));
    assert_eq!(json["office_hours"][0]["department"], "buergermeister");
    assert_eq!(json["office_hours"][0]["slots"][0], "Thu 16:00-18:00");
    assert_eq!(json["live"], false);
    assert_eq!(json["channels"], serde_json::json!([]));
    let unknown = visitor.fails(&["org", "info", "nirgendwo"]);
    assert!(unknown.contains("nirgendwo"), "{unknown}");

    // With an account: pinned on first contact, then pinned, then verified.
    visitor.init("Vera Visitor");
    let first = visitor.ok(&["org", "info", HANDLE, "--json"]);
    let first: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert_eq!(
        (first["verification"].as_str(), first["pinned"].as_bool()),
        (Some("first_seen"), Some(true))
    );
    let second: serde_json::Value =
        serde_json::from_str(visitor.ok(&["org", "info", HANDLE, "--json"]).trim()).unwrap();
    assert_eq!(second["verification"], "pinned");
    visitor.ok(&["verify", HANDLE, &fingerprint]);
    mayor.ok(&["org", "hours", "live", "on"]);
    let text = visitor.ok(&["org", "info", HANDLE]);
    assert!(text.contains("verification: verified"), "{text}");
    assert!(text.contains("live: yes, since"), "{text}");

    // A rotation the verified key signed is followed and shown as such.
    mayor.ok(&["org", "rotate-key"]);
    let rotated: serde_json::Value =
        serde_json::from_str(visitor.ok(&["org", "info", HANDLE, "--json"]).trim()).unwrap();
    assert_eq!(rotated["verification"], "rotated", "{rotated}");
    assert_eq!(rotated["previous_fingerprint"], fingerprint.as_str());
    assert_eq!(rotated["fingerprint_verified"], true);
    assert_ne!(rotated["fingerprint"], fingerprint.as_str());
}
