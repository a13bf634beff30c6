//! The fonts the poster's PDF embeds, and what is read from them.
//!
//! DejaVu Sans, DejaVu Sans Bold and DejaVu Sans Mono (the files in
//! `client-cli/assets/fonts/`, under the Bitstream Vera/Arev font licence
//! next to them) are compiled into the binary, so that a fresh build needs
//! no fonts installed and every poster looks the same. They cover Latin
//! with all its European extensions (Sorbian, Polish, Czech, Hungarian,
//! Turkish …), Greek and Cyrillic.
//!
//! build.rs deflates them for the binary (0.94 MB instead of 1.8 MB); they
//! are inflated on first use.
//!
//! This module owns the font files, the glyph lookup (a character the font
//! lacks is a typed error naming it) and the metrics: advance widths for the
//! layout, and the values a PDF font descriptor needs. It does no I/O.

use std::sync::OnceLock;

use ttf_parser::{Face, GlyphId};

use super::{Font, Metrics, PosterError};

/// DejaVu Sans 2.37, deflated by build.rs (half the size in the binary).
const REGULAR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/DejaVuSans.ttf.deflate"));
/// DejaVu Sans Bold 2.37, deflated.
const BOLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/DejaVuSans-Bold.ttf.deflate"));
/// DejaVu Sans Mono 2.37, deflated.
const MONO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/DejaVuSansMono.ttf.deflate"));
/// The largest a font file may inflate to (the three are 0.3-0.8 MB).
const MAX_FONT_BYTES: usize = 4 << 20;

/// A font file inflated once per process (a poster run makes one or two
/// posters; the fonts then stay for the faces that borrow them).
fn inflated(
    cell: &'static OnceLock<Result<Vec<u8>, String>>,
    deflated: &[u8],
) -> Result<&'static [u8], String> {
    cell.get_or_init(|| {
        miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_FONT_BYTES)
            .map_err(|error| format!("cannot inflate the font: {error:?}"))
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(Clone::clone)
}

/// One embedded font file, parsed.
pub struct FontFace {
    /// Its PostScript name (the PDF's `/BaseFont` after the subset tag).
    pub postscript_name: &'static str,
    /// The whole file (what the subsetter reads).
    pub data: &'static [u8],
    face: Face<'static>,
}

impl FontFace {
    fn parse(
        postscript_name: &'static str,
        cell: &'static OnceLock<Result<Vec<u8>, String>>,
        deflated: &[u8],
    ) -> Result<Self, PosterError> {
        let failed = |reason: String| PosterError::Font { font: postscript_name, reason };
        let data = inflated(cell, deflated).map_err(failed)?;
        let face = Face::parse(data, 0).map_err(|error| failed(error.to_string()))?;
        Ok(FontFace { postscript_name, data, face })
    }

    /// The glyph that shows `c`, unless the font has none.
    pub fn glyph(&self, c: char) -> Option<u16> {
        self.face.glyph_index(c).map(|g| g.0).filter(|&g| g != 0)
    }

    /// The advance width of a glyph, in thousandths of an em (the unit of
    /// PDF glyph widths).
    pub fn advance_milli(&self, glyph: u16) -> f32 {
        let advance = self.face.glyph_hor_advance(GlyphId(glyph)).unwrap_or(0);
        self.to_milli(advance.into())
    }

    /// The width of `text` in ems, with the font's real advance widths (no
    /// kerning: the PDF does not kern either). A character the font lacks
    /// counts as its .notdef box; the PDF refuses it before it is drawn.
    pub fn width_em(&self, text: &str) -> f32 {
        let milli: f32 = text.chars().map(|c| self.advance_milli(self.glyph(c).unwrap_or(0))).sum();
        milli / 1000.0
    }

    /// The first character of `text` the font cannot show.
    pub fn check(&self, text: &str) -> Result<(), PosterError> {
        match text.chars().find(|c| self.glyph(*c).is_none()) {
            Some(character) => Err(PosterError::NotInFont { character, text: text.to_string() }),
            None => Ok(()),
        }
    }

    /// Font units in thousandths of an em.
    pub fn to_milli(&self, units: f32) -> f32 {
        units * 1000.0 / f32::from(self.face.units_per_em().max(1))
    }

    /// The values of the PDF font descriptor, in thousandths of an em.
    pub fn descriptor(&self) -> Descriptor {
        let bbox = self.face.global_bounding_box();
        let ascent = self.to_milli(self.face.ascender().into());
        // The usual estimate of the dominant vertical stem from the weight
        // class (the font has no such table).
        let weight = f32::from(self.face.weight().to_number());
        Descriptor {
            bbox: [
                self.to_milli(bbox.x_min.into()),
                self.to_milli(bbox.y_min.into()),
                self.to_milli(bbox.x_max.into()),
                self.to_milli(bbox.y_max.into()),
            ],
            italic_angle: self.face.italic_angle(),
            ascent,
            descent: self.to_milli(self.face.descender().into()),
            cap_height: self.face.capital_height().map_or(ascent, |h| self.to_milli(h.into())),
            stem_v: 10.0 + 0.244 * (weight - 50.0),
            monospaced: self.face.is_monospaced(),
            bold: weight >= 600.0,
        }
    }
}

/// What a PDF font descriptor says about a font.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Descriptor {
    /// The bounding box of all glyphs: left, bottom, right, top.
    pub bbox: [f32; 4],
    /// Degrees counter-clockwise from vertical (0: upright).
    pub italic_angle: f32,
    /// Above the baseline.
    pub ascent: f32,
    /// Below the baseline (negative).
    pub descent: f32,
    /// The height of capital letters.
    pub cap_height: f32,
    /// The dominant vertical stem width.
    pub stem_v: f32,
    /// All glyphs have the same width.
    pub monospaced: bool,
    /// A bold face.
    pub bold: bool,
}

/// The three embedded fonts, parsed once per poster.
pub struct Faces {
    regular: FontFace,
    bold: FontFace,
    mono: FontFace,
}

impl Faces {
    /// Parses the embedded font files.
    pub fn load() -> Result<Faces, PosterError> {
        static INFLATED: [OnceLock<Result<Vec<u8>, String>>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let [regular, bold, mono] = &INFLATED;
        Ok(Faces {
            regular: FontFace::parse("DejaVuSans", regular, REGULAR)?,
            bold: FontFace::parse("DejaVuSans-Bold", bold, BOLD)?,
            mono: FontFace::parse("DejaVuSansMono", mono, MONO)?,
        })
    }

    /// The face a poster font is drawn with.
    pub fn get(&self, font: Font) -> &FontFace {
        match font {
            Font::Regular => &self.regular,
            Font::Bold => &self.bold,
            Font::Mono => &self.mono,
        }
    }
}

impl Metrics for Faces {
    fn width_em(&self, text: &str, font: Font) -> f32 {
        self.get(font).width_em(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fonts_parse_and_cover_central_european_names() {
        let faces = Faces::load().unwrap();
        for font in [Font::Regular, Font::Bold] {
            let face = faces.get(font);
            // Sorbian, Polish, Czech, Hungarian, German, and the poster's
            // own typography.
            face.check("Chóśebuz Budyšin Wojerecy Łódź Děčín Győr Müllhausen ß „x“ – …").unwrap();
            face.check("Київ Αθήνα").unwrap();
        }
        faces.get(Font::Mono).check("0123456789abcdef ").unwrap();
        assert!(!faces.get(Font::Regular).descriptor().monospaced);
        assert!(faces.get(Font::Mono).descriptor().monospaced);
        assert!(faces.get(Font::Bold).descriptor().bold);
        assert!(!faces.get(Font::Regular).descriptor().bold);
    }

    /// What the binary carries is the committed file, byte for byte.
    #[test]
    fn the_inflated_fonts_are_the_committed_files() {
        let faces = Faces::load().unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/");
        for (font, file) in [
            (Font::Regular, "DejaVuSans.ttf"),
            (Font::Bold, "DejaVuSans-Bold.ttf"),
            (Font::Mono, "DejaVuSansMono.ttf"),
        ] {
            let committed = std::fs::read(format!("{dir}{file}")).unwrap();
            assert!(faces.get(font).data == committed.as_slice(), "{file}");
        }
    }

    #[test]
    fn a_missing_character_is_named() {
        let faces = Faces::load().unwrap();
        let err = faces.get(Font::Bold).check("Stadt 姉妹").unwrap_err();
        assert!(matches!(err, PosterError::NotInFont { character: '姉', .. }), "{err}");
        let err = faces.get(Font::Regular).check("Gruß 🙂").unwrap_err();
        assert!(matches!(err, PosterError::NotInFont { character: '🙂', .. }), "{err}");
    }

    #[test]
    fn widths_are_the_fonts_own() {
        let faces = Faces::load().unwrap();
        let regular = faces.get(Font::Regular);
        // DejaVu Sans: "W" is wider than "i", the bold face wider still,
        // and every mono glyph is 0.602 em.
        assert!(regular.width_em("W") > 3.0 * regular.width_em("i"));
        assert!(faces.get(Font::Bold).width_em("Wojerecy") > regular.width_em("Wojerecy"));
        let mono = faces.get(Font::Mono);
        assert!((mono.width_em("3f2a") - 4.0 * 0.602).abs() < 0.01);
        // Letters with diacritics are measured, not mapped to a base letter.
        assert!((regular.width_em("ś") - regular.width_em("s")).abs() < 0.001);
    }
}
