//! The `fanout` scenario: one channel post to N connected followers.
//!
//! The publisher side is set up with the real client library
//! ([`stadtbote_cli::Client`] in temporary home directories), exactly as a
//! town does it: a server admin claims the server with the one-time code
//! from `<data-dir>/admin-claim.code`, creates an org, the org's first
//! device claims it and invites a publisher, the publisher enrols and
//! creates a channel. Its file saves do not matter here because only one
//! post is timed. Followers are account-less connections that ask for
//! `channel_listen`, as followers do; they record arrival times during the
//! window and open and verify the post (seal, staff signature, chain) with
//! [`stadtbote_protocol::channel::open_post`] afterwards.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::stream::SplitStream;
use stadtbote_cli::channels::NewChannel;
use stadtbote_cli::{Client, Enrolment};
use stadtbote_protocol::channel::{Replies, open_post};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::Role;
use stadtbote_protocol::totp;
use stadtbote_protocol::{Event, Request, Response};
use tokio::sync::Semaphore;

use crate::net::{self, Target, Ws};
use crate::report::{CpuWindow, Report, ms, quantile};

/// The org the scenario creates.
const HANDLE: &str = "benchstadt";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sets up an org with a publisher device and a channel; returns the
/// publisher's client, the channel id text and the invite.
async fn publisher(
    url: &str,
    homes: &Path,
    admin_code: &str,
) -> Result<(Client, String, stadtbote_protocol::channel::ChannelInvite)> {
    let client_err =
        |what: &'static str| move |e: stadtbote_cli::ClientError| anyhow!("{what}: {e}");
    let mut admin =
        Client::init(homes.join("admin"), url, Some("Bench-Admin".into()), Enrolment::Register)
            .await
            .map_err(client_err("admin device"))?;
    let secret = totp::Secret::generate();
    admin.admin_claim(admin_code, &secret).await.map_err(client_err("admin claim"))?;
    let otp = totp::code_at(&secret, now_ms() / 1000);
    let created = admin
        .create_org("Benchstadt", HANDLE, Some(otp))
        .await
        .map_err(client_err("org create"))?;

    let mut mayor =
        Client::init(homes.join("mayor"), url, Some("Bench-Org".into()), Enrolment::Register)
            .await
            .map_err(client_err("org device"))?;
    mayor.claim_org(&created.code).await.map_err(client_err("org claim"))?;
    let invitation = mayor
        .invite_staff(HANDLE, "presse", Role::Publisher, 24)
        .await
        .map_err(client_err("staff invite"))?;

    let mut press =
        Client::init(homes.join("press"), url, Some("Bench-Presse".into()), Enrolment::Register)
            .await
            .map_err(client_err("publisher device"))?;
    press.enroll(&invitation.code).await.map_err(client_err("enrol"))?;
    // Staff certificates count only once the org key approved the binding.
    mayor.approve_enrolments(HANDLE, None).await.map_err(client_err("approve"))?;
    let (channel, invite) = press
        .create_channel(NewChannel {
            handle: None,
            name: "Bench-Amtsblatt".into(),
            description: None,
            retention_days: 1,
            replies: Replies::Off,
        })
        .await
        .map_err(client_err("channel create"))?;
    Ok((press, channel.channel.to_string(), invite))
}

/// Runs the scenario.
pub async fn run(
    target: Arc<Target>,
    followers: usize,
    admin_code_file: &Path,
    server_pid: Option<u32>,
) -> Result<Report> {
    let limit = net::raise_nofile()?;
    net::check_fd_budget(followers, limit)?;
    let mut report = Report::new("fanout");
    let admin_code = std::fs::read_to_string(admin_code_file).with_context(|| {
        format!(
            "reading {} (the server writes <data-dir>/admin-claim.code on its first start; \
             fanout needs a fresh server)",
            admin_code_file.display()
        )
    })?;
    let homes = tempfile::tempdir()?;
    let (mut press, channel_text, invite) =
        publisher(&target.url, homes.path(), admin_code.trim()).await?;
    let channel = invite.channel;

    // Followers: connect and listen, 64 at a time.
    let setup = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(followers);
    for _ in 0..followers {
        let (target, gate) = (target.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut conn = target.connect().await?;
            match conn.request(Request::ChannelListen { channels: vec![channel] }).await? {
                Response::Listening { .. } => Ok::<_, anyhow::Error>(conn),
                other => bail!("unexpected answer to channel_listen: {other:?}"),
            }
        }));
    }
    let mut streams = Vec::with_capacity(followers);
    for task in tasks {
        let (_sender, stream, _) = task.await??.split();
        // The sending half must stay alive, or the connection would close.
        streams.push((_sender, stream));
    }
    report.add_f("listen_setup_s", setup.elapsed().as_secs_f64(), "s to connect all followers");

    // The readers are started before the timed window: spawning ten
    // thousand tasks is the generator's work, not the server's.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut waiters = Vec::with_capacity(followers);
    for (sender, stream) in streams {
        waiters.push(tokio::spawn(wait_post(sender, stream, deadline)));
    }
    tokio::task::yield_now().await;
    let cpu = CpuWindow::start(server_pid);
    let posted_at = Instant::now();
    let seq =
        press.post_to_channel(&channel_text, "Bench: Hochwasserwarnung, Keller räumen", &[]).await;
    let post_answered = posted_at.elapsed();
    let seq = seq.map_err(|e| anyhow!("post: {e}"))?;

    let mut arrivals = Vec::with_capacity(followers);
    let mut posts = Vec::with_capacity(followers);
    let mut received = Vec::with_capacity(followers);
    for waiter in waiters {
        if let Some(arrival) = waiter.await?? {
            received.push(arrival);
        }
    }
    let cpu_use = cpu.finish();
    let mut bad = 0usize;
    for (at, bytes) in received {
        match post_of(&bytes) {
            Some(post) => {
                arrivals.push(at);
                posts.push(post);
            }
            None => bad += 1,
        }
    }

    // Verify every distinct post: the seal, the publisher's certificate and signature.
    let key = invite.channel_key()?;
    let mut verified: Vec<Vec<u8>> = Vec::new();
    for (post_seq, sealed) in &posts {
        if *post_seq != seq {
            bad += 1;
            continue;
        }
        if verified.iter().any(|v| v == sealed) {
            continue;
        }
        match open_post(
            sealed,
            &key,
            &channel,
            &invite.org,
            &invite.org_key,
            &[],
            Some(seq),
            None,
            now_ms(),
        ) {
            Ok(_) => verified.push(sealed.clone()),
            Err(_) => bad += 1,
        }
    }

    let mut delivery_ms: Vec<f64> =
        arrivals.iter().map(|a| ms(a.duration_since(posted_at))).collect();
    let last = delivery_ms.iter().copied().fold(0.0, f64::max);
    report.add("followers", followers, "connected listeners");
    report.add("delivered", arrivals.len(), "followers that got the post");
    report.add("lost", followers - arrivals.len(), "followers without the post within 60 s");
    report.add("bad", bad, "posts that failed verification");
    report.add_f("post_ack_ms", ms(post_answered), "ms for the publisher's post (client library)");
    report.add_f("first_delivery_ms", quantile(&mut delivery_ms, 0.0), "ms");
    report.add_f("p50_delivery_ms", quantile(&mut delivery_ms, 0.5), "ms");
    report.add_f("last_delivery_ms", last, "ms from post to the last follower");
    report.add_f(
        "deliveries_per_s",
        arrivals.len() as f64 / (last / 1000.0).max(1e-3),
        "deliveries/s",
    );
    report.note(
        "times start when the publisher's client begins the post, so they include its sealing, \
         signing and the store's durable write before the server fans out",
    );
    cpu_use.record(&mut report);
    Ok(report)
}

/// Waits for the first binary message on one follower connection and
/// returns it undecoded with its arrival time: decoding (and verifying) is
/// left for after the window, so that the generator spends as little of the
/// machine as possible while the server fans out.
async fn wait_post(
    _sender: net::Sender,
    mut stream: SplitStream<Ws>,
    deadline: Instant,
) -> Result<Option<(Instant, Vec<u8>)>> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Err(_) | Ok(None) | Ok(Some(Err(_))) => return Ok(None),
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                return Ok(Some((Instant::now(), bytes.to_vec())));
            }
            Ok(Some(Ok(Message::Close(_)))) => return Ok(None),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The channel post in a frame a follower received, if it is one.
fn post_of(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    match frame::decode_server(bytes, net::MAX_MESSAGE).ok()?.body {
        ServerBody::Event { event: Event::ChannelPost { post, .. } } => {
            Some((post.seq, post.post.into_vec()))
        }
        _ => None,
    }
}
