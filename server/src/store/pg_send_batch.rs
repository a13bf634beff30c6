//! Group commit of sends on PostgreSQL: many senders' messages in one
//! transaction.
//!
//! Storing one message in its own transaction costs five round trips
//! (BEGIN, group row, mailbox locks, message and entries, COMMIT) and one
//! commit record, whatever its size; on a small host the relay then spends
//! its time on round trips and thread hand-offs, not on storing. So
//! [`Store::send`](super::Store::send) on PostgreSQL does not run a
//! transaction itself: it queues the send here and waits. One batcher
//! thread takes what is queued — up to `pg_send_batch_max_messages`
//! messages or `pg_send_batch_max_bytes` of payload, waiting at most
//! `pg_send_batch_delay_ms` after the first for more — and stores the whole
//! batch in ONE transaction of five statements whatever its size:
//!
//! 1. BEGIN;
//! 2. every group of the batch, `FOR SHARE` in sorted order (a commit of
//!    one of them waits, and is waited for: exactly one commit per epoch
//!    still holds, commits keep their own transaction with `FOR UPDATE`);
//! 3. the rules ([`rules::commit::send_recipients`]) decide each send on
//!    its own, in memory; then the mailbox locks of every recipient of the
//!    batch, in sorted order (as [`super::pg_store::enqueue`] does for one
//!    send), which also answers the recipients' device rows;
//! 4. one statement with arrays (`unnest`) for every message and mailbox
//!    entry of the batch, message ids taken after the locks;
//! 5. COMMIT.
//!
//! What a caller gets:
//!
//! * a refusal of the rules (unknown group, not a member) is that send's
//!   own answer: it stores nothing and does not touch the other sends of
//!   the batch;
//! * a storage failure (a lost connection, a timeout, contention) fails
//!   the whole transaction: every send of the batch gets a storage error and
//!   nothing of the batch is stored, so nobody is acknowledged;
//! * success means the batch's transaction committed (asynchronously, as
//!   every transaction of the store): the relay still acknowledges only
//!   after its group-commit flush (see the store's durability contract),
//!   which now covers many batches with one WAL fsync.
//!
//! Bounds: the queue holds `pg_send_queue` sends; when it is full a send
//! fails at once with [`StorageError::Unavailable`] (no ack). A batch holds
//! at most the message limit, and the byte limit plus one message. A caller
//! waits at most as long as for two pooled calls (the batch before its own,
//! then its own) plus the batch delay; a caller that stops waiting was
//! not acknowledged, and its message, should its batch still commit, is
//! one the client resends and de-duplicates (durability contract, item 5).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::Transaction;
use stadtbote_protocol::DeviceId;

use super::pg_pool::{Pool, PoolError, pg_error, prepared, wait_answer};
use super::pg_store::{LOCK_MAILBOXES, TxView, members_of, open_device_pairs, unbig};
use super::rules::{self, commit::GroupSnapshot};
use super::shred::Keyring;
use super::{StorageError, StoreError};

/// How sends are batched (config values, see
/// `deploy/stadtbote.example.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendBatchOptions {
    /// Messages in one transaction at most.
    pub max_messages: usize,
    /// Payload bytes in one transaction: no more sends are added once this
    /// is reached (so a batch holds at most this plus one message).
    pub max_bytes: usize,
    /// How long the batcher waits after a batch's first send for more
    /// (sends that arrive while a batch is stored join the next one anyway).
    pub max_delay: Duration,
    /// Sends waiting for a batch; beyond it a send fails at once.
    pub queue: usize,
}

impl Default for SendBatchOptions {
    fn default() -> Self {
        Self {
            max_messages: 256,
            max_bytes: 4 * 1024 * 1024,
            max_delay: Duration::from_millis(1),
            queue: 4096,
        }
    }
}

/// One send, as the batch stores it.
#[derive(Debug)]
pub(super) struct SendInput {
    /// The group's stored id (kgroup).
    pub kgroup: Vec<u8>,
    /// The sender's stored id (kdev).
    pub ksender: DeviceId,
    pub payload: Vec<u8>,
    pub now_ms: u64,
    pub expires_at_ms: u64,
}

type Answer = Result<Vec<DeviceId>, StoreError>;

struct Pending {
    input: SendInput,
    answer: SyncSender<Answer>,
}

/// The queue of sends and the thread that stores them in batches.
pub(super) struct SendBatcher {
    queue: Mutex<Option<SyncSender<Pending>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    wait: Duration,
}

impl std::fmt::Debug for SendBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatcher").finish_non_exhaustive()
    }
}

impl SendBatcher {
    /// Starts the batcher thread, which stores batches through `pool`.
    pub fn start(
        pool: Arc<Pool>,
        keyring: Arc<Keyring>,
        options: SendBatchOptions,
    ) -> Result<Self, StoreError> {
        let (queue, incoming) = std::sync::mpsc::sync_channel(options.queue.max(1));
        // A caller may wait for the batch before its own (the batcher
        // stores one at a time), then for its own to be collected and
        // stored: each pooled call is bounded by the pool's wait.
        let wait = pool.wait().saturating_mul(2).saturating_add(options.max_delay);
        let thread = std::thread::Builder::new()
            .name("pg-send-batch".into())
            .spawn(move || run(&pool, &keyring, &incoming, options))
            .map_err(|e| StorageError::Unavailable(PoolError::Connection(e.to_string()).into()))?;
        Ok(Self { queue: Mutex::new(Some(queue)), thread: Mutex::new(Some(thread)), wait })
    }

    /// Queues `input` and waits until its batch committed (or failed).
    pub fn send(&self, input: SendInput) -> Answer {
        let (answer, reply) = std::sync::mpsc::sync_channel(1);
        {
            let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queue.as_ref() else { return Err(closed()) };
            match queue.try_send(Pending { input, answer }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err(StorageError::Unavailable("the send queue is full".into()).into());
                }
                Err(TrySendError::Disconnected(_)) => return Err(closed()),
            }
        }
        match wait_answer(&reply, self.wait) {
            Ok(answer) => answer,
            Err(_) => Err(StorageError::Unavailable(PoolError::Timeout(self.wait).into()).into()),
        }
    }
}

impl Drop for SendBatcher {
    fn drop(&mut self) {
        // Closing the queue ends the thread after its current batch.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn closed() -> StoreError {
    StorageError::Unavailable(PoolError::Closed.into()).into()
}

/// The batcher thread: collect, store, answer; until the queue closes.
fn run(
    pool: &Pool,
    keyring: &Arc<Keyring>,
    incoming: &Receiver<Pending>,
    options: SendBatchOptions,
) {
    let max_messages = options.max_messages.max(1);
    while let Ok(first) = incoming.recv() {
        let mut bytes = first.input.payload.len();
        let mut batch = vec![first];
        let deadline = Instant::now() + options.max_delay;
        while batch.len() < max_messages && bytes < options.max_bytes {
            let next = match incoming.try_recv() {
                Ok(pending) => pending,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match incoming.recv_timeout(left) {
                        Ok(pending) => pending,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            bytes = bytes.saturating_add(next.input.payload.len());
            batch.push(next);
        }
        store(pool, keyring, batch);
    }
}

/// Stores one batch and answers each of its senders.
fn store(pool: &Pool, keyring: &Arc<Keyring>, batch: Vec<Pending>) {
    let (inputs, answers): (Vec<SendInput>, Vec<SyncSender<Answer>>) =
        batch.into_iter().map(|p| (p.input, p.answer)).unzip();
    let keyring = keyring.clone();
    let started = Instant::now();
    let count = inputs.len();
    let result = pool.tx(move |tx| batch_tx(tx, &keyring, &inputs));
    tracing::trace!(
        sends = count,
        micros = started.elapsed().as_micros() as u64,
        ok = result.is_ok(),
        "send batch"
    );
    match result {
        Ok(outcomes) => {
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                // A caller that gave up waiting is not an error.
                let _ = answer.send(outcome);
            }
        }
        Err(err) => {
            for answer in answers {
                let _ = answer.send(Err(same_failure(&err)));
            }
        }
    }
}

/// A storage failure of the whole batch, once for each of its senders
/// (the error itself is not `Clone`; its kind and text are kept).
fn same_failure(err: &StoreError) -> StoreError {
    match err {
        StoreError::Storage(StorageError::Contention) => StoreError::contention(),
        StoreError::Storage(StorageError::Full(e)) => {
            StorageError::Full(e.to_string().into()).into()
        }
        StoreError::Storage(StorageError::Corrupt(table)) => StoreError::corrupt(table),
        other => StorageError::Unavailable(other.to_string().into()).into(),
    }
}

/// The batch's transaction (see the module docs). Answers one outcome per
/// input, in order; `Err` (a storage failure) rolls the whole batch back.
pub(super) fn batch_tx(
    tx: &mut Transaction<'_>,
    keyring: &Keyring,
    inputs: &[SendInput],
) -> Result<Vec<Answer>, StoreError> {
    // 2. The batch's groups, locked shared in sorted order.
    let mut kgroups: Vec<&[u8]> = inputs.iter().map(|s| s.kgroup.as_slice()).collect();
    kgroups.sort_unstable();
    kgroups.dedup();
    let load = prepared(
        tx,
        "SELECT kgroup, epoch, members, EXISTS (SELECT 1 FROM kv WHERE tree = 'revoked') \
         FROM groups WHERE kgroup = ANY($1) ORDER BY kgroup FOR SHARE OF groups",
    )?;
    let rows = tx.query(&load, &[&kgroups]).map_err(pg_error)?;
    let any_revoked = rows.first().is_some_and(|r| r.get::<_, bool>(3));
    let mut groups: HashMap<Vec<u8>, GroupSnapshot> = HashMap::with_capacity(rows.len());
    for row in rows {
        let snapshot = GroupSnapshot { epoch: unbig(row.get(1)), members: members_of(row.get(2))? };
        groups.insert(row.get(0), snapshot);
    }

    // 3. Each send decided on its own; a storage failure fails them all.
    let mut plans: Vec<Result<Vec<DeviceId>, StoreError>> = Vec::with_capacity(inputs.len());
    {
        let view = TxView::knowing_revoked(tx, keyring, any_revoked);
        for input in inputs {
            let plan =
                rules::commit::send_recipients(&view, groups.get(&input.kgroup), &input.ksender);
            match plan {
                Err(e) if e.is_storage_failure() => return Err(e),
                Ok(mut to) => {
                    to.sort_unstable();
                    to.dedup();
                    plans.push(Ok(to));
                }
                Err(refusal) => plans.push(Err(refusal)),
            }
        }
    }
    let mut everyone: Vec<&[u8]> =
        plans.iter().flatten().flatten().map(|d| d.as_bytes().as_slice()).collect();
    everyone.sort_unstable();
    everyone.dedup();
    let mut raw: HashMap<Vec<u8>, DeviceId> = HashMap::new();
    if !everyone.is_empty() {
        let lock = prepared(tx, LOCK_MAILBOXES)?;
        let rows = tx.query(&lock, &[&everyone]).map_err(pg_error)?;
        raw = open_device_pairs(keyring, rows)?.into_iter().collect();
    }

    // 4. Every message and mailbox entry of the batch in one statement.
    let mut kgroup_of: Vec<&[u8]> = Vec::new();
    let mut payloads: Vec<&[u8]> = Vec::new();
    let mut stored_at: Vec<i64> = Vec::new();
    let mut expires_at: Vec<i64> = Vec::new();
    let mut entry_kdev: Vec<&[u8]> = Vec::new();
    let mut entry_message: Vec<i64> = Vec::new();
    for (input, plan) in inputs.iter().zip(&plans) {
        let Ok(to) = plan else { continue };
        if to.is_empty() {
            continue;
        }
        kgroup_of.push(&input.kgroup);
        payloads.push(&input.payload);
        stored_at.push(super::pg_store::big(input.now_ms));
        expires_at.push(super::pg_store::big(input.expires_at_ms));
        // The message's ordinal in the arrays above (1-based, as unnest's).
        let n = i64::try_from(kgroup_of.len()).unwrap_or(i64::MAX);
        for device in to {
            entry_kdev.push(device.as_bytes().as_slice());
            entry_message.push(n);
        }
    }
    if !kgroup_of.is_empty() {
        // The ids are taken in the order of the arrays, after the locks
        // above (a materialised CTE: nextval runs once per message).
        let insert = prepared(
            tx,
            "WITH input AS MATERIALIZED ( \
                 SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id, t.* \
                 FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]) \
                      WITH ORDINALITY AS t(kgroup, payload, stored_at, expires_at, n)), \
             m AS (INSERT INTO messages (id, kgroup, payload, stored_at, expires_at) \
                   SELECT id, kgroup, payload, stored_at, expires_at FROM input ORDER BY n) \
             INSERT INTO mailbox (kdev, message) \
             SELECT e.kdev, input.id FROM unnest($5::bytea[], $6::bigint[]) AS e(kdev, n) \
             JOIN input ON input.n = e.n",
        )?;
        tx.execute(
            &insert,
            &[&kgroup_of, &payloads, &stored_at, &expires_at, &entry_kdev, &entry_message],
        )
        .map_err(pg_error)?;
    }

    // Each send's answer: its recipients' raw ids (those that still exist),
    // sorted, as a single send answers them.
    Ok(plans
        .into_iter()
        .map(|plan| {
            plan.map(|to| {
                let mut out: Vec<DeviceId> =
                    to.iter().filter_map(|d| raw.get(d.as_bytes().as_slice()).copied()).collect();
                out.sort_unstable();
                out
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::{DeviceId, GroupId};

    use super::{SendInput, batch_tx};
    use crate::store::conformance::commit;
    use crate::store::pg_conformance::{cluster, options};
    use crate::store::pg_test::TestPg;
    use crate::store::{PgStore, Store, StoreError};

    const DAY: u64 = 86_400_000;

    fn device(store: &PgStore) -> DeviceId {
        store.create_account(&DeviceSecret::generate().identity_key(), 1).expect("account").1
    }

    fn payloads(store: &PgStore, device: &DeviceId) -> Vec<Vec<u8>> {
        let page = store.mailbox(device, 0, 1000, 1 << 24).expect("mailbox");
        page.envelopes.iter().map(|e| e.payload.to_vec()).collect()
    }

    /// Two members and a stranger; the first two in a group.
    fn group_of_two(store: &PgStore, group: &GroupId) -> (DeviceId, DeviceId, DeviceId) {
        let (a, b, stranger) = (device(store), device(store), device(store));
        store.commit(commit(group, &a, 0, &[b], Some(b"w"))).expect("group");
        (a, b, stranger)
    }

    /// One batch, four sends: a refusal of the rules is that send's own
    /// answer; the others of the same transaction are stored and answered.
    #[test]
    fn a_refused_send_in_a_batch_leaves_the_others_stored() {
        let Some(pg) = cluster() else { return };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PgStore::open(&options(pg.create_database()), dir.path()).expect("store");
        let group = GroupId([7; GroupId::LEN]);
        let unknown = GroupId([8; GroupId::LEN]);
        let (a, b, stranger) = group_of_two(&store, &group);
        let input = |group: &GroupId, sender: &DeviceId, payload: &[u8]| SendInput {
            kgroup: store.keyring.group(group).as_bytes().to_vec(),
            ksender: store.keyring.device(sender),
            payload: payload.to_vec(),
            now_ms: 1000,
            expires_at_ms: 1000 + DAY,
        };
        let inputs = vec![
            input(&group, &a, b"one"),
            input(&group, &stranger, b"intruder"),
            input(&unknown, &a, b"nowhere"),
            input(&group, &a, b"two"),
        ];
        let keyring = store.keyring.clone();
        let outcomes = store.pool.tx(move |tx| batch_tx(tx, &keyring, &inputs)).expect("batch");
        assert_eq!(outcomes.len(), 4);
        assert_eq!(outcomes[0].as_ref().ok(), Some(&vec![b]));
        assert!(matches!(outcomes[1], Err(StoreError::NotAMember)), "{:?}", outcomes[1]);
        assert!(matches!(outcomes[2], Err(StoreError::UnknownGroup)), "{:?}", outcomes[2]);
        assert_eq!(outcomes[3].as_ref().ok(), Some(&vec![b]));
        assert_eq!(payloads(&store, &b), [b"w".to_vec(), b"one".to_vec(), b"two".to_vec()]);
        assert!(payloads(&store, &stranger).is_empty());
        assert!(payloads(&store, &a).is_empty(), "a sender is not queued its own message");
    }

    /// Many senders at once through `Store::send` (so through the batcher):
    /// every send is answered, every message is queued once, and each
    /// sender's messages keep their order in the recipient's mailbox.
    #[test]
    fn concurrent_senders_are_all_stored_once_and_in_order() {
        let Some(pg) = cluster() else { return };
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Arc::new(PgStore::open(&options(pg.create_database()), dir.path()).expect("store"));
        let group = GroupId([9; GroupId::LEN]);
        let reader = device(&store);
        let senders: Vec<DeviceId> = (0..8).map(|_| device(&store)).collect();
        store.commit(commit(&group, &reader, 0, &senders, Some(b"w"))).expect("group");
        let threads: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(n, sender)| {
                let (store, sender) = (store.clone(), *sender);
                std::thread::spawn(move || {
                    for i in 0..40u32 {
                        let payload = format!("{n}:{i}");
                        let to = store
                            .send(&group, &sender, payload.as_bytes(), 1000, 1000 + DAY)
                            .expect("stored");
                        assert!(to.contains(&reader));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("sender thread");
        }
        let got: Vec<String> = payloads(&store, &reader)
            .into_iter()
            .filter(|p| p != b"w")
            .map(|p| String::from_utf8(p).expect("text"))
            .collect();
        assert_eq!(got.len(), 8 * 40, "every message once");
        for n in 0..8 {
            let mine: Vec<u32> = got
                .iter()
                .filter_map(|p| p.split_once(':').filter(|(s, _)| *s == n.to_string()))
                .map(|(_, i)| i.parse().expect("index"))
                .collect();
            assert_eq!(mine, (0..40).collect::<Vec<_>>(), "sender {n}'s order");
        }
    }

    /// With the database gone, every send of a batch gets a storage error
    /// (so nobody is acknowledged) and none of them is stored; the batcher
    /// stores again once the database is back.
    #[test]
    fn a_failed_batch_answers_every_sender_with_a_storage_error() {
        let Some(_) = crate::store::pg_test::pg_bin_dir() else {
            let _ = TestPg::start();
            return;
        };
        let Some(pg) = TestPg::start() else { return };
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Arc::new(PgStore::open(&options(pg.create_database()), dir.path()).expect("store"));
        let group = GroupId([10; GroupId::LEN]);
        let (a, b, _) = group_of_two(&store, &group);
        store.flush().expect("flush");
        pg.stop_server();
        let threads: Vec<_> = (0..6)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.send(&group, &a, format!("lost {n}").as_bytes(), 1000, 1000 + DAY)
                })
            })
            .collect();
        for thread in threads {
            let err = thread.join().expect("sender thread").expect_err("no database, no store");
            assert!(err.is_storage_failure(), "{err:?}");
        }
        pg.start_server();
        let mut stored = false;
        for _ in 0..100 {
            if store.send(&group, &a, b"after", 1000, 1000 + DAY).is_ok() {
                stored = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(stored, "sends are stored again once the database is back");
        // Other pooled connections were cut by the restart too: each one's
        // first use answers `Unavailable` (and is then replaced), so the
        // read is retried like the send above.
        let mut read = None;
        for _ in 0..100 {
            match store.mailbox(&b, 0, 1000, 1 << 24) {
                Ok(page) => {
                    read =
                        Some(page.envelopes.iter().map(|e| e.payload.to_vec()).collect::<Vec<_>>());
                    break;
                }
                Err(err) => {
                    assert!(err.is_storage_failure(), "{err:?}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        assert_eq!(
            read.expect("the mailbox is readable again"),
            [b"w".to_vec(), b"after".to_vec()]
        );
    }
}
