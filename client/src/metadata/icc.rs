//! Neutralising free text inside ICC colour profiles.
//!
//! Phones embed a colour profile (sRGB, Display P3) that viewers need to show
//! colours right, so the profile is kept rather than dropped. But a profile
//! can carry free text: its description and copyright (`desc`, `cprt`),
//! device maker and model descriptions (`dmnd`, `dmdd`), viewing condition
//! text, metadata dictionaries, private vendor tags and dates. This module
//! rewrites a profile in place, keeping its size and all colour data byte
//! for byte:
//!
//! * tags whose data type is colour data (`XYZ `, `curv`, `para`, LUTs,
//!   `chrm`, `cicp`, ...) are kept unchanged;
//! * tags of the text types `desc`, `text` and `mluc` are kept (ICC requires
//!   `desc` and `cprt`) but their text is emptied;
//! * every other tag (dictionaries, dates, named colours, private and
//!   unknown types) is removed from the tag table;
//! * the header's date, device maker and model, creator, CMM, platform and
//!   profile ID (an MD5 that would no longer match; zero means "not
//!   computed") are zeroed;
//! * every byte not belonging to the header, the tag table or a kept tag is
//!   zeroed, so nothing hides in gaps between tags.
//!
//! A profile that cannot be parsed is reported as an error; callers then drop
//! it (the photo is shown in sRGB, which is what a viewer assumes without a
//! profile).

/// Why a profile could not be neutralised (it is dropped instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidProfile;

const HEADER_LEN: usize = 128;

/// Tag data types that hold only colour data.
const COLOUR_TYPES: [&[u8; 4]; 22] = [
    b"XYZ ", b"curv", b"para", b"sf32", b"mft1", b"mft2", b"mAB ", b"mBA ", b"chrm", b"cicp",
    b"mpet", b"sig ", b"view", b"meas", b"clro", b"uf32", b"ui08", b"ui16", b"ui32", b"ui64",
    b"vcgt", b"lutA",
];

/// Tag data types holding text, which are kept with their text emptied.
const TEXT_TYPES: [&[u8; 4]; 3] = [b"desc", b"text", b"mluc"];

fn be32(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()
}

fn put32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = bytes.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

/// Neutralises a profile (see the module documentation); the result has the
/// length the profile declares.
///
/// Bytes after the size the header declares (padding some writers add) are
/// not part of the profile and are left out.
pub fn neutralise(profile: &[u8]) -> Result<Vec<u8>, InvalidProfile> {
    let declared = be32(profile, 0).ok_or(InvalidProfile)?;
    let profile = profile.get(..declared).ok_or(InvalidProfile)?;
    let len = profile.len();
    if len < HEADER_LEN + 4 || &profile[36..40] != b"acsp" {
        return Err(InvalidProfile);
    }
    let count = be32(profile, HEADER_LEN).ok_or(InvalidProfile)?;
    let table_end = count
        .checked_mul(12)
        .and_then(|t| t.checked_add(HEADER_LEN + 4))
        .filter(|&end| end <= len)
        .ok_or(InvalidProfile)?;
    let mut out = profile.to_vec();
    let mut kept: Vec<[u8; 12]> = Vec::with_capacity(count);
    let mut keep_ranges: Vec<(usize, usize)> = Vec::with_capacity(count);
    for i in 0..count {
        let entry = HEADER_LEN + 4 + 12 * i;
        let offset = be32(profile, entry + 4).ok_or(InvalidProfile)?;
        let size = be32(profile, entry + 8).ok_or(InvalidProfile)?;
        let end = offset.checked_add(size).filter(|&e| e <= len).ok_or(InvalidProfile)?;
        if offset < table_end {
            return Err(InvalidProfile);
        }
        let Some(kind) = profile.get(offset..offset + 4).filter(|_| size >= 8) else {
            continue; // too short to hold a type: removed
        };
        let is_text = TEXT_TYPES.iter().any(|t| &t[..] == kind);
        if !is_text && !COLOUR_TYPES.iter().any(|t| &t[..] == kind) {
            continue;
        }
        if is_text {
            empty_text(&mut out[offset..end]);
        }
        let mut row = [0u8; 12];
        row.copy_from_slice(&profile[entry..entry + 12]);
        kept.push(row);
        keep_ranges.push((offset, end));
    }
    // The tag table, compacted; the rows of removed tags become zeros.
    put32(&mut out, HEADER_LEN, u32::try_from(kept.len()).map_err(|_| InvalidProfile)?);
    out[HEADER_LEN + 4..table_end].fill(0);
    for (i, row) in kept.iter().enumerate() {
        let at = HEADER_LEN + 4 + 12 * i;
        out[at..at + 12].copy_from_slice(row);
    }
    // Everything outside the header, the table and the kept tags.
    keep_ranges.sort_unstable();
    let mut at = table_end;
    for (start, end) in keep_ranges {
        if start > at {
            out[at..start].fill(0);
        }
        at = at.max(end);
    }
    out[at..].fill(0);
    // Header: CMM, date, platform, device maker and model, creator,
    // profile ID and the reserved bytes.
    for (start, end) in [(4, 8), (24, 36), (40, 44), (48, 56), (80, 128)] {
        out[start..end].fill(0);
    }
    Ok(out)
}

/// Empties the text of a `desc`, `text` or `mluc` tag, keeping it valid.
fn empty_text(tag: &mut [u8]) {
    let size = tag.len();
    match &tag[..4] {
        b"mluc" => {
            // Records keep their language and country; each string becomes
            // empty, pointing just past the record table.
            let records = be32(tag, 8).unwrap_or(0);
            let record_size = be32(tag, 12).unwrap_or(0);
            let strings_at = records.checked_mul(12).and_then(|r| r.checked_add(16));
            match strings_at.filter(|&s| record_size == 12 && s <= size) {
                Some(strings_at) => {
                    for r in 0..records {
                        let at = 16 + 12 * r;
                        put32(tag, at + 4, 0);
                        put32(tag, at + 8, strings_at as u32);
                    }
                    tag[strings_at..].fill(0);
                }
                None => tag[8..].fill(0),
            }
        }
        b"desc" => {
            // ICC v2 textDescriptionType: ASCII count + string, Unicode
            // language + count + string, ScriptCode code + count + 67 bytes.
            // Rewritten as a one-byte ASCII string "\0" and empty others.
            tag[8..].fill(0);
            if size >= 8 + 4 + 1 + 4 + 4 + 2 + 1 + 67 {
                put32(tag, 8, 1);
            }
        }
        _ => tag[8..].fill(0), // text: an empty NUL-terminated string
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small v4 display profile built by hand: description and copyright
    /// as `mluc` (with a private name), a `dmnd` device maker `desc` tag,
    /// a `dtim` date, a private tag with a serial number, white point and
    /// a shared TRC.
    pub(crate) fn sample_profile() -> Vec<u8> {
        fn mluc(text: &str) -> Vec<u8> {
            let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            let mut t = b"mluc\0\0\0\0".to_vec();
            t.extend_from_slice(&1u32.to_be_bytes());
            t.extend_from_slice(&12u32.to_be_bytes());
            t.extend_from_slice(b"enUS");
            t.extend_from_slice(&(utf16.len() as u32).to_be_bytes());
            t.extend_from_slice(&28u32.to_be_bytes());
            t.extend_from_slice(&utf16);
            t
        }
        let mut desc_v2 = b"desc\0\0\0\0".to_vec();
        desc_v2.extend_from_slice(&16u32.to_be_bytes());
        desc_v2.extend_from_slice(b"Max Phone 12345\0");
        desc_v2.extend_from_slice(&[0; 4 + 4 + 2 + 1 + 67]);
        let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
            (b"desc", mluc("Max Mustermann's P3")),
            (b"cprt", mluc("Copyright Max Mustermann")),
            (b"dmnd", desc_v2),
            (
                b"wtpt",
                [&b"XYZ \0\0\0\0"[..], &[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]].concat(),
            ),
            (b"rTRC", [&b"para\0\0\0\0"[..], &[0, 0, 0, 0, 0, 2, 0x33, 0x33]].concat()),
            (b"zSer", b"ZZZZ\0\0\0\0serial C0FFEE".to_vec()),
            (
                b"calt",
                [&b"dtim\0\0\0\0"[..], &[0x07, 0xEA, 0, 5, 0, 17, 0, 9, 0, 30, 0, 0]].concat(),
            ),
        ];
        let count = tags.len() + 1; // gTRC shares rTRC's data
        let mut data_at = HEADER_LEN + 4 + 12 * count;
        let mut table = Vec::new();
        let mut data = Vec::new();
        let mut trc = (0, 0);
        for (sig, body) in &tags {
            table.extend_from_slice(&sig[..]);
            table.extend_from_slice(&(data_at as u32).to_be_bytes());
            table.extend_from_slice(&(body.len() as u32).to_be_bytes());
            if *sig == b"rTRC" {
                trc = (data_at, body.len());
            }
            // Hidden bytes between tags, then padding to 4.
            let pad = (4 - body.len() % 4) % 4;
            data.extend_from_slice(body);
            data.extend_from_slice(b"GAP!");
            data.extend(std::iter::repeat_n(0, pad));
            data_at += body.len() + 4 + pad;
        }
        table.extend_from_slice(b"gTRC");
        table.extend_from_slice(&(trc.0 as u32).to_be_bytes());
        table.extend_from_slice(&(trc.1 as u32).to_be_bytes());
        let len = HEADER_LEN + 4 + table.len() + data.len();
        let mut header = vec![0u8; HEADER_LEN];
        header[..4].copy_from_slice(&(len as u32).to_be_bytes());
        header[4..8].copy_from_slice(b"appl");
        header[8..12].copy_from_slice(&[4, 0x40, 0, 0]);
        header[12..16].copy_from_slice(b"mntr");
        header[16..20].copy_from_slice(b"RGB ");
        header[20..24].copy_from_slice(b"XYZ ");
        header[24..36].copy_from_slice(&[0x07, 0xEA, 0, 5, 0, 17, 0, 9, 0, 30, 0, 0]);
        header[36..40].copy_from_slice(b"acsp");
        header[40..44].copy_from_slice(b"APPL");
        header[48..52].copy_from_slice(b"MaxM");
        header[52..56].copy_from_slice(b"M123");
        header[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]);
        header[80..84].copy_from_slice(b"maxc");
        header[84..100].copy_from_slice(b"0123456789abcdef");
        let count = u32::try_from(count).unwrap().to_be_bytes();
        [header, count.to_vec(), table, data].concat()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn text_dates_and_private_tags_are_removed_colour_data_kept() {
        let original = sample_profile();
        let out = neutralise(&original).unwrap();
        assert_eq!(out.len(), original.len());
        for secret in [
            &utf16("Mustermann")[..],
            b"Max Phone",
            b"serial C0FFEE",
            b"MaxM",
            b"M123",
            b"maxc",
            b"0123456789abcdef",
            b"GAP!",
            &[0x07, 0xEA, 0, 5, 0, 17],
        ] {
            assert!(contains(&original, secret));
            assert!(!contains(&out, secret), "{secret:?} survived");
        }
        // Tag table: desc, cprt, dmnd, wtpt, rTRC, gTRC; zSer and calt removed.
        assert_eq!(be32(&out, HEADER_LEN), Some(6));
        let sigs: Vec<&[u8]> = (0..6).map(|i| &out[132 + 12 * i..136 + 12 * i]).collect();
        assert_eq!(sigs, [&b"desc"[..], b"cprt", b"dmnd", b"wtpt", b"rTRC", b"gTRC"]);
        // Colour data unchanged.
        let wtpt = [0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D];
        assert!(contains(&out, &wtpt));
        assert!(contains(
            &out,
            &[b'p', b'a', b'r', b'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x33, 0x33]
        ));
        assert_eq!(out[8..24], original[8..24]);
        // Idempotent.
        assert_eq!(neutralise(&out).unwrap(), out);
        // Padding after the declared size is left out.
        let padded = [&original[..], b"Mustermann"].concat();
        assert_eq!(neutralise(&padded).unwrap(), out);
    }

    #[test]
    fn broken_profiles_are_refused_without_panicking() {
        let good = sample_profile();
        assert_eq!(neutralise(&good[..100]), Err(InvalidProfile));
        for cut in 0..good.len() {
            assert!(neutralise(&good[..cut]).is_err(), "cut {cut}"); // size field mismatch
        }
        let mut huge_count = good.clone();
        huge_count[128..132].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(neutralise(&huge_count), Err(InvalidProfile));
        let mut past_end = good.clone();
        past_end[136..140].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(neutralise(&past_end), Err(InvalidProfile));
        for at in 0..good.len() {
            for value in [0u8, 0xFF, 0x10] {
                let mut bad = good.clone();
                bad[at] = value;
                let _ = neutralise(&bad);
            }
        }
    }
}
