//! The app's start-up check of itself (issue 17, item 4), the pure part:
//! does the signed manifest the server serves verify against the key
//! pinned into this bundle, and do the files this page runs match it?
//!
//! The browser side ([`crate::startup_check`]) fetches the manifest, its
//! signature and the files the page runs (the wasm's exact instantiated
//! bytes, the HTML, JavaScript and CSS from the URLs and cache the page
//! used, and the service worker) and hands them to [`check`]; the result
//! drives the warning banner on every screen and the About page.
//!
//! The pinned key: `scripts/build-web.sh` compiles the public half of the
//! release key into the bundle (`STADTBOTE_WEB_PINNED_KEY`, from
//! `deploy/web-release-key.pub` by default, or the town's own key given
//! as `STADTBOTE_WEB_RELEASE_PUB`); a build without it (the native unit
//! tests) pins the project's [`RELEASE_KEY`]. A town that builds its own
//! app therefore pins its own key, and the page says whose key it is.
//!
//! What this cannot do: a fully malicious server serves this checking
//! code too and can change it; `stadtbote web-verify` from another
//! machine remains the real check (docs/PRIVACY.md).

use std::collections::BTreeMap;

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::web_manifest::{
    self, Difference, ManifestError, ManifestFile, RELEASE_KEY, VerifiedManifest,
};

/// The release key's public half as `build-web.sh` compiled it in.
const PINNED_KEY_TEXT: Option<&str> = option_env!("STADTBOTE_WEB_PINNED_KEY");

/// The key the app expects its manifest to be signed with.
pub fn pinned_key() -> IdentityKey {
    PINNED_KEY_TEXT.and_then(web_manifest::parse_release_key).unwrap_or(RELEASE_KEY)
}

/// Whose key signed the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The Stadtbote project's release key.
    Project,
    /// Another key: the operator's (a town that builds its own app).
    Operator,
}

impl Signer {
    /// Who `key` is.
    pub fn of(key: &IdentityKey) -> Signer {
        if *key == RELEASE_KEY { Signer::Project } else { Signer::Operator }
    }
}

/// What the About page shows of a verified manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The manifest's app version.
    pub version: String,
    /// The manifest's fingerprint ("Prüfsumme"), as `stadtbote web-verify`
    /// prints it.
    pub fingerprint: String,
    /// Whose key signed it.
    pub signer: Signer,
    /// That key's fingerprint.
    pub key_fingerprint: String,
}

impl Release {
    fn of(verified: &VerifiedManifest) -> Release {
        Release {
            version: verified.manifest.app_version.clone(),
            fingerprint: verified.fingerprint.clone(),
            signer: Signer::of(&verified.key),
            key_fingerprint: verified.key.fingerprint(),
        }
    }
}

/// The outcome of the start-up check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Every file the page runs matches the manifest signed by the pinned key.
    Genuine(Release),
    /// The manifest verifies, but files the page runs differ from it.
    Differs {
        /// The manifest.
        release: Release,
        /// What differs, sorted by path.
        differences: Vec<Difference>,
    },
    /// The manifest is missing, unsigned, signed by another key or invalid.
    Invalid(ManifestError),
}

impl Report {
    /// Whether the page must warn.
    pub fn warns(&self) -> bool {
        !matches!(self, Report::Genuine(_))
    }

    /// The verified manifest's facts, when it verified.
    pub fn release(&self) -> Option<&Release> {
        match self {
            Report::Genuine(release) | Report::Differs { release, .. } => Some(release),
            Report::Invalid(_) => None,
        }
    }
}

/// Checks what the page runs. `manifest` and `signature` are what the
/// server served at the fixed paths (`None`: not served); `files` maps each
/// path the page runs (`/` for the page itself) to the bytes it ran, or
/// `None` when it could not be fetched again. Unlike
/// [`web_manifest::WebManifest::compare`], files the manifest lists but
/// the page does not run (icons, say) are not asked for here.
pub fn check(
    manifest: Option<&[u8]>,
    signature: Option<&[u8]>,
    key: &IdentityKey,
    files: &BTreeMap<String, Option<Vec<u8>>>,
) -> Report {
    let Some(manifest) = manifest else { return Report::Invalid(ManifestError::Missing) };
    let verified = match web_manifest::verify(manifest, signature, key) {
        Ok(verified) => verified,
        Err(error) => return Report::Invalid(error),
    };
    let mut differences = Vec::new();
    for (path, bytes) in files {
        let listed = if path == "/" {
            verified.manifest.file(&verified.manifest.root)
        } else {
            verified.manifest.file(path)
        };
        let Some(expected) = listed else {
            differences.push(Difference::Extra { path: path.clone() });
            continue;
        };
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
    let release = Release::of(&verified);
    if differences.is_empty() {
        Report::Genuine(release)
    } else {
        Report::Differs { release, differences }
    }
}

#[cfg(test)]
mod tests {
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::web_manifest::{ManifestSignature, WebManifest};

    use super::*;

    fn signed(secret: &DeviceSecret) -> (Vec<u8>, Vec<u8>) {
        let files = vec![
            ManifestFile::of("/index.html", b"<!doctype html>"),
            ManifestFile::of("/app.js", b"import x"),
            ManifestFile::of("/icon-192.png", b"png"),
        ];
        let manifest = WebManifest::new("0.9.0", BTreeMap::new(), "/index.html", files).unwrap();
        let bytes = manifest.to_bytes();
        let signature = ManifestSignature::sign(&bytes, secret).to_bytes();
        (bytes, signature)
    }

    fn files(js: &[u8]) -> BTreeMap<String, Option<Vec<u8>>> {
        BTreeMap::from([
            ("/".to_owned(), Some(b"<!doctype html>".to_vec())),
            ("/app.js".to_owned(), Some(js.to_vec())),
        ])
    }

    #[test]
    fn the_genuine_files_pass_and_name_their_signer() {
        let secret = DeviceSecret::from_bytes(&[7; 32]).unwrap();
        let key = secret.identity_key();
        let (manifest, signature) = signed(&secret);
        let report = check(Some(&manifest), Some(&signature), &key, &files(b"import x"));
        let Report::Genuine(release) = &report else { panic!("{report:?}") };
        assert!(!report.warns());
        assert_eq!(release.version, "0.9.0");
        assert_eq!(release.fingerprint, web_manifest::fingerprint(&manifest));
        assert_eq!(release.signer, Signer::Operator);
        assert_eq!(release.key_fingerprint, key.fingerprint());
        assert_eq!(Signer::of(&RELEASE_KEY), Signer::Project);
    }

    #[test]
    fn a_changed_missing_or_unlisted_file_is_named() {
        let secret = DeviceSecret::from_bytes(&[7; 32]).unwrap();
        let key = secret.identity_key();
        let (manifest, signature) = signed(&secret);
        let mut served = files(b"import y");
        served.insert("/evil.js".to_owned(), Some(b"x".to_vec()));
        let report = check(Some(&manifest), Some(&signature), &key, &served);
        let Report::Differs { differences, .. } = &report else { panic!("{report:?}") };
        assert!(report.warns());
        let named: Vec<_> = differences.iter().map(|d| (d.path(), d.kind())).collect();
        assert_eq!(named, [("/app.js", "hash_differs"), ("/evil.js", "extra")]);
        served = files(b"import x");
        served.insert("/app.js".to_owned(), None);
        let report = check(Some(&manifest), Some(&signature), &key, &served);
        assert!(matches!(&report, Report::Differs { differences, .. }
            if differences == &[Difference::Missing { path: "/app.js".into() }]));
    }

    #[test]
    fn another_key_a_bad_or_missing_signature_warn() {
        let secret = DeviceSecret::from_bytes(&[7; 32]).unwrap();
        let (manifest, signature) = signed(&secret);
        let ok = files(b"import x");
        let report = check(Some(&manifest), Some(&signature), &RELEASE_KEY, &ok);
        assert!(matches!(report, Report::Invalid(ManifestError::WrongKey { .. })), "{report:?}");
        let report = check(Some(&manifest), None, &secret.identity_key(), &ok);
        assert_eq!(report, Report::Invalid(ManifestError::Unsigned));
        let report = check(None, Some(&signature), &secret.identity_key(), &ok);
        assert_eq!(report, Report::Invalid(ManifestError::Missing));
        let mut changed = manifest.clone();
        changed[20] ^= 1;
        let report = check(Some(&changed), Some(&signature), &secret.identity_key(), &ok);
        assert_eq!(report, Report::Invalid(ManifestError::BadSignature));
    }

    #[test]
    fn this_build_pins_the_committed_release_key() {
        // build-web.sh compiles deploy/web-release-key.pub in (the
        // project's key); a build without it pins the same key.
        let text = include_str!("../../deploy/web-release-key.pub");
        assert_eq!(web_manifest::parse_release_key(text), Some(RELEASE_KEY));
        match PINNED_KEY_TEXT {
            Some(text) => assert_eq!(web_manifest::parse_release_key(text), Some(pinned_key())),
            None => assert_eq!(pinned_key(), RELEASE_KEY),
        }
    }
}
