//! The one commit-and-retry routine: how a membership change gets into a
//! group whose epoch other devices race for.
//!
//! The server accepts exactly one commit per group epoch. A device builds
//! its commit for the epoch it holds and sends it; when another device's
//! commit won that epoch, the server refuses with `stale_epoch` (and the
//! epoch that is current). The loser throws its commit away, catches up —
//! fetches and processes the pending messages, which carry the winning
//! commit or a Welcome — and builds the commit again for the new epoch. At
//! most a fixed number of attempts ([`MAX_COMMIT_ATTEMPTS`] for every
//! caller today) are made before giving up on a busy group.
//!
//! [`commit_with_retry`] is that loop, once, for 1:1 conversations, report
//! and consultation threads and discussion groups. What differs between
//! them — which commit the group needs, what merging it means, how a lost
//! race is recovered and which refusals are final — is a [`CommitRace`]
//! the caller implements. The routine owns the order of the steps and the
//! rules every caller shares:
//!
//! * A commit the server did not accept is abandoned (its pending state
//!   dropped) before anything else happens, whatever the reason: refused,
//!   an unexpected answer, or no answer at all.
//! * A lost or broken connection mid-commit ends the routine with the
//!   error; it never resends. Whether the server took the commit is unknown,
//!   and a second commit could not follow the first: the next run starts
//!   from whatever the server delivers.
//! * Only `stale_epoch` is retried; every other refusal goes to the caller
//!   ([`CommitRace::refused`]), which either ends the routine or makes the
//!   next attempt start from a clean state.
//! * An attempt that finds nothing it can send yet ([`Attempt::NotYet`])
//!   counts like a lost one; the caller may ask for a pause before every
//!   attempt that follows one whose change was not taken
//!   ([`CommitRace::pause`]), slept on the connection's clock.
//!
//! # Who uses it
//!
//! * 1:1 conversations, report and consultation threads, a discussion
//!   group's creation and a moderator's removal: MLS commits, answered with
//!   `commit_accepted`.
//! * Joining a discussion group by link: an MLS *external* commit
//!   (`external_join`) built from the GroupInfo the server keeps. A joiner
//!   is not a member yet, so losing the race needs no catching up: the next
//!   attempt fetches the GroupInfo again; when that is older than the group
//!   (no member has refreshed it yet) the attempt is [`Attempt::NotYet`],
//!   and the joiner pauses so that a member can refresh it.
//! * Posting to a broadcast channel. A post is **not** an MLS commit, but it
//!   is the same race with the same rules, which is why it uses this
//!   routine rather than a loop of its own: the server appends exactly one
//!   post per position of the channel's hash chain (the request names the
//!   sequence number it follows) and refuses the others with
//!   `stale_epoch`; the loser re-reads the chain's tail and chains its post
//!   to the winner's. A post leaves no pending state behind, so abandoning
//!   it is nothing, and a post whose answer was lost is not resent either
//!   (the server may hold it; posting it again would duplicate it). Its
//!   success answer is `channel_posted` with the sequence number, which
//!   the caller names with [`CommitRace::accepted_at`].

use std::time::Duration;

use stadtbote_protocol::{ErrorBody, ErrorCode, Request, Response};

use crate::clock::Clock;
use crate::connection::{Connection, ConnectionError};
use crate::transport::Transport;

/// How often a commit is attempted before giving up on a busy group.
pub const MAX_COMMIT_ATTEMPTS: usize = 5;

/// What [`CommitRace::prepare`] decided for this attempt.
// Made once per attempt and moved straight into the request: boxing the
// request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Attempt<P, D> {
    /// Send this commit, built for the epoch held now. `pending` is what
    /// the caller needs later to merge or abandon it.
    Commit {
        /// The `commit` request.
        request: Request,
        /// The caller's handle on the pending commit.
        pending: P,
    },
    /// Nothing can be sent in this attempt yet (what the change builds on
    /// is not there yet, such as a join's GroupInfo that is older than the
    /// group). Counts as an attempt; the next one follows after
    /// [`CommitRace::pause`].
    NotYet,
    /// Nothing (more) to commit: the routine returns this.
    Done(D),
}

/// A caller's side of [`commit_with_retry`].
#[allow(async_fn_in_trait)]
pub trait CommitRace {
    /// The transport the commit travels over.
    type Transport: Transport;
    /// The connection's clock.
    type Clock: Clock;
    /// A pending commit, as the caller tracks it.
    type Pending;
    /// What the routine returns on success.
    type Done;
    /// The caller's error type.
    type Error: From<ConnectionError>;

    /// The open connection to send on.
    fn connection(&mut self) -> Result<&mut Connection<Self::Transport, Self::Clock>, Self::Error>;

    /// Looks at the group as it is now and builds the next commit it needs,
    /// or says that it needs none. Called once per attempt.
    async fn prepare(&mut self) -> Result<Attempt<Self::Pending, Self::Done>, Self::Error>;

    /// The server accepted the commit, which made its epoch `epoch` (the
    /// position [`accepted_at`](CommitRace::accepted_at) read from the
    /// answer): merge it. `Some` ends the routine with that result; `None` goes round
    /// again (for changes made one commit at a time), counting an attempt.
    async fn accepted(
        &mut self,
        pending: Self::Pending,
        epoch: u64,
    ) -> Result<Option<Self::Done>, Self::Error>;

    /// Drops a pending commit the server did not accept.
    async fn abandon(&mut self, pending: &Self::Pending) -> Result<(), Self::Error>;

    /// Another commit won the epoch (`refusal` is the `stale_epoch` error,
    /// with the server's current epoch when it said): fetch and process the
    /// pending messages so that the next [`prepare`](CommitRace::prepare)
    /// builds on the winner's epoch, or end the routine with an error when
    /// a retry cannot help. The commit is already abandoned.
    async fn lost_race(
        &mut self,
        pending: Self::Pending,
        refusal: ErrorBody,
    ) -> Result<(), Self::Error>;

    /// The server refused the commit for another reason (already
    /// abandoned). `Err` ends the routine; `Ok` tries again (after the
    /// caller reset what made the server refuse, for example by starting a
    /// group the server lost all over).
    async fn refused(
        &mut self,
        pending: Self::Pending,
        refusal: ErrorBody,
    ) -> Result<(), Self::Error>;

    /// The server answered the commit with something other than
    /// `commit_accepted` (the commit is already abandoned).
    fn unexpected(&self, answer: &Response) -> Self::Error;

    /// Every one of `attempts` attempts lost its race.
    fn gave_up(&self, attempts: usize) -> Self::Error;

    /// How long to wait before an attempt that follows one whose change
    /// was not taken (on the connection's clock). None by default: a lost race is caught up with
    /// in [`lost_race`](CommitRace::lost_race), and the next attempt can
    /// start at once.
    fn pause(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether `answer` says that the server took the change, and at which
    /// position: by default `commit_accepted` and the epoch it made. A race
    /// whose success is answered otherwise (a channel post:
    /// `channel_posted` and its sequence number) says so here. `None`
    /// makes the answer [`unexpected`](CommitRace::unexpected).
    fn accepted_at(&self, answer: &Response) -> Option<u64> {
        match answer {
            Response::CommitAccepted { epoch } => Some(*epoch),
            _ => None,
        }
    }
}

/// Commits until the group needs nothing more, at most `attempts` times
/// (see the module docs for the rules).
pub async fn commit_with_retry<R: CommitRace>(
    race: &mut R,
    attempts: usize,
) -> Result<R::Done, R::Error> {
    // Whether the last attempt ended without its change taken (nothing to
    // send yet, a lost race, a refusal the caller retries).
    let mut after_failure = false;
    for _attempt in 0..attempts {
        let pause = race.pause();
        if after_failure && !pause.is_zero() {
            race.connection()?.clock().sleep(pause).await;
        }
        after_failure = true;
        let (request, pending) = match race.prepare().await? {
            Attempt::Done(done) => return Ok(done),
            Attempt::NotYet => continue,
            Attempt::Commit { request, pending } => (request, pending),
        };
        let answer = match race.connection() {
            Ok(connection) => connection.call(request).await.map_err(R::Error::from),
            Err(error) => Err(error),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                // Whether the server took the commit is unknown; this
                // device's state cannot follow it. Drop it, never resend.
                race.abandon(&pending).await?;
                return Err(error);
            }
        };
        match answer {
            Ok(answer) => {
                let Some(position) = race.accepted_at(&answer) else {
                    race.abandon(&pending).await?;
                    return Err(race.unexpected(&answer));
                };
                if let Some(done) = race.accepted(pending, position).await? {
                    return Ok(done);
                }
                after_failure = false;
            }
            Err(refusal) if refusal.code == ErrorCode::StaleEpoch => {
                race.abandon(&pending).await?;
                race.lost_race(pending, refusal).await?;
            }
            Err(refusal) => {
                race.abandon(&pending).await?;
                race.refused(pending, refusal).await?;
            }
        }
    }
    Err(race.gave_up(attempts))
}

#[cfg(test)]
mod tests {
    use serde_bytes::ByteBuf;
    use stadtbote_protocol::frame::Envelope;
    use stadtbote_protocol::{ErrorCode, Event, GroupId};

    use super::*;
    use crate::testing::{FakeServer, FakeTransport, ManualClock, Reply, run};

    /// A group as a device holds it: its epoch and whether a commit is
    /// pending. Catching up reads the winning commit (an envelope whose
    /// payload is the epoch it leads to) from the connection's events.
    struct Toy {
        connection: Option<Connection<FakeTransport, ManualClock>>,
        group: GroupId,
        epoch: u64,
        pending: Option<u64>,
        /// Commits still to make before the group is settled.
        wanted: usize,
        abandoned: usize,
        merged: Vec<u64>,
        /// Attempts that find nothing to send yet, before the first commit.
        not_yet: usize,
        /// The pause asked for between attempts.
        pause: std::time::Duration,
        /// Success is `channel_posted` (a channel post's race), not
        /// `commit_accepted`.
        posts: bool,
    }

    #[derive(Debug, PartialEq)]
    enum ToyError {
        Connection(ConnectionError),
        Refused(ErrorCode),
        Unexpected,
        GaveUp(usize),
        NotConnected,
    }

    impl From<ConnectionError> for ToyError {
        fn from(error: ConnectionError) -> Self {
            ToyError::Connection(error)
        }
    }

    impl CommitRace for Toy {
        type Transport = FakeTransport;
        type Clock = ManualClock;
        type Pending = u64;
        type Done = u64;
        type Error = ToyError;

        fn connection(&mut self) -> Result<&mut Connection<FakeTransport, ManualClock>, ToyError> {
            self.connection.as_mut().ok_or(ToyError::NotConnected)
        }

        async fn prepare(&mut self) -> Result<Attempt<u64, u64>, ToyError> {
            assert_eq!(self.pending, None, "an earlier commit was neither merged nor abandoned");
            if self.wanted == 0 {
                return Ok(Attempt::Done(self.epoch));
            }
            if self.not_yet > 0 {
                self.not_yet -= 1;
                return Ok(Attempt::NotYet);
            }
            self.pending = Some(self.epoch);
            let request = Request::Commit {
                group: self.group,
                epoch: self.epoch,
                commit: ByteBuf::from(vec![1, 2, 3]),
                add: Vec::new(),
                remove: Vec::new(),
                welcome: None,
                statement: None,
                create: None,
            };
            Ok(Attempt::Commit { request, pending: self.epoch })
        }

        async fn accepted(&mut self, pending: u64, epoch: u64) -> Result<Option<u64>, ToyError> {
            assert_eq!(self.pending.take(), Some(pending));
            self.epoch = epoch;
            self.merged.push(epoch);
            self.wanted -= 1;
            Ok(None)
        }

        async fn abandon(&mut self, pending: &u64) -> Result<(), ToyError> {
            assert_eq!(self.pending.take(), Some(*pending));
            self.abandoned += 1;
            Ok(())
        }

        async fn lost_race(&mut self, pending: u64, refusal: ErrorBody) -> Result<(), ToyError> {
            assert_eq!(refusal.code, ErrorCode::StaleEpoch);
            let current = refusal.current_epoch;
            assert!(current.is_some_and(|c| c > pending));
            let wait = std::time::Duration::from_secs(5);
            while self.epoch < current.unwrap_or_default() {
                match self.connection()?.next_event(wait).await? {
                    Some(Event::Deliver { envelopes, .. }) => {
                        for envelope in envelopes {
                            self.epoch = u64::from(envelope.payload[0]);
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            Ok(())
        }

        async fn refused(&mut self, _pending: u64, refusal: ErrorBody) -> Result<(), ToyError> {
            Err(ToyError::Refused(refusal.code))
        }

        fn unexpected(&self, _answer: &Response) -> ToyError {
            ToyError::Unexpected
        }

        fn gave_up(&self, attempts: usize) -> ToyError {
            ToyError::GaveUp(attempts)
        }

        fn pause(&self) -> std::time::Duration {
            self.pause
        }

        fn accepted_at(&self, answer: &Response) -> Option<u64> {
            match (self.posts, answer) {
                (true, Response::ChannelPosted { seq, .. }) => Some(*seq),
                (false, Response::CommitAccepted { epoch }) => Some(*epoch),
                _ => None,
            }
        }
    }

    fn toy(server: &FakeServer, wanted: usize) -> Toy {
        toy_on(server, wanted, ManualClock::default())
    }

    fn toy_on(server: &FakeServer, wanted: usize, clock: ManualClock) -> Toy {
        let url = "ws://fake/v1/ws";
        let (connection, _) = run(Connection::open(&server.connector(), clock, url)).unwrap();
        Toy {
            connection: Some(connection),
            group: GroupId::random(),
            epoch: 1,
            pending: None,
            wanted,
            abandoned: 0,
            merged: Vec::new(),
            not_yet: 0,
            pause: std::time::Duration::ZERO,
            posts: false,
        }
    }

    /// The winning commit of another device, delivered as an envelope.
    fn winner(epoch: u8) -> Event {
        let envelope = Envelope { id: 1, received_at: 0, payload: ByteBuf::from(vec![epoch]) };
        Event::Deliver { envelopes: vec![envelope], caught_up: true }
    }

    fn commit_epochs(server: &FakeServer) -> Vec<u64> {
        server
            .requests()
            .into_iter()
            .filter_map(|r| match r {
                Request::Commit { epoch, .. } => Some(epoch),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_lost_race_catches_up_and_commits_again_on_the_winners_epoch() {
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        // The winner's commit arrives while our commit waits for its answer.
        server.expect_after_events("commit", vec![winner(2)], Reply::stale_epoch(2));
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 3 }));
        assert_eq!(run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS)), Ok(3));
        assert_eq!(commit_epochs(&server), [1, 2], "rebuilt for the winner's epoch");
        assert_eq!((race.abandoned, race.merged.as_slice()), (1, &[3][..]));
        assert_eq!(server.unmet(), 0);
    }

    #[test]
    fn changes_made_one_commit_at_a_time_each_count_as_an_attempt() {
        let server = FakeServer::new();
        let mut race = toy(&server, 2);
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 2 }));
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 3 }));
        assert_eq!(run(commit_with_retry(&mut race, 3)), Ok(3));
        // With two attempts only, the final check that nothing is left has
        // no attempt left.
        let server = FakeServer::new();
        let mut race = toy(&server, 2);
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 2 }));
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 3 }));
        assert_eq!(run(commit_with_retry(&mut race, 2)), Err(ToyError::GaveUp(2)));
    }

    #[test]
    fn repeated_lost_races_give_up_after_the_bound() {
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        for epoch in 2..2 + MAX_COMMIT_ATTEMPTS as u8 {
            server.expect_after_events(
                "commit",
                vec![winner(epoch)],
                Reply::stale_epoch(epoch.into()),
            );
        }
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!(result, Err(ToyError::GaveUp(MAX_COMMIT_ATTEMPTS)));
        assert_eq!(commit_epochs(&server), [1, 2, 3, 4, 5]);
        assert_eq!(race.abandoned, MAX_COMMIT_ATTEMPTS);
        assert_eq!(race.pending, None);
        assert_eq!(server.unmet(), 0, "not one commit more than the bound");
    }

    #[test]
    fn a_connection_lost_mid_commit_abandons_it_and_never_resends() {
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        server.expect("commit", Reply::Disconnect);
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert!(matches!(result, Err(ToyError::Connection(ConnectionError::Lost { .. }))));
        assert_eq!(commit_epochs(&server), [1], "sent once");
        assert_eq!((race.abandoned, race.pending), (1, None));
        assert!(race.merged.is_empty());
        // The same for a commit whose answer never comes.
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        server.expect("commit", Reply::Silence);
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        let Err(ToyError::Connection(error)) = result else { panic!("{result:?}") };
        assert!(error.to_string().ends_with("no answer to commit in time"), "{error}");
        assert_eq!((commit_epochs(&server).len(), race.abandoned), (1, 1));
        // And without a connection at all.
        let mut race = toy(&FakeServer::new(), 1);
        race.connection = None;
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!((result, race.abandoned), (Err(ToyError::NotConnected), 1));
    }

    #[test]
    fn another_refusal_or_answer_is_final_and_the_commit_abandoned() {
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        server.expect("commit", Reply::refuse(ErrorCode::NotAMember));
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!(result, Err(ToyError::Refused(ErrorCode::NotAMember)));
        assert_eq!((commit_epochs(&server).len(), race.abandoned), (1, 1));

        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        server.expect("commit", Reply::Answer(Response::Acked { removed: 0 }));
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!((result, race.abandoned), (Err(ToyError::Unexpected), 1));
        assert!(race.merged.is_empty());
    }

    #[test]
    fn nothing_to_commit_sends_nothing() {
        let server = FakeServer::new();
        let mut race = toy(&server, 0);
        assert_eq!(run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS)), Ok(1));
        assert!(server.requests().is_empty());
    }

    #[test]
    fn attempts_with_nothing_to_send_yet_count_and_are_paused_on_the_clock() {
        let pause = std::time::Duration::from_millis(400);
        // Two attempts find nothing to send (a join's outdated GroupInfo);
        // the third commits. Every attempt after the first waits `pause`.
        let server = FakeServer::new();
        let clock = ManualClock::at(0);
        let mut race = toy_on(&server, 1, clock.clone());
        (race.not_yet, race.pause) = (2, pause);
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 2 }));
        assert_eq!(run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS)), Ok(2));
        assert_eq!(clock.now_ms(), 2 * 400, "paused before the second and third attempt");
        assert_eq!((commit_epochs(&server), race.abandoned), (vec![1], 0));
        // Nothing to send in every attempt: gives up after the bound
        // without sending anything, having paused between the attempts.
        let server = FakeServer::new();
        let clock = ManualClock::at(0);
        let mut race = toy_on(&server, 1, clock.clone());
        (race.not_yet, race.pause) = (usize::MAX, pause);
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!(result, Err(ToyError::GaveUp(MAX_COMMIT_ATTEMPTS)));
        assert!(server.requests().is_empty());
        assert_eq!(clock.now_ms(), (MAX_COMMIT_ATTEMPTS as u64 - 1) * 400);
    }

    #[test]
    fn a_lost_race_is_retried_at_once_without_a_pause() {
        let server = FakeServer::new();
        let clock = ManualClock::at(0);
        let mut race = toy_on(&server, 1, clock.clone());
        server.expect_after_events("commit", vec![winner(2)], Reply::stale_epoch(2));
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 3 }));
        assert_eq!(run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS)), Ok(3));
        assert_eq!(clock.now_ms(), 0, "no time passed");
    }

    /// A channel post's race: success is `channel_posted` with its sequence
    /// number; `commit_accepted` would be an unexpected answer there.
    #[test]
    fn a_race_names_its_own_success_answer() {
        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        race.posts = true;
        server.expect_after_events("commit", vec![winner(2)], Reply::stale_epoch(2));
        server.expect("commit", Reply::Answer(Response::ChannelPosted { seq: 7, stored_at: 1 }));
        assert_eq!(run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS)), Ok(7));
        assert_eq!((race.abandoned, race.merged.as_slice()), (1, &[7][..]));

        let server = FakeServer::new();
        let mut race = toy(&server, 1);
        race.posts = true;
        server.expect("commit", Reply::Answer(Response::CommitAccepted { epoch: 2 }));
        let result = run(commit_with_retry(&mut race, MAX_COMMIT_ATTEMPTS));
        assert_eq!((result, race.abandoned), (Err(ToyError::Unexpected), 1));
    }
}
