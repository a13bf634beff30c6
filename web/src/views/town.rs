//! The town's page below its verified name (issue 16, items 5 and 6): one
//! titled section each for the report categories, the consultation hours
//! (live or not, the auto-reply), the channels, the Impressum and the
//! privacy notice — all from the profile the town's key signed
//! ([`crate::town_page`]), every string of the town's set as text.

use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::local_time::{self, Style};
use crate::text::{t, t1};
use crate::town_check::VerifiedTown;
use crate::town_page::{TownPage, heading_id, town_page};

/// A `<section id=id aria-labelledby=id-heading>` with an `<h2>`.
fn titled(dom: &Dom, parent: &Element, id: &str, title: &str) -> DomResult<Element> {
    let section = dom.add(parent, "section")?;
    section.set_id(id);
    section.set_attribute("aria-labelledby", &format!("{id}-heading"))?;
    dom.add_text(&section, "h2", title)?.set_id(&format!("{id}-heading"));
    Ok(section)
}

/// Lines of the town's text as paragraphs.
fn paragraphs(dom: &Dom, parent: &Element, lines: &[String]) -> DomResult<()> {
    for line in lines {
        dom.add_text(parent, "p", line)?;
    }
    Ok(())
}

/// Renders the town's page into `parent`.
pub fn render(dom: &Dom, state: &State, parent: &Element, town: &VerifiedTown) -> DomResult<()> {
    let lang = state.lang;
    let page: TownPage = town_page(&town.profile, lang);

    let categories = titled(dom, parent, "town-categories", &t(lang, "web-town-categories"))?;
    if page.categories.is_empty() {
        dom.add_text(&categories, "p", &t(lang, "web-town-no-categories"))?;
    } else {
        dom.add_text(&categories, "p", &t(lang, "web-town-categories-text"))?;
        let list = dom.add(&categories, "ul")?;
        for name in &page.categories {
            dom.add_text(&list, "li", name)?;
        }
    }

    let hours = titled(dom, parent, "town-hours", &t(lang, "web-town-hours"))?;
    let status = match page.live_since {
        Some(since) => {
            let time = local_time::format(&state.locale, since as f64, Style::DateTime);
            t1(lang, "web-town-live", "time", &time)
        }
        None => t(lang, "web-town-not-live"),
    };
    let live = dom.add_text(&hours, "p", &status)?;
    live.set_id("town-live");
    live.set_class_name(if page.live_since.is_some() { "verified" } else { "note" });
    if page.hours.is_empty() {
        dom.add_text(&hours, "p", &t(lang, "web-town-no-hours"))?;
    } else {
        dom.add_text(&hours, "p", &t1(lang, "web-town-hours-zone", "zone", &page.timezone))?;
        let list = dom.add(&hours, "ul")?;
        list.set_id("town-slots");
        for slot in &page.hours {
            dom.add_text(&list, "li", slot)?;
        }
    }
    if page.live_since.is_none() && !page.auto_reply.is_empty() {
        let reply = dom.add(&hours, "div")?;
        reply.set_id("town-auto-reply");
        dom.add_text(&reply, "h3", &t(lang, "web-town-auto-reply"))?;
        paragraphs(dom, &reply, &page.auto_reply)?;
    }

    let channels = titled(dom, parent, "town-channels", &t(lang, "web-town-channels"))?;
    let count = page.channels.to_string();
    let text = if page.channels == 0 {
        t(lang, "web-town-no-channels")
    } else {
        t1(lang, "web-town-channels-text", "count", &count)
    };
    dom.add_text(&channels, "p", &text)?;

    let impressum = titled(dom, parent, "town-impressum", &t(lang, "web-town-impressum"))?;
    if page.impressum.is_empty() {
        dom.add_text(&impressum, "p", &t(lang, "web-town-no-impressum"))?;
    } else {
        paragraphs(dom, &impressum, &page.impressum)?;
    }

    let privacy = titled(dom, parent, "town-privacy", &t(lang, "web-town-privacy"))?;
    if page.privacy.is_empty() {
        dom.add_text(&privacy, "p", &t(lang, "web-town-no-privacy"))?;
    } else {
        dom.add_text(&privacy, "p", &t(lang, "web-town-privacy-text"))?;
        for (field, lines) in &page.privacy {
            let part = dom.add(&privacy, "div")?;
            part.set_id(&format!("town-privacy-{}", field.name()));
            dom.add_text(&part, "h3", &t(lang, heading_id(*field)))?;
            paragraphs(dom, &part, lines)?;
        }
    }
    dom.add_text(parent, "p", &t(lang, "web-town-signed"))?.set_class_name("note");
    Ok(())
}
