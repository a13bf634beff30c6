//! The start page's explanations BITV 2.0 § 4 asks for (what the app does,
//! how to use it, where the accessibility statement is): in plain language,
//! or in Leichte Sprache when the user chose it (short sentences, one
//! statement each, one sentence per line, hard words explained; German,
//! the Netzwerk Leichte Sprache's rules). Every sentence is a catalog
//! entry; this module only says which and in what order.

use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::text::t;

/// The plain-language guide: (heading, paragraphs).
const GUIDE: (&str, &[&str]) = (
    "web-guide-heading",
    &["web-guide-switch", "web-guide-keyboard", "web-guide-times", "web-guide-statement"],
);

/// The Leichte Sprache explanations: (sub-heading, sentences) in order.
const EASY: &[(&str, &[&str])] = &[
    (
        "web-easy-what-heading",
        &[
            "web-easy-what-1",
            "web-easy-what-2",
            "web-easy-what-3",
            "web-easy-what-4",
            "web-easy-what-5",
            "web-easy-what-6",
        ],
    ),
    (
        "web-easy-secret-heading",
        &[
            "web-easy-secret-1",
            "web-easy-secret-2",
            "web-easy-secret-3",
            "web-easy-secret-4",
            "web-easy-secret-5",
            "web-easy-secret-6",
        ],
    ),
    (
        "web-easy-use-heading",
        &[
            "web-easy-use-1",
            "web-easy-use-2",
            "web-easy-use-3",
            "web-easy-use-4",
            "web-easy-use-5",
            "web-easy-use-6",
            "web-easy-use-7",
            "web-easy-use-8",
        ],
    ),
    ("web-easy-soon-heading", &["web-easy-soon-1", "web-easy-soon-2"]),
];

/// Appends the explanations to `main`: the Leichte Sprache ones when the
/// user chose Leichte Sprache, else the plain-language guide.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<()> {
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("guide");
    section.set_attribute("aria-labelledby", "guide-heading")?;
    if state.easy {
        section.set_class_name("easy");
        dom.add_text(&section, "h2", &t(lang, "web-easy-heading"))?.set_id("guide-heading");
        for (heading, sentences) in EASY {
            dom.add_text(&section, "h3", &t(lang, heading))?;
            for id in *sentences {
                dom.add_text(&section, "p", &t(lang, id))?;
            }
        }
    } else {
        let (heading, paragraphs) = GUIDE;
        dom.add_text(&section, "h2", &t(lang, heading))?.set_id("guide-heading");
        for id in paragraphs {
            dom.add_text(&section, "p", &t(lang, id))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use stadtbote_i18n::{Catalog, Lang};

    use super::*;

    /// Leichte Sprache: short sentences (the Netzwerk's rule of thumb: one
    /// statement, at most about 15 words), no semicolons or parentheses.
    #[test]
    fn the_leichte_sprache_sentences_are_short_and_simple() {
        let catalog = Catalog::get(Lang::De);
        for (heading, sentences) in EASY {
            assert!(catalog.has(heading), "{heading}");
            for id in *sentences {
                let text = catalog.value(id).unwrap();
                for sentence in text.split_inclusive(['.', ':', '?']) {
                    let words = sentence.split_whitespace().count();
                    assert!(words <= 15, "{id}: {words} words in {sentence:?}");
                }
                assert!(!text.contains([';', '(', ')']), "{id}: {text}");
            }
        }
    }
}
