//! What the scheduler keeps in the database, so that every replica sees the same: the history
//! of each connection's cycles, operators' requests to sync now, and housekeeping.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::ids::ConnectionId;

/// A connection's past cycles, as the schedule counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunHistory {
    /// When its last finished full or delta run started (any status but `running` and
    /// `cancelled`: a cancelled run is resumed at once).
    pub last_cycle: Option<DateTime<Utc>>,
    /// When its last full run that succeeded (or was quarantined) started.
    pub last_full: Option<DateTime<Utc>>,
}

/// The requests to sync a connection that one run serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenTriggers {
    /// One of them asked for a full reconciliation.
    pub full: bool,
    /// Who asked, oldest first.
    pub requested_by: Vec<String>,
}

/// What one round of housekeeping did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekept {
    /// Inbound-log rows older than the retention, deleted.
    pub pruned_log_rows: u64,
    /// Runs recorded `running` whose connection's lease nobody holds, marked failed.
    pub finalised_runs: u64,
    /// Leases expired for longer than the grace, removed.
    pub cleared_leases: u64,
}

/// What the daemon knows of a connection beside its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionHealth {
    /// When its secret or certificate stops working, as last looked up.
    pub credential_expires_at: Option<DateTime<Utc>>,
    /// When that was looked up.
    pub credential_checked_at: Option<DateTime<Utc>>,
    /// Its credential stopped working: an admin must authorise it again.
    pub needs_authorisation: bool,
    /// Who holds its lease now, if anyone (an expired lease is nobody's).
    pub lease: Option<super::lease::LeaseInfo>,
}

/// The scheduler's state. Every method is one transaction, except
/// [`Schedule::housekeep`], which deletes in bounded transactions.
#[async_trait]
pub trait Schedule: Send + Sync + std::fmt::Debug {
    /// When the connection's last cycle and last successful full run started.
    async fn run_history(&self, connection: &ConnectionId) -> Result<RunHistory, StoreError>;

    /// Records an operator's request to sync `connection` now (a full reconciliation with
    /// `full`); returns its id.
    async fn request_sync(
        &self,
        connection: &ConnectionId,
        full: bool,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Removes and returns the connection's pending requests (a run holding its lease serves
    /// them); `None` when there are none.
    async fn take_triggers(
        &self,
        connection: &ConnectionId,
    ) -> Result<Option<TakenTriggers>, StoreError>;

    /// The connections with pending requests, sorted.
    async fn triggered(&self) -> Result<Vec<ConnectionId>, StoreError>;

    /// Deletes inbound-log rows logged before `log_before`, at most `batch` rows per
    /// transaction; marks runs still recorded `running` whose connection's lease has expired
    /// (or was never taken) as failed with `reason`; removes leases expired for longer than
    /// `lease_grace`.
    async fn housekeep(
        &self,
        log_before: DateTime<Utc>,
        batch: u32,
        reason: &str,
        lease_grace: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Housekept, StoreError>;

    /// The connection's health; `lease` names its lease.
    async fn connection_health(
        &self,
        connection: &ConnectionId,
        lease: &str,
    ) -> Result<ConnectionHealth, StoreError>;

    /// Records when the connection's credential stops working (`None`: unknown), looked up at
    /// `now`.
    async fn set_credential_expiry(
        &self,
        connection: &ConnectionId,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records whether the connection waits for an admin to authorise it again.
    async fn set_needs_authorisation(
        &self,
        connection: &ConnectionId,
        needed: bool,
    ) -> Result<(), StoreError>;
}
