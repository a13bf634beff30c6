//! Report and consultation threads: their local state and the rules that
//! govern them. Pure bookkeeping (no I/O, no clock), so the rules are
//! unit-tested here:
//!
//! * **status lifecycle** ([`check_status_change`]): a thread starts `open`;
//!   staff move it forward (acknowledged → in-progress → resolved or
//!   rejected, never backwards); `resolved`, `rejected` and `reopened` need a
//!   reason; only the citizen reopens, and only a resolved or rejected thread;
//! * **status is derived, not stored** ([`Thread::status_history`]): it is a
//!   fold over the thread's messages in arrival order that accepts a status
//!   change only from a sender entitled to it (a certified staff device, or
//!   the citizen for `reopened`) and only if the transition is allowed. A
//!   message from a device whose certificate could not be checked yet counts
//!   once the check succeeds ([`SenderRole::Unverified`]);
//! * **membership** ([`plan_membership`]): a thread's MLS group must hold the
//!   creator account's devices and the valid staff devices of the current
//!   department, nothing else. Members that were legitimately there but are
//!   no longer entitled (revoked or expired certificate, another department,
//!   a device the creator's account no longer lists) are removed; a member
//!   that no certificate from the pinned org key vouches for is a forgery,
//!   and the client refuses to encrypt anything to the group.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use stadtbote_protocol::app::{AttachmentRef, Location, ThreadStatus};
use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::mls::Member;
use stadtbote_protocol::{AccountId, DeviceId, GroupId, MsgId, OrgId};

use crate::staff::StaffRecord;

/// What a thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadKind {
    /// A report to a department (road damage, broken lamp…).
    Report,
    /// A question during consultation hours.
    Consult,
}

impl ThreadKind {
    /// The name used on the command line and in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            ThreadKind::Report => "report",
            ThreadKind::Consult => "consult",
        }
    }
}

/// Who sent a message, as far as this device could check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderRole {
    /// A device of the account that opened the thread.
    Creator,
    /// A device with a valid certificate from the org.
    Staff,
    /// Neither could be established (yet): its status changes do not count.
    Unverified,
}

/// A photo in a thread message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    /// Where and how to fetch and decrypt it.
    pub attachment: AttachmentRef,
    /// Where this device last saved it, if it did.
    pub saved_to: Option<PathBuf>,
}

/// What a thread message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadBody {
    /// The opening report or question.
    Open {
        /// The text.
        text: String,
        /// Photos.
        photos: Vec<Photo>,
    },
    /// A reply, possibly changing the status.
    Reply {
        /// The text.
        text: String,
        /// Photos.
        photos: Vec<Photo>,
        /// The status it sets, if any.
        status: Option<ThreadStatus>,
        /// Why.
        reason: Option<String>,
        /// The org's name when a clerk answered on behalf of the org.
        as_org: Option<String>,
    },
    /// Moved to another department.
    Assign {
        /// The new department.
        department: String,
    },
    /// The thread will disappear.
    Disappear {
        /// Days after sending.
        days: u32,
        /// When (Unix ms).
        at: Option<u64>,
    },
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadMessage {
    /// The sender's message id.
    pub id: MsgId,
    /// The sender's account.
    pub from: AccountId,
    /// The sender's device.
    pub from_device: DeviceId,
    /// The display name the sender sent along.
    pub from_name: Option<String>,
    /// What this device could establish about the sender.
    pub role: SenderRole,
    /// The sender's clock (Unix ms).
    pub sent_at: u64,
    /// When the server stored it for this device; `None` if sent from here.
    pub received_at: Option<u64>,
    /// The content.
    pub body: ThreadBody,
    /// Whether `show` or `chat` displayed it here.
    pub read: bool,
}

impl ThreadMessage {
    /// The time a message is ordered and shown by: the server's for received
    /// messages, the sender's for our own.
    pub fn at(&self) -> u64 {
        self.received_at.unwrap_or(self.sent_at)
    }

    /// The text, if the message has one.
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            ThreadBody::Open { text, .. } | ThreadBody::Reply { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The photos.
    pub fn photos(&self) -> &[Photo] {
        match &self.body {
            ThreadBody::Open { photos, .. } | ThreadBody::Reply { photos, .. } => photos,
            _ => &[],
        }
    }

    /// Mutable photos.
    pub fn photos_mut(&mut self) -> Option<&mut Vec<Photo>> {
        match &mut self.body {
            ThreadBody::Open { photos, .. } | ThreadBody::Reply { photos, .. } => Some(photos),
            _ => None,
        }
    }

    /// The org name it was sent on behalf of; honoured only from a
    /// certified staff device, so that nobody else can pose as the town.
    pub fn as_org(&self) -> Option<&str> {
        match &self.body {
            ThreadBody::Reply { as_org, .. } if self.role == SenderRole::Staff => as_org.as_deref(),
            _ => None,
        }
    }

    /// The name to show for the sender: the org's for replies on its
    /// behalf (the clerk's own name is then not even transmitted).
    pub fn display_name(&self) -> Option<&str> {
        self.as_org().or(self.from_name.as_deref())
    }
}

/// A status change that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The new status.
    pub status: ThreadStatus,
    /// Why, if given.
    pub reason: Option<String>,
    /// When (Unix ms).
    pub at: u64,
    /// The account that made it.
    pub by: AccountId,
    /// The name shown for it.
    pub by_name: Option<String>,
    /// The message that carried it (`None` for the opening).
    pub message: Option<MsgId>,
}

/// A report or consultation thread as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// The thread (its MLS group id).
    pub id: GroupId,
    /// Report or consultation.
    pub kind: ThreadKind,
    /// The org.
    pub org: OrgId,
    /// Its handle.
    pub handle: String,
    /// Its name when the thread was opened.
    pub org_name: String,
    /// The report's category.
    pub category: Option<String>,
    /// The department it was opened for (see [`Thread::department`]).
    pub opened_department: String,
    /// The account that opened it (the citizen).
    pub creator: AccountId,
    /// Where, if the citizen said.
    pub location: Option<Location>,
    /// For consultations: whether the citizen saw a live session.
    pub live: bool,
    /// When it was opened: the server's arrival time of the opening message
    /// on staff devices (the consultation queue order), the citizen's clock
    /// on the device that sent it.
    pub created_at: u64,
    /// Messages in the order this device learned of them.
    pub messages: Vec<ThreadMessage>,
    /// Problems found with the thread (uncertified members, refused sends).
    pub warnings: Vec<String>,
    /// When the thread disappears (Unix ms).
    pub disappear_at: Option<u64>,
    /// This device was removed from the group.
    pub removed: bool,
    /// Members changed (Welcome, commit) and have not been checked against
    /// a fresh org directory yet.
    #[serde(default)]
    pub unchecked_members: bool,
}

impl Thread {
    /// Whether this device's account opened the thread.
    pub fn is_creator(&self, account: &AccountId) -> bool {
        self.creator == *account
    }

    /// Whether the thread already holds this message.
    pub fn has_message(&self, id: &MsgId) -> bool {
        self.messages.iter().any(|m| m.id == *id)
    }

    /// The opening message.
    pub fn opening(&self) -> Option<&ThreadMessage> {
        self.messages.iter().find(|m| matches!(m.body, ThreadBody::Open { .. }))
    }

    /// The current department: the last accepted re-assignment, or the
    /// department it was opened for.
    pub fn department(&self) -> &str {
        self.messages
            .iter()
            .filter(|m| m.role == SenderRole::Staff)
            .filter_map(|m| match &m.body {
                ThreadBody::Assign { department } => Some(department.as_str()),
                _ => None,
            })
            .next_back()
            .unwrap_or(&self.opened_department)
    }

    /// Every status change that took effect, starting with `open`.
    pub fn status_history(&self) -> Vec<StatusChange> {
        let opener = self.opening();
        let mut history = vec![StatusChange {
            status: ThreadStatus::Open,
            reason: None,
            at: self.created_at,
            by: self.creator,
            by_name: opener.and_then(|m| m.from_name.clone()),
            message: None,
        }];
        let mut current = ThreadStatus::Open;
        for message in &self.messages {
            let ThreadBody::Reply { status: Some(status), reason, .. } = &message.body else {
                continue;
            };
            let actor = match message.role {
                SenderRole::Creator => Actor::Citizen,
                SenderRole::Staff => Actor::Staff,
                SenderRole::Unverified => continue,
            };
            if check_status_change(current, *status, actor, reason.as_deref()).is_err() {
                continue;
            }
            current = *status;
            history.push(StatusChange {
                status: *status,
                reason: reason.clone(),
                at: message.at(),
                by: message.from,
                by_name: message.display_name().map(str::to_string),
                message: Some(message.id),
            });
        }
        history
    }

    /// The current status.
    pub fn status(&self) -> ThreadStatus {
        self.status_history().last().map_or(ThreadStatus::Open, |c| c.status)
    }

    /// Whether a message's status change took effect.
    pub fn status_accepted(&self, id: &MsgId) -> bool {
        self.status_history().iter().any(|c| c.message == Some(*id))
    }

    /// The time of the latest activity.
    pub fn updated_at(&self) -> u64 {
        self.messages.iter().map(ThreadMessage::at).fold(self.created_at, u64::max)
    }

    /// Whether messages arrived that were not shown yet.
    pub fn unread(&self) -> bool {
        self.messages.iter().any(|m| !m.read)
    }

    /// How many messages are unread.
    pub fn unread_count(&self) -> usize {
        self.messages.iter().filter(|m| !m.read).count()
    }

    /// Records a warning once.
    pub fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Adds a message unless it is already there. Returns whether it was new.
    pub fn push(&mut self, message: ThreadMessage) -> bool {
        if self.has_message(&message.id) {
            return false;
        }
        if let ThreadBody::Disappear { at: Some(at), .. } = message.body {
            // Only ever earlier: a member can shorten, never extend.
            self.disappear_at = Some(self.disappear_at.map_or(at, |old| old.min(at)));
        }
        self.messages.push(message);
        true
    }
}

/// Who is changing a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The citizen who opened the thread (any of their devices).
    Citizen,
    /// A certified staff device of the org.
    Staff,
}

/// Why a status change is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// `resolved`, `rejected` and `reopened` need a reason.
    #[error("setting the status {} requires --reason", .0.as_str())]
    NeedsReason(ThreadStatus),
    /// Citizens cannot set this status.
    #[error(
        "only staff can set a status; a citizen can only reopen a resolved or rejected report (stadtbote reopen)"
    )]
    StaffOnly,
    /// Staff cannot set this status.
    #[error("only the citizen who opened the thread can reopen it")]
    CitizenOnly,
    /// Not from this status.
    #[error("the status cannot change from {} to {}", .from.as_str(), .to.as_str())]
    NotAllowed {
        /// The current status.
        from: ThreadStatus,
        /// The requested one.
        to: ThreadStatus,
    },
}

/// How far along the lifecycle a status is; staff only move forwards.
fn rank(status: ThreadStatus) -> u8 {
    match status {
        ThreadStatus::Open | ThreadStatus::Reopened => 0,
        ThreadStatus::Acknowledged => 1,
        ThreadStatus::InProgress => 2,
        ThreadStatus::Resolved | ThreadStatus::Rejected => 3,
    }
}

/// Whether `actor` may move a thread from `current` to `new` with `reason`.
pub fn check_status_change(
    current: ThreadStatus,
    new: ThreadStatus,
    actor: Actor,
    reason: Option<&str>,
) -> Result<(), StatusError> {
    if new.needs_reason() && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(StatusError::NeedsReason(new));
    }
    let closed = matches!(current, ThreadStatus::Resolved | ThreadStatus::Rejected);
    match (actor, new) {
        (_, ThreadStatus::Open) => Err(StatusError::NotAllowed { from: current, to: new }),
        (Actor::Citizen, ThreadStatus::Reopened) if closed => Ok(()),
        (Actor::Citizen, ThreadStatus::Reopened) => {
            Err(StatusError::NotAllowed { from: current, to: new })
        }
        (Actor::Citizen, _) => Err(StatusError::StaffOnly),
        (Actor::Staff, ThreadStatus::Reopened) => Err(StatusError::CitizenOnly),
        (Actor::Staff, _) if closed => Err(StatusError::NotAllowed { from: current, to: new }),
        (Actor::Staff, _) if rank(new) < rank(current) => {
            Err(StatusError::NotAllowed { from: current, to: new })
        }
        (Actor::Staff, _) => Ok(()),
    }
}

/// What to do with a thread's group before sending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipPlan {
    /// Members to remove (no longer entitled).
    pub remove: Vec<DeviceId>,
    /// Creator devices to add, with the key the directory lists.
    pub add_creator: Vec<Member>,
    /// Staff devices to add (valid certificates of the department).
    pub add_staff: Vec<StaffRecord>,
    /// Members nobody vouches for: refuse to send.
    pub refuse: Vec<DeviceId>,
    /// Whether this device itself is entitled to be in the thread.
    pub self_entitled: bool,
}

impl MembershipPlan {
    /// Whether the group already matches.
    pub fn is_settled(&self) -> bool {
        self.remove.is_empty() && self.add_creator.is_empty() && self.add_staff.is_empty()
    }
}

/// Computes how to make `members` equal "the creator account's devices ∪
/// the valid staff devices of `department`".
///
/// * `creator_devices`: the creator account's devices and keys as the
///   server's directory lists them;
/// * `staff`: every certificate of the org that chains to the pinned key,
///   with its standing (see [`crate::staff::staff_records`]);
/// * `revoked`: the org's verified revocation list. A member on it is
///   removed even when its certificate is no longer published (the server
///   leaves revoked certificates out of the directory): the org itself
///   vouches that it was staff and no longer is.
pub fn plan_membership(
    own: &Member,
    members: &[Member],
    creator: &AccountId,
    creator_devices: &BTreeMap<DeviceId, IdentityKey>,
    staff: &[StaffRecord],
    revoked: &[DeviceId],
    department: &str,
) -> MembershipPlan {
    let entitled_staff = |r: &&StaffRecord| r.is_valid() && r.department == department;
    let mut plan = MembershipPlan {
        self_entitled: if own.account == *creator {
            creator_devices.get(&own.device).is_none_or(|k| *k == own.identity_key)
        } else {
            staff
                .iter()
                .filter(entitled_staff)
                .any(|r| r.certifies(&own.account, &own.device, &own.identity_key))
        },
        ..MembershipPlan::default()
    };
    for member in members.iter().filter(|m| m.device != own.device) {
        if member.account == *creator {
            match creator_devices.get(&member.device) {
                Some(key) if *key == member.identity_key => {}
                // Gone from the account, or re-registered with a new key:
                // remove (a device listed again is added back below).
                _ => plan.remove.push(member.device),
            }
            continue;
        }
        match staff.iter().find(|r| r.device == member.device) {
            Some(record)
                if !record.certifies(&member.account, &member.device, &member.identity_key) =>
            {
                // A certified device id with another key or account: an
                // impostor, not a certified device.
                plan.refuse.push(member.device);
            }
            Some(record) if record.is_valid() && record.department == department => {}
            Some(_) => plan.remove.push(member.device),
            None if revoked.contains(&member.device) => plan.remove.push(member.device),
            None => plan.refuse.push(member.device),
        }
    }
    let present = |device: &DeviceId| members.iter().any(|m| m.device == *device);
    // A device listed with a new key is removed now and added back in the
    // next commit: one commit may not both add and remove a device.
    for (device, key) in creator_devices {
        if *device != own.device && !present(device) {
            plan.add_creator.push(Member {
                account: *creator,
                device: *device,
                identity_key: *key,
            });
        }
    }
    for record in staff.iter().filter(entitled_staff) {
        if record.device != own.device && record.account != *creator && !present(&record.device) {
            plan.add_staff.push(record.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::org::Role;

    const CITIZEN: AccountId = AccountId([1; 16]);

    fn member(account: u8, device: u8) -> Member {
        Member {
            account: AccountId([account; 16]),
            device: DeviceId([device; 16]),
            identity_key: IdentityKey([device; 32]),
        }
    }

    fn staff(account: u8, device: u8, department: &str) -> StaffRecord {
        StaffRecord {
            account: AccountId([account; 16]),
            device: DeviceId([device; 16]),
            identity_key: IdentityKey([device; 32]),
            role: Role::Clerk,
            department: department.into(),
            expires_at: u64::MAX,
            revoked: false,
            expired: false,
            unlisted: false,
            invite_id: serde_bytes::ByteBuf::from(vec![device; 8]),
        }
    }

    fn devices(list: &[u8]) -> BTreeMap<DeviceId, IdentityKey> {
        list.iter().map(|d| (DeviceId([*d; 16]), IdentityKey([*d; 32]))).collect()
    }

    #[test]
    fn a_new_thread_adds_the_citizens_other_devices_and_the_department() {
        let own = member(1, 1);
        let plan = plan_membership(
            &own,
            &[own],
            &CITIZEN,
            &devices(&[1, 2]),
            &[staff(5, 50, "bauhof"), staff(6, 60, "bauhof"), staff(7, 70, "ordnungsamt")],
            &[],
            "bauhof",
        );
        assert!(plan.self_entitled && plan.refuse.is_empty() && plan.remove.is_empty());
        assert_eq!(plan.add_creator, [member(1, 2)]);
        let added: Vec<_> = plan.add_staff.iter().map(|r| r.device).collect();
        assert_eq!(added, [DeviceId([50; 16]), DeviceId([60; 16])]);
    }

    #[test]
    fn revoked_expired_and_reassigned_staff_are_removed_forgeries_refused() {
        let own = member(1, 1);
        let mut revoked = staff(5, 50, "bauhof");
        revoked.revoked = true;
        let mut expired = staff(6, 60, "bauhof");
        expired.expired = true;
        let other_department = staff(7, 70, "ordnungsamt");
        let valid = staff(8, 80, "bauhof");
        let members =
            [own, member(5, 50), member(6, 60), member(7, 70), member(8, 80), member(9, 90)];
        let records = [revoked, expired, other_department, valid];
        let plan =
            plan_membership(&own, &members, &CITIZEN, &devices(&[1]), &records, &[], "bauhof");
        assert_eq!(plan.remove, [DeviceId([50; 16]), DeviceId([60; 16]), DeviceId([70; 16])]);
        assert_eq!(plan.refuse, [DeviceId([90; 16])], "no certificate at all");
        assert!(plan.add_staff.is_empty() && plan.add_creator.is_empty());
        // A revoked device whose certificate is no longer published is
        // removed on the strength of the org's signed revocation list.
        let revoked_list = [DeviceId([90; 16])];
        let plan = plan_membership(
            &own,
            &members,
            &CITIZEN,
            &devices(&[1]),
            &records,
            &revoked_list,
            "bauhof",
        );
        assert!(plan.refuse.is_empty());
        assert!(plan.remove.contains(&DeviceId([90; 16])));

        // A certified device id presenting another key is refused, not removed.
        let mut impostor = member(8, 80);
        impostor.identity_key = IdentityKey([99; 32]);
        let plan = plan_membership(
            &own,
            &[own, impostor],
            &CITIZEN,
            &devices(&[1]),
            &records,
            &[],
            "bauhof",
        );
        assert_eq!(plan.refuse, [DeviceId([80; 16])]);
    }

    #[test]
    fn creator_devices_follow_the_directory() {
        // Staff's view: the citizen unlinked device 2 and re-registered 3.
        let own = member(8, 80);
        let mut rekeyed = member(1, 3);
        rekeyed.identity_key = IdentityKey([33; 32]);
        let members = [own, member(1, 1), member(1, 2), rekeyed];
        let plan = plan_membership(
            &own,
            &members,
            &CITIZEN,
            &devices(&[1, 3]),
            &[staff(8, 80, "bauhof")],
            &[],
            "bauhof",
        );
        assert!(plan.self_entitled);
        assert_eq!(plan.remove, [DeviceId([2; 16]), DeviceId([3; 16])]);
        assert!(plan.add_creator.is_empty(), "not added and removed in one commit");
        assert!(plan.refuse.is_empty());
        let plan = plan_membership(
            &own,
            &[own, member(1, 1)],
            &CITIZEN,
            &devices(&[1, 3]),
            &[staff(8, 80, "bauhof")],
            &[],
            "bauhof",
        );
        assert_eq!(plan.add_creator, [member(1, 3)], "re-added with the listed key");
    }

    #[test]
    fn staff_outside_the_department_is_not_entitled_itself() {
        let own = member(8, 80);
        let plan = plan_membership(
            &own,
            &[own, member(1, 1)],
            &CITIZEN,
            &devices(&[1]),
            &[staff(8, 80, "bauhof"), staff(9, 90, "ordnungsamt")],
            &[],
            "ordnungsamt",
        );
        assert!(!plan.self_entitled);
        assert_eq!(
            plan.add_staff.iter().map(|r| r.device).collect::<Vec<_>>(),
            [DeviceId([90; 16])]
        );
    }

    #[test]
    fn status_rules() {
        use ThreadStatus::*;
        let staff = Actor::Staff;
        let citizen = Actor::Citizen;
        assert!(check_status_change(Open, Acknowledged, staff, None).is_ok());
        assert!(check_status_change(Open, InProgress, staff, None).is_ok());
        assert!(check_status_change(InProgress, InProgress, staff, None).is_ok());
        assert_eq!(
            check_status_change(InProgress, Resolved, staff, None),
            Err(StatusError::NeedsReason(Resolved))
        );
        assert_eq!(
            check_status_change(InProgress, Rejected, staff, Some("  ")),
            Err(StatusError::NeedsReason(Rejected))
        );
        assert!(check_status_change(InProgress, Resolved, staff, Some("geflickt")).is_ok());
        assert!(check_status_change(Open, Rejected, staff, Some("privat")).is_ok());
        assert!(matches!(
            check_status_change(InProgress, Acknowledged, staff, None),
            Err(StatusError::NotAllowed { .. })
        ));
        assert!(matches!(
            check_status_change(Resolved, InProgress, staff, None),
            Err(StatusError::NotAllowed { .. })
        ));
        assert_eq!(
            check_status_change(Open, InProgress, citizen, None),
            Err(StatusError::StaffOnly)
        );
        assert_eq!(
            check_status_change(Resolved, Reopened, staff, Some("x")),
            Err(StatusError::CitizenOnly)
        );
        assert!(check_status_change(Resolved, Reopened, citizen, Some("wieder kaputt")).is_ok());
        assert!(check_status_change(Rejected, Reopened, citizen, Some("doch")).is_ok());
        assert_eq!(
            check_status_change(Resolved, Reopened, citizen, None),
            Err(StatusError::NeedsReason(Reopened))
        );
        assert!(matches!(
            check_status_change(InProgress, Reopened, citizen, Some("x")),
            Err(StatusError::NotAllowed { .. })
        ));
        assert!(check_status_change(Reopened, InProgress, staff, None).is_ok());
        assert!(check_status_change(Open, Open, staff, None).is_err());
    }

    fn thread() -> Thread {
        Thread {
            id: GroupId([3; 16]),
            kind: ThreadKind::Report,
            org: OrgId([4; 16]),
            handle: "goslar".into(),
            org_name: "Stadt Goslar".into(),
            category: Some("Straßenschaden".into()),
            opened_department: "bauhof".into(),
            creator: CITIZEN,
            location: None,
            live: false,
            created_at: 10,
            messages: vec![ThreadMessage {
                id: MsgId([1; 16]),
                from: CITIZEN,
                from_device: DeviceId([1; 16]),
                from_name: Some("Carla".into()),
                role: SenderRole::Creator,
                sent_at: 10,
                received_at: Some(10),
                body: ThreadBody::Open { text: "Schlagloch".into(), photos: vec![] },
                read: true,
            }],
            warnings: vec![],
            disappear_at: None,
            removed: false,
            unchecked_members: false,
        }
    }

    fn reply(
        id: u8,
        role: SenderRole,
        status: Option<ThreadStatus>,
        reason: Option<&str>,
    ) -> ThreadMessage {
        ThreadMessage {
            id: MsgId([id; 16]),
            from: if role == SenderRole::Creator { CITIZEN } else { AccountId([8; 16]) },
            from_device: DeviceId([id; 16]),
            from_name: Some("Klaus".into()),
            role,
            sent_at: u64::from(id) * 100,
            received_at: Some(u64::from(id) * 100),
            body: ThreadBody::Reply {
                text: "x".into(),
                photos: vec![],
                status,
                reason: reason.map(str::to_string),
                as_org: (role == SenderRole::Staff).then(|| "Stadt Goslar".to_string()),
            },
            read: false,
        }
    }

    #[test]
    fn status_is_a_fold_over_entitled_allowed_changes() {
        use ThreadStatus::*;
        let mut t = thread();
        assert_eq!(t.status(), Open);
        t.push(reply(2, SenderRole::Staff, Some(InProgress), None));
        t.push(reply(3, SenderRole::Creator, Some(Resolved), Some("selbst erledigt")));
        t.push(reply(4, SenderRole::Unverified, Some(Rejected), Some("gefälscht")));
        t.push(reply(5, SenderRole::Staff, Some(Resolved), None));
        assert_eq!(
            t.status(),
            InProgress,
            "citizen, unverified and reason-less changes do not count"
        );
        t.push(reply(6, SenderRole::Staff, Some(Resolved), Some("geflickt")));
        assert_eq!(t.status(), Resolved);
        t.push(reply(7, SenderRole::Creator, Some(Reopened), Some("wieder auf")));
        let history: Vec<_> = t.status_history().iter().map(|c| c.status).collect();
        assert_eq!(history, [Open, InProgress, Resolved, Reopened]);
        assert_eq!(t.status_history()[2].by_name.as_deref(), Some("Stadt Goslar"));
        assert!(t.status_accepted(&MsgId([6; 16])) && !t.status_accepted(&MsgId([4; 16])));
        // Once the unverified sender is confirmed as staff, its change counts.
        t.messages[3].role = SenderRole::Staff;
        assert_eq!(t.status_history()[2].status, Rejected);
        assert_eq!(t.updated_at(), 700);
        assert_eq!(t.unread_count(), 6);
        assert!(!t.push(reply(7, SenderRole::Creator, None, None)), "duplicate");
    }

    #[test]
    fn assignments_count_from_staff_only_and_disappearing_only_shortens() {
        let mut t = thread();
        let assign = |id: u8, role, department: &str| ThreadMessage {
            body: ThreadBody::Assign { department: department.into() },
            ..reply(id, role, None, None)
        };
        t.push(assign(2, SenderRole::Creator, "kasse"));
        assert_eq!(t.department(), "bauhof");
        t.push(assign(3, SenderRole::Staff, "ordnungsamt"));
        assert_eq!(t.department(), "ordnungsamt");
        let disappear = |id: u8, at| ThreadMessage {
            body: ThreadBody::Disappear { days: 1, at: Some(at) },
            ..reply(id, SenderRole::Staff, None, None)
        };
        t.push(disappear(4, 5_000));
        t.push(disappear(5, 9_000));
        assert_eq!(t.disappear_at, Some(5_000));
    }
}
