//! The channel screen (issue 16, channels): a channel opened from its
//! invite link, followed without an account. Shows the channel's name and
//! town, the connection's state in a live region ("Verbindung unterbrochen
//! – wird wiederhergestellt"), a clear warning for withheld, forged or
//! otherwise rejected posts, the verified posts newest-last with local
//! times and their photos, and "Kanal nicht mehr folgen". All texts come
//! from the shared catalogs; the server's and the publisher's strings go
//! in as text, never as HTML.

use stadtbote_client::follow::WarningKind;
use stadtbote_i18n::Lang;
use web_sys::Element;

use crate::app::State;
use crate::channel_state::{ChannelScreen, Entry, Failure, Live, Photo, PostView};
use crate::dom::{Dom, DomResult};
use crate::router::Route;
use crate::text::t;
use stadtbote_i18n::{Arg, Catalog};

/// The `data-action` of the unfollow button (handled in `app`).
pub const UNFOLLOW_ACTION: &str = "unfollow-channel";

fn t_args(lang: Lang, id: &str, args: &[(&str, String)]) -> String {
    let args: Vec<(&str, Arg)> = args.iter().map(|(k, v)| (*k, Arg::Text(v.clone()))).collect();
    Catalog::get(lang).format(id, &args)
}

/// Renders the screen into `main`; returns its title.
pub fn render(
    dom: &Dom,
    state: &State,
    screen: &ChannelScreen,
    main: &Element,
) -> DomResult<String> {
    let lang = state.lang;
    let section = dom.add(main, "section")?;
    section.set_id("channel");
    section.set_attribute("aria-labelledby", "main-heading")?;
    let title = screen.name.clone().unwrap_or_else(|| t(lang, "web-channel-heading"));
    let h1 = dom.add_text(&section, "h1", &title)?;
    h1.set_id("main-heading");
    h1.set_attribute("tabindex", "-1")?;
    let from = t_args(lang, "web-channel-from", &[("handle", screen.handle.clone())]);
    dom.add_text(&section, "p", &from)?.set_id("channel-from");

    // The connection, announced politely when it changes.
    let status_text = match (screen.failure, screen.live) {
        (Some(_), _) => t(lang, "web-channel-status-stopped"),
        (None, Live::Connecting) => t(lang, "web-channel-status-connecting"),
        (None, Live::Listening) => t(lang, "web-channel-status-live"),
        (None, Live::Reconnecting) => t(lang, "web-channel-status-reconnecting"),
        (None, Live::Unfollowed) => t(lang, "web-channel-status-unfollowed"),
    };
    let status = dom.add_text(&section, "p", &status_text)?;
    status.set_id("channel-status");
    status.set_attribute("role", "status")?;
    status.set_attribute("aria-live", "polite")?;
    if screen.live == Live::Reconnecting {
        status.set_class_name("warning");
    }

    if let Some(failure) = screen.failure {
        let id = match failure {
            Failure::UnknownChannel => "web-channel-failed-unknown",
            Failure::Forged => "web-channel-failed-forged",
            Failure::OutdatedInvite => "web-channel-failed-outdated",
            Failure::ListsWithheld => "web-channel-failed-lists",
            Failure::Storage => "web-channel-failed-storage",
        };
        let p = dom.add_text(&section, "p", &t(lang, id))?;
        p.set_id("channel-failure");
        p.set_class_name("warning");
        p.set_attribute("role", "alert")?;
        let dl = dom.add(&section, "dl")?;
        dom.add_pair(&dl, &t(lang, "web-link-handle"), &screen.handle)?;
        dom.add_pair(&dl, &t(lang, "web-link-fingerprint"), &screen.fingerprint)?;
    }

    // Warnings first, where they are seen: posts missing or rejected.
    let warnings: Vec<&Entry> =
        screen.entries.iter().filter(|e| matches!(e, Entry::Warning { .. })).collect();
    if !warnings.is_empty() {
        let block = dom.add(&section, "div")?;
        block.set_id("channel-warnings");
        block.set_attribute("role", "alert")?;
        for entry in warnings {
            if let Entry::Warning { kind, seq, until } = entry {
                let p =
                    dom.add_text(&block, "p", &warning_text(lang, screen, *kind, *seq, *until))?;
                p.set_attribute("data-kind", kind.as_str())?;
                p.set_class_name(if *kind == WarningKind::Expired { "note" } else { "warning" });
            }
        }
    }

    let posts: Vec<&PostView> = screen.posts().collect();
    let list_heading = dom.add_text(&section, "h2", &t(lang, "web-channel-posts"))?;
    list_heading.set_id("channel-posts-heading");
    if posts.is_empty() && screen.failure.is_none() {
        let text = if screen.live == Live::Connecting {
            t(lang, "web-channel-loading")
        } else {
            t(lang, "web-channel-none")
        };
        dom.add_text(&section, "p", &text)?.set_id("channel-empty");
    }
    let list = dom.add(&section, "ol")?;
    list.set_id("channel-posts");
    list.set_class_name("posts");
    list.set_attribute("aria-labelledby", "channel-posts-heading")?;
    for post in posts {
        post_view(dom, state, &list, post)?;
    }

    if screen.failure.is_none() && screen.live != Live::Unfollowed {
        let actions = dom.add(&section, "p")?;
        let button = dom.add_text(&actions, "button", &t(lang, "web-channel-unfollow"))?;
        button.set_id("channel-unfollow");
        button.set_attribute("type", "button")?;
        button.set_attribute("data-action", UNFOLLOW_ACTION)?;
        button.set_class_name("secondary");
    }
    let back = dom.add(main, "p")?;
    let home = dom.link(Route::About.href(), &t(lang, "web-back-home"))?;
    back.append_child(&home)?;
    Ok(title)
}

fn post_view(dom: &Dom, state: &State, list: &Element, post: &PostView) -> DomResult<()> {
    let lang = state.lang;
    let item = dom.add(list, "li")?;
    item.set_class_name("post");
    item.set_id(&format!("post-{}", post.seq));
    let article = dom.add(&item, "article")?;
    article.set_attribute(
        "aria-label",
        &t_args(lang, "web-channel-post-label", &[("seq", post.seq.to_string())]),
    )?;
    let meta = dom.add(&article, "p")?;
    meta.set_class_name("post-meta");
    #[cfg(target_arch = "wasm32")]
    let when = crate::local_time::format(
        &state.locale,
        post.posted_at as f64,
        crate::local_time::Style::DateTime,
    );
    #[cfg(not(target_arch = "wasm32"))]
    let when = post.posted_at.to_string();
    let time = dom.add_text(&meta, "time", &when)?;
    time.set_attribute("datetime", &iso(post.posted_at))?;
    dom.add_text(&meta, "span", &format!(" · #{}", post.seq))?;
    if !post.text.is_empty() {
        let text = dom.add_text(&article, "p", &post.text)?;
        text.set_class_name("post-text");
    }
    for (index, photo) in post.photos.iter().enumerate() {
        let number = (index + 1).to_string();
        let alt = t_args(
            lang,
            "web-channel-photo-alt",
            &[("number", number.clone()), ("seq", post.seq.to_string())],
        );
        match photo {
            Photo::Ready(url) => {
                let img = dom.add(&article, "img")?;
                img.set_attribute("src", url)?;
                img.set_attribute("alt", &alt)?;
                img.set_class_name("post-photo");
            }
            Photo::Loading => {
                dom.add_text(
                    &article,
                    "p",
                    &t_args(lang, "web-channel-photo-loading", &[("number", number)]),
                )?
                .set_class_name("photo-placeholder");
            }
            Photo::Failed => {
                dom.add_text(
                    &article,
                    "p",
                    &t_args(lang, "web-channel-photo-failed", &[("number", number)]),
                )?
                .set_class_name("photo-placeholder");
            }
        }
    }
    Ok(())
}

fn range(seq: u64, until: u64) -> String {
    if seq == until { format!("#{seq}") } else { format!("#{seq} – #{until}") }
}

fn warning_text(
    lang: Lang,
    screen: &ChannelScreen,
    kind: WarningKind,
    seq: u64,
    until: u64,
) -> String {
    let id = match kind {
        WarningKind::Withheld => "web-channel-warning-withheld",
        WarningKind::Forged => "web-channel-warning-forged",
        WarningKind::Altered => "web-channel-warning-altered",
        WarningKind::Rotated => "web-channel-warning-rotated",
        WarningKind::Expired => "web-channel-note-expired",
        WarningKind::Revoked => "web-channel-warning-revoked",
    };
    t_args(lang, id, &[("posts", range(seq, until)), ("handle", screen.handle.clone())])
}

/// `unix_ms` as an ISO 8601 UTC timestamp for `<time datetime>`.
fn iso(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_are_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_796_601_600_000), "2026-12-07T00:00:00Z");
        assert_eq!(iso(951_782_400_000 + 3_723_000), "2000-02-29T01:02:03Z");
    }
}
