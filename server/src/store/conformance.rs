//! The behaviour every storage backend must show, as one test suite.
//!
//! Each function here takes a [`Backend`] (how to get a fresh store of that
//! kind, and how to back one up and restore it into a new one) and checks
//! one part of the [`Store`] contract through the trait only: accounts,
//! devices and KeyPackages; exactly one commit per epoch under concurrency;
//! mailbox send, fetch, ack and redelivery; sweep and expiry; what an
//! account deletion leaves readable; the backup round trip.
//!
//! A backend runs all of it with one line in its tests:
//! `crate::store::conformance::conformance_suite!(MyBackend);` — the sled
//! backend does so in [`super::sled_store`]; the PostgreSQL backend will do
//! the same with a backend that creates a throwaway database per test.

use std::any::Any;
use std::sync::Arc;

use stadtbote_protocol::auth::{DeviceSecret, IdentityKey};
use stadtbote_protocol::{AccountId, DeviceId, GroupId};

use super::{CommitInput, KeyPackageStatus, LinkOutcome, Store, StoreError, SweepReport};

/// One store under test with whatever keeps it alive (a temporary
/// directory, a throwaway database). Dropping it deletes the store.
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the store.
    pub guard: Box<dyn Any>,
}

/// What the suite needs from a backend.
pub trait Backend {
    /// A fresh, empty store.
    fn fresh(&self) -> Fixture;

    /// A new store holding what a backup of `source` holds: take a backup
    /// the way `stadtbote-server backup` does, restore it the way
    /// `stadtbote-server restore` does, open the result. Consumes `source`
    /// (a backend may need its files released).
    fn backup_and_restore(&self, source: Fixture) -> Fixture;

    /// Every byte the backend persisted for `fixture` (all of its files, old
    /// segments, logs and WAL included), read after closing it: what a
    /// thief of the disk would get.
    fn persisted_bytes(&self, fixture: Fixture) -> Vec<Vec<u8>>;
}

/// Runs every conformance test against `$backend` (an expression of a type
/// implementing [`Backend`]), one `#[test]` each.
macro_rules! conformance_suite {
    ($backend:expr) => {
        #[test]
        fn conformance_accounts_devices_and_key_packages() {
            $crate::store::conformance::accounts_devices_and_key_packages(&$backend);
        }
        #[test]
        fn conformance_one_commit_per_epoch_under_concurrency() {
            $crate::store::conformance::one_commit_per_epoch_under_concurrency(&$backend);
        }
        #[test]
        fn conformance_commit_rules() {
            $crate::store::conformance::commit_rules(&$backend);
        }
        #[test]
        fn conformance_mailbox_send_fetch_ack_redelivery() {
            $crate::store::conformance::mailbox_send_fetch_ack_redelivery(&$backend);
        }
        #[test]
        fn conformance_sweep_and_expiry() {
            $crate::store::conformance::sweep_and_expiry(&$backend);
        }
        #[test]
        fn conformance_deletion_leaves_nothing_readable() {
            $crate::store::conformance::deletion_leaves_nothing_readable(&$backend);
        }
        #[test]
        fn conformance_backup_round_trip() {
            $crate::store::conformance::backup_round_trip(&$backend);
        }
    };
}
pub(crate) use conformance_suite;

const DAY: u64 = 86_400_000;
const MAX_BYTES: usize = 1 << 20;

fn key() -> IdentityKey {
    DeviceSecret::generate().identity_key()
}

/// A commit input with fixed payloads and times, for store tests.
pub(in crate::store) fn commit<'a>(
    group: &'a GroupId,
    caller: &'a DeviceId,
    epoch: u64,
    add: &'a [DeviceId],
    welcome: Option<&'a [u8]>,
) -> CommitInput<'a> {
    CommitInput {
        group,
        caller,
        epoch,
        commit: b"commit",
        add,
        remove: &[],
        welcome,
        now_ms: 1000,
        expires_at_ms: 1000 + DAY,
        max_members: 500,
        may_create: true,
    }
}

fn payloads(store: &dyn Store, device: &DeviceId) -> Vec<Vec<u8>> {
    let page = store.mailbox(device, 0, 100, MAX_BYTES).expect("mailbox");
    page.envelopes.iter().map(|e| e.payload.to_vec()).collect()
}

fn ids(store: &dyn Store, device: &DeviceId) -> Vec<u64> {
    let page = store.mailbox(device, 0, 100, MAX_BYTES).expect("mailbox");
    page.envelopes.iter().map(|e| e.id).collect()
}

/// Accounts, devices, link codes and KeyPackages.
pub fn accounts_devices_and_key_packages(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.as_ref();
    let k = key();
    let (account, d1) = store.create_account(&k, 1).unwrap();
    let record = store.device(&d1).unwrap().expect("device stored");
    assert_eq!((record.account, &record.identity_key, record.blocked), (account, &k, false));
    assert!(store.device(&DeviceId([0xAB; DeviceId::LEN])).unwrap().is_none());
    assert!(matches!(
        store.list_devices(&AccountId([9; AccountId::LEN])),
        Err(StoreError::UnknownAccount)
    ));

    // A link code adds a device once; expired and used codes are refused.
    store.create_link_code(&[7; 32], &account, 100).unwrap();
    assert!(matches!(
        store.redeem_link_code(&[7; 32], Some(&key()), 100),
        Err(StoreError::InvalidCode)
    ));
    let k2 = key();
    let LinkOutcome::Linked { account: linked, device: d2 } =
        store.redeem_link_code(&[7; 32], Some(&k2), 50).unwrap()
    else {
        panic!("the code did not link a device");
    };
    assert_eq!(linked, account);
    assert!(matches!(
        store.redeem_link_code(&[7; 32], Some(&k2), 50),
        Err(StoreError::InvalidCode)
    ));
    let devices = store.list_devices(&account).unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|d| d.device == d2 && d.identity_key == k2));

    // One-time packages are handed out once each, oldest first, then the
    // last-resort one again and again; the limit refuses the whole upload.
    let (_, claimer) = store.create_account(&key(), 1).unwrap();
    assert_eq!(store.upload_key_packages(&d1, &[b"kp1", b"kp2"], Some(b"lr"), 3).unwrap(), 2);
    assert!(matches!(
        store.upload_key_packages(&d1, &[b"a", b"b"], None, 3),
        Err(StoreError::TooManyKeyPackages { max: 3 })
    ));
    assert_eq!(
        store.key_package_status(&d1).unwrap(),
        KeyPackageStatus { one_time: 2, last_resort: true }
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        let claimed = store.claim_device_key_packages(&[d1, d1, claimer], &claimer).unwrap();
        assert_eq!(claimed.len(), 1, "duplicates and the claimer are omitted");
        got.push((claimed[0].key_package.to_vec(), claimed[0].last_resort));
    }
    let expected: Vec<(Vec<u8>, bool)> = vec![
        (b"kp1".to_vec(), false),
        (b"kp2".to_vec(), false),
        (b"lr".to_vec(), true),
        (b"lr".to_vec(), true),
    ];
    assert_eq!(got, expected);
    assert_eq!(store.key_package_status(&d1).unwrap().one_time, 0);
    // d2 has no package: omitted, not an error.
    assert_eq!(store.claim_key_packages(&account, &claimer).unwrap().len(), 1);

    // A blocked account's devices are not listed.
    assert_eq!(store.set_account_blocked(&account, true).unwrap(), Some(2));
    assert!(store.device(&d1).unwrap().expect("still stored").blocked);
    assert!(store.list_devices(&account).unwrap().is_empty());
    assert_eq!(store.set_account_blocked(&AccountId([3; AccountId::LEN]), true).unwrap(), None);
}

/// Many members commit at the same epoch at once: exactly one wins, the
/// others are told the epoch that is current now.
pub fn one_commit_per_epoch_under_concurrency(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.clone();
    let members: Vec<DeviceId> =
        (0..8).map(|_| store.create_account(&key(), 1).unwrap().1).collect();
    let group = GroupId([2; GroupId::LEN]);
    store.commit(commit(&group, &members[0], 0, &members[1..], Some(b"w"))).unwrap();
    let mut winners = Vec::new();
    for epoch in 1..4u64 {
        let handles: Vec<_> = members
            .iter()
            .map(|member| {
                let (store, member) = (store.clone(), *member);
                let handle = std::thread::spawn(move || {
                    store.commit(commit(&group, &member, epoch, &[], None)).map(|o| o.epoch)
                });
                (member, handle)
            })
            .collect();
        let mut accepted = 0;
        for (member, handle) in handles {
            match handle.join().expect("committer thread") {
                Ok(new_epoch) => {
                    assert_eq!(new_epoch, epoch + 1);
                    accepted += 1;
                    winners.push(member);
                }
                Err(StoreError::StaleEpoch { current }) => assert_eq!(current, epoch + 1),
                Err(StoreError::Storage(e)) => panic!("storage failed: {e}"),
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
        assert_eq!(accepted, 1, "epoch {epoch}: exactly one commit wins");
    }
    // Each winner's commit reached every other member exactly once (a
    // member that won an epoch is not sent its own commit).
    for member in &members[1..] {
        let commits = payloads(store.as_ref(), member).iter().filter(|p| p == &b"commit").count();
        let expected = winners.iter().filter(|winner| *winner != member).count();
        assert_eq!(commits, expected, "a member missed or repeated commits");
    }
}

/// What a commit may do, and that a non-member learns nothing.
pub fn commit_rules(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.as_ref();
    let (_, alice) = store.create_account(&key(), 1).unwrap();
    let (_, bob) = store.create_account(&key(), 1).unwrap();
    let (_, carol) = store.create_account(&key(), 1).unwrap();
    let group = GroupId([1; GroupId::LEN]);
    let unknown = GroupId([4; GroupId::LEN]);
    // Unknown group at a non-zero epoch, or at epoch 0 without a creation
    // proof: answered like a non-member's commit to an existing group.
    assert!(matches!(
        store.commit(commit(&unknown, &alice, 3, &[], None)),
        Err(StoreError::NotAMember)
    ));
    let unproven = CommitInput { may_create: false, ..commit(&unknown, &alice, 0, &[], None) };
    assert!(matches!(store.commit(unproven), Err(StoreError::NotAMember)));
    let out = store.commit(commit(&group, &alice, 0, &[bob], Some(b"welcome"))).unwrap();
    assert_eq!((out.epoch, out.recipients), (1, vec![bob]));
    assert_eq!(payloads(store, &bob), vec![b"welcome".to_vec()]);
    assert!(matches!(
        store.commit(commit(&group, &carol, 1, &[], None)),
        Err(StoreError::NotAMember)
    ));
    assert!(matches!(
        store.commit(commit(&group, &alice, 1, &[DeviceId([0xEE; DeviceId::LEN])], Some(b"w"))),
        Err(StoreError::UnknownDevice)
    ));
    assert!(matches!(
        store.commit(commit(&group, &alice, 1, &[carol], None)),
        Err(StoreError::InvalidCommit(_))
    ));
    assert!(matches!(
        store.commit(commit(&group, &alice, 1, &[bob], Some(b"w"))),
        Err(StoreError::InvalidCommit(_))
    ));
    let add_carol = [carol];
    let small = CommitInput { max_members: 2, ..commit(&group, &alice, 1, &add_carol, Some(b"w")) };
    assert!(matches!(store.commit(small), Err(StoreError::TooManyMembers { max: 2 })));
    // Refusals changed nothing: the epoch is still 1.
    let removal = CommitInput {
        remove: std::slice::from_ref(&bob),
        ..commit(&group, &alice, 1, &add_carol, Some(b"w2"))
    };
    let out = store.commit(removal).unwrap();
    assert_eq!(out.epoch, 2);
    let mut woken = out.recipients;
    woken.sort();
    let mut expected = vec![bob, carol];
    expected.sort();
    assert_eq!(woken, expected, "the removed device still gets the commit");
    assert!(matches!(store.send(&group, &bob, b"hi", 1, 2), Err(StoreError::NotAMember)));
    assert!(matches!(
        store.send(&unknown, &alice, b"hi", 1, 2),
        Err(StoreError::UnknownGroup | StoreError::NotAMember)
    ));
}

/// A message is stored once and queued for every other member; fetching
/// does not remove it (it is delivered again until acked); an ack removes
/// only the acking device's own entries.
pub fn mailbox_send_fetch_ack_redelivery(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.as_ref();
    let (_, a) = store.create_account(&key(), 1).unwrap();
    let (_, b) = store.create_account(&key(), 1).unwrap();
    let (_, c) = store.create_account(&key(), 1).unwrap();
    let group = GroupId([3; GroupId::LEN]);
    store.commit(commit(&group, &a, 0, &[b, c], Some(b"w"))).unwrap();
    let mut to = store.send(&group, &a, b"hello", 5, 5 + DAY).unwrap();
    to.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(to, expected);
    assert!(payloads(store, &a).is_empty(), "the sender is queued nothing");

    let first = store.mailbox(&b, 0, 100, MAX_BYTES).unwrap();
    assert_eq!(first.envelopes.len(), 2);
    assert_eq!(first.envelopes[1].payload.as_ref(), b"hello");
    assert_eq!(first.envelopes[1].received_at, 5);
    assert!(!first.more);
    // Not acked: delivered again, with the same ids.
    let again = store.mailbox(&b, 0, 100, MAX_BYTES).unwrap();
    assert_eq!(again, first);
    let b_ids = ids(store, &b);
    assert!(b_ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    // Acking someone else's envelope removes nothing.
    assert_eq!(store.ack(&a, &b_ids).unwrap(), 0);
    assert_eq!(store.ack(&b, &b_ids[..1]).unwrap(), 1);
    assert_eq!(payloads(store, &b), vec![b"hello".to_vec()]);
    assert_eq!(store.ack(&b, &b_ids).unwrap(), 1);
    assert_eq!(store.ack(&b, &b_ids).unwrap(), 0, "acks are idempotent");
    assert_eq!(payloads(store, &c), vec![b"w".to_vec(), b"hello".to_vec()]);

    // Pages by count and by bytes; a byte budget smaller than one payload
    // still returns one envelope.
    for _ in 0..5 {
        store.send(&group, &a, &[0u8; 100], 6, 6 + DAY).unwrap();
    }
    let page = store.mailbox(&b, 0, 3, MAX_BYTES).unwrap();
    assert_eq!(page.envelopes.len(), 3);
    assert!(page.more);
    let last = page.envelopes.last().map(|e| e.id).unwrap_or(0);
    let rest = store.mailbox(&b, last, 3, MAX_BYTES).unwrap();
    assert_eq!((rest.envelopes.len(), rest.more), (2, false));
    let small = store.mailbox(&b, 0, 10, 50).unwrap();
    assert_eq!((small.envelopes.len(), small.more), (1, true));
    // Purging a mailbox removes its entries only.
    assert_eq!(store.purge_mailbox(&b).unwrap(), 5);
    assert!(payloads(store, &b).is_empty());
    assert_eq!(payloads(store, &c).len(), 7);
}

/// Expired messages, link codes and groups go with the sweep, and only
/// those.
pub fn sweep_and_expiry(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.as_ref();
    let (account, a) = store.create_account(&key(), 1).unwrap();
    let (_, b) = store.create_account(&key(), 1).unwrap();
    let group = GroupId([5; GroupId::LEN]);
    store.commit(commit(&group, &a, 0, &[b], Some(b"w"))).unwrap();
    store.send(&group, &a, b"old", 10, 500).unwrap();
    store.send(&group, &b, b"new", 10, 10 * DAY).unwrap();
    store.create_link_code(&[1; 32], &account, 400).unwrap();
    store.create_link_code(&[2; 32], &account, 10 * DAY).unwrap();

    let report = store.sweep(600).unwrap();
    assert_eq!(
        report,
        SweepReport { messages: 1, envelopes: 1, link_codes: 1, ..SweepReport::default() }
    );
    assert_eq!(payloads(store, &b), vec![b"w".to_vec()]);
    assert_eq!(store.sweep(600).unwrap(), SweepReport::default(), "a second sweep finds nothing");
    let b_ids = ids(store, &b);
    assert_eq!(store.sweep(2 * DAY).unwrap().messages, 1);
    assert_eq!(store.ack(&b, &b_ids).unwrap(), 0, "an ack after expiry finds nothing");
    assert_eq!(payloads(store, &a), vec![b"new".to_vec()]);
    assert_eq!(store.sweep(11 * DAY).unwrap().link_codes, 1);
    assert!(payloads(store, &a).is_empty());

    // A group whose expiry passed is deleted with everything queued for it.
    let short = GroupId([6; GroupId::LEN]);
    store.commit(commit(&short, &a, 0, &[b], Some(b"w"))).unwrap();
    assert_eq!(store.set_group_expiry(&short, &a, 12 * DAY, None).unwrap(), 12 * DAY);
    // An expiry can only be brought forward.
    assert_eq!(store.set_group_expiry(&short, &b, 20 * DAY, None).unwrap(), 12 * DAY);
    store.send(&short, &a, b"bye", 11 * DAY, 30 * DAY).unwrap();
    let report = store.sweep(13 * DAY).unwrap();
    assert_eq!(report.groups, 1);
    assert!(payloads(store, &b).is_empty(), "the group's envelopes went with it");
    assert!(matches!(
        store.send(&short, &a, b"x", 13 * DAY, 14 * DAY),
        Err(StoreError::UnknownGroup | StoreError::NotAMember)
    ));
}

/// After an account's deletion nothing of it is readable through the
/// store: devices, mailboxes, KeyPackages, link codes, export; the other
/// members keep their groups. And nothing of it is readable from the
/// backend's files either: no raw account or device id, and no KeyPackage
/// (which embeds the account id) in the clear, old segments included.
pub fn deletion_leaves_nothing_readable(backend: &dyn Backend) {
    let f = backend.fresh();
    let store = f.store.as_ref();
    let (gone, d1) = store.create_account(&key(), 1).unwrap();
    let (_, other) = store.create_account(&key(), 1).unwrap();
    // A KeyPackage embeds the raw account id (its MLS credential).
    let mut package = b"kp-of-".to_vec();
    package.extend_from_slice(gone.as_bytes());
    store.upload_key_packages(&d1, &[&package], Some(b"lr"), 5).unwrap();
    store.create_link_code(&[3; 32], &gone, 10 * DAY).unwrap();
    let group = GroupId([7; GroupId::LEN]);
    store.commit(commit(&group, &other, 0, &[d1], Some(b"w"))).unwrap();
    store.send(&group, &other, b"for d1", 5, 5 + DAY).unwrap();
    let alone = GroupId([8; GroupId::LEN]);
    store.commit(commit(&alone, &d1, 0, &[], None)).unwrap();
    assert!(store.account_export(&gone, 10).is_ok());

    let deletion = store.delete_account(&gone).unwrap();
    assert_eq!(deletion.devices, vec![d1]);
    assert_eq!(deletion.envelopes, 2);
    assert_eq!(deletion.key_packages, 2);
    assert!(store.device(&d1).unwrap().is_none());
    assert!(matches!(store.list_devices(&gone), Err(StoreError::UnknownAccount)));
    assert!(matches!(store.account_export(&gone, 10), Err(StoreError::UnknownAccount)));
    assert!(payloads(store, &d1).is_empty());
    assert_eq!(
        store.key_package_status(&d1).unwrap(),
        KeyPackageStatus { one_time: 0, last_resort: false }
    );
    assert!(matches!(
        store.redeem_link_code(&[3; 32], Some(&key()), 10),
        Err(StoreError::InvalidCode)
    ));
    assert!(matches!(store.delete_account(&gone), Err(StoreError::UnknownAccount)));
    // The other member stays in the group and sends to nobody now.
    assert!(store.send(&group, &other, b"anyone?", 6, 6 + DAY).unwrap().is_empty());
    // The group the deleted device was alone in is gone.
    assert!(matches!(
        store.send(&alone, &other, b"x", 6, 6 + DAY),
        Err(StoreError::UnknownGroup | StoreError::NotAMember)
    ));
    store.flush().unwrap();
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    for bytes in backend.persisted_bytes(f) {
        assert!(!contains(&bytes, gone.as_bytes()), "raw account id persisted");
        assert!(!contains(&bytes, d1.as_bytes()), "raw device id persisted");
        assert!(!contains(&bytes, &package), "a KeyPackage of the account persisted readable");
    }
}

/// A backup restored into a new store holds the same accounts, devices,
/// KeyPackages, groups and queued envelopes.
pub fn backup_round_trip(backend: &dyn Backend) {
    let f = backend.fresh();
    let (account, a) = f.store.create_account(&key(), 1).unwrap();
    let (_, b) = f.store.create_account(&key(), 1).unwrap();
    f.store.upload_key_packages(&b, &[b"kp"], Some(b"lr"), 5).unwrap();
    let group = GroupId([9; GroupId::LEN]);
    f.store.commit(commit(&group, &a, 0, &[b], Some(b"w"))).unwrap();
    f.store.send(&group, &a, b"queued", 5, 5 + DAY).unwrap();
    f.store.flush().unwrap();
    let before = f.store.mailbox(&b, 0, 100, MAX_BYTES).unwrap();

    let r = backend.backup_and_restore(f);
    let store = r.store.as_ref();
    assert_eq!(store.list_devices(&account).unwrap().len(), 1);
    assert_eq!(store.device(&a).unwrap().map(|d| d.account), Some(account));
    assert_eq!(store.mailbox(&b, 0, 100, MAX_BYTES).unwrap(), before);
    assert_eq!(
        store.key_package_status(&b).unwrap(),
        KeyPackageStatus { one_time: 1, last_resort: true }
    );
    // The group continues at its epoch.
    assert!(matches!(
        store.commit(commit(&group, &a, 0, &[], None)),
        Err(StoreError::StaleEpoch { current: 1 })
    ));
    assert_eq!(store.send(&group, &a, b"after", 6, 6 + DAY).unwrap(), vec![b]);
    let later = ids(store, &b);
    assert!(later.last() > before.envelopes.last().map(|e| &e.id), "ids are never reused");
}
