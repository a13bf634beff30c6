//! The start-up check of the web app the server is about to serve: its
//! files (built in, or `web_dir`) must match the manifest among them
//! (`/stadtbote-web-manifest.json`), signed by `web_release_key`
//! (`/stadtbote-web-manifest.sig`).
//!
//! What a municipality's IT expects: a server that does not start, with one
//! clear message, rather than one that serves a partly copied or unsigned
//! app to citizens while a log line nobody reads says so. Developers of
//! the app set `web_require_signed = false` and get a warning at every
//! start instead. This catches accidents on the server; it does not stop
//! whoever controls the server (they control this check too) — that is
//! what `stadtbote web-verify` from another machine is for.

use std::collections::BTreeMap;

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::web_manifest::{
    self, Difference, MANIFEST_PATH, ManifestError, SIGNATURE_PATH, VerifiedManifest,
};

use crate::webapp::WebApp;

/// How many differences the error message lists (the rest are counted).
const LISTED: usize = 10;

/// Why the web app failed its start-up check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebIntegrityError {
    /// The manifest is missing, unsigned, signed by another key or malformed.
    #[error(
        "the web app's manifest does not verify against web_release_key {key}: {error}. {REMEDY}"
    )]
    Manifest {
        /// Fingerprint of the configured key.
        key: String,
        /// What is wrong.
        error: ManifestError,
    },
    /// The files differ from the signed manifest.
    #[error(
        "the web app's files differ from its signed manifest (version {version}, fingerprint \
         {fingerprint}): {}. {REMEDY}",
        list(differences)
    )]
    Differs {
        /// The manifest's app version.
        version: String,
        /// The manifest's fingerprint.
        fingerprint: String,
        /// Every difference.
        differences: Vec<Difference>,
    },
}

const REMEDY: &str = "Serve a complete, signed bundle (the built-in one, or a web_dir signed \
                      with `stadtbote web-sign DIR --key FILE` and web_release_key set to that \
                      key's public half); web_require_signed = false serves it anyway (development \
                      only)";

fn list(differences: &[Difference]) -> String {
    let mut parts: Vec<String> = differences
        .iter()
        .take(LISTED)
        .map(|d| match d {
            Difference::Missing { path } => format!("{path} is missing"),
            Difference::Extra { path } | Difference::Unlisted { path } => {
                format!("{path} is not in the manifest")
            }
            Difference::OtherOrigin { path } => format!("{path} is on another origin"),
            Difference::SizeDiffers { path, expected, actual } => {
                format!("{path} has {actual} bytes, the manifest says {expected}")
            }
            Difference::HashDiffers { path, .. } => format!("{path} has other content"),
        })
        .collect();
    if differences.len() > LISTED {
        parts.push(format!("and {} more", differences.len() - LISTED));
    }
    parts.join("; ")
}

/// Checks `app` against its manifest and `key`. Every file the server
/// would serve must be listed (besides the manifest and signature), every
/// listed file must be there with its size and SHA-256, and `/` is the
/// manifest's root page.
pub fn check(app: &WebApp, key: &IdentityKey) -> Result<VerifiedManifest, WebIntegrityError> {
    let file = |path: &str| app.get(path).map(|f| f.body().to_vec());
    let manifest_error = |error| WebIntegrityError::Manifest { key: key.fingerprint(), error };
    let manifest_bytes =
        file(MANIFEST_PATH).ok_or_else(|| manifest_error(ManifestError::Missing))?;
    let signature = file(SIGNATURE_PATH);
    let verified =
        web_manifest::verify(&manifest_bytes, signature.as_deref(), key).map_err(manifest_error)?;
    let mut served: BTreeMap<String, Option<Vec<u8>>> =
        app.names().map(|name| (format!("/{name}"), file(name))).collect();
    served.insert("/".to_owned(), file("/"));
    let differences = verified.manifest.compare(&served);
    if differences.is_empty() {
        Ok(verified)
    } else {
        Err(WebIntegrityError::Differs {
            version: verified.manifest.app_version.clone(),
            fingerprint: verified.fingerprint.clone(),
            differences,
        })
    }
}

/// The start-up decision: the verified manifest (logged), or the error
/// when `require` is set, or a loud warning when it is not.
pub fn enforce(
    app: &WebApp,
    key: &IdentityKey,
    require: bool,
) -> Result<Option<VerifiedManifest>, WebIntegrityError> {
    match check(app, key) {
        Ok(verified) => {
            tracing::info!(
                version = %verified.manifest.app_version,
                fingerprint = %verified.fingerprint,
                key = %key.fingerprint(),
                "web app verified against its signed manifest"
            );
            Ok(Some(verified))
        }
        Err(error) if require => Err(error),
        Err(error) => {
            tracing::warn!(
                "SERVING AN UNVERIFIED WEB APP (web_require_signed = false): {error}; \
                 citizens' browsers run code nobody signed"
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::web_manifest::{
        ManifestFile, ManifestSignature, RELEASE_KEY, WebManifest,
    };

    use super::*;

    /// The bundle built into this binary is signed by the release key and
    /// complete. When this fails after web/dist changed: sign it again
    /// (`stadtbote web-sign web/dist --key RELEASE-KEY --build-info
    /// web/dist/build-info.json`), or the server refuses to start.
    #[test]
    fn the_embedded_bundle_is_signed_by_the_release_key() {
        let verified = check(&WebApp::embedded(), &RELEASE_KEY).unwrap();
        assert!(verified.manifest.file("/index.html").is_some());
    }

    fn dir_app(files: &[(&str, &[u8])], key: &DeviceSecret, sign: &[&str]) -> WebApp {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let listed = files
            .iter()
            .filter(|(name, _)| sign.contains(name))
            .map(|(name, bytes)| ManifestFile::of(&format!("/{name}"), bytes))
            .collect();
        let manifest =
            WebManifest::new("1.0.0", BTreeMap::new(), "/index.html", listed).unwrap().to_bytes();
        std::fs::write(dir.path().join("stadtbote-web-manifest.json"), &manifest).unwrap();
        let sig = ManifestSignature::sign(&manifest, key).to_bytes();
        std::fs::write(dir.path().join("stadtbote-web-manifest.sig"), sig).unwrap();
        WebApp::from_dir(dir.path()).unwrap()
    }

    #[test]
    fn an_extra_file_a_changed_file_or_another_key_fails_the_check() {
        let key = DeviceSecret::from_bytes(&[9; 32]).unwrap();
        let files: &[(&str, &[u8])] = &[("index.html", b"<p>"), ("app.js", b"1"), ("x.js", b"2")];
        let app = dir_app(files, &key, &["index.html", "app.js", "x.js"]);
        assert!(check(&app, &key.identity_key()).is_ok());
        let error = check(&app, &RELEASE_KEY).unwrap_err();
        assert!(matches!(
            error,
            WebIntegrityError::Manifest { error: ManifestError::WrongKey { .. }, .. }
        ));
        assert!(error.to_string().contains("web_release_key"), "{error}");

        let app = dir_app(files, &key, &["index.html", "app.js"]);
        let error = check(&app, &key.identity_key()).unwrap_err();
        assert!(error.to_string().contains("/x.js is not in the manifest"), "{error}");
        // Served anyway when not required, refused when required.
        assert!(enforce(&app, &key.identity_key(), false).unwrap().is_none());
        assert!(enforce(&app, &key.identity_key(), true).is_err());
    }
}
