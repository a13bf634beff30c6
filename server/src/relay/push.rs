//! The Web Push requests (issue 18): the VAPID public key, and storing or
//! removing the caller's device's push subscription. Sending pushes is
//! [`crate::push`]'s; [`Relay::complete`] hands it the recipients of
//! envelopes marked worth a notification.

use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::Response;

use super::{Identity, Relay, RelayError};
use crate::unix_ms;

impl Relay {
    /// The VAPID public key (none while push is off).
    pub(super) fn push_key(&self) -> Response {
        Response::PushKey { key: self.push.public_key().map(|k| ByteBuf::from(k.to_vec())) }
    }

    /// Stores the caller's device's subscription, after checking it
    /// against the allow-list of push services.
    pub(super) async fn push_subscribe(
        &self,
        me: &Identity,
        endpoint: &str,
        p256dh: &[u8],
        auth: &[u8],
    ) -> Result<Response, RelayError> {
        let subscription = self
            .push
            .check_subscription(endpoint, p256dh, auth, unix_ms())
            .map_err(RelayError::Refused)?;
        self.store.put_push_subscription(&me.device, &subscription)?;
        self.durable().await?;
        Ok(Response::PushSubscribed)
    }

    /// Removes the caller's device's subscription.
    pub(super) async fn push_unsubscribe(&self, me: &Identity) -> Result<Response, RelayError> {
        let removed = self.store.delete_push_subscription(&me.device)?;
        self.durable().await?;
        Ok(Response::PushUnsubscribed { removed })
    }
}
