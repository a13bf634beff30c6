//! Which language the app starts in: the user's earlier choice (kept in the
//! browser's `localStorage`, never sent anywhere), else the first of the
//! browser's languages that Stadtbote speaks, else German.

use stadtbote_i18n::Lang;

/// The `localStorage` key of the user's choice.
pub const STORAGE_KEY: &str = "stadtbote.lang";

/// The `localStorage` key of the choice "Leichte Sprache" (`"1"`), kept
/// apart from [`STORAGE_KEY`] so that the language stays a plain code.
pub const EASY_STORAGE_KEY: &str = "stadtbote.easy";

/// Whether the start page's explanations show in Leichte Sprache: chosen
/// on this device (`saved` is `"1"`), and only with German (Leichte
/// Sprache is a German standard).
pub fn choose_easy(saved: Option<&str>, lang: Lang) -> bool {
    lang == Lang::De && saved == Some("1")
}

/// The locale that dates and times are formatted in (with the browser's
/// `Intl`, in the device's time zone): the first of the browser's
/// languages in the chosen language, so that an `en-GB` browser writes
/// British dates and a `de-AT` one Austrian; else the plain language code.
pub fn intl_locale(lang: Lang, browser: &[String]) -> String {
    browser
        .iter()
        .find(|tag| {
            // A plain BCP 47 tag only: it goes back into `Intl`.
            let plain = !tag.is_empty()
                && tag.len() <= 35
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            plain && Lang::parse(tag) == Some(lang)
        })
        .cloned()
        .unwrap_or_else(|| lang.code().to_owned())
}

/// The start language from the saved choice and the browser's languages
/// (`navigator.languages`, most preferred first).
pub fn choose(saved: Option<&str>, browser: &[String]) -> Lang {
    saved
        .and_then(Lang::parse)
        .or_else(|| browser.iter().find_map(|tag| Lang::parse(tag)))
        .unwrap_or(Lang::De)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn langs(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn saved_choice_then_browser_then_german() {
        assert_eq!(choose(None, &[]), Lang::De);
        assert_eq!(choose(None, &langs(&["fr-FR", "en-GB", "de"])), Lang::En);
        assert_eq!(choose(None, &langs(&["de-AT", "en"])), Lang::De);
        assert_eq!(choose(Some("en"), &langs(&["de-DE"])), Lang::En);
        assert_eq!(choose(Some("xx"), &langs(&["fr"])), Lang::De);
        // German unless English is preferred over German.
        assert_eq!(choose(None, &langs(&["en-US", "de-DE"])), Lang::En);
        assert_eq!(choose(None, &langs(&["fr", "de-CH", "en"])), Lang::De);
    }

    #[test]
    fn leichte_sprache_only_when_chosen_and_german() {
        assert!(choose_easy(Some("1"), Lang::De));
        assert!(!choose_easy(Some("1"), Lang::En));
        assert!(!choose_easy(None, Lang::De));
        assert!(!choose_easy(Some("0"), Lang::De));
    }

    #[test]
    fn dates_follow_the_browsers_regional_variant_of_the_language() {
        assert_eq!(intl_locale(Lang::En, &langs(&["de-DE", "en-GB"])), "en-GB");
        assert_eq!(intl_locale(Lang::De, &langs(&["de-AT", "en"])), "de-AT");
        assert_eq!(intl_locale(Lang::De, &langs(&["en-US"])), "de");
        assert_eq!(intl_locale(Lang::En, &[]), "en");
        assert_eq!(intl_locale(Lang::De, &langs(&["de_DE.UTF-8\u{0}"])), "de");
    }
}
