//! Test doubles for the core's I/O traits (feature `test-support`; always
//! on in this crate's own tests): a [`FakeTransport`] that a test scripts
//! through its [`FakeServer`] handle, a [`ManualClock`] whose sleeps return
//! at once and move its time forward, and [`run`], which drives a future
//! made of them to completion without an async runtime.
//!
//! A script is a queue of expected requests, each with the answer the
//! "server" gives: a response, a typed refusal (`stale_epoch` with the
//! current epoch, for commit races), a dropped connection, or silence (the
//! request times out). Events can be queued at any point, also to arrive
//! between a request and its answer. Every request the core sent is
//! recorded for the test to inspect. A request the script did not expect
//! panics with its name: that is a test failure, not an error path.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_bytes::ByteBuf;
use stadtbote_protocol::frame::{self, ServerBody, ServerFrame};
use stadtbote_protocol::{ErrorBody, ErrorCode, Event, Request, Response};

use crate::clock::Clock;
use crate::transport::{Connector, Transport, TransportError};

/// What the fake server does with an expected request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answers with this response.
    Answer(Response),
    /// Refuses with this typed error.
    Refuse(ErrorBody),
    /// Takes the request, then the connection breaks before an answer.
    Disconnect,
    /// Takes the request and never answers.
    Silence,
}

impl Reply {
    /// A `stale_epoch` refusal naming the group's current epoch.
    pub fn stale_epoch(current_epoch: u64) -> Reply {
        let mut body = ErrorBody::new(ErrorCode::StaleEpoch, "another commit won this epoch");
        body.current_epoch = Some(current_epoch);
        Reply::Refuse(body)
    }

    /// A refusal with `code`.
    pub fn refuse(code: ErrorCode) -> Reply {
        Reply::Refuse(ErrorBody::new(code, "refused by the fake server"))
    }
}

#[derive(Debug)]
enum Incoming {
    Frame(Vec<u8>),
    Disconnect,
}

#[derive(Debug)]
struct Expected {
    name: &'static str,
    events_first: Vec<Event>,
    reply: Reply,
}

#[derive(Debug, Default)]
struct Script {
    expected: VecDeque<Expected>,
    incoming: VecDeque<Incoming>,
    requests: Vec<Request>,
    broken: bool,
    closed: bool,
    refuse_connect: Option<TransportError>,
    no_challenge: bool,
}

/// The test's handle on the fake server behind [`FakeTransport`]s.
#[derive(Debug, Clone, Default)]
pub struct FakeServer {
    script: Rc<RefCell<Script>>,
}

impl FakeServer {
    /// A server with an empty script.
    pub fn new() -> FakeServer {
        FakeServer::default()
    }

    /// A transport to this server, already open (no challenge queued).
    pub fn transport(&self) -> FakeTransport {
        FakeTransport { script: self.script.clone() }
    }

    /// A connector whose transports send the login challenge first.
    pub fn connector(&self) -> FakeConnector {
        FakeConnector { server: self.clone() }
    }

    /// Makes the next connection attempt fail with `error`.
    pub fn refuse_connect(&self, error: TransportError) {
        self.script.borrow_mut().refuse_connect = Some(error);
    }

    /// Makes connections open without a login challenge (a server that
    /// accepts the socket and says nothing).
    pub fn withhold_challenge(&self) {
        self.script.borrow_mut().no_challenge = true;
    }

    /// Expects the next request to be `name` (as `Request::name` spells it)
    /// and replies with `reply`.
    pub fn expect(&self, name: &'static str, reply: Reply) {
        self.expect_after_events(name, Vec::new(), reply);
    }

    /// Like [`FakeServer::expect`], but `events` arrive between the request
    /// and its answer.
    pub fn expect_after_events(&self, name: &'static str, events: Vec<Event>, reply: Reply) {
        self.script.borrow_mut().expected.push_back(Expected { name, events_first: events, reply });
    }

    /// Queues an event for the client to read now.
    pub fn push_event(&self, event: Event) {
        self.push_body(ServerBody::Event { event });
    }

    /// Queues any server frame body (for example an answer to a request id
    /// that is not awaited).
    pub fn push_body(&self, body: ServerBody) {
        let bytes = frame::encode(&ServerFrame::new(body));
        self.script.borrow_mut().incoming.push_back(Incoming::Frame(bytes));
    }

    /// Queues raw bytes as one frame (for malformed input).
    pub fn push_raw(&self, bytes: Vec<u8>) {
        self.script.borrow_mut().incoming.push_back(Incoming::Frame(bytes));
    }

    /// Breaks the connection once the frames queued so far are read.
    pub fn disconnect(&self) {
        self.script.borrow_mut().incoming.push_back(Incoming::Disconnect);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.script.borrow().requests.clone()
    }

    /// The names of the requests received so far, in order.
    pub fn request_names(&self) -> Vec<&'static str> {
        self.script.borrow().requests.iter().map(Request::name).collect()
    }

    /// Expected requests that have not come yet.
    pub fn unmet(&self) -> usize {
        self.script.borrow().expected.len()
    }

    /// Whether the client closed the transport.
    pub fn closed(&self) -> bool {
        self.script.borrow().closed
    }
}

/// A [`Transport`] whose far end is a [`FakeServer`] script.
#[derive(Debug)]
pub struct FakeTransport {
    script: Rc<RefCell<Script>>,
}

impl Transport for FakeTransport {
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), TransportError> {
        let mut script = self.script.borrow_mut();
        if script.broken {
            return Err(TransportError::Closed);
        }
        let frame = match frame::decode_client(&bytes, usize::MAX) {
            Ok(frame) => frame,
            Err(error) => panic!("the client sent an undecodable frame: {error}"),
        };
        let name = frame.request.name();
        let Some(expected) = script.expected.pop_front() else {
            panic!("the fake server expected no more requests, got {name}");
        };
        assert_eq!(expected.name, name, "the fake server expected another request");
        script.requests.push(frame.request);
        for event in expected.events_first {
            let bytes = frame::encode(&ServerFrame::new(ServerBody::Event { event }));
            script.incoming.push_back(Incoming::Frame(bytes));
        }
        let body = match expected.reply {
            Reply::Answer(response) => Some(ServerBody::Response { id: frame.id, response }),
            Reply::Refuse(error) => Some(ServerBody::Error { id: Some(frame.id), error }),
            Reply::Disconnect => {
                script.incoming.push_back(Incoming::Disconnect);
                None
            }
            Reply::Silence => None,
        };
        if let Some(body) = body {
            let bytes = frame::encode(&ServerFrame::new(body));
            script.incoming.push_back(Incoming::Frame(bytes));
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        let next = {
            let mut script = self.script.borrow_mut();
            if script.broken {
                return Err(TransportError::Closed);
            }
            let next = script.incoming.pop_front();
            if matches!(next, Some(Incoming::Disconnect)) {
                script.broken = true;
            }
            next
        };
        match next {
            Some(Incoming::Frame(bytes)) => Ok(bytes),
            Some(Incoming::Disconnect) => Err(TransportError::Closed),
            // Nothing to read: wait for ever (the connection's timer ends it).
            None => std::future::pending().await,
        }
    }

    async fn close(self) {
        self.script.borrow_mut().closed = true;
    }
}

/// Opens [`FakeTransport`]s to its [`FakeServer`], each starting with a
/// login challenge.
#[derive(Debug, Clone)]
pub struct FakeConnector {
    server: FakeServer,
}

impl Connector for FakeConnector {
    type Transport = FakeTransport;

    async fn connect(&self, _url: &str) -> Result<FakeTransport, TransportError> {
        if let Some(error) = self.server.script.borrow_mut().refuse_connect.take() {
            return Err(error);
        }
        let challenge = Event::Challenge {
            nonce: ByteBuf::from(vec![7; 32]),
            pow_difficulty: 0,
            server_time: 0,
        };
        let bytes = frame::encode(&ServerFrame::new(ServerBody::Event { event: challenge }));
        let mut script = self.server.script.borrow_mut();
        script.broken = false;
        if !script.no_challenge {
            script.incoming.push_front(Incoming::Frame(bytes));
        }
        drop(script);
        Ok(self.server.transport())
    }
}

/// A clock that a test moves: `sleep` returns at once, having moved the
/// time forward by the duration. Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now_ms: Rc<Cell<u64>>,
}

impl ManualClock {
    /// A clock at `now_ms`.
    pub fn at(now_ms: u64) -> ManualClock {
        ManualClock { now_ms: Rc::new(Cell::new(now_ms)) }
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.set(self.now_ms.get().saturating_add(ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

/// Drives `future` to completion without a runtime. Futures built from the
/// fakes above never wait for anything outside themselves, so one that is
/// still pending after many polls is stuck, and this panics.
pub fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the future is stuck: nothing it waits for can ever happen");
}
