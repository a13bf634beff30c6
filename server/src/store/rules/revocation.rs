//! Who is queued nothing: devices that an org revoked.
//!
//! A revoked device stays a member of its groups (their MLS state includes
//! it until a member removes it), but from the moment of the revocation the
//! server stops delivering to it: every fan-out filters its recipients
//! here. A device whose account was deleted is nobody's staff any more and
//! is never counted as revoked.

use stadtbote_protocol::DeviceId;

use super::GroupView;
use crate::store::StoreError;

/// The devices among `devices` that are on no org's revocation list, in
/// the given order.
pub fn unrevoked<'d>(
    view: &dyn GroupView,
    devices: impl IntoIterator<Item = &'d DeviceId>,
) -> Result<Vec<DeviceId>, StoreError> {
    let mut out = Vec::new();
    for device in devices {
        if !view.is_queued_nothing(device)? {
            out.push(*device);
        }
    }
    Ok(out)
}

/// Whether a device may be handed one of its KeyPackages (so that somebody
/// adds it to a group): it exists, is not blocked and is not revoked.
pub fn may_be_claimed(standing: super::DeviceStanding, revoked: bool) -> bool {
    standing == super::DeviceStanding::Active && !revoked
}
