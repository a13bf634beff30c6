//! What the town's page shows, from its verified profile (issue 16,
//! items 5 and 6): report categories, consultation hours (the weekly
//! slots in the town's time zone, whether a session is live, the
//! auto-reply outside it), how many channels it publishes, and its legal
//! pages — the Impressum and the GDPR Art. 13 privacy notice the org
//! admin set with `stadtbote org legal set`.
//!
//! Pure (no browser; unit-tested natively). Every string is the town's:
//! split into lines and cleaned of control and bidi-override characters
//! here, and shown as text (never as markup) by [`crate::views::town`].

use stadtbote_i18n::Lang;
use stadtbote_protocol::org::{HoursSlot, OrgProfile};
use stadtbote_protocol::org_legal::LegalField;

use crate::text::t;
use crate::town_check::clean;

/// The town's page, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TownPage {
    /// Report categories' names.
    pub categories: Vec<String>,
    /// Weekly consultation slots, e.g. "Dienstag, 17:00–18:00".
    pub hours: Vec<String>,
    /// The time zone the slots are in (IANA name).
    pub timezone: String,
    /// When the live session started (Unix ms), if one is live.
    pub live_since: Option<u64>,
    /// The auto-reply outside live sessions, as lines.
    pub auto_reply: Vec<String>,
    /// How many channels the profile lists.
    pub channels: usize,
    /// The Impressum, as lines (empty: none published).
    pub impressum: Vec<String>,
    /// The privacy notice: each given part with its lines.
    pub privacy: Vec<(LegalField, Vec<String>)>,
}

/// `text` as non-empty, cleaned lines.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(clean).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

/// The catalog id of a privacy-notice part's heading.
pub fn heading_id(field: LegalField) -> &'static str {
    match field {
        LegalField::Impressum => "web-town-impressum",
        LegalField::Controller => "web-town-controller",
        LegalField::Dpo => "web-town-dpo",
        LegalField::Purposes => "web-town-purposes",
        LegalField::Retention => "web-town-retention",
        LegalField::Recipients => "web-town-recipients",
        LegalField::Rights => "web-town-rights",
    }
}

/// A slot as people read it in `lang`: "Dienstag, 17:00–18:00".
pub fn slot_text(lang: Lang, slot: &HoursSlot) -> String {
    let day = match slot.weekday {
        0 => "web-weekday-mon",
        1 => "web-weekday-tue",
        2 => "web-weekday-wed",
        3 => "web-weekday-thu",
        4 => "web-weekday-fri",
        5 => "web-weekday-sat",
        _ => "web-weekday-sun",
    };
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    format!("{}, {}–{}", t(lang, day), hm(slot.start_min), hm(slot.end_min))
}

/// The page of a verified `profile` in `lang`.
pub fn town_page(profile: &OrgProfile, lang: Lang) -> TownPage {
    let legal = profile.legal.clone().unwrap_or_default();
    let privacy = LegalField::ALL
        .into_iter()
        .filter(|f| *f != LegalField::Impressum)
        .map(|f| (f, lines(legal.get(f))))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    TownPage {
        categories: profile.categories.iter().map(|c| clean(&c.name)).collect(),
        hours: profile.office_hours.iter().map(|s| slot_text(lang, s)).collect(),
        timezone: clean(&profile.timezone),
        live_since: profile.live_since,
        auto_reply: profile.auto_reply.as_deref().map(lines).unwrap_or_default(),
        channels: profile.channels.len(),
        impressum: lines(&legal.impressum),
        privacy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::org::Category;
    use stadtbote_protocol::org_legal::OrgLegal;

    #[test]
    fn the_page_shows_the_profiles_texts_cleaned() {
        let mut profile = OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Goslar".into(), 0);
        profile
            .categories
            .push(Category { name: "Straßen\u{202E}schaden".into(), department: "bauhof".into() });
        profile.office_hours.push(HoursSlot::parse("Tue 17:00-18:30").unwrap());
        profile.auto_reply = Some("Wir melden uns.\n\nBis bald.".into());
        profile.legal = Some(OrgLegal {
            impressum: "Stadt Goslar\n\nMarkt 1\u{1b}[2J".into(),
            dpo: "dsb@goslar.example".into(),
            ..OrgLegal::default()
        });
        let page = town_page(&profile, Lang::De);
        assert_eq!(page.categories, ["Straßenschaden"]);
        assert_eq!(page.hours, ["Dienstag, 17:00–18:30"]);
        assert_eq!(town_page(&profile, Lang::En).hours, ["Tuesday, 17:00–18:30"]);
        assert_eq!(page.auto_reply, ["Wir melden uns.", "Bis bald."]);
        assert_eq!(page.impressum, ["Stadt Goslar", "Markt 1[2J"]);
        assert_eq!(page.privacy, [(LegalField::Dpo, vec!["dsb@goslar.example".to_string()])]);
        assert_eq!((page.live_since, page.channels), (None, 0));
        let empty =
            town_page(&OrgProfile::new(OrgId([1; 16]), "x".into(), "X".into(), 0), Lang::De);
        assert!(empty.impressum.is_empty() && empty.privacy.is_empty());
    }
}
