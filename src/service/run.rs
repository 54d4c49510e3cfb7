//! Runs: a sync (or its dry run), an import preview or apply, a remap, and the approval of a
//! quarantined run. A run that writes is refused for a connection not enabled for this
//! instance, and holds the connection's lease for `[daemon] lease_ttl`, waiting for another run
//! of the connection as its request says; previews write nothing, take no lease and run
//! anywhere.

use crate::config::ConnectionSettings;
use crate::ids::RunId;
use crate::instance::ensure_enabled;
use crate::store::{InboundRow, LogQuery};
use crate::sync::evaluate::Targets;
use crate::sync::lease::{LeasePolicy, LeaseWait};
use crate::sync::{Approval, Mode, Progress, RunReport, RunRequest, Syncer};
use crate::vocab::{Action, RunKind};

use super::{GraphUse, Service, ServiceError, ensure_declared};

/// One run of a connection now: a delta cycle or a full reconciliation.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The connection id.
    pub connection: String,
    /// A full reconciliation (a fresh initial round) instead of a delta cycle.
    pub full: bool,
    /// Apply, or compute everything and write nothing (allowed on any instance).
    pub mode: Mode,
    /// When another run of the connection holds its lease.
    pub wait: LeaseWait,
    /// What started it (`cli`, `schedule`, `api`).
    pub trigger: String,
}

/// The "Import Users/Agents" screen: read the tenant, plan everyone, and write with
/// [`Mode::Apply`].
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The connection id.
    pub connection: String,
    /// The records to plan and write, within what the connection syncs.
    pub targets: Targets,
    /// Apply, or preview.
    pub mode: Mode,
    /// When another run of the connection holds its lease.
    pub wait: LeaseWait,
    /// What started it.
    pub trigger: String,
    /// Told how far the run got.
    pub progress: Option<Progress>,
}

/// What an import did, or would do.
#[derive(Debug, Clone)]
pub struct ImportResult {
    /// Per person: the mapping that matched, the action and the field changes (the run's
    /// inbound-log rows when applied, the planned ones for a preview).
    pub rows: Vec<InboundRow>,
    /// The run (its `rows` moved to [`ImportResult::rows`]).
    pub report: RunReport,
}

/// Re-plan everyone from the mirror, without calling Graph.
#[derive(Debug, Clone)]
pub struct RemapRequest {
    /// The connection id.
    pub connection: String,
    /// Apply, or preview.
    pub mode: Mode,
    /// When another run of the connection holds its lease.
    pub wait: LeaseWait,
    /// What started it.
    pub trigger: String,
}

/// What a remap did, or would do.
#[derive(Debug, Clone)]
pub struct RemapResult {
    /// A preview's planned rows for the people it would change; `None` when applied (the
    /// inbound log has the rows).
    pub preview: Option<Vec<InboundRow>>,
    /// The run.
    pub report: RunReport,
}

/// Apply the deactivations a quarantined run held back.
#[derive(Debug, Clone)]
pub struct ApproveRequest {
    /// The quarantined run.
    pub run_id: RunId,
    /// Who approves it (`cli`, or the API key's agent).
    pub by: String,
}

impl Service {
    /// Runs one sync of a connection.
    pub async fn sync(&self, request: SyncRequest) -> Result<RunReport, ServiceError> {
        let kind = if request.full {
            RunKind::Full
        } else {
            RunKind::Delta
        };
        let run = RunRequest {
            lease: self.lease(request.wait),
            ..RunRequest::new(kind, request.mode, &request.trigger)
        };
        self.run_graph(&request.connection, run, "sync").await
    }

    /// Runs an import; the result lists, per person, what it did or would do.
    pub async fn import(&self, request: ImportRequest) -> Result<ImportResult, ServiceError> {
        let connection = self.connection(&request.connection)?;
        let syncs = Targets::of_entities(connection.sync.entities());
        if !request.targets.and(syncs).any() {
            return Err(ServiceError::NotSynced {
                connection: request.connection,
                targets: request.targets,
            });
        }
        let run = RunRequest {
            progress: request.progress,
            lease: self.lease(request.wait),
            targets: request.targets,
            ..RunRequest::new(RunKind::Import, request.mode, &request.trigger)
        };
        let mut report = self.run_graph(&request.connection, run, "import").await?;
        // The run evaluated only its targets: its rows are what it did (or would do).
        let rows = match report.run_id {
            Some(run_id) => {
                self.store
                    .inbound_log(&LogQuery {
                        run_id: Some(run_id),
                        limit: u32::MAX,
                        ..LogQuery::default()
                    })
                    .await?
            }
            None => std::mem::take(&mut report.rows),
        };
        Ok(ImportResult { rows, report })
    }

    /// Re-plans everyone of a connection from its mirror.
    pub async fn remap(&self, request: RemapRequest) -> Result<RemapResult, ServiceError> {
        let connection = self.connection(&request.connection)?;
        if request.mode == Mode::Apply {
            ensure_enabled(&self.settings, connection, "remap")?;
        }
        let run = RunRequest {
            lease: self.lease(request.wait),
            ..RunRequest::new(RunKind::Remap, request.mode, &request.trigger)
        };
        // A remap re-plans from the mirror: it has no Graph client at all.
        let report = self
            .syncer(None)
            .run(connection, &self.stoppable(run))
            .await?;
        let preview = (request.mode == Mode::DryRun).then(|| {
            report
                .rows
                .iter()
                .filter(|r| !matches!(r.action, Action::Unchanged | Action::OutOfScope))
                .cloned()
                .collect()
        });
        Ok(RemapResult { preview, report })
    }

    /// Approves a quarantined run: a run that records the approval, then applies the held
    /// deactivations (and anything else still pending) without reading Graph; once it
    /// succeeds, the quarantined run is recorded as succeeded. Another run of the connection
    /// makes it fail at once.
    pub async fn approve(&self, request: ApproveRequest) -> Result<RunReport, ServiceError> {
        let run_id = request.run_id;
        let run = self.store.run(run_id).await?;
        let connection = self
            .settings
            .connections
            .iter()
            .find(|c| c.id == run.connection_id)
            .ok_or_else(|| ServiceError::RunOfUnknownConnection {
                run_id,
                connection: run.connection_id.to_string(),
            })?;
        ensure_enabled(&self.settings, connection, &format!("approve run {run_id}"))?;
        let approval = RunRequest {
            override_guard: true,
            pending_only: true,
            approves: Some(Approval {
                run_id,
                by: request.by,
            }),
            lease: self.lease(LeaseWait::Refuse),
            ..RunRequest::new(RunKind::Delta, Mode::Apply, &format!("approve #{run_id}"))
        };
        Ok(self
            .syncer(None)
            .run(connection, &self.stoppable(approval))
            .await?)
    }

    /// A run that reads Graph. One that writes is refused (as `refused`) for a connection not
    /// enabled for this instance; a dry run goes ahead.
    async fn run_graph(
        &self,
        connection: &str,
        request: RunRequest,
        refused: &str,
    ) -> Result<RunReport, ServiceError> {
        let connection = self.connection(connection)?;
        if request.mode == Mode::Apply {
            ensure_enabled(&self.settings, connection, refused)?;
        }
        ensure_declared(&self.settings, self.store.as_ref(), self.clock.as_ref()).await?;
        let graph = self.graph_client(connection)?;
        Ok(self
            .syncer(Some(graph))
            .run(connection, &self.stoppable(request))
            .await?)
    }

    /// The Graph client of a run of `connection`.
    pub(super) fn graph_client(
        &self,
        connection: &ConnectionSettings,
    ) -> Result<crate::graph::GraphClient, ServiceError> {
        Ok(self
            .graph
            .client(&self.settings, connection, GraphUse::Run)?)
    }

    /// `request`, stopping when the process is asked to stop.
    fn stoppable(&self, request: RunRequest) -> RunRequest {
        RunRequest {
            cancel: self.shutdown.token.child_token(),
            cancel_reason: self.shutdown.reason.clone(),
            ..request
        }
    }

    pub(super) fn syncer(&self, graph: Option<crate::graph::GraphClient>) -> Syncer {
        Syncer {
            store: self.store.clone(),
            graph,
            clock: self.clock.clone(),
        }
    }

    /// How a run holds its connection's lease: `[daemon] lease_ttl`, and `wait`.
    fn lease(&self, wait: LeaseWait) -> LeasePolicy {
        LeasePolicy {
            ttl: self.settings.daemon.lease_ttl,
            wait,
        }
    }
}
