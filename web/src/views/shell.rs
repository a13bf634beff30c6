//! What every screen shares: the header (the app's name, the navigation,
//! the language switch) and the footer.

use stadtbote_i18n::Lang;
use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::router::Route;
use crate::text::t;

/// The header, appended to `root`.
pub fn header(dom: &Dom, state: &State, root: &Element) -> DomResult<()> {
    let lang = state.lang;
    let header = dom.add(root, "header")?;
    header.set_class_name("site-header");
    let name = dom.link(Route::About.href(), &t(lang, "web-app-name"))?;
    name.set_class_name("app-name");
    header.append_child(&name)?;

    let nav = dom.add(&header, "nav")?;
    nav.set_attribute("aria-label", &t(lang, "web-nav-label"))?;
    let list = dom.add(&nav, "ul")?;
    let item = dom.add(&list, "li")?;
    let about = dom.link(Route::About.href(), &t(lang, "web-nav-about"))?;
    if state.route == Route::About {
        about.set_attribute("aria-current", "page")?;
    }
    item.append_child(&about)?;

    // The switch: one button per language, each labelled in its own
    // language, the current one marked pressed.
    let switch = dom.with_class("div", "lang-switch")?;
    switch.set_attribute("role", "group")?;
    switch.set_attribute("aria-label", &t(lang, "web-lang-label"))?;
    for (option, id) in [(Lang::De, "web-lang-de"), (Lang::En, "web-lang-en")] {
        let button = dom.text("button", &t(option, id))?;
        button.set_attribute("type", "button")?;
        button.set_id(&format!("lang-{}", option.code()));
        button.set_attribute("data-lang", option.code())?;
        button.set_attribute("lang", option.code())?;
        button.set_attribute("aria-pressed", if option == lang { "true" } else { "false" })?;
        switch.append_child(&button)?;
    }
    header.append_child(&switch)?;
    Ok(())
}

/// The footer, appended to `root`.
pub fn footer(dom: &Dom, state: &State, root: &Element) -> DomResult<()> {
    let footer = dom.add(root, "footer")?;
    footer.set_class_name("site-footer");
    dom.add_text(&footer, "p", &t(state.lang, "web-footer"))?;
    Ok(())
}
