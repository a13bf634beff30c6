//! `map_tiles_url` (issue 16, item 6; s11-orgdata): without it (the
//! default) the page's Content-Security-Policy allows images from its own
//! origin only and `/privacy` names no tile server; with it, `img-src`
//! allows exactly the tile server's origin and `/privacy` announces the
//! template, so the web app can embed a map from the operator's own
//! server. Over the real server binary and raw HTTP.

use serde_json::Value;

use crate::harness::Server;
use crate::web::{assert_strict_headers, raw_request};

const TILES: &str = "https://tiles.geoportal.example:8443/wmts/{z}/{x}/{y}.png";

fn privacy_json(server: &Server) -> Value {
    let answer = raw_request(server.addr, "GET", "/privacy", &[("Accept", "application/json")]);
    assert_eq!(answer.status, 200);
    serde_json::from_slice(&answer.body).expect("privacy json")
}

#[test]
fn img_src_allows_the_map_tile_server_only_when_configured_and_privacy_announces_it() {
    let plain = Server::start();
    for path in ["/", "/privacy", "/app.js"] {
        let answer = raw_request(plain.addr, "GET", path, &[]);
        assert_strict_headers(&answer, path);
        let csp = answer.header("content-security-policy");
        assert!(csp.contains("img-src 'self' blob: data:;"), "{path}: {csp}");
    }
    assert!(privacy_json(&plain).get("map_tiles_url").is_none(), "no tile server by default");

    let tiles = Server::start_with(&[("STADTBOTE_MAP_TILES_URL", TILES)]);
    for path in ["/", "/privacy", "/app.js"] {
        let answer = raw_request(tiles.addr, "GET", path, &[]);
        assert_eq!(answer.status, 200, "{path}");
        let csp = answer.header("content-security-policy");
        assert!(
            csp.contains("img-src 'self' blob: data: https://tiles.geoportal.example:8443;"),
            "{path}: {csp}"
        );
        // The tile server's origin is the only other origin, and only for
        // images: not scripts, styles or connections.
        assert_eq!(csp.matches("https:").count(), 1, "{path}: {csp}");
        assert!(!csp.contains('*') && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "{path}: {csp}");
        assert_eq!(answer.header("referrer-policy"), "no-referrer");
    }
    assert_eq!(privacy_json(&tiles)["map_tiles_url"], TILES);
}
