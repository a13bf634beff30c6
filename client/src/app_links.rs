//! App links (issue 16, item 4): learning the server's web app
//! address, turning invites, join links and org keys into
//! `public_url/#v1/…` URLs for printing and QR codes, and reading links
//! in either form (`https://…/#v1/…` or `stadtbote:…`) where a command
//! takes one. The syntax itself is `stadtbote_protocol::app_link`.
//!
//! Without a `public_url` on the server (or with a server too old to say),
//! nothing changes: the commands print and encode the `stadtbote:` forms
//! as before.

use crate::clock::Clock;
use stadtbote_protocol::app_link::{AppLink, valid_public_url};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::channel::ChannelInvite;
use stadtbote_protocol::group_link::GroupLink;
use stadtbote_protocol::{Request, Response};

use crate::connection::Connection;
use crate::error::ClientError;
use crate::transport::Connector;

/// The text form of an org key in QR codes and on posters:
/// `stadtbote:org:<handle>:<base32 key>`.
pub const QR_PREFIX: &str = "stadtbote:org:";

/// The older QR content of an org key ([`QR_PREFIX`]).
pub fn org_qr_content(handle: &str, key: &IdentityKey) -> String {
    format!("{QR_PREFIX}{handle}:{}", data_encoding::BASE32_NOPAD.encode(&key.0))
}

/// Reads QR content back into (handle, key): the `stadtbote:org:` text or
/// the web app URL (`https://…/#v1/org/…`); `None` if it is neither.
pub fn parse_org_qr_content(text: &str) -> Option<(String, IdentityKey)> {
    org_key(text)
}

/// Asks the server at `server_url` for its web app address (one
/// unauthenticated `server_info` request on a connection of its own,
/// opened by `connector`). `None` when none is configured, when the server
/// is too old to answer, when it cannot be reached, or when what it
/// announces is not a plain `http(s)://host[:port]` (it is printed and put
/// into QR codes).
pub async fn public_url_with<K: Connector, C: Clock>(
    connector: &K,
    server_url: &str,
    clock: C,
) -> Option<String> {
    let (mut conn, _) = Connection::open(connector, clock, server_url).await.ok()?;
    let answer = conn.call(Request::ServerInfo).await;
    conn.close().await;
    match answer {
        Ok(Ok(Response::ServerInfo { public_url: Some(url) })) => {
            let url = url.trim().trim_end_matches('/').to_string();
            valid_public_url(&url).then_some(url)
        }
        _ => None,
    }
}

/// The URL of a channel invite under `public_url`, if there is one.
pub fn channel_url(public_url: Option<&str>, invite: &ChannelInvite) -> Option<String> {
    public_url.map(|base| AppLink::Channel(invite.clone()).to_url(base))
}

/// The URL of a group join link under `public_url`, if there is one.
pub fn group_url(public_url: Option<&str>, link: &GroupLink) -> Option<String> {
    public_url.map(|base| AppLink::Group(link.clone()).to_url(base))
}

/// The URL of a group join link given as its `stadtbote:group:` text.
pub fn group_link_url(public_url: Option<&str>, link: &str) -> Option<String> {
    group_url(public_url, &GroupLink::parse(link).ok()?)
}

/// The URL of an org key under `public_url`, if there is one.
pub fn org_url(public_url: Option<&str>, handle: &str, key: &IdentityKey) -> Option<String> {
    public_url.map(|base| AppLink::Org { handle: handle.to_string(), key: *key }.to_url(base))
}

/// What goes into a QR code: the URL when there is one (a phone camera
/// opens it in the browser), else the older text as before.
pub fn qr_content(url: Option<&str>, older: &str) -> String {
    url.map_or_else(|| older.to_string(), str::to_string)
}

/// Whether `text` is in the older `stadtbote:` form, which keeps its
/// older errors (scripts may match them).
fn is_older_form(text: &str) -> bool {
    let text = text.trim();
    text.get(..10).is_some_and(|head| head.eq_ignore_ascii_case("stadtbote:"))
}

/// Reads a channel invite in either form.
pub fn channel_invite(text: &str) -> Result<ChannelInvite, ClientError> {
    if is_older_form(text) {
        return ChannelInvite::parse(text)
            .map_err(|source| ClientError::ChannelData { what: "invite link", source });
    }
    AppLink::channel(text).map_err(ClientError::AppLink)
}

/// Reads a group join link in either form.
pub fn group_link(text: &str) -> Result<GroupLink, ClientError> {
    if is_older_form(text) {
        return GroupLink::parse(text)
            .map_err(|source| ClientError::ChannelData { what: "group link", source });
    }
    AppLink::group(text).map_err(ClientError::AppLink)
}

/// Reads an org key link in either form: (handle, key); `None` if `text`
/// is not one (it may be a fingerprint).
pub fn org_key(text: &str) -> Option<(String, IdentityKey)> {
    AppLink::org(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::app_link::AppLinkError;

    #[test]
    fn both_forms_are_read_and_errors_typed() {
        let key = IdentityKey([7; 32]);
        let url = org_url(Some("https://a.de"), "goslar", &key).unwrap();
        assert_eq!(org_key(&url), Some(("goslar".into(), key)));
        assert_eq!(org_key(&org_qr_content("goslar", &key)), Some(("goslar".into(), key)));
        assert_eq!(org_url(None, "goslar", &key), None);
        assert!(matches!(
            channel_invite(&url),
            Err(ClientError::AppLink(AppLinkError::WrongKind {
                expected: "channel",
                found: "org"
            }))
        ));
        assert!(matches!(
            group_link("https://a.de/#v1/group/AAAA"),
            Err(ClientError::AppLink(AppLinkError::Malformed("group")))
        ));
        // The older form keeps its older error.
        assert!(matches!(
            channel_invite("stadtbote:channel:AAAA"),
            Err(ClientError::ChannelData { what: "invite link", .. })
        ));
        assert_eq!(qr_content(None, "stadtbote:x"), "stadtbote:x");
        assert_eq!(qr_content(Some("https://a.de/#v1"), "stadtbote:x"), "https://a.de/#v1");
    }
}
