//! The one EXIF value a cleaned photo keeps: its orientation.
//!
//! Phones store portrait photos as landscape pixels plus an EXIF
//! Orientation tag telling viewers how to turn them. Dropping the whole EXIF
//! block (with its GPS position, camera serial and dates) would show such
//! photos sideways or mirrored, so the orientation is read from the
//! original EXIF with the maintained `kamadak-exif` parser and written back
//! as a minimal EXIF block holding nothing else.
//!
//! The minimal block is a big-endian TIFF structure of 26 bytes with one
//! image file directory (IFD0) of one entry, no further IFDs (no Exif, GPS
//! or interoperability IFD) and no thumbnail:
//!
//! ```text
//! 4D 4D 00 2A 00 00 00 08              "MM" (big-endian), 42, IFD0 at offset 8
//! 00 01                                IFD0: one entry
//! 01 12 00 03 00 00 00 01 00 0N 00 00  tag 0x0112 Orientation, type SHORT,
//!                                      count 1, value N (2..=8) padded to 4 bytes
//! 00 00 00 00                          no next IFD (so no IFD1 thumbnail)
//! ```
//!
//! JPEG carries it in an APP1 segment after the `Exif\0\0` identifier
//! (`FF E1 00 22 45 78 69 66 00 00` + the 26 bytes), PNG in an `eXIf`
//! chunk and WebP in an `EXIF` chunk (both the bare 26 bytes).

/// How a viewer must turn the stored pixels (EXIF Orientation, 1..=8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation(u8);

impl Orientation {
    /// Shown as stored (EXIF value 1, also what a missing tag means).
    pub const UPRIGHT: Orientation = Orientation(1);

    /// The orientation with this EXIF value, if it is one of the eight.
    pub fn from_exif(value: u32) -> Option<Orientation> {
        u8::try_from(value).ok().filter(|v| (1..=8).contains(v)).map(Orientation)
    }

    /// The EXIF value (1 = upright as stored, 2..=8 = mirrored and/or
    /// turned).
    pub fn value(self) -> u8 {
        self.0
    }

    /// Whether the pixels are shown as stored (nothing to keep).
    pub fn is_upright(self) -> bool {
        self.0 == 1
    }
}

/// The orientation stored in a TIFF-structured EXIF block (starting with
/// `MM` or `II`), if it has a valid one.
///
/// Hostile or damaged EXIF never fails the photo: the orientation is then
/// simply unknown (the photo is shown as stored), because the block is
/// dropped either way. A block the parser can read only in part still
/// yields the orientation if IFD0 was readable.
pub fn read_tiff(tiff: &[u8]) -> Option<Orientation> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let parsed = reader
        .read_raw(tiff.to_vec())
        .or_else(|error| error.distill_partial_result(|_ignored| {}))
        .ok()?;
    let field = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    Orientation::from_exif(field.value.get_uint(0)?)
}

/// Like [`read_tiff`] for an EXIF block that may start with the `Exif\0\0`
/// identifier (JPEG APP1 always, some WebP writers too).
pub fn read_exif(block: &[u8]) -> Option<Orientation> {
    read_tiff(block.strip_prefix(b"Exif\0\0").unwrap_or(block))
}

/// The 26-byte minimal EXIF block (TIFF structure) for `orientation`; see
/// the module documentation for its bytes.
#[rustfmt::skip] // one line per structure element, as documented above
pub fn minimal_tiff(orientation: Orientation) -> [u8; 26] {
    [
        0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // header
        0x00, 0x01, // one entry
        0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, orientation.0, 0x00, 0x00, // Orientation
        0x00, 0x00, 0x00, 0x00, // no next IFD
    ]
}

/// The complete JPEG APP1 segment (marker included) carrying only
/// `orientation`.
pub fn jpeg_app1(orientation: Orientation) -> Vec<u8> {
    let tiff = minimal_tiff(orientation);
    let len = 2 + 6 + tiff.len(); // length field + "Exif\0\0" + TIFF = 34
    let mut segment = vec![0xFF, 0xE1, 0x00, len as u8];
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_orientation_round_trips_through_an_independent_reader() {
        for value in 1..=8u32 {
            let orientation = Orientation::from_exif(value).unwrap();
            let tiff = minimal_tiff(orientation);
            // kamadak-exif reads exactly one field back: the orientation.
            let parsed = exif::Reader::new().read_raw(tiff.to_vec()).unwrap();
            assert_eq!(parsed.fields().len(), 1);
            let field = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY).unwrap();
            assert_eq!(field.value.get_uint(0), Some(value));
            assert_eq!(read_tiff(&tiff), Some(orientation));
            let app1 = jpeg_app1(orientation);
            assert_eq!(app1.len(), 36);
            assert_eq!(read_exif(&app1[4..]), Some(orientation));
        }
    }

    #[test]
    fn invalid_or_hostile_exif_yields_no_orientation() {
        assert_eq!(Orientation::from_exif(0), None);
        assert_eq!(Orientation::from_exif(9), None);
        assert_eq!(Orientation::from_exif(0x1_0003), None);
        let mut bad = minimal_tiff(Orientation(6));
        bad[19] = 9;
        assert_eq!(read_tiff(&bad), None);
        for cut in 0..26 {
            let _ = read_tiff(&minimal_tiff(Orientation(3))[..cut]);
        }
        // IFD0 pointing at itself (a loop), and garbage.
        let looped = [0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8, 0, 0, 0, 0, 0, 8];
        assert_eq!(read_tiff(&looped), None);
        assert_eq!(read_exif(b"Exif\0\0garbage"), None);
        assert_eq!(read_exif(b""), None);
    }
}
