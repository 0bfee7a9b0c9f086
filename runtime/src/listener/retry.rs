//! `retry`: while the address is in use, try again with a capped, doubling
//! pause until a deadline. For the restart that begins while the old
//! instance is still shutting down, and for Windows, where an exclusive port
//! stays busy while the old listener's connections drain. A blocking
//! listener sleeps through a pause; an async one awaits it on the helper
//! thread (`background`).

use std::io;
use std::time::{Duration, Instant};

/// The pause after the first failed attempt; each next pause doubles.
pub(crate) const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between two attempts, so that a released port is
/// taken within this time.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(200);

/// The state of one bounded retry.
pub(crate) struct Retry {
    limit: Duration,
    started: Instant,
    pause: Duration,
    attempts: u32,
}

impl Retry {
    pub(crate) fn new(limit: Duration) -> Retry {
        Retry {
            limit,
            started: Instant::now(),
            pause: FIRST_PAUSE,
            attempts: 0,
        }
    }

    /// After a failed attempt: the pause before the next one, or `None`
    /// when the error is not "address in use" or the time is up. The last
    /// pause is shortened so that one attempt is made at the deadline.
    pub(crate) fn pause_after(&mut self, error: &io::Error) -> Option<Duration> {
        self.attempts += 1;
        if error.kind() != io::ErrorKind::AddrInUse {
            return None;
        }
        let remaining = self.limit.checked_sub(self.started.elapsed())?;
        if remaining.is_zero() {
            return None;
        }
        let pause = self.pause.min(remaining);
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        Some(pause)
    }

    /// How long it tried, and how many attempts it made.
    pub(crate) fn tried(&self) -> (Duration, u32) {
        (self.started.elapsed(), self.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn in_use() -> io::Error {
        io::Error::from(io::ErrorKind::AddrInUse)
    }

    #[test]
    fn pauses_double_up_to_the_cap_and_stop_at_the_deadline() {
        let mut retry = Retry::new(Duration::from_secs(3600));
        let pauses: Vec<Duration> = (0..8)
            .map(|_| retry.pause_after(&in_use()).unwrap())
            .collect();
        let millis: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [10, 20, 40, 80, 160, 200, 200, 200]);
        assert_eq!(retry.tried().1, 8);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut retry = Retry::new(Duration::from_secs(3600));
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(retry.pause_after(&denied), None);
    }

    #[test]
    fn no_pause_once_the_time_is_up() {
        let mut retry = Retry::new(Duration::from_millis(1));
        thread::sleep(Duration::from_millis(5));
        assert_eq!(retry.pause_after(&in_use()), None);
    }

    #[test]
    fn the_last_pause_ends_at_the_deadline() {
        let mut retry = Retry::new(Duration::from_millis(15));
        let first = retry.pause_after(&in_use()).unwrap();
        assert_eq!(first, FIRST_PAUSE);
        let second = retry.pause_after(&in_use()).unwrap();
        assert!(second <= Duration::from_millis(15), "{second:?}");
    }
}
