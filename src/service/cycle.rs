//! Scheduled cycles and operators' triggers: what the daemon's loops and `entra-sync trigger`
//! call.
//!
//! A cycle first takes the connection's lease, then decides what is due from the database's
//! history of the connection's runs ([`super::cadence`]): deciding while holding the lease means
//! two replicas never both find the same cycle due. A trigger made while a run is under way
//! waits in the database, and the next cycle serves every trigger made until it starts.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::cadence::{Cadence, Plan, Trigger};
use super::{Service, ServiceError, ensure_declared};
use crate::config::ConnectionSettings;
use crate::ids::ConnectionId;
use crate::instance::ensure_enabled;
use crate::store::{Housekept, TakenTriggers};
use crate::sync::lease::{LeaseError, LeasePolicy, LeaseWait, RunLease};
use crate::sync::{Mode, RunReport, RunRequest, SyncError};
use crate::vocab::{RunKind, RunStatus};

/// What one scheduled cycle did.
#[derive(Debug, Clone)]
pub enum CycleResult {
    /// A run happened; the next cycle is due in `next`.
    Ran {
        /// Which kind of run it was.
        kind: RunKind,
        /// The run.
        report: Box<RunReport>,
        /// Until the next cycle is due.
        next: Duration,
    },
    /// Nothing was due; the next cycle is due in this long.
    NotDue(Duration),
    /// Another run (of another replica, or a command) holds the connection's lease, until
    /// about this long from now unless it renews it.
    Busy(Duration),
}

/// An operator's request to sync a connection now.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    /// The connection id.
    pub connection: String,
    /// A full reconciliation rather than a delta cycle.
    pub full: bool,
    /// Who asks (`cli`, or the API key's agent); recorded as the run's trigger.
    pub by: String,
}

impl Service {
    /// Runs the cycle of `connection` that is due now (or one an operator triggered), holding
    /// its lease; a run stops, recorded `cancelled`, when `cancel` is cancelled.
    pub async fn cycle(
        &self,
        connection: &ConnectionId,
        cancel: &CancellationToken,
    ) -> Result<CycleResult, ServiceError> {
        let connection = self.connection(connection.as_str())?;
        ensure_enabled(&self.settings, connection, "sync")?;
        let graph = match self.graph_client(connection) {
            Ok(graph) => graph,
            Err(error) => {
                if let ServiceError::Graph(e) = &error
                    && e.needs_authorisation()
                {
                    self.note_authorisation(&connection.id, true).await;
                }
                return Err(error);
            }
        };
        let policy = LeasePolicy {
            ttl: self.settings.daemon.lease_ttl,
            wait: LeaseWait::Refuse,
        };
        let lease = match RunLease::acquire(&self.store, &connection.id, &policy).await {
            Ok(lease) => lease,
            Err(LeaseError::Held { holder, .. }) => {
                let left = (holder.expires_at - self.clock.now())
                    .to_std()
                    .unwrap_or_default();
                // Ask again once its lease would have run out: a holder that died is taken over
                // then; a live one will have renewed it.
                return Ok(CycleResult::Busy(left + Duration::from_secs(1)));
            }
            Err(e) => return Err(SyncError::from(e).into()),
        };
        lease_held(&connection.id, true);
        let cadence = cadence(connection);
        let decided = self.decide(&lease, &connection.id, &cadence).await;
        let (kind, triggers) = match decided {
            Ok((Plan::Run(kind), triggers)) => (kind, triggers),
            Ok((Plan::Wait(wait), _)) => {
                lease.release().await;
                lease_held(&connection.id, false);
                return Ok(CycleResult::NotDue(wait));
            }
            Err(e) => {
                lease.release().await;
                lease_held(&connection.id, false);
                return Err(e);
            }
        };
        let trigger = triggered_by(triggers.as_ref());
        info!(connection = %connection.id, kind = kind.as_str(), trigger, "A cycle is due.");
        let request = RunRequest {
            cancel: cancel.child_token(),
            cancel_reason: "the daemon is shutting down".to_owned(),
            ..RunRequest::new(kind, Mode::Apply, &trigger)
        };
        let syncer = self.syncer(Some(graph));
        let report = syncer.run_leased(connection, &request, lease).await;
        lease_held(&connection.id, false);
        let report = report?;
        match report.status {
            RunStatus::Failed if report.needs_authorisation => {
                self.note_authorisation(&connection.id, true).await;
            }
            RunStatus::Succeeded | RunStatus::Quarantined => {
                self.note_authorisation(&connection.id, false).await;
            }
            _ => {}
        }
        let history = self.store.run_history(&connection.id).await?;
        let next = match cadence.plan(&history, None, self.clock.now()) {
            Plan::Wait(wait) => wait,
            Plan::Run(_) => Duration::ZERO,
        };
        Ok(CycleResult::Ran {
            kind,
            report: Box::new(report),
            next,
        })
    }

    /// Records whether `connection` waits for an admin to authorise it again (for its status);
    /// a failure to record it is logged, not the cycle's failure.
    pub(super) async fn note_authorisation(&self, connection: &ConnectionId, needed: bool) {
        if let Err(error) = self.store.set_needs_authorisation(connection, needed).await {
            warn!(%connection, %error, "Whether the connection needs authorising could not be recorded.");
        }
    }

    /// What is due for `connection`, with the triggers the run serves (taken under `lease`).
    async fn decide(
        &self,
        lease: &RunLease,
        connection: &ConnectionId,
        cadence: &Cadence,
    ) -> Result<(Plan, Option<TakenTriggers>), ServiceError> {
        let store = lease.store();
        let triggers = store.take_triggers(connection).await?;
        let history = store.run_history(connection).await?;
        let trigger = triggers.as_ref().map(|t| Trigger { full: t.full });
        Ok((cadence.plan(&history, trigger, self.clock.now()), triggers))
    }

    /// Records an operator's request to sync a connection now; whichever process runs the
    /// connection serves it within a few seconds (coalesced with any other request made before
    /// that run starts). Returns the request's id.
    pub async fn trigger(&self, request: TriggerRequest) -> Result<i64, ServiceError> {
        let connection = self.connection(&request.connection)?;
        ensure_enabled(&self.settings, connection, "trigger")?;
        ensure_declared(&self.settings, self.store.as_ref(), self.clock.as_ref()).await?;
        Ok(self
            .store
            .request_sync(&connection.id, request.full, &request.by, self.clock.now())
            .await?)
    }

    /// Whether the database answers (a small real query).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        self.store.triggered().await?;
        Ok(())
    }

    /// The connections with pending triggers.
    pub async fn triggered(&self) -> Result<Vec<ConnectionId>, ServiceError> {
        Ok(self.store.triggered().await?)
    }

    /// Prunes the inbound log past `[inbound_log] retention` (in bounded deletes), marks runs
    /// whose process is gone as failed, and removes long-expired leases.
    pub async fn housekeep(&self) -> Result<Housekept, ServiceError> {
        let now = self.clock.now();
        let retention = chrono::Duration::from_std(self.settings.inbound_log.retention)
            .unwrap_or(chrono::Duration::MAX);
        let done = self
            .store
            .housekeep(
                now.checked_sub_signed(retention).unwrap_or(now),
                HOUSEKEEPING_BATCH,
                "interrupted: its process stopped before the run ended, and nobody holds the \
                 connection's lease",
                LEASE_GRACE,
                now,
            )
            .await?;
        if done != Housekept::default() {
            info!(
                pruned_log_rows = done.pruned_log_rows,
                finalised_runs = done.finalised_runs,
                cleared_leases = done.cleared_leases,
                "Housekeeping."
            );
        }
        Ok(done)
    }
}

/// `entra_sync_lease_held{connection}`: 1 while this process holds the connection's lease.
fn lease_held(connection: &ConnectionId, held: bool) {
    metrics::gauge!("entra_sync_lease_held", "connection" => connection.to_string()).set(if held {
        1.0
    } else {
        0.0
    });
}

/// Inbound-log rows deleted per transaction.
const HOUSEKEEPING_BATCH: u32 = 5_000;

/// How long an expired lease stays for operators to see before housekeeping removes it.
const LEASE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The connection's cadence.
pub fn cadence(connection: &ConnectionSettings) -> Cadence {
    Cadence {
        interval: connection.sync.interval,
        full_interval: connection.sync.full_interval,
        delta: connection.sync.delta,
    }
}

/// The run's trigger column: `schedule`, or who asked for it.
fn triggered_by(triggers: Option<&TakenTriggers>) -> String {
    match triggers {
        None => "schedule".to_owned(),
        Some(t) => t
            .requested_by
            .first()
            .cloned()
            .unwrap_or_else(|| "trigger".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_names_the_first_operator_who_asked_for_it() {
        assert_eq!(triggered_by(None), "schedule");
        let taken = TakenTriggers {
            full: false,
            requested_by: vec!["cli".to_owned(), "api:alice".to_owned()],
        };
        assert_eq!(triggered_by(Some(&taken)), "cli");
    }
}
