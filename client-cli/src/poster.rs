//! The printable notice-board poster (`stadtbote org poster`): one A4
//! portrait page with the town's name, the channel's invite QR code, the org
//! key's fingerprint as text and as QR code, and two lines of instructions
//! in German.
//!
//! This module owns the layout and the two renderings of it; it does no
//! I/O. [`layout`] places every item once (in millimetres, origin top left);
//! [`to_svg`] and [`to_pdf`] only draw what it placed, so both formats show
//! the same poster. The QR codes are the same content as `org fingerprint`
//! and `channel create` write ([`crate::qr`]).
//!
//! Text the org controls (its name, the channel's name) is cleaned of
//! control and bidi characters, XML-escaped in the SVG and written as glyph
//! ids in the PDF. The PDF embeds DejaVu Sans ([`font`]: Latin with every
//! European extension, Greek, Cyrillic) as a subset of the glyphs used
//! ([`pdf_font`]), with a ToUnicode map so that the text stays copyable; a
//! character the font lacks (CJK, emoji) is refused with an error naming
//! it rather than printed as an empty box. The SVG leaves the font to the
//! viewer (Helvetica or a font with its metrics), as before.
//!
//! The layout measures text with the metrics of the font the format is
//! drawn with ([`Metrics`]): DejaVu's real advance widths for the PDF,
//! Helvetica's for the SVG, so a long name wraps where it really ends.

mod font;
mod pdf_font;

use std::path::Path;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::error::CliError;
use crate::qr::Matrix;
use font::Faces;
use pdf_font::{Embedding, FontRefs};

/// A4 portrait, in millimetres.
pub const PAGE_WIDTH_MM: f32 = 210.0;
/// A4 portrait, in millimetres.
pub const PAGE_HEIGHT_MM: f32 = 297.0;
/// Light modules around each QR code, as the QR standard requires.
const QUIET_ZONE: usize = 4;
/// Left and right margin.
const MARGIN_MM: f32 = 20.0;
/// What the town's name may fill of the width between the margins: SVG
/// viewers without Helvetica or a font with its metrics (Arial, Liberation
/// Sans) substitute one up to 15 % wider (DejaVu Sans).
const TITLE_SHARE: f32 = 0.88;
/// The widest the town's name is set.
const TITLE_MAX_MM: f32 = 14.0;
/// The narrowest before it wraps onto a second line.
const TITLE_MIN_MM: f32 = 7.0;
/// The size of the instructions.
const INSTRUCTION_MM: f32 = 4.8;
/// The size of the web address below the key's QR code.
const URL_MM: f32 = 3.6;
/// The smallest any org-controlled text is set before it is cut short.
const SMALLEST_MM: f32 = 4.0;
/// Points per millimetre.
const PT_PER_MM: f32 = 72.0 / 25.4;

/// What goes on the poster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poster {
    /// The town's name from its verified profile.
    pub town: String,
    /// The org's handle (what `stadtbote verify` takes).
    pub handle: String,
    /// The org key's fingerprint as printed by `org fingerprint`.
    pub fingerprint: String,
    /// The org key QR content ([`crate::qr::org_qr_content`], or the
    /// town's web app URL when the server has one).
    pub org_qr: String,
    /// The town's web app URL with its key (`public_url/#v1/org/…`), when
    /// the server has a `public_url`: printed as text below the key's QR
    /// code, for those who type rather than scan.
    pub url: Option<String>,
    /// The announcement channel, unless the poster is made without one.
    pub channel: Option<PosterChannel>,
}

/// The channel on a poster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosterChannel {
    /// Its name.
    pub name: String,
    /// The invite link as QR content (upper case, as `channel create`
    /// writes it), or its web app URL when the server has a `public_url`.
    pub invite_qr: String,
}

/// The file format, chosen by the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.pdf`
    Pdf,
    /// `.svg`
    Svg,
}

impl Format {
    /// The format of `path` by its extension (any case).
    pub fn of(path: &Path) -> Result<Format, PosterError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("pdf") => Ok(Format::Pdf),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PosterError::UnknownFormat { file: path.display().to_string() }),
        }
    }

    /// Its name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pdf => "PDF",
            Format::Svg => "SVG",
        }
    }
}

/// Why a poster could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The output file's name ends in neither `.pdf` nor `.svg`.
    #[error("cannot tell which format to write for {file}: the file name must end in .pdf or .svg")]
    UnknownFormat {
        /// The file as given.
        file: String,
    },
    /// The PDF's embedded font has no glyph for a character.
    #[error(
        "the PDF's font (DejaVu Sans) has no glyph for the character {} in {text:?}; \
         change the text or write the poster as SVG, which leaves the font to the viewer \
         (--out FILE.svg)",
        character_name(*character)
    )]
    NotInFont {
        /// The character.
        character: char,
        /// The text it is in.
        text: String,
    },
    /// An embedded font file could not be read or subset (a broken build).
    #[error("the poster font {font} cannot be embedded in the PDF: {reason}")]
    Font {
        /// The font's PostScript name.
        font: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A QR code could not be made.
    #[error(transparent)]
    Client(#[from] CliError),
}

/// A character as error messages name it: itself and its code point
/// (`'姉' (U+59C9)`), so that an invisible or look-alike one is clear too.
pub fn character_name(character: char) -> String {
    format!("{character:?} (U+{:04X})", u32::from(character))
}

/// How wide a line of text is, in ems, in the font a format draws it with.
pub trait Metrics {
    /// The width of `text` set in `font`, in ems.
    fn width_em(&self, text: &str, font: Font) -> f32;
}

/// Helvetica's metrics (and those of Arial and Liberation Sans, which the
/// SVG names after it), for the SVG.
pub struct Helvetica;

impl Metrics for Helvetica {
    fn width_em(&self, text: &str, font: Font) -> f32 {
        text_width_em(text, font)
    }
}

/// The fonts the poster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    /// Headings.
    Bold,
    /// Running text.
    Regular,
    /// The fingerprint, so that groups line up.
    Mono,
}

/// One placed item, in millimetres from the top left corner.
pub enum Item {
    /// A line of text, centred on `x`, with its baseline at `y`.
    Text {
        /// Horizontal centre.
        x: f32,
        /// Baseline.
        y: f32,
        /// Font size (em) in millimetres.
        size: f32,
        /// Which font.
        font: Font,
        /// The text (already cleaned).
        text: String,
    },
    /// A QR code with its quiet zone in the square at (`x`, `y`).
    Qr {
        /// Left edge of the quiet zone.
        x: f32,
        /// Top edge of the quiet zone.
        y: f32,
        /// Side of the square including the quiet zone.
        side: f32,
        /// The modules.
        matrix: Matrix,
    },
}

/// Places everything on the page, measuring text with `metrics`.
pub fn layout(poster: &Poster, metrics: &dyn Metrics) -> Result<Vec<Item>, PosterError> {
    let center = PAGE_WIDTH_MM / 2.0;
    let width = PAGE_WIDTH_MM - 2.0 * MARGIN_MM;
    let town = clean(&poster.town);
    let handle = clean(&poster.handle);
    let mut items = Vec::new();
    let text = |items: &mut Vec<Item>, y: f32, size: f32, font: Font, line: String| {
        items.push(Item::Text { x: center, y, size, font, text: line });
    };

    // The town's name: as large as fits, on two lines if it must.
    let (title_size, title) =
        fit(&town, Font::Bold, TITLE_MAX_MM, TITLE_MIN_MM, width * TITLE_SHARE, metrics);
    let mut y = 30.0;
    for line in title {
        text(&mut items, y, title_size, Font::Bold, line);
        y += title_size * 1.15;
    }
    text(&mut items, y, 5.5, Font::Regular, "Offizielle Mitteilungen über Stadtbote".into());
    y += 12.0;

    let key_qr_side = match &poster.channel {
        Some(channel) => {
            let label = format!("Kanal folgen: „{}“", clean(&channel.name));
            let (size, lines) = fit(&label, Font::Bold, 6.0, 4.5, width, metrics);
            for line in lines {
                text(&mut items, y, size, Font::Bold, line);
                y += size * 1.15;
            }
            y += 1.0;
            // Room for the web address below the key's code.
            let side = if poster.url.is_some() { 90.0 } else { 100.0 };
            let matrix = Matrix::encode(&channel.invite_qr)?;
            items.push(Item::Qr { x: center - side / 2.0, y, side, matrix });
            y += side + 10.0;
            50.0
        }
        None => 80.0,
    };

    text(&mut items, y, 5.5, Font::Bold, "Fingerabdruck des Stadt-Schlüssels".into());
    y += 2.0;
    let matrix = Matrix::encode(&poster.org_qr)?;
    items.push(Item::Qr { x: center - key_qr_side / 2.0, y, side: key_qr_side, matrix });
    y += key_qr_side + 7.0;
    text(&mut items, y, 6.0, Font::Mono, clean(&poster.fingerprint));
    y += 14.0;
    if let Some(url) = &poster.url {
        y -= 6.0;
        for line in wrap(&clean(url), Font::Mono, URL_MM, width, metrics) {
            text(&mut items, y, URL_MM, Font::Mono, line);
            y += URL_MM * 1.3;
        }
        y += 4.0;
    }

    let first = match (&poster.channel, &poster.url) {
        (Some(_), None) => {
            "1. Stadtbote installieren und den großen QR-Code „Kanal folgen“ scannen \
                    (am Computer: stadtbote follow mit dem Link aus dem Code)."
                .to_string()
        }
        (Some(_), Some(_)) => "1. Den großen QR-Code „Kanal folgen“ mit der Handykamera scannen: \
                    Stadtbote öffnet sich im Browser, ohne Installation (am Computer: \
                    stadtbote follow mit dem Link aus dem Code)."
            .to_string(),
        (None, None) => format!(
            "1. Stadtbote installieren; die Stadt finden Sie dort unter dem Kürzel „{handle}“."
        ),
        (None, Some(_)) => "1. Den QR-Code mit der Handykamera scannen oder die Adresse darunter \
                    öffnen: Stadtbote zeigt die Stadt im Browser, ohne Installation."
            .to_string(),
    };
    let second = format!(
        "2. Echtheit prüfen: Der Fingerabdruck in Ihrer App muss genau mit dem hier \
         gedruckten übereinstimmen (stadtbote verify {handle} FINGERABDRUCK)."
    );
    for instruction in [first, second] {
        for line in wrap(&instruction, Font::Regular, INSTRUCTION_MM, width, metrics) {
            text(&mut items, y, INSTRUCTION_MM, Font::Regular, line);
            y += INSTRUCTION_MM * 1.3;
        }
        y += 1.5;
    }
    Ok(items)
}

/// Helvetica and the fonts with its metrics (Arial, Liberation Sans).
const SANS: &str = "Helvetica, Arial, 'Liberation Sans', sans-serif";
/// Courier and the fonts with its metrics.
const MONO: &str = "Courier, 'Courier New', 'Liberation Mono', monospace";

/// The poster as an SVG document (A4, units in millimetres).
pub fn to_svg(poster: &Poster) -> Result<String, PosterError> {
    let mut body = String::new();
    for item in layout(poster, &Helvetica)? {
        match item {
            Item::Text { x, y, size, font, text } => {
                let (family, weight) = match font {
                    Font::Bold => (SANS, "bold"),
                    Font::Regular => (SANS, "normal"),
                    Font::Mono => (MONO, "normal"),
                };
                // The width the layout measured with Helvetica's metrics:
                // a viewer with a wider substitute font squeezes the line
                // instead of running over the margin.
                let length = text_width_em(&text, font) * size;
                body.push_str(&format!(
                    "<text x=\"{x:.2}\" y=\"{y:.2}\" font-size=\"{size:.2}\" \
                     font-family=\"{family}\" font-weight=\"{weight}\" \
                     text-anchor=\"middle\" textLength=\"{length:.2}\" \
                     lengthAdjust=\"spacingAndGlyphs\">{}</text>\n",
                    xml_escape(&text)
                ));
            }
            Item::Qr { x, y, side, matrix } => {
                let module = side / (matrix.width() + 2 * QUIET_ZONE) as f32;
                let mut path = String::new();
                for row in 0..matrix.width() {
                    for col in 0..matrix.width() {
                        if matrix.is_dark(col, row) {
                            path.push_str(&format!("M{col} {row}h1v1h-1z"));
                        }
                    }
                }
                let offset = QUIET_ZONE as f32 * module;
                body.push_str(&format!(
                    "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{side:.2}\" height=\"{side:.2}\" \
                     fill=\"#fff\"/>\n\
                     <g class=\"qr\" transform=\"translate({:.4} {:.4}) scale({module:.4})\">\
                     <path fill=\"#000\" d=\"{path}\"/></g>\n",
                    x + offset,
                    y + offset,
                ));
            }
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" \
         width=\"{PAGE_WIDTH_MM}mm\" height=\"{PAGE_HEIGHT_MM}mm\" \
         viewBox=\"0 0 {PAGE_WIDTH_MM} {PAGE_HEIGHT_MM}\" shape-rendering=\"crispEdges\">\n\
         <title>{}</title>\n\
         <rect width=\"{PAGE_WIDTH_MM}\" height=\"{PAGE_HEIGHT_MM}\" fill=\"#fff\"/>\n\
         {body}</svg>\n",
        xml_escape(&clean(&poster.town))
    ))
}

/// The poster as a one-page PDF (A4), with the fonts embedded.
pub fn to_pdf(poster: &Poster) -> Result<Vec<u8>, PosterError> {
    let faces = Faces::load()?;
    // The org's texts whole, so that a refusal names the text as the org
    // wrote it rather than a wrapped or shortened line of it.
    faces.get(Font::Bold).check(&clean(&poster.town))?;
    faces.get(Font::Regular).check(&clean(&poster.handle))?;
    faces.get(Font::Mono).check(&clean(&poster.fingerprint))?;
    if let Some(channel) = &poster.channel {
        faces.get(Font::Bold).check(&clean(&channel.name))?;
    }

    let page_w = PAGE_WIDTH_MM * PT_PER_MM;
    let page_h = PAGE_HEIGHT_MM * PT_PER_MM;
    let pt = |mm: f32| mm * PT_PER_MM;
    let fonts = [Font::Regular, Font::Bold, Font::Mono];
    let mut embeddings = fonts.map(|font| Embedding::new(faces.get(font)));
    let mut content = Content::new();
    for item in layout(poster, &faces)? {
        match item {
            Item::Text { x, y, size, font, text } => {
                let bytes = embeddings[font_index(font)].encode(&text)?;
                let width = faces.width_em(&text, font) * size;
                content.begin_text();
                content.set_fill_gray(0.0);
                content.set_font(Name(font_resource(font)), pt(size));
                content.next_line(pt(x - width / 2.0), page_h - pt(y));
                content.show(Str(&bytes));
                content.end_text();
            }
            Item::Qr { x, y, side, matrix } => {
                let module = side / (matrix.width() + 2 * QUIET_ZONE) as f32;
                let offset = QUIET_ZONE as f32 * module;
                // One unit per module, rows growing downwards: a reader
                // sees the same (column, row) grid as in the SVG.
                content.save_state();
                content.transform([
                    pt(module),
                    0.0,
                    0.0,
                    -pt(module),
                    pt(x + offset),
                    page_h - pt(y + offset),
                ]);
                content.set_fill_gray(0.0);
                for row in 0..matrix.width() {
                    for col in 0..matrix.width() {
                        if matrix.is_dark(col, row) {
                            content.rect(col as f32, row as f32, 1.0, 1.0);
                        }
                    }
                }
                content.fill_nonzero();
                content.restore_state();
            }
        }
    }

    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page = Ref::new(3);
    let contents = Ref::new(4);
    let info = Ref::new(5);
    // Five objects per font from 6 on.
    let refs = |index: i32| {
        let first = 6 + 5 * index;
        FontRefs {
            type0: Ref::new(first),
            cid_font: Ref::new(first + 1),
            descriptor: Ref::new(first + 2),
            to_unicode: Ref::new(first + 3),
            file: Ref::new(first + 4),
        }
    };
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    {
        let mut writer = pdf.page(page);
        writer.parent(pages).media_box(Rect::new(0.0, 0.0, page_w, page_h)).contents(contents);
        let mut resources = writer.resources();
        let mut font_dict = resources.fonts();
        for (index, font) in (0i32..).zip(fonts) {
            font_dict.pair(Name(font_resource(font)), refs(index).type0);
        }
        font_dict.finish();
        resources.finish();
        writer.finish();
    }
    for (index, embedding) in (0i32..).zip(&embeddings) {
        embedding.write(&mut pdf, refs(index))?;
    }
    let town = clean(&poster.town);
    pdf.document_info(info).title(TextStr(&town)).producer(TextStr("Stadtbote"));
    // Thousands of QR modules as rectangles: compressed, a fifth of the size.
    let content = miniz_oxide::deflate::compress_to_vec_zlib(&content.finish(), 9);
    pdf.stream(contents, &content).filter(pdf_writer::Filter::FlateDecode);
    Ok(pdf.finish())
}

/// The position of a font in [`to_pdf`]'s list.
fn font_index(font: Font) -> usize {
    match font {
        Font::Regular => 0,
        Font::Bold => 1,
        Font::Mono => 2,
    }
}

/// The resource name of a font on the page.
fn font_resource(font: Font) -> &'static [u8] {
    match font {
        Font::Regular => b"F1",
        Font::Bold => b"F2",
        Font::Mono => b"F3",
    }
}

/// Removes control, format (bidi) and line-separator characters that could
/// reorder or hide what is printed; the rest is kept as written.
pub fn clean(text: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
    };
    text.chars().filter(|c| !hidden(*c)).collect::<String>().trim().to_string()
}

/// Escapes text for XML character data and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Helvetica's advance widths (thousandths of an em) for ASCII 0x20..0x7E,
/// from Adobe's font metrics.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// The width of `text` in ems in Helvetica, for centring and wrapping in
/// the SVG. Exact for ASCII in Helvetica and Courier; letters with accents
/// count as their base letter, bold as 6 % wider (close to Helvetica-Bold's
/// metrics).
pub fn text_width_em(text: &str, font: Font) -> f32 {
    let per_char = |c: char| -> f32 {
        if font == Font::Mono {
            return 0.6;
        }
        let base = match c {
            'ä' | 'à' | 'á' | 'â' | 'ã' | 'å' => 'a',
            'ö' | 'ò' | 'ó' | 'ô' | 'õ' => 'o',
            'ü' | 'ù' | 'ú' | 'û' => 'u',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'Ä' | 'À' | 'Á' | 'Â' => 'A',
            'Ö' | 'Ò' | 'Ó' | 'Ô' => 'O',
            'Ü' | 'Ù' | 'Ú' | 'Û' => 'U',
            'ß' => 'B',
            '„' | '“' | '”' => '"',
            '–' => 'n',
            c => c,
        };
        let code = u32::from(base);
        let milli = code
            .checked_sub(0x20)
            .and_then(|i| HELVETICA_ASCII.get(i as usize))
            .copied()
            .unwrap_or(600);
        f32::from(milli) / 1000.0
    };
    let width: f32 = text.chars().map(per_char).sum();
    if font == Font::Bold { width * 1.06 } else { width }
}

/// Sets `text` on one line at the largest size from `max_mm` down to
/// `min_mm` that fits `width`; below that on two lines, shrinking to
/// [`SMALLEST_MM`]; what still does not fit is cut short with "…", so that
/// org-controlled text of any length keeps the layout on the page.
fn fit(
    text: &str,
    font: Font,
    max_mm: f32,
    min_mm: f32,
    width: f32,
    metrics: &dyn Metrics,
) -> (f32, Vec<String>) {
    let natural = width / metrics.width_em(text, font).max(0.01);
    if natural >= min_mm {
        return (natural.min(max_mm), vec![text.to_string()]);
    }
    let mut size = min_mm;
    loop {
        let lines = wrap(text, font, size, width, metrics);
        if lines.len() <= 2 {
            return (size, lines);
        }
        if size <= SMALLEST_MM {
            let mut kept: Vec<String> = lines.into_iter().take(2).collect();
            if let Some(last) = kept.last_mut() {
                while !last.is_empty()
                    && metrics.width_em(&format!("{last} …"), font) * size > width
                {
                    last.pop();
                }
                last.push_str(" …");
            }
            return (size, kept);
        }
        size = (size - 0.5).max(SMALLEST_MM);
    }
}

/// Breaks `text` into lines no wider than `max_mm` at `size_mm`, at spaces;
/// a single word wider than a line is split.
pub fn wrap(
    text: &str,
    font: Font,
    size_mm: f32,
    max_mm: f32,
    metrics: &dyn Metrics,
) -> Vec<String> {
    let fits = |line: &str| metrics.width_em(line, font) * size_mm <= max_mm;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if fits(&candidate) {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word that alone is too wide: as many characters as fit per line.
        for c in word.chars() {
            let mut longer = line.clone();
            longer.push(c);
            if !line.is_empty() && !fits(&longer) {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = longer;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poster(channel: bool) -> Poster {
        Poster {
            town: "Stadt Müllhausen-Süd <&> \u{202E}evil".into(),
            handle: "muellhausen".into(),
            fingerprint: "3f2a 91c0 0000 1111 2222 3333 4444 5555".into(),
            org_qr: "stadtbote:org:muellhausen:AAAA".into(),
            url: None,
            channel: channel.then(|| PosterChannel {
                name: "Amtsblatt".into(),
                invite_qr: "STADTBOTE:CHANNEL:ABCDEF".into(),
            }),
        }
    }

    #[test]
    fn the_web_address_is_printed_below_the_key_and_everything_fits_the_page() {
        let key = "A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQ";
        let url = format!("https://stadtbote.muellhausen-sued.de/#v1/org/muellhausen/{key}");
        for channel in [true, false] {
            let mut with_url = poster(channel);
            with_url.org_qr = url.clone();
            with_url.url = Some(url.clone());
            let items = layout(&with_url, &Helvetica).unwrap();
            let texts: Vec<&str> = items
                .iter()
                .filter_map(|item| match item {
                    Item::Text { text, .. } => Some(text.as_str()),
                    Item::Qr { .. } => None,
                })
                .collect();
            assert_eq!(texts.concat().matches(url.as_str()).count(), 1, "{texts:?}");
            let bottom = items
                .iter()
                .map(|item| match item {
                    Item::Text { y, .. } => *y,
                    Item::Qr { y, side, .. } => y + side,
                })
                .fold(0.0f32, f32::max);
            assert!(bottom < PAGE_HEIGHT_MM - 5.0, "channel {channel}: ends at {bottom} mm");
            assert!(to_pdf(&with_url).is_ok());
        }
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(Format::of(Path::new("a/b.PDF")).unwrap(), Format::Pdf);
        assert_eq!(Format::of(Path::new("x.svg")).unwrap(), Format::Svg);
        assert!(matches!(Format::of(Path::new("x.png")), Err(PosterError::UnknownFormat { .. })));
        assert!(matches!(Format::of(Path::new("poster")), Err(PosterError::UnknownFormat { .. })));
    }

    #[test]
    fn svg_escapes_org_text_and_drops_bidi_controls() {
        let svg = to_svg(&poster(true)).unwrap();
        assert!(svg.contains("Stadt Müllhausen-Süd &lt;&amp;&gt; evil"), "{svg}");
        assert!(!svg.contains('\u{202E}'));
        assert!(!svg.contains("<&>"));
        assert_eq!(svg.matches("class=\"qr\"").count(), 2);
        assert_eq!(to_svg(&poster(false)).unwrap().matches("class=\"qr\"").count(), 1);
    }

    #[test]
    fn pdf_names_a_character_its_font_lacks() {
        let mut twin = poster(true);
        twin.town = "Stadt Görlitz / 姉妹都市".into();
        let err = to_pdf(&twin).unwrap_err();
        assert!(matches!(err, PosterError::NotInFont { character: '姉', .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("'姉' (U+59C9)") && message.contains("--out FILE.svg"),
            "{message}"
        );
        assert!(message.contains("\"Stadt Görlitz / 姉妹都市\""), "the whole name: {message}");
        let mut emoji = poster(true);
        emoji.channel =
            Some(PosterChannel { name: "Neuigkeiten 📢".into(), invite_qr: "X".into() });
        let err = to_pdf(&emoji).unwrap_err();
        assert!(matches!(err, PosterError::NotInFont { character: '📢', .. }), "{err}");
        // The SVG leaves the glyphs to the viewer's fonts.
        assert!(to_svg(&twin).unwrap().contains("姉妹都市"));
    }

    #[test]
    fn pdf_is_one_a4_page_with_embedded_unicode_fonts() {
        let mut sorbian = poster(true);
        sorbian.town = "Gmejna Chóśebuz / Stadt Cottbus".into();
        let pdf = to_pdf(&sorbian).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/MediaBox [0 0 595.27"), "A4 in points");
        assert!(text.contains(" 841.8"), "A4 in points");
        assert_eq!(text.matches("/Subtype /Type0").count(), 3, "{text}");
        assert_eq!(text.matches("/Encoding /Identity-H").count(), 3);
        assert_eq!(text.matches("/FontFile2").count(), 3);
        assert_eq!(text.matches("/ToUnicode").count(), 3);
        assert!(text.contains("+DejaVuSans-Bold") && text.contains("+DejaVuSansMono"));
        assert!(!text.contains("WinAnsiEncoding") && !text.contains("Helvetica"));
        // ToUnicode maps a glyph back to ś (U+015B) and ó (U+00F3).
        assert!(text.contains("> <015B>") && text.contains("> <00F3>"), "{text}");
        // Subsets: the three fonts are 1.8 MB whole.
        assert!(pdf.len() < 150_000, "{} bytes", pdf.len());
    }

    #[test]
    fn wrapping_keeps_every_word_and_the_width() {
        let faces = Faces::load().unwrap();
        let text = "1. Stadtbote installieren und den großen QR-Code scannen, dann vergleichen \
                    Sie den Fingerabdruck sehr sorgfältig mit dem, was Ihre App anzeigt.";
        for metrics in [&Helvetica as &dyn Metrics, &faces] {
            let lines = wrap(text, Font::Regular, 4.2, 180.0, metrics);
            assert!(lines.len() >= 2);
            assert_eq!(lines.join(" "), text);
            for line in &lines {
                assert!(metrics.width_em(line, Font::Regular) * 4.2 <= 180.0, "{line}");
            }
            let long = "X".repeat(200);
            let lines = wrap(&long, Font::Bold, 10.0, 180.0, metrics);
            assert!(lines.len() > 1);
            assert_eq!(lines.concat(), long);
            assert_eq!(wrap("", Font::Regular, 4.0, 100.0, metrics), vec![String::new()]);
        }
    }

    /// Wide glyphs (Cyrillic Щ is almost an em in DejaVu Sans Bold; the
    /// Helvetica estimate counts any letter it does not know as 0.6 em):
    /// the PDF's lines are broken with the real widths and stay within the
    /// margins, where the estimate would have run off the page.
    #[test]
    fn wrapping_uses_the_real_widths_of_wide_glyphs() {
        let faces = Faces::load().unwrap();
        let wide = "ЩШЖЮ ".repeat(12);
        let estimated = wrap(&wide, Font::Bold, 10.0, 170.0, &Helvetica);
        let overflow = estimated.iter().any(|l| faces.width_em(l, Font::Bold) * 10.0 > 170.0);
        assert!(overflow, "the estimate is too narrow for these glyphs: {estimated:?}");
        let real = wrap(&wide, Font::Bold, 10.0, 170.0, &faces);
        assert!(real.len() > estimated.len(), "{real:?}");
        for line in &real {
            assert!(faces.width_em(line, Font::Bold) * 10.0 <= 170.0, "{line}");
        }
        assert_eq!(real.join(" "), wide.trim_end());
    }

    #[test]
    fn a_long_town_name_shrinks_then_wraps_within_the_page() {
        let faces = Faces::load().unwrap();
        let mut long = poster(true);
        long.town = "Verbandsgemeinde Sankt Katharinen-Überlingen am Schwäbischen Meer".into();
        let mut sorbian = poster(true);
        sorbian.town =
            "Zwjazk gmejnow Wojerecy, Budyšin a Chóśebuz – Zweckverband Hoyerswerda, Bautzen"
                .into();
        sorbian.channel = Some(PosterChannel {
            name: "Zjawne wozjewjenja za wšěch wobydlerjow Łužicy ".repeat(3),
            invite_qr: "STADTBOTE:CHANNEL:A".into(),
        });
        let mut huge = poster(true);
        huge.town = "Sehr lange Gemeinde ".repeat(40);
        huge.channel = Some(PosterChannel {
            name: "Kanal ".repeat(60),
            invite_qr: "STADTBOTE:CHANNEL:A".into(),
        });
        let width = PAGE_WIDTH_MM - 2.0 * MARGIN_MM;
        for metrics in [&Helvetica as &dyn Metrics, &faces] {
            for poster in [&long, &sorbian, &huge] {
                for item in layout(poster, metrics).unwrap() {
                    match item {
                        Item::Text { y, size, text, font, .. } => {
                            assert!(metrics.width_em(&text, font) * size <= width, "{text}");
                            assert!(y < PAGE_HEIGHT_MM - 8.0, "{text} at {y}");
                        }
                        Item::Qr { y, side, .. } => assert!(y + side < PAGE_HEIGHT_MM - 8.0),
                    }
                }
            }
        }
        // The Sorbian name is kept whole (two lines), not cut short.
        let title: Vec<String> = layout(&sorbian, &faces)
            .unwrap()
            .into_iter()
            .map_while(|item| match item {
                Item::Text { font: Font::Bold, text, .. } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(title.join(" "), sorbian.town, "{title:?}");
        assert!(to_pdf(&sorbian).is_ok());
    }
}
