//! A malicious server cannot slip an uncertified device into a citizen's
//! report thread. The test puts a man-in-the-middle WebSocket proxy (playing
//! the compromised server) between the citizen's real CLI and the real
//! server; when the citizen's client claims the KeyPackages of the Bauhof's
//! staff devices, the proxy substitutes the KeyPackage of a device that has
//! no staff certificate. The citizen's client must refuse to encrypt to it.

use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, Response};

use crate::harness::{Device, Server, json_lines, last_line, raw, start_proxy};
use crate::municipal::{HANDLE, Town};

/// Replaces every claimed KeyPackage in a server answer with the rogue one.
fn tamper(bytes: &[u8], rogue: &[u8]) -> Vec<u8> {
    let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
    if let ServerBody::Response { response: Response::KeyPackages { packages }, .. } =
        &mut frame.body
    {
        for package in packages.iter_mut() {
            package.key_package = ByteBuf::from(rogue.to_vec());
        }
        return frame::encode(&frame);
    }
    bytes.to_vec()
}

#[test]
fn a_staff_device_without_certificate_injected_by_the_server_is_refused() {
    let town = Town::new(Server::start());

    // The rogue device is a registered account, but holds no certificate.
    let rogue = Device::new(&town.server);
    rogue.init("Eindringling");
    let who = rogue.whoami();
    let secret = raw::home_secret(&rogue.home).unwrap();
    let account = AccountId::parse(who["account"].as_str().unwrap()).unwrap();
    let device = DeviceId::parse(who["device"].as_str().unwrap()).unwrap();
    let mls = MlsClient::new(&secret, account, device);
    let rogue_kp = mls.generate_key_packages(1).unwrap().remove(0);

    let citizen = town.citizen("Carla");
    let proxied = Device::with_url(&start_proxy(
        town.server.url(),
        std::sync::Arc::new(move |bytes: &[u8]| tamper(bytes, &rogue_kp)),
    ));
    // Same home, but talking through the compromised "server".
    let citizen_via_proxy = |args: &[&str]| {
        std::process::Command::new(&crate::harness::bins().cli)
            .arg("--home")
            .arg(&citizen.home)
            .arg("--server")
            .arg(&proxied.server_url)
            .args(args)
            .output()
            .unwrap()
    };
    let out =
        citizen_via_proxy(&["report", HANDLE, "--category", "Straßenschaden", "Gullydeckel fehlt"]);
    assert!(!out.status.success(), "the report must not be sent to an uncertified device");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate") || err.contains("refus"), "{err}");

    // Nothing reached the rogue device, and the clerk got no thread from it.
    let mailbox =
        crate::block_on(raw::mailbox_of(&town.server.url(), &rogue.home, &rogue.device_id()))
            .unwrap();
    assert!(mailbox.is_empty(), "the rogue device received {} envelopes", mailbox.len());

    // Through the honest server the same citizen reports normally.
    let thread = last_line(&citizen.ok(&[
        "report",
        HANDLE,
        "--category",
        "Straßenschaden",
        "Gullydeckel fehlt",
    ]));
    let inbox = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert!(inbox.iter().any(|t| t["thread"] == thread.as_str()), "{inbox:?}");
}
