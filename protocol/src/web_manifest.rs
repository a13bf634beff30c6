//! The signed manifest of the web app's bundle: what a town's server must
//! serve, byte for byte, for a browser to run the genuine app.
//!
//! A release lists every file of the bundle (path, size, SHA-256) together
//! with the app's version and the compiler and tool versions of the build,
//! in one canonical JSON document ([`WebManifest::to_bytes`]). A release
//! key (Ed25519; the project's is [`RELEASE_KEY`], a town that builds its
//! own app has its own) signs `"stadtbote-web-manifest-v1\0"` ‖ those
//! bytes; the signature travels in a second small JSON document
//! ([`ManifestSignature`]) naming the signing key, so that a verifier can
//! say "signed by another key" rather than only "does not verify".
//!
//! The server serves both next to the app's files ([`MANIFEST_PATH`],
//! [`SIGNATURE_PATH`]); the independent verifier (`stadtbote web-verify`)
//! fetches them and every file, and [`WebManifest::compare`] names each
//! difference precisely. The fingerprint shown to people ("Prüfsumme",
//! [`fingerprint`]) is the key fingerprint format over the manifest bytes.
//!
//! Nothing here panics on input: every decoder returns [`ManifestError`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::{DeviceSecret, IdentityKey, Signature};

/// The manifest format this crate reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The `app` field of a Stadtbote web app manifest.
pub const APP_NAME: &str = "stadtbote-web";

/// Where the server serves the manifest (and its file name in the bundle
/// directory, without the leading `/`).
pub const MANIFEST_PATH: &str = "/stadtbote-web-manifest.json";

/// Where the server serves the manifest's signature (and its file name in
/// the bundle directory, without the leading `/`).
pub const SIGNATURE_PATH: &str = "/stadtbote-web-manifest.sig";

/// The project's release key (public half): the key the server expects by
/// default (`web_release_key`) and `stadtbote web-verify` checks against
/// unless told `--key`. Its secret half is kept offline by the release
/// managers; `deploy/web-release-key.pub` holds the same key as text.
pub const RELEASE_KEY: IdentityKey = IdentityKey([
    0x8d, 0x8e, 0x4e, 0x5a, 0x9a, 0xcf, 0x37, 0x81, 0x23, 0x1d, 0x92, 0xfa, 0xaf, 0x5c, 0xad, 0x86,
    0xe4, 0x58, 0x73, 0xc1, 0x68, 0xd7, 0x10, 0x83, 0x44, 0x68, 0x08, 0xc4, 0xfe, 0xa8, 0x1c, 0x5a,
]);

/// Domain separation of the release signature.
const SIGN_DOMAIN: &[u8] = b"stadtbote-web-manifest-v1\0";

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The largest signature document accepted, in bytes.
pub const MAX_SIGNATURE_BYTES: usize = 4096;
/// The most files one manifest may list.
pub const MAX_FILES: usize = 10_000;
/// The longest file path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// The most entries of the build information.
pub const MAX_BUILD_ENTRIES: usize = 64;
/// The longest build information name or value, and app version, in bytes.
pub const MAX_TEXT_BYTES: usize = 256;

/// Why a manifest or its signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// No manifest was served.
    #[error("the server serves no manifest")]
    Missing,
    /// No signature was served (or it is empty).
    #[error("the manifest is not signed")]
    Unsigned,
    /// The signature names a key other than the expected release key.
    #[error("the manifest is signed by another key ({found})")]
    WrongKey {
        /// Fingerprint of the key that signed.
        found: String,
    },
    /// The signature names the expected key but does not verify over the
    /// manifest's bytes.
    #[error("the manifest's signature does not verify")]
    BadSignature,
    /// A manifest format this version does not know.
    #[error("manifest format version {0} is unknown")]
    UnknownVersion(u64),
    /// The bytes are not a valid manifest or signature document.
    #[error("malformed manifest: {0}")]
    Malformed(&'static str),
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The URL path it is served at, starting with `/`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

impl ManifestFile {
    /// The entry for `bytes` served at `path`.
    pub fn of(path: &str, bytes: &[u8]) -> ManifestFile {
        ManifestFile {
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        }
    }
}

/// The manifest of one release of the web app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebManifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub v: u32,
    /// Always [`APP_NAME`].
    pub app: String,
    /// The app's version, e.g. `0.8.0`.
    pub app_version: String,
    /// Compiler and tool versions of the build (`rustc`, `wasm-bindgen`, …),
    /// from the bundle's build information.
    pub build: BTreeMap<String, String>,
    /// The file whose bytes the server serves at `/` (the HTML page).
    pub root: String,
    /// Every file, sorted by path, each path once.
    pub files: Vec<ManifestFile>,
}

impl WebManifest {
    /// A manifest of `files` (sorted here), checked against the rules of
    /// [`WebManifest::parse`].
    pub fn new(
        app_version: &str,
        build: BTreeMap<String, String>,
        root: &str,
        mut files: Vec<ManifestFile>,
    ) -> Result<WebManifest, ManifestError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = WebManifest {
            v: MANIFEST_VERSION,
            app: APP_NAME.to_owned(),
            app_version: app_version.to_owned(),
            build,
            root: root.to_owned(),
            files,
        };
        manifest.check()?;
        Ok(manifest)
    }

    /// The canonical bytes: pretty-printed JSON (two-space indent, fields
    /// in declaration order, build entries sorted by name, files sorted by
    /// path) and one final newline. These bytes are what is served, hashed
    /// and signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and maps cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a manifest. Refuses an unknown format version, a document
    /// that is not in canonical form (so that one manifest has exactly one
    /// byte string, hash and fingerprint), unsafe or duplicate paths, a
    /// root that is not listed, and anything beyond the limits.
    pub fn parse(bytes: &[u8]) -> Result<WebManifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::Malformed("too large"));
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| ManifestError::Malformed("not JSON"))?;
        match value.get("v").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(MANIFEST_VERSION) => {}
            Some(v) => return Err(ManifestError::UnknownVersion(v)),
            None => return Err(ManifestError::Malformed("no format version")),
        }
        let manifest: WebManifest = serde_json::from_value(value)
            .map_err(|_| ManifestError::Malformed("fields do not match format version 1"))?;
        manifest.check()?;
        if manifest.to_bytes() != bytes {
            return Err(ManifestError::Malformed("not in canonical form"));
        }
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.v != MANIFEST_VERSION {
            return Err(ManifestError::UnknownVersion(u64::from(self.v)));
        }
        if self.app != APP_NAME {
            return Err(ManifestError::Malformed("not a Stadtbote web app manifest"));
        }
        if !is_plain_text(&self.app_version) || self.app_version.is_empty() {
            return Err(ManifestError::Malformed("invalid app version"));
        }
        if self.build.len() > MAX_BUILD_ENTRIES
            || !self
                .build
                .iter()
                .all(|(k, v)| !k.is_empty() && is_plain_text(k) && is_plain_text(v))
        {
            return Err(ManifestError::Malformed("invalid build information"));
        }
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return Err(ManifestError::Malformed("invalid number of files"));
        }
        for file in &self.files {
            if !is_safe_path(&file.path) {
                return Err(ManifestError::Malformed("unsafe file path"));
            }
            if is_reserved(&file.path) {
                return Err(ManifestError::Malformed("lists its own manifest or signature"));
            }
            if file.sha256.len() != 64
                || !file.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(ManifestError::Malformed("invalid SHA-256"));
            }
        }
        if !self.files.windows(2).all(|w| w[0].path < w[1].path) {
            return Err(ManifestError::Malformed("files not sorted or listed twice"));
        }
        if self.file(&self.root).is_none() {
            return Err(ManifestError::Malformed("the root file is not listed"));
        }
        Ok(())
    }

    /// The entry for `path`.
    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    /// Compares what a server served with this manifest. `served` maps
    /// each path that was requested to its bytes, or `None` when the
    /// server did not serve it (404 or another refusal); the root page
    /// fetched at `/` is given under the path `/`. Every listed file that
    /// was not served is [`Difference::Missing`]; every served path the
    /// manifest does not list (a script the HTML references, say) is
    /// [`Difference::Extra`]. The result is sorted by path.
    pub fn compare(&self, served: &BTreeMap<String, Option<Vec<u8>>>) -> Vec<Difference> {
        let mut differences = Vec::new();
        let mut seen = BTreeSet::new();
        for (path, bytes) in served {
            let listed = if path == "/" { self.file(&self.root) } else { self.file(path) };
            if is_reserved(path) {
                continue;
            }
            let Some(expected) = listed else {
                differences.push(match bytes {
                    Some(_) => Difference::Extra { path: path.clone() },
                    None => Difference::Unlisted { path: path.clone() },
                });
                continue;
            };
            if path != "/" {
                seen.insert(path.as_str());
            }
            let Some(bytes) = bytes else {
                differences.push(Difference::Missing { path: path.clone() });
                continue;
            };
            let actual = ManifestFile::of(path, bytes);
            if actual.size != expected.size {
                differences.push(Difference::SizeDiffers {
                    path: path.clone(),
                    expected: expected.size,
                    actual: actual.size,
                });
            } else if actual.sha256 != expected.sha256 {
                differences.push(Difference::HashDiffers {
                    path: path.clone(),
                    expected: expected.sha256.clone(),
                    actual: actual.sha256,
                });
            }
        }
        for file in &self.files {
            if !seen.contains(file.path.as_str()) {
                differences.push(Difference::Missing { path: file.path.clone() });
            }
        }
        differences.sort_by(|a, b| a.path().cmp(b.path()));
        differences
    }
}

/// One way in which what a server serves differs from the signed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A file the manifest lists was not served.
    Missing {
        /// Its path.
        path: String,
    },
    /// A file was served (and the app references it) that the manifest
    /// does not list.
    Extra {
        /// Its path.
        path: String,
    },
    /// The app references a path that the manifest does not list and the
    /// server does not serve either (a broken reference, harmless but not
    /// the signed app).
    Unlisted {
        /// Its path.
        path: String,
    },
    /// The app references something on another origin (a browser would
    /// load it, and it is signed by nobody).
    OtherOrigin {
        /// The URL as written.
        path: String,
    },
    /// A listed file was served with another size.
    SizeDiffers {
        /// Its path.
        path: String,
        /// Size in the manifest.
        expected: u64,
        /// Size served.
        actual: u64,
    },
    /// A listed file was served with the right size but other bytes.
    HashDiffers {
        /// Its path.
        path: String,
        /// SHA-256 in the manifest (hex).
        expected: String,
        /// SHA-256 of what was served (hex).
        actual: String,
    },
}

impl Difference {
    /// The path concerned.
    pub fn path(&self) -> &str {
        match self {
            Difference::Missing { path }
            | Difference::Extra { path }
            | Difference::Unlisted { path }
            | Difference::OtherOrigin { path }
            | Difference::SizeDiffers { path, .. }
            | Difference::HashDiffers { path, .. } => path,
        }
    }

    /// A stable name of the kind (`missing`, `extra`, `unlisted`,
    /// `other_origin`, `size_differs`, `hash_differs`), for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing { .. } => "missing",
            Difference::Extra { .. } => "extra",
            Difference::Unlisted { .. } => "unlisted",
            Difference::OtherOrigin { .. } => "other_origin",
            Difference::SizeDiffers { .. } => "size_differs",
            Difference::HashDiffers { .. } => "hash_differs",
        }
    }
}

/// The signature document served at [`SIGNATURE_PATH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSignature {
    /// The key that signed.
    pub key: IdentityKey,
    /// Its Ed25519 signature over `"stadtbote-web-manifest-v1\0"` ‖ manifest bytes.
    pub signature: Signature,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureDoc {
    v: u32,
    key: String,
    signature: String,
}

impl ManifestSignature {
    /// Signs the manifest bytes with a release key.
    pub fn sign(manifest_bytes: &[u8], key: &DeviceSecret) -> ManifestSignature {
        ManifestSignature {
            key: key.identity_key(),
            signature: key.sign(&signed_message(manifest_bytes)),
        }
    }

    /// The document: `{"v": 1, "key": hex, "signature": hex}` and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let doc = SignatureDoc {
            v: MANIFEST_VERSION,
            key: hex(&self.key.0),
            signature: hex(&self.signature.0),
        };
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads the document.
    pub fn parse(bytes: &[u8]) -> Result<ManifestSignature, ManifestError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ManifestError::Unsigned);
        }
        if bytes.len() > MAX_SIGNATURE_BYTES {
            return Err(ManifestError::Malformed("signature document too large"));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|_| ManifestError::Malformed("signature document is not JSON"))?;
        match value.get("v").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(MANIFEST_VERSION) => {}
            Some(v) => return Err(ManifestError::UnknownVersion(v)),
            None => return Err(ManifestError::Malformed("signature document has no version")),
        }
        let doc: SignatureDoc = serde_json::from_value(value)
            .map_err(|_| ManifestError::Malformed("invalid signature document"))?;
        let key = unhex::<32>(&doc.key).ok_or(ManifestError::Malformed("invalid key"))?;
        let signature =
            unhex::<64>(&doc.signature).ok_or(ManifestError::Malformed("invalid signature"))?;
        Ok(ManifestSignature { key: IdentityKey(key), signature: Signature(signature) })
    }
}

/// A manifest whose signature verified under the expected key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedManifest {
    /// The manifest.
    pub manifest: WebManifest,
    /// Its fingerprint ("Prüfsumme").
    pub fingerprint: String,
    /// The key that signed it.
    pub key: IdentityKey,
}

/// Verifies a served manifest: `signature` is the signature document
/// (`None` when the server served none), `expected` the release key.
/// Checks, in order: a signature exists, it names `expected`, it verifies
/// over exactly `manifest_bytes`; only then are the bytes read.
pub fn verify(
    manifest_bytes: &[u8],
    signature: Option<&[u8]>,
    expected: &IdentityKey,
) -> Result<VerifiedManifest, ManifestError> {
    let signature = ManifestSignature::parse(signature.ok_or(ManifestError::Unsigned)?)?;
    if signature.key != *expected {
        return Err(ManifestError::WrongKey { found: signature.key.fingerprint() });
    }
    expected
        .verify(&signed_message(manifest_bytes), &signature.signature)
        .map_err(|_| ManifestError::BadSignature)?;
    let manifest = WebManifest::parse(manifest_bytes)?;
    Ok(VerifiedManifest { manifest, fingerprint: fingerprint(manifest_bytes), key: *expected })
}

/// The manifest's fingerprint ("Prüfsumme"), shown on the app's About page
/// and by the verifier: the first 16 bytes of SHA-256 over the manifest
/// bytes, hex, in groups of four (the format of key fingerprints).
pub fn fingerprint(manifest_bytes: &[u8]) -> String {
    crate::auth::fingerprint_of(manifest_bytes)
}

/// Reads a release key's public half: 64 hex digits, optionally after the
/// `stadtbote-web-release-key-v1` label of a `.pub` file.
pub fn parse_release_key(text: &str) -> Option<IdentityKey> {
    let text = text.trim();
    let text = text.strip_prefix(PUBLIC_KEY_LABEL).map(str::trim).unwrap_or(text);
    unhex::<32>(text).map(IdentityKey)
}

/// The label of a release key's public half in its `.pub` file.
pub const PUBLIC_KEY_LABEL: &str = "stadtbote-web-release-key-v1";

/// A release key's public half as its `.pub` file holds it.
pub fn release_key_text(key: &IdentityKey) -> String {
    format!("{PUBLIC_KEY_LABEL} {}\n", hex(&key.0))
}

fn signed_message(manifest_bytes: &[u8]) -> Vec<u8> {
    [SIGN_DOMAIN, manifest_bytes].concat()
}

/// Whether `path` is the manifest's or the signature's own path.
pub fn is_reserved(path: &str) -> bool {
    path == MANIFEST_PATH || path == SIGNATURE_PATH
}

/// A path a manifest may list: `/` then segments of ASCII letters, digits
/// and `._-~@+`, none empty, `.` or `..`, no query or fragment.
pub fn is_safe_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    path.len() <= MAX_PATH_BYTES
        && rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-~@+".contains(&b))
        })
}

fn is_plain_text(text: &str) -> bool {
    text.len() <= MAX_TEXT_BYTES && !text.chars().any(char::is_control)
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(text.as_bytes()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DeviceSecret {
        DeviceSecret::from_bytes(&[0x57; 32]).unwrap()
    }

    fn manifest() -> WebManifest {
        let build = BTreeMap::from([
            ("rustc".to_owned(), "rustc 1.96.0".to_owned()),
            ("wasm-bindgen".to_owned(), "0.2.130".to_owned()),
        ]);
        WebManifest::new(
            "0.8.0",
            build,
            "/index.html",
            vec![
                ManifestFile::of("/index.html", b"<!doctype html>"),
                ManifestFile::of("/app.js", b"import init from './pkg/app.js';"),
                ManifestFile::of("/pkg/app_bg.wasm", b"\0asm\x01\0\0\0"),
            ],
        )
        .unwrap()
    }

    fn served(m: &WebManifest) -> BTreeMap<String, Option<Vec<u8>>> {
        BTreeMap::from([
            ("/".to_owned(), Some(b"<!doctype html>".to_vec())),
            ("/index.html".to_owned(), Some(b"<!doctype html>".to_vec())),
            ("/app.js".to_owned(), Some(b"import init from './pkg/app.js';".to_vec())),
            ("/pkg/app_bg.wasm".to_owned(), Some(b"\0asm\x01\0\0\0".to_vec())),
        ])
        .into_iter()
        .filter(|(p, _)| p == "/" || m.file(p).is_some())
        .collect()
    }

    #[test]
    fn signed_manifest_verifies_and_round_trips() {
        let m = manifest();
        let bytes = m.to_bytes();
        let sig = ManifestSignature::sign(&bytes, &key()).to_bytes();
        let verified = verify(&bytes, Some(&sig), &key().identity_key()).unwrap();
        assert_eq!(verified.manifest, m);
        assert_eq!(verified.fingerprint, fingerprint(&bytes));
        assert!(m.compare(&served(&m)).is_empty());
        assert_eq!(m.files[0].path, "/app.js", "files are sorted");
    }

    #[test]
    fn signature_failures_are_told_apart() {
        let bytes = manifest().to_bytes();
        let expected = key().identity_key();
        assert_eq!(verify(&bytes, None, &expected), Err(ManifestError::Unsigned));
        assert_eq!(verify(&bytes, Some(b" \n"), &expected), Err(ManifestError::Unsigned));
        let other = DeviceSecret::from_bytes(&[0x58; 32]).unwrap();
        let by_other = ManifestSignature::sign(&bytes, &other).to_bytes();
        assert_eq!(
            verify(&bytes, Some(&by_other), &expected),
            Err(ManifestError::WrongKey { found: other.identity_key().fingerprint() })
        );
        let sig = ManifestSignature::sign(&bytes, &key()).to_bytes();
        let mut changed = bytes.clone();
        changed[20] ^= 1;
        assert_eq!(verify(&changed, Some(&sig), &expected), Err(ManifestError::BadSignature));
        // A signature over the raw bytes without the domain tag is refused.
        let raw = ManifestSignature { key: expected, signature: key().sign(&bytes) };
        assert_eq!(
            verify(&bytes, Some(&raw.to_bytes()), &expected),
            Err(ManifestError::BadSignature)
        );
    }

    #[test]
    fn unknown_versions_and_non_canonical_bytes_are_refused() {
        let bytes = manifest().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let v2 = text.replacen("\"v\": 1", "\"v\": 2", 1);
        assert_eq!(WebManifest::parse(v2.as_bytes()), Err(ManifestError::UnknownVersion(2)));
        let sig = ManifestSignature::sign(v2.as_bytes(), &key()).to_bytes();
        assert_eq!(
            verify(v2.as_bytes(), Some(&sig), &key().identity_key()),
            Err(ManifestError::UnknownVersion(2))
        );
        let compact = serde_json::to_vec(&manifest()).unwrap();
        assert_eq!(
            WebManifest::parse(&compact),
            Err(ManifestError::Malformed("not in canonical form"))
        );
        let extra_field = text.replacen("\"v\": 1,", "\"v\": 1,\n  \"x\": 1,", 1);
        assert!(WebManifest::parse(extra_field.as_bytes()).is_err());
    }

    #[test]
    fn unsafe_paths_and_duplicates_are_refused() {
        for bad in ["", "index.html", "/../etc/passwd", "/a//b", "/a/./b", "/a?b", "/a b", "/ä"] {
            assert!(!is_safe_path(bad), "{bad}");
            let files = vec![ManifestFile::of("/index.html", b""), ManifestFile::of(bad, b"")];
            assert!(WebManifest::new("1", BTreeMap::new(), "/index.html", files).is_err());
        }
        let twice = vec![ManifestFile::of("/a.js", b"1"), ManifestFile::of("/a.js", b"2")];
        assert!(WebManifest::new("1", BTreeMap::new(), "/a.js", twice).is_err());
        let root_missing = vec![ManifestFile::of("/a.js", b"1")];
        assert!(WebManifest::new("1", BTreeMap::new(), "/index.html", root_missing).is_err());
        let own = vec![ManifestFile::of(MANIFEST_PATH, b"1"), ManifestFile::of("/i.html", b"")];
        assert!(WebManifest::new("1", BTreeMap::new(), "/i.html", own).is_err());
    }

    #[test]
    fn compare_names_each_difference() {
        let m = manifest();
        let mut s = served(&m);
        s.insert("/pkg/app_bg.wasm".into(), Some(b"\0asm\x01\0\0\x01".to_vec()));
        s.insert("/app.js".into(), Some(b"import init from './pkg/app.js'; evil()".to_vec()));
        s.insert("/index.html".into(), None);
        s.insert("/tracker.js".into(), Some(b"x".to_vec()));
        s.insert("/gone.css".into(), None);
        let d = m.compare(&s);
        assert_eq!(
            d,
            vec![
                Difference::SizeDiffers { path: "/app.js".into(), expected: 32, actual: 39 },
                Difference::Unlisted { path: "/gone.css".into() },
                Difference::Missing { path: "/index.html".into() },
                Difference::HashDiffers {
                    path: "/pkg/app_bg.wasm".into(),
                    expected: ManifestFile::of("", b"\0asm\x01\0\0\0").sha256,
                    actual: ManifestFile::of("", b"\0asm\x01\0\0\x01").sha256,
                },
                Difference::Extra { path: "/tracker.js".into() },
            ]
        );
        // A file never requested counts as missing; `/` is the root's bytes.
        let mut s = served(&m);
        s.remove("/app.js");
        s.insert("/".into(), Some(b"<!doctype html><script src=x>".to_vec()));
        let d = m.compare(&s);
        assert!(matches!(&d[0], Difference::SizeDiffers { path, .. } if path == "/"));
        assert_eq!(d[1], Difference::Missing { path: "/app.js".into() });
    }

    #[test]
    fn release_key_text_round_trips() {
        let k = key().identity_key();
        assert_eq!(parse_release_key(&release_key_text(&k)), Some(k));
        assert_eq!(parse_release_key(&hex(&k.0)), Some(k));
        assert_eq!(parse_release_key("abc"), None);
        assert_eq!(parse_release_key(&release_key_text(&RELEASE_KEY)), Some(RELEASE_KEY));
        // The committed public key file is the compiled-in key.
        let committed = include_str!("../../deploy/web-release-key.pub");
        assert_eq!(committed, release_key_text(&RELEASE_KEY));
    }

    proptest::proptest! {
        /// Whatever a server serves, reading it never panics.
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = WebManifest::parse(&bytes);
            let _ = ManifestSignature::parse(&bytes);
            let _ = verify(&bytes, Some(&bytes), &RELEASE_KEY);
            let _ = parse_release_key(&String::from_utf8_lossy(&bytes));
        }
    }

    /// The test vector of docs/PROTOCOL.md ("The web app's signed manifest").
    #[test]
    fn web_manifest_test_vector() {
        let bytes = manifest().to_bytes();
        let sig = ManifestSignature::sign(&bytes, &key());
        let ours = format!(
            "{}key={}\nsignature={}\nfingerprint={}\n",
            String::from_utf8(bytes.clone()).unwrap(),
            hex(&sig.key.0),
            hex(&sig.signature.0),
            fingerprint(&bytes)
        );
        if std::env::var_os("STADTBOTE_BLESS").is_some() {
            let path =
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web_manifest_vectors/manifest_v1.txt");
            std::fs::write(path, &ours).unwrap();
        }
        let expected = include_str!("../tests/web_manifest_vectors/manifest_v1.txt");
        assert_eq!(ours, expected, "update docs/PROTOCOL.md together with the vector");
    }
}
