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

use crate::store::RunHistory;
use crate::vocab::RunKind;

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
    pub fn plan(&self, history: &RunHistory, trigger: Option<Trigger>, now: DateTime<Utc>) -> Plan {
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

    fn history(last_cycle: i64, last_full: i64) -> RunHistory {
        RunHistory {
            last_cycle: Some(at(last_cycle)),
            last_full: Some(at(last_full)),
        }
    }

    #[test]
    fn a_connection_that_never_ran_starts_with_a_full_run() {
        let plan = cadence().plan(&RunHistory::default(), None, at(0));
        assert_eq!(plan, Plan::Run(RunKind::Full));
        // Even when a failed full run is the only one: no full has succeeded yet.
        let failed = RunHistory {
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
}
