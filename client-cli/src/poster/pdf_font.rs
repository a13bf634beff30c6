//! One embedded font of the poster's PDF: the text shown with it encoded as
//! glyph ids, and the font written as a composite (Type0) font.
//!
//! The PDF structure is the one PDF 1.7 (ISO 32000-1, 9.7) prescribes for
//! TrueType outlines with any number of glyphs: a Type0 font with the
//! `Identity-H` encoding (two bytes per glyph in the content stream), a
//! CIDFontType2 descendant with the glyph widths from the font, a font
//! descriptor with the font program as `FontFile2`, and a `ToUnicode` CMap
//! from glyph ids back to characters, so that the text can be searched,
//! copied and extracted (the fingerprint must be copyable). Only the glyphs
//! used are embedded (typst's `subsetter`), under a subset name
//! (`ABCDEF+DejaVuSans`) that depends on the glyphs, as PDF requires.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref, Str};
use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;

use super::PosterError;
use super::font::FontFace;

/// The object numbers of one embedded font.
#[derive(Debug, Clone, Copy)]
pub struct FontRefs {
    /// The Type0 font (what the page's resources name).
    pub type0: Ref,
    /// Its CIDFontType2 descendant.
    pub cid_font: Ref,
    /// The font descriptor.
    pub descriptor: Ref,
    /// The ToUnicode CMap stream.
    pub to_unicode: Ref,
    /// The font program stream.
    pub file: Ref,
}

/// A font as used on the page so far.
pub struct Embedding<'f> {
    face: &'f FontFace,
    /// Old glyph id (in the font file) to new one (in the subset, the CID).
    glyphs: GlyphRemapper,
    /// What each CID shows, for the ToUnicode CMap.
    chars: BTreeMap<u16, char>,
}

impl<'f> Embedding<'f> {
    /// A font with no glyph used yet.
    pub fn new(face: &'f FontFace) -> Self {
        Embedding { face, glyphs: GlyphRemapper::new(), chars: BTreeMap::new() }
    }

    /// `text` as the content stream shows it: each character's glyph as a
    /// big-endian two-byte CID (`Identity-H`).
    pub fn encode(&mut self, text: &str) -> Result<Vec<u8>, PosterError> {
        let mut bytes = Vec::with_capacity(2 * text.len());
        for c in text.chars() {
            let glyph = self
                .face
                .glyph(c)
                .ok_or_else(|| PosterError::NotInFont { character: c, text: text.to_string() })?;
            let cid = self.glyphs.remap(glyph);
            self.chars.entry(cid).or_insert(c);
            bytes.extend_from_slice(&cid.to_be_bytes());
        }
        Ok(bytes)
    }

    /// Writes the font's objects: the subset of the glyphs [`Self::encode`]
    /// used, their widths and what they show.
    pub fn write(&self, pdf: &mut Pdf, refs: FontRefs) -> Result<(), PosterError> {
        let subset = subsetter::subset(self.face.data, 0, &self.glyphs).map_err(|error| {
            PosterError::Font { font: self.face.postscript_name, reason: error.to_string() }
        })?;
        let name = format!("{}+{}", self.subset_tag(), self.face.postscript_name);
        let system_info =
            SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

        pdf.type0_font(refs.type0)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(refs.cid_font)
            .to_unicode(refs.to_unicode);

        let mut cid_font = pdf.cid_font(refs.cid_font);
        cid_font
            .subtype(CidFontType::Type2)
            .base_font(Name(name.as_bytes()))
            .system_info(system_info)
            .font_descriptor(refs.descriptor)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        // The subset's glyph ids are the CIDs (0 = .notdef, then the glyphs
        // in the order they were first used).
        let widths: Vec<f32> =
            self.glyphs.remapped_gids().map(|old| self.face.advance_milli(old)).collect();
        cid_font.widths().consecutive(0, widths);
        cid_font.finish();

        let metrics = self.face.descriptor();
        let mut flags = FontFlags::NON_SYMBOLIC;
        if metrics.monospaced {
            flags |= FontFlags::FIXED_PITCH;
        }
        if metrics.bold {
            flags |= FontFlags::FORCE_BOLD;
        }
        let [left, bottom, right, top] = metrics.bbox;
        pdf.font_descriptor(refs.descriptor)
            .name(Name(name.as_bytes()))
            .flags(flags)
            .bbox(Rect::new(left, bottom, right, top))
            .italic_angle(metrics.italic_angle)
            .ascent(metrics.ascent)
            .descent(metrics.descent)
            .cap_height(metrics.cap_height)
            .stem_v(metrics.stem_v)
            .font_file2(refs.file);

        let mut cmap = UnicodeCmap::new(Name(b"Stadtbote-UCS"), system_info);
        for (cid, c) in &self.chars {
            cmap.pair(*cid, *c);
        }
        let cmap = cmap.finish();
        pdf.stream(refs.to_unicode, cmap.as_slice());

        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 9);
        let length = i32::try_from(subset.len()).map_err(|_| PosterError::Font {
            font: self.face.postscript_name,
            reason: "the subset is too large".into(),
        })?;
        pdf.stream(refs.file, &compressed)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), length);
        Ok(())
    }

    /// Six capital letters from the glyphs in the subset: two posters with
    /// different subsets of the same font get different names, so a viewer
    /// never mixes them up.
    fn subset_tag(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.face.postscript_name.as_bytes());
        for glyph in self.glyphs.remapped_gids() {
            hash.update(glyph.to_be_bytes());
        }
        hash.finalize().iter().take(6).map(|b| char::from(b'A' + b % 26)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poster::Font;
    use crate::poster::font::Faces;

    #[test]
    fn encodes_each_character_as_a_two_byte_cid_in_order_of_first_use() {
        let faces = Faces::load().unwrap();
        let mut embedding = Embedding::new(faces.get(Font::Regular));
        assert_eq!(embedding.encode("ěłě").unwrap(), [0, 1, 0, 2, 0, 1]);
        assert_eq!(embedding.encode("ł").unwrap(), [0, 2]);
        assert_eq!(embedding.chars, BTreeMap::from([(1, 'ě'), (2, 'ł')]));
        let err = embedding.encode("x📢").unwrap_err();
        assert!(matches!(err, PosterError::NotInFont { character: '📢', .. }));
    }

    #[test]
    fn the_subset_tag_follows_the_glyphs() {
        let faces = Faces::load().unwrap();
        let mut a = Embedding::new(faces.get(Font::Regular));
        a.encode("Chóśebuz").unwrap();
        let mut b = Embedding::new(faces.get(Font::Regular));
        b.encode("Budyšin").unwrap();
        let tag = a.subset_tag();
        assert_eq!(tag.len(), 6);
        assert!(tag.chars().all(|c| c.is_ascii_uppercase()));
        assert_ne!(tag, b.subset_tag());
        b.encode("Chóśebuz").unwrap();
        assert_ne!(tag, b.subset_tag());
    }
}
