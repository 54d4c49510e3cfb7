//! One connection, one run: read (users and groups chains concurrently) → mirror →
//! plan → match → apply in bounded transactions, with the deactivation guard.
//!
//! This file owns the entry points ([`Syncer::run`], [`Syncer::run_leased`]) and a run's
//! lifecycle: the lease, the run row started and finished, the report, how a failure or a
//! cancellation is recorded.
//!
//! - [`request`]: what a run is asked to do and what it did.
//! - `read_run`: a run's read step (groups resolved, chains read side by side, warnings logged).
//! - [`read`]: delta rounds and their lifecycle (fresh initial rounds, checkpoints, expired links).
//! - `passes`: the evaluation passes, and the deactivation guard between them.
//! - `batch`: one batch of people loaded, evaluated, staged and written.
//! - [`sink`]: where reads go — the store, or memory for a dry run.
//! - [`directory`]: what planning asks beyond the person.
//! - [`evaluate`]: one person → writes + inbound-log row; [`existing`] and [`record_writes`] translate
//!   between the store's records and the mapping engine's; [`message`] composes the row's
//!   message.
//!
//! Crash safety: every page is committed with its checkpoint, and every person read but not yet
//! evaluated is marked `pending` in the mirror; a run that dies resumes from both. Deactivations
//! are only written after every other change of the run, and only if the run read everything and
//! stayed within `max_deactivations`. A cancelled run ([`RunRequest::cancel`]) stops the same way,
//! cleanly: at its next await point, with every task it spawned ended, recorded `cancelled`.

mod batch;
mod batch_writers;
pub mod directory;
pub mod evaluate;
pub mod existing;
pub mod lease;
pub mod licences;
pub mod message;
mod passes;
pub mod read;
mod read_run;
pub mod record_writes;
pub mod request;
pub mod sink;

use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info, instrument, warn};

use self::lease::RunLease;
use self::read::ReadError;
pub use self::request::{Approval, Mode, Progress, RunReport, RunRequest, Step, SyncError};
use self::sink::{MemorySink, Sink, StoreSink};
use crate::clock::Clock;
use crate::config::ConnectionSettings;
use crate::graph::GraphClient;
use crate::store::{RunEnd, Store, StoreError};
use crate::tasks::TaskScope;
use crate::vocab::{RunKind, RunStatus};

/// People evaluated (and written) per transaction.
pub const BATCH: u32 = 500;

/// The collaborators of a run.
pub struct Syncer {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Graph (absent for remap and approval).
    pub graph: Option<GraphClient>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl Syncer {
    /// Runs `request` for `connection`. A run that writes first takes the connection's lease
    /// (as `request.lease` says), and writes only while it holds it; a dry run takes none.
    pub async fn run(
        &self,
        connection: &ConnectionSettings,
        request: &RunRequest,
    ) -> Result<RunReport, SyncError> {
        if request.mode == Mode::DryRun {
            return self.run_held(connection, request, None).await;
        }
        let id = &connection.id;
        let acquire = RunLease::acquire(&self.store, id, &request.lease);
        let Some(lease) = request.cancel.run_until_cancelled(acquire).await else {
            info!(
                connection = %id,
                "The run was cancelled before it held the connection's lease."
            );
            let mut report = RunReport::empty(None);
            report.status = RunStatus::Cancelled;
            report.error = Some(request.cancelled().to_string());
            return Ok(report);
        };
        self.run_leased(connection, request, lease?).await
    }

    /// Runs `request` for `connection`, holding `lease` (taken by the caller), which it releases
    /// when it ends.
    pub async fn run_leased(
        &self,
        connection: &ConnectionSettings,
        request: &RunRequest,
        lease: RunLease,
    ) -> Result<RunReport, SyncError> {
        let held = Syncer {
            store: lease.store(),
            graph: self.graph.clone(),
            clock: self.clock.clone(),
        };
        let result = held.run_held(connection, request, Some(&lease)).await;
        lease.release().await;
        result
    }

    /// Runs `request`, holding `lease` (none for a dry run). Every line the run logs, its tasks'
    /// too, carries its connection, kind and (once it has one) run id.
    #[instrument(skip_all, fields(connection = %connection.id, kind = request.kind.as_str(), run = tracing::field::Empty))]
    async fn run_held(
        &self,
        connection: &ConnectionSettings,
        request: &RunRequest,
        lease: Option<&RunLease>,
    ) -> Result<RunReport, SyncError> {
        let started = Instant::now();
        let id = &connection.id;
        // Every task the run spawns; a run dropped by its caller stops them too.
        let tasks = TaskScope::child_of(&request.cancel);
        let _stop_tasks = tasks.cancel_on_drop();
        let run_id = match lease {
            Some(lease) => {
                let now = self.clock.now();
                // Whoever recorded a run as running and no longer holds the lease is gone.
                let interrupted = self
                    .store
                    .interrupt_runs(id, "interrupted: the run stopped before it ended (its process was killed, or it lost the connection's lease)", now)
                    .await?;
                for run in &interrupted {
                    warn!(
                        connection = %id,
                        run = run.0,
                        "A run that stopped before it ended is recorded as failed (interrupted)."
                    );
                }
                if let Some(approval) = &request.approves {
                    self.store
                        .approve_run(approval.run_id, &approval.by, now)
                        .await?;
                }
                let run_id = self
                    .store
                    .start_run(id, request.kind, &request.trigger, now)
                    .await?;
                tracing::Span::current().record("run", run_id.0);
                info!(
                    connection = %id,
                    run = run_id.0,
                    token = lease.token(),
                    "The run started."
                );
                Some(run_id)
            }
            None => None,
        };
        let reads_graph = !request.pending_only
            && matches!(
                request.kind,
                RunKind::Full | RunKind::Delta | RunKind::Import | RunKind::Preview
            );
        let evaluate_everyone = request.kind == RunKind::Remap;
        let sink: Arc<dyn Sink> = match request.mode {
            // A remap walks the mirror itself rather than marking everyone pending first: an
            // interrupted remap is simply run again.
            Mode::Apply => Arc::new(StoreSink {
                store: self.store.clone(),
                connection: id.clone(),
                now: self.clock.now(),
                everyone: evaluate_everyone,
            }),
            Mode::DryRun => Arc::new(MemorySink::new(self.store.clone(), id, evaluate_everyone)),
        };
        let mut report = RunReport::empty(run_id);
        let before = self
            .graph
            .as_ref()
            .map(|g| (g.stats().requests(), g.stats().throttled()))
            .unwrap_or_default();
        let read_result = if reads_graph {
            let full = matches!(
                request.kind,
                RunKind::Full | RunKind::Import | RunKind::Preview
            );
            let read = self.read(
                connection,
                run_id,
                full,
                sink.as_ref(),
                request,
                &tasks,
                &mut report,
            );
            request.unless_cancelled(read).await
        } else {
            Ok(())
        };
        report.read_seconds = started.elapsed().as_secs_f64();
        let outcome = match read_result {
            Ok(()) => {
                self.evaluate_all(connection, request, run_id, &sink, &tasks, &mut report)
                    .await
            }
            Err(e) => Err(e),
        };
        // Nothing the run spawned outlives it, whatever the outcome.
        tasks.close().await;
        if let Some(graph) = &self.graph {
            report.graph_requests = graph.stats().requests() - before.0;
            report.graph_throttles = graph.stats().throttled() - before.1;
        }
        report.status = match outcome {
            Ok(status) => status,
            Err(e @ RunFailure::Cancelled(_)) => {
                warn!(connection = %connection.id, reason = %e, "The run was cancelled; nobody was deactivated, and the next run resumes where it stopped.");
                report.error = Some(e.to_string());
                RunStatus::Cancelled
            }
            Err(e) => {
                error!(connection = %connection.id, error = %e, "The run failed; nobody was deactivated.");
                report.needs_authorisation = e.needs_authorisation();
                report.error = Some(e.to_string());
                RunStatus::Failed
            }
        };
        report.seconds = started.elapsed().as_secs_f64();
        if report.status != RunStatus::Failed && report.status != RunStatus::Cancelled {
            info!(
                connection = %connection.id,
                status = report.status.as_str(),
                seconds = report.seconds,
                graph_requests = report.graph_requests,
                counts = ?report.counts,
                "The run ended."
            );
        }
        if let Some(run_id) = run_id {
            let end = RunEnd {
                status: report.status,
                counts: report.counts.clone(),
                graph_requests: report.graph_requests,
                graph_throttles: report.graph_throttles,
                error: report.error.clone(),
                settles: request
                    .approves
                    .as_ref()
                    .filter(|_| report.status == RunStatus::Succeeded)
                    .map(|a| a.run_id),
            };
            match self.store.finish_run(run_id, &end, self.clock.now()).await {
                Err(StoreError::LeaseLost(_)) => {
                    return Err(SyncError::LeaseLost {
                        connection: id.to_string(),
                        run_id,
                    });
                }
                other => other?,
            }
        }
        Ok(report)
    }
}

/// Why a run failed (it is then recorded as failed, nobody deactivated).
#[derive(Debug, thiserror::Error)]
enum RunFailure {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error("{0}")]
    Other(String),
    /// The run's token was cancelled, for this reason.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl From<licences::LicenceImportError> for RunFailure {
    fn from(error: licences::LicenceImportError) -> Self {
        match error {
            licences::LicenceImportError::Graph(e) => RunFailure::Graph(e),
            licences::LicenceImportError::Store(e) => RunFailure::Store(e),
        }
    }
}

impl RunFailure {
    /// The connection's credential no longer works: see [`RunReport::needs_authorisation`].
    fn needs_authorisation(&self) -> bool {
        match self {
            RunFailure::Graph(e) | RunFailure::Read(ReadError::Graph(e)) => e.needs_authorisation(),
            _ => false,
        }
    }
}
