//! The native [`Clock`]: the system's wall clock and tokio's timers.
//!
//! This is the one place of the client logic that reads the system time or
//! starts a tokio timer. The [`Client`](crate::Client) (and the account-less
//! [`Follower`](crate::channels::Follower)) hold a clock, `SystemClock`
//! unless a test passes the core's `ManualClock`: every timestamp, deadline
//! and sleep of theirs — message and post times, certificate and pin
//! checks, the connection's timeouts, waits for the mailbox, the pause
//! between join attempts, the waits on `rate_limited` uploads — goes
//! through it, so the same logic can run in the browser, where
//! `SystemTime::now()` traps.
//!
//! What keeps tokio's time is not client logic: the native adapters (the
//! WebSocket's one-second close in `connection.rs`; the file locks' waits
//! in `home.rs` and `file_storage.rs`, which use `std::time::Instant`) and
//! the binary's own terminal and process handling in `commands/` — `chat`
//! racing the terminal against deliveries (`tokio::select!`), the live
//! channel follower's signals and revocation refresh timer, `server-info`'s
//! HTTP timeout, and the `audit` command's verification stamp.

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

/// The client logic takes its time from the clock it is given: a `Client`
/// opened with the core's `ManualClock` stamps and purges by that clock.
#[cfg(test)]
mod manual_clock_tests {
    use serde_bytes::ByteBuf;
    use stadtbote_client::testing::ManualClock;
    use stadtbote_protocol::auth::DeviceSecret;
    use stadtbote_protocol::mls::MlsClient;
    use stadtbote_protocol::{AccountId, DeviceId};

    use super::*;
    use crate::device::Client;
    use crate::home::{Home, MLS_FILE, STATE_FILE};
    use crate::state::{MLS_FILE_VERSION, MlsFile, State};

    /// A home as `init` leaves it, made without a server.
    fn offline_home(dir: &std::path::Path) {
        let home = Home::create(dir).unwrap();
        let secret = DeviceSecret::generate();
        let (account, device) = (AccountId::random(), DeviceId::random());
        let mls = MlsClient::new(&secret, account, device);
        home.write_cbor(STATE_FILE, &State::new(account, device, None)).unwrap();
        let mls_file = MlsFile {
            v: MLS_FILE_VERSION,
            mls: ByteBuf::from(mls.export_state().unwrap()),
            seen_envelopes: Default::default(),
        };
        home.write_cbor(MLS_FILE, &mls_file).unwrap();
        home.write_identity(&secret).unwrap();
    }

    #[test]
    fn a_client_stamps_by_the_clock_it_was_given() {
        let tmp = tempfile::tempdir().unwrap();
        offline_home(tmp.path());
        let clock = ManualClock::at(1_000_000);
        let mut client =
            Client::open_with_clock(tmp.path(), "ws://127.0.0.1:9/v1/ws", clock.clone()).unwrap();
        assert_eq!(client.now_ms(), 1_000_000);
        let peer = AccountId::random();
        assert_eq!(
            stadtbote_client::testing::run(client.queue_text(&peer, "eins")).unwrap().sent_at,
            1_000_000
        );
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            stadtbote_client::testing::run(client.queue_text(&peer, "zwei")).unwrap().sent_at,
            1_000_000 + 3_600_000
        );
        let stamps: Vec<u64> = client.state().outbox.iter().map(|e| e.sent_at).collect();
        assert_eq!(stamps, [1_000_000, 4_600_000]);
    }
}
