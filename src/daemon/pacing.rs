//! How the scheduler spaces its attempts: backoff for a failing connection, and jitter so that
//! connections configured together do not fire on the same second.

use std::time::Duration;

/// How long a failing connection waits before its next attempt: its interval after the first
/// failure, doubling with each further one, capped at an hour (or the interval, if longer).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let cap = interval.max(Duration::from_secs(3600));
    let doublings = failures.saturating_sub(1).min(16);
    interval.saturating_mul(1 << doublings).min(cap)
}

/// Spreads waits so that connections configured together do not fire on the same second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// A loop's first cycle starts uniformly within this share of its interval …
    pub start_fraction: f64,
    /// … and every later wait is stretched by up to this share of itself …
    pub wait_fraction: f64,
    /// … by no more than this.
    pub cap: Duration,
}

impl Default for Jitter {
    fn default() -> Self {
        Self {
            start_fraction: 0.25,
            wait_fraction: 0.05,
            cap: Duration::from_secs(30),
        }
    }
}

impl Jitter {
    /// No jitter (tests that count cycles on paused time).
    pub const NONE: Jitter = Jitter {
        start_fraction: 0.0,
        wait_fraction: 0.0,
        cap: Duration::ZERO,
    };

    /// The delay before a loop's first cycle.
    pub fn start(&self, interval: Duration) -> Duration {
        self.spread(interval.mul_f64(self.start_fraction))
    }

    /// `wait`, stretched a little.
    pub fn wait(&self, wait: Duration) -> Duration {
        wait + self.spread(wait.mul_f64(self.wait_fraction))
    }

    /// A uniform delay in `[0, max)`, `max` capped.
    fn spread(&self, max: Duration) -> Duration {
        let max = max.min(self.cap);
        if max.is_zero() {
            return Duration::ZERO;
        }
        max.mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn backoff_doubles_from_the_interval_and_stops_at_an_hour() {
        let waits: Vec<u64> = (1..=7)
            .map(|failures| backoff(2 * MINUTE, failures).as_secs() / 60)
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            backoff(2 * MINUTE, u32::MAX),
            60 * MINUTE,
            "no overflow however long it fails"
        );
        assert_eq!(
            backoff(120 * MINUTE, 3),
            120 * MINUTE,
            "an interval longer than the cap is the cap"
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let jitter = Jitter::default();
        for _ in 0..200 {
            let start = jitter.start(2 * MINUTE);
            assert!(start < Duration::from_secs(30), "{start:?}");
            let wait = jitter.wait(10 * MINUTE);
            assert!(wait >= 10 * MINUTE && wait < 10 * MINUTE + Duration::from_secs(30));
        }
        assert_eq!(Jitter::NONE.start(2 * MINUTE), Duration::ZERO);
        assert_eq!(Jitter::NONE.wait(MINUTE), MINUTE);
    }
}
