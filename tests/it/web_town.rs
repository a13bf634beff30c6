//! The town's page in a real browser (issue 16, items 5 and 6;
//! s11-orgdata): the org admin sets the Impressum and the privacy notice
//! with the CLI (`org legal set`), consultation hours with an auto-reply;
//! headless Chromium opens the town's link (the poster's QR code) without
//! an account, and the wasm app shows — from the profile it verified with
//! the key in the link — the categories, the hours (not live, with the
//! auto-reply; then live after `org hours live on`), the channels, the
//! Impressum and every part of the privacy notice, in German and, after
//! the switch, in English; axe-core finds nothing at 360 and 1280 px and
//! nothing is requested outside the page's origin.
//!
//! Skips loudly without chromium/chromedriver or axe-core (fails under
//! CI=true), as the other browser tests do. With STADTBOTE_SCREENSHOTS=1
//! it saves the town page at phone and desktop width into docs/screenshots/.

use fantoccini::Locator;
use stadtbote_i18n::{Lang, tr_in};
use stadtbote_protocol::app_link::AppLink;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::{Request, Response};

use crate::a11y::{VIEWPORTS, axe_source, axe_violations, set_viewport, viewport_png, workspace};
use crate::harness::{Server, raw};
use crate::municipal::{HANDLE, TOWN, Town};
use crate::org_legal::{CONTROLLER, DPO, PURPOSES, RETENTION, set_legal};
use crate::web::{
    browser_programs, connect, nothing_leaves_the_origin, start_driver, text_of, wait_for_text,
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

#[test]
fn the_towns_link_shows_its_signed_hours_channels_impressum_and_privacy_notice() {
    let Some((chromium, driver_path)) = browser_programs("web town page test") else { return };
    let Some(axe) = axe_source("web town page test") else { return };
    let town = Town::new(Server::start());
    set_legal(&town);
    town.mayor_ok(&["org", "hours", "set", "Tue 17:00-18:00", "--auto-reply", "Wir melden uns."]);
    let key = org_key(&town.server);
    let origin = format!("http://{}", town.server.addr);
    let link = AppLink::Org { handle: HANDLE.into(), key }.to_url(&origin);
    let screenshots = std::env::var("STADTBOTE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let de = |id: &str| tr_in(Lang::De, id, &[]);
    let en = |id: &str| tr_in(Lang::En, id, &[]);

    let driver = start_driver(&driver_path).expect("chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let client = connect(&driver, &chromium, "de-DE,de").await.expect("browser session");
        let result = async {
            client.goto(&link).await?;
            wait_for_text(&client, "#town-verified", &de("web-link-verified")).await?;
            assert_eq!(text_of(&client, "#main-heading").await?, TOWN);
            // Everything below comes from the verified profile.
            wait_for_text(&client, "#town-categories", "Straßenschaden").await?;
            assert_eq!(text_of(&client, "#town-slots").await?, "Dienstag, 17:00–18:00");
            assert!(text_of(&client, "#town-hours").await?.contains("Europe/Berlin"));
            assert_eq!(text_of(&client, "#town-live").await?, de("web-town-not-live"));
            assert!(text_of(&client, "#town-auto-reply").await?.contains("Wir melden uns."));
            assert_eq!(
                text_of(&client, "#town-channels p").await?,
                de("web-town-no-channels")
            );
            let impressum = text_of(&client, "#town-impressum").await?;
            assert!(impressum.starts_with(&de("web-town-impressum")), "{impressum}");
            for line in [
                "Stadt Musterhausen",
                "Markt 1, 12345 Musterhausen",
                "vertreten durch die Bürgermeisterin",
            ] {
                assert!(impressum.contains(line), "{impressum}");
            }
            let parts = [
                ("controller", "web-town-controller", CONTROLLER),
                ("dpo", "web-town-dpo", DPO),
                ("purposes", "web-town-purposes", PURPOSES),
                ("retention", "web-town-retention", RETENTION),
            ];
            for (field, heading, text) in parts {
                let part = text_of(&client, &format!("#town-privacy-{field}")).await?;
                assert!(part.contains(&de(heading)) && part.contains(text), "{field}: {part}");
            }
            // Parts the town did not give are not shown.
            assert!(client.find(Locator::Css("#town-privacy-rights")).await.is_err());
            // One h1, then h2 per section: the outline a screen reader lists.
            let headings = crate::web::script(
                &client,
                "return [...document.querySelectorAll('main h1, main h2')].map(h => h.tagName + ' ' + h.textContent)",
            )
            .await?;
            let headings: Vec<String> = serde_json::from_value(headings)?;
            assert_eq!(headings[0], format!("H1 {TOWN}"), "{headings:?}");
            for id in [
                "web-town-categories",
                "web-town-hours",
                "web-town-channels",
                "web-town-impressum",
                "web-town-privacy",
            ] {
                assert!(headings.contains(&format!("H2 {}", de(id))), "{id}: {headings:?}");
            }

            for (width_name, width, height) in VIEWPORTS {
                set_viewport(&client, width, height).await?;
                let violations = axe_violations(&client, &axe).await?;
                assert!(violations.is_empty(), "axe on the town page: {violations:?}");
                if screenshots {
                    let dir = workspace().join("docs/screenshots");
                    std::fs::create_dir_all(&dir)?;
                    let file = dir.join(format!("town-de-{width_name}.png"));
                    std::fs::write(&file, viewport_png(&client, Some("#town-impressum")).await?)?;
                    eprintln!("wrote {}", file.display());
                }
            }

            // English after the switch.
            client.find(Locator::Css("#lang-en")).await?.click().await?;
            wait_for_text(&client, "#town-impressum-heading", &en("web-town-impressum")).await?;
            assert_eq!(text_of(&client, "#town-slots").await?, "Tuesday, 17:00–18:00");
            assert!(
                text_of(&client, "#town-privacy-dpo").await?.contains(&en("web-town-dpo")),
                "English part heading"
            );
            let violations = axe_violations(&client, &axe).await?;
            assert!(violations.is_empty(), "axe on the English town page: {violations:?}");
            client.find(Locator::Css("#lang-de")).await?.click().await?;
            wait_for_text(&client, "#town-impressum-heading", &de("web-town-impressum")).await?;

            // A live session shows as live (local time) after a reload.
            town.mayor_ok(&["org", "hours", "live", "on"]);
            client.refresh().await?;
            let live_prefix = de("web-town-live");
            let live_prefix = live_prefix.split('(').next().unwrap_or_default().trim();
            wait_for_text(&client, "#town-live", live_prefix).await?;
            assert!(client.find(Locator::Css("#town-auto-reply")).await.is_err());
            nothing_leaves_the_origin(&client, &origin).await?;
            anyhow::Ok(())
        }
        .await;
        let _ = client.close().await;
        result.expect("browser checks");
    });
}
