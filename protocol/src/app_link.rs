//! App links: the URLs (and the older `stadtbote:` texts) that name an org
//! key, a channel invite or a group join link, as printed, put in QR codes
//! and on posters.
//!
//! Two forms, both parsed by [`AppLink::parse`]:
//!
//! * `https://host[:port]/#v1/<kind>/<payload>` — opens the web app. The
//!   scheme, host and port come from the server's `public_url`; everything
//!   that identifies or unlocks something lives in the fragment, which a
//!   browser never sends to the server (RFC 9110 §4.2.4 / RFC 3986 §3.5).
//!   A path or query is allowed (a proxy may serve the app under a path)
//!   but carries nothing: the parser ignores them.
//! * `stadtbote:<kind>:<payload>` — the forms the CLI always printed.
//!
//! Kinds and payloads (`v1` is the fragment syntax's version; a later
//! syntax takes `v2`, and this parser refuses what it does not know rather
//! than guessing):
//!
//! | link | URL fragment | older form |
//! |---|---|---|
//! | org key | `#v1/org/<handle>/<base32 key>` | `stadtbote:org:<handle>:<base32 key>` |
//! | channel invite | `#v1/channel/<base32 CBOR invite>` | `stadtbote:channel:<same>` |
//! | group join link | `#v1/group/<base32 CBOR link>` | `stadtbote:group:<same>` |
//!
//! Base32 is RFC 4648 without padding, upper case when written, read in
//! either case (QR scanners and people change case). The kind and version
//! are read in either case too. The channel and group payloads are
//! exactly those of [`ChannelInvite::to_link`] and [`GroupLink::to_link`].
//!
//! Pure and total: parsing never panics, whatever the input.

use crate::auth::IdentityKey;
use crate::channel::ChannelInvite;
use crate::group_link::GroupLink;
use crate::org::validate_handle;

/// Prefix of an org key in the older form.
pub const ORG_PREFIX: &str = "stadtbote:org:";
/// Prefix of a channel invite in the older form.
pub const CHANNEL_PREFIX: &str = "stadtbote:channel:";
/// Prefix of a group join link in the older form.
pub const GROUP_PREFIX: &str = "stadtbote:group:";
/// The fragment syntax's version tag.
pub const FRAGMENT_VERSION: &str = "v1";
/// Longest text [`AppLink::parse`] looks at (a channel invite is about
/// 250 characters; group links a little more).
pub const MAX_LINK_CHARS: usize = 4096;

/// What kind of thing a link names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// An org's key.
    Org,
    /// A channel invite.
    Channel,
    /// A discussion group's join link.
    Group,
}

impl LinkKind {
    /// The name in links (`org`, `channel`, `group`).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Org => "org",
            LinkKind::Channel => "channel",
            LinkKind::Group => "group",
        }
    }

    fn from_name(name: &str) -> Option<LinkKind> {
        [LinkKind::Org, LinkKind::Channel, LinkKind::Group]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
    }
}

/// Why a text is not an app link. Says which part is wrong, never echoes
/// the text (it may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppLinkError {
    /// Empty, or longer than [`MAX_LINK_CHARS`].
    #[error("empty or too long to be a Stadtbote link")]
    Length,
    /// Neither `https://…#…`, `http://…#…` nor `stadtbote:…`.
    #[error("not a Stadtbote link (expected https://…/#v1/… or stadtbote:…)")]
    NotALink,
    /// A web address without the fragment that carries the link.
    #[error("the web address has no #v1/… part (was it cut off?)")]
    NoFragment,
    /// A fragment syntax this version does not know.
    #[error("unknown link version (this app reads v1; update it)")]
    UnknownVersion,
    /// Not `org`, `channel` or `group`.
    #[error("unknown link kind (expected org, channel or group)")]
    UnknownKind,
    /// The kind is not the one the command expects.
    #[error("this link is of kind {found}; a link of kind {expected} is needed here")]
    WrongKind {
        /// What the command needs.
        expected: &'static str,
        /// What the link names.
        found: &'static str,
    },
    /// The payload is damaged (cut off, mistyped, wrong length or version).
    #[error("the {0} link is damaged (cut off or mistyped)")]
    Malformed(&'static str),
}

/// A parsed app link.
#[derive(Clone, PartialEq, Eq)]
pub enum AppLink {
    /// An org's key, as on the town's poster.
    Org {
        /// The org's handle.
        handle: String,
        /// Its public key.
        key: IdentityKey,
    },
    /// A channel invite (holds the channel key: secret).
    Channel(ChannelInvite),
    /// A group join link (holds the link secret: secret).
    Group(GroupLink),
}

impl std::fmt::Debug for AppLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppLink::Org { handle, key } => {
                f.debug_struct("Org").field("handle", handle).field("key", key).finish()
            }
            AppLink::Channel(invite) => f.debug_tuple("Channel").field(&invite.channel).finish(),
            AppLink::Group(link) => f.debug_tuple("Group").field(link).finish(),
        }
    }
}

impl AppLink {
    /// What the link names.
    pub fn kind(&self) -> LinkKind {
        match self {
            AppLink::Org { .. } => LinkKind::Org,
            AppLink::Channel(_) => LinkKind::Channel,
            AppLink::Group(_) => LinkKind::Group,
        }
    }

    /// The link's payload (what follows the kind).
    fn payload(&self) -> String {
        match self {
            AppLink::Org { handle, key } => {
                format!("{handle}/{}", data_encoding::BASE32_NOPAD.encode(&key.0))
            }
            AppLink::Channel(invite) => channel_payload(invite),
            AppLink::Group(link) => group_payload(link),
        }
    }

    /// The URL fragment, with its `#`: `#v1/<kind>/<payload>`.
    pub fn fragment(&self) -> String {
        format!("#{FRAGMENT_VERSION}/{}/{}", self.kind().as_str(), self.payload())
    }

    /// The web app URL under `public_url` (`https://host[:port]`, a
    /// trailing `/` or not): `https://host/#v1/<kind>/<payload>`.
    pub fn to_url(&self, public_url: &str) -> String {
        format!("{}/{}", public_url.trim().trim_end_matches('/'), self.fragment())
    }

    /// The older `stadtbote:<kind>:<payload>` form (unchanged from before
    /// URLs existed).
    pub fn to_stadtbote(&self) -> String {
        match self {
            AppLink::Org { handle, key } => {
                format!("{ORG_PREFIX}{handle}:{}", data_encoding::BASE32_NOPAD.encode(&key.0))
            }
            AppLink::Channel(invite) => invite.to_link(),
            AppLink::Group(link) => link.to_link(),
        }
    }

    /// Parses either form. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<AppLink, AppLinkError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_LINK_CHARS {
            return Err(AppLinkError::Length);
        }
        if let Some(rest) = strip_prefix_ci(text, "stadtbote:") {
            let (kind, payload) = rest.split_once(':').ok_or(AppLinkError::UnknownKind)?;
            let kind = LinkKind::from_name(kind).ok_or(AppLinkError::UnknownKind)?;
            return parse_payload(kind, payload, ':');
        }
        if strip_prefix_ci(text, "https://").or_else(|| strip_prefix_ci(text, "http://")).is_none()
        {
            return Err(AppLinkError::NotALink);
        }
        let (_, fragment) = text.split_once('#').ok_or(AppLinkError::NoFragment)?;
        let fragment = fragment.strip_prefix('/').unwrap_or(fragment);
        if fragment.is_empty() {
            return Err(AppLinkError::NoFragment);
        }
        Self::parse_fragment(fragment)
    }

    /// Parses a fragment (`v1/<kind>/<payload>`, with or without the
    /// leading `#`), as the web app reads `location.hash`.
    pub fn parse_fragment(fragment: &str) -> Result<AppLink, AppLinkError> {
        let fragment = fragment.trim();
        if fragment.len() > MAX_LINK_CHARS {
            return Err(AppLinkError::Length);
        }
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let fragment = fragment.strip_prefix('/').unwrap_or(fragment);
        let (version, rest) = fragment.split_once('/').ok_or(AppLinkError::UnknownVersion)?;
        if !version.eq_ignore_ascii_case(FRAGMENT_VERSION) {
            return Err(AppLinkError::UnknownVersion);
        }
        let (kind, payload) = rest.split_once('/').ok_or(AppLinkError::UnknownKind)?;
        let kind = LinkKind::from_name(kind).ok_or(AppLinkError::UnknownKind)?;
        parse_payload(kind, payload, '/')
    }

    /// Whether `fragment` (`location.hash`) looks like an app link at all
    /// (starts with a version tag), so a router can tell "a damaged link"
    /// from "another screen".
    pub fn is_link_fragment(fragment: &str) -> bool {
        let fragment = fragment.trim();
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let fragment = fragment.strip_prefix('/').unwrap_or(fragment);
        fragment.get(..1).is_some_and(|v| v.eq_ignore_ascii_case("v"))
            && fragment[1..].split_once('/').is_some_and(|(n, _)| {
                !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
            })
    }

    /// Parses a link that must be a channel invite.
    pub fn channel(text: &str) -> Result<ChannelInvite, AppLinkError> {
        match Self::parse(text)? {
            AppLink::Channel(invite) => Ok(invite),
            other => Err(wrong(LinkKind::Channel, other.kind())),
        }
    }

    /// Parses a link that must be a group join link.
    pub fn group(text: &str) -> Result<GroupLink, AppLinkError> {
        match Self::parse(text)? {
            AppLink::Group(link) => Ok(link),
            other => Err(wrong(LinkKind::Group, other.kind())),
        }
    }

    /// Parses a link that must be an org key: (handle, key).
    pub fn org(text: &str) -> Result<(String, IdentityKey), AppLinkError> {
        match Self::parse(text)? {
            AppLink::Org { handle, key } => Ok((handle, key)),
            other => Err(wrong(LinkKind::Org, other.kind())),
        }
    }
}

/// Longest `public_url` a client puts into links.
pub const MAX_PUBLIC_URL_CHARS: usize = 256;

/// Whether `url` is a web app address a client may put into links: `http`
/// or `https`, then only host and port characters (what the server's
/// configuration check allows), at most [`MAX_PUBLIC_URL_CHARS`]. A
/// client checks what a server announces before printing it, so that a
/// server cannot smuggle terminal escapes or a path into printed links.
pub fn valid_public_url(url: &str) -> bool {
    let Some(host) = strip_prefix_ci(url, "https://").or_else(|| strip_prefix_ci(url, "http://"))
    else {
        return false;
    };
    url.len() <= MAX_PUBLIC_URL_CHARS
        && !host.is_empty()
        && !host.starts_with(['.', '-', ':'])
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

fn wrong(expected: LinkKind, found: LinkKind) -> AppLinkError {
    AppLinkError::WrongKind { expected: expected.as_str(), found: found.as_str() }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .and_then(|_| text.get(prefix.len()..))
}

/// The base32 part of a channel invite (after its `stadtbote:channel:`).
fn channel_payload(invite: &ChannelInvite) -> String {
    let link = invite.to_link();
    link.get(CHANNEL_PREFIX.len()..).unwrap_or_default().to_string()
}

/// The base32 part of a group link (after its `stadtbote:group:`).
fn group_payload(link: &GroupLink) -> String {
    let text = link.to_link();
    text.get(GROUP_PREFIX.len()..).unwrap_or_default().to_string()
}

/// Parses `payload` of `kind`; `sep` separates the org handle from its key
/// (`:` in the older form, `/` in the fragment).
fn parse_payload(kind: LinkKind, payload: &str, sep: char) -> Result<AppLink, AppLinkError> {
    let malformed = AppLinkError::Malformed(kind.as_str());
    match kind {
        LinkKind::Org => {
            let (handle, key) = payload.split_once(sep).ok_or(malformed.clone())?;
            let handle = handle.trim().to_ascii_lowercase();
            validate_handle(&handle).map_err(|_| malformed.clone())?;
            let bytes = crate::ids::decode_base32_lenient(key).ok_or(malformed.clone())?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| malformed)?;
            Ok(AppLink::Org { handle, key: IdentityKey(key) })
        }
        LinkKind::Channel => ChannelInvite::parse(&format!("{CHANNEL_PREFIX}{payload}"))
            .map(AppLink::Channel)
            .map_err(|_| malformed),
        LinkKind::Group => GroupLink::parse(&format!("{GROUP_PREFIX}{payload}"))
            .map(AppLink::Group)
            .map_err(|_| malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::CHANNEL_VERSION;
    use crate::group_link::GROUP_LINK_VERSION;
    use crate::ids::{ChannelId, GroupId, OrgId};

    fn invite() -> ChannelInvite {
        ChannelInvite {
            v: CHANNEL_VERSION,
            handle: "goslar".into(),
            org: OrgId([3; 16]),
            org_key: IdentityKey([5; 32]),
            channel: ChannelId([7; 16]),
            key_epoch: 2,
            key: serde_bytes::ByteBuf::from(vec![6; 32]),
        }
    }

    fn group() -> GroupLink {
        GroupLink {
            v: GROUP_LINK_VERSION,
            group: GroupId([9; 16]),
            secret: serde_bytes::ByteBuf::from(vec![4; 32]),
            org: OrgId([3; 16]),
            handle: "goslar".into(),
            org_key: IdentityKey([5; 32]),
        }
    }

    fn org() -> AppLink {
        AppLink::Org { handle: "goslar".into(), key: IdentityKey([7; 32]) }
    }

    #[test]
    fn org_url_vector() {
        // Test vector (docs/PROTOCOL.md, "App links").
        let url = org().to_url("https://stadtbote.goslar.de/");
        assert_eq!(
            url,
            "https://stadtbote.goslar.de/#v1/org/goslar/\
             A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQ"
        );
        assert_eq!(AppLink::parse(&url).unwrap(), org());
        assert_eq!(
            org().to_stadtbote(),
            "stadtbote:org:goslar:A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQ"
        );
    }

    #[test]
    fn every_kind_round_trips_in_both_forms() {
        for link in [org(), AppLink::Channel(invite()), AppLink::Group(group())] {
            for base in ["https://a.de", "http://127.0.0.1:8080/", "https://a.de/app"] {
                let url = link.to_url(base);
                assert!(url.starts_with(base.trim_end_matches('/')), "{url}");
                assert_eq!(AppLink::parse(&url).unwrap(), link, "{url}");
                assert_eq!(AppLink::parse(&url.to_ascii_uppercase()).unwrap(), link);
                assert_eq!(AppLink::parse(&format!("  {url}\n")).unwrap(), link);
            }
            assert_eq!(AppLink::parse(&link.to_stadtbote()).unwrap(), link);
            assert_eq!(AppLink::parse(&link.to_stadtbote().to_ascii_uppercase()).unwrap(), link);
            assert_eq!(AppLink::parse_fragment(&link.fragment()).unwrap(), link);
            assert!(AppLink::is_link_fragment(&link.fragment()));
        }
        assert_eq!(AppLink::channel(&invite().to_link()).unwrap(), invite());
        assert_eq!(
            AppLink::group(&AppLink::Group(group()).to_url("https://a.de")).unwrap(),
            group()
        );
    }

    #[test]
    fn the_secret_is_only_in_the_fragment() {
        let url = AppLink::Channel(invite()).to_url("https://a.de");
        let (before, after) = url.split_once('#').unwrap();
        assert_eq!(before, "https://a.de/");
        assert!(after.starts_with("v1/channel/"));
    }

    #[test]
    fn errors_are_typed() {
        use AppLinkError::*;
        let cases: &[(&str, AppLinkError)] = &[
            ("", Length),
            ("   ", Length),
            ("ftp://a.de/#v1/org/x/y", NotALink),
            ("3f2a 91c0", NotALink),
            ("https://a.de/", NoFragment),
            ("https://a.de/#", NoFragment),
            ("https://a.de/#/about", UnknownVersion),
            ("https://a.de/#v2/org/goslar/AAAA", UnknownVersion),
            ("https://a.de/#v1/town/goslar", UnknownKind),
            ("https://a.de/#v1/org", UnknownKind),
            ("stadtbote:town:x", UnknownKind),
            ("stadtbote:", UnknownKind),
            ("https://a.de/#v1/org/goslar/AAAA", Malformed("org")),
            ("https://a.de/#v1/org/Bad_Handle/AAAA", Malformed("org")),
            ("stadtbote:org:goslar:AAAA", Malformed("org")),
            ("https://a.de/#v1/channel/AAAA", Malformed("channel")),
            ("https://a.de/#v1/group/!!", Malformed("group")),
        ];
        for (text, expected) in cases {
            assert_eq!(AppLink::parse(text).as_ref(), Err(expected), "{text:?}");
        }
        let too_long = format!("https://a.de/#v1/channel/{}", "A".repeat(MAX_LINK_CHARS));
        assert_eq!(AppLink::parse(&too_long), Err(Length));
        let url = org().to_url("https://a.de");
        assert_eq!(AppLink::channel(&url), Err(WrongKind { expected: "channel", found: "org" }));
        let cut = &AppLink::Channel(invite()).to_url("https://a.de")[..60];
        assert_eq!(AppLink::parse(cut), Err(Malformed("channel")));
        // A damaged link never echoes its text in the message.
        let message = AppLink::parse(cut).unwrap_err().to_string();
        assert!(!message.contains(&cut[30..]), "{message}");
    }

    #[test]
    fn public_urls_are_checked() {
        for good in ["https://a.de", "http://127.0.0.1:8080", "https://[::1]:443"] {
            assert!(valid_public_url(good), "{good}");
        }
        let long = format!("https://{}.de", "a".repeat(MAX_PUBLIC_URL_CHARS));
        for bad in [
            "",
            "https://",
            "ftp://a.de",
            "https://a.de/",
            "https://a.de/path",
            "https://a.de?x",
            "https://a.de\x1b[2J",
            "https://a.de#x",
            "https://.a.de",
            long.as_str(),
        ] {
            assert!(!valid_public_url(bad), "{bad}");
        }
    }

    #[test]
    fn link_fragments_are_told_from_screens() {
        for screen in ["", "#", "#/", "#/about", "#about", "#vote/x"] {
            assert!(!AppLink::is_link_fragment(screen), "{screen:?}");
        }
        for link in ["#v1/org/x", "v1/", "#V2/channel/abc", "#v10/x", "#/v1/org/x"] {
            assert!(AppLink::is_link_fragment(link), "{link:?}");
        }
    }
}
