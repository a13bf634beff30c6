//! Property tests of app links (`stadtbote_protocol::app_link`): every link
//! survives both forms and any case, the secret never lands before the
//! `#`, and no input makes the parser panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failing test.

use proptest::prelude::*;
use serde_bytes::ByteBuf;
use stadtbote_protocol::app_link::AppLink;
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::channel::{CHANNEL_VERSION, ChannelInvite};
use stadtbote_protocol::group_link::{GROUP_LINK_VERSION, GroupLink};
use stadtbote_protocol::{ChannelId, GroupId, OrgId};

fn handle() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,30}[a-z0-9]"
}

fn link() -> impl Strategy<Value = AppLink> {
    prop_oneof![
        (handle(), any::<[u8; 32]>())
            .prop_map(|(handle, key)| AppLink::Org { handle, key: IdentityKey(key) }),
        (
            handle(),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            any::<[u8; 16]>(),
            any::<u32>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(handle, org, org_key, channel, key_epoch, key)| {
                AppLink::Channel(ChannelInvite {
                    v: CHANNEL_VERSION,
                    handle,
                    org: OrgId(org),
                    org_key: IdentityKey(org_key),
                    channel: ChannelId(channel),
                    key_epoch,
                    key: ByteBuf::from(key.to_vec()),
                })
            }),
        (handle(), any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 16]>(), any::<[u8; 32]>())
            .prop_map(|(handle, org, org_key, group, secret)| {
                AppLink::Group(GroupLink {
                    v: GROUP_LINK_VERSION,
                    group: GroupId(group),
                    secret: ByteBuf::from(secret.to_vec()),
                    org: OrgId(org),
                    handle,
                    org_key: IdentityKey(org_key),
                })
            }),
    ]
}

fn public_url() -> impl Strategy<Value = String> {
    ("https?", "[a-z][a-z0-9.-]{0,20}", proptest::option::of(1u16..), any::<bool>()).prop_map(
        |(scheme, host, port, slash)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{}", if slash { "/" } else { "" })
        },
    )
}

proptest! {
    #[test]
    fn links_round_trip(link in link(), base in public_url(), upper in any::<bool>()) {
        let url = link.to_url(&base);
        let url = if upper { url.to_ascii_uppercase() } else { url };
        prop_assert_eq!(&AppLink::parse(&url).unwrap(), &link);
        prop_assert_eq!(&AppLink::parse(&link.to_stadtbote()).unwrap(), &link);
        prop_assert_eq!(&AppLink::parse_fragment(&link.fragment()).unwrap(), &link);
        // Nothing but the configured address precedes the fragment.
        let (before, _) = url.split_once('#').unwrap();
        prop_assert_eq!(before.to_ascii_lowercase(), format!("{}/", base.trim_end_matches('/')).to_ascii_lowercase());
    }

    #[test]
    fn parsing_never_panics(text in ".{0,600}") {
        let _ = AppLink::parse(&text);
        let _ = AppLink::parse_fragment(&text);
        let _ = AppLink::is_link_fragment(&text);
    }

    #[test]
    fn damaged_links_are_refused_or_differ(link in link(), cut in 1usize..40) {
        let url = link.to_url("https://a.de");
        let short = &url[..url.len().saturating_sub(cut)];
        if let Ok(parsed) = AppLink::parse(short) {
            prop_assert_ne!(parsed, link);
        }
    }
}
