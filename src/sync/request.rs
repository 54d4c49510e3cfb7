//! What a run is asked to do ([`RunRequest`]) and what it did ([`RunReport`]), and why it could not
//! run ([`SyncError`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::RunFailure;
use super::evaluate::Targets;
use super::lease::{LeaseError, LeasePolicy};
use super::read::ChainReport;
use crate::ids::RunId;
use crate::store::{InboundRow, StoreError};
use crate::vocab::{RunKind, RunStatus};

/// Whether a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write everything (a real run).
    Apply,
    /// Compute everything, write nothing (`--dry-run`, `import`/`remap` without `--apply`).
    DryRun,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Full, delta, import or remap.
    pub kind: RunKind,
    /// What started it.
    pub trigger: String,
    /// Apply or dry run.
    pub mode: Mode,
    /// Deactivate beyond the guard (an operator approved a quarantined run).
    pub override_guard: bool,
    /// Evaluate only what is already pending in the mirror, without reading Graph (approval).
    pub pending_only: bool,
    /// Told how far the run got (the CLI draws a progress bar on a terminal).
    pub progress: Option<Progress>,
    /// How a run that writes holds its connection's lease (dry runs take none).
    pub lease: LeasePolicy,
    /// The quarantined run this run approves: the approval is recorded when the run starts, and
    /// the approved run is recorded as succeeded when this one succeeds.
    pub approves: Option<Approval>,
    /// The records the run writes (`import --users` / `--agents`), within what the connection
    /// syncs.
    pub targets: Targets,
    /// Stops the run (the daemon passes its shutdown token). Once it is cancelled the run stops
    /// at its next await point: while reading, its Graph requests in flight are dropped; while
    /// evaluating, between two batches, once the batches being written are in. It is
    /// recorded `cancelled` with [`cancel_reason`](Self::cancel_reason), deactivates nobody,
    /// keeps its pending marks and chain checkpoints (the next run resumes from them), releases
    /// its lease, and [`Syncer::run`] returns its report. No task of the run outlives it. A run
    /// whose deactivations have begun finishes them, and one still waiting for its lease stops
    /// waiting (it has no run row).
    pub cancel: CancellationToken,
    /// Why `cancel` would be cancelled, recorded as the run's error (`cancelled: <reason>`).
    pub cancel_reason: String,
}

/// An operator's approval of a quarantined run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The quarantined run.
    pub run_id: RunId,
    /// Who approved it (`cli`, or the API key's agent).
    pub by: String,
}

impl RunRequest {
    /// A run of `kind` in `mode`, started by `trigger`.
    pub fn new(kind: RunKind, mode: Mode, trigger: &str) -> Self {
        Self {
            kind,
            trigger: trigger.to_owned(),
            mode,
            override_guard: false,
            pending_only: false,
            progress: None,
            lease: LeasePolicy::default(),
            approves: None,
            targets: Targets::BOTH,
            cancel: CancellationToken::new(),
            cancel_reason: "the daemon is shutting down".to_owned(),
        }
    }

    /// `work`, unless the run is cancelled first: cancellation is looked at first each time the
    /// two are woken, so work that fails because the run's tasks stopped counts as cancelled.
    pub(super) async fn unless_cancelled<T>(
        &self,
        work: impl Future<Output = Result<T, RunFailure>>,
    ) -> Result<T, RunFailure> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(self.cancelled()),
            result = work => result,
        }
    }

    /// The failure of a cancelled run.
    pub(super) fn cancelled(&self) -> RunFailure {
        RunFailure::Cancelled(self.cancel_reason.clone())
    }
}

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// People read from the users chain so far.
    Read(u64),
    /// People evaluated so far.
    Evaluated(u64),
}

/// A progress listener.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(Step) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Progress {
    pub(super) fn tell(progress: Option<&Progress>, step: Step) {
        if let Some(p) = progress {
            (p.0)(step);
        }
    }
}

/// Why a run could not even start or finish its bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run needs Graph but has no client (remap has none).
    #[error("this run needs a Graph client")]
    NoGraph,
    /// The connection's lease is held by another run (or could not be claimed).
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The run lost its connection's lease to another run while it ran (it was paused past the
    /// lease's expiry): it stopped, and nothing it would have written after that was written.
    #[error(
        "run {run_id} of connection {connection:?} lost the connection's lease to another run \
         (it was paused past the lease's expiry); it stopped and wrote nothing more"
    )]
    LeaseLost {
        /// The connection.
        connection: String,
        /// The run.
        run_id: RunId,
    },
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run row (none for a dry run).
    pub run_id: Option<RunId>,
    /// Final status.
    pub status: RunStatus,
    /// Rows per action.
    pub counts: BTreeMap<String, u64>,
    /// Graph requests made.
    pub graph_requests: u64,
    /// Throttled answers.
    pub graph_throttles: u64,
    /// Wall time.
    pub seconds: f64,
    /// Of which reading Entra into the mirror.
    pub read_seconds: f64,
    /// The users chain.
    pub users: ChainReport,
    /// The groups chains.
    pub groups: ChainReport,
    /// Warnings (groups that did not resolve, restarts).
    pub warnings: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Every inbound-log row (kept for dry runs and previews; empty for applied runs).
    pub rows: Vec<InboundRow>,
    /// Deactivations held back by the guard.
    pub held_back: u64,
    /// It failed because the connection's credential no longer works (a sign-in refusal, or
    /// Graph rejecting a freshly refreshed token): retrying cannot help until an administrator
    /// authorises the connection again.
    pub needs_authorisation: bool,
}

impl RunReport {
    /// A run that has done nothing yet.
    pub(super) fn empty(run_id: Option<RunId>) -> Self {
        Self {
            run_id,
            status: RunStatus::Running,
            counts: BTreeMap::new(),
            graph_requests: 0,
            graph_throttles: 0,
            seconds: 0.0,
            read_seconds: 0.0,
            users: ChainReport::default(),
            groups: ChainReport::default(),
            warnings: Vec::new(),
            error: None,
            rows: Vec::new(),
            held_back: 0,
            needs_authorisation: false,
        }
    }
}
