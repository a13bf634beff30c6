//! `stadtbote web-sign`: the release manager's side of the web app's
//! signed manifest — a release key (created once, kept offline), and the
//! manifest of a bundle directory signed with it.
//!
//! The secret key file holds one line, `stadtbote-web-release-secret-v1`
//! and 64 hex digits, and is created with mode 0600 (like the org key
//! export of [`crate::passphrase`], but without a passphrase: it is meant
//! for an offline machine or a CI secret); a file readable by others is
//! refused, as ssh does. Its public half goes next to it as `FILE.pub`
//! (the `web_release_key` a town configures).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use stadtbote_protocol::auth::{DeviceSecret, IdentityKey};
use stadtbote_protocol::web_manifest::{
    self, MANIFEST_PATH, ManifestError, ManifestFile, ManifestSignature, SIGNATURE_PATH,
    WebManifest,
};
use zeroize::Zeroizing;

/// The label of the secret key file's line.
pub const SECRET_KEY_LABEL: &str = "stadtbote-web-release-secret-v1";

/// Why signing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WebSignError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// `--new-key` would overwrite an existing file.
    #[error("{0} already exists; a release key is never overwritten")]
    Exists(PathBuf),
    /// The key file is not a release secret key.
    #[error("{0} is not a web release secret key")]
    NotAKey(PathBuf),
    /// The key file can be read by other users.
    #[error("{0} can be read by other users; run chmod 600 on it")]
    KeyTooOpen(PathBuf),
    /// A file in the bundle cannot be listed in a manifest.
    #[error("{path} cannot be served as part of the app: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why (symbolic link, unsafe name).
        reason: &'static str,
    },
    /// The build information file is not `name=value` lines or a JSON object of strings.
    #[error("{0} is not build information (JSON object of strings, or name=value lines)")]
    BadBuildInfo(PathBuf),
    /// The manifest would break a rule (no root page, too many files…).
    #[error("the manifest cannot be made: {0}")]
    Manifest(ManifestError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WebSignError {
    let path = path.to_path_buf();
    move |source| WebSignError::Io { action, path, source }
}

/// Creates a new release key: the secret at `path` (mode 0600, never
/// overwriting), the public half at `path.pub`. Returns the public key.
pub fn new_key(path: &Path) -> Result<IdentityKey, WebSignError> {
    let public_path = public_path(path);
    for p in [path, public_path.as_path()] {
        if p.exists() {
            return Err(WebSignError::Exists(p.to_path_buf()));
        }
    }
    let secret = DeviceSecret::generate();
    let line = Zeroizing::new(format!(
        "{SECRET_KEY_LABEL} {}\n",
        data_encoding::HEXLOWER.encode(secret.to_bytes().as_slice())
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io("create", path))?;
    file.write_all(line.as_bytes()).map_err(io("write", path))?;
    file.sync_all().map_err(io("sync", path))?;
    let key = secret.identity_key();
    std::fs::write(&public_path, web_manifest::release_key_text(&key))
        .map_err(io("write", &public_path))?;
    Ok(key)
}

/// Where the public half of the key at `path` is written.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Reads a release secret key, refusing a file others can read.
pub fn load_key(path: &Path) -> Result<DeviceSecret, WebSignError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(io("read", path))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(WebSignError::KeyTooOpen(path.to_path_buf()));
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io("read", path))?);
    let hex = text
        .trim()
        .strip_prefix(SECRET_KEY_LABEL)
        .map(str::trim)
        .ok_or_else(|| WebSignError::NotAKey(path.to_path_buf()))?;
    let bytes = Zeroizing::new(
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| WebSignError::NotAKey(path.to_path_buf()))?,
    );
    DeviceSecret::from_bytes(&bytes).map_err(|_| WebSignError::NotAKey(path.to_path_buf()))
}

/// Reads build information: a JSON object of strings, or `name=value`
/// lines (`#` comments and blank lines ignored).
pub fn read_build_info(path: &Path) -> Result<BTreeMap<String, String>, WebSignError> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    let bad = || WebSignError::BadBuildInfo(path.to_path_buf());
    if text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let object = value.as_object().ok_or_else(bad)?;
        return object
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                serde_json::Value::Number(n) => Ok((k.clone(), n.to_string())),
                _ => Err(bad()),
            })
            .collect();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(bad)
        })
        .collect()
}

/// The manifest of the bundle in `dir`: every regular file below it
/// (except the manifest and signature themselves), served at `/` + its
/// relative path; `root` is the page served at `/`.
pub fn manifest_of_dir(
    dir: &Path,
    app_version: &str,
    build: BTreeMap<String, String>,
    root: &str,
) -> Result<WebManifest, WebSignError> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    WebManifest::new(app_version, build, root, files).map_err(WebSignError::Manifest)
}

fn collect(top: &Path, dir: &Path, out: &mut Vec<ManifestFile>) -> Result<(), WebSignError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io("read", dir))?
        .collect::<Result<_, _>>()
        .map_err(io("read", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io("read", &path))?;
        if kind.is_symlink() {
            return Err(WebSignError::BadFile { path, reason: "it is a symbolic link" });
        }
        if kind.is_dir() {
            collect(top, &path, out)?;
            continue;
        }
        let relative = path.strip_prefix(top).unwrap_or(&path);
        let Some(relative) = relative.to_str() else {
            return Err(WebSignError::BadFile { path, reason: "its name is not UTF-8" });
        };
        let served = format!("/{}", relative.replace(std::path::MAIN_SEPARATOR, "/"));
        if web_manifest::is_reserved(&served) {
            continue;
        }
        if !web_manifest::is_safe_path(&served) {
            return Err(WebSignError::BadFile {
                path,
                reason: "its name has characters a manifest does not allow",
            });
        }
        let bytes = std::fs::read(&path).map_err(io("read", &path))?;
        out.push(ManifestFile::of(&served, &bytes));
    }
    Ok(())
}

/// What [`sign_dir`] wrote.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The manifest.
    pub manifest: WebManifest,
    /// Its fingerprint ("Prüfsumme").
    pub fingerprint: String,
    /// The key that signed.
    pub key: IdentityKey,
}

/// Writes the manifest of `dir` and its signature by `key` into `dir`
/// (at the names the server serves them under).
pub fn sign_dir(
    dir: &Path,
    key: &DeviceSecret,
    app_version: &str,
    build: BTreeMap<String, String>,
    root: &str,
) -> Result<Signed, WebSignError> {
    let manifest = manifest_of_dir(dir, app_version, build, root)?;
    let bytes = manifest.to_bytes();
    let signature = ManifestSignature::sign(&bytes, key);
    let manifest_file = dir.join(MANIFEST_PATH.trim_start_matches('/'));
    let signature_file = dir.join(SIGNATURE_PATH.trim_start_matches('/'));
    std::fs::write(&manifest_file, &bytes).map_err(io("write", &manifest_file))?;
    std::fs::write(&signature_file, signature.to_bytes()).map_err(io("write", &signature_file))?;
    Ok(Signed { fingerprint: web_manifest::fingerprint(&bytes), manifest, key: key.identity_key() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_directory_verifies_and_the_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("release.key");
        let public = new_key(&key_path).unwrap();
        assert!(matches!(new_key(&key_path), Err(WebSignError::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pub_text = std::fs::read_to_string(public_path(&key_path)).unwrap();
        assert_eq!(web_manifest::parse_release_key(&pub_text), Some(public));
        let key = load_key(&key_path).unwrap();

        let bundle = dir.path().join("dist");
        std::fs::create_dir_all(bundle.join("pkg")).unwrap();
        std::fs::write(bundle.join("index.html"), b"<script src=app.js></script>").unwrap();
        std::fs::write(bundle.join("app.js"), b"1").unwrap();
        std::fs::write(bundle.join("pkg/app_bg.wasm"), b"\0asm").unwrap();
        let build = BTreeMap::from([("rustc".to_owned(), "1.96.0".to_owned())]);
        let signed = sign_dir(&bundle, &key, "0.8.0", build.clone(), "/index.html").unwrap();
        let paths: Vec<_> = signed.manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/app.js", "/index.html", "/pkg/app_bg.wasm"]);
        // Signing again ignores the manifest and signature it wrote.
        let again = sign_dir(&bundle, &key, "0.8.0", build, "/index.html").unwrap();
        assert_eq!(again.fingerprint, signed.fingerprint);
        let manifest = std::fs::read(bundle.join("stadtbote-web-manifest.json")).unwrap();
        let sig = std::fs::read(bundle.join("stadtbote-web-manifest.sig")).unwrap();
        let verified = web_manifest::verify(&manifest, Some(&sig), &public).unwrap();
        assert_eq!(verified.fingerprint, signed.fingerprint);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load_key(&key_path), Err(WebSignError::KeyTooOpen(_))));
        }
    }

    #[test]
    fn build_info_reads_json_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("b.json");
        std::fs::write(&json, r#"{"rustc": "rustc 1.96.0", "wasm-bindgen": "0.2.130"}"#).unwrap();
        assert_eq!(read_build_info(&json).unwrap()["wasm-bindgen"], "0.2.130");
        let lines = dir.path().join("b.txt");
        std::fs::write(&lines, "# build\nrustc = rustc 1.96.0\n\n").unwrap();
        assert_eq!(read_build_info(&lines).unwrap()["rustc"], "rustc 1.96.0");
        std::fs::write(&lines, "nonsense").unwrap();
        assert!(read_build_info(&lines).is_err());
    }
}
