//! `stadtbote web-sign` and `stadtbote web-verify`: signing the web app's
//! bundle, and checking from anywhere that a server serves exactly the
//! signed app (issue 17).
//!
//! Exit codes of `web-verify`: 0 the app is the signed one; 1 it differs,
//! its manifest does not verify or it was rolled back; 4 the server could
//! not be reached ([`EXIT_UNREACHABLE`]: not evidence of a change). With
//! `--watch` the check repeats and prints one line per check; with
//! `--checks N` it stops after N and exits with the last check's code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use stadtbote_cli::output::{format_utc, safe};
use stadtbote_cli::web_fetch::{FetchError, WebFetcher, WebUrl};
use stadtbote_cli::web_sign::{self, WebSignError};
use stadtbote_cli::web_verify::{self, Outcome, VerifyState};
use stadtbote_i18n::{Count, tr};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::web_manifest::{self, Difference, ManifestError, RELEASE_KEY};

use super::Exit;

/// Exit code when the server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 4;

/// `stadtbote web-sign` arguments.
pub struct SignArgs {
    /// The bundle directory.
    pub dir: Option<PathBuf>,
    /// The secret key file.
    pub key: Option<PathBuf>,
    /// Create a key here instead.
    pub new_key: Option<PathBuf>,
    /// The app version.
    pub app_version: Option<String>,
    /// Build information file.
    pub build_info: Option<PathBuf>,
    /// The page served at `/`.
    pub root: String,
    /// JSON output.
    pub json: bool,
}

/// `stadtbote web-verify` arguments.
pub struct VerifyArgs {
    /// The server.
    pub url: String,
    /// The expected key (hex or a `.pub` file).
    pub key: Option<String>,
    /// JSON output.
    pub json: bool,
    /// Seconds between checks.
    pub watch: Option<u64>,
    /// Stop after this many checks (with `--watch`).
    pub checks: Option<u64>,
    /// Where the newest verified version is remembered.
    pub state: Option<PathBuf>,
    /// `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
}

fn sign_error(error: WebSignError) -> anyhow::Error {
    let text = match &error {
        WebSignError::Io { path, source, .. } => {
            tr!("web-sign-io", path = path.display(), reason = source)
        }
        WebSignError::Exists(path) => tr!("web-sign-key-exists", path = path.display()),
        WebSignError::NotAKey(path) => tr!("web-sign-not-a-key", path = path.display()),
        WebSignError::KeyTooOpen(path) => tr!("web-sign-key-too-open", path = path.display()),
        WebSignError::BadFile { path, .. } => tr!("web-sign-bad-file", path = path.display()),
        WebSignError::BadBuildInfo(path) => tr!("web-sign-bad-build-info", path = path.display()),
        WebSignError::Manifest(e) => tr!("web-sign-manifest", reason = manifest_error_text(e)),
    };
    anyhow::anyhow!(text)
}

/// Runs `web-sign`.
pub fn sign(args: SignArgs) -> Result<()> {
    if let Some(path) = &args.new_key {
        let key = web_sign::new_key(path).map_err(sign_error)?;
        let public = web_sign::public_path(path);
        if args.json {
            let value = serde_json::json!({
                "secret_key_file": path.display().to_string(),
                "public_key_file": public.display().to_string(),
                "public_key": data_encoding::HEXLOWER.encode(&key.0),
                "key_fingerprint": key.fingerprint(),
            });
            println!("{value}");
        } else {
            println!("{}", tr!("web-sign-key-created", path = path.display()));
            println!("{}", tr!("web-sign-key-public", path = public.display()));
            println!("{}", tr!("label-fingerprint", value = key.fingerprint()));
            println!("{}", tr!("web-sign-key-keep-offline"));
        }
        return Ok(());
    }
    let (Some(dir), Some(key_path)) = (&args.dir, &args.key) else {
        bail!("{}", tr!("web-sign-usage"));
    };
    let key = web_sign::load_key(key_path).map_err(sign_error)?;
    let build = match &args.build_info {
        Some(path) => web_sign::read_build_info(path).map_err(sign_error)?,
        None => Default::default(),
    };
    // The version the build recorded (build-info.json's `version`), else ours.
    let version = args
        .app_version
        .clone()
        .or_else(|| build.get("version").cloned())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    let signed = web_sign::sign_dir(dir, &key, &version, build, &args.root).map_err(sign_error)?;
    if args.json {
        let value = serde_json::json!({
            "dir": dir.display().to_string(),
            "app_version": signed.manifest.app_version,
            "files": signed.manifest.files.len(),
            "fingerprint": signed.fingerprint,
            "key_fingerprint": signed.key.fingerprint(),
            "release_key": signed.key == RELEASE_KEY,
        });
        println!("{value}");
    } else {
        println!(
            "{}",
            tr!(
                "web-sign-signed",
                dir = dir.display(),
                count = Count(signed.manifest.files.len() as u64),
                version = safe(&signed.manifest.app_version)
            )
        );
        println!("{}", tr!("web-verify-label-fingerprint", value = signed.fingerprint));
        println!("{}", tr!("web-verify-label-key", value = key_label(&signed.key)));
    }
    Ok(())
}

/// Reads `--key`: 64 hex digits, or a file holding them (a `.pub` file).
fn expected_key(text: Option<&str>) -> Result<IdentityKey> {
    let Some(text) = text else { return Ok(RELEASE_KEY) };
    if let Some(key) = web_manifest::parse_release_key(text) {
        return Ok(key);
    }
    let content = std::fs::read_to_string(Path::new(text))
        .map_err(|_| anyhow::anyhow!(tr!("web-verify-bad-key", key = safe(text))))?;
    web_manifest::parse_release_key(&content)
        .ok_or_else(|| anyhow::anyhow!(tr!("web-verify-bad-key", key = safe(text))))
}

fn key_label(key: &IdentityKey) -> String {
    if *key == RELEASE_KEY {
        tr!("web-verify-key-release", fingerprint = key.fingerprint())
    } else {
        tr!("web-verify-key-own", fingerprint = key.fingerprint())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn read_state(path: &Path) -> Result<VerifyState> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!(tr!("web-verify-state-damaged", path = path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(VerifyState::default()),
        Err(e) => bail!("{}", tr!("web-sign-io", path = path.display(), reason = e)),
    }
}

fn write_state(path: &Path, state: &VerifyState) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(state)?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| anyhow::anyhow!(tr!("web-sign-io", path = path.display(), reason = e)))
}

/// Runs `web-verify`.
pub async fn verify(args: VerifyArgs) -> Result<()> {
    let Some(base) = WebUrl::parse(&args.url) else {
        bail!("{}", tr!("web-verify-bad-url", url = safe(&args.url)));
    };
    let base = base.with_path("/");
    let key = expected_key(args.key.as_deref())?;
    let fetcher = WebFetcher::new(args.ca_cert.as_deref())?;
    let mut state = match &args.state {
        Some(path) => read_state(path)?,
        None => VerifyState::default(),
    };
    let origin = base.origin();
    let mut done = 0u64;
    loop {
        let newest = state.newest.get(&origin).map(|s| s.app_version.clone());
        let outcome = web_verify::check(&fetcher, &base, &key, newest.as_deref()).await;
        let checked_at = now_ms();
        if let Outcome::Verified { manifest, .. } = &outcome {
            state.record(&origin, manifest);
            if let Some(path) = &args.state {
                write_state(path, &state)?;
            }
        }
        if args.json {
            println!("{}", outcome_json(&origin, &key, &outcome, checked_at));
        } else if args.watch.is_some() {
            println!("{}", watch_line(&outcome, checked_at));
        } else {
            print_text(&origin, &key, &outcome);
        }
        let code = match &outcome {
            Outcome::Verified { .. } => 0,
            Outcome::Unreachable(_) => EXIT_UNREACHABLE,
            _ => 1,
        };
        done += 1;
        let Some(seconds) = args.watch else { return exit(code) };
        if args.checks.is_some_and(|n| done >= n) {
            return exit(code);
        }
        tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
    }
}

fn exit(code: u8) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    Err(Exit { code, reason: "the web app did not verify" }.into())
}

fn difference_text(difference: &Difference) -> String {
    match difference {
        Difference::Missing { path } => tr!("web-verify-diff-missing", path = safe(path)),
        Difference::Extra { path } => tr!("web-verify-diff-extra", path = safe(path)),
        Difference::Unlisted { path } => tr!("web-verify-diff-unlisted", path = safe(path)),
        Difference::OtherOrigin { path } => tr!("web-verify-diff-other-origin", path = safe(path)),
        Difference::SizeDiffers { path, expected, actual } => tr!(
            "web-verify-diff-size",
            path = safe(path),
            expected = Count(*expected),
            actual = Count(*actual)
        ),
        Difference::HashDiffers { path, expected, actual } => {
            tr!("web-verify-diff-hash", path = safe(path), expected = expected, actual = actual)
        }
    }
}

fn manifest_error_text(error: &ManifestError) -> String {
    match error {
        ManifestError::Missing => tr!("web-verify-manifest-missing"),
        ManifestError::Unsigned => tr!("web-verify-manifest-unsigned"),
        ManifestError::WrongKey { found } => tr!("web-verify-manifest-wrong-key", found = found),
        ManifestError::BadSignature => tr!("web-verify-manifest-bad-signature"),
        ManifestError::UnknownVersion(v) => tr!("web-verify-manifest-unknown-version", version = v),
        ManifestError::Malformed(reason) => tr!("web-verify-manifest-malformed", reason = reason),
        _ => error.to_string(),
    }
}

fn fetch_error_text(error: &FetchError) -> String {
    match error {
        FetchError::Connect { url, reason } | FetchError::Read { url, reason } => {
            tr!("web-verify-net-connect", url = safe(url), reason = safe(reason))
        }
        FetchError::Tls { url, reason } => {
            tr!("web-verify-net-tls", url = safe(url), reason = safe(reason))
        }
        FetchError::TimedOut { url } => tr!("web-verify-net-timeout", url = safe(url)),
        FetchError::TooLarge { url } => tr!("web-verify-net-too-large", url = safe(url)),
    }
}

fn print_text(origin: &str, key: &IdentityKey, outcome: &Outcome) {
    match outcome {
        Outcome::Verified { manifest, checked } => {
            println!(
                "{}",
                tr!(
                    "web-verify-ok",
                    url = origin,
                    version = safe(&manifest.manifest.app_version),
                    count = Count(*checked as u64)
                )
            );
            println!("{}", tr!("web-verify-label-fingerprint", value = &manifest.fingerprint));
            println!("{}", tr!("web-verify-label-key", value = key_label(&manifest.key)));
            for (name, value) in &manifest.manifest.build {
                println!(
                    "{}",
                    tr!("web-verify-label-build", name = safe(name), value = safe(value))
                );
            }
        }
        Outcome::Differs { manifest, differences } => {
            eprintln!(
                "{}",
                tr!(
                    "web-verify-differs",
                    url = origin,
                    version = safe(&manifest.manifest.app_version),
                    fingerprint = &manifest.fingerprint,
                    count = Count(differences.len() as u64)
                )
            );
            for difference in differences {
                eprintln!("  {}", difference_text(difference));
            }
        }
        Outcome::RolledBack { manifest, newest_seen } => eprintln!(
            "{}",
            tr!(
                "web-verify-rolled-back",
                url = origin,
                version = safe(&manifest.manifest.app_version),
                newest = safe(newest_seen)
            )
        ),
        Outcome::Invalid(error) => eprintln!(
            "{}",
            tr!(
                "web-verify-invalid",
                url = origin,
                reason = manifest_error_text(error),
                key = key_label(key)
            )
        ),
        Outcome::Unreachable(error) => {
            eprintln!("{}", tr!("web-verify-unreachable", reason = fetch_error_text(error)))
        }
    }
}

/// One line per check: time, OK/FAIL/NETWORK (the same in every
/// language, for scripts and log filters), fingerprint, and what failed.
fn watch_line(outcome: &Outcome, checked_at: u64) -> String {
    let time = format_utc(checked_at);
    match outcome {
        Outcome::Verified { manifest, .. } => tr!(
            "web-verify-watch-ok",
            time = time,
            fingerprint = &manifest.fingerprint,
            version = safe(&manifest.manifest.app_version)
        ),
        Outcome::Differs { manifest, differences } => {
            let first = differences.first().map(difference_text).unwrap_or_default();
            tr!(
                "web-verify-watch-differs",
                time = time,
                fingerprint = &manifest.fingerprint,
                count = Count(differences.len() as u64),
                first = first
            )
        }
        Outcome::RolledBack { manifest, newest_seen } => tr!(
            "web-verify-watch-rolled-back",
            time = time,
            fingerprint = &manifest.fingerprint,
            version = safe(&manifest.manifest.app_version),
            newest = safe(newest_seen)
        ),
        Outcome::Invalid(error) => {
            tr!("web-verify-watch-invalid", time = time, reason = manifest_error_text(error))
        }
        Outcome::Unreachable(error) => {
            tr!("web-verify-watch-unreachable", time = time, reason = fetch_error_text(error))
        }
    }
}

fn difference_json(difference: &Difference) -> serde_json::Value {
    let mut value = serde_json::json!({ "kind": difference.kind(), "path": difference.path() });
    match difference {
        Difference::SizeDiffers { expected, actual, .. } => {
            value["expected_size"] = (*expected).into();
            value["actual_size"] = (*actual).into();
        }
        Difference::HashDiffers { expected, actual, .. } => {
            value["expected_sha256"] = expected.clone().into();
            value["actual_sha256"] = actual.clone().into();
        }
        _ => {}
    }
    value
}

/// The stable JSON of one check (English, fields only ever added).
fn outcome_json(origin: &str, key: &IdentityKey, outcome: &Outcome, checked_at: u64) -> String {
    let mut value = serde_json::json!({
        "url": origin,
        "status": outcome.status(),
        "ok": outcome.is_ok(),
        "checked_at": checked_at,
        "expected_key_fingerprint": key.fingerprint(),
        "expected_release_key": *key == RELEASE_KEY,
        "differences": [],
    });
    if let Some(manifest) = outcome.manifest() {
        value["app_version"] = manifest.manifest.app_version.clone().into();
        value["fingerprint"] = manifest.fingerprint.clone().into();
        value["key_fingerprint"] = manifest.key.fingerprint().into();
        value["build"] = serde_json::to_value(&manifest.manifest.build).unwrap_or_default();
    }
    match outcome {
        Outcome::Verified { checked, .. } => value["files_checked"] = (*checked).into(),
        Outcome::Differs { differences, .. } => {
            value["differences"] = differences.iter().map(difference_json).collect();
        }
        Outcome::RolledBack { newest_seen, .. } => {
            value["newest_seen"] = newest_seen.clone().into();
        }
        Outcome::Invalid(error) => {
            let kind = match error {
                ManifestError::Missing => "manifest_missing",
                ManifestError::Unsigned => "unsigned",
                ManifestError::WrongKey { .. } => "wrong_key",
                ManifestError::BadSignature => "bad_signature",
                ManifestError::UnknownVersion(_) => "unknown_version",
                _ => "malformed",
            };
            value["error"] = serde_json::json!({ "kind": kind, "message": error.to_string() });
            if let ManifestError::WrongKey { found } = error {
                value["key_fingerprint"] = found.clone().into();
            }
        }
        Outcome::Unreachable(error) => {
            value["error"] = serde_json::json!({ "kind": "network", "message": error.to_string() });
        }
    }
    stadtbote_cli::output::safe_json(&value.to_string()).into_owned()
}
