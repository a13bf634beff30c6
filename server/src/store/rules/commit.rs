//! What a commit, an external join and a message may do to a group.
//!
//! Every function here is pure: it gets the group as the backend loaded it
//! inside its transaction (or `None` when there is no such group) and
//! returns a plan for the backend to store, or the refusal. The order of
//! the checks is part of the rule: it decides which refusal a request that
//! is wrong in several ways gets, and a non-member learns nothing about
//! whether a group exists (an unknown group is answered like a group the
//! caller is not a member of).

use std::collections::BTreeSet;

use stadtbote_protocol::DeviceId;

use super::revocation::unrevoked;
use super::{DeviceStanding, GroupView};
use crate::store::{CommitInput, ExternalJoinInput, StoreError};

/// A group as stored: its epoch and its member devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group's current epoch.
    pub epoch: u64,
    /// Its member devices.
    pub members: Vec<DeviceId>,
}

/// What an accepted commit changes: the backend stores the group's new
/// state and queues the envelopes, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPlan {
    /// The group's new state (epoch advanced by one, members in order).
    pub group: GroupSnapshot,
    /// Who is queued the commit: every previous member except its author,
    /// removed devices included (so they learn of their removal), revoked
    /// devices excepted.
    pub commit_to: Vec<DeviceId>,
    /// Who is queued the Welcome: the added devices that are not revoked.
    pub welcomed: Vec<DeviceId>,
}

/// Checks what a commit's lists say by themselves. Runs before the group is
/// looked at (and before any lock is taken).
pub fn check_commit_shape(input: &CommitInput<'_>) -> Result<(), StoreError> {
    let add: BTreeSet<&DeviceId> = input.add.iter().collect();
    let remove: BTreeSet<&DeviceId> = input.remove.iter().collect();
    if add.len() != input.add.len() || remove.len() != input.remove.len() {
        return Err(StoreError::InvalidCommit("duplicate device in add or remove"));
    }
    if add.intersection(&remove).next().is_some() {
        return Err(StoreError::InvalidCommit("a device is both added and removed"));
    }
    if add.contains(input.caller) {
        return Err(StoreError::InvalidCommit("the committer cannot add itself"));
    }
    if add.is_empty() != input.welcome.is_none() {
        return Err(StoreError::InvalidCommit("a welcome is required exactly when adding"));
    }
    Ok(())
}

/// Decides a commit against the group's current state: exactly one commit
/// per epoch, only by a member, only adding existing unblocked devices
/// that are not members yet, only removing members, never beyond
/// `max_members`. An epoch-0 commit to a group that does not exist creates
/// it when the caller proved it may (`may_create`); otherwise it is
/// answered like a non-member's commit. Includes [`check_commit_shape`].
pub fn plan_commit(
    view: &dyn GroupView,
    current: Option<GroupSnapshot>,
    input: &CommitInput<'_>,
) -> Result<CommitPlan, StoreError> {
    check_commit_shape(input)?;
    let add: BTreeSet<DeviceId> = input.add.iter().copied().collect();
    let remove: BTreeSet<DeviceId> = input.remove.iter().copied().collect();
    let (previous, epoch) = match current {
        None if input.epoch == 0 && input.may_create => {
            if !remove.is_empty() {
                return Err(StoreError::InvalidCommit("a new group has no members to remove"));
            }
            (BTreeSet::from([*input.caller]), 0)
        }
        // Answered exactly like a non-member's commit to an existing
        // group: nobody learns whether a group exists.
        None => return Err(StoreError::NotAMember),
        Some(group) => {
            let members: BTreeSet<DeviceId> = group.members.into_iter().collect();
            if !members.contains(input.caller) {
                return Err(StoreError::NotAMember);
            }
            if input.epoch != group.epoch {
                return Err(StoreError::StaleEpoch { current: group.epoch });
            }
            (members, group.epoch)
        }
    };
    for device in &add {
        if previous.contains(device) {
            return Err(StoreError::InvalidCommit("device is already a member"));
        }
        match view.device_standing(device)? {
            DeviceStanding::Active => {}
            DeviceStanding::Unknown | DeviceStanding::Blocked => {
                return Err(StoreError::UnknownDevice);
            }
        }
    }
    if remove.iter().any(|d| !previous.contains(d)) {
        return Err(StoreError::InvalidCommit("removed device is not a member"));
    }
    let mut members: BTreeSet<DeviceId> = previous.union(&add).copied().collect();
    members.retain(|d| !remove.contains(d));
    if members.len() > input.max_members {
        return Err(StoreError::TooManyMembers { max: input.max_members });
    }
    let commit_to = unrevoked(view, previous.iter().filter(|d| *d != input.caller))?;
    let welcomed = unrevoked(view, &add)?;
    Ok(CommitPlan {
        group: GroupSnapshot {
            epoch: epoch.saturating_add(1),
            members: members.into_iter().collect(),
        },
        commit_to,
        welcomed,
    })
}

/// Decides an external join (a device joining with a group link):
/// `token_matches` is the constant-time comparison of the presented token's
/// hash with the stored one, made by the backend under the same lock or
/// transaction (a link replaced a moment ago admits nobody). The caller
/// must not be a member yet, the epoch must be current, the group must
/// stay within `max_members`. Every previous member (revoked excepted) is
/// queued the commit; the joining device is queued nothing.
pub fn plan_external_join(
    view: &dyn GroupView,
    current: GroupSnapshot,
    token_matches: bool,
    input: &ExternalJoinInput<'_>,
) -> Result<CommitPlan, StoreError> {
    if !token_matches {
        return Err(StoreError::InvalidToken);
    }
    if current.members.contains(input.caller) {
        return Err(StoreError::InvalidCommit("device is already a member"));
    }
    if input.epoch != current.epoch {
        return Err(StoreError::StaleEpoch { current: current.epoch });
    }
    if current.members.len().saturating_add(1) > input.max_members {
        return Err(StoreError::TooManyMembers { max: input.max_members });
    }
    let commit_to = unrevoked(view, &current.members)?;
    let mut members: BTreeSet<DeviceId> = current.members.into_iter().collect();
    members.insert(*input.caller);
    Ok(CommitPlan {
        group: GroupSnapshot {
            epoch: current.epoch.saturating_add(1),
            members: members.into_iter().collect(),
        },
        commit_to,
        welcomed: Vec::new(),
    })
}

/// Who an application message of `sender` is queued for: every other
/// member that is not revoked. Only a member may send; an unknown group is
/// [`StoreError::UnknownGroup`] (the relay answers it like a non-member).
pub fn send_recipients(
    view: &dyn GroupView,
    current: Option<&GroupSnapshot>,
    sender: &DeviceId,
) -> Result<Vec<DeviceId>, StoreError> {
    let group = current.ok_or(StoreError::UnknownGroup)?;
    if !group.members.contains(sender) {
        return Err(StoreError::NotAMember);
    }
    unrevoked(view, group.members.iter().filter(|d| *d != sender))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::GroupId;
    use std::collections::{BTreeMap, BTreeSet};

    /// Devices and revocations in memory: the rules need nothing else.
    #[derive(Default)]
    struct Devices {
        standing: BTreeMap<DeviceId, DeviceStanding>,
        revoked: BTreeSet<DeviceId>,
    }

    impl GroupView for Devices {
        fn device_standing(&self, device: &DeviceId) -> Result<DeviceStanding, StoreError> {
            Ok(self.standing.get(device).copied().unwrap_or(DeviceStanding::Unknown))
        }
        fn is_queued_nothing(&self, device: &DeviceId) -> Result<bool, StoreError> {
            Ok(self.revoked.contains(device))
        }
    }

    fn device(n: u8) -> DeviceId {
        DeviceId([n; DeviceId::LEN])
    }

    fn input<'a>(
        group: &'a GroupId,
        caller: &'a DeviceId,
        epoch: u64,
        add: &'a [DeviceId],
        remove: &'a [DeviceId],
    ) -> CommitInput<'a> {
        CommitInput {
            group,
            caller,
            epoch,
            commit: b"commit",
            add,
            remove,
            welcome: if add.is_empty() { None } else { Some(b"welcome") },
            now_ms: 1,
            expires_at_ms: 2,
            max_members: 3,
            may_create: true,
        }
    }

    fn view() -> Devices {
        let mut v = Devices::default();
        for n in 1..=5 {
            v.standing.insert(device(n), DeviceStanding::Active);
        }
        v.standing.insert(device(6), DeviceStanding::Blocked);
        v
    }

    #[test]
    fn a_commit_creates_advances_and_refuses_in_order() {
        let group = GroupId([9; GroupId::LEN]);
        let v = view();
        let (a, b, c) = (device(1), device(2), device(3));
        let plan = plan_commit(&v, None, &input(&group, &a, 0, &[b], &[])).unwrap();
        assert_eq!(plan.group, GroupSnapshot { epoch: 1, members: vec![a, b] });
        assert!(plan.commit_to.is_empty());
        assert_eq!(plan.welcomed, vec![b]);
        // The same epoch again is stale; a non-member is refused first.
        let stale = plan_commit(&v, Some(plan.group.clone()), &input(&group, &a, 0, &[c], &[]));
        assert!(matches!(stale, Err(StoreError::StaleEpoch { current: 1 })), "{stale:?}");
        let outsider = plan_commit(&v, Some(plan.group.clone()), &input(&group, &c, 0, &[], &[]));
        assert!(matches!(outsider, Err(StoreError::NotAMember)), "{outsider:?}");
        // Blocked and unknown devices cannot be added; the limit holds.
        for bad in [device(6), device(7)] {
            let r = plan_commit(&v, Some(plan.group.clone()), &input(&group, &a, 1, &[bad], &[]));
            assert!(matches!(r, Err(StoreError::UnknownDevice)), "{r:?}");
        }
        let big = [c, device(4)];
        let r = plan_commit(&v, Some(plan.group.clone()), &input(&group, &a, 1, &big, &[]));
        assert!(matches!(r, Err(StoreError::TooManyMembers { max: 3 })), "{r:?}");
        // Without the creation proof a missing group is a non-member's.
        let mut no_proof = input(&group, &a, 0, &[], &[]);
        no_proof.may_create = false;
        assert!(matches!(plan_commit(&v, None, &no_proof), Err(StoreError::NotAMember)));
    }

    #[test]
    fn revoked_devices_stay_members_but_are_queued_nothing() {
        let group = GroupId([9; GroupId::LEN]);
        let mut v = view();
        let (a, b, c) = (device(1), device(2), device(3));
        v.revoked.insert(b);
        let current = GroupSnapshot { epoch: 4, members: vec![a, b] };
        let plan =
            plan_commit(&v, Some(current.clone()), &input(&group, &a, 4, &[c], &[])).unwrap();
        assert_eq!(plan.group.members, vec![a, b, c]);
        assert!(plan.commit_to.is_empty(), "the revoked member gets no commit");
        assert_eq!(send_recipients(&v, Some(&plan.group), &a).unwrap(), vec![c]);
        let join = ExternalJoinInput {
            group: &group,
            caller: &c,
            epoch: 4,
            commit: b"x",
            token_hash: &[0; 32],
            now_ms: 1,
            expires_at_ms: 2,
            max_members: 3,
        };
        let plan = plan_external_join(&v, current.clone(), true, &join).unwrap();
        assert_eq!(plan.commit_to, vec![a]);
        let refused = plan_external_join(&v, current, false, &join);
        assert!(matches!(refused, Err(StoreError::InvalidToken)), "{refused:?}");
    }
}
