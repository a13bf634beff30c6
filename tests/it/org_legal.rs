//! The town's legal pages and reply templates in its signed profile (issue
//! 16, items 5 and 6), over the real binaries: the org admin sets the
//! Impressum and the GDPR Art. 13 privacy notice with `org legal set`;
//! `org info` shows them to a citizen with and without an account (text
//! and `--json`); a server that rewrites the Impressum in the directory
//! answer is refused, because the text is covered by the org key's
//! signature. Reply templates: the org admin adds them per department,
//! a clerk replies with `--template`, the citizen reads the template's text.

use serde_json::Value;
use stadtbote_protocol::Response;
use stadtbote_protocol::frame::{self, ServerBody};

use crate::harness::{Device, Server, json_lines, last_line, start_proxy};
use crate::municipal::{HANDLE, Town};

pub const IMPRESSUM: &str =
    "Stadt Musterhausen\nMarkt 1, 12345 Musterhausen\nvertreten durch die Bürgermeisterin";
pub const CONTROLLER: &str =
    "Stadt Musterhausen, Markt 1, 12345 Musterhausen, rathaus@musterhausen.example";
pub const DPO: &str = "Datenschutzbeauftragte, datenschutz@musterhausen.example";
pub const PURPOSES: &str = "Bearbeitung Ihrer Meldungen, Art. 6 Abs. 1 lit. e DSGVO";
pub const RETENTION: &str = "Meldungen werden 90 Tage nach Abschluss gelöscht.";

/// The mayor sets the legal pages from files; returns the command's output.
pub fn set_legal(town: &Town) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let files = [
        ("--impressum", file("impressum.txt", IMPRESSUM)),
        ("--controller", file("controller.txt", CONTROLLER)),
        ("--dpo", file("dpo.txt", DPO)),
        ("--purposes", file("purposes.txt", PURPOSES)),
        ("--retention", file("retention.txt", RETENTION)),
    ];
    let mut args = vec!["org", "legal", "set"];
    for (flag, path) in &files {
        args.push(flag);
        args.push(path);
    }
    town.mayor_ok(&args)
}

/// Rewrites "Markt 1" to "Markt 9" inside the signed profile of every org
/// directory answer (same length: only the signature can tell).
fn rewrite_impressum(bytes: &[u8]) -> Vec<u8> {
    let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
    if let ServerBody::Response { response: Response::Org { info }, .. } = &mut frame.body
        && let Some(profile) = info.profile.as_mut()
    {
        let mut signed = profile.bytes.to_vec();
        let mut changed = false;
        while let Some(at) = signed.windows(7).position(|w| w == b"Markt 1") {
            signed[at + 6] = b'9';
            changed = true;
        }
        if changed {
            profile.bytes = serde_bytes::ByteBuf::from(signed);
            return frame::encode(&frame);
        }
    }
    bytes.to_vec()
}

#[test]
fn the_towns_legal_pages_are_set_by_the_org_admin_and_shown_by_org_info() {
    let town = Town::new(Server::start());
    // Before: none, and the --json field is null.
    let citizen = town.citizen("Carla");
    let before: Value =
        serde_json::from_str(citizen.ok(&["org", "info", HANDLE, "--json"]).trim()).expect("json");
    assert!(before["legal"].is_null(), "{before}");
    assert!(citizen.ok(&["org", "info", HANDLE]).contains("legal pages: none published"));

    let out = set_legal(&town);
    assert!(out.contains("Published profile version"), "{out}");
    assert!(out.contains("Markt 1, 12345 Musterhausen"), "{out}");

    // A citizen with an account (pinned key) and a device without one.
    let outsider = Device::new(&town.server);
    for device in [&citizen, &outsider] {
        let info: Value =
            serde_json::from_str(device.ok(&["org", "info", HANDLE, "--json"]).trim())
                .expect("json");
        assert_eq!(info["legal"]["impressum"], IMPRESSUM, "{info}");
        assert_eq!(info["legal"]["controller"], CONTROLLER);
        assert_eq!(info["legal"]["dpo"], DPO);
        assert_eq!(info["legal"]["purposes"], PURPOSES);
        assert_eq!(info["legal"]["retention"], RETENTION);
        assert_eq!(info["legal"]["rights"], "");
        let text = device.ok(&["org", "info", HANDLE]);
        assert!(text.contains("Impressum (legal notice):"), "{text}");
        assert!(text.contains("  vertreten durch die Bürgermeisterin"), "{text}");
        assert!(text.contains("Privacy notice – data-protection officer:"), "{text}");
    }
    assert!(!outsider.home.exists(), "org info without an account stores nothing");
    // German too.
    let german = citizen.ok(&["--lang", "de", "org", "info", HANDLE]);
    assert!(german.contains("Datenschutzerklärung – Speicherdauer:"), "{german}");

    // Only the given parts change; the org admin's `legal show` agrees.
    let dir = tempfile::tempdir().unwrap();
    let rights = dir.path().join("rights.txt");
    std::fs::write(&rights, "Beschwerde bei der Landesbeauftragten für den Datenschutz.").unwrap();
    town.mayor_ok(&["org", "legal", "set", "--rights", rights.to_str().unwrap()]);
    let shown: Value =
        serde_json::from_str(town.mayor.ok(&["org", "legal", "show", "--json"]).trim()).unwrap();
    assert_eq!(shown["impressum"], IMPRESSUM);
    assert!(shown["rights"].as_str().is_some_and(|r| r.starts_with("Beschwerde")), "{shown}");
    // Too long: refused before anything is signed.
    let long = dir.path().join("long.txt");
    std::fs::write(&long, "x".repeat(4097)).unwrap();
    let err = town.mayor.fails(&["org", "legal", "set", "--impressum", long.to_str().unwrap()]);
    assert!(err.contains("impressum (at most 4096 bytes"), "{err}");
}

#[test]
fn a_server_that_rewrites_the_impressum_is_refused() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    set_legal(&town);
    assert!(citizen.ok(&["org", "info", HANDLE]).contains("Markt 1, 12345"));
    // The server rewrites "Markt 1" to "Markt 9" in the signed profile.
    let proxy = start_proxy(town.server.url(), std::sync::Arc::new(rewrite_impressum));
    // A device without an account has nothing to fall back on: refused.
    let fresh = Device::with_url(&proxy);
    let out = fresh.run(&["org", "info", HANDLE]);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a rewritten Impressum was accepted:\n{stdout}");
    assert!(!stdout.contains("Markt 9"), "{stdout}");
    assert!(stderr.contains("not signed by the org key"), "{stderr}");
    // A citizen who pinned the town keeps the profile it verified last
    // (the forged one counts as none: the pinning's rule against a server
    // that withholds or rolls back) and never shows the rewritten text.
    let out = citizen.run_via(&proxy, &["org", "info", HANDLE, "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("Markt 9"), "{stdout}");
    if out.status.success() {
        let info: Value = serde_json::from_str(stdout.trim()).expect("json");
        assert_eq!(info["legal"]["impressum"], IMPRESSUM, "{info}");
    }
    // The honest server still serves it.
    assert!(citizen.ok(&["org", "info", HANDLE]).contains("Markt 1, 12345"));
}

#[test]
fn staff_reply_with_the_departments_template_and_the_citizen_reads_it() {
    let town = Town::new(Server::start());
    let text = "Vielen Dank für Ihre Meldung. Der Bauhof hat den Schaden behoben.";
    let out =
        town.mayor_ok(&["org", "template", "add", "erledigt", "--department", "bauhof", text]);
    assert!(out.contains("Reply template \"erledigt\" for department bauhof added"), "{out}");
    assert!(out.contains("--template erledigt"), "{out}");
    town.mayor_ok(&["org", "template", "add", "gruss", "--department", "presse", "Ihre Presse"]);
    // Staff list them (the clerk is no org admin).
    let listed = json_lines(&town.clerk.ok(&["org", "template", "list", "--json"]));
    assert_eq!(listed.len(), 2, "{listed:?}");
    let bauhof = json_lines(&town.clerk.ok(&[
        "org",
        "template",
        "list",
        "--department",
        "bauhof",
        "--json",
    ]));
    assert_eq!(bauhof.len(), 1);
    assert_eq!(bauhof[0]["text"], text);
    let info: Value =
        serde_json::from_str(town.clerk.ok(&["org", "info", HANDLE, "--json"]).trim()).unwrap();
    assert_eq!(info["reply_templates"][0]["name"], "erledigt");

    let citizen = town.citizen("Carla");
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Schlagloch in der Hauptstraße",
    ]));
    town.clerk.ok(&["threads"]);
    // Another department's template is not this thread's.
    let err = town.clerk.fails(&["reply", &thread, "--template", "gruss"]);
    assert!(err.contains("has no reply template \"gruss\" (it has: erledigt)"), "{err}");
    town.clerk.ok(&[
        "reply",
        &thread,
        "--template",
        "erledigt",
        "Gruß, Ihr Bauhof",
        "--status",
        "resolved",
        "--reason",
        "repariert",
    ]);
    let shown = citizen.ok(&["show", &thread, "--json"]);
    assert!(shown.contains(text), "{shown}");
    assert!(shown.contains("Gruß, Ihr Bauhof"), "{shown}");

    // Removed: gone from the profile; replying with it is refused.
    town.mayor_ok(&["org", "template", "remove", "erledigt", "--department", "bauhof"]);
    let err = town.clerk.fails(&["reply", &thread, "--template", "erledigt"]);
    assert!(err.contains("has no reply template \"erledigt\""), "{err}");
    let err =
        town.mayor.fails(&["org", "template", "remove", "erledigt", "--department", "bauhof"]);
    assert!(err.contains("has no reply template"), "{err}");
    // The existing reply without a template still needs its text.
    let err = town.clerk.fails(&["reply", &thread]);
    assert!(err.contains("required"), "{err}");
}
