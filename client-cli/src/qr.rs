//! The org key's QR code for posters and the town's website.
//!
//! Content: `stadtbote:org:<handle>:<base32 of the 32 org key bytes>`. A
//! citizen can compare it (or the fingerprint printed next to it) with what
//! their client pinned; `stadtbote verify HANDLE` accepts either form.
//!
//! The `qrcode` crate computes the module matrix only; the PNG (8-bit grey,
//! via the `png` crate) and the SVG (one path) are drawn here, which keeps
//! the `image` crate and its codecs out of the client. [`write_files`] puts
//! both next to each other on disk (org key and channel invite posters).

use std::path::{Path, PathBuf};

use qrcode::{Color, EcLevel, QrCode};

use crate::error::CliError;

// The content of an org key's QR code is the core's (app links).
pub use stadtbote_client::app_links::{QR_PREFIX, org_qr_content, parse_org_qr_content};
/// Pixels per QR module in the PNG.
const PNG_SCALE: usize = 10;
/// Light modules around the code, as the QR standard requires.
const QUIET_ZONE: usize = 4;

/// The QR matrix: `width × width` modules, `true` for dark.
pub struct Matrix {
    width: usize,
    dark: Vec<bool>,
}

impl Matrix {
    /// Encodes `content` with error correction level M (15 %), enough for a
    /// printed poster.
    pub fn encode(content: &str) -> Result<Matrix, CliError> {
        let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M)
            .map_err(|e| CliError::Qr(e.to_string()))?;
        let width = code.width();
        let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        Ok(Matrix { width, dark })
    }

    /// Modules per side (without the quiet zone).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at (x, y) is dark; outside the code is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark.get(y * self.width + x).copied() == Some(true)
    }

    /// The code for a terminal: two module rows per text line, drawn with
    /// half-block characters, with a quiet zone of [`TERMINAL_QUIET_ZONE`]
    /// modules. Dark modules are the blocks, so on a dark terminal the code
    /// shows inverted, which most phone scanners read as well; the PNG and
    /// SVG files remain the reference for print.
    pub fn to_terminal(&self) -> String {
        let quiet = TERMINAL_QUIET_ZONE;
        let side = self.width + 2 * quiet;
        let dark =
            |x: usize, y: usize| x >= quiet && y >= quiet && self.is_dark(x - quiet, y - quiet);
        let mut out = String::new();
        for row in (0..side).step_by(2) {
            for x in 0..side {
                let top = dark(x, row);
                let bottom = row + 1 < side && dark(x, row + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }

    /// A greyscale PNG, [`PNG_SCALE`] pixels per module, with quiet zone.
    pub fn to_png(&self) -> Result<Vec<u8>, CliError> {
        let side = (self.width + 2 * QUIET_ZONE) * PNG_SCALE;
        let mut pixels = vec![0xFFu8; side * side];
        for y in 0..self.width {
            for x in 0..self.width {
                if !self.is_dark(x, y) {
                    continue;
                }
                let (px, py) = ((x + QUIET_ZONE) * PNG_SCALE, (y + QUIET_ZONE) * PNG_SCALE);
                for row in py..py + PNG_SCALE {
                    pixels[row * side + px..row * side + px + PNG_SCALE].fill(0);
                }
            }
        }
        let side32 = u32::try_from(side).map_err(|_| CliError::Qr("code too large".into()))?;
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, side32, side32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let png_error = |e: png::EncodingError| CliError::Qr(e.to_string());
            let mut writer = encoder.write_header().map_err(png_error)?;
            writer.write_image_data(&pixels).map_err(png_error)?;
            writer.finish().map_err(png_error)?;
        }
        Ok(out)
    }

    /// An SVG with one square per dark module, in a single path; it scales
    /// to any poster size without blurring.
    pub fn to_svg(&self) -> String {
        let side = self.width + 2 * QUIET_ZONE;
        let mut path = String::new();
        for y in 0..self.width {
            for x in 0..self.width {
                if self.is_dark(x, y) {
                    path.push_str(&format!("M{} {}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE));
                }
            }
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {side} {side}\" \
             width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\n\
             <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\n\
             <path fill=\"#000\" d=\"{path}\"/>\n</svg>\n",
            px = side * PNG_SCALE
        )
    }
}

/// Light modules around the code on a terminal (fewer than the
/// [`QUIET_ZONE`] of the files, to fit a terminal window).
pub const TERMINAL_QUIET_ZONE: usize = 2;

/// Encodes `content` for a terminal ([`Matrix::to_terminal`]).
pub fn terminal(content: &str) -> Result<String, CliError> {
    Ok(Matrix::encode(content)?.to_terminal())
}

/// Encodes `content` and writes it as `<stem>.png` and `<stem>.svg` into
/// `out` (created if missing; without it the current directory — the
/// commands pass HOME/qr instead); returns the two paths.
pub fn write_files(
    content: &str,
    out: Option<&Path>,
    stem: &str,
) -> Result<(PathBuf, PathBuf), CliError> {
    let dir = match out {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().map_err(|source| CliError::Io {
            action: "find",
            file: PathBuf::from("."),
            source,
        })?,
    };
    std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
        action: "create",
        file: dir.clone(),
        source,
    })?;
    let matrix = Matrix::encode(content)?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| CliError::Io {
            action: "write",
            file: path.to_path_buf(),
            source,
        })
    };
    write(&png, &matrix.to_png()?)?;
    write(&svg, matrix.to_svg().as_bytes())?;
    Ok((png, svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::auth::IdentityKey;

    fn key() -> IdentityKey {
        IdentityKey([7; 32])
    }

    #[test]
    fn content_format_and_round_trip() {
        let content = org_qr_content("goslar", &key());
        assert!(content.starts_with("stadtbote:org:goslar:"));
        let encoded = content.rsplit(':').next().unwrap();
        assert_eq!(encoded.len(), 52, "32 bytes in unpadded base32");
        assert!(encoded.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_eq!(parse_org_qr_content(&content), Some(("goslar".into(), key())));
        assert_eq!(parse_org_qr_content(&content.to_lowercase()).map(|(_, k)| k), Some(key()));
        assert_eq!(parse_org_qr_content("stadtbote:org:goslar:AAAA"), None);
        assert_eq!(parse_org_qr_content("3f2a 91c0"), None);
    }

    #[test]
    fn png_and_svg_render_the_matrix() {
        let matrix = Matrix::encode(&org_qr_content("goslar", &key())).unwrap();
        assert!(matrix.width() >= 21);
        // Finder pattern: the top-left corner module is dark.
        assert!(matrix.is_dark(0, 0) && matrix.is_dark(6, 6) && !matrix.is_dark(7, 7));
        let png = matrix.to_png().unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let side = (matrix.width() + 2 * QUIET_ZONE) * PNG_SCALE;
        assert_eq!(info.width as usize, side);
        // Quiet zone white, first module black.
        assert_eq!(buf[0], 0xFF);
        let first = QUIET_ZONE * PNG_SCALE;
        assert_eq!(buf[first * side + first], 0);
        let svg = matrix.to_svg();
        assert!(svg.contains("<svg") && svg.contains("M4 4h1v1h-1z"));
    }
}
