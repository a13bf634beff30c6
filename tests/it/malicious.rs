//! A malicious server cannot slip an uncertified device into a citizen's
//! report thread. The test puts a man-in-the-middle WebSocket proxy (playing
//! the compromised server) between the citizen's real CLI and the real
//! server; when the citizen's client claims the KeyPackages of the Bauhof's
//! staff devices, the proxy substitutes the KeyPackage of a device that has
//! no staff certificate. The citizen's client must refuse to encrypt to it.

use futures_util::{SinkExt, StreamExt};
use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, Response};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{Device, Server, json_lines, last_line, raw};
use crate::municipal::{HANDLE, Town};

/// Runs a proxy on a free loopback port in a background thread; returns its URL.
fn start_proxy(upstream: String, rogue_key_package: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Bounded: the test makes a handful of connections, then the
            // process ends and takes the thread with it.
            for _ in 0..64 {
                let Ok((stream, _)) = listener.accept().await else { return };
                let upstream = upstream.clone();
                let rogue = rogue_key_package.clone();
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(stream).await else { return };
                    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await
                    else {
                        return;
                    };
                    let (mut client_tx, mut client_rx) = client.split();
                    let (mut server_tx, mut server_rx) = server.split();
                    let up = async {
                        while let Some(Ok(msg)) = client_rx.next().await {
                            if server_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(msg)) = server_rx.next().await {
                            let msg = match msg {
                                Message::Binary(bytes) => {
                                    Message::Binary(tamper(&bytes, &rogue).into())
                                }
                                other => other,
                            };
                            if client_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
    });
    format!("ws://{addr}/v1/ws")
}

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
    let proxied = Device::with_url(&start_proxy(town.server.url(), rogue_kp));
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
