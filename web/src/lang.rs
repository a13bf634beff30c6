//! Which language the app starts in: the user's earlier choice (kept in the
//! browser's `localStorage`, never sent anywhere), else the first of the
//! browser's languages that Stadtbote speaks, else German.

use stadtbote_i18n::Lang;

/// The `localStorage` key of the user's choice.
pub const STORAGE_KEY: &str = "stadtbote.lang";

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
    }
}
