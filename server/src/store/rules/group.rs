//! Rules of a group's other records: its expiry and its join link.

use stadtbote_protocol::{DeviceId, OrgId};

use crate::store::StoreError;

/// Only members may change a group's records.
pub fn require_member(members: &[DeviceId], caller: &DeviceId) -> Result<(), StoreError> {
    if members.contains(caller) { Ok(()) } else { Err(StoreError::NotAMember) }
}

/// The expiry in force after a member asks for `requested`: only ever
/// earlier. A member may make a thread disappear sooner, but nobody can
/// keep it longer than another member asked for.
pub fn expiry_in_force(current: Option<u64>, requested: u64) -> u64 {
    current.map_or(requested, |c| c.min(requested))
}

/// Who may set a group's expiry. `link_org` is `None` for a group without a
/// join link (any member may), `Some(org)` for a discussion group with the
/// org recorded with its link (`Some(None)`: recorded before orgs were).
/// A discussion group is ended only by its moderators: staff of the
/// recorded org (of any org, when none was recorded), as the relay checked
/// and passes in `moderator_of`.
pub fn may_set_expiry(
    link_org: Option<Option<OrgId>>,
    moderator_of: Option<&OrgId>,
) -> Result<(), StoreError> {
    let allowed = match link_org {
        None => true,
        Some(Some(owner)) => moderator_of == Some(&owner),
        Some(None) => moderator_of.is_some(),
    };
    if allowed { Ok(()) } else { Err(StoreError::ModeratorsOnly) }
}

/// The moderating org recorded with a group's join link: the first put's
/// (made by the creating staff device while it is the only member);
/// nobody who joins later can set or change it.
pub fn link_org(recorded: Option<Option<OrgId>>, requested: Option<&OrgId>) -> Option<OrgId> {
    match recorded {
        Some(org) => org,
        None => requested.copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_only_moves_earlier_and_links_need_moderators() {
        assert_eq!(expiry_in_force(None, 9), 9);
        assert_eq!(expiry_in_force(Some(5), 9), 5);
        assert_eq!(expiry_in_force(Some(5), 3), 3);
        let (a, b) = (OrgId([1; OrgId::LEN]), OrgId([2; OrgId::LEN]));
        assert!(may_set_expiry(None, None).is_ok());
        assert!(may_set_expiry(Some(Some(a)), Some(&a)).is_ok());
        assert!(matches!(may_set_expiry(Some(Some(a)), Some(&b)), Err(StoreError::ModeratorsOnly)));
        assert!(matches!(may_set_expiry(Some(Some(a)), None), Err(StoreError::ModeratorsOnly)));
        assert!(may_set_expiry(Some(None), Some(&b)).is_ok());
        assert!(matches!(may_set_expiry(Some(None), None), Err(StoreError::ModeratorsOnly)));
        assert_eq!(link_org(None, Some(&a)), Some(a));
        assert_eq!(link_org(Some(Some(b)), Some(&a)), Some(b));
        assert_eq!(link_org(Some(None), Some(&a)), None);
        let d = DeviceId([3; DeviceId::LEN]);
        assert!(require_member(&[d], &d).is_ok());
        assert!(matches!(require_member(&[], &d), Err(StoreError::NotAMember)));
    }
}
