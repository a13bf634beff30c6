//! German (issue 14 item 6): `--lang de` and `LANG=de_DE.UTF-8` switch help,
//! command output, statuses and errors of a citizen's report flow to German;
//! without either (or with `C`) everything stays English; `--json` stays
//! English; times are shown in the local zone with its abbreviation.

use crate::harness::{Server, json_lines, last_line};
use crate::municipal::{HANDLE, TOWN, Town};

const DE: (&str, &str) = ("LANG", "de_DE.UTF-8");

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_is_german_with_lang_de_or_a_german_locale_and_english_otherwise() {
    let server = Server::start();
    let device = crate::harness::Device::new(&server);

    let help = device.run(&["--lang", "de", "report", "--help"]);
    assert!(help.status.success(), "{}", stderr(&help));
    let help = stdout(&help);
    for german in [
        "Ein Problem (Straßenschaden, defekte Laterne …) einer Org melden",
        "Aufruf:",
        "Optionen:",
        "Argumente:",
        "Die Kategorie, wie die Org sie nennt",
        "Hilfe anzeigen",
    ] {
        assert!(help.contains(german), "missing {german:?} in:\n{help}");
    }
    assert!(!help.contains("Usage:") && !help.contains("What is wrong."), "{help}");

    // The locale alone, and the top-level command list.
    let top = device.run_env(&["--help"], &[DE]);
    let top = stdout(&top);
    assert!(top.contains("Befehle:") && top.contains("Ein Problem"), "{top}");
    // LC_ALL=C wins over LANG: English, byte for byte the derive text.
    let c = stdout(&device.run_env(&["report", "--help"], &[DE, ("LC_ALL", "C")]));
    assert!(c.contains("Usage:") && c.contains("The category, as the org names it"), "{c}");
    let plain = stdout(&device.run(&["report", "--help"]));
    assert_eq!(plain, c);
}

#[test]
fn a_citizens_report_flow_in_german() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla Citizen");

    // The report, in German via --lang.
    let out = citizen.ok(&[
        "--lang",
        "de",
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Schlagloch vor Hausnummer 12",
    ]);
    let thread = last_line(&out);
    assert!(
        out.contains(&format!(
            "Meldung gesendet an {TOWN} ({HANDLE}): Kategorie Straßenschaden, Abteilung bauhof."
        )),
        "{out}"
    );

    // The clerk works on it with a German locale: the status is German in
    // text, English on the command line and in JSON.
    let reply = town
        .clerk
        .run_env(&["reply", &thread, "Wir kümmern uns darum", "--status", "in-progress"], &[DE]);
    assert!(reply.status.success(), "{}", stderr(&reply));
    assert!(
        stdout(&reply)
            .contains(&format!("Antwort gesendet; der Vorgang {thread} ist jetzt in Bearbeitung.")),
        "{}",
        stdout(&reply)
    );

    let list = stdout(&citizen.run_env(&["threads"], &[DE]));
    assert!(list.contains("Meldung") && list.contains("in Bearbeitung"), "{list}");
    let json = json_lines(&citizen.ok(&["--lang", "de", "threads", "--json"]));
    assert_eq!(json[0]["status"], "in-progress");
    assert_eq!(json[0]["kind"], "report");

    let show = citizen.ok(&["--lang", "de", "show", &thread]);
    for german in [
        "Kategorie: Straßenschaden (Abteilung bauhof)",
        "Status: in Bearbeitung",
        "Nachrichten:",
        "[Status: in Bearbeitung]",
        "Statusverlauf:",
        "eingegangen",
    ] {
        assert!(show.contains(german), "missing {german:?} in:\n{show}");
    }
    // Local time with the zone's abbreviation: the harness runs in UTC…
    assert!(show.lines().any(|l| l.starts_with('[') && l.contains(" UTC] ")), "{show}");
    // …and a German zone shows CET/CEST (a POSIX TZ string, no tz database).
    let berlin = citizen.run_env(&["show", &thread], &[("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")]);
    let berlin = stdout(&berlin);
    assert!(berlin.contains(" CET] ") || berlin.contains(" CEST] "), "{berlin}");
    assert!(!berlin.contains(" UTC"), "{berlin}");
    // English without a language: today's output.
    let english = citizen.ok(&["show", &thread]);
    assert!(english.contains("Status: in-progress") && english.contains("Status history:"));

    // Errors: German with --lang de or the locale, English otherwise.
    let unknown = citizen.run(&["--lang", "de", "report", HANDLE, "--category", "Nope", "x"]);
    assert!(!unknown.status.success());
    let unknown = stderr(&unknown);
    assert!(
        unknown.starts_with(&format!("Fehler: {HANDLE} hat keine Kategorie \"Nope\"")),
        "{unknown}"
    );
    let missing = stderr(&citizen.run_env(&["show", "zzzzzzzz"], &[DE]));
    assert!(missing.starts_with("Fehler: kein Vorgang zzzzzzzz auf diesem Gerät"), "{missing}");
    let english = citizen.fails(&["show", "zzzzzzzz"]);
    assert!(english.starts_with("error: no thread zzzzzzzz on this device"), "{english}");
    let posix = stderr(&citizen.run_env(&["show", "zzzzzzzz"], &[("LANG", "POSIX")]));
    assert!(posix.starts_with("error: "), "{posix}");
}

/// The commands and messages the town branches added (`org info`,
/// `org poster`, `org enroll-self`, `admin batch`, `channel rotate --yes`,
/// photo refusals, the staff errors) speak German too.
#[test]
fn new_town_commands_and_photo_refusals_in_german() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla Citizen");

    // Help of the new commands and flags.
    for (args, german, english) in [
        (
            &["org", "info", "--help"][..],
            &[
                "Das geprüfte öffentliche Profil einer beliebigen Org",
                "Der Kurzname der Org, z. B. goslar",
            ][..],
            "Show any org's verified public profile",
        ),
        (
            &["org", "poster", "--help"],
            &[
                "Ein druckbares A4-Plakat für den Aushang",
                "DATEI.pdf oder DATEI.svg",
                "Ein Plakat nur mit dem Fingerabdruck",
                "Die Org, wenn dieses Gerät mehrere verwaltet",
            ],
            "Write a printable A4 poster",
        ),
        (
            &["org", "enroll-self", "--help"],
            &["zertifizierten Mitarbeitergerät"],
            "Make this device",
        ),
        (
            &["admin", "batch", "--help"],
            &["Mehrere Admin-Befehle mit einer Anmeldung"],
            "Run several",
        ),
        (
            &["channel", "rotate", "--help"],
            &["Ohne Nachfrage den Schlüssel wechseln"],
            "Rotate without",
        ),
        (&["reopen", "--help"], &["dasselbe wie das Argument ohne Option"], "the same as the"),
    ] {
        let help = stdout(&citizen.run_env(args, &[DE]));
        for text in german {
            assert!(help.contains(text), "missing {text:?} in `{args:?}`:\n{help}");
        }
        assert!(!help.contains(english), "English {english:?} in `{args:?}`:\n{help}");
    }

    // `org info`: text in German, --json unchanged.
    let info = citizen.ok(&["--lang", "de", "org", "info", HANDLE]);
    for german in [
        "Fingerabdruck: ",
        "Prüfung: ",
        "Kategorien:",
        "  Straßenschaden -> Abteilung bauhof",
        "Sprechstunden-Anfragen: Abteilung buergermeister",
        "Sprechzeiten: keine veröffentlicht",
        "Sprechstunde läuft: nein",
        "Kanäle: keine veröffentlicht",
        "Profilversion ",
    ] {
        assert!(info.contains(german), "missing {german:?} in:\n{info}");
    }
    assert!(!info.contains("fingerprint:") && !info.contains("categories:"), "{info}");
    let json = json_lines(&citizen.ok(&["--lang", "de", "org", "info", HANDLE, "--json"]));
    assert_eq!(json[0]["categories"][0]["department"], "bauhof");
    assert!(json[0]["verification"].is_string());

    // Photos refused in German, naming the file.
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("animation.gif");
    std::fs::write(&gif, b"GIF89a\x01\0\x01\0\0\0\0;").unwrap();
    let missing = dir.path().join("fehlt.jpg");
    let report = |photo: &std::path::Path| {
        let photo = photo.to_string_lossy();
        let args = ["report", HANDLE, "--category", "Straßenschaden", "--photo", &photo, "x"];
        let out = citizen.run_env(&args, &[DE]);
        assert!(!out.status.success());
        stderr(&out)
    };
    let err = report(&gif);
    assert!(
        err.starts_with(&format!(
            "Fehler: {} kann nicht gesendet werden: es ist kein JPEG-, PNG-, HEIC- oder WebP-Foto; \
             wandeln Sie es in JPEG um",
            gif.display()
        )),
        "{err}"
    );
    let err = report(&missing);
    assert!(
        err.starts_with(&format!(
            "Fehler: das Foto {} kann nicht gelesen werden: diese Datei gibt es nicht",
            missing.display()
        )),
        "{err}"
    );

    // A staff-only action from a citizen's device, in German.
    let out = citizen.run(&["--lang", "de", "group", "create", "Forum"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "Fehler: nur zertifizierte Mitarbeitende können Diskussionsgruppen anlegen"
        ),
        "{err}"
    );
    assert!(err.contains("stadtbote org enroll-self"), "{err}");

    // The org admin's `org enroll-self` (already staff after `org claim`).
    let out = town.mayor.run_env(&["org", "enroll-self"], &[DE]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stdout(&out);
    assert!(
        out.contains(&format!(
            "Dieses Gerät ist schon ein Mitarbeitergerät von {HANDLE}: Rolle Admin, Abteilung buergermeister."
        )),
        "{out}"
    );
    assert!(out.contains("Das Zertifikat gilt bis "), "{out}");
}

/// clap's own command-line errors (an unknown option or command, a missing
/// argument) speak German too, keep clap's exit code 2, and stay clap's
/// English without a German locale.
#[test]
fn command_line_mistakes_are_explained_in_german() {
    let server = Server::start();
    let device = crate::harness::Device::new(&server);

    let unknown = device.run(&["--lang", "de", "report", "--frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    let text = stderr(&unknown);
    assert!(text.contains("Fehler: unbekannte Option --frobnicate"), "{text}");
    assert!(text.contains("Mehr dazu mit '--help'."), "{text}");

    let command = device.run_env(&["frobnicate"], &[DE]);
    assert_eq!(command.status.code(), Some(2));
    assert!(
        stderr(&command).contains("Fehler: unbekannter Befehl frobnicate"),
        "{}",
        stderr(&command)
    );

    let missing = device.run(&["--lang", "de", "reopen"]);
    assert_eq!(missing.status.code(), Some(2));
    let text = stderr(&missing);
    assert!(text.contains("Fehler: es fehlt: <THREAD>"), "{text}");
    assert!(!text.contains("error:") && !text.contains("Usage:"), "{text}");

    let english = device.run(&["report", "--frobnicate"]);
    assert_eq!(english.status.code(), Some(2));
    assert!(
        stderr(&english).contains("error: unexpected argument '--frobnicate'"),
        "{}",
        stderr(&english)
    );
}

/// `admin stats` and `admin backup` print labelled German text with units,
/// readable numbers and local times (`--json` keeps its English fields);
/// a file error names what failed in German.
#[test]
fn admin_stats_and_backup_in_german() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla Citizen");
    citizen.ok(&["report", HANDLE, "--category", "Straßenschaden", "Schlagloch"]);

    let stats = town.admin_ok(&["--lang", "de", "admin", "stats"]);
    for german in [
        "Serverstatistik (Gesamtzahlen, keine Kennungen)",
        "  Konten:",
        "  Geräte:",
        "  Nachrichten in Zustellung:",
        "  gespeicherte Daten:",
        "  Kanalbeiträge:",
        "Mitarbeitergeräte",
        HANDLE,
    ] {
        assert!(stats.contains(german), "missing {german:?} in:\n{stats}");
    }
    let stored = stats.lines().find(|l| l.contains("gespeicherte Daten:")).unwrap_or_default();
    assert!(stored.ends_with(" Bytes)") || stored.ends_with(" Bytes"), "{stored}");
    for english in ["accounts", "queued_envelopes", "stored_bytes", "staff_devices", "bytes"] {
        assert!(!stats.contains(english), "English {english:?} in:\n{stats}");
    }
    // --json: the protocol's field names, whatever the language.
    let json = json_lines(&town.admin_ok(&["--lang", "de", "admin", "stats", "--json"]));
    for key in ["accounts", "devices", "queued_envelopes", "stored_bytes", "orgs"] {
        assert!(json[0].get(key).is_some(), "{key} in {}", json[0]);
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sicherung.sbk");
    let path = file.to_string_lossy().into_owned();
    let backup = town.admin_ok(&["--lang", "de", "admin", "backup", &path, "--insecure-plaintext"]);
    for german in [
        format!("Sicherung geschrieben: {path}"),
        "  Größe:".to_string(),
        "  SHA-256:".to_string(),
        "  verschlüsselt:  NEIN".to_string(),
        "Achtung: diese Sicherung ist unverschlüsselt".to_string(),
    ] {
        assert!(backup.contains(&german), "missing {german:?} in:\n{backup}");
    }
    let size = std::fs::metadata(&file).unwrap().len();
    let size_line = backup.lines().find(|l| l.contains("Größe:")).unwrap_or_default();
    // The exact size with German thousands separators: 265.123 Bytes.
    let digits = size.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    assert!(size_line.contains(&format!("{grouped} Bytes")), "{size_line}");
    // The harness runs with TZ=UTC: the local time carries its zone.
    let at = backup.lines().find(|l| l.contains("geschrieben am:")).unwrap_or_default();
    assert!(at.ends_with(" UTC"), "{backup}");
    assert!(!backup.contains("wrote ") && !backup.contains("encrypted:"), "{backup}");
    let json = json_lines(&town.admin_ok(&[
        "--lang",
        "de",
        "admin",
        "backup",
        &dir.path().join("zwei.sbk").to_string_lossy(),
        "--insecure-plaintext",
        "--json",
    ]));
    for key in ["file", "size", "sha256", "encrypted"] {
        assert!(json[0].get(key).is_some(), "{key} in {}", json[0]);
    }

    // A file that cannot be written: the operation and the reason in German.
    let missing = dir.path().join("fehlt").join("sicherung.sbk");
    let err = town.admin_fails(&[
        "--lang",
        "de",
        "admin",
        "backup",
        &missing.to_string_lossy(),
        "--insecure-plaintext",
    ]);
    assert!(err.starts_with("Fehler: "), "{err}");
    assert!(err.contains("kann nicht angelegt werden: nicht vorhanden"), "{err}");
    assert!(!err.contains("os error") && !err.contains("No such file"), "{err}");
}

/// clap's English fragments that must not appear in German help.
const CLAP_ENGLISH: [&str; 14] = [
    "[default:",
    "[possible values:",
    "Possible values:",
    "[aliases:",
    "[alias:",
    "[env:",
    "Usage:",
    "Options:",
    "Commands:",
    "Arguments:",
    "Print help",
    "Print version",
    "Print this message",
    "[OPTIONS]",
];

/// The subcommand names listed under "Befehle:" in a German help page.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Befehle:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Every help page of the real binary, walked through the command lists
/// (`-h` and `--help` of every command and subcommand), is free of
/// clap's English fragments in German.
#[test]
fn every_german_help_page_is_free_of_claps_english() {
    let server = Server::start();
    let device = crate::harness::Device::new(&server);
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut pages = 0;
    let mut english = Vec::new();
    while let Some(path) = pending.pop() {
        for flag in ["-h", "--help"] {
            let mut args: Vec<&str> = vec!["--lang", "de"];
            args.extend(path.iter().map(String::as_str));
            args.push(flag);
            let out = device.run(&args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let help = stdout(&out);
            pages += 1;
            for fragment in CLAP_ENGLISH {
                if help.contains(fragment) {
                    english.push(format!("{args:?} shows {fragment:?}:\n{help}"));
                }
            }
            if flag == "--help" {
                for name in listed_commands(&help).into_iter().filter(|n| n != "help") {
                    let mut sub = path.clone();
                    sub.push(name);
                    pending.push(sub);
                }
            }
        }
    }
    assert!(pages > 100, "only {pages} help pages found; is the walk broken?");
    assert!(english.is_empty(), "{} pages with English:\n{}", english.len(), english.join("\n"));

    // What clap would have said in English is there in German.
    let top = stdout(&device.run(&["--lang", "de", "--help"]));
    assert!(top.contains("[Vorgabe: ws://"), "{top}");
    assert!(top.contains("[Umgebungsvariable: STADTBOTE_HOME]"), "{top}");
    assert!(top.contains("Diese Hilfe oder die Hilfe der angegebenen Befehle anzeigen"), "{top}");
    assert!(top.contains("Aufruf: stadtbote [OPTIONEN] <BEFEHL>"), "{top}");
    let reply = stdout(&device.run(&["--lang", "de", "reply", "--help"]));
    assert!(reply.contains("[mögliche Werte: acknowledged, in-progress, resolved, rejected]"));
    // `help PATH` (clap's help subcommand) shows the same German page.
    let via_help = stdout(&device.run(&["--lang", "de", "help", "reply"]));
    assert!(via_help.contains("Aufruf:") && !via_help.contains("Usage:"), "{via_help}");
    let info = stdout(&device.run(&["--lang", "de", "org", "info", "--help"]));
    assert!(info.contains("JSON-Felder (stabil"), "{info}");
    // English stays clap's own.
    let english = stdout(&device.run(&["--help"]));
    assert!(english.contains("Usage: stadtbote [OPTIONS] <COMMAND>"), "{english}");
    assert!(english.contains("[default: ws://"), "{english}");
}

/// `admin audit --verify` words its verification in German (first use,
/// then the continuation from the pinned head); a refused input names what and why in German
/// (issue 14 item 6, last leftovers).
#[test]
fn admin_audit_and_invalid_input_in_german() {
    let town = Town::new(Server::start());
    let first = town.admin_ok(&["--lang", "de", "admin", "audit", "--verify"]);
    for german in [
        "Prüfprotokoll geprüft: seq ",
        "Vertrauen bei erster Nutzung",
        "festgehaltener Stand: seq ",
        "(vorher: keiner)",
        "prüfen Sie mindestens so oft",
    ] {
        assert!(first.contains(german), "missing {german:?} in:\n{first}");
    }
    let again = town.admin_ok(&["--lang", "de", "admin", "audit", "--verify"]);
    assert!(again.contains("sie setzt den Stand fort"), "{again}");
    assert!(again.contains("(vorher: seq "), "{again}");
    for text in [&first, &again] {
        for english in ["audit log verified", "pinned head", "trust on first use", "verify at"] {
            assert!(!text.contains(english), "English {english:?} in:\n{text}");
        }
    }
    // clap refuses --accept-gap without --verify, in German.
    let err = town.admin_fails(&["--lang", "de", "admin", "audit", "--accept-gap"]);
    assert!(err.starts_with("Fehler: ") && err.contains("--verify"), "{err}");
    // The English text stays as it was.
    let english = town.admin_ok(&["admin", "audit", "--verify"]);
    assert!(english.contains("audit log verified: checked seq "), "{english}");
    assert!(english.contains("by the last verification ("), "{english}");

    let citizen = town.citizen("Carla Citizen");
    let err = citizen.fails(&[
        "--lang",
        "de",
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--location",
        "51.9",
        "Schlagloch",
    ]);
    assert!(
        err.contains("ungültige Angabe für --location: das Komma fehlt (erwartet: BREITE,LÄNGE"),
        "{err}"
    );
    let err = citizen.fails(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--location",
        "51.9",
        "Schlagloch",
    ]);
    assert!(err.contains("invalid --location: missing comma (expected LAT,LON"), "{err}");
}
