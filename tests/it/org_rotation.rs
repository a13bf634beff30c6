//! Issue 13, item 10: the town's key can be handed over and replaced.
//!
//! After an election the mayor's office changes hands (`org rotate-key`:
//! a new key signed by the old one, which citizens' clients follow without
//! a warning); after a theft the town replaces the key and revokes the old
//! one (`org rotate-key --compromised`), so that a thief who serves a
//! rotation of his own, signed by the stolen key, is refused; and a key
//! change nobody signed stays a hard error.

use std::sync::Arc;

use serde::Deserialize;
use serde_bytes::ByteBuf;
use stadtbote_protocol::Response;
use stadtbote_protocol::auth::{DeviceSecret, fingerprint_of};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::{OrgProfile, Signed, SignedKind};
use stadtbote_protocol::org_rotation::{RotationReason, SignedRotation};

use crate::harness::{Device, Server, json_lines, last_line, start_proxy};
use crate::municipal::{HANDLE, Town};

/// The part of the org admin's key file (`org/<handle>.key`) a thief needs.
#[derive(Deserialize)]
struct KeyFile {
    secret: ByteBuf,
}

/// The org key as it lies on the mayor's laptop.
fn steal_org_key(mayor: &Device) -> DeviceSecret {
    let bytes = std::fs::read(mayor.home.join("org").join(format!("{HANDLE}.key"))).unwrap();
    let file: KeyFile = ciborium::from_reader(bytes.as_slice()).unwrap();
    DeviceSecret::from_bytes(&file.secret).unwrap()
}

/// Rewrites every org directory answer with `change`.
fn rewrite_directory(
    change: impl Fn(&mut stadtbote_protocol::frame::OrgInfo) + Send + Sync + 'static,
) -> crate::harness::Tamper {
    Arc::new(move |bytes: &[u8]| {
        let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
        if let ServerBody::Response { response: Response::Org { info }, .. } = &mut frame.body {
            change(info);
            return frame::encode(&frame);
        }
        bytes.to_vec()
    })
}

/// Re-signs the directory's profile with `key` (so that only the key
/// change, not a broken signature, gives the attack away).
fn resign_profile(info: &mut stadtbote_protocol::frame::OrgInfo, key: &DeviceSecret) {
    if let Some(signed) = &info.profile
        && let Ok(profile) = signed.decode_unverified::<OrgProfile>(SignedKind::Profile)
    {
        info.profile = Some(Signed::sign(SignedKind::Profile, &profile, key));
    }
    info.org_key = Some(key.identity_key());
}

fn report(citizen: &Device, text: &str) -> std::process::Output {
    citizen.run(&["report", HANDLE, "--category", "Straßenschaden", text])
}

#[test]
fn a_signed_handover_is_followed_without_a_warning() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    let first = report(&citizen, "Schlagloch vor Nr. 5");
    assert!(first.status.success(), "{first:?}");
    let old_fingerprint = fingerprint_of(&steal_org_key(&town.mayor).identity_key().0);
    let verified = citizen.ok(&["verify", HANDLE, &old_fingerprint]);
    assert!(!verified.is_empty());

    // The new mayor's office takes over with a new key.
    let out = town.mayor_ok(&["org", "rotate-key"]);
    let new_fingerprint = last_line(&out);
    // The clerk's certificate and that of the org admin's own device,
    // which `org claim` made staff.
    assert!(out.contains("Re-issued 2 staff certificate"), "{out}");
    assert_ne!(new_fingerprint, old_fingerprint);
    assert_eq!(fingerprint_of(&steal_org_key(&town.mayor).identity_key().0), new_fingerprint);

    // The citizen's client follows the signed change silently, and her
    // report reaches the Bauhof clerk, whose certificate was re-issued.
    let second = report(&citizen, "Gullydeckel fehlt");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(!stderr.to_lowercase().contains("changed"), "no warning: {stderr}");
    assert!(!stderr.to_lowercase().contains("warn"), "no warning: {stderr}");
    let thread = last_line(&String::from_utf8_lossy(&second.stdout));
    let threads = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert!(threads.iter().any(|t| t["thread"] == thread.as_str()), "{threads:?}");
    // The clerk still answers, and the citizen reads it.
    town.clerk.ok(&["reply", &thread, "Wir kümmern uns."]);
    let shown = citizen.ok(&["show", &thread]);
    assert!(shown.contains("Wir kümmern uns."), "{shown}");

    // The citizen now holds the new key: the new poster's fingerprint
    // verifies, the old one no longer does.
    citizen.ok(&["verify", HANDLE, &new_fingerprint]);
    citizen.fails(&["verify", HANDLE, &old_fingerprint]);
    // The server takes the new key's signatures: a profile change, and
    // staff enrolled after the handover, approved under the new key.
    town.mayor_ok(&["org", "category", "add", "Grünfläche", "--department", "gruen"]);
    let berta = town.enrol("Berta Bauhof", "bauhof");
    let third = report(&citizen, "Ampel defekt");
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
    let thread = last_line(&String::from_utf8_lossy(&third.stdout));
    let threads = json_lines(&berta.ok(&["threads", "--json"]));
    assert!(threads.iter().any(|t| t["thread"] == thread.as_str()), "{threads:?}");
}

#[test]
fn a_rotation_signed_by_a_revoked_key_is_refused() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    let first = report(&citizen, "Schlagloch vor Nr. 5");
    assert!(first.status.success(), "{first:?}");
    let neighbour = town.citizen("Dora");
    let first = report(&neighbour, "Bank kaputt");
    assert!(first.status.success(), "{first:?}");

    // The laptop with the org key is stolen; the town replaces the key and
    // declares the old one compromised.
    let stolen = steal_org_key(&town.mayor);
    let stolen_copy: [u8; 32] = *stolen.to_bytes();
    let out = town.mayor_ok(&["org", "rotate-key", "--compromised"]);
    assert!(out.contains("revoked the old one"), "{out}");
    // The citizen's next command follows the town's rotation.
    let second = report(&citizen, "Gullydeckel fehlt");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let second = report(&neighbour, "Bank immer noch kaputt");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));

    // The thief (or a server in his hands) serves a rotation of his own,
    // signed by the stolen key, to a key he holds.
    let thief = DeviceSecret::generate();
    let proxy = {
        let (stolen, thief) = (Arc::new(stolen), Arc::new(thief));
        start_proxy(
            town.server.url(),
            rewrite_directory(move |info| {
                let (_, link) = SignedRotation::sign(
                    info.org,
                    &stolen,
                    &thief,
                    1,
                    RotationReason::Handover,
                    u64::MAX / 2,
                );
                info.rotations = vec![link];
                resign_profile(info, &thief);
            }),
        )
    };
    let out =
        citizen.run_via(&proxy, &["report", HANDLE, "--category", "Straßenschaden", "Laterne aus"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the thief's rotation is refused");
    assert!(stderr.contains("CHANGED"), "{stderr}");

    // Or he appends a second rotation away from the stolen key to the
    // town's genuine chain.
    let thief = Arc::new(DeviceSecret::generate());
    let stolen = Arc::new(DeviceSecret::from_bytes(&stolen_copy).unwrap());
    let proxy = start_proxy(
        town.server.url(),
        rewrite_directory(move |info| {
            let sequence = info.rotations.len() as u64 + 1;
            let (_, link) = SignedRotation::sign(
                info.org,
                &stolen,
                &thief,
                sequence,
                RotationReason::Handover,
                u64::MAX / 2,
            );
            info.rotations.push(link);
            resign_profile(info, &thief);
        }),
    );
    let out = neighbour
        .run_via(&proxy, &["report", HANDLE, "--category", "Straßenschaden", "Laterne aus"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second rotation by the revoked key is refused");
    assert!(stderr.contains("CHANGED"), "{stderr}");
    // Through the honest server the town's reports still go out.
    let third = report(&town.citizen("Erik"), "Baum umgestürzt");
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
}

#[test]
fn an_unsigned_key_change_is_a_hard_error() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    let first = report(&citizen, "Schlagloch vor Nr. 5");
    assert!(first.status.success(), "{first:?}");

    let other = Arc::new(DeviceSecret::generate());
    let proxy = {
        let other = other.clone();
        start_proxy(town.server.url(), rewrite_directory(move |info| resign_profile(info, &other)))
    };
    let out =
        citizen.run_via(&proxy, &["report", HANDLE, "--category", "Straßenschaden", "Zweites"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unsigned key change is refused");
    assert!(stderr.contains("CHANGED"), "{stderr}");
    // And it stays refused, also through the honest server, until the
    // citizen verifies a fingerprint.
    let err = citizen.fails(&["report", HANDLE, "--category", "Straßenschaden", "Drittes"]);
    assert!(err.contains("CHANGED"), "{err}");
}

#[test]
fn a_rotation_after_a_revocation_keeps_the_directory_valid() {
    let town = Town::new(Server::start());
    let citizen = town.citizen("Carla");
    let first = report(&citizen, "Schlagloch vor Nr. 5");
    assert!(first.status.success(), "{first:?}");
    // A clerk's device is lost and revoked; then the key is handed over.
    let berta = town.enrol("Berta Bauhof", "bauhof");
    town.mayor_ok(&["org", "revoke", &berta.device_id()]);
    town.mayor_ok(&["org", "rotate-key"]);
    // Everything the directory shows verifies under the new key, the
    // revocation list included: the citizen's report still goes out.
    let second = report(&citizen, "Gullydeckel fehlt");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let thread = last_line(&String::from_utf8_lossy(&second.stdout));
    let threads = json_lines(&town.clerk.ok(&["threads", "--json"]));
    assert!(threads.iter().any(|t| t["thread"] == thread.as_str()), "{threads:?}");
    // The revoked device stays revoked under the new key.
    let out = berta.run(&["threads", "--json"]);
    let threads = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(!threads.iter().any(|t| t["thread"] == thread.as_str()), "{threads:?}");
}
