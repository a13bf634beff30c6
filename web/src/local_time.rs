//! Dates and times as the user reads them: formatted by the browser's
//! `Intl` in the device's time zone and in the locale of the chosen
//! language ([`crate::lang::intl_locale`]). Every screen that shows a time
//! (a report's timeline, a chat message, the accessibility statement's
//! date) formats it here, never with a fixed format or in UTC.
//!
//! Browser only: `js_sys::Date` calls into JavaScript, so nothing here runs
//! in the native unit tests (the locale choice is tested in `lang`).

use js_sys::{Date, Object, Reflect};
use wasm_bindgen::JsValue;

/// How much of the moment to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The date only ("7. Dezember 2026", "7 December 2026").
    Date,
    /// Date and time of day, in the device's time zone.
    DateTime,
}

/// Milliseconds since the Unix epoch (UTC) of a calendar day's noon in
/// UTC: a fixed date that reads as the same day in every time zone.
pub fn utc_noon_ms(year: u32, month: u32, day: u32) -> f64 {
    Date::utc(f64::from(year), f64::from(month.saturating_sub(1)))
        + f64::from(day.saturating_sub(1)) * 86_400_000.0
        + 12.0 * 3_600_000.0
}

/// `unix_ms` formatted for `locale` in the device's time zone.
pub fn format(locale: &str, unix_ms: f64, style: Style) -> String {
    let options = Object::new();
    let set = |key: &str, value: &str| {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&options, &JsValue::from_str(key), &JsValue::from_str(value));
    };
    set("dateStyle", "long");
    if style == Style::DateTime {
        set("timeStyle", "short");
    }
    let date = Date::new(&JsValue::from_f64(unix_ms));
    let text: String = date.to_locale_string(locale, &options).into();
    text
}
