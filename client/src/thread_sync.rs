//! Receiving in report and consultation threads: turning decrypted thread
//! messages, Welcomes and commits into thread state, checking who sent and
//! who is in a thread, and making threads disappear on time.
//!
//! [`crate::sync`] hands every envelope of a group that is not a one-to-one
//! conversation to this module. Processing must not wait for the network
//! (the mailbox is processed in order, then acked), so checks that need the
//! org's current directory are done in two steps:
//!
//! 1. while processing, a sender is classified with the cached directory
//!    ([`crate::pinning::OrgPin::directory`]): the thread's creator, a
//!    certified staff device, or *unverified*; member changes mark the
//!    thread for a member check;
//! 2. after the mailbox is processed, [`Client::verify_threads`] fetches the
//!    directories of the orgs concerned, re-classifies unverified senders
//!    and checks members, recording a warning on the thread for every
//!    member without a valid certificate. An unverified sender's status
//!    changes never count (see [`crate::threads`]).

use crate::clock::Clock;
use crate::routing::Kind;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeSet;

use stadtbote_protocol::app::{AppBody, AppMessage, Location};
use stadtbote_protocol::mls::Member;
use stadtbote_protocol::org::{validate_department, validate_handle};
use stadtbote_protocol::{AccountId, DeviceId, GroupId, MsgId};

use crate::error::ClientError;
use crate::pinning::VerifiedOrg;
use crate::session::Client;
use crate::threads::{Photo, SenderRole, Thread, ThreadBody, ThreadKind, ThreadMessage};

/// A photo of a thread message ([`Client::thread_photos`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPhoto {
    /// The message.
    pub message: MsgId,
    /// Its place among the message's photos.
    pub index: usize,
    /// A file name stem for it (`<message id prefix>-<n>`).
    pub stem: String,
    /// The photo on the server.
    pub attachment: stadtbote_protocol::app::AttachmentRef,
    /// Where it was saved last, if anywhere.
    pub saved_to: Option<std::path::PathBuf>,
}

/// Longest text accepted in a thread message (longer ones are cut).
const MAX_TEXT_CHARS: usize = 20_000;

fn valid_location(location: Option<Location>) -> Option<Location> {
    location.filter(|l| {
        l.lat.is_finite()
            && l.lon.is_finite()
            && (-90.0..=90.0).contains(&l.lat)
            && (-180.0..=180.0).contains(&l.lon)
    })
}

fn clip(text: String) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        text
    } else {
        text.chars().take(MAX_TEXT_CHARS).collect()
    }
}

/// Classifies the sender of a thread message with what `org` says.
pub fn classify_sender(
    thread: &Thread,
    org: Option<&VerifiedOrg>,
    from: &AccountId,
    from_device: &DeviceId,
    members: &[Member],
) -> SenderRole {
    if *from == thread.creator {
        return SenderRole::Creator;
    }
    let Some(org) = org.filter(|o| o.org == thread.org) else { return SenderRole::Unverified };
    let Some(record) = org.staff_device(from_device) else { return SenderRole::Unverified };
    // The member's key, when it is still a member, must be the certified one.
    let key_ok = members
        .iter()
        .find(|m| m.device == *from_device)
        .is_none_or(|m| m.identity_key == record.identity_key && m.account == record.account);
    if record.is_valid() && record.account == *from && key_ok {
        SenderRole::Staff
    } else {
        SenderRole::Unverified
    }
}

/// Members of a thread that neither belong to its creator nor hold a valid
/// certificate of its org. Devices the org revoked are not counted: they
/// were certified, and every member removes them before its next message.
pub fn uncertified_members(
    thread: &Thread,
    org: &VerifiedOrg,
    members: &[Member],
    own: &DeviceId,
) -> Vec<DeviceId> {
    let revoked = org.revoked_devices();
    members
        .iter()
        .filter(|m| m.device != *own && m.account != thread.creator)
        .filter(|m| !revoked.contains(&m.device))
        .filter(|m| {
            !org.staff
                .iter()
                .any(|r| r.is_valid() && r.certifies(&m.account, &m.device, &m.identity_key))
        })
        .map(|m| m.device)
        .collect()
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// A Welcome into a group that is not a conversation: a thread whose
    /// opening message follows.
    pub(crate) fn on_thread_welcome(&mut self, group: GroupId) {
        match self.state.threads.get_mut(&group) {
            Some(thread) => {
                thread.removed = false;
                thread.unchecked_members = true;
            }
            None => {
                self.state.pending_threads.insert(group, self.clock.now_ms());
                self.routes.add_pending_thread(group);
            }
        }
    }

    /// Another member's commit in a thread.
    pub(crate) fn on_thread_commit(&mut self, group: GroupId, removed: bool, added: bool) {
        if let Some(thread) = self.state.threads.get_mut(&group) {
            if removed {
                thread.removed = true;
                thread.warn("this device was removed from the thread".into());
            }
            if added {
                thread.unchecked_members = true;
            }
        } else if removed {
            self.state.pending_threads.remove(&group);
            self.routes.remove(&group, Kind::PendingThread);
        }
    }

    /// A decrypted application message of a thread group.
    pub(crate) fn on_thread_application(
        &mut self,
        group: GroupId,
        from: AccountId,
        from_device: DeviceId,
        plaintext: &[u8],
        received_at: u64,
    ) -> Result<(), ClientError> {
        let message = match AppMessage::decode(plaintext) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "dropping an unreadable thread message");
                return Ok(());
            }
        };
        if let AppBody::History { creator, messages } = message.body {
            return self.on_history(group, creator, messages);
        }
        if !self.state.threads.contains_key(&group) {
            return self.open_received_thread(group, from, from_device, message, received_at);
        }
        self.append_received(group, from, from_device, message, received_at)
    }

    /// A forwarded history: builds the thread on a device added later.
    /// Devices that have the thread ignore it.
    fn on_history(
        &mut self,
        group: GroupId,
        creator: AccountId,
        messages: Vec<stadtbote_protocol::app::ForwardedMessage>,
    ) -> Result<(), ClientError> {
        if self.state.threads.contains_key(&group) {
            return Ok(());
        }
        let mut messages = messages.into_iter();
        let Some(first) = messages.next() else { return Ok(()) };
        if first.from != creator {
            tracing::warn!(%group, "ignoring a thread history whose opening is not the creator's");
            return Ok(());
        }
        self.open_received_thread(
            group,
            first.from,
            first.from_device,
            first.message,
            first.received_at,
        )?;
        if !self.state.threads.contains_key(&group) {
            return Ok(());
        }
        for item in messages {
            if matches!(item.message.body, AppBody::History { .. }) {
                continue;
            }
            self.append_received(
                group,
                item.from,
                item.from_device,
                item.message,
                item.received_at,
            )?;
        }
        Ok(())
    }

    /// A message of a thread this device has.
    fn append_received(
        &mut self,
        group: GroupId,
        from: AccountId,
        from_device: DeviceId,
        message: AppMessage,
        received_at: u64,
    ) -> Result<(), ClientError> {
        let read = from == self.state.account;
        let members = self.mls.members(&group).unwrap_or_default();
        let Some(thread) = self.state.threads.get(&group) else { return Ok(()) };
        let org = self.cached_org(&thread.handle).ok().flatten();
        let role = classify_sender(thread, org.as_ref(), &from, &from_device, &members);
        let body = match message.body {
            AppBody::Reply { text, photos, status, reason, as_org } => ThreadBody::Reply {
                text: clip(text),
                photos: photos
                    .into_iter()
                    .map(|a| Photo { attachment: a, saved_to: None })
                    .collect(),
                status,
                reason,
                as_org,
            },
            AppBody::Assign { department } if validate_department(&department).is_ok() => {
                ThreadBody::Assign { department }
            }
            AppBody::Disappear { days, at } => ThreadBody::Disappear { days, at },
            // Openings are only valid first; receipts and plain texts are
            // not part of threads.
            _ => return Ok(()),
        };
        let entry = ThreadMessage {
            id: message.id,
            from,
            from_device,
            from_name: message.sender_name,
            role,
            sent_at: message.sent_at,
            received_at: Some(received_at),
            body,
            read,
        };
        if let Some(thread) = self.state.threads.get_mut(&group) {
            thread.push(entry);
        }
        Ok(())
    }

    fn open_received_thread(
        &mut self,
        group: GroupId,
        from: AccountId,
        from_device: DeviceId,
        message: AppMessage,
        received_at: u64,
    ) -> Result<(), ClientError> {
        let (kind, org, handle, category, department, text, location, photos, live) = match message
            .body
        {
            AppBody::Report { org, handle, category, department, text, location, photos } => (
                ThreadKind::Report,
                org,
                handle,
                Some(category),
                department,
                text,
                location,
                photos,
                false,
            ),
            AppBody::Consult { org, handle, department, text, live } => {
                (ThreadKind::Consult, org, handle, None, department, text, None, Vec::new(), live)
            }
            _ => {
                tracing::debug!("a thread message arrived before the thread's opening");
                return Ok(());
            }
        };
        let own = self.state.account;
        let related = from == own || self.state.enrolments.iter().any(|e| e.org == org);
        if validate_handle(&handle).is_err()
            || validate_department(&department).is_err()
            || !related
        {
            tracing::warn!(%group, "leaving a thread that is not for this device");
            self.state.pending_threads.remove(&group);
            self.routes.remove(&group, Kind::PendingThread);
            if self.mls.has_group(&group)? {
                self.mls.delete_group(&group)?;
            }
            return Ok(());
        }
        let org_name = self
            .state
            .enrolments
            .iter()
            .find(|e| e.org == org)
            .map(|e| e.org_name.clone())
            .or_else(|| self.cached_org(&handle).ok().flatten().map(|o| o.name().to_string()))
            .unwrap_or_else(|| handle.clone());
        let mut thread = Thread {
            id: group,
            kind,
            org,
            handle,
            org_name,
            category,
            opened_department: department,
            creator: from,
            location: valid_location(location),
            live,
            created_at: received_at,
            messages: Vec::new(),
            warnings: Vec::new(),
            disappear_at: None,
            removed: false,
            unchecked_members: true,
        };
        thread.push(ThreadMessage {
            id: message.id,
            from,
            from_device,
            from_name: message.sender_name,
            role: SenderRole::Creator,
            sent_at: message.sent_at,
            received_at: Some(received_at),
            body: ThreadBody::Open {
                text: clip(text),
                photos: photos
                    .into_iter()
                    .map(|a| Photo { attachment: a, saved_to: None })
                    .collect(),
            },
            read: from == own,
        });
        self.state.pending_threads.remove(&group);
        self.state.threads.insert(group, thread);
        self.routes.remove(&group, Kind::PendingThread);
        self.routes.add_thread(group);
        Ok(())
    }

    /// After the mailbox is processed: fetches the directories of orgs whose
    /// threads have unverified senders or unchecked members (or that this
    /// device has not pinned yet), re-classifies and checks. Problems are
    /// recorded on the threads; this never fails the command.
    pub async fn verify_threads(&mut self) {
        let own = self.state.device;
        let handles: BTreeSet<String> = self
            .state
            .threads
            .values()
            .filter(|t| {
                t.unchecked_members
                    || t.messages.iter().any(|m| m.role == SenderRole::Unverified)
                    || self.state.pins.get(&t.handle).is_none_or(|p| p.directory.is_none())
            })
            .map(|t| t.handle.clone())
            .collect();
        for handle in handles {
            let org = match self.fetch_org(&handle).await {
                Ok(org) => org,
                Err(error) => {
                    tracing::warn!(%error, "cannot check the threads of an org");
                    if !error.is_transient() {
                        for thread in self.state.threads.values_mut().filter(|t| t.handle == handle)
                        {
                            thread.warn(error.to_string());
                        }
                    }
                    continue;
                }
            };
            let ids: Vec<GroupId> = self
                .state
                .threads
                .values()
                .filter(|t| t.handle == handle && t.org == org.org)
                .map(|t| t.id)
                .collect();
            for id in ids {
                let members = if self.mls.has_group(&id).unwrap_or(false) {
                    self.mls.members(&id).unwrap_or_default()
                } else {
                    Vec::new()
                };
                let Some(thread) = self.state.threads.get_mut(&id) else { continue };
                let snapshot = thread.clone();
                for message in
                    thread.messages.iter_mut().filter(|m| m.role == SenderRole::Unverified)
                {
                    message.role = classify_sender(
                        &snapshot,
                        Some(&org),
                        &message.from,
                        &message.from_device,
                        &members,
                    );
                }
                if thread.unchecked_members && !thread.removed {
                    for device in uncertified_members(&snapshot, &org, &members, &own) {
                        thread.warn(format!(
                            "device {device} in thread {id} has no valid staff certificate from {handle}"
                        ));
                    }
                }
                thread.unchecked_members = false;
            }
        }
        if let Err(error) = self.save().await {
            tracing::warn!(%error, "cannot save thread checks");
        }
    }

    /// The threads whose disappearing time has passed by `now`.
    pub fn expired_threads(&self, now: u64) -> Vec<GroupId> {
        self.state
            .threads
            .values()
            .filter(|t| t.disappear_at.is_some_and(|at| at <= now))
            .map(|t| t.id)
            .collect()
    }

    /// Deletes threads whose disappearing time has passed: their MLS state,
    /// their bookkeeping and queued messages, erased from the store before
    /// this returns. Returns how many disappeared. Photos the front-end
    /// saved of them are its files: it removes them first
    /// ([`Client::expired_threads`]), so that a crash in between leaves a
    /// thread to purge again rather than photos of a thread that is gone.
    pub async fn purge_expired_threads(&mut self, now: u64) -> Result<usize, ClientError> {
        let expired = self.expired_threads(now);
        if expired.is_empty() {
            return Ok(0);
        }
        for id in &expired {
            if self.mls.has_group(id)? {
                self.mls.delete_group(id)?;
            }
            self.state.threads.remove(id);
            self.routes.remove(id, Kind::Thread);
            self.state.thread_outbox.retain(|e| e.thread != *id);
        }
        self.save_erasing().await?;
        Ok(expired.len())
    }

    /// A thread's photos, in order, with where each was saved last (the
    /// front-end saves them: the CLI under `<home>/photos/<THREAD>/` or a
    /// directory the user names, see its `save_thread_photos`).
    pub fn thread_photos(&self, id: &GroupId) -> Result<Vec<ThreadPhoto>, ClientError> {
        let thread = self.thread(id)?;
        let mut photos = Vec::new();
        for message in &thread.messages {
            for (index, photo) in message.photos().iter().enumerate() {
                let id_text = message.id.to_string();
                photos.push(ThreadPhoto {
                    message: message.id,
                    index,
                    stem: format!("{}-{}", &id_text[..8.min(id_text.len())], index + 1),
                    attachment: photo.attachment.clone(),
                    saved_to: photo.saved_to.clone(),
                });
            }
        }
        Ok(photos)
    }

    /// Records where the front-end saved a thread's photo.
    pub async fn record_photo_saved(
        &mut self,
        id: &GroupId,
        photo: &ThreadPhoto,
        path: std::path::PathBuf,
    ) -> Result<(), ClientError> {
        if let Some(record) = self
            .state
            .threads
            .get_mut(id)
            .and_then(|t| t.messages.iter_mut().find(|m| m.id == photo.message))
            .and_then(|m| m.photos_mut())
            .and_then(|p| p.get_mut(photo.index))
        {
            record.saved_to = Some(path);
        }
        self.save().await
    }

    /// Marks a thread's messages as read.
    pub async fn mark_thread_read(&mut self, id: &GroupId) -> Result<(), ClientError> {
        if let Some(thread) = self.state.threads.get_mut(id)
            && thread.unread()
        {
            for message in &mut thread.messages {
                message.read = true;
            }
            self.save().await?;
        }
        Ok(())
    }

    /// Unread messages across all threads.
    pub fn unread_thread_messages(&self) -> usize {
        self.state.threads.values().map(Thread::unread_count).sum()
    }

    /// Finds a thread by id or by an unambiguous prefix of its id (at least
    /// six characters).
    pub fn resolve_thread(&self, text: &str) -> Result<GroupId, ClientError> {
        if let [only] = crate::state::group_ids_matching(&self.state.threads, text).as_slice() {
            return Ok(*only);
        }
        Err(ClientError::UnknownThread(text.to_string()))
    }

    /// The ids of a thread's messages, for callers that mark them.
    pub fn thread_message_ids(&self, id: &GroupId) -> Vec<MsgId> {
        self.state
            .threads
            .get(id)
            .map(|t| t.messages.iter().map(|m| m.id).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff::StaffRecord;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::auth::IdentityKey;
    use stadtbote_protocol::org::Role;

    fn thread() -> Thread {
        Thread {
            id: GroupId([3; 16]),
            kind: ThreadKind::Report,
            org: OrgId([4; 16]),
            handle: "goslar".into(),
            org_name: "Stadt Goslar".into(),
            category: None,
            opened_department: "bauhof".into(),
            creator: AccountId([1; 16]),
            location: None,
            live: false,
            created_at: 0,
            messages: vec![],
            warnings: vec![],
            disappear_at: None,
            removed: false,
            unchecked_members: false,
        }
    }

    fn org(revoked: bool) -> VerifiedOrg {
        VerifiedOrg {
            org: OrgId([4; 16]),
            handle: "goslar".into(),
            key: IdentityKey([0; 32]),
            verified: false,
            profile: None,
            revocations: None,
            staff: vec![StaffRecord {
                account: AccountId([8; 16]),
                device: DeviceId([8; 16]),
                identity_key: IdentityKey([8; 32]),
                role: Role::Clerk,
                department: "bauhof".into(),
                expires_at: u64::MAX,
                revoked,
                expired: false,
                unlisted: false,
                invite_id: serde_bytes::ByteBuf::from(vec![8; 8]),
            }],
            pending: Vec::new(),
            staff_list: None,
        }
    }

    fn member(n: u8) -> Member {
        Member {
            account: AccountId([n; 16]),
            device: DeviceId([n; 16]),
            identity_key: IdentityKey([n; 32]),
        }
    }

    #[test]
    fn senders_are_creator_staff_or_unverified() {
        let t = thread();
        let (a1, d1) = (AccountId([1; 16]), DeviceId([1; 16]));
        let (a8, d8) = (AccountId([8; 16]), DeviceId([8; 16]));
        assert_eq!(classify_sender(&t, None, &a1, &d1, &[]), SenderRole::Creator);
        assert_eq!(classify_sender(&t, None, &a8, &d8, &[]), SenderRole::Unverified);
        assert_eq!(
            classify_sender(&t, Some(&org(false)), &a8, &d8, &[member(8)]),
            SenderRole::Staff
        );
        assert_eq!(classify_sender(&t, Some(&org(true)), &a8, &d8, &[]), SenderRole::Unverified);
        let mut impostor = member(8);
        impostor.identity_key = IdentityKey([9; 32]);
        assert_eq!(
            classify_sender(&t, Some(&org(false)), &a8, &d8, &[impostor]),
            SenderRole::Unverified
        );
        let mut other = org(false);
        other.org = OrgId([5; 16]);
        assert_eq!(classify_sender(&t, Some(&other), &a8, &d8, &[]), SenderRole::Unverified);
    }

    #[test]
    fn members_without_certificates_are_found() {
        let t = thread();
        let own = DeviceId([1; 16]);
        let members = [member(1), member(8), member(9)];
        assert_eq!(uncertified_members(&t, &org(false), &members, &own), [DeviceId([9; 16])]);
        assert_eq!(
            uncertified_members(&t, &org(true), &members, &own),
            [DeviceId([8; 16]), DeviceId([9; 16])]
        );
        // On the signed revocation list: certified once, not a stranger.
        let mut listed = org(false);
        listed.staff.clear();
        listed.revocations = Some(stadtbote_protocol::org::RevocationList {
            v: 1,
            org: listed.org,
            version: 1,
            revoked: vec![DeviceId([8; 16])],
            updated_at: 0,
        });
        assert_eq!(uncertified_members(&t, &listed, &members, &own), [DeviceId([9; 16])]);
    }

    #[test]
    fn locations_from_the_wire_are_range_checked() {
        assert!(valid_location(Some(Location { lat: 91.0, lon: 0.0 })).is_none());
        assert!(valid_location(Some(Location { lat: f64::NAN, lon: 0.0 })).is_none());
        assert!(valid_location(Some(Location { lat: 51.9, lon: 10.4 })).is_some());
    }
}
