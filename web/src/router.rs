//! Which screen the URL names. Screens live in the fragment (`#/about`)
//! so that the server serves one page for all of them and never sees which
//! screen is open. Later screens (report, inbox, consultation) add a
//! variant here and a module in [`crate::views`].
//!
//! The fragment will also carry secrets (invite links, issue 16 item 4):
//! a fragment this router does not know is never shown or logged.

/// A screen of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The start page: what the service is, who runs it, what it stores.
    About,
    /// The "Erklärung zur Barrierefreiheit" (BITV 2.0 § 7), linked from
    /// every page's footer.
    Accessibility,
    /// An app link (`#v1/org|channel|group/…`, issue 16 item 4): the
    /// fragment is parsed into [`crate::link_state::LinkState`].
    Link,
    /// A fragment the app does not know.
    NotFound,
}

impl Route {
    /// The route of `location.hash` (with or without the leading `#`).
    pub fn from_hash(hash: &str) -> Route {
        let path = hash.strip_prefix('#').unwrap_or(hash);
        let path = path.strip_prefix('/').unwrap_or(path);
        if stadtbote_protocol::app_link::AppLink::is_link_fragment(path) {
            return Route::Link;
        }
        match path.trim_end_matches('/') {
            "" | "about" => Route::About,
            "barrierefreiheit" | "accessibility" => Route::Accessibility,
            _ => Route::NotFound,
        }
    }

    /// The fragment that opens this route (what links point to).
    pub fn href(self) -> &'static str {
        match self {
            Route::About | Route::Link | Route::NotFound => "#/",
            Route::Accessibility => "#/barrierefreiheit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_name_screens() {
        for hash in ["", "#", "#/", "#/about", "#about", "#/about/"] {
            assert_eq!(Route::from_hash(hash), Route::About, "{hash:?}");
        }
        for hash in ["#/nope", "#stadtbote:channel/x", "#/about/x"] {
            assert_eq!(Route::from_hash(hash), Route::NotFound, "{hash:?}");
        }
        assert_eq!(Route::from_hash(Route::About.href()), Route::About);
        for hash in ["#/barrierefreiheit", "#/accessibility", "#barrierefreiheit/"] {
            assert_eq!(Route::from_hash(hash), Route::Accessibility, "{hash:?}");
        }
        assert_eq!(Route::from_hash(Route::Accessibility.href()), Route::Accessibility);
        for hash in ["#v1/org/goslar/AAAA", "#v1/channel/X", "v1/group/Y", "#v2/x", "#/v1/org/a/b"]
        {
            assert_eq!(Route::from_hash(hash), Route::Link, "{hash:?}");
        }
    }
}
