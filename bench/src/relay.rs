//! The `relay` and `offline` scenarios: 1:1 end-to-end encrypted messages.
//!
//! Each pair is two registered devices in one MLS conversation, set up as
//! the real client does it: the second device uploads a KeyPackage, the
//! first claims it, creates the group (the deterministic conversation id),
//! commits the add with a Welcome, and the second device joins from the
//! Welcome in its mailbox. All messages are encrypted with
//! [`MlsClient::encrypt`] *before* the timed window, because encrypting
//! (and signing) each message costs the generator as much CPU as relaying
//! it costs the server, and both share two cores. The receiver records
//! arrival times and acknowledges envelopes during the window; it decrypts
//! afterwards, which also proves every counted message was the real one.
//!
//! The home-dir [`stadtbote_cli::Client`] is not used here: it saves its
//! state files after every send and every mailbox batch, which would make
//! the generator's disk writes, not the relay, the bottleneck.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::stream::SplitStream;
use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::ServerBody;
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::{Incoming, MlsClient};
use stadtbote_protocol::{ErrorCode, Event, GroupId, Request, Response};
use tokio::sync::Semaphore;

use crate::net::{self, Conn, Device, Target, Ws};
use crate::report::{CpuWindow, Report, ms, quantile};

/// One side of a conversation.
pub struct Peer {
    /// The device.
    pub device: Device,
    /// Its MLS state.
    pub mls: MlsClient,
    /// Its open connection (absent while offline).
    pub conn: Option<Conn>,
}

/// Two devices in one MLS conversation.
pub struct Pair {
    /// The creator of the group.
    pub a: Peer,
    /// The member added by `a`.
    pub b: Peer,
    /// The conversation.
    pub group: GroupId,
}

/// Registers two devices and puts them in one conversation.
pub async fn make_pair(target: &Target) -> Result<Pair> {
    let mut conn_a = target.connect().await?;
    let dev_a = conn_a.register().await?;
    let mut conn_b = target.connect().await?;
    let dev_b = conn_b.register().await?;
    let mls_a = MlsClient::new(&dev_a.secret, dev_a.account, dev_a.device);
    let mls_b = MlsClient::new(&dev_b.secret, dev_b.account, dev_b.device);

    let packages = mls_b.generate_key_packages(1)?;
    let one_time = packages.into_iter().map(ByteBuf::from).collect();
    conn_b.request(Request::UploadKeyPackages { one_time, last_resort: None }).await?;

    let claimed = match conn_a.request(Request::ClaimKeyPackages { account: dev_b.account }).await?
    {
        Response::KeyPackages { packages } => packages,
        other => bail!("unexpected answer to claim: {other:?}"),
    };
    let packages: Vec<Vec<u8>> = claimed.into_iter().map(|p| p.key_package.into_vec()).collect();
    // A random group id, as clients create 1:1 conversations.
    let (group, nonce) = new_random_group();
    mls_a.create_group(group)?;
    let commit = mls_a.add_members(&group, &packages)?;
    let create = GroupCreation::Random { nonce: ByteBuf::from(nonce.to_vec()) };
    let request = commit
        .request(group, &dev_a.secret, Some(create))
        .ok_or_else(|| anyhow!("commit too large to state"))?;
    conn_a.request(request).await?;
    mls_a.merge_pending(&group)?;

    // The Welcome arrives in b's mailbox.
    let deadline = Instant::now() + net::SETUP_TIMEOUT;
    let mut joined = false;
    while !joined {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = conn_b.next_event(left).await? else { bail!("no Welcome arrived") };
        if let Event::Deliver { envelopes, .. } = event {
            let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();
            for envelope in envelopes {
                if let Incoming::Welcome { .. } = mls_b.process(&envelope.payload)? {
                    joined = true;
                }
            }
            if !ids.is_empty() {
                conn_b.request(Request::Ack { ids }).await?;
            }
        }
    }
    // a's own mailbox holds nothing yet; drop the initial empty batch.
    conn_a.events.clear();
    Ok(Pair {
        a: Peer { device: dev_a, mls: mls_a, conn: Some(conn_a) },
        b: Peer { device: dev_b, mls: mls_b, conn: Some(conn_b) },
        group,
    })
}

/// Sets up `n` pairs, several at a time.
pub async fn make_pairs(target: &Arc<Target>, n: usize) -> Result<Vec<Pair>> {
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (target, gate) = (target.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            make_pair(&target).await
        }));
    }
    let mut pairs = Vec::with_capacity(n);
    for task in tasks {
        pairs.push(task.await??);
    }
    Ok(pairs)
}

/// The plaintext of message `seq`: the sequence number, then filler up to
/// `size` bytes (at least 8).
fn plaintext(seq: u64, size: usize) -> Vec<u8> {
    let mut text = seq.to_be_bytes().to_vec();
    text.resize(size.max(8), b'x');
    text
}

/// Encrypts `count` messages of `size` bytes from `peer` into `group`, on a
/// blocking thread per call so that several peers encrypt in parallel.
async fn prepare(
    peer_mls: Arc<MlsClient>,
    group: GroupId,
    count: usize,
    size: usize,
) -> Result<Vec<Vec<u8>>> {
    tokio::task::spawn_blocking(move || {
        (0..count as u64)
            .map(|seq| peer_mls.encrypt(&group, &plaintext(seq, size)).map_err(anyhow::Error::from))
            .collect()
    })
    .await?
}

/// What one receiving connection saw.
#[derive(Default)]
struct Received {
    /// Arrival time and payload of each delivered envelope, in order.
    envelopes: Vec<(Instant, Vec<u8>)>,
    /// Ack latency (ms) of each `Stored` answer within the window, by sequence number.
    stored: HashMap<u64, Instant>,
    /// Refusals by error code.
    errors: HashMap<String, u64>,
}

/// Shared between a connection's sending task and its reading task.
struct Flow {
    /// When each message (by sequence number) was sent.
    sent_at: Mutex<Vec<Option<Instant>>>,
    /// Request id of sequence number 0; sends use consecutive ids only
    /// until the first ack is sent, so the mapping is kept explicitly.
    id_to_seq: Mutex<HashMap<u64, u64>>,
    /// Messages sent but not yet answered (for the closed-loop window).
    in_flight: Semaphore,
}

/// Options of the relay scenario.
pub struct RelayOptions {
    /// Pairs of online devices.
    pub pairs: usize,
    /// Length of the timed window.
    pub duration: Duration,
    /// Plaintext bytes per message.
    pub size: usize,
    /// Fixed total rate (messages/s); closed loop when `None`.
    pub rate: Option<f64>,
    /// Unanswered sends allowed per connection in closed loop.
    pub window: usize,
    /// Messages to prepare per direction (overrides the estimate).
    pub prepare: Option<usize>,
    /// The server's pid, for CPU readings.
    pub server_pid: Option<u32>,
}

/// Runs the relay scenario.
pub async fn run_relay(target: Arc<Target>, opts: RelayOptions) -> Result<Report> {
    let limit = net::raise_nofile()?;
    net::check_fd_budget(opts.pairs * 2, limit)?;
    let mut report = Report::new("relay");
    let pairs = make_pairs(&target, opts.pairs).await?;

    // Messages per direction: enough for the fixed rate, or for a generous
    // ceiling of 60,000 messages/s in closed loop (three times the target).
    let directions = opts.pairs * 2;
    let per_direction = opts.prepare.unwrap_or_else(|| {
        let total = opts.rate.unwrap_or(60_000.0) * opts.duration.as_secs_f64() * 1.1;
        (total / directions as f64).ceil() as usize + opts.window
    });
    let prep_started = Instant::now();
    let mut prepared_tasks = Vec::new();
    let mut peers = Vec::new();
    for pair in pairs {
        let Pair { a, b, group } = pair;
        let a_mls = Arc::new(a.mls);
        let b_mls = Arc::new(b.mls);
        prepared_tasks.push(tokio::spawn(prepare(a_mls.clone(), group, per_direction, opts.size)));
        prepared_tasks.push(tokio::spawn(prepare(b_mls.clone(), group, per_direction, opts.size)));
        peers.push((a_mls, a.conn, group));
        peers.push((b_mls, b.conn, group));
    }
    let mut prepared = Vec::new();
    for task in prepared_tasks {
        prepared.push(task.await??);
    }
    report.add_f(
        "prepare_s",
        prep_started.elapsed().as_secs_f64(),
        "s encrypting before the window",
    );

    let cpu = CpuWindow::start(opts.server_pid);
    let start = Instant::now() + Duration::from_millis(200);
    let stop = start + opts.duration;
    let interval = opts.rate.map(|r| Duration::from_secs_f64(directions as f64 / r.max(1e-3)));

    let mut handles = Vec::new();
    let mut flows = Vec::new();
    for (index, ((_, conn, group), messages)) in peers.iter_mut().zip(prepared).enumerate() {
        let (mut sender, stream, _) = conn.take().context("a peer is offline")?.split();
        let flow = Arc::new(Flow {
            sent_at: Mutex::new(vec![None; messages.len()]),
            id_to_seq: Mutex::new(HashMap::new()),
            in_flight: Semaphore::new(opts.window.max(1)),
        });
        flows.push(flow.clone());
        let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u64>>();
        let reader =
            tokio::spawn(read_loop(stream, flow.clone(), ack_tx, stop + Duration::from_secs(5)));
        let group = *group;
        // Stagger fixed-rate senders so that they do not fire in lockstep.
        let offset =
            interval.map(|i| i.mul_f64(index as f64 / directions as f64)).unwrap_or_default();
        let writer = tokio::spawn(async move {
            tokio::time::sleep_until((start + offset).into()).await;
            let mut exhausted = true;
            for (seq, message) in messages.into_iter().enumerate() {
                if let Some(interval) = interval {
                    let due = start + offset + interval.mul_f64(seq as f64);
                    if due >= stop {
                        exhausted = false;
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                } else {
                    let permit = tokio::select! {
                        permit = flow.in_flight.acquire() => permit?,
                        _ = tokio::time::sleep_until(stop.into()) => { exhausted = false; break }
                    };
                    permit.forget();
                }
                // Acks of received envelopes go out between sends.
                while let Ok(ids) = ack_rx.try_recv() {
                    sender.send(Request::Ack { ids }).await?;
                }
                if Instant::now() >= stop {
                    exhausted = false;
                    break;
                }
                let id = sender.peek_id();
                flow.id_to_seq.lock().map_err(|_| anyhow!("poisoned"))?.insert(id, seq as u64);
                flow.sent_at.lock().map_err(|_| anyhow!("poisoned"))?[seq] = Some(Instant::now());
                sender.send(Request::Send { group, message: ByteBuf::from(message) }).await?;
            }
            // Keep acknowledging what arrives after the window.
            let drain_until = stop + Duration::from_secs(5);
            loop {
                tokio::select! {
                    ids = ack_rx.recv() => match ids {
                        Some(ids) => { sender.send(Request::Ack { ids }).await?; }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(drain_until.into()) => break,
                }
            }
            Ok::<_, anyhow::Error>((exhausted, sender))
        });
        handles.push((reader, writer));
    }

    let mut received = Vec::new();
    let mut exhausted_any = false;
    for (reader, writer) in handles {
        let (exhausted, _sender) = writer.await??;
        exhausted_any |= exhausted;
        received.push(reader.await??);
    }
    let cpu_use = cpu.finish();

    // Decrypt after the window and match each delivered message with its send.
    // Peer 2k (a) receives what 2k+1 (b) sent and vice versa.
    let mut deliver_ms = Vec::new();
    let mut ack_ms = Vec::new();
    let mut completed = 0u64;
    let mut last_completion = start;
    let mut sent_total = 0u64;
    let mut acked_total = 0u64;
    let mut delivered_total = 0u64;
    let mut errors: HashMap<String, u64> = HashMap::new();
    // Decryption is CPU-bound: one blocking task per receiver, in parallel.
    let mut decrypting = Vec::with_capacity(received.len());
    for (index, got) in received.iter_mut().enumerate() {
        let mls = peers[index].0.clone();
        let envelopes = std::mem::take(&mut got.envelopes);
        decrypting.push(tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(envelopes.len());
            for (arrived, payload) in envelopes {
                if let Incoming::Application { plaintext, .. } = mls.process(&payload)? {
                    let head = plaintext.get(..8).context("short plaintext")?;
                    out.push((arrived, u64::from_be_bytes(head.try_into()?)));
                }
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut decrypted = Vec::with_capacity(decrypting.len());
    for task in decrypting {
        decrypted.push(task.await??);
    }
    for (index, got) in received.iter().enumerate() {
        let sender_index = index ^ 1;
        let sent_at = flows[sender_index].sent_at.lock().map_err(|_| anyhow!("poisoned"))?.clone();
        let acked_at = &received[sender_index].stored;
        sent_total += sent_at.iter().filter(|s| s.is_some()).count() as u64;
        acked_total += acked_at.len() as u64;
        for (code, n) in &got.errors {
            *errors.entry(code.clone()).or_default() += n;
        }
        for (seq, at) in acked_at {
            if let Some(Some(sent)) = sent_at.get(*seq as usize) {
                ack_ms.push(ms(at.duration_since(*sent)));
            }
        }
        for &(arrived, seq) in &decrypted[index] {
            let Some(Some(sent)) = sent_at.get(seq as usize) else { continue };
            delivered_total += 1;
            deliver_ms.push(ms(arrived.duration_since(*sent)));
            if let Some(acked) = acked_at.get(&seq) {
                completed += 1;
                last_completion = last_completion.max(arrived.max(*acked));
            }
        }
    }
    let elapsed = last_completion.duration_since(start).as_secs_f64().max(1e-3);
    report.add("pairs", opts.pairs, "pairs (2 connections each)");
    report.add("size", opts.size, "bytes of plaintext per message");
    if let Some(rate) = opts.rate {
        report.add_f("offered_rate", rate, "msgs/s (fixed rate)");
    }
    report.add("sent", sent_total, "messages");
    report.add("acked", acked_total, "messages");
    report.add("delivered", delivered_total, "messages (decrypted after the window)");
    report.add("lost", acked_total.saturating_sub(completed), "acked but not delivered within 5 s");
    report.add_f("msgs_per_s", completed as f64 / elapsed, "msgs/s acked and delivered");
    report.add_f("p50_deliver_ms", quantile(&mut deliver_ms, 0.5), "ms send→deliver");
    report.add_f("p99_deliver_ms", quantile(&mut deliver_ms, 0.99), "ms send→deliver");
    report.add_f("p50_ack_ms", quantile(&mut ack_ms, 0.5), "ms send→stored");
    report.add_f("p99_ack_ms", quantile(&mut ack_ms, 0.99), "ms send→stored");
    if !errors.is_empty() {
        report.add("errors", serde_json::to_value(&errors)?, "refusals by code");
        if errors.contains_key(ErrorCode::RateLimited.as_str()) {
            report.note("the server rate-limited sends: start it with deploy/bench.toml");
        }
    }
    if exhausted_any {
        report.note(format!(
            "bounded by the generator: a sender used all {per_direction} prepared messages \
             before the window ended (raise --prepare)"
        ));
    }
    cpu_use.record(&mut report);
    Ok(report)
}

/// Reads answers and deliveries until `until`; hands envelope ids to the
/// writer for acknowledgement.
async fn read_loop(
    mut stream: SplitStream<Ws>,
    flow: Arc<Flow>,
    acks: tokio::sync::mpsc::UnboundedSender<Vec<u64>>,
    until: Instant,
) -> Result<Received> {
    let mut got = Received::default();
    loop {
        // After the window, stop once the connection has been quiet for a second.
        let now = Instant::now();
        let deadline = if now < until.checked_sub(Duration::from_secs(5)).unwrap_or(until) {
            until
        } else {
            until.min(now + Duration::from_secs(1))
        };
        let body = match tokio::time::timeout_at(deadline.into(), net::read_body(&mut stream)).await
        {
            Err(_) => break,
            Ok(Err(_)) => break,
            Ok(Ok(body)) => body,
        };
        let now = Instant::now();
        match body {
            ServerBody::Response { id, response: Response::Stored { .. } } => {
                let seq = flow.id_to_seq.lock().map_err(|_| anyhow!("poisoned"))?.get(&id).copied();
                if let Some(seq) = seq {
                    got.stored.insert(seq, now);
                    flow.in_flight.add_permits(1);
                }
            }
            ServerBody::Event { event: Event::Deliver { envelopes, .. } } => {
                let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();
                for envelope in envelopes {
                    got.envelopes.push((now, envelope.payload.into_vec()));
                }
                if !ids.is_empty() {
                    let _ = acks.send(ids);
                }
            }
            ServerBody::Error { id, error } => {
                *got.errors.entry(error.code.as_str().to_string()).or_default() += 1;
                // A refused send frees its window slot too.
                let is_send =
                    id.is_some_and(|id| flow.id_to_seq.lock().is_ok_and(|m| m.contains_key(&id)));
                if is_send {
                    flow.in_flight.add_permits(1);
                }
            }
            _ => {}
        }
    }
    Ok(got)
}

/// Runs the offline scenario: `messages` messages for a device that is not
/// connected, then the device connects and drains its mailbox.
pub async fn run_offline(
    target: Arc<Target>,
    messages: usize,
    size: usize,
    server_pid: Option<u32>,
) -> Result<Report> {
    let mut report = Report::new("offline");
    let pair = make_pair(&target).await?;
    let Pair { a, b, group } = pair;
    if let Some(conn) = b.conn {
        conn.close().await;
    }
    let mls_a = Arc::new(a.mls);
    let prepared = prepare(mls_a.clone(), group, messages, size).await?;

    // Queue everything, up to 64 unanswered sends at a time.
    let (mut sender, mut stream, _) = a.conn.context("a offline")?.split();
    let queued_started = Instant::now();
    let mut stored = 0usize;
    let mut in_flight = 0usize;
    let mut pending = prepared.into_iter();
    let mut refusals = 0usize;
    while stored + refusals < messages {
        while in_flight < 64 {
            let Some(message) = pending.next() else { break };
            sender.send(Request::Send { group, message: ByteBuf::from(message) }).await?;
            in_flight += 1;
        }
        match tokio::time::timeout(net::SETUP_TIMEOUT, net::read_body(&mut stream)).await?? {
            ServerBody::Response { response: Response::Stored { .. }, .. } => {
                stored += 1;
                in_flight -= 1;
            }
            ServerBody::Error { error, .. } => {
                refusals += 1;
                in_flight -= 1;
                report.note(format!("a send was refused: {error}"));
            }
            _ => {}
        }
    }
    let queue_secs = queued_started.elapsed().as_secs_f64();
    drop((sender, stream));

    let cpu = CpuWindow::start(server_pid);
    let started = Instant::now();
    let mut conn = target.connect().await?;
    conn.login(&b.device).await?;
    let mut payloads = Vec::with_capacity(messages);
    let mut ack_ids = 0usize;
    let mut caught_up_seen = false;
    while payloads.len() < stored || !caught_up_seen {
        let Some(event) = conn.next_event(Duration::from_secs(10)).await? else {
            report.note("the mailbox stopped delivering for 10 s before everything arrived");
            break;
        };
        if let Event::Deliver { envelopes, caught_up } = event {
            caught_up_seen = caught_up && payloads.len() + envelopes.len() >= stored;
            let ids: Vec<u64> = envelopes.iter().map(|e| e.id).collect();
            payloads.extend(envelopes.into_iter().map(|e| e.payload.into_vec()));
            if !ids.is_empty() {
                ack_ids += ids.len();
                conn.request(Request::Ack { ids }).await?;
            }
        }
    }
    let drain = started.elapsed();
    let cpu_use = cpu.finish();
    conn.close().await;

    // Proof of delivery: every queued message decrypts exactly once.
    let mut seen = vec![false; messages];
    let mut duplicates = 0usize;
    for payload in &payloads {
        if let Incoming::Application { plaintext, .. } = b.mls.process(payload)? {
            let seq = u64::from_be_bytes(plaintext.get(..8).context("short plaintext")?.try_into()?)
                as usize;
            match seen.get_mut(seq) {
                Some(slot) if !*slot => *slot = true,
                _ => duplicates += 1,
            }
        }
    }
    let delivered = seen.iter().filter(|s| **s).count();

    // The mailbox must be empty now: a fresh login gets an empty batch.
    let mut check = target.connect().await?;
    check.login(&b.device).await?;
    let left = match check.next_event(Duration::from_secs(5)).await? {
        Some(Event::Deliver { envelopes, .. }) => envelopes.len(),
        _ => 0,
    };
    check.close().await;

    report.add("messages", messages, "queued while offline");
    report.add("stored", stored, "acknowledged as durable to the sender");
    report.add_f("queue_msgs_per_s", stored as f64 / queue_secs.max(1e-3), "msgs/s while queueing");
    report.add_f("drain_s", drain.as_secs_f64(), "s from connect to all delivered and acked");
    report.add_f("drain_msgs_per_s", stored as f64 / drain.as_secs_f64().max(1e-3), "msgs/s");
    report.add("acked_envelopes", ack_ids, "envelopes");
    report.add("lost", stored.saturating_sub(delivered), "stored but never delivered");
    report.add("duplicates", duplicates, "delivered twice");
    report.add("left_in_mailbox", left, "envelopes after the acks");
    cpu_use.record(&mut report);
    Ok(report)
}
