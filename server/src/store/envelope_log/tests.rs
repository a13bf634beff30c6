//! Unit tests of the envelope log: replay equals the state before a
//! restart, crashes cut only torn frames, numbers are never reused, and
//! compaction deletes dead bytes without losing or reviving envelopes.

use super::*;

fn device(n: u8) -> DeviceId {
    DeviceId([n; DeviceId::LEN])
}

const GROUP: GroupId = GroupId([9; GroupId::LEN]);

fn small() -> LogOptions {
    LogOptions {
        segment_bytes: 4096,
        segment_max_age: Duration::from_secs(3600),
        compact_bytes_per_sync: 1 << 20,
    }
}

fn open(dir: &Path, options: LogOptions) -> EnvelopeLog {
    EnvelopeLog::open(dir, options, 1).unwrap().log
}

fn put(log: &EnvelopeLog, payload: &[u8], to: &[DeviceId]) -> u64 {
    let e = NewEnvelope { group: &GROUP, payload, recipients: to, stored_at: 10, expires_at: 1000 };
    log.append(&[e], None).unwrap()[0]
}

fn ids(log: &EnvelopeLog, d: &DeviceId) -> Vec<u64> {
    log.page(d, 0, 1000, usize::MAX).unwrap().envelopes.iter().map(|e| e.id).collect()
}

fn payloads(log: &EnvelopeLog, d: &DeviceId) -> Vec<Vec<u8>> {
    log.page(d, 0, 1000, usize::MAX).unwrap().envelopes.iter().map(|e| e.payload.to_vec()).collect()
}

/// The number of segment files, waiting up to two seconds for the unlinker
/// thread to bring it down to `at_most`.
fn segments_on_disk(dir: &Path, at_most: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let count = list_segments(dir).unwrap().len();
        if count <= at_most || std::time::Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Syncs and reports a sled flush, as the store's flush does.
fn flush(log: &EnvelopeLog) {
    let token = log.sync().unwrap();
    log.sled_flushed(token);
}

#[test]
fn append_page_ack_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (device(1), device(2));
    {
        let log = open(dir.path(), LogOptions::default());
        let one = put(&log, b"one", &[a, b]);
        let two = put(&log, b"two", &[a]);
        assert_eq!((one, two), (1, 2));
        assert_eq!(payloads(&log, &a), [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(log.ack(&a, &[one, 77]).unwrap(), 1);
        assert_eq!(log.ack(&a, &[one]).unwrap(), 0, "a second ack removes nothing");
        assert_eq!(ids(&log, &a), [two]);
        assert_eq!(ids(&log, &b), [one]);
        let page = log.page(&a, 0, 1, usize::MAX).unwrap();
        assert!(!page.more);
        log.sync().unwrap();
    }
    let log = open(dir.path(), LogOptions::default());
    assert_eq!(ids(&log, &a), [2]);
    assert_eq!(payloads(&log, &b), [b"one".to_vec()]);
    assert_eq!(log.totals(), Totals { messages: 2, envelopes: 2, bytes: 6 });
    assert_eq!(put(&log, b"three", &[a]), 3, "numbers continue after a restart");
}

#[test]
fn pages_respect_count_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogOptions::default());
    let a = device(1);
    for _ in 0..5 {
        put(&log, &[7; 100], &[a]);
    }
    let page = log.page(&a, 0, 2, usize::MAX).unwrap();
    assert_eq!((page.envelopes.len(), page.more), (2, true));
    let page = log.page(&a, 2, 10, 250).unwrap();
    assert_eq!(page.envelopes.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
    assert!(page.more);
    // The first envelope is always handed out, even above the byte budget.
    let page = log.page(&a, 0, 10, 10).unwrap();
    assert_eq!((page.envelopes.len(), page.more), (1, true));
    assert!(log.page(&a, 5, 10, 1000).unwrap().envelopes.is_empty());
}

#[test]
fn a_torn_tail_is_cut_and_later_appends_survive() {
    let dir = tempfile::tempdir().unwrap();
    let a = device(1);
    {
        let log = open(dir.path(), LogOptions::default());
        put(&log, b"kept", &[a]);
        log.sync().unwrap();
    }
    let path = segment_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let whole = std::fs::metadata(&path).unwrap().len();
    // Half a frame, as a crash during an append leaves it.
    let mut frame = Vec::new();
    let start = record::begin_frame(&mut frame);
    record::encode_drop(&mut frame, &[1]);
    record::end_frame(&mut frame, start);
    let file = OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, &frame[..frame.len() / 2]).unwrap();
    drop(file);
    {
        let log = open(dir.path(), LogOptions::default());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole, "torn frame cut off");
        assert_eq!(payloads(&log, &a), [b"kept".to_vec()]);
        put(&log, b"after", &[a]);
        log.sync().unwrap();
    }
    let log = open(dir.path(), LogOptions::default());
    assert_eq!(payloads(&log, &a), [b"kept".to_vec(), b"after".to_vec()]);
}

#[test]
fn damage_in_the_middle_of_the_newest_segment_is_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), LogOptions::default());
        put(&log, b"first", &[device(1)]);
        put(&log, b"second", &[device(1)]);
        log.sync().unwrap();
    }
    let path = segment_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    // A flipped bit in the first frame's payload; the second frame is whole.
    bytes[record::HEADER_LEN + 60] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        EnvelopeLog::open(dir.path(), LogOptions::default(), 1).err(),
        Some(StoreError::Storage(crate::store::StorageError::Corrupt(_)))
    ));
    // Zeros after the last frame (blocks allocated, never written) are a
    // torn tail and are cut.
    bytes[record::HEADER_LEN + 60] ^= 1;
    bytes.extend([0u8; 300]);
    std::fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), LogOptions::default());
    assert_eq!(ids(&log, &device(1)), [1, 2]);
}

#[test]
fn damage_in_a_sealed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small());
        for _ in 0..8 {
            put(&log, &[1; 1000], &[device(1)]);
        }
        log.sync().unwrap();
        put(&log, b"x", &[device(1)]);
        log.sync().unwrap();
    }
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() >= 2);
    let path = segment_path(dir.path(), segments[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[record::HEADER_LEN + record::FRAME_LEN + 3] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        EnvelopeLog::open(dir.path(), small(), 1).err(),
        Some(StoreError::Storage(crate::store::StorageError::Corrupt(_)))
    ));
}

#[test]
fn numbers_are_never_reused_after_everything_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let a = device(1);
    {
        let log = open(dir.path(), small());
        for _ in 0..20 {
            let seq = put(&log, &[3; 500], &[a]);
            log.ack(&a, &[seq]).unwrap();
            flush(&log);
        }
        flush(&log);
        flush(&log);
        assert_eq!(log.last_seq(), 20);
        assert!(segments_on_disk(dir.path(), 2) <= 2, "dead segments deleted");
    }
    let log = open(dir.path(), small());
    assert_eq!(put(&log, b"new", &[a]), 21);
    // The floor from the store counts too (numbers of earlier releases).
    let dir = tempfile::tempdir().unwrap();
    let log = EnvelopeLog::open(dir.path(), small(), 500).unwrap().log;
    assert_eq!(put(&log, b"new", &[a]), 500);
}

#[test]
fn compaction_moves_live_envelopes_and_deletes_dead_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (device(1), device(2));
    let keep;
    {
        let log = open(dir.path(), small());
        // One envelope that b never fetches, then traffic a acknowledges.
        keep = put(&log, b"for b, long offline", &[a, b]);
        log.ack(&a, &[keep]).unwrap();
        for _ in 0..60 {
            let seq = put(&log, &[5; 400], &[a]);
            log.ack(&a, &[seq]).unwrap();
            flush(&log);
        }
        for _ in 0..4 {
            flush(&log);
        }
        let segments = segments_on_disk(dir.path(), 3);
        assert!(segments <= 3, "old segments deleted: {segments}");
        assert!(log.disk_bytes() < 3 * 4096 + 1000, "disk: {}", log.disk_bytes());
        assert_eq!(payloads(&log, &b), [b"for b, long offline".to_vec()]);
        assert!(ids(&log, &a).is_empty());
    }
    let log = open(dir.path(), small());
    assert_eq!(ids(&log, &b), [keep], "the copy survives a restart");
    assert!(ids(&log, &a).is_empty(), "acknowledged envelopes stay deleted");
    assert_eq!(log.totals(), Totals { messages: 1, envelopes: 1, bytes: 19 });
}

#[test]
fn segments_are_kept_until_sled_flushed_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = device(1);
    let log = open(dir.path(), small());
    for _ in 0..20 {
        let seq = put(&log, &[3; 500], &[a]);
        log.ack(&a, &[seq]).unwrap();
        log.sync().unwrap();
    }
    let before = list_segments(dir.path()).unwrap().len();
    assert!(before >= 3);
    log.sync().unwrap();
    assert_eq!(list_segments(dir.path()).unwrap().len(), before, "no sled flush yet");
    flush(&log);
    flush(&log);
    assert!(segments_on_disk(dir.path(), before - 1) < before);
}

#[test]
fn drop_and_expiry_and_group_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (device(1), device(2));
    let log = open(dir.path(), LogOptions::default());
    let early = NewEnvelope {
        group: &GROUP,
        payload: b"early",
        recipients: &[a, b],
        stored_at: 1,
        expires_at: 50,
    };
    let seqs = log.append(&[early, NewEnvelope { expires_at: 500, ..early }], None).unwrap();
    assert_eq!(log.expired(100, 10), [seqs[0]]);
    assert_eq!(log.group_envelopes(&GROUP, seqs[0]), [seqs[0]]);
    assert_eq!(log.drop_envelopes(&[seqs[0], 999]).unwrap(), (1, 2));
    assert_eq!(log.mailbox_ids(&a), [seqs[1]]);
    assert_eq!(log.mailbox_size(&b), (1, 5));
    log.sync().unwrap();
    drop(log);
    let log = open(dir.path(), LogOptions::default());
    assert_eq!(log.mailbox_ids(&b), [seqs[1]]);
}

#[test]
fn group_states_are_replayed_unless_the_group_was_deleted_after() {
    let dir = tempfile::tempdir().unwrap();
    let other = GroupId([4; GroupId::LEN]);
    {
        let log = open(dir.path(), LogOptions::default());
        let state = |group, epoch| GroupState { group, epoch, members: vec![device(1)] };
        assert!(log.append(&[], None).unwrap().is_empty(), "nothing to write");
        log.append(&[], Some(&state(GROUP, 1))).unwrap();
        let commit = NewEnvelope {
            group: &GROUP,
            payload: b"commit",
            recipients: &[device(2)],
            stored_at: 1,
            expires_at: 2,
        };
        log.append(&[commit], Some(&state(GROUP, 2))).unwrap();
        log.append(&[], Some(&state(other, 1))).unwrap();
        log.group_gone(&other).unwrap();
        log.sync().unwrap();
    }
    let opened = EnvelopeLog::open(dir.path(), LogOptions::default(), 1).unwrap();
    assert_eq!(
        opened.group_redo,
        [GroupState { group: GROUP, epoch: 2, members: vec![device(1)] }]
    );
}

#[test]
fn live_envelopes_are_listed_for_backups() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogOptions::default());
    put(&log, b"one", &[device(1)]);
    put(&log, b"two", &[device(2), device(3)]);
    log.ack(&device(1), &[1]).unwrap();
    let mut seen = Vec::new();
    log.for_each_live(true, |e| {
        seen.push(e);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].seq, 2);
    assert_eq!(seen[0].payload, b"two");
    assert_eq!(seen[0].recipients, [device(2), device(3)]);
}

/// Replay reads bytes from disk, which a crash, a bad disk or a meddling
/// hand may have changed: whatever the newest segment holds, opening the
/// log returns a typed error or a log whose index agrees with itself, and
/// never panics. A fixed-seed mutation loop (the fuzz corpus of the
/// protocol decoders does not reach the server crate).
#[test]
fn replay_of_mutated_segments_never_panics() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (device(1), device(2));
    {
        let log = open(dir.path(), LogOptions::default());
        for i in 0..12u8 {
            let seq = put(&log, &[i; 40], &[a, b]);
            if i % 3 == 0 {
                log.ack(&a, &[seq]).unwrap();
            }
        }
        log.drop_envelopes(&[2]).unwrap();
        let state = GroupState { group: GROUP, epoch: 3, members: vec![a] };
        log.append(&[], Some(&state)).unwrap();
        log.sync().unwrap();
    }
    let path = segment_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let original = std::fs::read(&path).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for round in 0..2000 {
        let mut bytes = original.clone();
        match round % 4 {
            0 => {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => bytes.truncate(rng.gen_range(0..bytes.len())),
            2 => {
                let i = rng.gen_range(record::HEADER_LEN..bytes.len());
                let n = rng.gen_range(1..64).min(bytes.len() - i);
                rng.fill(&mut bytes[i..i + n]);
            }
            _ => {
                let extra: Vec<u8> = (0..rng.gen_range(1..200)).map(|_| rng.r#gen()).collect();
                bytes.extend(extra);
            }
        }
        let case = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(case.path(), 1), &bytes).unwrap();
        let Ok(opened) = EnvelopeLog::open(case.path(), LogOptions::default(), 1) else { continue };
        let log = opened.log;
        let totals = log.totals();
        let queued = log.mailbox_ids(&a).len() + log.mailbox_ids(&b).len();
        assert_eq!(totals.envelopes, queued as u64, "round {round}");
        for d in [a, b] {
            for e in log.page(&d, 0, 100, usize::MAX).unwrap().envelopes {
                assert_eq!(e.payload.len(), 40, "round {round}");
            }
        }
        // A log that opened takes new appends.
        put(&log, b"after", &[a]);
    }
}
