//! The page's accessibility plumbing (BITV 2.0 / WCAG 2.1 AA) that every
//! screen relies on, browser side; docs/WEBAPP.md describes the pattern
//! the screens follow.
//!
//! * One polite live region (`#route-announce`), created once outside
//!   `#app` so that re-rendering never replaces it (a replaced region is
//!   not announced): a route change writes the new page's heading into it.
//! * Route changes move the keyboard focus to the new page's `<h1
//!   id="main-heading" tabindex="-1">`.
//! * Re-rendering (the whole `#app` is rebuilt on every state change, e.g.
//!   when a fetch completes) keeps the focus on the element with the same
//!   id, so that a keyboard or screen-reader user is not thrown back to
//!   the top of the page.
//! * The skip link ("Zum Inhalt springen", `data-skip`) focuses the
//!   heading instead of following its `#…` target, which the hash router
//!   would read as a route.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, HtmlElement};

use crate::dom::DomResult;

/// The id of every page's `<h1>`: route changes and the skip link focus it.
pub const HEADING_ID: &str = "main-heading";

/// The id of the live region that announces route changes.
pub const ANNOUNCE_ID: &str = "route-announce";

/// The attribute that marks the skip link.
pub const SKIP_ATTRIBUTE: &str = "data-skip";

/// Creates the live region once, at the end of `<body>` (outside `#app`).
pub fn install(document: &Document) -> DomResult<()> {
    if document.get_element_by_id(ANNOUNCE_ID).is_some() {
        return Ok(());
    }
    let body = document.body().ok_or_else(|| JsValue::from_str("no body"))?;
    let region = document.create_element("div")?;
    region.set_id(ANNOUNCE_ID);
    region.set_class_name("visually-hidden");
    region.set_attribute("role", "status")?;
    region.set_attribute("aria-live", "polite")?;
    region.set_attribute("aria-atomic", "true")?;
    body.append_child(&region)?;
    Ok(())
}

/// Writes `text` into the live region (screen readers read it out).
pub fn announce(document: &Document, text: &str) {
    if let Some(region) = document.get_element_by_id(ANNOUNCE_ID) {
        region.set_text_content(Some(text));
    }
}

/// The text of the open page's heading.
pub fn heading_text(document: &Document) -> Option<String> {
    document.get_element_by_id(HEADING_ID)?.text_content()
}

/// Moves the keyboard focus to the element `id` (when it exists and can
/// take focus).
pub fn focus(document: &Document, id: &str) {
    let element = document.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlElement>().ok());
    if let Some(element) = element {
        let _ = element.focus();
    }
}

/// Runs `render` (which rebuilds the page) and puts the focus back on the
/// element with the id that had it before, if that element is still there.
pub fn keeping_focus(document: &Document, render: impl FnOnce() -> DomResult<()>) -> DomResult<()> {
    let focused = document.active_element().map(|e| e.id()).filter(|id| !id.is_empty());
    render()?;
    if let Some(id) = focused {
        let still_focused = document.active_element().is_some_and(|e| e.id() == id);
        if !still_focused {
            focus(document, &id);
        }
    }
    Ok(())
}

/// Whether a click on `target` is one on the skip link; if so, the focus
/// moves to the page's heading and the caller prevents the default.
pub fn skip_link_clicked(document: &Document, target: &Element) -> bool {
    let Ok(Some(_link)) = target.closest(&format!("[{SKIP_ATTRIBUTE}]")) else { return false };
    focus(document, HEADING_ID);
    true
}
