//! One batch of people through a run's evaluation: the next pending people loaded (their
//! records and memberships, the batches after them loading meanwhile), evaluated against the
//! run's directory, staged as one transaction's writes, and written.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::directory::{self, RunDirectory};
use super::evaluate::{Evaluation, EvaluationRules, evaluate};
use super::sink::Sink;
use super::{BATCH, RunFailure, RunReport, Syncer};
use crate::config::ConnectionSettings;
use crate::ids::{ConnectionId, EntraId, RunId};
use crate::mirror::{MirrorUser, Notification};
use crate::store::{Applied, ApplyBatch, InboundRow, People, RecordWrite, Store, StoreError};
use crate::tasks::TaskScope;
use crate::vocab::Action;

/// One batch of people: their records and memberships loaded, evaluated, written.
pub(super) struct Batch<'a> {
    pub(super) syncer: &'a Syncer,
    /// The run's tasks (the loads ahead).
    pub(super) tasks: &'a TaskScope,
    pub(super) connection: &'a ConnectionSettings,
    pub(super) run_id: Option<RunId>,
    pub(super) sink: &'a Arc<dyn Sink>,
    pub(super) names: &'a BTreeMap<String, String>,
    pub(super) links: &'a [(String, String, String)],
    pub(super) apply: bool,
    /// Load the names of the line managers of each batch (for its plans' notes).
    pub(super) names_managers: bool,
}

/// A batch's people with their records and memberships, ready to evaluate.
pub(super) struct LoadedBatch {
    pub(super) persons: Vec<(MirrorUser, Notification)>,
    /// Of those, the people without a pending mark (a remap evaluates everyone).
    pub(super) unmarked: BTreeSet<String>,
    pub(super) people: People,
    pub(super) memberships: Vec<(String, String, String)>,
    /// How notes name the batch's line managers.
    pub(super) names: HashMap<String, Arc<str>>,
}

/// A batch evaluated, not yet written.
pub(super) struct StagedBatch {
    /// What it writes (`None`: nothing).
    pub(super) writes: Option<ApplyBatch>,
    /// People evaluated.
    pub(super) done: u64,
    /// People `keep` turned down, for a later pass.
    pub(super) others: Vec<(MirrorUser, Notification)>,
    /// What it adds to the run's report once it is written.
    pub(super) tally: Tally,
}

/// What a staged batch adds to its run's report: taken once the batch is written (or, on a dry
/// run, kept), so a cancelled run does not count the batch it left unwritten.
#[derive(Default)]
pub(super) struct Tally {
    /// Evaluations per action.
    pub(super) counts: BTreeMap<Action, u64>,
    /// A dry run's log rows.
    pub(super) rows: Vec<InboundRow>,
}

impl Tally {
    pub(super) fn add_to(self, report: &mut RunReport) {
        for (action, n) in self.counts {
            *report.counts.entry(action.as_str().to_owned()).or_default() += n;
        }
        report.rows.extend(self.rows);
    }
}

/// Pending batches loaded ahead of their evaluation, oldest first. Each page of pending people is
/// read after the one before it (it starts after that page's last person); then its records and
/// memberships load in a task of their own, so the loads of the next batches overlap each other
/// and the evaluation and writes of the current one.
pub(super) struct LoadsAhead {
    /// Tasks of the run: each yields `None` once the run is cancelled.
    pub(super) loading: VecDeque<JoinHandle<Option<Result<LoadedBatch, StoreError>>>>,
    /// Batches loading at once: one while the writes keep the database busy, more while they do
    /// not (a remap, which changes few people, waits on its reads).
    pub(super) depth: usize,
    /// Where the next page starts (after this Entra id).
    pub(super) after: String,
    /// A page came back empty: nobody is left.
    pub(super) done: bool,
}

impl LoadsAhead {
    pub(super) fn new() -> Self {
        Self {
            loading: VecDeque::new(),
            depth: 1,
            after: String::new(),
            done: false,
        }
    }

    /// Adjusts how far ahead to load after a batch that writes `written` people.
    pub(super) fn after_writes(&mut self, written: usize) {
        self.depth = if written * 4 >= BATCH as usize {
            1
        } else {
            LOAD_AHEAD_WHILE_WRITES_ARE_FEW
        };
    }
}

impl Drop for LoadsAhead {
    fn drop(&mut self) {
        // Loads only read: a run that stops early leaves none behind.
        for load in &self.loading {
            load.abort();
        }
    }
}

/// Batches loading at once while the batches evaluated write fewer than a quarter of their people
/// (on two cores, a third adds nothing).
const LOAD_AHEAD_WHILE_WRITES_ARE_FEW: usize = 2;

/// Loads the records and memberships of `persons`, and with `names` their line managers' names.
async fn load(
    store: &dyn Store,
    sink: &dyn Sink,
    connection: &ConnectionId,
    persons: Vec<(MirrorUser, Notification)>,
    unmarked: BTreeSet<String>,
    names: bool,
) -> Result<LoadedBatch, StoreError> {
    let ids: Vec<EntraId> = persons
        .iter()
        .map(|(p, _)| EntraId::from(p.entra_id.as_str()))
        .collect();
    let (people, memberships, names) = tokio::try_join!(
        store.people_of(connection, &ids),
        sink.memberships_for(&ids),
        async {
            if names {
                directory::manager_names(sink, &persons).await
            } else {
                Ok(HashMap::new())
            }
        }
    )?;
    Ok(LoadedBatch {
        persons,
        unmarked,
        people,
        memberships,
        names,
    })
}

impl Batch<'_> {
    /// The next batch of pending people, loaded (`None` once nobody is left), with the batches
    /// after it loading meanwhile.
    pub(super) async fn next_pending(
        &self,
        ahead: &mut LoadsAhead,
    ) -> Result<Option<LoadedBatch>, RunFailure> {
        while ahead.loading.len() < ahead.depth && !ahead.done {
            let page = self.sink.pending(&ahead.after, BATCH).await?;
            let Some((last, _)) = page.last() else {
                ahead.done = true;
                break;
            };
            ahead.after.clone_from(&last.entra_id);
            let unmarked = page
                .iter()
                .filter(|(_, n)| n.is_none())
                .map(|(p, _)| p.entra_id.clone())
                .collect();
            let persons = page
                .into_iter()
                .map(|(p, n)| (p, n.unwrap_or(Notification::FullPass)))
                .collect();
            let (store, sink) = (self.syncer.store.clone(), self.sink.clone());
            let connection = self.connection.id.clone();
            let names = self.names_managers;
            ahead.loading.push_back(self.tasks.spawn(async move {
                load(
                    store.as_ref(),
                    sink.as_ref(),
                    &connection,
                    persons,
                    unmarked,
                    names,
                )
                .await
            }));
        }
        let Some(loading) = ahead.loading.pop_front() else {
            return Ok(None);
        };
        let loaded = loading
            .await
            .map_err(|e| RunFailure::Other(format!("loading a batch stopped: {e}")))?
            .ok_or_else(|| {
                RunFailure::Other("loading a batch stopped: the run was cancelled".to_owned())
            })??;
        Ok(Some(loaded))
    }

    /// Loads the records and memberships of `persons`.
    pub(super) async fn load(
        &self,
        persons: Vec<(MirrorUser, Notification)>,
    ) -> Result<LoadedBatch, RunFailure> {
        let (store, sink) = (self.syncer.store.as_ref(), self.sink.as_ref());
        Ok(load(
            store,
            sink,
            &self.connection.id,
            persons,
            BTreeSet::new(),
            self.names_managers,
        )
        .await?)
    }

    /// Evaluates `loaded` and stages the writes of those `keep` accepts; the others come back.
    /// With `quarantined`, deactivations are reported as held back and their marks stay.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage(
        &self,
        loaded: LoadedBatch,
        rules: &EvaluationRules,
        directory: &mut RunDirectory,
        candidates: &mut People,
        keep: &mut dyn FnMut(&Evaluation) -> bool,
        quarantined: bool,
    ) -> StagedBatch {
        let LoadedBatch {
            persons,
            unmarked,
            mut people,
            mut memberships,
            names: manager_names,
        } = loaded;
        people.unlinked_users = std::mem::take(&mut candidates.unlinked_users);
        people.unlinked_agents = std::mem::take(&mut candidates.unlinked_agents);
        memberships.extend_from_slice(self.links);
        directory.set_memberships(&memberships, self.names);
        directory.set_names(manager_names);
        let mut evaluations = Vec::new();
        let mut others = Vec::new();
        for (person, notification) in persons {
            let Some(mut e) = evaluate(
                &self.connection.mapping,
                directory,
                &people,
                rules,
                &person,
                notification,
                self.syncer.clock.now(),
            ) else {
                // Outside the run's targets: left pending for a run that writes its records.
                continue;
            };
            if quarantined {
                // Everything else about the person is written; the mark stays for approval.
                e.deactivates = true;
            }
            if keep(&e) {
                // A new agent is a line manager for the rest of the run, this batch included (its
                // new agents are inserted before anyone's line manager is set).
                if let Some(write) = &e.write
                    && matches!(write.agent, Some((RecordWrite::Create(_), _)))
                    && self.apply
                    && self.run_id.is_some()
                {
                    directory.add_agent(write.entra_id.as_str());
                }
                evaluations.push(e);
            } else {
                others.push((person, notification));
            }
        }
        let done = evaluations.len() as u64;
        let mut tally = Tally::default();
        let writes = self.syncer.stage_writes(
            &self.connection.id,
            self.run_id,
            evaluations,
            &unmarked,
            rules,
            self.apply,
            &mut people,
            directory,
            &mut tally,
        );
        candidates.unlinked_users = std::mem::take(&mut people.unlinked_users);
        candidates.unlinked_agents = std::mem::take(&mut people.unlinked_agents);
        StagedBatch {
            writes,
            done,
            others,
            tally,
        }
    }

    /// Writes a staged batch in one transaction.
    pub(super) async fn write(
        &self,
        writes: Option<ApplyBatch>,
    ) -> Result<Option<Applied>, RunFailure> {
        let (Some(writes), Some(run_id)) = (writes, self.run_id) else {
            return Ok(None);
        };
        let now = self.syncer.clock.now();
        Ok(Some(self.syncer.store.apply(&writes, run_id, now).await?))
    }
}
