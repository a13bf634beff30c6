//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay
//! test in `protocol/tests/fuzz_corpus.rs`.
//!
//! Each function takes untrusted bytes and feeds them to the *same* decoders
//! the server and the client call ([`crate::frame::decode_client`],
//! [`crate::app::AppMessage::decode`], [`crate::channel::open_post`], …). The
//! functions never panic themselves: a decoder that refuses the input is
//! [`Outcome::Rejected`], one that accepts it is [`Outcome::Accepted`], and
//! only a broken invariant (for instance a decoded value that does not
//! survive re-encoding) is an [`Err`]. The fuzz targets turn that error into a
//! panic so that libFuzzer records the input; the replay test asserts on it.
//!
//! Where a decoder sits behind a signature or an AEAD tag, random bytes never
//! get past the check. The harnesses therefore also play the part of an
//! attacker who holds the relevant key (a follower holds the channel key, a
//! sender holds the attachment key, an org admin holds the org key): they
//! sign or seal the fuzzer's bytes with fixed keys first, so that the code
//! behind the check is exercised too.

use serde_bytes::ByteBuf;

use crate::app::AppMessage;
use crate::attachment::{self, AttachmentKey};
use crate::audit::{self, AuditEntry, AuditHead, AuditRecord};
use crate::auth::DeviceSecret;
use crate::channel::{self, BoxKind, ChannelInvite, ChannelKey, ChannelMeta, PostBody};
use crate::frame;
use crate::group_link::{self, GroupLink};
use crate::ids::{
    AccountId, BackupId, BlobId, ChannelId, DeviceId, GroupId, MsgId, OrgId, decode_base32_lenient,
};
use crate::mls::{self, MlsClient};
use crate::org::{
    DeviceBinding, HoursSlot, InviteCert, InviteCode, ORG_VERSION, OrgProfile, RevocationList,
    Role, Signed, SignedKind, StaffApproval, StaffCertificate, StaffList,
};

/// What a decoder made of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// At least one decoder accepted the input (or what the harness derived
    /// from it).
    Accepted,
    /// Every decoder refused the input with a typed error.
    Rejected,
}

impl Outcome {
    fn from_ok(ok: bool) -> Self {
        if ok { Outcome::Accepted } else { Outcome::Rejected }
    }

    fn or(self, other: Outcome) -> Self {
        if self == Outcome::Accepted { self } else { other }
    }
}

/// A broken invariant: a bug, even though nothing panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of one harness run.
pub type FuzzResult = Result<Outcome, Violation>;

/// A harness: untrusted bytes in, outcome out.
pub type Harness = fn(&[u8]) -> FuzzResult;

/// Every harness by the name of its fuzz target (and corpus directory).
pub const TARGETS: &[(&str, Harness)] = &[
    ("client_frame", client_frame),
    ("server_frame", server_frame),
    ("app_message", app_message),
    ("mls_message", mls_message),
    ("mls_key_package", mls_key_package),
    ("org_code", org_code),
    ("signed_object", signed_object),
    ("staff_certificate", staff_certificate),
    ("org_profile", org_profile),
    ("revocation_list", revocation_list),
    ("channel_invite", channel_invite),
    ("channel_sealed", channel_sealed),
    ("group_link", group_link),
    ("attachment_chunk", attachment_chunk),
    ("id_parse", id_parse),
    ("audit_record", audit_record),
];

/// The harness of a fuzz target, by name.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// The frame size limit the harnesses decode with: the largest WebSocket
/// message the server accepts (256 KiB) with room to spare.
pub const FRAME_LIMIT: usize = 1 << 20;

/// Seed of the fixed org key the harnesses sign with.
pub const ORG_KEY_SEED: [u8; 32] = [0x01; 32];
/// Seed of the fixed staff device key.
pub const DEVICE_KEY_SEED: [u8; 32] = [0x02; 32];
/// The fixed invitation code (id ‖ secret) behind the fixed certificate.
pub const INVITE_CODE: [u8; 24] = [0x03; 24];
/// The fixed org.
pub const ORG: OrgId = OrgId([0x04; 16]);
/// The fixed channel.
pub const CHANNEL: ChannelId = ChannelId([0x05; 16]);
/// The fixed channel key and group link secret.
pub const CHANNEL_KEY: [u8; 32] = [0x06; 32];
/// The fixed attachment key.
pub const ATTACHMENT_KEY: [u8; 32] = [0x07; 32];
/// The fixed discussion group.
pub const GROUP: GroupId = GroupId([0x08; 16]);
/// "Now" for certificate checks (Unix ms); the fixed certificate is valid then.
pub const NOW_MS: u64 = 500_000;

fn secret(seed: &[u8; 32]) -> Result<DeviceSecret, Violation> {
    DeviceSecret::from_bytes(seed).map_err(|_| Violation("fixed key rejected".into()))
}

fn invite_code() -> Result<InviteCode, Violation> {
    InviteCode::from_bytes(&INVITE_CODE).map_err(|_| Violation("fixed code rejected".into()))
}

/// The valid staff certificate of the fixed device (a publisher of [`ORG`]).
pub fn fixed_certificate() -> Result<StaffCertificate, Violation> {
    let org_key = secret(&ORG_KEY_SEED)?;
    let device_key = secret(&DEVICE_KEY_SEED)?;
    let code = invite_code()?;
    let invite = InviteCert {
        v: ORG_VERSION,
        org: ORG,
        invite_id: ByteBuf::from(code.id.to_vec()),
        invite_key: code.invite_key().identity_key(),
        role: Role::Publisher,
        department: "presse".into(),
        issued_at: 0,
        invite_expires_at: 1_000,
        cert_expires_at: 1_000_000,
    };
    let binding = DeviceBinding {
        v: ORG_VERSION,
        org: ORG,
        invite_id: ByteBuf::from(code.id.to_vec()),
        account: AccountId([0x09; 16]),
        device: DeviceId([0x0a; 16]),
        identity_key: device_key.identity_key(),
        bound_at: 10,
    };
    let mut cert = StaffCertificate {
        invite: Signed::sign(SignedKind::Invite, &invite, &org_key),
        binding: Signed::sign(SignedKind::Binding, &binding, &code.invite_key()),
        approval: None,
    };
    cert.approval = cert.approve(&ORG, &org_key, 10).ok().map(|(_, signed)| signed);
    Ok(cert)
}

/// Checks that a decoded value re-encodes to bytes that decode to a value
/// with the very same encoding (byte comparison, so that NaN coordinates do
/// not count as a difference).
fn reencodes<T, E>(
    what: &str,
    value: &T,
    decode: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<(), Violation>
where
    T: serde::Serialize,
{
    let first = frame::encode(value);
    let again = decode(&first)
        .map_err(|_| Violation(format!("{what}: re-encoded value does not decode")))?;
    if frame::encode(&again) != first {
        return Err(Violation(format!("{what}: re-encoding is not stable")));
    }
    Ok(())
}

fn cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ()> {
    ciborium::from_reader(bytes).map_err(|_| ())
}

/// A client frame as the server's connection reads it.
pub fn client_frame(data: &[u8]) -> FuzzResult {
    // The small limit checks that the size check comes before any parsing.
    let _ = frame::decode_client(data, 64);
    match frame::decode_client(data, FRAME_LIMIT) {
        Ok(decoded) => {
            reencodes("client frame", &decoded, |b| frame::decode_client(b, FRAME_LIMIT))?;
            let _ = decoded.request.name();
            Ok(Outcome::Accepted)
        }
        Err(e) => {
            let _ = (e.request_id(), e.to_error_body());
            Ok(Outcome::Rejected)
        }
    }
}

/// A server frame as the client's connection reads it.
pub fn server_frame(data: &[u8]) -> FuzzResult {
    match frame::decode_server(data, FRAME_LIMIT) {
        Ok(decoded) => {
            reencodes("server frame", &decoded, |b| frame::decode_server(b, FRAME_LIMIT))?;
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Rejected),
    }
}

/// The application payload of an MLS message, as the client decodes it
/// after decryption.
pub fn app_message(data: &[u8]) -> FuzzResult {
    match AppMessage::decode(data) {
        Ok(msg) => {
            reencodes("app message", &msg, AppMessage::decode)?;
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Rejected),
    }
}

fn mls_client() -> Result<MlsClient, Violation> {
    Ok(MlsClient::new(&secret(&DEVICE_KEY_SEED)?, AccountId([0x09; 16]), DeviceId([0x0a; 16])))
}

/// An MLS message from the mailbox (Welcome, commit, application message)
/// processed by a client without groups, and the same bytes read as the
/// GroupInfo of a group link.
pub fn mls_message(data: &[u8]) -> FuzzResult {
    let client = mls_client()?;
    let processed = Outcome::from_ok(client.process(data).is_ok());
    let info = Outcome::from_ok(mls::group_info_data(data).is_ok());
    Ok(processed.or(info))
}

/// A claimed KeyPackage, validated as before adding its device to a group.
pub fn mls_key_package(data: &[u8]) -> FuzzResult {
    let client = mls_client()?;
    Ok(Outcome::from_ok(client.inspect_key_package(data).is_ok()))
}

/// The codes and short texts people type: invitation codes, office hours,
/// roles, handles, departments, thread statuses.
pub fn org_code(data: &[u8]) -> FuzzResult {
    let mut accepted = InviteCode::from_bytes(data).is_ok();
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Outcome::from_ok(accepted));
    };
    if let Ok(code) = InviteCode::parse(text) {
        accepted = true;
        let again = InviteCode::parse(&code.to_text())
            .map_err(|_| Violation("invite code: text form does not parse".into()))?;
        if again != code {
            return Err(Violation("invite code: text form changes the code".into()));
        }
        let _ = code.invite_key();
    }
    if let Ok(slot) = HoursSlot::parse(text) {
        accepted = true;
        if HoursSlot::parse(&slot.to_string()).ok() != Some(slot.clone()) {
            return Err(Violation("office hours: display form does not parse back".into()));
        }
    }
    accepted |= Role::parse(text).is_some();
    accepted |= crate::app::ThreadStatus::parse(text).is_some();
    accepted |= crate::org::validate_handle(text).is_ok();
    accepted |= crate::org::validate_department(text).is_ok();
    Ok(Outcome::from_ok(accepted))
}

/// Verifies `signed` with `key` and decodes it as every kind of signed object.
fn verify_all(signed: &Signed, key: &crate::auth::IdentityKey) -> bool {
    let mut ok = signed.verify::<InviteCert>(SignedKind::Invite, key).is_ok();
    ok |= signed.verify::<DeviceBinding>(SignedKind::Binding, key).is_ok();
    ok |= signed.verify::<RevocationList>(SignedKind::Revocations, key).is_ok();
    ok |= signed.verify::<OrgProfile>(SignedKind::Profile, key).is_ok();
    ok
}

/// A [`Signed`] object as it arrives in a frame (raw), and its content as
/// signed by the holder of the fixed org key (re-signed).
pub fn signed_object(data: &[u8]) -> FuzzResult {
    let org_key = secret(&ORG_KEY_SEED)?;
    let public = org_key.identity_key();
    let mut accepted = false;
    if let Ok(signed) = cbor::<Signed>(data) {
        // What the server does with an enrolment or a revocation: read
        // without checking the signature, to find the key to check with.
        accepted |= signed.decode_unverified::<InviteCert>(SignedKind::Invite).is_ok();
        accepted |= signed.decode_unverified::<RevocationList>(SignedKind::Revocations).is_ok();
        accepted |= signed.decode_unverified::<DeviceBinding>(SignedKind::Binding).is_ok();
        accepted |= verify_all(&signed, &public);
    }
    if let Ok(value) = cbor::<ciborium::Value>(data) {
        for kind in [
            SignedKind::Invite,
            SignedKind::Binding,
            SignedKind::Revocations,
            SignedKind::Profile,
            SignedKind::Approval,
            SignedKind::StaffList,
            SignedKind::KeyRotation,
            SignedKind::KeyRotationAccept,
        ] {
            let signed = Signed::sign(kind, &value, &org_key);
            let ok = match kind {
                SignedKind::Invite => signed.verify::<InviteCert>(kind, &public).is_ok(),
                SignedKind::Binding => signed.verify::<DeviceBinding>(kind, &public).is_ok(),
                SignedKind::Revocations => signed.verify::<RevocationList>(kind, &public).is_ok(),
                SignedKind::Profile => signed.verify::<OrgProfile>(kind, &public).is_ok(),
                SignedKind::Approval => signed.verify::<StaffApproval>(kind, &public).is_ok(),
                SignedKind::StaffList => StaffList::verify(&signed, &ORG, &public).is_ok(),
                SignedKind::KeyRotation | SignedKind::KeyRotationAccept => {
                    signed.verify::<crate::org_rotation::OrgKeyRotation>(kind, &public).is_ok()
                }
            };
            accepted |= ok;
        }
    }
    Ok(Outcome::from_ok(accepted))
}

/// A published staff certificate, verified as clients verify the directory:
/// raw, and with the invitation re-signed by the fixed org key (delegating
/// to the fixed invite key) and the binding re-signed by that invite key, so
/// that the checks behind the signatures are reached.
pub fn staff_certificate(data: &[u8]) -> FuzzResult {
    let org_key = secret(&ORG_KEY_SEED)?;
    let public = org_key.identity_key();
    let Ok(cert) = cbor::<StaffCertificate>(data) else {
        return Ok(Outcome::Rejected);
    };
    let mut accepted = cert.verify(&ORG, &public, NOW_MS).is_ok();
    let invite_key = invite_code()?.invite_key();
    if let (Ok(mut invite), Ok(binding)) = (
        cert.invite.decode_unverified::<InviteCert>(SignedKind::Invite),
        cert.binding.decode_unverified::<ciborium::Value>(SignedKind::Binding),
    ) {
        invite.invite_key = invite_key.identity_key();
        let mut resigned = StaffCertificate {
            invite: Signed::sign(SignedKind::Invite, &invite, &org_key),
            binding: Signed::sign(SignedKind::Binding, &binding, &invite_key),
            approval: None,
        };
        if resigned.verify(&invite.org, &public, NOW_MS).is_ok() {
            return Err(Violation("staff certificate: accepted without approval".into()));
        }
        resigned.approval =
            resigned.approve(&invite.org, &org_key, NOW_MS).ok().map(|(_, signed)| signed);
        if let Ok(staff) = resigned.verify(&invite.org, &public, NOW_MS) {
            accepted = true;
            if staff.role != invite.role || staff.expires_at != invite.cert_expires_at {
                return Err(Violation("staff certificate: verified fields differ".into()));
            }
        }
    }
    Ok(Outcome::from_ok(accepted))
}

/// An org profile as the client reads it from the directory: the content
/// signed by the fixed org key, verified and queried.
pub fn org_profile(data: &[u8]) -> FuzzResult {
    let org_key = secret(&ORG_KEY_SEED)?;
    let Ok(value) = cbor::<ciborium::Value>(data) else {
        return Ok(Outcome::Rejected);
    };
    let signed = Signed::sign(SignedKind::Profile, &value, &org_key);
    match signed.verify::<OrgProfile>(SignedKind::Profile, &org_key.identity_key()) {
        Ok(profile) => {
            reencodes("org profile", &profile, cbor::<OrgProfile>)?;
            let _ = profile.department_of("Straßenschaden");
            // The legal pages' and templates' size checks never panic.
            let _ = profile.check_published();
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Rejected),
    }
}

/// A revocation list: read unverified as the server stores it, and signed
/// by the fixed org key and verified as the client checks it.
pub fn revocation_list(data: &[u8]) -> FuzzResult {
    let org_key = secret(&ORG_KEY_SEED)?;
    let Ok(value) = cbor::<ciborium::Value>(data) else {
        return Ok(Outcome::Rejected);
    };
    let signed = Signed::sign(SignedKind::Revocations, &value, &org_key);
    let unverified = signed.decode_unverified::<RevocationList>(SignedKind::Revocations);
    let verified =
        signed.verify::<RevocationList>(SignedKind::Revocations, &org_key.identity_key());
    if unverified.is_ok() != verified.is_ok() {
        return Err(Violation("revocation list: signature check changes decoding".into()));
    }
    match verified {
        Ok(list) => {
            reencodes("revocation list", &list, cbor::<RevocationList>)?;
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Rejected),
    }
}

/// A channel invite link as pasted by a follower.
pub fn channel_invite(data: &[u8]) -> FuzzResult {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Outcome::Rejected);
    };
    match ChannelInvite::parse(text) {
        Ok(invite) => {
            let again = ChannelInvite::parse(&invite.to_link())
                .map_err(|_| Violation("channel invite: link form does not parse".into()))?;
            if again != invite {
                return Err(Violation("channel invite: link form changes the invite".into()));
            }
            if invite.channel_key().is_err() {
                return Err(Violation("channel invite: accepted with a bad key".into()));
            }
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Rejected),
    }
}

/// Sealed channel metadata and posts. The first byte picks the mode:
/// 0 — the rest is a sealed box (as stored by the server) opened with the
/// fixed key; 1 — the rest is the plaintext inside a box (what a follower
/// holding the key could seal); 2 — the rest is a [`PostBody`] and 3 — a
/// [`ChannelMeta`], signed by the fixed publisher and sealed, which must then
/// open and verify to the same value.
pub fn channel_sealed(data: &[u8]) -> FuzzResult {
    let key = ChannelKey::from_bytes(&CHANNEL_KEY)
        .map_err(|_| Violation("fixed channel key rejected".into()))?;
    let org_key = secret(&ORG_KEY_SEED)?.identity_key();
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(Outcome::Rejected);
    };
    let open_both = |sealed: &[u8]| {
        let post =
            channel::open_post(sealed, &key, &CHANNEL, &ORG, &org_key, &[], None, None, NOW_MS);
        let meta = channel::open_meta(sealed, &key, &CHANNEL, &org_key, &[], NOW_MS);
        Outcome::from_ok(post.is_ok() || meta.is_ok())
    };
    match mode % 4 {
        0 => {
            let _ = channel::key_epoch_of(rest);
            let _ = channel::post_hash(rest);
            let _ = channel::open(&key, &CHANNEL, BoxKind::Post, rest);
            Ok(open_both(rest))
        }
        1 => {
            let mut accepted = Outcome::Rejected;
            for kind in [BoxKind::Post, BoxKind::Meta] {
                let sealed = channel::seal(&key, 0, &CHANNEL, kind, rest)
                    .map_err(|_| Violation("channel: sealing failed".into()))?;
                accepted = accepted.or(open_both(&sealed));
            }
            Ok(accepted)
        }
        2 => {
            let Ok(body) = cbor::<PostBody>(rest) else {
                return Ok(Outcome::Rejected);
            };
            let device = secret(&DEVICE_KEY_SEED)?;
            let sealed = channel::seal_post(&body, &key, 0, &device, fixed_certificate()?)
                .map_err(|_| Violation("channel: sealing a post failed".into()))?;
            let prev: Option<[u8; 32]> = body.prev.as_slice().try_into().ok();
            let opened = channel::open_post(
                &sealed,
                &key,
                &body.channel,
                &ORG,
                &org_key,
                &[],
                Some(body.n),
                prev.as_ref(),
                NOW_MS,
            );
            match (opened, prev) {
                (Ok(post), _) if post.body == body => Ok(Outcome::Accepted),
                (Ok(_), _) => Err(Violation("channel post: opened a different post".into())),
                (Err(_), Some(_)) => {
                    Err(Violation("channel post: a signed post is refused".into()))
                }
                // A `prev` of the wrong length cannot match any chain.
                (Err(_), None) => Ok(Outcome::Rejected),
            }
        }
        _ => {
            let Ok(meta) = cbor::<ChannelMeta>(rest) else {
                return Ok(Outcome::Rejected);
            };
            let device = secret(&DEVICE_KEY_SEED)?;
            let sealed = channel::seal_meta(&meta, &key, 0, &device, fixed_certificate()?)
                .map_err(|_| Violation("channel: sealing metadata failed".into()))?;
            let opened = channel::open_meta(&sealed, &key, &meta.channel, &org_key, &[], NOW_MS);
            match opened {
                Ok(m) if m == meta => Ok(Outcome::Accepted),
                Ok(_) => Err(Violation("channel meta: opened different metadata".into())),
                Err(_) if meta.org == ORG => {
                    Err(Violation("channel meta: signed metadata is refused".into()))
                }
                // The fixed certificate is for ORG only.
                Err(_) => Ok(Outcome::Rejected),
            }
        }
    }
}

/// A group join link as pasted by a citizen, and a sealed GroupInfo as the
/// server hands it out: opened with the fixed secret raw, and sealed with it
/// first (what a group member could upload).
pub fn group_link(data: &[u8]) -> FuzzResult {
    let mut accepted = Outcome::Rejected;
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(link) = GroupLink::parse(text)
    {
        let again = GroupLink::parse(&link.to_link())
            .map_err(|_| Violation("group link: link form does not parse".into()))?;
        if again != link {
            return Err(Violation("group link: link form changes the link".into()));
        }
        let _ = group_link::join_token(&link.secret);
        accepted = Outcome::Accepted;
    }
    if group_link::open_group_info(&CHANNEL_KEY, &GROUP, data).is_ok() {
        accepted = Outcome::Accepted;
    }
    let sealed = group_link::seal_group_info(&CHANNEL_KEY, &GROUP, data)
        .map_err(|_| Violation("group link: sealing failed".into()))?;
    let info = group_link::open_group_info(&CHANNEL_KEY, &GROUP, &sealed)
        .map_err(|_| Violation("group link: sealed info does not open".into()))?;
    if info != data {
        return Err(Violation("group link: opened different info".into()));
    }
    // The joiner reads the app data before joining.
    if mls::group_info_data(&info).is_ok() {
        accepted = Outcome::Accepted;
    }
    Ok(accepted)
}

/// Encrypts `pieces` as STREAM chunks under `key` exactly as attachments
/// are encrypted, without any of the framing checks of the real encryptor:
/// what a malicious sender holding the key could upload.
fn stream_encrypt(key: &[u8; 32], pieces: &[Vec<u8>]) -> Result<Vec<u8>, Violation> {
    use chacha20poly1305::aead::generic_array::GenericArray;
    use chacha20poly1305::aead::stream::EncryptorBE32;
    use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit};
    let failed = || Violation("attachment: stream encryption failed".into());
    // The nonce prefix of attachments is seven zero bytes (see attachment.rs).
    let mut stream = EncryptorBE32::from_aead(
        ChaCha20Poly1305::new(Key::from_slice(key)),
        &GenericArray::from([0u8; 7]),
    );
    let mut out = Vec::new();
    let Some((last, init)) = pieces.split_last() else {
        return Ok(out);
    };
    for piece in init {
        let mut buf = piece.clone();
        stream.encrypt_next_in_place(&[], &mut buf).map_err(|_| failed())?;
        out.extend_from_slice(&buf);
    }
    let mut buf = last.clone();
    stream.encrypt_last_in_place(&[], &mut buf).map_err(|_| failed())?;
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Attachment decryption with the fixed key. The first byte picks the mode:
/// 0 — the rest is a ciphertext; 1 — the rest describes chunk plaintexts
/// (1 to 3 chunks: a count byte, the last chunk's length from two bytes, then
/// the bytes written at the start of each chunk, zero padding elsewhere),
/// encrypted correctly, so that the length header and padding checks behind
/// the tag are reached; a decryption that succeeds must be the one canonical
/// encryption of its content; 2 — the rest is content, which must survive
/// encryption and decryption.
pub fn attachment_chunk(data: &[u8]) -> FuzzResult {
    let key = AttachmentKey::from_bytes(&ATTACHMENT_KEY)
        .map_err(|_| Violation("fixed attachment key rejected".into()))?;
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(Outcome::Rejected);
    };
    match mode % 3 {
        0 => Ok(Outcome::from_ok(attachment::decrypt_all(&key, rest).is_ok())),
        1 => {
            let [count, hi, lo, tail @ ..] = rest else {
                return Ok(Outcome::Rejected);
            };
            let chunks = usize::from(count % 3) + 1;
            let last_len =
                1 + usize::from(u16::from_be_bytes([*hi, *lo])) % attachment::CHUNK_PLAIN;
            let per_chunk = tail.len().div_ceil(chunks).max(1);
            let mut pieces = Vec::with_capacity(chunks);
            for i in 0..chunks {
                let len = if i + 1 == chunks { last_len } else { attachment::CHUNK_PLAIN };
                let mut piece = vec![0u8; len];
                let src = tail.chunks(per_chunk).nth(i).unwrap_or(&[]);
                let n = src.len().min(len);
                piece[..n].copy_from_slice(&src[..n]);
                pieces.push(piece);
            }
            let ciphertext = stream_encrypt(&ATTACHMENT_KEY, &pieces)?;
            match attachment::decrypt_all(&key, &ciphertext) {
                Ok(content) => {
                    let (again, _) = attachment::encrypt_all_with_key(&key, &content)
                        .map_err(|_| Violation("attachment: decrypted content too large".into()))?;
                    if again != ciphertext {
                        return Err(Violation(
                            "attachment: a non-canonical ciphertext decrypts".into(),
                        ));
                    }
                    Ok(Outcome::Accepted)
                }
                Err(_) => Ok(Outcome::Rejected),
            }
        }
        _ => {
            let (ciphertext, _) = attachment::encrypt_all_with_key(&key, rest)
                .map_err(|_| Violation("attachment: encrypting small content failed".into()))?;
            let content = attachment::decrypt_all(&key, &ciphertext)
                .map_err(|_| Violation("attachment: own ciphertext does not decrypt".into()))?;
            if content != rest {
                return Err(Violation("attachment: decrypted different content".into()));
            }
            Ok(Outcome::Accepted)
        }
    }
}

/// Every id type, from raw bytes and from its text form.
pub fn id_parse(data: &[u8]) -> FuzzResult {
    fn check<T: std::str::FromStr + std::fmt::Display + PartialEq>(
        text: &str,
    ) -> Result<bool, Violation> {
        match text.parse::<T>() {
            Ok(id) => match id.to_string().parse::<T>() {
                Ok(again) if again == id => Ok(true),
                _ => Err(Violation("id: text form does not parse back".into())),
            },
            Err(_) => Ok(false),
        }
    }
    let mut accepted = AccountId::from_slice(data).is_ok()
        | DeviceId::from_slice(data).is_ok()
        | GroupId::from_slice(data).is_ok()
        | MsgId::from_slice(data).is_ok()
        | OrgId::from_slice(data).is_ok()
        | BlobId::from_slice(data).is_ok()
        | ChannelId::from_slice(data).is_ok()
        | BackupId::from_slice(data).is_ok();
    if let Ok(text) = std::str::from_utf8(data) {
        accepted |= decode_base32_lenient(text).is_some();
        accepted |= check::<AccountId>(text)?;
        accepted |= check::<DeviceId>(text)?;
        accepted |= check::<GroupId>(text)?;
        accepted |= check::<MsgId>(text)?;
        accepted |= check::<OrgId>(text)?;
        accepted |= check::<BlobId>(text)?;
        accepted |= check::<ChannelId>(text)?;
        accepted |= check::<BackupId>(text)?;
    }
    Ok(Outcome::from_ok(accepted))
}

/// A page of the audit log as `admin audit --verify` receives it.
#[derive(serde::Deserialize)]
struct AuditPage {
    records: Vec<AuditRecord>,
    head: Option<AuditHead>,
    anchor: Option<AuditHead>,
}

/// Audit log pages as `admin audit --verify` checks them (with and without
/// a pinned head), and single entries through the canonical decoder. An
/// entry that decodes must seal into a record that verifies.
pub fn audit_record(data: &[u8]) -> FuzzResult {
    let mut accepted = false;
    if let Ok(page) = cbor::<AuditPage>(data) {
        let verified =
            audit::verify_chain(&page.records, page.anchor.as_ref(), page.head.as_ref(), None);
        let _ = audit::verify_chain(
            &page.records,
            page.anchor.as_ref(),
            page.head.as_ref(),
            page.head.as_ref().or(page.anchor.as_ref()),
        );
        accepted |= verified.is_ok();
        for record in &page.records {
            accepted |= canonical_entry(&record.entry)?;
        }
    }
    accepted |= canonical_entry(data)?;
    Ok(Outcome::from_ok(accepted))
}

fn canonical_entry(bytes: &[u8]) -> Result<bool, Violation> {
    let Ok(entry) = AuditEntry::from_canonical_cbor(bytes) else {
        return Ok(false);
    };
    if entry.seq >= 1 {
        let anchor = (entry.seq > 1)
            .then(|| AuditHead { seq: entry.seq - 1, hash: ByteBuf::from(vec![0u8; 32]) });
        let record = audit::seal(&entry, &[0u8; 32]);
        let head = AuditHead { seq: entry.seq, hash: record.hash.clone() };
        if audit::verify_chain(&[record], anchor.as_ref(), Some(&head), None).is_err() {
            return Err(Violation("audit: a sealed entry does not verify".into()));
        }
    }
    Ok(true)
}
