//! The scheduler: one loop per connection that runs here, a global limit on concurrent runs,
//! operators' triggers, reloads and shutdown.
//!
//! A loop sleeps until its connection may be due, then asks [`Cycles::cycle`] to run whatever is
//! due. The answer says how long to sleep next, so the loop keeps no schedule of its own: the
//! database does (see [`super::cadence`]), and several replicas share it. A loop computes its
//! next wake from the moment a cycle ends, so a run that outlasts its interval is followed by
//! one cycle, never a burst, and two cycles of one connection never overlap. A failing
//! connection backs off on its own loop; the others keep their cadence. A connection that needs
//! to be authorised again stops cycling until an operator triggers it or its configuration
//! changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use super::pacing::{Jitter, backoff};
use crate::ids::ConnectionId;
use crate::vocab::RunStatus;

/// What a loop asks of the application: run a cycle of a connection if one is due.
#[async_trait]
pub trait Cycles: Send + Sync {
    /// Runs the cycle of `connection` that is due, if any, and says when to ask again. A run
    /// stops (recorded `cancelled`) when `cancel` is cancelled.
    async fn cycle(&self, connection: &ConnectionId, cancel: &CancellationToken) -> Cycle;

    /// The connections an operator asked to sync (pending triggers), of any replica.
    async fn triggered(&self) -> Result<Vec<ConnectionId>, String>;
}

/// What one call of [`Cycles::cycle`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cycle {
    /// A run happened and ended with `status`; the next cycle is due in `next`.
    Ran {
        /// How the run ended.
        status: RunStatus,
        /// Until the next cycle is due.
        next: Duration,
    },
    /// Nothing was due; the next cycle is due in this long.
    NotDue(Duration),
    /// Another replica (or command) holds the connection's lease; ask again in this long.
    Busy(Duration),
    /// The cycle failed before or while running.
    Failed {
        /// Why, in a sentence.
        error: String,
        /// The connection needs an administrator to authorise it again (a sign-in error
        /// such as AADSTS, or a 401 after a token refresh): retrying cannot help.
        reauthorise: bool,
    },
}

/// One connection the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The connection.
    pub connection: ConnectionId,
    /// Its `sync.interval`: the base of its jitter and backoff.
    pub interval: Duration,
    /// Changes whenever the connection's configuration does: a reload restarts its loop.
    pub fingerprint: String,
}

/// Where a connection's loop stands, for `/readyz`, metrics and the status page.
#[derive(Debug, Clone, PartialEq)]
pub enum LoopState {
    /// Sleeping until its next cycle may be due.
    Waiting {
        /// When it wakes.
        until: Instant,
    },
    /// Waiting for a free slot (`max_parallel_connections`).
    Queued,
    /// A cycle is under way.
    Running,
    /// Failing; the next attempt comes after a backoff.
    BackingOff {
        /// Failures in a row.
        failures: u32,
        /// The last error.
        error: String,
        /// When it tries again.
        until: Instant,
    },
    /// Needs an administrator to authorise it again; not cycling.
    NeedsReauthorisation {
        /// Why.
        error: String,
    },
}

/// The loops' states, by connection.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<Mutex<BTreeMap<ConnectionId, LoopState>>>);

impl Board {
    /// Every loop's state.
    pub fn snapshot(&self) -> BTreeMap<ConnectionId, LoopState> {
        self.lock().clone()
    }

    fn set(&self, connection: &ConnectionId, state: LoopState) {
        self.lock().insert(connection.clone(), state);
    }

    fn remove(&self, connection: &ConnectionId) {
        self.lock().remove(connection);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnectionId, LoopState>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How the scheduler behaves.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// At most this many cycles at once, across every connection.
    pub max_parallel: usize,
    /// How often pending triggers are looked for.
    pub trigger_poll: Duration,
    /// Spread of the loops' wakes.
    pub jitter: Jitter,
}

/// A running loop.
struct Loop {
    job: Job,
    /// Wakes the loop early (a trigger).
    wake: Arc<Notify>,
    /// Ends the loop at its next wait, letting a cycle under way finish (reload).
    retire: CancellationToken,
    task: JoinHandle<()>,
}

/// The connection loops of this process.
pub struct Scheduler {
    cycles: Arc<RwLock<Arc<dyn Cycles>>>,
    options: SchedulerOptions,
    slots: Arc<Semaphore>,
    loops: BTreeMap<ConnectionId, Loop>,
    board: Board,
    /// Cancels every run and ends every loop (shutdown).
    stop: CancellationToken,
    /// Set each time the trigger poll comes round: a stuck scheduler stops beating.
    heartbeat: Arc<Mutex<Instant>>,
    /// The loops' wake handles, for the trigger poll.
    wakes: Arc<Mutex<BTreeMap<ConnectionId, Arc<Notify>>>>,
    poller: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// A scheduler with no loops yet, running cycles through `cycles`, stopping when `stop`
    /// is cancelled.
    pub fn new(
        cycles: Arc<dyn Cycles>,
        options: SchedulerOptions,
        stop: CancellationToken,
    ) -> Self {
        Self {
            cycles: Arc::new(RwLock::new(cycles)),
            slots: Arc::new(Semaphore::new(options.max_parallel.max(1))),
            options,
            loops: BTreeMap::new(),
            board: Board::default(),
            stop,
            heartbeat: Arc::new(Mutex::new(Instant::now())),
            wakes: Arc::default(),
            poller: None,
        }
    }

    /// The loops' states.
    pub fn board(&self) -> Board {
        self.board.clone()
    }

    /// When the scheduler last showed it is alive.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat(self.heartbeat.clone())
    }

    /// The connections with a loop, sorted.
    pub fn connections(&self) -> Vec<ConnectionId> {
        self.loops.keys().cloned().collect()
    }

    /// Runs exactly `jobs` from now on, through `cycles` (a new configuration's): loops of
    /// connections no longer listed end after their cycle under way, new ones start, and those
    /// whose fingerprint changed restart between two cycles. Unchanged loops carry on, their
    /// next cycle through `cycles`.
    pub fn apply(&mut self, cycles: Arc<dyn Cycles>, jobs: Vec<Job>) {
        *self
            .cycles
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = cycles;
        let wanted: BTreeMap<ConnectionId, Job> = jobs
            .into_iter()
            .map(|job| (job.connection.clone(), job))
            .collect();
        let ended: Vec<ConnectionId> = self
            .loops
            .iter()
            .filter(|(id, running)| wanted.get(*id) != Some(&running.job))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            if let Some(running) = self.loops.remove(&id) {
                info!(connection = %id, "The connection's loop ends after its cycle under way.");
                running.retire.cancel();
            }
        }
        for (id, job) in wanted {
            if !self.loops.contains_key(&id) {
                let running = self.spawn(job);
                self.loops.insert(id, running);
            }
        }
        *lock(&self.wakes) = self
            .loops
            .iter()
            .map(|(id, running)| (id.clone(), running.wake.clone()))
            .collect();
        if self.poller.is_none() {
            self.poller = Some(self.spawn_poller());
        }
    }

    /// Stops scheduling and cancels the runs under way (recorded `cancelled`); waits for the
    /// loops for at most `grace`. Returns whether every loop ended in time.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        self.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut self.loops)
            .into_values()
            .map(|running| running.task)
            .chain(self.poller.take())
            .collect();
        let all = futures::future::join_all(tasks);
        tokio::time::timeout(grace, all).await.is_ok()
    }

    fn spawn(&self, job: Job) -> Loop {
        let wake = Arc::new(Notify::new());
        let retire = self.stop.child_token();
        let span = info_span!("connection", connection = %job.connection);
        let task = tokio::spawn(
            ConnectionLoop {
                job: job.clone(),
                cycles: self.cycles.clone(),
                slots: self.slots.clone(),
                board: self.board.clone(),
                jitter: self.options.jitter,
                wake: wake.clone(),
                retire: retire.clone(),
                stop: self.stop.clone(),
            }
            .run()
            .instrument(span),
        );
        Loop {
            job,
            wake,
            retire,
            task,
        }
    }

    /// Polls for triggers and wakes their loops; beats the heartbeat each round.
    fn spawn_poller(&self) -> JoinHandle<()> {
        let cycles = self.cycles.clone();
        let wakes = self.wakes.clone();
        let heartbeat = self.heartbeat.clone();
        let stop = self.stop.clone();
        let every = self.options.trigger_poll;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.cancelled() => return,
                }
                let current = current(&cycles);
                match current.triggered().await {
                    Ok(connections) => {
                        let wakes = lock(&wakes);
                        for id in connections {
                            if let Some(wake) = wakes.get(&id) {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(error) => warn!(%error, "Could not read the pending sync triggers."),
                }
                *lock(&heartbeat) = Instant::now();
            }
        })
    }
}

/// The cycles of the configuration now live.
fn current(cycles: &RwLock<Arc<dyn Cycles>>) -> Arc<dyn Cycles> {
    cycles
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When the scheduler last showed it is alive.
#[derive(Debug, Clone)]
pub struct Heartbeat(Arc<Mutex<Instant>>);

impl Heartbeat {
    /// How long ago the scheduler last beat.
    pub fn age(&self) -> Duration {
        lock(&self.0).elapsed()
    }
}

/// One connection's loop.
struct ConnectionLoop {
    job: Job,
    cycles: Arc<RwLock<Arc<dyn Cycles>>>,
    slots: Arc<Semaphore>,
    board: Board,
    jitter: Jitter,
    wake: Arc<Notify>,
    retire: CancellationToken,
    stop: CancellationToken,
}

impl ConnectionLoop {
    async fn run(self) {
        let id = &self.job.connection;
        let mut wait = self.jitter.start(self.job.interval);
        let mut failures = 0u32;
        loop {
            if !self.board_waiting(wait, failures).await {
                break;
            }
            self.board.set(id, LoopState::Queued);
            let slot = tokio::select! {
                slot = self.slots.clone().acquire_owned() => slot,
                () = self.retire.cancelled() => break,
            };
            let Ok(slot) = slot else { break };
            self.board.set(id, LoopState::Running);
            let cycle = current(&self.cycles).cycle(id, &self.stop).await;
            drop(slot);
            wait = match cycle {
                Cycle::Ran { status, next } => {
                    failures = 0;
                    if status == RunStatus::Quarantined {
                        warn!(connection = %id, "The run is quarantined: its deactivations wait for approval (`entra-sync runs approve`).");
                    }
                    self.jitter.wait(next)
                }
                Cycle::NotDue(next) => {
                    failures = 0;
                    self.jitter.wait(next)
                }
                Cycle::Busy(next) => self.jitter.wait(next),
                Cycle::Failed {
                    error,
                    reauthorise: true,
                } => {
                    warn!(connection = %id, %error, "The connection needs to be authorised again; it stops syncing until it is triggered or its configuration changes.");
                    self.board
                        .set(id, LoopState::NeedsReauthorisation { error });
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = self.retire.cancelled() => break,
                    }
                    Duration::ZERO
                }
                Cycle::Failed { error, .. } => {
                    failures = failures.saturating_add(1);
                    let next = self.jitter.wait(backoff(self.job.interval, failures));
                    warn!(connection = %id, %error, failures, retry_in = ?next, "The cycle failed; the connection backs off.");
                    self.board.set(
                        id,
                        LoopState::BackingOff {
                            failures,
                            error,
                            until: Instant::now() + next,
                        },
                    );
                    next
                }
            };
        }
        self.board.remove(id);
    }

    /// Sleeps `wait` (showing it on the board unless the loop is backing off), or until a
    /// trigger; `false` once the loop is to end.
    async fn board_waiting(&self, wait: Duration, failures: u32) -> bool {
        let until = Instant::now() + wait;
        if failures == 0 {
            self.board
                .set(&self.job.connection, LoopState::Waiting { until });
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => true,
            () = self.wake.notified() => true,
            () = self.retire.cancelled() => false,
        }
    }
}
