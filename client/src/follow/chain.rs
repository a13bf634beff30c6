//! The chain rule: which fetched or pushed posts a follower shows, and what
//! it warns about (withheld, forged, altered, rotated, expired, revoked).
//! Pure (no storage, no network), unit-tested with real sealed posts.
//!
//! A post is shown only after it opened with a channel key, its signature
//! and staff certificate verified against the org keys (and the org's
//! revocation list), its number is the server's sequence number and its
//! `prev` is the hash of the post before it. The cursor (last seq + hash)
//! only ever moves over such posts, so a post that was rejected, or sealed
//! with a key this follower does not have yet, is looked at again by the
//! next fetch.
//!
//! The warning texts (`FeedItem::Warning`'s `message`) are the English lines
//! the CLI prints; other front-ends show their own text from the kind and
//! the range.

use serde_bytes::ByteBuf;
use stadtbote_protocol::channel::{self, ChannelError, ChannelKey, PostBody, VerifiedPost};
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org_rotation::OrgKeys;
use stadtbote_protocol::{ChannelId, DeviceId, OrgId};
use std::collections::BTreeMap;

use super::model::Cursor;

/// Posts are called withheld rather than expired unless older than the
/// retention minus this margin: publisher, server and follower clocks may
/// differ by minutes, and an honest expiry must never look like an attack.
pub const EXPIRY_CLOCK_MARGIN_MS: u64 = 60 * 60 * 1000;
/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

/// What kind of trouble a follower reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Posts missing (younger than the signed retention) or out of order.
    Withheld,
    /// Not signed by a certified publisher.
    Forged,
    /// Does not decrypt or decode under a key the follower has.
    Altered,
    /// Sealed with a newer key than the follower's.
    Rotated,
    /// Older posts removed by retention (a note, not an alarm).
    Expired,
    /// Signed by a publisher device the org has revoked (lost or stolen).
    Revoked,
}

impl WarningKind {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            WarningKind::Withheld => "withheld",
            WarningKind::Forged => "forged",
            WarningKind::Altered => "altered",
            WarningKind::Rotated => "rotated",
            WarningKind::Expired => "expired",
            WarningKind::Revoked => "revoked",
        }
    }
}

/// One thing `feed` reports about a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// A verified post.
    Post {
        /// Server sequence number (= the signed `n`).
        seq: u64,
        /// The post.
        post: Box<VerifiedPost>,
    },
    /// A problem (or the retention note).
    Warning {
        /// Which.
        kind: WarningKind,
        /// The post concerned (the first one of a range).
        seq: u64,
        /// The last post of the range (`seq` for one post).
        until: u64,
        /// The line to show, without `warning: `/`note: `.
        message: String,
    },
}

/// What [`follow_chain`] needs besides the posts.
#[derive(Debug)]
pub struct ChainContext<'a> {
    /// The channel.
    pub channel: ChannelId,
    /// Its name, for messages.
    pub name: &'a str,
    /// The org.
    pub org: OrgId,
    /// The org keys (the invite's, or the rotation chain followed from it).
    pub org_keys: &'a OrgKeys,
    /// Channel keys by epoch.
    pub keys: &'a BTreeMap<u32, ChannelKey>,
    /// Revoked staff devices (the newest list this home verified).
    pub revoked: &'a [DeviceId],
    /// The channel's retention in days from its signed metadata (`None`
    /// when unknown: then no missing post counts as expired).
    pub retention_days: Option<u32>,
    /// The channel's signed creation time.
    pub created_at: Option<u64>,
    /// Now (Unix ms).
    pub now: u64,
}

/// `#3` or `#3..#5`.
fn range(from: u64, until: u64) -> String {
    if from == until { format!("#{from}") } else { format!("#{from}..#{until}") }
}

/// Whether posts `from..` missing after the cursor (up to the post `next`
/// when the server sent one) may have been removed by retention. They
/// cannot when the server itself says the channel starts at or before
/// `from`, or when they are younger than the signed retention. Their age is
/// bounded below by signed times: each was posted after the last post this
/// follower verified and after the channel was created, and the newest one
/// when `next` says its predecessor was posted.
fn may_have_expired(
    cursor: &Cursor,
    ctx: &ChainContext<'_>,
    first_seq: Option<u64>,
    from: u64,
    next: Option<&PostBody>,
) -> bool {
    if first_seq.is_some_and(|first| first <= from) {
        return false;
    }
    let Some(days) = ctx.retention_days else { return false };
    let retention = u64::from(days).saturating_mul(DAY_MS);
    let posted_no_earlier = [
        cursor.last_posted_at,
        ctx.created_at,
        next.map(|body| body.prev_posted_at).filter(|at| *at > 0),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    ctx.now.saturating_sub(posted_no_earlier).saturating_add(EXPIRY_CLOCK_MARGIN_MS) >= retention
}

fn withheld_gap(from: u64, until: u64, ctx: &ChainContext<'_>) -> FeedItem {
    let retention = ctx
        .retention_days
        .map_or_else(|| "its retention".to_string(), |d| format!("its {d}-day retention"));
    FeedItem::Warning {
        kind: WarningKind::Withheld,
        seq: from,
        until,
        message: format!(
            "post(s) {} of {} were withheld by the server: they are missing but younger than {retention}; later posts wait until they arrive",
            range(from, until),
            ctx.name
        ),
    }
}

fn expired_gap(from: u64, until: u64, ctx: &ChainContext<'_>) -> FeedItem {
    let days = ctx.retention_days.unwrap_or_default();
    FeedItem::Warning {
        kind: WarningKind::Expired,
        seq: from,
        until,
        message: format!(
            "{} older post(s) of {} expired (kept {days} days)",
            until - from + 1,
            ctx.name
        ),
    }
}

/// Applies fetched posts to `cursor`. `first_seq` is the server's oldest
/// retained post (pass it for a fetch answer, `None` for a pushed post).
/// Returns what to show and whether processing stopped at a post that
/// cannot be shown (the cursor stays before it, so the next `feed` looks
/// at it again; later posts of this batch are not shown, as they cannot be
/// chained to it).
pub fn follow_chain(
    cursor: &mut Cursor,
    ctx: &ChainContext<'_>,
    first_seq: Option<u64>,
    posts: &[ChannelPostRecord],
) -> (Vec<FeedItem>, bool) {
    let mut items = Vec::new();
    let warn = |kind, seq, message: String| FeedItem::Warning { kind, seq, until: seq, message };
    // The server sent nothing new but says the channel now starts later:
    // everything after the cursor is gone. Retention does that to a
    // follower that was away long enough; anything younger was withheld.
    if let Some(first) = first_seq
        && first > cursor.last_seq.saturating_add(1)
        && !posts.iter().any(|p| p.seq > cursor.last_seq)
    {
        let from = cursor.last_seq.saturating_add(1);
        if !may_have_expired(cursor, ctx, None, from, None) {
            items.push(withheld_gap(from, first - 1, ctx));
            return (items, true);
        }
        items.push(expired_gap(from, first - 1, ctx));
        cursor.last_seq = first - 1;
        cursor.last_hash = None;
    }
    let max_epoch = ctx.keys.keys().next_back().copied().unwrap_or(0);
    for record in posts {
        if record.seq <= cursor.last_seq {
            continue;
        }
        let expected = cursor.last_seq.saturating_add(1);
        let gap = record.seq > expected;
        let epoch = channel::key_epoch_of(&record.post).ok();
        let key = epoch.and_then(|e| ctx.keys.get(&e));
        // Opened before the gap is judged: a genuine post after it says
        // when the newest missing post was posted.
        let prev = if gap { None } else { cursor.prev() };
        let opened = key.map(|key| {
            channel::open_post_along(
                &record.post,
                key,
                &ctx.channel,
                &ctx.org,
                ctx.org_keys,
                ctx.revoked,
                Some(record.seq),
                prev.as_ref(),
                cursor.last_posted_at,
                ctx.now,
            )
        });
        if gap {
            let next = match &opened {
                Some(Ok(post)) => Some(&post.body),
                _ => None,
            };
            if !may_have_expired(cursor, ctx, first_seq, expected, next) {
                // The cursor stays before the gap: a later (honest) fetch
                // still delivers the missing posts and chains them.
                items.push(withheld_gap(expected, record.seq - 1, ctx));
                return (items, true);
            }
            // Expired: the chain restarts here; this post's `prev` cannot
            // be known, its signature and number are still checked.
            items.push(expired_gap(expected, record.seq - 1, ctx));
            cursor.last_seq = record.seq - 1;
            cursor.last_hash = None;
        }
        let Some(opened) = opened else {
            match epoch {
                Some(e) if e > max_epoch => items.push(warn(
                    WarningKind::Rotated,
                    record.seq,
                    format!("{} has a new key; ask the town for the new invite link", ctx.name),
                )),
                // Once this follower verified a post, every later post
                // has that post's key epoch or a newer one, and it holds
                // all keys from its invite on: an "older" epoch after that
                // is a server's substitute, reported and never stepped over.
                Some(_) if cursor.last_posted_at.is_none() => {
                    // Sealed with a key from before this follower's invite:
                    // unreadable history, not an attack. Its hash still
                    // links the chain; the next post's signature vouches
                    // for that link.
                    items.push(warn(
                        WarningKind::Expired,
                        record.seq,
                        format!(
                            "post #{} of {} predates your invite link and cannot be read",
                            record.seq, ctx.name
                        ),
                    ));
                    cursor.last_seq = record.seq;
                    cursor.last_hash = Some(ByteBuf::from(channel::post_hash(&record.post)));
                    continue;
                }
                Some(_) | None => items.push(altered(record.seq, ctx.name)),
            }
            return (items, true);
        };
        match opened {
            Ok(post) => {
                cursor.last_seq = record.seq;
                cursor.last_hash = Some(ByteBuf::from(post.hash.to_vec()));
                cursor.last_posted_at = Some(post.body.posted_at);
                items.push(FeedItem::Post { seq: record.seq, post: Box::new(post) });
            }
            Err(ChannelError::Revoked) => {
                // Genuinely signed, in its genuine place, but by a device
                // the town revoked: never shown, and stepped over so that
                // the posts after it are not held up (its hash links them).
                // Its times are the thief's word, so `last_posted_at` stays.
                items.push(warn(
                    WarningKind::Revoked,
                    record.seq,
                    format!(
                        "rejected post #{} of {}: signed by a publisher device the town has revoked (lost or stolen)",
                        record.seq, ctx.name
                    ),
                ));
                cursor.last_seq = record.seq;
                cursor.last_hash = Some(ByteBuf::from(channel::post_hash(&record.post)));
            }
            Err(ChannelError::Forged) => {
                items.push(warn(
                    WarningKind::Forged,
                    record.seq,
                    format!(
                        "rejected post #{} of {}: not signed by a certified publisher",
                        record.seq, ctx.name
                    ),
                ));
                return (items, true);
            }
            Err(ChannelError::OutOfOrder { expected, found }) => {
                let (a, b) = (expected.min(found).min(record.seq), expected.max(found));
                items.push(FeedItem::Warning {
                    kind: WarningKind::Withheld,
                    seq: a,
                    until: b,
                    message: format!(
                        "post(s) {} of {} were withheld or reordered",
                        range(a, b),
                        ctx.name
                    ),
                });
                return (items, true);
            }
            Err(_) => {
                items.push(altered(record.seq, ctx.name));
                return (items, true);
            }
        }
    }
    (items, false)
}

fn altered(seq: u64, name: &str) -> FeedItem {
    FeedItem::Warning {
        kind: WarningKind::Altered,
        seq,
        until: seq,
        message: format!("rejected post #{seq} of {name}: altered"),
    }
}
