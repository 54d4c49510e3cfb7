//! One connection, one run: read (users and groups chains concurrently) → mirror →
//! plan → match → apply in bounded transactions, with the deactivation guard.
//!
//! - [`request`]: what a run is asked to do and what it did.
//! - [`read`]: delta rounds and their lifecycle (fresh initial rounds, checkpoints, expired links).
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
pub mod message;
pub mod read;
pub mod record_writes;
pub mod request;
pub mod sink;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tracing::{error, info, instrument, warn};

use self::batch::{Batch, LoadsAhead, StagedBatch, Tally};
use self::batch_writers::Writers;
use self::directory::RunDirectory;
use self::evaluate::{Evaluation, EvaluationRules, Targets, syncs_licences};
use self::lease::RunLease;
use self::message::Message;
use self::read::ReadError;
pub use self::request::{Approval, Mode, Progress, RunReport, RunRequest, Step, SyncError};
use self::sink::{MemorySink, Sink, StoreSink};
use crate::clock::Clock;
use crate::config::ConnectionSettings;
use crate::graph::GraphClient;
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::mirror::{MirrorUser, Notification};
use crate::store::{
    Applied, ApplyBatch, InboundRow, Licence, People, RecordWrite, RunEnd, Store, StoreError,
};
use crate::tasks::TaskScope;
use crate::vocab::{Action, NotificationKind, RunKind, RunStatus};

/// People evaluated (and written) per transaction.
pub const BATCH: u32 = 500;

/// During large runs, database statistics are refreshed after this many people, then each time
/// the number evaluated grows fourfold (the tables' shape settles as they grow).
const STATISTICS_EVERY: u64 = 10_000;

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

    #[allow(clippy::too_many_arguments)]
    async fn read(
        &self,
        connection: &ConnectionSettings,
        run_id: Option<RunId>,
        full: bool,
        sink: &dyn Sink,
        request: &RunRequest,
        tasks: &TaskScope,
        report: &mut RunReport,
    ) -> Result<(), RunFailure> {
        let mode = request.mode;
        let graph = self.graph.as_ref().ok_or(RunFailure::Other(
            "this run needs a Graph client".to_owned(),
        ))?;
        // A fresh round is numbered by the run that starts it (0 on a dry run, which stores none).
        let round = run_id.map_or(0, |id| id.0);
        let names = connection.mapping.groups();
        let (resolved, warnings) = read::resolve_groups(graph, &names).await?;
        for warning in &warnings {
            warn!(connection = %connection.id, warning = %warning, "A configured group did not resolve.");
        }
        if let (Mode::Apply, false) = (mode, warnings.is_empty()) {
            let rows: Vec<InboundRow> = warnings
                .iter()
                .map(|w| InboundRow {
                    id: 0,
                    run_id,
                    connection_id: connection.id.clone(),
                    source: "integrator".to_owned(),
                    logged_at: self.clock.now(),
                    entra_id: None,
                    upn: None,
                    target: None,
                    notification: NotificationKind::Warning,
                    matched: Value::Object(serde_json::Map::new()),
                    action: Action::Error,
                    changes: Value::Array(Vec::new()),
                    message: Message::of(w).finish(),
                })
                .collect();
            self.store.log(&rows).await?;
        }
        report.warnings.extend(warnings);
        // SKUs (and their unit counts) are read on full runs, and on a delta run only when
        // somebody's licence assignments changed: nothing else moves the counts.
        let licences = syncs_licences(connection) && mode == Mode::Apply;
        let ids: BTreeSet<String> = resolved.into_values().collect();
        // The chains' pages share `$batch` round trips (src/graph/batcher.rs); the batcher and
        // the chains' read-ahead are tasks of the run.
        let chains = &graph.within(tasks).with_page_batching();
        let (users, groups, skus) = tokio::join!(
            read::read_users(
                chains,
                sink,
                connection,
                round,
                full,
                request.progress.as_ref()
            ),
            read::read_groups(chains, sink, connection, round, full, ids),
            async {
                if licences && full {
                    self.import_licences(graph, connection).await
                } else {
                    Ok(())
                }
            },
        );
        report.users = users?;
        report.groups = groups?;
        skus?;
        if mode == Mode::Apply && !report.users.cleaned.is_empty() {
            let rows: Vec<InboundRow> = report
                .users
                .cleaned
                .iter()
                .map(|c| InboundRow {
                    id: 0,
                    run_id,
                    connection_id: connection.id.clone(),
                    source: "integrator".to_owned(),
                    logged_at: self.clock.now(),
                    entra_id: Some(EntraId::from(c.entra_id.as_str())),
                    upn: c.upn.clone(),
                    target: None,
                    notification: NotificationKind::Warning,
                    matched: Value::Object(serde_json::Map::new()),
                    action: Action::Error,
                    changes: Value::Array(Vec::new()),
                    message: Some(cleaned_message(&c.attributes)),
                })
                .collect();
            self.store.log(&rows).await?;
        }
        report.warnings.extend(report.users.cleaned.iter().map(|c| {
            format!(
                "{}: {}",
                c.upn.as_deref().unwrap_or(&c.entra_id),
                cleaned_message(&c.attributes)
            )
        }));
        if licences && !full && (report.users.initial || report.users.licences_changed) {
            self.import_licences(graph, connection).await?;
        }
        read::read_untracked(graph, sink, connection, report.users.initial).await?;
        report
            .warnings
            .extend(report.users.restarted.iter().cloned());
        report
            .warnings
            .extend(report.groups.restarted.iter().cloned());
        Ok(())
    }

    async fn import_licences(
        &self,
        graph: &GraphClient,
        connection: &ConnectionSettings,
    ) -> Result<(), RunFailure> {
        let Some(client) = &connection.licences.client else {
            return Ok(());
        };
        for sku in graph.subscribed_skus().await? {
            let licence = Licence {
                client: client.clone(),
                connection_id: Some(connection.id.to_string()),
                display_name: sku.sku_part_number.clone(),
                part_number: sku.sku_part_number,
                sku_id: sku.sku_id,
                enabled_units: sku.prepaid_units.enabled,
                consumed_units: sku.consumed_units,
            };
            if !licence.sku_id.is_empty() {
                self.store
                    .upsert_licence(&licence, self.clock.now())
                    .await?;
            }
        }
        Ok(())
    }

    async fn evaluate_all(
        &self,
        connection: &ConnectionSettings,
        request: &RunRequest,
        run_id: Option<RunId>,
        sink: &Arc<dyn Sink>,
        tasks: &TaskScope,
        report: &mut RunReport,
    ) -> Result<RunStatus, RunFailure> {
        let id = &connection.id;
        let reference = self.store.reference().await?;
        let names = sink.group_names().await?;
        // What every batch shares; each batch then loads only its own people and memberships,
        // so a delta run's cost follows the change, not the tenant.
        let mut directory =
            RunDirectory::new(&[], &names, self.store.agent_ids(id).await?, &reference);
        let (unlinked_users, unlinked_agents) = self.store.unlinked().await?;
        let mut candidates = People {
            unlinked_users,
            unlinked_agents,
            ..People::default()
        };
        let mut rules = EvaluationRules {
            connection_id: id.clone(),
            run_id,
            source: if request.kind == RunKind::Import {
                "import"
            } else {
                "integrator"
            },
            deactivate_missing: connection.sync.deactivate_missing_users,
            allow_deactivations: false,
            reassign_tickets: connection.sync.reassign_tickets_of_inactive_agents,
            licences: syncs_licences(connection),
            log_unchanged: request.kind != RunKind::Remap || request.mode == Mode::DryRun,
            syncs: Targets::of_entities(connection.sync.entities()),
            targets: request
                .targets
                .and(Targets::of_entities(connection.sync.entities())),
        };
        let links = sink.group_links().await?;
        let batch = Batch {
            syncer: self,
            tasks,
            connection,
            run_id,
            sink,
            names: &names,
            links: &links,
            apply: request.mode == Mode::Apply,
            names_managers: rules.targets.agents && connection.mapping.imports_agents(),
        };

        // Pass 1: everything except deactivations; those people stay pending.
        // Large runs refresh the planner's statistics as the tables grow (PostgreSQL), on another
        // connection beside the batch being written, so the writes never wait for them.
        let large = report.users.objects > STATISTICS_EVERY;
        let statistics = |due: bool| async move {
            if due {
                self.store.refresh_statistics().await
            } else {
                Ok(())
            }
        };
        let mut held: Vec<(MirrorUser, Notification)> = Vec::new();
        let mut evaluated = 0;
        let mut next_statistics = STATISTICS_EVERY;
        let mut keep = |e: &Evaluation| !e.deactivates;
        let mut ahead = LoadsAhead::new();
        // While batches are written (side by side where the store allows), the next one is
        // loaded and evaluated: different people, and what a batch being written creates or
        // adopts is already known from its evaluation.
        let mut writers = run_id.map(|run| {
            let parallel = self.store.parallel_writes();
            Writers::new(self.store.clone(), run, parallel, tasks.clone())
        });
        let mut staged: Option<StagedBatch> = None;
        // Large runs refresh the statistics before the first batch too.
        let mut refresh = large;
        loop {
            if let Some(StagedBatch {
                writes,
                done,
                others,
                tally,
            }) = staged.take()
            {
                if let (Some(writes), Some(writers)) = (&writes, writers.as_mut()) {
                    for applied in writers.make_room(writes).await? {
                        self.record_applied(id, Some(applied), report);
                    }
                }
                // Between two batches, a cancelled run stops: the batch evaluated last is not
                // written (its people stay pending), the batches being written are let in.
                if request.cancel.is_cancelled() {
                    break;
                }
                evaluated += done;
                held.extend(others);
                tally.add_to(report);
                refresh = large && evaluated >= next_statistics;
                if refresh {
                    next_statistics *= 4;
                }
                ahead.after_writes(writes.as_ref().map_or(0, |w| w.people.len()));
                if let (Some(writes), Some(writers)) = (writes, writers.as_mut()) {
                    writers.start(writes, self.clock.now());
                }
                Progress::tell(request.progress.as_ref(), Step::Evaluated(evaluated));
            }
            let next = request.unless_cancelled(async {
                let (next, refreshed) = tokio::join!(
                    async {
                        let loaded = batch.next_pending(&mut ahead).await?;
                        Ok::<_, RunFailure>(loaded.map(|loaded| {
                            batch.stage(
                                loaded,
                                &rules,
                                &mut directory,
                                &mut candidates,
                                &mut keep,
                                false,
                            )
                        }))
                    },
                    statistics(refresh)
                );
                refreshed?;
                next
            });
            staged = match next.await {
                Err(RunFailure::Cancelled(_)) => break,
                next => next?,
            };
            if staged.is_none() {
                break;
            }
        }
        if let Some(writers) = writers.as_mut() {
            for applied in writers.finish().await? {
                self.record_applied(id, Some(applied), report);
            }
        }
        // Held deactivations are never written by a cancelled run; once they are being written,
        // the run finishes them.
        if request.cancel.is_cancelled() {
            return Err(request.cancelled());
        }

        // Pass 2: the held deactivations, if the guard lets them through.
        let imported = self.store.linked_count(id).await?;
        let guard = connection.sync.max_deactivations;
        let over_count = held.len() as u64 > u64::from(guard.count);
        let over_percent =
            imported > 0 && (held.len() as u64) * 100 > u64::from(guard.percent) * imported;
        let quarantine = !request.override_guard && (over_count || over_percent);
        rules.allow_deactivations = !quarantine;
        if quarantine {
            error!(
                connection = %connection.id,
                deactivations = held.len(),
                limit_count = guard.count,
                limit_percent = guard.percent,
                "The run would deactivate more people than max_deactivations allows; it is quarantined until approved."
            );
            metrics::counter!("entra_sync_runs_quarantined_total", "connection" => id.to_string())
                .increment(1);
            report.held_back = held.len() as u64;
        }
        for chunk in held.chunks(BATCH as usize) {
            let loaded = batch.load(chunk.to_vec()).await?;
            let staged = batch.stage(
                loaded,
                &rules,
                &mut directory,
                &mut candidates,
                &mut |_| true,
                quarantine,
            );
            staged.tally.add_to(report);
            let written = batch.write(staged.writes).await?;
            self.record_applied(id, written, report);
        }
        Ok(if quarantine {
            RunStatus::Quarantined
        } else {
            RunStatus::Succeeded
        })
    }

    /// Turns a batch's evaluations into its writes and log rows, and updates what later batches
    /// evaluate against: new sites, agents the batch adopts (line managers resolve to them; new
    /// agents already do from their evaluation on), records it adopts (no longer candidates for
    /// anyone else). `None` when nothing is written (a dry run, whose log rows go into `tally`,
    /// or no run row).
    #[allow(clippy::too_many_arguments)]
    fn stage_writes(
        &self,
        connection: &ConnectionId,
        run_id: Option<RunId>,
        evaluations: Vec<Evaluation>,
        unmarked: &BTreeSet<String>,
        rules: &EvaluationRules,
        apply: bool,
        people: &mut crate::store::People,
        directory: &mut RunDirectory,
        tally: &mut Tally,
    ) -> Option<ApplyBatch> {
        let mut batch = ApplyBatch::new(connection.clone());
        for e in evaluations {
            *tally.counts.entry(e.log.action).or_default() += 1;
            if let Some(site) = &e.new_site {
                batch
                    .new_sites
                    .push((site.client.to_string(), site.name.to_string()));
                directory.add_site(site);
            }
            if let Some(entra_id) = &e.log.entra_id
                && !(e.deactivates && e.log.action == Action::Quarantined)
                && !unmarked.contains(entra_id.as_str())
                && !e.keeps_mark
            {
                batch.evaluated.push(entra_id.clone());
            }
            batch.people.extend(e.write);
            let quiet = !rules.log_unchanged
                && matches!(e.log.action, Action::Unchanged | Action::OutOfScope)
                && e.log.notification == NotificationKind::FullPass;
            if !quiet {
                batch.log.push(e.log);
            }
        }
        if !apply {
            tally.rows.extend(batch.log);
            return None;
        }
        run_id?;
        let mut adopted_users = BTreeSet::new();
        let mut adopted_agents = BTreeSet::new();
        for person in &batch.people {
            if let Some((RecordWrite::Adopt(id), _)) = &person.user {
                adopted_users.insert(*id);
            }
            // An adopted agent is a line manager from the next batch on (adoptions are written
            // after this batch's line managers are set).
            if let Some((RecordWrite::Adopt(id), _)) = &person.agent {
                adopted_agents.insert(*id);
                directory.add_agent(person.entra_id.as_str());
            }
        }
        people
            .unlinked_users
            .retain(|u| !adopted_users.contains(&u.id));
        people
            .unlinked_agents
            .retain(|(a, _)| !adopted_agents.contains(&a.id));
        Some(batch)
    }

    /// What a written batch reports: the open tickets it unassigned.
    fn record_applied(
        &self,
        connection: &ConnectionId,
        applied: Option<Applied>,
        report: &mut RunReport,
    ) {
        let Some(applied) = applied else { return };
        for (ticket, agent) in &applied.unassigned_tickets {
            info!(connection = %connection, ticket, agent = %agent, "Unassigned an open ticket of an agent the sync made inactive.");
        }
        if !applied.unassigned_tickets.is_empty() {
            *report
                .counts
                .entry("tickets_unassigned".to_owned())
                .or_default() += applied.unassigned_tickets.len() as u64;
        }
    }
}

/// What the inbound log and the run's warnings say of attributes mirrored without their NUL
/// characters.
fn cleaned_message(attributes: &[String]) -> String {
    format!(
        "{} held NUL characters, which the database cannot store; stored without them (correct the value in Entra)",
        attributes.join(", ")
    )
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

impl RunFailure {
    /// The connection's credential no longer works: see [`RunReport::needs_authorisation`].
    fn needs_authorisation(&self) -> bool {
        match self {
            RunFailure::Graph(e) | RunFailure::Read(ReadError::Graph(e)) => e.needs_authorisation(),
            _ => false,
        }
    }
}
