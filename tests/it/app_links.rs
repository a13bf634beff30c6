//! App links (issue 16, item 4) with the real binaries: with `public_url`
//! configured, invites, group join links, the org key's QR code and the
//! poster carry `public_url/#v1/…` URLs (the secret only after the `#`);
//! the CLI follows a channel, joins a group and verifies the town with the
//! URL form; a damaged or wrong URL is refused with a clear message.
//! Without `public_url` the output stays as before (the other modules'
//! tests, e.g. poster.rs and groups.rs, check the older forms).

use stadtbote_protocol::app_link::AppLink;
use stadtbote_protocol::auth::fingerprint_of;

use crate::harness::{Server, fingerprint_in, last_line};
use crate::municipal::Town;
use crate::poster::{pdf_text, svg_text};

const PUBLIC_URL: &str = "https://stadtbote.musterhausen.de";

/// The lines of `out` that are app URLs of this server.
fn urls(out: &str) -> Vec<String> {
    out.lines().map(str::trim).filter(|l| l.starts_with(PUBLIC_URL)).map(String::from).collect()
}

#[test]
fn invites_join_links_fingerprints_and_the_poster_carry_the_web_address() {
    let town = Town::new(Server::start_with(&[("STADTBOTE_PUBLIC_URL", PUBLIC_URL)]));
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_string_lossy().to_string();

    // The org key: text and QR code.
    let printed = town.mayor.ok(&["org", "fingerprint", "--out", &dir_arg]);
    let fingerprint = fingerprint_in(&printed).expect("fingerprint printed");
    let org_url = urls(&printed).pop().unwrap_or_else(|| panic!("no URL in {printed}"));
    assert!(org_url.starts_with(&format!("{PUBLIC_URL}/#v1/org/")), "{org_url}");
    let Ok(AppLink::Org { handle, key }) = AppLink::parse(&org_url) else { panic!("{org_url}") };
    assert_eq!(fingerprint_of(&key.0), fingerprint);

    // A channel invite: the older `invite` field unchanged, `url` new.
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let created = press.ok(&["channel", "create", "Amtsblatt", "--json", "--out", &dir_arg]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&created)).unwrap();
    let invite = created["invite"].as_str().unwrap();
    let channel_url = created["url"].as_str().unwrap_or_else(|| panic!("no url: {created}"));
    assert!(invite.starts_with("stadtbote:channel:"), "{invite}");
    let (before, fragment) = channel_url.split_once('#').unwrap();
    assert_eq!(before, format!("{PUBLIC_URL}/"), "nothing but the address before the #");
    assert!(fragment.starts_with("v1/channel/"), "{fragment}");
    assert_eq!(
        AppLink::parse(channel_url).unwrap(),
        AppLink::parse(invite).unwrap(),
        "the same invite in both forms"
    );

    // A citizen follows with the URL and verifies the town with its URL.
    let citizen = town.citizen("Bürgerin Bauer");
    let followed = citizen.ok(&["follow", channel_url]);
    assert!(followed.contains("Amtsblatt"), "{followed}");
    citizen.ok(&["verify", &handle, &org_url]);
    let info: serde_json::Value =
        serde_json::from_str(&last_line(&citizen.ok(&["org", "info", &handle, "--json"]))).unwrap();
    assert_eq!(info["verification"], "verified", "{info}");

    // A discussion group: the join link as before, then its URL; joining
    // with the URL works.
    let moderator = town.enrol("Moderation Rathaus", "buergermeister");
    let group = last_line(&moderator.ok(&["group", "create", "Bürgerforum"]));
    let invited = moderator.ok(&["group", "invite", &group]);
    assert!(invited.contains("stadtbote:group:"), "{invited}");
    let group_url = urls(&invited).pop().unwrap_or_else(|| panic!("no URL in {invited}"));
    assert!(group_url.starts_with(&format!("{PUBLIC_URL}/#v1/group/")), "{group_url}");
    assert_eq!(last_line(&citizen.ok(&["group", "join", &group_url])), group);

    // The poster: both QR codes are URLs, and the town's URL is printed.
    let svg = dir.path().join("aushang.svg");
    let pdf = dir.path().join("aushang.pdf");
    press.ok(&["org", "poster", "--out", &svg.to_string_lossy()]);
    press.ok(&["org", "poster", "--out", &pdf.to_string_lossy()]);
    for (text, codes) in [svg_text(&svg), pdf_text(&pdf)] {
        assert_eq!(codes.len(), 2, "{codes:?}");
        assert!(codes.contains(&org_url), "the key's code is the town's URL: {codes:?}");
        let channel_code = codes.iter().find(|c| c.contains("#v1/channel/")).expect("invite URL");
        assert_eq!(AppLink::parse(channel_code).unwrap(), AppLink::parse(invite).unwrap());
        let joined: String = text.split_whitespace().collect();
        assert!(joined.contains(&org_url), "the URL is printed below the code: {text}");
        assert!(text.contains(&fingerprint), "{text}");
    }
}

#[test]
fn damaged_or_wrong_urls_are_refused_with_a_clear_message() {
    let town = Town::new(Server::start_with(&[("STADTBOTE_PUBLIC_URL", PUBLIC_URL)]));
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let dir = tempfile::tempdir().unwrap();
    let created = press.ok(&[
        "channel",
        "create",
        "Amtsblatt",
        "--json",
        "--out",
        &dir.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&created)).unwrap();
    let url = created["url"].as_str().unwrap().to_string();
    let citizen = town.citizen("Bürgerin Bauer");

    // Cut off (as by a chat app that breaks long lines).
    let cut = &url[..url.len() - 20];
    let err = citizen.fails(&["follow", cut]);
    assert!(err.contains("the channel link is damaged (cut off or mistyped)"), "{err}");
    assert!(!err.contains(&cut[40..]), "the secret part is not echoed: {err}");
    // The fragment lost entirely.
    let err = citizen.fails(&["follow", &format!("{PUBLIC_URL}/")]);
    assert!(err.contains("has no #v1/… part"), "{err}");
    // A channel URL where a group link is needed.
    let err = citizen.fails(&["group", "join", &url]);
    assert!(err.contains("of kind channel; a link of kind group is needed"), "{err}");
    // A later link version.
    let err = citizen.fails(&["follow", &url.replace("#v1/", "#v2/")]);
    assert!(err.contains("unknown link version"), "{err}");
    // In German.
    let err = citizen.fails(&["--lang", "de", "follow", cut]);
    assert!(err.contains("der channel-Link ist beschädigt"), "{err}");
    // Nothing was followed.
    let list = citizen.ok(&["channels", "--json"]);
    assert!(!list.contains("Amtsblatt"), "{list}");
}

#[test]
fn without_public_url_the_output_is_unchanged() {
    let town = Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let dir = tempfile::tempdir().unwrap();
    let created = press.ok(&[
        "channel",
        "create",
        "Amtsblatt",
        "--json",
        "--out",
        &dir.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&created)).unwrap();
    assert!(created.get("url").is_none(), "{created}");
    let printed = town.mayor.ok(&["org", "fingerprint", "--out", &dir.path().to_string_lossy()]);
    assert!(!printed.contains("#v1/"), "{printed}");
}
