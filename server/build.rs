//! Embeds the web app's bundle (`web/dist/`, committed; rebuilt by
//! `scripts/build-web.sh`) into the server binary: writes
//! `$OUT_DIR/web_bundle.rs`, a sorted list of `(name, include_bytes!(…))`
//! for every file below `web/dist`. Building the server needs no wasm
//! toolchain: the bundle is already built.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A file name the server may serve: plain ASCII, no hidden files.
fn servable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn collect(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if !servable(&name) {
            println!("cargo:warning=web/dist: not embedding {name:?} (not a plain file name)");
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), out)?;
        } else if kind.is_file() {
            out.push((format!("{prefix}{name}"), path));
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let dist = manifest.join("..").join("web").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, "", &mut files)?;
    } else {
        println!("cargo:warning=web/dist is missing: the server is built without the web app");
    }
    files.sort();
    let mut code = String::from("/// The bundle's files: (path below the app's root, contents).\n");
    code.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let path = path.canonicalize()?;
        let path = path.to_str().ok_or("web/dist lies below a path that is not UTF-8")?;
        writeln!(code, "    ({name:?}, include_bytes!({path:?})),")?;
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("web_bundle.rs");
    std::fs::write(out, code)?;
    Ok(())
}
