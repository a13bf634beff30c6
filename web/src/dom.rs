//! Small helpers that build the page's elements. Text goes in as text
//! (`textContent`), never as HTML, and no element gets a `style`
//! attribute: the Content-Security-Policy allows neither inline script nor
//! inline style, and the look lives in `style.css`.

use wasm_bindgen::JsValue;
use web_sys::{Document, Element};

/// A DOM operation's failure (the browser's exception).
pub type DomResult<T> = Result<T, JsValue>;

/// Builds elements in one document.
#[derive(Clone)]
pub struct Dom {
    doc: Document,
}

impl Dom {
    /// The builder for `doc`.
    pub fn new(doc: Document) -> Dom {
        Dom { doc }
    }

    /// The document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// `<tag>` with no content.
    pub fn el(&self, tag: &str) -> DomResult<Element> {
        self.doc.create_element(tag)
    }

    /// `<tag class=…>`.
    pub fn with_class(&self, tag: &str, class: &str) -> DomResult<Element> {
        let element = self.el(tag)?;
        element.set_class_name(class);
        Ok(element)
    }

    /// `<tag>text</tag>`.
    pub fn text(&self, tag: &str, text: &str) -> DomResult<Element> {
        let element = self.el(tag)?;
        element.set_text_content(Some(text));
        Ok(element)
    }

    /// `<tag>text</tag>` appended to `parent`; returns the new element.
    pub fn add_text(&self, parent: &Element, tag: &str, text: &str) -> DomResult<Element> {
        let element = self.text(tag, text)?;
        parent.append_child(&element)?;
        Ok(element)
    }

    /// `<tag>` appended to `parent`; returns the new element.
    pub fn add(&self, parent: &Element, tag: &str) -> DomResult<Element> {
        let element = self.el(tag)?;
        parent.append_child(&element)?;
        Ok(element)
    }

    /// `<a href=…>text</a>`.
    pub fn link(&self, href: &str, text: &str) -> DomResult<Element> {
        let link = self.text("a", text)?;
        link.set_attribute("href", href)?;
        Ok(link)
    }

    /// A definition list row (`<dt>term</dt><dd>value</dd>`) appended to `dl`.
    pub fn add_pair(&self, dl: &Element, term: &str, value: &str) -> DomResult<Element> {
        self.add_text(dl, "dt", term)?;
        self.add_text(dl, "dd", value)
    }
}
