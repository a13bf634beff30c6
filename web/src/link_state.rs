//! What an app link in the fragment (`#v1/org|channel|group/…`, see
//! `stadtbote_protocol::app_link`) shows, as state: parsed here, the town
//! checked by [`crate::town_open`] (browser only) with
//! [`crate::town_check`]. The link's secret parts (a channel key, a group
//! link secret) never leave this state: nothing here is sent, logged or
//! shown; the page shows the town's handle and key fingerprint only.

use stadtbote_protocol::app_link::{AppLink, AppLinkError};
use stadtbote_protocol::auth::{IdentityKey, fingerprint_of};

use crate::town_check::{Mismatch, VerifiedTown};

/// What the open link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The fragment looks like a link but cannot be read.
    Invalid(AppLinkError),
    /// A town (the poster's key QR code).
    Town {
        /// Its handle.
        handle: String,
        /// The key in the link.
        key: IdentityKey,
        /// How far checking it got.
        check: TownCheck,
    },
    /// A channel invite.
    Channel {
        /// The org's handle.
        handle: String,
        /// The fingerprint of the org key in the invite.
        fingerprint: String,
    },
    /// A discussion group's join link.
    Group {
        /// The org's handle.
        handle: String,
        /// The fingerprint of the org key in the link.
        fingerprint: String,
    },
}

/// The town's check against the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TownCheck {
    /// Asking the server.
    Loading,
    /// The server's answer matches the link.
    Verified {
        /// The town.
        town: VerifiedTown,
        /// Whether its key is now pinned in this browser.
        pin: PinOutcome,
    },
    /// It does not: the warning.
    Mismatch(Mismatch),
    /// The server could not be asked (offline, refused).
    Failed,
}

/// What became of the key pin in this browser's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    /// Pinned now (or updated after a signed rotation).
    Pinned,
    /// It was pinned before, with this key.
    AlreadyPinned,
    /// Verified, but the browser's storage refused to keep it (private
    /// window, another tab writing, storage full).
    NotSaved,
}

impl LinkState {
    /// The state for `hash` (`location.hash`), before anything is fetched.
    pub fn from_hash(hash: &str) -> LinkState {
        match AppLink::parse_fragment(hash) {
            Err(error) => LinkState::Invalid(error),
            Ok(AppLink::Org { handle, key }) => {
                LinkState::Town { handle, key, check: TownCheck::Loading }
            }
            Ok(AppLink::Channel(invite)) => LinkState::Channel {
                handle: invite.handle.clone(),
                fingerprint: fingerprint_of(&invite.org_key.0),
            },
            Ok(AppLink::Group(link)) => LinkState::Group {
                handle: link.handle.clone(),
                fingerprint: fingerprint_of(&link.org_key.0),
            },
        }
    }

    /// The town to check, if this is a town link still loading.
    pub fn town_to_check(&self) -> Option<(String, IdentityKey)> {
        match self {
            LinkState::Town { handle, key, check: TownCheck::Loading } => {
                Some((handle.clone(), *key))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_become_states() {
        let key = IdentityKey([7; 32]);
        let link = AppLink::Org { handle: "goslar".into(), key };
        let state = LinkState::from_hash(&link.fragment());
        assert_eq!(state.town_to_check(), Some(("goslar".into(), key)));
        assert_eq!(
            LinkState::from_hash("#v1/org/goslar/AAAA"),
            LinkState::Invalid(AppLinkError::Malformed("org"))
        );
        assert_eq!(
            LinkState::from_hash("#v9/org/goslar/AAAA"),
            LinkState::Invalid(AppLinkError::UnknownVersion)
        );
    }
}
