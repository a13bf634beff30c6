//! The follower's chain rule: what is shown, what is reported, and where
//! the cursor ends up.

use super::*;
use crate::staff::tests::certificate;
use stadtbote_protocol::AccountId;
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::org::testing::default_staff_certificate;

struct Fixture {
    org: OrgId,
    org_key: DeviceSecret,
    device: DeviceSecret,
    cert: StaffCertificate,
    channel: ChannelId,
    keys: BTreeMap<u32, ChannelKey>,
}

fn publisher_cert(org: OrgId, org_key: &DeviceSecret, device: &DeviceSecret) -> StaffCertificate {
    default_staff_certificate(org, org_key, device, Role::Publisher)
}

fn fixture() -> Fixture {
    let org = OrgId([1; 16]);
    let org_key = DeviceSecret::generate();
    let device = DeviceSecret::generate();
    let cert = publisher_cert(org, &org_key, &device);
    Fixture {
        org,
        org_key,
        device,
        cert,
        channel: ChannelId([4; 16]),
        keys: BTreeMap::from([(0, ChannelKey::generate())]),
    }
}

impl Fixture {
    fn post_with(&self, epoch: u32, n: u64, prev: [u8; 32], cert: &StaffCertificate) -> Vec<u8> {
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: self.channel,
            n,
            prev: ByteBuf::from(prev.to_vec()),
            posted_at: 100,
            text: format!("Post {n}"),
            photos: vec![],
        };
        let key = self.keys.get(&epoch).cloned().unwrap_or_else(ChannelKey::generate);
        channel::seal_post(&body, &key, epoch, &self.device, cert.clone()).unwrap()
    }

    /// A valid chain of `count` posts.
    fn chain(&self, count: u64) -> Vec<ChannelPostRecord> {
        let mut prev = GENESIS;
        (1..=count)
            .map(|n| {
                let sealed = self.post_with(0, n, prev, &self.cert);
                prev = channel::post_hash(&sealed);
                record(n, sealed)
            })
            .collect()
    }

    fn run(
        &self,
        cursor: &mut Cursor,
        first: Option<u64>,
        posts: &[ChannelPostRecord],
    ) -> (Vec<FeedItem>, bool) {
        self.run_with(&self.keys, cursor, first, posts)
    }

    /// [`Fixture::run`] for a follower holding only `keys`.
    fn run_with(
        &self,
        keys: &BTreeMap<u32, ChannelKey>,
        cursor: &mut Cursor,
        first: Option<u64>,
        posts: &[ChannelPostRecord],
    ) -> (Vec<FeedItem>, bool) {
        let org_key = self.org_key.identity_key();
        let ctx = ChainContext {
            channel: self.channel,
            name: "Amtsblatt",
            org: self.org,
            org_key: &org_key,
            keys,
            revoked: &[],
            now: 500,
        };
        follow_chain(cursor, &ctx, first, posts)
    }
}

fn record(seq: u64, sealed: Vec<u8>) -> ChannelPostRecord {
    ChannelPostRecord { seq, stored_at: 1, post: ByteBuf::from(sealed) }
}

fn shown(items: &[FeedItem]) -> Vec<u64> {
    items.iter().filter(|i| matches!(i, FeedItem::Post { .. })).map(seq_of).collect()
}

fn seq_of(item: &FeedItem) -> u64 {
    match item {
        FeedItem::Post { seq, .. } | FeedItem::Warning { seq, .. } => *seq,
    }
}

fn warnings(items: &[FeedItem]) -> Vec<(WarningKind, u64, String)> {
    items
        .iter()
        .filter_map(|i| match i {
            FeedItem::Warning { kind, seq, message } => Some((*kind, *seq, message.clone())),
            FeedItem::Post { .. } => None,
        })
        .collect()
}

#[test]
fn a_clean_chain_is_shown_and_the_cursor_follows_it() {
    let f = fixture();
    let posts = f.chain(3);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(1), &posts[..2]);
    assert!(!stopped);
    assert_eq!(shown(&items), [1, 2]);
    assert_eq!(cursor.last_seq, 2);
    // Fetching again (overlap) shows only the new post, chained to #2.
    let (items, _) = f.run(&mut cursor, Some(1), &posts);
    assert_eq!(shown(&items), [3]);
    assert!(warnings(&items).is_empty());
    assert_eq!(cursor.last_seq, 3);
    assert_eq!(
        cursor.last_hash.as_ref().map(|h| h.to_vec()),
        Some(channel::post_hash(&posts[2].post).to_vec())
    );
}

#[test]
fn expired_posts_at_the_start_are_a_note_and_the_chain_starts_there() {
    let f = fixture();
    let posts = f.chain(5);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(4), &posts[3..]);
    assert!(!stopped);
    let w = warnings(&items);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, WarningKind::Expired);
    assert_eq!(w[0].2, "3 older posts expired");
    assert_eq!(shown(&items), [4, 5]);
    assert_eq!(cursor.last_seq, 5);
}

#[test]
fn skipped_numbers_are_reported_as_withheld() {
    let f = fixture();
    let posts = f.chain(5);
    let mut cursor = Cursor::default();
    f.run(&mut cursor, Some(1), &posts[..2]);
    // The server skips #3 and #4 although it says the channel starts at 1.
    let (items, _) = f.run(&mut cursor, Some(1), &[posts[4].clone()]);
    let w = warnings(&items);
    assert_eq!(w[0].0, WarningKind::Withheld);
    assert_eq!(w[0].2, "post(s) #3..#4 of Amtsblatt were withheld or reordered");
    assert!(!w.iter().any(|(k, ..)| *k == WarningKind::Expired));
}

#[test]
fn a_swapped_post_with_contiguous_numbers_is_withheld_and_stops_the_cursor() {
    let f = fixture();
    let posts = f.chain(3);
    // Another post #2 chaining to something else: numbers contiguous,
    // `prev` does not match the post #1 the follower verified.
    let other = f.post_with(0, 2, [7; 32], &f.cert);
    let mut cursor = Cursor::default();
    let (items, stopped) =
        f.run(&mut cursor, Some(1), &[posts[0].clone(), record(2, other), posts[2].clone()]);
    assert!(stopped);
    assert_eq!(shown(&items), [1]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert_eq!(cursor.last_seq, 1, "the cursor does not pass an unverified post");
    // A post #3 delivered as #2 (reordered) is caught by its signed number.
    let mut cursor = Cursor {
        last_seq: 1,
        last_hash: Some(ByteBuf::from(channel::post_hash(&posts[0].post).to_vec())),
    };
    let (items, stopped) = f.run(&mut cursor, None, &[record(2, posts[2].post.to_vec())]);
    assert!(stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert_eq!(cursor.last_seq, 1);
}

#[test]
fn forged_and_altered_posts_are_rejected_without_moving_the_cursor() {
    let f = fixture();
    let posts = f.chain(1);
    let h1 = channel::post_hash(&posts[0].post);
    // Signed by a device certified by another org key.
    let stranger = publisher_cert(f.org, &DeviceSecret::generate(), &f.device);
    let forged = f.post_with(0, 2, h1, &stranger);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(1), &[posts[0].clone(), record(2, forged)]);
    assert!(stopped);
    assert_eq!(shown(&items), [1]);
    let w = warnings(&items);
    assert_eq!(w[0].0, WarningKind::Forged);
    assert_eq!(w[0].2, "rejected post #2 of Amtsblatt: not signed by a certified publisher");
    assert_eq!(cursor.last_seq, 1);

    // A clerk's certificate (no publishing role) is a forgery too.
    let clerk = certificate(
        f.org,
        &f.org_key,
        AccountId([2; 16]),
        DeviceId([3; 16]),
        f.device.identity_key(),
        "presse",
        1_000_000,
    );
    let (items, _) = f.run(&mut cursor, None, &[record(2, f.post_with(0, 2, h1, &clerk))]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Forged);

    let mut altered = f.post_with(0, 2, h1, &f.cert);
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let (items, stopped) = f.run(&mut cursor, None, &[record(2, altered)]);
    assert!(stopped);
    let w = warnings(&items);
    assert_eq!(w[0].0, WarningKind::Altered);
    assert_eq!(w[0].2, "rejected post #2 of Amtsblatt: altered");
    assert_eq!(cursor.last_seq, 1);
    assert_eq!(cursor.last_hash.as_ref().map(|h| h.to_vec()), Some(h1.to_vec()));
}

#[test]
fn a_newer_key_is_reported_as_rotated_and_readable_after_the_new_invite() {
    let mut f = fixture();
    let posts = f.chain(1);
    let h1 = channel::post_hash(&posts[0].post);
    let new_key = ChannelKey::generate();
    f.keys.insert(1, new_key.clone());
    let rotated = f.post_with(1, 2, h1, &f.cert);
    // The follower only has epoch 0.
    let old_keys = BTreeMap::from([(0, f.keys[&0].clone())]);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run_with(
        &old_keys,
        &mut cursor,
        Some(1),
        &[posts[0].clone(), record(2, rotated.clone())],
    );
    assert!(stopped);
    assert_eq!(shown(&items), [1]);
    let w = warnings(&items);
    assert_eq!(w[0].0, WarningKind::Rotated);
    assert_eq!(w[0].2, "Amtsblatt has a new key; ask the town for the new invite link");
    assert_eq!(cursor.last_seq, 1);
    // With the new invite (both keys) the same post verifies and chains.
    let (items, stopped) = f.run(&mut cursor, Some(1), &[record(2, rotated)]);
    assert!(!stopped);
    assert_eq!(shown(&items), [2]);
    assert_eq!(cursor.last_seq, 2);
}

#[test]
fn posts_before_the_followers_key_are_skipped_as_history() {
    let mut f = fixture();
    let posts = f.chain(1);
    let h1 = channel::post_hash(&posts[0].post);
    f.keys.insert(1, ChannelKey::generate());
    let p2 = f.post_with(1, 2, h1, &f.cert);
    // A new follower who only has the key of epoch 1.
    f.keys.remove(&0);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(1), &[posts[0].clone(), record(2, p2)]);
    assert!(!stopped);
    assert_eq!(shown(&items), [2]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Expired);
    assert_eq!(cursor.last_seq, 2);
}

#[test]
fn quotes_are_short_and_on_one_line() {
    let q = quote("Amtsblatt", 7, &format!("Zeile eins\nZeile zwei {}", "x".repeat(100)));
    assert!(q.starts_with("Re: Amtsblatt #7: \"Zeile eins Zeile zwei "));
    assert_eq!(q.chars().count(), "Re: Amtsblatt #7: \"".len() + 80 + 1);
}
