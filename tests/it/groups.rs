//! Discussion groups end to end: a staff moderator opens a group, citizens
//! join by link, everyone sees the others' posts under their chosen names,
//! and a removed member can read nothing posted afterwards and cannot come
//! back with the old link.

use crate::block_on;
use crate::harness::{Server, json_lines, last_line, raw};
use crate::municipal::Town;

fn texts_and_names(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["text"].as_str().unwrap_or_default().to_string(),
                l["from_name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn members_see_each_others_posts_and_a_removed_member_reads_nothing_later() {
    let town = Town::new(Server::start());
    let moderator = town.enrol("Moderation Rathaus", "buergermeister");
    let group = last_line(&moderator.ok(&["group", "create", "Bürgerforum Radwege"]));
    assert!(stadtbote_protocol::GroupId::parse(&group).is_ok(), "{group}");
    let link = last_line(&moderator.ok(&["group", "invite", &group]));
    assert!(link.to_lowercase().starts_with("stadtbote:group:"), "{link}");

    let anna = town.citizen("Anna Amsel");
    let bernd = town.citizen("Bernd Buche");
    assert_eq!(last_line(&anna.ok(&["group", "join", &link])), group);
    assert_eq!(last_line(&bernd.ok(&["group", "join", &link])), group);

    anna.ok(&["group", "post", &group, "Wir brauchen einen Radweg zur Schule."]);
    bernd.ok(&["group", "post", &group, "Ich stimme zu!"]);
    moderator.ok(&["group", "post", &group, "Danke, wir nehmen das auf."]);

    let seen_by_bernd =
        texts_and_names(&json_lines(&bernd.ok(&["group", "read", &group, "--json"])));
    assert!(
        seen_by_bernd
            .contains(&("Wir brauchen einen Radweg zur Schule.".into(), "Anna Amsel".into())),
        "{seen_by_bernd:?}"
    );
    assert!(
        seen_by_bernd.iter().any(|(t, _)| t == "Danke, wir nehmen das auf."),
        "{seen_by_bernd:?}"
    );
    let seen_by_anna = texts_and_names(&json_lines(&anna.ok(&["group", "read", &group, "--json"])));
    assert!(
        seen_by_anna.contains(&("Ich stimme zu!".into(), "Bernd Buche".into())),
        "{seen_by_anna:?}"
    );
    // Shown once.
    assert!(json_lines(&anna.ok(&["group", "read", &group, "--json"])).is_empty());

    // The moderator removes Bernd; later posts are out of his reach.
    let bernd_account = bernd.whoami()["account"].as_str().unwrap().to_string();
    moderator.ok(&["group", "remove", &group, &bernd_account]);
    let after = "Nach dem Ausschluss: Termin ist Dienstag";
    moderator.ok(&["group", "post", &group, after]);
    anna.ok(&["group", "post", &group, "Ich komme am Dienstag."]);
    let anna_reads = json_lines(&anna.ok(&["group", "read", &group, "--json"]));
    assert!(anna_reads.iter().any(|l| l["text"] == after), "{anna_reads:?}");

    let bernd_out = bernd.run(&["group", "read", &group, "--json"]);
    let bernd_text = String::from_utf8_lossy(&bernd_out.stdout);
    assert!(
        !bernd_text.contains(after) && !bernd_text.contains("Ich komme am Dienstag."),
        "{bernd_text}"
    );
    // Nothing at all is queued for his device any more.
    let mailbox =
        block_on(raw::mailbox_of(&town.server.url(), &bernd.home, &bernd.device_id())).unwrap();
    assert!(mailbox.is_empty(), "{} envelopes still reach the removed member", mailbox.len());
    // The link was replaced: the old one lets nobody in any more (tried
    // from a fresh device, so the server's check is what refuses).
    let newcomer = town.citizen("Bernd auf neuem Gerät");
    let err = newcomer.fails(&["group", "join", &link]);
    assert!(err.to_lowercase().contains("link"), "{err}");
}
