//! Property tests over every variant of every wire enum: requests, admin
//! actions, responses, events, error codes, application bodies, and the
//! payload types they carry (audit records, account exports, signed org
//! objects, channel and group links). Encode → decode must be the identity.
//!
//! `every_variant_has_a_strategy` reads the enum definitions from the
//! source and fails when a variant is added without a strategy here, so
//! the round trips keep covering the whole wire format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failing test.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_bytes::ByteBuf;
use stadtbote_protocol::account::{
    AccountExport, BlobExport, DeviceExport, PushSubscriptionExport,
};
use stadtbote_protocol::app::{
    APP_VERSION, AppBody, AppMessage, AttachmentRef, ForwardedMessage, Location, ThreadStatus,
};
use stadtbote_protocol::audit::{AuditEntry, AuditHead, AuditRecord};
use stadtbote_protocol::auth::{IdentityKey, Signature};
use stadtbote_protocol::channel::{ChannelInvite, ChannelMeta, PostBody, Replies, SealedBox};
use stadtbote_protocol::device_list::SignedDeviceList;
use stadtbote_protocol::frame::{
    self, AdminAction, ChannelPostRecord, ClaimedKeyPackage, DeviceInfo, Envelope, OrgInfo,
    OrgStats, OrgSummary, RetentionPeriod, ServerBody, ServerStats,
};
use stadtbote_protocol::group_link::GroupLink;
use stadtbote_protocol::org::{
    Category, ChannelRef, DeviceBinding, HoursSlot, InviteCert, OrgProfile, RevocationList, Role,
    Signed, StaffCertificate,
};
use stadtbote_protocol::org_legal::{OrgLegal, ReplyTemplate};
use stadtbote_protocol::{
    AccountId, BackupId, BlobId, ChannelId, ClientFrame, DeviceId, ErrorBody, ErrorCode, Event,
    GroupId, MsgId, OrgId, RefusalReason, Request, Response, ServerFrame,
};

fn bytes() -> impl Strategy<Value = ByteBuf> {
    vec(any::<u8>(), 0..48).prop_map(ByteBuf::from)
}
fn text() -> impl Strategy<Value = String> {
    ".{0,16}"
}
fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 16]>().prop_map(AccountId)
}
fn device() -> impl Strategy<Value = DeviceId> {
    any::<[u8; 16]>().prop_map(DeviceId)
}
fn group() -> impl Strategy<Value = GroupId> {
    any::<[u8; 16]>().prop_map(GroupId)
}
fn org() -> impl Strategy<Value = OrgId> {
    any::<[u8; 16]>().prop_map(OrgId)
}
fn blob() -> impl Strategy<Value = BlobId> {
    any::<[u8; 16]>().prop_map(BlobId)
}
fn channel() -> impl Strategy<Value = ChannelId> {
    any::<[u8; 16]>().prop_map(ChannelId)
}
fn backup() -> impl Strategy<Value = BackupId> {
    any::<[u8; 16]>().prop_map(BackupId)
}
fn msg() -> impl Strategy<Value = MsgId> {
    any::<[u8; 16]>().prop_map(MsgId)
}
fn key() -> impl Strategy<Value = IdentityKey> {
    any::<[u8; 32]>().prop_map(IdentityKey)
}
fn sig() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}
fn signed() -> impl Strategy<Value = Signed> {
    (bytes(), sig()).prop_map(|(bytes, signature)| Signed { bytes, signature })
}
fn cert() -> impl Strategy<Value = StaffCertificate> {
    (signed(), signed(), of(signed())).prop_map(|(invite, binding, approval)| StaffCertificate {
        invite,
        binding,
        approval,
    })
}
fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Clerk), Just(Role::Publisher), Just(Role::Admin)]
}
fn thread_status() -> impl Strategy<Value = ThreadStatus> {
    prop_oneof![
        Just(ThreadStatus::Open),
        Just(ThreadStatus::Acknowledged),
        Just(ThreadStatus::InProgress),
        Just(ThreadStatus::Resolved),
        Just(ThreadStatus::Rejected),
        Just(ThreadStatus::Reopened),
    ]
}
fn audit_head() -> impl Strategy<Value = AuditHead> {
    (any::<u64>(), bytes()).prop_map(|(seq, hash)| AuditHead { seq, hash })
}
fn audit_record() -> impl Strategy<Value = AuditRecord> {
    (any::<u64>(), bytes(), bytes(), bytes()).prop_map(|(seq, entry, prev, hash)| AuditRecord {
        seq,
        entry,
        prev,
        hash,
    })
}
fn audit_entry() -> impl Strategy<Value = AuditEntry> {
    (any::<u64>(), any::<u64>(), text(), text(), text(), of(text()), text()).prop_map(
        |(seq, at, actor, role, action, target, outcome)| AuditEntry {
            seq,
            at,
            actor,
            role,
            action,
            target,
            outcome,
        },
    )
}
fn account_export() -> impl Strategy<Value = AccountExport> {
    let device = (
        device(),
        key(),
        any::<u64>(),
        any::<bool>(),
        any::<u32>(),
        any::<bool>(),
        (any::<u64>(), any::<u64>(), any::<bool>()),
        (vec(text(), 0..2), vec(text(), 0..2)),
        of((text(), any::<u64>()).prop_map(|(endpoint, created_at)| PushSubscriptionExport {
            endpoint,
            created_at,
            last_used_at: created_at.wrapping_add(1),
        })),
    )
        .prop_map(
            |(
                device,
                identity_key,
                created_at,
                blocked,
                key_packages,
                last_resort_key_package,
                (queued_envelopes, queued_bytes, server_admin),
                (org_admin_of, staff_of),
                push_subscription,
            )| DeviceExport {
                device,
                identity_key,
                created_at,
                blocked,
                key_packages,
                last_resort_key_package,
                queued_envelopes,
                queued_bytes,
                server_admin,
                org_admin_of,
                staff_of,
                push_subscription,
            },
        );
    let blob = (blob(), any::<u64>(), any::<bool>(), any::<u64>()).prop_map(
        |(blob, size, complete, expires_at)| BlobExport { blob, size, complete, expires_at },
    );
    (
        account(),
        any::<u64>(),
        vec(device, 0..3),
        vec(group(), 0..3),
        vec(blob, 0..3),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                account,
                created_at,
                devices,
                groups,
                blobs,
                blob_usage_bytes,
                pending_link_codes,
            )| {
                AccountExport {
                    account,
                    created_at,
                    devices,
                    groups,
                    blobs,
                    blob_usage_bytes,
                    pending_link_codes,
                }
            },
        )
}

fn admin_action() -> impl Strategy<Value = AdminAction> {
    prop_oneof![
        (text(), text()).prop_map(|(name, handle)| AdminAction::CreateOrg { name, handle }),
        Just(AdminAction::ListOrgs),
        Just(AdminAction::Stats),
        account().prop_map(|account| AdminAction::Block { account }),
        account().prop_map(|account| AdminAction::Unblock { account }),
        text().prop_map(|handle| AdminAction::SuspendOrg { handle }),
        text().prop_map(|handle| AdminAction::ResumeOrg { handle }),
        Just(AdminAction::RetentionShow),
        (text(), any::<u64>()).prop_map(|(kind, secs)| AdminAction::RetentionSet { kind, secs }),
        (any::<u64>(), any::<u32>()).prop_map(|(after, limit)| AdminAction::Audit { after, limit }),
        (vec(text(), 0..3), any::<bool>()).prop_map(|(recipients, insecure_plaintext)| {
            AdminAction::BackupStart { recipients, insecure_plaintext }
        }),
        (backup(), any::<u32>())
            .prop_map(|(backup, index)| AdminAction::BackupChunk { backup, index }),
        backup().prop_map(|backup| AdminAction::BackupFinish { backup }),
        text().prop_map(|handle| AdminAction::ResetOrgSecondFactor { handle }),
    ]
}

fn creation() -> impl Strategy<Value = stadtbote_protocol::membership::GroupCreation> {
    use stadtbote_protocol::membership::GroupCreation;
    prop_oneof![
        account().prop_map(|peer| GroupCreation::Conversation { peer }),
        bytes().prop_map(|nonce| GroupCreation::Random { nonce }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (key(), sig(), any::<u64>()).prop_map(|(identity_key, signature, pow_nonce)| {
            Request::Register { identity_key, signature, pow_nonce }
        }),
        (device(), sig()).prop_map(|(device, signature)| Request::Login { device, signature }),
        (text(), key(), sig()).prop_map(|(code, identity_key, signature)| Request::Link {
            code,
            identity_key,
            signature
        }),
        Just(Request::CreateLinkCode),
        account().prop_map(|account| Request::ListDevices { account }),
        (vec(bytes(), 0..3), of(bytes())).prop_map(|(one_time, last_resort)| {
            Request::UploadKeyPackages { one_time, last_resort }
        }),
        account().prop_map(|account| Request::ClaimKeyPackages { account }),
        (
            (group(), any::<u64>(), bytes(), vec(device(), 0..3), vec(device(), 0..3), of(bytes())),
            (of((bytes(), sig())), of(creation())),
        )
            .prop_map(
                |((group, epoch, commit, add, remove, welcome), (statement, create))| {
                    Request::Commit {
                        group,
                        epoch,
                        commit,
                        add,
                        remove,
                        welcome,
                        statement: statement.map(|(salt, signature)| {
                            stadtbote_protocol::membership::MembershipProof { salt, signature }
                        }),
                        create,
                    }
                }
            ),
        (group(), bytes()).prop_map(|(group, message)| Request::Send { group, message }),
        vec(any::<u64>(), 0..5).prop_map(|ids| Request::Ack { ids }),
        Just(Request::Ping),
        (text(), of(bytes()))
            .prop_map(|(code, totp_secret)| Request::AdminClaim { code, totp_secret }),
        text().prop_map(|otp| Request::SecondFactor { otp }),
        (org(), bytes()).prop_map(|(org, secret)| Request::OrgSecondFactorEnable { org, secret }),
        Just(Request::AccountExport),
        Just(Request::AccountDelete),
        (of(text()), admin_action()).prop_map(|(otp, action)| Request::Admin { otp, action }),
        (text(), key(), sig()).prop_map(|(code, org_key, proof)| Request::OrgClaim {
            code,
            org_key,
            proof
        }),
        (org(), signed()).prop_map(|(org, profile)| Request::OrgPublish { org, profile }),
        (org(), signed()).prop_map(|(org, invite)| Request::OrgCreateInvite { org, invite }),
        (bytes(), signed()).prop_map(|(invite_id, binding)| Request::Enroll { invite_id, binding }),
        (org(), signed()).prop_map(|(org, revocations)| Request::OrgRevoke { org, revocations }),
        text().prop_map(|handle| Request::OrgDirectory { handle }),
        vec(device(), 0..3).prop_map(|devices| Request::ClaimDeviceKeyPackages { devices }),
        (group(), any::<u64>(), of(org())).prop_map(|(group, expires_at, org)| {
            Request::SetGroupExpiry { group, expires_at, org }
        }),
        any::<u64>().prop_map(|size| Request::UploadStart { size }),
        (blob(), any::<u32>(), bytes()).prop_map(|(blob, index, data)| Request::UploadChunk {
            blob,
            index,
            data
        }),
        blob().prop_map(|blob| Request::UploadStatus { blob }),
        blob().prop_map(|blob| Request::UploadFinish { blob }),
        (blob(), any::<u32>()).prop_map(|(blob, index)| Request::DownloadChunk { blob, index }),
        (org(), channel(), bytes(), any::<u32>()).prop_map(
            |(org, channel, meta, retention_days)| Request::ChannelCreate {
                org,
                channel,
                meta,
                retention_days
            }
        ),
        (channel(), bytes(), any::<u32>()).prop_map(|(channel, meta, key_epoch)| {
            Request::ChannelUpdate { channel, meta, key_epoch }
        }),
        (channel(), any::<u64>(), bytes())
            .prop_map(|(channel, prev_seq, post)| Request::ChannelPost { channel, prev_seq, post }),
        (channel(), any::<u64>(), any::<u32>())
            .prop_map(|(channel, after, limit)| Request::ChannelFetch { channel, after, limit }),
        vec(channel(), 0..3).prop_map(|channels| Request::ChannelListen { channels }),
        (group(), bytes(), bytes(), proptest::option::of(org())).prop_map(
            |(group, token_hash, info, org)| Request::GroupInfoPut { group, token_hash, info, org }
        ),
        (group(), bytes()).prop_map(|(group, token)| Request::GroupInfoGet { group, token }),
        (group(), any::<u64>(), bytes(), bytes()).prop_map(|(group, epoch, commit, token)| {
            Request::ExternalJoin { group, epoch, commit, token }
        }),
        signed_device_list().prop_map(|list| Request::PublishDeviceList { list }),
        (bytes(), bytes()).prop_map(|(slot, data)| Request::LinkSlotPut { slot, data }),
        bytes().prop_map(|slot| Request::LinkSlotTake { slot }),
        (org(), signed(), vec(signed(), 0..3)).prop_map(|(org, staff_list, approvals)| {
            Request::OrgApprove { org, staff_list, approvals }
        }),
        (
            org(),
            rotation(),
            signed(),
            signed(),
            vec(cert(), 0..2),
            proptest::option::of(signed().prop_map(Box::new))
        )
            .prop_map(|(org, rotation, profile, staff_list, staff, revocations)| {
                Request::OrgRotateKey { org, rotation, profile, staff_list, staff, revocations }
            }),
        Just(Request::PushKey),
        (text(), bytes(), bytes()).prop_map(|(endpoint, p256dh, auth)| Request::PushSubscribe {
            endpoint,
            p256dh,
            auth
        }),
        Just(Request::PushUnsubscribe),
        (group(), bytes()).prop_map(|(group, message)| Request::SendNotify { group, message }),
        Just(Request::ServerInfo),
    ]
}

fn signed_device_list() -> impl Strategy<Value = SignedDeviceList> {
    (bytes(), sig()).prop_map(|(bytes, signature)| SignedDeviceList { bytes, signature })
}

/// Every reason a server sends, and `unknown` (what a reason from a newer
/// server decodes as).
fn refusal_reason() -> impl Strategy<Value = RefusalReason> {
    let mut all = RefusalReason::ALL.to_vec();
    all.push(RefusalReason::Unknown);
    proptest::sample::select(all)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::BadFrame),
        Just(ErrorCode::ModeratorsOnly),
        Just(ErrorCode::UnsupportedVersion),
        Just(ErrorCode::TooLarge),
        Just(ErrorCode::Unauthenticated),
        Just(ErrorCode::AlreadyAuthenticated),
        Just(ErrorCode::AuthFailed),
        Just(ErrorCode::PowInvalid),
        Just(ErrorCode::InvalidCode),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::UnknownAccount),
        Just(ErrorCode::UnknownGroup),
        Just(ErrorCode::NotAMember),
        Just(ErrorCode::StaleEpoch),
        Just(ErrorCode::InvalidRequest),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::StorageUnavailable),
        Just(ErrorCode::Unavailable),
        Just(ErrorCode::Internal),
        Just(ErrorCode::UnknownOrg),
        Just(ErrorCode::UnknownBlob),
        Just(ErrorCode::QuotaExceeded),
        Just(ErrorCode::HandleTaken),
        Just(ErrorCode::UnknownChannel),
        Just(ErrorCode::SecondFactorRequired),
        Just(ErrorCode::OrgSuspended),
        Just(ErrorCode::Unknown),
    ]
}

fn server_stats() -> impl Strategy<Value = ServerStats> {
    let org_stats = (text(), any::<u64>(), any::<u64>())
        .prop_map(|(handle, staff_devices, channels)| OrgStats { handle, staff_devices, channels });
    (any::<[u64; 7]>(), vec(org_stats, 0..3)).prop_map(|(n, orgs)| ServerStats {
        accounts: n[0],
        devices: n[1],
        connected: n[2],
        queued_envelopes: n[3],
        stored_bytes: n[4],
        channels: n[5],
        channel_posts: n[6],
        orgs,
    })
}

fn rotation() -> impl Strategy<Value = stadtbote_protocol::org_rotation::SignedRotation> {
    (signed(), sig()).prop_map(|(by_old, by_new)| {
        stadtbote_protocol::org_rotation::SignedRotation { by_old, by_new }
    })
}

fn org_info() -> impl Strategy<Value = OrgInfo> {
    (
        org(),
        text(),
        of(key()),
        of(signed()),
        vec(cert(), 0..2),
        of(signed()),
        of(signed()),
        vec(rotation(), 0..2),
    )
        .prop_map(
            |(org, handle, org_key, profile, staff, revocations, staff_list, rotations)| OrgInfo {
                org,
                handle,
                org_key,
                profile,
                staff,
                revocations,
                staff_list,
                rotations,
            },
        )
}

fn post_record() -> impl Strategy<Value = ChannelPostRecord> {
    (any::<u64>(), any::<u64>(), bytes()).prop_map(|(seq, stored_at, post)| ChannelPostRecord {
        seq,
        stored_at,
        post,
    })
}

fn response() -> impl Strategy<Value = Response> {
    let period = (text(), text(), any::<u64>(), text())
        .prop_map(|(kind, what, secs, source)| RetentionPeriod { kind, what, secs, source });
    let summary = (org(), text(), text(), any::<bool>(), any::<u64>(), any::<bool>()).prop_map(
        |(org, handle, name, claimed, created_at, suspended)| OrgSummary {
            org,
            handle,
            name,
            claimed,
            created_at,
            suspended,
        },
    );
    let device_info =
        (device(), key()).prop_map(|(device, identity_key)| DeviceInfo { device, identity_key });
    let claimed =
        (device(), bytes(), any::<bool>()).prop_map(|(device, key_package, last_resort)| {
            ClaimedKeyPackage { device, key_package, last_resort }
        });
    prop_oneof![
        (account(), device())
            .prop_map(|(account, device)| Response::Registered { account, device }),
        (account(), any::<u32>(), any::<bool>()).prop_map(
            |(account, key_packages_left, has_last_resort)| Response::LoggedIn {
                account,
                key_packages_left,
                has_last_resort
            }
        ),
        (text(), any::<u64>())
            .prop_map(|(code, expires_at)| Response::LinkCode { code, expires_at }),
        (vec(device_info, 0..3), of(signed_device_list()))
            .prop_map(|(devices, device_list)| Response::Devices { devices, device_list }),
        any::<u32>().prop_map(|one_time_left| Response::KeyPackagesStored { one_time_left }),
        vec(claimed, 0..3).prop_map(|packages| Response::KeyPackages { packages }),
        any::<u64>().prop_map(|epoch| Response::CommitAccepted { epoch }),
        any::<u32>().prop_map(|recipients| Response::Stored { recipients }),
        any::<u32>().prop_map(|removed| Response::Acked { removed }),
        Just(Response::Pong),
        Just(Response::AdminClaimed),
        Just(Response::SecondFactorAccepted),
        org().prop_map(|org| Response::OrgSecondFactorEnabled { org }),
        (text(), any::<bool>())
            .prop_map(|(handle, suspended)| Response::OrgSuspended { handle, suspended }),
        (text(), any::<bool>())
            .prop_map(|(handle, removed)| Response::OrgSecondFactorReset { handle, removed }),
        vec(period, 0..3).prop_map(|periods| Response::Retention { periods }),
        (vec(audit_record(), 0..3), of(audit_head()), of(audit_head()))
            .prop_map(|(records, head, anchor)| Response::Audit { records, head, anchor }),
        (backup(), any::<u64>(), bytes(), any::<u32>(), any::<bool>()).prop_map(
            |(backup, size, sha256, chunk_size, encrypted)| Response::BackupReady {
                backup,
                size,
                sha256,
                chunk_size,
                encrypted
            }
        ),
        (any::<u32>(), bytes(), any::<bool>())
            .prop_map(|(index, data, last)| Response::BackupChunk { index, data, last }),
        Just(Response::BackupFinished),
        account_export().prop_map(|export| Response::AccountExport { export: Box::new(export) }),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(devices, envelopes, blobs, key_packages)| Response::AccountDeleted {
                devices,
                envelopes,
                blobs,
                key_packages
            }
        ),
        (org(), text(), text(), any::<u64>()).prop_map(|(org, handle, code, expires_at)| {
            Response::OrgCreated { org, handle, code, expires_at }
        }),
        vec(summary, 0..3).prop_map(|orgs| Response::Orgs { orgs }),
        server_stats().prop_map(|stats| Response::Stats { stats }),
        (account(), any::<bool>(), any::<u32>()).prop_map(|(account, blocked, devices)| {
            Response::Blocked { account, blocked, devices }
        }),
        (org(), text(), text()).prop_map(|(org, handle, name)| Response::OrgClaimed {
            org,
            handle,
            name
        }),
        any::<u64>().prop_map(|version| Response::Published { version }),
        any::<u64>().prop_map(|expires_at| Response::InviteStored { expires_at }),
        (org(), text()).prop_map(|(org, handle)| Response::Enrolled { org, handle }),
        org_info().prop_map(|info| Response::Org { info: Box::new(info) }),
        any::<u64>().prop_map(|expires_at| Response::GroupExpirySet { expires_at }),
        (blob(), any::<u32>(), any::<u64>()).prop_map(|(blob, chunk_size, expires_at)| {
            Response::UploadStarted { blob, chunk_size, expires_at }
        }),
        (blob(), any::<u32>(), any::<u64>(), any::<u32>(), any::<bool>()).prop_map(
            |(blob, chunks_received, size, chunk_size, complete)| Response::UploadProgress {
                blob,
                chunks_received,
                size,
                chunk_size,
                complete
            }
        ),
        (blob(), any::<u64>(), any::<u64>())
            .prop_map(|(blob, size, expires_at)| Response::BlobStored { blob, size, expires_at }),
        (channel(), any::<u32>())
            .prop_map(|(channel, key_epoch)| Response::ChannelStored { channel, key_epoch }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(seq, stored_at)| Response::ChannelPosted { seq, stored_at }),
        (
            channel(),
            org(),
            bytes(),
            any::<u32>(),
            vec(post_record(), 0..3),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(channel, org, meta, key_epoch, posts, first_seq, last_seq)| {
                Response::ChannelPosts { channel, org, meta, key_epoch, posts, first_seq, last_seq }
            }),
        any::<u64>().prop_map(|epoch| Response::GroupInfoStored { epoch }),
        (group(), any::<u64>(), bytes()).prop_map(|(group, epoch, info)| Response::GroupInfo {
            group,
            epoch,
            info
        }),
        any::<u32>().prop_map(|channels| Response::Listening { channels }),
        (any::<u32>(), bytes(), any::<u64>(), any::<bool>())
            .prop_map(|(index, data, size, last)| Response::BlobChunk { index, data, size, last }),
        any::<u64>().prop_map(|version| Response::DeviceListStored { version }),
        Just(Response::LinkSlotStored),
        of(bytes()).prop_map(|data| Response::LinkSlot { data }),
        of(bytes()).prop_map(|key| Response::PushKey { key }),
        Just(Response::PushSubscribed),
        any::<bool>().prop_map(|removed| Response::PushUnsubscribed { removed }),
        of(text()).prop_map(|public_url| Response::ServerInfo { public_url }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let envelope = (any::<u64>(), any::<u64>(), bytes())
        .prop_map(|(id, received_at, payload)| Envelope { id, received_at, payload });
    prop_oneof![
        (bytes(), any::<u8>(), any::<u64>()).prop_map(|(nonce, pow_difficulty, server_time)| {
            Event::Challenge { nonce, pow_difficulty, server_time }
        }),
        (channel(), post_record()).prop_map(|(channel, post)| Event::ChannelPost { channel, post }),
        (vec(envelope, 0..3), any::<bool>())
            .prop_map(|(envelopes, caught_up)| Event::Deliver { envelopes, caught_up }),
    ]
}

fn server_body() -> impl Strategy<Value = ServerBody> {
    let error = (error_code(), text(), of(any::<u64>()), of(any::<u64>()), of(refusal_reason()))
        .prop_map(|(code, message, current_epoch, retry_after_ms, reason)| ErrorBody {
            code,
            message,
            current_epoch,
            retry_after_ms,
            reason,
        });
    prop_oneof![
        (any::<u64>(), response()).prop_map(|(id, response)| ServerBody::Response { id, response }),
        (of(any::<u64>()), error).prop_map(|(id, error)| ServerBody::Error { id, error }),
        event().prop_map(|event| ServerBody::Event { event }),
    ]
}

fn attachment_ref() -> impl Strategy<Value = AttachmentRef> {
    (blob(), bytes(), bytes(), any::<u64>(), text(), of(text())).prop_map(
        |(blob, key, sha256, size, mime, name)| AttachmentRef {
            blob,
            key,
            sha256,
            size,
            mime,
            name,
        },
    )
}

/// Bodies without [`AppBody::History`], which nests messages.
fn app_body_leaf() -> impl Strategy<Value = AppBody> {
    let location = (-90.0f64..90.0, -180.0f64..180.0).prop_map(|(lat, lon)| Location { lat, lon });
    prop_oneof![
        text().prop_map(|text| AppBody::Text { text }),
        vec(msg(), 0..3).prop_map(|ids| AppBody::Receipt { ids }),
        (org(), text(), text(), text(), text(), of(location), vec(attachment_ref(), 0..2))
            .prop_map(|(org, handle, category, department, text, location, photos)| {
                AppBody::Report { org, handle, category, department, text, location, photos }
            }),
        (org(), text(), text(), text(), any::<bool>()).prop_map(
            |(org, handle, department, text, live)| AppBody::Consult {
                org,
                handle,
                department,
                text,
                live
            }
        ),
        (text(), vec(attachment_ref(), 0..2), of(thread_status()), of(text()), of(text()))
            .prop_map(|(text, photos, status, reason, as_org)| AppBody::Reply {
                text,
                photos,
                status,
                reason,
                as_org
            }),
        (text(), org(), text(), bytes()).prop_map(|(name, org, handle, link_secret)| {
            AppBody::GroupMeta { name, org, handle, link_secret }
        }),
        text().prop_map(|text| AppBody::GroupPost { text }),
        text().prop_map(|department| AppBody::Assign { department }),
        (any::<u32>(), of(any::<u64>())).prop_map(|(days, at)| AppBody::Disappear { days, at }),
    ]
}

fn app_message_with(body: impl Strategy<Value = AppBody>) -> impl Strategy<Value = AppMessage> {
    (msg(), any::<u64>(), of(text()), body).prop_map(|(id, sent_at, sender_name, body)| {
        AppMessage { v: APP_VERSION, id, sent_at, sender_name, body }
    })
}

fn app_message() -> impl Strategy<Value = AppMessage> {
    let forwarded = (account(), device(), any::<u64>(), app_message_with(app_body_leaf()))
        .prop_map(|(from, from_device, received_at, message)| ForwardedMessage {
            from,
            from_device,
            received_at,
            message,
        });
    let history = (account(), vec(forwarded, 0..3))
        .prop_map(|(creator, messages)| AppBody::History { creator, messages });
    app_message_with(prop_oneof![4 => app_body_leaf(), 1 => history])
}

fn org_profile() -> impl Strategy<Value = OrgProfile> {
    let category = (text(), text()).prop_map(|(name, department)| Category { name, department });
    let slot = (0u8..7, 0u16..1439).prop_flat_map(|(weekday, start_min)| {
        (start_min + 1..1440).prop_map(move |end_min| HoursSlot { weekday, start_min, end_min })
    });
    (
        (org(), text(), text(), any::<u64>(), any::<u64>()),
        (vec(category, 0..3), vec(slot, 0..3), text(), of(text()), of(any::<u64>())),
        (
            of(text()),
            vec(bytes().prop_map(|id| ChannelRef { id }), 0..2),
            of(org_legal()),
            vec(reply_template(), 0..3),
        ),
    )
        .prop_map(
            |(
                (org, handle, name, version, updated_at),
                (categories, office_hours, timezone, auto_reply, live_since),
                (consult_department, channels, legal, reply_templates),
            )| OrgProfile {
                v: 1,
                org,
                handle,
                name,
                version,
                updated_at,
                categories,
                office_hours,
                timezone,
                auto_reply,
                live_since,
                consult_department,
                channels,
                legal,
                reply_templates,
            },
        )
}

fn org_legal() -> impl Strategy<Value = OrgLegal> {
    vec(text(), 7).prop_map(|t| OrgLegal {
        impressum: t[0].clone(),
        controller: t[1].clone(),
        dpo: t[2].clone(),
        purposes: t[3].clone(),
        retention: t[4].clone(),
        recipients: t[5].clone(),
        rights: t[6].clone(),
    })
}

fn reply_template() -> impl Strategy<Value = ReplyTemplate> {
    (text(), text(), text()).prop_map(|(department, name, text)| ReplyTemplate {
        department,
        name,
        text,
    })
}

fn invite_cert() -> impl Strategy<Value = InviteCert> {
    (org(), bytes(), key(), role(), text(), any::<[u64; 3]>()).prop_map(
        |(org, invite_id, invite_key, role, department, t)| InviteCert {
            v: 1,
            org,
            invite_id,
            invite_key,
            role,
            department,
            issued_at: t[0],
            invite_expires_at: t[1],
            cert_expires_at: t[2],
        },
    )
}

fn device_binding() -> impl Strategy<Value = DeviceBinding> {
    (org(), bytes(), account(), device(), key(), any::<u64>()).prop_map(
        |(org, invite_id, account, device, identity_key, bound_at)| DeviceBinding {
            v: 1,
            org,
            invite_id,
            account,
            device,
            identity_key,
            bound_at,
        },
    )
}

fn revocation_list() -> impl Strategy<Value = RevocationList> {
    (org(), any::<u64>(), vec(device(), 0..3), any::<u64>()).prop_map(
        |(org, version, revoked, updated_at)| RevocationList {
            v: 1,
            org,
            version,
            revoked,
            updated_at,
        },
    )
}

fn channel_meta() -> impl Strategy<Value = ChannelMeta> {
    let replies = prop_oneof![Just(Replies::Off), Just(Replies::Private)];
    (
        (channel(), org(), text(), text(), of(text())),
        (replies, of(text()), any::<u32>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (channel, org, handle, name, description),
                (replies, reply_department, retention_days, created_at, meta_version),
            )| ChannelMeta {
                v: 1,
                channel,
                org,
                handle,
                name,
                description,
                replies,
                reply_department,
                retention_days,
                created_at,
                meta_version,
            },
        )
}

fn post_body() -> impl Strategy<Value = PostBody> {
    (
        channel(),
        any::<u64>(),
        bytes(),
        any::<u64>(),
        text(),
        vec(attachment_ref(), 0..2),
        any::<u64>(),
    )
        .prop_map(|(channel, n, prev, posted_at, text, photos, prev_posted_at)| PostBody {
            v: 1,
            channel,
            n,
            prev,
            posted_at,
            text,
            photos,
            prev_posted_at,
        })
}

fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = frame::encode(value);
    let back: T = ciborium::from_reader(bytes.as_slice()).unwrap();
    prop_assert_eq!(&back, value);
    Ok(())
}

proptest! {
    #[test]
    fn every_request_round_trips(id in any::<u64>(), request in request()) {
        let frame = ClientFrame::new(id, request);
        let bytes = frame::encode(&frame);
        prop_assert_eq!(frame::decode_client(&bytes, 1 << 20).unwrap(), frame);
    }

    #[test]
    fn every_server_frame_round_trips(body in server_body()) {
        let frame = ServerFrame::new(body);
        let bytes = frame::encode(&frame);
        prop_assert_eq!(frame::decode_server(&bytes, 1 << 20).unwrap(), frame);
    }

    #[test]
    fn every_app_body_round_trips(msg in app_message()) {
        prop_assert_eq!(AppMessage::decode(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn audit_and_account_payloads_round_trip(entry in audit_entry(), record in audit_record(),
                                             head in audit_head(), export in account_export()) {
        round_trips(&record)?;
        round_trips(&head)?;
        round_trips(&export)?;
        round_trips(&entry)?;
        // The hashed form of an entry has its own canonical codec.
        prop_assert_eq!(AuditEntry::from_canonical_cbor(&entry.to_canonical_cbor()).unwrap(), entry);
    }

    #[test]
    fn org_objects_round_trip(profile in org_profile(), invite in invite_cert(),
                              binding in device_binding(), list in revocation_list(),
                              cert in cert()) {
        round_trips(&profile)?;
        round_trips(&invite)?;
        round_trips(&binding)?;
        round_trips(&list)?;
        round_trips(&cert)?;
    }

    #[test]
    fn channel_objects_round_trip(meta in channel_meta(), post in post_body(),
                                  epoch in any::<u32>(), nonce in bytes(), ciphertext in bytes(),
                                  org in org(), org_key in key(), channel in channel(),
                                  group in group(), secret in any::<[u8; 32]>(), handle in "[a-z]{2,12}") {
        round_trips(&meta)?;
        round_trips(&post)?;
        round_trips(&SealedBox { key_epoch: epoch, nonce, ciphertext })?;
        let invite = ChannelInvite {
            v: 1,
            handle: handle.clone(),
            org,
            org_key,
            channel,
            key_epoch: epoch,
            key: ByteBuf::from(secret.to_vec()),
        };
        prop_assert_eq!(ChannelInvite::parse(&invite.to_link()).unwrap(), invite);
        let link = GroupLink { v: 1, group, secret: ByteBuf::from(secret.to_vec()), org, handle, org_key };
        prop_assert_eq!(GroupLink::parse(&link.to_link()).unwrap(), link);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(input in vec(any::<u8>(), 0..512)) {
        let _ = frame::decode_client(&input, 1 << 20);
        let _ = frame::decode_server(&input, 1 << 20);
        let _ = AppMessage::decode(&input);
        let _ = AuditEntry::from_canonical_cbor(&input);
        let _ = ciborium::from_reader::<AccountExport, _>(input.as_slice());
        let _ = ciborium::from_reader::<OrgProfile, _>(input.as_slice());
        let text = String::from_utf8_lossy(&input);
        let _ = ChannelInvite::parse(&text);
        let _ = GroupLink::parse(&text);
        let _ = AccountId::parse(&text);
        let _ = AccountId::from_slice(&input);
    }
}

/// Variant names of `pub enum NAME` in `source`, as serde writes them
/// (`rename_all = "snake_case"` or `"kebab-case"`).
fn variants(source: &str, name: &str, separator: char) -> BTreeSet<String> {
    let start = source
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("enum {name} not found"));
    let body = &source[start..];
    let end = body.find("\n}").unwrap();
    body[..end]
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
        .map(str::trim)
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| {
            let ident: String = l.chars().take_while(char::is_ascii_alphanumeric).collect();
            let mut out = String::new();
            for (i, c) in ident.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        out.push(separator);
                    }
                    out.push(c.to_ascii_lowercase());
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

/// The externally tagged variant names that `strategy` produces in 3000
/// samples.
fn sampled_tags<T: serde::Serialize + std::fmt::Debug>(
    strategy: impl Strategy<Value = T>,
) -> BTreeSet<String> {
    let mut runner = TestRunner::deterministic();
    let mut tags = BTreeSet::new();
    for _ in 0..3000 {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        match ciborium::Value::serialized(&value).unwrap() {
            ciborium::Value::Text(tag) => {
                tags.insert(tag);
            }
            ciborium::Value::Map(entries) if entries.len() == 1 => {
                tags.insert(entries[0].0.as_text().unwrap().to_owned());
            }
            other => panic!("not an externally tagged enum: {other:?}"),
        }
    }
    tags
}

#[test]
fn every_variant_has_a_strategy() {
    let src = |file: &str| {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .unwrap()
    };
    let frame_rs = src("src/frame.rs");
    let app_rs = src("src/app.rs");
    let check = |name: &str, wanted: BTreeSet<String>, sampled: BTreeSet<String>| {
        assert!(!wanted.is_empty(), "no variants parsed for {name}");
        let missing: Vec<_> = wanted.difference(&sampled).collect();
        assert!(missing.is_empty(), "{name} variants without a round-trip strategy: {missing:?}");
    };
    check("Request", variants(&frame_rs, "Request", '_'), sampled_tags(request()));
    check("AdminAction", variants(&frame_rs, "AdminAction", '_'), sampled_tags(admin_action()));
    check("Response", variants(&frame_rs, "Response", '_'), sampled_tags(response()));
    check("Event", variants(&frame_rs, "Event", '_'), sampled_tags(event()));
    check("ServerBody", variants(&frame_rs, "ServerBody", '_'), sampled_tags(server_body()));
    check("ErrorCode", variants(&frame_rs, "ErrorCode", '_'), sampled_tags(error_code()));
    check(
        "RefusalReason",
        variants(&src("src/refusal.rs"), "RefusalReason", '_'),
        sampled_tags(refusal_reason()),
    );
    check(
        "AppBody",
        variants(&app_rs, "AppBody", '_'),
        sampled_tags(app_message().prop_map(|m| m.body)),
    );
    check("ThreadStatus", variants(&app_rs, "ThreadStatus", '-'), sampled_tags(thread_status()));
}
