//! When a connection's next cycle is due, and what kind it is.
//!
//! The schedule is kept by the database, not by a process: a cycle is due `sync.interval` after
//! the start of the connection's last finished cycle (of any replica, or a `sync` from the
//! command line), and a full reconciliation `full_interval` after the start of its last
//! successful full run. A replica decides while it holds the connection's lease, so two replicas
//! never both find the same cycle due. A cancelled run does not count: the next one resumes
//! its work at once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::RunKind;

/// A connection's cadence (`[connection.sync]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Between two cycles.
    pub interval: Duration,
    /// Between two full reconciliations.
    pub full_interval: Duration,
    /// Cycles are delta cycles; when `false`, every cycle is a full one.
    pub delta: bool,
}

/// What the database says of a connection's past cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// When the last finished (not cancelled) full or delta run started.
    pub last_cycle: Option<DateTime<Utc>>,
    /// When the last full run that succeeded (or was quarantined) started.
    pub last_full: Option<DateTime<Utc>>,
}

/// A sync requested by an operator (`entra-sync trigger`, the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// A full reconciliation was asked for.
    pub full: bool,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Run a cycle of this kind (`Full` or `Delta`).
    Run(RunKind),
    /// Nothing is due for this long.
    Wait(Duration),
}

impl Cadence {
    /// The plan at `now`, given the connection's history and an operator's pending trigger.
    pub fn plan(&self, history: &History, trigger: Option<Trigger>, now: DateTime<Utc>) -> Plan {
        let full_due = !self.delta || due(history.last_full, self.full_interval, now).is_none();
        if let Some(trigger) = trigger {
            return Plan::Run(if trigger.full || full_due {
                RunKind::Full
            } else {
                RunKind::Delta
            });
        }
        if history.last_full.is_none() {
            return Plan::Run(RunKind::Full);
        }
        let until_cycle = due(history.last_cycle, self.interval, now);
        let until_full = due(history.last_full, self.full_interval, now);
        match (until_cycle, until_full) {
            (_, None) => Plan::Run(RunKind::Full),
            (None, Some(_)) if self.delta => Plan::Run(RunKind::Delta),
            (None, Some(_)) => Plan::Run(RunKind::Full),
            (Some(cycle), Some(full)) => Plan::Wait(cycle.min(full)),
        }
    }
}

/// How long until `period` has passed since `last`; `None` when it has (or there is no `last`).
fn due(last: Option<DateTime<Utc>>, period: Duration, now: DateTime<Utc>) -> Option<Duration> {
    let last = last?;
    let elapsed = (now - last).to_std().unwrap_or(Duration::ZERO);
    period.checked_sub(elapsed).filter(|left| !left.is_zero())
}

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
    use chrono::TimeZone;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    fn cadence() -> Cadence {
        Cadence {
            interval: 2 * MINUTE,
            full_interval: 60 * MINUTE,
            delta: true,
        }
    }

    fn history(last_cycle: i64, last_full: i64) -> History {
        History {
            last_cycle: Some(at(last_cycle)),
            last_full: Some(at(last_full)),
        }
    }

    #[test]
    fn a_connection_that_never_ran_starts_with_a_full_run() {
        let plan = cadence().plan(&History::default(), None, at(0));
        assert_eq!(plan, Plan::Run(RunKind::Full));
        // Even when a failed full run is the only one: no full has succeeded yet.
        let failed = History {
            last_cycle: Some(at(0)),
            last_full: None,
        };
        assert_eq!(
            cadence().plan(&failed, None, at(1)),
            Plan::Run(RunKind::Full)
        );
    }

    #[test]
    fn a_delta_cycle_is_due_one_interval_after_the_last_cycle_started() {
        assert_eq!(
            cadence().plan(&history(10, 0), None, at(11)),
            Plan::Wait(MINUTE)
        );
        assert_eq!(
            cadence().plan(&history(10, 0), None, at(12)),
            Plan::Run(RunKind::Delta)
        );
        assert_eq!(
            cadence().plan(&history(10, 0), None, at(40)),
            Plan::Run(RunKind::Delta),
            "missed cycles are one cycle, not a burst"
        );
    }

    #[test]
    fn a_full_run_is_due_one_full_interval_after_the_last_successful_one() {
        assert_eq!(
            cadence().plan(&history(58, 0), None, at(59)),
            Plan::Wait(MINUTE),
            "the full reconciliation at 60 comes first"
        );
        assert_eq!(
            cadence().plan(&history(58, 0), None, at(60)),
            Plan::Run(RunKind::Full)
        );
    }

    #[test]
    fn without_delta_every_cycle_is_full() {
        let full_only = Cadence {
            delta: false,
            ..cadence()
        };
        assert_eq!(
            full_only.plan(&history(10, 10), None, at(11)),
            Plan::Wait(MINUTE)
        );
        assert_eq!(
            full_only.plan(&history(10, 10), None, at(12)),
            Plan::Run(RunKind::Full)
        );
        assert_eq!(
            full_only.plan(&history(10, 10), Some(Trigger { full: false }), at(11)),
            Plan::Run(RunKind::Full)
        );
    }

    #[test]
    fn a_trigger_runs_now_and_says_which_kind() {
        let history = history(10, 0);
        assert_eq!(
            cadence().plan(&history, Some(Trigger { full: false }), at(10)),
            Plan::Run(RunKind::Delta)
        );
        assert_eq!(
            cadence().plan(&history, Some(Trigger { full: true }), at(10)),
            Plan::Run(RunKind::Full)
        );
    }

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
