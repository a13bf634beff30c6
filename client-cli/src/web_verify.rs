//! `stadtbote web-verify`'s check: does a server serve exactly the web
//! app its signed manifest lists?
//!
//! One check fetches the manifest and its signature from their fixed
//! paths, verifies the signature under the expected release key, then
//! fetches what a browser would: the page at `/`, everything it and the
//! files it loads reference ([`crate::web_refs`]), and every file the
//! manifest lists; and compares all of it byte for byte
//! ([`WebManifest::compare`]). The outcome keeps three things apart: the
//! app verified, it differs (or its manifest does not verify), or the
//! server could not be reached — a network failure is not evidence of
//! tampering and is reported (and exits) differently.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::web_manifest::{
    self, Difference, MANIFEST_PATH, ManifestError, SIGNATURE_PATH, VerifiedManifest,
};

use crate::web_fetch::{FetchError, WebFetcher, WebUrl};
use crate::web_refs::{self, FileKind, Resolved};

/// Paths fetched beyond the manifest's files at most (references the
/// manifest does not list); a server cannot make a check run forever.
pub const MAX_EXTRA_FETCHES: usize = 256;

/// Bytes fetched in one check at most.
pub const MAX_TOTAL_BYTES: usize = 512 << 20;

/// The result of one check.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Everything served matches the signed manifest.
    Verified {
        /// The manifest.
        manifest: VerifiedManifest,
        /// How many paths were compared.
        checked: usize,
    },
    /// The manifest verifies, but what is served differs from it.
    Differs {
        /// The manifest.
        manifest: VerifiedManifest,
        /// Every difference, sorted by path.
        differences: Vec<Difference>,
    },
    /// The manifest verifies, but it is older than one seen before.
    RolledBack {
        /// The manifest served now.
        manifest: VerifiedManifest,
        /// The newest version seen before.
        newest_seen: String,
    },
    /// The manifest or its signature is missing or does not verify.
    Invalid(ManifestError),
    /// The server could not be reached or broke off (not evidence of a
    /// change).
    Unreachable(FetchError),
}

impl Outcome {
    /// Whether the served app is the signed one.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Verified { .. })
    }

    /// The stable name of the outcome for JSON (`ok`, `differs`,
    /// `rolled_back`, `invalid_manifest`, `unreachable`).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Verified { .. } => "ok",
            Outcome::Differs { .. } => "differs",
            Outcome::RolledBack { .. } => "rolled_back",
            Outcome::Invalid(_) => "invalid_manifest",
            Outcome::Unreachable(_) => "unreachable",
        }
    }

    /// The verified manifest, when there is one.
    pub fn manifest(&self) -> Option<&VerifiedManifest> {
        match self {
            Outcome::Verified { manifest, .. }
            | Outcome::Differs { manifest, .. }
            | Outcome::RolledBack { manifest, .. } => Some(manifest),
            Outcome::Invalid(_) | Outcome::Unreachable(_) => None,
        }
    }
}

enum Fetched {
    Body(Vec<u8>),
    NotServed,
}

struct Budget {
    bytes: usize,
}

async fn fetch(
    fetcher: &WebFetcher,
    base: &WebUrl,
    path: &str,
    budget: &mut Budget,
) -> Result<Fetched, FetchError> {
    let url = base.with_path(path);
    let response = fetcher.get(&url).await?;
    budget.bytes = budget.bytes.saturating_add(response.body.len());
    if budget.bytes > MAX_TOTAL_BYTES {
        return Err(FetchError::TooLarge { url: url.to_string() });
    }
    match response.status {
        200 => Ok(Fetched::Body(response.body)),
        // A server that is starting, stopping or overloaded is not
        // serving something else: that is a network-level failure.
        500..=599 | 429 => Err(FetchError::Read {
            url: url.to_string(),
            reason: format!("HTTP status {}", response.status),
        }),
        _ => Ok(Fetched::NotServed),
    }
}

/// Runs one check of the app served at `base`'s origin against `key`.
/// `newest_seen` is the newest app version a previous check verified (a
/// lower one now is a rollback).
pub async fn check(
    fetcher: &WebFetcher,
    base: &WebUrl,
    key: &IdentityKey,
    newest_seen: Option<&str>,
) -> Outcome {
    match run(fetcher, base, key, newest_seen).await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Unreachable(error),
    }
}

async fn run(
    fetcher: &WebFetcher,
    base: &WebUrl,
    key: &IdentityKey,
    newest_seen: Option<&str>,
) -> Result<Outcome, FetchError> {
    let mut budget = Budget { bytes: 0 };
    let manifest_bytes = match fetch(fetcher, base, MANIFEST_PATH, &mut budget).await? {
        Fetched::Body(bytes) => bytes,
        Fetched::NotServed => return Ok(Outcome::Invalid(ManifestError::Missing)),
    };
    let signature = match fetch(fetcher, base, SIGNATURE_PATH, &mut budget).await? {
        Fetched::Body(bytes) => Some(bytes),
        Fetched::NotServed => None,
    };
    let manifest = match web_manifest::verify(&manifest_bytes, signature.as_deref(), key) {
        Ok(manifest) => manifest,
        Err(error) => return Ok(Outcome::Invalid(error)),
    };
    let origin = base.origin();
    let mut queue: VecDeque<String> = VecDeque::from(["/".to_owned()]);
    queue.extend(manifest.manifest.files.iter().map(|f| f.path.clone()));
    let mut queued: BTreeSet<String> = queue.iter().cloned().collect();
    let mut served: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut other_origins = BTreeSet::new();
    let mut extra_fetches = 0usize;
    while let Some(path) = queue.pop_front() {
        let body = match fetch(fetcher, base, &path, &mut budget).await? {
            Fetched::Body(body) => Some(body),
            Fetched::NotServed => None,
        };
        if let Some(body) = &body {
            let kind = if path == "/" { FileKind::Html } else { FileKind::of(&path) };
            for reference in web_refs::references(kind, body) {
                let from = if reference.page_relative { "/" } else { path.as_str() };
                match web_refs::resolve(&origin, from, &reference.target) {
                    Resolved::SameOrigin(target) => {
                        if queued.contains(&target) || web_manifest::is_reserved(&target) {
                            continue;
                        }
                        extra_fetches += 1;
                        if extra_fetches > MAX_EXTRA_FETCHES {
                            // Enough to show the app is not the signed one.
                            served.insert(target.clone(), None);
                            continue;
                        }
                        queued.insert(target.clone());
                        queue.push_back(target);
                    }
                    Resolved::OtherOrigin(url) => {
                        other_origins.insert(url);
                    }
                    Resolved::Nothing => {}
                }
            }
        }
        served.insert(path, body);
    }
    let checked = served.len();
    let mut differences = manifest.manifest.compare(&served);
    differences.extend(other_origins.into_iter().map(|path| Difference::OtherOrigin { path }));
    differences.sort_by(|a, b| a.path().cmp(b.path()));
    if !differences.is_empty() {
        return Ok(Outcome::Differs { manifest, differences });
    }
    if let Some(seen) = newest_seen
        && is_older(&manifest.manifest.app_version, seen)
    {
        return Ok(Outcome::RolledBack { manifest, newest_seen: seen.to_owned() });
    }
    Ok(Outcome::Verified { manifest, checked })
}

/// Whether version `a` is older than `b`: dotted numeric components
/// compared as numbers (`0.9.0` < `0.10.0`), a pre-release suffix
/// (`-rc1`) before the release, other text compared as text.
pub fn is_older(a: &str, b: &str) -> bool {
    fn key(v: &str) -> (Vec<u64>, bool, String) {
        let (main, pre) = match v.split_once(['-', '+']) {
            Some((main, pre)) => (main, pre.to_owned()),
            None => (v, String::new()),
        };
        let numbers = main.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect();
        // A release sorts after its pre-releases.
        (numbers, pre.is_empty(), pre)
    }
    key(a) < key(b)
}

/// What `--state FILE` remembers between runs: the newest app version
/// verified at a URL and its fingerprint, so that a one-shot run from a
/// timer notices a rollback too.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyState {
    /// Per origin: the newest version verified and its fingerprint.
    pub newest: BTreeMap<String, SeenVersion>,
}

/// The newest manifest verified at one origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeenVersion {
    /// Its app version.
    pub app_version: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

impl VerifyState {
    /// Records a verified manifest when it is newer than what was seen.
    pub fn record(&mut self, origin: &str, manifest: &VerifiedManifest) {
        let newer = self
            .newest
            .get(origin)
            .is_none_or(|seen| is_older(&seen.app_version, &manifest.manifest.app_version));
        if newer {
            self.newest.insert(
                origin.to_owned(),
                SeenVersion {
                    app_version: manifest.manifest.app_version.clone(),
                    fingerprint: manifest.fingerprint.clone(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(is_older("0.9.0", "0.10.0"));
        assert!(is_older("0.8.0-rc1", "0.8.0"));
        assert!(!is_older("0.8.0", "0.8.0"));
        assert!(!is_older("1.0.0", "0.99.9"));
        assert!(is_older("0.8", "0.8.1"));
    }
}
