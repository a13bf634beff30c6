//! The [`Storage`] conformance suite: the same checks for every backend
//! (memory here, files in client-cli, IndexedDB in the web app).
//!
//! A backend's test calls [`run_all`] with an `open` closure: `open(n)`
//! returns a handle on store number `n`, creating it empty on the first call
//! and opening the same store again on later calls (a persistent backend
//! reopens it from its medium; a handle dropped before is gone, as after a
//! process exit). Two handles of one store may be open at once, as two
//! processes or two tabs would be. Every check uses its own store numbers.
//!
//! The checks panic with a message naming the property that failed.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{
    Batch, BlobKey, HolderId, Lease, MAX_KEY_LEN, MAX_VALUE_LEN, Scan, Space, Storage, StorageError,
};

/// Runs a future to completion on this thread (storage futures of native
/// backends never wait on anything else; no executor crate needed).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Every check, in turn.
pub async fn run_all<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    empty_store(open).await;
    put_overwrite_delete(open).await;
    scan_order_and_bounds(open).await;
    failed_commit_changes_nothing(open).await;
    reopen_keeps_everything(open).await;
    many_commits_survive_reopen(open).await;
    chunks(open).await;
    lease_excludes_and_fences(open).await;
    lease_renew_and_release(open).await;
    handles_see_each_others_commits(open).await;
}

/// A lease on a fresh store (time 0, long expiry).
async fn lease<S: Storage>(store: &S, holder: &str) -> Lease {
    store.acquire_lease(&HolderId::new(holder).unwrap(), 0, 1_000_000).await.expect("acquire")
}

fn key(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// A fresh store reads nothing.
pub async fn empty_store<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(100);
    assert_eq!(store.get(Space::History, b"k").await.unwrap(), None, "empty: get");
    for space in Space::ALL {
        assert!(store.scan(space, &Scan::all()).await.unwrap().is_empty(), "empty: scan");
    }
    assert_eq!(store.get_chunk(BlobKey([1; 16]), 0).await.unwrap(), None, "empty: chunk");
    assert!(store.chunk_indexes(BlobKey([1; 16])).await.unwrap().is_empty(), "empty: chunks");
}

/// Puts insert and overwrite, deletes remove (a missing key is fine),
/// operations of one batch apply in order, spaces are separate.
pub async fn put_overwrite_delete<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(200);
    let lease = lease(&store, "a").await;
    let mut batch = Batch::new();
    batch.put(Space::History, b"k".to_vec(), b"one".to_vec());
    batch.put(Space::Outbox, b"k".to_vec(), b"other space".to_vec());
    batch.put(Space::History, b"gone".to_vec(), b"x".to_vec());
    batch.delete(Space::History, b"gone".to_vec());
    batch.delete(Space::History, b"never there".to_vec());
    batch.delete(Space::History, b"back".to_vec());
    batch.put(Space::History, b"back".to_vec(), b"again".to_vec());
    batch.put(Space::History, b"empty".to_vec(), Vec::new());
    store.commit(&lease, batch).await.unwrap();
    let get = |k: &'static [u8]| store.get(Space::History, k);
    assert_eq!(get(b"k").await.unwrap().as_deref(), Some(&b"one"[..]), "put");
    assert_eq!(get(b"gone").await.unwrap(), None, "put then delete in one batch");
    assert_eq!(get(b"back").await.unwrap().as_deref(), Some(&b"again"[..]), "delete then put");
    assert_eq!(get(b"empty").await.unwrap().as_deref(), Some(&b""[..]), "empty value is a value");
    assert_eq!(
        store.get(Space::Outbox, b"k").await.unwrap().as_deref(),
        Some(&b"other space"[..]),
        "spaces are separate"
    );

    let mut batch = Batch::new();
    batch.put(Space::History, b"k".to_vec(), b"two".to_vec());
    batch.delete(Space::Outbox, b"k".to_vec());
    store.commit(&lease, batch).await.unwrap();
    assert_eq!(get(b"k").await.unwrap().as_deref(), Some(&b"two"[..]), "overwrite");
    assert_eq!(store.get(Space::Outbox, b"k").await.unwrap(), None, "delete");

    let mut batch = Batch::new();
    for n in 0..5 {
        batch.put(Space::Threads, [b"t1/".as_slice(), &key(n)].concat(), vec![1]);
        batch.put(Space::Threads, [b"t2/".as_slice(), &key(n)].concat(), vec![2]);
    }
    store.commit(&lease, batch).await.unwrap();
    let mut batch = Batch::new();
    batch.delete_prefix(Space::Threads, b"t1/".to_vec());
    store.commit(&lease, batch).await.unwrap();
    let left = store.scan(Space::Threads, &Scan::all()).await.unwrap();
    assert_eq!(left.len(), 5, "delete_prefix removes exactly its prefix");
    assert!(left.iter().all(|(k, _)| k.starts_with(b"t2/")), "delete_prefix keeps the rest");

    // An erasing batch applies like any other.
    let mut batch = Batch::new();
    batch.delete(Space::Threads, [b"t2/".as_slice(), &key(0)].concat());
    batch.put(Space::Threads, b"t3".to_vec(), b"after erase".to_vec());
    batch.erase_deleted();
    store.commit(&lease, batch).await.unwrap();
    assert_eq!(store.scan(Space::Threads, &Scan::all()).await.unwrap().len(), 5, "erase batch");
    let mut batch = Batch::new();
    batch.delete(Space::Threads, b"t3".to_vec());
    batch.put(Space::Threads, [b"t2/".as_slice(), &key(0)].concat(), vec![2]);
    store.commit(&lease, batch).await.unwrap();

    // An empty batch is fine and changes nothing.
    store.commit(&lease, Batch::new()).await.unwrap();
    assert_eq!(store.scan(Space::Threads, &Scan::all()).await.unwrap().len(), 5, "empty batch");
}

/// Scans return keys in bytewise order (or reversed), within prefix and
/// range bounds, limited, and page with `after`/`before`.
pub async fn scan_order_and_bounds<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(300);
    let lease = lease(&store, "a").await;
    let mut batch = Batch::new();
    // Inserted out of order, including keys that sort around 0x00 and 0xff.
    for n in [7u32, 3, 255, 256, 0, 65_536, 12, 1] {
        batch.put(Space::History, key(n), n.to_le_bytes().to_vec());
    }
    batch.put(Space::History, vec![0xff, 0xff, 0xff, 0xff, 0xff], b"max".to_vec());
    batch.put(Space::History, Vec::new(), b"empty key".to_vec());
    batch.put(Space::Outbox, key(5), b"not history".to_vec());
    store.commit(&lease, batch).await.unwrap();

    let keys = |records: Vec<(Vec<u8>, Vec<u8>)>| records.into_iter().map(|(k, _)| k).collect();
    let all: Vec<Vec<u8>> = keys(store.scan(Space::History, &Scan::all()).await.unwrap());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "scan is in bytewise key order");
    assert_eq!(all.len(), 10, "scan sees every record of its space only");
    assert_eq!(all[0], Vec::<u8>::new(), "the empty key sorts first");

    let rev: Vec<Vec<u8>> = keys(store.scan(Space::History, &Scan::all().reverse()).await.unwrap());
    let mut expected = all.clone();
    expected.reverse();
    assert_eq!(rev, expected, "reverse scan");

    let prefix: Vec<Vec<u8>> =
        keys(store.scan(Space::History, &Scan::prefix(vec![0, 0, 0])).await.unwrap());
    assert_eq!(prefix, vec![key(0), key(1), key(3), key(7), key(12), key(255)], "prefix scan");
    let ff: Vec<Vec<u8>> =
        keys(store.scan(Space::History, &Scan::prefix(vec![0xff])).await.unwrap());
    assert_eq!(ff, vec![vec![0xff; 5]], "prefix of 0xff has no upper bound");

    let range: Vec<Vec<u8>> =
        keys(store.scan(Space::History, &Scan::range(key(3), key(256))).await.unwrap());
    assert_eq!(range, vec![key(3), key(7), key(12), key(255)], "range: lower in, upper out");
    assert!(
        store.scan(Space::History, &Scan::range(key(9), key(2))).await.unwrap().is_empty(),
        "inverted range is empty"
    );

    // Pagination, newest first, three at a time.
    let page = Scan::prefix(vec![0, 0]).reverse().limit(3);
    let first: Vec<Vec<u8>> = keys(store.scan(Space::History, &page).await.unwrap());
    assert_eq!(first, vec![key(256), key(255), key(12)], "first page");
    let second: Vec<Vec<u8>> =
        keys(store.scan(Space::History, &page.clone().before(key(12))).await.unwrap());
    assert_eq!(second, vec![key(7), key(3), key(1)], "second page");
    let forward = Scan::prefix(vec![0, 0]).limit(2).after(key(3));
    let next: Vec<Vec<u8>> = keys(store.scan(Space::History, &forward).await.unwrap());
    assert_eq!(next, vec![key(7), key(12)], "forward page after a key");
    assert!(store.scan(Space::History, &Scan::all().limit(0)).await.unwrap().is_empty(), "limit 0");
    let values = store.scan(Space::History, &Scan::range(key(7), key(8))).await.unwrap();
    assert_eq!(values, vec![(key(7), 7u32.to_le_bytes().to_vec())], "scan returns values");
}

/// A refused commit (fenced lease, limits) applies none of its batch.
pub async fn failed_commit_changes_nothing<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(400);
    let lease = lease(&store, "a").await;
    let mut batch = Batch::new();
    batch.put(Space::History, key(1), b"kept".to_vec());
    store.commit(&lease, batch).await.unwrap();

    let mut too_large = Batch::new();
    too_large.put(Space::History, key(1), b"changed".to_vec());
    too_large.put(Space::History, key(2), b"new".to_vec());
    too_large.put(Space::History, vec![0; MAX_KEY_LEN + 1], b"x".to_vec());
    let err = store.commit(&lease, too_large).await.unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { .. }), "oversized key: {err:?}");
    let mut huge = Batch::new();
    huge.put(Space::History, key(3), vec![0; MAX_VALUE_LEN + 1]);
    let err = store.commit(&lease, huge).await.unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { .. }), "oversized value: {err:?}");

    let forged = Lease { token: lease.token + 1000, ..lease.clone() };
    let mut batch = Batch::new();
    batch.put(Space::History, key(1), b"forged".to_vec());
    let err = store.commit(&forged, batch).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseLost), "unknown token is refused: {err:?}");

    let all = store.scan(Space::History, &Scan::all()).await.unwrap();
    assert_eq!(all, vec![(key(1), b"kept".to_vec())], "failed commits changed nothing");
    drop(store);
    let store = open(400);
    let all = store.scan(Space::History, &Scan::all()).await.unwrap();
    assert_eq!(all, vec![(key(1), b"kept".to_vec())], "nor after a reopen");
}

/// Records, chunks and the lease's token survive closing and reopening.
pub async fn reopen_keeps_everything<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(500);
    let lease = lease(&store, "a").await;
    let mut batch = Batch::new();
    batch.put(Space::Mls, b"key".to_vec(), b"value".to_vec());
    batch.put(Space::Account, b"me".to_vec(), vec![0xab; 300]);
    store.commit(&lease, batch).await.unwrap();
    store.put_chunk(&lease, BlobKey([5; 16]), 2, b"chunk two").await.unwrap();
    let mut batch = Batch::new();
    batch.delete(Space::Account, b"me".to_vec());
    batch.put(Space::Account, b"you".to_vec(), b"v".to_vec());
    store.commit(&lease, batch).await.unwrap();
    let token = lease.token;
    // Dropped without releasing, as when a process is killed.
    drop(store);

    let store = open(500);
    assert_eq!(store.get(Space::Mls, b"key").await.unwrap().as_deref(), Some(&b"value"[..]));
    assert_eq!(store.get(Space::Account, b"me").await.unwrap(), None, "delete survives reopen");
    assert_eq!(store.get(Space::Account, b"you").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        store.get_chunk(BlobKey([5; 16]), 2).await.unwrap().as_deref(),
        Some(&b"chunk two"[..]),
        "chunks survive reopen"
    );
    // After the old lease expired, a new one has a larger token and the old
    // one stays fenced.
    let later = store
        .acquire_lease(&HolderId::new("b").unwrap(), 2_000_000, 1000)
        .await
        .expect("acquire after expiry");
    assert!(later.token > token, "tokens grow across reopen");
    let mut batch = Batch::new();
    batch.put(Space::Mls, b"key".to_vec(), b"stale".to_vec());
    assert!(matches!(store.commit(&lease, batch).await, Err(StorageError::LeaseLost)));
}

/// Many small commits (enough to make a journal compact) all survive.
pub async fn many_commits_survive_reopen<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(600);
    let lease = lease(&store, "a").await;
    for n in 0..400u32 {
        let mut batch = Batch::new();
        batch.put(Space::History, key(n), vec![(n % 251) as u8; (n % 97) as usize]);
        if n % 3 == 0 && n > 0 {
            batch.delete(Space::History, key(n - 1));
        }
        batch.put(Space::Account, b"counter".to_vec(), key(n));
        store.commit(&lease, batch).await.unwrap();
    }
    let expect = |n: u32| n % 3 != 2 || n == 399;
    let check = |records: Vec<(Vec<u8>, Vec<u8>)>| {
        let want: Vec<(Vec<u8>, Vec<u8>)> = (0..400u32)
            .filter(|n| expect(*n))
            .map(|n| (key(n), vec![(n % 251) as u8; (n % 97) as usize]))
            .collect();
        assert_eq!(records, want, "every acknowledged commit is there, in order");
    };
    check(store.scan(Space::History, &Scan::all()).await.unwrap());
    drop(store);
    let store = open(600);
    check(store.scan(Space::History, &Scan::all()).await.unwrap());
    assert_eq!(store.get(Space::Account, b"counter").await.unwrap(), Some(key(399)));
}

/// Chunks: put, overwrite, list, remove one or all; fenced like commits.
pub async fn chunks<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let store = open(700);
    let lease = lease(&store, "a").await;
    let blob = BlobKey([7; 16]);
    let other = BlobKey([8; 16]);
    for index in [3u32, 0, 1, u32::MAX] {
        store.put_chunk(&lease, blob, index, &index.to_le_bytes()).await.unwrap();
    }
    store.put_chunk(&lease, other, 0, b"other").await.unwrap();
    store.put_chunk(&lease, blob, 1, b"rewritten").await.unwrap();
    store.put_chunk(&lease, blob, 5, b"").await.unwrap();
    assert_eq!(store.chunk_indexes(blob).await.unwrap(), vec![0, 1, 3, 5, u32::MAX], "indexes");
    assert_eq!(store.get_chunk(blob, 1).await.unwrap().as_deref(), Some(&b"rewritten"[..]));
    assert_eq!(store.get_chunk(blob, 5).await.unwrap().as_deref(), Some(&b""[..]), "empty chunk");
    assert_eq!(store.get_chunk(blob, 2).await.unwrap(), None, "missing chunk");
    store.remove_chunk(&lease, blob, 3).await.unwrap();
    store.remove_chunk(&lease, blob, 4).await.unwrap();
    assert_eq!(store.chunk_indexes(blob).await.unwrap(), vec![0, 1, 5, u32::MAX], "remove one");
    let big = vec![0u8; MAX_VALUE_LEN + 1];
    assert!(matches!(
        store.put_chunk(&lease, blob, 9, &big).await,
        Err(StorageError::TooLarge { .. })
    ));
    let stale = Lease { token: lease.token + 1, ..lease.clone() };
    assert!(matches!(store.put_chunk(&stale, blob, 9, b"x").await, Err(StorageError::LeaseLost)));
    assert!(matches!(store.remove_chunks(&stale, blob).await, Err(StorageError::LeaseLost)));
    assert_eq!(store.chunk_indexes(blob).await.unwrap().len(), 4, "refused writes changed nothing");
    store.remove_chunks(&lease, blob).await.unwrap();
    assert!(store.chunk_indexes(blob).await.unwrap().is_empty(), "remove all");
    assert_eq!(store.get_chunk(other, 0).await.unwrap().as_deref(), Some(&b"other"[..]));
    drop(store);
    let store = open(700);
    assert!(store.chunk_indexes(blob).await.unwrap().is_empty(), "removal survives reopen");
    assert_eq!(store.chunk_indexes(other).await.unwrap(), vec![0]);
}

/// An unexpired lease keeps others out; after expiry another holder takes
/// it over and the old holder can no longer write (fencing).
pub async fn lease_excludes_and_fences<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let a = open(800);
    let b = open(800);
    let holder_a = HolderId::new("process-a").unwrap();
    let holder_b = HolderId::new("process-b").unwrap();
    let lease_a = a.acquire_lease(&holder_a, 1_000, 5_000).await.unwrap();
    assert_eq!(lease_a.expires_at, 6_000);
    assert_eq!(lease_a.holder, holder_a);
    let err = b.acquire_lease(&holder_b, 5_999, 5_000).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseHeld { expires_at: 6_000 }), "held: {err:?}");
    let err = a.acquire_lease(&holder_a, 2_000, 5_000).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseHeld { .. }), "held even for its holder: {err:?}");

    let mut batch = Batch::new();
    batch.put(Space::Outbox, key(1), b"from a".to_vec());
    a.commit(&lease_a, batch).await.unwrap();

    // A stalls past its expiry; B takes over.
    let lease_b = b.acquire_lease(&holder_b, 6_000, 5_000).await.unwrap();
    assert!(lease_b.token > lease_a.token, "takeover gets a larger token");
    let mut batch = Batch::new();
    batch.put(Space::Outbox, key(1), b"from a, late".to_vec());
    batch.put(Space::Outbox, key(2), b"from a, late".to_vec());
    let err = a.commit(&lease_a, batch).await.unwrap_err();
    assert!(matches!(err, StorageError::LeaseLost), "fenced commit: {err:?}");
    assert!(matches!(
        a.put_chunk(&lease_a, BlobKey([1; 16]), 0, b"x").await,
        Err(StorageError::LeaseLost)
    ));
    assert!(matches!(a.renew_lease(&lease_a, 6_001, 5_000).await, Err(StorageError::LeaseLost)));
    assert!(matches!(a.release_lease(&lease_a).await, Err(StorageError::LeaseLost)));

    let mut batch = Batch::new();
    batch.put(Space::Outbox, key(3), b"from b".to_vec());
    b.commit(&lease_b, batch).await.unwrap();
    let all = b.scan(Space::Outbox, &Scan::all()).await.unwrap();
    assert_eq!(
        all,
        vec![(key(1), b"from a".to_vec()), (key(3), b"from b".to_vec())],
        "the fenced commit left nothing"
    );
    drop(a);
    drop(b);
    let c = open(800);
    let all = c.scan(Space::Outbox, &Scan::all()).await.unwrap();
    assert_eq!(all.len(), 2, "nor after a reopen");
    let err = c.acquire_lease(&holder_a, 7_000, 1).await;
    // B's handle is closed: a backend may see that its holder is gone and
    // grant at once, or make A wait for B's expiry. Either way A's new lease
    // (if any) fences B.
    if let Ok(lease_c) = err {
        assert!(lease_c.token > lease_b.token);
    } else {
        assert!(matches!(err, Err(StorageError::LeaseHeld { expires_at: 11_000 })));
    }
}

/// Renewing extends a lease; releasing lets another holder in at once.
pub async fn lease_renew_and_release<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let a = open(900);
    let b = open(900);
    let holder_a = HolderId::new("tab a").unwrap();
    let holder_b = HolderId::new("tab b").unwrap();
    let lease = a.acquire_lease(&holder_a, 0, 100).await.unwrap();
    let renewed = a.renew_lease(&lease, 80, 100).await.unwrap();
    assert_eq!(renewed.expires_at, 180, "renew moves the expiry");
    assert_eq!(renewed.token, lease.token, "renew keeps the token");
    assert!(matches!(
        b.acquire_lease(&holder_b, 150, 100).await,
        Err(StorageError::LeaseHeld { expires_at: 180 })
    ));
    // Renewing an expired lease nobody took over is fine.
    let late = a.renew_lease(&renewed, 500, 100).await.unwrap();
    assert_eq!(late.expires_at, 600);
    let mut batch = Batch::new();
    batch.put(Space::Follows, b"x".to_vec(), b"1".to_vec());
    a.commit(&late, batch).await.unwrap();
    a.release_lease(&late).await.unwrap();
    let mut batch = Batch::new();
    batch.put(Space::Follows, b"y".to_vec(), b"1".to_vec());
    assert!(
        matches!(a.commit(&late, batch).await, Err(StorageError::LeaseLost)),
        "a released lease cannot write"
    );
    let lease_b = b.acquire_lease(&holder_b, 501, 100).await.unwrap();
    assert!(lease_b.token > late.token);
    assert!(matches!(a.release_lease(&late).await, Err(StorageError::LeaseLost)));
    // The holder id is checked too, not only the token.
    let impostor = Lease { holder: holder_a.clone(), ..lease_b.clone() };
    let mut batch = Batch::new();
    batch.put(Space::Follows, b"z".to_vec(), b"1".to_vec());
    assert!(matches!(b.commit(&impostor, batch).await, Err(StorageError::LeaseLost)));
}

/// What one handle committed, another sees once it holds the lease.
pub async fn handles_see_each_others_commits<S: Storage>(open: &mut impl FnMut(u32) -> S) {
    let a = open(1000);
    let b = open(1000);
    let holder_a = HolderId::new("a").unwrap();
    let holder_b = HolderId::new("b").unwrap();
    let lease_a = a.acquire_lease(&holder_a, 0, 100).await.unwrap();
    let mut batch = Batch::new();
    batch.put(Space::Groups, b"g".to_vec(), b"by a".to_vec());
    a.commit(&lease_a, batch).await.unwrap();
    a.put_chunk(&lease_a, BlobKey([2; 16]), 0, b"chunk by a").await.unwrap();
    a.release_lease(&lease_a).await.unwrap();

    let lease_b = b.acquire_lease(&holder_b, 1, 100).await.unwrap();
    assert_eq!(b.get(Space::Groups, b"g").await.unwrap().as_deref(), Some(&b"by a"[..]));
    assert_eq!(
        b.get_chunk(BlobKey([2; 16]), 0).await.unwrap().as_deref(),
        Some(&b"chunk by a"[..])
    );
    let mut batch = Batch::new();
    batch.put(Space::Groups, b"g".to_vec(), b"by b".to_vec());
    b.commit(&lease_b, batch).await.unwrap();
    b.release_lease(&lease_b).await.unwrap();

    let lease_a = a.acquire_lease(&holder_a, 2, 100).await.unwrap();
    assert_eq!(a.get(Space::Groups, b"g").await.unwrap().as_deref(), Some(&b"by b"[..]));
    let mut batch = Batch::new();
    batch.put(Space::Groups, b"h".to_vec(), b"by a again".to_vec());
    a.commit(&lease_a, batch).await.unwrap();
    drop(a);
    drop(b);
    let c = open(1000);
    assert_eq!(c.scan(Space::Groups, &Scan::all()).await.unwrap().len(), 2);
}
