//! The crash-loop limit and the back-off: when the service is started
//! again after it ended, or that it is not. No OS call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The back-off after the first crash before the service was ready,
/// doubled for each next one, up to [`LONGEST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

/// The recent starts of the service, and its crashes before it was ready.
#[derive(Debug)]
pub(super) struct Starts {
    burst: u32,
    interval: Duration,
    at: VecDeque<Instant>,
    failed: u32,
}

impl Starts {
    pub(super) fn new(burst: u32, interval: Duration) -> Starts {
        Starts {
            burst,
            interval,
            at: VecDeque::new(),
            failed: 0,
        }
    }

    /// A start of the service at `now`.
    pub(super) fn started(&mut self, now: Instant) {
        self.at.push_back(now);
    }

    /// The service became ready: the back-off starts over.
    pub(super) fn ready(&mut self) {
        self.failed = 0;
    }

    /// The service ended before it was ready, or could not be started.
    pub(super) fn failed(&mut self) {
        self.failed += 1;
    }

    /// After the service ended at `now`: the pause before it is started
    /// again, or `Err` with the words of the crash loop.
    pub(super) fn pause(&mut self, now: Instant) -> Result<Duration, String> {
        let interval = self.interval;
        while self
            .at
            .front()
            .is_some_and(|&at| now.duration_since(at) > interval)
        {
            self.at.pop_front();
        }
        if self.at.len() >= usize::try_from(self.burst).unwrap_or(usize::MAX) {
            return Err(format!(
                "after {} starts within {interval:?}: a crash loop; it is not started again (the \
                 limit is {} starts, set by {})",
                self.at.len(),
                self.burst,
                super::START_LIMIT
            ));
        }
        Ok(match self.failed {
            0 => Duration::ZERO,
            n => FIRST_BACKOFF
                .saturating_mul(1 << (n - 1).min(16))
                .min(LONGEST_BACKOFF),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_service_is_started_at_once_until_the_burst() {
        let t0 = Instant::now();
        let mut starts = Starts::new(3, Duration::from_secs(10));
        for i in 0..3 {
            starts.started(t0 + Duration::from_secs(i));
            if i < 2 {
                starts.ready();
                assert_eq!(
                    starts.pause(t0 + Duration::from_secs(i)),
                    Ok(Duration::ZERO)
                );
            }
        }
        let error = starts.pause(t0 + Duration::from_secs(3)).unwrap_err();
        assert!(error.contains("3 starts within 10s"), "{error}");
        // Old starts fall out of the interval.
        let mut starts = Starts::new(2, Duration::from_secs(1));
        starts.started(t0);
        starts.started(t0 + Duration::from_millis(500));
        assert!(starts.pause(t0 + Duration::from_millis(900)).is_err());
        assert_eq!(
            starts.pause(t0 + Duration::from_millis(1600)),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn crashes_before_ready_back_off_up_to_five_seconds() {
        let t0 = Instant::now();
        let mut starts = Starts::new(u32::MAX, Duration::from_secs(1));
        let pauses: Vec<u128> = (0..8)
            .map(|_| {
                starts.failed();
                starts.pause(t0).unwrap().as_millis()
            })
            .collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        starts.ready();
        assert_eq!(starts.pause(t0), Ok(Duration::ZERO));
        starts.failed();
        assert_eq!(starts.pause(t0).unwrap().as_millis(), 100);
    }
}
