//! The warning on every screen when the start-up check fails (issue 17,
//! item 4): what differs, and what to do about it. Nothing is shown while
//! the check runs, when it passed, or when it could not run (offline: not
//! evidence of a change; the About page says it could not check).

use stadtbote_i18n::Lang;
use stadtbote_protocol::web_manifest::{Difference, ManifestError};
use web_sys::Element;

use crate::app::{Load, State};
use crate::dom::{Dom, DomResult};
use crate::integrity::Report;
use crate::text::{t, t1};

/// How many differences the banner lists (the rest are counted).
const LISTED: usize = 8;

/// The banner, appended to `root` when the check found something.
pub fn render(dom: &Dom, state: &State, root: &Element) -> DomResult<()> {
    let Load::Ready(report) = &state.integrity else { return Ok(()) };
    if !report.warns() {
        return Ok(());
    }
    let lang = state.lang;
    let banner = dom.with_class("section", "integrity-warning")?;
    banner.set_id("integrity-warning");
    banner.set_attribute("role", "alert")?;
    banner.set_attribute("aria-labelledby", "integrity-warning-heading")?;
    root.append_child(&banner)?;
    dom.add_text(&banner, "h2", &t(lang, "web-integrity-warning-heading"))?
        .set_id("integrity-warning-heading");
    match report {
        Report::Invalid(error) => {
            let reason = manifest_error(lang, error);
            dom.add_text(&banner, "p", &t1(lang, "web-integrity-invalid", "reason", &reason))?;
        }
        Report::Differs { differences, .. } => {
            dom.add_text(&banner, "p", &t(lang, "web-integrity-differs"))?;
            let list = dom.add(&banner, "ul")?;
            list.set_id("integrity-differences");
            for difference in differences.iter().take(LISTED) {
                dom.add_text(&list, "li", &difference_text(lang, difference))?;
            }
            if differences.len() > LISTED {
                let more = (differences.len() - LISTED).to_string();
                dom.add_text(&list, "li", &t1(lang, "web-integrity-more", "count", &more))?;
            }
        }
        Report::Genuine(_) => {}
    }
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    dom.add_text(&banner, "p", &t(lang, "web-integrity-advice"))?;
    dom.add_text(&banner, "p", &t1(lang, "web-integrity-verify", "url", &origin))?;
    Ok(())
}

/// One difference in words. Paths come from this page's own list or the
/// manifest, whose paths are checked to be plain (`is_safe_path`).
pub fn difference_text(lang: Lang, difference: &Difference) -> String {
    let id = match difference {
        Difference::Missing { .. } => "web-integrity-file-missing",
        Difference::Extra { .. } | Difference::Unlisted { .. } => "web-integrity-file-unlisted",
        Difference::OtherOrigin { .. } => "web-integrity-file-other-origin",
        Difference::SizeDiffers { .. } | Difference::HashDiffers { .. } => {
            "web-integrity-file-changed"
        }
    };
    t1(lang, id, "path", difference.path())
}

/// Why the manifest did not verify, in words.
pub fn manifest_error(lang: Lang, error: &ManifestError) -> String {
    match error {
        ManifestError::Missing => t(lang, "web-integrity-error-missing"),
        ManifestError::Unsigned => t(lang, "web-integrity-error-unsigned"),
        ManifestError::WrongKey { found } => {
            t1(lang, "web-integrity-error-wrong-key", "key", found)
        }
        ManifestError::BadSignature => t(lang, "web-integrity-error-bad-signature"),
        _ => t(lang, "web-integrity-error-malformed"),
    }
}
