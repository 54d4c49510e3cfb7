//! The import preview: what an import of a connection's users, agents or both would do to each
//! person, read from the tenant now.
//!
//! Computing one reads the whole tenant and plans everyone, so a preview is computed once and
//! shared:
//! - callers asking for the same one (connection and records) while it is computed wait for
//!   that computation instead of starting their own;
//! - its pages are read from the stored result while it is fresh: less than [`FRESH_FOR`] old,
//!   and no run of the connection has started or ended since it was asked for;
//! - one is computed at a time across connections, so previews never take more than one of the
//!   database's connections from the runs;
//! - none is computed while a run of the connection is under way: the run changes what an
//!   import would do, so a preview read meanwhile would be stale when the run ends, and reading
//!   the tenant beside the run would slow it. The caller hears which run it waits for;
//! - a caller waits at most the `wait` it gives; past that it hears that the preview is still
//!   being computed (and since when), and asks again. The computation goes on without it.
//!
//! A failed computation is told to everyone waiting for it and forgotten: the next caller starts
//! another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use super::run::ImportRequest;
use super::{Service, ServiceError};
use crate::ids::{ConnectionId, RunId};
use crate::store::InboundRow;
use crate::sync::Mode;
use crate::sync::evaluate::Targets;
use crate::sync::lease::LeaseWait;
use crate::vocab::RunStatus;

/// How long a computed preview is shown before the tenant is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5 * 60);

/// How many previews are kept (computed or under way) at once; the oldest computed one makes way.
const KEPT: usize = 8;

/// What a caller of [`Service::preview`] gets.
#[derive(Debug, Clone)]
pub enum Preview {
    /// Still being computed, since this moment: ask again.
    Computing {
        /// When it was asked for.
        since: DateTime<Utc>,
    },
    /// Computed.
    Ready(Arc<ComputedPreview>),
    /// Not computed while this run of the connection is under way: ask again once it has ended.
    AfterRun {
        /// The run under way.
        run: RunId,
    },
}

/// A computed preview.
#[derive(Debug)]
pub struct ComputedPreview {
    /// When the tenant was read for it (when its computation started).
    pub read_at: DateTime<Utc>,
    /// What an import would do to each person, one inbound-log row each.
    pub rows: Vec<InboundRow>,
}

/// The previews of one [`Service`].
pub(super) struct Previews {
    slots: Mutex<HashMap<Key, Slot>>,
    /// One computation at a time.
    computing: Arc<Semaphore>,
}

impl Default for Previews {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            computing: Arc::new(Semaphore::new(1)),
        }
    }
}

type Key = (ConnectionId, Targets);

/// How a computation ended: its preview, or why not (shared by everyone who waited for it).
type Outcome = Result<Arc<ComputedPreview>, Arc<ServiceError>>;

struct Slot {
    /// When it was asked for.
    since: DateTime<Utc>,
    /// The connection's newest run (id and status) when it was asked for: a run starting or
    /// ending since makes it stale.
    newest_run: Option<(RunId, RunStatus)>,
    /// `None` until the computation ends.
    outcome: watch::Receiver<Option<Outcome>>,
}

impl Slot {
    /// Worth waiting for or showing: under way, or computed recently enough.
    fn fresh(&self, now: DateTime<Utc>, newest_run: Option<(RunId, RunStatus)>) -> bool {
        if self.outcome.borrow().is_none() {
            // Under way, unless its computation died without an outcome.
            return self.outcome.has_changed().is_ok();
        }
        let young = (now - self.since).to_std().is_ok_and(|age| age < FRESH_FOR);
        young && self.newest_run == newest_run
    }
}

impl Service {
    /// The import screen without writing: what an import of `targets` would do to each person
    /// of `connection`, read from the tenant (see the [module](self)). Waits at most `wait` for
    /// a computation under way.
    pub async fn preview(
        &self,
        connection: &str,
        targets: Targets,
        by: &str,
        wait: Duration,
    ) -> Result<Preview, ServiceError> {
        let id = self.connection(connection)?.id.clone();
        let newest_run = self
            .store
            .runs(Some(&id), 1)
            .await?
            .pop()
            .map(|run| (run.id, run.status));
        if let Some((run, RunStatus::Running)) = newest_run {
            return Ok(Preview::AfterRun { run });
        }
        let now = self.clock.now();
        let key = (id, targets);
        let (since, mut outcome) = {
            let mut slots = self.previews.slots.lock().expect("the previews' lock");
            match slots.get(&key) {
                Some(slot) if slot.fresh(now, newest_run) => (slot.since, slot.outcome.clone()),
                _ => {
                    // A stale slot makes way for its successor before anything older does.
                    slots.remove(&key);
                    make_room(&mut slots)?;
                    let outcome = self.compute(key.clone(), by);
                    slots.insert(
                        key.clone(),
                        Slot {
                            since: now,
                            newest_run,
                            outcome: outcome.clone(),
                        },
                    );
                    (now, outcome)
                }
            }
        };
        let ended = tokio::time::timeout(wait, outcome.wait_for(Option::is_some)).await;
        // Not within `wait` (or its computation died: the next call starts another).
        let Ok(Ok(ended)) = ended else {
            return Ok(Preview::Computing { since });
        };
        match ended.as_ref().expect("waited for an outcome") {
            Ok(preview) => Ok(Preview::Ready(preview.clone())),
            Err(error) => Err(ServiceError::Shared(error.clone())),
        }
    }

    /// Starts computing the preview `key`, one computation at a time; its outcome arrives on
    /// the receiver. A failure forgets the slot, so that the next caller computes afresh.
    fn compute(&self, key: Key, by: &str) -> watch::Receiver<Option<Outcome>> {
        let (done, outcome) = watch::channel(None);
        let service = self.clone();
        let by = by.to_owned();
        tokio::spawn(async move {
            let result = match service.previews.computing.clone().acquire_owned().await {
                Ok(_one_at_a_time) => {
                    let read_at = service.clock.now();
                    service
                        .import(ImportRequest {
                            connection: key.0.to_string(),
                            targets: key.1,
                            mode: Mode::DryRun,
                            wait: LeaseWait::Refuse,
                            trigger: by,
                            progress: None,
                        })
                        .await
                        .map(|result| {
                            Arc::new(ComputedPreview {
                                read_at,
                                rows: result.rows,
                            })
                        })
                        .map_err(Arc::new)
                }
                Err(_) => Err(Arc::new(ServiceError::Overloaded(
                    "an import preview".to_owned(),
                ))),
            };
            if result.is_err() {
                let mut slots = service.previews.slots.lock().expect("the previews' lock");
                // Only this computation's slot: a newer one may have replaced it.
                if slots
                    .get(&key)
                    .is_some_and(|slot| slot.outcome.same_channel(&done.subscribe()))
                {
                    slots.remove(&key);
                }
            }
            done.send_replace(Some(result));
        });
        outcome
    }
}

/// Room for one more slot: the oldest computed preview goes when [`KEPT`] are kept. When every
/// kept one is still being computed, the caller is told to come back.
fn make_room(slots: &mut HashMap<Key, Slot>) -> Result<(), ServiceError> {
    if slots.len() < KEPT {
        return Ok(());
    }
    let oldest = slots
        .iter()
        .filter(|(_, slot)| slot.outcome.borrow().is_some())
        .min_by_key(|(_, slot)| slot.since)
        .map(|(key, _)| key.clone());
    match oldest {
        Some(key) => {
            slots.remove(&key);
            Ok(())
        }
        None => Err(ServiceError::Overloaded("an import preview".to_owned())),
    }
}
