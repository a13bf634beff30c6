//! What every screen shares, and the accessibility pattern around it
//! (docs/WEBAPP.md): the skip link first, then the header (landmark
//! `banner`: the app's name, the main navigation, the language switch),
//! the open screen's `<main>` (drawn by its module, with one `<h1
//! id="main-heading" tabindex="-1">`), and the footer (landmark
//! `contentinfo`) with the link to the "Erklärung zur Barrierefreiheit".

use stadtbote_i18n::Lang;
use web_sys::Element;

use crate::a11y;
use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::router::Route;
use crate::text::t;

/// The attribute that marks the "Leichte Sprache" choice of the switch.
pub const EASY_ATTRIBUTE: &str = "data-easy";

/// `<a href=…>` for `route`, marked as the current page where it is one.
fn route_link(dom: &Dom, state: &State, route: Route, text: &str) -> DomResult<Element> {
    let link = dom.link(route.href(), text)?;
    if state.route == route {
        link.set_attribute("aria-current", "page")?;
    }
    Ok(link)
}

/// The skip link and the header, appended to `root`.
pub fn header(dom: &Dom, state: &State, root: &Element) -> DomResult<()> {
    let lang = state.lang;
    // First in the tab order; visible when focused (style.css).
    let skip = dom.link(&format!("#{}", a11y::HEADING_ID), &t(lang, "web-skip-link"))?;
    skip.set_class_name("skip-link");
    skip.set_id("skip-link");
    skip.set_attribute(a11y::SKIP_ATTRIBUTE, "")?;
    root.append_child(&skip)?;

    let header = dom.add(root, "header")?;
    header.set_class_name("site-header");
    let name = dom.link(Route::About.href(), &t(lang, "web-app-name"))?;
    name.set_class_name("app-name");
    header.append_child(&name)?;

    let nav = dom.add(&header, "nav")?;
    nav.set_attribute("aria-label", &t(lang, "web-nav-label"))?;
    let list = dom.add(&nav, "ul")?;
    let item = dom.add(&list, "li")?;
    let about = route_link(dom, state, Route::About, &t(lang, "web-nav-about"))?;
    item.append_child(&about)?;

    // The switch: one button per choice, each labelled in its own
    // language, the current one marked pressed (and bold, not by colour
    // alone). "Leichte Sprache" is German with the start page's
    // explanations in Leichte Sprache.
    let switch = dom.with_class("div", "lang-switch")?;
    switch.set_attribute("role", "group")?;
    switch.set_attribute("aria-label", &t(lang, "web-lang-label"))?;
    let choices = [
        (Lang::De, false, "web-lang-de", "lang-de".to_owned()),
        (Lang::De, true, "web-lang-easy", "lang-de-easy".to_owned()),
        (Lang::En, false, "web-lang-en", "lang-en".to_owned()),
    ];
    for (option, easy, label, id) in choices {
        let button = dom.text("button", &t(option, label))?;
        button.set_attribute("type", "button")?;
        button.set_id(&id);
        button.set_attribute("data-lang", option.code())?;
        if easy {
            button.set_attribute(EASY_ATTRIBUTE, "")?;
        }
        button.set_attribute("lang", option.code())?;
        let pressed = option == lang && easy == state.easy;
        button.set_attribute("aria-pressed", if pressed { "true" } else { "false" })?;
        switch.append_child(&button)?;
    }
    header.append_child(&switch)?;
    Ok(())
}

/// The id of the switch's button for a choice (where the focus stays
/// after choosing).
pub fn switch_button_id(lang: Lang, easy: bool) -> String {
    if easy { format!("lang-{}-easy", lang.code()) } else { format!("lang-{}", lang.code()) }
}

/// The footer, appended to `root`: the pages every page links to (the
/// accessibility statement, as BITV 2.0 requires) and the app's promise.
pub fn footer(dom: &Dom, state: &State, root: &Element) -> DomResult<()> {
    let lang = state.lang;
    let footer = dom.add(root, "footer")?;
    footer.set_class_name("site-footer");
    let nav = dom.add(&footer, "nav")?;
    nav.set_attribute("aria-label", &t(lang, "web-footer-nav-label"))?;
    let list = dom.add(&nav, "ul")?;
    for (route, label) in
        [(Route::Accessibility, "web-footer-accessibility"), (Route::About, "web-footer-about")]
    {
        let item = dom.add(&list, "li")?;
        let link = route_link(dom, state, route, &t(lang, label))?;
        if route == Route::Accessibility {
            link.set_id("footer-accessibility");
        }
        item.append_child(&link)?;
    }
    dom.add_text(&footer, "p", &t(lang, "web-footer"))?;
    Ok(())
}
