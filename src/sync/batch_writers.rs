//! Evaluated batches being written: as many side by side as the store has writers, each one only
//! after the batches it refers to are in.
//!
//! Batches hold different people, so their transactions touch different records. What one batch
//! can need from another is what that other one creates: a site (the mapping's new sites are
//! created by the first batch that names them) or an agent that is someone's line manager (the
//! line manager is looked up by Entra id when the row is written, and linked again when the
//! manager's agent is created). A batch that could need either waits for the batch that provides
//! it, and a batch creating a line manager waits for the batches naming it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::ids::RunId;
use crate::store::{Applied, ApplyBatch, RecordWrite, Store, StoreError};
use crate::tasks::TaskScope;

/// The batches being written, oldest first.
pub(super) struct Writers {
    store: Arc<dyn Store>,
    run_id: RunId,
    limit: usize,
    in_flight: VecDeque<InFlight>,
    tasks: TaskScope,
}

struct InFlight {
    provides: Provides,
    task: JoinHandle<Result<Applied, StoreError>>,
}

/// What a batch creates that a later batch may refer to, and the line managers it names.
struct Provides {
    sites: bool,
    agents: BTreeSet<String>,
    managers: BTreeSet<String>,
}

/// The agents `batch` creates or adopts.
fn new_agents(batch: &ApplyBatch) -> impl Iterator<Item = &str> {
    batch
        .people
        .iter()
        .filter(|p| {
            matches!(
                p.agent,
                Some((RecordWrite::Create(_) | RecordWrite::Adopt(_), _))
            )
        })
        .map(|p| p.entra_id.as_str())
}

/// The line managers `batch` sets.
fn managers(batch: &ApplyBatch) -> impl Iterator<Item = &str> {
    batch
        .people
        .iter()
        .filter_map(|p| p.agent.as_ref())
        .filter_map(|(_, write)| write.linemanager.as_ref()?.as_deref())
}

impl Provides {
    fn of(batch: &ApplyBatch) -> Self {
        Self {
            sites: !batch.new_sites.is_empty(),
            agents: new_agents(batch).map(str::to_owned).collect(),
            managers: managers(batch).map(str::to_owned).collect(),
        }
    }

    /// Whether `batch` must wait for the batch this describes. Any site counts: a person's site
    /// is looked up by name when the row is written. A line manager is linked in whichever
    /// transaction comes second, the one writing the agent or the one creating the manager's
    /// agent, so each must see the other committed.
    fn needed_by(&self, batch: &ApplyBatch) -> bool {
        self.sites
            || managers(batch).any(|manager| self.agents.contains(manager))
            || new_agents(batch).any(|agent| self.managers.contains(agent))
    }
}

impl Writers {
    /// Up to `limit` batches of run `run_id` written side by side, each in a task of `tasks`
    /// that runs to its end (commits or rolls back whole) even once the run is cancelled.
    pub(super) fn new(
        store: Arc<dyn Store>,
        run_id: RunId,
        limit: usize,
        tasks: TaskScope,
    ) -> Self {
        Self {
            store,
            run_id,
            limit: limit.max(1),
            in_flight: VecDeque::new(),
            tasks,
        }
    }

    /// Waits until `batch` can [start](Self::start): a writer is free and the batches it needs
    /// are in. Returns what the batches that finished meanwhile applied. On an error, every other
    /// batch being written is finished first (each commits or rolls back whole), then the error
    /// comes back.
    pub(super) async fn make_room(
        &mut self,
        batch: &ApplyBatch,
    ) -> Result<Vec<Applied>, StoreError> {
        let wait = to_finish_first(
            self.in_flight.iter().map(|f| &f.provides),
            batch,
            self.limit,
        );
        let mut finished = Vec::with_capacity(wait);
        for _ in 0..wait {
            match self.oldest().await {
                Ok(applied) => finished.push(applied),
                Err(e) => return Err(self.settle(e).await),
            }
        }
        Ok(finished)
    }

    /// Starts writing `batch`, once [`make_room`](Self::make_room) has made room for it.
    pub(super) fn start(&mut self, batch: ApplyBatch, now: DateTime<Utc>) {
        let provides = Provides::of(&batch);
        let store = self.store.clone();
        let run_id = self.run_id;
        let task = self
            .tasks
            .spawn_whole(async move { store.apply(&batch, run_id, now).await });
        self.in_flight.push_back(InFlight { provides, task });
    }

    /// Waits for every batch being written; returns what they applied, oldest first.
    pub(super) async fn finish(&mut self) -> Result<Vec<Applied>, StoreError> {
        let mut finished = Vec::with_capacity(self.in_flight.len());
        while !self.in_flight.is_empty() {
            match self.oldest().await {
                Ok(applied) => finished.push(applied),
                Err(e) => return Err(self.settle(e).await),
            }
        }
        Ok(finished)
    }

    async fn oldest(&mut self) -> Result<Applied, StoreError> {
        let Some(flight) = self.in_flight.pop_front() else {
            return Ok(Applied::default());
        };
        flight
            .task
            .await
            .map_err(|e| StoreError::Unavailable(format!("a batch write stopped: {e}")))?
    }

    /// After `error`, lets the other writes end, and returns `error`.
    async fn settle(&mut self, error: StoreError) -> StoreError {
        while let Some(flight) = self.in_flight.pop_front() {
            let _ = flight.task.await;
        }
        error
    }
}

/// How many of the batches being written (oldest first) must be in before `batch` starts: up to
/// the last one it needs, and enough to leave it a writer.
fn to_finish_first<'a>(
    in_flight: impl ExactSizeIterator<Item = &'a Provides>,
    batch: &ApplyBatch,
    limit: usize,
) -> usize {
    let for_a_writer = (in_flight.len() + 1).saturating_sub(limit);
    let needed = in_flight
        .enumerate()
        .filter(|(_, provides)| provides.needed_by(batch))
        .last()
        .map_or(0, |(i, _)| i + 1);
    needed.max(for_a_writer)
}

impl Drop for Writers {
    fn drop(&mut self) {
        // A run that stops early (failed elsewhere, or dropped by its caller) does not leave
        // writes behind: an aborted write's transaction rolls back, and its people stay pending.
        // A cancelled run finishes its writes instead (`finish`).
        for flight in &self.in_flight {
            flight.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectionId, EntraId};
    use crate::store::{AgentWrite, NewRecordAgent, PersonWrite};

    fn agent(
        entra_id: &str,
        record: RecordWrite<NewRecordAgent>,
        manager: Option<&str>,
    ) -> PersonWrite {
        PersonWrite {
            entra_id: EntraId::from(entra_id),
            user: None,
            agent: Some((
                record,
                AgentWrite {
                    linemanager: manager.map(|m| Some(m.to_owned())),
                    ..AgentWrite::default()
                },
            )),
        }
    }

    fn new_agent(entra_id: &str, manager: Option<&str>) -> PersonWrite {
        let record = RecordWrite::Create(NewRecordAgent {
            name: entra_id.to_owned(),
            user_id: None,
            inactive: false,
        });
        agent(entra_id, record, manager)
    }

    fn batch(people: Vec<PersonWrite>, new_sites: &[(&str, &str)]) -> ApplyBatch {
        ApplyBatch {
            people,
            new_sites: new_sites
                .iter()
                .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
                .collect(),
            ..ApplyBatch::new(ConnectionId::parse("contoso").unwrap())
        }
    }

    fn waits(in_flight: &[&ApplyBatch], next: &ApplyBatch, limit: usize) -> usize {
        let provides: Vec<Provides> = in_flight.iter().map(|b| Provides::of(b)).collect();
        to_finish_first(provides.iter(), next, limit)
    }

    #[test]
    fn a_batch_waits_for_a_writer_and_for_the_batches_it_refers_to() {
        let plain = batch(vec![new_agent("a1", None)], &[]);
        let creates_boss = batch(vec![new_agent("boss", None)], &[]);
        let adopts_boss = batch(vec![agent("boss", RecordWrite::Adopt(7), None)], &[]);
        let updates_boss = batch(vec![agent("boss", RecordWrite::Existing(7), None)], &[]);
        let creates_site = batch(vec![], &[("Contoso", "Oslo")]);
        let reports_to_boss = batch(vec![new_agent("r1", Some("boss"))], &[]);
        let clears_manager = batch(vec![agent("r2", RecordWrite::Existing(9), None)], &[]);

        // Free writers, nothing referred to: start at once.
        assert_eq!(waits(&[], &reports_to_boss, 2), 0);
        assert_eq!(waits(&[&plain], &reports_to_boss, 2), 0);
        // Writers busy: the oldest finishes first.
        assert_eq!(waits(&[&plain], &plain, 1), 1);
        assert_eq!(waits(&[&plain, &plain], &plain, 2), 1);
        // A line manager created or adopted by a batch being written: up to that batch.
        assert_eq!(waits(&[&creates_boss, &plain], &reports_to_boss, 3), 1);
        assert_eq!(waits(&[&plain, &creates_boss], &reports_to_boss, 3), 2);
        assert_eq!(waits(&[&plain, &adopts_boss], &reports_to_boss, 3), 2);
        // An agent merely updated is already in the database.
        assert_eq!(waits(&[&plain, &updates_boss], &reports_to_boss, 3), 0);
        // Clearing a line manager refers to nobody.
        assert_eq!(waits(&[&creates_boss], &clears_manager, 2), 0);
        // A batch creating or adopting a line manager named by a batch being written: up to
        // that batch, so that it links the report it names.
        assert_eq!(waits(&[&reports_to_boss, &plain], &creates_boss, 3), 1);
        assert_eq!(waits(&[&plain, &reports_to_boss], &adopts_boss, 3), 2);
        assert_eq!(waits(&[&reports_to_boss], &updates_boss, 3), 0);
        // New sites: every later batch waits (a person's site is looked up by name).
        assert_eq!(waits(&[&creates_site, &plain], &plain, 3), 1);
        assert_eq!(waits(&[&plain, &creates_site], &clears_manager, 3), 2);
    }
}
