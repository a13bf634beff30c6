//! Issue 14 items 4 and 5 end to end: a citizen reports with a portrait
//! JPEG (EXIF orientation 6 plus GPS, camera and serial) and an iPhone-style
//! HEIC (Exif item with GPS, XMP item, `irot` rotation); the clerk's saved
//! files keep the orientation and carry no GPS, checked with independent
//! parsers (kamadak-exif for EXIF, mp4-atom for the HEIF boxes,
//! jpeg-decoder for pixels).

use mp4_atom::Decode;

use crate::harness::{contains_bytes, last_line};
use crate::municipal::{HANDLE, Town};
use crate::photos;

/// A real HEIC (a synthetic blue image made by libheif; see
/// client/tests/fixtures/heic/README.md).
const BLUE_HEIC: &[u8] = include_bytes!("../../client/tests/fixtures/heic/blue.heic");
const GPS_TEXT: &str = "51,54.5N Lindenallee";

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len() + 8).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

fn fbx(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    bx(kind, &[&[version, 0, 0, 0][..], body].concat())
}

/// The `hvcC` and `ispe` boxes and the coded image of blue.heic, read with
/// mp4-atom.
fn blue_parts() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut buf = BLUE_HEIC;
    mp4_atom::Ftyp::decode(&mut buf).unwrap();
    let meta = mp4_atom::Meta::decode(&mut buf).unwrap();
    let location = &meta.get::<mp4_atom::Iloc>().unwrap().item_locations[0];
    let extent = &location.extents[0];
    let start = (location.base_offset + extent.offset) as usize;
    let hevc = BLUE_HEIC[start..start + extent.length as usize].to_vec();
    let find = |kind: &[u8; 4]| {
        let at = BLUE_HEIC.windows(4).position(|w| w == kind).unwrap() - 4;
        let size = u32::from_be_bytes(BLUE_HEIC[at..at + 4].try_into().unwrap()) as usize;
        BLUE_HEIC[at..at + size].to_vec()
    };
    (find(b"hvcC"), find(b"ispe"), hevc)
}

/// An iPhone-like HEIC: item 1 the HEVC image rotated by `irot` (90°
/// anticlockwise), item 2 Exif with GPS, camera and orientation, item 3 XMP
/// with a GPS position. Returns (file, coded image).
pub fn heic_with_metadata() -> (Vec<u8>, Vec<u8>) {
    let (hvcc, ispe, hevc) = blue_parts();
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0: Make (ASCII, 12 bytes at 38), Orientation 6; no next IFD.
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 12, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(b"CameraMaker\0");
    tiff.extend_from_slice(GPS_TEXT.as_bytes());
    let exif = [&6u32.to_be_bytes()[..], b"Exif\0\0", &tiff].concat();
    let xmp = format!("<x:xmpmeta><exif:GPSLatitude>{GPS_TEXT}</exif:GPSLatitude></x:xmpmeta>");
    let mdat = [&hevc[..], &exif, xmp.as_bytes()].concat();
    let infe = |id: u16, kind: &[u8; 4], extra: &[u8]| {
        fbx(b"infe", 2, &[&id.to_be_bytes()[..], &[0, 0], kind, b"\0", extra].concat())
    };
    let iinf = fbx(
        b"iinf",
        0,
        &[
            &3u16.to_be_bytes()[..],
            &infe(1, b"hvc1", b""),
            &infe(2, b"Exif", b""),
            &infe(3, b"mime", b"application/rdf+xml\0"),
        ]
        .concat(),
    );
    let iref = fbx(
        b"iref",
        0,
        &[bx(b"cdsc", &[0, 2, 0, 1, 0, 1]), bx(b"cdsc", &[0, 3, 0, 1, 0, 1])].concat(),
    );
    let ipco = bx(b"ipco", &[hvcc, ispe, bx(b"irot", &[1])].concat());
    let ipma = fbx(b"ipma", 0, &[&1u32.to_be_bytes()[..], &[0, 1, 3, 0x81, 2, 0x83]].concat());
    let iprp = bx(b"iprp", &[ipco, ipma].concat());
    let hdlr = fbx(b"hdlr", 0, &[&[0; 4][..], b"pict", &[0; 13]].concat());
    let pitm = fbx(b"pitm", 0, &1u16.to_be_bytes());
    let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
    let build = |at: u32| {
        let mut iloc = vec![0x44, 0x00];
        iloc.extend_from_slice(&3u16.to_be_bytes());
        let mut offset = at;
        for (id, len) in [(1u16, hevc.len()), (2, exif.len()), (3, xmp.len())] {
            iloc.extend_from_slice(&id.to_be_bytes());
            iloc.extend_from_slice(&0u16.to_be_bytes());
            iloc.extend_from_slice(&1u16.to_be_bytes());
            iloc.extend_from_slice(&offset.to_be_bytes());
            iloc.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
            offset += u32::try_from(len).unwrap();
        }
        let meta = fbx(
            b"meta",
            0,
            &[
                hdlr.clone(),
                pitm.clone(),
                fbx(b"iloc", 0, &iloc),
                iinf.clone(),
                iref.clone(),
                iprp.clone(),
            ]
            .concat(),
        );
        [ftyp.clone(), meta, bx(b"mdat", &mdat)].concat()
    };
    let at = u32::try_from(build(0).len() - mdat.len()).unwrap();
    (build(at), hevc)
}

/// EXIF fields a viewer would find, via kamadak-exif (None: no EXIF).
fn exif_fields(file: &[u8]) -> Option<Vec<(exif::Tag, Option<u32>)>> {
    match exif::Reader::new().read_from_container(&mut std::io::Cursor::new(file)) {
        Ok(exif) => Some(exif.fields().map(|f| (f.tag, f.value.get_uint(0))).collect()),
        Err(exif::Error::NotFound(_)) => None,
        Err(other) => panic!("unreadable EXIF: {other}"),
    }
}

/// Item types, the primary item's data and the property types of a HEIF
/// file, via mp4-atom.
fn heif_summary(file: &[u8]) -> (Vec<String>, Vec<u8>, Vec<String>) {
    let mut buf = file;
    mp4_atom::Ftyp::decode(&mut buf).unwrap();
    let meta = mp4_atom::Meta::decode(&mut buf).unwrap();
    let kinds = meta
        .get::<mp4_atom::Iinf>()
        .unwrap()
        .item_infos
        .iter()
        .map(|i| i.item_type.map(|t| t.to_string()).unwrap_or_default())
        .collect();
    let primary = meta.get::<mp4_atom::Pitm>().unwrap().item_id;
    let location = meta
        .get::<mp4_atom::Iloc>()
        .unwrap()
        .item_locations
        .iter()
        .find(|l| l.item_id == primary)
        .unwrap()
        .clone();
    let mut data = Vec::new();
    for extent in &location.extents {
        let start = (location.base_offset + extent.offset) as usize;
        data.extend_from_slice(&file[start..start + extent.length as usize]);
    }
    let properties = meta
        .get::<mp4_atom::Iprp>()
        .unwrap()
        .ipco
        .properties
        .iter()
        .map(|p| p.kind().to_string())
        .collect();
    (kinds, data, properties)
}

#[test]
fn portrait_jpeg_and_iphone_heic_reach_the_clerk_upright_and_without_gps() {
    let town = Town::new(crate::harness::Server::start());
    let citizen = town.citizen("Carla Citizen");
    let (jpeg, _) = photos::jpeg_with_metadata();
    let portrait = photos::with_orientation(&jpeg, 6);
    let (heic, hevc) = heic_with_metadata();
    // The inputs are what they claim, for the independent parsers.
    let before = exif_fields(&portrait).unwrap();
    assert!(before.contains(&(exif::Tag::Orientation, Some(6))), "{before:?}");
    assert!(exif_fields(&heic).unwrap().contains(&(exif::Tag::Orientation, Some(6))));
    assert_eq!(heif_summary(&heic).0, ["hvc1", "Exif", "mime"]);

    let dir = tempfile::tempdir().unwrap();
    let jpeg_path = dir.path().join("hochkant.jpg");
    let heic_path = dir.path().join("IMG_0001.HEIC");
    std::fs::write(&jpeg_path, &portrait).unwrap();
    std::fs::write(&heic_path, &heic).unwrap();
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "--photo",
        &jpeg_path.to_string_lossy(),
        "--photo",
        &heic_path.to_string_lossy(),
        "Umgestürzter Baum",
    ]));

    let save = tempfile::tempdir().unwrap();
    let save_str = save.path().to_string_lossy().into_owned();
    let text = town.clerk.ok(&["show", &thread, "--save", &save_str]);
    assert!(text.contains("photo (image/jpeg"), "{text}");
    assert!(text.contains("photo (image/heic"), "{text}");
    assert!(text.contains("many viewers and web browsers cannot display it"), "{text}");
    let shown: serde_json::Value = serde_json::from_str(
        town.clerk.ok(&["show", &thread, "--json", "--save", &save_str]).trim(),
    )
    .unwrap();
    let photos_json = shown["messages"][0]["photos"].as_array().unwrap();
    assert_eq!(photos_json.len(), 2, "{shown}");
    let saved: Vec<Vec<u8>> = photos_json
        .iter()
        .map(|p| std::fs::read(p["saved_to"].as_str().expect("saved_to")).unwrap())
        .collect();
    assert_eq!(photos_json[1]["mime"], "image/heic");
    assert!(photos_json[1]["saved_to"].as_str().unwrap().ends_with(".heic"));

    // JPEG: only the orientation is left; same pixels; no GPS.
    assert_eq!(exif_fields(&saved[0]), Some(vec![(exif::Tag::Orientation, Some(6))]));
    assert_eq!(photos::pixels(&saved[0]), photos::pixels(&jpeg));
    assert!(!contains_bytes(&saved[0], photos::COMMENT.as_bytes()));
    assert!(!contains_bytes(&saved[0], b"xmpmeta"));
    // HEIC: no Exif or XMP item, the coded image unchanged, irot kept.
    assert_eq!(exif_fields(&saved[1]), None);
    let (kinds, data, properties) = heif_summary(&saved[1]);
    assert_eq!(kinds, ["hvc1"]);
    assert_eq!(data, hevc);
    assert_eq!(properties, ["hvcC", "ispe", "irot"]);
    for file in &saved {
        assert!(!contains_bytes(file, GPS_TEXT.as_bytes()));
        assert!(!contains_bytes(file, b"CameraMaker"));
    }
}

#[test]
fn refused_photos_name_the_file_and_say_what_to_do() {
    let town = Town::new(crate::harness::Server::start());
    let citizen = town.citizen("Carla Citizen");
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("animation.gif");
    std::fs::write(&gif, b"GIF89a\x01\0\x01\0\0\0\0;").unwrap();
    let broken = dir.path().join("IMG_0002.HEIC");
    let (heic, _) = heic_with_metadata();
    std::fs::write(&broken, &heic[..heic.len() - 40]).unwrap();
    let missing = dir.path().join("missing.jpg");
    let report = |photo: &std::path::Path| {
        citizen.fails(&[
            "report",
            HANDLE,
            "--category",
            "Straßenschaden",
            "--photo",
            &photo.to_string_lossy(),
            "x",
        ])
    };
    let err = report(&gif);
    assert!(err.contains(&format!("cannot send {}", gif.display())), "{err}");
    assert!(err.contains("convert it to JPEG"), "{err}");
    let err = report(&broken);
    assert!(err.contains(&format!("cannot send {}", broken.display())), "{err}");
    assert!(err.contains("the HEIC file is damaged"), "{err}");
    let err = report(&missing);
    assert!(err.contains(&format!("cannot read the photo {}", missing.display())), "{err}");
    assert_eq!(err.matches("no such file").count() + err.matches("os error").count(), 1, "{err}");
}
