//! Installing the app (issue 16, item 9): whether to tell this browser to
//! add the app to the home screen. Safari on iOS deletes a site's storage
//! (and with it this device's keys) after seven days without a visit,
//! unless the app was added to the home screen; other browsers install
//! from their own menu (the web app manifest), so only Safari on an
//! iPhone or iPad gets the hint.

use wasm_bindgen::JsValue;

/// What the page knows of its browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Browser {
    /// `navigator.userAgent`.
    pub user_agent: String,
    /// `navigator.maxTouchPoints` (iPadOS reports itself as a Mac).
    pub max_touch_points: i32,
    /// Started from the home screen (`navigator.standalone` or the
    /// `display-mode: standalone` media query).
    pub standalone: bool,
}

impl Browser {
    /// The browser of `window`.
    pub fn of(window: &web_sys::Window) -> Browser {
        let navigator = window.navigator();
        let standalone_flag = js_sys::Reflect::get(&navigator, &JsValue::from_str("standalone"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let standalone_mode = window
            .match_media("(display-mode: standalone)")
            .ok()
            .flatten()
            .is_some_and(|query| query.matches());
        Browser {
            user_agent: navigator.user_agent().unwrap_or_default(),
            max_touch_points: navigator.max_touch_points(),
            standalone: standalone_flag || standalone_mode,
        }
    }
}

/// Whether to show the "add to the home screen" hint: an iPhone, iPod or
/// iPad in a browser tab (every browser there is Safari's engine and
/// shares its storage rule), not started from the home screen.
pub fn needs_home_screen_hint(browser: &Browser) -> bool {
    let ua = &browser.user_agent;
    let ios = ua.contains("iPhone")
        || ua.contains("iPod")
        || ua.contains("iPad")
        || (ua.contains("Macintosh") && browser.max_touch_points > 1);
    ios && !browser.standalone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browser(ua: &str, touch: i32, standalone: bool) -> Browser {
        Browser { user_agent: ua.to_owned(), max_touch_points: touch, standalone }
    }

    #[test]
    fn only_ios_in_a_tab_gets_the_hint() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let ipad_as_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                           (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                       Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert!(needs_home_screen_hint(&browser(iphone, 5, false)));
        assert!(!needs_home_screen_hint(&browser(iphone, 5, true)));
        assert!(needs_home_screen_hint(&browser(ipad_as_mac, 5, false)));
        assert!(!needs_home_screen_hint(&browser(ipad_as_mac, 0, false)), "a real Mac");
        assert!(!needs_home_screen_hint(&browser(android, 5, false)));
    }
}
