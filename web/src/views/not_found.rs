//! A fragment the app does not know. The fragment itself is not shown: it
//! may be (part of) a secret link.

use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::router::Route;
use crate::text::t;

/// Renders the screen into `main`; returns its title.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<String> {
    let lang = state.lang;
    let title = t(lang, "web-not-found-heading");
    let heading = dom.add_text(main, "h1", &title)?;
    heading.set_id("main-heading");
    heading.set_attribute("tabindex", "-1")?;
    dom.add_text(main, "p", &t(lang, "web-not-found-text"))?;
    let back = dom.add(main, "p")?;
    let link = dom.link(Route::About.href(), &t(lang, "web-back-home"))?;
    back.append_child(&link)?;
    Ok(title)
}
