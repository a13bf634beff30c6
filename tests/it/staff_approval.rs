//! Issue 13, item 1: a staff certificate cannot be minted with an invitation
//! code. Whoever saw a redeemed invitation code (a departed clerk, a mail
//! archive) can still sign device bindings with the invite key derived from
//! it, and a malicious server can publish them. A man-in-the-middle proxy
//! (playing that server) adds such a binding for a rogue device to what the
//! server answers; the citizen's client must not accept it, and nothing of
//! the citizen's report may reach the rogue device. The org admin's device
//! must not approve it either. Enrolment waits for the org key's approval,
//! and a withheld staff list is refused.

use std::sync::Arc;

use serde_bytes::ByteBuf;
use stadtbote_cli::codes::StaffInvitation;
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::{
    DeviceBinding, InviteCert, ORG_VERSION, Signed, SignedKind, StaffCertificate,
};
use stadtbote_protocol::{AccountId, DeviceId, Response};

use crate::harness::{Device, Server, json_lines, last_line, raw, start_proxy};
use crate::municipal::{HANDLE, Town};

/// The rogue device's identity, as the holder of a redeemed code uses it.
#[derive(Clone)]
struct Rogue {
    account: AccountId,
    device: DeviceId,
    secret: Arc<DeviceSecret>,
}

impl Rogue {
    fn of(device: &Device) -> Rogue {
        let who = device.whoami();
        Rogue {
            account: AccountId::parse(who["account"].as_str().unwrap()).unwrap(),
            device: DeviceId::parse(who["device"].as_str().unwrap()).unwrap(),
            secret: Arc::new(raw::home_secret(&device.home).unwrap()),
        }
    }
}

/// Adds to every org directory answer certificates for the rogue device,
/// bound with the redeemed `code`'s invite key to the invitation the
/// legitimate device used: one without approval, and one carrying the
/// legitimate device's approval.
fn mint(bytes: &[u8], code: &StaffInvitation, rogue: &Rogue) -> Vec<u8> {
    let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
    let ServerBody::Response { response: Response::Org { info }, .. } = &mut frame.body else {
        return bytes.to_vec();
    };
    let legit = info.staff.iter().find(|c| {
        c.invite
            .decode_unverified::<InviteCert>(SignedKind::Invite)
            .is_ok_and(|i| i.invite_id.as_slice() == code.code.id.as_slice())
    });
    let Some(legit) = legit.cloned() else { return bytes.to_vec() };
    let invite: InviteCert = legit.invite.decode_unverified(SignedKind::Invite).unwrap();
    let binding = DeviceBinding {
        v: ORG_VERSION,
        org: code.org,
        invite_id: ByteBuf::from(code.code.id.to_vec()),
        account: rogue.account,
        device: rogue.device,
        identity_key: rogue.secret.identity_key(),
        // Self-asserted: "bound" right after the invitation was issued.
        bound_at: invite.issued_at + 1,
    };
    let binding = Signed::sign(SignedKind::Binding, &binding, &code.code.invite_key());
    info.staff.push(StaffCertificate {
        invite: legit.invite.clone(),
        binding: binding.clone(),
        approval: None,
    });
    info.staff.push(StaffCertificate { invite: legit.invite, binding, approval: legit.approval });
    frame::encode(&frame)
}

/// Invites a Bauhof clerk, enrols `name` with the code and has the org
/// admin approve it; returns the device and the (now redeemed) code.
fn enrol_with_code(town: &Town, name: &str) -> (Device, String) {
    let code = last_line(&town.mayor.ok(&[
        "org",
        "invite-staff",
        "--department",
        "bauhof",
        "--role",
        "clerk",
    ]));
    let device = town.citizen(name);
    device.ok(&["enroll", &code]);
    town.approve(&device);
    (device, code)
}

#[test]
fn a_second_binding_made_with_a_redeemed_invitation_code_is_refused() {
    let town = Town::new(Server::start());
    let (berta, code) = enrol_with_code(&town, "Berta Bauhof");
    let invitation = StaffInvitation::parse(&code).unwrap();

    // The rogue device is a registered account with KeyPackages on the
    // server: were it accepted, the citizen's client could add it.
    let rogue_device = Device::new(&town.server);
    rogue_device.init("Ehemalige Kraft");
    let rogue = Rogue::of(&rogue_device);
    let proxy = {
        let rogue = rogue.clone();
        start_proxy(town.server.url(), Arc::new(move |b: &[u8]| mint(b, &invitation, &rogue)))
    };

    let citizen = town.citizen("Carla");
    let out = citizen.run_via(
        &proxy,
        &["report", HANDLE, "--category", "Straßenschaden", "Gullydeckel fehlt, Marktstraße 3"],
    );
    assert!(
        out.status.success(),
        "the report goes to the approved staff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let thread = last_line(&String::from_utf8_lossy(&out.stdout));

    // Nothing reached the rogue device: no envelope addressed to it.
    let mailbox = crate::block_on(raw::mailbox_of(
        &town.server.url(),
        &rogue_device.home,
        &rogue.device.to_string(),
    ))
    .unwrap();
    assert!(mailbox.is_empty(), "the rogue device received {} envelopes", mailbox.len());
    // Both approved Bauhof devices have the report.
    for staff in [&town.clerk, &berta] {
        let threads = json_lines(&staff.ok(&["threads", "--json"]));
        assert!(threads.iter().any(|t| t["thread"] == thread.as_str()), "{threads:?}");
    }

    // The org admin's device, shown the same rogue enrolment by the
    // "server", does not approve it: its invitation was used already.
    let out = town.mayor.run_via(&proxy, &["org", "staff", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already used"), "{stderr}");
    assert!(!stderr.contains(&format!("approved staff device {}", rogue.device)), "{stderr}");
    let listed = json_lines(&String::from_utf8_lossy(&out.stdout));
    let rogue_id = rogue.device.to_string();
    let entry = listed.iter().find(|s| s["device"] == rogue_id.as_str()).expect("shown pending");
    assert_eq!(entry["approved"], false, "{listed:?}");
    assert_eq!(entry["valid"], false, "{listed:?}");
    let out = town.mayor.run_via(&proxy, &["org", "approve", &rogue_id]);
    assert!(!out.status.success(), "an explicit approval of a second binding is refused too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"));

    // Through the honest server as well, the rogue device gets nothing.
    citizen.ok(&["reply", &thread, "Noch ein Foto folgt"]);
    let mailbox = crate::block_on(raw::mailbox_of(
        &town.server.url(),
        &rogue_device.home,
        &rogue.device.to_string(),
    ))
    .unwrap();
    assert!(mailbox.is_empty(), "the rogue device received {} envelopes", mailbox.len());
}

#[test]
fn an_enrolment_waits_for_the_org_admins_approval() {
    let town = Town::new(Server::start());
    town.mayor_ok(&["org", "category", "add", "Grünfläche", "--department", "gruen"]);
    let code = last_line(&town.mayor.ok(&[
        "org",
        "invite-staff",
        "--department",
        "gruen",
        "--role",
        "clerk",
    ]));
    let gaertner = town.citizen("Gerd Grün");
    let enrolled = gaertner.ok(&["enroll", &code]);
    assert!(enrolled.contains("gruen") && enrolled.contains("pending"), "{enrolled}");

    // Until the org key approves it, no citizen's client encrypts to it:
    // the report waits in the outbox with a clear reason.
    let citizen = town.citizen("Carla");
    let err = citizen.fails(&["report", HANDLE, "--category", "Grünfläche", "Ast abgebrochen"]);
    assert!(err.contains("waiting for the org admin's approval"), "{err}");
    let mailbox =
        crate::block_on(raw::mailbox_of(&town.server.url(), &gaertner.home, &gaertner.device_id()))
            .unwrap();
    assert!(mailbox.is_empty(), "a pending device received {} envelopes", mailbox.len());

    // The org admin's next command approves it (and says so).
    let out = town.mayor.run(&["org", "staff", "--json"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let device = gaertner.device_id();
    assert!(stderr.contains(&format!("approved staff device {device}")), "{stderr}");
    let staff = json_lines(&String::from_utf8_lossy(&out.stdout));
    let entry = staff.iter().find(|s| s["device"] == device.as_str()).expect("listed");
    assert_eq!((entry["valid"].clone(), entry["approved"].clone()), (true.into(), true.into()));
    // Approving it again explicitly is harmless.
    let again = town.mayor.ok(&["org", "approve", &device]);
    assert!(again.contains("already"), "{again}");

    // The staff device's next command tells it it was approved (once).
    let out = gaertner.run(&["threads"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("was approved"), "{out:?}");
    let out = gaertner.run(&["threads"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("was approved"), "{out:?}");

    // The citizen's queued report goes out with her next command.
    citizen.ok(&["threads"]);
    let threads = json_lines(&gaertner.ok(&["threads", "--json"]));
    assert_eq!(threads.len(), 1, "{threads:?}");
}

#[test]
fn a_withheld_staff_list_is_refused() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    // First contact through the honest server pins the staff list.
    citizen.ok(&["report", HANDLE, "--category", "Straßenschaden", "Schlagloch"]);
    let strip = Arc::new(|bytes: &[u8]| {
        let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
        if let ServerBody::Response { response: Response::Org { info }, .. } = &mut frame.body {
            info.staff_list = None;
            return frame::encode(&frame);
        }
        bytes.to_vec()
    });
    let proxy = start_proxy(town.server.url(), strip);
    let out =
        citizen.run_via(&proxy, &["report", HANDLE, "--category", "Straßenschaden", "Zweites"]);
    assert!(!out.status.success(), "a directory without the pinned staff list is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    // Version 2: the org admin's own device (at claim), then the clerk.
    assert!(err.contains("staff list") && err.contains("version 2"), "{err}");
}
