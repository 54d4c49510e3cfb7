//! The scheduler on paused time, against connections whose runs take as long as each test says.
//! The fake keeps the schedule as the database does (the start of each connection's last cycle
//! and full run) and plans with the real [`Cadence`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pacing::Jitter;
use super::scheduler::{Cycle, Cycles, Job, LoopState, Scheduler, SchedulerOptions};
use crate::ids::ConnectionId;
use crate::service::cadence::{Cadence, Plan, Trigger};
use crate::store::RunHistory;
use crate::vocab::{RunKind, RunStatus};

const MINUTE: Duration = Duration::from_secs(60);

fn id(name: &str) -> ConnectionId {
    ConnectionId::parse(name).expect("connection id")
}

/// One run the fake performed.
#[derive(Debug, Clone, PartialEq)]
struct Ran {
    connection: String,
    kind: RunKind,
    /// Minutes since the test started, at the run's start and end.
    start: f64,
    end: f64,
}

/// How one connection behaves.
#[derive(Debug, Clone)]
struct Behaviour {
    /// How long each run takes.
    takes: Duration,
    /// Runs fail (with `reauthorise` as given) while this is set.
    fails: Option<bool>,
}

#[derive(Default)]
struct State {
    history: BTreeMap<String, RunHistory>,
    triggers: BTreeMap<String, Trigger>,
    behaviour: BTreeMap<String, Behaviour>,
    ran: Vec<Ran>,
    running: BTreeSet<String>,
    most_at_once: usize,
    cycles: u32,
}

/// Connections whose runs take time on tokio's (paused) clock.
struct Fake {
    cadence: Cadence,
    started: Instant,
    state: Mutex<State>,
}

impl Fake {
    fn new(cadence: Cadence) -> Arc<Self> {
        Arc::new(Self {
            cadence,
            started: Instant::now(),
            state: Mutex::default(),
        })
    }

    fn behave(&self, connection: &str, takes: Duration, fails: Option<bool>) {
        self.lock()
            .behaviour
            .insert(connection.to_owned(), Behaviour { takes, fails });
    }

    fn trigger(&self, connection: &str, full: bool) {
        self.lock()
            .triggers
            .insert(connection.to_owned(), Trigger { full });
    }

    fn minutes(&self) -> f64 {
        self.started.elapsed().as_secs_f64() / 60.0
    }

    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
            + chrono::Duration::from_std(self.started.elapsed()).unwrap()
    }

    fn ran(&self, connection: &str) -> Vec<Ran> {
        self.lock()
            .ran
            .iter()
            .filter(|r| r.connection == connection)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

#[async_trait]
impl Cycles for Fake {
    async fn cycle(&self, connection: &ConnectionId, cancel: &CancellationToken) -> Cycle {
        let name = connection.to_string();
        let (plan, behaviour) = {
            let mut state = self.lock();
            state.cycles += 1;
            let trigger = state.triggers.remove(&name);
            let history = state.history.get(&name).copied().unwrap_or_default();
            let behaviour = state.behaviour.get(&name).cloned().unwrap_or(Behaviour {
                takes: Duration::from_secs(10),
                fails: None,
            });
            (self.cadence.plan(&history, trigger, self.now()), behaviour)
        };
        let kind = match plan {
            Plan::Wait(wait) => return Cycle::NotDue(wait),
            Plan::Run(kind) => kind,
        };
        let start = self.now();
        let start_minutes = self.minutes();
        {
            let mut state = self.lock();
            assert!(
                state.running.insert(name.clone()),
                "{name} ran twice at once"
            );
            state.most_at_once = state.most_at_once.max(state.running.len());
        }
        let finished = tokio::select! {
            () = tokio::time::sleep(behaviour.takes) => true,
            () = cancel.cancelled() => false,
        };
        let mut state = self.lock();
        state.running.remove(&name);
        if !finished {
            return Cycle::Ran {
                status: RunStatus::Cancelled,
                next: Duration::ZERO,
            };
        }
        state.ran.push(Ran {
            connection: name.clone(),
            kind,
            start: start_minutes,
            end: self.minutes(),
        });
        let history = state.history.entry(name).or_default();
        history.last_cycle = Some(start);
        if let Some(reauthorise) = behaviour.fails {
            return Cycle::Failed {
                error: "Graph answered 503".to_owned(),
                reauthorise,
            };
        }
        if kind == RunKind::Full {
            history.last_full = Some(start);
        }
        let next = match self.cadence.plan(history, None, self.now()) {
            Plan::Wait(wait) => wait,
            Plan::Run(_) => Duration::ZERO,
        };
        Cycle::Ran {
            status: RunStatus::Succeeded,
            next,
        }
    }

    async fn triggered(&self) -> Result<Vec<ConnectionId>, String> {
        Ok(self.lock().triggers.keys().map(|name| id(name)).collect())
    }
}

fn cadence() -> Cadence {
    Cadence {
        interval: 2 * MINUTE,
        full_interval: 10 * MINUTE,
        delta: true,
    }
}

fn options(max_parallel: usize) -> SchedulerOptions {
    SchedulerOptions {
        max_parallel,
        trigger_poll: Duration::from_secs(2),
        jitter: Jitter::NONE,
    }
}

fn jobs(names: &[&str]) -> Vec<Job> {
    names
        .iter()
        .map(|name| Job {
            connection: id(name),
            interval: 2 * MINUTE,
            fingerprint: "v1".to_owned(),
        })
        .collect()
}

/// Runs the scheduler for `minutes` of paused time.
async fn run_for(scheduler: &Scheduler, minutes: u64) {
    let _ = scheduler;
    tokio::time::sleep(Duration::from_secs(minutes * 60)).await;
}

fn starts(runs: &[Ran]) -> Vec<(RunKind, f64)> {
    runs.iter()
        .map(|r| (r.kind, (r.start * 6.0).round() / 6.0))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn cycles_follow_the_interval_and_the_full_interval() {
    let fake = Fake::new(cadence());
    let mut scheduler = Scheduler::new(fake.clone(), options(4), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["contoso"]));
    run_for(&scheduler, 21).await;

    let runs = fake.ran("contoso");
    // Each 10-second run starts one interval (2 minutes) after the last one started; a full one
    // every 10 minutes, the first run included.
    let expected: Vec<(RunKind, f64)> = (0..=10)
        .map(|n| {
            let kind = if n % 5 == 0 {
                RunKind::Full
            } else {
                RunKind::Delta
            };
            (kind, f64::from(n * 2))
        })
        .collect();
    assert_eq!(starts(&runs), expected);
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_its_interval_is_followed_by_one_cycle_not_a_burst() {
    let fake = Fake::new(cadence());
    fake.behave("slow", 5 * MINUTE, None);
    let mut scheduler = Scheduler::new(fake.clone(), options(4), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["slow"]));
    run_for(&scheduler, 16).await;

    let runs = fake.ran("slow");
    let spans: Vec<(f64, f64)> = runs.iter().map(|r| (r.start, r.end)).collect();
    assert_eq!(spans, [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0)]);
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn no_more_than_max_parallel_connections_run_at_once() {
    let fake = Fake::new(cadence());
    let names: Vec<String> = (0..10).map(|n| format!("tenant-{n}")).collect();
    for name in &names {
        fake.behave(name, 30 * Duration::from_secs(1), None);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut scheduler = Scheduler::new(fake.clone(), options(3), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&refs));
    run_for(&scheduler, 5).await;

    assert_eq!(fake.lock().most_at_once, 3);
    for name in &names {
        // Ten 30-second runs through three slots all start within the first two minutes, so
        // each connection still runs every interval.
        assert!(fake.ran(name).len() >= 2, "{name}: {:?}", fake.ran(name));
    }
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_connection_backs_off_while_the_others_keep_their_cadence() {
    let fake = Fake::new(cadence());
    fake.behave("broken", Duration::from_secs(10), Some(false));
    let mut scheduler = Scheduler::new(fake.clone(), options(2), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["broken", "healthy"]));
    run_for(&scheduler, 31).await;

    // Attempts after 2, 4, 8 and 16 minutes of backoff (each run takes 10 s).
    let broken: Vec<f64> = fake
        .ran("broken")
        .iter()
        .map(|r| (r.start * 6.0).round() / 6.0)
        .collect();
    assert_eq!(
        broken,
        [
            0.0,
            2.0 + 1.0 / 6.0,
            6.0 + 2.0 / 6.0,
            14.5,
            30.5 + 1.0 / 6.0
        ]
    );
    let healthy = fake.ran("healthy");
    assert_eq!(healthy.len(), 16, "{healthy:?}");
    let board = scheduler.board().snapshot();
    assert!(
        matches!(
            &board[&id("broken")],
            LoopState::BackingOff { failures: 5, .. }
        ),
        "{board:?}"
    );
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn triggers_during_a_run_are_coalesced_into_one_follow_up_run() {
    let fake = Fake::new(cadence());
    fake.behave("contoso", Duration::from_secs(30), None);
    let mut scheduler = Scheduler::new(fake.clone(), options(4), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["contoso"]));
    tokio::time::sleep(Duration::from_secs(41)).await;
    fake.trigger("contoso", false);
    // The poll (every 2 s) wakes the loop at 0:42; its run takes until 1:12.
    tokio::time::sleep(Duration::from_secs(10)).await;
    fake.trigger("contoso", false);
    tokio::time::sleep(Duration::from_secs(5)).await;
    fake.trigger("contoso", true);
    run_for(&scheduler, 3).await;

    let runs: Vec<(RunKind, f64)> = fake
        .ran("contoso")
        .iter()
        .map(|r| (r.kind, (r.start * 60.0).round()))
        .collect();
    assert_eq!(
        runs,
        [
            (RunKind::Full, 0.0),
            (RunKind::Delta, 42.0),
            // The two triggers made during that run: one follow-up, full as one of them asked.
            (RunKind::Full, 72.0),
            // Then the cadence again, an interval after the last start.
            (RunKind::Delta, 192.0),
        ]
    );
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_needs_authorising_again_stops_until_it_is_triggered() {
    let fake = Fake::new(cadence());
    fake.behave("revoked", Duration::from_secs(10), Some(true));
    let mut scheduler = Scheduler::new(fake.clone(), options(4), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["revoked", "healthy"]));
    run_for(&scheduler, 20).await;

    assert_eq!(fake.ran("revoked").len(), 1);
    assert_eq!(fake.ran("healthy").len(), 10);
    let board = scheduler.board().snapshot();
    assert!(
        matches!(&board[&id("revoked")], LoopState::NeedsReauthorisation { error } if error.contains("503")),
        "{board:?}"
    );

    fake.trigger("revoked", false);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let runs = fake.ran("revoked");
    assert_eq!(runs.len(), 2, "an operator's trigger tries again: {runs:?}");
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_starts_added_connections_and_stops_removed_ones_between_runs() {
    let fake = Fake::new(cadence());
    fake.behave("removed", MINUTE, None);
    let mut scheduler = Scheduler::new(fake.clone(), options(4), CancellationToken::new());
    scheduler.apply(fake.clone(), jobs(&["kept", "removed"]));
    // 4:30: "removed" is in the middle of its run that started at 4:00.
    tokio::time::sleep(Duration::from_secs(270)).await;
    scheduler.apply(fake.clone(), jobs(&["kept", "added"]));
    assert_eq!(scheduler.connections(), [id("added"), id("kept")]);
    run_for(&scheduler, 6).await;

    let spans = |name| -> Vec<f64> {
        fake.ran(name)
            .iter()
            .map(|r| (r.start * 2.0).round() / 2.0)
            .collect()
    };
    assert_eq!(spans("kept"), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    assert_eq!(
        spans("removed"),
        [0.0, 2.0, 4.0],
        "its run under way at the reload finished, and no other started"
    );
    let removed_last = fake.ran("removed").last().cloned().unwrap();
    assert_eq!(removed_last.end, 5.0);
    assert_eq!(spans("added"), [4.5, 6.5, 8.5]);
    scheduler.shutdown(MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_the_runs_under_way_and_ends_every_loop() {
    let fake = Fake::new(cadence());
    fake.behave("long", 10 * MINUTE, None);
    let stop = CancellationToken::new();
    let mut scheduler = Scheduler::new(fake.clone(), options(4), stop.clone());
    scheduler.apply(fake.clone(), jobs(&["long", "short"]));
    tokio::time::sleep(MINUTE).await;
    let asked = Instant::now();
    assert!(scheduler.shutdown(Duration::from_secs(30)).await);
    assert_eq!(
        asked.elapsed(),
        Duration::ZERO,
        "the fake's runs stop at once when cancelled"
    );
    assert!(stop.is_cancelled());
    assert!(
        fake.ran("long").is_empty(),
        "the long run was cancelled, not finished"
    );
    assert_eq!(fake.ran("short").len(), 1);
    assert!(fake.lock().running.is_empty());
}
