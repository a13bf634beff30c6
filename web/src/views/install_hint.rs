//! Keeping this device's keys (issue 16, item 9), on the start page: the
//! keys live only in this browser's storage, so losing it loses them
//! unless another device is linked; and on an iPhone or iPad in Safari,
//! the hint to add the app to the home screen (Safari deletes a site's
//! storage after seven days without a visit otherwise).

use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::text::t;

/// The section, appended to `main`.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<()> {
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("keep-keys");
    section.set_attribute("aria-labelledby", "keep-keys-heading")?;
    dom.add_text(&section, "h2", &t(lang, "web-keys-heading"))?.set_id("keep-keys-heading");
    if state.home_screen_hint {
        let hint = dom.add_text(&section, "p", &t(lang, "web-install-ios"))?;
        hint.set_id("home-screen-hint");
        hint.set_class_name("hint");
    }
    dom.add_text(&section, "p", &t(lang, "web-keys-browser-data"))?.set_id("keys-browser-data");
    dom.add_text(&section, "p", &t(lang, "web-install-other"))?;
    Ok(())
}
