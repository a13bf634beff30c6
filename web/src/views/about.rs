//! The start page, "Über diesen Dienst": what the service is, who runs the
//! server and what it stores (the server's `/privacy` statement, fetched
//! from the same origin), and which build of the app this is. Needs no
//! account.

use web_sys::Element;

use crate::app::{Load, State};
use crate::build_info::{BuildInfo, VERSION};
use crate::dom::{Dom, DomResult};
use crate::statement::{self, StatementView};
use crate::text::{t, t1};

/// Renders the screen into `main`; returns its title.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<String> {
    let lang = state.lang;
    let title = t(lang, "web-about-heading");
    let intro = dom.add(main, "section")?;
    intro.set_attribute("aria-labelledby", "main-heading")?;
    let heading = dom.add_text(&intro, "h1", &title)?;
    heading.set_id("main-heading");
    heading.set_attribute("tabindex", "-1")?;
    for id in ["web-about-intro", "web-about-encryption", "web-about-no-number"] {
        dom.add_text(&intro, "p", &t(lang, id))?;
    }
    dom.add_text(&intro, "p", &t(lang, "web-about-coming"))?.set_class_name("note");
    followed(dom, state, main)?;
    // How to use the app, in plain language or Leichte Sprache (s9-a11y).
    super::guide::render(dom, state, main)?;

    let server = dom.add(main, "section")?;
    server.set_id("server");
    server.set_attribute("aria-labelledby", "server-heading")?;
    dom.add_text(&server, "h2", &t(lang, "web-server-heading"))?.set_id("server-heading");
    match &state.statement {
        Load::Loading => {
            server.set_attribute("aria-busy", "true")?;
            dom.add_text(&server, "p", &t(lang, "web-server-loading"))?
                .set_attribute("role", "status")?;
        }
        Load::Failed(error) => {
            let text = t1(lang, "web-server-failed", "reason", &error.text(lang));
            dom.add_text(&server, "p", &text)?.set_attribute("role", "alert")?;
        }
        Load::Ready(value) => {
            server.set_attribute("aria-busy", "false")?;
            statement_view(dom, state, &server, &statement::view_in(lang, value))?;
        }
    }

    let build = dom.add(main, "section")?;
    build.set_id("build");
    build.set_attribute("aria-labelledby", "build-heading")?;
    dom.add_text(&build, "h2", &t(lang, "web-build-heading"))?.set_id("build-heading");
    build_view(dom, state, &build)?;
    crate::views::release::render(dom, state, main)?;
    crate::views::install_hint::render(dom, state, main)?;
    Ok(title)
}

fn statement_view(
    dom: &Dom,
    state: &State,
    section: &Element,
    view: &StatementView,
) -> DomResult<()> {
    let lang = state.lang;
    let facts = dom.with_class("dl", "facts")?;
    section.append_child(&facts)?;
    dom.add_pair(&facts, &t(lang, "web-operator"), &view.operator)?.set_id("server-operator");
    dom.add_pair(&facts, &t(lang, "web-contact"), &view.contact)?.set_id("server-contact");
    dom.add_text(&facts, "dt", &t(lang, "web-source-code"))?;
    let source = dom.add(&facts, "dd")?;
    source.set_id("server-source");
    // A plain link the user follows (never loaded by the page itself).
    if view.source_code.starts_with("https://") {
        let link = dom.link(&view.source_code, &view.source_code)?;
        link.set_attribute("rel", "noopener noreferrer")?;
        source.append_child(&link)?;
    } else {
        source.set_text_content(Some(&view.source_code));
    }
    if let Some(url) = &view.public_url {
        dom.add_pair(&facts, &t(lang, "web-public-url"), url)?.set_id("server-public-url");
    }

    if !view.limits.is_empty() {
        dom.add_text(section, "h3", &t(lang, "web-limits-heading"))?;
        let list = dom.add(section, "ul")?;
        list.set_id("server-limits");
        for limit in &view.limits {
            dom.add_text(&list, "li", limit)?;
        }
    }

    dom.add_text(section, "h3", &t(lang, "web-stored-heading"))?;
    let stored = dom.with_class("dl", "stored")?;
    stored.set_id("server-stored");
    section.append_child(&stored)?;
    for (name, retention) in &view.stored {
        dom.add_pair(&stored, name, retention)?;
    }

    if !view.never_stored.is_empty() {
        dom.add_text(section, "h3", &t(lang, "web-never-heading"))?;
        let list = dom.add(section, "ul")?;
        list.set_id("server-never");
        for item in &view.never_stored {
            dom.add_text(&list, "li", item)?;
        }
    }
    Ok(())
}

fn build_view(dom: &Dom, state: &State, section: &Element) -> DomResult<()> {
    let lang = state.lang;
    let facts = dom.with_class("dl", "facts")?;
    section.append_child(&facts)?;
    dom.add_pair(&facts, &t(lang, "web-build-version"), VERSION)?.set_id("build-version");
    let unknown = t(lang, "web-build-unknown");
    let (rustc, bindgen) = match &state.build {
        Load::Ready(BuildInfo { rustc, wasm_bindgen, .. }) => (rustc.clone(), wasm_bindgen.clone()),
        Load::Loading => (unknown.clone(), unknown),
        Load::Failed(error) => {
            let text = t1(lang, "web-build-failed", "reason", &error.text(lang));
            dom.add_text(section, "p", &text)?.set_attribute("role", "alert")?;
            (unknown.clone(), unknown)
        }
    };
    dom.add_pair(&facts, &t(lang, "web-build-rustc"), &rustc)?.set_id("build-rustc");
    dom.add_pair(&facts, &t(lang, "web-build-wasm-bindgen"), &bindgen)?
        .set_id("build-wasm-bindgen");
    Ok(())
}

/// The channels this browser follows (s10-follow), when there are any.
fn followed(dom: &Dom, state: &State, main: &Element) -> DomResult<()> {
    if state.followed.is_empty() {
        return Ok(());
    }
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("followed");
    section.set_attribute("aria-labelledby", "followed-heading")?;
    dom.add_text(&section, "h2", &t(lang, "web-followed-heading"))?.set_id("followed-heading");
    let list = dom.add(&section, "ul")?;
    for channel in &state.followed {
        let item = dom.add(&list, "li")?;
        let name =
            if channel.name.is_empty() { channel.handle.clone() } else { channel.name.clone() };
        let href = format!("#{}", channel.fragment.trim_start_matches('#'));
        let link = dom.link(&href, &name)?;
        item.append_child(&link)?;
        dom.add_text(&item, "span", &format!(" · {}", channel.handle))?;
    }
    Ok(())
}
