//! `stadtbote org poster`: the notice-board poster, read back with
//! independent parsers (roxmltree for the SVG, lopdf for the PDF) and its QR
//! codes decoded with rqrr. A citizen then follows the channel with the link
//! decoded from the poster and verifies the org with the fingerprint text
//! read from it, which is what the poster is for.
//!
//! Setup note: at the time of writing, the device that claims an org is not
//! a publisher, so a separate press office device is invited as publisher,
//! enrolled and approved, and creates the channel; the poster is made on
//! that device.

use std::collections::BTreeSet;
use std::path::Path;

use stadtbote_cli::qr::parse_org_qr_content;
use stadtbote_protocol::auth::fingerprint_of;
use stadtbote_protocol::channel::ChannelInvite;

use crate::harness::{Device, Server, fingerprint_in, last_line};
use crate::municipal::org_created;

const TOWN: &str = "Stadt Müllhausen-Süd";
const HANDLE: &str = "muellhausen";

struct PosterTown {
    server: Server,
    mayor: Device,
    press: Device,
    fingerprint: String,
    invite: String,
    channel: String,
    dir: tempfile::TempDir,
}

/// A server, an org with an umlaut in its name claimed by the mayor's
/// device, and a press office device that created the channel "Amtsblatt".
fn poster_town() -> PosterTown {
    poster_town_named(TOWN, HANDLE, "Amtsblatt")
}

/// [`poster_town`] with the org's name, handle and channel name given.
fn poster_town_named(name: &str, handle: &str, channel_name: &str) -> PosterTown {
    let server = Server::start();
    let (_admin, _totp, org_code) = org_created(&server, name, handle);
    let mayor = Device::new(&server);
    mayor.init("Bürgermeisterin Berg");
    mayor.ok(&["org", "claim", &org_code]);
    let dir = tempfile::tempdir().unwrap();
    let printed = mayor.ok(&["org", "fingerprint", "--out", &dir.path().to_string_lossy()]);
    let fingerprint = fingerprint_in(&printed).expect("fingerprint printed");

    let press = Device::new(&server);
    press.init("Pressestelle");
    let invitation = last_line(&mayor.ok(&[
        "org",
        "invite-staff",
        "--department",
        "presse",
        "--role",
        "publisher",
    ]));
    press.ok(&["enroll", &invitation]);
    mayor.ok(&["org", "approve", &press.device_id()]);
    let created = press.ok(&[
        "channel",
        "create",
        channel_name,
        "--json",
        "--out",
        &dir.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&created)).unwrap();
    let invite = created["invite"].as_str().unwrap().to_string();
    let channel = created["channel"].as_str().unwrap().to_string();
    PosterTown { server, mayor, press, fingerprint, invite, channel, dir }
}

/// Decodes every QR code in a set of dark modules (column, row), drawn with
/// a quiet zone at 6 pixels per module.
fn decode_modules(modules: &BTreeSet<(i64, i64)>) -> String {
    const SCALE: usize = 6;
    const QUIET: usize = 4;
    let side = modules.iter().map(|(c, r)| c.max(r) + 1).max().expect("modules") as usize;
    let pixels = (side + 2 * QUIET) * SCALE;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(pixels, pixels, |x, y| {
        let (col, row) = ((x / SCALE) as i64 - QUIET as i64, (y / SCALE) as i64 - QUIET as i64);
        if modules.contains(&(col, row)) { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code per group");
    grids[0].decode().expect("the QR code decodes").1
}

/// The QR codes in the SVG: each `<g class="qr">` holds one path of unit
/// squares `M col row h1v1h-1z`.
fn svg_qr_codes(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("qr"))
        .map(|g| {
            let d = g
                .descendants()
                .find(|n| n.has_tag_name("path"))
                .and_then(|p| p.attribute("d"))
                .expect("a path");
            let modules: BTreeSet<(i64, i64)> = d
                .split('M')
                .filter(|s| !s.is_empty())
                .map(|square| {
                    let (position, rest) = square.split_once('h').expect("a square");
                    assert_eq!(rest, "1v1h-1z", "unit squares only");
                    let (col, row) = position.split_once(' ').expect("col row");
                    (col.parse().unwrap(), row.parse().unwrap())
                })
                .collect();
            decode_modules(&modules)
        })
        .collect()
}

/// The QR codes in the PDF: each `q … Q` block with rectangles holds one
/// code of unit squares (its `cm` scales them to modules).
fn pdf_qr_codes(doc: &lopdf::Document) -> Vec<String> {
    let page = *doc.get_pages().get(&1).expect("page 1");
    let content = lopdf::content::Content::decode(&doc.get_page_content(page)).unwrap();
    let mut codes = Vec::new();
    let mut modules: Option<BTreeSet<(i64, i64)>> = None;
    for op in &content.operations {
        match op.operator.as_str() {
            "q" => modules = Some(BTreeSet::new()),
            "re" => {
                let n: Vec<f32> = op.operands.iter().map(|o| o.as_float().unwrap()).collect();
                assert_eq!((n[2], n[3]), (1.0, 1.0), "unit squares");
                if let Some(set) = modules.as_mut() {
                    set.insert((n[0] as i64, n[1] as i64));
                }
            }
            "Q" => {
                if let Some(set) = modules.take().filter(|s| !s.is_empty()) {
                    codes.push(decode_modules(&set));
                }
            }
            _ => {}
        }
    }
    codes
}

/// Checks the decoded codes: the org key whose fingerprint is `fingerprint`
/// and (if `invite`) the channel's invite link.
fn check_codes(codes: &[String], fingerprint: &str, invite: Option<&str>) {
    check_codes_of(HANDLE, codes, fingerprint, invite);
}

/// [`check_codes`] for the org `handle`.
fn check_codes_of(handle: &str, codes: &[String], fingerprint: &str, invite: Option<&str>) {
    assert_eq!(codes.len(), 1 + usize::from(invite.is_some()), "{codes:?}");
    let org = codes.iter().find_map(|c| parse_org_qr_content(c)).expect("an org key QR code");
    assert_eq!(org.0, handle);
    assert_eq!(fingerprint_of(&org.1.0), fingerprint, "the QR code holds the org key");
    if let Some(invite) = invite {
        let link = codes.iter().find(|c| c.starts_with("STADTBOTE:CHANNEL:")).expect("invite");
        assert!(link.eq_ignore_ascii_case(invite), "{link} vs {invite}");
        assert!(ChannelInvite::parse(link).is_ok());
    }
}

pub(crate) fn svg_text(path: &Path) -> (String, Vec<String>) {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("210mm"));
    assert_eq!(root.attribute("height"), Some("297mm"));
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect();
    (texts.join("\n"), svg_qr_codes(&doc))
}

pub(crate) fn pdf_text(path: &Path) -> (String, Vec<String>) {
    let doc = lopdf::Document::load(path).expect("the PDF parses");
    assert_eq!(doc.get_pages().len(), 1, "one page");
    let page = *doc.get_pages().get(&1).unwrap();
    let media = doc.get_dictionary(page).unwrap().get(b"MediaBox").unwrap().as_array().unwrap();
    let media: Vec<f32> = media.iter().map(|o| o.as_float().unwrap()).collect();
    assert!((media[2] - 595.3).abs() < 0.5 && (media[3] - 841.9).abs() < 0.5, "A4: {media:?}");
    (doc.extract_text(&[1]).expect("text"), pdf_qr_codes(&doc))
}

#[test]
fn poster_shows_town_fingerprint_and_working_qr_codes_in_svg_and_pdf() {
    let town = poster_town();
    let svg = town.dir.path().join("aushang.svg");
    let pdf = town.dir.path().join("aushang.pdf");
    let out = town.press.ok(&["org", "poster", "--out", &svg.to_string_lossy()]);
    assert!(out.contains(TOWN) && out.contains(&svg.display().to_string()), "{out}");
    assert!(out.contains(&town.channel), "names the channel on it: {out}");
    town.press.ok(&["org", "poster", "--out", &pdf.to_string_lossy(), "--channel", &town.channel]);

    let (text, codes) = svg_text(&svg);
    assert!(text.contains(TOWN), "{text}");
    assert!(text.contains(&town.fingerprint), "{text}");
    assert!(text.contains("Fingerabdruck") && text.contains("Amtsblatt"), "{text}");
    check_codes(&codes, &town.fingerprint, Some(&town.invite));

    let (text, codes) = pdf_text(&pdf);
    assert!(text.contains(TOWN), "umlauts survive the PDF's encoding: {text}");
    assert!(text.contains(&town.fingerprint), "{text}");
    assert!(text.contains("Echtheit prüfen"), "{text}");
    check_codes(&codes, &town.fingerprint, Some(&town.invite));

    // What the poster is for: a citizen follows with the scanned link and
    // verifies the org with the printed fingerprint.
    let link = codes.iter().find(|c| c.starts_with("STADTBOTE:CHANNEL:")).unwrap();
    let citizen = Device::new(&town.server);
    citizen.init("Bürgerin Bauer");
    let followed = citizen.ok(&["follow", link]);
    assert!(followed.contains("Amtsblatt") && followed.contains(HANDLE), "{followed}");
    let printed = text.lines().find(|l| l.contains(&town.fingerprint)).unwrap().trim();
    citizen.ok(&["verify", HANDLE, printed]);
}

#[test]
fn poster_without_channel_says_what_to_run() {
    let town = poster_town();
    let pdf = town.dir.path().join("ohne-kanal.pdf");
    let pdf_arg = pdf.to_string_lossy().to_string();

    // The mayor's device created no channel: the poster needs one, or an
    // explicit --no-channel.
    let err = town.mayor.fails(&["org", "poster", "--out", &pdf_arg]);
    assert!(err.contains("channel create") && err.contains("--no-channel"), "{err}");
    assert!(!pdf.exists(), "nothing written");
    let out = town.mayor.ok(&["org", "poster", "--out", &pdf_arg, "--no-channel"]);
    assert!(out.contains("No channel on it"), "{out}");
    let (text, codes) = pdf_text(&pdf);
    assert!(text.contains(TOWN) && text.contains(&town.fingerprint), "{text}");
    check_codes(&codes, &town.fingerprint, None);

    let err = town.press.fails(&["org", "poster", "--out", "aushang.png"]);
    assert!(err.contains(".pdf or .svg"), "{err}");
    let err = town.press.fails(&["org", "poster", "--out", &pdf_arg, "--channel", "zzzz"]);
    assert!(err.contains("zzzz"), "{err}");
    let err = town.press.fails(&["org", "poster", "--out", &pdf_arg, "--org", "anderswo"]);
    assert!(err.contains("channel create") && err.contains("anderswo"), "{err}");
}

/// A Sorbian town (Lusatia is bilingual): its name and its channel's name
/// have letters outside Windows-1252 (ó, ś, š, ě, ł, ź, ő). The PDF embeds
/// a Unicode font, so they print, and stay text: extracted from the PDF
/// (through its ToUnicode map) they read exactly as written.
#[test]
fn poster_pdf_prints_sorbian_polish_and_czech_names() {
    const SORBIAN: &str = "Gmejna Chóśebuz / Stadt Cottbus";
    const CHANNEL: &str = "Zjawne wozjewjenja – Budyšin, Wojerecy, Łódź, Děčín, Győr";
    let town = poster_town_named(SORBIAN, "cottbus", CHANNEL);
    let pdf = town.dir.path().join("wuwěsk.pdf");
    let out = town.press.ok(&["org", "poster", "--out", &pdf.to_string_lossy()]);
    assert!(out.contains(SORBIAN), "{out}");

    let (text, codes) = pdf_text(&pdf);
    // Long lines may wrap: compare with the line breaks as spaces.
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains(SORBIAN), "the Sorbian name reads back exactly: {text}");
    assert!(words.contains(CHANNEL), "the channel's name reads back exactly: {text}");
    assert!(text.contains(&town.fingerprint), "{text}");
    assert!(words.contains("Echtheit prüfen"), "{text}");
    check_codes_of("cottbus", &codes, &town.fingerprint, Some(&town.invite));

    // The font is embedded (nothing is left to the viewer's fonts), as a
    // subset: the poster stays small.
    let doc = lopdf::Document::load(&pdf).unwrap();
    let page = *doc.get_pages().get(&1).unwrap();
    let fonts = doc.get_page_fonts(page).unwrap();
    assert!(!fonts.is_empty());
    for font in fonts.values() {
        assert_eq!(font.get(b"Subtype").unwrap().as_name().unwrap(), b"Type0");
        assert_eq!(font.get(b"Encoding").unwrap().as_name().unwrap(), b"Identity-H");
        assert!(font.get(b"ToUnicode").is_ok(), "text stays extractable");
        let descendants = font.get(b"DescendantFonts").unwrap().as_array().unwrap();
        let cid_font = doc.get_dictionary(descendants[0].as_reference().unwrap()).unwrap();
        let descriptor = cid_font.get(b"FontDescriptor").unwrap().as_reference().unwrap();
        let descriptor = doc.get_dictionary(descriptor).unwrap();
        let file = descriptor.get(b"FontFile2").unwrap().as_reference().unwrap();
        assert!(doc.get_object(file).unwrap().as_stream().is_ok(), "the font file is embedded");
    }
    let size = std::fs::metadata(&pdf).unwrap().len();
    assert!(size < 150_000, "only the glyphs used are embedded: {size} bytes");

    // The SVG is written as before: the names as XML text.
    let svg = town.dir.path().join("wuwěsk.svg");
    town.press.ok(&["org", "poster", "--out", &svg.to_string_lossy()]);
    let (text, codes) = svg_text(&svg);
    assert!(text.contains(SORBIAN) && text.contains(CHANNEL), "{text}");
    check_codes_of("cottbus", &codes, &town.fingerprint, Some(&town.invite));
}

/// A character the embedded font has no glyph for (here CJK, as a twin
/// town's name might be written) is refused with a typed error naming it,
/// in German too; nothing is written.
#[test]
fn poster_pdf_names_a_character_the_font_lacks() {
    let town = poster_town_named("Stadt Görlitz / 姉妹都市", "goerlitz", "Amtsblatt");
    let pdf = town.dir.path().join("aushang.pdf");
    let err = town.press.fails(&["org", "poster", "--out", &pdf.to_string_lossy()]);
    assert!(err.contains("'姉'") && err.contains("U+59C9"), "names the character: {err}");
    assert!(err.contains("--out FILE.svg"), "{err}");
    assert!(!pdf.exists(), "nothing written");
    let err = town.press.fails(&["--lang", "de", "org", "poster", "--out", &pdf.to_string_lossy()]);
    assert!(err.contains("'姉'") && err.contains("Schrift"), "{err}");
    // The SVG leaves the font to the viewer.
    let svg = town.dir.path().join("aushang.svg");
    town.press.ok(&["org", "poster", "--out", &svg.to_string_lossy()]);
}
