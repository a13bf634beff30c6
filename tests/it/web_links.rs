//! App links in a real browser (issue 16, item 4): headless Chromium opens
//! `origin/#v1/org/<handle>/<key>` (the poster's QR code), the wasm app
//! fetches the town's directory entry over the WebSocket, checks it
//! against the key in the fragment with the protocol crate's verification
//! and shows the town's name, the fingerprint and "verifiziert", with the
//! key pinned in IndexedDB; a link whose key the server does not present
//! gets the warning. Chrome's network log shows that neither the fragment
//! nor the key reached the server: no request URL and no WebSocket frame
//! the page sent carries them, and the server's log does not either.
//!
//! Skips loudly without chromium/chromedriver (fails under CI=true), as
//! the other browser tests do.

use fantoccini::{Client, Locator};
use serde_json::Value;
use stadtbote_i18n::{Lang, tr_in};
use stadtbote_protocol::app_link::AppLink;
use stadtbote_protocol::auth::{IdentityKey, fingerprint_of};
use stadtbote_protocol::{Request, Response};

use crate::harness::{Server, raw};
use crate::municipal::{HANDLE, TOWN, Town};
use crate::web::{
    browser_programs, connect, log_entries, requested_urls, script, start_driver, text_of,
    wait_for_text,
};

/// The town's current key, as the server's directory presents it.
fn org_key(server: &Server) -> IdentityKey {
    crate::block_on(async {
        let mut client = raw::RawClient::connect(&server.url()).await.unwrap();
        match client.request(Request::OrgDirectory { handle: HANDLE.into() }).await.unwrap() {
            Ok(Response::Org { info }) => info.org_key.expect("the town has a key"),
            other => panic!("unexpected {other:?}"),
        }
    })
}

/// What the page sent: every request URL (documents, scripts, the
/// WebSocket) and every WebSocket frame's bytes, from Chrome's log.
async fn sent_by_page(client: &Client) -> anyhow::Result<(Vec<String>, Vec<Vec<u8>>)> {
    use data_encoding::BASE64;
    let mut urls = Vec::new();
    let mut frames = Vec::new();
    for entry in log_entries(client, "performance").await? {
        let Some(message) = entry["message"].as_str() else { continue };
        let message: Value = serde_json::from_str(message)?;
        let params = &message["message"]["params"];
        match message["message"]["method"].as_str() {
            Some("Network.requestWillBeSent") => {
                urls.extend(params["request"]["url"].as_str().map(String::from));
            }
            Some("Network.webSocketCreated") => {
                urls.extend(params["url"].as_str().map(String::from));
            }
            Some("Network.webSocketFrameSent") => {
                let payload = params["response"]["payloadData"].as_str().unwrap_or_default();
                // Binary frames (opcode 2) come base64-encoded.
                let bytes = match params["response"]["opcode"].as_u64() {
                    Some(2) => BASE64.decode(payload.as_bytes()).unwrap_or_default(),
                    _ => payload.as_bytes().to_vec(),
                };
                frames.push(bytes);
            }
            _ => {}
        }
    }
    Ok((urls, frames))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_towns_link_opens_it_verified_and_pinned_and_a_wrong_key_gets_the_warning() {
    let Some((chromium, driver_path)) = browser_programs("web app link test") else { return };
    let town = Town::new(Server::start());
    let key = org_key(&town.server);
    let origin = format!("http://{}", town.server.addr);
    let link = AppLink::Org { handle: HANDLE.into(), key }.to_url(&origin);
    let payload = link.split_once('#').unwrap().1.to_string();
    let forged = IdentityKey([0x42; 32]);
    let forged_link = AppLink::Org { handle: HANDLE.into(), key: forged }.to_url(&origin);

    let driver = start_driver(&driver_path).expect("chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let client = connect(&driver, &chromium, "de-DE,de").await.expect("browser session");
        let result = async {
            client.goto(&link).await?;
            wait_for_text(&client, "#town-verified", &tr_in(Lang::De, "web-link-verified", &[]))
                .await?;
            assert_eq!(text_of(&client, "#main-heading").await?, TOWN);
            assert_eq!(text_of(&client, "#town-fingerprint").await?, fingerprint_of(&key.0));
            let page = text_of(&client, "main").await?;
            assert!(page.contains(&tr_in(Lang::De, "web-link-pinned", &[])), "{page}");
            // The pin is in this browser's IndexedDB, and a reload finds it.
            let names =
                script(&client, "return indexedDB.databases().then(d => d.map(x => x.name))")
                    .await?;
            assert!(
                names.as_array().is_some_and(|a| a
                    .iter()
                    .any(|n| n.as_str().is_some_and(|n| n.ends_with("browser")))),
                "no pin store: {names}"
            );
            client.refresh().await?;
            wait_for_text(&client, "main", &tr_in(Lang::De, "web-link-already-pinned", &[]))
                .await?;

            // A link with a key the server does not present: the warning.
            client.goto(&forged_link).await?;
            wait_for_text(
                &client,
                "#main-heading",
                &tr_in(Lang::De, "web-link-warning-heading", &[]),
            )
            .await?;
            let warning = text_of(&client, "#town-warning").await?;
            assert!(warning.contains(&fingerprint_of(&key.0)), "names the key shown: {warning}");
            assert!(client.find(Locator::Css("#town-verified")).await.is_err());

            // The fragment and the key stayed in the browser.
            let (urls, frames) = sent_by_page(&client).await?;
            assert!(
                urls.iter().any(|u| u.contains("/v1/ws")),
                "the page used the socket: {urls:?}"
            );
            assert!(!frames.is_empty(), "the log shows the socket's frames");
            for url in &urls {
                assert!(!url.contains('#') && !url.contains(&payload), "sent: {url}");
            }
            for frame in &frames {
                assert!(!contains(frame, &key.0) && !contains(frame, &forged.0), "key sent");
                assert!(!contains(frame, payload.as_bytes()), "fragment sent");
            }
            let navigated = requested_urls(&client, &origin).await?;
            assert!(navigated.iter().all(|u| !u.contains(&payload)), "{navigated:?}");
            anyhow::Ok(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks");
    });
    let log = town.server.log();
    let key_text = data_encoding::BASE32_NOPAD.encode(&key.0);
    assert!(!log.contains(&key_text) && !log.contains(&payload), "the server log holds the link");
}

#[test]
fn channel_and_group_links_say_what_they_are_for_and_damaged_links_are_named() {
    let Some((chromium, driver_path)) = browser_programs("web app link test (channel)") else {
        return;
    };
    let server = Server::start();
    let origin = format!("http://{}", server.addr);
    let invite = stadtbote_protocol::channel::ChannelInvite {
        v: stadtbote_protocol::channel::CHANNEL_VERSION,
        handle: "goslar".into(),
        org: stadtbote_protocol::OrgId([1; 16]),
        org_key: IdentityKey([5; 32]),
        channel: stadtbote_protocol::ChannelId([2; 16]),
        key_epoch: 0,
        key: serde_bytes::ByteBuf::from(vec![9; 32]),
    };
    let url = AppLink::Channel(invite).to_url(&origin);
    let driver = start_driver(&driver_path).expect("chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let client = connect(&driver, &chromium, "de-DE,de").await.expect("browser session");
        let result = async {
            client.goto(&url).await?;
            // s10-follow: the channel screen opens; this server has no
            // such town or channel, and the screen says so.
            wait_for_text(
                &client,
                "#channel-failure",
                &tr_in(Lang::De, "web-channel-failed-unknown", &[]),
            )
            .await?;
            let heading = tr_in(Lang::De, "web-channel-heading", &[]);
            assert_eq!(text_of(&client, "#main-heading").await?, heading);
            let page = text_of(&client, "main").await?;
            assert!(page.contains("goslar") && page.contains(&fingerprint_of(&[5; 32])), "{page}");
            // Cut off: the damaged-link screen names the kind.
            client.goto(&url[..url.len() - 30]).await?;
            wait_for_text(
                &client,
                "#main-heading",
                &tr_in(Lang::De, "web-link-invalid-heading", &[]),
            )
            .await?;
            let page = text_of(&client, "main").await?;
            assert!(page.contains("channel-Link ist beschädigt"), "{page}");
            anyhow::Ok(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks");
    });
}
