//! The evaluation passes of a run, after its read. Pass 1 loads, evaluates and writes every
//! pending person batch by batch (the next batch loaded while the last is written), holding back
//! deactivations; pass 2 writes the held deactivations only if the deactivation guard
//! (`max_deactivations`) lets them through, else the run is quarantined. Also how a batch's
//! evaluations become its writes, and what a written batch reports.

use std::collections::BTreeSet;
use std::sync::Arc;

use tracing::{error, info};

use super::batch::{Batch, LoadsAhead, StagedBatch, Tally};
use super::batch_writers::Writers;
use super::directory::RunDirectory;
use super::evaluate::{Evaluation, EvaluationRules, Targets, syncs_licences};
use super::sink::Sink;
use super::{BATCH, Mode, Progress, RunFailure, RunReport, RunRequest, Step, Syncer};
use crate::config::ConnectionSettings;
use crate::ids::{ConnectionId, RunId};
use crate::mirror::{MirrorUser, Notification};
use crate::store::{Applied, ApplyBatch, People, RecordWrite};
use crate::tasks::TaskScope;
use crate::vocab::{Action, NotificationKind, RunKind, RunStatus};

/// During large runs, database statistics are refreshed after this many people, then each time
/// the number evaluated grows fourfold (the tables' shape settles as they grow).
const STATISTICS_EVERY: u64 = 10_000;

impl Syncer {
    /// Evaluates every pending person in two passes; returns how the run ends.
    pub(super) async fn evaluate_all(
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
    pub(super) fn stage_writes(
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
    pub(super) fn record_applied(
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
