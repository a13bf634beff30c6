//! The channel fan-out's bounds end to end (issue 20): posts are written
//! straight into the followers' sockets, so a follower that stops reading
//! must still be dropped, and must never hold up or cost the others a post.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use stadtbote_protocol::frame::{self, ServerBody};
use stadtbote_protocol::{ChannelId, Event, Request, Response};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::raw::RawClient;
use crate::harness::{Server, eventually, free_port, last_line, metric, raw_connect_from};
use crate::municipal::Town;

/// A follower whose socket takes almost nothing: a tiny receive buffer,
/// and nobody reads it after the listen.
async fn stalled_follower(url: &str, channel: ChannelId) -> RawClient {
    let server: SocketAddr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.parse().ok())
        .expect("ws:// url");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(server).await.unwrap();
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    let mut client =
        RawClient { ws, next_id: 1, nonce: Vec::new(), pow_difficulty: 0, events: Vec::new() };
    assert!(matches!(
        client.next_body().await.unwrap(),
        ServerBody::Event { event: Event::Challenge { .. } }
    ));
    let answer = client.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
    assert!(matches!(answer, Ok(Response::Listening { channels: 1 })), "{answer:?}");
    client
}

#[test]
fn a_follower_that_stops_reading_is_dropped_and_the_others_get_every_post() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let town = Town::new(Server::start_with(&[
        ("STADTBOTE_METRICS_LISTEN", &metrics),
        ("STADTBOTE_SEND_TIMEOUT_SECS", "2"),
    ]));
    let metrics: SocketAddr = metrics.parse().unwrap();
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let qr = tempfile::tempdir().unwrap();
    let out = press.ok(&[
        "channel",
        "create",
        "Amtsblatt Musterhausen",
        "--retention-days",
        "30",
        "--json",
        "--out",
        &qr.path().to_string_lossy(),
    ]);
    let created: serde_json::Value = serde_json::from_str(last_line(&out).as_str()).unwrap();
    let id = created["channel"].as_str().unwrap().to_string();
    let channel = ChannelId::parse(&id).unwrap();
    let url = town.server.url();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (reader, mut stalled) = runtime.block_on(async {
        let mut reader =
            raw_connect_from(&url, IpAddr::from([127, 0, 0, 1]), &[]).await.unwrap().open();
        let answer =
            reader.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
        assert!(matches!(answer, Ok(Response::Listening { channels: 1 })), "{answer:?}");
        (reader, stalled_follower(&url, channel).await)
    });
    // The reader reads all the time and keeps the sequence numbers.
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let kept = seqs.clone();
    runtime.spawn(async move {
        let mut reader = reader;
        while let Some(Ok(message)) = reader.ws.next().await {
            let Message::Binary(bytes) = message else { continue };
            if let Ok(frame) = frame::decode_server(&bytes, 1 << 24)
                && let ServerBody::Event { event: Event::ChannelPost { post, .. } } = frame.body
            {
                kept.lock().unwrap().push(post.seq);
            }
        }
    });

    // Large posts until the stalled follower's socket and queue are full
    // and its writer gives up (send_timeout_secs = 2).
    let text = "Hochwasser an der Spree, Keller räumen. ".repeat(2400);
    let send_queue_hits = || metric(metrics, "limit_hits_total{limit=\"send_queue\"}").unwrap_or(0);
    let mut posted = 0u64;
    while posted < 120 && send_queue_hits() == 0 {
        press.ok(&["channel", "post", &id, &text]);
        posted += 1;
    }
    eventually(Duration::from_secs(60), || (send_queue_hits() >= 1).then_some(()))
        .expect("the follower that does not read is dropped as a slow reader");
    // One more post after the drop reaches the reader too.
    press.ok(&["channel", "post", &id, "Entwarnung"]);
    posted += 1;

    // Its connection is closed: what was buffered ends in EOF or an error.
    runtime.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(30), stalled.ws.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => break,
                Err(_) => panic!("the stalled follower's connection is still open"),
            }
        }
    });
    // The reading follower got every post, in order, none missed.
    let got = eventually(Duration::from_secs(60), || {
        let got = seqs.lock().unwrap().clone();
        (got.len() as u64 >= posted).then_some(got)
    })
    .unwrap_or_else(|_| seqs.lock().unwrap().clone());
    assert_eq!(got, (1..=posted).collect::<Vec<_>>());
    assert_eq!(send_queue_hits(), 1, "only the stalled follower was dropped");
}
