//! Sending in report and consultation threads: the thread outbox, opening a
//! thread's MLS group, the membership rule before every send, and photos.
//!
//! Everything a user writes in a thread first enters the thread outbox (on
//! disk, with its photos already prepared — metadata removed and encrypted
//! under `<home>/uploads/`), then goes out with the next command that
//! reaches the server; it leaves the outbox only when the server stored it.
//! Entries of one thread keep their order.
//!
//! Before each message, the sender makes the group hold exactly the
//! creator account's devices and the valid staff devices of the thread's
//! current department ([`crate::threads::plan_membership`]), in one commit:
//!
//! * staff devices are added only with KeyPackages whose credential
//!   (account, device) and key equal their certificate; a KeyPackage that
//!   does not match is a server trying to slip in another device, and the
//!   send is refused;
//! * a member that no certificate from the pinned org key vouches for makes
//!   the client refuse to encrypt to the group at all (and the thread shows
//!   a warning);
//! * revoked, expired and re-assigned staff devices are removed.
//!
//! A thread's id is a random group id, fixed when the report is queued. The
//! server accepts one commit per epoch; a lost race is recovered as in
//! [`crate::send`].
//!
//! Re-assignment: the assigning device removes the old department's other
//! devices and adds the new department's in one commit, then sends
//! `assign`. If it is not in the new department itself it cannot remove
//! itself (MLS does not let a member commit its own removal, and standalone
//! self-remove proposals are not used by Stadtbote clients); instead every
//! client applies the membership rule before its next send, so the first
//! message after the re-assignment — by anyone — is preceded by a commit
//! that removes the assigning device. It therefore never receives a message
//! written after the assignment, and refuses to send in the thread itself.

use crate::clock::Clock;
use crate::routing::Kind;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::commit::{Attempt, CommitRace, commit_with_retry};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::app::{
    APP_VERSION, AppBody, AppMessage, AttachmentRef, ForwardedMessage, Location, ThreadStatus,
};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::membership::{GroupCreation, new_random_group};
use stadtbote_protocol::mls::{Commit, Member};
use stadtbote_protocol::{AccountId, ErrorBody, ErrorCode, GroupId, MsgId, Request, Response};

use crate::attachments::{self, ReadPhoto, UploadEvent};
use crate::error::ClientError;
use crate::invalid_input::{InvalidReason as R, LocationProblem};
use crate::org::DEFAULT_CONSULT_DEPARTMENT;
use crate::pinning::VerifiedOrg;
use crate::send::{CATCH_UP_WAIT, MAX_COMMIT_ATTEMPTS};
use crate::session::{Client, unexpected};
use crate::staff::StaffRecord;
use crate::threads::{
    Actor, Photo, SenderRole, Thread, ThreadBody, ThreadKind, ThreadMessage, check_status_change,
    plan_membership,
};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Largest encoded history forwarded to newly added devices; well below the
/// server's default message limit (256 KiB) after MLS framing.
const MAX_HISTORY_BYTES: usize = 160 * 1024;

/// A recorded thread message as it was sent, for forwarding in a history.
pub fn forward(thread: &Thread, message: &ThreadMessage) -> ForwardedMessage {
    let refs = |photos: &[Photo]| photos.iter().map(|p| p.attachment.clone()).collect();
    let body = match &message.body {
        ThreadBody::Open { text, photos } => match thread.kind {
            ThreadKind::Report => AppBody::Report {
                org: thread.org,
                handle: thread.handle.clone(),
                category: thread.category.clone().unwrap_or_default(),
                department: thread.opened_department.clone(),
                text: text.clone(),
                location: thread.location,
                photos: refs(photos),
            },
            ThreadKind::Consult => AppBody::Consult {
                org: thread.org,
                handle: thread.handle.clone(),
                department: thread.opened_department.clone(),
                text: text.clone(),
                live: thread.live,
            },
        },
        ThreadBody::Reply { text, photos, status, reason, as_org } => AppBody::Reply {
            text: text.clone(),
            photos: refs(photos),
            status: *status,
            reason: reason.clone(),
            as_org: as_org.clone(),
        },
        ThreadBody::Assign { department } => AppBody::Assign { department: department.clone() },
        ThreadBody::Disappear { days, at } => AppBody::Disappear { days: *days, at: *at },
    };
    ForwardedMessage {
        from: message.from,
        from_device: message.from_device,
        received_at: message.at(),
        message: AppMessage {
            v: APP_VERSION,
            id: message.id,
            sent_at: message.sent_at,
            sender_name: message.from_name.clone(),
            body,
        },
    }
}

/// A photo of a queued message: prepared locally, uploaded at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPhoto {
    /// The file the user named (for messages only).
    pub path: PathBuf,
    /// The local upload id ([`attachments::prepare_photo`]).
    pub upload: String,
    /// The reference, once uploaded.
    pub attachment: Option<AttachmentRef>,
}

/// What a queued thread message does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadAction {
    /// Opens a thread (report or consultation).
    Open {
        /// Report or consultation.
        kind: ThreadKind,
        /// The org's handle.
        handle: String,
        /// The report's category as the citizen typed it.
        category: Option<String>,
        /// The text.
        text: String,
        /// The location, if given.
        location: Option<Location>,
        /// Photos.
        photos: Vec<PendingPhoto>,
        /// Consultations: whether the org was live when asked.
        live: bool,
        /// Consultations: the department to ask instead of the profile's
        /// consultation department (private replies to a channel post go to
        /// the channel's reply department).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        department: Option<String>,
    },
    /// A reply.
    Reply {
        /// The text.
        text: String,
        /// Photos.
        photos: Vec<PendingPhoto>,
        /// A status change (staff; `reopened` from the citizen).
        status: Option<ThreadStatus>,
        /// Its reason.
        reason: Option<String>,
        /// The org's name, when a clerk answers on the org's behalf.
        as_org: Option<String>,
    },
    /// Moves the thread to another department.
    Assign {
        /// The department.
        department: String,
    },
    /// Makes the thread disappear.
    Disappear {
        /// Days from now.
        days: u32,
        /// When (Unix ms).
        at: u64,
    },
}

impl ThreadAction {
    /// The kind of message, as shown in `outbox`.
    pub fn name(&self) -> &'static str {
        match self {
            ThreadAction::Open { kind, .. } => kind.as_str(),
            ThreadAction::Reply { .. } => "reply",
            ThreadAction::Assign { .. } => "assign",
            ThreadAction::Disappear { .. } => "disappear",
        }
    }

    /// The text, if any.
    pub fn text(&self) -> Option<&str> {
        match self {
            ThreadAction::Open { text, .. } | ThreadAction::Reply { text, .. } => Some(text),
            _ => None,
        }
    }

    fn photos(&self) -> &[PendingPhoto] {
        match self {
            ThreadAction::Open { photos, .. } | ThreadAction::Reply { photos, .. } => photos,
            _ => &[],
        }
    }

    fn photos_mut(&mut self) -> Option<&mut Vec<PendingPhoto>> {
        match self {
            ThreadAction::Open { photos, .. } | ThreadAction::Reply { photos, .. } => Some(photos),
            _ => None,
        }
    }
}

/// A thread message waiting for the server's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadOutboxEntry {
    /// The message id, fixed when queued.
    pub id: MsgId,
    /// The thread (for an opening: the id the new group will have).
    pub thread: GroupId,
    /// When the user wrote it (Unix ms).
    pub sent_at: u64,
    /// What it does.
    pub action: ThreadAction,
    /// For an opening: the nonce `thread` was derived from, which proves to
    /// the server that the thread may be created
    /// ([`stadtbote_protocol::membership::random_group_id`]). Entries
    /// queued by older releases have none and get a fresh id when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<ByteBuf>,
}

/// What [`Client::flush_thread_outbox`] did.
#[derive(Debug, Default)]
pub struct ThreadFlushReport {
    /// Messages the server stored, with their thread.
    pub sent: Vec<(MsgId, GroupId)>,
    /// Messages that stay in the outbox for now, with why.
    pub kept: Vec<(ThreadOutboxEntry, ClientError)>,
    /// Messages that can never be sent, removed from the outbox, with why.
    pub dropped: Vec<(ThreadOutboxEntry, ClientError)>,
    /// Uploads that continued an interrupted attempt: (chunk, of chunks).
    pub resumed: Vec<(u32, u32)>,
}

/// Everything a send in a thread needs to know.
struct ThreadContext {
    org: VerifiedOrg,
    creator: AccountId,
    department: String,
    category: Option<String>,
}

/// Parses `LAT,LON` and checks the ranges.
pub fn parse_location(text: &str) -> Result<Location, ClientError> {
    let invalid = |problem: LocationProblem| ClientError::Invalid {
        what: "--location",
        reason: R::Location(problem),
    };
    let (lat, lon) = text.split_once(',').ok_or_else(|| invalid(LocationProblem::MissingComma))?;
    let lat: f64 = lat.trim().parse().map_err(|_| invalid(LocationProblem::LatitudeNotANumber))?;
    let lon: f64 = lon.trim().parse().map_err(|_| invalid(LocationProblem::LongitudeNotANumber))?;
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(invalid(LocationProblem::LatitudeRange));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(invalid(LocationProblem::LongitudeRange));
    }
    Ok(Location { lat, lon })
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    // --------------------------------------------------------------- queue

    async fn prepare_photos(
        &mut self,
        paths: &[PathBuf],
        read_photo: ReadPhoto<'_>,
    ) -> Result<Vec<PendingPhoto>, ClientError> {
        let mut photos = Vec::with_capacity(paths.len());
        for path in paths {
            let prepared = match read_photo(path) {
                Ok(bytes) => {
                    attachments::prepare_photo(
                        self,
                        attachments::Photo { path: path.clone(), bytes },
                    )
                    .await
                }
                Err(error) => Err(error),
            };
            match prepared {
                Ok(prepared) => photos.push(PendingPhoto {
                    path: path.clone(),
                    upload: prepared.id,
                    attachment: None,
                }),
                Err(error) => {
                    for photo in &photos {
                        attachments::forget_upload(self, &photo.upload).await?;
                    }
                    return Err(error);
                }
            }
        }
        Ok(photos)
    }

    async fn queue_thread_entry(
        &mut self,
        thread: GroupId,
        action: ThreadAction,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        let entry = ThreadOutboxEntry {
            id: MsgId::random(),
            thread,
            sent_at: self.clock.now_ms(),
            action,
            nonce: None,
        };
        self.state.thread_outbox.push(entry.clone());
        self.save().await?;
        Ok(entry)
    }

    /// Queues the opening of a new thread, whose id comes from a fresh nonce.
    async fn queue_new_thread(
        &mut self,
        action: ThreadAction,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        let (thread, nonce) = new_random_group();
        let entry = ThreadOutboxEntry {
            id: MsgId::random(),
            thread,
            sent_at: self.clock.now_ms(),
            action,
            nonce: Some(ByteBuf::from(nonce.to_vec())),
        };
        self.state.thread_outbox.push(entry.clone());
        self.save().await?;
        Ok(entry)
    }

    /// Queues a new report or consultation (photos are prepared now, so a
    /// photo that cannot be sent fails here, before anything is queued).
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_open(
        &mut self,
        kind: ThreadKind,
        handle: &str,
        category: Option<&str>,
        text: &str,
        location: Option<Location>,
        photo_paths: &[PathBuf],
        read_photo: ReadPhoto<'_>,
        live: bool,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        self.pin(handle)?;
        if text.trim().is_empty() {
            return Err(ClientError::Invalid { what: "text", reason: R::Empty });
        }
        let photos = self.prepare_photos(photo_paths, read_photo).await?;
        let action = ThreadAction::Open {
            kind,
            handle: handle.to_string(),
            category: category.map(str::to_string),
            text: text.to_string(),
            location,
            photos,
            live,
            department: None,
        };
        self.queue_new_thread(action).await
    }

    /// Queues a private consultation with department `department` of the
    /// org `handle` (a reply to a channel post; see [`crate::channels`]).
    pub async fn queue_department_consult(
        &mut self,
        handle: &str,
        department: &str,
        text: &str,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        self.pin(handle)?;
        if text.trim().is_empty() {
            return Err(ClientError::Invalid { what: "text", reason: R::Empty });
        }
        let action = ThreadAction::Open {
            kind: ThreadKind::Consult,
            handle: handle.to_string(),
            category: None,
            text: text.to_string(),
            location: None,
            photos: Vec::new(),
            live: false,
            department: Some(department.to_string()),
        };
        self.queue_new_thread(action).await
    }

    /// The thread, if this device has it (and it has not disappeared).
    pub fn thread(&self, id: &GroupId) -> Result<&Thread, ClientError> {
        self.state.threads.get(id).ok_or_else(|| ClientError::UnknownThread(id.to_string()))
    }

    /// How this device takes part in a thread: as its citizen or as staff.
    pub fn actor_in(&self, thread: &Thread) -> Result<Actor, ClientError> {
        if thread.is_creator(&self.state.account) {
            Ok(Actor::Citizen)
        } else if self.enrolment_at(&thread.org).is_some() {
            Ok(Actor::Staff)
        } else {
            Err(ClientError::NotStaff { handle: thread.handle.clone() })
        }
    }

    /// Queues a reply, checking the status rules first (nothing is queued
    /// if they are broken).
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_reply(
        &mut self,
        thread: &GroupId,
        text: &str,
        photo_paths: &[PathBuf],
        read_photo: ReadPhoto<'_>,
        status: Option<ThreadStatus>,
        reason: Option<&str>,
        as_me: bool,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        let record = self.thread(thread)?;
        self.pin(&record.handle)?;
        if record.removed {
            return Err(ClientError::RemovedFromThread(thread.to_string()));
        }
        if text.trim().is_empty() && status.is_none() && photo_paths.is_empty() {
            return Err(ClientError::Invalid { what: "text", reason: R::Empty });
        }
        let actor = self.actor_in(record)?;
        if let Some(status) = status {
            // Against the local state plus what is queued before it.
            let current = self.status_after_outbox(record);
            check_status_change(current, status, actor, reason)?;
        } else if reason.is_some() {
            return Err(ClientError::Invalid { what: "--reason", reason: R::GoesWithStatus });
        }
        if as_me && actor != Actor::Staff {
            return Err(ClientError::Invalid { what: "--as-me", reason: R::OnlyStaffOnBehalf });
        }
        let as_org = (actor == Actor::Staff && !as_me).then(|| self.org_name_of(record));
        let photos = self.prepare_photos(photo_paths, read_photo).await?;
        let action = ThreadAction::Reply {
            text: text.to_string(),
            photos,
            status,
            reason: reason.map(str::to_string),
            as_org,
        };
        self.queue_thread_entry(*thread, action).await
    }

    /// The org's current name as this device knows it.
    fn org_name_of(&self, thread: &Thread) -> String {
        self.cached_org(&thread.handle)
            .ok()
            .flatten()
            .and_then(|o| o.profile.map(|p| p.name))
            .unwrap_or_else(|| thread.org_name.clone())
    }

    /// The status the thread will have once the queued messages are sent.
    fn status_after_outbox(&self, thread: &Thread) -> ThreadStatus {
        let mut status = thread.status();
        for entry in self.state.thread_outbox.iter().filter(|e| e.thread == thread.id) {
            if let ThreadAction::Reply { status: Some(s), .. } = &entry.action {
                status = *s;
            }
        }
        status
    }

    /// Queues a re-assignment (staff only).
    pub async fn queue_assign(
        &mut self,
        thread: &GroupId,
        department: &str,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        stadtbote_protocol::org::validate_department(department)
            .map_err(|e| ClientError::Invalid { what: "department", reason: R::Format(e) })?;
        let record = self.thread(thread)?;
        self.pin(&record.handle)?;
        if self.actor_in(record)? != Actor::Staff {
            return Err(ClientError::NotStaff { handle: record.handle.clone() });
        }
        if record.department() == department {
            return Err(ClientError::Invalid {
                what: "department",
                reason: R::AlreadyWith { department: department.to_string() },
            });
        }
        self.queue_thread_entry(*thread, ThreadAction::Assign { department: department.into() })
            .await
    }

    /// Queues "disappear `days` days from now".
    pub async fn queue_disappear(
        &mut self,
        thread: &GroupId,
        days: u32,
    ) -> Result<ThreadOutboxEntry, ClientError> {
        if days == 0 {
            return Err(ClientError::Invalid { what: "DAYS", reason: R::AtLeastOne });
        }
        let record = self.thread(thread)?;
        self.pin(&record.handle)?;
        self.actor_in(record)?;
        let at = self.clock.now_ms().saturating_add(u64::from(days).saturating_mul(DAY_MS));
        self.queue_thread_entry(*thread, ThreadAction::Disappear { days, at }).await
    }

    // --------------------------------------------------------------- flush

    /// Sends every queued thread message, oldest first; per-message failures
    /// are reported, not returned (like [`Client::flush_outbox`]).
    pub async fn flush_thread_outbox(&mut self) -> Result<ThreadFlushReport, ClientError> {
        let mut report = ThreadFlushReport::default();
        if self.state.thread_outbox.is_empty() {
            return Ok(report);
        }
        let upload_error = self.finish_uploads(&mut report).await?;
        let known_uploads: BTreeSet<String> =
            attachments::pending_uploads(self).await?.into_iter().map(|r| r.id).collect();
        let mut blocked: BTreeSet<GroupId> = BTreeSet::new();
        let mut offline = false;
        for entry in self.state.thread_outbox.clone() {
            if offline {
                report.kept.push((entry, ClientError::NotConnected));
                continue;
            }
            if blocked.contains(&entry.thread) {
                report.kept.push((entry, ClientError::WaitingForEarlierMessage));
                continue;
            }
            let waiting: Vec<&PendingPhoto> =
                entry.action.photos().iter().filter(|p| p.attachment.is_none()).collect();
            if !waiting.is_empty() {
                let lost = waiting.iter().any(|p| !known_uploads.contains(&p.upload));
                match &upload_error {
                    Some(error) if lost && !error.is_transient() => {
                        let error = ClientError::PhotoNotSent(error.to_string());
                        self.drop_thread_entry(&entry).await?;
                        report.dropped.push((entry, error));
                    }
                    _ if lost => {
                        self.drop_thread_entry(&entry).await?;
                        report.dropped.push((
                            entry,
                            ClientError::PhotoNotSent("its prepared upload is gone".into()),
                        ));
                    }
                    Some(error) => {
                        offline = error.is_transient();
                        blocked.insert(entry.thread);
                        report.kept.push((entry, ClientError::PhotoNotSent(error.to_string())));
                    }
                    None => {
                        blocked.insert(entry.thread);
                        report.kept.push((entry, ClientError::NotConnected));
                    }
                }
                continue;
            }
            match self.deliver_thread(entry.id).await {
                Ok(group) => report.sent.push((entry.id, group)),
                // Kept: the user may confirm the new key (`verify`) and the
                // message then goes out; nothing was encrypted to anyone.
                Err(error @ ClientError::OrgKeyChanged { .. }) => {
                    blocked.insert(entry.thread);
                    report.kept.push((entry, error));
                }
                Err(error) if error.is_transient() => {
                    offline = error.is_offline();
                    blocked.insert(entry.thread);
                    let current = self.thread_entry(&entry.id).unwrap_or(entry);
                    report.kept.push((current, error));
                }
                Err(error) => {
                    let current = self.thread_entry(&entry.id).unwrap_or(entry);
                    self.drop_thread_entry(&current).await?;
                    report.dropped.push((current, error));
                }
            }
        }
        Ok(report)
    }

    fn thread_entry(&self, id: &MsgId) -> Option<ThreadOutboxEntry> {
        self.state.thread_outbox.iter().find(|e| e.id == *id).cloned()
    }

    async fn drop_thread_entry(&mut self, entry: &ThreadOutboxEntry) -> Result<(), ClientError> {
        self.state.thread_outbox.retain(|e| e.id != entry.id);
        self.save().await?;
        for photo in entry.action.photos() {
            attachments::forget_upload(self, &photo.upload).await?;
        }
        Ok(())
    }

    /// Uploads every prepared photo (continuing interrupted uploads) and
    /// notes the references in the outbox. Returns the error that stopped
    /// the uploads, if any.
    async fn finish_uploads(
        &mut self,
        report: &mut ThreadFlushReport,
    ) -> Result<Option<ClientError>, ClientError> {
        let waiting = self
            .state
            .thread_outbox
            .iter()
            .any(|e| e.action.photos().iter().any(|p| p.attachment.is_none()));
        if !waiting {
            return Ok(None);
        }
        let mut resumed = Vec::new();
        let result = attachments::resume_uploads_with_progress(self, |_, event| {
            if let UploadEvent::Resumed { chunk, chunks } = event {
                resumed.push((chunk, chunks));
            }
        })
        .await;
        report.resumed.extend(resumed);
        let (done, error) = match result {
            Ok(done) => (done, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        let done: BTreeMap<String, AttachmentRef> = done.into_iter().collect();
        for entry in &mut self.state.thread_outbox {
            if let Some(photos) = entry.action.photos_mut() {
                for photo in photos.iter_mut().filter(|p| p.attachment.is_none()) {
                    photo.attachment = done.get(&photo.upload).cloned();
                }
            }
        }
        self.save().await?;
        Ok(error)
    }

    /// Gives a queued opening a fresh thread id and nonce.
    async fn renew_thread_id(&mut self, id: &MsgId) -> Result<(), ClientError> {
        let (fresh, nonce) = new_random_group();
        if let Some(e) = self.state.thread_outbox.iter_mut().find(|e| e.id == *id) {
            e.thread = fresh;
            e.nonce = Some(ByteBuf::from(nonce.to_vec()));
        }
        self.save().await
    }

    /// Sends one queued entry; returns the thread it went to.
    async fn deliver_thread(&mut self, id: MsgId) -> Result<GroupId, ClientError> {
        // An opening whose group id turned out to exist on the server (its
        // first commit's answer was lost) gets a fresh id once; so does one
        // queued by an older release, which has no creation nonce.
        for _ in 0..3 {
            let entry = self.thread_entry(&id).ok_or(ClientError::NotConnected)?;
            let context = self.thread_context(&entry).await?;
            let is_open = matches!(entry.action, ThreadAction::Open { .. });
            let is_assign = matches!(entry.action, ThreadAction::Assign { .. });
            if is_open && !self.mls.has_group(&entry.thread)? {
                let Some(nonce) = entry.nonce.clone() else {
                    // Queued by an older release: no creation proof.
                    self.renew_thread_id(&id).await?;
                    continue;
                };
                self.creations.insert(entry.thread, GroupCreation::Random { nonce });
                self.mls.create_group(entry.thread)?;
                self.save().await?;
            }
            let settled = self.settle_membership(&entry.thread, &context, is_assign).await;
            if settled.is_err() && is_open && self.mls.has_group(&entry.thread)? {
                // A group that never got past epoch 0 existed only here.
                self.abandon_commit(&entry.thread).await?;
            }
            let added = match settled {
                Err(ClientError::ThreadIdTaken) if is_open => {
                    self.renew_thread_id(&id).await?;
                    continue;
                }
                other => other?,
            };
            if added && !is_open {
                // Devices that joined an existing thread have not seen it.
                self.send_history(&entry.thread).await?;
            }
            if is_open {
                // Never open a thread nobody at the org can read: a staff
                // device without KeyPackages on the server is added later.
                let members = self.mls.members(&entry.thread)?;
                let reachable = context.org.valid_staff(&context.department).iter().any(|r| {
                    members.iter().any(|m| r.certifies(&m.account, &m.device, &m.identity_key))
                });
                if !reachable {
                    return Err(ClientError::NoStaffReachable {
                        department: context.department.clone(),
                    });
                }
            }
            if let ThreadAction::Disappear { at, .. } = &entry.action {
                self.set_group_expiry(&entry.thread, *at).await?;
            }
            self.send_thread_message(&entry, &context).await?;
            return Ok(entry.thread);
        }
        Err(ClientError::ThreadConflict { attempts: 2 })
    }

    /// Looks up (and verifies) what a send needs: the org, the creator and
    /// the department whose devices belong in the group.
    async fn thread_context(
        &mut self,
        entry: &ThreadOutboxEntry,
    ) -> Result<ThreadContext, ClientError> {
        if let ThreadAction::Open {
            kind, handle, category, department: wanted_department, ..
        } = &entry.action
        {
            let org = self.fetch_org(handle).await?;
            let profile = org.require_profile()?;
            let (department, category) = match kind {
                ThreadKind::Report => {
                    let wanted = category.as_deref().unwrap_or_default();
                    let Some(found) =
                        profile.categories.iter().find(|c| c.name.eq_ignore_ascii_case(wanted))
                    else {
                        let valid: Vec<&str> =
                            profile.categories.iter().map(|c| c.name.as_str()).collect();
                        return Err(ClientError::UnknownCategory {
                            category: wanted.to_string(),
                            handle: handle.clone(),
                            valid: if valid.is_empty() {
                                "none yet".into()
                            } else {
                                valid.join(", ")
                            },
                        });
                    };
                    (found.department.clone(), Some(found.name.clone()))
                }
                ThreadKind::Consult => (
                    wanted_department
                        .clone()
                        .or_else(|| profile.consult_department.clone())
                        .unwrap_or_else(|| DEFAULT_CONSULT_DEPARTMENT.to_string()),
                    None,
                ),
            };
            if org.valid_staff(&department).is_empty() {
                if org.pending.iter().any(|p| p.department == department) {
                    return Err(ClientError::StaffAwaitingApproval {
                        department,
                        handle: handle.clone(),
                    });
                }
                return Err(ClientError::NoStaffEnrolled { department, handle: handle.clone() });
            }
            return Ok(ThreadContext { org, creator: self.state.account, department, category });
        }
        let thread = self.thread(&entry.thread)?.clone();
        let org = self.fetch_org(&thread.handle).await?;
        if org.org != thread.org {
            return Err(ClientError::InvalidOrgData {
                handle: thread.handle.clone(),
                reason: "the handle now belongs to another org".into(),
            });
        }
        let department = match &entry.action {
            ThreadAction::Assign { department } => department.clone(),
            _ => thread.department().to_string(),
        };
        Ok(ThreadContext { org, creator: thread.creator, department, category: thread.category })
    }

    /// Applies the membership rule to a thread now, without sending anything
    /// (used after a revocation).
    pub async fn enforce_membership(&mut self, thread: &GroupId) -> Result<(), ClientError> {
        let record = self.thread(thread)?.clone();
        let org = self.fetch_org(&record.handle).await?;
        let context = ThreadContext {
            org,
            creator: record.creator,
            department: record.department().to_string(),
            category: record.category.clone(),
        };
        if self.settle_membership(thread, &context, true).await? {
            self.send_history(thread).await?;
        }
        Ok(())
    }

    /// Sends the thread so far to the devices just added (see
    /// [`AppBody::History`]): the opening and the latest messages, as many
    /// as fit comfortably in one message.
    async fn send_history(&mut self, group: &GroupId) -> Result<(), ClientError> {
        let thread = self.thread(group)?.clone();
        let mut forwarded: Vec<ForwardedMessage> =
            thread.messages.iter().map(|m| forward(&thread, m)).collect();
        let encoded_len = |messages: &[ForwardedMessage]| {
            stadtbote_protocol::frame::encode(&AppBody::History {
                creator: thread.creator,
                messages: messages.to_vec(),
            })
            .len()
        };
        // Keep the opening; drop the oldest of the rest until it fits.
        while forwarded.len() > 1 && encoded_len(&forwarded) > MAX_HISTORY_BYTES {
            forwarded.remove(1);
        }
        let message = AppMessage {
            v: APP_VERSION,
            id: MsgId::random(),
            sent_at: self.clock.now_ms(),
            sender_name: None,
            body: AppBody::History { creator: thread.creator, messages: forwarded },
        };
        let ciphertext = self.mls.encrypt(group, &message.encode())?;
        self.save().await?;
        let request = Request::Send { group: *group, message: ByteBuf::from(ciphertext) };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Stored { .. }) => Ok(()),
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) => Err(ClientError::server(body)),
        }
    }

    /// Makes the group's members match the membership rule, one commit at a
    /// time (normally a single one), recovering from lost commit races.
    /// Returns whether devices were added.
    async fn settle_membership(
        &mut self,
        group: &GroupId,
        context: &ThreadContext,
        allow_self_outside: bool,
    ) -> Result<bool, ClientError> {
        let own = Member {
            account: self.state.account,
            device: self.state.device,
            identity_key: self.secret.identity_key(),
        };
        let mut race = ThreadRace {
            client: self,
            group: *group,
            context,
            allow_self_outside,
            own,
            added: false,
        };
        commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS).await
    }

    /// Claims KeyPackages of staff devices and checks each against its
    /// certificate; a mismatch refuses the whole send.
    async fn claim_staff_packages(
        &mut self,
        wanted: &[StaffRecord],
        org: &VerifiedOrg,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let devices = wanted.iter().map(|r| r.device).collect();
        let claimed =
            match self.conn_mut()?.call(Request::ClaimDeviceKeyPackages { devices }).await? {
                Ok(Response::KeyPackages { packages }) => packages,
                Ok(other) => return Err(unexpected(&self.server_url, &other)),
                Err(body) => return Err(ClientError::server(body)),
            };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for package in claimed {
            let Some(record) = wanted.iter().find(|r| r.device == package.device) else {
                continue;
            };
            if !seen.insert(package.device) {
                continue;
            }
            match self.mls.inspect_key_package(&package.key_package) {
                Ok(info)
                    if record.certifies(
                        &info.member.account,
                        &info.member.device,
                        &info.member.identity_key,
                    ) =>
                {
                    out.push(package.key_package.into_vec());
                }
                _ => {
                    return Err(ClientError::KeyPackageMismatch {
                        device: package.device.to_string(),
                        handle: org.handle.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Claims KeyPackages of the creator account's devices; packages that do
    /// not match the directory are skipped (as for conversations).
    async fn claim_creator_packages(
        &mut self,
        wanted: &[Member],
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let Some(account) = wanted.first().map(|m| m.account) else { return Ok(Vec::new()) };
        let claimed = match self.conn_mut()?.call(Request::ClaimKeyPackages { account }).await? {
            Ok(Response::KeyPackages { packages }) => packages,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::UnknownAccount => {
                return Err(ClientError::UnknownAccount(account));
            }
            Err(body) => return Err(ClientError::server(body)),
        };
        let mut out = Vec::new();
        for package in claimed {
            let Some(expected) = wanted.iter().find(|m| m.device == package.device) else {
                continue;
            };
            match self.mls.inspect_key_package(&package.key_package) {
                Ok(info) if info.member == *expected => out.push(package.key_package.into_vec()),
                _ => tracing::warn!("a KeyPackage does not match the directory; skipped"),
            }
        }
        Ok(out)
    }

    async fn set_group_expiry(&mut self, group: &GroupId, at: u64) -> Result<(), ClientError> {
        let request = Request::SetGroupExpiry { group: *group, expires_at: at, org: None };
        match self.conn_mut()?.call(request).await? {
            Ok(Response::GroupExpirySet { .. }) => Ok(()),
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) => Err(ClientError::server(body)),
        }
    }

    /// Encrypts and sends the entry, then records it in the thread.
    async fn send_thread_message(
        &mut self,
        entry: &ThreadOutboxEntry,
        context: &ThreadContext,
    ) -> Result<(), ClientError> {
        let uploaded = |photos: &[PendingPhoto]| -> Vec<AttachmentRef> {
            photos.iter().filter_map(|p| p.attachment.clone()).collect()
        };
        let (body, sender_name) = match &entry.action {
            ThreadAction::Open { kind, handle, text, location, photos, live, .. } => {
                let body = match kind {
                    ThreadKind::Report => AppBody::Report {
                        org: context.org.org,
                        handle: handle.clone(),
                        category: context.category.clone().unwrap_or_default(),
                        department: context.department.clone(),
                        text: text.clone(),
                        location: *location,
                        photos: uploaded(photos),
                    },
                    ThreadKind::Consult => AppBody::Consult {
                        org: context.org.org,
                        handle: handle.clone(),
                        department: context.department.clone(),
                        text: text.clone(),
                        live: *live,
                    },
                };
                (body, self.state.name.clone())
            }
            ThreadAction::Reply { text, photos, status, reason, as_org } => {
                let body = AppBody::Reply {
                    text: text.clone(),
                    photos: uploaded(photos),
                    status: *status,
                    reason: reason.clone(),
                    as_org: as_org.clone(),
                };
                // Replying on the org's behalf: the clerk's name is not even
                // transmitted.
                let name = if as_org.is_some() { None } else { self.state.name.clone() };
                (body, name)
            }
            ThreadAction::Assign { department } => {
                (AppBody::Assign { department: department.clone() }, self.staff_name(context))
            }
            ThreadAction::Disappear { days, at } => {
                (AppBody::Disappear { days: *days, at: Some(*at) }, self.staff_name(context))
            }
        };
        let message =
            AppMessage { v: APP_VERSION, id: entry.id, sent_at: entry.sent_at, sender_name, body };
        let ciphertext = self.mls.encrypt(&entry.thread, &message.encode())?;
        // The advanced sender ratchet is saved before the bytes leave.
        self.save().await?;
        let request =
            stadtbote_protocol::notify::send_request(entry.thread, ciphertext, &message.body);
        match self.conn_mut()?.call(request).await? {
            Ok(Response::Stored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::NotAMember => {
                return Err(ClientError::RemovedFromThread(entry.thread.to_string()));
            }
            Err(body) => return Err(ClientError::server(body)),
        }
        self.record_sent(entry, context, message.sender_name).await?;
        Ok(())
    }

    /// Staff hide their name unless they reply `--as-me`; the creator shows it.
    fn staff_name(&self, context: &ThreadContext) -> Option<String> {
        (context.creator == self.state.account).then(|| self.state.name.clone()).flatten()
    }

    async fn record_sent(
        &mut self,
        entry: &ThreadOutboxEntry,
        context: &ThreadContext,
        sender_name: Option<String>,
    ) -> Result<(), ClientError> {
        let photos = |pending: &[PendingPhoto]| -> Vec<Photo> {
            pending
                .iter()
                .filter_map(|p| {
                    p.attachment.clone().map(|attachment| Photo { attachment, saved_to: None })
                })
                .collect()
        };
        let role = if context.creator == self.state.account {
            SenderRole::Creator
        } else {
            SenderRole::Staff
        };
        let body = match &entry.action {
            ThreadAction::Open { text, photos: p, .. } => {
                ThreadBody::Open { text: text.clone(), photos: photos(p) }
            }
            ThreadAction::Reply { text, photos: p, status, reason, as_org } => ThreadBody::Reply {
                text: text.clone(),
                photos: photos(p),
                status: *status,
                reason: reason.clone(),
                as_org: as_org.clone(),
            },
            ThreadAction::Assign { department } => {
                ThreadBody::Assign { department: department.clone() }
            }
            ThreadAction::Disappear { days, at } => {
                ThreadBody::Disappear { days: *days, at: Some(*at) }
            }
        };
        let message = ThreadMessage {
            id: entry.id,
            from: self.state.account,
            from_device: self.state.device,
            from_name: sender_name,
            role,
            sent_at: entry.sent_at,
            received_at: None,
            body,
            read: true,
        };
        if let ThreadAction::Open { kind, handle, location, live, .. } = &entry.action {
            let thread = Thread {
                id: entry.thread,
                kind: *kind,
                org: context.org.org,
                handle: handle.clone(),
                org_name: context.org.name().to_string(),
                category: context.category.clone(),
                opened_department: context.department.clone(),
                creator: self.state.account,
                location: *location,
                live: *live,
                created_at: entry.sent_at,
                messages: Vec::new(),
                warnings: Vec::new(),
                disappear_at: None,
                removed: false,
                unchecked_members: false,
            };
            self.state.threads.entry(entry.thread).or_insert(thread);
            self.state.pending_threads.remove(&entry.thread);
            self.routes.add_thread(entry.thread);
            self.routes.remove(&entry.thread, Kind::PendingThread);
        }
        if let Some(thread) = self.state.threads.get_mut(&entry.thread) {
            thread.push(message);
        }
        self.state.thread_outbox.retain(|e| e.id != entry.id);
        self.save().await?;
        for photo in entry.action.photos() {
            attachments::forget_upload(self, &photo.upload).await?;
        }
        Ok(())
    }
}

/// [`Client::settle_membership`]'s side of the commit race: the commit
/// that applies the membership rule, one at a time, until none is needed.
struct ThreadRace<'a, S: Storage, K: Connector, C> {
    client: &'a mut Client<S, K, C>,
    group: GroupId,
    context: &'a ThreadContext,
    allow_self_outside: bool,
    own: Member,
    /// Whether an accepted commit added devices.
    added: bool,
}

impl<S: Storage, K: Connector, C: Clock + Clone> CommitRace for ThreadRace<'_, S, K, C> {
    type Transport = K::Transport;
    type Clock = C;
    type Pending = Commit;
    type Done = bool;
    type Error = ClientError;

    fn connection(&mut self) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.client.core_connection()
    }

    async fn prepare(&mut self) -> Result<Attempt<Commit, bool>, ClientError> {
        let (group, own, allow_self_outside) = (self.group, &self.own, self.allow_self_outside);
        let client = &mut *self.client;
        if !client.mls.has_group(&group)? {
            return Err(ClientError::RemovedFromThread(group.to_string()));
        }
        if !client.mls.is_active(&group)? {
            return Err(ClientError::RemovedFromThread(group.to_string()));
        }
        let members = client.mls.members(&group)?;
        let creator_devices: BTreeMap<_, IdentityKey> = client
            .list_devices(&self.context.creator)
            .await?
            .into_iter()
            .map(|d| (d.device, d.identity_key))
            .collect();
        let revoked = self.context.org.revoked_devices();
        let plan = plan_membership(
            own,
            &members,
            &self.context.creator,
            &creator_devices,
            &self.context.org.staff,
            &revoked,
            &self.context.department,
        );
        let epoch = client.mls.epoch(&group)?;
        if let Some(device) = plan.refuse.first() {
            // A member enrolled before approvals existed (or whose
            // approval is still to come) is not encrypted to, but the
            // message waits for the approval instead of being dropped.
            let pending = members.iter().find(|m| m.device == *device).is_some_and(|m| {
                self.context.org.pending.iter().any(|p| {
                    p.device == m.device
                        && p.account == m.account
                        && p.identity_key == m.identity_key
                })
            });
            let error = if pending {
                ClientError::MemberAwaitingApproval {
                    device: device.to_string(),
                    thread: group.to_string(),
                    handle: self.context.org.handle.clone(),
                }
            } else {
                ClientError::RefuseUncertified {
                    device: device.to_string(),
                    thread: group.to_string(),
                    handle: self.context.org.handle.clone(),
                }
            };
            if let Some(thread) = client.state.threads.get_mut(&group) {
                thread.warn(error.to_string());
            }
            client.abandon_commit(&group).await?;
            client.save().await?;
            return Err(error);
        }
        if !plan.self_entitled && !allow_self_outside {
            return Err(ClientError::NotInDepartment {
                thread: group.to_string(),
                department: self.context.department.clone(),
            });
        }
        if plan.is_settled() && epoch > 0 {
            return Ok(Attempt::Done(self.added));
        }
        let mut packages = Vec::new();
        if !plan.add_staff.is_empty() {
            packages.extend(client.claim_staff_packages(&plan.add_staff, &self.context.org).await?);
        }
        if !plan.add_creator.is_empty() {
            packages.extend(client.claim_creator_packages(&plan.add_creator).await?);
        }
        let commit = if packages.is_empty() && plan.remove.is_empty() {
            if epoch > 0 {
                // Devices without usable KeyPackages are added later.
                return Ok(Attempt::Done(self.added));
            }
            client.mls.commit_update(&group)?
        } else {
            match client.mls.change_members(&group, &packages, &plan.remove) {
                Ok(commit) => commit,
                Err(error) => {
                    client.abandon_commit(&group).await?;
                    return Err(error.into());
                }
            }
        };
        let request = client.commit_request(&group, &commit)?;
        Ok(Attempt::Commit { request, pending: commit })
    }

    async fn accepted(&mut self, commit: Commit, epoch: u64) -> Result<Option<bool>, ClientError> {
        self.client.merge_commit(&self.group, epoch)?;
        self.client.save().await?;
        self.added |= !commit.added.is_empty();
        Ok(None)
    }

    async fn abandon(&mut self, _commit: &Commit) -> Result<(), ClientError> {
        self.client.abandon_commit(&self.group).await
    }

    async fn lost_race(&mut self, commit: Commit, refusal: ErrorBody) -> Result<(), ClientError> {
        if commit.epoch_before == 0 {
            // Our locally created group lost to one the server already has
            // under this id.
            return Err(ClientError::ThreadIdTaken);
        }
        self.client.catch_up_to(&self.group, refusal.current_epoch, CATCH_UP_WAIT).await
    }

    async fn refused(&mut self, commit: Commit, body: ErrorBody) -> Result<(), ClientError> {
        match body.code {
            ErrorCode::NotAMember if commit.epoch_before == 0 => Err(ClientError::ThreadIdTaken),
            ErrorCode::NotAMember => Err(ClientError::RemovedFromThread(self.group.to_string())),
            _ => Err(ClientError::server(body)),
        }
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        unexpected(&self.client.server_url, answer)
    }

    fn gave_up(&self, attempts: usize) -> ClientError {
        ClientError::ThreadConflict { attempts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_parsed_and_range_checked() {
        let l = parse_location("51.906123,10.429087").unwrap();
        assert_eq!((l.lat, l.lon), (51.906123, 10.429087));
        let l = parse_location(" -33.9 , 18.4 ").unwrap();
        assert_eq!((l.lat, l.lon), (-33.9, 18.4));
        for bad in ["91,0", "0,181", "-90.5,0", "NaN,0", "inf,0", "51.9", "x,y", ""] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
        assert!(parse_location("90,-180").is_ok());
    }
}
