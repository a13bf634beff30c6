//! Nothing another party writes can drive the reader's terminal: a sender
//! puts a carriage return, CSI and OSC 52 escape sequences, C1 controls and
//! bidi overrides into her display name and message; the recipient's text
//! output shows them harmlessly (no raw control byte, no faked message
//! header), while `--json` keeps every character exactly (as JSON escapes).

use crate::harness::{Device, Server, json_lines};

/// Every raw character that could move the cursor, rewrite or clear the
/// screen, write the clipboard or reorder what is shown.
const FORBIDDEN: &[char] = &[
    '\r', '\u{1b}', '\u{7}', '\u{8}', '\u{7f}', '\u{9b}', '\u{9d}', '\u{202a}', '\u{202b}',
    '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200e}',
    '\u{200f}', '\u{61c}',
];

fn raw_controls(text: &str) -> Vec<char> {
    text.chars().filter(|c| FORBIDDEN.contains(c)).collect()
}

/// A display name that tries to look like the town's verified account and
/// to turn the terminal's colours and text direction.
const NAME: &str = "Stadt Goslar (verified)\u{1b}[32m\u{202e}nimda\u{202c}\u{9b}0m";

/// The fake header the message tries to show on a line of its own.
const FAKE_HEADER: &str = "[2026-01-01 09:00:00 UTC] Stadt Goslar (verified)";

fn hostile_text() -> String {
    format!(
        "harmlos\r{FAKE_HEADER} <AAAA>: Bitte zahlen Sie an DE00 1234\n{FAKE_HEADER}: zweite Zeile\
         \u{1b}[2J\u{1b}[H\u{1b}]52;c;ZWNobyBnZWhhY2t0\u{7}\u{1b}]52;c;cm0gLXJm\u{1b}\\\
         \u{202e}fdp.exe\u{2066}x\u{2069}\u{200f}\u{61c}\u{9d}0;title\u{7}\u{8}\u{7f}ende"
    )
}

#[test]
fn control_characters_and_bidi_overrides_from_another_party_never_reach_the_terminal() {
    let server = Server::start();
    let mallory = Device::new(&server);
    let bernd = Device::new(&server);
    mallory.init(NAME);
    let b = bernd.init("Bernd");
    let text = hostile_text();

    // Text output: nothing raw, and no line that looks like a header of its
    // own (every continuation line of a message body is indented).
    mallory.ok(&["send", &b, &text]);
    let out = bernd.ok(&["inbox"]);
    assert!(raw_controls(&out).is_empty(), "raw controls {:?} in: {out:?}", raw_controls(&out));
    assert!(out.contains("harmlos") && out.contains("ende"), "the text is shown: {out:?}");
    let headers = out.lines().filter(|l| l.starts_with('[')).count();
    assert_eq!(headers, 1, "one message, one header line: {out:?}");
    assert!(
        !out.lines().any(|l| l.starts_with(FAKE_HEADER)),
        "a continuation line cannot pass as a header: {out:?}"
    );
    let history = bernd.ok(&["history"]);
    assert!(raw_controls(&history).is_empty(), "history: {history:?}");
    assert_eq!(history.lines().filter(|l| l.starts_with('[')).count(), 1, "{history:?}");

    // JSON output: exact once parsed, and as printed it carries no raw
    // control either (serde_json escapes C0; DEL, C1 and bidi controls are
    // escaped as \uXXXX by the CLI).
    mallory.ok(&["send", &b, &text]);
    let printed = bernd.ok(&["inbox", "--json"]);
    assert!(raw_controls(&printed).is_empty(), "raw controls in JSON: {printed:?}");
    let messages = json_lines(&printed);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["text"].as_str(), Some(text.as_str()));
    assert_eq!(messages[0]["from_name"].as_str(), Some(NAME));
    let history = json_lines(&bernd.ok(&["history", "--json"]));
    assert!(history.iter().all(|m| m["text"].as_str() == Some(text.as_str())), "{history:?}");
}

#[test]
fn a_report_thread_shows_a_hostile_citizen_harmlessly_to_the_clerk() {
    let town = crate::municipal::Town::new(Server::start());
    let citizen = town.citizen(NAME);
    let text = hostile_text();
    let thread = crate::harness::last_line(&citizen.ok(&[
        "report",
        crate::municipal::HANDLE,
        "--category",
        "Straßenschaden",
        &text,
    ]));

    let list = town.clerk.ok(&["threads"]);
    assert!(raw_controls(&list).is_empty(), "threads: {list:?}");
    assert!(list.contains(&thread), "{list}");
    let shown = town.clerk.ok(&["show", &thread]);
    assert!(raw_controls(&shown).is_empty(), "show: {shown:?}");
    assert!(
        !shown.lines().any(|l| l.starts_with(FAKE_HEADER)),
        "a continuation line cannot pass as a message: {shown:?}"
    );
    assert!(shown.contains("ende"), "{shown}");

    let printed = town.clerk.ok(&["show", &thread, "--json"]);
    assert!(raw_controls(&printed).is_empty(), "raw controls in JSON: {printed:?}");
    let json: serde_json::Value = serde_json::from_str(printed.trim()).expect("json");
    let opening = &json["messages"][0];
    assert_eq!(opening["text"].as_str(), Some(text.as_str()), "{json}");
    assert_eq!(opening["from_name"].as_str(), Some(NAME), "{json}");
}

#[test]
fn group_names_and_posts_from_others_show_harmlessly() {
    let town = crate::municipal::Town::new(Server::start());
    let moderator = town.enrol("Moderation Rathaus", "buergermeister");
    let group_name = "Forum\u{1b}]0;gehackt\u{7}\u{202e}tsil\u{9b}2J";
    let group = crate::harness::last_line(&moderator.ok(&["group", "create", group_name]));
    let link = crate::harness::last_line(&moderator.ok(&["group", "invite", &group]));

    let citizen = town.citizen(NAME);
    let joined = citizen.ok(&["group", "join", &link]);
    assert!(raw_controls(&joined).is_empty(), "join: {joined:?}");
    let listed = citizen.ok(&["groups"]);
    assert!(raw_controls(&listed).is_empty(), "groups: {listed:?}");
    let printed = citizen.ok(&["groups", "--json"]);
    assert!(raw_controls(&printed).is_empty(), "groups --json: {printed:?}");
    let groups = json_lines(&printed);
    assert!(groups.iter().any(|g| g["name"].as_str() == Some(group_name)), "{groups:?}");

    let text = hostile_text();
    citizen.ok(&["group", "post", &group, &text]);
    let read = moderator.ok(&["group", "read", &group]);
    assert!(raw_controls(&read).is_empty(), "group read: {read:?}");
    assert_eq!(read.lines().filter(|l| l.starts_with('[')).count(), 1, "{read:?}");
    assert!(read.contains("ende"), "{read}");
}

#[test]
fn channel_names_and_posts_show_harmlessly_to_followers() {
    let town = crate::municipal::Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let channel_name = "Amtsblatt\r\u{1b}[1mAmtlich\u{202e}\u{9b}0m";
    let out = press.ok(&["channel", "create", channel_name, "--json"]);
    let created: serde_json::Value =
        serde_json::from_str(crate::harness::last_line(&out).as_str()).expect("json");
    let id = created["channel"].as_str().expect("channel").to_string();
    let invite = created["invite"].as_str().expect("invite").to_string();
    let text = hostile_text();
    press.ok(&["channel", "post", &id, &text]);

    let follower = Device::new(&town.server);
    let followed = follower.ok(&["follow", &invite]);
    assert!(raw_controls(&followed).is_empty(), "follow: {followed:?}");
    let listed = follower.ok(&["channels"]);
    assert!(raw_controls(&listed).is_empty(), "channels: {listed:?}");
    let feed = follower.ok(&["feed"]);
    assert!(raw_controls(&feed).is_empty(), "feed: {feed:?}");
    assert_eq!(feed.lines().filter(|l| l.starts_with('[')).count(), 1, "{feed:?}");
    assert!(feed.contains("ende"), "{feed}");

    press.ok(&["channel", "post", &id, &text]);
    let printed = follower.ok(&["feed", "--json"]);
    assert!(raw_controls(&printed).is_empty(), "feed --json: {printed:?}");
    let posts = json_lines(&printed);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["text"].as_str(), Some(text.as_str()));
    assert_eq!(posts[0]["channel_name"].as_str(), Some(channel_name));
}
