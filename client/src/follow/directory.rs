//! An org's directory as a follower takes it: verified from the key the
//! follower pinned (the invite's, or the one it followed the org's signed
//! rotation chain to), never from the key the server names.

use stadtbote_protocol::auth::IdentityKey;
use stadtbote_protocol::frame::OrgInfo;
use stadtbote_protocol::org::{OrgProfile, RevocationList, SignedKind, StaffList};
use stadtbote_protocol::org_rotation::{SignedRotation, follow_chain};
use stadtbote_protocol::{ErrorCode, OrgId, Request, Response};

use crate::clock::Clock;
use crate::connection::Connection;
use crate::transport::Transport;

use super::{FollowError, unexpected};

/// A directory answer as a follower takes it.
#[derive(Debug)]
pub(crate) struct PresentedOrg {
    /// The org key followed to (the pinned one, or where its chain leads).
    pub key: IdentityKey,
    /// The rotation chain that leads there.
    pub chain: Vec<SignedRotation>,
    /// The revocation list, verified against `key`.
    pub revocations: Option<RevocationList>,
    /// The staff list, verified against `key`.
    pub staff_list: Option<StaffList>,
}

/// The org's directory as the server presents it, verified from `pinned`
/// (the invite's key or the key this follower followed to, never the
/// server's): the org's rotation chain must extend `accepted` and lead from
/// `pinned` to the key the server names, and everything else must verify
/// against that key. Whether the lists may be taken is
/// [`FollowsFile::accept_org`](super::FollowsFile)'s decision.
pub(crate) async fn presented_org<T: Transport, C: Clock>(
    conn: &mut Connection<T, C>,
    handle: &str,
    org: OrgId,
    pinned: IdentityKey,
    accepted: &[SignedRotation],
) -> Result<PresentedOrg, FollowError> {
    let info = match conn.call(Request::OrgDirectory { handle: handle.to_string() }).await? {
        Ok(Response::Org { info }) => *info,
        Ok(other) => return Err(unexpected(conn.url(), &other)),
        Err(body) if body.code == ErrorCode::UnknownOrg => {
            return Err(FollowError::UnknownOrg { handle: handle.to_string() });
        }
        Err(body) => return Err(FollowError::server(body)),
    };
    let Some(presented) = info.org_key else {
        return Err(FollowError::OrgNotSetUp { handle: handle.to_string() });
    };
    let followed = follow_chain(&org, &pinned, accepted, &info.rotations, &presented).map_err(
        |err| match err {
            // A key change without a valid chain from the pinned key
            // (none, or a fork, e.g. signed by a stolen earlier key):
            // the hard error, as for citizens' clients.
            _ if presented != pinned => FollowError::OrgKeyChanged {
                handle: handle.to_string(),
                pinned: pinned.fingerprint(),
                presented: presented.fingerprint(),
            },
            err => FollowError::InvalidOrgData {
                handle: handle.to_string(),
                reason: format!(
                    "its key rotation chain does not continue the one this device accepted ({err})"
                ),
            },
        },
    )?;
    let (revocations, staff_list) = verify_lists(&info, handle, org, followed.key)?;
    Ok(PresentedOrg { key: followed.key, chain: followed.chain, revocations, staff_list })
}

/// Checks what a follower takes from a directory answer against `key`: it
/// answers for `handle` and `org`, and its profile, revocation list and
/// staff list are signed by `key` and name the org.
fn verify_lists(
    info: &OrgInfo,
    handle: &str,
    org: OrgId,
    key: IdentityKey,
) -> Result<(Option<RevocationList>, Option<StaffList>), FollowError> {
    let invalid = |reason: &str| FollowError::InvalidOrgData {
        handle: handle.to_string(),
        reason: reason.to_string(),
    };
    if info.handle != handle {
        return Err(invalid("the server answered for another handle"));
    }
    if info.org != org {
        return Err(FollowError::OrgKeyChanged {
            handle: handle.to_string(),
            pinned: key.fingerprint(),
            presented: info.org_key.map_or_else(|| key.fingerprint(), |k| k.fingerprint()),
        });
    }
    if let Some(signed) = &info.profile {
        let profile: OrgProfile = signed
            .verify(SignedKind::Profile, &key)
            .map_err(|_| invalid("its profile is not signed by the org key"))?;
        if profile.org != info.org || profile.handle != handle {
            return Err(invalid("its profile names another org"));
        }
    }
    let revocations = match &info.revocations {
        Some(signed) => {
            let list: RevocationList = signed
                .verify(SignedKind::Revocations, &key)
                .map_err(|_| invalid("its revocation list is not signed by the org key"))?;
            if list.org != info.org {
                return Err(invalid("its revocation list names another org"));
            }
            Some(list)
        }
        None => None,
    };
    let staff_list = match &info.staff_list {
        Some(signed) => Some(
            StaffList::verify(signed, &info.org, &key)
                .map_err(|_| invalid("its staff list is not signed by the org key"))?,
        ),
        None => None,
    };
    Ok((revocations, staff_list))
}
