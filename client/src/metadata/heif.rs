//! Removing metadata from HEIF photos (HEIC from iPhones, AVIF) without
//! re-encoding them.
//!
//! A HEIF file is a tree of ISOBMFF boxes: `ftyp`, then `meta` describing
//! *items* (the coded image or its tiles, thumbnails, auxiliary images such
//! as alpha or HDR gain maps, and metadata items), and `mdat` holding their
//! bytes. The `meta` box is rebuilt from what it says, the item data is
//! copied byte for byte into a new `mdat`, and the item locations are
//! rewritten to point there:
//!
//! * **Removed items**: `Exif` items (GPS, camera, serial, dates, the EXIF
//!   thumbnail), `mime` items (XMP, `application/rdf+xml`, and any other
//!   embedded document) and `uri ` items — with their `iinf` entries, `iloc`
//!   entries, `iref` references and `ipma` property associations. Their
//!   bytes are not copied, so nothing of them is left in the file.
//! * **Kept items** keep their type, flags and data; their names (free text)
//!   are emptied.
//! * **Properties** (`ipco`): the image properties (`hvcC`, `av1C`, `ispe`,
//!   `pixi`, `irot`, `imir`, `clap`, `auxC`, ...) are kept byte for byte;
//!   `colr` ICC profiles are neutralised ([`super::icc`]); any other
//!   property (for example `udes`, a user description with free text, or a
//!   vendor's `uuid`) becomes a `free` box of the same size with zeroed
//!   content, so the property numbering stays valid.
//! * **Orientation** lives in the `irot` and `imir` properties, which stay.
//!   The EXIF Orientation is removed with the `Exif` item and is not written
//!   back: viewers apply `irot`/`imir` to HEIF images, and an extra EXIF
//!   orientation would turn the picture twice in some of them.
//! * `hdlr` (its name string) and `dinf` (its data reference could name
//!   another file) are replaced by their minimal forms; `pitm`, `iref`,
//!   `grpl` are kept (rewritten as above); every other box inside `meta`
//!   (`xml `, `bxml`, ...) and every top-level box other than `ftyp`, `meta`
//!   and `mdat` (`free`, `uuid`, ...) is dropped.
//! * **Refused** (they cannot be cleaned safely): image sequences (`moov`),
//!   protected items, item data in another file or built from other items,
//!   and anything damaged; the messages say to convert the photo to JPEG.

use std::collections::{HashMap, HashSet};

use super::{MetadataError, icc};

/// Media type of HEIC/HEIF photos.
pub const HEIC_MIME: &str = "image/heic";
/// Media type of HEIF photos that are neither HEIC nor AVIF.
pub const HEIF_MIME: &str = "image/heif";
/// Media type of AVIF photos (HEIF with AV1 images).
pub const AVIF_MIME: &str = "image/avif";

const BAD: fn(&'static str) -> MetadataError = MetadataError::MalformedHeif;
const UNSUPPORTED: fn(&'static str) -> MetadataError = MetadataError::UnsupportedHeif;

/// Properties copied unchanged (they describe how to decode and show the
/// image and hold no free text).
const KEPT_PROPERTIES: [&[u8; 4]; 28] = [
    b"hvcC", b"av1C", b"vvcC", b"jpgC", b"ispe", b"pixi", b"irot", b"imir", b"clap", b"auxC",
    b"rloc", b"lsel", b"a1op", b"a1lx", b"pasp", b"clli", b"mdcv", b"cclv", b"amve", b"uncC",
    b"cmpd", b"cmpC", b"icef", b"cloc", b"tilC", b"iscl", b"free", b"skip",
];

/// One box: its type and body (the bytes after the header).
#[derive(Clone, Copy)]
struct Bx<'a> {
    kind: [u8; 4],
    body: &'a [u8],
    /// The whole box, header included.
    whole: &'a [u8],
}

/// The boxes in `data`, strictly bounded by it.
fn boxes(data: &[u8]) -> Result<Vec<Bx<'_>>, MetadataError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = &data[pos..];
        let head = rest.get(..8).ok_or(BAD("a box header is cut short"))?;
        let kind = [head[4], head[5], head[6], head[7]];
        let (header_len, size) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            0 => (8, rest.len()),
            1 => {
                let large = rest.get(8..16).ok_or(BAD("a box header is cut short"))?;
                let size = u64::from_be_bytes(large.try_into().map_err(|_| BAD("a box header"))?);
                (16, usize::try_from(size).map_err(|_| BAD("a box is larger than the file"))?)
            }
            size => (8, size as usize),
        };
        if size < header_len {
            return Err(BAD("a box is smaller than its header"));
        }
        let whole = rest.get(..size).ok_or(BAD("a box runs past the end of its container"))?;
        out.push(Bx { kind, body: &whole[header_len..], whole });
        pos += size;
    }
    Ok(out)
}

/// A bounds-checked reader over a box body.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], MetadataError> {
        let end = self.pos.checked_add(n).ok_or(BAD("a box is cut short"))?;
        let slice = self.data.get(self.pos..end).ok_or(BAD("a box is cut short"))?;
        self.pos = end;
        Ok(slice)
    }

    /// A big-endian unsigned number of `n` bytes (0, 2, 4 or 8).
    fn uint(&mut self, n: usize) -> Result<u64, MetadataError> {
        Ok(self.bytes(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn u8(&mut self) -> Result<u8, MetadataError> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MetadataError> {
        Ok(self.uint(2)? as u16)
    }

    fn u32(&mut self) -> Result<u32, MetadataError> {
        Ok(self.uint(4)? as u32)
    }

    fn fourcc(&mut self) -> Result<[u8; 4], MetadataError> {
        let b = self.bytes(4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }

    /// Version and flags of a full box.
    fn full_header(&mut self) -> Result<(u8, u32), MetadataError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        self.pos = self.data.len();
        rest
    }
}

/// A box with the given type and body.
fn make_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    // Bodies here are parts of the meta box of a file under the photo
    // limit, far below 4 GiB.
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut full = (u32::from(version) << 24 | (flags & 0x00FF_FFFF)).to_be_bytes().to_vec();
    full.extend_from_slice(body);
    make_box(kind, &full)
}

/// An item as `iinf` describes it.
struct ItemInfo {
    id: u32,
    flags: u32,
    kind: [u8; 4],
}

/// An item's location as `iloc` gives it.
struct Location {
    id: u32,
    construction_method: u8,
    /// (absolute offset in the file or in `idat`, length)
    extents: Vec<(u64, u64)>,
}

/// Whether the bytes start like a HEIF file, and its media type.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let size = usize::try_from(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?)).ok()?;
    if bytes.get(4..8)? != b"ftyp" || size < 16 || size % 4 != 0 {
        return None;
    }
    let ftyp = bytes.get(8..size.min(bytes.len()))?;
    let major = ftyp.get(..4)?;
    let compatible = ftyp.get(8..).unwrap_or_default().chunks_exact(4);
    let brands: Vec<&[u8]> = std::iter::once(major).chain(compatible).collect();
    let has = |b: &[u8; 4]| brands.contains(&&b[..]);
    if major == b"avif" || (!has(b"heic") && !has(b"heix") && has(b"avif")) {
        Some(AVIF_MIME)
    } else if [b"heic", b"heix", b"heim", b"heis"].iter().any(|b| has(b)) {
        Some(HEIC_MIME)
    } else if has(b"mif1") || has(b"msf1") {
        Some(HEIF_MIME)
    } else {
        None
    }
}

/// Removes metadata from a HEIF file (see the module documentation).
pub fn strip(input: &[u8]) -> Result<Vec<u8>, MetadataError> {
    let top = boxes(input)?;
    let ftyp = top.first().filter(|b| &b.kind == b"ftyp").ok_or(BAD("no file type box"))?;
    if top.iter().any(|b| &b.kind == b"moov") {
        return Err(UNSUPPORTED("it is an image sequence or burst"));
    }
    let mut metas = top.iter().filter(|b| &b.kind == b"meta");
    let meta = metas.next().ok_or(BAD("no item description (meta box)"))?;
    if metas.next().is_some() {
        return Err(BAD("two item descriptions (meta boxes)"));
    }
    let mut meta_reader = Reader::new(meta.body);
    meta_reader.full_header()?;
    let children = boxes(meta_reader.rest())?;
    let child = |kind: &[u8; 4]| -> Result<Option<Bx<'_>>, MetadataError> {
        let mut found = children.iter().filter(|b| &b.kind == kind);
        let first = found.next().copied();
        if found.next().is_some() {
            return Err(BAD("a box inside meta appears twice"));
        }
        Ok(first)
    };
    if child(b"ipro")?.is_some() {
        return Err(UNSUPPORTED("it contains protected (encrypted) items"));
    }
    let hdlr = child(b"hdlr")?.ok_or(BAD("no handler box"))?;
    if hdlr.body.get(8..12) != Some(b"pict") {
        return Err(BAD("the handler is not an image handler"));
    }
    let primary = read_pitm(child(b"pitm")?.ok_or(BAD("no primary item"))?)?;
    let items = read_iinf(child(b"iinf")?.ok_or(BAD("no item information"))?)?;
    let locations = read_iloc(child(b"iloc")?.ok_or(BAD("no item locations"))?)?;
    let idat = child(b"idat")?.map_or(&[][..], |b| b.body);

    let removed: HashSet<u32> = items
        .iter()
        .filter(|i| matches!(&i.kind, b"Exif" | b"mime" | b"uri "))
        .map(|i| i.id)
        .collect();
    let known: HashSet<u32> = items.iter().map(|i| i.id).collect();
    if removed.contains(&primary) || !known.contains(&primary) {
        return Err(BAD("the primary item is not an image"));
    }
    let kept_locations: Vec<&Location> =
        locations.iter().filter(|l| known.contains(&l.id) && !removed.contains(&l.id)).collect();

    // The new idat and mdat contents: kept extents, each range copied once.
    let mut new_idat = Vec::new();
    let mut new_mdat = Vec::new();
    let mut placed: HashMap<(u8, u64, u64), u64> = HashMap::new();
    let mut new_extents: Vec<Vec<(u64, u64)>> = Vec::with_capacity(kept_locations.len());
    for location in &kept_locations {
        let (source, target) = match location.construction_method {
            0 => (input, &mut new_mdat),
            _ => (idat, &mut new_idat),
        };
        let mut extents = Vec::with_capacity(location.extents.len());
        for &(offset, length) in &location.extents {
            let key = (location.construction_method, offset, length);
            let at = match placed.get(&key) {
                Some(&at) => at,
                None => {
                    let start =
                        usize::try_from(offset).map_err(|_| BAD("item data out of range"))?;
                    let len = usize::try_from(length).map_err(|_| BAD("item data out of range"))?;
                    let bytes = start
                        .checked_add(len)
                        .and_then(|end| source.get(start..end))
                        .ok_or(BAD("item data lies outside the file"))?;
                    let at = target.len() as u64;
                    target.extend_from_slice(bytes);
                    placed.insert(key, at);
                    at
                }
            };
            extents.push((at, length));
        }
        new_extents.push(extents);
    }

    let ftyp_bytes = ftyp.whole;
    let large_mdat = new_mdat.len() + 8 > u32::MAX as usize;
    let mdat_header_len = if large_mdat { 16 } else { 8 };
    let wide = input.len() as u64 + 1024 > u64::from(u32::MAX);
    let build_meta = |mdat_data_at: u64| -> Result<Vec<u8>, MetadataError> {
        let mut body = Vec::new();
        // hdlr: pre_defined 0, 'pict', three reserved words, empty name.
        let mut hdlr_body = vec![0u8; 4];
        hdlr_body.extend_from_slice(b"pict");
        hdlr_body.extend_from_slice(&[0; 13]);
        body.extend(full_box(b"hdlr", 0, 0, &hdlr_body));
        for b in &children {
            match &b.kind {
                b"pitm" | b"grpl" => body.extend_from_slice(b.whole),
                b"dinf" => {
                    // dref with one self-contained 'url ' entry.
                    let url = full_box(b"url ", 0, 1, &[]);
                    let dref = full_box(b"dref", 0, 0, &[&1u32.to_be_bytes()[..], &url].concat());
                    body.extend(make_box(b"dinf", &dref));
                }
                b"iinf" => body.extend(write_iinf(&items, &removed)?),
                b"iref" => body.extend(write_iref(b.body, &removed)?),
                b"iprp" => body.extend(write_iprp(b.body, &removed)?),
                b"iloc" => {
                    body.extend(write_iloc(&kept_locations, &new_extents, mdat_data_at, wide)?)
                }
                b"idat" => body.extend(make_box(b"idat", &new_idat)),
                _ => {} // hdlr (written above), xml, bxml, unknown boxes
            }
        }
        Ok(full_box(b"meta", 0, 0, &body))
    };
    let probe = build_meta(0)?;
    let mdat_data_at = (ftyp_bytes.len() + probe.len() + mdat_header_len) as u64;
    let meta_bytes = build_meta(mdat_data_at)?;
    if meta_bytes.len() != probe.len() {
        return Err(BAD("the item locations could not be rewritten"));
    }
    let mut out = Vec::with_capacity(mdat_data_at as usize + new_mdat.len());
    out.extend_from_slice(ftyp_bytes);
    out.extend_from_slice(&meta_bytes);
    if large_mdat {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(new_mdat.len() as u64 + 16).to_be_bytes());
    } else {
        out.extend_from_slice(&((new_mdat.len() + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
    }
    out.extend_from_slice(&new_mdat);
    Ok(out)
}

fn read_pitm(pitm: Bx<'_>) -> Result<u32, MetadataError> {
    let mut r = Reader::new(pitm.body);
    let (version, _) = r.full_header()?;
    if version == 0 { Ok(u32::from(r.u16()?)) } else { r.u32() }
}

fn read_iinf(iinf: Bx<'_>) -> Result<Vec<ItemInfo>, MetadataError> {
    let mut r = Reader::new(iinf.body);
    let (version, _) = r.full_header()?;
    let count = if version == 0 { u32::from(r.u16()?) } else { r.u32()? };
    let entries = boxes(r.rest())?;
    if entries.len() != count as usize {
        return Err(BAD("the item count does not match the items"));
    }
    let mut items = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
    for entry in entries {
        if &entry.kind != b"infe" {
            return Err(BAD("the item information holds something else"));
        }
        let mut e = Reader::new(entry.body);
        let (version, flags) = e.full_header()?;
        let id = match version {
            2 => u32::from(e.u16()?),
            3 => e.u32()?,
            _ => return Err(UNSUPPORTED("it uses an old item information format")),
        };
        if e.u16()? != 0 {
            return Err(UNSUPPORTED("it contains protected (encrypted) items"));
        }
        let kind = e.fourcc()?;
        if !seen.insert(id) {
            return Err(BAD("two items have the same number"));
        }
        items.push(ItemInfo { id, flags, kind });
    }
    Ok(items)
}

fn write_iinf(items: &[ItemInfo], removed: &HashSet<u32>) -> Result<Vec<u8>, MetadataError> {
    let kept: Vec<&ItemInfo> = items.iter().filter(|i| !removed.contains(&i.id)).collect();
    let count = u32::try_from(kept.len()).map_err(|_| BAD("too many items"))?;
    let mut body = Vec::new();
    let version = if count > u32::from(u16::MAX) { 1 } else { 0 };
    if version == 0 {
        body.extend_from_slice(&(count as u16).to_be_bytes());
    } else {
        body.extend_from_slice(&count.to_be_bytes());
    }
    for item in kept {
        let mut infe = Vec::new();
        let version = if item.id > u32::from(u16::MAX) { 3 } else { 2 };
        if version == 2 {
            infe.extend_from_slice(&(item.id as u16).to_be_bytes());
        } else {
            infe.extend_from_slice(&item.id.to_be_bytes());
        }
        infe.extend_from_slice(&0u16.to_be_bytes()); // not protected
        infe.extend_from_slice(&item.kind);
        infe.push(0); // empty name
        body.extend(full_box(b"infe", version, item.flags, &infe));
    }
    Ok(full_box(b"iinf", version, 0, &body))
}

fn read_iloc(iloc: Bx<'_>) -> Result<Vec<Location>, MetadataError> {
    let mut r = Reader::new(iloc.body);
    let (version, _) = r.full_header()?;
    if version > 2 {
        return Err(UNSUPPORTED("it uses an unknown item location format"));
    }
    let sizes = r.u16()?;
    let size = |shift: u16| -> Result<usize, MetadataError> {
        match (sizes >> shift) & 0xF {
            n @ (0 | 4 | 8) => Ok(usize::from(n)),
            _ => Err(BAD("an item location field has an invalid size")),
        }
    };
    let (offset_size, length_size, base_size) = (size(12)?, size(8)?, size(4)?);
    let index_size = if version == 0 { 0 } else { size(0)? };
    let count = if version < 2 { u32::from(r.u16()?) } else { r.u32()? };
    let mut locations = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..count {
        let id = if version < 2 { u32::from(r.u16()?) } else { r.u32()? };
        let construction_method = if version == 0 { 0 } else { (r.u16()? & 0xF) as u8 };
        if construction_method > 1 {
            return Err(UNSUPPORTED("it contains items built from other items' data"));
        }
        if r.u16()? != 0 {
            return Err(UNSUPPORTED("its image data is stored in another file"));
        }
        let base = r.uint(base_size)?;
        let extent_count = r.u16()?;
        if extent_count == 0 {
            return Err(BAD("an item has no data"));
        }
        let mut extents = Vec::with_capacity(usize::from(extent_count));
        for _ in 0..extent_count {
            if index_size > 0 && r.uint(index_size)? != 0 {
                return Err(UNSUPPORTED("it contains items built from other items' data"));
            }
            let offset =
                base.checked_add(r.uint(offset_size)?).ok_or(BAD("item data out of range"))?;
            let length = r.uint(length_size)?;
            if length == 0 {
                return Err(UNSUPPORTED("an item's data has no stated length"));
            }
            extents.push((offset, length));
        }
        if !seen.insert(id) {
            return Err(BAD("an item has two locations"));
        }
        locations.push(Location { id, construction_method, extents });
    }
    Ok(locations)
}

/// The new `iloc`: version 1 (2 for item numbers over 65535), no base
/// offsets, 4-byte offsets and lengths (8 for files over 4 GiB).
fn write_iloc(
    kept: &[&Location],
    extents: &[Vec<(u64, u64)>],
    mdat_data_at: u64,
    wide: bool,
) -> Result<Vec<u8>, MetadataError> {
    let version: u8 =
        if kept.len() > usize::from(u16::MAX) || kept.iter().any(|l| l.id > u32::from(u16::MAX)) {
            2
        } else {
            1
        };
    let n = if wide { 8 } else { 4 };
    let put = |out: &mut Vec<u8>, value: u64| -> Result<(), MetadataError> {
        if n == 4 {
            let v = u32::try_from(value).map_err(|_| BAD("item data out of range"))?;
            out.extend_from_slice(&v.to_be_bytes());
        } else {
            out.extend_from_slice(&value.to_be_bytes());
        }
        Ok(())
    };
    let mut body = Vec::new();
    body.push(((n as u8) << 4) | n as u8); // offset_size, length_size
    body.push(0); // base_offset_size 0, index_size 0
    if version == 1 {
        body.extend_from_slice(&(kept.len() as u16).to_be_bytes());
    } else {
        body.extend_from_slice(&(kept.len() as u32).to_be_bytes());
    }
    for (location, extents) in kept.iter().zip(extents) {
        if version == 1 {
            body.extend_from_slice(&(location.id as u16).to_be_bytes());
        } else {
            body.extend_from_slice(&location.id.to_be_bytes());
        }
        body.extend_from_slice(&u16::from(location.construction_method).to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes()); // this file
        let count = u16::try_from(extents.len()).map_err(|_| BAD("too many extents"))?;
        body.extend_from_slice(&count.to_be_bytes());
        for &(at, length) in extents {
            let base = if location.construction_method == 0 { mdat_data_at } else { 0 };
            put(&mut body, base + at)?;
            put(&mut body, length)?;
        }
    }
    Ok(full_box(b"iloc", version, 0, &body))
}

fn write_iref(iref: &[u8], removed: &HashSet<u32>) -> Result<Vec<u8>, MetadataError> {
    let mut r = Reader::new(iref);
    let (version, flags) = r.full_header()?;
    let id_len = if version == 0 { 2 } else { 4 };
    let mut body = Vec::new();
    for reference in boxes(r.rest())? {
        let mut e = Reader::new(reference.body);
        let from = e.uint(id_len)? as u32;
        let count = e.u16()?;
        let mut to = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let id = e.uint(id_len)? as u32;
            if !removed.contains(&id) {
                to.push(id);
            }
        }
        if removed.contains(&from) || to.is_empty() {
            continue;
        }
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, id: u32| {
            let bytes = id.to_be_bytes();
            out.extend_from_slice(&bytes[4 - id_len..]);
        };
        put(&mut out, from);
        out.extend_from_slice(&(to.len() as u16).to_be_bytes());
        for id in to {
            put(&mut out, id);
        }
        body.extend(make_box(&reference.kind, &out));
    }
    Ok(full_box(b"iref", version, flags, &body))
}

fn write_iprp(iprp: &[u8], removed: &HashSet<u32>) -> Result<Vec<u8>, MetadataError> {
    let mut body = Vec::new();
    for b in boxes(iprp)? {
        match &b.kind {
            b"ipco" => {
                let mut properties = Vec::new();
                for p in boxes(b.body)? {
                    properties.extend(clean_property(p));
                }
                body.extend(make_box(b"ipco", &properties));
            }
            b"ipma" => body.extend(write_ipma(b.body, removed)?),
            _ => {}
        }
    }
    Ok(make_box(b"iprp", &body))
}

/// A property as it is kept: unchanged, with its ICC profile neutralised,
/// or as a `free` box of the same size.
fn clean_property(p: Bx<'_>) -> Vec<u8> {
    let freed = || {
        let mut free = p.whole.to_vec();
        let header_len = p.whole.len() - p.body.len();
        free[4..8].copy_from_slice(b"free");
        free[header_len..].fill(0);
        free
    };
    if KEPT_PROPERTIES.contains(&&p.kind) {
        return p.whole.to_vec();
    }
    if &p.kind == b"colr" {
        match p.body.get(..4) {
            Some(b"nclx") => return p.whole.to_vec(),
            Some(b"prof" | b"rICC") => {
                if let Ok(profile) = icc::neutralise(&p.body[4..]) {
                    let header_len = p.whole.len() - p.body.len();
                    let mut out = p.whole[..header_len + 4].to_vec();
                    out.extend_from_slice(&profile);
                    return out;
                }
            }
            _ => {}
        }
    }
    freed()
}

fn write_ipma(ipma: &[u8], removed: &HashSet<u32>) -> Result<Vec<u8>, MetadataError> {
    let mut r = Reader::new(ipma);
    let (version, flags) = r.full_header()?;
    let count = r.u32()?;
    let id_len = if version < 1 { 2 } else { 4 };
    let association_len = if flags & 1 == 1 { 2 } else { 1 };
    let mut kept = 0u32;
    let mut entries = Vec::new();
    for _ in 0..count {
        let start = r.pos;
        let id = r.uint(id_len)? as u32;
        let associations = usize::from(r.u8()?);
        r.bytes(associations * association_len)?;
        if !removed.contains(&id) {
            entries.extend_from_slice(&ipma[start..r.pos]);
            kept += 1;
        }
    }
    let mut body = kept.to_be_bytes().to_vec();
    body.extend_from_slice(&entries);
    Ok(full_box(b"ipma", version, flags, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::test_support::*;
    use mp4_atom::Decode;

    const BLUE: &[u8] = include_bytes!("../../tests/fixtures/heic/blue.heic");
    const GRID: &[u8] = include_bytes!("../../tests/fixtures/heic/blue_grid_alpha.heic");
    const XMP: &[u8] =
        b"<x:xmpmeta><exif:GPSLatitude>51,54.5N</exif:GPSLatitude><dc:creator>Max Mustermann</dc:creator></x:xmpmeta>";

    /// A file as an independent parser (mp4-atom) sees it: item types and
    /// each item's data bytes, the primary item and the properties.
    #[derive(Debug, PartialEq)]
    struct Parsed {
        primary: u32,
        items: Vec<(u32, String, Option<String>)>,
        data: HashMap<u32, Vec<u8>>,
        references: Vec<(String, u32, Vec<u32>)>,
        properties: Vec<String>,
        associations: Vec<(u32, Vec<u16>)>,
    }

    fn parse(file: &[u8]) -> Parsed {
        let mut buf = file;
        let _ftyp = mp4_atom::Ftyp::decode(&mut buf).unwrap();
        let meta = mp4_atom::Meta::decode(&mut buf).unwrap();
        let idat = meta.get::<mp4_atom::Idat>().map(|i| i.data.clone()).unwrap_or_default();
        let iinf = meta.get::<mp4_atom::Iinf>().unwrap();
        let items = iinf
            .item_infos
            .iter()
            .map(|i| {
                let kind = i.item_type.map(|t| t.to_string()).unwrap_or_default();
                (i.item_id, kind, i.content_type.clone())
            })
            .collect();
        let mut data = HashMap::new();
        for location in &meta.get::<mp4_atom::Iloc>().unwrap().item_locations {
            let source = if location.construction_method == 0 { file } else { &idat[..] };
            let mut bytes = Vec::new();
            for extent in &location.extents {
                let start = (location.base_offset + extent.offset) as usize;
                bytes.extend_from_slice(&source[start..start + extent.length as usize]);
            }
            data.insert(location.item_id, bytes);
        }
        let references = meta
            .get::<mp4_atom::Iref>()
            .map(|iref| {
                iref.references
                    .iter()
                    .map(|r| (r.reference_type.to_string(), r.from_item_id, r.to_item_ids.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let iprp = meta.get::<mp4_atom::Iprp>().unwrap();
        let properties = iprp.ipco.properties.iter().map(|p| p.kind().to_string()).collect();
        let associations = iprp
            .ipma
            .iter()
            .flat_map(|ipma| &ipma.item_properties)
            .map(|a| (a.item_id, a.associations.iter().map(|x| x.property_index).collect()))
            .collect();
        let primary = meta.get::<mp4_atom::Pitm>().unwrap().item_id;
        Parsed { primary, items, data, references, properties, associations }
    }

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        make_box(kind, body)
    }

    fn fbx(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        full_box(kind, version, 0, body)
    }

    fn infe(id: u16, kind: &[u8; 4], name: &str, mime: Option<&str>) -> Vec<u8> {
        let mut body = id.to_be_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(kind);
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        if let Some(mime) = mime {
            body.extend_from_slice(mime.as_bytes());
            body.push(0);
        }
        fbx(b"infe", 2, &body)
    }

    /// An iPhone-like HEIC built around blue.heic's real image: item 1 the
    /// HEVC image (named), item 2 Exif (with GPS and orientation 6), item 3
    /// XMP, both `cdsc` references to item 1; properties hvcC, ispe, a
    /// Display P3 `colr` profile with a person's name, `irot`, `imir` and a
    /// `udes` user description; a `dinf` naming a file path, an `xml ` box,
    /// a top-level `uuid` box. The iloc uses version 0 with base offsets.
    fn iphone_like() -> (Vec<u8>, Vec<u8>) {
        let original = parse(BLUE);
        let hevc = original.data[&1].clone();
        let mut buf = BLUE;
        let _ = mp4_atom::Ftyp::decode(&mut buf).unwrap();
        let meta_box = boxes(BLUE).unwrap().into_iter().find(|b| &b.kind == b"meta").unwrap();
        let ipco_src = {
            let children = boxes(&meta_box.body[4..]).unwrap();
            let iprp = children.into_iter().find(|b| &b.kind == b"iprp").unwrap();
            boxes(iprp.body).unwrap().into_iter().find(|b| &b.kind == b"ipco").unwrap()
        };
        let props = boxes(ipco_src.body).unwrap();
        let hvcc = props.iter().find(|p| &p.kind == b"hvcC").unwrap().whole.to_vec();
        let ispe = props.iter().find(|p| &p.kind == b"ispe").unwrap().whole.to_vec();
        let colr = bx(b"colr", &[&b"prof"[..], &p3_profile()].concat());
        let irot = bx(b"irot", &[1]);
        let imir = bx(b"imir", &[0]);
        let udes = fbx(b"udes", 0, b"de\0Mustermann's photo\0Lindenallee 12\0private\0");
        let ipco = bx(b"ipco", &[hvcc, ispe, colr, irot, imir, udes].concat());
        // item 1: essential hvcC (1), ispe (2), colr (3), irot (4), imir (5), udes (6).
        let ipma_body =
            [&1u32.to_be_bytes()[..], &1u16.to_be_bytes(), &[6, 0x81, 2, 3, 0x84, 0x85, 6]]
                .concat();
        let iprp = bx(b"iprp", &[ipco, fbx(b"ipma", 0, &ipma_body)].concat());
        let exif = [&6u32.to_be_bytes()[..], b"Exif\0\0", &exif_block(6, false)].concat();
        let mdat_body = [&exif[..], &hevc, XMP].concat();
        let iinf = fbx(
            b"iinf",
            0,
            &[
                &3u16.to_be_bytes()[..],
                &infe(1, b"hvc1", "Max's photo", None),
                &infe(2, b"Exif", "", None),
                &infe(3, b"mime", "XMP", Some("application/rdf+xml")),
            ]
            .concat(),
        );
        let iref = fbx(
            b"iref",
            0,
            &[bx(b"cdsc", &[0, 2, 0, 1, 0, 1]), bx(b"cdsc", &[0, 3, 0, 1, 0, 1])].concat(),
        );
        let hdlr =
            fbx(b"hdlr", 0, &[&[0; 4][..], b"pict", &[0; 12], b"Mustermann handler\0"].concat());
        let pitm = fbx(b"pitm", 0, &1u16.to_be_bytes());
        let url = full_box(b"url ", 0, 0, b"file:///Users/Mustermann/IMG_0001.HEIC\0");
        let dinf = bx(b"dinf", &fbx(b"dref", 0, &[&1u32.to_be_bytes()[..], &url].concat()));
        let xml = fbx(b"xml ", 0, b"<creator>Max Mustermann</creator>");
        let ftyp = BLUE[..28].to_vec();
        assert_eq!(&ftyp[4..8], b"ftyp");
        let uuid = bx(b"uuid", &[&[0x11; 16][..], b"Mustermann vendor data"].concat());
        // iloc version 0: offset 4, length 4, base offset 4; item 1 in two
        // extents relative to its base.
        let build = |mdat_at: u32| {
            let mut iloc = vec![0x44, 0x40];
            iloc.extend_from_slice(&3u16.to_be_bytes());
            let exif_at = mdat_at;
            let hevc_at = mdat_at + exif.len() as u32;
            let xmp_at = hevc_at + hevc.len() as u32;
            let split = (hevc.len() / 3) as u32;
            for (id, base, extents) in [
                (1u16, hevc_at, vec![(0u32, split), (split, hevc.len() as u32 - split)]),
                (2, exif_at, vec![(0, exif.len() as u32)]),
                (3, 0, vec![(xmp_at, XMP.len() as u32)]),
            ] {
                iloc.extend_from_slice(&id.to_be_bytes());
                iloc.extend_from_slice(&0u16.to_be_bytes());
                iloc.extend_from_slice(&base.to_be_bytes());
                iloc.extend_from_slice(&(extents.len() as u16).to_be_bytes());
                for (offset, length) in extents {
                    iloc.extend_from_slice(&offset.to_be_bytes());
                    iloc.extend_from_slice(&length.to_be_bytes());
                }
            }
            let meta = fbx(
                b"meta",
                0,
                &[
                    hdlr.clone(),
                    dinf.clone(),
                    pitm.clone(),
                    fbx(b"iloc", 0, &iloc),
                    iinf.clone(),
                    iref.clone(),
                    iprp.clone(),
                    xml.clone(),
                ]
                .concat(),
            );
            [ftyp.clone(), meta, uuid.clone(), bx(b"mdat", &mdat_body)].concat()
        };
        let probe = build(0);
        let mdat_at = (probe.len() - mdat_body.len()) as u32;
        (build(mdat_at), hevc)
    }

    #[test]
    fn iphone_like_heic_loses_exif_and_xmp_and_keeps_image_and_rotation() {
        let (input, hevc) = iphone_like();
        // The test file is what it claims (checked by independent parsers).
        let before = parse(&input);
        assert_eq!(before.data[&1], hevc);
        assert_eq!(before.data[&3], XMP);
        let exif = exif_fields(&input).unwrap();
        assert!(exif.contains(&(exif::Tag::Orientation, Some(6))) && exif.len() > 8);
        assert_eq!(sniff(&input), Some(HEIC_MIME));

        let clean = crate::metadata::strip_metadata(&input).unwrap();
        assert_eq!(clean.mime, HEIC_MIME);
        let out = clean.bytes;
        assert_no_secrets(&out);
        for secret in [&b"file:///"[..], b"GPSLatitude", b"rdf+xml", b"Lindenallee"] {
            assert!(contains(&input, secret) && !contains(&out, secret));
        }
        assert_eq!(exif_fields(&out), None, "no Exif item, so no Exif orientation either");
        let after = parse(&out);
        assert_eq!(after.primary, 1);
        assert_eq!(after.items, vec![(1, "hvc1".to_string(), None)]);
        assert_eq!(after.data.len(), 1);
        assert_eq!(after.data[&1], hevc, "the coded image is byte for byte the same");
        assert_eq!(after.references, vec![]);
        // Property numbering unchanged; udes became free; irot/imir stay.
        assert_eq!(after.properties, ["hvcC", "ispe", "colr", "irot", "imir", "free"]);
        assert_eq!(after.associations, vec![(1, vec![1, 2, 3, 4, 5, 6])]);
        // The colour profile keeps its colours.
        let colr = boxes(&out).unwrap();
        let meta = colr.iter().find(|b| &b.kind == b"meta").unwrap();
        let at = contains_at(meta.body, b"colrprof").unwrap();
        let size = u32::from_be_bytes(meta.body[at - 4..at].try_into().unwrap()) as usize;
        assert_same_colours(&p3_profile(), &meta.body[at + 8..at - 4 + size]);
        // Top level: ftyp, meta, mdat only.
        let kinds: Vec<[u8; 4]> = boxes(&out).unwrap().iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [*b"ftyp", *b"meta", *b"mdat"]);
        assert_eq!(strip(&out).unwrap(), out, "idempotent");
    }

    fn contains_at(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn real_heic_files_keep_every_image_item_unchanged() {
        for file in [BLUE, GRID] {
            let before = parse(file);
            let out = strip(file).unwrap();
            let after = parse(&out);
            assert_eq!(after.primary, before.primary);
            assert_eq!(after.data, before.data);
            assert_eq!(after.references, before.references);
            assert_eq!(after.properties, before.properties);
            assert_eq!(after.associations, before.associations);
            let types = |p: &Parsed| p.items.iter().map(|i| (i.0, i.1.clone())).collect::<Vec<_>>();
            assert_eq!(types(&after), types(&before));
            assert_eq!(strip(&out).unwrap(), out);
        }
        assert!(parse(GRID).items.len() > 4, "a grid with tiles and an alpha image");
    }

    #[test]
    fn damaged_heic_files_are_typed_errors() {
        let (input, _) = iphone_like();
        for cut in 0..input.len() {
            if let Err(err) = strip(&input[..cut]) {
                assert!(
                    matches!(
                        err,
                        MetadataError::MalformedHeif(_) | MetadataError::UnsupportedHeif(_)
                    ),
                    "cut {cut}: {err:?}"
                );
            }
        }
        let mdat_at = input.len() - 200;
        for at in (0..mdat_at).step_by(3) {
            for value in [0u8, 0xFF, 0x01] {
                let mut bad = input.clone();
                bad[at] = value;
                let _ = strip(&bad);
            }
        }
        // An image sequence and an item stored elsewhere are refused with
        // a reason.
        let with_moov = [BLUE, &make_box(b"moov", &[])].concat();
        assert_eq!(strip(&with_moov), Err(UNSUPPORTED("it is an image sequence or burst")));
    }
}
