//! Removing metadata from WebP photos without re-encoding them.
//!
//! A WebP file is a RIFF container of chunks. Kept, byte for byte, are the
//! image chunks `VP8 `, `VP8L`, `ALPH`, `ANIM` and `ANMF`; `VP8X` (the
//! extended header) is kept with its EXIF and XMP flags cleared; `ICCP` is
//! kept with its free text neutralised ([`super::icc`], dropped if it cannot
//! be parsed). Dropped are `EXIF`, `XMP `, every unknown chunk and anything
//! after the RIFF data. WebP has no orientation of its own, so an EXIF
//! orientation other than "upright" is written back as a minimal `EXIF`
//! chunk ([`super::orientation`]) and the EXIF flag set again.

use super::{MetadataError, icc, orientation};

const BAD: fn(&'static str) -> MetadataError = MetadataError::MalformedWebp;

/// VP8X flag bits (first byte of the chunk).
const FLAG_ICC: u8 = 0x20;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

/// Whether the bytes start like a WebP file.
pub fn is_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
}

/// Removes metadata from a WebP (see the module documentation).
pub fn strip(input: &[u8]) -> Result<Vec<u8>, MetadataError> {
    if !is_webp(input) {
        return Err(BAD("no WebP header"));
    }
    let riff_len = u32::from_le_bytes([input[4], input[5], input[6], input[7]]) as usize;
    let body = riff_len
        .checked_add(8)
        .and_then(|end| input.get(12..end))
        .ok_or(BAD("the file is shorter than its header says"))?;
    let mut chunks = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let header = body.get(pos..pos + 8).ok_or(BAD("a chunk header is cut short"))?;
        let kind: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let data =
            body.get(pos + 8..pos + 8 + len).ok_or(BAD("a chunk runs past the end of the file"))?;
        chunks.push((kind, data));
        // Chunks are padded to an even length; a missing final pad byte is
        // tolerated (some writers omit it).
        pos = pos + 8 + len + (len & 1);
    }
    let (first, _) = chunks.first().ok_or(BAD("no image data"))?;
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    if first != b"VP8X" {
        // Simple format: one VP8 or VP8L chunk and nothing else.
        let (kind, data) = chunks[0];
        if &kind != b"VP8 " && &kind != b"VP8L" {
            return Err(BAD("no image data"));
        }
        push_chunk(&mut out, &kind, data);
    } else {
        let vp8x = chunks[0].1;
        if vp8x.len() != 10 {
            return Err(BAD("the extended header has the wrong size"));
        }
        let mut orientation = None;
        let mut profile = None;
        let mut image = Vec::new();
        for &(kind, data) in &chunks[1..] {
            match &kind {
                b"ICCP" => profile = icc::neutralise(data).ok(),
                b"EXIF" => orientation = orientation.or(orientation::read_exif(data)),
                b"ANIM" | b"ANMF" | b"ALPH" | b"VP8 " | b"VP8L" => image.push((kind, data)),
                _ => {} // XMP and unknown chunks
            }
        }
        if !image.iter().any(|(k, _)| matches!(k, b"VP8 " | b"VP8L" | b"ANMF")) {
            return Err(BAD("no image data"));
        }
        let orientation = orientation.filter(|o| !o.is_upright());
        let mut header = [0u8; 10];
        header.copy_from_slice(vp8x);
        header[0] &= !(FLAG_ICC | FLAG_EXIF | FLAG_XMP);
        if profile.is_some() {
            header[0] |= FLAG_ICC;
        }
        if orientation.is_some() {
            header[0] |= FLAG_EXIF;
        }
        push_chunk(&mut out, b"VP8X", &header);
        if let Some(profile) = &profile {
            push_chunk(&mut out, b"ICCP", profile);
        }
        for (kind, data) in image {
            push_chunk(&mut out, &kind, data);
        }
        if let Some(orientation) = orientation {
            push_chunk(&mut out, b"EXIF", &orientation::minimal_tiff(orientation));
        }
    }
    let riff_len = u32::try_from(out.len() - 8).map_err(|_| BAD("the file is too large"))?;
    out[4..8].copy_from_slice(&riff_len.to_le_bytes());
    Ok(out)
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    // Chunk data comes from a file whose RIFF length fits in a u32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::test_support::*;

    const XMP: &[u8] = b"<x:xmpmeta><dc:creator>Max Mustermann</dc:creator></x:xmpmeta>";

    fn pixels(w: u32, h: u32) -> Vec<u8> {
        (0..w * h * 4).map(|i| (i * 7 % 253) as u8).collect()
    }

    /// A lossless WebP made by image-webp's encoder, with optional metadata.
    fn encode(icc: Option<Vec<u8>>, exif: Option<Vec<u8>>, xmp: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = image_webp::WebPEncoder::new(&mut out);
        if let Some(icc) = icc {
            enc.set_icc_profile(icc);
        }
        if let Some(exif) = exif {
            enc.set_exif_metadata(exif);
        }
        if xmp {
            enc.set_xmp_metadata(XMP.to_vec());
        }
        enc.encode(&pixels(31, 17), 31, 17, image_webp::ColorType::Rgba8).unwrap();
        out
    }

    struct Decoded {
        pixels: Vec<u8>,
        icc: Option<Vec<u8>>,
        exif: Option<Vec<u8>>,
        xmp: Option<Vec<u8>>,
    }

    /// Decodes with image-webp (an independent decoder).
    fn decode(bytes: &[u8]) -> Decoded {
        let mut dec = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        let mut pixels = vec![0; dec.output_buffer_size().unwrap()];
        dec.read_image(&mut pixels).unwrap();
        Decoded {
            pixels,
            icc: dec.icc_profile().unwrap(),
            exif: dec.exif_metadata().unwrap(),
            xmp: dec.xmp_metadata().unwrap(),
        }
    }

    #[test]
    fn webp_keeps_pixels_orientation_and_neutral_profile_only() {
        let profile = p3_profile();
        for value in 1..=8u16 {
            let input = encode(Some(profile.clone()), Some(exif_block(value, value > 4)), true);
            let before = decode(&input);
            assert!(before.xmp.is_some() && before.exif.is_some());
            let out = strip(&input).unwrap();
            assert_no_secrets(&out);
            let after = decode(&out);
            assert_eq!(after.pixels, before.pixels);
            assert_eq!(after.xmp, None);
            assert_same_colours(&profile, &after.icc.unwrap());
            let fields = exif_fields(&out);
            if value == 1 {
                assert_eq!(after.exif, None);
                assert_eq!(fields, None);
                assert_eq!(out[20] & (FLAG_EXIF | FLAG_XMP), 0);
            } else {
                assert_eq!(fields, Some(vec![(exif::Tag::Orientation, Some(u32::from(value)))]));
                assert_eq!(out[20] & (FLAG_EXIF | FLAG_XMP | FLAG_ICC), FLAG_EXIF | FLAG_ICC);
            }
            assert_eq!(strip(&out).unwrap(), out, "idempotent");
        }
    }

    #[test]
    fn simple_webp_is_kept_and_trailing_data_dropped() {
        let plain = encode(None, None, false);
        assert_eq!(&plain[12..16], b"VP8L");
        assert_eq!(strip(&plain).unwrap(), plain);
        let mut trailing = plain.clone();
        trailing.extend_from_slice(b"Max Mustermann");
        assert_eq!(strip(&trailing).unwrap(), plain);
        // Through the dispatcher, with the media type.
        let clean = crate::metadata::strip_metadata(&plain).unwrap();
        assert_eq!(clean.mime, crate::metadata::WEBP_MIME);
    }

    #[test]
    fn damaged_webps_are_typed_errors() {
        let good = encode(Some(p3_profile()), Some(exif_block(6, false)), true);
        for cut in 0..good.len() {
            if let Err(err) = strip(&good[..cut]) {
                assert!(matches!(err, MetadataError::MalformedWebp(_)), "cut {cut}: {err:?}");
            }
        }
        for at in 0..good.len().min(400) {
            for value in [0u8, 0xFF, 0x7F] {
                let mut bad = good.clone();
                bad[at] = value;
                let _ = strip(&bad);
            }
        }
        // A chunk claiming more than the file holds.
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(strip(&bad).is_err());
    }
}
