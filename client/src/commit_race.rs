//! The CLI's side of the core's one commit-and-retry routine
//! ([`crate::commit`]): what every race of this client shares.
//!
//! Each caller — the conversation's membership (`send.rs`), a thread's
//! membership (`thread_send.rs`) and a moderator's removal from a discussion
//! group (`groups.rs`) — implements [`CommitRace`] on a small struct that
//! borrows the [`Client`] and the caller's context. They all send MLS
//! commits built by [`Client::commit_request`], merge an accepted one with
//! [`Client::merge_commit`], abandon the others with
//! [`Client::abandon_commit`], and catch up after a lost race with
//! [`Client::catch_up_to`] waiting at most [`CATCH_UP_WAIT`].
//!
//! Two more races use the same routine with their own rules: joining a
//! discussion group by link (`groups.rs`: an external commit; a lost race
//! needs no catching up, an outdated GroupInfo is an attempt with nothing
//! to send, and attempts are paused on the client's clock) and posting to
//! a broadcast channel (`channels.rs`: not an MLS commit, but the same race
//! for the next position of the channel's chain; see the core's module
//! docs).
//!
//! [`CommitRace`]: crate::commit::CommitRace
//! [`CATCH_UP_WAIT`]: crate::send::CATCH_UP_WAIT

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use stadtbote_protocol::mls::{Commit, MlsError};
use stadtbote_protocol::{GroupId, Request};

use crate::error::ClientError;
use crate::session::Client;

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    /// The `commit` request for `commit`, pending in `group`. The server
    /// applies exactly the membership change this device signs; the commit
    /// carries the same statement's digest, which the other members check
    /// against what it really does. A group's first commit says why this
    /// device may create it.
    pub(crate) fn commit_request(
        &self,
        group: &GroupId,
        commit: &Commit,
    ) -> Result<Request, ClientError> {
        let create =
            if commit.epoch_before == 0 { self.creations.get(group).cloned() } else { None };
        commit.request(*group, &self.secret, create).ok_or(ClientError::Mls(MlsError::Internal))
    }

    /// Merges the pending commit the server accepted as `epoch`; returns
    /// this device's new epoch (the caller saves).
    pub(crate) fn merge_commit(&mut self, group: &GroupId, epoch: u64) -> Result<u64, ClientError> {
        let ours = self.mls.merge_pending(group)?;
        if ours != epoch {
            tracing::warn!(ours, theirs = epoch, "epoch differs from the server's");
        }
        Ok(ours)
    }

    /// The open connection as the core's routines use it.
    pub(crate) fn core_connection(
        &mut self,
    ) -> Result<&mut crate::session::ClientConnection<K, C>, ClientError> {
        self.conn_mut()
    }
}
