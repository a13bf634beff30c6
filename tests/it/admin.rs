//! Server-admin commands: aggregate statistics and blocking accounts.

use crate::harness::Server;
use crate::municipal::Town;

#[test]
fn admin_stats_are_aggregates_and_block_refuses_an_account_until_unblocked() {
    let town = Town::new(Server::start());
    let anna = town.citizen("Anna Acker");
    let bernd = town.citizen("Bernd Bach");
    let a = anna.whoami()["account"].as_str().expect("account").to_string();
    let b = bernd.whoami()["account"].as_str().expect("account").to_string();
    anna.ok(&["send", &b, "Hallo Bernd"]);
    assert_eq!(bernd.inbox_texts(), ["Hallo Bernd"]);
    // Queued, not yet read by Anna.
    bernd.ok(&["send", &a, "Hallo Anna"]);

    let stats: serde_json::Value =
        serde_json::from_str(town.admin_ok(&["admin", "stats", "--json"]).trim())
            .expect("stats json");
    assert!(stats["accounts"].as_u64().is_some_and(|n| n >= 4), "{stats}");
    assert!(stats["devices"].as_u64().is_some_and(|n| n >= 4), "{stats}");
    for key in ["connected", "queued_envelopes", "stored_bytes", "channels", "channel_posts"] {
        assert!(stats[key].as_u64().is_some(), "{key} is an integer: {stats}");
    }
    assert!(stats["queued_envelopes"].as_u64().is_some_and(|n| n >= 1), "{stats}");
    assert!(stats["stored_bytes"].as_u64().is_some_and(|n| n > 0), "{stats}");
    let orgs = stats["orgs"].as_array().expect("orgs");
    assert!(orgs.iter().any(|o| o["handle"] == "musterhausen"), "{stats}");

    let text = town.admin_ok(&["admin", "stats"]);
    assert!(text.contains("accounts: ") && text.contains("musterhausen"), "{text}");
    for id in [&a, &b] {
        assert!(!text.contains(id.as_str()), "no account id in the stats: {text}");
        assert!(!stats.to_string().contains(id.as_str()), "{stats}");
    }

    // Only server admins.
    anna.fails(&["admin", "stats"]);
    town.mayor.fails(&["admin", "stats", "--json"]);

    let out = town.admin_ok(&["admin", "block", &a]);
    assert!(out.contains(&format!("blocked {a} (1 device)")), "{out}");
    let err = anna.fails(&["inbox"]);
    assert!(err.contains("blocked"), "a clear error: {err}");
    // Others keep working.
    bernd.ok(&["inbox"]);
    town.admin_ok(&["admin", "stats"]);
    assert!(!town.server.log().contains(&a), "no account id in the server log");

    let out = town.admin_ok(&["admin", "unblock", &a]);
    assert!(out.contains(&format!("unblocked {a} (1 device)")), "{out}");
    assert_eq!(anna.inbox_texts(), ["Hallo Anna"]);

    // An unknown account is refused.
    let unknown = stadtbote_protocol::AccountId::random().to_string();
    let err = town.admin_fails(&["admin", "block", &unknown]);
    assert!(!err.is_empty(), "an error for an unknown account");
}
