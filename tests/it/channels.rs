//! Broadcast channels end to end: followers without accounts, live and
//! pulled delivery, key rotation, nothing readable on the server, a
//! compromised server's tampering detected, and fan-out to 1,000 listeners.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::channel::{self, ChannelInvite, PostBody};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::testing::{CertTimes, Holder, staff_certificate};
use stadtbote_protocol::org::{Role, StaffCertificate};
use stadtbote_protocol::{AccountId, ChannelId, DeviceId, Event, Request, Response};

use crate::harness::{
    Device, Server, contains_bytes, files_below, json_lines, last_line, raw_connect_from,
    start_proxy,
};
use crate::municipal::Town;

struct Channel {
    town: Town,
    press: Device,
    id: String,
    invite: String,
}

fn channel_town() -> Channel {
    let town = Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let qr = tempfile::tempdir().unwrap();
    let out = press.ok(&[
        "channel",
        "create",
        "Amtsblatt Musterhausen",
        "--description",
        "Bekanntmachungen der Stadtverwaltung",
        "--retention-days",
        "30",
        "--json",
        "--out",
        &qr.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(last_line(&out).as_str()).expect("json");
    let id = created["channel"].as_str().expect("channel").to_string();
    let invite = created["invite"].as_str().expect("invite").to_string();
    assert!(ChannelInvite::parse(&invite).is_ok(), "{invite}");
    assert!(
        files_below(qr.path()).iter().any(|p| p.extension().is_some_and(|e| e == "png")),
        "a QR code for the invite"
    );
    Channel { town, press, id, invite }
}

/// Spawns `feed --follow --json` and returns a receiver of its output lines.
fn follow_live(device: &Device) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = device
        .command(&["feed", "--follow", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn texts(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().filter_map(|l| l["text"].as_str().map(str::to_string)).collect()
}

fn warnings(lines: &[serde_json::Value]) -> Vec<String> {
    lines.iter().filter_map(|l| l["warning"].as_str().map(str::to_string)).collect()
}

#[test]
fn followers_without_accounts_get_posts_live_and_later_and_rotation_locks_out_old_invites() {
    let Channel { town, press, id, invite } = channel_town();
    // Three followers that never created an account.
    let followers: Vec<Device> = (0..3).map(|_| Device::new(&town.server)).collect();
    for follower in &followers {
        let out = follower.ok(&["follow", &invite]);
        assert!(out.contains("Amtsblatt Musterhausen"), "{out}");
        assert!(!follower.home.join("identity.key").exists(), "following created no account");
    }
    let listed = json_lines(&followers[0].ok(&["channels", "--json"]));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["channel"], id.as_str());

    // One follows live.
    let (mut live, lines) = follow_live(&followers[0]);
    std::thread::sleep(Duration::from_millis(1500));
    let text = "Wochenmarkt am Samstag auf dem Rathausplatz";
    press.ok(&["channel", "post", &id, text]);
    let posted = Instant::now();
    let mut got = None;
    while posted.elapsed() < Duration::from_secs(10) {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100))
            && line.contains(text)
        {
            got = Some(posted.elapsed());
            break;
        }
    }
    let delay = got.expect("the live follower received the post");
    eprintln!("live delivery after {delay:?}");

    // Two pull later.
    for follower in &followers[1..] {
        let feed = json_lines(&follower.ok(&["feed", "--json"]));
        assert_eq!(texts(&feed), [text], "{feed:?}");
        assert_eq!(feed[0]["seq"], 1);
        assert!(feed[0]["posted_at"].as_u64().is_some());
        // Nothing twice.
        assert!(texts(&json_lines(&follower.ok(&["feed", "--json"]))).is_empty());
    }

    // Rotation: holders of the old invite no longer read new posts.
    let rotated_qr = tempfile::tempdir().unwrap();
    let new_invite = last_line(&press.ok(&[
        "channel",
        "rotate",
        &id,
        "--yes",
        "--out",
        &rotated_qr.path().to_string_lossy(),
    ]));
    assert!(
        files_below(rotated_qr.path()).iter().any(|p| p.extension().is_some_and(|e| e == "png")),
        "a QR code for the new invite"
    );
    assert_ne!(new_invite, invite);
    let secret = "Neue Bauarbeiten ab Montag in der Lindenallee";
    press.ok(&["channel", "post", &id, secret]);
    let old = json_lines(&followers[1].ok(&["feed", "--json"]));
    assert!(!texts(&old).iter().any(|t| t == secret), "old invite decrypted a new post: {old:?}");
    assert!(warnings(&old).iter().any(|w| w == "rotated"), "{old:?}");
    let newcomer = Device::new(&town.server);
    newcomer.ok(&["follow", &new_invite]);
    let fresh = json_lines(&newcomer.ok(&["feed", "--json"]));
    assert!(texts(&fresh).iter().any(|t| t == secret), "{fresh:?}");

    let _ = live.kill();
    let _ = live.wait();

    // The server's disk holds neither post texts nor the channel's name.
    let mut server = town.server;
    server.terminate();
    for file in files_below(&server.data_dir) {
        let bytes = std::fs::read(&file).unwrap();
        for plain in
            [text, secret, "Amtsblatt Musterhausen", "Bekanntmachungen der Stadtverwaltung"]
        {
            assert!(!contains_bytes(&bytes, plain.as_bytes()), "{plain:?} in {}", file.display());
        }
    }
}

#[test]
fn the_privacy_statement_lists_no_subscribers_and_followers_leave_no_trace() {
    let Channel { town, press, id, invite } = channel_town();
    press.ok(&["channel", "post", &id, "Erste Meldung"]);
    let before: u64 = files_below(&town.server.data_dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let (status, json) =
        crate::harness::http_get(town.server.addr, "/privacy", Some("application/json")).unwrap();
    assert_eq!(status, 200);
    let lower = json.to_lowercase();
    assert!(lower.contains("subscriber") || lower.contains("follower"), "{json}");
    // Following and reading write nothing on the server: the follower has
    // no account, and the server keeps no list of who listens.
    let followers: Vec<Device> = (0..5).map(|_| Device::new(&town.server)).collect();
    for f in &followers {
        f.ok(&["follow", &invite]);
        assert_eq!(texts(&json_lines(&f.ok(&["feed", "--json"]))), ["Erste Meldung"]);
    }
    let after: u64 = files_below(&town.server.data_dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert_eq!(before, after, "following changed the data dir");
}

/// A fake staff certificate from an org key nobody trusts.
fn fake_cert(device: &DeviceSecret) -> StaffCertificate {
    let fake_org_key = DeviceSecret::generate();
    let holder = Holder {
        account: AccountId([1; 16]),
        device: DeviceId([2; 16]),
        identity_key: device.identity_key(),
    };
    let times = CertTimes {
        issued_at: 0,
        invite_expires_at: u64::MAX / 2,
        cert_expires_at: u64::MAX / 2,
        bound_at: 1,
    };
    let org = stadtbote_protocol::OrgId([0; 16]);
    staff_certificate(org, &fake_org_key, holder, Role::Publisher, "presse", times)
}

/// Applies `edit` to the posts of every `channel_posts` answer.
fn edit_posts(
    edit: impl Fn(&mut Vec<frame::ChannelPostRecord>) + Send + Sync + 'static,
) -> crate::harness::Tamper {
    Arc::new(move |bytes: &[u8]| {
        let Ok(mut frame) = frame::decode_server(bytes, 1 << 24) else { return bytes.to_vec() };
        if let ServerBody::Response { response: Response::ChannelPosts { posts, .. }, .. } =
            &mut frame.body
        {
            edit(posts);
            return frame::encode(&frame);
        }
        bytes.to_vec()
    })
}

#[test]
fn altered_forged_and_withheld_posts_are_reported_never_shown() {
    let Channel { town, press, id, invite } = channel_town();
    let texts_sent = ["Meldung eins", "Meldung zwei", "Meldung drei", "Meldung vier"];
    for t in texts_sent {
        press.ok(&["channel", "post", &id, t]);
    }
    let url = town.server.url();
    // `feed` exits non-zero when posts are withheld; the output is what
    // this test looks at.
    let follower_through = |tamper: crate::harness::Tamper| {
        let device = Device::with_url(&start_proxy(url.clone(), tamper));
        device.ok(&["follow", &invite]);
        let out = device.run(&["feed", "--json"]);
        json_lines(&String::from_utf8_lossy(&out.stdout))
    };

    // Altered: one bit of post 1 flipped in transit.
    let feed = follower_through(edit_posts(|posts| {
        if let Some(p) = posts.iter_mut().find(|p| p.seq == 1) {
            let last = p.post.len() - 1;
            p.post[last] ^= 1;
        }
    }));
    assert!(!texts(&feed).contains(&"Meldung eins".to_string()), "{feed:?}");
    assert!(warnings(&feed).iter().any(|w| w == "altered"), "{feed:?}");

    // Withheld: post 2 left out.
    let feed = follower_through(edit_posts(|posts| posts.retain(|p| p.seq != 2)));
    assert!(warnings(&feed).iter().any(|w| w == "withheld"), "{feed:?}");
    assert!(!texts(&feed).contains(&"Meldung zwei".to_string()));

    // Forged: post 3 replaced by one sealed with the (public) channel key
    // but signed by a device without a certificate from the town's key.
    let parsed = ChannelInvite::parse(&invite).unwrap();
    let key = parsed.channel_key().unwrap();
    let channel_id = ChannelId::parse(&id).unwrap();
    let feed = follower_through(edit_posts(move |posts| {
        let Some(two) = posts.iter().find(|p| p.seq == 2).map(|p| p.post.to_vec()) else { return };
        let forger = DeviceSecret::generate();
        let body = PostBody {
            v: channel::CHANNEL_VERSION,
            channel: channel_id,
            n: 3,
            prev: ByteBuf::from(channel::post_hash(&two).to_vec()),
            posted_at: 1,
            text: "Gefälschte Meldung: Rathaus geschlossen".into(),
            photos: vec![],
            prev_posted_at: 0,
        };
        let forged = channel::seal_post(&body, &key, parsed.key_epoch, &forger, fake_cert(&forger))
            .expect("seal");
        if let Some(p) = posts.iter_mut().find(|p| p.seq == 3) {
            p.post = ByteBuf::from(forged);
        }
    }));
    assert!(
        !texts(&feed).iter().any(|t| t.contains("Gefälschte")),
        "a forged post was shown: {feed:?}"
    );
    assert!(warnings(&feed).iter().any(|w| w == "forged"), "{feed:?}");

    // The honest server's feed is complete.
    let honest = Device::new(&town.server);
    honest.ok(&["follow", &invite]);
    assert_eq!(texts(&json_lines(&honest.ok(&["feed", "--json"]))), texts_sent);
}

#[test]
fn one_post_fans_out_to_a_thousand_connected_followers() {
    let Channel { town, press, id, .. } = channel_town();
    let channel = ChannelId::parse(&id).unwrap();
    let url = town.server.url();
    const FOLLOWERS: usize = 1000;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(FOLLOWERS);
        for i in 0..FOLLOWERS {
            // Spread over 8 loopback addresses: one address may hold only
            // max_accountless_listeners_per_address (250) such listeners.
            let source = std::net::IpAddr::from([127, 0, 0, 1 + (i % 8) as u8]);
            let mut c = raw_connect_from(&url, source, &[]).await.expect("connect").open();
            let answer =
                c.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
            assert!(matches!(answer, Ok(Response::Listening { channels: 1 })), "{answer:?}");
            clients.push(c);
        }
        clients
    });
    let started = Instant::now();
    press.ok(&["channel", "post", &id, "Hochwasserwarnung: Keller räumen"]);
    let received = runtime.block_on(async {
        let mut tasks = Vec::new();
        for mut c in clients.drain(..) {
            tasks.push(tokio::spawn(async move {
                loop {
                    match c.next_body().await {
                        Ok(ServerBody::Event { event: Event::ChannelPost { post, .. } }) => {
                            return post.seq == 1;
                        }
                        Ok(_) => continue,
                        Err(_) => return false,
                    }
                }
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap_or(false) {
                ok += 1;
            }
        }
        ok
    });
    eprintln!("fan-out to {FOLLOWERS} followers: {:?} including the CLI", started.elapsed());
    assert_eq!(received, FOLLOWERS);
}

#[test]
fn a_private_reply_reaches_the_town_only_and_unfollow_forgets_the_channel() {
    let town = Town::new(Server::start());
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let out = press.ok(&[
        "channel",
        "create",
        "Baustellen-Info",
        "--replies",
        "private",
        "--json",
        "--out",
        &tempfile::tempdir().unwrap().path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(last_line(&out).as_str()).unwrap();
    let id = created["channel"].as_str().unwrap().to_string();
    let invite = created["invite"].as_str().unwrap().to_string();
    press.ok(&["channel", "post", &id, "Vollsperrung der Brückenstraße ab 1. Dezember"]);

    // A citizen with an account replies privately to post 1.
    let citizen = town.citizen("Carla");
    citizen.ok(&["follow", &invite]);
    citizen.ok(&["feed"]);
    let question = "Wie komme ich dann zum Bahnhof?";
    let thread = last_line(&citizen.ok(&["reply-to", &id, "1", question]));
    assert!(stadtbote_protocol::GroupId::parse(&thread).is_ok(), "{thread}");
    let inbox = json_lines(&press.ok(&["threads", "--json"]));
    assert!(inbox.iter().any(|t| t["thread"] == thread.as_str()), "{inbox:?}");
    assert!(press.ok(&["show", &thread]).contains(question));

    // Another follower sees the post, never the reply.
    let other = Device::new(&town.server);
    other.ok(&["follow", &invite]);
    let feed = other.ok(&["feed", "--json"]);
    assert!(feed.contains("Vollsperrung") && !feed.contains(question), "{feed}");

    // Unfollowing forgets the channel.
    other.ok(&["unfollow", &id]);
    assert!(json_lines(&other.ok(&["channels", "--json"])).is_empty());
    // A channel without private replies refuses them.
    let closed = press.ok(&[
        "channel",
        "create",
        "Amtsblatt",
        "--json",
        "--out",
        &tempfile::tempdir().unwrap().path().to_string_lossy(),
    ]);
    let closed: serde_json::Value = serde_json::from_str(last_line(&closed).as_str()).unwrap();
    let closed_id = closed["channel"].as_str().unwrap().to_string();
    press.ok(&["channel", "post", &closed_id, "Sitzung des Gemeinderats"]);
    citizen.ok(&["follow", closed["invite"].as_str().unwrap()]);
    citizen.ok(&["feed"]);
    citizen.fails(&["reply-to", &closed_id, "1", "Darf ich?"]);
}
