//! Test photos' metadata, made with independent maintained crates: EXIF
//! blocks by kamadak-exif's writer, ICC profiles by moxcms.

/// Text that must never survive cleaning.
pub const SECRETS: [&[u8]; 5] =
    [b"CameraMakerX", b"SERIAL-12345", b"2026:05:17 14:03:09", b"THUMBNAIL-BYTES", b"Mustermann"];

/// An EXIF block (TIFF structure, no `Exif\0\0` prefix) as a phone writes
/// it: orientation, camera make and serial, date, GPS position, owner and a
/// thumbnail.
pub fn exif_block(orientation: u16, little_endian: bool) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
    let rationals =
        |v: &[u32]| Value::Rational(v.iter().map(|&num| Rational { num, denom: 1 }).collect());
    let fields = [
        (Tag::Orientation, Value::Short(vec![orientation])),
        (Tag::Make, ascii("CameraMakerX")),
        (Tag::Artist, ascii("Max Mustermann")),
        (Tag::BodySerialNumber, ascii("SERIAL-12345")),
        (Tag::DateTimeOriginal, ascii("2026:05:17 14:03:09")),
        (Tag::GPSLatitudeRef, ascii("N")),
        (Tag::GPSLatitude, rationals(&[51, 54, 30])),
        (Tag::GPSLongitudeRef, ascii("E")),
        (Tag::GPSLongitude, rationals(&[10, 25, 44])),
    ]
    .map(|(tag, value)| Field { tag, ifd_num: In::PRIMARY, value });
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    writer.set_jpeg(b"THUMBNAIL-BYTES", In::THUMBNAIL);
    let mut out = std::io::Cursor::new(Vec::new());
    writer.write(&mut out, little_endian).unwrap();
    out.into_inner()
}

/// The fields kamadak-exif finds in a file (JPEG, PNG, WebP, HEIF), or
/// `None` if it has no EXIF at all.
pub fn exif_fields(file: &[u8]) -> Option<Vec<(exif::Tag, Option<u32>)>> {
    let parsed = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(file));
    match parsed {
        Ok(exif) => Some(exif.fields().map(|f| (f.tag, f.value.get_uint(0))).collect()),
        Err(exif::Error::NotFound(_)) => None,
        Err(other) => panic!("unreadable EXIF: {other}"),
    }
}

/// A Display P3 profile (as iPhones embed) whose description, copyright and
/// device texts name a person.
pub fn p3_profile() -> Vec<u8> {
    use moxcms::{ColorProfile, ProfileText};
    let mut profile = ColorProfile::new_display_p3();
    let text = |s: &str| Some(ProfileText::PlainString(s.to_string()));
    profile.description = text("Display P3 of Max Mustermann");
    profile.copyright = text("Copyright Max Mustermann");
    profile.device_model = text("Mustermann phone");
    profile.encode().unwrap()
}

/// Checks that a cleaned profile still has the original's colour data and
/// none of its text.
pub fn assert_same_colours(original: &[u8], cleaned: &[u8]) {
    let a = moxcms::ColorProfile::new_from_slice(original).unwrap();
    let b = moxcms::ColorProfile::new_from_slice(cleaned).unwrap();
    assert_eq!(
        (a.red_colorant, a.green_colorant, a.blue_colorant, a.white_point),
        (b.red_colorant, b.green_colorant, b.blue_colorant, b.white_point)
    );
    assert_eq!(format!("{:?}", a.red_trc), format!("{:?}", b.red_trc));
    assert_eq!(format!("{:?}", a.blue_trc), format!("{:?}", b.blue_trc));
    assert_eq!(a.color_space, b.color_space);
    let utf16: Vec<u8> = "Mustermann".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert!(contains(original, &utf16) || contains(original, b"Mustermann"));
    assert!(!contains(cleaned, &utf16) && !contains(cleaned, b"Mustermann"));
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts none of [`SECRETS`] (ASCII or UTF-16) is in `bytes`.
pub fn assert_no_secrets(bytes: &[u8]) {
    for secret in SECRETS {
        let utf16: Vec<u8> = secret.iter().flat_map(|&b| [0, b]).collect();
        assert!(!contains(bytes, secret), "{:?} survived", String::from_utf8_lossy(secret));
        assert!(!contains(bytes, &utf16), "{:?} survived", String::from_utf8_lossy(secret));
    }
}
