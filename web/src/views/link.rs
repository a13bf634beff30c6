//! The screen of an app link (`#v1/…`): a town opened from its poster
//! (name, handle, fingerprint and "verifiziert", or a clear warning when
//! the server's answer does not match the link), or what a channel invite
//! or group join link is for. Following and joining come with the channel
//! and group screens; this screen says so and does nothing it cannot do.
//! Shows the handle and the key's fingerprint, never the link's secret.

use web_sys::Element;

use crate::app::State;
use crate::dom::{Dom, DomResult};
use crate::link_state::{LinkState, PinOutcome, TownCheck};
use crate::router::Route;
use crate::text::{t, t1};
use crate::town_check::Mismatch;
use stadtbote_i18n::Lang;
use stadtbote_protocol::app_link::AppLinkError;
use stadtbote_protocol::auth::fingerprint_of;

/// Renders the screen into `main`; returns its title.
pub fn render(dom: &Dom, state: &State, main: &Element) -> DomResult<String> {
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("link");
    section.set_attribute("aria-labelledby", "main-heading")?;
    let heading = |text: &str| -> DomResult<()> {
        let h1 = dom.add_text(&section, "h1", text)?;
        h1.set_id("main-heading");
        h1.set_attribute("tabindex", "-1")?;
        Ok(())
    };
    let title = match &state.link {
        None | Some(LinkState::Invalid(_)) => {
            let title = t(lang, "web-link-invalid-heading");
            heading(&title)?;
            let reason = match &state.link {
                Some(LinkState::Invalid(error)) => reason(lang, error),
                _ => reason(lang, &AppLinkError::NoFragment),
            };
            dom.add_text(&section, "p", &reason)?.set_attribute("role", "alert")?;
            dom.add_text(&section, "p", &t(lang, "web-link-invalid-next"))?;
            title
        }
        Some(LinkState::Town { handle, key, check }) => {
            let facts = |town_name: Option<&str>, fingerprint: &str| -> DomResult<()> {
                let dl = dom.add(&section, "dl")?;
                if let Some(name) = town_name {
                    dom.add_pair(&dl, &t(lang, "web-link-town"), name)?;
                }
                dom.add_pair(&dl, &t(lang, "web-link-handle"), handle)?;
                dom.add_pair(&dl, &t(lang, "web-link-fingerprint"), fingerprint)?
                    .set_id("town-fingerprint");
                Ok(())
            };
            match check {
                TownCheck::Loading => {
                    let title = t(lang, "web-link-town-heading");
                    heading(&title)?;
                    section.set_attribute("aria-busy", "true")?;
                    dom.add_text(&section, "p", &t(lang, "web-link-town-loading"))?
                        .set_attribute("role", "status")?;
                    facts(None, &fingerprint_of(&key.0))?;
                    title
                }
                TownCheck::Verified { town, pin } => {
                    heading(&town.name)?;
                    let badge = dom.add_text(&section, "p", &t(lang, "web-link-verified"))?;
                    badge.set_id("town-verified");
                    badge.set_class_name("verified");
                    badge.set_attribute("role", "status")?;
                    let pin_text = match pin {
                        PinOutcome::Pinned => "web-link-pinned",
                        PinOutcome::AlreadyPinned => "web-link-already-pinned",
                        PinOutcome::NotSaved => "web-link-not-saved",
                    };
                    dom.add_text(&section, "p", &t(lang, "web-link-verified-text"))?;
                    dom.add_text(&section, "p", &t(lang, pin_text))?;
                    if town.rotated {
                        dom.add_text(&section, "p", &t(lang, "web-link-rotated"))?;
                    }
                    facts(Some(&town.name), &town.fingerprint())?;
                    // s11-orgdata: the town's page from its verified profile.
                    super::town::render(dom, state, &section, town)?;
                    dom.add_text(&section, "p", &t(lang, "web-town-report-coming"))?
                        .set_class_name("note");
                    town.name.clone()
                }
                TownCheck::Mismatch(mismatch) => {
                    let title = t(lang, "web-link-warning-heading");
                    heading(&title)?;
                    let warning =
                        dom.add_text(&section, "p", &mismatch_text(lang, handle, mismatch))?;
                    warning.set_id("town-warning");
                    warning.set_class_name("warning");
                    warning.set_attribute("role", "alert")?;
                    dom.add_text(&section, "p", &t(lang, "web-link-warning-next"))?;
                    facts(None, &fingerprint_of(&key.0))?;
                    title
                }
                TownCheck::Failed => {
                    let title = t(lang, "web-link-town-heading");
                    heading(&title)?;
                    dom.add_text(&section, "p", &t(lang, "web-link-failed"))?
                        .set_attribute("role", "alert")?;
                    facts(None, &fingerprint_of(&key.0))?;
                    title
                }
            }
        }
        Some(LinkState::Channel { handle, fingerprint }) => {
            let title = t(lang, "web-link-channel-heading");
            heading(&title)?;
            dom.add_text(&section, "p", &t1(lang, "web-link-channel-text", "handle", handle))?;
            let dl = dom.add(&section, "dl")?;
            dom.add_pair(&dl, &t(lang, "web-link-handle"), handle)?;
            dom.add_pair(&dl, &t(lang, "web-link-fingerprint"), fingerprint)?;
            dom.add_text(&section, "p", &t(lang, "web-link-channel-coming"))?
                .set_class_name("note");
            title
        }
        Some(LinkState::Group { handle, fingerprint }) => {
            let title = t(lang, "web-link-group-heading");
            heading(&title)?;
            dom.add_text(&section, "p", &t1(lang, "web-link-group-text", "handle", handle))?;
            let dl = dom.add(&section, "dl")?;
            dom.add_pair(&dl, &t(lang, "web-link-handle"), handle)?;
            dom.add_pair(&dl, &t(lang, "web-link-fingerprint"), fingerprint)?;
            dom.add_text(&section, "p", &t(lang, "web-link-group-coming"))?.set_class_name("note");
            title
        }
    };
    let back = dom.add(main, "p")?;
    let home = dom.link(Route::About.href(), &t(lang, "web-back-home"))?;
    back.append_child(&home)?;
    Ok(title)
}

/// Why a link cannot be read (the CLI's words, from the shared catalogs).
fn reason(lang: Lang, error: &AppLinkError) -> String {
    match error {
        AppLinkError::Length => t(lang, "app-link-length"),
        AppLinkError::NotALink => t(lang, "app-link-not-a-link"),
        AppLinkError::NoFragment => t(lang, "app-link-no-fragment"),
        AppLinkError::UnknownVersion => t(lang, "app-link-unknown-version"),
        AppLinkError::UnknownKind => t(lang, "app-link-unknown-kind"),
        AppLinkError::WrongKind { .. } => t(lang, "app-link-unknown-kind"),
        AppLinkError::Malformed(kind) => t1(lang, "app-link-malformed", "kind", kind),
        _ => t(lang, "app-link-not-a-link"),
    }
}

fn mismatch_text(lang: Lang, handle: &str, mismatch: &Mismatch) -> String {
    match mismatch {
        Mismatch::UnknownTown => t1(lang, "web-link-mismatch-unknown", "handle", handle),
        Mismatch::OtherTown => t(lang, "web-link-mismatch-other"),
        Mismatch::NotSetUp => t(lang, "web-link-mismatch-not-set-up"),
        Mismatch::KeyDiffers { presented } => {
            t1(lang, "web-link-mismatch-key", "presented", presented)
        }
        Mismatch::NoValidProfile => t(lang, "web-link-mismatch-profile"),
        Mismatch::PinnedKeyDiffers { pinned } => {
            t1(lang, "web-link-mismatch-pinned", "pinned", pinned)
        }
    }
}
