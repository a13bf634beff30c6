//! The MLS (RFC 9420) client state machine, built on OpenMLS.
//!
//! [`MlsClient`] owns everything a device needs to take part in MLS groups:
//! the OpenMLS crypto provider, its in-memory key store (group states, epoch
//! secrets, private KeyPackage keys) and the device's signature key. Like the
//! rest of this crate it does no I/O: the caller hands it bytes from the
//! server and gets back bytes to send, and persists [`MlsClient::export_state`]
//! wherever it keeps its files.
//!
//! Choices made here, once for every client:
//!
//! * Ciphersuite [`CIPHERSUITE`] (0x0003: X25519, ChaCha20-Poly1305, SHA-256,
//!   Ed25519) only. KeyPackages and Welcomes of any other suite are refused.
//! * The device's Ed25519 identity key ([`DeviceSecret`]) *is* its MLS
//!   signature key, and its basic credential's identity is
//!   `account_id (16 bytes) || device_id (16 bytes)`. So a member's leaf names
//!   the account and device it belongs to, and its signature key can be
//!   compared with the server directory's [`IdentityKey`].
//! * Groups carry the ratchet-tree extension, so a Welcome is self-contained.
//! * Wire format policy: pure ciphertext, for application *and* handshake
//!   messages. The delivery service needs nothing from a commit beyond what
//!   the `Commit` request states in the clear (epoch, added and removed
//!   devices), so nothing more is shown to it.
//! * Application messages of the last [`MAX_PAST_EPOCHS`] epochs can still be
//!   decrypted: the server orders commits but stores application messages in
//!   arrival order, so a message sent just before a commit may arrive after
//!   it. This trades a few epochs of forward secrecy for not losing messages.
//! * Discussion groups are joined by external commit (RFC 9420 §12.4.3.2)
//!   from a [`MlsClient::export_group_info`] GroupInfo. An external commit is
//!   always a `PublicMessage` (MLS requires it), so the server sees the
//!   joiner's credential in it; it learns the joining device anyway.
//! * Replays, late duplicates and messages of groups this device is not in
//!   are reported as [`Incoming::Ignored`], never as errors, so a redelivered
//!   envelope is harmless.

use std::collections::BTreeMap;
use std::fmt;

use openmls::prelude::GroupId as MlsGroupId;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Capabilities, Ciphersuite, ContentType, Credential, CredentialWithKey,
    ExtensionType, KeyPackage, KeyPackageIn, LeafNodeIndex, LeafNodeParameters, MlsGroup,
    MlsGroupCreateConfig, MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageIn, MlsMessageOut,
    PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, ProcessedMessageContent, ProtocolMessage, ProtocolVersion,
    Sender, SignatureScheme, StagedCommit, StagedWelcome,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::auth::{DeviceSecret, IdentityKey};
use crate::ids::{AccountId, DeviceId, GroupId};
use crate::membership::{MembershipStatement, SALT_LABEL, SALT_LEN};

/// The only MLS ciphersuite Stadtbote speaks (0x0003).
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many past epochs' application secrets are kept (see the module docs).
pub const MAX_PAST_EPOCHS: usize = 5;

/// Application messages are padded to a multiple of this many bytes, so
/// that ciphertext sizes reveal less about message lengths.
pub const PADDING_SIZE: usize = 128;

/// Version of the [`MlsClient::export_state`] format.
const STATE_VERSION: u16 = 1;

/// Length of a basic credential's identity: account id followed by device id.
const IDENTITY_LEN: usize = AccountId::LEN + DeviceId::LEN;

/// A GroupInfo extension of the private-use range (RFC 9420 §17.3) that
/// carries application data with an exported GroupInfo, see
/// [`MlsClient::export_group_info_with_data`].
const APP_DATA_EXTENSION: u16 = 0xF5B0;

/// A GroupInfo extension of the private-use range that carries application
/// data inside a Welcome's (encrypted, committer-signed) GroupInfo, see
/// [`MlsClient::add_members_with_welcome_data`]. 1:1 conversations name
/// their two accounts this way ([`crate::conversation`]).
const WELCOME_DATA_EXTENSION: u16 = 0xF5B1;

/// Errors of the MLS layer. Deliberately coarse: callers learn what kind of
/// input was refused, not which cryptographic check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MlsError {
    /// The bytes are not a well-formed MLS message or KeyPackage.
    #[error("malformed MLS data")]
    Malformed,
    /// A KeyPackage failed validation, uses another ciphersuite or carries a
    /// credential that is not a Stadtbote device credential.
    #[error("invalid key package")]
    InvalidKeyPackage,
    /// A member's credential is not a Stadtbote device credential.
    #[error("invalid member credential")]
    InvalidCredential,
    /// A message or Welcome failed decryption or verification.
    #[error("MLS message rejected")]
    Rejected,
    /// No group with this id exists on this device.
    #[error("unknown group")]
    UnknownGroup,
    /// A group with this id already exists on this device.
    #[error("group already exists")]
    GroupExists,
    /// The device is no longer a member of this group.
    #[error("not a member of the group")]
    NotAMember,
    /// The group has a pending commit that must be merged or cleared first,
    /// or has none where one was expected.
    #[error("pending commit state does not allow this")]
    PendingCommit,
    /// Nothing to do: no devices were given to add or remove.
    #[error("no members to add or remove")]
    NothingToCommit,
    /// Saved state could not be read back.
    #[error("corrupt MLS state")]
    CorruptState,
    /// A member's commit does not make the membership change it declared
    /// to the server (its authenticated data, see [`crate::membership`]):
    /// the server's member list would differ from the group. Refused.
    #[error("a commit's declared membership change differs from what it does")]
    MembershipMismatch,
    /// An internal failure of the MLS library or its key store.
    #[error("internal MLS error")]
    Internal,
}

/// A member of a group as named by its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    /// The member's account.
    pub account: AccountId,
    /// The member device.
    pub device: DeviceId,
    /// The device's signature key, which is its identity key.
    pub identity_key: IdentityKey,
}

/// A validated KeyPackage's owner and kind, see [`MlsClient::inspect_key_package`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPackageInfo {
    /// Who the package claims to belong to, and its signature key.
    pub member: Member,
    /// Whether it carries the last-resort extension.
    pub last_resort: bool,
}

/// A commit created by this device and left pending until the server has
/// ordered it: call [`MlsClient::merge_pending`] once the server accepted it
/// or [`MlsClient::clear_pending`] when it was refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Commit {
    /// The TLS-encoded `MlsMessage` holding the commit.
    pub commit: Vec<u8>,
    /// The TLS-encoded `MlsMessage` holding the Welcome, if devices are added.
    pub welcome: Option<Vec<u8>>,
    /// Devices the commit adds.
    pub added: Vec<DeviceId>,
    /// Devices the commit removes.
    pub removed: Vec<DeviceId>,
    /// The group's epoch when the commit was created (the `epoch` of the
    /// `Commit` request).
    pub epoch_before: u64,
    /// The salt of the commit's membership statement (an exporter secret of
    /// `epoch_before`, see [`crate::membership`]).
    pub salt: [u8; SALT_LEN],
}

impl Commit {
    /// The `commit` request for this commit in `group`: its adds and
    /// removes with the membership statement signed by `secret` (this
    /// device's identity key), and `create` for a group's first commit.
    /// `None` only when a list is too long to be stated.
    pub fn request(
        &self,
        group: GroupId,
        secret: &DeviceSecret,
        create: Option<crate::membership::GroupCreation>,
    ) -> Option<crate::frame::Request> {
        let statement = self.statement(group).prove(secret, &self.commit)?;
        Some(crate::frame::Request::Commit {
            group,
            epoch: self.epoch_before,
            commit: ByteBuf::from(self.commit.clone()),
            add: self.added.clone(),
            remove: self.removed.clone(),
            welcome: self.welcome.clone().map(ByteBuf::from),
            statement: Some(statement),
            create,
        })
    }

    /// The membership statement this commit carries (and the server is told).
    pub fn statement(&self, group: GroupId) -> MembershipStatement {
        MembershipStatement {
            group,
            epoch: self.epoch_before,
            salt: self.salt,
            add: self.added.clone(),
            remove: self.removed.clone(),
        }
    }
}

impl fmt::Debug for Commit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commit")
            .field("commit_len", &self.commit.len())
            .field("welcome_len", &self.welcome.as_ref().map(Vec::len))
            .field("added", &self.added)
            .field("removed", &self.removed)
            .field("epoch_before", &self.epoch_before)
            .finish()
    }
}

/// Why an incoming message was skipped without changing any state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// The message belongs to a group this device does not have.
    UnknownGroup,
    /// A Welcome for which this device holds no matching KeyPackage (already
    /// used, or meant for another device).
    NotForUs,
    /// A Welcome for a group this device is already in at the same or a
    /// later epoch (a replay or a duplicate).
    AlreadyJoined,
    /// A commit or proposal of an epoch this device has already left, or an
    /// application message older than the retained epochs.
    OldEpoch,
    /// A message of an epoch this device has not reached: a commit is missing.
    FutureEpoch,
    /// An application message that was already decrypted once.
    Duplicate,
    /// A message this device sent itself.
    OwnMessage,
    /// A standalone proposal; Stadtbote clients only send commits.
    Proposal,
    /// A message of a group this device has been removed from.
    Inactive,
    /// A kind of MLS message that is not delivered through mailboxes
    /// (KeyPackage, GroupInfo).
    Unexpected,
}

/// The result of [`MlsClient::process`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A Welcome was accepted: this device is now a member of `group`.
    Welcome {
        /// The group joined.
        group: GroupId,
        /// Its epoch.
        epoch: u64,
        /// All members, this device included.
        members: Vec<Member>,
        /// The application data the adding member put into the Welcome's
        /// GroupInfo ([`MlsClient::add_members_with_welcome_data`]), checked
        /// with the GroupInfo's signature; `None` when it has none.
        welcome_data: Option<Vec<u8>>,
    },
    /// An application message.
    Application {
        /// The group it was sent in.
        group: GroupId,
        /// The sender's account, from its credential.
        sender_account: AccountId,
        /// The sender's device.
        sender_device: DeviceId,
        /// The decrypted payload.
        plaintext: Vec<u8>,
    },
    /// Another member's commit was verified and merged.
    CommitApplied {
        /// The group.
        group: GroupId,
        /// The epoch after the commit.
        epoch: u64,
        /// Whether the commit removed this device from the group.
        removed: bool,
        /// Devices the commit added.
        added: Vec<Member>,
    },
    /// Nothing changed; see the reason.
    Ignored {
        /// The group, when the message named one.
        group: Option<GroupId>,
        /// Why.
        reason: IgnoreReason,
    },
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incoming::Welcome { group, epoch, members, welcome_data } => f
                .debug_struct("Welcome")
                .field("group", group)
                .field("epoch", epoch)
                .field("members", &members.len())
                .field("welcome_data", &welcome_data.as_ref().map(Vec::len))
                .finish(),
            // The plaintext is the user's message: never print it.
            Incoming::Application { group, sender_account, sender_device, plaintext } => f
                .debug_struct("Application")
                .field("group", group)
                .field("sender_account", sender_account)
                .field("sender_device", sender_device)
                .field("plaintext_len", &plaintext.len())
                .finish(),
            Incoming::CommitApplied { group, epoch, removed, added } => f
                .debug_struct("CommitApplied")
                .field("group", group)
                .field("epoch", epoch)
                .field("removed", removed)
                .field("added", &added.len())
                .finish(),
            Incoming::Ignored { group, reason } => {
                f.debug_struct("Ignored").field("group", group).field("reason", reason).finish()
            }
        }
    }
}

/// The on-disk form of the key store: every key/value pair of OpenMLS's
/// memory storage, sorted by key so the same state always encodes the same.
#[derive(Serialize, Deserialize)]
struct StateFile {
    v: u16,
    values: Vec<(ByteBuf, ByteBuf)>,
}

/// One device's MLS state: provider, key store and signer. No I/O.
pub struct MlsClient {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    account: AccountId,
    device: DeviceId,
    identity_key: IdentityKey,
}

impl fmt::Debug for MlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The provider's key store holds private keys; show only who we are.
        f.debug_struct("MlsClient")
            .field("account", &self.account)
            .field("device", &self.device)
            .field("identity_key", &self.identity_key)
            .finish_non_exhaustive()
    }
}

impl MlsClient {
    /// A client with an empty key store for this device.
    pub fn new(secret: &DeviceSecret, account: AccountId, device: DeviceId) -> Self {
        let identity_key = secret.identity_key();
        let private = secret.to_bytes();
        // OpenMLS's basic-credential signer takes the 32-byte Ed25519 seed,
        // the same bytes `DeviceSecret` stores; it keeps them in a zeroizing
        // buffer. The signer is never written to the key store, so the
        // exported state holds no copy of the identity key.
        let signer = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            private.to_vec(),
            identity_key.0.to_vec(),
        );
        Self { provider: OpenMlsRustCrypto::default(), signer, account, device, identity_key }
    }

    /// Restores a client from [`MlsClient::export_state`] output.
    pub fn import_state(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        bytes: &[u8],
    ) -> Result<Self, MlsError> {
        let file: StateFile = ciborium::from_reader(bytes).map_err(|_| MlsError::CorruptState)?;
        if file.v != STATE_VERSION {
            return Err(MlsError::CorruptState);
        }
        let client = Self::new(secret, account, device);
        {
            let mut values =
                client.provider.storage().values.write().map_err(|_| MlsError::Internal)?;
            for (key, value) in file.values {
                values.insert(key.into_vec(), value.into_vec());
            }
        }
        Ok(client)
    }

    /// Serializes the whole key store (CBOR). It contains private keys: the
    /// caller must store it as carefully as the device secret.
    pub fn export_state(&self) -> Result<Vec<u8>, MlsError> {
        let values = self.provider.storage().values.read().map_err(|_| MlsError::Internal)?;
        let sorted: BTreeMap<&Vec<u8>, &Vec<u8>> = values.iter().collect();
        let file = StateFile {
            v: STATE_VERSION,
            values: sorted
                .into_iter()
                .map(|(k, v)| (ByteBuf::from(k.clone()), ByteBuf::from(v.clone())))
                .collect(),
        };
        let mut out = Vec::new();
        ciborium::into_writer(&file, &mut out).map_err(|_| MlsError::Internal)?;
        Ok(out)
    }

    /// Restores a client from its key store's entries (OpenMLS storage key
    /// → value), as a caller that persists them one by one has kept them
    /// (see [`MlsClient::read_key_store`]).
    pub fn from_key_store(
        secret: &DeviceSecret,
        account: AccountId,
        device: DeviceId,
        entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Self, MlsError> {
        let client = Self::new(secret, account, device);
        {
            let mut values =
                client.provider.storage().values.write().map_err(|_| MlsError::Internal)?;
            values.extend(entries);
        }
        Ok(client)
    }

    /// Lets `read` look at the key store's entries (OpenMLS storage key →
    /// value) without copying them, so that a caller can persist only what
    /// changed since it last looked. The entries hold private keys.
    pub fn read_key_store<R>(
        &self,
        read: impl FnOnce(&std::collections::HashMap<Vec<u8>, Vec<u8>>) -> R,
    ) -> Result<R, MlsError> {
        let values = self.provider.storage().values.read().map_err(|_| MlsError::Internal)?;
        Ok(read(&values))
    }

    /// This device's account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// This device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    fn credential_with_key(&self) -> CredentialWithKey {
        let identity = [self.account.as_bytes().as_slice(), self.device.as_bytes()].concat();
        CredentialWithKey {
            credential: BasicCredential::new(identity).into(),
            signature_key: self.identity_key.0.to_vec().into(),
        }
    }

    fn join_config() -> MlsGroupJoinConfig {
        MlsGroupJoinConfig::builder()
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .padding_size(PADDING_SIZE)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .build()
    }

    fn create_config() -> MlsGroupCreateConfig {
        MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .padding_size(PADDING_SIZE)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .build()
    }

    /// What our leaves announce: only our ciphersuite, and the last-resort
    /// extension (a KeyPackage may only carry extensions its leaf lists).
    fn capabilities() -> Capabilities {
        Capabilities::new(
            None,
            Some(&[CIPHERSUITE]),
            Some(&[ExtensionType::LastResort]),
            None,
            None,
        )
    }

    fn build_key_package(&self, last_resort: bool) -> Result<Vec<u8>, MlsError> {
        let mut builder = KeyPackage::builder().leaf_node_capabilities(Self::capabilities());
        if last_resort {
            builder = builder.mark_as_last_resort();
        }
        let bundle = builder
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential_with_key())
            .map_err(|_| MlsError::Internal)?;
        bundle.key_package().tls_serialize_detached().map_err(|_| MlsError::Internal)
    }

    /// Creates `n` one-time KeyPackages (TLS-encoded) and keeps their private
    /// keys in the key store until a Welcome uses them.
    pub fn generate_key_packages(&self, n: usize) -> Result<Vec<Vec<u8>>, MlsError> {
        (0..n).map(|_| self.build_key_package(false)).collect()
    }

    /// Creates a last-resort KeyPackage (TLS-encoded): its private keys stay
    /// in the key store after use, so it can be handed out repeatedly.
    pub fn generate_last_resort(&self) -> Result<Vec<u8>, MlsError> {
        self.build_key_package(true)
    }

    /// Validates a TLS-encoded KeyPackage (signatures, lifetime, ciphersuite)
    /// and reads its owner from the credential.
    pub fn inspect_key_package(&self, bytes: &[u8]) -> Result<KeyPackageInfo, MlsError> {
        let key_package = self.validate_key_package(bytes)?;
        let member = member_of(
            key_package.leaf_node().credential(),
            key_package.leaf_node().signature_key().as_slice(),
        )
        .map_err(|_| MlsError::InvalidKeyPackage)?;
        Ok(KeyPackageInfo { member, last_resort: key_package.last_resort() })
    }

    fn validate_key_package(&self, bytes: &[u8]) -> Result<KeyPackage, MlsError> {
        let key_package_in =
            KeyPackageIn::tls_deserialize_exact(bytes).map_err(|_| MlsError::Malformed)?;
        let key_package = key_package_in
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|_| MlsError::InvalidKeyPackage)?;
        if key_package.ciphersuite() != CIPHERSUITE {
            return Err(MlsError::InvalidKeyPackage);
        }
        Ok(key_package)
    }

    /// Validates KeyPackages to add (see [`MlsClient::add_members`]) and
    /// returns them with the device each one adds, in order.
    fn validate_additions(
        &self,
        key_packages: &[Vec<u8>],
    ) -> Result<(Vec<KeyPackage>, Vec<DeviceId>), MlsError> {
        let mut validated = Vec::with_capacity(key_packages.len());
        let mut added = Vec::with_capacity(key_packages.len());
        for bytes in key_packages {
            let key_package = self.validate_key_package(bytes)?;
            let member = member_of(
                key_package.leaf_node().credential(),
                key_package.leaf_node().signature_key().as_slice(),
            )
            .map_err(|_| MlsError::InvalidKeyPackage)?;
            added.push(member.device);
            validated.push(key_package);
        }
        Ok((validated, added))
    }

    fn load(&self, group: &GroupId) -> Result<MlsGroup, MlsError> {
        MlsGroup::load(self.provider.storage(), &mls_group_id(group))
            .map_err(|_| MlsError::Internal)?
            .ok_or(MlsError::UnknownGroup)
    }

    fn try_load(&self, group: &MlsGroupId) -> Result<Option<MlsGroup>, MlsError> {
        MlsGroup::load(self.provider.storage(), group).map_err(|_| MlsError::Internal)
    }

    /// Creates a group with this device as its only member, at epoch 0.
    pub fn create_group(&self, group: GroupId) -> Result<(), MlsError> {
        if self.has_group(&group)? {
            return Err(MlsError::GroupExists);
        }
        MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &Self::create_config(),
            mls_group_id(&group),
            self.credential_with_key(),
        )
        .map_err(|_| MlsError::Internal)?;
        Ok(())
    }

    /// Whether this device holds state for `group` (active or not).
    pub fn has_group(&self, group: &GroupId) -> Result<bool, MlsError> {
        Ok(self.try_load(&mls_group_id(group))?.is_some())
    }

    /// Whether this device is still a member of `group` (it has not
    /// processed a commit removing it).
    pub fn is_active(&self, group: &GroupId) -> Result<bool, MlsError> {
        Ok(self.load(group)?.is_active())
    }

    /// Whether `group` has a commit of ours waiting for the server's verdict.
    pub fn has_pending_commit(&self, group: &GroupId) -> Result<bool, MlsError> {
        Ok(self.load(group)?.pending_commit().is_some())
    }

    /// The group's current epoch.
    pub fn epoch(&self, group: &GroupId) -> Result<u64, MlsError> {
        Ok(self.load(group)?.epoch().as_u64())
    }

    /// The group's members as named by their credentials. A member whose
    /// credential is not a Stadtbote device credential is an error.
    pub fn members(&self, group: &GroupId) -> Result<Vec<Member>, MlsError> {
        let mls_group = self.load(group)?;
        members_of(mls_group.members().map(|m| (m.credential, m.signature_key)))
    }

    /// Creates a commit adding one device per KeyPackage. Each package is
    /// validated (signatures, lifetime, ciphersuite, credential) first; a
    /// single bad package fails the whole call without changing the group.
    /// The commit is left pending.
    pub fn add_members(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
    ) -> Result<Commit, MlsError> {
        self.add(group, key_packages, None)
    }

    /// Like [`MlsClient::add_members`], with `data` in a private-use
    /// extension of the Welcome's GroupInfo: encrypted to the joiners and
    /// signed by this device, so a joiner can trust it as much as the
    /// Welcome itself ([`Incoming::Welcome::welcome_data`]); the server sees
    /// nothing of it. 1:1 conversations mark themselves this way.
    pub fn add_members_with_welcome_data(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
        data: &[u8],
    ) -> Result<Commit, MlsError> {
        self.add(group, key_packages, Some(data))
    }

    /// The two add operations above: the same checks, membership statement
    /// and result; only the Welcome's GroupInfo differs (with `welcome_data`
    /// it carries the private-use extension).
    fn add(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
        welcome_data: Option<&[u8]>,
    ) -> Result<Commit, MlsError> {
        use openmls::prelude::{Extension, UnknownExtension};
        if key_packages.is_empty() {
            return Err(MlsError::NothingToCommit);
        }
        let mut mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let (validated, added) = self.validate_additions(key_packages)?;
        let epoch_before = mls_group.epoch().as_u64();
        let salt = declare(&mut mls_group, self.provider.crypto(), group, &added, &[])?;
        let (commit, welcome) = match welcome_data {
            None => {
                let (commit, welcome, _group_info) = mls_group
                    .add_members(&self.provider, &self.signer, &validated)
                    .map_err(|_| MlsError::InvalidKeyPackage)?;
                (serialize(&commit)?, serialize(&welcome)?)
            }
            Some(data) => {
                let extension =
                    Extension::Unknown(WELCOME_DATA_EXTENSION, UnknownExtension(data.to_vec()));
                let bundle = mls_group
                    .commit_builder()
                    .propose_adds(validated)
                    .load_psks(self.provider.storage())
                    .map_err(|_| MlsError::Internal)?
                    .create_group_info_with_extensions([extension])
                    .map_err(|_| MlsError::Internal)?
                    .build(self.provider.rand(), self.provider.crypto(), &self.signer, |_| true)
                    .map_err(|_| MlsError::InvalidKeyPackage)?
                    .stage_commit(&self.provider)
                    .map_err(|_| MlsError::Internal)?;
                let welcome = bundle.to_welcome_msg().ok_or(MlsError::Internal)?;
                let (commit, _, _) = bundle.into_contents();
                (serialize(&commit)?, serialize(&welcome)?)
            }
        };
        Ok(Commit {
            commit,
            welcome: Some(welcome),
            added,
            removed: Vec::new(),
            epoch_before,
            salt,
        })
    }

    /// Creates a commit removing these devices. Every device must be a
    /// member; this device cannot remove itself. The commit is left pending.
    pub fn remove_members(
        &self,
        group: &GroupId,
        devices: &[DeviceId],
    ) -> Result<Commit, MlsError> {
        if devices.is_empty() {
            return Err(MlsError::NothingToCommit);
        }
        let mut mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let mut indices: Vec<LeafNodeIndex> = Vec::with_capacity(devices.len());
        for device in devices {
            if *device == self.device {
                return Err(MlsError::NotAMember);
            }
            indices.push(leaf_index_of(&mls_group, device)?);
        }
        let epoch_before = mls_group.epoch().as_u64();
        let salt = declare(&mut mls_group, self.provider.crypto(), group, &[], devices)?;
        let (commit, welcome, _group_info) = mls_group
            .remove_members(&self.provider, &self.signer, &indices)
            .map_err(|_| MlsError::Internal)?;
        Ok(Commit {
            commit: serialize(&commit)?,
            welcome: welcome.as_ref().map(serialize).transpose()?,
            added: Vec::new(),
            removed: devices.to_vec(),
            epoch_before,
            salt,
        })
    }

    /// Creates one commit that adds a device per KeyPackage and removes
    /// `remove`, so that a group's membership changes in a single epoch
    /// (report threads replace a department's devices this way). Packages
    /// are validated as in [`MlsClient::add_members`]; this device cannot
    /// remove itself; a device may not be both added and removed. Either
    /// list may be empty, not both. The commit is left pending.
    pub fn change_members(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
        remove: &[DeviceId],
    ) -> Result<Commit, MlsError> {
        self.change_members_declaring(group, key_packages, remove, None)
    }

    /// A commit like [`MlsClient::change_members`] whose membership
    /// statement declares `declared` (adds, removes) instead of what it
    /// does. Only for tests that play a dishonest member: every honest
    /// path declares the truth.
    #[doc(hidden)]
    pub fn misdeclared_change(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
        remove: &[DeviceId],
        declared: (Vec<DeviceId>, Vec<DeviceId>),
    ) -> Result<Commit, MlsError> {
        self.change_members_declaring(group, key_packages, remove, Some(declared))
    }

    fn change_members_declaring(
        &self,
        group: &GroupId,
        key_packages: &[Vec<u8>],
        remove: &[DeviceId],
        declared: Option<(Vec<DeviceId>, Vec<DeviceId>)>,
    ) -> Result<Commit, MlsError> {
        if key_packages.is_empty() && remove.is_empty() {
            // Only a dishonest test member declares changes of an empty commit.
            let Some((add, removed)) = declared else {
                return Err(MlsError::NothingToCommit);
            };
            let mut mls_group = self.load(group)?;
            ensure_operational(&mls_group)?;
            let epoch_before = mls_group.epoch().as_u64();
            let salt = declare(&mut mls_group, self.provider.crypto(), group, &add, &removed)?;
            let (commit, _, _) = mls_group
                .commit_to_pending_proposals(&self.provider, &self.signer)
                .map_err(|_| MlsError::Internal)?;
            return Ok(Commit {
                commit: serialize(&commit)?,
                welcome: None,
                added: add,
                removed,
                epoch_before,
                salt,
            });
        }
        let mut mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let (validated, added) = self.validate_additions(key_packages)?;
        let mut indices: Vec<LeafNodeIndex> = Vec::with_capacity(remove.len());
        for device in remove {
            if *device == self.device || added.contains(device) {
                return Err(MlsError::NotAMember);
            }
            indices.push(leaf_index_of(&mls_group, device)?);
        }
        let epoch_before = mls_group.epoch().as_u64();
        let (declared_add, declared_remove) =
            declared.unwrap_or_else(|| (added.clone(), remove.to_vec()));
        let salt = declare(
            &mut mls_group,
            self.provider.crypto(),
            group,
            &declared_add,
            &declared_remove,
        )?;
        let bundle = mls_group
            .commit_builder()
            .propose_adds(validated)
            .propose_removals(indices)
            .load_psks(self.provider.storage())
            .map_err(|_| MlsError::Internal)?
            .build(self.provider.rand(), self.provider.crypto(), &self.signer, |_| true)
            .map_err(|_| MlsError::InvalidKeyPackage)?
            .stage_commit(&self.provider)
            .map_err(|_| MlsError::Internal)?;
        let welcome = bundle.to_welcome_msg();
        let (commit, _, _) = bundle.into_contents();
        Ok(Commit {
            commit: serialize(&commit)?,
            welcome: welcome.as_ref().map(serialize).transpose()?,
            added: declared_add,
            removed: declared_remove,
            epoch_before,
            salt,
        })
    }

    /// Creates a commit without proposals (it refreshes this device's keys).
    /// A group created locally uses it to register itself with the server
    /// when there is nobody to add yet. The commit is left pending.
    pub fn commit_update(&self, group: &GroupId) -> Result<Commit, MlsError> {
        let mut mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let epoch_before = mls_group.epoch().as_u64();
        let salt = declare(&mut mls_group, self.provider.crypto(), group, &[], &[])?;
        let (commit, welcome, _group_info) = mls_group
            .commit_to_pending_proposals(&self.provider, &self.signer)
            .map_err(|_| MlsError::Internal)?;
        Ok(Commit {
            commit: serialize(&commit)?,
            welcome: welcome.as_ref().map(serialize).transpose()?,
            added: Vec::new(),
            removed: Vec::new(),
            epoch_before,
            salt,
        })
    }

    /// The group's current GroupInfo as a TLS-encoded `MlsMessage`, signed by
    /// this member and carrying the ratchet tree and the external public key,
    /// so that a device holding it can join by
    /// [`MlsClient::join_by_external_commit`] without a member online.
    pub fn export_group_info(&self, group: &GroupId) -> Result<Vec<u8>, MlsError> {
        let mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let info = mls_group
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(|_| MlsError::Internal)?;
        serialize(&info)
    }

    /// Like [`MlsClient::export_group_info`], with `data` in a private-use
    /// GroupInfo extension, covered by the member's signature. Discussion
    /// groups carry their name this way, so that a joiner learns it without
    /// a member online; read it with [`group_info_data`].
    pub fn export_group_info_with_data(
        &self,
        group: &GroupId,
        data: &[u8],
    ) -> Result<Vec<u8>, MlsError> {
        use openmls::prelude::{Extension, UnknownExtension};
        let mls_group = self.load(group)?;
        ensure_operational(&mls_group)?;
        let extension = Extension::Unknown(APP_DATA_EXTENSION, UnknownExtension(data.to_vec()));
        let info = mls_group
            .export_group_info_with_additional_extensions(
                self.provider.crypto(),
                &self.signer,
                true,
                [extension],
            )
            .map_err(|_| MlsError::Internal)?;
        serialize(&info)
    }

    /// Joins a group by external commit from a TLS-encoded GroupInfo message
    /// (see [`MlsClient::export_group_info`]). Returns the group, the commit
    /// (TLS-encoded `MlsMessage`) and the epoch it was created in (the
    /// `epoch` of the `ExternalJoin` request).
    ///
    /// OpenMLS merges an external commit as it creates it, so the group is
    /// *already joined here* when this returns: if the server refuses the
    /// commit (another commit won the epoch), the caller must
    /// [`MlsClient::delete_group`] and try again with fresher GroupInfo. A
    /// group this device holds but was removed from is replaced; an active
    /// one is [`MlsError::GroupExists`].
    pub fn join_by_external_commit(
        &self,
        group_info: &[u8],
    ) -> Result<(GroupId, Vec<u8>, u64), MlsError> {
        use openmls::prelude::ExternalCommitBuilder;
        let message =
            MlsMessageIn::tls_deserialize_exact(group_info).map_err(|_| MlsError::Malformed)?;
        let MlsMessageBodyIn::GroupInfo(info) = message.extract() else {
            return Err(MlsError::Malformed);
        };
        if info.ciphersuite() != CIPHERSUITE {
            return Err(MlsError::Rejected);
        }
        let mls_id = info.group_id().clone();
        let group = our_group_id(&mls_id).ok_or(MlsError::Rejected)?;
        let epoch_before = info.epoch().as_u64();
        if let Some(mut old) = self.try_load(&mls_id)? {
            if old.is_active() {
                return Err(MlsError::GroupExists);
            }
            // Removed earlier and invited again: the old state is useless.
            old.delete(self.provider.storage()).map_err(|_| MlsError::Internal)?;
        }
        let leaf = LeafNodeParameters::builder().with_capabilities(Self::capabilities()).build();
        let (mut mls_group, bundle) = ExternalCommitBuilder::new()
            .with_config(Self::join_config())
            .build_group(&self.provider, info, self.credential_with_key())
            .map_err(|_| MlsError::Rejected)?
            .leaf_node_parameters(leaf)
            .load_psks(self.provider.storage())
            .map_err(|_| MlsError::Internal)?
            .build(self.provider.rand(), self.provider.crypto(), &self.signer, |_| true)
            .map_err(|_| MlsError::Rejected)?
            .finalize(&self.provider)
            .map_err(|_| MlsError::Internal)?;
        // Every member must be a Stadtbote device, as for a Welcome; a
        // group that is not is left again at once.
        if members_of(mls_group.members().map(|m| (m.credential, m.signature_key))).is_err() {
            mls_group.delete(self.provider.storage()).map_err(|_| MlsError::Internal)?;
            return Err(MlsError::InvalidCredential);
        }
        let (commit, _, _) = bundle.into_contents();
        Ok((group, serialize(&commit)?, epoch_before))
    }

    /// Applies our pending commit after the server accepted it. Returns the
    /// new epoch.
    pub fn merge_pending(&self, group: &GroupId) -> Result<u64, MlsError> {
        let mut mls_group = self.load(group)?;
        if mls_group.pending_commit().is_none() {
            return Err(MlsError::PendingCommit);
        }
        mls_group.merge_pending_commit(&self.provider).map_err(|_| MlsError::Internal)?;
        Ok(mls_group.epoch().as_u64())
    }

    /// Drops our pending commit after the server refused it.
    pub fn clear_pending(&self, group: &GroupId) -> Result<(), MlsError> {
        let mut mls_group = self.load(group)?;
        mls_group.clear_pending_commit(self.provider.storage()).map_err(|_| MlsError::Internal)
    }

    /// Deletes all state of `group` from this device.
    pub fn delete_group(&self, group: &GroupId) -> Result<(), MlsError> {
        let mut mls_group = self.load(group)?;
        mls_group.delete(self.provider.storage()).map_err(|_| MlsError::Internal)
    }

    /// Encrypts an application message for `group` (TLS-encoded `MlsMessage`).
    pub fn encrypt(&self, group: &GroupId, plaintext: &[u8]) -> Result<Vec<u8>, MlsError> {
        let mut mls_group = self.load(group)?;
        if !mls_group.is_active() {
            return Err(MlsError::NotAMember);
        }
        if mls_group.pending_commit().is_some() {
            return Err(MlsError::PendingCommit);
        }
        let message = mls_group
            .create_message(&self.provider, &self.signer, plaintext)
            .map_err(|_| MlsError::Internal)?;
        serialize(&message)
    }

    /// Processes one message from the mailbox: a Welcome, a commit or an
    /// application message. Messages that cannot change anything (late
    /// duplicates, other groups, old epochs) come back as
    /// [`Incoming::Ignored`]; forged or corrupted ones are errors.
    pub fn process(&self, bytes: &[u8]) -> Result<Incoming, MlsError> {
        let message =
            MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| MlsError::Malformed)?;
        match message.extract() {
            MlsMessageBodyIn::Welcome(welcome) => self.process_welcome(welcome),
            MlsMessageBodyIn::PrivateMessage(private) => self.process_protocol(private.into()),
            MlsMessageBodyIn::PublicMessage(public) => self.process_protocol(public.into()),
            _ => Ok(Incoming::Ignored { group: None, reason: IgnoreReason::Unexpected }),
        }
    }

    fn process_welcome(&self, welcome: openmls::prelude::Welcome) -> Result<Incoming, MlsError> {
        if welcome.ciphersuite() != CIPHERSUITE {
            return Err(MlsError::Rejected);
        }
        let join_config = Self::join_config();
        let builder = match StagedWelcome::build_from_welcome(&self.provider, &join_config, welcome)
        {
            Ok(builder) => builder,
            Err(openmls::prelude::WelcomeError::NoMatchingKeyPackage)
            | Err(openmls::prelude::WelcomeError::JoinerSecretNotFound) => {
                return Ok(Incoming::Ignored { group: None, reason: IgnoreReason::NotForUs });
            }
            Err(_) => return Err(MlsError::Rejected),
        };
        let info = builder.processed_welcome().unverified_group_info();
        let mls_id = info.group_id().clone();
        let group = our_group_id(&mls_id).ok_or(MlsError::Rejected)?;
        let welcome_epoch = info.epoch().as_u64();
        // Read before the GroupInfo's signature is checked (by `build`
        // below); returned only once it was.
        let welcome_data = info.extensions().unknown(WELCOME_DATA_EXTENSION).map(|e| e.0.clone());
        let existing = self.try_load(&mls_id)?;
        if let Some(old) = &existing {
            // Refuse to roll an active group back: a replayed Welcome
            // (possible with a last-resort KeyPackage, whose keys are kept)
            // must not reset the group to an older epoch.
            if old.is_active() && old.epoch().as_u64() >= welcome_epoch {
                return Ok(Incoming::Ignored {
                    group: Some(group),
                    reason: IgnoreReason::AlreadyJoined,
                });
            }
        }
        let builder = if existing.is_some() { builder.replace_old_group() } else { builder };
        let staged = builder.build().map_err(|_| MlsError::Rejected)?;
        let members = members_of(staged.members().map(|m| (m.credential, m.signature_key)))?;
        // Our own leaf must carry our identity: otherwise the Welcome was
        // built for a KeyPackage that is not ours.
        let own = staged.own_leaf_node().ok_or(MlsError::Rejected)?;
        if member_of(own.credential(), own.signature_key().as_slice())?
            != (Member {
                account: self.account,
                device: self.device,
                identity_key: self.identity_key,
            })
        {
            return Err(MlsError::Rejected);
        }
        if let Some(mut old) = existing {
            old.delete(self.provider.storage()).map_err(|_| MlsError::Internal)?;
        }
        let mls_group = staged.into_group(&self.provider).map_err(|_| MlsError::Rejected)?;
        Ok(Incoming::Welcome { group, epoch: mls_group.epoch().as_u64(), members, welcome_data })
    }

    fn process_protocol(&self, message: ProtocolMessage) -> Result<Incoming, MlsError> {
        let mls_id = message.group_id().clone();
        let Some(group) = our_group_id(&mls_id) else {
            return Ok(Incoming::Ignored { group: None, reason: IgnoreReason::UnknownGroup });
        };
        let Some(mut mls_group) = self.try_load(&mls_id)? else {
            return Ok(Incoming::Ignored {
                group: Some(group),
                reason: IgnoreReason::UnknownGroup,
            });
        };
        if !mls_group.is_active() {
            return Ok(Incoming::Ignored { group: Some(group), reason: IgnoreReason::Inactive });
        }
        let current = mls_group.epoch().as_u64();
        let epoch = message.epoch().as_u64();
        let is_application = message.content_type() == ContentType::Application;
        if epoch > current {
            return Ok(Incoming::Ignored { group: Some(group), reason: IgnoreReason::FutureEpoch });
        }
        // Handshake messages only make sense in the current epoch;
        // application messages of recent epochs are still readable.
        if epoch < current && !is_application {
            return Ok(Incoming::Ignored { group: Some(group), reason: IgnoreReason::OldEpoch });
        }
        // The salt of a commit's membership statement is an exporter secret
        // of the epoch it was made in, which is this one (see below).
        let salt = export_salt(&mls_group, self.provider.crypto())?;
        let processed = match mls_group.process_message(&self.provider, message) {
            Ok(processed) => processed,
            Err(error) => {
                return match ignore_reason(&error) {
                    Some(reason) => Ok(Incoming::Ignored { group: Some(group), reason }),
                    None => Err(MlsError::Rejected),
                };
            }
        };
        let sender_credential = processed.credential().clone();
        // The sender's leaf as it was before this message (a commit is only
        // staged so far), to compare with a refreshed leaf below.
        let sender_before = match processed.sender() {
            Sender::Member(index) => mls_group.member_at(*index),
            _ => None,
        };
        let sender_is_member = sender_before.is_some();
        let is_external_commit = matches!(processed.sender(), Sender::NewMemberCommit);
        let aad = processed.aad().to_vec();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                if !sender_is_member {
                    return Err(MlsError::Rejected);
                }
                let (sender_account, sender_device) = identity_of(&sender_credential)?;
                Ok(Incoming::Application {
                    group,
                    sender_account,
                    sender_device,
                    plaintext: app.into_bytes(),
                })
            }
            ProcessedMessageContent::StagedCommitMessage(staged)
                if sender_before.is_none() && is_external_commit =>
            {
                // A device joining by external commit: it adds only itself,
                // and its new leaf must be a Stadtbote device credential.
                if staged.add_proposals().next().is_some()
                    || staged.remove_proposals().next().is_some()
                {
                    return Err(MlsError::Rejected);
                }
                let leaf = staged.update_path_leaf_node().ok_or(MlsError::Rejected)?;
                let joiner = member_of(leaf.credential(), leaf.signature_key().as_slice())?;
                mls_group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(|_| MlsError::Internal)?;
                Ok(Incoming::CommitApplied {
                    group,
                    epoch: mls_group.epoch().as_u64(),
                    removed: false,
                    added: vec![joiner],
                })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let Some(committer) = sender_before else {
                    return Err(MlsError::Rejected);
                };
                let committer = member_of(&committer.credential, &committer.signature_key)?;
                let added = check_staged_commit(&staged, &committer)?;
                // What the commit really does must be what its committer
                // declared to the server (bound in the authenticated data).
                let mut removed_devices = Vec::new();
                for remove in staged.remove_proposals() {
                    let leaf = mls_group
                        .member_at(remove.remove_proposal().removed())
                        .ok_or(MlsError::Rejected)?;
                    removed_devices.push(member_of(&leaf.credential, &leaf.signature_key)?.device);
                }
                let statement = MembershipStatement {
                    group,
                    epoch: current,
                    salt,
                    add: added.iter().map(|m| m.device).collect(),
                    remove: removed_devices,
                };
                if statement.aad().as_deref() != Some(aad.as_slice()) {
                    return Err(MlsError::MembershipMismatch);
                }
                let removed = staged.self_removed();
                mls_group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(|_| MlsError::Internal)?;
                Ok(Incoming::CommitApplied {
                    group,
                    epoch: mls_group.epoch().as_u64(),
                    removed,
                    added,
                })
            }
            ProcessedMessageContent::OwnPendingCommit
            | ProcessedMessageContent::OwnPrivateMessage => {
                Ok(Incoming::Ignored { group: Some(group), reason: IgnoreReason::OwnMessage })
            }
            ProcessedMessageContent::ProposalMessage(_)
            | ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                Ok(Incoming::Ignored { group: Some(group), reason: IgnoreReason::Proposal })
            }
        }
    }
}

/// The application data of a GroupInfo from
/// [`MlsClient::export_group_info_with_data`], if it has any. The signature
/// is *not* checked here: trust the data only once
/// [`MlsClient::join_by_external_commit`] accepted the same bytes.
pub fn group_info_data(group_info: &[u8]) -> Result<Option<Vec<u8>>, MlsError> {
    let message =
        MlsMessageIn::tls_deserialize_exact(group_info).map_err(|_| MlsError::Malformed)?;
    let MlsMessageBodyIn::GroupInfo(info) = message.extract() else {
        return Err(MlsError::Malformed);
    };
    Ok(info.extensions().unknown(APP_DATA_EXTENSION).map(|e| e.0.clone()))
}

/// Checks a received commit before it is merged: every added device must
/// carry a Stadtbote credential, and a committer that refreshes its leaf must
/// keep its identity (account, device and signature key), so that a member's
/// leaf always matches the directory entry it was added under.
fn check_staged_commit(staged: &StagedCommit, committer: &Member) -> Result<Vec<Member>, MlsError> {
    let mut added = Vec::new();
    for add in staged.add_proposals() {
        let leaf = add.add_proposal().key_package().leaf_node();
        added.push(member_of(leaf.credential(), leaf.signature_key().as_slice())?);
    }
    if let Some(leaf) = staged.update_path_leaf_node()
        && member_of(leaf.credential(), leaf.signature_key().as_slice())? != *committer
    {
        return Err(MlsError::InvalidCredential);
    }
    Ok(added)
}

/// Maps processing errors that mean "nothing to do" to a reason; everything
/// else is a rejection.
fn ignore_reason<E>(error: &openmls::prelude::ProcessMessageError<E>) -> Option<IgnoreReason> {
    use openmls::framing::errors::MessageDecryptionError;
    use openmls::prelude::{ProcessMessageError, ValidationError};
    match error {
        ProcessMessageError::ValidationError(ValidationError::UnableToDecrypt(
            MessageDecryptionError::SecretTreeError(inner),
        )) => {
            // OpenMLS does not export the path of `SecretTreeError`, so the
            // variant is recognised by its name. "SecretReuseError" means the
            // key for this sender and generation was already used and
            // deleted: the same message was decrypted before.
            // "TooDistantInThePast" means it is older than the out-of-order
            // window, which for us also means a redelivery.
            let name = format!("{inner:?}");
            (name == "SecretReuseError" || name == "TooDistantInThePast")
                .then_some(IgnoreReason::Duplicate)
        }
        ProcessMessageError::ValidationError(
            ValidationError::NoPastEpochData | ValidationError::WrongEpoch,
        ) => Some(IgnoreReason::OldEpoch),
        _ => None,
    }
}

/// The leaf of `device` in `group` (the last one, should it appear twice),
/// or [`MlsError::NotAMember`]. A member without a Stadtbote credential is
/// an error.
fn leaf_index_of(group: &MlsGroup, device: &DeviceId) -> Result<LeafNodeIndex, MlsError> {
    let mut found = None;
    for member in group.members() {
        if member_of(&member.credential, &member.signature_key)?.device == *device {
            found = Some(member.index);
        }
    }
    found.ok_or(MlsError::NotAMember)
}

/// The membership-statement salt of the group's current epoch.
fn export_salt(
    group: &MlsGroup,
    crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
) -> Result<[u8; SALT_LEN], MlsError> {
    let bytes =
        group.export_secret(crypto, SALT_LABEL, &[], SALT_LEN).map_err(|_| MlsError::Internal)?;
    <[u8; SALT_LEN]>::try_from(bytes.as_slice()).map_err(|_| MlsError::Internal)
}

/// Binds the next commit of `group` to the membership statement declaring
/// `add` and `remove`: sets its authenticated data. Returns the salt.
fn declare(
    mls_group: &mut MlsGroup,
    crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
    group: &GroupId,
    add: &[DeviceId],
    remove: &[DeviceId],
) -> Result<[u8; SALT_LEN], MlsError> {
    let salt = export_salt(mls_group, crypto)?;
    let statement = MembershipStatement {
        group: *group,
        epoch: mls_group.epoch().as_u64(),
        salt,
        add: add.to_vec(),
        remove: remove.to_vec(),
    };
    mls_group.set_aad(statement.aad().ok_or(MlsError::NothingToCommit)?);
    Ok(salt)
}

/// The cleartext framing of a commit as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFraming {
    /// The group the commit names.
    pub group: GroupId,
    /// The epoch it was made in.
    pub epoch: u64,
    /// Its authenticated data (the membership statement's digest).
    pub aad: Vec<u8>,
}

/// Reads the cleartext framing of a member's commit (a TLS-encoded
/// `MlsMessage` holding a `PrivateMessage` of content type commit) without
/// decrypting anything; the server checks it against the declared
/// membership statement. Anything else is [`MlsError::Malformed`].
pub fn commit_framing(bytes: &[u8]) -> Result<CommitFraming, MlsError> {
    let message = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| MlsError::Malformed)?;
    let MlsMessageBodyIn::PrivateMessage(private) = message.extract() else {
        return Err(MlsError::Malformed);
    };
    if private.content_type() != ContentType::Commit {
        return Err(MlsError::Malformed);
    }
    Ok(CommitFraming {
        group: our_group_id(private.group_id()).ok_or(MlsError::Malformed)?,
        epoch: private.epoch().as_u64(),
        aad: private.aad().to_vec(),
    })
}

/// The group a member's message (a `PrivateMessage` or `PublicMessage`)
/// names in its cleartext header, as anybody holding the bytes reads it;
/// `None` for a Welcome (its group id is encrypted) and for anything that
/// does not parse.
pub fn clear_group_id(bytes: &[u8]) -> Option<GroupId> {
    let message = MlsMessageIn::tls_deserialize_exact(bytes).ok()?;
    match message.extract() {
        MlsMessageBodyIn::PrivateMessage(private) => our_group_id(private.group_id()),
        MlsMessageBodyIn::PublicMessage(public) => our_group_id(public.group_id()),
        _ => None,
    }
}

fn ensure_operational(group: &MlsGroup) -> Result<(), MlsError> {
    if !group.is_active() {
        return Err(MlsError::NotAMember);
    }
    if group.pending_commit().is_some() {
        return Err(MlsError::PendingCommit);
    }
    Ok(())
}

fn serialize(message: &MlsMessageOut) -> Result<Vec<u8>, MlsError> {
    message.tls_serialize_detached().map_err(|_| MlsError::Internal)
}

fn mls_group_id(group: &GroupId) -> MlsGroupId {
    MlsGroupId::from_slice(group.as_bytes())
}

fn our_group_id(group: &MlsGroupId) -> Option<GroupId> {
    GroupId::from_slice(group.as_slice()).ok()
}

/// Reads `account || device` from a basic credential.
fn identity_of(credential: &Credential) -> Result<(AccountId, DeviceId), MlsError> {
    let basic =
        BasicCredential::try_from(credential.clone()).map_err(|_| MlsError::InvalidCredential)?;
    let identity = basic.identity();
    if identity.len() != IDENTITY_LEN {
        return Err(MlsError::InvalidCredential);
    }
    let (account, device) = identity.split_at(AccountId::LEN);
    let account = AccountId::from_slice(account).map_err(|_| MlsError::InvalidCredential)?;
    let device = DeviceId::from_slice(device).map_err(|_| MlsError::InvalidCredential)?;
    Ok((account, device))
}

fn member_of(credential: &Credential, signature_key: &[u8]) -> Result<Member, MlsError> {
    let (account, device) = identity_of(credential)?;
    let key: [u8; 32] = signature_key.try_into().map_err(|_| MlsError::InvalidCredential)?;
    Ok(Member { account, device, identity_key: IdentityKey(key) })
}

fn members_of(
    members: impl Iterator<Item = (Credential, Vec<u8>)>,
) -> Result<Vec<Member>, MlsError> {
    let mut out = members
        .map(|(credential, key)| member_of(&credential, &key))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|m| (m.account, m.device));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Device {
        client: MlsClient,
        secret: DeviceSecret,
    }

    fn device(account: AccountId) -> Device {
        let secret = DeviceSecret::generate();
        let client = MlsClient::new(&secret, account, DeviceId::random());
        Device { client, secret }
    }

    const GROUP: GroupId = GroupId([7; 16]);

    /// Alice's first device creates the group and adds Bob and her second device.
    fn setup() -> (Device, Device, Device) {
        let alice = AccountId::random();
        let bob = AccountId::random();
        let a1 = device(alice);
        let a2 = device(alice);
        let b1 = device(bob);
        a1.client.create_group(GROUP).unwrap();
        assert_eq!(a1.client.epoch(&GROUP).unwrap(), 0);
        let packages = vec![
            b1.client.generate_key_packages(1).unwrap().remove(0),
            a2.client.generate_key_packages(1).unwrap().remove(0),
        ];
        let commit = a1.client.add_members(&GROUP, &packages).unwrap();
        assert_eq!(commit.epoch_before, 0);
        assert_eq!(commit.added, vec![b1.client.device(), a2.client.device()]);
        assert!(a1.client.has_pending_commit(&GROUP).unwrap());
        assert_eq!(a1.client.merge_pending(&GROUP).unwrap(), 1);
        let welcome = commit.welcome.unwrap();
        for joiner in [&b1, &a2] {
            match joiner.client.process(&welcome).unwrap() {
                Incoming::Welcome { group, epoch, members, welcome_data } => {
                    assert_eq!(welcome_data, None);
                    assert_eq!(group, GROUP);
                    assert_eq!(epoch, 1);
                    assert_eq!(members.len(), 3);
                }
                other => panic!("expected a welcome, got {other:?}"),
            }
        }
        (a1, a2, b1)
    }

    #[test]
    fn a_commit_must_do_what_its_membership_statement_declares() {
        let (a1, a2, b1) = setup();
        // An honest removal: its framing names the group, epoch and the
        // digest of exactly that removal, and the others accept it.
        let honest = a1.client.remove_members(&GROUP, &[a2.client.device()]).unwrap();
        let framing = commit_framing(&honest.commit).unwrap();
        assert_eq!(framing.group, GROUP);
        assert_eq!(framing.epoch, 1);
        assert_eq!(Some(framing.aad), honest.statement(GROUP).aad());
        a1.client.clear_pending(&GROUP).unwrap();

        // A removal of a2 declared as changing nothing: b1 refuses it and
        // stays in its epoch.
        let lie = a1
            .client
            .misdeclared_change(&GROUP, &[], &[a2.client.device()], (vec![], vec![]))
            .unwrap();
        assert!(lie.removed.is_empty());
        assert_eq!(Some(commit_framing(&lie.commit).unwrap().aad), lie.statement(GROUP).aad());
        assert_eq!(b1.client.process(&lie.commit).unwrap_err(), MlsError::MembershipMismatch);
        assert_eq!(b1.client.epoch(&GROUP).unwrap(), 1);
        a1.client.clear_pending(&GROUP).unwrap();

        // The same removal declared honestly is accepted.
        let honest = a1.client.remove_members(&GROUP, &[a2.client.device()]).unwrap();
        assert!(matches!(
            b1.client.process(&honest.commit).unwrap(),
            Incoming::CommitApplied { .. }
        ));
        // Welcomes and application messages are not commits.
        assert_eq!(commit_framing(&[0u8; 8]).unwrap_err(), MlsError::Malformed);
        let _ = a2.secret.identity_key();
    }

    fn expect_app(incoming: Incoming) -> (AccountId, DeviceId, Vec<u8>) {
        match incoming {
            Incoming::Application { group, sender_account, sender_device, plaintext } => {
                assert_eq!(group, GROUP);
                (sender_account, sender_device, plaintext)
            }
            other => panic!("expected an application message, got {other:?}"),
        }
    }

    #[test]
    fn create_join_and_exchange_both_ways() {
        let (a1, a2, b1) = setup();
        let members = b1.client.members(&GROUP).unwrap();
        let expected_a1 = Member {
            account: a1.client.account(),
            device: a1.client.device(),
            identity_key: a1.secret.identity_key(),
        };
        assert!(members.contains(&expected_a1));

        let msg = a1.client.encrypt(&GROUP, b"hallo bob").unwrap();
        for reader in [&b1, &a2] {
            let (account, device, text) = expect_app(reader.client.process(&msg).unwrap());
            assert_eq!((account, device), (a1.client.account(), a1.client.device()));
            assert_eq!(text, b"hallo bob");
        }
        let reply = b1.client.encrypt(&GROUP, b"hallo anna").unwrap();
        for reader in [&a1, &a2] {
            let (account, _, text) = expect_app(reader.client.process(&reply).unwrap());
            assert_eq!(account, b1.client.account());
            assert_eq!(text, b"hallo anna");
        }
        // A device does not read its own message back.
        assert!(matches!(
            b1.client.process(&reply).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::OwnMessage, .. }
        ));
    }

    #[test]
    fn import_then_continue() {
        let (a1, _a2, b1) = setup();
        let saved = b1.client.export_state().unwrap();
        // The same state always encodes to the same bytes.
        assert_eq!(saved, b1.client.export_state().unwrap());
        let restored =
            MlsClient::import_state(&b1.secret, b1.client.account(), b1.client.device(), &saved)
                .unwrap();
        drop(b1);
        assert_eq!(restored.epoch(&GROUP).unwrap(), 1);
        let msg = a1.client.encrypt(&GROUP, b"nach dem Neustart").unwrap();
        let (_, _, text) = expect_app(restored.process(&msg).unwrap());
        assert_eq!(text, b"nach dem Neustart");
        let reply = restored.encrypt(&GROUP, b"angekommen").unwrap();
        let (_, _, text) = expect_app(a1.client.process(&reply).unwrap());
        assert_eq!(text, b"angekommen");
        // Unused KeyPackages survive a round trip too: a Welcome still works.
        let later = restored.generate_key_packages(1).unwrap().remove(0);
        let saved = restored.export_state().unwrap();
        let again = MlsClient::import_state(
            &DeviceSecret::generate(),
            restored.account(),
            restored.device(),
            &saved,
        )
        .unwrap();
        assert!(again.inspect_key_package(&later).is_ok());
    }

    #[test]
    fn key_store_entries_round_trip() {
        let (_a1, _a2, b1) = setup();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = b1
            .client
            .read_key_store(|values| values.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap();
        assert!(!entries.is_empty());
        let restored =
            MlsClient::from_key_store(&b1.secret, b1.client.account(), b1.client.device(), entries)
                .unwrap();
        assert_eq!(restored.export_state().unwrap(), b1.client.export_state().unwrap());
        assert_eq!(restored.epoch(&GROUP).unwrap(), 1);
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let secret = DeviceSecret::generate();
        for bad in [&b""[..], b"\xff\x00", b"\xa0"] {
            assert_eq!(
                MlsClient::import_state(&secret, AccountId([1; 16]), DeviceId([2; 16]), bad)
                    .unwrap_err(),
                MlsError::CorruptState
            );
        }
    }

    #[test]
    fn welcome_data_reaches_the_joiners_and_the_header_names_only_the_group() {
        let (alice, bob) = (AccountId::random(), AccountId::random());
        let (a1, b1, b2) = (device(alice), device(bob), device(bob));
        let group = GROUP;
        a1.client.create_group(group).unwrap();
        // A KeyPackage as an older client made it (no extra capabilities).
        let packages = vec![
            b1.client.generate_key_packages(1).unwrap().remove(0),
            b2.client.generate_last_resort().unwrap(),
        ];
        let commit = a1.client.add_members_with_welcome_data(&group, &packages, b"marker").unwrap();
        assert_eq!(commit.added.len(), 2);
        assert_eq!(commit.epoch_before, 0);
        a1.client.merge_pending(&group).unwrap();
        let welcome = commit.welcome.unwrap();
        assert_eq!(clear_group_id(&welcome), None, "a Welcome's group id is encrypted");
        assert!(!welcome.windows(6).any(|w| w == b"marker"), "the data is encrypted");
        for joiner in [&b1, &b2] {
            match joiner.client.process(&welcome).unwrap() {
                Incoming::Welcome { group: joined, welcome_data, members, .. } => {
                    assert_eq!(joined, group);
                    assert_eq!(welcome_data.as_deref(), Some(&b"marker"[..]));
                    assert_eq!(members.len(), 3);
                }
                other => panic!("expected a welcome, got {other:?}"),
            }
        }
        // The commit's statement digest matches what the commit does.
        let message = a1.client.encrypt(&group, b"hallo").unwrap();
        assert_eq!(clear_group_id(&message), Some(group));
        assert_eq!(clear_group_id(&commit.commit), Some(group));
        let (_, _, text) = expect_app(b1.client.process(&message).unwrap());
        assert_eq!(text, b"hallo");
        // A commit with welcome data is checked like any other by members.
        let b3 = device(bob);
        let package = b3.client.generate_key_packages(1).unwrap().remove(0);
        let commit = a1.client.add_members_with_welcome_data(&group, &[package], b"x").unwrap();
        a1.client.merge_pending(&group).unwrap();
        assert!(matches!(
            b1.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { added, .. } if added.len() == 1
        ));
    }

    #[test]
    fn tampered_ciphertext_is_rejected_and_duplicate_ignored() {
        let (a1, _a2, b1) = setup();
        let msg = a1.client.encrypt(&GROUP, b"geheim").unwrap();
        for position in [msg.len() - 1, msg.len() / 2, msg.len() - 20] {
            let mut tampered = msg.clone();
            tampered[position] ^= 0x01;
            assert!(b1.client.process(&tampered).is_err(), "flip at {position}");
        }
        let (_, _, text) = expect_app(b1.client.process(&msg).unwrap());
        assert_eq!(text, b"geheim");
        assert!(matches!(
            b1.client.process(&msg).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::Duplicate, .. }
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let (_a1, _a2, b1) = setup();
        let mut inputs: Vec<Vec<u8>> =
            vec![vec![], vec![0], vec![0xff; 3], vec![0x00, 0x01, 0x00, 0x02], vec![0x55; 300]];
        // A valid header followed by junk.
        inputs.push([&[0x00, 0x01, 0x00, 0x02][..], &[0xAA; 64]].concat());
        for input in &inputs {
            assert!(b1.client.process(input).is_err());
        }
        assert_eq!(b1.client.inspect_key_package(b"nope").unwrap_err(), MlsError::Malformed);
    }

    #[test]
    fn messages_of_unknown_groups_and_replays_are_ignored() {
        let (a1, _a2, b1) = setup();
        let outsider = device(AccountId::random());
        let msg = a1.client.encrypt(&GROUP, b"x").unwrap();
        assert!(matches!(
            outsider.client.process(&msg).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::UnknownGroup, .. }
        ));
        // A commit of an epoch the reader has left is ignored.
        let package = outsider.client.generate_key_packages(1).unwrap().remove(0);
        let commit = a1.client.add_members(&GROUP, &[package]).unwrap();
        a1.client.merge_pending(&GROUP).unwrap();
        assert!(matches!(
            b1.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { epoch: 2, removed: false, .. }
        ));
        assert!(matches!(
            b1.client.process(&commit.commit).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::OldEpoch, .. }
        ));
        // A Welcome processed twice is harmless.
        let welcome = commit.welcome.unwrap();
        assert!(matches!(outsider.client.process(&welcome).unwrap(), Incoming::Welcome { .. }));
        assert!(matches!(outsider.client.process(&welcome).unwrap(), Incoming::Ignored { .. }));
        // A Welcome meant for someone else is ignored by a bystander.
        let bystander = device(AccountId::random());
        assert!(matches!(
            bystander.client.process(&welcome).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::NotForUs, .. }
        ));
    }

    #[test]
    fn application_message_of_a_recent_epoch_still_decrypts() {
        let (a1, a2, b1) = setup();
        // Bob sends in epoch 1 while Alice's commit moves the group to epoch 2;
        // the server delivers the commit first.
        let late = b1.client.encrypt(&GROUP, b"late").unwrap();
        let extra = device(a1.client.account());
        let package = extra.client.generate_key_packages(1).unwrap().remove(0);
        let commit = a1.client.add_members(&GROUP, &[package]).unwrap();
        a1.client.merge_pending(&GROUP).unwrap();
        assert!(matches!(
            a2.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { .. }
        ));
        let (_, _, text) = expect_app(a2.client.process(&late).unwrap());
        assert_eq!(text, b"late");
    }

    #[test]
    fn losing_a_creation_race_then_joining() {
        let alice = device(AccountId::random());
        let bob = device(AccountId::random());
        alice.client.create_group(GROUP).unwrap();
        bob.client.create_group(GROUP).unwrap();
        assert_eq!(bob.client.create_group(GROUP).unwrap_err(), MlsError::GroupExists);
        let to_bob = bob.client.generate_key_packages(1).unwrap().remove(0);
        let to_alice = alice.client.generate_key_packages(1).unwrap().remove(0);
        let winning = alice.client.add_members(&GROUP, &[to_bob]).unwrap();
        let _losing = bob.client.add_members(&GROUP, &[to_alice]).unwrap();
        // The server accepted Alice's commit and refused Bob's.
        alice.client.merge_pending(&GROUP).unwrap();
        bob.client.clear_pending(&GROUP).unwrap();
        assert!(!bob.client.has_pending_commit(&GROUP).unwrap());
        bob.client.delete_group(&GROUP).unwrap();
        assert!(!bob.client.has_group(&GROUP).unwrap());
        assert!(matches!(
            bob.client.process(&winning.welcome.unwrap()).unwrap(),
            Incoming::Welcome { epoch: 1, .. }
        ));
        let msg = bob.client.encrypt(&GROUP, b"ok").unwrap();
        expect_app(alice.client.process(&msg).unwrap());
    }

    #[test]
    fn welcome_replaces_a_local_group_at_epoch_zero() {
        let alice = device(AccountId::random());
        let bob = device(AccountId::random());
        alice.client.create_group(GROUP).unwrap();
        bob.client.create_group(GROUP).unwrap();
        let to_bob = bob.client.generate_key_packages(1).unwrap().remove(0);
        let winning = alice.client.add_members(&GROUP, &[to_bob]).unwrap();
        alice.client.merge_pending(&GROUP).unwrap();
        assert!(matches!(
            bob.client.process(&winning.welcome.unwrap()).unwrap(),
            Incoming::Welcome { epoch: 1, .. }
        ));
        assert_eq!(bob.client.members(&GROUP).unwrap().len(), 2);
    }

    #[test]
    fn one_commit_replaces_a_member() {
        let (a1, a2, b1) = setup();
        let c1 = device(AccountId::random());
        let package = c1.client.generate_key_packages(1).unwrap().remove(0);
        let commit = a1.client.change_members(&GROUP, &[package], &[b1.client.device()]).unwrap();
        assert_eq!(commit.added, vec![c1.client.device()]);
        assert_eq!(commit.removed, vec![b1.client.device()]);
        assert_eq!(commit.epoch_before, 1);
        assert_eq!(a1.client.merge_pending(&GROUP).unwrap(), 2);
        assert!(matches!(
            b1.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { removed: true, .. }
        ));
        match a2.client.process(&commit.commit).unwrap() {
            Incoming::CommitApplied { removed: false, added, .. } => {
                assert_eq!(added.len(), 1);
                assert_eq!(added[0].device, c1.client.device());
            }
            other => panic!("expected a commit, got {other:?}"),
        }
        assert!(matches!(
            c1.client.process(&commit.welcome.unwrap()).unwrap(),
            Incoming::Welcome { epoch: 2, .. }
        ));
        let msg = a1.client.encrypt(&GROUP, b"neu").unwrap();
        assert_eq!(expect_app(c1.client.process(&msg).unwrap()).2, b"neu");
        // Removals alone work too; nothing at all, or removing oneself, does not.
        let commit = a1.client.change_members(&GROUP, &[], &[c1.client.device()]).unwrap();
        assert!(commit.welcome.is_none());
        a1.client.clear_pending(&GROUP).unwrap();
        assert_eq!(
            a1.client.change_members(&GROUP, &[], &[]).unwrap_err(),
            MlsError::NothingToCommit
        );
        assert_eq!(
            a1.client.change_members(&GROUP, &[], &[a1.client.device()]).unwrap_err(),
            MlsError::NotAMember
        );
    }

    #[test]
    fn removal_is_reported_to_the_removed_device() {
        let (a1, a2, b1) = setup();
        let commit = a1.client.remove_members(&GROUP, &[a2.client.device()]).unwrap();
        assert_eq!(commit.removed, vec![a2.client.device()]);
        a1.client.merge_pending(&GROUP).unwrap();
        assert!(matches!(
            b1.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { removed: false, .. }
        ));
        assert!(matches!(
            a2.client.process(&commit.commit).unwrap(),
            Incoming::CommitApplied { removed: true, .. }
        ));
        assert!(!a2.client.is_active(&GROUP).unwrap());
        assert_eq!(a2.client.encrypt(&GROUP, b"x").unwrap_err(), MlsError::NotAMember);
        assert_eq!(b1.client.members(&GROUP).unwrap().len(), 2);
        assert_eq!(
            a1.client.remove_members(&GROUP, &[DeviceId([0; 16])]).unwrap_err(),
            MlsError::NotAMember
        );
    }

    #[test]
    fn key_packages_are_validated() {
        let alice = device(AccountId::random());
        let one_time = alice.client.generate_key_packages(2).unwrap();
        assert_eq!(one_time.len(), 2);
        let info = alice.client.inspect_key_package(&one_time[0]).unwrap();
        assert_eq!(info.member.account, alice.client.account());
        assert_eq!(info.member.device, alice.client.device());
        assert_eq!(info.member.identity_key, alice.secret.identity_key());
        assert!(!info.last_resort);
        let last = alice.client.generate_last_resort().unwrap();
        assert!(alice.client.inspect_key_package(&last).unwrap().last_resort);

        // A flipped bit breaks the signature.
        let mut tampered = one_time[1].clone();
        let n = tampered.len();
        tampered[n - 10] ^= 1;
        assert!(alice.client.inspect_key_package(&tampered).is_err());

        // A KeyPackage whose credential is not `account || device` is refused.
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let foreign = KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &provider,
                &signer,
                CredentialWithKey {
                    credential: BasicCredential::new(b"mallory".to_vec()).into(),
                    signature_key: signer.to_public_vec().into(),
                },
            )
            .unwrap();
        let foreign = foreign.key_package().tls_serialize_detached().unwrap();
        assert_eq!(
            alice.client.inspect_key_package(&foreign).unwrap_err(),
            MlsError::InvalidKeyPackage
        );
        alice.client.create_group(GROUP).unwrap();
        assert_eq!(
            alice.client.add_members(&GROUP, &[foreign]).unwrap_err(),
            MlsError::InvalidKeyPackage
        );
        assert!(!alice.client.has_pending_commit(&GROUP).unwrap());

        // Another ciphersuite is refused.
        let other = KeyPackage::builder()
            .build(
                Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
                &provider,
                &signer,
                alice_like_credential(&signer),
            )
            .unwrap();
        let other = other.key_package().tls_serialize_detached().unwrap();
        assert_eq!(
            alice.client.inspect_key_package(&other).unwrap_err(),
            MlsError::InvalidKeyPackage
        );
    }

    fn alice_like_credential(signer: &SignatureKeyPair) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(vec![1; IDENTITY_LEN]).into(),
            signature_key: signer.to_public_vec().into(),
        }
    }

    #[test]
    fn last_resort_package_can_be_used_twice() {
        let bob = device(AccountId::random());
        let last = bob.client.generate_last_resort().unwrap();
        for group in [GroupId([1; 16]), GroupId([2; 16])] {
            let alice = device(AccountId::random());
            alice.client.create_group(group).unwrap();
            let commit = alice.client.add_members(&group, std::slice::from_ref(&last)).unwrap();
            alice.client.merge_pending(&group).unwrap();
            assert!(matches!(
                bob.client.process(&commit.welcome.unwrap()).unwrap(),
                Incoming::Welcome { .. }
            ));
        }
    }

    #[test]
    fn update_commit_registers_a_lonely_group() {
        let alice = device(AccountId::random());
        alice.client.create_group(GROUP).unwrap();
        let commit = alice.client.commit_update(&GROUP).unwrap();
        assert_eq!(commit.epoch_before, 0);
        assert!(commit.welcome.is_none());
        assert_eq!(alice.client.merge_pending(&GROUP).unwrap(), 1);
        assert_eq!(alice.client.merge_pending(&GROUP).unwrap_err(), MlsError::PendingCommit);
    }

    #[test]
    fn external_join_then_exchange() {
        let alice = device(AccountId::random());
        alice.client.create_group(GROUP).unwrap();
        alice.client.commit_update(&GROUP).unwrap();
        alice.client.merge_pending(&GROUP).unwrap();
        let info = alice.client.export_group_info_with_data(&GROUP, b"Radweg").unwrap();
        assert_eq!(group_info_data(&info).unwrap().as_deref(), Some(&b"Radweg"[..]));

        let bob = device(AccountId::random());
        let (group, commit, epoch_before) = bob.client.join_by_external_commit(&info).unwrap();
        assert_eq!((group, epoch_before), (GROUP, 1));
        // OpenMLS merged the external commit already.
        assert_eq!(bob.client.epoch(&GROUP).unwrap(), 2);
        match alice.client.process(&commit).unwrap() {
            Incoming::CommitApplied { epoch: 2, removed: false, added, .. } => {
                assert_eq!(added.len(), 1);
                assert_eq!(added[0].device, bob.client.device());
                assert_eq!(added[0].identity_key, bob.secret.identity_key());
            }
            other => panic!("expected the external commit, got {other:?}"),
        }
        assert_eq!(alice.client.members(&GROUP).unwrap().len(), 2);
        let msg = alice.client.encrypt(&GROUP, b"willkommen").unwrap();
        assert_eq!(expect_app(bob.client.process(&msg).unwrap()).2, b"willkommen");
        let reply = bob.client.encrypt(&GROUP, b"danke").unwrap();
        assert_eq!(expect_app(alice.client.process(&reply).unwrap()).2, b"danke");

        // A second joiner with the stale info loses: its commit is of an
        // epoch the group has left.
        let carol = device(AccountId::random());
        let (_, stale, _) = carol.client.join_by_external_commit(&info).unwrap();
        assert!(matches!(
            alice.client.process(&stale).unwrap(),
            Incoming::Ignored { reason: IgnoreReason::OldEpoch, .. }
        ));
        carol.client.delete_group(&GROUP).unwrap();
        // With fresh info it works, and the member that joined earlier follows.
        let fresh = bob.client.export_group_info(&GROUP).unwrap();
        assert_eq!(group_info_data(&fresh).unwrap(), None);
        let (_, commit, epoch_before) = carol.client.join_by_external_commit(&fresh).unwrap();
        assert_eq!(epoch_before, 2);
        for member in [&alice, &bob] {
            assert!(matches!(
                member.client.process(&commit).unwrap(),
                Incoming::CommitApplied { epoch: 3, .. }
            ));
        }
        let msg = carol.client.encrypt(&GROUP, b"hallo zusammen").unwrap();
        assert_eq!(expect_app(alice.client.process(&msg).unwrap()).2, b"hallo zusammen");
        assert_eq!(expect_app(bob.client.process(&msg).unwrap()).2, b"hallo zusammen");
        // Joining a group one is active in is refused; garbage is malformed.
        assert_eq!(bob.client.join_by_external_commit(&fresh).unwrap_err(), MlsError::GroupExists);
        assert_eq!(bob.client.join_by_external_commit(b"junk").unwrap_err(), MlsError::Malformed);
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let (a1, _a2, _b1) = setup();
        let shown = format!("{:?}", a1.client);
        assert!(shown.contains("MlsClient"));
        assert!(!shown.contains("values"));
        let msg = a1.client.encrypt(&GROUP, b"very secret text").unwrap();
        let _ = msg;
        let incoming = Incoming::Application {
            group: GROUP,
            sender_account: AccountId([1; 16]),
            sender_device: DeviceId([2; 16]),
            plaintext: b"very secret text".to_vec(),
        };
        assert!(!format!("{incoming:?}").contains("118, 101, 114, 121"));
    }
}
