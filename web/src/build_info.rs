//! The bundle's build record, `build-info.json`, written by
//! `scripts/build-web.sh` next to the wasm: which compiler, cargo and
//! wasm-bindgen built it (the reproducibility check compares these before
//! it compares bytes). The About page shows it.

use serde::Deserialize;

/// The app's version (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the record lies, relative to the page.
pub const URL: &str = "build-info.json";

/// What `build-info.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildInfo {
    /// The crate version the bundle was built from.
    pub version: String,
    /// `rustc --version` of the compiler (Debian's rustc-web).
    pub rustc: String,
    /// `cargo --version`.
    pub cargo: String,
    /// `wasm-bindgen --version`.
    pub wasm_bindgen: String,
    /// The target triple.
    pub target: String,
}

impl BuildInfo {
    /// Reads the record; `None` when it is not one.
    pub fn from_json(value: &serde_json::Value) -> Option<BuildInfo> {
        BuildInfo::deserialize(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_record_parses_and_names_this_version() {
        let text = include_str!("../dist/build-info.json");
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let info = BuildInfo::from_json(&value).unwrap();
        assert_eq!(info.version, VERSION, "web/dist is stale: run scripts/build-web.sh");
        assert!(info.rustc.starts_with("rustc "), "{info:?}");
        assert!(info.wasm_bindgen.starts_with("wasm-bindgen "), "{info:?}");
        assert_eq!(info.target, "wasm32-unknown-unknown");
        assert_eq!(BuildInfo::from_json(&serde_json::json!({"version": 1})), None);
    }
}
