//! Removing metadata from photos without re-encoding them.
//!
//! Phones write the place a photo was taken (EXIF GPS), the camera's serial
//! number, the owner's name, editing history (XMP), comments and thumbnails
//! of the uncropped original into the file. None of that may leave the
//! device. The pixels are never decoded or re-encoded: the file's structure
//! is walked and only the parts needed to display the image are copied, byte
//! for byte.
//!
//! * **JPEG**: kept are SOI, APP0 if it is JFIF (its thumbnail removed), APP2
//!   if it is an ICC profile (its free text neutralised, see [`icc`]; a
//!   profile that cannot be parsed is dropped), APP14 if it is Adobe's
//!   (colour transform), DQT, SOFn, DHT, DAC, DRI, DNL, SOS with its
//!   entropy-coded data (copied unchanged, stuffed `FF 00` bytes and RSTn
//!   markers included) and EOI. Dropped are APP1 (EXIF with GPS, XMP), every
//!   other APPn, COM and everything after EOI. An EXIF orientation other
//!   than upright is written back as a minimal EXIF APP1 segment holding
//!   only that tag (see [`orientation`]). Any other marker is refused.
//! * **PNG**: every chunk's CRC is checked; kept are IHDR, PLTE, IDAT, IEND
//!   and the colour chunks gAMA, cHRM, sRGB, iCCP (its profile name replaced
//!   by `ICC profile` and the profile neutralised, or dropped if it cannot be
//!   read), sBIT, tRNS, bKGD, pHYs. Dropped are tEXt, zTXt, iTXt, eXIf,
//!   tIME and every other ancillary chunk (including animation chunks: an
//!   APNG becomes its still default image), and everything after IEND; an
//!   eXIf orientation other than upright comes back as a minimal eXIf chunk.
//!   An unknown critical chunk is refused.
//! * **HEIC/HEIF/AVIF**: see [`heif`]. **WebP**: see [`webp`].
//! * Anything else is refused: a format we cannot clean might carry metadata.

pub mod heif;
pub mod icc;
pub mod orientation;
#[cfg(test)]
mod test_support;
pub mod webp;

pub use heif::{AVIF_MIME, HEIC_MIME, HEIF_MIME};

/// Media type of JPEG photos.
pub const JPEG_MIME: &str = "image/jpeg";
/// Media type of PNG photos.
pub const PNG_MIME: &str = "image/png";
/// Media type of WebP photos.
pub const WEBP_MIME: &str = "image/webp";

/// Most bytes a compressed PNG colour profile may inflate to (real
/// profiles are a few kilobytes; larger ones are dropped).
const MAX_PNG_PROFILE: usize = 4 << 20;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// PNG chunks that are kept.
const PNG_KEEP: [&[u8; 4]; 12] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"tRNS",
    b"bKGD", b"pHYs",
];

/// Why a photo could not be cleaned. The messages are worded to follow a
/// front-end's "cannot send FILE: " and say what the user can do with the
/// photo itself (export or convert it); they name no command or flag of any
/// front-end, which adds its own hints and translations by variant
/// (client-cli: `error_text.rs` and the i18n catalogs).
///
/// Deliberately not `#[non_exhaustive]`: front-ends match every variant to
/// translate it, so a new variant fails their build until it has its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Not a JPEG, PNG, HEIC/HEIF/AVIF or WebP file.
    #[error("it is not a JPEG, PNG, HEIC or WebP photo; convert it to JPEG and try again")]
    UnsupportedFormat,
    /// A JPEG that is damaged or cut short.
    #[error("the JPEG file is damaged ({0}); export the photo again from the app that made it")]
    MalformedJpeg(&'static str),
    /// A JPEG using a marker this client does not know how to clean (the
    /// marker code is for debugging, not shown).
    #[error(
        "the JPEG file uses a feature that cannot be cleaned of hidden data; convert it to a standard JPEG and try again"
    )]
    UnsupportedJpegMarker(u8),
    /// A PNG that is damaged or cut short.
    #[error("the PNG file is damaged ({0}); export the picture again from the app that made it")]
    MalformedPng(&'static str),
    /// A PNG with a critical chunk this client does not know (the chunk
    /// type is for debugging, not shown).
    #[error(
        "the PNG file uses a feature that cannot be cleaned of hidden data; convert it to JPEG and try again"
    )]
    UnsupportedPngChunk(String),
    /// A HEIC/HEIF file that is damaged or cut short.
    #[error("the HEIC file is damaged ({0}); export the photo again, or convert it to JPEG")]
    MalformedHeif(&'static str),
    /// A HEIC/HEIF file using a feature this client cannot clean.
    #[error(
        "the HEIC file cannot be cleaned of hidden data ({0}); convert it to JPEG and try again"
    )]
    UnsupportedHeif(&'static str),
    /// A WebP file that is damaged or cut short.
    #[error("the WebP file is damaged ({0}); export the picture again, or convert it to JPEG")]
    MalformedWebp(&'static str),
}

/// A photo with its metadata removed.
#[derive(Clone, PartialEq, Eq)]
pub struct CleanPhoto {
    /// The cleaned file.
    pub bytes: Vec<u8>,
    /// Its media type ([`JPEG_MIME`], [`PNG_MIME`], [`HEIC_MIME`],
    /// [`HEIF_MIME`], [`AVIF_MIME`] or [`WEBP_MIME`]).
    pub mime: &'static str,
}

impl std::fmt::Debug for CleanPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanPhoto")
            .field("mime", &self.mime)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The media type of a photo this client can clean, by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(JPEG_MIME)
    } else if bytes.starts_with(&PNG_SIGNATURE) {
        Some(PNG_MIME)
    } else if webp::is_webp(bytes) {
        Some(WEBP_MIME)
    } else {
        heif::sniff(bytes)
    }
}

/// Removes all metadata from a JPEG, PNG, HEIC/HEIF/AVIF or WebP photo.
pub fn strip_metadata(bytes: &[u8]) -> Result<CleanPhoto, MetadataError> {
    let mime = sniff(bytes).ok_or(MetadataError::UnsupportedFormat)?;
    let cleaned = match mime {
        JPEG_MIME => strip_jpeg(bytes)?,
        PNG_MIME => strip_png(bytes)?,
        WEBP_MIME => webp::strip(bytes)?,
        _ => heif::strip(bytes)?,
    };
    Ok(CleanPhoto { bytes: cleaned, mime })
}

/// Removes metadata from a JPEG (see the module documentation).
pub fn strip_jpeg(input: &[u8]) -> Result<Vec<u8>, MetadataError> {
    use MetadataError::MalformedJpeg as Bad;
    const TRUNCATED: MetadataError = MetadataError::MalformedJpeg("truncated");
    if !input.starts_with(&[0xFF, 0xD8]) {
        return Err(Bad("no start-of-image marker"));
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut pos = 2;
    let mut seen_frame = false;
    let mut seen_scan = false;
    // Where the orientation segment goes: after SOI, or after a JFIF APP0
    // that directly follows it (JFIF requires APP0 first).
    let mut exif_at = 2;
    let mut orientation = None;
    // ICC profile chunks (sequence number, count, data) and where the
    // first one was.
    let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
    let mut icc_at = None;
    loop {
        // A marker: 0xFF, optional 0xFF fill bytes, the marker code.
        match input.get(pos) {
            Some(0xFF) => {}
            Some(_) => return Err(Bad("data where a marker was expected")),
            None => return Err(TRUNCATED),
        }
        while input.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *input.get(pos).ok_or(TRUNCATED)?;
        pos += 1;
        match marker {
            0xD9 => {
                if !seen_scan {
                    return Err(Bad("no image data"));
                }
                // End of image; whatever follows (often more metadata or a
                // second image) is dropped.
                out.extend_from_slice(&[0xFF, 0xD9]);
                let icc = icc_at.and_then(|at| Some((at, jpeg_icc_segments(&icc_chunks)?)));
                let exif = orientation
                    .filter(|o: &orientation::Orientation| !o.is_upright())
                    .map(|o| (exif_at, orientation::jpeg_app1(o)));
                return Ok(splice(out, exif, icc));
            }
            0xD8 => return Err(Bad("a second start-of-image marker")),
            0x01 | 0xD0..=0xD7 => return Err(Bad("a restart marker outside a scan")),
            _ => {}
        }
        let len_bytes = input.get(pos..pos + 2).ok_or(TRUNCATED)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(Bad("a segment length below 2"));
        }
        let end = pos + len;
        let payload = input.get(pos + 2..end).ok_or(TRUNCATED)?;
        let segment = || [&[0xFF, marker], &input[pos..end]].concat();
        match marker {
            // APP0: keep JFIF, without its thumbnail.
            0xE0 => {
                if payload.starts_with(b"JFIF\0") && payload.len() >= 14 {
                    if out.len() == 2 {
                        exif_at = 2 + 18;
                    }
                    out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
                    out.extend_from_slice(&payload[..12]);
                    out.extend_from_slice(&[0, 0]); // no thumbnail
                }
            }
            // APP2: ICC profiles only (not e.g. MPF's extra images), put
            // back neutralised at the end.
            0xE2 => {
                if let Some(chunk) = payload.strip_prefix(b"ICC_PROFILE\0") {
                    if let [sequence, count, data @ ..] = chunk {
                        icc_chunks.push((*sequence, *count, data));
                    }
                    icc_at.get_or_insert(out.len());
                }
            }
            // APP1: EXIF (GPS, camera, dates) and XMP are dropped; only the
            // first EXIF block's orientation is kept.
            0xE1 => {
                if orientation.is_none() && payload.starts_with(b"Exif\0\0") {
                    orientation = Some(
                        orientation::read_exif(payload)
                            .unwrap_or(orientation::Orientation::UPRIGHT),
                    );
                }
            }
            // APP14: keep Adobe's colour-transform segment.
            0xEE => {
                if payload.starts_with(b"Adobe") {
                    out.extend_from_slice(&segment());
                }
            }
            // The other APPn and COM: dropped.
            0xE3..=0xED | 0xEF | 0xFE => {}
            // DQT, DHT, DAC, DRI, DNL.
            0xDB | 0xC4 | 0xCC | 0xDD | 0xDC => out.extend_from_slice(&segment()),
            // SOFn.
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                seen_frame = true;
                out.extend_from_slice(&segment());
            }
            // SOS, then the entropy-coded data up to the next real marker.
            0xDA => {
                if !seen_frame {
                    return Err(Bad("a scan before the frame header"));
                }
                out.extend_from_slice(&segment());
                let scan_end = entropy_coded_end(input, end).ok_or(TRUNCATED)?;
                out.extend_from_slice(&input[end..scan_end]);
                seen_scan = true;
                pos = scan_end;
                continue;
            }
            other => return Err(MetadataError::UnsupportedJpegMarker(other)),
        }
        pos = end;
    }
}

/// `out` with the orientation segment and the ICC segments inserted at
/// their positions (the orientation first where both go to one place).
fn splice(out: Vec<u8>, exif: Option<(usize, Vec<u8>)>, icc: Option<(usize, Vec<u8>)>) -> Vec<u8> {
    let mut inserts: Vec<(usize, Vec<u8>)> = exif.into_iter().chain(icc).collect();
    if inserts.is_empty() {
        return out;
    }
    inserts.sort_by_key(|(at, _)| *at); // stable: EXIF stays first on a tie
    let mut result =
        Vec::with_capacity(out.len() + inserts.iter().map(|(_, s)| s.len()).sum::<usize>());
    let mut from = 0;
    for (at, segment) in inserts {
        result.extend_from_slice(&out[from..at]);
        result.extend_from_slice(&segment);
        from = at;
    }
    result.extend_from_slice(&out[from..]);
    result
}

/// The APP2 segments of the neutralised ICC profile reassembled from
/// `chunks`; `None` (the profile is dropped) if the chunks are inconsistent
/// or the profile cannot be parsed.
fn jpeg_icc_segments(chunks: &[(u8, u8, &[u8])]) -> Option<Vec<u8>> {
    let count = chunks.first()?.1;
    if usize::from(count) != chunks.len() {
        return None;
    }
    let mut ordered = chunks.to_vec();
    ordered.sort_by_key(|c| c.0);
    if ordered.iter().enumerate().any(|(i, c)| usize::from(c.0) != i + 1 || c.1 != count) {
        return None;
    }
    let profile: Vec<u8> = ordered.iter().flat_map(|c| c.2.iter().copied()).collect();
    let clean = icc::neutralise(&profile).ok()?;
    // Each segment: length (2) + "ICC_PROFILE\0" (12) + sequence and count.
    const MAX_DATA: usize = 65535 - 2 - 14;
    let pieces: Vec<&[u8]> = clean.chunks(MAX_DATA).collect();
    let total = u8::try_from(pieces.len()).ok()?;
    let mut out = Vec::with_capacity(clean.len() + pieces.len() * 18);
    for (i, piece) in pieces.iter().enumerate() {
        let len = u16::try_from(piece.len() + 16).ok()?;
        out.extend_from_slice(&[0xFF, 0xE2]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b"ICC_PROFILE\0");
        out.push(u8::try_from(i + 1).ok()?);
        out.push(total);
        out.extend_from_slice(piece);
    }
    Some(out)
}

/// Where the entropy-coded data starting at `from` ends: the position of the
/// 0xFF that begins the next marker other than a stuffed `FF 00` or an RSTn.
/// `None` if the data runs to the end of the input.
fn entropy_coded_end(input: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += input.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match input.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            _ => return Some(at),
        }
    }
}

/// Removes metadata from a PNG (see the module documentation).
pub fn strip_png(input: &[u8]) -> Result<Vec<u8>, MetadataError> {
    use MetadataError::MalformedPng as Bad;
    const TRUNCATED: MetadataError = MetadataError::MalformedPng("truncated");
    if !input.starts_with(&PNG_SIGNATURE) {
        return Err(Bad("no PNG signature"));
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&PNG_SIGNATURE);
    let mut pos = PNG_SIGNATURE.len();
    let mut first = true;
    let mut seen_data = false;
    let mut orientation = None;
    let mut first_idat = None;
    loop {
        let header = input.get(pos..pos + 8).ok_or(TRUNCATED)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if len > 0x7FFF_FFFF {
            return Err(Bad("a chunk length over 2^31 - 1"));
        }
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Bad("an invalid chunk type"));
        }
        let data_end = (pos + 8).checked_add(usize::try_from(len).map_err(|_| TRUNCATED)?);
        let end = data_end.and_then(|d| d.checked_add(4)).ok_or(TRUNCATED)?;
        let chunk = input.get(pos..end).ok_or(TRUNCATED)?;
        let (typed_data, crc) = chunk[4..].split_at(chunk.len() - 8);
        if crc32fast::hash(typed_data).to_be_bytes() != crc {
            return Err(Bad("a chunk checksum does not match"));
        }
        if first && &kind != b"IHDR" {
            return Err(Bad("the header chunk is not first"));
        }
        first = false;
        if &kind == b"iCCP" {
            if let Some(clean) = png_iccp(&typed_data[4..]) {
                out.extend(png_chunk(b"iCCP", &clean));
            }
        } else if &kind == b"eXIf" {
            if orientation.is_none() {
                orientation = Some(
                    orientation::read_exif(&typed_data[4..])
                        .unwrap_or(orientation::Orientation::UPRIGHT),
                );
            }
        } else if PNG_KEEP.contains(&&kind) {
            if &kind == b"IDAT" {
                first_idat.get_or_insert(out.len());
            }
            out.extend_from_slice(chunk);
        } else if kind[0].is_ascii_uppercase() {
            // Critical: the image cannot be shown without it, so dropping
            // it is not an option, and we do not know what it holds.
            return Err(MetadataError::UnsupportedPngChunk(String::from_utf8_lossy(&kind).into()));
        }
        seen_data |= &kind == b"IDAT";
        if &kind == b"IEND" {
            if !seen_data {
                return Err(Bad("no image data"));
            }
            // The orientation goes before the image data.
            let exif = orientation
                .filter(|o| !o.is_upright())
                .zip(first_idat)
                .map(|(o, at)| (at, png_chunk(b"eXIf", &orientation::minimal_tiff(o))));
            return Ok(splice(out, exif, None));
        }
        pos = end;
    }
}

/// A PNG chunk with its length and CRC.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    // Chunk data here is at most a few megabytes (profiles are bounded).
    let len = (data.len() as u32).to_be_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    [&len[..], kind, data, &crc.finalize().to_be_bytes()].concat()
}

/// The iCCP chunk data with the profile name replaced by `ICC profile` and
/// the profile neutralised; `None` (the chunk is dropped) if it cannot be
/// read.
fn png_iccp(data: &[u8]) -> Option<Vec<u8>> {
    let name_end = data.iter().position(|&b| b == 0)?;
    let (&method, compressed) = data.get(name_end + 1..)?.split_first()?;
    if method != 0 {
        return None;
    }
    let profile =
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, MAX_PNG_PROFILE)
            .ok()?;
    let clean = icc::neutralise(&profile).ok()?;
    let mut out = b"ICC profile\0\0".to_vec();
    out.extend(miniz_oxide::deflate::compress_to_vec_zlib(&clean, 9));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GPS_MARK: &[u8] = b"GPS\0\x33\x1f\x52\x4e\x07\x0a\x19\x2c";
    const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><exif:GPSLatitude>51,54.1234N</exif:GPSLatitude><dc:creator>Max Mustermann</dc:creator></x:xmpmeta>";
    const COMMENT: &[u8] = b"Aufgenommen von Max Mustermann, Lindenallee 12";

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(body.len() + 2).unwrap();
        [&[0xFF, marker][..], &len.to_be_bytes(), body].concat()
    }

    /// A big-endian EXIF block with a GPS IFD (latitude 51°54'30" N,
    /// longitude 10°25'44" E) and the marker bytes of [`GPS_MARK`] as an
    /// extra ASCII value, so their absence can be checked byte for byte.
    fn exif_with_gps() -> Vec<u8> {
        let mut t = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
        t.extend_from_slice(&1u16.to_be_bytes());
        t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26]);
        t.extend_from_slice(&0u32.to_be_bytes());
        let rationals: u32 = 26 + 2 + 4 * 12 + 4;
        t.extend_from_slice(&4u16.to_be_bytes());
        t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3]);
        t.extend_from_slice(&rationals.to_be_bytes());
        t.extend_from_slice(&[0, 3, 0, 2, 0, 0, 0, 2, b'E', 0, 0, 0]);
        t.extend_from_slice(&[0, 4, 0, 5, 0, 0, 0, 3]);
        t.extend_from_slice(&(rationals + 24).to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        for v in [51u32, 1, 54, 1, 30, 1, 10, 1, 25, 1, 44, 1] {
            t.extend_from_slice(&v.to_be_bytes());
        }
        t.extend_from_slice(GPS_MARK);
        t
    }

    fn rgb(w: u16, h: u16) -> Vec<u8> {
        let mut px = Vec::new();
        for y in 0..h {
            for x in 0..w {
                px.extend_from_slice(&[(x * 5) as u8, (y * 7) as u8, ((x ^ y) * 3) as u8]);
            }
        }
        px
    }

    fn encode_jpeg(progressive: bool, restart: u16) -> Vec<u8> {
        let (w, h) = (67, 45);
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
        enc.set_progressive(progressive);
        if restart > 0 {
            enc.set_restart_interval(restart);
        }
        enc.encode(&rgb(w, h), w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn decode_jpeg(bytes: &[u8]) -> Vec<u8> {
        jpeg_decoder::Decoder::new(bytes).decode().unwrap()
    }

    /// Inserts metadata segments after SOI (as phones do) and more before
    /// the first scan, and junk after EOI.
    fn with_metadata(clean: &[u8]) -> Vec<u8> {
        assert_eq!(&clean[..2], &[0xFF, 0xD8]);
        let sos = clean.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut out = vec![0xFF, 0xD8];
        out.extend(segment(0xE1, &exif_with_gps()));
        out.extend(segment(0xE1, XMP));
        out.extend(segment(0xFE, COMMENT));
        out.extend(segment(0xED, b"Photoshop 3.0\0owner: Max Mustermann"));
        out.extend(segment(0xE2, b"MPF\0second image follows"));
        out.extend_from_slice(&clean[2..sos]);
        out.extend(segment(0xFE, COMMENT));
        out.extend_from_slice(&[0xFF, 0xFF]); // fill bytes before a marker are allowed
        out.extend_from_slice(&clean[sos..]);
        out.extend_from_slice(b"trailing data: Max Mustermann");
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The bytes from the first SOS to EOI: headers of later scans plus all
    /// entropy-coded data.
    fn scans(jpeg: &[u8]) -> &[u8] {
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        &jpeg[sos..]
    }

    #[test]
    fn jpeg_metadata_is_removed_and_pixels_are_identical() {
        for (progressive, restart) in [(false, 0), (false, 3), (true, 0)] {
            let clean = encode_jpeg(progressive, restart);
            let dirty = with_metadata(&clean);
            let stripped = strip_metadata(&dirty).unwrap();
            assert_eq!(stripped.mime, JPEG_MIME);
            let out = &stripped.bytes;
            for secret in
                [GPS_MARK, b"Exif", b"GPS", XMP, b"xmpmeta", COMMENT, b"Mustermann", b"MPF"]
            {
                assert!(contains(&dirty, secret));
                assert!(!contains(out, secret), "{:?} survived", String::from_utf8_lossy(secret));
            }
            assert_eq!(decode_jpeg(out), decode_jpeg(&dirty));
            assert_eq!(decode_jpeg(out), decode_jpeg(&clean));
            // The entropy-coded data is byte-identical; here even the whole
            // file equals the encoder's own output.
            assert_eq!(scans(out), scans(&clean));
            assert_eq!(out, &clean, "progressive {progressive}, restart {restart}");
            if restart > 0 {
                assert!(out.windows(2).any(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1])));
            }
            // Idempotent.
            assert_eq!(&strip_jpeg(out).unwrap(), out);
        }
    }

    #[test]
    fn jpeg_colour_segments_are_kept_and_jfif_thumbnails_dropped() {
        let clean = encode_jpeg(false, 0);
        let icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01fake profile bytes");
        let adobe = segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01");
        let mut jfif_thumb = b"JFIF\0\x01\x02\0\0\x48\0\x48\x02\x01".to_vec();
        jfif_thumb.extend_from_slice(b"THUMBNAILPX!"); // 2×1 pixels, 3 bytes each... and more
        let mut input = vec![0xFF, 0xD8];
        input.extend(segment(0xE0, &jfif_thumb));
        input.extend(&icc);
        input.extend(&adobe);
        // The encoder's segments minus its own APP0.
        let app0_len = usize::from(u16::from_be_bytes([clean[4], clean[5]]));
        assert_eq!(clean[3], 0xE0);
        input.extend_from_slice(&clean[4 + app0_len..]);
        let out = strip_jpeg(&input).unwrap();
        // A profile that is not a valid ICC profile cannot be neutralised:
        // dropped.
        assert!(!contains(&out, b"ICC_PROFILE"));
        assert!(contains(&out, &adobe));
        assert!(!contains(&out, b"THUMBNAIL"));
        assert!(contains(&out, b"JFIF\0\x01\x02\0\0\x48\0\x48\0\0"));
        assert_eq!(scans(&out), scans(&clean));
        // A JFXX extension (thumbnail only) is dropped entirely.
        let mut input = vec![0xFF, 0xD8];
        input.extend(segment(0xE0, b"JFXX\0\x10thumbnail jpeg"));
        input.extend_from_slice(&clean[2..]);
        assert!(!contains(&strip_jpeg(&input).unwrap(), b"JFXX"));
    }

    #[test]
    fn damaged_jpegs_are_typed_errors() {
        let dirty = with_metadata(&encode_jpeg(false, 2));
        let eoi = dirty.len() - b"trailing data: Max Mustermann".len();
        // Every cut before EOI is complete fails; none panics.
        for cut in 0..eoi {
            let err = strip_metadata(&dirty[..cut]).unwrap_err();
            if cut >= 3 {
                assert!(matches!(err, MetadataError::MalformedJpeg(_)), "cut {cut}: {err:?}");
            }
        }
        assert!(strip_metadata(&dirty[..eoi]).is_ok());
        // A segment length pointing past the end.
        let mut bad = vec![0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 1, 2, 3];
        assert_eq!(strip_jpeg(&bad), Err(MetadataError::MalformedJpeg("truncated")));
        bad[4..6].copy_from_slice(&[0, 1]);
        assert!(matches!(strip_jpeg(&bad), Err(MetadataError::MalformedJpeg(_))));
        // Unknown markers are refused, not copied.
        let odd = [0xFF, 0xD8, 0xFF, 0xF7, 0x00, 0x04, 1, 2, 0xFF, 0xD9];
        assert_eq!(strip_jpeg(&odd), Err(MetadataError::UnsupportedJpegMarker(0xF7)));
        // No image data at all.
        assert!(strip_jpeg(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err());
    }

    #[test]
    fn other_formats_are_refused() {
        for bytes in [&b""[..], b"GIF89a....", b"II*\0\x08\0\0\0", b"\0\0\0\x18ftypisom", b"hello"]
        {
            let err = strip_metadata(bytes).unwrap_err();
            assert_eq!(err, MetadataError::UnsupportedFormat);
            assert_eq!(
                err.to_string(),
                "it is not a JPEG, PNG, HEIC or WebP photo; convert it to JPEG and try again"
            );
        }
        // Cut-short WebP and HEIC files are damaged, not unsupported.
        let webp = strip_metadata(b"RIFF\0\0\0\0WEBPVP8 ").unwrap_err();
        assert!(matches!(webp, MetadataError::MalformedWebp(_)), "{webp:?}");
        let heic = strip_metadata(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap_err();
        assert!(matches!(heic, MetadataError::MalformedHeif(_)), "{heic:?}");
        // No message shows a marker number or chunk name.
        let marker = MetadataError::UnsupportedJpegMarker(0xF7).to_string();
        assert!(!marker.contains("F7") && marker.contains("convert it"), "{marker}");
        let chunk = MetadataError::UnsupportedPngChunk("ZZZZ".into()).to_string();
        assert!(!chunk.contains("ZZZZ") && chunk.contains("convert it"), "{chunk}");
    }

    /// The core's messages serve every front-end: none names a command,
    /// a flag or the CLI (issue 15, item 3).
    #[test]
    fn messages_name_no_command_or_flag() {
        for error in [
            MetadataError::UnsupportedFormat,
            MetadataError::MalformedJpeg("truncated"),
            MetadataError::UnsupportedJpegMarker(0xF7),
            MetadataError::MalformedPng("no image data"),
            MetadataError::UnsupportedPngChunk("ZZZZ".into()),
            MetadataError::MalformedHeif("truncated"),
            MetadataError::UnsupportedHeif("grid image"),
            MetadataError::MalformedWebp("truncated"),
        ] {
            let text = error.to_string();
            for word in ["stadtbote", "--", "`", "run "] {
                assert!(!text.contains(word), "{text:?} contains {word:?}");
            }
        }
    }

    /// The encoder's JPEG with `segments` inserted after its JFIF APP0.
    fn jpeg_with(segments: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let clean = encode_jpeg(false, 0);
        assert_eq!(&clean[2..6], &[0xFF, 0xE0, 0x00, 0x10]);
        let mut dirty = clean[..20].to_vec();
        for s in segments {
            dirty.extend_from_slice(s);
        }
        dirty.extend_from_slice(&clean[20..]);
        (clean, dirty)
    }

    #[test]
    fn jpeg_keeps_all_eight_orientations_and_nothing_else_of_exif() {
        use test_support::*;
        for value in 1..=8u16 {
            let little_endian = value % 2 == 0;
            let exif = [&b"Exif\0\0"[..], &exif_block(value, little_endian)].concat();
            let (clean, dirty) = jpeg_with(&[segment(0xE1, &exif), segment(0xE1, XMP)]);
            // The test photo carries GPS, camera, serial, date and a thumbnail.
            assert!(exif_fields(&dirty).unwrap().len() > 8);
            let out = strip_metadata(&dirty).unwrap().bytes;
            assert_no_secrets(&out);
            assert!(!contains(&out, b"xmpmeta"));
            // kamadak-exif, reading the JPEG as a viewer would: only the
            // orientation is left (and nothing at all when upright).
            let fields = exif_fields(&out);
            if value == 1 {
                assert_eq!(fields, None);
                assert_eq!(out, clean);
            } else {
                assert_eq!(fields, Some(vec![(exif::Tag::Orientation, Some(u32::from(value)))]));
                // JFIF APP0 first, then the 36-byte minimal APP1, then the
                // encoder's segments unchanged.
                assert_eq!(out[..20], clean[..20]);
                assert_eq!(&out[20..22], &[0xFF, 0xE1]);
                assert_eq!(out.len(), clean.len() + 36);
                assert_eq!(out[56..], clean[20..]);
            }
            assert_eq!(decode_jpeg(&out), decode_jpeg(&clean), "orientation {value}");
            assert_eq!(strip_jpeg(&out).unwrap(), out, "idempotent");
        }
    }

    #[test]
    fn jpeg_without_jfif_gets_the_orientation_right_after_soi() {
        let (clean, dirty) = jpeg_with(&[]);
        let app0_removed = [&clean[..2], &clean[20..]].concat();
        let exif = [&b"Exif\0\0"[..], &test_support::exif_block(6, false)].concat();
        let input = [&dirty[..2], &segment(0xE1, &exif), &app0_removed[2..]].concat();
        let out = strip_jpeg(&input).unwrap();
        assert_eq!(&out[..2], &[0xFF, 0xD8]);
        assert_eq!(
            out[2..38],
            orientation::jpeg_app1(orientation::Orientation::from_exif(6).unwrap())
        );
        assert_eq!(decode_jpeg(&out), decode_jpeg(&clean));
        // Damaged EXIF: the photo is still sent, shown as stored.
        let input =
            [&dirty[..2], &segment(0xE1, b"Exif\0\0MM\0*\xff\xff\xff\xff"), &app0_removed[2..]]
                .concat();
        assert_eq!(strip_jpeg(&input).unwrap(), app0_removed);
    }

    /// The ICC profile in a JPEG's APP2 segments, reassembled.
    fn jpeg_icc(jpeg: &[u8]) -> Vec<u8> {
        let mut profile = Vec::new();
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
            let payload = &jpeg[pos + 4..pos + 2 + len];
            if let Some(chunk) = payload.strip_prefix(b"ICC_PROFILE\0") {
                profile.extend_from_slice(&chunk[2..]);
            }
            pos += 2 + len;
        }
        profile
    }

    #[test]
    fn jpeg_icc_profile_keeps_its_colours_and_loses_its_text() {
        use test_support::*;
        let profile = p3_profile();
        // Split over two APP2 segments, given out of order.
        let half = profile.len() / 2;
        let chunk = |seq: u8, data: &[u8]| {
            segment(0xE2, &[&b"ICC_PROFILE\0"[..], &[seq, 2], data].concat())
        };
        let (clean, dirty) = jpeg_with(&[chunk(2, &profile[half..]), chunk(1, &profile[..half])]);
        assert_eq!(jpeg_icc(&dirty).len(), profile.len());
        let out = strip_jpeg(&dirty).unwrap();
        let cleaned = jpeg_icc(&out);
        assert_eq!(cleaned.len(), profile.len());
        assert_same_colours(&profile, &cleaned);
        assert_eq!(decode_jpeg(&out), decode_jpeg(&clean));
        assert_eq!(strip_jpeg(&out).unwrap(), out);
        // A missing chunk: the profile is dropped, not half kept.
        let (_, dirty) = jpeg_with(&[chunk(2, &profile[half..])]);
        let out = strip_jpeg(&dirty).unwrap();
        assert!(!contains(&out, b"ICC_PROFILE"));
        assert_eq!(out, clean);
    }

    #[test]
    fn png_keeps_orientation_and_a_neutral_colour_profile() {
        use test_support::*;
        let base = encode_png(false);
        let profile = p3_profile();
        let mut iccp = b"Mustermann's profile\0\0".to_vec();
        iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&profile, 6));
        for value in 1..=8u16 {
            let idat = png_chunks(&base)
                .iter()
                .take_while(|(k, _)| k != b"IDAT")
                .map(|(_, c)| c.len())
                .sum::<usize>()
                + 8;
            let iend = base.len() - 12;
            let mut input = base[..idat].to_vec();
            input.extend(png_chunk(b"iCCP", &iccp));
            input.extend_from_slice(&base[idat..iend]);
            // eXIf after the image data, where some writers put it.
            input.extend(png_chunk(b"eXIf", &exif_block(value, value % 2 == 1)));
            input.extend_from_slice(&base[iend..]);
            assert!(exif_fields(&input).unwrap().len() > 8);
            let out = strip_png(&input).unwrap();
            assert_no_secrets(&out);
            let fields = exif_fields(&out);
            if value == 1 {
                assert_eq!(fields, None);
            } else {
                assert_eq!(fields, Some(vec![(exif::Tag::Orientation, Some(u32::from(value)))]));
            }
            let kinds: Vec<[u8; 4]> = png_chunks(&out).into_iter().map(|(k, _)| k).collect();
            let mut expected = vec![*b"IHDR", *b"gAMA", *b"iCCP"];
            if value != 1 {
                expected.push(*b"eXIf");
            }
            expected.extend([*b"IDAT", *b"IEND"]);
            assert_eq!(kinds, expected);
            // The png crate reads the profile back (its own inflate).
            let (_, px) = decode_png(&out);
            let reader = png::Decoder::new(std::io::Cursor::new(&out)).read_info().unwrap();
            let cleaned = reader.info().icc_profile.as_ref().unwrap().to_vec();
            assert_same_colours(&profile, &cleaned);
            assert_eq!(px, decode_png(&base).1);
            assert_eq!(strip_png(&out).unwrap(), out);
        }
    }

    fn encode_png(text: bool) -> Vec<u8> {
        let (w, h) = (23u32, 17u32);
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_source_gamma(png::ScaledFloat::new(1.0 / 2.2));
        if text {
            enc.add_text_chunk("Author".into(), "Max Mustermann".into()).unwrap();
            enc.add_ztxt_chunk("Comment".into(), "Lindenallee 12, Goslar".into()).unwrap();
            enc.add_itxt_chunk(
                "XML:com.adobe.xmp".into(),
                "<x:xmpmeta>GPSLatitude 51.9</x:xmpmeta>".into(),
            )
            .unwrap();
        }
        let mut writer = enc.write_header().unwrap();
        let px: Vec<u8> = (0..w * h * 4).map(|i| (i * 13 % 251) as u8).collect();
        writer.write_image_data(&px).unwrap();
        writer.finish().unwrap();
        out
    }

    fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    /// All chunks of a PNG up to IEND as (type, whole chunk bytes).
    fn png_chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        let mut pos = 8;
        let mut chunks = Vec::new();
        while pos < bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = bytes[pos + 4..pos + 8].try_into().unwrap();
            chunks.push((kind, bytes[pos..pos + 12 + len].to_vec()));
            pos += 12 + len;
            if &kind == b"IEND" {
                break;
            }
        }
        chunks
    }

    #[test]
    fn png_metadata_is_removed_and_pixels_are_identical() {
        let dirty = encode_png(true);
        let clean = encode_png(false);
        // Add eXIf, tIME and an unknown private chunk before IEND, plus junk after it.
        let iend = dirty.len() - 12;
        let mut input = dirty[..iend].to_vec();
        input.extend(png_chunk(b"eXIf", &exif_with_gps()[6..]));
        input.extend(png_chunk(b"tIME", &[0x07, 0xE8, 5, 17, 14, 3, 9]));
        input.extend(png_chunk(b"prVt", b"device serial 0xC0FFEE"));
        input.extend_from_slice(&dirty[iend..]);
        input.extend_from_slice(b"after the end: Max Mustermann");
        let stripped = strip_metadata(&input).unwrap();
        assert_eq!(stripped.mime, PNG_MIME);
        let out = &stripped.bytes;
        for secret in
            [&b"Mustermann"[..], b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"prVt", GPS_MARK]
        {
            assert!(contains(&input, secret));
            assert!(!contains(out, secret), "{:?} survived", String::from_utf8_lossy(secret));
        }
        let (info_in, px_in) = decode_png(&input);
        let (info_out, px_out) = decode_png(out);
        assert_eq!(px_out, px_in);
        assert_eq!((info_out.width, info_out.height), (info_in.width, info_in.height));
        // IDAT and the colour chunk are copied byte for byte; the result is
        // what the encoder writes without text.
        let kinds: Vec<[u8; 4]> = png_chunks(out).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [*b"IHDR", *b"gAMA", *b"IDAT", *b"IEND"]);
        let idat =
            |b: &[u8]| png_chunks(b).into_iter().filter(|(k, _)| k == b"IDAT").collect::<Vec<_>>();
        assert_eq!(idat(out), idat(&input));
        assert_eq!(out, &clean);
        assert_eq!(&strip_png(out).unwrap(), out);
    }

    #[test]
    fn damaged_pngs_are_typed_errors() {
        let good = encode_png(true);
        for cut in 8..good.len() {
            assert!(
                matches!(strip_metadata(&good[..cut]), Err(MetadataError::MalformedPng(_))),
                "cut {cut}"
            );
        }
        // A flipped bit in a dropped text chunk still fails the CRC check.
        let text_at = good.windows(4).position(|w| w == b"tEXt").unwrap();
        let mut bad = good.clone();
        bad[text_at + 6] ^= 1;
        assert_eq!(
            strip_png(&bad),
            Err(MetadataError::MalformedPng("a chunk checksum does not match"))
        );
        // An unknown critical chunk.
        let iend = good.len() - 12;
        let critical = [&good[..iend], &png_chunk(b"ZZZZ", b"?"), &good[iend..]].concat();
        assert_eq!(strip_png(&critical), Err(MetadataError::UnsupportedPngChunk("ZZZZ".into())));
        // Header not first.
        let mut swapped = good[..8].to_vec();
        swapped.extend(png_chunk(b"gAMA", &[0, 0, 0xB1, 0x8F]));
        swapped.extend_from_slice(&good[8..]);
        assert!(strip_png(&swapped).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..400), png in any::<bool>()) {
            let mut bytes = if png { PNG_SIGNATURE.to_vec() } else { vec![0xFF, 0xD8, 0xFF] };
            bytes.extend(tail);
            let _ = strip_metadata(&bytes);
        }

        #[test]
        fn arbitrary_heif_and_webp_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..600),
            webp in any::<bool>(),
        ) {
            // Valid headers, so the box and chunk walkers see the tail.
            let mut bytes = if webp {
                let mut b = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x2c\0\0\0\0\0\0\0\0\0".to_vec();
                let len = u32::try_from(b.len() - 8 + tail.len()).unwrap();
                b[4..8].copy_from_slice(&len.to_le_bytes());
                b
            } else {
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec()
            };
            bytes.extend(tail);
            let _ = strip_metadata(&bytes);
        }

        #[test]
        fn corrupted_jpegs_never_panic(at in 0usize..2000, value in any::<u8>()) {
            let mut bytes = with_metadata(&encode_jpeg(false, 2));
            let at = at % bytes.len();
            bytes[at] = value;
            let _ = strip_metadata(&bytes);
        }
    }
}
