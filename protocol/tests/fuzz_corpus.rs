//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and the saved crash
//! inputs (`fuzz/regressions/<target>/`) through the same harnesses the
//! cargo-fuzz targets run, so that every input the fuzzer ever found
//! interesting stays checked by a plain `cargo test`, without cargo-fuzz.
//!
//! A harness that panics or reports a broken invariant fails the test with
//! the file's path. `STADTBOTE_FUZZ_SEED=1` rewrites the seed inputs
//! (`seed-*` files), which are built from the crate's own encoders.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failing test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{APP_VERSION, AppBody, AppMessage, AttachmentRef, Location};
use std::collections::BTreeMap;

use stadtbote_protocol::audit::{self, AuditEntry, AuditHead};
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::channel::{
    self, BoxKind, ChannelInvite, ChannelKey, ChannelMeta, PostBody, Replies,
};
use stadtbote_protocol::frame::{self, AdminAction, ServerBody};
use stadtbote_protocol::fuzzing::{self, Outcome};
use stadtbote_protocol::group_link::{self, GroupLink};
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::org::{
    InviteCode, ORG_VERSION, OrgProfile, RevocationList, Signed, SignedKind,
};
use stadtbote_protocol::{
    AccountId, BackupId, BlobId, ClientFrame, DeviceId, Event, GroupId, MsgId, Request, Response,
    ServerFrame,
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file under `<fuzz>/<kind>/<target>/`, with its target's name.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(fuzz_dir().join(kind)) else {
        return out;
    };
    for dir in dirs {
        let dir = dir.unwrap().path();
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if file.is_file() {
                out.push((target.clone(), file));
            }
        }
    }
    out.sort();
    out
}

/// Runs one input through its harness; `Err` describes a panic or a broken
/// invariant.
fn replay(target: &str, path: &Path) -> Result<Outcome, String> {
    let harness = fuzzing::harness(target)
        .ok_or_else(|| format!("{}: no fuzz target named {target}", path.display()))?;
    let data = std::fs::read(path).unwrap();
    match catch_unwind(AssertUnwindSafe(|| harness(&data))) {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(violation)) => Err(format!("{}: {violation}", path.display())),
        Err(_) => Err(format!("{}: the harness panicked", path.display())),
    }
}

#[test]
fn corpus_and_regressions_replay_without_panic() {
    let mut failures = Vec::new();
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for (target, path) in inputs(kind) {
            count += 1;
            if let Err(failure) = replay(&target, &path) {
                failures.push(failure);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_corpus() {
    let corpus = inputs("corpus");
    for (name, _) in fuzzing::TARGETS {
        assert!(corpus.iter().any(|(t, _)| t == name), "fuzz/corpus/{name}/ is empty or missing");
    }
}

/// The seeds must get past the first decoder: otherwise a harness (or its
/// fixed keys) drifted from what the crate encodes, and fuzzing would only
/// scratch the surface.
#[test]
fn seeds_are_accepted() {
    let write = std::env::var_os("STADTBOTE_FUZZ_SEED").is_some();
    for (target, name, bytes) in seeds() {
        let harness = fuzzing::harness(target).unwrap();
        assert_eq!(harness(&bytes), Ok(Outcome::Accepted), "seed {target}/{name}");
        if write {
            let dir = fuzz_dir().join("corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), &bytes).unwrap();
        }
    }
}

/// Inputs that one harness or another must refuse with a typed error (and
/// not, say, accept by accident).
#[test]
fn garbage_is_rejected() {
    for (name, harness) in fuzzing::TARGETS {
        for input in [&b"\xff"[..], b"\x9f\x9f\x9f", b"\x00\xff"] {
            let outcome = catch_unwind(|| harness(input));
            assert!(
                matches!(outcome, Ok(Ok(Outcome::Rejected))),
                "{name} on {input:02x?}: {outcome:?}"
            );
        }
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    frame::encode(value)
}

fn hex_vector(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    [&[mode][..], rest].concat()
}

/// One valid input per target and interesting shape, from the golden
/// vectors and the crate's own encoders with the harnesses' fixed keys.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let vectors = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    for file in vectors {
        let target = if file.starts_with("client_") {
            "client_frame"
        } else if file.starts_with("server_") {
            "server_frame"
        } else {
            "app_message"
        };
        out.push((target, file.trim_end_matches(".hex").into(), hex_vector(&file)));
    }

    let org_key = DeviceSecret::from_bytes(&fuzzing::ORG_KEY_SEED).unwrap();
    let cert = fuzzing::fixed_certificate().unwrap();
    let profile = OrgProfile::new(fuzzing::ORG, "goslar".into(), "Stadt Goslar".into(), 5);
    let revocations = RevocationList {
        v: ORG_VERSION,
        org: fuzzing::ORG,
        version: 2,
        revoked: vec![DeviceId([1; 16])],
        updated_at: 7,
    };
    let signed_profile = Signed::sign(SignedKind::Profile, &profile, &org_key);

    let requests = [
        Request::Admin {
            otp: Some("123456".into()),
            action: AdminAction::BackupStart {
                recipients: vec!["age1x".into()],
                insecure_plaintext: false,
            },
        },
        Request::Admin { otp: None, action: AdminAction::Audit { after: 3, limit: 10 } },
        Request::SecondFactor { otp: "654321".into() },
        Request::OrgPublish { org: fuzzing::ORG, profile: signed_profile.clone() },
        Request::Enroll { invite_id: ByteBuf::from(vec![3; 8]), binding: cert.binding.clone() },
        Request::UploadChunk { blob: BlobId([2; 16]), index: 1, data: ByteBuf::from(vec![9; 40]) },
        Request::ChannelPost {
            channel: fuzzing::CHANNEL,
            prev_seq: 4,
            post: ByteBuf::from(vec![1; 30]),
        },
        Request::PushSubscribe {
            endpoint: "https://updates.push.services.mozilla.com/wpush/v2/gAAAA".into(),
            p256dh: ByteBuf::from(vec![4; 65]),
            auth: ByteBuf::from(vec![5; 16]),
        },
        Request::SendNotify { group: GroupId([6; 16]), message: ByteBuf::from(vec![7; 24]) },
    ];
    for (i, request) in requests.into_iter().enumerate() {
        out.push((
            "client_frame",
            format!("request-{i}"),
            cbor(&ClientFrame::new(i as u64, request)),
        ));
    }
    let export_json = stadtbote_protocol::account::AccountExport {
        account: AccountId([1; 16]),
        created_at: 1,
        devices: Vec::new(),
        groups: vec![GroupId([2; 16])],
        blobs: Vec::new(),
        blob_usage_bytes: 0,
        pending_link_codes: 0,
    };
    let audit_entry = AuditEntry {
        seq: 1,
        at: 2,
        actor: "p-abc".into(),
        role: "server-admin".into(),
        action: "admin.block".into(),
        target: Some("goslar".into()),
        outcome: "ok".into(),
    };
    let audit_records = vec![audit::seal(&audit_entry, &[0; 32])];
    let responses = [
        Response::AccountExport { export: Box::new(export_json) },
        Response::Audit { records: audit_records.clone(), head: None, anchor: None },
        Response::BackupReady {
            backup: BackupId([3; 16]),
            size: 10,
            sha256: ByteBuf::from(vec![0; 32]),
            chunk_size: 4,
            encrypted: true,
        },
        Response::PushKey { key: Some(ByteBuf::from(vec![4; 65])) },
    ];
    for (i, response) in responses.into_iter().enumerate() {
        let frame = ServerFrame::new(ServerBody::Response { id: i as u64, response });
        out.push(("server_frame", format!("response-{i}"), cbor(&frame)));
    }
    out.push((
        "server_frame",
        "channel-post-event".into(),
        cbor(&ServerFrame::new(ServerBody::Event {
            event: Event::ChannelPost {
                channel: fuzzing::CHANNEL,
                post: frame::ChannelPostRecord {
                    seq: 1,
                    stored_at: 2,
                    post: ByteBuf::from(vec![4; 8]),
                },
            },
        })),
    ));

    let report = AppMessage {
        v: APP_VERSION,
        id: MsgId([1; 16]),
        sent_at: 3,
        sender_name: None,
        body: AppBody::Report {
            org: fuzzing::ORG,
            handle: "goslar".into(),
            category: "Straßenschaden".into(),
            department: "bauhof".into(),
            text: "Schlagloch".into(),
            location: Some(Location { lat: 51.9, lon: 10.4 }),
            photos: vec![AttachmentRef {
                blob: BlobId([5; 16]),
                key: ByteBuf::from(vec![7; 32]),
                sha256: ByteBuf::from(vec![8; 32]),
                size: 100,
                mime: "image/jpeg".into(),
                name: None,
            }],
        },
    };
    out.push(("app_message", "report".into(), report.encode()));

    // MLS: a KeyPackage, a commit with its Welcome, an application message
    // and a GroupInfo between two fixed devices.
    let alice = MlsClient::new(
        &DeviceSecret::from_bytes(&[0x21; 32]).unwrap(),
        AccountId([0x21; 16]),
        DeviceId([0x21; 16]),
    );
    let bob = MlsClient::new(
        &DeviceSecret::from_bytes(&[0x22; 32]).unwrap(),
        AccountId([0x22; 16]),
        DeviceId([0x22; 16]),
    );
    let key_package = bob.generate_key_packages(1).unwrap().remove(0);
    out.push(("mls_key_package", "key-package".into(), key_package.clone()));
    out.push(("mls_key_package", "last-resort".into(), bob.generate_last_resort().unwrap()));
    let group = GroupId([0x23; 16]);
    alice.create_group(group).unwrap();
    let commit = alice.add_members(&group, &[key_package]).unwrap();
    alice.merge_pending(&group).unwrap();
    out.push(("mls_message", "commit".into(), commit.commit.clone()));
    out.push(("mls_message", "welcome".into(), commit.welcome.clone().unwrap()));
    out.push(("mls_message", "application".into(), alice.encrypt(&group, b"hallo").unwrap()));
    let group_info = alice.export_group_info_with_data(&group, b"app data").unwrap();
    out.push(("mls_message", "group-info".into(), group_info.clone()));

    let code = InviteCode::from_bytes(&fuzzing::INVITE_CODE).unwrap();
    out.push(("org_code", "invite-code".into(), code.to_text().into_bytes()));
    out.push(("org_code", "invite-code-bytes".into(), fuzzing::INVITE_CODE.to_vec()));
    out.push(("org_code", "hours".into(), b"Di 17:00-18:30".to_vec()));
    out.push(("org_code", "role".into(), b"publisher".to_vec()));
    out.push(("org_code", "handle".into(), b"bad-harzburg".to_vec()));

    out.push(("signed_object", "invite".into(), cbor(&cert.invite)));
    out.push(("signed_object", "binding".into(), cbor(&cert.binding)));
    out.push(("signed_object", "profile".into(), cbor(&signed_profile)));
    out.push(("signed_object", "revocations-content".into(), cbor(&revocations)));
    out.push(("staff_certificate", "publisher".into(), cbor(&cert)));
    out.push(("org_profile", "new".into(), cbor(&profile)));
    let mut full = profile.clone();
    full.office_hours = vec![stadtbote_protocol::org::HoursSlot::parse("Tue 17:00-18:00").unwrap()];
    full.categories = vec![stadtbote_protocol::org::Category {
        name: "Straßenschaden".into(),
        department: "bauhof".into(),
    }];
    full.auto_reply = Some("Danke".into());
    out.push(("org_profile", "full".into(), cbor(&full)));
    out.push(("revocation_list", "one".into(), cbor(&revocations)));

    let invite = ChannelInvite {
        v: channel::CHANNEL_VERSION,
        handle: "goslar".into(),
        org: fuzzing::ORG,
        org_key: org_key.identity_key(),
        channel: fuzzing::CHANNEL,
        key_epoch: 0,
        key: ByteBuf::from(fuzzing::CHANNEL_KEY.to_vec()),
    };
    out.push(("channel_invite", "link".into(), invite.to_link().into_bytes()));

    let key = ChannelKey::from_bytes(&fuzzing::CHANNEL_KEY).unwrap();
    let device = DeviceSecret::from_bytes(&fuzzing::DEVICE_KEY_SEED).unwrap();
    let post = PostBody {
        v: channel::CHANNEL_VERSION,
        channel: fuzzing::CHANNEL,
        n: 1,
        prev: ByteBuf::from(channel::GENESIS.to_vec()),
        posted_at: 100,
        text: "Amtsblatt Nr. 1".into(),
        photos: Vec::new(),
        prev_posted_at: 0,
    };
    let meta = ChannelMeta {
        v: channel::CHANNEL_VERSION,
        channel: fuzzing::CHANNEL,
        org: fuzzing::ORG,
        handle: "goslar".into(),
        name: "Amtsblatt".into(),
        description: Some("Bekanntmachungen".into()),
        replies: Replies::Private,
        reply_department: Some("presse".into()),
        retention_days: 30,
        created_at: 1,
        meta_version: 0,
    };
    let sealed_post = channel::seal_post(&post, &key, 0, &device, cert.clone()).unwrap();
    let sealed_meta = channel::seal_meta(&meta, &key, 0, &device, cert.clone()).unwrap();
    out.push(("channel_sealed", "sealed-post".into(), with_mode(0, &sealed_post)));
    out.push(("channel_sealed", "sealed-meta".into(), with_mode(0, &sealed_meta)));
    let (_, plain) = channel::open(&key, &fuzzing::CHANNEL, BoxKind::Post, &sealed_post).unwrap();
    out.push(("channel_sealed", "post-plaintext".into(), with_mode(1, &plain)));
    out.push(("channel_sealed", "post-body".into(), with_mode(2, &cbor(&post))));
    out.push(("channel_sealed", "meta".into(), with_mode(3, &cbor(&meta))));

    let link = GroupLink {
        v: group_link::GROUP_LINK_VERSION,
        group: fuzzing::GROUP,
        secret: ByteBuf::from(fuzzing::CHANNEL_KEY.to_vec()),
        org: fuzzing::ORG,
        handle: "goslar".into(),
        org_key: org_key.identity_key(),
    };
    out.push(("group_link", "link".into(), link.to_link().into_bytes()));
    let sealed_info =
        group_link::seal_group_info(&fuzzing::CHANNEL_KEY, &fuzzing::GROUP, &group_info).unwrap();
    out.push(("group_link", "sealed-info".into(), sealed_info));
    out.push(("group_link", "group-info".into(), group_info));

    // One chunk whose length header says five bytes of content, then the
    // content; the rest of the chunk is zero padding.
    let mut chosen = vec![0u8, 0xff, 0xef];
    chosen.extend_from_slice(&5u64.to_le_bytes());
    chosen.extend_from_slice(b"hallo");
    out.push(("attachment_chunk", "one-chunk-plaintext".into(), with_mode(1, &chosen)));
    out.push(("attachment_chunk", "content".into(), with_mode(2, b"ein Foto")));

    for (i, text) in [
        AccountId([1; 16]).to_string(),
        DeviceId([0xfe; 16]).to_string().to_lowercase(),
        "abcd-efgh".to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(("id_parse", format!("text-{i}"), text.into_bytes()));
    }
    out.push(("id_parse", "raw".into(), vec![9; 16]));

    let head = AuditHead { seq: 1, hash: audit_records[0].hash.clone() };
    let page = BTreeMap::from([
        ("records", ciborium::Value::serialized(&audit_records).unwrap()),
        ("head", ciborium::Value::serialized(&Some(head)).unwrap()),
        ("anchor", ciborium::Value::Null),
    ]);
    out.push(("audit_record", "page".into(), cbor(&page)));
    out.push(("audit_record", "entry".into(), audit_entry.to_canonical_cbor()));
    out
}
