//! What the channel screen shows, as state (pure, tested natively): the
//! channel's name and org, its verified posts newest-last, the follower's
//! warnings (withheld, forged, altered, rotated, revoked; the expiry note),
//! the state of each photo and of the live connection. Filled from the
//! core follower's [`FeedLine`]s by `channel_open` (browser only).

use stadtbote_client::follow::{FeedItem, FeedLine, Follow, WarningKind};
use stadtbote_protocol::ChannelId;
use stadtbote_protocol::app_link::AppLink;
use stadtbote_protocol::channel::{CHANNEL_VERSION, ChannelInvite};

/// How many posts and warnings the screen keeps (the oldest go first).
pub const MAX_ENTRIES: usize = 500;

/// The live connection, as the status line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Connecting and catching up.
    Connecting,
    /// Listening: new posts show at once.
    Listening,
    /// The connection dropped; a new one is attempted after a pause.
    Reconnecting,
    /// Unfollowed on this screen.
    Unfollowed,
}

/// Why the channel cannot be shown at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server does not know the channel.
    UnknownChannel,
    /// The org key or the channel's metadata does not verify: someone
    /// tampers with the town's data.
    Forged,
    /// The link's key was replaced by a newer one.
    OutdatedInvite,
    /// The server withholds the org's current revocation or staff list.
    ListsWithheld,
    /// This browser's storage refused to keep the follow.
    Storage,
}

/// A photo of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Photo {
    /// Being downloaded.
    Loading,
    /// Decrypted; shown from this `blob:` URL.
    Ready(String),
    /// Not shown (the browser offers no picture for this type, or it
    /// failed its check).
    Failed,
}

/// One verified post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostView {
    /// Its number.
    pub seq: u64,
    /// When it was posted (signed, Unix ms).
    pub posted_at: u64,
    /// Its text.
    pub text: String,
    /// Its photos, in order.
    pub photos: Vec<Photo>,
}

/// A post or a warning, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A verified post.
    Post(PostView),
    /// A warning about posts `seq..=until`.
    Warning {
        /// Which.
        kind: WarningKind,
        /// First post concerned.
        seq: u64,
        /// Last post concerned.
        until: u64,
    },
}

/// The channel screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelScreen {
    /// The channel.
    pub channel: ChannelId,
    /// The org's handle (from the invite).
    pub handle: String,
    /// The fingerprint of the org key in the invite.
    pub fingerprint: String,
    /// The channel's name (verified metadata), once known.
    pub name: Option<String>,
    /// Posts and warnings, oldest first.
    pub entries: Vec<Entry>,
    /// The connection.
    pub live: Live,
    /// Set when the channel cannot be shown.
    pub failure: Option<Failure>,
}

impl ChannelScreen {
    /// The screen for an invite, before anything is fetched.
    pub fn new(invite: &ChannelInvite) -> ChannelScreen {
        ChannelScreen {
            channel: invite.channel,
            handle: invite.handle.clone(),
            fingerprint: invite.org_key.fingerprint(),
            name: None,
            entries: Vec::new(),
            live: Live::Connecting,
            failure: None,
        }
    }

    /// Adds what the follower reported; returns `(entry index, photo
    /// count)` of each new post with photos, for the downloads.
    pub fn add(&mut self, lines: &[FeedLine]) -> Vec<(u64, usize)> {
        let mut photos = Vec::new();
        for line in lines {
            if line.channel != self.channel {
                continue;
            }
            if !line.name.is_empty() {
                self.name = Some(line.name.clone());
            }
            match &line.item {
                FeedItem::Post { seq, post } => {
                    if self.post(*seq).is_some() {
                        continue;
                    }
                    let count = post.body.photos.len();
                    if count > 0 {
                        photos.push((*seq, count));
                    }
                    self.entries.push(Entry::Post(PostView {
                        seq: *seq,
                        posted_at: post.body.posted_at,
                        text: post.body.text.clone(),
                        photos: vec![Photo::Loading; count],
                    }));
                }
                FeedItem::Warning { kind, seq, until, .. } => {
                    let warning = Entry::Warning { kind: *kind, seq: *seq, until: *until };
                    // A gap is reported by every fetch until it is filled:
                    // once is enough on screen.
                    if !self.entries.contains(&warning) {
                        self.entries.push(warning);
                    }
                }
            }
        }
        // Posts that arrive after a withheld range fill it: the warning
        // about those posts is over.
        let shown: Vec<u64> = self.posts().map(|p| p.seq).collect();
        self.entries.retain(|e| match e {
            Entry::Warning { kind: WarningKind::Withheld, seq, until, .. } => {
                !(*seq..=*until).all(|s| shown.contains(&s))
            }
            _ => true,
        });
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..excess);
        }
        photos
    }

    /// The verified posts, oldest first.
    pub fn posts(&self) -> impl Iterator<Item = &PostView> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Post(post) => Some(post),
            Entry::Warning { .. } => None,
        })
    }

    /// Post `seq`, if shown.
    pub fn post(&self, seq: u64) -> Option<&PostView> {
        self.posts().find(|p| p.seq == seq)
    }

    /// Sets photo `index` of post `seq`.
    pub fn set_photo(&mut self, seq: u64, index: usize, photo: Photo) {
        for entry in &mut self.entries {
            if let Entry::Post(post) = entry
                && post.seq == seq
                && let Some(slot) = post.photos.get_mut(index)
            {
                *slot = photo;
                return;
            }
        }
    }

    /// Whether any warning is an alarm (not the expiry note).
    pub fn alarming(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Warning { kind, .. } if *kind != WarningKind::Expired))
    }
}

/// A channel this browser follows, for the start page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Its name.
    pub name: String,
    /// The org's handle.
    pub handle: String,
    /// The fragment that opens it (its invite with the newest key; stays
    /// in the browser).
    pub fragment: String,
}

impl Followed {
    /// The start page's entry for `follow`.
    pub fn of(follow: &Follow) -> Followed {
        let (key_epoch, key) = follow
            .keys
            .iter()
            .next_back()
            .map(|(epoch, key)| (*epoch, key.clone()))
            .unwrap_or_default();
        let invite = ChannelInvite {
            v: CHANNEL_VERSION,
            handle: follow.handle.clone(),
            org: follow.org,
            org_key: follow.org_key,
            channel: follow.channel,
            key_epoch,
            key,
        };
        Followed {
            name: follow.name.clone(),
            handle: follow.handle.clone(),
            fragment: AppLink::Channel(invite).fragment(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> ChannelScreen {
        let invite = ChannelInvite {
            v: CHANNEL_VERSION,
            handle: "goslar".into(),
            org: stadtbote_protocol::OrgId([1; 16]),
            org_key: stadtbote_protocol::auth::IdentityKey([5; 32]),
            channel: ChannelId([2; 16]),
            key_epoch: 0,
            key: vec![9; 32].into(),
        };
        ChannelScreen::new(&invite)
    }

    fn warning(kind: WarningKind, seq: u64, until: u64) -> FeedLine {
        FeedLine {
            channel: ChannelId([2; 16]),
            name: "Amtsblatt".into(),
            item: FeedItem::Warning { kind, seq, until, message: String::new() },
        }
    }

    #[test]
    fn a_repeated_warning_shows_once_and_the_name_is_taken() {
        let mut s = screen();
        s.add(&[warning(WarningKind::Withheld, 2, 3)]);
        s.add(&[warning(WarningKind::Withheld, 2, 3)]);
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.name.as_deref(), Some("Amtsblatt"));
        assert!(s.alarming());
        let mut other = screen();
        other.add(&[warning(WarningKind::Expired, 1, 1)]);
        assert!(!other.alarming());
    }

    #[test]
    fn lines_of_other_channels_are_ignored() {
        let mut s = screen();
        let mut line = warning(WarningKind::Forged, 1, 1);
        line.channel = ChannelId([3; 16]);
        s.add(&[line]);
        assert!(s.entries.is_empty() && s.name.is_none());
    }
}
