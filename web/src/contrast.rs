//! WCAG 2.1 contrast ratios (success criteria 1.4.3 and 1.4.11) of the
//! colours in `web/assets/style.css`: the unit test reads the palette's
//! custom properties and checks every pair the page draws text (or a focus
//! ring) with. A new colour pair in the CSS gets a row here.

/// The relative luminance of `#rrggbb`; `None` for anything else.
pub fn luminance(hex: &str) -> Option<f64> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| -> Option<f64> {
        let value = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if value <= 0.03928 { value / 12.92 } else { ((value + 0.055) / 1.055).powf(2.4) })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

/// The contrast ratio of two `#rrggbb` colours (1 to 21).
pub fn ratio(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (luminance(a)?, luminance(b)?);
    let (light, dark) = if a > b { (a, b) } else { (b, a) };
    Some((light + 0.05) / (dark + 0.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--name: #rrggbb;` of the stylesheet.
    fn palette(css: &str, name: &str) -> String {
        let key = format!("--{name}:");
        let start = css.find(&key).unwrap_or_else(|| panic!("no --{name} in style.css"));
        let rest = &css[start + key.len()..];
        rest[..rest.find(';').unwrap()].trim().to_owned()
    }

    #[test]
    fn the_ratio_matches_known_values() {
        assert!((ratio("#000000", "#ffffff").unwrap() - 21.0).abs() < 1e-9);
        assert!((ratio("#777777", "#ffffff").unwrap() - 4.48).abs() < 0.01);
        assert_eq!(ratio("#fff", "#000000"), None);
    }

    #[test]
    fn the_palette_meets_wcag_aa() {
        let css = include_str!("../assets/style.css");
        // (foreground, background, minimum): text 4.5:1, focus ring 3:1.
        let pairs = [
            ("ink", "paper", 4.5),
            ("muted", "paper", 4.5),
            ("accent", "paper", 4.5),
            ("paper", "accent", 4.5),
            ("ink", "band", 4.5),
            ("muted", "band", 4.5),
            ("accent", "band", 4.5),
            ("focus", "paper", 3.0),
        ];
        for (fg, bg, minimum) in pairs {
            let value = ratio(&palette(css, fg), &palette(css, bg)).unwrap();
            assert!(value >= minimum, "--{fg} on --{bg}: {value:.2}:1 < {minimum}:1");
        }
    }
}
