//! One address cannot take all connections (issue 13, item 6): a per-address
//! connection cap (IPv6 per /64), a global and a per-address cap for
//! listeners without an account, counts that are released when connections
//! close, and `X-Forwarded-For` believed only from trusted proxies.
//!
//! Every address here is a loopback address (all of 127.0.0.0/8 is local on
//! Linux), so one test process plays the attacker and the honest clients.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::time::Duration;
use tokio::net::TcpStream;

use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::ServerBody;
use stadtbote_protocol::{ChannelId, ErrorCode, Event, Request, Response};

use crate::block_on;
use crate::harness::{
    RawClient, Server, Upgrade, eventually, free_port, last_line, metric, raw_connect_from,
};
use crate::municipal::Town;

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The attacker's address.
const ATTACKER: u8 = 1;

/// A town with a broadcast channel, on a server started with `env` plus a
/// metrics listener and a registration limit the setup does not run into.
fn town_with_channel(env: &[(&str, &str)]) -> (Town, ChannelId, SocketAddr) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut all: Vec<(&str, &str)> = vec![
        ("STADTBOTE_METRICS_LISTEN", metrics.as_str()),
        ("STADTBOTE_REGISTER_RATE_PER_MINUTE", "1000"),
    ];
    all.extend_from_slice(env);
    let town = Town::new(Server::start_with(&all));
    let press = town.enrol_as("Pressestelle", "presse", "publisher");
    let out = press.ok(&["channel", "create", "Amtsblatt", "--retention-days", "30", "--json"]);
    let created: serde_json::Value = serde_json::from_str(&last_line(&out)).expect("json");
    let channel = ChannelId::parse(created["channel"].as_str().expect("channel id")).unwrap();
    (town, channel, metrics.parse().unwrap())
}

/// Connects from `source` and listens to `channel` without an account;
/// returns the client and the server's answer to `channel_listen`.
async fn listen_from(
    url: &str,
    source: IpAddr,
    channel: ChannelId,
) -> (RawClient, Result<Response, stadtbote_protocol::ErrorBody>) {
    let mut client = raw_connect_from(url, source, &[]).await.unwrap().open();
    let answer = client.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
    (client, answer)
}

/// Two honest devices on two other addresses register, one creates a group
/// with the other and sends; the other receives it.
async fn honest_round_trip(url: &str) {
    let mut alice = match raw_connect_from(url, loopback(2), &[]).await.unwrap() {
        Upgrade::Open(client) => *client,
        Upgrade::Refused(status) => panic!(
            "an honest client on another address was refused with HTTP {status} while one \
             address held the server's connections"
        ),
    };
    let mut bob = raw_connect_from(url, loopback(3), &[]).await.unwrap().open();
    let alice_id = alice.register().await.expect("the honest client registers");
    let bob_id = bob.register().await.expect("the honest client registers");
    let (group, create, _) = crate::harness::raw_mls::group_with(&alice_id, &bob_id);
    assert!(alice.request(create).await.unwrap().is_ok());
    let send = Request::Send { group, message: ByteBuf::from(b"Guten Tag".to_vec()) };
    assert_eq!(alice.request(send).await.unwrap(), Ok(Response::Stored { recipients: 1 }));
    let is_it = |event: &Event| {
        matches!(event, Event::Deliver { envelopes, .. }
            if envelopes.iter().any(|e| e.payload.as_ref() == b"Guten Tag"))
    };
    let mut arrived = bob.events.iter().any(is_it);
    while !arrived {
        match bob.next_body().await.expect("the honest message arrives") {
            ServerBody::Event { event } => arrived = is_it(&event),
            _ => continue,
        }
    }
}

/// Waits until the server counts `n` open WebSocket connections.
fn wait_for_connections(metrics: SocketAddr, n: u64) {
    eventually(Duration::from_secs(20), || {
        (metric(metrics, "connections_current") == Some(n)).then_some(())
    })
    .unwrap_or_else(|_| {
        panic!(
            "connections_current stays {:?}, expected {n}",
            metric(metrics, "connections_current")
        )
    });
}

#[test]
fn one_address_cannot_take_all_connections() {
    let (town, channel, metrics) = town_with_channel(&[
        ("STADTBOTE_MAX_CONNECTIONS", "130"),
        ("STADTBOTE_MAX_CONNECTIONS_PER_ADDRESS", "110"),
        ("STADTBOTE_MAX_ACCOUNTLESS_LISTENERS_PER_ADDRESS", "100"),
    ]);
    let url = town.server.url();
    wait_for_connections(metrics, 0);
    block_on(async {
        // The attacker: 100 account-less listeners, which no auth timeout
        // ends and whose pongs keep the idle timeout away …
        let mut held = Vec::new();
        for _ in 0..100 {
            let (client, answer) = listen_from(&url, loopback(ATTACKER), channel).await;
            assert_eq!(answer, Ok(Response::Listening { channels: 1 }));
            held.push(client);
        }
        // … then authenticated idle connections, as many as it gets (more
        // attempts than the server has connections left).
        let mut refused = None;
        for _ in 0..40 {
            match raw_connect_from(&url, loopback(ATTACKER), &[]).await.unwrap() {
                Upgrade::Open(client) => {
                    let mut client = *client;
                    client.register().await.unwrap();
                    held.push(client);
                }
                Upgrade::Refused(status) => {
                    refused = Some(status);
                    break;
                }
            }
        }
        // Somebody else still registers and sends.
        honest_round_trip(&url).await;
        // The attacker's address was stopped at its cap, with a clear status.
        assert_eq!(held.len(), 110, "connections one address got");
        assert_eq!(refused, Some(429), "beyond the per-address cap: 429 Too Many Requests");
        assert!(
            metric(metrics, "limit_hits_total{limit=\"connections_per_address\"}") >= Some(1),
            "the refusal is counted"
        );
        assert_eq!(metric(metrics, "accountless_listeners_current"), Some(100));

        // With room for one more connection, a 101st listener without an
        // account is refused; the connection itself stays usable.
        drop(held.pop());
        let mut extra = None;
        for _ in 0..100 {
            if let Upgrade::Open(client) =
                raw_connect_from(&url, loopback(ATTACKER), &[]).await.unwrap()
            {
                extra = Some(*client);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut extra = extra.expect("a closed connection frees its place");
        let answer =
            extra.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
        let error = answer.expect_err("a 101st listener without an account");
        assert_eq!(error.code, ErrorCode::Unavailable, "{error:?}");
        assert!(error.message.contains("without an account"), "{}", error.message);
        assert_eq!(extra.request(Request::Ping).await.unwrap(), Ok(Response::Pong));
        assert!(
            metric(metrics, "limit_hits_total{limit=\"accountless_listeners_per_address\"}")
                >= Some(1)
        );

        // Closing releases every count: the same address gets all of its
        // places again.
        drop(extra);
        held.clear();
        wait_for_connections(metrics, 0);
        assert_eq!(metric(metrics, "accountless_listeners_current"), Some(0));
        assert_eq!(metric(metrics, "connection_addresses_current"), Some(0));
        for _ in 0..100 {
            let (client, answer) = listen_from(&url, loopback(ATTACKER), channel).await;
            assert_eq!(answer, Ok(Response::Listening { channels: 1 }), "after closing");
            held.push(client);
        }
        for _ in 0..10 {
            held.push(raw_connect_from(&url, loopback(ATTACKER), &[]).await.unwrap().open());
        }
        assert_eq!(
            raw_connect_from(&url, loopback(ATTACKER), &[]).await.unwrap().refused(),
            Some(429)
        );
        assert_eq!(metric(metrics, "connections_per_address_max"), Some(110));
        // A CLI on the full address (the kernel picks 127.0.0.1 for a
        // loopback server) says what happened.
        let out = town.mayor.run(&["inbox"]);
        let refused = String::from_utf8_lossy(&out.stderr);
        assert!(refused.contains("too many connections from your network address"), "{refused}");
    });
}

#[test]
fn listeners_without_an_account_have_a_global_cap_and_logging_in_frees_a_place() {
    let (town, channel, metrics) = town_with_channel(&[
        ("STADTBOTE_MAX_ACCOUNTLESS_LISTENERS", "5"),
        ("STADTBOTE_MAX_ACCOUNTLESS_LISTENERS_PER_ADDRESS", "3"),
    ]);
    let url = town.server.url();
    block_on(async {
        let mut held = Vec::new();
        for _ in 0..3 {
            let (client, answer) = listen_from(&url, loopback(4), channel).await;
            assert_eq!(answer, Ok(Response::Listening { channels: 1 }));
            held.push(client);
        }
        let (_, answer) = listen_from(&url, loopback(4), channel).await;
        assert_eq!(answer.expect_err("per-address listener cap").code, ErrorCode::Unavailable);
        for _ in 0..2 {
            let (client, answer) = listen_from(&url, loopback(5), channel).await;
            assert_eq!(answer, Ok(Response::Listening { channels: 1 }));
            held.push(client);
        }
        let (_, answer) = listen_from(&url, loopback(6), channel).await;
        assert_eq!(answer.expect_err("global listener cap").code, ErrorCode::Unavailable);
        assert!(metric(metrics, "limit_hits_total{limit=\"accountless_listeners\"}") >= Some(1));

        // A listener with an account is not limited by either cap.
        let mut member = raw_connect_from(&url, loopback(6), &[]).await.unwrap().open();
        member.register().await.unwrap();
        let answer =
            member.request(Request::ChannelListen { channels: vec![channel] }).await.unwrap();
        assert_eq!(answer, Ok(Response::Listening { channels: 1 }));
        assert_eq!(metric(metrics, "accountless_listeners_current"), Some(5));

        // A listener that registers no longer counts as one without an account.
        held[0].register().await.unwrap();
        assert_eq!(metric(metrics, "accountless_listeners_current"), Some(4));
        let (_, answer) = listen_from(&url, loopback(6), channel).await;
        assert_eq!(answer, Ok(Response::Listening { channels: 1 }), "a place was freed");
    });
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(&[
        ("STADTBOTE_METRICS_LISTEN", &metrics),
        ("STADTBOTE_TRUSTED_PROXIES", "127.0.0.2/32"),
        ("STADTBOTE_MAX_CONNECTIONS_PER_ADDRESS", "3"),
        ("STADTBOTE_REGISTER_RATE_PER_MINUTE", "2"),
    ]);
    let url = server.url();
    let proxy = loopback(2);
    block_on(async {
        let via = |source: IpAddr, forwarded: &'static str| {
            let url = url.clone();
            async move {
                raw_connect_from(&url, source, &[("X-Forwarded-For", forwarded)]).await.unwrap()
            }
        };
        let mut held = Vec::new();

        // An untrusted peer's header is ignored: it is one address, whatever
        // clients it claims to speak for.
        for claimed in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
            held.push(via(loopback(3), claimed).await.open());
        }
        assert_eq!(via(loopback(3), "198.51.100.4").await.refused(), Some(429));

        // Through the trusted proxy, each forwarded client has its own cap.
        for _ in 0..3 {
            held.push(via(proxy, "198.51.100.1").await.open());
        }
        assert_eq!(via(proxy, "198.51.100.1").await.refused(), Some(429));
        held.push(via(proxy, "198.51.100.2").await.open());
        // The right-most untrusted address counts; what a client wrote in
        // front of it is not believed.
        assert_eq!(via(proxy, "198.51.100.2, 198.51.100.1").await.refused(), Some(429));
        held.push(via(proxy, "198.51.100.1, 198.51.100.5").await.open());
        // A trusted hop in the chain is skipped.
        assert_eq!(via(proxy, "198.51.100.1, 127.0.0.2").await.refused(), Some(429));

        // IPv6 clients count per /64.
        for client in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
            held.push(via(proxy, client).await.open());
        }
        assert_eq!(via(proxy, "2001:db8:1:2:abcd::4").await.refused(), Some(429));
        held.push(via(proxy, "2001:db8:1:3::1").await.open());

        // The per-IP registration limit (2 per minute) counts forwarded
        // clients separately too, instead of the whole town as one.
        let mut first = Vec::new();
        for _ in 0..3 {
            first.push(via(proxy, "203.0.113.1").await.open());
        }
        first[0].register().await.unwrap();
        first[1].register().await.unwrap();
        let secret = stadtbote_protocol::auth::DeviceSecret::generate();
        let key = secret.identity_key();
        let nonce = first[2].nonce.clone();
        let third = first[2]
            .request(Request::Register {
                identity_key: key,
                signature: secret.sign(&stadtbote_protocol::auth::register_message(&nonce, &key)),
                pow_nonce: 0,
            })
            .await
            .unwrap();
        assert_eq!(third.expect_err("third registration").code, ErrorCode::RateLimited);
        let mut other = via(proxy, "203.0.113.2").await.open();
        other.register().await.expect("another client behind the proxy registers");
    });
    let log = server.log();
    for address in ["198.51.100", "203.0.113", "2001:db8"] {
        assert!(!log.contains(address), "a client address in the log: {log}");
    }
}

/// Whether the server closes a TCP connection from `source` that never
/// sends a request within `wait` (it is refused at accept when the address
/// already holds its share of connections in the HTTP phase).
async fn closed_at_once(addr: SocketAddr, source: IpAddr, wait: Duration) -> (bool, TcpStream) {
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let closed =
        matches!(tokio::time::timeout(wait, stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)));
    (closed, stream)
}

#[test]
fn silent_handshakes_from_one_address_are_capped_and_released() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(&[
        ("STADTBOTE_METRICS_LISTEN", &metrics),
        ("STADTBOTE_MAX_CONNECTIONS_PER_ADDRESS", "3"),
        ("STADTBOTE_HANDSHAKE_TIMEOUT_SECS", "30"),
    ]);
    let metrics: SocketAddr = metrics.parse().unwrap();
    let (addr, url) = (server.addr, server.url());
    block_on(async {
        let wait = Duration::from_millis(500);
        let mut silent = Vec::new();
        for _ in 0..3 {
            let (closed, stream) = closed_at_once(addr, loopback(7), wait).await;
            assert!(!closed, "a silent connection within the cap is kept for the handshake");
            silent.push(stream);
        }
        let (closed, _) = closed_at_once(addr, loopback(7), Duration::from_secs(5)).await;
        assert!(closed, "a fourth silent connection from the same address is closed at once");
        assert!(
            metric(metrics, "limit_hits_total{limit=\"pending_connections_per_address\"}")
                >= Some(1)
        );
        // Others are not affected, and closing gives the places back.
        raw_connect_from(&url, loopback(8), &[]).await.unwrap().open();
        drop(silent);
        let mut kept = false;
        for _ in 0..50 {
            let (closed, _stream) = closed_at_once(addr, loopback(7), wait).await;
            if !closed {
                kept = true;
                break;
            }
        }
        assert!(kept, "closed silent connections free their places");
        raw_connect_from(&url, loopback(7), &[]).await.unwrap().open();
    });
}
