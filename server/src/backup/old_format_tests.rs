//! A backup written by an earlier release (format 1, age-encrypted, as
//! `stadtbote-server backup --recipient` writes it) is committed under
//! `server/tests/fixtures/`; these tests restore it with today's code, so a
//! change to the backup format, the store's record layouts or its tree
//! names that would orphan existing backups fails here.
//!
//! The fixture was made once by `make_old_backup_fixture` (ignored; run it
//! only to make a fixture for a *new* format, never to overwrite this one:
//! `cargo test -p stadtbote-server make_old_backup_fixture -- --ignored`
//! with `STADTBOTE_WRITE_FIXTURE=1`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::{AccountId, BlobId, ChannelId, DeviceId, GroupId, OrgId};

use super::restore::{open_when_released, restore, verify};
use crate::store::{
    AuditDraft, AuditStore, BlobRecord, BlobStore, ChannelRecord, ChannelStore, CommitInput,
    NewPost, OrgCodeRecord, OrgRecord, OrgStore, PageLimits, SledStore, Store,
};

const DAY: u64 = 86_400_000;
/// Times in the fixture are around this (2026-01-01); the tests read the
/// store "now" so that nothing in it has expired.
const T0: u64 = 1_767_225_600_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backup-format1")
}

/// The ids the fixture holds, one `name=BASE32` per line.
struct Ids {
    account_a: AccountId,
    device_a1: DeviceId,
    device_b: DeviceId,
    account_b: AccountId,
    group: GroupId,
    org: OrgId,
    channel: ChannelId,
    blob: BlobId,
}

impl Ids {
    fn encode(&self) -> String {
        format!(
            "account_a={}\ndevice_a1={}\naccount_b={}\ndevice_b={}\ngroup={}\norg={}\nchannel={}\nblob={}\n",
            self.account_a,
            self.device_a1,
            self.account_b,
            self.device_b,
            self.group,
            self.org,
            self.channel,
            self.blob
        )
    }

    fn decode(text: &str) -> Self {
        let get = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing from ids.txt"))
                .to_owned()
        };
        Self {
            account_a: get("account_a").parse().unwrap(),
            device_a1: get("device_a1").parse().unwrap(),
            account_b: get("account_b").parse().unwrap(),
            device_b: get("device_b").parse().unwrap(),
            group: get("group").parse().unwrap(),
            org: get("org").parse().unwrap(),
            channel: get("channel").parse().unwrap(),
            blob: get("blob").parse().unwrap(),
        }
    }
}

/// Fills a store with one of everything a backup must carry.
fn populate(store: &SledStore, data: &Path) -> Ids {
    let key = || DeviceSecret::generate().identity_key();
    let (account_a, device_a1) = store.create_account(&key(), T0).unwrap();
    store.create_link_code(&[1; 32], &account_a, T0 + DAY).unwrap();
    store.redeem_link_code(&[1; 32], Some(&key()), T0).unwrap();
    let (account_b, device_b) = store.create_account(&key(), T0).unwrap();
    store.upload_key_packages(&device_b, &[b"kp-one", b"kp-two"], Some(b"kp-last"), 10).unwrap();
    let group = GroupId([0x61; GroupId::LEN]);
    let add = [device_b];
    store
        .commit(CommitInput {
            group: &group,
            caller: &device_a1,
            epoch: 0,
            commit: b"commit",
            add: &add,
            remove: &[],
            welcome: Some(b"welcome"),
            now_ms: T0,
            expires_at_ms: T0 + 3650 * DAY,
            max_members: 50,
            may_create: true,
        })
        .unwrap();
    store.send(&group, &device_a1, b"first queued", T0, T0 + 3650 * DAY).unwrap();
    store.send(&group, &device_a1, b"second queued", T0, T0 + 3650 * DAY).unwrap();

    let org = OrgId([0x62; OrgId::LEN]);
    let record = OrgRecord {
        handle: "musterstadt".into(),
        name: "Musterstadt".into(),
        created_at: T0,
        org_key: None,
        admin_device: None,
        profile_version: 0,
        revocation_version: 0,
        suspended: false,
    };
    let code =
        OrgCodeRecord { org, expires_at: T0 + 3650 * DAY, delete_at: T0 + 3651 * DAY, used: false };
    store.create_org(&org, &record, &[2; 32], &code).unwrap();
    let channel = ChannelId([0x63; ChannelId::LEN]);
    let channel_record = ChannelRecord {
        org,
        meta: b"sealed meta".to_vec(),
        key_epoch: 0,
        retention_days: 3650,
        last_seq: 0,
        created_at: T0,
    };
    store.create_channel(&channel, &channel_record).unwrap();
    for (prev_seq, post) in [(0, &b"post one"[..]), (1, &b"post two"[..])] {
        store
            .append_post(NewPost {
                channel: &channel,
                prev_seq,
                post,
                now_ms: T0,
                expires_at_ms: T0 + 3650 * DAY,
            })
            .unwrap();
    }
    let blob = BlobId([0x64; BlobId::LEN]);
    let blob_record = BlobRecord {
        owner: account_b,
        size: 5,
        chunk_size: 5,
        chunks_received: 0,
        complete: false,
        created_at: T0,
        expires_at: T0 + DAY,
        charged: 5,
    };
    store.create_blob(&blob, &blob_record, 1 << 20).unwrap();
    store.record_blob_chunks(&blob, 1).unwrap();
    store.complete_blob(&blob, T0 + 3650 * DAY).unwrap();
    let blobs = data.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(data_encoding::HEXLOWER.encode(blob.as_bytes())), b"photo").unwrap();
    store
        .audit_append(&AuditDraft {
            at: T0,
            actor: "admin".into(),
            role: "server_admin".into(),
            action: "org_create".into(),
            target: Some("musterstadt".into()),
            outcome: "ok".into(),
        })
        .unwrap();
    store.flush().unwrap();
    Ids { account_a, device_a1, account_b, device_b, group, org, channel, blob }
}

/// Writes the fixture (run once, by hand; see the module docs).
#[test]
#[ignore = "writes the committed fixture; run by hand for a new format only"]
fn make_old_backup_fixture() {
    if std::env::var_os("STADTBOTE_WRITE_FIXTURE").is_none() {
        return;
    }
    let dir = fixture_dir();
    assert!(!dir.join("backup.age").exists(), "never overwrite a committed fixture");
    std::fs::create_dir_all(&dir).unwrap();
    let src = tempfile::tempdir().unwrap();
    let data = src.path().join("data");
    let store = SledStore::open(&data).unwrap();
    let ids = populate(&store, &data);
    let out = tempfile::tempdir().unwrap();
    let plain = out.path().join("b.plain");
    let pending =
        super::create::snapshot(&store, &data, &plain, &out.path().join("files"), T0).unwrap();
    drop(store);
    let (identity, identity_text) = super::generate_identity("fixture, not a secret");
    let (file, _) = super::create::complete(
        pending,
        &plain,
        &out.path().join("b.age"),
        &[identity.to_public()],
    )
    .unwrap();
    std::fs::copy(file, dir.join("backup.age")).unwrap();
    std::fs::write(dir.join("identity.txt"), identity_text).unwrap();
    std::fs::write(dir.join("ids.txt"), ids.encode()).unwrap();
}

#[test]
fn a_backup_of_format_1_still_restores() {
    let dir = fixture_dir();
    let identity = super::load_identity(&dir.join("identity.txt")).unwrap();
    let ids = Ids::decode(&std::fs::read_to_string(dir.join("ids.txt")).unwrap());
    let (manifest, encrypted) = verify(&dir.join("backup.age"), Some(&identity)).unwrap();
    assert!(encrypted);
    assert!(manifest.entries > 0 && manifest.files >= 1, "{manifest:?}");

    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    restore(&dir.join("backup.age"), &data, false, Some(&identity)).unwrap();
    let store: Arc<dyn Store> = Arc::new(open_when_released(&data).unwrap());

    assert_eq!(store.list_devices(&ids.account_a).unwrap().len(), 2);
    assert_eq!(store.device(&ids.device_b).unwrap().map(|d| d.account), Some(ids.account_b));
    let page = store.mailbox(&ids.device_b, 0, 10, 1 << 20).unwrap();
    let payloads: Vec<&[u8]> = page.envelopes.iter().map(|e| e.payload.as_ref()).collect();
    assert_eq!(payloads, [&b"welcome"[..], b"first queued", b"second queued"]);
    let claimed = store.claim_device_key_packages(&[ids.device_b], &ids.device_a1).unwrap();
    assert_eq!(claimed[0].key_package.as_ref(), b"kp-one");
    assert_eq!(store.send(&ids.group, &ids.device_b, b"reply", T0, T0 + DAY).unwrap().len(), 1);
    assert_eq!(store.org(&ids.org).unwrap().map(|o| o.handle), Some("musterstadt".into()));
    let limits = PageLimits { limit: 10, max_bytes: 1 << 20, per_post_overhead: 10, now_ms: T0 };
    assert_eq!(store.channel_posts(&ids.channel, 0, limits).unwrap().posts.len(), 2);
    let blob = store.blob(&ids.blob).unwrap().expect("blob metadata restored");
    assert!(blob.complete);
    let file = data.join("blobs").join(data_encoding::HEXLOWER.encode(ids.blob.as_bytes()));
    assert_eq!(std::fs::read(file).unwrap(), b"photo");
    assert_eq!(store.audit_page(0, 10, 1 << 20).unwrap().records.len(), 1);
    // The deletion still shreds after a restore: the keys travelled along.
    store.delete_account(&ids.account_b).unwrap();
    assert!(store.device(&ids.device_b).unwrap().is_none());
}
