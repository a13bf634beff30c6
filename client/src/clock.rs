//! Time, as the core sees it: the wall clock in Unix milliseconds (for
//! timestamps the user sees and the server checks) and sleeping (for
//! timeouts and waits between attempts).
//!
//! The core never reads the system time or starts a timer itself; every
//! front-end passes its own [`Clock`] (client-cli: `SystemClock`, on tokio;
//! the web app: `Date.now()` and `setTimeout`). Tests use
//! `testing::ManualClock` (feature `test-support`), whose sleeps return at
//! once and move its time forward, so that a timeout is tested without
//! waiting for it.

use std::time::Duration;

/// The wall clock and timers of a front-end.
///
/// No `Send` bound: the browser's timers are not `Send`. The core uses
/// clocks generically, never as `dyn Clock`.
#[allow(async_fn_in_trait)]
pub trait Clock {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Completes once `duration` has passed. Dropping the future before
    /// that cancels the timer.
    async fn sleep(&self, duration: Duration);
}

impl<C: Clock> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    async fn sleep(&self, duration: Duration) {
        (**self).sleep(duration).await
    }
}
