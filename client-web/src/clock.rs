//! [`BrowserClock`]: the core's [`Clock`] from `Date.now()` and
//! `setTimeout` (in a window or a worker). Dropping a sleep clears its
//! timer, so abandoned timeouts cost nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use js_sys::Promise;
use stadtbote_client::clock::Clock;
use wasm_bindgen_futures::JsFuture;

use crate::js;

/// The browser's wall clock and timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserClock;

impl BrowserClock {
    /// The clock.
    pub fn new() -> Self {
        Self
    }
}

/// The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days);
/// longer sleeps run as several timers.
const MAX_TIMEOUT_MS: u128 = i32::MAX as u128;

/// One `setTimeout`, cleared when dropped before it fired.
struct Timer {
    fired: JsFuture,
    handle: Option<i32>,
}

impl Timer {
    /// A timer of `ms` (at most [`MAX_TIMEOUT_MS`]); `None` where the scope
    /// has no timers.
    fn start(ms: i32) -> Option<Timer> {
        let scope = js::scope()?;
        let mut handle = None;
        // The promise's own resolver is the callback: no Rust closure to
        // keep alive or leak.
        let fired = Promise::new(&mut |resolve, _| handle = scope.set_timeout(&resolve, ms).ok());
        handle.map(|handle| Timer { fired: JsFuture::from(fired), handle: Some(handle) })
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match Pin::new(&mut self.fired).poll(cx) {
            Poll::Ready(_) => {
                self.handle = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let (Some(handle), Some(scope)) = (self.handle, js::scope()) {
            scope.clear_timeout(handle);
        }
    }
}

impl Clock for BrowserClock {
    fn now_ms(&self) -> u64 {
        let now = js_sys::Date::now();
        // A clock set before 1970 reads as 0 rather than wrapping.
        if now.is_finite() && now > 0.0 { now as u64 } else { 0 }
    }

    async fn sleep(&self, duration: Duration) {
        let mut left = duration.as_millis();
        // At least one timer, so that even a zero sleep yields to the
        // browser (as tokio's does to the runtime).
        loop {
            let step = left.min(MAX_TIMEOUT_MS);
            let Some(timer) = Timer::start(step as i32) else { return };
            timer.await;
            left -= step;
            if left == 0 {
                return;
            }
        }
    }
}
