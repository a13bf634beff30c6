//! The free-space guard: writes are refused while the data directory's
//! filesystem has less than `min_free_disk_bytes` available.
//!
//! A relay that runs its disk completely full risks half-written database
//! segments and attachment files and, worse, a store that cannot even record
//! acknowledgements any more. Refusing new writes a little earlier, with a
//! typed `storage_unavailable` error and no acknowledgement, keeps the last
//! megabytes for what is already in flight (flushes, acks, the sweeper), and
//! clients simply retry from their outbox. Reads keep working throughout.
//!
//! `statvfs` costs a system call, so its result is cached for
//! [`CACHE_FOR`]; a burst of requests asks the kernel once. When space
//! returns, the next check after the cache expires lets writes through again
//! without any operator action. The log says when the state changes, once per
//! transition, and never names a client.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one `statvfs` answer is trusted.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Enough free space: writes may proceed.
    Enough,
    /// Below the threshold (or the filesystem could not be asked): refuse writes.
    Low,
}

#[derive(Debug)]
struct Cached {
    checked: Instant,
    space: Space,
}

/// Checks the data directory's free space, cached for [`CACHE_FOR`].
#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    min_free_bytes: u64,
    cached: Mutex<Option<Cached>>,
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    // f_bavail counts blocks of f_frsize bytes (POSIX); saturate rather than
    // overflow on absurd values.
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl DiskGuard {
    /// A guard for the filesystem holding `dir`; `min_free_bytes` of 0
    /// disables it.
    pub fn new(dir: PathBuf, min_free_bytes: u64) -> Self {
        Self { dir, min_free_bytes, cached: Mutex::new(None) }
    }

    /// Whether writes may proceed now.
    pub fn check(&self) -> Space {
        self.check_at(Instant::now(), || available_bytes(&self.dir))
    }

    /// [`Self::check`] with the clock and the measurement supplied, so that
    /// the caching and transition logic can be tested without a full disk.
    pub fn check_at(&self, now: Instant, measure: impl FnOnce() -> std::io::Result<u64>) -> Space {
        if self.min_free_bytes == 0 {
            return Space::Enough;
        }
        // A poisoned lock only means another thread panicked while holding
        // it; the cached value is still a valid answer.
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref()
            && now.saturating_duration_since(c.checked) < CACHE_FOR
        {
            return c.space;
        }
        let space = match measure() {
            Ok(free) if free >= self.min_free_bytes => Space::Enough,
            Ok(_) => Space::Low,
            Err(e) => {
                // Not knowing is treated like not having: a filesystem that
                // cannot answer statvfs is unlikely to take writes either.
                tracing::debug!(error_kind = ?e.kind(), "statvfs of the data directory failed");
                Space::Low
            }
        };
        let previous = cached.as_ref().map(|c| c.space);
        if previous != Some(space) {
            match space {
                Space::Low => tracing::warn!(
                    min_free_bytes = self.min_free_bytes,
                    "free disk space below min_free_disk_bytes; refusing writes"
                ),
                Space::Enough if previous.is_some() => {
                    tracing::warn!("free disk space recovered; accepting writes again");
                }
                Space::Enough => {}
            }
        }
        *cached = Some(Cached { checked: now, space });
        space
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_for_a_second_and_recovers_by_itself() {
        let guard = DiskGuard::new(PathBuf::from("/"), 100);
        let t0 = Instant::now();
        assert_eq!(guard.check_at(t0, || Ok(50)), Space::Low);
        // Within the cache period the filesystem is not asked again.
        assert_eq!(
            guard.check_at(t0 + Duration::from_millis(500), || panic!("cached")),
            Space::Low
        );
        assert_eq!(guard.check_at(t0 + CACHE_FOR, || Ok(100)), Space::Enough);
        assert_eq!(
            guard.check_at(t0 + CACHE_FOR * 2, || Err(std::io::Error::other("gone"))),
            Space::Low
        );
    }

    #[test]
    fn zero_disables_the_guard() {
        let guard = DiskGuard::new(PathBuf::from("/nonexistent"), 0);
        assert_eq!(guard.check_at(Instant::now(), || Ok(0)), Space::Enough);
    }

    #[test]
    fn measures_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available_bytes(dir.path()).unwrap() > 0);
        let guard = DiskGuard::new(dir.path().to_path_buf(), 1);
        assert_eq!(guard.check(), Space::Enough);
        let guard = DiskGuard::new(dir.path().to_path_buf(), u64::MAX);
        assert_eq!(guard.check(), Space::Low);
    }
}
