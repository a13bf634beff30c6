//! Native TLS: the server with `STADTBOTE_TLS_CERT`/`STADTBOTE_TLS_KEY`, the
//! CLI over `wss://` trusting a self-signed certificate via
//! `STADTBOTE_CA_CERT` (the env form of `--ca-cert`), and clear errors for an
//! untrusted certificate or unusable certificate files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Device, Server, bins};

/// A self-signed certificate for localhost and 127.0.0.1 in `dir`; returns
/// the certificate and key paths.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn devices_exchange_a_message_over_wss_and_an_untrusted_certificate_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start_with(&[("STADTBOTE_TLS_CERT", cert), ("STADTBOTE_TLS_KEY", key)]);
    let url = format!("wss://localhost:{}/v1/ws", server.addr.port());

    let anna = Device::with_url(&url).with_env("STADTBOTE_CA_CERT", cert);
    let bernd = Device::with_url(&url).with_env("STADTBOTE_CA_CERT", cert);
    let _a = anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "Grüße über TLS"]);
    assert_eq!(bernd.inbox_texts(), vec!["Grüße über TLS".to_string()]);

    // The global flag works as well as the variable.
    let out = Device::with_url(&url).run(&["--ca-cert", cert, "init", "--name", "Carla"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Without the CA, the web PKI roots do not trust a self-signed
    // certificate: one line that says so.
    let stranger = Device::with_url(&url);
    let err = stranger.fails(&["init", "--name", "Fremd"]);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("TLS: the server's certificate is not trusted"), "{err}");

    // Plain HTTP is not served on a TLS port.
    assert!(!matches!(crate::harness::http_get(server.addr, "/healthz", None), Ok((200, _))));
}

#[test]
fn unusable_certificate_files_stop_the_server_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    let (cert, _key) = self_signed(dir.path());
    let data_dir = dir.path().join("data");
    let cases: [(&[(&str, &Path)], &str); 3] = [
        (&[("--tls-cert", &garbage), ("--tls-key", &garbage)], "no PEM certificate"),
        (&[("--tls-cert", &cert), ("--tls-key", &missing)], "cannot use TLS key"),
        (&[("--tls-cert", &cert)], "tls_key"),
    ];
    for (flags, expected) in cases {
        let mut cmd = Command::new(&bins().server);
        cmd.arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(&data_dir);
        for (flag, path) in flags {
            cmd.arg(flag).arg(path);
        }
        let out = cmd
            .env_remove("STADTBOTE_TLS_CERT")
            .env_remove("STADTBOTE_TLS_KEY")
            .env_remove("STADTBOTE_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}
