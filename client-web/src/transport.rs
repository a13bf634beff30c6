//! [`BrowserConnector`] and [`BrowserTransport`]: the core's
//! [`Connector`]/[`Transport`] over the browser's `WebSocket`, binary
//! frames only.
//!
//! The browser delivers messages by events, with no back-pressure: the
//! transport keeps them in a bounded buffer ([`ReceiveLimits`]) until the
//! core reads them. A server that sends more than the buffer holds, or one
//! frame larger than the core accepts, gets the connection closed (code
//! 1009) and the reader gets [`TransportError::Failed`] after the frames
//! already buffered — never a silently dropped frame.
//!
//! Honest about closes: a close by the server with a close frame is
//! [`TransportError::Closed`]; a connection that broke (close code 1006,
//! no close frame) is [`TransportError::Failed`] with the code. The
//! browser hides why a connection could not be opened (refused, no route,
//! a full server's HTTP 429/503, a TLS failure all look alike), so opening
//! fails as [`TransportError::Unreachable`]; the browser's console has the
//! details. Reconnecting is the app's business.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use js_sys::ArrayBuffer;
use stadtbote_client::clock::Clock;
use stadtbote_client::connection::MAX_MESSAGE;
use stadtbote_client::transport::{Connector, Transport, TransportError};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::clock::BrowserClock;
use crate::js;

/// How long [`Transport::close`] waits for the server's close frame.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Bytes the browser may hold unsent before `send` fails (the core sends
/// one request at a time; this only trips on a stalled connection).
pub const MAX_SEND_BUFFER: u32 = 32 << 20;

/// Close code for "message too big" (RFC 6455, 7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a normal closure.
const CLOSE_NORMAL: u16 = 1000;

/// Bounds of the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveLimits {
    /// Frames received but not yet read.
    pub max_frames: usize,
    /// Bytes of those frames.
    pub max_bytes: usize,
    /// The largest single frame.
    pub max_frame: usize,
}

impl Default for ReceiveLimits {
    fn default() -> Self {
        // A mailbox catch-up arrives as batches of at most 64 envelopes,
        // read as they come; 1,024 unread frames or 64 MiB means the core
        // is not reading or the server floods.
        Self { max_frames: 1024, max_bytes: 64 << 20, max_frame: MAX_MESSAGE }
    }
}

/// Opens [`BrowserTransport`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserConnector {
    /// The receive buffer's bounds for every transport it opens.
    pub limits: ReceiveLimits,
}

impl BrowserConnector {
    /// A connector with the default limits.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Connector for BrowserConnector {
    type Transport = BrowserTransport;

    async fn connect(&self, url: &str) -> Result<BrowserTransport, TransportError> {
        BrowserTransport::open(url, self.limits).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Connecting,
    Open,
    /// Closed with a close frame (clean) or without (the code says why).
    Closed {
        clean: bool,
        code: u16,
    },
    /// We gave up on it (a limit was exceeded).
    Failed(String),
}

#[derive(Debug)]
struct Shared {
    state: State,
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    limits: ReceiveLimits,
    waker: Option<Waker>,
}

impl Shared {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The error for reading or writing in a state other than open.
    fn error(&self) -> TransportError {
        match &self.state {
            State::Connecting | State::Open => TransportError::Closed,
            State::Closed { clean: true, .. } => TransportError::Closed,
            State::Closed { clean: false, code } => TransportError::Failed(format!(
                "the connection was lost (WebSocket close code {code})"
            )),
            State::Failed(reason) => TransportError::Failed(reason.clone()),
        }
    }
}

type Handler = Closure<dyn FnMut(JsValue)>;

/// An open WebSocket to the server.
pub struct BrowserTransport {
    socket: WebSocket,
    shared: Rc<RefCell<Shared>>,
    /// The event handlers; unhooked and freed on drop.
    _handlers: [Handler; 4],
}

impl std::fmt::Debug for BrowserTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserTransport").field("state", &self.shared.borrow().state).finish()
    }
}

impl BrowserTransport {
    /// Opens a WebSocket to `url` and waits until it is open.
    pub async fn open(url: &str, limits: ReceiveLimits) -> Result<Self, TransportError> {
        let socket = WebSocket::new(url).map_err(|e| TransportError::Failed(js::describe(&e)))?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let shared = Rc::new(RefCell::new(Shared {
            state: State::Connecting,
            frames: VecDeque::new(),
            bytes: 0,
            limits,
            waker: None,
        }));

        let on_open = {
            let shared = shared.clone();
            Handler::new(move |_| {
                let mut shared = shared.borrow_mut();
                if shared.state == State::Connecting {
                    shared.state = State::Open;
                }
                shared.wake();
            })
        };
        let on_message = {
            let (shared, socket) = (shared.clone(), socket.clone());
            Handler::new(move |event: JsValue| {
                let Some(event) = event.dyn_ref::<MessageEvent>() else { return };
                // Text messages carry no frame (the protocol is binary).
                let Some(buffer) = event.data().dyn_ref::<ArrayBuffer>().cloned() else { return };
                let mut shared = shared.borrow_mut();
                if shared.state != State::Open {
                    return;
                }
                let len = buffer.byte_length() as usize;
                let limits = shared.limits;
                let over = if len > limits.max_frame {
                    Some(format!(
                        "the server sent a frame of {len} bytes, more than {}",
                        limits.max_frame
                    ))
                } else if shared.frames.len() >= limits.max_frames
                    || shared.bytes.saturating_add(len) > limits.max_bytes
                {
                    Some(format!(
                        "the server sent more than the receive buffer holds ({} frames, {} bytes)",
                        limits.max_frames, limits.max_bytes
                    ))
                } else {
                    None
                };
                if let Some(reason) = over {
                    shared.state = State::Failed(reason);
                    let _ = socket.close_with_code(CLOSE_TOO_BIG);
                } else {
                    shared.bytes += len;
                    shared.frames.push_back(js_sys::Uint8Array::new(&buffer).to_vec());
                }
                shared.wake();
            })
        };
        let on_close = {
            let shared = shared.clone();
            Handler::new(move |event: JsValue| {
                let (clean, code) = event
                    .dyn_ref::<CloseEvent>()
                    .map(|e| (e.was_clean(), e.code()))
                    .unwrap_or((false, 1006));
                let mut shared = shared.borrow_mut();
                if !matches!(shared.state, State::Failed(_)) {
                    shared.state = State::Closed { clean, code };
                }
                shared.wake();
            })
        };
        // An error event is always followed by a close event, which says
        // what happened; this only wakes the reader.
        let on_error = {
            let shared = shared.clone();
            Handler::new(move |_| shared.borrow_mut().wake())
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let transport = BrowserTransport {
            socket,
            shared,
            _handlers: [on_open, on_message, on_close, on_error],
        };

        poll_fn(|cx| {
            let mut shared = transport.shared.borrow_mut();
            match shared.state {
                State::Connecting => {
                    shared.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await;
        let state = transport.shared.borrow().state.clone();
        match state {
            State::Open => Ok(transport),
            // Closed before it opened: refused, unreachable, or turned
            // away; the browser does not say which.
            _ => Err(TransportError::Unreachable),
        }
    }

    /// Frames received and not read yet.
    pub fn buffered(&self) -> usize {
        self.shared.borrow().frames.len()
    }
}

impl Transport for BrowserTransport {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), TransportError> {
        {
            let shared = self.shared.borrow();
            if shared.state != State::Open {
                return Err(shared.error());
            }
        }
        if self.socket.buffered_amount() > MAX_SEND_BUFFER {
            return Err(TransportError::Failed(
                "the connection does not take data any more".into(),
            ));
        }
        self.socket.send_with_u8_array(&frame).map_err(|e| TransportError::Failed(js::describe(&e)))
    }

    async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        // Cancel-safe: a frame leaves the buffer only in the poll that
        // returns it.
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            if let Some(frame) = shared.frames.pop_front() {
                shared.bytes -= frame.len();
                return Poll::Ready(Ok(frame));
            }
            if shared.state == State::Open {
                shared.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(Err(shared.error()))
        })
        .await
    }

    async fn close(self) {
        if self.shared.borrow().state != State::Open {
            return;
        }
        let _ = self.socket.close_with_code(CLOSE_NORMAL);
        let closed = poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            if matches!(shared.state, State::Open | State::Connecting) {
                shared.waker = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        let mut timer = pin!(BrowserClock.sleep(CLOSE_WAIT));
        let mut closed = pin!(closed);
        poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() || timer.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

impl Drop for BrowserTransport {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        self.socket.set_onerror(None);
        let state = self.shared.borrow().state.clone();
        if matches!(state, State::Open | State::Connecting) {
            let _ = self.socket.close_with_code(CLOSE_NORMAL);
        }
    }
}
