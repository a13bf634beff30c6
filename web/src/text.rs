//! The app's texts: lookups in the shared catalogs in the language the
//! user chose. Every id the app uses starts with `web-` (or is one of the
//! CLI's `privacy-*` rows); a unit test checks that each one exists.

use stadtbote_i18n::{Arg, Catalog, Lang};

/// Message `id` in `lang`.
pub fn t(lang: Lang, id: &str) -> String {
    Catalog::get(lang).format(id, &[])
}

/// Message `id` in `lang` with one text argument.
pub fn t1(lang: Lang, id: &str, name: &str, value: &str) -> String {
    Catalog::get(lang).format(id, &[(name, Arg::Text(value.to_owned()))])
}

const MIB: u64 = 1 << 20;

/// A size in bytes as people read it: whole MiB where it is a multiple of
/// one (the server's limits are), else bytes.
pub fn size(lang: Lang, bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        t1(lang, "web-size-mib", "mib", &(bytes / MIB).to_string())
    } else {
        t1(lang, "web-size-bytes", "bytes", &bytes.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Every `"web-…"` id in this crate's sources exists in both catalogs
    /// (ids are string literals here, so a scan finds them all).
    #[test]
    fn every_web_id_used_exists_in_both_catalogs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut used = BTreeSet::new();
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                for (pos, _) in source.match_indices("\"web-") {
                    let rest = &source[pos + 1..];
                    let end = rest.find('"').unwrap();
                    let id = &rest[..end];
                    // Ids built at run time end in `-` (none today); this
                    // test's own `"web-…"` is no id.
                    let plain = id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
                    if plain && !id.ends_with('-') {
                        used.insert(id.to_owned());
                    }
                }
            }
        }
        assert!(used.len() > 20, "found only {} ids; is the scan broken?", used.len());
        for lang in Lang::ALL {
            let catalog = Catalog::get(lang);
            let missing: Vec<_> = used.iter().filter(|id| !catalog.has(id)).collect();
            assert!(missing.is_empty(), "missing in {}: {missing:?}", lang.code());
        }
    }

    #[test]
    fn sizes_read_in_mib_or_bytes() {
        assert_eq!(size(Lang::De, 20 * MIB), "20 MiB");
        assert_eq!(size(Lang::En, 1000), "1000 bytes");
        assert_eq!(size(Lang::De, 1000), "1000 Bytes");
    }
}
