//! A compromised server against channel followers (issue 13, item 4): it
//! hides posts and calls them expired, and it hides the revocation of a
//! stolen publisher device so that the thief's posts look genuine. A
//! man-in-the-middle proxy plays that server in front of the real one; the
//! followers are the real CLI.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde_bytes::ByteBuf;
use stadtbote_protocol::channel::{self, ChannelInvite, PostBody};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::{Signed, StaffCertificate};
use stadtbote_protocol::{ChannelId, DeviceId, Request, Response};

use crate::harness::{Device, RawClient, Server, json_lines, last_line, raw, start_proxy};
use crate::municipal::{HANDLE, Town};

/// Proxy modes, switched while the test runs.
const HONEST: u8 = 0;
/// Leave out posts 2 and 3 of every page (the server still says the channel
/// starts at post 1).
const DROP_2_3: u8 = 1;
/// Leave out posts 1 to 3 and claim the channel starts at post 4, as if they
/// had expired.
const CLAIM_EXPIRED: u8 = 2;

fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().filter_map(|l| l["text"].as_str().map(str::to_string)).collect()
}

fn warnings(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().filter_map(|l| l["warning"].as_str().map(str::to_string)).collect()
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A town whose press office runs channel "Amtsblatt" (30 days retention).
fn channel_town() -> (Town, Device, String, String) {
    let town = Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let qr = tempfile::tempdir().unwrap();
    let out = press.ok(&[
        "channel",
        "create",
        "Amtsblatt",
        "--retention-days",
        "30",
        "--json",
        "--out",
        &qr.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(last_line(&out).as_str()).unwrap();
    let id = created["channel"].as_str().unwrap().to_string();
    let invite = created["invite"].as_str().unwrap().to_string();
    (town, press, id, invite)
}

/// A proxy that tampers with `channel_posts` answers as `mode` says.
fn withholding_proxy(url: String, mode: Arc<AtomicU8>) -> String {
    start_proxy(
        url,
        Arc::new(move |bytes: &[u8]| {
            let mode = mode.load(Ordering::SeqCst);
            if mode == HONEST {
                return bytes.to_vec();
            }
            let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
            if let ServerBody::Response {
                response: Response::ChannelPosts { posts, first_seq, .. },
                ..
            } = &mut frame.body
            {
                if mode == DROP_2_3 {
                    posts.retain(|p| !(2..=3).contains(&p.seq));
                } else {
                    posts.retain(|p| p.seq >= 4);
                    *first_seq = (*first_seq).max(4);
                }
                return frame::encode(&frame);
            }
            bytes.to_vec()
        }),
    )
}

#[test]
fn posts_withheld_by_the_server_are_reported_and_delivered_by_a_later_honest_fetch() {
    let (town, press, id, invite) = channel_town();
    press.ok(&["channel", "post", &id, "Meldung 1"]);
    let mode = Arc::new(AtomicU8::new(HONEST));
    let proxy = withholding_proxy(town.server.url(), mode.clone());
    // Two followers read post 1 honestly; a third follows later.
    let reader = Device::with_url(&proxy);
    let lied_to = Device::with_url(&proxy);
    let newcomer = Device::with_url(&proxy);
    for f in [&reader, &lied_to] {
        f.ok(&["follow", &invite]);
        assert_eq!(texts(&json_lines(&f.ok(&["feed", "--json"]))), ["Meldung 1"]);
    }
    newcomer.ok(&["follow", &invite]);
    for n in 2..=5 {
        press.ok(&["channel", "post", &id, &format!("Meldung {n}")]);
    }

    // Posts 2 and 3 are left out: reported as withheld, exit non-zero, and
    // nothing after the gap moves the cursor past it.
    mode.store(DROP_2_3, Ordering::SeqCst);
    let out = reader.run(&["feed", "--json"]);
    let lines = json_lines(&stdout(&out));
    assert!(!out.status.success(), "feed must fail when posts are withheld: {lines:?}");
    assert!(warnings(&lines).iter().any(|w| w == "withheld"), "{lines:?}");
    assert!(!warnings(&lines).iter().any(|w| w == "expired"), "{lines:?}");
    let withheld = lines.iter().find(|l| l["warning"] == "withheld").unwrap();
    assert_eq!(withheld["event"], "withheld", "{withheld}");
    assert_eq!(withheld["seq"], 2, "{withheld}");
    assert!(!texts(&lines).iter().any(|t| t == "Meldung 2" || t == "Meldung 3"), "{lines:?}");
    // Text mode says what happened and what to do.
    let out = reader.run(&["feed"]);
    assert!(!out.status.success());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("withheld") && text.contains("#2"), "{text}");
    assert!(!text.contains("expired"), "{text}");

    // Posts 1-3 left out and called expired, to a follower at post 1 and
    // to a new follower: minutes-old posts cannot have expired.
    mode.store(CLAIM_EXPIRED, Ordering::SeqCst);
    for f in [&lied_to, &newcomer] {
        let out = f.run(&["feed", "--json"]);
        let lines = json_lines(&stdout(&out));
        assert!(!out.status.success(), "feed must fail: {lines:?}");
        assert!(warnings(&lines).iter().any(|w| w == "withheld"), "{lines:?}");
        assert!(!warnings(&lines).iter().any(|w| w == "expired"), "{lines:?}");
    }

    // The honest server delivers everything that was held back.
    mode.store(HONEST, Ordering::SeqCst);
    for f in [&reader, &lied_to] {
        let lines = json_lines(&f.ok(&["feed", "--json"]));
        assert_eq!(texts(&lines), ["Meldung 2", "Meldung 3", "Meldung 4", "Meldung 5"]);
        assert!(warnings(&lines).is_empty(), "{lines:?}");
    }
    let lines = json_lines(&newcomer.ok(&["feed", "--json"]));
    assert_eq!(texts(&lines), ["Meldung 1", "Meldung 2", "Meldung 3", "Meldung 4", "Meldung 5"]);
}

/// Proxy modes of the revocation test.
const STRIP_LIST: u8 = 1;
const OLD_LIST: u8 = 2;
const INJECT_ONLY: u8 = 3;

/// The staff certificate the server publishes for `device` (before it is
/// revoked: afterwards the server leaves it out).
fn certificate_of(url: &str, device: &str) -> StaffCertificate {
    let device = DeviceId::parse(device).unwrap();
    crate::block_on(async {
        let mut c = RawClient::connect(url).await.unwrap();
        let answer = c.request(Request::OrgDirectory { handle: HANDLE.into() }).await.unwrap();
        let Ok(Response::Org { info }) = answer else { panic!("{answer:?}") };
        let key = info.org_key.unwrap();
        info.staff
            .into_iter()
            .find(|c| c.verify(&info.org, &key, 0).is_ok_and(|s| s.device == device))
            .expect("the publisher's certificate")
    })
}

/// The sealed bytes of post `seq` as the server stores them.
fn sealed_post(url: &str, channel: ChannelId, seq: u64) -> Vec<u8> {
    crate::block_on(async {
        let mut c = RawClient::connect(url).await.unwrap();
        let answer =
            c.request(Request::ChannelFetch { channel, after: seq - 1, limit: 1 }).await.unwrap();
        let Ok(Response::ChannelPosts { posts, .. }) = answer else { panic!("{answer:?}") };
        posts.into_iter().find(|p| p.seq == seq).unwrap().post.into_vec()
    })
}

#[test]
fn a_server_hiding_the_revocation_of_a_stolen_publisher_device_is_refused() {
    let (town, press, id, invite) = channel_town();
    let url = town.server.url();
    let channel_id = ChannelId::parse(&id).unwrap();
    press.ok(&["channel", "post", &id, "Meldung eins"]);
    let press_cert = certificate_of(&url, &press.device_id());
    let press_secret = raw::home_secret(&press.home).unwrap();
    let first = sealed_post(&url, channel_id, 1);

    // What a thief holding the press office's laptop (device key, channel
    // key and certificate) posts through the compromised server.
    let parsed = ChannelInvite::parse(&invite).unwrap();
    let body = PostBody {
        v: channel::CHANNEL_VERSION,
        channel: channel_id,
        n: 2,
        prev: ByteBuf::from(channel::post_hash(&first).to_vec()),
        posted_at: now_ms(),
        text: "Trinkwasser verseucht, bitte nicht trinken".into(),
        photos: vec![],
        prev_posted_at: 0,
    };
    let stolen = channel::seal_post(
        &body,
        &parsed.channel_key().unwrap(),
        parsed.key_epoch,
        &press_secret,
        press_cert,
    )
    .unwrap();

    let mode = Arc::new(AtomicU8::new(HONEST));
    let first_list: Arc<Mutex<Option<Signed>>> = Arc::default();
    let proxy = {
        let mode = mode.clone();
        let first_list = first_list.clone();
        start_proxy(
            url.clone(),
            Arc::new(move |bytes: &[u8]| {
                let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                    return bytes.to_vec();
                };
                let mode = mode.load(Ordering::SeqCst);
                match &mut frame.body {
                    ServerBody::Response { response: Response::Org { info }, .. } => {
                        let mut seen = first_list.lock().unwrap();
                        if seen.is_none() {
                            seen.clone_from(&info.revocations);
                        }
                        match mode {
                            STRIP_LIST => info.revocations = None,
                            OLD_LIST => info.revocations.clone_from(&seen),
                            _ => return bytes.to_vec(),
                        }
                    }
                    ServerBody::Response {
                        response: Response::ChannelPosts { posts, last_seq, .. },
                        ..
                    } if mode != HONEST && !posts.iter().any(|p| p.seq == 2) => {
                        posts.push(frame::ChannelPostRecord {
                            seq: 2,
                            stored_at: 1,
                            post: ByteBuf::from(stolen.clone()),
                        });
                        *last_seq = 2;
                    }
                    _ => return bytes.to_vec(),
                }
                frame::encode(&frame)
            }),
        )
    };

    let follower = Device::with_url(&proxy);
    follower.ok(&["follow", &invite]);
    assert_eq!(texts(&json_lines(&follower.ok(&["feed", "--json"]))), ["Meldung eins"]);
    // A clerk leaves (revocation list version 1); the follower sees it.
    town.mayor.ok(&["org", "revoke", &town.clerk.device_id()]);
    follower.ok(&["feed", "--json"]);
    assert!(first_list.lock().unwrap().is_some(), "the proxy saw the first list");
    // The laptop is stolen and revoked (version 2); the follower sees that.
    town.mayor.ok(&["org", "revoke", &press.device_id()]);
    follower.ok(&["feed", "--json"]);

    // The server leaves the list out and serves the thief's post.
    mode.store(STRIP_LIST, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(!out.status.success(), "a missing revocation list must be refused");
    assert!(!stdout(&out).contains("Trinkwasser"), "{}", stdout(&out));
    assert!(stderr(&out).contains("revocation list"), "{}", stderr(&out));
    // ... or serves the older list.
    mode.store(OLD_LIST, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(!out.status.success(), "an older revocation list must be refused");
    assert!(!stdout(&out).contains("Trinkwasser"), "{}", stdout(&out));
    assert!(stderr(&out).contains("revocation list"), "{}", stderr(&out));
    // With the current list the thief's post is flagged, never shown.
    mode.store(INJECT_ONLY, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    let lines = json_lines(&stdout(&out));
    assert!(!texts(&lines).iter().any(|t| t.contains("Trinkwasser")), "{lines:?}");
    assert!(warnings(&lines).iter().any(|w| w == "revoked" || w == "forged"), "{lines:?}");
}

// ---------------------------------------------- org key rotation (item 10)

/// The org key as it lies on the mayor's laptop (`org/<handle>.key`).
fn org_key_on_disk(mayor: &Device) -> stadtbote_protocol::auth::DeviceSecret {
    #[derive(serde::Deserialize)]
    struct KeyFile {
        secret: ByteBuf,
    }
    let bytes = std::fs::read(mayor.home.join("org").join(format!("{HANDLE}.key"))).unwrap();
    let file: KeyFile = ciborium::from_reader(bytes.as_slice()).unwrap();
    stadtbote_protocol::auth::DeviceSecret::from_bytes(&file.secret).unwrap()
}

/// Post `n` of the channel, chained after `prev`, by a device certified by
/// `org_key` only (a thief's publisher, certified by a key he holds).
fn post_certified_by(
    org_key: &stadtbote_protocol::auth::DeviceSecret,
    invite: &ChannelInvite,
    n: u64,
    prev: &[u8],
    text: &str,
) -> Vec<u8> {
    use stadtbote_protocol::org::Role;
    use stadtbote_protocol::org::testing::{CertTimes, Holder, staff_certificate};
    let device = stadtbote_protocol::auth::DeviceSecret::generate();
    let holder = Holder {
        account: stadtbote_protocol::AccountId::random(),
        device: DeviceId::random(),
        identity_key: device.identity_key(),
    };
    let now = now_ms();
    let times = CertTimes {
        issued_at: now - 1000,
        invite_expires_at: now + 86_400_000,
        cert_expires_at: now + 86_400_000,
        bound_at: now - 500,
    };
    let cert = staff_certificate(invite.org, org_key, holder, Role::Publisher, "presse", times);
    let body = PostBody {
        v: channel::CHANNEL_VERSION,
        channel: invite.channel,
        n,
        prev: ByteBuf::from(prev.to_vec()),
        posted_at: now,
        text: text.into(),
        photos: vec![],
        prev_posted_at: 0,
    };
    channel::seal_post(&body, &invite.channel_key().unwrap(), invite.key_epoch, &device, cert)
        .unwrap()
}

/// Proxy modes of the rotation test.
const FORKED_CHAIN: u8 = 1;
const UNSIGNED_CHANGE: u8 = 2;

#[test]
fn followers_keep_reading_after_the_org_key_is_rotated() {
    let (town, press, id, invite) = channel_town();
    let url = town.server.url();
    let channel_id = ChannelId::parse(&id).unwrap();
    let parsed = ChannelInvite::parse(&invite).unwrap();
    press.ok(&["channel", "post", &id, "Vor der Übergabe"]);
    let old_key = org_key_on_disk(&town.mayor);

    // A follower that reads through a proxy which plays honest for now.
    let mode = Arc::new(AtomicU8::new(HONEST));
    let thief = stadtbote_protocol::auth::DeviceSecret::generate();
    let forged_post: Arc<Mutex<Vec<u8>>> = Arc::default();
    let proxy = {
        let (mode, forged_post) = (mode.clone(), forged_post.clone());
        let (old_key, thief) = (old_key.clone(), thief.clone());
        start_proxy(
            url.clone(),
            Arc::new(move |bytes: &[u8]| {
                let mode = mode.load(Ordering::SeqCst);
                if mode == HONEST {
                    return bytes.to_vec();
                }
                let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                    return bytes.to_vec();
                };
                match &mut frame.body {
                    ServerBody::Response { response: Response::Org { info }, .. } => {
                        use stadtbote_protocol::org::{OrgProfile, SignedKind};
                        use stadtbote_protocol::org_rotation::{RotationReason, SignedRotation};
                        // The thief holds the old (replaced) key and serves
                        // a key of his own: by a rotation signed with the
                        // old key that forks the genuine chain, or by no
                        // rotation at all.
                        info.rotations = if mode == FORKED_CHAIN {
                            let (_, fork) = SignedRotation::sign(
                                info.org,
                                &old_key,
                                &thief,
                                1,
                                RotationReason::Handover,
                                now_ms(),
                            );
                            vec![fork]
                        } else {
                            Vec::new()
                        };
                        info.org_key = Some(thief.identity_key());
                        if let Some(profile) = info.profile.as_ref().and_then(|s| {
                            s.decode_unverified::<OrgProfile>(SignedKind::Profile).ok()
                        }) {
                            info.profile =
                                Some(Signed::sign(SignedKind::Profile, &profile, &thief));
                        }
                        info.revocations = None;
                        info.staff_list = None;
                        info.staff.clear();
                    }
                    ServerBody::Response {
                        response: Response::ChannelPosts { posts, last_seq, .. },
                        ..
                    } => {
                        let forged = forged_post.lock().unwrap().clone();
                        posts.retain(|p| p.seq < 3);
                        posts.push(frame::ChannelPostRecord {
                            seq: 3,
                            stored_at: 1,
                            post: ByteBuf::from(forged),
                        });
                        *last_seq = 3;
                    }
                    _ => return bytes.to_vec(),
                }
                frame::encode(&frame)
            }),
        )
    };
    let follower = Device::with_url(&proxy);
    follower.ok(&["follow", &invite]);
    assert_eq!(texts(&json_lines(&follower.ok(&["feed", "--json"]))), ["Vor der Übergabe"]);

    // The new mayor's office takes over with a new key; the press office's
    // certificate is re-issued under it and it keeps posting.
    town.mayor_ok(&["org", "rotate-key"]);
    press.ok(&["channel", "post", &id, "Nach der Übergabe"]);

    // The follower follows the signed rotation from the key of its invite
    // link and reads the post made under the re-issued certificate.
    let out = follower.run(&["feed", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&stdout(&out));
    assert_eq!(texts(&lines), ["Nach der Übergabe"], "{lines:?}");
    assert!(warnings(&lines).is_empty(), "{lines:?}");
    // Somebody who follows the old invite link only now reads both: the
    // older post is dated before the rotation away from the old key.
    let late = Device::new(&town.server);
    late.ok(&["follow", &invite]);
    let lines = json_lines(&late.ok(&["feed", "--json"]));
    assert_eq!(texts(&lines), ["Vor der Übergabe", "Nach der Übergabe"], "{lines:?}");

    // The thief (old key) serves a rotation of his own that forks the
    // chain the follower accepted, and a post certified by his key.
    let second = sealed_post(&url, channel_id, 2);
    *forged_post.lock().unwrap() = post_certified_by(
        &thief,
        &parsed,
        3,
        &channel::post_hash(&second),
        "Gebühren bitte bar im Rathaus-Keller zahlen",
    );
    mode.store(FORKED_CHAIN, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(!out.status.success(), "a forked rotation chain must be refused");
    assert!(!stdout(&out).contains("Rathaus-Keller"), "{}", stdout(&out));
    assert!(stderr(&out).contains("CHANGED"), "{}", stderr(&out));
    // A key change without any signed rotation is a hard error, for a
    // follower that accepted a chain and for one that follows the old link.
    mode.store(UNSIGNED_CHANGE, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(!out.status.success(), "an unsigned key change must be refused");
    assert!(!stdout(&out).contains("Rathaus-Keller"), "{}", stdout(&out));
    assert!(stderr(&out).contains("CHANGED"), "{}", stderr(&out));
    let fresh = Device::with_url(&proxy);
    let out = fresh.run(&["follow", &invite]);
    assert!(!out.status.success(), "an unsigned key change must be refused");
    assert!(stderr(&out).contains("CHANGED"), "{}", stderr(&out));
    // Played honest again, the follower is where it was.
    mode.store(HONEST, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(texts(&json_lines(&stdout(&out))).is_empty());
}

/// Proxy modes of the staff-list revocation test.
const STRIP_STAFF_LIST: u8 = 4;

#[test]
fn followers_flag_posts_by_devices_the_staff_list_revokes() {
    let (town, press, id, invite) = channel_town();
    let url = town.server.url();
    let channel_id = ChannelId::parse(&id).unwrap();
    press.ok(&["channel", "post", &id, "Meldung eins"]);
    let press_cert = certificate_of(&url, &press.device_id());
    let press_secret = raw::home_secret(&press.home).unwrap();
    let first = sealed_post(&url, channel_id, 1);
    let parsed = ChannelInvite::parse(&invite).unwrap();
    let body = PostBody {
        v: channel::CHANNEL_VERSION,
        channel: channel_id,
        n: 2,
        prev: ByteBuf::from(channel::post_hash(&first).to_vec()),
        posted_at: now_ms(),
        text: "Trinkwasser verseucht, bitte nicht trinken".into(),
        photos: vec![],
        prev_posted_at: 0,
    };
    let stolen = channel::seal_post(
        &body,
        &parsed.channel_key().unwrap(),
        parsed.key_epoch,
        &press_secret,
        press_cert,
    )
    .unwrap();

    // The server never shows this follower a revocation list (so it has
    // none to keep), but passes the org-signed staff list on.
    let mode = Arc::new(AtomicU8::new(HONEST));
    let proxy = {
        let mode = mode.clone();
        start_proxy(
            url.clone(),
            Arc::new(move |bytes: &[u8]| {
                let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else {
                    return bytes.to_vec();
                };
                let mode = mode.load(Ordering::SeqCst);
                match &mut frame.body {
                    ServerBody::Response { response: Response::Org { info }, .. } => {
                        info.revocations = None;
                        if mode == STRIP_STAFF_LIST {
                            info.staff_list = None;
                        }
                    }
                    ServerBody::Response {
                        response: Response::ChannelPosts { posts, last_seq, .. },
                        ..
                    } if mode != HONEST && !posts.iter().any(|p| p.seq == 2) => {
                        posts.push(frame::ChannelPostRecord {
                            seq: 2,
                            stored_at: 1,
                            post: ByteBuf::from(stolen.clone()),
                        });
                        *last_seq = 2;
                    }
                    _ => return bytes.to_vec(),
                }
                frame::encode(&frame)
            }),
        )
    };
    let follower = Device::with_url(&proxy);
    follower.ok(&["follow", &invite]);
    assert_eq!(texts(&json_lines(&follower.ok(&["feed", "--json"]))), ["Meldung eins"]);

    // The press office's laptop is stolen and revoked: the staff list the
    // org signs names it.
    town.mayor.ok(&["org", "revoke", &press.device_id()]);
    mode.store(INJECT_ONLY, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    let lines = json_lines(&stdout(&out));
    assert!(!texts(&lines).iter().any(|t| t.contains("Trinkwasser")), "{lines:?}");
    assert!(warnings(&lines).iter().any(|w| w == "revoked"), "{lines:?}");
    // Leaving the staff list out now is refused: the follower keeps it.
    mode.store(STRIP_STAFF_LIST, Ordering::SeqCst);
    let out = follower.run(&["feed", "--json"]);
    assert!(!out.status.success(), "a withheld staff list must be refused");
    assert!(!stdout(&out).contains("Trinkwasser"), "{}", stdout(&out));
    assert!(stderr(&out).contains("staff list"), "{}", stderr(&out));
}
