//! The About page's part of the start-up check (issue 17, items 2 and 4):
//! the signed manifest's version, its fingerprint ("Prüfsumme", as
//! `stadtbote web-verify` prints it) and whose key signed it, the check's
//! result, and how to check the server independently.

use web_sys::Element;

use crate::app::{Load, State};
use crate::dom::{Dom, DomResult};
use crate::integrity::{Report, Signer};
use crate::text::{t, t1};
use crate::views::integrity_banner::manifest_error;

/// The section, appended to `main`.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<()> {
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("release");
    section.set_attribute("aria-labelledby", "release-heading")?;
    dom.add_text(&section, "h2", &t(lang, "web-release-heading"))?.set_id("release-heading");
    let status = match &state.integrity {
        Load::Loading => t(lang, "web-release-checking"),
        Load::Failed(error) => t1(lang, "web-release-unchecked", "reason", &error.text(lang)),
        Load::Ready(Report::Genuine(_)) => t(lang, "web-release-genuine"),
        Load::Ready(Report::Differs { .. }) => t(lang, "web-release-differs"),
        Load::Ready(Report::Invalid(error)) => {
            t1(lang, "web-release-invalid", "reason", &manifest_error(lang, error))
        }
    };
    let status = dom.add_text(&section, "p", &status)?;
    status.set_id("release-status");
    status.set_attribute("role", "status")?;

    if let Load::Ready(report) = &state.integrity
        && let Some(release) = report.release()
    {
        let facts = dom.with_class("dl", "facts")?;
        section.append_child(&facts)?;
        dom.add_pair(&facts, &t(lang, "web-release-version"), &release.version)?
            .set_id("release-version");
        let fingerprint =
            dom.add_pair(&facts, &t(lang, "web-release-fingerprint"), &release.fingerprint)?;
        fingerprint.set_id("release-fingerprint");
        fingerprint.set_class_name("fingerprint");
        let signer = match release.signer {
            Signer::Project => "web-release-signer-project",
            Signer::Operator => "web-release-signer-operator",
        };
        dom.add_pair(
            &facts,
            &t(lang, "web-release-signer"),
            &t1(lang, signer, "key", &release.key_fingerprint),
        )?
        .set_id("release-signer");
    }
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    dom.add_text(&section, "p", &t1(lang, "web-integrity-verify", "url", &origin))?;
    dom.add_text(&section, "p", &t(lang, "web-release-limit"))?.set_class_name("note");
    Ok(())
}
