//! The native [`Clock`]: the system's wall clock and tokio's timers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stadtbote_client::clock::Clock;

/// Wall-clock time from [`SystemTime`], sleeping on tokio's (monotonic)
/// timers, so that a clock change never stretches or cuts a timeout.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_and_tells_the_time() {
        let clock = SystemClock;
        let before = clock.now_ms();
        let started = std::time::Instant::now();
        clock.sleep(Duration::from_millis(30)).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(clock.now_ms() >= before + 25, "the wall clock moved on as well");
        // 2020-01-01 or later.
        assert!(before > 1_577_836_800_000);
    }
}
