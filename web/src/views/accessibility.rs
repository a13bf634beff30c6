//! The "Erklärung zur Barrierefreiheit" (BITV 2.0 § 7; the fields of the
//! EU model statement, Implementing Decision (EU) 2018/1523): the status
//! of conformance, the content that is not accessible and why, when and
//! how that was assessed, the feedback contact and the enforcement
//! procedure. The operator's part (its name, `accessibility_contact`,
//! `accessibility_enforcement`) comes from the server's `/privacy`
//! statement; the rest is the app's own, from the catalogs. Linked from
//! every page's footer.

use serde_json::Value;
use web_sys::Element;

use crate::app::{Load, State};
use crate::dom::{Dom, DomResult};
use crate::local_time::{self, Style};
use crate::statement::server_text;
use crate::text::{t, t1};

/// The day of the self-assessment this statement reports (year, month,
/// day); renew it with every assessment.
pub const ASSESSED: (u32, u32, u32) = (2026, 12, 7);

/// The axe-core version the browser tests check every page with
/// (scripts/fetch-axe.sh; the test checks that the two agree).
pub const AXE_VERSION: &str = "4.14.1";

/// The operator's parts of the statement, from `/privacy`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperatorParts {
    /// Who runs the service.
    pub operator: Option<String>,
    /// Where barriers are reported: `accessibility_contact`, else the
    /// operator's privacy contact.
    pub contact: Option<String>,
    /// The enforcement body the operator named.
    pub enforcement: Option<String>,
}

impl OperatorParts {
    /// Reads them from the `/privacy` JSON (server strings cleaned).
    pub fn from_statement(value: &Value) -> OperatorParts {
        OperatorParts {
            operator: server_text(&value["operator"]["name"]),
            contact: server_text(&value["accessibility_contact"])
                .or_else(|| server_text(&value["operator"]["contact"])),
            enforcement: server_text(&value["accessibility_enforcement"]),
        }
    }
}

/// How a contact is shown: a link for an e-mail address or https page,
/// else text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactForm {
    /// `mailto:` link.
    Mail(String),
    /// A web page.
    Web(String),
    /// Plain text (a postal address, a phone number).
    Text(String),
}

/// The form `contact` is shown in.
pub fn contact_form(contact: &str) -> ContactForm {
    let one_word = !contact.contains(char::is_whitespace);
    if one_word && contact.starts_with("https://") {
        ContactForm::Web(contact.to_owned())
    } else if one_word
        && contact.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !contact.contains([':', '/', '?', '#'])
        })
    {
        ContactForm::Mail(contact.to_owned())
    } else {
        ContactForm::Text(contact.to_owned())
    }
}

fn add_contact(dom: &Dom, parent: &Element, contact: &str) -> DomResult<()> {
    match contact_form(contact) {
        ContactForm::Mail(mail) => {
            let link = dom.link(&format!("mailto:{mail}"), &mail)?;
            parent.append_child(&link)?;
        }
        ContactForm::Web(url) => {
            let link = dom.link(&url, &url)?;
            link.set_attribute("rel", "noopener noreferrer")?;
            parent.append_child(&link)?;
        }
        ContactForm::Text(text) => parent.set_text_content(Some(&text)),
    }
    Ok(())
}

fn section(dom: &Dom, main: &Element, id: &str, heading: &str) -> DomResult<Element> {
    let section = dom.add(main, "section")?;
    section.set_id(id);
    let heading_id = format!("{id}-heading");
    section.set_attribute("aria-labelledby", &heading_id)?;
    dom.add_text(&section, "h2", heading)?.set_id(&heading_id);
    Ok(section)
}

/// Renders the screen into `main`; returns its title.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<String> {
    let lang = state.lang;
    let title = t(lang, "web-a11y-heading");
    let heading = dom.add_text(main, "h1", &title)?;
    heading.set_id("main-heading");
    heading.set_attribute("tabindex", "-1")?;

    let parts = match &state.statement {
        Load::Ready(value) => Some(OperatorParts::from_statement(value)),
        Load::Loading | Load::Failed(_) => None,
    };
    let operator = parts
        .as_ref()
        .and_then(|p| p.operator.clone())
        .unwrap_or_else(|| t(lang, "web-a11y-operator-unknown"));
    dom.add_text(main, "p", &t1(lang, "web-a11y-intro", "operator", &operator))?;

    let status = section(dom, main, "a11y-status", &t(lang, "web-a11y-status-heading"))?;
    dom.add_text(&status, "p", &t(lang, "web-a11y-status"))?;

    let gaps = section(dom, main, "a11y-gaps", &t(lang, "web-a11y-gaps-heading"))?;
    let list = dom.add(&gaps, "ul")?;
    for id in ["web-a11y-gap-dgs", "web-a11y-gap-easy", "web-a11y-gap-features"] {
        dom.add_text(&list, "li", &t(lang, id))?;
    }

    let method = section(dom, main, "a11y-method", &t(lang, "web-a11y-method-heading"))?;
    let (year, month, day) = ASSESSED;
    let date =
        local_time::format(&state.locale, local_time::utc_noon_ms(year, month, day), Style::Date);
    let text = stadtbote_i18n::Catalog::get(lang).format(
        "web-a11y-method",
        &[
            ("date", stadtbote_i18n::Arg::Text(date)),
            ("axe", stadtbote_i18n::Arg::Text(AXE_VERSION.to_owned())),
        ],
    );
    dom.add_text(&method, "p", &text)?.set_id("a11y-method-text");

    let feedback = section(dom, main, "a11y-feedback", &t(lang, "web-a11y-feedback-heading"))?;
    dom.add_text(&feedback, "p", &t(lang, "web-a11y-feedback"))?;
    let facts = dom.with_class("dl", "facts")?;
    feedback.append_child(&facts)?;
    dom.add_text(&facts, "dt", &t(lang, "web-a11y-feedback-contact"))?;
    let contact = dom.add(&facts, "dd")?;
    contact.set_id("a11y-contact");
    match (&state.statement, parts.as_ref().and_then(|p| p.contact.as_deref())) {
        (_, Some(value)) => add_contact(dom, &contact, value)?,
        (Load::Loading, None) => contact.set_text_content(Some(&t(lang, "web-a11y-loading"))),
        (_, None) => contact.set_text_content(Some(&t(lang, "web-a11y-contact-unknown"))),
    }

    let enforcement =
        section(dom, main, "a11y-enforcement", &t(lang, "web-a11y-enforcement-heading"))?;
    dom.add_text(&enforcement, "p", &t(lang, "web-a11y-enforcement"))?;
    let facts = dom.with_class("dl", "facts")?;
    enforcement.append_child(&facts)?;
    dom.add_text(&facts, "dt", &t(lang, "web-a11y-enforcement-body"))?;
    let body = dom.add(&facts, "dd")?;
    body.set_id("a11y-enforcement-body");
    match parts.as_ref().and_then(|p| p.enforcement.as_deref()) {
        Some(configured) => body.set_text_content(Some(configured)),
        None => {
            body.set_text_content(Some(&t(lang, "web-a11y-enforcement-federal")));
            dom.add_text(&enforcement, "p", &t(lang, "web-a11y-enforcement-land"))?;
        }
    }
    Ok(title)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_operator_parts_come_from_the_statement_with_fallbacks() {
        let full = json!({
            "operator": {"name": "Stadt Musterhausen", "contact": "datenschutz@m.example"},
            "accessibility_contact": "barrierefrei@m.example",
            "accessibility_enforcement": "Landesstelle\u{7}, https://land.example",
        });
        let parts = OperatorParts::from_statement(&full);
        assert_eq!(parts.operator.as_deref(), Some("Stadt Musterhausen"));
        assert_eq!(parts.contact.as_deref(), Some("barrierefrei@m.example"));
        assert_eq!(parts.enforcement.as_deref(), Some("Landesstelle, https://land.example"));
        let older = json!({"operator": {"name": null, "contact": "datenschutz@m.example"}});
        let parts = OperatorParts::from_statement(&older);
        assert_eq!(parts.contact.as_deref(), Some("datenschutz@m.example"));
        assert_eq!(parts.operator, None);
        assert_eq!(OperatorParts::from_statement(&json!({})), OperatorParts::default());
    }

    #[test]
    fn contacts_become_mail_or_web_links_only_when_they_are_one() {
        assert_eq!(contact_form("a@b.de"), ContactForm::Mail("a@b.de".into()));
        assert_eq!(
            contact_form("https://musterhausen.de/barrierefreiheit"),
            ContactForm::Web("https://musterhausen.de/barrierefreiheit".into())
        );
        for text in [
            "Rathaus, Markt 1, 12345 Musterhausen",
            "javascript:alert(1)@x.de",
            "http://plain.example",
            "a@b",
            "@b.de",
        ] {
            assert_eq!(contact_form(text), ContactForm::Text(text.into()), "{text}");
        }
    }

    #[test]
    fn the_statement_names_the_axe_version_the_tests_fetch() {
        let script = include_str!("../../../scripts/fetch-axe.sh");
        assert!(script.contains(&format!("\nVERSION={AXE_VERSION}\n")), "{script}");
    }
}
