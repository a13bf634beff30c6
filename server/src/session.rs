//! A connection's authentication state: unauthenticated with a pending
//! challenge, or authenticated as one device.
//!
//! The challenge nonce is random, bound to this connection and single-use:
//! every register, login or link attempt consumes it, successful or not, and
//! a failed attempt is answered together with a fresh challenge (pushed just
//! before the error, so the client has it when it reads the error). A signature
//! captured on one connection is therefore useless on any other.
//!
//! Public requests (ping, the org directory, reading and listening to
//! channels) need no account: a follower of a town's channel never has to
//! register. The session also holds the connection's channel registrations,
//! which end with it.

use rand::RngCore;
use stadtbote_protocol::auth::CHALLENGE_LEN;
use stadtbote_protocol::frame::{Event, Request, Response};

use crate::fanout::Listens;
use crate::ratelimit::IpKey;
use crate::relay::{Elevation, Handled, Identity, Relay, RelayError};
use crate::unix_ms;

enum State {
    Unauthenticated { nonce: [u8; CHALLENGE_LEN] },
    Authenticated(Identity),
}

/// The answer to one request and what the connection must do besides
/// sending it.
#[derive(Debug)]
pub struct Reply {
    /// The response or error for the request, or a stored write whose
    /// answer waits for durability ([`Relay::complete`]).
    pub handled: Handled,
    /// A fresh challenge to push before the answer (after a failed attempt).
    pub challenge: Option<Event>,
    /// Set when this request authenticated the connection: start delivery.
    pub authenticated: Option<Identity>,
}

impl Reply {
    fn plain(result: Result<Response, RelayError>) -> Self {
        Self { handled: Handled::Answer(result), challenge: None, authenticated: None }
    }
}

/// One connection's session.
pub struct Session {
    state: State,
    client: IpKey,
    pow_difficulty: u8,
    listens: Listens,
    /// The second factors this connection passed (kept until it closes).
    elevation: Elevation,
}

fn fresh_nonce() -> [u8; CHALLENGE_LEN] {
    let mut nonce = [0u8; CHALLENGE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

fn challenge_event(nonce: &[u8; CHALLENGE_LEN], pow_difficulty: u8) -> Event {
    Event::Challenge { nonce: nonce.to_vec().into(), pow_difficulty, server_time: unix_ms() }
}

impl Session {
    /// A new unauthenticated session and the challenge to send first.
    /// `listens` receives the connection's channel registrations.
    pub fn new(client: IpKey, pow_difficulty: u8, listens: Listens) -> (Self, Event) {
        let nonce = fresh_nonce();
        let event = challenge_event(&nonce, pow_difficulty);
        let state = State::Unauthenticated { nonce };
        (Self { state, client, pow_difficulty, listens, elevation: Elevation::default() }, event)
    }

    /// Whether the connection listens to a channel. Such a connection may
    /// stay unauthenticated (a follower needs no account).
    pub fn is_listening(&self) -> bool {
        self.listens.is_listening()
    }

    /// The authenticated device, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.state {
            State::Authenticated(identity) => Some(identity),
            State::Unauthenticated { .. } => None,
        }
    }

    /// Handles one request.
    pub async fn handle(&mut self, relay: &Relay, request: Request) -> Reply {
        if let Request::ChannelListen { channels } = &request {
            return Reply::plain(relay.channel_listen(&mut self.listens, channels));
        }
        let nonce = match &mut self.state {
            State::Authenticated(identity) => {
                let identity = *identity;
                let handled = relay.handle_pipelined(&identity, &mut self.elevation, request).await;
                return Reply { handled, challenge: None, authenticated: None };
            }
            State::Unauthenticated { nonce } => nonce,
        };
        let is_auth = matches!(
            request,
            Request::Register { .. } | Request::Login { .. } | Request::Link { .. }
        );
        if !is_auth {
            // Public information needs no device; everything else does.
            let result =
                relay.handle_public(&request).await.unwrap_or(Err(RelayError::Unauthenticated));
            return Reply::plain(result);
        }
        // Consume the challenge before looking at the attempt: whatever
        // happens next, this nonce is never accepted again.
        let used = std::mem::replace(nonce, fresh_nonce());
        let outcome = match request {
            Request::Register { identity_key, signature, pow_nonce } => relay
                .register(self.client, &used, &identity_key, &signature, pow_nonce)
                .await
                .map(|id| (id, Response::Registered { account: id.account, device: id.device })),
            Request::Login { device, signature } => relay.login(&used, &device, &signature).await,
            Request::Link { code, identity_key, signature } => relay
                .link(self.client, &used, &code, &identity_key, &signature)
                .await
                .map(|id| (id, Response::Registered { account: id.account, device: id.device })),
            _ => Err(RelayError::InvalidRequest("not an authentication request")),
        };
        match outcome {
            Ok((identity, response)) => {
                self.state = State::Authenticated(identity);
                Reply {
                    handled: Handled::Answer(Ok(response)),
                    challenge: None,
                    authenticated: Some(identity),
                }
            }
            Err(err) => {
                let challenge = match &self.state {
                    State::Unauthenticated { nonce } => {
                        Some(challenge_event(nonce, self.pow_difficulty))
                    }
                    State::Authenticated(_) => None,
                };
                Reply { handled: Handled::Answer(Err(err)), challenge, authenticated: None }
            }
        }
    }
}
