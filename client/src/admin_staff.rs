//! The org admin's own device as a staff device of its org.
//!
//! Holding the org key does not make a device staff: citizens' clients
//! accept a thread member, a channel post or a discussion-group moderator
//! only with a staff certificate that chains to the org key, carries its
//! approval and is on the org's signed staff list (see [`crate::staff`]).
//! So that a town works right after `stadtbote org claim`, the claiming
//! device certifies itself the same way every staff device is certified —
//! no shortcut a server or another client would have to trust: it issues
//! an invitation (role admin, which includes publisher and clerk, for the
//! department consultations go to), redeems it with a device binding signed
//! by the invitation's one-time key, approves that enrolment with the org
//! key and publishes the next staff list. `stadtbote org enroll-self` runs
//! the same steps for orgs claimed before this existed (or when the claim
//! could not finish them).

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use stadtbote_protocol::org::Role;

use crate::error::ClientError;
use crate::session::Client;
use crate::staff::Enrolment;

/// Hours the self-invitation can be redeemed: it is redeemed at once.
const SELF_INVITE_HOURS: u64 = 1;

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// Certifies this device, which holds the key of org `handle`, as a
    /// staff device of that org with role admin in `department` (see the
    /// module docs). Needs a connection. Returns the approved enrolment.
    pub async fn enrol_admin_device(
        &mut self,
        handle: &str,
        department: &str,
    ) -> Result<Enrolment, ClientError> {
        let admin = self.admin_org(Some(handle))?.clone();
        let invitation =
            self.invite_staff(handle, department, Role::Admin, SELF_INVITE_HOURS).await?;
        self.enroll(&invitation.code).await?;
        let device = self.state.device;
        let report = self.approve_enrolments(handle, Some(device)).await?;
        if let Some(refused) = report.refused.first() {
            return Err(ClientError::Invalid {
                what: "staff enrolment of this device",
                reason: crate::invalid_input::InvalidReason::Text(refused.reason.clone()),
            });
        }
        self.check_own_enrolments().await?;
        let now = self.clock.now_ms();
        self.state
            .enrolments
            .iter()
            .find(|e| e.org == admin.org && e.approved && e.expires_at > now)
            .cloned()
            .ok_or_else(|| ClientError::InvalidOrgData {
                handle: handle.to_string(),
                reason: "the org directory does not list this device's approved certificate".into(),
            })
    }
}
