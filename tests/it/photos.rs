//! Test photos: a real JPEG carrying EXIF GPS, XMP and a comment, and large
//! "JPEG" files for upload tests that are structurally valid but cheap to
//! make.

/// Text that must not survive metadata removal.
pub const COMMENT: &str = "Aufgenommen von Max Mustermann, Lindenallee 12";
/// XMP that must not survive metadata removal.
pub const XMP: &str = "<x:xmpmeta><exif:GPSLatitude>51,54.1234N</exif:GPSLatitude></x:xmpmeta>";

/// A small JPEG (real pixels) with an EXIF segment holding GPS coordinates,
/// an XMP segment and a comment, inserted right after SOI as phones do.
/// Returns (file bytes, the EXIF segment's bytes).
pub fn jpeg_with_metadata() -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (96u16, 64u16);
    let mut rgb = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8]);
        }
    }
    let mut plain = Vec::new();
    jpeg_encoder::Encoder::new(&mut plain, 90)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encode jpeg");
    assert_eq!(&plain[..2], &[0xFF, 0xD8]);

    let exif = segment(0xE1, &exif_with_gps());
    let xmp =
        segment(0xE1, &[b"http://ns.adobe.com/xap/1.0/\0".as_slice(), XMP.as_bytes()].concat());
    let com = segment(0xFE, COMMENT.as_bytes());
    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&exif);
    out.extend_from_slice(&xmp);
    out.extend_from_slice(&com);
    out.extend_from_slice(&plain[2..]);
    (out, exif)
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len() + 2).expect("segment length");
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&len.to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A big-endian TIFF/EXIF block with IFD0 → GPS IFD: latitude 51°54'30" N,
/// longitude 10°25'44" E.
fn exif_with_gps() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"Exif\0\0");
    let base = t.len();
    t.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // TIFF header, IFD0 at 8
    // IFD0: one entry, GPSInfo (0x8825) → offset 26.
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26]);
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len() - base, 26);
    // GPS IFD: 4 entries, rationals after it.
    let rationals_at: u32 = 26 + 2 + 4 * 12 + 4;
    t.extend_from_slice(&4u16.to_be_bytes());
    t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3]);
    t.extend_from_slice(&rationals_at.to_be_bytes());
    t.extend_from_slice(&[0, 3, 0, 2, 0, 0, 0, 2, b'E', 0, 0, 0]);
    t.extend_from_slice(&[0, 4, 0, 5, 0, 0, 0, 3]);
    t.extend_from_slice(&(rationals_at + 24).to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    for (num, den) in [(51u32, 1u32), (54, 1), (30, 1), (10, 1), (25, 1), (44, 1)] {
        t.extend_from_slice(&num.to_be_bytes());
        t.extend_from_slice(&den.to_be_bytes());
    }
    t
}

/// Decodes a JPEG to its pixels.
pub fn pixels(jpeg: &[u8]) -> Vec<u8> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    decoder.decode().expect("decode jpeg")
}

/// A structurally valid JPEG of about `size` bytes with no metadata: the
/// segments of a tiny real JPEG, with its scan data followed by filler bytes
/// (never 0xFF, so no marker appears). Metadata removal copies scan data
/// unchanged, so the file survives it byte for byte; nothing here needs to
/// decode, which keeps a 20 MB test file cheap to make.
pub fn big_jpeg(size: usize) -> Vec<u8> {
    let (small, _) = jpeg_with_metadata();
    // Drop the metadata segments again: keep SOI + everything from the
    // encoder's own output (which starts after our three inserted segments).
    let mut out = vec![0xFF, 0xD8];
    let mut i = 2;
    while i + 4 <= small.len() {
        let marker = small[i + 1];
        let len = usize::from(u16::from_be_bytes([small[i + 2], small[i + 3]]));
        if marker == 0xE1 || marker == 0xFE {
            i += 2 + len;
            continue;
        }
        break;
    }
    let body = &small[i..small.len() - 2]; // without EOI
    out.extend_from_slice(body);
    let mut state: u32 = 0x1234_5678;
    while out.len() + 2 < size {
        // xorshift: varied bytes that do not compress, never 0xFF.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let b = (state & 0xFF) as u8;
        out.push(if b == 0xFF { 0xFE } else { b });
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// Whether any `run`-byte window of `needle` occurs in `haystack`.
pub fn shares_a_run(haystack: &[u8], needle: &[u8], run: usize) -> bool {
    if needle.len() < run || haystack.len() < run {
        return false;
    }
    let windows: std::collections::HashSet<&[u8]> = needle.windows(run).collect();
    haystack.windows(run).any(|w| windows.contains(w))
}

/// `jpeg` (as made by [`jpeg_with_metadata`]) with an EXIF block that also
/// holds `orientation` and a camera make, inserted before the GPS EXIF, as
/// a portrait phone photo has.
pub fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0: Make (12 bytes at 38), Orientation; no next IFD.
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 12, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    tiff.extend_from_slice(b"CameraMaker\0");
    [&jpeg[..2], &segment(0xE1, &tiff), &jpeg[2..]].concat()
}
