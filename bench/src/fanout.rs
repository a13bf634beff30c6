//! The `fanout` scenario: one channel post (or a burst of `--posts`) to N
//! connected followers.
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
//!
//! With `--posts N` the publisher posts N times back to back (each post
//! waits for the server's answer, as the client library does) and every
//! follower waits for all N. The first post's figures keep their names
//! (`last_delivery_ms`, ...); the burst adds deliveries/s over the whole
//! burst and the server's CPU per delivery, read from `/proc/<pid>/stat`
//! (utime + stime) before the first post and after the last delivery.
//!
//! With `--servers URL,URL,…` the followers are spread round robin over
//! several nodes of one cluster (issue 20 item 2) while the publisher posts
//! through `--server`; `bench/run-all.sh fanout-cluster` reads each node's
//! `cluster_posts_read_total` to show that each node read the post once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use stadtbote_cli::channels::NewChannel;
use stadtbote_cli::{Client, Enrolment};
use stadtbote_protocol::channel::{Replies, open_post};
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::org::Role;
use stadtbote_protocol::totp;
use stadtbote_protocol::{Event, Request, Response};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Bytes;

use crate::net::{self, Target};
use crate::report::{CpuWindow, Report, ms, quantile, rss_kib};

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
    // Opening and creating a home fail with the CLI's own errors.
    let cli_err = |what: &'static str| move |e: stadtbote_cli::CliError| anyhow!("{what}: {e}");
    let mut admin =
        Client::init(homes.join("admin"), url, Some("Bench-Admin".into()), Enrolment::Register)
            .await
            .map_err(cli_err("%s"))?;
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
            .map_err(cli_err("%s"))?;
    mayor.claim_org(&created.code).await.map_err(client_err("org claim"))?;
    let invitation = mayor
        .invite_staff(HANDLE, "presse", Role::Publisher, 24)
        .await
        .map_err(client_err("staff invite"))?;

    let mut press =
        Client::init(homes.join("press"), url, Some("Bench-Presse".into()), Enrolment::Register)
            .await
            .map_err(cli_err("%s"))?;
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

/// The posts of one run.
pub struct Burst {
    /// Posts, one after another (at least one).
    pub posts: usize,
    /// Wait between the followers' setup and the first post.
    pub wait: Duration,
    /// Servers the followers connect to, round robin (the nodes of a
    /// cluster); empty: the publisher's server.
    pub spread: Vec<Arc<Target>>,
}

/// Runs the scenario: `burst.posts` posts to `followers` listeners.
pub async fn run(
    target: Arc<Target>,
    followers: usize,
    burst: Burst,
    admin_code_file: &Path,
    server_pid: Option<u32>,
) -> Result<Report> {
    let posts = burst.posts.max(1);
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

    // Server memory before the followers, after they listen and after the posts.
    let rss_before = server_pid.map(rss_kib).transpose()?;
    // Followers: connect and listen, 64 at a time.
    let setup = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(followers);
    for i in 0..followers {
        let target = match burst.spread.len() {
            0 => target.clone(),
            n => burst.spread[i % n].clone(),
        };
        let gate = gate.clone();
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
        // From here on the followers read the raw socket (see `wait_posts`).
        streams.push(task.await??.into_tcp());
    }
    report.add_f("listen_setup_s", setup.elapsed().as_secs_f64(), "s to connect all followers");
    let rss_listening = server_pid.map(rss_kib).transpose()?;

    // The readers are started before the timed window: spawning ten
    // thousand tasks is the generator's work, not the server's.
    let deadline = Instant::now() + burst.wait + Duration::from_secs(60);
    let mut waiters = Vec::with_capacity(followers);
    for stream in streams {
        waiters.push(tokio::spawn(wait_posts(stream, posts, deadline)));
    }
    if !burst.wait.is_zero() {
        eprintln!(
            "fanout: {followers} followers listen; first post in {:.1} s",
            burst.wait.as_secs_f64()
        );
        tokio::time::sleep(burst.wait).await;
    }
    tokio::task::yield_now().await;
    let load = load_average();
    let cpu = CpuWindow::start(server_pid);
    let server_cpu_before = server_pid.and_then(process_cpu_secs_of);
    let generator_cpu_before = process_cpu_secs_of_self();
    let burst_started = Instant::now();
    // Per post: when its client began it, and the sequence number it got.
    let mut sent: Vec<(Instant, u64)> = Vec::with_capacity(posts);
    let mut post_answered = Duration::ZERO;
    for i in 0..posts {
        let text = format!("Bench: Hochwasserwarnung {}, Keller räumen", i + 1);
        let posted_at = Instant::now();
        let seq = press.post_to_channel(&channel_text, &text, &[]).await;
        if i == 0 {
            post_answered = posted_at.elapsed();
        }
        sent.push((posted_at, seq.map_err(|e| anyhow!("post {}: {e}", i + 1))?));
    }

    let mut received = Vec::with_capacity(followers);
    let mut connections = Vec::with_capacity(followers);
    for waiter in waiters {
        let (messages, stream) = waiter.await??;
        received.push(messages);
        connections.push(stream);
    }
    let cpu_use = cpu.finish();
    let server_cpu = server_cpu_before
        .zip(server_pid.and_then(process_cpu_secs_of))
        .map(|(before, after)| after - before);
    let generator_cpu =
        generator_cpu_before.zip(process_cpu_secs_of_self()).map(|(before, after)| after - before);
    let rss_after = server_pid.map(rss_kib).transpose()?;
    // Closed only now, after the window's readings.
    drop(connections);

    // Per post (by its index in `sent`): arrival times at the followers.
    let mut arrivals: Vec<Vec<Instant>> = vec![Vec::with_capacity(followers); posts];
    // Followers that got every post.
    let mut complete = 0usize;
    let mut bad = 0usize;
    // Every distinct post is verified once: the seal, the publisher's
    // certificate and signature, and the sequence number it was answered with.
    let key = invite.channel_key()?;
    let mut verified: Vec<(u64, Vec<u8>)> = Vec::new();
    for messages in received {
        let mut got = 0usize;
        for (at, bytes) in messages {
            let Some((post_seq, sealed)) = post_of(&bytes) else {
                bad += 1;
                continue;
            };
            let Some(index) = sent.iter().position(|(_, seq)| *seq == post_seq) else {
                bad += 1;
                continue;
            };
            if !verified.iter().any(|(seq, v)| *seq == post_seq && *v == sealed) {
                match open_post(
                    &sealed,
                    &key,
                    &channel,
                    &invite.org,
                    &invite.org_key,
                    &[],
                    Some(post_seq),
                    None,
                    now_ms(),
                ) {
                    Ok(_) => verified.push((post_seq, sealed)),
                    Err(_) => {
                        bad += 1;
                        continue;
                    }
                }
            }
            arrivals[index].push(at);
            got += 1;
        }
        if got == posts {
            complete += 1;
        }
    }

    let (posted_at, _) = sent[0];
    let mut delivery_ms: Vec<f64> =
        arrivals[0].iter().map(|a| ms(a.duration_since(posted_at))).collect();
    let last = delivery_ms.iter().copied().fold(0.0, f64::max);
    let first_delivered = arrivals[0].len();
    let deliveries: usize = arrivals.iter().map(Vec::len).sum();
    let burst_last =
        arrivals.iter().flatten().map(|a| ms(a.duration_since(burst_started))).fold(0.0, f64::max);
    report.add("followers", followers, "connected listeners");
    report.add("delivered", first_delivered, "followers that got the (first) post");
    report.add("lost", followers - first_delivered, "followers without the post within 60 s");
    report.add("bad", bad, "posts that failed verification");
    report.add_f("post_ack_ms", ms(post_answered), "ms for the publisher's post (client library)");
    report.add_f("first_delivery_ms", quantile(&mut delivery_ms, 0.0), "ms");
    report.add_f("p50_delivery_ms", quantile(&mut delivery_ms, 0.5), "ms");
    report.add_f("last_delivery_ms", last, "ms from post to the last follower");
    let per_s = if posts == 1 {
        first_delivered as f64 / (last / 1000.0).max(1e-3)
    } else {
        deliveries as f64 / (burst_last / 1000.0).max(1e-3)
    };
    report.add_f("deliveries_per_s", per_s, "deliveries/s (over the whole burst)");
    report.add("posts", posts, "posts in the burst");
    report.add("deliveries", deliveries, "posts received by followers in all");
    report.add("complete_followers", complete, "followers that got every post");
    report.add(
        "missed_deliveries",
        (followers * posts).saturating_sub(deliveries),
        "posts a follower did not get within 60 s",
    );
    report.add_f(
        "burst_last_delivery_ms",
        burst_last,
        "ms from the first post to the last delivery",
    );
    if let Some(cpu) = server_cpu {
        report.add_f("server_cpu_s", cpu, "s of server CPU (user + system) in the window");
        report.add_f(
            "server_cpu_us_per_delivery",
            cpu * 1e6 / deliveries.max(1) as f64,
            "µs of server CPU per delivered post (per follower and post)",
        );
    }
    if let Some(cpu) = generator_cpu {
        report.add_f("generator_cpu_s", cpu, "s of generator CPU in the window");
        report.add_f(
            "generator_cpu_us_per_delivery",
            cpu * 1e6 / deliveries.max(1) as f64,
            "µs of generator CPU per received post",
        );
    }
    if let (Some(before), Some(listening), Some(after)) = (rss_before, rss_listening, rss_after) {
        let per = |kib: u64| kib.saturating_sub(before) as f64 / followers.max(1) as f64;
        report.add_f("server_rss_kib_per_follower", per(listening), "KiB per listening follower");
        report.add_f(
            "server_rss_kib_per_follower_after_posts",
            per(after),
            "KiB per follower once the posts went out (buffers that stay)",
        );
    }
    if let Some(load) = load {
        report.add_f(
            "load_avg_1m",
            load,
            "runnable processes (1-minute load average at the start)",
        );
    }
    report.note(
        "times start when the publisher's client begins the post, so they include its sealing, \
         signing and the store's durable write before the server fans out",
    );
    if posts > 1 {
        report.note(
            "the burst's posts go out one after another, each after the previous one's answer; \
             the CPU window spans the whole burst (including the posts' own handling and the \
             publisher's sealing, which runs in the generator), read in 10 ms ticks",
        );
    }
    cpu_use.record(&mut report);
    Ok(report)
}

/// User plus system CPU seconds of process `pid` from `/proc/<pid>/stat`.
fn process_cpu_secs_of(pid: u32) -> Option<f64> {
    crate::report::process_cpu_secs(&pid.to_string())
}

/// The machine's 1-minute load average (`/proc/loadavg`): other work on the
/// same machine makes the figures noisy.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The generator's own CPU seconds.
fn process_cpu_secs_of_self() -> Option<f64> {
    crate::report::process_cpu_secs("self")
}

/// Waits for `posts` binary messages on one follower connection and
/// returns them undecoded with their arrival times: decoding (and
/// verifying) is left for after the window, so that the generator spends as
/// little of the machine as possible while the server fans out. It reads
/// the raw socket and parses the server's WebSocket frames itself (RFC 6455
/// 5.2; server frames are unmasked): one readiness wake-up and one `read()`
/// per arrival, without tungstenite's per-message machinery and the split
/// stream's lock, which made the generator, not the server, the bound of
/// the one-post figure (docs/BENCHMARKS.md). Fewer come back when the
/// connection ends or the deadline passes first. The connection comes back
/// too: closing ten thousand connections is work for the server, and it
/// must not fall into the timed window (the caller drops them after it).
async fn wait_posts(stream: TcpStream, posts: usize, deadline: Instant) -> Result<Follower> {
    let mut got = Vec::with_capacity(posts);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    'read: while got.len() < posts {
        tokio::select! {
            biased;
            ready = stream.readable() => {
                if ready.is_err() {
                    break;
                }
            }
            () = &mut sleep => break,
        }
        if buf.capacity() - buf.len() < 2048 {
            buf.reserve(4096);
        }
        match stream.try_read_buf(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        let at = Instant::now();
        let mut used = 0;
        while let Some((opcode, range)) = ws_frame(&buf[used..]) {
            let payload = &buf[used..][range.clone()];
            match opcode {
                0x2 => got.push((at, Bytes::copy_from_slice(payload))),
                0x8 => break 'read,
                _ => {}
            }
            used += range.end;
        }
        buf.drain(..used);
    }
    Ok((got, stream))
}

/// The opcode and payload range of the first whole, unmasked, final frame
/// in `buf`, if it holds one.
fn ws_frame(buf: &[u8]) -> Option<(u8, std::ops::Range<usize>)> {
    let (&first, rest) = buf.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (len, header): (usize, usize) = match second & 0x7F {
        126 => (usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)), 4),
        127 => (usize::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?, 10),
        n => (usize::from(n), 2),
    };
    let end = header.checked_add(len)?;
    (buf.len() >= end).then_some((first & 0x0F, header..end))
}

/// What one follower received (arrival time, frame), and its connection.
type Follower = (Vec<(Instant, Bytes)>, TcpStream);

/// The channel post in a frame a follower received, if it is one.
fn post_of(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    match frame::decode_server(bytes, net::MAX_MESSAGE).ok()?.body {
        ServerBody::Event { event: Event::ChannelPost { post, .. } } => {
            Some((post.seq, post.post.into_vec()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_are_split_at_their_lengths() {
        let mut buf = vec![0x82, 3, 1, 2, 3, 0x82, 126, 0, 200];
        buf.extend_from_slice(&[9; 200]);
        buf.extend_from_slice(&[0x88, 0]);
        assert_eq!(ws_frame(&buf), Some((2, 2..5)));
        assert_eq!(ws_frame(&buf[5..]), Some((2, 4..204)));
        assert_eq!(ws_frame(&buf[209..]), Some((8, 2..2)), "a close frame without payload");
        assert_eq!(ws_frame(&buf[5..100]), None, "incomplete");
        assert_eq!(ws_frame(&[0x82]), None);
    }
}
