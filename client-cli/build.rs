//! Compresses the poster's fonts (assets/fonts/*.ttf) for the binary: the
//! three DejaVu files are 1.8 MB as they are and half that deflated; the
//! poster inflates them when it is made (poster/font.rs). The committed
//! files stay the unmodified upstream ones.

use std::path::PathBuf;

/// The fonts poster/font.rs includes.
const FONTS: [&str; 3] = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for name in FONTS {
        let path = format!("assets/fonts/{name}");
        println!("cargo::rerun-if-changed={path}");
        let font = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        // Raw deflate at the highest level; poster/font.rs inflates it.
        let deflated = miniz_oxide::deflate::compress_to_vec(&font, 10);
        std::fs::write(out.join(format!("{name}.deflate")), deflated)?;
    }
    Ok(())
}
