//! The follower's chain rule: what is shown, what is reported, and where
//! the cursor ends up.

use super::*;
use crate::follow::FollowError;
use crate::staff::tests::certificate;
use stadtbote_protocol::AccountId;
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::frame::ChannelPostRecord;
use stadtbote_protocol::org::testing::{CertTimes, Holder, staff_certificate};
use stadtbote_protocol::org::{RevocationList, StaffList};

struct Fixture {
    org: OrgId,
    org_key: DeviceSecret,
    device: DeviceSecret,
    cert: StaffCertificate,
    channel: ChannelId,
    keys: BTreeMap<u32, ChannelKey>,
    /// Revoked devices the follower knows of.
    revoked: Vec<DeviceId>,
    /// The signed retention (days) and creation time the follower keeps.
    retention_days: Option<u32>,
    created_at: Option<u64>,
    /// The follower's clock.
    now: u64,
}

const DAY: u64 = 86_400_000;

/// A publisher certificate for device `id`, valid for 10,000 days (the
/// retention tests run their clock over months).
fn long_cert(
    org: OrgId,
    org_key: &DeviceSecret,
    device: &DeviceSecret,
    id: u8,
) -> StaffCertificate {
    let holder = Holder {
        account: AccountId([2; 16]),
        device: DeviceId([id; 16]),
        identity_key: device.identity_key(),
    };
    let times = CertTimes {
        issued_at: 0,
        invite_expires_at: 1_000,
        cert_expires_at: 10_000 * DAY,
        bound_at: 10,
    };
    staff_certificate(org, org_key, holder, Role::Publisher, "presse", times)
}

fn fixture() -> Fixture {
    let org = OrgId([1; 16]);
    let org_key = DeviceSecret::generate();
    let device = DeviceSecret::generate();
    let cert = long_cert(org, &org_key, &device, 3);
    Fixture {
        org,
        org_key,
        device,
        cert,
        channel: ChannelId([4; 16]),
        keys: BTreeMap::from([(0, ChannelKey::generate())]),
        revoked: Vec::new(),
        // A channel created long ago, posts at t = 100 ms: far older than
        // the retention unless a test says otherwise.
        retention_days: Some(30),
        created_at: Some(1),
        now: 1_000 * DAY,
    }
}

impl Fixture {
    fn post_with(&self, epoch: u32, n: u64, prev: [u8; 32], cert: &StaffCertificate) -> Vec<u8> {
        self.post_at(epoch, n, prev, cert, 100, 0)
    }

    /// A post sealed with the key of `epoch`, posted at `posted_at`, saying
    /// its predecessor was posted at `prev_posted_at`.
    fn post_at(
        &self,
        epoch: u32,
        n: u64,
        prev: [u8; 32],
        cert: &StaffCertificate,
        posted_at: u64,
        prev_posted_at: u64,
    ) -> Vec<u8> {
        let body = PostBody {
            v: CHANNEL_VERSION,
            channel: self.channel,
            n,
            prev: ByteBuf::from(prev.to_vec()),
            posted_at,
            text: format!("Post {n}"),
            photos: vec![],
            prev_posted_at,
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
        let org_keys = OrgKeys::single(self.org_key.identity_key());
        let ctx = ChainContext {
            channel: self.channel,
            name: "Amtsblatt",
            org: self.org,
            org_keys: &org_keys,
            keys,
            revoked: &self.revoked,
            retention_days: self.retention_days,
            created_at: self.created_at,
            now: self.now,
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
            FeedItem::Warning { kind, seq, message, .. } => Some((*kind, *seq, message.clone())),
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
    assert_eq!(w[0].2, "3 older post(s) of Amtsblatt expired (kept 30 days)");
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
    assert_eq!(
        w[0].2,
        "post(s) #3..#4 of Amtsblatt were withheld by the server: they are missing but younger than its 30-day retention; later posts wait until they arrive"
    );
    assert!(!w.iter().any(|(k, ..)| *k == WarningKind::Expired));
    // Post 5 is not shown ahead of them: the cursor stays at 2.
    assert!(shown(&items).is_empty());
    assert_eq!(cursor.last_seq, 2);
    // When the server delivers them, all three follow in order.
    let (items, stopped) = f.run(&mut cursor, Some(1), &posts[2..]);
    assert!(!stopped);
    assert_eq!(shown(&items), [3, 4, 5]);
    assert!(warnings(&items).is_empty());
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
        last_posted_at: Some(100),
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
    let stranger = long_cert(f.org, &DeviceSecret::generate(), &f.device, 3);
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
        10_000 * DAY,
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
fn an_older_epoch_after_a_verified_post_is_a_substitute_not_history() {
    let mut f = fixture();
    // The follower holds epoch 1 only and verified post 1 of epoch 1; the
    // server then offers "post 2" sealed under epoch 0 (a key the follower
    // never had), hoping it is stepped over as history.
    f.keys.insert(1, ChannelKey::generate());
    let p1 = f.post_with(1, 1, GENESIS, &f.cert);
    let stale = f.post_with(0, 2, channel::post_hash(&p1), &f.cert);
    f.keys.remove(&0);
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(1), &[record(1, p1), record(2, stale)]);
    assert_eq!(shown(&items), [1]);
    assert!(stopped, "the substitute stops the feed: {items:?}");
    assert!(warnings(&items).iter().all(|w| w.0 != WarningKind::Expired), "{items:?}");
    assert_eq!(cursor.last_seq, 1, "the cursor stays before the substitute");
}

#[test]
fn missing_posts_younger_than_the_signed_retention_are_withheld_not_expired() {
    let mut f = fixture();
    f.now = 100 * DAY;
    let at = |day: u64| day * DAY;
    // Posts on days 10, 80, 90, 95, 99 (retention 30 days; now day 100).
    let days = [10, 80, 90, 95, 99];
    let mut prev = GENESIS;
    let mut prev_at = 0;
    let posts: Vec<_> = days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let sealed = f.post_at(0, i as u64 + 1, prev, &f.cert, at(*day), prev_at);
            prev = channel::post_hash(&sealed);
            prev_at = at(*day);
            record(i as u64 + 1, sealed)
        })
        .collect();

    // A follower at post 1 (day 10): the server says the channel starts at
    // 4. Post 4 says post 3 was posted on day 90: it cannot have expired.
    let follower_at_1 = || Cursor {
        last_seq: 1,
        last_hash: Some(ByteBuf::from(channel::post_hash(&posts[0].post).to_vec())),
        last_posted_at: Some(at(10)),
    };
    let mut cursor = follower_at_1();
    let (items, stopped) = f.run(&mut cursor, Some(4), &posts[3..]);
    assert!(stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert!(shown(&items).is_empty());
    assert_eq!(cursor, follower_at_1(), "the cursor does not skip withheld posts");

    // Same without the predecessor's time (a post from an older client):
    // the last verified post is older than the retention, so the claim
    // "expired" cannot be refuted and is a note.
    let legacy = f.post_at(0, 4, channel::post_hash(&posts[2].post), &f.cert, at(95), 0);
    let mut cursor = follower_at_1();
    let (items, stopped) = f.run(&mut cursor, Some(4), &[record(4, legacy)]);
    assert!(!stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Expired);
    assert_eq!(shown(&items), [4]);

    // Honest expiry: post 1 (day 10) is past the retention, post 2 (day
    // 80) is not; post 2 says post 1 was posted on day 10.
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(2), &posts[1..]);
    assert!(!stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Expired);
    assert_eq!(shown(&items), [2, 3, 4, 5]);

    // A new follower: dropping posts 1-3 fails on post 4's signed time.
    let mut cursor = Cursor::default();
    let (items, stopped) = f.run(&mut cursor, Some(4), &posts[3..]);
    assert!(stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert_eq!(cursor, Cursor::default());

    // A channel created within the retention has no expired posts at all.
    f.created_at = Some(at(75));
    let mut cursor = Cursor::default();
    let (items, _) = f.run(&mut cursor, Some(2), &posts[1..]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);

    // Nothing sent, but the channel "now starts" after the cursor.
    let mut cursor = follower_at_1();
    cursor.last_posted_at = Some(at(99));
    let (items, stopped) = f.run(&mut cursor, Some(6), &[]);
    assert!(stopped);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert_eq!(cursor.last_seq, 1);

    // Without a signed retention nothing counts as expired.
    f.retention_days = None;
    f.created_at = None;
    let mut cursor = Cursor::default();
    let (items, _) = f.run(&mut cursor, Some(2), &posts[1..]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);

    // A gap inside a page is always withheld: the server says it has them.
    f.retention_days = Some(30);
    f.created_at = Some(1);
    let mut cursor = Cursor::default();
    let (items, _) = f.run(&mut cursor, Some(1), &[posts[0].clone(), posts[4].clone()]);
    assert_eq!(shown(&items), [1]);
    assert_eq!(warnings(&items)[0].0, WarningKind::Withheld);
    assert_eq!(cursor.last_seq, 1);
}

#[test]
fn posts_of_a_revoked_device_are_flagged_and_stepped_over() {
    let mut f = fixture();
    let thief = DeviceSecret::generate();
    let thief_cert = long_cert(f.org, &f.org_key, &thief, 9);
    f.revoked = vec![DeviceId([9; 16])];
    let p1 = f.post_with(0, 1, GENESIS, &f.cert);
    let h1 = channel::post_hash(&p1);
    let body = PostBody {
        v: CHANNEL_VERSION,
        channel: f.channel,
        n: 2,
        prev: ByteBuf::from(h1.to_vec()),
        posted_at: 100,
        text: "Trinkwasser verseucht".into(),
        photos: vec![],
        prev_posted_at: 0,
    };
    let p2 = channel::seal_post(&body, &f.keys[&0], 0, &thief, thief_cert).unwrap();
    let p3 = f.post_with(0, 3, channel::post_hash(&p2), &f.cert);
    let mut cursor = Cursor::default();
    let (items, stopped) =
        f.run(&mut cursor, Some(1), &[record(1, p1), record(2, p2), record(3, p3)]);
    assert!(!stopped);
    assert_eq!(shown(&items), [1, 3]);
    let w = warnings(&items);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].0, w[0].1), (WarningKind::Revoked, 2));
    assert_eq!(cursor.last_seq, 3);
}

fn list(version: u64, revoked: &[DeviceId]) -> RevocationList {
    RevocationList {
        v: 1,
        org: OrgId([1; 16]),
        version,
        revoked: revoked.to_vec(),
        updated_at: version,
    }
}

#[test]
fn the_newest_revocation_list_is_kept_and_never_let_go() {
    let org = OrgId([1; 16]);
    let (a, b) = (DeviceId([5; 16]), DeviceId([6; 16]));
    let mut file = FollowsFile::default();
    // No list ever seen, none presented: nothing revoked.
    assert_eq!(file.accept_revocations(org, "goslar", None).unwrap(), (false, vec![]));
    assert_eq!(
        file.accept_revocations(org, "goslar", Some(list(1, &[a]))).unwrap(),
        (true, vec![a])
    );
    assert_eq!(
        file.accept_revocations(org, "goslar", Some(list(2, &[a, b]))).unwrap(),
        (true, vec![a, b])
    );
    assert_eq!(
        file.accept_revocations(org, "goslar", Some(list(2, &[a, b]))).unwrap(),
        (false, vec![a, b])
    );
    for presented in [None, Some(list(1, &[a]))] {
        let err = file.accept_revocations(org, "goslar", presented).unwrap_err();
        assert!(matches!(err, FollowError::RevocationListWithheld { pinned: 2, .. }), "{err}");
        assert!(err.to_string().contains("revocation list of goslar"), "{err}");
    }
    assert_eq!(file.revocations[&org].revoked, [a, b]);
}

#[test]
fn the_newest_staff_list_is_kept_and_its_revocations_count() {
    let org = OrgId([1; 16]);
    let (a, b) = (DeviceId([5; 16]), DeviceId([6; 16]));
    let staff_list = |version: u64, revoked: &[DeviceId]| StaffList {
        version,
        revoked: revoked.to_vec(),
        ..StaffList::empty(org)
    };
    let mut file = FollowsFile::default();
    assert_eq!(file.accept_staff_list(org, "goslar", None).unwrap(), (false, vec![]));
    assert_eq!(
        file.accept_staff_list(org, "goslar", Some(staff_list(3, &[a]))).unwrap(),
        (true, vec![a])
    );
    assert_eq!(
        file.accept_staff_list(org, "goslar", Some(staff_list(4, &[a, b]))).unwrap(),
        (true, vec![a, b])
    );
    for presented in [None, Some(staff_list(3, &[]))] {
        let err = file.accept_staff_list(org, "goslar", presented).unwrap_err();
        assert!(matches!(err, FollowError::StaffListRolledBack { seen: 4, .. }), "{err}");
    }
    assert_eq!(file.staff_lists[&org].revoked, [a, b]);
    // Without a followed chain, posts are checked with the invite's key.
    let invite_key = DeviceSecret::generate().identity_key();
    assert_eq!(file.org_keys(&org, &invite_key), OrgKeys::single(invite_key));
}

#[test]
fn quotes_are_short_and_on_one_line() {
    let q = quote("Amtsblatt", 7, &format!("Zeile eins\nZeile zwei {}", "x".repeat(100)));
    assert!(q.starts_with("Re: Amtsblatt #7: \"Zeile eins Zeile zwei "));
    assert_eq!(q.chars().count(), "Re: Amtsblatt #7: \"".len() + 80 + 1);
}
