//! The screens: [`shell`] draws what every screen shares (header with the
//! navigation and the language switch, footer) around the open screen's
//! module. A new screen is a module here and a [`Route`] variant.

pub mod about;
pub mod accessibility;
pub mod channel;
pub mod guide;
pub mod install_hint;
pub mod integrity_banner;
pub mod link;
pub mod not_found;
pub mod release;
pub mod shell;
pub mod town;

use wasm_bindgen::JsValue;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::router::Route;
use crate::text::t;

/// Renders `state` into the page's `#app` element.
pub fn render(dom: &Dom, state: &State) -> DomResult<()> {
    let document = dom.document();
    if let Some(html) = document.document_element() {
        html.set_attribute("lang", state.lang.code())?;
    }
    let root = document.get_element_by_id("app").ok_or_else(|| JsValue::from_str("no #app"))?;
    let main = dom.el("main")?;
    main.set_id("content");
    let title = match state.route {
        Route::About => about::render(dom, state, &main)?,
        Route::Accessibility => accessibility::render(dom, state, &main)?,
        Route::Link => match &state.channel {
            Some(screen) => channel::render(dom, state, screen, &main)?,
            None => link::render(dom, state, &main)?,
        },
        Route::NotFound => not_found::render(dom, state, &main)?,
    };
    document.set_title(&format!("{title} – {}", t(state.lang, "web-app-name")));
    root.set_text_content(None);
    shell::header(dom, state, &root)?;
    integrity_banner::render(dom, state, &root)?;
    root.append_child(&main)?;
    shell::footer(dom, state, &root)?;
    root.set_attribute("aria-busy", "false")?;
    Ok(())
}
