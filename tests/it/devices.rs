//! A server cannot add a device to an account (issue 13, item 2).
//!
//! The attack tests put a man-in-the-middle proxy (playing the compromised
//! server) in front of the real server. It lists a rogue device under a
//! citizen's or a clerk's account in every device-directory answer and
//! hands out a KeyPackage for it that claims that account. The rogue device
//! is a real registered device, so anything addressed to it lands in its
//! mailbox, which the tests read with a raw client.
//!
//! The other tests cover linking through a secret the server never sees,
//! `device list`, `device remove`, the new-device notice and the refusal of
//! an older (or withheld) signed list.

use std::sync::{Arc, Mutex};

use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::{self, ClaimedKeyPackage, DeviceInfo, ServerBody};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, Request, Response};

use crate::block_on;
use crate::harness::{Device, Server, json_lines, last_line, raw, start_proxy};
use crate::municipal::{HANDLE, Town};

fn ok_via(device: &Device, url: &str, args: &[&str]) -> String {
    let out = device.run_via(url, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ids(device: &Device) -> (AccountId, DeviceId) {
    let who = device.whoami();
    (
        AccountId::parse(who["account"].as_str().unwrap()).unwrap(),
        DeviceId::parse(who["device"].as_str().unwrap()).unwrap(),
    )
}

/// A registered device whose KeyPackage claims to belong to `victim`.
struct Rogue {
    device: Device,
    id: DeviceId,
    key: IdentityKey,
    key_package: Vec<u8>,
}

impl Rogue {
    fn new(server: &Server, victim: AccountId) -> Rogue {
        let device = Device::new(server);
        device.init("Eindringling");
        let (_, id) = ids(&device);
        let secret = raw::home_secret(&device.home).unwrap();
        let mls = MlsClient::new(&secret, victim, id);
        let key_package = mls.generate_key_packages(1).unwrap().remove(0);
        Rogue { device, id, key: secret.identity_key(), key_package }
    }

    /// What reached the rogue device.
    fn mailbox_len(&self, server: &Server) -> usize {
        block_on(raw::mailbox_of(&server.url(), &self.device.home, &self.id.to_string()))
            .unwrap()
            .len()
    }

    /// A proxy that lists the rogue device wherever the directory lists
    /// `victim_device`, and adds its KeyPackage to every claim.
    fn proxy(&self, server: &Server, victim_device: DeviceId) -> String {
        let (id, key, package) = (self.id, self.key, self.key_package.clone());
        start_proxy(
            server.url(),
            Arc::new(move |bytes: &[u8]| {
                let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                    return bytes.to_vec();
                };
                match &mut frame.body {
                    ServerBody::Response {
                        response: Response::Devices { devices, .. }, ..
                    } if devices.iter().any(|d| d.device == victim_device) => {
                        devices.push(DeviceInfo { device: id, identity_key: key });
                    }
                    ServerBody::Response {
                        response: Response::KeyPackages { packages }, ..
                    } => {
                        packages.push(ClaimedKeyPackage {
                            device: id,
                            key_package: ByteBuf::from(package.clone()),
                            last_resort: false,
                        });
                    }
                    _ => return bytes.to_vec(),
                }
                frame::encode(&frame)
            }),
        )
    }
}

#[test]
fn a_device_the_server_adds_to_a_citizens_entry_receives_nothing() {
    let town = Town::new(Server::start());
    let carla = town.citizen("Carla");
    let bernd = town.citizen("Bernd");
    let (carla_account, carla_device) = ids(&carla);
    let rogue = Rogue::new(&town.server, carla_account);
    let proxy = rogue.proxy(&town.server, carla_device);

    // Carla's own client reports through the compromised server (it lists
    // the rogue device as one of her own), the clerk answers through it,
    // and another citizen writes to her through it.
    let thread = last_line(&ok_via(
        &carla,
        &proxy,
        &["report", HANDLE, "--category", "Straßenschaden", "Gullydeckel fehlt"],
    ));
    ok_via(&town.clerk, &proxy, &["threads"]);
    ok_via(&town.clerk, &proxy, &["reply", &thread, "Wir schauen es uns an."]);
    ok_via(&bernd, &proxy, &["send", &carla_account.to_string(), "Hallo Carla"]);

    assert_eq!(rogue.mailbox_len(&town.server), 0, "the rogue device received ciphertext");
    // Carla got everything on her real device.
    assert_eq!(carla.inbox_texts(), ["Hallo Carla"]);
    let shown = carla.ok(&["show", &thread]);
    assert!(shown.contains("Wir schauen es uns an."), "{shown}");
}

#[test]
fn a_device_the_server_adds_to_a_clerks_entry_receives_nothing() {
    let town = Town::new(Server::start());
    let carla = town.citizen("Carla");
    let (carla_account, _) = ids(&carla);
    let (clerk_account, clerk_device) = ids(&town.clerk);
    let rogue = Rogue::new(&town.server, clerk_account);
    let proxy = rogue.proxy(&town.server, clerk_device);

    // The citizen writes to the clerk's account, and the staff client
    // writes back, both through the compromised server.
    ok_via(&carla, &proxy, &["send", &clerk_account.to_string(), "Frage zum Bauhof"]);
    ok_via(&town.clerk, &proxy, &["inbox"]);
    ok_via(&town.clerk, &proxy, &["send", &carla_account.to_string(), "Antwort vom Bauhof"]);

    assert_eq!(rogue.mailbox_len(&town.server), 0, "the rogue device received ciphertext");
    assert_eq!(carla.inbox_texts(), ["Antwort vom Bauhof"]);
}

fn device_list(device: &Device) -> serde_json::Value {
    serde_json::from_str(device.ok(&["device", "list", "--json"]).trim()).unwrap()
}

fn listed(value: &serde_json::Value) -> Vec<String> {
    value["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap().into())
        .collect()
}

fn events(device: &Device) -> Vec<serde_json::Value> {
    json_lines(&device.ok(&["inbox", "--json"]))
        .into_iter()
        .filter(|v| v.get("event").is_some())
        .collect()
}

/// Links `new` to `existing`'s account and approves it.
fn link(existing: &Device, new: &Device) {
    let code = last_line(&existing.ok(&["link"]));
    let out = new.ok(&["init", "--link", &code]);
    assert!(out.contains("approval"), "{out}");
    existing.ok(&["inbox"]);
}

#[test]
fn a_new_device_is_approved_with_the_codes_secret_and_announced_to_the_others() {
    let server = Server::start();
    let (anna, bernd, phone) = (Device::new(&server), Device::new(&server), Device::new(&server));
    let a = anna.init("Anna");
    let b = bernd.init("Bernd");
    let first = device_list(&anna);
    assert_eq!(first["version"], 1);
    assert_eq!(listed(&first), [anna.device_id()]);
    assert_eq!(first["holds_account_key"], true);

    let code = last_line(&anna.ok(&["link"]));
    assert_eq!(code.replace('-', "").len(), 48, "server code and 160-bit secret: {code}");
    let out = phone.ok(&["init", "--link", &code]);
    assert!(out.contains("Waiting for approval"), "{out}");
    assert_eq!(last_line(&out), a);
    let err = phone.fails(&["device", "list"]);
    assert!(err.contains("waits for approval"), "{err}");

    // Not yet approved: Bernd's client does not add the phone.
    bernd.ok(&["send", &a, "vor der Freigabe"]);
    // Anna's next command approves it, and says so.
    let notices = events(&anna);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["event"], "device_added");
    assert_eq!(notices[0]["device"], phone.device_id().as_str());
    assert_eq!(notices[0]["approved_here"], true);
    let list = device_list(&phone);
    assert_eq!(list["version"], 2);
    assert_eq!(list["this_device"], phone.device_id().as_str());
    assert_eq!(list["holds_account_key"], true);
    let mut both = vec![anna.device_id(), phone.device_id()];
    both.sort();
    let mut got = listed(&list);
    got.sort();
    assert_eq!(got, both);
    assert!(phone.inbox_texts().is_empty(), "sent before approval");
    bernd.ok(&["send", &a, "nach der Freigabe"]);
    assert_eq!(phone.inbox_texts(), ["nach der Freigabe"]);

    // The phone holds the account key and links a tablet; Anna's laptop
    // ... Anna's first device shows a notice, once, in text and JSON.
    let tablet = Device::new(&server);
    link(&phone, &tablet);
    let text = anna.ok(&["inbox"]);
    assert!(
        text.contains("new device")
            && text.contains(&tablet.device_id())
            && text.contains("device remove"),
        "{text}"
    );
    assert!(events(&anna).is_empty(), "a notice is shown once");
    assert!(events(&tablet).is_empty(), "the new device itself gets no notice");
    assert_eq!(device_list(&anna)["version"], 3);

    // The server's half of a code alone adds nothing: a device that has it
    // but not the secret is never approved, and gets nothing.
    let code = last_line(&anna.ok(&["link"]));
    let mut forged: Vec<char> = code.chars().collect();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let eve = Device::new(&server);
    eve.ok(&["init", "--link", &forged]);
    anna.ok(&["inbox"]);
    assert_eq!(device_list(&anna)["version"], 3);
    bernd.ok(&["send", &a, "nur für Anna"]);
    let mailbox = block_on(raw::mailbox_of(&server.url(), &eve.home, &eve.device_id())).unwrap();
    assert!(mailbox.is_empty(), "the unapproved device received {} envelopes", mailbox.len());
    let _ = b;
}

#[test]
fn a_removed_device_can_no_longer_log_in_or_receive() {
    let server = Server::start();
    let (anna, bernd, phone) = (Device::new(&server), Device::new(&server), Device::new(&server));
    let a = anna.init("Anna");
    bernd.init("Bernd");
    link(&anna, &phone);
    phone.ok(&["inbox"]);
    bernd.ok(&["send", &a, "an beide"]);
    assert_eq!(phone.inbox_texts(), ["an beide"]);

    let err = anna.fails(&["device", "remove", &anna.device_id()]);
    assert!(err.contains("device you are using"), "{err}");
    let out = anna.ok(&["device", "remove", &phone.device_id()]);
    assert!(out.contains("Removed device"), "{out}");
    let list = device_list(&anna);
    assert_eq!(list["version"], 3);
    assert_eq!(listed(&list), [anna.device_id()]);

    // The lost phone is locked out; Bernd's client drops it from the
    // conversation and Anna keeps receiving.
    phone.fails(&["inbox"]);
    bernd.ok(&["send", &a, "nur noch Anna"]);
    assert_eq!(anna.inbox_texts(), ["an beide", "nur noch Anna"]);
    assert!(block_on(raw::mailbox_of(&server.url(), &phone.home, &phone.device_id())).is_err());
}

/// The signed list of `account` as the server serves it now.
fn served_list(server: &Server, asker: &Device, account: AccountId) -> Response {
    block_on(async {
        let secret = raw::home_secret(&asker.home).unwrap();
        let (_, device) = ids(asker);
        let mut c = raw::RawClient::connect(&server.url()).await.unwrap();
        let login = c.login_request(&secret, device);
        c.request(login).await.unwrap().unwrap();
        c.request(Request::ListDevices { account }).await.unwrap().unwrap()
    })
}

#[test]
fn an_older_or_withheld_device_list_is_refused() {
    let server = Server::start();
    let (anna, bernd, tablet) = (Device::new(&server), Device::new(&server), Device::new(&server));
    anna.init("Anna");
    let b = bernd.init("Bernd");
    let (bernd_account, _) = ids(&bernd);
    // A copy of Bernd's first list (version 1), before he links a tablet.
    let old = served_list(&server, &anna, bernd_account);
    link(&bernd, &tablet);
    tablet.ok(&["inbox"]);
    anna.ok(&["send", &b, "Hallo"]);

    // A server replaying the old list (which hides the tablet) is refused.
    let replay = Arc::new(Mutex::new(old));
    let proxy = start_proxy(
        server.url(),
        Arc::new(move |bytes: &[u8]| {
            let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                return bytes.to_vec();
            };
            if let ServerBody::Response { response, .. } = &mut frame.body
                && let Response::Devices { devices, .. } = response
                && devices.len() == 2
            {
                *response = replay.lock().unwrap().clone();
                return frame::encode(&frame);
            }
            bytes.to_vec()
        }),
    );
    let out = anna.run_via(&proxy, &["send", &b, "zurückgerollt"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than version 2"), "{err}");

    // A server leaving the list out once it was pinned is refused as well.
    let strip = start_proxy(
        server.url(),
        Arc::new(move |bytes: &[u8]| {
            let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                return bytes.to_vec();
            };
            if let ServerBody::Response {
                response: Response::Devices { device_list, .. }, ..
            } = &mut frame.body
            {
                *device_list = None;
                return frame::encode(&frame);
            }
            bytes.to_vec()
        }),
    );
    let out = anna.run_via(&strip, &["send", &b, "ohne Liste"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left out the signed device list"), "{err}");

    // Through the honest server everything queued goes out.
    anna.ok(&["inbox"]);
    assert_eq!(tablet.inbox_texts(), ["Hallo", "zurückgerollt", "ohne Liste"]);
}

#[test]
fn a_server_substituting_the_device_id_of_a_link_request_is_refused() {
    let server = Server::start();
    let (anna, phone) = (Device::new(&server), Device::new(&server));
    let a = anna.init("Anna");
    let (_, anna_device) = ids(&anna);
    let code = last_line(&anna.ok(&["link"]));
    let out = phone.ok(&["init", "--link", &code]);
    assert_eq!(last_line(&out), a);
    let phone_key = raw::home_secret(&phone.home).unwrap().identity_key();
    let phone_device = DeviceId::parse(&phone.device_id()).unwrap();

    // The server hands Anna's device the phone's genuine request with a
    // device id of its choosing, and lists that id with the phone's key
    // in Anna's directory entry (instead of the phone).
    let substitute = DeviceId::random();
    let proxy = start_proxy(
        server.url(),
        Arc::new(move |bytes: &[u8]| {
            let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                return bytes.to_vec();
            };
            match &mut frame.body {
                ServerBody::Response {
                    response: Response::LinkSlot { data: Some(data) }, ..
                } => {
                    let Ok(mut request) =
                        stadtbote_protocol::device_list::LinkRequest::decode(data)
                    else {
                        return bytes.to_vec();
                    };
                    request.device = substitute;
                    *data = ByteBuf::from(request.encode());
                }
                ServerBody::Response { response: Response::Devices { devices, .. }, .. }
                    if devices.iter().any(|d| d.device == anna_device) =>
                {
                    devices.retain(|d| d.device != phone_device);
                    devices.push(DeviceInfo { device: substitute, identity_key: phone_key });
                }
                _ => return bytes.to_vec(),
            }
            frame::encode(&frame)
        }),
    );
    // Anna's next command takes the request: it is refused, and her signed
    // list never names the server's device id.
    anna.run_via(&proxy, &["inbox"]);
    let list = device_list(&anna);
    assert!(!listed(&list).contains(&substitute.to_string()), "{list}");
    assert_eq!(list["version"], 1, "{list}");
    assert_eq!(listed(&list), [anna.device_id()]);
}
